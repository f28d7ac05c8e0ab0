"""Lua <-> RESP, as Redis 7.0's script_lua.c converts (facts from redisProtocolToLuaType
and luaReplyToRedisReply): replies of redis.call become Lua values, the script's return
value becomes the EVAL reply."""

from __future__ import annotations

from typing import Any

from aikv.cnum import format_g
from aikv.resp import format_double
from aikv.scripting.values import LuaTable, fmt_number

INT64_MIN = -(2**63)


def to_integer(v: float) -> int:
    """C's (long long) cast of a double as x86 does it: out of range and NaN give
    INT64_MIN."""
    if v != v or not (-9.223372036854775808e18 <= v < 9.223372036854775808e18):
        return INT64_MIN
    return int(v)


def error_table(text: bytes) -> LuaTable:
    """luaPushErrorBuff: "-CODE msg" or "msg" (then ERR is the code) -> {err="CODE msg"}."""
    if text[:1] == b"-":
        code, sep, msg = text[1:].partition(b" ")
        if not sep:
            code, msg = b"ERR", text[1:]
    else:
        code, msg = b"ERR", text
    msg = msg.strip(b"\r\n")
    t = LuaTable()
    t.hash[b"err"] = code + b" " + msg
    return t


def _single(key: bytes, value: Any) -> LuaTable:
    t = LuaTable()
    t.hash[key] = value
    return t


def resp_to_lua(data: bytes) -> Any:
    """Parse one reply our own server encoded; return the Lua value."""
    value, _ = _parse(data, 0)
    return value


