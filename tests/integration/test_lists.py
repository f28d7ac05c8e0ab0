"""Lists: redis-py behaviour on AiKv, and every command differentially against a real
redis-server 7.0 (raw reply bytes, error texts included)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differ import Differ


@pytest.fixture
def d(r: redis.Redis, oracle: redis.Redis, aikv_module, redis_module) -> Iterator[Differ]:  # type: ignore[no-untyped-def]
    differ = Differ(aikv_module.port, redis_module.port)
    yield differ
    differ.close()


def run(d: Differ, script: list[tuple[str, ...]]) -> None:
    for cmd in script:
        d.check(*cmd)


# ---------------------------------------------------------------------- redis-py
def test_push_pop_range_basics(r: redis.Redis) -> None:
    assert r.rpush("l", "a", "b", "c") == 3
    assert r.lpush("l", "z") == 4
    assert r.lrange("l", 0, -1) == [b"z", b"a", b"b", b"c"]
    assert r.lindex("l", -1) == b"c"
    assert r.lpop("l") == b"z"
    assert r.rpop("l", 2) == [b"c", b"b"]
    assert r.llen("l") == 1
    assert r.rpop("l") == b"a"
    assert r.exists("l") == 0  # an emptied list is deleted
    assert r.lpop("l") is None
    assert r.type("l") == b"none"


def test_object_encoding_is_quicklist(r: redis.Redis) -> None:
    r.rpush("l", "a")
    assert r.object("encoding", "l") == b"quicklist"
    r.rpush("l", *[b"x" * 100] * 1000)
    assert r.object("encoding", "l") == b"quicklist"


def test_insert_and_rem_keep_order_on_both_sides(r: redis.Redis) -> None:
    values = [str(i).encode() for i in range(50)]
    r.rpush("l", *values)
    # Near the head (head side shifts) and near the tail (tail side shifts).
    r.linsert("l", "BEFORE", "3", "x")
    r.linsert("l", "AFTER", "45", "y")
    expected = values[:3] + [b"x"] + values[3:46] + [b"y"] + values[46:]
    assert r.lrange("l", 0, -1) == expected
    r.rpush("l", "x")
    assert r.lrem("l", -1, "x") == 1
    assert r.lrem("l", 0, "x") == 1
    assert r.lrem("l", 1, "y") == 1
    assert r.lrange("l", 0, -1) == values
    assert [r.lindex("l", i) for i in (0, 25, 49, -50)] == [b"0", b"25", b"49", b"0"]


def test_ltrim_lset_lpos(r: redis.Redis) -> None:
    r.rpush("l", *"abcabcabc")
    r.ltrim("l", 1, -2)
    assert r.lrange("l", 0, -1) == [c.encode() for c in "bcabcab"]
    r.lset("l", 0, "B")
    assert r.lindex("l", 0) == b"B"
    assert r.lpos("l", "a") == 2
    assert r.lpos("l", "b", rank=-1) == 6
    assert r.lpos("l", "c", count=0) == [1, 4]
    with pytest.raises(redis.ResponseError, match="index out of range"):
        r.lset("l", 100, "x")


def test_lmove_rotation_and_lmpop(r: redis.Redis) -> None:
    r.rpush("l", "1", "2", "3")
    assert r.lmove("l", "l", "LEFT", "RIGHT") == b"1"
    assert r.lrange("l", 0, -1) == [b"2", b"3", b"1"]
    assert r.rpoplpush("l", "other") == b"1"
    assert r.lmpop(2, "missing", "l", direction="RIGHT", count=5) == [b"l", [b"3", b"2"]]
    assert r.exists("l") == 0


def test_watch_sees_lset(r: redis.Redis, aikv_module) -> None:  # type: ignore[no-untyped-def]
    r.rpush("l", "a")
    with r.pipeline() as pipe:
        pipe.watch("l")
        other = aikv_module.client()
        other.lset("l", 0, "b")  # element-only change, the meta stays the same
        other.close()
        pipe.multi()
        pipe.get("x")
        with pytest.raises(redis.WatchError):
            pipe.execute()


# ---------------------------------------------------------------------- differential
BASIC = [
    ("rpush", "l", "a", "b", "c", "a", "d", "a"), ("lpush", "l", "x", "y"),
    ("lpushx", "nol", "a"), ("rpushx", "nol", "a"), ("lpushx", "l", "p"), ("rpushx", "l", "q"),
    ("lrange", "l", "0", "-1"), ("lrange", "l", "-100", "100"), ("lrange", "l", "3", "1"),
    ("lrange", "l", "5", "-8"), ("lrange", "nol", "0", "1"), ("lrange", "l", "x", "1"),
    ("lrange", "l", "0", "99999999999999999999"),
    ("llen", "l"), ("llen", "nol"), ("lindex", "l", "0"), ("lindex", "l", "-1"),
    ("lindex", "l", "100"), ("lindex", "l", "-100"), ("lindex", "nol", "0"), ("lindex", "l", "x"),
    ("lpop", "l"), ("rpop", "l"), ("lpop", "l", "2"), ("rpop", "l", "0"), ("lpop", "l", "-1"),
    ("lpop", "l", "x"), ("lpop", "nol"), ("lpop", "nol", "0"), ("lpop", "nol", "3"),
    ("lpop", "l", "1", "2"), ("rpop", "l", "100"), ("exists", "l"), ("lpush", "l"),
]

MIDDLE = [
    ("rpush", "l", "1", "2", "3", "4", "5", "6", "7", "8", "9", "5"),
    ("linsert", "l", "BEFORE", "5", "x"), ("linsert", "l", "after", "5", "y"),
    ("linsert", "l", "BEFORE", "1", "h"), ("linsert", "l", "AFTER", "5", "t"),
    ("linsert", "l", "MIDDLE", "5", "x"), ("linsert", "l", "BEFORE", "zz", "x"),
    ("linsert", "nol", "BEFORE", "a", "x"), ("linsert", "l", "BEFORE", "a"),
    ("lrange", "l", "0", "-1"),
    ("lrem", "l", "1", "5"), ("lrange", "l", "0", "-1"), ("lrem", "l", "-1", "x"),
    ("lrem", "l", "0", "zz"), ("lrem", "l", "0", "t"), ("lrem", "nol", "0", "a"),
    ("lrem", "l", "x", "a"), ("lrange", "l", "0", "-1"),
    ("rpush", "r", "a", "b", "a", "c", "a", "d", "a"), ("lrem", "r", "-2", "a"),
    ("lrange", "r", "0", "-1"), ("lrem", "r", "2", "a"), ("lrange", "r", "0", "-1"),
    ("lset", "l", "0", "first"), ("lset", "l", "-1", "last"), ("lset", "l", "100", "x"),
    ("lset", "nol", "0", "x"), ("lset", "l", "x", "x"), ("lrange", "l", "0", "-1"),
    ("ltrim", "l", "1", "-2"), ("lrange", "l", "0", "-1"), ("ltrim", "l", "-3", "100"),
    ("lrange", "l", "0", "-1"), ("ltrim", "l", "0", "x"), ("ltrim", "nol", "0", "1"),
    ("ltrim", "l", "5", "1"), ("exists", "l"),
]

LPOS = [
    ("rpush", "l", "a", "b", "c", "a", "b", "a"),
    ("lpos", "l", "a"), ("lpos", "l", "a", "RANK", "2"), ("lpos", "l", "a", "RANK", "-1"),
    ("lpos", "l", "a", "RANK", "-2", "COUNT", "0"), ("lpos", "l", "a", "COUNT", "2"),
    ("lpos", "l", "a", "COUNT", "0", "MAXLEN", "4"), ("lpos", "l", "a", "RANK", "5"),
    ("lpos", "l", "z"), ("lpos", "l", "z", "COUNT", "0"), ("lpos", "nol", "a"),
    ("lpos", "nol", "a", "COUNT", "0"), ("lpos", "l", "a", "RANK", "0"),
    ("lpos", "l", "a", "COUNT", "-1"), ("lpos", "l", "a", "MAXLEN", "-1"),
    ("lpos", "l", "a", "FOO"), ("lpos", "l", "a", "RANK"), ("lpos", "l", "a", "RANK", "x"),
    ("lpos", "l", "a", "RANK", "-9223372036854775808"), ("lpos", "nol", "a", "RANK", "0"),
]

MOVES = [
    ("rpush", "src", "1", "2", "3"), ("lmove", "src", "dst", "LEFT", "RIGHT"),
    ("lmove", "src", "dst", "right", "left"), ("lrange", "dst", "0", "-1"),
    ("lmove", "src", "src", "LEFT", "RIGHT"), ("lrange", "src", "0", "-1"),
    ("rpoplpush", "src", "dst"), ("rpoplpush", "src", "dst"), ("exists", "src"),
    ("lmove", "nol", "dst", "LEFT", "LEFT"), ("rpoplpush", "nol", "dst"),
    ("lmove", "dst", "x", "UP", "LEFT"), ("lmove", "dst", "x", "LEFT", "DOWN"),
    ("set", "s", "v"), ("lmove", "dst", "s", "LEFT", "LEFT"), ("lrange", "dst", "0", "-1"),
    ("lmove", "s", "dst", "LEFT", "LEFT"), ("rpoplpush", "dst", "s"),
    ("lmpop", "2", "nol", "dst", "LEFT"), ("lmpop", "1", "dst", "RIGHT", "COUNT", "10"),
    ("lmpop", "1", "nol", "RIGHT"), ("lmpop", "0", "l", "LEFT"), ("lmpop", "-1", "l", "LEFT"),
    ("lmpop", "x", "l", "LEFT"), ("lmpop", "2", "l", "LEFT"), ("lmpop", "1", "l", "MIDDLE"),
    ("lmpop", "1", "l", "LEFT", "COUNT", "0"), ("lmpop", "1", "l", "LEFT", "COUNT", "-1"),
    ("lmpop", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2"), ("lmpop", "1", "l", "LEFT", "FOO"),
    ("lmpop", "1", "l", "LEFT", "COUNT"), ("lmpop", "2", "nol", "s", "LEFT"),
]

WRONGTYPE = [
    ("set", "s", "v"), ("lpush", "s", "a"), ("rpush", "s", "a"), ("lpushx", "s", "a"),
    ("lpop", "s"), ("rpop", "s", "2"), ("llen", "s"), ("lrange", "s", "0", "1"),
    ("lindex", "s", "0"), ("lset", "s", "0", "a"), ("linsert", "s", "BEFORE", "a", "b"),
    ("lrem", "s", "0", "a"), ("ltrim", "s", "0", "1"), ("lpos", "s", "a"),
    ("blpop", "s", "0"), ("brpop", "nol", "s", "0"), ("blmove", "s", "d", "LEFT", "LEFT", "0"),
    ("blmpop", "0", "1", "s", "LEFT"), ("zadd", "z", "1", "a"), ("lpush", "z", "a"),
    ("lrange", "z", "0", "-1"), ("type", "s"),
]

ARITY = [
    ("lpush",), ("lpush", "l"), ("rpush", "l"), ("lpop",), ("llen",), ("llen", "a", "b"),
    ("lrange", "l", "0"), ("lindex", "l"), ("lset", "l", "0"), ("linsert", "l", "a", "b"),
    ("lrem", "l", "0"), ("ltrim", "l", "0"), ("lpos", "l"), ("lmove", "a", "b", "LEFT"),
    ("rpoplpush", "a"), ("lmpop", "1", "l"), ("blpop", "l"), ("blmove", "a", "b", "LEFT", "LEFT"),
    ("brpoplpush", "a", "b"), ("blmpop", "0", "1", "l"),
]


@pytest.mark.parametrize("script", [BASIC, MIDDLE, LPOS, MOVES, WRONGTYPE, ARITY],
                         ids=["basic", "middle", "lpos", "moves", "wrongtype", "arity"])
def test_differential_scripts(d: Differ, script: list[tuple[str, ...]]) -> None:
    run(d, script)


def test_differential_resp3_nulls(d: Differ) -> None:
    d.both("hello", "3")
    run(d, [("lpop", "nol"), ("lpop", "nol", "2"), ("lindex", "nol", "0"), ("lpos", "nol", "a"),
            ("lmpop", "1", "nol", "LEFT"), ("rpoplpush", "nol", "x"), ("rpush", "l", "a"),
            ("lpop", "l", "0"), ("lrange", "l", "0", "-1"), ("lpos", "l", "zz"),
            ("blpop", "nol", "0.01"), ("blmove", "nol", "x", "LEFT", "LEFT", "0.01")])


def test_differential_timeout_parsing(d: Differ) -> None:
    d.both("rpush", "l", "a", "b", "c", "d", "e")
    run(d, [("blpop", "l", "x"), ("blpop", "l", "-1"), ("blpop", "l", "-0.0001"),
            ("blpop", "l", "inf"), ("blpop", "l", "1e300"), ("blpop", "l", "0x10"),
            ("blpop", "l", " 1"), ("blpop", "l", "nan"), ("brpop", "l", "1.5"),
            ("blmpop", "x", "1", "l", "LEFT"), ("blmpop", "x", "1", "l", "MID"),
            ("blmpop", "x", "1", "l", "LEFT", "COUNT", "0"), ("blmpop", "0", "0", "l", "LEFT"),
            ("blmove", "a", "b", "UP", "LEFT", "x"), ("blmove", "a", "b", "LEFT", "LEFT", "x"),
            ("brpoplpush", "l", "d", "-1"), ("blmpop", "0", "1", "l", "RIGHT", "COUNT", "2")])


def test_differential_large_list(d: Differ) -> None:
    values = [str(i) for i in range(3000)]
    d.check("rpush", "big", *values)
    d.check("lpush", "big", *values[:500])
    for cmd in [("lrange", "big", "1000", "1100"), ("lrange", "big", "-50", "-1"),
                ("lindex", "big", "2500"), ("linsert", "big", "BEFORE", "2990", "x"),
                ("linsert", "big", "AFTER", "10", "y"), ("lrem", "big", "2", "100"),
                ("lrem", "big", "-3", "499"), ("lrem", "big", "0", "x"), ("lpos", "big", "2999"),
                ("ltrim", "big", "100", "-100"), ("llen", "big"), ("lrange", "big", "0", "-1")]:
        d.check(*cmd)


# ---------------------------------------------------------------------- random sequences
_VALUES = st.sampled_from(["a", "b", "c", "dd", ""])
_KEYS = st.sampled_from(["l1", "l2"])
_IDX = st.integers(min_value=-6, max_value=6).map(str)

LIST_OPS = st.one_of(
    st.tuples(st.sampled_from(["lpush", "rpush", "lpushx", "rpushx"]), _KEYS, _VALUES, _VALUES),
    st.tuples(st.sampled_from(["lpop", "rpop"]), _KEYS),
    st.tuples(st.sampled_from(["lpop", "rpop"]), _KEYS, st.integers(0, 4).map(str)),
    st.tuples(st.sampled_from(["lrange", "ltrim"]), _KEYS, _IDX, _IDX),
    st.tuples(st.just("lindex"), _KEYS, _IDX),
    st.tuples(st.just("lset"), _KEYS, _IDX, _VALUES),
    st.tuples(st.just("linsert"), _KEYS, st.sampled_from(["BEFORE", "AFTER"]), _VALUES, _VALUES),
    st.tuples(st.just("lrem"), _KEYS, _IDX, _VALUES),
    st.tuples(st.just("lpos"), _KEYS, _VALUES, st.just("RANK"),
              st.sampled_from(["1", "2", "-1", "-2"]), st.just("COUNT"), st.sampled_from(["0", "1", "2"])),
    st.tuples(st.just("lmove"), _KEYS, _KEYS, st.sampled_from(["LEFT", "RIGHT"]),
              st.sampled_from(["LEFT", "RIGHT"])),
    st.tuples(st.just("lmpop"), st.just("2"), _KEYS, _KEYS, st.sampled_from(["LEFT", "RIGHT"]),
              st.just("COUNT"), st.integers(1, 3).map(str)),
    st.tuples(st.just("llen"), _KEYS),
    st.tuples(st.just("lrange"), _KEYS, st.just("0"), st.just("-1")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(LIST_OPS, min_size=1, max_size=40))
def test_random_list_sequences(aikv_module, redis_module, ops) -> None:  # type: ignore[no-untyped-def]
    differ = Differ(aikv_module.port, redis_module.port)
    try:
        differ.both("del", "l1", "l2")
        for op in ops:
            differ.check(*op)
        differ.check("lrange", "l1", "0", "-1")
        differ.check("lrange", "l2", "0", "-1")
        differ.assert_same_values("l1", "l2")
    finally:
        differ.close()
