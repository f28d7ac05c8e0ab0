"""Replica migration, as Redis 7.0.15 does it: the MIGRATE_TO bookkeeping of the cluster
state (clusterNodeAddSlave / RemoveSlave, clusterSetNodeAsMaster, clusterNodeSetSlotBit,
the nodes.conf loader), the pure decision of aikv/cluster/migration.py
(clusterCron's pre-check and clusterHandleSlaveMigration) on constructed cluster states,
and the bus engine's cron carrying it out. Time is always passed in."""

from __future__ import annotations

import random

from aikv.bus.gossip import Gossip
from aikv.cluster import failure, migration
from aikv.cluster import nodeflags as nf
from aikv.cluster.announce import Announce, gossip_entries, my_header
from aikv.cluster.confmodel import from_nodes_conf, nodes_conf_text
from aikv.cluster.migration import MIGRATION_DELAY_MS
from aikv.cluster.state import ClusterState, NodeRecord
from aikv.persist.nodesconf import parse_nodes_conf

TIMEOUT = 2000
NOW = 10_000_000
A, B, C = "a" * 40, "b" * 40, "c" * 40  # masters
R1, R2 = "1" * 40, "2" * 40  # replicas of A
RB, RC = "5" * 40, "6" * 40  # the replicas of B and C
THIRDS = {A: (0, 5460), B: (5461, 10922), C: (10923, 16383)}


def build(myself_id: str = R1, *, extra: dict[str, str] | None = None, barrier: int = 1) -> ClusterState:
    """Masters A, B, C (a third of the slots each), A with replicas R1 and R2, B with RB,
    C with RC (plus `extra`: replica id -> master id), seen from `myself_id`. The
    replicas attach the way gossip attaches them, so masters get MIGRATE_TO as in Redis."""
    st = ClusterState(myself_id, node_timeout=TIMEOUT, migration_barrier=barrier)
    replicas = {R1: A, R2: A, RB: B, RC: C, **(extra or {})}
    for node_id in [A, B, C, *replicas]:
        node = st.lookup(node_id)
        if node is None:
            node = NodeRecord(node_id, nf.MASTER, ip="127.0.0.1", port=7000)
            st.add_node(node)
        else:
            node.flags |= nf.MASTER
    for node_id, (lo, hi) in THIRDS.items():
        for slot in range(lo, hi + 1):
            st.add_slot(st.nodes[node_id], slot)
    for node_id, master_id in replicas.items():
        st.set_node_as_replica(st.nodes[node_id], st.nodes[master_id])
    st.current_epoch = 3
    failure.update_state(st, NOW)
    st.state_ok = True  # as if the rejoin delay had passed
    st.take_dirty()
    return st


def orphan_b(st: ClusterState) -> None:
    st.nodes[RB].flags |= nf.FAIL


def decide_after_delay(st: ClusterState) -> migration.Decision:
    """The first pass starts the orphan's clock; the one after the delay decides."""
    first = migration.decide(st, NOW)
    if first.target is not None:
        return first
    return migration.decide(st, NOW + MIGRATION_DELAY_MS + 1)


# --- MIGRATE_TO bookkeeping ----------------------------------------------------------------


def test_masters_with_replicas_carry_migrate_to() -> None:
    st = build()
    for master in (A, B, C):
        assert st.nodes[master].has(nf.MIGRATE_TO)
    for replica in (R1, R2, RB, RC):
        assert not st.nodes[replica].has(nf.MIGRATE_TO)


def test_first_slot_flags_a_master_only_if_some_master_has_replicas() -> None:
    st = ClusterState(A, node_timeout=TIMEOUT)
    st.add_node(NodeRecord(B, nf.MASTER))
    st.add_slot(st.myself, 0)
    assert not st.myself.has(nf.MIGRATE_TO)  # slot-less cluster without replicas
    st.add_node(NodeRecord(R1, nf.SLAVE, master_id=A))
    st.add_slot(st.nodes[B], 1)
    assert st.nodes[B].has(nf.MIGRATE_TO)
    st.add_slot(st.nodes[B], 2)  # only the first slot counts; nothing changes


