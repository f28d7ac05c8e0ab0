"""How a sorted set lives in LMDB, and the walks over it.

Meta body: `version(8) | count(8) | flags(1)`; bit 0 of flags (FLAG_SKIPLIST) is set once
the set outgrows Redis's listpack limits (zset-max-listpack-entries/-value) and is sticky,
as Redis never converts back on removal. OBJECT ENCODING is one bit test.

Two record families per set in the node-wide elements sub-database (`version | subkey`):

- member records `h | hash(8) | member` -> `score(8, IEEE BE)`: ZSCORE/ZADD lookups are one
  get. `hash` is a 63-bit BLAKE2b of the member. Keying members by hash gives ZSCAN a
  cursor that is simply the hash to resume from (see `scan`) and ZRANDMEMBER a uniform
  random seek.
- order records `s | sortable(score)(8) | member` -> empty: the (score, member) order of
  Redis's skiplist, for range walks. `sortable` maps a double onto 8 bytes whose unsigned
  order is numeric order (-0.0 is folded onto 0.0, which Redis treats as equal; such a
  record's value is `-` so walks still report -0, as a skiplist-encoded Redis set does).

LMDB keys are limited to 511 bytes, so members longer than INLINE bytes are stored as
`h | hash | blake2b-128(member)` -> `score | member` and `s | sortable | member[:INLINE] |
blake2b-128(member)` -> `L | sign | member` (sign `-` for -0.0, else `+`). Order records of long members that share score and
their first INLINE bytes are re-sorted by full member while walking (`_walk`), so the
order stays exactly Redis's.

Costs: ZADD/ZREM/ZSCORE/ZINCRBY O(1) records; ZCARD O(1) (meta count); score and lex
ranges one seek plus the walk of the result; ranks (ZRANK, ZRANGE by index,
ZREMRANGEBYRANK) are O(rank) cursor steps from the nearer end — Redis keeps span counts
in its skiplist for O(log n), we do not (yet). ZCOUNT/ZLEXCOUNT walk their range.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from hashlib import blake2b
from itertools import chain
from typing import TYPE_CHECKING

from aikv.notify import GENERIC, ZSET
from aikv.persist.elements import collection_body
from aikv.persist.layout import TYPE_ZSET, encode_meta
from aikv.resp import CommandError

# Per-element LMDB calls pass the sub-database positionally (put(k, v, True, True, False,
# db), get(k, None, db), delete(k, b"", db)): py-lmdb parses keywords slowly, see
# aikv/keyspace.py.

if TYPE_CHECKING:
    from aikv.keyspace import Database

FLAG_SKIPLIST = 1
INLINE = 470
# Bytes of the blake2b digest that follows the first INLINE bytes of a longer member in
# its order record.
ORDER_DIGEST = 16
HASH_MASK = (1 << 63) - 1
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"

_D = struct.Struct(">d")
_Q = struct.Struct(">Q")
# Below this many members random picks read the whole set: exactly uniform, and cheaper
# than one descent per pick (hashes and sets use the same bound).
RANDOM_FULL_READ = 512
_SIGN = 1 << 63
_ALL = (1 << 64) - 1
_MEMBER = b"h"
_ORDER = b"s"


def sortable(score: float) -> bytes:
    bits = _Q.unpack(_D.pack(score + 0.0))[0]  # + 0.0 folds -0.0 onto 0.0
    return _Q.pack((bits ^ _ALL) if bits & _SIGN else (bits | _SIGN))


def unsortable(raw: bytes) -> float:
    bits = _Q.unpack(raw)[0]
    bits = (bits & ~_SIGN) if bits & _SIGN else (bits ^ _ALL)
    value: float = _D.unpack(_Q.pack(bits))[0]
    return value


def member_hash(member: bytes) -> int:
    return int.from_bytes(blake2b(member, digest_size=8).digest(), "big") & HASH_MASK


def _member_subkey(member: bytes) -> bytes:
    h = _Q.pack(member_hash(member))
    if len(member) <= INLINE:
        return _MEMBER + h + member
    return _MEMBER + h + blake2b(member, digest_size=16).digest()


def _order_value(score: float, member: bytes) -> bytes:
    negzero = score == 0.0 and str(score)[0] == "-"
    if len(member) <= INLINE:
        return b"-" if negzero else b""
    return (b"L-" if negzero else b"L+") + member


def _order_subkey(score: float, member: bytes) -> bytes:
    if len(member) <= INLINE:
        return _ORDER + sortable(score) + member
    return _ORDER + sortable(score) + member[:INLINE] + blake2b(member, digest_size=ORDER_DIGEST).digest()


# ---------------------------------------------------------------------- score text
def format_score(value: float) -> bytes:
    """Redis 7.0's d2string: integers in (-2**52, 2**52) exactly, else %.17g."""
    if value == 0.0:
        return b"-0" if str(value)[0] == "-" else b"0"
    if -4503599627370495.0 < value < 4503599627370496.0 and value == int(value):
        return b"%d" % int(value)
    return b"%.17g" % value


