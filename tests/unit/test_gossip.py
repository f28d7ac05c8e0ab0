"""The bus engine, driven without sockets: real captured messages and an in-memory
network of engines (deterministic randomness, simulated clock)."""

from __future__ import annotations

import json
import random

import pytest

from aikv.bus.gossip import Close, Connect, Deliver, Gossip, Link, Send
from aikv.bus.protocol import MsgType
from aikv.bus.wire import FailMessage, PingMessage, UpdateMessage, decode
from aikv.cluster import nodeflags as nf
from aikv.cluster.announce import Announce, gossip_entries
from aikv.cluster.epochs import bump_epoch_without_consensus, set_config_epoch
from aikv.cluster.state import LINK_CONNECTED, ClusterState, NodeRecord
from tests.harness import shared_dir

BUS_FIXTURE = shared_dir() / "fixtures" / "bus" / "bus-messages.json"
TIMEOUT = 2000


def make_engine(port: int, node_id: str | None = None, seed: int = 0) -> Gossip:
    st = ClusterState(node_id, node_timeout=TIMEOUT)
    st.myself.port, st.myself.cport = port, port + 10000
    return Gossip(st, Announce(), rng=random.Random(seed))


class Net:
    """Engines connected by in-memory links; messages are encoded and decoded for real."""

    def __init__(self) -> None:
        self.now = 1_000_000
        self.engines: dict[int, Gossip] = {}
        self.down: set[int] = set()
        self.peer: dict[int, tuple[Gossip, Link, Gossip, Link]] = {}  # id(link) -> (me, link, other, other_link)
        self.queue: list[tuple[Gossip, Link, bytes]] = []
        self.log: list[tuple[int, int, int]] = []  # (from port, to port, type)
        self.delivered: list[tuple[int, Deliver]] = []

    def add(self, port: int, node_id: str | None = None) -> Gossip:
        eng = make_engine(port, node_id, seed=port)
        self.engines[port] = eng
        return eng

    def port_of(self, eng: Gossip) -> int:
        return eng.state.myself.port

    def apply(self, eng: Gossip, actions: list) -> None:
        for act in actions:
            if isinstance(act, Connect):
                target = next(
                    (e for p, e in self.engines.items() if e.state.myself.cport == act.node.cport and p not in self.down),
                    None,
                )
                out = Link(inbound=False, node=act.node, peer_ip="127.0.0.1", local_ip="127.0.0.1")
                if target is None:
                    self.apply(eng, eng.on_link_down(out, self.now))
                    continue
                inb = Link(inbound=True, peer_ip="127.0.0.1", local_ip="127.0.0.1")
                self.peer[id(out)] = (eng, out, target, inb)
                self.peer[id(inb)] = (target, inb, eng, out)
                self.apply(eng, eng.on_link_up(out, self.now))
            elif isinstance(act, Send):
                pair = self.peer.get(id(act.link))
                if pair is None:
                    continue
                _, _, other, other_link = pair
                self.queue.append((other, other_link, act.data))
            elif isinstance(act, Close):
                pair = self.peer.pop(id(act.link), None)
                if pair is not None:
                    _, _, other, other_link = pair
                    self.peer.pop(id(other_link), None)
                    self.apply(other, other.on_link_down(other_link, self.now))
            elif isinstance(act, Deliver):
                self.delivered.append((self.port_of(eng), act))

    def pump(self) -> None:
        while self.queue:
            eng, link, data = self.queue.pop(0)
            if self.port_of(eng) in self.down:
                continue
            msg = decode(data)
            pair = self.peer.get(id(link))
            src = self.port_of(pair[2]) if pair else 0
            self.log.append((src, self.port_of(eng), msg.header.type))
            self.apply(eng, eng.on_message(link, msg, self.now))

    def kill(self, port: int) -> None:
        self.down.add(port)
        for key, (me, link, _other, _olink) in list(self.peer.items()):
            if self.port_of(me) == port:
                self.apply(me, [Close(link)])
                self.peer.pop(key, None)

    def run(self, ms: int) -> None:
        end = self.now + ms
        while self.now < end:
            self.now += 100
            for port, eng in self.engines.items():
                if port not in self.down:
                    self.apply(eng, eng.tick(self.now))
            self.pump()

    def meet(self, src: int, dst: int) -> None:
        st = self.engines[src].state
        st.create_handshake_node("127.0.0.1", dst, dst + 10000, self.now)

    def signatures(self) -> set[str]:
        sigs = set()
        for port, eng in self.engines.items():
            if port in self.down:
                continue
            st = eng.state
            parts = sorted(f"{n.node_id}:{st.node_slot_ranges(n)}" for n in st.nodes.values() if n.num_slots)
            sigs.add("|".join(parts))
        return sigs


