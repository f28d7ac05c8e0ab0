"""Cluster state transitions: membership, slots, epochs (no sockets, no sleeps)."""

from __future__ import annotations

import itertools
import random

from aikv.cluster import nodeflags as nf
from aikv.cluster.epochs import (
    bump_epoch_without_consensus,
    first_stale_claim,
    handle_config_epoch_collision,
    max_epoch,
    observe_header_epochs,
    set_config_epoch,
    update_slots_config_with,
)
from aikv.cluster.state import (
    BLACKLIST_TTL_MS,
    SLOT_BITMAP_BYTES,
    ClusterState,
    NodeRecord,
    bitmap_ranges,
    bitmap_set,
    bitmap_slots,
    bitmap_test,
    slot_ranges,
)

A = "a" * 40
B = "b" * 40
C = "c" * 40


def make_state(myself: str = A, **kw: object) -> ClusterState:
    counter = itertools.count(1)
    return ClusterState(myself, id_factory=lambda: f"{next(counter):040x}", node_timeout=2000, **kw)  # type: ignore[arg-type]


def add_master(state: ClusterState, node_id: str, epoch: int = 0, slots: range | None = None) -> NodeRecord:
    node = NodeRecord(node_id, nf.MASTER, ip="127.0.0.1", port=7000, cport=17000, config_epoch=epoch)
    state.add_node(node)
    for slot in slots or ():
        state.add_slot(node, slot)
    return node


def bitmap_of(slots: range | list[int]) -> bytes:
    bm = bytearray(SLOT_BITMAP_BYTES)
    for s in slots:
        bitmap_set(bm, s)
    return bytes(bm)


def test_fresh_state_is_a_lone_master() -> None:
    st = make_state()
    assert st.myself.flags == nf.MYSELF | nf.MASTER
    assert st.known_node_count() == 1
    assert st.current_epoch == 0 and st.last_vote_epoch == 0
    assert not st.state_ok


def test_bitmap_bit_order_matches_the_bus() -> None:
    bm = bytearray(SLOT_BITMAP_BYTES)
    bitmap_set(bm, 0)
    bitmap_set(bm, 7)
    assert bm[0] == 0x81
    assert bitmap_of(range(5461, 10923))[682] == 0xE0
    assert bitmap_of(range(5461, 10923))[1365] == 0x07
    assert list(bitmap_slots(bitmap_of([3, 9, 16383]))) == [3, 9, 16383]
    assert bitmap_test(bm, 7) and not bitmap_test(bm, 6)


def test_slot_ranges_are_maximal() -> None:
    assert slot_ranges([0, 1, 2, 5, 7, 8]) == [(0, 2), (5, 5), (7, 8)]
    assert slot_ranges([]) == []


def test_bitmap_ranges_follow_the_bitmap_as_it_changes() -> None:
    # bitmap_ranges remembers recent answers by content: a bitmap changed in place must
    # get its new ranges, and a caller changing the returned list must not change the
    # next answer.
    rng = random.Random(5)
    bm = bytearray(SLOT_BITMAP_BYTES)
    for _ in range(300):
        for slot in rng.sample(range(16384), rng.choice([1, 5, 40])):
            bm[slot >> 3] ^= 1 << (slot & 7)
        expected = slot_ranges(bitmap_slots(bm))
        got = bitmap_ranges(bm)
        assert got == expected
        got.append((0, 0))
        assert bitmap_ranges(bm) == expected == bitmap_ranges(bytes(bm))
    assert bitmap_ranges(bytearray(SLOT_BITMAP_BYTES)) == []


def test_add_and_del_slot_keep_counts() -> None:
    st = make_state()
    assert st.add_slot(st.myself, 5)
    assert not st.add_slot(st.myself, 5)
    assert st.myself.num_slots == 1 and st.slot_owner[5] is st.myself
    assert st.del_slot(5) and not st.del_slot(5)
    assert st.myself.num_slots == 0 and st.slot_owner[5] is None


def test_handshake_node_is_unique_per_address() -> None:
    st = make_state()
    hs = st.create_handshake_node("127.0.0.1", 7002, 17002, now_ms=1000)
    assert hs is not None and hs.in_handshake and hs.has(nf.MEET)
    assert hs.ctime == 1000 and len(hs.node_id) == 40
    assert st.create_handshake_node("127.0.0.1", 7002, 17002, now_ms=1001) is None
    assert st.create_handshake_node("127.0.0.1", 7003, 17003, now_ms=1001) is not None
    assert st.known_node_count() == 3


def test_rename_keeps_slot_references_and_replica_links() -> None:
    st = make_state()
    hs = st.create_handshake_node("127.0.0.1", 7002, 17002, now_ms=0)
    assert hs is not None
    st.add_slot(hs, 10)
    rep = NodeRecord(C, nf.SLAVE, master_id=hs.node_id)
    st.add_node(rep)
    st.rename_node(hs, B)
    assert st.lookup(B) is hs and st.slot_owner[10] is hs
    assert rep.master_id == B


