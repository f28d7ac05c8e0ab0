"""string (patterns, format), table, bit and cjson libraries on pure Lua."""

from __future__ import annotations

import pytest

from tests.unit.lua_helpers import value


@pytest.mark.parametrize(("src", "expected"), [
    ("return string.find('hello world', 'o w')", b"5"),
    ("return select(2, string.find('hello', 'l+'))", b"4"),
    ("return string.find('a.b', '.', 1, true)", b"2"),
    ("return string.find('abc', 'b', -1)", b"nil"),
    ("return string.match('key:42:x', ':(%d+):')", b"42"),
    ("return string.match('  trim me  ', '^%s*(.-)%s*$')", b"trim me"),
    ("return string.match('f(a(b)c)d', '%b()')", b"(a(b)c)"),
    ("return string.match('THE (quick) fox', '%f[%a]%a+', 5)", b"quick"),
    ("return string.match('abab', '(ab)%1')", b"ab"),
    ("return string.match('x=1', '()=()')", b"2"),
    ("return string.match('[tag]', '%[(%w+)%]')", b"tag"),
    ("return string.match('a]b', '[]]')", b"]"),
    ("return string.match('A1_z', '^[%u%d_]+')", b"A1_"),
    ("return string.match('strength', '[^aeiou]+$')", b"ngth"),
    ("return (string.gsub('hello world', '(%w+)', '<%1>'))", b"<hello> <world>"),
    ("return select(2, string.gsub('abc', '', '-'))", b"4"),
    ("return (string.gsub('abc', '', '-'))", b"-a-b-c-"),
    ("return (string.gsub('$a $b', '%$(%w+)', {a = 'x', b = 1}))", b"x 1"),
    ("return (string.gsub('abc', '%w', function(c) return c:byte() end))", b"979899"),
    ("return (string.gsub('hello', 'l', 'L', 1))", b"heLlo"),
    ("return (string.gsub('50%', '%%', ' percent'))", b"50 percent"),
    ("local n = 0 for w in string.gmatch('one two  three', '%a+') do n = n + 1 end return n",
     b"3"),
    ("return string.format('%5.2f|%-4d|%04x|%s|%q', 3.14159, 7, 255, 'x', 'a\\nb\"')",
     b' 3.14|7   |00ff|x|"a\\\nb\\""'),
    ("return string.format('%d %s %g', 2^31, 1e15, 1e20)", b"2147483648 1e+15 1e+20"),
    ("return string.format('%x', -1)", b"ffffffffffffffff"),
    ("return string.format('%c%c', 72, 105)", b"Hi"),
    ("return string.rep('ab', 3)", b"ababab"),
    ("return string.sub('hello', -3, -2)", b"ll"),
    ("return string.byte('A') + string.len('abc')", b"68"),
    ("return string.char(104, 105):upper():reverse()", b"IH"),
    ("return table.concat({1, 'b', 3.5}, '-')", b"1-b-3.5"),
    ("local t = {1, 2, 3} table.insert(t, 2, 'x') return table.concat(t, ',')", b"1,x,2,3"),
    ("return unpack({1, 2, 3}, 2)", b"2"),
    ("return bit.band(0xf0, 0x3c) + bit.bor(1, 2)", b"51"),
    ("return bit.tohex(bit.bnot(0))", b"ffffffff"),
    ("return bit.arshift(-16, 2)", b"-4"),
    ("return cjson.encode({1, 'a', true})", b'[1,"a",true]'),
    ("return cjson.encode({k = 'v'})", b'{"k":"v"}'),
    ("return cjson.decode('{\"a\":[1,2,{\"b\":null}]}').a[2]", b"2"),
    ("return redis.sha1hex('abc')", b"a9993e364706816aba3e25717850c26c9cd0d89d"),
])
def test_library(src: str, expected: bytes) -> None:
    assert value(src) == expected