def score_reply(value: float, resp3: bool) -> bytes:
    text = format_score(value)
    if resp3:
        return b",%s\r\n" % text
    return b"$%d\r\n%s\r\n" % (len(text), text)


_SPACE = b" \t\n\v\f\r"


def _strtod(text: bytes) -> float | None:
    """The number strtod would read from the whole of `text` (no leading space, nothing
    after it), or None."""
    if not text or text[0] in _SPACE or text[-1] in _SPACE or b"_" in text:
        return None
    try:
        s = text.decode("ascii")
    except UnicodeDecodeError:
        return None
    body = s.lstrip("+-").lower()
    try:
        if body.startswith("0x"):
            return float.fromhex(s)
        return float(s)
    except ValueError:
        return None


def parse_score(raw: bytes, message: str = "ERR value is not a valid float") -> float:
    """getDoubleFromObject: whole-string strtod, no NaN, no overflow/underflow (ERANGE)."""
    if raw.isdigit() and len(raw) < 16:
        return float(int(raw))  # the common case, exact below 2**53
    value = _strtod(raw)
    if value is None or value != value:
        raise CommandError(message)
    if value in (float("inf"), float("-inf")):
        if "inf" not in raw.decode("ascii").lower():
            raise CommandError(message)  # overflowed: ERANGE
    elif value == 0.0 and any(48 < c <= 57 for c in raw.split(b"e")[0].split(b"E")[0]):
        if not raw.lower().lstrip(b"+-").startswith(b"0x"):
            raise CommandError(message)  # underflowed to zero: ERANGE
    return value


def parse_range_bound(raw: bytes) -> tuple[float, bool]:
    """One side of a score range (zslParseRange): '(' for exclusive; strtod which skips
    leading space and reads an empty string as 0; NaN refused."""
    exclusive = raw[:1] == b"("
    text = raw[1:] if exclusive else raw
    if not text:
        return 0.0, exclusive
    value = _strtod(text.lstrip(_SPACE))
    if value is None or value != value:
        raise CommandError("ERR min or max is not a float")
    return value, exclusive


class ScoreRange:
    __slots__ = ("min", "max", "minex", "maxex")

    def __init__(self, lo: bytes, hi: bytes) -> None:
        self.min, self.minex = parse_range_bound(lo)
        self.max, self.maxex = parse_range_bound(hi)

    @classmethod
    def between(cls, lo: float, hi: float, minex: bool = False, maxex: bool = False
                ) -> ScoreRange:
        """A range from numbers rather than command arguments."""
        rng = cls.__new__(cls)
        rng.min, rng.minex, rng.max, rng.maxex = lo, minex, hi, maxex
        return rng

    def empty(self) -> bool:
        return self.min > self.max or (self.min == self.max and (self.minex or self.maxex))

    def above_min(self, score: float) -> bool:
        return score > self.min if self.minex else score >= self.min

    def below_max(self, score: float) -> bool:
        return score < self.max if self.maxex else score <= self.max


