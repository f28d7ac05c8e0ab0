"""How keys and values are laid out in LMDB (pure encodings, no I/O).

Every logical database `n` has its own named LMDB sub-databases:

- `m<n>` (meta): `slot(2, BE) | key` -> `type(1) | expire_at_ms(8, BE; 0 = none) | body`.
  A string's body is its value, so GET is one B-tree lookup. A collection's body is
  owned by the collection modules (version, element count, ...).
- `e<n>` (elements): collection members, one record each, keyed under the same
  `slot | key` prefix (layout owned by the collection modules).
- `x<n>` (expiry index): `expire_at_ms(8, BE) | slot(2) | key` -> empty; the active
  expiry cycle walks it from the smallest deadline.
- `l<n>` (long keys): for keys too long to be LMDB keys, meta key -> full key name.
- `c<n>` (slot counts): `slot(2)` -> `count(8, BE)`, kept in the same write transaction
  as the keys, so COUNTKEYSINSLOT and DBSIZE never need a scan and a restart loads at
  most 16384 small records.

The slot prefix makes a slot (or a range of slots) one contiguous key range: GETKEYSINSLOT
is a range scan and migrating a slot walks one range.
"""

from __future__ import annotations

import hashlib

TYPE_STRING = 0
TYPE_LIST = 1
TYPE_SET = 2
TYPE_ZSET = 3
TYPE_HASH = 4
TYPE_STREAM = 5

# More codes for strings, telling what Redis's object for the value would be; they differ
# only in OBJECT ENCODING and OBJECT REFCOUNT. TYPE_STRING is the usual one: a value stored
# whole (SET, INCR, RESTORE, ...), encoded as Redis's tryObjectEncoding would (int, with
# small ones shared; embstr; raw). The others:
# - RAW: a buffer a command edited in place (APPEND, SETRANGE, SETBIT, BITFIELD, PFADD,
#   BITOP's result): raw whatever its length or content;
# - TEXT: made from text with no integer check (INCRBYFLOAT's result): embstr or raw by
#   length only;
# - OWN_INT: an integer in an object of its own, never the shared one (COPY's duplicate).
# A command that stores a new value writes TYPE_STRING again, as Redis makes a new object.
TYPE_STRING_RAW = 6
TYPE_STRING_TEXT = 7
TYPE_STRING_OWN_INT = 8
STRING_CODES = frozenset((TYPE_STRING, TYPE_STRING_RAW, TYPE_STRING_TEXT, TYPE_STRING_OWN_INT))

TYPE_NAMES: dict[int, bytes] = {
    TYPE_STRING: b"string",
    TYPE_STRING_RAW: b"string",
    TYPE_STRING_TEXT: b"string",
    TYPE_STRING_OWN_INT: b"string",
    TYPE_LIST: b"list",
    TYPE_SET: b"set",
    TYPE_ZSET: b"zset",
    TYPE_HASH: b"hash",
    TYPE_STREAM: b"stream",
}
# Name -> the main code of that type (SCAN TYPE filters; see STRING_CODES for strings).
TYPE_BY_NAME: dict[bytes, int] = {
    v: k for k, v in TYPE_NAMES.items() if k == TYPE_STRING or k not in STRING_CODES}

META_HEADER = 9
NO_EXPIRE = bytes(8)

# Two-byte big-endian slot prefixes, precomputed: building them is on every key access.
SLOT_PREFIX: tuple[bytes, ...] = tuple(s.to_bytes(2, "big") for s in range(16384))

_TYPE_BYTE = tuple(bytes([t]) for t in range(256))


# LMDB keys are limited to 511 bytes. A user key longer than MAX_INLINE_KEY is stored
# under its first LONG_KEY_HEAD bytes, a marker and its SHA-256: exactly LONG_KEY_LEN bytes,
# a length no inline key can have, so the two forms never collide and storage order still
# follows the key's head. The full name is kept in the database's `l<n>` sub-db.
MAX_INLINE_KEY = 480
LONG_KEY_HEAD = 448
LONG_KEY_LEN = LONG_KEY_HEAD + 2 + 32


def long_key_form(key: bytes) -> bytes:
    return key[:LONG_KEY_HEAD] + b"\xff\xfe" + hashlib.sha256(key).digest()


def meta_key(slot: int, key: bytes) -> bytes:
    if len(key) <= MAX_INLINE_KEY:
        return SLOT_PREFIX[slot] + key
    return SLOT_PREFIX[slot] + long_key_form(key)


def is_long_meta_key(mk: bytes) -> bool:
    return len(mk) == 2 + LONG_KEY_LEN


def encode_meta(type_code: int, expire_at_ms: int, body: bytes) -> bytes:
    return _TYPE_BYTE[type_code] + expire_at_ms.to_bytes(8, "big") + body


# The meta header of a string without expiry: its meta is STRING_HEADER + value.
STRING_HEADER = bytes([TYPE_STRING]) + NO_EXPIRE
RAW_STRING_HEADER = bytes([TYPE_STRING_RAW]) + NO_EXPIRE


def encode_string_meta(value: bytes, expire_at_ms: int = 0) -> bytes:
    if expire_at_ms:
        return b"\x00" + expire_at_ms.to_bytes(8, "big") + value
    return STRING_HEADER + value


def with_string_code(meta: bytes, code: int) -> bytes:
    """A string's meta under another of the STRING_CODES, expiry and value kept."""
    return _TYPE_BYTE[code] + meta[1:]


def as_raw_string(meta: bytes) -> bytes:
    return with_string_code(meta, TYPE_STRING_RAW)


def meta_expire(meta: bytes) -> int:
    return int.from_bytes(meta[1:9], "big")


def with_expire(meta: bytes, expire_at_ms: int) -> bytes:
    return meta[:1] + expire_at_ms.to_bytes(8, "big") + meta[9:]


def expiry_key(expire_at_ms: int, slot: int, key: bytes) -> bytes:
    return expire_at_ms.to_bytes(8, "big") + SLOT_PREFIX[slot] + key


def split_expiry_key(record: bytes) -> tuple[int, int, bytes]:
    return int.from_bytes(record[:8], "big"), int.from_bytes(record[8:10], "big"), record[10:]


def count_key(slot: int) -> bytes:
    return SLOT_PREFIX[slot]


def encode_count(count: int) -> bytes:
    return count.to_bytes(8, "big")


def decode_count(raw: bytes) -> int:
    return int.from_bytes(raw, "big")
