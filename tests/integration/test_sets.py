"""Sets: differential tests against a real redis-server 7.0 (reply bytes equal, error texts
included; unordered replies compared as multisets), behaviour checks through redis-py,
and a hypothesis-driven random command sequence over hashes and sets on both servers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differ import Differ, parse, unordered


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> Iterator[None]:
    differ.check("flushall")
    yield
    differ.both("hello", "2")
    differ.both("config", "set", "set-max-intset-entries", "512")


def scan_members(raw: bytes) -> Any:
    cursor, items = parse(raw)
    return cursor, sorted(items)


SCRIPTED: list[tuple[str, ...]] = [
    ("sadd", "s", "1", "2", "3"), ("sadd", "s", "3", "4"), ("sadd", "s"),
    ("scard", "s"), ("scard", "nokey"), ("sismember", "s", "1"), ("sismember", "s", "9"),
    ("sismember", "nokey", "1"), ("smismember", "s", "1", "9", "2"),
    ("smismember", "nokey", "1", "2"), ("smismember", "s"),
    # Intsets list in numeric order: exact bytes.
    ("smembers", "s"), ("smembers", "nokey"), ("sadd", "n", "-5", "10", "2", "-100"),
    ("smembers", "n"), ("sscan", "n", "0"), ("sscan", "n", "0", "match", "-*"),
    ("sscan", "n", "7", "count", "1"), ("srandmember", "n", "10"), ("spop", "n", "10"),
    ("exists", "n"),
    ("sinter", "s", "nokey"), ("sinter", "nokey", "s"), ("sunion", "nokey"), ("sdiff", "nokey", "s"),
    ("sadd", "t", "3", "4", "5"), ("sinter", "s", "t"), ("sunion", "s", "t"), ("sdiff", "s", "t"),
    ("sdiff", "t", "s"), ("sdiff", "s", "s"), ("sdiff", "s", "nokey", "t"), ("sinter", "s", "s"),
    ("sinterstore", "d", "s", "t"), ("smembers", "d"), ("object", "encoding", "d"),
    ("sunionstore", "d", "s", "t"), ("smembers", "d"), ("sdiffstore", "d", "s", "t"),
    ("smembers", "d"), ("sinterstore", "d", "s", "nokey"), ("exists", "d"),
    ("sunionstore", "d", "nokey"), ("sdiffstore", "d", "nokey", "s"), ("exists", "d"),
    ("set", "d", "string"), ("expire", "d", "100"), ("sunionstore", "d", "s"), ("type", "d"),
    ("ttl", "d"), ("sinterstore", "s", "s", "t"), ("smembers", "s"),
    ("sintercard", "2", "s", "t"), ("sintercard", "2", "t", "nokey"),
    ("sintercard", "1", "t", "limit", "1"), ("sintercard", "1", "t", "limit", "0"),
    ("sintercard", "0", "s"), ("sintercard", "-1", "s"), ("sintercard", "x", "s"),
    ("sintercard", "3", "s", "t"), ("sintercard", "1", "s", "limit", "-1"),
    ("sintercard", "1", "s", "limit", "x"), ("sintercard", "1", "s", "limit"),
    ("sintercard", "1", "s", "foo", "1"), ("sintercard", "1"),
    ("srem", "t", "3", "99"), ("srem", "t", "99"), ("srem", "nokey", "1"), ("srem", "t"),
    ("srem", "t", "4", "5", "4"), ("exists", "t"),
    ("sadd", "a", "x", "y"), ("smove", "a", "b", "x"), ("smove", "a", "b", "nope"),
    ("smove", "nokey", "b", "x"), ("smove", "a", "a", "y"), ("smove", "a", "a", "nope"),
    ("smove", "a", "b", "y"), ("exists", "a"), ("scard", "b"), ("smove", "b", "c", "x"),
    ("object", "encoding", "c"), ("sadd", "i", "7"), ("smove", "b", "i", "y"),
    ("object", "encoding", "i"),
    ("spop", "nokey"), ("spop", "nokey", "3"), ("spop", "i", "0"), ("spop", "i", "-1"),
    ("spop", "i", "x"), ("spop", "i", "1", "2"), ("spop", "i", "2.5"),
    ("srandmember", "nokey"), ("srandmember", "nokey", "5"), ("srandmember", "i", "0"),
    ("srandmember", "i", "-9223372036854775808"), ("srandmember", "i", "x"),
    ("srandmember", "i", "1", "2"),
    ("sscan", "nokey", "0"), ("sscan", "nokey", "0", "bad"), ("sscan", "i", "x"),
    ("sscan", "i", "0", "count", "0"), ("sscan", "i", "0", "count", "x"),
    ("sscan", "i", "0", "match"), ("sscan", "i", "0", "type", "set"),
    ("sadd", "n2", "5", "1"), ("sscan", "n2", "-1", "count", "1"), ("sscan", "n2", ""),
    ("sscan", "n2", "+3"), ("sscan", "n2", "-0"),
    ("set", "str", "v"),
    ("sadd", "str", "1"), ("srem", "str", "1"), ("scard", "str"), ("sismember", "str", "1"),
    ("smismember", "str", "1"), ("smembers", "str"), ("spop", "str"), ("spop", "str", "1"),
    ("srandmember", "str"), ("srandmember", "str", "1"), ("sscan", "str", "0"),
    ("sscan", "str", "x"), ("sinter", "i", "str"), ("sinter", "nokey", "str"),
    ("sunion", "i", "str"), ("sdiff", "nokey", "str"), ("sdiff", "i", "str"),
    ("sinterstore", "d", "i", "str"), ("sunionstore", "d", "str"), ("sdiffstore", "d", "i", "str"),
    ("sintercard", "2", "i", "str"), ("smove", "str", "i", "1"), ("smove", "i", "str", "7"),
    ("smove", "nokey", "str", "7"), ("smove", "i", "nokey", "zz"),
    ("sadd",), ("scard",), ("sinter",), ("smove", "a", "b"), ("spop",),
]


def test_scripted_commands_match_redis(differ: Differ) -> None:
    for args in SCRIPTED:
        differ.check(*args)


def test_hashtable_sets_match_redis_as_multisets(differ: Differ) -> None:
    differ.check("sadd", "h", "a", "b", "c", "1")
    differ.check("sadd", "g", "b", "c", "d")
    for args in (("smembers", "h"), ("sinter", "h", "g"), ("sunion", "h", "g"),
                 ("sdiff", "h", "g"), ("srandmember", "h", "10"), ("srandmember", "h", "4")):
        differ.check(*args, normalize=unordered)
    differ.check("sscan", "h", "0", "count", "1000", normalize=scan_members)
    differ.check("sscan", "h", "0", "match", "[ab]", "count", "1000", normalize=scan_members)
    differ.check("srandmember", "h", "-7", normalize=lambda raw: len(parse(raw)))
    differ.check("spop", "h", "2", normalize=lambda raw: len(parse(raw)))
    differ.check("scard", "h")
    differ.check("spop", "h", "5", normalize=lambda raw: len(parse(raw)))
    differ.check("exists", "h")


def test_resp3_shapes_match_redis(differ: Differ) -> None:
    differ.both("hello", "3")
    differ.check("sadd", "s", "1", "2")
    for args in (("smembers", "s"), ("smembers", "nokey"), ("sinter", "s", "nokey"),
                 ("sunion", "s"), ("sdiff", "s"), ("spop", "nokey", "1"), ("spop", "s", "0"),
                 ("srandmember", "s", "5"), ("srandmember", "nokey"), ("spop", "nokey"),
                 ("smismember", "s", "1", "3"), ("sscan", "s", "0")):
        differ.check(*args)
    differ.check("spop", "s", "5", normalize=unordered)
    mine, theirs = differ.both("sadd", "x", "a")
    assert mine == theirs


def test_encoding_thresholds_match_redis(differ: Differ) -> None:
    members = [str(i) for i in range(512)]
    differ.check("sadd", "s", *members)
    differ.check("object", "encoding", "s")
    differ.check("sadd", "s", "512")
    differ.check("object", "encoding", "s")
    differ.check("srem", "s", *[str(i) for i in range(500)])
    differ.check("object", "encoding", "s")  # sticky
    for value in ("abc", "007", "-0", "+1", "1.0", " 1", "9223372036854775808",
                  "-9223372036854775809", "", "-9223372036854775808", "9223372036854775807"):
        differ.check("del", "e")
        differ.check("sadd", "e", "5", value)
        differ.check("object", "encoding", "e")
    differ.check("sadd", "big", "a")
    differ.check("srem", "big", "a")
    differ.check("sadd", "big", "1")
    differ.check("object", "encoding", "big")
    # SPOP with a count close to the size rebuilds the set from what stays: a hashtable
    # of integers becomes an intset again, in Redis and here.
    differ.check("sadd", "re", "a", *[str(i) for i in range(20)])
    differ.check("srem", "re", "a")
    differ.check("object", "encoding", "re")
    differ.check("spop", "re", "18", normalize=lambda raw: len(parse(raw)))
    differ.check("object", "encoding", "re")
    # Store commands compute the encoding of their result.
    differ.check("sadd", "w", "a", "1", "2")
    differ.check("sadd", "v", "1", "2", "3")
    differ.check("sinterstore", "o", "w", "v")
    differ.check("object", "encoding", "o")
    differ.check("sunionstore", "o", "w", "v")
    differ.check("object", "encoding", "o")
    differ.check("sdiffstore", "o", "v", "w")
    differ.check("object", "encoding", "o")
    differ.check("config", "set", "set-max-intset-entries", "3")
    differ.check("sadd", "small", "1", "2", "3")
    differ.check("object", "encoding", "small")
    differ.check("sadd", "small", "4")
    differ.check("object", "encoding", "small")
    differ.check("sunionstore", "o", "v", "small")
    differ.check("object", "encoding", "o")


def test_encoding_hook_directly() -> None:
    from aikv.collections_common import FLAG_BIG, collection_meta
    from aikv.commands.sets import set_encoding
    from aikv.persist.layout import TYPE_SET

    assert set_encoding(None, b"k", collection_meta(TYPE_SET, 1, 2)) == b"intset"  # type: ignore[arg-type]
    assert set_encoding(None, b"k", collection_meta(TYPE_SET, 1, 2, FLAG_BIG)) == b"hashtable"  # type: ignore[arg-type]


def test_sscan_full_iteration_and_churn(r: redis.Redis) -> None:
    n = 4000
    r.sadd("s", *[f"member:{i}" for i in range(n)])
    stable = {f"member:{i}".encode() for i in range(0, n, 2)}
    seen: set[bytes] = set()
    cursor, calls = 0, 0
    while True:
        cursor, batch = r.sscan("s", cursor, count=25)
        assert 0 <= cursor < 2**63
        assert len(batch) < 200  # COUNT is honoured roughly, whatever the member names
        seen.update(batch)
        calls += 1
        r.srem("s", *[f"member:{i}" for i in range(2 * calls - 1, n, 202)])  # odd only
        r.sadd("s", f"new:{calls}")
        if cursor == 0:
            break
    assert stable <= seen
    assert calls > 100


def test_random_members_of_a_large_set(r: redis.Redis) -> None:
    n = 5000
    r.sadd("s", *range(n))
    got = r.srandmember("s", 50)
    assert len(got) == 50 and len(set(got)) == 50
    assert all(0 <= int(m) < n for m in got)
    assert len(r.srandmember("s", -80)) == 80
    assert len(set(r.srandmember("s", 3000))) == 3000
    singles = {r.srandmember("s") for _ in range(300)}
    assert len(singles) > 150
    popped = r.spop("s", 100)
    assert len(set(popped)) == 100
    assert r.scard("s") == n - 100
    assert not any(r.smismember("s", popped))
    one = r.spop("s")
    assert one is not None and not r.sismember("s", one)
    assert r.scard("s") == n - 101


def test_sintercard_limit_and_big_algebra(r: redis.Redis) -> None:
    r.sadd("a", *range(0, 3000))
    r.sadd("b", *range(1500, 4500))
    assert r.sintercard(2, ["a", "b"]) == 1500
    assert r.sintercard(2, ["a", "b"], limit=10) == 10
    assert r.sunionstore("u", "a", "b") == 4500
    assert r.sdiffstore("d", "a", "b") == 1500
    assert r.sinterstore("i", "a", "b") == 1500
    assert r.smembers("i") == {str(i).encode() for i in range(1500, 3000)}
    assert r.object("encoding", "i") == b"hashtable"


# ---------------------------------------------------------------------- random sequences
_KEYS = ["k1", "k2", "k3"]
_MEMBERS = ["a", "b", "c", "1", "2", "-3", "x" * 70]
_key = st.sampled_from(_KEYS)
_member = st.sampled_from(_MEMBERS)
_members = st.lists(_member, min_size=1, max_size=4)
_value = st.sampled_from(["1", "-2", "0.5", "v", "10", "x" * 70])

_command = st.one_of(
    st.tuples(st.just("sadd"), _key, _members),
    st.tuples(st.just("srem"), _key, _members),
    st.tuples(st.just("sismember"), _key, _member),
    st.tuples(st.just("smismember"), _key, _members),
    st.tuples(st.just("scard"), _key),
    st.tuples(st.just("smembers"), _key),
    st.tuples(st.just("smove"), _key, _key, _member),
    st.tuples(st.sampled_from(["sinter", "sunion", "sdiff"]), st.lists(_key, min_size=1, max_size=3)),
    st.tuples(st.sampled_from(["sinterstore", "sunionstore", "sdiffstore"]), _key,
              st.lists(_key, min_size=1, max_size=3)),
    st.tuples(st.just("hset"), _key, st.lists(st.tuples(_member, _value), min_size=1, max_size=3)),
    st.tuples(st.just("hsetnx"), _key, _member, _value),
    st.tuples(st.just("hdel"), _key, _members),
    st.tuples(st.just("hget"), _key, _member),
    st.tuples(st.just("hmget"), _key, _members),
    st.tuples(st.just("hincrby"), _key, _member, st.sampled_from(["1", "-5", "x"])),
    st.tuples(st.just("hincrbyfloat"), _key, _member, st.sampled_from(["0.1", "-2", "1e3", "y"])),
    st.tuples(st.sampled_from(["hlen", "hkeys", "hvals", "hgetall", "type"]), _key),
    st.tuples(st.just("hstrlen"), _key, _member),
    st.tuples(st.just("hexists"), _key, _member),
    st.tuples(st.just("object"), st.just("encoding"), _key),
    st.tuples(st.sampled_from(["hscan", "sscan"]), _key),
    st.tuples(st.just("del"), _key),
)


def _flatten(cmd: tuple[Any, ...]) -> list[str]:
    out: list[str] = []
    for part in cmd:
        if isinstance(part, list):
            for item in part:
                out.extend(item if isinstance(item, tuple) else [item])
        else:
            out.append(part)
    if out[0] in ("hscan", "sscan"):
        out += ["0", "count", "1000"]
    return out


def _normalizer(name: str):  # type: ignore[no-untyped-def]
    inner = _inner_normalizer(name)
    if inner is None:
        return None
    return lambda raw: raw if raw[:1] == b"-" else inner(raw)


def _inner_normalizer(name: str):  # type: ignore[no-untyped-def]
    if name in ("smembers", "sinter", "sunion", "sdiff", "hkeys", "hvals"):
        return unordered
    if name == "hgetall":
        return lambda raw: sorted(parse(raw))
    if name in ("hscan", "sscan"):
        return lambda raw: (parse(raw)[0], sorted(parse(raw)[1]))
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_command, min_size=1, max_size=25))
def test_random_sequences_match_redis(differ: Differ, commands: list[tuple[Any, ...]]) -> None:
    differ.both("del", *_KEYS)
    for cmd in commands:
        args = _flatten(cmd)
        differ.check(*args, normalize=_normalizer(args[0]))
    differ.assert_same_values(*_KEYS)


def test_long_members_beyond_lmdb_key_limit_match_redis(differ: Differ) -> None:
    long_a, long_b = "a" * 481, "b" * 5000
    differ.check("sadd", "s", long_a, long_b, "x")
    differ.check("sadd", "s", long_a)
    differ.check("sadd", "t", long_b, "y")
    for args in (("sismember", "s", long_b), ("sismember", "s", "b" * 4999),
                 ("smismember", "s", long_a, "nope"), ("scard", "s"),
                 ("sintercard", "2", "s", "t"), ("object", "encoding", "s")):
        differ.check(*args)
    for args in (("smembers", "s"), ("sinter", "s", "t"), ("sunion", "s", "t"),
                 ("sdiff", "s", "t"), ("srandmember", "s", "10")):
        differ.check(*args, normalize=unordered)
    differ.check("sscan", "s", "0", "count", "100", normalize=scan_members)
    differ.check("sunionstore", "u", "s", "t")
    differ.check("smembers", "u", normalize=unordered)
    differ.check("smove", "s", "t", long_a)
    differ.check("srem", "t", long_a, long_b)
    differ.check("smembers", "t", normalize=unordered)
    differ.check("spop", "s", "5", normalize=unordered)
