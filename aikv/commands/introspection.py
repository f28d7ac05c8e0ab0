"""COMMAND and its subcommands: the command table as Redis 7.0.15 describes it.

COMMAND INFO and COMMAND DOCS print each command's entry in `redis_table` (Redis's own
description of the command: flags, key specifications, tips, arguments, documentation),
for the commands and subcommands AiKv registers, in Redis's reply shapes for RESP2 and
RESP3. COMMAND GETKEYS[ANDFLAGS] follows the key specifications and Redis's argument
parsers (`redis_table.find_keys`). Encoded entries are cached: the table never changes
while the server runs.

The dispatcher keeps using the registrations (`registry.command`); `derived` restates a
registration in the table's terms, both for a command the table lacks (a new command,
before tools/gen-command-table is run again) and for the unit test that keeps the
registrations and the table in agreement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aikv import glob
from aikv.commands import redis_table
from aikv.commands.redis_table import Entry, KeyRef
from aikv.commands.registry import Command, command
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


# ---------------------------------------------------------------------- registrations
def derived(cmd: Command) -> Entry:
    """A registration as a table entry: arity, the flags and ACL categories COMMAND INFO
    would print (with the implicit ones Redis adds: write -> @write, admin -> @admin
    @dangerous, not fast -> @slow, ...), and the legacy key triple. It has no key specs
    or documentation; GETKEYS uses the registration's key positions."""
    names = {f.replace("-", "_") for f in cmd.flags}
    if cmd.key_finder is not None:
        names.add("movablekeys")
    cats = {c.lstrip("@").lower() for c in cmd.categories}
    implicit = {"write": ("write",), "readonly": ("read",), "admin": ("admin", "dangerous"),
                "pubsub": ("pubsub",), "fast": ("fast",), "blocking": ("blocking",)}
    for flag, added in implicit.items():
        if flag in cmd.flags and not (flag == "readonly" and "scripting" in cats):
            cats.update(added)
    if "fast" not in cats:
        cats.add("slow")
    if cmd.key_finder is not None and cmd.first_key == 0:
        keys = [0, 0, 0]
    else:
        keys = [cmd.first_key, cmd.last_key, cmd.step]
    return {
        "arity": cmd.arity,
        "flags": [f for f in FLAG_ORDER if f in names],
        "keys": keys,
        "acl": ["@" + c for c in sorted(cats, key=lambda c: (_CATEGORY_RANK.get(c, 99), c))],
        "tips": [],
        "specs": [],
        "docs": {"group": "server"},
        "registry": True,
    }


def describe(cmd: Command) -> Entry:
    """The command's table entry (its registration's, if the table lacks it)."""
    return redis_table.entry(cmd.full_name) or derived(cmd)


def categories(cmd: Command) -> list[str]:
    """The command's ACL categories, "@read" ..., in Redis's order."""
    acl: list[str] = describe(cmd)["acl"]
    return acl


# ---------------------------------------------------------------------- encoding
def _kv(pairs: list[tuple[str, bytes]], resp3: bool) -> bytes:
    """A map of names to encoded values (a flat array in RESP2)."""
    return map_reply([(bulk(name.encode()), value) for name, value in pairs], resp3)


def _flag_set(names: list[str], resp3: bool) -> bytes:
    return set_reply([simple(n) for n in names], resp3)


def _text(value: str) -> bytes:
    return bulk(value.encode())


