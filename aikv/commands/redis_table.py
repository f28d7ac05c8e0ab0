"""Redis 7.0.15's description of AiKv's commands, and the key search COMMAND GETKEYS does.

redis_table.json (beside this file) is written by tools/gen-command-table from Redis's own
command descriptions, restricted to the commands AiKv registers. Each entry holds what
COMMAND INFO and COMMAND DOCS print: arity, flags, the legacy (first, last, step), ACL
categories, command tips, key specifications and the documentation fields; plus the name
of the argument parser Redis falls back on when the key specs cannot name the keys
("getkeys"). It is read on first use, so starting the server does not pay for it.

`find_keys` answers COMMAND GETKEYS the way Redis does: the key specifications first,
then, when they are incomplete, do not parse, or their flags vary with the arguments, the
command's own parser. Positions are indexes into argv (argv[0] is the command name).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from aikv.cnum import narrow_int32

TABLE_PATH = Path(__file__).with_name("redis_table.json")

Entry = dict[str, Any]
# (position in argv, key-spec flags as COMMAND GETKEYSANDFLAGS prints them)
KeyRef = tuple[int, tuple[str, ...]]

_table: dict[str, Entry] | None = None


def table() -> dict[str, Entry]:
    """Full command name ("get", "config|get") -> entry. Loaded once."""
    global _table
    if _table is None:
        with open(TABLE_PATH, "rb") as f:
            _table = json.load(f)["commands"]
    return _table


def entry(full_name: str) -> Entry | None:
    return table().get(full_name)


# ---------------------------------------------------------------------- key specs
def _strict_int(text: bytes) -> int | None:
    """A whole decimal number with no sign but '-', no leading zeros, no spaces, fitting
    in 64 bits (how Redis reads a key count in a key spec); None otherwise."""
    if not text or len(text) > 20:
        return None
    digits = text[1:] if text[:1] == b"-" else text
    if not digits.isdigit() or not digits.isascii():
        return None
    if digits[:1] == b"0" and (len(digits) > 1 or text[:1] == b"-"):
        return None
    value = int(text)
    if not -(1 << 63) <= value < (1 << 63):
        return None
    return value


def _keyword_start(spec_bs: list[Any], argv: list[bytes]) -> int:
    """Where a keyword-located spec's keys begin: just after the keyword, searched from
    `startfrom` towards the end (or, negative, from the end towards the start), stopping
    before argv's last (or first) argument. 0: the keyword is absent."""
    keyword, startfrom = spec_bs[1].encode().lower(), spec_bs[2]
    argc = len(argv)
    if startfrom > 0:
        candidates = range(startfrom, argc - 1)
    else:
        candidates = range(argc + startfrom, 1, -1)
    for i in candidates:
        if i >= argc or i < 1:
            break
        if argv[i].lower() == keyword:
            return i + 1
    return 0


def keys_from_specs(ent: Entry, argv: list[bytes]) -> list[KeyRef] | None:
    """The keys the command's key specs name, or None when a spec cannot be followed
    (unknown, incomplete, or pointing past the arguments)."""
    argc = len(argv)
    found: list[KeyRef] = []
    for spec in ent["specs"]:
        flags = tuple(spec["flags"])
        if "not_key" in flags:
            continue
        bs, fk = spec["bs"], spec["fk"]
        if bs[0] == "index":
            first = bs[1]
        elif bs[0] == "keyword":
            first = _keyword_start(bs, argv)
            if not first:
                continue
        else:
            return None
        if fk[0] == "range":
            _, lastkey, step, limit = fk
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + (argc - first) // limit + lastkey
        elif fk[0] == "keynum":
            _, numidx, firstkey, step = fk
            if numidx >= argc or first + numidx >= argc:
                return None
            count = _strict_int(argv[first + numidx])
            if count is None or count < 0:
                return None
            first += firstkey
            last = first + narrow_int32(count) - 1
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        found.extend((i, flags) for i in range(first, last + 1, step))
        if "incomplete" in flags:
            return None
    return found


# ---------------------------------------------------------------------- parsers
# The argument parsers Redis uses when the key specs are not enough. Keys they find carry
# the flags Redis gives them (none, where Redis's parser gives none).
_RO_ACCESS = ("RO", "access")
_NO_FLAGS: tuple[str, ...] = ()


def c_atoi(text: bytes) -> int:
    """C's atoi: optional blanks and sign, then as many digits as there are."""
    s = text.lstrip(b" \t\n\v\f\r")
    sign = 1
    if s[:1] in (b"-", b"+"):
        sign = -1 if s[:1] == b"-" else 1
        s = s[1:]
    n = 0
    for ch in s:
        if not 48 <= ch <= 57:
            break
        n = n * 10 + ch - 48
    # strtol saturates at the 64-bit bounds; atoi then narrows to an int.
    return narrow_int32(max(-(1 << 63), min(sign * n, (1 << 63) - 1)))


