"""The extra libraries Redis loads into its Lua state: `bit` (LuaBitOp) and `cjson`
(lua-cjson's encode/decode with its default settings)."""

from __future__ import annotations

import json
import math
from typing import Any

from aikv.scripting.runtime import Runtime
from aikv.scripting.stdlib import Lib, _lib_table
from aikv.scripting.values import LuaTable, fmt_number, type_name


def _tobit(x: float) -> int:
    """LuaBitOp's normalisation: the number modulo 2^32, as a signed 32-bit integer."""
    if x != x or math.isinf(x):
        return 0
    n = int(round(x)) & 0xFFFFFFFF  # round half to even, as the FPU does in bit.c
    return n - (1 << 32) if n & 0x80000000 else n


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
        n = arg(args, 1, "tohex") if len(args) > 1 and args[1] is not None else 8
        upper = n < 0
        n = min(abs(n), 8) if n else 8
        text = ("%0*X" if upper else "%0*x") % (8, x)
        return [text[-n:].encode()]

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

    def encode_value(v: Any, out: bytearray, depth: int) -> None:
        t = type(v)
        if t is bytes:
            _encode_string(v, out)
        elif t is float:
            if math.isinf(v) or v != v:
                raise rt.error("Cannot serialise number: must not be NaN or Inf")
            out += fmt_number(v)
        elif t is bool:
            out += b"true" if v else b"false"
        elif v is None or v is NULL:
            out += b"null"
        elif t is LuaTable:
            if depth > 1000:
                raise rt.error("Cannot serialise, excessive nesting (1001)")
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
                if max_index > 10 and max_index > 2 * len(items):
                    raise rt.error("Cannot serialise table: excessively sparse array")
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
                        if math.isinf(k):  # NaN is never a key
                            raise rt.error("Cannot serialise number: must not be NaN or Inf")
                        _encode_string(fmt_number(k), out)
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
            raise rt.error("bad argument #1 to 'encode' (expected 1 argument)")
        out = bytearray()
        encode_value(args[0], out, 0)
        return [bytes(out)]

    def to_lua(v: Any) -> Any:
        if v is None:
            return NULL
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, str):
            return v.encode("utf-8", "surrogatepass")
        if isinstance(v, list):
            t = LuaTable()
            for i, x in enumerate(v):
                t.set(float(i + 1), to_lua(x))
            return t
        t = LuaTable()
        for k, x in v.items():
            t.set(k.encode("utf-8", "surrogatepass"), to_lua(x))
        return t

    def decode(*args: Any) -> list[Any]:
        s = L.check_str(args, 0, "decode")
        try:
            value = json.loads(s.decode("utf-8", "surrogateescape"),
                               parse_constant=lambda c: float(c))
        except (ValueError, RecursionError) as exc:
            raise rt.error("Expected value but found invalid token at character %d"
                           % (getattr(exc, "pos", 0) + 1)) from None
        return [to_lua(value)]

    lib = _lib_table({"encode": encode, "decode": decode})
    lib.hash[b"null"] = NULL
    for name in ("encode_keep_buffer", "encode_max_depth", "decode_max_depth",
                 "encode_number_precision", "encode_sparse_array", "decode_invalid_numbers",
                 "encode_invalid_numbers"):
        lib.hash[name.encode()] = lib.hash[b"encode"]
    return lib
