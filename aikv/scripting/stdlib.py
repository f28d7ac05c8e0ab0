"""The Lua 5.1 standard library subset Redis scripts get: base functions, string (with
Lua patterns), table and math, with lbaselib/lstrlib/ltablib's argument errors."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from aikv.cnum import c_int32, c_integer, c_unsigned
from aikv.scripting import runtime as R
from aikv.scripting.lpattern import SPECIALS, MatchState
from aikv.scripting.runtime import EMPTY, Runtime
from aikv.scripting.values import (
    LuaError,
    LuaSyntaxError,
    LuaTable,
    ScriptTimeout,
    fmt_number,
    str2number,
    type_name,
)

Builtin = Callable[..., list[Any]]


def _arg(args: tuple[Any, ...], i: int) -> Any:
    return args[i] if i < len(args) else None


class Lib:
    """Helpers shared by the library functions: argument checks with Lua's messages."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def argerror(self, n: int, fname: str, msg: str) -> LuaError:
        # Called from C (pcall(string.rep), ...), Lua does not know the function's name.
        if self.rt.line == 0:
            fname = "?"
        return self.rt.error(f"bad argument #{n} to '{fname}' ({msg})")

    def typeerror(self, args: tuple[Any, ...], i: int, fname: str, expected: str) -> LuaError:
        got = type_name(args[i]) if i < len(args) else "no value"
        return self.argerror(i + 1, fname, f"{expected} expected, got {got}")

    def check_str(self, args: tuple[Any, ...], i: int, fname: str) -> bytes:
        v = args[i] if i < len(args) else None
        if type(v) is bytes:
            return v
        if type(v) is float:
            return fmt_number(v)
        raise self.typeerror(args, i, fname, "string")

    def opt_str(self, args: tuple[Any, ...], i: int, fname: str, default: bytes) -> bytes:
        if i >= len(args) or args[i] is None:
            return default
        return self.check_str(args, i, fname)

    def check_num(self, args: tuple[Any, ...], i: int, fname: str) -> float:
        v = args[i] if i < len(args) else None
        if type(v) is float:
            return v
        if type(v) is bytes:
            n = str2number(v)
            if n is not None:
                return n
        raise self.typeerror(args, i, fname, "number")

    def check_integer(self, args: tuple[Any, ...], i: int, fname: str) -> int:
        """luaL_checkinteger: a 64-bit integer, as C's cast makes it (c_integer)."""
        return c_integer(self.check_num(args, i, fname))

    def opt_integer(self, args: tuple[Any, ...], i: int, fname: str, default: int) -> int:
        if i >= len(args) or args[i] is None:
            return default
        return self.check_integer(args, i, fname)

    def check_int(self, args: tuple[Any, ...], i: int, fname: str) -> int:
        """luaL_checkint: that integer cut to a C int (its low 32 bits, signed)."""
        return (c_integer(self.check_num(args, i, fname)) + 2**31) % 2**32 - 2**31

    def opt_int(self, args: tuple[Any, ...], i: int, fname: str, default: int) -> int:
        if i >= len(args) or args[i] is None:
            return default
        return self.check_int(args, i, fname)

    def check_table(self, args: tuple[Any, ...], i: int, fname: str) -> LuaTable:
        v = args[i] if i < len(args) else None
        if type(v) is LuaTable:
            return v
        raise self.typeerror(args, i, fname, "table")

    def check_any(self, args: tuple[Any, ...], i: int, fname: str) -> Any:
        if i >= len(args):
            raise self.argerror(i + 1, fname, "value expected")
        return args[i]


def _builtin(fn: Builtin) -> Builtin:
    fn.builtin = True  # type: ignore[attr-defined]
    return fn


def _lib_table(funcs: dict[str, Builtin]) -> LuaTable:
    t = LuaTable()
    for name, fn in funcs.items():
        t.hash[name.encode()] = _builtin(fn)
    return t


