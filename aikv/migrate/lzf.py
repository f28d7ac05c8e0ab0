"""LZF, the compression of RDB strings (``rdbcompression yes``).

Format (liblzf): a sequence of items, each starting with a control byte ``c``:

* ``c < 32``: a literal run of ``c + 1`` bytes follows;
* ``c >= 32``: a back-reference of ``(c >> 5) + 2`` bytes (when ``c >> 5 == 7`` the next
  byte is added to the length), starting ``((c & 31) << 8) + next byte + 1`` bytes back in
  the output. Source and destination may overlap, which repeats a pattern.

``compress`` reproduces the output of the liblzf build inside redis-server 7.0 byte for byte
(hash table of 2^16 slots, the "very fast" variant that re-hashes only the last two
positions of a match, and the same out-of-space checks), so payloads AiKv writes are the
ones Redis writes. Only the matching strategy is mirrored; any stream the decompressor
accepts is valid LZF.
"""

from __future__ import annotations

import sys
from array import array

from .errors import bad_data

_MAX_LITERAL = 32  # bytes in one literal run
_MAX_OFFSET = 1 << 13  # how far back a reference can reach
_MAX_MATCH = (1 << 8) + (1 << 3)  # longest reference, minus the 2 implied bytes


def decompress(data: bytes | bytearray | memoryview, expected_len: int) -> bytes:
    """Expand ``data``; it must produce exactly ``expected_len`` bytes.

    Never allocates more than the input can really produce (each input byte yields at most
    ~132 output bytes), so a lying ``expected_len`` costs nothing. Raises DumpPayloadError
    (``ERR Bad data format``) on any malformed stream.
    """
    src = bytes(data)
    end = len(src)
    out = bytearray()
    pos = 0
    while pos < end:
        ctrl = src[pos]
        pos += 1
        if ctrl < 32:
            run = ctrl + 1
            if pos + run > end or len(out) + run > expected_len:
                raise bad_data("LZF literal run overruns")
            out += src[pos : pos + run]
            pos += run
            continue
        length = ctrl >> 5
        if length == 7:
            if pos >= end:
                raise bad_data("LZF reference truncated")
            length += src[pos]
            pos += 1
        if pos >= end:
            raise bad_data("LZF reference truncated")
        distance = ((ctrl & 0x1F) << 8) + src[pos] + 1
        pos += 1
        length += 2
        start = len(out) - distance
        if start < 0 or len(out) + length > expected_len:
            raise bad_data("LZF reference outside the output")
        if distance >= length:
            out += out[start : start + length]
        else:
            # Overlapping copy: the last `distance` bytes repeat until `length` are written.
            pattern = bytes(out[start:])
            whole, rest = divmod(length, distance)
            out += pattern * whole + pattern[:rest]
    if len(out) != expected_len:
        raise bad_data("LZF output has the wrong length")
    return bytes(out)


def compress(data: bytes, max_out: int) -> bytes | None:
    """Compress like Redis's liblzf into at most ``max_out`` bytes; None if it won't fit.

    Redis calls this with ``max_out = len(data) - 4`` and stores the string raw when it
    gets None, so the same limit here yields the same payload bytes.

    The loop visits every position that is not inside a match, so its per-position cost
    is the whole cost: the hash slots are computed ahead, a block at a time, by C-level
    big-integer arithmetic (_slots), the table is a list, a 3-byte match (most of them
    in text) is settled inline, and long matches compare slices. Against the plain loop
    this replaced, on 1 MB (best of 3): decimal text 558 -> 403 ms, incompressible bytes
    (given up near the end) 564 -> 307 ms, a repeated sentence 77 -> 51 ms, JSON-like
    records 172 -> 168 ms. Redis's C takes ~3 ms for the text.
    """
    size = len(data)
    if size == 0 or max_out <= 0:
        return None
    # Slot -> last input position whose 3 bytes hashed there. Position 0 can never be a
    # reference (liblzf requires ref > start), so "absent" and 0 behave the same.
    table = [0] * 65536
    out = bytearray(max_out + 8)  # slack for the reserved run byte, as liblzf's buffer has
    literals = 0
    op = 1  # out[0] is reserved for the first literal run's length
    ip = 0
    scan_end = size - 2
    max_offset, max_match, max_literal = _MAX_OFFSET, _MAX_MATCH, _MAX_LITERAL  # locals: hot loop
    match_length = _match_length
    base, slots, block_end = _slot_block(data, 0, scan_end)
    while ip < scan_end:
        if ip >= block_end:
            base, slots, block_end = _slot_block(data, ip, scan_end)
        slot = slots[ip - base]
        ref = table[slot]
        table[slot] = ip
        if (
            ref
            and ip - ref <= max_offset
            and data[ref] == data[ip]
            and data[ref + 1] == data[ip + 1]
            and data[ref + 2] == data[ip + 2]
        ):
            if op - (literals == 0) + 4 >= max_out:
                return None
            out[op - literals - 1] = (literals - 1) & 0xFF  # close the literal run
            op -= literals == 0  # or drop it if it is empty
            offset = ip - ref - 1
            max_len = size - ip - 2
            if max_len > max_match:
                max_len = max_match
            # Most matches are 3 bytes (decimal text: 9 in 10): liblzf's answer is 3
            # whenever the 4th byte differs or the input ends, whatever its unrolling.
            if max_len > 3 and data[ref + 3] == data[ip + 3]:
                length = match_length(data, ref, ip, max_len) - 2
            else:
                length = 1
            ip += 1
            if length < 7:
                out[op] = (offset >> 8) + (length << 5)
                op += 1
            else:
                out[op] = (offset >> 8) + (7 << 5)
                out[op + 1] = length - 7
                op += 2
            out[op] = offset & 0xFF
            op += 2  # the reference byte, then reserve the next run's length byte
            literals = 0
            ip += length + 1
            if ip >= scan_end:
                break
            # Hash only the last two positions inside the match, as liblzf's VERY_FAST does
            # (both are at or past the block's start: a match begins inside the block).
            if ip - 1 >= block_end:
                base, slots, block_end = _slot_block(data, ip - 2, scan_end)
            table[slots[ip - 2 - base]] = ip - 2
            table[slots[ip - 1 - base]] = ip - 1
        else:
            if op >= max_out:
                return None
            out[op] = data[ip]
            op += 1
            ip += 1
            literals += 1
            if literals == max_literal:
                out[op - literals - 1] = literals - 1
                literals = 0
                op += 1
    if op + 3 > max_out:
        return None
    while ip < size:
        out[op] = data[ip]
        op += 1
        ip += 1
        literals += 1
        if literals == _MAX_LITERAL:
            out[op - literals - 1] = literals - 1
            literals = 0
            op += 1
    out[op - literals - 1] = (literals - 1) & 0xFF
    op -= literals == 0
    return bytes(out[:op])


