"""Sorted set algebra (ZUNION/ZINTER/ZDIFF, their STORE forms, ZINTERCARD), ZRANDMEMBER
and ZSCAN. Loaded by commands/zsets.py."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from aikv.blocking import signal_key_ready
from aikv.collections_common import (
    EMPTY_SCAN,
    MAX_RANDOM_REPLY,
    parse_scan_cursor,
    parse_scan_options,
    refuse_huge_reply,
    scan_reply,
)
from aikv.commands.args import NOT_INTEGER, SYNTAX, parse_int
from aikv.commands.registry import command
from aikv.keyspace import VALUE_READERS
from aikv.migrate.rdbprim import double_text
from aikv.persist.layout import TYPE_SET, TYPE_ZSET
from aikv.resp import EMPTY_ARRAY, NULL3, NULL_BULK, CommandError, bulk, integer
from aikv.zset_store import (
    RANDOM_FULL_READ,
    WRONGTYPE,
    ZSet,
    format_score,
    open_zset,
    parse_score,
    store_result,
)

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.keyspace import Database

Items = list[tuple[bytes, float]]
UNION, INTER, DIFF = 0, 1, 2
_LONG_MAX = 2**63 - 1


class _Source:
    """One input of a set operation: a sorted set, a plain set (scores 1), or nothing."""

    __slots__ = ("zset", "members", "weight")

    def __init__(self, db: Database, key: bytes) -> None:
        self.zset: ZSet | None = None
        self.members: set[bytes] | None = None
        self.weight = 1.0
        meta = db.get_meta(key)
        if meta is None:
            return
        if meta[0] == TYPE_ZSET:
            self.zset = ZSet(db, key, meta)
        elif meta[0] == TYPE_SET and TYPE_SET in VALUE_READERS:
            value = VALUE_READERS[TYPE_SET](db, key, meta)
            assert isinstance(value, set)
            self.members = value
        else:
            raise CommandError(WRONGTYPE)

    def __len__(self) -> int:
        if self.zset is not None:
            return self.zset.count
        return len(self.members) if self.members is not None else 0

    def items(self) -> Items:
        if self.zset is not None:
            return list(self.zset.items())
        return [(m, 1.0) for m in self.members] if self.members is not None else []

    def find(self, member: bytes) -> float | None:
        if self.zset is not None:
            return self.zset.score(member)
        if self.members is not None and member in self.members:
            return 1.0
        return None


def _aggregate(how: bytes) -> Callable[[float, float], float]:
    if how == b"min":
        return min
    if how == b"max":
        return max

    def add(a: float, b: float) -> float:
        total = a + b
        return 0.0 if total != total else total  # inf + -inf: Redis's convention is 0

    return add


def _weighted(score: float, weight: float) -> float:
    value = score * weight
    return 0.0 if value != value else value


def _setop(client: Client, argv: list[bytes], numkeys_at: int, op: int,
           dst: bytes | None, cardinality_only: bool = False) -> bytes:
    name = argv[0].decode(errors="replace").lower()
    setnum = parse_int(argv[numkeys_at])
    if setnum < 1:
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    if setnum > len(argv) - numkeys_at - 1:
        raise CommandError(SYNTAX)
    db = client.db
    keys = argv[numkeys_at + 1 : numkeys_at + 1 + setnum]
    sources = [_Source(db, k) for k in keys]
    j = numkeys_at + 1 + setnum
    aggregate = _aggregate(b"sum")
    withscores = False
    limit = 0
    n = len(argv)
    while j < n:
        remaining = n - j
        opt = argv[j].lower()
        if op != DIFF and not cardinality_only and remaining >= setnum + 1 \
                and opt == b"weights":
            for i in range(setnum):
                sources[i].weight = parse_score(argv[j + 1 + i], "ERR weight value is not a float")
            j += setnum + 1
        elif op != DIFF and not cardinality_only and remaining >= 2 and opt == b"aggregate":
            how = argv[j + 1].lower()
            if how not in (b"sum", b"min", b"max"):
                raise CommandError(SYNTAX)
            aggregate = _aggregate(how)
            j += 2
        elif dst is None and not cardinality_only and opt == b"withscores":
            withscores = True
            j += 1
        elif cardinality_only and remaining >= 2 and opt == b"limit":
            limit = parse_int(argv[j + 1], "ERR LIMIT can't be negative")
            if limit < 0:
                raise CommandError("ERR LIMIT can't be negative")
            j += 2
        else:
            raise CommandError(SYNTAX)
    if op != DIFF:
        sources.sort(key=len)  # smallest first, as Redis orders its inputs
    result: dict[bytes, float] = {}
    if op == INTER:
        first = sources[0]
        if len(first):
            for member, score in first.items():
                total = _weighted(score, first.weight)
                for other in sources[1:]:
                    found = other.find(member)
                    if found is None:
                        break
                    total = aggregate(total, _weighted(found, other.weight))
                else:
                    result[member] = total
                    if cardinality_only and limit and len(result) >= limit:
                        break
    elif op == UNION:
        for src in sources:
            for member, score in src.items():
                value = _weighted(score, src.weight)
                old = result.get(member)
                result[member] = value if old is None else aggregate(old, value)
    else:
        first = sources[0]
        for member, score in first.items():
            if all(other.find(member) is None for other in sources[1:]):
                result[member] = score
    if cardinality_only:
        return integer(len(result))
    if dst is not None:
        entries = int(client.server.config.get("zset-max-listpack-entries"))
        value_max = int(client.server.config.get("zset-max-listpack-value"))
        event = (b"zunionstore", b"zinterstore", b"zdiffstore")[op]
        stored = store_result(db, dst, result, entries, value_max, event=event)
        if stored:
            signal_key_ready(client.server, db.index, dst)
        return integer(stored)
    from aikv.commands.zsets import items_reply

    ordered = sorted(result.items(), key=lambda item: (item[1], item[0]))
    return items_reply(ordered, withscores, client.resp3)


def _numkeys_finder(at: int, has_dst: bool) -> Callable[[list[bytes]], list[int]]:
    def find(argv: list[bytes]) -> list[int]:
        try:
            n = int(argv[at])
        except (ValueError, IndexError):
            return [1] if has_dst else []
        if n <= 0 or at + n >= len(argv):
            return [1] if has_dst else []
        return ([1] if has_dst else []) + list(range(at + 1, at + 1 + n))

    return find


@command("zunion", -3, "readonly movablekeys", key_finder=_numkeys_finder(1, False),
         categories="@read @sortedset @slow")
def zunion(client: Client, argv: list[bytes]) -> bytes:
    return _setop(client, argv, 1, UNION, None)


@command("zunionstore", -4, "write denyoom movablekeys", keys=(1, 1, 1),
         key_finder=_numkeys_finder(2, True), categories="@write @sortedset @slow")
def zunionstore(client: Client, argv: list[bytes]) -> bytes:
    return _setop(client, argv, 2, UNION, argv[1])


@command("zinter", -3, "readonly movablekeys", key_finder=_numkeys_finder(1, False),
         categories="@read @sortedset @slow")
def zinter(client: Client, argv: list[bytes]) -> bytes:
    return _setop(client, argv, 1, INTER, None)


@command("zinterstore", -4, "write denyoom movablekeys", keys=(1, 1, 1),
         key_finder=_numkeys_finder(2, True), categories="@write @sortedset @slow")
def zinterstore(client: Client, argv: list[bytes]) -> bytes:
    return _setop(client, argv, 2, INTER, argv[1])


@command("zintercard", -3, "readonly movablekeys", key_finder=_numkeys_finder(1, False),
         categories="@read @sortedset @slow")
def zintercard(client: Client, argv: list[bytes]) -> bytes:
    return _setop(client, argv, 1, INTER, None, cardinality_only=True)


@command("zdiff", -3, "readonly movablekeys", key_finder=_numkeys_finder(1, False),
         categories="@read @sortedset @slow")
def zdiff(client: Client, argv: list[bytes]) -> bytes:
    return _setop(client, argv, 1, DIFF, None)


@command("zdiffstore", -4, "write denyoom movablekeys", keys=(1, 1, 1),
         key_finder=_numkeys_finder(2, True), categories="@write @sortedset @slow")
def zdiffstore(client: Client, argv: list[bytes]) -> bytes:
    return _setop(client, argv, 2, DIFF, argv[1])


# ---------------------------------------------------------------------- ZRANDMEMBER
@command("zrandmember", -2, "readonly", keys=(1, 1, 1), categories="@read @sortedset @slow")
def zrandmember(client: Client, argv: list[bytes]) -> bytes:
    from aikv.commands.zsets import items_reply

    if len(argv) >= 3:
        count = parse_int(argv[2], NOT_INTEGER)
        if count < -_LONG_MAX:
            raise CommandError("ERR value is out of range, value must between "
                               "-9223372036854775807 and 9223372036854775807")
        withscores = False
        if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withscores"):
            raise CommandError(SYNTAX)
        if len(argv) == 4:
            withscores = True
            if count < -_LONG_MAX // 2 or count > _LONG_MAX // 2:
                raise CommandError("ERR value is out of range")
        zs = open_zset(client.db, argv[1])
        if zs is None or count == 0:
            return EMPTY_ARRAY
        if count < 0 or count == 1:
            if -count > MAX_RANDOM_REPLY:  # as SRANDMEMBER and HRANDFIELD: not a node's worth
                return refuse_huge_reply(client, -count)
            items = zs.random_members(-count if count < 0 else 1)
        elif count >= zs.count:
            # Redis walks the whole set from its tail here (its set-operation iterator).
            items = list(zs.items(forward=False))
        elif not zs.skiplist or count * 2 > zs.count or zs.count <= RANDOM_FULL_READ:
            items = random.sample(list(zs.items()), count)
        else:
            picked: dict[bytes, float] = {}
            attempts = 0
            while len(picked) < count and attempts < 8 * count:
                for member, score in zs.random_members(count - len(picked)):
                    picked[member] = score
                attempts += count
            if len(picked) < count:
                picked = dict(random.sample(list(zs.items()), count))
            items = list(picked.items())
        return items_reply(items, withscores, client.resp3)
    zs = open_zset(client.db, argv[1])
    if zs is None:
        return NULL3 if client.resp3 else NULL_BULK
    return bulk(zs.random_members(1)[0][0])


# ---------------------------------------------------------------------- ZSCAN
@command("zscan", -3, "readonly", keys=(1, 1, 1), categories="@read @sortedset @slow")
def zscan(client: Client, argv: list[bytes]) -> bytes:
    """Small (listpack) sets come back whole in score order with cursor 0, as in Redis;
    larger ones are walked in member-hash order (see ZSet.scan for the guarantees)."""
    cursor = parse_scan_cursor(argv[2])
    zs = open_zset(client.db, argv[1])
    if zs is None:
        return EMPTY_SCAN
    count, matcher = parse_scan_options(argv, 3)
    if zs.skiplist:
        next_cursor, items = zs.scan(cursor, count)
        text = format_score
    else:
        next_cursor, items = 0, list(zs.items())
        # The listpack's own entries: integral scores up to 2^62 stored as integers.
        text = double_text
    encoded: list[bytes] = []
    for member, score in items:
        if matcher is None or matcher(member):
            encoded.append(bulk(member))
            encoded.append(bulk(text(score)))
    return scan_reply(next_cursor, encoded)
