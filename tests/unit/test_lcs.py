"""The bit-parallel LCS table against the plain dynamic-programming table Redis fills,
cell by cell, and the walk back against Redis's walk over that plain table."""

from __future__ import annotations

import random

import pytest

from aikv.commands.lcs import LcsTable, lcs_walk


def plain_table(a: bytes, b: bytes) -> list[list[int]]:
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                t[i][j] = t[i - 1][j - 1] + 1
            else:
                t[i][j] = max(t[i - 1][j], t[i][j - 1])
    return t


def plain_walk(a: bytes, b: bytes, min_len: int) -> tuple[bytes, list[tuple[int, ...]]]:
    """Redis's lcsCommand walk, written against the plain table."""
    t = plain_table(a, b)
    i, j = len(a), len(b)
    out: list[int] = []
    ranges: list[tuple[int, ...]] = []
    start_a = len(a)
    end_a = start_b = end_b = 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            if start_a == len(a):
                start_a = end_a = i - 1
                start_b = end_b = j - 1
            elif start_a == i and start_b == j:
                start_a -= 1
                start_b -= 1
            else:
                emit = True
            if start_a == 0 or start_b == 0:
                emit = True
            i -= 1
            j -= 1
        else:
            if t[i - 1][j] > t[i][j - 1]:
                i -= 1
            else:
                j -= 1
            if start_a != len(a):
                emit = True
        if emit:
            if min_len == 0 or end_a - start_a + 1 >= min_len:
                ranges.append((start_a, end_a, start_b, end_b))
            start_a = len(a)
    return bytes(reversed(out)), ranges


CASES = [(b"", b""), (b"a", b""), (b"", b"abc"), (b"ohmytext", b"mynewtext"),
         (b"abc", b"abc"), (b"abc", b"xyz"), (b"aaaa", b"aa"), (b"\x00\xff", b"\xff\x00")]


@pytest.mark.parametrize(("a", "b"), CASES)
def test_known_cases(a: bytes, b: bytes) -> None:
    table, plain = LcsTable(a, b), plain_table(a, b)
    assert [[table.length(i, j) for j in range(len(b) + 1)] for i in range(len(a) + 1)] == plain
    for min_len in (0, 1, 2, 4):
        assert lcs_walk(table, min_len) == plain_walk(a, b, min_len)


def test_random_strings_every_cell() -> None:
    rng = random.Random(7)
    for _ in range(300):
        alphabet = rng.choice([b"ab", b"abc", b"acgt", bytes(range(256))])
        a = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        b = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        table, plain = LcsTable(a, b), plain_table(a, b)
        for i in range(len(a) + 1):
            for j in range(len(b) + 1):
                assert table.length(i, j) == plain[i][j], (a, b, i, j)
        min_len = rng.choice([0, 0, 1, 2, 3])
        assert lcs_walk(table, min_len) == plain_walk(a, b, min_len), (a, b, min_len)


def test_redis_documentation_example() -> None:
    # LCS key1 key2 with "ohmytext" / "mynewtext" answers "mytext" (Redis docs).
    assert lcs_walk(LcsTable(b"ohmytext", b"mynewtext"), 0)[0] == b"mytext"


def test_skewed_strings_with_long_runs() -> None:
    # One string much longer than the other: the walk passes long runs of columns in
    # one go (skip_left); every answer must still be the plain walk's.
    rng = random.Random(5)
    for _ in range(300):
        alphabet = rng.choice([b"ab", b"abc", b"a", b"acgt"])
        short = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 5)))
        long_ = bytes(rng.choice(alphabet + b"zzzzzz") for _ in range(rng.randrange(50, 200)))
        for a, b in ((short, long_), (long_, short)):
            for min_len in (0, 2):
                assert lcs_walk(LcsTable(a, b), min_len) == plain_walk(a, b, min_len), (a, b)