def three_node_cluster() -> Net:
    net = Net()
    ranges = {7101: (0, 5460), 7102: (5461, 10922), 7103: (10923, 16383)}
    for i, port in enumerate((7101, 7102, 7103), 1):
        eng = net.add(port)
        lo, hi = ranges[port]
        for s in range(lo, hi + 1):
            eng.state.add_slot(eng.state.myself, s)
        set_config_epoch(eng.state, i)
    net.meet(7102, 7101)
    net.meet(7103, 7101)
    return net


def test_create_converges_like_redis_cli_expects() -> None:
    net = three_node_cluster()
    net.run(5000)
    assert len(net.signatures()) == 1
    for eng in net.engines.values():
        st = eng.state
        assert len(st.nodes) == 3
        assert not any(n.in_handshake for n in st.nodes.values())
        assert st.assigned_slot_count() == 16384
        assert st.state_ok
        assert st.current_epoch == 3
        assert all(n.link == LINK_CONNECTED for n in st.others())
        assert st.myself.ip == "127.0.0.1"
    # the first message of the handshake is a MEET, answered by a PONG
    first_from_7102 = next(m for m in net.log if m[:2] == (7102, 7101))
    assert first_from_7102[2] == MsgType.MEET
    assert net.log.index((7101, 7102, MsgType.PONG)) > net.log.index(first_from_7102)


def _converged_after_ms(net: Net, limit_ms: int) -> int | None:
    """Simulated ms until every engine knows every node with its slots (None: not by limit)."""
    waited = 0
    while waited < limit_ms:
        net.run(100)
        waited += 100
        if len(net.signatures()) == 1 and all(len(e.state.nodes) == len(net.engines) for e in net.engines.values()):
            return waited
    return None


@pytest.mark.parametrize("masters", [3, 6])
def test_fresh_cluster_agrees_within_redis_clis_first_check(masters: int) -> None:
    """redis-cli --cluster create MEETs every node from the first one, sleeps a second and
    checks that all nodes agree; only the newcomer pings (no once a second random ping)
    may get the news around within that second, whatever the random draws."""
    ports = [7201 + i for i in range(masters)]
    per = 16384 // masters
    for seed in range(5):
        net = Net()
        for i, port in enumerate(ports):
            eng = net.add(port)
            eng.rng.seed(seed * 100 + i)
            eng.iteration = 1  # keep the random ping (every 10th tick) out of the first second
            lo, hi = i * per, 16383 if i == masters - 1 else (i + 1) * per - 1
            for s in range(lo, hi + 1):
                eng.state.add_slot(eng.state.myself, s)
            set_config_epoch(eng.state, i + 1)
        for port in ports[1:]:
            net.meet(ports[0], port)
        took = _converged_after_ms(net, 900)
        assert took is not None, f"seed {seed}: {net.signatures()}"


def test_ping_cadence_is_about_half_node_timeout() -> None:
    net = three_node_cluster()
    net.run(5000)
    start = len(net.log)
    net.run(10_000)
    pings = [m for m in net.log[start:] if m[2] == MsgType.PING and m[0] == 7101 and m[1] == 7102]
    # ~one ping per second (node_timeout/2 = 1000 ms), plus occasional random ones
    assert 8 <= len(pings) <= 14


