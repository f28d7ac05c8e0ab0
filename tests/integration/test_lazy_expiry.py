"""Lazy expiry against a real redis-server 7.0: a master deletes a key on the access that
finds it past its deadline (expireIfNeeded). DBSIZE and expired_keys see the deletion,
the expired event comes before the command's own (keymiss, new), tracking clients get
their invalidation after the reply, and WATCH follows Redis's rules. Active expiry is
off throughout, so only lookups delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.differ import Differ, RawConnection, parse
from tests.harness import ServerProcess, wait_until


@pytest.fixture(autouse=True)
def no_active_expiry(differ: Differ) -> Iterator[None]:
    differ.both("flushall")
    differ.both("debug", "set-active-expire", "0")
    yield
    differ.both("debug", "set-active-expire", "1")
    differ.both("config", "set", "notify-keyspace-events", "")
    differ.both("flushall")


def _expire_soon(differ: Differ, *keys: str) -> None:
    """Give each key a value that expires in 1 ms, then wait on each server's clock."""
    for key in keys:
        differ.both("set", key, "old", "px", "1")
    for conn in (differ.a, differ.r):
        _wait_deadline(conn)


def _expired_keys(conn: RawConnection) -> int:
    info = parse(conn.call("info", "stats")).decode()
    return int(info.split("expired_keys:")[1].split("\r\n")[0])


def _events(port: int, action: Any) -> list[tuple[bytes, bytes]]:
    """The keyspace and keyevent messages of database 0 while `action` runs."""
    r = redis.Redis(port=port)
    pubsub = r.pubsub()
    pubsub.psubscribe("__key*@0__:*")
    assert pubsub.get_message(timeout=5)["type"] == "psubscribe"
    action()
    r.publish("__keyevent@0__:zz-end", "end")
    out = []
    while True:
        message = pubsub.get_message(timeout=5)
        assert message is not None, out
        if message["type"] != "pmessage":
            continue
        if message["channel"] == b"__keyevent@0__:zz-end":
            break
        out.append((message["channel"], message["data"]))
    pubsub.close()
    r.close()
    return out


@pytest.mark.parametrize("command", [
    ("get", "k"), ("mget", "k", "k", "other"), ("exists", "k"), ("type", "k"),
    ("set", "k", "new", "get"), ("lpush", "k", "x"), ("incr", "k"), ("strlen", "k"),
])
def test_access_deletes_and_announces_like_redis(
        differ: Differ, aikv_module: ServerProcess, redis_module: ServerProcess,
        command: tuple[str, ...]) -> None:
    differ.both("config", "set", "notify-keyspace-events", "KEA")
    _expire_soon(differ, "k")
    differ.check("dbsize")  # the expired key is still stored
    before = [_expired_keys(conn) for conn in (differ.a, differ.r)]
    events = [_events(server.port, lambda conn=conn: conn.call(*command))
              for server, conn in ((aikv_module, differ.a), (redis_module, differ.r))]
    assert events[0] == events[1]
    assert (b"__keyevent@0__:expired", b"k") in events[0]
    differ.check("dbsize")
    after = [_expired_keys(conn) for conn in (differ.a, differ.r)]
    assert after[0] - before[0] == after[1] - before[1] == 1


def test_scan_deletes_only_matching_expired_keys(differ: Differ) -> None:
    _expire_soon(differ, "a1", "a2", "b1")
    differ.both("set", "live", "v")
    mine, theirs = differ.both("scan", "0", "match", "a*", "count", "100")
    assert parse(mine)[1] == parse(theirs)[1] == []
    differ.check("dbsize")  # b1 is still stored: SCAN did not look at it


def test_tracking_invalidation_follows_the_reply(aikv_module: ServerProcess,
                                                 redis_module: ServerProcess,
                                                 differ: Differ) -> None:
    """Redis's tracking.tcl: reading a key that expired sends its invalidation after the
    reply, not inside it."""
    seen = []
    for port in (aikv_module.port, redis_module.port):
        conn = RawConnection(port)
        try:
            conn.call_then_ping("hello", "3")
            conn.call_then_ping("client", "tracking", "on")
            conn.call_then_ping("mset", "x", "1", "y", "2")
            # Read (and so tracked) before its deadline even on a slow machine.
            conn.call_then_ping("pexpire", "y", "300")
            conn.call_then_ping("get", "y")
            _wait_deadline(conn, 303)
            seen.append(conn.call_then_ping("mget", "x", "y"))
        finally:
            conn.close()
    assert seen[0] == seen[1]
    assert seen[0].startswith(b"*2\r\n$1\r\n1\r\n_\r\n>2\r\n$10\r\ninvalidate\r\n")


def _wait_deadline(conn: RawConnection, ms: int = 3) -> None:
    """Wait `ms` ms on the server's clock (TIME), without looking any key up."""
    seconds, micros = parse(conn.call("time"))
    after = int(seconds) * 1000 + int(micros) // 1000 + ms

    def now_ms() -> int:
        s, us = parse(conn.call("time"))
        return int(s) * 1000 + int(us) // 1000

    wait_until(lambda: now_ms() > after, 5, 0.001, "the deadline")


def test_watch_and_lazy_deletion_match_redis(aikv_module: ServerProcess,
                                             redis_module: ServerProcess,
                                             differ: Differ) -> None:
    """A key that expires after WATCH fails the EXEC, deleted by a read or not; one
    already expired when watched does not when a read deletes it (wk->expired)."""
    results = []
    for port, conn in ((aikv_module.port, differ.a), (redis_module.port, differ.r)):
        watcher = RawConnection(port)
        try:
            # Long enough to be watched alive on a slow machine, then waited out.
            conn.call("set", "w", "v", "px", "300")
            watcher.call("watch", "w")
            _wait_deadline(conn, 303)
            conn.call("get", "w")
            watcher.call("multi")
            watcher.call("ping")
            results.append(watcher.call("exec"))
            conn.call("set", "e", "v", "px", "1")
            _wait_deadline(conn)
            watcher.call("watch", "e")
            conn.call("get", "e")
            watcher.call("multi")
            watcher.call("ping")
            results.append(watcher.call("exec"))
            results.append(conn.call("dbsize"))
        finally:
            watcher.close()
    assert results[:3] == results[3:]
    assert results[:3] == [b"*-1\r\n", b"*1\r\n+PONG\r\n", b":0\r\n"]
