"""Redis's HyperLogLog string format, byte for byte: hashing, the sparse and dense
register encodings, merging and the cardinality estimate (pure functions over bytes).

A HyperLogLog is an ordinary string value (so GET, DUMP, MIGRATE carry it as-is between
AiKv and Redis): a 16-byte header ("HYLL", encoding, 3 unused bytes, the cached
cardinality as 8 little-endian bytes whose top bit marks it stale) and 16384 6-bit
registers. Dense form packs the registers little-endian into 12,288 bytes. Sparse form
run-length encodes them with three opcodes:
    ZERO   00xxxxxx            1..64 zero registers
    XZERO  01xxxxxx yyyyyyyy   1..16384 zero registers
    VAL    1vvvvvxx            1..4 registers of value 1..32
A sparse HLL turns dense when a register needs a value over 32 or the string would grow
past hll-sparse-max-bytes. How Redis edits the sparse string in place (which opcode is
split how, which neighbours are merged afterwards) decides the exact bytes, so that
procedure is followed step by step here; the estimate is Ertl's improved raw estimator
computed with the same double-precision operations in the same order, which gives the
same integers Redis returns.
"""

from __future__ import annotations

import math
import random
from collections import Counter

MAGIC = b"HYLL"
DENSE, SPARSE = 0, 1
HEADER_SIZE = 16
P = 14
REGISTERS = 1 << P
Q = 64 - P
REGISTER_MAX = 63
DENSE_SIZE = HEADER_SIZE + (REGISTERS * 6 + 7) // 8
_CARD_STALE = 0x80  # top bit of the last cached-cardinality byte
_SEED = 0xADC83B19
_M64 = (1 << 64) - 1
_MURMUR_M = 0xC6A4A7935BD1E995
_ALPHA_INF = 0.721347520444481703680  # 0.5 / ln(2)

VAL_MAX_VALUE = 32
VAL_MAX_LEN = 4
ZERO_MAX_LEN = 64
XZERO_MAX_LEN = 16384


class InvalidHll(Exception):
    """The sparse encoding does not describe exactly 16384 registers."""


# --------------------------------------------------------------------- hashing
def murmur64a(data: bytes, seed: int = _SEED) -> int:
    """MurmurHash64A as Redis computes it (8-byte blocks read little-endian)."""
    m = _MURMUR_M
    n = len(data)
    h = (seed ^ (n * m)) & _M64
    whole = n - (n & 7)
    for offset in range(0, whole, 8):
        k = int.from_bytes(data[offset : offset + 8], "little")
        k = (k * m) & _M64
        k ^= k >> 47
        k = (k * m) & _M64
        h ^= k
        h = (h * m) & _M64
    if n & 7:
        h ^= int.from_bytes(data[whole:], "little")
        h = (h * m) & _M64
    h ^= h >> 47
    h = (h * m) & _M64
    h ^= h >> 47
    return h


def pattern(element: bytes) -> tuple[int, int]:
    """(register index, run length of the 0...01 pattern) of an element."""
    h = murmur64a(element)
    index = h & (REGISTERS - 1)
    rest = (h >> P) | (1 << Q)  # the sentinel bit caps the run at Q + 1
    return index, (rest & -rest).bit_length()


# --------------------------------------------------------------------- header
def new_sparse() -> bytearray:
    """An empty HyperLogLog as PFADD creates it: sparse, one XZERO per 16384 registers."""
    value = bytearray(MAGIC + bytes([SPARSE]) + bytes(11))
    value += _xzero(XZERO_MAX_LEN)
    return value


def is_hll(value: bytes) -> bool:
    """The checks Redis makes before treating a string as a HyperLogLog."""
    if len(value) < HEADER_SIZE or value[:4] != MAGIC or value[4] > SPARSE:
        return False
    return value[4] != DENSE or len(value) == DENSE_SIZE


def cached_card(value: bytes | bytearray) -> int | None:
    if value[15] & _CARD_STALE:
        return None
    return int.from_bytes(value[8:16], "little")


def set_cached_card(value: bytearray, card: int) -> None:
    value[8:16] = card.to_bytes(8, "little")


def invalidate_card(value: bytearray) -> None:
    value[15] |= _CARD_STALE


