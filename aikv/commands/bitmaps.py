"""Bitmap commands over string values: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
BITFIELD_RO, with Redis 7.0's argument order, error texts and edge cases.

Bits are numbered as in Redis: bit 0 is the most significant bit of byte 0, and a string
is an infinite run of zero bits past its end. A string is stored whole in its meta record
(layout.py), so a write rewrites the value: SETBIT costs O(length) here where Redis's is
O(1). Counting and searching run over whole byte ranges at C speed (int.bit_count,
bytes.lstrip), never bit by bit in Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikv.commands.args import SYNTAX, parse_int
from aikv.commands.registry import command
from aikv.notify import GENERIC, STRING
from aikv.persist.layout import (
    RAW_STRING_HEADER,
    STRING_CODES,
    TYPE_STRING_RAW,
    as_raw_string,
)
from aikv.rdbsave import count_changes
from aikv.resp import NULL3, NULL_BULK, ONE, ZERO, CommandError, array, integer

if TYPE_CHECKING:
    from aikv.client import Client

_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
_BAD_OFFSET = "ERR bit offset is not an integer or out of range"
_BAD_BIT = "ERR bit is not an integer or out of range"
_BAD_TYPE = ("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not "
             "supported but i64 is.")
_U64 = (1 << 64) - 1


def _int64(value: int) -> int:
    """`value` reduced to a two's complement int64, as a C cast to int64_t does."""
    value &= _U64
    return value - (1 << 64) if value >> 63 else value


def _bit_offset(client: Client, raw: bytes, field_bits: int = 0) -> int:
    """A bit offset argument. In BITFIELD (`field_bits` > 0) "#n" means the n-th field of
    that width. Offsets whose byte would lie at or past proto-max-bulk-len are refused,
    as are negative ones (a "#n" product that overflows int64 is checked after the
    wrap, as Redis does)."""
    by_field = field_bits > 0 and raw[:1] == b"#"
    offset = parse_int(raw[1:] if by_field else raw, _BAD_OFFSET)
    if by_field:
        offset = _int64(offset * field_bits)
    if offset < 0 or (offset >> 3) >= client.server.config.values["proto-max-bulk-len"]:
        raise CommandError(_BAD_OFFSET)
    return offset


class _Writable:
    """A string value being edited by a bit command: created, or zero-padded so that
    `max_bit` is addressable (Redis's lookupStringForBitCommand). `grown` is Redis's
    `dirty`: the key was created or lengthened, which counts as a change even when no
    bit flips. Like Redis's, the edited string is raw from then on (TYPE_STRING_RAW), even
    when nothing in it changes."""

    __slots__ = ("db", "key", "header", "value", "grown", "raw")

    def __init__(self, client: Client, key: bytes, max_bit: int) -> None:
        db = client.db
        meta = db.get_meta(key)
        if meta is not None and meta[0] not in STRING_CODES:
            raise CommandError(_WRONGTYPE)
        self.raw = meta is not None and meta[0] == TYPE_STRING_RAW
        need = (max_bit >> 3) + 1
        if meta is None:
            self.header = None
            current = 0
        else:
            self.header = meta[:9]
            current = len(meta) - 9
        self.grown = meta is None or need > current
        if self.grown:
            # Ahead of the write: the padding can be far bigger than the request.
            client.server.store.ensure_room(max(need - current, 0))
        self.value = bytearray(meta[9:] if meta is not None else b"")
        if need > current:
            self.value.extend(bytes(need - current))
        self.db = db
        self.key = key

    def save(self, signal: bool = True) -> None:
        """Store the value. `signal` False: BITFIELD whose every write failed (OVERFLOW
        FAIL) still keeps the created or padded string, as Redis does, but Redis then
        counts no change and tells neither WATCH nor client tracking."""
        if self.header is None:
            self.db.put_meta(self.key, RAW_STRING_HEADER + bytes(self.value), touch=signal)
        else:
            self.db.update_meta(self.key, as_raw_string(self.header) + self.value,
                                touch=signal)

    def unchanged(self) -> None:
        """No bit changed and nothing grew: Redis still made the string raw before the
        edit, silently (no WATCH or tracking signal)."""
        if not self.raw:
            self.save(signal=False)


# --------------------------------------------------------------------- SETBIT / GETBIT
@command("setbit", 4, "write denyoom", keys=(1, 1, 1), categories="@write @bitmap @slow")
def setbit(client: Client, argv: list[bytes]) -> bytes:
    offset = _bit_offset(client, argv[2])
    on = parse_int(argv[3], _BAD_BIT)
    if on & ~1:
        raise CommandError(_BAD_BIT)
    target = _Writable(client, argv[1], offset)
    byte, mask = offset >> 3, 0x80 >> (offset & 7)
    old = target.value[byte] & mask
    if target.grown or bool(old) != bool(on):
        if on:
            target.value[byte] |= mask
        else:
            target.value[byte] &= ~mask & 0xFF
        target.save()
        client.db.notify(STRING, b"setbit", argv[1])
    else:
        target.unchanged()
        count_changes(client.server, 0)
    return ONE if old else ZERO


