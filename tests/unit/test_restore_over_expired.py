"""RESTORE of a string over an expired key: the string's writer (put_meta) replaces the
old record without a delete pass before it, so it must itself leave nothing of an
expired collection behind: no element record, no expiry-index entry, one key counted.
Element records are versioned, so a leak is invisible to commands; it is checked here on
the LMDB databases themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aikv.client import Client
from aikv.config import Config
from aikv.server import Server
from bench.python_path import FakeTransport


def _entries(server: Server, db: Any) -> int:
    """Records in `db` as committed: the tick (and, with the tick log, a checkpoint)
    first, since a read transaction sees only what LMDB has committed."""
    server.store.end_tick()
    if server.store.tick_log:
        server.store.checkpoint()
    assert server.store.env is not None
    with server.store.env.begin() as txn:
        return int(txn.stat(db)["entries"])


@pytest.mark.parametrize("make", [
    [b"SET", b"old", b"x"],
    [b"RPUSH", b"old", b"a", b"b", b"c"],
    [b"HSET", b"old", b"f1", b"v1", b"f2", b"v2"],
    [b"SADD", b"old", b"m1", b"m2"],
    [b"ZADD", b"old", b"1", b"m1", b"2", b"m2"],
])
def test_string_restore_over_expired_key_leaves_nothing(tmp_path: Path, make: list[bytes]) -> None:
    config = Config()
    config.set("dir", str(tmp_path), startup=True)
    server = Server(config)
    server.open_storage()
    try:
        client = Client(server)
        client.connection_made(FakeTransport())  # type: ignore[arg-type]
        db = server.databases[0]
        assert server.execute(client, make) in (b"+OK\r\n", b":1\r\n", b":2\r\n", b":3\r\n")
        assert server.execute(client, [b"SET", b"src", b"restored"]) == b"+OK\r\n"
        payload = server.execute(client, [b"DUMP", b"src"])
        payload = payload[payload.index(b"\r\n") + 2:-2]
        assert server.execute(client, [b"PEXPIRE", b"old", b"1000"]) == b":1\r\n"
        # Time passes without any access: the key is expired but still stored.
        server.clock.now_ms += 5000
        assert _entries(server, db.expires_db) == 1
        assert server.execute(client, [b"RESTORE", b"old", b"0", payload]) == b"+OK\r\n"
        assert server.execute(client, [b"GET", b"old"]) == b"$8\r\nrestored\r\n"
        assert server.execute(client, [b"DBSIZE"]) == b":2\r\n"
        assert _entries(server, db.expires_db) == 0
        assert _entries(server, db.meta_db) == 2
        # Either the old elements are gone, or their version waits for reclamation.
        store = server.store
        assert _entries(server, store.elements_db) == 0 or _entries(server, store.garbage_db) > 0
    finally:
        server.store.close()
