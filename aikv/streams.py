"""Stream IDs and stream nodes, Redis 7.0's representation, pure (no I/O).

A Redis stream is a radix tree of listpack "nodes" keyed by each node's master ID (the ID
of the entry that opened it, 16 bytes: ms and seq, big-endian). AiKv keeps exactly those
listpacks, one LMDB record per node, so that DUMP writes what Redis writes, MIGRATE to a
real redis-server needs no conversion, and whatever depends on the node layout behaves
as in Redis: approximate trimming (`MAXLEN ~`) removes whole nodes only, and XDEL leaves
tombstones inside a node until its last live entry goes.

A node's listpack is

    master entry:  count | deleted | nfields | field_1 .. field_n | 0
    each entry:    flags | ms-delta | seq-delta | [nfields | f_1 v_1 .. f_k v_k] or
                   [v_1 .. v_n] (flag SAMEFIELDS: the master's fields) | lp-count

`count` is the node's live entries, `deleted` its tombstones; deltas are against the
master ID in wrapping 64-bit arithmetic stored as signed integers (a seq delta is often
negative); `lp-count` is the number of elements of the entry before it, so that a reader
can walk the node backwards. Elements that spell an integer are stored as integers, as
everywhere in a listpack.
"""

from __future__ import annotations

from collections.abc import Iterator

from aikv.migrate.listpack import COUNT_UNKNOWN, encode_entry, encode_listpack
from aikv.resp import CommandError

StreamID = tuple[int, int]

U64 = (1 << 64) - 1
MIN_ID: StreamID = (0, 0)
MAX_ID: StreamID = (U64, U64)

FLAG_DELETED = 1
FLAG_SAMEFIELDS = 2

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
# A consumer group's entries-read counter when it cannot be known (Redis's
# SCG_INVALID_ENTRIES_READ).
INVALID_ENTRIES_READ = -1

# No single node may grow past this, whatever the configuration says.
LISTPACK_MAX_SIZE = 1 << 30


# --------------------------------------------------------------------------- IDs
def _c_string(raw: bytes) -> bytes:
    """What C string functions see of an argument: the bytes before the first NUL."""
    nul = raw.find(b"\0")
    return raw if nul < 0 else raw[:nul]


def _strict_ll(text: bytes) -> int | None:
    """Redis's string2ll: an optional '-', no leading zeros or spaces, int64 range."""
    if not text or len(text) > 20:
        return None
    body = text[1:] if text[:1] == b"-" else text
    if not body.isdigit() or not body.isascii():
        return None
    if body[:1] == b"0" and (len(body) > 1 or text[:1] == b"-"):
        return None
    value = int(text)
    if not -(1 << 63) <= value < (1 << 63):
        return None
    return value


def string2ull(text: bytes) -> int | None:
    """Redis's string2ull: string2ll when it works (negative -> invalid), else C's
    strtoull over the whole text: leading white space, a sign ('-' wraps around, as in
    C), at least one digit, nothing after, no overflow."""
    strict = _strict_ll(text)
    if strict is not None:
        return strict if strict >= 0 else None
    pos = 0
    while pos < len(text) and text[pos] in b" \t\n\v\f\r":
        pos += 1
    negative = False
    if pos < len(text) and text[pos] in b"+-":
        negative = text[pos] == 0x2D
        pos += 1
    digits = text[pos:]
    if not digits or not digits.isdigit() or not digits.isascii():
        return None
    value = int(digits)
    if value > U64:
        return None
    return (-value) & U64 if negative else value


def parse_id(raw: bytes, missing_seq: int = 0, strict: bool = False,
             seq_star: bool = False) -> tuple[StreamID, bool]:
    """A stream ID argument -> (id, seq_given); CommandError with Redis's text if invalid.

    `missing_seq` fills in a plain "<ms>"; `strict` refuses "-" and "+"; `seq_star`
    accepts "<ms>-*" (XADD), which comes back with seq_given False."""
    if len(raw) > 127:
        raise CommandError(INVALID_ID)
    text = _c_string(raw)
    if text == b"-" or text == b"+":
        if strict:
            raise CommandError(INVALID_ID)
        return (MIN_ID if text == b"-" else MAX_ID), True
    dash = text.find(b"-")
    ms_text, seq_text = (text, None) if dash < 0 else (text[:dash], text[dash + 1:])
    ms = string2ull(ms_text)
    if ms is None:
        raise CommandError(INVALID_ID)
    if seq_text is None:
        return (ms, missing_seq), True
    if seq_star and seq_text == b"*":
        return (ms, 0), False
    seq = string2ull(seq_text)
    if seq is None:
        raise CommandError(INVALID_ID)
    return (ms, seq), True


