"""Replica migration end to end, with real processes: three masters, A with two replicas,
B and C with one each; B's replica is killed with -9, and once it is FAIL the replica of
A with the smallest node id (Redis's candidate rule) re-attaches itself to B, syncs B's
data and `redis-cli --cluster check` is happy. Then the same with redis-server masters
and AiKv replicas (an AiKv replica deciding from redis-server's gossip and syncing from
a redis-server master), and with an AiKv orphan master that a redis-server replica
migrates to (redis-server deciding from AiKv's gossip and syncing from AiKv).

Processes, ports, temp dirs and cleanup as in test_cluster_acceptance (same fixture);
every wait polls with a deadline. Node timeout 2 s (the fixture's), and Redis's fixed
5 s migration delay: a migration takes about 10 s from the kill.
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
)
from tests.integration.test_cluster_bus import REDIS_CLI, aikv_main_module_ok, cluster_ok, wait_for
from tests.integration.test_cluster_failover import (
    add_replica,
    assert_clean_logs,
    caught_up,
    follows,
    line,
    shards,
    write_keys,
)

__all__ = ["cluster_nodes"]  # the fixture, re-exported so pytest finds it here

pytestmark = [
    pytest.mark.skipif(not aikv_main_module_ok(), reason="aikv.cli not importable"),
    pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli not installed"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
]

DEBUG = ["--enable-debug-command", "yes"]
# Killed replica: PFAIL after 2 s, FAIL once a majority reported it; then the 5 s delay.
MIGRATION_DEADLINE = 40


def build(cluster_nodes: NodeFactory, master_kinds: Sequence[str], replica_kinds: Sequence[str]
          ) -> tuple[list[Node], list[Node], list[Node]]:
    """Masters A, B, C created by redis-cli (no replicas), then replicas added with
    `--cluster-slave`: replica_kinds[0:2] to A, [2] to B, [3] to C. Returns
    (masters, A's replicas, [B's replica, C's replica])."""
    nodes = cluster_nodes([*master_kinds, *replica_kinds], extra=DEBUG)
    masters, replicas = nodes[:3], nodes[3:]
    assert REDIS_CLI
    out = subprocess.run([REDIS_CLI, "--cluster", "create", *addrs(masters), "--cluster-yes"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    wait_for(lambda: all(cluster_ok(n) for n in masters), 30, "cluster_state:ok on the masters")
    for replica, master in zip(replicas, [masters[0], masters[0], masters[1], masters[2]], strict=True):
        add_replica(replica, master)
    wait_for(lambda: all(len(n.nodes().splitlines()) == 7 for n in nodes), 30, "all seven to know each other")
    a, b, c = (m.myid() for m in masters)
    expected = {a: 2, b: 1, c: 1}
    wait_for(lambda: all({m: len(r) for m, r in shards(n).items()} == expected for n in nodes), 30,
             "every node to see the replicas")
    wait_for(lambda: all(cluster_ok(n) for n in nodes), 30, "cluster_state:ok everywhere")
    return masters, replicas[:2], replicas[2:]


def digest(node: Node) -> str:
    return str(node.client().execute_command("DEBUG", "DIGEST"))


def migrate_scenario(masters: list[Node], a_replicas: list[Node], others: list[Node]) -> Node:
    """Kill B's replica, check that the right replica of A moves to B with B's data.
    Returns the node that migrated."""
    master_a, master_b, _ = masters
    b_replica = others[0]
    keys = write_keys(master_a.port, "mig", 300)
    assert keys
    a_id, b_id = master_a.myid(), master_b.myid()
    wait_for(lambda: all(caught_up(r, master_a) for r in a_replicas), 30, "A's replicas to sync")
    # Redis's candidate: the smallest id among the replicas of the best-served master.
    migrant, stayer = sorted(a_replicas, key=lambda n: n.myid())
    migrant_id, stayer_id = migrant.myid(), stayer.myid()
    survivors = [n for n in [*masters, *a_replicas, *others] if n is not b_replica]

    b_replica.kill9()
    wait_for(lambda: all(follows(n, migrant_id, b_id) for n in survivors), MIGRATION_DEADLINE,
             "every survivor to see A's smallest-id replica follow B")
    assert line(migrant, migrant_id)[2] == "myself,slave"
    # Both kinds log the move with the same words (clusterHandleSlaveMigration's).
    assert f"Migrating to orphaned master {b_id}" in migrant.log_text()
    assert all(follows(n, stayer_id, a_id) for n in survivors)
    wait_for(lambda: caught_up(migrant, master_b), 30, "the migrated replica to sync from B")
    wait_for(lambda: digest(migrant) == digest(master_b), 30, "the migrated replica to hold B's data")
    assert digest(master_b) != "0" * 40
    assert digest(stayer) == digest(master_a)
    replicas_of_b = master_b.client().execute_command("CLUSTER", "REPLICAS", b_id)
    assert any(text.startswith(migrant_id) for text in replicas_of_b), replicas_of_b
    # The move is in the migrant's nodes.conf (Redis itself would save it only with a
    # later change; AiKv saves at once).
    if migrant.kind == "aikv":
        conf = (migrant.dir / "nodes.conf").read_text()
        assert any(text.startswith(migrant_id) and f" {b_id} " in text for text in conf.splitlines())
    wait_for(lambda: all(cluster_ok(n) for n in survivors), 30, "cluster_state:ok")
    cli_check(master_a)
    return migrant


def test_aikv_replica_migrates_to_orphaned_master(cluster_nodes: NodeFactory) -> None:  # noqa: F811
    masters, a_replicas, others = build(cluster_nodes, ["aikv"] * 3, ["aikv"] * 4)
    migrate_scenario(masters, a_replicas, others)
    assert_clean_logs([*masters, *a_replicas, others[1]])


def test_aikv_replica_migrates_among_redis_masters(cluster_nodes: NodeFactory) -> None:  # noqa: F811
    """redis-server masters; A's replicas are AiKv: an AiKv node takes the decision from
    redis-server's gossip and replicates a redis-server orphan."""
    masters, a_replicas, others = build(cluster_nodes, ["redis"] * 3, ["aikv", "aikv", "redis", "redis"])
    migrant = migrate_scenario(masters, a_replicas, others)
    assert migrant.kind == "aikv"
    assert_clean_logs(a_replicas)


def test_redis_replica_migrates_to_aikv_orphan(cluster_nodes: NodeFactory) -> None:  # noqa: F811
    """AiKv masters; A's replicas are redis-server: a redis-server replica finds the AiKv
    orphan from AiKv's gossip and replicates it; B's killed replica is AiKv."""
    masters, a_replicas, others = build(cluster_nodes, ["aikv"] * 3, ["redis", "redis", "aikv", "aikv"])
    migrant = migrate_scenario(masters, a_replicas, others)
    assert migrant.kind == "redis"
    assert_clean_logs(masters)
