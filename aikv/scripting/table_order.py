"""The order in which Lua 5.1's next() visits a table: the order of pairs() and of the
members cjson.encode writes, which scripts return and clients see.

Redis runs Lua 5.1. A table there has an array part (integer keys 1..sizearray) and a
node vector for every other key, and next() walks the array part, then the node vector
in slot order. Where a key lands in the node vector follows from its hash (its "main
position"), the collisions before it, the free-slot pointer that moves down from the top
of the vector, and the rehashes that resize both parts (ltable.c). AiKv's tables keep
their keys in a Python dict instead, so this module replays a table's live keys, in the
order they were added, into a model of those structures and reads the order off it.

The replay is exact for a table whose keys were only ever added (the usual way tables
are built, from `{}`, from a constructor, by cjson.decode or from a Redis reply). Lua
keeps a removed key's slot until the next rehash, and when depends on the garbage
collector; a table with removed keys is replayed as if they had never been added. Keys
that are tables or functions hash by address in Lua, so their place cannot be matched.
"""

from __future__ import annotations

import struct
from typing import Any

MAXBITS = 26  # the array part holds at most 2^26 slots
_MAXASIZE = 1 << MAXBITS
_EMPTY: Any = object()
_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1
_double_words = struct.Struct("<II").unpack
_pack_double = struct.Struct("<d").pack


def ceillog2(x: int) -> int:
    return (x - 1).bit_length()


def int2fb(x: int) -> int:
    """luaO_int2fb: a constructor's size hint as the "floating point byte" the compiler
    stores (rounding up above 15)."""
    e = 0
    while x >= 16:
        x = (x + 1) >> 1
        e += 1
    if x < 8:
        return x
    return ((e + 1) << 3) | (x - 8)


def fb2int(x: int) -> int:
    e = (x >> 3) & 31
    if e == 0:
        return x
    return ((x & 7) + 8) << (e - 1)


def string_hash(s: bytes) -> int:
    """Redis's Lua string hash: seeded with the length, over every byte from the last
    (Redis hashes all bytes; stock Lua 5.1 skips some of a long string's)."""
    h = len(s)
    for c in reversed(s):
        h ^= ((h << 5) + (h >> 2) + c) & 0xFFFFFFFF
    return h


# String hashes already computed: a replay hashes each key again at every rehash, and
# scripts reuse their field names. Emptied when it grows large.
_string_hashes: dict[bytes, int] = {}
_STRING_HASH_CACHE = 1 << 16


def _cached_string_hash(s: bytes) -> int:
    h = _string_hashes.get(s)
    if h is None:
        if len(_string_hashes) >= _STRING_HASH_CACHE:
            _string_hashes.clear()
        h = _string_hashes[s] = string_hash(s)
    return h


def array_index(key: Any) -> int:
    """arrayindex: the int a number key stands for, or -1 (not an int, or beyond C int)."""
    if type(key) is float and _INT_MIN <= key <= _INT_MAX and key == int(key):
        return int(key)
    return -1


