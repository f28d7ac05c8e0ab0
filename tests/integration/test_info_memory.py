"""INFO memory against a real aikv-server and redis-server 7.0.15: the same fields in the
same order and formats, values that add up as Redis's do, and values that move with what
they measure (script caches, client output, replication, the tick log, lazy frees)."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable

import pytest
import redis

from tests.differ import Differ, RawConnection, parse
from tests.harness import ServerProcess, have_redis_server, wait_until

needs_redis = pytest.mark.skipif(not have_redis_server(), reason="redis-server not installed")

_INT = r"\d+"
_SIGNED = r"-?\d+"
_PERC = r"\d+\.\d\d%"
_RATIO = r"\d+\.\d\d"
_HUMAN = r"\d+B|\d+\.\d\d[KMGTP]"
# Each field's printf format in genRedisInfoString (7.0.15), as a pattern.
FORMATS = {
    "used_memory": _INT, "used_memory_human": _HUMAN, "used_memory_rss": _INT,
    "used_memory_rss_human": _HUMAN, "used_memory_peak": _INT,
    "used_memory_peak_human": _HUMAN, "used_memory_peak_perc": _PERC,
    "used_memory_overhead": _INT, "used_memory_startup": _INT, "used_memory_dataset": _INT,
    "used_memory_dataset_perc": _PERC, "allocator_allocated": _INT,
    "allocator_active": _INT, "allocator_resident": _INT, "total_system_memory": _INT,
    "total_system_memory_human": _HUMAN, "used_memory_lua": _SIGNED,
    "used_memory_vm_eval": _SIGNED, "used_memory_lua_human": _HUMAN,
    "used_memory_scripts_eval": _SIGNED, "number_of_cached_scripts": _INT,
    "number_of_functions": _INT, "number_of_libraries": _INT,
    "used_memory_vm_functions": _SIGNED, "used_memory_vm_total": _SIGNED,
    "used_memory_vm_total_human": _HUMAN, "used_memory_functions": _SIGNED,
    "used_memory_scripts": _SIGNED, "used_memory_scripts_human": _HUMAN,
    "maxmemory": _SIGNED, "maxmemory_human": _HUMAN, "maxmemory_policy": r"[a-z-]+",
    "allocator_frag_ratio": _RATIO, "allocator_frag_bytes": _INT,
    "allocator_rss_ratio": _RATIO, "allocator_rss_bytes": _SIGNED,
    "rss_overhead_ratio": _RATIO, "rss_overhead_bytes": _SIGNED,
    "mem_fragmentation_ratio": _RATIO, "mem_fragmentation_bytes": _SIGNED,
    "mem_not_counted_for_evict": _INT, "mem_replication_backlog": _INT,
    "mem_total_replication_buffers": _INT, "mem_clients_slaves": _INT,
    "mem_clients_normal": _INT, "mem_cluster_links": _INT, "mem_aof_buffer": _INT,
    "mem_allocator": r"\S+", "active_defrag_running": r"[01]",
    "lazyfree_pending_objects": _INT, "lazyfreed_objects": _INT,
}
# Each *_human field and the byte count it shows.
HUMAN_OF = {
    "used_memory_human": ("used_memory",), "used_memory_rss_human": ("used_memory_rss",),
    "used_memory_peak_human": ("used_memory_peak",),
    "total_system_memory_human": ("total_system_memory",),
    "used_memory_lua_human": ("used_memory_lua",),
    "used_memory_vm_total_human": ("used_memory_vm_eval", "used_memory_vm_functions"),
    "used_memory_scripts_human": ("used_memory_scripts_eval", "used_memory_functions"),
    "maxmemory_human": ("maxmemory",),
}


def human(n: int) -> str:
    """Redis's bytesToHuman, written out as server.c has it."""
    for power, unit in ((5, "P"), (4, "T"), (3, "G"), (2, "M"), (1, "K")):
        if 1024**power <= n < 1024 ** (power + 1):
            return "%.2f%s" % (n / 1024**power, unit)
    return "%dB" % n


