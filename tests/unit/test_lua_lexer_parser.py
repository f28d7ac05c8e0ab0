"""Lua 5.1 lexer and parser: tokens, long brackets, escapes, precedence, syntax errors
with Lua's texts."""

from __future__ import annotations

import pytest

from aikv.scripting import ast as A
from aikv.scripting.lexer import tokenize
from aikv.scripting.parser import parse
from aikv.scripting.values import LuaSyntaxError
from tests.unit.lua_helpers import value


def kinds(src: bytes) -> list[str]:
    return [t.kind for t in tokenize(src)]


def test_tokens() -> None:
    assert kinds(b"local x = 1 .. 2 ... == ~= <= >= #t") == [
        "local", "name", "=", "number", "..", "number", "...", "==", "~=", "<=", ">=",
        "#", "name", "eof"]
    toks = tokenize(b"a\n--comment\n--[[ long\n comment ]] b --[==[ x ]==]\nc")
    assert [(t.kind, t.line) for t in toks] == [("name", 1), ("name", 4), ("name", 5),
                                               ("eof", 5)]


@pytest.mark.parametrize(("src", "expected"), [
    (b"'a\\tb'", b"a\tb"), (b'"\\65\\066\\0067"', b"AB\x067"), (b"'\\\\'", b"\\"),
    (b"[[\nfirst line]]", b"first line"), (b"[==[a]]b]==]", b"a]]b"), (b"'\\z'", b"z"),
    (b"'a\\\nb'", b"a\nb"), (b"'\\255'", b"\xff"),
])
def test_strings(src: bytes, expected: bytes) -> None:
    tok = tokenize(src)[0]
    assert tok.kind == "string" and tok.value == expected


@pytest.mark.parametrize(("src", "expected"), [
    (b"3", 3.0), (b"3.5", 3.5), (b".5", 0.5), (b"1e3", 1000.0), (b"1E-2", 0.01),
    (b"0x10", 16.0), (b"0XfF", 255.0), (b"5.", 5.0),
])
def test_numbers(src: bytes, expected: float) -> None:
    tok = tokenize(src)[0]
    assert tok.kind == "number" and tok.value == expected


def test_precedence() -> None:
    assert value("return 2 + 3 * 4 ^ 2 / 8") == b"8"
    assert value("return 2 ^ 3 ^ 2") == b"512"          # right associative
    assert value("return -2 ^ 2") == b"-4"              # ^ binds tighter than unary minus
    assert value("return 1 .. 2 .. 3") == b"123"        # right associative concat
    assert value("return not 1 == 2") == b"false"       # (not 1) == 2
    assert value("return 1 < 2 and 2 < 3 or false") == b"true"
    assert value("return 'a' .. 'b' == 'ab'") == b"true"  # .. before ==
    assert value("return #'abc' + 1") == b"4"


def test_ast_shapes() -> None:
    fn = parse(b"local a, b = 1, f(x)\nfunction t.m:n(y) return y end")
    local, assign = fn.body
    assert isinstance(local, A.Local) and local.names == ["a", "b"]
    assert isinstance(local.exprs[1], A.Call)
    assert isinstance(assign, A.Assign) and isinstance(assign.exprs[0], A.Function)
    assert assign.exprs[0].params == ["self", "y"]


@pytest.mark.parametrize(("src", "message"), [
    (b"return 1 +", "user_script:1: unexpected symbol near '<eof>'"),
    (b"x = = 1", "user_script:1: unexpected symbol near '='"),
    (b"local 1 = 2", "user_script:1: '<name>' expected near '1'"),
    (b"x.y", "user_script:1: '=' expected near '<eof>'"),
    (b"if true then", "user_script:1: 'end' expected near '<eof>'"),
    (b"while true do\n\nx()", "user_script:3: 'end' expected (to close 'while' at line 1) "
                              "near '<eof>'"),
    (b"return 'abc", "user_script:1: unfinished string near '<eof>'"),
    (b"return 'abc\nx'", "user_script:1: unfinished string near ''abc'"),
    (b"return 1 2", "user_script:1: '<eof>' expected near '2'"),
    (b"break", "user_script:1: no loop to break near '<eof>'"),
    (b"local function f() return ... end",
     "user_script:1: cannot use '...' outside a vararg function near '...'"),
    (b"return 3x", "user_script:1: malformed number near '3x'"),
    (b"for i = 1 do end", "user_script:1: ',' expected near 'do'"),
    (b"f(\n,)", "user_script:2: unexpected symbol near ','"),
])
def test_syntax_errors(src: bytes, message: str) -> None:
    with pytest.raises(LuaSyntaxError) as info:
        parse(src)
    assert str(info.value) == message
