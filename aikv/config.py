"""The node's configuration: one typed object, filled from defaults, an optional
redis.conf-style file and command-line flags (in that order of precedence), and read and
written at run time by CONFIG GET / SET / REWRITE.

Each parameter is declared once in `PARAMETERS` with its Redis directive name, type and
default; the attribute name is the directive with '-' replaced by '_'.
"""

from __future__ import annotations

import fnmatch
import glob as globlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aikv.acl_file import check_user_directive
from aikv.cnum import narrow_int32
from aikv.monitor import quote_arg
from aikv.notify import BAD_CLASS, parse_classes, render_classes
from aikv.protocol import split_inline_args

APPENDFSYNC_CHOICES = ("everysec", "always", "no")  # config.c's order (its error lists them)
LOGLEVEL_CHOICES = ("debug", "verbose", "notice", "warning")

log = logging.getLogger("aikv")


class ConfigError(ValueError):
    pass


class ConfigLineError(ConfigError):
    """A configuration line refused, with where it was (see fatal_text)."""

    def __init__(self, message: str, line_number: int, line: str) -> None:
        super().__init__(message)
        self.line_number = line_number
        self.line = line


class ConfigFileMissing(ConfigError):
    """A config file that cannot be opened: Redis says so in one line, no header."""


def fatal_text(exc: ConfigError, product: str) -> str:
    """What a refused configuration prints before the exit, as redis-server prints it."""
    if isinstance(exc, ConfigFileMissing):
        return str(exc)
    text = f"\n*** FATAL CONFIG FILE ERROR ({product}) ***\n"
    if isinstance(exc, ConfigLineError):
        text += f"Reading the configuration file, at line {exc.line_number}\n>>> '{exc.line}'\n"
    return text + str(exc)


def read_config_files(path: str) -> str:
    """The text of a config file, or of every file a wildcard name matches (sorted, as
    glob(3) returns them; no match is no error)."""
    if any(ch in path for ch in "*?["):
        names = sorted(globlib.glob(path))
    else:
        names = [path]
    parts = []
    for name in names:
        try:
            with open(name, encoding="utf-8", errors="surrogateescape", newline="") as f:
                parts.append(f.read())
        except OSError as exc:
            raise ConfigFileMissing(f"Fatal error, can't open config file '{name}': "
                                    f"{exc.strerror}") from None
    return "".join(parts)


# Redis's MULTI_ARG_CONFIG parameters: the only ones a line may give several words.
MULTI_ARG = frozenset({
    "save", "client-output-buffer-limit", "oom-score-adj-values", "bind", "replicaof",
    "latency-tracking-info-percentiles", "shutdown-on-sigint", "shutdown-on-sigterm"})
# Names Redis 7.0 still accepts with one argument, and ignores.
DEPRECATED = frozenset({"list-max-ziplist-entries", "list-max-ziplist-value",
                        "lua-replicate-commands"})


# client-output-buffer-limit: class -> (hard bytes, soft bytes, soft seconds); 0 disables.
# "replica" applies to the connections of this node's replicas.
OutputBufferLimits = dict[str, tuple[int, int, int]]
DEFAULT_OUTPUT_BUFFER_LIMITS: OutputBufferLimits = {
    "normal": (0, 0, 0),
    "replica": (256 * 1024 * 1024, 64 * 1024 * 1024, 60),
    "pubsub": (32 * 1024 * 1024, 8 * 1024 * 1024, 60),
}
_OBUF_CLASSES = {"normal": "normal", "slave": "replica", "replica": "replica",
                 "pubsub": "pubsub"}


def parse_output_buffer_limits(text: str, current: OutputBufferLimits) -> OutputBufferLimits:
    """Redis's `<class> <hard> <soft> <soft_seconds>` groups; classes not named keep their
    limits, and one bad group rejects the whole value (config.c's error texts)."""
    words = _multi_args(text)
    if len(words) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    updated = dict(current)
    for i in range(0, len(words), 4):
        cls = _OBUF_CLASSES.get(words[i].lower())
        if cls is None:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        try:
            hard, soft = parse_memory(words[i + 1]), parse_memory(words[i + 2])
        except ConfigError:
            hard = soft = -1
        # strtoll to the end of the word, kept in a C int (2^32 + 1 reads as 1).
        parsed = _strtoll_whole(words[i + 3])
        seconds = -1 if parsed is None else narrow_int32(parsed)
        if hard < 0 or soft < 0 or seconds < 0:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit "
                              "configuration.")
        updated[cls] = (hard, soft, seconds)
    return updated


def render_output_buffer_limits(limits: OutputBufferLimits) -> str:
    return " ".join(f"{name} {hard} {soft} {seconds}" for name, (hard, soft, seconds) in
                    (("normal", limits["normal"]), ("slave", limits["replica"]),
                     ("pubsub", limits["pubsub"])))


_INT_MAX = 2**31 - 1
_LONG_MAX = 2**63 - 1
REPL_BACKLOG_MIN_SIZE = 16 * 1024
# shutdown-on-sigint/sigterm: config.c's flag words and bits (default is no flag).
SHUTDOWN_FLAGS = ("default", "save", "nosave", "now", "force")
SHUTDOWN_SAVE, SHUTDOWN_NOSAVE, SHUTDOWN_NOW, SHUTDOWN_FORCE = 1, 2, 4, 8
_SHUTDOWN_BITS = {"default": 0, "save": SHUTDOWN_SAVE, "nosave": SHUTDOWN_NOSAVE,
                  "now": SHUTDOWN_NOW, "force": SHUTDOWN_FORCE}


