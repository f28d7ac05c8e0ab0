"""DEBUG against a real redis-server 7.0: PROTOCOL's replies in RESP2 and RESP3, ERROR,
LOG, POPULATE, OBJECT's encoding, RDB length and quicklist fields, and RELOAD's round
trip through the RDB file (keys, expiries, function libraries, and its options).
Addresses and LRU clocks differ by nature and are compared as shapes."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.differ import Differ, parse
from tests.harness import wait_until

LIBRARY = "#!lua name=dbglib\nredis.register_function('dbgf', function() return 'hi' end)"


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> Iterator[None]:
    differ.both("flushall")
    differ.both("function", "flush")
    yield
    differ.both("hello", "2")
    differ.both("debug", "set-active-expire", "1")
    differ.both("flushall")
    differ.both("function", "flush")


def test_protocol_types_match_redis(differ: Differ) -> None:
    types = ("string", "integer", "double", "bignum", "null", "array", "set", "map",
             "attrib", "push", "verbatim", "true", "false", "STRING", "nosuch")
    for name in types:
        differ.check("debug", "protocol", name)
    differ.check("hello", "3", normalize=lambda raw: raw[:1])
    # hiredis cannot frame every RESP3 type (nor an attribute or a push before the real
    # reply), so each reply is read up to a PING's answer sent after it.
    for name in types:
        replies = [conn.call_then_ping("debug", "protocol", name)
                   for conn in (differ.a, differ.r)]
        assert replies[0] == replies[1], (name, replies)
    differ.check("debug", "protocol")
    differ.check("debug", "protocol", "string", "extra")


def test_error_log_and_arity_match_redis(differ: Differ) -> None:
    differ.check("debug", "error", "MYERR something\r\nwent\nwrong")
    differ.check("debug", "error", "")
    differ.check("debug", "log", "a line from the test")
    differ.check("debug", "log")
    differ.check("debug", "nosuch")
    differ.check("debug", "object")
    differ.check("debug", "reload", "nosuch")
    differ.check("debug", "clusterlink", "kill", "to", "f" * 40)  # not in cluster mode


def test_quicklist_packed_threshold_validates_as_redis(differ: Differ) -> None:
    for size in ("1b", "0", "100", "1kb", "4gb", "4294967296", "4293918720", "4293918721",
                 "-1", "1x", "", "1.5"):
        differ.check("debug", "quicklist-packed-threshold", size)
    differ.check("debug", "quicklist-packed-threshold")
    differ.check("debug", "quicklist-packed-threshold", "0")  # back to the default


def test_populate_matches_redis(differ: Differ) -> None:
    differ.check("set", "key:3", "mine")
    differ.check("debug", "populate", "10")
    differ.check("debug", "populate", "4", "pre", "20")
    differ.check("debug", "populate", "4", "short", "3")
    differ.check("debug", "populate", "2", "p" * 130)
    differ.check("debug", "populate", "0")
    differ.check("debug", "populate", "-1")
    differ.check("debug", "populate", "x")
    differ.check("debug", "populate", "1", "q", "-5")
    differ.check("debug", "populate", "1", "q", "5", "extra")
    differ.check("dbsize")
    differ.check("debug", "digest")
    differ.check("get", "key:3")
    differ.check("get", "pre:2")
    differ.check("strlen", "short:1")


def _object_line(raw: bytes) -> bytes:
    """DEBUG OBJECT's line with the address and LRU clock masked."""
    line = re.sub(rb"Value at:0x[0-9a-f]+ ", b"Value at:ADDR ", raw)
    return re.sub(rb"lru:\d+ lru_seconds_idle:\d+", b"lru:L lru_seconds_idle:I", line)


def test_object_matches_redis(differ: Differ) -> None:
    differ.both("set", "int", "123")
    differ.both("set", "bigint", "12345678901234")
    differ.both("set", "short", "hello")
    differ.both("set", "long", "x" * 100)
    differ.both("append", "raw", "abc")
    differ.both("rpush", "smalllist", "a", "b", "c")
    differ.both("rpush", "biglist", *[f"element-{i}" * 3 for i in range(700)])
    differ.both("sadd", "intset", "1", "2", "3")
    differ.both("sadd", "set", "a", "b", "c")
    differ.both("sadd", "bigset", *[f"m{i}" for i in range(200)])
    differ.both("hset", "hash", "f", "v", "g", "w")
    differ.both("hset", "bighash", *[f"f{i // 2}" if i % 2 == 0 else "v" * 80
                                     for i in range(20)])
    differ.both("zadd", "zset", "1", "a", "2.5", "b")
    differ.both("xadd", "stream", "1-1", "f", "v")
    for key in ("int", "bigint", "short", "long", "raw", "smalllist", "biglist", "intset",
                "set", "bigset", "hash", "bighash", "zset", "stream", "missing"):
        differ.check("debug", "object", key, normalize=_object_line)
    differ.both("config", "set", "list-compress-depth", "1")
    try:
        differ.both("rpush", "packedlist", *[f"element-{i}" * 3 for i in range(700)])
        differ.check("debug", "object", "packedlist", normalize=_object_line)
    finally:
        differ.both("config", "set", "list-compress-depth", "0")
    # The address stays while the value is changed in place (Redis's incr.tcl).
    before = parse(differ.a.call("debug", "object", "bigint")).split()[1]
    differ.both("incr", "bigint")
    assert parse(differ.a.call("debug", "object", "bigint")).split()[1] == before