# --------------------------------------------------------------------- dense
def _dense_get(value: bytes | bytearray, index: int) -> int:
    bit = index * 6
    byte, shift = HEADER_SIZE + (bit >> 3), bit & 7
    word = value[byte] | (value[byte + 1] << 8 if byte + 1 < len(value) else 0)
    return (word >> shift) & REGISTER_MAX


def _dense_put(value: bytearray, index: int, count: int) -> None:
    bit = index * 6
    byte, shift = HEADER_SIZE + (bit >> 3), bit & 7
    value[byte] = (value[byte] & ~(REGISTER_MAX << shift) & 0xFF) | ((count << shift) & 0xFF)
    if shift > 2:  # the register spills into the next byte
        spill = 8 - shift
        value[byte + 1] = (value[byte + 1] & ~(REGISTER_MAX >> spill) & 0xFF) | (count >> spill)


def dense_set(value: bytearray, index: int, count: int) -> bool:
    """Raise register `index` to `count`; True if it changed."""
    if count > _dense_get(value, index):
        _dense_put(value, index, count)
        return True
    return False


def dense_registers(value: bytes | bytearray) -> list[int]:
    """All 16384 register values of a dense HLL (three bytes hold four registers)."""
    regs = value[HEADER_SIZE:DENSE_SIZE]
    words = [regs[i] | (regs[i + 1] << 8) | (regs[i + 2] << 16) for i in range(0, len(regs), 3)]
    out = [0] * REGISTERS
    out[0::4] = [w & 63 for w in words]
    out[1::4] = [(w >> 6) & 63 for w in words]
    out[2::4] = [(w >> 12) & 63 for w in words]
    out[3::4] = [w >> 18 for w in words]
    return out


# --------------------------------------------------------------------- sparse
def _zero(length: int) -> bytes:
    return bytes([length - 1])


def _xzero(length: int) -> bytes:
    n = length - 1
    return bytes([(n >> 8) | 0x40, n & 0xFF])


def _val(value: int, length: int) -> int:
    return ((value - 1) << 2) | (length - 1) | 0x80


def _zeros(length: int) -> bytes:
    return _xzero(length) if length > ZERO_MAX_LEN else _zero(length)


def sparse_runs(value: bytes | bytearray) -> list[tuple[int, int]]:
    """(register value, run length) for every opcode; raises InvalidHll unless the runs
    cover exactly 16384 registers. (Upstream 7.0.15 ignores a VAL run that passes the
    end when converting or merging; the redis-server we test against carries the
    CVE-2025-32023 fix and refuses it everywhere, as here.)"""
    runs: list[tuple[int, int]] = []
    covered = 0
    p, end = HEADER_SIZE, len(value)
    while p < end:
        b = value[p]
        if b & 0x80:
            length = (b & 3) + 1
            runs.append((((b >> 2) & 0x1F) + 1, length))
            p += 1
        elif b & 0x40:
            length = (((b & 0x3F) << 8) | (value[p + 1] if p + 1 < end else 0)) + 1
            runs.append((0, length))
            p += 2
        else:
            length = (b & 0x3F) + 1
            runs.append((0, length))
            p += 1
        covered += length
    if covered != REGISTERS:
        raise InvalidHll
    return runs


def to_dense(value: bytearray) -> None:
    """Rewrite a sparse HLL as dense in place (the header, cached cardinality included,
    is kept); raises InvalidHll for a corrupt sparse encoding."""
    if value[4] == DENSE:
        return
    runs = sparse_runs(value)
    dense = bytearray(value[:HEADER_SIZE]) + bytearray(DENSE_SIZE - HEADER_SIZE)
    dense[4] = DENSE
    index = 0
    for register, length in runs:
        if register:
            for i in range(index, index + length):
                _dense_put(dense, i, register)
        index += length
    value[:] = dense


