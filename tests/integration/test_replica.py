"""An AiKv node as the replica of a real redis-server master: full synchronisation, the
command stream, what a replica refuses, and a master that goes away. The datasets are
compared whole with DEBUG DIGEST (Redis's own dataset digest, which AiKv computes
exactly), the replies of the two kinds of replica byte for byte."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import redis

from tests.differ import Differ, RawConnection, parse
from tests.harness import ServerProcess, wait_until
from tests.integration.replication_data import digest, populate

MASTER_ARGS = ["--enable-debug-command", "yes"]


def _synced(replica: redis.Redis, master: redis.Redis) -> bool:
    role = replica.execute_command("ROLE")
    if role[0] != b"slave" or role[3] != b"connected":
        return False
    offset = master.info("replication")["master_repl_offset"]
    return replica.info("replication")["slave_repl_offset"] == offset


def _synced_pair(spawn: Callable[..., ServerProcess]
                 ) -> tuple[ServerProcess, redis.Redis, redis.Redis]:
    """A redis-server master holding `before`, and an AiKv replica synced with it."""
    master_proc = spawn("redis", args=MASTER_ARGS)
    master = master_proc.client()
    master.set("before", "1")
    node = spawn("aikv", args=["--replicaof", "127.0.0.1", str(master_proc.port)])
    replica = node.client()
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the first sync")
    return master_proc, master, replica


def _libraries(r: redis.Redis) -> list[object]:
    return sorted(r.function_list(), key=repr)  # Redis lists them in hash order


def test_full_sync_then_the_command_stream(spawn: Callable[..., ServerProcess]) -> None:
    master_proc = spawn("redis", args=MASTER_ARGS)
    master = master_proc.client()
    populate(master)
    # redis-server's command line form: --replicaof <host> <port>.
    node = spawn("aikv", args=["--replicaof", "127.0.0.1", str(master_proc.port)])
    replica = node.client()
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the replica to sync")
    assert digest(replica) == digest(master) != b"0" * 40
    assert _libraries(replica) == _libraries(master)

    # The stream: what Redis propagates for every kind of write.
    master.incrbyfloat("f", 1.5)
    master.expire("s", 500)
    master.pexpireat("n", 99_999_999_999_999)
    master.spop("strs")
    master.eval("redis.call('set', 'fromlua', 'x'); redis.call('hset', 'h', 'new', 'y')", 0)
    pipe = master.pipeline(transaction=True)
    pipe.incr("counter").lpush("l", "front").zincrby("z", 2.5, "m1").execute()
    master.execute_command("SELECT", 4)  # the stream carries SELECTs
    master.delete("in-db4")
    master.execute_command("SELECT", 0)
    master.xack("st", "g", "1-1")
    master.xreadgroup("g", "c1", {"st": ">"})
    master.setrange("big", 10, "zz")
    master.getdel("ttl")
    master.function_load("#!lua name=lib2\nredis.register_function('f2', function() return 2 end)")
    master.set("short", "v", px=1)  # expires on the master, which then sends a DEL
    assert master.execute_command("WAIT", 1, 5000) == 1  # our ACK answers GETACK
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the replica to catch up")
    wait_until(lambda: digest(replica) == digest(master), 10, 0.05, "equal datasets")
    assert _libraries(replica) == _libraries(master)
    info = master.info("replication")
    assert info["connected_slaves"] == 1
    assert info["slave0"]["state"] == "online" and info["slave0"]["port"] == node.port


def test_replica_replies_as_a_redis_replica(spawn: Callable[..., ServerProcess]) -> None:
    master_proc = spawn("redis", args=MASTER_ARGS)
    master = master_proc.client()
    master.set("k", "v")
    mine = spawn("aikv", args=["--replicaof", "127.0.0.1", str(master_proc.port)])
    theirs = spawn("redis", args=["--replicaof", "127.0.0.1", str(master_proc.port)])
    for node in (mine, theirs):
        wait_until(lambda node=node: _synced(node.client(), master), 30, 0.05, "sync")
    d = Differ(mine.port, theirs.port)
    write_script = "#!lua\nreturn redis.call('set', 'k', 'x')"
    try:
        assert d.mismatches([
            ("get", "k"), ("set", "k", "x"), ("del", "k"), ("incr", "n"),
            ("eval", "return redis.call('set', 'k', 'x')", "0"),
            ("eval", "return redis.pcall('set', 'k', 'x')", "0"),
            ("eval", "return redis.call('get', 'k')", "0"),
            ("eval", write_script, "0"), ("eval_ro", write_script, "0"),
            ("eval", "#!lua flags=no-writes\nreturn redis.call('get', 'k')", "0"),
            ("multi",), ("set", "k", "y"), ("exec",),
            ("multi",), ("get", "k"), ("exec",),
            # A script's flags make it a write when queued, as when run.
            ("multi",), ("eval", write_script, "0"), ("exec",),
            ("multi",), ("eval", "#!lua flags=no-writes\nreturn redis.call('get', 'k')", "0"),
            ("exec",),
            ("multi",), ("eval", "return redis.call('set', 'k', 'x')", "0"), ("exec",),
            ("replicaof", "127.0.0.1", str(master_proc.port)),
            ("failover",), ("failover", "abort"),
            ("config", "get", "replicaof"),
            ("config", "set", "replica-read-only", "no"),
            ("set", "local", "1"), ("get", "local"),
            ("config", "set", "replica-read-only", "yes"),
            ("set", "local", "2"),
        ]) == []
        role_mine, role_theirs = (parse(raw) for raw in d.both("role"))
        assert role_mine[:4] == role_theirs[:4]
        fields = ("role", "master_host", "master_port", "master_link_status",
                  "master_sync_in_progress", "slave_priority", "slave_read_only",
                  "replica_announced", "connected_slaves")
        infos = [node.client().info("replication") for node in (mine, theirs)]
        assert [info[f] for f in fields for info in infos[:1]] == \
            [info[f] for f in fields for info in infos[1:]]
        # REPLICAOF NO ONE: a master again, with the data it had.
        assert d.mismatches([("replicaof", "no", "one"), ("role",), ("get", "k"),
                             ("set", "k", "mine"), ("get", "k")]) == []
    finally:
        d.close()


def test_a_lost_master_is_followed_again(spawn: Callable[..., ServerProcess]) -> None:
    master_proc, master, replica = _synced_pair(spawn)
    master_proc.stop()
    wait_until(lambda: replica.info("replication")["master_link_status"] == "down", 30,
               0.05, "the link to be seen down")
    assert replica.get("before") == b"1"  # the data stays while the master is away
    assert replica.execute_command("ROLE")[3] in (b"connect", b"connecting")
    # The master comes back with the file it wrote for the first sync (dump.rdb), and
    # changes; the replica resyncs to exactly what it holds.
    master_proc.start()
    master = master_proc.client()
    assert master.get("before") == b"1"
    master.delete("before")
    master.set("after", "2")
    wait_until(lambda: _synced(replica, master) and replica.get("after") == b"2", 30, 0.05,
               "the resync")
    assert replica.get("before") is None
    assert digest(replica) == digest(master)


def test_replica_keeps_expired_keys_for_the_master(spawn: Callable[..., ServerProcess]) -> None:
    """A replica does not delete keys itself: it hides a key past its deadline from
    reads and waits for the master's DEL, as a Redis replica does."""
    master_proc = spawn("redis", args=MASTER_ARGS + ["--hz", "1"])
    master = master_proc.client()
    master.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")  # the master keeps it too
    node = spawn("aikv", args=["--replicaof", "127.0.0.1", str(master_proc.port)])
    replica = node.client()
    wait_until(lambda: _synced(replica, master), 30, 0.05, "sync")
    master.set("soon", "v", px=200)
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the SET to arrive")
    wait_until(lambda: replica.get("soon") is None, 10, 0.05, "the deadline to pass")
    assert replica.dbsize() == master.dbsize() == 1  # still held, as on the master
    assert master.get("soon") is None  # the master's read expires it and sends a DEL
    wait_until(lambda: _synced(replica, master) and replica.dbsize() == 0, 30, 0.05,
               "the DEL to arrive")