def test_failure_detection_and_fail_broadcast() -> None:
    net = three_node_cluster()
    net.run(5000)
    dead = net.engines[7103].state.myself.node_id
    net.kill(7103)
    net.run(6000)
    for port in (7101, 7102):
        st = net.engines[port].state
        assert st.nodes[dead].has(nf.FAIL), port
        assert not st.state_ok
    assert any(m[2] == MsgType.FAIL for m in net.log)


def test_failed_master_returns_and_fail_clears() -> None:
    net = three_node_cluster()
    net.run(5000)
    dead = net.engines[7103].state.myself.node_id
    net.kill(7103)
    net.run(6000)
    net.down.discard(7103)
    net.run(8000)
    for port in (7101, 7102):
        st = net.engines[port].state
        assert not st.nodes[dead].flags & (nf.FAIL | nf.PFAIL)
        assert st.state_ok


def test_forget_blacklist_keeps_node_out() -> None:
    net = three_node_cluster()
    net.run(5000)
    e1, e2, e3 = (net.engines[p] for p in (7101, 7102, 7103))
    gone = e3.state.myself.node_id
    net.apply(e1, e1.forget_node(e1.state.nodes[gone], net.now))
    net.run(3000)
    # 7102 keeps gossiping about 7103, but 7101 does not re-add it while blacklisted
    assert gone not in e1.state.nodes


def test_setslot_style_takeover_spreads_with_bumped_epoch() -> None:
    net = three_node_cluster()
    net.run(5000)
    e1, e2 = net.engines[7101], net.engines[7102]
    st2 = e2.state
    # 7102 takes slot 100 (as SETSLOT NODE at the end of an import would)
    st2.bind_slot(100, st2.myself)
    assert bump_epoch_without_consensus(st2)
    net.apply(e2, e2.broadcast_pong(net.now))
    net.pump()
    assert e1.state.slot_owner[100] is e1.state.nodes[st2.myself.node_id]
    net.run(3000)
    assert len(net.signatures()) == 1


def test_stale_claim_gets_update() -> None:
    net = three_node_cluster()
    net.run(5000)
    e2, e3 = net.engines[7102], net.engines[7103]
    owner = e3.state.myself
    # 7102 wrongly binds 16000 to itself locally without an epoch bump (epoch 2 < 3)
    st2 = e2.state
    st2.bind_slot(16000, st2.myself)
    net.run(2500)
    assert any(m[2] == MsgType.UPDATE and m[1] == 7102 for m in net.log)
    assert st2.slot_owner[16000] is st2.nodes[owner.node_id]


def test_config_epoch_collision_resolves() -> None:
    net = Net()
    for port in (7101, 7102):
        eng = net.add(port)
        set_config_epoch(eng.state, 1)
        eng.state.add_slot(eng.state.myself, port - 7101)
    net.meet(7102, 7101)
    net.run(4000)
    epochs = {e.state.myself.config_epoch for e in net.engines.values()}
    assert len(epochs) == 2


def test_publish_relay() -> None:
    net = three_node_cluster()
    net.run(5000)
    e1 = net.engines[7101]
    net.apply(e1, e1.publish(b"news", b"hello-cluster"))
    net.pump()
    got = sorted((port, d.channel, d.message, d.shard) for port, d in net.delivered)
    assert got == [(7102, b"news", b"hello-cluster", False), (7103, b"news", b"hello-cluster", False)]
    net.delivered.clear()
    # a lone master shard: PUBLISHSHARD goes nowhere
    net.apply(e1, e1.publish(b"ch", b"m", shard=True))
    net.pump()
    assert net.delivered == []


def test_handshake_times_out() -> None:
    net = Net()
    eng = net.add(7101)
    net.meet(7101, 7198)  # nothing listens there
    net.run(1000)
    hs = [n for n in eng.state.nodes.values() if n.in_handshake]
    assert hs and hs[0].link != LINK_CONNECTED
    net.run(1500)
    assert len(eng.state.nodes) == 1


