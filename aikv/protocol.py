"""Request framing: RESP multibulk and inline commands, as Redis reads them.

Measured on this machine, a tight pure-Python multibulk splitter (bytes.find + slicing)
costs ~1.9 µs for a 3-argument SET, against ~2.5 µs for hiredis.Reader, which builds its
result through Python callbacks. We also need Redis's exact protocol error texts and its
quirks (the two bytes after a bulk are skipped unchecked, `*-1` and `*0` are no-ops,
empty inline lines are skipped), which a reply parser cannot give. So requests are framed
here; hiredis parses *replies* (MIGRATE's target connections).

`RequestParser.feed()` returns the complete commands found; a protocol error is raised as
`ProtocolError` *after* the commands before it have been returned, mirroring Redis, which
executes what it parsed and then replies with the error and closes the connection.
"""

from __future__ import annotations

INLINE_MAX = 64 * 1024          # PROTO_INLINE_MAX_SIZE
MBULK_BIG_ARG = 32 * 1024       # arguments this large are read without re-scanning
DEFAULT_MAX_BULK_LEN = 512 * 1024 * 1024
_INT_MAX = 2**31 - 1
# Redis 7.0 (since the CVE-2021-32675 fix) caps what a client that still has to
# authenticate may announce, so it cannot make the server buffer large requests.
UNAUTH_MAX_MULTIBULK = 10
UNAUTH_MAX_BULK = 16384
UNAUTH_MULTIBULK_ERROR = "ERR Protocol error: unauthenticated multibulk length"
UNAUTH_BULK_ERROR = "ERR Protocol error: unauthenticated bulk length"


class ProtocolError(Exception):
    """The client sent bytes Redis would refuse: reply with this text, then close."""


def split_inline_args(line: bytes) -> list[bytes] | None:
    """Split an inline command line the way Redis's sdssplitargs does: spaces separate
    arguments, "double quotes" understand \\n \\r \\t \\b \\a \\\\ \\" and \\xHH escapes,
    'single quotes' understand only \\'. A closing quote must be followed by a space or
    the end. Returns None on unbalanced quotes."""
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \t\n\r\v\f\0":
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        in_dq = in_sq = False
        while True:
            if in_dq:
                if i >= n:
                    return None
                c = line[i]
                if c == 0x5C and i + 3 < n and line[i + 1] == 0x78 and _is_hex(line[i + 2]) and _is_hex(line[i + 3]):
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 0x5C and i + 1 < n:
                    i += 1
                    cur.append(_ESCAPES.get(line[i], line[i]))
                elif c == 0x22:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f\0":
                        return None
                    in_dq = False
                    i += 1
                    break
                else:
                    cur.append(c)
            elif in_sq:
                if i >= n:
                    return None
                c = line[i]
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    cur.append(0x27)
                elif c == 0x27:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f\0":
                        return None
                    in_sq = False
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in b" \n\r\t\0":
                    break
                if c == 0x22:
                    in_dq = True
                elif c == 0x27:
                    in_sq = True
                else:
                    cur.append(c)
            i += 1
        args.append(bytes(cur))


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


def _is_hex(c: int) -> bool:
    return c in b"0123456789abcdefABCDEF"


# Counts and lengths seen on the wire are nearly always small: a dict hit is several
# times cheaper than validating and converting (measured hot in the pipelined profile).
_SMALL_COUNTS: dict[bytes, int] = {b"%d" % i: i for i in range(0, 4096)}


def _parse_count(raw: bytes) -> int | None:
    # Redis's string2ll: optional '-', digits only, no spaces or '+'.
    small = _SMALL_COUNTS.get(raw)
    if small is not None:
        return small
    if not raw or len(raw) > 20:
        return None
    body = raw[1:] if raw[:1] == b"-" else raw
    if not body.isdigit() or (len(body) > 1 and body[:1] == b"0"):
        return None
    return int(raw)


# Whole length headers, for the fast path below. "*3" -> 3: one dict lookup checks the
# type byte, the digits and the range at once. _BULK_HEADERS[n] is "$n": an argument of
# n bytes is well-framed when its header equals _BULK_HEADERS[len(arg)] (a list index
# and a compare, cheaper than hashing the header).
_MBULK_HEADERS: dict[bytes, int] = {b"*%d" % i: i for i in range(1, 4096)}
_BULK_HEADERS: list[bytes] = [b"$%d" % i for i in range(0, 4096)]