@command("getbit", 3, "readonly fast", keys=(1, 1, 1), categories="@read @bitmap @fast")
def getbit(client: Client, argv: list[bytes]) -> bytes:
    offset = _bit_offset(client, argv[2])
    value = client.db.get_string(argv[1])
    byte = offset >> 3
    if value is None or byte >= len(value):
        return ZERO
    return ONE if value[byte] & (0x80 >> (offset & 7)) else ZERO


# --------------------------------------------------------------------- ranges
def _bit_range(length: int, start: int, end: int, unit: bytes | None) -> tuple[int, int]:
    """The inclusive bit range [first, last] that start/end select in a string of
    `length` bytes (`unit` b"BIT" or b"BYTE"/None), with Redis's index rules: negative
    indexes count from the end, both are clamped into the string; first > last means
    the range is empty."""
    bit_unit = unit == b"BIT"
    total = length * 8 if bit_unit else length
    if start < 0:
        start += total
    if end < 0:
        end += total
    start = max(start, 0)
    end = max(end, 0)
    end = min(end, total - 1)
    if start > end:
        return 1, 0
    if bit_unit:
        return start, end
    return start * 8, end * 8 + 7


def _range_unit(raw: bytes) -> bytes:
    unit = raw.upper()
    if unit not in (b"BIT", b"BYTE"):
        raise CommandError(SYNTAX)
    return unit


def _edge_mask(first: int, last: int) -> tuple[int, int, int]:
    """(first byte, last byte, mask) where the mask keeps, in the big-endian integer of
    bytes first..last, exactly the bits first..last."""
    first_byte, last_byte = first >> 3, last >> 3
    width = (last_byte - first_byte + 1) * 8
    low = first - first_byte * 8        # bits to drop at the front
    high = last_byte * 8 + 7 - last     # bits to drop at the back
    mask = ((1 << (width - low)) - 1) & ~((1 << high) - 1)
    return first_byte, last_byte, mask


@command("bitcount", -2, "readonly", keys=(1, 1, 1), categories="@read @bitmap @slow")
def bitcount(client: Client, argv: list[bytes]) -> bytes:
    # Redis 7.0 looks the key up before it reads the range arguments: a missing key
    # answers 0 whatever follows it.
    value = client.db.get_string(argv[1])
    if value is None:
        return ZERO
    argc = len(argv)
    if argc == 2:
        first, last = 0, len(value) * 8 - 1
    elif argc in (4, 5):
        start, end = parse_int(argv[2]), parse_int(argv[3])
        if start < 0 and end < 0 and start > end:
            return ZERO
        unit = _range_unit(argv[4]) if argc == 5 else None
        first, last = _bit_range(len(value), start, end, unit)
    else:
        raise CommandError(SYNTAX)
    if first > last:
        return ZERO
    first_byte, last_byte, mask = _edge_mask(first, last)
    chunk = int.from_bytes(value[first_byte : last_byte + 1], "big")
    return integer((chunk & mask).bit_count())


def _find_bit(value: bytes, bit: int, first: int, last: int) -> int:
    """Absolute position of the first bit equal to `bit` in [first, last], or -1."""
    flip = 0 if bit else 0xFF  # after XOR with it, a wanted bit is a 1
    skip = b"\xff" if flip else b"\x00"
    first_byte, last_byte = first >> 3, last >> 3
    i = first_byte
    while i <= last_byte:
        byte = value[i] ^ flip
        if i == first_byte:
            byte &= 0xFF >> (first & 7)
        if i == last_byte:
            byte &= (0xFF << (7 - (last & 7))) & 0xFF
        if byte:
            return i * 8 + 8 - byte.bit_length()
        if i == first_byte and last_byte - i > 1:
            # Whole bytes that cannot hold the bit are skipped in one C-level scan.
            middle = value[i + 1 : last_byte]
            i += 1 + len(middle) - len(middle.lstrip(skip))
        else:
            i += 1
    return -1