def _fill(differ: Differ) -> None:
    differ.both("set", "s", "v")
    differ.both("set", "n", "42")
    differ.both("set", "ttl", "v", "ex", "1000")
    differ.both("rpush", "l", *[f"item{i}" for i in range(300)])
    differ.both("sadd", "st", "1", "2", "x")
    differ.both("hset", "h", "a", "1", "b", "2")
    differ.both("zadd", "z", "1", "a", "2", "b")
    differ.both("xadd", "x", "5-1", "f", "v")
    differ.both("select", "3")
    differ.both("set", "in3", "v")
    differ.both("select", "0")


def test_reload_round_trip_matches_redis(differ: Differ) -> None:
    _fill(differ)
    digest = differ.check("debug", "digest")
    differ.check("debug", "reload")
    assert differ.check("debug", "digest") == digest
    differ.check("dbsize")
    differ.check("object", "encoding", "l")
    ttl = parse(differ.a.call("ttl", "ttl"))
    assert 990 <= ttl <= 1000
    # NOSAVE loads the file as it was: what changed since is gone.
    differ.both("set", "after", "1")
    differ.both("del", "s")
    differ.check("debug", "reload", "nosave")
    assert differ.check("debug", "digest") == digest
    # NOFLUSH MERGE adds the file's keys to what exists.
    differ.both("flushall")
    differ.both("set", "extra", "1")
    differ.check("debug", "reload", "nosave", "noflush", "merge")
    differ.check("dbsize")
    differ.check("exists", "extra", "s", "l")
    differ.check("debug", "reload", "Nosave", "MERGE")


def test_reload_drops_keys_expired_in_the_file(differ: Differ) -> None:
    differ.both("debug", "set-active-expire", "0")
    differ.both("set", "gone", "v", "px", "200")
    differ.both("set", "kept", "v")
    differ.check("save")
    wait_until(lambda: all(parse(r) == -2 for r in differ.both("pttl", "gone")), 5,
               what="the key's deadline")
    differ.check("debug", "reload", "nosave")
    differ.check("dbsize")
    differ.check("debug", "object", "gone")


def test_reload_keeps_functions_and_refuses_duplicates(differ: Differ) -> None:
    differ.check("function", "load", LIBRARY)
    differ.check("debug", "reload")
    differ.check("fcall", "dbgf", "0")
    # Without FLUSH the library is loaded a second time: refused, as in Redis.
    differ.check("debug", "reload", "noflush")
    differ.check("debug", "reload", "noflush", "merge")
    differ.check("function", "list")
    differ.check("function", "delete", "dbglib")
    differ.check("debug", "reload", "nosave")
    differ.check("fcall", "dbgf", "0")


def test_reload_noflush_refuses_existing_keys_without_merge(differ: Differ) -> None:
    """Redis kills itself on a duplicate key here; AiKv refuses the load and changes
    nothing (so this is asked of AiKv only)."""
    conn = differ.a
    conn.call("set", "k", "file")
    assert conn.call("save") == b"+OK\r\n"
    conn.call("set", "k", "now")
    conn.call("set", "other", "1")
    assert conn.call("debug", "reload", "nosave", "noflush") == \
        b"-ERR Error trying to load the RDB dump\r\n"
    assert conn.call("mget", "k", "other") == b"*2\r\n$3\r\nnow\r\n$1\r\n1\r\n"
    assert conn.call("debug", "reload", "nosave", "noflush", "merge") == b"+OK\r\n"
    assert conn.call("mget", "k", "other") == b"*2\r\n$4\r\nfile\r\n$1\r\n1\r\n"


def test_object_sees_a_key_past_its_deadline_until_it_is_deleted(differ: Differ) -> None:
    """DEBUG OBJECT looks in the keyspace as it is: a key past its deadline that nothing
    has touched is still there (and a script's EXISTS then deletes it)."""
    differ.check("debug", "set-active-expire", "0")
    for conn in (differ.a, differ.r):
        seconds, micros = parse(conn.call("time"))
        deadline = int(seconds) * 1000 + int(micros) // 1000 + 1
        assert conn.call("set", "key", "value", "pxat", str(deadline)) == b"+OK\r\n"

        def passed(conn=conn, deadline=deadline) -> bool:
            s, us = parse(conn.call("time"))
            return int(s) * 1000 + int(us) // 1000 > deadline + 1
        wait_until(passed, timeout=5, what="the key's deadline to pass")
        assert conn.call("debug", "object", "key").startswith(b"+Value at:")
    differ.check("eval", "return redis.call('exists', 'key')", "0")
    differ.check("debug", "object", "key")
    differ.check("exists", "key")


def test_set_disable_deny_scripts_matches_redis(differ: Differ) -> None:
    script = "return redis.call('debug', 'protocol', 'bignum')"
    differ.check("eval", script, "0")
    differ.check("debug", "set-disable-deny-scripts", "1")
    differ.check("eval", script, "0")
    differ.check("debug", "set-disable-deny-scripts", "x")  # atoi: 0
    differ.check("eval", script, "0")
    differ.check("debug", "set-disable-deny-scripts")


def test_loadaof_keeps_the_dataset(differ: Differ) -> None:
    """AiKv's store is its AOF: DEBUG LOADAOF makes the writes durable and the data is
    what a reload finds (not compared with the module's redis-server, which runs
    without an AOF and would come back empty)."""
    conn = differ.a
    conn.call("set", "k", "v")
    conn.call("rpush", "l", "a", "b")
    assert conn.call("debug", "loadaof") == b"+OK\r\n"
    assert conn.call("get", "k") == b"$1\r\nv\r\n"
    assert conn.call("lrange", "l", "0", "-1") == b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    assert conn.call("debug", "loadaof", "x").startswith(b"-ERR unknown subcommand")
