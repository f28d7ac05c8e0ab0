"""Consumer groups against a real redis-server 7.0: XGROUP, XREADGROUP (new entries,
history, NOACK, blocking), XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS / CONSUMERS /
STREAM FULL, lag and entries-read, keyspace events, and DUMP / RESTORE / MIGRATE of
streams with groups. Replies are compared byte for byte except delivery and seen times and
idle times, which come from each server's clock and are normalised."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.differ import Differ, RawConnection, encode_command, parse, wait_blocked
from tests.harness import ServerProcess

KEYS = ("s", "t", "str", "nokey", "copy")


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> Iterator[None]:
    differ.both("del", *KEYS)
    yield
    differ.both("hello", "2")



def _times(value: Any) -> Any:
    """Clock readings (ms since the epoch) -> "T"."""
    if isinstance(value, list):
        return [_times(v) for v in value]
    if isinstance(value, int) and value > 10**12:
        return "T"
    return value


def _pending_rows(raw: bytes) -> Any:
    """XPENDING's extended form: the idle column -> "I"."""
    value = parse(raw)
    if not isinstance(value, list):
        return value
    return [[row[0], row[1], "I", row[3]] for row in value]


def _idle_fields(raw: bytes) -> Any:
    """XINFO CONSUMERS / STREAM FULL: "idle" and time values normalised."""
    def walk(value: Any) -> Any:
        if isinstance(value, dict):  # a RESP3 map
            return {k: "I" if k in (b"idle", b"seen-time") else walk(v) for k, v in value.items()}
        if isinstance(value, list):
            out = []
            skip = False
            for i, item in enumerate(value):
                if skip:
                    out.append("I")
                    skip = False
                    continue
                out.append(walk(item))
                if item in (b"idle", b"seen-time") and i + 1 < len(value):
                    skip = True
            return out
        return _times(value)
    return walk(parse(raw))


def _fill(differ: Differ, key: str, n: int) -> None:
    for i in range(1, n + 1):
        differ.check("xadd", key, f"{i}-1", "f", str(i))


