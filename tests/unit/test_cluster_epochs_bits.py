"""The integer-bitmap slot update equals a slot-by-slot walk of the same rules."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from aikv.cluster import epochs
from aikv.cluster import nodeflags as nf
from aikv.cluster.slots import CLUSTER_SLOTS
from aikv.cluster.state import ClusterState, NodeRecord

IDS = [f"{i:040x}" for i in range(1, 5)]


def reference_update(state: ClusterState, sender: NodeRecord, sender_epoch: int,
                     claimed: bytes) -> bool:
    """Per-slot version of the rules (how the code first read), without the
    replica-migration and dirty-key parts, which the scenarios below do not reach."""
    changed = False
    for slot in range(CLUSTER_SLOTS):
        owner = state.slot_owner[slot]
        if claimed[slot >> 3] >> (slot & 7) & 1:
            if owner is sender:
                state.not_claiming.discard(slot)
                continue
            if slot in state.importing_from:
                continue
            if state.slot_unclaimed(slot) or (owner is not None and owner.config_epoch < sender_epoch):
                state.bind_slot(slot, sender)
                changed = True
        elif owner is sender:
            state.not_claiming.add(slot)
    return changed


def build(seed: int) -> tuple[ClusterState, list[NodeRecord]]:
    rng = random.Random(seed)
    state = ClusterState(IDS[0], node_timeout=2000)
    state.myself.config_epoch = 1
    others = []
    for i, node_id in enumerate(IDS[1:], start=2):
        node = NodeRecord(node_id, nf.MASTER, config_epoch=i)
        state.add_node(node)
        others.append(node)
    everyone = [state.myself, *others]
    for slot in range(0, CLUSTER_SLOTS, rng.choice([1, 3, 7])):
        owner = rng.choice([*everyone, None])
        if owner is not None:
            state.bind_slot(slot, owner)
    for slot in rng.sample(range(CLUSTER_SLOTS), 20):
        if state.slot_owner[slot] is not None:
            state.not_claiming.add(slot)
    for slot in rng.sample(range(CLUSTER_SLOTS), 10):
        state.importing_from[slot] = others[0]
    return state, others


def snapshot(state: ClusterState) -> tuple[object, ...]:
    return (tuple(o.node_id if o else None for o in state.slot_owner),
            frozenset(state.not_claiming),
            tuple(sorted((n.node_id, bytes(n.slots), n.num_slots) for n in state.nodes.values())))


def claim_bitmap(rng: random.Random, state: ClusterState, sender: NodeRecord) -> bytes:
    bits = bytearray(sender.slots)
    for _ in range(rng.randrange(0, 200)):
        slot = rng.randrange(CLUSTER_SLOTS)
        bits[slot >> 3] ^= 1 << (slot & 7)
    return bytes(bits)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=6))
def test_matches_reference(seed: int, sender_epoch: int) -> None:
    rng = random.Random(seed)
    fast_state, fast_others = build(seed)
    ref_state, ref_others = build(seed)
    index = rng.randrange(len(fast_others))
    claimed = claim_bitmap(rng, fast_state, fast_others[index])
    result = epochs.update_slots_config_with(fast_state, fast_others[index], sender_epoch, claimed)
    changed = reference_update(ref_state, ref_others[index], sender_epoch, claimed)
    assert result.changed == changed
    assert snapshot(fast_state) == snapshot(ref_state)
    stale = epochs.first_stale_claim(fast_state, fast_others[index], sender_epoch, claimed)
    if stale is not None:
        assert stale.config_epoch > sender_epoch


def test_iter_set_bits() -> None:
    assert list(epochs.iter_set_bits(0)) == []
    assert list(epochs.iter_set_bits(0b1011)) == [0, 1, 3]
    assert list(epochs.iter_set_bits(1 << 16383)) == [16383]
    assert epochs.slots_claimed_count(b"\xff\x01" + bytes(2046)) == 9
