"""SAVE, BGSAVE and `save` points: the dataset written as an RDB file, `dbfilename` in
`dir`, for backups and for tools that read Redis snapshots.

AiKv never needs the file itself (every write is in LMDB before its reply leaves, and
the file is not loaded at startup); it is written because a Redis user expects SAVE and
BGSAVE to leave one. The steps follow Redis 7.0 (rdb.c's rdbSave): the file goes to
temp-<pid>.rdb in `dir`, is fsynced, renamed over `dbfilename`, and the directory is
fsynced, so a crash leaves the old file or the new one, never half of one.

- SAVE writes it synchronously from the open write transaction (Redis blocks too).
- BGSAVE has no child to fork: it commits the tick, opens an LMDB read transaction on
  that state (the dataset as of the command, as a fork would see it) and writes the
  file from it a few milliseconds per event-loop turn while the node keeps serving (the
  replication snapshot's technique, aikv/replication/snapshot.py). The final fsync runs
  in a thread; the rename and the bookkeeping are done back on the loop.
- `save` points are checked once a second by the server cron (serverCron's test,
  including CONFIG_BGSAVE_RETRY_DELAY after a failed save).

Changes since the last save (INFO's rdb_changes_since_last_save, Redis's server.dirty)
cost the request path nothing: every command already counts its calls (COMMANDSTATS),
so the writes are the sum of the write commands' calls, taken against the sum at the
last save. A write command counts as one change whatever it changed (Redis counts the
keys or elements it touched, and nothing for a write that changed nothing), except
where a command states its count with `count_changes` (SETBIT and BITFIELD, whose
no-op writes Redis's tests check).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aikv.info import persistence_state
from aikv.migrate.rdbfile import CHUNK_SIZE, write_rdb
from aikv.replication.snapshot import STEP_SECONDS, SavePacing, snapshot_views

if TYPE_CHECKING:
    import lmdb

    from aikv.commands.registry import Command
    from aikv.server import Server

log = logging.getLogger("aikv")

RETRY_DELAY = 5  # CONFIG_BGSAVE_RETRY_DELAY: seconds before a failed BGSAVE is retried
_NO_REPLID = "0" * 40

_write_commands: list[Command] | None = None


# ---------------------------------------------------------------------- changes
def write_calls(server: Server) -> int:
    """Changes counted since startup (or since CONFIG RESETSTAT, which `stats_reset`
    accounts for): the calls of write commands, corrected by `count_changes`."""
    global _write_commands
    if _write_commands is None:
        from aikv.commands.registry import COMMANDS

        _write_commands = [cmd for top in COMMANDS.values()
                           for cmd in (top, *top.subcommands.values()) if cmd.is_write]
    return sum(cmd.calls for cmd in _write_commands) + persistence_state(server).extra_changes


def count_changes(server: Server, changes: int) -> None:
    """The running write command made `changes` changes (Redis's `server.dirty +=
    changes`) rather than the one its call counts for."""
    persistence_state(server).extra_changes += changes - 1


def changes_since_save(server: Server) -> int:
    return max(0, write_calls(server) - persistence_state(server).calls_at_save)


def stats_reset(server: Server, calls_before: int) -> None:
    """CONFIG RESETSTAT zeroed the command counters (they were `calls_before`): the
    changes since the last save stay what they were."""
    state = persistence_state(server)
    state.calls_at_save -= calls_before
    state.extra_changes = 0


def save_points(server: Server) -> list[tuple[int, int]]:
    words = server.config.values["save"].split()
    return [(int(words[i]), int(words[i + 1])) for i in range(0, len(words) - 1, 2)]


# ---------------------------------------------------------------------- the file
def rdb_path(server: Server) -> str:
    return os.path.join(str(server.config.dir), server.config.values["dbfilename"])


def temp_path(server: Server) -> str:
    return os.path.join(str(server.config.dir), "temp-%d.rdb" % os.getpid())


def _rdb_chunks(server: Server, txn: lmdb.Transaction | None,
                chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The file's chunks: of the live data (txn None: the caller drains the iterator
    before anything else writes) or of a snapshot. The replication id and offset go in
    when this node is part of a replication chain, as rdbPopulateSaveInfo decides."""
    source = server.replication
    link = server.replica
    replid, offset, stream_db, chained = _NO_REPLID, 0, 0, False
    if source is not None:
        replid, offset, chained = source.replid, source.offset, True
        if link is not None and link.master_client is not None:
            stream_db = link.master_client.db_index
        elif source.selected_db >= 0:
            stream_db = source.selected_db
    databases = None if txn is None else snapshot_views(server, txn)
    return write_rdb(server, replid, offset, stream_db=stream_db, databases=databases,
                     replication=chained, chunk_size=chunk_size)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _open_temp(server: Server) -> int | None:
    tmp = temp_path(server)
    try:
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        log.warning("Failed opening the temp RDB file %s (in server root dir %s) for "
                    "saving: %s", os.path.basename(tmp), server.config.dir,
                    os.strerror(exc.errno or 0))
        return None


def _write_error(server: Server, operation: str, exc: BaseException) -> None:
    reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else str(exc)
    log.warning("Write error saving DB on disk(%s): %s", operation, reason)
    _unlink(temp_path(server))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _put_in_place(server: Server) -> bool:
    """Rename the finished temp file over dbfilename and fsync the directory."""
    tmp, final = temp_path(server), rdb_path(server)
    try:
        os.rename(tmp, final)
    except OSError as exc:
        log.warning("Error moving temp DB file %s on the final destination %s (in server "
                    "root dir %s): %s", os.path.basename(tmp), os.path.basename(final),
                    server.config.dir, os.strerror(exc.errno or 0))
        _unlink(tmp)
        return False
    try:
        fd = os.open(os.path.dirname(final) or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        _write_error(server, "fsyncFileDir", exc)
        return False
    log.info("DB saved on disk")
    return True


def save_now(server: Server, *, reset_changes: bool = True, pending_calls: int = 0) -> bool:
    """Redis's rdbSave: write the whole file now. On success the changes since the last
    save restart from zero (`pending_calls`: write calls made but not yet counted, the
    running command's own), LASTSAVE moves and the save status is ok. A failure is
    logged and leaves the status as it was (rdbSave's error path does too)."""
    cancel_background(server)
    fd = _open_temp(server)
    if fd is None:
        return False
    calls = write_calls(server) + pending_calls
    operation = "rdbSaveRio"
    try:
        for chunk in _rdb_chunks(server, None):
            _write_all(fd, chunk)
        operation = "fsync"
        os.fsync(fd)
    except Exception as exc:  # noqa: BLE001 - a full disk, an I/O error, or a bug: logged
        os.close(fd)
        _write_error(server, operation, exc)
        return False
    os.close(fd)
    if not _put_in_place(server):
        return False
    state = persistence_state(server)
    if reset_changes:
        state.calls_at_save = calls
    server.last_save = int(time.time())
    state.last_bgsave_ok = True
    server.update_write_gates()  # a good save lifts stop-writes-on-bgsave-error
    return True


# ---------------------------------------------------------------------- BGSAVE
class BackgroundSave:
    """One BGSAVE: the file written from a snapshot, a slice per loop turn."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.calls = write_calls(server)  # Redis's dirty_before_bgsave
        self.started = time.time()
        self.cancelled = False
        self.syncing = False  # the final fsync runs in a thread, which owns the fd
        self.fd: int | None = None
        self.pacing = SavePacing.of(server)
        # The dataset as of now: the tick's writes are committed and a read transaction
        # holds that state (raises if the commit fails: no save then).
        self.txn: lmdb.Transaction | None = server.store.commit_for_snapshot()
        try:
            self.rdb: Iterator[bytes] = _rdb_chunks(server, self.txn, self.pacing.chunk_size)
            # The header and the function libraries are read now, with the snapshot.
            self.first = next(self.rdb)
        except BaseException:
            self._close_txn()
            raise

    def start(self) -> None:
        assert self.server.loop is not None
        self.server.loop.call_soon(self._step)

    def _step(self) -> None:
        if self.cancelled:
            return
        server = self.server
        operation = "rdbSaveRio"
        try:
            if self.fd is None:
                # Opened here rather than by BGSAVE: as with Redis's child, a directory
                # that refuses the file is a failed background save, not a failed command.
                self.fd = _open_temp(server)
                if self.fd is None:
                    self._finish(False)
                    return
                _write_all(self.fd, self.first)
            if self.pacing.delay:
                _write_all(self.fd, next(self.rdb))
            else:
                deadline = time.perf_counter() + STEP_SECONDS
                while time.perf_counter() < deadline:
                    _write_all(self.fd, next(self.rdb))
        except StopIteration:
            self._close_txn()
            assert server.loop is not None
            fd = self.fd
            assert fd is not None
            self.syncing = True
            future = server.loop.run_in_executor(None, os.fsync, fd)
            future.add_done_callback(self._synced)
            return
        except Exception as exc:  # noqa: BLE001 - a full disk, an I/O error, or a bug
            self._close_fd()
            _write_error(server, operation, exc)
            self._finish(False)
            return
        self.pacing.schedule(server, self._step)

    def _synced(self, future: asyncio.Future[None]) -> None:
        self._close_fd()
        if self.cancelled:  # its temp file went with the cancellation
            return
        exc = future.exception()
        if exc is not None:
            _write_error(self.server, "fsync", exc)
            self._finish(False)
            return
        self._finish(_put_in_place(self.server))

    def _finish(self, ok: bool) -> None:
        """backgroundSaveDoneHandlerDisk and backgroundSaveDoneHandler."""
        self._close_txn()
        server = self.server
        state = persistence_state(server)
        if state.job is self:
            state.job = None
        state.bgsave_started = None
        if ok:
            log.info("Background saving terminated with success")
            state.calls_at_save = self.calls  # the writes made meanwhile stay counted
            server.last_save = int(time.time())
            state.last_bgsave_ok = True
        else:
            log.warning("Background saving error")
            state.last_bgsave_ok = False
        state.last_bgsave_seconds = int(time.time() - self.started)
        server.update_write_gates()  # stop-writes-on-bgsave-error follows the status

    def cancel(self) -> None:
        """Stop it (FLUSHALL, SHUTDOWN): no file, and no error status (Redis kills its
        child with SIGUSR1, which does not count as a failure)."""
        self.cancelled = True
        self._close_txn()
        if not self.syncing:
            self._close_fd()
        _unlink(temp_path(self.server))
        state = persistence_state(self.server)
        if state.job is self:
            state.job = None
            state.bgsave_started = None
            state.last_bgsave_seconds = int(time.time() - self.started)

    def _close_txn(self) -> None:
        txn, self.txn = self.txn, None
        if txn is not None:
            txn.abort()

    def _close_fd(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def start_background(server: Server) -> bool:
    """rdbSaveBackground: False (logged, status err) if the snapshot cannot be taken."""
    state = persistence_state(server)
    if state.job is not None:
        return False
    state.saves += 1
    state.lastbgsave_try = int(time.time())
    try:
        job = BackgroundSave(server)
    except Exception as exc:  # noqa: BLE001 - the commit before the snapshot failed
        state.last_bgsave_ok = False
        log.warning("Can't save in background: %s", exc)
        server.update_write_gates()
        return False
    state.job = job
    state.bgsave_started = time.monotonic()
    # Redis names its child; AiKv has none (the event loop writes the file in slices).
    log.info("Background saving started by pid %d (no child process: the event loop "
             "writes a snapshot)", os.getpid())
    job.start()
    return True


def cancel_background(server: Server) -> None:
    job = persistence_state(server).job
    if job is not None:
        log.warning("There is a background save of an .rdb in progress. Cancelling it!")
        job.cancel()


def cron(server: Server) -> None:
    """serverCron's part: run a BGREWRITEAOF scheduled inside MULTI/EXEC; start a
    BGSAVE when a save point is reached, or the one scheduled by BGSAVE inside
    MULTI/EXEC; after a failed BGSAVE, not before RETRY_DELAY."""
    state = persistence_state(server)
    if state.aof_rewrite_scheduled:
        rewrite_aof(server)
    if state.job is not None:
        return
    now = int(time.time())
    may_retry = state.last_bgsave_ok or now - state.lastbgsave_try > RETRY_DELAY
    if not may_retry:
        return
    points = save_points(server)
    if points:
        changes = changes_since_save(server)
        for seconds, wanted in points:
            if changes >= wanted and now - server.last_save > seconds:
                log.info("%d changes in %d seconds. Saving...", wanted, seconds)
                start_background(server)
                return
    if state.bgsave_scheduled and start_background(server):
        state.bgsave_scheduled = False


def commit_and_sync(server: Server) -> None:
    """Commit the tick's writes so far (with the tick log: a checkpoint) and fsync the
    store: what BGREWRITEAOF and SHUTDOWN come down to here."""
    store = server.store
    store.commit()
    store.sync()
    store.dirty_since_sync = 0


def rewrite_aof(server: Server) -> bool:
    """BGREWRITEAOF's work: commit the tick's writes (with the tick log, a checkpoint
    into LMDB, after which its files can go) and fsync the store. False: it failed
    (logged and counted for INFO)."""
    state = persistence_state(server)
    state.aof_rewrite_scheduled = False
    started = time.monotonic()
    try:
        commit_and_sync(server)
    except Exception as exc:
        log.warning("Background append only file rewriting failed: %s", exc)
        state.last_aof_rewrite_ok = False
        state.aof_rewrite_failures += 1
        return False
    state.aof_rewrites += 1
    state.aof_rewrite_failures = 0
    state.last_aof_rewrite_ok = True
    state.last_aof_rewrite_seconds = int(time.monotonic() - started)
    log.info("Background AOF rewrite finished successfully")
    return True


def save_before_exit(server: Server, save: bool, nosave: bool, force: bool) -> bool:
    """finishShutdown's RDB part: a BGSAVE in progress is cancelled; the file is written
    with SAVE, or without option when save points are set (not with NOSAVE). False: the
    save failed without FORCE, and the node must not exit."""
    cancel_background(server)
    if not (save or (save_points(server) and not nosave)):
        return True
    log.info("Saving the final RDB snapshot before exiting.")
    if save_now(server):
        return True
    if force:
        log.warning("Error trying to save the DB. Exit anyway.")
        return True
    log.warning("Error trying to save the DB, can't exit.")
    log.warning("Errors trying to shut down the server. Check the logs for more information.")
    return False
