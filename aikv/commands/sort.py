"""SORT and SORT_RO over lists, sets and sorted sets, with BY / GET patterns, LIMIT,
ASC|DESC, ALPHA and STORE, following Redis 7.0's sort.c.

How Redis orders, reproduced here:
- numeric (default): each element (or its BY weight) is read with C's strtod, leading
  blanks, hex floats and "inf" included; trailing bytes, NaN or an out-of-range value
  make the whole command fail. libc's own strtod is called, so every corner (errno on
  underflow, a C string ending at a NUL byte) is the one Redis sees. Equal scores are
  ordered by the elements' bytes.
- ALPHA: byte order. Redis uses strcoll(), which is byte order in the C locale and
  stops at a NUL byte; with STORE it compares whole strings. Elements with equal sort
  keys keep their input order (glibc's qsort is a merge sort, hence stable).
- BY without '*' skips sorting: lists and sorted sets keep their own order (DESC walks
  it backwards), sets their iteration order; a set sorted that way into STORE is
  sorted ALPHA instead, as in Redis.
In cluster mode BY with a pattern and GET are refused, as Redis refuses them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aikv.blocking import signal_key_ready
from aikv.commands.args import SYNTAX, parse_int
from aikv.commands.hashes import field_value
from aikv.commands.registry import command
from aikv.keyspace import VALUE_READERS, VALUE_WRITERS
from aikv.notify import GENERIC, LIST
from aikv.persist.layout import STRING_CODES, TYPE_HASH, TYPE_LIST, TYPE_SET, TYPE_ZSET
from aikv.pqsort import partial_sort
from aikv.resp import NULL3, NULL_BULK, CommandError, array, bulk, integer
from aikv.zset_store import ZSet

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.keyspace import Database

_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_strtod = _libc.strtod
_strtod.restype = ctypes.c_double
_strtod.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
_ERANGE = 34


def strtod_score(raw: bytes) -> float | None:
    """The score Redis's SORT reads from `raw`, or None where it reports "One or more
    scores can't be converted into double" (trailing characters, NaN, ERANGE)."""
    end = ctypes.c_char_p()
    ctypes.set_errno(0)
    value = _strtod(raw, ctypes.byref(end))
    if ctypes.get_errno() == _ERANGE or value != value:
        return None
    # c_char_p reads the rest as a C string: empty when strtod stopped at the NUL.
    if end.value:
        return None
    return value


def sort_keys(argv: list[bytes]) -> list[int]:
    """Key positions: the sorted key, and the destination of the last STORE (options
    with arguments are skipped the way Redis's sortGetKeys skips them)."""
    positions = [1]
    store = 0
    i = 2
    while i < len(argv):
        word = argv[i].lower()
        if word == b"limit":
            i += 2
        elif word in (b"get", b"by"):
            i += 1
        elif word == b"store" and i + 1 < len(argv):
            store = i + 1
        i += 1
    if store:
        positions.append(store)
    return positions


