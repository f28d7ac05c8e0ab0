"""cluster-announce-ip/-port/-bus-port/-hostname: what the node puts in every bus header,
in its gossip about itself and in CLUSTER NODES/SLOTS/SHARDS, and what a receiver records.

Byte offsets are those of the 7.0 header (shared/spec/cluster-bus.md §2): port at 10,
myip at 2168 (46 bytes, NUL-padded, all zero when no address is announced), pport at 2246,
cport at 2248."""

from __future__ import annotations

import random
import struct
from types import SimpleNamespace

from aikv.bus.gossip import Gossip, Link, Send
from aikv.bus.protocol import MsgType
from aikv.bus.wire import PingMessage, decode
from aikv.cluster import nodeflags as nf
from aikv.cluster.announce import Announce
from aikv.cluster.confmodel import cluster_nodes_text
from aikv.cluster.replies import shard_node, slots_reply
from aikv.cluster.runtime import ClusterNode
from aikv.cluster.state import ClusterState
from aikv.config import Config

NOW = 1_700_000_000_000


def make_node(**params: str) -> ClusterNode:
    config = Config()
    config.set("port", "7001", startup=True)
    config.set("cluster-enabled", "yes", startup=True)
    for name, value in params.items():
        config.set(name.replace("_", "-"), value, startup=True)
    node = ClusterNode(SimpleNamespace(config=config))
    node._apply_config()
    return node


def header_bytes(node: ClusterNode) -> bytes:
    """The bytes of a real PING this node would send (on some outbound link)."""
    link = Link(inbound=False, node=None, local_ip="127.0.0.1")
    actions: list = []
    node.gossip._send_ping(link, MsgType.PING, NOW, actions)
    sends = [a for a in actions if isinstance(a, Send)]
    assert len(sends) == 1
    return sends[0].data


def fields(data: bytes) -> tuple[int, bytes, int, int]:
    (port,) = struct.unpack_from(">H", data, 10)
    myip = data[2168:2214]
    pport, cport = struct.unpack_from(">HH", data, 2246)
    return port, myip, pport, cport


def test_defaults_announce_listening_ports_and_no_ip() -> None:
    node = make_node()
    port, myip, pport, cport = fields(header_bytes(node))
    assert (port, pport, cport) == (7001, 0, 17001)
    # No announced ip: 46 zero bytes, the receiver uses the TCP peer address.
    assert myip == b"\0" * 46


def test_cluster_port_is_the_default_bus_port() -> None:
    node = make_node(cluster_port="23456")
    assert node.bus_port == 23456
    assert fields(header_bytes(node))[3] == 23456


def test_announced_values_fill_the_header() -> None:
    node = make_node(
        cluster_announce_ip="10.1.2.3",
        cluster_announce_port="30001",
        cluster_announce_bus_port="40001",
    )
    port, myip, pport, cport = fields(header_bytes(node))
    assert port == 30001
    assert cport == 40001
    assert pport == 0
    assert myip == b"10.1.2.3".ljust(46, b"\0")
    # The bus still listens where it always does: only what others dial changes.
    assert node.bus_port == 17001
    me = node.state.myself
    assert (me.ip, me.port, me.cport) == ("10.1.2.3", 30001, 40001)


def test_announced_bus_port_alone_keeps_real_client_port() -> None:
    node = make_node(cluster_announce_bus_port="40002")
    port, myip, _, cport = fields(header_bytes(node))
    assert (port, cport, myip) == (7001, 40002, b"\0" * 46)


def test_ipv6_announce_ip_fits_the_field() -> None:
    ip = "2001:db8:85a3:8d3:1319:8a2e:370:7348"
    node = make_node(cluster_announce_ip=ip)
    assert fields(header_bytes(node))[1] == ip.encode().ljust(46, b"\0")


