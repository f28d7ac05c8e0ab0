"""The LMDB map grows as needed: no MDB_MAP_FULL at any size (started tiny on purpose)."""

from __future__ import annotations

import os


def test_map_grows_under_many_and_big_writes(spawn) -> None:  # type: ignore[no-untyped-def]
    node = spawn("aikv", ["--set", "lmdb-initial-map-size=64kb"])
    client = node.client()
    big = os.urandom(5 * 1024 * 1024)
    assert client.set("big", big)
    pipe = client.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"k:{i}", os.urandom(512))
    assert all(pipe.execute())
    assert client.get("big") == big
    assert client.dbsize() == 20_001
    assert "MapFull" not in node.log()
    node.stop()
    node.start()
    client = node.client()
    assert client.get("big") == big
    assert client.dbsize() == 20_001
