"""A real redis-server 7.0 against our nodes.conf code: it must load what we write, refuse
what we refuse, and respect our lock.

Each test starts redis-server processes in a temp dir on free ports and always stops them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

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
from tests.unit.test_nodesconf import (
    GOOD,
    ID_7101,
    MALFORMED,
    NEW_NODE_FOR_REDIS,
    STRICTER_THAN_REDIS,
)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
pytestmark = pytest.mark.skipif(not os.access(REDIS_SERVER, os.X_OK),
                                reason="redis-server not installed")

START_DEADLINE_S = 15.0
MYSELF = "a1" * 20
PEER_B = "b2" * 20
PEER_C = "c3" * 20


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    # The bus listens on port+10000, so both must be free and the pair must fit in 16 bits;
    # the kernel's ephemeral range would not guarantee that.
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = 20000 + sock.getsockname()[1] % 25000
        if _port_free(port) and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair found")


@dataclass
class RedisNode:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5,
                           decode_responses=True)

    def wait_ready(self) -> redis.Redis:
        deadline = time.monotonic() + START_DEADLINE_S
        client = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"redis-server exited with {self.process.returncode}:\n"
                            f"{self.log_text()[-3000:]}")
            try:
                if client.ping():
                    return client
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        pytest.fail(f"redis-server did not answer within {START_DEADLINE_S}s")

    def wait_exit(self) -> int:
        try:
            return self.process.wait(timeout=START_DEADLINE_S)
        except subprocess.TimeoutExpired:
            pytest.fail("redis-server kept running on a file it should refuse:\n"
                        + self.log_text()[-3000:])


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Callable[..., RedisNode]]:
    """Start redis-server in tmp_path/`name` with `text` as nodes.conf (None: leave what
    is there). Every process is stopped at teardown."""
    started: list[RedisNode] = []

    def start(text: str | None, name: str = "node") -> RedisNode:
        directory = tmp_path / name
        directory.mkdir(exist_ok=True)
        if text is not None:
            (directory / "nodes.conf").write_text(text)
        port = free_cluster_port()
        log = directory / "redis.log"
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--dir", str(directory), "--save", "", "--appendonly", "no",
                 "--cluster-node-timeout", "60000"],
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        node = RedisNode(process, port, directory, log)
        started.append(node)
        return node

    yield start
    for node in started:
        if node.process.poll() is None:
            node.process.terminate()
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait(timeout=10)


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


def test_redis_loads_our_file(start_redis: Callable[..., RedisNode]) -> None:
    view = three_node_view()
    node = start_redis(format_nodes_conf(view))
    client = node.wait_ready()

    assert client.execute_command("CLUSTER", "MYID") == MYSELF
    reply = client.execute_command("CLUSTER", "NODES")
    text = reply if isinstance(reply, str) else reply.decode()
    listed = [parse_node_line(line) for line in text.splitlines()]
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
    assert by_id[MYSELF].port == node.port

    info = client.execute_command("CLUSTER", "INFO")
    info_text = info if isinstance(info, str) else info.decode()
    assert "cluster_current_epoch:5" in info_text.split()
    assert "cluster_my_epoch:1" in info_text.split()

    # And what Redis writes back is readable by us, with the configuration unchanged.
    assert client.execute_command("CLUSTER", "SAVECONFIG") in ("OK", True, b"OK")
    saved = parse_nodes_conf((node.directory / "nodes.conf").read_text())
    assert (saved.current_epoch, saved.last_vote_epoch) == (5, 2)
    ours = _config_of(view.entries)
    ours[MYSELF] = (*ours[MYSELF][:1], node.port, node.port + 10000, *ours[MYSELF][3:])
    assert _config_of(saved.entries) == ours


REDIS_REFUSES = sorted(set(MALFORMED) - STRICTER_THAN_REDIS - NEW_NODE_FOR_REDIS)


@pytest.mark.parametrize("case", REDIS_REFUSES)
def test_redis_refuses_what_we_refuse(start_redis: Callable[..., RedisNode],
                                      case: str) -> None:
    node = start_redis(MALFORMED[case][0], case)
    assert node.wait_exit() != 0
    log = node.log_text()
    assert any(sign in log for sign in ("corrupted cluster config file", "Unknown flag",
                                        "ASSERTION FAILED", "crashed by signal")), log[-2000:]


@pytest.mark.parametrize("case", sorted(STRICTER_THAN_REDIS | NEW_NODE_FOR_REDIS))
def test_redis_accepts_what_we_refuse_on_purpose(
        start_redis: Callable[..., RedisNode], case: str) -> None:
    # Documents the deliberate differences: Redis loads these (misreading the numbers).
    node = start_redis(MALFORMED[case][0], case)
    node.wait_ready()


def test_redis_respects_our_lock_after_saves(
        start_redis: Callable[..., RedisNode], tmp_path: Path) -> None:
    directory = tmp_path / "locked"
    directory.mkdir()
    path = directory / "nodes.conf"
    with lock_nodes_conf(path) as lock:
        save_nodes_conf(path, GOOD, fsync=True, lock=lock)
        save_nodes_conf(path, GOOD.replace("currentEpoch 3", "currentEpoch 4"), fsync=True,
                        lock=lock)
        node = start_redis(None, "locked")
        assert node.wait_exit() != 0
        assert "is already used by a different Redis Cluster node" in node.log_text()
    # Once released, the same file is loaded normally.
    started = start_redis(None, "locked")
    assert started.wait_ready().execute_command("CLUSTER", "MYID") == ID_7101
