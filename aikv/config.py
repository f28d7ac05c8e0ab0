"""The node's configuration: one typed object, filled from defaults, an optional
redis.conf-style file and command-line flags (in that order of precedence), and read and
written at run time by CONFIG GET / SET / REWRITE.

Each parameter is declared once in `PARAMETERS` with its Redis directive name, type and
default; the attribute name is the directive with '-' replaced by '_'.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aikv.notify import BAD_CLASS, parse_classes, render_classes

APPENDFSYNC_CHOICES = ("always", "everysec", "no")
LOGLEVEL_CHOICES = ("debug", "verbose", "notice", "warning")


class ConfigError(ValueError):
    pass


# client-output-buffer-limit: class -> (hard bytes, soft bytes, soft seconds); 0 disables.
# "replica" is kept for the syntax and CONFIG GET (AiKv has no replicas to apply it to).
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
    words = text.split()
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
        seconds_text = words[i + 3]
        digits = seconds_text[1:] if seconds_text[:1] in "+-" else seconds_text
        seconds = int(seconds_text) if digits.isdigit() and digits.isascii() else -1
        if hard < 0 or soft < 0 or seconds < 0:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit "
                              "configuration.")
        updated[cls] = (hard, soft, seconds)
    return updated


def render_output_buffer_limits(limits: OutputBufferLimits) -> str:
    return " ".join(f"{name} {hard} {soft} {seconds}" for name, (hard, soft, seconds) in
                    (("normal", limits["normal"]), ("slave", limits["replica"]),
                     ("pubsub", limits["pubsub"])))


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # "int", "bool", "str", "enum", "memory", "obuf", "events", "save"
    default: Any
    mutable: bool = True
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    aliases: tuple[str, ...] = ()

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("port", "int", 6379, mutable=False, minimum=0, maximum=65535),
    Parameter("bind", "str", "127.0.0.1", mutable=False),
    Parameter("dir", "str", "./data", mutable=False),
    Parameter("appendfsync", "enum", "everysec", choices=APPENDFSYNC_CHOICES),
    Parameter("appendonly", "bool", True, mutable=False),
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
    Parameter("dbfilename", "str", "dump.rdb"),
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
    Parameter("cluster-announce-hostname", "str", ""),
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
    Parameter("lua-time-limit", "int", 5000, minimum=0, maximum=2**63 - 1),
    Parameter("maxmemory-policy", "enum", "noeviction",
              choices=("volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu",
                       "volatile-random", "allkeys-random", "volatile-ttl", "noeviction")),
    Parameter("notify-keyspace-events", "events", 0),
)
BY_NAME: dict[str, Parameter] = {}
for _p in PARAMETERS:
    BY_NAME[_p.name] = _p
    for _alias in _p.aliases:
        BY_NAME[_alias] = _p


_MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
                 "g": 1000**3, "gb": 1024**3}


def parse_memory(text: str) -> int:
    """Redis's memtoull: digits then an optional unit (1k = 1000, 1kb = 1024, ...; any
    case); no sign, no spaces; no digits at all reads as 0."""
    digits_end = 0
    while digits_end < len(text) and "0" <= text[digits_end] <= "9":
        digits_end += 1
    unit = text[digits_end:].lower()
    if unit not in _MEMORY_UNITS or digits_end >= 128:
        raise ConfigError("argument must be a memory value")
    value = int(text[:digits_end] or "0") * _MEMORY_UNITS[unit]
    if value >= 2**64:
        raise ConfigError("argument must be a memory value")
    return value


def _string2ll(text: str) -> int | None:
    """Redis's string2ll: optional '-', digits without a leading zero (but "0"), 64-bit."""
    body = text[1:] if text[:1] == "-" else text
    if not body or not body.isascii() or not body.isdigit() or (len(body) > 1 and body[0] == "0") \
            or text == "-0":
        return None
    value = int(text)
    return value if -2**63 <= value < 2**63 else None


