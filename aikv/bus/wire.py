"""Cluster bus wire codec, byte-compatible with Redis Cluster 7.0.15 (sans-I/O, no state).

Reading a stream:
    frame_length(buf) -> None while fewer than 8 bytes are buffered, else the totlen of the
    message at the start of buf; raises CloseLink on a bad signature, a totlen below 2256
    or above the cap. `FrameReader` wraps that around a growing buffer.
    decode(frame) -> Message for exactly one framed message. Its outcomes:
      * a message object (UnknownMessage for type codes 7.0 does not know: the header is
        still there, because a known sender's epochs count even then);
      * DropMessage: ignore the message, keep the link (ver != 1, totlen not matching the
        type's expected length, bad extension lengths, ...);
      * CloseLink: the framing checks above failed (normally caught by frame_length first);
      * FrameMismatch: the buffer is not exactly one frame (caller error).
    No other exception escapes decode. All of them derive from BusWireError.

Writing: encode(message) -> bytes; ValueError if a field cannot be represented. The
builders in `aikv.bus.builders` produce messages the way a 7.0 node fills them.

Decoding is lossless: encode(decode(frame)) == frame for every frame decode accepts
(see `aikv.bus.messages` for the fields that make that possible). Everything a caller
needs is importable from here.
"""

from __future__ import annotations

from struct import Struct
from struct import error as StructError

from aikv.bus.extensions import (
    ForgottenNodeExt,
    HostnameExt,
    HumanNodenameExt,
    PingExt,
    RawExt,
    ShardIdExt,
    decode_extensions,
    encode_extensions,
)
from aikv.bus.framing import Buffer, FrameReader, check_prefix, frame_length
from aikv.bus.messages import (
    FailMessage,
    GossipEntry,
    Header,
    HeaderOnlyMessage,
    Message,
    ModuleMessage,
    PingMessage,
    PublishMessage,
    UnknownMessage,
    UpdateMessage,
)
from aikv.bus.protocol import (
    CLUSTER_STATE_FAIL,
    CLUSTER_STATE_OK,
    FAIL_SIZE,
    FRAME_PREFIX_SIZE,
    GOSSIP_ENTRY_SIZE,
    HEADER_ONLY_TYPES,
    HEADER_SIZE,
    IP_FIELD_LEN,
    KNOWN_TYPES,
    MAX_TOTLEN,
    MFLAG0_EXT_DATA,
    MFLAG0_FORCEACK,
    MFLAG0_PAUSED,
    MODULE_FIXED_SIZE,
    MSG_STAT_NAMES,
    MSG_TYPE_COUNT,
    NODE_ID_LEN,
    PING_TYPES,
    PROTOCOL_VERSION,
    PUBLISH_FIXED_SIZE,
    PUBLISH_TYPES,
    SIGNATURE,
    SLOT_BITMAP_SIZE,
    UPDATE_SIZE,
    BusWireError,
    CloseLink,
    DropMessage,
    ExtType,
    FrameMismatch,
    MsgType,
    msg_type_name,
)
from aikv.bus.slotmap import ALL_SLOTS, NO_SLOTS, SlotBitmap

__all__ = [
    "ALL_SLOTS",
    "CLUSTER_STATE_FAIL",
    "CLUSTER_STATE_OK",
    "FAIL_SIZE",
    "GOSSIP_ENTRY_SIZE",
    "HEADER_SIZE",
    "MAX_TOTLEN",
    "MFLAG0_EXT_DATA",
    "MFLAG0_FORCEACK",
    "MFLAG0_PAUSED",
    "MODULE_FIXED_SIZE",
    "MSG_STAT_NAMES",
    "MSG_TYPE_COUNT",
    "NODE_ID_LEN",
    "NO_SLOTS",
    "PROTOCOL_VERSION",
    "PUBLISH_FIXED_SIZE",
    "SIGNATURE",
    "SLOT_BITMAP_SIZE",
    "UPDATE_SIZE",
    "BusWireError",
    "CloseLink",
    "DropMessage",
    "ExtType",
    "FailMessage",
    "ForgottenNodeExt",
    "FrameMismatch",
    "FrameReader",
    "GossipEntry",
    "Header",
    "HeaderOnlyMessage",
    "HostnameExt",
    "HumanNodenameExt",
    "Message",
    "ModuleMessage",
    "MsgType",
    "PingExt",
    "PingMessage",
    "PublishMessage",
    "RawExt",
    "ShardIdExt",
    "SlotBitmap",
    "UnknownMessage",
    "UpdateMessage",
    "decode",
    "encode",
    "frame_length",
    "msg_type_name",
]

