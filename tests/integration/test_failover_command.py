"""FAILOVER, the coordinated hand-over of a master's role to one of its replicas, on
either side: AiKv as the master that hands over (to a redis-server or an AiKv replica)
and AiKv as the replica that takes over (from a redis-server or an AiKv master). After
it the roles are swapped, the datasets equal (DEBUG DIGEST), the old master follows the
new one from where it stood (a partial resynchronisation), and the writes held during
the hand-over are refused with READONLY. TIMEOUT, FORCE, TO and ABORT, and the replies
to what a failing-over master refuses, are compared with an all-Redis pair's."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import redis

from tests.differ import Differ, RawConnection, parse
from tests.harness import ServerProcess, free_port, wait_until
from tests.integration.replication_data import digest, populate

DEBUG = ["--enable-debug-command", "yes"]
# A redis-server master sends its first RDB file at once rather than after 5 seconds.
REDIS_MASTER = [*DEBUG, "--repl-diskless-sync-delay", "0"]


def _role(r: redis.Redis) -> str:
    return str(r.execute_command("ROLE")[0].decode())


def _caught_up(master: redis.Redis, replica: redis.Redis) -> bool:
    info = replica.info("replication")
    return (info["role"] == "slave" and info.get("master_link_status") == "up"
            and info["slave_repl_offset"] == master.info("replication")["master_repl_offset"])


def _same_data(master: redis.Redis, replica: redis.Redis) -> None:
    wait_until(lambda: _caught_up(master, replica), 30, 0.05, "the replica to catch up")
    wait_until(lambda: digest(replica) == digest(master), 10, 0.05, "equal digests")


def _pair(spawn: Callable[..., ServerProcess], master_kind: str, replica_kind: str
          ) -> tuple[ServerProcess, ServerProcess]:
    """A master holding the shared dataset and a replica synced with it."""
    master = spawn(master_kind, args=REDIS_MASTER if master_kind == "redis" else [])
    populate(master.client())
    replica = spawn(replica_kind, args=[*(DEBUG if replica_kind == "redis" else []),
                                        "--replicaof", "127.0.0.1", str(master.port)])
    _same_data(master.client(), replica.client())
    return master, replica


def _held_write(port: int) -> tuple[threading.Thread, list[object]]:
    """A SET sent on its own connection (while writes are paused it waits); its reply, or
    the error's text, lands in the list."""
    got: list[object] = []

    def run() -> None:
        r = redis.Redis(port=port, socket_timeout=30)
        try:
            got.append(r.set("during-failover", "x"))
        except redis.ResponseError as exc:
            got.append(str(exc))
        finally:
            r.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, got


def _swapped(old: ServerProcess, new: ServerProcess) -> None:
    """The failover is over: `new` is the master, `old` follows it, data and stream."""
    old_r, new_r = old.client(), new.client()
    wait_until(lambda: _role(new_r) == "master" and _caught_up(new_r, old_r), 30, 0.05,
               "the roles to be swapped")
    for r in (old_r, new_r):
        assert r.info("replication")["master_failover_state"] == "no-failover"
    info = old_r.info("replication")
    assert (info["master_host"], info["master_port"]) == ("127.0.0.1", new.port)
    assert new_r.info("replication")["connected_slaves"] == 1
    role = new_r.execute_command("ROLE")
    assert [(r[0], int(r[1])) for r in role[2]] == [(b"127.0.0.1", old.port)]
    _same_data(new_r, old_r)
    # Writes go to the new master, and reach the old one.
    new_r.set("after-failover", "y")
    new_r.rpush("l", "tail")
    _same_data(new_r, old_r)
    assert old_r.get("after-failover") == b"y"


def _hand_over(old: ServerProcess, new: ServerProcess, *args: str) -> None:
    """FAILOVER [args] TIMEOUT 10000 on `old`, whose replica `new` is caught up. (With a
    timeout the master sends no PING while paused: its final offset is known.)"""
    old_r, new_r = old.client(), new.client()
    old_replid = old_r.info("replication")["master_replid"]
    offset = old_r.info("replication")["master_repl_offset"]
    assert old_r.execute_command("FAILOVER", *args, "TIMEOUT", "10000") == b"OK"
    thread, got = _held_write(old.port)
    _swapped(old, new)
    thread.join(30)
    # Held by the failover's pause, then refused: the node is a replica now.
    assert got == ["You can't write against a read only replica."]
    # The new master continued the old one's stream: the old id is its second one,
    # valid up to where the old master stood, which needed no full synchronisation.
    info = new_r.info("replication")
    assert info["master_replid2"] == old_replid
    assert info["second_repl_offset"] == offset + 1
    stats = new_r.info("stats")
    assert (stats["sync_full"], stats["sync_partial_ok"]) == (0, 1)