SCRIPT: list[tuple[object, ...]] = [
    ("xgroup", "create", "nokey", "g", "0"),
    ("xgroup", "create", "nokey", "g", "$", "mkstream"), ("type", "nokey"), ("xlen", "nokey"),
    ("xinfo", "groups", "nokey"), ("del", "nokey"),
    ("xgroup", "create", "s", "g", "0"), ("xgroup", "create", "s", "g", "0"),
    ("xgroup", "create", "s", "g2", "$"), ("xgroup", "create", "s", "g3", "3-1", "entriesread", "3"),
    ("xgroup", "create", "s", "g4", "x"), ("xgroup", "create", "s", "g4", "-"),
    ("xgroup", "create", "s", "g4", "0", "entriesread", "-2"),
    ("xgroup", "create", "s", "g4", "0", "entriesread", "x"), ("xgroup", "create", "s", "g4", "0", "bogus"),
    ("xgroup", "create", "s", "g4", "0", "entriesread"),
    ("xgroup", "create", "s", "g4", "0", "mkstream", "entriesread", "1", "mkstream"),
    ("xgroup", "create", "s"), ("xgroup", "create", "s", "g5"), ("xgroup", "bogus", "s", "g"),
    ("xgroup",), ("xgroup", "help"), ("xgroup", "destroy", "s"),
    ("xinfo", "groups", "s"),
    ("xreadgroup", "group", "g", "alice", "count", "2", "streams", "s", ">"),
    ("xreadgroup", "group", "g", "bob", "count", "1", "streams", "s", ">"),
    ("xreadgroup", "group", "g", "alice", "streams", "s", "0"),
    ("xreadgroup", "group", "g", "alice", "count", "1", "streams", "s", "1-1"),
    ("xreadgroup", "group", "g", "bob", "streams", "s", "0"),
    ("xreadgroup", "group", "g", "carol", "streams", "s", "0"),
    ("xreadgroup", "group", "g", "carol", "noack", "count", "1", "streams", "s", ">"),
    ("xreadgroup", "group", "nogroup", "c", "streams", "s", ">"),
    ("xreadgroup", "group", "g", "c", "streams", "nokey", ">"),
    ("xreadgroup", "group", "g", "c", "streams", "s", "$"),
    ("xreadgroup", "group", "g", "c", "streams", "s"),
    ("xreadgroup", "streams", "s", ">"), ("xreadgroup", "group", "g", "streams", "s", ">"),
    ("xreadgroup", "group", "g", "c", "streams", "str", ">"),
    ("xreadgroup", "group", "g", "c", "streams", "s", "x"),
    ("xinfo", "groups", "s"), ("xpending", "s", "g"), ("xpending", "s", "g2"),
    ("xpending", "s", "nogroup"), ("xpending", "nokey", "g"), ("xpending", "s", "g", "-"),
    ("xpending", "s", "g", "-", "+"), ("xpending", "s", "g", "-", "+", "x"),
    ("xpending", "s", "g", "idle", "x", "-", "+", "10"), ("xpending", "s", "g", "idle", "10", "-", "+"),
    ("xpending", "s", "g", "(-", "+", "10"), ("xpending", "s", "g", "-", "+", "0"),
    ("xpending", "s", "g", "-", "+", "10", "nobody"),
    ("xack", "s", "g", "1-1", "99-1"), ("xack", "s", "g", "1-1"), ("xack", "s", "nogroup", "x"),
    ("xack", "nokey", "g", "1-1"), ("xack", "s", "g", "x"), ("xack", "s", "g"),
    ("xpending", "s", "g"), ("xinfo", "groups", "s"),
    ("xclaim", "s", "g", "dave", "0", "2-1", "justid"),
    ("xclaim", "s", "g", "dave", "0", "3-1", "4-1", "99-1", "justid", "retrycount", "7"),
    ("xclaim", "s", "g", "dave", "0", "5-1", "force", "justid"),
    ("xclaim", "s", "g", "dave", "0", "6-1", "force"),
    ("xclaim", "s", "g", "dave", "0", "6-1", "idle", "x"), ("xclaim", "s", "g", "dave", "x", "6-1"),
    ("xclaim", "s", "g", "dave", "0", "6-1", "bogus"), ("xclaim", "s", "g", "dave", "0", "x", "6-1"),
    ("xclaim", "s", "g", "dave", "0", "6-1", "lastid", "x"),
    ("xclaim", "s", "g", "dave", "0", "6-1", "lastid", "8-1", "justid"),
    ("xclaim", "s", "nogroup", "dave", "0", "6-1"), ("xclaim", "nokey", "g", "dave", "0", "6-1"),
    ("xclaim", "s", "g", "dave", "3600000", "6-1"),
    ("xinfo", "groups", "s"), ("xpending", "s", "g"),
    ("xautoclaim", "s", "g", "erin", "0", "0", "count", "2", "justid"),
    ("xautoclaim", "s", "g", "erin", "0", "(3-1", "justid"),
    ("xautoclaim", "s", "g", "erin", "0", "0"),
    ("xautoclaim", "s", "g", "erin", "0", "0", "count", "0"),
    ("xautoclaim", "s", "g", "erin", "0", "0", "count", "x"), ("xautoclaim", "s", "g", "erin", "x", "0"),
    ("xautoclaim", "s", "g", "erin", "0", "x"), ("xautoclaim", "s", "g", "erin", "0", "0", "bogus"),
    ("xautoclaim", "s", "nogroup", "erin", "0", "0"),
    ("xautoclaim", "s", "g", "erin", "3600000", "0"),
    ("xdel", "s", "2-1", "4-1"), ("xautoclaim", "s", "g", "frank", "0", "0", "count", "3"),
    ("xpending", "s", "g"), ("xreadgroup", "group", "g", "erin", "streams", "s", "0"),
    ("xclaim", "s", "g", "frank", "0", "6-1", "justid"),
    ("xgroup", "createconsumer", "s", "g", "zed"), ("xgroup", "createconsumer", "s", "g", "zed"),
    ("xgroup", "createconsumer", "s", "nogroup", "zed"), ("xgroup", "delconsumer", "s", "g", "zed"),
    ("xgroup", "delconsumer", "s", "g", "frank"), ("xgroup", "delconsumer", "s", "g", "nobody"),
    ("xpending", "s", "g"),
    ("xgroup", "setid", "s", "g", "0"), ("xinfo", "groups", "s"),
    ("xgroup", "setid", "s", "g", "$", "entriesread", "10"), ("xinfo", "groups", "s"),
    ("xgroup", "setid", "s", "g", "-"), ("xgroup", "setid", "s", "g", "x"),
    ("xgroup", "setid", "s", "nogroup", "0"), ("xgroup", "setid", "s", "g", "0", "mkstream"),
    ("xgroup", "setid", "s", "g", "0", "entriesread"),
    ("xgroup", "destroy", "s", "g3"), ("xgroup", "destroy", "s", "g3"),
    ("xgroup", "destroy", "nokey", "g3"), ("xinfo", "groups", "s"), ("xinfo", "stream", "s"),
    ("xinfo", "consumers", "s", "nogroup"), ("xinfo", "consumers", "nokey", "g"),
    ("xinfo", "consumers", "s"), ("xinfo", "groups", "str"), ("xinfo", "groups"),
    ("xtrim", "s", "maxlen", "0"), ("xinfo", "groups", "s"), ("xpending", "s", "g"),
    ("xreadgroup", "group", "g", "alice", "streams", "s", "0"),
    ("xadd", "s", "50-1", "f", "v"), ("xinfo", "groups", "s"),
    ("xreadgroup", "group", "g2", "amy", "streams", "s", ">"), ("xinfo", "groups", "s"),
    ("copy", "s", "copy"), ("xinfo", "groups", "copy"), ("xpending", "copy", "g2"),
    ("xack", "copy", "g2", "50-1"), ("xpending", "s", "g2"), ("sort", "s"), ("lrange", "s", "0", "1"),
    ("hget", "s", "f"), ("object", "encoding", "copy"), ("del", "copy"), ("xinfo", "groups", "copy"),
]


