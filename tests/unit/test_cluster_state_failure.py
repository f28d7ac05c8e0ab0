"""Failure reports, PFAIL -> FAIL, clearing, and cluster_state evaluation."""

from __future__ import annotations

from aikv.cluster import nodeflags as nf
from aikv.cluster.failure import (
    WRITABLE_DELAY_MS,
    add_failure_report,
    clear_failure_if_needed,
    clear_pfail,
    count_failure_reports,
    del_failure_report,
    mark_failed_by_message,
    mark_failing_if_needed,
    mark_pfail,
    slot_health_counts,
    update_state,
)
from aikv.cluster.state import ClusterState, NodeRecord

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)
TIMEOUT = 2000


def three_masters() -> tuple[ClusterState, NodeRecord, NodeRecord]:
    st = ClusterState(A, node_timeout=TIMEOUT)
    for s in range(0, 5461):
        st.add_slot(st.myself, s)
    b = NodeRecord(B, nf.MASTER)
    c = NodeRecord(C, nf.MASTER)
    st.add_node(b)
    st.add_node(c)
    for s in range(5461, 10923):
        st.add_slot(b, s)
    for s in range(10923, 16384):
        st.add_slot(c, s)
    return st, b, c


def settled(st: ClusterState, now: int = 10_000) -> int:
    """Run the state evaluation past the start-up delay; returns the time used."""
    st.first_eval_time = 1
    update_state(st, now)
    return now


def test_reports_expire_after_twice_node_timeout() -> None:
    st, b, c = three_masters()
    assert add_failure_report(c, b, 1000)
    assert not add_failure_report(c, b, 1500)  # refresh, not new
    assert count_failure_reports(st, c, 1500 + 2 * TIMEOUT) == 1
    assert count_failure_reports(st, c, 1501 + 2 * TIMEOUT) == 0


def test_del_failure_report() -> None:
    st, b, c = three_masters()
    add_failure_report(c, b, 1000)
    assert del_failure_report(st, c, b, 1000)
    assert not del_failure_report(st, c, b, 1000)


def test_pfail_to_fail_needs_majority_of_masters() -> None:
    st, b, c = three_masters()
    settled(st)
    assert st.size == 3
    # Not PFAIL locally: a report alone never makes FAIL.
    add_failure_report(c, b, 20_000)
    assert not mark_failing_if_needed(st, c, 20_000)
    assert mark_pfail(c) and not mark_pfail(c)
    # Our own vote (master) + b's report = 2 >= 3//2+1.
    assert mark_failing_if_needed(st, c, 20_000)
    assert c.has(nf.FAIL) and not c.has(nf.PFAIL) and c.fail_time == 20_000
    assert st.save_needed
    assert not mark_failing_if_needed(st, c, 20_001)


def test_pfail_alone_is_not_enough() -> None:
    st, b, c = three_masters()
    settled(st)
    mark_pfail(c)
    assert not mark_failing_if_needed(st, c, 20_000)


def test_replica_does_not_vote_itself() -> None:
    st, b, c = three_masters()
    d = NodeRecord(D, nf.MASTER)
    st.add_node(d)
    for s in range(0, 100):
        st.del_slot(s)
        st.add_slot(d, s)
    # make myself a replica of d: 3 masters with slots remain (b, c, d) -> quorum 2
    for s in range(100, 5461):
        st.del_slot(s)
        st.add_slot(d, s)
    st.set_node_as_replica(st.myself, d)
    settled(st)
    assert st.size == 3
    mark_pfail(c)
    add_failure_report(c, b, 20_000)
    assert not mark_failing_if_needed(st, c, 20_000)
    add_failure_report(c, d, 20_000)
    assert mark_failing_if_needed(st, c, 20_000)


def test_fail_message_sets_fail_but_never_on_myself() -> None:
    st, b, c = three_masters()
    assert mark_failed_by_message(st, c, 5)
    assert not mark_failed_by_message(st, c, 6)
    assert not mark_failed_by_message(st, st.myself, 6)


def test_clear_fail_master_with_slots_waits() -> None:
    st, b, c = three_masters()
    mark_failed_by_message(st, c, 1000)
    assert not clear_failure_if_needed(st, c, 1000 + 2 * TIMEOUT)
    assert clear_failure_if_needed(st, c, 1001 + 2 * TIMEOUT)
    assert not c.has(nf.FAIL)


def test_clear_fail_slotless_master_at_once() -> None:
    st, b, c = three_masters()
    empty = NodeRecord(D, nf.MASTER)
    st.add_node(empty)
    mark_failed_by_message(st, empty, 1000)
    assert clear_failure_if_needed(st, empty, 1001)


def test_clear_pfail() -> None:
    st, b, c = three_masters()
    mark_pfail(c)
    assert clear_pfail(st, c) and not clear_pfail(st, c)


def test_state_waits_writable_delay_after_start() -> None:
    st, b, c = three_masters()
    assert not update_state(st, 1000)
    assert not st.state_ok
    assert not update_state(st, 1000 + WRITABLE_DELAY_MS - 1)
    assert update_state(st, 1000 + WRITABLE_DELAY_MS)
    assert st.state_ok


def test_full_coverage_required_by_default() -> None:
    st, b, c = three_masters()
    st.del_slot(16383)
    settled(st)
    assert not st.state_ok
    st.require_full_coverage = False
    update_state(st, 20_000)
    assert st.state_ok


def test_failed_owner_makes_state_fail_and_counts() -> None:
    st, b, c = three_masters()
    settled(st)
    assert st.state_ok
    mark_failed_by_message(st, c, 11_000)
    update_state(st, 11_000)
    assert not st.state_ok
    assert slot_health_counts(st) == (16384, 10923, 0, 5461)


def test_minority_and_rejoin_delay() -> None:
    st, b, c = three_masters()
    settled(st)
    mark_pfail(b)
    mark_pfail(c)
    update_state(st, 11_000)
    assert not st.state_ok and st.among_minority_time == 11_000
    clear_pfail(st, b)
    clear_pfail(st, c)
    # rejoin delay = clamp(node_timeout, 500, 5000) = 2000
    update_state(st, 12_999)
    assert not st.state_ok
    update_state(st, 13_000)
    assert st.state_ok


def test_pfail_slots_counted() -> None:
    st, b, c = three_masters()
    mark_pfail(b)
    assert slot_health_counts(st) == (16384, 16384 - 5462, 5462, 0)
