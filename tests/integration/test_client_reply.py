"""CLIENT REPLY ON|OFF|SKIP against a real redis-server 7.0: the same pipeline on each
server must produce the same bytes (suppressed replies, errors included, are absent)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from tests.differ import Differ, RawConnection, encode_command
from tests.harness import ServerProcess

END = b"$11\r\nend-of-test\r\n"


def _stream(sock: socket.socket, commands: list[tuple[str, ...]]) -> bytes:
    sock.sendall(b"".join(encode_command(*c) for c in commands + [("echo", "end-of-test")]))
    data = b""
    deadline = time.monotonic() + 10
    while not data.endswith(END):
        assert time.monotonic() < deadline, data
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


SCRIPT: list[tuple[str, ...]] = [
    ("client", "reply", "off"), ("set", "a", "1"), ("get", "a"), ("bogus",), ("incr", "x", "y"),
    ("client", "reply", "skip"), ("client", "reply", "on"), ("get", "a"),
    ("client", "reply", "skip"), ("get", "a"), ("ping",), ("get", "a"),
    ("client", "reply", "skip"), ("client", "reply", "skip"), ("ping", "1"), ("ping", "2"),
    ("client", "reply", "skip"), ("bogus",), ("ping", "3"),
    ("client", "reply", "nope"), ("client", "reply"), ("client", "reply", "on", "x"),
    ("multi",), ("client", "reply", "skip"), ("set", "b", "2"), ("exec",), ("get", "b"),
    ("client", "reply", "off"), ("multi",), ("set", "c", "3"), ("exec",),
    ("client", "reply", "on"), ("mget", "a", "b", "c"),
]


def test_pipeline_matches_redis(differ: Differ) -> None:
    differ.both("del", "a", "b", "c", "x")
    mine = _stream(differ.a.sock, SCRIPT)
    theirs = _stream(differ.r.sock, SCRIPT)
    assert mine == theirs
    differ.check("ping")  # both connections are in step again


def test_replies_off_drops_pushed_messages(differ: Differ, aikv_module: ServerProcess,
                                           redis_module: ServerProcess) -> None:
    """A blocked pop served while replies are off sends nothing either."""
    differ.both("del", "q")
    blocked = [RawConnection(server.port) for server in (aikv_module, redis_module)]
    try:
        for conn in blocked:
            conn.sock.sendall(encode_command("client", "reply", "off")
                              + encode_command("blpop", "q", "5"))
        deadline = time.monotonic() + 10
        while True:
            mine, theirs = differ.both("info", "clients")
            if b"blocked_clients:1" in mine and b"blocked_clients:1" in theirs:
                break
            assert time.monotonic() < deadline, (mine, theirs)
            time.sleep(0.01)
        differ.check("rpush", "q", "x")
        got = [_stream(conn.sock, [("client", "reply", "on")]) for conn in blocked]
        assert got[0] == got[1] == b"+OK\r\n" + END
        differ.check("llen", "q")
    finally:
        for conn in blocked:
            conn.close()


def _read_until(sock: socket.socket, done: Callable[[bytes], bool]) -> bytes:
    data = b""
    deadline = time.monotonic() + 10
    while not done(data):
        assert time.monotonic() < deadline, data
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def test_pubsub_and_invalidation_pushes_pass_replies_off(
        aikv_module: ServerProcess, redis_module: ServerProcess) -> None:
    """Subscription confirmations, published messages and tracking invalidations are
    pushes: CLIENT REPLY OFF does not silence them (Redis's CLIENT_PUSHING), in RESP2 and
    RESP3; the commands' own replies stay off."""

    def run(port: int, resp: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sub, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as pub:
            if resp == 3:
                _stream(sub, [("hello", "3")])
            sub.sendall(encode_command("client", "reply", "off")
                        + encode_command("subscribe", "chan")
                        + encode_command("psubscribe", "ch*"))
            data = _read_until(sub, lambda d: d.endswith(b"$3\r\nch*\r\n:2\r\n"))
            _stream(pub, [("publish", "chan", "hello")])
            data += _read_until(sub, lambda d: d.count(b"hello") == 2)
            data += _stream(sub, [("unsubscribe", "chan"), ("punsubscribe", "ch*"),
                                  ("client", "reply", "on")])
            if resp == 3:
                # The client's own SET invalidates its tracked key (no NOLOOP).
                data += _stream(sub, [("client", "tracking", "on"), ("get", "tracked"),
                                      ("client", "reply", "off"), ("set", "tracked", "1"),
                                      ("client", "reply", "on")])
            return data

    for resp in (2, 3):
        mine, theirs = (run(server.port, resp) for server in (aikv_module, redis_module))
        assert mine == theirs, resp
        assert b"message\r\n$4\r\nchan\r\n$5\r\nhello" in mine
        assert b"$3\r\nch*\r\n:0\r\n" in mine  # the punsubscribe confirmation
    assert b"invalidate" in mine