def _key_spec(spec: dict[str, Any], resp3: bool) -> bytes:
    pairs: list[tuple[str, bytes]] = []
    if "notes" in spec:
        pairs.append(("notes", _text(spec["notes"])))
    pairs.append(("flags", _flag_set(spec["flags"], resp3)))
    bs, fk = spec["bs"], spec["fk"]
    if bs[0] == "index":
        bs_spec = [("index", integer(bs[1]))]
    elif bs[0] == "keyword":
        bs_spec = [("keyword", _text(bs[1])), ("startfrom", integer(bs[2]))]
    else:
        bs_spec = []
    if fk[0] == "range":
        fk_spec = [("lastkey", integer(fk[1])), ("keystep", integer(fk[2])),
                   ("limit", integer(fk[3]))]
    elif fk[0] == "keynum":
        fk_spec = [("keynumidx", integer(fk[1])), ("firstkey", integer(fk[2])),
                   ("keystep", integer(fk[3]))]
    else:
        fk_spec = []
    pairs.append(("begin_search", _kv([("type", _text(bs[0])),
                                       ("spec", _kv(bs_spec, resp3))], resp3)))
    pairs.append(("find_keys", _kv([("type", _text(fk[0])),
                                    ("spec", _kv(fk_spec, resp3))], resp3)))
    return _kv(pairs, resp3)


_info_cache: dict[tuple[str, bool], bytes] = {}
_docs_cache: dict[tuple[str, bool], bytes] = {}


def command_entry(cmd: Command, resp3: bool) -> bytes:
    """The 10-element COMMAND INFO entry of Redis 7."""
    cached = _info_cache.get((cmd.full_name, resp3))
    if cached is not None:
        return cached
    ent = describe(cmd)
    first, last, step = ent["keys"]
    if cmd.subcommands:
        subs = array([command_entry(s, resp3) for s in cmd.subcommands.values()])
    else:
        subs = set_reply([], resp3)
    encoded = array([
        bulk(cmd.full_name.encode()),
        integer(ent["arity"]),
        _flag_set(ent["flags"], resp3),
        integer(first),
        integer(last),
        integer(step),
        _flag_set(ent["acl"], resp3),
        set_reply([_text(t) for t in ent["tips"]], resp3),
        set_reply([_key_spec(s, resp3) for s in ent["specs"]], resp3),
        subs,
    ])
    _info_cache[(cmd.full_name, resp3)] = encoded
    return encoded


def _arguments(args: list[dict[str, Any]], resp3: bool) -> bytes:
    out = []
    for arg in args:
        pairs: list[tuple[str, bytes]] = []
        for name, value in arg.items():
            if name == "key_spec_index":
                pairs.append((name, integer(value)))
            elif name == "flags":
                pairs.append((name, _flag_set(value, resp3)))
            elif name == "arguments":
                pairs.append((name, _arguments(value, resp3)))
            else:
                pairs.append((name, _text(value)))
        out.append(_kv(pairs, resp3))
    return array(out)


# COMMAND DOCS fields in reply order ("subcommands" comes last, from the registry).
_DOC_TEXT = ("summary", "since", "group", "complexity")


def docs_entry(cmd: Command, resp3: bool) -> bytes:
    cached = _docs_cache.get((cmd.full_name, resp3))
    if cached is not None:
        return cached
    docs = describe(cmd)["docs"]
    pairs: list[tuple[str, bytes]] = [(f, _text(docs[f])) for f in _DOC_TEXT if f in docs]
    if "doc_flags" in docs:
        pairs.append(("doc_flags", _flag_set(docs["doc_flags"], resp3)))
    for field in ("deprecated_since", "replaced_by"):
        if field in docs:
            pairs.append((field, _text(docs[field])))
    if "history" in docs:
        pairs.append(("history", set_reply(
            [array([_text(since), _text(change)]) for since, change in docs["history"]],
            resp3)))
    if "arguments" in docs:
        pairs.append(("arguments", _arguments(docs["arguments"], resp3)))
    if cmd.subcommands:
        subs = [(bulk(s.full_name.encode()), docs_entry(s, resp3))
                for s in cmd.subcommands.values()]
        pairs.append(("subcommands", map_reply(subs, resp3)))
    encoded = _kv(pairs, resp3)
    _docs_cache[(cmd.full_name, resp3)] = encoded
    return encoded


