"""Argument parsing of RESTORE and MIGRATE, in redis-server 7.0.15's order of checks.

The order matters because it decides which error a client sees when several things are
wrong at once (e.g. RESTORE reports a bad IDLETIME before BUSYKEY, BUSYKEY before a bad
TTL, and a bad TTL before a bad payload). Pure functions, unit-tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aikv.commands.args import LLONG_MAX, LLONG_MIN, NOT_INTEGER, SYNTAX, parse_int
from aikv.resp import CommandError

ERR_BUSYKEY = "BUSYKEY Target key name already exists."
ERR_TTL = "ERR Invalid TTL value, must be >= 0"
ERR_IDLETIME = "ERR Invalid IDLETIME value, must be >= 0"
ERR_FREQ = "ERR Invalid FREQ value, must be >= 0 and <= 255"
ERR_KEYS_NONEMPTY = ("ERR When using MIGRATE KEYS option, the key argument must be set to "
                     "the empty string")
# MIGRATE's timeout and db are C `long`s (64-bit on the platforms Redis runs on).
_LONG_MIN, _LONG_MAX = LLONG_MIN, LLONG_MAX
DEFAULT_TIMEOUT_MS = 1000


@dataclass(slots=True)
class RestoreOptions:
    replace: bool = False
    absttl: bool = False
    idletime: int | None = None
    freq: int | None = None


def parse_restore_options(args: list[bytes]) -> RestoreOptions:
    """The words after `RESTORE key ttl payload`. IDLETIME and FREQ exclude each other:
    the second one is not recognised and becomes a syntax error, as in Redis."""
    opts = RestoreOptions()
    i = 0
    n = len(args)
    while i < n:
        word = args[i].lower()
        more = n - i - 1
        if word == b"replace":
            opts.replace = True
        elif word == b"absttl":
            opts.absttl = True
        elif word == b"idletime" and more >= 1 and opts.freq is None:
            value = parse_int(args[i + 1])
            if value < 0:
                raise CommandError(ERR_IDLETIME)
            opts.idletime = value
            i += 1
        elif word == b"freq" and more >= 1 and opts.idletime is None:
            value = parse_int(args[i + 1])
            if value < 0 or value > 255:
                raise CommandError(ERR_FREQ)
            opts.freq = value
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    return opts


def parse_ttl(raw: bytes) -> int:
    ttl = parse_int(raw)
    if ttl < 0:
        raise CommandError(ERR_TTL)
    return ttl


@dataclass(slots=True)
class MigrateRequest:
    host: bytes
    port: bytes
    db: int
    timeout_ms: int
    keys: list[bytes] = field(default_factory=list)
    copy: bool = False
    replace: bool = False
    username: bytes | None = None
    password: bytes | None = None

    @property
    def cache_name(self) -> bytes:
        """The connection-cache key: the host and port *as written*, like Redis."""
        return self.host + b":" + self.port


def _parse_long(raw: bytes) -> int:
    value = parse_int(raw)
    if value < _LONG_MIN or value > _LONG_MAX:
        raise CommandError(NOT_INTEGER)
    return value


def parse_migrate(argv: list[bytes]) -> MigrateRequest:
    """`MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw]
    [KEYS k...]` (argv includes the command name; arity >= 6 is checked by the
    dispatcher). Options first, then timeout, then db — Redis's order."""
    copy = replace = False
    username: bytes | None = None
    password: bytes | None = None
    keys = [argv[3]]
    n = len(argv)
    j = 6
    while j < n:
        word = argv[j].lower()
        more = n - 1 - j
        if word == b"copy":
            copy = True
        elif word == b"replace":
            replace = True
        elif word == b"auth":
            if not more:
                raise CommandError(SYNTAX)
            j += 1
            password = argv[j]
        elif word == b"auth2":
            if more < 2:
                raise CommandError(SYNTAX)
            username = argv[j + 1]
            password = argv[j + 2]
            j += 2
        elif word == b"keys":
            if argv[3]:
                raise CommandError(ERR_KEYS_NONEMPTY)
            keys = argv[j + 1:]
            break
        else:
            raise CommandError(SYNTAX)
        j += 1
    timeout = _parse_long(argv[5])
    db = _parse_long(argv[4])
    if timeout <= 0:
        timeout = DEFAULT_TIMEOUT_MS
    return MigrateRequest(host=argv[1], port=argv[2], db=db, timeout_ms=timeout, keys=keys,
                          copy=copy, replace=replace, username=username, password=password)


_SKIP_WORDS = {b"copy": 0, b"replace": 0, b"auth": 1, b"auth2": 2}


def migrate_key_positions(argv: list[bytes]) -> list[int]:
    """Key positions for routing, as Redis's migrateGetKeys: argument 3, or everything
    after KEYS when argument 3 is empty; no keys when KEYS is used with a non-empty key
    argument (the command then fails on its own)."""
    first, num = 3, 1
    n = len(argv)
    if n > 6:
        i = 6
        while i < n:
            word = argv[i].lower()
            if word == b"keys":
                if argv[3]:
                    return []
                first = i + 1
                num = n - first
                break
            i += _SKIP_WORDS.get(word, 0) + 1
    if n < 4:
        return []
    return list(range(first, first + num))
