"""DUMP / RESTORE payloads, wire-compatible with redis-server 7.0.15. Pure: bytes in/out.

A payload is ``type byte | object body | RDB version (u16 LE) | CRC-64 (u64 LE)``, the CRC
covering everything before it.

* :func:`dump_payload` writes what ``DUMP`` on a 7.0 server with default settings writes:
  the same object type (decided by :mod:`aikv.migrate.encoding`), quicklist node splits,
  integer/LZF string forms, and footer version 10. Strings, lists, intsets, listpack
  hashes/zsets, skiplist zsets and streams (``"stream"``: a
  :class:`~aikv.migrate.streamrdb.StreamData`, written as type 19) come out
  byte-identical; hashtable sets and hashes differ only in member order, which Redis
  itself randomises.
* :func:`load_payload` reads every object type a 7.0 server accepts for the value kinds
  AiKv has (strings, lists, sets, hashes, sorted sets, including the legacy ziplist and
  zipmap forms, and streams of types 15 and 19, see :mod:`aikv.migrate.streamrdb`) and raises :class:`DumpPayloadError` carrying Redis's exact reply text.

Where 7.0's RESTORE is lenient about the envelope, this reader is lenient the same way so
that AiKv and Redis agree on every payload: the object body may run into the footer bytes
(7.0 reads from the whole argument), and bytes between the object and the footer are
ignored, an LZF string declared empty is empty, and a packed sorted set's scores are
read as zzlStrtod reads them. Otherwise it is strict about the content (Redis with
sanitize-dump-payload yes accepts some corrupt streams it refuses): listpacks, intsets
and ziplists are fully checked, and duplicates, NaN scores and empty collections are
refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

from aikv.cnum import zzl_strtod

from .crc64 import crc64
from .encoding import (
    DEFAULT_LIMITS,
    EncodingLimits,
    TypedValue,
    canonical_int,
    hash_is_listpack,
    object_encoding,
    set_is_intset,
    zset_is_listpack,
)
from .errors import ERR_BAD_DATA_FORMAT, ERR_VERSION_OR_CHECKSUM, DumpPayloadError, bad_data
from .intset import decode_intset, encode_intset
from .listpack import ListpackBuilder, decode_listpack, encode_listpack
from .rdbprim import (
    PayloadReader,
    double_as_int,
    double_text,
    encode_binary_double,
    encode_length,
    encode_string,
)
from .streamrdb import (
    TYPE_STREAM_LISTPACKS,
    TYPE_STREAM_LISTPACKS_2,
    StreamData,
    encode_stream_body,
    load_stream,
)
from .ziplist import decode_ziplist, decode_zipmap

__all__ = [
    "DEFAULT_LIMITS",
    "ERR_BAD_DATA_FORMAT",
    "ERR_VERSION_OR_CHECKSUM",
    "RDB_VERSION",
    "DumpPayloadError",
    "EncodingLimits",
    "TypedValue",
    "check_footer",
    "dump_payload",
    "encode_object",
    "load_payload",
    "object_encoding",
]

# The RDB version 7.0 writes into the footer and the newest one it accepts.
RDB_VERSION = 10
_FOOTER_SIZE = 10  # u16 version + u64 CRC

TYPE_STRING = 0
TYPE_LIST = 1
TYPE_SET = 2
TYPE_ZSET = 3
TYPE_HASH = 4
TYPE_ZSET_2 = 5
TYPE_HASH_ZIPMAP = 9
TYPE_LIST_ZIPLIST = 10
TYPE_SET_INTSET = 11
TYPE_ZSET_ZIPLIST = 12
TYPE_HASH_ZIPLIST = 13
TYPE_LIST_QUICKLIST = 14
TYPE_HASH_LISTPACK = 16
TYPE_ZSET_LISTPACK = 17
TYPE_LIST_QUICKLIST_2 = 18

_NODE_PLAIN = 1
_NODE_PACKED = 2

# Quicklist node budget for a negative list-max-listpack-size (-1 .. -5).
_NODE_SIZE_LEVELS = (4096, 8192, 16384, 32768, 65536)
# A node never grows past this when the limit is a count rather than a size.
_NODE_SAFETY_LIMIT = 8192
# Redis's over-estimate of what one more element adds to a node's listpack.
_NODE_ENTRY_OVERHEAD = 8
# Elements this large get a PLAIN node of their own instead of a listpack.
_PLAIN_ELEMENT_SIZE = 1 << 30


# --------------------------------------------------------------------------- DUMP


def dump_payload(kind: str, value: object, limits: EncodingLimits = DEFAULT_LIMITS) -> bytes:
    """The DUMP payload of a value, as redis-server 7.0 with these limits would write it.

    Raises ValueError for values Redis cannot hold: empty collections, NaN scores, or a
    value whose Python type does not match ``kind``.
    """
    return _seal(encode_object(kind, value, limits))


def dump_string_payload(value: bytes, compress: bool) -> bytes:
    """dump_payload("string", value): the common case of DUMP and MIGRATE, without the
    dispatch on the kind."""
    return _seal(_string_object(value, compress))


def _string_object(value: bytes, compress: bool) -> bytes:
    return bytes((TYPE_STRING,)) + encode_string(value, compress)


def encode_object(kind: str, value: object, limits: EncodingLimits = DEFAULT_LIMITS) -> bytes:
    """The value's type byte and object body, without the DUMP footer: what an RDB file
    holds for a key, less the key string between the two."""
    if kind == "string":
        body = _string_object(_expect_bytes(value), limits.rdb_compression)
    elif kind == "list":
        body = _dump_list(_expect_list(value), limits)
    elif kind == "set":
        body = _dump_set(_expect_set(value), limits)
    elif kind == "hash":
        body = _dump_hash(_expect_hash(value), limits)
    elif kind == "zset":
        body = _dump_zset(_expect_zset(value), limits)
    elif kind == "stream":
        if not isinstance(value, StreamData):
            raise ValueError(f"stream value must be StreamData, not {type(value).__name__}")
        body = encode_stream_body(value, limits.rdb_compression)
    else:
        raise ValueError(f"unknown value kind {kind!r}")
    return body


def _seal(body: bytes) -> bytes:
    sealed = body + RDB_VERSION.to_bytes(2, "little")
    return sealed + crc64(sealed).to_bytes(8, "little")


def _node_accepts(node: ListpackBuilder, element_size: int, fill: int) -> bool:
    """Whether Redis's RPUSH would add an element of this size to the tail node."""
    new_size = node.size + element_size + _NODE_ENTRY_OVERHEAD
    if fill < 0 and -fill - 1 < len(_NODE_SIZE_LEVELS):
        if new_size <= _NODE_SIZE_LEVELS[-fill - 1]:
            return True
    if new_size > _NODE_SAFETY_LIMIT:
        return False
    return node.count < fill


