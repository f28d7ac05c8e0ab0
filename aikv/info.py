"""The text of INFO: Redis 7.0's sections, field names and field order, filled from the
server's counters, the process (memory, CPU) and the LMDB store.

Fields that have no meaning for AiKv (fork copy-on-write sizes) are left out, except
where a constant states something true and tools commonly read it (e.g. `sync_full:0`,
`evicted_keys:0`). The memory section has every field of Redis 7.0.15's, each worked
out from what AiKv has (see MemoryUse). AiKv-specific facts are added under
`aikv_`-prefixed names so they cannot collide with a future Redis field.
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aikv import REDIS_VERSION, __version__
from aikv.latency_histogram import percentiles_line
from aikv.replication.failover import failover_state

if TYPE_CHECKING:
    from aikv.scripting.engine import Engine
    from aikv.scripting.functions import FunctionEngine
    from aikv.scripting.runtime import Runtime
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
    if n < 1024 or n >= 1024**6:  # (past P, Redis prints bytes again)
        return f"{n}B"
    power = 1
    while n >= 1024 ** (power + 1):
        power += 1
    return f"{n / 1024**power:.2f}{'KMGTP'[power - 1]}"


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
        # used_memory once the server was ready (Redis's initial_memory_usage): taken by
        # start_sampler at the end of Server.start, or by the first INFO if that is first.
        self.startup_memory = 0
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
    if not m.startup_memory:
        m.startup_memory = process_rss()

    def tick() -> None:
        if server.shutdown_requested or loop.is_closed():
            return
        m.sample()
        if server.config.values["maxmemory"]:
            server.update_memory_state()
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
    ] + ([("shutdown_in_milliseconds", server.shutting_down.deadline_ms - int(now * 1000))]
         if server.shutting_down is not None else [])


def _clients(server: Server) -> Fields:
    clients = list(server.clients.values())
    max_in = max((c.parser.buffered for c in clients), default=0)
    max_out = max((c.output_limit_usage for c in clients), default=0)
    cluster_links = 0
    gossip = getattr(server.cluster, "gossip", None)
    if gossip is not None:
        cluster_links = len(getattr(gossip, "outbound", ())) + len(getattr(gossip, "inbound", ()))
    replicas = len(server.replication.followers) if server.replication is not None else 0
    return [
        ("connected_clients", len(clients) - replicas),  # as Redis: replicas left out
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


# ---------------------------------------------------------------------- memory
# The memory section follows Redis's getMemoryOverheadData: used_memory splits into an
# overhead (the memory at start-up, the buffers and the script caches counted below) and
# the rest, "dataset". AiKv keeps its dataset on disk, in LMDB's memory-mapped file, and
# has no in-memory key table (Redis's per-database hash table overhead is 0 here), so
# its "dataset" is what the process holds beyond start-up and those overheads: mostly
# the data file's pages that reads and writes brought in (page cache the kernel can take
# back), and the Python objects and code loaded to serve them.

# Redis 7.0's own structures on 64-bit, by which the script caches are sized (see
# eval_scripts_memory, functions_memory_overhead): the cache AiKv holds is sized as the
# same cache is in a Redis, so the two can be compared.
_DICT_ENTRY = 24        # dictEntry
_SLOT = 8               # a dict bucket (a dictEntry pointer)
_ROBJ = 16              # robj
_LUA_SCRIPT = 16        # luaScript: flags and body
_FUNCTION_INFO = 48     # functionInfo (40 bytes) in its size class
_LUA_FUNCTION_CTX = 8   # luaFunctionCtx
_LIBRARY_INFO = 32      # functionLibInfo
_LIBRARIES_CTX = 32     # functionsLibCtx
# The Lua engine's registration, there from start-up as in Redis (FUNCTION LOAD can use
# it at any time): its entry in the engines dict (a 4-bucket table), engineInfo (32
# bytes), its name "LUA" as an sds (8), the engine record (64) and luaEngineCtx (8).
_LUA_ENGINE = _DICT_ENTRY + 4 * _SLOT + 32 + 8 + 64 + 8
_BYTES_HEADER = sys.getsizeof(b"")  # CPython's per-object cost of a bytes chunk


def jemalloc_size(n: int) -> int:
    """The size class jemalloc (Redis's allocator) serves an n-byte request from: 8,
    multiples of 16 up to 128, then four classes per doubling (160, 192, 224, 256, 320,
    ...)."""
    if n <= 8:
        return 8
    if n <= 128:
        return (n + 15) & ~15
    step = 1 << ((n - 1).bit_length() - 3)
    return (n + step - 1) & ~(step - 1)


def sds_size(length: int) -> int:
    """sdsZmallocSize of a string of `length` bytes made by sdsnewlen: the smallest
    header for that length (an empty one gets sdshdr8), the bytes and the NUL."""
    if 0 < length < 1 << 5:
        header = 1
    elif length < 1 << 8:
        header = 3
    elif length < 1 << 16:
        header = 5
    elif length < 1 << 32:
        header = 9
    else:
        header = 17
    return jemalloc_size(header + length + 1)


def _string_object_size(length: int) -> int:
    """getStringObjectSdsUsedMemory of a command argument of `length` bytes: up to 44 an
    embedded string (robj and sdshdr8 in one allocation; the robj is not counted), else
    its own sds. (Redis keeps an argument of 32 KiB or more in its query buffer's
    allocation, which can be a size class larger.)"""
    if length <= 44:
        return jemalloc_size(_ROBJ + 3 + length + 1) - _ROBJ
    return sds_size(length)


def _dict_slots(n: int) -> int:
    """Buckets of a Redis dict grown to n entries: none when empty, else the power of two
    from 4 up that holds n (a dict doubles when full). Redis's script and function dicts
    never shrink but on a flush, so one emptied by deletions still has its buckets there;
    this counts them for the entries there now."""
    return 0 if n == 0 else max(4, 1 << (n - 1).bit_length())


def eval_scripts_memory(engine: Engine | None) -> int:
    """used_memory_scripts_eval (evalScriptsMemory): each cached script's SHA1 and body
    (what AiKv holds for it) with its dict entry and luaScript record, and the dict's
    buckets."""
    if engine is None:
        return 0
    scripts = engine.scripts
    per_script = _DICT_ENTRY + _LUA_SCRIPT + sds_size(40)
    return (sum(per_script + _string_object_size(len(script.body))
                for script in scripts.values())
            + _dict_slots(len(scripts)) * _SLOT)


def functions_memory_overhead(functions: FunctionEngine | None) -> int:
    """used_memory_functions (functionsMemoryOverhead): the Lua engine's registration, the
    library context with its functions dict, each library (record, name, code) and each
    function (record, name, description, handle of its compiled code)."""
    total = _LUA_ENGINE + _LIBRARIES_CTX
    if functions is None:
        return total
    live = functions.live
    total += len(live.functions) * _DICT_ENTRY + _dict_slots(len(live.functions)) * _SLOT
    for lib in live.libraries.values():
        total += _LIBRARY_INFO + sds_size(len(lib.name)) + sds_size(len(lib.code))
        for fn in lib.functions.values():
            total += _FUNCTION_INFO + sds_size(len(fn.name)) + _LUA_FUNCTION_CTX
            if fn.description is not None:
                total += sds_size(len(fn.description))
    return total


def lua_state_size(rt: Runtime | None) -> int:
    """An estimate of a Lua state's memory (Redis's used_memory_vm_*, the Lua allocator's
    count). AiKv's Lua is an interpreter in Python, so this is the Python size of what the
    state holds: every table reachable from its globals and its string metatable (the
    table, its dict and list), and the strings, numbers and function objects in them;
    about 31 KB for a fresh state, Redis's own is 32 KB. Not measured: the compiled code
    of scripts and library functions (trees of Python closures) and what functions keep
    in upvalues, so it is a lower bound. No fixed base is added: with no state yet (none
    is built until a script or function needs it) this is 0, where Redis has its empty
    state from start-up."""
    if rt is None:
        return 0
    from aikv.scripting.values import LuaTable

    sizeof = sys.getsizeof
    seen: set[int] = set()
    stack: list[Any] = [rt.G, rt.string_meta]
    total = 0
    while stack:
        value = stack.pop()
        if value is None or value is True or value is False or id(value) in seen:
            continue
        seen.add(id(value))
        total += sizeof(value)
        if type(value) is LuaTable:
            total += sizeof(value.hash) + sizeof(value.arr)
            stack += value.hash.keys()
            stack += value.hash.values()
            stack += value.arr
            if value.meta is not None:
                stack.append(value.meta)
    return total


def _live_functions(server: Server) -> FunctionEngine | None:
    """The FUNCTION libraries, loaded from LMDB if some are stored and not loaded yet
    (that runs their code); None when there are none, without building a Lua state."""
    from aikv.commands.functions import functions_of

    engine = server.scripting
    if (engine is not None and engine.functions is not None) \
            or server.store.read_functions() is not None:
        return functions_of(server)
    return None


def _client_buffers(server: Server, client: Any) -> int:
    """What AiKv buffers for a client: its unparsed request bytes, the arguments of the
    commands it queued (MULTI), that wait behind a reply (held) or a block or pause
    (deferred), and the replies not yet taken by the socket. The connection's own objects
    are not counted (Redis adds its client struct and 16 KB reply buffer)."""
    total = client.parser.buffered + client.output_buffer_size
    if client.out:
        total += sum(map(len, client.out))
    if client.multi:
        total += sum(len(arg) for _, argv in client.multi for arg in argv)
    for queue in (client.held, server.deferred.get(client.id)):
        if queue:
            total += sum(len(arg) for argv in queue for arg in argv)
    return total


@dataclass(slots=True)
class MemoryUse:
    """The numbers of INFO's memory section and MEMORY STATS, gathered as Redis's
    getMemoryOverheadData gathers them (see the comments at the top of this part)."""

    used: int               # used_memory: the process's RSS
    peak: int
    startup: int            # used_memory once the server was ready
    repl_backlog: int       # the backlog's bytes and their chunks' headers
    clients_slaves: int     # replicas' pending stream: unsent output, stream kept meanwhile
    clients_normal: int     # other clients' buffers (_client_buffers), the master link's
    cluster_links: int      # the cluster bus links' send buffers
    aof_buffer: int         # the tick log's bytes held in memory (Store.log_buffer_bytes)
    scripts_eval: int       # EVAL's script cache (Redis's lua_caches)
    functions_caches: int   # FUNCTION's libraries (Redis's functions_caches)
    vm_eval: int            # the EVAL Lua state
    vm_functions: int       # the FUNCTION Lua state
    cached_scripts: int
    functions: int
    libraries: int

    @property
    def overhead(self) -> int:
        return (self.startup + self.repl_backlog + self.clients_slaves + self.clients_normal
                + self.cluster_links + self.aof_buffer + self.scripts_eval
                + self.functions_caches)

    @property
    def dataset(self) -> int:
        # Redis's subtraction wraps around when RSS drops below start-up plus overhead
        # (memory given back to the system); 0 says it.
        return max(0, self.used - self.overhead)

    @property
    def dataset_perc(self) -> float:
        """The dataset's share of what was added since start-up (Redis's net usage)."""
        net = self.used - self.startup if self.used > self.startup else 1
        return self.dataset * 100 / net

    @property
    def peak_perc(self) -> float:
        return self.used * 100 / self.peak if self.peak else 100.0

    @property
    def replication_buffers(self) -> int:
        """mem_total_replication_buffers: Redis's replicas and backlog share one buffer;
        AiKv's backlog and replicas' pending stream are apart, so it is their sum."""
        return self.repl_backlog + self.clients_slaves

    @property
    def not_counted_for_evict(self) -> int:
        """freeMemoryGetNotCountedMemory: the replication buffers beyond the backlog (the
        replicas' part) and the AOF buffer."""
        return self.clients_slaves + self.aof_buffer


def _replica_buffers(server: Server) -> int:
    """mem_clients_slaves: what waits to go to the replicas."""
    source = server.replication
    if source is None:
        return 0
    total = 0
    for follower in source.followers.values():
        client = follower.client
        total += client.output_buffer_size + sum(map(len, client.out)) \
            + sum(map(len, follower.pending or ()))
    return total


def memory_for_eviction(server: Server) -> int:
    """used_memory less freeMemoryGetNotCountedMemory (the replicas' buffers and the AOF
    buffer): what maxmemory is compared with. Only these parts of memory_use, which the
    maxmemory check asks for every 100 ms."""
    return process_rss() - _replica_buffers(server) - server.store.log_buffer_bytes()


def memory_use(server: Server) -> MemoryUse:
    # used_memory is the process RSS: AiKv's data lives in LMDB's page cache, not in a
    # heap the process could count, so RSS is the honest "memory this node uses".
    rss = process_rss()
    m = metrics(server)
    m.peak_memory = max(m.peak_memory, rss)
    if not m.startup_memory:
        m.startup_memory = rss
    source = server.replication
    link = server.replica
    # The backlog INFO replication describes: a master's (shared with the link while a
    # replica relays), else a replica's of the stream it applied.
    backlog = source.backlog if source is not None else (
        link.backlog if link is not None and link.master_client is not None else None)
    repl_backlog = 0 if backlog is None else \
        backlog.histlen + len(backlog.chunks) * _BYTES_HEADER
    replicas = source.followers if source is not None else {}
    clients_slaves = _replica_buffers(server)
    clients_normal = sum(_client_buffers(server, c) for c in server.clients.values()
                         if c.id not in replicas)
    if link is not None:
        clients_normal += link.unapplied_bytes  # the master's stream read, not yet applied
    cluster_links = 0
    cluster = server.cluster
    gossip = getattr(cluster, "gossip", None)
    bus = getattr(cluster, "transport", None)
    if gossip is not None and bus is not None:
        for peer_link in (*gossip.outbound.values(), *gossip.inbound.values()):
            cluster_links += bus.buffer_sizes(peer_link)[1]
    engine = server.scripting
    functions = _live_functions(server)
    return MemoryUse(
        used=rss, peak=m.peak_memory, startup=m.startup_memory,
        repl_backlog=repl_backlog, clients_slaves=clients_slaves,
        clients_normal=clients_normal, cluster_links=cluster_links,
        aof_buffer=server.store.log_buffer_bytes(),
        scripts_eval=eval_scripts_memory(engine),
        functions_caches=functions_memory_overhead(functions),
        vm_eval=lua_state_size(engine.rt if engine is not None else None),
        vm_functions=lua_state_size(functions.rt if functions is not None else None),
        cached_scripts=len(engine.scripts) if engine is not None else 0,
        functions=functions.live.function_count() if functions is not None else 0,
        libraries=len(functions.live.libraries) if functions is not None else 0,
    )


def _ratio(a: int, b: int) -> str:
    return f"{a / b if b else 0.0:.2f}"


def _memory(server: Server) -> Fields:
    mem = memory_use(server)
    used = rss = mem.used
    system = total_system_memory()
    maxmemory = int(server.config.maxmemory)
    vm_total = mem.vm_eval + mem.vm_functions
    scripts = mem.scripts_eval + mem.functions_caches
    # The allocator: Redis without jemalloc (libc malloc) cannot ask its allocator, and
    # its cron fills these in from what it has: resident = RSS less the Lua state's
    # memory (Lua's allocations are outside used_memory there), active = resident,
    # allocated = used_memory. AiKv's allocator (CPython's) cannot be asked either, and
    # its Lua state is Python objects already inside used_memory, which is the RSS: so
    # nothing is taken off, the three equal used_memory and the ratios come out 1.00 with
    # 0 bytes, as do mem_fragmentation_ratio and _bytes (RSS / used_memory).
    allocated = active = resident = used
    return [
        ("used_memory", used),
        ("used_memory_human", bytes_to_human(used)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", bytes_to_human(rss)),
        ("used_memory_peak", mem.peak),
        ("used_memory_peak_human", bytes_to_human(mem.peak)),
        ("used_memory_peak_perc", f"{mem.peak_perc:.2f}%"),
        ("used_memory_overhead", mem.overhead),
        ("used_memory_startup", mem.startup),
        ("used_memory_dataset", mem.dataset),
        ("used_memory_dataset_perc", f"{mem.dataset_perc:.2f}%"),
        ("allocator_allocated", allocated),
        ("allocator_active", active),
        ("allocator_resident", resident),
        ("total_system_memory", system),
        ("total_system_memory_human", bytes_to_human(system)),
        ("used_memory_lua", mem.vm_eval),  # Redis's deprecated name of used_memory_vm_eval
        ("used_memory_vm_eval", mem.vm_eval),
        ("used_memory_lua_human", bytes_to_human(mem.vm_eval)),
        ("used_memory_scripts_eval", mem.scripts_eval),
        ("number_of_cached_scripts", mem.cached_scripts),
        ("number_of_functions", mem.functions),
        ("number_of_libraries", mem.libraries),
        ("used_memory_vm_functions", mem.vm_functions),
        ("used_memory_vm_total", vm_total),
        ("used_memory_vm_total_human", bytes_to_human(vm_total)),
        ("used_memory_functions", mem.functions_caches),
        ("used_memory_scripts", scripts),
        ("used_memory_scripts_human", bytes_to_human(scripts)),
        ("maxmemory", maxmemory),
        ("maxmemory_human", bytes_to_human(maxmemory)),
        ("maxmemory_policy", server.config.maxmemory_policy),
        ("allocator_frag_ratio", _ratio(active, allocated)),
        ("allocator_frag_bytes", active - allocated),
        ("allocator_rss_ratio", _ratio(resident, active)),
        ("allocator_rss_bytes", resident - active),
        ("rss_overhead_ratio", _ratio(rss, resident)),
        ("rss_overhead_bytes", rss - resident),
        ("mem_fragmentation_ratio", _ratio(rss, used)),
        ("mem_fragmentation_bytes", rss - used),
        ("mem_not_counted_for_evict", mem.not_counted_for_evict),
        ("mem_replication_backlog", mem.repl_backlog),
        ("mem_total_replication_buffers", mem.replication_buffers),
        ("mem_clients_slaves", mem.clients_slaves),
        ("mem_clients_normal", mem.clients_normal),
        ("mem_cluster_links", mem.cluster_links),
        ("mem_aof_buffer", mem.aof_buffer),
        ("mem_allocator", "libc"),
        ("active_defrag_running", 0),  # `activedefrag yes` is refused
        ("lazyfree_pending_objects", _garbage_entries(server)),
        ("lazyfreed_objects", server.store.reclaimed_collections),
    ]


def _garbage_entries(server: Server) -> int:
    """Deleted collections whose element records still wait for background reclaim:
    AiKv's counterpart of Redis's lazy-free queue. lazyfreed_objects counts those of
    more than 64 elements whose reclaim finished (elements.reclaim), as Redis counts the
    objects its lazy-free thread freed; CONFIG RESETSTAT zeroes it, as in Redis."""
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
    fields: Fields = [
        ("loading", 1 if server.loading is not None else 0),
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
        ("aof_rewrite_scheduled", int(state.aof_rewrite_scheduled)),
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
    if server.loading is not None:
        fields.extend(server.loading.info_fields())
    return fields


class PersistenceState:
    """SAVE/BGSAVE bookkeeping the commands update and INFO reads (see aikv/rdbsave.py)."""

    def __init__(self) -> None:
        self.saves = 0
        self.bgsave_started: float | None = None
        self.job: Any = None  # the BGSAVE in progress (rdbsave.BackgroundSave)
        self.bgsave_scheduled = False  # BGSAVE inside MULTI/EXEC: the cron starts it
        self.aof_rewrite_scheduled = False  # BGREWRITEAOF inside MULTI/EXEC: the cron
        self.lastbgsave_try = 0  # unix time of the last BGSAVE started
        # Write-command calls at the last save: rdb_changes_since_last_save counts on.
        self.calls_at_save = 0
        # What count_changes added to (or took from) the write calls; reset with them.
        self.extra_changes = 0
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
    from aikv.commands.dumprestore import cached_sockets

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
        ("migrate_cached_sockets", cached_sockets(server)),
        ("slave_expires_tracked_keys", len(server.replica_expires)),
        ("active_defrag_hits", 0),
        ("active_defrag_misses", 0),
        ("active_defrag_key_hits", 0),
        ("active_defrag_key_misses", 0),
        ("total_active_defrag_time", 0),
        ("current_active_defrag_time", 0),
        ("tracking_total_keys", len(tracking.table) if tracking is not None else 0),
        ("tracking_total_items", tracking.items if tracking is not None else 0),
        ("tracking_total_prefixes", len(tracking.prefixes) if tracking is not None else 0),
        ("unexpected_error_replies", server.stat_unexpected_error_replies),
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
    replid, offset = server.idle_stream_position if link is None else (link.replid,
                                                                        link.offset)
    return [
        *head,
        ("connected_slaves", 0),
        ("master_failover_state", failover_state(server)),
        ("master_replid", replid),
        ("master_replid2", "0" * 40),
        ("master_repl_offset", offset),
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


def _latencystats(server: Server) -> Fields:
    from aikv.commands.registry import COMMANDS

    if not server.latency_tracking:
        return []
    percentiles = server.config.values["latency-tracking-info-percentiles"]
    return [(f"latency_percentiles_usec_{cmd.full_name}",
             percentiles_line(cmd.latency, percentiles))
            for top in COMMANDS.values()
            for cmd in (top, *top.subcommands.values()) if cmd.latency]


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
    "errorstats": _errorstats, "latencystats": _latencystats, "cluster": _cluster,
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
    server.stat_unexpected_error_replies = 0
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
            cmd.latency.clear()
    metrics(server).reset()
    server.store.reclaimed_collections = 0  # lazyfreed_objects (lazyfreeResetStats)