def test_a_cut_link_resumes_with_a_partial_resync(spawn: Callable[..., ServerProcess]) -> None:
    """The master drops the link (CLIENT KILL TYPE replica): the replica comes back with
    PSYNC <replid> <offset+1> and gets only what it missed (+CONTINUE), as the master's
    sync_partial_ok counts."""
    master_proc, master, replica = _synced_pair(spawn)
    master.execute_command("SELECT", 2)  # the stream's database stays selected across it
    master.set("in-db2", "x")
    master.execute_command("SELECT", 0)
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the stream")
    for round_ in range(3):
        assert master.execute_command("CLIENT", "KILL", "TYPE", "replica") == 1
        master.set(f"while-away-{round_}", round_)
        master.incr("counter")
        wait_until(lambda: _synced(replica, master), 30, 0.05, "the link to come back")
    stats = master.info("stats")
    assert (stats["sync_full"], stats["sync_partial_ok"], stats["sync_partial_err"]) == (1, 3, 0)
    assert digest(replica) == digest(master)
    assert replica.get("counter") == b"3"


def _master_line(r: redis.Redis) -> dict[str, str]:
    text = r.execute_command("CLIENT", "LIST", "TYPE", "master").decode()
    lines = [line for line in text.split("\n") if line]
    assert len(lines) == 1, text
    return dict(field.split("=", 1) for field in lines[0].split())


