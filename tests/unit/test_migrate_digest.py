"""DEBUG DIGEST-VALUE digests against values read from redis-server 7.0.15."""

from __future__ import annotations

import pytest

from aikv.migrate.digest import object_digest, score_text

# (kind, value, has expiry) -> what `DEBUG DIGEST-VALUE` answered on a real 7.0.15.
VECTORS = [
    ("string", b"hello", False, "36b23a1456b2dce2c3ed252c456761301dba8060"),
    ("string", b"123", False, "89f7f51b707418f666d5b45e053bd5bbbf82ac2b"),
    ("string", b"x", True, "0745672cb1bf060476eedeb8a28f5ffe1ff5a2be"),
    ("list", [b"a", b"b", b"12"], False, "4fddf5ecfb89aa53ce571890ffcd91dc9c8824bf"),
    ("set", {b"1", b"2", b"3"}, False, "2a462a3f51a1db89738ebbeef0c47ce1bbc85246"),
    ("set", {b"a", b"b"}, False, "dd99329063ca0f1f28df2ac68d94b82fd95501c6"),
    ("hash", {b"f": b"v", b"g": b"12"}, False, "8530acc75d5274eb0fc0da86f28ed5533274a6d4"),
    ("zset", {b"a": 1.5, b"b": 2.0, b"c": 0.1, b"d": -3.0}, False,
     "542fa2c123f5971ab4ee83c182ba8312b4503bc4"),
]


@pytest.mark.parametrize("kind, value, expires, expected", VECTORS)
def test_digest_matches_redis(kind: str, value: object, expires: bool, expected: str) -> None:
    assert object_digest(kind, value, expires).hex() == expected


def test_unordered_types_ignore_order() -> None:
    a = object_digest("hash", {b"f": b"v", b"g": b"12"}, False)
    assert a == object_digest("hash", {b"g": b"12", b"f": b"v"}, False)
    assert object_digest("list", [b"a", b"b"], False) != object_digest("list", [b"b", b"a"], False)


def test_score_text() -> None:
    assert score_text(0.1) == b"0.10000000000000001"
    assert score_text(2.0) == b"2"
    assert score_text(-0.0) == b"0"
    assert score_text(float("inf")) == b"inf" and score_text(float("-inf")) == b"-inf"
    assert score_text(1e300) == b"1.0000000000000001e+300"
