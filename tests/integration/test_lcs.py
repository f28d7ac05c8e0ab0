"""LCS against a real redis-server 7.0: the subsequence, LEN, IDX (with MINMATCHLEN and
WITHMATCHLEN, RESP2 and RESP3), errors, and the proto-max-bulk-len limit, byte for byte."""

from __future__ import annotations

import random
import time

import pytest

from tests.differ import Differ

OPTION_SETS = [(), ("len",), ("idx",), ("idx", "withmatchlen"), ("idx", "minmatchlen", "2"),
               ("IDX", "MINMATCHLEN", "-5", "WITHMATCHLEN"), ("minmatchlen", "3", "idx"),
               ("withmatchlen",), ("len", "minmatchlen", "1")]


def test_scripted_matches_redis(differ: Differ) -> None:
    differ.check("mset", "a", "ohmytext", "b", "mynewtext", "n", "12345")
    differ.check("rpush", "l", "x")
    for args in [("lcs", "a", "b", *opts) for opts in OPTION_SETS] + [
            ("lcs", "a", "missing"), ("lcs", "missing", "missing2", "idx"),
            ("lcs", "a", "n"), ("lcs", "a", "l"), ("lcs", "l", "missing"),
            ("lcs", "a", "b", "len", "idx"), ("lcs", "a", "b", "foo"),
            ("lcs", "a", "b", "minmatchlen"), ("lcs", "a", "b", "minmatchlen", "x"),
            ("lcs", "a")]:
        differ.check(*args)


def test_resp3_map_matches_redis(differ: Differ) -> None:
    differ.both("hello", "3")
    try:
        differ.check("mset", "a", "ohmytext", "b", "mynewtext")
        differ.check("lcs", "a", "b", "idx", "withmatchlen")
    finally:
        differ.both("hello", "2")


def test_random_strings_match_redis(differ: Differ) -> None:
    rng = random.Random(11)
    for _ in range(150):
        alphabet = rng.choice([b"ab", b"abc", b"acgt", b"abcdefghij", bytes(range(256))])
        a = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        b = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        differ.check("mset", "a", a, "b", b)
        for opts in OPTION_SETS:
            differ.check("lcs", "a", "b", *opts)


def test_memory_limit_matches_redis(differ: Differ) -> None:
    try:
        differ.check("config", "set", "proto-max-bulk-len", "1048576")
        differ.check("mset", "a", "x" * 511, "b", "y" * 511)   # 512 * 512 * 4 = 1 MiB
        differ.check("lcs", "a", "b", "len")
        differ.check("mset", "a", "x" * 512)
        differ.check("lcs", "a", "b", "len")
    finally:
        differ.both("config", "set", "proto-max-bulk-len", "536870912")


def test_long_strings_are_fast_and_match(differ: Differ) -> None:
    # 8 KB against 8 KB is 67 million table cells: a cell-by-cell Python table would
    # take seconds; the bit-parallel one must answer like Redis, in well under that.
    rng = random.Random(3)
    a = bytes(rng.choice(b"acgt") for _ in range(8192))
    b = bytes(rng.choice(b"acgt") for _ in range(8192))
    differ.check("mset", "a", a, "b", b)
    started = time.monotonic()
    mine = differ.a.call("lcs", "a", "b", "idx", "minmatchlen", "6")
    elapsed = time.monotonic() - started
    assert mine == differ.r.call("lcs", "a", "b", "idx", "minmatchlen", "6")
    assert elapsed < 20, elapsed  # generous: a shared CI machine; typically ~1 s
    differ.check("lcs", "a", "b", "len")


@pytest.mark.parametrize(("a", "b"), [
    (b"a", b"a" + b"c" * 100_000),
    (b"a" + b"c" * 100_000, b"a"),
    (b"ac" * 50, b"a" + b"c" * 100_000 + b"ca"),
    (b"a" + b"c" * 100_000 + b"ca", b"ac" * 50),
])
def test_skewed_long_strings_match_redis(differ: Differ, a: bytes, b: bytes) -> None:
    # Walks of ~100,000 steps, mostly in runs the walk passes in one go.
    differ.check("mset", "a", a, "b", b)
    for opts in ((), ("idx", "withmatchlen"), ("idx", "minmatchlen", "2")):
        differ.check("lcs", "a", "b", *opts)
