"""Machinery shared by the element-per-record collection types (hashes and sets; usable by
any type laid out as in persist/elements.py): meta records with an encoding flag, element
iteration, SCAN-family cursors and random picks.

Meta record of such a collection: `type(1) | expire(8) | version(8) | count(8) | flags(1)`.
Bit 0 of `flags` (FLAG_BIG) says the collection has left its compact Redis encoding
(listpack / intset) for `hashtable`. Redis never converts back when a collection shrinks,
so the bit is sticky: it is set by the write that crosses a threshold and only cleared by
rebuilding the value (a new key, RESTORE, the SPOP case that rebuilds the set).
OBJECT ENCODING therefore costs one bit test, never a scan.

Elements live in `store.elements_db` under `version(8) | subkey` with
`subkey = crc32(member)(4, BE) | member`. The member alone would do for lookups, but
ordering records by a hash of the member spreads any naming scheme evenly over the key
space, which the two order-based features below depend on: real field names share long
prefixes ("user:0000001", "user:0000002", ...), and a cursor or a random point built from
raw member bytes would then be hopelessly coarse (a 7-byte cursor could not tell ten
million "user:000..." fields apart). The hash costs one C call per access; HGETALL and
SMEMBERS list large collections in hash order, as Redis lists a hashtable.

SCAN cursors (HSCAN/SSCAN). A cursor names the position to resume from: bit 56 set
(so that no live cursor is 0 and every cursor fits a signed 64-bit integer, which some
clients assume) and the first 7 bytes of the next subkey (its 4 hash bytes and 3 member
bytes) in bits 0..55, zero-padded.
Resuming seeks to those bytes with trailing zero bytes stripped, which is <= the subkey
the cursor was made from: elements between that point and the subkey (same 7-byte prefix,
already returned) may come back again — SCAN allows duplicates — but no element present
throughout the iteration can be skipped, whatever is inserted or deleted meanwhile.
Progress: a call never stops right before an element whose cursor would equal the cursor
it started from (it keeps going past COUNT instead), so every call strictly advances the
cursor. Long runs of subkeys sharing a 7-byte prefix therefore come back in one reply;
that is the price of not keeping server-side iterator state. A cursor that is not one of
ours (flag bit missing, e.g. a Redis cursor) restarts the iteration, as a stale cursor
may do in Redis. Compact collections (listpack/intset in Redis) are returned whole with
cursor 0, as Redis does.

Random picks (HRANDFIELD/SRANDMEMBER/SPOP) must not walk a large collection. A pick
chooses a uniformly random 32-bit point of the hash space, seeks to it with `set_range`
and wraps to the first element when it lands past the last one. Cost: one B-tree
descent. Bias: an element's chance is proportional to the hash-space gap between it and
its predecessor; with crc32 spreading members like random points, gaps vary about as
exponentially distributed lengths do (an element can be a few times likelier than the
average one, never starved of picks in any systematic way), whatever the members look
like. Redis's own picks over a sparse hash table are not perfectly uniform either.
Small collections, and requests for a large share of a collection, are served from a
full read instead (exactly uniform).
"""

from __future__ import annotations

import hashlib
import random
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import lmdb

from aikv.commands.args import NOT_INTEGER, SYNTAX, parse_int
from aikv.glob import Matcher, compile_pattern
from aikv.persist.layout import encode_meta
from aikv.resp import CommandError, bulk

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.keyspace import Database
    from aikv.persist.store import Store

FLAG_BIG = 1
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
EMPTY_SCAN = b"*2\r\n$1\r\n0\r\n*0\r\n"

# HRANDFIELD/SRANDMEMBER with a negative count reply with that many picks. Redis would try
# to build any such reply (and run out of memory on absurd counts); AiKv refuses replies of
# more picks than this with "value is out of range" instead of exhausting the node.
MAX_RANDOM_REPLY = 10_000_000


def refuse_huge_reply(client: Client, picks: int) -> bytes:
    """A reply of `picks` random picks, over MAX_RANDOM_REPLY, is not built. Where the
    client's output buffer hard limit is below even its smallest possible size (7 bytes
    a pick), Redis would have closed the client part way through it: so is this one
    (the reply is dropped, as Redis's close ASAP drops it); otherwise the request is
    refused with "value is out of range"."""
    if client.exceeds_hard_output_limit(picks * 7):
        client.close_for_output_buffer()
        return b""
    raise CommandError("ERR value is out of range")

# Per-field overhead used to estimate a write's size for Store.ensure_room (LMDB node
# header, version prefix, page slack).
RECORD_OVERHEAD = 48


# ---------------------------------------------------------------------- meta records
def collection_meta(type_code: int, version: int, count: int, flags: int = 0,
                    expire_at_ms: int = 0) -> bytes:
    return encode_meta(type_code, expire_at_ms,
                       version.to_bytes(8, "big") + count.to_bytes(8, "big") + bytes((flags,)))