# ------------------------------------------------------------------------------ base
def install_base(rt: Runtime, compile_fn: Callable[[bytes, str], Any]) -> None:
    L = Lib(rt)
    G = rt.G
    stack = rt.stack

    def assert_(*args: Any) -> list[Any]:
        v = L.check_any(args, 0, "assert")
        if v is None or v is False:
            msg = L.opt_str(args, 1, "assert", b"assertion failed!")
            raise rt.error(msg)
        return list(args)

    def error(*args: Any) -> list[Any]:
        msg = _arg(args, 0)
        level = L.opt_int(args, 1, "error", 1)
        if type(msg) is float and level > 0:
            msg = fmt_number(msg)
        if type(msg) is bytes and level > 0:
            line = rt.line if level == 1 else (
                stack[-(level - 1)] if level - 1 <= len(stack) else 0)
            if line > 0:
                msg = b"%s:%d: %s" % (rt.chunk.encode(), line, msg)
        raise LuaError(msg, rt.line)

    def pcall(*args: Any) -> list[Any]:
        if not args:
            # Redis's pcall wrapper calls "argc - 1" values: its own placeholder, true.
            return [False, b"attempt to call a boolean value"]
        fn = args[0]
        depth, line = len(stack), rt.line
        try:
            r = R.call(rt, fn, args[1:], 0)
            rt.line = line
            return [True, *r]
        except LuaError as exc:
            del stack[depth:]
            rt.line = line
            value = exc.value
            if type(value) is LuaTable:
                err = value.hash.get(b"err")
                if type(err) is bytes:
                    value = err
            return [False, value]
        except RecursionError:
            del stack[depth:]
            rt.line = line
            return [False, b"stack overflow"]

    def xpcall(*args: Any) -> list[Any]:
        fn = _arg(args, 0)
        handler = _arg(args, 1)
        depth, line = len(stack), rt.line
        try:
            r = R.call(rt, fn, (), 0)
            rt.line = line
            return [True, *r]
        except (LuaError, RecursionError) as exc:
            del stack[depth:]
            rt.line = line
            value = exc.value if isinstance(exc, LuaError) else b"stack overflow"
            return [False, *R.call(rt, handler, (value,), line)[:1]]

    def type_(*args: Any) -> list[Any]:
        v = L.check_any(args, 0, "type")
        return [type_name(v).encode()]

    def tostring(*args: Any) -> list[Any]:
        v = L.check_any(args, 0, "tostring")
        h = R.metamethod(rt, v, b"__tostring")
        if h is not None:
            return [R.first(R.call(rt, h, (v,), 0))]  # whatever it returns, as luaL_callmeta
        return [R.tostring(rt, v)]

    def tonumber(*args: Any) -> list[Any]:
        base = L.opt_int(args, 1, "tonumber", 10)
        v = L.check_any(args, 0, "tonumber")
        if base == 10:
            return [R.tonum(v)]
        s = L.check_str(args, 0, "tonumber")
        if not 2 <= base <= 36:
            raise L.argerror(2, "tonumber", "base out of range")
        text = s.strip(b" \t\n\r\f\v")
        neg = False
        if text[:1] in (b"-", b"+"):
            neg = text[:1] == b"-"
            text = text[1:]
        if base == 16 and text[:2].lower() == b"0x":
            text = text[2:]
        try:
            n = int(text, base) if text and b"_" not in text else None
        except ValueError:
            n = None
        if n is None:
            return [None]
        n = min(n, 2**64 - 1)
        if neg:
            n = (-n) % 2**64
        return [float(n)]

    def inext(*args: Any) -> list[Any]:
        t, i = args[0], args[1] + 1.0
        v = t.get(i) if type(t) is LuaTable else R.index(rt, t, i, rt.line)
        if v is None:
            return EMPTY
        return [i, v]

    def ipairs(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "ipairs")
        return [inext_b, t, 0.0]

    def next_(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "next")
        try:
            r = t.next(_arg(args, 1))
        except LuaError as exc:
            raise rt.error(exc.value) from None
        return [None] if r is None else [r[0], r[1]]

    def pairs(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "pairs")
        return [next_b, t, None]

    def select(*args: Any) -> list[Any]:
        n = _arg(args, 0)
        top = len(args)
        if type(n) is bytes and n[:1] == b"#":  # (Lua looks at the first character only)
            return [float(top - 1)]
        i = L.check_int(args, 0, "select")
        if i < 0:
            i = top + i
        elif i > top:
            i = top
        if i < 1:
            raise L.argerror(1, "select", "index out of range")
        return list(args[i:])

    def unpack(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "unpack")
        i = L.opt_int(args, 1, "unpack", 1)
        j = L.opt_int(args, 2, "unpack", t.length()) if len(args) > 2 and args[2] is not None \
            else t.length()
        if i > j:
            return EMPTY
        # luaB_unpack's lua_checkstack: its own arguments plus the results must fit in
        # LUAI_MAXCSTACK (8000) slots.
        if len(args) + (j - i + 1) > 8000:
            raise rt.error("too many results to unpack")
        get = t.get
        return [get(float(k)) for k in range(i, j + 1)]

    def rawget(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "rawget")
        L.check_any(args, 1, "rawget")
        return [t.get(args[1])]

    def rawset(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "rawset")
        L.check_any(args, 1, "rawset")
        L.check_any(args, 2, "rawset")
        if t.readonly:
            raise rt.error("Attempt to modify a readonly table")
        try:
            t.set(args[1], args[2])
        except LuaError as exc:
            raise rt.error(exc.value) from None
        return [t]

    def rawequal(*args: Any) -> list[Any]:
        a = L.check_any(args, 0, "rawequal")
        b = L.check_any(args, 1, "rawequal")
        return [type(a) is type(b) and (a is b or (type(a) in (float, bytes, bool) and a == b))]

    def setmetatable(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "setmetatable")
        mt = _arg(args, 1)
        if (mt is not None or len(args) < 2) and type(mt) is not LuaTable:  # (absent: no)
            raise L.argerror(2, "setmetatable", "nil or table expected")
        if t.meta is not None and t.meta.hash.get(b"__metatable") is not None:
            raise rt.error("cannot change a protected metatable")
        if t.readonly:
            raise rt.error("Attempt to modify a readonly table")
        t.meta = mt
        return [t]

    def getmetatable(*args: Any) -> list[Any]:
        v = L.check_any(args, 0, "getmetatable")
        mt = R.getmeta(rt, v)
        if mt is None:
            return [None]
        protected = mt.hash.get(b"__metatable")
        return [mt if protected is None else protected]

    def loadstring(*args: Any) -> list[Any]:
        src = L.check_str(args, 0, "loadstring")
        name = L.opt_str(args, 1, "loadstring", src)
        try:
            return [compile_fn(src, name.decode(errors="replace"))]
        except LuaSyntaxError as exc:
            return [None, str(exc).encode()]

    def load(*args: Any) -> list[Any]:
        fn = L.check_any(args, 0, "load")
        name = L.opt_str(args, 1, "load", b"=(load)")
        pieces = []
        while True:
            piece = R.first(R.call(rt, fn, (), 0))
            if piece is None or piece == b"":
                break
            if type(piece) is not bytes:
                return [None, b"reader function must return a string"]
            pieces.append(piece)
        try:
            return [compile_fn(b"".join(pieces), name.decode(errors="replace"))]
        except LuaSyntaxError as exc:
            return [None, str(exc).encode()]

    def collectgarbage(*args: Any) -> list[Any]:
        return [0.0]

    def gcinfo(*args: Any) -> list[Any]:
        return [0.0]

    inext_b = _builtin(inext)
    next_b = _builtin(next_)
    rt.next_fn = next_b
    rt.inext_fn = inext_b
    for name, fn in [("assert", assert_), ("error", error), ("pcall", pcall),
                     ("xpcall", xpcall), ("type", type_), ("tostring", tostring),
                     ("tonumber", tonumber), ("ipairs", ipairs), ("pairs", pairs),
                     ("select", select), ("unpack", unpack), ("rawget", rawget),
                     ("rawset", rawset), ("rawequal", rawequal),
                     ("setmetatable", setmetatable), ("getmetatable", getmetatable),
                     ("loadstring", loadstring), ("load", load),
                     ("collectgarbage", collectgarbage),
                     ("gcinfo", gcinfo)]:
        G.hash[name.encode()] = _builtin(fn)
    G.hash[b"next"] = next_b
    G.hash[b"_G"] = G
    G.hash[b"_VERSION"] = b"Lua 5.1"


