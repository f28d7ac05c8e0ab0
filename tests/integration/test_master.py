"""An AiKv node as the master of replicas: a real redis-server replica and an AiKv replica
follow it (full synchronisation from AiKv's RDB file, then the command stream), and the
datasets are compared whole with DEBUG DIGEST (Redis's own dataset digest, which AiKv
computes exactly). Random command sequences cover what must be sent as its effect
(expiries, random pops, float increments, stream ids and groups, scripts,
transactions), since a replica that ran those commands as they were given would
diverge."""

from __future__ import annotations

import random
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.differ import RawConnection, parse
from tests.harness import ServerProcess, redis_cli, wait_until
from tests.integration.replication_data import digest, populate

DEBUG = ["--enable-debug-command", "yes"]


def _caught_up(master: redis.Redis, *replicas: redis.Redis) -> bool:
    offset = master.info("replication")["master_repl_offset"]
    for replica in replicas:
        info = replica.info("replication")
        if info.get("master_link_status") != "up" or info["slave_repl_offset"] != offset:
            return False
    return True


def _same_data(master: redis.Redis, *replicas: redis.Redis) -> None:
    """The replicas hold the master's dataset. A key that passed its deadline a moment
    ago is gone from the master's digest but still counted by a Redis replica until the
    master's expiry cycle sends its DEL (within a cycle), so the digests are compared
    again until a deadline before they are said to differ."""
    wait_until(lambda: _caught_up(master, *replicas), 30, 0.05, "the replicas to catch up")

    def equal() -> bool:
        want = digest(master)
        return all(digest(replica) == want for replica in replicas) \
            and _caught_up(master, *replicas)

    try:
        wait_until(equal, 5, 0.05, "equal digests")
    except Exception:
        want = digest(master)
        for replica in replicas:
            if digest(replica) != want:
                raise AssertionError(f"datasets differ: {_differences(master, replica)}") \
                    from None
        raise


def _differences(master: redis.Redis, replica: redis.Redis) -> list[tuple[int, bytes]]:
    """(database, key) of the keys whose values differ, for the failure message."""
    out = []
    for db in range(16):
        keys: set[bytes] = set()
        for r in (master, replica):
            r.execute_command("SELECT", db)
            keys.update(r.keys("*"))
        for key in sorted(keys):
            if master.execute_command("DEBUG", "DIGEST-VALUE", key) != \
                    replica.execute_command("DEBUG", "DIGEST-VALUE", key):
                out.append((db, key))
    for r in (master, replica):
        r.execute_command("SELECT", 0)
    return out


def _replicas(spawn: Callable[..., ServerProcess], master: ServerProcess
              ) -> tuple[redis.Redis, redis.Redis]:
    """A redis-server replica and an AiKv replica of `master`."""
    theirs = spawn("redis", args=[*DEBUG, "--replicaof", "127.0.0.1", str(master.port)])
    mine = spawn("aikv", args=["--replicaof", "127.0.0.1", str(master.port)])
    return theirs.client(), mine.client()


