"""The Redis command table (aikv/commands/redis_table.json) and the key search of COMMAND
GETKEYS, without a server.

The table is what COMMAND INFO/DOCS print; the registrations (`@command(...)`) are what the
dispatcher and the cluster router act on. These tests keep the two in agreement, so a
registration cannot drift from what AiKv tells clients about the command. Expected key
positions and flags below are redis-server 7.0.15's answers to COMMAND GETKEYSANDFLAGS
(tests/integration/test_command_introspection.py asks a live one the same questions).
"""

from __future__ import annotations

import json
import time

import pytest

from aikv.commands import all_commands, redis_table
from aikv.commands.introspection import derived, lookup
from aikv.commands.redis_table import PARSERS, find_keys, has_keys, keys_from_specs, table
from aikv.commands.registry import COMMANDS
from aikv.resp import CommandError

REGISTERED = all_commands()
TABLE = table()

# Registered with key positions so the cluster router sends them to the channel's shard,
# though Redis marks those positions NOT_KEY (channels, not keys): GETKEYS finds none.
SHARD_CHANNELS = {"spublish", "ssubscribe", "sunsubscribe"}


def test_table_loads_once_and_fast() -> None:
    redis_table._table = None
    started = time.perf_counter()
    loaded = table()
    assert time.perf_counter() - started < 0.5
    assert table() is loaded
    with open(redis_table.TABLE_PATH, "rb") as f:
        about = json.load(f)["about"]
    assert about["redis"] == "7.0.15"


def test_table_describes_exactly_the_registered_commands() -> None:
    assert sorted(TABLE) == sorted(REGISTERED)


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_registration_agrees_with_table(name: str) -> None:
    """Arity, flags, legacy key triple and ACL categories: the registration's and Redis's."""
    mine = derived(REGISTERED[name])
    theirs = TABLE[name]
    for field in ("arity", "flags", "keys", "acl"):
        assert mine[field] == theirs[field], (name, field, mine[field], theirs[field])


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_key_declarations_agree(name: str) -> None:
    """A command has keys for GETKEYS exactly when its registration gives the router keys."""
    cmd = REGISTERED[name]
    router_has_keys = bool(cmd.first_key) or cmd.key_finder is not None
    if name in SHARD_CHANNELS:
        assert router_has_keys and not has_keys(TABLE[name])
        return
    assert router_has_keys == has_keys(TABLE[name]), name


def test_entries_are_well_formed() -> None:
    for name, ent in TABLE.items():
        assert set(ent) <= {"arity", "flags", "keys", "acl", "tips", "specs", "getkeys",
                            "docs"}, name
        if "getkeys" in ent:
            assert ent["getkeys"] in PARSERS, name
        assert "group" in ent["docs"], name
        for spec in ent["specs"]:
            assert spec["bs"][0] in ("index", "keyword", "unknown"), name
            assert spec["fk"][0] in ("range", "keynum", "unknown"), name


def _keys(line: str) -> list[tuple[str, tuple[str, ...]]] | str:
    """GETKEYSANDFLAGS for a command line written with spaces ('' for an empty argument),
    as (key, flags) pairs, or "error" where Redis answers "Invalid arguments"."""
    argv = [b"" if word == "''" else word.encode() for word in line.split()]
    cmd = lookup(argv, COMMANDS)
    assert cmd is not None, line
    refs = find_keys(TABLE[cmd.full_name], argv)
    if not refs:
        return "error"
    return [(argv[p].decode(), flags) for p, flags in refs]


RO = ("RO", "access")
RW_DEL = ("RW", "access", "delete")
OW = ("OW", "update")
RW_INS = ("RW", "insert")
NONE: tuple[str, ...] = ()

