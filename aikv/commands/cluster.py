"""CLUSTER subcommands, ASKING, READONLY, READWRITE.

Each handler parses, applies to the node's ClusterState (via the runtime for anything
that touches links), and encodes the reply. Error texts match Redis 7.0 byte for byte:
redis-cli and cluster clients parse some of them.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from aikv.cluster import failure
from aikv.cluster import nodeflags as nf
from aikv.cluster.confmodel import cluster_nodes_text, node_line, reply_bytes
from aikv.cluster.epochs import bump_epoch_without_consensus, set_config_epoch
from aikv.cluster.replies import HELP_LINES, cluster_info_text, shard_node, slots_reply
from aikv.cluster.slots import CLUSTER_SLOTS, key_hash_slot
from aikv.cluster.state import LINK_NONE, ClusterState, NodeRecord
from aikv.commands.args import parse_int, subcommand_error
from aikv.commands.registry import command, container
from aikv.resp import (
    OK,
    CommandError,
    array,
    bulk,
    bulk_array,
    integer,
    map_reply,
    simple,
    verbatim,
)

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.cluster.runtime import ClusterNode

ERR_DISABLED = "ERR This instance has cluster support disabled"
ERR_BAD_SLOT = "ERR Invalid or out of range slot"
ERR_SETSLOT_SYNTAX = "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"
ERR_SYNTAX = "ERR syntax error"


def _node(client: Client) -> ClusterNode:
    node = getattr(client.server, "cluster", None)
    if node is None:
        raise CommandError(ERR_DISABLED)
    return node


def _state(client: Client) -> ClusterState:
    return _node(client).state


def _endpoint_type(client: Client) -> str:
    return str(client.server.config.values["cluster-preferred-endpoint-type"])


def _slot_arg(raw: bytes) -> int:
    """getSlotOrReply: a strict 64-bit integer (no spaces, sign or leading zeros), then
    the range; both failures give the same error."""
    slot = parse_int(raw, ERR_BAD_SLOT)
    if not 0 <= slot < CLUSTER_SLOTS:
        raise CommandError(ERR_BAD_SLOT)
    return slot


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace")


def _lookup(st: ClusterState, raw: bytes) -> NodeRecord | None:
    return st.lookup(_text(raw))


container("cluster", -2)


# --- introspection ------------------------------------------------------------------------


@command("myid", 2, "stale", parent="cluster", categories="@slow")
def cluster_myid(client: Client, argv: list[bytes]) -> bytes:
    return bulk(_state(client).myself.node_id.encode())


@command("nodes", 2, "stale", parent="cluster", categories="@slow")
def cluster_nodes(client: Client, argv: list[bytes]) -> bytes:
    return verbatim(reply_bytes(cluster_nodes_text(_state(client))), client.resp3)


@command("info", 2, "stale", parent="cluster", categories="@slow")
def cluster_info(client: Client, argv: list[bytes]) -> bytes:
    return verbatim(cluster_info_text(_node(client)).encode(), client.resp3)


def info_section(server: Any) -> str:
    """The `# Cluster` section of INFO."""
    return f"cluster_enabled:{1 if getattr(server, 'cluster', None) is not None else 0}\r\n"


@command("slots", 2, "stale", parent="cluster", categories="@slow")
def cluster_slots(client: Client, argv: list[bytes]) -> bytes:
    return slots_reply(_state(client), client.resp3, _endpoint_type(client))


@command("shards", 2, "stale", parent="cluster", categories="@slow")
def cluster_shards(client: Client, argv: list[bytes]) -> bytes:
    st = _state(client)
    shards: list[bytes] = []
    for master in st.nodes.values():
        if not master.is_master:
            continue
        slot_items: list[bytes] = []
        for lo, hi in st.node_slot_ranges(master):
            slot_items += [integer(lo), integer(hi)]
        members = [master, *st.replicas_of(master)]
        nodes = array([shard_node(n, client.resp3, _endpoint_type(client)) for n in members])
        shards.append(map_reply([(bulk(b"slots"), array(slot_items)), (bulk(b"nodes"), nodes)], client.resp3))
    return array(shards)


@command("links", 2, "stale", parent="cluster", categories="@slow")
def cluster_links(client: Client, argv: list[bytes]) -> bytes:
    node = _node(client)
    transport = node.transport
    items: list[bytes] = []
    # A link being connected is listed too, as Redis lists node->link from its creation.
    connecting = {link.node: link for link in transport.connecting()
                  if link.node is not None and link.node not in node.gossip.outbound} \
        if transport is not None else {}
    outbound = {**node.gossip.outbound, **connecting}
    for direction, table in ((b"to", outbound), (b"from", node.gossip.inbound)):
        for peer, link in table.items():
            used, allocated = transport.buffer_sizes(link) if transport is not None else (0, 0)
            pairs = [
                (bulk(b"direction"), bulk(direction)),
                (bulk(b"node"), bulk(peer.node_id.encode())),
                (bulk(b"create-time"), integer(link.ctime)),
                (bulk(b"events"), bulk(b"rw" if used else b"r")),
                (bulk(b"send-buffer-allocated"), integer(allocated)),
                (bulk(b"send-buffer-used"), integer(used)),
            ]
            items.append(map_reply(pairs, client.resp3))
    return array(items)


@command("keyslot", 3, "stale", parent="cluster", categories="@slow")
def cluster_keyslot(client: Client, argv: list[bytes]) -> bytes:
    _node(client)  # like every CLUSTER subcommand: an error outside cluster mode
    return integer(key_hash_slot(argv[2]))


@command("countkeysinslot", 3, "stale", parent="cluster", categories="@slow")
def cluster_countkeysinslot(client: Client, argv: list[bytes]) -> bytes:
    slot = parse_int(argv[2])
    if not 0 <= slot < CLUSTER_SLOTS:
        raise CommandError("ERR Invalid slot")
    return integer(_node(client).count_keys_in_slot(slot))


@command("getkeysinslot", 4, "stale", parent="cluster", categories="@slow")
def cluster_getkeysinslot(client: Client, argv: list[bytes]) -> bytes:
    slot = parse_int(argv[2])
    count = parse_int(argv[3])
    if not 0 <= slot < CLUSTER_SLOTS or count < 0:
        raise CommandError("ERR Invalid slot or number of keys")
    node = _node(client)
    count = min(count, node.count_keys_in_slot(slot))
    return bulk_array(node.keys_in_slot(slot, count) if count else [])


@command("count-failure-reports", 3, "admin stale", parent="cluster", categories="@slow")
def cluster_count_failure_reports(client: Client, argv: list[bytes]) -> bytes:
    node = _node(client)
    target = _lookup(node.state, argv[2])
    if target is None:
        raise CommandError(f"ERR Unknown node {_text(argv[2])}")
    from aikv.cluster.runtime import now_ms

    return integer(failure.count_failure_reports(node.state, target, now_ms()))


@command("replicas", 3, "admin stale", parent="cluster", categories="@slow")
def cluster_replicas(client: Client, argv: list[bytes]) -> bytes:
    st = _state(client)
    target = _lookup(st, argv[2])
    if target is None:
        raise CommandError(f"ERR Unknown node {_text(argv[2])}")
    if not target.is_master:
        raise CommandError("ERR The specified node is not a master")
    return bulk_array([reply_bytes(node_line(st, r)) for r in st.replicas_of(target)])


command("slaves", 3, "admin stale", parent="cluster", categories="@slow")(cluster_replicas)


# --- slot assignment ----------------------------------------------------------------------


def _check_assignment(st: ClusterState, seen: bytearray, delete: bool, start: int, end: int) -> None:
    for slot in range(start, end + 1):
        if delete and st.slot_owner[slot] is None:
            raise CommandError(f"ERR Slot {slot} is already unassigned")
        if not delete and st.slot_owner[slot] is not None:
            raise CommandError(f"ERR Slot {slot} is already busy")
        if seen[slot]:
            raise CommandError(f"ERR Slot {slot} specified multiple times")
        seen[slot] = 1


def _update_slots(st: ClusterState, seen: bytearray, delete: bool) -> bytes:
    for slot in range(CLUSTER_SLOTS):
        if not seen[slot]:
            continue
        # Assigning or removing a slot by hand settles any import that was under way.
        st.importing_from.pop(slot, None)
        if delete:
            st.del_slot(slot)
        else:
            st.add_slot(st.myself, slot)
    st.mark_dirty(update_state=True)
    return OK


def _slots(client: Client, argv: list[bytes], delete: bool) -> bytes:
    st = _state(client)
    slots = [_slot_arg(raw) for raw in argv[2:]]
    seen = bytearray(CLUSTER_SLOTS)
    for slot in slots:
        _check_assignment(st, seen, delete, slot, slot)
    return _update_slots(st, seen, delete)


def _slot_ranges(client: Client, argv: list[bytes], delete: bool) -> bytes:
    if len(argv) % 2 == 1:
        raise CommandError(f"ERR wrong number of arguments for 'cluster|{_text(argv[1]).lower()}' command")
    st = _state(client)
    seen = bytearray(CLUSTER_SLOTS)
    # Each range is parsed and checked before the next is read, as Redis does: an
    # assignment error in one range wins over a bad number in a later one.
    for i in range(2, len(argv), 2):
        start, end = _slot_arg(argv[i]), _slot_arg(argv[i + 1])
        if start > end:
            raise CommandError(f"ERR start slot number {start} is greater than end slot number {end}")
        _check_assignment(st, seen, delete, start, end)
    return _update_slots(st, seen, delete)


@command("addslots", -3, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_addslots(client: Client, argv: list[bytes]) -> bytes:
    return _slots(client, argv, delete=False)


@command("delslots", -3, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_delslots(client: Client, argv: list[bytes]) -> bytes:
    return _slots(client, argv, delete=True)


@command("addslotsrange", -4, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_addslotsrange(client: Client, argv: list[bytes]) -> bytes:
    return _slot_ranges(client, argv, delete=False)


@command("delslotsrange", -4, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_delslotsrange(client: Client, argv: list[bytes]) -> bytes:
    return _slot_ranges(client, argv, delete=True)


@command("flushslots", 2, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_flushslots(client: Client, argv: list[bytes]) -> bytes:
    node = _node(client)
    if node.db_has_keys():
        raise CommandError("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.")
    node.state.del_node_slots(node.state.myself)
    node.state.mark_dirty(update_state=True)
    return OK


@command("setslot", -4, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_setslot(client: Client, argv: list[bytes]) -> bytes:
    node = _node(client)
    st = node.state
    myself = st.myself
    if myself.is_replica:
        raise CommandError("ERR Please use SETSLOT only with masters.")
    slot = _slot_arg(argv[2])
    action = _text(argv[3]).lower()
    argc = len(argv)
    if action in ("migrating", "importing") and argc == 5:
        if action == "migrating" and st.slot_owner[slot] is not myself:
            raise CommandError(f"ERR I'm not the owner of hash slot {slot}")
        if action == "importing" and st.slot_owner[slot] is myself:
            raise CommandError(f"ERR I'm already the owner of hash slot {slot}")
        peer = _lookup(st, argv[4])
        if peer is None:
            raise CommandError(f"ERR I don't know about node {_text(argv[4])}")
        if peer.is_replica:
            raise CommandError("ERR Target node is not a master")
        (st.migrating_to if action == "migrating" else st.importing_from)[slot] = peer
    elif action == "stable" and argc == 4:
        st.migrating_to.pop(slot, None)
        st.importing_from.pop(slot, None)
    elif action == "node" and argc == 5:
        if _setslot_node(node, slot, argv[4]):
            return OK  # already saved, before the PONG that announced it
    else:
        raise CommandError(ERR_SETSLOT_SYNTAX)
    st.mark_dirty(update_state=True)
    return OK


def _setslot_node(node: ClusterNode, slot: int, raw_id: bytes) -> bool:
    """Bind the slot; True when the binding was already saved (a completed import,
    broadcast at once), so the end of the tick need not write nodes.conf again."""
    st = node.state
    myself = st.myself
    target = _lookup(st, raw_id)
    if target is None:
        raise CommandError(f"ERR Unknown node {_text(raw_id)}")
    if target.is_replica:
        raise CommandError("ERR Target node is not a master")
    keys_here = node.count_keys_in_slot(slot)
    if st.slot_owner[slot] is myself and target is not myself and keys_here:
        raise CommandError(
            f"ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
        )
    if keys_here == 0:
        st.migrating_to.pop(slot, None)
    was_mine = st.slot_owner[slot] is myself
    st.bind_slot(slot, target)
    if was_mine and target is not myself and myself.num_slots == 0 and st.allow_replica_migration:
        # Our last slot left: follow its new owner, as a Redis master would.
        st.set_node_as_replica(myself, target)
    if target is myself and slot in st.importing_from:
        # The import is complete. A fresh configEpoch makes our claim beat the old
        # owner's everywhere, and the PONG broadcast spreads it right away.
        bump_epoch_without_consensus(st)
        del st.importing_from[slot]
        # broadcast_pong saves first: mark the new binding for saving even when the epoch
        # did not move (only the first slot of a reshard bumps it, and only that bump is
        # fsynced, as in Redis; the in-place write already survives a crash of this
        # process).
        st.mark_dirty(update_state=True)
        node.broadcast_pong()
        return True
    return False


# --- membership and epochs ----------------------------------------------------------------


def _port_arg(raw: bytes) -> int | None:
    try:
        return parse_int(raw)
    except CommandError:
        return None


@command("meet", -4, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_meet(client: Client, argv: list[bytes]) -> bytes:
    node = _node(client)
    if len(argv) > 5:
        raise subcommand_error(argv)
    port = _port_arg(argv[3])
    if port is None:
        raise CommandError(f"ERR Invalid TCP base port specified: {_text(argv[3])}")
    if len(argv) == 5:
        cport = _port_arg(argv[4])
        if cport is None:
            raise CommandError(f"ERR Invalid TCP bus port specified: {_text(argv[4])}")
    else:
        cport = port + 10000
    try:
        ip = str(ipaddress.ip_address(_text(argv[2])))
    except ValueError:
        ip = ""
    if not ip or not 0 < port <= 65535 or not 0 < cport <= 65535:
        raise CommandError(f"ERR Invalid node address specified: {_text(argv[2])}:{_text(argv[3])}")
    from aikv.cluster.runtime import now_ms

    node.state.create_handshake_node(ip, port, cport, now_ms())
    return OK


@command("forget", 3, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_forget(client: Client, argv: list[bytes]) -> bytes:
    node = _node(client)
    st = node.state
    target = _lookup(st, argv[2])
    if target is None:
        raise CommandError(f"ERR Unknown node {_text(argv[2])}")
    if target is st.myself:
        raise CommandError("ERR I tried hard but I can't forget myself...")
    if st.myself.is_replica and st.myself.master_id == target.node_id:
        raise CommandError("ERR Can't forget my master!")
    node.forget(target)
    return OK


@command("replicate", 3, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_replicate(client: Client, argv: list[bytes]) -> bytes:
    node = _node(client)
    st = node.state
    master = _lookup(st, argv[2])
    if master is None:
        raise CommandError(f"ERR Unknown node {_text(argv[2])}")
    if master is st.myself:
        raise CommandError("ERR Can't replicate myself")
    if master.is_replica:
        raise CommandError("ERR I can only replicate a master, not a replica.")
    if st.myself.is_master and (st.myself.num_slots or node.db_has_keys()):
        raise CommandError("ERR To set a master the node must be empty and without assigned slots.")
    node.become_replica_of(master)
    return OK


@command("failover", -2, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_failover(client: Client, argv: list[bytes]) -> bytes:
    """CLUSTER FAILOVER [FORCE|TAKEOVER], on a replica. Default: the master pauses its
    writes until we caught up, then an election. FORCE: an election now, without the
    master. TAKEOVER: no election, a fresh configEpoch of our own."""
    node = _node(client)
    st = node.state
    mode = ""
    if len(argv) == 3:
        mode = _text(argv[2]).lower()
        if mode not in ("force", "takeover"):
            raise CommandError(ERR_SYNTAX)
    elif len(argv) > 3:
        raise subcommand_error(argv)
    if st.myself.is_master:
        raise CommandError("ERR You should send CLUSTER FAILOVER to a replica")
    master = st.master_of(st.myself)
    if master is None:
        raise CommandError("ERR I'm a replica but my master is unknown to me")
    if not mode and (master.has(nf.FAIL) or master.link == LINK_NONE):
        raise CommandError("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE")
    node.manual_failover(mode)
    return OK


@command("reset", -2, "admin stale noscript", parent="cluster", categories="@slow @admin")
def cluster_reset(client: Client, argv: list[bytes]) -> bytes:
    node = _node(client)
    hard = False
    if len(argv) == 3:
        mode = _text(argv[2]).lower()
        if mode not in ("hard", "soft"):
            raise CommandError(ERR_SYNTAX)
        hard = mode == "hard"
    elif len(argv) > 3:
        raise subcommand_error(argv)
    if node.state.myself.is_master and node.db_has_keys():
        raise CommandError("ERR CLUSTER RESET can't be called with master nodes containing keys")
    node.reset(hard=hard)
    return OK


@command("saveconfig", 2, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_saveconfig(client: Client, argv: list[bytes]) -> bytes:
    node = _node(client)
    try:
        node.save(fsync=True)
    except OSError as exc:
        raise CommandError(f"ERR error saving the cluster node config: {exc.strerror}") from None
    return OK


@command("set-config-epoch", 3, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_set_config_epoch(client: Client, argv: list[bytes]) -> bytes:
    st = _state(client)
    epoch = parse_int(argv[2])
    if epoch < 0:
        raise CommandError(f"ERR Invalid config epoch specified: {epoch}")
    if len(st.nodes) > 1:
        raise CommandError("ERR The user can assign a config epoch only when the node does not know any other node.")
    if st.myself.config_epoch != 0:
        raise CommandError("ERR Node config epoch is already non-zero")
    set_config_epoch(st, epoch)
    return OK


@command("bumpepoch", 2, "admin stale no-async-loading", parent="cluster", categories="@slow @admin")
def cluster_bumpepoch(client: Client, argv: list[bytes]) -> bytes:
    st = _state(client)
    bumped = bump_epoch_without_consensus(st)
    return simple(f"{'BUMPED' if bumped else 'STILL'} {st.myself.config_epoch}")


@command("help", 2, "loading stale", parent="cluster", categories="@slow")
def cluster_help(client: Client, argv: list[bytes]) -> bytes:
    _node(client)
    return array([simple(line) for line in HELP_LINES])


# --- per-client flags ---------------------------------------------------------------------


@command("asking", 1, "fast", categories="@fast @connection")
def asking(client: Client, argv: list[bytes]) -> bytes:
    _node(client)
    client.asking = True
    return OK


@command("readonly", 1, "fast loading stale", categories="@fast @connection")
def readonly(client: Client, argv: list[bytes]) -> bytes:
    _node(client)
    client.readonly = True
    return OK


@command("readwrite", 1, "fast loading stale", categories="@fast @connection")
def readwrite(client: Client, argv: list[bytes]) -> bytes:
    _node(client)
    client.readonly = False
    return OK


__all__ = ["cluster_info_text", "info_section"]