def lookup(argv: list[bytes], table: dict[bytes, Command]) -> Command | None:
    """The command (or subcommand) an argument vector names in `table` (a server's
    command_table), as Redis's lookupCommand."""
    if not argv:
        return None
    cmd = table.get(argv[0].lower())
    if cmd is None:
        return None
    if cmd.subcommands and len(argv) >= 2:
        return cmd.subcommands.get(argv[1].decode(errors="replace").lower())
    return cmd


def lookup_name(name: bytes, table: dict[bytes, Command]) -> Command | None:
    """A command by its full name, "get" or "config|get"."""
    top, sep, sub = name.lower().partition(b"|")
    cmd = table.get(top)
    if cmd is None or not sep:
        return cmd
    return cmd.subcommands.get(sub.decode(errors="replace"))


def all_commands(table: dict[bytes, Command]) -> list[Command]:
    return list(table.values())


# ---------------------------------------------------------------------- COMMAND
@command("command", -1, "loading stale", categories="@slow @connection")
def command_all(client: Client, argv: list[bytes]) -> bytes:
    return array([command_entry(c, client.resp3)
                  for c in all_commands(client.server.command_table)])


@command("count", 2, "loading stale", parent="command", categories="@slow @connection")
def command_count(client: Client, argv: list[bytes]) -> bytes:
    return integer(len(client.server.command_table))


@command("info", -2, "loading stale", parent="command", categories="@slow @connection")
def command_info(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) == 2:
        return command_all(client, argv)
    out = []
    for name in argv[2:]:
        cmd = lookup_name(name, client.server.command_table)
        out.append(null(client.resp3) if cmd is None else command_entry(cmd, client.resp3))
    return array(out)


@command("docs", -2, "loading stale", parent="command", categories="@slow @connection")
def command_docs(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) == 2:
        chosen = all_commands(client.server.command_table)
    else:
        found = (lookup_name(name, client.server.command_table) for name in argv[2:])
        chosen = [c for c in found if c is not None]
    pairs = [(bulk(c.full_name.encode()), docs_entry(c, client.resp3)) for c in chosen]
    return map_reply(pairs, client.resp3)


def _keys_of(client: Client, argv: list[bytes]) -> list[KeyRef]:
    """COMMAND GETKEYS's checks and key search, with Redis's error texts, in its order."""
    target = argv[2:]
    cmd = lookup(target, client.server.command_table)
    if cmd is None:
        raise CommandError("ERR Invalid command specified")
    ent = describe(cmd)
    if "registry" in ent:
        has_keys = bool(cmd.first_key) or cmd.key_finder is not None
    else:
        has_keys = redis_table.has_keys(ent)
    if not has_keys:
        raise CommandError("ERR The command has no key arguments")
    n = len(target)
    if (cmd.arity > 0 and cmd.arity != n) or n < -cmd.arity:
        raise CommandError("ERR Invalid number of arguments specified for command")
    refs: list[KeyRef]
    if "registry" in ent:
        try:
            refs = [(p, ()) for p in cmd.key_positions(target) if 0 < p < n]
        except CommandError:
            refs = []
    else:
        refs = redis_table.find_keys(ent, target)
    if not refs and "no_mandatory_keys" not in ent["flags"]:
        raise CommandError("ERR Invalid arguments specified for command")
    return refs


@command("getkeys", -4, "loading stale", parent="command", categories="@slow @connection")
def command_getkeys(client: Client, argv: list[bytes]) -> bytes:
    target = argv[2:]
    return array([bulk(target[p]) for p, _ in _keys_of(client, argv)])


@command("getkeysandflags", -4, "loading stale", parent="command",
         categories="@slow @connection")
def command_getkeysandflags(client: Client, argv: list[bytes]) -> bytes:
    target = argv[2:]
    return array([array([bulk(target[p]), _flag_set(list(flags), client.resp3)])
                  for p, flags in _keys_of(client, argv)])


@command("list", -2, "loading stale", parent="command", categories="@slow @connection")
def command_list(client: Client, argv: list[bytes]) -> bytes:
    names: list[Command] = []
    for top in all_commands(client.server.command_table):
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

