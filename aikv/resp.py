"""RESP2/RESP3 reply encoding.

Handlers build their replies with these functions and return the encoded bytes, so the
hot path does no type dispatch. Where RESP2 and RESP3 differ (null, maps, sets, doubles,
booleans, push), the caller passes `resp3` (the connection's protocol).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

OK = b"+OK\r\n"
PONG = b"+PONG\r\n"
QUEUED = b"+QUEUED\r\n"
NULL_BULK = b"$-1\r\n"
NULL_ARRAY = b"*-1\r\n"
NULL3 = b"_\r\n"
EMPTY_ARRAY = b"*0\r\n"
ZERO = b":0\r\n"
ONE = b":1\r\n"

_SMALL_INTS = [b":%d\r\n" % i for i in range(-1, 10001)]


class CommandError(Exception):
    """A command failed; `args[0]` is the full error text without the leading '-'
    (e.g. "ERR syntax error", "WRONGTYPE ..."), sent as a RESP error."""


class CommandRejected(CommandError):
    """Refused before the command ran, where Redis refuses it in processCommand (a
    flagged script's NOREPLICAS, for one): Server.call counts a rejected call, not a
    call that failed."""


def error(text: str) -> bytes:
    # surrogateescape: an argument quoted in the text keeps its bytes (see
    # server._c_text), as Redis writes them.
    return b"-" + text.encode("utf-8", "surrogateescape") + b"\r\n"


def simple(text: str | bytes) -> bytes:
    if isinstance(text, str):
        text = text.encode()
    return b"+" + text + b"\r\n"


def integer(value: int) -> bytes:
    if -1 <= value <= 10000:
        return _SMALL_INTS[value + 1]
    return b":%d\r\n" % value


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def bulk_or_null(value: bytes | None, resp3: bool) -> bytes:
    if value is None:
        return NULL3 if resp3 else NULL_BULK
    return b"$%d\r\n%s\r\n" % (len(value), value)


def null(resp3: bool) -> bytes:
    return NULL3 if resp3 else NULL_BULK


def null_array(resp3: bool) -> bytes:
    return NULL3 if resp3 else NULL_ARRAY


def array(encoded_items: Sequence[bytes]) -> bytes:
    return b"*%d\r\n%s" % (len(encoded_items), b"".join(encoded_items))


def bulk_array(values: Sequence[bytes | None], resp3: bool = False) -> bytes:
    nil = NULL3 if resp3 else NULL_BULK
    parts = [b"*%d\r\n" % len(values)]
    for v in values:
        parts.append(nil if v is None else b"$%d\r\n%s\r\n" % (len(v), v))
    return b"".join(parts)


def map_reply(pairs: Sequence[tuple[bytes, bytes]], resp3: bool) -> bytes:
    """`pairs` are already-encoded key and value replies."""
    head = b"%%%d\r\n" % len(pairs) if resp3 else b"*%d\r\n" % (2 * len(pairs))
    return head + b"".join(k + v for k, v in pairs)


def set_reply(encoded_items: Sequence[bytes], resp3: bool) -> bytes:
    head = b"~%d\r\n" % len(encoded_items) if resp3 else b"*%d\r\n" % len(encoded_items)
    return head + b"".join(encoded_items)


def push(encoded_items: Sequence[bytes], resp3: bool) -> bytes:
    head = b">%d\r\n" % len(encoded_items) if resp3 else b"*%d\r\n" % len(encoded_items)
    return head + b"".join(encoded_items)


def verbatim(text: bytes, resp3: bool, fmt: bytes = b"txt") -> bytes:
    if resp3:
        return b"=%d\r\n%s:%s\r\n" % (len(text) + 4, fmt, text)
    return bulk(text)


def boolean(value: bool, resp3: bool) -> bytes:
    if resp3:
        return b"#t\r\n" if value else b"#f\r\n"
    return ONE if value else ZERO


def format_double(value: float) -> bytes:
    """Redis's human-friendly double text (%.17g, then shortest round-trip): inf, -inf,
    integers without a fraction, otherwise repr()'s shortest form."""
    if value != value:
        return b"nan"
    if value == float("inf"):
        return b"inf"
    if value == float("-inf"):
        return b"-inf"
    if value == int(value) and abs(value) < 1e17:
        return b"%d" % int(value)
    text = repr(value)
    if "e" in text:
        mant, exp = text.split("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").lstrip("0") or "0"
        text = "%se%s%s" % (mant, sign, digits.zfill(2))
    return text.encode()


def double(value: float, resp3: bool) -> bytes:
    text = format_double(value)
    if resp3:
        return b",%s\r\n" % text
    return bulk(text)


def encode_value(value: object, resp3: bool = False) -> bytes:
    """Generic encoder for replies built from plain Python values (cold paths only)."""
    if value is None:
        return NULL3 if resp3 else NULL_BULK
    if isinstance(value, bool):
        return boolean(value, resp3)
    if isinstance(value, int):
        return integer(value)
    if isinstance(value, bytes):
        return bulk(value)
    if isinstance(value, str):
        return bulk(value.encode())
    if isinstance(value, float):
        return double(value, resp3)
    if isinstance(value, dict):
        return map_reply([(encode_value(k, resp3), encode_value(v, resp3)) for k, v in value.items()], resp3)
    if isinstance(value, (list, tuple)):
        return array([encode_value(v, resp3) for v in value])
    raise TypeError(f"cannot encode {type(value).__name__}")


def join_lines(lines: Iterable[str]) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode()


class CountedError(bytes):
    """An error reply whose error INFO's errorstats already counted where it arose (a
    command a script ran): Server.call does not count it again, but still counts the
    command as failed, as Redis does for its ERR_REPLY_FLAG_NO_STATS_UPDATE replies."""

    __slots__ = ()


def logged_error(reply: bytes) -> str:
    """An error reply as Redis's logs quote it (afterErrorReply): "ERR <message>" as the
    message alone, an error with a code of its own with its dash; at most 4096 bytes."""
    body = reply.rstrip(b"\r\n")
    return (body[5:] if body.startswith(b"-ERR ") else body)[:4096].decode(errors="replace")