def test_the_master_link_is_a_client_and_can_be_killed(
        spawn: Callable[..., ServerProcess]) -> None:
    """As on a redis-server replica (the same master serves both): the link shows in
    CLIENT LIST with flag M, the master's address and no ACL user; CLIENT KILL by
    address or TYPE MASTER ends it and it comes back with a partial resync (Redis's
    cluster tests cut links this way)."""
    master_proc, master, replica = _synced_pair(spawn)
    theirs = spawn("redis", args=["--replicaof", "127.0.0.1", str(master_proc.port)]).client()
    wait_until(lambda: _synced(theirs, master), 30, 0.05, "the redis-server replica")
    master.set("k", "v")  # the link's last command
    wait_until(lambda: _synced(replica, master) and _synced(theirs, master), 30, 0.05,
               "the stream")
    mine_line, their_line = _master_line(replica), _master_line(theirs)
    for field in ("addr", "flags", "user", "db", "sub", "multi", "cmd", "resp"):
        assert mine_line[field] == their_line[field], field
    assert mine_line["flags"] == "M" and mine_line["addr"] == f"127.0.0.1:{master_proc.port}"
    for kill in (("CLIENT", "KILL", f"127.0.0.1:{master_proc.port}"),
                 ("CLIENT", "KILL", "TYPE", "master")):
        assert replica.execute_command(*kill) in (b"OK", 1)
        wait_until(lambda: not _synced(replica, master) or
                   master.info("stats")["sync_partial_ok"] > 0, 5, 0.01, "the cut")
        master.incr("counter")
        wait_until(lambda: _synced(replica, master), 30, 0.05, "the link to come back")
    assert master.info("stats")["sync_partial_ok"] == 2
    assert replica.get("counter") == b"2"
    assert replica.execute_command("CLIENT", "KILL", "TYPE", "master", "SKIPME", "yes") == 1


def test_a_killed_link_is_down_from_the_kill(spawn: Callable[..., ServerProcess]) -> None:
    """The link counts as down from the CLIENT KILL, not from when the node next looks
    at it: a DEBUG SLEEP in the same transaction ages the data (Redis's cluster test
    06-slave-stop-cond relies on it to keep a stale replica from failing over)."""
    master_proc = spawn("redis", args=MASTER_ARGS)
    master = master_proc.client()
    node = spawn("aikv", args=["--replicaof", "127.0.0.1", str(master_proc.port),
                               "--enable-debug-command", "yes"])
    replica = node.client()
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the first sync")
    pipe = replica.pipeline(transaction=True)
    pipe.execute_command("CLIENT", "KILL", "TYPE", "master")
    pipe.execute_command("DEBUG", "SLEEP", "1.2")
    pipe.execute_command("INFO", "replication")
    info = pipe.execute()[2]
    assert info["master_link_status"] == "down"
    assert info["master_link_down_since_seconds"] >= 1


