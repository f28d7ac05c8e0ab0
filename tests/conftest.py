"""Shared fixtures: real aikv-server and redis-server processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.differ import Differ
from tests.harness import ServerProcess, have_redis_server, serve_all_slots, shared_dir


@pytest.fixture(scope="session")
def shared() -> Path:
    return shared_dir()


@pytest.fixture
def spawn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServerProcess]]:
    """spawn(kind="aikv"|"redis", args=[...], directory=None) -> started ServerProcess.
    Every process started through it is stopped at teardown, even on failure."""
    started: list[ServerProcess] = []

    def _spawn(kind: str = "aikv", args: list[str] | tuple[str, ...] = (),
               directory: Path | None = None, port: int | None = None,
               wait: bool = True) -> ServerProcess:
        if kind == "redis" and not have_redis_server():
            pytest.skip("redis-server is not installed")
        d = directory or tmp_path_factory.mktemp(kind)
        proc = ServerProcess(kind, d, port=port, args=args)
        started.append(proc)
        return proc.start(wait=wait)

    yield _spawn
    for proc in reversed(started):
        proc.stop()


@pytest.fixture(scope="module")
def aikv_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One aikv-server shared by the tests of a module (flush between tests if needed)."""
    proc = ServerProcess("aikv", tmp_path_factory.mktemp("aikv-module"))
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def redis_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real redis-server 7.0 shared by the tests of a module: the oracle."""
    if not have_redis_server():
        pytest.skip("redis-server is not installed")
    # DEBUG on, as the harness gives AiKv: DEBUG DIGEST(-VALUE) compares whole values.
    proc = ServerProcess("redis", tmp_path_factory.mktemp("redis-module"),
                         args=["--enable-debug-command", "yes"])
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def r(aikv_module: ServerProcess) -> Iterator[redis.Redis]:
    client = aikv_module.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def oracle(redis_module: ServerProcess) -> Iterator[redis.Redis]:
    client = redis_module.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="module")
def differ(aikv_module: ServerProcess, redis_module: ServerProcess) -> Iterator[Differ]:
    """Raw connections to the module's AiKv and redis-server: the same command to both,
    replies compared byte for byte. A module may override it (another oracle)."""
    d = Differ(aikv_module.port, redis_module.port)
    yield d
    d.close()


@pytest.fixture
def cluster_differ(spawn: Callable[..., ServerProcess]) -> Iterator[Differ]:
    """A Differ over two one-node clusters that own every slot: AiKv and redis-server."""
    mine = spawn("aikv", args=["--cluster-enabled", "yes"])
    theirs = spawn("redis", args=["--cluster-enabled", "yes"])
    serve_all_slots(mine, theirs)
    d = Differ(mine.port, theirs.port)
    yield d
    d.close()
