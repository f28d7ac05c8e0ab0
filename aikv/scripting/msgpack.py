"""`cmsgpack`: the MessagePack library Redis 7.0 loads into its Lua state (lua-cmsgpack
0.4.0, deps/lua/src/lua_cmsgpack.c), with the same bytes out and the same errors.

What that version does, and so what this module does:
- A number is an integer when a cast to int64 gives it back (so -0 packs as 0); it is
  packed in the smallest msgpack integer type for its range. Any other number is a
  32-bit float when a float round trip gives it back, else a 64-bit double.
- Strings use fixstr / str8 / str16 / str32 (0xa0-0xbf, 0xd9, 0xda, 0xdb); bin and ext
  types are never written, and reading them is "Bad data format in input.".
- A table is an array when its keys are exactly 1..n (the empty table too), else a map
  whose pairs are written in next() order. Tables nested 16 deep are packed as nil, as
  are functions and userdata (cjson.null).
- Decoded integers become Lua numbers through a C int64 (uint64 values past 2^63 wrap
  to negative numbers).

Lua's C stack limit (LUAI_MAXCSTACK, 8000 slots) is part of the behaviour: a script
that unpacks thousands of values, or a very deep structure, gets "stack overflow (...)".
The encoder and decoder track how many slots the C code would be using to raise it at
the same point.
"""

from __future__ import annotations

import struct
from typing import Any

from aikv.scripting.runtime import Runtime
from aikv.scripting.stdlib import Lib, _lib_table
from aikv.scripting.values import LuaTable, new_model, stored_key

NAME = b"cmsgpack"
VERSION = b"lua-cmsgpack 0.4.0"
COPYRIGHT = b"Copyright (C) 2012, Salvatore Sanfilippo"
DESCRIPTION = b"MessagePack C implementation for Lua"

MAX_NESTING = 16      # LUACMSGPACK_MAX_NESTING: deeper tables are packed as nil
MAXCSTACK = 8000      # LUAI_MAXCSTACK: the slots a C function may use on Lua's stack
_INT_MAX = 2**31 - 1

MISSING_BYTES = "Missing bytes in input."
BAD_FORMAT = "Bad data format in input."
TOO_MANY_VALUES = ("stack overflow (too many return values at once; use unpack_one or "
                   "unpack_limit instead.)")

_float32 = struct.Struct(">f")
_float64 = struct.Struct(">d")


class CodecError(Exception):
    """A luaL_error raised by the codec: args[0] is the message (without position)."""


# ------------------------------------------------------------------------------ encoding
def _float32_bytes(v: float) -> bytes | None:
    """The float (big-endian) that a C cast of `v` gives, or None when that cast
    overflows to infinity (Python refuses to pack it; C would give an inf that is not
    equal to the finite `v` anyway)."""
    try:
        return _float32.pack(v)
    except OverflowError:
        return None


def encode_number(v: float, out: bytearray) -> None:
    """mp_encode_lua_number: `(int64_t)v == v` picks the integer encodings; is_integer()
    is false for inf and nan, and the range check stands for the cast (out of range,
    x86-64 gives INT64_MIN, which only -2^63 itself equals)."""
    if -9.223372036854775808e18 <= v < 9.223372036854775808e18 and v.is_integer():
        encode_int(int(v), out)
        return
    f = _float32_bytes(v)
    if f is not None and _float32.unpack(f)[0] == v:  # never true for nan
        out.append(0xCA)
        out += f
    else:
        out.append(0xCB)
        out += _float64.pack(v)


def encode_int(n: int, out: bytearray) -> None:
    """mp_encode_int: the smallest type for the value, unsigned types for n >= 0."""
    if n >= 0:
        if n <= 0x7F:
            out.append(n)                                    # positive fixint
        elif n <= 0xFF:
            out += b"\xcc" + n.to_bytes(1, "big")
        elif n <= 0xFFFF:
            out += b"\xcd" + n.to_bytes(2, "big")
        elif n <= 0xFFFFFFFF:
            out += b"\xce" + n.to_bytes(4, "big")
        else:
            out += b"\xcf" + n.to_bytes(8, "big")
    elif n >= -32:
        out.append(n & 0xFF)                                 # negative fixint
    elif n >= -128:
        out += b"\xd0" + n.to_bytes(1, "big", signed=True)
    elif n >= -32768:
        out += b"\xd1" + n.to_bytes(2, "big", signed=True)
    elif n >= -(2**31):
        out += b"\xd2" + n.to_bytes(4, "big", signed=True)
    else:
        out += b"\xd3" + n.to_bytes(8, "big", signed=True)


