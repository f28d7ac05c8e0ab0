"""INFO's memory section, in process: Redis 7.0.15's fields in its order, the sizes the
script caches are given (Redis's own accounting, checked against numbers a redis-server
7.0.15 printed), and the sums that tie the fields together."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aikv import info
from aikv.commands.functions import functions_of
from aikv.commands.scripting import engine_of
from aikv.config import Config
from aikv.server import Server

# genRedisInfoString's "# Memory" in 7.0.15, in order.
REDIS_MEMORY_FIELDS = """
used_memory used_memory_human used_memory_rss used_memory_rss_human used_memory_peak
used_memory_peak_human used_memory_peak_perc used_memory_overhead used_memory_startup
used_memory_dataset used_memory_dataset_perc allocator_allocated allocator_active
allocator_resident total_system_memory total_system_memory_human used_memory_lua
used_memory_vm_eval used_memory_lua_human used_memory_scripts_eval number_of_cached_scripts
number_of_functions number_of_libraries used_memory_vm_functions used_memory_vm_total
used_memory_vm_total_human used_memory_functions used_memory_scripts
used_memory_scripts_human maxmemory maxmemory_human maxmemory_policy allocator_frag_ratio
allocator_frag_bytes allocator_rss_ratio allocator_rss_bytes rss_overhead_ratio
rss_overhead_bytes mem_fragmentation_ratio mem_fragmentation_bytes
mem_not_counted_for_evict mem_replication_backlog mem_total_replication_buffers
mem_clients_slaves mem_clients_normal mem_cluster_links mem_aof_buffer mem_allocator
active_defrag_running lazyfree_pending_objects lazyfreed_objects
""".split()

LIBRARY = (b"#!lua name=mylib\n"
           b"redis.register_function('myfunc', function(keys, args) return 1 end)")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    config = Config()
    config.set("dir", str(tmp_path), startup=True)
    srv = Server(config)
    srv.open_storage()
    try:
        yield srv
    finally:
        srv.store.close()


def memory(server: Server) -> dict[str, object]:
    return dict(info._memory(server))


def num(fields: dict[str, object], name: str) -> int:
    return int(str(fields[name]))


def test_fields_are_redis_fields_in_redis_order(server: Server) -> None:
    assert [name for name, _ in info._memory(server)] == REDIS_MEMORY_FIELDS


def test_bytes_to_human_is_redis_bytes_to_human() -> None:
    cases = {0: "0B", 1023: "1023B", 1024: "1.00K", 1048575: "1024.00K",
             1048576: "1.00M", 10**9: "953.67M", 31744: "31.00K", 1024**5: "1.00P",
             1024**6 - 1: "1024.00P", 1024**6: f"{1024**6}B"}
    assert {n: info.bytes_to_human(n) for n in cases} == cases


def test_jemalloc_size_classes() -> None:
    sizes = {1: 8, 8: 8, 9: 16, 28: 32, 44: 48, 90: 96, 128: 128, 129: 160, 256: 256,
             257: 320, 1025: 1280, 16385: 20480}
    assert {n: info.jemalloc_size(n) for n in sizes} == sizes


def test_script_cache_sized_as_redis_sizes_it(server: Server) -> None:
    # redis-server 7.0.15 printed these for the same cache contents.
    assert memory(server)["used_memory_scripts_eval"] == 0
    engine = engine_of(server)
    engine.load(b"return 1")
    assert memory(server)["used_memory_scripts_eval"] == 136
    engine.load(b"return " + b"1+" * 40 + b"1")  # 88 bytes: its own sds, not embedded
    assert memory(server)["used_memory_scripts_eval"] == 320
    engine.flush()
    assert memory(server)["used_memory_scripts_eval"] == 0


def test_function_libraries_sized_as_redis_sizes_them(server: Server) -> None:
    assert memory(server)["used_memory_functions"] == 200  # the engine, no library
    functions_of(server).create(LIBRARY, False)
    assert memory(server)["used_memory_functions"] == 456
    functions_of(server).flush()
    assert memory(server)["used_memory_functions"] == 200


def test_lua_state_measured_only_once_built(server: Server) -> None:
    fields = memory(server)
    assert fields["used_memory_vm_eval"] == fields["used_memory_vm_functions"] == 0
    assert server.scripting is None  # INFO built no Lua state
    engine_of(server)
    fields = memory(server)
    # (Redis's test suite checks used_memory_lua stays under 100 KB after 10,000 EVALs.)
    assert 10_000 < num(fields, "used_memory_vm_eval") < 100_000
    assert fields["used_memory_lua"] == fields["used_memory_vm_eval"]
    assert fields["used_memory_vm_functions"] == 0
    functions_of(server)
    fields = memory(server)
    assert num(fields, "used_memory_vm_functions") > 10_000
    assert num(fields, "used_memory_vm_total") == \
        num(fields, "used_memory_vm_eval") + num(fields, "used_memory_vm_functions")


def test_overhead_and_dataset_add_up(server: Server) -> None:
    engine_of(server).load(b"return 1")
    use = info.memory_use(server)
    parts = (use.startup, use.repl_backlog, use.clients_slaves, use.clients_normal,
             use.cluster_links, use.aof_buffer, use.scripts_eval, use.functions_caches)
    assert use.overhead == sum(parts)
    assert use.dataset == max(0, use.used - use.overhead)
    assert use.startup > 0  # taken by the first INFO when the server was not started
    assert use.not_counted_for_evict == use.clients_slaves + use.aof_buffer
    assert use.replication_buffers == use.repl_backlog + use.clients_slaves
    # The maxmemory check's short way to the same number (RSS may move by a few pages
    # between the two readings).
    assert abs(info.memory_for_eviction(server)
               - (use.used - use.not_counted_for_evict)) < 1 << 20


def test_log_buffer_counts_unwritten_and_uncheckpointed_ticks(tmp_path: Path) -> None:
    config = Config()
    config.set("dir", str(tmp_path), startup=True)
    config.set("lmdb-tick-log", "yes", startup=True)
    config.set("lmdb-tick-log-checkpoint-ms", "3600000", startup=True)
    srv = Server(config)
    srv.open_storage()
    store = srv.store
    try:
        assert store.tick_log
        srv.databases[0].set_string(b"first", b"")
        store.end_tick()  # the first tick checkpoints: the next one is an hour away
        assert store.log_buffer_bytes() == 0
        srv.databases[0].set_string(b"k", b"v" * 1000)
        assert store.log_buffer_bytes() >= 1000  # recorded, not yet written
        store.end_tick()
        logged = store.log_buffer_bytes()
        assert logged >= 1000  # written, kept until the checkpoint
        store.checkpoint()
        assert store.log_buffer_bytes() == 0
    finally:
        store.close()


def test_resetstat_zeroes_lazyfreed_objects(server: Server) -> None:
    server.store.reclaimed_collections = 3
    assert memory(server)["lazyfreed_objects"] == 3
    info.reset_stats(server)
    assert memory(server)["lazyfreed_objects"] == 0
