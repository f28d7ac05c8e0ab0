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
from aikv.persist.layout import STRING_CODES
from aikv.resp import CommandError, array, bulk, integer, map_reply

if TYPE_CHECKING:
    from aikv.client import Client


class LcsTable:
    """LCS(i, j) of a[:i] and b[:j] for all i, j, in O(|a| * |b| / 64) big-integer work
    plus one C-speed pass over the longer string per distinct byte of the shorter, and
    min(|a|, |b|) * max(|a|, |b|) / 8 bytes.

    The rows run over the shorter string and each row is a bit mask over the longer one,
    so neither a Python loop over a long string nor one big integer per byte of it is
    ever needed (LCS of a 1-byte and a 64 MB string stays well under a second)."""

    def __init__(self, a: bytes, b: bytes) -> None:
        self.a, self.b = a, b
        self.transposed = len(a) > len(b)
        short, long_ = (b, a) if self.transposed else (a, b)
        self.width = len(long_)
        full = (1 << len(long_)) - 1
        masks: dict[int, int] = {}
        for byte in set(short):
            # Positions of `byte` in the long string as bits (bit k = position k): mark
            # them with "1" in a text of "0"s, reverse, read it as a binary number.
            marked = long_.translate(_MARK[byte])
            masks[byte] = int(marked[::-1], 2) if marked else 0
        v = full
        rows = [v]
        for byte in short:
            u = v & masks[byte]
            v = ((v + u) | (v - u)) & full
            rows.append(v)
        self.rows = rows

    def length(self, i: int, j: int) -> int:
        """LCS(i, j) of a[:i] and b[:j]."""
        return self.count(j, i) if self.transposed else self.count(i, j)

    def count(self, r: int, c: int) -> int:
        """The cell at row r (prefix of the shorter string) and column c (prefix of the
        longer): bits 0..c-1 of row r stand for the first c bytes of the long string,
        and each zero among them is one more character of a common subsequence."""
        return c - (self.rows[r] & ((1 << c) - 1)).bit_count()

    def row_bytes(self, r: int) -> bytes:
        """Row r as little-endian bytes: bit k is byte k >> 3, bit k & 7."""
        return self.rows[r].to_bytes(self.width // 8 + 1, "little")


# _MARK[c] turns byte c into b"1" and every other byte into b"0".
_MARK = [b"0" * c + b"1" + b"0" * (255 - c) for c in range(256)]


class _Cursor:
    """The two table cells the walk compares at each step, kept up to date as it moves.

    In row/column terms (rows run over the shorter string) the walk needs, at (r, c),
    the cells (r, c - 1) and (r - 1, c). Moving one column left changes each of them by
    one bit of its row (O(1) on the row's bytes); moving one row up recounts a prefix
    of the new row (O(length / 64)), which happens at most once per row. So the whole
    walk costs about as much as building the table, however long it is (the cell-by-cell
    version took a second for a 1-byte string against a 100 KB one)."""

    def __init__(self, table: LcsTable, r: int, c: int) -> None:
        self.table = table
        self.r, self.c = r, c
        self.here = table.count(r, c)              # cell (r, c)
        self.above = table.count(r - 1, c) if r else 0   # cell (r - 1, c)
        self._bits = {r: table.row_bytes(r)}
        self._both: bytes | None = None  # rows r and r - 1 ANDed, for skip_left
        if r:
            self._bits[r - 1] = table.row_bytes(r - 1)

    def _zero_at(self, row: int, k: int) -> int:
        """1 if bit k of `row` is 0 (the k-th byte of the long string extends the LCS)."""
        bits = self._bits.get(row)
        if bits is None:
            bits = self._bits[row] = self.table.row_bytes(row)
        return 1 - ((bits[k >> 3] >> (k & 7)) & 1)

    def left(self) -> int:
        """Cell (r, c - 1)."""
        return self.here - self._zero_at(self.r, self.c - 1)

    def move_left(self) -> None:
        c = self.c - 1
        self.here -= self._zero_at(self.r, c)
        if self.r:
            self.above -= self._zero_at(self.r - 1, c)
        self.c = c

    def move_up(self) -> None:
        self._bits.pop(self.r, None)
        self._both = None
        self.r -= 1
        self.here = self.above
        self.above = self.table.count(self.r - 1, self.c) if self.r else 0

    def skip_left(self, long_: bytes, want: int) -> int:
        """After a step left, pass every further column k - 1 where rows r and r - 1
        both have bit k - 1 set and long_[k - 1] != want: there neither cell changes and
        nothing matches, so Redis's walk would step left again. Returns how many columns
        were passed (a run of a million costs two C-level scans, not a million steps)."""
        c = self.c
        if c == 0 or self.r == 0:
            return 0
        both = self._both
        if both is None:
            rows = self.table.rows
            both = self._both = (rows[self.r] & rows[self.r - 1]).to_bytes(
                self.table.width // 8 + 1, "little")
        # The highest position below c whose bit is 0 in both rows' AND.
        last = c - 1
        byte = last >> 3
        low_bits = (2 << (last & 7)) - 1
        partial = both[byte] & low_bits
        if partial != low_bits:
            zero = byte * 8 + ((~partial & low_bits).bit_length() - 1)
        else:
            rest = both[:byte].rstrip(b"\xff")
            zero = (len(rest) - 1) * 8 + ((~rest[-1] & 0xFF).bit_length() - 1) if rest else -1
        stop = max(zero, long_.rfind(want, 0, c))
        passed = last - stop
        self.c = stop + 1
        return passed


def lcs_walk(table: LcsTable, min_len: int) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """Redis's walk back through the table: (the subsequence, the match ranges of at
    least `min_len` as (a_start, a_end, b_start, b_end), last match first)."""
    a, b = table.a, table.b
    i, j = len(a), len(b)
    out = bytearray()
    ranges: list[tuple[int, int, int, int]] = []
    open_range: list[int] | None = None  # [a_start, a_end, b_start, b_end]
    flipped = table.transposed
    cursor = _Cursor(table, j, i) if flipped else _Cursor(table, i, j)
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
            cursor.move_left()
            cursor.move_up()
        else:
            # Redis: step up (i - 1) if LCS(i - 1, j) > LCS(i, j - 1), else left (j - 1).
            if flipped:
                go_up = cursor.left() > cursor.above   # (i-1, j) is left, (i, j-1) above
            else:
                go_up = cursor.above > cursor.left()
            if go_up:
                i -= 1
                if flipped:
                    cursor.move_left()
                    # Over skippable columns the cells stay put, so the walk keeps going
                    # this way only if it would from here: cell(r, c) > cell(r - 1, c).
                    if cursor.here > cursor.above:
                        i -= cursor.skip_left(a, b[j - 1])
                else:
                    cursor.move_up()
            else:
                j -= 1
                if flipped:
                    cursor.move_up()
                else:
                    cursor.move_left()
                    # Here a left step wins whenever the row's bit is set (cell(r - 1, c)
                    # never exceeds cell(r, c)), so skippable columns are always passed.
                    j -= cursor.skip_left(b, a[i - 1])
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
        if meta is not None and meta[0] not in STRING_CODES:
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