# ------------------------------------------------------------------------------ string
def _posrelat(pos: int, n: int) -> int:
    """lstrlib.c's posrelat: a negative position counts from the end; before the start
    is 0 (string.byte's default end is this clamped start)."""
    if pos < 0:
        pos += n + 1
    return pos if pos >= 0 else 0


def _fmt_q(s: bytes) -> bytes:
    out = bytearray(b'"')
    for c in s:
        if c in (34, 92, 10):
            out += b"\\" + bytes([c])
        elif c == 13:
            out += b"\\r"
        elif c == 0:
            out += b"\\000"
        else:
            out.append(c)
    out += b'"'
    return bytes(out)


def install_string(rt: Runtime) -> LuaTable:
    L = Lib(rt)

    def len_(*args: Any) -> list[Any]:
        return [float(len(L.check_str(args, 0, "len")))]

    def sub(*args: Any) -> list[Any]:
        s = L.check_str(args, 0, "sub")
        n = len(s)
        i = _posrelat(L.opt_integer(args, 1, "sub", 1), n)
        j = _posrelat(L.opt_integer(args, 2, "sub", -1), n)
        if i < 1:
            i = 1
        if j > n:
            j = n
        return [s[i - 1:j] if i <= j else b""]

    def upper(*args: Any) -> list[Any]:
        return [L.check_str(args, 0, "upper").upper()]

    def lower(*args: Any) -> list[Any]:
        return [L.check_str(args, 0, "lower").lower()]

    def rep(*args: Any) -> list[Any]:
        s = L.check_str(args, 0, "rep")
        n = L.check_int(args, 1, "rep")
        if n <= 0:
            return [b""]
        if len(s) * n > 512 * 1024 * 1024:
            raise rt.error("not enough memory")
        return [s * n]

    def reverse(*args: Any) -> list[Any]:
        return [L.check_str(args, 0, "reverse")[::-1]]

    def byte(*args: Any) -> list[Any]:
        s = L.check_str(args, 0, "byte")
        n = len(s)
        i = _posrelat(L.opt_integer(args, 1, "byte", 1), n)
        j = _posrelat(L.opt_integer(args, 2, "byte", i), n)
        if i <= 0:
            i = 1
        if j > n:
            j = n
        if i > j:
            return EMPTY
        return [float(c) for c in s[i - 1:j]]

    def char(*args: Any) -> list[Any]:
        out = bytearray()
        for k in range(len(args)):
            c = L.check_int(args, k, "char")
            if not 0 <= c <= 255:
                raise L.argerror(k + 1, "char", "invalid value")
            out.append(c)
        return [bytes(out)]

    def format_(*args: Any) -> list[Any]:
        fmt = L.check_str(args, 0, "format")
        out = bytearray()
        i = 0
        arg = 0
        n = len(fmt)
        while i < n:
            c = fmt[i]
            if c != 37:
                out.append(c)
                i += 1
                continue
            i += 1
            if i < n and fmt[i] == 37:
                out.append(37)
                i += 1
                continue
            arg += 1
            start = i
            while i < n and fmt[i] in b"-+ #0":
                i += 1
            if i - start > 5:
                raise rt.error("invalid format (repeated flags)")
            for _ in range(2):
                if i < n and 48 <= fmt[i] <= 57:
                    i += 1
            if i < n and fmt[i] == 46:
                i += 1
                for _ in range(2):
                    if i < n and 48 <= fmt[i] <= 57:
                        i += 1
            if i < n and 48 <= fmt[i] <= 57:
                raise rt.error("invalid format (width or precision too long)")
            spec = fmt[start:i]
            if i >= n:
                raise rt.error("invalid option '%' to 'format'")
            conv = fmt[i]
            i += 1
            if arg >= len(args):
                raise L.argerror(arg + 1, "format", "no value")
            if conv == 99:  # c
                # C's sprintf into a buffer, then strlen: width applies, and a NUL
                # character ends what is kept ("%c" of 0 adds nothing).
                char = (b"%" + spec + b"c") % (c_int32(L.check_num(args, arg, "format")) & 255)
                out += char.partition(b"\0")[0]
            elif conv in (100, 105):  # d i
                iv = c_integer(L.check_num(args, arg, "format"))
                out += (b"%" + spec + b"d") % iv
            elif conv in (111, 117, 120, 88):  # o u x X
                iv = c_unsigned(L.check_num(args, arg, "format"))
                letter = b"d" if conv == 117 else bytes([conv])
                if conv == 111 and b"#" in spec:
                    # C's alternate octal form is a leading 0, Python's is 0o.
                    text = (b"%" + spec.replace(b"#", b"") + b"o") % iv
                    stripped = text.lstrip(b" ")
                    if not stripped.startswith(b"0"):
                        pad = len(text) - len(stripped)
                        text = b" " * max(pad - 1, 0) + b"0" + stripped
                    out += text
                else:
                    out += (b"%" + spec + letter) % iv
            elif conv in (101, 69, 102, 103, 71):  # e E f g G
                v = L.check_num(args, arg, "format")
                if v != v or math.isinf(v):
                    # glibc pads inf and nan with spaces even under the 0 flag.
                    flags = len(spec) - len(spec.lstrip(b"-+ #0"))
                    spec = spec[:flags].replace(b"0", b"") + spec[flags:]
                form = b"%" + spec + bytes([conv])
                if v != v and math.copysign(1.0, v) < 0:
                    # glibc writes "-nan" for a NaN with its sign bit set (0/0 on x86), a
                    # sign Python drops: format -inf the same way and rename it.
                    text = (form % -math.inf).replace(b"inf", b"nan").replace(b"INF", b"NAN")
                else:
                    text = form % v
                out += text
            elif conv == 113:  # q
                out += _fmt_q(L.check_str(args, arg, "format"))
            elif conv == 115:  # s
                s = L.check_str(args, arg, "format")
                if b"." not in spec and len(s) >= 100:
                    out += s  # kept whole, NULs included, as Lua 5.1 does
                else:
                    # Formatted as a C string: it ends at its first NUL.
                    out += (b"%" + spec + b"s") % s.partition(b"\0")[0]
            else:
                raise rt.error(f"invalid option '%{chr(conv)}' to 'format'")
        return [bytes(out)]

    def find_aux(args: tuple[Any, ...], find: bool) -> list[Any]:
        fname = "find" if find else "match"
        s = L.check_str(args, 0, fname)
        p = L.check_str(args, 1, fname)
        init = _posrelat(L.opt_integer(args, 2, fname, 1), len(s)) - 1
        if init < 0:
            init = 0
        elif init > len(s):
            init = len(s)
        plain = _arg(args, 3)
        if find and ((plain is not None and plain is not False)
                     or not any(c in SPECIALS for c in p.partition(b"\0")[0])):
            pos = s.find(p, init)
            if pos < 0:
                return [None]
            return [float(pos + 1), float(pos + len(p))]
        anchor = p[:1] == b"^"
        pstart = 1 if anchor else 0
        ms = MatchState(s, p)
        s1 = init
        try:
            while True:
                ms.reset()
                e = ms.match(s1, pstart)
                if e is not None:
                    if find:
                        return [float(s1 + 1), float(e), *ms.captures(s1, e, False)]
                    return ms.captures(s1, e, True)
                s1 += 1
                if anchor or s1 > len(s):
                    return [None]
        except LuaError as exc:
            raise rt.error(exc.value) from None

    def find(*args: Any) -> list[Any]:
        return find_aux(args, True)

    def match(*args: Any) -> list[Any]:
        return find_aux(args, False)

    def gmatch(*args: Any) -> list[Any]:
        s = L.check_str(args, 0, "gmatch")
        p = L.check_str(args, 1, "gmatch")
        pos = [0]

        def it(*_: Any) -> list[Any]:
            ms = MatchState(s, p)
            src = pos[0]
            try:
                while src <= len(s):
                    ms.reset()
                    e = ms.match(src, 0)
                    if e is not None:
                        pos[0] = e + 1 if e == src else e
                        return ms.captures(src, e, True)
                    src += 1
            except LuaError as exc:
                raise rt.error(exc.value) from None
            pos[0] = len(s) + 1
            return [None]

        return [_builtin(it)]

    def gsub(*args: Any) -> list[Any]:
        src = L.check_str(args, 0, "gsub")
        p = L.check_str(args, 1, "gsub")
        repl = _arg(args, 2)
        tr = type(repl)
        if not (tr in (float, bytes, LuaTable) or callable(repl)):
            raise L.argerror(3, "gsub", "string/function/table expected")
        max_n = L.opt_int(args, 3, "gsub", len(src) + 1)
        anchor = p[:1] == b"^"
        pstart = 1 if anchor else 0
        if tr is float:
            repl = fmt_number(repl)
            tr = bytes
        ms = MatchState(src, p)
        out = bytearray()
        s = 0
        n = 0
        try:
            while n < max_n:
                ms.reset()
                e = ms.match(s, pstart)
                if e is not None:
                    n += 1
                    whole = src[s:e]
                    if tr is bytes:
                        j = 0
                        rl = len(repl)
                        while j < rl:
                            c = repl[j]
                            if c == 37:
                                j += 1
                                d = repl[j] if j < rl else 0
                                if 48 <= d <= 57:
                                    if d == 48:
                                        out += whole
                                    else:
                                        cap = ms.get_capture(d - 49, s, e)
                                        out += cap if type(cap) is bytes else fmt_number(cap)
                                else:  # (a '%' last adds the NUL that ends Lua's string)
                                    out.append(d)
                            else:
                                out.append(c)
                            j += 1
                    else:
                        cap0 = ms.get_capture(0, s, e)
                        if tr is LuaTable:
                            value = R.index(rt, repl, cap0, rt.line)
                        else:
                            line = rt.line
                            rt.line = 0
                            value = R.first(repl(*ms.captures(s, e, True)))
                            rt.line = line
                        if value is None or value is False:
                            out += whole
                        elif type(value) is bytes:
                            out += value
                        elif type(value) is float:
                            out += fmt_number(value)
                        else:
                            raise rt.error(f"invalid replacement value (a {type_name(value)})")
                if e is not None and e > s:
                    s = e
                elif s < len(src):
                    out.append(src[s])
                    s += 1
                else:
                    break
                if anchor:
                    break
        except LuaError as exc:
            if exc.value.startswith(rt.chunk.encode() + b":") \
                    if type(exc.value) is bytes else True:
                raise
            raise rt.error(exc.value) from None
        out += src[s:]
        return [bytes(out), float(n)]

    lib = _lib_table({"len": len_, "sub": sub, "upper": upper, "lower": lower, "rep": rep,
                      "reverse": reverse, "byte": byte, "char": char, "format": format_,
                      "find": find, "match": match, "gmatch": gmatch, "gsub": gsub})
    lib.hash[b"gfind"] = lib.hash[b"gmatch"]
    return lib


