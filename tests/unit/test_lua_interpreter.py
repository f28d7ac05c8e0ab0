"""The interpreter on pure Lua: closures and upvalues, varargs, multiple assignment and
returns, loops, metatables, numbers and their printing, errors and their positions."""

from __future__ import annotations

import pytest

from tests.unit.lua_helpers import run, value


@pytest.mark.parametrize(("src", "expected"), [
    # numbers and their printing (%.14g)
    ("return 0.1", b"0.1"), ("return 3", b"3"), ("return 1e15", b"1e+15"),
    ("return 1e14", b"1e+14"), ("return 99999999999999", b"99999999999999"),
    ("return 2^53", b"9.007199254741e+15"), ("return 1/3", b"0.33333333333333"),
    ("return -0", b"-0"), ("return 1/0", b"inf"), ("return -1/0", b"-inf"),
    ("return 0/0", b"-nan"), ("return 3 % -2", b"-1"), ("return -3 % 2", b"1"),
    ("return 5.5 % 2", b"1.5"), ("return 7 / 2", b"3.5"), ("return 2^0.5", b"1.4142135623731"),
    ("return '10' + 5", b"15"), ("return '0x10' * 2", b"32"), ("return 10 .. ''", b"10"),
    ("return 1.5 .. 'x'", b"1.5x"), ("return tonumber('  1e2  ')", b"100"),
    ("return tonumber('ff', 16)", b"255"), ("return tonumber('x')", b"nil"),
    ("return math.floor(-3.5)", b"-4"), ("return math.fmod(-7, 3)", b"-1"),
    ("return math.max(3, 9, 1)", b"9"), ("return math.huge", b"inf"),
    # closures and upvalues
    ("local function mk() local n = 0 return function() n = n + 1 return n end end "
     "local a, b = mk(), mk() a() a() return a() * 10 + b()", b"31"),
    ("local fs = {} for i = 1, 3 do fs[i] = function() return i end end "
     "return fs[1]() + fs[2]() * 10 + fs[3]() * 100", b"321"),
    ("local x = 1 local function f() local function g() x = x + 1 end g() end f() f() "
     "return x", b"3"),
    ("local a = {} for _, v in ipairs({1, 2}) do a[v] = function() return v end end "
     "return a[1]() + a[2]()", b"3"),
    # varargs and multiple results
    ("local function f(...) return select('#', ...) end return f(nil, nil)", b"2"),
    ("local function f(...) local a, b, c = ... return c end return f(1, 2, 3)", b"3"),
    ("local function f() return 1, 2 end local t = {f(), f()} return #t", b"3"),
    ("local function f() return 1, 2 end local t = {(f())} return #t", b"1"),
    ("local a, b, c = (function() return 1, 2, 3 end)() return a + b + c", b"6"),
    ("local a, b = 1 return b", b"nil"),
    ("local a, b = 1, 2 a, b = b, a return a * 10 + b", b"21"),
    ("local t = {1, 2} local i = 1 i, t[i] = i + 1, 20 return t[1] * 100 + t[2]", b"2002"),
    # control flow
    ("local s = 0 for i = 10, 1, -3 do s = s + i end return s", b"22"),
    ("local n = 0 while true do n = n + 1 if n == 4 then break end end return n", b"4"),
    ("local n = 0 repeat local done = n >= 2 n = n + 1 until done return n", b"3"),
    ("for i = 1, 3 do if i == 2 then return i * 100 end end", b"200"),
    ("local s = '' for k, v in pairs({10, 20, 30}) do s = s .. k .. v end return s",
     b"110220330"),
    # tables
    # Lua's border search, as redis-server 7.0.15 answers (t[4] is in the array part).
    ("local t = {} t[1] = 'a' t[2] = 'b' t[4] = 'd' return #t", b"4"),
    ("local t = {10, 20, 30} table.remove(t, 1) return t[1] + #t", b"22"),
    ("local t = {3, 1, 2} table.sort(t) return table.concat(t, ',')", b"1,2,3"),
    ("local t = {'b', 'a', 'c'} table.sort(t, function(x, y) return x > y end) "
     "return table.concat(t)", b"cba"),
    ("local t = {} for i = 1, 200 do t[i] = (i * 7919) % 211 end table.sort(t) "
     "for i = 2, #t do assert(t[i - 1] <= t[i]) end return #t", b"200"),
    ("local t = {[1] = 'x', [1.0] = 'y'} return t[1]", b"y"),
    ("local t = {[true] = 1, [1] = 2} return t[true] + t[1] * 10", b"21"),
    ("local t = {} t[3] = 3 t[2] = 2 t[1] = 1 return #t", b"3"),
    ("return next({}, nil)", b"nil"),
    ("return select(2, next({7}))", b"7"),
    # metatables
    ("local V = {} V.__index = V V.__add = function(a, b) return a.x + b.x end "
     "local a = setmetatable({x = 1}, V) return a + setmetatable({x = 2}, V)", b"3"),
    ("local t = setmetatable({}, {__index = function(_, k) return k * 2 end}) return t[21]",
     b"42"),
    ("local store = {} local t = setmetatable({}, {__newindex = store}) t.a = 1 "
     "return rawget(t, 'a') == nil and store.a", b"1"),
    ("local t = setmetatable({}, {__call = function(self, a, b) return a + b end}) "
     "return t(2, 3)", b"5"),
    ("return tostring(setmetatable({}, {__tostring = function() return 'me' end}))", b"me"),
    ("local mt = {__eq = function() return true end} "
     "return setmetatable({}, mt) == setmetatable({}, mt)", b"true"),
    ("local mt = {__lt = function(a, b) return a.v < b.v end} "
     "local x, y = setmetatable({v = 1}, mt), setmetatable({v = 2}, mt) return y > x", b"true"),
    ("local mt = {__le = function(a, b) return a.v <= b.v end} "
     "return setmetatable({v = 3}, mt) <= setmetatable({v = 3}, mt)", b"true"),
    ("local mt = {__concat = function(a, b) return 'C' end} "
     "return 'x' .. setmetatable({}, mt)", b"C"),
    ("local mt = {__unm = function() return 7 end} return -setmetatable({}, mt)", b"7"),
    ("return getmetatable(setmetatable({}, {__metatable = 'no'}))", b"no"),
    ("return ('abc'):upper()", b"ABC"),
    # pcall / error
    ("return select(2, pcall(error, {}))  ~= nil", b"true"),
    ("return select(2, pcall(function() error('x', 0) end))", b"x"),
    ("return select(2, pcall(function() error('x') end))", b"user_script:1: x"),
    ("return select(2, pcall(function() local t = nil return t.x end))",
     b"user_script:1: attempt to index local 't' (a nil value)"),
    ("return select(2, pcall(function() return {} .. 'x' end))",
     b"user_script:1: attempt to concatenate a table value"),
    ("return select(2, pcall(function() return nosuch.field end))",
     b"user_script:1: Script attempted to access nonexistent global variable 'nosuch'"),
    ("return select(2, xpcall(function() error('e', 0) end, function(m) return m .. '!' end))",
     b"e!"),
])
def test_values(src: str, expected: bytes) -> None:
    assert value(src) == expected


