"""The cluster bus protocol engine, sans-I/O.

The runtime (aikv/bus/link.py) owns sockets and hands this engine decoded messages
(`on_message`), link events (`on_link_up`, `on_link_down`) and a 100 ms heartbeat
(`tick`), always with `now_ms`. Every call returns a list of actions for the runtime to
carry out: send bytes on a link, open an outbound link to a node, close a link, deliver a
pub/sub message, delete keys of slots we lost, and for failovers (aikv/bus/failover.py,
the engine's other half) save durably before sending, pause or resume writes.

Links: every node opens its own outbound link to each peer and sends its requests there;
replies go back on the link the request came in on. A PONG counts as the answer to our
PING only when it arrives on our outbound link.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from aikv.bus.builders import fail_message, ping_message, publish_message, update_message
from aikv.bus.failover import DurableSave, FailoverDriver, PauseWrites, ResumeWrites
from aikv.bus.protocol import MFLAG0_PAUSED, MSG_TYPE_COUNT, MsgType
from aikv.bus.wire import (
    FailMessage,
    Header,
    HeaderOnlyMessage,
    Message,
    PingMessage,
    PublishMessage,
    SlotBitmap,
    UnknownMessage,
    UpdateMessage,
    encode,
)
from aikv.cluster import failure
from aikv.cluster import nodeflags as nf
from aikv.cluster.announce import Announce, gossip_entries, my_header
from aikv.cluster.epochs import (
    first_stale_claim,
    handle_config_epoch_collision,
    observe_header_epochs,
    update_slots_config_with,
)
from aikv.cluster.state import (
    LINK_CONNECTED,
    LINK_CONNECTING,
    LINK_NONE,
    ClusterState,
    NodeRecord,
    is_valid_node_id,
)

log = logging.getLogger("aikv.bus")

# The cron runs every 100 ms; every 10th run also pings a random, long-unpinged node.
CRON_PERIOD_MS = 100
RANDOM_PING_EVERY = 10
# Handshakes that do not complete within max(node_timeout, this) are abandoned.
MIN_HANDSHAKE_TIMEOUT_MS = 1000


@dataclass(eq=False)
class Link:
    """One bus connection, as the engine sees it. The runtime creates it (inbound on
    accept, outbound on Connect) and passes the same object back with every event."""

    inbound: bool
    node: NodeRecord | None = None
    peer_ip: str = ""
    local_ip: str = ""
    ctime: int = 0


@dataclass
class Send:
    link: Link
    data: bytes


@dataclass
class Connect:
    node: NodeRecord


@dataclass
class Close:
    link: Link


@dataclass
class Deliver:
    """A PUBLISH / PUBLISHSHARD from another node, for our local subscribers."""

    channel: bytes
    message: bytes
    shard: bool


@dataclass
class SlotsLostWithKeys:
    """Slots another master's claim took from us while we still hold keys in them.
    Redis deletes such keys; AiKv keeps them (see ClusterNode._slots_lost_with_keys)."""

    slots: list[int]
    claimant: str


Action = Send | Connect | Close | Deliver | SlotsLostWithKeys | DurableSave | PauseWrites | ResumeWrites
__all__ = ["Action", "Close", "Connect", "Deliver", "DurableSave", "Gossip", "Link", "PauseWrites",
           "ResumeWrites", "Send", "SlotsLostWithKeys", "payloads"]


@dataclass
class BusStats:
    sent: list[int] = field(default_factory=lambda: [0] * MSG_TYPE_COUNT)
    received: list[int] = field(default_factory=lambda: [0] * MSG_TYPE_COUNT)


class Gossip:
    def __init__(
        self,
        state: ClusterState,
        announce: Announce,
        *,
        rng: random.Random | None = None,
        has_keys_in_slot: Callable[[int], bool] | None = None,
    ) -> None:
        self.state = state
        self.announce = announce
        self.rng = rng or random.Random()
        self.has_keys_in_slot = has_keys_in_slot
        self.outbound: dict[NodeRecord, Link] = {}
        self.inbound: dict[NodeRecord, Link] = {}
        self.iteration = 0
        # Peers owed a ping because a node joined our view while their ping was in flight.
        self._owed_news: set[NodeRecord] = set()
        self.stats = BusStats()
        # DEBUG DROP-CLUSTER-PACKET-FILTER: messages of this type are counted and then
        # ignored (-1: none), a test's way to cut one kind of traffic.
        self.drop_type = -1
        # Votes, elections and manual failovers (aikv/bus/failover.py).
        self.failover = FailoverDriver(self)
        # Our replication offset right now, if the runtime can tell (else the offset in
        # our record, kept by the runtime's cron, goes into headers).
        self.repl_offset_now: Callable[[], int] | None = None

    # --- outgoing ----------------------------------------------------------------------

    def header(self) -> Header:
        self.refresh_repl_offset()
        header = my_header(self.state, self.announce)
        if self.failover.paused_master:
            # Our writes are paused for a replica's manual failover: the offset in this
            # header is final.
            header = replace(header, mflags=MFLAG0_PAUSED)
        return header

    def refresh_repl_offset(self) -> None:
        if self.repl_offset_now is not None:
            self.state.myself.repl_offset = self.repl_offset_now()

    def _send(self, link: Link, msg: Message, actions: list[Action]) -> None:
        msg_type = msg.header.type
        if 0 <= msg_type < MSG_TYPE_COUNT:
            self.stats.sent[msg_type] += 1
        actions.append(Send(link, encode(msg)))

    def _send_ping(self, link: Link, msg_type: int, now_ms: int, actions: list[Action]) -> None:
        if link.node is not None and msg_type == MsgType.PING:
            link.node.ping_sent = now_ms
        entries = gossip_entries(self.state, self.rng, receiver=link.node)
        msg = ping_message(self.header(), entries, msg_type=msg_type, hostname=self.announce.hostname or None)
        self._send(link, msg, actions)

    def _broadcast(self, msg: Message, actions: list[Action]) -> None:
        for node, link in list(self.outbound.items()):
            if node.flags & (nf.MYSELF | nf.HANDSHAKE):
                continue
            self._send(link, msg, actions)

    def broadcast_pong(self, now_ms: int, *, local_replicas_only: bool = False) -> list[Action]:
        """Tell everyone our (new) configuration at once instead of waiting for the
        next pings, e.g. after taking a slot with a bumped epoch. `local_replicas_only`:
        just the replicas of our shard (a replica scheduling an election tells its
        siblings its offset, so that they rank themselves against it)."""
        actions: list[Action] = []
        myself = self.state.myself
        for node, link in list(self.outbound.items()):
            if node.flags & (nf.MYSELF | nf.HANDSHAKE):
                continue
            if local_replicas_only and not (
                node.is_replica and node.master_id is not None
                and node.master_id in (myself.node_id, myself.master_id)
            ):
                continue
            self._send_ping(link, MsgType.PONG, now_ms, actions)
        return actions

    def manual_failover(self, mode: str, now_ms: int) -> list[Action]:
        """CLUSTER FAILOVER [FORCE|TAKEOVER] on a replica (see FailoverDriver)."""
        return self.failover.manual_failover(mode, now_ms)

    def publish(self, channel: bytes, message: bytes, *, shard: bool = False) -> list[Action]:
        """PUBLISH goes to every node; PUBLISHSHARD only to our own shard (our master
        or ourselves, and its replicas)."""
        actions: list[Action] = []
        msg = publish_message(self.header(), channel, message, shard=shard)
        if not shard:
            self._broadcast(msg, actions)
            return actions
        head = self.state.my_master_or_me()
        if head is None:
            return actions
        members = [head, *self.state.replicas_of(head)]
        for node in members:
            link = self.outbound.get(node)
            if node is not self.state.myself and link is not None:
                self._send(link, msg, actions)
        return actions

    # --- node lifecycle ----------------------------------------------------------------

    def delete_node(self, node: NodeRecord, actions: list[Action]) -> None:
        self._drop_links(node, actions)
        self.state.del_node(node)

    def forget_node(self, node: NodeRecord, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        self._drop_links(node, actions)
        self.state.forget(node, now_ms)
        return actions

    def reset(self, *, hard: bool, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        self.failover.reset_manual_failover(actions)
        for node in self.state.others():
            self._drop_links(node, actions)
        self.state.reset(hard=hard, now_ms=now_ms)
        return actions

    def _drop_links(self, node: NodeRecord, actions: list[Action]) -> None:
        out = self.outbound.pop(node, None)
        if out is not None:
            actions.append(Close(out))
        inb = self.inbound.pop(node, None)
        if inb is not None:
            actions.append(Close(inb))
        node.link = LINK_NONE

    def free_link(self, link: Link) -> list[Action]:
        """Drop one link at our initiative (its send buffer passed
        cluster-link-sendbuf-limit): an outbound one is reconnected by the next cron, as
        after Redis's freeClusterLink."""
        node = link.node
        if node is not None:
            table = self.inbound if link.inbound else self.outbound
            if table.get(node) is link:
                del table[node]
                if not link.inbound:
                    node.link = LINK_NONE
        return [Close(link)]

    def kill_links(self, node: NodeRecord, *, outbound: bool, inbound: bool,
                   connecting: Iterable[Link] = ()) -> list[Action]:
        """DEBUG CLUSTERLINK KILL: free our link to `node` (`outbound`), its link to us
        (`inbound`), or both, as if each had broken. What was waiting to go out on them is
        lost; the next cron opens our link again, the peer's cron its own. `connecting`
        are the runtime's outbound links still connecting: one to `node` counts as our
        link (Redis's node->link exists from the start of the connect)."""
        actions: list[Action] = []
        if outbound:
            if node.link == LINK_CONNECTING and node not in self.outbound:
                actions.extend(Close(pending) for pending in connecting
                               if pending.node is node and not pending.inbound)
            self._free_outbound(node, actions)
        if inbound:
            link = self.inbound.get(node)
            if link is not None:
                actions.extend(self.free_link(link))
        return actions

    def _free_outbound(self, node: NodeRecord, actions: list[Action]) -> None:
        link = self.outbound.pop(node, None)
        if link is not None:
            actions.append(Close(link))
        node.link = LINK_NONE

    # --- link events -------------------------------------------------------------------

    def on_link_up(self, link: Link, now_ms: int) -> list[Action]:
        """Our outbound connect succeeded: greet with MEET if asked to, else PING. An
        outstanding ping survives the reconnect so failure detection keeps counting."""
        actions: list[Action] = []
        node = link.node
        if link.inbound or node is None or self.state.nodes.get(node.node_id) is not node:
            actions.append(Close(link))
            return actions
        node.link = LINK_CONNECTED
        self.outbound[node] = link
        old_ping_sent = node.ping_sent
        self._send_ping(link, MsgType.MEET if node.has(nf.MEET) else MsgType.PING, now_ms, actions)
        if old_ping_sent:
            node.ping_sent = old_ping_sent
        node.flags &= ~nf.MEET
        return actions

    def on_link_down(self, link: Link, now_ms: int) -> list[Action]:
        node = link.node
        if node is None:
            return []
        if link.inbound:
            if self.inbound.get(node) is link:
                del self.inbound[node]
            return []
        if self.outbound.get(node) is link or (node.link == LINK_CONNECTING and node not in self.outbound):
            self.outbound.pop(node, None)
            node.link = LINK_NONE
            # An unreachable node must still end up PFAIL: count from the failed attempt.
            if node.ping_sent == 0:
                node.ping_sent = now_ms
        return []

    # --- the cron ----------------------------------------------------------------------

    def tick(self, now_ms: int) -> list[Action]:
        st = self.state
        actions: list[Action] = []
        self.iteration += 1
        timeout = st.node_timeout
        handshake_timeout = max(timeout, MIN_HANDSHAKE_TIMEOUT_MS)
        st.blacklist_cleanup(now_ms)

        pfail_nodes = 0
        for node in list(st.nodes.values()):
            if node.flags & (nf.MYSELF | nf.NOADDR):
                continue
            if node.has(nf.PFAIL):
                pfail_nodes += 1
            if node.in_handshake and now_ms - node.ctime > handshake_timeout:
                self.delete_node(node, actions)
                continue
            # No check on the port: Redis dials bus port 0 too, and the failed attempt
            # is what lets such a node go PFAIL/FAIL instead of looking healthy forever.
            if node.link == LINK_NONE:
                node.link = LINK_CONNECTING
                node.link_ctime = now_ms
                actions.append(Connect(node))
        st.stats_pfail_nodes = pfail_nodes

        if self._owed_news:
            for node in list(self._owed_news):
                link = self.outbound.get(node)
                if link is None or st.nodes.get(node.node_id) is not node:
                    self._owed_news.discard(node)
                elif not node.ping_sent:
                    self._owed_news.discard(node)
                    self._send_ping(link, MsgType.PING, now_ms, actions)

        if self.iteration % RANDOM_PING_EVERY == 0:
            candidates = list(st.nodes.values())
            oldest: NodeRecord | None = None
            for _ in range(5):
                node = self.rng.choice(candidates)
                if node.link != LINK_CONNECTED or node.ping_sent != 0:
                    continue
                if node.flags & (nf.MYSELF | nf.HANDSHAKE):
                    continue
                if oldest is None or node.pong_received < oldest.pong_received:
                    oldest = node
            if oldest is not None and oldest in self.outbound:
                self._send_ping(self.outbound[oldest], MsgType.PING, now_ms, actions)

        for node in list(st.nodes.values()):
            if node.flags & (nf.MYSELF | nf.NOADDR | nf.HANDSHAKE):
                continue
            ping_delay = now_ms - node.ping_sent
            data_delay = now_ms - node.data_received
            link = self.outbound.get(node)
            # A link that carries nothing back for a while is probably wedged; drop it
            # and let the next tick reconnect, well before PFAIL would trigger.
            if (
                link is not None
                and now_ms - node.link_ctime > timeout
                and node.ping_sent
                and ping_delay > timeout // 2
                and data_delay > timeout // 2
            ):
                self._free_outbound(node, actions)
                link = None
            # Ping every node at least every node_timeout/2, so a healthy node never
            # looks silent for a whole timeout.
            if link is not None and node.ping_sent == 0 and now_ms - node.pong_received > timeout // 2:
                self._send_ping(link, MsgType.PING, now_ms, actions)
                continue
            # The replica running a manual failover with us waits for our paused offset:
            # keep it coming every tick.
            if link is not None and self.failover.pings_every_tick(node):
                self._send_ping(link, MsgType.PING, now_ms, actions)
                continue
            if node.ping_sent == 0:
                continue
            if min(ping_delay, data_delay) > timeout and failure.mark_pfail(node):
                log.info("*** NODE %s possibly failing", node.node_id)
                st.state_eval_needed = True

        self.failover.cron(now_ms, actions)

        if st.state_eval_needed or not st.state_ok:
            failure.update_state(st, now_ms)
        return actions

    # --- incoming ----------------------------------------------------------------------

    def on_message(self, link: Link, msg: Message, now_ms: int) -> list[Action]:
        st = self.state
        actions: list[Action] = []
        hdr = msg.header
        failover_now = False
        if 0 <= hdr.type < MSG_TYPE_COUNT:
            self.stats.received[hdr.type] += 1
        if hdr.type == self.drop_type:
            log.warning("Dropping packet that matches debug drop filter")
            return actions

        if link.node is not None and not link.node.in_handshake:
            sender: NodeRecord | None = link.node
        else:
            sender = st.lookup(hdr.sender)
            if sender is not None and link.inbound and link.node is None:
                self._bind_inbound(link, sender, actions)
        if sender is not None:
            sender.data_received = now_ms
            if not sender.in_handshake:
                observe_header_epochs(st, sender, hdr.current_epoch, hdr.config_epoch)
                sender.repl_offset = hdr.offset
                failover_now = self.failover.observe_header(sender, hdr)

        if isinstance(msg, PingMessage):
            self._on_ping_family(link, msg, sender, now_ms, actions)
        elif isinstance(msg, FailMessage):
            if sender is not None:
                failing = st.lookup(msg.node_id)
                if failing is not None and failure.mark_failed_by_message(st, failing, now_ms):
                    log.info("FAIL message received from %s about %s", sender.node_id, msg.node_id)
        elif isinstance(msg, PublishMessage):
            if sender is not None:
                actions.append(Deliver(msg.channel, msg.message, hdr.type == MsgType.PUBLISHSHARD))
        elif isinstance(msg, UpdateMessage):
            if sender is not None:
                self._on_update(msg, actions)
        elif isinstance(msg, HeaderOnlyMessage):
            if sender is not None:
                failover_now = self.failover.on_message(link, sender, hdr, now_ms, actions) or failover_now
        elif isinstance(msg, UnknownMessage):
            log.debug("unknown bus message type %d ignored", hdr.type)
        # MODULE: no modules; the header has been taken into account above.
        if failover_now:
            # An ack or the paused master's offset may let the election progress: do not
            # wait for the next cron (Redis handles it before the event loop sleeps).
            self.failover.step(now_ms, actions)
        return actions

    def _bind_inbound(self, link: Link, node: NodeRecord, actions: list[Action]) -> None:
        old = self.inbound.get(node)
        if old is not None and old is not link:
            # The peer reconnected; its previous inbound link is dead weight.
            actions.append(Close(old))
        link.node = node
        self.inbound[node] = link

    def _on_ping_family(
        self, link: Link, msg: PingMessage, sender: NodeRecord | None, now_ms: int, actions: list[Action]
    ) -> None:
        st = self.state
        hdr = msg.header
        msg_type = hdr.type

        if msg_type in (MsgType.PING, MsgType.MEET):
            # A fresh node learns its own address from the first MEET it receives:
            # whatever address the peer reached us at is one the cluster can use.
            if (msg_type == MsgType.MEET or not st.myself.ip) and not self.announce.ip and link.local_ip:
                if st.myself.ip != link.local_ip:
                    st.myself.ip = link.local_ip
                    st.mark_dirty()
            if sender is None and msg_type == MsgType.MEET:
                node = st.create_handshake_node(
                    hdr.myip or link.peer_ip, hdr.port, hdr.cport, now_ms, meet=False
                )
                if node is not None:
                    node.pport = hdr.pport
                    st.mark_dirty()
                # An unknown sender's gossip may only refresh what we already know.
                self._process_gossip(msg, None, now_ms, actions)
            # Always answer, even an unknown sender: that is how it learns our id.
            self._send_ping(link, MsgType.PONG, now_ms, actions)

        node = link.node
        joined: NodeRecord | None = None
        if not link.inbound and node is not None:
            if node.in_handshake:
                if sender is not None:
                    # We MEETed an address that turns out to be a node we already know.
                    self._update_address(sender, link, hdr, actions)
                    self.delete_node(node, actions)
                    return
                st.rename_node(node, hdr.sender)
                node.flags &= ~nf.HANDSHAKE
                node.flags |= hdr.flags & (nf.MASTER | nf.SLAVE)
                log.info("handshake with node %s completed", node.node_id)
                st.mark_dirty()
                joined = node
            elif node.node_id != hdr.sender:
                # Someone else now answers at this address: the address is stale.
                node.flags |= nf.NOADDR
                node.ip, node.port, node.cport, node.pport = "", 0, 0, 0
                self._free_outbound(node, actions)
                st.mark_dirty()
                return

        if sender is not None:
            sender.flags = (sender.flags & ~nf.NOFAILOVER) | (hdr.flags & nf.NOFAILOVER)
            if msg_type == MsgType.PING and not sender.in_handshake:
                if self._update_address(sender, link, hdr, actions):
                    st.mark_dirty(update_state=True)

        if not link.inbound and msg_type == MsgType.PONG and node is not None:
            node.pong_received = now_ms
            node.ping_sent = 0
            if node.has(nf.PFAIL):
                failure.clear_pfail(st, node)
            elif node.has(nf.FAIL):
                failure.clear_failure_if_needed(st, node, now_ms)
        if joined is not None:
            self._spread_news(joined, now_ms, actions)

        if sender is None:
            return

        # Role, as the header says it now.
        if hdr.slaveof is None:
            st.set_node_as_master(sender)
        else:
            st.set_node_as_replica(sender, st.lookup(hdr.slaveof))

        claimed = hdr.myslots.bits
        sender_master = sender if sender.is_master else st.master_of(sender)
        dirty = sender_master is not None and bytes(sender_master.slots) != claimed
        if dirty and sender.is_master:
            result = update_slots_config_with(
                st, sender, hdr.config_epoch, claimed, has_keys_in_slot=self.has_keys_in_slot
            )
            if result.dirty_slots:
                actions.append(SlotsLostWithKeys(result.dirty_slots, sender.node_id))
            if result.new_master is not None:
                log.warning("Configuration change detected. Reconfiguring myself as a replica of %s",
                            result.new_master.node_id)
                self.failover.reset_manual_failover(actions)
        if dirty:
            stale_for = first_stale_claim(st, sender, hdr.config_epoch, claimed)
            if stale_for is not None:
                self._send_update(sender, stale_for, actions)

        if sender.is_master and st.myself.is_master and hdr.config_epoch == st.myself.config_epoch:
            if handle_config_epoch_collision(st, sender):
                log.warning("configEpoch collision with %s: moved to epoch %d", sender.node_id, st.myself.config_epoch)

        self._process_gossip(msg, sender, now_ms, actions)
        sender.hostname = msg.hostname or ""

    def _spread_news(self, newcomer: NodeRecord, now_ms: int, actions: list[Action],
                     skip: NodeRecord | None = None) -> None:
        """A node just joined our view: ping the peers we can reach now, so the gossip
        sections carry it on within one round trip instead of waiting for the once a
        second random ping (a fresh cluster then agrees well inside redis-cli's first
        one-second check). The newcomer is pinged too when we already have a link to it
        (a handshake that just completed): our gossip tells it about the others. Only
        one ping is in flight per peer (one whose ping is out is pinged by the cron after
        its pong), which bounds the extra traffic however many nodes join."""
        for node, link in list(self.outbound.items()):
            if node is skip or node.flags & (nf.MYSELF | nf.HANDSHAKE):
                continue
            if node.ping_sent:
                self._owed_news.add(node)  # the cron pings it once its pong is back
            else:
                self._send_ping(link, MsgType.PING, now_ms, actions)

    def _send_update(self, to: NodeRecord, about: NodeRecord, actions: list[Action]) -> None:
        link = self.outbound.get(to)
        if link is None:
            return
        bitmap = SlotBitmap(self.state.update_bitmap_for(about))
        self._send(link, update_message(self.header(), about.node_id, about.config_epoch, bitmap), actions)

    def _on_update(self, msg: UpdateMessage, actions: list[Action]) -> None:
        st = self.state
        node = st.lookup(msg.node_id)
        if node is None or node.config_epoch >= msg.config_epoch:
            return
        if node.is_replica:
            st.set_node_as_master(node)
        node.config_epoch = msg.config_epoch
        st.mark_dirty(fsync=True, update_state=True)
        result = update_slots_config_with(
            st, node, msg.config_epoch, msg.slots.bits, has_keys_in_slot=self.has_keys_in_slot
        )
        if result.dirty_slots:
            actions.append(SlotsLostWithKeys(result.dirty_slots, node.node_id))
        if result.new_master is not None:
            log.warning("Configuration change detected. Reconfiguring myself as a replica of %s",
                        result.new_master.node_id)
            self.failover.reset_manual_failover(actions)

    def _update_address(self, node: NodeRecord, link: Link, hdr: Header, actions: list[Action]) -> bool:
        """Adopt the address a node reaches us from, if it changed (a restart on another
        address). Never from our own outbound link: that one we dialed ourselves."""
        if self.outbound.get(node) is link:
            return False
        ip = hdr.myip or link.peer_ip
        if node.port == hdr.port and node.cport == hdr.cport and node.pport == hdr.pport and node.ip == ip:
            return False
        node.ip, node.port, node.cport, node.pport = ip, hdr.port, hdr.cport, hdr.pport
        self._free_outbound(node, actions)
        node.flags &= ~nf.NOADDR
        log.info("address updated for node %s: %s:%d", node.node_id, ip, hdr.port)
        return True

    def _process_gossip(
        self, msg: PingMessage, sender: NodeRecord | None, now_ms: int, actions: list[Action]
    ) -> None:
        st = self.state
        for entry in msg.gossip:
            flags = entry.flags
            node = st.lookup(entry.node_id)
            if node is None:
                if (
                    sender is not None
                    and not flags & nf.NOADDR
                    and is_valid_node_id(entry.node_id)
                    and not st.is_blacklisted(entry.node_id, now_ms)
                ):
                    # Learning peers from gossip is what lets one MEET join a whole cluster.
                    learned = NodeRecord(
                        entry.node_id,
                        flags & ~(nf.MYSELF | nf.MEET),
                        ip=entry.ip,
                        port=entry.port,
                        cport=entry.cport,
                        pport=entry.pport,
                    )
                    st.add_node(learned)
                    self._spread_news(learned, now_ms, actions, skip=sender)
                continue

            failing = flags & (nf.PFAIL | nf.FAIL)
            if sender is not None and sender.is_master and node is not st.myself:
                if failing:
                    failure.add_failure_report(node, sender, now_ms)
                    if failure.mark_failing_if_needed(st, node, now_ms):
                        log.info("marking node %s as failing (quorum reached)", node.node_id)
                        self._broadcast(fail_message(self.header(), node.node_id), actions)
                else:
                    failure.del_failure_report(st, node, sender, now_ms)

            if not failing and node.ping_sent == 0 and failure.count_failure_reports(st, node, now_ms) == 0:
                pong_ms = entry.pong_received * 1000
                if pong_ms <= now_ms + 500 and pong_ms > node.pong_received:
                    node.pong_received = pong_ms

            if (
                node.flags & (nf.FAIL | nf.PFAIL)
                and not flags & nf.NOADDR
                and not failing
                and (node.ip != entry.ip or node.port != entry.port or node.cport != entry.cport)
            ):
                self._free_outbound(node, actions)
                node.ip, node.port, node.cport, node.pport = entry.ip, entry.port, entry.cport, entry.pport
                node.flags &= ~nf.NOADDR


def payloads(actions: Iterable[Action]) -> list[bytes]:
    """The bytes of every Send, in order (handy for tests and logging)."""
    return [a.data for a in actions if isinstance(a, Send)]