def test_scripted_matches_redis(differ: Differ) -> None:
    differ.check("set", "str", "x")
    _fill(differ, "s", 8)
    for cmd in SCRIPT:
        differ.check(*cmd)
    for cmd in [("xpending", "s", "g", "-", "+", "10"), ("xpending", "s", "g", "-", "+", "10", "alice"),
                ("xpending", "s", "g", "idle", "0", "-", "+", "10")]:
        differ.check(*cmd, normalize=_pending_rows)
    for cmd in [("xinfo", "consumers", "s", "g"), ("xinfo", "stream", "s", "full"),
                ("xinfo", "stream", "s", "full", "count", "1")]:
        differ.check(*cmd, normalize=_idle_fields)


def test_lag_and_entries_read(differ: Differ) -> None:
    """The lag/entries-read arithmetic through tombstones, XSETID and trims."""
    _fill(differ, "s", 10)
    steps: list[tuple[object, ...]] = [
        ("xgroup", "create", "s", "a", "0"), ("xgroup", "create", "s", "b", "5-1"),
        ("xgroup", "create", "s", "c", "$"), ("xgroup", "create", "s", "d", "3-1", "entriesread", "3"),
        ("xreadgroup", "group", "a", "x", "count", "3", "streams", "s", ">"),
        ("xdel", "s", "7-1"), ("xreadgroup", "group", "b", "x", "count", "1", "streams", "s", ">"),
        ("xreadgroup", "group", "a", "x", "count", "5", "streams", "s", ">"),
        ("xadd", "s", "11-1", "f", "v"), ("xdel", "s", "1-1"),
        ("xreadgroup", "group", "d", "x", "streams", "s", ">"), ("xtrim", "s", "maxlen", "3"),
        ("xsetid", "s", "20-1", "entriesadded", "40", "maxdeletedid", "15-1"),
        ("xgroup", "setid", "s", "c", "0"), ("xreadgroup", "group", "c", "y", "streams", "s", ">"),
        ("xadd", "s", "21-1", "f", "v"), ("xgroup", "create", "s", "e", "21-1"),
    ]
    for cmd in steps:
        differ.check(*cmd)
        differ.check("xinfo", "groups", "s")


def test_resp3(differ: Differ) -> None:
    _fill(differ, "s", 3)
    differ.check("xgroup", "create", "s", "g", "0")
    differ.both("hello", "3")
    for cmd in [("xreadgroup", "group", "g", "c", "count", "2", "streams", "s", ">"),
                ("xinfo", "groups", "s"), ("xpending", "s", "g"), ("xpending", "nokey", "g"),
                ("xdel", "s", "1-1"), ("xreadgroup", "group", "g", "c", "streams", "s", "0"),
                ("xautoclaim", "s", "g", "d", "0", "0", "justid")]:
        differ.check(*cmd)
    differ.check("xinfo", "consumers", "s", "g", normalize=_idle_fields)
    differ.check("xinfo", "stream", "s", "full", normalize=_idle_fields)