def encode_bytes(s: bytes, out: bytearray) -> None:
    """mp_encode_bytes: the str family (lua-cmsgpack 0.4.0 predates bin8/16/32)."""
    n = len(s)
    if n < 32:
        out.append(0xA0 | n)
    elif n <= 0xFF:
        out += b"\xd9" + n.to_bytes(1, "big")
    elif n <= 0xFFFF:
        out += b"\xda" + n.to_bytes(2, "big")
    else:
        # A string past 4 GiB would keep only the low 32 bits of its length, as in C.
        out += b"\xdb" + (n & 0xFFFFFFFF).to_bytes(4, "big")
    out += s


def _container_header(n: int, fix: int, code16: int, out: bytearray) -> None:
    """mp_encode_array / mp_encode_map: fix (n <= 15), 16-bit or 32-bit count."""
    if n <= 15:
        out.append(fix | n)
    elif n <= 0xFFFF:
        out.append(code16)
        out += n.to_bytes(2, "big")
    else:
        out.append(code16 + 1)
        out += (n & 0xFFFFFFFF).to_bytes(4, "big")


def _is_array(items: list[tuple[Any, Any]]) -> bool:
    """table_is_an_array: every key a number in 1..INT_MAX with an integral value (the C
    compares the key with its cast to int), and the largest equal to the key count: the
    keys are then exactly 1..n. An empty table counts as an array."""
    top = 0
    for k, _ in items:
        if type(k) is not float or not 1.0 <= k <= _INT_MAX or not k.is_integer():
            return False
        if k > top:
            top = int(k)
    return top == len(items)


def encode_value(v: Any, out: bytearray, level: int = 0, top: int = 1) -> None:
    """mp_encode_lua_type for the value on top of Lua's stack; `level` is the table
    nesting so far and `top` the stack slots in use, the value's own included."""
    t = type(v)
    if t is bytes:
        encode_bytes(v, out)
    elif t is float:
        encode_number(v, out)
    elif t is bool:
        out.append(0xC3 if v else 0xC2)
    elif t is LuaTable and level < MAX_NESTING:
        _encode_table(v, out, level, top)
    else:
        # nil, functions, userdata, and tables past the nesting limit (which keeps
        # tables that contain themselves finite).
        out.append(0xC0)


def _encode_table(t: LuaTable, out: bytearray, level: int, top: int) -> None:
    # table_is_an_array walks the table with a key and a value pushed on the stack.
    if top + 2 > MAXCSTACK:
        raise CodecError("stack overflow (in function table_is_an_array)")
    items = t.items()  # next() order, as lua_next visits the pairs
    if _is_array(items):
        # Keys exactly 1..n: #t is n (the only border), and lua_gettable finds each value
        # without a metamethod. Each element is encoded with its index replaced by it.
        n = len(items)
        _container_header(n, 0x90, 0xDC, out)
        get = t.get
        for j in range(1, n + 1):
            encode_value(get(float(j)), out, level + 1, top + 1)
        return
    # The map walk keeps the key, the value and a copy of the key on the stack.
    if top + 3 > MAXCSTACK:
        raise CodecError("stack overflow (in function mp_encode_lua_table_as_map)")
    _container_header(len(items), 0x80, 0xDE, out)
    for k, v in items:
        encode_value(k, out, level + 1, top + 3)
        encode_value(v, out, level + 1, top + 2)


def pack(values: tuple[Any, ...] | list[Any]) -> bytes:
    """mp_pack of these arguments (at least one, at most MAXCSTACK / 2): their encodings
    one after another. The i-th value is encoded with the arguments and the i-1 strings
    already made on the stack, plus its own copy."""
    out = bytearray()
    nargs = len(values)
    for i, v in enumerate(values):
        encode_value(v, out, 0, nargs + i + 1)
    return bytes(out)


# ------------------------------------------------------------------------------ decoding
class _Open:
    """A table being filled by the decoder: mp_decode_to_lua_array / _hash in a loop
    instead of a C recursion (deep input would exhaust Python's stack first).

    lua_settable gives a new key its slot even when the value stored is nil, which can
    resize the table and so change #t and the pairs() order. AiKv's tables replay only
    the keys they hold, so when a nil is stored the table gets a layout replayed from
    every store instead (see finish). One case stays out of reach: a string key stored
    as nil and then again with a value gets its old node back unless Lua's collector
    marked that key dead in between, and when that happens depends on the collector
    (Redis itself answers either way); the replay assumes it did not run."""

    __slots__ = ("table", "is_array", "left", "base", "index", "key", "has_key", "nils",
                 "stores")

    def __init__(self, table: LuaTable, is_array: bool, left: int, base: int) -> None:
        self.table = table
        self.is_array = is_array
        self.left = left          # elements (pairs for a map) still to read
        self.base = base          # stack slots in use below the table
        self.index = 1            # the next array index
        self.key: Any = None      # a map key read, its value not yet
        self.has_key = False
        self.nils: list[int] = []  # array indices given nil
        # A map's stores: (key as stored, held a non-nil value before, value is nil).
        self.stores: list[tuple[Any, bool, bool]] = []

    def store(self, value: Any) -> None:
        """lua_settable of the pending key (the next index for an array)."""
        t = self.table
        if self.is_array:
            if value is None:
                self.nils.append(self.index)
            t.set(float(self.index), value)
            self.index += 1
            return
        key = self.key
        present = t.get(key) is not None
        t.set(key, value)                 # a nil or NaN key: Lua's error, raised here
        self.stores.append((stored_key(key), present, value is None))
        self.key, self.has_key = None, False

    def finish(self) -> LuaTable:
        t = self.table
        if self.nils or any(nil for _, _, nil in self.stores):
            model = new_model()
            if self.is_array:
                nils = set(self.nils)
                for i in range(1, self.index):
                    model.assign(float(i), False, i in nils)
            else:
                for key, present, nil in self.stores:
                    model.assign(key, present, nil)
            t.adopt_model(model)
        return t


