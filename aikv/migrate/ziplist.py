"""Read-only decoders for the containers of pre-7.0 payloads: ziplist and zipmap.

7.0 never writes them, but RESTORE accepts them (types 9, 10, 12, 13, 14), so payloads
from older peers and tools still load. AiKv never writes either format.

Ziplist: u32 LE total bytes, u32 LE offset of the last entry, u16 LE count (65535 =
unknown), entries, 0xFF. Entry: previous entry's size (1 byte, or 0xFE + u32 LE), an
encoding (string with 6/14/32-bit length, or int8/16/24/32/64, or an immediate 0..12),
the data.

Zipmap (Redis <= 2.4 hashes): u8 count (254 = unknown), then per pair: key length
(1 byte, or 254 + u32 LE), key, value length, one "free" byte, value, that many unused
bytes; 0xFF ends it.
"""

from __future__ import annotations

from .errors import bad_data

_ZL_HEADER_SIZE = 10
_ZL_END = 0xFF
_ZL_COUNT_UNKNOWN = 0xFFFF
# Integer encodings: first byte -> payload width in bytes.
_ZL_INT_WIDTH = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}
_ZM_BIGLEN = 254
_ZM_END = 0xFF


def decode_ziplist(blob: bytes) -> list[bytes]:
    """Elements of a ziplist in order, validated as strictly as Redis's deep check.

    Refused: wrong total size, missing terminator, unknown encodings, entries crossing
    the end, a ``prevlen`` that is not the previous entry's size, a tail offset that does
    not point at the last entry, and a count that disagrees with the entries.
    """
    size = len(blob)
    if size < _ZL_HEADER_SIZE + 1:
        raise bad_data("ziplist shorter than its header")
    if int.from_bytes(blob[0:4], "little") != size or blob[-1] != _ZL_END:
        raise bad_data("ziplist size or terminator wrong")
    tail = int.from_bytes(blob[4:8], "little")
    declared = int.from_bytes(blob[8:10], "little")
    last = size - 1
    elements: list[bytes] = []
    pos = _ZL_HEADER_SIZE
    prev_start = -1
    prev_size = 0
    while pos < last:
        start = pos
        if blob[pos] < 0xFE:
            prevlen = blob[pos]
            pos += 1
        elif blob[pos] == 0xFE:
            if pos + 5 > last:
                raise bad_data("ziplist entry truncated")
            prevlen = int.from_bytes(blob[pos + 1 : pos + 5], "little")
            pos += 5
        else:
            raise bad_data("ziplist terminator inside the entries")
        if prevlen != prev_size:
            raise bad_data("ziplist prevlen does not match")
        if pos >= last:
            raise bad_data("ziplist entry truncated")
        enc = blob[pos]
        if enc < 0xC0:
            kind = enc >> 6
            if kind == 0:
                length, header = enc & 0x3F, 1
            elif kind == 1:
                if pos + 2 > last:
                    raise bad_data("ziplist entry truncated")
                length, header = ((enc & 0x3F) << 8) | blob[pos + 1], 2
            else:
                if pos + 5 > last:
                    raise bad_data("ziplist entry truncated")
                length, header = int.from_bytes(blob[pos + 1 : pos + 5], "big"), 5
            pos += header
            if pos + length > last:
                raise bad_data("ziplist string overruns")
            elements.append(blob[pos : pos + length])
            pos += length
        elif 0xF1 <= enc <= 0xFD:
            elements.append(b"%d" % ((enc & 0x0F) - 1))
            pos += 1
        elif enc in _ZL_INT_WIDTH:
            width = _ZL_INT_WIDTH[enc]
            if pos + 1 + width > last:
                raise bad_data("ziplist integer truncated")
            value = int.from_bytes(blob[pos + 1 : pos + 1 + width], "little", signed=True)
            elements.append(b"%d" % value)
            pos += 1 + width
        else:
            raise bad_data(f"invalid ziplist encoding 0x{enc:02x}")
        prev_start = start
        prev_size = pos - start
    if pos != last:
        raise bad_data("ziplist entries overrun the terminator")
    if tail != (prev_start if elements else _ZL_HEADER_SIZE):
        raise bad_data("ziplist tail offset wrong")
    if declared != _ZL_COUNT_UNKNOWN and declared != len(elements):
        raise bad_data("ziplist count does not match")
    return elements


def _zipmap_length(blob: bytes, pos: int, last: int) -> tuple[int, int]:
    first = blob[pos]
    if first < _ZM_BIGLEN:
        return first, pos + 1
    if first == _ZM_END:
        raise bad_data("zipmap terminator inside the entries")
    if pos + 5 > last:
        raise bad_data("zipmap length truncated")
    return int.from_bytes(blob[pos + 1 : pos + 5], "little"), pos + 5


def decode_zipmap(blob: bytes) -> list[tuple[bytes, bytes]]:
    """(field, value) pairs of a zipmap, in order; refused if malformed or empty."""
    size = len(blob)
    if size < 2 or blob[-1] != _ZM_END:
        raise bad_data("zipmap too short or without terminator")
    last = size - 1
    pairs: list[tuple[bytes, bytes]] = []
    pos = 1
    while pos < last:
        key_len, pos = _zipmap_length(blob, pos, last)
        if pos + key_len >= last:
            raise bad_data("zipmap key overruns")
        key = blob[pos : pos + key_len]
        pos += key_len
        value_len, pos = _zipmap_length(blob, pos, last)
        if pos >= last:
            raise bad_data("zipmap value truncated")
        free = blob[pos]
        pos += 1
        if pos + value_len + free > last:
            raise bad_data("zipmap value overruns")
        pairs.append((key, blob[pos : pos + value_len]))
        pos += value_len + free
    if pos != last or not pairs:
        raise bad_data("zipmap malformed or empty")
    if blob[0] != _ZM_BIGLEN and blob[0] != len(pairs):
        raise bad_data("zipmap count does not match")
    return pairs
