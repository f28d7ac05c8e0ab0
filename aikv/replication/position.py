"""Where a replication stream stands, kept with the data: a record of the store's misc
database, written in the same commit as the data it describes, so a restart (even after
kill -9) finds the two in step. The master keeps its replication id and offset
(MASTER), a replica where it is in its master's stream (REPLICA)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aikv.server import Server

MASTER = b"master-position"  # b"<replid> <offset>"
REPLICA = b"replica-position"  # b"<replid> <offset> <db the stream selected>"


def read(server: Server, key: bytes) -> bytes | None:
    store = server.store
    value: bytes | None = store.reader().get(key, None, store.misc_db)
    return value


def write(server: Server, key: bytes, value: bytes) -> bool:
    """Into this tick's transaction; False when the store refuses writes now."""
    if server.prepare_write(64) is not None:
        return False
    store = server.store
    store.writer().put(key, value, True, True, False, store.misc_db)
    return True


def forget(server: Server, key: bytes) -> None:
    if read(server, key) is not None and server.prepare_write(64) is None:
        server.store.writer().delete(key, db=server.store.misc_db)
        server.schedule_tick()
