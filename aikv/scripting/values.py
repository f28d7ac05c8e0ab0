"""Lua values in Python.

nil is None, booleans are bool, every number is a float (Lua 5.1's doubles), strings are
bytes, functions are Python callables (`f(*args) -> list of results`), tables are
LuaTable. Comparisons never let Python's True == 1.0 leak in: table keys that are
booleans are stored as sentinels, and equality checks types first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any


class LuaError(Exception):
    """A Lua error in flight; `value` is the error object (any Lua value)."""

    def __init__(self, value: Any, traceback_line: int = 0) -> None:
        super().__init__(value)
        self.value = value
        self.line = traceback_line  # the line where it was raised (0 if unknown)


class LuaSyntaxError(Exception):
    """A compile error; args[0] is Lua's message (`user_script:1: ... near '...'`)."""


class ScriptTimeout(Exception):
    """The script ran past its time budget: not catchable by pcall."""


class _BoolKey:
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value


TRUE_KEY = _BoolKey(True)
FALSE_KEY = _BoolKey(False)


class LuaTable:
    """A Lua table: `arr` holds keys 1..len(arr) (its last element is never nil), `hash`
    every other key. A float key with an integral value is the same key as that integer."""

    __slots__ = ("arr", "hash", "meta", "readonly", "__weakref__")

    def __init__(self) -> None:
        self.arr: list[Any] = []
        self.hash: dict[Any, Any] = {}
        self.meta: LuaTable | None = None
        self.readonly = False

    def get(self, k: Any) -> Any:
        if type(k) is float:
            arr = self.arr
            if 1.0 <= k <= len(arr):
                i = int(k)
                if i == k:
                    return arr[i - 1]
            return self.hash.get(k)
        if type(k) is bool:
            k = TRUE_KEY if k else FALSE_KEY
        return self.hash.get(k)

    def getstr(self, k: bytes) -> Any:
        return self.hash.get(k)

    def set(self, k: Any, v: Any) -> None:
        """rawset; the caller has checked `readonly`."""
        tk = type(k)
        if tk is float:
            arr = self.arr
            n = len(arr)
            if 1.0 <= k <= n + 1:
                i = int(k)
                if i == k:
                    if i <= n:
                        if v is None and i == n:
                            arr.pop()
                            while arr and arr[-1] is None:
                                arr.pop()
                        else:
                            arr[i - 1] = v
                        return
                    # i == n + 1: append, then pull the following keys out of the hash.
                    if v is None:
                        self.hash.pop(k, None)
                        return
                    arr.append(v)
                    h = self.hash
                    if h:
                        h.pop(k, None)
                        nxt = float(i + 1)
                        while nxt in h:
                            arr.append(h.pop(nxt))
                            nxt += 1.0
                    return
            if k != k:
                raise LuaError(b"table index is NaN")
        elif tk is bool:
            k = TRUE_KEY if k else FALSE_KEY
        elif k is None:
            raise LuaError(b"table index is nil")
        if v is None:
            self.hash.pop(k, None)
        else:
            self.hash[k] = v

    def length(self) -> int:
        n = len(self.arr)
        if n:
            return n
        h = self.hash
        if not h or 1.0 not in h:
            return 0
        # Keys 1..m in the hash (a table filled backwards): find a border.
        m = 1
        while float(m + 1) in h:
            m += 1
        return m

    def next(self, k: Any) -> tuple[Any, Any] | None:
        """Lua's next(): the entry after key `k` (None: the first), or None at the end."""
        arr = self.arr
        start = 0
        if k is not None:
            if type(k) is float and 1.0 <= k <= len(arr) and int(k) == k:
                start = int(k)
            else:
                hk = (TRUE_KEY if k else FALSE_KEY) if type(k) is bool else k
                keys = list(self.hash)
                try:
                    pos = keys.index(hk)
                except ValueError:
                    raise LuaError(b"invalid key to 'next'") from None
                for key in keys[pos + 1:]:
                    value = self.hash[key]
                    if value is not None:
                        return unkey(key), value
                return None
        for i in range(start, len(arr)):
            if arr[i] is not None:
                return float(i + 1), arr[i]
        for key, value in self.hash.items():
            return unkey(key), value
        return None

    def items(self) -> list[tuple[Any, Any]]:
        out: list[tuple[Any, Any]] = [(float(i + 1), v) for i, v in enumerate(self.arr)
                                      if v is not None]
        out.extend((unkey(k), v) for k, v in self.hash.items())
        return out


def unkey(k: Any) -> Any:
    if type(k) is _BoolKey:
        return k.value
    return k


def table_from_list(values: list[Any]) -> LuaTable:
    t = LuaTable()
    arr = t.arr
    for v in values:
        if v is None:
            break
        arr.append(v)
    # Values after a nil go to the hash with their indices.
    if len(arr) < len(values):
        for i in range(len(arr) + 1, len(values)):
            if values[i] is not None:
                t.set(float(i + 1), values[i])
    return t


def type_name(v: Any) -> str:
    if v is None:
        return "nil"
    t = type(v)
    if t is bool:
        return "boolean"
    if t is float:
        return "number"
    if t is bytes:
        return "string"
    if t is LuaTable:
        return "table"
    if callable(v):
        return "function"
    return "userdata"


def fmt_number(v: float) -> bytes:
    """Lua 5.1's tostring of a number: "%.14g"."""
    if -1e14 < v < 1e14 and v == int(v) and (v or math.copysign(1.0, v) > 0):
        return b"%d" % v
    if v != v:
        return b"nan" if math.copysign(1.0, v) > 0 else b"-nan"
    if v == math.inf:
        return b"inf"
    if v == -math.inf:
        return b"-inf"
    if -1e14 < v < 1e14 and v == int(v):
        return b"%d" % int(v) if v or math.copysign(1.0, v) > 0 else b"-0"
    return b"%.14g" % v


_DEC = re.compile(rb"[ \t\n\r\f\v]*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[ \t\n\r\f\v]*\Z")
_HEX = re.compile(rb"[ \t\n\r\f\v]*([+-]?)0[xX]([0-9a-fA-F]+)[ \t\n\r\f\v]*\Z")
_SPECIAL = re.compile(rb"[ \t\n\r\f\v]*([+-]?(?:inf|infinity|nan))[ \t\n\r\f\v]*\Z", re.I)


def str2number(s: bytes) -> float | None:
    """Lua 5.1's luaO_str2d (strtod, then strtoul base 16): None if not a number."""
    m = _DEC.match(s)
    if m is not None:
        return float(m.group(1))
    m = _HEX.match(s)
    if m is not None:
        v = float(int(m.group(2), 16))
        return -v if m.group(1) == b"-" else v
    m = _SPECIAL.match(s)
    if m is not None:
        return float(m.group(1))
    return None


def tonumber(v: Any) -> float | None:
    if type(v) is float:
        return v
    if type(v) is bytes:
        return str2number(v)
    return None


def tostr(v: Any) -> bytes | None:
    """lua_tolstring: strings and numbers only."""
    if type(v) is bytes:
        return v
    if type(v) is float:
        return fmt_number(v)
    return None


LuaFunction = Callable[..., list[Any]]
