"""Epochs and who owns a slot.

currentEpoch is the cluster's logical clock; each master's configEpoch is the version of
its claim on its slots. When two masters claim the same slot, the greater configEpoch wins
everywhere, which is why a node that takes a slot outside a failover (the end of a
migration, CLUSTER BUMPEPOCH) must first move to an epoch nobody else has, and why two
masters must never keep the same configEpoch (collision handling below).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aikv.cluster.state import ClusterState, NodeRecord


def max_epoch(state: ClusterState) -> int:
    """The greatest epoch we know of: any node's configEpoch or our currentEpoch."""
    best = state.current_epoch
    for node in state.nodes.values():
        if node.config_epoch > best:
            best = node.config_epoch
    return best


def observe_header_epochs(state: ClusterState, sender: NodeRecord, current_epoch: int, config_epoch: int) -> None:
    """Epochs from the header of a known node's message. A raised currentEpoch alone is
    not worth a save (it will be written with the next real change); a raised configEpoch
    changes who wins slot conflicts, so it is saved and fsynced."""
    if current_epoch > state.current_epoch:
        state.current_epoch = current_epoch
    if config_epoch > sender.config_epoch:
        sender.config_epoch = config_epoch
        state.mark_dirty(fsync=True, update_state=True)


def bump_epoch_without_consensus(state: ClusterState) -> bool:
    """Give ourselves a fresh configEpoch (greater than every one we know) unless ours is
    already the unique maximum. Used when we take slots by decree (end of an import,
    BUMPEPOCH): the new epoch makes our claim beat the old owner's everywhere. Without a
    vote two nodes could in theory pick the same number; collision handling resolves it."""
    myself = state.myself
    if myself.config_epoch == 0 or myself.config_epoch != max_epoch(state):
        state.current_epoch += 1
        myself.config_epoch = state.current_epoch
        state.mark_dirty(fsync=True, update_state=True)
        return True
    return False


def handle_config_epoch_collision(state: ClusterState, sender: NodeRecord) -> bool:
    """Two masters with the same configEpoch would make slot conflicts between them
    undecidable. The one with the lexicographically smaller id moves to a new epoch; the
    other keeps its own, so exactly one of the two acts and the pair ends up different."""
    myself = state.myself
    if sender.config_epoch != myself.config_epoch or not sender.is_master or not myself.is_master:
        return False
    if sender.node_id <= myself.node_id:
        return False
    state.current_epoch += 1
    myself.config_epoch = state.current_epoch
    # Redis writes this one synchronously; we raise both flags and the runtime saves
    # before anything else leaves the event loop.
    state.mark_dirty(fsync=True, update_state=True)
    return True


def set_config_epoch(state: ClusterState, epoch: int) -> None:
    state.myself.config_epoch = epoch
    if state.current_epoch < epoch:
        state.current_epoch = epoch
    state.mark_dirty(fsync=True, update_state=True)


@dataclass
class SlotUpdateResult:
    """What the caller must do after a slot re-binding."""

    changed: bool = False
    # Slots that were ours, still hold keys here, and now belong to someone else: their
    # keys are stale and must be deleted (unless we became a replica, see below).
    dirty_slots: list[int] = field(default_factory=list)
    # Set when we (or our master) lost every slot to one node and followed it as replica.
    new_master: NodeRecord | None = None


