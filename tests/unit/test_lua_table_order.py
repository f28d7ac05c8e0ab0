"""Lua 5.1's table layout, as AiKv models it for the order of pairs(), next() and
cjson.encode (aikv/scripting/table_order.py), and the # operator on tables with holes.

The expected orders were captured from redis-server 7.0.15 (EVAL of the same snippet);
tests/integration/test_lua_table_order.py compares many more against a live server.
"""

from __future__ import annotations

import pytest

from aikv.scripting.table_order import (
    TableModel,
    ceillog2,
    fb2int,
    int2fb,
    string_hash,
)
from tests.unit.lua_helpers import value

LIST = " local r = {} for k in pairs(t) do r[#r+1] = tostring(k) end return table.concat(r, ' ')"


@pytest.mark.parametrize("src,order", [
    ("local t = {} for _, k in ipairs({'name','age','email','id','tags','created','updated',"
     "'owner','score','rank'}) do t[k] = 1 end",
     b"created score tags id owner age email updated name rank"),
    # 17 fields: the constructor's size hint rounds up to 18 slots (a "floating point byte").
    ("local t = {a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8, i=9, j=10, k=11, l=12, m=13, n=14, "
     "o=15, p=16, q=17}",
     b"a c b e d g f i h k j m l o n q p"),
    ("local t = {10, 20, 30, x=1, y=2} t[10] = 1 t[5] = 1 t[0.5] = 1 t[-1] = 1 t[true] = 1 "
     "t[false] = 1 t[2^40] = 1",
     b"1 2 3 false true 0.5 y 5 10 -1 1099511627776 x"),
    # A trailing call stores more values than the constructor counted: the array grows and
    # the hash part is rebuilt.
    ("local t = {x=1, unpack({1, 2, 3, 4, 5, 6, 7, 8, 9, 10})} t.y = 2 t.z = 3",
     b"1 2 3 4 5 6 7 8 9 10 y x z"),
    ("local t = {} for i = 1, 20 do t[i * 3] = i end",
     b"15 30 60 33 9 18 36 39 21 42 3 6 12 24 48 51 27 54 57 45"),
    ("local t = cjson.decode('{\"alpha\":1,\"beta\":2,\"gamma\":3,\"delta\":4,\"epsilon\":5}')",
     b"beta epsilon delta gamma alpha"),
])
def test_pairs_order_is_redis(src: str, order: bytes) -> None:
    assert value(src + LIST) == order


def test_next_follows_pairs_and_survives_clearing_fields() -> None:
    src = ("local t = {} for _, k in ipairs({'a','b','c','d','e','f','g'}) do t[k] = 1 end "
           "local seen = {} local k = next(t) "
           "while k ~= nil do seen[#seen+1] = k t[k] = nil k = next(t, k) end "
           "return table.concat(seen, ' ') .. '|' .. tostring(next(t))")
    # Every key visited once, in pairs() order, although each is cleared on the way.
    keys = value("local t = {} for _, k in ipairs({'a','b','c','d','e','f','g'}) do t[k] = 1 end"
                 + LIST)
    assert value(src) == keys + b"|nil"


@pytest.mark.parametrize("src,length", [
    # t[8] lands in the array part (size 8) at the rehash t[4] causes: #t is 8.
    ("local t = {} t[1]=1 t[2]=1 t[3]=1 t[4]=1 t[8]=1 return #t", b"8"),
    # ... but in the hash part when added first: #t is 4.
    ("local t = {} t[8]=1 t[1]=1 t[2]=1 t[3]=1 t[4]=1 return #t", b"4"),
    ("local t = {} t[8]=1 t.x=1 t[1]=1 t[2]=1 t[3]=1 t[4]=1 t[5]=1 return #t", b"8"),
    ("local t = {1,2,3,4,5,6,7,8} t[6]=nil t[8]=nil return #t", b"5"),
    ("local t = {1,2,3,nil,5,6,7,8} return #t", b"8"),
    ("local t = {} for i=1,8 do t[i]=i end t[4]=nil return #t", b"8"),
    ("local t = {nil, nil, 3} return #t", b"3"),
    ("local t = {} t[2]=1 t[3]=1 t[1]=1 t[5]=1 return #t", b"3"),
])
def test_length_operator_finds_luas_border(src: str, length: bytes) -> None:
    assert value(src) == length


def test_cjson_encode_follows_the_order_and_c_int_limits() -> None:
    assert value("return cjson.encode({name='x', age=3})") == b'{"name":"x","age":3}'
    # A key past INT_MAX is kept as INT_MIN by the C code: the table becomes an object.
    assert value("local t = {} t[3] = 1 t[1e10] = 8 return cjson.encode(t)") == \
        b'{"3":1,"10000000000":8}'
    assert value("local t = {} t[1e10] = 8 t[3] = 1 return cjson.encode(t)") == b"[null,null,1]"


def test_fb_rounding() -> None:
    assert [fb2int(int2fb(n)) for n in (0, 7, 8, 15, 16, 17, 18, 19, 31, 33, 100)] == \
        [0, 7, 8, 15, 16, 18, 18, 20, 32, 36, 104]
    assert [ceillog2(n) for n in (1, 2, 3, 4, 5, 1024, 1025)] == [0, 1, 2, 2, 3, 10, 11]


def test_string_hash_is_seeded_with_length_and_covers_every_byte() -> None:
    assert string_hash(b"") == 0
    # Redis's Lua hashes every byte (stock 5.1 skips some of long strings): two long
    # strings that differ in one byte hash differently.
    long = b"x" * 100
    assert string_hash(long) != string_hash(long[:50] + b"y" + long[51:])


def test_model_rehash_sizes() -> None:
    model = TableModel()
    for k in (1.0, 2.0, 3.0):
        model.insert(k)
    assert model.asize == 4 and model.dummy  # all three went to the array part
    model.insert(b"x")
    assert model.node_count() == 1
    # An integer key goes to the array part, ahead of the hash part, in next() order.
    mixed, strings = TableModel(), TableModel()
    for k in (b"a", b"b", 1.0):
        mixed.insert(k)
    for k in (b"a", b"b"):
        strings.insert(k)
    assert mixed.order() == [1.0] + strings.order()
