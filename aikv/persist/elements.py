"""Element records of collections (hash, list, set, zset), shared by the type modules.

A collection's meta record (see layout.py) has the body `version(8) | count(8) | extra`,
where `extra` belongs to the type. Each element is one record in the node-wide
`elements` sub-database under

    version(8, BE) | subkey

so one element operation touches one record whatever the collection's size. Versions are
unique for the life of the store (a persistent high-water mark), which buys three things:
RENAME and MOVE only move the meta record (O(1), as in Redis); deleting a collection only
drops its meta and queues its version as garbage, and `reclaim()` removes the orphaned
records in small batches from a cron, so deleting a million-element set does not stall
other clients; and a new collection under an old name can never see the old leftovers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lmdb

if TYPE_CHECKING:
    from aikv.keyspace import Database
    from aikv.persist.store import Store

VERSION_BLOCK = 4096
_VERSION_KEY = b"next-version"
COLLECTION_BODY = 16  # version(8) + count(8)


def element_prefix(version: int) -> bytes:
    return version.to_bytes(8, "big")


def meta_version(meta: bytes) -> int:
    return int.from_bytes(meta[9:17], "big")


def meta_count(meta: bytes) -> int:
    return int.from_bytes(meta[17:25], "big")


def with_count(meta: bytes, count: int) -> bytes:
    return meta[:17] + count.to_bytes(8, "big") + meta[25:]


def collection_body(version: int, count: int, extra: bytes = b"") -> bytes:
    return version.to_bytes(8, "big") + count.to_bytes(8, "big") + extra


class VersionAllocator:
    """Hands out collection versions; persists a high-water mark once per block, so a
    version is never handed out twice, even across crashes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._next = 0
        self._limit = 0

    def allocate(self) -> int:
        if self._next >= self._limit:
            txn = self.store.writer()
            raw = txn.get(_VERSION_KEY, db=self.store.misc_db)
            start = int.from_bytes(raw, "big") if raw else 1
            self._next = start
            self._limit = start + VERSION_BLOCK
            txn.put(_VERSION_KEY, self._limit.to_bytes(8, "big"), db=self.store.misc_db)
        version = self._next
        self._next += 1
        return version


def queue_garbage(db: Database, txn: lmdb.Transaction, slot: int, key: bytes,
                  meta: bytes) -> None:
    """Drop hook for collection types: their element records become garbage."""
    txn.put(meta[9:17], b"", db=db.store.garbage_db)
    db.store.has_garbage = True


def copy_elements(store: Store, txn: lmdb.Transaction, src_version: int,
                  dst_version: int) -> None:
    """Duplicate every element record of a collection under a new version (COPY)."""
    src = element_prefix(src_version)
    dst = element_prefix(dst_version)
    cursor = txn.cursor(db=store.elements_db)
    batch = []
    if cursor.set_range(src):
        for k, v in cursor:
            if k[:8] != src:
                break
            batch.append((dst + k[8:], v))
    for k, v in batch:
        txn.put(k, v, db=store.elements_db)


LAZYFREE_THRESHOLD = 64


def reclaim(store: Store, budget: int = 2000) -> int:
    """Delete up to `budget` orphaned element records; returns how many went."""
    txn = store.writer()
    garbage = txn.cursor(db=store.garbage_db)
    removed = 0
    while removed < budget and garbage.first():
        prefix = garbage.key()
        # Records of this collection removed by earlier passes (kept in the entry).
        records = int.from_bytes(garbage.value(), "big")
        elements = txn.cursor(db=store.elements_db)
        done = True
        if elements.set_range(prefix):
            while elements.key()[:8] == prefix:
                if removed >= budget:
                    done = False
                    break
                removed += 1
                records += 1
                if not elements.delete():
                    break
        if not done:
            garbage.put(prefix, records.to_bytes(8, "big"))
        else:
            garbage.delete()
            # Redis frees a value in its background thread, and counts it in
            # lazyfreed_objects, only when freeing costs more than LAZYFREE_THRESHOLD
            # allocations. (Counted once more if this transaction is lost.)
            if records > LAZYFREE_THRESHOLD:
                store.reclaimed_collections += 1
    if removed < budget:
        store.has_garbage = False
    return removed