@dataclass(frozen=True)
class Parameter:
    name: str
    # "int", "bool", "str", "enum", "memory", "obuf", "events", "save", and the special
    # shapes of _convert: "octal", "memory-percent", "flags" (an enum of several words),
    # "oom-values", "percentiles", "replicaof", "basename", "proc-title".
    kind: str
    default: Any
    mutable: bool = True
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    aliases: tuple[str, ...] = ()
    # Redis's PROTECTED_CONFIG: CONFIG SET refuses it unless enable-protected-configs
    # allows the connection.
    protected: bool = False
    # Redis's HIDDEN_CONFIG: CONFIG GET lists it only when asked by its exact name.
    hidden: bool = False

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("port", "int", 6379, minimum=0, maximum=65535),
    Parameter("bind", "str", "127.0.0.1"),
    Parameter("dir", "str", "./data", mutable=False, protected=True),
    Parameter("appendfsync", "enum", "everysec", choices=APPENDFSYNC_CHOICES),
    Parameter("appendonly", "bool", True),  # `no` is logged and ignored (Config.set)
    Parameter("requirepass", "str", ""),
    Parameter("loglevel", "enum", "notice", choices=LOGLEVEL_CHOICES),
    Parameter("logfile", "str", "", mutable=False),
    Parameter("databases", "int", 16, mutable=False, minimum=1, maximum=1024),
    # Maxima as redis-server 7.0 declares them (UINT_MAX, INT_MAX, LLONG_MAX): they
    # appear in its "argument must be between" errors.
    Parameter("maxclients", "int", 10000, minimum=1, maximum=2**32 - 1),
    Parameter("timeout", "int", 0, minimum=0, maximum=2**31 - 1),
    Parameter("tcp-keepalive", "int", 300, minimum=0, maximum=2**31 - 1),
    Parameter("protected-mode", "bool", True),
    # As in Redis (MODULE LOAD/LOADEX/UNLOAD's gate); AiKv loads no module either way.
    Parameter("enable-module-command", "enum", "no", mutable=False,
              choices=("no", "yes", "local")),
    Parameter("client-query-buffer-limit", "memory", 1024 * 1024 * 1024, minimum=1024 * 1024,
              maximum=2**63 - 1),
    Parameter("proto-max-bulk-len", "memory", 512 * 1024 * 1024, minimum=1024 * 1024,
              maximum=2**63 - 1),
    Parameter("client-output-buffer-limit", "obuf", DEFAULT_OUTPUT_BUFFER_LIMITS),
    Parameter("maxmemory", "memory", 0, minimum=0, maximum=2**64 - 1),
    # AiKv-specific: the initial LMDB map size. The map grows on its own (doubling ahead
    # of need), so this only matters for tests that want to exercise growth.
    Parameter("lmdb-initial-map-size", "memory", 1 << 30, mutable=False, minimum=1 << 16),
    # AiKv-specific: LMDB writes through its memory map, which is then allocated on disk
    # whole (see aikv/persist/store.py); the default keeps data.mdb sparse (pwrite).
    Parameter("lmdb-writemap", "bool", False, mutable=False),
    # AiKv-specific: the tick log (see aikv/persist/ticklog.py). Each tick's changes are
    # appended to a log file in --dir and LMDB commits only at checkpoints, at most every
    # lmdb-tick-log-checkpoint-ms milliseconds; "no" commits LMDB at every tick.
    Parameter("lmdb-tick-log", "bool", True, mutable=False),
    Parameter("lmdb-tick-log-checkpoint-ms", "int", 100, mutable=False, minimum=1,
              maximum=3_600_000),
    # Redis accepts 0..INT_MAX and then clamps to 1..500 (CONFIG GET shows the clamp).
    Parameter("hz", "int", 10, minimum=0, maximum=2**31 - 1),
    Parameter("save", "save", ""),
    Parameter("dbfilename", "basename", "dump.rdb", protected=True),
    # AiKv writes no RDB file; this decides, as in Redis, whether DUMP LZF-compresses
    # strings longer than 20 bytes (MIGRATE never does, see aikv/commands/dumprestore.py).
    Parameter("rdbcompression", "bool", True),
    Parameter("cluster-enabled", "bool", False, mutable=False),
    Parameter("cluster-config-file", "str", "nodes.conf", mutable=False),
    Parameter("cluster-node-timeout", "int", 15000, minimum=0, maximum=2**63 - 1),
    Parameter("cluster-port", "int", 0, mutable=False, minimum=0, maximum=65535),
    Parameter("cluster-require-full-coverage", "bool", True),
    Parameter("cluster-allow-reads-when-down", "bool", False),
    Parameter("cluster-allow-pubsubshard-when-down", "bool", True),
    Parameter("cluster-allow-replica-migration", "bool", True),
    Parameter("cluster-announce-ip", "str", ""),
    Parameter("cluster-announce-port", "int", 0, minimum=0, maximum=65535),
    Parameter("cluster-announce-bus-port", "int", 0, minimum=0, maximum=65535),
    Parameter("cluster-announce-hostname", "hostname", ""),
    Parameter("cluster-preferred-endpoint-type", "enum", "ip",
              choices=("ip", "hostname", "unknown-endpoint")),
    Parameter("slowlog-log-slower-than", "int", 10000, minimum=-1, maximum=2**63 - 1),
    Parameter("slowlog-max-len", "int", 128, minimum=0, maximum=2**63 - 1),
    Parameter("list-max-listpack-size", "int", -2, minimum=-2**31, maximum=2**31 - 1,
              aliases=("list-max-ziplist-size",)),
    Parameter("hash-max-listpack-entries", "int", 512, minimum=0, maximum=2**63 - 1,
              aliases=("hash-max-ziplist-entries",)),
    Parameter("hash-max-listpack-value", "memory", 64, minimum=0, maximum=2**63 - 1,
              aliases=("hash-max-ziplist-value",)),
    Parameter("set-max-intset-entries", "int", 512, minimum=0, maximum=2**63 - 1),
    Parameter("stream-node-max-bytes", "memory", 4096, minimum=0, maximum=2**63 - 1),
    Parameter("stream-node-max-entries", "int", 100, minimum=0, maximum=2**63 - 1),
    Parameter("hll-sparse-max-bytes", "memory", 3000, minimum=0, maximum=2**63 - 1),
    Parameter("zset-max-listpack-entries", "int", 128, minimum=0, maximum=2**63 - 1,
              aliases=("zset-max-ziplist-entries",)),
    Parameter("zset-max-listpack-value", "memory", 64, minimum=0, maximum=2**63 - 1,
              aliases=("zset-max-ziplist-value",)),
    Parameter("busy-reply-threshold", "int", 5000, minimum=0, maximum=_LONG_MAX,
              aliases=("lua-time-limit",)),
    Parameter("maxmemory-policy", "enum", "noeviction",
              choices=("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                       "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")),
    Parameter("notify-keyspace-events", "events", 0),
    # --- Applied by AiKv (see where each is read) ---
    # With both non-zero, writes are refused with NOREPLICAS while fewer replicas than
    # that acknowledged within the lag (Server.too_few_replicas).
    Parameter("min-replicas-to-write", "int", 0, minimum=0, maximum=_INT_MAX,
              aliases=("min-slaves-to-write",)),
    Parameter("min-replicas-max-lag", "int", 10, minimum=0, maximum=_INT_MAX,
              aliases=("min-slaves-max-lag",)),
    Parameter("acllog-max-len", "int", 128, minimum=0, maximum=_LONG_MAX),
    Parameter("tcp-backlog", "int", 511, mutable=False, minimum=0, maximum=_INT_MAX),
    Parameter("pidfile", "str", "", mutable=False),
    Parameter("oom-score-adj", "enum", "no", choices=("no", "yes", "relative", "absolute")),
    Parameter("oom-score-adj-values", "oom-values", (0, 200, 800)),
    Parameter("enable-protected-configs", "enum", "no", mutable=False,
              choices=("no", "yes", "local")),
    Parameter("enable-debug-command", "enum", "no", mutable=False,
              choices=("no", "yes", "local")),
    # "yes" is refused with Redis's text for a build without its defragmenting allocator.
    Parameter("activedefrag", "bool", False),
    # A master to follow at start-up (aikv/replica.py); REPLICAOF changes it. Startup
    # refuses a TLS port (no TLS).
    Parameter("replicaof", "replicaof", "", mutable=False, aliases=("slaveof",)),
    Parameter("tls-port", "int", 0, minimum=0, maximum=65535),
    # --- Accepted, validated and reported as Redis does, with nothing to act on in AiKv:
    # replication, TLS (without tls-port), AOF/RDB files, allocator and process tuning,
    # and knobs of Redis internals that AiKv does not share.
    Parameter("rdbchecksum", "bool", True, mutable=False),
    Parameter("daemonize", "bool", False, mutable=False),
    Parameter("io-threads-do-reads", "bool", False, mutable=False),
    Parameter("always-show-logo", "bool", False, mutable=False),
    Parameter("rdb-del-sync-files", "bool", False),
    Parameter("activerehashing", "bool", True),
    Parameter("stop-writes-on-bgsave-error", "bool", True),
    Parameter("set-proc-title", "bool", True, mutable=False),
    Parameter("dynamic-hz", "bool", True),
    Parameter("lazyfree-lazy-eviction", "bool", False),
    Parameter("lazyfree-lazy-expire", "bool", False),
    Parameter("lazyfree-lazy-server-del", "bool", False),
    Parameter("lazyfree-lazy-user-del", "bool", False),
    Parameter("lazyfree-lazy-user-flush", "bool", False),
    Parameter("repl-disable-tcp-nodelay", "bool", False),
    Parameter("repl-diskless-sync", "bool", True),
    Parameter("aof-rewrite-incremental-fsync", "bool", True),
    Parameter("no-appendfsync-on-rewrite", "bool", False),
    Parameter("rdb-save-incremental-fsync", "bool", True),
    Parameter("aof-load-truncated", "bool", True),
    Parameter("aof-use-rdb-preamble", "bool", True),
    Parameter("aof-timestamp-enabled", "bool", False),
    Parameter("cluster-replica-no-failover", "bool", False,
              aliases=("cluster-slave-no-failover",)),
    Parameter("replica-lazy-flush", "bool", False, aliases=("slave-lazy-flush",)),
    Parameter("replica-serve-stale-data", "bool", True, aliases=("slave-serve-stale-data",)),
    Parameter("replica-read-only", "bool", True, aliases=("slave-read-only",)),
    Parameter("replica-ignore-maxmemory", "bool", True, aliases=("slave-ignore-maxmemory",)),
    Parameter("jemalloc-bg-thread", "bool", True),
    Parameter("syslog-enabled", "bool", False, mutable=False),
    Parameter("crash-log-enabled", "bool", True),
    Parameter("crash-memcheck-enabled", "bool", True),
    Parameter("use-exit-on-panic", "bool", False, hidden=True),
    Parameter("disable-thp", "bool", True, mutable=False),
    Parameter("replica-announced", "bool", True),
    Parameter("latency-tracking", "bool", True),
    Parameter("aof-disable-auto-gc", "bool", False),
    Parameter("replica-ignore-disk-write-errors", "bool", False),
    # Applied, unlike its neighbours: the ACL file (aikv/acl_file.py), relative to dir.
    Parameter("aclfile", "str", "", mutable=False),
    Parameter("unixsocket", "str", "", mutable=False),
    Parameter("replica-announce-ip", "str", "", aliases=("slave-announce-ip",)),
    Parameter("masteruser", "str", ""),
    Parameter("masterauth", "str", ""),
    Parameter("syslog-ident", "str", "redis", mutable=False),
    Parameter("appendfilename", "basename", "appendonly.aof", mutable=False),
    Parameter("appenddirname", "basename", "appendonlydir", mutable=False),
    Parameter("server_cpulist", "str", "", mutable=False),
    Parameter("bio_cpulist", "str", "", mutable=False),
    Parameter("aof_rewrite_cpulist", "str", "", mutable=False),
    Parameter("bgsave_cpulist", "str", "", mutable=False),
    Parameter("ignore-warnings", "str", ""),
    Parameter("proc-title-template", "proc-title", "{title} {listen-addr} {server-mode}"),
    Parameter("bind-source-addr", "str", ""),
    Parameter("supervised", "enum", "no", mutable=False,
              choices=("upstart", "systemd", "auto", "no")),
    Parameter("syslog-facility", "enum", "local0", mutable=False,
              choices=("user", "local0", "local1", "local2", "local3", "local4", "local5",
                       "local6", "local7")),
    Parameter("repl-diskless-load", "enum", "disabled",
              choices=("disabled", "on-empty-db", "swapdb")),
    Parameter("acl-pubsub-default", "enum", "resetchannels",
              choices=("allchannels", "resetchannels")),
    # AiKv decodes every RESTORE payload whole before it stores it, whatever this says.
    Parameter("sanitize-dump-payload", "enum", "no", choices=("no", "yes", "clients")),
    Parameter("propagation-error-behavior", "enum", "ignore",
              choices=("ignore", "panic", "panic-on-replicas")),
    Parameter("shutdown-on-sigint", "flags", 0, choices=SHUTDOWN_FLAGS),
    Parameter("shutdown-on-sigterm", "flags", 0, choices=SHUTDOWN_FLAGS),
    Parameter("io-threads", "int", 1, mutable=False, minimum=1, maximum=128),
    Parameter("auto-aof-rewrite-percentage", "int", 100, minimum=0, maximum=_INT_MAX),
    Parameter("cluster-replica-validity-factor", "int", 10, minimum=0, maximum=_INT_MAX,
              aliases=("cluster-slave-validity-factor",)),
    Parameter("cluster-migration-barrier", "int", 1, minimum=0, maximum=_INT_MAX),
    Parameter("active-defrag-cycle-min", "int", 1, minimum=1, maximum=99),
    Parameter("active-defrag-cycle-max", "int", 25, minimum=1, maximum=99),
    Parameter("active-defrag-threshold-lower", "int", 10, minimum=0, maximum=1000),
    Parameter("active-defrag-threshold-upper", "int", 100, minimum=0, maximum=1000),
    Parameter("lfu-log-factor", "int", 10, minimum=0, maximum=_INT_MAX),
    Parameter("lfu-decay-time", "int", 1, minimum=0, maximum=_INT_MAX),
    Parameter("replica-priority", "int", 100, minimum=0, maximum=_INT_MAX,
              aliases=("slave-priority",)),
    Parameter("repl-diskless-sync-delay", "int", 5, minimum=0, maximum=_INT_MAX),
    Parameter("maxmemory-samples", "int", 5, minimum=1, maximum=_INT_MAX),
    Parameter("maxmemory-eviction-tenacity", "int", 10, minimum=0, maximum=100),
    Parameter("replica-announce-port", "int", 0, minimum=0, maximum=65535,
              aliases=("slave-announce-port",)),
    Parameter("cluster-announce-tls-port", "int", 0, minimum=0, maximum=65535),
    Parameter("repl-timeout", "int", 60, minimum=1, maximum=_INT_MAX),
    Parameter("repl-ping-replica-period", "int", 10, minimum=1, maximum=_INT_MAX,
              aliases=("repl-ping-slave-period",)),
    Parameter("list-compress-depth", "int", 0, minimum=0, maximum=_INT_MAX),
    Parameter("rdb-key-save-delay", "int", 0, minimum=-_INT_MAX - 1, maximum=_INT_MAX,
              hidden=True),
    Parameter("key-load-delay", "int", 0, minimum=-_INT_MAX - 1, maximum=_INT_MAX, hidden=True),
    Parameter("active-expire-effort", "int", 1, minimum=1, maximum=10),
    Parameter("watchdog-period", "int", 0, minimum=0, maximum=_INT_MAX, hidden=True),
    Parameter("shutdown-timeout", "int", 10, minimum=0, maximum=_INT_MAX),
    Parameter("repl-diskless-sync-max-replicas", "int", 0, minimum=0, maximum=_INT_MAX),
    Parameter("unixsocketperm", "octal", 0, mutable=False, minimum=0, maximum=0o777),
    Parameter("socket-mark-id", "int", 0, mutable=False, minimum=0, maximum=2**32 - 1),
    Parameter("active-defrag-max-scan-fields", "int", 1000, minimum=1, maximum=_LONG_MAX),
    Parameter("latency-monitor-threshold", "int", 0, minimum=0, maximum=_LONG_MAX),
    Parameter("repl-backlog-size", "memory", 1024 * 1024, minimum=1, maximum=_LONG_MAX),
    Parameter("cluster-link-sendbuf-limit", "memory", 0, minimum=0, maximum=2**64 - 1),
    Parameter("active-defrag-ignore-bytes", "memory", 100 << 20, minimum=1, maximum=_LONG_MAX),
    Parameter("tracking-table-max-keys", "int", 1_000_000, minimum=0, maximum=_LONG_MAX),
    # A percentage is kept as its negative, as config.c keeps it.
    Parameter("maxmemory-clients", "memory-percent", 0, minimum=-100, maximum=_LONG_MAX),
    Parameter("repl-backlog-ttl", "int", 3600, minimum=0, maximum=_LONG_MAX),
    Parameter("auto-aof-rewrite-min-size", "memory", 64 << 20, minimum=0, maximum=_LONG_MAX),
    Parameter("loading-process-events-interval-bytes", "int", 2 << 20, minimum=1024,
              maximum=_INT_MAX, hidden=True),
    Parameter("latency-tracking-info-percentiles", "percentiles", (50.0, 99.0, 99.9)),
    Parameter("tls-session-cache-size", "int", 20 * 1024, minimum=0, maximum=_INT_MAX),
    Parameter("tls-session-cache-timeout", "int", 300, minimum=0, maximum=_INT_MAX),
    Parameter("tls-cluster", "bool", False),
    Parameter("tls-replication", "bool", False),
    Parameter("tls-auth-clients", "enum", "yes", choices=("no", "yes", "optional")),
    Parameter("tls-prefer-server-ciphers", "bool", False),
    Parameter("tls-session-caching", "bool", True),
    *(Parameter(name, "str", "") for name in (
        "tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-client-cert-file",
        "tls-client-key-file", "tls-client-key-file-pass", "tls-dh-params-file",
        "tls-ca-cert-file", "tls-ca-cert-dir", "tls-protocols", "tls-ciphers",
        "tls-ciphersuites")),
)
BY_NAME: dict[str, Parameter] = {}
for _p in PARAMETERS:
    BY_NAME[_p.name] = _p
    for _alias in _p.aliases:
        BY_NAME[_alias] = _p


_MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
                 "g": 1000**3, "gb": 1024**3}


