"""`struct`: the binary packing library Redis 7.0 loads into its Lua state (Roberto
Ierusalimschy's struct.c 1.7 as patched in deps/lua/src/lua_struct.c).

Format characters: `>` `<` endianness (native is little, as on x86-64), `![n]` maximum
alignment (n a power of 2, default 8), `x` a zero byte, `b B h H l L T` integers of 1,
2, 8 and 8 bytes (`T` is size_t; lower case is signed), `i[n] I[n]` integers of n bytes
(default 4, at most 32), `f` `d` float and double, `c[n]` n characters (pack: n == 0 the
whole string; unpack: n == 0 takes the length from the previous result), `s` a
zero-terminated string, ` ` ignored. `=` is not an option in this version.

The C works on 64-bit unsigned integers and C conversions, and several results come
from that rather than from the documentation; they are kept here on purpose:
- pack of an integer: a negative number goes through a (long) cast, any other through an
  (unsigned long) one, as x86-64 code does them (nan and values past 2^63 become
  0x8000000000000000, values from 2^64 and inf become 0); bytes past the eighth are 0,
  even for negative numbers.
- unpack of an integer wider than 8 bytes keeps the 8 bytes read last, and a signed one
  extends the sign from bit (8 * size - 1) mod 64, the shift x86 actually performs.
- pack of 'c'/'s' with a short string blames the argument after it (the index has moved
  on), a missing argument is "got nil" (a nil the C pushed sits there).
"""

from __future__ import annotations

import struct as pystruct
from collections.abc import Sequence
from typing import Any

from aikv.scripting.runtime import Runtime
from aikv.scripting.stdlib import Lib, _lib_table
from aikv.scripting.values import LuaTable, tonumber, tostr, type_name

MAXINTSIZE = 32        # the widest i/I
MAXALIGN = 8           # offsetof(struct {char; double}, double) on x86-64
MAXCSTACK = 8000       # LUAI_MAXCSTACK: results unpack may leave on the stack
_INT_MAX = 2**31 - 1
_MASK64 = 2**64 - 1
_TWO63 = 2**63
_BIG, _LITTLE = 0, 1

_SIZES = {ord("b"): 1, ord("B"): 1, ord("h"): 2, ord("H"): 2, ord("l"): 8, ord("L"): 8,
          ord("T"): 8, ord("f"): 4, ord("d"): 8, ord("x"): 1}
_INTEGERS = frozenset(b"bBhHlLTiI")
_DIGITS = frozenset(b"0123456789")
_ALNUM = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class FormatError(Exception):
    """A luaL_error (args[0]: the message, without position)."""


class ArgError(Exception):
    """A luaL_argerror: args are (argument number, message)."""


def _cformat(fmt: bytes) -> bytes:
    """The format as the C reads it: up to its first zero byte."""
    end = fmt.find(b"\0")
    return fmt if end < 0 else fmt[:end]


def _getnum(fmt: bytes, i: int, default: int) -> tuple[int, int]:
    """getnum: the decimal number at fmt[i] (or `default` if none) and where it ends."""
    if i >= len(fmt) or fmt[i] not in _DIGITS:
        return default, i
    a = 0
    while i < len(fmt) and fmt[i] in _DIGITS:
        d = fmt[i] - 48
        if a > _INT_MAX // 10 or a * 10 > _INT_MAX - d:
            raise FormatError("integral size overflow")
        a = a * 10 + d
        i += 1
    return a, i


def _optsize(opt: int, fmt: bytes, i: int) -> tuple[int, int]:
    """optsize: the size of option `opt` (0 for those that take none), reading a count
    that follows it."""
    size = _SIZES.get(opt)
    if size is not None:
        return size, i
    if opt == 0x63:  # 'c'
        return _getnum(fmt, i, 1)
    if opt == 0x69 or opt == 0x49:  # 'i', 'I'
        size, i = _getnum(fmt, i, 4)
        if size > MAXINTSIZE:
            raise FormatError("integral size %d is larger than limit of %d"
                              % (size, MAXINTSIZE))
        return size, i
    return 0, i


def _toalign(pos: int, align: int, opt: int, size: int) -> int:
    """gettoalign: padding before an item of `size` at `pos`, the size capped by the
    alignment (a size that is no power of 2, like i3, gives what the C's mask gives)."""
    if size == 0 or opt == 0x63:
        return 0
    if size > align:
        size = align
    return (size - (pos & (size - 1))) & (size - 1)