@command("bitpos", -3, "readonly", keys=(1, 1, 1), categories="@read @bitmap @slow")
def bitpos(client: Client, argv: list[bytes]) -> bytes:
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    value = client.db.get_string(argv[1])
    if value is None:
        # An absent key is an endless run of zeros.
        return integer(-1 if bit else 0)
    argc = len(argv)
    end_given = argc >= 5
    if argc == 3:
        first, last = 0, len(value) * 8 - 1
    elif argc in (4, 5, 6):
        start = parse_int(argv[3])
        unit = _range_unit(argv[5]) if argc == 6 else None
        if end_given:
            end = parse_int(argv[4])
        else:
            end = len(value) * 8 + 7 if unit == b"BIT" else len(value) - 1
        first, last = _bit_range(len(value), start, end, unit)
    else:
        raise CommandError(SYNTAX)
    if first > last:
        return integer(-1)  # an empty range holds neither a 0 nor a 1
    found = _find_bit(value, bit, first, last)
    if found < 0 and bit == 0 and not end_given:
        # Without an explicit end the string counts as zero-padded on the right.
        found = last + 1
    return integer(found)


# --------------------------------------------------------------------- BITOP
@command("bitop", -4, "write denyoom", keys=(2, -1, 1), categories="@write @bitmap @slow")
def bitop(client: Client, argv: list[bytes]) -> bytes:
    op = argv[1].upper()
    if op not in (b"AND", b"OR", b"XOR", b"NOT"):
        raise CommandError(SYNTAX)
    if op == b"NOT" and len(argv) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    db = client.db
    sources = [db.get_string(key) or b"" for key in argv[3:]]
    size = max(map(len, sources))
    dest = argv[2]
    if not size:
        if db.delete(dest):
            db.notify(GENERIC, b"del", dest)
        return ZERO
    # Each source as one big-endian integer, zero-padded on the right to `size` bytes.
    numbers = [int.from_bytes(s, "big") << (8 * (size - len(s))) for s in sources]
    result = numbers[0]
    if op == b"NOT":
        result = ~result & ((1 << (8 * size)) - 1)
    elif op == b"AND":
        for n in numbers[1:]:
            result &= n
    elif op == b"OR":
        for n in numbers[1:]:
            result |= n
    else:
        for n in numbers[1:]:
            result ^= n
    db.put_meta(dest, RAW_STRING_HEADER + result.to_bytes(size, "big"))  # raw, as in Redis
    db.notify(STRING, b"set", dest)
    return integer(size)


# --------------------------------------------------------------------- BITFIELD
_WRAP, _SAT, _FAIL = 0, 1, 2
_OVERFLOW = {b"WRAP": _WRAP, b"SAT": _SAT, b"FAIL": _FAIL}
_GET, _SET, _INCRBY = 0, 1, 2
_OPCODES = {b"GET": (_GET, 2), b"SET": (_SET, 3), b"INCRBY": (_INCRBY, 3)}


def _field_type(raw: bytes) -> tuple[bool, int]:
    """(signed, width) of "i1".."i64" / "u1".."u63" (lower case only, as in Redis)."""
    sign = raw[:1]
    if sign not in (b"i", b"u"):
        raise CommandError(_BAD_TYPE)
    width = parse_int(raw[1:], _BAD_TYPE)
    signed = sign == b"i"
    if width < 1 or width > (64 if signed else 63):
        raise CommandError(_BAD_TYPE)
    return signed, width


def _get_field(value: bytes | bytearray, offset: int, width: int, signed: bool) -> int:
    first_byte, last_byte = offset >> 3, (offset + width - 1) >> 3
    chunk = bytes(value[first_byte : last_byte + 1])
    span = last_byte - first_byte + 1
    if len(chunk) < span:
        chunk += bytes(span - len(chunk))  # past the end of the string: zeros
    shift = span * 8 - (offset & 7) - width
    field = (int.from_bytes(chunk, "big") >> shift) & ((1 << width) - 1)
    if signed and field >> (width - 1):
        field -= 1 << width
    return field


def _set_field(value: bytearray, offset: int, width: int, field: int) -> None:
    """Store the low `width` bits of `field` (two's complement for negatives)."""
    first_byte, last_byte = offset >> 3, (offset + width - 1) >> 3
    span = last_byte - first_byte + 1
    shift = span * 8 - (offset & 7) - width
    mask = ((1 << width) - 1) << shift
    chunk = int.from_bytes(value[first_byte : last_byte + 1], "big")
    chunk = (chunk & ~mask) | ((field << shift) & mask)
    value[first_byte : last_byte + 1] = chunk.to_bytes(span, "big")


def _unsigned_overflow(value: int, incr: int, width: int, mode: int) -> tuple[bool, int]:
    """Redis's checkUnsignedBitfieldOverflow with its C integer semantics: `value` is a
    uint64 (a SET of a negative number arrives as a huge one), `incr` an int64; returns
    (overflowed, value to store if the mode stores one)."""
    top = (1 << width) - 1
    max_incr = _int64(top - value)
    min_incr = _int64(-value)
    if value > top or (incr > 0 and incr > max_incr):
        limit = top
    elif incr < 0 and incr < min_incr:
        limit = 0
    else:
        return False, 0
    if mode == _WRAP:
        limit = (value + incr) & top
    return True, limit


