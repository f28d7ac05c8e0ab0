"""EVAL cases sent to AiKv and to a real redis-server 7.0 by test_scripting.py: each case
is a list of commands whose replies must be identical, byte for byte."""

from __future__ import annotations

import hashlib
from typing import Any

Case = list[tuple[Any, ...]]


def sha(src: str) -> str:
    return hashlib.sha1(src.encode()).hexdigest()


def ev(src: str, *keys_then_args: str, numkeys: int = 0) -> tuple[Any, ...]:
    return ("eval", src, numkeys, *keys_then_args)


# ------------------------------------------------------------------ pure computation
PURE = [
    "return 1", "return -1", "return 0", "return 3.99", "return -3.99", "return 1e100",
    "return -1e100", "return math.huge", "return -math.huge", "return 0/0", "return 2^53",
    "return 2^63", "return 2^62", "return 'x'", "return ''", "return true", "return false",
    "return nil", "return", "return {}", "return {1,2,3}", "return {1,2,nil,4}",
    "return {1,{2,{3,{4}}},'x'}", "return {'a',true,false,'b'}", "return {1.5,2.7}",
    "return {ok='fine'}", "return {err='bad thing'}", "return {err='ERR bad'}",
    "return {ok='x\\ny'}", "return {err='x\\r\\ny'}", "return {1,{err='inner'},3}",
    "return {1,{ok='inner'},3}", "return {x=1,y=2}", "return {1,2,x=3}",
    "return {[1]='a',[2]='b',[4]='d'}", "return {n=1, 'a'}",
    "return tostring(0.1)", "return tostring(1/3)", "return tostring(1e15)",
    "return tostring(1e14)", "return tostring(123456789012345)", "return tostring(2^53)",
    "return tostring(-0)", "return tostring(0/0)", "return tostring(1/0)",
    "return tostring(-1/0)", "return tostring(1e-5)", "return tostring(1e300*1e10)",
    "return tostring(100)", "return tostring(-2.5)", "return tostring(3.14159265358979)",
    "return tostring(nil) .. tostring(true) .. tostring(false)",
    "return 3 % -2", "return -3 % 2", "return 5.5 % 2", "return -5.5 % 2", "return 3 % 0 ~= 3 % 0",
    "return tostring(3 % 0)", "return tostring(5 // 1)" if False else "return 7 / 2",
    "return 2^0.5 * 1000", "return 10 - 2 - 3", "return 2^3^2", "return -2^2",
    "return 1 .. 2", "return 'a' .. 1.5 .. 'b'", "return '10' + 5", "return '0x10' + 0",
    "return ' 12 ' * 2", "return '1e2' + 0", "return #'hello'", "return #{1,2,3}",
    "return 1 < 2", "return 'a' < 'b'", "return 'abc' < 'abd'", "return 'Z' < 'a'",
    "return 1 == 1.0", "return '1' == 1", "return nil == false", "return {} == {}",
    "local t = {} return t == t", "return not nil", "return not 0", "return 1 and 2",
    "return nil or 'd'", "return false and error('x')", "return 1 or error('x')",
    "return 1 <= 1", "return 2 >= 3", "return 1 ~= 2",
    "return select('#', 1, nil, 3)", "return select('#')", "return select(2, 'a', 'b', 'c')",
    "return select(-1, 'a', 'b', 'c')", "return {select(2, 'a', 'b', 'c')}",
    "return type(nil)", "return type(1)", "return type('')", "return type({})",
    "return type(print)", "return type(type)", "return type(redis)", "return _VERSION",
    "return tonumber('0x10')", "return tonumber('10', 2)", "return tonumber('  12  ')",
    "return tonumber('z', 36)", "return tonumber('ff', 16)", "return tonumber('1e3')",
    "return tonumber('abc')", "return tonumber('')", "return tonumber('12a')",
    "return tonumber(' 0x1F ')", "return tonumber('8', 8)", "return tonumber('7', 8)",
    "return tonumber(nil)", "return tonumber('.5') * 10", "return tonumber('5.') * 10",
    "return unpack({1,2,3})", "return {unpack({1,2,3})}", "return {unpack({1,2,3}, 2)}",
    "return {unpack({1,2,3}, 2, 3)}", "return {unpack({}, 1, 0)}",
    "return rawequal('a', 'a')", "return rawget({5}, 1)", "return rawlen" if False else
    "return rawget(setmetatable({}, {__index=function() return 1 end}), 'x')",
    "return next({})", "return next({7})", "return {next({7})}",
    "return {pcall(error, 'x')}", "return {pcall(function() error('boom') end)}",
    "return {pcall(function() error('boom', 0) end)}",
    "return {pcall(function() error({err='X y'}) end)}",
    "return {pcall(function() error({code=1}) end)}" if False else
    "return {pcall(function() return 1, 2, 3 end)}",
    "return {pcall(function() local x = nil; return x.y end)}",
    "return {pcall(function() return 1 + {} end)}",
    "return {pcall(function() return #nil end)}",
    "return {pcall(function() return {} < {} end)}",
    "return {pcall(function() return 1 < 'x' end)}",
    "return {pcall(function() return 'a' .. {} end)}",
    "return {pcall(function() undefined_fn() end)}",
    "return {pcall(function() local t = {} t.a.b = 1 end)}",
    "return {pcall(function() local s = 'x' return s:nosuch() end)}",
    "return {xpcall(function() error('e') end, function(m) return 'handled: ' .. m end)}",
    "return {pcall(string.rep)}", "return {pcall(string.sub)}",
    "return {pcall(string.format, '%d', 'x')}", "return {pcall(setmetatable, 1, {})}",
    "return {pcall(table.concat, {1, {}, 3})}", "return {pcall(math.floor, 'a')}",
    "return {pcall(ipairs)}", "return {pcall(select, 0, 'a')}",
    "return {pcall(tonumber, '10', 99)}",
    "return {pcall(function() error() end)}",
    "return {pcall(function() error(nil) end)}",
    "return {pcall(function() error(42) end)}",
    "return {pcall(function() assert(false) end)}",
    "return {pcall(function() assert(nil, 'custom msg') end)}",
    "return {pcall(function() assert(1 == 1, 'x') end)}",
    # strings
    "return string.len('abc')", "return ('x'):rep(3)", "return string.rep('ab', 3, ',')",
    "return string.rep('x', 0)", "return string.rep('x', -1)",
    "return string.sub('hello', 2, 4)", "return string.sub('hello', -3)",
    "return string.sub('hello', 0)", "return string.sub('hello', 10)",
    "return string.sub('hello', 2, -2)", "return string.sub('hello', -100, 2)",
    "return string.upper('aBc')", "return string.lower('AbC')",
    "return string.reverse('abc')", "return {string.byte('abc', 1, -1)}",
    "return string.byte('A')", "return {string.byte('abc', 10)}", "return string.char(72, 105)",
    "return {pcall(string.char, 256)}",
    "return string.format('%5.2f|%d|%s|%q|%x', 3.14159, 42, 'hi', 'a\"b\\n', 255)",
    "return string.format('%d', 3.7)", "return string.format('%d', -3.7)",
    "return string.format('%5d|%-5d|%05d', 42, 42, 42)", "return string.format('%x|%X|%o', 255, 255, 8)",
    "return string.format('%e', 12345.678)", "return string.format('%g', 0.0001)",
    "return string.format('%g', 1e20)", "return string.format('%.3g', 2/3)",
    "return string.format('%10.4f|', math.pi)", "return string.format('%-10s|', 'ab')",
    "return string.format('%c%c%c', 76, 117, 97)", "return string.format('%%')",
    "return string.format('%s %s', 1, 2.5)", "return string.format('%q', 'a\\0b\\rc')",
    "return string.format('%s', 1e100)", "return string.format('%5.1s|', 'abc')",
    "return string.format('%i', 42)", "return string.format('%u', 42)",
    "return {pcall(string.format, '%y', 1)}", "return {pcall(string.format, '%d')}",
    "return string.format('%x', -1)",
    "return string.find('hello world', 'o w')", "return {string.find('hello', 'l+')}",
    "return {string.find('hello', 'l', 1, true)}", "return {string.find('a.b', '.', 1, true)}",
    "return {string.find('hello', 'xyz')}", "return {string.find('hello', '')}",
    "return {string.find('hello', '', 10)}", "return {string.find('hello', 'l', -2)}",
    "return {string.find('key:123:end', '(%d+)')}", "return {string.find('abc', '^b')}",
    "return {string.find('abc', 'c$')}", "return {string.find('a+b', '+', 1, true)}",
    "return string.match('hello 123 world', '%d+')", "return {string.match('k=v', '(%w+)=(%w+)')}",
    "return string.match('  trim  ', '^%s*(.-)%s*$')", "return string.match('abc', '()b()')",
    "return {string.match('abc', '()b()')}", "return string.match('THE (quick) fox', '%((%a+)%)')",
    "return string.match('f(a(b)c)d', '%b()')", "return string.match('hello', '.-l')",
    "return string.match('hello', '.*l')", "return string.match('2024-01-15', '(%d+)-(%d+)-(%d+)')",
    "return {string.match('2024-01-15', '(%d+)-(%d+)-(%d+)')}",
    "return string.match('abcabc', '(abc)%1')", "return string.match('x', '[%a_][%w_]*')",
    "return string.match('A1_b', '^[%u%d_]+')", "return string.match('hello', '[^aeiou]+')",
    "return string.match('THE END', '%f[%w]%w+')", "return string.match('a-b', '[a%-]+')",
    "return string.match('[x]', '%[(.)%]')", "return string.match('a]b', '[]]')",
    "return {pcall(string.match, 'x', '[a')}", "return {pcall(string.match, 'x', '%')}",
    "return {pcall(string.match, 'x', '(()')}", "return {pcall(string.find, 'x', '%1')}",
    "return string.gsub('hello world', '(%w+)', '<%1>')",
    "return {string.gsub('hello world', 'o', '0')}", "return {string.gsub('hello', 'l', 'L', 1)}",
    "return {string.gsub('abc', '', '-')}", "return {string.gsub('hello world', '%w+', '%0 %0')}",
    "return {string.gsub('$name is $age', '%$(%w+)', {name='bob', age=42})}",
    "return {string.gsub('abc', '%w', function(c) return c:upper() .. '.' end)}",
    "return {string.gsub('abc', '%w', function(c) if c == 'b' then return false end return 'X' end)}",
    "return {string.gsub('a b c', ' ', '%%')}", "return {string.gsub('x', 'x', '%2')}" if False
    else "return {string.gsub('aaa', '^a', 'b')}",
    "return {pcall(string.gsub, 'abc', '%w', {a={}})}",
    "local out = {} for w in string.gmatch('one two three', '%a+') do out[#out+1] = w end return out",
    "local out = {} for k, v in string.gmatch('a=1, b=2', '(%w+)=(%w+)') do out[#out+1] = k .. v end return out",
    "local out = {} for w in string.gmatch('abc', '') do out[#out+1] = 'x' end return #out",
    "return getmetatable('').__index == string", "return ('%d'):format(7)",
    "local s = 'abc' return s:len() + #s", "return ('x'):byte()",
    # tables
    "return table.concat({1,2,3}, '-')", "return table.concat({'a','b','c'}, ', ', 2, 3)",
    "return table.concat({})", "local t = {3,1,2}; table.sort(t); return t",
    "local t = {3,1,2}; table.sort(t, function(a,b) return a>b end); return t",
    "local t = {'b','c','a'}; table.sort(t); return t",
    "local t = {} for i = 1, 100 do t[i] = (i * 37) % 101 end table.sort(t) return t",
    "local t = {5,3,8,1,9,2,7,4,6,0} table.sort(t, function(a, b) return a > b end) return t",
    "return {pcall(table.sort, {1, 'x', 2})}",
    "local t = {1,2,3} table.insert(t, 4) table.insert(t, 1, 0) return t",
    "local t = {1,2,3} local r = table.remove(t) return {r, t}",
    "local t = {1,2,3} local r = table.remove(t, 1) return {r, t}",
    "local t = {} return table.remove(t)", "return table.getn({1,2,3})",
    "return table.maxn({1,2,[10]=3})", "local t = {1,2,3} t[#t + 1] = 4 return #t",
    "local t = {} t[1] = 1 t[2] = 2 t[3] = 3 t[3] = nil return #t",
    "local t = {10,20,30} local s = 0 for i, v in ipairs(t) do s = s + i * v end return s",
    "local t = {a=1, b=2, c=3} local s = 0 for k, v in pairs(t) do s = s + v end return s",
    "local t = {1,2,nil,4} local n = 0 for _ in ipairs(t) do n = n + 1 end return n",
    "local keys = {} for k in pairs({x=1, y=2, z=3}) do keys[#keys+1] = k end table.sort(keys) return keys",
    "local t = {} t[1.0] = 'a' return t[1]", "local t = {} t['1'] = 'a' return t[1]",
    "local t = {[true]='t', [1]='one'} return {t[true], t[1]}",
    "return {pcall(function() local t = {} t[nil] = 1 end)}",
    "return {pcall(function() local t = {} t[0/0] = 1 end)}",
    # math
    "return math.floor(3.7)", "return math.floor(-3.7)", "return math.ceil(3.2)",
    "return math.ceil(-3.2)", "return math.abs(-4)", "return math.max(1, 5, 3)",
    "return math.min(4, 2, 8)", "return math.sqrt(16)", "return math.pow(2, 10)",
    "return math.fmod(7, 3)", "return math.fmod(-7, 3)", "return tostring(math.pi)",
    "return tostring(math.huge)", "return {math.modf(3.7)}", "return math.exp(0)",
    "return math.log(1)", "return math.log10(1000)", "return tostring(math.sqrt(-1))",
    "return {pcall(math.max)}",
    "math.randomseed(42) return {math.random(100), math.random(1,10), tostring(math.random())}",
    "math.randomseed(7) local t = {} for i = 1, 20 do t[i] = math.random(1000) end return t",
    "math.randomseed(-5) return math.random(3, 3)",
    "return {pcall(math.random, 0)}",
    # language
    "local a, b, c = 1, 2 return {a, b, c == nil}", "local a, b = 1, 2, 3 return a + b",
    "local a, b = 1, 2 a, b = b, a return {a, b}",
    "local function f() return 1, 2, 3 end local a, b, c, d = f() return {a, b, c, d == nil}",
    "local function f() return 1, 2, 3 end return {f(), f()}",
    "local function f() return 1, 2, 3 end return {(f())}",
    "local function f(...) return select('#', ...) end return f(1, nil, 3, nil)",
    "local function f(...) local a, b = ... return {a, b} end return f(5, 6, 7)",
    "local function f(...) return {...} end return f(1, 2, 3)",
    "local function f(a, ...) return a + select('#', ...) end return f(10, 'x', 'y')",
    "local function sum(...) local s = 0 for i = 1, select('#', ...) do s = s + select(i, ...) end return s end return sum(1, 2, 3, 4)",
    "local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end return fib(20)",
    "local function counter() local n = 0 return function() n = n + 1 return n end end local c = counter() c() c() return c()",
    "local fs = {} for i = 1, 3 do fs[i] = function() return i end end return {fs[1](), fs[2](), fs[3]()}",
    "local fs = {} local i = 1 while i <= 3 do local j = i fs[i] = function() return j end i = i + 1 end return {fs[1](), fs[3]()}",
    "local x = 1 local function f() x = x + 1 end f() f() return x",
    "local x = 1 do local x = 2 end return x",
    "local s = 0 for i = 1, 10 do s = s + i end return s",
    "local s = 0 for i = 10, 1, -2 do s = s + i end return s",
    "local s = 0 for i = 1, 0 do s = s + 1 end return s",
    "local s = 0 for i = 0.5, 2.5, 0.5 do s = s + i end return s * 10",
    "local s = '' for i = 1, 3 do s = s .. i end return s",
    "local n = 0 while true do n = n + 1 if n > 5 then break end end return n",
    "local n = 0 repeat n = n + 1 until n >= 7 return n",
    "local n = 0 repeat local m = n + 1 n = m until m >= 3 return n",
    "local r = {} for i = 1, 3 do for j = 1, 3 do if j > i then break end r[#r+1] = i * 10 + j end end return r",
    "if false then return 1 elseif nil then return 2 else return 3 end",
    "local x = 5 if x > 3 then return 'big' end return 'small'",
    "local t = {} function t.f(a) return a * 2 end return t.f(21)",
    "local t = {n = 5} function t:get() return self.n end return t:get()",
    "local t = {n = 5} function t.add(self, k) self.n = self.n + k return self end return t:add(3):add(4).n",
    "local Account = {} Account.__index = Account function Account.new(b) return setmetatable({balance = b}, Account) end function Account:deposit(v) self.balance = self.balance + v end local a = Account.new(100) a:deposit(50) return a.balance",
    "local mt = {__add = function(a, b) return a.v + b.v end} local x = setmetatable({v = 1}, mt) local y = setmetatable({v = 2}, mt) return x + y",
    "local mt = {__eq = function(a, b) return a.id == b.id end} local x = setmetatable({id = 1}, mt) local y = setmetatable({id = 1}, mt) return x == y",
    "local mt = {__lt = function(a, b) return a.v < b.v end} local x = setmetatable({v = 1}, mt) local y = setmetatable({v = 2}, mt) return {x < y, y < x}",
    "local mt = {__le = function(a, b) return a.v <= b.v end} local x = setmetatable({v = 1}, mt) return x <= x",
    "local mt = {__concat = function(a, b) return 'cat' end} local x = setmetatable({}, mt) return x .. 'y'",
    "local mt = {__call = function(self, a) return a * 3 end} local x = setmetatable({}, mt) return x(5)",
    "local mt = {__tostring = function() return 'OBJ' end} return tostring(setmetatable({}, mt))",
    "local mt = {__unm = function() return 'neg' end} return -setmetatable({}, mt)",
    "local log = {} local t = setmetatable({}, {__newindex = function(t, k, v) rawset(t, k, v * 2) end}) t.a = 5 return t.a",
    "local base = {x = 1} local d = setmetatable({}, {__index = base}) return d.x",
    "local t = setmetatable({}, {__index = function(t, k) return k .. '!' end}) return t.foo",
    "local t = setmetatable({}, {__metatable = 'locked'}) return getmetatable(t)",
    "return {pcall(setmetatable, setmetatable({}, {__metatable = 1}), {})}",
    "return getmetatable({}) == nil",
    "local t = {} t.__index = t return rawequal(getmetatable(setmetatable({}, t)), t)",
    "return [[long\nstring]]", "return [==[a]]b]==]", "return 'tab\\tnew\\\\n'",
    "return '\\65\\066\\0067'", "return \"q'uote\"", "return '\\x41'",
    "-- comment\nreturn 1 --[[ block\ncomment ]] + 1",
    "--[==[ long\n comment ]==] return 'after'",
    "return 0x10 + 0xff", "return 1e2", "return .5 * 4", "return 3e-2 * 100",
    "local a = {1, 2, 3; 4} return #a", "local t = {f = function() return 'called' end} return t.f()",
    "local t = {[1+1] = 'two', ['x'..'y'] = 'xy'} return {t[2], t.xy}",
    "return (function(...) return ... end)(1, 2)",
    "local function f() end return f()", "local function f() end return {f()}",
    "return loadstring('return 1 + 1')()", "return {loadstring('syntax error here')}",
    "return loadstring('local a = ... return a * 2')(21)",
    "local ok, err = pcall(loadstring, 'x =') return {ok, type(err)}" if False else
    "return type(loadstring('return 1'))",
    # redis helpers
    "return redis.sha1hex('')", "return redis.sha1hex('abc')", "return {pcall(redis.sha1hex)}",
    "return redis.error_reply('MY err')", "return redis.error_reply('-MY err')",
    "return redis.error_reply('noformat')", "return redis.status_reply('FINE')",
    "return redis.status_reply('')", "return {redis.status_reply('OK')}",
    "return type(redis.error_reply('x'))", "return redis.error_reply('x').err",
    "return redis.REDIS_VERSION", "return redis.REDIS_VERSION_NUM", "return redis.LOG_WARNING",
    "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
    "return redis.log(redis.LOG_WARNING, 'hi from test')",
    "return {pcall(redis.log, 99, 'x')}", "return {pcall(redis.log, 'x')}",
    "return redis.setresp(2)", "return {pcall(redis.setresp, 4)}",
    "return redis.set_repl(redis.REPL_ALL)", "return redis.replicate_commands()",
    "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}",
    "return {pcall(redis.set_repl, 99)}",
    # bit / cjson
    "return bit.band(0xff, 0x0f)", "return bit.bor(1, 2, 4)", "return bit.bxor(5, 3)",
    "return bit.bnot(0)", "return bit.lshift(1, 4)", "return bit.rshift(256, 4)",
    "return bit.arshift(-256, 4)", "return bit.rshift(-1, 28)", "return bit.tobit(2^32 + 5)",
    "return bit.tohex(255)", "return bit.tohex(255, 2)", "return bit.tohex(255, -4)",
    "return bit.tohex(-1)",
    "return cjson.encode({1,2,3})", "return cjson.encode({a=1})", "return cjson.encode('x\"y')",
    "return cjson.encode({})", "return cjson.encode({1.5, true, false, 'str'})",
    "return cjson.encode({nested = {1, 2, {deep = 'yes'}}})", "return cjson.encode('a/b')",
    "return cjson.decode('[1,2,{\"a\":3}]')[3].a", "return cjson.decode('{\"k\":\"v\"}').k",
    "return cjson.decode('[1,2,3]')", "return cjson.decode('\"str\"')", "return cjson.decode('12.5')",
    "return cjson.decode('true')", "return type(cjson.decode('null'))",
    "return cjson.encode(cjson.decode('{\"a\":[1,2,3]}'))",
    # globals protection, argument conversion
    "x = 1", "return y", "foo()", "local t = nil; return t.x", "return 1 + nil",
    "local t = {} ; t.x.y = 1", "return #nil", "local a; a()", "return 'a' < 1",
    "return {} < {}", "return 1 + {}", "local t = {} return t.a.b.c", "string.x = 1",
    "return math.nosuch()", "local s = 'x' return s.y.z", "return ('x')()",
    "error('boom')", "error('a\\nb')", "error('x', 0)", "error('x', 2)",
    "local function f() error('in f', 2) end\nf()", "error({err='X boom'})",
    "error()", "error(42)", "error(true)",
    "local function lvl3() error('deep') end local function lvl2() lvl3() end\nlvl2()",
    "\n\nlocal x = nil\nreturn x.field",
    "local function f()\n  return redis.call('nosuch')\nend\nreturn f()",
    "assert(false)", "assert(nil, 'assertion with message')", "assert(1 == 2, 42)",
    "return 1 +", "return end", "x = = 1", "return 'unfinished", "local 1 = 2",
    "for i = 1 do end", "if true then", "return )", "f(", "local x <const> = 1",
    "return [[unfinished", "return 1 2", "x.y", "break", "return ... + 1" if False else
    "local function f() return ... end",
    "#!lua\nreturn 1", "#!lua flags=no-writes\nreturn 2", "#!lua flags=allow-oom,no-writes\nreturn 3",
    "#!lua flags=bogus\nreturn 1", "#!lua bad=1\nreturn 1", "#!python\nreturn 1", "#!lua",
    "#!lua\nreturn {pcall(function() error('e') end)}",
    "#!lua\n\nerror('line three')",
    "return KEYS", "return ARGV", "return #KEYS + #ARGV",
    "return redis.call()", "return redis.call({})", "return redis.call('get', {})",
    "return redis.call('get', nil)", "return redis.pcall()", "return redis.pcall('get', {})",
    "return redis.call('nosuch')", "return redis.pcall('nosuch')",
    "return pcall(function() redis.call('nosuch') end)",
    "return {pcall(function() redis.call('nosuch') end)}",
    "return {pcall(redis.call, 'nosuch')}",
    "return redis.call('set', 'k')", "return redis.call('ping')", "return redis.call('PING')['ok']",
    "return redis.call('ping', 'hello')", "return redis.call('echo', 3.5)",
    "return redis.call('echo', 3)", "return redis.call('echo', 0.1)", "return redis.call('echo', -0)",
    "return redis.call('echo', 1e20)", "return redis.call('echo', 1/0)",
    "return redis.call('subscribe', 'x')", "return redis.call('blpop', 'nope', 0)",
    "return redis.call('multi')", "return redis.call('exec')", "return redis.call('eval', 'return 1', 0)",
    "return redis.call('script', 'load', 'return 1')", "return redis.call('client', 'list')" if False
    else "return redis.call('watch', 'k')",
    "return redis.call('config', 'nosuchsub')", "return redis.call('object')",
    "return redis.pcall('set', 'k')", "return redis.pcall('subscribe', 'x')",
    "return type(redis.pcall('nosuch'))", "return redis.pcall('nosuch').err",
    "redis.setresp(3) return redis.call('ping')", "return redis.call('select', 1)",
    "return {redis.call('time')} ~= nil",
]