def parse_interval(raw: bytes, missing_seq: int) -> tuple[StreamID, bool]:
    """A range bound of XRANGE/XPENDING/XAUTOCLAIM: "(" makes it exclusive -> (id, excluded)."""
    if len(raw) > 1 and raw[:1] == b"(":
        return parse_id(raw[1:], missing_seq, strict=True)[0], True
    return parse_id(raw, missing_seq)[0], False


def range_start(raw: bytes) -> StreamID:
    """The lower bound of an ID range (XRANGE, XPENDING, XAUTOCLAIM): "(" excludes it."""
    start, excluded = parse_interval(raw, 0)
    if not excluded:
        return start
    bumped = incr_id(start)
    if bumped is None:
        raise CommandError("ERR invalid start ID for the interval")
    return bumped


def range_end(raw: bytes) -> StreamID:
    """The upper bound of an ID range: a bare "<ms>" means its last sequence."""
    end, excluded = parse_interval(raw, U64)
    if not excluded:
        return end
    lowered = decr_id(end)
    if lowered is None:
        raise CommandError("ERR invalid end ID for the interval")
    return lowered


def estimate_read_counter(entries_added: int, length: int, last_id: StreamID,
                          first_id: StreamID, max_deleted: StreamID,
                          stream_id: StreamID) -> int:
    """Redis's streamEstimateDistanceFromFirstEverEntry: the entries-read counter of a
    group whose last delivered ID is `stream_id`, or INVALID_ENTRIES_READ when the
    stream's tombstones make it unknowable."""
    if not entries_added:
        return 0
    if not length and stream_id <= last_id:
        return entries_added
    if stream_id == last_id:
        return entries_added
    if stream_id > last_id:
        return INVALID_ENTRIES_READ
    if max_deleted == MIN_ID or max_deleted < first_id:
        if stream_id < first_id:
            return entries_added - length
        if stream_id == first_id:
            return entries_added - length + 1
    return INVALID_ENTRIES_READ


def format_id(stream_id: StreamID) -> bytes:
    return b"%d-%d" % stream_id


def id_bytes(stream_id: StreamID) -> bytes:
    return stream_id[0].to_bytes(8, "big") + stream_id[1].to_bytes(8, "big")


def id_from_bytes(raw: bytes) -> StreamID:
    return int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:16], "big")


def incr_id(stream_id: StreamID) -> StreamID | None:
    """The next ID, None past the last possible one."""
    ms, seq = stream_id
    if seq < U64:
        return ms, seq + 1
    if ms < U64:
        return ms + 1, 0
    return None


def decr_id(stream_id: StreamID) -> StreamID | None:
    """The previous ID, None before 0-0."""
    ms, seq = stream_id
    if seq > 0:
        return ms, seq - 1
    if ms > 0:
        return ms - 1, U64
    return None


def _signed(value: int) -> int:
    value &= U64
    return value - (1 << 64) if value >> 63 else value


# --------------------------------------------------------------------------- listpack
def _backlen_size(size: int) -> int:
    if size <= 127:
        return 1
    if size < 16383:
        return 2
    if size < 2097151:
        return 3
    if size < 268435455:
        return 4
    return 5


def as_bytes(element: int | bytes) -> bytes:
    return element if isinstance(element, bytes) else b"%d" % element


# --------------------------------------------------------------------------- nodes
def _element(blob: bytes, pos: int) -> tuple[int | bytes, int]:
    """The element at `pos` and the position of the next one."""
    first = blob[pos]
    if first < 0x80:
        return first, pos + 2
    if first < 0xC0:
        length = first & 0x3F
        end = pos + 1 + length
        return blob[pos + 1:end], end + _backlen_size(1 + length)
    if first < 0xE0:
        raw = ((first & 0x1F) << 8) | blob[pos + 1]
        return (raw - 0x2000 if raw >= 0x1000 else raw), pos + 3
    if first < 0xF0:
        length = ((first & 0x0F) << 8) | blob[pos + 1]
        end = pos + 2 + length
        return blob[pos + 2:end], end + _backlen_size(2 + length)
    if first == 0xF0:
        length = int.from_bytes(blob[pos + 1:pos + 5], "little")
        end = pos + 5 + length
        return blob[pos + 5:end], end + _backlen_size(5 + length)
    width = (2, 3, 4, 8)[first - 0xF1]
    end = pos + 1 + width
    return int.from_bytes(blob[pos + 1:end], "little", signed=True), end + 1


def _header(blob: bytes) -> tuple[list[int | bytes], int]:
    """A node's master fields and the position of its first entry."""
    _, pos = _element(blob, 6)  # live count
    _, pos = _element(blob, pos)  # tombstones
    nfields, pos = _element(blob, pos)
    assert isinstance(nfields, int)
    master_fields: list[int | bytes] = []
    for _ in range(nfields):
        field, pos = _element(blob, pos)
        master_fields.append(field)
    _, pos = _element(blob, pos)  # the master entry's terminating 0
    return master_fields, pos