class _Patterns:
    """BY / GET patterns resolved against the database: "key_*" names a string key,
    "key_*->field" a hash field; "#" (GET only) is the element itself."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def lookup(self, pattern: bytes, element: bytes) -> bytes | None:
        if pattern == b"#":
            return element
        star = pattern.find(b"*")
        if star < 0:
            return None
        arrow = pattern.find(b"->", star + 1)
        field = None
        if arrow >= 0 and arrow + 2 < len(pattern):
            field = pattern[arrow + 2 :]
            pattern = pattern[:arrow]
        key = pattern[:star] + element + pattern[star + 1 :]
        meta = self.db.get_meta(key)
        if meta is None:
            return None
        if field is None:
            return meta[9:] if meta[0] in STRING_CODES else None
        if meta[0] != TYPE_HASH:
            return None
        return field_value(self.db, meta, field)


def _limit_range(start: int, count: int, n: int) -> tuple[int, int]:
    """Redis's LIMIT arithmetic: the inclusive output range [first, last] of n sorted
    elements (first > last when empty)."""
    first = min(max(start, 0), n)
    count = min(max(count, -1), n)
    last = n - 1 if count < 0 else first + count - 1
    if first >= n:
        first, last = n - 1, n - 2
    return first, min(last, n - 1)


def _load(db: Database, key: bytes) -> tuple[int, Any, bytes | None]:
    """(type, value, meta) of the key to sort; a missing key sorts as an empty list."""
    meta = db.get_meta(key)
    if meta is None:
        return TYPE_LIST, [], None
    if meta[0] not in (TYPE_LIST, TYPE_SET, TYPE_ZSET):
        raise CommandError(_WRONGTYPE)
    return meta[0], VALUE_READERS[meta[0]](db, key, meta), meta


def _sort_generic(client: Client, argv: list[bytes], read_only: bool) -> bytes:
    desc = alpha = dont_sort = False
    limit_start, limit_count = 0, -1
    by: bytes | None = None
    gets: list[bytes] = []
    store: bytes | None = None
    cluster = client.server.config.cluster_enabled
    i, argc = 2, len(argv)
    while i < argc:
        word = argv[i].lower()
        left = argc - i - 1
        if word == b"asc":
            desc = False
        elif word == b"desc":
            desc = True
        elif word == b"alpha":
            alpha = True
        elif word == b"limit" and left >= 2:
            limit_start = parse_int(argv[i + 1])
            limit_count = parse_int(argv[i + 2])
            i += 2
        elif word == b"store" and left >= 1 and not read_only:
            store = argv[i + 1]
            i += 1
        elif word == b"by" and left >= 1:
            by = argv[i + 1]
            if b"*" not in by:
                dont_sort = True
            elif cluster:
                raise CommandError("ERR BY option of SORT denied in Cluster mode.")
            i += 1
        elif word == b"get" and left >= 1:
            if cluster:
                raise CommandError("ERR GET option of SORT denied in Cluster mode.")
            gets.append(argv[i + 1])
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1

    db = client.db
    kind, value, meta = _load(db, argv[1])
    if kind == TYPE_ZSET and meta is not None:
        ZSet(db, argv[1], meta).to_skiplist()
    if dont_sort and kind == TYPE_SET and (store is not None or client.in_script):
        # Redis's rule: a set's own order is not reproducible (for a replica, or a
        # script's effects), so it is sorted ALPHA.
        dont_sort, alpha, by = False, True, None
    if kind == TYPE_ZSET:
        members = [m for m, _ in sorted(value.items(), key=lambda item: (item[1], item[0]))]
    else:
        members = list(value)
    n = len(members)
    first, last = _limit_range(limit_start, limit_count, n)
    patterns = _Patterns(db)

    if dont_sort:
        if desc and kind != TYPE_SET:
            members.reverse()  # lists and sorted sets are walked from their tail
    else:
        members = _sorted(members, patterns, by, alpha, desc, store is not None,
                          None if by is None or (first == 0 and last == n - 1) else (first, last))
    chosen = members[first : last + 1] if first <= last else []

    if store is None:
        out: list[bytes] = []
        null = NULL3 if client.resp3 else NULL_BULK
        for element in chosen:
            if not gets:
                out.append(bulk(element))
            for pattern in gets:
                found = patterns.lookup(pattern, element)
                out.append(null if found is None else bulk(found))
        return array(out)
    result: list[bytes] = []
    for element in chosen:
        if not gets:
            result.append(element)
        for pattern in gets:
            result.append(patterns.lookup(pattern, element) or b"")
    if result:
        VALUE_WRITERS["list"](db, store, result, 0)
        db.notify(LIST, b"sortstore", store)
        signal_key_ready(client.server, db.index, store)  # setKey -> dbAdd signals it
    elif db.delete(store):
        db.notify(GENERIC, b"del", store)
    return integer(len(result))


def _sorted(members: list[bytes], patterns: _Patterns, by: bytes | None, alpha: bool,
            desc: bool, storing: bool, ranks: tuple[int, int] | None = None) -> list[bytes]:
    """The members in SORT's order. With `ranks` (BY with a LIMIT) only those ranks are
    sorted, by Redis's partial quicksort, which leaves equal ALPHA weights in its own order
    (a full sort is stable, as glibc's merge-sort qsort is)."""
    key: Callable[[bytes], Any]
    if alpha:
        # strcoll() in the C locale: byte order up to the first NUL; STORE compares
        # whole strings.
        def text(raw: bytes) -> bytes:
            return raw if storing else raw.split(b"\0", 1)[0]
        if by is None:
            key = text
        else:
            def key(element: bytes) -> tuple[int, bytes]:
                weight = patterns.lookup(by, element)
                # A missing weight sorts before every present one.
                return (0, b"") if weight is None else (1, text(weight))
    else:
        scores: dict[bytes, float] = {}
        for element in members:
            weight = element if by is None else patterns.lookup(by, element)
            if weight is None:
                scores[element] = 0.0
                continue
            score = strtod_score(weight)
            if score is None:
                raise CommandError("ERR One or more scores can't be converted into double")
            scores[element] = score

        def key(element: bytes) -> tuple[float, bytes]:
            return scores[element], element
    if ranks is None:
        return sorted(members, key=key, reverse=desc)
    keyed = [(key(element), element) for element in members]
    sign = -1 if desc else 1

    def compare(a: tuple[Any, bytes], b: tuple[Any, bytes]) -> int:
        return sign * ((a[0] > b[0]) - (a[0] < b[0]))

    partial_sort(keyed, compare, *ranks)
    return [element for _, element in keyed]


@command("sort", -2, "write denyoom movablekeys", keys=(1, 1, 1), key_finder=sort_keys,
         categories="@write @set @sortedset @list @slow @dangerous")
def sort(client: Client, argv: list[bytes]) -> bytes:
    return _sort_generic(client, argv, read_only=False)


@command("sort_ro", -2, "readonly movablekeys", keys=(1, 1, 1),
         categories="@read @set @sortedset @list @slow @dangerous")
def sort_ro(client: Client, argv: list[bytes]) -> bytes:
    return _sort_generic(client, argv, read_only=True)

