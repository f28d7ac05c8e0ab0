"""The text of INFO: Redis 7.0's sections, field names and field order, filled from the
server's counters, the process (memory, CPU) and the LMDB store.

Fields that have no meaning for AiKv (allocator internals, Lua memory, fork
copy-on-write sizes) are left out, except where a constant states something true and
tools commonly read it (e.g. `sync_full:0`, `evicted_keys:0`). AiKv-specific facts are
added under `aikv_`-prefixed names so they cannot collide with a future Redis field.
"""

from __future__ import annotations

import hashlib
import os
import platform
import resource
import secrets
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aikv import REDIS_VERSION, __version__
from aikv.replication.failover import failover_state

if TYPE_CHECKING:
    from aikv.server import Server

# Identity of this process, as Redis draws it at start: random, stable until exit.
RUN_ID = secrets.token_hex(20)
MASTER_REPLID = secrets.token_hex(20)
_BUILD_ID = hashlib.sha1(f"aikv-{__version__}".encode()).hexdigest()[:15]

# Section order is fixed whatever order the caller names them in (as in Redis).
ORDER = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu",
         "modules", "commandstats", "errorstats", "latencystats", "cluster", "keyspace")
DEFAULT = frozenset(("server", "clients", "memory", "persistence", "stats", "replication",
                     "cpu", "modules", "errorstats", "cluster", "keyspace"))
ALL = frozenset(ORDER)
_TITLES = {"cpu": "CPU"}


def select_sections(args: Iterable[bytes]) -> frozenset[str]:
    """Which sections `INFO args...` asks for. Unknown names are ignored (Redis replies
    with an empty text for them); no argument means the default set."""
    names = [a.decode(errors="replace").lower() for a in args]
    if not names:
        return DEFAULT
    chosen: set[str] = set()
    for name in names:
        if name in ("all", "everything"):
            chosen |= ALL
        elif name == "default":
            chosen |= DEFAULT
        elif name in ALL:
            chosen.add(name)
    return frozenset(chosen)


def bytes_to_human(n: int) -> str:
    """Redis's bytesToHuman: B under 1 KiB, then two decimals with K/M/G/T/P."""
    if n < 1024:
        return f"{n}B"
    value = float(n)
    for unit in "KMGTP":
        value /= 1024
        if value < 1024 or unit == "P":
            return f"{value:.2f}{unit}"
    raise AssertionError("unreachable")


def process_rss() -> int:
    """Resident set size in bytes, from /proc (cheap), else getrusage's peak."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def total_system_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


# ---------------------------------------------------------------------- sampling
class Metrics:
    """Instantaneous rates, sampled every 100 ms into a ring of 16 like Redis's
    trackInstantaneousMetric, so `instantaneous_ops_per_sec` is a ~1.6 s average."""

    INTERVAL = 0.1
    SAMPLES = 16

    def __init__(self, server: Server) -> None:
        self.started = False
        self.peak_memory = 0
        self._last: dict[str, tuple[float, int]] = {}
        self._rings: dict[str, list[float]] = {}
        self._readers: dict[str, Callable[[], int]] = {
            "ops": lambda: server.stat_commands,
            "in": lambda: server.stat_net_input_bytes,
            "out": lambda: server.stat_net_output_bytes,
        }

    def sample(self) -> None:
        now = time.monotonic()
        for name, read in self._readers.items():
            value = read()
            last = self._last.get(name)
            self._last[name] = (now, value)
            if last is None or now <= last[0]:
                continue
            rate = max(0, value - last[1]) / (now - last[0])
            ring = self._rings.setdefault(name, [])
            ring.append(rate)
            if len(ring) > self.SAMPLES:
                del ring[0]
        self.peak_memory = max(self.peak_memory, process_rss())

    def rate(self, name: str) -> float:
        ring = self._rings.get(name)
        return sum(ring) / len(ring) if ring else 0.0

    def reset(self) -> None:
        self._rings.clear()
        self._last.clear()
        self.peak_memory = process_rss()


_METRICS: weakref.WeakKeyDictionary[Server, Metrics] = weakref.WeakKeyDictionary()


def metrics(server: Server) -> Metrics:
    m = _METRICS.get(server)
    if m is None:
        m = _METRICS[server] = Metrics(server)
    return m


def start_sampler(server: Server) -> None:
    """Start the 100 ms sampling timer on the server's loop (idempotent). Called from the
    server's start and, as a fallback, by the first INFO."""
    m = metrics(server)
    loop = server.loop
    if m.started or loop is None:
        return
    m.started = True

    def tick() -> None:
        if server.shutdown_requested or loop.is_closed():
            return
        m.sample()
        loop.call_later(Metrics.INTERVAL, tick)

    m.sample()
    loop.call_later(Metrics.INTERVAL, tick)