_ULLONG_MAX = 2**64 - 1


def parse_memory(text: str) -> int:
    """Redis's memtoull: digits then an optional unit (1k = 1000, 1kb = 1024, ...; any
    case); no sign, no spaces; no digits at all reads as 0. As in C, too many digits
    saturate at 2^64 - 1 (strtoull's ERANGE is not checked) and the unit's product wraps
    modulo 2^64: the result is an unsigned 64-bit number."""
    digits_end = 0
    while digits_end < len(text) and "0" <= text[digits_end] <= "9":
        digits_end += 1
    unit = text[digits_end:].lower()
    if unit not in _MEMORY_UNITS or digits_end >= 128:
        raise ConfigError("argument must be a memory value")
    value = min(int(text[:digits_end] or "0"), _ULLONG_MAX)
    return value * _MEMORY_UNITS[unit] & _ULLONG_MAX


def _string2ll(text: str) -> int | None:
    """Redis's string2ll: optional '-', digits without a leading zero (but "0"), 64-bit."""
    body = text[1:] if text[:1] == "-" else text
    if not body or not body.isascii() or not body.isdigit() or (len(body) > 1 and body[0] == "0") \
            or text == "-0":
        return None
    value = int(text)
    return value if -2**63 <= value < 2**63 else None


def _check_save(text: str) -> str:
    """setConfigSaveOption: pairs of <seconds >= 1> <changes >= 0>, each read by strtoll
    to the end of its word (blanks before it, a sign, leading zeros; an empty word is 0),
    the words cut at single spaces; the changes are kept in a C int (low 32 bits)."""
    words = _multi_args(text)
    if len(words) % 2:
        raise ConfigError("Invalid save parameters")
    values: list[int] = []
    for i, word in enumerate(words):
        value = _strtoll_whole(word)
        if value is None or value < 1 - i % 2:
            raise ConfigError("Invalid save parameters")
        values.append(value)
    return " ".join(f"{seconds} {narrow_int32(changes)}"
                    for seconds, changes in zip(values[::2], values[1::2], strict=True))