class LexRange:
    """[a (a + - bounds; `None` stands for the infinite ends."""

    __slots__ = ("min", "max", "minex", "maxex", "min_inf", "max_inf")

    def __init__(self, lo: bytes, hi: bytes) -> None:
        self.min, self.minex, self.min_inf = self._parse(lo)
        self.max, self.maxex, self.max_inf = self._parse(hi)

    @staticmethod
    def _parse(raw: bytes) -> tuple[bytes, bool, int]:
        head = raw[:1]
        if head == b"+" and len(raw) == 1:
            return b"", False, 1
        if head == b"-" and len(raw) == 1:
            return b"", False, -1
        if head == b"(":
            return raw[1:], True, 0
        if head == b"[":
            return raw[1:], False, 0
        raise CommandError("ERR min or max not valid string range item")

    def empty(self) -> bool:
        if self.min_inf == 1 or self.max_inf == -1:
            return True
        if self.min_inf == -1 or self.max_inf == 1:
            return False
        return self.min > self.max or (self.min == self.max and (self.minex or self.maxex))

    def gte_min(self, member: bytes) -> bool:
        if self.min_inf:
            return self.min_inf == -1
        return member > self.min if self.minex else member >= self.min

    def lte_max(self, member: bytes) -> bool:
        if self.max_inf:
            return self.max_inf == 1
        return member < self.max if self.maxex else member <= self.max