# ---------------------------------------------------------------------- sections
Fields = list[tuple[str, object]]


def _server(server: Server) -> Fields:
    cfg = server.config
    now = time.time()
    uptime = server.uptime()
    uname = platform.uname()
    return [
        ("redis_version", REDIS_VERSION),
        ("aikv_version", __version__),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", _BUILD_ID),
        ("redis_mode", "cluster" if cfg.cluster_enabled else "standalone"),
        ("os", f"{uname.system} {uname.release} {uname.machine}"),
        ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
        ("monotonic_clock", "POSIX clock_gettime"),
        ("multiplexing_api", "epoll" if sys.platform.startswith("linux") else "kqueue"),
        ("aikv_python_version", platform.python_version()),
        ("process_id", os.getpid()),
        ("process_supervised", "no"),
        ("run_id", RUN_ID),
        ("tcp_port", server.port),
        ("server_time_usec", int(now * 1_000_000)),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", cfg.hz),
        ("configured_hz", cfg.hz),
        # Redis's 24-bit LRU clock in seconds; OBJECT IDLETIME-style tools compare it.
        ("lru_clock", int(now) & ((1 << 24) - 1)),
        ("executable", os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""),
        ("config_file", cfg.config_file or ""),
        ("io_threads_active", 0),
    ]


def _clients(server: Server) -> Fields:
    clients = list(server.clients.values())
    max_in = max((c.parser.buffered for c in clients), default=0)
    max_out = max((c.output_buffer_size for c in clients), default=0)
    cluster_links = 0
    gossip = getattr(server.cluster, "gossip", None)
    if gossip is not None:
        cluster_links = len(getattr(gossip, "outbound", ())) + len(getattr(gossip, "inbound", ()))
    return [
        ("connected_clients", len(clients)),
        ("cluster_connections", cluster_links),
        ("maxclients", server.config.maxclients),
        ("client_recent_max_input_buffer", max_in),
        ("client_recent_max_output_buffer", max_out),
        # A client held by CLIENT PAUSE counts as blocked, as in Redis 7.0
        # (BLOCKED_POSTPONE).
        ("blocked_clients", sum(1 for c in clients if c.blocked is not None or c.postponed)),
        ("tracking_clients", server.tracking.clients if server.tracking is not None else 0),
        ("clients_in_timeout_table", 0),
    ]


def _memory(server: Server) -> Fields:
    # used_memory is the process RSS: AiKv's data lives in LMDB's page cache, not in a
    # heap the process could count, so RSS is the honest "memory this node uses".
    rss = process_rss()
    m = metrics(server)
    m.peak_memory = max(m.peak_memory, rss)
    peak = m.peak_memory
    system = total_system_memory()
    maxmemory = int(server.config.maxmemory)
    return [
        ("used_memory", rss),
        ("used_memory_human", bytes_to_human(rss)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", bytes_to_human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", bytes_to_human(peak)),
        ("used_memory_peak_perc", f"{100.0 * rss / peak if peak else 100.0:.2f}%"),
        ("total_system_memory", system),
        ("total_system_memory_human", bytes_to_human(system)),
        *_scripting_counts(server),
        ("maxmemory", maxmemory),
        ("maxmemory_human", bytes_to_human(maxmemory)),
        ("maxmemory_policy", server.config.maxmemory_policy),
        ("mem_fragmentation_ratio", "1.00"),
        ("mem_allocator", "libc"),
        ("lazyfree_pending_objects", _garbage_entries(server)),
    ]


def _scripting_counts(server: Server) -> Fields:
    """EVAL's cached scripts and FUNCTION's libraries, as Redis's memory section counts
    them. Counting functions means running the libraries' code, so the first INFO after
    a start loads stored libraries; with none stored, INFO builds no Lua state."""
    from aikv.commands.functions import functions_of

    engine = server.scripting
    functions, libraries = 0, 0
    if (engine is not None and engine.functions is not None) \
            or server.store.read_functions() is not None:
        live = functions_of(server).live
        functions, libraries = live.function_count(), len(live.libraries)
    return [
        ("number_of_cached_scripts", len(engine.scripts) if engine is not None else 0),
        ("number_of_functions", functions),
        ("number_of_libraries", libraries),
    ]