def test_stale_data_refused_while_the_master_is_away(spawn: Callable[..., ServerProcess]) -> None:
    """replica-serve-stale-data no: with the link down, only commands flagged "stale"
    run; replies compared with a Redis replica in the same state."""
    master_proc = spawn("redis", args=MASTER_ARGS)
    master = master_proc.client()
    master.set("k", "v")
    args = ["--replicaof", "127.0.0.1", str(master_proc.port),
            "--replica-serve-stale-data", "no"]
    mine, theirs = spawn("aikv", args=args), spawn("redis", args=args)
    for node in (mine, theirs):
        wait_until(lambda node=node: _synced(node.client(), master), 30, 0.05, "sync")
    d = Differ(mine.port, theirs.port)
    try:
        assert d.mismatches([("get", "k"), ("ping",)]) == []
        master_proc.stop()
        for node in (mine, theirs):
            wait_until(lambda node=node: node.client().info("replication")[
                "master_link_status"] == "down", 30, 0.05, "the link to drop")
        commands = [("get", "k"), ("ping",), ("dbsize",), ("set", "k", "x"),
                    ("eval", "#!lua flags=allow-stale,no-writes\nreturn redis.call('get', 'k')",
                     "0"),
                    ("eval", "#!lua flags=allow-stale,no-writes\n"
                     "return redis.call('echo', 'hi')", "0"),
                    ("config", "get", "replica-serve-stale-data"), ("echo", "hi"),
                    ("multi",), ("get", "k"), ("exec",),
                    ("multi",), ("ping",), ("exec",),
                    ("config", "set", "replica-serve-stale-data", "yes"), ("get", "k")]
        assert d.mismatches(commands[:1]) == []
        assert d.a.call("get", "k").startswith(b"-MASTERDOWN Link with MASTER is down")
        d.r.call("get", "k")
        assert d.mismatches(commands[1:]) == []
        assert d.a.call("get", "k") == b"$1\r\nv\r\n"  # served again
    finally:
        d.close()


def test_masterauth_and_announced_address(spawn: Callable[..., ServerProcess]) -> None:
    master_proc = spawn("redis", args=MASTER_ARGS + ["--requirepass", "s3cret"])
    master = master_proc.client(password="s3cret")
    master.set("k", "v")
    wrong = spawn("aikv", args=["--replicaof", "127.0.0.1", str(master_proc.port),
                                "--masterauth", "nope"])
    right = spawn("aikv", args=["--replicaof", "127.0.0.1", str(master_proc.port),
                                "--masterauth", "s3cret", "--replica-announce-ip", "10.9.8.7",
                                "--replica-announce-port", "4242"])
    wait_until(lambda: _synced(right.client(), master), 30, 0.05, "the sync with AUTH")
    assert right.client().get("k") == b"v"
    assert master.info("replication")["slave0"]["ip"] == "10.9.8.7"
    assert master.info("replication")["slave0"]["port"] == 4242
    # The wrong password never gets a sync: its link stays down, its data empty.
    assert wrong.client().info("replication")["master_link_status"] == "down"
    assert wrong.client().dbsize() == 0
    assert master.info("replication")["connected_slaves"] == 1
    assert "Unable to AUTH to MASTER" in wrong.log()  # Redis's words (auth.tcl looks for them)


def test_restarted_replica_resumes_with_a_partial_resync(
        spawn: Callable[..., ServerProcess]) -> None:
    """The replica's position is stored with its data: restarted from its directory
    (after a clean stop, then after kill -9) it asks to continue, the master's backlog
    still holds what it missed, and it gets a partial resynchronisation."""
    master_proc = spawn("redis", args=MASTER_ARGS)
    master = master_proc.client()
    populate(master)
    node = spawn("aikv", args=["--replicaof", "127.0.0.1", str(master_proc.port)])
    wait_until(lambda: _synced(node.client(), master), 30, 0.05, "the first sync")
    master.execute_command("SELECT", 4)  # the stream's database is part of the position
    master.set("in-db4-later", "x")
    master.execute_command("SELECT", 0)
    wait_until(lambda: _synced(node.client(), master), 30, 0.05, "the stream")
    for round_, stop in enumerate((node.stop, node.kill9)):
        stop()
        master.rpush("while-down", *range(round_ * 10, round_ * 10 + 10))
        master.execute_command("SELECT", 4)
        master.incr("db4-counter")
        master.execute_command("SELECT", 0)
        node.start()
        replica = node.client()
        wait_until(lambda r=replica: _synced(r, master), 30, 0.05, "the restarted replica")
        assert digest(replica) == digest(master)
        stats = master.info("stats")
        assert (stats["sync_full"], stats["sync_partial_ok"]) == (1, round_ + 1)
    # REPLICAOF NO ONE forgets the position: a later REPLICAOF is a full sync
    node.client().execute_command("REPLICAOF", "NO", "ONE")
    node.client().execute_command("REPLICAOF", "127.0.0.1", master_proc.port)
    wait_until(lambda: _synced(node.client(), master), 30, 0.05, "the sync after NO ONE")
    assert master.info("stats")["sync_full"] == 2