_HEADER = Struct(
    ">4sIHHHH"  # sig, totlen, ver, port, type, count
    "QQQ"  # currentEpoch, configEpoch, offset
    f"{NODE_ID_LEN}s{SLOT_BITMAP_SIZE}s{NODE_ID_LEN}s{IP_FIELD_LEN}s"  # sender..myip
    "H30s"  # extensions, notused1
    "HHHB3s"  # pport, cport, flags, state, mflags
)
_GOSSIP = Struct(f">{NODE_ID_LEN}sII{IP_FIELD_LEN}sHHHHH")
_FAIL = Struct(f">{NODE_ID_LEN}s")
_PUBLISH = Struct(">II")
_UPDATE = Struct(f">Q{NODE_ID_LEN}s{SLOT_BITMAP_SIZE}s")
# The module id is copied from memory without byte swapping; redis-server runs on
# little-endian hosts in practice, so that is how it looks on the wire.
_MODULE_ID = Struct("<Q")
_MODULE_REST = Struct(">IB")
assert _HEADER.size == HEADER_SIZE and _GOSSIP.size == GOSSIP_ENTRY_SIZE
assert HEADER_SIZE + _UPDATE.size == UPDATE_SIZE

_NULL_ID = bytes(NODE_ID_LEN)


# ---------------------------------------------------------------------------- decoding


def _split_cstring(raw: bytes) -> tuple[str, bytes]:
    end = raw.find(0)
    if end < 0:
        return raw.decode("latin-1"), b""
    return raw[:end].decode("latin-1"), raw[end + 1 :].rstrip(b"\0")


def decode(buf: Buffer) -> Message:
    """Decode exactly one framed message. See the module docstring for the contract."""
    view = memoryview(buf).cast("B") if isinstance(buf, memoryview) else memoryview(buf)
    if len(view) < FRAME_PREFIX_SIZE:
        raise FrameMismatch(f"{len(view)} bytes cannot hold a frame prefix")
    totlen = check_prefix(view, None)
    if len(view) != totlen:
        raise FrameMismatch(f"buffer holds {len(view)} bytes, frame says {totlen}")

    (
        _sig,
        _totlen,
        ver,
        port,
        msg_type,
        count,
        current_epoch,
        config_epoch,
        offset,
        sender,
        myslots,
        slaveof,
        myip,
        ext_count,
        notused,
        pport,
        cport,
        flags,
        state,
        mflags,
    ) = _HEADER.unpack_from(view, 0)
    if ver != PROTOCOL_VERSION:
        raise DropMessage(f"protocol version {ver}", msg_type)

    myip_text, myip_tail = _split_cstring(myip)
    header = Header(
        type=msg_type,
        sender=sender.decode("latin-1"),
        current_epoch=current_epoch,
        config_epoch=config_epoch,
        offset=offset,
        myslots=SlotBitmap(myslots),
        slaveof=None if slaveof == _NULL_ID else slaveof.decode("latin-1"),
        myip=myip_text,
        port=port,
        cport=cport,
        pport=pport,
        flags=flags,
        state=state,
        mflags=mflags[0],
        myip_tail=myip_tail,
        notused=notused.rstrip(b"\0"),
        mflags_unused=mflags[1:].rstrip(b"\0"),
    )

    if msg_type not in KNOWN_TYPES:
        return UnknownMessage(header, bytes(view[HEADER_SIZE:]), count, ext_count)
    if msg_type in PING_TYPES:
        return _decode_ping(view, header, totlen, count, ext_count)
    # Only PING/PONG/MEET use the counts; a non-zero value elsewhere comes from no Redis
    # version, so it is treated as malformed rather than silently lost on re-encoding.
    if count or ext_count:
        raise DropMessage(f"{msg_type_name(msg_type)} with gossip/extension counts", msg_type)
    if msg_type in HEADER_ONLY_TYPES:
        _expect_length(totlen, HEADER_SIZE, msg_type)
        return HeaderOnlyMessage(header)
    if msg_type == MsgType.FAIL:
        _expect_length(totlen, FAIL_SIZE, msg_type)
        (node_id,) = _FAIL.unpack_from(view, HEADER_SIZE)
        return FailMessage(header, node_id.decode("latin-1"))
    if msg_type == MsgType.UPDATE:
        _expect_length(totlen, UPDATE_SIZE, msg_type)
        epoch, node_id, slots = _UPDATE.unpack_from(view, HEADER_SIZE)
        return UpdateMessage(header, epoch, node_id.decode("latin-1"), SlotBitmap(slots))
    if msg_type in PUBLISH_TYPES:
        if totlen < PUBLISH_FIXED_SIZE:
            raise DropMessage(f"{msg_type_name(msg_type)} shorter than its length fields", msg_type)
        channel_len, message_len = _PUBLISH.unpack_from(view, HEADER_SIZE)
        # Python ints cannot wrap, unlike the u32 sum 7.0.15 computes, so a pair of lengths
        # that overflows to the right total is dropped instead of read out of bounds.
        _expect_length(totlen, PUBLISH_FIXED_SIZE + channel_len + message_len, msg_type)
        split = PUBLISH_FIXED_SIZE + channel_len
        return PublishMessage(
            header, bytes(view[PUBLISH_FIXED_SIZE:split]), bytes(view[split:totlen])
        )
    # MODULE is the only known type left.
    if totlen < MODULE_FIXED_SIZE:
        raise DropMessage("MODULE shorter than its fixed fields", msg_type)
    (module_id,) = _MODULE_ID.unpack_from(view, HEADER_SIZE)
    payload_len, module_type = _MODULE_REST.unpack_from(view, HEADER_SIZE + _MODULE_ID.size)
    _expect_length(totlen, MODULE_FIXED_SIZE + payload_len, msg_type)
    return ModuleMessage(header, module_id, module_type, bytes(view[MODULE_FIXED_SIZE:]))


