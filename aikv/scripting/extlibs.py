"""The extra libraries Redis loads into its Lua state: `bit` (LuaBitOp) and `cjson`
(lua-cjson's encode/decode with its default settings)."""

from __future__ import annotations

import math
import struct
from typing import Any

from aikv.scripting import cjson_decode
from aikv.scripting.runtime import Runtime
from aikv.scripting.stdlib import Lib, _lib_table
from aikv.scripting.values import LuaTable, fmt_number, type_name

_DOUBLE = struct.Struct("<d")
_QWORD = struct.Struct("<Q")


def _tobit(x: float) -> int:
    """LuaBitOp's normalisation (barg), as a signed 32-bit integer: 2^52 + 2^51 is added
    to the double and the low 32 bits of its representation are taken, which is the
    number rounded half to even modulo 2^32 while it is below 2^51 in size, and whatever
    the mantissa holds beyond that (0 for NaN and the infinities)."""
    bits = _QWORD.unpack(_DOUBLE.pack(x + 6755399441055744.0))[0] & 0xFFFFFFFF
    return bits - (1 << 32) if bits & 0x80000000 else bits


def install_bit(rt: Runtime) -> LuaTable:
    L = Lib(rt)

    def arg(args: tuple[Any, ...], i: int, name: str) -> int:
        return _tobit(L.check_num(args, i, name))

    def nary(name: str, op: Any) -> Any:
        def f(*args: Any) -> list[Any]:
            acc = arg(args, 0, name)
            for i in range(1, len(args)):
                acc = op(acc, arg(args, i, name))
            return [float(_tobit(float(acc)))]
        return f

    def tobit(*args: Any) -> list[Any]:
        return [float(arg(args, 0, "tobit"))]

    def bnot(*args: Any) -> list[Any]:
        return [float(_tobit(float(~arg(args, 0, "bnot"))))]

    def shift(name: str, kind: str) -> Any:
        def f(*args: Any) -> list[Any]:
            x = arg(args, 0, name) & 0xFFFFFFFF
            n = arg(args, 1, name) & 31
            if kind == "l":
                r = (x << n) & 0xFFFFFFFF
            elif kind == "r":
                r = x >> n
            else:
                signed = x - (1 << 32) if x & 0x80000000 else x
                r = (signed >> n) & 0xFFFFFFFF
            return [float(_tobit(float(r)))]
        return f

    def rol(*args: Any) -> list[Any]:
        x = arg(args, 0, "rol") & 0xFFFFFFFF
        n = arg(args, 1, "rol") & 31
        return [float(_tobit(float(((x << n) | (x >> (32 - n))) & 0xFFFFFFFF)))]

    def ror(*args: Any) -> list[Any]:
        x = arg(args, 0, "ror") & 0xFFFFFFFF
        n = arg(args, 1, "ror") & 31
        return [float(_tobit(float(((x >> n) | (x << (32 - n))) & 0xFFFFFFFF)))]

    def bswap(*args: Any) -> list[Any]:
        x = arg(args, 0, "bswap") & 0xFFFFFFFF
        return [float(_tobit(float(int.from_bytes(x.to_bytes(4, "little"), "big"))))]

    def tohex(*args: Any) -> list[Any]:
        x = arg(args, 0, "tohex") & 0xFFFFFFFF
        # Only an absent count is 8 (a nil one is an error); 0 digits make "".
        n = arg(args, 1, "tohex") if len(args) > 1 else 8
        upper = n < 0
        n = min(abs(n), 8)
        text = ("%0*X" if upper else "%0*x") % (8, x)
        return [text[8 - n:].encode()]

    return _lib_table({
        "tobit": tobit, "bnot": bnot, "band": nary("band", lambda a, b: a & b),
        "bor": nary("bor", lambda a, b: a | b), "bxor": nary("bxor", lambda a, b: a ^ b),
        "lshift": shift("lshift", "l"), "rshift": shift("rshift", "r"),
        "arshift": shift("arshift", "a"), "rol": rol, "ror": ror, "bswap": bswap,
        "tohex": tohex})


