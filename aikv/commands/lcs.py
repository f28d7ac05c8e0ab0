"""LCS: the longest common subsequence of two string values, as Redis 7.0 answers it
(the string, LEN, or IDX with MINMATCHLEN / WITHMATCHLEN).

Redis fills the whole (|a|+1) x (|b|+1) dynamic-programming table and walks it back
from the end; which of several longest subsequences it returns, and which match ranges
IDX lists, follow from that walk. Filling the table cell by cell in Python would cost
~0.1 us a cell (seconds for two 10 KB strings), so the table is kept in bit-parallel
form instead (Hyyro's LCS-length recurrence, one big integer per row of `a`):
row i is a mask over the positions of `b` whose zero bits count LCS(i, j) for every
prefix length j at once. Every cell the walk asks for is read from these rows, so the
reply is the one Redis's table gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikv.commands.args import SYNTAX, parse_int
from aikv.commands.registry import command
from aikv.persist.layout import TYPE_STRING
from aikv.resp import CommandError, array, bulk, integer, map_reply

if TYPE_CHECKING:
    from aikv.client import Client


class LcsTable:
    """LCS(i, j) of a[:i] and b[:j] for all i, j, in O(|a| * |b| / 64) time and
    |a| * |b| / 8 bytes."""

    def __init__(self, a: bytes, b: bytes) -> None:
        self.a, self.b = a, b
        positions: dict[int, int] = {}
        for k, byte in enumerate(b):
            positions[byte] = positions.get(byte, 0) | (1 << k)
        full = (1 << len(b)) - 1
        v = full
        rows = [v]
        for byte in a:
            u = v & positions.get(byte, 0)
            v = ((v + u) | (v - u)) & full
            rows.append(v)
        self.rows = rows

    def length(self, i: int, j: int) -> int:
        # Bits 0..j-1 of row i stand for b[:j]; each zero among them is one more
        # character of a common subsequence.
        return j - (self.rows[i] & ((1 << j) - 1)).bit_count()


def lcs_walk(table: LcsTable, min_len: int) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """Redis's walk back through the table: (the subsequence, the match ranges of at
    least `min_len` as (a_start, a_end, b_start, b_end), last match first)."""
    a, b = table.a, table.b
    i, j = len(a), len(b)
    out = bytearray()
    ranges: list[tuple[int, int, int, int]] = []
    open_range: list[int] | None = None  # [a_start, a_end, b_start, b_end]
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            if open_range is None:
                open_range = [i - 1, i - 1, j - 1, j - 1]
            elif open_range[0] == i and open_range[2] == j:
                open_range[0] -= 1
                open_range[2] -= 1
            else:
                emit = True
            if open_range[0] == 0 or open_range[2] == 0:
                emit = True
            i -= 1
            j -= 1
        else:
            if table.length(i - 1, j) > table.length(i, j - 1):
                i -= 1
            else:
                j -= 1
            emit = open_range is not None
        if emit and open_range is not None:
            a_start, a_end, b_start, b_end = open_range
            if min_len == 0 or a_end - a_start + 1 >= min_len:
                ranges.append((a_start, a_end, b_start, b_end))
            open_range = None
    out.reverse()
    return bytes(out), ranges


@command("lcs", -3, "readonly", keys=(1, 2, 1), categories="@read @string @slow")
def lcs(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    values = []
    for key in argv[1:3]:
        meta = db.get_meta(key)
        if meta is not None and meta[0] != TYPE_STRING:
            raise CommandError("ERR The specified keys must contain string values")
        values.append(b"" if meta is None else meta[9:])
    a, b = values
    want_len = want_idx = with_len = False
    min_len = 0
    i = 3
    while i < len(argv):
        option = argv[i].upper()
        if option == b"IDX":
            want_idx = True
        elif option == b"LEN":
            want_len = True
        elif option == b"WITHMATCHLEN":
            with_len = True
        elif option == b"MINMATCHLEN" and i + 1 < len(argv):
            min_len = max(parse_int(argv[i + 1]), 0)
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if want_len and want_idx:
        raise CommandError("ERR If you want both the length and indexes, please just use IDX.")
    # Redis refuses what its table of 32-bit cells would take beyond proto-max-bulk-len.
    if (len(a) + 1) * (len(b) + 1) * 4 > client.server.config.values["proto-max-bulk-len"]:
        raise CommandError("ERR Insufficient memory, transient memory for LCS exceeds "
                           "proto-max-bulk-len")
    table = LcsTable(a, b)
    total = table.length(len(a), len(b))
    if want_len:
        return integer(total)
    common, ranges = lcs_walk(table, min_len)
    if not want_idx:
        return bulk(common)
    matches = []
    for a_start, a_end, b_start, b_end in ranges:
        parts = [array([integer(a_start), integer(a_end)]),
                 array([integer(b_start), integer(b_end)])]
        if with_len:
            parts.append(integer(a_end - a_start + 1))
        matches.append(array(parts))
    return map_reply([(bulk(b"matches"), array(matches)), (bulk(b"len"), integer(total))],
                     client.resp3)
