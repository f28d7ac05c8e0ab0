"""What this node tells others in every bus message: its header and a gossip sample."""

from __future__ import annotations

import random
from dataclasses import dataclass

from aikv.bus.builders import gossip_entry
from aikv.bus.protocol import CLUSTER_STATE_FAIL, CLUSTER_STATE_OK
from aikv.bus.wire import GossipEntry, Header, SlotBitmap
from aikv.cluster import nodeflags as nf
from aikv.cluster.state import LINK_NONE, ClusterState, NodeRecord

# Gossip carries at least this many entries when enough nodes are known, and about a
# tenth of the cluster in big ones: enough that failure reports reach a majority within
# the report validity window.
MIN_GOSSIP_ENTRIES = 3
GOSSIP_FRACTION = 10


@dataclass
class Announce:
    """Configured announcement overrides (cluster-announce-*)."""

    ip: str = ""
    hostname: str = ""


def my_header(state: ClusterState, announce: Announce) -> Header:
    """The header of our next message. A replica advertises its master's slots and
    configEpoch: receivers rebuild their view of the shard from any of its members."""
    myself = state.myself
    return Header(
        type=0,
        sender=myself.node_id,
        current_epoch=state.current_epoch,
        config_epoch=state.effective_config_epoch(myself),
        offset=myself.repl_offset,
        myslots=SlotBitmap(state.advertised_slots()),
        slaveof=myself.master_id if myself.is_replica and myself.master_id else None,
        myip=announce.ip,
        port=myself.port,
        cport=myself.cport,
        pport=0,
        # Redis sends its own flags as they are, MIGRATE_TO included (real traffic:
        # master|myself|migrate_to); MEET is never set on myself.
        flags=myself.flags & ~nf.MEET,
        state=CLUSTER_STATE_OK if state.state_ok else CLUSTER_STATE_FAIL,
    )


def _entry(node: NodeRecord) -> GossipEntry:
    return gossip_entry(
        node.node_id,
        node.ip,
        node.port,
        node.cport,
        node.flags,
        ping_sent_ms=node.ping_sent,
        pong_received_ms=node.pong_received,
        pport=node.pport,
    )


def gossip_entries(state: ClusterState, rng: random.Random,
                   receiver: NodeRecord | None = None) -> list[GossipEntry]:
    """A random sample of healthy nodes, then every PFAIL node.

    Random sampling spreads knowledge of every node across the cluster in a few rounds;
    PFAIL nodes are always added because their reports must reach a majority of masters
    quickly for PFAIL to become FAIL. Redis draws from all nodes and may spend an entry
    on the receiver itself, which tells it nothing (in a 3-node cluster, half the single
    entries); the sample here leaves out the receiver and us, so every entry is news."""
    nodes = list(state.nodes.values())
    wanted = min(max(MIN_GOSSIP_ENTRIES, len(nodes) // GOSSIP_FRACTION), len(nodes) - 2)
    pool = [node for node in nodes
            if node is not state.myself and node is not receiver and not node.flags & nf.PFAIL]
    chosen: list[NodeRecord] = []
    tries = wanted * 3
    while pool and len(chosen) < wanted and tries > 0:
        tries -= 1
        node = pool.pop(rng.randrange(len(pool)))
        if node.flags & (nf.HANDSHAKE | nf.NOADDR) or (node.link == LINK_NONE and node.num_slots == 0):
            continue
        chosen.append(node)

    pfail_wanted = state.stats_pfail_nodes
    if pfail_wanted:
        for node in nodes:
            if node.flags & (nf.HANDSHAKE | nf.NOADDR) or not node.flags & nf.PFAIL:
                continue
            chosen.append(node)
            pfail_wanted -= 1
            if pfail_wanted == 0:
                break
    return [_entry(node) for node in chosen]