def _line(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.index(b"\r\n", pos)
    return data[pos:end], end + 2


def _parse(data: bytes, pos: int) -> tuple[Any, int]:
    kind = data[pos]
    if kind == 36:  # $ bulk
        head, pos = _line(data, pos + 1)
        n = int(head)
        if n < 0:
            return False, pos
        return data[pos:pos + n], pos + n + 2
    if kind == 58:  # : integer
        head, pos = _line(data, pos + 1)
        return float(int(head)), pos
    if kind == 43:  # + status
        head, pos = _line(data, pos + 1)
        return _single(b"ok", head), pos
    if kind == 45:  # - error
        head, pos = _line(data, pos + 1)
        return error_table(b"-" + head), pos
    if kind in (42, 62):  # * array, > push
        head, pos = _line(data, pos + 1)
        n = int(head)
        if n < 0:
            return False, pos
        t = LuaTable()
        items = []
        for _ in range(n):
            v, pos = _parse(data, pos)
            items.append(v)
        # Elements are never nil here except RESP3 nulls: keep indices as Lua would.
        for i, v in enumerate(items):
            t.set(float(i + 1), v)
        return t, pos
    if kind == 37:  # % map
        head, pos = _line(data, pos + 1)
        inner = LuaTable()
        for _ in range(int(head)):
            k, pos = _parse(data, pos)
            v, pos = _parse(data, pos)
            if k is not None:
                inner.set(k, v)
        return _single(b"map", inner), pos
    if kind == 126:  # ~ set
        head, pos = _line(data, pos + 1)
        inner = LuaTable()
        for _ in range(int(head)):
            k, pos = _parse(data, pos)
            if k is not None:
                inner.set(k, True)
        return _single(b"set", inner), pos
    if kind == 95:  # _ null
        return None, pos + 3
    if kind == 35:  # # boolean
        return data[pos + 1] == 116, pos + 4
    if kind == 44:  # , double
        head, pos = _line(data, pos + 1)
        return _single(b"double", float(head)), pos
    if kind == 40:  # ( big number
        head, pos = _line(data, pos + 1)
        return _single(b"big_number", head), pos
    if kind == 61:  # = verbatim
        head, pos = _line(data, pos + 1)
        n = int(head)
        body = data[pos:pos + n]
        inner = LuaTable()
        inner.hash[b"string"] = body[4:]
        inner.hash[b"format"] = body[:3]
        return _single(b"verbatim_string", inner), pos + n + 2
    if kind == 124:  # | attribute: skipped
        head, pos = _line(data, pos + 1)
        for _ in range(2 * int(head)):
            _, pos = _parse(data, pos)
        return _parse(data, pos)
    raise ValueError(f"unexpected reply type {chr(kind)!r}")


def _sanitize(text: bytes) -> bytes:
    return text.replace(b"\r", b" ").replace(b"\n", b" ")


def _double(v: float, resp3: bool) -> bytes:
    text = format_g(v, 17)
    if resp3:
        return b",%s\r\n" % text
    return b"$%d\r\n%s\r\n" % (len(text), text)


# LUAI_MAXCSTACK: the slots a C function may use on Lua's stack. luaReplyToRedisReply
# needs 4 free at each value it converts; nested tables use more as it descends.
_MAXCSTACK = 8000
STACK_LIMIT_REPLY = b"-ERR reached lua stack limit\r\n"


def lua_to_resp(v: Any, resp3: bool, script_resp3: bool, out: list[bytes],
                slots: int = 2) -> None:
    """luaReplyToRedisReply: append the encoding of `v` for a client speaking RESP3 or
    not; `script_resp3` is the protocol the script chose (redis.setresp) for booleans.
    `slots`: what Lua's stack would hold with `v` on top (the script's result starts at
    2; an array element adds 1, a map value 3 and key 4, a set member 3), so that a too
    deep (or self-containing) table ends where Redis's does."""
    if slots + 4 > _MAXCSTACK:
        out.append(STACK_LIMIT_REPLY)
        return
    t = type(v)
    if t is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(v), v))
    elif t is float:
        out.append(b":%d\r\n" % to_integer(v))
    elif t is bool:
        if not script_resp3:
            out.append(b":1\r\n" if v else (b"_\r\n" if resp3 else b"$-1\r\n"))
        elif resp3:
            out.append(b"#t\r\n" if v else b"#f\r\n")
        else:
            out.append(b":1\r\n" if v else b":0\r\n")
    elif t is LuaTable:
        h = v.hash
        # Redis copies these two as C strings: a NUL ends them.
        err = h.get(b"err")
        if type(err) is bytes:
            out.append(b"-" + _sanitize(err.partition(b"\0")[0]) + b"\r\n")
            return
        ok = h.get(b"ok")
        if type(ok) is bytes:
            out.append(b"+" + _sanitize(ok.partition(b"\0")[0]) + b"\r\n")
            return
        dbl = h.get(b"double")
        if type(dbl) is float:
            out.append(_double(dbl, resp3))
            return
        big = h.get(b"big_number")
        if type(big) is bytes:
            big = _sanitize(big)
            out.append(b"(%s\r\n" % big if resp3 else b"$%d\r\n%s\r\n" % (len(big), big))
            return
        verb = h.get(b"verbatim_string")
        if type(verb) is LuaTable:
            fmt = verb.hash.get(b"format")
            s = verb.hash.get(b"string")
            if type(fmt) is bytes and type(s) is bytes:
                if resp3:
                    out.append(b"=%d\r\n%s:%s\r\n" % (len(s) + 4, fmt[:3], s))
                else:
                    out.append(b"$%d\r\n%s\r\n" % (len(s), s))
                return
        mp = h.get(b"map")
        if type(mp) is LuaTable:
            items = mp.items()
            out.append(b"%%%d\r\n" % len(items) if resp3 else b"*%d\r\n" % (2 * len(items)))
            for key, value in items:
                lua_to_resp(key, resp3, script_resp3, out, slots + 4)
                lua_to_resp(value, resp3, script_resp3, out, slots + 3)
            return
        st = h.get(b"set")
        if type(st) is LuaTable:
            items = st.items()
            out.append(b"~%d\r\n" % len(items) if resp3 else b"*%d\r\n" % len(items))
            for key, _ in items:
                lua_to_resp(key, resp3, script_resp3, out, slots + 3)
            return
        arr = v.arr
        n = len(arr)
        for i, x in enumerate(arr):
            if x is None:
                n = i
                break
        else:
            # The array part may continue in the hash (a table built backwards).
            while v.hash.get(float(n + 1)) is not None:
                n += 1
        out.append(b"*%d\r\n" % n)
        get = v.get
        for i in range(n):
            lua_to_resp(get(float(i + 1)), resp3, script_resp3, out, slots + 1)
    else:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")


def arg_bytes(v: Any) -> bytes | None:
    """A redis.call argument: strings as they are, numbers as "%.17g"."""
    t = type(v)
    if t is bytes:
        return v
    if t is float:
        return format_g(v, 17)
    return None


__all__ = ["arg_bytes", "error_table", "fmt_number", "format_double", "lua_to_resp",
           "resp_to_lua", "to_integer"]