def list_nodes(items: list[bytes], limits: EncodingLimits) -> list[ListpackBuilder | bytes]:
    """The quicklist Redis would hold for `items`, by replaying RPUSH of each: packed
    nodes as listpacks, elements too big for one as plain nodes (bytes)."""
    nodes: list[ListpackBuilder | bytes] = []
    tail: ListpackBuilder | None = None
    for item in items:
        if len(item) >= _PLAIN_ELEMENT_SIZE:
            nodes.append(item)
            tail = None
            continue
        if tail is None or not _node_accepts(tail, len(item), limits.list_max_listpack_size):
            tail = ListpackBuilder()
            nodes.append(tail)
        tail.append(item)
    return nodes


def _dump_list(items: list[bytes], limits: EncodingLimits) -> bytes:
    if not items:
        raise ValueError("cannot dump an empty list")
    nodes = list_nodes(items, limits)
    parts = [bytes((TYPE_LIST_QUICKLIST_2,)), encode_length(len(nodes))]
    for node in nodes:
        if isinstance(node, ListpackBuilder):
            parts.append(bytes((_NODE_PACKED,)))
            parts.append(encode_string(node.to_bytes(), limits.rdb_compression))
        else:
            parts.append(bytes((_NODE_PLAIN,)))
            parts.append(encode_string(node, limits.rdb_compression))
    return b"".join(parts)