def memory_lines(port: int) -> list[tuple[str, str]]:
    conn = RawConnection(port)
    try:
        text = parse(conn.call("info", "memory")).decode()
    finally:
        conn.close()
    assert text.startswith("# Memory\r\n")
    pairs = (line.split(":", 1) for line in text.split("\r\n")[1:] if line)
    return [(name, value) for name, value in pairs]


def memory(port: int) -> dict[str, str]:
    return dict(memory_lines(port))


def check_formats(fields: dict[str, str]) -> None:
    for name, value in fields.items():
        assert re.fullmatch(FORMATS[name], value), (name, value)
    for name, parts in HUMAN_OF.items():
        assert fields[name] == human(sum(int(fields[p]) for p in parts)), name


def check_sums(f: dict[str, str]) -> None:
    """What AiKv's fields add up to, as getMemoryOverheadData adds Redis's."""
    n = {k: int(v) for k, v in f.items() if re.fullmatch(_SIGNED, v)}
    used, startup, overhead = n["used_memory"], n["used_memory_startup"], \
        n["used_memory_overhead"]
    assert overhead == (startup + n["mem_replication_backlog"] + n["mem_clients_slaves"]
                        + n["mem_clients_normal"] + n["mem_cluster_links"]
                        + n["mem_aof_buffer"] + n["used_memory_scripts_eval"]
                        + n["used_memory_functions"])
    assert n["used_memory_dataset"] == max(0, used - overhead)
    net = used - startup if used > startup else 1
    assert f["used_memory_dataset_perc"] == "%.2f%%" % (n["used_memory_dataset"] * 100 / net)
    assert n["used_memory_peak"] >= used
    assert f["used_memory_peak_perc"] == "%.2f%%" % (used * 100 / n["used_memory_peak"])
    assert n["used_memory_lua"] == n["used_memory_vm_eval"]
    assert n["used_memory_vm_total"] == n["used_memory_vm_eval"] + n["used_memory_vm_functions"]
    assert n["used_memory_scripts"] == n["used_memory_scripts_eval"] + n["used_memory_functions"]
    assert n["mem_total_replication_buffers"] == \
        n["mem_replication_backlog"] + n["mem_clients_slaves"]
    assert n["mem_not_counted_for_evict"] == n["mem_clients_slaves"] + n["mem_aof_buffer"]
    # libc-style allocator figures (see aikv/info.py): they derive from used_memory.
    allocated, active, resident = (n["allocator_allocated"], n["allocator_active"],
                                   n["allocator_resident"])
    rss = n["used_memory_rss"]
    assert allocated == used and active == resident == rss
    for ratio, num, den in (("allocator_frag", active, allocated),
                            ("allocator_rss", resident, active),
                            ("rss_overhead", rss, resident)):
        assert f[ratio + "_ratio"] == "%.2f" % (num / den), ratio
        assert n[ratio + "_bytes"] == num - den, ratio
    assert f["mem_fragmentation_ratio"] == "%.2f" % (rss / used)
    assert n["mem_fragmentation_bytes"] == rss - used


# ---------------------------------------------------------------------- fields
@needs_redis
def test_fields_and_order_equal_redis(aikv_module: ServerProcess,
                                      redis_module: ServerProcess) -> None:
    mine = [name for name, _ in memory_lines(aikv_module.port)]
    theirs = [name for name, _ in memory_lines(redis_module.port)]
    assert mine == theirs
    assert sorted(theirs) == sorted(FORMATS)  # the format table covers Redis's fields


@needs_redis
def test_values_have_redis_formats(aikv_module: ServerProcess,
                                   redis_module: ServerProcess) -> None:
    check_formats(memory(redis_module.port))  # the table, checked on the oracle
    check_formats(memory(aikv_module.port))


