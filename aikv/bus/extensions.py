"""Ping extensions: the variable part after the gossip entries of PING/PONG/MEET (spec §4).

Each extension is `u32 length | u16 type | u16 unused | payload`, length counting its own
8-byte header and always a multiple of 8. An extension is decoded into its typed class
only when its bytes are exactly what `encode_extension` produces for that class; anything
else (unknown type, odd padding, non-zero unused field) is kept verbatim as `RawExt`, so a
received message always re-encodes byte for byte and later protocol versions pass through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from struct import Struct

from aikv.bus.protocol import (
    EXT_ALIGN,
    EXT_HEADER_SIZE,
    MAX_EXT_LEN,
    NODE_ID_LEN,
    DropMessage,
    ExtType,
)

_EXT_HEADER = Struct(">IHH")
_FORGOTTEN = Struct(f">{NODE_ID_LEN}sQ")


@dataclass(frozen=True, slots=True)
class HostnameExt:
    """`cluster-announce-hostname`, the only extension a 7.0 node sends."""

    hostname: str


@dataclass(frozen=True, slots=True)
class HumanNodenameExt:
    """`cluster-announce-human-nodename` (7.2+); same string layout as the hostname."""

    nodename: str


@dataclass(frozen=True, slots=True)
class ForgottenNodeExt:
    """A node in the sender's FORGET blacklist for `ttl` more seconds (7.2+)."""

    node_id: str
    ttl: int


@dataclass(frozen=True, slots=True)
class ShardIdExt:
    """The sender's shard id (7.2+ always sends it)."""

    shard_id: str


@dataclass(frozen=True, slots=True)
class RawExt:
    """An extension kept as received. `payload` excludes the 8-byte extension header and
    includes its padding, so its length is a multiple of 8."""

    type: int
    payload: bytes
    unused: int = 0


PingExt = HostnameExt | HumanNodenameExt | ForgottenNodeExt | ShardIdExt | RawExt


def _aligned(size: int) -> int:
    return (size + EXT_ALIGN - 1) // EXT_ALIGN * EXT_ALIGN


def _encode_cstring(text: str, what: str) -> bytes:
    raw = text.encode("latin-1")
    if b"\0" in raw:
        raise ValueError(f"{what} must not contain NUL")
    # The terminator is mandatory: receivers read the payload as a C string.
    return raw.ljust(_aligned(len(raw) + 1), b"\0")


def _decode_cstring(payload: bytes) -> str | None:
    """The text if `payload` is in canonical form (text, NUL, zero padding to the next
    multiple of 8 and not beyond), else None."""
    end = payload.find(0)
    if end < 0 or len(payload) != _aligned(end + 1):
        return None
    if payload.count(0, end) != len(payload) - end:
        return None
    return payload[:end].decode("latin-1")


def _encode_node_id(node_id: str, what: str) -> bytes:
    raw = node_id.encode("latin-1")
    if len(raw) != NODE_ID_LEN:
        raise ValueError(f"{what} must be {NODE_ID_LEN} characters, got {len(raw)}")
    return raw


def _ext_payload(ext: PingExt) -> tuple[int, bytes, int]:
    if isinstance(ext, HostnameExt):
        return ExtType.HOSTNAME, _encode_cstring(ext.hostname, "hostname"), 0
    if isinstance(ext, HumanNodenameExt):
        return ExtType.HUMAN_NODENAME, _encode_cstring(ext.nodename, "human nodename"), 0
    if isinstance(ext, ForgottenNodeExt):
        if not 0 <= ext.ttl < 1 << 64:
            raise ValueError("forgotten-node ttl out of u64 range")
        node_id = _encode_node_id(ext.node_id, "forgotten node id")
        return ExtType.FORGOTTEN_NODE, _FORGOTTEN.pack(node_id, ext.ttl), 0
    if isinstance(ext, ShardIdExt):
        return ExtType.SHARDID, _encode_node_id(ext.shard_id, "shard id"), 0
    if len(ext.payload) % EXT_ALIGN:
        raise ValueError("raw extension payload must be a multiple of 8 bytes")
    if not 0 <= ext.type <= 0xFFFF or not 0 <= ext.unused <= 0xFFFF:
        raise ValueError("raw extension type/unused out of u16 range")
    return ext.type, ext.payload, ext.unused


