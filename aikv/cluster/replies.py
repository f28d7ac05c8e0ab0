"""Reply bodies of the read-only CLUSTER subcommands (INFO, SLOTS, SHARDS, HELP), built
from the cluster state. Shapes follow Redis 7.0 exactly: clients and redis-cli parse them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikv.bus.protocol import MSG_STAT_NAMES, MSG_TYPE_COUNT
from aikv.cluster import failure
from aikv.cluster import nodeflags as nf
from aikv.cluster.confmodel import file_text, reply_bytes
from aikv.cluster.routing import preferred_endpoint
from aikv.cluster.slots import CLUSTER_SLOTS
from aikv.cluster.state import ClusterState, NodeRecord
from aikv.resp import NULL3, NULL_BULK, array, bulk, integer, map_reply

if TYPE_CHECKING:
    from aikv.cluster.runtime import ClusterNode


def _raw(text: str) -> bytes:
    # The bytes a peer announced, as Redis replies them (see confmodel.file_text).
    return reply_bytes(file_text(text))


def cluster_info_text(node: ClusterNode) -> str:
    st = node.state
    assigned, ok, pfail, fail = failure.slot_health_counts(st)
    lines = [
        f"cluster_state:{'ok' if st.state_ok else 'fail'}",
        f"cluster_slots_assigned:{assigned}",
        f"cluster_slots_ok:{ok}",
        f"cluster_slots_pfail:{pfail}",
        f"cluster_slots_fail:{fail}",
        f"cluster_known_nodes:{len(st.nodes)}",
        f"cluster_size:{st.size}",
        f"cluster_current_epoch:{st.current_epoch}",
        f"cluster_my_epoch:{st.effective_config_epoch(st.myself)}",
    ]
    stats = node.gossip.stats
    for direction, counts in (("sent", stats.sent), ("received", stats.received)):
        for msg_type in range(MSG_TYPE_COUNT):
            if counts[msg_type]:
                lines.append(f"cluster_stats_messages_{MSG_STAT_NAMES[msg_type]}_{direction}:{counts[msg_type]}")
        lines.append(f"cluster_stats_messages_{direction}:{sum(counts)}")
    lines.append(f"total_cluster_links_buffer_limit_exceeded:{node.links_buffer_limit_exceeded}")
    return "".join(line + "\r\n" for line in lines)


def _slots_node(node: NodeRecord, resp3: bool, endpoint_type: str) -> bytes:
    """One node of a CLUSTER SLOTS range: the preferred endpoint (cluster-preferred-
    endpoint-type; a hostname-less node is "?", unknown-endpoint a null), port, id, then
    the networking facts the endpoint did not already give."""
    if endpoint_type == "ip":
        endpoint = bulk(_raw(node.ip))
    elif endpoint_type == "hostname":
        endpoint = bulk(_raw(node.hostname) if node.hostname else b"?")
    else:
        endpoint = NULL3 if resp3 else NULL_BULK
    metadata = []
    if endpoint_type != "ip":
        metadata.append((bulk(b"ip"), bulk(_raw(node.ip))))
    if endpoint_type != "hostname" and node.hostname:
        metadata.append((bulk(b"hostname"), bulk(_raw(node.hostname))))
    return array([endpoint, integer(node.port), bulk(node.node_id.encode()),
                  map_reply(metadata, resp3)])


def slots_reply(st: ClusterState, resp3: bool, endpoint_type: str = "ip") -> bytes:
    """CLUSTER SLOTS: one entry per run of slots with the same owner, in slot order."""
    entries: list[bytes] = []
    start = 0
    owner = st.slot_owner[0]
    for slot in range(1, CLUSTER_SLOTS + 1):
        current = st.slot_owner[slot] if slot < CLUSTER_SLOTS else None
        if slot < CLUSTER_SLOTS and current is owner:
            continue
        if owner is not None:
            # Idle or failed replicas cannot serve reads; clients should not be sent there.
            replicas = [r for r in st.replicas_of(owner) if not r.flags & nf.FAIL and r.repl_offset]
            parts = [integer(start), integer(slot - 1), _slots_node(owner, resp3, endpoint_type)]
            parts.extend(_slots_node(r, resp3, endpoint_type) for r in replicas)
            entries.append(array(parts))
        start = slot
        owner = current
    return array(entries)


def shard_node(node: NodeRecord, resp3: bool, endpoint_type: str = "ip") -> bytes:
    pairs = [(bulk(b"id"), bulk(node.node_id.encode()))]
    if node.port:
        pairs.append((bulk(b"port"), integer(node.port)))
    pairs.append((bulk(b"ip"), bulk(_raw(node.ip))))
    pairs.append((bulk(b"endpoint"), bulk(_raw(preferred_endpoint(node, endpoint_type)))))
    if node.hostname:
        pairs.append((bulk(b"hostname"), bulk(_raw(node.hostname))))
    pairs.append((bulk(b"role"), bulk(b"replica" if node.is_replica else b"master")))
    pairs.append((bulk(b"replication-offset"), integer(node.repl_offset)))
    if node.flags & nf.FAIL:
        health = b"fail"
    elif node.is_replica and node.repl_offset == 0:
        health = b"loading"
    else:
        health = b"online"
    pairs.append((bulk(b"health"), bulk(health)))
    return map_reply(pairs, resp3)


HELP_LINES = (
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot>.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "SLOTS",
    "    Return information about slots range mappings.",
    "HELP",
    "    Print this help.",
)