def _loading_view(replica_proc: ServerProcess, master: redis.Redis) -> list[object]:
    """What a client sees of a replica while it loads a full synchronisation slowed by
    key-load-delay (20 ms a key), and once it has loaded."""
    replica = replica_proc.client()
    replica.config_set("key-load-delay", 20000)
    replica.config_set("loading-process-events-interval-bytes", 1024)
    replica.execute_command("replicaof", "127.0.0.1", master.connection_pool
                            .connection_kwargs["port"])
    wait_until(lambda: replica.info("persistence")["loading"] == 1, 30, 0.01,
               "the replica to be loading")
    conn = RawConnection(replica_proc.port)
    seen: list[object] = []
    try:
        for args in (("ping",), ("get", "k1"), ("dbsize",), ("echo", "x")):
            seen.append(conn.call(*args))
        info = parse(conn.call("info", "persistence")).decode()
        names = [line.split(":")[0] for line in info.splitlines() if line.startswith("loading")]
        seen.append(names)
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        assert 0 < int(fields["loading_total_bytes"])
        assert 0 <= float(fields["loading_loaded_perc"]) <= 100
        replica.config_set("key-load-delay", 0)
        wait_until(lambda: _synced(replica, master), 60, 0.05, "the load to finish")
        seen.append(replica.info("persistence")["loading"])
        seen.append(conn.call("dbsize"))
    finally:
        conn.close()
        replica.close()
    return seen


def test_a_loading_replica_answers_loading_as_redis(spawn: Callable[..., ServerProcess]) -> None:
    master_proc = spawn("redis", args=MASTER_ARGS)
    master = master_proc.client()
    master.execute_command("debug", "populate", "200", "key", "1000")
    mine = _loading_view(spawn("aikv"), master)
    theirs = _loading_view(spawn("redis"), master)
    assert mine == theirs
    assert mine[0] == b"-LOADING Redis is loading the dataset in memory\r\n"
    assert mine[-1] == b":200\r\n"


def _paused_replica_view(replica_proc: ServerProcess, master: redis.Redis) -> list[object]:
    """Redis's pause.tcl "Test when replica paused, offset would not grow": under CLIENT
    PAUSE WRITE a replica reads its master's stream but applies none of its writes
    until the pause lifts."""
    replica = replica_proc.client()
    replica.replicaof("127.0.0.1", master.connection_pool.connection_kwargs["port"])
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the sync")
    # After the sync, so that the stream's SELECT comes with it on both kinds (a master
    # sends one with the first write after a full sync).
    master.set("foo", "bar")
    wait_until(lambda: _synced(replica, master), 10, 0.02, "the first write")
    old_offset = master.info("replication")["master_repl_offset"]
    replica.execute_command("CLIENT", "PAUSE", "100000", "WRITE")
    master.set("foo2", "bar2")
    master.incr("counter")
    wait_until(lambda: replica.info("replication")["slave_read_repl_offset"]
               == master.info("replication")["master_repl_offset"], 10, 0.02,
               "the replica to read the stream")
    held = [replica.info("replication")["slave_repl_offset"] == old_offset,
            replica.get("foo2"), replica.get("counter")]
    replica.execute_command("CLIENT", "UNPAUSE")
    wait_until(lambda: _synced(replica, master), 10, 0.02, "the held writes to apply")
    view = held + [replica.get("foo2"), replica.get("counter")]
    replica.replicaof("no", "one")
    return view


def test_a_paused_replica_reads_but_does_not_apply(spawn: Callable[..., ServerProcess]) -> None:
    views = [_paused_replica_view(spawn(kind), spawn("redis", args=MASTER_ARGS).client())
             for kind in ("aikv", "redis")]
    assert views[0] == views[1] == [True, None, None, b"bar2", b"1"]