def _expect_length(totlen: int, expected: int, msg_type: int) -> None:
    if totlen != expected:
        raise DropMessage(
            f"{msg_type_name(msg_type)} of length {totlen}, expected {expected}", msg_type
        )


def _decode_ping(
    view: memoryview, header: Header, totlen: int, count: int, ext_count: int
) -> PingMessage:
    msg_type = header.type
    gossip_end = HEADER_SIZE + count * GOSSIP_ENTRY_SIZE
    if gossip_end > totlen:
        raise DropMessage(f"{count} gossip entries do not fit in totlen {totlen}", msg_type)
    if header.mflags & MFLAG0_EXT_DATA:
        extensions = decode_extensions(view, gossip_end, totlen, ext_count, msg_type)
    else:
        # 7.0.15 skips extension validation without EXT_DATA yet still walks `extensions`
        # entries afterwards, reading whatever follows; refuse such a message instead.
        if ext_count:
            raise DropMessage("extension count without the EXT_DATA flag", msg_type)
        _expect_length(totlen, gossip_end, msg_type)
        extensions = ()
    gossip = []
    for (
        node_id,
        ping_sent,
        pong_received,
        ip,
        port,
        cport,
        flags,
        pport,
        notused,
    ) in _GOSSIP.iter_unpack(view[HEADER_SIZE:gossip_end]):
        ip_text, ip_tail = _split_cstring(ip)
        gossip.append(
            GossipEntry(
                node_id.decode("latin-1"),
                ping_sent,
                pong_received,
                ip_text,
                port,
                cport,
                flags,
                pport,
                ip_tail,
                notused,
            )
        )
    return PingMessage(header, tuple(gossip), extensions)


# ---------------------------------------------------------------------------- encoding


def _node_id_bytes(node_id: str, what: str) -> bytes:
    raw = node_id.encode("latin-1")
    if len(raw) != NODE_ID_LEN:
        raise ValueError(f"{what} must be {NODE_ID_LEN} characters, got {len(raw)}")
    return raw


def _cstring_field(text: str, tail: bytes, width: int, what: str) -> bytes:
    raw = text.encode("latin-1")
    if b"\0" in raw:
        raise ValueError(f"{what} must not contain NUL")
    if tail:
        raw += b"\0" + tail
    if len(raw) > width:
        raise ValueError(f"{what} does not fit in {width} bytes")
    return raw