def test_values_add_up(r: redis.Redis, aikv_module: ServerProcess) -> None:
    r.set("k", "v" * 10000)
    r.script_load("return 1")
    check_sums(memory(aikv_module.port))
    fields = memory(aikv_module.port)
    assert int(fields["used_memory_startup"]) > 0
    assert fields["active_defrag_running"] == "0"
    assert memory(aikv_module.port)["used_memory_startup"] == fields["used_memory_startup"]


# ---------------------------------------------------------------------- scripts
def _scripts(raw: bytes) -> dict[str, str]:
    fields = dict(line.split(":", 1) for line in parse(raw).decode().split("\r\n")
                  if ":" in line)
    return {name: fields[name] for name in
            ("used_memory_scripts_eval", "number_of_cached_scripts",
             "used_memory_functions", "used_memory_scripts", "used_memory_scripts_human")}


@needs_redis
def test_script_caches_move_as_redis_s(differ: Differ) -> None:
    """SCRIPT LOAD / FLUSH and FUNCTION LOAD / FLUSH change the cache fields by what the
    same change costs in Redis (at most 4 scripts: a fifth makes Redis rehash its dict,
    counting both tables until the rehash is done)."""
    differ.both("script", "flush")
    differ.both("function", "flush")
    empty = _scripts(differ.check("info", "memory", normalize=_scripts))
    assert empty["used_memory_scripts_eval"] == "0"
    differ.check("script", "load", "return 1")
    differ.check("eval", "return 'a longer script body, kept in its own string' .. 1", "0")
    loaded = _scripts(differ.check("info", "memory", normalize=_scripts))
    assert int(loaded["used_memory_scripts_eval"]) > 0
    differ.check("function", "load", "#!lua name=memlib\n"
                 "redis.register_function{function_name='f1', description='one',"
                 " callback=function() return 1 end}\n"
                 "redis.register_function('f2', function() return 2 end)")
    with_lib = _scripts(differ.check("info", "memory", normalize=_scripts))
    assert int(with_lib["used_memory_functions"]) > int(empty["used_memory_functions"])
    differ.check("script", "flush")
    differ.check("function", "flush")
    assert _scripts(differ.check("info", "memory", normalize=_scripts)) == empty


