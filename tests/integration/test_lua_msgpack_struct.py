"""cmsgpack and struct, the two Lua libraries Redis 7.0.15 loads besides bit and cjson:
the same EVAL scripts go to AiKv and to a real redis-server, and the replies must be the
same bytes. Packed data comes back as hex, decoded values through `show` (type, exact
number, pairs() order), errors as Redis words them (caught by pcall, and uncaught).

Binary input reaches the scripts as ARGV[1], so the bytes are exactly those written here.
"""

from __future__ import annotations

import random
import struct as pystruct
from collections.abc import Iterator

import pytest

from tests.differ import Differ

# Helpers every script starts with (all on one line: error positions stay at line 1).
HELP = (
    "local function hex(s) return (string.gsub(s, '.', function(c) "
    "return string.format('%02x', string.byte(c)) end)) end "
    "local function show(v) local t = type(v) "
    "if t == 'number' then return string.format('%.17g', v) "
    "elseif t == 'string' then return 's:' .. hex(v) "
    "elseif t == 'table' then local p = {} for k, x in pairs(v) do "
    "p[#p + 1] = show(k) .. '=' .. show(x) end return '{' .. table.concat(p, ',') .. '}' "
    "else return tostring(v) end end "
    "local function all(...) local p = {} for i = 1, select('#', ...) do "
    "p[i] = show((select(i, ...))) end return select('#', ...) .. ':' .. "
    "table.concat(p, ' ') end "
    "local function try(f, ...) local r = {pcall(f, ...)} "
    "if r[1] then return all(unpack(r, 2, table.maxn(r))) end return 'error: ' .. r[2] end "
)


@pytest.fixture
def d(differ: Differ) -> Iterator[Differ]:
    for conn in (differ.a, differ.r):
        conn.call("script", "flush")
    yield differ


def check(d: Differ, src: str, *argv: bytes | str) -> bytes:
    reply = d.check("eval", HELP + src, 0, *argv)
    return reply


# ------------------------------------------------------------------------ pack: numbers
INTEGERS = [
    "0", "1", "127", "128", "255", "256", "65535", "65536", "2^32-1", "2^32", "2^32+1",
    "2^53", "2^53+2", "2^62", "2^63-1024", "-1", "-31", "-32", "-33", "-127", "-128",
    "-129", "-255", "-256", "-32767", "-32768", "-32769", "-65536", "-2^31+1", "-2^31",
    "-2^31-1", "-2^32", "-2^53", "-2^62", "-2^63", "1e15", "-1e15", "123456789012",
]

NON_INTEGERS = [
    "0.5", "-0.5", "1.5", "0.1", "-0.1", "1/3", "1e300", "-1e300", "1e-300", "2^63",
    "2^64", "-2^63-2048", "1e20", "-1e20", "2^100", "3.4028234663852886e38",
    "3.4028235677973366e38", "3.4028236e38", "1e39", "-1e39", "1.401298464324817e-45",
    "1e-45", "2^-149", "2^-150", "16777217", "16777217.5", "math.huge", "-math.huge",
    "math.pi", "-math.pi", "2^24+0.5", "1e-10",
]


@pytest.mark.parametrize("expr", INTEGERS + NON_INTEGERS)
def test_pack_number(d: Differ, expr: str) -> None:
    check(d, "local x = %s return {hex(cmsgpack.pack(x)), show(cmsgpack.unpack("
             "cmsgpack.pack(x)))}" % expr)


@pytest.mark.parametrize("expr", [
    # Built at run time: no constant in the script can stand in for them.
    "local z = 0 local x = -z",
    "local z = 0 local x = z / z",
    "local z = 0 local x = -(z / z)",
    "local z = 0 local x = 1 / z",
    "local z = 0 local x = -1 / z",
    "local x = -0.0",
    "local x = math.sqrt(-1)",
])
def test_pack_special_numbers(d: Differ, expr: str) -> None:
    check(d, expr + " return {hex(cmsgpack.pack(x)), show(cmsgpack.unpack("
                    "cmsgpack.pack(x)))}")


def test_pack_every_integer_boundary_in_one_call(d: Differ) -> None:
    check(d, "return hex(cmsgpack.pack(%s))" % ", ".join(INTEGERS))


# ------------------------------------------------------------------------ pack: strings
@pytest.mark.parametrize("n", [0, 1, 5, 31, 32, 33, 255, 256, 257, 65535, 65536, 65537])
def test_pack_string_lengths(d: Differ, n: int) -> None:
    reply = check(d, "local s = string.rep('x', %d) .. '' local p = cmsgpack.pack(s) "
                     "return {#p, hex(p:sub(1, 6)), p:sub(-4), "
                     "tostring(cmsgpack.unpack(p) == s)}" % n)
    assert b"true" in reply


def test_pack_binary_string(d: Differ) -> None:
    check(d, "local p = cmsgpack.pack(ARGV[1]) return {hex(p), "
             "tostring(cmsgpack.unpack(p) == ARGV[1])}", bytes(range(256)))


