"""SHUTDOWN and SIGTERM wait for lagging replicas, as Redis 7 does (aikv/shutdown.py):
writes are paused, SHUTDOWN's client stays blocked, and the node ends once every
replica acknowledged the stream or shutdown-timeout passed; SHUTDOWN ABORT cancels the
wait, or a signal the cron has not acted on yet (DEBUG PAUSE-CRON). Each scenario runs
against an AiKv master and a redis-server master, with a redis-server replica stopped
(SIGSTOP) to make it lag, and their replies are compared."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis

from tests.differ import RawConnection
from tests.harness import ServerProcess, have_redis_server, wait_until

pytestmark = pytest.mark.skipif(not have_redis_server(), reason="redis-server is not installed")

Spawn = Callable[..., ServerProcess]
DEBUG = ["--enable-debug-command", "yes"]


def _pair(spawn: Spawn, kind: str, *master_args: str) -> tuple[ServerProcess, ServerProcess]:
    """A master of `kind` with one redis-server replica in sync."""
    master = spawn(kind, args=[*(DEBUG if kind == "redis" else []), *master_args])
    replica = spawn("redis", args=["--replicaof", "127.0.0.1", str(master.port)])
    r = master.client()
    r.set("before", "1")
    wait_until(lambda: r.info("replication").get("slave0", {}).get("offset")
               == r.info("replication")["master_repl_offset"], 30, 0.05, "the replica's sync")
    return master, replica


@contextmanager
def _stopped(process: ServerProcess) -> Iterator[None]:
    """The process frozen (SIGSTOP) for the block, so that it acknowledges nothing."""
    assert process.proc is not None
    os.kill(process.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.proc.pid, signal.SIGCONT)


def _exit_code(process: ServerProcess, timeout: float = 20) -> int | None:
    assert process.proc is not None
    return process.proc.wait(timeout=timeout)


def _blocked_write(port: int) -> RawConnection:
    writer = RawConnection(port)
    writer.sock.sendall(b"*3\r\n$3\r\nSET\r\n$5\r\nlater\r\n$1\r\n1\r\n")
    return writer


def _shutdown_waiting(master: ServerProcess, r: redis.Redis) -> RawConnection:
    """A write the frozen replica will not acknowledge, then SHUTDOWN from a connection
    of its own, which stays blocked while the node waits."""
    r.set("last", "1")
    waiting = RawConnection(master.port)
    waiting.sock.sendall(b"SHUTDOWN\r\n")
    wait_until(lambda: "shutdown_in_milliseconds" in r.info("server"), 10, 0.02,
               "the shutdown to start waiting")
    return waiting


def _abort_scenario(spawn: Spawn, kind: str) -> list[object]:
    master, replica = _pair(spawn, kind)
    r = master.client()
    seen: list[object] = []
    with _stopped(replica):
        waiting = _shutdown_waiting(master, r)
        left = r.info("server")["shutdown_in_milliseconds"]
        seen.append(0 < left <= 10_000)
        writer = _blocked_write(master.port)  # held by the shutdown's pause
        wait_until(lambda: any(c.get("cmd") == "set" and "b" in c["flags"]
                               for c in r.client_list()), 10, 0.02, "the write to be held")
        seen.append(r.get("last"))  # reads go on
        seen.append(r.execute_command("SHUTDOWN", "ABORT"))
        seen.append(waiting.read_reply())  # the blocked SHUTDOWN's answer
        seen.append(writer.read_reply())  # the write runs once the pause lifts
        seen.append("shutdown_in_milliseconds" in r.info("server"))
        try:
            r.execute_command("SHUTDOWN", "ABORT")
        except redis.ResponseError as exc:
            seen.append(str(exc))
        waiting.close()
        writer.close()
    seen.append("Shutdown manually aborted" in master.log())
    return seen


def test_shutdown_abort_cancels_the_wait_for_replicas(spawn: Spawn) -> None:
    mine, theirs = (_abort_scenario(spawn, kind) for kind in ("aikv", "redis"))
    assert mine == theirs == [True, b"1", True, b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n",
                              b"+OK\r\n", False, "No shutdown in progress.", True]


def _catch_up_scenario(spawn: Spawn, kind: str) -> list[object]:
    """The node ends once the replica, released, acknowledged the last write: the
    replica has it, and SHUTDOWN's client saw the connection close."""
    master, replica = _pair(spawn, kind)
    r = master.client()
    with _stopped(replica):
        waiting = _shutdown_waiting(master, r)
        r.close()
    code = _exit_code(master)
    try:
        closed = waiting.read_reply() == b""
    except (ConnectionError, OSError):
        closed = True
    waiting.close()
    seen: list[object] = [code, closed, replica.client().get("last")]
    seen.append("1 of 1 replicas are in sync when shutting down" in master.log())
    return seen


def test_shutdown_waits_for_a_lagging_replica(spawn: Spawn) -> None:
    mine, theirs = (_catch_up_scenario(spawn, kind) for kind in ("aikv", "redis"))
    assert mine == theirs == [0, True, b"1", True]


def test_shutdown_timeout_and_now(spawn: Spawn) -> None:
    """With the replica never answering, the node ends at shutdown-timeout and logs the
    lagging replica; SHUTDOWN NOW does not wait at all."""
    master, replica = _pair(spawn, "aikv", "--shutdown-timeout", "1")
    r = master.client()
    with _stopped(replica):
        r.set("last", "1")
        started = time.monotonic()
        r.shutdown()  # (redis-py takes the closed connection for success)
        assert _exit_code(master) == 0
        waited = time.monotonic() - started
    assert 0.9 <= waited < 10
    assert "Lagging replica" in master.log()
    assert "0 of 1 replicas are in sync when shutting down" in master.log()
    master, replica = _pair(spawn, "aikv")
    r = master.client()
    with _stopped(replica):
        r.set("last", "1")
        started = time.monotonic()
        r.shutdown(now=True)
        assert _exit_code(master) == 0
        assert time.monotonic() - started < 5  # not the default 10 s shutdown-timeout


def _signal_abort_scenario(spawn: Spawn, kind: str) -> list[object]:
    """shutdown.tcl "SHUTDOWN ABORT can cancel SIGTERM": with the cron paused the signal
    waits, and SHUTDOWN ABORT drops it."""
    node = spawn(kind, args=DEBUG if kind == "redis" else [])
    r = node.client()
    r.execute_command("DEBUG", "PAUSE-CRON", "1")
    assert node.proc is not None
    os.kill(node.proc.pid, signal.SIGTERM)
    wait_until(lambda: "Received SIGTERM scheduling shutdown" in node.log(), 10, 0.02,
               "the signal")
    seen = [r.execute_command("SHUTDOWN", "ABORT")]
    r.set("gone-soon", "1", px=1)
    r.execute_command("DEBUG", "PAUSE-CRON", "0")
    # The cron ran since (its active expiry removed the key) and did not shut down.
    wait_until(lambda: r.dbsize() == 0, 10, 0.02, "a cron pass")
    seen.append(r.ping())
    seen.append("Shutdown manually aborted" in node.log())
    seen.append(node.running)
    return seen


def test_shutdown_abort_cancels_a_pending_signal(spawn: Spawn) -> None:
    mine, theirs = (_signal_abort_scenario(spawn, kind) for kind in ("aikv", "redis"))
    assert mine == theirs == [True, True, True, True]