class _Null:
    """cjson.null: a light userdata in lua-cjson."""

    __slots__ = ()


NULL = _Null()
_ESCAPES = {0x22: b'\\"', 0x5C: b"\\\\", 0x2F: b"\\/", 0x08: b"\\b", 0x0C: b"\\f",
            0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}


def _encode_string(s: bytes, out: bytearray) -> None:
    out.append(0x22)
    for c in s:
        esc = _ESCAPES.get(c)
        if esc is not None:
            out += esc
        elif c < 0x20 or c == 0x7F:
            out += b"\\u%04x" % c
        else:
            out.append(c)
    out.append(0x22)


_INT_MAX = 2**31 - 1
_INT_MIN = -(2**31)  # what x86-64 stores converting an out-of-range double to int


def install_cjson(rt: Runtime) -> LuaTable:
    L = Lib(rt)
    # lua-cjson's settings (json_config_t), kept for the life of the Lua state.
    cfg = {"sparse_convert": 0, "sparse_ratio": 2, "sparse_safe": 10,
           "encode_max_depth": 1000, "decode_max_depth": 1000,
           "encode_invalid_numbers": 0, "decode_invalid_numbers": 1,
           "encode_keep_buffer": 1, "encode_number_precision": 14}

    def encode_number(v: float, out: bytearray) -> None:
        if math.isinf(v) or v != v:
            mode = cfg["encode_invalid_numbers"]
            if mode == 0:
                raise rt.error("Cannot serialise number: must not be NaN or Inf")
            if mode == 2:
                out += b"null"
                return
            if v != v:
                out += b"nan"
                return
        precision = cfg["encode_number_precision"]
        out += fmt_number(v) if precision == 14 else _fmt_precision(v, precision)

    def encode_value(v: Any, out: bytearray, depth: int) -> None:
        t = type(v)
        if t is bytes:
            _encode_string(v, out)
        elif t is float:
            encode_number(v, out)
        elif t is bool:
            out += b"true" if v else b"false"
        elif v is None or v is NULL:
            out += b"null"
        elif t is LuaTable:
            if depth + 1 > cfg["encode_max_depth"]:
                raise rt.error("Cannot serialise, excessive nesting (%d)" % (depth + 1))
            items = v.items()
            # lua_array_length, in next() order: the largest key is kept in a C int, so
            # a key past INT_MAX (or inf) stores INT_MIN and the table becomes an object
            # unless a later key is larger than that.
            max_index = 0
            is_array = True
            for k, _ in items:
                if type(k) is float and k >= 1 and (k == math.inf or k % 1.0 == 0.0):
                    if k > max_index:
                        max_index = int(k) if k <= _INT_MAX else _INT_MIN
                else:
                    is_array = False
                    break
            if is_array and max_index > 0:
                ratio, safe = cfg["sparse_ratio"], cfg["sparse_safe"]
                if ratio > 0 and max_index > safe and max_index > ratio * len(items):
                    if not cfg["sparse_convert"]:
                        raise rt.error("Cannot serialise table: excessively sparse array")
                    is_array = False
            if is_array and max_index > 0:
                out.append(0x5B)
                for i in range(1, max_index + 1):
                    if i > 1:
                        out.append(0x2C)
                    encode_value(v.get(float(i)), out, depth + 1)
                out.append(0x5D)
            else:
                out.append(0x7B)
                first = True
                for k, x in items:
                    if not first:
                        out.append(0x2C)
                    first = False
                    if type(k) is bytes:
                        _encode_string(k, out)
                    elif type(k) is float:
                        number = bytearray()
                        encode_number(k, number)  # NaN is never a key
                        _encode_string(bytes(number), out)
                    else:
                        raise rt.error("Cannot serialise %s: table key must be a number or "
                                       "string" % type_name(k))
                    out.append(0x3A)
                    encode_value(x, out, depth + 1)
                out.append(0x7D)
        else:
            raise rt.error("Cannot serialise %s: type not supported" % type_name(v))

    def encode(*args: Any) -> list[Any]:
        if len(args) != 1:
            raise L.argerror(1, "encode", "expected 1 argument")
        out = bytearray()
        encode_value(args[0], out, 0)
        return [bytes(out)]

    def decode(*args: Any) -> list[Any]:
        if len(args) != 1:
            raise L.argerror(1, "decode", "expected 1 argument")
        s = L.check_str(args, 0, "decode")
        try:
            return [cjson_decode.decode(s, int(cfg["decode_max_depth"]),
                                        bool(cfg["decode_invalid_numbers"]), NULL)]
        except cjson_decode.JsonDecodeError as exc:
            raise rt.error(str(exc)) from None

    def integer_option(args: tuple[Any, ...], i: int, fname: str, key: str,
                       low: int, high: int) -> float:
        # json_integer_option
        if i < len(args) and args[i] is not None:
            value = L.check_int(args, i, fname)
            if not low <= value <= high:
                raise L.argerror(1, fname, "expected integer between %d and %d" % (low, high))
            cfg[key] = value
        return float(cfg[key])

    def enum_option(args: tuple[Any, ...], i: int, fname: str, key: str,
                    options: tuple[bytes, ...] = (b"off", b"on")) -> Any:
        # json_enum_option with bool_true 1: true/false or one of the option names
        if i < len(args) and args[i] is not None:
            v = args[i]
            if type(v) is bool:
                cfg[key] = int(v)
            else:
                name = L.check_str(args, i, fname)
                if name not in options:
                    raise L.argerror(i + 1, fname, "invalid option '%s'" % name.decode(
                        "utf-8", "replace"))
                cfg[key] = options.index(name)
        setting = cfg[key]
        return bool(setting) if setting in (0, 1) else options[setting]

    def cfg_fn(fname: str, key: str, low: int = 0, high: int = 0) -> Any:
        def f(*args: Any) -> list[Any]:
            if len(args) > 1:
                raise rt.error("bad argument #2 to '%s' (found too many arguments)" % fname)
            if high:
                return [integer_option(args, 0, fname, key, low, high)]
            if key == "encode_invalid_numbers":
                return [enum_option(args, 0, fname, key, (b"off", b"on", b"null"))]
            return [enum_option(args, 0, fname, key)]
        return f

    def encode_sparse_array(*args: Any) -> list[Any]:
        if len(args) > 3:
            raise rt.error("bad argument #4 to 'encode_sparse_array' (found too many "
                           "arguments)")
        fname = "encode_sparse_array"
        return [enum_option(args, 0, fname, "sparse_convert"),
                integer_option(args, 1, fname, "sparse_ratio", 0, _INT_MAX),
                integer_option(args, 2, fname, "sparse_safe", 0, _INT_MAX)]

    lib = _lib_table({
        "encode": encode, "decode": decode,
        "encode_keep_buffer": cfg_fn("encode_keep_buffer", "encode_keep_buffer"),
        "encode_max_depth": cfg_fn("encode_max_depth", "encode_max_depth", 1, _INT_MAX),
        "decode_max_depth": cfg_fn("decode_max_depth", "decode_max_depth", 1, _INT_MAX),
        "encode_number_precision": cfg_fn("encode_number_precision",
                                          "encode_number_precision", 1, 14),
        "encode_sparse_array": encode_sparse_array,
        "decode_invalid_numbers": cfg_fn("decode_invalid_numbers", "decode_invalid_numbers"),
        "encode_invalid_numbers": cfg_fn("encode_invalid_numbers", "encode_invalid_numbers"),
    })
    lib.hash[b"null"] = NULL
    return lib


def _fmt_precision(v: float, precision: int) -> bytes:
    """fpconv_g_fmt with a precision other than Lua's 14: "%.<precision>g"."""
    if v == int(v) and abs(v) < 10 ** precision:
        return b"%d" % v if v or math.copysign(1.0, v) > 0 else b"-0"
    return b"%.*g" % (precision, v)