def test_aikv_master_hands_over_to_a_redis_replica(spawn: Callable[..., ServerProcess]
                                                   ) -> None:
    old, new = _pair(spawn, "aikv", "redis")
    _hand_over(old, new)
    assert "Failover target 127.0.0.1:%d is synced" % new.port in old.log()


def test_aikv_master_hands_over_to_an_aikv_replica(spawn: Callable[..., ServerProcess]
                                                   ) -> None:
    old, new = _pair(spawn, "aikv", "aikv")
    _hand_over(old, new, "TO", "127.0.0.1", str(new.port))
    assert "MASTER MODE enabled (failover request from" in new.log()
    # And back again: the new master hands over to the old one the same way.
    new.client().set("second-round", "z")
    _same_data(new.client(), old.client())
    assert new.client().execute_command("FAILOVER", "TIMEOUT", "10000") == b"OK"
    _swapped(new, old)


def test_redis_master_hands_over_to_an_aikv_replica(spawn: Callable[..., ServerProcess]
                                                    ) -> None:
    """The AiKv replica receives PSYNC <replid> <offset> FAILOVER from redis-server, is
    promoted, and answers +CONTINUE from the backlog it kept as a replica."""
    old, new = _pair(spawn, "redis", "aikv")
    old.client().set("just-before", "1")
    _same_data(old.client(), new.client())
    _hand_over(old, new)
    info = new.client().info("replication")
    assert info["repl_backlog_active"] == 1 and info["repl_backlog_histlen"] > 0


# ---------------------------------------------------------------------- a replica that lags
class FakeReplica:
    """A replica that synchronises, then never acknowledges anything: it cannot catch
    up. It announces a listening port where nothing listens."""

    def __init__(self, master_port: int) -> None:
        self.port = free_port()
        conn = RawConnection(master_port, timeout=30)
        self.sock = conn.sock
        assert conn.call("REPLCONF", "listening-port", self.port) == b"+OK\r\n"
        self.sock.sendall(b"PSYNC ? -1\r\n")
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


def _online(r: redis.Redis) -> bool:
    info = r.info("replication")
    return info["connected_slaves"] == 1 and info["slave0"]["state"] == "online"


def _stuck_master(spawn: Callable[..., ServerProcess], kind: str
                  ) -> tuple[ServerProcess, FakeReplica]:
    master = spawn(kind, args=REDIS_MASTER if kind == "redis" else [])
    fake = FakeReplica(master.port)
    r = master.client()
    wait_until(lambda: _online(r), 30, 0.05, "the fake replica to be online")
    r.set("k", "v")  # past what the fake replica will ever acknowledge
    return master, fake


def _field(conn: RawConnection, name: str) -> str:
    text = parse(conn.call("INFO", "replication")).decode()
    return next(line.split(":", 1)[1] for line in text.split("\r\n")
                if line.startswith(name + ":"))


def _no_reply_yet(conn: RawConnection, seconds: float) -> bool:
    conn.sock.settimeout(seconds)
    try:
        return not conn.sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    finally:
        conn.sock.settimeout(10)


