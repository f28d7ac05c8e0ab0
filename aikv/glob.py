"""Redis glob patterns (KEYS, SCAN MATCH, HSCAN/SSCAN MATCH, PSUBSCRIBE, PUBSUB CHANNELS).

Redis matches with `stringmatchlen()` (util.c): `*` any run of bytes, `?` one byte,
`[...]` a byte class with `^` negation, `a-z` ranges (ends may be given in either order)
and `\\` escapes, and `\\` outside a class escaping the next byte. Its quirks are part of
the contract, so the translation below walks the pattern exactly as that function does:

- an unterminated class (`[abc`) is closed at the end of the pattern; `[` alone matches
  nothing, `[^` alone matches any single byte;
- a range is recognised whenever a byte is followed by `-` and one more byte, even if that
  byte is `]` (`[a-]` is the range `]`..`a`, and the class continues after it);
- a trailing lone `\\` is a literal backslash;
- an empty subject matches only the empty pattern (the matching loop never runs, so even
  `*` does not match the empty string — KEYS and SCAN special-case a lone `*` before
  calling it, and callers here do the same where Redis does).

Patterns are translated once to a compiled bytes regex (matched with `fullmatch`) and kept
in a bounded cache: PSUBSCRIBE patterns are matched against every PUBLISH, and SCAN-family
calls reuse the same MATCH pattern call after call.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Matcher = Callable[[bytes], bool]

_CACHE_MAX = 1024
_cache: dict[tuple[bytes, bool], Matcher] = {}

_STAR, _QMARK, _LBRACKET, _RBRACKET, _CARET, _BACKSLASH, _DASH = b"*?[]^\\-"


def _byte(c: int) -> bytes:
    return b"\\x%02x" % c


def _class_item(lo: int, hi: int, nocase: bool) -> list[tuple[int, int]]:
    if not nocase:
        return [(lo, hi)]
    # Redis lowers the range ends and the subject byte: the class holds every byte whose
    # lowercase lies in the lowered range.
    lo, hi = _lower(lo), _lower(hi)
    return [(c, c) for c in range(256) if lo <= _lower(c) <= hi]


def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


def translate(pattern: bytes, nocase: bool = False) -> bytes:
    """The regex source (bytes) equivalent to `pattern` under stringmatchlen rules, for
    non-empty subjects."""
    out: list[bytes] = []
    n = len(pattern)
    i = 0
    while i < n:
        c = pattern[i]
        if c == _STAR:
            while i + 1 < n and pattern[i + 1] == _STAR:
                i += 1
            out.append(b".*")
        elif c == _QMARK:
            out.append(b".")
        elif c == _LBRACKET:
            i += 1
            negate = i < n and pattern[i] == _CARET
            if negate:
                i += 1
            ranges: list[tuple[int, int]] = []
            while True:
                if i < n and pattern[i] == _BACKSLASH and n - i >= 2:
                    i += 1
                    # An escaped byte is compared exactly, even without case folding.
                    ranges.append((pattern[i], pattern[i]))
                elif i < n and pattern[i] == _RBRACKET:
                    break
                elif i >= n:
                    # Unterminated class: Redis steps back onto the last byte so the
                    # outer loop's step ends the pattern.
                    i -= 1
                    break
                elif n - i >= 3 and pattern[i + 1] == _DASH:
                    lo, hi = pattern[i], pattern[i + 2]
                    if lo > hi:
                        lo, hi = hi, lo
                    ranges.extend(_class_item(lo, hi, nocase))
                    i += 2
                else:
                    ranges.extend(_class_item(pattern[i], pattern[i], nocase))
                i += 1
            if not ranges:
                out.append(b"." if negate else b"(?!)")
            else:
                body = b"".join(_byte(lo) if lo == hi else _byte(lo) + b"-" + _byte(hi)
                                for lo, hi in ranges)
                out.append(b"[" + (b"^" if negate else b"") + body + b"]")
        else:
            if c == _BACKSLASH and n - i >= 2:
                i += 1
                c = pattern[i]
            if nocase and (65 <= c <= 90 or 97 <= c <= 122):
                out.append(b"[" + _byte(_lower(c)) + _byte(_lower(c) - 32) + b"]")
            else:
                out.append(_byte(c))
        i += 1
    return _without_backtracking(out)


def _without_backtracking(pieces: list[bytes]) -> bytes:
    """Join the one-byte pieces and `*`s so that matching takes polynomial time: every
    piece matches exactly one byte, so the leftmost place where each run of pieces
    between two stars matches is always a right choice, and an atomic group keeps the
    regex engine from trying the others (a plain `.*a.*a.*...b` backtracks
    exponentially; Redis's stringmatchlen stops such searches early too)."""
    runs: list[list[bytes]] = [[]]
    for piece in pieces:
        if piece == b".*":
            runs.append([])
        else:
            runs[-1].append(piece)
    if len(runs) == 1:
        return b"".join(runs[0])
    middle = b"".join(b"(?>.*?" + b"".join(run) + b")" for run in runs[1:-1] if run)
    return b"".join(runs[0]) + middle + b".*" + b"".join(runs[-1])


def compile_pattern(pattern: bytes, nocase: bool = False) -> Matcher:
    """A function telling whether a subject matches `pattern` (cached)."""
    cache_key = (pattern, nocase)
    matcher = _cache.get(cache_key)
    if matcher is not None:
        return matcher
    if pattern == b"*":
        def matcher(subject: bytes) -> bool:
            return bool(subject)
    else:
        fullmatch = re.compile(translate(pattern, nocase), re.DOTALL).fullmatch
        if pattern:
            def matcher(subject: bytes) -> bool:
                return bool(subject) and fullmatch(subject) is not None
        else:
            def matcher(subject: bytes) -> bool:
                return not subject
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[cache_key] = matcher
    return matcher


def match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    """stringmatchlen(pattern, subject, nocase)."""
    return compile_pattern(pattern, nocase)(subject)