def test_pack_numeric_string_stays_a_string(d: Differ) -> None:
    check(d, "return hex(cmsgpack.pack('12', '1.5', '', ' '))")


# ------------------------------------------------------------------------ pack: other
@pytest.mark.parametrize("expr", [
    "nil", "true", "false", "redis.call", "cjson.null", "function() end",
])
def test_pack_other_types(d: Differ, expr: str) -> None:
    check(d, "return hex(cmsgpack.pack(%s))" % expr)


def test_pack_nil_among_arguments(d: Differ) -> None:
    check(d, "return hex(cmsgpack.pack(1, nil, 'a', nil))")


# ------------------------------------------------------------------------ pack: tables
TABLES = [
    "{}", "{1}", "{1, 2, 3}", "{'a', 'b', 'c'}", "{true, false}",
    "{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}",
    "{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}",
    "{a = 1}", "{a = 1, b = 2}", "{x = 'y', [1] = 2}", "{1, 2, x = 3}", "{1, nil, 3}",
    "{nil, 2}", "{[1] = 1, [3] = 3}", "{[2] = 2}", "{[0] = 0}", "{[0] = 0, 1}",
    "{[-1] = 1}", "{[1.5] = 1}", "{[1] = 1, [1.5] = 2}", "{[2^31] = 1}",
    "{[2^31 - 1] = 1}", "{[true] = 1}", "{[false] = 'f', [true] = 't'}",
    "{[{}] = 1}", "{[{1, 2}] = {3}}", "{{}}", "{{{}}}", "{{1, 2}, {3, 4}}",
    "{a = {b = {c = {}}}}", "{1, 'two', 3.5, {x = 1}, true}",
    "{one = 1, two = 2, three = 3, four = 4, five = 5, six = 6, seven = 7, eight = 8, "
    "nine = 9, ten = 10, eleven = 11, twelve = 12, thirteen = 13, fourteen = 14, "
    "fifteen = 15, sixteen = 16, seventeen = 17}",
    "{10, 20, 30, k = 'v', [5] = 50, [2.5] = 25, [-3] = -30, [true] = false}",
    "{[1] = 'a', [2] = 'b', [4] = 'd'}", "{n = 1, 'a'}",
    "{[1e10] = 1, [-2.25] = 2, [2^40] = 3}",
    "{'x', [2] = 'y', [3] = 'z'}",
]


@pytest.mark.parametrize("expr", TABLES)
def test_pack_table(d: Differ, expr: str) -> None:
    check(d, "local t = %s return {hex(cmsgpack.pack(t)), show(cmsgpack.unpack("
             "cmsgpack.pack(t)))}" % expr)


@pytest.mark.parametrize("build", [
    "local t = {} for i = 1, 16 do t[i] = i end",
    "local t = {} for i = 1, 65535 do t[i] = i % 7 end",
    "local t = {} for i = 1, 65536 do t[i] = i % 7 end",
    "local t = {} for i = 1, 100 do t['k' .. i] = i end",
    "local t = {} for i = 1, 65536 do t['k' .. i] = 1 end",
    "local t = {} for i = 100, 1, -1 do t[i] = i end",
    "local t = {} for i = 1, 50 do t[i * 2] = i end",
    "local t = {} for i = 1, 30 do t[i] = i end t[15] = nil",
    "local t = {} for i = 1, 30 do t[i] = i end t[30] = nil",
    "local t = {} t.a = 1 t.b = 2 t[1] = 'x' t.c = 3 t[2] = 'y'",
    "local t = {1, 2, 3} t.x = nil t[4] = 4",
    "local t = {} for i = 1, 40 do t[i % 2 == 0 and i or ('s' .. i)] = i end",
])
def test_pack_built_table(d: Differ, build: str) -> None:
    # The hex of a large table would make a huge reply: its length and a digest do.
    check(d, build + " local p = cmsgpack.pack(t) return {#p, hex(p:sub(1, 40)), "
                     "redis.sha1hex(p), hex(p:sub(-12))}")


def test_pack_map_order_matches_pairs(d: Differ) -> None:
    check(d, "local t = {} for _, w in ipairs({'alpha', 'beta', 'gamma', 'delta', 'eps', "
             "'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu'}) do t[w] = #w end "
             "t[7] = 'seven' t[2.5] = 'x' return hex(cmsgpack.pack(t))")


@pytest.mark.parametrize("depth", [14, 15, 16, 17, 18, 30])
def test_pack_nesting_limit(d: Differ, depth: int) -> None:
    check(d, "local t = 'leaf' for i = 1, %d do t = {t} end "
             "local m = 'leaf' for i = 1, %d do m = {k = m} end "
             "return {hex(cmsgpack.pack(t)), hex(cmsgpack.pack(m)), "
             "show(cmsgpack.unpack(cmsgpack.pack(m)))}" % (depth, depth))


