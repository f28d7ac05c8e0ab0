"""Differential tests: strings, generic keys and expiry against a real redis-server 7.0.

Every command goes to both servers over raw sockets and the reply bytes must be equal —
error texts included.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differ import Differ

KEYS = [b"k0", b"k1", b"k2", b"{t}a", b"{t}b"]


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> None:
    differ.both("del", *KEYS, "s", "n", "f", "big", "b", "c", "m", "x")


SCRIPTED: list[tuple[str, ...]] = [
    ("set", "k0", "1"), ("get", "k0"), ("incr", "k0"), ("incrby", "k0", "x"),
    ("incrby", "k0", "-5"), ("decr", "k0"), ("decrby", "k0", "10"),
    ("incrbyfloat", "k0", "0.1"), ("incrbyfloat", "k0", "1e400"), ("incrbyfloat", "k0", "abc"),
    ("incrbyfloat", "k0", " 1"), ("incrbyfloat", "k0", "inf"),
    ("set", "b", "hello", "ex", "100"), ("ttl", "b"), ("expire", "b", "10", "nx"),
    ("expire", "b", "10", "gt"), ("expire", "b", "1000", "gt"), ("ttl", "b"),
    ("expire", "b", "5000", "lt"), ("expire", "b", "500", "lt"), ("ttl", "b"),
    ("expire", "b", "1", "nx", "xx"), ("expire", "b", "1", "gt", "lt"),
    ("expire", "b", "x"), ("expire", "b", "10", "foo"), ("expire", "nokey", "10"),
    ("expire", "b", "9223372036854775807"), ("pexpire", "b", "9223372036854775807"),
    ("set", "c", "v", "px", "0"), ("set", "c", "v", "ex", "-1"), ("set", "c", "v", "nx", "xx"),
    ("set", "c", "v", "ex", "1", "px", "1"), ("set", "c", "v", "keepttl", "ex", "1"),
    ("set", "c", "v", "ex"), ("set", "c", "v", "ex", "abc"), ("set", "c", "v", "foo"),
    ("set", "c", "v", "get"), ("set", "c", "w", "get"), ("set", "c", "z", "nx", "get"),
    ("set", "c", "z", "xx", "get"), ("set", "nokey", "z", "xx", "get"), ("get", "nokey"),
    ("set", "c", "v", "ex", "100"), ("set", "c", "w", "keepttl"), ("ttl", "c"),
    ("set", "c", "w"), ("ttl", "c"),
    ("getrange", "c", "0", "-1"), ("getrange", "c", "-100", "-50"), ("getrange", "c", "5", "1"),
    ("getrange", "nokey", "0", "1"), ("getrange", "c", "x", "1"),
    ("setrange", "c", "5", "abc"), ("get", "c"), ("setrange", "c", "-1", "x"),
    ("setrange", "nokey", "0", ""), ("setrange", "c", "0", ""), ("exists", "nokey"),
    ("setrange", "c", "536870912", "x"), ("append", "c", "zz"), ("strlen", "c"),
    ("strlen", "nokey"), ("append", "n", "12"), ("getdel", "c"), ("getdel", "c"),
    ("getex", "b", "persist"), ("ttl", "b"), ("getex", "b", "ex", "0"), ("getex", "b", "ex", "100", "px", "1"),
    ("getex", "b", "ex", "100"), ("ttl", "b"), ("getex", "b", "foo"), ("getex", "nokey", "ex", "1"),
    ("mset", "k1", "1", "k2", "2"), ("mget", "k1", "k2", "nokey"), ("msetnx", "k1", "x", "{t}a", "y"),
    ("mset", "k1"), ("msetnx", "{t}a", "1", "{t}b", "2"), ("mget", "{t}a", "{t}b"),
    ("rename", "k1", "k0"), ("rename", "nokey", "z"), ("rename", "k0", "k0"),
    ("renamenx", "k2", "k0"), ("renamenx", "k2", "k2"), ("exists", "k0", "k0", "k2", "no"),
    ("type", "k0"), ("type", "no"), ("copy", "k0", "k1"), ("copy", "k0", "k1"),
    ("copy", "k0", "k1", "replace"), ("copy", "k0", "k0"), ("copy", "k0", "k1", "db"),
    ("copy", "k0", "k1", "db", "99"), ("copy", "nokey", "k1"),
    ("object", "encoding", "k0"), ("object", "encoding", "nokey"), ("set", "big", "x" * 50),
    ("object", "encoding", "big"), ("set", "n", "12345"), ("object", "encoding", "n"),
    ("set", "n", "-0"), ("object", "encoding", "n"), ("set", "n", "007"), ("object", "encoding", "n"),
    ("set", "n", "x" * 44), ("object", "encoding", "n"), ("object", "foo"),
    ("persist", "k0"), ("persist", "nokey"), ("expireat", "k0", "1"), ("exists", "k0"),
    ("set", "n", "1"), ("decrby", "n", "-9223372036854775808"), ("incrby", "n", "9223372036854775807"),
    ("set", "n", "-1"), ("decrby", "n", "9223372036854775807"), ("decrby", "n", "2"),
    ("set", "n", "99999999999999999999"), ("incr", "n"), ("set", "n", "1.5"), ("incr", "n"),
    ("setex", "s", "0", "v"), ("setex", "s", "x", "v"), ("setex", "s", "100", "v"),
    ("psetex", "s", "-1", "v"), ("getset", "s", "w"), ("ttl", "s"), ("get", "s"),
    ("substr", "s", "0", "0"), ("incrbyfloat", "s", "1"),
    ("set", "f", "3.0"), ("incrbyfloat", "f", "1.5"), ("set", "f", "1e20"),
    ("incrbyfloat", "f", "1"), ("set", "f", "0.1"), ("incrbyfloat", "f", "0.2"),
    ("incrbyfloat", "f", "-0.3"), ("incrbyfloat", "f", "5.0e3"), ("incrbyfloat", "f", "-1e-5"),
    ("set", "f", "10.50"), ("incrbyfloat", "f", "0.1"),
    ("setnx", "s", "1"), ("setnx", "x", "1"), ("del", "s", "x", "zz"), ("unlink", "k0", "k1"),
    ("touch", "k2", "zz"), ("ttl", "nokey"), ("pttl", "nokey"), ("expiretime", "nokey"),
    ("set", "x", "1"), ("expiretime", "x"), ("pexpiretime", "x"), ("expireat", "x", "99999999999"),
    ("expiretime", "x"), ("pexpireat", "x", "99999999999000"), ("pexpiretime", "x"),
    ("multi",), ("set", "m", "1"), ("incr", "m"), ("exec",), ("multi",), ("set", "m"),
    ("exec",), ("exec",), ("discard",), ("multi",), ("multi",), ("discard",),
    ("watch", "m"), ("multi",), ("watch", "x"), ("incr", "m"), ("exec",),
    ("get",), ("set", "a"), ("frobnicate", "x"), ("get", "a", "b"),
]


def test_scripted_sequence(differ: Differ) -> None:
    mismatches = differ.mismatches(SCRIPTED)
    assert not mismatches, "\n".join(map(repr, mismatches))


def test_watch_aborts_on_concurrent_change(aikv_module, redis_module) -> None:  # type: ignore[no-untyped-def]
    for proc in (aikv_module, redis_module):
        a, b = proc.client(), proc.client()
        a.set("w", 1)
        pipe = a.pipeline()
        pipe.watch("w")
        b.incr("w")
        pipe.multi()
        pipe.set("w", 100)
        from redis.exceptions import WatchError

        with pytest.raises(WatchError):
            pipe.execute()
        assert a.get("w") == b"2"
        a.close()
        b.close()


# ------------------------------------------------------------------ random sequences
_key = st.sampled_from(KEYS)
_small_int = st.integers(min_value=-5, max_value=5).map(str)
_value = st.one_of(st.sampled_from(["", "0", "1", "-1", "10", "abc", "1.5", "007", "x y"]), _small_int)
_ttl = st.integers(min_value=100, max_value=10**6).map(str)  # seconds
# Milliseconds for PX: none may expire while a sequence runs, on one server and not yet
# on the other (a loaded machine can pause for 100 ms between the two).
_pttl = st.integers(min_value=100_000, max_value=10**9).map(str)
# GT and LT compare the new expiry time with the old one. With relative TTLs the answer
# would depend on the clock: the same TTL given twice compares equal only if both
# commands ran in the same millisecond (a flaky failure hypothesis found). Absolute times
# far beyond any relative TTL here keep every comparison fixed.
_at = st.integers(min_value=4_102_444_800, max_value=4_102_444_800 + 10**6).map(str)

_commands = st.one_of(
    st.tuples(st.just("set"), _key, _value),
    st.tuples(st.just("set"), _key, _value, st.sampled_from(["nx", "xx", "get", "keepttl"])),
    st.tuples(st.just("set"), _key, _value, st.just("ex"), _ttl),
    st.tuples(st.just("set"), _key, _value, st.just("px"), _pttl),
    st.tuples(st.just("get"), _key),
    st.tuples(st.sampled_from(["incr", "decr", "strlen", "getdel", "type", "persist", "ttl",
                               "exists", "del"]), _key),
    st.tuples(st.sampled_from(["incrby", "decrby"]), _key, _small_int),
    st.tuples(st.just("incrbyfloat"), _key, st.sampled_from(["0.1", "1", "-2.5", "3e2", "x"])),
    st.tuples(st.just("append"), _key, _value),
    st.tuples(st.just("getrange"), _key, _small_int, _small_int),
    st.tuples(st.just("setrange"), _key, st.integers(0, 8).map(str), _value),
    st.tuples(st.just("expire"), _key, _ttl, st.sampled_from(["nx", "xx"])),
    st.tuples(st.just("expireat"), _key, _at, st.sampled_from(["nx", "xx", "gt", "lt"])),
    st.tuples(st.just("expire"), _key, _ttl),
    st.tuples(st.just("rename"), _key, _key),
    st.tuples(st.just("renamenx"), _key, _key),
    st.tuples(st.just("copy"), _key, _key),
    st.tuples(st.just("mget"), _key, _key, _key),
    st.tuples(st.just("mset"), _key, _value, _key, _value),
    st.tuples(st.just("getset"), _key, _value),
    st.tuples(st.just("getex"), _key, st.sampled_from(["persist", "ex"]), _ttl),
    st.tuples(st.just("setbit"), _key, st.integers(0, 20).map(str), st.sampled_from(["0", "1"])),
    st.tuples(st.just("bitop"), st.sampled_from(["and", "or", "not"]), _key, _key),
    # The encoding a string's history leaves (raw after an edit in place, embstr after
    # INCRBYFLOAT, an unshared integer after COPY) and shared small integers.
    st.tuples(st.just("object"), st.sampled_from(["encoding", "refcount"]), _key),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_commands, min_size=1, max_size=25))
def test_random_sequences(differ: Differ, sequence: list[tuple[str, ...]]) -> None:
    differ.both("del", *KEYS)
    for cmd in sequence:
        # getex with "persist" takes no argument after it
        if cmd[0] == "getex" and cmd[2] == "persist":
            cmd = cmd[:3]
        mine, theirs = differ.both(*cmd)
        assert mine == theirs, (cmd, mine, theirs, sequence)
    # End state: the same keys with the same values (and expiring alike).
    differ.assert_same_values(*KEYS)
