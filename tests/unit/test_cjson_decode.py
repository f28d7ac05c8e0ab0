"""aikv/scripting/cjson_decode.py on bytes: strtod's prefixes, and the two readers (the
fast one on Python's parser, lua-cjson's tokenizer) agreeing on every JSON document they
both read. Its agreement with a real redis-server is checked in test_scripting.py."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from aikv.cnum import strtod
from aikv.scripting import cjson_decode as cj
from aikv.scripting.values import LuaTable

NULL = object()


@pytest.mark.parametrize("text, value, used", [
    (b"1", 1.0, 1), (b"-0", -0.0, 2), (b"007", 7.0, 3), (b"1.", 1.0, 2), (b"+1", 1.0, 2),
    (b"1e", 1.0, 1), (b"1e+", 1.0, 1), (b"1E+2x", 100.0, 4), (b".5", 0.5, 2),
    (b"0x1F", 31.0, 4), (b"-0x10", -16.0, 5), (b"0x", 0.0, 1), (b"0x1p4", 16.0, 5),
    (b"0x1p", 1.0, 3), (b"1e999", math.inf, 5), (b"-inf", -math.inf, 4),
    (b"Infinity!", math.inf, 8), (b"INFINIT", math.inf, 3), (b"nan(12)", math.nan, 7),
    (b"nan(", math.nan, 3), (b"-", 0.0, 0), (b"x", 0.0, 0), (b"- 1", 0.0, 0),
])
def test_strtod_prefixes(text: bytes, value: float, used: int) -> None:
    got, n = strtod(text, 0)
    assert n == used
    if math.isnan(value):
        assert math.isnan(got)
    else:
        assert got == value and math.copysign(1.0, got) == math.copysign(1.0, value)


def test_a_negative_nan_keeps_its_sign() -> None:
    value, _ = strtod(b"-nan", 0)
    assert math.isnan(value) and math.copysign(1.0, value) == -1.0


def plain(v: Any) -> Any:
    """A decoded Lua value as Python data, to compare two decodings."""
    if isinstance(v, LuaTable):
        return sorted((repr(k), plain(x)) for k, x in v.items())
    if v is NULL:
        return "null"
    if isinstance(v, float) and (v == 0 or v != v):
        return ("zero" if v == 0 else "nan", math.copysign(1.0, v))
    return v


def random_document(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([0, -1, 7, 10**20, 2**53 + 1, -0.0, 1.5, -2.25e-7, 1e300])
    if kind == 1:
        return "".join(rng.choice(["a", "é", "\t", "\u2603", "\U0001f600", "\"", "\\", "/",
                                   "\x01", " "]) for _ in range(rng.randrange(6)))
    if kind == 2:
        return rng.choice([True, False, None])
    if kind in (3, 4):
        return rng.choice([float("nan"), float("inf"), -float("inf"), 3])
    if kind in (5, 6):
        return [random_document(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["a", "b", "k", "é"]): random_document(rng, depth + 1)
            for _ in range(rng.randrange(4))}


def test_the_fast_and_the_exact_reader_agree() -> None:
    rng = random.Random(7)
    for _ in range(600):
        doc = random_document(rng)
        text = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()
        if rng.random() < 0.3:
            text = b" \n" + text.replace(b",", b" ,\t") + b"\r\n"
        fast = cj.decode(text, 1000, True, NULL)
        exact = cj._Decoder(text, 1000, True, NULL).run()
        assert plain(fast) == plain(exact), text


@pytest.mark.parametrize("text, message", [
    (b"", "Expected value but found T_END at character 1"),
    (b"[1,]", "Expected value but found T_ARR_END at character 4"),
    (b'{"a":1,}', "Expected object key string but found T_OBJ_END at character 8"),
    (b'{"a" 1}', "Expected colon but found T_NUMBER at character 6"),
    (b"[1 2]", "Expected comma or array end but found T_NUMBER at character 4"),
    (b'{"a":1 "b":2}', "Expected comma or object end but found T_STRING at character 8"),
    (b'"\\q"', "Expected value but found invalid escape code at character 2"),
    (b'"\\ud83d"', "Expected value but found invalid unicode escape code at character 2"),
    (b'"abc', "Expected value but found unexpected end of string at character 5"),
    (b"-", "Expected value but found invalid number at character 1"),
    (b"1 2", "Expected the end but found T_NUMBER at character 3"),
    (b"\0a", "JSON parser does not support UTF-16 or UTF-32"),
    (b"[[[[1]]]]", "Found too many nested data structures (4) at character 4"),
])
def test_errors_as_lua_cjson_words_them(text: bytes, message: str) -> None:
    with pytest.raises(cj.JsonDecodeError) as err:
        cj.decode(text, 3 if text.startswith(b"[[[[") else 1000, True, NULL)
    assert str(err.value) == message


def test_a_nul_ends_the_input() -> None:
    value = cj.decode(b"[1,2]\0junk", 1000, True, NULL)
    assert plain(value) == plain(cj._Decoder(b"[1,2]", 1000, True, NULL).run())


def test_deep_nesting_needs_no_recursion() -> None:
    text = b"[" * 1000 + b"]" * 1000
    value = cj.decode(text, 1000, True, NULL)
    for _ in range(999):
        value = value.get(1.0)
    assert isinstance(value, LuaTable) and value.length() == 0