# ------------------------------------------------------------------ with data
DATA: list[Case] = [
    [("set", "s", "hello"), ev("return redis.call('get', KEYS[1])", "s", numkeys=1)],
    [ev("return redis.call('get', KEYS[1])", "missing", numkeys=1)],
    [ev("return redis.call('get', 'missing') == false")],
    [ev("return type(redis.call('get', 'missing'))")],
    [ev("return redis.call('set', KEYS[1], ARGV[1])", "k", "v", numkeys=1), ("get", "k")],
    [ev("return redis.call('set', KEYS[1], ARGV[1], 'NX')", "k", "v", numkeys=1),
     ev("return redis.call('set', KEYS[1], ARGV[1], 'NX')", "k", "v2", numkeys=1),
     ("get", "k")],
    [ev("return redis.call('set', 'n', 3.5)"), ("get", "n")],
    [ev("redis.call('set', 'n', 0.1) return redis.call('get', 'n')")],
    [ev("return redis.call('incr', 'c')"), ev("return redis.call('incrby', 'c', 10)")],
    [ev("return redis.call('incrbyfloat', 'f', '1.5')")],
    [("set", "x", "abc"), ev("return redis.call('incr', 'x')")],
    [("set", "x", "abc"), ev("return redis.pcall('incr', 'x')")],
    [("set", "x", "abc"), ev("local r = redis.pcall('incr', 'x') return r.err")],
    [("rpush", "l", "a"), ev("return redis.call('get', 'l')")],
    [("rpush", "l", "a"), ev("return redis.pcall('get', 'l')")],
    [("rpush", "l", "a"), ev("local ok, e = pcall(redis.call, 'get', 'l') return {ok, e}")],
    [ev("redis.call('lpush','k','a'); return redis.call('get','k')")],
    [ev("redis.call('rpush', 'l', 'a', 'b', 'c') return redis.call('lrange', 'l', 0, -1)")],
    [ev("return redis.call('lrange', 'nolist', 0, -1)")],
    [ev("redis.call('rpush', 'l', 1, 2, 3) return redis.call('lpop', 'l')")],
    [ev("return redis.call('lpop', 'empty')")],
    [ev("redis.call('rpush', 'l', 'x') return redis.call('lpop', 'l', 5)")],
    [ev("return redis.call('lpop', 'empty', 2)")],
    [ev("redis.call('hset', 'h', 'a', 1, 'b', 2) local t = redis.call('hgetall', 'h') "
        "table.sort(t) return t")],
    [ev("redis.call('hset', 'h', 'a', 1) return redis.call('hget', 'h', 'a')")],
    [ev("return redis.call('hget', 'h', 'nofield')")],
    [ev("redis.call('hset', 'h', 'a', 1) return redis.call('hexists', 'h', 'a')")],
    [ev("redis.call('hset', 'h', 'f1', 'v1', 'f2', 'v2') local t = redis.call('hgetall', 'h') "
        "local r = {} for i = 1, #t, 2 do r[t[i]] = t[i+1] end return {r.f1, r.f2}")],
    [ev("for i = 1, 50 do redis.call('hset', 'h', 'f' .. i, i * i) end "
        "return redis.call('hlen', 'h')"),
     ev("return redis.call('hmget', 'h', 'f1', 'f7', 'f50', 'nope')")],
    [ev("redis.call('sadd', 's', 'a', 'b', 'c') return redis.call('scard', 's')"),
     ev("return redis.call('sismember', 's', 'b')"), ev("return redis.call('smembers', 'nos')")],
    [ev("redis.call('zadd', 'z', 1, 'a', 2.5, 'b', 3, 'c') "
        "return redis.call('zrange', 'z', 0, -1, 'withscores')")],
    [ev("redis.call('zadd', 'z', 1, 'a') return redis.call('zscore', 'z', 'a')")],
    [ev("redis.call('zadd', 'z', 1.5, 'a') return redis.call('zincrby', 'z', 2, 'a')")],
    [ev("return redis.call('zscore', 'z', 'none')")],
    [ev("redis.call('zadd', 'z', 5, 'm') return redis.call('zrank', 'z', 'm')")],
    [ev("return redis.call('exists', 'a', 'b')")],
    [ev("redis.call('set', 'a', 1) return redis.call('type', 'a')")],
    [ev("return redis.call('type', 'none')")],
    [ev("redis.call('set', 'a', 1) return redis.call('type', 'a').ok")],
    [ev("redis.call('set', 'a', 1) return redis.call('del', 'a', 'b')")],
    [ev("redis.call('mset', 'a', 1, 'b', 2) return redis.call('mget', 'a', 'b', 'c')")],
    [ev("redis.setresp(3) redis.call('hset', 'h', 'a', '1') return redis.call('hgetall', 'h')")],
    [ev("redis.setresp(3) redis.call('hset', 'h', 'a', '1') local r = redis.call('hgetall', 'h') "
        "return r.map.a")],
    [ev("redis.setresp(3) return redis.call('get', 'missing')")],
    [ev("redis.setresp(3) return redis.call('get', 'missing') == nil")],
    [ev("redis.setresp(3) redis.call('sadd', 's', 'x') local r = redis.call('smembers', 's') "
        "return r.set.x")],
    [ev("redis.setresp(3) redis.call('zadd', 'z', 1.5, 'a') return redis.call('zscore', 'z', 'a')")],
    [ev("redis.setresp(3) redis.call('zadd', 'z', 1.5, 'a') "
        "return redis.call('zscore', 'z', 'a').double")],
    [ev("redis.setresp(3) return redis.call('exists', 'nokey')")],
    [ev("redis.setresp(3) return true"), ev("redis.setresp(3) return false"),
     ev("return true"), ev("return false")],
    [ev("return {double=3.14}"), ev("return {double=1}"), ev("return {big_number='123'}")],
    [ev("return {map={a=1}}"), ev("return {set={a=true}}")],
    [ev("return {verbatim_string={format='txt', string='hello'}}")],
    # select inside a script does not change the caller's database
    [ev("redis.call('select', 1) redis.call('set', 'indb1', 'v') return 1"), ("get", "indb1"),
     ("select", "1"), ("get", "indb1"), ("del", "indb1"), ("select", "0")],
    # expiry
    [ev("redis.call('set', KEYS[1], 'v') redis.call('expire', KEYS[1], 100) "
        "return redis.call('ttl', KEYS[1])", "ek", numkeys=1)],
    [ev("return redis.call('incr', KEYS[1])", "cnt", numkeys=1),
     ev("local v = redis.call('incr', KEYS[1]) if v == 1 then redis.call('expire', KEYS[1], ARGV[1]) end "
        "return {v, redis.call('ttl', KEYS[1])}", "rl", "60", numkeys=1)],
    # numkeys / arity
    [("eval", "return 1", "1")], [("eval", "return 1", "-1")], [("eval", "return 1", "abc")],
    [("eval", "return 1", "2", "a")], [("eval", "return 1")], [("eval", "return KEYS", "01", "a")],
    [("eval", "return {KEYS, ARGV}", "2", "k1", "k2", "a1", "a2", "a3")],
    [("eval", "return {#KEYS, #ARGV}", "0", "a1", "a2")],
    [("eval", "return ARGV[1] .. ARGV[2]", "0", "x", "y")],
    [("eval", "return KEYS[1] + ARGV[1]", "1", "5", "7")],
    # EVALSHA / SCRIPT
    [("script", "load", "return 'loaded'"),
     ("evalsha", sha("return 'loaded'"), "0"),
     ("script", "exists", sha("return 'loaded'"),
      "0000000000000000000000000000000000000000")],
    [("script", "load", "return 'x'"), ("script", "exists",
                                          sha("return 'x'").upper())],
    [("evalsha", "ffffffffffffffffffffffffffffffffffffffff", "0")],
    [("evalsha", "short", "0")], [("evalsha", "short", "x")],
    [("evalsha", "ffffffffffffffffffffffffffffffffffffffff", "x")],
    [("eval", "return 'cached'", "0"),
     ("evalsha", sha("return 'cached'").upper(), "0")],
    [("script", "load", "return 1 +")], [("script", "load", "#!lua flags=bogus\nreturn 1")],
    [("script", "load", "return 'abc'"), ("script", "flush"),
     ("script", "exists", sha("return 'abc'"))],
    [("script", "flush", "async")], [("script", "flush", "sync")], [("script", "flush", "bad")],
    [("script", "flush", "sync", "x")], [("script", "kill")], [("script", "help")],
    [("script", "nosuch")], [("script", "exists")], [("script", "load")],
    [("script", "debug", "no")], [("script", "debug", "maybe")],
    # EVAL_RO and no-writes
    [("eval_ro", "return redis.call('set', 'k', 'v')", "1", "k")],
    [("set", "k", "v"), ("eval_ro", "return redis.call('get', KEYS[1])", "1", "k")],
    [("eval_ro", "return redis.pcall('set', 'k', 'v')", "0")],
    [("eval_ro", "return redis.call('publish', 'ch', 'm')", "0")],
    [("eval_ro", "#!lua\nreturn 1", "0")],
    [("eval_ro", "#!lua flags=no-writes\nreturn redis.call('get', 'k')", "0")],
    [("eval", "#!lua flags=no-writes\nreturn redis.call('set', 'k', 'v')", "0")],
    [("eval", "#!lua flags=no-writes\nreturn redis.call('incr', 'k')", "0"), ("get", "k")],
    [("eval", "#!lua\nreturn redis.call('set', 'k', 'v')", "0"), ("get", "k")],
    [("script", "load", "return redis.call('set', KEYS[1], 'ro')"),
     ("evalsha_ro", sha("return redis.call('set', KEYS[1], 'ro')"), "1", "k")],
    # transactions
    [("multi",), ("eval", "return redis.call('incr', 'm')", "0"), ("incr", "m"), ("exec",)],
    [("set", "w", "1"), ("watch", "w"), ("eval", "return redis.call('set', 'w', '2')", "0"),
     ("multi",), ("get", "w"), ("exec",)],
    # monitor-free checks of INFO-like effects: a script's write is visible to others
    [("eval", "redis.call('rpush', 'q', 'job1', 'job2') return redis.call('llen', 'q')", "0"),
     ("lrange", "q", "0", "-1")],
]

