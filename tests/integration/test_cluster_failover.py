"""Failover end to end, with real processes: a killed master's replica is elected and
takes its slots, the old master comes back as the winner's replica; CLUSTER FAILOVER
(default, FORCE, TAKEOVER); and mixed clusters where AiKv masters elect a redis-server
replica and redis-server masters elect an AiKv replica.

Processes, ports, temp dirs and cleanup as in test_cluster_acceptance (same fixture);
every wait polls with a deadline.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

import pytest

from tests.integration.test_cluster_acceptance import (
    Node,
    NodeFactory,
    addrs,
    cli_check,
    cluster_nodes,
    start_all,
)
from tests.integration.test_cluster_bus import REDIS_CLI, aikv_main_module_ok, cluster_ok, wait_for
from tests.integration.test_cluster_mixed import cli_run, view

__all__ = ["cluster_nodes"]  # the fixture, re-exported so pytest finds it here

pytestmark = [
    pytest.mark.skipif(not aikv_main_module_ok(), reason="aikv.cli not importable"),
    pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli not installed"),
]

# A failover takes: PFAIL after one node timeout (2 s), FAIL once reports meet, an
# election 0.5-1 s later, then the news spreading. Deadlines are generous for a loaded box.
FAILOVER_DEADLINE = 40


def cli_create_with_replicas(nodes: Sequence[Node]) -> None:
    assert REDIS_CLI
    out = subprocess.run([REDIS_CLI, "--cluster", "create", *addrs(nodes), "--cluster-replicas", "1",
                          "--cluster-yes"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[OK] All 16384 slots covered." in out.stdout, out.stdout + out.stderr


def line(viewer: Node, node_id: str) -> list[str]:
    for text in viewer.nodes().splitlines():
        if text.startswith(node_id):
            return text.split(" ")
    raise AssertionError(f"{viewer.port} does not know {node_id}")


def is_master_with_slots(viewer: Node, node_id: str) -> bool:
    fields = line(viewer, node_id)
    return "master" in fields[2].split(",") and any(not f.startswith("[") for f in fields[8:])


def follows(viewer: Node, node_id: str, master_id: str) -> bool:
    fields = line(viewer, node_id)
    return "slave" in fields[2].split(",") and fields[3] == master_id


def views_agree(nodes: Sequence[Node], known: int) -> bool:
    """Every node's CLUSTER NODES agrees (addresses, flags, masters, epochs, links,
    slots) and lists `known` nodes."""
    views = [view(n) for n in nodes]
    return all(v == views[0] for v in views) and len(views[0]) == known


def shards(node: Node) -> dict[str, list[str]]:
    """master id -> its replicas' ids, from one node's CLUSTER NODES."""
    result: dict[str, list[str]] = {}
    rows = [text.split(" ") for text in node.nodes().splitlines()]
    for fields in rows:
        if "master" in fields[2].split(","):
            result.setdefault(fields[0], [])
    for fields in rows:
        if "slave" in fields[2].split(","):
            result.setdefault(fields[3], []).append(fields[0])
    return result


def by_id(nodes: Sequence[Node]) -> dict[str, Node]:
    return {n.myid(): n for n in nodes}


def repl_info(node: Node) -> dict[str, object]:
    return dict(node.client().info("replication"))


def caught_up(replica: Node, master: Node) -> bool:
    info = repl_info(replica)
    return (info.get("master_link_status") == "up"
            and info.get("slave_repl_offset") == repl_info(master).get("master_repl_offset"))


def epochs(viewer: Node) -> dict[str, int]:
    return {fields[0]: int(fields[6]) for fields in (t.split(" ") for t in viewer.nodes().splitlines())}


def write_keys(port: int, prefix: str, count: int) -> list[str]:
    keys = [f"{prefix}:{i}" for i in range(count)]
    replies, _ = cli_run(port, [("SET", k, f"v-{k}") for k in keys])
    assert replies == ["OK"] * count, replies
    return keys


def read_keys(port: int, keys: Sequence[str]) -> bool:
    replies, _ = cli_run(port, [("GET", k) for k in keys])
    return replies == [f"v-{k}" for k in keys]


def six_node_cluster(cluster_nodes: NodeFactory) -> tuple[list[Node], dict[str, list[str]], dict[str, Node]]:
    nodes = cluster_nodes(["aikv"] * 6)
    cli_create_with_replicas(nodes)
    wait_for(lambda: all(cluster_ok(n) for n in nodes), 30, "cluster_state:ok on all 6")
    wait_for(lambda: views_agree(nodes, 6), 30, "every CLUSTER NODES to agree")
    topology = shards(nodes[0])
    assert len(topology) == 3 and all(len(r) == 1 for r in topology.values()), topology
    ids = by_id(nodes)
    for master_id, (replica_id,) in topology.items():
        wait_for(lambda m=ids[master_id], r=ids[replica_id]: caught_up(r, m), 30,  # type: ignore[misc]
                 "each replica to sync with its master")
    return nodes, topology, ids


# --- (a) kill -9 of a master ---------------------------------------------------------------


def test_killed_master_is_failed_over_and_returns_as_a_replica(cluster_nodes: NodeFactory) -> None:  # noqa: F811
    nodes, topology, ids = six_node_cluster(cluster_nodes)
    keys = write_keys(nodes[0].port, "fo", 200)
    for master_id, (replica_id,) in topology.items():
        wait_for(lambda m=ids[master_id], r=ids[replica_id]: caught_up(r, m), 30,  # type: ignore[misc]
                 "the replicas to hold every key")
    victim_id, (heir_id,) = next(iter(topology.items()))
    victim, heir = ids[victim_id], ids[heir_id]
    victim_slots = line(nodes[0], victim_id)[8:]
    old_epochs = epochs(nodes[0])
    survivors = [n for n in nodes if n is not victim]

    victim.kill9()
    wait_for(lambda: all(is_master_with_slots(n, heir_id) for n in survivors), FAILOVER_DEADLINE,
             "every survivor to see the replica promoted")
    wait_for(lambda: all(cluster_ok(n) for n in survivors), 30, "cluster_state:ok after the failover")
    wait_for(lambda: views_agree(survivors, 6), 30, "the survivors to agree on the new configuration")
    promoted = line(heir, heir_id)
    assert promoted[2] == "myself,master" and promoted[8:] == victim_slots
    new_epoch = int(promoted[6])
    # the election epoch: above every configEpoch the cluster had, and the current epoch
    assert new_epoch > max(old_epochs.values())
    assert all(int(n.info()["cluster_current_epoch"]) == new_epoch for n in survivors)
    assert "fail" in line(nodes[1] if nodes[0] is victim else nodes[0], victim_id)[2].split(",")
    # the replica's copy is now served: every key is still there
    assert read_keys(heir.port, keys)

    # the old master restarts from its directory with its old view, learns it lost, and
    # follows the node that replaced it
    start_all([victim])
    assert victim.myid() == victim_id
    wait_for(lambda: all(follows(n, victim_id, heir_id) for n in nodes), FAILOVER_DEADLINE,
             "the old master to rejoin as a replica of the promoted one")
    wait_for(lambda: views_agree(nodes, 6), 30, "all six to agree again")
    wait_for(lambda: all(cluster_ok(n) for n in nodes), 30, "cluster_state:ok everywhere")
    assert line(victim, victim_id)[2] == "myself,slave"
    assert epochs(victim)[heir_id] == new_epoch
    wait_for(lambda: caught_up(victim, heir), 30, "the old master to sync from the new one")
    assert read_keys(victim.port, keys)
    cli_check(nodes[0])
    assert_clean_logs(nodes)


# --- (b) CLUSTER FAILOVER --------------------------------------------------------------------


def test_cluster_failover_default_force_and_takeover(cluster_nodes: NodeFactory) -> None:  # noqa: F811
    nodes, topology, ids = six_node_cluster(cluster_nodes)
    keys = write_keys(nodes[0].port, "manual", 200)
    masters = list(topology)
    c = ids[masters[0]].client()
    assert_error(c, ("CLUSTER", "FAILOVER"), "You should send CLUSTER FAILOVER to a replica")
    replica = ids[topology[masters[0]][0]].client()
    assert_error(replica, ("CLUSTER", "FAILOVER", "now"), "syntax error")
    assert_error(replica, ("CLUSTER", "FAILOVER", "force", "x"),
                 "unknown subcommand or wrong number of arguments for 'FAILOVER'. Try CLUSTER HELP.")

    for master_id, mode in zip(masters, ("", "FORCE", "TAKEOVER"), strict=True):
        (replica_id,) = topology[master_id]
        before = max(epochs(nodes[0]).values())
        args = ["CLUSTER", "FAILOVER", *([mode] if mode else [])]
        assert ids[replica_id].client().execute_command(*args) == "OK"
        wait_for(lambda r=replica_id: all(is_master_with_slots(n, r) for n in nodes),  # type: ignore[misc]
                 FAILOVER_DEADLINE, f"CLUSTER FAILOVER {mode or '(default)'} to promote the replica")
        wait_for(lambda m=master_id, r=replica_id: all(follows(n, m, r) for n in nodes),  # type: ignore[misc]
                 FAILOVER_DEADLINE, f"the old master to follow the new one ({mode or 'default'})")
        wait_for(lambda: views_agree(nodes, 6), 30, "all six to agree")
        assert int(line(nodes[0], replica_id)[6]) > before
        wait_for(lambda: all(cluster_ok(n) for n in nodes), 30, "cluster_state:ok")
        wait_for(lambda m=ids[master_id], r=ids[replica_id]: caught_up(m, r), 30,  # type: ignore[misc]
                 "the old master to sync from the new one")
    stats = ids[topology[masters[1]][0]].info()
    assert int(stats["cluster_stats_messages_auth-req_sent"]) >= 1
    assert int(stats["cluster_stats_messages_auth-ack_received"]) >= 2
    cli_check(nodes[0])
    assert read_keys(nodes[0].port, keys)
    assert_clean_logs(nodes)


def assert_clean_logs(nodes: Sequence[Node]) -> None:
    for node in nodes:
        if node.kind == "aikv":
            assert "Traceback" not in node.log_text(), node.log_text()[-6000:]


def assert_error(client: object, args: Sequence[str], text: str) -> None:
    import redis

    with pytest.raises(redis.ResponseError) as info:
        client.execute_command(*args)  # type: ignore[attr-defined]
    assert str(info.value) == text


# --- (c) mixed clusters ------------------------------------------------------------------------


def add_replica(replica: Node, master: Node) -> None:
    assert REDIS_CLI
    out = subprocess.run([REDIS_CLI, "--cluster", "add-node", f"127.0.0.1:{replica.port}",
                          f"127.0.0.1:{master.port}", "--cluster-slave", "--cluster-master-id", master.myid()],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
@pytest.mark.parametrize(("master_kind", "replica_kind"), [("aikv", "redis"), ("redis", "aikv")])
def test_mixed_election(cluster_nodes: NodeFactory, master_kind: str, replica_kind: str) -> None:  # noqa: F811
    """Three masters of one kind, a replica of the other kind on the first: kill that
    master, and only the two surviving masters (of the other kind) can elect the replica."""
    masters = cluster_nodes([master_kind] * 3)
    assert REDIS_CLI
    out = subprocess.run([REDIS_CLI, "--cluster", "create", *addrs(masters), "--cluster-yes"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    wait_for(lambda: all(cluster_ok(n) for n in masters), 30, "cluster_state:ok")
    (replica,) = cluster_nodes([replica_kind])
    add_replica(replica, masters[0])
    nodes = [*masters, replica]
    wait_for(lambda: views_agree(nodes, 4), 30, "all four to agree on the replica")
    keys = write_keys(masters[1].port, "mixed", 100)
    wait_for(lambda: caught_up(replica, masters[0]), 30, f"the {replica_kind} replica to sync")
    victim, victim_id, heir_id = masters[0], masters[0].myid(), replica.myid()
    survivors = [masters[1], masters[2], replica]

    victim.kill9()
    wait_for(lambda: all(is_master_with_slots(n, heir_id) for n in survivors), FAILOVER_DEADLINE,
             f"the {master_kind} masters to elect the {replica_kind} replica")
    wait_for(lambda: all(cluster_ok(n) for n in survivors), 30, "cluster_state:ok after the failover")
    wait_for(lambda: views_agree(survivors, 4), 30, "the survivors to agree")
    assert line(replica, heir_id)[2] == "myself,master"
    assert read_keys(masters[1].port, keys)

    start_all([victim])
    wait_for(lambda: all(follows(n, victim_id, heir_id) for n in nodes), FAILOVER_DEADLINE,
             f"the old {master_kind} master to follow the {replica_kind} one")
    wait_for(lambda: views_agree(nodes, 4), 30, "all four to agree again")
    wait_for(lambda: all(cluster_ok(n) for n in nodes), 30, "cluster_state:ok everywhere")
    wait_for(lambda: caught_up(victim, replica), 30, "the old master to sync from the new one")
    assert read_keys(victim.port, keys)
    assert_clean_logs(nodes)
