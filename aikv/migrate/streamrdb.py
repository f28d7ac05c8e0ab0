"""Stream objects inside DUMP payloads (RDB types 15 and 19), as redis-server 7.0.15 has them.

Pure: bytes in, :class:`StreamData` out, and back.

Body layout of type 19 (STREAM_LISTPACKS_2, the one 7.0 writes); type 15 (pre-7.0) lacks the
fields marked [19]:

* node count, then per node: its master ID as an RDB string of 16 bytes (ms then seq, both
  u64 big-endian, so byte order is ID order) and its listpack as an RDB string;
* stream length, last ID (ms, seq), [19] first ID, [19] largest deleted ID, [19] entries
  ever added, all RDB lengths;
* group count, then per group: name (RDB string), last delivered ID (two lengths),
  [19] entries read (a length; -1, "unknown", is stored as 2^64-1), the group's pending
  list (count, then per entry: raw 16-byte ID, delivery time as i64 LE milliseconds,
  delivery count as a length), then the consumers (count, then per consumer: name, seen
  time as i64 LE milliseconds, count and raw 16-byte IDs of the entries it owns).

A node listpack starts with a "master entry": live count, deleted count, number of master
fields, the field names, a 0. Then every entry (deleted ones stay as tombstones): flags,
ms delta, seq delta (from the master ID, wrapping modulo 2^64), then either the values
alone (flag SAMEFIELDS: the master's fields apply) or a field count and field/value pairs,
and last the number of listpack elements the entry used ("lp-count").

Loading checks everything Redis 7.0 checks with ``sanitize-dump-payload yes`` and a little
more, so that a stream that loads is safe for AiKv to walk and consistent with itself; see
:func:`load_stream` for the list.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from aikv.streams import estimate_read_counter

from .encoding import canonical_int
from .errors import bad_data
from .listpack import decode_listpack, encode_listpack
from .rdbprim import PayloadReader, encode_length, encode_string

__all__ = [
    "SCG_INVALID_ENTRIES_READ",
    "STREAM_ITEM_FLAG_DELETED",
    "STREAM_ITEM_FLAG_NONE",
    "STREAM_ITEM_FLAG_SAMEFIELDS",
    "TYPE_STREAM_LISTPACKS",
    "TYPE_STREAM_LISTPACKS_2",
    "TYPE_STREAM_LISTPACKS_3",
    "StreamConsumerData",
    "StreamData",
    "StreamGroupData",
    "StreamID",
    "StreamNack",
    "encode_stream_body",
    "encode_stream_node",
    "id_from_key",
    "id_to_key",
    "load_stream",
    "stream_node_entries",
]

TYPE_STREAM_LISTPACKS = 15  # before 7.0
TYPE_STREAM_LISTPACKS_2 = 19  # 7.0
TYPE_STREAM_LISTPACKS_3 = 21  # 7.2: unknown to 7.0, so refused

STREAM_ITEM_FLAG_NONE = 0
STREAM_ITEM_FLAG_DELETED = 1
STREAM_ITEM_FLAG_SAMEFIELDS = 2
_KNOWN_FLAGS = STREAM_ITEM_FLAG_DELETED | STREAM_ITEM_FLAG_SAMEFIELDS

# A group whose read counter cannot be known; kept on disk as the u64 2^64-1.
SCG_INVALID_ENTRIES_READ = -1

_U64 = (1 << 64) - 1
_ID_SIZE = 16
_TIME_SIZE = 8
_MAX_ID = (_U64, _U64)

StreamID = tuple[int, int]  # (ms, seq), both unsigned 64-bit


@dataclass
class StreamNack:
    """One entry of a consumer group's pending entries list."""

    entry_id: StreamID
    delivery_time_ms: int
    delivery_count: int
    consumer: bytes  # name of the owning consumer


@dataclass
class StreamConsumerData:
    name: bytes
    seen_time_ms: int
    pending: list[StreamID]  # ascending; each one is also in the group's pel


@dataclass
class StreamGroupData:
    name: bytes
    last_id: StreamID
    entries_read: int  # as Redis keeps it: -1 (SCG_INVALID_ENTRIES_READ) means unknown
    pel: list[StreamNack]  # ascending by entry_id
    consumers: list[StreamConsumerData]  # in payload order


