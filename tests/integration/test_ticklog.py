"""The tick log (lmdb-tick-log yes): nothing acknowledged is lost to kill -9, and no write
path escapes the log (a crash before any checkpoint replays to the exact state)."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from aikv.persist.store import Store
from tests.harness import ServerProcess, serve_all_slots, wait_until

LOG_ON = ["--set", "lmdb-tick-log=yes"]
NOT_DATA = (b"stale-counts:", b"disk-probe", b"ticklog-seq")


def dump_store(directory: Path) -> dict[str, Any]:
    """Every LMDB database of the store in `directory` (opened in-process, so a tick log
    left there is replayed first), with the exact per-slot counts instead of the counts
    databases (whose batching differs legitimately)."""
    store = Store(directory, 16)
    store.open()
    try:
        assert store.env is not None
        out: dict[str, Any] = {}
        with store.env.begin() as txn:
            for h in store.dbs:
                for name, db in (("m", h.meta), ("x", h.expires), ("l", h.long_keys)):
                    out[f"{name}{h.index}"] = list(txn.cursor(db=db))
            out["elements"] = list(txn.cursor(db=store.elements_db))
            out["garbage"] = list(txn.cursor(db=store.garbage_db))
            out["misc"] = [(k, v) for k, v in txn.cursor(db=store.misc_db)
                           if not k.startswith(NOT_DATA)]
        out["counts"] = [{s: n for s, n in enumerate(c) if n} for c in store.slot_counts]
        out["totals"] = list(store.key_totals)
        return out
    finally:
        store.close()


def broad_mix(r: redis.Redis) -> None:
    rng = random.Random(5)
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    r.set("doomed", "x")
    r.flushall()
    for _ in range(300):
        r.set(f"s{rng.randrange(200)}", "v" * rng.randrange(1, 50))
    r.set("long:" + "k" * 600, "long key")
    r.set("ttl", "1", ex=100000)
    r.expire("s1", 200000)
    r.persist("s1")
    r.pexpireat("s2", int(time.time() * 1000) + 10_000_000)
    r.append("s3", "more")
    r.incr("counter")
    r.incrbyfloat("f", 1.5)
    r.setrange("s4", 3, "zz")
    r.setbit("bits", 1000, 1)
    r.getdel("s5")
    r.getex("s6", ex=5000)
    r.mset({"m1": "1", "m2": "2"})
    r.hset("h", mapping={f"f{i}": i for i in range(200)})
    r.hdel("h", "f1", "f2")
    r.hincrby("h", "f3", 5)
    r.rpush("l", *range(500))
    r.lpush("l", "head")
    r.lpop("l")
    r.rpop("l", 3)
    r.lset("l", 10, "ten")
    r.lrem("l", 0, "20")
    r.linsert("l", "BEFORE", "30", "x")
    r.ltrim("l", 5, 400)
    r.rpoplpush("l", "l2")
    r.sadd("s", *range(300))
    r.srem("s", 1, 2)
    r.spop("s", 3)
    r.smove("s", "s_other", 10)
    r.sinterstore("sdest", "s", "s_other")
    r.zadd("z", {f"m{i}": i for i in range(300)})
    r.zincrby("z", 3, "m1")
    r.zrem("z", "m2")
    r.zremrangebyscore("z", 100, 150)
    r.zpopmin("z", 2)
    r.zunionstore("zu", ["z"])
    for i in range(50):
        r.xadd("st", {"i": i})
    r.xgroup_create("st", "g", id="0")
    r.xreadgroup("g", "c1", {"st": ">"}, count=10)
    pending = r.xpending_range("st", "g", "-", "+", 5)
    r.xack("st", "g", pending[0]["message_id"])
    r.xclaim("st", "g", "c2", 0, [pending[1]["message_id"]])
    r.xdel("st", pending[2]["message_id"])
    r.xtrim("st", maxlen=40)
    r.xgroup_createconsumer("st", "g", "c3")
    r.pfadd("hll", *range(100))
    r.pfadd("hll2", *range(50, 200))
    r.pfmerge("hllm", "hll", "hll2")
    r.geoadd("geo", (13.361389, 38.115556, "Palermo"), (15.087269, 37.502669, "Catania"))
    r.rename("h", "h2")
    r.renamenx("l", "l3")
    r.copy("z", "zcopy")
    r.copy("s", "scopy")
    r.move("zcopy", 3)
    payload = r.dump("h2")
    r.restore("h_restored", 0, payload)
    r.restore("h2", 0, payload, replace=True)
    r.delete("s_other", "sdest")
    r.unlink("zu")
    db2 = redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=2)
    db2.set("in2", "x")
    db2.rpush("l2", 1, 2, 3)
    db2.flushdb()
    db2.set("after", "flush")
    db2.close()
    r.set("s7", "overwritten", keepttl=True)
    r.set("s8", "x", nx=True)


@pytest.mark.parametrize("fsync", ["everysec", "always"])
def test_no_write_escapes_the_log(spawn, tmp_path: Path, fsync: str) -> None:
    # No checkpoint after the start: LMDB holds only the empty store, the log all of it.
    node = spawn("aikv", [*LOG_ON, "--set", "lmdb-tick-log-checkpoint-ms=3600000",
                          "--appendfsync", fsync])
    r = node.client()
    broad_mix(r)
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    # Let the background reclaim of the deleted collections finish (it writes too).
    wait_until(lambda: r.info("memory")["lazyfree_pending_objects"] == 0, 30, 0.05,
               "the background reclaim")
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    crashed = tmp_path / "crashed"
    (crashed / "lmdb").mkdir(parents=True)
    shutil.copy(node.dir / "lmdb" / "data.mdb", crashed / "lmdb" / "data.mdb")
    logs = sorted(node.dir.glob("ticklog-*.log"))
    assert logs, "the tick log is on but no log file was written"
    for path in logs:
        shutil.copy(path, crashed / path.name)
    node.stop()  # graceful: the checkpoint commits the open transaction
    expected = dump_store(node.dir)
    assert expected["totals"][0] > 150 and expected["totals"][2] == 1
    assert dump_store(crashed) == expected
    assert not list(crashed.glob("ticklog-*.log"))  # replayed logs are removed


def _cluster_node(spawn, args: list[str], directory: Path | None = None) -> ServerProcess:
    node = spawn("aikv", [*LOG_ON, "--cluster-enabled", "yes", *args], directory=directory)
    return node


@pytest.mark.parametrize("fsync", ["everysec", "always"])
@pytest.mark.parametrize("log", ["yes", "no"])
def test_kill9_keeps_every_acknowledged_write(spawn, fsync: str, log: str) -> None:
    """Both storage modes: the tick log (the default) and a commit per tick."""
    args = ["--appendfsync", fsync, "--set", "lmdb-tick-log-checkpoint-ms=50",
            "--set", f"lmdb-tick-log={log}"]
    node = _cluster_node(spawn, args)
    r = node.client()
    serve_all_slots(node)
    rng = random.Random(1)
    expected: dict[bytes, bytes] = {}
    deadline = time.time() + 1.5
    batch = 0
    while time.time() < deadline:
        pipe = r.pipeline(transaction=False)
        for _ in range(200):
            key = b"k%d" % rng.randrange(5000)
            if rng.random() < 0.1:
                pipe.delete(key)
                expected.pop(key, None)
            else:
                value = b"v%d" % batch
                pipe.set(key, value)
                expected[key] = value
        pipe.execute()
        batch += 1
    r.hset("hash", mapping={"a": 1})
    node.kill9()
    node.start()
    r = node.client()
    wait_until(lambda: b"cluster_state:ok" in r.execute_command("CLUSTER", "INFO"),
               what="cluster ok after restart")
    keys = sorted(expected)
    assert {k: r.get(k) for k in keys} == expected
    assert r.hget("hash", "a") == b"1"
    assert r.dbsize() == len(expected) + 1
    per_slot: dict[int, int] = {}
    for k in [*keys, b"hash"]:
        slot = r.execute_command("CLUSTER", "KEYSLOT", k)
        per_slot[slot] = per_slot.get(slot, 0) + 1
    for slot in rng.sample(range(16384), 300) + list(per_slot)[:300]:
        assert r.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == per_slot.get(slot, 0)
