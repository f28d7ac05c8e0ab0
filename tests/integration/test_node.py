"""A standalone node as a user meets it: pipelining, RESP3, redis-cli, crash safety,
the directory lock, bad input, restart time."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from aikv import __version__
from tests.differ import RawConnection, encode_command
from tests.harness import ServerProcess, redis_cli, wait_until


def test_pipeline_of_10000_commands_in_one_write(r: redis.Redis, aikv_module: ServerProcess) -> None:
    payload = b"".join(encode_command("SET", f"p:{i}", f"v{i}") for i in range(10_000))
    payload += encode_command("DBSIZE")
    with socket.create_connection(("127.0.0.1", aikv_module.port), timeout=30) as sock:
        sock.sendall(payload)
        expected = b"+OK\r\n" * 10_000 + b":10000\r\n"
        got = b""
        deadline = time.monotonic() + 30
        while len(got) < len(expected) and time.monotonic() < deadline:
            got += sock.recv(1 << 20)
    assert got == expected
    assert r.get("p:9999") == b"v9999"


def test_resp3(aikv_module: ServerProcess) -> None:
    conn = RawConnection(aikv_module.port)
    try:
        hello = conn.call("HELLO", "3")
        assert hello.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
        assert b"$5\r\nproto\r\n:3\r\n" in hello
        assert conn.call("GET", "resp3:missing") == b"_\r\n"
        assert conn.call("SET", "resp3:k", "v") == b"+OK\r\n"
        assert conn.call("MGET", "resp3:k", "resp3:missing") == b"*2\r\n$1\r\nv\r\n_\r\n"
        assert conn.call("HELLO", "2").startswith(b"*14\r\n")
        assert conn.call("GET", "resp3:missing") == b"$-1\r\n"
    finally:
        conn.close()
    client = redis.Redis(port=aikv_module.port, protocol=3)
    assert client.set("resp3:x", "1") is True
    assert client.get("resp3:x") == b"1"
    client.close()


CLI_COMMANDS = [
    ["SET", "cli:a", "1"], ["GET", "cli:a"], ["INCR", "cli:a"], ["APPEND", "cli:a", "x"],
    ["GETRANGE", "cli:a", "0", "-1"], ["STRLEN", "cli:a"], ["EXISTS", "cli:a"],
    ["TYPE", "cli:a"], ["EXPIRE", "cli:a", "100"], ["TTL", "cli:a"], ["PERSIST", "cli:a"],
    ["RENAME", "cli:a", "cli:b"], ["MGET", "cli:a", "cli:b"], ["DEL", "cli:b"],
    ["INCRBYFLOAT", "cli:f", "1.5"], ["ECHO", "hello world"], ["PING"],
    ["SET", "cli:a", "1", "NX", "XX"], ["GET"], ["NOSUCHCMD", "x"],
]


def test_redis_cli_sees_what_it_sees_on_redis(aikv_module: ServerProcess,
                                              redis_module: ServerProcess) -> None:
    for cmd in CLI_COMMANDS:
        mine = redis_cli("-p", str(aikv_module.port), *cmd)
        theirs = redis_cli("-p", str(redis_module.port), *cmd)
        assert (mine.stdout, mine.returncode) == (theirs.stdout, theirs.returncode), cmd


def _write_keys(port: int, count: int, batch: int = 1000) -> None:
    client = redis.Redis(port=port, socket_timeout=60)
    for start in range(0, count, batch):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(count, start + batch)):
            if i % 10 == 0:
                pipe.set(f"key:{i}", f"value:{i}", ex=100_000)
            else:
                pipe.set(f"key:{i}", f"value:{i}")
        pipe.execute()  # acknowledged
    client.close()


def test_kill9_with_appendfsync_always_keeps_every_acknowledged_key(spawn) -> None:  # type: ignore[no-untyped-def]
    node = spawn("aikv", ["--appendfsync", "always"])
    count = 100_000
    _write_keys(node.port, count)
    node.kill9()
    node.start()
    client = node.client()
    assert client.dbsize() == count
    for start in range(0, count, 5000):
        keys = [f"key:{i}" for i in range(start, start + 5000)]
        values = client.mget(keys)
        assert values == [f"value:{i}".encode() for i in range(start, start + 5000)]
    for i in range(0, count, 997):
        ttl = client.ttl(f"key:{i}")
        assert (ttl > 99_000) if i % 10 == 0 else (ttl == -1), (i, ttl)


def test_kill9_with_everysec_loses_at_most_about_a_second(spawn) -> None:  # type: ignore[no-untyped-def]
    node = spawn("aikv")
    acked: list[tuple[int, float]] = []
    stop = threading.Event()

    def writer() -> None:
        client = redis.Redis(port=node.port, socket_timeout=5)
        i = 0
        try:
            while not stop.is_set():
                client.set(f"w:{i}", i)
                acked.append((i, time.monotonic()))
                i += 1
        except (redis.ConnectionError, redis.TimeoutError):
            pass

    thread = threading.Thread(target=writer)
    thread.start()
    wait_until(lambda: len(acked) > 2000, 30, what="writes")
    killed_at = time.monotonic()
    node.kill9()
    stop.set()
    thread.join(10)
    node.start()
    client = node.client()
    missing = [i for i, t in acked if t < killed_at - 1.5 and client.get(f"w:{i}") != str(i).encode()]
    assert missing == []
    # The store is consistent: what is there is readable, and counts match the keys.
    assert client.dbsize() == len(client.keys("w:*"))


def test_second_server_on_same_dir_refuses_and_touches_nothing(spawn, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = spawn("aikv", directory=tmp_path)
    first.client().set("mine", "1")
    before = sorted((p.name, p.stat().st_size) for p in (tmp_path / "lmdb").iterdir())
    second = ServerProcess("aikv", tmp_path)
    second.log_path = tmp_path / "second.log"
    second.start(wait=False)
    assert second.proc is not None
    code = second.proc.wait(timeout=30)
    assert code == 1
    assert "already used by another aikv-server process" in second.log()
    assert first.client().get("mine") == b"1"
    after = sorted((p.name, p.stat().st_size) for p in (tmp_path / "lmdb").iterdir())
    assert before == after


def test_bad_input_never_hurts_the_node(aikv_module: ServerProcess) -> None:
    rng = random.Random(1234)
    well_formed = [encode_command("SET", "fz", "1"), encode_command("GET", "fz"),
                   b"PING\r\n", b"*1\r\n$4\r\nPING\r\n"]
    for round_ in range(300):
        kind = rng.randrange(4)
        if kind == 0:
            data = rng.randbytes(rng.randrange(1, 200))
        elif kind == 1:
            base = bytearray(rng.choice(well_formed) * rng.randrange(1, 4))
            for _ in range(rng.randrange(1, 5)):
                base[rng.randrange(len(base))] = rng.randrange(256)
            data = bytes(base)
        elif kind == 2:
            data = b"*" + str(rng.choice([-2, 0, 1, 2**31, 2**40, 10**6])).encode() + b"\r\n$" + \
                str(rng.choice([-1, 0, 3, 2**31])).encode() + b"\r\nabc\r\n"
        else:
            data = rng.choice(well_formed)[: rng.randrange(1, 10)]
        with socket.create_connection(("127.0.0.1", aikv_module.port), timeout=5) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(2)
            try:
                while sock.recv(65536):
                    pass
            except (TimeoutError, ConnectionResetError):
                pass
        if round_ % 50 == 0:
            assert aikv_module.client().ping()
    healthy = aikv_module.client()
    assert healthy.set("after-fuzz", "ok") and healthy.get("after-fuzz") == b"ok"
    assert "Traceback" not in aikv_module.log_path.read_text(errors="replace")


def test_sigterm_shuts_down_cleanly_and_logs_like_redis(spawn) -> None:  # type: ignore[no-untyped-def]
    node = spawn("aikv")
    node.client().set("before-stop", "1")
    assert node.stop() == 0
    log = node.log()
    assert "Ready to accept connections" in log
    assert "ready to exit, bye bye" in log
    node.start()
    assert node.client().get("before-stop") == b"1"


def test_restart_with_a_million_keys_is_ready_fast(spawn, tmp_path) -> None:  # type: ignore[no-untyped-def]
    node = spawn("aikv", directory=tmp_path)
    payload_batches = 100
    per_batch = 10_000
    with socket.create_connection(("127.0.0.1", node.port), timeout=120) as sock:
        for b in range(payload_batches):
            args = ["MSET"]
            for i in range(b * per_batch, (b + 1) * per_batch):
                args += [f"m:{i}", "x"]
            sock.sendall(encode_command(*args))
            got = b""
            while not got.endswith(b"\r\n"):
                got += sock.recv(100)
            assert got == b"+OK\r\n"
    assert node.client().dbsize() == payload_batches * per_batch
    node.stop()
    # Time from exec to the first PONG: interpreter start-up included.
    started = time.monotonic()
    node.start(timeout=30)
    ready = time.monotonic() - started
    assert node.client().dbsize() == 1_000_000
    print(f"restart with 1,000,000 keys: first PONG after {ready:.3f}s")
    # Python start-up and imports take a few hundred ms of this; opening LMDB is ~ms.
    assert ready < 2.0
    opened = [line for line in node.log().splitlines() if "opened in" in line][-1]
    seconds = float(opened.split("opened in ")[1].split()[0])
    assert seconds < 1.0, opened


def test_cli_flags_and_config_file(tmp_path) -> None:
    conf = tmp_path / "aikv.conf"
    conf.write_text("# comment\nport 0\nappendfsync no\ndatabases 4\n")
    result = subprocess.run([sys.executable, "-m", "aikv.cli", "--help"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0 and "--appendfsync" in result.stdout
    bad = tmp_path / "bad.conf"
    bad.write_text("frobnicate yes\n")
    result = subprocess.run([sys.executable, "-m", "aikv.cli", str(bad), "--dir",
                             str(tmp_path / "d")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "Bad directive" in result.stderr
    assert not (tmp_path / "d").exists()
    proc = ServerProcess("aikv", tmp_path / "node", args=[str(conf)])
    proc.port = int(os.environ.get("_UNUSED", "0")) or proc.port
    proc.extra_args = [str(conf)]
    try:
        proc.start()
        client = proc.client()
        with pytest.raises(redis.ResponseError, match="DB index is out of range"):
            client.execute_command("SELECT", "4")
        assert client.execute_command("SELECT", "3") in (b"OK", True, "OK")
    finally:
        proc.stop()


@pytest.mark.parametrize("argv", [
    ["--port"],
    ["--port", "6380", "--loglevel"],
    ["--port", "6379", "6380"],
    ["--port", "--loglevel", "verbose"],
    ["--port", "--bla", "--loglevel", "verbose"],
    ["--logfile", "--my--log--file", "--loglevel", "--bla"],
    ["--shutdown-on-sigint"],
    ["--shutdown-on-sigint", "now force", "--shutdown-on-sigterm"],
    ["--replicaof", "127.0.0.1", "abc"],
    ["--replicaof", "--127.0.0.1", "abc"],
    ["--replicaof", "--127.0.0.1", "--abc"],
    ["--maxmemory", "1mb", "--hz 'x y'"],
    ["--nosuch", "1"],
    ["--cluster-enabled", "yes", "--replicaof", "127.0.0.1", "6379"],
    ["--save", "900 1", "--maxmemory-policy", "sometimes"],
    ["--logfile", "/nonexistent/dir/server.log"],
])
def test_command_line_errors_as_redis_server_reports_them(argv: list[str],
                                                          tmp_path: Path) -> None:
    """introspection.tcl's command-line error cases and a few more: the same report,
    byte for byte, as redis-server's (whose name and version aside)."""
    ours = subprocess.run([sys.executable, "-m", "aikv.cli", *argv], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    theirs = subprocess.run(["redis-server", *argv], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.rstrip("\n").replace(f"AiKv {__version__}", "Redis 7.0.15") == \
        theirs.stderr.rstrip("\n")