def test_hostname_travels_as_extension_and_in_replies() -> None:
    node = make_node(cluster_announce_hostname="node-1.example", cluster_announce_ip="10.0.0.9")
    msg = decode(header_bytes(node))
    assert isinstance(msg, PingMessage)
    assert msg.hostname == "node-1.example"
    text = cluster_nodes_text(node.state)
    assert "10.0.0.9:7001@17001,node-1.example myself,master" in text
    assert b"node-1.example" in shard_node(node.state.myself, False)


def test_config_set_at_run_time_takes_effect_on_next_tick() -> None:
    node = make_node()
    node.config.set("cluster-announce-ip", "192.0.2.7")
    node.config.set("cluster-announce-port", "31000")
    node.config.set("cluster-announce-bus-port", "41000")
    node._apply_announce()
    port, myip, _, cport = fields(header_bytes(node))
    assert (port, cport) == (31000, 41000)
    assert myip.rstrip(b"\0") == b"192.0.2.7"
    # Removing the ip clears our address (the next MEET teaches the real one), and the
    # ports fall back to the listening ones.
    node.config.set("cluster-announce-ip", "")
    node.config.set("cluster-announce-port", "0")
    node.config.set("cluster-announce-bus-port", "0")
    node._apply_announce()
    assert node.state.myself.ip == ""
    port, myip, _, cport = fields(header_bytes(node))
    assert (port, cport, myip) == (7001, 17001, b"\0" * 46)


def test_announced_address_shows_in_cluster_nodes_slots_shards() -> None:
    node = make_node(cluster_announce_ip="10.1.2.3", cluster_announce_port="30001",
                     cluster_announce_bus_port="40001")
    st = node.state
    for slot in range(0, 100):
        st.add_slot(st.myself, slot)
    line = next(ln for ln in cluster_nodes_text(st).splitlines() if "myself" in ln)
    assert line.split()[1] == "10.1.2.3:30001@40001"
    slots = slots_reply(st, False)
    assert b"$8\r\n10.1.2.3\r\n:30001\r\n" in slots
    shard = shard_node(st.myself, False)
    assert b":30001\r\n" in shard and b"10.1.2.3" in shard


def test_announce_ip_is_not_overwritten_by_meet() -> None:
    """Without an announced ip a node learns its address from the socket a MEET came in
    on; with one it keeps the announced address whatever the socket says."""
    node = make_node(cluster_announce_ip="10.1.2.3")
    peer = Gossip(ClusterState(node_timeout=2000), Announce(), rng=random.Random(1))
    peer.state.myself.port, peer.state.myself.cport = 7002, 17002
    link = Link(inbound=False, node=None)
    meet: list = []
    peer._send_ping(link, MsgType.MEET, NOW, meet)
    inbound = Link(inbound=True, peer_ip="127.0.0.1", local_ip="127.0.0.1")
    node.gossip.on_message(inbound, decode(meet[0].data), NOW)
    assert node.state.myself.ip == "10.1.2.3"

    plain = make_node()
    plain.gossip.on_message(Link(inbound=True, peer_ip="127.0.0.1", local_ip="127.0.0.1"),
                            decode(meet[0].data), NOW)
    assert plain.state.myself.ip == "127.0.0.1"