# ---------------------------------------------------------------------- clients
def test_client_output_buffer_counts_in_mem_clients_normal(r: redis.Redis,
                                                           aikv_module: ServerProcess) -> None:
    r.set("big", b"x" * (4 << 20))
    before = int(memory(aikv_module.port)["mem_clients_normal"])
    assert before < 1 << 20
    sock = socket.create_connection(("127.0.0.1", aikv_module.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.sendall(b"GET big\r\nGET big\r\n")  # read by nobody: the replies wait here
        wait_until(lambda: int(memory(aikv_module.port)["mem_clients_normal"]) > 1 << 20,
                   10, 0.05, "the unread reply to count in mem_clients_normal")
        check_sums(memory(aikv_module.port))
    finally:
        sock.close()
    wait_until(lambda: int(memory(aikv_module.port)["mem_clients_normal"]) < 1 << 20,
               10, 0.05, "the closed client's buffer to go")


# ---------------------------------------------------------------------- replication
def test_replica_makes_backlog_and_replica_buffers(spawn: Callable[..., ServerProcess]) -> None:
    master = spawn("aikv")
    r = master.client()
    # An RDB file larger than the kernel's socket buffers take (a few MB on loopback),
    # which the silent replica below never reads.
    r.set("big", os.urandom(16 << 20))
    fields = memory(master.port)
    assert fields["mem_replication_backlog"] == fields["mem_clients_slaves"] == "0"
    sock = socket.create_connection(("127.0.0.1", master.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.sendall(b"REPLCONF listening-port 4321\r\n")
        assert sock.recv(100) == b"+OK\r\n"
        sock.sendall(b"PSYNC ? -1\r\n")
        wait_until(lambda: r.info("replication")["connected_slaves"] == 1, 10, 0.05,
                   "the replica")
        for i in range(50):
            r.set(f"k{i}", "v" * 100)
        histlen = r.info("replication")["repl_backlog_histlen"]
        assert histlen > 5000
        fields = memory(master.port)
        assert int(fields["mem_replication_backlog"]) >= histlen
        assert int(fields["mem_clients_slaves"]) > 1 << 20  # the unread RDB file
        assert int(fields["mem_not_counted_for_evict"]) >= int(fields["mem_clients_slaves"])
        check_sums(fields)
    finally:
        sock.close()
        r.close()


# ---------------------------------------------------------------------- tick log
def test_tick_log_bytes_count_in_mem_aof_buffer(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv", ["--set", "lmdb-tick-log=yes",
                          "--set", "lmdb-tick-log-checkpoint-ms=3600000"])
    r = node.client()
    r.set("first", "")  # the first tick checkpoints; the next checkpoint is an hour away
    before = int(memory(node.port)["mem_aof_buffer"])
    r.set("k", b"v" * 100_000)
    fields = memory(node.port)
    assert int(fields["mem_aof_buffer"]) >= before + 100_000
    assert fields["mem_not_counted_for_evict"] == fields["mem_aof_buffer"]
    check_sums(fields)
    r.bgrewriteaof()  # a checkpoint: the logged ticks are in LMDB, no longer kept
    wait_until(lambda: memory(node.port)["mem_aof_buffer"] == "0", 10, 0.05,
               "the checkpoint to empty the tick log buffer")
    r.close()


# ---------------------------------------------------------------------- lazy free
def test_reclaimed_collections_count_as_lazyfreed(r: redis.Redis) -> None:
    wait_until(lambda: r.info("memory")["lazyfree_pending_objects"] == 0, 30, 0.05,
               "earlier tests' collections to be reclaimed")
    r.config_resetstat()
    assert r.info("memory")["lazyfreed_objects"] == 0
    # Counted as Redis counts what its lazy-free thread freed: only collections of
    # more than 64 elements (LAZYFREE_THRESHOLD); the big hash is reclaimed over
    # several passes (2,000 records each) and still counts once.
    r.hset("h", mapping={f"f{i}": "v" for i in range(100)})
    r.hset("big", mapping={f"f{i}": "v" for i in range(4500)})
    r.rpush("l", *range(10))
    r.sadd("s", *range(64))
    r.xadd("small-stream", {"a": "b"})
    r.xgroup_create("small-stream", "bla", "$")
    r.xgroup_destroy("small-stream", "bla")
    r.delete("h", "l", "big")
    r.unlink("s", "small-stream")
    wait_until(lambda: r.info("memory")["lazyfree_pending_objects"] == 0, 30, 0.05,
               "the background reclaim")
    assert r.info("memory")["lazyfreed_objects"] == 2
    r.config_resetstat()  # Redis's resetServerStats zeroes it too
    assert r.info("memory")["lazyfreed_objects"] == 0


# ---------------------------------------------------------------------- MEMORY STATS
def test_memory_stats_shares_info_numbers(r: redis.Redis, aikv_module: ServerProcess) -> None:
    """The fields MEMORY STATS has in common with INFO memory carry the same numbers:
    both in one transaction, retried because RSS can move by a page in between."""
    r.set("k", "v" * 10000)
    conn = RawConnection(aikv_module.port)

    def same() -> bool:
        conn.call("multi")
        conn.call("info", "memory")
        conn.call("memory", "stats")
        text, flat = parse(conn.call("exec"))
        fields = dict(line.split(":", 1) for line in text.decode().split("\r\n")
                      if ":" in line)
        stats = dict(zip(flat[::2], flat[1::2], strict=True))
        return (stats[b"total.allocated"] == int(fields["used_memory"])
                and stats[b"peak.allocated"] == int(fields["used_memory_peak"])
                and stats[b"dataset.bytes"] == int(fields["used_memory_dataset"])
                and stats[b"keys.count"] == 1)

    try:
        wait_until(same, 10, 0.01, "MEMORY STATS and INFO memory to agree")
    finally:
        conn.close()