def _element_before(blob: bytes, pos: int) -> int:
    """Where the element that ends at `pos` starts: its backlen, read right to left."""
    size = shift = 0
    q = pos - 1
    while True:
        byte = blob[q]
        size |= (byte & 127) << shift
        if not byte & 128:
            break
        shift += 7
        q -= 1
    return q - size


def _bulk(element: int | bytes) -> bytes:
    data = element if isinstance(element, bytes) else b"%d" % element
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _reply_at(blob: bytes, pos: int, master: StreamID, master_bulks: list[bytes]
              ) -> tuple[int, StreamID, bytes, int]:
    """The entry at `pos` as (flags, ID, its field-value pairs as a RESP array, next
    position): range replies are built straight from the listpack."""
    flags, pos = _element(blob, pos)
    dms, pos = _element(blob, pos)
    dseq, pos = _element(blob, pos)
    assert isinstance(flags, int) and isinstance(dms, int) and isinstance(dseq, int)
    if flags & FLAG_SAMEFIELDS:
        parts = [b"*%d\r\n" % (2 * len(master_bulks))]
        for name in master_bulks:
            value, pos = _element(blob, pos)
            parts.append(name)
            parts.append(_bulk(value))
    else:
        count, pos = _element(blob, pos)
        assert isinstance(count, int)
        parts = [b"*%d\r\n" % (2 * count)]
        for _ in range(count):
            field, pos = _element(blob, pos)
            value, pos = _element(blob, pos)
            parts.append(_bulk(field))
            parts.append(_bulk(value))
    _, pos = _element(blob, pos)  # lp-count
    stream_id = ((master[0] + dms) & U64, (master[1] + dseq) & U64)
    return flags, stream_id, b"".join(parts), pos


def iter_replies(master: StreamID, blob: bytes, reverse: bool = False
                 ) -> Iterator[tuple[int, StreamID, bytes]]:
    """(flags, ID, RESP array of fields and values) of a node's entries, tombstones
    included, first to last or (reverse) last to first, decoded one at a time."""
    master_fields, first = _header(blob)
    bulks = [_bulk(f) for f in master_fields]
    if not reverse:
        pos = first
        end = len(blob) - 1
        while pos < end:
            flags, stream_id, reply, pos = _reply_at(blob, pos, master, bulks)
            yield flags, stream_id, reply
        return
    pos = len(blob) - 1
    while pos > first:
        count_at = _element_before(blob, pos)
        count, _ = _element(blob, count_at)
        assert isinstance(count, int)
        start = count_at
        for _ in range(count):
            start = _element_before(blob, start)
        yield _reply_at(blob, start, master, bulks)[:3]
        pos = start


def new_node(stream_id: StreamID, fields: list[bytes], values: list[bytes]) -> bytes:
    """A node opened by this entry: the entry's fields become the master fields."""
    n = len(fields)
    elements: list[int | bytes] = [1, 0, n, *fields, 0, FLAG_SAMEFIELDS, 0, 0, *values, n + 3]
    return encode_listpack(elements)


def node_has_room(blob: bytes, added_bytes: int, max_bytes: int, max_entries: int) -> bool:
    """Whether Redis would append an entry whose fields and values total `added_bytes` to
    this tail node rather than open a new one."""
    if max_bytes <= 0 or max_bytes > LISTPACK_MAX_SIZE:
        max_bytes = LISTPACK_MAX_SIZE
    if len(blob) + added_bytes >= max_bytes:
        return False
    if max_entries:
        live, pos = _element(blob, 6)
        deleted, _ = _element(blob, pos)
        assert isinstance(live, int) and isinstance(deleted, int)
        if live + deleted >= max_entries:
            return False
    return True


def _skip(blob: bytes, pos: int) -> int:
    """The position after the element at `pos` (nothing is decoded)."""
    first = blob[pos]
    if first < 0x80:
        return pos + 2
    if first < 0xC0:
        size = 1 + (first & 0x3F)
    elif first < 0xE0:
        return pos + 3
    elif first < 0xF0:
        size = 2 + (((first & 0x0F) << 8) | blob[pos + 1])
    elif first == 0xF0:
        size = 5 + int.from_bytes(blob[pos + 1:pos + 5], "little")
    else:
        return pos + 2 + (2, 3, 4, 8)[first - 0xF1]
    return pos + size + _backlen_size(size)