def test_error_lines_and_levels() -> None:
    assert run("\n\nlocal x = nil\nreturn x.y").startswith(
        b"-ERR user_script:4: attempt to index local 'x' (a nil value) script: ")
    assert run("local function f()\n error('in f', 2)\nend\nf()").startswith(
        b"-ERR user_script:4: in f script: ")
    assert run("local function f()\n error('in f', 2)\nend\nf()").endswith(
        b", on @user_script:2.\r\n")
    assert run("error({err='CODE custom'})").startswith(b"-CODE custom script: ")
    assert run("return redis.call('nosuch')").startswith(
        b"-ERR unknown command script: ")


def test_globals_are_protected() -> None:
    assert b"Attempt to modify a readonly table" in run("x = 1")
    assert b"Attempt to modify a readonly table" in run("string.foo = 1")
    assert b"nonexistent global variable 'y'" in run("return y")
    assert run("local t = {} t.x = 1 return t.x") == b":1\r\n"


def test_keys_and_argv() -> None:
    assert run("return {KEYS[1], ARGV[1], #KEYS, #ARGV}", ("k",), ("a", "b")) == \
        b"*4\r\n$1\r\nk\r\n$1\r\na\r\n:1\r\n:2\r\n"


def test_conversions_to_resp() -> None:
    assert run("return 3.99") == b":3\r\n"
    assert run("return -3.99") == b":-3\r\n"
    assert run("return math.huge") == b":-9223372036854775808\r\n"
    assert run("return {1, 2, nil, 4}") == b"*2\r\n:1\r\n:2\r\n"
    assert run("return true") == b":1\r\n"
    assert run("return false") == b"$-1\r\n"
    assert run("return {ok='fine'}") == b"+fine\r\n"
    assert run("return {err='bad'}") == b"-bad\r\n"
    assert run("return redis.status_reply('S')") == b"+S\r\n"
    assert run("return redis.error_reply('E x')") == b"-E x\r\n"
    assert run("return redis.call('ping')") == b"+PONG\r\n"
    assert run("return redis.call('echo', 0.1)") == b"$19\r\n0.10000000000000001\r\n"


def test_time_limit_stops_loops_without_a_server() -> None:
    """A context with no connections to serve (CallContext.overtime) stops a script at
    its time limit, at the line of the loop, whatever pcall does."""
    reply = run("while true do end", time_limit_ms=50)
    assert reply.startswith(b"-ERR Script killed by user with SCRIPT KILL... script: "), reply
    assert reply.endswith(b", on @user_script:1.\r\n"), reply
    reply = run("local x = 0\nfor i = 1, 1e12 do x = i end", time_limit_ms=50)
    assert reply.endswith(b", on @user_script:2.\r\n"), reply
    reply = run("local ok = pcall(function() repeat until false end) return ok",
                time_limit_ms=50)
    assert reply.startswith(b"-ERR Script killed"), reply


def test_deep_recursion_is_an_error_not_a_crash() -> None:
    reply = run("local function f(n) return f(n + 1) + 1 end return f(1)")
    assert b"stack overflow" in reply
    assert run("local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end "
               "return f(150)") == b":150\r\n"


def test_random_is_redis_sequence() -> None:
    # Redis 7.0.15 answers {75, 4, "0.11108528222474"} to the same script.
    assert run("math.randomseed(42) return {math.random(100), math.random(1, 10), "
               "tostring(math.random())}") == b"*3\r\n:75\r\n:4\r\n$16\r\n0.11108528222474\r\n"
