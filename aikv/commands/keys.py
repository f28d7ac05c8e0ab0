"""Generic key commands: DEL EXISTS TYPE TTLs RENAME COPY MOVE KEYS SCAN RANDOMKEY OBJECT."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from aikv.cluster.slots import CLUSTER_SLOTS, key_hash_slot
from aikv.collections_common import parse_scan_cursor
from aikv.commands.args import SYNTAX, parse_c_int, parse_int
from aikv.commands.registry import command, container
from aikv.keyspace import ENCODING_HOOKS, Database
from aikv.migrate.encoding import EMBSTR_SIZE_LIMIT, canonical_int
from aikv.notify import GENERIC, NEW
from aikv.persist import elements, layout
from aikv.persist.layout import (
    NO_EXPIRE,
    SLOT_PREFIX,
    STRING_CODES,
    TYPE_BY_NAME,
    TYPE_NAMES,
    TYPE_STRING,
    TYPE_STRING_OWN_INT,
    TYPE_STRING_RAW,
    TYPE_STRING_TEXT,
    with_string_code,
)
from aikv.replication.propagate import propagate_as
from aikv.resp import (
    NULL3,
    NULL_BULK,
    OK,
    ZERO,
    CommandError,
    array,
    bulk,
    bulk_array,
    bulk_or_null,
    integer,
    simple,
)

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.server import Server

_LLONG_MAX = 2**63 - 1
_SHARED_REFCOUNT = 2**31 - 1  # what Redis reports for its shared objects (INT_MAX)


def _compile(pattern: bytes):
    from aikv.glob import compile_pattern

    return compile_pattern(pattern)


def deletion(client: Client, key: bytes, lazy_option: str) -> list[bytes]:
    """What replicas get for a command that deleted `key`: UNLINK when the lazyfree
    setting for that kind of deletion is on (the master freed the value in the
    background, and so should they), DEL otherwise."""
    return [b"UNLINK" if client.server.config.values[lazy_option] else b"DEL", key]


@command("del", -2, "write", keys=(1, -1, 1), categories="@keyspace @write @slow")
def del_(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    deleted = 0
    for key in argv[1:]:
        if db.delete(key):
            db.notify(GENERIC, b"del", key)
            deleted += 1
    if not deleted:
        propagate_as(client)  # nothing deleted: Redis sends nothing
    return integer(deleted)


@command("unlink", -2, "write fast", keys=(1, -1, 1), categories="@keyspace @write @fast")
def unlink(client: Client, argv: list[bytes]) -> bytes:
    return del_(client, argv)


@command("exists", -2, "readonly fast", keys=(1, -1, 1), categories="@keyspace @read @fast")
def exists(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    return integer(sum(1 for key in argv[1:] if db.exists(key)))


@command("touch", -2, "readonly fast", keys=(1, -1, 1), categories="@keyspace @read @fast")
def touch(client: Client, argv: list[bytes]) -> bytes:
    return exists(client, argv)


@command("type", 2, "readonly fast", keys=(1, 1, 1), categories="@keyspace @read @fast")
def type_(client: Client, argv: list[bytes]) -> bytes:
    code = client.db.type_of(argv[1])
    return simple(b"none" if code is None else TYPE_NAMES[code])


# ---------------------------------------------------------------------- expiry
def _expire_generic(client: Client, argv: list[bytes], unit_ms: int, absolute: bool,
                    name: str) -> bytes:
    nx = xx = gt = lt = False
    for raw in argv[3:]:
        opt = raw.upper()
        if opt == b"NX":
            nx = True
        elif opt == b"XX":
            xx = True
        elif opt == b"GT":
            gt = True
        elif opt == b"LT":
            lt = True
        else:
            raise CommandError(f"ERR Unsupported option {raw.decode(errors='replace')}")
    if nx and (xx or gt or lt):
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if gt and lt:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    when = parse_int(argv[2])
    invalid = CommandError(f"ERR invalid expire time in '{name}' command")
    if unit_ms != 1:
        if when > _LLONG_MAX // unit_ms or when < -(_LLONG_MAX // unit_ms):
            raise invalid
        when *= unit_ms
    base = 0 if absolute else client.server.clock.now_ms
    if when > _LLONG_MAX - base:
        raise invalid
    when += base
    db = client.db
    key = argv[1]
    meta = db.get_meta(key)
    current = -1
    if meta is not None and meta[1:9] != NO_EXPIRE:
        current = int.from_bytes(meta[1:9], "big")
    if meta is None or (nx and current != -1) or (xx and current == -1) \
            or (gt and (current == -1 or when <= current)) \
            or (lt and current != -1 and when >= current):
        propagate_as(client)  # nothing changed
        return ZERO
    if when <= client.server.clock.now_ms:
        db.delete(key)
        db.notify(GENERIC, b"del", key)
        propagate_as(client, deletion(client, key, "lazyfree-lazy-expire"))
    else:
        db.set_expire(key, when)
        db.notify(GENERIC, b"expire", key)
        if not absolute or unit_ms != 1:
            # The absolute deadline in ms, so that the key ends at the same moment on
            # replicas (the options stay: with the same data they decide the same).
            propagate_as(client, [b"PEXPIREAT", key, b"%d" % when, *argv[3:]])
    return integer(1)


@command("expire", -3, "write fast", keys=(1, 1, 1), categories="@keyspace @write @fast")
def expire(client: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(client, argv, 1000, False, "expire")


@command("pexpire", -3, "write fast", keys=(1, 1, 1), categories="@keyspace @write @fast")
def pexpire(client: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(client, argv, 1, False, "pexpire")


@command("expireat", -3, "write fast", keys=(1, 1, 1), categories="@keyspace @write @fast")
def expireat(client: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(client, argv, 1000, True, "expireat")


@command("pexpireat", -3, "write fast", keys=(1, 1, 1), categories="@keyspace @write @fast")
def pexpireat(client: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(client, argv, 1, True, "pexpireat")


def _ttl(client: Client, key: bytes, ms: bool, absolute: bool) -> bytes:
    at = client.db.expire_of(key)
    if at is None:
        return integer(-2)
    if at == 0:
        return integer(-1)
    if absolute:
        return integer(at if ms else at // 1000)
    remaining = max(0, at - client.server.clock.now_ms)
    return integer(remaining if ms else (remaining + 500) // 1000)


@command("ttl", 2, "readonly fast", keys=(1, 1, 1), categories="@keyspace @read @fast")
def ttl(client: Client, argv: list[bytes]) -> bytes:
    return _ttl(client, argv[1], False, False)


@command("pttl", 2, "readonly fast", keys=(1, 1, 1), categories="@keyspace @read @fast")
def pttl(client: Client, argv: list[bytes]) -> bytes:
    return _ttl(client, argv[1], True, False)


@command("expiretime", 2, "readonly fast", keys=(1, 1, 1), categories="@keyspace @read @fast")
def expiretime(client: Client, argv: list[bytes]) -> bytes:
    return _ttl(client, argv[1], False, True)


@command("pexpiretime", 2, "readonly fast", keys=(1, 1, 1), categories="@keyspace @read @fast")
def pexpiretime(client: Client, argv: list[bytes]) -> bytes:
    return _ttl(client, argv[1], True, True)


@command("persist", 2, "write fast", keys=(1, 1, 1), categories="@keyspace @write @fast")
def persist(client: Client, argv: list[bytes]) -> bytes:
    at = client.db.expire_of(argv[1])
    if not at:
        propagate_as(client)
        return ZERO
    client.db.set_expire(argv[1], 0)
    client.db.notify(GENERIC, b"persist", argv[1])
    return integer(1)


# ---------------------------------------------------------------------- rename / copy / move
def _transfer(src_db: Database, src: bytes, dst_db: Database, dst: bytes, meta: bytes) -> None:
    """Give `src`'s value (and TTL) to `dst`, replacing it. Collections keep their element
    records: only the meta record moves, so this is O(1) whatever the size."""
    src_db.delete(src, drop_elements=False)
    _add(dst_db, dst, meta)


def _add(db: Database, key: bytes, meta: bytes) -> None:
    """Store a key the way Redis's dbAdd does after deleting any old one: a replaced key
    is announced as "new" too (put_meta announces only keys that did not exist)."""
    if db.put_meta(key, meta) is not None:
        db.notify(NEW, b"new", key)


def _rename(client: Client, argv: list[bytes], nx: bool) -> bytes:
    db = client.db
    src, dst = argv[1], argv[2]
    meta = db.get_meta(src)
    if meta is None:
        raise CommandError("ERR no such key")
    if src == dst:
        return ZERO if nx else OK
    if nx and db.exists(dst):
        return ZERO
    _transfer(db, src, db, dst, meta)
    db.notify(GENERIC, b"rename_from", src)
    db.notify(GENERIC, b"rename_to", dst)
    _signal_ready(client, db.index, dst, meta)
    return integer(1) if nx else OK


def _signal_ready(client: Client, db_index: int, key: bytes, meta: bytes) -> None:
    """A list, zset or stream appeared under `key`: blocked clients may be served."""
    if meta[0] in (layout.TYPE_LIST, layout.TYPE_ZSET, layout.TYPE_STREAM):
        try:
            from aikv.blocking import signal_key_ready
        except ImportError:
            return
        signal_key_ready(client.server, db_index, key)


@command("rename", 3, "write", keys=(1, 2, 1), categories="@keyspace @write @slow")
def rename(client: Client, argv: list[bytes]) -> bytes:
    return _rename(client, argv, False)


@command("renamenx", 3, "write fast", keys=(1, 2, 1), categories="@keyspace @write @fast")
def renamenx(client: Client, argv: list[bytes]) -> bytes:
    return _rename(client, argv, True)


def _target_db(client: Client, raw: bytes) -> Database:
    index = parse_c_int(raw)
    if index < 0 or index >= len(client.server.databases):
        raise CommandError("ERR DB index is out of range")
    return client.server.databases[index]


@command("copy", -3, "write denyoom", keys=(1, 2, 1), categories="@keyspace @write @slow")
def copy(client: Client, argv: list[bytes]) -> bytes:
    src, dst = argv[1], argv[2]
    dst_db = client.db
    replace = False
    i = 3
    while i < len(argv):
        opt = argv[i].upper()
        if opt == b"REPLACE":
            replace = True
            i += 1
        elif opt == b"DB" and i + 1 < len(argv):
            if client.server.config.cluster_enabled:
                raise CommandError("ERR Copying to another database is not allowed in "
                                   "cluster mode")
            dst_db = _target_db(client, argv[i + 1])
            i += 2
        else:
            raise CommandError(SYNTAX)
    if src == dst and dst_db is client.db:
        raise CommandError("ERR source and destination objects are the same")
    meta = client.db.read_meta(src)
    if meta is None:
        return ZERO
    if dst_db.exists(dst):
        if not replace:
            return ZERO
    if meta[0] == TYPE_STRING and canonical_int(meta[9:]) is not None:
        # Redis duplicates an integer into an object of its own (never the shared one).
        meta = with_string_code(meta, TYPE_STRING_OWN_INT)
    elif meta[0] not in STRING_CODES:
        store = client.db.store
        version = store.versions.allocate()  # type: ignore[union-attr]
        elements.copy_elements(store, store.writer(), elements.meta_version(meta), version)
        meta = meta[:9] + version.to_bytes(8, "big") + meta[17:]
    _add(dst_db, dst, meta)
    dst_db.notify(GENERIC, b"copy_to", dst)
    _signal_ready(client, dst_db.index, dst, meta)
    return integer(1)


@command("move", 3, "write fast", keys=(1, 1, 1), categories="@keyspace @write @fast")
def move(client: Client, argv: list[bytes]) -> bytes:
    if client.server.config.cluster_enabled:
        raise CommandError("ERR MOVE is not allowed in cluster mode")
    dst_db = _target_db(client, argv[2])
    if dst_db is client.db:
        raise CommandError("ERR source and destination objects are the same")
    meta = client.db.get_meta(argv[1])
    if meta is None or dst_db.exists(argv[1]):
        return ZERO
    _transfer(client.db, argv[1], dst_db, argv[1], meta)
    client.db.notify(GENERIC, b"move_from", argv[1])
    dst_db.notify(GENERIC, b"move_to", argv[1])
    _signal_ready(client, dst_db.index, argv[1], meta)
    return integer(1)


# ---------------------------------------------------------------------- iteration
@command("keys", 2, "readonly", keys=(0, 0, 0), categories="@keyspace @read @slow @dangerous")
def keys(client: Client, argv: list[bytes]) -> bytes:
    pattern = argv[1]
    db = client.db
    found: list[bytes | None] = []
    if pattern == b"*":
        found.extend(db.key_of(mk) for mk, _ in db.iter_keys())
    else:
        match = _compile(pattern)
        found.extend(key for key in (db.key_of(mk) for mk, _ in db.iter_keys()) if match(key))
    return bulk_array(found)


# SCAN cursors. Storage order is (slot, key), which is stable under inserts and deletes,
# so a cursor names the position to resume from: the slot in bits 48..61 and the first 6
# bytes of the next key in bits 0..47, plus bit 62 so that no live cursor is 0. Resuming
# seeks to that 6-byte prefix (trailing zero bytes stripped), so keys sharing it may be
# returned twice — SCAN allows duplicates — but none present throughout is missed. A
# batch never stops between two keys with the same prefix, which guarantees progress.
_CURSOR_FLAG = 1 << 62
_PREFIX_BYTES = 6


def encode_cursor(slot: int, key: bytes) -> int:
    prefix = key[:_PREFIX_BYTES].ljust(_PREFIX_BYTES, b"\0")
    return _CURSOR_FLAG | (slot << 48) | int.from_bytes(prefix, "big")


def decode_cursor(cursor: int) -> bytes:
    """The storage key to resume from."""
    if cursor == 0:
        return b""
    slot = (cursor >> 48) & 0x3FFF
    prefix = (cursor & ((1 << 48) - 1)).to_bytes(_PREFIX_BYTES, "big").rstrip(b"\0")
    return SLOT_PREFIX[slot] + prefix


def parse_cursor(raw: bytes) -> int:
    """As for HSCAN and the others: strtoul's reading (a sign wraps, no spaces)."""
    return parse_scan_cursor(raw)


