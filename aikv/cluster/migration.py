"""Replica migration: a replica moves to an orphaned master (Redis 7.0.15 rules).

Pure decision over `ClusterState`, with time passed in; the bus engine's cron
(`aikv/bus/failover.py`) calls it on replicas and carries out the move.

Why: a master left without a working replica loses its slots for good if it fails
next. When another master has replicas to spare, the replica with the smallest node id
among the best-served masters' replicas re-attaches itself to the orphan. The rules, as
clusterCron and clusterHandleSlaveMigration apply them:

  * an orphan is a master that is not FAIL, serves slots, has no replica that is not
    FAIL, and carries MIGRATE_TO (it is supposed to have replicas: see
    `ClusterState`'s role methods for when the flag is set);
  * only a replica considers moving, and only while: there is an orphan, some master has
    at least two working replicas, our master has as many working replicas as the best
    served master, and cluster-allow-replica-migration is yes;
  * then: the cluster state is ok; our master keeps more than cluster-migration-barrier
    replicas that are neither FAIL nor PFAIL; among the replicas of every master with
    that maximum of working replicas (failing ones included), ours is the smallest id;
  * and the orphan has looked orphaned for more than MIGRATION_DELAY_MS, so that during
    a failover the winner's own replicas have time to announce their new master.

A quirk kept from Redis: a master's `orphaned_time` is only updated while the second
stage runs, so it can survive a period when the stage was skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from aikv.cluster import nodeflags as nf
from aikv.cluster.state import ClusterState, NodeRecord

# CLUSTER_SLAVE_MIGRATION_DELAY: a fixed delay, not derived from the node timeout.
MIGRATION_DELAY_MS = 5000

# Why no migration happens (for tests and debugging; Redis logs none of these).
NOT_A_REPLICA = "not a replica"
NO_ORPHAN = "no orphaned master"
NO_SPARE = "no master with two working replicas"
NOT_BEST_SERVED = "my master is not among those with the most working replicas"
NOT_ALLOWED = "cluster-allow-replica-migration is no"
CLUSTER_DOWN = "cluster state is not ok"
NO_MASTER = "my master is unknown"
BARRIER = "my master would be left with too few replicas"
NO_TARGET = "no orphaned master serving slots"
NOT_CANDIDATE = "another replica is the candidate"
TOO_EARLY = "orphaned for less than the migration delay"


@dataclass
class Decision:
    target: NodeRecord | None  # the orphan to replicate now, or None
    reason: str = ""  # why not, when target is None


def _replicas_by_master(state: ClusterState) -> dict[str, list[NodeRecord]]:
    """Each master's replica list (Redis's node->slaves), built once per pass: the
    pass looks at every master, and ClusterState.replicas_of is a scan per call."""
    result: dict[str, list[NodeRecord]] = {}
    for node in state.nodes.values():
        if node.is_replica and node.master_id is not None:
            result.setdefault(node.master_id, []).append(node)
    return result


def _working(replicas: list[NodeRecord]) -> int:
    """clusterCountNonFailingSlaves: PFAIL still counts as working."""
    return sum(1 for r in replicas if not r.has(nf.FAIL))


def decide(state: ClusterState, now_ms: int) -> Decision:
    """Whether this node should now become a replica of an orphaned master. Updates the
    masters' `orphaned_time` as Redis does; changes nothing else."""
    myself = state.myself
    if not myself.is_replica:
        return Decision(None, NOT_A_REPLICA)
    replicas = _replicas_by_master(state)

    # clusterCron's cheap pre-check, over the nodes it pings (not myself, handshakes or
    # nodes without an address).
    orphans = 0
    max_working = 0
    mine_working = 0
    for node in state.nodes.values():
        if node.flags & (nf.MYSELF | nf.NOADDR | nf.HANDSHAKE):
            continue
        if not node.is_master or node.has(nf.FAIL):
            continue
        working = _working(replicas.get(node.node_id, []))
        if working == 0 and node.num_slots > 0 and node.has(nf.MIGRATE_TO):
            orphans += 1
        max_working = max(max_working, working)
        if myself.master_id == node.node_id:
            mine_working = working
    if not orphans:
        return Decision(None, NO_ORPHAN)
    if max_working < 2:
        return Decision(None, NO_SPARE)
    if mine_working != max_working:
        return Decision(None, NOT_BEST_SERVED)
    if not state.allow_replica_migration:
        return Decision(None, NOT_ALLOWED)
    return _handle_migration(state, max_working, replicas, now_ms)


def _handle_migration(
    state: ClusterState, max_working: int, replicas: dict[str, list[NodeRecord]], now_ms: int
) -> Decision:
    """clusterHandleSlaveMigration."""
    myself = state.myself
    if not state.state_ok:
        return Decision(None, CLUSTER_DOWN)
    my_master = state.master_of(myself)
    if my_master is None:
        return Decision(None, NO_MASTER)
    # Here a PFAIL sibling does not count: it may be gone, and we must not leave our
    # master below the barrier.
    healthy = sum(1 for r in replicas.get(my_master.node_id, []) if not r.flags & (nf.FAIL | nf.PFAIL))
    if healthy <= state.migration_barrier:
        return Decision(None, BARRIER)

    target: NodeRecord | None = None
    candidate = myself
    for node in state.nodes.values():
        node_replicas = replicas.get(node.node_id, [])
        working = _working(node_replicas) if node.is_master else 0
        orphaned = (
            not node.is_replica
            and not node.has(nf.FAIL)
            and node.has(nf.MIGRATE_TO)
            and working == 0
        )
        if orphaned:
            if target is None and node.num_slots > 0:
                target = node
            if not node.orphaned_time:
                node.orphaned_time = now_ms
        else:
            node.orphaned_time = 0
        # The candidate: the smallest id among all replicas (failing ones too) of the
        # masters with the most working replicas.
        if working == max_working:
            for replica in node_replicas:
                if replica.node_id < candidate.node_id:
                    candidate = replica

    if target is None:
        return Decision(None, NO_TARGET)
    if candidate is not myself:
        return Decision(None, NOT_CANDIDATE)
    if now_ms - target.orphaned_time <= MIGRATION_DELAY_MS:
        return Decision(None, TOO_EARLY)
    return Decision(target)


def migrate_to(state: ClusterState, target: NodeRecord) -> None:
    """clusterSetMaster for a replica: follow `target` instead of our master (the caller
    points the replication link at it). Redis does not save nodes.conf for this move
    until some later change does; AiKv saves it at once, as for CLUSTER REPLICATE."""
    state.set_node_as_replica(state.myself, target)
    state.mark_dirty(update_state=True)


__all__ = [
    "MIGRATION_DELAY_MS",
    "Decision",
    "decide",
    "migrate_to",
]