def test_full_sync_and_stream_to_redis_and_aikv_replicas(
        spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv")
    master = node.client()
    populate(master)
    theirs, mine = _replicas(spawn, node)
    _same_data(master, theirs, mine)
    assert digest(master) != b"0" * 40
    assert sorted(map(repr, theirs.function_list())) == sorted(map(repr, master.function_list()))

    master.incrbyfloat("f", 1.5)
    master.expire("s", 500)
    master.spop("strs")
    master.eval("redis.call('set', 'fromlua', 'x'); redis.call('hset', 'h', 'new', 'y')", 0)
    pipe = master.pipeline(transaction=True)
    pipe.incr("counter").lpush("l", "front").zincrby("z", 2.5, "m1").execute()
    master.execute_command("SELECT", 4)
    master.delete("in-db4")
    master.execute_command("SELECT", 0)
    master.xadd("st", {"f": "x"})
    master.xreadgroup("g", "c2", {"st": ">"})
    master.set("short", "v", px=1)  # expires here, and the master sends a DEL
    master.function_load("#!lua name=lib2\nredis.register_function('f2', function() return 2 end)")
    assert master.execute_command("WAIT", 2, 5000) == 2
    # Two replica links and this client: the replicas are not counted (shutdown.tcl).
    assert master.info("clients")["connected_clients"] == \
        len(master.client_list()) - 2 == 1
    wait_until(lambda: theirs.execute_command("DEBUG", "DIGEST-VALUE", "short") == [b"0" * 40],
               10, 0.05, "the expired key's DEL")
    _same_data(master, theirs, mine)

    info = master.info("replication")
    assert info["role"] == "master" and info["connected_slaves"] == 2
    assert {info["slave0"]["state"], info["slave1"]["state"]} == {"online"}
    role = master.execute_command("ROLE")
    assert role[0] == b"master" and role[1] == info["master_repl_offset"]
    assert sorted(int(r[1]) for r in role[2]) == sorted(
        [info["slave0"]["port"], info["slave1"]["port"]])
    assert master.info("stats")["sync_full"] == 2


def _random_command(rng: random.Random, now_ms: int, payload: bytes) -> list[str | bytes]:
    k = rng.choice(["k0", "k1", "k2", "k3"])
    m = rng.choice(["a", "b", "c", "1", "2", "3.5"])
    choices: list[Callable[[], list[str | bytes]]] = [
        lambda: ["SET", k, m, rng.choice(["EX", "PX"]), str(rng.randint(50, 5000))],
        lambda: ["SET", k, m, "EXAT", str(now_ms // 1000 + rng.randint(1, 100))],
        lambda: ["SET", k, m],
        lambda: ["SETEX", k, str(rng.randint(1, 100)), m],
        lambda: ["GETEX", k, rng.choice(["EX", "PX", "PERSIST"]), "100"][:4 if rng.random() < .5 else 3],
        lambda: ["EXPIRE", k, str(rng.randint(-1, 100))],
        lambda: ["PEXPIRE", k, str(rng.randint(1, 30)), rng.choice(["NX", "XX", "GT", "LT"])],
        lambda: ["PERSIST", k],
        lambda: ["INCRBYFLOAT", k, rng.choice(["0.1", "1.5", "-3.33", "1e3"])],
        lambda: ["INCR", k],
        lambda: ["APPEND", k, m],
        lambda: ["HINCRBYFLOAT", "h" + k, m, rng.choice(["0.1", "2.25"])],
        lambda: ["HSET", "h" + k, m, m],
        lambda: ["SADD", "s" + k, m, rng.choice(["x", "y", "z"])],
        lambda: ["SPOP", "s" + k, *([str(rng.randint(1, 3))] if rng.random() < .5 else [])],
        lambda: ["RPUSH", "l" + k, m, m],
        lambda: ["LMPOP", "2", "l" + k, "lk9", rng.choice(["LEFT", "RIGHT"])],
        lambda: ["BLPOP", "l" + k, "0.01"],
        lambda: ["LMOVE", "l" + k, "l" + rng.choice(["k0", "k1"]), "LEFT", "RIGHT"],
        lambda: ["ZADD", "z" + k, str(rng.randint(0, 9)), m],
        lambda: ["ZMPOP", "1", "z" + k, "MIN"],
        lambda: ["BZPOPMAX", "z" + k, "0.01"],
        lambda: ["ZINCRBY", "z" + k, "1.5", m],
        lambda: ["XADD", "x" + k, "*", "f", m],
        lambda: ["XADD", "x" + k, "MAXLEN", "~", "3", "*", "f", m],
        lambda: ["XTRIM", "x" + k, "MAXLEN", "2"],
        lambda: ["XGROUP", "CREATE", "x" + k, "g", "0", "MKSTREAM"],
        lambda: ["XREADGROUP", "GROUP", "g", rng.choice(["c1", "c2"]), "COUNT", "2",
                 "STREAMS", "x" + k, ">"],
        lambda: ["XCLAIM", "x" + k, "g", "c3", "0", "0-1", "1-1"],
        lambda: ["XAUTOCLAIM", "x" + k, "g", "c1", "0", "0", "COUNT", "2"],
        lambda: ["DEL", k],
        lambda: ["RENAME", k, rng.choice(["k0", "k1", "k2", "k3"])],
        lambda: ["COPY", k, "copy-" + k, "REPLACE"],
        lambda: ["EVAL", "redis.call('SET', KEYS[1], ARGV[1], 'PX', 900); "
                 "return redis.call('SPOP', 'set-lua')", "1", k, m],
        lambda: ["EVAL", "redis.call('SADD', 'set-lua', ARGV[1], 'q'); "
                 "return redis.call('INCRBYFLOAT', 'fl', '0.5')", "0", m],
        lambda: ["RESTORE", "r" + k, "1000", payload, "REPLACE"],
        lambda: ["PFADD", "hll", m],
        lambda: ["PFCOUNT", "hll"],
    ]
    return rng.choice(choices)()


def _run_transaction(r: redis.Redis, commands: list[list[str | bytes]]) -> None:
    pipe = r.pipeline(transaction=True)
    for argv in commands:
        pipe.execute_command(*argv)
    pipe.execute(raise_on_error=False)


def test_random_commands_leave_equal_datasets(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv")
    master = node.client()
    master.set("seed", "1")
    theirs, mine = _replicas(spawn, node)
    _same_data(master, theirs, mine)
    payload = master.dump("seed")
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        for _ in range(300):
            now_ms = int(master.execute_command("TIME")[0]) * 1000
            if rng.random() < 0.1:
                _run_transaction(master, [_random_command(rng, now_ms, payload) for _ in range(3)])
                continue
            argv = _random_command(rng, now_ms, payload)
            try:
                master.execute_command(*argv)
            except redis.ResponseError:
                pass  # WRONGTYPE and such: nothing is sent
        _same_data(master, theirs, mine)


def _kill_replica_links(master: redis.Redis) -> int:
    return int(master.execute_command("CLIENT", "KILL", "TYPE", "replica"))


def test_partial_resync_after_a_lost_link(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv")
    master = node.client()
    populate(master)
    theirs, mine = _replicas(spawn, node)
    _same_data(master, theirs, mine)
    for round_ in range(3):
        assert _kill_replica_links(master) == 2
        for i in range(50):
            master.rpush("after-kill", f"{round_}-{i}")
        wait_until(lambda: master.info("replication")["connected_slaves"] == 2, 30, 0.05,
                   "the replicas to reconnect")
        _same_data(master, theirs, mine)
    stats = master.info("stats")
    assert stats["sync_full"] == 2
    assert stats["sync_partial_ok"] == 6


def test_backlog_too_short_means_full_resync(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv", args=["--repl-backlog-size", "16384"])
    master = node.client()
    theirs = spawn("redis", args=[*DEBUG, "--replicaof", "127.0.0.1", str(node.port)]).client()
    _same_data(master, theirs)
    # In one transaction: a replica quick enough to reconnect between the two (its cron
    # tries every second; a loaded CI machine once made that gap longer) would have
    # resumed within the backlog before the big write.
    pipe = master.pipeline(transaction=True)
    pipe.execute_command("CLIENT", "KILL", "TYPE", "replica")
    pipe.set("big", "z" * 40000)  # more than the backlog holds
    assert pipe.execute() == [1, True]
    wait_until(lambda: master.info("replication")["connected_slaves"] == 1, 30, 0.05,
               "the replica to reconnect")
    _same_data(master, theirs)
    info = master.info("replication")
    assert info["repl_backlog_histlen"] == 16384
    assert master.info("stats")["sync_full"] == 2


def _reply(r: redis.Redis) -> object:
    try:
        return r.execute_command("WAIT", 5, 0)
    except redis.ResponseError as exc:
        return str(exc).split()[0]


def test_wait_and_min_replicas(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv")
    master = node.client()
    assert master.execute_command("WAIT", 1, 100) == 0  # no replica yet
    replica_proc = spawn("redis", args=[*DEBUG, "--replicaof", "127.0.0.1", str(node.port)])
    replica = replica_proc.client()
    _same_data(master, replica)
    master.set("a", "1")
    assert master.execute_command("WAIT", 1, 5000) == 1
    assert master.execute_command("WAIT", 2, 200) == 1  # only one replica: times out
    # CLIENT UNBLOCK ends a WAIT as a timeout would (the count so far), or with the error
    # (counted as Redis counts an error served to a blocked client)
    master.config_resetstat()
    for reason, want in (("TIMEOUT", [1]), ("ERROR", ["UNBLOCKED"])):
        waiter = redis.Redis(port=node.port, single_connection_client=True, socket_timeout=10)
        waiter_id = waiter.client_id()
        got: list[object] = []
        thread = threading.Thread(target=lambda w=waiter, g=got: g.append(_reply(w)))
        thread.start()
        wait_until(lambda i=waiter_id: master.execute_command("CLIENT", "LIST", "ID", i)
                   .decode().find("cmd=wait") >= 0, 10, 0.02, "the client in WAIT")
        assert master.execute_command("CLIENT", "UNBLOCK", waiter_id, reason) == 1
        thread.join(10)
        waiter.close()
        assert got == want
    assert master.info("errorstats")["errorstat_UNBLOCKED"]["count"] == 1
    # (Redis 7.0 counts a failed call for CLIENT UNBLOCK ... TIMEOUT too.)
    assert master.info("commandstats")["cmdstat_wait"]["failed_calls"] == 2
    master.config_set("min-replicas-to-write", 1)
    master.config_set("min-replicas-max-lag", 2)
    assert master.set("b", "2")
    replica_proc.stop()
    wait_until(lambda: master.info("replication")["connected_slaves"] == 0, 30, 0.05,
               "the master to notice the replica left")
    try:
        master.set("c", "3")
    except redis.ResponseError as exc:
        assert str(exc) == "NOREPLICAS Not enough good replicas to write."
    else:
        raise AssertionError("a write was accepted without a good replica")


def test_replica_client_is_listed_and_replconf_checks(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv")
    master = node.client()
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(b"REPLCONF listening-port 7777\r\nREPLCONF capa eof capa psync2\r\n"
                     b"REPLCONF bogus 1\r\nREPLCONF ACK\r\n")
        data = b""
        while data.count(b"\r\n") < 4:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        assert data == (b"+OK\r\n+OK\r\n-ERR Unrecognized REPLCONF option: bogus\r\n"
                        b"-ERR syntax error\r\n")
        # REPLCONF alone does not make a replica
        assert master.execute_command("CLIENT", "LIST", "TYPE", "replica") in ("", b"")
        sock.sendall(b"PSYNC ? -1\r\n")
        head = b""
        while b"\r\n" not in head or head.count(b"\r\n") < 2:
            chunk = sock.recv(65536)
            assert chunk
            head += chunk
        assert head.startswith(b"+FULLRESYNC ")
        replid, offset = head.split(b"\r\n", 1)[0].split()[1:]
        assert len(replid) == 40 and int(offset) == 0
        assert b"$" in head and b"REDIS0010" in head
        listed = master.execute_command("CLIENT", "LIST", "TYPE", "replica").decode()
        assert listed.count("\n") == 1 and " flags=S " in listed
        info = master.info("replication")
        assert info["slave0"]["port"] == 7777 and info["slave0"]["state"] == "online"


def test_full_sync_from_a_snapshot_while_writes_go_on(
        spawn: Callable[..., ServerProcess]) -> None:
    """The RDB file is written from a snapshot while the master serves: writes made
    during the synchronisation (seen with the replica still in wait_bgsave) change keys
    the file is being written from, and the replica ends with the master's dataset."""
    node = spawn("aikv")
    master = node.client()
    pipe = master.pipeline(transaction=False)
    for batch in range(100):
        pipe.mset({f"key:{batch}:{i}": f"value-{i}" * 3 for i in range(1000)})
    pipe.execute()
    theirs = spawn("redis", args=[*DEBUG, "--replicaof", "127.0.0.1", str(node.port)]).client()
    writes_during_sync = 0
    round_ = 0
    deadline = time.monotonic() + 60
    while True:
        info = master.info("replication")
        syncing = info.get("slave0", {}).get("state") == "wait_bgsave"
        if not syncing and writes_during_sync:
            break
        round_ += 1
        pipe = master.pipeline(transaction=False)
        for i in range(50):
            pipe.set(f"key:{round_ % 100}:{i}", f"changed-{round_}")
            pipe.delete(f"key:{(round_ + 50) % 100}:{i}")
            pipe.rpush("during", round_)
        pipe.execute()
        if syncing:
            writes_during_sync += 1
        assert time.monotonic() < deadline, "no write was made during the synchronisation"
    assert writes_during_sync >= 1
    _same_data(master, theirs)
    assert master.info("stats")["sync_full"] == 1  # the first file was good


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_rdb_key_save_delay_slows_the_replicas_file(
        spawn: Callable[..., ServerProcess], kind: str) -> None:
    """rdb-key-save-delay (microseconds per key) slows the file of a full synchronisation
    as it slows Redis's fork child: 8 keys at 150 ms take over a second to send, the
    master serving meanwhile. Both kinds, so the knob means the same thing."""
    extra = ["--repl-diskless-sync-delay", "0"] if kind == "redis" else []
    node = spawn(kind, args=[*extra, "--rdb-key-save-delay", "150000"])
    master = node.client()
    master.mset({f"k{i}": i for i in range(8)})
    started = time.monotonic()
    theirs = spawn("redis", args=["--replicaof", "127.0.0.1", str(node.port)]).client()
    # Writes go on during the synchronisation and reach the replica after its file.
    wait_until(lambda: master.info("replication").get("slave0") is not None, 10, 0.02,
               "the replica to ask for a synchronisation")
    master.set("during", "x")
    wait_until(lambda: theirs.info("replication")["master_link_status"] == "up", 20, 0.05,
               "the synchronisation")
    took = time.monotonic() - started
    assert took > 1.0, f"synchronised in {took:.2f} s: the delay was not applied"
    wait_until(lambda: theirs.get("during") == b"x", 10, 0.05, "the write made meanwhile")
    assert theirs.dbsize() == 9


def test_restarted_master_continues_the_stream(spawn: Callable[..., ServerProcess]) -> None:
    """The replication id and offset are stored with the data: after a clean stop and
    after kill -9, the restarted AiKv master takes them up (under a new id, the stored one
    as its secondary id, as a restarted Redis master) and its replica (a redis-server)
    continues with a partial resynchronisation."""
    node = spawn("aikv")
    master = node.client()
    populate(master)
    theirs = spawn("redis", args=[*DEBUG, "--replicaof", "127.0.0.1", str(node.port)]).client()
    _same_data(master, theirs)
    for stop in (node.stop, node.kill9):
        master.rpush("before-restart", "x")
        _same_data(master, theirs)
        before = master.info("replication")
        stop()
        node.start()
        master = node.client()
        info = master.info("replication")
        assert info["master_replid2"] == before["master_replid"] != info["master_replid"]
        # (A clean stop may add the GETACK it sent its replica to the stream.)
        assert info["second_repl_offset"] == info["master_repl_offset"] + 1 \
            > before["master_repl_offset"]
        wait_until(lambda m=master: m.info("replication")["connected_slaves"] == 1, 30, 0.05,
                   "the replica to reconnect")
        master.rpush("after-restart", "y")
        _same_data(master, theirs)
        stats = master.info("stats")
        assert (stats["sync_full"], stats["sync_partial_ok"]) == (0, 1)


def test_backlog_ttl_ends_propagation(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv", args=["--repl-backlog-ttl", "1"])
    master = node.client()
    replica = spawn("redis", args=[*DEBUG, "--replicaof", "127.0.0.1", str(node.port)])
    master.set("streamed", "1")
    _same_data(master, replica.client())
    before = master.info("replication")
    assert before["repl_backlog_active"] == 1
    replica.stop()
    wait_until(lambda: master.info("replication")["repl_backlog_active"] == 0, 30, 0.1,
               "the backlog to be freed")
    # As Redis: the offset stays, under a new replication id; ROLE says the same.
    after = master.info("replication")
    assert after["master_repl_offset"] == before["master_repl_offset"] > 0
    assert after["master_replid"] != before["master_replid"]
    assert master.execute_command("ROLE")[1] == before["master_repl_offset"]
    # The next replica's stream goes on from there (after a full resynchronisation).
    again = spawn("redis", args=[*DEBUG, "--replicaof", "127.0.0.1", str(node.port)])
    _same_data(master, again.client())
    master.set("later", "1")
    _same_data(master, again.client())
    info = master.info("replication")
    assert info["master_repl_offset"] > before["master_repl_offset"]
    assert info["master_replid"] == after["master_replid"]
    again.stop()
    wait_until(lambda: master.info("replication")["repl_backlog_active"] == 0, 30, 0.1,
               "the backlog to be freed again")
    node.stop()
    node.start()  # no position kept: nothing to take up
    info = node.client().info("replication")
    assert (info["repl_backlog_active"], info["master_repl_offset"]) == (0, 0)


def test_wait_counts_what_the_client_has_seen_done(spawn: Callable[..., ServerProcess]) -> None:
    """WAIT waits for the offset after the client's previous command (Redis's woff): a
    connection whose first command is WAIT asks for nothing yet, so a replica that has
    acknowledged nothing counts; once it ran a command after a write, it waits."""
    node = spawn("aikv")
    master = node.client()
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as fake:
        # a replica that takes the file and then never acknowledges anything more
        fake.sendall(b"REPLCONF capa psync2\r\n")
        assert fake.recv(100) == b"+OK\r\n"
        fake.sendall(b"PSYNC ? -1\r\n")
        got = b""
        while b"REDIS0010" not in got:
            chunk = fake.recv(65536)
            assert chunk
            got += chunk
        wait_until(lambda: master.info("replication")["slave0"]["state"] == "online", 10,
                   0.02, "the fake replica online")
        fake.sendall(b"REPLCONF ACK 0\r\n")
        master.set("written", "1")
        with socket.create_connection(("127.0.0.1", node.port), timeout=10) as fresh:
            fresh.sendall(b"WAIT 1 100\r\n")
            assert fresh.recv(100) == b":1\r\n"  # nothing asked for yet
            fresh.sendall(b"PING\r\nWAIT 1 100\r\n")
            reply = b""
            while reply.count(b"\r\n") < 2:
                reply += fresh.recv(100)
            assert reply == b"+PONG\r\n:0\r\n"  # the write is now behind it: not acked


def _lone_wait_view(node: ServerProcess) -> list[object]:
    """WAIT on a master that never had a replica."""
    r = node.client()
    seen: list[object] = [r.execute_command("WAIT", 0, 0)]  # nothing asked: at once
    started = time.monotonic()
    seen.append(r.execute_command("WAIT", 1, 300))  # runs to its timeout
    seen.append(time.monotonic() - started >= 0.29)
    pipe = r.pipeline(transaction=True)
    pipe.execute_command("WAIT", 1, 0)  # in MULTI: no blocking
    seen.append(pipe.execute())
    for reason in ("TIMEOUT", "ERROR"):  # WAIT 1 0 waits until CLIENT UNBLOCK
        waiter = RawConnection(node.port)
        waiter_id = parse(waiter.call("CLIENT", "ID"))
        waiter.sock.sendall(b"WAIT 1 0\r\n")
        wait_until(lambda i=waiter_id: "cmd=wait" in r.execute_command(
            "CLIENT", "LIST", "ID", i).decode(), 10, 0.02, "the client in WAIT")
        seen += [r.execute_command("CLIENT", "UNBLOCK", waiter_id, reason),
                 waiter.read_reply()]
        waiter.close()
    # (Redis 7.0 counts a failed call for each CLIENT UNBLOCK, TIMEOUT included.)
    seen.append(r.info("commandstats")["cmdstat_wait"]["failed_calls"])
    return seen


def test_wait_without_replicas_runs_to_its_timeout(spawn: Callable[..., ServerProcess]) -> None:
    mine, theirs = (_lone_wait_view(spawn(kind)) for kind in ("aikv", "redis"))
    assert mine == theirs == [0, 0, True, [0], 1, b":0\r\n", 1,
                              b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n", 2]


def _replica_link_view(node: ServerProcess) -> list[object]:
    """replication.tcl "replica do not write the reply to the replication link": once a
    connection is a replica (after SYNC / PSYNC), a command that would answer ends it,
    unanswered; keyspace commands are refused first; both logged as Redis logs them."""
    seen: list[object] = []
    for sync, command in (("SYNC", "PING"), ("PSYNC replicationid -1", "GET foo"),
                          ("PSYNC replicationid -1", "SLOWLOG GET")):
        sock = socket.create_connection(("127.0.0.1", node.port), timeout=10)
        sock.sendall(sync.encode() + b"\r\n")
        if sync.startswith("PSYNC"):
            first = b""
            while not first.endswith(b"\r\n"):
                first += sock.recv(1)
            seen.append(first.split()[0])  # +FULLRESYNC <replid> <offset>
        sock.sendall(command.encode() + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):  # the RDB file may come first; then the end
            data += chunk
        seen.append(b"-ERR" not in data and b"+PONG" not in data)
        sock.close()
    assert node.client().ping()
    wait_until(lambda: node.client().info("replication")["connected_slaves"] == 0, 10, 0.05,
               "the replicas to be gone")
    log = node.log()
    seen += [f"Replica generated a reply to command '{name}', disconnecting it: " in log
             for name in ("ping", "get", "slowlog|get")]
    seen.append("== CRITICAL == This master is sending an error to its replica: "
                "'Replica can't interact with the keyspace' after processing the command "
                "'get'" in log)
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        node.client().execute_command("PSYNC", "replicationid", "offset_str")
    seen.append("asks for synchronization but with a wrong offset" in node.log())
    return seen


def test_a_replica_link_answers_nothing_but_the_stream(spawn: Callable[..., ServerProcess]) -> None:
    mine, theirs = (_replica_link_view(spawn(kind)) for kind in ("aikv", "redis"))
    assert mine == theirs == [True, b"+FULLRESYNC", True, b"+FULLRESYNC", True,
                              True, True, True, True, True]


def _rdb_dump_view(node: ServerProcess, tmp: Path) -> list[object]:
    """redis-cli --rdb and --functions-rdb (REPLCONF rdb-only, rdb-filter-only): the
    whole file, or only the function libraries; the connection ends after the file."""
    r = node.client()
    r.function_load("#!lua name=mylib\nredis.register_function('f1', function() return 1 end)")
    r.mset({f"key{i}": f"value{i}" for i in range(50)})
    seen: list[object] = []
    for option in ("--rdb", "--functions-rdb"):
        path = tmp / f"{node.kind}{option}.rdb"
        done = redis_cli("-p", str(node.port), option, str(path))
        assert done.returncode == 0, done.stderr
        checked = subprocess.run(["redis-check-rdb", str(path)], capture_output=True,
                                 text=True, timeout=60).stdout
        seen += [re.search(r"(\d+) keys read", checked).group(1),  # type: ignore[union-attr]
                 "RDB looks OK" in checked]
    wait_until(lambda: r.info("replication")["connected_slaves"] == 0, 10, 0.05,
               "the dump connections to end")
    for args in (("rdb-filter-only", "functions bla"), ("rdb-only", "2")):
        with pytest.raises(redis.ResponseError) as error:
            r.execute_command("REPLCONF", *args)
        seen.append(str(error.value))
    return seen


def test_redis_cli_rdb_and_functions_rdb(spawn: Callable[..., ServerProcess],
                                         tmp_path: Path) -> None:
    mine, theirs = (_rdb_dump_view(spawn(kind), tmp_path) for kind in ("aikv", "redis"))
    assert mine == theirs
    assert mine[:4] == ["50", True, "0", True]