def test_gossip_entry_count_rules() -> None:
    st = ClusterState("a" * 40, node_timeout=TIMEOUT)
    rng = random.Random(1)
    assert gossip_entries(st, rng) == []
    for i in range(2):
        st.add_node(NodeRecord(f"{i + 1:040x}", nf.MASTER, link=LINK_CONNECTED))
    # 3 known nodes -> at most 1 entry
    assert len(gossip_entries(st, rng)) <= 1
    for i in range(2, 30):
        st.add_node(NodeRecord(f"{i + 1:040x}", nf.MASTER, link=LINK_CONNECTED))
    assert len(gossip_entries(st, rng)) <= 3
    # the receiver never hears about itself, nor anyone about us
    receiver = st.nodes[f"{1:040x}"]
    for _ in range(50):
        ids = [e.node_id for e in gossip_entries(st, rng, receiver=receiver)]
        assert receiver.node_id not in ids and st.myself.node_id not in ids and len(ids) == 3
    pf = st.nodes[f"{5:040x}"]
    pf.flags |= nf.PFAIL
    st.stats_pfail_nodes = 1
    entries = gossip_entries(st, rng)
    assert entries[-1].node_id == pf.node_id and entries[-1].flags & nf.PFAIL


def fixture_messages() -> list[dict]:
    return json.loads(BUS_FIXTURE.read_text())["messages"]


def test_captured_meet_creates_handshake_and_gets_pong() -> None:
    meet = fixture_messages()[0]
    assert meet["type"] == "MEET"
    eng = make_engine(7101, "d6db14b3d426415295516ece82eda168b8cc20c7")
    link = Link(inbound=True, peer_ip="127.0.0.1", local_ip="127.0.0.1")
    actions = eng.on_message(link, decode(bytes.fromhex(meet["hex"])), 5000)
    sends = [a for a in actions if isinstance(a, Send)]
    assert len(sends) == 1 and sends[0].link is link
    pong = decode(sends[0].data)
    assert isinstance(pong, PingMessage) and pong.header.type == MsgType.PONG
    assert pong.header.sender == "d6db14b3d426415295516ece82eda168b8cc20c7"
    assert len(sends[0].data) == 2256
    hs = [n for n in eng.state.nodes.values() if n.in_handshake]
    assert len(hs) == 1 and (hs[0].ip, hs[0].port, hs[0].cport) == ("127.0.0.1", 7102, 17102)
    assert not hs[0].has(nf.MEET)
    assert eng.state.myself.ip == "127.0.0.1"
    assert eng.state.save_needed


def test_captured_messages_never_crash_a_fresh_engine() -> None:
    eng = make_engine(7101, "d6db14b3d426415295516ece82eda168b8cc20c7")
    link = Link(inbound=True, peer_ip="127.0.0.1", local_ip="127.0.0.1")
    now = 10_000
    for m in fixture_messages():
        now += 10
        eng.on_message(link, decode(bytes.fromhex(m["hex"])), now)
        eng.tick(now)


def test_captured_fail_and_update_from_known_sender() -> None:
    msgs = fixture_messages()
    fail = next(m for m in msgs if m["type"] == "FAIL")
    # an UPDATE about a third node (one about the sender itself carries no news once
    # the header's configEpoch has been taken, exactly as in Redis)
    upd = next(m for m in msgs if m["type"] == "UPDATE" and m["decoded"]["update_nodename"] != m["decoded"]["sender"])
    for m in (fail, upd):
        decoded = decode(bytes.fromhex(m["hex"]))
        to_id = json.loads(BUS_FIXTURE.read_text())["nodes"][str(m["to_port"])]["node_id"]
        eng = make_engine(m["to_port"], to_id)
        st = eng.state
        sender = NodeRecord(decoded.header.sender, nf.MASTER, ip="127.0.0.1", port=m["from_port"], cport=m["from_port"] + 10000)
        st.add_node(sender)
        if isinstance(decoded, FailMessage):
            st.add_node(NodeRecord(decoded.node_id, nf.MASTER | nf.PFAIL))
            eng.on_message(Link(inbound=True, node=sender), decoded, 1)
            assert st.nodes[decoded.node_id].has(nf.FAIL)
        else:
            assert isinstance(decoded, UpdateMessage)
            if decoded.node_id not in st.nodes:
                st.add_node(NodeRecord(decoded.node_id, nf.MASTER))
            eng.on_message(Link(inbound=True, node=sender), decoded, 1)
            about = st.nodes[decoded.node_id]
            assert about.config_epoch == decoded.config_epoch
            assert about.num_slots == decoded.slots.count()