def _dump_set(members: set[bytes] | frozenset[bytes], limits: EncodingLimits) -> bytes:
    if not members:
        raise ValueError("cannot dump an empty set")
    if set_is_intset(members, limits):
        numbers = [canonical_int(m) for m in members]
        blob = encode_intset(n for n in numbers if n is not None)
        return bytes((TYPE_SET_INTSET,)) + encode_string(blob, limits.rdb_compression)
    parts = [bytes((TYPE_SET,)), encode_length(len(members))]
    parts.extend(encode_string(m, limits.rdb_compression) for m in members)
    return b"".join(parts)


def _dump_hash(fields: dict[bytes, bytes], limits: EncodingLimits) -> bytes:
    if not fields:
        raise ValueError("cannot dump an empty hash")
    if hash_is_listpack(fields, limits):
        # Field order is insertion order, which is what HSET gives Redis's listpack too.
        flat: list[bytes | int] = []
        for field, val in fields.items():
            flat.append(field)
            flat.append(val)
        return bytes((TYPE_HASH_LISTPACK,)) + encode_string(encode_listpack(flat), limits.rdb_compression)
    parts = [bytes((TYPE_HASH,)), encode_length(len(fields))]
    for field, val in fields.items():
        parts.append(encode_string(field, limits.rdb_compression))
        parts.append(encode_string(val, limits.rdb_compression))
    return b"".join(parts)


def _zset_score_element(score: float) -> bytes | int:
    # Integral scores up to 2^62 are listpack integers, the rest their %.17g text.
    as_int = double_as_int(score)
    return as_int if as_int is not None else double_text(score)


def _dump_zset(members: dict[bytes, float], limits: EncodingLimits) -> bytes:
    if not members:
        raise ValueError("cannot dump an empty sorted set")
    if any(math.isnan(score) for score in members.values()):
        raise ValueError("sorted set score is NaN")
    ordered = sorted(members.items(), key=lambda pair: (pair[1], pair[0]))
    if zset_is_listpack(members, limits):
        flat: list[bytes | int] = []
        for member, score in ordered:
            flat.append(member)
            flat.append(_zset_score_element(score))
        return bytes((TYPE_ZSET_LISTPACK,)) + encode_string(encode_listpack(flat), limits.rdb_compression)
    # Skiplist zsets are written from the highest score down, so that loading inserts
    # every member at the head of the skiplist.
    parts = [bytes((TYPE_ZSET_2,)), encode_length(len(ordered))]
    for member, score in reversed(ordered):
        parts.append(encode_string(member, limits.rdb_compression))
        parts.append(encode_binary_double(score))
    return b"".join(parts)


def _expect_bytes(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(f"string value must be bytes, not {type(value).__name__}")
    return bytes(value)


def _expect_list(value: object) -> list[bytes]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"list value must be a list, not {type(value).__name__}")
    return [_expect_bytes(item) for item in value]


def _expect_set(value: object) -> set[bytes] | frozenset[bytes]:
    if not isinstance(value, set | frozenset):
        raise ValueError(f"set value must be a set, not {type(value).__name__}")
    for member in value:
        _expect_bytes(member)
    return value


def _expect_hash(value: object) -> dict[bytes, bytes]:
    if not isinstance(value, dict):
        raise ValueError(f"hash value must be a dict, not {type(value).__name__}")
    return {_expect_bytes(f): _expect_bytes(v) for f, v in value.items()}


def _expect_zset(value: object) -> dict[bytes, float]:
    if not isinstance(value, dict):
        raise ValueError(f"zset value must be a dict, not {type(value).__name__}")
    return {_expect_bytes(m): float(s) for m, s in value.items()}


# --------------------------------------------------------------------------- RESTORE


def check_footer(payload: bytes | bytearray | memoryview) -> int:
    """Check size, RDB version and CRC like RESTORE does first; return the version.

    Raises DumpPayloadError(``ERR DUMP payload version or checksum are wrong``). A zero
    CRC gets no special treatment: 7.0.15 refuses it like any other mismatch.
    """
    data = bytes(payload)
    if len(data) < _FOOTER_SIZE:
        raise DumpPayloadError(ERR_VERSION_OR_CHECKSUM, "shorter than the footer")
    version = int.from_bytes(data[-10:-8], "little")
    if version > RDB_VERSION:
        raise DumpPayloadError(ERR_VERSION_OR_CHECKSUM, f"RDB version {version} is too new")
    if crc64(memoryview(data)[:-8]) != int.from_bytes(data[-8:], "little"):
        raise DumpPayloadError(ERR_VERSION_OR_CHECKSUM, "CRC mismatch")
    return version