# Codes -> the size of the integer, or of the length or count field, that follows.
_UINT = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
_INT = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
_STR = {0xD9: 1, 0xDA: 2, 0xDB: 4}                  # length field sizes
_ARRAY = {0xDC: 2, 0xDD: 4}
_MAP = {0xDE: 2, 0xDF: 4}


def decode_value(data: bytes, pos: int, top: int) -> tuple[Any, int]:
    """mp_decode_to_lua_type: one value starting at data[pos], with `top` stack slots in
    use. Returns (value, next position); CodecError for truncated or unknown input, or
    when the C code would run out of stack. Errors from storing into a table (a nil or
    NaN map key) come from LuaTable.set as Lua raises them, at the same point."""
    n = len(data)
    open_tables: list[_Open] = []
    while True:
        # ---- read one item at `pos`; its value will take the slot above `top`
        if pos >= n:
            raise CodecError(MISSING_BYTES)
        if top + 1 > MAXCSTACK:
            raise CodecError(TOO_MANY_VALUES)
        code = data[pos]
        count = -1               # >= 0: a container header with this many elements
        is_array = False
        value: Any = None
        if code <= 0x7F:                                    # positive fixint
            value = float(code)
            pos += 1
        elif code >= 0xE0:                                  # negative fixint
            value = float(code - 256)
            pos += 1
        elif code >= 0xA0 and code <= 0xBF:                 # fixstr
            end = pos + 1 + (code & 0x1F)
            if end > n:
                raise CodecError(MISSING_BYTES)
            value = data[pos + 1:end]
            pos = end
        elif code >= 0x80 and code <= 0x9F:                 # fixmap, fixarray
            count = code & 0x0F
            is_array = code >= 0x90
            pos += 1
        elif code == 0xC0:
            pos += 1
        elif code == 0xC2 or code == 0xC3:
            value = code == 0xC3
            pos += 1
        elif code in _UINT or code in _INT:
            size = _UINT.get(code) or _INT[code]
            if pos + 1 + size > n:
                raise CodecError(MISSING_BYTES)
            raw = int.from_bytes(data[pos + 1:pos + 1 + size], "big", signed=code in _INT)
            # uint 64 goes through lua_pushinteger's signed int64, like int 64.
            if raw >= 2**63:
                raw -= 2**64
            value = float(raw)  # rounds to nearest, as the C conversion does
            pos += 1 + size
        elif code == 0xCA or code == 0xCB:
            size = 4 if code == 0xCA else 8
            if pos + 1 + size > n:
                raise CodecError(MISSING_BYTES)
            codec = _float32 if size == 4 else _float64
            value = codec.unpack_from(data, pos + 1)[0]
            pos += 1 + size
        elif code in _STR:
            width = _STR[code]
            if pos + 1 + width > n:
                raise CodecError(MISSING_BYTES)
            start = pos + 1 + width
            end = start + int.from_bytes(data[pos + 1:start], "big")
            if end > n:
                raise CodecError(MISSING_BYTES)
            value = data[start:end]
            pos = end
        elif code in _ARRAY or code in _MAP:
            width = _ARRAY.get(code) or _MAP[code]
            if pos + 1 + width > n:
                raise CodecError(MISSING_BYTES)
            count = int.from_bytes(data[pos + 1:pos + 1 + width], "big")
            is_array = code in _ARRAY
            pos += 1 + width
        else:
            # 0xc1 and the bin / ext types (0xc4-0xc9, 0xd4-0xd8): unknown to 0.4.0.
            raise CodecError(BAD_FORMAT)

        if count >= 0:
            table = LuaTable()
            if is_array:
                # The array loop asks for a slot for the index, above the new table.
                if top + 2 > MAXCSTACK:
                    raise CodecError("stack overflow (in function mp_decode_to_lua_array)")
                if count:
                    open_tables.append(_Open(table, True, count, top))
                    top += 2              # the table and the pushed index
                    continue
            elif count:
                open_tables.append(_Open(table, False, count, top))
                top += 1                  # the table; the key comes next
                continue
            value = table

        # ---- hand the value to the tables it completes, until one wants more
        while open_tables:
            o = open_tables[-1]
            if not o.is_array and not o.has_key:
                o.key, o.has_key = value, True
                top = o.base + 2          # the table and the key: the value comes next
                break
            o.store(value)
            o.left -= 1
            if o.left:
                top = o.base + (2 if o.is_array else 1)
                break
            open_tables.pop()
            value = o.finish()
        else:
            return value, pos


