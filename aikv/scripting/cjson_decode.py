"""cjson.decode as lua-cjson 2.1 (Redis 7.0's copy) reads JSON, errors included.

lua-cjson is more lenient than JSON in places a script can meet: numbers go through C's
strtod (so "+1", "007", "1.", "0x1F", "inf", "-nan" and "Infinity" are numbers while
decode_invalid_numbers is on, the default), control characters stand raw in strings, and
a NUL byte ends the input like the end of the string does. Its errors say which token it
expected and which it found ("Expected the end but found T_COMMA at character 5").

Most inputs are plain JSON, for which Python's C parser gives the same values, so that is
tried first; only what it refuses, or what it would read differently (a NUL byte, a
\\uD800-\\uDFFF escape: lua-cjson accepts a surrogate only as half of a pair), goes
through the tokenizer below, which follows lua-cjson step by step. It keeps its own stack
(a document may nest 1,000 levels, deeper than the interpreter's recursion allows here).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aikv.cnum import strtod
from aikv.scripting.values import LuaTable

T_OBJ_BEGIN, T_OBJ_END, T_ARR_BEGIN, T_ARR_END, T_STRING, T_NUMBER, T_BOOLEAN, T_NULL, \
    T_COLON, T_COMMA, T_END, T_WHITESPACE, T_ERROR, T_UNKNOWN = range(14)
_NAMES = ("T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END", "T_STRING", "T_NUMBER",
          "T_BOOLEAN", "T_NULL", "T_COLON", "T_COMMA", "T_END", "T_WHITESPACE", "T_ERROR",
          "T_UNKNOWN")

# What each byte starts: a token by itself, whitespace, something to read further
# (T_UNKNOWN: strings, numbers, literals), or an error. NUL is the end.
_CH2TOKEN = [T_ERROR] * 256
for _chars, _token in ((b"{", T_OBJ_BEGIN), (b"}", T_OBJ_END), (b"[", T_ARR_BEGIN),
                       (b"]", T_ARR_END), (b",", T_COMMA), (b":", T_COLON), (b"\0", T_END),
                       (b" \t\n\r", T_WHITESPACE), (b'fiInNt"+-0123456789', T_UNKNOWN)):
    for _byte in _chars:
        _CH2TOKEN[_byte] = _token

_ESCAPES = {0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x74: 0x09, 0x6E: 0x0A,
            0x66: 0x0C, 0x72: 0x0D}
_WHITESPACE = re.compile(rb"[ \t\n\r]*")
_PLAIN = re.compile(rb'[^"\\\0]*')
_HEX4 = re.compile(rb"[0-9a-fA-F]{4}")

# Inputs Python's parser may read differently: a NUL, a surrogate escape.
_SLOW_ONLY = re.compile(rb"\0|\\u[dD][89a-fA-F]")


class JsonDecodeError(Exception):
    """lua-cjson's error text (raised as a Lua error without a position)."""


def _is_invalid_number(data: bytes, pos: int) -> bool:
    """json_is_invalid_number: a strtod number JSON does not allow (a leading '+', hex,
    leading zeros, inf or nan)."""
    at = data[pos:pos + 1]
    if at == b"+":
        return True
    if at == b"-":
        pos += 1
        at = data[pos:pos + 1]
    if at == b"0":
        nxt = data[pos + 1:pos + 2]
        return nxt in (b"x", b"X") or nxt.isdigit()
    if not at or at <= b"9":
        return False  # an ordinary number (or none: strtod will say)
    return data[pos:pos + 3].lower() in (b"inf", b"nan")


