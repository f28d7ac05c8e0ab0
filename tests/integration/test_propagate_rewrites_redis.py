"""What a master sends its replica for the commands that are not sent as written (see
aikv/replication/propagate.py and tests/unit/test_propagate_rewrites.py), compared with
Redis itself: the same script runs against a redis-server master and an AiKv master,
each followed by a redis-server replica, and the commands each replica receives (its
MONITOR) must be the same, deadlines aside. Blocked clients served later are covered
here, with real connections."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

import redis

from tests.harness import ServerProcess, recv_until, wait_until

DEBUG = ["--enable-debug-command", "yes"]
# An absolute deadline in ms differs from run to run; so does a DUMP payload.
_DEADLINE = re.compile(rb"^1\d{12}$")
_MONITOR_LINE = re.compile(rb'^\d+\.\d+ \[\d+ ([^\]]*)\] (.*)$')
_QUOTED = re.compile(rb'"((?:[^"\\]|\\.)*)"')


class Conn:
    """A raw connection: commands are sent without waiting (a blocked client's reply
    comes later)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, *argv: str | bytes) -> None:
        out = [b"*%d\r\n" % len(argv)]
        for arg in argv:
            raw = arg.encode() if isinstance(arg, str) else arg
            out += [b"$%d\r\n" % len(raw), raw, b"\r\n"]
        self.sock.sendall(b"".join(out))

    def read_for(self, seconds: float) -> bytes:
        self.sock.settimeout(seconds)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
        except TimeoutError:
            pass
        data, self.buf = self.buf, b""
        return data

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        """Everything received until `marker` has arrived (and the rest of that read)."""
        data, self.buf = recv_until(self.sock, self.buf, marker, timeout), b""
        return data

    def close(self) -> None:
        self.sock.close()


def _script(master: redis.Redis, target_port: int, payload: bytes, a: Conn, b: Conn,
            blocked: Callable[[int], None]) -> None:
    """The commands, in an order whose effects are the same on any server (no random
    choice has more than one outcome)."""
    m = master.execute_command
    m("SET", "k", "v", "EX", "100")
    m("SET", "k", "v", "PX", "100000", "NX")
    m("set", "k", "v2", "get", "KEEPTTL")
    m("SET", "k", "v3", "GET", "EXAT", "99999999999")
    m("SETEX", "k", "100", "v")
    m("PSETEX", "k", "100000", "v")
    m("GETEX", "k", "EX", "100")
    m("GETEX", "k")
    m("GETEX", "k", "PERSIST")
    m("GETEX", "k", "PERSIST")
    m("GETEX", "k", "PXAT", "1")
    m("GETEX", "missing", "EX", "10")
    m("GETSET", "k", "v")
    m("GETDEL", "k")
    m("GETDEL", "k")
    m("INCRBYFLOAT", "f", "1.5")
    m("INCRBYFLOAT", "f", "1e3")
    m("HINCRBYFLOAT", "h", "f", "0.25")
    m("SET", "e", "v")
    m("EXPIRE", "e", "200")
    m("EXPIRE", "e", "100", "GT")
    m("pexpire", "e", "500000", "gt")
    m("EXPIREAT", "e", "9999999999", "lt")
    m("pexpireat", "e", "9999999999999")
    m("EXPIRE", "missing", "10")
    m("PERSIST", "e")
    m("PERSIST", "e")
    m("EXPIRE", "e", "-1")
    m("SET", "e", "v")
    m("PEXPIREAT", "e", "1")
    m("RESTORE", "r1", "0", payload)
    m("RESTORE", "r2", "100000", payload, "replace", "IDLETIME", "5")
    m("RESTORE", "r3", "9999999999999", payload, "ABSTTL")
    m("RESTORE", "r4", "1", payload, "ABSTTL")
    m("RESTORE", "r3", "1", payload, "ABSTTL", "REPLACE")
    m("SADD", "s", "a")
    m("SPOP", "s")
    m("SADD", "s", "a", "b", "c")
    m("SPOP", "s", "0")
    m("SPOP", "s", "3")
    m("SPOP", "s", "3")
    m("RPUSH", "l", "a", "b", "c", "d")
    m("LMPOP", "2", "nol", "l", "left", "COUNT", "3")
    m("LMPOP", "1", "l", "RIGHT")
    m("LMPOP", "1", "l", "RIGHT")
    m("RPUSH", "l", "a", "b", "c", "d", "e")
    m("BLPOP", "nol", "l", "1")
    m("BRPOP", "l", "0")
    m("BLMPOP", "0", "1", "l", "right", "count", "10")
    m("RPUSH", "l", "a", "b")
    m("BLMOVE", "l", "l2", "left", "RIGHT", "1")
    m("BRPOPLPUSH", "l", "l2", "1")
    m("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d")
    m("ZMPOP", "1", "z", "min")
    m("ZMPOP", "2", "nz", "z", "MAX", "COUNT", "10")
    m("ZADD", "z", "1", "a", "2", "b", "3", "c")
    m("BZPOPMIN", "z", "1")
    m("BZPOPMAX", "nz", "z", "0")
    m("BZMPOP", "1", "1", "z", "MIN", "COUNT", "5")
    pipe = master.pipeline(transaction=True)
    pipe.execute_command("BLPOP", "nol", "0").execute_command("BZPOPMIN", "nz", "0")
    pipe.execute_command("RPUSH", "tx", "x").execute()

    # Served later: each blocking command waits on `a` until `b` gives it data.
    served_later = [
        (["BLPOP", "q1", "0"], ["RPUSH", "q1", "a", "b"]),
        (["BRPOP", "noq", "q2", "0"], ["RPUSH", "q2", "c", "d"]),
        (["BLMPOP", "0", "1", "q3", "LEFT", "COUNT", "5"], ["RPUSH", "q3", "a", "b", "c"]),
        (["BLMOVE", "q4", "d4", "LEFT", "Right", "0"], ["RPUSH", "q4", "x", "y"]),
        (["BRPOPLPUSH", "q5", "d5", "0"], ["RPUSH", "q5", "y", "z"]),
        (["BZPOPMIN", "z1", "0"], ["ZADD", "z1", "1", "a", "2", "b"]),
        (["BZPOPMAX", "z2", "0"], ["ZADD", "z2", "3", "c", "4", "d"]),
        (["BZMPOP", "0", "1", "z3", "MAX", "COUNT", "5"], ["ZADD", "z3", "1", "a", "2", "b"]),
        (["BLMOVE", "w", "wrong", "LEFT", "LEFT", "0"], ["SET", "wrong", "x"]),
    ]
    for blocking, push in served_later:
        a.send(*blocking)
        blocked(1)
        b.send(*push)
        if push[1] == "wrong":  # the waiter still waits; its key gets data next
            b.send("RPUSH", "w", "a")
        blocked(0)
        a.read_for(0.05)
        b.read_for(0.05)
    b.send("MULTI")
    b.send("RPUSH", "t", "a")
    b.send("RPUSH", "t", "b")
    a.send("BLPOP", "t", "0")
    blocked(1)
    b.send("EXEC")
    blocked(0)

    m("MSET", "a", "1", "b", "2", "c", "3")
    migrate = ["MIGRATE", "127.0.0.1", str(target_port), "", "0", "5000"]
    m(*migrate, "COPY", "KEYS", "a", "b", "nokey")
    m(*migrate, "KEYS", "nokey")
    try:
        m(*migrate, "KEYS", "a", "b", "c")  # a and b are there already: only c moves
    except redis.ResponseError:
        pass
    m(*migrate, "REPLACE", "KEYS", "a", "b")


