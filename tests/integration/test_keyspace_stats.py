"""INFO keyspace_hits / keyspace_misses against a real redis-server 7.0: after every
command of a script the two counters must have moved the same way on both servers."""

from __future__ import annotations

import re
from typing import Any

from tests.differ import Differ, parse

SETUP: list[tuple[Any, ...]] = [
    ("set", "s", "hello"), ("set", "n", "10"), ("rpush", "l", "a", "b", "c"),
    ("hset", "h", "f", "v", "g", "w"), ("sadd", "t", "a", "b"), ("sadd", "t2", "b", "c"),
    ("zadd", "z", "1", "a", "2", "b"), ("zadd", "z2", "2", "b"), ("pfadd", "hll", "a"),
    ("geoadd", "g", "13.36", "38.11", "P"), ("setbit", "bits", "3", "1"),
    ("set", "w_a", "1"), ("set", "w_b", "2"), ("xadd", "x", "1-1", "f", "v"),
    ("xgroup", "create", "x", "g", "0"),
]

READS: list[tuple[Any, ...]] = [
    ("get", "s"), ("get", "nokey"), ("get", "l"), ("mget", "s", "nokey", "n", "l"),
    ("strlen", "s"), ("getrange", "s", "0", "2"), ("substr", "nokey", "0", "1"),
    ("exists", "s", "nokey", "s"), ("type", "s"), ("type", "nokey"), ("ttl", "s"),
    ("pttl", "nokey"), ("expiretime", "s"), ("pexpiretime", "nokey"), ("touch", "s", "nokey"),
    ("lrange", "l", "0", "-1"), ("llen", "nokey"), ("lindex", "l", "1"), ("lpos", "l", "b"),
    ("hget", "h", "f"), ("hget", "nokey", "f"), ("hmget", "h", "f", "x"), ("hgetall", "h"),
    ("hkeys", "h"), ("hvals", "nokey"), ("hlen", "h"), ("hexists", "h", "f"),
    ("hstrlen", "h", "f"), ("hrandfield", "h"), ("hscan", "h", "0"),
    ("smembers", "t"), ("sismember", "t", "a"), ("smismember", "nokey", "a"), ("scard", "t"),
    ("sinter", "t", "t2"), ("sinter", "t", "nokey", "t2"), ("sunion", "t", "nokey"),
    ("sdiff", "t", "t2"), ("sintercard", "2", "t", "t2"), ("srandmember", "nokey"),
    ("sscan", "t", "0"), ("zrange", "z", "0", "-1"), ("zscore", "z", "a"),
    ("zmscore", "z", "a", "x"), ("zrank", "z", "b"), ("zcard", "nokey"), ("zcount", "z", "0", "5"),
    ("zrangebyscore", "z", "0", "5"), ("zrevrange", "z", "0", "0"), ("zlexcount", "z", "-", "+"),
    ("zunion", "2", "z", "z2"), ("zinter", "2", "z", "nokey"), ("zdiff", "2", "z", "z2"),
    ("zintercard", "2", "z", "z2"), ("zrandmember", "z"), ("zscan", "z", "0"),
    ("pfcount", "hll"), ("pfcount", "hll", "nokey"), ("getbit", "bits", "3"),
    ("bitcount", "bits"), ("bitpos", "nokey", "1"), ("bitfield_ro", "bits", "get", "u4", "0"),
    ("geopos", "g", "P"), ("geodist", "g", "P", "P"), ("geohash", "nokey", "P"),
    ("geosearch", "g", "frommember", "P", "byradius", "10", "km"),
    ("georadius_ro", "g", "13", "38", "100", "km"), ("lcs", "s", "nokey"),
    ("sort_ro", "l", "alpha"), ("sort_ro", "l", "by", "w_*", "alpha"), ("dump", "s"),
    ("dump", "nokey"), ("object", "encoding", "s"), ("object", "encoding", "nokey"),
    ("memory", "usage", "s"), ("randomkey",), ("dbsize",), ("keys", "nomatch*"),
    ("scan", "0", "match", "nomatch*"), ("xlen", "x"), ("xlen", "nokey"),
    ("xrange", "x", "-", "+"), ("xrevrange", "nokey", "+", "-"), ("xread", "streams", "x", "0"),
    ("xread", "streams", "x", "nokey", "0", "0"), ("xinfo", "stream", "x"), ("type", "x"),
]

