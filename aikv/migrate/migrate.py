"""MIGRATE's network side: cached connections to targets and the exchange itself.

The exchange is synchronous, like redis-server's: the handler writes the whole pipeline
(AUTH, SELECT, one RESTORE per key) on a blocking socket and reads one reply line per
command sent, with the MIGRATE timeout on every operation. Nothing else runs on the node
meanwhile, so no client can observe or modify a key between its serialisation and its
deletion — that is what makes MIGRATE atomic towards other clients. The price is Redis's
too: the node is stalled while the target answers, and a MIGRATE whose target is this very
node cannot be answered (the node cannot serve its own RESTORE while it waits), so it ends
with the read timeout: `IOERR error or timeout reading to target instance`, exactly what
redis-server 7.0.15 replies when asked to migrate to itself.

Every behaviour below is Redis's (cluster.c, migrateCommand / migrateGetSocket), kept
because redis-cli and the fixtures depend on it:
* one cached connection per "host:port" text, at most 64, dropped after 10 s unused; each
  remembers the last db it selected (-1 when new and after any error reply);
* AUTH is sent on every call when a password is given, SELECT only when the db changes;
* a failed write, a failed read of the AUTH/SELECT reply, or a failed read of the first
  RESTORE reply drops the connection and retries the whole MIGRATE once on a new one,
  unless the failure was a timeout;
* keys whose RESTORE was acknowledged are deleted even if a later one failed.
"""

from __future__ import annotations

import errno
import random
import select
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aikv.migrate.options import MigrateRequest
from aikv.resp import OK, error

MAX_CACHED = 64
IDLE_SECONDS = 10.0
_CHUNK = 64 * 1024
_MAX_LINE = 1023  # Redis reads replies into a 1024-byte buffer

IOERR_CONNECT = "IOERR error or timeout connecting to the client"
IOERR_WRITE = "IOERR error or timeout writing to target instance"
IOERR_READ = "IOERR error or timeout reading to target instance"


class SocketFailure(Exception):
    """A write or read on the target connection failed; `timed_out` mirrors errno ==
    ETIMEDOUT in Redis, which suppresses the retry."""

    def __init__(self, timed_out: bool) -> None:
        super().__init__("timed out" if timed_out else "socket error")
        self.timed_out = timed_out


class ConnectFailed(Exception):
    """The address could not even be turned into a connect attempt."""


class Transport:
    """The byte stream to one target (a socket in production, a fake in unit tests)."""

    def send_all(self, data: bytes, timeout_s: float) -> None:
        raise NotImplementedError

    def read_line(self, timeout_s: float) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SocketTransport(Transport):
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def send_all(self, data: bytes, timeout_s: float) -> None:
        view = memoryview(data)
        try:
            for pos in range(0, len(view), _CHUNK):
                self.sock.settimeout(timeout_s)
                self.sock.sendall(view[pos:pos + _CHUNK])
        except TimeoutError:
            raise SocketFailure(True) from None
        except OSError as exc:
            raise SocketFailure(exc.errno == errno.ETIMEDOUT) from None

    def read_line(self, timeout_s: float) -> bytes:
        """One reply line without its CRLF, as Redis's syncReadLine; the whole line must
        arrive within the timeout. A bare "\\n" (zero-length read) counts as a failure."""
        deadline = time.monotonic() + timeout_s
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[:nl])
                del self.buf[:nl + 1]
                if not line:
                    raise SocketFailure(False)
                if line.endswith(b"\r"):
                    line = line[:-1]
                return line[:_MAX_LINE]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SocketFailure(True)
            try:
                self.sock.settimeout(remaining)
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise SocketFailure(True) from None
            except OSError as exc:
                raise SocketFailure(exc.errno == errno.ETIMEDOUT) from None
            if not chunk:
                raise SocketFailure(False)
            self.buf += chunk

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def atoi(raw: bytes) -> int:
    """C atoi: optional spaces and sign, then digits up to the first non-digit; 0 if none."""
    text = raw.lstrip(b" \t\n\v\f\r")
    sign = 1
    if text[:1] in (b"+", b"-"):
        sign = -1 if text[:1] == b"-" else 1
        text = text[1:]
    digits = b""
    for byte in text:
        if 48 <= byte <= 57:
            digits += bytes((byte,))
        else:
            break
    return sign * int(digits) if digits else 0


def open_socket(host: bytes, port: bytes, timeout_s: float) -> Transport:
    """Like Redis 7.0.15's blocking connect: resolution errors fail at once
    (ConnectFailed); a refused or timed-out connect still returns a socket, whose first
    write then fails — which is why such targets report a *writing* error."""
    try:
        infos = socket.getaddrinfo(host.decode("latin-1"), atoi(port), socket.AF_UNSPEC,
                                   socket.SOCK_STREAM)
    except (OSError, UnicodeError, OverflowError, ValueError):
        raise ConnectFailed() from None
    if not infos:
        raise ConnectFailed()
    family, kind, proto, _, address = infos[0]
    try:
        sock = socket.socket(family, kind, proto)
    except OSError:
        raise ConnectFailed() from None
    sock.setblocking(False)
    try:
        code = sock.connect_ex(address)
    except OSError:
        sock.close()
        raise ConnectFailed() from None
    if code == errno.EINPROGRESS:
        select.select([], [sock], [], timeout_s)
    elif code not in (0, errno.ECONNREFUSED):
        sock.close()
        raise ConnectFailed()
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    return SocketTransport(sock)


Connector = Callable[[bytes, bytes, float], Transport]


@dataclass(slots=True)
class CachedConnection:
    transport: Transport
    last_dbid: int = -1
    last_use: float = 0.0


@dataclass(slots=True)
class KeyToSend:
    key: bytes
    payload: bytes
    expire_at_ms: int = 0  # absolute, 0 = no expiry