def sparse_set(value: bytearray, index: int, count: int, max_bytes: int) -> bool:
    """Raise register `index` of a sparse HLL to `count`, editing the string the way
    Redis's hllSparseSet does (possibly turning it dense). True if the register changed.
    Raises InvalidHll for a corrupt encoding."""
    if count > VAL_MAX_VALUE:
        return _promote(value, index, count)
    end = len(value)
    p, first, prev, span = HEADER_SIZE, 0, -1, 0
    # Step 1: find the opcode covering `index` (the hot loop of a sparse PFADD, so the
    # opcode decoding is inlined).
    while p < end:
        b = value[p]
        oplen = 1
        if b & 0x80:
            span = (b & 3) + 1
        elif b & 0x40:
            span = (((b & 0x3F) << 8) | (value[p + 1] if p + 1 < end else 0)) + 1
            oplen = 2
        else:
            span = b + 1
        if index < first + span:
            break
        prev = p
        p += oplen
        first += span
    if span == 0 or p >= end:
        raise InvalidHll
    b = value[p]
    is_val = bool(b & 0x80)
    is_xzero = not is_val and bool(b & 0x40)
    runlen = span
    # Step 2: the easy cases, then the general split.
    if is_val:
        current = ((b >> 2) & 0x1F) + 1
        if current >= count:
            return False
        if runlen == 1:
            value[p] = _val(count, 1)
            _merge_neighbours(value, prev)
            return True
    elif not is_xzero and runlen == 1:
        value[p] = _val(count, 1)
        _merge_neighbours(value, prev)
        return True
    last = first + span - 1
    seq = bytearray()
    if is_val:
        current = ((b >> 2) & 0x1F) + 1
        if index != first:
            seq.append(_val(current, index - first))
        seq.append(_val(count, 1))
        if index != last:
            seq.append(_val(current, last - index))
    else:
        if index != first:
            seq += _zeros(index - first)
        seq.append(_val(count, 1))
        if index != last:
            seq += _zeros(last - index)
    # Step 3: put the new sequence in place of the old opcode.
    old_len = 2 if is_xzero else 1
    if len(seq) > old_len and len(value) + len(seq) - old_len > max_bytes:
        return _promote(value, index, count)
    value[p : p + old_len] = seq
    _merge_neighbours(value, prev)
    return True


def _merge_neighbours(value: bytearray, prev: int) -> None:
    """Step 4 of Redis's update: from the opcode before the edited one, look at up to
    five opcodes and fuse adjacent VALs of equal value whose lengths fit one VAL. Then
    the cached cardinality is stale."""
    p = prev if prev >= 0 else HEADER_SIZE
    end = len(value)
    budget = 5
    while p < end and budget > 0:
        budget -= 1
        b = value[p]
        if b & 0xC0 == 0x40:
            p += 2
            continue
        if b & 0xC0 == 0:
            p += 1
            continue
        if p + 1 < end and value[p + 1] & 0x80:
            nxt = value[p + 1]
            v1, v2 = ((b >> 2) & 0x1F) + 1, ((nxt >> 2) & 0x1F) + 1
            length = (b & 3) + (nxt & 3) + 2
            if v1 == v2 and length <= VAL_MAX_LEN:
                value[p + 1] = _val(v1, length)
                del value[p]
                end -= 1
                continue  # the fused opcode may fuse with the next one too
        p += 1
    invalidate_card(value)


def _promote(value: bytearray, index: int, count: int) -> bool:
    to_dense(value)
    changed = dense_set(value, index, count)
    assert changed, "a promotion always raises the register"
    return True


def add(value: bytearray, element: bytes, max_bytes: int) -> bool:
    """PFADD of one element; True if a register changed."""
    index, count = pattern(element)
    if value[4] == DENSE:
        return dense_set(value, index, count)
    return sparse_set(value, index, count, max_bytes)


# --------------------------------------------------------------------- merge, count
def merge_into(maxima: list[int], value: bytes | bytearray) -> None:
    """maxima[i] = max(maxima[i], register i) over a valid HLL."""
    if value[4] == DENSE:
        for i, register in enumerate(dense_registers(value)):
            if register > maxima[i]:
                maxima[i] = register
        return
    index = 0
    for register, length in sparse_runs(value):
        if register:
            for i in range(index, index + length):
                if register > maxima[i]:
                    maxima[i] = register
        index += length


def histogram(value: bytes | bytearray) -> list[int]:
    """How many registers hold each value 0..63."""
    if value[4] == DENSE:
        counts = Counter(dense_registers(value))
    else:
        counts = Counter()
        for register, length in sparse_runs(value):
            counts[register] += length
    return [counts.get(v, 0) for v in range(64)]


