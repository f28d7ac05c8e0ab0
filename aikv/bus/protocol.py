"""Cluster bus protocol constants and the codec's error contract (Redis Cluster 7.0.15).

This is the single home of the bus numbers; `aikv.bus.wire` re-exports all of them.
Node flag bits are in `aikv.cluster.nodeflags`, the slot count in `aikv.cluster.slots`.
Layouts and values: shared/spec/cluster-bus.md §1-§4.
"""

from __future__ import annotations

from enum import IntEnum

from aikv.cluster.slots import CLUSTER_SLOTS

SIGNATURE = b"RCmb"
PROTOCOL_VERSION = 1

# The framing prefix: signature + totlen. Nothing can be decided with fewer bytes.
FRAME_PREFIX_SIZE = 8

NODE_ID_LEN = 40
IP_FIELD_LEN = 46  # NET_IP_STR_LEN: room for an IPv6 text address and its NUL
SLOT_BITMAP_SIZE = CLUSTER_SLOTS // 8

HEADER_SIZE = 2256
GOSSIP_ENTRY_SIZE = 104
FAIL_SIZE = HEADER_SIZE + NODE_ID_LEN  # 2296
UPDATE_SIZE = HEADER_SIZE + 8 + NODE_ID_LEN + SLOT_BITMAP_SIZE  # 4352
PUBLISH_FIXED_SIZE = HEADER_SIZE + 8  # + channel_len + message_len
MODULE_FIXED_SIZE = HEADER_SIZE + 13  # + payload len

EXT_HEADER_SIZE = 8
EXT_ALIGN = 8
# 7.0.15 validates extension lengths in a 16-bit variable but walks them with the full
# 32-bit value, so a longer extension is misread; never send one, and refuse to read one.
MAX_EXT_LEN = 0xFFFF - 0xFFFF % EXT_ALIGN  # 65528

# Redis itself puts no bound on totlen. The largest message a well-behaved node can
# legitimately send is a PUBLISH whose channel and message are each at the client
# protocol's bulk limit (proto-max-bulk-len, 512 MiB by default); every other type is far
# smaller (a PING with 65535 gossip entries is under 7 MiB). Link code is expected to pass
# a lower cap to the framing functions when it does not carry large pub/sub payloads.
MAX_BULK_LEN = 512 * 1024 * 1024
MAX_TOTLEN = PUBLISH_FIXED_SIZE + 2 * MAX_BULK_LEN


class MsgType(IntEnum):
    """Message type codes (header offset 12). Codes 11+ are unknown to 7.0 and are
    accepted as `UnknownMessage`."""

    PING = 0
    PONG = 1
    MEET = 2
    FAIL = 3
    PUBLISH = 4
    FAILOVER_AUTH_REQUEST = 5
    FAILOVER_AUTH_ACK = 6
    UPDATE = 7
    MFSTART = 8
    MODULE = 9
    PUBLISHSHARD = 10


MSG_TYPE_COUNT = 11  # size of the per-type statistics arrays

# Per-type names used by CLUSTER INFO: cluster_stats_messages_<name>_sent/received.
MSG_STAT_NAMES: dict[int, str] = {
    MsgType.PING: "ping",
    MsgType.PONG: "pong",
    MsgType.MEET: "meet",
    MsgType.FAIL: "fail",
    MsgType.PUBLISH: "publish",
    MsgType.FAILOVER_AUTH_REQUEST: "auth-req",
    MsgType.FAILOVER_AUTH_ACK: "auth-ack",
    MsgType.UPDATE: "update",
    MsgType.MFSTART: "mfstart",
    MsgType.MODULE: "module",
    MsgType.PUBLISHSHARD: "publishshard",
}

PING_TYPES = frozenset({MsgType.PING, MsgType.PONG, MsgType.MEET})
PUBLISH_TYPES = frozenset({MsgType.PUBLISH, MsgType.PUBLISHSHARD})
HEADER_ONLY_TYPES = frozenset(
    {MsgType.FAILOVER_AUTH_REQUEST, MsgType.FAILOVER_AUTH_ACK, MsgType.MFSTART}
)
KNOWN_TYPES = frozenset(int(t) for t in MsgType)


def msg_type_name(code: int) -> str:
    """Readable name for logs; unknown codes are rendered as numbers."""
    try:
        return MsgType(code).name
    except ValueError:
        return f"unknown({code})"


# mflags[0] bits (header offset 2253; mflags[1] and [2] are unused).
MFLAG0_PAUSED = 0x01
MFLAG0_FORCEACK = 0x02
MFLAG0_EXT_DATA = 0x04


class ExtType(IntEnum):
    """Ping extension types. 7.0 only sends HOSTNAME; the others come from 7.2+ peers."""

    HOSTNAME = 0
    HUMAN_NODENAME = 1
    FORGOTTEN_NODE = 2
    SHARDID = 3


# Header `state` byte: the sender's view of the cluster.
CLUSTER_STATE_OK = 0
CLUSTER_STATE_FAIL = 1


class BusWireError(Exception):
    """Base of every error `decode` and the framing helpers raise about received bytes."""


class CloseLink(BusWireError):
    """The byte stream cannot be resynchronised: the link must be closed.

    Raised for a bad signature, a totlen below the header size, or a totlen above the
    caller's cap (7.0.15 closes in the first two cases; the third is AiKv's own limit)."""


class DropMessage(BusWireError):
    """A well-framed message that must be ignored while the link stays open.

    `msg_type` is the header's type code (7.0.15 counts a received message in its
    per-type statistics before validating it)."""

    def __init__(self, reason: str, msg_type: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.msg_type = msg_type


class FrameMismatch(BusWireError):
    """`decode` was handed something other than exactly one framed message (fewer bytes
    than its totlen, or more). A caller error: framing should have prevented it."""
