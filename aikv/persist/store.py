"""The LMDB environment of one node: transactions, group commit, fsync policy, map growth,
per-slot key counts and the directory lock.

Transactions follow the event loop's ticks. The first write of a tick opens the tick's
write transaction; every command of that tick, from every client, writes into it; the
server calls `commit()` once at the end of the tick, *before* any reply of that tick is
sent (group commit). Reads inside a tick see the tick's own writes because `reader()`
hands out the open write transaction when there is one.

appendfsync:
- `always`: the environment syncs on every commit, so a reply leaves only after its
  data is on disk.
- `everysec`: commits do not sync (MDB_NOSYNC); a background thread calls `sync()` once
  a second. A killed process loses nothing (committed pages are in the OS page cache);
  an operating-system crash can lose about the last second, with LMDB's NOSYNC caveats.
- `no`: the OS decides when pages reach the disk.

Tick log (`lmdb-tick-log yes`, the server's default; see ticklog.py): the write transaction
stays open across ticks. At the end of a tick that changed anything, the changes
(recorded by the RecordingTxn that writer() hands out) are appended to the log file as one
frame with one write(); with `always` (or after request_sync()) the log is fdatasync'ed
before the tick's replies leave, with `everysec` the background thread fdatasyncs it. A
tick that wrote nothing sends its replies at once (tick_pending()). A checkpoint is an LMDB
commit that also stores the last issued sequence number (CHECKPOINT_KEY in misc): every
`lmdb-tick-log-checkpoint-ms`, before the map grows (ensure_room), at SAVE and at close.
After each checkpoint the next frame starts a new file; the old files are deleted once
LMDB is synced past the checkpoint that covers them: at once in `always` (the commit
synced) and `no` (nothing is promised), otherwise after the everysec thread's next sync.
Opening the store replays the frames after the checkpointed sequence (a torn or corrupt
frame ends its file, a gap in the sequence ends the replay), marks every slot whose meta
records were replayed stale (so the recount below makes the counts exact), commits, syncs,
then deletes the logs. A tick is logged only when data.mdb has room allocated for the
pages its checkpoint will write (see _room_for_tick: an estimate, reserved with fallocate
past LMDB's last page, up to RESERVE_LIMIT); otherwise it is committed to LMDB at once,
as `lmdb-tick-log no` commits every tick, so a filling disk refuses writes before the log
holds more than LMDB can take. The price is disk: data.mdb carries up to the pages in use
plus RESERVE_LIMIT of allocated room. Failures:
- A frame write (or its fdatasync) fails: the tick is lost as with a failed commit (its
  clients get MISCONF), its sequence number is burnt, the transaction is rebuilt from the
  frames since the last checkpoint (kept in memory), and nothing more is logged until a
  checkpoint stands; writes are refused (write_error) until probe_write() checkpoints.
- A checkpoint commit fails: LMDB aborted the transaction, but its ticks were logged and
  acknowledged, so the transaction is rebuilt from the in-memory frames (reads keep seeing
  every acknowledged write) and writes are refused with MISCONF until probe_write()'s
  checkpoint succeeds. If even the rebuild fails the process exits (reads without
  acknowledged writes are never served); the next start replays the log.
Measured in the first experiment (redis-benchmark, 50 clients, -r 100000, fresh nodes):
`always` SET 23.6k/21.4k -> 45.8k/40.6k req/s; SET -P 16 server CPU 7.8/7.2 -> 5.5/5.8 us
per op.

Write map (`lmdb-writemap yes`, off by default): LMDB writes into its memory map
(MDB_WRITEMAP) instead of copying each dirty page into a buffer and pwrite()-ing it at
commit. On a small, hot data set that takes about a fifth off the server CPU of a
pipelined SET; on a fresh node (every new page is a first-touch fault) and on a data set
of gigabytes it measured slower (GET 23.5 -> 44.5 us/op with 1 GiB of values), hence
opt-in. A page written through the map that has no disk block behind it raises SIGBUS
when the file system is full, so the whole map is allocated on disk (posix_fallocate)
before LMDB may use it: the map only grows when the allocation succeeded, and a full disk
then shows up as a map that cannot grow (writes refused with MISCONF), never as a
signal. The price is disk space: data.mdb occupies the whole map (2-4x the pages in use)
instead of being sparse. Where the file system cannot allocate (no posix_fallocate
support, or not even the current map fits) the store falls back to LMDB's pwrite path
for the run.

Per-slot key counts (DBSIZE, COUNTKEYSINSLOT) are exact in memory and reach the counts
database in batches. A commit that changes counts only marks the slots whose stored
count is now stale, in one bitmap record per database; once more than
COUNT_FLUSH_SLOTS slots are stale (and at close) their counts are written and the bitmap
dropped. Opening the store recounts the stale slots from the meta records, so counts are
exact after a crash too. Writing each changed count at once cost a scattered B-tree page
per new key under random-key writes: 22% of the page writes of random-key SETs on a
fresh node (124,224 -> 96,195 pwrite calls for 100,000 SETs).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import lmdb

from aikv.cluster.slots import CLUSTER_SLOTS
from aikv.cluster.state import SLOT_BITMAP_BYTES, bitmap_set, bitmap_slots
from aikv.persist import layout, ticklog
from aikv.persist.elements import VersionAllocator
from aikv.persist.ticklog import RecordingTxn

log = logging.getLogger("aikv.store")

INITIAL_MAP_SIZE = 1 << 30
# With the write map the map is real disk: start smaller (it doubles ahead of need).
WRITEMAP_INITIAL_MAP_CAP = 64 << 20
LOCK_FILE = "aikv.lock"
# How often commit() tries again to grow a map whose growth failed (see _grow_after_commit).
GROWTH_RETRY_SECONDS = 1.0
DATA_SUBDIR = "lmdb"
# Stale stored counts tolerated before they are written (see the module doc). Bounds the
# recount at open after a crash: at most this many slots' keys are scanned.
COUNT_FLUSH_SLOTS = 1024
# misc record: the last tick-log sequence number a checkpoint covers.
CHECKPOINT_KEY = b"ticklog-seq"
# misc record: the FUNCTION libraries, as one FUNCTION DUMP payload (absent: none). In the
# node-wide misc database, so FLUSHALL/FLUSHDB leave them, as Redis does.
FUNCTIONS_KEY = b"functions"
# Which stored database (the m<n>/x<n>/c<n>/l<n> sub-databases) each SELECT index shows,
# as 2-byte big-endian numbers: written by SWAPDB; absent means the identity.
DB_ORDER_KEY = b"db-order"
# A meta-database DROP (FLUSHDB) replayed from the tick log: every slot is recounted.
_ALL = -1
# Tick log: the most disk (bytes of new LMDB pages, see Store._room_for_tick) the ticks
# logged since the last checkpoint may need; past it the store checkpoints instead.
RESERVE_LIMIT = 64 << 20
# ... the reservation in data.mdb grows by at least this much at a time (one fallocate
# per step, not per tick), and this much is kept for the checkpoint's own records.
RESERVE_STEP = 8 << 20
RESERVE_MARGIN = 256 << 10


class StoreFullError(RuntimeError):
    """The map cannot grow for this write: the disk has no room to back it."""


class StoreLayoutError(RuntimeError):
    """The data directory cannot be opened with this configuration."""


class StoreLockedError(RuntimeError):
    pass


class DatabaseHandles:
    """The named sub-databases of one logical database (SELECT index)."""

    __slots__ = ("index", "meta", "expires", "counts", "long_keys")

    def __init__(self, env: lmdb.Environment, index: int, txn: lmdb.Transaction) -> None:
        self.index = index
        self.meta = env.open_db(b"m%d" % index, txn=txn)
        self.expires = env.open_db(b"x%d" % index, txn=txn)
        self.counts = env.open_db(b"c%d" % index, txn=txn)
        self.long_keys = env.open_db(b"l%d" % index, txn=txn)


class Store:
    def __init__(self, directory: str | os.PathLike[str], databases: int = 16,
                 appendfsync: str = "everysec", initial_map_size: int = INITIAL_MAP_SIZE,
                 writemap: bool = False, tick_log: bool = False,
                 checkpoint_ms: int = 100) -> None:
        self.directory = Path(directory)
        # Tick log (see the module doc and ticklog.py).
        self.tick_log = tick_log
        self.checkpoint_interval = checkpoint_ms / 1000.0
        self._log_fd: int | None = None
        self._log_offset = 0
        self._log_path = Path()
        self._log_seq = 0  # the last sequence number issued (never reused)
        # (sequence, body) of the frames not yet checkpointed
        self._since_checkpoint: list[tuple[int, bytes]] = []
        self._next_checkpoint = 0.0
        self._log_blocked = False  # a frame write failed: no logging until a checkpoint
        self._checkpoint_gen = 0
        self._synced_gen = 0
        # (checkpoint generation, fd or None, path) of log files a checkpoint covers:
        # closed and deleted once LMDB was synced past that checkpoint.
        self._retired: list[tuple[int, int | None, Path]] = []
        self._log_index: dict[Any, int] = {}
        self._log_handles: dict[int, Any] = {}
        # Disk reserved for the next checkpoint (see _room_for_tick): data.mdb has blocks
        # allocated up to _reserved_end; the logged ticks since the checkpoint need at most
        # min(_pending_copied, used) + _pending_new bytes of new pages.
        self._reserve_fd: int | None = None
        self._reserved_end = 0
        self._pending_copied = 0
        self._pending_new = 0
        self._shared_pages = 0  # see _measure_trees
        self.writemap = writemap  # asked for; open() may turn it off (see the module doc)
        self._data_fd: int | None = None
        self.databases = databases
        self.db_order: list[int] = list(range(databases))  # see DB_ORDER_KEY
        self.appendfsync = appendfsync
        self.env: lmdb.Environment | None = None
        self.dbs: list[DatabaseHandles] = []
        # slot_counts[db][slot]: keys per slot; key_totals[db]: their sum (DBSIZE).
        self.slot_counts: list[list[int]] = []
        self.key_totals: list[int] = []
        self._dirty_slots: list[set[int]] = []
        # Slots whose record in the counts database is out of date, and the bitmap record
        # (misc database) that says so on disk, per database.
        self._stale_slots: list[set[int]] = []
        self._stale_bitmaps: list[bytearray] = []
        self._write_txn: Any = None  # lmdb.Transaction, or RecordingTxn with the tick log
        self._read_txn: lmdb.Transaction | None = None
        self._lock_fd: int | None = None
        self._map_size = min(initial_map_size, WRITEMAP_INITIAL_MAP_CAP) if writemap else initial_map_size
        self._tick_bytes = 0
        self._used_bytes = 0
        # ensure_room's test, (used + 2 * tick_bytes + 1 MiB) * 2 <= map size, solved for
        # tick_bytes once per change of used or map size (see _update_tick_limit).
        self._tick_limit = 0
        self._page_size = 0  # LMDB's page size, read once
        self.last_commit_error: Exception | None = None
        # Set when a commit fails (the strerror-like cause, e.g. "No space left on
        # device"); the server refuses writes until probe_write() succeeds.
        self.write_error: str | None = None
        self._failed_bytes = 0
        # Monotonic time before which commit() does not try again to grow a map it could
        # not grow (write map on a full disk): one warning, not one per commit.
        self._growth_retry_at: float | None = None
        self.dirty_since_sync = 0
        self._sync_lock = threading.Lock()
        self._env_syncs = False  # the environment was opened with LMDB's own sync flag
        self.elements_db: Any = None
        self.misc_db: Any = None
        self.garbage_db: Any = None
        self.has_garbage = False
        # Deleted collections whose element records elements.reclaim() finished removing
        # (INFO's lazyfreed_objects; CONFIG RESETSTAT zeroes it).
        self.reclaimed_collections = 0
        self._sync_requested = False
        self.versions: VersionAllocator | None = None

    # ----------------------------------------------------------------- open / close
    def lock_directory(self) -> None:
        """Take an exclusive lock on the data directory, so a second server pointed at the
        same --dir refuses to start before it touches anything."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreLockedError(
                    f"the data directory {self.directory} is already used by another "
                    "aikv-server process"
                ) from None
            raise
        try:
            os.ftruncate(fd, 0)
            os.write(fd, b"%d\n" % os.getpid())
        except OSError as exc:
            # The pid is informative; the flock is the lock. A full disk must not keep a
            # node from starting and serving reads.
            log.warning("Could not write the pid to %s: %s", LOCK_FILE, exc.strerror)
        self._lock_fd = fd

    def open(self) -> None:
        if self._lock_fd is None:
            self.lock_directory()
        path = self.directory / DATA_SUBDIR
        path.mkdir(exist_ok=True)
        data_file = path / "data.mdb"
        existing = data_file.stat().st_size if data_file.exists() else 0
        if self.writemap:
            # A write-map file is as long as its last map: ask LMDB what is in use (and
            # let it create a new file: allocated zeros are not an LMDB file).
            existing = self._pages_in_use(path, existing)
        while self._map_size < existing * 2:
            self._map_size *= 2
        if self.writemap:
            self.writemap = self._back_map_at_open(data_file, existing)
        self._env_syncs = self.appendfsync == "always"
        self.env = lmdb.open(
            str(path),
            map_size=self._map_size,
            writemap=self.writemap,
            max_dbs=5 * self.databases + 8,
            sync=self.appendfsync == "always",
            metasync=self.appendfsync == "always",
            readahead=False,  # the data set may exceed RAM; read-ahead would evict hot pages
            max_readers=126,
            lock=True,
        )
        with self.env.begin(write=True) as txn:
            self.dbs = [DatabaseHandles(self.env, i, txn) for i in range(self.databases)]
            # Node-wide: collection element records (see elements.py), the version
            # high-water mark, and the versions of deleted collections to reclaim.
            self.elements_db = self.env.open_db(b"elements", txn=txn)
            self.misc_db = self.env.open_db(b"misc", txn=txn)
            self.garbage_db = self.env.open_db(b"garbage", txn=txn)
            self.has_garbage = txn.stat(self.garbage_db)["entries"] > 0
        handles: list[Any] = []
        for h in self.dbs:
            handles += [h.meta, h.expires, h.counts, h.long_keys]
        handles += [self.elements_db, self.misc_db, self.garbage_db]
        self._log_handles = dict(enumerate(handles))
        self._log_handles[0xFFFF] = None  # the main database (unused by AiKv)
        self._log_index = {db: i for i, db in self._log_handles.items()}
        if self.tick_log and not self.writemap:
            # (A write map is allocated on disk whole: nothing more to reserve.)
            self._reserve_fd = os.open(data_file, os.O_RDWR | os.O_CLOEXEC)
        self._recover_log()
        self.db_order = self._read_db_order()
        self.versions = VersionAllocator(self)
        self._load_counts()
        if self._since_checkpoint:  # a replay the disk refused (see _recover_log)
            self._restore()
            # Their pages were never reserved in this run: log nothing more until a
            # checkpoint has committed them (see _room_for_tick).
            self._pending_copied = self._pending_new = RESERVE_LIMIT
        self._used_bytes = self._measure_used()
        self._reserved_end = self._used_bytes
        self._update_tick_limit()
        if self._reserve_fd is not None:
            self._measure_trees()

    @staticmethod
    def _pages_in_use(path: Path, file_size: int) -> int:
        if file_size:
            env = lmdb.open(str(path), map_size=file_size, max_dbs=0, readonly=True, lock=False)
        else:
            env = lmdb.open(str(path), map_size=1 << 20, max_dbs=0)
        try:
            return (env.info()["last_pgno"] + 1) * env.stat()["psize"]
        finally:
            env.close()

    def _back_map_at_open(self, data_file: Path, in_use: int) -> bool:
        """Allocate the map on disk before LMDB maps it writable. When the wanted size
        does not fit, take the largest power-of-two share of it that does (at least what
        is in use): writes are then refused until the disk has room to grow. False: use
        LMDB's pwrite path instead."""
        fd = os.open(data_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        size = self._map_size
        while True:
            error = self._allocate(fd, size)
            if error is None:
                self._data_fd = fd
                self._map_size = size
                return True
            if error != errno.ENOSPC or size // 2 < max(in_use, 1 << 20):
                break
            size //= 2
        os.close(fd)
        log.warning("Cannot allocate the LMDB map on disk (%s): LMDB writes with pwrite "
                    "for this run (lmdb-writemap is off)", os.strerror(error))
        return False

    @staticmethod
    def _allocate(fd: int, size: int, start: int = 0) -> int | None:
        """posix_fallocate [start, size) of fd; the errno on failure."""
        try:
            os.posix_fallocate(fd, start, size - start)
        except OSError as exc:
            return exc.errno or errno.EIO
        return None

    def _read_db_order(self) -> list[int]:
        """The stored database each SELECT index shows (see DB_ORDER_KEY)."""
        assert self.env is not None
        with self.env.begin() as txn:
            raw = txn.get(DB_ORDER_KEY, None, self.misc_db)
        order = list(range(self.databases))
        if raw is None:
            return order
        stored = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
        head = stored[:self.databases]
        if sorted(head) != list(range(len(head))):
            raise StoreLayoutError(
                f"SWAPDB moved data into databases this node no longer has (started with "
                f"databases {self.databases}, swapped with {len(stored)}): start it with "
                f"databases {len(stored)} or more")
        return head + order[len(head):]

    def swap_databases(self, first: int, second: int) -> tuple[int, int]:
        """SWAPDB: SELECT indexes `first` and `second` exchange their stored databases,
        durably with the tick's other writes. Returns their new stored indexes."""
        order = self.db_order
        order[first], order[second] = order[second], order[first]
        self.writer().put(DB_ORDER_KEY, b"".join(i.to_bytes(2, "big") for i in order),
                          db=self.misc_db)
        return order[first], order[second]

    def _load_counts(self, in_txn: lmdb.Transaction | None = None) -> None:
        """Counts as committed (or as in `in_txn`): the counts database, with every slot
        the stale bitmap marks recounted from its meta records."""
        assert self.env is not None
        self.slot_counts = []
        self.key_totals = []
        self._dirty_slots = []
        self._stale_slots = []
        self._stale_bitmaps = []
        with self.env.begin() if in_txn is None else nullcontext(in_txn) as txn:
            for handles in self.dbs:
                counts = [0] * CLUSTER_SLOTS
                for raw_slot, raw_count in txn.cursor(db=handles.counts):
                    counts[int.from_bytes(raw_slot, "big")] = layout.decode_count(raw_count)
                raw = txn.get(_stale_key(handles.index), None, self.misc_db)
                bitmap = bytearray(raw) if raw else bytearray(SLOT_BITMAP_BYTES)
                stale = set(bitmap_slots(raw)) if raw else set()
                for slot in stale:
                    counts[slot] = _count_slot(txn, handles.meta, slot)
                self.slot_counts.append(counts)
                self.key_totals.append(sum(counts))
                self._dirty_slots.append(set())
                self._stale_slots.append(stale)
                self._stale_bitmaps.append(bitmap)

    def close(self) -> None:
        if self.env is not None:
            if self._write_txn is not None:
                if self.tick_log:
                    try:
                        self.commit()
                    except (lmdb.Error, OSError) as exc:
                        # Acknowledged ticks are in the log: the next open replays them.
                        log.warning("Could not checkpoint at close (%s): the tick log "
                                    "is replayed at the next start", exc)
                        self._write_txn.raw.abort()
                        self._write_txn = None
                else:
                    self.commit()
            if self.write_error is None and any(self._stale_slots):
                # Leave exact stored counts behind, so the next open recounts nothing.
                txn = self.writer()
                for index in range(len(self._stale_slots)):
                    self._flush_counts(txn, index)
                try:
                    self.commit()
                except lmdb.Error as exc:  # the data is committed; the next open recounts
                    log.warning("Could not store the key counts at close: %s", exc)
            self._drop_read_txn()
            self.env.sync(True)
            if self.tick_log:
                self._close_log(delete=self._write_txn is None and not self._since_checkpoint)
            self.env.close()
            self.env = None
        if self._data_fd is not None:
            os.close(self._data_fd)
            self._data_fd = None
        if self._reserve_fd is not None:
            os.close(self._reserve_fd)
            self._reserve_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ----------------------------------------------------------------- transactions
    def reader(self) -> lmdb.Transaction:
        txn = self._write_txn
        if txn is not None:
            return txn
        rtxn = self._read_txn
        if rtxn is None:
            assert self.env is not None
            rtxn = self._read_txn = self.env.begin(buffers=False)
        return rtxn

    def writer(self) -> Any:
        """The open write transaction (an lmdb.Transaction, or with the tick log a
        RecordingTxn that logs every change), opened by the first write."""
        txn = self._write_txn
        if txn is None:
            assert self.env is not None
            txn = self.env.begin(write=True)
            if self.tick_log:
                txn = RecordingTxn(txn, self._log_index)
            self._write_txn = txn
        return txn

    def tick_pending(self) -> bool:
        """True when the end of the tick has something to make durable before replies
        leave: an open transaction, or with the tick log changes not yet logged."""
        txn = self._write_txn
        if txn is None:
            return False
        return not self.tick_log or bool(txn.buf)

    @property
    def in_write(self) -> bool:
        return self._write_txn is not None

    def _drop_read_txn(self) -> None:
        rtxn = self._read_txn
        if rtxn is not None:
            self._read_txn = None
            rtxn.abort()

    def end_tick(self) -> None:
        """Close the tick: commit the write transaction (if any) and release the read
        snapshot so the next tick sees fresh data."""
        try:
            if self.tick_log:
                self._end_tick_logged()
                return
            if self._write_txn is not None:
                self.commit()
            if self._sync_requested:
                self._sync_requested = False
                self.sync()
        finally:
            self._drop_read_txn()

    def request_sync(self) -> None:
        """Make this tick's commit durable before its replies leave, whatever appendfsync
        says: a RESTORE coming from MIGRATE must be on disk before the source is told it
        may delete its copy."""
        if self.appendfsync != "always":
            self._sync_requested = True

    def commit_for_snapshot(self) -> lmdb.Transaction:
        """Commit what this tick wrote so far (with the tick log: everything logged) and
        open a read transaction that sees exactly that: a snapshot that stays as it is
        while writes go on (the replication RDB of a full synchronisation). The tick's
        own reads move to the committed state too. The caller aborts the snapshot."""
        self.commit()
        self._drop_read_txn()
        assert self.env is not None
        return self.env.begin(buffers=False)

    def commit(self) -> None:
        if self.tick_log:
            self.checkpoint()
            return
        txn = self._write_txn
        if txn is None:
            return
        self._write_dirty_counts(txn)
        self._write_txn = None
        try:
            txn.commit()
        except lmdb.Error as exc:
            # The whole tick's writes are gone; the server turns this into errors for the
            # clients that wrote (their replies have not left yet).
            self.last_commit_error = exc
            self._commit_lost(exc)
            raise
        if self.appendfsync == "always" and not self._env_syncs:
            self.sync()
        else:
            self.dirty_since_sync += 1
        self._tick_bytes = 0
        self._used_bytes = self._measure_used()
        self._update_tick_limit()
        if self._used_bytes * 2 > self._map_size:
            self._grow_after_commit()

    def _grow_after_commit(self, now: float | None = None) -> None:
        """Grow a map more than half used. If that fails (only the write map allocates on
        disk first) the commit stands and a write that needs the room is refused later;
        the failure is logged once and the growth retried at most once a second, or at
        once after probe_write() found room."""
        now = time.monotonic() if now is None else now
        retry_at = self._growth_retry_at
        if retry_at is not None and now < retry_at:
            return
        try:
            self._grow_map(self._used_bytes * 4)
        except StoreFullError as exc:
            if retry_at is None:
                log.warning("%s (tried again at most once a second)", exc)
            self._growth_retry_at = now + GROWTH_RETRY_SECONDS
            return
        if retry_at is not None:
            log.warning("The LMDB map could grow again")
        self._growth_retry_at = None

    def _commit_lost(self, exc: lmdb.Error) -> None:
        """Undo the in-memory effects of a transaction that did not commit, and say why.
        LMDB stops at its first short write of data pages and never writes the meta page
        then, so the file keeps the last committed state (nothing to repair on disk)."""
        self._failed_bytes = self._tick_bytes
        self._tick_bytes = 0
        self.write_error = self._diagnose(exc)
        self._load_counts()
        # The version high-water mark may have been raised in the lost transaction only:
        # make the next allocation re-read and raise it, or a restart could reuse versions.
        if self.versions is not None:
            self.versions._limit = 0
        self.has_garbage = True  # a lost reclaim may have cleared the flag

    def _diagnose(self, exc: lmdb.Error) -> str:
        # LMDB reports a short pwrite as EIO; a full file system is the usual cause, and
        # Redis names ENOSPC in its MISCONF reply, so check the free space to tell.
        text = str(exc)
        detail = text.split(": ", 1)[1] if ": " in text else text
        if "No space left" in detail or self._free_space() < self._failed_bytes + (1 << 20):
            return os.strerror(errno.ENOSPC)
        return detail

    def _free_space(self) -> int:
        try:
            st = os.statvfs(self.directory)
        except OSError:
            return 0
        return st.f_bavail * st.f_frsize

    def probe_write(self) -> bool:
        """After a failed commit: True (and writes allowed again) once the file system has
        room for what was lost plus a margin, and a small commit succeeds."""
        if self.env is None:
            return False
        # With the tick log, _failed_bytes counts every write since the last checkpoint
        # (up to a checkpoint interval of them), far more than the pages the checkpoint
        # has left to write: asking for that much room could keep a small file system
        # refusing for good. A checkpoint that still does not fit only fails again.
        lost = min(self._failed_bytes, (1 << 20) if self.tick_log else 64 << 20)
        if self._free_space() < (1 << 20) + lost:
            return False
        if self.tick_log and self._write_txn is not None:
            # The acknowledged ticks kept in the open transaction: a tick per commit, as
            # lmdb-tick-log no would have committed them (see checkpoint_due).
            if not self._commit_frame_by_frame():
                return False
        if self._write_txn is not None:
            return False
        try:
            with self.env.begin(write=True) as txn:
                txn.put(b"disk-probe", b"%d" % os.getpid(), db=self.misc_db)
        except lmdb.Error:
            return False
        self.write_error = None
        self._failed_bytes = 0
        if self._growth_retry_at is not None:
            self._growth_retry_at = 0.0  # room again: the next commit may grow at once
        return True

    def abort(self) -> None:
        txn = self._write_txn
        if txn is not None:
            self._write_txn = None
            txn.abort()
            self._load_counts()

    def _write_dirty_counts(self, txn: lmdb.Transaction) -> None:
        if not any(self._dirty_slots):  # the common tick: overwrites, no key added or removed
            return
        for index, dirty in enumerate(self._dirty_slots):
            if not dirty:
                continue
            stale = self._stale_slots[index]
            newly_stale = dirty - stale
            dirty.clear()
            if not newly_stale:
                continue  # already marked: the bitmap on disk stays as it is
            stale |= newly_stale
            if len(stale) > COUNT_FLUSH_SLOTS:
                self._flush_counts(txn, index)
                continue
            bitmap = self._stale_bitmaps[index]
            for slot in newly_stale:
                bitmap_set(bitmap, slot)
            txn.put(_stale_key(index), bytes(bitmap), db=self.misc_db)

    def _flush_counts(self, txn: lmdb.Transaction, index: int) -> None:
        """Write the stored counts of database `index`'s stale slots, drop its bitmap."""
        stale = self._stale_slots[index]
        if not stale:
            return
        counts = self.slot_counts[index]
        db = self.dbs[index].counts
        for slot in stale:
            n = counts[slot]
            if n:
                txn.put(layout.count_key(slot), layout.encode_count(n), db=db)
            else:
                txn.delete(layout.count_key(slot), db=db)
        txn.delete(_stale_key(index), db=self.misc_db)
        stale.clear()
        self._stale_bitmaps[index] = bytearray(SLOT_BITMAP_BYTES)

    # ----------------------------------------------------------------- functions
    def read_functions(self) -> bytes | None:
        """The stored FUNCTION libraries payload, or None when none is stored."""
        raw = self.reader().get(FUNCTIONS_KEY, db=self.misc_db)
        return None if raw is None else bytes(raw)

    def write_functions(self, payload: bytes | None) -> None:
        """Store the FUNCTION libraries payload (None: delete it) in the tick's write
        transaction, so it is as durable as the data of any write command of the tick."""
        txn = self.writer()
        if payload is None:
            txn.delete(FUNCTIONS_KEY, db=self.misc_db)
        else:
            txn.put(FUNCTIONS_KEY, payload, db=self.misc_db)

    # ----------------------------------------------------------------- tick log
    def _end_tick_logged(self) -> None:
        txn = self._write_txn
        sync = self._sync_requested
        self._sync_requested = False
        if txn is not None and txn.buf:
            if self._log_blocked:
                # A frame write failed: nothing more is logged until a checkpoint
                # stands (only lazy expirations get here; writes are refused).
                self.checkpoint()
                return
            if not self._room_for_tick(txn):
                # LMDB might not find room for this tick at the next checkpoint: commit
                # it now instead, as lmdb-tick-log no commits every tick (a failure loses
                # this tick only; its clients get MISCONF).
                self.checkpoint(log_rest=False)
                if sync and self.appendfsync != "always":
                    self.sync()
                return
            self._log_tick(sync)
        elif sync and self._log_fd is not None:
            os.fdatasync(self._log_fd)
        if self.checkpoint_due():
            self.checkpoint_quietly()

    def checkpoint_due(self) -> bool:
        # Not while writes are refused: a checkpoint that does not fit writes pages until
        # the file system is full again, so retrying it on a timer would keep the disk
        # full for good. probe_write() commits the logged ticks a frame at a time instead.
        return (self.tick_log and self._write_txn is not None and self.write_error is None
                and time.monotonic() >= self._next_checkpoint)

    def checkpoint_quietly(self) -> None:
        """A timed checkpoint: its failure costs no reply (the ticks are logged), it
        refuses writes until a checkpoint succeeds (see checkpoint())."""
        try:
            self.checkpoint()
        except (lmdb.Error, OSError) as exc:
            log.warning("Checkpoint failed: %s (%s). Write commands are refused until the "
                        "disk accepts writes again.", self.write_error, exc)

    def _room_for_tick(self, txn: RecordingTxn) -> bool:
        """Whether the tick in `txn` may be logged: a logged tick is acknowledged before
        LMDB has written its pages, so the disk those pages will need at the checkpoint
        is reserved first (allocated in data.mdb past LMDB's last page, where new pages
        go). Without it a full disk refused the checkpoint of ticks already acknowledged,
        and writes stayed refused until more room came back than a commit per tick needs.

        The estimate, in pages:
        - copied: LMDB copies a page once per transaction, the first time it is
          changed. An operation changes its root-to-leaf path, whose branch pages are
          shared by every operation (all of them together copy at most every branch
          page: _shared_pages), and at most two leaves (its own and, for a delete that
          rebalances, a sibling). So: 2 per operation plus the branch pages (and the
          small trees written at the checkpoint itself: counts, misc), and never more
          than the pages in use;
        - new: an operation that grows a tree (see RecordingTxn.grows) splits at most
          one leaf, and one branch split is allowed for every 32 of those (a branch
          holds hundreds of keys); large values take overflow pages, at most twice the
          logged bytes;
        - the free list's records (1/256 of the rest) and a margin for the checkpoint's
          own records.
        Pages LMDB reuses from its free list are not counted as saved: the estimate may
        only err on the large side. Should a checkpoint still not fit, nothing
        acknowledged is lost: it fails as before, and writes are refused until
        probe_write() commits the logged ticks. A write map is on disk whole (nothing to
        reserve), and a file system without fallocate leaves the log unguarded (see
        _reserve)."""
        if self._reserve_fd is None:
            return True
        page = self._page_size
        copied = self._pending_copied + 2 * txn.ops * page
        new = (self._pending_new + (txn.grows + txn.grows // 32 + 1) * page
               + 2 * len(txn.buf))
        need = min(copied + self._shared_pages * page, self._used_bytes) + new
        need += need // 256 + RESERVE_MARGIN
        if need > RESERVE_LIMIT:
            return False
        if self._used_bytes + need > self._reserved_end \
                and not self._reserve(self._used_bytes + need):
            return False
        self._pending_copied = copied
        self._pending_new = new
        return True

    def _reserve(self, end: int) -> bool:
        """Allocate data.mdb's blocks up to at least `end` (a step more when the disk
        allows). False when the file system has no room."""
        fd = self._reserve_fd
        assert fd is not None
        start = self._reserved_end
        page = self._page_size
        end = -(-end // page) * page
        for target in (end + RESERVE_STEP, end):
            error = self._allocate(fd, target, start)
            if error == errno.ENOSPC:
                continue
            if error is not None:
                log.warning("Cannot reserve disk for tick-log checkpoints (%s): the tick "
                            "log is not guarded against a full disk on this file system",
                            os.strerror(error))
                os.close(fd)
                self._reserve_fd = None
                return True
            self._reserved_end = target
            return True
        return False

    def _measure_trees(self) -> None:
        """_room_for_tick's shared pages: every branch page of the environment, and the
        whole of the trees a checkpoint writes itself (counts, misc)."""
        assert self.env is not None
        whole = {self.misc_db, *(handles.counts for handles in self.dbs)}
        shared = 0
        with self.env.begin() as txn:
            for db in self._log_handles.values():
                stat = txn.stat(db) if db is not None else self.env.stat()
                shared += stat["branch_pages"]
                if db in whole:
                    shared += stat["leaf_pages"]
        self._shared_pages = shared

    def _log_tick(self, sync: bool = False) -> None:
        """Append the changes recorded since the last frame as one frame (one write()),
        fdatasync'ed in `always` mode or when asked. A failure loses this tick (the
        caller's clients get errors) and restores the transaction without it."""
        txn = self._write_txn
        body = bytes(txn.buf)
        txn.buf = bytearray()
        txn.ops = txn.grows = 0
        self._log_seq += 1  # burnt even if the write fails: never reused
        frame = ticklog.encode_frame(self._log_seq, body)
        try:
            if self._log_fd is None:
                path = self._log_path = ticklog.log_path(self.directory, self._log_seq)
                self._log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                                       | os.O_CLOEXEC, 0o644)
                self._log_offset = 0
            ticklog.write_all(self._log_fd, frame)
            if sync or self.appendfsync == "always":
                os.fdatasync(self._log_fd)
        except OSError as exc:
            self._log_failed(exc)
            raise
        self._log_offset += len(frame)
        self._since_checkpoint.append((self._log_seq, body))
        self.dirty_since_sync += 1

    def _log_failed(self, exc: OSError) -> None:
        fd = self._log_fd
        if fd is not None:
            try:  # best effort: a torn frame only ends the file for recovery anyway
                os.ftruncate(fd, self._log_offset)
            except OSError:
                pass
        self.write_error = (os.strerror(exc.errno) if exc.errno else str(exc))
        self._log_blocked = True
        log.warning("Could not write the tick log: %s", self.write_error)
        self._restore()

    def checkpoint(self, log_rest: bool = True) -> None:
        """Commit the open transaction (it holds every logged tick since the last
        checkpoint) with the last logged sequence number. Changes not yet logged are
        logged first, unless `log_rest` is False: then the commit alone makes them
        durable. On failure LMDB aborted the transaction: the logged ticks are replayed
        from memory into a new one (reads keep seeing every acknowledged write; the
        unlogged rest is lost), write_error is set (writes refused with MISCONF until
        probe_write() checkpoints again), and the error is raised."""
        txn = self._write_txn
        if txn is None:
            return
        if txn.buf and not self._log_blocked and log_rest:
            self._log_tick()
        raw = txn.raw
        self._write_dirty_counts(raw)
        raw.put(CHECKPOINT_KEY, self._log_seq.to_bytes(8, "big"), db=self.misc_db)
        self._write_txn = None
        try:
            raw.commit()
        except lmdb.Error as exc:
            self.last_commit_error = exc
            self._failed_bytes = self._tick_bytes
            self.write_error = self._diagnose(exc)
            self._restore()
            raise
        self._checkpointed()

    def _checkpointed(self) -> None:
        """Bookkeeping once every logged tick is committed to LMDB."""
        self._log_blocked = False
        self._since_checkpoint = []
        self._pending_copied = self._pending_new = 0
        self._checkpoint_gen += 1
        self._rotate()
        if self.appendfsync != "everysec":
            if self.appendfsync == "always" and not self._env_syncs:
                self.sync()
            # `always`: the commit synced; `no`: the OS decides, nothing is promised.
            self._synced_gen = self._checkpoint_gen
        else:
            self.dirty_since_sync += 1
        self._delete_retired()
        self._next_checkpoint = time.monotonic() + self.checkpoint_interval
        self._tick_bytes = 0
        self._used_bytes = self._measure_used()
        if self._reserve_fd is not None:  # only _room_for_tick's estimate uses it
            self._measure_trees()
        self._update_tick_limit()
        if self._used_bytes * 2 > self._map_size:
            self._grow_after_commit()

    def _commit_frame_by_frame(self) -> bool:
        """After a checkpoint the disk refused: commit the logged ticks one frame per
        commit, as lmdb-tick-log no commits one tick at a time, so a file system with
        room for a tick but not for a whole checkpoint interval of them becomes writable
        again. Stops at the first commit refused (the frames left are rebuilt into the
        open transaction by _restore) and says whether every frame is committed."""
        assert self.env is not None
        old = self._write_txn
        self._write_txn = None
        if old is not None:
            old.raw.abort()
        self._drop_read_txn()
        frames = self._since_checkpoint
        done = 0
        try:
            for frame in frames:
                with self.env.begin(write=True) as txn:
                    self._replay(txn, [frame])
                done += 1
        except lmdb.Error as exc:
            self.last_commit_error = exc
            self._since_checkpoint = frames[done:]
            self._restore()
            return False
        self._load_counts()  # the stale slots marked above are recounted
        self._checkpointed()
        return True

    def _rotate(self) -> None:
        """Start a new log file at the next frame: the current one is covered by the
        checkpoint just committed (retired, see _delete_retired)."""
        if self._log_fd is not None:
            self._retired.append((self._checkpoint_gen, self._log_fd, self._log_path))
            self._log_fd = None
        self._log_offset = 0

    def _delete_retired(self) -> None:
        """Close and delete the log files whose checkpoint LMDB has synced past."""
        keep = []
        for gen, fd, path in self._retired:
            if gen > self._synced_gen:
                keep.append((gen, fd, path))
                continue
            if fd is not None:
                os.close(fd)
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        self._retired = keep

    def _close_log(self, delete: bool) -> None:
        for _, fd, _ in self._retired:
            if fd is not None:
                os.close(fd)
        self._retired = []
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None
        if delete:  # the environment was synced after the last checkpoint
            for path in ticklog.log_files(self.directory):
                path.unlink()

    def _restore(self) -> None:
        """After a lost transaction: a new one holding every logged tick since the last
        checkpoint (the unlogged rest of the tick is gone), counts recounted for every
        slot those ticks (or the lost rest) touched."""
        assert self.env is not None
        old = self._write_txn
        self._write_txn = None
        if old is not None:
            try:
                old.raw.abort()
            except lmdb.Error:
                pass
        self._drop_read_txn()
        touched: set[tuple[int, bytes]] = set()
        try:
            raw = self.env.begin(write=True)
            for _, body in self._since_checkpoint:
                ticklog.apply_ops(raw, self._log_handles, body, touched)
        except lmdb.Error as exc:
            # Serving on would show reads without acknowledged writes: stop; the next
            # start replays the log.
            log.critical("Cannot rebuild the transaction from the tick log (%s): exiting, "
                         "the next start replays the log", exc)
            os._exit(1)
        for index, dirty in enumerate(self._dirty_slots):
            for slot in dirty:
                touched.add((4 * index, layout.SLOT_PREFIX[slot]))
        self._mark_stale(raw, touched)
        self._load_counts(raw)
        self._write_txn = RecordingTxn(raw, self._log_index)
        if self.versions is not None:
            self.versions._limit = 0
        self.has_garbage = True

    def _replay(self, txn: lmdb.Transaction, frames: list[tuple[int, bytes]]) -> None:
        """Redo `frames` in `txn` as a checkpoint of the last one: their operations, the
        slots they touched marked stale, and the checkpointed sequence number."""
        touched: set[tuple[int, bytes]] = set()
        for _, body in frames:
            ticklog.apply_ops(txn, self._log_handles, body, touched)
        self._mark_stale(txn, touched)
        txn.put(CHECKPOINT_KEY, frames[-1][0].to_bytes(8, "big"), db=self.misc_db)

    def _mark_stale(self, txn: lmdb.Transaction, touched: set[tuple[int, bytes]]) -> None:
        """Mark in the stale bitmaps (in `txn`) every slot whose meta records the
        (db index, key) pairs of `touched` changed, so counting recounts them."""
        slots: dict[int, set[int]] = {}
        for dbi, key in touched:
            index, kind = divmod(dbi, 4)
            if kind != 0 or index >= self.databases:
                continue  # not a meta database
            slots.setdefault(index, set()).add(
                _ALL if len(key) < 2 else int.from_bytes(key[:2], "big"))
        for index, marked in slots.items():
            if _ALL in marked:
                marked = set(range(CLUSTER_SLOTS))
            raw = txn.get(_stale_key(index), None, self.misc_db)
            bitmap = bytearray(raw) if raw else bytearray(SLOT_BITMAP_BYTES)
            for slot in marked:
                bitmap_set(bitmap, slot)
            txn.put(_stale_key(index), bytes(bitmap), db=self.misc_db)

    def _recover_log(self) -> None:
        """At open: replay the frames after the checkpointed sequence number (stopping
        at the first torn or corrupt frame, or at a gap), commit, sync, delete the log
        files. Without the tick log on, a log left behind is still replayed."""
        assert self.env is not None
        files = ticklog.log_files(self.directory)
        with self.env.begin() as txn:
            raw = txn.get(CHECKPOINT_KEY, None, self.misc_db)
        checkpoint = int.from_bytes(raw, "big") if raw else 0
        self._log_seq = checkpoint
        if not files:
            return
        frames = list(ticklog.frames_to_replay(files, checkpoint))
        if frames:
            while True:
                txn = self.env.begin(write=True)
                try:
                    self._replay(txn, frames)
                    txn.commit()
                    break
                except lmdb.MapFullError:
                    txn.abort()
                    self._map_size *= 2
                    self.env.set_mapsize(self._map_size)
                except lmdb.Error as exc:
                    # The disk refuses the replay (full, I/O error). Start anyway: the
                    # frames stay in their files and in memory, and open() rebuilds the
                    # write transaction from them once the counts are loaded, so reads see
                    # every acknowledged write. The first checkpoint then fails like any
                    # other (writes refused with MISCONF until probe_write() has committed
                    # the frames), unless the disk has room again by then.
                    txn.abort()
                    self.last_commit_error = exc
                    self._since_checkpoint = frames
                    self._log_seq = frames[-1][0]
                    log.warning("Could not commit %d replayed tick-log frames (%s): serving "
                                "them from memory until a checkpoint stands", len(frames),
                                exc)
                    return
            self._log_seq = frames[-1][0]
            log.warning("Replayed %d tick-log frames (sequence %d to %d)", len(frames),
                        frames[0][0], frames[-1][0])
        self.env.sync(True)
        for path in files:
            path.unlink()

    # ----------------------------------------------------------------- map growth
    def _measure_used(self) -> int:
        assert self.env is not None
        if not self._page_size:
            self._page_size = self.env.stat()["psize"]
        return (self.env.info()["last_pgno"] + 1) * self._page_size

    def _grow_map(self, at_least: int) -> None:
        assert self.env is not None and self._write_txn is None
        size = self._map_size
        while size < at_least:
            size *= 2
        if size == self._map_size:
            return
        if self.writemap:
            assert self._data_fd is not None
            error = self._allocate(self._data_fd, size)
            if error is not None:
                raise StoreFullError(f"Cannot grow the LMDB map to {size >> 20} MB: "
                                     f"{os.strerror(error)}")
        self._drop_read_txn()
        self.env.set_mapsize(size)
        self._map_size = size
        self._update_tick_limit()
        log.info("LMDB map grown to %d MB", size >> 20)

    def ensure_room(self, nbytes: int) -> None:
        """Called before a write of about `nbytes`: LMDB fails a transaction that outgrows
        the map (and the transaction is then lost), so the map is grown ahead of time,
        committing the tick's work early if a transaction is open."""
        self._tick_bytes += nbytes
        if self._tick_bytes <= self._tick_limit:
            return
        if self._write_txn is not None:
            self.commit()
        try:
            self._grow_map((self._used_bytes + 4 * nbytes + (1 << 20)) * 2)
        except StoreFullError:
            # This write is refused (it never ran); later ones too until probe_write()
            # finds room again. What the tick committed so far stands.
            self._tick_bytes -= nbytes
            self._failed_bytes = nbytes
            self.write_error = os.strerror(errno.ENOSPC)
            raise

    def _update_tick_limit(self) -> None:
        # (used + 2 * tick + 1 MiB) * 2 <= map  <=>  tick <= (map - 2 * used - 2 MiB) / 4
        self._tick_limit = (self._map_size - 2 * self._used_bytes - (2 << 20)) // 4

    # ----------------------------------------------------------------- counts
    def count_added(self, db: int, slot: int) -> None:
        self.slot_counts[db][slot] += 1
        self.key_totals[db] += 1
        self._dirty_slots[db].add(slot)

    def count_removed(self, db: int, slot: int) -> None:
        self.slot_counts[db][slot] -= 1
        self.key_totals[db] -= 1
        self._dirty_slots[db].add(slot)

    def reset_counts(self, db: int) -> None:
        counts = self.slot_counts[db]
        dirty = self._dirty_slots[db]
        for slot in range(CLUSTER_SLOTS):
            if counts[slot]:
                counts[slot] = 0
                dirty.add(slot)
        self.key_totals[db] = 0

    # ----------------------------------------------------------------- durability
    def sync(self) -> None:
        """fsync everything committed so far (called from the everysec thread too; LMDB's
        sync only flushes the file and releases the GIL meanwhile)."""
        env = self.env
        if env is None:
            return
        with self._sync_lock:
            gen = self._checkpoint_gen  # read before the sync: the sync covers it
            fd = self._log_fd
            if fd is not None:
                os.fdatasync(fd)
            env.sync(True)
            self._synced_gen = max(self._synced_gen, gen)

    def set_appendfsync(self, mode: str) -> None:
        """CONFIG SET appendfsync at run time. LMDB's sync flag is fixed when the
        environment opens: one opened with "always" keeps syncing every commit (stricter
        than asked) until restart; "always" on one opened without it is emulated by an
        explicit sync after each commit. The server's everysec thread follows the mode."""
        self.appendfsync = mode

    def log_buffer_bytes(self) -> int:
        """Bytes of the tick log held in memory (INFO's mem_aof_buffer): the open tick's
        changes not yet written as a frame, and the frames written since the last
        checkpoint, kept to be replayed if that checkpoint's commit fails."""
        if not self.tick_log:
            return 0
        txn = self._write_txn
        pending = len(txn.buf) if isinstance(txn, RecordingTxn) else 0
        return pending + sum(len(body) for _, body in self._since_checkpoint)

    def used_bytes(self) -> int:
        """Bytes of the data file in use (LMDB's last page), as of the last commit."""
        return self._used_bytes

    def file_size(self) -> int:
        data_file = self.directory / DATA_SUBDIR / "data.mdb"
        return data_file.stat().st_size if data_file.exists() else 0


def _stale_key(index: int) -> bytes:
    return b"stale-counts:%d" % index


def _count_slot(txn: lmdb.Transaction, meta_db: Any, slot: int) -> int:
    """Meta records (keys, live or not yet reclaimed) stored under `slot`."""
    prefix = layout.SLOT_PREFIX[slot]
    cursor = txn.cursor(db=meta_db)
    n = 0
    if cursor.set_range(prefix):
        for key in cursor.iternext(values=False):
            if not key.startswith(prefix):
                break
            n += 1
    return n
