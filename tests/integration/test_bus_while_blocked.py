"""The cluster bus of a node whose loop is held — a script past busy-reply-threshold, a
replica loading its master's data — accepts peers that connect meanwhile and answers
them, as redis-server 7.0's processEventsWhileBlocked does; once the loop is free, the
links accepted meanwhile carry on. Every case runs against a real redis-server too.

Why it matters: a load can take minutes, and a peer whose link to the node broke (or a
peer that restarted) must be able to ping it again before node-timeout runs out, or it
flags the node as failing. The PING comes from a node id nobody knows: both servers
answer such a PING with a PONG without adding the sender."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
import redis

from aikv.bus import builders
from aikv.bus.protocol import MsgType
from aikv.bus.wire import Header, decode, encode
from tests.harness import ServerProcess, wait_until
from tests.integration.test_bus_fuzz_live import read_frame
from tests.integration.test_busy_script import SPIN, start_script

Spawn = Callable[..., ServerProcess]
STRANGER = "5" * 40
KINDS = ["aikv", "redis"]
LOADING_NODE_ARGS = ["--cluster-enabled", "yes", "--enable-debug-command", "yes"]


def ping_frame() -> bytes:
    header = Header(type=MsgType.PING, sender=STRANGER, port=1, cport=10001, flags=1)
    return encode(builders.ping_message(header, []))


def bus_connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port + 10000), timeout=5)


def pong_within(sock: socket.socket, timeout: float) -> bool:
    """Send a PING on `sock`; True if a whole PONG frame comes back within `timeout`."""
    sock.sendall(ping_frame())
    frame = read_frame(sock, timeout)
    return frame is not None and decode(frame).header.type == MsgType.PONG


def info_field(client: redis.Redis, section: str, name: str) -> object:
    return client.info(section).get(name)


@pytest.mark.parametrize("kind", KINDS)
def test_a_peer_connecting_during_a_busy_script_is_answered(spawn: Spawn, kind: str) -> None:
    node = spawn(kind, args=["--cluster-enabled", "yes", "--busy-reply-threshold", "100"])
    runner = start_script(node.port, "eval", SPIN, "0")
    peer = bus_connect(node)
    try:
        assert pong_within(peer, 3.0), "no PONG on a link opened while the script ran"
        assert pong_within(peer, 3.0), "the link stopped answering while the script ran"
        client = node.client()
        assert client.execute_command("SCRIPT", "KILL") in (b"OK", "OK", True)
        assert runner.read_reply().startswith(b"-ERR Script killed by user")
        # The loop is free again: the same link goes on.
        assert pong_within(peer, 3.0), "the link accepted while busy died with the script"
        assert client.ping()
        client.close()
    finally:
        peer.close()
        runner.close()


def replica_loading(spawn: Spawn, kind: str) -> tuple[ServerProcess, redis.Redis, redis.Redis]:
    """A master owning every slot with 3,000 keys of 1 KB, and its replica, synced; then
    the replica's link is cut with the backlog too small to resume, and the replica
    loads the master's data again at 2 ms a key (about 6 s): returned while loading."""
    master_proc = spawn(kind, args=LOADING_NODE_ARGS)
    replica_proc = spawn(kind, args=LOADING_NODE_ARGS)
    master, replica = master_proc.client(), replica_proc.client()
    master.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    # Before the replica attaches: DEBUG POPULATE is not propagated, a full sync copies it.
    master.execute_command("DEBUG", "POPULATE", 3000, "key", 1000)
    replica.execute_command("CLUSTER", "MEET", "127.0.0.1", master_proc.port)
    master_id = master.execute_command("CLUSTER", "MYID")

    def replicated() -> bool:
        try:
            replica.execute_command("CLUSTER", "REPLICATE", master_id)
        except redis.ResponseError:
            return False  # the replica does not know the master yet
        return True

    wait_until(replicated, 20, 0.05, "the replica to know its master")
    wait_until(lambda: master.cluster("info")["cluster_state"] == "ok", 20, 0.05,
               "cluster_state ok")
    wait_until(lambda: info_field(replica, "replication", "master_link_status") == "up"
               and info_field(replica, "persistence", "loading") == 0
               and replica.dbsize() == 3000, 30, 0.05, "the first sync")
    replica.config_set("key-load-delay", 2000)
    replica.config_set("loading-process-events-interval-bytes", 1024)
    master.config_set("repl-backlog-size", 100)
    with master.pipeline(transaction=True) as tx:
        tx.execute_command("CLIENT", "KILL", "TYPE", "replica")
        for i in range(100):
            tx.set(f"{{0}}{i}", "A" * 1024)
        tx.execute()
    wait_until(lambda: info_field(replica, "persistence", "loading") == 1, 20, 0.01,
               "the replica to load again")
    return replica_proc, master, replica


@pytest.mark.parametrize("kind", KINDS)
def test_a_peer_connecting_while_a_replica_loads_is_answered(spawn: Spawn, kind: str) -> None:
    replica_proc, master, replica = replica_loading(spawn, kind)
    peer = bus_connect(replica_proc)
    try:
        assert pong_within(peer, 2.0), "no PONG on a link opened while the replica loaded"
        assert info_field(replica, "persistence", "loading") == 1, \
            "the load ended before the PONG: the check proved nothing"
        closer = bus_connect(replica_proc)  # a peer that comes and goes during the load
        assert pong_within(closer, 2.0)
        closer.close()
        wait_until(lambda: info_field(replica, "persistence", "loading") == 0
                   and info_field(replica, "replication", "master_link_status") == "up",
                   60, 0.05, "the load to end")
        assert pong_within(peer, 3.0), "the link accepted during the load died with it"
        assert replica.dbsize() == 3100
        assert master.ping() and replica.ping()
    finally:
        peer.close()
        master.close()
        replica.close()