def histogram_of(registers: list[int]) -> list[int]:
    counts = Counter(registers)
    return [counts.get(v, 0) for v in range(64)]


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= math.pow(1 - x, 2) * y
        if previous == z:
            return z / 3


def estimate(histo: list[int]) -> int:
    """Ertl's improved raw estimator over a register histogram, rounded half away from
    zero (llroundl)."""
    m = float(REGISTERS)
    z = m * _tau((m - histo[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += histo[j]
        z *= 0.5
    z += m * _sigma(histo[0] / m)
    e = _ALPHA_INF * m * m / z
    whole = math.floor(e)
    return int(whole + 1 if e - whole >= 0.5 else whole)


def describe_sparse(value: bytes | bytearray) -> bytes:
    """PFDEBUG DECODE: the opcodes as "z:len", "Z:len" and "v:value,len"."""
    parts = []
    p, end = HEADER_SIZE, len(value)
    while p < end:
        b = value[p]
        if b & 0x80:
            parts.append(b"v:%d,%d" % (((b >> 2) & 0x1F) + 1, (b & 3) + 1))
            p += 1
        elif b & 0x40:
            parts.append(b"Z:%d" % ((((b & 0x3F) << 8) | (value[p + 1] if p + 1 < end else 0)) + 1))
            p += 2
        else:
            parts.append(b"z:%d" % ((b & 0x3F) + 1))
            p += 1
    return b" ".join(parts)


# --------------------------------------------------------------------- PFSELFTEST
# The cardinalities at which self_test compares both encodings with the true count, and
# the error it allows there: six standard errors (1.04 / sqrt(m) each), or one element
# for the smallest.
SELF_TEST_CHECKPOINTS = (10, 100, 1_000, 10_000, 100_000)
_STANDARD_ERROR = 1.04 / math.sqrt(REGISTERS)


def self_test(seed: int = 0) -> str | None:
    """PFSELFTEST: None if this module's encodings and estimate behave, else what failed.

    1. Dense registers: every register is written with a random value, for a few rounds,
       and read back one by one and all at once (the 6-bit packing across byte edges).
    2. Counting: the same elements go into a sparse HLL (promoted to dense at
       hll-sparse-max-bytes' default, as PFADD would) and into a dense one. At each
       checkpoint both must give the same count, within the error bound of the true one.
    Smaller than Redis's own run (10 million elements in C), so it takes about a second
    here rather than minutes."""
    rng = random.Random(seed)
    dense = new_sparse()
    to_dense(dense)
    for _ in range(4):
        expected = [rng.randrange(REGISTER_MAX + 1) for _ in range(REGISTERS)]
        for index, count in enumerate(expected):
            _dense_put(dense, index, count)
        for index, count in enumerate(expected):
            if _dense_get(dense, index) != count:
                return "TESTFAILED Register error at %d" % index
        if dense_registers(dense) != expected:
            return "TESTFAILED Register error reading all registers"
    sparse = new_sparse()
    dense = new_sparse()
    to_dense(dense)
    checkpoints = iter(SELF_TEST_CHECKPOINTS)
    checkpoint = next(checkpoints)
    for n in range(1, SELF_TEST_CHECKPOINTS[-1] + 1):
        index, count = pattern(b"%d" % n)
        if sparse[4] == DENSE:
            dense_set(sparse, index, count)
        else:
            sparse_set(sparse, index, count, 3000)
        dense_set(dense, index, count)
        if n != checkpoint:
            continue
        from_sparse = estimate(histogram(sparse))
        from_dense = estimate(histogram(dense))
        if from_sparse != from_dense:
            return ("TESTFAILED sparse and dense counts differ at %d elements: %d, %d"
                    % (n, from_sparse, from_dense))
        allowed = max(1.0, 6 * _STANDARD_ERROR * n)
        if abs(from_dense - n) > allowed:
            return ("TESTFAILED cardinality %d for %d elements, more than %.0f away"
                    % (from_dense, n, allowed))
        checkpoint = next(checkpoints, 0)
    return None
