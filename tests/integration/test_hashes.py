"""Hashes: differential tests against a real redis-server 7.0 (reply bytes equal, error
texts included; replies whose order Redis does not define are compared as multisets) and
behaviour checks through redis-py (HSCAN cursors, random fields, encodings, DUMP hooks).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.differ import Differ, parse, unordered

pytestmark = pytest.mark.usefixtures("clean")


@pytest.fixture
def clean(differ: Differ) -> Iterator[None]:
    differ.check("flushall")
    yield
    # Leave both servers at the default protocol and thresholds for the next test.
    differ.both("hello", "2")
    differ.both("config", "set", "hash-max-listpack-entries", "512")
    differ.both("config", "set", "hash-max-listpack-value", "64")


def pairs(raw: bytes) -> Any:
    """Flat field/value array (or RESP3 map) as a sorted list of pairs."""
    value = parse(raw)
    if isinstance(value, dict):
        return sorted(value.items())
    if isinstance(value, list):
        return sorted(zip(value[0::2], value[1::2], strict=True))
    return value


def scan_pairs(raw: bytes) -> Any:
    cursor, items = parse(raw)
    return cursor, sorted(zip(items[0::2], items[1::2], strict=True))


SCRIPTED: list[tuple[str, ...]] = [
    ("hset", "h", "a", "1", "b", "2"), ("hset", "h", "a", "1", "c", "3"),
    ("hset", "h", "a"), ("hset", "h", "a", "1", "b"), ("hset", "h"),
    ("hmset", "h", "d", "4"), ("hmset", "h", "d"),
    ("hget", "h", "a"), ("hget", "h", "zz"), ("hget", "nokey", "a"), ("hget", "h"),
    ("hmget", "h", "a", "zz", "b"), ("hmget", "nokey", "a", "b"), ("hmget", "h"),
    ("hlen", "h"), ("hlen", "nokey"), ("hstrlen", "h", "a"), ("hstrlen", "h", "zz"),
    ("hstrlen", "nokey", "a"), ("hexists", "h", "a"), ("hexists", "h", "zz"),
    ("hexists", "nokey", "a"),
    ("hsetnx", "h", "a", "x"), ("hsetnx", "h", "e", "5"), ("hsetnx", "fresh", "f", "v"),
    ("hget", "h", "e"), ("hsetnx", "h", "e"),
    ("hincrby", "h", "a", "10"), ("hincrby", "h", "a", "-11"), ("hincrby", "h", "n", "5"),
    ("hincrby", "h", "a", "x"), ("hincrby", "h", "a", "1.5"), ("hincrby", "h", "a", " 1"),
    ("hincrby", "h", "a", "9223372036854775807"), ("hincrby", "h", "a", "-9223372036854775808"),
    ("hincrby", "h", "big", "9223372036854775807"), ("hincrby", "h", "big", "1"),
    ("hincrby", "h", "neg", "-9223372036854775808"), ("hincrby", "h", "neg", "-1"),
    ("hincrby", "h", "a", "99999999999999999999"),
    ("hset", "h", "s", "abc", "sp", " 1", "z", "007"), ("hincrby", "h", "s", "1"),
    ("hincrby", "h", "sp", "1"), ("hincrby", "h", "z", "1"), ("hincrbyfloat", "h", "s", "1"),
    ("hincrbyfloat", "h", "f", "0.1"), ("hincrbyfloat", "h", "f", "0.2"),
    ("hincrbyfloat", "h", "f", "1e2"), ("hincrbyfloat", "h", "f", "-100.3"),
    ("hincrbyfloat", "h", "f", "inf"), ("hincrbyfloat", "h", "f", "-inf"),
    ("hincrbyfloat", "h", "f", "nan"), ("hincrbyfloat", "h", "f", "abc"),
    ("hincrbyfloat", "h", "f", " 1"), ("hincrbyfloat", "h", "f", ""),
    ("hincrbyfloat", "h", "g", "1e308"), ("hincrbyfloat", "h", "g", "1e308"),
    ("hincrbyfloat", "h", "g", "1e4933"), ("hincrbyfloat", "h", "i", "5.0e3"),
    ("hincrbyfloat", "h", "j", "0x10"), ("hincrbyfloat", "h", "a", "1.5"),
    ("hincrbyfloat", "h", "z", "1"), ("hincrbyfloat", "h", "k", "3"), ("hget", "h", "k"),
    ("hset", "h", "inf", "inf"), ("hincrbyfloat", "h", "inf", "1"),
    ("hdel", "h", "a", "b", "zz"), ("hdel", "h", "zz"), ("hdel", "nokey", "a"), ("hdel", "h"),
    ("hset", "one", "f", "v"), ("hdel", "one", "f", "f"), ("exists", "one"),
    ("hset", "two", "f", "v", "g", "w"), ("hdel", "two", "f", "g", "f"), ("exists", "two"),
    ("hgetall", "nokey"), ("hkeys", "nokey"), ("hvals", "nokey"),
    ("hrandfield", "nokey"), ("hrandfield", "nokey", "3"), ("hrandfield", "nokey", "3", "withvalues"),
    ("hrandfield", "h", "0"), ("hrandfield", "h", "0", "withvalues"),
    ("hrandfield", "h", "x"), ("hrandfield", "h", "-9223372036854775808"),
    ("hrandfield", "h", "1", "withvalue"), ("hrandfield", "h", "1", "withvalues", "x"),
    ("hrandfield", "h", "4611686018427387904", "withvalues"),
    ("hrandfield", "h", "4611686018427387903", "withvalue"),
    ("hscan", "nokey", "0"), ("hscan", "nokey", "0", "bad", "opts"), ("hscan", "nokey", "x"),
    ("hscan", "h", "x"), ("hscan", "h", " 0"), ("hscan", "h", "0x1"),
    ("hscan", "h", "18446744073709551616"), ("hscan", "h", "+"), ("hscan", "h", "-"),
    ("hscan", "h", "0", "count"), ("hscan", "h", "0", "count", "0"),
    ("hscan", "h", "0", "count", "-1"), ("hscan", "h", "0", "count", "x"),
    ("hscan", "h", "0", "match"), ("hscan", "h", "0", "type", "string"),
    ("hscan", "h", "0", "foo", "bar"),
    ("set", "str", "v"),
    ("hset", "str", "a", "b"), ("hsetnx", "str", "a", "b"), ("hget", "str", "a"),
    ("hmget", "str", "a"), ("hdel", "str", "a"), ("hlen", "str"), ("hstrlen", "str", "a"),
    ("hexists", "str", "a"), ("hkeys", "str"), ("hvals", "str"), ("hgetall", "str"),
    ("hincrby", "str", "a", "1"), ("hincrby", "str", "a", "x"),
    ("hincrbyfloat", "str", "a", "1"), ("hincrbyfloat", "str", "a", "x"),
    ("hincrbyfloat", "str", "a", "inf"), ("hrandfield", "str"), ("hrandfield", "str", "1"),
    ("hrandfield", "str", "1", "foo"), ("hscan", "str", "0"), ("hscan", "str", "x"),
    ("hmset", "str", "a", "b"), ("hset", "str", "a", "b", "c"),
    ("object", "encoding", "h"), ("type", "h"),
]

UNORDERED = {"hkeys", "hvals"}
PAIRED = {"hgetall"}


def test_scripted_commands_match_redis(differ: Differ) -> None:
    for args in SCRIPTED:
        differ.check(*args)
    # Order-free reads over the final state.
    for name in UNORDERED:
        differ.check(name, "h", normalize=unordered)
    differ.check("hgetall", "h", normalize=pairs)
    # "h" is a hashtable by now (a 309-byte value): one call covers it only with a
    # COUNT above its size, in Redis too.
    differ.check("object", "encoding", "h")
    differ.check("hscan", "h", "0", "count", "1000", normalize=scan_pairs)
    differ.check("hscan", "h", "0", "match", "[a-h]*", "count", "1000", normalize=scan_pairs)
    differ.check("hset", "lp", "x", "1", "y", "2", "xy", "3")
    differ.check("hscan", "lp", "0", normalize=scan_pairs)
    differ.check("hscan", "lp", "12345", "count", "1", normalize=scan_pairs)
    differ.check("hscan", "lp", "0", "match", "x*", normalize=scan_pairs)
    differ.check("hscan", "h", "0", "match", "*", "count", "1000", normalize=scan_pairs)
    differ.check("hrandfield", "h", "100", normalize=unordered)
    differ.check("hrandfield", "h", "100", "withvalues", normalize=pairs)
    differ.check("hrandfield", "h", "-5", normalize=lambda raw: len(parse(raw)))


def test_resp3_shapes_match_redis(differ: Differ) -> None:
    differ.check("hello", "3", normalize=lambda raw: parse(raw)[b"proto"])
    differ.check("hset", "h", "a", "1", "b", "2")
    differ.check("hgetall", "nokey")
    differ.check("hget", "nokey", "a")
    differ.check("hmget", "nokey", "a")
    differ.check("hrandfield", "nokey")
    differ.check("hrandfield", "nokey", "2", "withvalues")
    differ.check("hgetall", "h", normalize=pairs)
    differ.check("hrandfield", "h", "2", "withvalues",
                 normalize=lambda raw: sorted(tuple(p) for p in parse(raw)))
    differ.check("hrandfield", "h", "-3", "withvalues",
                 normalize=lambda raw: [len(p) for p in parse(raw)])
    differ.check("hincrbyfloat", "h", "a", "0.5")
    mine, theirs = differ.both("hgetall", "h")
    assert mine[:1] == theirs[:1] == b"%"
    mine, theirs = differ.both("hrandfield", "h", "2", "withvalues")
    assert mine.startswith(b"*2\r\n*2\r\n") and theirs.startswith(b"*2\r\n*2\r\n")


def test_encoding_thresholds_match_redis(differ: Differ) -> None:
    # Entries: listpack up to hash-max-listpack-entries (512 in 7.0), then hashtable,
    # and it stays hashtable when the hash shrinks again.
    fields = [x for i in range(512) for x in (f"f{i}", "v")]
    differ.check("hset", "h", *fields)
    differ.check("object", "encoding", "h")
    differ.check("hset", "h", "f512", "v")
    differ.check("object", "encoding", "h")
    differ.check("hdel", "h", "f512", "f1", "f2")
    differ.check("object", "encoding", "h")
    # Values and fields: 64 bytes fit, 65 do not, through every writing command.
    differ.check("hset", "v64", "f", "x" * 64)
    differ.check("object", "encoding", "v64")
    differ.check("hset", "v65", "f", "x" * 65)
    differ.check("object", "encoding", "v65")
    differ.check("hset", "k65", "k" * 65, "x")
    differ.check("object", "encoding", "k65")
    differ.check("hsetnx", "nx65", "f", "x" * 65)
    differ.check("object", "encoding", "nx65")
    differ.check("hset", "nxold", "f", "short")
    differ.check("hsetnx", "nxold", "f", "x" * 65)  # existing field: no conversion
    differ.check("object", "encoding", "nxold")
    differ.check("hincrby", "ib", "f" * 65, "1")
    differ.check("object", "encoding", "ib")
    differ.check("hincrbyfloat", "ibf", "f", "1e70")  # the value grows past 64 bytes
    differ.check("object", "encoding", "ibf")
    differ.check("hset", "mixed", "a", "1", "b", "x" * 65)
    differ.check("hdel", "mixed", "b")
    differ.check("object", "encoding", "mixed")
    # Thresholds follow CONFIG SET, for new writes only.
    differ.check("config", "set", "hash-max-listpack-entries", "2")
    differ.check("config", "set", "hash-max-listpack-value", "3")
    differ.check("hset", "small", "a", "1", "b", "2")
    differ.check("object", "encoding", "small")
    differ.check("hset", "small", "c", "3")
    differ.check("object", "encoding", "small")
    differ.check("hset", "val", "a", "1234")
    differ.check("object", "encoding", "val")
    differ.check("object", "encoding", "v64")


def test_encoding_hook_directly() -> None:
    from aikv.collections_common import FLAG_BIG, collection_meta
    from aikv.commands.hashes import hash_encoding
    from aikv.persist.layout import TYPE_HASH

    small = collection_meta(TYPE_HASH, 7, 3)
    big = collection_meta(TYPE_HASH, 7, 3, FLAG_BIG)
    assert hash_encoding(None, b"k", small) == b"listpack"  # type: ignore[arg-type]
    assert hash_encoding(None, b"k", big) == b"hashtable"  # type: ignore[arg-type]


def test_hscan_walks_a_large_hash_with_small_cursors(r: redis.Redis) -> None:
    n = 3000
    r.hset("h", mapping={f"field:{i}": str(i) for i in range(n)})
    seen: dict[bytes, bytes] = {}
    cursor = 0
    calls = 0
    while True:
        cursor, batch = r.hscan("h", cursor, count=50)
        calls += 1
        assert 0 <= cursor < 2**63
        seen.update(batch)
        if cursor == 0:
            break
    assert len(seen) == n and seen[b"field:17"] == b"17"
    assert calls > n // 200  # it really was incremental


def test_hscan_misses_nothing_present_throughout(r: redis.Redis) -> None:
    n = 2000
    r.hset("h", mapping={f"k{i:05d}": "v" for i in range(n)})
    stable = {f"k{i:05d}".encode() for i in range(0, n, 2)}
    seen: set[bytes] = set()
    cursor = 0
    step = 0
    while True:
        cursor, batch = r.hscan("h", cursor, count=37)
        seen.update(batch)
        # Churn between calls: delete odd fields, add new ones on both sides of the cursor.
        step += 1
        r.hdel("h", *[f"k{i:05d}" for i in range(2 * step - 1, n, 194)])  # odd only
        r.hset("h", mapping={f"a{step}": "x", f"z{step}": "x", f"k{step:05d}x": "x"})
        if cursor == 0:
            break
    assert stable <= seen


def test_hscan_progresses_on_long_common_prefixes(r: redis.Redis) -> None:
    # 7-byte cursor prefixes cannot tell these fields apart: every call must still move.
    fields = {f"samesameprefix{i:04d}": "v" for i in range(600)}
    r.hset("h", mapping=fields)
    seen: set[bytes] = set()
    cursor, calls = 0, 0
    while True:
        cursor, batch = r.hscan("h", cursor, count=10)
        seen.update(batch)
        calls += 1
        assert calls < 100
        if cursor == 0:
            break
    assert len(seen) == 600


def test_hscan_match_and_foreign_cursor(r: redis.Redis) -> None:
    r.hset("h", mapping={f"user:{i}": "1" for i in range(1000)} | {"other": "2"})
    found: set[bytes] = set()
    cursor = 0
    while True:
        cursor, batch = r.hscan("h", cursor, match="user:1?", count=100)
        found.update(batch)
        if cursor == 0:
            break
    assert found == {f"user:1{i}".encode() for i in range(10)}
    # A cursor that is not one of ours restarts the iteration rather than failing.
    cursor, batch = r.hscan("h", 123456, count=5000)
    assert cursor == 0 and len(batch) == 1001


def test_hrandfield_on_large_hash(r: redis.Redis) -> None:
    n = 5000
    r.hset("h", mapping={f"f{i}": f"v{i}" for i in range(n)})
    one = r.hrandfield("h")
    assert one is not None and one.startswith(b"f")
    distinct = r.hrandfield("h", 40)
    assert len(distinct) == 40 and len(set(distinct)) == 40
    with_values = r.hrandfield("h", 30, withvalues=True)
    assert len(with_values) == 60
    for field, value in zip(with_values[0::2], with_values[1::2], strict=True):
        assert value == b"v" + field[1:]
    repeats = r.hrandfield("h", -100)
    assert len(repeats) == 100
    many = r.hrandfield("h", 4000)
    assert len(set(many)) == 4000
    # Coverage: over many single picks, a good share of distinct fields show up.
    picks = {r.hrandfield("h") for _ in range(300)}
    assert len(picks) > 150


def test_watch_sees_hash_writes(r: redis.Redis) -> None:
    r.hset("h", "a", "1")
    with r.pipeline() as pipe:
        pipe.watch("h")
        r.hset("h", "a", "2")  # same count: only the value changes
        pipe.multi()
        pipe.hget("h", "a")
        with pytest.raises(redis.WatchError):
            pipe.execute()


def test_dump_restore_round_trip_with_redis(r: redis.Redis, oracle: redis.Redis) -> None:
    try:
        r.dump("nokey")
    except redis.ResponseError as exc:
        pytest.skip(f"DUMP not available yet: {exc}")
    small = {b"a": b"1", b"b": b"two"}
    large = {f"f{i}".encode(): b"x" * (i % 70) for i in range(600)}
    for name, value in (("small", small), ("large", large)):
        oracle.hset(name, mapping=value)
        r.restore(name, 0, oracle.dump(name))
        assert r.hgetall(name) == value
        assert r.object("encoding", name) == oracle.object("encoding", name)
        r.delete(name + "2")
        oracle.restore(name + "2", 0, r.dump(name))
        assert oracle.hgetall(name + "2") == value


def test_long_fields_beyond_lmdb_key_limit_match_redis(differ: Differ) -> None:
    # LMDB keys stop at 511 bytes; fields and members may be far longer.
    long_a, long_b = "a" * 481, "b" * 5000
    differ.check("hset", "h", long_a, "1", long_b, "v" * 100, "short", "s")
    differ.check("hset", "h", long_a, "2")
    differ.check("hsetnx", "h", long_b, "x")
    for args in (("hget", "h", long_a), ("hget", "h", long_b), ("hget", "h", "b" * 4999),
                 ("hmget", "h", long_a, "short", long_b), ("hstrlen", "h", long_b),
                 ("hexists", "h", long_b), ("hincrby", "h", long_a, "5"), ("hlen", "h"),
                 ("hincrbyfloat", "h", long_a, "0.5"), ("object", "encoding", "h")):
        differ.check(*args)
    differ.check("hgetall", "h", normalize=pairs)
    differ.check("hkeys", "h", normalize=unordered)
    differ.check("hvals", "h", normalize=unordered)
    differ.check("hscan", "h", "0", "count", "100", normalize=scan_pairs)
    differ.check("hrandfield", "h", "10", "withvalues", normalize=pairs)
    differ.check("hdel", "h", long_b, "short")
    differ.check("hgetall", "h")


@pytest.mark.parametrize("seed", range(4))
def test_listpack_field_order_matches_redis(differ: Differ, seed: int) -> None:
    """A listpack hash lists its fields in the order they were added, in every reply that
    lists them and in its DUMP payload, through every command that adds, updates or
    removes fields, COPY and RESTORE. Compared byte for byte, without normalising."""
    rng = random.Random(seed)
    fields = [f"f{i}" for i in range(12)] + ["name", "age", "city", "zip", "x" * 60]
    keys = ["o1", "o2", "o3"]
    differ.check("del", *keys, "copy", "restored")
    for _ in range(120):
        key = rng.choice(keys)
        pick = rng.random()
        if pick < 0.4:
            args = [x for f in rng.sample(fields, rng.randint(1, 4))
                    for x in (f, str(rng.randint(0, 99)))]
            cmd: tuple[str, ...] = (rng.choice(["hset", "hmset"]), key, *args)
        elif pick < 0.6:
            cmd = ("hdel", key, *rng.sample(fields, rng.randint(1, 3)))
        elif pick < 0.7:
            cmd = ("hsetnx", key, rng.choice(fields), "nx")
        elif pick < 0.8:
            cmd = ("hincrby", key, rng.choice(fields), "2")
        elif pick < 0.85:
            cmd = ("hincrbyfloat", key, rng.choice(fields), "0.5")
        else:
            cmd = ("hgetall", key)
        differ.check(*cmd)
        for read in (("hgetall", key), ("hkeys", key), ("hvals", key), ("hscan", key, "0"),
                     ("hrandfield", key, "100", "withvalues"), ("dump", key)):
            differ.check(*read)
    for key in keys:
        differ.check("del", "copy", "restored")
        differ.check("copy", key, "copy")
        differ.check("hgetall", "copy")
        payload = differ.a.call("dump", key).split(b"\r\n", 1)
        if len(payload) == 2 and payload[1]:
            differ.check("restore", "restored", "0", payload[1][:-2])
            differ.check("hgetall", "restored")
        differ.check("eval", "return redis.call('hgetall', KEYS[1])", "1", key)
    # Past the listpack limits the order is Redis's dict order: compared as pairs only.
    differ.check("hset", "o1", "long", "y" * 65)
    differ.check("object", "encoding", "o1")
    differ.check("hgetall", "o1", normalize=pairs)
