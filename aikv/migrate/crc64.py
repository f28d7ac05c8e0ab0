"""CRC-64/Jones, the checksum that closes every DUMP payload.

Parameters (as redis-server uses them for DUMP/RESTORE): reflected polynomial
0x95AC9329AC4BC9B5, reflected input and output, initial value 0, no final XOR.
Check value: ``crc64(b"123456789") == 0xE9C6D914C4B8D9CA``.

Pure Python pays per interpreted operation, not per bit, so the loop consumes eight bytes
per step ("slicing-by-8"): the running CRC is XORed with a little-endian 64-bit word and
each of its eight bytes is pushed through its own table, which advances it by the right
number of byte positions. That is about 1.5x faster than the byte-at-a-time loop; larger
(16-bit indexed) tables were measured slower, because they no longer fit in cache.
"""

from __future__ import annotations

import struct

_POLY_REFLECTED = 0x95AC9329AC4BC9B5


def _build_tables() -> tuple[list[int], ...]:
    base: list[int] = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY_REFLECTED if crc & 1 else crc >> 1
        base.append(crc)
    # tables[k][b]: the contribution of byte b followed by k zero bytes.
    tables = [base]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(value >> 8) ^ base[value & 0xFF] for value in prev])
    return tuple(tables)


_TABLES = _build_tables()
_WORDS = struct.Struct("<Q")


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/Jones of ``data``; pass a previous result as ``crc`` to continue it."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _TABLES
    view = memoryview(data).cast("B")
    whole = len(view) - len(view) % 8
    for (word,) in _WORDS.iter_unpack(view[:whole]):
        crc ^= word
        crc = (
            t7[crc & 0xFF]
            ^ t6[crc >> 8 & 0xFF]
            ^ t5[crc >> 16 & 0xFF]
            ^ t4[crc >> 24 & 0xFF]
            ^ t3[crc >> 32 & 0xFF]
            ^ t2[crc >> 40 & 0xFF]
            ^ t1[crc >> 48 & 0xFF]
            ^ t0[crc >> 56]
        )
    for byte in view[whole:]:
        crc = t0[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc
