"""Sorted set commands, blocking ones included. Storage layout and walks: aikv/zset_store.py."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from aikv.blocking import get_blocking, may_block, parse_timeout, signal_key_ready
from aikv.commands.args import NOT_INTEGER, SYNTAX, parse_int
from aikv.commands.lists import _mpop_keys, parse_mpop
from aikv.commands.registry import command
from aikv.keyspace import ENCODING_HOOKS, VALUE_READERS, VALUE_WRITERS
from aikv.notify import GENERIC, ZSET
from aikv.persist.layout import TYPE_SET, TYPE_ZSET
from aikv.replication.propagate import propagate_as, propagate_effect
from aikv.resp import EMPTY_ARRAY, NULL3, NULL_ARRAY, NULL_BULK, ZERO, CommandError, bulk, integer
from aikv.zset_store import (
    FLAG_SKIPLIST,
    LexRange,
    ScoreRange,
    ZSet,
    format_score,
    open_zset,
    parse_score,
    score_reply,
    store_result,
    zset_or_none,
)

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.keyspace import Database

Items = list[tuple[bytes, float]]
_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
_POSITIVE = "ERR value is out of range, must be positive"
_NAN = "ERR resulting score is not a number (NaN)"


def _limits(client: Client) -> tuple[int, int]:
    config = client.server.config
    return int(config.get("zset-max-listpack-entries")), int(config.get("zset-max-listpack-value"))


def _db_limits(db: Database) -> tuple[int, int]:
    # A Database has no link to the config; its modification callback is bound to the
    # server, which has one. Defaults apply without a server (unit tests).
    server = getattr(db.on_modified, "__self__", None)
    config = getattr(server, "config", None)
    if config is None:
        return 128, 64
    return int(config.get("zset-max-listpack-entries")), int(config.get("zset-max-listpack-value"))


def _null(client: Client) -> bytes:
    return NULL3 if client.resp3 else NULL_BULK


def _null_array(client: Client) -> bytes:
    return NULL3 if client.resp3 else NULL_ARRAY


def items_reply(items: Items, withscores: bool, resp3: bool) -> bytes:
    """Members, or member/score pairs (flat in RESP2, nested pairs in RESP3)."""
    if not withscores:
        return b"*%d\r\n" % len(items) + b"".join(
            b"$%d\r\n%s\r\n" % (len(m), m) for m, _ in items)
    if resp3:
        return b"*%d\r\n" % len(items) + b"".join(
            b"*2\r\n$%d\r\n%s\r\n,%s\r\n" % (len(m), m, format_score(s)) for m, s in items)
    parts = [b"*%d\r\n" % (2 * len(items))]
    for m, s in items:
        text = format_score(s)
        parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(m), m, len(text), text))
    return b"".join(parts)


def _nested_pairs(items: Items, resp3: bool) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(
        b"*2\r\n" + bulk(m) + score_reply(s, resp3) for m, s in items)


# ---------------------------------------------------------------------- ZADD & co
def _zadd_core(client: Client, key: bytes, pairs: list[tuple[float, bytes]], nx: bool,
               xx: bool, gt: bool, lt: bool, incr: bool) -> tuple[int, int, float | None]:
    """(added, updated, last new score or None when nothing was processed)."""
    db = client.db
    zs = open_zset(db, key)
    if zs is None:
        if xx:
            return 0, 0, None
        max_entries, max_value = _limits(client)
        big = max_entries == 0 or len(pairs[0][1]) > max_value
        zs = ZSet.create(db, key, FLAG_SKIPLIST if big else 0)
        created = True
    else:
        max_entries, max_value = _limits(client)
        created = False
    added = updated = 0
    result: float | None = None
    for score, member in pairs:
        mkey, old = zs.lookup(member)
        if old is None:
            if xx:
                continue
            zs.grow_check(max_entries, max_value, len(member))
            # A listpack keeps scores as text, where -0 reads back as 0.
            zs.insert(member, score if zs.skiplist or score != 0.0 else 0.0, mkey)
            added += 1
            result = score
            continue
        if nx:
            continue
        new = old + score if incr else score
        if new != new:
            if added or updated or created:
                zs.save()
            raise CommandError(_NAN)
        if (lt and new >= old) or (gt and new <= old):
            continue
        result = new
        if new != old:
            zs.update(member, old, new if zs.skiplist or new != 0.0 else 0.0, mkey)
            updated += 1
    zs.save()
    if created:
        signal_key_ready(client.server, db.index, key)
    return added, updated, result


@command("zadd", -4, "write denyoom fast", keys=(1, 1, 1), categories="@write @sortedset @fast")
def zadd(client: Client, argv: list[bytes]) -> bytes:
    nx = xx = ch = incr = gt = lt = False
    i = 2
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt == b"ch":
            ch = True
        elif opt == b"incr":
            incr = True
        elif opt == b"gt":
            gt = True
        elif opt == b"lt":
            lt = True
        else:
            break
        i += 1
    elements = n - i
    if elements % 2 or not elements:
        raise CommandError(SYNTAX)
    if nx and xx:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    if incr and elements > 2:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    pairs = [(parse_score(argv[j]), argv[j + 1]) for j in range(i, n, 2)]
    added, updated, result = _zadd_core(client, argv[1], pairs, nx, xx, gt, lt, incr)
    if added or updated:
        client.db.notify(ZSET, b"zincr" if incr else b"zadd", argv[1])
    if incr:
        return _null(client) if result is None else score_reply(result, client.resp3)
    return integer(added + updated if ch else added)


@command("zincrby", 4, "write denyoom fast", keys=(1, 1, 1), categories="@write @sortedset @fast")
def zincrby(client: Client, argv: list[bytes]) -> bytes:
    delta = parse_score(argv[2])
    added, updated, result = _zadd_core(client, argv[1], [(delta, argv[3])], False, False,
                                        False, False, True)
    assert result is not None
    if added or updated:
        client.db.notify(ZSET, b"zincr", argv[1])
    return score_reply(result, client.resp3)


@command("zrem", -3, "write fast", keys=(1, 1, 1), categories="@write @sortedset @fast")
def zrem(client: Client, argv: list[bytes]) -> bytes:
    zs = open_zset(client.db, argv[1])
    if zs is None:
        return ZERO
    removed = 0
    for member in argv[2:]:
        score = zs.score(member)
        if score is not None:
            zs.remove(member, score)
            removed += 1
    if removed:
        zs.save()
        _removed(zs, b"zrem")
    return integer(removed)


def _removed(zs: ZSet, event: bytes) -> None:
    """Redis's events after members left a sorted set: the command's, "del" if emptied."""
    zs.db.notify(ZSET, event, zs.key)
    if not zs.count:
        zs.db.notify(GENERIC, b"del", zs.key)


@command("zcard", 2, "readonly fast", keys=(1, 1, 1), categories="@read @sortedset @fast")
def zcard(client: Client, argv: list[bytes]) -> bytes:
    zs = open_zset(client.db, argv[1])
    return ZERO if zs is None else integer(zs.count)


@command("zscore", 3, "readonly fast", keys=(1, 1, 1), categories="@read @sortedset @fast")
def zscore(client: Client, argv: list[bytes]) -> bytes:
    zs = open_zset(client.db, argv[1])
    score = None if zs is None else zs.score(argv[2])
    return _null(client) if score is None else score_reply(score, client.resp3)


@command("zmscore", -3, "readonly fast", keys=(1, 1, 1), categories="@read @sortedset @fast")
def zmscore(client: Client, argv: list[bytes]) -> bytes:
    zs = open_zset(client.db, argv[1])
    null = _null(client)
    parts = [b"*%d\r\n" % (len(argv) - 2)]
    for member in argv[2:]:
        score = None if zs is None else zs.score(member)
        parts.append(null if score is None else score_reply(score, client.resp3))
    return b"".join(parts)


def _rank(client: Client, argv: list[bytes], reverse: bool) -> bytes:
    zs = open_zset(client.db, argv[1])
    if zs is None:
        return _null(client)
    score = zs.score(argv[2])
    if score is None:
        return _null(client)
    return integer(zs.rank(argv[2], score, reverse))


@command("zrank", 3, "readonly fast", keys=(1, 1, 1), categories="@read @sortedset @fast")
def zrank(client: Client, argv: list[bytes]) -> bytes:
    return _rank(client, argv, False)


@command("zrevrank", 3, "readonly fast", keys=(1, 1, 1), categories="@read @sortedset @fast")
def zrevrank(client: Client, argv: list[bytes]) -> bytes:
    return _rank(client, argv, True)


@command("zcount", 4, "readonly fast", keys=(1, 1, 1), categories="@read @sortedset @fast")
def zcount(client: Client, argv: list[bytes]) -> bytes:
    rng = ScoreRange(argv[2], argv[3])
    zs = open_zset(client.db, argv[1])
    if zs is None or rng.empty():
        return ZERO
    return integer(sum(1 for _ in zs.by_score(rng, False)))


@command("zlexcount", 4, "readonly fast", keys=(1, 1, 1), categories="@read @sortedset @fast")
def zlexcount(client: Client, argv: list[bytes]) -> bytes:
    rng = LexRange(argv[2], argv[3])
    zs = open_zset(client.db, argv[1])
    if zs is None or rng.empty():
        return ZERO
    return integer(sum(1 for _ in zs.by_lex(rng, False)))


# ---------------------------------------------------------------------- ZRANGE family
RANK, SCORE, LEX = 0, 1, 2


def _normalize_ranks(start: int, end: int, n: int) -> tuple[int, int] | None:
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return None
    if end >= n:
        end = n - 1
    return start, end


def _zrange(client: Client, argv: list[bytes], src_at: int, rangetype: int | None,
            reverse: bool | None, store: bytes | None) -> bytes:
    """zrangeGenericCommand: every ZRANGE form and ZRANGESTORE. `rangetype`/`reverse`
    are preset by the legacy commands (then the matching options are syntax errors)."""
    withscores = False
    offset, limit = 0, -1
    j = src_at + 3
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        left = n - j - 1
        if opt == b"withscores" and store is None:
            withscores = True
        elif opt == b"limit" and left >= 2:
            offset = parse_int(argv[j + 1])
            limit = parse_int(argv[j + 2])
            j += 2
        elif reverse is None and opt == b"rev":
            reverse = True
        elif rangetype is None and opt == b"bylex":
            rangetype = LEX
        elif rangetype is None and opt == b"byscore":
            rangetype = SCORE
        else:
            raise CommandError(SYNTAX)
        j += 1
    reverse = bool(reverse)
    rangetype = RANK if rangetype is None else rangetype
    if limit != -1 and rangetype == RANK:  # as Redis: LIMIT o -1 passes this check
        raise CommandError("ERR syntax error, LIMIT is only supported in combination with "
                           "either BYSCORE or BYLEX")
    if withscores and rangetype == LEX:
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with "
                           "BYLEX")
    lo, hi = argv[src_at + 1], argv[src_at + 2]
    if reverse and rangetype != RANK:
        lo, hi = hi, lo
    score_rng: ScoreRange | None = None
    lex_rng: LexRange | None = None
    start = end = 0
    if rangetype == RANK:
        start = parse_int(lo)
        end = parse_int(hi)
    elif rangetype == SCORE:
        score_rng = ScoreRange(lo, hi)
    else:
        lex_rng = LexRange(lo, hi)
    db = client.db
    zs = open_zset(db, argv[src_at])
    items: Items = []
    if zs is not None:
        if rangetype == RANK:
            span = _normalize_ranks(start, end, zs.count)
            if span is not None:
                items = zs.by_rank(span[0], span[1], reverse)
        elif offset >= 0 and not (offset > 0 and offset >= zs.count):
            if score_rng is not None and not score_rng.empty():
                items = list(zs.by_score(score_rng, reverse, offset, limit))
            elif lex_rng is not None and not lex_rng.empty():
                items = list(zs.by_lex(lex_rng, reverse, offset, limit))
    if store is not None:
        max_entries, max_value = _limits(client)
        stored = store_result(db, store, dict(items), max_entries, max_value,
                              event=b"zrangestore")
        if stored:
            signal_key_ready(client.server, db.index, store)
        return integer(stored)
    return items_reply(items, withscores, client.resp3)


@command("zrange", -4, "readonly", keys=(1, 1, 1), categories="@read @sortedset @slow")
def zrange(client: Client, argv: list[bytes]) -> bytes:
    return _zrange(client, argv, 1, None, None, None)


@command("zrangestore", -5, "write denyoom", keys=(1, 2, 1),
         categories="@write @sortedset @slow")
def zrangestore(client: Client, argv: list[bytes]) -> bytes:
    return _zrange(client, argv, 2, None, None, argv[1])


@command("zrevrange", -4, "readonly", keys=(1, 1, 1), categories="@read @sortedset @slow")
def zrevrange(client: Client, argv: list[bytes]) -> bytes:
    return _zrange(client, argv, 1, RANK, True, None)


@command("zrangebyscore", -4, "readonly", keys=(1, 1, 1), categories="@read @sortedset @slow")
def zrangebyscore(client: Client, argv: list[bytes]) -> bytes:
    return _zrange(client, argv, 1, SCORE, False, None)


@command("zrevrangebyscore", -4, "readonly", keys=(1, 1, 1),
         categories="@read @sortedset @slow")
def zrevrangebyscore(client: Client, argv: list[bytes]) -> bytes:
    return _zrange(client, argv, 1, SCORE, True, None)


@command("zrangebylex", -4, "readonly", keys=(1, 1, 1), categories="@read @sortedset @slow")
def zrangebylex(client: Client, argv: list[bytes]) -> bytes:
    return _zrange(client, argv, 1, LEX, False, None)


@command("zrevrangebylex", -4, "readonly", keys=(1, 1, 1), categories="@read @sortedset @slow")
def zrevrangebylex(client: Client, argv: list[bytes]) -> bytes:
    return _zrange(client, argv, 1, LEX, True, None)


# ---------------------------------------------------------------------- ZREMRANGEBY*
def _remove_items(zs: ZSet, items: Iterable[tuple[bytes, float]], event: bytes) -> int:
    batch = list(items)  # materialise first: deleting under a live cursor walk is unsafe
    for member, score in batch:
        zs.remove(member, score)
    if batch:
        zs.save()
        _removed(zs, event)
    return len(batch)


@command("zremrangebyrank", 4, "write", keys=(1, 1, 1), categories="@write @sortedset @slow")
def zremrangebyrank(client: Client, argv: list[bytes]) -> bytes:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    zs = open_zset(client.db, argv[1])
    if zs is None:
        return ZERO
    span = _normalize_ranks(start, end, zs.count)
    if span is None:
        return ZERO
    return integer(_remove_items(zs, zs.by_rank(span[0], span[1], False), b"zremrangebyrank"))


@command("zremrangebyscore", 4, "write", keys=(1, 1, 1), categories="@write @sortedset @slow")
def zremrangebyscore(client: Client, argv: list[bytes]) -> bytes:
    rng = ScoreRange(argv[2], argv[3])
    zs = open_zset(client.db, argv[1])
    if zs is None or rng.empty():
        return ZERO
    return integer(_remove_items(zs, zs.by_score(rng, False), b"zremrangebyscore"))


@command("zremrangebylex", 4, "write", keys=(1, 1, 1), categories="@write @sortedset @slow")
def zremrangebylex(client: Client, argv: list[bytes]) -> bytes:
    rng = LexRange(argv[2], argv[3])
    zs = open_zset(client.db, argv[1])
    if zs is None or rng.empty():
        return ZERO
    # A skiplist's zslDeleteRangeByLex does not check the range against the ends first.
    items = zs.by_lex(rng, False, checked=not zs.skiplist)
    return integer(_remove_items(zs, items, b"zremrangebylex"))


# ---------------------------------------------------------------------- pops
def _pop_items(zs: ZSet, count: int, max_first: bool) -> Items:
    items: Items = []
    for item in zs.items(forward=not max_first):
        items.append(item)
        if len(items) >= count:
            break
    for member, score in items:
        zs.remove(member, score)
    zs.save()
    if items:
        _removed(zs, b"zpopmax" if max_first else b"zpopmin")
    return items


def _zpop(client: Client, argv: list[bytes], max_first: bool) -> bytes:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = 1
    if len(argv) == 3:
        count = parse_int(argv[2], _POSITIVE)
        if count < 0:
            raise CommandError(_POSITIVE)
    zs = open_zset(client.db, argv[1])
    if zs is None or count == 0:
        propagate_as(client)
        return EMPTY_ARRAY
    items = _pop_items(zs, count, max_first)
    if not client.resp3:
        return items_reply(items, True, False)
    if len(argv) == 3:
        return _nested_pairs(items, True)
    # RESP3 without COUNT: one flat member/score pair.
    return b"*%d\r\n" % (2 * len(items)) + b"".join(
        bulk(m) + score_reply(s, True) for m, s in items)


@command("zpopmin", -2, "write fast", keys=(1, 1, 1), categories="@write @sortedset @fast")
def zpopmin(client: Client, argv: list[bytes]) -> bytes:
    return _zpop(client, argv, False)


@command("zpopmax", -2, "write fast", keys=(1, 1, 1), categories="@write @sortedset @fast")
def zpopmax(client: Client, argv: list[bytes]) -> bytes:
    return _zpop(client, argv, True)


_ZSET_SIDES = {b"min": False, b"max": True}


def _mpop_reply(key: bytes, items: Items, resp3: bool) -> bytes:
    return b"*2\r\n" + bulk(key) + _nested_pairs(items, resp3)


# A pop that took members from a sorted set reaches replicas as ZPOPMIN/ZPOPMAX of that
# one key (the multi-key and blocking forms would look at other keys, or block, there).
def _pop_effect(key: bytes, max_first: bool, popped: int | None) -> list[bytes]:
    """`popped` is None for BZPOPMIN/BZPOPMAX (no COUNT), else how many were popped."""
    argv = [b"ZPOPMAX" if max_first else b"ZPOPMIN", key]
    if popped is not None:
        argv.append(b"%d" % popped)
    return argv


@command("zmpop", -4, "write movablekeys", key_finder=lambda argv: _mpop_keys(argv, 1),
         categories="@write @sortedset @slow")
def zmpop(client: Client, argv: list[bytes]) -> bytes:
    keys, max_first, count = parse_mpop(argv, 1, _ZSET_SIDES)
    db = client.db
    for key in keys:
        zs = open_zset(db, key)
        if zs is not None:
            items = _pop_items(zs, count, max_first)
            propagate_as(client, _pop_effect(key, max_first, len(items)))
            return _mpop_reply(key, items, client.resp3)
    propagate_as(client)
    return _null_array(client)


def _bzpop(client: Client, argv: list[bytes], max_first: bool) -> bytes:
    keys = argv[1:-1]
    deadline = parse_timeout(client, argv[-1])
    db = client.db

    def reply(key: bytes, zs: ZSet) -> bytes:
        member, score = _pop_items(zs, 1, max_first)[0]
        return b"*3\r\n" + bulk(key) + bulk(member) + score_reply(score, client.resp3)

    for key in keys:
        zs = open_zset(db, key)
        if zs is not None:
            propagate_as(client, _pop_effect(key, max_first, None))
            return reply(key, zs)
    if not may_block(client):
        propagate_as(client)
        return _null_array(client)

    def serve(key: bytes) -> bytes | None:
        zs = zset_or_none(db, key)
        if zs is None:
            return None
        served = reply(key, zs)
        propagate_effect(client, _pop_effect(key, max_first, None), db.index)
        return served

    return get_blocking(client.server).block(client, keys, deadline, serve, argv[0])


@command("bzpopmin", -3, "write noscript blocking fast", keys=(1, -2, 1),
         categories="@write @sortedset @fast @blocking")
def bzpopmin(client: Client, argv: list[bytes]) -> bytes:
    return _bzpop(client, argv, False)


@command("bzpopmax", -3, "write noscript blocking fast", keys=(1, -2, 1),
         categories="@write @sortedset @fast @blocking")
def bzpopmax(client: Client, argv: list[bytes]) -> bytes:
    return _bzpop(client, argv, True)


@command("bzmpop", -5, "write blocking movablekeys", key_finder=lambda argv: _mpop_keys(argv, 2),
         categories="@write @sortedset @slow @blocking")
def bzmpop(client: Client, argv: list[bytes]) -> bytes:
    keys, max_first, count = parse_mpop(argv, 2, _ZSET_SIDES)
    deadline = parse_timeout(client, argv[1])
    db = client.db
    for key in keys:
        zs = open_zset(db, key)
        if zs is not None:
            items = _pop_items(zs, count, max_first)
            propagate_as(client, _pop_effect(key, max_first, len(items)))
            return _mpop_reply(key, items, client.resp3)
    if not may_block(client):
        propagate_as(client)
        return _null_array(client)

    def serve(key: bytes) -> bytes | None:
        zs = zset_or_none(db, key)
        if zs is None:
            return None
        items = _pop_items(zs, count, max_first)
        propagate_effect(client, _pop_effect(key, max_first, len(items)), db.index)
        return _mpop_reply(key, items, client.resp3)

    return get_blocking(client.server).block(client, keys, deadline, serve, argv[0])


# ---------------------------------------------------------------------- type hooks
def read_zset(db: Database, key: bytes, meta: bytes) -> dict[bytes, float]:
    return dict(ZSet(db, key, meta).items())


def write_zset(db: Database, key: bytes, value: object, expire_at_ms: int) -> None:
    assert isinstance(value, dict)
    max_entries, max_value = _db_limits(db)
    store_result(db, key, value, max_entries, max_value, expire_at_ms)


def zset_encoding(db: Database, key: bytes, meta: bytes) -> bytes:
    return b"skiplist" if len(meta) > 25 and meta[25] & FLAG_SKIPLIST else b"listpack"


VALUE_READERS[TYPE_ZSET] = read_zset
VALUE_WRITERS["zset"] = write_zset
ENCODING_HOOKS[TYPE_ZSET] = zset_encoding

# The set-algebra commands, ZRANDMEMBER and ZSCAN live in zset_ops (same registry).
from aikv.commands import zset_ops as _zset_ops  # noqa: E402,F401

__all__ = ["items_reply", "NOT_INTEGER", "TYPE_SET"]