def _multi_args(text: str) -> list[str]:
    """A multi-word value cut as config.c cuts it: at every single space, so two spaces in
    a row make an empty word; an empty value is no words."""
    return text.split(" ") if text else []


def _strtoll_whole(text: str) -> int | None:
    """strtoll(text, &end, 10) with *end == '\\0' required: leading blanks and a sign
    allowed; no digits at all reads 0 only when the text is empty."""
    if not text:
        return 0
    body = text.lstrip(" \t\n\v\f\r")
    digits = body[1:] if body[:1] in "+-" else body
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    return max(-2**63, min(int(body), 2**63 - 1))


def _check_proc_title(template: str) -> str:
    """validateProcTitleTemplate: every {variable} known, braces closed ('{{' is a literal
    brace), and something left once expanded with an empty title and trimmed."""
    known = {"title": "", "listen-addr": "*:0", "server-mode": "", "config-file": "-",
             "port": "0", "tls-port": "0", "unixsocket": ""}
    out, i = [], 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            out.append(template[i:])
            break
        out.append(template[i:start])
        if start + 1 >= len(template):
            raise ConfigError(_BAD_TITLE)
        if template[start + 1] == "{":
            out.append("{")
            i = start + 2
            continue
        end = template.find("}", start + 1)
        if end < 0 or template[start + 1:end] not in known:
            raise ConfigError(_BAD_TITLE)
        out.append(known[template[start + 1:end]])
        i = end + 1
    if not "".join(out).strip(" "):
        raise ConfigError(_BAD_TITLE)
    return template