def test_ping_from_unknown_sender_is_answered_only() -> None:
    a = make_engine(7101)
    b = make_engine(7102)
    link = Link(inbound=True, peer_ip="127.0.0.1", local_ip="127.0.0.1")
    out = Link(inbound=False, node=NodeRecord("f" * 40, nf.MASTER))
    b_ping = b._send_ping  # build a real PING from b
    acts: list = []
    b_ping(out, MsgType.PING, 5, acts)
    actions = a.on_message(link, decode(acts[0].data), 10)
    assert len(a.state.nodes) == 1
    assert [decode(x.data).header.type for x in actions if isinstance(x, Send)] == [MsgType.PONG]


def test_debug_drop_filter_ignores_one_message_type() -> None:
    """DEBUG DROP-CLUSTER-PACKET-FILTER: a node dropping PUBLISH messages counts them as
    received but delivers nothing; the other nodes go on; -1 lifts the filter."""
    net = three_node_cluster()
    net.run(5000)
    e1, deaf = net.engines[7101], net.engines[7102]
    deaf.drop_type = MsgType.PUBLISH
    net.apply(e1, e1.publish(b"news", b"one"))
    net.pump()
    assert [(port, d.message) for port, d in net.delivered] == [(7103, b"one")]
    assert deaf.stats.received[MsgType.PUBLISH] == 1
    # Other types still pass: the node stays in the cluster.
    net.run(3000)
    assert len(net.signatures()) == 1 and deaf.state.state_ok
    net.delivered.clear()
    deaf.drop_type = -1
    net.apply(e1, e1.publish(b"news", b"two"))
    net.pump()
    assert sorted((port, d.message) for port, d in net.delivered) == [(7102, b"two"),
                                                                        (7103, b"two")]


def test_debug_clusterlink_kill_frees_links_and_the_cron_reopens_ours() -> None:
    net = three_node_cluster()
    net.run(5000)
    e1, e2 = net.engines[7101], net.engines[7102]
    peer = e1.state.lookup(e2.state.myself.node_id)
    assert peer is not None and peer in e1.outbound and peer in e1.inbound
    # "to": our link only; what is published meanwhile does not reach that node
    actions = e1.kill_links(peer, outbound=True, inbound=False)
    assert [type(a) for a in actions] == [Close] and peer not in e1.outbound
    assert peer in e1.inbound and peer.link != LINK_CONNECTED
    net.apply(e1, actions)
    net.apply(e1, e1.publish(b"news", b"lost"))
    net.pump()
    assert sorted(port for port, _ in net.delivered) == [7103]
    net.run(300)  # the next cron connects again
    assert peer in e1.outbound and peer.link == LINK_CONNECTED
    # "all": both directions
    actions = e1.kill_links(peer, outbound=True, inbound=True)
    assert len(actions) == 2 and all(isinstance(a, Close) for a in actions)
    net.apply(e1, actions)
    net.run(500)
    assert peer in e1.outbound and peer in e1.inbound


def test_debug_clusterlink_kill_of_a_connecting_link() -> None:
    eng = make_engine(7101)
    st = eng.state
    node = st.create_handshake_node("127.0.0.1", 7102, 17102, 1_000_000)
    assert node is not None
    connects = [a for a in eng.tick(1_000_000) if isinstance(a, Connect) and a.node is node]
    assert connects and node.link != LINK_CONNECTED
    pending = Link(inbound=False, node=node)
    other = Link(inbound=False, node=NodeRecord("c" * 40, 0))
    actions = eng.kill_links(node, outbound=True, inbound=False, connecting=[other, pending])
    assert [a.link for a in actions if isinstance(a, Close)] == [pending]
    # no longer "connecting": the next cron starts a fresh connect (it never would if the
    # node stayed marked connecting with its connect cancelled)
    assert any(isinstance(a, Connect) and a.node is node for a in eng.tick(1_000_100))
