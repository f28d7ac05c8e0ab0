"""The HyperLogLog format (aikv/hyperloglog.py) on bytes: golden values captured from
redis-server 7.0.15, and the sparse and dense encodings checked against each other."""

from __future__ import annotations

import hashlib
import random

import pytest

from aikv import hyperloglog as hll

# Captured from redis-server 7.0.15: PFADD s a b c; GET s / PFDEBUG DECODE s.
SPARSE_ABC = bytes.fromhex("48594c4c01000000000000000000008060f38050b1844bfb80425a")
DECODE_ABC = b"Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"


def test_new_sparse_is_one_xzero_with_a_clean_header() -> None:
    assert bytes(hll.new_sparse()) == b"HYLL\x01" + bytes(11) + b"\x7f\xff"


def test_three_elements_give_redis_bytes() -> None:
    value = hll.new_sparse()
    assert [hll.add(value, e, 3000) for e in (b"a", b"b", b"c")] == [True, True, True]
    hll.invalidate_card(value)
    assert bytes(value) == SPARSE_ABC
    assert hll.describe_sparse(value) == DECODE_ABC
    assert hll.add(value, b"a", 3000) is False


def test_counts_match_redis() -> None:
    small = hll.new_sparse()
    for i in range(1000):
        hll.add(small, b"x%d" % i, 3000)
    assert small[4] == hll.SPARSE
    assert hll.estimate(hll.histogram(small)) == 1001
    big = hll.new_sparse()
    for i in range(100_000):
        hll.add(big, b"y%d" % i, 3000)
    assert big[4] == hll.DENSE
    assert hll.estimate(hll.histogram(big)) == 100651
    hll.set_cached_card(big, 100651)  # Redis's PFCOUNT stored it before the capture
    assert hashlib.sha1(bytes(big)).hexdigest() == "d5d18332c89dd31e92b531119197c38ab3ed7e1a"
    maxima = [0] * hll.REGISTERS
    hll.merge_into(maxima, small)
    hll.merge_into(maxima, big)
    assert hll.estimate(hll.histogram_of(maxima)) == 101699


def test_empty_estimate_is_zero() -> None:
    assert hll.estimate(hll.histogram(hll.new_sparse())) == 0


@pytest.mark.parametrize("max_bytes", [0, 40, 300, 3000, 100_000])
def test_sparse_and_dense_hold_the_same_registers(max_bytes: int) -> None:
    rng = random.Random(max_bytes)
    sparse = hll.new_sparse()
    dense = hll.new_sparse()
    hll.to_dense(dense)
    for step in range(2500):
        element = b"%d" % rng.randrange(10**9)
        assert hll.add(sparse, element, max_bytes) == hll.add(dense, element, max_bytes)
        if step % 250 == 0:
            if sparse[4] == hll.SPARSE:
                assert sum(n for _, n in hll.sparse_runs(sparse)) == hll.REGISTERS
                assert len(sparse) <= max(max_bytes, len(hll.new_sparse()))
            copy = bytearray(sparse)
            hll.to_dense(copy)
            assert hll.dense_registers(copy) == hll.dense_registers(dense)
            assert hll.histogram(sparse) == hll.histogram(dense)


def test_register_values_over_32_force_dense() -> None:
    value = hll.new_sparse()
    assert hll.sparse_set(value, 5, 33, 3000)
    assert value[4] == hll.DENSE and len(value) == hll.DENSE_SIZE
    assert hll.dense_registers(value)[5] == 33


@pytest.mark.parametrize("damage", [
    b"\x7f\xfe",             # one register short
    b"\x7f\xff\x00",         # a ZERO run past the end
    b"",                     # nothing at all
])
def test_corrupt_sparse_is_detected(damage: bytes) -> None:
    value = bytearray(b"HYLL\x01" + bytes(11) + damage)
    with pytest.raises(hll.InvalidHll):
        hll.histogram(value)
    with pytest.raises(hll.InvalidHll):
        hll.to_dense(bytearray(value))


def test_val_run_past_the_end_is_corrupt() -> None:
    # The patched redis-server (CVE-2025-32023) refuses it when counting, merging and
    # converting alike; PFADD still edits the opcodes before it.
    value = bytearray(b"HYLL\x01" + bytes(11) + b"\x7f\xfb\x83\x80")
    with pytest.raises(hll.InvalidHll):
        hll.histogram(value)
    with pytest.raises(hll.InvalidHll):
        hll.to_dense(bytearray(value))
    with pytest.raises(hll.InvalidHll):
        hll.merge_into([0] * hll.REGISTERS, value)
    assert hll.add(value, b"a", 3000)
    assert bytes(value[16:]) == bytes.fromhex("71a6844e538380")  # as redis-server left it


def test_validity_checks() -> None:
    assert hll.is_hll(SPARSE_ABC)
    assert not hll.is_hll(b"HYLL\x01")
    assert not hll.is_hll(b"HYLX" + SPARSE_ABC[4:])
    assert not hll.is_hll(b"HYLL\x02" + SPARSE_ABC[5:])
    assert not hll.is_hll(b"HYLL\x00" + SPARSE_ABC[5:])  # dense must be 12,304 bytes