def meta_flags(meta: bytes) -> int:
    return meta[25] if len(meta) > 25 else 0


def with_count_flags(meta: bytes, count: int, flags: int) -> bytes:
    return meta[:17] + count.to_bytes(8, "big") + bytes((flags,)) + meta[26:]


def config_values(db: Database) -> dict[str, object]:
    """The server's configuration values, for type hooks that get only a Database (DUMP /
    RESTORE writers): a Database has no link to the server, but its modification
    callback is a bound method of the server. Empty (defaults apply) without a server."""
    server = getattr(db.on_modified, "__self__", None)
    values = getattr(getattr(server, "config", None), "values", None)
    return values if isinstance(values, dict) else {}


def allocate_version(store: Store) -> int:
    versions = store.versions
    assert versions is not None, "store not open"
    return versions.allocate()


def is_canonical_int(raw: bytes) -> bool:
    """Redis's string2ll acceptance (what decides the intset encoding)."""
    n = len(raw)
    if n == 0 or n > 20:
        return False
    if raw.isdigit():
        if raw[0] == 48 and n > 1:
            return False
    elif not (raw[0] == 45 and n > 1 and raw[1] != 48 and raw[1:].isdigit()):
        return False
    return -(2**63) <= int(raw) < 2**63


# ---------------------------------------------------------------------- element keys
MEMBER_AT = 12  # version(8) + crc32(4)
_crc32 = zlib.crc32
# LMDB keys are limited to 511 bytes. A member longer than MAX_INLINE_MEMBER is keyed by
# its head, a marker and its SHA-256, exactly LONG_MEMBER_LEN bytes — a length no inline
# member has, so a record's form is known from its key length alone — and the record's
# value then starts with the full member: `len(8, BE) | member | value`.
MAX_INLINE_MEMBER = 480
_LONG_HEAD = 447
LONG_MEMBER_LEN = _LONG_HEAD + 2 + 32


def ekey(prefix: bytes, member: bytes) -> bytes:
    """The record key of `member` in the collection whose version prefix is `prefix`."""
    if len(member) <= MAX_INLINE_MEMBER:
        return prefix + _crc32(member).to_bytes(4, "big") + member
    return (prefix + _crc32(member).to_bytes(4, "big") + member[:_LONG_HEAD] + b"\xff\xfe"
            + hashlib.sha256(member).digest())


def record_value(member: bytes, value: bytes) -> bytes:
    """What to store for `member` (its value, prefixed by the member when it is long)."""
    if len(member) <= MAX_INLINE_MEMBER:
        return value
    return len(member).to_bytes(8, "big") + member + value


def stored_value(member: bytes, raw: bytes) -> bytes:
    """The element value from a record fetched by `ekey(member)`."""
    if len(member) <= MAX_INLINE_MEMBER:
        return raw
    return raw[8 + len(member):]


def decode_record(key: bytes, raw: bytes) -> tuple[bytes, bytes]:
    """(member, value) of a record met while iterating."""
    if len(key) - MEMBER_AT != LONG_MEMBER_LEN:
        return key[MEMBER_AT:], raw
    n = int.from_bytes(raw[:8], "big")
    return raw[8:8 + n], raw[8 + n:]


