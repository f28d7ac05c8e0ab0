"""Typed access to the keys of one logical database: lookups with lazy expiry, WRONGTYPE,
creation and deletion with the per-slot counters, TTLs and the expiry index, and the
modification signal WATCH relies on.

Commands never touch LMDB directly for key metadata; they go through `Database`, so the
counters, the expiry index and WATCH stay right whatever the command.
"""

from __future__ import annotations

import time
from binascii import crc_hqx
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import lmdb

from aikv.cluster.slots import SLOT_MASK, key_hash_slot
from aikv.notify import EXPIRED, KEY_MISS, NEW, KeyEvents
from aikv.persist import layout
from aikv.persist.elements import queue_garbage
from aikv.persist.layout import (
    MAX_INLINE_KEY,
    NO_EXPIRE,
    SLOT_PREFIX,
    STRING_CODES,
    STRING_HEADER,
    is_long_meta_key,
    long_key_form,
)
from aikv.resp import CommandError

if TYPE_CHECKING:
    from aikv.persist.store import Store

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"

# py-lmdb parses keyword arguments slowly: `txn.get(k, db=d)` costs ~70 ns more than
# `txn.get(k, None, d)`, `txn.put(k, v, db=d)` ~200 ns more than the positional form. The
# per-key paths below (every GET, SET, ...) pass the sub-database positionally:
#   get(key, default, db)  replace(key, value, db)  pop(key, db)  delete(key, value, db)
#   put(key, value, dupdata, overwrite, append, db)

# Called when a value of a collection type is deleted or overwritten, so its element
# records go too: (database, txn, slot, key, meta) -> None. Registered by the collection
# modules, keyed by type code.
DropHook = Callable[["Database", lmdb.Transaction, int, bytes, bytes], None]
DROP_HOOKS: dict[int, DropHook] = {
    layout.TYPE_LIST: queue_garbage,
    layout.TYPE_SET: queue_garbage,
    layout.TYPE_ZSET: queue_garbage,
    layout.TYPE_HASH: queue_garbage,
    layout.TYPE_STREAM: queue_garbage,
}

# Per-type hooks filled in by the type modules:
# - VALUE_READERS[type_code](db, key, meta) -> plain value in the model of aikv.migrate.rdb
#   (bytes / list[bytes] / set[bytes] / dict[bytes, bytes] / dict[bytes, float]);
# - VALUE_WRITERS[kind](db, key, value, expire_at_ms) stores such a value, replacing the
#   key ("string", "list", "set", "hash", "zset"); DUMP, RESTORE and MIGRATE use both;
# - ENCODING_HOOKS[type_code](db, key, meta) -> OBJECT ENCODING name.
ValueReader = Callable[["Database", bytes, bytes], object]
ValueWriter = Callable[["Database", bytes, object, int], None]
VALUE_READERS: dict[int, ValueReader] = {}
VALUE_WRITERS: dict[str, ValueWriter] = {}
ENCODING_HOOKS: dict[int, Callable[[Database, bytes, bytes], bytes]] = {}


def _mk(slot: int, key: bytes) -> bytes:
    if len(key) <= MAX_INLINE_KEY:
        return SLOT_PREFIX[slot] + key
    return SLOT_PREFIX[slot] + long_key_form(key)


def _slot_and_mk(key: bytes) -> tuple[int, bytes]:
    """(slot, meta key) of `key`; the common case (short key, no hash tag) inline."""
    if key.find(b"{") < 0 and len(key) <= MAX_INLINE_KEY:
        slot = crc_hqx(key, 0) & SLOT_MASK
        return slot, SLOT_PREFIX[slot] + key
    slot = key_hash_slot(key)
    return slot, _mk(slot, key)


QUIET = 2  # LookupStats.on for a command whose misses publish no "keymiss" (OBJECT)


class LookupStats:
    """INFO's keyspace_hits / keyspace_misses: the key lookups of read-only commands, as
    Redis counts its lookupKeyRead calls; a miss also publishes "keymiss" (class m).
    Server.call sets `on` around such a command: True, or QUIET. And expired_keys: the
    records deleted because their deadline had passed, by whichever path."""

    __slots__ = ("on", "hits", "misses", "expired")

    def __init__(self) -> None:
        self.on: bool | int = False
        self.hits = 0
        self.misses = 0
        self.expired = 0


