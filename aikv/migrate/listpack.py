"""Listpack (Redis 7.0 format): the compact container inside list nodes, small hashes and
small sorted sets of a DUMP payload.

Layout: u32 LE total bytes, u16 LE element count (65535 = "too many, count them"), the
entries, a 0xFF terminator. An entry is encoding + data followed by its "backlen": the
size of encoding + data in 1-5 bytes of 7 bits, most significant group first, with 0x80
set on every byte except the first, so a reader walking backwards from the next entry
knows where to stop.

Elements that spell a canonical int64 are stored as integers (7-bit, 13-bit, 16/24/32/64
bit), everything else as strings (6-bit, 12-bit or 32-bit length); integers read back as
their decimal text, so the element bytes survive either way.
"""

from __future__ import annotations

from collections.abc import Iterable

from .encoding import canonical_int
from .errors import bad_data

HEADER_SIZE = 6
EMPTY_SIZE = HEADER_SIZE + 1  # header + terminator
COUNT_UNKNOWN = 0xFFFF
_EOF = 0xFF

_STR_32BIT = 0xF0
_INT_16BIT = 0xF1
_INT_24BIT = 0xF2
_INT_32BIT = 0xF3
_INT_64BIT = 0xF4


def encode_backlen(size: int) -> bytes:
    """The backlen bytes that follow an entry whose encoding + data take ``size`` bytes."""
    if size <= 127:
        return bytes((size,))
    if size < 16383:
        return bytes((size >> 7, (size & 127) | 128))
    if size < 2097151:
        return bytes((size >> 14, ((size >> 7) & 127) | 128, (size & 127) | 128))
    if size < 268435455:
        return bytes(
            (size >> 21, ((size >> 14) & 127) | 128, ((size >> 7) & 127) | 128, (size & 127) | 128)
        )
    return bytes(
        (
            size >> 28,
            ((size >> 21) & 127) | 128,
            ((size >> 14) & 127) | 128,
            ((size >> 7) & 127) | 128,
            (size & 127) | 128,
        )
    )


def _encode_int(value: int) -> bytes:
    if 0 <= value <= 127:
        return bytes((value,))
    if -4096 <= value <= 4095:
        raw = value & 0x1FFF  # 13-bit two's complement
        return bytes((0xC0 | (raw >> 8), raw & 0xFF))
    if -(1 << 15) <= value < (1 << 15):
        return bytes((_INT_16BIT,)) + value.to_bytes(2, "little", signed=True)
    if -(1 << 23) <= value < (1 << 23):
        return bytes((_INT_24BIT,)) + value.to_bytes(3, "little", signed=True)
    if -(1 << 31) <= value < (1 << 31):
        return bytes((_INT_32BIT,)) + value.to_bytes(4, "little", signed=True)
    return bytes((_INT_64BIT,)) + value.to_bytes(8, "little", signed=True)


def _encode_str(data: bytes) -> bytes:
    size = len(data)
    if size < 64:
        return bytes((0x80 | size,)) + data
    if size < 4096:
        return bytes((0xE0 | (size >> 8), size & 0xFF)) + data
    return bytes((_STR_32BIT,)) + size.to_bytes(4, "little") + data


def encode_entry(element: bytes | int) -> bytes:
    """One complete entry (encoding, data, backlen) for an element.

    An ``int`` is stored as an integer (Redis does that for integral zset scores); bytes
    become an integer when they spell a canonical int64, a string otherwise.
    """
    if isinstance(element, int):
        body = _encode_int(element)
    else:
        value = canonical_int(element)
        body = _encode_str(element) if value is None else _encode_int(value)
    return body + encode_backlen(len(body))


class ListpackBuilder:
    """Appends entries and tracks the exact byte size, as quicklist node splitting needs."""

    __slots__ = ("_entries", "count", "size")

    def __init__(self) -> None:
        self._entries: list[bytes] = []
        self.count = 0
        self.size = EMPTY_SIZE

    def append(self, element: bytes | int) -> None:
        entry = encode_entry(element)
        self._entries.append(entry)
        self.count += 1
        self.size += len(entry)

    def to_bytes(self) -> bytes:
        if self.size > 0xFFFFFFFF:
            raise ValueError("listpack larger than 4 GB")
        header = self.size.to_bytes(4, "little") + min(self.count, COUNT_UNKNOWN).to_bytes(
            2, "little"
        )
        return b"".join((header, *self._entries, bytes((_EOF,))))


def encode_listpack(elements: Iterable[bytes | int]) -> bytes:
    """A whole listpack holding ``elements`` in order."""
    builder = ListpackBuilder()
    for element in elements:
        builder.append(element)
    return builder.to_bytes()


def decode_listpack(blob: bytes) -> list[bytes]:
    """Every element of a listpack, in order, fully validated.

    Checked: header size equals the blob size, every entry's encoding is known and lies
    inside the blob, every backlen is exactly what Redis writes for that entry, the
    terminator ends the blob, and the header count is right (unless 65535). Redis 7.0
    checks only the header, size and terminator by default and crashes later on a bad
    entry; AiKv decodes eagerly, so it refuses here instead.
    """
    size = len(blob)
    if size < EMPTY_SIZE:
        raise bad_data("listpack shorter than its header")
    if int.from_bytes(blob[0:4], "little") != size:
        raise bad_data("listpack size field does not match")
    if blob[-1] != _EOF:
        raise bad_data("listpack without terminator")
    declared = int.from_bytes(blob[4:6], "little")
    last = size - 1  # position of the terminator
    elements: list[bytes] = []
    pos = HEADER_SIZE
    while pos < last:
        start = pos
        first = blob[pos]
        if first < 0x80:
            element = b"%d" % first
            pos += 1
        elif first < 0xC0:
            length = first & 0x3F
            pos += 1
            element = blob[pos : pos + length]
            pos += length
        elif first < 0xE0:
            if pos + 2 > last:
                raise bad_data("listpack entry truncated")
            raw = ((first & 0x1F) << 8) | blob[pos + 1]
            element = b"%d" % (raw - 0x2000 if raw >= 0x1000 else raw)
            pos += 2
        elif first < 0xF0:
            if pos + 2 > last:
                raise bad_data("listpack entry truncated")
            length = ((first & 0x0F) << 8) | blob[pos + 1]
            pos += 2
            element = blob[pos : pos + length]
            pos += length
        elif first == _STR_32BIT:
            if pos + 5 > last:
                raise bad_data("listpack entry truncated")
            length = int.from_bytes(blob[pos + 1 : pos + 5], "little")
            pos += 5
            element = blob[pos : pos + length]
            pos += length
        elif _INT_16BIT <= first <= _INT_64BIT:
            width = (2, 3, 4, 8)[first - _INT_16BIT]
            if pos + 1 + width > last:
                raise bad_data("listpack entry truncated")
            value = int.from_bytes(blob[pos + 1 : pos + 1 + width], "little", signed=True)
            element = b"%d" % value
            pos += 1 + width
        else:
            raise bad_data(f"invalid listpack encoding 0x{first:02x}")
        body_len = pos - start
        backlen = encode_backlen(body_len)
        if pos + len(backlen) > last or blob[pos : pos + len(backlen)] != backlen:
            raise bad_data("listpack entry with a wrong backlen or out of bounds")
        pos += len(backlen)
        elements.append(element)
    if pos != last:
        raise bad_data("listpack entries overrun the terminator")
    if declared != COUNT_UNKNOWN and declared != len(elements):
        raise bad_data("listpack element count does not match")
    return elements