def update_slots_config_with(
    state: ClusterState,
    sender: NodeRecord,
    sender_epoch: int,
    claimed: bytes,
    *,
    has_keys_in_slot: Callable[[int], bool] | None = None,
) -> SlotUpdateResult:
    """Apply `sender`'s claim (`claimed`, a slot bitmap) made at `sender_epoch`.

    A claimed slot moves to the sender only if it is unassigned, no longer claimed by its
    owner, or owned at a strictly smaller configEpoch: equal epochs never steal (the
    collision rule separates them first). Slots we are importing are left to SETSLOT, or a
    stale claim from the migration source would undo the import.

    `has_keys_in_slot(slot) -> bool` tells whether we hold keys in a slot (optional).
    """
    result = SlotUpdateResult()
    myself = state.myself
    if sender is myself:
        return result
    current_master = state.my_master_or_me()
    sender_slot_count = 0
    migrated_our_slots = 0
    new_master: NodeRecord | None = None
    key_check = has_keys_in_slot

    # Only slots where the claim and our view of the sender differ can change anything,
    # and between two messages almost none do: work on the bitmaps as integers (bit n =
    # slot n) and visit just the differing bits instead of all 16384 slots per message.
    claimed_bits = int.from_bytes(claimed, "little")
    bound_bits = int.from_bytes(sender.slots, "little")
    sender_slot_count = claimed_bits.bit_count()
    if state.not_claiming:
        for slot in [s for s in state.not_claiming if claimed_bits >> s & 1]:
            if state.slot_owner[slot] is sender:
                state.not_claiming.discard(slot)
    for slot in iter_set_bits(claimed_bits & ~bound_bits):
        owner = state.slot_owner[slot]
        if slot in state.importing_from:
            continue
        if state.slot_unclaimed(slot) or (owner is not None and owner.config_epoch < sender_epoch):
            if owner is myself and key_check is not None and key_check(slot):
                result.dirty_slots.append(slot)
            if owner is not None and owner is current_master:
                new_master = sender
                migrated_our_slots += 1
            state.bind_slot(slot, sender)
            result.changed = True
    for slot in iter_set_bits(bound_bits & ~claimed_bits):
        # Still bound to the sender, but it stopped claiming it: remember so any other
        # claim may take it, and so UPDATEs stop advertising it.
        state.not_claiming.add(slot)

    if result.changed:
        state.mark_dirty(fsync=True, update_state=True)

    if (
        new_master is not None
        and current_master is not None
        and current_master.num_slots == 0
        and (state.allow_replica_migration or sender_slot_count == migrated_our_slots)
    ):
        # We (or our master) lost every slot to `sender`: that node now serves our old
        # data (it was failed over, or an operator moved everything), so follow it as a
        # replica instead of staying an empty master. Open slots die with the role.
        if myself.is_master:
            state.migrating_to.clear()
            state.importing_from.clear()
        state.set_node_as_replica(myself, new_master)
        state.mark_dirty(fsync=True, update_state=True)
        result.new_master = new_master
        result.dirty_slots.clear()
    elif myself.is_replica and (grandmaster := _grandmaster(state)) is not None:
        # Our master turned into a replica (it lost its last slot) and nothing else will
        # move us: replicate the node it follows, never a replica.
        state.set_node_as_replica(myself, grandmaster)
        state.mark_dirty(fsync=True, update_state=True)
        result.new_master = grandmaster
        result.dirty_slots.clear()
    return result


def _grandmaster(state: ClusterState) -> NodeRecord | None:
    """The master of our master, if our master is itself a replica (and not of us: a
    TAKEOVER race can make two nodes replicas of each other, which is left to the
    operator)."""
    master = state.master_of(state.myself)
    if master is None or not master.is_replica:
        return None
    grandmaster = state.master_of(master)
    if grandmaster is None or grandmaster is state.myself:
        return None
    return grandmaster


def slots_claimed_count(bitmap: bytes) -> int:
    return int.from_bytes(bitmap, "little").bit_count()


def iter_set_bits(bits: int) -> Iterator[int]:
    """Indexes of the set bits of `bits`, lowest first."""
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


def first_stale_claim(state: ClusterState, sender: NodeRecord, sender_epoch: int, claimed: bytes) -> NodeRecord | None:
    """If the sender claims a slot we attribute to a node with a greater configEpoch, that
    node: the sender's view is stale and it should get an UPDATE about it."""
    claimed_bits = int.from_bytes(claimed, "little")
    bound_bits = int.from_bytes(sender.slots, "little")
    for slot in iter_set_bits(claimed_bits & ~bound_bits):
        owner = state.slot_owner[slot]
        if owner is None or owner is sender or state.slot_unclaimed(slot):
            continue
        if owner.config_epoch > sender_epoch:
            return owner
    return None


__all__ = [
    "SlotUpdateResult",
    "bump_epoch_without_consensus",
    "first_stale_claim",
    "handle_config_epoch_collision",
    "max_epoch",
    "observe_header_epochs",
    "set_config_epoch",
    "slots_claimed_count",
    "update_slots_config_with",
]
