"""DEBUG RESTART and DEBUG CRASH-AND-RECOVER: the node executes itself again (same pid,
same command line) and comes back with its data, its config-file changes (RESTART
rewrites the file first) and, in cluster mode, its identity."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.differ import Differ
from tests.harness import ServerProcess, wait_until


def _info(node: ServerProcess) -> dict[str, Any]:
    return node.client().info("server")


def _restart_and_wait(node: ServerProcess, *command: str) -> dict[str, Any]:
    """Send the command, see the connection close unanswered (as from Redis), and wait for
    the new process to answer; its INFO server."""
    before = _info(node)
    r = node.client(socket_timeout=10)
    with pytest.raises(redis.ConnectionError):
        r.execute_command(*command)
    r.close()

    def back() -> dict[str, Any] | None:
        info = _info(node)
        return info if info["run_id"] != before["run_id"] else None

    after = wait_until(back, 30, what="the restarted node")
    assert after["process_id"] == before["process_id"] == node.proc.pid  # execve keeps it
    assert node.running
    return after


def test_restart_keeps_data_pid_and_rewritten_config(spawn: Any, tmp_path: Path) -> None:
    conf = tmp_path / "node.conf"
    conf.write_text("maxmemory-policy noeviction\n")
    node = spawn("aikv", [str(conf)])
    r = node.client()
    r.set("k", "v")
    r.rpush("l", "a", "b")
    r.config_set("maxmemory", "7mb")  # only in memory until the restart rewrites the file
    after = _restart_and_wait(node, "DEBUG", "RESTART")
    r = node.client()
    assert r.get("k") == b"v" and r.lrange("l", 0, -1) == [b"a", b"b"]
    assert r.config_get("maxmemory") == {"maxmemory": str(7 << 20)}
    assert "maxmemory 7mb" in conf.read_text()
    assert after["uptime_in_seconds"] <= 5
    assert "User requested shutdown..." in node.log()


def test_crash_and_recover_keeps_acknowledged_writes(spawn: Any) -> None:
    node = spawn("aikv")
    r = node.client()
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"key:{i}", i)
    pipe.execute()  # acknowledged: in the tick log, not yet checkpointed for the most part
    started = time.monotonic()
    _restart_and_wait(node, "DEBUG", "CRASH-AND-RECOVER", "300")
    assert time.monotonic() - started >= 0.3  # the delay
    r = node.client()
    assert r.dbsize() == 2000 and r.get("key:1999") == b"1999"
    # No graceful shutdown: nothing was logged about one.
    assert "User requested shutdown..." not in node.log()


def test_restart_keeps_the_cluster_identity(spawn: Any) -> None:
    node = spawn("aikv", ["--cluster-enabled", "yes"])
    r = node.client()
    r.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
    wait_until(lambda: r.execute_command("CLUSTER", "INFO").startswith(b"cluster_state:ok"),
               10, what="cluster_state ok")
    my_id = r.execute_command("CLUSTER", "MYID")
    epoch = r.execute_command("CLUSTER", "INFO")
    r.set("{a}k", "v")
    _restart_and_wait(node, "DEBUG", "RESTART", "50")
    r = node.client()
    assert r.execute_command("CLUSTER", "MYID") == my_id
    assert b"cluster_slots_assigned:16384" in r.execute_command("CLUSTER", "INFO")
    # A restarted master waits a moment before it serves again, as Redis's does.
    wait_until(lambda: r.execute_command("CLUSTER", "INFO").startswith(b"cluster_state:ok"),
               10, what="cluster_state ok after the restart")
    assert r.get("{a}k") == b"v"
    assert epoch.split(b"cluster_current_epoch:")[1][:1] == \
        r.execute_command("CLUSTER", "INFO").split(b"cluster_current_epoch:")[1][:1]


def test_bad_delays_are_refused_as_redis_refuses_them(aikv_module: ServerProcess,
                                                      redis_module: ServerProcess) -> None:
    d = Differ(aikv_module.port, redis_module.port)
    try:
        for sub in ("RESTART", "CRASH-AND-RECOVER", "restart"):
            for delay in ("abc", "1.5", "", "99999999999999999999"):
                d.check("DEBUG", sub, delay)
        assert aikv_module.running and redis_module.running
    finally:
        d.close()