_BAD_TITLE = "template format is invalid or contains unknown variables"


def _convert_special(param: Parameter, text: str) -> Any:
    kind = param.kind
    if kind == "flags":
        bits = 0
        words = _multi_args(text)
        if not words or any(word.lower() not in _SHUTDOWN_BITS for word in words):
            raise ConfigError("argument(s) must be one of the following: "
                              + ", ".join(param.choices))
        for word in words:
            bits |= _SHUTDOWN_BITS[word.lower()]
        if bits & SHUTDOWN_SAVE and bits & SHUTDOWN_NOSAVE:
            raise ConfigError("shutdown options SAVE and NOSAVE can't be used simultaneously")
        return bits
    if kind == "oom-values":
        words = _multi_args(text)
        if len(words) != 3:
            raise ConfigError("wrong number of arguments")
        values = [_strtoll_whole(word) for word in words]
        if any(v is None or not -2000 <= v <= 2000 for v in values):
            raise ConfigError("Invalid oom-score-adj-values, elements must be between -2000 "
                              "and 2000.")
        return tuple(values)
    if kind == "percentiles":
        from aikv.resp import CommandError
        from aikv.zset_store import parse_score  # string2d's rules

        percentiles = []
        for word in _multi_args(text):
            try:
                value = parse_score(word.encode())
            except CommandError:
                raise ConfigError("Invalid latency-tracking-info-percentiles parameters") \
                    from None
            if not 0.0 <= value <= 100.0:
                raise ConfigError("latency-tracking-info-percentiles parameters should sit "
                                  "between [0.0,100.0]")
            percentiles.append(value)
        return tuple(percentiles)
    if kind == "replicaof":
        words = _multi_args(text)
        if len(words) != 2:
            raise ConfigError("wrong number of arguments")
        if words[0].lower() == "no" and words[1].lower() == "one":
            return ""
        port = _strtoll_whole(words[1])
        if port is None or not 0 <= port <= 65535:
            raise ConfigError("Invalid master port")
        return f"{words[0]} {port}"
    if kind == "basename":
        if param.name != "dbfilename" and not text:
            raise ConfigError(f"{param.name} can't be empty")
        if "/" in text or "\\" in text:
            what = "dirname" if param.name == "appenddirname" else "filename"
            raise ConfigError(f"{param.name} can't be a path, just a {what}")
        return text
    if kind == "hostname":
        if len(text) >= 256:
            raise ConfigError("Hostnames must be less than 256 characters")
        if any(not (c.isascii() and (c.isalnum() or c in "-.")) for c in text):
            raise ConfigError("Hostnames may only contain alphanumeric characters, hyphens "
                              "or dots")
        return text
    if kind == "proc-title":
        return _check_proc_title(text)
    raise AssertionError(kind)


