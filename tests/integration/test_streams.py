"""Stream commands against a real redis-server 7.0, reply bytes compared: XADD (IDs,
trimming, node boundaries), XRANGE/XREVRANGE, XLEN, XDEL, XTRIM, XSETID, XREAD (also
blocking), XINFO STREAM, the generic commands on stream keys, and DUMP payloads."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator

import pytest

from tests.differ import Differ, RawConnection, encode_command, parse, wait_blocked
from tests.harness import ServerProcess

KEYS = ("s", "t", "u", "str", "dst", "big")



@pytest.fixture(autouse=True)
def clean(differ: Differ) -> Iterator[None]:
    differ.both("del", *KEYS)
    differ.both("config", "set", "stream-node-max-entries", "100")
    differ.both("config", "set", "stream-node-max-bytes", "4096")
    yield
    differ.both("hello", "2")


SCRIPT: list[tuple[object, ...]] = [
    ("xadd", "s", "1-1", "f", "v"),
    ("xadd", "s", "1-1", "f", "v"),
    ("xadd", "s", "1-0", "f", "v"),
    ("xadd", "s", "0-0", "f", "v"),
    ("xadd", "t", "0-0", "f", "v"), ("exists", "t"),
    ("xadd", "s", "1-*", "a", "1", "b", "2"),
    ("xadd", "s", "5-*", "a", "1", "b", "2"),
    ("xadd", "s", "5", "f", "v"),
    ("xadd", "s", "6-3", "f", "v", "g", "123", "h", "-7"),
    ("xadd", "s", "6-2", "f", "v"),
    ("xadd", "s", "7-0", "f"),
    ("xadd", "s", "7-0", "f", "v", "g"),
    ("xadd", "s", "7-0"),
    ("xadd", "s", "x-1", "f", "v"), ("xadd", "s", "1-x", "f", "v"), ("xadd", "s", "-", "f", "v"),
    ("xadd", "s", "+", "f", "v"), ("xadd", "s", "-1", "f", "v"), ("xadd", "s", " 8", "f", "v"),
    ("xadd", "s", "+9", "f", "v"), ("xadd", "s", "010", "f", "v"), ("xadd", "s", "11-", "f", "v"),
    ("xadd", "s", "18446744073709551616-0", "f", "v"),
    ("xadd", "s", "18446744073709551615-5", "f", "v"),
    ("xadd", "s", "18446744073709551615-*", "f", "v"),
    ("xlen", "s"), ("xlen", "nokey"),
    ("xrange", "s", "-", "+"), ("xrevrange", "s", "+", "-"),
    ("xrange", "s", "5", "6"), ("xrange", "s", "(5-0", "+"), ("xrange", "s", "-", "(6-3"),
    ("xrange", "s", "(-", "+"), ("xrange", "s", "-", "(+"), ("xrange", "s", "(0-0", "+"),
    ("xrange", "s", "(18446744073709551615-18446744073709551615", "+"),
    ("xrange", "s", "-", "(0-0"), ("xrange", "s", "-", "+", "count", "2"),
    ("xrange", "s", "-", "+", "COUNT", "0"), ("xrange", "s", "-", "+", "count", "-1"),
    ("xrange", "s", "-", "+", "count"), ("xrange", "s", "-", "+", "limit", "2"),
    ("xrange", "s", "-", "+", "count", "x"), ("xrange", "s", "x", "+"), ("xrange", "s", "6", "5"),
    ("xrevrange", "s", "6", "1", "count", "2"), ("xrevrange", "s", "(6-3", "(1-1"),
    ("xrange", "nokey", "-", "+"), ("xrange", "nokey", "-", "+", "count", "0"),
    ("xrevrange", "nokey", "+", "-"),
    ("set", "str", "x"), ("xadd", "str", "1-1", "f", "v"), ("xlen", "str"),
    ("xrange", "str", "-", "+"), ("xdel", "str", "1-1"), ("xtrim", "str", "maxlen", "1"),
    ("xinfo", "stream", "str"), ("xsetid", "str", "5-5"),
    ("xadd", "t", "nomkstream", "1-1", "f", "v"), ("exists", "t"),
    ("xadd", "t", "maxlen", "0", "1-1", "f", "v"), ("xlen", "t"), ("exists", "t"),
    ("xinfo", "stream", "t"),
    ("xadd", "t", "nomkstream", "2-1", "f", "v"), ("xadd", "t", "maxlen", "=", "1", "3-1", "f", "v"),
    ("xrange", "t", "-", "+"),
    ("xadd", "t", "maxlen", "~", "1", "4-1", "f", "v"),
    ("xadd", "t", "maxlen", "-1", "5-1", "f", "v"), ("xadd", "t", "maxlen", "x", "5-1", "f", "v"),
    ("xadd", "t", "maxlen", "1", "minid", "1", "5-1", "f", "v"),
    ("xadd", "t", "minid", "1", "maxlen", "1", "5-1", "f", "v"),
    ("xadd", "t", "limit", "10", "5-1", "f", "v"),
    ("xadd", "t", "maxlen", "1", "limit", "10", "5-1", "f", "v"),
    ("xadd", "t", "maxlen", "~", "1", "limit", "-1", "5-1", "f", "v"),
    ("xadd", "t", "maxlen", "~", "1", "limit", "10", "5-1", "f", "v"),
    ("xadd", "t", "minid", "-", "5-2", "f", "v"), ("xadd", "t", "minid", "x", "5-2", "f", "v"),
    ("xadd", "t", "minid", "=", "5", "6-1", "f", "v"), ("xrange", "t", "-", "+"),
    ("xadd", "t", "bogus", "7-1", "f", "v"), ("xadd", "t", "maxlen"),
    ("xadd", "t", "limit", "0", "c", "f", "v"), ("xadd", "t", "limit", "5", "bad", "f"),
    ("xadd", "t", "maxlen", "1"), ("xadd", "t", "nomkstream"), ("xadd", "t", "*"),
    ("xdel", "t", "6-1", "x"), ("xdel", "t", "6-1", "6-1", "99-1"), ("xrange", "t", "-", "+"),
    ("xinfo", "stream", "t"), ("xlen", "t"), ("exists", "t"), ("xdel", "nokey", "1-1"),
    ("xdel", "t", "-"), ("xdel", "t"),
    ("xtrim", "nokey", "maxlen", "1"), ("xtrim", "t"), ("xtrim", "t", "limit", "1"),
    ("xtrim", "t", "maxlen", "~", "1", "limit", "1", "x"), ("xtrim", "t", "bogus", "1"),
    ("xtrim", "t", "maxlen", "1", "minid", "0"),
    ("xsetid", "t", "1-1"), ("xsetid", "t", "100-1"), ("xsetid", "nokey", "1-1"),
    ("xsetid", "t", "200", "entriesadded", "-1"), ("xsetid", "t", "200", "entriesadded", "x"),
    ("xsetid", "t", "200", "maxdeletedid", "300"), ("xsetid", "t", "200", "maxdeletedid", "+"),
    ("xsetid", "t", "200", "entriesadded", "50", "maxdeletedid", "150-7"),
    ("xsetid", "t", "200", "bogus", "1"), ("xsetid", "t", "+"), ("xsetid", "t"),
    ("xinfo", "stream", "t"), ("xadd", "t", "100-*", "f", "v"), ("xadd", "t", "200-*", "f", "v"),
    ("xinfo", "stream", "t", "full"), ("xinfo", "stream", "t", "full", "count", "1"),
    ("xinfo", "stream", "t", "full", "count", "-5"), ("xinfo", "stream", "t", "full", "count"),
    ("xinfo", "stream", "t", "fool"), ("xinfo", "stream", "t", "full", "x", "1"),
    ("xinfo", "stream", "nokey"), ("xinfo", "stream"), ("xinfo", "bogus", "t"), ("xinfo"),
    ("xinfo", "help"),
    ("type", "t"), ("object", "encoding", "t"),
    ("copy", "t", "dst"), ("xrange", "dst", "-", "+"), ("xinfo", "stream", "dst"),
    ("rename", "dst", "u"), ("xrange", "u", "-", "+"), ("exists", "dst"),
    ("expire", "u", "100"), ("xadd", "u", "300-1", "f", "v"), ("ttl", "u"), ("del", "u"),
    ("xread", "streams", "t", "0"), ("xread", "count", "1", "streams", "t", "0"),
    ("xread", "streams", "t", "s", "0", "6-0"), ("xread", "streams", "t", "$"),
    ("xread", "streams", "t", "nokey", "0", "0"), ("xread", "streams", "nokey", "0"),
    ("xread", "streams", "t"), ("xread", "streams", "t", "s", "0"), ("xread", "streams"),
    ("xread", "count", "x", "streams", "t", "0"), ("xread", "block", "-1", "streams", "t", "0"),
    ("xread", "block", "x", "streams", "t", "0"), ("xread", "streams", "t", ">"),
    ("xread", "streams", "t", "x"), ("xread", "streams", "t", "-"), ("xread", "t", "0"),
    ("xread", "group", "g", "c", "streams", "t", "0"), ("xread", "noack", "streams", "t", "0"),
    ("xread", "streams", "str", "0"), ("xread", "block", "0", "streams", "t", "0"),
    ("xread", "count", "-3", "streams", "t", "0"), ("xread", "streams", "t", "200-0"),
]


def test_scripted_matches_redis(differ: Differ) -> None:
    for cmd in SCRIPT:
        differ.check(*cmd)
    differ.check("scan", "0", "type", "stream",
                 normalize=lambda raw: sorted(parse(raw)[1]))


def test_resp3_replies(differ: Differ) -> None:
    differ.check("xadd", "s", "1-1", "a", "1")
    differ.check("xadd", "s", "2-1", "b", "2")
    differ.both("hello", "3")
    for cmd in [("xrange", "s", "-", "+"), ("xrange", "s", "-", "+", "count", "0"),
                ("xread", "streams", "s", "nokey", "0", "0"), ("xread", "streams", "s", "$"),
                ("xinfo", "stream", "s"), ("xinfo", "stream", "s", "full"),
                ("xinfo", "stream", "nokey"), ("xadd", "nokey", "nomkstream", "*", "f", "v"),
                ("xdel", "s", "1-1", "2-1"), ("xinfo", "stream", "s")]:
        differ.check(*cmd)


def _state(differ: Differ, key: str) -> None:
    for cmd in (("xrange", key, "-", "+"), ("xinfo", "stream", key), ("xlen", key),
                ("dump", key)):
        differ.check(*cmd)


def test_node_boundaries_and_dump(differ: Differ) -> None:
    """Nodes split at stream-node-max-entries / -max-bytes exactly as in Redis: the
    XINFO counts, approximate trimming and the DUMP bytes show the layout."""
    rng = random.Random(5)
    ms = 1000
    for i in range(350):
        ms += rng.choice((0, 0, 1, 3))
        fields = ["a", "b"] if rng.random() < 0.7 else ["a", "c", "d"][: rng.randint(1, 3)]
        args: list[object] = ["xadd", "s", f"{ms}-*"]
        for field in fields:
            size = rng.choice((1, 5, 70, 300, 5000)) if i % 37 else 9000
            args += [field, str(rng.randint(-5000, 5000)) if rng.random() < 0.3 else "x" * size]
        differ.check(*args)
    _state(differ, "s")
    differ.check("xtrim", "s", "maxlen", "~", "200")
    differ.check("xtrim", "s", "minid", "~", "1100")
    _state(differ, "s")
    ids = [entry[0] for entry in parse(differ.a.call("xrange", "s", "-", "+"))]
    for stream_id in rng.sample(ids, 60):
        differ.check("xdel", "s", stream_id)
    _state(differ, "s")
    differ.check("xtrim", "s", "maxlen", "=", "40")
    differ.check("xtrim", "s", "minid", ids[-10])
    _state(differ, "s")


def test_config_node_limits(differ: Differ) -> None:
    differ.check("config", "set", "stream-node-max-entries", "3")
    differ.check("config", "get", "stream-node-max-entries")
    for i in range(1, 11):
        differ.check("xadd", "s", f"{i}-1", "f", "v")
    differ.check("xtrim", "s", "maxlen", "~", "5")
    differ.check("xtrim", "s", "maxlen", "~", "0", "limit", "3")
    _state(differ, "s")
    differ.check("config", "set", "stream-node-max-entries", "0")
    differ.check("config", "set", "stream-node-max-bytes", "200")
    for i in range(11, 31):
        differ.check("xadd", "s", f"{i}-1", "field", "value" * (i % 7))
    _state(differ, "s")
    differ.check("config", "set", "stream-node-max-bytes", "0")
    for i in range(31, 40):
        differ.check("xadd", "s", f"{i}-1", "f", "v")
    _state(differ, "s")


_OPS = ("xadd", "xadd", "xadd", "xdel", "xtrim", "xrange", "xrevrange", "xread", "xsetid")


def test_random_sequences_match_redis(differ: Differ) -> None:
    rng = random.Random(11)
    for round_no in range(30):
        differ.both("del", "s")
        differ.both("config", "set", "stream-node-max-entries", str(rng.choice((2, 5, 100))))
        ms = rng.randint(0, 3)
        for _ in range(60):
            op = rng.choice(_OPS)
            if op == "xadd":
                ms += rng.choice((0, 0, 1, 2))
                cmd: list[object] = ["xadd", "s"]
                if rng.random() < 0.2:
                    cmd += ["maxlen", rng.choice(("~", "=")), rng.randint(0, 12)]
                elif rng.random() < 0.1:
                    cmd += ["minid", rng.choice(("~", "=")), f"{ms - rng.randint(0, 4)}"]
                cmd.append(f"{ms}-*" if rng.random() < 0.8 else f"{ms}-{rng.randint(0, 3)}")
                for field in rng.sample(("a", "b", "c"), rng.randint(1, 3)):
                    cmd += [field, str(rng.randint(0, 200))]
            elif op == "xdel":
                cmd = ["xdel", "s"] + [f"{rng.randint(0, ms)}-{rng.randint(0, 3)}"
                                       for _ in range(rng.randint(1, 4))]
            elif op == "xtrim":
                if rng.random() < 0.5:
                    cmd = ["xtrim", "s", "maxlen", rng.choice(("~", "=")), rng.randint(0, 15)]
                else:
                    cmd = ["xtrim", "s", "minid", rng.choice(("~", "=")), f"{rng.randint(0, ms)}"]
            elif op == "xsetid":
                cmd = ["xsetid", "s", f"{ms + rng.randint(-2, 1)}-{rng.randint(0, 9)}"]
            elif op == "xread":
                cmd = ["xread", "count", rng.randint(0, 4), "streams", "s",
                       f"{rng.randint(0, ms)}-{rng.randint(0, 3)}"]
            else:
                lo, hi = sorted((rng.randint(0, ms + 1), rng.randint(0, ms + 1)))
                bounds = [f"({lo}" if rng.random() < 0.3 else str(lo), str(hi)]
                if op == "xrevrange":
                    bounds.reverse()
                cmd = [op, "s", *bounds, "count", rng.randint(0, 5)]
            differ.check(*cmd)
        _state(differ, "s")
        if round_no % 10 == 0:
            differ.check("xinfo", "stream", "s", "full")


def test_auto_ids(differ: Differ) -> None:
    """`*` IDs come from the clock: check the shape and the ordering, not the value."""
    ids = [parse(differ.a.call("xadd", "s", "*", "f", str(i))) for i in range(50)]
    assert all(re.fullmatch(rb"\d+-\d+", i) for i in ids)
    parsed = [tuple(int(x) for x in i.split(b"-")) for i in ids]
    assert parsed == sorted(set(parsed))
    last = parse(differ.a.call("xadd", "s", "99999999999999-*", "f", "v"))
    assert last == b"99999999999999-0"
    nxt = parse(differ.a.call("xadd", "s", "*", "f", "v"))
    assert nxt == b"99999999999999-1"


def test_blocking_xread(differ: Differ, aikv_module: ServerProcess,
                        redis_module: ServerProcess) -> None:
    """A client blocked in XREAD is served by an XADD from another client, on both."""
    for port in (aikv_module.port, redis_module.port):
        waiter = RawConnection(port)
        writer = RawConnection(port)
        try:
            waiter.sock.sendall(encode_command("xread", "block", "5000", "streams", "s", "t", "$", "$"))
            wait_blocked(writer)
            writer.sock.sendall(encode_command("xadd", "u", "1-1", "f", "v"))
            assert writer.read_reply() == b"$3\r\n1-1\r\n"
            writer.sock.sendall(encode_command("xadd", "t", "7-1", "f", "v"))
            assert writer.read_reply() == b"$3\r\n7-1\r\n"
            assert waiter.read_reply() == (b"*1\r\n*2\r\n$1\r\nt\r\n*1\r\n*2\r\n$3\r\n7-1\r\n"
                                           b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
            waiter.sock.sendall(encode_command("xread", "block", "30", "streams", "t", "$"))
            assert waiter.read_reply() == b"*-1\r\n"
            # A stream renamed onto the awaited key serves the waiter too (Redis signals
            # the key when a stream appears there, whatever brought it).
            waiter.sock.sendall(encode_command("xread", "block", "5000", "streams", "w", "0"))
            wait_blocked(writer)
            writer.sock.sendall(encode_command("rename", "t", "w"))
            assert writer.read_reply() == b"+OK\r\n"
            assert waiter.read_reply().startswith(b"*1\r\n*2\r\n$1\r\nw\r\n*1\r\n")
        finally:
            waiter.close()
            writer.close()
            differ.both("del", "s", "t", "u", "w")


def _fill(conn: RawConnection, key: str, rng: random.Random, n: int) -> None:
    ms = 10
    for i in range(n):
        ms += rng.choice((0, 1, 5))
        args: list[object] = ["xadd", key, f"{ms}-*"]
        for field in rng.sample(("a", "b", "c"), rng.randint(1, 3)):
            args += [field, rng.choice(("1", "-17", "x" * rng.randint(0, 90)))]
        conn.call(*args)
        if i % 7 == 3:
            conn.call("xdel", key, f"{ms}-0")


def test_dump_restore_migrate_and_digest(spawn: Callable[..., ServerProcess]) -> None:
    """DUMP bytes equal Redis's; each side RESTOREs the other's payload; MIGRATE both ways
    keeps every entry; DEBUG DIGEST-VALUE equals Redis's (redis-cli compares them)."""
    mine = spawn("aikv")
    theirs = spawn("redis", args=["--enable-debug-command", "yes"])
    a, r = RawConnection(mine.port), RawConnection(theirs.port)
    try:
        for conn in (a, r):
            _fill(conn, "s", random.Random(3), 260)
            conn.call("xsetid", "s", "99999-1", "entriesadded", "5000", "maxdeletedid", "20-0")
            conn.call("xadd", "e", "maxlen", "0", "1-1", "f", "v")
        for key in ("s", "e"):
            assert a.call("dump", key) == r.call("dump", key)
            assert a.call("debug", "digest-value", key) == r.call("debug", "digest-value", key)
            payload = parse(r.call("dump", key))
            assert a.call("restore", "copy", "0", payload) == b"+OK\r\n"
            assert a.call("xrange", "copy", "-", "+") == r.call("xrange", key, "-", "+")
            assert a.call("xinfo", "stream", "copy") == r.call("xinfo", "stream", key)
            a.call("del", "copy")
            payload = parse(a.call("dump", key))
            assert r.call("restore", "copy", "0", payload) == b"+OK\r\n"
            assert r.call("xrange", "copy", "-", "+") == a.call("xrange", key, "-", "+")
            r.call("del", "copy")
        before = a.call("xrange", "s", "-", "+")
        r.call("del", "s")
        assert a.call("migrate", "127.0.0.1", theirs.port, "s", "0", "5000", "copy") == b"+OK\r\n"
        assert r.call("xrange", "s", "-", "+") == before
        r.call("rename", "s", "s2")
        assert r.call("migrate", "127.0.0.1", mine.port, "s2", "0", "5000") == b"+OK\r\n"
        assert a.call("xrange", "s2", "-", "+") == before
        assert a.call("xinfo", "stream", "s2") == a.call("xinfo", "stream", "s")
        # A payload with a consumer group restores with its group.
        r.call("xadd", "s", "1-1", "f", "v")
        r.call("xgroup", "create", "s", "g", "0")
        payload = parse(r.call("dump", "s"))
        assert a.call("restore", "g", "0", payload) == b"+OK\r\n"
        assert a.call("xinfo", "groups", "g") == r.call("xinfo", "groups", "s")
    finally:
        a.close()
        r.close()


def test_cluster_mode_routing(cluster_differ: Differ) -> None:
    """In cluster mode the keys of XREAD are routed like any multi-key command."""
    for cmd in [("xadd", "{a}1", "1-1", "f", "v"), ("xadd", "{a}2", "1-1", "f", "v"),
                ("xread", "streams", "{a}1", "{a}2", "0", "0"),
                ("xread", "streams", "{a}1", "{b}2", "0", "0"),
                ("xread", "count", "1", "streams", "a", "b", "c", "0", "0", "0"),
                ("xinfo", "stream", "{a}1"), ("del", "{a}1", "{a}2")]:
        cluster_differ.check(*cmd)
