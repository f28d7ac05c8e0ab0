"""DEBUG DIGEST-VALUE: redis-server 7.0's per-key value digest.

redis-cli compares these digests on source and target when a MIGRATE of a reshard or a
fix hits BUSYKEY (a key present on both sides, e.g. after a crash between the target's
RESTORE and the source's delete): equal digests let it re-send the MIGRATE with REPLACE.
In a mixed cluster one side may be a real Redis, so the digest must be Redis's exactly
(debug.c, xorObjectDigest): SHA-1 "mix" for ordered content, XOR of per-element SHA-1s for
unordered content, plus markers for the type and an expiry.
"""

from __future__ import annotations

import hashlib

from aikv.keyspace import Database
from aikv.migrate.streamrdb import STREAM_ITEM_FLAG_DELETED, StreamData, stream_node_entries
from aikv.migrate.values import read_value
from aikv.persist.layout import NO_EXPIRE

ZERO_DIGEST = "0" * 40
_EXPIRE_MARK = b"!!expire!!"
_TYPE_CODES = {"string": 0, "list": 1, "set": 2, "zset": 3, "hash": 4, "stream": 6}


def _mix(digest: bytes, data: bytes) -> bytes:
    """mixDigest: XOR in SHA1(data), then hash the result (order-sensitive)."""
    return hashlib.sha1(_xor(digest, data)).digest()


def _xor(digest: bytes, data: bytes) -> bytes:
    """xorDigest: XOR in SHA1(data) (order-insensitive)."""
    h = hashlib.sha1(data).digest()
    return bytes(a ^ b for a, b in zip(digest, h, strict=True))


def score_text(score: float) -> bytes:
    """The score as 7.0's debug.c prints it for the digest: "%.17g"."""
    if score != score:  # NaN never reaches a sorted set; keep the C spelling anyway
        return b"nan"
    if score == 0:
        return b"0"  # -0.0 too: Redis keeps a zero score as 0 (checked on 7.0.15)
    if score in (float("inf"), float("-inf")):
        return b"inf" if score > 0 else b"-inf"
    return (b"%.17g" % score)


def object_digest(kind: str, value: object, has_expire: bool,
                  start: bytes = bytes(20)) -> bytes:
    digest = _mix(start, _TYPE_CODES[kind].to_bytes(4, "big"))
    if kind == "string":
        assert isinstance(value, bytes)
        digest = _mix(digest, value)
    elif kind == "list":
        assert isinstance(value, list)
        for item in value:
            digest = _mix(digest, item)
    elif kind == "set":
        assert isinstance(value, set | frozenset)
        for member in value:
            digest = _xor(digest, member)
    elif kind == "zset":
        assert isinstance(value, dict)
        for member, score in value.items():
            element = _mix(_mix(bytes(20), member), score_text(score))
            digest = _xor(digest, element)
    elif kind == "hash":
        assert isinstance(value, dict)
        for field, val in value.items():
            element = _mix(_mix(bytes(20), field), val)
            digest = _xor(digest, element)
    elif kind == "stream":
        # Live entries in ID order: "<ms>.<seq>", then each field and value (groups are
        # not part of it, as in Redis).
        assert isinstance(value, StreamData)
        for raw_master, blob in value.nodes:
            for entry_id, flags, pairs in stream_node_entries(raw_master, blob):
                if flags & STREAM_ITEM_FLAG_DELETED:
                    continue
                digest = _mix(digest, b"%d.%d" % entry_id)
                for item in pairs:
                    digest = _mix(digest, item)
    if has_expire:
        digest = _xor(digest, _EXPIRE_MARK)
    return digest


def dataset_digest(databases: list[Database]) -> str:
    """DEBUG DIGEST (computeDatasetDigest): per database that has keys, its index mixed
    in, then each key's digest (the key mixed in first, then its value as above) XORed
    in as a SHA-1, so the order of keys within a database does not matter. Forty zeros
    for an empty dataset. Keys past their deadline count only once deleted in Redis
    (which still holds them until then); AiKv counts the live keys."""
    final = bytes(20)
    for index, db in enumerate(databases):
        entries = list(db.iter_keys())
        if not entries:
            continue
        final = _mix(final, index.to_bytes(4, "big"))
        for mk, meta in entries:
            key = db.key_of(mk)
            kind, value = read_value(db, key, meta)
            key_digest = object_digest(kind, value, meta[1:9] != NO_EXPIRE,
                                       start=_mix(bytes(20), key))
            final = _xor(final, key_digest)
    return final.hex()


def digest_value(db: Database, key: bytes) -> str:
    """Hex digest of the key's value; forty zeros when the key does not exist."""
    meta = db.get_meta(key)
    if meta is None:
        return ZERO_DIGEST
    kind, value = read_value(db, key, meta)
    return object_digest(kind, value, meta[1:9] != NO_EXPIRE).hex()
