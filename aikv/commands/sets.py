"""Set commands. One LMDB record per member (`version | member` -> empty, see
collections_common.py): SADD/SREM/SISMEMBER cost one B-tree operation per member whatever
the set's size. The meta record holds the cardinality and the sticky intset -> hashtable
flag (Redis 7.0 has no listpack sets: a set is an intset while every member is a
canonical 64-bit integer and there are at most set-max-intset-entries of them).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from aikv.collections_common import (
    EMPTY_SCAN,
    FLAG_BIG,
    MAX_RANDOM_REPLY,
    RECORD_OVERHEAD,
    WRONGTYPE,
    RandomPicker,
    allocate_version,
    collection_meta,
    config_values,
    ekey,
    is_canonical_int,
    iter_subkeys,
    meta_flags,
    parse_scan_cursor,
    parse_scan_options,
    record_value,
    refuse_huge_reply,
    scan_items,
    scan_reply,
    with_count_flags,
)
from aikv.commands.args import SYNTAX, parse_int
from aikv.commands.registry import command
from aikv.keyspace import ENCODING_HOOKS, VALUE_READERS, VALUE_WRITERS, Database
from aikv.notify import GENERIC, SET
from aikv.persist.layout import TYPE_SET
from aikv.replication.propagate import propagate_as
from aikv.resp import (
    EMPTY_ARRAY,
    NULL3,
    NULL_BULK,
    ONE,
    ZERO,
    CommandError,
    bulk,
    integer,
)

if TYPE_CHECKING:
    from aikv.client import Client

_LONG_MAX = 2**63 - 1
_SMALL = 512
_SPOP_MOVE_STRATEGY_MUL = 5


def _max_intset(values: dict[str, object]) -> int:
    limit = int(values.get("set-max-intset-entries", 512))  # type: ignore[call-overload]
    return min(limit, 1 << 30)  # intset internals cap it at 1G entries in Redis


def _lookup(db: Database, key: bytes) -> bytes | None:
    meta = db.get_meta(key)
    if meta is not None and meta[0] != TYPE_SET:
        raise CommandError(WRONGTYPE)
    return meta


def _members_reply(members: list[bytes], resp3: bool) -> bytes:
    head = b"~%d\r\n" % len(members) if resp3 else b"*%d\r\n" % len(members)
    return head + b"".join(b"$%d\r\n%s\r\n" % (len(m), m) for m in members)


def _empty_set(resp3: bool) -> bytes:
    return b"~0\r\n" if resp3 else EMPTY_ARRAY


def _members(db: Database, meta: bytes) -> list[bytes]:
    """All members, in the order Redis would list them when that order is defined: an
    intset iterates in numeric order (a hashtable's order is arbitrary anyway)."""
    members = list(iter_subkeys(db.store.reader(), db.store.elements_db, meta[9:17]))
    if not meta_flags(meta) & FLAG_BIG:
        members.sort(key=int)
    return members


def _as_result_order(members: list[bytes], client: Client) -> list[bytes]:
    # SUNION/SDIFF build their result in a fresh intset while it can be one: such a
    # result comes out in numeric order.
    if not _encoding_flag(members, _max_intset(client.server.config.values)):
        members.sort(key=int)
    return members


def _contains(db: Database, meta: bytes, member: bytes) -> bool:
    return db.store.reader().get(ekey(meta[9:17], member), db=db.store.elements_db) is not None


def _encoding_flag(members: list[bytes], max_intset: int) -> int:
    if len(members) > max_intset:
        return FLAG_BIG
    for m in members:
        if not is_canonical_int(m):
            return FLAG_BIG
    return 0


def _add(client: Client, db: Database, key: bytes, meta: bytes | None,
         members: list[bytes]) -> int:
    """SADD semantics into `key` (meta already type-checked); returns how many were new."""
    store = db.store
    store.ensure_room(sum(len(m) for m in members) + RECORD_OVERHEAD * len(members))
    txn = store.writer()
    edb = store.elements_db
    if meta is None:
        version = allocate_version(store)
        count = 0
        flags = 0
    else:
        version = int.from_bytes(meta[9:17], "big")
        count = int.from_bytes(meta[17:25], "big")
        flags = meta_flags(meta)
    prefix = version.to_bytes(8, "big")
    put = txn.put
    added = 0
    check_ints = not flags & FLAG_BIG
    for m in members:
        if put(ekey(prefix, m), record_value(m, b""), db=edb, overwrite=False):
            added += 1
            if check_ints and not is_canonical_int(m):
                flags |= FLAG_BIG
                check_ints = False
    count += added
    if not flags & FLAG_BIG and count > _max_intset(client.server.config.values):
        flags |= FLAG_BIG
    if meta is None:
        if count:
            db.put_meta(key, collection_meta(TYPE_SET, version, count, flags))
    elif added:
        db.update_meta(key, with_count_flags(meta, count, flags))
    if added:
        db.notify(SET, b"sadd", key)
    return added


def _remove(db: Database, key: bytes, meta: bytes, members: list[bytes],
            event: bytes | None = b"srem") -> int:
    """Remove members; deletes the key when it empties. Returns how many went. Publishes
    `event` (if any) when something went, and "del" when the set is gone."""
    txn = db.store.writer()
    edb = db.store.elements_db
    prefix = meta[9:17]
    count = int.from_bytes(meta[17:25], "big")
    removed = 0
    for m in members:
        if txn.delete(ekey(prefix, m), db=edb):
            removed += 1
            if removed == count:
                break
    if removed:
        if removed == count:
            db.delete(key)
        else:
            db.update_meta(key, with_count_flags(meta, count - removed, meta_flags(meta)))
        if event is not None:
            db.notify(SET, event, key)
        if removed == count:
            db.notify(GENERIC, b"del", key)
    return removed


def _store_set(client: Client, db: Database, key: bytes, members: list[bytes],
               event: bytes) -> None:
    """Replace `key` by a new set of `members` (distinct), dropping any TTL, as setKey."""
    if not members:
        if db.delete(key):
            db.notify(GENERIC, b"del", key)
        return
    store = db.store
    store.ensure_room(sum(len(m) for m in members) + RECORD_OVERHEAD * len(members))
    version = allocate_version(store)
    prefix = version.to_bytes(8, "big")
    txn = store.writer()
    edb = store.elements_db
    for m in members:
        txn.put(ekey(prefix, m), record_value(m, b""), db=edb)
    flags = _encoding_flag(members, _max_intset(client.server.config.values))
    db.put_meta(key, collection_meta(TYPE_SET, version, len(members), flags))
    db.notify(SET, event, key)


# ---------------------------------------------------------------------- basic commands
@command("sadd", -3, "write denyoom fast", keys=(1, 1, 1), categories="@write @set @fast")
def sadd(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    return integer(_add(client, db, argv[1], meta, argv[2:]))


@command("srem", -3, "write fast", keys=(1, 1, 1), categories="@write @set @fast")
def srem(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    if meta is None:
        return ZERO
    return integer(_remove(db, argv[1], meta, argv[2:]))


@command("scard", 2, "readonly fast", keys=(1, 1, 1), categories="@read @set @fast")
def scard(client: Client, argv: list[bytes]) -> bytes:
    meta = _lookup(client.db, argv[1])
    return ZERO if meta is None else integer(int.from_bytes(meta[17:25], "big"))


@command("sismember", 3, "readonly fast", keys=(1, 1, 1), categories="@read @set @fast")
def sismember(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    return ONE if meta is not None and _contains(db, meta, argv[2]) else ZERO


@command("smismember", -3, "readonly fast", keys=(1, 1, 1), categories="@read @set @fast")
def smismember(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    parts = [b"*%d\r\n" % (len(argv) - 2)]
    if meta is None:
        parts.extend(ZERO for _ in argv[2:])
    else:
        get = db.store.reader().get
        edb = db.store.elements_db
        prefix = meta[9:17]
        parts.extend(ZERO if get(ekey(prefix, m), db=edb) is None else ONE for m in argv[2:])
    return b"".join(parts)


@command("smembers", 2, "readonly", keys=(1, 1, 1), categories="@read @set @slow")
def smembers(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    if meta is None:
        return _empty_set(client.resp3)
    return _members_reply(_members(db, meta), client.resp3)


@command("smove", 4, "write fast", keys=(1, 2, 1), categories="@write @set @fast")
def smove(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    src, dst, member = argv[1], argv[2], argv[3]
    src_meta = db.get_meta(src)
    dst_meta = db.get_meta(dst)
    if src_meta is None:
        return ZERO
    if src_meta[0] != TYPE_SET or (dst_meta is not None and dst_meta[0] != TYPE_SET):
        raise CommandError(WRONGTYPE)
    if src == dst:
        return ONE if _contains(db, src_meta, member) else ZERO
    if not _remove(db, src, src_meta, [member]):
        return ZERO
    _add(client, db, dst, dst_meta, [member])
    return ONE


# ---------------------------------------------------------------------- random members
def _sample(db: Database, meta: bytes, count: int) -> list[bytes]:
    """`count` distinct random members (0 < count < size)."""
    size = int.from_bytes(meta[17:25], "big")
    txn = db.store.reader()
    edb = db.store.elements_db
    prefix = meta[9:17]
    if size <= _SMALL or count * 3 > size:
        return random.sample(list(iter_subkeys(txn, edb, prefix)), count)
    return list(RandomPicker(txn, edb, prefix).pick_distinct(count))


def _pick_with_repeats(db: Database, meta: bytes, n: int) -> list[bytes]:
    size = int.from_bytes(meta[17:25], "big")
    txn = db.store.reader()
    edb = db.store.elements_db
    prefix = meta[9:17]
    if size <= _SMALL or n >= size:
        return random.choices(list(iter_subkeys(txn, edb, prefix)), k=n)
    picker = RandomPicker(txn, edb, prefix)
    return [picker.pick()[0] for _ in range(n)]


@command("spop", -2, "write fast", keys=(1, 1, 1), categories="@write @set @fast")
def spop(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    key = argv[1]
    if len(argv) == 3:
        return _spop_count(client, db, key, argv[2])
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    meta = _lookup(db, key)
    if meta is None:
        propagate_as(client)
        return NULL3 if client.resp3 else NULL_BULK
    member = _pick_with_repeats(db, meta, 1)[0]
    _remove(db, key, meta, [member], b"spop")
    # The member was chosen at random: replicas remove that one.
    propagate_as(client, [b"SREM", key, member])
    return bulk(member)


def _propagate_srems(client: Client, key: bytes, members: list[bytes]) -> None:
    """SPOP with a count reaches replicas as one SREM per member, as from Redis 7.0
    (the source wraps them in MULTI/EXEC). Built only while a replica listens."""
    if client.server.propagation_frame is not None:
        propagate_as(client, *([b"SREM", key, member] for member in members))


def _spop_count(client: Client, db: Database, key: bytes, raw: bytes) -> bytes:
    count = parse_int(raw, "ERR value is out of range, must be positive")
    if count < 0:
        raise CommandError("ERR value is out of range, must be positive")
    meta = _lookup(db, key)
    if meta is None or count == 0:
        propagate_as(client)
        return _empty_set(client.resp3)
    size = int.from_bytes(meta[17:25], "big")
    db.notify(SET, b"spop", key)
    if count >= size:
        members = _members(db, meta)
        db.delete(key)
        db.notify(GENERIC, b"del", key)
        propagate_as(client, [b"DEL", key])  # always DEL in Redis 7.0, lazyfree or not
        return _members_reply(members, client.resp3)
    remaining = size - count
    if remaining * _SPOP_MOVE_STRATEGY_MUL > count:
        popped = _sample(db, meta, count)
        _remove(db, key, meta, popped, None)
        _propagate_srems(client, key, popped)
        return _members_reply(popped, client.resp3)
    # Redis rebuilds the set from the members that stay (setTypeCreate + setTypeAdd), so
    # its encoding follows what remains: a hashtable can become an intset again here.
    members = _members(db, meta)
    random.shuffle(members)
    popped, kept = members[:count], members[count:]
    _remove(db, key, meta, popped, None)
    _propagate_srems(client, key, popped)
    new_flags = _encoding_flag(kept, _max_intset(client.server.config.values))
    current = db.get_meta(key)
    if current is not None and meta_flags(current) != new_flags:
        db.update_meta(key, with_count_flags(current, remaining, new_flags))
    return _members_reply(popped, client.resp3)


@command("srandmember", -2, "readonly", keys=(1, 1, 1), categories="@read @set @slow")
def srandmember(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    if len(argv) == 3:
        count = parse_int(argv[2])
        if count < -_LONG_MAX:
            raise CommandError("ERR value is out of range, value must between "
                               "-9223372036854775807 and 9223372036854775807")
        meta = _lookup(db, argv[1])
        if meta is None or count == 0:
            return EMPTY_ARRAY
        size = int.from_bytes(meta[17:25], "big")
        if count < 0 or count == 1:
            if -count > MAX_RANDOM_REPLY:
                return refuse_huge_reply(client, -count)
            members = _pick_with_repeats(db, meta, -count if count < 0 else 1)
        elif count >= size:
            members = _members(db, meta)
        else:
            members = _sample(db, meta, count)
        return _members_reply(members, False)
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    meta = _lookup(db, argv[1])
    if meta is None:
        return NULL3 if client.resp3 else NULL_BULK
    return bulk(_pick_with_repeats(db, meta, 1)[0])


# ---------------------------------------------------------------------- algebra
def _lookup_all(db: Database, keys: list[bytes]) -> list[bytes | None]:
    """Every key's meta, type-checked all before any work (a missing key is an empty
    set, but a later key of the wrong type is still an error, as in Redis)."""
    metas = []
    for key in keys:
        meta = db.get_meta(key)
        if meta is not None and meta[0] != TYPE_SET:
            raise CommandError(WRONGTYPE)
        metas.append(meta)
    return metas


def _inter(db: Database, metas: list[bytes | None], limit: int = 0) -> list[bytes]:
    if any(m is None for m in metas):
        return []
    present: list[bytes] = sorted((m for m in metas if m is not None),
                                  key=lambda m: int.from_bytes(m[17:25], "big"))
    first = present[0]
    # The same key given twice needs no probing against itself.
    others = []
    seen = {first[9:17]}
    for m in present[1:]:
        if m[9:17] not in seen:
            seen.add(m[9:17])
            others.append(m[9:17])
    txn = db.store.reader()
    edb = db.store.elements_db
    get = txn.get
    out: list[bytes] = []
    for member in _members(db, first):
        for prefix in others:
            if get(ekey(prefix, member), db=edb) is None:
                break
        else:
            out.append(member)
            if limit and len(out) >= limit:
                break
    return out


def _union(db: Database, metas: list[bytes | None]) -> list[bytes]:
    txn = db.store.reader()
    edb = db.store.elements_db
    seen: dict[bytes, None] = {}
    for meta in metas:
        if meta is not None:
            for member in iter_subkeys(txn, edb, meta[9:17]):
                seen[member] = None
    return list(seen)


def _diff(db: Database, metas: list[bytes | None]) -> list[bytes]:
    first = metas[0]
    if first is None:
        return []
    others = [m[9:17] for m in metas[1:] if m is not None]
    if first[9:17] in others:
        return []
    txn = db.store.reader()
    edb = db.store.elements_db
    get = txn.get
    out: list[bytes] = []
    for member in iter_subkeys(txn, edb, first[9:17]):
        for prefix in others:
            if get(ekey(prefix, member), db=edb) is not None:
                break
        else:
            out.append(member)
    return out


@command("sinter", -2, "readonly", keys=(1, -1, 1), categories="@read @set @slow")
def sinter(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    return _members_reply(_inter(db, _lookup_all(db, argv[1:])), client.resp3)


def _sintercard_keys(argv: list[bytes]) -> list[int]:
    try:
        numkeys = parse_int(argv[1])
    except CommandError:
        return []
    if numkeys <= 0 or numkeys > len(argv) - 2:
        return []
    return list(range(2, 2 + numkeys))


@command("sintercard", -3, "readonly", key_finder=_sintercard_keys,
         categories="@read @set @slow")
def sintercard(client: Client, argv: list[bytes]) -> bytes:
    try:
        numkeys = parse_int(argv[1])
    except CommandError:
        raise CommandError("ERR numkeys should be greater than 0") from None
    if numkeys < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    if numkeys > len(argv) - 2:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    limit = 0
    i = 2 + numkeys
    while i < len(argv):
        if argv[i].upper() == b"LIMIT" and i + 1 < len(argv):
            try:
                limit = parse_int(argv[i + 1])
            except CommandError:
                raise CommandError("ERR LIMIT can't be negative") from None
            if limit < 0:
                raise CommandError("ERR LIMIT can't be negative")
            i += 2
        else:
            raise CommandError(SYNTAX)
    db = client.db
    return integer(len(_inter(db, _lookup_all(db, argv[2:2 + numkeys]), limit)))


@command("sinterstore", -3, "write denyoom", keys=(1, -1, 1), categories="@write @set @slow")
def sinterstore(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    members = _inter(db, _lookup_all(db, argv[2:]))
    _store_set(client, db, argv[1], members, b"sinterstore")
    return integer(len(members))


@command("sunion", -2, "readonly", keys=(1, -1, 1), categories="@read @set @slow")
def sunion(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    members = _as_result_order(_union(db, _lookup_all(db, argv[1:])), client)
    return _members_reply(members, client.resp3)


@command("sunionstore", -3, "write denyoom", keys=(1, -1, 1), categories="@write @set @slow")
def sunionstore(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    members = _union(db, _lookup_all(db, argv[2:]))
    _store_set(client, db, argv[1], members, b"sunionstore")
    return integer(len(members))


@command("sdiff", -2, "readonly", keys=(1, -1, 1), categories="@read @set @slow")
def sdiff(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    members = _as_result_order(_diff(db, _lookup_all(db, argv[1:])), client)
    return _members_reply(members, client.resp3)


@command("sdiffstore", -3, "write denyoom", keys=(1, -1, 1), categories="@write @set @slow")
def sdiffstore(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    members = _diff(db, _lookup_all(db, argv[2:]))
    _store_set(client, db, argv[1], members, b"sdiffstore")
    return integer(len(members))


# ---------------------------------------------------------------------- SSCAN
@command("sscan", -3, "readonly", keys=(1, 1, 1), categories="@read @set @slow")
def sscan(client: Client, argv: list[bytes]) -> bytes:
    cursor = parse_scan_cursor(argv[2])
    db = client.db
    meta = _lookup(db, argv[1])
    if meta is None:
        return EMPTY_SCAN
    count, matcher = parse_scan_options(argv, 3)
    txn = db.store.reader()
    edb = db.store.elements_db
    members: list[bytes]
    if meta_flags(meta) & FLAG_BIG:
        next_cursor, items = scan_items(txn, edb, meta[9:17], cursor, count)
        members = [m for m, _ in items]
    else:
        # Intset in Redis: the whole set in one reply, cursor 0.
        next_cursor, members = 0, _members(db, meta)
    encoded = [bulk(m) for m in members if matcher is None or matcher(m)]
    return scan_reply(next_cursor, encoded)


# ---------------------------------------------------------------------- type hooks
def read_set(db: Database, key: bytes, meta: bytes) -> set[bytes]:
    return set(iter_subkeys(db.store.reader(), db.store.elements_db, meta[9:17]))


def write_set(db: Database, key: bytes, value: object, expire_at_ms: int) -> None:
    """Replace `key` with a set of `value` (set[bytes]); the encoding flag follows the
    content, as when Redis loads a set from RDB."""
    assert isinstance(value, (set, frozenset, list))
    members = list(dict.fromkeys(value))
    if not members:
        db.delete(key)
        return
    store = db.store
    store.ensure_room(sum(len(m) for m in members) + RECORD_OVERHEAD * len(members))
    version = allocate_version(store)
    prefix = version.to_bytes(8, "big")
    txn = store.writer()
    edb = store.elements_db
    for m in members:
        txn.put(ekey(prefix, m), record_value(m, b""), db=edb)
    flags = _encoding_flag(members, _max_intset(config_values(db)))
    db.put_meta(key, collection_meta(TYPE_SET, version, len(members), flags, expire_at_ms))


def set_encoding(db: Database, key: bytes, meta: bytes) -> bytes:
    return b"hashtable" if meta_flags(meta) & FLAG_BIG else b"intset"


VALUE_READERS[TYPE_SET] = read_set
VALUE_WRITERS["set"] = write_set
ENCODING_HOOKS[TYPE_SET] = set_encoding