def _control(opt: int, fmt: bytes, i: int, state: list[int]) -> int:
    """controloptions: endianness, alignment, spaces; anything else is an error.
    `state` is [endian, align]; returns where the format goes on."""
    if opt == 0x20:
        return i
    if opt == 0x3E:
        state[0] = _BIG
    elif opt == 0x3C:
        state[0] = _LITTLE
    elif opt == 0x21:
        a, i = _getnum(fmt, i, MAXALIGN)
        if a <= 0 or a & (a - 1):
            raise FormatError("alignment %d is not a power of 2" % a)
        state[1] = a
    else:
        raise ArgError(1, b"invalid format option '%c'" % opt)
    return i


def _to_int64(v: float) -> int:
    """A (long) cast on x86-64: truncation; nan and out-of-range give INT64_MIN."""
    if v != v or not -9.223372036854775808e18 <= v < 9.223372036854775808e18:
        return -_TWO63
    return int(v)


def _to_uint64(v: float) -> int:
    """A (size_t) / (unsigned long) cast as gcc compiles it on x86-64: values from 2^63
    are converted after subtracting 2^63 (so 2^64 and inf wrap to 0); below, a signed
    conversion (nan and very negative values give 2^63, -1 gives 2^64-1)."""
    if v >= 9.223372036854775808e18:
        return (_to_int64(v - 9.223372036854775808e18) & _MASK64) ^ _TWO63
    return _to_int64(v) & _MASK64


def _float32(v: float, endian: int) -> bytes:
    code = ">f" if endian == _BIG else "<f"
    try:
        return pystruct.pack(code, v)
    except OverflowError:  # the C cast gives an infinity
        return pystruct.pack(code, float("inf") if v > 0 else float("-inf"))


def _check_number(args: Sequence[Any], n: int) -> float:
    """luaL_checknumber of argument `n` (1-based; args[0] is argument 2)."""
    v = args[n - 2] if n - 2 < len(args) else None
    x = tonumber(v)
    if x is None:
        raise ArgError(n, b"number expected, got %s" % type_name(v).encode())
    return x


def _check_string(args: Sequence[Any], n: int) -> bytes:
    v = args[n - 2] if n - 2 < len(args) else None
    s = tostr(v)
    if s is None:
        raise ArgError(n, b"string expected, got %s" % type_name(v).encode())
    return s


def pack(fmt: bytes, args: Sequence[Any]) -> bytes:
    """b_pack: `args` are the values after the format (Lua arguments 2, 3, ...). A
    missing one reads as nil (FormatError / ArgError as the C raises them)."""
    fmt = _cformat(fmt)
    out = bytearray()
    state = [_LITTLE, 1]
    arg = 2
    total = 0
    i = 0
    while i < len(fmt):
        opt = fmt[i]
        i += 1
        size, i = _optsize(opt, fmt, i)
        pad = _toalign(total, state[1], opt, size)
        total += pad
        out += bytes(pad)
        if opt in _INTEGERS:
            n = _check_number(args, arg)
            arg += 1
            value = _to_int64(n) & _MASK64 if n < 0 else _to_uint64(n)
            raw = (value.to_bytes(8, "little") + bytes(MAXINTSIZE))[:size]
            out += raw if state[0] == _LITTLE else raw[::-1]
        elif opt == 0x78:  # 'x'
            out.append(0)
        elif opt == 0x66:  # 'f'
            out += _float32(_check_number(args, arg), state[0])
            arg += 1
        elif opt == 0x64:  # 'd'
            out += pystruct.pack(">d" if state[0] == _BIG else "<d", _check_number(args, arg))
            arg += 1
        elif opt == 0x63 or opt == 0x73:  # 'c', 's'
            s = _check_string(args, arg)
            arg += 1
            if size == 0:
                size = len(s)
            if len(s) < size:
                raise ArgError(arg, b"string too short")  # `arg` has already moved on
            out += s[:size]
            if opt == 0x73:
                out.append(0)
                size += 1
        else:
            i = _control(opt, fmt, i, state)
        total += size
    return bytes(out)


def _getinteger(raw: bytes, endian: int, signed: bool) -> float:
    """getinteger: the bytes into a 64-bit accumulator (the last 8 shifted in survive),
    then a sign extension from bit (8 * size - 1) mod 64."""
    size = len(raw)
    if endian == _BIG:
        value = int.from_bytes(raw[-8:], "big")
    else:
        value = int.from_bytes(raw[:8], "little")
    if signed:
        mask = (_MASK64 << ((size * 8 - 1) & 63)) & _MASK64
        if value & mask:
            value |= mask
        if value >= _TWO63:
            value -= 2**64
    return float(value)


