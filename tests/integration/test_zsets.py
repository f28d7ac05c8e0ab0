"""Sorted sets: redis-py behaviour on AiKv, every command differentially against a real
redis-server 7.0 (raw reply bytes: score text, error texts, RESP3 doubles), large
(skiplist) sets, long members, ZSCAN, and hypothesis command sequences."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differ import Differ, parse


@pytest.fixture
def d(r: redis.Redis, oracle: redis.Redis, aikv_module, redis_module) -> Iterator[Differ]:  # type: ignore[no-untyped-def]
    differ = Differ(aikv_module.port, redis_module.port)
    yield differ
    differ.close()


SCRIPT: list[tuple[str, ...]] = [
    ('ZADD', 'z', '1', 'a', '2', 'b', '3', 'c', '1.5', 'd', '-1', 'e'),
    ('ZADD', 'z', '1e400', 'x'),
    ('ZADD', 'z', '1e-400', 'x'),
    ('ZADD', 'z', '0x10', 'x'),
    ('ZSCORE', 'z', 'x'),
    ('ZADD', 'z', 'NX', 'XX', '1', 'a'),
    ('ZADD', 'z', 'GT', 'NX', '1', 'a'),
    ('ZADD', 'z', 'INCR', '1', 'a', '2', 'b'),
    ('ZADD', 'z', 'INCR', 'inf', 'a'),
    ('ZADD', 'z', 'INCR', '-inf', 'a'),
    ('ZADD', 'z', 'CH', '5', 'a', '6', 'b', '7', 'new'),
    ('ZADD', 'z', 'GT', 'CH', '1', 'a', '10', 'b'),
    ('ZADD', 'z', 'LT', 'CH', '1', 'a', '10', 'b'),
    ('ZADD', 'z', 'XX', 'INCR', '1', 'zz'),
    ('ZADD', 'z', 'INCR', 'GT', '-5', 'a'),
    ('ZRANGE', 'z', '0', '-1', 'WITHSCORES'),
    ('ZRANGE', 'z', '0', '-1', 'REV', 'WITHSCORES'),
    ('ZRANGE', 'z', '1', '3'),
    ('ZRANGE', 'z', '-2', '-1', 'WITHSCORES'),
    ('ZRANGE', 'z', '(1', '5', 'BYSCORE', 'WITHSCORES'),
    ('ZRANGE', 'z', '5', '(1', 'BYSCORE', 'REV', 'WITHSCORES'),
    ('ZRANGE', 'z', '-inf', '+inf', 'BYSCORE', 'LIMIT', '1', '2'),
    ('ZRANGE', 'z', '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', '1', '2', 'WITHSCORES'),
    ('ZRANGEBYSCORE', 'z', '-inf', '+inf', 'LIMIT', '1', '-1'),
    ('ZRANGEBYSCORE', 'z', '-inf', '+inf', 'LIMIT', '-1', '1'),
    ('ZRANGEBYSCORE', 'z', '(1', '(1'),
    ('ZREVRANGEBYSCORE', 'z', '5', '1', 'WITHSCORES'),
    ('ZREVRANGE', 'z', '0', '2', 'WITHSCORES'),
    ('ZRANGE', 'z', '0', '-1', 'LIMIT', '0', '1'),
    ('ZRANGE', 'z', 'a', 'b', 'BYLEX', 'WITHSCORES'),
    ('ZRANGE', 'z', 'x', '1'),
    ('ZRANGE', 'z', '0', '1', 'BYSCORE', 'BYLEX'),
    ('ZRANGEBYSCORE', 'z', '0', '1', 'BYSCORE'),
    ('ZRANGE', 'z', 'x', 'y', 'BYLEX'),
    ('ZRANGE', 'z', 'x', 'y', 'BYSCORE'),
    ('ZCOUNT', 'z', '-inf', '+inf'),
    ('ZCOUNT', 'z', '(1', '3'),
    ('ZCOUNT', 'z', '+inf'),
    ('ZCOUNT', 'nz', '1', '2'),
    ('ZRANK', 'z', 'a'),
    ('ZRANK', 'z', 'nope'),
    ('ZREVRANK', 'z', 'a'),
    ('ZRANK', 'nz', 'a'),
    ('ZCARD', 'z'),
    ('ZCARD', 'nz'),
    ('ZMSCORE', 'z', 'a', 'nope', 'b'),
    ('ZMSCORE', 'nz', 'a'),
    ('ZINCRBY', 'z', '2.5', 'a'),
    ('ZINCRBY', 'z', 'x', 'a'),
    ('ZINCRBY', 'nz2', '1.1', 'm'),
    ('ZSCORE', 'nz2', 'm'),
    ('ZREM', 'z', 'a', 'nope'),
    ('ZREM', 'nz', 'a'),
    ('ZADD', 'lex', '0', 'a', '0', 'b', '0', 'c', '0', 'd', '0', 'e', '0', 'f'),
    ('ZRANGEBYLEX', 'lex', '-', '+'),
    ('ZRANGEBYLEX', 'lex', '[b', '(e'),
    ('ZREVRANGEBYLEX', 'lex', '(e', '[b'),
    ('ZREVRANGEBYLEX', 'lex', '+', '-', 'LIMIT', '1', '2'),
    ('ZRANGEBYLEX', 'lex', '[b', '+', 'LIMIT', '1', '10'),
    ('ZLEXCOUNT', 'lex', '[b', '[d'),
    ('ZLEXCOUNT', 'lex', '-', '+'),
    ('ZLEXCOUNT', 'lex', 'x', 'y'),
    ('ZLEXCOUNT', 'lex', '+', '-'),
    ('ZRANGE', 'lex', '[c', '[a', 'BYLEX'),
    ('ZRANGE', 'lex', '[e', '[b', 'BYLEX', 'REV'),
    ('ZREMRANGEBYLEX', 'lex', '[b', '(d'),
    ('ZRANGE', 'lex', '0', '-1'),
    ('ZREMRANGEBYRANK', 'z', '0', '1'),
    ('ZREMRANGEBYSCORE', 'z', '(5', '+inf'),
    ('ZRANGE', 'z', '0', '-1', 'WITHSCORES'),
    ('ZPOPMIN', 'z'),
    ('ZPOPMAX', 'z', '2'),
    ('ZPOPMIN', 'z', '-1'),
    ('ZPOPMIN', 'z', '0'),
    ('ZPOPMIN', 'nz'),
    ('ZPOPMIN', 'nz', '3'),
    ('ZADD', 'a', '1', 'x', '2', 'y', '3', 'z'),
    ('ZADD', 'b', '10', 'y', '20', 'z', '30', 'w'),
    ('ZUNION', '2', 'a', 'b', 'WITHSCORES'),
    ('ZUNION', '2', 'a', 'b', 'WEIGHTS', '2', '3', 'AGGREGATE', 'MAX', 'WITHSCORES'),
    ('ZINTER', '2', 'a', 'b', 'WITHSCORES'),
    ('ZINTER', '2', 'a', 'b', 'AGGREGATE', 'MIN', 'WITHSCORES'),
    ('ZDIFF', '2', 'a', 'b', 'WITHSCORES'),
    ('ZDIFF', '2', 'b', 'a'),
    ('ZUNIONSTORE', 'dst', '2', 'a', 'b'),
    ('ZRANGE', 'dst', '0', '-1', 'WITHSCORES'),
    ('ZINTERSTORE', 'dst', '2', 'a', 'b', 'WEIGHTS', '1', '-1'),
    ('ZRANGE', 'dst', '0', '-1', 'WITHSCORES'),
    ('ZDIFFSTORE', 'dst', '2', 'a', 'a'),
    ('EXISTS', 'dst'),
    ('ZINTERCARD', '2', 'a', 'b'),
    ('ZINTERCARD', '2', 'a', 'b', 'LIMIT', '1'),
    ('ZINTERCARD', '1', 'a', 'LIMIT', '-1'),
    ('ZUNIONSTORE', 'd', '0', 'z'),
    ('ZUNION', '0', 'z'),
    ('ZUNIONSTORE', 'd', 'x', 'z'),
    ('ZUNIONSTORE', 'd', '3', 'z'),
    ('ZUNION', '1', 'z', 'WEIGHTS', 'x'),
    ('ZUNION', '1', 'z', 'WEIGHTS', '1', '2'),
    ('ZUNION', '1', 'z', 'AGGREGATE', 'foo'),
    ('ZDIFF', '1', 'z', 'WEIGHTS', '1'),
    ('ZADD', 'inf1', 'inf', 'm'),
    ('ZADD', 'inf2', '-inf', 'm'),
    ('ZUNION', '2', 'inf1', 'inf2', 'WITHSCORES'),
    ('ZUNION', '2', 'inf1', 'inf2', 'WEIGHTS', '0', '1', 'WITHSCORES'),
    ('ZMPOP', '2', 'nz', 'a', 'MIN', 'COUNT', '2'),
    ('ZMPOP', '1', 'nz', 'MIN'),
    ('ZMPOP', '0', 'a', 'MIN'),
    ('ZMPOP', '1', 'a', 'MIDDLE'),
    ('ZRANGESTORE', 'st', 'a', '0', '-1'),
    ('ZRANGESTORE', 'st', 'a', '0', '-1', 'WITHSCORES'),
    ('ZRANGESTORE', 'st', 'nz', '0', '-1'),
    ('ZRANGESTORE', 'st', 'b', '(10', '+inf', 'BYSCORE', 'LIMIT', '0', '1'),
    ('ZRANGE', 'st', '0', '-1', 'WITHSCORES'),
    ('ZSCAN', 'b', '0'),
    ('ZSCAN', 'b', '0', 'MATCH', 'w*'),
    ('ZSCAN', 'nz', '0'),
    ('ZRANDMEMBER', 'b', '5'),
    ('ZRANDMEMBER', 'b', '-9223372036854775808'),
    ('ZRANDMEMBER', 'b', 'x'),
    ('ZRANDMEMBER', 'b', '9223372036854775807', 'WITHSCORES'),
    ('ZRANDMEMBER', 'b', '1', 'FOO'),
    ('ZRANDMEMBER', 'b', '0'),
    ('ZRANDMEMBER', 'nz', '2'),
    ('ZRANDMEMBER', 'nz'),
    ('SET', 's', 'v'),
    ('ZADD', 's', '1', 'a'),
    ('ZRANGE', 's', '0', '1'),
    ('ZUNION', '2', 'a', 's'),
    ('ZSCORE', 's', 'a'),
    ('ZADD', 'f', '1.1', 'a', '0.1', 'b', '123456789012345678', 'c', '-0', 'd', '3.0', 'e'),
    ('ZRANGE', 'f', '0', '-1', 'WITHSCORES'),
    ('ZADD', 'neg', '-0', 'x'),
    ('ZSCORE', 'neg', 'x'),
    ('OBJECT', 'ENCODING', 'f'),
]

RESP3_SCRIPT: list[tuple[str, ...]] = [
    ('ZRANGE', 'f', '0', '-1', 'WITHSCORES'),
    ('ZSCORE', 'f', 'a'),
    ('ZPOPMIN', 'f'),
    ('ZPOPMIN', 'f', '1'),
    ('ZMPOP', '1', 'f', 'MAX', 'COUNT', '1'),
    ('ZRANDMEMBER', 'f', '10', 'WITHSCORES'),
    ('ZUNION', '1', 'f', 'WITHSCORES'),
    ('ZMSCORE', 'f', 'a', 'nope'),
    ('ZSCORE', 'f', 'nope'),
    ('ZINCRBY', 'f', '1', 'e'),
    ('ZRANK', 'f', 'nope'),
    ('ZADD', 'f', 'NX', 'INCR', '1', 'a'),
]


def test_differential_script(d: Differ) -> None:
    for cmd in SCRIPT:
        d.check(*cmd)


def test_differential_resp3(d: Differ) -> None:
    d.both("hello", "3")
    for cmd in RESP3_SCRIPT:
        d.check(*cmd)
    for cmd in [("zadd", "big", *[x for i in range(200) for x in (str(i / 7), "m%d" % i)]),
                ("zadd", "big", "-0", "negzero"), ("zscore", "big", "negzero"),
                ("zrange", "big", "0", "5", "WITHSCORES"), ("zpopmax", "big", "2"),
                ("bzpopmin", "big", "0"), ("bzmpop", "0", "1", "big", "MAX", "COUNT", "2"),
                ("zunion", "1", "big", "WEIGHTS", "2", "WITHSCORES"),
                ("zrangebyscore", "big", "(1", "2", "WITHSCORES", "LIMIT", "1", "3"),
                ("zincrby", "big", "1e300", "m1"), ("zadd", "big", "INCR", "1", "m2")]:
        d.check(*cmd)


ARITY_AND_TYPES = [
    ("zadd", "z"), ("zadd", "z", "1"), ("zincrby", "z", "1"), ("zrem", "z"), ("zcard",),
    ("zscore", "z"), ("zmscore", "z"), ("zrank", "z"), ("zcount", "z", "1"),
    ("zrange", "z", "0"), ("zrangestore", "d", "z", "0"), ("zpopmin",), ("zpopmin", "z", "1", "2"),
    ("zmpop", "1", "z"), ("bzpopmin", "z"), ("bzmpop", "0", "1", "z"), ("zunion", "1"),
    ("zunionstore", "d", "1"), ("zscan", "z"), ("zrandmember",), ("zremrangebyrank", "z", "0"),
    ("set", "s", "v"), ("zadd", "s", "1", "a"), ("zincrby", "s", "1", "a"), ("zrem", "s", "a"),
    ("zcard", "s"), ("zscore", "s", "a"), ("zmscore", "s", "a"), ("zrank", "s", "a"),
    ("zcount", "s", "0", "1"), ("zlexcount", "s", "-", "+"), ("zrange", "s", "0", "1"),
    ("zrangestore", "d", "s", "0", "1"), ("zpopmin", "s"), ("zmpop", "1", "s", "MIN"),
    ("bzpopmax", "s", "0"), ("zunion", "2", "s", "nz"), ("zinterstore", "d", "1", "s"),
    ("zdiff", "1", "s"), ("zintercard", "1", "s"), ("zscan", "s", "0"), ("zrandmember", "s"),
    ("zremrangebyscore", "s", "0", "1"), ("zremrangebylex", "s", "-", "+"),
    ("rpush", "l", "a"), ("zadd", "l", "1", "a"), ("bzpopmin", "l", "0.01"),
    ("zscan", "nz", "x"), ("zscan", "nz", "0", "COUNT", "0"), ("zadd", "z", "1", "a"),
    ("zscan", "z", "0", "COUNT", "0"), ("zscan", "z", "0", "MATCH"), ("zscan", "z", "-1"),
    ("zscan", "z", "18446744073709551616"), ("zscan", "z", "0", "COUNT", "x"),
    ("zadd", "z", "xx", "ch", "2", "a", "3", "b"), ("zadd", "z", "nx", "lt", "2", "a"),
    ("zadd", "z", "gt", "incr", "nan", "a"), ("zadd", "z", "1", ""), ("zscore", "z", ""),
    ("zadd", "z", " 1", "a"), ("zadd", "z", "1 ", "a"), ("zadd", "z", "1_0", "a"),
    ("zadd", "z", "+inf", "a"), ("zadd", "z", "-INF", "b"), ("zadd", "z", "inFinity", "c"),
    ("zadd", "z", "4.9e-324", "d"), ("zadd", "z", ".5", "e"), ("zadd", "z", "5.", "f"),
    ("zrange", "z", "0", "-1", "WITHSCORES"), ("zcount", "z", "(-inf", "(+inf"),
    ("zrangebyscore", "z", "(", "(5"), ("zrangebylex", "z", "a", "b"),
    ("zrangebylex", "z", "[a", "b"), ("zrangebylex", "z", "-", "(a"),
    ("zrange", "z", "0", "-1", "BYSCORE"), ("zrange", "z", "0", "-1", "REV", "REV"),
    ("zrangebyscore", "z", "0", "1", "REV"), ("zrevrange", "z", "0", "1", "LIMIT", "0", "1"),
    ("zrangebyscore", "z", "0", "1", "LIMIT", "0"), ("zrangebyscore", "z", "0", "1", "LIMIT", "a", "1"),
    ("zrangestore", "d", "z", "0", "1", "LIMIT", "0", "1"),
    ("zrangestore", "d", "z", "-inf", "inf", "BYSCORE", "LIMIT", "1", "2"),
    ("zrange", "d", "0", "-1", "WITHSCORES"),
]


def test_differential_arity_types_and_parsing(d: Differ) -> None:
    for cmd in ARITY_AND_TYPES:
        d.check(*cmd)


def test_differential_large_and_long_members(d: Differ) -> None:
    rnd = random.Random(7)
    args: list[str] = []
    for i in range(300):
        args += [str(rnd.choice([rnd.randint(-5, 5), rnd.random() * 10])), "m%03d" % i]
    d.check("zadd", "big", *args)
    d.check("object", "encoding", "big")
    longp = "L" * 500
    d.check("zadd", "big", "1", longp + "b", "1", longp + "a", "1", longp, "1", "L" * 470,
            "1", longp + "c" * 30, "-0", "negz")
    for cmd in [("zadd", "e1", "0", "x" * 65), ("object", "encoding", "e1"),
                ("zrange", "big", "0", "-1", "WITHSCORES"),
                ("zrange", "big", "0", "-1", "REV", "WITHSCORES"),
                ("zscore", "big", longp + "a"), ("zscore", "big", "negz"),
                ("zrangebyscore", "big", "(1", "3", "WITHSCORES", "LIMIT", "3", "20"),
                ("zrevrangebyscore", "big", "3", "(1", "WITHSCORES", "LIMIT", "3", "20"),
                ("zcount", "big", "0", "(1"), ("zremrangebyrank", "big", "10", "20"),
                ("zremrangebyscore", "big", "2", "(3"), ("zrem", "big", longp + "a", "m001"),
                ("zrange", "big", "0", "-1", "WITHSCORES"),
                ("zunionstore", "u", "2", "big", "big", "WEIGHTS", "1", "0.5"),
                ("zrange", "u", "0", "-1", "WITHSCORES"), ("object", "encoding", "u"),
                ("zrangestore", "u2", "big", "0", "9"), ("object", "encoding", "u2"),
                ("zinterstore", "u3", "2", "big", "u2", "AGGREGATE", "MAX"),
                ("zrange", "u3", "0", "-1", "WITHSCORES"), ("zpopmin", "big", "5"),
                ("zpopmax", "big", "5"), ("zcard", "big")]:
        d.check(*cmd)
    for m in ["m005", "m150", "m299", longp + "b", "L" * 470, "negz", "nope"]:
        d.check("zrank", "big", m)
        d.check("zrevrank", "big", m)
    for s, e in [(0, 10), (100, 120), (250, 305), (-20, -1), (-400, 5)]:
        d.check("zrange", "big", str(s), str(e), "WITHSCORES")
        d.check("zrevrange", "big", str(s), str(e))


def test_encoding_thresholds_and_stickiness(r: redis.Redis) -> None:
    r.zadd("z", {f"m{i}": i for i in range(128)})
    assert r.object("encoding", "z") == b"listpack"
    r.zadd("z", {"one-more": 1})
    assert r.object("encoding", "z") == b"skiplist"
    r.zremrangebyrank("z", 0, 100)
    assert r.object("encoding", "z") == b"skiplist"  # no conversion back, as in Redis
    r.zadd("w", {"x" * 64: 1})
    assert r.object("encoding", "w") == b"listpack"
    r.zadd("w", {"y" * 65: 1})
    assert r.object("encoding", "w") == b"skiplist"


def _scan_all(conn, key: str, count: int) -> tuple[dict[bytes, bytes], int]:  # type: ignore[no-untyped-def]
    cursor = b"0"
    seen: dict[bytes, bytes] = {}
    calls = 0
    while True:
        reply = parse(conn.call("zscan", key, cursor, "COUNT", str(count)))
        calls += 1
        cursor = reply[0]
        assert 0 <= int(cursor) < 2**63
        for i in range(0, len(reply[1]), 2):
            seen[reply[1][i]] = reply[1][i + 1]
        if cursor == b"0":
            return seen, calls


def test_zscan_matches_redis_and_survives_changes(d: Differ) -> None:
    d.check("zadd", "big", *[x for i in range(1000) for x in (str(i * 1.5), "m%d" % i)])
    mine, calls = _scan_all(d.a, "big", 10)
    theirs, _ = _scan_all(d.r, "big", 10)
    assert mine == theirs and len(mine) == 1000
    assert calls > 50  # really paged, not one reply
    # Members present throughout are never missed while others come and go.
    cursor = b"0"
    seen: set[bytes] = set()
    step = 0
    while True:
        reply = parse(d.a.call("zscan", "big", cursor, "COUNT", "20"))
        cursor = reply[0]
        seen.update(reply[1][0::2])
        d.a.call("zadd", "big", "0", "new%d" % step)
        d.a.call("zrem", "big", "new%d" % (step - 1))
        step += 1
        if cursor == b"0":
            break
    assert {b"m%d" % i for i in range(1000)} <= seen
    matched = parse(d.a.call("zscan", "big", "0", "MATCH", "m99*", "COUNT", "5000"))
    assert sorted(matched[1][0::2]) == sorted([b"m99"] + [b"m99%d" % i for i in range(10)])


def test_zrandmember_shapes(r: redis.Redis) -> None:
    r.zadd("z", {f"m{i}": i for i in range(500)})
    picks = r.zrandmember("z", 50)
    assert len(picks) == 50 and len(set(picks)) == 50
    assert len(r.zrandmember("z", -700)) == 700
    everything = r.zrandmember("z", 1000, withscores=True)
    assert len(everything) == 1000  # flat member/score pairs
    assert r.zrandmember("z") in {f"m{i}".encode() for i in range(500)}
    # Hash-ordered random seeks should reach most of the set over many picks.
    assert len(set(r.zrandmember("z", -5000))) > 400
    # A reply of more picks than MAX_RANDOM_REPLY is refused, as by SRANDMEMBER and
    # HRANDFIELD, instead of growing the node until the kernel kills it.
    for count in (-100_000_000, -9223372036854775807):
        with pytest.raises(redis.ResponseError, match="value is out of range"):
            r.zrandmember("z", count)
    assert r.ping()


def _chi_square(counts: dict[bytes, int], members: int, picks: int) -> float:
    expected = picks / members
    return sum((counts.get(m, 0) - expected) ** 2 / expected for m in counts) + \
        expected * (members - len(counts))


@pytest.mark.parametrize("encoding", ["listpack", "skiplist"])
def test_zrandmember_is_uniform_on_small_sets(r: redis.Redis, encoding: str) -> None:
    # Redis's zset.tcl "ZRANDMEMBER - skiplist" / "ZRANDMEMBER with <count> - ...": small
    # sets, listpack or skiplist, are picked uniformly (a seek to a random member hash
    # favoured members after a large hash gap: one of three members could be missed in
    # 100 picks, and chi-square reached 300-450 where Redis's test allows 40).
    r.delete("zu")
    long_member = "x" * 80 if encoding == "skiplist" else "c"
    r.zadd("zu", {"a": 1, "b": 2, long_member: 3})
    assert r.object("encoding", "zu") == encoding.encode()
    seen = {r.zrandmember("zu") for _ in range(100)}
    assert seen == {b"a", b"b", long_member.encode()}
    r.delete("zu")
    r.zadd("zu", {f"m{i}" + ("x" * 70 if encoding == "skiplist" and i == 0 else ""): i
                  for i in range(50)})
    assert r.object("encoding", "zu") == encoding.encode()
    counts: dict[bytes, int] = {}
    for member in r.zrandmember("zu", -5000):
        counts[member] = counts.get(member, 0) + 1
    assert _chi_square(counts, 50, 5000) < 120  # 49 degrees of freedom: p ~ 1e-7
    r.delete("zu")


def test_redis_py_zset_api(r: redis.Redis) -> None:
    assert r.zadd("z", {"a": 1, "b": 2.5, "c": -1}) == 3
    assert r.zrange("z", 0, -1, withscores=True) == [(b"c", -1.0), (b"a", 1.0), (b"b", 2.5)]
    assert r.zincrby("z", 2, "a") == 3.0
    assert r.zrank("z", "a") == 2 and r.zrevrank("z", "a") == 0
    assert r.zpopmin("z") == [(b"c", -1.0)]
    assert r.zmpop(1, ["z"], max=True) == [b"z", [[b"a", b"3"]]]
    assert r.zcard("z") == 1
    assert r.zrem("z", "b") == 1 and r.exists("z") == 0


# ---------------------------------------------------------------------- random sequences
_MEMBERS = st.sampled_from(["a", "b", "c", "d", "e", "ab", ""])
_SCORES = st.sampled_from(["0", "1", "-1", "2.5", "inf", "-inf", "1e20", "0.1", "(1", "3"])
_ZKEYS = st.sampled_from(["z1", "z2"])
_RANK = st.integers(min_value=-5, max_value=5).map(str)
_BOUND = st.sampled_from(["-inf", "+inf", "0", "(0", "1", "(1", "2.5", "(2.5"])
_LEX = st.sampled_from(["-", "+", "[a", "(a", "[b", "(c", "[d", "[ab"])

ZSET_OPS = st.one_of(
    st.tuples(st.just("zadd"), _ZKEYS, st.sampled_from(["NX", "XX", "GT", "LT", "CH"]),
              _SCORES.filter(lambda s: not s.startswith("(")), _MEMBERS),
    st.tuples(st.just("zadd"), _ZKEYS, _SCORES.filter(lambda s: not s.startswith("(")),
              _MEMBERS, st.just("1"), _MEMBERS),
    st.tuples(st.just("zadd"), _ZKEYS, st.just("INCR"),
              _SCORES.filter(lambda s: not s.startswith("(")), _MEMBERS),
    st.tuples(st.just("zincrby"), _ZKEYS, st.sampled_from(["1", "-2", "0.5"]), _MEMBERS),
    st.tuples(st.just("zrem"), _ZKEYS, _MEMBERS, _MEMBERS),
    st.tuples(st.sampled_from(["zrank", "zrevrank", "zscore"]), _ZKEYS, _MEMBERS),
    st.tuples(st.just("zrange"), _ZKEYS, _RANK, _RANK, st.just("WITHSCORES")),
    st.tuples(st.just("zrevrange"), _ZKEYS, _RANK, _RANK),
    st.tuples(st.sampled_from(["zrangebyscore", "zrevrangebyscore"]), _ZKEYS, _BOUND, _BOUND,
              st.just("WITHSCORES"), st.just("LIMIT"), st.sampled_from(["0", "1"]),
              st.sampled_from(["-1", "1", "2"])),
    st.tuples(st.sampled_from(["zcount", "zremrangebyscore"]), _ZKEYS, _BOUND, _BOUND),
    st.tuples(st.just("zremrangebyrank"), _ZKEYS, _RANK, _RANK),
    st.tuples(st.sampled_from(["zpopmin", "zpopmax"]), _ZKEYS, st.sampled_from(["1", "2"])),
    st.tuples(st.just("zmpop"), st.just("2"), _ZKEYS, _ZKEYS, st.sampled_from(["MIN", "MAX"])),
    st.tuples(st.sampled_from(["zunionstore", "zinterstore"]), st.just("z3"), st.just("2"),
              _ZKEYS, _ZKEYS, st.just("AGGREGATE"), st.sampled_from(["SUM", "MIN", "MAX"])),
    st.tuples(st.just("zdiffstore"), st.just("z3"), st.just("2"), _ZKEYS, _ZKEYS),
    st.tuples(st.just("zrangestore"), st.just("z2"), st.just("z1"), _RANK, _RANK),
    st.tuples(st.just("zcard"), _ZKEYS),
)

# Lex commands only on a set whose scores are all equal (Redis leaves other cases unspecified).
LEX_OPS = st.one_of(
    st.tuples(st.just("zadd"), st.just("zl"), st.just("0"), _MEMBERS),
    st.tuples(st.sampled_from(["zrangebylex", "zlexcount", "zremrangebylex"]), st.just("zl"),
              _LEX, _LEX),
    st.tuples(st.just("zrevrangebylex"), st.just("zl"), _LEX, _LEX, st.just("LIMIT"),
              st.sampled_from(["0", "1"]), st.sampled_from(["-1", "2"])),
    st.tuples(st.just("zrem"), st.just("zl"), _MEMBERS),
)


def test_lex_ranges_with_bounds_and_members_past_the_inline_length(d: Differ) -> None:
    """Members longer than zset_store.INLINE (470 bytes) are stored under a cut key, and
    a bound that long must not skip them (before the fix most such ranges came back
    short)."""
    rng = random.Random(7)
    stem = "p" * 500
    members = [stem + rng.choice("abcdefgh") * rng.randint(1, 3) + str(i) for i in range(30)]
    members += ["a", "z", "p" * 10, "p" * 470, "p" * 469 + "q"]
    pairs: list[str] = []
    for m in members:
        pairs += ["0", m]
    d.check("zadd", "zlong", *pairs)
    for _ in range(150):
        a, b = rng.choice(members), rng.choice(members)
        lo = rng.choice("[(") + min(a, b)
        hi = rng.choice("[(") + max(a, b)
        d.check("zrangebylex", "zlong", lo, hi)
        d.check("zrevrangebylex", "zlong", hi, lo, "LIMIT", "1", "5")
        d.check("zlexcount", "zlong", lo, hi)
    d.check("zremrangebylex", "zlong", "[" + stem + "c", "(" + stem + "f")
    d.check("zrange", "zlong", "0", "-1")


def test_lex_ranges_over_mixed_scores_walk_like_a_listpack(d: Differ) -> None:
    """Redis leaves lex ranges over unequal scores unspecified, but a small (listpack)
    set answers deterministically from how Redis walks it: the range check against the
    two ends, the start found from the front (from the back in reverse), OFFSET stepped
    over unchecked, then the walk while the far bound holds. (A skiplist's answer depends
    on its random node levels, so big sets are not compared here.)"""
    rng = random.Random(20261127)
    bounds = ["-", "+", "[a", "(b", "[c", "(d", "[e", "[g", "(h", "[b", "(ax"]
    mismatches = []
    for _ in range(250):
        d.both("del", "zm", "zdst")
        pairs: list[str] = []
        for _ in range(rng.randint(1, 10)):
            pairs += [rng.choice(["0", "0", "1", "2", "-1"]), rng.choice("abcdefgh") + rng.choice(["", "x"])]
        d.both("zadd", "zm", *pairs)
        assert d.both("object", "encoding", "zm")[1] == b"$8\r\nlistpack\r\n"
        lo, hi = rng.choice(bounds), rng.choice(bounds)
        limit = ["LIMIT", rng.choice(["0", "1", "2"]), rng.choice(["-1", "1", "3"])]
        for cmd in (("zrangebylex", "zm", lo, hi), ("zrevrangebylex", "zm", hi, lo, *limit),
                    ("zrange", "zm", lo, hi, "BYLEX", *limit), ("zrange", "zm", hi, lo, "BYLEX", "REV"),
                    ("zlexcount", "zm", lo, hi), ("zrangestore", "zdst", "zm", lo, hi, "BYLEX"),
                    ("zremrangebylex", "zm", lo, hi), ("zrange", "zm", "0", "-1", "WITHSCORES")):
            mine, theirs = d.both(*cmd)
            if mine != theirs:
                mismatches.append((pairs, cmd, mine, theirs))
    assert not mismatches, "\n".join(map(repr, mismatches[:5]))


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(st.one_of(ZSET_OPS, LEX_OPS), min_size=1, max_size=40))
def test_random_zset_sequences(aikv_module, redis_module, ops) -> None:  # type: ignore[no-untyped-def]
    differ = Differ(aikv_module.port, redis_module.port)
    try:
        differ.both("del", "z1", "z2", "z3", "zl")
        for op in ops:
            differ.check(*op)
        for key in ("z1", "z2", "z3", "zl"):
            differ.check("zrange", key, "0", "-1", "WITHSCORES")
            differ.check("object", "encoding", key)
        differ.assert_same_values("z1", "z2", "z3", "zl")
    finally:
        differ.close()


def test_zscan_of_a_listpack_prints_its_entries(differ: Differ) -> None:
    """ZSCAN of a small set returns the listpack's own entries: integral scores up to
    2^62 were stored as integers (d2string), unlike ZRANGE's %.17g."""
    differ.check("del", "zl", "zb")
    differ.check("zadd", "zl", "-0", "m", "1e17", "e", "123456789012345678", "f",
                 "4611686018427387904", "g", "4611686018427387903", "h", "2.5", "i",
                 "9223372036854775807", "j", "-1e18", "k", "inf", "l")
    differ.check("zscan", "zl", "0")
    differ.check("zrange", "zl", "0", "-1", "withscores")
    differ.check("zadd", "zb", *[x for i in range(200) for x in (str(i * 1e16), f"m{i}")])
    differ.check("zscan", "zb", "0", "match", "m1*", "count", "1000",
                 normalize=lambda raw: sorted(parse(raw)[1]))
    differ.check("del", "zl", "zb")
