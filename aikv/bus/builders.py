"""Constructors for outgoing bus messages, filled the way a 7.0.15 node fills them.

The gossip layer keeps one `Header` describing this node (epochs, myslots, slaveof,
ports, flags, state, and mflags PAUSED during a manual failover) and hands it to these
functions, which set the type and the message-specific mflags bits: EXT_DATA exactly when
a PING/PONG/MEET carries extensions, FORCEACK only on a manual failover auth request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from aikv.bus.extensions import HostnameExt, PingExt
from aikv.bus.protocol import MFLAG0_EXT_DATA, MFLAG0_FORCEACK, MFLAG0_PAUSED, MsgType
from aikv.bus.slotmap import SlotBitmap
from aikv.bus.wire import (
    FailMessage,
    GossipEntry,
    Header,
    HeaderOnlyMessage,
    PingMessage,
    PublishMessage,
    UpdateMessage,
)

_U32 = 0xFFFFFFFF


def _with_type(header: Header, msg_type: int, extra_mflags: int = 0) -> Header:
    # Only PAUSED belongs to the node's state; the other bits describe one message.
    return replace(header, type=msg_type, mflags=(header.mflags & MFLAG0_PAUSED) | extra_mflags)


def gossip_entry(
    node_id: str,
    ip: str,
    port: int,
    cport: int,
    flags: int,
    *,
    ping_sent_ms: int,
    pong_received_ms: int,
    pport: int = 0,
) -> GossipEntry:
    """A gossip entry from millisecond clocks: the wire carries whole seconds (truncated,
    then cut to 32 bits as Redis's htonl does)."""
    return GossipEntry(
        node_id=node_id,
        ping_sent=(ping_sent_ms // 1000) & _U32,
        pong_received=(pong_received_ms // 1000) & _U32,
        ip=ip,
        port=port,
        cport=cport,
        flags=flags,
        pport=pport,
    )


def ping_message(
    header: Header,
    gossip: Iterable[GossipEntry] = (),
    *,
    msg_type: int = MsgType.PING,
    hostname: str | None = None,
    extensions: Iterable[PingExt] = (),
) -> PingMessage:
    """PING, PONG or MEET (`msg_type`). A non-empty `hostname` becomes the first
    extension; 7.0 sends none when no hostname is configured."""
    if msg_type not in (MsgType.PING, MsgType.PONG, MsgType.MEET):
        raise ValueError(f"not a ping type: {msg_type}")
    exts: tuple[PingExt, ...] = tuple(extensions)
    if hostname:
        exts = (HostnameExt(hostname), *exts)
    mflags = MFLAG0_EXT_DATA if exts else 0
    return PingMessage(_with_type(header, msg_type, mflags), tuple(gossip), exts)


def fail_message(header: Header, failed_node_id: str) -> FailMessage:
    return FailMessage(_with_type(header, MsgType.FAIL), failed_node_id)


def update_message(
    header: Header, owner_node_id: str, owner_config_epoch: int, owner_slots: SlotBitmap
) -> UpdateMessage:
    return UpdateMessage(
        _with_type(header, MsgType.UPDATE), owner_config_epoch, owner_node_id, owner_slots
    )


def publish_message(
    header: Header, channel: bytes, message: bytes, *, shard: bool = False
) -> PublishMessage:
    """PUBLISH, or PUBLISHSHARD (from SPUBLISH) when `shard` is true."""
    msg_type = MsgType.PUBLISHSHARD if shard else MsgType.PUBLISH
    return PublishMessage(_with_type(header, msg_type), channel, message)


def failover_auth_request(header: Header, *, force_ack: bool = False) -> HeaderOnlyMessage:
    """`force_ack` for a manual failover: voters grant it even though the master is up."""
    mflags = MFLAG0_FORCEACK if force_ack else 0
    return HeaderOnlyMessage(_with_type(header, MsgType.FAILOVER_AUTH_REQUEST, mflags))


def failover_auth_ack(header: Header) -> HeaderOnlyMessage:
    return HeaderOnlyMessage(_with_type(header, MsgType.FAILOVER_AUTH_ACK))


def mfstart_message(header: Header) -> HeaderOnlyMessage:
    return HeaderOnlyMessage(_with_type(header, MsgType.MFSTART))
