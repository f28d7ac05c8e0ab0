"""The cmsgpack and struct codecs on bytes (known encodings, taken from redis-server
7.0.15), and the two libraries as scripts see them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from aikv.scripting import luastruct, msgpack
from aikv.scripting.msgpack import CodecError
from aikv.scripting.values import LuaError, LuaTable, table_from_list
from tests.unit.lua_helpers import run, value


def packed(*values: Any) -> bytes:
    return msgpack.pack(values)


def table(**fields: Any) -> LuaTable:
    t = LuaTable()
    for k, v in fields.items():
        t.set(k.encode(), v)
    return t


# ------------------------------------------------------------------------ msgpack encode
@pytest.mark.parametrize(("n", "hexed"), [
    (0, "00"), (127, "7f"), (128, "cc80"), (255, "ccff"), (256, "cd0100"),
    (65535, "cdffff"), (65536, "ce00010000"), (2**32 - 1, "ceffffffff"),
    (2**32, "cf0000000100000000"), (2**63 - 1024, "cf7ffffffffffffc00"),
    (-1, "ff"), (-32, "e0"), (-33, "d0df"), (-128, "d080"), (-129, "d1ff7f"),
    (-32768, "d18000"), (-32769, "d2ffff7fff"), (-(2**31), "d280000000"),
    (-(2**31) - 1, "d3ffffffff7fffffff"), (-(2**63), "d38000000000000000"),
])
def test_pack_integers(n: int, hexed: str) -> None:
    assert packed(float(n)).hex() == hexed


@pytest.mark.parametrize(("x", "hexed"), [
    (0.5, "ca3f000000"), (-0.0, "00"), (1e300, "cb7e37e43c8800759c"),
    (math.inf, "ca7f800000"), (-math.inf, "caff800000"),
    (2.0**63, "ca5f000000"), (2.0**64, "ca5f800000"), (1e20, "cb4415af1d78b58c40"),
    (1e39, "cb48078287f49c4a1d"), (3.4028234663852886e38, "ca7f7fffff"),
    (1.401298464324817e-45, "ca00000001"), (1e-45, "cb3696d601ad376ab9"),
    (-(2.0**63) - 2048, "cbc3e0000000000001"),
])
def test_pack_non_integers(x: float, hexed: str) -> None:
    assert packed(x).hex() == hexed


def test_pack_nan_keeps_its_sign_as_a_double() -> None:
    assert packed(-math.nan).hex() == "cbfff8000000000000"
    assert packed(math.nan).hex() == "cb7ff8000000000000"


@pytest.mark.parametrize(("n", "header"), [
    (0, "a0"), (31, "bf"), (32, "d920"), (255, "d9ff"), (256, "da0100"),
    (65535, "daffff"), (65536, "db00010000"),
])
def test_pack_string_headers(n: int, header: str) -> None:
    out = packed(b"x" * n)
    assert out.hex().startswith(header)
    assert len(out) == len(header) // 2 + n


def test_pack_scalars_and_unsupported_types() -> None:
    assert packed(None, True, False, print, object()).hex() == "c0c3c2c0c0"


def test_pack_tables() -> None:
    assert packed(LuaTable()).hex() == "90"
    assert packed(table_from_list([1.0, 2.0, 3.0])).hex() == "93010203"
    assert packed(table_from_list([float(i) for i in range(16)])).hex().startswith("dc0010")
    assert packed(table(a=1.0)).hex() == "81a16101"
    holes = LuaTable()
    holes.set(1.0, b"a")
    holes.set(3.0, b"c")
    assert packed(holes).hex() == "8201a16103a163"      # keys 1 and 3: a map
    zero = LuaTable()
    zero.set(0.0, True)
    assert packed(zero).hex() == "8100c3"
    big = LuaTable()
    big.set(2.0**31, True)                               # past INT_MAX: not an index
    assert packed(big).hex() == "81ce80000000c3"
    big_map = LuaTable()
    for i in range(16):
        big_map.set(b"k%d" % i, float(i))
    assert packed(big_map).hex().startswith("de0010")


def test_pack_map_pairs_follow_next_order() -> None:
    t = LuaTable()
    for key in (b"alpha", b"beta", b"gamma", b"delta", b"eps"):
        t.set(key, float(len(key)))
    body = packed(t)[1:]
    expected = bytearray()
    for k, v in t.items():
        msgpack.encode_value(k, expected)
        msgpack.encode_value(v, expected)
    assert body == bytes(expected)


def test_pack_nesting_limit_packs_nil() -> None:
    inner: Any = b"leaf"
    for _ in range(17):
        inner = table_from_list([inner])
    assert packed(inner).hex() == "91" * 16 + "c0"
    loop = LuaTable()
    loop.set(1.0, loop)
    assert packed(loop).hex() == "91" * 16 + "c0"


def test_pack_stack_room_for_a_table() -> None:
    args = [1.0] * 3999 + [LuaTable()]
    with pytest.raises(CodecError, match=r"in function table_is_an_array"):
        msgpack.pack(args)
    assert msgpack.pack(args[1:]).endswith(b"\x90")


# ------------------------------------------------------------------------ msgpack decode
def decoded(data: bytes) -> Any:
    v, pos = msgpack.decode_value(data, 0, 1)
    assert pos == len(data)
    return v


@pytest.mark.parametrize(("data", "expected"), [
    ("00", 0.0), ("7f", 127.0), ("e0", -32.0), ("ff", -1.0), ("cc80", 128.0),
    ("d080", -128.0), ("cdffff", 65535.0), ("d1fffe", -2.0), ("ceffffffff", 4294967295.0),
    ("d280000000", -2147483648.0), ("cf0000000100000000", 4294967296.0),
    ("cfffffffffffffffff", -1.0), ("cf8000000000000001", -9.223372036854775807e18),
    ("d38000000000000000", -(2.0**63)), ("d37fffffffffffffff", 2.0**63),
    ("ca3fc00000", 1.5), ("cb3ff8000000000000", 1.5), ("c0", None), ("c2", False),
    ("c3", True), ("a3616263", b"abc"), ("d903616263", b"abc"), ("da00026869", b"hi"),
    ("db000000026869", b"hi"), ("a0", b""),
])
def test_unpack_scalars(data: str, expected: Any) -> None:
    got = decoded(bytes.fromhex(data))
    assert type(got) is type(expected)
    assert got == expected


def test_unpack_containers() -> None:
    arr = decoded(bytes.fromhex("93c00203"))
    assert isinstance(arr, LuaTable) and arr.get(1.0) is None and arr.get(3.0) == 3.0
    m = decoded(bytes.fromhex("82a16101a162" "91c3"))
    assert m.get(b"a") == 1.0 and m.get(b"b").get(1.0) is True
    for empty in ("90", "80", "dc0000", "dd00000000", "de0000", "df00000000"):
        assert decoded(bytes.fromhex(empty)).items() == []
    nested_key = decoded(bytes.fromhex("81" "9101" "02"))
    ((k, v),) = nested_key.items()
    assert k.get(1.0) == 1.0 and v == 2.0


@pytest.mark.parametrize("data", ["cd01", "d9", "d902aa", "dc00", "dc000201", "81a161",
                                  "cb3ff80000", "db00000003aa", "ca", "92c0"])
def test_unpack_missing_bytes(data: str) -> None:
    with pytest.raises(CodecError, match=r"^Missing bytes in input\.$"):
        msgpack.unpack(bytes.fromhex(data))


@pytest.mark.parametrize("code", [0xC1, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xD4, 0xD5,
                                  0xD6, 0xD7, 0xD8])
def test_unpack_bin_and_ext_are_bad_format(code: int) -> None:
    with pytest.raises(CodecError, match=r"^Bad data format in input\.$"):
        msgpack.unpack(bytes([0x91, code, 0, 0, 0, 0]))


def test_unpack_nil_and_nan_map_keys_are_lua_errors() -> None:
    with pytest.raises(LuaError, match="table index is nil"):
        msgpack.unpack(bytes.fromhex("81c001"))
    with pytest.raises(LuaError, match="table index is NaN"):
        msgpack.unpack(bytes.fromhex("81cbfff800000000000000" "01"))
    # A truncated value is found before the key is stored.
    with pytest.raises(CodecError, match="Missing bytes"):
        msgpack.unpack(bytes.fromhex("81c0"))


def test_unpack_stream_offsets_and_limits() -> None:
    data = packed(1.0, b"two", 3.0)
    assert msgpack.unpack(data) == ([1.0, b"two", 3.0], 6)
    assert msgpack.unpack(data, 0, 1) == ([1.0], 1)
    assert msgpack.unpack(data, 1, 1) == ([b"two"], 5)
    assert msgpack.unpack(data, 5, 10) == ([3.0], 6)
    assert msgpack.unpack(data, 1, 0) == ([], 1)


def test_unpack_stack_limits() -> None:
    assert len(msgpack.unpack(b"\x01" * 7999)[0]) == 7999
    with pytest.raises(CodecError, match=r"too many return values at once"):
        msgpack.unpack(b"\x01" * 8000)
    with pytest.raises(CodecError, match=r"too many return values at once"):
        msgpack.unpack(b"\x01" * 7999, top=2)
    deep = b"\x91" * 3999 + b"\x01"
    v = msgpack.unpack(deep)[0][0]
    for _ in range(3999):
        v = v.get(1.0)
    assert v == 1.0
    with pytest.raises(CodecError, match=r"in function mp_decode_to_lua_array"):
        msgpack.unpack(b"\x91" * 4000 + b"\x01")


@pytest.mark.parametrize(("data", "length", "keys"), [
    # (input, #t, pairs() order) as redis-server 7.0.15 gives them: the nils take slots
    # that resize the table, as lua_settable does for a new key.
    ("9801c003c005c00708", 8, [1.0, 3.0, 5.0, 7.0, 8.0]),
    ("93c0c003", 0, [3.0]),
    ("9401c00304", 4, [1.0, 3.0, 4.0]),
    ("85010102c0030304040505", 5, [1.0, 3.0, 4.0, 5.0]),
    ("88a161c0a16201a163c0a16402a165c0a16603a167c0a16804", 0, [b"h", b"d", b"f", b"b"]),
])
def test_unpacked_nils_take_slots(data: str, length: int, keys: list[Any]) -> None:
    t = decoded(bytes.fromhex(data))
    assert t.length() == length
    assert [k for k, _ in t.items()] == keys


def test_round_trip_of_nested_data() -> None:
    t = table(a=table_from_list([1.0, b"x", table(b=True)]), n=-2.5)
    again = decoded(packed(t))
    assert packed(again) == packed(t)


# ------------------------------------------------------------------------ struct
@pytest.mark.parametrize(("fmt", "args", "hexed"), [
    (b"b", [1.0], "01"), (b"b", [-1.0], "ff"), (b"B", [256.0], "00"),
    (b">h", [1.0], "0001"), (b"<h", [-2.0], "feff"), (b">H", [65535.0], "ffff"),
    (b">l", [-1.0], "ffffffffffffffff"), (b">L", [2.0**64], "0000000000000000"),
    (b">L", [math.inf], "0000000000000000"), (b">L", [math.nan], "8000000000000000"),
    (b">L", [2.0**63 + 4096], "8000000000001000"), (b">l", [-1e300], "8000000000000000"),
    (b">l", [-3.7], "fffffffffffffffd"), (b">L", [-3.7], "fffffffffffffffd"),
    (b"<i16", [-1.0], "ff" * 8 + "00" * 8), (b">i16", [-2.0], "00" * 8 + "ff" * 7 + "fe"),
    (b">I3", [2.0**24 + 5], "000005"), (b"i", [1.0], "01000000"),
    (b">f", [1e39], "7f800000"), (b">f", [-1e39], "ff800000"), (b"<d", [0.1],
                                                                "9a9999999999b93f"),
    (b"bxh", [1.0, 2.0], "01000200"), (b"!bi", [1.0, 2.0], "0100000002000000"),
    (b"!2bi", [1.0, 2.0], "010002000000"), (b"!bi3", [1.0, 2.0], "010000020000"),
    (b"c", [b"abc"], "61"), (b"c0", [b"abc"], "616263"), (b"s", [b"ab"], "616200"),
    (b"b b", [1.0, 2.0], "0102"), (b"b\0b", [1.0], "01"), (b"b", [b"0x10"], "10"),
])
def test_struct_pack(fmt: bytes, args: list[Any], hexed: str) -> None:
    assert luastruct.pack(fmt, args).hex() == hexed


@pytest.mark.parametrize(("fmt", "args", "error", "text"), [
    (b"bb", [1.0], luastruct.ArgError, (3, b"number expected, got nil")),
    (b"b", [b"x"], luastruct.ArgError, (2, b"number expected, got string")),
    (b"bc3", [1.0, b"ab"], luastruct.ArgError, (4, b"string too short")),
    (b"=b", [1.0], luastruct.ArgError, (1, b"invalid format option '='")),
    (b"!3b", [1.0], luastruct.FormatError, ("alignment 3 is not a power of 2",)),
    (b"i33", [1.0], luastruct.FormatError, ("integral size 33 is larger than limit of 32",)),
    (b"i99999999999", [1.0], luastruct.FormatError, ("integral size overflow",)),
])
def test_struct_pack_errors(fmt: bytes, args: list[Any], error: type[Exception],
                            text: tuple[Any, ...]) -> None:
    with pytest.raises(error) as info:
        luastruct.pack(fmt, args)
    assert info.value.args == text


@pytest.mark.parametrize(("fmt", "data", "expected"), [
    (b"b", b"\xff", [-1.0, 2.0]), (b"B", b"\xff", [255.0, 2.0]),
    (b">h", b"\xff\xfe", [-2.0, 3.0]), (b"<L", b"\xff" * 8, [1.8446744073709552e19, 9.0]),
    (b"<i9", b"\x80" + bytes(8), [-128.0, 10.0]), (b">i9", bytes(8) + b"\x80", [-128.0, 10.0]),
    (b"<i9", b"\x01" + bytes(8), [1.0, 10.0]), (b"<i0", b"a", [0.0, 1.0]),
    (b">f", b"\x3f\xc0\x00\x00", [1.5, 5.0]), (b"bxb", b"abc", [97.0, 99.0, 4.0]),
    (b"c2", b"abc", [b"ab", 3.0]), (b"bc0", b"\x02abc", [b"ab", 4.0]),
    (b"c1c0", b"2abc", [b"ab", 4.0]), (b"s", b"ab\x00c", [b"ab", 4.0]),
    (b"!bi", b"\x01\x00\x00\x00\x02\x00\x00\x00", [1.0, 2.0, 9.0]), (b"", b"", [1.0]),
])
def test_struct_unpack(fmt: bytes, data: bytes, expected: list[Any]) -> None:
    assert luastruct.unpack(fmt, data) == expected


def test_struct_unpack_positions_and_errors() -> None:
    assert luastruct.unpack(b"b", b"abcd", 3) == [99.0, 4.0]
    assert luastruct.unpack(b"", b"abcd", -5) == [-5.0]   # a size_t wraps around
    with pytest.raises(luastruct.ArgError) as info:
        luastruct.unpack(b"b", b"abcd", 0)
    assert info.value.args == (3, b"offset must be 1 or greater")
    with pytest.raises(luastruct.ArgError) as info:
        luastruct.unpack(b"b", b"abcd", -1)
    assert info.value.args == (2, b"data string too short")
    with pytest.raises(luastruct.FormatError, match="needs a previous size"):
        luastruct.unpack(b"c0", b"abc")
    with pytest.raises(luastruct.FormatError, match="unfinished string in data"):
        luastruct.unpack(b"s", b"abc")
    with pytest.raises(luastruct.FormatError, match=r"stack overflow \(too many results\)"):
        luastruct.unpack(b"b" * 7998, b"a" * 7998)
    assert len(luastruct.unpack(b"b" * 7997, b"a" * 7997)) == 7998


@pytest.mark.parametrize(("fmt", "n"), [
    (b"", 0), (b"bhlT", 19), (b"i", 4), (b"i7", 7), (b"c", 1), (b"c10", 10),
    (b"z4!4bi", 8), (b"bi", 5), (b"!bi", 8), (b"!2bi", 6), (b"!bd", 16), (b"!bi3", 6),
    (b"!4bi3", 6), (b"q", 0),
])
def test_struct_size(fmt: bytes, n: int) -> None:
    assert luastruct.size(fmt) == n


def test_struct_size_errors() -> None:
    for fmt, text in [(b"s", b"option 's' has no fixed size"),
                      (b"c0", b"option 'c0' has no fixed size"),
                      (b"=", b"invalid format option '='")]:
        with pytest.raises(luastruct.ArgError) as info:
            luastruct.size(fmt)
        assert info.value.args == (1, text)


# ------------------------------------------------------------------------ in scripts
def test_libraries_in_scripts() -> None:
    assert value("return cmsgpack._VERSION") == b"lua-cmsgpack 0.4.0"
    assert value("return cmsgpack.unpack(cmsgpack.pack({a = {1, 2}})).a[2]") == b"2"
    assert value("return select(2, cmsgpack.unpack_one(cmsgpack.pack(7, 8)))") == b"7"
    assert value("return cmsgpack.unpack_one(cmsgpack.pack(7, 8))") == b"1"
    assert value("return struct.unpack('>h', struct.pack('>h', -300))") == b"-300"
    assert value("return struct.size('!4bi')") == b"8"


def test_library_errors_in_scripts() -> None:
    reply = run("return cmsgpack.unpack('\\205\\001')")
    assert reply.startswith(b"-ERR user_script:1: Missing bytes in input. script: ")
    reply = run("return cmsgpack.pack()")
    assert b"bad argument #0 to 'pack' (MessagePack pack needs input.)" in reply
    assert value("return select(2, pcall(cmsgpack.unpack, '\\129\\192\\001'))") == \
        b"table index is nil"
    assert value("return select(2, pcall(struct.pack, 'b'))") == \
        b"bad argument #2 to '?' (number expected, got nil)"
    assert value("return select(2, pcall(function() return struct.pack('=') end))") == \
        b"user_script:1: bad argument #1 to 'pack' (invalid format option '=')"


def test_libraries_are_read_only() -> None:
    for src in ("cmsgpack.x = 1", "struct.pack = nil", "cmsgpack = nil"):
        assert b"Attempt to modify a readonly table" in run(src)