@command("scan", -2, "readonly", categories="@keyspace @read @slow")
def scan(client: Client, argv: list[bytes]) -> bytes:
    cursor = parse_cursor(argv[1])
    count = 10
    match = None
    type_filter: frozenset[int] | None = None
    i = 2
    while i < len(argv):
        opt = argv[i].upper()
        if i + 1 >= len(argv):
            raise CommandError(SYNTAX)
        if opt == b"COUNT":
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif opt == b"MATCH":
            if argv[i + 1] != b"*":
                match = _compile(argv[i + 1])
        elif opt == b"TYPE":
            code = TYPE_BY_NAME.get(argv[i + 1].lower(), -1)
            type_filter = STRING_CODES if code == TYPE_STRING else frozenset((code,))
        else:
            raise CommandError(SYNTAX)
        i += 2
    if cursor != 0 and not cursor & _CURSOR_FLAG:
        cursor = 0  # an unknown cursor restarts the iteration, as a stale one does in Redis
    start = decode_cursor(cursor)
    out: list[bytes | None] = []
    visited = 0
    next_cursor = 0
    last_prefix: bytes | None = None
    db = client.db
    for mk, meta in db.iter_keys(start, with_expired=True):
        key = mk[2:]
        if visited >= count:
            slot = int.from_bytes(mk[:2], "big")
            position = (slot, key[:_PREFIX_BYTES])
            if position != last_prefix:
                next_cursor = encode_cursor(slot, key)
                break
        visited += 1
        last_prefix = (int.from_bytes(mk[:2], "big"), key[:_PREFIX_BYTES])  # type: ignore[assignment]
        if match is not None and not match(db.key_of(mk)):
            continue
        if db.is_expired(meta):
            # Counted as visited, and deleted as Redis's SCAN deletes the expired keys
            # that pass its pattern.
            db.report_expired(db.key_of(mk))
            continue
        if type_filter is not None and meta[0] not in type_filter:
            continue
        out.append(db.key_of(mk))
    return array([bulk(b"%d" % next_cursor), bulk_array(out)])