class _Tokens:
    """json_next_token over `data`. A token is (type, value, index): index is where it
    starts, or for an error where reading stopped (0-based; messages add 1)."""

    def __init__(self, data: bytes, invalid_numbers: bool) -> None:
        self.data = data
        self.pos = 0
        self.invalid_numbers = invalid_numbers

    def next(self) -> tuple[int, Any, int]:
        data = self.data
        pos = _WHITESPACE.match(data, self.pos).end()  # type: ignore[union-attr]
        self.pos = pos
        if pos >= len(data):
            return T_END, None, pos
        ch = data[pos]
        kind = _CH2TOKEN[ch]
        if kind == T_ERROR:
            return T_ERROR, "invalid token", pos
        if kind == T_END:
            return T_END, None, pos
        if kind != T_UNKNOWN:
            self.pos = pos + 1
            return kind, None, pos
        if ch == 0x22:
            return self._string(pos)
        if ch == 0x2D or 0x30 <= ch <= 0x39:
            if not self.invalid_numbers and _is_invalid_number(data, pos):
                return T_ERROR, "invalid number", pos
            return self._number(pos)
        for word, kind, value in ((b"true", T_BOOLEAN, True), (b"false", T_BOOLEAN, False),
                                  (b"null", T_NULL, None)):
            if data.startswith(word, pos):
                self.pos = pos + len(word)
                return kind, value, pos
        if self.invalid_numbers and _is_invalid_number(data, pos):
            return self._number(pos)
        return T_ERROR, "invalid token", pos

    def _number(self, pos: int) -> tuple[int, Any, int]:
        value, used = strtod(self.data, pos)
        if not used:
            return T_ERROR, "invalid number", pos
        self.pos = pos + used
        return T_NUMBER, value, pos

    def _string(self, start: int) -> tuple[int, Any, int]:
        data = self.data
        out = bytearray()
        p = start + 1
        while True:
            end = _PLAIN.match(data, p).end()  # type: ignore[union-attr]
            out += data[p:end]
            p = end
            ch = data[p] if p < len(data) else 0
            if ch == 0x22:
                break
            if ch == 0:
                self.pos = p
                return T_ERROR, "unexpected end of string", p
            escape = data[p + 1] if p + 1 < len(data) else 0  # ch is a backslash
            if escape == 0x75:
                decoded = self._unicode_escape(p)
                if decoded is None:
                    self.pos = p
                    return T_ERROR, "invalid unicode escape code", p
                out += decoded[0]
                p += decoded[1]
                continue
            char = _ESCAPES.get(escape)
            if char is None:
                self.pos = p
                return T_ERROR, "invalid escape code", p
            out.append(char)
            p += 2
        self.pos = p + 1
        return T_STRING, bytes(out), start

    def _unicode_escape(self, p: int) -> tuple[bytes, int] | None:
        """json_append_unicode_escape at the backslash of \\uXXXX: (UTF-8, length of the
        escape), or None for a bad escape (bad hex digits, a lone or reversed surrogate)."""
        data = self.data
        if not _HEX4.match(data, p + 2):
            return None
        code = int(data[p + 2:p + 6], 16)
        used = 6
        if code & 0xF800 == 0xD800:
            if code & 0x400 or data[p + 6:p + 8] != b"\\u" or not _HEX4.match(data, p + 8):
                return None
            low = int(data[p + 8:p + 12], 16)
            if low & 0xFC00 != 0xDC00:
                return None
            code = (((code & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000
            used = 12
        return chr(code).encode("utf-8"), used


def decode(data: bytes, max_depth: int, invalid_numbers: bool, null: Any) -> Any:
    """The Lua value of the JSON text `data` (objects and arrays as tables, null as
    `null`), or JsonDecodeError with lua-cjson's message."""
    if len(data) >= 2 and (data[0] == 0 or data[1] == 0):
        raise JsonDecodeError("JSON parser does not support UTF-16 or UTF-32")
    if invalid_numbers and not _SLOW_ONLY.search(data) \
            and data.count(b"[") + data.count(b"{") < max_depth:
        try:
            plain = json.loads(data.decode("utf-8", "surrogateescape"), strict=False,
                               parse_int=float, parse_constant=float)
        except (ValueError, RecursionError):
            pass  # the tokenizer gives lua-cjson's verdict and message
        else:
            return _from_python(plain, null)
    return _Decoder(data, max_depth, invalid_numbers, null).run()


def _from_python(v: Any, null: Any) -> Any:
    # Iterative like the decoder: a document may nest up to decode_max_depth levels.
    if not isinstance(v, (list, dict)):
        return _scalar(v, null)
    root = LuaTable()
    pending = [(root, v)]
    while pending:
        table, source = pending.pop()
        items = (enumerate(source, 1) if isinstance(source, list)
                 else ((k.encode("utf-8", "surrogateescape"), x) for k, x in source.items()))
        for key, item in items:
            if isinstance(item, (list, dict)):
                child = LuaTable()
                pending.append((child, item))
                item = child
            else:
                item = _scalar(item, null)
            table.set(float(key) if isinstance(key, int) else key, item)
    return root


def _scalar(v: Any, null: Any) -> Any:
    if v is None:
        return null
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    return v  # bool, or float (parse_int / parse_constant made every number one)


class _Decoder:
    def __init__(self, data: bytes, max_depth: int, invalid_numbers: bool, null: Any) -> None:
        self.tokens = _Tokens(data, invalid_numbers)
        self.max_depth = max_depth
        self.null = null
        self.depth = 0

    def fail(self, expected: str, token: tuple[int, Any, int]) -> JsonDecodeError:
        kind, value, index = token
        found = value if kind == T_ERROR else _NAMES[kind]
        return JsonDecodeError(f"Expected {expected} but found {found} at character {index + 1}")

    def descend(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise JsonDecodeError(f"Found too many nested data structures ({self.depth}) at "
                                  f"character {self.tokens.pos}")

    def key(self, token: tuple[int, Any, int]) -> bytes:
        """An object's key and its colon."""
        if token[0] != T_STRING:
            raise self.fail("object key string", token)
        colon = self.tokens.next()
        if colon[0] != T_COLON:
            raise self.fail("colon", colon)
        return token[1]

    def run(self) -> Any:
        tokens = self.tokens
        value = self.value(tokens.next())
        token = tokens.next()
        if token[0] != T_END:
            raise self.fail("the end", token)
        return value

    def value(self, token: tuple[int, Any, int]) -> Any:
        """json_process_value, with the open objects and arrays on a stack of
        [table, key or None for an array, next array index]."""
        tokens = self.tokens
        stack: list[list[Any]] = []
        while True:
            kind = token[0]
            if kind == T_OBJ_BEGIN or kind == T_ARR_BEGIN:
                self.descend()
                table = LuaTable()
                token = tokens.next()
                if token[0] != (T_OBJ_END if kind == T_OBJ_BEGIN else T_ARR_END):
                    if kind == T_OBJ_BEGIN:
                        stack.append([table, self.key(token), 0])
                        token = tokens.next()
                    else:
                        stack.append([table, None, 1])
                    continue
                self.depth -= 1
                value: Any = table
            elif kind in (T_STRING, T_NUMBER, T_BOOLEAN):
                value = token[1]
            elif kind == T_NULL:
                value = self.null
            else:
                raise self.fail("value", token)
            # Store the value; close the containers it completes.
            while True:
                if not stack:
                    return value
                frame = stack[-1]
                table, key = frame[0], frame[1]
                if key is not None:
                    table.set(key, value)
                else:
                    table.set(float(frame[2]), value)
                    frame[2] += 1
                token = tokens.next()
                end = T_OBJ_END if key is not None else T_ARR_END
                if token[0] == end:
                    stack.pop()
                    self.depth -= 1
                    value = table
                    continue
                if token[0] != T_COMMA:
                    raise self.fail("comma or object end" if key is not None
                                    else "comma or array end", token)
                token = tokens.next()
                if key is not None:
                    frame[1] = self.key(token)
                    token = tokens.next()
                break
