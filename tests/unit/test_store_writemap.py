"""The LMDB store's write map (lmdb-writemap yes): allocated on disk before LMDB may write
through it, grown only when the allocation succeeds, and given up for LMDB's pwrite path
where the file system cannot allocate (see aikv/persist/store.py)."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from aikv.persist.store import Store, StoreFullError

MiB = 1 << 20


def data_file(root: Path) -> Path:
    return root / "lmdb" / "data.mdb"


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def put(store: Store, n: int, size: int, prefix: bytes = b"k") -> None:
    txn = store.writer()
    for i in range(n):
        txn.put(prefix + b"%08d" % i, b"v" * size, db=store.misc_db)


def test_writemap_is_opt_in(tmp_path: Path) -> None:
    store = Store(tmp_path, databases=1)
    store.open()
    try:
        assert not store.writemap
        assert store.env is not None and not store.env.flags()["writemap"]
    finally:
        store.close()


def test_the_whole_map_is_allocated_before_use(tmp_path: Path) -> None:
    store = Store(tmp_path, databases=1, initial_map_size=4 * MiB, writemap=True)
    store.open()
    try:
        assert store.writemap
        assert store.env is not None and store.env.flags()["writemap"]
        assert os.stat(data_file(tmp_path)).st_size == 4 * MiB
        assert allocated(data_file(tmp_path)) >= 4 * MiB
        # Growth allocates first: after it the file is as long as the map, all backed.
        for round_ in range(6):
            store.ensure_room(1 * MiB)
            put(store, 100, 10_000, prefix=b"r%d-" % round_)
            store.commit()
        map_size = store.env.info()["map_size"]  # type: ignore[union-attr]
        assert map_size > 4 * MiB
        assert os.stat(data_file(tmp_path)).st_size == map_size
        assert allocated(data_file(tmp_path)) >= map_size
    finally:
        store.close()


def test_reopening_keeps_the_map_size_stable(tmp_path: Path) -> None:
    """A write-map file is as long as its map; sizing the next map from the file length
    would double it at every restart."""
    sizes = []
    for _ in range(4):
        store = Store(tmp_path, databases=1, initial_map_size=2 * MiB, writemap=True)
        store.open()
        put(store, 10, 100)
        store.commit()
        sizes.append(store.env.info()["map_size"])  # type: ignore[union-attr]
        store.close()
    assert len(set(sizes)) == 1, sizes


def test_data_survives_reopen_with_and_without_writemap(tmp_path: Path) -> None:
    for writemap in (True, False, True):
        store = Store(tmp_path, databases=1, initial_map_size=2 * MiB, writemap=writemap)
        store.open()
        try:
            assert store.writemap is writemap
            txn = store.reader()
            assert all(txn.get(b"k%08d" % i, db=store.misc_db) in (None, b"v" * 50) for i in range(30))
            put(store, 30, 50)
            store.end_tick()
            assert store.reader().get(b"k%08d" % 29, db=store.misc_db) == b"v" * 50
        finally:
            store.close()


def test_a_map_that_cannot_grow_refuses_the_write_and_keeps_the_tick(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path, databases=1, initial_map_size=2 * MiB, writemap=True)
    store.open()
    try:
        put(store, 5, 100, prefix=b"early")
        monkeypatch.setattr(Store, "_allocate", staticmethod(lambda fd, size: errno.ENOSPC))
        with pytest.raises(StoreFullError):
            store.ensure_room(8 * MiB)  # needs a bigger map
        assert store.write_error == os.strerror(errno.ENOSPC)
        # What the tick wrote before the refused write was committed, not lost.
        assert not store.in_write
        store.end_tick()
        assert store.reader().get(b"early%08d" % 4, db=store.misc_db) == b"v" * 100
        # Room again: the probe clears the error and the map grows.
        monkeypatch.undo()
        assert store.probe_write()
        assert store.write_error is None
        store.ensure_room(8 * MiB)
        assert store.env.info()["map_size"] > 2 * MiB  # type: ignore[union-attr]
    finally:
        store.close()


def test_without_fallocate_the_store_falls_back_to_pwrite(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Store, "_allocate", staticmethod(lambda fd, size: errno.EOPNOTSUPP))
    store = Store(tmp_path, databases=1, initial_map_size=2 * MiB, writemap=True)
    store.open()
    try:
        assert not store.writemap
        put(store, 10, 100)
        store.commit()
        # The pwrite path keeps the file sparse: only what is written is there.
        assert os.stat(data_file(tmp_path)).st_size < 2 * MiB
    finally:
        store.close()


def test_a_full_disk_at_open_takes_the_largest_map_that_fits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def allocate(fd: int, size: int) -> int | None:
        asked.append(size)
        return errno.ENOSPC if size > 2 * MiB else None

    monkeypatch.setattr(Store, "_allocate", staticmethod(allocate))
    store = Store(tmp_path, databases=1, initial_map_size=16 * MiB, writemap=True)
    store.open()
    try:
        assert store.writemap
        assert asked == [16 * MiB, 8 * MiB, 4 * MiB, 2 * MiB]
        assert store.env.info()["map_size"] == 2 * MiB  # type: ignore[union-attr]
    finally:
        store.close()


def test_a_failed_growth_after_commit_is_logged_once_and_retried_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path, databases=1, initial_map_size=2 * MiB, writemap=True)
    store.open()
    try:
        calls: list[int] = []

        def no_room(fd: int, size: int) -> int:
            calls.append(size)
            return errno.ENOSPC

        monkeypatch.setattr(Store, "_allocate", staticmethod(no_room))
        # More than half the 2 MiB map in use: every commit after this wants to grow it.
        put(store, 120, 10_000)
        with caplog.at_level("WARNING", logger="aikv.store"):
            store.commit()
            for i in range(20):
                put(store, 1, 100, prefix=b"more%d-" % i)
                store.commit()
        assert len(calls) == 1, "growth retried on every commit"
        warnings = [r for r in caplog.records if "Cannot grow the LMDB map" in r.getMessage()]
        assert len(warnings) == 1
        # A second later it is tried again, still without a second warning.
        store._grow_after_commit(now=time.monotonic() + 1.5)
        assert len(calls) == 2
        assert len([r for r in caplog.records if "Cannot grow" in r.getMessage()]) == 1
        # Room again: the probe lets the next commit grow the map at once.
        monkeypatch.undo()
        assert store.probe_write()
        put(store, 1, 100, prefix=b"last")
        store.commit()
        assert store.env.info()["map_size"] > 2 * MiB  # type: ignore[union-attr]
    finally:
        store.close()