def test_del_node_drops_slots_marks_and_its_reports() -> None:
    st = make_state()
    b = add_master(st, B, slots=range(0, 10))
    c = add_master(st, C)
    st.migrating_to[100] = b
    st.importing_from[200] = b
    c.fail_reports[B] = 5
    st.del_node(b)
    assert st.lookup(B) is None
    assert all(st.slot_owner[s] is None for s in range(10))
    assert not st.migrating_to and not st.importing_from
    assert c.fail_reports == {}


def test_forget_blacklists_for_sixty_seconds() -> None:
    st = make_state()
    b = add_master(st, B)
    st.take_dirty()
    st.forget(b, now_ms=10_000)
    assert st.save_needed
    assert st.is_blacklisted(B, 10_000 + BLACKLIST_TTL_MS)
    assert not st.is_blacklisted(B, 10_001 + BLACKLIST_TTL_MS)


def test_replica_role_changes() -> None:
    st = make_state()
    b = add_master(st, B, slots=range(0, 3))
    c = add_master(st, C)
    st.set_node_as_replica(b, c)
    assert b.is_replica and not b.is_master and b.master_id == C
    assert b.num_slots == 0 and st.slot_owner[0] is None
    c.config_epoch = 7
    assert st.effective_config_epoch(b) == 7
    assert st.replicas_of(c) == [b]
    st.set_node_as_master(b)
    assert b.is_master and b.master_id is None


def test_take_dirty_reports_and_clears() -> None:
    st = make_state()
    st.mark_dirty()
    assert st.take_dirty() == (True, False)
    st.mark_dirty(fsync=True)
    assert st.take_dirty() == (True, True)
    assert st.take_dirty() == (False, False)


def test_reset_soft_keeps_identity_and_epochs() -> None:
    st = make_state()
    st.add_slot(st.myself, 1)
    add_master(st, B, slots=range(2, 4))
    st.current_epoch = 5
    st.myself.config_epoch = 3
    st.importing_from[9] = st.nodes[B]
    st.reset(hard=False, now_ms=0)
    assert list(st.nodes) == [A]
    assert st.assigned_slot_count() == 0 and not st.importing_from
    assert st.current_epoch == 5 and st.myself.config_epoch == 3
    assert st.fsync_needed
    assert not st.is_blacklisted(B, 0)


def test_reset_hard_zeroes_epochs_and_renames() -> None:
    st = make_state()
    st.current_epoch = 5
    st.last_vote_epoch = 4
    st.myself.config_epoch = 3
    st.reset(hard=True, now_ms=0)
    assert st.myself.node_id != A and st.lookup(st.myself.node_id) is st.myself
    assert (st.current_epoch, st.last_vote_epoch, st.myself.config_epoch) == (0, 0, 0)


def test_reset_turns_replica_into_master() -> None:
    st = make_state()
    b = add_master(st, B)
    st.set_node_as_replica(st.myself, b)
    st.reset(hard=False, now_ms=0)
    assert st.myself.is_master and st.myself.master_id is None


# --- epochs ------------------------------------------------------------------------------


def test_header_epochs_only_move_forward() -> None:
    st = make_state()
    b = add_master(st, B, epoch=2)
    observe_header_epochs(st, b, current_epoch=5, config_epoch=1)
    assert st.current_epoch == 5 and b.config_epoch == 2
    assert not st.save_needed  # a bigger currentEpoch alone is not saved
    observe_header_epochs(st, b, current_epoch=3, config_epoch=4)
    assert st.current_epoch == 5 and b.config_epoch == 4
    assert st.take_dirty() == (True, True)


def test_bump_epoch_when_not_unique_max() -> None:
    st = make_state()
    add_master(st, B, epoch=8)
    st.current_epoch = 8
    st.myself.config_epoch = 2
    assert bump_epoch_without_consensus(st)
    assert st.myself.config_epoch == 9 and st.current_epoch == 9
    assert st.fsync_needed
    # now we hold the maximum: STILL
    assert not bump_epoch_without_consensus(st)
    assert st.myself.config_epoch == 9


def test_bump_epoch_from_zero_always_bumps() -> None:
    st = make_state()
    assert max_epoch(st) == 0
    assert bump_epoch_without_consensus(st)
    assert st.myself.config_epoch == 1


def test_collision_smaller_id_moves() -> None:
    st = make_state(A)  # "aaa.." < "bbb.."
    b = add_master(st, B, epoch=3)
    st.myself.config_epoch = 3
    st.current_epoch = 3
    assert handle_config_epoch_collision(st, b)
    assert st.myself.config_epoch == 4 and st.current_epoch == 4
    assert st.fsync_needed