def _numkeys(count_at: int, first_at: int, store_at: int, argv: list[bytes]) -> list[KeyRef]:
    """COMMAND [destination] numkeys key [key ...] [options]: the keys, then the
    destination. Nothing when the count is below 1 or more than the arguments left."""
    num = c_atoi(argv[count_at])
    if num < 1 or num > len(argv) - first_at:
        return []
    refs = [(first_at + i, _NO_FLAGS) for i in range(num)]
    if store_at:
        refs.append((store_at, _NO_FLAGS))
    return refs


def _sort(argv: list[bytes]) -> list[KeyRef]:
    refs: list[KeyRef] = [(1, _RO_ACCESS)]
    store = 0
    skip = {b"limit": 2, b"get": 1, b"by": 1}
    i = 2
    while i < len(argv):
        word = argv[i].lower()
        if word in skip:
            i += skip[word]
        elif word == b"store" and i + 1 < len(argv):
            store = i + 1  # the last STORE wins, as in SORT itself
        i += 1
    if store:
        refs.append((store, ("OW", "update")))
    return refs


def _sort_ro(argv: list[bytes]) -> list[KeyRef]:
    return [(1, _RO_ACCESS)]


def _migrate(argv: list[bytes]) -> list[KeyRef]:
    first, num = 3, 1
    skip = {b"copy": 0, b"replace": 0, b"auth": 1, b"auth2": 2}
    i = 6
    while i < len(argv):
        word = argv[i].lower()
        if word == b"keys":
            if argv[3]:
                num = 0  # KEYS with a key too: MIGRATE reports the syntax error
            else:
                first, num = i + 1, len(argv) - i - 1
            break
        i += skip.get(word, 0) + 1
    return [(first + j, ("RW", "access", "delete")) for j in range(num)]


def _georadius(argv: list[bytes]) -> list[KeyRef]:
    store = 0
    i = 5
    while i < len(argv):
        if argv[i].lower() in (b"store", b"storedist") and i + 1 < len(argv):
            store = i + 1
            i += 1
        i += 1
    return [(1, _NO_FLAGS)] + ([(store, _NO_FLAGS)] if store else [])


def xread_key_refs(argv: list[bytes]) -> list[KeyRef]:
    streams = 0
    i = 1
    while i < len(argv):
        word = argv[i].lower()
        if word in (b"block", b"count"):
            i += 2
        elif word == b"group":
            i += 3
        elif word == b"noack":
            i += 1
        else:
            if word == b"streams":
                streams = i
            break
    rest = len(argv) - streams - 1
    if not streams or rest == 0 or rest % 2:
        return []
    return [(streams + 1 + j, _NO_FLAGS) for j in range(rest // 2)]


def _set(argv: list[bytes]) -> list[KeyRef]:
    if any(arg.lower() == b"get" for arg in argv[3:]):
        return [(1, ("RW", "access", "update"))]
    return [(1, ("OW", "update"))]


def _bitfield(argv: list[bytes]) -> list[KeyRef]:
    readonly = True
    i = 2
    while i < len(argv):
        word, left = argv[i].lower(), len(argv) - i - 1
        if word == b"get" and left >= 2:
            i += 3
        elif word in (b"set", b"incrby") and left >= 3:
            readonly = False
            break
        elif word == b"overflow" and left >= 1:
            i += 2
        else:
            readonly = False  # a syntax error: assume it writes
            break
    return [(1, _RO_ACCESS if readonly else ("RW", "access", "update"))]


PARSERS: dict[str, Callable[[list[bytes]], list[KeyRef]]] = {
    "sort": _sort,
    "sort_ro": _sort_ro,
    "migrate": _migrate,
    "georadius": _georadius,
    "xread": xread_key_refs,
    "set": _set,
    "bitfield": _bitfield,
    "numkeys_at_1": partial(_numkeys, 1, 2, 0),
    "numkeys_at_2": partial(_numkeys, 2, 3, 0),
    "store_numkeys": partial(_numkeys, 2, 3, 1),
}


def has_keys(ent: Entry) -> bool:
    """Whether COMMAND GETKEYS may find keys in the command at all."""
    return "getkeys" in ent or any("not_key" not in s["flags"] for s in ent["specs"])


def find_keys(ent: Entry, argv: list[bytes]) -> list[KeyRef]:
    """The keys of a command line, with their access flags, as COMMAND GETKEYSANDFLAGS
    finds them. The arity must have been checked."""
    specs = ent["specs"]
    real_keys = any("not_key" not in s["flags"] for s in specs)
    variable = any("variable_flags" in s["flags"] for s in specs)
    if real_keys and not variable:
        found = keys_from_specs(ent, argv)
        if found is not None:
            return found
    parser = ent.get("getkeys")
    if parser is not None:
        return PARSERS[parser](argv)
    return []