def test_a_command_of_many_reads_reaches_the_replica(spawn: Callable[..., ServerProcess]) -> None:
    """A 24 MB SET comes to the replica in hundreds of reads, with small commands before
    and after it in the same reads (pendingquerybuf.tcl's case: the stream kept as read
    and joined once applied)."""
    master_proc, master, replica = _synced_pair(spawn)
    value = bytes(range(256)) * (24 * 4096)
    pipe = master.pipeline(transaction=False)
    pipe.set("small1", "a")
    pipe.set("big", value)
    pipe.set("small2", "b")
    pipe.execute()
    wait_until(lambda: _synced(replica, master), 60, 0.05, "the big SET on the replica")
    assert replica.get("big") == value
    assert replica.mget("small1", "small2") == [b"a", b"b"]
    assert replica.info("replication")["slave_repl_offset"] == \
        master.info("replication")["master_repl_offset"]


def test_bind_source_addr_is_the_links_address(spawn: Callable[[str], ServerProcess]) -> None:
    """networking.tcl "CONFIG SET bind-source-addr": the replica's link to its master
    leaves from that address, which the master then shows for it."""
    master_proc = spawn("redis", args=MASTER_ARGS)
    master = master_proc.client()
    node = spawn("aikv")
    replica = node.client()
    replica.config_set("bind-source-addr", "127.0.0.2")
    replica.replicaof("127.0.0.1", master_proc.port)
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the sync")
    assert master.info("replication")["slave0"]["ip"] == "127.0.0.2"


def _writable_replica_expiry(replica_proc: ServerProcess, master: redis.Redis) -> list[object]:
    """expire.tcl "expired key which is created in writeable replicas should be deleted
    by active expiry": keys a client writes with a deadline on a writable replica are the
    replica's to expire (its master's keys still wait for the master's DEL)."""
    replica = replica_proc.client()
    replica.config_set("replica-read-only", "no")
    replica.replicaof("127.0.0.1", master.connection_pool.connection_kwargs["port"])
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the sync")
    before = replica.info("stats")["expired_keys"]
    replica.set("local", "v", px=300)
    replica.set("kept", "v", ex=100)
    replica.set("plain", "v")
    seen: list[object] = [replica.info("stats")["slave_expires_tracked_keys"]]
    wait_until(lambda: replica.info("stats")["expired_keys"] == before + 1, 10, 0.02,
               "the replica to expire its own key")
    seen += [replica.dbsize(), replica.exists("local"),
             replica.info("stats")["slave_expires_tracked_keys"]]
    replica.replicaof("no", "one")
    return seen


def test_a_writable_replica_expires_its_own_keys(spawn: Callable[..., ServerProcess]) -> None:
    views = [_writable_replica_expiry(spawn(kind), spawn("redis", args=MASTER_ARGS).client())
             for kind in ("aikv", "redis")]
    assert views[0] == views[1] == [2, 2, 0, 1]


def _expired_key_view(replica_proc: ServerProcess, master_proc: ServerProcess) -> list[object]:
    """replication-4.tcl "Replication of an expired key does not delete the expired key":
    a master's command reaching the replica after the key's deadline acts on the key as
    it stands (its deadline kept: it stays logically expired there) until the master's
    DEL, as Redis's replica lets its master's commands see such keys."""
    master = master_proc.client()
    replica = replica_proc.client()
    replica.replicaof("127.0.0.1", master_proc.port)
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the sync")
    master.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    master.set("k", 1, px=1500)
    master.lpush("l", "a")
    master.pexpire("l", 1500)
    wait_until(lambda: _synced(replica, master), 10, 0.02, "the keys on the replica")
    deadline_ms = max(master.pexpiretime("k"), master.pexpiretime("l"))
    assert replica_proc.proc is not None
    os.kill(replica_proc.proc.pid, signal.SIGSTOP)
    try:
        master.incr("k")  # before the deadline on the master: k is 2, deadline kept
        master.rpush("l", "b")
        # (Not asked of the master: a lookup there would delete the keys, and send DEL.)
        wait_until(lambda: time.time() * 1000 > deadline_ms + 20, 10, 0.02,
                   "the deadline to pass")
    finally:
        os.kill(replica_proc.proc.pid, signal.SIGCONT)
    wait_until(lambda: _synced(replica, master), 10, 0.02, "the writes on the replica")
    seen: list[object] = [replica.exists("k", "l"), replica.dbsize()]
    # The key is still stored (DEBUG OBJECT looks it up without the deadline check).
    seen.append(replica.execute_command("DEBUG", "OBJECT", "k").split()[:1])
    replica.replicaof("no", "one")
    return seen