def load_payload(payload: bytes | bytearray | memoryview) -> TypedValue:
    """Decode a DUMP payload into ``(kind, value)``; DumpPayloadError if RESTORE refuses it.

    ``str(error)`` is the exact text Redis replies with: ``ERR DUMP payload version or
    checksum are wrong`` for the footer, ``ERR Bad data format`` for everything else.
    """
    data = bytes(payload)
    check_footer(data)
    # Like 7.0, read the object from the whole argument: the footer is not cut off first.
    if data[0] == TYPE_STRING:
        # A raw string with a 6- or 14-bit length (MIGRATE's usual payload), read in
        # place; the other forms (integers, LZF, long lengths) take the reader below.
        first = data[1]
        if first < 0x40:
            start, size = 2, first
        elif first < 0x80:
            start, size = 3, ((first & 0x3F) << 8) | data[2]
        else:
            start = size = -1
        if 0 <= start and start + size <= len(data):
            return "string", data[start:start + size]
    reader = PayloadReader(data)
    rdb_type = reader.read_byte()
    loader = _LOADERS.get(rdb_type)
    if loader is None:
        raise bad_data(f"unsupported RDB object type {rdb_type}")
    return loader(reader)


def _load_string(reader: PayloadReader) -> TypedValue:
    return "string", reader.read_string()


def _load_list_plain(reader: PayloadReader) -> TypedValue:
    count = reader.read_count()
    items = [reader.read_string() for _ in range(count)]
    return "list", _non_empty(items)


def _load_list_ziplist(reader: PayloadReader) -> TypedValue:
    return "list", _non_empty(decode_ziplist(reader.read_string()))


def _load_quicklist(reader: PayloadReader, with_container: bool) -> list[bytes]:
    nodes = reader.read_count(2 if with_container else 1)
    items: list[bytes] = []
    for _ in range(nodes):
        container = reader.read_length() if with_container else _NODE_PACKED
        if container not in (_NODE_PLAIN, _NODE_PACKED):
            raise bad_data(f"quicklist node container {container}")
        blob = reader.read_string()
        if not blob:
            raise bad_data("empty quicklist node")
        if container == _NODE_PLAIN:
            items.append(blob)
        elif with_container:
            items.extend(decode_listpack(blob))
        else:
            items.extend(decode_ziplist(blob))
    # Empty nodes are skipped, but a list made only of them is an empty key.
    return _non_empty(items)


def _load_list_quicklist(reader: PayloadReader) -> TypedValue:
    return "list", _load_quicklist(reader, with_container=False)


def _load_list_quicklist_2(reader: PayloadReader) -> TypedValue:
    return "list", _load_quicklist(reader, with_container=True)


def _load_set_plain(reader: PayloadReader) -> TypedValue:
    count = reader.read_count()
    members: set[bytes] = set()
    for _ in range(count):
        member = reader.read_string()
        if member in members:
            raise bad_data("duplicate set member")
        members.add(member)
    return "set", _non_empty(members)


def _load_set_intset(reader: PayloadReader) -> TypedValue:
    return "set", {b"%d" % n for n in decode_intset(reader.read_string())}


def _zset_from_pairs(pairs: list[tuple[bytes, float]]) -> TypedValue:
    members: dict[bytes, float] = {}
    for member, score in pairs:
        if math.isnan(score):
            raise bad_data("NaN score")
        if member in members:
            raise bad_data("duplicate sorted set member")
        members[member] = score
    return "zset", _non_empty(members)


def _load_zset_plain(reader: PayloadReader, binary_scores: bool) -> TypedValue:
    count = reader.read_count(9 if binary_scores else 2)
    read_score = reader.read_binary_double if binary_scores else reader.read_text_double
    pairs = []
    for _ in range(count):
        member = reader.read_string()
        pairs.append((member, read_score()))
    return _zset_from_pairs(pairs)


