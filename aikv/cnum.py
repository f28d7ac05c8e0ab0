"""Numbers the way the C library under Redis reads and casts them (glibc on x86-64):
Lua's string-to-number conversion, lua-cjson's number tokens, every place Lua casts a
double to an integer, and the scores of packed sorted sets in DUMP payloads take their
semantics from here."""

from __future__ import annotations

import math
import re

# The prefixes glibc's strtod converts (it takes the longest): hexadecimal first, as
# "0x1F" would otherwise read as the decimal 0.
_HEX_FLOAT = re.compile(rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)"
                        rb"(?:[pP][+-]?[0-9]+)?")
_DEC_FLOAT = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INFINITY = re.compile(rb"([+-]?)inf(?:inity)?", re.IGNORECASE)
_NAN = re.compile(rb"([+-]?)nan(?:\([0-9A-Za-z_]*\))?", re.IGNORECASE)
_SPACE = b" \t\n\v\f\r"  # C's isspace

_INT64_LIMIT = 9.223372036854775808e18  # 2**63, exactly


def strtod(data: bytes, pos: int = 0) -> tuple[float, int]:
    """C's strtod on data[pos:] (no leading space): (value, bytes used), used 0 when
    nothing converts."""
    m = _HEX_FLOAT.match(data, pos)
    if m:
        return float.fromhex(m.group().decode()), m.end() - pos
    m = _DEC_FLOAT.match(data, pos)
    if m:
        return float(m.group()), m.end() - pos
    m = _INFINITY.match(data, pos)
    if m:
        return (-math.inf if m.group(1) == b"-" else math.inf), m.end() - pos
    m = _NAN.match(data, pos)
    if m:
        return math.copysign(math.nan, -1.0 if m.group(1) == b"-" else 1.0), m.end() - pos
    return 0.0, 0


# The usual case, a plain decimal (spaces around it allowed), in one match.
_PLAIN_DECIMAL = re.compile(rb"[ \t\n\v\f\r]*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)"
                            rb"(?:[eE][+-]?[0-9]+)?)[ \t\n\v\f\r]*\Z")


def zzl_strtod(text: bytes) -> float:
    """zzlStrtod: a packed sorted set's score as Redis reads it back, strtod on its
    first 127 bytes (up to a NUL, blanks before it allowed), 0 where nothing converts."""
    text = text[:127]
    end = text.find(b"\0")
    if end >= 0:
        text = text[:end]
    start = len(text) - len(text.lstrip(_SPACE))
    return strtod(text, start)[0]


def str2number(s: bytes) -> float | None:
    """Lua 5.1's luaO_str2d: the whole C string (up to a NUL) is a number, spaces around
    it allowed; None if not."""
    m = _PLAIN_DECIMAL.match(s)
    if m is not None:
        return float(m.group(1))
    end = s.find(b"\0")
    if end >= 0:
        s = s[:end]
    start = len(s) - len(s.lstrip(_SPACE))
    value, used = strtod(s, start)
    if not used or s[start + used:].strip(_SPACE):
        return None
    return value


def c_integer(v: float) -> int:
    """A double cast to a 64-bit integer as x86-64 code does it (cvttsd2si): truncated
    toward zero; NaN, the infinities and anything out of range give INT64_MIN."""
    return int(v) if -_INT64_LIMIT <= v < _INT64_LIMIT else -(2**63)


def c_unsigned(v: float) -> int:
    """A double cast to an unsigned 64-bit integer as gcc compiles it on x86-64: values
    from 2**63 on are converted less 2**63 and get the top bit back (so 2**64 and more,
    and +inf, give 0); anything below goes through the signed cast."""
    if v >= _INT64_LIMIT:
        return c_integer(v - _INT64_LIMIT) % 2**64 ^ 2**63
    return c_integer(v) % 2**64


def narrow_int32(value: int) -> int:
    """A 64-bit integer stored in a C int: its low 32 bits, signed (2**32 + 1 is 1)."""
    return ((value + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def c_int32(v: float) -> int:
    """A double cast straight to a C int: out of its range (or NaN) gives INT_MIN."""
    return int(v) if -2147483648.0 <= v < 2147483648.0 else -(2**31)


def format_g(v: float, digits: int) -> bytes:
    """C's "%.<digits>g" as glibc prints it: Python's, but a NaN shows its sign (0/0 on
    x86 has it set: "-nan")."""
    if v != v:
        return b"-nan" if math.copysign(1.0, v) < 0 else b"nan"
    return b"%.*g" % (digits, v)
