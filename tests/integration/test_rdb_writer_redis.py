"""The RDB file AiKv writes for a full synchronisation, loaded by a real redis-server 7.0:
the dataset Redis ends up with must be AiKv's, as DEBUG DIGEST (whole dataset, expiries
included) and DEBUG DIGEST-VALUE (each key) say, with the same function libraries; and
redis-check-rdb must find the file sound."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aikv.migrate.rdbfile import write_rdb
from tests.harness import ServerProcess
from tests.unit.test_rdb_writer import REPL_ID, Node, _fill

REDIS_CHECK_RDB = shutil.which("redis-check-rdb")


@pytest.fixture(params=["yes", "no"], ids=["compressed", "uncompressed"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path / "aikv", enable_debug_command="yes", rdbcompression=request.param)
    try:
        yield n
    finally:
        n.server.store.close()


def _status(reply: bytes) -> bytes:
    assert reply[:1] == b"+", reply
    return reply[1:-2]


def _digest_values(node: Node, db: int, keys: list[bytes]) -> list[bytes]:
    node.run("SELECT", db)
    reply = node.run("DEBUG", "DIGEST-VALUE", *keys)
    # An array of simple strings: *N, then +<40 hex digits> per key.
    return [line[1:] for line in reply.split(b"\r\n")[1:] if line]


def _load_into_redis(spawn: Callable[..., ServerProcess], data: bytes,
                     directory: Path) -> ServerProcess:
    directory.mkdir()
    (directory / "dump.rdb").write_bytes(data)
    return spawn("redis", directory=directory,
                 args=["--dbfilename", "dump.rdb", "--enable-debug-command", "yes"])


def test_redis_loads_the_same_dataset(node: Node, tmp_path: Path,
                                      spawn: Callable[..., ServerProcess]) -> None:
    _fill(node)
    node.server.clock.now_ms += 1000  # the short deadlines pass, the hour-long do not
    data = b"".join(write_rdb(node.server, REPL_ID, 77))
    path = tmp_path / "redis"
    theirs = _load_into_redis(spawn, data, path)

    with theirs.client() as client:
        assert client.execute_command("DEBUG", "DIGEST") == \
            _status(node.run("DEBUG", "DIGEST")) != b"0" * 40
        assert client.function_dump() == node.run("FUNCTION", "DUMP").split(b"\r\n", 1)[1][:-2]

    held = node.held()
    by_db: dict[int, list[bytes]] = {}
    for db, key in held:
        by_db.setdefault(db, []).append(key)
    assert set(by_db) == {0, 3, 15}
    for db, keys in by_db.items():
        with theirs.client(db=db) as client:
            assert client.dbsize() == len(keys)
            assert client.execute_command("DEBUG", "DIGEST-VALUE", *keys) == \
                _digest_values(node, db, keys), db
            # Deadlines arrive as they are, to the millisecond.
            for key in keys:
                deadline = held[(db, key)][2]
                assert client.pexpiretime(key) == (deadline or -1), key

    if REDIS_CHECK_RDB is not None:
        check = subprocess.run([REDIS_CHECK_RDB, str(path / "dump.rdb")],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "RDB looks OK" in check.stdout


def test_redis_loads_an_empty_dataset(node: Node, tmp_path: Path,
                                      spawn: Callable[..., ServerProcess]) -> None:
    data = b"".join(write_rdb(node.server, REPL_ID, 0))
    theirs = _load_into_redis(spawn, data, tmp_path / "redis")
    with theirs.client() as client:
        assert client.execute_command("DEBUG", "DIGEST") == b"0" * 40
        assert client.info("keyspace") == {}
        assert "Done loading RDB" in theirs.log()


@pytest.mark.skipif(REDIS_CHECK_RDB is None, reason="redis-check-rdb not installed")
def test_redis_check_rdb_refuses_a_corrupted_file(node: Node, tmp_path: Path) -> None:
    """The CRC covers the whole file: one flipped byte in a value and Redis's checker
    (which redis-server runs when a load fails) refuses it."""
    assert REDIS_CHECK_RDB is not None
    node.run("SET", "key", "value")
    data = bytearray(b"".join(write_rdb(node.server, REPL_ID, 0)))
    data[data.index(b"value")] ^= 1
    path = tmp_path / "dump.rdb"
    path.write_bytes(bytes(data))
    check = subprocess.run([REDIS_CHECK_RDB, str(path)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode != 0
    assert "RDB CRC error" in check.stdout
