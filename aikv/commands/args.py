"""Argument parsing shared by command handlers, with Redis's exact error texts."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from aikv.resp import CommandError

NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
LLONG_MIN = -(2**63)
LLONG_MAX = 2**63 - 1


def parse_int(raw: bytes, message: str = NOT_INTEGER) -> int:
    """Redis's string2ll: optional '-', no '+', no spaces, no leading zeros, 64-bit."""
    n = len(raw)
    if n == 0 or n > 20:
        raise CommandError(message)
    if raw.isdigit():
        if n > 1 and raw[0] == 48:
            raise CommandError(message)
        value = int(raw)
    elif raw[0] == 45 and n > 1 and raw[1:].isdigit() and raw[1] != 48:
        value = int(raw)
    else:
        raise CommandError(message)
    if value > LLONG_MAX or value < LLONG_MIN:
        raise CommandError(message)
    return value


def parse_c_int(raw: bytes, message: str | None = None) -> int:
    """getIntFromObjectOrReply: a 64-bit integer that must also fit a C int. With a
    `message`, that text answers both failures, as in Redis."""
    value = parse_int(raw, message or NOT_INTEGER)
    if not -2**31 <= value < 2**31:
        raise CommandError(message or "ERR value is out of range, value must between "
                           "-2147483648 and 2147483647")
    return value


def try_int(raw: bytes) -> int | None:
    try:
        return parse_int(raw)
    except CommandError:
        return None


def parse_positive_int(raw: bytes, what: str) -> int:
    value = parse_int(raw)
    if value < 0:
        raise CommandError(f"ERR {what} is out of range, must be positive")
    return value


def parse_float(raw: bytes, message: str = NOT_FLOAT) -> float:
    """Redis's getDoubleFromObject: strtod over the whole string, no leading space, no NaN."""
    if not raw or raw[:1].isspace():
        raise CommandError(message)
    try:
        text = raw.decode("ascii")
        value = float.fromhex(text) if text.lower().lstrip("+-").startswith("0x") else float(text)
    except (UnicodeDecodeError, ValueError):
        raise CommandError(message) from None
    if math.isnan(value) or "_" in text:
        raise CommandError(message)
    return value


# ----------------------------------------------------------------- long double emulation
# INCRBYFLOAT and HINCRBYFLOAT compute in C `long double` (x87 80-bit: 64-bit significand)
# and print with "%.17Lf" minus trailing zeros. Python floats would print 0.1+0.2 as
# 0.30000000000000004 where Redis prints 0.3, so the arithmetic is emulated exactly with
# fractions rounded to a 64-bit significand.

_LD_MANT_BITS = 64
_LD_MAX_EXP = 16384


def _round_to_long_double(x: Fraction) -> Fraction:
    if x == 0:
        return x
    sign = -1 if x < 0 else 1
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    shift = _LD_MANT_BITS - 1 - e
    scaled = a * (Fraction(2) ** shift)
    m = round(scaled)  # Fraction.__round__ rounds half to even, like the FPU
    if e >= _LD_MAX_EXP:
        raise OverflowError
    return sign * Fraction(m) / (Fraction(2) ** shift)


round_to_long_double = _round_to_long_double  # public: blocking timeouts use it


def parse_long_double(raw: bytes, message: str = NOT_FLOAT) -> Fraction | float:
    """strtold as Redis uses it: whole string, no leading space; returns an exact Fraction
    of the nearest long double, or +/-inf."""
    if not raw or raw[:1].isspace() or len(raw) > 5000:
        raise CommandError(message)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise CommandError(message) from None
    low = text.lower().lstrip("+-")
    if low in ("inf", "infinity"):
        return float("-inf") if text.startswith("-") else float("inf")
    if low.startswith("nan") or "_" in text:
        raise CommandError(message)
    try:
        if low.startswith("0x"):
            exact = Fraction(float.fromhex(text))
        else:
            exact = Fraction(Decimal(text))
    except (InvalidOperation, ValueError):
        raise CommandError(message) from None
    if not _looks_like_decimal(text) and not low.startswith("0x"):
        raise CommandError(message)
    try:
        return _round_to_long_double(exact)
    except OverflowError:
        raise CommandError(message) from None


def _looks_like_decimal(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    mant, _, exp = body.lower().partition("e")
    if exp:
        e = exp[1:] if exp[:1] in "+-" else exp
        if not e.isdigit():
            return False
    if not mant or mant == ".":
        return False
    whole, _, frac = mant.partition(".")
    return (whole == "" or whole.isdigit()) and (frac == "" or frac.isdigit())


def add_long_double(a: Fraction | float, b: Fraction | float) -> Fraction:
    """a + b in long double; raises CommandError if the result is not finite."""
    if isinstance(a, float) or isinstance(b, float):
        raise CommandError("ERR increment would produce NaN or Infinity")
    try:
        return _round_to_long_double(a + b)
    except OverflowError:
        raise CommandError("ERR increment would produce NaN or Infinity") from None


def format_long_double(value: Fraction) -> bytes:
    """"%.17Lf" with trailing zeros (and a trailing '.') removed."""
    q = Decimal(value.numerator) / Decimal(value.denominator) if value.denominator != 1 else None
    if q is None:
        return str(value.numerator).encode()
    # Exact decimal expansion is finite (denominator is a power of two); quantize with
    # round-half-even on the exact value, as glibc's printf does.
    num, den = value.numerator, value.denominator
    scaled = Fraction(num * 10**17, den)
    rounded = round(scaled)
    sign = "-" if rounded < 0 else ""
    digits = str(abs(rounded)).rjust(18, "0")
    text = f"{sign}{digits[:-17]}.{digits[-17:]}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0" if text == "" else "-0"
    return text.encode()


def parse_expire_option(raw: bytes, command: str) -> int:
    value = parse_int(raw)
    if value <= 0:
        raise CommandError(f"ERR invalid expire time in '{command}' command")
    return value


def subcommand_error(argv: list[bytes]) -> CommandError:
    """Redis's reply to a known subcommand called with the wrong arguments."""
    return CommandError(
        "ERR unknown subcommand or wrong number of arguments for '%.128s'. Try %s HELP."
        % (argv[1].decode(errors="replace"), argv[0].decode(errors="replace").upper()))


def upper(raw: bytes) -> bytes:
    return raw.upper()