def test_last_replica_leaving_clears_migrate_to() -> None:
    st = build(A)
    # R1 follows B now: A keeps R2 and its flag.
    st.set_node_as_replica(st.nodes[R1], st.nodes[B])
    assert st.myself.has(nf.MIGRATE_TO)
    # R2 is forgotten: A has no replica left.
    st.forget(st.nodes[R2], NOW)
    assert not st.myself.has(nf.MIGRATE_TO)
    # C's only replica turns master (clusterSetNodeAsMaster): C loses the flag, the new
    # master, which failed over a master with replicas, gets it.
    st.set_node_as_master(st.nodes[RC])
    assert not st.nodes[C].has(nf.MIGRATE_TO)
    assert st.nodes[RC].has(nf.MIGRATE_TO)


def test_myself_promoted_does_not_flag_itself_but_its_first_slot_may() -> None:
    st = build(R1)
    st.set_node_as_master(st.myself)
    assert not st.myself.has(nf.MIGRATE_TO)
    st.bind_slot(0, st.myself)  # replace_master binds the old master's slots
    assert st.myself.has(nf.MIGRATE_TO)


def test_turning_replica_clears_migrate_to() -> None:
    st = build(R1)
    st.set_node_as_replica(st.nodes[B], st.nodes[C])
    assert not st.nodes[B].has(nf.MIGRATE_TO)
    assert st.nodes[B].is_replica


def test_migrate_to_is_on_the_wire_but_never_in_nodes_conf() -> None:
    st = build(A)
    header = my_header(st, Announce())
    assert header.flags == nf.MYSELF | nf.MASTER | nf.MIGRATE_TO  # real traffic: 273
    entries = {e.node_id: e.flags for e in gossip_entries(st, random.Random(1), 10)}
    assert entries[B] & nf.MIGRATE_TO
    text = nodes_conf_text(st)
    assert "migrate" not in text
    # Loading the file flags masters that have replicas again (clusterLoadConfig).
    loaded = from_nodes_conf(parse_nodes_conf(text), now_ms=NOW, node_timeout=TIMEOUT)
    for master in (A, B, C):
        assert loaded.nodes[master].has(nf.MIGRATE_TO)
    assert not loaded.nodes[R1].has(nf.MIGRATE_TO)


# --- the decision ----------------------------------------------------------------------


def test_smallest_replica_of_the_best_served_master_migrates_after_the_delay() -> None:
    st = build(R1)
    orphan_b(st)
    first = migration.decide(st, NOW)
    assert first.target is None and first.reason == migration.TOO_EARLY
    assert st.nodes[B].orphaned_time == NOW
    assert migration.decide(st, NOW + MIGRATION_DELAY_MS).reason == migration.TOO_EARLY
    decision = migration.decide(st, NOW + MIGRATION_DELAY_MS + 1)
    assert decision.target is st.nodes[B]
    assert st.nodes[B].orphaned_time == NOW  # the clock runs from the first sighting
    migration.migrate_to(st, st.nodes[B])
    assert st.myself.master_id == B
    assert st.take_dirty() == (True, False)
    assert st.nodes[B].has(nf.MIGRATE_TO) and st.nodes[A].has(nf.MIGRATE_TO)
    # Afterwards nobody is orphaned and nothing more happens.
    assert migration.decide(st, NOW + 2 * MIGRATION_DELAY_MS).reason == migration.NO_ORPHAN


def test_no_orphan_no_migration() -> None:
    st = build(R1)
    assert migration.decide(st, NOW).reason == migration.NO_ORPHAN
    # A PFAIL replica still counts as working.
    st.nodes[RB].flags |= nf.PFAIL
    assert migration.decide(st, NOW).reason == migration.NO_ORPHAN


def test_orphan_without_migrate_to_is_not_a_target() -> None:
    st = build(R1)
    orphan_b(st)
    st.nodes[B].flags &= ~nf.MIGRATE_TO
    assert migration.decide(st, NOW + 10 * MIGRATION_DELAY_MS).reason == migration.NO_ORPHAN


def test_failed_or_slotless_orphan_is_not_a_target() -> None:
    st = build(R1)
    orphan_b(st)
    st.nodes[B].flags |= nf.FAIL
    assert migration.decide(st, NOW).reason == migration.NO_ORPHAN
    st = build(R1)
    orphan_b(st)
    st.del_node_slots(st.nodes[B])
    st.state_ok = True
    assert migration.decide(st, NOW).reason == migration.NO_ORPHAN


