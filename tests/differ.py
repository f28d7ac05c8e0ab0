"""Differential testing: send the same command to AiKv and to a real redis-server and
compare the raw reply bytes (or a normalised form for replies whose order is unspecified).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import hiredis


def encode_command(*args: bytes | str | int | float) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, bytes):
            b = a
        elif isinstance(a, str):
            b = a.encode()
        else:
            b = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


class RawConnection:
    """A plain socket that returns each reply's exact bytes."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def _reply_length(self) -> int | None:
        reader = hiredis.Reader()
        # Feed byte ranges until one reply completes; hiredis tells us it is complete,
        # and the raw prefix length is found by re-feeding growing prefixes (replies in
        # tests are small, so the quadratic cost is irrelevant).
        reader.feed(self.buf)
        if reader.gets() is False:
            return None
        lo, hi = 1, len(self.buf)
        while lo < hi:
            mid = (lo + hi) // 2
            rd = hiredis.Reader()
            rd.feed(self.buf[:mid])
            if rd.gets() is False:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def read_reply(self) -> bytes:
        while True:
            if self.buf:
                n = self._reply_length()
                if n is not None:
                    reply, self.buf = self.buf[:n], self.buf[n:]
                    return reply
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk

    def call(self, *args: Any) -> bytes:
        self.sock.sendall(encode_command(*args))
        return self.read_reply()

    def call_then_ping(self, *args: Any, timeout: float = 10.0) -> bytes:
        """The raw bytes of a command's answer, read up to the answer of a PING sent after
        it: for replies hiredis cannot frame (some RESP3 types, an attribute or a push
        around the reply)."""
        from tests.harness import recv_until

        self.sock.sendall(encode_command(*args) + encode_command("ping"))
        data = recv_until(self.sock, self.buf, b"+PONG\r\n", timeout)
        self.buf = b""
        return data


def parse(raw: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


class Differ:
    """Same commands to both servers; `check()` asserts identical replies."""

    def __init__(self, aikv_port: int, redis_port: int) -> None:
        self.a = RawConnection(aikv_port)
        self.r = RawConnection(redis_port)

    def close(self) -> None:
        self.a.close()
        self.r.close()

    def both(self, *args: Any) -> tuple[bytes, bytes]:
        return self.a.call(*args), self.r.call(*args)

    def mismatches(self, commands: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Run each command on both servers; (command, mine, theirs) where replies differ."""
        out = []
        for cmd in commands:
            mine, theirs = self.both(*cmd)
            if mine != theirs:
                out.append((cmd, mine, theirs))
        return out

    def assert_same_values(self, *keys: bytes | str) -> None:
        """The keys hold equal values on both servers, compared whole by Redis's own
        per-key digest (DEBUG DIGEST-VALUE: type, every element, whether it expires)."""
        mine, theirs = self.both("debug", "digest-value", *keys)
        assert mine == theirs, ("digest-value", keys, mine, theirs)

    def check(self, *args: Any, normalize: Callable[[bytes], Any] | None = None) -> bytes:
        mine, theirs = self.both(*args)
        if normalize is not None:
            assert normalize(mine) == normalize(theirs), (args, mine, theirs)
        else:
            assert mine == theirs, (args, mine, theirs)
        return mine


def unordered(raw: bytes) -> Any:
    """Normalise an array reply whose element order Redis does not specify."""
    value = parse(raw)
    if isinstance(value, list):
        return sorted(value, key=repr)
    return value


def wait_blocked(conn: RawConnection, count: int = 1, timeout: float = 10.0) -> None:
    """Poll INFO clients until `count` clients are blocked (the waiter's command has run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = parse(conn.call("info", "clients"))
        if f"blocked_clients:{count}\r\n".encode() in info:
            return
        time.sleep(0.005)
    raise AssertionError("the waiting client never blocked")
