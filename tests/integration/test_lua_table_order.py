"""Lua tables against a real redis-server 7.0: the order pairs() and next() visit keys,
the members cjson.encode writes, and the # operator, for seeded random tables built the
ways scripts build them (constructors with keyed and positional parts, a trailing call,
string, integer, float and boolean keys, appends with #t+1, filling by index).

Tables whose fields were removed before a traversal are left out: Lua keeps a removed
key's slot until a rehash, and for string keys until the garbage collector marks it
dead, which AiKv does not replay (README, Scripting).
"""

from __future__ import annotations

import random

import pytest

from tests.differ import Differ

REPORT = (
    " local r = {#t} for k, v in pairs(t) do r[#r+1] = type(k) .. ':' .. tostring(k) end"
    " local ok, j = pcall(cjson.encode, t) r[#r+1] = ok and j or 'encode failed'"
    " local n = {} local k = next(t) while k ~= nil do n[#n+1] = tostring(k) k = next(t, k) end"
    " r[#r+1] = table.concat(n, ',') return r"
)


def _key(rng: random.Random) -> str:
    x = rng.random()
    if x < 0.6:
        return '"%s"' % "".join(rng.choice("abcdefxyz_") for _ in range(rng.randint(1, 10)))
    if x < 0.85:
        return str(rng.randint(-3, 40))
    if x < 0.95:
        return rng.choice(["0.5", "1e10", "-2.25", "2147483648", "2^40"])
    return rng.choice(["true", "false"])


def _table_script(rng: random.Random) -> str:
    if rng.random() < 0.4:
        items = []
        for _ in range(rng.randint(0, 25)):
            if rng.random() < 0.3:
                items.append(str(rng.randint(1, 9)))
            else:
                items.append("[%s]=%d" % (_key(rng), rng.randint(1, 9)))
        if rng.random() < 0.2:
            items.append("unpack({%s})" % ",".join(str(i) for i in range(rng.randint(1, 20))))
        build = "{" + ", ".join(items) + "}"
    else:
        build = "{}"
    adds = " ".join("t[%s]=%d" % (_key(rng), rng.randint(1, 9))
                    for _ in range(rng.randint(0, 40)))
    if rng.random() < 0.3:
        fill = rng.choice(["for i=1,%d do t[i]=i end", "for i=1,%d do t[#t+1]=i end"])
        adds += " " + fill % rng.randint(1, 30)
    return "local t = %s %s" % (build, adds)


@pytest.mark.parametrize("seed", range(6))
def test_random_tables_match_redis(differ: Differ, seed: int) -> None:
    rng = random.Random(seed)
    mismatches = []
    for _ in range(40):
        script = _table_script(rng) + REPORT
        mine, theirs = differ.both("eval", script, "0")
        if mine != theirs:
            mismatches.append((script, mine, theirs))
    assert not mismatches, "\n".join(map(repr, mismatches[:3]))


@pytest.mark.parametrize("script", [
    # Clearing every field during a next() traversal visits each key once, in order.
    "local t = {} for i = 1, 30 do t['k' .. i] = i end local r = {} local k = next(t)"
    " while k ~= nil do r[#r+1] = k t[k] = nil k = next(t, k) end return r",
    "local t = {} for i = 1, 30 do t['k' .. i] = i end local r = {}"
    " for k in pairs(t) do if #r % 2 == 0 then t[k] = nil end r[#r+1] = k end"
    " local left = {} for k in pairs(t) do left[#left+1] = k end return {r, left}",
    # JSON objects built from a flat field/value reply and from cjson.decode.
    "local flat = redis.call('echo', 'name') local pairs_ = {flat, 'x', 'age', '3', 'city',"
    " 'y', 'zip', '1'} local o = {} for i = 1, #pairs_, 2 do o[pairs_[i]] = pairs_[i+1] end"
    " return cjson.encode(o)",
    "return cjson.encode(cjson.decode('{\"b\":1,\"a\":{\"y\":2,\"x\":[1,2,{\"q\":1,\"p\":2}]},"
    "\"c\":null}'))",
    "local t = {} t[true] = 1 t[false] = 2 t[1.5] = 3 t['s'] = 4 local r = {}"
    " for k in pairs(t) do r[#r+1] = tostring(k) end return r",
])
def test_traversals_match_redis(differ: Differ, script: str) -> None:
    differ.check("eval", script, "0")