# Settings AiKv cannot honour: any value but the default is refused, at startup and by
# CONFIG SET, rather than accepted and ignored.
_UNSUPPORTED = {
    # Redis's own text for a build without its defragmenting allocator.
    "activedefrag": "Active defragmentation cannot be enabled: it requires a Redis server "
                    "compiled with a modified Jemalloc like the one shipped by default with "
                    "the Redis source distribution",
    "tls-port": "AiKv does not implement TLS",
}


# AiKv's own immutable parameters, which CONFIG SET accepts at the value they have.
FIXED_HERE = {
    # AiKv's own storage settings, fixed at start: listed by CONFIG GET *, so setting
    # one to what it is succeeds, as a get/set round trip over every parameter expects.
    "lmdb-initial-map-size": "can't set immutable config",
    "lmdb-writemap": "can't set immutable config",
    "lmdb-tick-log": "can't set immutable config",
    "lmdb-tick-log-checkpoint-ms": "can't set immutable config",
}


_SPECIAL_KINDS = frozenset({"flags", "oom-values", "percentiles", "replicaof", "basename",
                            "hostname", "proc-title"})


def _convert(param: Parameter, text: str) -> Any:
    if param.kind == "bool":
        low = text.lower()  # yesnotoi: nothing but yes and no
        if low == "yes":
            return True
        if low == "no":
            return False
        raise ConfigError("argument must be 'yes' or 'no'")
    if param.kind in _SPECIAL_KINDS:
        return _convert_special(param, text)
    if param.kind in ("int", "memory", "octal", "memory-percent"):
        value = _parse_number(param, text)
        if param.kind == "memory-percent" and value < 0:
            if param.minimum is not None and value < param.minimum:
                raise ConfigError(f"percentage argument must be less or equal to "
                                  f"{-param.minimum}")
        elif param.minimum is not None and value < param.minimum or (
            param.maximum is not None and value > param.maximum
        ):
            lower, upper = param.minimum, param.maximum
            if param.kind == "octal":
                raise ConfigError(f"argument must be between {lower:o} and {upper:o} inclusive")
            raise ConfigError(f"argument must be between {lower} and {upper} inclusive")
        if param.name == "hz":  # updateHZ's clamp
            value = min(max(value, 1), 500)
        return value
    if param.kind == "save":
        return _check_save(text)
    if param.kind == "events":
        flags = parse_classes(text)
        if flags is None:
            raise ConfigError(BAD_CLASS)
        return flags
    if param.kind == "enum":
        low = text.lower()
        if low not in param.choices:
            raise ConfigError("argument(s) must be one of the following: " + ", ".join(param.choices))
        return low
    return text


def _parse_number(param: Parameter, text: str) -> int:
    """numericParseString: a memory value, then "<n>%" (kept negative), then octal, each
    where the parameter allows it; plain integers otherwise."""
    kind = param.kind
    if kind in ("memory", "memory-percent"):
        try:
            value = parse_memory(text)
            # numericParseString keeps it in a long long: above LLONG_MAX it reads as
            # negative, except for the unsigned long long parameters (maxmemory,
            # cluster-link-sendbuf-limit), whose bounds are checked unsigned.
            if value > _LONG_MAX and (param.maximum or 0) <= _LONG_MAX:
                value -= 2**64
            return value
        except ConfigError:
            if kind == "memory":
                raise
        percent = _string2ll(text[:-1]) if len(text) > 1 and text[-1] == "%" else None
        if percent is None or percent < 0:
            raise ConfigError("argument must be a memory or percent value")
        return -percent
    if kind == "octal":
        body = text.lstrip(" \t\n\v\f\r")
        digits = body[1:] if body[:1] in "+-" else body
        if not digits or any(c not in "01234567" for c in digits):
            raise ConfigError("argument couldn't be parsed as an octal number")
        return int(body, 8)
    parsed = _string2ll(text)
    if parsed is None:
        raise ConfigError("argument couldn't be parsed into an integer")
    return parsed