def _split_simple_multibulk(buf: bytes, out: list[list[bytes]]) -> int:
    """Fast path for the common case: requests that are multibulks whose lengths are all
    small and exact. One C-level split on CRLF, then each request is a slice of the
    pieces with its length headers checked (2- to 4-argument requests, most of the
    traffic, unpacked without a loop). Returns how many bytes were consumed; stops
    (leaving the rest to the careful parser) at anything else: inline commands,
    `*0`/`*-1`, big counts or lengths, arguments containing CRLF (the piece is then
    shorter than its header says), malformed input, or an incomplete request."""
    parts = buf.split(b"\r\n")
    last = len(parts) - 1  # the piece after the final CRLF is incomplete (or empty)
    bulk = _BULK_HEADERS
    append = out.append
    i = 0
    try:
        while i < last:
            head = parts[i]
            if head == b"*3":
                end = i + 7
                if end > last:
                    break
                h1, a1, h2, a2, h3, a3 = parts[i + 1 : end]
                if bulk[len(a1)] != h1 or bulk[len(a2)] != h2 or bulk[len(a3)] != h3:
                    break
                append([a1, a2, a3])
            elif head == b"*2":
                end = i + 5
                if end > last:
                    break
                h1, a1, h2, a2 = parts[i + 1 : end]
                if bulk[len(a1)] != h1 or bulk[len(a2)] != h2:
                    break
                append([a1, a2])
            elif head == b"*4":
                end = i + 9
                if end > last:
                    break
                h1, a1, h2, a2, h3, a3, h4, a4 = parts[i + 1 : end]
                if (bulk[len(a1)] != h1 or bulk[len(a2)] != h2 or bulk[len(a3)] != h3
                        or bulk[len(a4)] != h4):
                    break
                append([a1, a2, a3, a4])
            else:
                count = _MBULK_HEADERS.get(head)
                if count is None:
                    break
                end = i + 1 + 2 * count
                if end > last:
                    break
                args = parts[i + 2 : end : 2]
                for header, arg in zip(parts[i + 1 : end : 2], args, strict=True):
                    if bulk[len(arg)] != header:
                        break
                else:
                    append(args)
                    i = end
                    continue
                break
            i = end
    except IndexError:
        pass  # an argument of 4096 bytes or more: left to the careful parser
    if i == last:
        return len(buf) - len(parts[last])
    # Every piece taken was followed by its CRLF.
    return sum(map(len, parts[:i])) + 2 * i if i else 0


def _shown(byte: int) -> str:
    """A byte in an error text as Redis's reply has it: itself (resp.error writes it back
    with surrogateescape), but CR and LF as spaces (addReplyErrorFormat)."""
    if byte in (10, 13):
        return " "
    return bytes([byte]).decode("utf-8", "surrogateescape")


def _line_end(buf: bytes, pos: int, n: int) -> int:
    """Where the count or length line at `pos` ends as Redis finds it (strchr for '\r',
    which a NUL stops, and one more byte buffered), or -1 while it is not there."""
    end = buf.find(b"\r", pos)
    if end < 0 or end + 1 >= n or buf.find(b"\0", pos, end) >= 0:
        return -1
    return end


