"""Differential tests: what OBJECT ENCODING and OBJECT REFCOUNT say about a string after
each command that stores or edits one, against a real redis-server 7.0.

Redis decides a string's encoding when it makes the object: SET and the like encode the
value (int, with 0-9999 shared; embstr; raw); commands that edit a buffer in place leave
it raw; INCRBYFLOAT's result is never int; COPY's duplicate of an integer is not shared.
Some of those edits are silent: Redis makes the string raw without telling WATCH.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.differ import Differ, RawConnection

KEYS = ["s", "t", "h", "h2", "d"]


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> None:
    differ.both("del", *KEYS)


def _state(differ: Differ, key: str) -> list[tuple[bytes, bytes]]:
    return [differ.both("object", "encoding", key), differ.both("object", "refcount", key)]


# Each case: commands run on a clean database, then the encoding and refcount of "s".
CASES: list[list[tuple[Any, ...]]] = [
    [("set", "s", "5")],
    [("set", "s", "9999")],
    [("set", "s", "10000")],
    [("set", "s", "-1")],
    [("set", "s", "hello")],
    [("set", "s", "x" * 45)],
    [("mset", "s", "7", "t", "8")],
    [("setex", "s", "100", "3")],
    [("set", "s", "3", "ex", "100"), ("persist", "s")],
    [("setnx", "s", "4")],
    [("getset", "s", "2")],
    [("incr", "s")],
    [("set", "s", "9998"), ("incr", "s"), ("incr", "s")],
    [("append", "s", "12")],
    [("set", "s", "1"), ("append", "s", "2")],
    [("set", "s", "1"), ("append", "s", "")],
    [("set", "s", "12"), ("append", "s", "3"), ("incr", "s")],
    [("set", "s", "ab"), ("append", "s", "c"), ("set", "s", "ab")],
    [("setrange", "s", "2", "x")],
    [("set", "s", "12"), ("setrange", "s", "0", "")],
    [("set", "s", "12"), ("setrange", "s", "0", "3")],
    [("set", "s", "12"), ("setrange", "s", "-1", "3")],
    [("setbit", "s", "3", "1")],
    [("set", "s", "12"), ("setbit", "s", "0", "0")],
    [("set", "s", "12"), ("getbit", "s", "0"), ("bitcount", "s"), ("getrange", "s", "0", "0")],
    [("set", "s", "12"), ("bitfield", "s", "get", "u8", "0")],
    [("set", "s", "12"), ("bitfield_ro", "s", "get", "u8", "0")],
    [("set", "s", "12"), ("bitfield", "s", "overflow", "fail", "incrby", "u2", "0", "100")],
    [("set", "s", "12"), ("bitfield", "s", "set", "u8", "0", "49")],
    [("bitfield", "s", "set", "u8", "0", "49")],
    [("set", "t", "ab"), ("bitop", "and", "s", "t")],
    [("set", "t", "1"), ("bitop", "not", "s", "t")],
    [("incrbyfloat", "s", "5")],
    [("set", "s", "3"), ("incrbyfloat", "s", "0")],
    [("set", "s", "1"), ("incrbyfloat", "s", "1e60")],
    [("incrbyfloat", "s", "2"), ("incr", "s")],
    [("set", "t", "5"), ("copy", "t", "s")],
    [("set", "t", "123456"), ("copy", "t", "s")],
    [("set", "t", "hi"), ("copy", "t", "s")],
    [("set", "t", "1"), ("append", "t", "2"), ("copy", "t", "s")],
    [("set", "t", "5"), ("copy", "t", "s"), ("copy", "s", "h")],
    [("set", "t", "5"), ("rename", "t", "s")],
    [("set", "t", "1"), ("append", "t", "x"), ("rename", "t", "s")],
    [("set", "s", "1"), ("append", "s", "x"), ("expire", "s", "100"), ("getex", "s", "persist")],
    [("set", "s", "1"), ("setrange", "s", "0", "2"), ("dump", "s")],
    [("pfadd", "s", "a", "b")],
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: " / ".join(" ".join(map(str, x)) for x in c))
def test_encoding_after(differ: Differ, case: list[tuple[Any, ...]]) -> None:
    for cmd in case:
        mine, theirs = differ.both(*cmd)
        assert mine == theirs, (cmd, mine, theirs)
    for mine, theirs in _state(differ, "s"):
        assert mine == theirs, (case, mine, theirs)


def _hll(differ: Differ) -> bytes:
    """A small sparse HyperLogLog, short enough (<= 44 bytes) to be embstr when SET."""
    differ.both("del", "h")
    assert differ.both("pfadd", "h", "a") == (b":1\r\n", b":1\r\n")
    mine, theirs = differ.both("get", "h")
    assert mine == theirs
    value = theirs.split(b"\r\n", 1)[1][:-2]
    assert len(value) <= 44
    return value


def _run(differ: Differ, cmd: tuple[Any, ...], hll: bytes) -> None:
    cmd = tuple(hll if part == "HLL" else part for part in cmd)
    mine, theirs = differ.both(*cmd)
    assert mine == theirs, (cmd, mine, theirs)


@pytest.mark.parametrize("edit", [
    ("pfadd", "s", "a"),            # no register changes: unshared all the same
    ("pfadd", "s"),
    ("pfadd", "s", "zzz"),
    ("pfcount", "s"),               # the cached cardinality is invalid: computed and stored
    ("pfcount", "s", "h"),          # several keys: nothing unshared
    ("pfmerge", "s"),
    ("pfmerge", "s", "h"),
    ("pfdebug", "encoding", "s"),
    ("pfdebug", "nosuch", "s"),     # an unknown subcommand still unshared the value first
    ("pfdebug", "todense", "s"),
])
def test_hyperloglog_edits(differ: Differ, edit: tuple[Any, ...]) -> None:
    hll = _hll(differ)
    for cmd in (("set", "s", "HLL"), edit, ("pfcount", "s"), edit):
        _run(differ, cmd, hll)
        for mine, theirs in _state(differ, "s"):
            assert mine == theirs, (cmd, mine, theirs)


@pytest.mark.parametrize("case", [
    [("set", "s", "12"), ("setbit", "s", "0", "0")],
    [("set", "s", "12"), ("setbit", "s", "0", "1")],
    [("set", "s", "12"), ("bitfield", "s", "overflow", "fail", "incrby", "u2", "0", "100")],
    [("set", "s", "HLL"), ("pfadd", "s", "a")],
    [("set", "s", "HLL"), ("pfadd", "s", "new")],
    [("set", "s", "HLL"), ("pfcount", "s")],
    [("set", "s", "HLL"), ("pfcount", "s"), ("pfcount", "s")],
    [("set", "s", "HLL"), ("pfdebug", "encoding", "s")],
    [("set", "s", "1"), ("append", "s", "")],
    [("set", "s", "1"), ("setrange", "s", "0", "")],
])
def test_watch_after_unsharing(aikv_module, redis_module, differ: Differ,  # type: ignore[no-untyped-def]
                               case: list[tuple[Any, ...]]) -> None:
    """Redis makes a string raw silently unless its value changes: a WATCH on it holds
    or fails exactly as on redis-server."""
    hll = _hll(differ)
    for cmd in case[:-1]:
        _run(differ, cmd, hll)
    edit = case[-1]
    outcomes = []
    for conn, port in ((differ.a, aikv_module.port), (differ.r, redis_module.port)):
        other = RawConnection(port)
        try:
            assert conn.call("watch", "s") == b"+OK\r\n"
            other.call(*edit)
            assert conn.call("multi") == b"+OK\r\n"
            conn.call("object", "encoding", "s")
            outcomes.append(conn.call("exec"))
        finally:
            other.close()
    assert outcomes[0] == outcomes[1], (case, outcomes)
    for mine, theirs in _state(differ, "s"):
        assert mine == theirs, (case, mine, theirs)