def test_master_commands_see_keys_past_their_deadline(spawn: Callable[..., ServerProcess]) -> None:
    views = [_expired_key_view(spawn(kind, args=MASTER_ARGS if kind == "redis" else []),
                               spawn("redis", args=MASTER_ARGS))
             for kind in ("aikv", "redis")]
    assert views[0] == views[1] == [0, 2, [b"Value"]]


def _divergence_view(replica_proc: ServerProcess, master_proc: ServerProcess) -> list[object]:
    """replication-4.tcl "Data divergence is allowed on writable replicas": a master's
    command that fails on the replica is logged as Redis logs it and counted."""
    master = master_proc.client()
    replica = replica_proc.client()
    replica.config_set("replica-read-only", "no")
    replica.replicaof("127.0.0.1", master_proc.port)
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the sync")
    replica.set("number2", "foo")
    master.incrby("number2", 1)
    wait_until(lambda: _synced(replica, master), 10, 0.02, "the INCRBY on the replica")
    log = replica_proc.log()
    seen: list[object] = [master.get("number2"), replica.get("number2"),
                          replica.info("stats")["unexpected_error_replies"],
                          log.count("incrby"),
                          "== CRITICAL == This replica is sending an error to its master: "
                          "'value is not an integer or out of range' after processing "
                          "the command 'incrby'" in log]
    replica.replicaof("no", "one")
    return seen


def test_a_failed_master_command_is_logged_as_critical(
        spawn: Callable[..., ServerProcess]) -> None:
    views = [_divergence_view(spawn(kind), spawn("redis", args=MASTER_ARGS))
             for kind in ("aikv", "redis")]
    assert views[0] == views[1] == [b"1", b"foo", 1, 1, True]


def test_a_killed_link_ends_at_once_for_the_master(spawn: Callable[..., ServerProcess]) -> None:
    """CLIENT KILL of the master link inside MULTI, followed by DEBUG SLEEP: the master
    sees the connection end during the sleep, as with a redis-server replica (which
    frees the client at once; replication-psync.tcl's backlog-expiry tests rely on it)."""
    master_proc, master, replica = _synced_pair(spawn)
    done: list[object] = []

    def transaction() -> None:
        pipe = replica.pipeline(transaction=True)
        pipe.execute_command("CLIENT", "KILL", "TYPE", "master")
        pipe.execute_command("DEBUG", "SLEEP", "3")
        done.append(pipe.execute())

    thread = threading.Thread(target=transaction)
    thread.start()
    try:
        wait_until(lambda: master.info("replication")["connected_slaves"] == 0 or done, 10,
                   0.02, "the master to lose its replica")
        assert not done  # still sleeping: the end was seen before the EXEC finished
    finally:
        thread.join(10)


def _replicated_garbage_view(kind: str, spawn: Callable[..., ServerProcess]) -> list[object]:
    """replication-4.tcl "Data divergence can happen under default conditions": DEBUG
    REPLICATE sends a command to the replicas only; the replica's error for it is logged
    with the command's text and counted."""
    master_proc = spawn(kind, args=MASTER_ARGS if kind == "redis" else [])
    replica_proc = spawn(kind, args=MASTER_ARGS if kind == "redis" else [])
    master, replica = master_proc.client(), replica_proc.client()
    replica.replicaof("127.0.0.1", master_proc.port)
    wait_until(lambda: _synced(replica, master), 30, 0.05, "the sync")
    seen: list[object] = [master.execute_command("DEBUG", "REPLICATE", "fake-command-1")]
    master.set("foo", "bar2")
    seen.append(master.execute_command("WAIT", 1, 5000))
    log = replica_proc.log()
    seen += [log.count("fake-command-1"), log.count("== CRITICAL =="),
             "after processing the command '<unknown>'" in log,
             replica.info("stats")["unexpected_error_replies"], replica.get("foo")]
    return seen


def test_debug_replicate_reaches_only_the_replicas(spawn: Callable[..., ServerProcess]) -> None:
    mine, theirs = (_replicated_garbage_view(kind, spawn) for kind in ("aikv", "redis"))
    assert mine == theirs == [b"OK", 1, 1, 1, True, 1, b"bar2"]
