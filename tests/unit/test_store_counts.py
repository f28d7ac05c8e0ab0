"""Per-slot key counts: exact in memory, stored in batches (a stale-slot bitmap per commit,
the counts themselves past COUNT_FLUSH_SLOTS stale slots and at close), recounted for the
stale slots at open, so a crash between batches loses nothing (aikv/persist/store.py)."""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

from aikv.cluster.slots import key_hash_slot
from aikv.cluster.state import bitmap_slots
from aikv.keyspace import Clock, Database
from aikv.persist.store import COUNT_FLUSH_SLOTS, Store


def open_store(root: Path) -> tuple[Store, Database]:
    store = Store(root, databases=2)
    store.open()
    return store, Database(store, 0, Clock(), lambda index, key: None)


def crash(store: Store) -> None:
    """Drop the store as a killed process would: committed pages stay, nothing in
    memory is written."""
    assert store.env is not None and not store.in_write
    store._drop_read_txn()
    store.env.close()
    store.env = None
    assert store._lock_fd is not None
    os.close(store._lock_fd)
    store._lock_fd = None


def stored_counts(store: Store, index: int = 0) -> dict[int, int]:
    txn = store.reader()
    return {int.from_bytes(k, "big"): int.from_bytes(v, "big")
            for k, v in txn.cursor(db=store.dbs[index].counts)}


def expected_counts(keys: set[bytes]) -> Counter[int]:
    return Counter(key_hash_slot(k) for k in keys)


def nonzero(counts: list[int]) -> dict[int, int]:
    return {slot: n for slot, n in enumerate(counts) if n}


def test_a_commit_of_new_keys_marks_slots_instead_of_writing_counts(tmp_path: Path) -> None:
    store, db = open_store(tmp_path)
    try:
        keys = {b"key:%d" % i for i in range(50)}
        for key in keys:
            db.set_string(key, b"v")
        store.commit()
        assert nonzero(store.slot_counts[0]) == expected_counts(keys)
        assert stored_counts(store) == {}  # not written yet: only marked stale
        bitmap = store.reader().get(b"stale-counts:0", db=store.misc_db)
        assert bitmap is not None
        assert set(bitmap_slots(bitmap)) == set(expected_counts(keys))
    finally:
        store.close()
    # A clean close writes them and drops the bitmap.
    store, db = open_store(tmp_path)
    try:
        assert stored_counts(store) == expected_counts(keys)
        assert store.reader().get(b"stale-counts:0", db=store.misc_db) is None
        assert store.key_totals[0] == 50
    finally:
        store.close()


def test_too_many_stale_slots_are_written_in_one_batch(tmp_path: Path) -> None:
    store, db = open_store(tmp_path)
    try:
        keys: set[bytes] = set()
        i = 0
        while len(expected_counts(keys)) <= COUNT_FLUSH_SLOTS:
            keys.add(b"k%d" % i)
            db.set_string(b"k%d" % i, b"v")
            i += 1
            if i % 100 == 0:
                store.commit()
        store.commit()
        assert stored_counts(store) == expected_counts(keys)
        assert store.reader().get(b"stale-counts:0", db=store.misc_db) is None
    finally:
        store.close()


def test_counts_are_exact_after_a_crash(tmp_path: Path) -> None:
    rng = random.Random(7)
    store, db = open_store(tmp_path)
    live: set[bytes] = set()
    # Several rounds of adds and deletes over many slots, committed tick by tick, with a
    # crash at the end of each round: batches written, bitmaps pending, both.
    for round_ in range(4):
        for _tick in range(30):
            for _ in range(rng.randrange(1, 60)):
                key = b"k%d" % rng.randrange(5000)
                if key in live and rng.random() < 0.4:
                    assert db.delete(key)
                    live.discard(key)
                else:
                    db.set_string(key, b"r%d" % round_)
                    live.add(key)
            store.commit()
        assert nonzero(store.slot_counts[0]) == expected_counts(live)
        crash(store)
        store, db = open_store(tmp_path)
        assert nonzero(store.slot_counts[0]) == expected_counts(live), round_
        assert store.key_totals[0] == len(live)
    store.close()
    store, db = open_store(tmp_path)
    try:
        assert stored_counts(store) == expected_counts(live)
    finally:
        store.close()


def test_flushdb_then_crash_counts_zero(tmp_path: Path) -> None:
    store, db = open_store(tmp_path)
    other = Database(store, 1, db.clock, lambda index, key: None)
    for i in range(300):
        db.set_string(b"a%d" % i, b"v")
        other.set_string(b"b%d" % i, b"v")
    store.commit()
    store.close()
    store, db = open_store(tmp_path)
    db.flush()
    store.commit()
    crash(store)
    store, db = open_store(tmp_path)
    try:
        assert store.key_totals == [0, 300]
        assert not any(store.slot_counts[0])
    finally:
        store.close()


def test_close_with_an_open_tick_leaves_exact_counts_and_no_bitmap(tmp_path: Path) -> None:
    store, db = open_store(tmp_path)
    keys = {b"open%d" % i for i in range(40)}
    for key in keys:
        db.set_string(key, b"v")
    assert store.in_write  # the tick's transaction is still open
    store.close()
    store, db = open_store(tmp_path)
    try:
        assert store.reader().get(b"stale-counts:0", db=store.misc_db) is None
        assert stored_counts(store) == expected_counts(keys)
    finally:
        store.close()
