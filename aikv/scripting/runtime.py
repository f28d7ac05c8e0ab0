"""What compiled Lua code calls off its fast paths: metamethods, coercions, and the
runtime errors with Lua 5.1's texts (`attempt to index local 't' (a nil value)`)."""

from __future__ import annotations

import math
import time
from typing import Any

from aikv.scripting.values import (
    LuaError,
    LuaTable,
    ScriptTimeout,
    fmt_number,
    str2number,
    type_name,
)

EMPTY: list[Any] = []
# The NaN x86 arithmetic produces (sign bit set: Lua prints it "-nan", as Redis shows).
NAN = math.inf - math.inf
CHUNK = "user_script"
MAX_DEPTH = 1000  # nested Lua calls; deeper recursion is "stack overflow"


class Cell:
    """A local captured by a closure (an upvalue)."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v


class Runtime:
    """One Lua state: globals, the string metatable, the call-line stack used for error
    positions, and the time budget of the running script."""

    def __init__(self, chunk: str = CHUNK) -> None:
        # The chunk name errors are prefixed with: "user_script" for EVAL, "user_function"
        # for FUNCTION libraries (each kind of code lives in a Lua state of its own).
        self.chunk = chunk
        self.line = 0                      # line of the last call made from Lua code
        self.stack: list[int] = []         # call lines of the active Lua functions
        self.G = LuaTable()
        self.string_meta: LuaTable | None = None
        self.strlib: LuaTable = LuaTable()
        self.deadline = math.inf           # time.monotonic() past which check_time acts
        self.ctx: Any = None               # the running script's bridge context
        self.next_fn: Any = None           # the `next` builtin (pairs' iterator)
        self.inext_fn: Any = None          # ipairs' iterator

    # -------------------------------------------------------------- errors
    def error(self, msg: str | bytes, line: int | None = None) -> LuaError:
        """A runtime error at `line` (default: the current call line), with the
        `<chunk>:<line>: ` prefix luaG_runerror / luaL_error give it."""
        if line is None:
            line = self.line
        if isinstance(msg, str):
            msg = msg.encode()
        if line > 0:
            return LuaError(b"%s:%d: %s" % (self.chunk.encode(), line, msg), line)
        return LuaError(msg, line)

    def check_time(self, line: int) -> None:
        """Called every 1024 iterations of a loop (at `line`): past the deadline, the
        running script's context decides (EVAL and FCALL serve other clients and may be
        killed, see aikv/busy.py); without one (FUNCTION LOAD) the run is stopped."""
        if time.monotonic() > self.deadline:
            ctx = self.ctx
            if ctx is None:
                raise ScriptTimeout()
            ctx.overtime(self, line)


def describe(desc: str | None, v: Any) -> str:
    if desc:
        return f"{desc} (a {type_name(v)} value)"
    return f"a {type_name(v)} value"


def getmeta(rt: Runtime, v: Any) -> LuaTable | None:
    if type(v) is LuaTable:
        return v.meta
    if type(v) is bytes:
        return rt.string_meta
    return None


def metamethod(rt: Runtime, v: Any, event: bytes) -> Any:
    mt = getmeta(rt, v)
    if mt is None:
        return None
    return mt.hash.get(event)


def first(results: list[Any]) -> Any:
    return results[0] if results else None


def call(rt: Runtime, fn: Any, args: list[Any] | tuple[Any, ...], line: int,
         desc: str | None = None) -> list[Any]:
    if callable(fn):
        rt.line = line
        return fn(*args)
    h = metamethod(rt, fn, b"__call")
    if h is not None and callable(h):
        rt.line = line
        return h(fn, *args)
    raise rt.error("attempt to call " + describe(desc, fn), line)


def index(rt: Runtime, o: Any, k: Any, line: int, desc: str | None = None) -> Any:
    for _ in range(100):
        if type(o) is LuaTable:
            v = o.get(k)
            if v is not None:
                return v
            mt = o.meta
            if mt is None:
                return None
            h = mt.hash.get(b"__index")
            if h is None:
                return None
        elif type(o) is bytes:
            h = rt.strlib
        else:
            raise rt.error("attempt to index " + describe(desc, o), line)
        if callable(h):
            rt.line = line
            return first(h(o, k))
        o = h
        desc = None
    raise rt.error("loop in gettable", line)


def setindex(rt: Runtime, o: Any, k: Any, v: Any, line: int, desc: str | None = None) -> None:
    for _ in range(100):
        if type(o) is LuaTable:
            if o.readonly:
                raise rt.error("Attempt to modify a readonly table", line)
            mt = o.meta
            if mt is None or o.get(k) is not None:
                try:
                    o.set(k, v)
                except LuaError as exc:
                    raise rt.error(exc.value, line) from None
                return
            h = mt.hash.get(b"__newindex")
            if h is None:
                try:
                    o.set(k, v)
                except LuaError as exc:
                    raise rt.error(exc.value, line) from None
                return
        else:
            h = metamethod(rt, o, b"__newindex")
            if h is None:
                raise rt.error("attempt to index " + describe(desc, o), line)
        if callable(h):
            rt.line = line
            h(o, k, v)
            return
        o = h
        desc = None
    raise rt.error("loop in settable", line)


def tonum(v: Any) -> float | None:
    if type(v) is float:
        return v
    if type(v) is bytes:
        return str2number(v)
    return None


_ARITH_EVENTS = {"+": b"__add", "-": b"__sub", "*": b"__mul", "/": b"__div",
                 "%": b"__mod", "^": b"__pow", "u-": b"__unm"}


def div(a: float, b: float) -> float:
    if b:
        return a / b
    if a != a or a == 0:
        return NAN
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def mod(a: float, b: float) -> float:
    """luai_nummod, a - floor(a/b)*b, in doubles as the C expression computes it: the
    floor of an infinite or NaN quotient is the quotient itself (Python's math.floor
    raises there), so 1 % 0, 0/0 % 1, x % inf and the like give NaN."""
    q = a / b if b else div(a, b)
    if q - q == 0 and q:  # finite, and not a zero (whose floor is itself, sign and all)
        q = float(math.floor(q))
    return a - q * b


def power(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except (ValueError, ZeroDivisionError):
        if a == 0 and b < 0:
            return math.inf
        return NAN
    except OverflowError:
        return math.inf if a > 0 or b % 2 == 0 else -math.inf


def raw_arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return div(a, b)
    if op == "%":
        return mod(a, b)
    if op == "^":
        return power(a, b)
    return -a  # "u-"


def arith(rt: Runtime, op: str, a: Any, b: Any, line: int, da: str | None = None,
          db: str | None = None) -> Any:
    na, nb = tonum(a), tonum(b)
    if na is not None and nb is not None:
        return raw_arith(op, na, nb)
    event = _ARITH_EVENTS[op]
    h = metamethod(rt, a, event)
    if h is None:
        h = metamethod(rt, b, event)
    if h is not None:
        rt.line = line
        return first(h(a, b))
    if na is None:
        bad, desc = a, da
    else:
        bad, desc = b, db
    raise rt.error("attempt to perform arithmetic on " + describe(desc, bad), line)


def concat2(rt: Runtime, a: Any, b: Any, line: int, da: str | None = None,
            db: str | None = None) -> Any:
    ta, tb = type(a), type(b)
    if (ta is bytes or ta is float) and (tb is bytes or tb is float):
        return (a if ta is bytes else fmt_number(a)) + (b if tb is bytes else fmt_number(b))
    h = metamethod(rt, a, b"__concat")
    if h is None:
        h = metamethod(rt, b, b"__concat")
    if h is not None:
        rt.line = line
        return first(h(a, b))
    if ta is bytes or ta is float:
        bad, desc = b, db
    else:
        bad, desc = a, da
    raise rt.error("attempt to concatenate " + describe(desc, bad), line)


def concat_many(rt: Runtime, values: list[Any], line: int, descs: list[str | None]) -> Any:
    """a .. b .. c: right to left, as Lua does (matters only for metamethods)."""
    acc = values[-1]
    for i in range(len(values) - 2, -1, -1):
        acc = concat2(rt, values[i], acc, line, descs[i], descs[i + 1] if i + 1 == len(values) - 1 else None)
    return acc


def eq(rt: Runtime, a: Any, b: Any) -> bool:
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is LuaTable:
        if a is b:
            return True
        h1 = metamethod(rt, a, b"__eq")
        if h1 is None:
            return False
        h2 = metamethod(rt, b, b"__eq")
        if h1 is not h2 and not (type(h1) is type(h2) and h1 == h2):
            return False
        r = first(h1(a, b))
        return r is not None and r is not False
    if ta is float or ta is bytes or ta is bool:
        return bool(a == b)
    return a is b


def _order_error(rt: Runtime, a: Any, b: Any, line: int) -> LuaError:
    t1, t2 = type_name(a), type_name(b)
    if t1 == t2:
        return rt.error(f"attempt to compare two {t1} values", line)
    return rt.error(f"attempt to compare {t1} with {t2}", line)


def lt(rt: Runtime, a: Any, b: Any, line: int) -> bool:
    ta = type(a)
    if ta is type(b):
        if ta is float or ta is bytes:
            return bool(a < b)
        h1 = metamethod(rt, a, b"__lt")
        if h1 is not None and h1 is metamethod(rt, b, b"__lt"):
            rt.line = line
            r = first(h1(a, b))
            return r is not None and r is not False
    raise _order_error(rt, a, b, line)


def le(rt: Runtime, a: Any, b: Any, line: int) -> bool:
    ta = type(a)
    if ta is type(b):
        if ta is float or ta is bytes:
            return bool(a <= b)
        h1 = metamethod(rt, a, b"__le")
        if h1 is not None and h1 is metamethod(rt, b, b"__le"):
            rt.line = line
            r = first(h1(a, b))
            return r is not None and r is not False
        h1 = metamethod(rt, a, b"__lt")
        if h1 is not None and h1 is metamethod(rt, b, b"__lt"):
            rt.line = line
            r = first(h1(b, a))
            return r is None or r is False
    raise _order_error(rt, a, b, line)


def length(rt: Runtime, v: Any, line: int, desc: str | None) -> float:
    if type(v) is bytes:
        return float(len(v))
    if type(v) is LuaTable:
        return float(v.length())
    h = metamethod(rt, v, b"__len")
    if h is not None:
        rt.line = line
        return first(h(v))
    raise rt.error("attempt to get length of " + describe(desc, v), line)


def unm(rt: Runtime, v: Any, line: int, desc: str | None) -> Any:
    n = tonum(v)
    if n is not None:
        return -n
    h = metamethod(rt, v, b"__unm")
    if h is not None:
        rt.line = line
        return first(h(v, v))
    raise rt.error("attempt to perform arithmetic on " + describe(desc, v), line)


def tostring(rt: Runtime, v: Any) -> bytes:
    t = type(v)
    if t is bytes:
        return v
    if t is float:
        return fmt_number(v)
    h = metamethod(rt, v, b"__tostring")
    if h is not None:
        r = first(h(v))
        if type(r) is not bytes:
            if type(r) is float:
                return fmt_number(r)
            raise rt.error("'__tostring' must return a string")
        return r
    if v is None:
        return b"nil"
    if v is True:
        return b"true"
    if v is False:
        return b"false"
    kind = type_name(v)
    if kind == "function" and getattr(v, "builtin", False):
        return b"function: builtin: %#x" % id(v)
    return b"%s: %#x" % (kind.encode(), id(v))
