"""Conversion between the cluster state and nodes.conf's line model.

The same lines serve CLUSTER NODES (all nodes, handshake ones included) and the file
(handshake nodes left out, plus the vars line). Loading applies Redis's reinterpretations
that the plain model deliberately leaves to us (see aikv/persist/nodesconf.py).
"""

from __future__ import annotations

from aikv.cluster import nodeflags as nf
from aikv.cluster.state import LINK_CONNECTED, ClusterState, NodeRecord
from aikv.persist.nodesconf import NodeEntry, NodesConf, format_node_line, format_nodes_conf


def file_text(text: str) -> str:
    """A node's address or hostname as nodes.conf text. In memory they hold one char per
    byte (Latin-1, as the bus codec decodes them); the file is read and written as UTF-8
    with surrogateescape. Mapping byte for byte keeps what a peer sent exactly as Redis
    keeps it (raw bytes in the file and in CLUSTER NODES), whatever the bytes are."""
    try:
        return text.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text  # not from the wire (a configured name beyond Latin-1): already text


def memory_text(text: str) -> str:
    """The inverse of file_text, for a loaded nodes.conf."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def node_entry(state: ClusterState, node: NodeRecord) -> NodeEntry:
    entry = NodeEntry(
        node_id=node.node_id,
        ip=file_text(node.ip),
        port=node.port,
        cport=node.cport,
        hostname=file_text(node.hostname) or None,
        flags=node.flags & ~(nf.MEET | nf.MIGRATE_TO),
        master_id=node.master_id if node.is_replica else None,
        ping_sent_ms=node.ping_sent,
        pong_received_ms=node.pong_received,
        config_epoch=state.effective_config_epoch(node),
        link_connected=node.link == LINK_CONNECTED,
        slots=state.node_slot_ranges(node),
    )
    if node is state.myself:
        # Open-slot marks only on our own line: the node that holds a mark is the one
        # that reports it (redis-cli check reads each node's own line).
        entry.migrating = {slot: target.node_id for slot, target in state.migrating_to.items()}
        entry.importing = {slot: source.node_id for slot, source in state.importing_from.items()}
    return entry


def cluster_nodes_text(state: ClusterState) -> str:
    """The CLUSTER NODES reply body: every known node, each line ending in '\\n'. Encode
    it with reply_bytes (addresses are file_text)."""
    return "".join(format_node_line(node_entry(state, node)) + "\n" for node in state.nodes.values())


def reply_bytes(text: str) -> bytes:
    """cluster_nodes_text / node_line as reply bytes: the raw bytes, like the file."""
    return text.encode("utf-8", "surrogateescape")


def node_line(state: ClusterState, node: NodeRecord) -> str:
    return format_node_line(node_entry(state, node))


def to_nodes_conf(state: ClusterState) -> NodesConf:
    return NodesConf(
        entries=[node_entry(state, node) for node in state.nodes.values()],
        current_epoch=state.current_epoch,
        last_vote_epoch=state.last_vote_epoch,
    )


def nodes_conf_text(state: ClusterState) -> str:
    return format_nodes_conf(to_nodes_conf(state))


def from_nodes_conf(
    conf: NodesConf,
    *,
    now_ms: int,
    node_timeout: int,
    require_full_coverage: bool = True,
    allow_replica_migration: bool = True,
) -> ClusterState:
    """Rebuild the state a Redis 7.0 node would load from this file."""
    me = conf.myself
    if me is None:  # parse_nodes_conf already refuses this; keep mypy and callers honest
        raise ValueError("nodes.conf has no myself line")
    state = ClusterState(
        me.node_id,
        node_timeout=node_timeout,
        require_full_coverage=require_full_coverage,
        allow_replica_migration=allow_replica_migration,
    )
    # The file says what our role is; start from no flags like any other loaded line.
    state.myself.flags = 0

    def get_or_placeholder(node_id: str) -> NodeRecord:
        node = state.lookup(node_id)
        if node is None:
            node = NodeRecord(node_id, 0)
            state.add_node(node)
        return node

    for entry in conf.entries:
        node = get_or_placeholder(entry.node_id)
        node.flags |= entry.flags
        node.ip, node.port, node.cport = memory_text(entry.ip), entry.port, entry.cport
        node.hostname = memory_text(entry.hostname or "")
        if entry.flags & nf.FAIL:
            node.fail_time = now_ms
        # Only "was there a ping/pong at all" survives a restart.
        node.ping_sent = now_ms if entry.ping_sent_ms else 0
        node.pong_received = now_ms if entry.pong_received_ms else 0
        if entry.master_id is not None:
            # As Redis's loader: the master gains this replica, so it is a migration
            # target (MIGRATE_TO, never written to the file).
            get_or_placeholder(entry.master_id).flags |= nf.MIGRATE_TO
            node.master_id = entry.master_id
        # A replica's printed epoch is its master's; it has none of its own.
        node.config_epoch = 0 if (entry.flags & nf.SLAVE and entry.master_id) else entry.config_epoch
        for start, end in entry.slots:
            for slot in range(start, end + 1):
                state.add_slot(node, slot)  # the first line listing a slot keeps it
        for slot, target_id in entry.migrating.items():
            state.migrating_to[slot] = get_or_placeholder(target_id)
        for slot, source_id in entry.importing.items():
            state.importing_from[slot] = get_or_placeholder(source_id)

    state.myself.flags |= nf.MYSELF
    state.current_epoch = conf.current_epoch
    state.last_vote_epoch = conf.last_vote_epoch
    for node in state.nodes.values():
        if node.config_epoch > state.current_epoch:
            state.current_epoch = node.config_epoch
    state.save_needed = state.fsync_needed = False
    return state