class TableModel:
    """Lua 5.1's table layout: which array slots are used and which key is in which
    node, with the chains and the free pointer the insert algorithm depends on."""

    __slots__ = ("asize", "array", "lsize", "dummy", "nodes", "chain", "lastfree",
                 "bool_value", "dead")

    def __init__(self, narray: int = 0, nhash: int = 0, bool_value: Any = None) -> None:
        # `bool_value(key)`: the Python bool a stored boolean key stands for (AiKv keeps
        # true and false under marker objects).
        self.bool_value = bool_value
        # Keys whose node holds a nil value (see assign); None while there are none, as
        # for every table replayed from its live keys.
        self.dead: set[Any] | None = None
        self.asize = 0
        self.array: list[bool] = []
        self._set_array(narray)
        self._set_nodes(nhash)

    # ------------------------------------------------------------------ structure
    def _set_array(self, size: int) -> None:
        if size > self.asize:
            self.array.extend([False] * (size - self.asize))
        self.asize = size

    def _set_nodes(self, size: int) -> None:
        if size == 0:  # the shared dummy node: one slot that never holds a key
            self.lsize = 0
            self.dummy = True
            count = 1
        else:
            self.lsize = ceillog2(size)
            self.dummy = False
            count = 1 << self.lsize
        self.nodes: list[Any] = [_EMPTY] * count
        self.chain: list[int] = [-1] * count
        self.lastfree = 0 if self.dummy else count  # every slot is free

    def node_count(self) -> int:
        return 0 if self.dummy else len(self.nodes)

    def main_position(self, key: Any) -> int:
        size = len(self.nodes)
        t = type(key)
        if t is bytes:
            h = _string_hashes.get(key)
            if h is None:
                h = _cached_string_hash(key)
            return h & (size - 1)
        if t is float:
            if key == 0:
                return 0  # 0 and -0 alike
            lo, hi = _double_words(_pack_double(key))
            return ((lo + hi) & 0xFFFFFFFF) % ((size - 1) | 1)
        if self.bool_value is not None:
            b = self.bool_value(key)
            if type(b) is bool:
                return int(b) & (size - 1)
        # Tables and functions hash by address in Lua; any fixed slot is as good.
        return (id(key) & 0xFFFFFFFF) % ((size - 1) | 1)

    # ------------------------------------------------------------------ inserts
    def insert(self, key: Any) -> None:
        """luaH_set of a key the table does not have yet."""
        if type(key) is float:
            k = array_index(key)
            if 1 <= k <= self.asize:
                self.array[k - 1] = True
                return
        self._new_key(key)

    def _free_position(self) -> int:
        nodes = self.nodes
        while self.lastfree > 0:
            self.lastfree -= 1
            if nodes[self.lastfree] is _EMPTY:
                return self.lastfree
        return -1

    def _new_key(self, key: Any) -> None:
        nodes, chain = self.nodes, self.chain
        if type(key) is bytes:  # the usual key: main_position inline
            h = _string_hashes.get(key)
            mp = (h if h is not None else _cached_string_hash(key)) & (len(nodes) - 1)
        else:
            mp = self.main_position(key)
        occupant = nodes[mp]
        dead = self.dead
        if dead and occupant in dead:
            # A node whose value is nil counts as free: the new key simply takes it
            # over (keeping its chain link), and the old key is gone.
            dead.discard(occupant)
            occupant = _EMPTY
        if occupant is not _EMPTY or self.dummy:
            free = self._free_position()
            if free < 0:
                self._rehash(key)
                self.insert(key)
                return
            if type(occupant) is bytes:
                h = _string_hashes.get(occupant)
                other = (h if h is not None else _cached_string_hash(occupant)) \
                    & (len(nodes) - 1)
            else:
                other = self.main_position(occupant)
            if other != mp:
                # The occupant is out of its own main position: move it to the free slot.
                while chain[other] != mp:
                    other = chain[other]
                chain[other] = free
                nodes[free] = nodes[mp]
                chain[free] = chain[mp]
                chain[mp] = -1
                nodes[mp] = _EMPTY
            else:
                # The occupant belongs there: the new key takes the free slot, chained.
                chain[free] = chain[mp]
                chain[mp] = free
                mp = free
        nodes[mp] = key

    def assign(self, key: Any, present: bool, nil: bool) -> None:
        """luaH_set of `key` followed by storing a value, nil or not: what lua_settable
        does, nil included. Lua gives a missing key its slot before it looks at the
        value, so a nil stored under a new key still takes a node (or makes a rehash)
        until the next rehash drops it. `present`: the table holds the key with a
        non-nil value. (Scripts reach this through cmsgpack.unpack; AiKv's own stores
        of nil are replayed as if the key had never been added.)"""
        k = array_index(key) if type(key) is float else -1
        if 1 <= k <= self.asize:
            self.array[k - 1] = not nil
            return
        dead = self.dead
        if present or (dead is not None and key in dead):  # the key keeps its node
            if nil:
                if dead is None:
                    dead = self.dead = set()
                dead.add(key)
            elif dead is not None:
                dead.discard(key)
            return
        self.insert(key)
        if nil:
            # Wherever the key landed, its value is nil: an unused array slot, or a
            # node that next() passes over.
            k = array_index(key) if type(key) is float else -1
            if 1 <= k <= self.asize:
                self.array[k - 1] = False
            else:
                if self.dead is None:
                    self.dead = set()
                self.dead.add(key)

    # ------------------------------------------------------------------ rehash
    def _rehash(self, extra: Any) -> None:
        nums = [0] * (MAXBITS + 1)
        nasize = self._count_array(nums)
        total = nasize
        dead = self.dead or ()
        for key in self.nodes:
            if key is not _EMPTY and key not in dead:  # nil values are not counted
                total += 1
                nasize += _count_int(key, nums)
        nasize += _count_int(extra, nums)
        total += 1
        in_array, nasize = _compute_sizes(nums, nasize)
        self.resize(nasize, total - in_array)

    def _count_array(self, nums: list[int]) -> int:
        used = 0
        i = 1
        lg, ttlg = 0, 1
        while lg <= MAXBITS:
            count = 0
            lim = ttlg
            if lim > self.asize:
                lim = self.asize
                if i > lim:
                    break
            while i <= lim:
                if self.array[i - 1]:
                    count += 1
                i += 1
            nums[lg] += count
            used += count
            lg += 1
            ttlg *= 2
        return used

    def resize(self, nasize: int, nhsize: int) -> None:
        """luaH_resize: the new array size first, a new node vector, then the keys of the
        vanishing array slice and of the old nodes re-inserted (the nodes from the top)."""
        old_asize = self.asize
        old_nodes = self.nodes
        dead = self.dead or ()
        self.dead = None
        if nasize > old_asize:
            self._set_array(nasize)
        self._set_nodes(nhsize)
        if nasize < old_asize:
            self.asize = nasize
            vanishing = self.array[nasize:old_asize]
            del self.array[nasize:]
            for i, used in enumerate(vanishing):
                if used:
                    self._new_key(float(nasize + i + 1))
        insert, new_key = self.insert, self._new_key
        for key in reversed(old_nodes):
            if key is not _EMPTY and key not in dead:  # nil values are left behind
                if type(key) is bytes:
                    new_key(key)
                else:
                    insert(key)

    # ------------------------------------------------------------------ reading
    def order(self) -> list[Any]:
        """Keys in next() order: used array slots, then nodes by slot."""
        out: list[Any] = [float(i + 1) for i, used in enumerate(self.array) if used]
        out.extend(key for key in self.nodes if key is not _EMPTY)
        return out


def _count_int(key: Any, nums: list[int]) -> int:
    k = array_index(key)
    if 0 < k <= _MAXASIZE:
        nums[ceillog2(k)] += 1
        return 1
    return 0


def _compute_sizes(nums: list[int], narray: int) -> tuple[int, int]:
    """computesizes: (keys going to the array part, its new size): the largest power of
    two n such that more than n/2 of the slots 1..n would be used."""
    a = na = n = 0
    i, twotoi = 0, 1
    while twotoi // 2 < narray:
        if nums[i] > 0:
            a += nums[i]
            if a > twotoi // 2:
                n = twotoi
                na = a
        if a == narray:
            break
        i += 1
        twotoi *= 2
    return na, n