def _garbage_entries(server: Server) -> int:
    """Deleted collections whose element records still wait for background reclaim:
    AiKv's counterpart of Redis's lazy-free queue."""
    store = server.store
    if store.env is None or store.garbage_db is None:
        return 0
    return int(store.reader().stat(store.garbage_db)["entries"])


def _persistence(server: Server) -> Fields:
    # Every write is committed to LMDB before its reply leaves, durable per appendfsync.
    # That is AOF's contract, so INFO reports aof_enabled:1 (and CONFIG GET appendonly
    # says yes); the rdb_* fields describe the RDB files SAVE, BGSAVE and the `save`
    # points write (aikv/rdbsave.py), which AiKv itself never needs.
    from aikv.rdbsave import changes_since_save

    store = server.store
    state = persistence_state(server)
    size = store.used_bytes()  # pages in use: a write-map file is as long as its map
    write_ok = store.last_commit_error is None
    map_size = store.env.info()["map_size"] if store.env is not None else 0
    return [
        ("loading", 0),
        ("async_loading", 0),
        ("current_cow_peak", 0),
        ("current_cow_size", 0),
        ("current_cow_size_age", 0),
        ("current_fork_perc", "0.00"),
        ("current_save_keys_processed", 0),
        ("current_save_keys_total", 0),
        ("rdb_changes_since_last_save", changes_since_save(server)),
        ("rdb_bgsave_in_progress", 1 if state.bgsave_running else 0),
        ("rdb_last_save_time", server.last_save),
        ("rdb_last_bgsave_status", "ok" if state.last_bgsave_ok else "err"),
        ("rdb_last_bgsave_time_sec", state.last_bgsave_seconds),
        ("rdb_current_bgsave_time_sec", state.current_bgsave_seconds()),
        ("rdb_saves", state.saves),
        ("rdb_last_cow_size", 0),
        ("rdb_last_load_keys_expired", 0),
        ("rdb_last_load_keys_loaded", 0),
        ("aof_enabled", 1),
        ("aof_rewrite_in_progress", 0),
        ("aof_rewrite_scheduled", 0),
        ("aof_last_rewrite_time_sec", state.last_aof_rewrite_seconds),
        ("aof_current_rewrite_time_sec", -1),
        ("aof_last_bgrewrite_status", "ok" if state.last_aof_rewrite_ok else "err"),
        ("aof_rewrites", state.aof_rewrites),
        ("aof_rewrites_consecutive_failures", state.aof_rewrite_failures),
        ("aof_last_write_status", "ok" if write_ok else "err"),
        ("aof_last_cow_size", 0),
        ("module_fork_in_progress", 0),
        ("module_fork_last_cow_size", 0),
        ("aof_current_size", size),
        ("aof_base_size", size),
        ("aof_pending_rewrite", 0),
        ("aof_buffer_length", 0),
        ("aof_pending_bio_fsync", 0),
        ("aof_delayed_fsync", 0),
        ("aikv_appendfsync", store.appendfsync),
        ("aikv_lmdb_used_bytes", size),
        ("aikv_lmdb_file_size", store.file_size()),
        ("aikv_lmdb_writemap", 1 if store.writemap else 0),
        ("aikv_lmdb_map_size", map_size),
    ]


class PersistenceState:
    """SAVE/BGSAVE bookkeeping the commands update and INFO reads (see aikv/rdbsave.py)."""

    def __init__(self) -> None:
        self.saves = 0
        self.bgsave_started: float | None = None
        self.job: Any = None  # the BGSAVE in progress (rdbsave.BackgroundSave)
        self.bgsave_scheduled = False  # BGSAVE inside MULTI/EXEC: the cron starts it
        self.lastbgsave_try = 0  # unix time of the last BGSAVE started
        # Write-command calls at the last save: rdb_changes_since_last_save counts on.
        self.calls_at_save = 0
        self.last_bgsave_ok = True
        self.last_bgsave_seconds = -1
        # BGREWRITEAOF: here a checkpoint of the tick log into LMDB plus a sync.
        self.aof_rewrites = 0
        self.aof_rewrite_failures = 0  # consecutive
        self.last_aof_rewrite_ok = True
        self.last_aof_rewrite_seconds = -1

    @property
    def bgsave_running(self) -> bool:
        return self.bgsave_started is not None

    def current_bgsave_seconds(self) -> int:
        if self.bgsave_started is None:
            return -1
        return int(time.monotonic() - self.bgsave_started)


_PERSISTENCE: weakref.WeakKeyDictionary[Server, PersistenceState] = weakref.WeakKeyDictionary()