def test_pack_self_referencing_tables(d: Differ) -> None:
    check(d, "local t = {} t[1] = t local m = {} m.self = m m.n = 1 "
             "local k = {} k[k] = true return {hex(cmsgpack.pack(t)), #cmsgpack.pack(m), "
             "hex(cmsgpack.pack(k))}")


def test_pack_table_keys_are_nested_too(d: Differ) -> None:
    check(d, "local k = 'x' for i = 1, 20 do k = {[k] = i} end return hex(cmsgpack.pack(k))")


def test_pack_several_values(d: Differ) -> None:
    check(d, "local p = cmsgpack.pack(1, 'a', {2}, {b = 3}, true, 1.5) "
             "return {hex(p), all(cmsgpack.unpack(p))}")


# ------------------------------------------------------------------------ unpack
UNPACK_INPUTS = [
    b"\x00", b"\x7f", b"\x80", b"\x8f" + b"\x01\x02" * 15, b"\x90", b"\x9f" + b"\x05" * 15,
    b"\xa0", b"\xa3abc", b"\xbf" + b"y" * 31, b"\xc0", b"\xc2", b"\xc3",
    b"\xca\x3f\x80\x00\x00", b"\xca\x7f\xc0\x00\x00", b"\xca\xff\x80\x00\x00",
    b"\xca\x00\x00\x00\x01", b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00",
    b"\xcb\xff\xf8\x00\x00\x00\x00\x00\x00", b"\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00",
    b"\xcb\x80\x00\x00\x00\x00\x00\x00\x00",
    b"\xcc\x00", b"\xcc\xff", b"\xcd\x01\x00", b"\xcd\xff\xff", b"\xce\xff\xff\xff\xff",
    b"\xcf\x00\x00\x00\x01\x00\x00\x00\x00", b"\xcf\x7f\xff\xff\xff\xff\xff\xff\xff",
    b"\xcf\x80\x00\x00\x00\x00\x00\x00\x00", b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\xcf\x80\x00\x00\x00\x00\x00\x00\x01", b"\xd0\x80", b"\xd0\x7f", b"\xd0\xff",
    b"\xd1\x80\x00", b"\xd1\xff\xfe", b"\xd1\x7f\xff", b"\xd2\x80\x00\x00\x00",
    b"\xd2\xff\xff\xff\xfe", b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00",
    b"\xd3\xff\xff\xff\xff\xff\xff\xff\xff", b"\xd3\x00\x20\x00\x00\x00\x00\x00\x01",
    b"\xd9\x00", b"\xd9\x03abc", b"\xda\x00\x02hi", b"\xdb\x00\x00\x00\x02hi",
    b"\xdc\x00\x00", b"\xdc\x00\x02\x01\x02", b"\xdd\x00\x00\x00\x01\xc3",
    b"\xde\x00\x00", b"\xde\x00\x01\xa1k\xa1v", b"\xdf\x00\x00\x00\x01\x01\x02",
    b"\xe0", b"\xff", b"\xf0",
    b"\x92\x91\x01\x81\xa1a\x90", b"\x83\xa1a\x01\xa1b\x02\xa1c\x03",
    b"\x82\x01\xa1x\x02\xa1y", b"\x81\x91\x01\x02", b"\x81\xc3\xc2",
    b"\x93\xc0\x02\x03", b"\x93\x01\xc0\x03", b"\x92\x01\xc0", b"\x81\xa1k\xc0",
    b"\x82\x01\x01\x01\x02", b"\x82\xa1a\x01\xa1a\x02",
    b"\x98\x01\xc0\x03\xc0\x05\xc0\x07\x08", b"\x94\x01\xc0\x03\x04", b"\x93\xc0\xc0\x03",
    b"\x83\xa1a\x01\xa1a\xc0\xa1b\x02", b"\x85\x01\x01\x02\xc0\x03\x03\x04\x04\x05\x05",
    b"\x81\xcb\x80\x00\x00\x00\x00\x00\x00\x00\x01",
    b"\x01\x02\x03", b"\xa1a\xa1b\x90\x80\xc0\x05",
    b"\xde\x00\x14" + b"".join(b"\xa2k" + bytes([97 + i]) + bytes([i]) for i in range(20)),
]


@pytest.mark.parametrize("data", UNPACK_INPUTS, ids=[x.hex()[:24] for x in UNPACK_INPUTS])
def test_unpack(d: Differ, data: bytes) -> None:
    check(d, "return {try(cmsgpack.unpack, ARGV[1]), try(cmsgpack.unpack_one, ARGV[1]), "
             "try(cmsgpack.unpack_limit, ARGV[1], 2)}", data)


def test_unpack_of_empty_input(d: Differ) -> None:
    check(d, "return {try(cmsgpack.unpack, ''), try(cmsgpack.unpack_one, ''), "
             "try(cmsgpack.unpack_limit, '', 3), select('#', cmsgpack.unpack(''))}")


def test_unpack_number_arguments_are_strings(d: Differ) -> None:
    check(d, "return {try(cmsgpack.unpack, 5), try(cmsgpack.unpack, 12), "
             "try(cmsgpack.unpack_one, 100, 1)}")