def _received(kind: str, spawn: Callable[..., ServerProcess]) -> list[list[bytes]]:
    """Run the script against a `kind` master; what its redis-server replica received."""
    node = spawn(kind, args=DEBUG)
    master = node.client()
    target = spawn("redis")
    replica = spawn("redis", args=[*DEBUG, "--replicaof", "127.0.0.1", str(node.port)])
    wait_until(lambda: replica.client().info("replication")["master_link_status"] == "up",
               30, 0.05, "the replica's link")
    master.set("src", "hello")
    payload = master.dump("src")
    assert payload is not None
    # Received before MONITOR starts, whichever master: the comparison starts after it.
    wait_until(lambda: replica.client().exists("src"), 10, 0.02, "the replica's copy")
    monitor = Conn(replica.port)
    monitor.send("MONITOR")
    monitor.read_until(b"+OK\r\n", 10)
    a, b = Conn(node.port), Conn(node.port)

    def blocked(n: int) -> None:
        wait_until(lambda: master.info("clients")["blocked_clients"] == n, 10, 0.01,
                   f"{n} blocked clients")

    _script(master, target.port, payload, a, b, blocked)
    master.set("the-end", "1")
    wait_until(lambda: replica.client().exists("the-end"), 10, 0.02, "the replica")
    wait_until(lambda: replica.client().execute_command("DEBUG", "DIGEST") ==
               master.execute_command("DEBUG", "DIGEST"), 10, 0.05, "equal datasets")
    # The replica ran the SET before it answered EXISTS, so its MONITOR line is on its way.
    lines = monitor.read_until(b'"SET" "the-end" "1"', 10).split(b"\r\n")
    for conn in (monitor, a, b):
        conn.close()
    received: list[list[bytes]] = []
    master_port = node.port
    for line in lines:
        match = _MONITOR_LINE.match(line.lstrip(b"+"))
        # Only the master's connection: the test's own polling of the replica (a new
        # connection's HELLO, EXISTS) shows in MONITOR too, at any moment.
        if match is None or not match.group(1).endswith(b":%d" % master_port):
            continue
        argv = [arg.decode("unicode_escape").encode("latin-1")
                for arg in _QUOTED.findall(match.group(2))]
        if argv[0].upper() in (b"PING", b"REPLCONF"):
            continue
        received.append([b"<deadline>" if _DEADLINE.match(arg) else
                         b"<payload>" if arg == payload else arg for arg in argv])
        if argv == [b"SET", b"the-end", b"1"]:
            break  # then come the test's own commands to the replica
    return received


def test_replica_receives_what_a_redis_master_sends(
        spawn: Callable[..., ServerProcess]) -> None:
    want = _received("redis", spawn)
    got = _received("aikv", spawn)
    assert [b"LPOP", b"q1"] in want and want[-1] == [b"SET", b"the-end", b"1"]
    assert got == want
