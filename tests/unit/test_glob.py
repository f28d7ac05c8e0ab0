"""aikv.glob against a literal transcription of Redis 7.0's stringmatchlen (util.c)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aikv.glob import compile_pattern, match


def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


def reference(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """stringmatchlen, pointer for pointer. Reads past the end see a NUL byte, as they do
    on the NUL-terminated sds strings Redis passes."""
    p = pattern + b"\0\0\0"
    s = string + b"\0\0\0"

    def impl(pi: int, plen: int, si: int, slen: int, skip: list[bool]) -> bool:
        while plen and slen:
            c = p[pi]
            if c == ord("*"):
                while plen and p[pi + 1] == ord("*"):
                    pi += 1
                    plen -= 1
                if plen == 1:
                    return True
                while slen:
                    if impl(pi + 1, plen - 1, si, slen, skip):
                        return True
                    if skip[0]:
                        return False
                    si += 1
                    slen -= 1
                skip[0] = True
                return False
            elif c == ord("?"):
                si += 1
                slen -= 1
            elif c == ord("["):
                pi += 1
                plen -= 1
                neg = p[pi] == ord("^")
                if neg:
                    pi += 1
                    plen -= 1
                matched = False
                while True:
                    if p[pi] == ord("\\") and plen >= 2:
                        pi += 1
                        plen -= 1
                        if p[pi] == s[si]:
                            matched = True
                    elif p[pi] == ord("]"):
                        break
                    elif plen == 0:
                        pi -= 1
                        plen += 1
                        break
                    elif plen >= 3 and p[pi + 1] == ord("-"):
                        start, end, ch = p[pi], p[pi + 2], s[si]
                        if start > end:
                            start, end = end, start
                        if nocase:
                            start, end, ch = _lower(start), _lower(end), _lower(ch)
                        pi += 2
                        plen -= 2
                        if start <= ch <= end:
                            matched = True
                    else:
                        if nocase:
                            if _lower(p[pi]) == _lower(s[si]):
                                matched = True
                        elif p[pi] == s[si]:
                            matched = True
                    pi += 1
                    plen -= 1
                if neg:
                    matched = not matched
                if not matched:
                    return False
                si += 1
                slen -= 1
            else:
                if c == ord("\\") and plen >= 2:
                    pi += 1
                    plen -= 1
                a, b = p[pi], s[si]
                if (_lower(a) != _lower(b)) if nocase else (a != b):
                    return False
                si += 1
                slen -= 1
            pi += 1
            plen -= 1
            if slen == 0:
                while p[pi] == ord("*"):
                    pi += 1
                    plen -= 1
                break
        return plen == 0 and slen == 0

    return impl(0, len(pattern), 0, len(string), [False])


CASES = [
    (b"h?llo", b"hello", True),
    (b"h?llo", b"hllo", False),
    (b"h*llo", b"hllo", True),
    (b"h*llo", b"heeeello", True),
    (b"h[ae]llo", b"hallo", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[b-a]llo", b"hbllo", True),  # reversed range ends
    (b"h\\*llo", b"h*llo", True),
    (b"h\\*llo", b"hello", False),
    (b"*", b"", False),  # the empty subject only matches the empty pattern
    (b"", b"", True),
    (b"[", b"[", False),
    (b"[^", b"x", True),
    (b"[abc", b"c", True),  # unterminated class closes at the end
    (b"[a-]", b"]", True),  # "a-]" is a range, as in Redis
    (b"a\\", b"a\\", True),  # trailing backslash is literal
    (b"[\\]]", b"]", True),
    (b"*a*b*", b"xxaxxbxx", True),
    (b"**", b"abc", True),
    (b"a*", b"a", True),
]


@pytest.mark.parametrize("pattern,subject,expected", CASES)
def test_known_cases(pattern: bytes, subject: bytes, expected: bool) -> None:
    assert reference(pattern, subject) is expected
    assert match(pattern, subject) is expected


def test_cache_returns_same_matcher() -> None:
    assert compile_pattern(b"user:*") is compile_pattern(b"user:*")


_alphabet = st.sampled_from(list(b"ab-^[]\\*?Az\0\xff"))
_pattern = st.lists(_alphabet, max_size=8).map(bytes)
_subject = st.lists(st.sampled_from(list(b"ab-^[]\\*Az\0\xff")), max_size=6).map(bytes)


@settings(max_examples=3000, deadline=None)
@given(_pattern, _subject)
def test_matches_reference(pattern: bytes, subject: bytes) -> None:
    assert match(pattern, subject) == reference(pattern, subject), (pattern, subject)


@settings(max_examples=1500, deadline=None)
@given(_pattern, _subject)
def test_matches_reference_nocase(pattern: bytes, subject: bytes) -> None:
    assert match(pattern, subject, nocase=True) == reference(pattern, subject, True), (
        pattern, subject)


def test_many_stars_do_not_backtrack_exponentially() -> None:
    # Redis's keyspace.tcl "Regression for pattern matching long nested loops": a
    # translation to `.*a.*a...b` took exponential time in the regex engine.
    import time
    pattern = b"a*" * 20 + b"b"
    subject = b"a" * 40
    started = time.monotonic()
    assert match(pattern, subject) is False
    assert match(pattern, subject + b"b") is True
    assert match(b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*?", b"a" * 60) is True
    assert time.monotonic() - started < 1.0