def _render_percentile(value: float) -> str:
    text = "%f" % value  # then trimDoubleString: no trailing zeros, no bare point
    return text.rstrip("0").rstrip(".") if "." in text else text


def _render_flags(param: Parameter, bits: int) -> str:
    """configEnumGetName for a several-word enum: a value one word names exactly is that
    word, otherwise the words whose bits it holds, in declaration order."""
    names, unmatched = [], bits
    for name in param.choices:
        flag = _SHUTDOWN_BITS[name]
        if bits == flag:
            return name
        if flag and unmatched & flag == flag:
            names.append(name)
            unmatched &= ~flag
    return " ".join(names) if names and not unmatched else "unknown"


def _render(param: Parameter, value: Any) -> str:
    kind = param.kind
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "octal":
        return f"{value:o}"
    if kind == "memory-percent" and value < 0:
        return f"{-value}%"
    if kind == "flags":
        return _render_flags(param, value)
    if kind == "oom-values":
        return " ".join(str(v) for v in value)
    if kind == "percentiles":
        return " ".join(_render_percentile(v) for v in value)
    if param.kind == "obuf":
        return render_output_buffer_limits(value)
    if param.kind == "events":
        return render_classes(value)
    return str(value)


@dataclass
class Config:
    values: dict[str, Any] = field(default_factory=lambda: {p.name: p.default for p in PARAMETERS})
    config_file: str | None = None
    # `user <name> <rules...>` directives (config file or --user), checked as read and
    # applied at startup (aikv/acl_file.py); CONFIG REWRITE writes the users back.
    users: list[list[bytes]] = field(default_factory=list)
    # What the server logs once it is up about settings taken otherwise than asked.
    notices: list[str] = field(default_factory=list)
    # `rename-command <old> <new>` directives, in order (see registry.command_table).
    renames: list[tuple[bytes, bytes]] = field(default_factory=list)
    # Whether a `save` directive was read (later ones add to it; see _save_line).
    save_lines_read: bool = False

    def __getattr__(self, attr: str) -> Any:
        values = self.__dict__.get("values")
        if values is not None:
            name = attr.replace("_", "-")
            if name in values:
                return values[name]
        raise AttributeError(attr)

    def set(self, name: str, text: str, *, startup: bool = False) -> None:
        param = BY_NAME.get(name.lower())
        if param is None:
            raise ConfigError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
        if not startup and not param.mutable:
            if param.name in FIXED_HERE:
                # Fixed at start: the value it has is accepted, anything else refused.
                if _convert(param, text) == self.values[param.name]:
                    return
                raise ConfigError(FIXED_HERE[param.name])
            raise ConfigError("can't set immutable config")
        if param.kind == "obuf":  # partial: classes not named keep their limits
            self.values[param.name] = parse_output_buffer_limits(text, self.values[param.name])
            return
        value = _convert(param, text)
        if param.name == "appendonly" and not value:
            # AiKv's store is always durable as the AOF would make it: `appendonly no`
            # (Redis's default, in many a redis.conf) cannot turn that off, and the
            # setting says what AiKv does. Accepted rather than refused, at start-up and
            # by CONFIG SET: Redis's tools send it (its cluster test suite does before
            # stopping a node, so that an AOF rewrite does not hold the shutdown up).
            notice = "appendonly no is ignored: AiKv always persists its data " \
                     "(appendonly stays yes)"
            if startup:
                self.notices.append(notice)
            else:
                log.warning("CONFIG SET %s", notice)
            return
        refusal = _UNSUPPORTED.get(param.name)
        if refusal is not None and value != param.default:
            raise ConfigError(refusal)
        if param.name == "repl-backlog-size" and not startup:
            # resizeReplicationBacklog, Redis's apply function, raises it to its
            # 16 KiB floor (a config file's value is taken as written).
            value = max(value, REPL_BACKLOG_MIN_SIZE)
        self.values[param.name] = value

    def get(self, name: str) -> Any:
        return self.values[BY_NAME[name].name]

    def render(self, name: str) -> str:
        param = BY_NAME[name]
        return _render(param, self.values[param.name])

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        """Every listed name and alias that matches (hidden parameters are listed only by
        their exact names, see config_get)."""
        out = []
        for param in PARAMETERS:
            if param.hidden:
                continue
            for candidate in (param.name, *param.aliases):
                if fnmatch.fnmatchcase(candidate, pattern.lower()):
                    out.append((candidate, _render(param, self.values[param.name])))
        return out

    def load_file(self, path: str, *, main: bool = True) -> None:
        """Read a redis.conf-style file (`main`: the one CONFIG REWRITE rewrites; an
        `include` is not). A name with wildcards reads every match, none being no error,
        as Redis 7.0 reads `include /etc/redis/conf.d/*.conf`."""
        if main:
            self.config_file = os.path.abspath(path)
        self.load_text(read_config_files(path))

    def load_text(self, text: str) -> None:
        """Apply configuration text as Redis's loadServerConfigFromString does: line by
        line, blank lines and comments skipped, words split as sdssplitargs splits them.
        A line Redis would refuse raises ConfigLineError with its number and text."""
        for number, raw in enumerate(text.split("\n"), 1):
            line = raw.strip(" \t\r\n")
            if not line or line.startswith("#"):
                continue
            try:
                self._apply_line(line)
            except (ConfigLineError, ConfigFileMissing):
                raise  # from an included file: its own line, or the file itself
            except ConfigError as exc:
                raise ConfigLineError(str(exc), number, line) from None

    def _apply_line(self, line: str) -> None:
        split = split_inline_args(line.encode("utf-8", "surrogateescape"))
        if split is None:
            raise ConfigError("Unbalanced quotes in configuration line")
        if not split:
            return
        words = [w.decode("utf-8", "surrogateescape") for w in split]
        name, args = words[0].lower(), words[1:]
        if name == "set" and len(args) == 1 and "=" in args[0]:
            # AiKv's `--set NAME=VALUE` (the command line's form for any directive).
            directive, _, value = args[0].partition("=")
            name, args = directive.lower(), [value]
        param = BY_NAME.get(name)
        if param is not None:
            if param.name not in MULTI_ARG and len(args) != 1:
                raise ConfigError("wrong number of arguments")
            # A multi-word parameter in one argument ("--save '900 1'") is split by set().
            if param.name == "save":
                self._save_line(args)
            else:
                self.set(name, " ".join(args), startup=True)
        elif name in DEPRECATED and len(args) == 1:
            pass  # still accepted by Redis 7.0, and ignored
        elif name == "rename-command" and len(args) == 2:
            self.rename_command(args[0], args[1])
        elif name == "include" and len(args) == 1:
            self.load_file(args[0], main=False)
        elif name == "user" and args:
            self.add_user([a.encode("utf-8", "surrogateescape") for a in args])
        else:
            raise ConfigError("Bad directive or wrong number of arguments")

    def _save_line(self, args: list[str]) -> None:
        """A `save` directive: the first one of the configuration replaces the default,
        each later one adds its points, and `save ""` empties the list (Redis's
        setConfigSaveOption while it reads a config file and the command line)."""
        text = " ".join(args)
        points = _check_save(text)
        if self.save_lines_read and text:
            points = " ".join(filter(None, (self.values["save"], points)))
        self.values["save"] = points
        self.save_lines_read = True

    def rename_command(self, old: str, new: str) -> None:
        """A `rename-command` directive, checked against the command table as renamed
        so far (Redis's errors); the server builds its table from `renames`."""
        from aikv.commands import load_all
        from aikv.commands.registry import RenameError, command_table

        load_all()
        renames = [*self.renames, (old.encode("utf-8", "surrogateescape"),
                                   new.encode("utf-8", "surrogateescape"))]
        try:
            command_table(renames)
        except RenameError as exc:
            raise ConfigError(str(exc)) from None
        self.renames = renames

    def add_user(self, args: list[bytes]) -> None:
        """A `user <name> <rules...>` directive (ACLAppendUserForLoading's checks)."""
        try:
            check_user_directive(args, (u[0] for u in self.users))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.users.append(list(args))

    def rewrite(self, user_lines: list[str] | None = None, force_all: bool = False) -> None:
        """CONFIG REWRITE: rewrite the file we were started with, keeping its comments and
        order, updating changed directives in place and appending new ones. `user_lines`
        (when given) replace the file's `user` lines in place, in order, the rest appended
        (rewriteConfigUserOption); an empty list removes them. `force_all` (DEBUG
        CONFIG-REWRITE-FORCE-ALL) writes every parameter, at its default or not."""
        if not self.config_file:
            raise ConfigError("The server is running without a config file")
        path = Path(self.config_file)
        # Split as Redis splits it: a file ending in a newline leaves an empty last line.
        lines = path.read_text().split("\n") if path.exists() else []
        seen: set[str] = set()
        out = []
        signed = REWRITE_SIGNATURE in (line.strip() for line in lines)
        pending_users = list(user_lines) if user_lines is not None else None
        for raw in lines:
            words = raw.strip().split()
            if pending_users is not None and words and words[0].lower() == "user":
                out.append(pending_users.pop(0) if pending_users else "")
                continue
            if words and not words[0].startswith("#") and words[0].lower() in BY_NAME:
                param = BY_NAME[words[0].lower()]
                if param.name in seen or _unwritten(param, self.values[param.name]):
                    out.append("")  # an orphaned line goes, as an empty one (Redis)
                    continue
                seen.add(param.name)
                out.append(_rewrite_line(param, self.values[param.name]))
            else:
                out.append(raw)
        appended = [_rewrite_line(param, self.values[param.name]) for param in PARAMETERS
                    if param.name not in seen
                    and (force_all or self.values[param.name] != param.default)
                    and not _unwritten(param, self.values[param.name])]
        appended.extend(pending_users or ())
        if appended and not signed:
            out.append(REWRITE_SIGNATURE)
        out.extend(appended)
        text = ""
        was_empty = False
        for line in out:  # every run of empty lines becomes one, as in Redis
            if not line.strip():
                if was_empty:
                    continue
                was_empty = True
            else:
                was_empty = False
            text += line + "\n"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


