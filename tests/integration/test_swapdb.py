"""SWAPDB: two SELECT indexes exchange their data, against a real redis-server 7.0 (keys,
TTLs, counts, INFO keyspace, WATCH, clients blocked on keys), and durably on AiKv
(restart, kill -9, and a restart with too few databases refused rather than mixed up)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from tests.differ import Differ, RawConnection, wait_blocked
from tests.harness import ServerProcess


def _both_dbs(differ: Differ, *cmd: str) -> None:
    for index in ("0", "1", "2"):
        differ.check("select", index)
        differ.check(*cmd)
    differ.check("select", "0")


def test_swapdb_matches_redis(differ: Differ) -> None:
    differ.check("flushall")
    differ.check("set", "a", "1")
    differ.check("rpush", "l0", "x", "y")
    differ.check("select", "1")
    differ.check("set", "b", "2", "ex", "1000")
    differ.check("hset", "h", "f", "v")
    differ.check("select", "0")
    for step in (("swapdb", "0", "1"), ("swapdb", "1", "2"), ("swapdb", "0", "0"),
                 ("swapdb", "2", "0")):
        differ.check(*step)
        _both_dbs(differ, "dbsize")
        for key in ("a", "b", "l0", "h"):
            _both_dbs(differ, "type", key)
        _both_dbs(differ, "ttl", "b")
    differ.check("info", "keyspace",
                 normalize=lambda raw: [line.split(b",avg_ttl")[0] for line in raw.split(b"\r\n")])
    # The data moved with its index: writes land in the swapped data.
    differ.check("swapdb", "0", "1")
    differ.check("lpush", "l0", "z")
    differ.check("swapdb", "0", "1")
    _both_dbs(differ, "lrange", "l0", "0", "-1")
    differ.check("flushall")


def test_watch_across_swapdb_matches_redis(aikv_module: ServerProcess,
                                           redis_module: ServerProcess) -> None:
    outcomes = []
    for proc in (aikv_module, redis_module):
        a, other = RawConnection(proc.port), RawConnection(proc.port)
        try:
            a.call("flushall")
            a.call("set", "present", "1")
            other.call("select", "1")
            other.call("set", "only1", "x")
            a.call("watch", "present", "absent")
            a.call("multi")
            a.call("get", "present")
            other.call("swapdb", "0", "1")
            first = a.call("exec")
            a.call("watch", "nowhere")  # absent from both: the swap does not touch it
            a.call("multi")
            a.call("ping")
            other.call("swapdb", "0", "1")
            second = a.call("exec")
            outcomes.append((first, second))
            a.call("flushall")
        finally:
            a.close()
            other.close()
    assert outcomes[0] == outcomes[1], outcomes
    assert outcomes[0][0] == b"*-1\r\n" and outcomes[0][1] == b"*1\r\n+PONG\r\n"


def test_swapdb_serves_blocked_clients(aikv_module: ServerProcess,
                                        redis_module: ServerProcess) -> None:
    replies = []
    for proc in (aikv_module, redis_module):
        blocked, other = RawConnection(proc.port), RawConnection(proc.port)
        try:
            other.call("flushall")
            other.call("select", "1")
            other.call("rpush", "q", "job")
            blocked.sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
            wait_blocked(other)
            other.call("swapdb", "0", "1")
            replies.append(blocked.read_reply())
        finally:
            blocked.close()
            other.close()
    assert replies[0] == replies[1] == b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n"


def test_swapdb_survives_restart_and_kill(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv")
    r = redis.Redis(port=node.port)
    r.set("a", "zero")
    redis.Redis(port=node.port, db=3).set("b", "three")
    assert r.swapdb(0, 3)
    r.close()
    node.stop()
    node.start()
    assert redis.Redis(port=node.port).get("b") == b"three"
    assert redis.Redis(port=node.port, db=3).get("a") == b"zero"
    assert redis.Redis(port=node.port).swapdb(3, 0)
    assert redis.Redis(port=node.port).get("a") == b"zero"
    assert redis.Redis(port=node.port).swapdb(0, 5)
    node.kill9()
    node.start()
    assert redis.Redis(port=node.port, db=5).get("a") == b"zero"
    assert redis.Redis(port=node.port).dbsize() == 0
    assert redis.Redis(port=node.port, db=5).dbsize() == 1
    node.stop()
    # Started with fewer databases than the swapped data needs: refused, nothing mixed.
    fewer = ServerProcess("aikv", node.dir, args=["--databases", "4"])
    fewer.start(wait=False)
    try:
        assert fewer.proc is not None
        assert fewer.proc.wait(timeout=30) != 0
    finally:
        fewer.stop()
    assert "start it with databases 16 or more" in fewer.log_path.read_text()
    node.start()
    assert redis.Redis(port=node.port, db=5).get("a") == b"zero"


@pytest.mark.parametrize("args", [("swapdb", "0", "1")])
def test_swapdb_refused_in_cluster_mode(cluster_differ: Differ, args: tuple[str, ...]) -> None:
    cluster_differ.check(*args)
