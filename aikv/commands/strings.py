"""String commands: GET/SET and friends, counters, ranges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikv.commands.args import (
    NOT_INTEGER,
    SYNTAX,
    add_long_double,
    format_long_double,
    parse_expire_option,
    parse_int,
    parse_long_double,
)
from aikv.commands.keys import deletion
from aikv.commands.registry import command
from aikv.notify import GENERIC, STRING
from aikv.persist.layout import (
    NO_EXPIRE,
    RAW_STRING_HEADER,
    STRING_CODES,
    STRING_HEADER,
    TYPE_STRING,
    TYPE_STRING_TEXT,
    as_raw_string,
    encode_string_meta,
    with_string_code,
)
from aikv.replication.propagate import propagate_as
from aikv.resp import (
    NULL3,
    NULL_BULK,
    OK,
    ZERO,
    CommandError,
    bulk,
    bulk_array,
    integer,
)

if TYPE_CHECKING:
    from aikv.client import Client

MAX_STRING = 512 * 1024 * 1024
_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


@command("get", 2, "readonly fast", keys=(1, 1, 1), categories="@read @string @fast")
def get(client: Client, argv: list[bytes]) -> bytes:
    meta = client.db.get_meta(argv[1])  # Database.get_string, inline
    if meta is None:
        return NULL3 if client.resp3 else NULL_BULK
    if meta[0] not in STRING_CODES:
        raise CommandError(_WRONGTYPE)
    return b"$%d\r\n%s\r\n" % (len(meta) - 9, meta[9:])


def _expire_at(client: Client, unit: bytes, raw: bytes, command_name: str) -> int:
    """Absolute ms deadline from an EX/PX/EXAT/PXAT option, with Redis's checks."""
    value = parse_expire_option(raw, command_name)
    now = client.server.clock.now_ms
    if unit == b"EX":
        ms = value * 1000
        at = now + ms
    elif unit == b"PX":
        ms = value
        at = now + ms
    elif unit == b"EXAT":
        ms = value * 1000
        at = ms
    else:
        ms = value
        at = ms
    if ms > (2**63 - 1) or at > (2**63 - 1):
        raise CommandError(f"ERR invalid expire time in '{command_name}' command")
    return at


@command("set", -3, "write denyoom", keys=(1, 1, 1), categories="@write @string @slow")
def set_(client: Client, argv: list[bytes]) -> bytes:
    key, value = argv[1], argv[2]
    db = client.db
    if len(argv) == 3:
        db.put_meta(key, STRING_HEADER + value)
        if db.events.flags & STRING:
            db.notify(STRING, b"set", key)
        return OK
    nx = xx = get_old = keep_ttl = False
    expire_unit: bytes | None = None
    expire_raw = b""
    i = 3
    while i < len(argv):
        opt = argv[i].upper()
        has_next = i + 1 < len(argv)
        if opt == b"NX" and not xx:
            nx = True
        elif opt == b"XX" and not nx:
            xx = True
        elif opt == b"GET":
            get_old = True
        elif opt == b"KEEPTTL" and expire_unit is None:
            keep_ttl = True
        elif opt in (b"EX", b"PX", b"EXAT", b"PXAT") and expire_unit in (None, opt) \
                and not keep_ttl and has_next:  # a repeat is allowed: the last value counts
            expire_unit = opt
            expire_raw = argv[i + 1]
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    expire_at = _expire_at(client, expire_unit, expire_raw, "set") if expire_unit else 0
    meta = db.read_meta(key) if get_old else db.get_meta(key)
    if get_old and meta is not None and meta[0] not in STRING_CODES:
        raise CommandError(_WRONGTYPE)
    old_value = meta[9:] if meta is not None else None
    null = NULL3 if client.resp3 else NULL_BULK
    if (nx and meta is not None) or (xx and meta is None):
        propagate_as(client)  # nothing was set
        return (bulk(old_value) if old_value is not None else null) if get_old else null
    if keep_ttl and meta is not None and meta[1:9] != NO_EXPIRE:
        expire_at = int.from_bytes(meta[1:9], "big")
    db.set_string(key, value, expire_at)
    db.notify(STRING, b"set", key)
    if expire_unit:  # KEEPTTL keeps a deadline without announcing one
        db.notify(GENERIC, b"expire", key)
        # Replicas run this later: a relative TTL would end later there. The deadline
        # goes as an absolute one, whatever the option's form.
        propagate_as(client, _set_pxat(key, value, expire_at))
    elif get_old:
        # GET only shapes the reply: replicas get the SET without it.
        propagate_as(client, argv[:3] + [a for a in argv[3:] if a.lower() != b"get"])
    if get_old:
        return bulk(old_value) if old_value is not None else null
    return OK