def _load_zset(reader: PayloadReader) -> TypedValue:
    return _load_zset_plain(reader, binary_scores=False)


def _load_zset_2(reader: PayloadReader) -> TypedValue:
    return _load_zset_plain(reader, binary_scores=True)


def _pairs(elements: list[bytes]) -> list[tuple[bytes, bytes]]:
    if len(elements) % 2:
        raise bad_data("odd number of elements in a pair container")
    return list(zip(elements[0::2], elements[1::2], strict=True))


def _load_zset_packed(elements: list[bytes]) -> TypedValue:
    # Redis checks a packed sorted set's pairs and members, not its scores: a score is
    # whatever zzlStrtod makes of it (NaN still refused: it would break the ordering).
    return _zset_from_pairs([(m, zzl_strtod(s)) for m, s in _pairs(elements)])


def _load_zset_listpack(reader: PayloadReader) -> TypedValue:
    return _load_zset_packed(decode_listpack(reader.read_string()))


def _load_zset_ziplist(reader: PayloadReader) -> TypedValue:
    return _load_zset_packed(decode_ziplist(reader.read_string()))


def _hash_from_pairs(pairs: list[tuple[bytes, bytes]]) -> TypedValue:
    fields: dict[bytes, bytes] = {}
    for field, val in pairs:
        if field in fields:
            raise bad_data("duplicate hash field")
        fields[field] = val
    return "hash", _non_empty(fields)


def _load_hash_plain(reader: PayloadReader) -> TypedValue:
    count = reader.read_count(2)
    pairs = []
    for _ in range(count):
        field = reader.read_string()
        pairs.append((field, reader.read_string()))
    return _hash_from_pairs(pairs)


def _load_hash_listpack(reader: PayloadReader) -> TypedValue:
    return _hash_from_pairs(_pairs(decode_listpack(reader.read_string())))


def _load_hash_ziplist(reader: PayloadReader) -> TypedValue:
    return _hash_from_pairs(_pairs(decode_ziplist(reader.read_string())))


def _load_hash_zipmap(reader: PayloadReader) -> TypedValue:
    return _hash_from_pairs(decode_zipmap(reader.read_string()))


_Collection = TypeVar(
    "_Collection", list[bytes], set[bytes], dict[bytes, bytes], dict[bytes, float]
)


def _non_empty(collection: _Collection) -> _Collection:
    # Redis has no empty keys; RESTORE of an empty aggregate is "Bad data format".
    if not collection:
        raise bad_data("empty collection")
    return collection


def _load_stream_v1(reader: PayloadReader) -> TypedValue:
    return "stream", load_stream(reader, TYPE_STREAM_LISTPACKS)


def _load_stream_v2(reader: PayloadReader) -> TypedValue:
    return "stream", load_stream(reader, TYPE_STREAM_LISTPACKS_2)


# Module payloads (6, 7) are valid for Redis but AiKv has no such type, so they fall
# through to "Bad data format" like an unknown type does; so does 7.2's stream type 21,
# which 7.0 does not know either.
_LOADERS: dict[int, Callable[[PayloadReader], TypedValue]] = {
    TYPE_STRING: _load_string,
    TYPE_LIST: _load_list_plain,
    TYPE_SET: _load_set_plain,
    TYPE_ZSET: _load_zset,
    TYPE_HASH: _load_hash_plain,
    TYPE_ZSET_2: _load_zset_2,
    TYPE_HASH_ZIPMAP: _load_hash_zipmap,
    TYPE_LIST_ZIPLIST: _load_list_ziplist,
    TYPE_SET_INTSET: _load_set_intset,
    TYPE_ZSET_ZIPLIST: _load_zset_ziplist,
    TYPE_HASH_ZIPLIST: _load_hash_ziplist,
    TYPE_LIST_QUICKLIST: _load_list_quicklist,
    TYPE_HASH_LISTPACK: _load_hash_listpack,
    TYPE_ZSET_LISTPACK: _load_zset_listpack,
    TYPE_LIST_QUICKLIST_2: _load_list_quicklist_2,
    TYPE_STREAM_LISTPACKS: _load_stream_v1,
    TYPE_STREAM_LISTPACKS_2: _load_stream_v2,
}