@dataclass
class StreamData:
    # (16-byte master ID, node listpack exactly as Redis keeps it), ascending by master ID
    nodes: list[tuple[bytes, bytes]]
    length: int
    last_id: StreamID
    first_id: StreamID
    max_deleted_id: StreamID
    entries_added: int
    groups: list[StreamGroupData]  # in payload order


# --------------------------------------------------------------------------- IDs


def id_to_key(stream_id: StreamID) -> bytes:
    """The 16-byte big-endian form of an ID (node keys, PEL entries)."""
    ms, seq = stream_id
    if not (0 <= ms <= _U64 and 0 <= seq <= _U64):
        raise ValueError(f"stream ID out of range: {stream_id!r}")
    return ms.to_bytes(8, "big") + seq.to_bytes(8, "big")


def id_from_key(key: bytes) -> StreamID:
    if len(key) != _ID_SIZE:
        raise bad_data("stream ID key is not 16 bytes")
    return int.from_bytes(key[:8], "big"), int.from_bytes(key[8:], "big")


# --------------------------------------------------------------------------- node listpacks


@dataclass
class _Entry:
    entry_id: StreamID
    flags: int
    fields_and_values: list[bytes]


def _lp_int(element: bytes) -> int:
    # What Redis's lpGetIntegerIfValid accepts: an integer entry, or a string that spells
    # a canonical int64 (decode_listpack already turned integer entries into such text).
    value = canonical_int(element)
    if value is None:
        raise bad_data("stream listpack: integer expected")
    return value


def _parse_node(master: StreamID, blob: bytes) -> tuple[int, int, list[_Entry]]:
    """Validate a node listpack; return (live count, deleted count, every entry).

    Beyond Redis's deep check (shape of the master entry and of every entry, lp-count,
    nothing left over) this insists on what Redis itself always maintains: no negative
    counts, only the two known flags, the master's live/deleted counts matching the
    entries' flags, and at least one entry.
    """
    elements = decode_listpack(blob)
    total = len(elements)
    if total < 4:
        raise bad_data("stream listpack: master entry truncated")
    live = _lp_int(elements[0])
    deleted = _lp_int(elements[1])
    master_fields = _lp_int(elements[2])
    if live < 0 or deleted < 0 or master_fields < 0:
        raise bad_data("stream listpack: negative count in the master entry")
    pos = 3 + master_fields
    if pos >= total:
        raise bad_data("stream listpack: master entry truncated")
    fields = elements[3:pos]
    if _lp_int(elements[pos]) != 0:
        raise bad_data("stream listpack: master entry not terminated by 0")
    pos += 1
    entries: list[_Entry] = []
    seen_live = 0
    while pos < total:
        if pos + 3 > total:
            raise bad_data("stream listpack: entry truncated")
        flags = _lp_int(elements[pos])
        ms_delta = _lp_int(elements[pos + 1])
        seq_delta = _lp_int(elements[pos + 2])
        pos += 3
        if flags & ~_KNOWN_FLAGS:
            raise bad_data("stream listpack: unknown entry flags")
        if flags & STREAM_ITEM_FLAG_SAMEFIELDS:
            count = master_fields
            if pos + count + 1 > total:
                raise bad_data("stream listpack: entry truncated")
            values = elements[pos : pos + count]
            pairs: list[bytes] = []
            for field, value in zip(fields, values, strict=True):
                pairs.append(field)
                pairs.append(value)
            pos += count
            expected_lp_count = count + 3
        else:
            if pos >= total:
                raise bad_data("stream listpack: entry truncated")
            count = _lp_int(elements[pos])
            pos += 1
            if count < 0 or pos + 2 * count + 1 > total:
                raise bad_data("stream listpack: entry truncated")
            pairs = elements[pos : pos + 2 * count]
            pos += 2 * count
            expected_lp_count = 2 * count + 4
        if _lp_int(elements[pos]) != expected_lp_count:
            raise bad_data("stream listpack: wrong lp-count")
        pos += 1
        # Deltas are stored as int64 but applied modulo 2^64, as Redis's unsigned math does.
        entry_id = ((master[0] + ms_delta) & _U64, (master[1] + seq_delta) & _U64)
        if not flags & STREAM_ITEM_FLAG_DELETED:
            seen_live += 1
        entries.append(_Entry(entry_id, flags, pairs))
    if not entries:
        raise bad_data("stream listpack: node without entries")
    if seen_live != live or len(entries) - seen_live != deleted:
        raise bad_data("stream listpack: master counts do not match the entries")
    return live, deleted, entries