# ------------------------------------------------------------------------------ table
def install_table(rt: Runtime) -> LuaTable:
    L = Lib(rt)

    def check_writable(t: LuaTable) -> None:
        if t.readonly:
            raise rt.error("Attempt to modify a readonly table")

    def insert(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "insert")
        check_writable(t)
        e = t.length() + 1
        if len(args) == 2:
            pos = e
            value = args[1]
        elif len(args) == 3:
            pos = L.check_int(args, 1, "insert")
            if pos > e:
                e = pos
            value = args[2]
            for i in range(e, pos, -1):
                t.set(float(i), t.get(float(i - 1)))
        else:
            raise rt.error("wrong number of arguments to 'insert'")
        t.set(float(pos), value)
        return EMPTY

    def remove(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "remove")
        check_writable(t)
        e = t.length()
        pos = L.opt_int(args, 1, "remove", e)
        if not 1 <= pos <= e:  # outside the array part: nothing removed (Lua 5.1.5)
            return EMPTY
        v = t.get(float(pos))
        for i in range(pos, e):
            t.set(float(i), t.get(float(i + 1)))
        t.set(float(e), None)
        return [v]

    def concat(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "concat")
        sep = L.opt_str(args, 1, "concat", b"")
        i = L.opt_int(args, 2, "concat", 1)
        j = L.opt_int(args, 3, "concat", t.length()) if len(args) > 3 and args[3] is not None \
            else t.length()
        parts = []
        for k in range(i, j + 1):
            v = t.get(float(k))
            if type(v) is bytes:
                parts.append(v)
            elif type(v) is float:
                parts.append(fmt_number(v))
            else:
                raise rt.error("invalid value (%s) at index %d in table for 'concat'"
                               % (type_name(v), k))
        return [sep.join(parts)]

    def getn(*args: Any) -> list[Any]:
        return [float(L.check_table(args, 0, "getn").length())]

    def maxn(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "maxn")
        best = 0.0
        for k, _ in t.items():
            if type(k) is float and k > best:
                best = k
        return [best]

    def setn(*args: Any) -> list[Any]:
        raise rt.error("'setn' is obsolete")

    def sort(*args: Any) -> list[Any]:
        t = L.check_table(args, 0, "sort")
        n = t.length()
        comp = _arg(args, 1)
        if comp is not None and not callable(comp):
            raise L.typeerror(args, 1, "sort", "function")
        check_writable(t)
        values = [t.get(float(i)) for i in range(1, n + 1)]
        line = rt.line
        if comp is None:
            def less(a: Any, b: Any) -> bool:
                ta = type(a)
                if ta is type(b) and (ta is float or ta is bytes):
                    return bool(a < b)
                # Compared from C (sort itself): an error has no position, as in Lua.
                try:
                    return R.lt(rt, a, b, 0)
                finally:
                    rt.line = line
        else:
            def less(a: Any, b: Any) -> bool:
                rt.line = 0
                r = comp(a, b)
                rt.line = line
                return bool(r) and r[0] is not None and r[0] is not False
        _quicksort(values, less, rt)
        for i, v in enumerate(values):
            t.set(float(i + 1), v)
        return EMPTY

    return _lib_table({"insert": insert, "remove": remove, "concat": concat, "getn": getn,
                       "maxn": maxn, "setn": setn, "sort": sort,
                       "foreachi": _foreachi(rt), "foreach": _foreach(rt)})


