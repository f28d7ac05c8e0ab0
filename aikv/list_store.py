"""How a list lives in LMDB: one record per element, addressed by position.

Meta body: `version(8) | count(8) | head(8)` where `head` is the position of the first
element, stored with a 2**63 bias so it sorts (and decodes) as a signed 64-bit number.

Elements are dense: element `i` (0-based) is the record `version | pos(head + i)` in the
node-wide elements sub-database, `pos` being the biased big-endian position, so LMDB's key
order is list order. Consequences:

- LPUSH / LPOP touch `head - 1` / `head`, RPUSH / RPOP touch `head + count` and the last
  position: O(1) records whatever the length, and only the meta changes besides.
- LINDEX / LSET are a single get / put (O(1), better than Redis's O(n)).
- LRANGE is one cursor seek plus a sequential walk.
- LINSERT / LREM keep positions dense by moving the elements of the *shorter* side by
  one (LINSERT) or the side that avoids rewriting most (LREM): O(n) like Redis.
- LTRIM deletes the trimmed records and moves `head`: O(removed).

2**63 positions on each side of 0 are never exhausted by pushes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from aikv.persist.elements import collection_body
from aikv.persist.layout import NO_EXPIRE, TYPE_LIST, encode_meta

# Per-element LMDB calls pass the sub-database positionally (put(k, v, True, True, False,
# db), get(k, None, db), delete(k, b"", db)): py-lmdb parses keywords slowly, see
# aikv/keyspace.py.

if TYPE_CHECKING:
    import lmdb

    from aikv.keyspace import Database

BIAS = 1 << 63
LIST_TYPE_BYTE = bytes([TYPE_LIST])


def head_of(meta: bytes) -> int:
    return int.from_bytes(meta[25:33], "big") - BIAS


def count_of(meta: bytes) -> int:
    return int.from_bytes(meta[17:25], "big")


def pos_key(prefix: bytes, pos: int) -> bytes:
    return prefix + (pos + BIAS).to_bytes(8, "big")


def with_shape(meta: bytes, count: int, head: int) -> bytes:
    return meta[:17] + count.to_bytes(8, "big") + (head + BIAS).to_bytes(8, "big")


class ListHandle:
    """One live list inside the current write (or read) transaction. Mutators update
    `count`/`head` in memory; `save()` writes the meta back (or deletes the empty key)."""

    __slots__ = ("db", "key", "meta", "prefix", "count", "head", "store")

    def __init__(self, db: Database, key: bytes, meta: bytes) -> None:
        self.db = db
        self.key = key
        self.meta = meta
        self.prefix = meta[9:17]
        self.count = int.from_bytes(meta[17:25], "big")
        self.head = int.from_bytes(meta[25:33], "big") - BIAS
        self.store = db.store

    @classmethod
    def create(cls, db: Database, key: bytes, expire_at_ms: int = 0) -> ListHandle:
        assert db.store.versions is not None
        version = db.store.versions.allocate()
        meta = encode_meta(TYPE_LIST, expire_at_ms,
                           collection_body(version, 0, BIAS.to_bytes(8, "big")))
        db.put_meta(key, meta)
        return cls(db, key, meta)

    # ------------------------------------------------------------------ persistence
    def save(self) -> None:
        """Write back count/head; an emptied list is deleted, as in Redis. Its element
        records are all gone already, so nothing is queued for reclamation."""
        if self.count == 0:
            self.db.delete(self.key, drop_elements=False)
            return
        new_meta = with_shape(self.meta, self.count, self.head)
        if new_meta != self.meta:
            self.db.update_meta(self.key, new_meta)
            self.meta = new_meta
        else:
            self.db.touch_modified(self.key)

    def _writer(self) -> lmdb.Transaction:
        return self.store.writer()

    # ------------------------------------------------------------------ reads
    def index_pos(self, index: int) -> int | None:
        """Position of a Redis index (negative from the tail), None if out of range."""
        if index < 0:
            index += self.count
        if index < 0 or index >= self.count:
            return None
        return self.head + index

    def get(self, index: int) -> bytes | None:
        pos = self.index_pos(index)
        if pos is None:
            return None
        value: bytes | None = self.store.reader().get(pos_key(self.prefix, pos), None,
                                                      self.store.elements_db)
        return value

    def iter_from(self, index: int) -> Iterator[bytes]:
        """Values from `index` (0-based, in range) towards the tail."""
        cursor = self.store.reader().cursor(db=self.store.elements_db)
        if not cursor.set_key(pos_key(self.prefix, self.head + index)):
            return
        prefix = self.prefix
        for k, v in cursor.iternext():
            if k[:8] != prefix:
                return
            yield v

    def iter_back_from(self, index: int) -> Iterator[bytes]:
        """Values from `index` (0-based, in range) towards the head."""
        cursor = self.store.reader().cursor(db=self.store.elements_db)
        if not cursor.set_key(pos_key(self.prefix, self.head + index)):
            return
        prefix = self.prefix
        for k, v in cursor.iterprev():
            if k[:8] != prefix:
                return
            yield v

    def range(self, start: int, stop: int) -> list[bytes]:
        """LRANGE semantics (indexes already normalised by the caller: 0 <= start <= stop
        < count)."""
        n = stop - start + 1
        out: list[bytes] = []
        append = out.append
        for v in self.iter_from(start):
            append(v)
            if len(out) >= n:
                break
        return out

    def all(self) -> list[bytes]:
        return self.range(0, self.count - 1) if self.count else []

    # ------------------------------------------------------------------ ends
    def push(self, values: Sequence[bytes], left: bool) -> None:
        txn = self._writer()
        prefix = self.prefix
        if left:
            head = self.head
            items = [(pos_key(prefix, head - 1 - i), v) for i, v in enumerate(values)]
            self.head = head - len(values)
        else:
            tail = self.head + self.count
            items = [(pos_key(prefix, tail + i), v) for i, v in enumerate(values)]
        if len(items) == 1:
            txn.put(items[0][0], items[0][1], True, True, False, self.store.elements_db)
        else:
            txn.cursor(db=self.store.elements_db).putmulti(items)
        self.count += len(values)

    def pop(self, n: int, left: bool) -> list[bytes]:
        """Remove and return up to `n` elements from one end (in pop order)."""
        n = min(n, self.count)
        txn = self._writer()
        prefix = self.prefix
        edb = self.store.elements_db
        out: list[bytes] = []
        if left:
            head = self.head
            for i in range(n):
                out.append(txn.pop(pos_key(prefix, head + i), edb))
            self.head = head + n
        else:
            last = self.head + self.count - 1
            for i in range(n):
                out.append(txn.pop(pos_key(prefix, last - i), edb))
        self.count -= n
        return out

    # ------------------------------------------------------------------ middle
    def set(self, index: int, value: bytes) -> bool:
        pos = self.index_pos(index)
        if pos is None:
            return False
        self._writer().put(pos_key(self.prefix, pos), value, True, True, False,
                           self.store.elements_db)
        return True

    def insert(self, index: int, value: bytes) -> None:
        """Insert so that `value` ends up at `index` (0 <= index <= count), moving the
        shorter side outwards by one position."""
        txn = self._writer()
        edb = self.store.elements_db
        prefix = self.prefix
        head = self.head
        if index <= self.count - index:
            # Shift elements [0, index) one position towards the head.
            moved = self.range(0, index - 1) if index else []
            items = [(pos_key(prefix, head - 1 + i), v) for i, v in enumerate(moved)]
            items.append((pos_key(prefix, head - 1 + index), value))
            self.head = head - 1
        else:
            moved = self.range(index, self.count - 1)
            items = [(pos_key(prefix, head + index + 1 + i), v) for i, v in enumerate(moved)]
            items.append((pos_key(prefix, head + index), value))
        txn.cursor(db=edb).putmulti(items)
        self.count += 1

    def rewrite(self, first: int, old_len: int, new_values: list[bytes],
                anchor_tail: bool) -> None:
        """Replace the elements [first, first + old_len) by `new_values` (shorter or equal),
        closing the gap from the side given by `anchor_tail`: when anchoring the tail the
        replaced span must start at index 0, else it must end at the last element."""
        txn = self._writer()
        edb = self.store.elements_db
        prefix = self.prefix
        head = self.head
        removed = old_len - len(new_values)
        if anchor_tail:
            assert first == 0
            new_head = head + removed
            for i in range(removed):
                txn.delete(pos_key(prefix, head + i), db=edb)
            items = [(pos_key(prefix, new_head + i), v) for i, v in enumerate(new_values)]
            self.head = new_head
        else:
            assert first + old_len == self.count
            base = head + first
            items = [(pos_key(prefix, base + i), v) for i, v in enumerate(new_values)]
            end = head + self.count
            for pos in range(end - removed, end):
                txn.delete(pos_key(prefix, pos), db=edb)
        if items:
            txn.cursor(db=edb).putmulti(items)
        self.count -= removed

    def trim(self, start: int, stop: int) -> None:
        """Keep [start, stop] (normalised; start > stop empties the list)."""
        txn = self._writer()
        edb = self.store.elements_db
        prefix = self.prefix
        head = self.head
        if start > stop or start >= self.count:
            keep_from, keep_to = self.count, self.count - 1
        else:
            keep_from, keep_to = start, min(stop, self.count - 1)
        for i in range(0, keep_from):
            txn.delete(pos_key(prefix, head + i), db=edb)
        for i in range(keep_to + 1, self.count):
            txn.delete(pos_key(prefix, head + i), db=edb)
        if keep_from > keep_to:
            self.count = 0
        else:
            self.head = head + keep_from
            self.count = keep_to - keep_from + 1


# ---------------------------------------------------------------------- lookups
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def open_list(db: Database, key: bytes) -> ListHandle | None:
    """The live list at `key`, None if absent; raises WRONGTYPE for another type."""
    meta = db.get_meta(key)
    if meta is None:
        return None
    if meta[0] != TYPE_LIST:
        from aikv.resp import CommandError

        raise CommandError(WRONGTYPE)
    return ListHandle(db, key, meta)


# ---------------------------------------------------------------------- DUMP/RESTORE hooks
def read_value(db: Database, key: bytes, meta: bytes) -> list[bytes]:
    return ListHandle(db, key, meta).all()


def write_value(db: Database, key: bytes, value: object, expire_at_ms: int) -> None:
    assert isinstance(value, list)
    handle = ListHandle.create(db, key, expire_at_ms)
    if value:
        handle.push(value, left=False)
    handle.save()


def encoding(db: Database, key: bytes, meta: bytes) -> bytes:
    # Redis 7.0 stores every list as a quicklist (listpack-encoded small lists are 7.2).
    return b"quicklist"


__all__ = ["ListHandle", "open_list", "read_value", "write_value", "encoding", "NO_EXPIRE",
           "LIST_TYPE_BYTE"]
