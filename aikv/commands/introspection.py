"""COMMAND and its subcommands: the command table as Redis 7.0 describes it.

Everything here is derived from the registrations in `registry.COMMANDS`: flags are
printed in Redis's order with Redis's spellings, ACL categories get the implicit ones
Redis adds (write -> @write, admin -> @admin @dangerous, not fast -> @slow, ...), and
key specifications are synthesised from (first, last, step) or, for commands with a
key finder, declared "unknown" and flagged `movablekeys` so cluster clients ask
COMMAND GETKEYS instead of guessing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikv import glob
from aikv.commands.registry import COMMANDS, Command, command
from aikv.resp import (
    EMPTY_ARRAY,
    CommandError,
    array,
    bulk,
    integer,
    map_reply,
    null,
    set_reply,
    simple,
)

if TYPE_CHECKING:
    from aikv.client import Client

# Flags as COMMAND INFO prints them, in its order. Registrations spell multi-word flags
# with '-' (no-auth); Redis replies with '_'. Flags Redis does not print (may_replicate,
# sentinel, ...) are dropped.
FLAG_ORDER = ("write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript",
              "blocking", "loading", "stale", "skip_monitor", "skip_slowlog", "asking",
              "fast", "no_auth", "no_mandatory_keys", "no_async_loading", "no_multi",
              "movablekeys", "allow_busy")
CATEGORY_ORDER = ("keyspace", "read", "write", "set", "sortedset", "list", "hash",
                  "string", "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin",
                  "fast", "slow", "blocking", "dangerous", "connection", "transaction",
                  "scripting")
_CATEGORY_RANK = {name: i for i, name in enumerate(CATEGORY_ORDER)}

# COMMAND DOCS "group", from the module a command is registered in.
_GROUPS = {"strings": "string", "keys": "generic", "hashes": "hash", "lists": "list",
           "sets": "set", "zsets": "sorted-set", "pubsub": "pubsub",
           "transactions": "transactions", "connection": "connection", "server": "server",
           "introspection": "server", "cluster": "cluster", "dumprestore": "generic",
           "scripting": "scripting", "hyperloglog": "hyperloglog", "geo": "geo",
           "streams": "stream", "stream_groups": "stream",
           "bitmaps": "bitmap", "sort": "generic", "zset_ops": "sorted-set",
           "lcs": "string"}

# Command tips (Redis 7.0's request/response policies and output notes) for commands
# whose tips cluster-aware clients act on; other commands have none.
_LATENCY_TIPS = ("nondeterministic_output", "request_policy:all_nodes",
                 "response_policy:special")
TIPS: dict[str, tuple[str, ...]] = {
    "info": ("nondeterministic_output", "request_policy:all_shards", "response_policy:special"),
    "config|set": ("request_policy:all_nodes", "response_policy:all_succeeded"),
    "time": ("nondeterministic_output",),
    "lastsave": ("nondeterministic_output",),
    "xadd": ("nondeterministic_output",),
    "xtrim": ("nondeterministic_output",),
    "dbsize": ("request_policy:all_shards", "response_policy:agg_sum"),
    "flushdb": ("request_policy:all_shards", "response_policy:all_succeeded"),
    "flushall": ("request_policy:all_shards", "response_policy:all_succeeded"),
    "wait": ("request_policy:all_shards", "response_policy:agg_min"),
    "mget": ("request_policy:multi_shard",),
    "mset": ("request_policy:multi_shard", "response_policy:all_succeeded"),
    "del": ("request_policy:multi_shard", "response_policy:agg_sum"),
    "unlink": ("request_policy:multi_shard", "response_policy:agg_sum"),
    "exists": ("request_policy:multi_shard", "response_policy:agg_sum"),
    "touch": ("request_policy:multi_shard", "response_policy:agg_sum"),
    "keys": ("request_policy:all_shards", "nondeterministic_output_order"),
    "scan": ("nondeterministic_output", "request_policy:special"),
    "randomkey": ("request_policy:all_shards", "nondeterministic_output"),
    "command": ("nondeterministic_output_order",),
    "command|docs": ("nondeterministic_output_order",),
    "command|info": ("nondeterministic_output_order",),
    "command|list": ("nondeterministic_output_order",),
    "slowlog|get": ("request_policy:all_nodes", "nondeterministic_output"),
    "slowlog|len": ("request_policy:all_nodes", "response_policy:agg_sum",
                    "nondeterministic_output"),
    "slowlog|reset": ("request_policy:all_nodes", "response_policy:all_succeeded"),
    "memory|doctor": ("nondeterministic_output", "request_policy:all_shards",
                      "response_policy:special"),
    "memory|stats": ("nondeterministic_output", "request_policy:all_shards",
                     "response_policy:special"),
    "memory|malloc-stats": ("nondeterministic_output", "request_policy:all_shards",
                            "response_policy:special"),
    "latency|doctor": _LATENCY_TIPS,
    "latency|graph": _LATENCY_TIPS,
    "latency|history": _LATENCY_TIPS,
    "latency|latest": _LATENCY_TIPS,
    "latency|histogram": _LATENCY_TIPS,
    "latency|reset": ("request_policy:all_nodes", "response_policy:all_succeeded"),
    "memory|purge": ("request_policy:all_shards", "response_policy:all_succeeded"),
}

# COMMAND DOCS text for the commands of this family and the server family; other
# commands report their group only, which is a well-formed (module-style) entry.
DOCS: dict[str, tuple[str, str, str]] = {
    # name: (summary, since, complexity)
    "info": ("Report information and statistics about the server", "1.0.0", "O(1)"),
    "config": ("Configuration commands (get, set, rewrite, reset statistics)", "2.0.0",
               "Depends on subcommand."),
    "config|get": ("Read configuration parameters matching glob patterns", "2.0.0",
                   "O(N) when N is the number of configuration parameters provided"),
    "config|set": ("Change configuration parameters at run time", "2.0.0",
                   "O(N) when N is the number of configuration parameters provided"),
    "config|resetstat": ("Zero the statistics INFO reports", "2.0.0", "O(1)"),
    "config|rewrite": ("Write the running configuration back to the config file",
                       "2.8.0", "O(1)"),
    "config|help": ("List the CONFIG subcommands", "5.0.0", "O(1)"),
    "command": ("Describe every command of the server", "2.8.13",
                "O(N) where N is the total number of commands"),
    "command|count": ("Number of commands the server has", "2.8.13", "O(1)"),
    "command|info": ("Describe the given commands", "2.8.13",
                     "O(N) where N is the number of commands to look up"),
    "command|docs": ("Documentation of the given commands", "7.0.0",
                     "O(N) where N is the number of commands to look up"),
    "command|getkeys": ("Key arguments of a full command line", "2.8.13",
                        "O(N) where N is the number of arguments to the command"),
    "command|getkeysandflags": ("Key arguments of a full command line with their access "
                                "flags", "7.0.0",
                                "O(N) where N is the number of arguments to the command"),
    "command|list": ("Names of the commands, optionally filtered", "7.0.0",
                     "O(N) where N is the total number of commands"),
    "command|help": ("List the COMMAND subcommands", "5.0.0", "O(1)"),
    "time": ("Server time as seconds and microseconds", "2.6.0", "O(1)"),
    "dbsize": ("Number of keys in the selected database", "1.0.0", "O(1)"),
    "flushdb": ("Delete every key of the selected database", "1.0.0",
                "O(N) where N is the number of keys in the selected database"),
    "flushall": ("Delete every key of every database", "1.0.0",
                 "O(N) where N is the total number of keys in all databases"),
    "save": ("Flush all committed data to disk now", "1.0.0", "O(N)"),
    "bgsave": ("Flush all committed data to disk", "1.0.0", "O(1)"),
    "lastsave": ("Unix time of the last successful flush to disk", "1.0.0", "O(1)"),
    "shutdown": ("Flush data to disk and stop the server", "1.0.0",
                 "O(N) when saving, where N is the total number of keys in all databases"),
    "role": ("Replication role of this node", "2.8.12", "O(1)"),
    "wait": ("Wait for replicas to acknowledge writes (none here: returns 0)", "3.0.0",
             "O(1)"),
}


# ---------------------------------------------------------------------- derivations
def reply_flags(cmd: Command) -> list[str]:
    names = {f.replace("-", "_") for f in cmd.flags}
    if is_movable(cmd):
        names.add("movablekeys")
    return [f for f in FLAG_ORDER if f in names]


def is_movable(cmd: Command) -> bool:
    return cmd.key_finder is not None


def categories(cmd: Command) -> list[str]:
    """The command's ACL categories with the implicit ones Redis adds, in Redis's order."""
    cats = {c.lstrip("@").lower() for c in cmd.categories}
    flags = cmd.flags
    if "write" in flags:
        cats.add("write")
    if "readonly" in flags and "scripting" not in cats:
        cats.add("read")
    if "admin" in flags:
        cats |= {"admin", "dangerous"}
    if "pubsub" in flags:
        cats.add("pubsub")
    if "fast" in flags:
        cats.add("fast")
    if "blocking" in flags:
        cats.add("blocking")
    if "fast" not in cats:
        cats.add("slow")
    return ["@" + c for c in sorted(cats, key=lambda c: (_CATEGORY_RANK.get(c, 99), c))]


def key_access_flags(cmd: Command) -> list[str]:
    """Key-spec flags. Registrations only say read or write, so writes are reported as
    the conservative RW + update, reads as RO + access."""
    if "write" in cmd.flags:
        return ["RW", "update"]
    if "readonly" in cmd.flags:
        return ["RO", "access"]
    return ["RO"]


def _kv(pairs: list[tuple[str, bytes]], resp3: bool) -> bytes:
    """A map of names to encoded values (a flat array in RESP2)."""
    return map_reply([(bulk(name.encode()), value) for name, value in pairs], resp3)


def _flag_set(names: list[str], resp3: bool) -> bytes:
    return set_reply([simple(n) for n in names], resp3)


def key_specs(cmd: Command, resp3: bool) -> bytes:
    specs: list[bytes] = []
    flags = _flag_set(key_access_flags(cmd), resp3)
    if cmd.first_key > 0:
        last = cmd.last_key - cmd.first_key if cmd.last_key >= 0 else cmd.last_key
        specs.append(_kv([
            ("flags", flags),
            ("begin_search", _kv([("type", bulk(b"index")),
                                  ("spec", _kv([("index", integer(cmd.first_key))], resp3))],
                                 resp3)),
            ("find_keys", _kv([("type", bulk(b"range")),
                               ("spec", _kv([("lastkey", integer(last)),
                                             ("keystep", integer(cmd.step or 1)),
                                             ("limit", integer(0))], resp3))], resp3)),
        ], resp3))
    if is_movable(cmd):
        empty = map_reply([], resp3)
        specs.append(_kv([
            ("notes", bulk(b"Keys are found by parsing the arguments (COMMAND GETKEYS)")),
            ("flags", flags),
            ("begin_search", _kv([("type", bulk(b"unknown")), ("spec", empty)], resp3)),
            ("find_keys", _kv([("type", bulk(b"unknown")), ("spec", empty)], resp3)),
        ], resp3))
    return set_reply(specs, resp3)


def command_entry(cmd: Command, resp3: bool) -> bytes:
    """The 10-element COMMAND INFO entry of Redis 7."""
    if is_movable(cmd) and cmd.first_key == 0:
        first = last = step = 0
    else:
        first, last, step = cmd.first_key, cmd.last_key, cmd.step
    tips = TIPS.get(cmd.full_name, ())
    subs = [command_entry(s, resp3) for s in cmd.subcommands.values()]
    return array([
        bulk(cmd.full_name.encode()),
        integer(cmd.arity),
        _flag_set(reply_flags(cmd), resp3),
        integer(first),
        integer(last),
        integer(step),
        _flag_set(categories(cmd), resp3),
        set_reply([bulk(t.encode()) for t in tips], resp3),
        key_specs(cmd, resp3),
        set_reply(subs, resp3),
    ])


# Commands registered in another family's module than Redis files them under.
_GROUP_OF = {"monitor": "server", "wait": "generic", "restore-asking": "server"}


def docs_group(cmd: Command) -> str:
    top = cmd.parent or cmd
    if top.name in _GROUP_OF:
        return _GROUP_OF[top.name]
    if top.subcommands:
        # A container's own handler lives in the registry: its family is its
        # subcommands' module.
        top = next(iter(top.subcommands.values()))
    module = top.handler.__module__.rsplit(".", 1)[-1]
    return _GROUPS.get(module, "server")


def docs_entry(cmd: Command, resp3: bool) -> bytes:
    pairs: list[tuple[bytes, bytes]] = []
    known = DOCS.get(cmd.full_name)
    if known is not None:
        summary, since, complexity = known
        pairs.append((bulk(b"summary"), bulk(summary.encode())))
        pairs.append((bulk(b"since"), bulk(since.encode())))
    pairs.append((bulk(b"group"), bulk(docs_group(cmd).encode())))
    if known is not None:
        pairs.append((bulk(b"complexity"), bulk(known[2].encode())))
    if cmd.subcommands:
        subs = [(bulk(s.full_name.encode()), docs_entry(s, resp3))
                for s in cmd.subcommands.values()]
        pairs.append((bulk(b"subcommands"), map_reply(subs, resp3)))
    return map_reply(pairs, resp3)


def lookup(argv: list[bytes]) -> Command | None:
    """The command (or subcommand) an argument vector names, as Redis's lookupCommand."""
    if not argv:
        return None
    cmd = COMMANDS.get(argv[0].lower())
    if cmd is None:
        return None
    if cmd.subcommands and len(argv) >= 2:
        return cmd.subcommands.get(argv[1].decode(errors="replace").lower())
    return cmd


