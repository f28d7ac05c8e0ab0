"""The replication stream as Redis's multi.tcl reads it (SYNC, then the commands), sent
by AiKv and by a real redis-server 7.0.15: SELECT comes before MULTI, a PUBLISH (no
write) leaves at once, and a REPLICAOF inside EXEC does not break the transaction."""

from __future__ import annotations

import socket

import hiredis
import pytest
import redis

from tests.harness import ServerProcess, recv_until, wait_until

PING = b"*1\r\n$4\r\nPING\r\n"
PUBLISH = b"*3\r\n$7\r\nPUBLISH\r\n$4\r\nchan\r\n$3\r\nmsg\r\n"


class FakeReplica:
    """A connection that sent SYNC and read the RDB file: what follows is the stream."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(b"SYNC\r\n")
        buf = self._read_until(b"", b"$")  # newlines may come first (keep-alives)
        buf = buf.lstrip(b"\n")
        buf = self._read_until(buf, b"\r\n")
        line, rest = buf.split(b"\r\n", 1)
        size = int(line[1:])
        while len(rest) < size:
            rest += self._recv()
        self.stream = rest[size:]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError("the master closed the connection")
        return chunk

    def _read_until(self, buf: bytes, marker: bytes) -> bytes:
        while marker not in buf.lstrip(b"\n"):
            buf += self._recv()
        return buf

    def read_until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        """The stream received until `marker` (the master's PINGs left out)."""
        self.stream = recv_until(self.sock, self.stream, marker, timeout)
        return self.stream.replace(PING, b"")

    def close(self) -> None:
        self.sock.close()


def _stream_of(port: int) -> bytes:
    r = redis.Redis(port=port)
    r.config_set("repl-ping-replica-period", 3600)
    replica = FakeReplica(port)
    try:
        r.execute_command("select", "3")
        pipe = r.pipeline(transaction=True)
        pipe.execute_command("set", "a", "1")
        pipe.execute_command("set", "b", "2")
        pipe.execute()
        r.publish("chan", "msg")
        return replica.read_until(PUBLISH)
    finally:
        replica.close()
        r.execute_command("select", "0")
        r.close()


def test_stream_matches_redis(aikv_module: ServerProcess, redis_module: ServerProcess) -> None:
    got = _stream_of(aikv_module.port)
    assert got == _stream_of(redis_module.port)
    assert got.startswith(b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*1\r\n$5\r\nMULTI\r\n")
    assert got.endswith(PUBLISH)


def test_replicaof_inside_exec(aikv_module: ServerProcess) -> None:
    r = redis.Redis(port=aikv_module.port)
    replica = FakeReplica(aikv_module.port)
    try:
        pipe = r.pipeline(transaction=True)
        pipe.execute_command("set", "foo2", "bar")
        pipe.execute_command("replicaof", "127.0.0.1", "1")
        pipe.execute_command("set", "foo3", "bar")
        assert pipe.execute() == [True, b"OK", True]
        with pytest.raises(redis.ReadOnlyError):
            r.set("foo4", "bar")
    finally:
        r.execute_command("replicaof", "no", "one")
        replica.close()
        r.close()


def _server_ms(r: redis.Redis) -> int:
    seconds, micros = r.time()
    return seconds * 1000 + micros // 1000


def _commands(stream: bytes) -> list[list[bytes]]:
    reader = hiredis.Reader()
    reader.feed(stream)
    out = []
    while (command := reader.gets()) is not False:
        out.append(command)
    return out


@pytest.mark.parametrize("reader", [("scan", "0"), ("randomkey",), ("mget", "foo1", "foo2")])
def test_lazy_expiry_deletes_are_propagated_alone(aikv_module: ServerProcess,
                                                  redis_module: ServerProcess,
                                                  reader: tuple[str, ...]) -> None:
    """Keys a read finds expired are deleted and the DELs reach replicas: SCAN's and
    RANDOMKEY's as commands of their own, not wrapped in MULTI/EXEC (Redis's
    expire.tcl), a plain lookup's as one transaction."""
    streams = []
    for port in (aikv_module.port, redis_module.port):
        r = redis.Redis(port=port)
        r.config_set("repl-ping-replica-period", 3600)
        r.execute_command("debug", "set-active-expire", "0")
        r.flushall()
        r.set("foo1", "bar", px=1)
        r.set("foo2", "bar", px=1)
        if reader[0] != "randomkey":  # with only expired keys it must meet them all
            r.set("live", "x")
        # Waited for on the server's clock: any lookup of the keys would delete them.
        after = _server_ms(r) + 3
        wait_until(lambda r=r, after=after: _server_ms(r) > after, 5, 0.001,
                   "the keys' deadline")
        replica = FakeReplica(port)
        try:
            r.execute_command(*reader)
            r.publish("chan", "msg")
            stream = replica.read_until(PUBLISH)
        finally:
            replica.close()
            r.execute_command("debug", "set-active-expire", "1")
            r.close()
        streams.append(stream)
    mine, theirs = (_commands(s) for s in streams)
    assert mine[0] == theirs[0] == [b"SELECT", b"0"]
    assert sorted(mine) == sorted(theirs), streams
    assert sorted(c for c in mine if c[0] == b"DEL") == [[b"DEL", b"foo1"], [b"DEL", b"foo2"]]
    # One command's two deletions form a transaction, as Redis wraps a command's
    # effects; SCAN's and RANDOMKEY's do not (Redis special-cases them).
    assert ([b"MULTI"] in mine) == (reader[0] == "mget")


SELECTIVE = """
redis.call('set', 'a', '1')
redis.set_repl(redis.REPL_NONE)
redis.call('set', 'b', '2')
redis.set_repl(redis.REPL_AOF)
redis.call('set', 'c', '3')
redis.set_repl(redis.REPL_REPLICA)
redis.call('set', 'd', '4')
redis.set_repl(redis.REPL_ALL)
redis.call('set', 'e', '5')
"""


def test_set_repl_keeps_commands_from_replicas_as_redis(aikv_module: ServerProcess,
                                                        redis_module: ServerProcess) -> None:
    """redis.set_repl: commands run under REPL_NONE or REPL_AOF do not reach replicas
    (the rest of the script's do, in one transaction); both streams alike."""
    streams = []
    for port in (aikv_module.port, redis_module.port):
        r = redis.Redis(port=port)
        r.config_set("repl-ping-replica-period", 3600)
        r.flushall()
        replica = FakeReplica(port)
        try:
            r.eval(SELECTIVE, 0)
            assert r.mget("a", "b", "c", "d", "e") == [b"1", b"2", b"3", b"4", b"5"]
            r.publish("chan", "msg")
            streams.append(_commands(replica.read_until(PUBLISH)))
        finally:
            replica.close()
            r.close()
    assert streams[0] == streams[1]
    sets = [c[1] for c in streams[0] if c[0].lower() == b"set"]
    assert sets == [b"a", b"d", b"e"]