def _fixed_field(data: bytes, width: int, what: str) -> bytes:
    if len(data) > width:
        raise ValueError(f"{what} longer than {width} bytes")
    return data


def _pack_header(header: Header, totlen: int, count: int, ext_count: int, mflags0: int) -> bytes:
    slaveof = _NULL_ID if header.slaveof is None else _node_id_bytes(header.slaveof, "slaveof")
    mflags = bytes((mflags0,)) + _fixed_field(header.mflags_unused, 2, "mflags_unused")
    return _HEADER.pack(
        SIGNATURE,
        totlen,
        PROTOCOL_VERSION,
        header.port,
        header.type,
        count,
        header.current_epoch,
        header.config_epoch,
        header.offset,
        _node_id_bytes(header.sender, "sender"),
        header.myslots.bits,
        slaveof,
        _cstring_field(header.myip, header.myip_tail, IP_FIELD_LEN, "myip"),
        ext_count,
        _fixed_field(header.notused, 30, "notused"),
        header.pport,
        header.cport,
        header.flags,
        header.state,
        mflags,
    )


def _pack_gossip(entry: GossipEntry) -> bytes:
    return _GOSSIP.pack(
        _node_id_bytes(entry.node_id, "gossip node id"),
        entry.ping_sent,
        entry.pong_received,
        _cstring_field(entry.ip, entry.ip_tail, IP_FIELD_LEN, "gossip ip"),
        entry.port,
        entry.cport,
        entry.flags,
        entry.pport,
        entry.notused,
    )


def _check_type(msg: Message, allowed: frozenset[int]) -> None:
    if msg.header.type not in allowed:
        raise ValueError(f"{type(msg).__name__} cannot carry type {msg_type_name(msg.header.type)}")


def _body(msg: Message) -> tuple[bytes, int, int, int]:
    """(body bytes, count, extensions, mflags[0]) for `msg`."""
    mflags0 = msg.header.mflags
    if isinstance(msg, PingMessage):
        _check_type(msg, PING_TYPES)
        body = b"".join(map(_pack_gossip, msg.gossip)) + encode_extensions(msg.extensions)
        if msg.extensions:
            # Receivers only validate (and 7.0.15 only safely walks) extensions when the
            # flag is set, so it always accompanies a non-zero count.
            mflags0 |= MFLAG0_EXT_DATA
        return body, len(msg.gossip), len(msg.extensions), mflags0
    if isinstance(msg, UnknownMessage):
        if msg.header.type in KNOWN_TYPES:
            raise ValueError(f"type {msg.header.type} is known; use its message class")
        return msg.body, msg.count, msg.extensions, mflags0
    if isinstance(msg, HeaderOnlyMessage):
        _check_type(msg, HEADER_ONLY_TYPES)
        return b"", 0, 0, mflags0
    if isinstance(msg, FailMessage):
        _check_type(msg, frozenset({MsgType.FAIL}))
        return _node_id_bytes(msg.node_id, "FAIL node id"), 0, 0, mflags0
    if isinstance(msg, UpdateMessage):
        _check_type(msg, frozenset({MsgType.UPDATE}))
        node_id = _node_id_bytes(msg.node_id, "UPDATE node id")
        return _UPDATE.pack(msg.config_epoch, node_id, msg.slots.bits), 0, 0, mflags0
    if isinstance(msg, PublishMessage):
        _check_type(msg, PUBLISH_TYPES)
        lengths = _PUBLISH.pack(len(msg.channel), len(msg.message))
        return lengths + msg.channel + msg.message, 0, 0, mflags0
    _check_type(msg, frozenset({MsgType.MODULE}))
    fixed = _MODULE_ID.pack(msg.module_id) + _MODULE_REST.pack(len(msg.payload), msg.module_type)
    return fixed + msg.payload, 0, 0, mflags0


def encode(msg: Message) -> bytes:
    """The exact wire bytes of `msg`. Raises ValueError for unrepresentable fields."""
    try:
        body, count, ext_count, mflags0 = _body(msg)
        totlen = HEADER_SIZE + len(body)
        if totlen > 0xFFFFFFFF:
            raise ValueError(f"message of {totlen} bytes exceeds the u32 totlen")
        return _pack_header(msg.header, totlen, count, ext_count, mflags0) + body
    except StructError as exc:
        raise ValueError(f"field out of range: {exc}") from exc