def _foreachi(rt: Runtime) -> Builtin:
    def foreachi(*args: Any) -> list[Any]:
        t, fn = args[0], args[1]
        for i in range(1, t.length() + 1):
            r = R.call(rt, fn, (float(i), t.get(float(i))), rt.line)
            if r and r[0] is not None:
                return [r[0]]
        return EMPTY
    return foreachi


def _foreach(rt: Runtime) -> Builtin:
    def foreach(*args: Any) -> list[Any]:
        t, fn = args[0], args[1]
        for k, v in t.items():
            r = R.call(rt, fn, (k, v), rt.line)
            if r and r[0] is not None:
                return [r[0]]
        return EMPTY
    return foreach


def _quicksort(a: list[Any], less: Callable[[Any, Any], bool], rt: Runtime) -> None:
    """ltablib.c's auxsort (median of three, then partition), so that comparators that
    are not strict weak orders and the 'invalid order function' error behave as in Lua."""
    stack = [(0, len(a) - 1)]
    while stack:
        lo, up = stack.pop()
        while lo < up:
            if less(a[up], a[lo]):
                a[lo], a[up] = a[up], a[lo]
            if up - lo == 1:
                break
            i = (lo + up) // 2
            if less(a[i], a[lo]):
                a[i], a[lo] = a[lo], a[i]
            elif less(a[up], a[i]):
                a[i], a[up] = a[up], a[i]
            if up - lo == 2:
                break
            pivot = a[i]
            a[i], a[up - 1] = a[up - 1], a[i]
            i, j = lo, up - 1
            while True:
                i += 1
                while less(a[i], pivot):
                    if i >= up:
                        raise rt.error("invalid order function for sorting")
                    i += 1
                j -= 1
                while less(pivot, a[j]):
                    if j <= lo:
                        raise rt.error("invalid order function for sorting")
                    j -= 1
                if j < i:
                    break
                a[i], a[j] = a[j], a[i]
            a[up - 1], a[i] = a[i], a[up - 1]
            if i - lo < up - i:
                stack.append((i + 1, up))
                up = i - 1
            else:
                stack.append((lo, i - 1))
                lo = i + 1


