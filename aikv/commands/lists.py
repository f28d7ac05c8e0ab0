"""List commands, blocking ones included. Storage layout: see aikv/list_store.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikv.blocking import get_blocking, may_block, parse_timeout, signal_key_ready
from aikv.commands.args import LLONG_MIN, NOT_INTEGER, SYNTAX, parse_int
from aikv.commands.registry import command
from aikv.keyspace import ENCODING_HOOKS, VALUE_READERS, VALUE_WRITERS
from aikv.list_store import ListHandle, encoding, open_list, read_value, write_value
from aikv.notify import GENERIC, LIST
from aikv.persist.layout import TYPE_LIST
from aikv.replication.propagate import propagate_as, propagate_effect
from aikv.resp import (
    EMPTY_ARRAY,
    NULL3,
    NULL_ARRAY,
    NULL_BULK,
    OK,
    ZERO,
    CommandError,
    bulk,
    bulk_array,
    error,
    integer,
)

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.keyspace import Database

VALUE_READERS[TYPE_LIST] = read_value
VALUE_WRITERS["list"] = write_value
ENCODING_HOOKS[TYPE_LIST] = encoding

_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
_POSITIVE = "ERR value is out of range, must be positive"


def _null(client: Client) -> bytes:
    return NULL3 if client.resp3 else NULL_BULK


def _null_array(client: Client) -> bytes:
    return NULL3 if client.resp3 else NULL_ARRAY


def push_values(client: Client, key: bytes, values: list[bytes], left: bool,
                only_existing: bool = False) -> int:
    """LPUSH/RPUSH core: returns the new length (0 when `only_existing` and absent)."""
    db = client.db
    handle = open_list(db, key)
    if handle is None:
        if only_existing:
            return 0
        handle = ListHandle.create(db, key)
        handle.push(values, left)
        handle.save()
        signal_key_ready(client.server, db.index, key)
    else:
        handle.push(values, left)
        handle.save()
    db.notify(LIST, b"lpush" if left else b"rpush", key)
    return handle.count


def _popped(db: Database, handle: ListHandle, key: bytes, event: bytes) -> None:
    """Redis's events after elements left a list: the command's, then "del" if emptied."""
    db.notify(LIST, event, key)
    if not handle.count:
        db.notify(GENERIC, b"del", key)


def _push(client: Client, argv: list[bytes], left: bool, only_existing: bool) -> bytes:
    return integer(push_values(client, argv[1], argv[2:], left, only_existing))


@command("lpush", -3, "write denyoom fast", keys=(1, 1, 1), categories="@write @list @fast")
def lpush(client: Client, argv: list[bytes]) -> bytes:
    return _push(client, argv, True, False)


@command("rpush", -3, "write denyoom fast", keys=(1, 1, 1), categories="@write @list @fast")
def rpush(client: Client, argv: list[bytes]) -> bytes:
    return _push(client, argv, False, False)


@command("lpushx", -3, "write denyoom fast", keys=(1, 1, 1), categories="@write @list @fast")
def lpushx(client: Client, argv: list[bytes]) -> bytes:
    return _push(client, argv, True, True)


@command("rpushx", -3, "write denyoom fast", keys=(1, 1, 1), categories="@write @list @fast")
def rpushx(client: Client, argv: list[bytes]) -> bytes:
    return _push(client, argv, False, True)


def _pop(client: Client, argv: list[bytes], left: bool) -> bytes:
    if len(argv) > 3:
        raise CommandError(f"ERR wrong number of arguments for '{argv[0].decode().lower()}' command")
    count = -1
    if len(argv) == 3:
        count = parse_int(argv[2], _POSITIVE)
        if count < 0:
            raise CommandError(_POSITIVE)
    handle = open_list(client.db, argv[1])
    if handle is None:
        propagate_as(client)
        return _null(client) if count < 0 else _null_array(client)
    event = b"lpop" if left else b"rpop"
    if count < 0:
        value = handle.pop(1, left)[0]
        handle.save()
        _popped(client.db, handle, argv[1], event)
        return bulk(value)
    if count == 0:
        propagate_as(client)
        return EMPTY_ARRAY
    values = handle.pop(count, left)
    handle.save()
    _popped(client.db, handle, argv[1], event)
    return bulk_array(values)


@command("lpop", -2, "write fast", keys=(1, 1, 1), categories="@write @list @fast")
def lpop(client: Client, argv: list[bytes]) -> bytes:
    return _pop(client, argv, True)


@command("rpop", -2, "write fast", keys=(1, 1, 1), categories="@write @list @fast")
def rpop(client: Client, argv: list[bytes]) -> bytes:
    return _pop(client, argv, False)


@command("llen", 2, "readonly fast", keys=(1, 1, 1), categories="@read @list @fast")
def llen(client: Client, argv: list[bytes]) -> bytes:
    handle = open_list(client.db, argv[1])
    return ZERO if handle is None else integer(handle.count)


def _normalize_range(start: int, end: int, n: int) -> tuple[int, int] | None:
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


@command("lrange", 4, "readonly", keys=(1, 1, 1), categories="@read @list @slow")
def lrange(client: Client, argv: list[bytes]) -> bytes:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    handle = open_list(client.db, argv[1])
    if handle is None:
        return EMPTY_ARRAY
    span = _normalize_range(start, end, handle.count)
    if span is None:
        return EMPTY_ARRAY
    return bulk_array(handle.range(*span))


@command("lindex", 3, "readonly", keys=(1, 1, 1), categories="@read @list @slow")
def lindex(client: Client, argv: list[bytes]) -> bytes:
    handle = open_list(client.db, argv[1])  # the key and its type before the index
    if handle is None:
        return _null(client)
    value = handle.get(parse_int(argv[2]))
    return _null(client) if value is None else bulk(value)


@command("lset", 4, "write denyoom", keys=(1, 1, 1), categories="@write @list @slow")
def lset(client: Client, argv: list[bytes]) -> bytes:
    handle = open_list(client.db, argv[1])  # the key and its type before the index
    if handle is None:
        raise CommandError("ERR no such key")
    if not handle.set(parse_int(argv[2]), argv[3]):
        raise CommandError("ERR index out of range")
    handle.save()
    client.db.notify(LIST, b"lset", argv[1])
    return OK


@command("linsert", 5, "write denyoom", keys=(1, 1, 1), categories="@write @list @slow")
def linsert(client: Client, argv: list[bytes]) -> bytes:
    where = argv[2].lower()
    if where == b"after":
        after = True
    elif where == b"before":
        after = False
    else:
        raise CommandError(SYNTAX)
    handle = open_list(client.db, argv[1])
    if handle is None:
        return ZERO
    pivot = argv[3]
    for i, value in enumerate(handle.iter_from(0)):
        if value == pivot:
            handle.insert(i + 1 if after else i, argv[4])
            handle.save()
            client.db.notify(LIST, b"linsert", argv[1])
            return integer(handle.count)
    return integer(-1)


@command("lrem", 4, "write", keys=(1, 1, 1), categories="@write @list @slow")
def lrem(client: Client, argv: list[bytes]) -> bytes:
    count = parse_int(argv[2])
    target = argv[3]
    handle = open_list(client.db, argv[1])
    if handle is None:
        return ZERO
    n = handle.count
    if count < 0:
        # Matches counted from the tail: scan backwards up to the last match needed, then
        # rewrite only that scanned suffix (the head stays where it is).
        limit = -count
        scanned: list[bytes] = []
        removed = 0
        for value in handle.iter_back_from(n - 1):
            scanned.append(value)
            if value == target:
                removed += 1
                if removed == limit:
                    break
        if not removed:
            return ZERO
        scanned.reverse()  # now in list order, from the earliest removed element on
        skip = removed
        kept: list[bytes] = []
        for value in scanned:
            if skip and value == target:
                skip -= 1
                continue
            kept.append(value)
        handle.rewrite(n - len(scanned), len(scanned), kept, anchor_tail=False)
    else:
        limit = count if count > 0 else n
        prefix: list[bytes] = []
        first = -1
        last = -1
        removed = 0
        for i, value in enumerate(handle.iter_from(0)):
            prefix.append(value)
            if value == target:
                removed += 1
                if first < 0:
                    first = i
                last = i
                if removed == limit:
                    break
        if not removed:
            return ZERO
        # Rewrite whichever side moves fewer elements: the prefix up to the last removed
        # element (head moves), or everything from the first removed one (tail moves).
        if last + 1 <= n - first:
            kept = [v for v in prefix[: last + 1] if v != target]
            handle.rewrite(0, last + 1, kept, anchor_tail=True)
        else:
            rest = prefix[first:] + (handle.range(len(prefix), n - 1) if len(prefix) < n else [])
            budget = removed
            kept = []
            for value in rest:
                if budget and value == target:
                    budget -= 1
                    continue
                kept.append(value)
            handle.rewrite(first, n - first, kept, anchor_tail=False)
    handle.save()
    _popped(client.db, handle, argv[1], b"lrem")
    return integer(removed)


@command("ltrim", 4, "write", keys=(1, 1, 1), categories="@write @list @slow")
def ltrim(client: Client, argv: list[bytes]) -> bytes:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    handle = open_list(client.db, argv[1])
    if handle is None:
        return OK
    n = handle.count
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    handle.trim(start, end)
    handle.save()
    _popped(client.db, handle, argv[1], b"ltrim")
    return OK


@command("lpos", -3, "readonly", keys=(1, 1, 1), categories="@read @list @slow")
def lpos(client: Client, argv: list[bytes]) -> bytes:
    rank = 1
    count = -1
    maxlen = 0
    i = 3
    while i < len(argv):
        opt = argv[i].upper()
        if i + 1 >= len(argv) or opt not in (b"RANK", b"COUNT", b"MAXLEN"):
            raise CommandError(SYNTAX)
        # COUNT and MAXLEN give their own message for a non-number too (Redis's
        # getPositiveLongFromObjectOrReply with a message).
        value = parse_int(argv[i + 1], NOT_INTEGER if opt == b"RANK" else
                          f"ERR {opt.decode()} can't be negative")
        if opt == b"RANK":
            if value == 0:
                raise CommandError(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from "
                    "the second ... or use negative to start from the end of the list")
            rank = value
        elif opt == b"COUNT":
            if value < 0:
                raise CommandError("ERR COUNT can't be negative")
            count = value
        else:
            if value < 0:
                raise CommandError("ERR MAXLEN can't be negative")
            maxlen = value
        i += 2
    handle = open_list(client.db, argv[1])
    if handle is None:
        return EMPTY_ARRAY if count >= 0 else _null(client)
    n = handle.count
    from_tail = rank < 0
    # Redis negates LLONG_MIN into itself, after which every match satisfies the rank.
    skip = 0 if rank == LLONG_MIN else abs(rank) - 1
    it = handle.iter_back_from(n - 1) if from_tail else handle.iter_from(0)
    matches: list[bytes] = []
    target = argv[2]
    for scanned, element in enumerate(it):
        if maxlen and scanned >= maxlen:
            break
        if element == target:
            if skip:
                skip -= 1
                continue
            matches.append(integer(n - 1 - scanned if from_tail else scanned))
            if count < 0 or (count > 0 and len(matches) >= count):
                break
    if count < 0:
        return matches[0] if matches else _null(client)
    return b"*%d\r\n%s" % (len(matches), b"".join(matches))


# ---------------------------------------------------------------------- moves
def _side(raw: bytes) -> bool:
    """LEFT -> True, RIGHT -> False, else syntax error."""
    low = raw.lower()
    if low == b"left":
        return True
    if low == b"right":
        return False
    raise CommandError(SYNTAX)


def _move(client: Client, db: Database, src: bytes, dst: bytes, from_left: bool,
          to_left: bool) -> bytes | None:
    """Pop from `src`, push to `dst`; None if `src` is empty. WRONGTYPE (for either key)
    is raised before anything moves."""
    source = open_list(db, src)
    if source is None:
        return None
    open_list(db, dst)  # type check only, before popping
    value = source.pop(1, from_left)[0]
    if src == dst:  # a rotation: the list never becomes empty on the way
        source.push([value], to_left)
        source.save()
    else:
        source.save()
        target = open_list(db, dst)
        if target is None:
            target = ListHandle.create(db, dst)
            target.push([value], to_left)
            target.save()
            signal_key_ready(client.server, db.index, dst)
        else:
            target.push([value], to_left)
            target.save()
    # Redis announces the push before the pop.
    db.notify(LIST, b"lpush" if to_left else b"rpush", dst)
    _popped(db, source, src, b"lpop" if from_left else b"rpop")
    return value


@command("lmove", 5, "write denyoom", keys=(1, 2, 1), categories="@write @list @slow")
def lmove(client: Client, argv: list[bytes]) -> bytes:
    from_left = _side(argv[3])
    to_left = _side(argv[4])
    value = _move(client, client.db, argv[1], argv[2], from_left, to_left)
    if value is None:
        propagate_as(client)
        return _null(client)
    return bulk(value)


@command("rpoplpush", 3, "write denyoom", keys=(1, 2, 1), categories="@write @list @slow")
def rpoplpush(client: Client, argv: list[bytes]) -> bytes:
    value = _move(client, client.db, argv[1], argv[2], False, True)
    if value is None:
        propagate_as(client)
        return _null(client)
    return bulk(value)


# ---------------------------------------------------------------------- LMPOP
def _mpop_keys(argv: list[bytes], numkeys_at: int) -> list[int]:
    try:
        n = int(argv[numkeys_at])
    except (ValueError, IndexError):
        return []
    if n <= 0 or numkeys_at + n >= len(argv):
        return []
    return list(range(numkeys_at + 1, numkeys_at + 1 + n))


def parse_mpop(argv: list[bytes], numkeys_at: int, sides: dict[bytes, bool]
               ) -> tuple[list[bytes], bool, int]:
    """numkeys key... WHERE [COUNT n] (LMPOP/ZMPOP and their blocking forms)."""
    numkeys = parse_int(argv[numkeys_at], "ERR numkeys should be greater than 0")
    if numkeys <= 0:
        raise CommandError("ERR numkeys should be greater than 0")
    where_at = numkeys_at + numkeys + 1
    if where_at >= len(argv):
        raise CommandError(SYNTAX)
    side = sides.get(argv[where_at].lower())
    if side is None:
        raise CommandError(SYNTAX)
    count = -1
    j = where_at + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b"count" and j + 1 < len(argv):
            count = parse_int(argv[j + 1], "ERR count should be greater than 0")
            if count <= 0:
                raise CommandError("ERR count should be greater than 0")
            j += 2
        else:
            raise CommandError(SYNTAX)
    return argv[numkeys_at + 1 : where_at], side, (1 if count == -1 else count)


_LIST_SIDES = {b"left": True, b"right": False}


def _mpop_reply(key: bytes, values: list[bytes]) -> bytes:
    return b"*2\r\n" + bulk(key) + bulk_array(values)


# A pop that took elements from a list reaches replicas as what it did to that one key
# (the multi-key and blocking forms would look at other keys, or block, there).
def _pop_effect(key: bytes, left: bool) -> list[bytes]:
    """BLPOP/BRPOP: one element."""
    return [b"LPOP" if left else b"RPOP", key]


def _pop_count_effect(key: bytes, left: bool, popped: int) -> list[bytes]:
    """LMPOP/BLMPOP: the number of elements actually popped."""
    return [b"LPOP" if left else b"RPOP", key, b"%d" % popped]


@command("lmpop", -4, "write movablekeys", key_finder=lambda argv: _mpop_keys(argv, 1),
         categories="@write @list @slow")
def lmpop(client: Client, argv: list[bytes]) -> bytes:
    keys, left, count = parse_mpop(argv, 1, _LIST_SIDES)
    db = client.db
    for key in keys:
        handle = open_list(db, key)
        if handle is not None:
            values = handle.pop(count, left)
            handle.save()
            _popped(db, handle, key, b"lpop" if left else b"rpop")
            propagate_as(client, _pop_count_effect(key, left, len(values)))
            return _mpop_reply(key, values)
    propagate_as(client)
    return _null_array(client)


# ---------------------------------------------------------------------- blocking
def _list_or_none(db: Database, key: bytes) -> ListHandle | None:
    """For serving blocked clients: a list at `key`, None when absent or another type
    (a BLPOP waiter ignores a key that became a sorted set, as in Redis)."""
    meta = db.get_meta(key)
    if meta is None or meta[0] != TYPE_LIST:
        return None
    return ListHandle(db, key, meta)


def _blocking_pop(client: Client, argv: list[bytes], left: bool) -> bytes:
    keys = argv[1:-1]
    deadline = parse_timeout(client, argv[-1])
    db = client.db
    for key in keys:
        handle = open_list(db, key)
        if handle is not None:
            value = handle.pop(1, left)[0]
            handle.save()
            _popped(db, handle, key, b"lpop" if left else b"rpop")
            propagate_as(client, _pop_effect(key, left))
            return b"*2\r\n" + bulk(key) + bulk(value)
    if not may_block(client):
        propagate_as(client)
        return _null_array(client)

    def serve(key: bytes) -> bytes | None:
        handle = _list_or_none(db, key)
        if handle is None:
            return None
        value = handle.pop(1, left)[0]
        handle.save()
        _popped(db, handle, key, b"lpop" if left else b"rpop")
        propagate_effect(client, _pop_effect(key, left), db.index)
        return b"*2\r\n" + bulk(key) + bulk(value)

    return get_blocking(client.server).block(client, keys, deadline, serve, argv[0])


@command("blpop", -3, "write noscript blocking", keys=(1, -2, 1),
         categories="@write @list @slow @blocking")
def blpop(client: Client, argv: list[bytes]) -> bytes:
    return _blocking_pop(client, argv, True)


@command("brpop", -3, "write noscript blocking", keys=(1, -2, 1),
         categories="@write @list @slow @blocking")
def brpop(client: Client, argv: list[bytes]) -> bytes:
    return _blocking_pop(client, argv, False)


def _blocking_move(client: Client, argv: list[bytes], src: bytes, dst: bytes,
                   from_left: bool, to_left: bool, timeout: bytes) -> bytes:
    deadline = parse_timeout(client, timeout)
    db = client.db
    brpoplpush = len(argv) == 4
    value = _move(client, db, src, dst, from_left, to_left)
    if value is not None:
        # The non-blocking form, with the sides as the client wrote them.
        propagate_as(client, [b"RPOPLPUSH", src, dst] if brpoplpush
                     else [b"LMOVE", src, dst, argv[3], argv[4]])
        return bulk(value)
    if not may_block(client):
        propagate_as(client)
        return _null(client)

    def serve(key: bytes) -> bytes | None:
        if _list_or_none(db, key) is None:
            return None
        meta = db.get_meta(dst)
        if meta is not None and meta[0] != TYPE_LIST:
            return error(_WRONGTYPE)  # the waiter gets the error and is unblocked
        moved = _move(client, db, key, dst, from_left, to_left)
        if moved is None:
            return None
        # Served later, Redis spells the sides itself, in lower case.
        propagate_effect(client, [b"RPOPLPUSH", key, dst] if brpoplpush else
                         [b"LMOVE", key, dst, b"left" if from_left else b"right",
                          b"left" if to_left else b"right"], db.index)
        return bulk(moved)

    return get_blocking(client.server).block(client, [src], deadline, serve, argv[0])


@command("blmove", 6, "write denyoom noscript blocking", keys=(1, 2, 1),
         categories="@write @list @slow @blocking")
def blmove(client: Client, argv: list[bytes]) -> bytes:
    from_left = _side(argv[3])
    to_left = _side(argv[4])
    return _blocking_move(client, argv, argv[1], argv[2], from_left, to_left, argv[5])


@command("brpoplpush", 4, "write denyoom noscript blocking", keys=(1, 2, 1),
         categories="@write @list @slow @blocking")
def brpoplpush(client: Client, argv: list[bytes]) -> bytes:
    return _blocking_move(client, argv, argv[1], argv[2], False, True, argv[3])


@command("blmpop", -5, "write blocking movablekeys", key_finder=lambda argv: _mpop_keys(argv, 2),
         categories="@write @list @slow @blocking")
def blmpop(client: Client, argv: list[bytes]) -> bytes:
    keys, left, count = parse_mpop(argv, 2, _LIST_SIDES)
    deadline = parse_timeout(client, argv[1])
    db = client.db
    for key in keys:
        handle = open_list(db, key)
        if handle is not None:
            values = handle.pop(count, left)
            handle.save()
            _popped(db, handle, key, b"lpop" if left else b"rpop")
            propagate_as(client, _pop_count_effect(key, left, len(values)))
            return _mpop_reply(key, values)
    if not may_block(client):
        propagate_as(client)
        return _null_array(client)

    def serve(key: bytes) -> bytes | None:
        handle = _list_or_none(db, key)
        if handle is None:
            return None
        values = handle.pop(count, left)
        handle.save()
        _popped(db, handle, key, b"lpop" if left else b"rpop")
        propagate_effect(client, _pop_count_effect(key, left, len(values)), db.index)
        return _mpop_reply(key, values)

    return get_blocking(client.server).block(client, keys, deadline, serve, argv[0])