def test_collision_greater_id_stays() -> None:
    st = make_state(C)
    b = add_master(st, B, epoch=3)
    st.myself.config_epoch = 3
    st.current_epoch = 3
    assert not handle_config_epoch_collision(st, b)
    assert st.myself.config_epoch == 3


def test_collision_needs_equal_epochs_and_masters() -> None:
    st = make_state(A)
    b = add_master(st, B, epoch=2)
    st.myself.config_epoch = 3
    assert not handle_config_epoch_collision(st, b)
    b.config_epoch = 3
    b.flags = nf.SLAVE
    assert not handle_config_epoch_collision(st, b)


def test_set_config_epoch_raises_current() -> None:
    st = make_state()
    set_config_epoch(st, 3)
    assert st.myself.config_epoch == 3 and st.current_epoch == 3


# --- slot re-binding (clusterUpdateSlotsConfigWith semantics) --------------------------


def test_claim_of_unassigned_slots_binds_them() -> None:
    st = make_state()
    b = add_master(st, B, epoch=2)
    res = update_slots_config_with(st, b, 2, bitmap_of(range(5461, 10923)))
    assert res.changed
    assert b.num_slots == 5462 and st.slot_owner[5461] is b
    assert st.take_dirty() == (True, True)


def test_greater_epoch_steals_equal_does_not() -> None:
    st = make_state()
    b = add_master(st, B, epoch=2, slots=range(0, 10))
    c = add_master(st, C, epoch=2)
    res = update_slots_config_with(st, c, 2, bitmap_of([5]))
    assert not res.changed and st.slot_owner[5] is b
    res = update_slots_config_with(st, c, 3, bitmap_of([5]))
    assert res.changed and st.slot_owner[5] is c and b.num_slots == 9


def test_importing_slot_is_left_alone() -> None:
    st = make_state()
    b = add_master(st, B, epoch=1, slots=range(0, 10))
    c = add_master(st, C, epoch=5)
    st.importing_from[3] = b
    update_slots_config_with(st, c, 5, bitmap_of([3, 4]))
    assert st.slot_owner[3] is b and st.slot_owner[4] is c


def test_unclaimed_slot_can_be_taken_with_lower_epoch() -> None:
    st = make_state()
    b = add_master(st, B, epoch=9, slots=range(0, 2))
    c = add_master(st, C, epoch=1)
    # b's new bitmap no longer includes slot 1: stays bound but is marked not claimed
    update_slots_config_with(st, b, 9, bitmap_of([0]))
    assert st.slot_owner[1] is b and 1 in st.not_claiming
    assert not bitmap_test(st.update_bitmap_for(b), 1) and bitmap_test(st.update_bitmap_for(b), 0)
    update_slots_config_with(st, c, 1, bitmap_of([1]))
    assert st.slot_owner[1] is c and 1 not in st.not_claiming


def test_losing_keys_slot_reports_dirty_slot() -> None:
    st = make_state()
    st.add_slot(st.myself, 0)
    st.add_slot(st.myself, 1)
    st.myself.config_epoch = 1
    b = add_master(st, B, epoch=2)
    res = update_slots_config_with(st, b, 2, bitmap_of([0]), has_keys_in_slot=lambda s: s == 0)
    assert res.dirty_slots == [0] and res.new_master is None
    assert st.myself.is_master


def test_losing_all_slots_makes_us_a_replica() -> None:
    st = make_state()
    st.add_slot(st.myself, 0)
    st.myself.config_epoch = 1
    b = add_master(st, B, epoch=2)
    res = update_slots_config_with(st, b, 2, bitmap_of([0]), has_keys_in_slot=lambda s: True)
    assert res.new_master is b and res.dirty_slots == []
    assert st.myself.is_replica and st.myself.master_id == B


def test_losing_all_slots_without_replica_migration_stays_master() -> None:
    st = make_state(allow_replica_migration=False)
    st.add_slot(st.myself, 0)
    st.myself.config_epoch = 1
    b = add_master(st, B, epoch=2, slots=range(5, 6))
    res = update_slots_config_with(st, b, 2, bitmap_of([0, 5]))
    assert res.new_master is None and st.myself.is_master


def test_claim_by_myself_is_ignored() -> None:
    st = make_state()
    res = update_slots_config_with(st, st.myself, 100, bitmap_of([1]))
    assert not res.changed


def test_stale_claim_detection() -> None:
    st = make_state()
    b = add_master(st, B, epoch=2, slots=range(0, 10))
    c = add_master(st, C, epoch=5, slots=range(10, 20))
    assert first_stale_claim(st, b, 2, bitmap_of(range(0, 11))) is c
    assert first_stale_claim(st, b, 2, bitmap_of(range(0, 10))) is None
    assert first_stale_claim(st, c, 5, bitmap_of([0])) is None  # c's epoch is higher
