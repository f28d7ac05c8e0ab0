"""SAVE, BGSAVE, save points and SHUTDOWN SAVE write dump.rdb (dbfilename in dir) as a
Redis user expects: a file a real redis-server 7.0 loads into the same dataset (DEBUG
DIGEST) and redis-check-rdb finds sound; BGSAVE's file holds the dataset as of the
command while clients keep writing; INFO persistence, LASTSAVE and the error replies
follow redis-server's, compared where they are deterministic."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.differ import Differ, RawConnection
from tests.harness import ServerProcess, have_redis_server, wait_until
from tests.integration.replication_data import digest, populate

pytestmark = pytest.mark.skipif(not have_redis_server(), reason="redis-server is not installed")

Spawn = Callable[..., ServerProcess]
REDIS_CHECK_RDB = shutil.which("redis-check-rdb")


def _persistence(r: redis.Redis) -> dict:
    return r.info("persistence")


def _idle(r: redis.Redis) -> bool:
    return _persistence(r)["rdb_bgsave_in_progress"] == 0


def _check_rdb(path: Path) -> None:
    if REDIS_CHECK_RDB is None:
        return
    check = subprocess.run([REDIS_CHECK_RDB, str(path)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "RDB looks OK" in check.stdout


def _load(spawn: Spawn, rdb: Path, tmp_path: Path, name: str) -> ServerProcess:
    """A redis-server started on a copy of `rdb` (it loads it at startup)."""
    directory = tmp_path / name
    directory.mkdir()
    shutil.copy(rdb, directory / "dump.rdb")
    return spawn("redis", directory=directory,
                 args=["--dbfilename", "dump.rdb", "--enable-debug-command", "yes"])


def _error(r: redis.Redis, *args: str) -> str:
    with pytest.raises(redis.ResponseError) as info:
        r.execute_command(*args)
    return str(info.value)


def test_save_file_loads_into_redis(spawn: Spawn, tmp_path: Path) -> None:
    aikv = spawn("aikv")
    r = aikv.client()
    populate(r)
    r.set("soon", "gone", px=600_000)
    r.execute_command("SELECT", 9)
    r.hset("h9", mapping={"a": "1"})
    r.pexpire("h9", 900_000)
    r.execute_command("SELECT", 0)
    before = _persistence(r)
    assert before["rdb_changes_since_last_save"] > 0
    started = int(time.time())
    assert r.execute_command("SAVE") is True
    after = _persistence(r)
    assert after["rdb_changes_since_last_save"] == 0
    assert after["rdb_saves"] == before["rdb_saves"] + 1
    assert after["rdb_last_bgsave_status"] == "ok"
    assert after["rdb_last_save_time"] == int(r.lastsave().timestamp()) >= started
    rdb = aikv.dir / "dump.rdb"
    assert rdb.is_file() and not list(aikv.dir.glob("temp-*.rdb"))
    _check_rdb(rdb)
    theirs = _load(spawn, rdb, tmp_path, "loaded").client()
    assert digest(theirs) == digest(r) != b"0" * 40
    assert theirs.function_dump() == r.function_dump()
    assert theirs.pexpiretime("soon") == r.pexpiretime("soon") > 0
    r.set("after", "1")
    r.set("after", "2")
    assert _persistence(r)["rdb_changes_since_last_save"] == 2


def test_bgsave_is_a_point_in_time_snapshot(spawn: Spawn, tmp_path: Path) -> None:
    """A writer keeps going while BGSAVE runs (rdb-key-save-delay stretches it, as in
    Redis's own tests); the file holds the dataset of the moment BGSAVE ran: its digest
    is the one taken then, with writes paused."""
    aikv = spawn("aikv")
    oracle = spawn("redis", args=["--enable-debug-command", "yes"])
    r, o = aikv.client(), oracle.client()
    populate(r)
    for client in (r, o):
        client.mset({f"c{i}": 0 for i in range(400)})
        client.config_set("rdb-key-save-delay", "2000")  # 2 ms a key: ~1 s in all
    stop = threading.Event()
    done = [0]

    def writer() -> None:
        w = aikv.client()
        while not stop.is_set():
            w.incr(f"c{done[0] % 400}")
            w.set(f"new{done[0]}", "x")
            done[0] += 1
        w.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        wait_until(lambda: done[0] > 20, what="writer running")
        r.execute_command("CLIENT", "PAUSE", 10000, "WRITE")
        at_bgsave = digest(r)
        assert r.bgsave() is True
        r.execute_command("CLIENT", "UNPAUSE")
        assert o.bgsave() is True
        # While it runs: the same errors as redis-server's, INFO says so, writes go on.
        for command in (("BGSAVE",), ("BGSAVE", "SCHEDULE"), ("SAVE",)):
            assert _error(r, *command) == _error(o, *command) == \
                "Background save already in progress"
        info = _persistence(r)
        assert info["rdb_bgsave_in_progress"] == 1
        assert info["rdb_current_bgsave_time_sec"] >= 0
        during = done[0]
        wait_until(lambda: _idle(r), timeout=30, what="BGSAVE done")
        assert done[0] > during + 10  # served meanwhile
    finally:
        stop.set()
        thread.join(10)
    info = _persistence(r)
    assert info["rdb_last_bgsave_status"] == "ok"
    assert info["rdb_last_bgsave_time_sec"] >= 0
    assert info["rdb_current_bgsave_time_sec"] == -1
    # The writes made during the save are still changes since it.
    assert info["rdb_changes_since_last_save"] > 0
    assert "Background saving terminated with success" in aikv.log()
    rdb = aikv.dir / "dump.rdb"
    _check_rdb(rdb)
    theirs = _load(spawn, rdb, tmp_path, "loaded").client()
    assert digest(theirs) == at_bgsave != digest(r)
    wait_until(lambda: _idle(o), timeout=30, what="redis BGSAVE done")


def test_info_and_replies_match_redis(spawn: Spawn) -> None:
    aikv = spawn("aikv")
    oracle = spawn("redis")
    r, o = aikv.client(), oracle.client()
    fields = ("rdb_changes_since_last_save", "rdb_bgsave_in_progress",
              "rdb_last_bgsave_status", "rdb_saves")

    def same() -> dict:
        mine = {k: _persistence(r)[k] for k in fields}
        assert mine == {k: _persistence(o)[k] for k in fields}
        return mine

    for client in (r, o):
        client.set("a", 1)
        client.set("b", 2)
        client.set("a", 3)
    assert same()["rdb_changes_since_last_save"] == 3
    assert r.execute_command("SAVE") is o.execute_command("SAVE") is True
    assert same() == {"rdb_changes_since_last_save": 0, "rdb_bgsave_in_progress": 0,
                      "rdb_last_bgsave_status": "ok", "rdb_saves": 1}
    assert _error(r, "BGSAVE", "NOW") == _error(o, "BGSAVE", "NOW")
    # With save points, FLUSHALL rewrites the file at once and the count restarts.
    for client in (r, o):
        client.config_set("save", "3600 1")
        client.set("c", 1)
        assert client.flushall() is True
    assert same()["rdb_changes_since_last_save"] == 0
    # BGSAVE inside MULTI/EXEC is scheduled, and the cron starts it.
    replies = []
    for server in (aikv, oracle):
        conn = RawConnection(server.port)
        replies.append([conn.call(*command) for command in (("MULTI",), ("BGSAVE",), ("EXEC",))])
        conn.close()
    assert replies[0] == replies[1] == [b"+OK\r\n", b"+QUEUED\r\n",
                                        b"*1\r\n+Background saving scheduled\r\n"]
    for client in (r, o):
        wait_until(lambda c=client: _persistence(c)["rdb_saves"] == 2, timeout=10,
                   what="scheduled BGSAVE")
        wait_until(lambda c=client: _idle(c), timeout=10, what="BGSAVE done")
    assert same()["rdb_saves"] == 2


def test_bit_commands_count_only_real_changes(spawn: Spawn) -> None:
    """SETBIT and BITFIELD add to rdb_changes_since_last_save only what they changed
    (Redis's bitops test "SETBIT/BITFIELD only increase dirty when the value changed"),
    and CONFIG RESETSTAT keeps the count."""
    aikv = spawn("aikv")
    oracle = spawn("redis")
    steps = [
        [("SETBIT", "foo", 0, 0), ("BITFIELD", "foo2", "SET", "i5", 0, 0)],  # created
        [("SETBIT", "foo", 0, 0), ("BITFIELD", "foo2", "SET", "i5", 0, 0)],  # no change
        [("SETBIT", "foo", 0, 1), ("SETBIT", "foo", 0, 1), ("SETBIT", "foo", 0, 0),
         ("BITFIELD", "foo2", "SET", "i5", 0, 1), ("BITFIELD", "foo2", "SET", "i5", 0, 1)],
        [("BITFIELD", "foo3", "INCRBY", "i5", 0, 1)] * 2,
        [("SETBIT", "foo", 90, 0), ("BITFIELD", "foo2", "SET", "i5", 90, 0)],  # grown
        [("BITFIELD", "foo2", "GET", "i5", 0), ("BITFIELD", "foo2", "SET", "u8", 0, 1,
                                                 "SET", "u8", 8, 0, "SET", "u8", 16, 7)],
        [("BITFIELD", "foo3", "OVERFLOW", "FAIL", "INCRBY", "u2", 0, 9)],  # every op failed
    ]
    deltas: dict[str, list[int]] = {}
    for name, client in (("aikv", aikv.client()), ("redis", oracle.client())):
        seen = [_persistence(client)["rdb_changes_since_last_save"]]
        for step in steps:
            for command in step:
                client.execute_command(*command)
            seen.append(_persistence(client)["rdb_changes_since_last_save"])
        client.config_resetstat()
        assert _persistence(client)["rdb_changes_since_last_save"] == seen[-1]
        deltas[name] = [b - a for a, b in zip(seen, seen[1:], strict=False)]
    assert deltas["aikv"] == deltas["redis"]
    assert deltas["aikv"][:5] == [2, 0, 3, 2, 2]


def test_save_point_fires(spawn: Spawn) -> None:
    aikv = spawn("aikv")
    r = aikv.client()
    assert r.config_get("save") == {"save": ""}  # AiKv's default: no save points
    r.config_set("save", "1 1")
    saves = _persistence(r)["rdb_saves"]
    r.set("k", "v")
    wait_until(lambda: _persistence(r)["rdb_saves"] > saves, timeout=10, what="save point")
    wait_until(lambda: _idle(r), timeout=10, what="BGSAVE done")
    info = _persistence(r)
    assert info["rdb_last_bgsave_status"] == "ok"
    assert info["rdb_changes_since_last_save"] == 0
    assert "1 changes in 1 seconds. Saving..." in aikv.log()
    _check_rdb(aikv.dir / "dump.rdb")


def test_failed_save_and_retry_delay(spawn: Spawn) -> None:
    """dump.rdb a non-empty directory: the rename fails, even for root. SAVE answers as
    redis-server does; a BGSAVE sets rdb_last_bgsave_status:err; a save point waits
    CONFIG_BGSAVE_RETRY_DELAY (5 s) before trying again, then succeeds."""
    aikv = spawn("aikv")
    oracle = spawn("redis")
    r, o = aikv.client(), oracle.client()
    for server in (aikv, oracle):  # after the start: redis-server would try to load it
        (server.dir / "dump.rdb" / "x").mkdir(parents=True)
    for client in (r, o):
        client.set("k", "v")
    saved = []
    for server in (aikv, oracle):
        conn = RawConnection(server.port)
        saved.append(conn.call("SAVE"))
        conn.close()
    assert saved[0] == saved[1] == b"-ERR\r\n"
    assert _persistence(r)["rdb_last_bgsave_status"] == "ok"  # SAVE leaves it
    assert r.bgsave() is True
    wait_until(lambda: _persistence(r)["rdb_last_bgsave_status"] == "err", timeout=10,
               what="failed BGSAVE")
    failed_at = time.monotonic()
    log = aikv.log()
    assert "Error moving temp DB file" in log and "Background saving error" in log
    assert not list(aikv.dir.glob("temp-*.rdb"))
    saves = _persistence(r)["rdb_saves"]
    r.config_set("save", "1 1")
    shutil.rmtree(aikv.dir / "dump.rdb")
    wait_until(lambda: _persistence(r)["rdb_last_bgsave_status"] == "ok", timeout=15,
               what="retried save")
    assert time.monotonic() - failed_at > 4  # not before the retry delay
    wait_until(lambda: _idle(r), timeout=10, what="BGSAVE done")
    assert _persistence(r)["rdb_saves"] == saves + 1
    _check_rdb(aikv.dir / "dump.rdb")


def _exited(server: ServerProcess) -> int:
    assert server.proc is not None
    return server.proc.wait(timeout=20)


def test_shutdown_save_nosave_and_sigterm(spawn: Spawn, tmp_path: Path) -> None:
    # SHUTDOWN SAVE without save points: the file is written before the exit.
    first = spawn("aikv")
    r = first.client()
    populate(r)
    expected = digest(r)
    r.shutdown(save=True)  # redis-py takes the closed connection as success
    assert _exited(first) == 0
    assert "Saving the final RDB snapshot before exiting." in first.log()
    rdb = first.dir / "dump.rdb"
    _check_rdb(rdb)
    assert digest(_load(spawn, rdb, tmp_path, "loaded").client()) == expected

    # With save points: NOSAVE writes nothing, a plain SIGTERM saves.
    second = spawn("aikv", args=["--save", "3600 1"])
    second.client().set("k", "v")
    second.client().shutdown(nosave=True)
    assert _exited(second) == 0
    assert not (second.dir / "dump.rdb").exists()
    third = spawn("aikv", args=["--save", "3600 1"])
    third.client().set("k", "v")
    assert third.stop() == 0
    _check_rdb(third.dir / "dump.rdb")


def test_stop_writes_on_bgsave_error(spawn: Spawn) -> None:
    """With save points set, a failed BGSAVE makes writes, EXEC of writes and PING answer
    MISCONF (reads go on) until stop-writes-on-bgsave-error is turned off, the save
    points are removed, or a save succeeds: the same replies as redis-server's."""
    nodes = [spawn("aikv"), spawn("redis")]
    differ = Differ(nodes[0].port, nodes[1].port)
    both = differ.check
    try:

        both("SET", "k", "v")
        both("CONFIG", "SET", "save", "3600 1")
        for node in nodes:  # the rename over a non-empty directory fails, even for root
            (node.dir / "dump.rdb" / "x").mkdir(parents=True)
        assert both("BGSAVE") == b"+Background saving started\r\n"
        for node in nodes:
            wait_until(lambda node=node: _persistence(node.client())["rdb_last_bgsave_status"]
                       == "err", timeout=15, what=f"{node.kind}'s failed BGSAVE")
        misconf = both("SET", "k", "w")
        assert misconf.startswith(b"-MISCONF Redis is configured to save RDB snapshots")
        assert both("PING") == misconf
        assert both("GET", "k") == b"$1\r\nv\r\n"
        assert both("MULTI") == b"+OK\r\n"
        assert both("INCR", "n") == misconf
        assert both("EXEC").startswith(b"-EXECABORT")
        both("CONFIG", "SET", "stop-writes-on-bgsave-error", "no")
        assert both("SET", "k", "w") == b"+OK\r\n"
        both("CONFIG", "SET", "stop-writes-on-bgsave-error", "yes")
        assert both("SET", "k", "x") == misconf
        both("CONFIG", "SET", "save", "")
        assert both("PING") == b"+PONG\r\n"
        both("CONFIG", "SET", "save", "3600 1")
        assert both("SET", "k", "x") == misconf
        for node in nodes:
            shutil.rmtree(node.dir / "dump.rdb")
        assert both("BGSAVE") == b"+Background saving started\r\n"
        for node in nodes:
            wait_until(lambda node=node: _persistence(node.client())["rdb_last_bgsave_status"]
                       == "ok", timeout=15, what=f"{node.kind}'s good BGSAVE")
        assert both("SET", "k", "y") == b"+OK\r\n"
        assert both("PING") == b"+PONG\r\n"
    finally:
        differ.close()
