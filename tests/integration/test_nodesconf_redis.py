"""A real redis-server 7.0 against our nodes.conf code: it must load what we write, refuse
what we refuse, and respect our lock.

Each test starts redis-server processes (conftest's `spawn`: free ports, always stopped)
in its own temp directory.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from aikv.cluster import nodeflags
from aikv.persist.nodesconf import (
    NodeEntry,
    NodesConf,
    format_nodes_conf,
    lock_nodes_conf,
    parse_node_line,
    parse_nodes_conf,
    save_nodes_conf,
)
from tests.harness import ServerProcess, have_redis_server
from tests.unit.test_nodesconf import (
    GOOD,
    ID_7101,
    MALFORMED,
    NEW_NODE_FOR_REDIS,
    STRICTER_THAN_REDIS,
)

pytestmark = pytest.mark.skipif(not have_redis_server(), reason="redis-server not installed")

CLUSTER_ARGS = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "60000"]
EXIT_DEADLINE_S = 15.0
MYSELF = "a1" * 20
PEER_B = "b2" * 20
PEER_C = "c3" * 20

Spawn = Callable[..., ServerProcess]


def start_redis(spawn: Spawn, directory: Path, text: str | None, wait: bool = True
                ) -> ServerProcess:
    """redis-server in `directory` with `text` as its nodes.conf (None: keep what is there).
    The conftest `spawn` fixture stops it at teardown."""
    directory.mkdir(parents=True, exist_ok=True)
    if text is not None:
        (directory / "nodes.conf").write_text(text)
    return spawn("redis", args=CLUSTER_ARGS, directory=directory, wait=wait)


def wait_exit(server: ServerProcess) -> int:
    assert server.proc is not None
    try:
        return server.proc.wait(timeout=EXIT_DEADLINE_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"redis-server kept running on a file it should refuse:\n{server.log()}")


def three_node_view() -> NodesConf:
    me = NodeEntry(MYSELF, "127.0.0.1", 7301, 17301, flags=nodeflags.MYSELF | nodeflags.MASTER,
                   config_epoch=1, link_connected=True, slots=[(0, 5460)],
                   migrating={100: PEER_B}, importing={6000: PEER_C})
    peer_b = NodeEntry(PEER_B, "127.0.0.1", 7302, 17302, hostname="b.aikv.test",
                       flags=nodeflags.MASTER, pong_received_ms=1795670352370, config_epoch=2,
                       link_connected=True, slots=[(5461, 10922)])
    # A master address nobody listens on: Redis will only fail to reach it.
    peer_c = NodeEntry(PEER_C, "127.0.0.1", 7303, 17303, flags=nodeflags.MASTER,
                       config_epoch=5, slots=[(10923, 16383)])
    return NodesConf([peer_b, me, peer_c], current_epoch=5, last_vote_epoch=2)


def _config_of(entries: list[NodeEntry]) -> dict[str, tuple[object, ...]]:
    # What must survive a load/save cycle; times and link states are the node's own.
    return {e.node_id: (e.ip, e.port, e.cport, e.hostname, e.flags, e.master_id,
                        e.config_epoch, e.slots, e.migrating, e.importing) for e in entries}


def _text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def test_redis_loads_our_file(spawn: Spawn, tmp_path: Path) -> None:
    view = three_node_view()
    server = start_redis(spawn, tmp_path / "node", format_nodes_conf(view))
    client = server.client()

    assert _text(client.execute_command("CLUSTER", "MYID")) == MYSELF
    listed = [parse_node_line(line)
              for line in _text(client.execute_command("CLUSTER", "NODES")).splitlines()]
    assert {e.node_id for e in listed} == {MYSELF, PEER_B, PEER_C}
    by_id = {e.node_id: e for e in listed}
    for expected in view.entries:
        seen = by_id[expected.node_id]
        assert seen.slots == expected.slots
        assert seen.config_epoch == expected.config_epoch
        assert seen.hostname == expected.hostname
    assert by_id[MYSELF].migrating == {100: PEER_B}
    assert by_id[MYSELF].importing == {6000: PEER_C}
    # Redis keeps its announced port from its own config, not from the file.
    assert by_id[MYSELF].port == server.port

    info = _text(client.execute_command("CLUSTER", "INFO")).split()
    assert "cluster_current_epoch:5" in info and "cluster_my_epoch:1" in info

    # And what Redis writes back is readable by us, with the configuration unchanged.
    client.execute_command("CLUSTER", "SAVECONFIG")
    saved = parse_nodes_conf((server.dir / "nodes.conf").read_text())
    assert (saved.current_epoch, saved.last_vote_epoch) == (5, 2)
    ours = _config_of(view.entries)
    ours[MYSELF] = (*ours[MYSELF][:1], server.port, server.port + 10000, *ours[MYSELF][3:])
    assert _config_of(saved.entries) == ours


REDIS_REFUSES = sorted(set(MALFORMED) - STRICTER_THAN_REDIS - NEW_NODE_FOR_REDIS)


@pytest.mark.parametrize("case", REDIS_REFUSES)
def test_redis_refuses_what_we_refuse(spawn: Spawn, tmp_path: Path, case: str) -> None:
    server = start_redis(spawn, tmp_path / case, MALFORMED[case][0], wait=False)
    assert wait_exit(server) != 0
    log = server.log()
    assert any(sign in log for sign in ("corrupted cluster config file", "Unknown flag",
                                        "ASSERTION FAILED", "crashed by signal")), log


@pytest.mark.parametrize("case", sorted(STRICTER_THAN_REDIS | NEW_NODE_FOR_REDIS))
def test_redis_accepts_what_we_refuse_on_purpose(spawn: Spawn, tmp_path: Path,
                                                 case: str) -> None:
    # Documents the deliberate differences: Redis loads these (misreading the numbers,
    # or starting as a new node on an empty file). spawn() fails if it does not start.
    server = start_redis(spawn, tmp_path / case, MALFORMED[case][0])
    assert server.client().ping()


def test_redis_respects_our_lock_after_saves(spawn: Spawn, tmp_path: Path) -> None:
    directory = tmp_path / "locked"
    directory.mkdir()
    path = directory / "nodes.conf"
    with lock_nodes_conf(path) as lock:
        # Two saves: the live file is a new inode each time, and must still be locked.
        save_nodes_conf(path, GOOD, fsync=True, lock=lock)
        save_nodes_conf(path, GOOD.replace("currentEpoch 3", "currentEpoch 4"), fsync=True,
                        lock=lock)
        refused = start_redis(spawn, directory, None, wait=False)
        assert wait_exit(refused) != 0
        assert "is already used by a different Redis Cluster node" in refused.log()
    # Once released, the same file is loaded normally.
    server = start_redis(spawn, directory, None)
    assert _text(server.client().execute_command("CLUSTER", "MYID")) == ID_7101
