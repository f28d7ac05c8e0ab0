"""CRC-64/Jones: the lane-parallel path must agree with the byte-serial definition."""

from __future__ import annotations

import random

import pytest

from aikv.migrate import crc64 as crc_module
from aikv.migrate.crc64 import LANES_FROM, SHORT_MAX, crc64

_POLY = 0x95AC9329AC4BC9B5


def _bitwise(data: bytes, crc: int = 0) -> int:
    """The definition, one bit at a time (reflected, init 0, no final XOR)."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
    return crc


def test_check_value() -> None:
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 63, 64, 65, LANES_FROM - 1, LANES_FROM,
                                  LANES_FROM + 1, 4095, 4096, 4097, 65536 + 3, 300_001])
def test_every_size_matches_the_definition(size: int) -> None:
    data = random.Random(size).randbytes(size)
    assert crc64(data) == _bitwise(data)


@pytest.mark.parametrize("size", [LANES_FROM, 10_000, 1 << 20])
def test_lanes_and_slicing_agree_from_any_starting_state(size: int) -> None:
    data = random.Random(size + 1).randbytes(size)
    for start in (0, 1, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF):
        assert crc_module._crc64_lanes(data, start) == crc_module._crc64_slicing(data, start)


def test_continuation_across_the_lane_threshold() -> None:
    data = random.Random(7).randbytes(3 * LANES_FROM + 5)
    whole = crc64(data)
    for cut in (1, LANES_FROM - 1, LANES_FROM, 2 * LANES_FROM + 3):
        assert crc64(data[cut:], crc64(data[:cut])) == whole


def test_memoryview_and_bytearray_inputs() -> None:
    data = random.Random(9).randbytes(LANES_FROM * 3)
    view = memoryview(data)[5:-5]
    assert crc64(view) == crc64(bytearray(view)) == _bitwise(bytes(view))


def test_a_single_flipped_bit_changes_the_crc() -> None:
    data = bytearray(random.Random(11).randbytes(50_000))
    before = crc64(data)
    data[31_337] ^= 0x10
    assert crc64(data) != before


def test_short_inputs_of_every_length_match_the_definition() -> None:
    # The per-position tables cover each length up to SHORT_MAX with its own table set;
    # continuing a CRC (start != 0) takes the slicing path and must agree as well.
    rng = random.Random(13)
    for size in range(SHORT_MAX + 2):
        data = rng.randbytes(size)
        assert crc64(data) == _bitwise(data), size
        assert crc64(memoryview(b"x" + data)[1:]) == _bitwise(data), size
        assert crc64(data, 0x0123456789ABCDEF) == _bitwise(data, 0x0123456789ABCDEF), size