@pytest.mark.parametrize("code", [0xC1, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xD4, 0xD5,
                                  0xD6, 0xD7, 0xD8])
def test_unpack_unknown_types_are_bad_format(d: Differ, code: int) -> None:
    data = bytes([code, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    check(d, "return {try(cmsgpack.unpack, ARGV[1]), try(cmsgpack.unpack, '\\001' .. ARGV[1]), "
             "try(cmsgpack.unpack, '\\145' .. ARGV[1])}", data)


TRUNCATABLE = [
    b"\xcc\x05", b"\xcd\x01\x02", b"\xce\x01\x02\x03\x04", b"\xcf" + bytes(range(1, 9)),
    b"\xd0\x85", b"\xd1\x01\x02", b"\xd2\x01\x02\x03\x04", b"\xd3" + bytes(range(1, 9)),
    b"\xca\x3f\x80\x00\x00", b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", b"\xa3abc",
    b"\xd9\x03abc", b"\xda\x00\x03abc", b"\xdb\x00\x00\x00\x03abc", b"\x93\x01\x02\x03",
    b"\xdc\x00\x02\x01\x02", b"\xdd\x00\x00\x00\x02\x01\x02", b"\x82\x01\x02\x03\x04",
    b"\xde\x00\x01\x01\x02", b"\xdf\x00\x00\x00\x01\x01\x02", b"\x91\x81\xa1k\x92\x01\xa1v",
]


@pytest.mark.parametrize("data", TRUNCATABLE, ids=[x.hex()[:24] for x in TRUNCATABLE])
def test_unpack_truncated_input(d: Differ, data: bytes) -> None:
    check(d, "local r = {} for i = 1, #ARGV[1] - 1 do "
             "r[#r + 1] = try(cmsgpack.unpack, ARGV[1]:sub(1, i)) "
             "r[#r + 1] = try(cmsgpack.unpack_one, ARGV[1]:sub(1, i)) end return r", data)


def test_unpack_errors_uncaught(d: Differ) -> None:
    for src in ["return cmsgpack.unpack(ARGV[1])", "return cmsgpack.unpack_one(ARGV[1])",
                "\n\nlocal x = cmsgpack.unpack(ARGV[1])"]:
        for data in [b"\xc1", b"\xcd\x01", b"\x81\xc0\x01", b"\x81\xcb\xff\xf8" + bytes(6) + b"\x01",
                     b"\x91\xc4"]:
            d.check("eval", src, 0, data)


def test_unpack_nil_and_nan_map_keys(d: Differ) -> None:
    check(d, "return {try(cmsgpack.unpack, ARGV[1]), try(cmsgpack.unpack, ARGV[2]), "
             "try(cmsgpack.unpack, ARGV[3])}",
          b"\x81\xc0\x01", b"\x81\xcb\xff\xf8\x00\x00\x00\x00\x00\x00\x01",
          b"\x81\xc0")


def _random_key(rng: random.Random) -> bytes:
    x = rng.random()
    if x < 0.45:
        return b"\xa2" + bytes(rng.choice(b"abcdefxyz") for _ in range(2))
    if x < 0.85:
        return bytes([rng.randint(0, 40)])
    if x < 0.9:
        return rng.choice([b"\xc3", b"\xc2"])
    return b"\xcb" + pystruct.pack(">d", rng.choice([0.5, 1e10, -2.25, 2.0**31, 2.0**40]))


def _random_table(rng: random.Random, depth: int = 0) -> bytes:
    """An array or map of up to 40 elements, about a third of the values nil."""
    n = rng.randint(0, 40)

    def value() -> bytes:
        x = rng.random()
        if x < 0.35:
            return b"\xc0"
        if x < 0.8 or depth > 1:
            return bytes([rng.randint(0, 100)])
        return _random_table(rng, depth + 1)

    if rng.random() < 0.5:
        head = bytes([0x90 + n]) if n < 16 else b"\xdc" + n.to_bytes(2, "big")
        return head + b"".join(value() for _ in range(n))
    pairs: list[bytes] = []
    nil_keys: set[bytes] = set()
    while len(pairs) < n:
        k, v = _random_key(rng), value()
        if k in nil_keys:
            # Storing again under a key given nil revives its node, unless Lua's
            # collector has marked that key dead in between: Redis itself answers
            # either way, depending on when its collector runs.
            continue
        if v == b"\xc0":
            nil_keys.add(k)
        pairs.append(k + v)
    head = bytes([0x80 + n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")
    return head + b"".join(pairs)


@pytest.mark.parametrize("seed", range(4))
def test_unpacked_tables_with_nils(d: Differ, seed: int) -> None:
    # A nil stored in a new key still takes a slot in Lua: #t, the pairs() order and
    # the packed map order of decoded tables depend on it.
    rng = random.Random(seed)
    for _ in range(40):
        check(d, "local t = cmsgpack.unpack(ARGV[1]) local function dump(t) "
                 "local r = {#t} for k, v in pairs(t) do r[#r + 1] = show(k) .. '=' .. "
                 "(type(v) == 'table' and dump(v) or show(v)) end "
                 "return table.concat(r, ' ') end return {dump(t), hex(cmsgpack.pack(t))}",
              _random_table(rng))


# ------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("expr", [
    "{1, 2, 3}", "{a = {b = {1, 2, {c = 'd'}}}, [10] = 'ten'}", "{[1.5] = 2.5, x = -0.25}",
    "{{}, {{}}, {a = {}}}", "{'', 'x', string.rep('y', 300)}",
    "{2^31, -2^31, 2^32, -2^32 - 1, 2^53, -2^53}", "{true, false, {true}}",
])
def test_round_trip(d: Differ, expr: str) -> None:
    check(d, "local t = %s local p = cmsgpack.pack(t) local u = cmsgpack.unpack(p) "
             "return {show(u), tostring(cmsgpack.pack(u) == p), hex(p)}" % expr)


# ------------------------------------------------------------------------ offsets
def test_unpack_one_walks_a_stream(d: Differ) -> None:
    check(d, "local p = cmsgpack.pack(1, 'two', {3}, {four = 4}, nil, 5.5) "
             "local r = {} local off = 0 while off ~= -1 and #r < 20 do "
             "local res = {cmsgpack.unpack_one(p, off)} off = res[1] "
             "r[#r + 1] = off .. ' ' .. show(res[2]) end return r")


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_unpack_limit_walks_a_stream(d: Differ, limit: int) -> None:
    check(d, "local p = cmsgpack.pack(1, 2, 'three', {4}, 5, 6, 7) "
             "local r = {} local off = 0 while off ~= -1 and #r < 20 do "
             "r[#r + 1] = all(cmsgpack.unpack_limit(p, %d, off)) "
             "off = cmsgpack.unpack_limit(p, %d, off) end return r" % (limit, limit))


@pytest.mark.parametrize("call", [
    "cmsgpack.unpack_one(p)", "cmsgpack.unpack_one(p, 0)", "cmsgpack.unpack_one(p, 1)",
    "cmsgpack.unpack_one(p, 2)", "cmsgpack.unpack_one(p, 3)", "cmsgpack.unpack_one(p, 4)",
    "cmsgpack.unpack_one(p, 5)", "cmsgpack.unpack_one(p, -1)", "cmsgpack.unpack_one(p, 1.9)",
    "cmsgpack.unpack_one(p, '2')", "cmsgpack.unpack_one(p, nil)",
    "cmsgpack.unpack_one(p, 'x')", "cmsgpack.unpack_one(p, {})",
    "cmsgpack.unpack_one(p, 2^32 + 1)", "cmsgpack.unpack_one(p, -2^32)",
    "cmsgpack.unpack_one(p, 1e300)", "cmsgpack.unpack_one(p, 0/0)",
    "cmsgpack.unpack_limit(p, 0)", "cmsgpack.unpack_limit(p, 0, 0)",
    "cmsgpack.unpack_limit(p, 0, 1)", "cmsgpack.unpack_limit(p, 0, 4)",
    "cmsgpack.unpack_limit(p, 1)", "cmsgpack.unpack_limit(p, 2, 1)",
    "cmsgpack.unpack_limit(p, 100)", "cmsgpack.unpack_limit(p, 100, 2)",
    "cmsgpack.unpack_limit(p, -1)", "cmsgpack.unpack_limit(p, -1, -5)",
    "cmsgpack.unpack_limit(p, 1, 9)", "cmsgpack.unpack_limit(p)",
    "cmsgpack.unpack_limit(p, 'x')", "cmsgpack.unpack_limit(p, 1, 'x')",
    "cmsgpack.unpack_limit(p, nil, 1)", "cmsgpack.unpack_limit(nil, 1)",
    "cmsgpack.unpack_one()", "cmsgpack.unpack()", "cmsgpack.unpack(nil)",
    "cmsgpack.unpack({})", "cmsgpack.unpack(p, 'ignored', 3)", "cmsgpack.pack()",
    "cmsgpack.unpack_one(p, 1, 'extra')",
])
def test_offsets_and_argument_errors(d: Differ, call: str) -> None:
    # p is 1, 2, 3, 4 (four bytes): offsets 0..4 and past its end.
    check(d, "local p = cmsgpack.pack(1, 2, 3, 4) return try(function() return %s end)"
             % call)
    check(d, "local p = cmsgpack.pack(1, 2, 3, 4) local r = {%s} return show(r)" % call)


@pytest.mark.parametrize("fn", ["pack", "unpack", "unpack_one", "unpack_limit"])
def test_argument_errors_from_pcall_directly(d: Differ, fn: str) -> None:
    check(d, "return {try(cmsgpack.%s), try(cmsgpack.%s, nil), try(cmsgpack.%s, {}, {})}"
             % (fn, fn, fn))


# ------------------------------------------------------------------------ Lua stack limits
@pytest.mark.parametrize("n", [3999, 4000, 4001])
def test_pack_argument_count_limit(d: Differ, n: int) -> None:
    check(d, "local t = {} for i = 1, %d do t[i] = i end "
             "return try(function() return #cmsgpack.pack(unpack(t)) end)" % n)


@pytest.mark.parametrize(("n", "at"), [(4000, 4000), (4000, 3999), (3999, 3998),
                                       (3999, 3999), (3998, 3998)])
def test_pack_stack_room_for_tables(d: Differ, n: int, at: int) -> None:
    check(d, "local t = {} for i = 1, %d do t[i] = i end t[%d] = {x = {1}} "
             "return try(function() return #cmsgpack.pack(unpack(t)) end)" % (n, at))


@pytest.mark.parametrize("n", [7997, 7998, 7999, 8000])
def test_unpack_value_count_limit(d: Differ, n: int) -> None:
    check(d, "local s = string.rep('\\001', %d) return {"
             "try(function() return select('#', cmsgpack.unpack(s)) end), "
             "try(function() return select('#', cmsgpack.unpack(s, 'extra')) end), "
             "try(function() return select('#', cmsgpack.unpack_limit(s, %d)) end), "
             "try(function() return select('#', cmsgpack.unpack_limit(s, 9000)) end)}"
             % (n, n))


@pytest.mark.parametrize("n", [3998, 3999, 4000, 4001])
def test_unpack_deeply_nested_arrays(d: Differ, n: int) -> None:
    check(d, "local s = string.rep('\\145', %d) .. '\\001' "
             "return try(function() local v = cmsgpack.unpack(s) local k = 0 "
             "while type(v) == 'table' do v = v[1] k = k + 1 end return k, v end)" % n)


@pytest.mark.parametrize(("prefix", "n"), [("\\129", 7997), ("\\129", 7998), ("\\129", 7999),
                                           ("\\129\\001", 3998), ("\\129\\001", 3999),
                                           ("\\129\\001", 4000)])
def test_unpack_deeply_nested_maps(d: Differ, prefix: str, n: int) -> None:
    # \129 alone nests maps in keys (one slot a level); \129\001 nests them in values.
    check(d, "local s = string.rep('%s', %d) .. '\\001\\002' "
             "return try(function() return type(cmsgpack.unpack(s)) end)" % (prefix, n))


# ------------------------------------------------------------------------ the library
def test_library_fields(d: Differ) -> None:
    check(d, "local r = {} for k, v in pairs(cmsgpack) do r[#r + 1] = k .. ':' .. type(v) end "
             "for k, v in pairs(struct) do r[#r + 1] = k .. ':' .. type(v) end "
             "return {cmsgpack._NAME, cmsgpack._VERSION, cmsgpack._COPYRIGHT, "
             "cmsgpack._DESCRIPTION, table.concat(r, ' ')}")


@pytest.mark.parametrize("src", [
    "cmsgpack.x = 1", "cmsgpack.pack = nil", "struct.pack = 1", "struct.y = 2",
    # Each names a library field after the assignment: without the libraries these
    # scripts fail differently from Redis.
    "local ok, e = pcall(function() cmsgpack = nil end) return {e, type(cmsgpack)}",
    "local ok, e = pcall(function() struct = {} end) return {e, type(struct.pack)}",
    "return {pcall(rawset, cmsgpack, 'x', 1)}",
    "return {pcall(function() cmsgpack._NAME = 'x' end)}",
    "return {type(cmsgpack.pack), pcall(function() return cmsgpack_safe end)}",
    "return type(_G.cmsgpack) .. type(_G.struct)",
    "return tostring(getmetatable(cmsgpack) == nil)",
])
def test_libraries_are_read_only(d: Differ, src: str) -> None:
    d.check("eval", src, 0)


def test_functions_see_the_libraries(d: Differ) -> None:
    lib = ("#!lua name=mpstruct\n"
           "redis.register_function('mp', function(keys, args) "
           "return {cmsgpack.pack(1, 'a'), struct.pack('>i2', 258)} end)")
    for conn in (d.a, d.r):
        conn.call("function", "flush")
    d.check("function", "load", lib)
    d.check("fcall", "mp", 0)
    for conn in (d.a, d.r):
        conn.call("function", "flush")


def test_format_of_nan_and_inf(d: Differ) -> None:
    # show() relies on string.format for numbers: glibc's "-nan" and space padding.
    check(d, "local z = 0 local r = {} for _, f in ipairs({'%.17g', '%5.1f', '%+g', '% e', "
             "'%G', '%-8g|', '%08.3f', '%+08E', '%#010g'}) do for _, x in ipairs({z / z, "
             "-(z / z), 1 / z, -1 / z}) do r[#r + 1] = string.format(f, x) end end "
             "return {r, show(cmsgpack.unpack(cmsgpack.pack(z / z)))}")


# ------------------------------------------------------------------------ struct.pack
STRUCT_PACK = [
    "'b', 1", "'b', -1", "'b', 127", "'b', 128", "'b', 255", "'b', 256", "'b', -129",
    "'B', 200", "'B', -1", "'h', 1", "'>h', 1", "'<h', -2", "'H', 65535", "'H', 65536",
    "'l', 1", "'>l', -1", "'L', 2^63", "'L', 2^64", "'L', 2^63 + 2^12", "'>L', 1/0",
    "'>L', -1/0", "'>l', 2^63", "'>l', -2^63", "'>l', -1e300", "'>l', 3.7", "'>l', -3.7",
    "'>L', -3.7", "'>l', -0.5", "'T', 5", "'i', 1", "'>i', -2", "'i1', 300", "'i3', 2^24 + 5",
    "'>I3', 2^24 + 5", "'i8', -1", "'i9', -1", "'>i9', -1", "'<i16', -1", "'>i16', -2",
    "'i32', 1", "'>I32', 2^63", "'I0', 5", "'>i0', 5", "'f', 1.5", "'>f', 1.5",
    "'>f', 1e39", "'>f', -1e39", "'>f', 0.1", "'f', 3.4028235677973366e38", "'<d', 0.1",
    "'>d', -2.5", "'d', 1/0", "'x'", "'xxb', 1", "'bxh', 1, 2", "'c', 'abc'",
    "'c0', 'abc'", "'c2', 'abc'", "'c3', 'abc'", "'c0c0', 'a', ''", "'s', 'abc'",
    "'s', ''", "'ss', 'a', 'bc'", "'s', 12", "'c0', 1.5", "' b b ', 1, 2",
    "'>b<h>h', 1, 2, 3", "'!bi', 1, 2", "'!2bi', 1, 2", "'!4bi', 1, 2", "'!8bd', 1, 2",
    "'!bd', 1, 2", "'!1bd', 1, 2", "'!bi3', 1, 2", "'!4bi3', 1, 2", "'!16bd', 1, 2",
    "'!4bcs', 1, 'x', 'y'", "'!4bxh', 1, 2", "'!bT', 1, 2", "'!bhbl', 1, 2, 3, 4",
    "'b', '12'", "'b', ' 0x10 '", "'d', '1e2'", "'bb\\0bb', 1, 2",
    "'i', 0/0", "'I', 0/0", "'>I', -(0/0)", "''",
]


@pytest.mark.parametrize("args", STRUCT_PACK)
def test_struct_pack(d: Differ, args: str) -> None:
    check(d, "return try(function() return hex(struct.pack(%s)) end)" % args)


STRUCT_ERRORS = [
    "'b'", "'bb', 1", "'b', 'x'", "'b', {}", "'f'", "'d', 'z'", "'c', nil", "'c3', 'ab'",
    "'bc3', 1, 'ab'", "'s', {}", "'z', 1", "'=b', 1", "'4', 1", "'!3b', 1", "'!0b', 1",
    "'!99999999999b', 1", "'i33', 1", "'i99999999999', 1", "'c99999999999', 'x'",
    "'#'", "'\\200'", "nil", "{}", "",
]


@pytest.mark.parametrize("args", STRUCT_ERRORS)
def test_struct_pack_errors(d: Differ, args: str) -> None:
    check(d, "return try(function() return hex(struct.pack(%s)) end)" % args)
    check(d, "return try(struct.pack%s)" % ((", " + args) if args else ""))
    d.check("eval", "return struct.pack(%s)" % args, 0)


# ------------------------------------------------------------------------ struct.unpack
STRUCT_UNPACK = [
    ("b", b"\xff"), ("B", b"\xff"), ("h", b"\xfe\xff"), (">h", b"\xff\xfe"),
    ("H", b"\xfe\xff"), ("<l", b"\xff" * 8), ("<L", b"\xff" * 8), (">l", b"\x80" + bytes(7)),
    (">L", b"\x80" + bytes(7)), ("T", b"\x01" + bytes(7)), ("i", b"\x01\x00\x00\x80"),
    ("I", b"\x01\x00\x00\x80"), ("i3", b"\xff\xff\xff"), (">I3", b"\x01\x02\x03"),
    ("<i9", b"\x01" + bytes(8)), ("<i9", b"\x80" + bytes(8)), (">i9", bytes(8) + b"\x80"),
    ("<i9", bytes(8) + b"\xff"), ("<I9", b"\xff" * 9), ("<i12", b"\x00\x01" + bytes(10)),
    ("<i16", b"\xff" * 16), (">i16", b"\x7f" + b"\xff" * 15), ("<i0", b"a"),
    ("<I0", b""), ("f", b"\x00\x00\xc0\x3f"), (">f", b"\x3f\xc0\x00\x00"),
    ("<d", b"\x9a\x99\x99\x99\x99\x99\xb9\x3f"), (">d", b"\xff\xf0" + bytes(6)),
    ("x", b"a"), ("xb", b"ab"), ("bxb", b"abc"), ("c", b"abc"), ("c2", b"abc"),
    ("c3", b"abc"), ("c0", b"abc"), ("bc0", b"\x02abc"), ("Bc0", b"\x00abc"),
    ("c1c0", b"2abc"), ("c1c0", b"xabc"), ("hc0", b"\x03\x00abcd"), ("s", b"ab\x00cd"),
    ("ss", b"a\x00b\x00"), ("s", b"abc"), ("sb", b"\x00\x07"), ("!bi", b"\x01\x00\x00\x00\x02\x00\x00\x00"),
    ("!2bi", b"\x01\x00\x02\x00\x00\x00"), ("!bd", b"\x01" + bytes(7) + b"\x00" * 7 + b"\x3f"),
    ("!bi3", b"\x01\x00\x00\x02\x00\x00"), (" > h ", b"\x01\x02"), ("<h>h", b"\x01\x02\x01\x02"),
    ("", b"abc"), ("b", b""), ("h", b"a"), ("c4", b"abc"), ("bc0", b"\x09abc"),
    ("d", b"1234567"), ("z", b"a"), ("!3", b"a"), ("=", b"a"), ("i33", b"a"),
    ("c0", b"abc"), ("bbc0", b"\x01\x02abc"), ("b\x00b", b"\x01\x02"),
]


@pytest.mark.parametrize(("fmt", "data"), STRUCT_UNPACK,
                         ids=[f"{f!r}-{x.hex()[:20]}" for f, x in STRUCT_UNPACK])
def test_struct_unpack(d: Differ, fmt: str, data: bytes) -> None:
    check(d, "return {try(struct.unpack, ARGV[1], ARGV[2]), "
             "try(function() return struct.unpack(ARGV[1], ARGV[2]) end)}", fmt, data)


@pytest.mark.parametrize("pos", ["1", "2", "3", "4", "5", "6", "0", "-1", "-5", "1.5", "'2'",
                                 "nil", "'x'", "2^63", "1e300"])
def test_struct_unpack_positions(d: Differ, pos: str) -> None:
    check(d, "return {try(struct.unpack, 'b', 'abcd', %s), try(struct.unpack, '', 'abcd', %s), "
             "try(struct.unpack, 'bb', 'abcd', %s), try(struct.unpack, '<', 'abcd', %s)}"
             % (pos, pos, pos, pos))


def test_struct_unpack_argument_errors(d: Differ) -> None:
    for src in ["return struct.unpack()", "return struct.unpack('b')",
                "return struct.unpack('b', nil)", "return struct.unpack({}, 'a')",
                "return struct.unpack('b', 'a', 'x')", "return struct.unpack('b', 'a', 0)",
                "return struct.unpack('c0', 'a')", "return struct.unpack('s', 'a')",
                "return {pcall(struct.unpack, 'c0', 'a')}", "return {pcall(struct.unpack)}"]:
        d.check("eval", src, 0)


@pytest.mark.parametrize("n", [7996, 7997, 7998])
def test_struct_unpack_result_limit(d: Differ, n: int) -> None:
    check(d, "local f = string.rep('b', %d) local s = string.rep('a', %d) return {"
             "try(function() return select('#', struct.unpack(f, s)) end), "
             "try(function() return select('#', struct.unpack(f, s, 1)) end)}" % (n, n))


@pytest.mark.parametrize(("fmt", "values"), [
    (">bhi4fc0s", "1, -2, 70000, 1.25, 'abc', 'zz'"),
    ("<BHI4dc2", "255, 65535, 2^32 - 1, -0.1, 'xy'"),
    ("!4bhbib", "1, 2, 3, 4, 5"),
    ("!8bdbl", "-1, 2.5, -3, -2^40"),
])
def test_struct_round_trip(d: Differ, fmt: str, values: str) -> None:
    check(d, "local f = '%s' local p = struct.pack(f, %s) return {hex(p), "
             "all(struct.unpack(f:gsub('c0', 'c3'), p)), #p}" % (fmt, values))


# ------------------------------------------------------------------------ struct.size
STRUCT_SIZE = [
    "''", "'b'", "'bhlT'", "'i'", "'i7'", "'I32'", "'fd'", "'x'", "'c'", "'c10'",
    "'z4!4bi'", "'bi'", "'!bi'", "'!2bi'", "'!bd'", "'!bi3'", "'!4bi3'", "'!1bd'",
    "'!16bd'", "' < > b '", "'4'", "'q'", "'s'", "'bs'", "'c0'", "'bc0'", "'='", "'#'",
    "'!3'", "'!'", "'i33'", "'i99999999999'", "'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'",
    "'b\\0bbb'", "12", "nil", "{}",
]


@pytest.mark.parametrize("args", STRUCT_SIZE)
def test_struct_size(d: Differ, args: str) -> None:
    check(d, "return {try(struct.size, %s), try(function() return struct.size(%s) end)}"
             % (args, args))
    d.check("eval", "return struct.size(%s)" % args, 0)