def unpack(data: bytes, offset: int = 0, limit: int | None = None,
           top: int = 1) -> tuple[list[Any], int]:
    """The decoding loop of mp_unpack_full: up to `limit` values (None: all of them)
    from data[offset:], with `top` stack slots in use by the arguments. Returns the
    values and the offset after the last one. The caller has checked offset and limit."""
    values: list[Any] = []
    pos = offset
    n = len(data)
    if limit is None:
        limit = _INT_MAX
    while pos < n and len(values) < limit:
        value, pos = decode_value(data, pos, top + len(values))
        values.append(value)
    return values, pos


# ------------------------------------------------------------------------------ library
def _c_int(n: int) -> int:
    """The value a C (int) cast keeps: the low 32 bits, signed."""
    return ((n + 2**31) & 0xFFFFFFFF) - 2**31


def _to_integer(v: float) -> int:
    """lua_tointeger on x86-64: truncation toward zero; nan and anything past int64
    become INT64_MIN."""
    if v != v or not -9.223372036854775808e18 <= v < 9.223372036854775808e18:
        return -(2**63)
    return int(v)


def install_cmsgpack(rt: Runtime) -> LuaTable:
    L = Lib(rt)

    def check_integer(args: tuple[Any, ...], i: int, fname: str) -> int:
        return _to_integer(L.check_num(args, i, fname))

    def opt_integer(args: tuple[Any, ...], i: int, fname: str) -> int:
        if i >= len(args) or args[i] is None:
            return 0
        return check_integer(args, i, fname)

    def pack_(*args: Any) -> list[Any]:
        if not args:
            raise L.argerror(0, "pack", "MessagePack pack needs input.")
        # lua_checkstack(L, nargs): room for as many values again as are passed.
        if 2 * len(args) > MAXCSTACK:
            raise L.argerror(0, "pack", "Too many arguments for MessagePack pack.")
        try:
            return [pack(args)]
        except CodecError as exc:
            raise rt.error(exc.args[0]) from None

    def unpack_full(args: tuple[Any, ...], fname: str, limit: int, offset: int,
                    top: int) -> list[Any]:
        s = L.check_str(args, 0, fname)
        if offset < 0 or limit < 0:
            # The C formats the input length where it announces the limit.
            raise rt.error("Invalid request to unpack with offset of %d and limit of %d."
                           % (_c_int(offset), _c_int(len(s))))
        if offset > len(s):
            raise rt.error("Start offset %d greater than input length %d."
                           % (_c_int(offset), _c_int(len(s))))
        # unpack(), and unpack_limit(s, 0) or unpack_limit(s, 0, 0) alike: every value,
        # no offset returned. Otherwise a limit of 0 reads nothing.
        decode_all = not limit and not offset
        try:
            values, pos = unpack(s, offset, None if decode_all else limit, top)
            if decode_all:
                return values
            # One more slot for the next offset, returned first.
            if top + len(values) + 1 > MAXCSTACK:
                raise CodecError("stack overflow (in function mp_unpack_full)")
        except CodecError as exc:
            raise rt.error(exc.args[0]) from None
        return [-1.0 if pos == len(s) else float(pos), *values]

    def unpack_(*args: Any) -> list[Any]:
        # mp_unpack keeps every argument it was given on the stack.
        return unpack_full(args, "unpack", 0, 0, len(args))

    def unpack_one(*args: Any) -> list[Any]:
        offset = opt_integer(args, 1, "unpack_one")  # checked before the string
        return unpack_full(args[:1], "unpack_one", 1, offset, 1)

    def unpack_limit(*args: Any) -> list[Any]:
        limit = check_integer(args, 1, "unpack_limit")
        offset = opt_integer(args, 2, "unpack_limit")
        return unpack_full(args[:1], "unpack_limit", limit, offset, 1)

    lib = _lib_table({"pack": pack_, "unpack": unpack_, "unpack_one": unpack_one,
                      "unpack_limit": unpack_limit})
    lib.hash[b"_NAME"] = NAME
    lib.hash[b"_VERSION"] = VERSION
    lib.hash[b"_COPYRIGHT"] = COPYRIGHT
    lib.hash[b"_DESCRIPTION"] = DESCRIPTION
    return lib