def lookup_name(name: bytes) -> Command | None:
    """A command by its full name, "get" or "config|get"."""
    top, sep, sub = name.lower().partition(b"|")
    cmd = COMMANDS.get(top)
    if cmd is None or not sep:
        return cmd
    return cmd.subcommands.get(sub.decode(errors="replace"))


def all_commands() -> list[Command]:
    return list(COMMANDS.values())


# ---------------------------------------------------------------------- COMMAND
@command("command", -1, "loading stale", categories="@slow @connection")
def command_all(client: Client, argv: list[bytes]) -> bytes:
    return array([command_entry(c, client.resp3) for c in all_commands()])


@command("count", 2, "loading stale", parent="command", categories="@slow @connection")
def command_count(client: Client, argv: list[bytes]) -> bytes:
    return integer(len(COMMANDS))


@command("info", -2, "loading stale", parent="command", categories="@slow @connection")
def command_info(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) == 2:
        return command_all(client, argv)
    out = []
    for name in argv[2:]:
        cmd = lookup_name(name)
        out.append(null(client.resp3) if cmd is None else command_entry(cmd, client.resp3))
    return array(out)


@command("docs", -2, "loading stale", parent="command", categories="@slow @connection")
def command_docs(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) == 2:
        chosen = all_commands()
    else:
        found = (lookup_name(name) for name in argv[2:])
        chosen = [c for c in found if c is not None]
    pairs = [(bulk(c.full_name.encode()), docs_entry(c, client.resp3)) for c in chosen]
    return map_reply(pairs, client.resp3)