CASES = [
    ("get a", [("a", RO)]),
    ("mset a 1 b 2", [("a", OW), ("b", OW)]),
    ("mget a b c", [("a", RO), ("b", RO), ("c", RO)]),
    ("rename a b", [("a", ("RW", "access", "delete")), ("b", OW)]),
    ("lmove a b left right", [("a", ("RW", "access", "delete")), ("b", RW_INS)]),
    # SET's and BITFIELD's flags depend on their arguments: their own parsers answer.
    ("set k v", [("k", OW)]),
    ("set k v ex 10 GET", [("k", ("RW", "access", "update"))]),
    ("bitfield k get u8 0", [("k", RO)]),
    ("bitfield k get u8 0 set u8 0 1", [("k", ("RW", "access", "update"))]),
    ("bitfield k get u8", [("k", ("RW", "access", "update"))]),
    # numkeys specs; a count the spec cannot read falls back to atoi(), without flags.
    ("zunionstore d 2 a b", [("d", OW), ("a", RO), ("b", RO)]),
    ("zunionstore d 2abc a b", [("a", NONE), ("b", NONE), ("d", NONE)]),
    ("zunionstore d +1 a b", [("a", NONE), ("d", NONE)]),
    ("zunionstore d 0 a", "error"),
    ("zunionstore d 3 a b", "error"),
    ("zunion 2 a b withscores", [("a", RO), ("b", RO)]),
    ("sintercard 2 a b limit 1", [("a", RO), ("b", RO)]),
    ("lmpop 2 a b left", [("a", RW_DEL), ("b", RW_DEL)]),
    ("blmpop 0 1 a right count 2", [("a", RW_DEL)]),
    ("bzmpop 0 x a min", "error"),
    # keyword specs
    ("xread count 1 streams a b 0 0", [("a", RO), ("b", RO)]),
    ("xread streams a b 0", [("a", RO)]),
    ("xread streams a b", [("a", RO)]),
    ("xread count 1 streams a", "error"),
    ("xreadgroup group streams c streams k 0", [("k", RO)]),
    ("georadius k 0 0 1 km store d storedist e",
     [("k", RO), ("d", OW), ("e", OW)]),
    ("georadius k 0 0 1 km store", [("k", RO)]),
    ("georadius k 0 0 1 km withdist store", [("k", RO)]),
    ("georadiusbymember k m 1 km storedist d", [("k", RO), ("d", OW)]),
    # incomplete or unknown specs: the parsers
    ("sort k", [("k", RO)]),
    ("sort k by w get # limit 0 1 store d store e", [("k", RO), ("e", OW)]),
    ("sort k store", [("k", RO)]),
    ("sort_ro k by w get x", [("k", RO)]),
    ("migrate h 1 k 0 10", [("k", RW_DEL)]),
    ("migrate h 1 '' 0 10 copy auth keys keys a b", [("a", RW_DEL), ("b", RW_DEL)]),
    ("migrate h 1 k 0 10 keys a", "error"),
]


@pytest.mark.parametrize("line,expected", CASES, ids=[c[0] for c in CASES])
def test_find_keys(line: str, expected: object) -> None:
    assert _keys(line) == expected


def test_keyword_search_bounds() -> None:
    ent = {"specs": [{"flags": ["RO"], "bs": ["keyword", "K", 2], "fk": ["range", 0, 1, 0]},
                     {"flags": ["RW"], "bs": ["keyword", "Z", -1], "fk": ["range", 0, 1, 0]}]}
    # From 2 up to (not including) the last argument; from the end down to 2.
    assert keys_from_specs(ent, [b"c", b"k", b"x", b"k", b"a", b"z", b"b"]) == [
        (4, ("RO",)), (6, ("RW",))]
    assert keys_from_specs(ent, [b"c", b"k", b"a"]) == []
    # Searching forwards, a keyword in last place is not looked at: no key, no error.
    assert keys_from_specs(ent, [b"c", b"x", b"y", b"k"]) == []
    # Searching backwards it is, and its key would lie past the end: the spec fails.
    assert keys_from_specs(ent, [b"c", b"x", b"k", b"b", b"z"]) is None


def test_range_with_limit_and_step() -> None:
    # XREAD's STREAMS spec: half of what follows the keyword.
    ent = {"specs": [{"flags": ["RO"], "bs": ["index", 1], "fk": ["range", -1, 2, 0]}]}
    assert keys_from_specs(ent, [b"mset", b"a", b"1", b"b", b"2"]) == [(1, ("RO",)),
                                                                        (3, ("RO",))]
    half = {"specs": [{"flags": ["RO"], "bs": ["index", 1], "fk": ["range", -1, 1, 2]}]}
    assert keys_from_specs(half, [b"x", b"a", b"b", b"c", b"d"]) == [(1, ("RO",)),
                                                                      (2, ("RO",))]


def test_router_and_getkeys_agree_on_key_positions() -> None:
    """Where GETKEYS finds keys, the cluster router uses the same positions."""
    lines = [c[0] for c in CASES if c[1] != "error" and all(f for _, f in c[1])]
    lines += ["del a b c", "exists a", "copy a b db 1", "smove a b m", "pfmerge d a b",
              "bitop and d a b", "geosearchstore d s frommember m byradius 1 km",
              "object encoding k", "memory usage k", "xgroup create k g $", "watch a b"]
    for line in lines:
        argv = [b"" if w == "''" else w.encode() for w in line.split()]
        cmd = lookup(argv, COMMANDS)
        assert cmd is not None
        try:
            router = sorted(set(cmd.key_positions(argv)))
        except CommandError:
            router = []
        found = sorted({p for p, _ in find_keys(TABLE[cmd.full_name], argv)})
        assert router == found, line
