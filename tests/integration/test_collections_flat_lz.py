"""Lists and sorted sets: element operations cost the same on a million elements as on a
thousand (one record each, no per-call O(n) work), and both types survive kill -9.

The flatness test prints its measurements (`pytest -s`) so they can be reported."""

from __future__ import annotations

import time

import pytest
import redis

from tests.harness import ServerProcess

BIG = 1_000_000
SMALL = 1_000
CHUNK = 50_000
OPS = 2_000


def _build_list(client: redis.Redis, key: str, n: int) -> None:
    for start in range(0, n, CHUNK):
        client.rpush(key, *range(start, min(n, start + CHUNK)))
    assert client.llen(key) == n


def _build_zset(client: redis.Redis, key: str, n: int) -> None:
    for start in range(0, n, CHUNK):
        client.zadd(key, {f"m{i}": i for i in range(start, min(n, start + CHUNK))})
    assert client.zcard(key) == n


def _run(client: redis.Redis, commands: list[tuple[object, ...]], round_: int) -> float:
    pipe = client.pipeline(transaction=False)
    for cmd in commands:
        pipe.execute_command(*[str(a).replace("{r}", str(round_)) for a in cmd])
    started = time.perf_counter()
    pipe.execute()
    return time.perf_counter() - started


def _compare(client: redis.Redis, big: list[tuple[object, ...]],
             small: list[tuple[object, ...]]) -> tuple[float, float]:
    """Best of five pipelined runs each, big and small interleaved so that load from
    other processes hits both sides alike (server-side cost dominates a pipeline)."""
    best_big = best_small = float("inf")
    for round_ in range(5):
        best_big = min(best_big, _run(client, big, round_))
        best_small = min(best_small, _run(client, small, round_))
    return best_big, best_small


@pytest.mark.slow
def test_element_operations_are_flat(spawn) -> None:  # type: ignore[no-untyped-def]
    server: ServerProcess = spawn("aikv")
    client = server.client(socket_timeout=120)
    built = time.perf_counter()
    _build_list(client, "biglist", BIG)
    _build_list(client, "smalllist", SMALL)
    list_build = time.perf_counter() - built
    built = time.perf_counter()
    _build_zset(client, "bigz", BIG)
    _build_zset(client, "smallz", SMALL)
    zset_build = time.perf_counter() - built

    results = {}
    for name, big_key, small_key, make in [
        ("LPUSH", "biglist", "smalllist", lambda k, i: ("lpush", k, f"v{i}")),
        ("RPOP", "biglist", "smalllist", lambda k, i: ("rpop", k)),
        ("LINDEX mid", "biglist", "smalllist", lambda k, i: ("lindex", k, 400 + i % 100)),
        ("ZADD new", "bigz", "smallz", lambda k, i: ("zadd", k, i * 0.5, f"n{{r}}-{i}")),
        ("ZSCORE", "bigz", "smallz", lambda k, i: ("zscore", k, f"m{i % 900}")),
        ("ZPOPMIN", "bigz", "smallz", lambda k, i: ("zpopmin", k)),
    ]:
        results[name] = _compare(client, [make(big_key, i) for i in range(OPS)],
                                 [make(small_key, i) for i in range(OPS)])
    print(f"\nbuild: 1M-element list {list_build:.1f}s, 1M-member zset {zset_build:.1f}s")
    for name, (big, small) in results.items():
        print(f"{name:12s} {OPS} ops: 1M {big * 1e6 / OPS:7.1f} us/op, "
              f"1k {small * 1e6 / OPS:7.1f} us/op, ratio {big / small:.2f}")
    for name, (big, small) in results.items():
        assert big < 2.0 * small + 0.05, (name, big, small)
    client.close()


def test_lists_and_zsets_survive_kill_9(spawn, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server: ServerProcess = spawn("aikv", directory=tmp_path / "node")
    client = server.client()
    client.rpush("l", *[f"e{i}" for i in range(5000)])
    client.lpush("l", "head")
    client.linsert("l", "BEFORE", "e2500", "mid")
    client.lrem("l", 1, "e10")
    client.ltrim("l", 0, 4000)
    client.zadd("z", {f"m{i}": i / 3 for i in range(3000)})
    client.zadd("z", {"x" * 600: -1.5, "neg": float("-inf")})
    client.zrem("z", "m7")
    client.zincrby("z", 10, "m8")
    client.zadd("small", {"a": 1, "b": 2})
    expected_list = client.lrange("l", 0, -1)
    expected_z = client.zrange("z", 0, -1, withscores=True)
    expected_small = client.zrange("small", 0, -1, withscores=True)
    client.close()
    server.kill9()

    again: ServerProcess = spawn("aikv", directory=tmp_path / "node")
    client = again.client()
    assert client.lrange("l", 0, -1) == expected_list
    assert client.llen("l") == len(expected_list)
    assert client.lindex("l", 2000) == expected_list[2000]
    assert client.zrange("z", 0, -1, withscores=True) == expected_z
    assert client.zcard("z") == len(expected_z)
    assert client.zscore("z", "x" * 600) == -1.5
    assert client.zrank("z", "m8") == [m for m, _ in expected_z].index(b"m8")
    assert client.object("encoding", "z") == b"skiplist"
    assert client.object("encoding", "small") == b"listpack"
    assert client.zrange("small", 0, -1, withscores=True) == expected_small
    # Still writable, and the element records are consistent with the metas.
    assert client.rpush("l", "tail") == len(expected_list) + 1
    assert client.zadd("z", {"fresh": 0}) == 1
    client.close()
