"""Lua values in Python.

nil is None, booleans are bool, every number is a float (Lua 5.1's doubles), strings are
bytes, functions are Python callables (`f(*args) -> list of results`), tables are
LuaTable. Comparisons never let Python's True == 1.0 leak in: table keys that are
booleans are stored as sentinels, and equality checks types first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from aikv.cnum import format_g, str2number
from aikv.scripting.table_order import TableModel


class LuaError(Exception):
    """A Lua error in flight; `value` is the error object (any Lua value)."""

    def __init__(self, value: Any, traceback_line: int = 0) -> None:
        super().__init__(value)
        self.value = value
        self.line = traceback_line  # the line where it was raised (0 if unknown)


class LuaSyntaxError(Exception):
    """A compile error; args[0] is Lua's message (`user_script:1: ... near '...'`)."""


class ScriptTimeout(Exception):
    """The script ran past its time budget (FUNCTION LOAD's): not catchable by pcall."""


class ScriptKilled(Exception):
    """SCRIPT KILL or FUNCTION KILL stopped the script at `line`: not catchable by pcall
    (Redis makes its error fire again on every line, so pcall cannot keep it alive)."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _BoolKey:
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value


TRUE_KEY = _BoolKey(True)
FALSE_KEY = _BoolKey(False)


class LuaTable:
    """A Lua table: `arr` holds keys 1..len(arr) (its last element is never nil), `hash`
    every other key. A float key with an integral value is the same key as that integer."""

    __slots__ = ("arr", "hash", "meta", "readonly", "hint", "anchors", "sparse", "_layout",
                 "__weakref__")

    def __init__(self) -> None:
        self.arr: list[Any] = []
        self.hash: dict[Any, Any] = {}
        self.meta: LuaTable | None = None
        self.readonly = False
        # A constructor's size hints, as Lua's compiler encodes them: (array, hash, how
        # many positional values it stored). None for `{}` and tables made from C.
        self.hint: tuple[int, int, int] | None = None
        # arr index -> the key added just before that array key, where the hash held keys
        # then (see lua_order; None when no array key was added after a hash key).
        self.anchors: dict[int, Any] | None = None
        # Whether #t needs Lua's own border search: a positive integer key is in the hash
        # or `arr` has a hole (otherwise the border is len(arr), Lua's only one).
        self.sparse = False
        # (array length, every key, model, next() order) last worked out (see _model).
        self._layout: tuple[int, set[Any], TableModel, list[Any]] | None = None

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
                            if v is None:
                                self.sparse = True
                            elif arr[i - 1] is None and self._layout is not None \
                                    and k not in self._layout[1]:
                                # A hole filled with a key the layout never saw (a
                                # constructor's nil): work the layout out again.
                                self._layout = None
                            arr[i - 1] = v
                        return
                    # i == n + 1: append, then pull the following keys out of the hash.
                    if v is None:
                        self.hash.pop(k, None)
                        return
                    layout = self._layout
                    if layout is not None and i <= layout[0] and k not in layout[1]:
                        # A slot the layout counted in the array but never saw filled
                        # (a trailing nil, since dropped from `arr`): work it out again.
                        self._layout = None
                    arr.append(v)
                    if self.hash:
                        self._join_array(k)
                    elif self.anchors is not None:
                        self.anchors.pop(i - 1, None)
                    return
            if k != k:
                raise LuaError(b"table index is NaN")
            if k >= 1.0 and k % 1.0 == 0.0:
                self.sparse = True
        elif tk is bool:
            k = TRUE_KEY if k else FALSE_KEY
        elif k is None:
            raise LuaError(b"table index is nil")
        if v is None:
            self.hash.pop(k, None)
        else:
            self.hash[k] = v

    def _join_array(self, k: float) -> None:
        """Key `k` was just appended to `arr` while the hash holds keys: note the key added
        before it (for lua_order), then move the keys that now follow the array's end out
        of the hash, each noted after the key it followed there."""
        h, arr = self.hash, self.arr
        anchors = self.anchors
        if anchors is None:
            anchors = self.anchors = {}
        nxt = k + 1.0
        if k not in h and nxt not in h:
            anchors[len(arr) - 1] = next(reversed(h))
            return
        keys = list(h)
        where = {key: pos for pos, key in enumerate(keys)}

        def before(key: Any) -> Any:
            pos = where[key]
            return keys[pos - 1] if pos else None

        if k in h:
            anchors[len(arr) - 1] = before(k)
            del h[k]
        else:
            anchors[len(arr) - 1] = keys[-1]
        while nxt in h:
            anchors[len(arr)] = before(nxt)
            arr.append(h.pop(nxt))
            nxt += 1.0

    def length(self) -> int:
        """The # operator: a border, the one Lua 5.1's search in Redis finds."""
        if not self.sparse:
            return len(self.arr)
        # luaH_getn over the modelled array part, probing values as Lua does.
        j = self._model().asize
        get = self.get
        if j > 0 and get(float(j)) is None:
            return _border_between(get, 0, j)
        if self._model().dummy:  # no hash part in Lua (AiKv's hash may still be empty)
            return j
        # unbound_search: double past the array part, then bisect.
        i = j
        j += 1
        while get(float(j)) is not None:
            i = j
            j *= 2
            if j > 2**31 - 1:
                i = 1
                while get(float(i)) is not None:
                    i += 1
                return i - 1
        return _border_between(get, i, j)

    def lua_order(self) -> list[Any]:
        """The keys (as stored) in the order Lua 5.1's next() visits them in Redis (see
        table_order)."""
        if not self.hash and self._layout is None:  # an array: 1..n
            return [float(i + 1) for i, v in enumerate(self.arr) if v is not None]
        self._model()
        assert self._layout is not None
        return self._layout[3]

    def _model(self) -> TableModel:
        """Lua's layout of this table, replayed from the order its keys were added. It is
        kept until a key it does not know is added: removing a key (or putting it back)
        changes nothing in Lua's layout either, so a traversal that clears fields goes
        on in the same order, as Lua's does."""
        h = self.hash
        n = len(self.arr)
        cached = self._layout
        if cached is not None:
            known = cached[1]
            if len(h) <= len(known) and known.issuperset(h) and (
                    n <= cached[0]
                    or all(float(i + 1) in known for i in range(cached[0], n))):
                return cached[2]
        keys = tuple(h)
        added = self._added_order(keys)
        # A constructor sets its keyed fields first, then stores its positional values
        # (growing the array part if a trailing call returned more than it counted); a
        # table made otherwise starts as `{}` does, with no hints.
        narray, nhash, stored = self.hint or (0, 0, 0)
        model = TableModel(narray, nhash, _bool_of)
        for key in added[:nhash]:
            model.insert(key)
        if stored > narray:
            model.resize(stored, model.node_count())
        for key in added[nhash:]:
            model.insert(key)
        self._layout = (n, set(added), model, model.order())
        return model

    def _added_order(self, hash_keys: tuple[Any, ...]) -> list[Any]:
        """Every key in the order it was added: the hash keys in dict order, each array
        key after the key its anchor names (array keys without one first)."""
        anchors = self.anchors or {}
        first: list[Any] = []
        after: dict[Any, list[Any]] = {}
        for i, v in enumerate(self.arr):
            if v is not None:
                anchor = anchors.get(i)
                if anchor is None:
                    first.append(float(i + 1))
                else:
                    after.setdefault(anchor, []).append(float(i + 1))
        if not after:
            return first + list(hash_keys)
        out: list[Any] = []
        stack: list[Any] = list(reversed(first + list(hash_keys)))
        while stack:
            key = stack.pop()
            out.append(key)
            followers = after.pop(key, None)
            if followers:
                stack.extend(reversed(followers))
        for followers in after.values():  # anchored on keys since removed
            out.extend(followers)
        return out

    def adopt_model(self, model: TableModel) -> None:
        """Take `model` (built with new_model, fed the keys as stored) as this table's
        Lua layout, for a table whose stores a replay of its live keys cannot reproduce
        (cmsgpack.unpack stores nils, which still take slots in Lua). It is kept until a
        key it does not know is added, as the layouts _model works out are."""
        order = model.order()
        self._layout = (len(self.arr), set(order), model, order)

    def _value_at(self, key: Any) -> Any:
        arr = self.arr
        if type(key) is float and 1.0 <= key <= len(arr) and key == int(key):
            return arr[int(key) - 1]
        return self.hash.get(key)

    def next(self, k: Any) -> tuple[Any, Any] | None:
        """Lua's next(): the entry after key `k` (None: the first), or None at the end."""
        if not self.hash and self._layout is None:  # an array: 1..n, found by index
            arr = self.arr
            start = 0
            if k is not None:
                if type(k) is not float or not 1.0 <= k <= len(arr) or k != int(k):
                    raise LuaError(b"invalid key to 'next'")
                start = int(k)
            for i in range(start, len(arr)):
                if arr[i] is not None:
                    return float(i + 1), arr[i]
            return None
        order = self.lua_order()
        start = 0
        if k is not None:
            hk = (TRUE_KEY if k else FALSE_KEY) if type(k) is bool else k
            try:  # a key cleared during the traversal is still in the layout
                start = order.index(hk) + 1
            except ValueError:
                raise LuaError(b"invalid key to 'next'") from None
        for i in range(start, len(order)):
            key = order[i]
            value = self._value_at(key)
            if value is not None:
                return unkey(key), value
        return None

    def items(self) -> list[tuple[Any, Any]]:
        """(key, value) pairs in Lua's next() order."""
        if not self.hash and self._layout is None:
            return [(float(i + 1), v) for i, v in enumerate(self.arr) if v is not None]
        value_at = self._value_at
        return [(unkey(key), value) for key in self.lua_order()
                if (value := value_at(key)) is not None]


def _border_between(get: Callable[[Any], Any], i: int, j: int) -> int:
    """Lua's bisection for a border, given t[i] present (or i == 0) and t[j] absent."""
    while j - i > 1:
        m = (i + j) // 2
        if get(float(m)) is None:
            j = m
        else:
            i = m
    return i


def _bool_of(key: Any) -> Any:
    return key.value if type(key) is _BoolKey else None


def new_model() -> TableModel:
    """The layout of a new empty table (lua_newtable), for keys as LuaTable stores them
    (see stored_key)."""
    return TableModel(0, 0, _bool_of)


def stored_key(k: Any) -> Any:
    """A key as LuaTable keeps it in its hash (booleans become their markers)."""
    if type(k) is bool:
        return TRUE_KEY if k else FALSE_KEY
    return k


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
    return format_g(v, 14)


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
