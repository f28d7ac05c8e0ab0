"""PFADD / PFCOUNT / PFMERGE / PFDEBUG against a real redis-server 7.0: replies and the
stored HyperLogLog bytes (GET after every step) must be identical, corrupt values and
error texts included."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from tests.differ import Differ

KEYS = ("h1", "h2", "h3", "s", "l", "bad", "bad2", "bad3", "t")


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> Iterator[None]:
    differ.both("del", *KEYS)
    yield
    differ.both("config", "set", "hll-sparse-max-bytes", "3000")


def _same_values(differ: Differ) -> None:
    for key in KEYS:
        differ.check("get", key)


HEADER = b"HYLL\x01" + bytes(11)

SCRIPT: list[tuple[object, ...]] = [
    ("pfadd", "h1"), ("pfadd", "h1"), ("pfcount", "h1"), ("pfadd", "h1", "a", "b", "c"),
    ("pfadd", "h1", "a"), ("pfcount", "h1"), ("pfcount", "h1"), ("pfcount", "nokey"),
    ("pfcount", "h1", "nokey"), ("pfdebug", "encoding", "h1"), ("pfdebug", "decode", "h1"),
    ("pfmerge", "h2", "h1"), ("pfmerge", "h3"), ("pfmerge", "h3", "nokey"),
    ("pfdebug", "todense", "h2"), ("pfdebug", "todense", "h2"), ("pfdebug", "decode", "h2"),
    ("pfdebug", "encoding", "h2"), ("pfmerge", "h1", "h2"), ("pfdebug", "encoding", "h1"),
    ("pfdebug", "nosuch", "h1"), ("pfdebug", "getreg", "h1", "x"), ("pfdebug", "getreg", "nokey"),
    ("pfdebug", "NOSUCH", "nokey"),
    ("set", "s", "not an hll"), ("pfadd", "s", "x"), ("pfcount", "s"), ("pfcount", "h1", "s"),
    ("pfmerge", "s", "h1"), ("pfmerge", "h1", "s"), ("pfdebug", "encoding", "s"),
    ("rpush", "l", "x"), ("pfadd", "l", "x"), ("pfcount", "l"), ("pfmerge", "l"),
    ("pfmerge", "h1", "l"),
    ("set", "t", "x"), ("pfadd", "h1", "expiring"),
    # Corrupt sparse encodings: too few registers, too many, a VAL run past the end.
    ("set", "bad", HEADER + b"\x7f\xfe"), ("pfcount", "bad"), ("pfadd", "bad", "a", "b"),
    ("pfmerge", "h3", "bad"), ("pfdebug", "todense", "bad"),
    ("set", "bad2", HEADER + b"\x7f\xff\x00"), ("pfcount", "bad2"), ("pfadd", "bad2", "q"),
    ("set", "bad3", HEADER + b"\x7f\xfb\x83\x80"), ("pfcount", "bad3"),
    ("pfcount", "bad3", "h1"), ("pfmerge", "h3", "bad3"), ("pfdebug", "todense", "bad3"),
    ("set", "bad", b"HYLL\x00" + bytes(20)), ("pfcount", "bad"), ("set", "bad", b"HYLL\x02" + bytes(20)),
    ("pfadd", "bad", "x"), ("set", "bad", b"HYL"), ("pfcount", "bad"),
]


def test_scripted_matches_redis(differ: Differ) -> None:
    differ.check("pfadd", "t", "a")
    differ.check("expire", "t", "1000")
    for cmd in SCRIPT:
        differ.check(*cmd)
        _same_values(differ)
    differ.check("pfadd", "t", "b", "c")
    differ.check("ttl", "t")


def test_getreg_matches_redis(differ: Differ) -> None:
    differ.check("pfadd", "h1", *[f"e{i}" for i in range(200)])
    differ.check("pfdebug", "getreg", "h1")
    differ.check("pfdebug", "encoding", "h1")
    _same_values(differ)


@pytest.mark.parametrize("max_bytes", ["3000", "200", "0"])
def test_random_workloads_match_redis(differ: Differ, max_bytes: str) -> None:
    rng = random.Random(int(max_bytes) + 5)
    differ.check("config", "set", "hll-sparse-max-bytes", max_bytes)
    for _ in range(60):
        key = rng.choice(["h1", "h2", "h3"])
        roll = rng.randrange(10)
        cmd: tuple[object, ...]
        if roll < 5:
            count = rng.choice([1, 3, 20, 150, 1200])
            cmd = ("pfadd", key, *[f"e{rng.randrange(50_000)}" for _ in range(count)])
        elif roll == 5:
            cmd = ("pfcount", key)
        elif roll == 6:
            cmd = ("pfcount", "h1", "h2", "h3")
        elif roll == 7:
            cmd = ("pfmerge", key, *rng.sample(["h1", "h2", "h3", "nokey"], rng.randrange(0, 3)))
        elif roll == 8:
            cmd = ("pfdebug", rng.choice(["encoding", "decode", "todense"]), key)
        else:
            cmd = ("get", key)
        differ.check(*cmd)
        _same_values(differ)
