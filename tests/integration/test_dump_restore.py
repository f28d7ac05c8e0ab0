"""DUMP / RESTORE of a running AiKv against a real redis-server 7.0.15.

* Every RESTORE case of shared/fixtures/dump/restore-cases.json is sent to both servers
  and must get byte-identical replies, and the same observable result afterwards.
* Values of every type written on AiKv are DUMPed, RESTOREd into Redis and compared there;
  the same in the other direction. For encodings Redis writes deterministically the
  payload bytes themselves must match.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.differ import Differ, parse
from tests.harness import ServerProcess


@pytest.fixture
def differ(aikv_module: ServerProcess, redis_module: ServerProcess) -> Iterator[Differ]:
    d = Differ(aikv_module.port, redis_module.port)
    d.both("FLUSHALL")
    yield d
    d.close()


def _cases(shared: Path) -> list[dict[str, Any]]:
    return json.loads((shared / "fixtures" / "dump" / "restore-cases.json").read_text())["cases"]


# "After" probes whose answer AiKv does not model: access times and LFU counters are not
# tracked (reads would become LMDB writes).
_UNMODELLED = {b"IDLETIME", b"FREQ"}


def _close_ttl(mine: Any, theirs: Any) -> bool:
    if isinstance(mine, int) and isinstance(theirs, int) and mine > 0 and theirs > 0:
        return abs(mine - theirs) < 2000
    return mine == theirs


def test_restore_cases_match_redis(shared: Path, differ: Differ) -> None:
    cases = _cases(shared)
    assert len(cases) >= 30
    for case in cases:
        differ.both("FLUSHALL")
        if case["key"] == "r:exists":
            differ.both("SET", "r:exists", "old")
        payload = bytes.fromhex(case["payload_hex"])
        args = [payload if a == "<payload>" else a.encode() for a in case["restore_args"]]
        mine, theirs = differ.both(*args)
        assert mine == theirs, (case["name"], mine, theirs)
        assert mine == case["reply_raw"].encode(), case["name"]
        for probe in case.get("after", []):
            command = [w.encode() for w in probe["command"]]
            if _UNMODELLED & {w.upper() for w in command}:
                continue
            a, r = differ.both(*command)
            if command[0].upper() in (b"PTTL", b"TTL"):
                assert _close_ttl(parse(a), parse(r)), (case["name"], a, r)
            elif command[0].upper() in (b"SMEMBERS",):
                assert sorted(parse(a)) == sorted(parse(r)), (case["name"], a, r)
            else:
                assert a == r, (case["name"], command, a, r)


def test_restore_asking_outside_cluster_is_plain_restore(differ: Differ) -> None:
    payload = differ.r.call("DUMP", "nope")
    assert payload == b"$-1\r\n"
    differ.both("SET", "src", "value")
    raw = parse(differ.r.call("DUMP", "src"))
    differ.check("RESTORE-ASKING", "copy", "0", raw)
    differ.check("GET", "copy")
    differ.check("RESTORE-ASKING", "copy", "0", raw)  # BUSYKEY
    differ.check("DUMP", "missing")


def _sealed(body: bytes) -> bytes:
    from aikv.migrate.crc64 import crc64

    body += b"\x0a\x00"
    return body + crc64(body).to_bytes(8, "little")


def test_lenient_payloads_as_redis(differ: Differ) -> None:
    """Corrupt payloads redis-server 7.0.15 takes, sanitizing or not (found by a fuzz of
    mutated DUMP payloads): an LZF string declared empty is "" whatever its compressed
    bytes (lzf_decompress's 0 for failure equals that length), and a packed sorted set's
    score is read by strtod ("1.5x" is 1.5)."""
    lzf_empty = _sealed(b"\x00\xc3\x09\x00" + bytes.fromhex("64017878e05700017a78"))
    junk_score = _sealed(b"\x11" + bytes.fromhex("10000000020081610284312e357805ff"))
    for sanitize in ("no", "yes"):
        differ.both("CONFIG", "SET", "sanitize-dump-payload", sanitize)
        differ.both("DEL", "e", "z")
        differ.check("RESTORE", "e", "0", lzf_empty)
        differ.check("GET", "e")
        differ.check("RESTORE", "z", "0", junk_score)
        differ.check("ZSCORE", "z", "a")
    differ.both("CONFIG", "SET", "sanitize-dump-payload", "no")
    differ.both("DEL", "e", "z")


# ---------------------------------------------------------------------- round trips
def _populate(client: redis.Redis) -> None:
    client.set("s:raw", "hello world")
    client.set("s:int", "12345")
    client.set("s:neg", "-9223372036854775808")
    client.set("s:long", "x" * 300)
    client.set("s:bin", bytes(range(256)))
    client.set("s:ttl", "expiring", px=600_000)
    client.rpush("l:small", "a", "b", "12", "")
    client.rpush("l:big", *[f"item-{i}" * 3 for i in range(600)])
    client.rpush("l:huge-elem", "y" * 10_000, "z")
    client.sadd("set:ints", 1, 2, 3, -7, 2**40)
    client.sadd("set:strs", "a", "b", "c")
    client.sadd("set:many", *range(700))
    client.hset("h:small", mapping={"f1": "v1", "f2": "22"})
    client.hset("h:big", mapping={f"f{i}": f"v{i}" for i in range(600)})
    client.hset("h:longval", mapping={"f": "v" * 100})
    client.zadd("z:small", {"m1": 1.5, "m2": -2, "m3": 0})
    client.zadd("z:big", {f"m{i}": i / 3 for i in range(200)})
    client.zadd("z:inf", {"lo": float("-inf"), "hi": float("inf"), "mid": 1e300})


KEYS_DETERMINISTIC = ["s:raw", "s:int", "s:neg", "s:long", "s:bin", "s:ttl", "l:small", "l:big",
                      "l:huge-elem", "set:ints", "h:small", "h:longval", "z:small", "z:big", "z:inf"]
ALL_KEYS = KEYS_DETERMINISTIC + ["set:strs", "set:many", "h:big"]


def _content(client: redis.Redis, key: str) -> Any:
    kind = client.type(key)
    if kind == b"string":
        return client.get(key)
    if kind == b"list":
        return client.lrange(key, 0, -1)
    if kind == b"set":
        return sorted(client.smembers(key))
    if kind == b"hash":
        return sorted(client.hgetall(key).items())
    if kind == b"zset":
        return client.zrange(key, 0, -1, withscores=True)
    raise AssertionError(f"{key}: unexpected type {kind!r}")


def _clients(aikv: ServerProcess, real: ServerProcess) -> tuple[redis.Redis, redis.Redis]:
    a, r = aikv.client(), real.client()
    a.flushall()
    r.flushall()
    return a, r


def test_dump_payload_bytes_match_redis(aikv_module: ServerProcess,
                                        redis_module: ServerProcess) -> None:
    a, r = _clients(aikv_module, redis_module)
    _populate(a)
    _populate(r)
    for key in KEYS_DETERMINISTIC:
        assert a.dump(key) == r.dump(key), key


def test_rdbcompression_no_payloads_match_redis(aikv_module: ServerProcess,
                                                redis_module: ServerProcess) -> None:
    a, r = _clients(aikv_module, redis_module)
    _populate(a)
    _populate(r)
    compressed = a.dump("s:long")
    try:
        for client in (a, r):
            assert client.config_get("rdbcompression") == {"rdbcompression": "yes"}
            client.config_set("rdbcompression", "no")
        assert a.dump("s:long") != compressed  # the setting is in effect
        for key in KEYS_DETERMINISTIC:
            assert a.dump(key) == r.dump(key), key
    finally:
        for client in (a, r):
            client.config_set("rdbcompression", "yes")


def test_aikv_dump_restores_in_redis_and_back(aikv_module: ServerProcess,
                                              redis_module: ServerProcess) -> None:
    a, r = _clients(aikv_module, redis_module)
    _populate(a)
    expected = {key: _content(a, key) for key in ALL_KEYS}
    encodings = {key: a.object("encoding", key) for key in ALL_KEYS}
    for key in ALL_KEYS:
        pttl = a.pttl(key)
        assert r.restore(key, max(pttl, 0), a.dump(key)) == b"OK"
        assert _content(r, key) == expected[key], key
        assert r.object("encoding", key) == encodings[key], key
    assert 590_000 < r.pttl("s:ttl") <= 600_000
    # ... and back: Redis's payloads restore into an empty AiKv unchanged.
    a.flushall()
    for key in ALL_KEYS:
        assert a.restore(key, 0, r.dump(key)) == b"OK"
        assert _content(a, key) == expected[key], key
        assert a.object("encoding", key) == encodings[key], key


def test_restore_replace_and_absttl(aikv_module: ServerProcess) -> None:
    a = aikv_module.client()
    a.flushall()
    a.rpush("l", "x", "y")
    payload = a.dump("l")
    a.set("k", "old")
    with pytest.raises(redis.ResponseError, match="BUSYKEY"):
        a.restore("k", 0, payload)
    assert a.restore("k", 0, payload, replace=True) == b"OK"
    assert a.lrange("k", 0, -1) == [b"x", b"y"]
    # An absolute deadline in the past: +OK, the old value is gone and nothing is created.
    assert a.restore("k", 1000, payload, replace=True, absttl=True) == b"OK"
    assert a.exists("k") == 0
    deadline = int(a.time()[0] * 1000) + 120_000
    assert a.restore("k2", deadline, payload, absttl=True) == b"OK"
    assert 100_000 < a.pttl("k2") <= 120_000


def test_restore_gates_match_redis(differ: Differ) -> None:
    # RESTORE and RESTORE-ASKING take the direct path of plain data commands: the gates
    # that path skips (ACL categories, MULTI, maxmemory, arity, commandstats) must still
    # answer as Redis does.
    differ.both("SET", "src", "value")
    payload = differ.a.call("DUMP", "src").split(b"\r\n")[1]
    assert payload == differ.r.call("DUMP", "src").split(b"\r\n")[1]
    differ.both("CONFIG", "RESETSTAT")
    try:
        for name in ("RESTORE", "RESTORE-ASKING"):
            differ.check(name, "k1", "0", payload)
            differ.check(name, "k1", "0", payload)  # BUSYKEY
            differ.check(name, "k1")
            differ.check("MULTI")
            differ.check(name, "k2", "0", payload)
            differ.check("EXEC")
            differ.check("GET", "k2")
            differ.both("DEL", "k1", "k2")
        differ.check("ACL", "SETUSER", "nodanger", "on", "nopass", "~*", "+@all", "-@dangerous")
        differ.check("AUTH", "nodanger", "x")
        differ.check("RESTORE", "k3", "0", payload)
        differ.check("RESTORE-ASKING", "k3", "0", payload)
        differ.check("AUTH", "default", "")
        differ.check("CONFIG", "SET", "maxmemory", "1")
        differ.check("RESTORE", "k4", "0", payload)
        differ.check("CONFIG", "SET", "maxmemory", "0")
        differ.check("RESTORE", "k4", "0", payload)
        for line in ("cmdstat_restore:", "cmdstat_restore-asking:"):
            mine, theirs = (s.split(line.encode())[1].split(b",usec=")[0]
                            for s in differ.both("INFO", "COMMANDSTATS"))
            assert mine == theirs, (line, mine, theirs)
    finally:
        differ.both("CONFIG", "SET", "maxmemory", "0")
        differ.both("ACL", "DELUSER", "nodanger")


def test_restore_wakes_blocked_client(aikv_module: ServerProcess) -> None:
    a = aikv_module.client()
    a.flushall()
    a.rpush("src", "first", "second")
    payload = a.dump("src")
    waiter = aikv_module.client(socket_timeout=10)
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.append(waiter.blpop(["dst"], timeout=5)))
    thread.start()
    # Wait until the BLPOP is registered (client flag b) before restoring.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if b"flags=b " in a.execute_command("CLIENT", "LIST"):
            break
        time.sleep(0.02)
    assert a.restore("dst", 0, payload) == b"OK"
    thread.join(timeout=6)
    assert got == [(b"dst", b"first")]
    assert a.lrange("dst", 0, -1) == [b"second"]
    waiter.close()


def test_debug_digest_value_matches_redis(spawn: Any) -> None:
    """redis-cli compares DEBUG DIGEST-VALUE across nodes (possibly AiKv against Redis)
    when a reshard's MIGRATE hits BUSYKEY; the digests must be Redis's exactly."""
    a = spawn("aikv").client()
    r = spawn("redis", args=["--enable-debug-command", "yes"]).client()
    for client in (a, r):
        _populate(client)
        client.zadd("z:zero", {"m": 0})
    keys = ALL_KEYS + ["z:zero", "missing"]
    mine = a.execute_command("DEBUG", "DIGEST-VALUE", *keys)
    theirs = r.execute_command("DEBUG", "DIGEST-VALUE", *keys)
    assert mine == theirs
    assert mine[-1] == b"0" * 40
    assert len(set(mine)) == len(keys)


def test_debug_digest_of_the_dataset_matches_redis(spawn: Any) -> None:
    """DEBUG DIGEST: one digest of every key of every database, equal to Redis's for the
    same data (so the two can be compared whole, e.g. after a migration)."""
    a = spawn("aikv").client()
    r = spawn("redis", args=["--enable-debug-command", "yes"]).client()
    digests = []
    for client in (a, r):
        empty = client.execute_command("DEBUG", "DIGEST")
        _populate(client)
        client.expire("z:zero", 1000)  # absent key: no effect
        client.zadd("z:zero", {"m": 0})
        client.set("with-ttl", "v", ex=1000)
        client.execute_command("SELECT", "5")
        client.rpush("other-db", "x")
        client.execute_command("SELECT", "0")
        full = client.execute_command("DEBUG", "DIGEST")
        client.delete("with-ttl")
        fewer = client.execute_command("DEBUG", "DIGEST")
        digests.append((empty, full, fewer))
    assert digests[0] == digests[1]
    empty, full, fewer = digests[0]
    assert empty == b"0" * 40 and len({empty, full, fewer}) == 3