# ------------------------------------------------------------------ real-world scripts
UNLOCK = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
          "return redis.call('del', KEYS[1]) else return 0 end")
LOCK = ("if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 "
        "else return 0 end")
TOKEN_BUCKET = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local requested = tonumber(ARGV[4])
local fill_time = capacity / rate
local ttl = math.floor(fill_time * 2)
local last_tokens = tonumber(redis.call('hget', key, 'tokens'))
if last_tokens == nil then last_tokens = capacity end
local last_refreshed = tonumber(redis.call('hget', key, 'ts'))
if last_refreshed == nil then last_refreshed = 0 end
local delta = math.max(0, now - last_refreshed)
local filled = math.min(capacity, last_tokens + (delta * rate))
local allowed = filled >= requested
local new_tokens = filled
if allowed then new_tokens = filled - requested end
redis.call('hset', key, 'tokens', new_tokens, 'ts', now)
redis.call('expire', key, ttl)
return { allowed and 1 or 0, tostring(new_tokens) }
"""
SLIDING_WINDOW = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('zremrangebyscore', key, '-inf', now - window)
local count = redis.call('zcard', key)
if count < limit then
  redis.call('zadd', key, now, ARGV[4])
  redis.call('pexpire', key, window)
  return {1, count + 1}
end
return {0, count}
"""
HASH_LOOP = """
for i = 1, tonumber(ARGV[1]) do
  redis.call('hset', KEYS[1], 'field' .. i, i * 2)
end
local all = redis.call('hgetall', KEYS[1])
local sum = 0
for i = 2, #all, 2 do sum = sum + tonumber(all[i]) end
return {#all / 2, sum}
"""
QUEUE_MOVE = """
local item = redis.call('rpoplpush', KEYS[1], KEYS[2])
if not item then return nil end
redis.call('zadd', KEYS[3], ARGV[1], item)
return item
"""
CAS = """
local cur = redis.call('get', KEYS[1])
if cur == ARGV[1] or (cur == false and ARGV[1] == '') then
  redis.call('set', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
JSON_MERGE = """
local doc = cjson.decode(redis.call('get', KEYS[1]) or '{}')
doc[ARGV[1]] = ARGV[2]
local encoded = cjson.encode(doc)
redis.call('set', KEYS[1], encoded)
return cjson.decode(encoded)[ARGV[1]]
"""

REAL_WORLD: list[Case] = [
    [("eval", LOCK, "1", "lock:a", "token1", "10000"),
     ("eval", LOCK, "1", "lock:a", "token2", "10000"),
     ("eval", UNLOCK, "1", "lock:a", "token2"), ("eval", UNLOCK, "1", "lock:a", "token1"),
     ("eval", UNLOCK, "1", "lock:a", "token1"), ("exists", "lock:a")],
    [("eval", TOKEN_BUCKET, "1", "tb", "1", "5", str(t), "1") for t in
     (100, 100, 100, 100, 100, 100, 101, 101, 103, 110)] + [("hgetall", "tb")],
    [("eval", TOKEN_BUCKET, "1", "tb2", "0.5", "3", str(t), "2") for t in (1, 2, 3, 4, 9)],
    [("eval", SLIDING_WINDOW, "1", "sw", str(t), "1000", "3", f"req{t}") for t in
     (1000, 1100, 1200, 1300, 2050, 2150, 2250)] + [("zcard", "sw")],
    [("eval", HASH_LOOP, "1", "hl", "100"), ("hlen", "hl"), ("hget", "hl", "field77")],
    [("rpush", "src", "a", "b"), ("eval", QUEUE_MOVE, "3", "src", "dst", "zz", "5"),
     ("eval", QUEUE_MOVE, "3", "src", "dst", "zz", "6"),
     ("eval", QUEUE_MOVE, "3", "src", "dst", "zz", "7"),
     ("lrange", "dst", "0", "-1"), ("zrange", "zz", "0", "-1", "withscores")],
    [("eval", CAS, "1", "cas", "", "v1"), ("eval", CAS, "1", "cas", "bad", "v2"),
     ("eval", CAS, "1", "cas", "v1", "v2"), ("get", "cas")],
    [("eval", JSON_MERGE, "1", "doc", "name", "alice"),
     ("eval", JSON_MERGE, "1", "doc", "name", "bob")],
    [("eval", "local n = redis.call('incr', KEYS[1]) if n == 1 then "
      "redis.call('expire', KEYS[1], 60) end return n", "1", "ie") for _ in range(3)]
    + [("ttl", "ie")],
]