def persistence_state(server: Server) -> PersistenceState:
    state = _PERSISTENCE.get(server)
    if state is None:
        state = _PERSISTENCE[server] = PersistenceState()
    return state


def _stats(server: Server) -> Fields:
    m = metrics(server)
    tracking = server.tracking
    clients = list(server.clients.values())
    channels: set[bytes] = set()
    patterns: set[bytes] = set()
    shard_channels: set[bytes] = set()
    for c in clients:
        channels |= c.subscriptions
        patterns |= c.patterns
        shard_channels |= c.shard_subscriptions
    return [
        ("total_connections_received", server.stat_connections),
        ("total_commands_processed", server.stat_commands),
        ("instantaneous_ops_per_sec", int(m.rate("ops"))),
        ("total_net_input_bytes", server.stat_net_input_bytes),
        ("total_net_output_bytes", server.stat_net_output_bytes),
        ("total_net_repl_input_bytes", 0),
        ("total_net_repl_output_bytes", 0),
        ("instantaneous_input_kbps", f"{m.rate('in') / 1024:.2f}"),
        ("instantaneous_output_kbps", f"{m.rate('out') / 1024:.2f}"),
        ("instantaneous_input_repl_kbps", "0.00"),
        ("instantaneous_output_repl_kbps", "0.00"),
        ("rejected_connections", server.stat_rejected_connections),
        ("sync_full", server.stat_sync_full),
        ("sync_partial_ok", server.stat_sync_partial_ok),
        ("sync_partial_err", server.stat_sync_partial_err),
        ("expired_keys", server.stat_expired_keys),
        ("expired_stale_perc", "0.00"),
        ("expired_time_cap_reached_count", 0),
        ("expire_cycle_cpu_milliseconds", 0),
        ("evicted_keys", 0),
        ("evicted_clients", 0),
        ("total_eviction_exceeded_time", 0),
        ("current_eviction_exceeded_time", 0),
        ("keyspace_hits", server.stat_keyspace_hits),
        ("keyspace_misses", server.stat_keyspace_misses),
        ("pubsub_channels", len(channels)),
        ("pubsub_patterns", len(patterns)),
        ("pubsubshard_channels", len(shard_channels)),
        ("latest_fork_usec", 0),
        ("total_forks", 0),
        ("migrate_cached_sockets", 0),
        ("slave_expires_tracked_keys", 0),
        ("active_defrag_hits", 0),
        ("active_defrag_misses", 0),
        ("active_defrag_key_hits", 0),
        ("active_defrag_key_misses", 0),
        ("total_active_defrag_time", 0),
        ("current_active_defrag_time", 0),
        ("tracking_total_keys", len(tracking.table) if tracking is not None else 0),
        ("tracking_total_items", tracking.items if tracking is not None else 0),
        ("tracking_total_prefixes", len(tracking.prefixes) if tracking is not None else 0),
        ("unexpected_error_replies", 0),
        ("total_error_replies", server.stat_error_replies),
        ("dump_payload_sanitizations", 0),
        ("total_reads_processed", server.stat_reads_processed),
        ("total_writes_processed", server.stat_writes_processed),
        ("io_threaded_reads_processed", 0),
        ("io_threaded_writes_processed", 0),
        # Redis grows and shrinks each client's reply buffer; AiKv has no such buffer.
        ("reply_buffer_shrinks", 0),
        ("reply_buffer_expands", 0),
    ]


def _replication(server: Server) -> Fields:
    link = server.replica
    source = server.replication
    if source is not None:
        # A master, or a replica serving replicas (its stream is its master's, relayed).
        head0: Fields = [("role", "master")] if link is None else [("role", "slave"),
                                                                    *link.info_fields()]
        return [*head0, *source.info_fields()]
    head: Fields = [("role", "master")] if link is None else [("role", "slave"),
                                                               *link.info_fields()]
    # A replica's backlog is the stream it applied, since it has a position in it.
    backlog = None if link is None or link.master_client is None else link.backlog
    return [
        *head,
        ("connected_slaves", 0),
        ("master_failover_state", failover_state(server)),
        ("master_replid", MASTER_REPLID if link is None else link.replid),
        ("master_replid2", "0" * 40),
        ("master_repl_offset", 0 if link is None else link.offset),
        ("second_repl_offset", -1),
        ("repl_backlog_active", 0 if backlog is None else 1),
        ("repl_backlog_size", server.config.values["repl-backlog-size"]),
        ("repl_backlog_first_byte_offset", 0 if backlog is None else backlog.first_offset),
        ("repl_backlog_histlen", 0 if backlog is None else backlog.histlen),
    ]


