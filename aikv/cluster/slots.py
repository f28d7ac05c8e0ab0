"""Hash slots: CRC16 (XMODEM) of the key or of its hash tag, modulo 16384.

Every key AiKv stores is prefixed by its slot, in standalone mode too, so this function
sits on the hot path of every keyed command. `binascii.crc_hqx` with a zero seed is
exactly CRC-16/XMODEM and runs in C; the table version below documents the algorithm and
cross-checks it in the tests.
"""

from __future__ import annotations

from binascii import crc_hqx

CLUSTER_SLOTS = 16384
SLOT_MASK = CLUSTER_SLOTS - 1


def _build_crc16_table() -> tuple[int, ...]:
    # CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection.
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC16_TABLE = _build_crc16_table()


def crc16_reference(data: bytes) -> int:
    crc = 0
    table = _CRC16_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFF00) ^ table[((crc >> 8) ^ byte) & 0xFF]
    return crc


def crc16(data: bytes) -> int:
    return crc_hqx(data, 0)


def hash_tag(key: bytes) -> bytes:
    """The part of `key` that decides its slot: the bytes between the first '{' and the
    first '}' after it, when there is at least one such byte; otherwise the whole key."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def key_hash_slot(key: bytes) -> int:
    # Inlined hash_tag(): this runs for every key of every command.
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return crc_hqx(key[start + 1 : end], 0) & SLOT_MASK
    return crc_hqx(key, 0) & SLOT_MASK