# ---------------------------------------------------------------------- the handle
class ZSet:
    """One live sorted set inside the current transaction; mutators keep `count` and
    `flags` in memory, `save()` writes them back (deleting the key when empty)."""

    __slots__ = ("db", "key", "meta", "prefix", "count", "flags", "store", "edb",
                 "_mp", "_op")

    def __init__(self, db: Database, key: bytes, meta: bytes) -> None:
        self.db = db
        self.key = key
        self.meta = meta
        self.prefix = meta[9:17]
        self.count = int.from_bytes(meta[17:25], "big")
        self.flags = meta[25] if len(meta) > 25 else 0
        self.store = db.store
        self.edb = db.store.elements_db
        self._mp = self.prefix + _MEMBER
        self._op = self.prefix + _ORDER

    @classmethod
    def create(cls, db: Database, key: bytes, flags: int = 0, expire_at_ms: int = 0) -> ZSet:
        assert db.store.versions is not None
        version = db.store.versions.allocate()
        meta = encode_meta(TYPE_ZSET, expire_at_ms, collection_body(version, 0, bytes((flags,))))
        db.put_meta(key, meta)
        return cls(db, key, meta)

    def save(self) -> None:
        if self.count == 0:
            self.db.delete(self.key, drop_elements=False)
            return
        meta = self.meta[:17] + self.count.to_bytes(8, "big") + bytes((self.flags,))
        if meta != self.meta:
            self.db.update_meta(self.key, meta)
            self.meta = meta
        else:
            self.db.touch_modified(self.key)

    @property
    def skiplist(self) -> bool:
        return bool(self.flags & FLAG_SKIPLIST)

    def to_skiplist(self) -> None:
        """Take the skiplist encoding for good, as SORT and SORT_RO do to a sorted set in
        Redis 7.0 (sortCommandGeneric converts it before sorting, whatever follows).
        Redis does not signal that conversion, so neither does this write; with the disk
        refusing writes it is skipped (only the reported encoding is at stake)."""
        if self.flags & FLAG_SKIPLIST or self.store.write_error is not None:
            return
        self.flags |= FLAG_SKIPLIST
        self.meta = self.meta[:25] + bytes((self.flags,))
        self.db.update_meta(self.key, self.meta, touch=False)

    def grow_check(self, max_entries: int, max_value: int, member_len: int) -> None:
        """Before adding a member: leave the listpack encoding when Redis would (sticky)."""
        if not self.flags & FLAG_SKIPLIST and (self.count + 1 > max_entries
                                               or member_len > max_value):
            self.flags |= FLAG_SKIPLIST

    # ------------------------------------------------------------------ members
    def lookup(self, member: bytes) -> tuple[bytes, float | None]:
        """(member record key, score or None); the key feeds insert/update, so a ZADD
        hashes each member once."""
        mkey = self.prefix + _member_subkey(member)
        raw = self.store.reader().get(mkey, None, self.edb)
        if raw is None:
            return mkey, None
        if len(member) > INLINE and raw[8:] != member:
            return mkey, None  # a 128-bit digest collision: treat as a different member
        value: float = _D.unpack(raw[:8])[0]
        return mkey, value

    def score(self, member: bytes) -> float | None:
        return self.lookup(member)[1]

    def insert(self, member: bytes, score: float, mkey: bytes | None = None) -> None:
        """Add a member known to be absent."""
        txn = self.store.writer()
        long = len(member) > INLINE
        txn.put(mkey or self.prefix + _member_subkey(member),
                _D.pack(score) + member if long else _D.pack(score), True, True, False, self.edb)
        txn.put(self.prefix + _order_subkey(score, member), _order_value(score, member),
                True, True, False, self.edb)
        self.count += 1

    def update(self, member: bytes, old: float, new: float, mkey: bytes | None = None) -> None:
        txn = self.store.writer()
        long = len(member) > INLINE
        txn.put(mkey or self.prefix + _member_subkey(member),
                _D.pack(new) + member if long else _D.pack(new), True, True, False, self.edb)
        old_order = _order_subkey(old, member)
        new_order = _order_subkey(new, member)
        if old_order != new_order:
            txn.delete(self.prefix + old_order, b"", self.edb)
        txn.put(self.prefix + new_order, _order_value(new, member), True, True, False, self.edb)

    def remove(self, member: bytes, score: float) -> None:
        txn = self.store.writer()
        txn.delete(self.prefix + _member_subkey(member), b"", self.edb)
        txn.delete(self.prefix + _order_subkey(score, member), b"", self.edb)
        self.count -= 1

    # ------------------------------------------------------------------ walks
    def _walk(self, forward: bool, seek: bytes | None = None
              ) -> Iterator[tuple[bytes, float]]:
        """(member, score) in (score, member) order from `seek` (an order subkey; forward:
        first record >= seek; backward: last record < seek), or from the respective end."""
        cursor = self.store.reader().cursor(db=self.edb)
        op = self._op
        if forward:
            ok = cursor.set_range(op + seek if seek is not None else op)
            if not ok:
                return
            it = cursor.iternext()
        else:
            end = op + seek if seek is not None else self.prefix + b"t"
            if cursor.set_range(end):
                ok = cursor.prev()
            else:
                ok = cursor.last()
            if not ok:
                return
            it = cursor.iterprev()
        group: list[bytes] = []
        group_key = b""
        group_score = 0.0
        for k, v in it:
            if k[:9] != op:
                break
            if not v or v == b"-":
                if group:
                    yield from self._flush(group, group_score, forward)
                    group = []
                yield k[17:], (-0.0 if v else unsortable(k[9:17]))
                continue
            # A long member: gather those sharing score and truncated prefix, sort fully.
            gk = k[9:17 + INLINE]
            if group and gk != group_key:
                yield from self._flush(group, group_score, forward)
                group = []
            if not group:
                group_key = gk
                group_score = -0.0 if v[1:2] == b"-" else unsortable(k[9:17])
            group.append(v[2:])
        if group:
            yield from self._flush(group, group_score, forward)

    @staticmethod
    def _flush(group: list[bytes], score: float, forward: bool
               ) -> Iterator[tuple[bytes, float]]:
        group.sort(reverse=not forward)
        for member in group:
            yield member, score

    def items(self, forward: bool = True) -> Iterator[tuple[bytes, float]]:
        return self._walk(forward)

    def by_rank(self, start: int, stop: int, reverse: bool) -> list[tuple[bytes, float]]:
        """Normalised ranks 0 <= start <= stop < count, counted from the low end (or the
        high end when `reverse`), in reply order. Walks from the nearer end."""
        n = self.count
        lo, hi = (n - 1 - stop, n - 1 - start) if reverse else (start, stop)
        want = hi - lo + 1
        out: list[tuple[bytes, float]] = []
        if lo <= n - 1 - hi:
            it = self._walk(True)
            skip = lo
        else:
            it = self._walk(False)
            skip = n - 1 - hi
        for item in it:
            if skip:
                skip -= 1
                continue
            out.append(item)
            if len(out) >= want:
                break
        walked_forward = lo <= n - 1 - hi
        if walked_forward == reverse:
            out.reverse()
        return out

    def rank(self, member: bytes, score: float, reverse: bool) -> int:
        """O(rank) from the low end; the reverse rank follows from the count."""
        target = _order_subkey(score, member)
        cursor = self.store.reader().cursor(db=self.edb)
        op = self._op
        cursor.set_range(op)
        r = 0
        if len(member) <= INLINE:
            full = self.prefix + target
            for k in cursor.iternext(keys=True, values=False):
                if k == full or k[:9] != op:
                    break
                r += 1
        else:
            for m, _ in self._walk(True):
                if m == member:
                    break
                r += 1
        return self.count - 1 - r if reverse else r

    def by_score(self, rng: ScoreRange, reverse: bool, offset: int = 0, limit: int = -1
                 ) -> Iterator[tuple[bytes, float]]:
        if reverse:
            # Just past every record scoring max (sortable() never yields all ones).
            it = self._walk(False, _Q.pack(_Q.unpack(sortable(rng.max))[0] + 1))
        else:
            it = self._walk(True, sortable(rng.min))
        for member, score in it:
            if reverse:
                if not rng.below_max(score):
                    continue
                if not rng.above_min(score):
                    return
            else:
                if not rng.above_min(score):
                    continue
                if not rng.below_max(score):
                    return
            if offset:
                offset -= 1
                continue
            if limit == 0:
                return
            limit -= 1
            yield member, score

    def by_lex(self, rng: LexRange, reverse: bool, offset: int = 0, limit: int = -1,
               checked: bool = True) -> Iterator[tuple[bytes, float]]:
        """Lex ranges assume equal scores, as Redis documents; with mixed scores Redis's
        answer comes from how it walks, and this walks the same way:

        1. (`checked`) the range is empty unless the last element is >= min and the first
           <= max (zzlIsInLexRange / zslIsInLexRange; ZREMRANGEBYLEX on a skiplist skips
           this check, hence `checked` False there);
        2. the start: forward, the first element from the front that is >= min; in
           reverse, a listpack takes the first element from the back that is <= max,
           while a skiplist walks from the front as long as elements are <= max and
           takes the last one (Redis descends through its random node levels, so its
           answer varies; this is the walk as if every node had level 1); the range is
           empty if the start fails the other bound;
        3. `offset` elements are stepped over unchecked, then elements are taken while
           they pass the far bound (<= max forward, >= min in reverse), `limit` at most.

        With a single score the storage order is the lex order and the walk seeks straight
        to the bound, which gives the same answer."""
        first = next(self._walk(True), None)
        last = next(self._walk(False), None)
        if first is None or last is None:
            return
        if checked and not (rng.gte_min(last[0]) and rng.lte_max(first[0])):
            return
        starts = rng.lte_max if reverse else rng.gte_min
        within = rng.gte_min if reverse else rng.lte_max
        it: Iterator[tuple[bytes, float]]
        if first[1] == last[1]:
            seek: bytes | None = None
            base = sortable(first[1])
            # A member longer than INLINE is stored under its first INLINE bytes and a
            # digest, so a longer bound is cut there: the seek then lands before (after,
            # in reverse) every member sharing those bytes, and the walk, which orders
            # such members by their full bytes, finds the exact start.
            if reverse and not rng.max_inf:
                if len(rng.max) <= INLINE:
                    seek = base + rng.max + b"\x00"  # just past every member <= max
                else:
                    seek = base + rng.max[:INLINE] + b"\xff" * (ORDER_DIGEST + 1)  # past any digest
            elif not reverse and not rng.min_inf:
                seek = base + rng.min[:INLINE]
            it = self._walk(not reverse, seek)
        elif reverse and self.skiplist:
            run: list[tuple[bytes, float]] = []
            for item in self._walk(True):
                if not rng.lte_max(item[0]):
                    break
                run.append(item)
            it = reversed(run)
        else:
            it = self._walk(not reverse)
        for item in it:
            if starts(item[0]):
                break
        else:
            return
        if not within(item[0]):
            return
        pending: Iterator[tuple[bytes, float]] = chain((item,), it)
        for _ in range(offset):
            if next(pending, None) is None:
                return
        for member, score in pending:
            if limit == 0 or not within(member):
                return
            limit -= 1
            yield member, score

    # ------------------------------------------------------------------ scan & random
    def scan(self, cursor: int, count: int) -> tuple[int, list[tuple[bytes, float]]]:
        """One ZSCAN step over member records in hash order. The cursor is the hash of
        the next member to visit (< 2**63; 0 = start/end). Members sharing a hash always
        come back in the same reply, so every call advances; a member present throughout
        is never skipped (it sits at or after the resume hash); duplicates cannot occur
        unless the set is rebuilt meanwhile."""
        lmdb_cursor = self.store.reader().cursor(db=self.edb)
        mp = self._mp
        out: list[tuple[bytes, float]] = []
        if not lmdb_cursor.set_range(mp + _Q.pack(cursor & HASH_MASK)):
            return 0, out
        last_hash = b""
        for k, v in lmdb_cursor.iternext():
            if k[:9] != mp:
                return 0, out
            h = k[9:17]
            if len(out) >= count and h != last_hash:
                return _Q.unpack(h)[0], out
            last_hash = h
            member = v[8:] if len(v) > 8 else k[17:]
            out.append((member, _D.unpack(v[:8])[0]))
        return 0, out

    def random_members(self, n: int) -> list[tuple[bytes, float]]:
        """`n` random picks (with repetition). Up to RANDOM_FULL_READ members, or when
        `n` covers the set, one read of the whole set and exactly uniform picks (as
        Redis's listpack picks are); above, one seek each at a random hash: nearly
        uniform (the member at or after a random point, see collections_common)."""
        if self.count <= RANDOM_FULL_READ or n >= self.count:
            return random.choices(list(self.items()), k=n)
        cursor = self.store.reader().cursor(db=self.edb)
        mp = self._mp
        out: list[tuple[bytes, float]] = []
        for _ in range(n):
            probe = mp + _Q.pack(random.getrandbits(63))
            if not cursor.set_range(probe) or cursor.key()[:9] != mp:
                cursor.set_range(mp)
            k, v = cursor.item()
            member = v[8:] if len(v) > 8 else k[17:]
            out.append((member, _D.unpack(v[:8])[0]))
        return out


# ---------------------------------------------------------------------- lookups
def open_zset(db: Database, key: bytes) -> ZSet | None:
    meta = db.get_meta(key)
    if meta is None:
        return None
    if meta[0] != TYPE_ZSET:
        raise CommandError(WRONGTYPE)
    return ZSet(db, key, meta)


def zset_or_none(db: Database, key: bytes) -> ZSet | None:
    """For blocked clients: a sorted set at `key`, else None (no WRONGTYPE)."""
    meta = db.get_meta(key)
    if meta is None or meta[0] != TYPE_ZSET:
        return None
    return ZSet(db, key, meta)


def store_result(db: Database, key: bytes, items: dict[bytes, float], max_entries: int,
                 max_value: int, expire_at_ms: int = 0, event: bytes | None = None) -> int:
    """Replace `key` by a sorted set of `items` (deleting it when empty); the encoding
    follows the size, as Redis picks it for a STORE result or a loaded value. With
    `event` (a STORE command's) the change is published: that event, or "del"."""
    if not items:
        if db.delete(key) and event is not None:
            db.notify(GENERIC, b"del", key)
        return 0
    big = len(items) > max_entries or any(len(m) > max_value for m in items)
    zs = ZSet.create(db, key, FLAG_SKIPLIST if big else 0, expire_at_ms)
    for member, score in items.items():
        zs.insert(member, score if big or score != 0.0 else 0.0)
    zs.save()
    if event is not None:
        db.notify(ZSET, event, key)
    return zs.count