def stream_node_entries(
    master_id: bytes, blob: bytes
) -> Iterator[tuple[StreamID, int, list[bytes]]]:
    """Every entry of a node, tombstones included: ``(id, flags, [f1, v1, f2, v2, ...])``.

    ``flags & STREAM_ITEM_FLAG_DELETED`` marks a deleted entry. The node is fully validated
    first (DumpPayloadError if malformed), so nothing is yielded from a bad node.
    """
    _, _, entries = _parse_node(id_from_key(master_id), blob)
    for entry in entries:
        yield entry.entry_id, entry.flags, entry.fields_and_values


def _delta(value: int, base: int) -> int:
    # The int64 Redis stores for value - base (the subtraction wraps like uint64 math).
    diff = (value - base) & _U64
    return diff - (1 << 64) if diff >= 1 << 63 else diff


def encode_stream_node(
    master_id: StreamID, entries: Sequence[tuple[StreamID, bool, Sequence[bytes]]]
) -> tuple[bytes, bytes]:
    """A node ``(key, listpack)`` as Redis builds it from XADDs then XDELs.

    ``entries`` are ``(id, deleted, [f1, v1, ...])`` in node order. The first entry's field
    names become the master fields; later entries with the very same names (same order)
    get the SAMEFIELDS flag and store their values only.
    """
    if not entries:
        raise ValueError("a stream node needs at least one entry")
    first_pairs = list(entries[0][2])
    if len(first_pairs) % 2:
        raise ValueError("fields and values must come in pairs")
    master_fields = first_pairs[0::2]
    live = sum(1 for _, deleted, _ in entries if not deleted)
    elements: list[bytes | int] = [live, len(entries) - live, len(master_fields)]
    elements.extend(master_fields)
    elements.append(0)
    for entry_id, deleted, pairs in entries:
        pairs = list(pairs)
        if len(pairs) % 2:
            raise ValueError("fields and values must come in pairs")
        same = pairs[0::2] == master_fields
        flags = (STREAM_ITEM_FLAG_DELETED if deleted else 0) | (
            STREAM_ITEM_FLAG_SAMEFIELDS if same else 0
        )
        elements.append(flags)
        elements.append(_delta(entry_id[0], master_id[0]))
        elements.append(_delta(entry_id[1], master_id[1]))
        if same:
            elements.extend(pairs[1::2])
            elements.append(len(master_fields) + 3)
        else:
            elements.append(len(pairs) // 2)
            elements.extend(pairs)
            elements.append(len(pairs) + 4)
    return id_to_key(master_id), encode_listpack(elements)


# --------------------------------------------------------------------------- writing


def _u64(value: int, what: str) -> int:
    if not 0 <= value <= _U64:
        raise ValueError(f"{what} out of range: {value!r}")
    return value


def _encode_id(stream_id: StreamID) -> bytes:
    return encode_length(_u64(stream_id[0], "stream ID ms")) + encode_length(
        _u64(stream_id[1], "stream ID seq")
    )


def _encode_time(ms: int) -> bytes:
    return ms.to_bytes(_TIME_SIZE, "little", signed=True)


def encode_stream_body(data: StreamData, compress: bool = True) -> bytes:
    """Type byte 19 and the stream body, byte for byte what 7.0's DUMP writes.

    Nodes, groups, consumers and PEL entries go out in the order given (Redis writes
    them sorted, which is how :func:`load_stream` returns nodes and PELs). Node keys,
    listpacks and names are RDB strings (integer or LZF form when Redis would choose it).
    """
    parts = [bytes((TYPE_STREAM_LISTPACKS_2,)), encode_length(len(data.nodes))]
    for key, blob in data.nodes:
        if len(key) != _ID_SIZE:
            raise ValueError("stream node key must be 16 bytes")
        parts.append(encode_string(key, compress))
        parts.append(encode_string(blob, compress))
    parts.append(encode_length(_u64(data.length, "stream length")))
    parts.append(_encode_id(data.last_id))
    parts.append(_encode_id(data.first_id))
    parts.append(_encode_id(data.max_deleted_id))
    parts.append(encode_length(_u64(data.entries_added, "entries_added")))
    parts.append(encode_length(len(data.groups)))
    for group in data.groups:
        parts.append(encode_string(group.name, compress))
        parts.append(_encode_id(group.last_id))
        if not -(1 << 63) <= group.entries_read <= _U64:
            raise ValueError(f"entries_read out of range: {group.entries_read!r}")
        parts.append(encode_length(group.entries_read & _U64))
        parts.append(encode_length(len(group.pel)))
        for nack in group.pel:
            parts.append(id_to_key(nack.entry_id))
            parts.append(_encode_time(nack.delivery_time_ms))
            parts.append(encode_length(_u64(nack.delivery_count, "delivery_count")))
        parts.append(encode_length(len(group.consumers)))
        for consumer in group.consumers:
            parts.append(encode_string(consumer.name, compress))
            parts.append(_encode_time(consumer.seen_time_ms))
            parts.append(encode_length(len(consumer.pending)))
            parts.extend(id_to_key(entry_id) for entry_id in consumer.pending)
    return b"".join(parts)


# --------------------------------------------------------------------------- reading


def _read_id(reader: PayloadReader) -> StreamID:
    ms = reader.read_length()
    return ms, reader.read_length()


def _read_time(reader: PayloadReader) -> int:
    return int.from_bytes(reader.read_exact(_TIME_SIZE), "little", signed=True)


def _load_nodes(reader: PayloadReader) -> tuple[list[tuple[bytes, bytes]], list[StreamID]]:
    """Read and check every node; return them sorted, with the live IDs in stream order."""
    count = reader.read_count(2)
    nodes: dict[bytes, bytes] = {}
    parsed: dict[bytes, list[_Entry]] = {}
    for _ in range(count):
        key = reader.read_string()
        if len(key) != _ID_SIZE:
            raise bad_data("stream node key is not 16 bytes")
        blob = reader.read_string()
        _, _, entries = _parse_node(id_from_key(key), blob)
        if key in nodes:
            raise bad_data("stream node added twice")
        nodes[key] = blob
        parsed[key] = entries
    # Redis keeps nodes in a radix tree, i.e. sorted by key whatever the payload order.
    ordered = sorted(nodes.items())
    live_ids = [
        entry.entry_id
        for key, _ in ordered
        for entry in parsed[key]
        if not entry.flags & STREAM_ITEM_FLAG_DELETED
    ]
    return ordered, live_ids


def _load_groups(
    reader: PayloadReader, v2: bool, stream: StreamData
) -> list[StreamGroupData]:
    count = reader.read_count(5)
    groups: list[StreamGroupData] = []
    names: set[bytes] = set()
    for _ in range(count):
        name = reader.read_string()
        last_id = _read_id(reader)
        if v2:
            entries_read = reader.read_length()
            if entries_read >= 1 << 63:  # Redis keeps it as a signed long long
                entries_read -= 1 << 64
        else:
            entries_read = estimate_read_counter(
                stream.entries_added,
                stream.length,
                stream.last_id,
                stream.first_id,
                stream.max_deleted_id,
                last_id,
            )
        if name in names:
            raise bad_data("duplicate consumer group")
        names.add(name)
        pel_count = reader.read_count(_ID_SIZE + _TIME_SIZE + 1)
        # raw ID -> (delivery time, delivery count); owners are filled in from the consumers
        pel: dict[bytes, tuple[int, int]] = {}
        for _ in range(pel_count):
            raw = reader.read_exact(_ID_SIZE)
            delivery_time = _read_time(reader)
            delivery_count = reader.read_length()
            if raw in pel:
                raise bad_data("duplicate group PEL entry")
            pel[raw] = (delivery_time, delivery_count)
        owners: dict[bytes, bytes] = {}
        consumers: list[StreamConsumerData] = []
        consumer_names: set[bytes] = set()
        consumer_count = reader.read_count(1 + _TIME_SIZE + 1)
        for _ in range(consumer_count):
            cname = reader.read_string()
            if cname in consumer_names:
                raise bad_data("duplicate consumer")
            consumer_names.add(cname)
            seen_time = _read_time(reader)
            owned_count = reader.read_count(_ID_SIZE)
            owned: list[bytes] = []
            for _ in range(owned_count):
                raw = reader.read_exact(_ID_SIZE)
                if raw not in pel:
                    raise bad_data("consumer PEL entry not in the group PEL")
                if raw in owners:
                    # Redis 7.0 refuses a repeat within one consumer; AiKv also refuses
                    # an entry claimed by two consumers (7.0 would keep both pointers).
                    raise bad_data("PEL entry owned twice")
                owners[raw] = cname
                owned.append(raw)
            consumers.append(
                StreamConsumerData(cname, seen_time, [id_from_key(r) for r in sorted(owned)])
            )
        if len(owners) != len(pel):
            # Checked by 7.0 only with sanitize-dump-payload yes; AiKv always checks.
            raise bad_data("group PEL entry without a consumer")
        nacks = [
            StreamNack(id_from_key(raw), time_ms, delivered, owners[raw])
            for raw, (time_ms, delivered) in sorted(pel.items())
        ]
        groups.append(StreamGroupData(name, last_id, entries_read, nacks, consumers))
    return groups


def load_stream(reader: PayloadReader, rdb_type: int) -> StreamData:
    """Read a stream body (after its type byte) of type 15 or 19; refuse anything else.

    Refused like Redis 7.0 refuses them: type 21, a node key that is not 16 bytes, a
    malformed node listpack (deep check), an empty node, a node key given twice, a length
    with no nodes, a duplicate group or consumer, a duplicate group PEL entry, a consumer
    PEL entry missing from the group PEL or given twice, a group PEL entry without an
    owner (7.0: only with ``sanitize-dump-payload yes``).

    Refused although Redis 7.0 would accept them (none of them occurs in what Redis
    writes; all would leave AiKv with an inconsistent stream): a listpack whose header
    count is wrong, unknown entry flags, negative counts, master live/deleted counts
    that disagree with the entries' flags, a node with only its master entry, live
    entries not strictly ascending or above the last ID, a stream length that differs
    from the number of live entries, and a PEL entry owned by two consumers.

    Accepted like Redis: nodes in any order (returned sorted), PELs in any order
    (returned sorted), tombstones anywhere (Redis's XSETID can leave some above the last
    ID), entries below their node's master ID, and any value for first ID, largest
    deleted ID, entries added, group last IDs and read counters.
    """
    if rdb_type not in (TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2):
        raise bad_data(f"not a stream type this version reads: {rdb_type}")
    v2 = rdb_type == TYPE_STREAM_LISTPACKS_2
    nodes, live_ids = _load_nodes(reader)
    length = reader.read_length()
    last_id = _read_id(reader)
    if v2:
        first_id = _read_id(reader)
        max_deleted_id = _read_id(reader)
        entries_added = reader.read_length()
    else:
        # Pre-7.0 payloads lack these: 7.0 starts the counter at the length, assumes no
        # deletions, and takes the first live entry (or the largest ID when none).
        first_id = live_ids[0] if live_ids else _MAX_ID
        max_deleted_id = (0, 0)
        entries_added = length
    if length and not nodes:
        raise bad_data("stream length without nodes")
    if length != len(live_ids):
        raise bad_data("stream length does not match the live entries")
    for before, after in zip(live_ids, live_ids[1:], strict=False):
        if after <= before:
            raise bad_data("stream entries out of order")
    if live_ids and live_ids[-1] > last_id:
        raise bad_data("stream entry above the last ID")
    stream = StreamData(
        nodes=nodes,
        length=length,
        last_id=last_id,
        first_id=first_id,
        max_deleted_id=max_deleted_id,
        entries_added=entries_added,
        groups=[],
    )
    stream.groups = _load_groups(reader, v2, stream)
    return stream
