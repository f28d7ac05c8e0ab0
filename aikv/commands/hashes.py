"""Hash commands. One LMDB record per field (`version | field` -> value, see
collections_common.py), so a field operation costs the same on a hash of ten fields and
on one of ten million; the meta record carries the field count and the sticky
listpack -> hashtable flag that OBJECT ENCODING reports.

Field order. Redis lists a listpack-encoded hash in the order its fields were added (an
HSET of an existing field keeps its place, HDEL closes the gap): HGETALL, HKEYS, HVALS,
HSCAN, DUMP. The element records are keyed by a hash of the field, so a compact hash
keeps that order at the end of its meta record (after the flags byte): the fields, each
after its 4-byte length. The meta is rewritten anyway when a field is added or removed
(its count), so keeping the order costs no extra record; it is at most the size of the
listpack Redis would hold. A hashtable-encoded hash (FLAG_BIG) keeps none: Redis lists
those in its dict's order, which depends on a per-process seed, and AiKv in storage
order.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aikv.collections_common import (
    EMPTY_SCAN,
    FLAG_BIG,
    MAX_INLINE_MEMBER,
    MAX_RANDOM_REPLY,
    RECORD_OVERHEAD,
    WRONGTYPE,
    RandomPicker,
    allocate_version,
    collection_meta,
    config_values,
    ekey,
    iter_items,
    iter_subkeys,
    meta_flags,
    parse_scan_cursor,
    parse_scan_options,
    record_value,
    refuse_huge_reply,
    scan_items,
    scan_reply,
    stored_value,
    with_count_flags,
)
from aikv.commands.args import (
    SYNTAX,
    add_long_double,
    format_long_double,
    parse_int,
    parse_long_double,
)
from aikv.commands.registry import command
from aikv.keyspace import ENCODING_HOOKS, VALUE_READERS, VALUE_WRITERS, Database
from aikv.notify import GENERIC, HASH
from aikv.persist.layout import TYPE_HASH
from aikv.replication.propagate import propagate_as
from aikv.resp import (
    EMPTY_ARRAY,
    NULL3,
    NULL_BULK,
    OK,
    ZERO,
    CommandError,
    bulk,
    bulk_array,
    integer,
)

# Per-element LMDB calls pass the sub-database positionally (put(k, v, True, True, False,
# db), get(k, None, db), delete(k, b"", db)): py-lmdb parses keywords slowly, see
# aikv/keyspace.py.

if TYPE_CHECKING:
    from aikv.client import Client

_LLONG_MAX = 2**63 - 1
_LONG_MAX = 2**63 - 1
# Below this many fields a random request reads the whole hash: cheaper than descents and
# exactly uniform. Listpack-encoded hashes are always below it.
_SMALL = 512


def _limits(config_values: dict[str, object]) -> tuple[int, int]:
    entries = config_values.get("hash-max-listpack-entries", 512)
    value = config_values.get("hash-max-listpack-value", 64)
    return int(entries), int(value)  # type: ignore[call-overload]


def _client_limits(client: Client) -> tuple[int, int]:
    return _limits(client.server.config.values)


def _lookup(db: Database, key: bytes) -> bytes | None:
    meta = db.get_meta(key)
    if meta is not None and meta[0] != TYPE_HASH:
        raise CommandError(WRONGTYPE)
    return meta


_FIELD_LEN = struct.Struct(">I")


def encode_order(fields: list[bytes]) -> bytes:
    pack = _FIELD_LEN.pack
    if len(fields) == 1:  # the usual HSET of one new field
        return pack(len(fields[0])) + fields[0]
    return b"".join([pack(len(f)) + f for f in fields])


def decode_order(raw: bytes) -> list[bytes]:
    fields = []
    at, end = 0, len(raw)
    while at + 4 <= end:
        (n,) = _FIELD_LEN.unpack_from(raw, at)
        fields.append(raw[at + 4:at + 4 + n])
        at += 4 + n
    return fields


_ORDER_AT = 26  # after type, expiry, version, count and flags


def items_in_order(db: Database, meta: bytes) -> list[tuple[bytes, bytes]]:
    """(field, value) of every field, in Redis's order for a compact hash (see the module
    docstring), in storage order for a hashtable-encoded one."""
    items = list(iter_items(db.store.reader(), db.store.elements_db, meta[9:17]))
    raw = meta[_ORDER_AT:]
    if not raw or meta_flags(meta) & FLAG_BIG:
        return items
    values = dict(items)
    ordered = [(f, values.pop(f)) for f in decode_order(raw) if f in values]
    # Fields the record does not list were stored before it existed (older data): first.
    return list(values.items()) + ordered if values else ordered


class _Writer:
    """The state of one write to one hash: its version, count and flags, and the meta
    record to store at the end (created if the key is new)."""

    __slots__ = ("db", "key", "meta", "version", "prefix", "count", "flags", "txn", "edb",
                 "changed", "added")

    def __init__(self, db: Database, key: bytes, meta: bytes | None, nbytes: int) -> None:
        store = db.store
        # ensure_room may commit the tick early, so it runs before the writer is taken.
        store.ensure_room(nbytes)
        self.db = db
        self.key = key
        self.meta = meta
        self.txn = store.writer()
        self.edb = store.elements_db
        if meta is None:
            self.version = allocate_version(store)
            self.count = 0
            self.flags = 0
        else:
            self.version = int.from_bytes(meta[9:17], "big")
            self.count = int.from_bytes(meta[17:25], "big")
            self.flags = meta_flags(meta)
        self.prefix = self.version.to_bytes(8, "big")
        self.changed = False
        self.added: list[bytes] = []  # new fields, in order (for the order record)

    def set(self, field: bytes, value: bytes) -> bool:
        """Store a field; True if it is new."""
        self.changed = True
        if self.txn.replace(ekey(self.prefix, field), record_value(field, value),
                            self.edb) is None:
            self.count += 1
            self.added.append(field)
            return True
        return False

    def finish(self, max_entries: int) -> None:
        if self.count > max_entries:
            self.flags |= FLAG_BIG
        meta = self.meta
        big = self.flags & FLAG_BIG
        if meta is None:
            if self.count:
                self.db.put_meta(self.key, collection_meta(TYPE_HASH, self.version, self.count,
                                                           self.flags)
                                 + (b"" if big else encode_order(self.added)))
        elif self.count != int.from_bytes(meta[17:25], "big") or self.flags != meta_flags(meta):
            updated = with_count_flags(meta, self.count, self.flags)
            if big:  # hashtable now: no order kept
                updated = updated[:_ORDER_AT]
            elif self.added:
                updated += encode_order(self.added)
            self.db.update_meta(self.key, updated)
        elif self.changed:
            self.db.touch_modified(self.key)


def _hset_generic(client: Client, argv: list[bytes], name: str) -> int:
    n = len(argv)
    if n % 2:
        raise CommandError(f"ERR wrong number of arguments for '{name}' command")
    db = client.db
    key = argv[1]
    meta = _lookup(db, key)
    max_entries, max_value = _client_limits(client)
    nbytes = 0
    big = False
    for i in range(2, n):
        size = len(argv[i])
        nbytes += size
        if size > max_value:
            big = True
    w = _Writer(db, key, meta, nbytes + RECORD_OVERHEAD * (n // 2))
    if big:
        w.flags |= FLAG_BIG
    before = w.count
    replace = w.txn.replace
    prefix = w.prefix
    edb = w.edb
    added = 0
    for i in range(2, n, 2):
        if replace(ekey(prefix, argv[i]), record_value(argv[i], argv[i + 1]), edb) is None:
            added += 1
            w.added.append(argv[i])
    w.count = before + added
    w.changed = True
    w.finish(max_entries)
    db.notify(HASH, b"hset", key)
    return added


@command("hset", -4, "write denyoom fast", keys=(1, 1, 1), categories="@write @hash @fast")
def hset(client: Client, argv: list[bytes]) -> bytes:
    return integer(_hset_generic(client, argv, "hset"))


@command("hmset", -4, "write denyoom fast", keys=(1, 1, 1), categories="@write @hash @fast")
def hmset(client: Client, argv: list[bytes]) -> bytes:
    _hset_generic(client, argv, "hmset")
    return OK


@command("hsetnx", 4, "write denyoom fast", keys=(1, 1, 1), categories="@write @hash @fast")
def hsetnx(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    key, field, value = argv[1], argv[2], argv[3]
    meta = _lookup(db, key)
    if meta is not None:
        prefix = meta[9:17]
        if db.store.reader().get(ekey(prefix, field), None, db.store.elements_db) is not None:
            return ZERO
    max_entries, max_value = _client_limits(client)
    w = _Writer(db, key, meta, len(field) + len(value) + RECORD_OVERHEAD)
    if len(field) > max_value or len(value) > max_value:
        w.flags |= FLAG_BIG
    w.set(field, value)
    w.finish(max_entries)
    db.notify(HASH, b"hset", key)
    return integer(1)


def field_value(db: Database, meta: bytes, field: bytes) -> bytes | None:
    raw = db.store.reader().get(ekey(meta[9:17], field), None, db.store.elements_db)
    return raw if raw is None or len(field) <= MAX_INLINE_MEMBER else stored_value(field, raw)


@command("hget", 3, "readonly fast", keys=(1, 1, 1), categories="@read @hash @fast")
def hget(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    value = None if meta is None else field_value(db, meta, argv[2])
    if value is None:
        return NULL3 if client.resp3 else NULL_BULK
    return b"$%d\r\n%s\r\n" % (len(value), value)


@command("hmget", -3, "readonly fast", keys=(1, 1, 1), categories="@read @hash @fast")
def hmget(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    if meta is None:
        return bulk_array([None] * (len(argv) - 2), client.resp3)
    prefix = meta[9:17]
    get = db.store.reader().get
    edb = db.store.elements_db
    values = []
    for f in argv[2:]:
        raw = get(ekey(prefix, f), None, edb)
        values.append(raw if raw is None else stored_value(f, raw))
    return bulk_array(values, client.resp3)


@command("hdel", -3, "write fast", keys=(1, 1, 1), categories="@write @hash @fast")
def hdel(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    key = argv[1]
    meta = _lookup(db, key)
    if meta is None:
        return ZERO
    store = db.store
    txn = store.writer()
    prefix = meta[9:17]
    edb = store.elements_db
    count = int.from_bytes(meta[17:25], "big")
    deleted: list[bytes] = []
    for field in argv[2:]:
        if txn.delete(ekey(prefix, field), b"", edb):
            deleted.append(field)
            if count - len(deleted) == 0:
                break
    if deleted:
        left = count - len(deleted)
        if left == 0:
            db.delete(key)
        else:
            updated = with_count_flags(meta, left, meta_flags(meta))
            if len(meta) > _ORDER_AT:
                gone = set(deleted)
                updated = updated[:_ORDER_AT] + encode_order(
                    [f for f in decode_order(meta[_ORDER_AT:]) if f not in gone])
            db.update_meta(key, updated)
        db.notify(HASH, b"hdel", key)
        if left == 0:
            db.notify(GENERIC, b"del", key)
    return integer(len(deleted))


@command("hlen", 2, "readonly fast", keys=(1, 1, 1), categories="@read @hash @fast")
def hlen(client: Client, argv: list[bytes]) -> bytes:
    meta = _lookup(client.db, argv[1])
    return ZERO if meta is None else integer(int.from_bytes(meta[17:25], "big"))


@command("hstrlen", 3, "readonly fast", keys=(1, 1, 1), categories="@read @hash @fast")
def hstrlen(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    value = None if meta is None else field_value(db, meta, argv[2])
    return ZERO if value is None else integer(len(value))


@command("hexists", 3, "readonly fast", keys=(1, 1, 1), categories="@read @hash @fast")
def hexists(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    return integer(int(meta is not None and field_value(db, meta, argv[2]) is not None))


@command("hkeys", 2, "readonly", keys=(1, 1, 1), categories="@read @hash @slow")
def hkeys(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    if meta is None:
        return EMPTY_ARRAY
    parts = [b"*%d\r\n" % int.from_bytes(meta[17:25], "big")]
    if meta_flags(meta) & FLAG_BIG:
        fields: Iterable[bytes] = iter_subkeys(db.store.reader(), db.store.elements_db,
                                               meta[9:17])
    else:
        fields = (f for f, _ in items_in_order(db, meta))
    for f in fields:
        parts.append(b"$%d\r\n%s\r\n" % (len(f), f))
    return b"".join(parts)


@command("hvals", 2, "readonly", keys=(1, 1, 1), categories="@read @hash @slow")
def hvals(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    if meta is None:
        return EMPTY_ARRAY
    parts = [b"*%d\r\n" % int.from_bytes(meta[17:25], "big")]
    for _, v in items_in_order(db, meta):
        parts.append(b"$%d\r\n%s\r\n" % (len(v), v))
    return b"".join(parts)


@command("hgetall", 2, "readonly", keys=(1, 1, 1), categories="@read @hash @slow")
def hgetall(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    meta = _lookup(db, argv[1])
    resp3 = client.resp3
    if meta is None:
        return b"%0\r\n" if resp3 else EMPTY_ARRAY
    n = int.from_bytes(meta[17:25], "big")
    parts = [b"%%%d\r\n" % n if resp3 else b"*%d\r\n" % (2 * n)]
    for f, v in items_in_order(db, meta):
        parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(f), f, len(v), v))
    return b"".join(parts)


@command("hincrby", 4, "write denyoom fast", keys=(1, 1, 1), categories="@write @hash @fast")
def hincrby(client: Client, argv: list[bytes]) -> bytes:
    incr = parse_int(argv[3])
    db = client.db
    key, field = argv[1], argv[2]
    meta = _lookup(db, key)
    old = None if meta is None else field_value(db, meta, field)
    if old is None:
        value = 0
    else:
        value = parse_int(old, "ERR hash value is not an integer")
    result = value + incr
    if result > _LLONG_MAX or result < -_LLONG_MAX - 1:
        raise CommandError("ERR increment or decrement would overflow")
    raw = b"%d" % result
    _store_field(client, db, key, meta, field, raw)
    db.notify(HASH, b"hincrby", key)
    return integer(result)


@command("hincrbyfloat", 4, "write denyoom fast", keys=(1, 1, 1),
         categories="@write @hash @fast")
def hincrbyfloat(client: Client, argv: list[bytes]) -> bytes:
    incr = parse_long_double(argv[3])
    if isinstance(incr, float):  # parse_long_double returns floats only for +/-inf
        raise CommandError("ERR value is NaN or Infinity")
    db = client.db
    key, field = argv[1], argv[2]
    meta = _lookup(db, key)
    old = None if meta is None else field_value(db, meta, field)
    current = parse_long_double(b"0") if old is None else parse_long_double(
        old, "ERR hash value is not a float")
    raw = format_long_double(add_long_double(current, incr))
    _store_field(client, db, key, meta, field, raw)
    db.notify(HASH, b"hincrbyfloat", key)
    # The result, as INCRBYFLOAT does: float formatting must not differ on a replica.
    propagate_as(client, [b"HSET", key, field, raw])
    return bulk(raw)


def _store_field(client: Client, db: Database, key: bytes, meta: bytes | None, field: bytes,
                 value: bytes) -> None:
    # hashTypeSet converts before inserting a field or value over the listpack limit
    # (the HINCRBY* path, whose arguments are not checked up front).
    max_entries, max_value = _client_limits(client)
    w = _Writer(db, key, meta, len(field) + len(value) + RECORD_OVERHEAD)
    if len(field) > max_value or len(value) > max_value:
        w.flags |= FLAG_BIG
    w.set(field, value)
    w.finish(max_entries)


# ---------------------------------------------------------------------- HRANDFIELD
@command("hrandfield", -2, "readonly", keys=(1, 1, 1), categories="@read @hash @slow")
def hrandfield(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    if len(argv) >= 3:
        count = parse_int(argv[2])
        if count < -_LONG_MAX:
            raise CommandError("ERR value is out of range, value must between "
                               "-9223372036854775807 and 9223372036854775807")
        withvalues = False
        if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withvalues"):
            raise CommandError(SYNTAX)
        if len(argv) == 4:
            withvalues = True
            if count < -_LONG_MAX // 2 or count > _LONG_MAX // 2:
                raise CommandError("ERR value is out of range")
        return _hrandfield_count(client, db, argv[1], count, withvalues)
    meta = _lookup(db, argv[1])
    if meta is None:
        return NULL3 if client.resp3 else NULL_BULK
    field, _ = _pick_one(db, meta)
    return bulk(field)


def _pick_one(db: Database, meta: bytes) -> tuple[bytes, bytes]:
    size = int.from_bytes(meta[17:25], "big")
    txn = db.store.reader()
    if size <= _SMALL:
        return random.choice(list(iter_items(txn, db.store.elements_db, meta[9:17])))
    return RandomPicker(txn, db.store.elements_db, meta[9:17]).pick()


def _hrandfield_count(client: Client, db: Database, key: bytes, count: int,
                      withvalues: bool) -> bytes:
    meta = _lookup(db, key)
    if meta is None or count == 0:
        return EMPTY_ARRAY
    size = int.from_bytes(meta[17:25], "big")
    txn = db.store.reader()
    edb = db.store.elements_db
    prefix = meta[9:17]
    items: list[tuple[bytes, bytes]]
    if count < 0 or count == 1:
        n = -count if count < 0 else 1
        if n > MAX_RANDOM_REPLY:
            return refuse_huge_reply(client, n)
        if size <= _SMALL or n >= size:
            # Reading the whole hash once beats n descents, and is exactly uniform.
            items = random.choices(list(iter_items(txn, edb, prefix)), k=n)
        else:
            picker = RandomPicker(txn, edb, prefix)
            items = [picker.pick() for _ in range(n)]
    elif count >= size:
        items = items_in_order(db, meta)
    elif count * 3 > size or size <= _SMALL:
        items = random.sample(list(iter_items(txn, edb, prefix)), count)
    else:
        items = list(RandomPicker(txn, edb, prefix).pick_distinct(count).items())
    return _pairs_reply(items, withvalues, client.resp3)


def _pairs_reply(items: list[tuple[bytes, bytes]], withvalues: bool, resp3: bool) -> bytes:
    if not withvalues:
        return b"*%d\r\n" % len(items) + b"".join(
            b"$%d\r\n%s\r\n" % (len(f), f) for f, _ in items)
    if resp3:
        # RESP3 nests each pair; RESP2 flattens them.
        return b"*%d\r\n" % len(items) + b"".join(
            b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(f), f, len(v), v) for f, v in items)
    return b"*%d\r\n" % (2 * len(items)) + b"".join(
        b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(f), f, len(v), v) for f, v in items)


# ---------------------------------------------------------------------- HSCAN
@command("hscan", -3, "readonly", keys=(1, 1, 1), categories="@read @hash @slow")
def hscan(client: Client, argv: list[bytes]) -> bytes:
    cursor = parse_scan_cursor(argv[2])
    db = client.db
    meta = _lookup(db, argv[1])
    if meta is None:
        return EMPTY_SCAN
    count, matcher = parse_scan_options(argv, 3)
    txn = db.store.reader()
    edb = db.store.elements_db
    if meta_flags(meta) & FLAG_BIG:
        next_cursor, items = scan_items(txn, edb, meta[9:17], cursor, count)
    else:
        # Listpack in Redis: the whole hash in one reply, cursor 0.
        next_cursor, items = 0, items_in_order(db, meta)
    encoded = []
    for f, v in items:
        if matcher is None or matcher(f):
            encoded.append(bulk(f))
            encoded.append(bulk(v))
    return scan_reply(next_cursor, encoded)


# ---------------------------------------------------------------------- type hooks
def read_hash(db: Database, key: bytes, meta: bytes) -> dict[bytes, bytes]:
    return dict(items_in_order(db, meta))


def write_hash(db: Database, key: bytes, value: object, expire_at_ms: int) -> None:
    """Replace `key` with a hash holding `value` (dict[bytes, bytes]); the encoding flag
    follows the content, as when Redis loads a hash from RDB."""
    assert isinstance(value, dict)
    max_entries, max_value = _limits(config_values(db))
    if not value:
        db.delete(key)
        return
    store = db.store
    store.ensure_room(sum(len(f) + len(v) + RECORD_OVERHEAD for f, v in value.items()))
    version = allocate_version(store)
    prefix = version.to_bytes(8, "big")
    txn = store.writer()
    edb = store.elements_db
    big = len(value) > max_entries
    for f, v in value.items():
        txn.put(ekey(prefix, f), record_value(f, v), db=edb)
        if len(f) > max_value or len(v) > max_value:
            big = True
    db.put_meta(key, collection_meta(TYPE_HASH, version, len(value), FLAG_BIG if big else 0,
                                     expire_at_ms) + (b"" if big else encode_order(list(value))))


def hash_encoding(db: Database, key: bytes, meta: bytes) -> bytes:
    return b"hashtable" if meta_flags(meta) & FLAG_BIG else b"listpack"


VALUE_READERS[TYPE_HASH] = read_hash
VALUE_WRITERS["hash"] = write_hash
ENCODING_HOOKS[TYPE_HASH] = hash_encoding