def test_events(differ: Differ, aikv_module: ServerProcess, redis_module: ServerProcess) -> None:
    """xgroup-* events, in Redis's order (implicit consumer creation included)."""
    steps: list[tuple[object, ...]] = [
        ("xgroup", "create", "s", "g", "$", "mkstream"), ("xadd", "s", "1-1", "f", "v"),
        ("xreadgroup", "group", "g", "c", "streams", "s", ">"), ("xgroup", "createconsumer", "s", "g", "d"),
        ("xclaim", "s", "g", "e", "0", "1-1"), ("xgroup", "setid", "s", "g", "0"),
        ("xgroup", "delconsumer", "s", "g", "e"), ("xgroup", "destroy", "s", "g"),
    ]
    seen = []
    for port in (aikv_module.port, redis_module.port):
        sub = RawConnection(port)
        conn = RawConnection(port)
        try:
            conn.call("config", "set", "notify-keyspace-events", "KEA")
            sub.sock.sendall(encode_command("psubscribe", "__key*__:*"))
            sub.read_reply()
            for cmd in steps:
                conn.call(*cmd)
            conn.call("publish", "end", "x")
            events = []
            conn.call("del", "s")
            while True:
                message = parse(sub.read_reply())
                if message[2] == b"__keyevent@0__:del":
                    break
                events.append(message[2:])
            seen.append(events)
        finally:
            conn.call("config", "set", "notify-keyspace-events", "")
            sub.close()
            conn.close()
    assert seen[0] == seen[1] and len(seen[0]) > 10


