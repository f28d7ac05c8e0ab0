"""Element operations stay flat with the collection's size, deleting a huge collection does
not stall other clients, and hashes and sets survive kill -9.

The timing tests print their measurements (run with -s to see them).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

import pytest
import redis

from tests.harness import ServerProcess, wait_until

BIG = 1_000_000
SMALL = 1_000
CHUNK = 1_000


def _build_set(r: redis.Redis, key: str, n: int) -> None:
    pipe = r.pipeline(transaction=False)
    for start in range(0, n, CHUNK):
        pipe.sadd(key, *range(start, min(n, start + CHUNK)))
        if len(pipe) >= 50:
            pipe.execute()
    pipe.execute()


def _build_hash(r: redis.Redis, key: str, n: int) -> None:
    pipe = r.pipeline(transaction=False)
    for start in range(0, n, CHUNK):
        pipe.hset(key, mapping={f"field:{i}": i for i in range(start, min(n, start + CHUNK))})
        if len(pipe) >= 50:
            pipe.execute()
    pipe.execute()


def _batch_seconds(r: redis.Redis, issue: Callable[[redis.client.Pipeline, int], None],
                   base: int, n: int) -> float:
    """Time one pipelined batch of `n` single-element writes."""
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        issue(pipe, base + i)
    started = time.perf_counter()
    pipe.execute()
    return time.perf_counter() - started


def _compare(r: redis.Redis, small_issue: Callable[[redis.client.Pipeline, int], None],
             big_issue: Callable[[redis.client.Pipeline, int], None]) -> tuple[float, float]:
    """Median per-command seconds on the small and on the big collection, measured in
    interleaved rounds so that machine noise hits both alike."""
    per_batch = 2_000
    small_times, big_times = [], []
    for round_no in range(12):
        base = 10_000_000 + round_no * per_batch
        small_times.append(_batch_seconds(r, small_issue, base, per_batch) / per_batch)
        big_times.append(_batch_seconds(r, big_issue, base, per_batch) / per_batch)
    return statistics.median(small_times), statistics.median(big_times)


@pytest.mark.slow
def test_sadd_and_hset_are_flat(r: redis.Redis) -> None:
    started = time.perf_counter()
    _build_set(r, "big:set", BIG)
    _build_hash(r, "big:hash", BIG)
    _build_set(r, "small:set", SMALL)
    _build_hash(r, "small:hash", SMALL)
    built = time.perf_counter() - started
    assert r.scard("big:set") == BIG and r.hlen("big:hash") == BIG

    set_small, set_big = _compare(
        r, lambda p, i: p.sadd("small:set", f"m{i}"), lambda p, i: p.sadd("big:set", f"m{i}"))
    hash_small, hash_big = _compare(
        r, lambda p, i: p.hset("small:hash", f"f{i}", "v"),
        lambda p, i: p.hset("big:hash", f"f{i}", "v"))
    read_small, read_big = _compare(
        r, lambda p, i: p.sismember("small:set", f"m{i}"),
        lambda p, i: p.sismember("big:set", f"m{i}"))
    print(f"\nbuilt 2 x {BIG:,} + 2 x {SMALL:,} elements in {built:.1f}s")
    print(f"SADD      1k: {set_small * 1e6:.1f} us/cmd   1M: {set_big * 1e6:.1f} us/cmd   "
          f"ratio {set_big / set_small:.2f}")
    print(f"HSET      1k: {hash_small * 1e6:.1f} us/cmd   1M: {hash_big * 1e6:.1f} us/cmd   "
          f"ratio {hash_big / hash_small:.2f}")
    print(f"SISMEMBER 1k: {read_small * 1e6:.1f} us/cmd   1M: {read_big * 1e6:.1f} us/cmd   "
          f"ratio {read_big / read_small:.2f}")
    assert set_big < 2 * set_small
    assert hash_big < 2 * hash_small
    assert read_big < 2 * read_small
    # Random members and scans stay cheap on the big ones too.
    started = time.perf_counter()
    for _ in range(200):
        r.srandmember("big:set")
        r.hrandfield("big:hash")
    random_ms = (time.perf_counter() - started) / 400 * 1000
    cursor, batch = r.sscan("big:set", 0, count=100)
    assert cursor != 0 and 100 <= len(batch) < 200
    print(f"SRANDMEMBER/HRANDFIELD on 1M: {random_ms:.2f} ms per call (round trip)")
    assert random_ms < 20


@pytest.mark.slow
def test_deleting_a_huge_hash_does_not_stall_other_clients(
        r: redis.Redis, aikv_module: ServerProcess) -> None:
    _build_hash(r, "doomed", BIG)
    assert r.hlen("doomed") == BIG
    latencies: list[float] = []
    stop = threading.Event()

    def pinger() -> None:
        client = aikv_module.client()
        while not stop.is_set():
            started = time.perf_counter()
            client.ping()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.001)
        client.close()

    thread = threading.Thread(target=pinger)
    thread.start()
    try:
        wait_until(lambda: len(latencies) >= 50, 10, 0.01, "the pinger's first PINGs")
        before = len(latencies)
        started = time.perf_counter()
        assert r.delete("doomed") == 1
        del_ms = (time.perf_counter() - started) * 1000
        # (Collections deleted by the module's earlier tests may still be pending too.)
        assert r.info("memory")["lazyfree_pending_objects"] >= 1
        assert r.exists("doomed") == 0 and r.hlen("doomed") == 0
        r.hset("doomed", "fresh", "1")  # a new hash under the old name sees no leftovers
        assert r.hgetall("doomed") == {b"fresh": b"1"}
        # Keep pinging until the element records have been reclaimed in the background.
        wait_until(lambda: r.info("memory")["lazyfree_pending_objects"] == 0, 90, 0.05,
                   "the background reclaim of the element records")
        reclaim_s = time.perf_counter() - started
        assert r.hgetall("doomed") == {b"fresh": b"1"}
    finally:
        stop.set()
        thread.join()
    during = latencies[before:]
    worst = max(during) * 1000
    print(f"\nDEL of a {BIG:,}-field hash: {del_ms:.1f} ms, reclaimed in {reclaim_s:.1f} s; "
          f"{len(during)} concurrent PINGs, "
          f"max {worst:.1f} ms, median {statistics.median(during) * 1000:.2f} ms")
    assert len(during) > 500
    # Deleting the million element records in one go would stall every client for the
    # whole deletion (each delete over a microsecond in Python: over a second); the cron
    # reclaims them in batches for at most ~25 ms a run. The bound sits well below the
    # first and well above what a noisy shared 2-core machine adds to one reclaim run
    # (one CI run saw a 118 ms PING; the median stays sub-millisecond).
    assert worst < 500
    assert statistics.median(during) * 1000 < 5


def test_hashes_and_sets_survive_kill9(spawn: Callable[..., ServerProcess]) -> None:
    server = spawn("aikv")
    r = server.client()
    small_hash = {b"a": b"1", b"b": b"two", b"": b"empty field"}
    big_hash = {f"f{i}".encode(): str(i).encode() * 3 for i in range(3000)}
    ints = {str(i).encode() for i in range(-50, 50)}
    words = {f"w{i}".encode() for i in range(2000)}
    r.hset("hs", mapping=small_hash)
    r.hset("hb", mapping=big_hash)
    r.hincrbyfloat("hs", "float", "0.1")
    r.sadd("si", *ints)
    r.sadd("sw", *words)
    r.srem("sw", "w0")
    r.sadd("gone", "x")
    r.delete("gone")
    r.sadd("ttl", "x")
    r.expire("ttl", 1000)
    r.sinterstore("inter", "si", "si")
    encodings = {k: r.object("encoding", k) for k in ("hs", "hb", "si", "sw", "inter")}
    r.close()
    server.kill9()
    server.start()
    r = server.client()
    assert r.hgetall("hs") == small_hash | {b"float": b"0.1"}
    assert r.hgetall("hb") == big_hash
    assert r.smembers("si") == ints
    assert r.smembers("sw") == words - {b"w0"}
    assert r.scard("sw") == len(words) - 1 and r.hlen("hb") == len(big_hash)
    assert r.exists("gone") == 0
    assert 0 < r.ttl("ttl") <= 1000
    assert r.smembers("inter") == ints
    assert {k: r.object("encoding", k) for k in encodings} == encodings
    # Still writable, and counts stay right after the restart.
    assert r.sadd("sw", "w0", "w1") == 1
    assert r.hset("hb", "f0", "changed") == 0
    r.close()