WRITES: list[tuple[Any, ...]] = [
    ("set", "s", "x", "get"), ("getset", "s", "y"), ("getdel", "nokey"), ("getex", "s"),
    ("getex", "nokey", "persist"), ("append", "s", "!"), ("incr", "n"), ("lpush", "l", "z"),
    ("sunionstore", "d", "t", "nokey"), ("sinterstore", "d", "t", "t2"),
    ("zunionstore", "d", "2", "z", "nokey"), ("zrangestore", "d", "z", "0", "-1"),
    ("sort", "l", "alpha", "store", "d"), ("bitop", "or", "d", "bits", "nokey"),
    ("pfmerge", "hll2", "hll", "nokey"), ("copy", "s", "s3"), ("rename", "s3", "s4"),
    ("georadius", "g", "13", "38", "100", "km", "store", "d"),
    ("geosearchstore", "d", "g", "frommember", "P", "byradius", "1", "km"),
    ("lmove", "l", "l2", "left", "left"), ("smove", "t", "t2", "a"), ("del", "s4", "nokey"),
    ("hincrby", "h", "n", "1"), ("zincrby", "z", "1", "a"), ("expire", "n", "100"),
    ("getdel", "n"), ("setrange", "s", "1", "Q"), ("lset", "l", "0", "q"),
    ("xadd", "x", "2-1", "f", "v"), ("xdel", "x", "1-1"), ("xtrim", "x", "maxlen", "0"),
    ("xsetid", "x", "5-5"), ("xreadgroup", "group", "g", "c", "streams", "x", ">"),
    ("xreadgroup", "group", "g", "c", "streams", "x", "nokey", "0", ">"),
    ("xack", "x", "g", "2-1"), ("xack", "nokey", "g", "1-1"), ("xclaim", "x", "g", "c", "0", "1-1"),
    ("xautoclaim", "x", "g", "c", "0", "0"), ("xgroup", "createconsumer", "x", "g", "d"),
    ("xgroup", "destroy", "x", "g"),
]


def _counters(raw: bytes) -> tuple[int, int]:
    text = parse(raw).decode()
    hits = int(re.search(r"keyspace_hits:(\d+)", text).group(1))  # type: ignore[union-attr]
    misses = int(re.search(r"keyspace_misses:(\d+)", text).group(1))  # type: ignore[union-attr]
    return hits, misses


def _run(differ: Differ, script: list[tuple[Any, ...]]) -> int:
    moved = 0
    for cmd in script:
        before = [_counters(r) for r in differ.both("info", "stats")]
        differ.both(*cmd)
        after = [_counters(r) for r in differ.both("info", "stats")]
        deltas = [(a[0] - b[0], a[1] - b[1]) for a, b in zip(after, before, strict=True)]
        assert deltas[0] == deltas[1], (cmd, "aikv", deltas[0], "redis", deltas[1])
        moved += sum(deltas[1])
    return moved


def test_read_commands_count_like_redis(differ: Differ) -> None:
    differ.both("flushall")
    for cmd in SETUP:
        differ.check(*cmd)
    assert _run(differ, READS) > 50


def test_write_commands_count_like_redis(differ: Differ) -> None:
    differ.both("flushall")
    for cmd in SETUP:
        differ.check(*cmd)
    assert _run(differ, WRITES) > 5


def test_resetstat_clears_them(differ: Differ) -> None:
    differ.both("get", "nokey")
    differ.both("config", "resetstat")
    assert [_counters(r) for r in differ.both("info", "stats")] == [(0, 0), (0, 0)]
