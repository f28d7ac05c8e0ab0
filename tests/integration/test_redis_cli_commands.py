"""Every command of the node issue through the real redis-cli, against AiKv and against a
real redis-server: the same output, or (for replies that carry run-time values) the same
shape."""

from __future__ import annotations

import re

import pytest

from tests.harness import ServerProcess, redis_cli

# Run in order against a fresh database of each server; outputs must be identical.
SAME_OUTPUT: list[list[str]] = [
    ["FLUSHALL"], ["SET", "s", "v"], ["SET", "s", "w", "GET"], ["SET", "t", "1", "EX", "100", "NX"],
    ["SETNX", "s", "x"], ["SETEX", "e", "100", "v"], ["PSETEX", "pe", "100000", "v"],
    ["GET", "s"], ["MGET", "s", "t", "nokey"], ["MSET", "a", "1", "b", "2"], ["MSETNX", "a", "1", "c", "3"],
    ["GETSET", "a", "10"], ["GETDEL", "b"], ["GETEX", "a", "PERSIST"], ["APPEND", "a", "5"],
    ["STRLEN", "a"], ["INCR", "a"], ["DECR", "a"], ["INCRBY", "a", "10"], ["DECRBY", "a", "3"],
    ["INCRBYFLOAT", "f", "2.5"], ["GETRANGE", "s", "0", "-1"], ["SETRANGE", "s", "1", "xyz"],
    ["SUBSTR", "s", "0", "1"],
    ["DEL", "c"], ["UNLINK", "nokey"], ["EXISTS", "a", "s"], ["TYPE", "a"], ["TOUCH", "a", "s"],
    ["EXPIRE", "a", "100", "NX"], ["PEXPIRE", "a", "200000", "GT"], ["EXPIREAT", "s", "99999999999"],
    ["PEXPIREAT", "s", "99999999999000", "XX"], ["TTL", "a"], ["EXPIRETIME", "s"],
    ["PEXPIRETIME", "s"], ["PERSIST", "s"], ["TTL", "s"], ["RENAME", "a", "a2"],
    ["RENAMENX", "a2", "s"], ["COPY", "a2", "a3"], ["KEYS", "a3*"], ["DBSIZE"],
    ["OBJECT", "ENCODING", "a3"], ["SELECT", "1"], ["ECHO", "hi"], ["PING"], ["PING", "x"],
    ["MULTI"], ["DISCARD"], ["UNWATCH"], ["WATCH", "a"], ["FLUSHDB", "SYNC"], ["DBSIZE"],
    ["CONFIG", "GET", "appendfsync"], ["CONFIG", "SET", "appendfsync", "everysec"],
    ["CLIENT", "SETNAME", "cli"], ["CLIENT", "GETNAME"], ["AUTH", "x"], ["HELLO", "4"],
    ["COMMAND", "GETKEYS", "SET", "k", "v"], ["COMMAND", "INFO", "get"], ["SCAN", "0", "COUNT", "1000"],
]

# Run-time values: compare the shape only.
SHAPES: list[tuple[list[str], str]] = [
    (["TIME"], r"^\d+\n\d+\n$"),
    (["LASTSAVE"], r"^\d+\n$"),
    (["SAVE"], r"^OK\n$"),
    (["BGSAVE"], r"^Background saving started\n$"),
    (["CLIENT", "ID"], r"^\d+\n$"),
    (["CLIENT", "INFO"], r"^id=\d+ addr=127\.0\.0\.1:\d+ laddr=.* resp=2\n$"),
    (["CLIENT", "LIST"], r"id=\d+ addr=.*cmd=client\|list"),
    (["CLIENT", "KILL", "ID", "999999"], r"^0\n$"),
    (["INFO", "server"], r"# Server\r?\nredis_version:7\.0\.15"),
    (["INFO", "keyspace"], r"# Keyspace"),
    (["COMMAND", "COUNT"], r"^\d+\n$"),
    (["COMMAND", "DOCS", "get"], r"group\nstring"),
    (["RANDOMKEY"], r"^\S*\n$"),
]


def run_all(port: int) -> list[tuple[str, int]]:
    return [(r.stdout, r.returncode) for r in (redis_cli("-p", str(port), *cmd)
                                                for cmd in SAME_OUTPUT)]


def test_same_output_as_redis(spawn) -> None:  # type: ignore[no-untyped-def]
    aikv = spawn("aikv")
    real = spawn("redis")
    mine, theirs = run_all(aikv.port), run_all(real.port)
    diffs = [(cmd, m, t) for cmd, m, t in zip(SAME_OUTPUT, mine, theirs, strict=True) if m != t]
    assert not diffs, "\n".join(map(repr, diffs))


@pytest.mark.parametrize("cmd,shape", SHAPES, ids=[" ".join(c) for c, _ in SHAPES])
def test_shapes(aikv_module: ServerProcess, redis_module: ServerProcess, cmd: list[str],
                shape: str) -> None:
    redis_cli("-p", str(aikv_module.port), "SET", "somekey", "1")
    redis_cli("-p", str(redis_module.port), "SET", "somekey", "1")
    for proc in (aikv_module, redis_module):
        result = redis_cli("-p", str(proc.port), *cmd)
        assert result.returncode == 0
        assert re.search(shape, result.stdout), (proc.kind, cmd, result.stdout[:300])


def test_shutdown_through_redis_cli(spawn) -> None:  # type: ignore[no-untyped-def]
    node = spawn("aikv")
    redis_cli("-p", str(node.port), "SET", "kept", "1")
    result = redis_cli("-p", str(node.port), "SHUTDOWN")
    assert result.returncode in (0, 1)  # redis-cli reports the closed connection
    assert node.proc is not None and node.proc.wait(timeout=20) == 0
    node.start()
    assert node.client().get("kept") == b"1"
