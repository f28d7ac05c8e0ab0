"""MIGRATE between AiKv and real redis-server 7.0 processes, in every direction.

The fixture replay puts a recording TCP proxy between the AiKv source and a redis-server
target (requirepass + an ACL user, like the capture), so the test checks the client's
replies *and* the exact commands AiKv sends on its own connection to the target.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hiredis
import pytest
import redis

from tests.differ import RawConnection
from tests.harness import free_port


class RecordingProxy:
    """Forwards 127.0.0.1:<port> to a target port and records each parsed request."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.commands: list[list[bytes]] = []
        self.accepted = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = [self.listener]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self.accepted += 1
                self._sockets += [down, up]
            threading.Thread(target=self._pump, args=(down, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        reader = hiredis.Reader()
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    reader.feed(data)
                    while (cmd := reader.gets()) is not False:
                        with self._lock:
                            self.commands.append(cmd)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def take(self) -> list[list[bytes]]:
        with self._lock:
            out, self.commands = self.commands, []
        return out

    def close(self) -> None:
        self._stop = True
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def proxy_factory() -> Iterator[Any]:
    made: list[RecordingProxy] = []

    def make(port: int) -> RecordingProxy:
        made.append(RecordingProxy(port))
        return made[-1]

    yield make
    for p in made:
        p.close()


def _wait_commands(proxy: RecordingProxy, n: int, timeout: float = 5.0) -> list[list[bytes]]:
    deadline = time.monotonic() + timeout
    got: list[list[bytes]] = []
    while time.monotonic() < deadline:
        got += proxy.take()
        if len(got) >= n:
            break
        time.sleep(0.01)
    return got


# ---------------------------------------------------------------------- fixture replay
def test_fixture_replay_against_redis_with_auth(shared: Path, spawn: Any, proxy_factory: Any) -> None:
    wire = json.loads((shared / "fixtures/migrate/migrate-wire.json").read_text())["commands"]
    cases = json.loads((shared / "fixtures/migrate/migrate-cases.json").read_text())
    target = spawn("redis", args=["--requirepass", "s3cret"])
    source = spawn("aikv")
    proxy = proxy_factory(target.port)
    closed_port = free_port()

    def translate(word: str) -> str:
        return {"7151": str(proxy.port), "7199": str(closed_port)}.get(word, word)

    src = RawConnection(source.port)
    tgt = RawConnection(target.port)
    # The capture's setup (everything the client sent before the first MIGRATE).
    for row in wire:
        if row["command"][0] == "MIGRATE":
            break
        if row["conn"] == "client":
            conn = tgt if row["server_port"] == 7151 else src
            conn.call(*row["command"])

    # Per MIGRATE: the source-node commands that followed it in the capture.
    expected: list[tuple[dict[str, Any], list[list[Any]]]] = []
    for row in wire:
        if row["conn"] == "client" and row["command"][0] == "MIGRATE":
            expected.append((row, []))
        elif row["conn"] == "source-node" and expected:
            expected[-1][1].append(row["command"])
    assert len(expected) == len(cases["cases"]) == 15

    for (row, node_cmds), case in zip(expected, cases["cases"], strict=True):
        assert row["command"] == case["command"]
        argv = [translate(w) for w in case["command"]]
        reply = src.call(*argv)
        assert reply == case["reply_raw"].encode(), (case["name"], reply)
        sent = _wait_commands(proxy, len(node_cmds)) if node_cmds else proxy.take()
        assert len(sent) == len(node_cmds), (case["name"], sent)
        for got, want in zip(sent, node_cmds, strict=True):
            want_b = [bytes.fromhex(w["hex"]) if isinstance(w, dict) else w.encode() for w in want]
            if want_b[0] == b"RESTORE" and want_b[2] != b"0":
                # The TTL is what remained at send time: within a second of the capture's.
                assert abs(int(got[2]) - int(want_b[2])) < 1000, (case["name"], got)
                got, want_b = got[:2] + got[3:], want_b[:2] + want_b[3:]
            assert got == want_b, (case["name"], got, want_b)

    for key, reply in cases["target_types_after"].items():
        assert tgt.call("TYPE", key) == f"+{reply['status']}\r\n".encode(), key
    for key, count in cases["source_exists_after"].items():
        assert src.call("EXISTS", key) == b":%d\r\n" % count, key
    # One connection served every call: the cached socket survived the error replies.
    assert proxy.accepted == 1
    src.close()
    tgt.close()


# ---------------------------------------------------------------------- all types
def _populate(client: redis.Redis) -> None:
    client.set("s", "plain")
    client.set("n", 42)
    client.set("t", "with-ttl", px=300_000)
    client.rpush("l", *[f"e{i}" for i in range(300)])
    client.sadd("si", 1, 2, 3)
    client.sadd("ss", "x", "y", *[f"m{i}" for i in range(600)])
    client.hset("h", mapping={f"f{i}": f"v{i}" for i in range(20)})
    client.hset("hb", mapping={f"f{i}": "v" * 80 for i in range(5)})
    client.zadd("z", {f"m{i}": i * 1.25 for i in range(10)})
    client.zadd("zb", {f"m{i}": -i for i in range(300)})


KEYS = ["s", "n", "t", "l", "si", "ss", "h", "hb", "z", "zb"]


def _snapshot(client: redis.Redis) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in KEYS:
        kind = client.type(key)
        if kind == b"string":
            out[key] = client.get(key)
        elif kind == b"list":
            out[key] = client.lrange(key, 0, -1)
        elif kind == b"set":
            out[key] = sorted(client.smembers(key))
        elif kind == b"hash":
            out[key] = sorted(client.hgetall(key).items())
        elif kind == b"zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            out[key] = kind
    return out


@pytest.mark.parametrize("kinds", [("aikv", "aikv"), ("aikv", "redis"), ("redis", "aikv")],
                         ids=["aikv-to-aikv", "aikv-to-redis", "redis-to-aikv"])
def test_migrate_every_type(spawn: Any, kinds: tuple[str, str]) -> None:
    source, target = spawn(kinds[0]), spawn(kinds[1])
    s, t = source.client(), target.client()
    _populate(s)
    before = _snapshot(s)
    # A single key, then the rest with KEYS (one missing name among them), into db 0.
    assert s.execute_command("MIGRATE", "127.0.0.1", target.port, "s", 0, 5000) == b"OK"
    assert s.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000,
                             "KEYS", *KEYS[1:], "missing") == b"OK"
    assert s.dbsize() == 0
    assert _snapshot(t) == before
    assert 290_000 < t.pttl("t") <= 300_000
    assert s.info("stats")["migrate_cached_sockets"] == 1  # one connection, reused
    # COPY keeps the source; REPLACE overwrites the target's value; back into db 2.
    assert t.execute_command("MIGRATE", "127.0.0.1", source.port, "", 2, 5000, "COPY",
                             "KEYS", *KEYS) == b"OK"
    assert t.dbsize() == len(KEYS)
    s.execute_command("SELECT", 2)
    assert _snapshot(source.client(db=2)) == before
    t.set("l", "overwritten")
    with pytest.raises(redis.ResponseError, match="^Target instance replied with error: "
                       "BUSYKEY Target key name already exists.$"):
        source.client(db=2).execute_command("MIGRATE", "127.0.0.1", target.port, "l", 0, 5000)
    assert source.client(db=2).exists("l") == 1
    assert source.client(db=2).execute_command(
        "MIGRATE", "127.0.0.1", target.port, "l", 0, 5000, "REPLACE") == b"OK"
    assert t.lrange("l", 0, -1) == before["l"]
    assert s.execute_command("MIGRATE", "127.0.0.1", target.port, "nope", 0, 5000) == b"NOKEY"


def test_migrate_sends_uncompressed_payloads(spawn: Any, proxy_factory: Any) -> None:
    """MIGRATE skips LZF (Python LZF is slower than the link); the payloads are what a
    redis-server with rdbcompression no would send, and a real Redis target takes them."""
    target = spawn("redis")
    source = spawn("aikv")
    proxy = proxy_factory(target.port)
    s, t = source.client(), target.client()
    values = {"long": b"abc" * 400, "big": bytes(range(256)) * 4000}
    for key, value in values.items():
        s.set(key, value)
    s.hset("h", mapping={f"f{i}": "v" * 50 for i in range(3)})  # a listpack blob
    assert s.execute_command("MIGRATE", "127.0.0.1", proxy.port, "", 0, 5000, "COPY",
                             "KEYS", "long", "big", "h") == b"OK"
    sent = {cmd[1]: cmd[3] for cmd in _wait_commands(proxy, 4) if cmd[0] == b"RESTORE"}
    assert set(sent) == {b"long", b"big", b"h"}
    assert t.get("long") == values["long"] and t.get("big") == values["big"]
    assert t.hgetall("h") == {f"f{i}".encode(): b"v" * 50 for i in range(3)}
    assert s.dump("long") != sent[b"long"]  # DUMP itself still compresses (rdbcompression yes)
    t.config_set("rdbcompression", "no")
    for key in (b"long", b"big", b"h"):
        assert t.dump(key) == sent[key], key


def test_auth2_and_wrong_password_against_redis(spawn: Any) -> None:
    target = spawn("redis", args=["--requirepass", "s3cret"])
    admin = target.client(password="s3cret")
    admin.execute_command("ACL", "SETUSER", "mig", "on", ">migpw", "~*", "+@all")
    source = spawn("aikv")
    s = source.client()
    s.set("a", "1")
    s.set("b", "2")
    with pytest.raises(redis.ResponseError, match="NOAUTH Authentication required"):
        s.execute_command("MIGRATE", "127.0.0.1", target.port, "a", 0, 5000)
    assert s.exists("a") == 1
    assert s.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000,
                             "AUTH2", "mig", "migpw", "KEYS", "a") == b"OK"
    with pytest.raises(redis.ResponseError, match="WRONGPASS"):
        s.execute_command("MIGRATE", "127.0.0.1", target.port, "b", 0, 5000, "AUTH", "bad")
    assert s.exists("b") == 1  # an AUTH error keeps the source key
    assert admin.get("a") == b"1"


