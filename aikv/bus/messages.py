"""The bus message model: one frozen dataclass per message body, each holding the header.

Field values are those of the wire (times in seconds, ids as 40-character strings, the
module id as an integer). Text fields (ids, addresses) are Latin-1 decoded, so any byte a
peer sends maps to one character and back. Decoding is lossless, which is why a few fields exist that
nobody acts on (`*_tail`, `notused`, `mflags_unused`): 7.0 never reads those bytes, but
stale bytes after an address's NUL are real (a node's whole ip buffer is copied into
gossip) and reserved bytes may gain a meaning later, so they are carried, not rejected.
Normal senders leave them empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from aikv.bus.extensions import PingExt, announced_hostname
from aikv.bus.protocol import CLUSTER_STATE_OK
from aikv.bus.slotmap import NO_SLOTS, SlotBitmap


@dataclass(frozen=True, slots=True)
class Header:
    """The 2256-byte header minus what the codec derives (sig, totlen, ver, and the
    gossip/extension counts, which come from the body)."""

    type: int
    sender: str
    current_epoch: int = 0
    config_epoch: int = 0
    offset: int = 0
    myslots: SlotBitmap = NO_SLOTS
    slaveof: str | None = None  # None: all-zero field, the sender is a master
    myip: str = ""  # "" means: use the TCP peer address
    port: int = 0
    cport: int = 0
    pport: int = 0
    flags: int = 0
    state: int = CLUSTER_STATE_OK
    mflags: int = 0  # mflags[0]
    # Carried only so received bytes re-encode exactly (normally all empty):
    myip_tail: bytes = b""  # bytes after myip's NUL, trailing zeros stripped
    notused: bytes = b""  # notused1, trailing zeros stripped
    mflags_unused: bytes = b""  # mflags[1:3], trailing zeros stripped


@dataclass(frozen=True, slots=True)
class GossipEntry:
    """The sender's view of one node. Times are in seconds, as on the wire."""

    node_id: str
    ping_sent: int
    pong_received: int
    ip: str
    port: int
    cport: int
    flags: int
    pport: int = 0
    ip_tail: bytes = b""
    notused: int = 0


@dataclass(frozen=True, slots=True)
class PingMessage:
    """PING, PONG or MEET (header.type tells which)."""

    header: Header
    gossip: tuple[GossipEntry, ...] = ()
    extensions: tuple[PingExt, ...] = ()

    @property
    def hostname(self) -> str | None:
        return announced_hostname(self.extensions)


@dataclass(frozen=True, slots=True)
class FailMessage:
    header: Header
    node_id: str  # the node declared failed


@dataclass(frozen=True, slots=True)
class PublishMessage:
    """PUBLISH or PUBLISHSHARD."""

    header: Header
    channel: bytes
    message: bytes


@dataclass(frozen=True, slots=True)
class UpdateMessage:
    header: Header
    config_epoch: int
    node_id: str  # owner of `slots`
    slots: SlotBitmap


@dataclass(frozen=True, slots=True)
class ModuleMessage:
    header: Header
    module_id: int
    module_type: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class HeaderOnlyMessage:
    """FAILOVER_AUTH_REQUEST, FAILOVER_AUTH_ACK or MFSTART."""

    header: Header


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A type this protocol version does not know; the body is kept raw. Its header
    counts are kept as sent since their meaning for the type is unknown."""

    header: Header
    body: bytes = b""
    count: int = 0
    extensions: int = 0


Message = (
    PingMessage
    | FailMessage
    | PublishMessage
    | UpdateMessage
    | ModuleMessage
    | HeaderOnlyMessage
    | UnknownMessage
)
