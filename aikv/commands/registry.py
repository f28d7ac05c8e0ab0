"""The command table: one entry per command with its name, arity, flags and key positions.

Every command follows one shape: a handler `(client, argv) -> bytes` that parses its
arguments, applies them through the keyspace, and returns its encoded reply; failures are
raised as `CommandError`. Registration records what COMMAND INFO, COMMAND GETKEYS and the
cluster router need to know about the command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aikv.keyspace import QUIET

if TYPE_CHECKING:
    from aikv.server import Client

Handler = Callable[["Client", list[bytes]], bytes]
KeyFinder = Callable[[list[bytes]], list[int]]


@dataclass(slots=True)
class Command:
    name: str
    handler: Handler
    arity: int
    flags: frozenset[str]
    first_key: int = 0
    last_key: int = 0
    step: int = 0
    key_finder: KeyFinder | None = None
    categories: tuple[str, ...] = ()
    subcommands: dict[str, Command] = field(default_factory=dict)
    parent: Command | None = None
    # Hot-path booleans, derived from `flags` once.
    is_write: bool = False
    # Its key lookups count as keyspace hits/misses: False, True, or keyspace.QUIET (no
    # "keymiss" event either).
    counts_lookups: bool | int = False
    no_auth: bool = False
    allowed_in_pubsub: bool = False
    # Not copied to MONITOR clients: Redis hides administrative commands there.
    skip_monitor: bool = False
    skip_slowlog: bool = False  # EXEC (its commands are logged one by one)
    # Reaches replicas as itself unless it fails (aikv/replication/propagate.py): writes
    # and may-replicate commands, not the transactions and scripts that run others.
    propagates: bool = False
    # A data command: one that reads or writes keys and nothing else, so it cannot change
    # its connection's state (authentication, MULTI, subscriptions, database, blocking,
    # closing). Derived from the categories (see DATA_CATEGORIES); the dispatcher runs a
    # pipeline of them with fewer checks (Client._run).
    data: bool = False
    # The arity as bounds on len(argv): min_args <= len(argv) <= max_args.
    min_args: int = 0
    max_args: int = 0
    calls: int = 0
    usec: int = 0
    failed_calls: int = 0
    rejected_calls: int = 0
    # latency-tracking: calls by duration in microseconds (aikv/latency_histogram.py
    # lays out Redis's histogram from it); empty until a call is recorded.
    latency: dict[int, int] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.parent.name}|{self.name}" if self.parent else self.name

    def key_positions(self, argv: list[bytes]) -> list[int]:
        if self.key_finder is not None:
            return self.key_finder(argv)
        if not self.first_key:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return list(range(self.first_key, min(last, len(argv) - 1) + 1, self.step or 1))

    def keys(self, argv: list[bytes]) -> list[bytes]:
        if self.key_finder is None and self.first_key and self.first_key == self.last_key:
            return [argv[self.first_key]] if len(argv) > self.first_key else []
        return [argv[i] for i in self.key_positions(argv)]


COMMANDS: dict[bytes, Command] = {}


class RenameError(ValueError):
    """A rename-command directive Redis would refuse (its text is the message)."""


def command_table(renames: list[tuple[bytes, bytes]]) -> dict[bytes, Command]:
    """The commands by (lower-case) name after `rename-command` directives, applied in
    order as Redis applies them to its table: the old name goes, the command comes back
    under the new one (an empty one removes it). The commands keep their own names
    (COMMAND INFO and COMMAND LIST show them), as in Redis."""
    if not renames:
        return COMMANDS
    table = dict(COMMANDS)
    for old, new in renames:
        cmd = table.pop(old.lower(), None)
        if cmd is None:
            raise RenameError("No such command in rename-command")
        if new:
            if new.lower() in table:
                raise RenameError("Target command name already exists")
            table[new.lower()] = cmd
    return table

# Read-only commands whose key lookups Redis does not count as keyspace hits/misses
# (they look the key up without lookupKeyRead).
_UNCOUNTED_LOOKUPS = frozenset({"usage"})
# Write commands whose every lookup is one Redis counts (it reads their sources with
# lookupKeyRead and never looks the destination up); SET ... GET, GETEX and COPY count
# their reads themselves (Database.read_meta).
_COUNTED_WRITES = frozenset({
    "getset", "getdel", "sunionstore", "sinterstore", "sdiffstore", "zunionstore",
    "zinterstore", "zdiffstore", "zrangestore", "sort", "bitop", "pfmerge", "georadius",
    "georadiusbymember", "geosearchstore", "migrate"})

# Categories that say only what data a command touches and how fast it is. A command
# whose categories are all among them is a data command (Command.data); @connection,
# @pubsub, @transaction, @blocking, @admin, @dangerous, ... make it not one.
DATA_CATEGORIES = frozenset({"@read", "@write", "@fast", "@slow", "@keyspace", "@string",
                             "@list", "@hash", "@set", "@sortedset", "@bitmap",
                             "@geo", "@stream"})

_PUBSUB_CONTEXT = {"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe",
                   "sunsubscribe", "ping", "quit", "reset"}


# Commands that run other commands (their effects are propagated, not themselves).
_RUNS_OTHERS = frozenset({"exec", "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall",
                          "fcall_ro"})


def command(name: str, arity: int, flags: str = "", keys: tuple[int, int, int] = (0, 0, 0),
            key_finder: KeyFinder | None = None, categories: str = "",
            parent: str | None = None, data: bool | None = None) -> Callable[[Handler], Handler]:
    """Register a handler. `keys` is (first, last, step) as in COMMAND INFO; `last` may be
    negative (counted from the end). `parent` registers a subcommand (e.g. CONFIG GET).
    `data` overrides what the categories say about Command.data (for a command that is an
    ACL @dangerous but behaves as a plain data command)."""

    def register(handler: Handler) -> Handler:
        flag_set = frozenset(flags.split())
        cmd = Command(
            name=name, handler=handler, arity=arity, flags=flag_set,
            first_key=keys[0], last_key=keys[1], step=keys[2], key_finder=key_finder,
            categories=tuple(categories.split()),
            is_write="write" in flag_set, no_auth="no-auth" in flag_set,
            counts_lookups=(QUIET if parent == "object" else
                            ("readonly" in flag_set and name not in _UNCOUNTED_LOOKUPS)
                            or name in _COUNTED_WRITES),
            allowed_in_pubsub=name in _PUBSUB_CONTEXT,
            skip_monitor="admin" in flag_set or "skip-monitor" in flag_set,
            skip_slowlog="skip-slowlog" in flag_set,
            propagates=("write" in flag_set or "may-replicate" in flag_set)
            and name not in _RUNS_OTHERS,
            data=(bool(categories) and DATA_CATEGORIES.issuperset(categories.split()))
            if data is None else data,
            min_args=abs(arity), max_args=arity if arity > 0 else 1 << 62,
        )
        if parent is None:
            COMMANDS[name.encode()] = cmd
        else:
            container = COMMANDS[parent.encode()]
            cmd.parent = container
            container.subcommands[name] = cmd
            container.data = False  # resolved by execute()
        return handler

    return register


def container(name: str, arity: int = -2, flags: str = "") -> None:
    """Register a command that only dispatches to subcommands (CONFIG, CLIENT, ...)."""

    def dispatch(client: Client, argv: list[bytes]) -> bytes:
        raise AssertionError("containers are resolved by the dispatcher")

    command(name, arity, flags)(dispatch)
