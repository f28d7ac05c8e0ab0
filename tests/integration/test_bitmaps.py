"""Bitmap commands (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO) against a
real redis-server 7.0: the same commands to both, reply bytes equal, error texts
included; then stored values, TTLs and WATCH, and random sequences."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differ import Differ

KEYS = ["a", "b", "c", "k", "s", "ff", "ones", "e", "d", "l", "f", "newk", "n", "t"]


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> None:
    differ.both("del", *KEYS)


def _b(args: tuple[str, ...]) -> list[bytes]:
    # latin-1 so "\xff" is the byte 0xff.
    return [a.encode("latin-1") for a in args]


# Each group runs in order on both servers; every reply must be identical.
SCRIPTED: dict[str, list[tuple[str, ...]]] = {
    "setbit_getbit": [
        ("setbit", "k", "7", "1"), ("get", "k"), ("setbit", "k", "7", "1"), ("setbit", "k", "7", "0"),
        ("setbit", "k", "7", "2"), ("setbit", "k", "-1", "1"), ("setbit", "k", "x", "1"),
        ("setbit", "k", "1", "x"), ("setbit", "k", "1", "-1"), ("setbit", "k", "4294967296", "1"),
        ("setbit", "k", "100", "0"), ("strlen", "k"), ("get", "k"),
        ("getbit", "k", "7"), ("getbit", "k", "6"), ("getbit", "k", "100000"),
        ("getbit", "nokey", "0"), ("getbit", "nokey", "x"), ("getbit", "k", "4294967296"),
        ("set", "n", "123"), ("getbit", "n", "2"), ("setbit", "n", "0", "1"), ("get", "n"),
    ],
    "bitcount": [
        ("set", "s", "foobar"), ("bitcount", "s"), ("bitcount", "s", "0", "0"),
        ("bitcount", "s", "1", "1"), ("bitcount", "s", "1", "1", "bit"),
        ("bitcount", "s", "5", "30", "BIT"), ("bitcount", "s", "-1", "-2"),
        ("bitcount", "s", "-1", "-2", "foo"), ("bitcount", "s", "0"),
        ("bitcount", "s", "0", "1", "byte", "x"), ("bitcount", "s", "0", "1", "bytes"),
        ("bitcount", "nokey", "0"), ("bitcount", "s", "a", "b"), ("bitcount", "s", "0", "b"),
        ("bitcount", "s", "-100", "-90"), ("bitcount", "s", "100", "200"),
        ("bitcount", "s", "-3", "-1", "bit"), ("set", "e", ""), ("bitcount", "e"),
        ("bitcount", "e", "0", "-1"),
    ],
    "bitpos": [
        ("set", "ff", "\xff\xf0\x00"), ("bitpos", "ff", "0"), ("bitpos", "ff", "1", "2"),
        ("bitpos", "ff", "0", "8", "-1", "bit"), ("bitpos", "ff", "1", "7", "15", "bit"),
        ("bitpos", "ff", "0", "0", "0"), ("bitpos", "ff", "0", "0", "1"),
        ("bitpos", "ff", "2"), ("bitpos", "ff", "x"), ("bitpos", "ff", "1", "0", "1", "2"),
        ("bitpos", "nokey", "1"), ("bitpos", "nokey", "0", "x"), ("bitpos", "nokey", "2"),
        ("set", "ones", "\xff\xff"), ("bitpos", "ones", "0"), ("bitpos", "ones", "0", "0"),
        ("bitpos", "ones", "0", "0", "-1"), ("bitpos", "ones", "0", "3", "bit"),
        ("bitpos", "ones", "0", "3", "10", "bit"), ("bitpos", "ones", "0", "3", "1", "x"),
        ("bitpos", "ones", "1", "5", "2"), ("bitpos", "ones", "0", "-1", "-1", "bit"),
        ("set", "e", ""), ("bitpos", "e", "0"), ("bitpos", "e", "1"),
    ],
    "bitop": [
        ("set", "s", "foobar"), ("set", "ff", "\xff\xf0\x00"), ("set", "ones", "\xff\xff"),
        ("bitop", "and", "d", "s", "ff"), ("get", "d"), ("bitop", "OR", "d", "s", "nokey"),
        ("get", "d"), ("bitop", "xor", "d", "s", "ff", "ones"), ("get", "d"),
        ("bitop", "not", "d", "s"), ("get", "d"), ("bitop", "not", "d", "s", "ff"),
        ("bitop", "nand", "d", "s"), ("set", "d", "x", "ex", "100"),
        ("bitop", "and", "d", "s", "s"), ("ttl", "d"),
        ("bitop", "and", "d", "nokey", "nokey2"), ("exists", "d"),
        ("rpush", "l", "a"), ("bitop", "and", "d", "s", "l"), ("bitop", "or", "l", "s"),
        ("type", "l"), ("get", "l"),
    ],
    "wrongtype": [
        ("rpush", "l", "a"), ("getbit", "l", "0"), ("setbit", "l", "0", "1"),
        ("bitcount", "l"), ("bitpos", "l", "1"), ("bitfield", "l", "get", "u8", "0"),
        ("bitfield_ro", "l", "get", "u8", "0"), ("bitfield", "l", "set", "u8", "0", "1"),
        ("getbit", "l", "x"), ("bitcount", "l", "x"),
    ],
    "bitfield": [
        ("bitfield", "f", "set", "u8", "0", "255", "get", "u8", "0"),
        ("bitfield", "f", "incrby", "u2", "100", "1"),
        ("bitfield", "f", "incrby", "i5", "100", "1", "get", "u4", "0"),
        ("bitfield", "f", "overflow", "sat", "incrby", "u2", "102", "5"),
        ("bitfield", "f", "overflow", "fail", "incrby", "u2", "102", "5"),
        ("bitfield", "f", "overflow", "x"), ("bitfield", "f", "get", "u64", "0"),
        ("bitfield", "f", "get", "i64", "0"), ("bitfield", "f", "get", "i65", "0"),
        ("bitfield", "f", "get", "U8", "0"), ("bitfield", "f", "get", "u0", "0"),
        ("bitfield", "f", "get", "u8", "#1"), ("bitfield", "f", "set", "u8", "#2", "-1"),
        ("bitfield", "f", "overflow", "sat", "set", "u8", "#3", "-1"),
        ("bitfield", "f", "overflow", "sat", "set", "i8", "#4", "-9223372036854775808"),
        ("bitfield", "f", "overflow", "sat", "set", "i8", "#4", "9223372036854775807"),
        ("bitfield", "f", "overflow", "wrap", "set", "i8", "#5", "300"),
        ("bitfield", "f", "set", "i64", "0", "-9223372036854775808", "incrby", "i64", "0", "-1"),
        ("bitfield", "f", "overflow", "sat", "incrby", "i64", "0", "-1"),
        ("bitfield", "f", "overflow", "fail", "incrby", "i64", "0", "-1"),
        ("bitfield", "f", "overflow", "wrap", "incrby", "i64", "0", "9223372036854775807",
         "incrby", "i64", "0", "9223372036854775807"),
        ("bitfield", "f", "incrby", "u63", "0", "9223372036854775807", "incrby", "u63", "0", "1"),
        ("bitfield", "f", "get"), ("bitfield", "f", "foo", "u8", "0"),
        ("bitfield", "f", "get", "u8", "#-1"), ("bitfield", "f", "get", "u8", "-1"),
        ("bitfield", "f", "get", "u8", "#1152921504606846976"),
        ("bitfield", "f", "set", "u8", "0", "x"), ("bitfield", "f", "set", "u8", "0"),
        ("bitfield", "f"), ("bitfield", "f", "overflow", "wrap"), ("get", "f"),
        ("bitfield_ro", "f", "get", "u8", "0", "get", "i3", "5"),
        ("bitfield_ro", "f", "set", "u8", "0", "1"), ("bitfield_ro", "f", "incrby", "u8", "0"),
        ("bitfield_ro", "nokey", "get", "u8", "0"), ("bitfield_ro", "f"),
        ("bitfield", "newk", "overflow", "fail", "incrby", "u8", "0", "300"),
        ("exists", "newk"), ("get", "newk"),
        ("bitfield", "newk", "get", "u8", "1000"), ("strlen", "newk"),
    ],
    "ttl_kept": [
        ("setex", "t", "100", "abc"), ("setbit", "t", "3", "1"), ("ttl", "t"),
        ("bitfield", "t", "set", "u8", "40", "1"), ("ttl", "t"), ("strlen", "t"), ("get", "t"),
    ],
}


@pytest.mark.parametrize("group", sorted(SCRIPTED))
def test_scripted_matches_redis(differ: Differ, group: str) -> None:
    for cmd in SCRIPTED[group]:
        differ.check(*_b(cmd))


def test_offset_limit_follows_proto_max_bulk_len(differ: Differ) -> None:
    try:
        differ.check("config", "set", "proto-max-bulk-len", "1048576")
        for cmd in [("setbit", "k", "8388608", "1"), ("setbit", "k", "8388607", "1"),
                    ("strlen", "k"), ("getbit", "k", "8388608"),
                    ("bitfield", "k", "get", "u8", "#1048576")]:
            differ.check(*cmd)
    finally:
        differ.both("config", "set", "proto-max-bulk-len", "536870912")


def test_setbit_survives_restart_and_keeps_unchanged_bits(spawn) -> None:  # type: ignore[no-untyped-def]
    node = spawn("aikv")
    client = node.client()
    for offset in (0, 9, 1000, 123457):
        assert client.setbit("k", offset, 1) == 0
    assert client.bitcount("k") == 4
    assert client.strlen("k") == 123457 // 8 + 1
    node.stop()
    node.start()
    client = node.client()
    assert [client.getbit("k", o) for o in (0, 1, 9, 1000, 123457, 123458)] == [1, 0, 1, 1, 1, 0]
    assert client.bitpos("k", 1, 1) == 9


def test_watch_sees_only_real_changes(aikv_module) -> None:  # type: ignore[no-untyped-def]
    # Redis signals a modification only when a bit flips or the string grows.
    client = aikv_module.client()
    client.set("k", b"\x80")
    other = aikv_module.client()
    with client.pipeline() as pipe:
        pipe.watch("k")
        other.setbit("k", 0, 1)  # already 1: no change
        pipe.multi()
        pipe.get("k")
        assert pipe.execute() == [b"\x80"]
    with client.pipeline() as pipe:
        pipe.watch("k")
        other.setbit("k", 1, 1)
        pipe.multi()
        pipe.get("k")
        with pytest.raises(Exception, match="Watched variable changed"):
            pipe.execute()


# BITFIELD creates or pads the string before it runs its operations, as Redis's
# lookupStringForBitCommand does, and keeps it even when every write fails with OVERFLOW
# FAIL; but Redis then counts no change, so neither WATCH nor tracking hears of it.
WATCH_CASES = [
    (None, ["BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300"]),  # created
    (b"\x05", ["BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "100", "300"]),  # padded
    (b"\x05", ["BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300"]),  # nothing
    (None, ["BITFIELD", "k", "SET", "u8", "0", "0"]),  # created by a write that counts
    (b"\x05", ["BITFIELD", "k", "SET", "u8", "0", "5"]),  # same value
    (b"\x05", ["BITFIELD", "k", "INCRBY", "u8", "0", "1"]),  # a real change
    (None, ["BITFIELD", "k", "GET", "u8", "0"]),
]


@pytest.mark.parametrize("initial,command", WATCH_CASES)
def test_bitfield_watch_and_stored_value_match_redis(aikv_module, redis_module, initial, command) -> None:  # type: ignore[no-untyped-def]
    seen = []
    for proc in (aikv_module, redis_module):
        watcher, writer = proc.client(), proc.client()
        watcher.delete("k")
        if initial is not None:
            watcher.set("k", initial)
        watcher.execute_command("WATCH", "k")
        reply = writer.execute_command(*command)
        watcher.execute_command("MULTI")
        watcher.execute_command("PING")
        outcome = watcher.execute_command("EXEC")  # None: WATCH saw a change
        seen.append((reply, outcome, watcher.exists("k"), watcher.get("k")))
        watcher.close()
        writer.close()
    assert seen[0] == seen[1]


# --------------------------------------------------------------------- random
key = st.sampled_from(["a", "b", "c"])
index = st.sampled_from(["-20", "-9", "-8", "-1", "0", "1", "2", "7", "8", "9", "15", "16",
                         "23", "40", "100"])
unit = st.sampled_from(["bit", "byte", "BIT"])
field_type = st.one_of(
    st.builds(lambda s, n: f"{s}{n}", st.sampled_from(["u", "i"]), st.integers(1, 16)),
    st.sampled_from(["i64", "u63", "i63", "u1", "i1"]))
field_offset = st.one_of(st.integers(0, 70).map(str), st.integers(0, 5).map(lambda n: f"#{n}"))
amount = st.one_of(
    st.sampled_from([0, 1, -1, 5, 127, 128, 255, 256, -129, 2**62, -(2**63), 2**63 - 1]),
    st.integers(-1000, 1000)).map(str)
field_op = st.one_of(
    st.tuples(st.just("get"), field_type, field_offset),
    st.tuples(st.sampled_from(["set", "incrby"]), field_type, field_offset, amount),
    st.tuples(st.just("overflow"), st.sampled_from(["wrap", "sat", "fail"])),
)
commands = st.one_of(
    st.tuples(st.just("setbit"), key, st.integers(0, 63).map(str), st.sampled_from(["0", "1"])),
    st.tuples(st.just("getbit"), key, st.integers(0, 80).map(str)),
    st.tuples(st.just("bitcount"), key),
    st.tuples(st.just("bitcount"), key, index, index),
    st.tuples(st.just("bitcount"), key, index, index, unit),
    st.tuples(st.just("bitpos"), key, st.sampled_from(["0", "1"])),
    st.tuples(st.just("bitpos"), key, st.sampled_from(["0", "1"]), index),
    st.tuples(st.just("bitpos"), key, st.sampled_from(["0", "1"]), index, index),
    st.tuples(st.just("bitpos"), key, st.sampled_from(["0", "1"]), index, index, unit),
    st.builds(lambda op, dest, srcs: ("bitop", op, dest, *srcs),
              st.sampled_from(["and", "or", "xor"]), key,
              st.lists(st.sampled_from(["a", "b", "c", "zz"]), min_size=1, max_size=3)),
    st.tuples(st.just("bitop"), st.just("not"), key, st.sampled_from(["a", "b", "c", "zz"])),
    st.builds(lambda name, k, ops: (name, k, *[a for op in ops for a in op]),
              st.sampled_from(["bitfield", "bitfield", "bitfield_ro"]), key,
              st.lists(field_op, min_size=1, max_size=4)),
    st.tuples(st.just("set"), key,
              st.sampled_from(["", "a", "foobar", "\x00\xff", "\xff\xff\xff", "123"])),
    st.tuples(st.just("get"), key),
)


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(commands, min_size=1, max_size=25))
def test_random_bit_sequences_match_redis(differ: Differ, sequence: list[tuple[str, ...]]) -> None:
    differ.both("del", "a", "b", "c", "zz")
    for cmd in sequence:
        differ.check(*_b(cmd))
