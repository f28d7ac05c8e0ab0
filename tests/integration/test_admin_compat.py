"""Admin commands a Redis master without replicas or modules answers: MODULE, REPLICAOF /
SLAVEOF, FAILOVER, BGREWRITEAOF and PFSELFTEST, against a real redis-server 7.0 (reply
bytes compared), plus what AiKv must answer differently (it cannot become a replica)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.differ import Differ, RawConnection, parse
from tests.harness import ServerProcess, wait_until

SAME_REPLY: list[tuple[str, ...]] = [
    ("module",), ("module", "foo"), ("module", "help"), ("module", "help", "x"),
    ("module", "list"), ("module", "list", "x"), ("module", "load"),
    ("module", "load", "/nonexistent.so"), ("module", "loadex", "/x.so"),
    ("module", "loadex", "/x.so", "CONFIG", "a", "b"), ("module", "unload"),
    ("module", "unload", "foo"), ("module", "unload", "a", "b"),
    ("config", "get", "enable-module-command"),
    ("config", "set", "enable-module-command", "yes"),
    ("replicaof",), ("replicaof", "a"), ("replicaof", "a", "b", "c"),
    ("replicaof", "no", "one"), ("REPLICAOF", "NO", "ONE"), ("slaveof", "no", "one"),
    ("replicaof", "no", "two"), ("replicaof", "127.0.0.1", "notaport"),
    ("replicaof", "127.0.0.1", "-1"), ("replicaof", "127.0.0.1", "70000"),
    ("replicaof", "127.0.0.1", "1x"), ("replicaof", "127.0.0.1", "01"),
    ("slaveof", "127.0.0.1", "notaport"),
    ("failover",), ("failover", "abort"), ("failover", "ABORT"), ("failover", "x"),
    ("failover", "to"), ("failover", "to", "h"), ("failover", "to", "h", "notaport"),
    ("failover", "to", "h", "1"), ("failover", "to", "h", "70000"),
    ("failover", "to", "h", "1", "force"), ("failover", "force"),
    ("failover", "force", "force"), ("failover", "timeout"),
    ("failover", "timeout", "abc"), ("failover", "timeout", "0"),
    ("failover", "timeout", "-1"), ("failover", "timeout", "10"),
    ("failover", "timeout", "5", "timeout", "6"), ("failover", "timeout", "0", "timeout", "6"),
    ("failover", "abort", "x"), ("failover", "abort", "timeout", "5"),
    ("failover", "abort", "to", "h", "1"), ("failover", "to", "h", "1", "to", "h", "2"),
    ("failover", "TO", "h", "1", "FORCE", "TIMEOUT", "10"),
    ("failover", "to", "h", "1", "timeout", "-5", "force"),
    ("bgrewriteaof", "x"), ("pfselftest", "x"),
]


@pytest.mark.parametrize("args", SAME_REPLY, ids=lambda a: " ".join(a))
def test_same_reply_as_redis(differ: Differ, args: tuple[str, ...]) -> None:
    differ.check(*args)


def _subcommands_unordered(raw: bytes) -> object:
    """COMMAND INFO of a container: Redis lists its subcommands in its dict's order."""
    [entry] = parse(raw)
    return entry[:9] + [sorted(entry[9], key=repr)]


def test_command_info_and_docs_match(differ: Differ) -> None:
    differ.check("command", "info", "module", normalize=_subcommands_unordered)
    for name in ("module|list", "module|load", "module|loadex", "module|unload",
                 "module|help", "replicaof", "slaveof", "failover", "bgrewriteaof",
                 "pfselftest"):
        differ.check("command", "info", name)
        differ.check("command", "docs", name)


def test_pfselftest_passes(differ: Differ) -> None:
    assert differ.check("pfselftest") == b"+OK\r\n"


def test_bgrewriteaof_reply(differ: Differ) -> None:
    assert differ.check("bgrewriteaof") == b"+Background append only file rewriting started\r\n"


def test_bgrewriteaof_checkpoints_and_counts(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv")
    r = node.client()
    before = r.info("persistence")
    assert before["aof_rewrites"] == 0 and before["aof_last_rewrite_time_sec"] == -1
    r.set("k", "v")
    assert r.bgrewriteaof() is True  # redis-py's reading of the status line
    after = r.info("persistence")
    assert after["aof_rewrites"] == 1
    assert after["aof_last_bgrewrite_status"] == "ok"
    assert after["aof_last_rewrite_time_sec"] >= 0
    # What was written before the rewrite is in LMDB itself: it survives a kill -9 with
    # the tick log files removed (nothing left to replay).
    node.kill9()
    for log_file in node.dir.glob("ticklog-*.log"):
        log_file.unlink()
    node.start()
    assert node.client().get("k") == b"v"


def test_bgrewriteaof_in_multi_is_scheduled(differ: Differ,
                                           spawn: Callable[..., ServerProcess]) -> None:
    """Inside MULTI/EXEC Redis only schedules the rewrite (its reply says so) and its
    cron starts it; AiKv's cron runs the checkpoint the same way."""
    differ.check("multi")
    differ.check("set", "foo", "bar")
    assert differ.check("bgrewriteaof") == b"+QUEUED\r\n"
    assert differ.check("exec") == (
        b"*2\r\n+OK\r\n+Background append only file rewriting scheduled\r\n")
    node = spawn("aikv")
    conn = RawConnection(node.port)
    for command in (("MULTI",), ("SET", "k", "v"), ("BGREWRITEAOF",)):
        conn.call(*command)
    conn.call("EXEC")
    r = node.client()
    wait_until(lambda: r.info("persistence")["aof_rewrites"] == 1, timeout=10,
               what="the scheduled rewrite")
    assert r.info("persistence")["aof_rewrite_scheduled"] == 0
    conn.close()


def test_cluster_mode_refuses_replicaof_and_failover(cluster_differ: Differ) -> None:
    for args in (("replicaof", "no", "one"), ("replicaof", "127.0.0.1", "1"),
                 ("failover",), ("failover", "abort"), ("failover", "x")):
        cluster_differ.check(*args)


def _script_counts(raw: bytes) -> dict[str, str]:
    fields = dict(line.split(":", 1) for line in parse(raw).decode().split("\r\n")
                  if ":" in line)
    return {name: fields[name] for name in
            ("number_of_cached_scripts", "number_of_functions", "number_of_libraries")}


def test_info_counts_scripts_and_functions(differ: Differ) -> None:
    differ.both("script", "flush")
    differ.both("function", "flush")
    assert _script_counts(differ.check("info", "memory", normalize=_script_counts)) == {
        "number_of_cached_scripts": "0", "number_of_functions": "0",
        "number_of_libraries": "0"}
    differ.check("script", "load", "return 1")
    differ.check("eval", "return 2", "0")
    differ.check("function", "load", "#!lua name=lib1\n"
                 "redis.register_function('f1', function() return 1 end)\n"
                 "redis.register_function('f2', function() return 2 end)")
    differ.check("function", "load", "#!lua name=lib2\n"
                 "redis.register_function('f3', function() return 3 end)")
    assert _script_counts(differ.check("info", "memory", normalize=_script_counts)) == {
        "number_of_cached_scripts": "2", "number_of_functions": "3",
        "number_of_libraries": "2"}
    differ.both("function", "flush")
