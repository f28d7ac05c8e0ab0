"""Which internal encoding redis-server 7.0 would give a value.

The same rules decide what ``OBJECT ENCODING`` reports and which RDB object type ``DUMP``
writes (an ``intset`` set is dumped as SET_INTSET, a ``listpack`` hash as HASH_LISTPACK, and
so on), so both the command layer and the payload writer ask this module.

Value model shared with the rest of AiKv:

* ``"string"``: ``bytes``
* ``"list"``: ``list[bytes]`` (head to tail)
* ``"set"``: ``set[bytes]``
* ``"hash"``: ``dict[bytes, bytes]``
* ``"zset"``: ``dict[bytes, float]`` (member -> score)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "list", "set", "hash", "zset"]
KINDS: tuple[str, ...] = ("string", "list", "set", "hash", "zset")
# (kind, value) as described in the module docstring.
TypedValue = tuple[str, object]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
# Redis refuses to parse 21+ characters as an integer before looking at them
# (LONG_STR_SIZE); the longest int64 text, "-9223372036854775808", has 20.
_MAX_INT_TEXT = 20
# Strings up to this length are allocated together with their object header ("embstr").
EMBSTR_SIZE_LIMIT = 44


@dataclass(frozen=True, slots=True)
class EncodingLimits:
    """The encoding thresholds of redis.conf; defaults are 7.0.15's built-in values.

    These are the values a redis-server started without a config file reports with
    ``CONFIG GET`` (the redis.conf shipped with Redis lowers hash-max-listpack-entries to
    128; pass that explicitly to model such a server).
    """

    hash_max_listpack_entries: int = 512
    hash_max_listpack_value: int = 64
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    set_max_intset_entries: int = 512
    # Negative: a per-node byte budget of 4 KB << (-n - 1); positive: entries per node.
    list_max_listpack_size: int = -2
    # rdbcompression: strings over 20 bytes are LZF-compressed when that saves 4+ bytes.
    rdb_compression: bool = True


DEFAULT_LIMITS = EncodingLimits()


def canonical_int(text: bytes) -> int | None:
    """The int64 that ``text`` spells in canonical decimal, else None.

    Canonical means what Redis's string2ll accepts: optional ``-``, no ``+``, no leading
    zeros, no ``-0``, no spaces, within int64. Only such strings may be stored as integers
    anywhere (RDB int strings, listpack ints, intsets), because reading them back must
    reproduce the exact bytes.
    """
    n = len(text)
    if n == 0 or n > _MAX_INT_TEXT:
        return None
    if text == b"0":
        return 0
    start = 1 if text[0] == 0x2D else 0  # '-'
    if start == n or not 0x31 <= text[start] <= 0x39:  # first digit must be 1-9
        return None
    if not text[start:].isdigit():  # bytes.isdigit() is ASCII-only
        return None
    value = int(text)
    if value < INT64_MIN or value > INT64_MAX:
        return None
    return value


def string_encoding(value: bytes) -> str:
    """OBJECT ENCODING of a string set with SET: ``int``, ``embstr`` or ``raw``."""
    if canonical_int(value) is not None:
        return "int"
    return "embstr" if len(value) <= EMBSTR_SIZE_LIMIT else "raw"


def set_is_intset(members: Iterable[bytes], limits: EncodingLimits = DEFAULT_LIMITS) -> bool:
    """True when a set of these members is an intset: all canonical ints, few enough."""
    count = 0
    for member in members:
        count += 1
        if count > limits.set_max_intset_entries or canonical_int(member) is None:
            return False
    return True


def hash_is_listpack(fields: dict[bytes, bytes], limits: EncodingLimits = DEFAULT_LIMITS) -> bool:
    """True when a hash stays a listpack: few fields, every field and value short."""
    if len(fields) > limits.hash_max_listpack_entries:
        return False
    cap = limits.hash_max_listpack_value
    return all(len(f) <= cap and len(v) <= cap for f, v in fields.items())


def zset_is_listpack(members: dict[bytes, float], limits: EncodingLimits = DEFAULT_LIMITS) -> bool:
    """True when a sorted set stays a listpack: few members, every member short.

    Scores play no part; only member length and count are checked by Redis.
    """
    if len(members) > limits.zset_max_listpack_entries:
        return False
    cap = limits.zset_max_listpack_value
    return all(len(m) <= cap for m in members)


def object_encoding(kind: str, value: object, limits: EncodingLimits = DEFAULT_LIMITS) -> str:
    """What ``OBJECT ENCODING`` on redis-server 7.0 reports for a freshly written value.

    "Freshly written" matters: Redis never converts a value back to its compact encoding
    (a hash that once held a long value stays ``hashtable`` after HDEL), while this answer
    is decided from the current content alone, as RESTORE of a DUMP would.
    """
    if kind == "string":
        if not isinstance(value, bytes | bytearray):
            raise ValueError("string value must be bytes")
        return string_encoding(bytes(value))
    if kind == "list":
        # 7.0 has no listpack-encoded lists (added in 7.2): every list is a quicklist.
        return "quicklist"
    if kind == "set":
        if not isinstance(value, set | frozenset):
            raise ValueError("set value must be a set")
        return "intset" if set_is_intset(value, limits) else "hashtable"
    if kind == "hash":
        if not isinstance(value, dict):
            raise ValueError("hash value must be a dict")
        return "listpack" if hash_is_listpack(value, limits) else "hashtable"
    if kind == "zset":
        if not isinstance(value, dict):
            raise ValueError("zset value must be a dict")
        return "listpack" if zset_is_listpack(value, limits) else "skiplist"
    raise ValueError(f"unknown value kind {kind!r}")