# ---------------------------------------------------------------------- failures
def test_closed_port_and_self_target(spawn: Any) -> None:
    source = spawn("aikv")
    s = source.client()
    s.set("k", "v")
    with pytest.raises(redis.ResponseError, match="^IOERR error or timeout writing to target instance$"):
        s.execute_command("MIGRATE", "127.0.0.1", free_port(), "k", 0, 500)
    # To itself: the node cannot answer its own RESTORE while it waits (Redis neither).
    started = time.monotonic()
    with pytest.raises(redis.ResponseError, match="^IOERR error or timeout reading to target instance$"):
        s.execute_command("MIGRATE", "127.0.0.1", source.port, "k", 0, 300)
    assert 0.25 < time.monotonic() - started < 5
    assert s.get("k") == b"v"
    assert s.execute_command("MIGRATE", "127.0.0.1", source.port, "", 0, 300, "KEYS") == b"NOKEY"


def test_target_restart_is_retried_on_a_fresh_connection(spawn: Any, tmp_path: Path) -> None:
    source = spawn("aikv")
    target = spawn("aikv", directory=tmp_path / "t")
    s = source.client()
    s.set("a", "1")
    s.set("b", "2")
    assert s.execute_command("MIGRATE", "127.0.0.1", target.port, "a", 0, 2000) == b"OK"
    # The cached connection dies with the target; the next MIGRATE reconnects silently.
    target.stop()
    target.start()
    assert s.execute_command("MIGRATE", "127.0.0.1", target.port, "b", 0, 2000) == b"OK"
    assert target.client().mget("a", "b") == [b"1", b"2"]


def test_concurrent_writer_loses_nothing(spawn: Any) -> None:
    """A writer appends 1..N to a list while the list is MIGRATEd away again and again
    (each time into another db of the target). Every acknowledged element must be in
    exactly one of the pieces, and each piece must be in order."""
    source, target = spawn("aikv"), spawn("aikv")
    n = 100_000  # the writer runs until the migrations are done
    acked: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        w = source.client()
        for i in range(1, n + 1):
            w.rpush("log", i)
            acked.append(i)
            if stop.is_set():
                break

    thread = threading.Thread(target=writer)
    thread.start()
    s = source.client()
    moved = 0
    for db in range(16):
        time.sleep(0.03)
        reply = s.execute_command("MIGRATE", "127.0.0.1", target.port, "log", db, 5000)
        moved += reply == b"OK"
    stop.set()
    thread.join(timeout=60)
    assert moved >= 8
    pieces = [[int(x) for x in target.client(db=db).lrange("log", 0, -1)] for db in range(16)]
    pieces.append([int(x) for x in s.lrange("log", 0, -1)])
    seen = [x for piece in pieces for x in piece]
    assert sorted(seen) == acked
    for piece in pieces:
        assert piece == sorted(piece)