class Clock:
    """Milliseconds, cached per batch of commands like Redis's per-command mstime: every
    command of one batch sees one `now`, which keeps multi-key commands consistent."""

    __slots__ = ("now_ms",)

    def __init__(self) -> None:
        self.now_ms = int(time.time() * 1000)

    def refresh(self) -> int:
        self.now_ms = int(time.time() * 1000)
        return self.now_ms


class Database:
    __slots__ = ("store", "index", "stored", "handles", "meta_db", "expires_db",
                 "clock", "on_modified", "watched", "events", "lookups", "on_expired",
                 "stream_readers", "on_stream_gone", "found_expired", "on_found_expired")

    def __init__(self, store: Store, index: int, clock: Clock,
                 on_modified: Callable[..., None],
                 events: KeyEvents | None = None,
                 lookups: LookupStats | None = None) -> None:
        self.store = store
        self.index = index  # the SELECT index: WATCH, notifications, blocking
        self.show(store.db_order[index])
        self.clock = clock
        self.on_modified = on_modified
        # Keys some client WATCHes in this database; checked on every modification.
        self.watched: set[bytes] = set()
        self.events = events if events is not None else KeyEvents(lambda channel, message: 0)
        self.lookups = lookups if lookups is not None else LookupStats()
        # Set while replicas are connected: told of every key found past its deadline
        # (see aikv/replication/propagate.py), so the replicas delete their copy.
        self.on_expired: Callable[[int, bytes], None] | None = None
        # XREADGROUP clients blocked on keys of this index (kept by aikv/blocking.py),
        # and its callback: a stream deleted or overwritten while they wait is reported
        # (key None: the database was flushed), as Redis signals the key so that they
        # get "UNBLOCKED the stream key no longer exists". Zero costs one test.
        self.stream_readers = 0
        self.on_stream_gone: Callable[[int, bytes | None], None] | None = None
        # Keys lookups found past their deadline: the server's callback decides whether
        # they are deleted (a master's lookup deletes them, as Redis's expireIfNeeded),
        # announces the expiry and notes them in `found_expired` (shared by the server's
        # databases), to delete them once the command is done (see remove_expired). Not
        # at once, because a lookup may run while a cursor walks the same transaction.
        self.on_found_expired: Callable[[Database, bytes], None] | None = None
        self.found_expired: dict[tuple[Database, bytes], None] | None = None

    def show(self, stored: int) -> None:
        """Serve the stored database `stored` (its sub-databases and counts) under this
        SELECT index; SWAPDB exchanges two."""
        self.stored = stored
        self.handles = self.store.dbs[stored]
        self.meta_db = self.handles.meta
        self.expires_db = self.handles.expires

    def notify(self, kind: int, event: bytes, key: bytes) -> None:
        """Publish a keyspace notification (see aikv/notify.py) if its class is on."""
        events = self.events
        if events.flags & kind:
            events.emit(kind, event, key, self.index)

    # ------------------------------------------------------------------ lookups
    def get_meta(self, key: bytes) -> bytes | None:
        """The key's meta record, or None if it does not exist or has expired."""
        if key.find(b"{") < 0 and len(key) <= MAX_INLINE_KEY:  # _slot_and_mk, inline
            mk = SLOT_PREFIX[crc_hqx(key, 0) & SLOT_MASK] + key
        else:
            mk = _mk(key_hash_slot(key), key)
        meta = self.store.reader().get(mk, None, self.meta_db)
        if meta is not None and meta[1:9] != NO_EXPIRE \
                and int.from_bytes(meta[1:9], "big") <= self.clock.now_ms:
            meta = None
            self.report_expired(key)
        lookups = self.lookups
        if lookups.on:
            if meta is not None:
                lookups.hits += 1
            else:
                lookups.misses += 1
                if self.events.flags & KEY_MISS and lookups.on != QUIET:
                    self.events.emit(KEY_MISS, b"keymiss", key, self.index)
        return meta

    def read_meta(self, key: bytes) -> bytes | None:
        """get_meta counted as a keyspace hit or miss: a write command reading a key the
        way Redis's lookupKeyRead does (SET ... GET, GETEX, COPY's source)."""
        lookups = self.lookups
        if lookups.on:
            return self.get_meta(key)
        lookups.on = True
        try:
            return self.get_meta(key)
        finally:
            lookups.on = False

    def get_string(self, key: bytes) -> bytes | None:
        meta = self.get_meta(key)
        if meta is None:
            return None
        if meta[0] not in STRING_CODES:
            raise CommandError(WRONGTYPE)
        return meta[9:]

    def exists(self, key: bytes) -> bool:
        return self.get_meta(key) is not None

    def type_of(self, key: bytes) -> int | None:
        meta = self.get_meta(key)
        return None if meta is None else meta[0]

    def expire_of(self, key: bytes) -> int | None:
        """Absolute expiry in ms; 0 for no expiry; None if the key does not exist."""
        meta = self.get_meta(key)
        if meta is None:
            return None
        return int.from_bytes(meta[1:9], "big")

    # ------------------------------------------------------------------ writes
    def put_meta(self, key: bytes, meta: bytes, slot: int | None = None,
                 touch: bool = True) -> bytes | None:
        """Store `meta` for `key`, replacing whatever was there (any type). Returns the
        previous live meta (None if absent or expired). Keeps counters, the expiry index
        and element records consistent. `touch` False: a write Redis does not signal to
        WATCH and tracking (see update_meta)."""
        if slot is None:
            slot, mk = _slot_and_mk(key)
        else:
            mk = _mk(slot, key)
        txn = self.store.writer()
        old = txn.replace(mk, meta, self.meta_db)
        if self.stream_readers and old is not None and old[0] == layout.TYPE_STREAM \
                and self.on_stream_gone is not None:
            self.on_stream_gone(self.index, key)
        if old is None:
            self.store.count_added(self.stored, slot)
            if len(key) > MAX_INLINE_KEY:
                txn.put(mk, key, db=self.handles.long_keys)
            if self.events.flags & NEW:
                self.events.emit(NEW, b"new", key, self.index)
        else:
            old_expire = old[1:9]
            if old_expire != NO_EXPIRE:
                txn.delete(old_expire + mk, b"", self.expires_db)
                if int.from_bytes(old_expire, "big") <= self.clock.now_ms:
                    self._drop_elements(txn, slot, key, old)
                    old = None
                    if self.on_expired is not None:
                        self.on_expired(self.index, key)
                    # Redis deletes the expired key on this write's lookup, then adds
                    # the new one.
                    announced = self._announced(key)
                    self.lookups.expired += 1
                    if self.events.flags & (EXPIRED | NEW):
                        if not announced:
                            self.events.emit(EXPIRED, b"expired", key, self.index)
                        self.events.emit(NEW, b"new", key, self.index)
            if old is not None and old[0] not in STRING_CODES:
                self._drop_elements(txn, slot, key, old)
        new_expire = meta[1:9]
        if new_expire != NO_EXPIRE:
            txn.put(new_expire + mk, b"", True, True, False, self.expires_db)
        if self.watched and touch and key in self.watched:
            self.on_modified(self.index, key)
        return old

    def set_string(self, key: bytes, value: bytes, expire_at_ms: int = 0) -> bytes | None:
        if expire_at_ms:
            return self.put_meta(key, layout.encode_string_meta(value, expire_at_ms))
        return self.put_meta(key, STRING_HEADER + value)

    def update_meta(self, key: bytes, meta: bytes, slot: int | None = None,
                    touch: bool = True) -> None:
        """Rewrite the meta of an existing, live key of the same type (e.g. a collection's
        count) without touching counters or elements; the expiry must be unchanged.
        `touch` False: a change Redis does not signal to WATCH (stream group state)."""
        mk = _slot_and_mk(key)[1] if slot is None else _mk(slot, key)
        self.store.writer().put(mk, meta, True, True, False, self.meta_db)
        if touch and self.watched and key in self.watched:
            self.on_modified(self.index, key)

    def delete(self, key: bytes, drop_elements: bool = True) -> bool:
        """Delete the key; True if a live key was removed. With `drop_elements` False a
        collection's element records are kept (RENAME/MOVE hand them to another key)."""
        slot, mk = _slot_and_mk(key)
        txn = self.store.writer()
        old = txn.pop(mk, self.meta_db)
        if old is None:
            return False
        if self.stream_readers and old[0] == layout.TYPE_STREAM \
                and self.on_stream_gone is not None:
            self.on_stream_gone(self.index, key)
        self.store.count_removed(self.stored, slot)
        if len(key) > MAX_INLINE_KEY:
            txn.delete(mk, db=self.handles.long_keys)
        expired = False
        if old[1:9] != NO_EXPIRE:
            txn.delete(old[1:9] + mk, b"", self.expires_db)
            expired = int.from_bytes(old[1:9], "big") <= self.clock.now_ms
            if expired and self.on_expired is not None:
                self.on_expired(self.index, key)
        if old[0] not in STRING_CODES and (drop_elements or expired):
            self._drop_elements(txn, slot, key, old)
        if self.watched and key in self.watched:
            self.on_modified(self.index, key)
        if expired:
            self.lookups.expired += 1
        if expired and not self._announced(key) and self.events.flags & EXPIRED:
            self.events.emit(EXPIRED, b"expired", key, self.index)
        return not expired

    def remove_expired(self, key: bytes) -> bool:
        """Lazy expiry's deletion of a key a lookup found past its deadline (Redis's
        expireIfNeeded deletes it on access): as active expiry deletes it (elements,
        WATCH and tracking), but neither told to replicas nor announced again, since the
        lookup did both. False if the record is gone or was rewritten meanwhile."""
        mk = _slot_and_mk(key)[1]
        meta = self.store.writer().get(mk, None, self.meta_db)
        if meta is None or meta[1:9] == NO_EXPIRE \
                or int.from_bytes(meta[1:9], "big") > self.clock.now_ms:
            return False
        on_expired, self.on_expired = self.on_expired, None
        try:
            self.delete(key)
        finally:
            self.on_expired = on_expired
        return True

    def _announced(self, key: bytes) -> bool:
        """Whether a lookup already announced `key`'s expiry (and noted it for deletion):
        a write that meets the expired record then does not announce it again."""
        found = self.found_expired
        if not found:
            return False
        return found.pop((self, key), False) is None

    def set_expire(self, key: bytes, expire_at_ms: int) -> bool:
        """Set (or with 0 remove) the expiry of a live key; False if it does not exist."""
        meta = self.get_meta(key)
        if meta is None:
            return False
        mk = _slot_and_mk(key)[1]
        txn = self.store.writer()
        old_expire = meta[1:9]
        if old_expire != NO_EXPIRE:
            txn.delete(old_expire + mk, b"", self.expires_db)
        new_expire = expire_at_ms.to_bytes(8, "big")
        txn.put(mk, meta[:1] + new_expire + meta[9:], True, True, False, self.meta_db)
        if expire_at_ms:
            txn.put(new_expire + mk, b"", True, True, False, self.expires_db)
        if self.watched and key in self.watched:
            self.on_modified(self.index, key)
        return True

    def _drop_elements(self, txn: lmdb.Transaction, slot: int, key: bytes, meta: bytes) -> None:
        hook = DROP_HOOKS.get(meta[0])
        if hook is not None:
            hook(self, txn, slot, key, meta)

    def touch_modified(self, key: bytes) -> None:
        if self.watched and key in self.watched:
            self.on_modified(self.index, key)

    # ------------------------------------------------------------------ whole database
    def size(self) -> int:
        return self.store.key_totals[self.stored]

    def stored_meta(self, key: bytes) -> bytes | None:
        """The key's meta record as stored, past its deadline or not, with no lookup
        counted or expiry noted (Redis's plain dict lookup: DEBUG OBJECT, WATCH)."""
        meta: bytes | None = self.store.reader().get(_slot_and_mk(key)[1], None, self.meta_db)
        return meta

    def stored_deadline(self, key: bytes) -> int | None:
        """The key's deadline in ms (0: none) if a record is stored for it, expired or
        not; None if there is none (WATCH's view of a key, as Redis's dict lookup)."""
        meta = self.stored_meta(key)
        return None if meta is None else int.from_bytes(meta[1:9], "big")

    def flush(self) -> None:
        txn = self.store.writer()
        # Watched keys with a record, expired or not, are the ones the flush changes
        # (Redis's touchAllWatchedKeysInDb); the others are only reported to tracking.
        stored = {key for key in self.watched if self.stored_deadline(key) is not None}
        # Collections' element records become garbage, reclaimed in the background.
        cursor = txn.cursor(db=self.meta_db)
        for _, meta in cursor:
            if meta[0] not in STRING_CODES:
                queue_garbage(self, txn, 0, b"", meta)
        for db in (self.meta_db, self.expires_db, self.handles.long_keys):
            txn.drop(db, delete=False)
        self.store.reset_counts(self.stored)
        if self.stream_readers and self.on_stream_gone is not None:
            self.on_stream_gone(self.index, None)
        for key in list(self.watched):
            self.on_modified(self.index, key, key in stored)

    def iter_keys(self, start: bytes = b"", *, with_expired: bool = False
                  ) -> Iterator[tuple[bytes, bytes]]:
        """(meta key, meta) pairs in storage order from `start`, expired keys skipped
        unless `with_expired` (SCAN and RANDOMKEY delete those they meet)."""
        now = self.clock.now_ms
        cursor = self.store.reader().cursor(db=self.meta_db)
        if not cursor.set_range(start):
            return
        if with_expired:
            yield from cursor
            return
        for mk, meta in cursor:
            if meta[1:9] != NO_EXPIRE and int.from_bytes(meta[1:9], "big") <= now:
                continue
            yield mk, meta

    def is_expired(self, meta: bytes) -> bool:
        return meta[1:9] != NO_EXPIRE and int.from_bytes(meta[1:9], "big") <= self.clock.now_ms

    def report_expired(self, key: bytes) -> None:
        """A lookup found `key` past its deadline: replicas are told at once, and it is
        deleted once the command is done (see remove_expired)."""
        if self.on_expired is not None:
            self.on_expired(self.index, key)
        if self.on_found_expired is not None:
            self.on_found_expired(self, key)

    def keys_in_slot(self, slot: int, count: int) -> list[bytes]:
        prefix = SLOT_PREFIX[slot]
        out: list[bytes] = []
        if count <= 0:
            return out
        cursor = self.store.reader().cursor(db=self.meta_db)
        if not cursor.set_range(prefix):
            return out
        for mk in cursor.iternext(keys=True, values=False):
            if mk[:2] != prefix:
                break
            out.append(self.key_of(mk))
            if len(out) >= count:
                break
        return out

    def key_of(self, mk: bytes) -> bytes:
        """The user key stored under meta key `mk`."""
        if len(mk) - 2 <= MAX_INLINE_KEY:
            return mk[2:]
        full = self.store.reader().get(mk, db=self.handles.long_keys)
        return full if full is not None else mk[2:]

    def count_in_slot(self, slot: int) -> int:
        return self.store.slot_counts[self.stored][slot]

    # ------------------------------------------------------------------ expiry cycle
    def expire_due(self, limit: int) -> int:
        """Delete up to `limit` keys whose deadline has passed; returns how many."""
        now = self.clock.now_ms
        txn = self.store.reader()
        cursor = txn.cursor(db=self.expires_db)
        due: list[bytes] = []
        if cursor.first():
            for rec in cursor.iternext(keys=True, values=False):
                if int.from_bytes(rec[:8], "big") > now or len(due) >= limit:
                    break
                due.append(rec)
        for rec in due:
            _, slot, key = layout.split_expiry_key(rec)
            self._expire_one(slot, key, rec)
        return len(due)

    def _expire_one(self, slot: int, stored_key: bytes, index_record: bytes) -> None:
        txn = self.store.writer()
        mk = SLOT_PREFIX[slot] + stored_key
        meta = txn.get(mk, db=self.meta_db)
        txn.delete(index_record, db=self.expires_db)
        if meta is None or meta[1:9] != index_record[:8]:
            return  # stale index entry: the key was rewritten with another deadline
        key = self.key_of(mk)
        if is_long_meta_key(mk):
            txn.delete(mk, db=self.handles.long_keys)
        txn.delete(mk, db=self.meta_db)
        self.store.count_removed(self.stored, slot)
        self.lookups.expired += 1
        if meta[0] not in STRING_CODES:
            self._drop_elements(txn, slot, key, meta)
        if self.watched and key in self.watched:
            self.on_modified(self.index, key)
        if self.on_expired is not None:
            self.on_expired(self.index, key)
        if self.events.flags & EXPIRED:
            self.events.emit(EXPIRED, b"expired", key, self.index)