def _check_save(text: str) -> str:
    """setConfigSaveOption: "" or pairs of <seconds >= 1> <changes >= 0>."""
    words = text.split()
    if len(words) % 2:
        raise ConfigError("Invalid save parameters")
    for i, word in enumerate(words):
        digits = word[1:] if word[:1] in "+-" else word
        if not digits.isascii() or not digits.isdigit() or int(word) < (1 - i % 2):
            raise ConfigError("Invalid save parameters")
    return " ".join(str(int(word)) for word in words)


def _convert(param: Parameter, text: str) -> Any:
    if param.kind == "bool":
        low = text.lower()
        if low in ("yes", "1", "true"):
            return True
        if low in ("no", "0", "false"):
            return False
        raise ConfigError("argument must be 'yes' or 'no'")
    if param.kind in ("int", "memory"):
        if param.kind == "memory":
            value = parse_memory(text)
        else:
            parsed = _string2ll(text)
            if parsed is None:
                raise ConfigError("argument couldn't be parsed into an integer")
            value = parsed
        if param.minimum is not None and value < param.minimum or (
            param.maximum is not None and value > param.maximum
        ):
            raise ConfigError(
                f"argument must be between {param.minimum} and {param.maximum} inclusive"
            )
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


def _render(param: Parameter, value: Any) -> str:
    if param.kind == "bool":
        return "yes" if value else "no"
    if param.kind == "obuf":
        return render_output_buffer_limits(value)
    if param.kind == "events":
        return render_classes(value)
    return str(value)


@dataclass
class Config:
    values: dict[str, Any] = field(default_factory=lambda: {p.name: p.default for p in PARAMETERS})
    config_file: str | None = None

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
            raise ConfigError("can't set immutable config")
        if param.kind == "obuf":  # partial: classes not named keep their limits
            self.values[param.name] = parse_output_buffer_limits(text, self.values[param.name])
            return
        self.values[param.name] = _convert(param, text)

    def get(self, name: str) -> Any:
        return self.values[BY_NAME[name].name]

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        out = []
        for param in PARAMETERS:
            for candidate in (param.name, *param.aliases):
                if fnmatch.fnmatchcase(candidate, pattern.lower()):
                    out.append((candidate, _render(param, self.values[param.name])))
        return out

    def load_file(self, path: str) -> None:
        """Read a redis.conf-style file. Unknown directives are an error, as in Redis."""
        self.config_file = os.path.abspath(path)
        for lineno, raw in enumerate(Path(path).read_text().splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                words = shlex.split(line)
            except ValueError as exc:
                raise ConfigError(f"{path}:{lineno}: {exc}") from None
            name, args = words[0].lower(), words[1:]
            if name not in BY_NAME:
                raise ConfigError(f"{path}:{lineno}: Bad directive or wrong number of arguments")
            try:
                self.set(name, " ".join(args), startup=True)
            except ConfigError as exc:
                raise ConfigError(f"{path}:{lineno}: {exc}") from None

    def rewrite(self) -> None:
        """CONFIG REWRITE: rewrite the file we were started with, keeping its comments and
        order, updating changed directives in place and appending new ones."""
        if not self.config_file:
            raise ConfigError("The server is running without a config file")
        path = Path(self.config_file)
        lines = path.read_text().splitlines() if path.exists() else []
        seen: set[str] = set()
        out = []
        for raw in lines:
            words = raw.strip().split()
            if words and not words[0].startswith("#") and words[0].lower() in BY_NAME:
                param = BY_NAME[words[0].lower()]
                if param.name in seen:
                    continue
                seen.add(param.name)
                out.append(f"{param.name} {_quote(_render(param, self.values[param.name]))}")
            else:
                out.append(raw)
        for param in PARAMETERS:
            if param.name not in seen and self.values[param.name] != param.default:
                out.append(f"{param.name} {_quote(_render(param, self.values[param.name]))}")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("\n".join(out) + "\n")
        os.replace(tmp, path)


def _quote(value: str) -> str:
    if value == "" or any(c in value for c in " \"'\\"):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value