@dataclass(slots=True)
class MigrateResult:
    reply: bytes
    acked: list[bytes] = field(default_factory=list)  # delete these unless COPY


def encode_command(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n" % len(arg))
        out.append(arg)
        out.append(b"\r\n")
    return b"".join(out)


def restore_command(name: bytes, key: bytes, ttl: int, payload: bytes, replace: bool) -> bytes:
    """encode_command(name, key, b"%d" % ttl, payload[, b"REPLACE"]) in one formatting
    step: MIGRATE writes one per key."""
    ttl_text = b"%d" % ttl
    head = b"*%d\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n" % (
        5 if replace else 4, len(name), name, len(key), key, len(ttl_text), ttl_text,
        len(payload))
    return b"".join((head, payload, b"\r\n$7\r\nREPLACE\r\n" if replace else b"\r\n"))


def target_error(line: bytes) -> bytes:
    """The reply to the client for the target's first error line (it starts with '-')."""
    text = line[1:].decode("utf-8", errors="replace").replace("\r", " ").replace("\n", " ")
    return error("ERR Target instance replied with error: " + text)


class MigrateEngine:
    def __init__(self, connector: Connector = open_socket,
                 clock: Callable[[], float] = time.time) -> None:
        self.connector = connector
        self.clock = clock
        self.cache: dict[bytes, CachedConnection] = {}
        self.sweep_scheduled = False  # the owner's idle-connection timer is pending

    # ------------------------------------------------------------------ cache
    def _connection(self, req: MigrateRequest) -> CachedConnection:
        name = req.cache_name
        now = self.clock()
        cached = self.cache.get(name)
        if cached is not None:
            cached.last_use = now
            return cached
        if len(self.cache) >= MAX_CACHED:
            victim = random.choice(list(self.cache))
            self.cache.pop(victim).transport.close()
        transport = self.connector(req.host, req.port, req.timeout_ms / 1000.0)
        cached = CachedConnection(transport, -1, now)
        self.cache[name] = cached
        return cached

    def drop(self, name: bytes) -> None:
        cached = self.cache.pop(name, None)
        if cached is not None:
            cached.transport.close()

    def sweep(self) -> int:
        """Close connections unused for more than 10 s; returns how many are left."""
        now = self.clock()
        for name in [n for n, c in self.cache.items() if now - c.last_use > IDLE_SECONDS]:
            self.drop(name)
        return len(self.cache)

    def close_all(self) -> None:
        for name in list(self.cache):
            self.drop(name)

    # ------------------------------------------------------------------ exchange
    def _retry_after(self, req: MigrateRequest, exc: SocketFailure, may_retry: bool) -> bool:
        """Drop the broken connection; True if the whole MIGRATE should be tried again."""
        self.drop(req.cache_name)
        return may_retry and not exc.timed_out

    def run(self, req: MigrateRequest, items: Sequence[KeyToSend], cluster_mode: bool) -> MigrateResult:
        restore = b"RESTORE-ASKING" if cluster_mode else b"RESTORE"
        timeout_s = req.timeout_ms / 1000.0
        may_retry = True
        while True:
            try:
                conn = self._connection(req)
            except ConnectFailed:
                return MigrateResult(error(IOERR_CONNECT))
            selecting = conn.last_dbid != req.db
            parts: list[bytes] = []
            if req.password is not None:
                if req.username is not None:
                    parts.append(encode_command(b"AUTH", req.username, req.password))
                else:
                    parts.append(encode_command(b"AUTH", req.password))
            if selecting:
                parts.append(encode_command(b"SELECT", b"%d" % req.db))
            sent: list[bytes] = []
            now_ms = int(self.clock() * 1000)
            for item in items:
                ttl = 0
                if item.expire_at_ms:
                    ttl = item.expire_at_ms - now_ms
                    if ttl < 0:
                        continue  # expired while we were busy: nothing to move
                    ttl = max(ttl, 1)
                sent.append(item.key)
                parts.append(restore_command(restore, item.key, ttl, item.payload, req.replace))

            try:
                conn.transport.send_all(b"".join(parts), timeout_s)
            except SocketFailure as exc:
                if self._retry_after(req, exc, may_retry):
                    may_retry = False
                    continue
                return MigrateResult(error(IOERR_WRITE))
            try:
                auth_line = conn.transport.read_line(timeout_s) if req.password is not None else b"+"
                select_line = conn.transport.read_line(timeout_s) if selecting else b"+"
            except SocketFailure as exc:
                if self._retry_after(req, exc, may_retry):
                    may_retry = False
                    continue
                return MigrateResult(error(IOERR_READ))

            first_error: bytes | None = None
            acked: list[bytes] = []
            failure: SocketFailure | None = None
            read = 0
            for key in sent:
                try:
                    line = conn.transport.read_line(timeout_s)
                except SocketFailure as exc:
                    failure = exc
                    break
                read += 1
                if auth_line[:1] == b"-" or select_line[:1] == b"-" or line[:1] == b"-":
                    if first_error is None:
                        conn.last_dbid = -1
                        if auth_line[:1] == b"-":
                            first_error = auth_line
                        elif select_line[:1] == b"-":
                            first_error = select_line
                        else:
                            first_error = line
                else:
                    acked.append(key)

            if failure is not None:
                self.drop(req.cache_name)
                if first_error is None and read == 0 and may_retry and not failure.timed_out:
                    # Nothing was processed for sure: start again on a fresh connection.
                    may_retry = False
                    continue
                if first_error is None:
                    return MigrateResult(error(IOERR_READ), acked)
            if first_error is not None:
                return MigrateResult(target_error(first_error), acked)
            conn.last_dbid = req.db
            return MigrateResult(OK, acked)