def entry_flags(master: StreamID, blob: bytes) -> Iterator[tuple[int, int, StreamID]]:
    """(position of the flags element, flags, ID) of a node's entries in order, skipping
    over fields and values without decoding them: what XDEL and exact trimming need to
    mark entries deleted in place."""
    pos = _skip(blob, _skip(blob, 6))  # live count, tombstones
    nfields, pos = _element(blob, pos)
    assert isinstance(nfields, int)
    for _ in range(nfields + 1):  # the master fields and the terminating 0
        pos = _skip(blob, pos)
    end = len(blob) - 1
    mms, mseq = master
    while pos < end:
        at = pos
        flags, pos = _element(blob, pos)
        dms, pos = _element(blob, pos)
        dseq, pos = _element(blob, pos)
        assert isinstance(flags, int) and isinstance(dms, int) and isinstance(dseq, int)
        if flags & FLAG_SAMEFIELDS:
            skip = nfields
        else:
            count, pos = _element(blob, pos)
            assert isinstance(count, int)
            skip = 2 * count
        for _ in range(skip + 1):  # values (and fields), then lp-count
            pos = _skip(blob, pos)
        yield at, flags, ((mms + dms) & U64, (mseq + dseq) & U64)


def mark_deleted(blob: bytes, flag_positions: list[int]) -> bytes:
    """The node with the entries whose flags sit at these positions marked deleted and
    its live / tombstone counts moved, as Redis's in-place integer replacements leave
    it (flags 0..3 are one-byte elements; only the counts may change size)."""
    out = bytearray(blob)
    for at in flag_positions:
        out[at] |= FLAG_DELETED
    live, pos = _element(blob, 6)
    tombstones, rest = _element(blob, pos)
    assert isinstance(live, int) and isinstance(tombstones, int)
    n = len(flag_positions)
    body = encode_entry(live - n) + encode_entry(tombstones + n) + bytes(out[rest:])
    return (6 + len(body)).to_bytes(4, "little") + blob[4:6] + body


def node_live(blob: bytes) -> int:
    """A node's live entry count (the master entry's first element)."""
    live, _ = _element(blob, 6)
    assert isinstance(live, int)
    return live


def append_to_node(blob: bytes, master: StreamID, stream_id: StreamID, fields: list[bytes],
                   values: list[bytes]) -> bytes:
    """The node with one more entry at its end (and its live count raised), byte for byte
    what Redis's append makes of it, without re-encoding the existing entries."""
    live, first_end = _element(blob, 6)
    assert isinstance(live, int)
    _, pos = _element(blob, first_end)  # tombstones
    nfields, pos = _element(blob, pos)
    # Same field names, in the same order, as the master entry? Then only values are kept.
    same = nfields == len(fields)
    if same:
        for field in fields:
            master_field, pos = _element(blob, pos)
            if as_bytes(master_field) != field:
                same = False
                break
    n = len(fields)
    added: list[int | bytes] = [FLAG_SAMEFIELDS if same else 0,
                                _signed(stream_id[0] - master[0]),
                                _signed(stream_id[1] - master[1])]
    if same:
        added.extend(values)
        added.append(n + 3)
    else:
        added.append(n)
        for field, value in zip(fields, values, strict=True):
            added.append(field)
            added.append(value)
        added.append(2 * n + 4)
    body = b"".join((encode_entry(live + 1), blob[first_end:-1],
                     *[encode_entry(e) for e in added], b"\xff"))
    old_count = int.from_bytes(blob[4:6], "little")
    count = min(old_count + len(added), COUNT_UNKNOWN)
    return (6 + len(body)).to_bytes(4, "little") + count.to_bytes(2, "little") + body


def last_entry_id(master: StreamID, blob: bytes) -> StreamID:
    """The ID of the node's last entry, tombstone or not (Redis's lpGetEdgeStreamID)."""
    return next(iter_replies(master, blob, reverse=True))[1]


# --------------------------------------------------------------------------- radix tree
def radix_tree_nodes(keys: list[bytes]) -> int:
    """How many nodes Redis's radix tree has for these node keys (all 16 bytes, sorted):
    XINFO STREAM's radix-tree-nodes. A rax is a compressed trie: a chain of single-child
    steps is one node, each branching point one node, each key ends in an empty leaf
    node; the root exists even when the tree is empty."""
    if not keys:
        return 1
    return _subtree_nodes(keys, 0, 0, len(keys), root=True)


def _subtree_nodes(keys: list[bytes], depth: int, lo: int, hi: int, root: bool = False) -> int:
    width = len(keys[lo])
    if hi - lo == 1:
        # One key below this point: its remaining bytes in one node, then the leaf.
        return 2 if depth < width else 1
    # Common prefix of the keys in [lo, hi) beyond depth (sorted: compare first and last).
    first, last = keys[lo], keys[hi - 1]
    common = depth
    while common < width and first[common] == last[common]:
        common += 1
    total = 1 if common > depth else 0  # the compressed run
    total += 1  # the branching node
    start = lo
    while start < hi:
        byte = keys[start][common]
        end = start + 1
        while end < hi and keys[end][common] == byte:
            end += 1
        total += _subtree_nodes(keys, common + 1, start, end)
        start = end
    return total