def encode_extension(ext: PingExt) -> bytes:
    """Wire bytes of one extension, header included."""
    ext_type, payload, unused = _ext_payload(ext)
    length = EXT_HEADER_SIZE + len(payload)
    if length > MAX_EXT_LEN:
        raise ValueError(f"extension of {length} bytes exceeds {MAX_EXT_LEN}")
    return _EXT_HEADER.pack(length, ext_type, unused) + payload


def encode_extensions(extensions: Iterable[PingExt]) -> bytes:
    return b"".join(encode_extension(ext) for ext in extensions)


def _typed(ext_type: int, payload: bytes) -> PingExt | None:
    if ext_type == ExtType.HOSTNAME:
        text = _decode_cstring(payload)
        return None if text is None else HostnameExt(text)
    if ext_type == ExtType.HUMAN_NODENAME:
        text = _decode_cstring(payload)
        return None if text is None else HumanNodenameExt(text)
    if ext_type == ExtType.FORGOTTEN_NODE and len(payload) == _FORGOTTEN.size:
        node_id, ttl = _FORGOTTEN.unpack(payload)
        return ForgottenNodeExt(node_id.decode("latin-1"), ttl)
    if ext_type == ExtType.SHARDID and len(payload) == NODE_ID_LEN:
        return ShardIdExt(payload.decode("latin-1"))
    return None


def decode_extensions(
    buf: memoryview, start: int, end: int, count: int, msg_type: int
) -> tuple[PingExt, ...]:
    """Decode `count` extensions that must exactly fill buf[start:end].

    Raises DropMessage like 7.0.15 does for a length that is not a multiple of 8 or that
    runs past the message, and for a total that leaves bytes over. Stricter than 7.0.15:
    a length below 8 (which would make 7.0.15 re-read the same extension) or above
    MAX_EXT_LEN is also dropped.
    """
    extensions: list[PingExt] = []
    pos = start
    for _ in range(count):
        if end - pos < EXT_HEADER_SIZE:
            raise DropMessage("extension header runs past totlen", msg_type)
        length, ext_type, unused = _EXT_HEADER.unpack_from(buf, pos)
        if length % EXT_ALIGN:
            raise DropMessage(f"extension length {length} is not a multiple of 8", msg_type)
        if length < EXT_HEADER_SIZE or length > MAX_EXT_LEN:
            raise DropMessage(f"extension length {length} out of range", msg_type)
        if length > end - pos:
            raise DropMessage("extension data exceeds totlen", msg_type)
        payload = bytes(buf[pos + EXT_HEADER_SIZE : pos + length])
        typed = _typed(ext_type, payload) if unused == 0 else None
        extensions.append(typed if typed is not None else RawExt(ext_type, payload, unused))
        pos += length
    if pos != end:
        raise DropMessage(f"{end - pos} bytes left after the extensions", msg_type)
    return tuple(extensions)


def announced_hostname(extensions: Iterable[PingExt]) -> str | None:
    """The hostname a PING/PONG/MEET announces, or None if it carries no hostname
    extension (a 7.0 receiver then clears the sender's hostname). Like 7.0, the last
    hostname extension wins and a non-canonical one is read up to its first NUL."""
    hostname: str | None = None
    for ext in extensions:
        if isinstance(ext, HostnameExt):
            hostname = ext.hostname
        elif isinstance(ext, RawExt) and ext.type == ExtType.HOSTNAME:
            hostname = ext.payload.split(b"\0", 1)[0].decode("latin-1")
    return hostname
