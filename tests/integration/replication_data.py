"""A dataset with every type, for the replication tests (either side of the link)."""

from __future__ import annotations

import redis


def populate(r: redis.Redis) -> None:
    r.set("s", "v")
    r.set("n", 12345)
    r.set("big", "x" * 5000)
    r.set("ttl", "t", ex=1000)
    r.rpush("l", *[f"e{i}" for i in range(300)])
    r.hset("h", mapping={f"f{i}": i for i in range(20)})
    r.hset("hbig", mapping={f"f{i}": "y" * 100 for i in range(600)})
    r.sadd("ints", *range(100))
    r.sadd("strs", "a", "b", "c")
    r.zadd("z", {f"m{i}": i / 3 for i in range(200)})
    r.xadd("st", {"f": "v"}, id="1-1")
    r.xadd("st", {"f": "w"}, id="2-1")
    r.xgroup_create("st", "g", id="0")
    r.xreadgroup("g", "c1", {"st": ">"}, count=1)
    r.pfadd("hll", *[f"u{i}" for i in range(50)])
    r.geoadd("geo", (13.361389, 38.115556, "Palermo"))
    r.execute_command("SELECT", 4)
    r.set("in-db4", "here")
    r.execute_command("SELECT", 0)
    r.function_load("#!lua name=lib1\nredis.register_function('f1', function() return 1 end)")


def digest(r: redis.Redis) -> bytes:
    value: bytes = r.execute_command("DEBUG", "DIGEST")
    return value
