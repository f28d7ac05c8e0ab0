"""A tiny blocking RESP2 client for the benchmark's own traffic.

The suite talks to both servers through this module instead of a client library so that
the loader can stream pre-encoded MSET batches with a bounded in-flight window (the
fastest way to put millions of distinct keys into either server from Python), and so
that every call has a socket timeout: a hung server must fail a scenario, not the run.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Iterator

Reply = bytes | int | list["Reply"] | None


class ReplyError(Exception):
    """A `-ERR ...` reply; the text is kept so callers can report it as an n/a reason."""


def encode(*args: bytes | str | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = b"%d" % a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------
    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[: n + 2]
        return data

    def read(self) -> Reply:
        """One reply; an error reply is raised as ReplyError (nested ones are returned)."""
        r = self._read_any()
        if isinstance(r, ReplyError):
            raise r
        return r

    def _read_any(self) -> Reply | ReplyError:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            items: list[Reply] = []
            for _ in range(n):
                item = self._read_any()
                items.append(item if not isinstance(item, ReplyError) else str(item).encode())
            return items
        raise ConnectionError(f"unexpected RESP line {line[:60]!r}")

    # -- commands ----------------------------------------------------------------------
    def call(self, *args: bytes | str | int) -> Reply:
        self.sock.sendall(encode(*args))
        return self.read()

    def pipeline(self, payloads: Iterable[bytes], window: int = 32) -> int:
        """Send pre-encoded commands keeping at most `window` unanswered; returns how many
        were sent. A bounded window keeps both socket buffers from filling up (which could
        stall the server's writes) while still hiding the round trip."""
        sent = 0
        outstanding = 0
        for payload in payloads:
            self.sock.sendall(payload)
            sent += 1
            outstanding += 1
            if outstanding >= window:
                self.read()
                outstanding -= 1
        for _ in range(outstanding):
            self.read()
        return sent


def info_field(text: bytes, name: str) -> str | None:
    """One `name:value` line from an INFO reply."""
    for line in text.decode(errors="replace").splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def ping_until_ready(port: int, deadline: float, interval: float = 0.005) -> float:
    """Poll PING until +PONG; returns the monotonic time of the first PONG.

    A -LOADING error (Redis replaying its AOF) counts as not ready: what users wait for
    is the first reply that serves data."""
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with Conn(port, timeout=max(0.2, min(2.0, deadline - time.monotonic()))) as c:
                while time.monotonic() < deadline:
                    try:
                        if c.call("PING") == b"PONG":
                            return time.monotonic()
                    except ReplyError as exc:  # -LOADING: keep asking on the same socket
                        last = exc
                    time.sleep(interval)
        except (OSError, ConnectionError) as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"port {port} not ready before the deadline (last: {last})")


def key_name(i: int) -> bytes:
    """The key redis-benchmark's `key:__rand_int__` expands to, so that `-t get -r N` hits
    keys the loader wrote."""
    return b"key:%012d" % i


def mset_batches(start: int, stop: int, value: bytes, batch: int = 500) -> Iterator[bytes]:
    """Pre-encoded MSET commands for keys key_name(start..stop-1), all with `value`."""
    vpart = b"$%d\r\n%s\r\n" % (len(value), value)
    for lo in range(start, stop, batch):
        hi = min(stop, lo + batch)
        parts = [b"*%d\r\n$4\r\nMSET\r\n" % (1 + 2 * (hi - lo))]
        for i in range(lo, hi):
            parts.append(b"$16\r\nkey:%012d\r\n" % i)
            parts.append(vpart)
        yield b"".join(parts)


def load_keys(port: int, n: int, value: bytes, timeout: float = 600.0) -> float:
    """Write n distinct keys over one socket; returns the seconds it took."""
    t0 = time.monotonic()
    with Conn(port, timeout=timeout) as c:
        c.pipeline(mset_batches(0, n, value), window=8)
    return time.monotonic() - t0
