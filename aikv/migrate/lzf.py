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
    """
    size = len(data)
    if size == 0 or max_out <= 0:
        return None
    # Slot -> last input position whose 3 bytes hashed there. Position 0 can never be a
    # reference (liblzf requires ref > start), so "absent" and 0 behave the same.
    table: dict[int, int] = {}
    out = bytearray(max_out + 8)  # slack for the reserved run byte, as liblzf's buffer has
    literals = 0
    op = 1  # out[0] is reserved for the first literal run's length
    ip = 0
    scan_end = size - 2
    while ip < scan_end:
        b0 = data[ip]
        b1 = data[ip + 1]
        b2 = data[ip + 2]
        slot = (((b0 << 8) | b1) - 5 * ((b1 << 8) | b2)) & 0xFFFF
        ref = table.get(slot, 0)
        table[slot] = ip
        offset = ip - ref - 1
        if (
            ref > 0
            and offset < _MAX_OFFSET
            and data[ref + 2] == b2
            and data[ref] == b0
            and data[ref + 1] == b1
        ):
            if op - (literals == 0) + 4 >= max_out:
                return None
            out[op - literals - 1] = (literals - 1) & 0xFF  # close the literal run
            op -= literals == 0  # or drop it if it is empty
            length = _match_length(data, ref, ip, min(size - ip - 2, _MAX_MATCH))
            length -= 2
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
            # Hash only the last two positions inside the match, as liblzf's VERY_FAST does.
            for pos in (ip - 2, ip - 1):
                c0 = data[pos]
                c1 = data[pos + 1]
                table[(((c0 << 8) | c1) - 5 * ((c1 << 8) | data[pos + 2])) & 0xFFFF] = pos
        else:
            if op >= max_out:
                return None
            out[op] = b0
            op += 1
            ip += 1
            literals += 1
            if literals == _MAX_LITERAL:
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


def _match_length(data: bytes, ref: int, ip: int, max_len: int) -> int:
    """How many bytes at ``ref`` equal those at ``ip`` (3 are known to), liblzf-style.

    liblzf first compares 16 bytes unrolled without looking at ``max_len`` whenever more
    than 16 may follow, and then steps once more before testing the limit; near the end of
    the input that can give a match up to 2 bytes longer than ``max_len``. The bytes do
    match (they are inside the input), and mirroring it keeps the output identical.
    """
    length = 2
    if max_len > 16:
        for _ in range(16):
            length += 1
            if data[ref + length] != data[ip + length]:
                return length
    length += 1
    while length < max_len and data[ref + length] == data[ip + length]:
        length += 1
    return length
