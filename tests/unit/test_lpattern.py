"""The pattern compiler and matcher directly: item lists, lazy errors, the cache, depth."""

from __future__ import annotations

import pytest

from aikv.scripting import lpattern as lp
from aikv.scripting.values import LuaError


def first_match(src: bytes, pat: bytes) -> tuple[int, int] | None:
    ms = lp.MatchState(src, pat)
    for s in range(len(src) + 1):
        e = ms.match(s, 0)
        if e is not None:
            return s, e
    return None


def test_literal_runs_are_merged_and_quantified_bytes_kept_apart() -> None:
    items = lp.compile_pattern(b"abc*d").items
    assert [it[0] for it in items] == [lp.LIT, lp.STAR, lp.LIT]
    assert items[0][1] == b"ab"


def test_bad_item_raises_only_when_reached() -> None:
    assert lp.compile_pattern(b"x[").items[-1] == (lp.ERROR, "malformed pattern (missing ']')", None)
    assert first_match(b"abc", b"x[") is None
    with pytest.raises(LuaError, match="missing"):
        first_match(b"abc", b"b[")


def test_compiled_patterns_are_cached() -> None:
    assert lp.program_for(b"(%a+)=(%d+)", 0) is lp.program_for(b"(%a+)=(%d+)", 0)
    assert lp.program_for(b"^ab", 1).items == lp.compile_pattern(b"ab").items


def test_pattern_ends_at_nul() -> None:
    assert first_match(b"a\0bc", b".\0b") == (0, 1)


def test_long_patterns_do_not_grow_the_python_stack() -> None:
    src = b"a" * 5000
    assert first_match(src, b"a?" * 5000 + b"$") == (0, 5000)
    assert first_match(src, b"a-" * 3000 + b"$") == (0, 5000)


def test_captures_after_a_match() -> None:
    ms = lp.MatchState(b"key=42", b"()(%a+)=(%d+)")
    assert ms.match(0, 0) == 6
    assert ms.captures(0, 6, True) == [1.0, b"key", b"42"]
    with pytest.raises(LuaError, match="invalid capture index"):
        ms.get_capture(3, 0, 6)