def test_barrier() -> None:
    st = build(R1, barrier=2)
    orphan_b(st)
    assert decide_after_delay(st).reason == migration.BARRIER
    # With a third replica A keeps two: R1 (the smallest id) may go.
    st = build(R1, extra={"3" * 40: A}, barrier=2)
    orphan_b(st)
    assert decide_after_delay(st).target is st.nodes[B]
    # Barrier 0 still needs a master with two working replicas somewhere.
    st = build(R1, barrier=0)
    st.forget(st.nodes[R2], NOW)
    orphan_b(st)
    assert decide_after_delay(st).reason == migration.NO_SPARE


def test_pfail_sibling_counts_against_the_barrier() -> None:
    st = build(R1)
    orphan_b(st)
    st.nodes[R2].flags |= nf.PFAIL
    assert decide_after_delay(st).reason == migration.BARRIER


def test_only_the_smallest_id_is_the_candidate() -> None:
    st = build(R2)
    orphan_b(st)
    assert decide_after_delay(st).reason == migration.NOT_CANDIDATE


def test_a_failing_smaller_replica_still_blocks_the_candidate() -> None:
    # A has R1 (FAIL), R2 and R3: two working replicas, but R1 is still the candidate.
    r3 = "3" * 40
    st = build(R2, extra={r3: A})
    orphan_b(st)
    st.nodes[R1].flags |= nf.FAIL
    assert decide_after_delay(st).reason == migration.NOT_CANDIDATE


def test_candidate_is_chosen_among_all_best_served_masters() -> None:
    # C has two working replicas too, one with a smaller id than R1.
    r0 = "0" * 40
    st = build(R1, extra={r0: C})
    orphan_b(st)
    assert decide_after_delay(st).reason == migration.NOT_CANDIDATE
    st = build(r0, extra={r0: C})
    orphan_b(st)
    assert decide_after_delay(st).target is st.nodes[B]


def test_replica_of_a_less_served_master_does_not_move() -> None:
    st = build(RC)
    orphan_b(st)
    assert decide_after_delay(st).reason == migration.NOT_BEST_SERVED


def test_allow_replica_migration_off() -> None:
    st = build(R1)
    st.allow_replica_migration = False
    orphan_b(st)
    assert decide_after_delay(st).reason == migration.NOT_ALLOWED


def test_cluster_state_fail() -> None:
    st = build(R1)
    orphan_b(st)
    st.state_ok = False
    assert decide_after_delay(st).reason == migration.CLUSTER_DOWN


def test_masters_do_not_migrate() -> None:
    st = build(A)
    orphan_b(st)
    assert decide_after_delay(st).reason == migration.NOT_A_REPLICA


def test_orphan_clock_restarts_when_the_orphan_recovers() -> None:
    st = build(R1)
    orphan_b(st)
    migration.decide(st, NOW)
    assert st.nodes[B].orphaned_time == NOW
    st.nodes[RB].flags &= ~nf.FAIL
    # No orphan: the pre-check stops before the clocks are looked at (Redis's quirk).
    assert migration.decide(st, NOW + 100).reason == migration.NO_ORPHAN
    assert st.nodes[B].orphaned_time == NOW
    # With C orphaned the full pass runs and resets B's clock, starting C's.
    st.nodes[RC].flags |= nf.FAIL
    assert migration.decide(st, NOW + 200).reason == migration.TOO_EARLY
    assert st.nodes[B].orphaned_time == 0
    assert st.nodes[C].orphaned_time == NOW + 200
    decision = migration.decide(st, NOW + 200 + MIGRATION_DELAY_MS + 1)
    assert decision.target is st.nodes[C]


# --- the engine's cron -------------------------------------------------------------------


def test_engine_cron_migrates_and_keeps_the_manual_failover_state_clean() -> None:
    st = build(R1)
    engine = Gossip(st, Announce(), rng=random.Random(7))
    orphan_b(st)
    engine.tick(NOW)
    assert st.myself.master_id == A
    engine.failover.state.mf_end = NOW + 100_000  # a manual failover in progress
    engine.tick(NOW + MIGRATION_DELAY_MS + 100)
    assert st.myself.master_id == B and st.myself.is_replica
    assert engine.failover.state.mf_end == 0
    assert st.save_needed
    assert my_header(st, Announce()).slaveof == B