@command("randomkey", 1, "readonly", categories="@keyspace @read @slow")
def randomkey(client: Client, argv: list[bytes]) -> bytes:
    key = random_key(client.db)
    return bulk_or_null(key, client.resp3)


def random_key(db: Database) -> bytes | None:
    """A key chosen by picking a random non-empty slot (weighted by its key count) and a
    random point in it; keys right after large gaps are a little likelier, as in any
    ordered store without rank information. Expired keys met on the way are deleted
    (each once), as dbRandomKey deletes those it picks."""
    total = db.size()
    if total == 0:
        return None
    counts = db.store.slot_counts[db.stored]
    met: set[bytes] = set()

    def first_live(start: bytes) -> bytes | None:
        for mk, meta in db.iter_keys(start, with_expired=True):
            if not db.is_expired(meta):
                return db.key_of(mk)
            if mk not in met:
                met.add(mk)
                db.report_expired(db.key_of(mk))
        return None

    for _ in range(8):
        target = random.randrange(total)
        slot = 0
        acc = 0
        for slot in range(CLUSTER_SLOTS):
            acc += counts[slot]
            if acc > target:
                break
        key = first_live(SLOT_PREFIX[slot] + random.randbytes(4)) \
            or first_live(SLOT_PREFIX[slot])
        if key is not None:
            return key
        if len(met) >= total:
            return None  # every key has expired
    return first_live(b"")