# The line Redis puts before what CONFIG REWRITE adds to a file.
REWRITE_SIGNATURE = "# Generated by CONFIG REWRITE"


def _rewrite_line(param: Parameter, value: Any) -> str:
    """A parameter's line as Redis's CONFIG REWRITE writes it: sizes in gb/mb/kb when
    they divide exactly (rewriteConfigFormatMemory), strings quoted as sdscatrepr
    quotes them, the rest as CONFIG GET shows them."""
    kind = param.kind
    if kind == "memory" or (kind == "memory-percent" and value >= 0):
        return f"{param.name} {_format_memory(int(value))}"
    text = _render(param, value)
    if kind in ("basename", "proc-title", "events") or (kind == "str" and param.name != "bind"):
        quoted = quote_arg(text.encode("utf-8", "surrogateescape"))
        return f"{param.name} {quoted.decode('utf-8', 'surrogateescape')}"
    return f"{param.name} {_quote(text)}"


def _format_memory(size: int) -> str:
    for unit, scale in (("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10)):
        if size and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def _unwritten(param: Parameter, value: Any) -> bool:
    """A setting a config file cannot state: `replicaof` of a node that is no replica
    (rewriteConfigReplicaOfOption writes no line then, and drops an old one)."""
    return param.name == "replicaof" and not value


def _quote(value: str) -> str:
    if value == "" or any(c in value for c in " \"'\\"):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value
