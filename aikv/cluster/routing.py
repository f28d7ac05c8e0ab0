"""Which node must serve a command: MOVED / ASK / TRYAGAIN / CROSSSLOT / CLUSTERDOWN.

A pure function of the cluster state, the command's keys and a few client flags. The
dispatcher calls `route()` for every command with keys (for EXEC: the keys of all queued
commands) when cluster mode is on, and sends the returned error text (RESP error, without
the leading '-') instead of running the command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aikv.cluster.slots import key_hash_slot
from aikv.cluster.state import ClusterState, NodeRecord

ERR_CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"
ERR_UNBOUND = "CLUSTERDOWN Hash slot not served"
ERR_DOWN = "CLUSTERDOWN The cluster is down"
ERR_DOWN_READONLY = "CLUSTERDOWN The cluster is down and only accepts read commands"
ERR_TRYAGAIN = "TRYAGAIN Multiple keys request during rehashing of slot"


def preferred_endpoint(node: NodeRecord, endpoint_type: str = "ip") -> str:
    """cluster-preferred-endpoint-type: what clients are told to connect to (MOVED, ASK,
    CLUSTER SHARDS' endpoint): the address, the hostname ("?" when the node announced
    none), or nothing at all ("unknown-endpoint": connect to where the reply came from)."""
    if endpoint_type == "ip":
        return node.ip
    if endpoint_type == "hostname":
        return node.hostname or "?"
    return ""


def moved_error(slot: int, node: NodeRecord, endpoint_type: str = "ip") -> str:
    return f"MOVED {slot} {preferred_endpoint(node, endpoint_type)}:{node.port}"


def ask_error(slot: int, node: NodeRecord, endpoint_type: str = "ip") -> str:
    return f"ASK {slot} {preferred_endpoint(node, endpoint_type)}:{node.port}"


def route(
    state: ClusterState,
    keys: Sequence[bytes],
    *,
    is_write: bool,
    key_exists: Callable[[bytes], bool],
    asking: bool = False,
    readonly: bool = False,
    is_migrate: bool = False,
    allow_reads_when_down: bool = False,
    endpoint_type: str = "ip",
) -> str | None:
    """None when this node serves the command, else the error text to reply with.

    `asking` is true when the client sent ASKING just before (or the command is
    RESTORE-ASKING); `readonly` when the client sent READONLY; `endpoint_type` is
    cluster-preferred-endpoint-type."""
    if not keys:
        return None
    first_key = keys[0]
    slot = key_hash_slot(first_key)
    owner = state.slot_owner[slot]
    if owner is None:
        return ERR_UNBOUND
    myself = state.myself
    migrating = owner is myself and slot in state.migrating_to
    importing = not migrating and slot in state.importing_from
    check_keys = migrating or importing
    # MIGRATE runs here whenever the slot is open, whatever keys exist: skip the lookups
    # (a reshard sends one MIGRATE per batch of keys of the slot it moves).
    count_keys = check_keys and not is_migrate
    multiple_keys = False
    missing = existing = 0
    for index, key in enumerate(keys):
        if index:
            if key_hash_slot(key) != slot:
                return ERR_CROSSSLOT
            if not multiple_keys and key != first_key:
                multiple_keys = True
        if count_keys:
            if key_exists(key):
                existing += 1
            else:
                missing += 1

    if not state.state_ok:
        if not allow_reads_when_down:
            return ERR_DOWN
        if is_write:
            return ERR_DOWN_READONLY

    # MIGRATE moves the keys of an open slot; it must run where the keys are.
    if check_keys and is_migrate:
        return None

    if migrating and missing:
        # Some keys already moved: a multi-key command cannot be split across two nodes,
        # so the client retries once the migration of this slot has progressed.
        if existing:
            return ERR_TRYAGAIN
        return ask_error(slot, state.migrating_to[slot], endpoint_type)

    if importing and asking:
        if multiple_keys and missing:
            return ERR_TRYAGAIN
        return None

    if readonly and not is_write and myself.is_replica and myself.master_id == owner.node_id:
        return None

    if owner is not myself:
        return moved_error(slot, owner, endpoint_type)
    return None


def blocked_client_error(state: ClusterState, keys: Sequence[bytes],
                         endpoint_type: str = "ip") -> str | None:
    """For a client blocked on `keys` (BLPOP & co.): the error that should unblock it now,
    or None to keep waiting. Checked periodically by the server."""
    if not state.state_ok:
        return ERR_DOWN
    for key in keys:
        slot = key_hash_slot(key)
        owner = state.slot_owner[slot]
        if owner is None:
            return ERR_UNBOUND
        if owner is not state.myself and slot not in state.importing_from:
            myself = state.myself
            if myself.is_replica and myself.master_id == owner.node_id:
                continue
            return moved_error(slot, owner, endpoint_type)
    return None