class RequestParser:
    """Incremental splitter of a client's byte stream into argument vectors."""

    __slots__ = ("_buf", "_need", "_parts", "_parts_len", "max_bulk_len", "unauth",
                 "auth_stall")

    def __init__(self, max_bulk_len: int = DEFAULT_MAX_BULK_LEN) -> None:
        self._buf = b""
        # Bytes the buffer must hold before parsing is worth retrying: a large bulk
        # arrives in many chunks, which are collected in `_parts` and joined once, so
        # neither copying nor re-scanning grows quadratically.
        self._need = 0
        self._parts: list[bytes] = []
        self._parts_len = 0
        self.max_bulk_len = max_bulk_len
        # While `unauth` is set (the client has not authenticated yet), a request over
        # Redis's unauthenticated limits stops parsing at its first byte and leaves its
        # error text in `auth_stall`: the commands before it (an AUTH, maybe) run first,
        # and the caller either clears `unauth` and feeds b"" to go on, or fails with it.
        self.unauth = False
        self.auth_stall: str | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf) + self._parts_len

    def peek(self, n: int) -> bytes:
        """The first `n` buffered bytes (for logs)."""
        head = self._buf[:n]
        for part in self._parts:
            if len(head) >= n:
                break
            head += part[: n - len(head)]
        return head

    def reset(self) -> None:
        """Drop everything buffered (the connection is going away)."""
        self._buf = b""
        self._parts.clear()
        self._parts_len = 0
        self._need = 0
        self.auth_stall = None

    def feed(self, data: bytes, out: list[list[bytes]]) -> None:
        """Append `data`; push every complete command onto `out`. Raises ProtocolError
        for malformed input (commands before it are already in `out`)."""
        if self._need:
            self._parts.append(data)
            self._parts_len += len(data)
            if len(self._buf) + self._parts_len < self._need:
                return
            buf = b"".join([self._buf, *self._parts])
            self._parts.clear()
            self._parts_len = 0
            self._need = 0
        else:
            buf = self._buf + data if self._buf else data
        # Well-formed pipelines of small arguments are split in bulk first; the careful
        # byte-by-byte walk below takes over at the first thing the fast path declines.
        pos = 0 if self.unauth else _split_simple_multibulk(buf, out)
        n = len(buf)
        find = buf.find
        try:
            while pos < n:
                if buf[pos] == 42:  # '*'
                    # Redis reads a count or length line up to its '\r' (strchr: a NUL
                    # first means not yet) and skips the byte after it, '\n' or not.
                    end = _line_end(buf, pos, n)
                    if end < 0:
                        if n - pos > INLINE_MAX:
                            raise ProtocolError("ERR Protocol error: too big mbulk count string")
                        break
                    raw_count = buf[pos + 1 : end]
                    count = _SMALL_COUNTS.get(raw_count)
                    if count is None:
                        count = _parse_count(raw_count)
                    if count is None or count > _INT_MAX:
                        raise ProtocolError("ERR Protocol error: invalid multibulk length")
                    if count > UNAUTH_MAX_MULTIBULK and self.unauth:
                        self.auth_stall = UNAUTH_MULTIBULK_ERROR
                        break
                    p = end + 2
                    if count <= 0:
                        pos = p
                        continue
                    args: list[bytes] = []
                    complete = True
                    for _ in range(count):
                        end = _line_end(buf, p, n) if p < n else -1
                        if end < 0:
                            if n - p > INLINE_MAX:
                                raise ProtocolError("ERR Protocol error: too big bulk count string")
                            complete = False
                            break
                        if buf[p] != 36:  # '$' (looked at once the line is there)
                            raise ProtocolError(
                                "ERR Protocol error: expected '$', got '%s'" % _shown(buf[p])
                            )
                        raw_size = buf[p + 1 : end]
                        size = _SMALL_COUNTS.get(raw_size)
                        if size is None:
                            size = _parse_count(raw_size)
                        if size is None or size < 0 or size > self.max_bulk_len:
                            raise ProtocolError("ERR Protocol error: invalid bulk length")
                        if size > UNAUTH_MAX_BULK and self.unauth:
                            self.auth_stall = UNAUTH_BULK_ERROR
                            complete = False
                            break
                        start = end + 2
                        stop = start + size
                        if stop + 2 > n:
                            complete = False
                            if size >= MBULK_BIG_ARG:
                                self._need = (stop + 2) - pos
                            break
                        args.append(buf[start:stop])
                        p = stop + 2
                    if not complete:
                        break
                    out.append(args)
                    pos = p
                else:
                    end = find(b"\n", pos)
                    if end >= 0 and find(b"\0", pos, end) >= 0:
                        end = -1  # Redis's strchr stops at the NUL: no line yet
                    if end < 0:
                        if n - pos > INLINE_MAX:
                            raise ProtocolError("ERR Protocol error: too big inline request")
                        break
                    line = buf[pos:end]
                    pos = end + 1
                    if line.endswith(b"\r"):
                        line = line[:-1]
                    inline = split_inline_args(line)
                    if inline is None:
                        raise ProtocolError("ERR Protocol error: unbalanced quotes in request")
                    if inline:
                        out.append(inline)
        except ProtocolError:
            self._buf = b""
            raise
        self._buf = buf[pos:] if pos < n else b""