@command("dbsize", 1, "readonly fast", categories="@keyspace @read @fast")
def dbsize(client: Client, argv: list[bytes]) -> bytes:
    return integer(client.db.size())


# ---------------------------------------------------------------------- OBJECT
container("object", -2, "")


def string_encoding(value: bytes, code: int = TYPE_STRING) -> bytes:
    """OBJECT ENCODING of a string stored under type `code` (see layout.STRING_CODES)."""
    if code == TYPE_STRING_RAW:
        return b"raw"
    if code != TYPE_STRING_TEXT and canonical_int(value) is not None:
        return b"int"
    return b"embstr" if len(value) <= EMBSTR_SIZE_LIMIT else b"raw"


def _shared_integer(server: Server, meta: bytes) -> bool:
    """Whether Redis would hold this string as one of its shared integers (0-9999): made
    by a command that encodes its value, while the maxmemory setup allows sharing
    (Redis shares none with a maxmemory limit under an LRU or LFU policy)."""
    value = meta[9:]
    if meta[0] != TYPE_STRING or len(value) > 4 or canonical_int(value) is None \
            or value[0] == 0x2D:  # '-'
        return False
    policy = server.config.values["maxmemory-policy"]
    return not server.config.values["maxmemory"] or not ("lru" in policy or "lfu" in policy)


