"""Keys longer than LMDB's 511-byte key limit work like any other key."""

from __future__ import annotations

import redis


def test_long_keys_roundtrip(r: redis.Redis) -> None:
    long_a = b"a" * 600
    long_b = b"a" * 448 + b"b" * 2000  # same head as long_a's first 448 bytes
    huge = b"k" * 100_000
    for key in (long_a, long_b, huge):
        assert r.set(key, key[:10])
    assert r.get(long_a) == b"a" * 10 and r.get(long_b) == b"a" * 10
    assert r.exists(long_a, long_b, huge) == 3
    assert sorted(r.keys("*")) == sorted([long_a, long_b, huge])
    scanned = set()
    cursor = 0
    while True:
        cursor, batch = r.scan(cursor, count=1)
        scanned.update(batch)
        if cursor == 0:
            break
    assert scanned == {long_a, long_b, huge}
    assert r.expire(long_b, 1000)
    assert 0 < r.ttl(long_b) <= 1000
    assert r.rename(long_a, b"short")
    assert r.get(b"short") == b"a" * 10 and not r.exists(long_a)
    assert r.rename(b"short", long_a)
    assert r.randomkey() in {long_a, long_b, huge}
    assert r.delete(long_a, long_b, huge) == 3
    assert r.dbsize() == 0
    r.set(long_a, "x", px=50)
    assert r.dbsize() == 1