def _set_pxat(key: bytes, value: bytes, expire_at: int) -> list[bytes]:
    """What SET with an expiry (and SETEX, PSETEX) sends to replicas."""
    return [b"SET", key, value, b"PXAT", b"%d" % expire_at]


@command("setnx", 3, "write denyoom fast", keys=(1, 1, 1), categories="@write @string @fast")
def setnx(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    if db.exists(argv[1]):
        propagate_as(client)
        return ZERO
    db.set_string(argv[1], argv[2])
    db.notify(STRING, b"set", argv[1])
    return integer(1)


def _set_with_ttl(client: Client, argv: list[bytes], unit: bytes, name: str) -> bytes:
    expire_at = _expire_at(client, unit, argv[2], name)
    db = client.db
    db.set_string(argv[1], argv[3], expire_at)
    db.notify(STRING, b"set", argv[1])
    db.notify(GENERIC, b"expire", argv[1])
    propagate_as(client, _set_pxat(argv[1], argv[3], expire_at))
    return OK


@command("setex", 4, "write denyoom", keys=(1, 1, 1), categories="@write @string @slow")
def setex(client: Client, argv: list[bytes]) -> bytes:
    return _set_with_ttl(client, argv, b"EX", "setex")


@command("psetex", 4, "write denyoom", keys=(1, 1, 1), categories="@write @string @slow")
def psetex(client: Client, argv: list[bytes]) -> bytes:
    return _set_with_ttl(client, argv, b"PX", "psetex")


@command("getset", 3, "write denyoom fast", keys=(1, 1, 1), categories="@write @string @fast")
def getset(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    old = db.get_string(argv[1])
    db.set_string(argv[1], argv[2])
    db.notify(STRING, b"set", argv[1])
    propagate_as(client, [b"SET", argv[1], argv[2]])  # what it amounts to, as Redis sends it
    if old is None:
        return NULL3 if client.resp3 else NULL_BULK
    return bulk(old)


@command("getdel", 2, "write fast", keys=(1, 1, 1), categories="@write @string @fast")
def getdel(client: Client, argv: list[bytes]) -> bytes:
    old = client.db.get_string(argv[1])
    if old is None:
        propagate_as(client)
        return NULL3 if client.resp3 else NULL_BULK
    client.db.delete(argv[1])
    client.db.notify(GENERIC, b"del", argv[1])
    propagate_as(client, deletion(client, argv[1], "lazyfree-lazy-user-del"))
    return bulk(old)


@command("getex", -2, "write fast", keys=(1, 1, 1), categories="@write @string @fast")
def getex(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    key = argv[1]
    # As Redis: the options' syntax first, then the key, its type, and only then the
    # expire value. An option may repeat (the last value counts), but not mix with another
    # expiry option or PERSIST.
    expire_unit: bytes | None = None
    expire_raw = b""
    persist = False
    i = 2
    while i < len(argv):
        opt = argv[i].upper()
        if opt in (b"EX", b"PX", b"EXAT", b"PXAT") and expire_unit in (None, opt) \
                and not persist and i + 1 < len(argv):
            expire_unit, expire_raw = opt, argv[i + 1]
            i += 2
        elif opt == b"PERSIST" and expire_unit is None:
            persist = True
            i += 1
        else:
            raise CommandError(SYNTAX)
    meta = db.read_meta(key)
    if meta is None:
        propagate_as(client)
        return NULL3 if client.resp3 else NULL_BULK
    if meta[0] not in STRING_CODES:
        raise CommandError(_WRONGTYPE)
    value = meta[9:]
    expire_at = _expire_at(client, expire_unit, expire_raw, "getex") if expire_unit else None
    # Replicas never get GETEX itself: its effect (a deadline, a deletion, PERSIST) or
    # nothing when it only read.
    if expire_at is not None:
        if expire_at <= client.server.clock.now_ms:  # only EXAT/PXAT can be in the past
            db.delete(key)
            db.notify(GENERIC, b"del", key)
            propagate_as(client, deletion(client, key, "lazyfree-lazy-expire"))
        else:
            db.set_expire(key, expire_at)
            db.notify(GENERIC, b"expire", key)
            propagate_as(client, [b"PEXPIREAT", key, b"%d" % expire_at])
    elif persist and db.expire_of(key):
        db.set_expire(key, 0)
        db.notify(GENERIC, b"persist", key)
        propagate_as(client, [b"PERSIST", key])
    else:
        propagate_as(client)
    return bulk(value)


@command("mget", -2, "readonly fast", keys=(1, -1, 1), categories="@read @string @fast")
def mget(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    values: list[bytes | None] = []
    for key in argv[1:]:
        meta = db.get_meta(key)
        values.append(meta[9:] if meta is not None and meta[0] in STRING_CODES else None)
    return bulk_array(values, client.resp3)


@command("mset", -3, "write denyoom", keys=(1, -1, 2), categories="@write @string @slow")
def mset(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'mset' command")
    db = client.db
    for i in range(1, len(argv), 2):
        db.set_string(argv[i], argv[i + 1])
        db.notify(STRING, b"set", argv[i])
    return OK


@command("msetnx", -3, "write denyoom", keys=(1, -1, 2), categories="@write @string @slow")
def msetnx(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'msetnx' command")
    db = client.db
    for i in range(1, len(argv), 2):
        if db.exists(argv[i]):
            propagate_as(client)
            return ZERO
    for i in range(1, len(argv), 2):
        db.set_string(argv[i], argv[i + 1])
        db.notify(STRING, b"set", argv[i])
    return integer(1)


def _check_size(size: int) -> None:
    if size > MAX_STRING:
        raise CommandError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")


@command("append", 3, "write denyoom fast", keys=(1, 1, 1), categories="@write @string @fast")
def append(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    key = argv[1]
    meta = db.get_meta(key)
    if meta is None:
        db.set_string(key, argv[2])
        db.notify(STRING, b"append", key)
        return integer(len(argv[2]))
    if meta[0] not in STRING_CODES:
        raise CommandError(_WRONGTYPE)
    new_len = len(meta) - 9 + len(argv[2])
    _check_size(new_len)
    db.update_meta(key, as_raw_string(meta) + argv[2])  # raw from now on, as in Redis
    db.notify(STRING, b"append", key)
    return integer(new_len)


@command("strlen", 2, "readonly fast", keys=(1, 1, 1), categories="@read @string @fast")
def strlen(client: Client, argv: list[bytes]) -> bytes:
    value = client.db.get_string(argv[1])
    return integer(0 if value is None else len(value))


def _incr(client: Client, key: bytes, delta: int) -> bytes:
    db = client.db
    meta = db.get_meta(key)
    if meta is None:
        current = 0
    else:
        if meta[0] not in STRING_CODES:
            raise CommandError(_WRONGTYPE)
        current = parse_int(meta[9:])
    result = current + delta
    if result > 2**63 - 1 or result < -(2**63):
        raise CommandError("ERR increment or decrement would overflow")
    raw = b"%d" % result
    if meta is None:
        db.set_string(key, raw)
    else:  # a new object in Redis, even where the old one was raw
        db.update_meta(key, with_string_code(meta[:9], TYPE_STRING) + raw)
    db.notify(STRING, b"incrby", key)
    return integer(result)


@command("incr", 2, "write denyoom fast", keys=(1, 1, 1), categories="@write @string @fast")
def incr(client: Client, argv: list[bytes]) -> bytes:
    return _incr(client, argv[1], 1)


@command("decr", 2, "write denyoom fast", keys=(1, 1, 1), categories="@write @string @fast")
def decr(client: Client, argv: list[bytes]) -> bytes:
    return _incr(client, argv[1], -1)


@command("incrby", 3, "write denyoom fast", keys=(1, 1, 1), categories="@write @string @fast")
def incrby(client: Client, argv: list[bytes]) -> bytes:
    return _incr(client, argv[1], parse_int(argv[2]))


@command("decrby", 3, "write denyoom fast", keys=(1, 1, 1), categories="@write @string @fast")
def decrby(client: Client, argv: list[bytes]) -> bytes:
    delta = parse_int(argv[2])
    if delta == -(2**63):
        raise CommandError("ERR decrement would overflow")
    return _incr(client, argv[1], -delta)


@command("incrbyfloat", 3, "write denyoom fast", keys=(1, 1, 1),
         categories="@write @string @fast")
def incrbyfloat(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    key = argv[1]
    meta = db.get_meta(key)
    # Redis checks the type and reads the current value before the increment.
    if meta is None:
        current = parse_long_double(b"0")
    else:
        if meta[0] not in STRING_CODES:
            raise CommandError(_WRONGTYPE)
        current = parse_long_double(meta[9:])
    increment = parse_long_double(argv[2])
    raw = format_long_double(add_long_double(current, increment))
    # Redis makes the result from its text with no integer check: embstr or raw, never int.
    if meta is None:
        db.put_meta(key, with_string_code(STRING_HEADER, TYPE_STRING_TEXT) + raw)
    else:
        db.update_meta(key, with_string_code(meta[:9], TYPE_STRING_TEXT) + raw)
    db.notify(STRING, b"incrbyfloat", key)
    # The result, not the increment: a replica's long double arithmetic or formatting
    # must not decide the value.
    propagate_as(client, [b"SET", key, raw, b"KEEPTTL"])
    return bulk(raw)


@command("getrange", 4, "readonly", keys=(1, 1, 1), categories="@read @string @slow")
def getrange(client: Client, argv: list[bytes]) -> bytes:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    value = client.db.get_string(argv[1])
    if value is None:
        return b"$0\r\n\r\n"
    return bulk(_substring(value, start, end))


def _substring(value: bytes, start: int, end: int) -> bytes:
    n = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start += n
    if end < 0:
        end += n
    start = max(start, 0)
    end = max(end, 0)
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b""
    return value[start : end + 1]


@command("substr", 4, "readonly", keys=(1, 1, 1), categories="@read @string @slow")
def substr(client: Client, argv: list[bytes]) -> bytes:
    return getrange(client, argv)


@command("setrange", 4, "write denyoom", keys=(1, 1, 1), categories="@write @string @slow")
def setrange(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    key = argv[1]
    offset = parse_int(argv[2])
    patch = argv[3]
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    meta = db.get_meta(key)
    if meta is None:
        if not patch:
            return ZERO
        _check_size(offset + len(patch))
        client.server.store.ensure_room(offset)
        db.put_meta(key, RAW_STRING_HEADER + bytes(offset) + patch)
        db.notify(STRING, b"setrange", key)
        return integer(offset + len(patch))
    if meta[0] not in STRING_CODES:
        raise CommandError(_WRONGTYPE)
    value = meta[9:]
    if not patch:
        return integer(len(value))
    _check_size(offset + len(patch))
    if offset + len(patch) > len(value):
        # The zero padding can be far bigger than the request before_write() sized.
        client.server.store.ensure_room(offset + len(patch) - len(value))
    if offset > len(value):
        value = value + bytes(offset - len(value))
    value = value[:offset] + patch + value[offset + len(patch) :]
    db.update_meta(key, as_raw_string(meta[:9]) + value)
    db.notify(STRING, b"setrange", key)
    return integer(len(value))


# NOT_INTEGER and encode_string_meta are re-exported for the other string-like families.
__all__ = ["NOT_INTEGER", "encode_string_meta"]
