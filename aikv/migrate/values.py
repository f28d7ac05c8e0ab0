"""Whole values in and out of the keyspace for DUMP, RESTORE and MIGRATE.

The type modules register how their values are read and written
(`keyspace.VALUE_READERS` / `VALUE_WRITERS`); this module puts those hooks together with
the payload codec: `dump_key` serialises a live key exactly as redis-server 7.0 would, and
`store_value` writes a decoded payload back under a key.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from aikv.keyspace import ENCODING_HOOKS, VALUE_READERS, VALUE_WRITERS, Database
from aikv.migrate.encoding import EncodingLimits
from aikv.migrate.rdb import dump_payload, dump_string_payload, encode_object
from aikv.persist import layout
from aikv.persist.layout import NO_EXPIRE, STRING_CODES

if TYPE_CHECKING:
    from aikv.config import Config

KIND_BY_TYPE: dict[int, str] = {
    **{code: "string" for code in layout.STRING_CODES},
    layout.TYPE_LIST: "list",
    layout.TYPE_SET: "set",
    layout.TYPE_ZSET: "zset",
    layout.TYPE_HASH: "hash",
    layout.TYPE_STREAM: "stream",
}


class MissingTypeSupport(Exception):
    """A value kind whose reader/writer is not registered (its module has not landed)."""


# ---------------------------------------------------------------------- string hooks
# Strings are stored inline in the meta record (meta[9:] is the value). Registered here
# unless the strings module already did, so DUMP/RESTORE never depend on import order.
def _read_string(db: Database, key: bytes, meta: bytes) -> bytes:
    return meta[9:]


def _write_string(db: Database, key: bytes, value: object, expire_at_ms: int) -> None:
    assert isinstance(value, bytes | bytearray)
    db.set_string(key, bytes(value), expire_at_ms)


for _code in STRING_CODES:  # the codes differ in encoding only; DUMP writes the same bytes
    VALUE_READERS.setdefault(_code, _read_string)
VALUE_WRITERS.setdefault("string", _write_string)


# ---------------------------------------------------------------------- limits
def limits_from_config(config: Config, compress: bool | None = None) -> EncodingLimits:
    """The encoding thresholds DUMP follows; `compress` overrides rdbcompression (MIGRATE
    sends raw strings)."""
    values: dict[str, Any] = config.values
    if compress is None:
        compress = bool(values.get("rdbcompression", True))
    return EncodingLimits(
        hash_max_listpack_entries=int(values.get("hash-max-listpack-entries", 512)),
        hash_max_listpack_value=int(values.get("hash-max-listpack-value", 64)),
        zset_max_listpack_entries=int(values.get("zset-max-listpack-entries", 128)),
        zset_max_listpack_value=int(values.get("zset-max-listpack-value", 64)),
        set_max_intset_entries=int(values.get("set-max-intset-entries", 512)),
        list_max_listpack_size=int(values.get("list-max-listpack-size", -2)),
        rdb_compression=compress,
    )


# A collection that once outgrew its compact encoding stays in the big one in Redis
# (no conversion back), and DUMP writes the object as it is encoded. The stored flag is
# reported by the type's OBJECT ENCODING hook; forcing a zero limit makes the codec choose
# the big form for that one value.
_STICKY_BIG = {
    layout.TYPE_HASH: (b"hashtable", "hash_max_listpack_entries"),
    layout.TYPE_ZSET: (b"skiplist", "zset_max_listpack_entries"),
    layout.TYPE_SET: (b"hashtable", "set_max_intset_entries"),
}


def _limits_for(db: Database, key: bytes, meta: bytes, limits: EncodingLimits) -> EncodingLimits:
    sticky = _STICKY_BIG.get(meta[0])
    hook = ENCODING_HOOKS.get(meta[0])
    if sticky is None or hook is None:
        return limits
    try:
        current = hook(db, key, meta)
    except Exception:  # an encoding probe must never break DUMP
        return limits
    if current != sticky[0]:
        return limits
    zeroed: dict[str, Any] = {sticky[1]: 0}  # one of the int thresholds
    return dataclasses.replace(limits, **zeroed)


# ---------------------------------------------------------------------- read
def read_value(db: Database, key: bytes, meta: bytes) -> tuple[str, object]:
    kind = KIND_BY_TYPE.get(meta[0])
    reader = VALUE_READERS.get(meta[0])
    if kind is None or reader is None:
        raise MissingTypeSupport(f"no DUMP support for type code {meta[0]}")
    return kind, reader(db, key, meta)


def dump_key(db: Database, key: bytes, limits: EncodingLimits) -> bytes | None:
    """The DUMP payload of `key`, or None if it does not exist (or has expired)."""
    meta = db.get_meta(key)
    if meta is None:
        return None
    return dump_live_key(db, key, meta, limits)


def dump_live_key(db: Database, key: bytes, meta: bytes, limits: EncodingLimits) -> bytes:
    """The DUMP payload of a key whose live meta record the caller has just read."""
    if meta[0] in STRING_CODES:  # stored inline: meta[9:] is the value
        return dump_string_payload(meta[9:], limits.rdb_compression)
    kind, value = read_value(db, key, meta)
    return dump_payload(kind, value, _limits_for(db, key, meta, limits))


def encode_live_key(db: Database, key: bytes, meta: bytes, limits: EncodingLimits) -> bytes:
    """A live key's value as an RDB file stores it: type byte and object body, chosen as
    for DUMP (the payload without its footer)."""
    kind, value = read_value(db, key, meta)
    return encode_object(kind, value, _limits_for(db, key, meta, limits))


def expire_at(meta: bytes) -> int:
    """Absolute expiry in ms of a meta record, 0 for none."""
    raw = meta[1:9]
    return 0 if raw == NO_EXPIRE else int.from_bytes(raw, "big")


# ---------------------------------------------------------------------- write
def store_value(db: Database, key: bytes, kind: str, value: object, expire_at_ms: int,
                *, cleared: bool = False) -> None:
    """Create `key` with a decoded payload value, replacing whatever is stored there
    (live or expired). `cleared`: the caller deleted the key in this transaction."""
    writer = VALUE_WRITERS.get(kind)
    if writer is None:
        raise MissingTypeSupport(f"no RESTORE support for {kind} values")
    # Writers replace the meta record; deleting first also clears an expired leftover
    # whose elements a writer might otherwise meet. A string needs no such pass: its
    # writer is put_meta, which drops whatever the old record (live or expired, of any
    # type) left behind, with the same keyspace events; MIGRATE's RESTORE of a string
    # is the common case, and the extra delete was ~10% of its cost on the target.
    if not cleared and kind != "string":
        db.delete(key)
    writer(db, key, value, expire_at_ms)