def test_blocked_readgroup(differ: Differ, aikv_module: ServerProcess,
                           redis_module: ServerProcess) -> None:
    """XREADGROUP BLOCK served by XADD, and NOGROUP when the group is destroyed."""
    for port in (aikv_module.port, redis_module.port):
        waiter, writer = RawConnection(port), RawConnection(port)
        try:
            writer.call("xgroup", "create", "s", "g", "$", "mkstream")
            waiter.sock.sendall(encode_command("xreadgroup", "group", "g", "c", "block", "5000",
                                               "streams", "s", ">"))
            wait_blocked(writer)
            writer.call("xgroup", "createconsumer", "s", "g", "other")
            assert writer.call("xadd", "s", "1-1", "f", "v") == b"$3\r\n1-1\r\n"
            assert waiter.read_reply() == (b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n"
                                           b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
            assert writer.call("xpending", "s", "g") == (b"*4\r\n:1\r\n$3\r\n1-1\r\n$3\r\n1-1\r\n"
                                                        b"*1\r\n*2\r\n$1\r\nc\r\n$1\r\n1\r\n")
            waiter.sock.sendall(encode_command("xreadgroup", "group", "g", "c", "block", "5000",
                                               "streams", "s", ">"))
            wait_blocked(writer)
            writer.call("xgroup", "destroy", "s", "g")
            assert waiter.read_reply() == (b"-NOGROUP the consumer group this client was blocked "
                                           b"on no longer exists\r\n")
        finally:
            waiter.close()
            writer.close()
            differ.both("del", "s")


_OPS = ("xadd", "xadd", "read", "read", "history", "ack", "claim", "autoclaim", "xdel",
        "delconsumer", "setid")


def test_random_group_sequences(differ: Differ) -> None:
    rng = random.Random(21)
    for _ in range(12):
        differ.both("del", "s")
        ms = 1
        differ.check("xgroup", "create", "s", "g", "0", "mkstream")
        for _ in range(70):
            op = rng.choice(_OPS)
            consumer = rng.choice(("a", "b", "c"))
            if op == "xadd":
                ms += 1
                cmd: tuple[object, ...] = ("xadd", "s", f"{ms}-1", "f", str(ms))
            elif op == "read":
                cmd = ("xreadgroup", "group", "g", consumer, "count", rng.randint(1, 3),
                       *(("noack",) if rng.random() < 0.2 else ()), "streams", "s", ">")
            elif op == "history":
                cmd = ("xreadgroup", "group", "g", consumer, "count", rng.randint(0, 3),
                       "streams", "s", f"{rng.randint(0, ms)}")
            elif op == "ack":
                cmd = ("xack", "s", "g", *[f"{rng.randint(1, ms)}-1" for _ in range(rng.randint(1, 3))])
            elif op == "claim":
                cmd = ("xclaim", "s", "g", consumer, "0",
                       *[f"{rng.randint(1, ms)}-1" for _ in range(rng.randint(1, 3))], "justid")
            elif op == "autoclaim":
                cmd = ("xautoclaim", "s", "g", consumer, "0", f"{rng.randint(0, ms)}",
                       "count", rng.randint(1, 4), "justid")
            elif op == "xdel":
                cmd = ("xdel", "s", f"{rng.randint(1, ms)}-1")
            elif op == "delconsumer":
                cmd = ("xgroup", "delconsumer", "s", "g", consumer)
            else:
                cmd = ("xgroup", "setid", "s", "g", f"{rng.randint(0, ms)}-1")
            differ.check(*cmd)
            if rng.random() < 0.3:
                differ.check("xpending", "s", "g")
                differ.check("xinfo", "groups", "s")
        differ.check("xpending", "s", "g", "-", "+", "100", normalize=_pending_rows)
        differ.check("xinfo", "stream", "s", "full", normalize=_idle_fields)
        differ.assert_same_values("s")


def test_dump_restore_with_groups(spawn: Callable[..., ServerProcess]) -> None:
    """A stream with groups, consumers and pending entries goes through DUMP/RESTORE and
    MIGRATE both ways with everything (times included) intact."""
    mine = spawn("aikv")
    theirs = spawn("redis")
    a, r = RawConnection(mine.port), RawConnection(theirs.port)
    try:
        for conn in (a, r):
            for i in range(1, 30):
                conn.call("xadd", "s", f"{i}-1", "f", str(i))
            conn.call("xgroup", "create", "s", "g1", "0")
            conn.call("xgroup", "create", "s", "g2", "10-1", "entriesread", "10")
            conn.call("xreadgroup", "group", "g1", "alice", "count", "5", "streams", "s", ">")
            conn.call("xreadgroup", "group", "g1", "bob", "count", "3", "streams", "s", ">")
            conn.call("xreadgroup", "group", "g2", "carol", "noack", "count", "2", "streams", "s", ">")
            conn.call("xgroup", "createconsumer", "s", "g2", "idle-one")
            conn.call("xack", "s", "g1", "2-1")
            conn.call("xdel", "s", "4-1")
        full_a = _idle_fields(a.call("xinfo", "stream", "s", "full"))
        assert full_a == _idle_fields(r.call("xinfo", "stream", "s", "full"))
        for src, dst in ((a, r), (r, a)):
            payload = parse(src.call("dump", "s"))
            assert dst.call("restore", "copy", "0", payload) == b"+OK\r\n"
            # Everything, times included, survives: compare the copy with its source.
            assert parse(dst.call("xinfo", "stream", "copy", "full")) == parse(src.call("xinfo", "stream", "s", "full"))
            assert parse(dst.call("dump", "copy")) == payload
            dst.call("del", "copy")
        r.call("del", "s")
        assert a.call("migrate", "127.0.0.1", theirs.port, "s", "0", "5000") == b"+OK\r\n"
        assert _idle_fields(r.call("xinfo", "stream", "s", "full")) == full_a
        assert r.call("migrate", "127.0.0.1", mine.port, "s", "0", "5000") == b"+OK\r\n"
        assert _idle_fields(a.call("xinfo", "stream", "s", "full")) == full_a
    finally:
        a.close()
        r.close()


_TOKENS = ["s", "t", "g", "c", "0", "$", ">", "*", "-", "+", "1-1", "2-*", "(1", "5", "-1", "x", "~",
           "=", "maxlen", "minid", "limit", "nomkstream", "count", "streams", "group", "noack",
           "justid", "force", "idle", "time", "retrycount", "lastid", "mkstream", "entriesread",
           "full", "18446744073709551615-18446744073709551615", "entriesadded", "maxdeletedid", "",
           "9223372036854775808", "0-0", "3-1", "f", "v", "block"]
_COMMANDS = [["xadd"], ["xrange"], ["xrevrange"], ["xlen"], ["xdel"], ["xtrim"], ["xsetid"],
             ["xread"], ["xreadgroup"], ["xgroup", "create"], ["xgroup", "setid"],
             ["xgroup", "destroy"], ["xgroup", "createconsumer"], ["xgroup", "delconsumer"],
             ["xack"], ["xpending"], ["xclaim"], ["xautoclaim"], ["xinfo", "stream"],
             ["xinfo", "groups"], ["xinfo", "consumers"]]


def test_random_arguments_fail_as_redis_fails(differ: Differ) -> None:
    """Stream commands with random arguments (BLOCK with short timeouts included): the same
    commands fail on both servers, with the same error text, and AiKv never fails
    internally. (Successful replies may differ: "*" makes clock-based IDs.)"""
    rng = random.Random(7)
    for _ in range(2500):
        args = rng.choice(_COMMANDS) + [rng.choice(_TOKENS) for _ in range(rng.randint(0, 9))]
        if "block" in args and args.index("block") + 1 < len(args):
            # Blocking reads may wait: a millisecond or two, or a bad timeout.
            args[args.index("block") + 1] = rng.choice(("1", "2", "x", "-1"))
        mine, theirs = differ.both(*args)
        assert b"internal error" not in mine, (args, mine)
        assert (mine[:1] == b"-") == (theirs[:1] == b"-"), (args, mine, theirs)
        if mine[:1] == b"-":
            assert mine == theirs, (args, mine, theirs)