def _keys_of(argv: list[bytes]) -> tuple[Command, list[int]]:
    """COMMAND GETKEYS's checks, with Redis's error texts."""
    target = argv[2:]
    cmd = lookup(target)
    if cmd is None:
        raise CommandError("ERR Invalid command specified")
    n = len(target)
    if (cmd.arity > 0 and cmd.arity != n) or n < -cmd.arity:
        raise CommandError("ERR Invalid number of arguments specified for command")
    if not cmd.first_key and not is_movable(cmd):
        raise CommandError("ERR The command has no key arguments")
    try:
        positions = cmd.key_positions(target)
    except CommandError:
        positions = []
    positions = [p for p in positions if 0 < p < n]
    if not positions and "no-mandatory-keys" not in cmd.flags \
            and "no_mandatory_keys" not in cmd.flags:
        raise CommandError("ERR Invalid arguments specified for command")
    return cmd, positions


@command("getkeys", -4, "loading stale", parent="command", categories="@slow @connection")
def command_getkeys(client: Client, argv: list[bytes]) -> bytes:
    _, positions = _keys_of(argv)
    target = argv[2:]
    return array([bulk(target[p]) for p in positions])


@command("getkeysandflags", -4, "loading stale", parent="command",
         categories="@slow @connection")
def command_getkeysandflags(client: Client, argv: list[bytes]) -> bytes:
    cmd, positions = _keys_of(argv)
    target = argv[2:]
    flags = _flag_set(key_access_flags(cmd), client.resp3)
    return array([array([bulk(target[p]), flags]) for p in positions])


@command("list", -2, "loading stale", parent="command", categories="@slow @connection")
def command_list(client: Client, argv: list[bytes]) -> bytes:
    names: list[Command] = []
    for top in all_commands():
        names.append(top)
        names.extend(top.subcommands.values())
    if len(argv) == 2:
        return array([bulk(c.full_name.encode()) for c in names])
    if len(argv) != 5 or argv[2].upper() != b"FILTERBY":
        raise CommandError("ERR syntax error")
    kind, value = argv[3].upper(), argv[4]
    if kind == b"MODULE":
        return EMPTY_ARRAY  # AiKv loads no modules
    if kind == b"ACLCAT":
        wanted = "@" + value.decode(errors="replace").lower()
        chosen = [c for c in names if wanted in categories(c)]
    elif kind == b"PATTERN":
        chosen = [c for c in names if glob.match(value, c.full_name.encode(), nocase=True)]
    else:
        raise CommandError("ERR syntax error")
    return array([bulk(c.full_name.encode()) for c in chosen])


@command("help", 2, "loading stale", parent="command", categories="@slow @connection")
def command_help(client: Client, argv: list[bytes]) -> bytes:
    lines = [
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
        "HELP",
        "    Prints this help.",
    ]
    return array([simple(line) for line in lines])

