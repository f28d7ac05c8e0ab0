"""The 16384-slot bitmap carried by every bus header (`myslots`) and by UPDATE.

Wire order (spec §2.1): slot s is bit (s & 7) of byte (s >> 3), least significant bit
first. Read as one little-endian integer, that makes slot s exactly bit s, so set algebra
and range extraction are done on Python ints instead of looping over 2048 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from aikv.bus.protocol import SLOT_BITMAP_SIZE
from aikv.cluster.slots import CLUSTER_SLOTS

_ALL_BITS = (1 << CLUSTER_SLOTS) - 1
_ZERO = bytes(SLOT_BITMAP_SIZE)
_ONES = re.compile("1+")
_FEW_RUNS = 32


class SlotBitmap:
    """Immutable slot set stored as its 2048 wire bytes.

    Equality and hashing are on the bytes, so comparing a received `myslots` with the
    bitmap we hold for a node is one memcmp."""

    __slots__ = ("_bits",)

    def __init__(self, bits: bytes = _ZERO) -> None:
        if len(bits) != SLOT_BITMAP_SIZE:
            raise ValueError(f"slot bitmap must be {SLOT_BITMAP_SIZE} bytes, got {len(bits)}")
        self._bits = bytes(bits)

    @property
    def bits(self) -> bytes:
        return self._bits

    @classmethod
    def from_int(cls, value: int) -> SlotBitmap:
        if value < 0 or value > _ALL_BITS:
            raise ValueError("slot bitmap integer out of range")
        return cls(value.to_bytes(SLOT_BITMAP_SIZE, "little"))

    def to_int(self) -> int:
        return int.from_bytes(self._bits, "little")

    @classmethod
    def from_slots(cls, slots: Iterable[int]) -> SlotBitmap:
        buf = bytearray(SLOT_BITMAP_SIZE)
        for slot in slots:
            _check_slot(slot)
            buf[slot >> 3] |= 1 << (slot & 7)
        return cls(bytes(buf))

    @classmethod
    def from_ranges(cls, ranges: Iterable[tuple[int, int]]) -> SlotBitmap:
        """Inclusive (start, end) ranges, as CLUSTER NODES and the fixtures show them."""
        value = 0
        for start, end in ranges:
            _check_slot(start)
            _check_slot(end)
            if end < start:
                raise ValueError(f"empty slot range {start}-{end}")
            value |= ((1 << (end - start + 1)) - 1) << start
        return cls.from_int(value)

    def to_ranges(self) -> list[tuple[int, int]]:
        """Sorted inclusive ranges (maximal runs)."""
        value = self.to_int()
        # Each run has two edges where a bit differs from its lower neighbour.
        runs = (value ^ (value << 1)).bit_count() // 2
        if runs > _FEW_RUNS:
            # Many short runs: one C-speed scan over the bit string beats a big-int
            # shift per run (each shift copies the whole 2 KiB number).
            bits = format(value, "b")[::-1]
            return [(m.start(), m.end() - 1) for m in _ONES.finditer(bits)]
        ranges: list[tuple[int, int]] = []
        base = 0
        while value:
            zeros = (value & -value).bit_length() - 1
            value >>= zeros
            base += zeros
            ones = (~value & (value + 1)).bit_length() - 1
            ranges.append((base, base + ones - 1))
            value >>= ones
            base += ones
        return ranges

    def __iter__(self) -> Iterator[int]:
        for start, end in self.to_ranges():
            yield from range(start, end + 1)

    def __contains__(self, slot: object) -> bool:
        if not isinstance(slot, int) or not 0 <= slot < CLUSTER_SLOTS:
            return False
        return bool(self._bits[slot >> 3] & (1 << (slot & 7)))

    def count(self) -> int:
        return self.to_int().bit_count()

    def __bool__(self) -> bool:
        return self._bits != _ZERO

    def with_slots(self, slots: Iterable[int]) -> SlotBitmap:
        return self | SlotBitmap.from_slots(slots)

    def without_slots(self, slots: Iterable[int]) -> SlotBitmap:
        return self - SlotBitmap.from_slots(slots)

    def __or__(self, other: SlotBitmap) -> SlotBitmap:
        return SlotBitmap.from_int(self.to_int() | other.to_int())

    def __and__(self, other: SlotBitmap) -> SlotBitmap:
        return SlotBitmap.from_int(self.to_int() & other.to_int())

    def __sub__(self, other: SlotBitmap) -> SlotBitmap:
        return SlotBitmap.from_int(self.to_int() & ~other.to_int())

    def __xor__(self, other: SlotBitmap) -> SlotBitmap:
        return SlotBitmap.from_int(self.to_int() ^ other.to_int())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SlotBitmap):
            return NotImplemented
        return self._bits == other._bits

    def __hash__(self) -> int:
        return hash(self._bits)

    def __repr__(self) -> str:
        text = ",".join(f"{a}-{b}" if a != b else str(a) for a, b in self.to_ranges())
        return f"SlotBitmap({text or 'empty'})"


def _check_slot(slot: int) -> None:
    if not 0 <= slot < CLUSTER_SLOTS:
        raise ValueError(f"slot {slot} out of range 0..{CLUSTER_SLOTS - 1}")


NO_SLOTS = SlotBitmap()
ALL_SLOTS = SlotBitmap.from_int(_ALL_BITS)