# Positions whose slots _slots computes at once: big enough that its fixed cost vanishes,
# small enough that the list (an int object per position) stays a few hundred KB.
_SLOT_BLOCK = 16384
_SLOT_OFFSETS = int.from_bytes(b"\x00\x00\x05\x00" * _SLOT_BLOCK, "little")
_SLOT_MASKS = int.from_bytes(b"\xff\xff\x00\x00" * _SLOT_BLOCK, "little")


def _slot_block(data: bytes, start: int, scan_end: int) -> tuple[int, list[int], int]:
    """The next block of slots: (its first position, the slots, the position after it)."""
    slots = _slots(data, start, min(scan_end, start + _SLOT_BLOCK))
    return start, slots, start + len(slots)


def _slots(data: bytes, start: int, end: int) -> list[int]:
    """liblzf's hash slot of the 3 bytes at each position in [start, end):
    ``(((b0 << 8) | b1) - 5 * ((b1 << 8) | b2)) & 0xFFFF``, for all of them at once.

    Each position gets a 32-bit lane of a big integer: one holds ``b0 << 8 | b1`` per
    lane, another ``b1 << 8 | b2`` (filled by strided slice assignment). Adding 5 * 65536
    per lane keeps every lane's difference non-negative and below 2^32, so no borrow
    crosses lanes, and it vanishes under the 16-bit mask."""
    n = end - start
    if n <= 0:
        return []
    high = bytearray(4 * n)
    high[1::4] = data[start:end]
    high[0::4] = data[start + 1:end + 1]
    low = bytearray(4 * n)
    low[1::4] = data[start + 1:end + 1]
    low[0::4] = data[start + 2:end + 2]
    if n == _SLOT_BLOCK:
        offsets, masks = _SLOT_OFFSETS, _SLOT_MASKS
    else:
        offsets = int.from_bytes(b"\x00\x00\x05\x00" * n, "little")
        masks = int.from_bytes(b"\xff\xff\x00\x00" * n, "little")
    lanes = (int.from_bytes(high, "little") + offsets - 5 * int.from_bytes(low, "little")) & masks
    words = array("I", lanes.to_bytes(4 * n, "little"))
    if sys.byteorder == "big":
        words.byteswap()
    return words.tolist()


def _match_length(data: bytes, ref: int, ip: int, max_len: int) -> int:
    """How many bytes at ``ref`` equal those at ``ip`` (3 are known to), liblzf-style.

    liblzf first compares 16 bytes unrolled without looking at ``max_len`` whenever more
    than 16 may follow, and then steps once more before testing the limit; near the end of
    the input that can give a match up to 2 bytes longer than ``max_len``. The bytes do
    match (they are inside the input), and mirroring it keeps the output identical:
    with ``m`` bytes in common, liblzf's answer is ``m`` when the unrolled part finds the
    difference, else ``max(19, min(m, max_len))``; without the unrolled part it is
    ``max(3, min(m, max_len))``.
    """
    if max_len > 16:
        # Bytes 3..18 are inside the input here (size - ip >= 19).
        common = _common_prefix(data, ref, ip, 3, max(19, max_len))
        return common if common <= 18 else max(19, min(common, max_len))
    return max(3, _common_prefix(data, ref, ip, 3, max_len))


def _common_prefix(data: bytes, ref: int, ip: int, known: int, limit: int) -> int:
    """The number of leading bytes at ``ref`` and ``ip`` that are equal, given that the
    first ``known`` are, counting no further than ``limit``."""
    n = known
    # Short matches are the common case: a few byte compares. Past 8, compare slices of
    # 16 (one C-level compare each) before finishing byte by byte.
    while n < limit and n < known + 8:
        if data[ref + n] != data[ip + n]:
            return n
        n += 1
    while n + 16 <= limit and data[ref + n:ref + n + 16] == data[ip + n:ip + n + 16]:
        n += 16
    while n < limit and data[ref + n] == data[ip + n]:
        n += 1
    return n