# ------------------------------------------------------------------------------ math
def install_math(rt: Runtime) -> LuaTable:
    L = Lib(rt)

    def one(name: str, fn: Callable[[float], float]) -> Builtin:
        def f(*args: Any) -> list[Any]:
            x = L.check_num(args, 0, name)
            try:
                return [float(fn(x))]
            except (ValueError, OverflowError):
                return [R.NAN]
        return f

    def floor(*args: Any) -> list[Any]:
        x = L.check_num(args, 0, "floor")
        if math.isinf(x) or x != x:
            return [x]
        return [float(math.floor(x)) or math.copysign(0.0, x)]

    def ceil(*args: Any) -> list[Any]:
        x = L.check_num(args, 0, "ceil")
        if math.isinf(x) or x != x:
            return [x]
        return [float(math.ceil(x)) or math.copysign(0.0, x)]

    def fmod(*args: Any) -> list[Any]:
        a = L.check_num(args, 0, "fmod")
        b = L.check_num(args, 1, "fmod")
        try:
            return [math.fmod(a, b)]
        except ValueError:
            return [R.NAN]

    def modf(*args: Any) -> list[Any]:
        x = L.check_num(args, 0, "modf")
        if math.isinf(x):
            return [x, 0.0]
        frac, whole = math.modf(x)
        return [whole, frac]

    def pow_(*args: Any) -> list[Any]:
        return [R.power(L.check_num(args, 0, "pow"), L.check_num(args, 1, "pow"))]

    def log(*args: Any) -> list[Any]:
        x = L.check_num(args, 0, "log")
        if x == 0:
            return [-math.inf]
        if x < 0:
            return [R.NAN]
        return [math.log(x)] if x != math.inf else [x]

    def log10(*args: Any) -> list[Any]:
        x = L.check_num(args, 0, "log10")
        if x == 0:
            return [-math.inf]
        if x < 0:
            return [R.NAN]
        return [math.log10(x)] if x != math.inf else [x]

    def sqrt(*args: Any) -> list[Any]:
        x = L.check_num(args, 0, "sqrt")
        return [math.sqrt(x) if x >= 0 else (R.NAN if x == x else x)]

    def exp(*args: Any) -> list[Any]:
        x = L.check_num(args, 0, "exp")
        try:
            return [math.exp(x)]
        except OverflowError:
            return [math.inf]

    def max_(*args: Any) -> list[Any]:
        best = L.check_num(args, 0, "max")
        for i in range(1, len(args)):
            v = L.check_num(args, i, "max")
            if v > best:
                best = v
        return [best]

    def min_(*args: Any) -> list[Any]:
        best = L.check_num(args, 0, "min")
        for i in range(1, len(args)):
            v = L.check_num(args, i, "min")
            if v < best:
                best = v
        return [best]

    def frexp(*args: Any) -> list[Any]:
        m, e = math.frexp(L.check_num(args, 0, "frexp"))
        return [m, float(e)]

    def ldexp(*args: Any) -> list[Any]:
        x = L.check_num(args, 0, "ldexp")
        e = L.check_int(args, 1, "ldexp")
        try:
            return [math.ldexp(x, e)]
        except OverflowError:  # C's ldexp gives the infinity of x's sign
            return [math.copysign(math.inf, x)]

    funcs: dict[str, Builtin] = {
        "abs": one("abs", abs), "sin": one("sin", math.sin), "cos": one("cos", math.cos),
        "tan": one("tan", math.tan), "asin": one("asin", math.asin),
        "acos": one("acos", math.acos), "atan": one("atan", math.atan),
        "sinh": one("sinh", math.sinh), "cosh": one("cosh", math.cosh),
        "tanh": one("tanh", math.tanh), "deg": one("deg", math.degrees),
        "rad": one("rad", math.radians),
        "floor": floor, "ceil": ceil, "fmod": fmod, "modf": modf, "pow": pow_, "log": log,
        "log10": log10, "sqrt": sqrt, "exp": exp, "max": max_, "min": min_,
        "frexp": frexp, "ldexp": ldexp,
    }

    def atan2(*args: Any) -> list[Any]:
        return [math.atan2(L.check_num(args, 0, "atan2"), L.check_num(args, 1, "atan2"))]

    funcs["atan2"] = atan2
    lib = _lib_table(funcs)
    lib.hash[b"pi"] = math.pi
    lib.hash[b"huge"] = math.inf
    lib.hash[b"mod"] = lib.hash[b"fmod"]
    _install_random(rt, L, lib)
    return lib