def unpack(fmt: bytes, data: bytes, pos: int = 1, nargs: int = 2) -> list[Any]:
    """b_unpack: the values read from `data` at 1-based `pos` (lua_Integer as given),
    then the position after them. `nargs` is the number of arguments on the stack."""
    if pos == 0:  # the C tests a size_t: only 0 fails, negatives wrap far past the end
        raise ArgError(3, b"offset must be 1 or greater")
    fmt = _cformat(fmt)
    ld = len(data)
    pos = (pos - 1) & _MASK64
    state = [_LITTLE, 1]
    results: list[Any] = []
    i = 0
    while i < len(fmt):
        opt = fmt[i]
        i += 1
        size, i = _optsize(opt, fmt, i)
        pos = (pos + _toalign(pos, state[1], opt, size)) & _MASK64
        if not (size <= ld and pos <= ld - size):
            raise ArgError(2, b"data string too short")
        # Room for this item and the final position.
        if nargs + len(results) + 2 > MAXCSTACK:
            raise FormatError("stack overflow (too many results)")
        if opt in _INTEGERS:
            results.append(_getinteger(data[pos:pos + size], state[0], opt >= 0x61))
        elif opt == 0x78:  # 'x'
            pass
        elif opt == 0x66 or opt == 0x64:  # 'f', 'd'
            code = (">" if state[0] == _BIG else "<") + ("f" if opt == 0x66 else "d")
            results.append(pystruct.unpack_from(code, data, pos)[0])
        elif opt == 0x63:  # 'c'
            if size == 0:
                # The length is the previous result (a number or a numeric string).
                count = tonumber(results[-1]) if results else None
                if count is None:
                    raise FormatError("format 'c0' needs a previous size")
                size = _to_uint64(count)
                results.pop()
                if not (size <= ld and pos <= ld - size):
                    raise ArgError(2, b"data string too short")
            results.append(data[pos:pos + size])
        elif opt == 0x73:  # 's'
            end = data.find(b"\0", pos)
            if end < 0:
                raise FormatError("unfinished string in data")
            size = end - pos + 1
            results.append(data[pos:end])
        else:
            i = _control(opt, fmt, i, state)
        pos = (pos + size) & _MASK64
    end_pos = (pos + 1) & _MASK64
    results.append(float(end_pos - 2**64 if end_pos >= _TWO63 else end_pos))
    return results


def size(fmt: bytes) -> int:
    """b_size: the bytes `fmt` packs to, with alignment. Unknown letters and digits are
    skipped here (only other characters go through the option check)."""
    fmt = _cformat(fmt)
    state = [_LITTLE, 1]
    pos = 0
    i = 0
    while i < len(fmt):
        opt = fmt[i]
        i += 1
        n, i = _optsize(opt, fmt, i)
        pos += _toalign(pos, state[1], opt, n)
        if opt == 0x73:
            raise ArgError(1, b"option 's' has no fixed size")
        if opt == 0x63 and n == 0:
            raise ArgError(1, b"option 'c0' has no fixed size")
        if opt not in _ALNUM:
            i = _control(opt, fmt, i, state)
        pos += n
    return pos


def install_struct(rt: Runtime) -> LuaTable:
    L = Lib(rt)

    def fail(exc: Exception, fname: str) -> Exception:
        if isinstance(exc, ArgError):
            # luaL_argerror; called from C (pcall(struct.pack, ...)) the name is unknown.
            name = b"?" if rt.line == 0 else fname.encode()
            return rt.error(b"bad argument #%d to '%s' (%s)" % (exc.args[0], name, exc.args[1]))
        return rt.error(exc.args[0])

    def pack_(*args: Any) -> list[Any]:
        fmt = L.check_str(args, 0, "pack")
        try:
            return [pack(fmt, args[1:])]
        except (ArgError, FormatError) as exc:
            raise fail(exc, "pack") from None

    def unpack_(*args: Any) -> list[Any]:
        fmt = L.check_str(args, 0, "unpack")
        data = L.check_str(args, 1, "unpack")
        pos = 1
        if len(args) > 2 and args[2] is not None:
            pos = _to_int64(L.check_num(args, 2, "unpack"))
        try:
            return unpack(fmt, data, pos, len(args))
        except (ArgError, FormatError) as exc:
            raise fail(exc, "unpack") from None

    def size_(*args: Any) -> list[Any]:
        fmt = L.check_str(args, 0, "size")
        try:
            return [float(size(fmt))]
        except (ArgError, FormatError) as exc:
            raise fail(exc, "size") from None

    lib = _lib_table({"pack": pack_, "unpack": unpack_, "size": size_})
    # luaL_register makes the table with room for its three functions, which decides
    # the order pairs() lists them in.
    lib.hint = (0, 3, 0)
    return lib