def test_failing_over_master_replies_as_redis(spawn: Callable[..., ServerProcess]) -> None:
    """A master whose only replica cannot catch up, AiKv's and redis-server's, given the
    same commands: the errors of FAILOVER and of what a failing-over master refuses,
    FAILOVER ABORT, a TIMEOUT that expires, and FORCE handing over to a replica that
    never answers (then ABORT: a master again, under a new replication id)."""
    mine, my_fake = _stuck_master(spawn, "aikv")
    theirs, their_fake = _stuck_master(spawn, "redis")
    d = Differ(mine.port, theirs.port)
    writers = [RawConnection(mine.port), RawConnection(theirs.port)]
    try:
        assert d.mismatches([
            ("failover", "to", "127.0.0.1", "1"),
            ("failover", "force", "timeout", "100"),
            ("failover", "timeout", "100", "force"),
            ("failover", "abort"),
            ("psync", "?", "-1", "failover"),
            ("failover", "to", "127.0.0.1", "1", "timeout", "x"),
        ]) == []
        # TO <the fake replica> FORCE without a timeout: each side's own port.
        replies = [conn.call("failover", "to", "127.0.0.1", fake.port, "force")
                   for conn, fake in ((d.a, my_fake), (d.r, their_fake))]
        assert replies[0] == replies[1] == (b"-ERR FAILOVER with force option requires both "
                                            b"a timeout and target HOST and IP.\r\n")
        assert d.mismatches([
            ("failover",),
            ("failover",),
            ("failover", "abort", "x"),
            ("failover", "timeout", "100"),
            ("replicaof", "127.0.0.1", "1"),
            ("replicaof", "no", "one"),
            ("psync", "?", "-1"),
            ("sync",),
            ("get", "k"),
        ]) == []
        assert _field(d.a, "master_failover_state") == _field(d.r, "master_failover_state") \
            == "waiting-for-sync"
        # A write waits, CLIENT UNPAUSE does not end the failover's pause, ABORT does.
        for conn in writers:
            conn.sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nw\r\n$1\r\n1\r\n")
        assert d.mismatches([("client", "unpause")]) == []
        assert all(_no_reply_yet(conn, 0.3) for conn in writers)
        assert d.mismatches([("failover", "abort"), ("failover", "abort")]) == []
        assert [conn.read_reply() for conn in writers] == [b"+OK\r\n"] * 2
        assert _field(d.a, "master_failover_state") == _field(d.r, "master_failover_state") \
            == "no-failover"

        # TIMEOUT: the replica never catches up, the failover is abandoned, writes resume.
        assert d.mismatches([("failover", "timeout", "200")]) == []
        wait_until(lambda: _field(d.a, "master_failover_state") == _field(d.r, "master_failover_state")
                   == "no-failover", 10, 0.02, "both failovers to time out")
        assert d.mismatches([("set", "after-timeout", "1")]) == []
        assert _field(d.a, "role") == _field(d.r, "role") == "master"
        assert _field(d.a, "master_failover_state") == _field(d.r, "master_failover_state") \
            == "no-failover"
        for node in (mine, theirs):
            assert "Replica never caught up before timeout" in node.log()

        # FORCE: the timeout hands over anyway, to a replica that never answers; the
        # node stays a replica failing over until FAILOVER ABORT makes it a master again.
        replids = [_field(d.a, "master_replid"), _field(d.r, "master_replid")]
        replies = [conn.call("failover", "to", "127.0.0.1", fake.port, "force", "timeout",
                             "200") for conn, fake in ((d.a, my_fake), (d.r, their_fake))]
        assert replies == [b"+OK\r\n"] * 2
        for conn in (d.a, d.r):
            wait_until(lambda c=conn: _field(c, "role") == "slave", 10, 0.05, "the hand-over")
            assert _field(conn, "master_failover_state") == "failover-in-progress"
        assert d.mismatches([
            ("failover",), ("replicaof", "no", "one"), ("set", "x", "1"),
        ]) == []
        assert d.mismatches([("failover", "abort"), ("get", "k")]) == []
        for conn, replid in zip((d.a, d.r), replids, strict=True):
            assert _field(conn, "role") == "master"
            assert _field(conn, "master_failover_state") == "no-failover"
            assert _field(conn, "master_replid2") == replid
            assert _field(conn, "master_replid") != replid
        assert d.mismatches([("set", "after-abort", "1")]) == []
    finally:
        d.close()
        for conn in writers:
            conn.close()
        my_fake.close()
        their_fake.close()


def test_replica_refuses_a_failover_for_another_replid(spawn: Callable[..., ServerProcess]
                                                      ) -> None:
    master = spawn("redis", args=REDIS_MASTER)
    mine = spawn("aikv", args=["--replicaof", "127.0.0.1", str(master.port)])
    theirs = spawn("redis", args=["--replicaof", "127.0.0.1", str(master.port)])
    for node in (mine, theirs):
        wait_until(lambda n=node: _caught_up(master.client(), n.client()), 30, 0.05, "sync")
    d = Differ(mine.port, theirs.port)
    try:
        assert d.mismatches([
            ("psync", "0" * 40, "1", "failover"),
            ("failover",), ("failover", "abort"),
        ]) == []
    finally:
        d.close()


def test_force_hands_over_to_a_replica_that_lags(spawn: Callable[..., ServerProcess]) -> None:
    """FORCE: the target is asleep (DEBUG SLEEP) when the timeout passes; the master
    becomes its replica and stays failover-in-progress until the target wakes, takes the
    writes it was behind on, and answers the PSYNC FAILOVER."""
    old, new = _pair(spawn, "aikv", "redis")
    old_r = old.client()
    sleeper = threading.Thread(target=lambda: new.client(socket_timeout=30).execute_command(
        "DEBUG", "SLEEP", "2"))
    sleeper.start()

    def asleep() -> bool:
        # A raw socket: redis-py retries a timed-out command until the sleep is over.
        with socket.create_connection(("127.0.0.1", new.port), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            sock.settimeout(0.1)
            try:
                sock.recv(64)
            except TimeoutError:
                return True
        return False

    wait_until(asleep, 5, 0.01, "the target's DEBUG SLEEP")
    old_r.set("while-asleep", "1")
    assert old_r.execute_command("FAILOVER", "TO", "127.0.0.1", str(new.port), "FORCE",
                                 "TIMEOUT", "200") == b"OK"
    assert old_r.info("replication")["master_failover_state"] == "waiting-for-sync"
    wait_until(lambda: old_r.info("replication")["master_failover_state"]
               == "failover-in-progress", 5, 0.02, "the forced hand-over")
    assert _role(old_r) == "slave"
    sleeper.join(30)
    _swapped(old, new)
    assert "time out exceeded, failing over" in old.log()