# ---------------------------------------------------------------------- iteration
def iter_items(txn: lmdb.Transaction, edb: object, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(member, value) of every element, in storage (hash) order."""
    cursor = txn.cursor(db=edb)
    if not cursor.set_range(prefix):
        return
    for k, v in cursor:
        if k[:8] != prefix:
            return
        if len(k) - MEMBER_AT == LONG_MEMBER_LEN:
            yield decode_record(k, v)
        else:
            yield k[12:], v


def iter_subkeys(txn: lmdb.Transaction, edb: object, prefix: bytes) -> Iterator[bytes]:
    """Every member, in storage (hash) order."""
    cursor = txn.cursor(db=edb)
    if not cursor.set_range(prefix):
        return
    for k in cursor.iternext(keys=True, values=False):
        if k[:8] != prefix:
            return
        if len(k) - MEMBER_AT == LONG_MEMBER_LEN:
            yield decode_record(k, cursor.value())[0]
        else:
            yield k[12:]


# ---------------------------------------------------------------------- random picks
class RandomPicker:
    """Random elements of one non-empty collection, one B-tree descent each (see the
    module docstring for the distribution)."""

    __slots__ = ("cursor", "prefix", "first")

    def __init__(self, txn: lmdb.Transaction, edb: object, prefix: bytes) -> None:
        cursor = txn.cursor(db=edb)
        self.cursor = cursor
        self.prefix = prefix
        if not cursor.set_range(prefix) or cursor.key()[:8] != prefix:
            raise KeyError("empty collection")
        k, v = cursor.item()
        self.first = decode_record(k, v)

    def pick(self) -> tuple[bytes, bytes]:
        """(member, value) of a random element."""
        cursor = self.cursor
        if cursor.set_range(self.prefix + random.randbytes(4)):
            k, v = cursor.item()
            if k[:8] == self.prefix:
                return decode_record(k, v)
        return self.first

    def pick_distinct(self, count: int) -> dict[bytes, bytes]:
        """`count` distinct elements (count must be well below the collection's size):
        random picks, and if picks keep colliding, the elements following a random point
        fill the rest."""
        found: dict[bytes, bytes] = {}
        attempts = 0
        budget = 4 * count + 16
        while len(found) < count and attempts < budget:
            member, value = self.pick()
            found[member] = value
            attempts += 1
        if len(found) < count:
            cursor = self.cursor
            start = self.prefix + random.randbytes(4)
            for wrapped in (False, True):
                ok = cursor.set_range(self.prefix if wrapped else start)
                while ok and len(found) < count:
                    k, v = cursor.item()
                    if k[:8] != self.prefix:
                        break
                    member, value = decode_record(k, v)
                    found.setdefault(member, value)
                    ok = cursor.next()
                if len(found) >= count:
                    break
        return found


# ---------------------------------------------------------------------- SCAN family
SCAN_FLAG = 1 << 56
_SCAN_PREFIX = 7
_SCAN_MASK = SCAN_FLAG - 1
_ULONG = 2**64


def parse_scan_cursor(raw: bytes) -> int:
    """strtoul(raw, 10) over the whole argument, as parseScanCursorOrReply: a sign is
    allowed (a negative value wraps modulo 2**64), leading space is not, overflow is an
    error, and an empty argument is cursor 0."""
    digits = raw
    negative = False
    if digits[:1] in (b"+", b"-"):
        negative = digits[:1] == b"-"
        digits = digits[1:]
        if not digits:
            raise CommandError("ERR invalid cursor")
    if not digits:
        return 0
    if not digits.isdigit():
        raise CommandError("ERR invalid cursor")
    value = int(digits)
    if value >= _ULONG:
        raise CommandError("ERR invalid cursor")
    return (_ULONG - value) % _ULONG if negative else value


def parse_scan_options(argv: list[bytes], start: int) -> tuple[int, Matcher | None]:
    """COUNT and MATCH of HSCAN/SSCAN/ZSCAN (TYPE is SCAN-only): (count, matcher)."""
    count = 10
    matcher: Matcher | None = None
    i = start
    n = len(argv)
    while i < n:
        opt = argv[i].upper()
        if opt == b"COUNT" and n - i >= 2:
            count = parse_int(argv[i + 1], NOT_INTEGER)
            if count < 1:
                raise CommandError(SYNTAX)
        elif opt == b"MATCH" and n - i >= 2:
            pattern = argv[i + 1]
            # A lone "*" disables matching, as in Redis (it would not match b"").
            matcher = None if pattern == b"*" else compile_pattern(pattern)
        else:
            raise CommandError(SYNTAX)
        i += 2
    return count, matcher


def encode_scan_cursor(subkey: bytes) -> int:
    return SCAN_FLAG | int.from_bytes(subkey[:_SCAN_PREFIX].ljust(_SCAN_PREFIX, b"\0"), "big")


def scan_start(cursor: int) -> tuple[int, bytes]:
    """(effective cursor, subkey to seek to); unknown cursors restart at 0."""
    if cursor & ~(SCAN_FLAG | _SCAN_MASK) or not cursor & SCAN_FLAG:
        return 0, b""
    return cursor, (cursor & _SCAN_MASK).to_bytes(_SCAN_PREFIX, "big").rstrip(b"\0")


def scan_items(txn: lmdb.Transaction, edb: object, prefix: bytes, cursor: int,
               count: int) -> tuple[int, list[tuple[bytes, bytes]]]:
    """One HSCAN/SSCAN step over a non-compact collection: (next cursor, examined
    (member, value) pairs), at least `count` of them unless the end was reached."""
    current, start = scan_start(cursor)
    out: list[tuple[bytes, bytes]] = []
    lmdb_cursor = txn.cursor(db=edb)
    if not lmdb_cursor.set_range(prefix + start):
        return 0, out
    for k, v in lmdb_cursor:
        if k[:8] != prefix:
            return 0, out
        if len(out) >= count:
            following = encode_scan_cursor(k[8:])
            if following != current:
                return following, out
        out.append(decode_record(k, v))
    return 0, out


def scan_reply(next_cursor: int, encoded_items: list[bytes]) -> bytes:
    return b"*2\r\n" + bulk(b"%d" % next_cursor) + b"*%d\r\n" % len(encoded_items) + \
        b"".join(encoded_items)
