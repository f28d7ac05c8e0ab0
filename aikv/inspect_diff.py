"""What changed between two versions of one nodes.conf (pure; used by `--watch`).

A node rewrites its file only when its configuration changes, so every rewrite is worth a
line or two: a slot moved, a node failed or came back, an epoch was bumped, a node joined
or left, a migration opened or closed. Ping/pong times change on almost every rewrite and
carry no configuration, so they are not reported.
"""

from __future__ import annotations

from aikv.cluster import nodeflags
from aikv.inspect_checks import FileView, NodeNames, slot_owners, slots_text, value_runs
from aikv.persist.nodesconf import NodeEntry, NodesConf

# Flags whose setting or clearing is reported as its own event, with the words used.
_WATCHED_FLAGS = (
    (nodeflags.FAIL, "fail"),
    (nodeflags.PFAIL, "fail?"),
    (nodeflags.NOADDR, "noaddr"),
    (nodeflags.NOFAILOVER, "nofailover"),
    (nodeflags.MYSELF, "myself"),
)


def _role(entry: NodeEntry, names: NodeNames) -> str:
    if entry.is_replica:
        return f"replica of {names(entry.master_id)}" if entry.master_id else "replica"
    return "master" if entry.is_master else "without role"


def _node_changes(old: NodeEntry, new: NodeEntry, names: NodeNames) -> list[str]:
    who = f"node {names(new.node_id)}"
    changes = []
    if old.address != new.address:
        changes.append(f"{who}: address {old.address} -> {new.address}")
    for bit, word in _WATCHED_FLAGS:
        if new.flags & bit and not old.flags & bit:
            changes.append(f"{who}: flagged {word}")
        elif old.flags & bit and not new.flags & bit:
            changes.append(f"{who}: {word} cleared")
    if _role(old, names) != _role(new, names):
        changes.append(f"{who}: now {_role(new, names)} (was {_role(old, names)})")
    if old.config_epoch != new.config_epoch:
        changes.append(f"{who}: configEpoch {old.config_epoch} -> {new.config_epoch}")
    if old.link_connected != new.link_connected:
        changes.append(f"{who}: link {'connected' if new.link_connected else 'disconnected'}")
    return changes


def _marks(conf: NodesConf) -> dict[tuple[str, int, str], str]:
    """Open migrations as {(holder, slot, direction): peer}."""
    marks: dict[tuple[str, int, str], str] = {}
    for entry in conf.entries:
        for slot, peer in entry.migrating.items():
            marks[(entry.node_id, slot, "migrating")] = peer
        for slot, peer in entry.importing.items():
            marks[(entry.node_id, slot, "importing")] = peer
    return marks


def _mark_text(holder: str, slot: int, direction: str, peer: str, names: NodeNames) -> str:
    if direction == "migrating":
        return f"slot {slot} migrating from {names(holder)} to {names(peer)}"
    return f"slot {slot} importing into {names(holder)} from {names(peer)}"


def diff_confs(before: NodesConf, after: NodesConf) -> list[str]:
    """Human-readable change lines, most structural first; empty if nothing that matters
    changed."""
    names = NodeNames([FileView("after", after), FileView("before", before)])
    old_nodes = {e.node_id: e for e in before.entries}
    new_nodes = {e.node_id: e for e in after.entries}
    changes: list[str] = []

    for node_id, entry in new_nodes.items():
        if node_id not in old_nodes:
            changes.append(f"node added: {names(node_id)} as {_role(entry, names)} "
                           f"({nodeflags.flags_to_text(entry.flags)})")
    for node_id in old_nodes:
        if node_id not in new_nodes:
            changes.append(f"node removed: {names(node_id)}")
    for node_id, entry in new_nodes.items():
        if node_id in old_nodes:
            changes.extend(_node_changes(old_nodes[node_id], entry, names))

    moves = list(zip(slot_owners(before), slot_owners(after), strict=True))
    for start, end, move in value_runs(moves):
        old_owner, new_owner = move if isinstance(move, tuple) else (None, None)
        if old_owner != new_owner:
            old_text = names(old_owner) if old_owner else "unassigned"
            new_text = names(new_owner) if new_owner else "unassigned"
            changes.append(f"{slots_text(start, end)}: {old_text} -> {new_text}")

    old_marks, new_marks = _marks(before), _marks(after)
    for key, peer in sorted(old_marks.items()):
        if new_marks.get(key) != peer:
            changes.append("migration closed: " + _mark_text(*key, peer, names))
    for key, peer in sorted(new_marks.items()):
        if old_marks.get(key) != peer:
            changes.append("migration opened: " + _mark_text(*key, peer, names))

    if before.current_epoch != after.current_epoch:
        changes.append(f"currentEpoch {before.current_epoch} -> {after.current_epoch}")
    if before.last_vote_epoch != after.last_vote_epoch:
        changes.append(f"lastVoteEpoch {before.last_vote_epoch} -> {after.last_vote_epoch}")
    return changes
