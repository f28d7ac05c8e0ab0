"""Intset: the sorted array of integers behind small all-integer sets (SET_INTSET).

Layout, all little-endian: u32 element width in bytes (2, 4 or 8: the widest member
decides), u32 element count, then the elements, signed, strictly ascending.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import bad_data

_HEADER_SIZE = 8
_WIDTHS = (2, 4, 8)


def _width_for(value: int) -> int:
    if -(1 << 15) <= value < (1 << 15):
        return 2
    if -(1 << 31) <= value < (1 << 31):
        return 4
    return 8


def encode_intset(values: Iterable[int]) -> bytes:
    """The intset holding ``values`` (any order, duplicates collapse) as Redis lays it out."""
    ordered = sorted(set(values))
    width = max((_width_for(v) for v in ordered), default=2)
    parts = [width.to_bytes(4, "little"), len(ordered).to_bytes(4, "little")]
    parts.extend(v.to_bytes(width, "little", signed=True) for v in ordered)
    return b"".join(parts)


def decode_intset(blob: bytes) -> list[int]:
    """The members of an intset, validated: known width, exact size, non-empty, ascending.

    Redis checks order only under sanitize-dump-payload; a set with duplicates or out of
    order members breaks its binary search, so AiKv always refuses them.
    """
    if len(blob) < _HEADER_SIZE:
        raise bad_data("intset shorter than its header")
    width = int.from_bytes(blob[0:4], "little")
    count = int.from_bytes(blob[4:8], "little")
    if width not in _WIDTHS:
        raise bad_data(f"intset with element width {width}")
    if _HEADER_SIZE + count * width != len(blob):
        raise bad_data("intset size does not match its count")
    if count == 0:
        raise bad_data("empty intset")
    values = [
        int.from_bytes(blob[pos : pos + width], "little", signed=True)
        for pos in range(_HEADER_SIZE, len(blob), width)
    ]
    for prev, cur in zip(values, values[1:], strict=False):
        if cur <= prev:
            raise bad_data("intset not strictly ascending")
    return values
