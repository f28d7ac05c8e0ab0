"""Failure detection and the cluster_state verdict.

PFAIL is one node's private suspicion (a ping went unanswered for node_timeout). It becomes
FAIL, a cluster-wide fact, only when a majority of the slot-serving masters reported the
node as failing within a recent window: a single node behind a bad link must not be able
to convince the cluster that a healthy master is dead, and a majority is also what a
failover election needs, so the two decisions agree.
"""

from __future__ import annotations

from aikv.cluster import nodeflags as nf
from aikv.cluster.slots import CLUSTER_SLOTS
from aikv.cluster.state import ClusterState, NodeRecord

# A report is only as good as it is fresh: reports older than this multiple of the node
# timeout no longer count towards a majority.
FAIL_REPORT_VALIDITY_MULT = 2
# A master with slots that was FAIL gets its flag back only after this multiple of the node
# timeout: long enough for a replica to have been promoted in its place if one could be.
FAIL_UNDO_TIME_MULT = 2
# After a (re)start a master keeps reporting `fail` for this long, so its peers have time
# to tell it about configuration changes that happened while it was away before it
# accepts writes.
WRITABLE_DELAY_MS = 2000
# Bounds of the wait a master imposes on itself after having been in a minority partition
# before it declares the cluster ok again.
MIN_REJOIN_DELAY_MS = 500
MAX_REJOIN_DELAY_MS = 5000


def quorum(state: ClusterState) -> int:
    return state.size // 2 + 1


def add_failure_report(node: NodeRecord, reporter: NodeRecord, now_ms: int) -> bool:
    """Record (or refresh) `reporter` saying `node` is failing. True if it is new."""
    is_new = reporter.node_id not in node.fail_reports
    node.fail_reports[reporter.node_id] = now_ms
    return is_new


def del_failure_report(state: ClusterState, node: NodeRecord, reporter: NodeRecord, now_ms: int) -> bool:
    cleanup_failure_reports(state, node, now_ms)
    return node.fail_reports.pop(reporter.node_id, None) is not None


def cleanup_failure_reports(state: ClusterState, node: NodeRecord, now_ms: int) -> None:
    max_age = state.node_timeout * FAIL_REPORT_VALIDITY_MULT
    for reporter_id in [r for r, t in node.fail_reports.items() if now_ms - t > max_age]:
        del node.fail_reports[reporter_id]


def count_failure_reports(state: ClusterState, node: NodeRecord, now_ms: int) -> int:
    cleanup_failure_reports(state, node, now_ms)
    return len(node.fail_reports)


def mark_failing_if_needed(state: ClusterState, node: NodeRecord, now_ms: int) -> bool:
    """Promote PFAIL to FAIL when a majority of masters agree. Returns True when FAIL was
    just set: the caller must then broadcast a FAIL message, so that nodes which did not
    collect enough reports themselves converge at once."""
    if not node.has(nf.PFAIL) or node.has(nf.FAIL):
        return False
    failures = count_failure_reports(state, node, now_ms)
    # Our own suspicion counts as a vote when we are a master.
    if state.myself.is_master:
        failures += 1
    if failures < quorum(state):
        return False
    node.flags = (node.flags & ~nf.PFAIL) | nf.FAIL
    node.fail_time = now_ms
    state.mark_dirty(update_state=True)
    return True


def mark_failed_by_message(state: ClusterState, node: NodeRecord, now_ms: int) -> bool:
    """A FAIL message from a known node: trust it (the sender checked the majority)."""
    if node.has(nf.FAIL) or node.is_myself:
        return False
    node.flags = (node.flags & ~nf.PFAIL) | nf.FAIL
    node.fail_time = now_ms
    state.mark_dirty(update_state=True)
    return True


def clear_failure_if_needed(state: ClusterState, node: NodeRecord, now_ms: int) -> bool:
    """Called when a FAIL node answers us again. Nobody will announce the recovery, so each
    node clears the flag on its own, with care for masters that still hold slots."""
    if not node.has(nf.FAIL):
        return False
    if node.is_replica or node.num_slots == 0:
        node.flags &= ~nf.FAIL
        state.mark_dirty(update_state=True)
        return True
    if node.is_master and now_ms - node.fail_time > state.node_timeout * FAIL_UNDO_TIME_MULT:
        node.flags &= ~nf.FAIL
        state.mark_dirty(update_state=True)
        return True
    return False


def mark_pfail(node: NodeRecord) -> bool:
    if node.flags & (nf.PFAIL | nf.FAIL):
        return False
    node.flags |= nf.PFAIL
    return True


def clear_pfail(state: ClusterState, node: NodeRecord) -> bool:
    if not node.has(nf.PFAIL):
        return False
    node.flags &= ~nf.PFAIL
    state.state_eval_needed = True
    return True


def update_state(state: ClusterState, now_ms: int) -> bool:
    """Re-evaluate cluster_state (ok/fail) and `size`. Returns True if the state changed."""
    state.state_eval_needed = False
    myself = state.myself
    if state.first_eval_time == 0:
        state.first_eval_time = now_ms
    if myself.is_master and not state.state_ok and now_ms - state.first_eval_time < WRITABLE_DELAY_MS:
        return False

    new_ok = True
    if state.require_full_coverage:
        # Per node, not per slot: every node counts its slots, so coverage is "the
        # counts add up to 16384 and no owner is FAIL" (a 16384-slot scan costs ~1 ms
        # and this runs after every configuration change, several per slot in a reshard).
        assigned = 0
        for node in state.nodes.values():
            if node.num_slots:
                assigned += node.num_slots
                if node.flags & nf.FAIL:
                    new_ok = False
        if assigned < CLUSTER_SLOTS:
            new_ok = False

    size = 0
    reachable = 0
    for node in state.nodes.values():
        if node.is_master and node.num_slots:
            size += 1
            if not node.flags & (nf.FAIL | nf.PFAIL):
                reachable += 1
    state.size = size
    if reachable < size // 2 + 1:
        new_ok = False
        state.among_minority_time = now_ms

    if new_ok == state.state_ok:
        return False
    # A master that was just in a minority waits a bit before accepting writes again:
    # the majority side may be about to fail over its slots, and it should hear about it.
    rejoin_delay = min(max(state.node_timeout, MIN_REJOIN_DELAY_MS), MAX_REJOIN_DELAY_MS)
    if new_ok and myself.is_master and now_ms - state.among_minority_time < rejoin_delay:
        return False
    state.state_ok = new_ok
    return True


def slot_health_counts(state: ClusterState) -> tuple[int, int, int, int]:
    """(assigned, ok, pfail, fail) slot counts for CLUSTER INFO."""
    assigned = ok = pfail = fail = 0
    for node in state.nodes.values():
        n = node.num_slots
        if not n:
            continue
        assigned += n
        if node.flags & nf.FAIL:
            fail += n
        elif node.flags & nf.PFAIL:
            pfail += n
        else:
            ok += n
    return assigned, ok, pfail, fail