def test_receiver_records_announced_address() -> None:
    """A MEET with myip set creates the handshake record at myip (not the TCP peer
    address) with the header's ports; a later PING from a known node with a new announced
    address updates the record (§5.3)."""
    receiver = make_node()
    sender = make_node(cluster_announce_ip="10.1.2.3", cluster_announce_port="30001",
                       cluster_announce_bus_port="40001")
    link = Link(inbound=True, peer_ip="127.0.0.1", local_ip="127.0.0.1")
    meet: list = []
    sender.gossip._send_ping(Link(inbound=False), MsgType.MEET, NOW, meet)
    receiver.gossip.on_message(link, decode(meet[0].data), NOW)
    others = receiver.state.others()
    assert len(others) == 1
    rec = others[0]
    assert (rec.ip, rec.port, rec.cport) == ("10.1.2.3", 30001, 40001)

    # Make the record a known node, then let the sender move.
    receiver.state.rename_node(rec, sender.state.myself.node_id)
    rec.flags &= ~nf.HANDSHAKE
    sender.config.set("cluster-announce-ip", "10.9.9.9")
    sender.config.set("cluster-announce-bus-port", "40009")
    sender._apply_announce()
    ping: list = []
    sender.gossip._send_ping(Link(inbound=False), MsgType.PING, NOW, ping)
    receiver.gossip.on_message(Link(inbound=True, peer_ip="127.0.0.1", local_ip="127.0.0.1"),
                               decode(ping[0].data), NOW + 100)
    assert (rec.ip, rec.port, rec.cport) == ("10.9.9.9", 30001, 40009)


def test_cluster_parameters_set_at_run_time_reach_the_state() -> None:
    """CONFIG SET cluster-require-full-coverage / cluster-node-timeout: the cron re-reads
    them (Redis reads them where used), so a running cluster follows the new values."""
    node = make_node(cluster_node_timeout="2000")
    assert node.state.require_full_coverage and node.state.node_timeout == 2000
    node.config.set("cluster-require-full-coverage", "no")
    node.config.set("cluster-node-timeout", "1500")
    node._apply_config()
    assert not node.state.require_full_coverage
    assert node.state.node_timeout == 1500


def test_preferred_endpoint_type_in_slots_shards_and_redirects() -> None:
    from aikv.cluster.routing import ask_error, moved_error

    named = make_node(cluster_announce_hostname="node-1.example",
                      cluster_announce_ip="10.0.0.9")
    anonymous = make_node(cluster_announce_ip="10.0.0.8")
    for node in (named, anonymous):
        for slot in range(0, 10):
            node.state.add_slot(node.state.myself, slot)
    me, nobody = named.state.myself, anonymous.state.myself
    node_id = me.node_id.encode()
    # ip (default): the address first, the hostname in the metadata map.
    assert slots_reply(named.state, False, "ip") == (
        b"*1\r\n*3\r\n:0\r\n:9\r\n*4\r\n$8\r\n10.0.0.9\r\n:7001\r\n$40\r\n" + node_id
        + b"\r\n*2\r\n$8\r\nhostname\r\n$14\r\nnode-1.example\r\n")
    # hostname: the hostname first, the address in the map; "?" without a hostname.
    assert slots_reply(named.state, True, "hostname").endswith(
        b"$14\r\nnode-1.example\r\n:7001\r\n$40\r\n" + node_id
        + b"\r\n%1\r\n$2\r\nip\r\n$8\r\n10.0.0.9\r\n")
    assert b"*4\r\n$1\r\n?\r\n:7001\r\n" in slots_reply(anonymous.state, False, "hostname")
    # unknown-endpoint: a null, then both facts.
    assert slots_reply(named.state, False, "unknown-endpoint").endswith(
        b"*4\r\n$-1\r\n:7001\r\n$40\r\n" + node_id + b"\r\n*4\r\n$2\r\nip\r\n$8\r\n10.0.0.9\r\n"
        b"$8\r\nhostname\r\n$14\r\nnode-1.example\r\n")
    assert b"$8\r\nendpoint\r\n$14\r\nnode-1.example\r\n" in shard_node(me, False, "hostname")
    assert b"$8\r\nendpoint\r\n$0\r\n\r\n" in shard_node(me, False, "unknown-endpoint")
    assert moved_error(5, me, "ip") == "MOVED 5 10.0.0.9:7001"
    assert moved_error(5, me, "hostname") == "MOVED 5 node-1.example:7001"
    assert moved_error(5, nobody, "hostname") == "MOVED 5 ?:7001"
    assert ask_error(5, me, "unknown-endpoint") == "ASK 5 :7001"
