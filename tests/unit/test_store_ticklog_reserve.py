"""The tick log's disk reservation (see Store._room_for_tick): a tick is logged (and so
acknowledged before LMDB has its pages) only once data.mdb has blocks allocated for what
the checkpoint will write; without them the tick is committed to LMDB at once, as the
default mode commits a tick."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from aikv.persist import store as store_module
from aikv.persist import ticklog
from aikv.persist.store import CHECKPOINT_KEY, Store


def data_file(root: Path) -> Path:
    return root / "lmdb" / "data.mdb"


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def open_store(root: Path) -> Store:
    store = Store(root, databases=1, tick_log=True)
    store.open()
    store._next_checkpoint = float("inf")  # no timed checkpoint: the tests decide
    return store


def write_tick(store: Store, prefix: bytes, n: int = 200, size: int = 100) -> None:
    txn = store.writer()
    for i in range(n):
        txn.put(prefix + b"%06d" % i, b"v" * size, db=store.misc_db)
    store.end_tick()


def committed(store: Store, key: bytes) -> bytes | None:
    """What LMDB itself holds (a fresh read transaction sees only commits)."""
    assert store.env is not None
    with store.env.begin() as txn:
        return txn.get(key, db=store.misc_db)


def checkpoint_seq(store: Store) -> int:
    raw = committed(store, CHECKPOINT_KEY)
    return int.from_bytes(raw, "big") if raw else 0


def test_a_logged_tick_has_its_pages_reserved(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        write_tick(store, b"a")
        # Logged, not committed: the frame is in the log, LMDB has not got the keys yet.
        assert len(store._since_checkpoint) == 1
        assert ticklog.log_files(tmp_path)
        assert committed(store, b"a000000") is None
        assert store.reader().get(b"a000000", db=store.misc_db) == b"v" * 100
        # The reservation covers what the estimate asks for, on disk.
        estimate = min(store._pending_copied, store.used_bytes()) + store._pending_new
        assert estimate > 200 * 100  # at least the logged bytes
        assert store._reserved_end >= store.used_bytes() + estimate
        assert allocated(data_file(tmp_path)) >= store._reserved_end
        store.checkpoint()
        assert committed(store, b"a000199") == b"v" * 100
        assert store._pending_copied == store._pending_new == 0
    finally:
        store.close()


def test_a_tick_without_room_is_committed_not_logged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path)
    try:
        write_tick(store, b"a")  # logged, with room
        seq = store._log_seq
        assert len(store._since_checkpoint) == 1

        def full(fd: int, offset: int, length: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(store_module.os, "posix_fallocate", full)
        store._reserved_end = store.used_bytes()  # the step reserved before is used up
        write_tick(store, b"b")
        # No frame for it: the tick went to LMDB in a checkpoint that also covers the
        # logged one before it.
        assert store._log_seq == seq
        assert store._since_checkpoint == []
        assert checkpoint_seq(store) == seq
        assert committed(store, b"a000199") == b"v" * 100
        assert committed(store, b"b000199") == b"v" * 100
        assert store.write_error is None
    finally:
        store.close()


def test_a_tick_over_the_limit_is_committed_not_logged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "RESERVE_LIMIT", 1 << 20)
    store = open_store(tmp_path)
    try:
        write_tick(store, b"small", n=10)
        assert len(store._since_checkpoint) == 1
        write_tick(store, b"big", n=100, size=20_000)  # ~2 MB of values: over 1 MiB
        assert store._since_checkpoint == []
        assert committed(store, b"big000099") == b"v" * 20_000
        assert committed(store, b"small000009") == b"v" * 100
        write_tick(store, b"after", n=10)  # below the limit again: logged
        assert len(store._since_checkpoint) == 1
    finally:
        store.close()


def test_reopening_replays_into_the_reserved_room(tmp_path: Path) -> None:
    """A crash after logged ticks: the next open replays them (the reserved blocks stay
    in data.mdb), and the map is not inflated by the longer file at every restart."""
    sizes = []
    for round_ in range(3):
        store = open_store(tmp_path)
        try:
            for i in range(round_):
                assert committed(store, b"r%d-000199" % i) == b"v" * 100
            write_tick(store, b"r%d-" % round_)
            assert committed(store, b"r%d-000000" % round_) is None
            sizes.append(store.env.info()["map_size"])  # type: ignore[union-attr]
        finally:
            # A crash: drop the transaction and the log fd without a checkpoint.
            assert store.env is not None
            store._write_txn.raw.abort()
            store._write_txn = None
            store._close_log(delete=False)
            store.env.close()
            store.env = None
            store.close()
    assert len(set(sizes)) == 1, sizes


@pytest.mark.parametrize("pattern", ["overwrite", "insert", "delete", "mixed"])
def test_the_estimate_bounds_what_the_checkpoint_writes(tmp_path: Path, pattern: str) -> None:
    """The pages a checkpoint adds past LMDB's last page never exceed what was reserved
    for its ticks (random keys over a tree of ~1,000 leaves in a keyspace database: the
    worst case for sharing; the first round has no free pages to reuse)."""
    import random

    store = open_store(tmp_path)
    try:
        db = store.dbs[0].meta
        rng = random.Random(7)
        keys = [b"k%08d" % i for i in range(40_000)]
        txn = store.writer()
        for key in keys:
            txn.put(key, b"v" * 40, db=db)
        store.checkpoint()  # the tree is in LMDB; its pages are now "in use"
        page = store._page_size
        for _round in range(3):
            store._next_checkpoint = float("inf")  # checkpoint() re-armed the timer
            before = store.used_bytes()
            for _tick in range(5):
                txn = store.writer()
                for _ in range(300):
                    key = rng.choice(keys)
                    op = pattern if pattern != "mixed" else rng.choice(
                        ["overwrite", "insert", "delete"])
                    if op == "overwrite":
                        txn.put(key, b"w" * rng.randrange(20, 60), db=db)
                    elif op == "insert":
                        txn.put(key + b"+%d" % rng.randrange(1000), b"x" * 40, db=db)
                    else:
                        txn.delete(key, db=db)
                store.end_tick()
            assert len(store._since_checkpoint) == 5, "every tick must have been logged"
            estimate = (min(store._pending_copied + store._shared_pages * page,
                            store.used_bytes()) + store._pending_new)
            assert store._shared_pages * 10 < store.used_bytes() // page  # not the bulk
            store.checkpoint()
            grown = store.used_bytes() - before
            assert grown <= estimate, (pattern, grown, estimate)
    finally:
        store.close()
