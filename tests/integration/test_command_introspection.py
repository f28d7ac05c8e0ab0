"""COMMAND INFO, COMMAND DOCS, COMMAND and COMMAND GETKEYS[ANDFLAGS], byte for byte against
redis-server 7.0.15, for every command AiKv implements, in RESP2 and RESP3.

Two things are normalised before comparing, and only those:
- the order of a container's subcommands (and of the entries of a bare COMMAND): Redis
  lists them in the order of a hash table seeded at random when the server starts;
- subcommands AiKv does not implement (ACL SETUSER, ...) are left out of Redis's reply,
  and AiKv's own extensions (EXTENSIONS) out of AiKv's.
Every other byte must be the same.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from aikv.commands import all_commands
from aikv.commands.redis_table import table
from aikv.commands.registry import COMMANDS
from tests.differ import RawConnection, parse
from tests.harness import ServerProcess

# Commands AiKv has on purpose although Redis 7.0.15 does not (described from Redis 7.2).
EXTENSIONS = {"client|setinfo"}

Typed = tuple[str, Any]  # (RESP type character, value or list of Typed)


def parse_typed(raw: bytes) -> Typed:
    """A reply as nested (type, value) pairs: unlike hiredis, keeps RESP3 sets, maps,
    simple strings and bulk strings apart."""

    def one(i: int) -> tuple[Typed, int]:
        kind = chr(raw[i])
        end = raw.index(b"\r\n", i)
        line, i = raw[i + 1:end], end + 2
        if kind in "$=!":
            n = int(line)
            if n < 0:
                return (kind, None), i
            return (kind, raw[i:i + n]), i + n + 2
        if kind in "*~>%|":
            n = int(line)
            if n < 0:
                return (kind, None), i
            items = []
            for _ in range(n * 2 if kind in "%|" else n):
                item, i = one(i)
                items.append(item)
            return (kind, items), i
        return (kind, line), i

    value, end = one(0)
    assert end == len(raw), "trailing bytes"
    return value


def _name(entry: Typed) -> bytes:
    return entry[1][0][1]  # type: ignore[no-any-return]


def _keep(name: bytes, theirs: bool) -> bool:
    text = name.decode()
    return text not in EXTENSIONS and (not theirs or text in REGISTERED)


def normal_info(entry: Typed, theirs: bool) -> Typed:
    """A COMMAND INFO entry with its subcommands sorted (and filtered, see above)."""
    kind, items = entry
    if items is None:
        return entry
    items = list(items)
    sub_kind, subs = items[9]
    subs = sorted((normal_info(s, theirs) for s in subs if _keep(_name(s), theirs)),
                  key=_name)
    items[9] = (sub_kind, subs)
    return (kind, items)


def normal_docs(doc: Typed, theirs: bool) -> Typed:
    """A COMMAND DOCS map with its "subcommands" map sorted (and filtered)."""
    kind, items = doc
    out = list(items)
    for i in range(0, len(items), 2):
        if items[i][1] == b"subcommands":
            sub_kind, flat = items[i + 1]
            pairs = [(flat[j], normal_docs(flat[j + 1], theirs))
                     for j in range(0, len(flat), 2) if _keep(flat[j][1], theirs)]
            pairs.sort(key=lambda p: p[0][1])
            out[i + 1] = (sub_kind, [x for pair in pairs for x in pair])
    return (kind, out)


REGISTERED = set(all_commands())
COMPARED = sorted(REGISTERED - EXTENSIONS)


@pytest.fixture(scope="module")
def conns(aikv_module: ServerProcess,
          redis_module: ServerProcess) -> Iterator[dict[bool, tuple[RawConnection,
                                                                    RawConnection]]]:
    """resp3 -> (AiKv connection, Redis connection)."""
    out = {}
    for resp3 in (False, True):
        pair = (RawConnection(aikv_module.port), RawConnection(redis_module.port))
        if resp3:
            for conn in pair:
                conn.call("hello", "3")
        out[resp3] = pair
    yield out
    for pair in out.values():
        for conn in pair:
            conn.close()


def test_command_list_is_the_registry(conns: dict[bool, Any]) -> None:
    mine, theirs = conns[False]
    listed = {n[1].decode() for n in parse_typed(mine.call("command", "list"))[1]}
    assert listed == REGISTERED
    real = {n[1].decode() for n in parse_typed(theirs.call("command", "list"))[1]}
    assert listed - real == EXTENSIONS


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_info_of_every_command(conns: dict[bool, Any], resp3: bool) -> None:
    mine, theirs = conns[resp3]
    differing = []
    for name in COMPARED:
        a, r = mine.call("command", "info", name), theirs.call("command", "info", name)
        if a == r:
            continue
        (_, [a_entry]), (_, [r_entry]) = parse_typed(a), parse_typed(r)
        if normal_info(a_entry, False) != normal_info(r_entry, True):
            differing.append((name, a[:300], r[:300]))
    assert not differing, f"{len(differing)} of {len(COMPARED)} differ: {differing[:5]}"


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_docs_of_every_command(conns: dict[bool, Any], resp3: bool) -> None:
    mine, theirs = conns[resp3]
    differing = []
    for name in COMPARED:
        a, r = mine.call("command", "docs", name), theirs.call("command", "docs", name)
        if a == r:
            continue
        (a_kind, a_items), (r_kind, r_items) = parse_typed(a), parse_typed(r)
        if (a_kind, a_items[0]) != (r_kind, r_items[0]) \
                or normal_docs(a_items[1], False) != normal_docs(r_items[1], True):
            differing.append((name, a[:300], r[:300]))
    assert not differing, f"{len(differing)} of {len(COMPARED)} differ: {differing[:5]}"


def _by_name(raw: bytes, theirs: bool) -> dict[str, Typed]:
    return {_name(e).decode(): normal_info(e, theirs) for e in parse_typed(raw)[1]
            if not theirs or _name(e).decode() in REGISTERED}


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_whole_command_reply(conns: dict[bool, Any], resp3: bool) -> None:
    """COMMAND and COMMAND INFO with no names: Redis's entries for AiKv's commands."""
    mine, theirs = conns[resp3]
    for args in (("command",), ("command", "info")):
        a, r = _by_name(mine.call(*args), False), _by_name(theirs.call(*args), True)
        assert len(a) == sum(1 for n in REGISTERED if "|" not in n)
        assert sorted(a) == sorted(r)
        assert [n for n in a if a[n] != r[n]] == []
    a_docs, r_docs = (parse_typed(c.call("command", "docs")) for c in (mine, theirs))
    a_map = {a_docs[1][i][1]: normal_docs(a_docs[1][i + 1], False)
             for i in range(0, len(a_docs[1]), 2)}
    r_map = {r_docs[1][i][1]: normal_docs(r_docs[1][i + 1], True)
             for i in range(0, len(r_docs[1]), 2) if r_docs[1][i][1].decode() in REGISTERED}
    assert a_map == r_map


def test_command_count_is_aikv_own(conns: dict[bool, Any]) -> None:
    mine, _ = conns[False]
    assert mine.call("command", "count") == b":%d\r\n" % len(COMMANDS)


NAME_FORMS = [
    ("get",), ("GET", "mget", "nosuch", "Config|Get", "set"), ("get|x",), ("config|get|x",),
    ("config|",), ("|get",), ("object|encoding", "xinfo|stream", "client|list"),
    ("nosuch",), ("",),
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("names", NAME_FORMS, ids=["|".join(n) or "empty" for n in NAME_FORMS])
def test_lookup_forms(conns: dict[bool, Any], names: tuple[str, ...], resp3: bool) -> None:
    mine, theirs = conns[resp3]
    for sub in ("info", "docs"):
        args = ("command", sub, *names)
        assert mine.call(*args) == theirs.call(*args), args


# ---------------------------------------------------------------------- GETKEYS
TRICKY: list[list[str]] = [
    ["sort", "k"], ["sort", "k", "store", "d"], ["sort", "k", "STORE"],
    ["sort", "k", "by", "w", "get", "#", "limit", "0", "1", "store", "d", "store", "e"],
    ["sort", "k", "limit", "0", "store", "d"], ["sort_ro", "k", "by", "x", "get", "y"],
    ["migrate", "h", "6379", "k", "0", "10"],
    ["migrate", "h", "6379", "", "0", "10", "keys", "a", "b", "c"],
    ["migrate", "h", "6379", "k", "0", "10", "keys", "a", "b"],
    ["migrate", "h", "6379", "", "0", "10", "copy", "replace", "auth", "p", "keys", "a"],
    ["migrate", "h", "6379", "", "0", "10", "auth2", "u", "p", "keys", "a", "b"],
    ["migrate", "h", "6379", "", "0", "10", "auth", "keys", "keys", "a"],
    ["migrate", "h", "6379", "", "0", "10", "keys"],
    ["migrate", "h", "6379", "", "0", "10"],
    ["xread", "streams", "a", "b", "0", "0"], ["xread", "count", "1", "block", "0",
                                               "streams", "a", "0"],
    ["xread", "streams", "a", "b", "c"], ["xread", "block", "streams", "streams", "a", "0"],
    ["xread", "count", "1", "streams", "a"], ["xread", "COUNT", "1", "streams"],
    ["xreadgroup", "group", "g", "c", "streams", "a", "b", "0", "0"],
    ["xreadgroup", "group", "streams", "c", "noack", "streams", "a", "0"],
    ["xreadgroup", "group", "g", "c", "count", "1", "streams", "a"],
    ["zunionstore", "d", "2", "a", "b"], ["zunionstore", "d", "0", "a", "b"],
    ["zunionstore", "d", "3", "a", "b"], ["zunionstore", "d", "2abc", "a", "b"],
    ["zunionstore", "d", "+2", "a", "b"], ["zunionstore", "d", "-1", "a", "b"],
    ["zunionstore", "d", "01", "a", "b"], ["zunionstore", "d", "4294967297", "a", "b"],
    ["zunionstore", "d", " 1", "a"], ["zinterstore", "d", "1", "a", "weights", "2"],
    ["zdiffstore", "d", "2", "a", "b"], ["zunion", "2", "a", "b"],
    ["zinter", "1", "a", "withscores"], ["zdiff", "2", "a", "b"], ["zunion", "x", "a", "b"],
    ["zintercard", "2", "a", "b", "limit", "1"], ["sintercard", "2", "a", "b"],
    ["sintercard", "0", "a"], ["sintercard", "3", "a", "b"],
    ["lmpop", "2", "a", "b", "left"], ["lmpop", "0", "a", "left"],
    ["lmpop", "1a", "a", "left"], ["blmpop", "0", "2", "a", "b", "left"],
    ["blmpop", "0", "x", "a", "b", "left"], ["zmpop", "1", "a", "min"],
    ["bzmpop", "0", "1", "a", "max", "count", "2"], ["bzmpop", "0", "2", "a", "max"],
    ["georadius", "k", "0", "0", "1", "km", "store", "d"],
    ["georadius", "k", "0", "0", "1", "km", "storedist", "d"],
    ["georadius", "k", "0", "0", "1", "km", "store", "d", "storedist", "e"],
    ["georadius", "k", "0", "0", "1", "km", "store"],
    ["georadius", "k", "0", "0", "1", "km", "withdist", "store"],
    ["georadiusbymember", "k", "m", "1", "km", "store", "d"],
    ["georadiusbymember", "k", "m", "1", "km", "storedist"],
    ["georadius_ro", "k", "0", "0", "1", "km", "store", "d"],
    # numkeys-based key positions (EVAL and FCALL families)
    ["eval", "return 1", "1", "a"], ["eval", "return 1", "0"], ["eval", "return 1", "2", "a"],
    ["evalsha_ro", "x", "2", "a", "b"], ["eval_ro", "return 1", "-1"],
    ["fcall", "f", "1", "a"], ["fcall", "f", "0"], ["fcall", "f", "2", "a"],
    ["fcall", "f", "2", "a", "b", "c"], ["fcall_ro", "f", "1", "a", "b"],
    ["fcall_ro", "f", "-1"], ["fcall", "f", "x", "a"], ["function", "load", "x"],
    ["set", "k", "v"], ["set", "k", "v", "get"], ["set", "k", "v", "GET", "ex", "10"],
    ["set", "k", "v", "nx", "get"], ["set", "k", "get"], ["set", "k", "v", "getx"],
    ["bitfield", "k", "get", "u8", "0"], ["bitfield", "k", "set", "u8", "0", "1"],
    ["bitfield", "k", "incrby", "u8", "0", "1"], ["bitfield", "k", "overflow", "sat", "get",
                                                  "u8", "0"],
    ["bitfield", "k", "get", "u8"], ["bitfield", "k"], ["bitfield", "k", "foo"],
    ["bitfield_ro", "k", "get", "u8", "0"],
    # wrong arity, no keys, unknown commands and subcommands
    ["get"], ["get", "a", "b"], ["mset", "a"], ["mset", "a", "1", "b"], ["zunionstore", "d"],
    ["object", "encoding", "k"], ["object", "help"], ["object"], ["memory", "usage", "k"],
    ["config", "get", "x"], ["client", "nosuch"], ["ping"], ["nosuch", "a"],
    ["publish", "ch", "msg"], ["spublish", "ch", "msg"], ["ssubscribe", "a", "b"],
    ["sunsubscribe", "a"], ["subscribe", "a"], ["exec"], ["command", "info"],
]


def _generated(seed: int = 7, per_command: int = 6) -> list[list[str]]:
    """Command lines built from each command's documented arguments (COMMAND DOCS):
    some with only the required arguments, some with most optional ones, tokens and
    values mixed with words that are keywords elsewhere (STORE, STREAMS, KEYS, GET)."""
    rng = random.Random(seed)

    def build(args: list[dict[str, Any]], full: bool) -> list[str]:
        out: list[str] = []
        for arg in args:
            flags = arg.get("flags", [])
            if "optional" in flags and rng.random() < (0.2 if full else 0.7):
                continue
            for rep in range(rng.choice([1, 2, 3]) if "multiple" in flags else 1):
                if "token" in arg and (rep == 0 or "multiple_token" in flags):
                    out.append(arg["token"])
                kind = arg["type"]
                if kind == "key":
                    out.append(f"k{rng.randint(1, 9)}")
                elif kind == "integer":
                    out.append(rng.choice(["0", "1", "2", "3", "-1"]))
                elif kind == "double":
                    out.append("1.5")
                elif kind in ("string", "pattern"):
                    out.append(rng.choice(["s", "x", "STORE", "GET", "STREAMS", "KEYS"]))
                elif kind == "unix-time":
                    out.append("1700000000")
                elif kind == "oneof":
                    out.extend(build([rng.choice(arg["arguments"])], full))
                elif kind == "block":
                    out.extend(build(arg["arguments"], full))
        return out

    lines = []
    for name, ent in sorted(table().items()):
        words = name.split("|")
        lines.append(words)
        lines.append([*words, "k"])
        for i in range(per_command):
            lines.append([*words, *build(ent["docs"].get("arguments", []), i % 2 == 0)])
    return lines


def _comparable(line: list[str]) -> bool:
    """Lines naming an AiKv extension are not compared: one server knows the command, the
    other does not. (Every line names a registered command or one neither server has.)"""
    top = line[0].lower()
    if top not in {n.split("|")[0] for n in REGISTERED}:
        return True
    if len(line) > 1 and f"{top}|{line[1].lower()}" in EXTENSIONS:
        return False
    return True


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_getkeys_and_flags(conns: dict[bool, Any], resp3: bool) -> None:
    mine, theirs = conns[resp3]
    lines = [line for line in TRICKY + _generated() if _comparable(line)]
    differing = []
    for line in lines:
        for sub in ("getkeys", "getkeysandflags"):
            a, r = mine.call("command", sub, *line), theirs.call("command", sub, *line)
            if a != r:
                differing.append((sub, line, a, r))
    assert len(lines) > 1500
    assert not differing, f"{len(differing)} differ: {differing[:5]}"


def test_getkeys_of_a_command_aikv_lacks(conns: dict[bool, Any]) -> None:
    mine, theirs = conns[False]
    known = {name.encode() for name in REGISTERED}
    lacking = sorted(name for name in parse(theirs.call("command", "list"))
                     if b"|" not in name and name not in known)
    name = lacking[0] if lacking else b"nosuchcommand"  # AiKv may come to have them all
    assert mine.call("command", "getkeys", name, "x", "1") == \
        b"-ERR Invalid command specified\r\n"
