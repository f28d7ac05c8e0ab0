"""The RDB file of a full synchronisation, made without stopping the node.

Redis forks, and the child writes the dataset as it was at the fork while the parent
serves on. AiKv gets the same from LMDB's MVCC: the tick's writes are committed, a read
transaction is opened on that state (exactly the state the replication offset
describes), and the file is written from it a few milliseconds per event-loop turn,
while clients keep reading and writing the live data. The snapshot is seen through
Database views bound to that transaction (SnapshotStore), so the type readers that DUMP
and MIGRATE use read it unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aikv.keyspace import Clock, Database
from aikv.migrate.rdbfile import CHUNK_SIZE, write_rdb

if TYPE_CHECKING:
    import lmdb

    from aikv.persist.store import Store
    from aikv.server import Server

log = logging.getLogger("aikv.replication")

STEP_SECONDS = 0.005  # work per event-loop turn


@dataclass(frozen=True)
class SavePacing:
    """rdb-key-save-delay (microseconds per key, Redis's testing knob, which slows its
    fork child the same way) for a file written a slice per loop turn (BGSAVE, a
    replica's snapshot): with a delay, one key per chunk and that long between chunks,
    the node serving meanwhile; without, CHUNK_SIZE chunks as fast as the loop allows."""

    delay: float  # seconds

    @classmethod
    def of(cls, server: Server) -> SavePacing:
        return cls(max(0, int(server.config.values["rdb-key-save-delay"])) / 1e6)

    @property
    def chunk_size(self) -> int:
        return 1 if self.delay else CHUNK_SIZE

    def schedule(self, server: Server, step: Callable[[], None]) -> None:
        """Run `step` again: after the delay, or on the next loop turn."""
        assert server.loop is not None
        if self.delay:
            server.loop.call_later(self.delay, step)
        else:
            server.loop.call_soon(step)


class SnapshotStore:
    """The store as a read transaction sees it: reads go to the snapshot, anything else
    (sub-database handles, settings) to the real store; writing is a bug."""

    def __init__(self, store: Store, txn: lmdb.Transaction) -> None:
        self._store = store
        self._txn = txn

    def reader(self) -> lmdb.Transaction:
        return self._txn

    def writer(self) -> Any:
        raise AssertionError("a snapshot is read-only")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def snapshot_views(server: Server, txn: lmdb.Transaction) -> list[Database]:
    view: Any = SnapshotStore(server.store, txn)
    clock = Clock()
    clock.now_ms = server.clock.now_ms  # keys expiring later are in the file; their DELs follow
    databases = []
    for live in server.databases:
        db = Database(view, live.index, clock, lambda index, key: None)
        db.show(live.stored)  # SWAPDB's mapping as it is now
        databases.append(db)
    return databases


class SnapshotJob:
    """Writes one RDB file from a snapshot, a slice per loop turn, then hands the chunks
    to `done` (or nothing, with `failed`, if the snapshot could not be taken)."""

    def __init__(self, server: Server, repl_id: str, offset: int,
                 done: Callable[[list[bytes]], None], cancelled: Callable[[], bool],
                 stream_db: int = 0, keys: bool = True, functions: bool = True) -> None:
        self.server = server
        self.done = done
        self.cancelled = cancelled
        self.started = time.perf_counter()
        self.chunks: list[bytes] = []
        self.txn: lmdb.Transaction | None = server.store.commit_for_snapshot()
        self.pacing = SavePacing.of(server)
        # Without LZF: AiKv's LZF is Python, and compressing a file that crosses one
        # connection costs far more than the bytes it saves (~50 us per 32-byte value).
        # stream_db: where the stream that follows the file starts (repl-stream-db).
        # keys / functions False: left out (REPLCONF rdb-filter-only).
        self.rdb: Iterator[bytes] = write_rdb(
            server, repl_id, offset, stream_db=stream_db,
            databases=snapshot_views(server, self.txn) if keys else [], compress=False,
            functions=functions, chunk_size=self.pacing.chunk_size)
        # The header and the function libraries are read now, with the snapshot.
        self.chunks.append(next(self.rdb))

    def start(self) -> None:
        assert self.server.loop is not None
        self.server.loop.call_soon(self._step)

    def _step(self) -> None:
        if self.cancelled():
            self._close()
            return
        deadline = time.perf_counter() + STEP_SECONDS
        try:
            self.chunks.append(next(self.rdb))
            while not self.pacing.delay and time.perf_counter() < deadline:
                self.chunks.append(next(self.rdb))
        except StopIteration:
            self._close()
            size = sum(map(len, self.chunks))
            log.info("RDB for a replica: %d bytes written from a snapshot in %.3f s.", size,
                     time.perf_counter() - self.started)
            self.done(self.chunks)
            return
        except Exception:
            log.exception("Writing the RDB file for a replica failed")
            self._close()
            self.done([])
            return
        self.pacing.schedule(self.server, self._step)

    def _close(self) -> None:
        txn, self.txn = self.txn, None
        if txn is not None:
            txn.abort()
