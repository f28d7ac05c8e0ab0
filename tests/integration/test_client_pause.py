"""CLIENT PAUSE / UNPAUSE against a real redis-server 7.0: the same scenario on each
server must give the same replies, and the same commands must be held (answered only
when the pause ends) or answered at once."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from tests.differ import Differ, RawConnection, encode_command
from tests.harness import ServerProcess

PAUSE_MS = 600
HELD = 0.3  # a reply later than this waited for the pause (PAUSE_MS) to end


@pytest.fixture
def ports(differ: Differ, aikv_module: ServerProcess, redis_module: ServerProcess
          ) -> Iterator[tuple[int, int]]:
    differ.both("del", "k", "x")
    yield aikv_module.port, redis_module.port
    differ.both("client", "unpause")


def _timed(conn: RawConnection, *args: str) -> tuple[bytes, bool]:
    started = time.monotonic()
    reply = conn.call(*args)
    return reply, time.monotonic() - started > HELD


def _scenario(port: int) -> list[object]:
    admin, other = RawConnection(port), RawConnection(port)
    seen: list[object] = []
    try:
        seen.append(admin.call("client", "pause", str(PAUSE_MS), "write"))
        seen.append(_timed(other, "get", "x"))
        seen.append(_timed(other, "client", "unpause"))  # not a write: lifts the pause
        seen.append(_timed(other, "set", "x", "1"))
        seen.append(admin.call("client", "pause", str(PAUSE_MS), "write"))
        seen.append(_timed(other, "set", "x", "2"))  # held until the pause ends
        seen.append(_timed(other, "get", "x"))
        seen.append(admin.call("client", "pause", str(PAUSE_MS), "write"))
        seen.append(_timed(other, "publish", "c", "m"))  # may replicate: held
        seen.append(admin.call("client", "pause", str(PAUSE_MS), "all"))
        seen.append(_timed(other, "bogus"))  # rejected before the pause check
        seen.append(_timed(other, "get"))
        seen.append(_timed(other, "ping"))  # held
        # Under ALL even CLIENT UNPAUSE waits for the timeout.
        seen.append(admin.call("client", "pause", str(PAUSE_MS), "all"))
        seen.append(_timed(other, "client", "unpause"))
        # A pipeline: the held command and everything behind it keep their order.
        seen.append(admin.call("client", "pause", str(PAUSE_MS), "write"))
        other.sock.sendall(b"".join(encode_command(*c) for c in (
            ("get", "x"), ("incr", "x"), ("get", "x"), ("multi",), ("incr", "x"), ("exec",))))
        started = time.monotonic()
        replies = [other.read_reply() for _ in range(6)]
        seen.append((replies, time.monotonic() - started > HELD))
        # CLIENT REPLY SKIP before a held command: the skip applies when that one runs.
        seen.append(admin.call("client", "pause", str(PAUSE_MS), "write"))
        other.sock.sendall(b"".join(encode_command(*c) for c in (
            ("client", "reply", "skip"), ("set", "x", "9"), ("get", "x"))))
        started = time.monotonic()
        seen.append((other.read_reply(), time.monotonic() - started > HELD))
        # A stricter or longer pause wins over the one in force; 0 adds nothing.
        seen.append(admin.call("client", "pause", str(PAUSE_MS), "all"))
        seen.append(admin.call("client", "pause", "0", "write"))
        seen.append(_timed(other, "get", "x"))
        for bad in (("client", "pause", "100", "bogus"), ("client", "pause", "-1"),
                    ("client", "pause", "x", "all"), ("client", "pause", "1", "all", "x"),
                    ("client", "unpause", "x"), ("client", "pause")):
            seen.append(other.call(*bad))
    finally:
        admin.close()
        other.close()
    return seen


def test_pause_matches_redis(ports: tuple[int, int]) -> None:
    mine, theirs = (_scenario(port) for port in ports)
    assert mine == theirs


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_held_client_can_go_away(differ: Differ, aikv_module: ServerProcess) -> None:
    """A client that disconnects while held is simply forgotten."""
    differ.both("del", "k")
    admin = RawConnection(aikv_module.port)
    try:
        assert admin.call("client", "pause", "2000", "write") == b"+OK\r\n"
        before = admin.call("client", "list").count(b"id=")
        sock = socket.create_connection(("127.0.0.1", aikv_module.port))
        sock.sendall(encode_command("set", "k", "held"))
        _wait_for(lambda: admin.call("client", "list").count(b"id=") == before + 1)
        sock.close()
        _wait_for(lambda: admin.call("client", "list").count(b"id=") == before)
        assert admin.call("client", "unpause") == b"+OK\r\n"
        assert admin.call("get", "k") == b"$-1\r\n"
        assert admin.call("set", "k", "after") == b"+OK\r\n"
    finally:
        admin.close()


def test_held_client_counts_as_blocked(differ: Differ, aikv_module: ServerProcess,
                                       redis_module: ServerProcess) -> None:
    """INFO blocked_clients counts a client held by CLIENT PAUSE (Redis 7.0's
    BLOCKED_POSTPONE; Redis's pause.tcl waits on it)."""
    differ.both("del", "held")
    writers = [RawConnection(server.port) for server in (aikv_module, redis_module)]
    try:
        differ.check("client", "pause", "60000", "write")
        for conn in writers:
            conn.sock.sendall(encode_command("set", "held", "1"))
        _wait_for(lambda: all(b"blocked_clients:1\r\n" in reply
                              for reply in differ.both("info", "clients")))
        differ.check("client", "unpause")
        assert [conn.read_reply() for conn in writers] == [b"+OK\r\n"] * 2
        _wait_for(lambda: all(b"blocked_clients:0\r\n" in reply
                              for reply in differ.both("info", "clients")))
    finally:
        differ.both("client", "unpause")
        for conn in writers:
            conn.close()


def _script_scenario(port: int) -> list[object]:
    """Under PAUSE WRITE, a script is held by its declared flags, as Redis's
    getCommandFlags: no-writes runs at once (EVAL, EVALSHA, in EXEC), a script with
    flags but no no-writes is a write, and one without a shebang may replicate."""
    admin, other = RawConnection(port), RawConnection(port)
    reader = "#!lua flags=no-writes\nreturn redis.call('get', 'x')"
    writer = "#!lua\nreturn 1"
    seen: list[object] = []
    try:
        sha = other.call("script", "load", reader)[5:-2].decode()
        for script in ((reader,), (writer,), ("return 1",)):
            seen.append(admin.call("client", "pause", str(PAUSE_MS), "write"))
            seen.append(_timed(other, "eval", *script, "0"))
        seen.append(admin.call("client", "pause", str(PAUSE_MS), "write"))
        seen.append(_timed(other, "evalsha", sha, "0"))
        seen.append(admin.call("client", "pause", str(PAUSE_MS), "write"))
        other.sock.sendall(b"".join(encode_command(*c) for c in (
            ("multi",), ("eval", reader, "0"), ("exec",))))
        started = time.monotonic()
        replies = [other.read_reply() for _ in range(3)]
        seen.append((replies, time.monotonic() - started > HELD))
    finally:
        admin.call("client", "unpause")
        admin.close()
        other.close()
    return seen


def test_scripts_are_held_by_their_flags_as_redis(ports: tuple[int, int]) -> None:
    mine, theirs = (_script_scenario(port) for port in ports)
    assert mine == theirs
    assert mine[1][1] is False and mine[3][1] is True  # no-writes ran, a writer waited