@command("encoding", 3, "readonly", keys=(2, 2, 1), parent="object",
         categories="@keyspace @read @slow")
def object_encoding(client: Client, argv: list[bytes]) -> bytes:
    meta = client.db.get_meta(argv[2])
    if meta is None:
        return NULL3 if client.resp3 else NULL_BULK
    if meta[0] in STRING_CODES:
        return bulk(string_encoding(meta[9:], meta[0]))
    hook = ENCODING_HOOKS.get(meta[0])
    if hook is None:
        raise CommandError("ERR encoding of this type is not available")
    return bulk(hook(client.db, argv[2], meta))


@command("refcount", 3, "readonly", keys=(2, 2, 1), parent="object",
         categories="@keyspace @read @slow")
def object_refcount(client: Client, argv: list[bytes]) -> bytes:
    meta = client.db.get_meta(argv[2])
    if meta is None:
        return NULL3 if client.resp3 else NULL_BULK
    return integer(_SHARED_REFCOUNT if _shared_integer(client.server, meta) else 1)


@command("idletime", 3, "readonly", keys=(2, 2, 1), parent="object",
         categories="@keyspace @read @slow")
def object_idletime(client: Client, argv: list[bytes]) -> bytes:
    if client.db.get_meta(argv[2]) is None:
        return NULL3 if client.resp3 else NULL_BULK
    if _lfu(client):
        raise CommandError("ERR An LFU maxmemory policy is selected, idle time not tracked. "
                           "Please note that when switching between policies at runtime LRU "
                           "and LFU data will take some time to adjust.")
    return integer(0)  # access times are not tracked: reads would become writes in LMDB


def _lfu(client: Client) -> bool:
    return "lfu" in client.server.config.values["maxmemory-policy"]


@command("freq", 3, "readonly", keys=(2, 2, 1), parent="object",
         categories="@keyspace @read @slow")
def object_freq(client: Client, argv: list[bytes]) -> bytes:
    if client.db.get_meta(argv[2]) is None:
        return NULL3 if client.resp3 else NULL_BULK
    if _lfu(client):
        return integer(0)  # access frequencies are not tracked (see OBJECT IDLETIME)
    raise CommandError("ERR An LFU maxmemory policy is not selected, access frequency not "
                       "tracked. Please note that when switching between policies at runtime "
                       "LRU and LFU data will take some time to adjust.")


@command("help", 2, "loading stale", parent="object", categories="@keyspace @slow")
def object_help(client: Client, argv: list[bytes]) -> bytes:
    lines = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ]
    return array([simple(line) for line in lines])


__all__ = ["key_hash_slot", "random_key", "string_encoding"]
