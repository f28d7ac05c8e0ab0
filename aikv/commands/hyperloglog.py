"""PFADD, PFCOUNT, PFMERGE and PFDEBUG over HyperLogLog strings (aikv/hyperloglog.py
holds the format). Replies, error texts and the stored bytes are Redis 7.0's.

PFCOUNT of one key stores the cardinality it computed in the value's header, as Redis
does, so it writes even though it is a read command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikv import hyperloglog as hll
from aikv.commands.registry import command
from aikv.notify import STRING
from aikv.persist.layout import RAW_STRING_HEADER, STRING_CODES, TYPE_STRING_RAW, as_raw_string
from aikv.resp import OK, ONE, ZERO, CommandError, array, bulk, integer, simple

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.keyspace import Database

_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
_NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."
_CORRUPT = "INVALIDOBJ Corrupted HLL object detected"


def _load(db: Database, key: bytes) -> tuple[bytes | None, bytearray | None]:
    """(meta header, HLL bytes) of `key`, or (None, None) if it does not exist; errors
    for a non-string or a string that is not a HyperLogLog."""
    meta = db.get_meta(key)
    if meta is None:
        return None, None
    if meta[0] not in STRING_CODES:
        raise CommandError(_WRONGTYPE)
    value = meta[9:]
    if not hll.is_hll(value):
        raise CommandError(_NOT_HLL)
    return meta[:9], bytearray(value)


def _save(db: Database, key: bytes, header: bytes | None, value: bytearray) -> None:
    """Store an edited HLL. Like Redis, which edits its own copy of the string (created
    or unshared before any change), the value is a raw string from then on."""
    if header is None:
        db.put_meta(key, RAW_STRING_HEADER + value)
    else:
        db.update_meta(key, as_raw_string(header) + value)  # keeps the TTL


def _unshare(db: Database, key: bytes, header: bytes, value: bytearray) -> None:
    """The value is left as it was, but Redis made its string raw (unshared it) before
    looking: do the same, silently (no WATCH or tracking signal)."""
    if header[0] != TYPE_STRING_RAW:
        db.update_meta(key, as_raw_string(header) + value, touch=False)


def _max_bytes(client: Client) -> int:
    return int(client.server.config.values["hll-sparse-max-bytes"])


@command("pfselftest", 1, "admin", categories="@hyperloglog @admin @slow @dangerous")
def pfselftest(client: Client, argv: list[bytes]) -> bytes:
    failure = hll.self_test()
    if failure is not None:
        raise CommandError(failure)
    return OK


@command("pfadd", -2, "write denyoom fast", keys=(1, 1, 1),
         categories="@write @hyperloglog @fast")
def pfadd(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    key = argv[1]
    header, value = _load(db, key)
    updated = False
    if value is None:
        value = hll.new_sparse()
        updated = True
    max_bytes = _max_bytes(client)
    try:
        for element in argv[2:]:
            if hll.add(value, element, max_bytes):
                updated = True
    except hll.InvalidHll:
        if updated:  # Redis edits in place: what changed before the bad opcode stays
            _save(db, key, header, value)
        elif header is not None:
            _unshare(db, key, header, value)
        raise CommandError(_CORRUPT) from None
    if updated:
        hll.invalidate_card(value)
        _save(db, key, header, value)
        db.notify(STRING, b"pfadd", key)
    elif header is not None:
        _unshare(db, key, header, value)
    return ONE if updated else ZERO


@command("pfcount", -2, "readonly may-replicate", keys=(1, -1, 1),
         categories="@read @hyperloglog @slow")
def pfcount(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    if len(argv) > 2:
        # The union's cardinality; nothing is cached.
        maxima = [0] * hll.REGISTERS
        for key in argv[1:]:
            _, value = _load(db, key)
            if value is None:
                continue
            try:
                hll.merge_into(maxima, value)
            except hll.InvalidHll:
                raise CommandError(_CORRUPT) from None
        return integer(hll.estimate(hll.histogram_of(maxima)))
    header, value = _load(db, argv[1])
    if value is None or header is None:
        return ZERO
    card = hll.cached_card(value)
    if card is None:
        try:
            card = hll.estimate(hll.histogram(value))
        except hll.InvalidHll:
            _unshare(db, argv[1], header, value)
            raise CommandError(_CORRUPT) from None
        hll.set_cached_card(value, card)
        _save(db, argv[1], header, value)
    else:
        _unshare(db, argv[1], header, value)
    return integer(card)


@command("pfmerge", -2, "write denyoom", keys=(1, -1, 1),
         categories="@write @hyperloglog @slow")
def pfmerge(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    maxima = [0] * hll.REGISTERS
    use_dense = False
    dest_header: bytes | None = None
    dest: bytearray | None = None
    # The destination is read (and checked) first, like every source.
    for position, key in enumerate(argv[1:]):
        header, value = _load(db, key)
        if position == 0:
            dest_header, dest = header, value
        if value is None:
            continue
        use_dense = use_dense or value[4] == hll.DENSE
        try:
            hll.merge_into(maxima, value)
        except hll.InvalidHll:
            raise CommandError(_CORRUPT) from None
    if dest is None:
        dest = hll.new_sparse()
    max_bytes = _max_bytes(client)
    try:
        if use_dense:
            hll.to_dense(dest)
        # Register by register, in order, as Redis writes them: the sparse bytes depend
        # on that order.
        for index, register in enumerate(maxima):
            if register:
                if dest[4] == hll.DENSE:
                    hll.dense_set(dest, index, register)
                else:
                    hll.sparse_set(dest, index, register, max_bytes)
    except hll.InvalidHll:
        raise CommandError(_CORRUPT) from None
    hll.invalidate_card(dest)
    _save(db, argv[1], dest_header, dest)
    db.notify(STRING, b"pfadd", argv[1])
    return OK


@command("pfdebug", 3, "write denyoom admin", keys=(2, 2, 1),
         categories="@write @hyperloglog @admin @slow @dangerous")
def pfdebug(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    name = argv[1].decode(errors="replace")
    header, value = _load(db, argv[2])
    if value is None or header is None:
        raise CommandError("ERR The specified key does not exist")
    _unshare(db, argv[2], header, value)  # before the subcommand is even checked, as Redis
    sub = argv[1].lower()
    if sub not in (b"getreg", b"decode", b"encoding", b"todense"):
        raise CommandError(f"ERR Unknown PFDEBUG subcommand '{name}'")
    if sub == b"encoding":
        return simple(b"dense" if value[4] == hll.DENSE else b"sparse")
    if sub == b"decode":
        if value[4] != hll.SPARSE:
            raise CommandError("ERR HLL encoding is not sparse")
        return bulk(hll.describe_sparse(value))
    converted = value[4] == hll.SPARSE
    if converted:
        try:
            hll.to_dense(value)
        except hll.InvalidHll:
            raise CommandError(_CORRUPT) from None
        _save(db, argv[2], header, value)
    if sub == b"todense":
        return ONE if converted else ZERO
    return array([integer(r) for r in hll.dense_registers(value)])