class Rand48:
    """Redis's redisLrand48 (rand.c): the 48-bit linear congruential generator, so that
    math.random gives the same sequence as Redis for the same seed."""

    def __init__(self) -> None:
        self.x = [0x330E, 0xABCD, 0x1234]

    def seed(self, i: int) -> None:
        i &= 0xFFFFFFFF
        self.x = [0x330E, i & 0xFFFF, (i >> 16) & 0xFFFF]

    def next(self) -> int:
        x = self.x
        v = x[0] | (x[1] << 16) | (x[2] << 32)
        v = (v * 0x5DEECE66D + 0xB) & 0xFFFFFFFFFFFF
        self.x = [v & 0xFFFF, (v >> 16) & 0xFFFF, (v >> 32) & 0xFFFF]
        return (self.x[2] << 15) | (self.x[1] >> 1)


REDIS_LRAND48_MAX = 2**31 - 1


def _install_random(rt: Runtime, L: Lib, lib: LuaTable) -> None:
    gen = Rand48()
    rt.rand = gen  # type: ignore[attr-defined]

    def random(*args: Any) -> list[Any]:
        r = (gen.next() % REDIS_LRAND48_MAX) / REDIS_LRAND48_MAX
        if not args:
            return [r]
        if len(args) == 1:
            u = L.check_int(args, 0, "random")
            if u < 1:
                raise L.argerror(1, "random", "interval is empty")
            return [float(math.floor(r * u) + 1)]
        if len(args) == 2:
            lo = L.check_int(args, 0, "random")
            up = L.check_int(args, 1, "random")
            if lo > up:
                raise L.argerror(2, "random", "interval is empty")
            return [float(math.floor(r * (up - lo + 1)) + lo)]
        raise rt.error("wrong number of arguments")

    def randomseed(*args: Any) -> list[Any]:
        gen.seed(L.check_int(args, 0, "randomseed"))
        return EMPTY

    lib.hash[b"random"] = _builtin(random)
    lib.hash[b"randomseed"] = _builtin(randomseed)


__all__ = ["install_base", "install_string", "install_table", "install_math", "ScriptTimeout"]