def _cpu(server: Server) -> Fields:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    fields: Fields = [
        ("used_cpu_sys", f"{me.ru_stime:.6f}"),
        ("used_cpu_user", f"{me.ru_utime:.6f}"),
        ("used_cpu_sys_children", f"{kids.ru_stime:.6f}"),
        ("used_cpu_user_children", f"{kids.ru_utime:.6f}"),
    ]
    thread_usage = getattr(resource, "RUSAGE_THREAD", None)
    if thread_usage is not None:
        # INFO runs on the event-loop thread, which is AiKv's main thread.
        main = resource.getrusage(thread_usage)
        fields += [("used_cpu_sys_main_thread", f"{main.ru_stime:.6f}"),
                   ("used_cpu_user_main_thread", f"{main.ru_utime:.6f}")]
    return fields


def _commandstats(server: Server) -> Fields:
    from aikv.commands.registry import COMMANDS

    fields: Fields = []
    for top in COMMANDS.values():
        for cmd in (top, *top.subcommands.values()):
            if not (cmd.calls or cmd.failed_calls or cmd.rejected_calls):
                continue
            per_call = cmd.usec / cmd.calls if cmd.calls else 0.0
            fields.append((f"cmdstat_{cmd.full_name}",
                           f"calls={cmd.calls},usec={cmd.usec},usec_per_call={per_call:.2f},"
                           f"rejected_calls={cmd.rejected_calls},failed_calls={cmd.failed_calls}"))
    return fields


def _errorstats(server: Server) -> Fields:
    # Redis keeps error codes in a radix tree, so they come out sorted.
    return [(f"errorstat_{code}", f"count={n}")
            for code, n in sorted(server.error_counts.items())]


def _cluster(server: Server) -> Fields:
    return [("cluster_enabled", 1 if server.config.cluster_enabled else 0)]


def _keyspace(server: Server) -> Fields:
    store = server.store
    fields: Fields = []
    if store.env is None:
        return fields
    txn = store.reader()
    for db in server.databases:
        keys = db.size()
        if keys <= 0:
            continue
        # Entries of the expiry index: every key with a TTL, including expired keys not
        # yet collected (Redis counts those too). avg_ttl is not estimated.
        expires = int(txn.stat(db.expires_db)["entries"])
        fields.append((f"db{db.index}", f"keys={keys},expires={expires},avg_ttl=0"))
    return fields


_BUILDERS: dict[str, Callable[[Server], Fields]] = {
    "server": _server, "clients": _clients, "memory": _memory,
    "persistence": _persistence, "stats": _stats, "replication": _replication,
    "cpu": _cpu, "modules": lambda server: [], "commandstats": _commandstats,
    "errorstats": _errorstats, "latencystats": lambda server: [], "cluster": _cluster,
    "keyspace": _keyspace,
}


def info_text(server: Server, sections: frozenset[str]) -> str:
    """The INFO reply text: each chosen section as '# Title' and 'field:value' lines,
    CRLF-terminated, sections separated by an empty line, as Redis writes it."""
    start_sampler(server)
    parts: list[str] = []
    for name in ORDER:
        if name not in sections:
            continue
        title = _TITLES.get(name, name.capitalize())
        lines = [f"# {title}"]
        lines += [f"{key}:{value}" for key, value in _BUILDERS[name](server)]
        parts.append("".join(line + "\r\n" for line in lines))
    return "\r\n".join(parts)


def reset_stats(server: Server) -> None:
    """CONFIG RESETSTAT: the counters Redis's resetServerStats, resetCommandTableStats and
    resetErrorTableStats clear."""
    from aikv.commands.registry import COMMANDS
    from aikv.rdbsave import stats_reset, write_calls

    stats_reset(server, write_calls(server))  # the command counters restart below
    server.stat_commands = 0
    server.stat_connections = 0
    server.stat_rejected_connections = 0
    server.stat_expired_keys = 0
    server.stat_sync_full = server.stat_sync_partial_ok = server.stat_sync_partial_err = 0
    server.stat_keyspace_hits = 0
    server.stat_keyspace_misses = 0
    server.stat_net_input_bytes = 0
    server.stat_net_output_bytes = 0
    server.stat_reads_processed = 0
    server.stat_writes_processed = 0
    server.stat_protocol_errors = 0
    server.stat_error_replies = 0
    server.error_counts.clear()
    for top in COMMANDS.values():
        for cmd in (top, *top.subcommands.values()):
            cmd.calls = cmd.usec = cmd.failed_calls = cmd.rejected_calls = 0
    metrics(server).reset()