def _signed_overflow(value: int, incr: int, width: int, mode: int) -> tuple[bool, int]:
    """Redis's checkSignedBitfieldOverflow, including its int64 wrap-around in the
    increment bounds (which decides, e.g., SET i8 of INT64_MIN under SAT: 127)."""
    top = (1 << 63) - 1 if width == 64 else (1 << (width - 1)) - 1
    bottom = -top - 1
    max_incr = _int64(top - value)
    min_incr = _int64(bottom - value)
    if (value > top or (width != 64 and incr > max_incr)
            or (value >= 0 and incr > 0 and incr > max_incr)):
        limit = top
    elif (value < bottom or (width != 64 and incr < min_incr)
            or (value < 0 and incr < 0 and incr < min_incr)):
        limit = bottom
    else:
        return False, 0
    if mode == _WRAP:
        wrapped = (value + incr) & ((1 << width) - 1)
        limit = wrapped - (1 << width) if wrapped >> (width - 1) else wrapped
    return True, limit


def _bitfield(client: Client, argv: list[bytes], read_only: bool) -> bytes:
    # Every operation is parsed (and any error raised) before the key is touched.
    ops: list[tuple[int, bool, int, int, int, int]] = []
    mode = _WRAP
    max_bit = -1
    i, argc = 2, len(argv)
    while i < argc:
        name = argv[i].upper()
        remaining = argc - i - 1
        if name == b"OVERFLOW" and remaining >= 1:
            chosen = _OVERFLOW.get(argv[i + 1].upper())
            if chosen is None:
                raise CommandError("ERR Invalid OVERFLOW type specified")
            mode = chosen
            i += 2
            continue
        spec = _OPCODES.get(name)
        if spec is None or remaining < spec[1]:
            raise CommandError(SYNTAX)
        opcode = spec[0]
        signed, width = _field_type(argv[i + 1])
        offset = _bit_offset(client, argv[i + 2], width)
        amount = 0
        if opcode != _GET:
            max_bit = max(max_bit, offset + width - 1)
            amount = parse_int(argv[i + 3])
        ops.append((opcode, signed, width, offset, amount, mode))
        i += 1 + spec[1]
    value: bytes | bytearray
    target: _Writable | None = None
    if max_bit < 0:
        value = client.db.get_string(argv[1]) or b""
    else:
        if read_only:
            raise CommandError("ERR BITFIELD_RO only supports the GET subcommand")
        target = _Writable(client, argv[1], max_bit)
        value = target.value
    replies: list[bytes] = []
    changed = False
    changes = 0  # writes that grew the string or changed a field (Redis notifies then)
    for opcode, signed, width, offset, amount, op_mode in ops:
        if opcode == _GET:
            replies.append(integer(_get_field(value, offset, width, signed)))
            continue
        assert isinstance(value, bytearray)
        old = _get_field(value, offset, width, signed)
        if signed:
            if opcode == _INCRBY:
                overflow, limit = _signed_overflow(old, amount, width, op_mode)
                new = limit if overflow else old + amount
                answer = new
            else:
                overflow, limit = _signed_overflow(amount, 0, width, op_mode)
                new = limit if overflow else amount
                answer = old
        else:
            if opcode == _INCRBY:
                overflow, limit = _unsigned_overflow(old, amount, width, op_mode)
                new = limit if overflow else old + amount
                answer = new
            else:
                overflow, limit = _unsigned_overflow(amount & _U64, 0, width, op_mode)
                new = limit if overflow else amount
                answer = old
        if overflow and op_mode == _FAIL:
            replies.append(NULL3 if client.resp3 else NULL_BULK)
            continue
        replies.append(integer(answer))
        _set_field(value, offset, width, new)
        changed = changed or new != old
        if target is not None and (target.grown or new != old):
            changes += 1
    if target is not None:
        if changed or target.grown:
            target.save(signal=changes > 0)
        else:
            target.unchanged()
    if changes:
        client.db.notify(STRING, b"setbit", argv[1])
    if not read_only and changes != 1:
        count_changes(client.server, changes)  # Redis counts each changed field
    return array(replies)


@command("bitfield", -2, "write denyoom", keys=(1, 1, 1), categories="@write @bitmap @slow")
def bitfield(client: Client, argv: list[bytes]) -> bytes:
    return _bitfield(client, argv, read_only=False)


@command("bitfield_ro", -2, "readonly fast", keys=(1, 1, 1),
         categories="@read @bitmap @fast")
def bitfield_ro(client: Client, argv: list[bytes]) -> bytes:
    return _bitfield(client, argv, read_only=True)

