"""Lua 5.1 patterns (the matcher behind string.find/match/gmatch/gsub), on bytes.

A pattern is compiled once (and kept in a small LRU cache) into a flat tuple of items:
runs of literal bytes, one-byte sets (a 256-entry membership table) with their quantifier,
capture marks, back references, %b, %f and the final `$`. Matching walks the items with an
explicit stack of choice points, so neither the pattern's length nor the subject's grows
the Python stack. The order in which alternatives are tried is Lua's: `*` and `+` take the
longest run first and give back one byte at a time, `-` takes the shortest run first,
`?` tries with the byte before without it.

Capture structure is static (a pattern has no alternation, so every path through item i
passed the same items before it), which lets the compiler check capture indexes, and the
matcher keep capture positions in two plain lists with nothing to undo on backtracking:
an item that is reached again after a backtrack writes its position again.

Lua reports a malformed item only when the matcher reaches it ('x[' never fails to find a
match quietly if no 'x' is found); the compiler turns such an item into an error item that
raises when reached, and stops there. Like Lua 5.1, a pattern ends at its first NUL byte.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aikv.scripting.values import LuaError

SPECIALS = frozenset(b"^$*+?.([%-")
MAX_CAPTURES = 32

# item operations
LIT, ONE, STAR, PLUS, LAZY, OPT, OPEN, CLOSE, BACKREF, BALANCE, FRONTIER, END, ERROR, FAIL = \
    range(14)
# what a capture is once the whole pattern has matched
UNFINISHED, POSITION, CLOSED = range(3)

_CLASS_LETTERS: dict[int, Callable[[int], bool]] = {
    ord("a"): lambda c: 65 <= c <= 90 or 97 <= c <= 122,
    ord("c"): lambda c: c < 32 or c == 127,
    ord("d"): lambda c: 48 <= c <= 57,
    ord("l"): lambda c: 97 <= c <= 122,
    ord("p"): lambda c: 33 <= c <= 47 or 58 <= c <= 64 or 91 <= c <= 96 or 123 <= c <= 126,
    ord("s"): lambda c: c == 32 or 9 <= c <= 13,
    ord("u"): lambda c: 65 <= c <= 90,
    ord("w"): lambda c: 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122,
    ord("x"): lambda c: 48 <= c <= 57 or 65 <= c <= 70 or 97 <= c <= 102,
    ord("z"): lambda c: c == 0,
}
_EVERY_BYTE = frozenset(range(256))
# `%` + letter -> its bytes; an upper-case letter is the complement
ESCAPE_CLASSES: dict[int, frozenset[int]] = {}
for _letter, _pred in _CLASS_LETTERS.items():
    ESCAPE_CLASSES[_letter] = frozenset(c for c in range(256) if _pred(c))
    ESCAPE_CLASSES[_letter - 32] = _EVERY_BYTE - ESCAPE_CLASSES[_letter]


def _escaped(c: int) -> frozenset[int]:
    """What `%c` stands for: a class, or else the byte c itself ('%.' is a dot)."""
    return ESCAPE_CLASSES.get(c) or frozenset((c,))


@lru_cache(maxsize=512)
def _table(members: frozenset[int]) -> bytes:
    return bytes(1 if c in members else 0 for c in range(256))


@lru_cache(maxsize=512)
def _run_end(members: frozenset[int]) -> Callable[..., Any]:
    """A regex that consumes the longest run of member bytes (its `match` method)."""
    spans: list[bytes] = []
    for lo, hi in _spans(sorted(members)):
        spans.append(b"\\x%02x" % lo if lo == hi else b"\\x%02x-\\x%02x" % (lo, hi))
    cls = b"[" + b"".join(spans) + b"]" if spans else b"[^\\x00-\\xff]"
    return re.compile(cls + b"*").match


def _spans(values: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for v in values:
        if out and out[-1][1] == v - 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


class _Malformed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _set_end(pat: bytes, p: int) -> int:
    """Index just past the set that starts with '[' at p (Lua's rule: the first byte of the
    body, after an optional '^', is never the closing ']'; '%' protects the byte after it)."""
    end = len(pat)
    q = p + 1
    if q < end and pat[q] == 94:  # '^'
        q += 1
    while True:
        if q >= end:
            raise _Malformed("malformed pattern (missing ']')")
        if pat[q] == 37 and q + 1 < end:  # '%x' is one element
            q += 1
        q += 1
        if q < end and pat[q] == 93:  # ']'
            return q + 1


def _set_members(body: bytes) -> frozenset[int]:
    """The bytes a set matches; body is what lies between '[' and the closing ']'."""
    negate = body[:1] == b"^"
    if negate:
        body = body[1:]
    members: set[int] = set()
    j, n = 0, len(body)
    while j < n:
        c = body[j]
        if c == 37:  # '%'
            members |= _escaped(body[j + 1])
            j += 2
        elif j + 2 < n and body[j + 1] == 45:  # 'a-z' (a '-' last in the body is itself)
            members.update(range(c, body[j + 2] + 1))
            j += 3
        else:
            members.add(c)
            j += 1
    return _EVERY_BYTE - members if negate else frozenset(members)


def _single(pat: bytes, p: int) -> tuple[frozenset[int], int]:
    """The one-byte item at p: its bytes and the index just past it."""
    c = pat[p]
    if c == 37:  # '%'
        if p + 1 >= len(pat):
            raise _Malformed("malformed pattern (ends with '%')")
        return _escaped(pat[p + 1]), p + 2
    if c == 91:  # '['
        end = _set_end(pat, p)
        return _set_members(pat[p + 1:end - 1]), end
    if c == 46:  # '.'
        return _EVERY_BYTE, p + 1
    return frozenset((c,)), p + 1


_QUANTIFIERS = {42: STAR, 43: PLUS, 45: LAZY, 63: OPT}  # * + - ?

Item = tuple[int, Any, Any]


@dataclass(frozen=True, slots=True)
class Program:
    items: tuple[Item, ...]
    captures: tuple[int, ...]  # UNFINISHED / POSITION / CLOSED, as left by a full match
    first: Item | None  # the first item, for a quick rejection


def compile_pattern(pat: bytes) -> Program:
    items: list[Item] = []
    captures: list[int] = []
    try:
        _compile_into(pat, items, captures)
    except _Malformed as exc:
        items.append((ERROR, exc.message, None))
    merged = _merge_literals(items)
    return Program(tuple(merged), tuple(captures), merged[0] if merged else None)


def _compile_into(pat: bytes, items: list[Item], captures: list[int]) -> None:
    n = len(pat)
    p = 0
    while p < n:
        c = pat[p]
        if c == 40:  # '('
            if len(captures) >= MAX_CAPTURES:
                raise _Malformed("too many captures")
            items.append((OPEN, len(captures), None))
            if p + 1 < n and pat[p + 1] == 41:
                captures.append(POSITION)
                p += 2
            else:
                captures.append(UNFINISHED)
                p += 1
            continue
        if c == 41:  # ')' closes the innermost capture still open
            k = len(captures) - 1
            while k >= 0 and captures[k] != UNFINISHED:
                k -= 1
            if k < 0:
                raise _Malformed("invalid pattern capture")
            captures[k] = CLOSED
            items.append((CLOSE, k, None))
            p += 1
            continue
        if c == 36 and p + 1 == n:  # '$' last
            items.append((END, None, None))
            return
        if c == 37 and p + 1 < n:
            d = pat[p + 1]
            if d == 98:  # '%bxy'
                if p + 3 >= n:
                    raise _Malformed("unbalanced pattern")
                items.append((BALANCE, pat[p + 2], pat[p + 3]))
                p += 4
                continue
            if d == 102:  # '%f[set]'
                p += 2
                if p >= n or pat[p] != 91:
                    raise _Malformed("missing '[' after '%f' in pattern")
                end = _set_end(pat, p)
                items.append((FRONTIER, _table(_set_members(pat[p + 1:end - 1])), None))
                p = end
                continue
            if 48 <= d <= 57:  # '%1'..'%9' ('%0' is never valid)
                k = d - 49
                if k < 0 or k >= len(captures) or captures[k] == UNFINISHED:
                    raise _Malformed("invalid capture index")
                # a position capture has no text: a reference to it never matches
                items.append((FAIL, None, None) if captures[k] == POSITION
                             else (BACKREF, k, None))
                p += 2
                continue
        members, p = _single(pat, p)
        op = _QUANTIFIERS.get(pat[p], ONE) if p < n else ONE
        if op != ONE:
            p += 1
        items.append((op, _table(members), _run_end(members) if op in (STAR, PLUS) else None))


def _merge_literals(items: list[Item]) -> list[Item]:
    """Consecutive unquantified one-byte items become one LIT item (bytes, length)."""
    out: list[Item] = []
    for item in items:
        if item[0] == ONE and item[1].count(1) == 1:
            byte = bytes((item[1].index(1),))
            if out and out[-1][0] == LIT:
                text = out[-1][1] + byte
                out[-1] = (LIT, text, len(text))
            else:
                out.append((LIT, byte, 1))
        else:
            out.append(item)
    return out


_CACHE: OrderedDict[tuple[bytes, int], Program] = OrderedDict()
_CACHE_SIZE = 128


def program_for(pat: bytes, start: int) -> Program:
    """The compiled pattern pat[start:] (up to its first NUL), from the LRU cache."""
    key = (pat, start)
    prog = _CACHE.get(key)
    if prog is not None:
        _CACHE.move_to_end(key)
        return prog
    nul = pat.find(b"\0")
    prog = compile_pattern((pat if nul < 0 else pat[:nul])[start:])
    _CACHE[key] = prog
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return prog


def run(items: tuple[Item, ...], src: bytes, s: int, starts: list[int],
        ends: list[int]) -> int | None:
    """Match items against src from s; the end of the match, or None. Capture k's bounds
    are left in starts[k] and ends[k]."""
    n = len(items)
    slen = len(src)
    stack: list[list[Any]] = []  # choice points: [op, item index, position, data]
    i = 0
    while True:
        if i == n:
            return s
        op, a, b = items[i]
        if op == LIT:
            if src.startswith(a, s):
                s += b
                i += 1
                continue
        elif op == ONE:
            if s < slen and a[src[s]]:
                s += 1
                i += 1
                continue
        elif op == STAR or op == PLUS:
            if op == PLUS:
                if s >= slen or not a[src[s]]:
                    s = -1
                else:
                    s += 1
            if s >= 0:
                e = b(src, s).end()
                if e > s:  # shorter runs, down to none, are the alternatives
                    stack.append([STAR, i, s, e - 1])
                s = e
                i += 1
                continue
        elif op == LAZY:
            stack.append([LAZY, i, s, a])
            i += 1
            continue
        elif op == OPT:
            if s < slen and a[src[s]]:
                stack.append([OPT, i, s, None])
                s += 1
            i += 1
            continue
        elif op == OPEN:
            starts[a] = s
            i += 1
            continue
        elif op == CLOSE:
            ends[a] = s
            i += 1
            continue
        elif op == BACKREF:
            text = src[starts[a]:ends[a]]
            if src.startswith(text, s):
                s += len(text)
                i += 1
                continue
        elif op == BALANCE:
            e = _balance(src, s, a, b)
            if e >= 0:
                s = e
                i += 1
                continue
        elif op == FRONTIER:
            if not a[src[s - 1] if s else 0] and a[src[s] if s < slen else 0]:
                i += 1
                continue
        elif op == END:
            if s == slen:
                i += 1
                continue
        elif op == ERROR:
            raise LuaError(a.encode())
        # this path failed: resume at the latest choice point that has an alternative left
        while True:
            if not stack:
                return None
            cp = stack[-1]
            kind, i, s = cp[0], cp[1], cp[2]
            if kind == STAR:  # one byte fewer than last time
                e = cp[3]
                if e > s:
                    cp[3] = e - 1
                else:
                    stack.pop()
                s = e
                i += 1
                break
            if kind == OPT:  # without the byte
                stack.pop()
                i += 1
                break
            # LAZY: one byte more, if the set takes it
            if s < slen and cp[3][src[s]]:
                s += 1
                cp[2] = s
                i += 1
                break
            stack.pop()


def _balance(src: bytes, s: int, opening: int, closing: int) -> int:
    """%b: the index past the closing byte that balances the opening byte at s, or -1."""
    if s >= len(src) or src[s] != opening:
        return -1
    depth = 1
    j = s + 1
    close = bytes((closing,))
    while True:
        k = src.find(close, j)
        if k < 0:
            return -1
        if opening != closing:
            depth += src.count(opening, j, k)
        depth -= 1
        if depth == 0:
            return k + 1
        j = k + 1


class MatchState:
    """One subject and one pattern: match(start, pattern_offset) as often as needed, then
    read the captures of the last successful match."""

    __slots__ = ("src", "pat", "prog", "prog_start", "starts", "ends")

    def __init__(self, src: bytes, pat: bytes) -> None:
        self.src = src
        self.pat = pat
        self.prog: Program | None = None
        self.prog_start = -1
        self.starts: list[int] = []
        self.ends: list[int] = []

    def match(self, s: int, p: int) -> int | None:
        """Match the pattern from byte p (1 skips an anchoring '^') against the subject from
        index s; the index where the match ends, or None."""
        prog = self.prog
        if prog is None or p != self.prog_start:
            prog = self.prog = program_for(self.pat, p)
            self.prog_start = p
            ncap = len(prog.captures)
            self.starts = [0] * ncap
            self.ends = [0] * ncap
        first = prog.first
        if first is not None:  # cheap rejections before setting up the matcher
            op = first[0]
            if op == LIT:
                if not self.src.startswith(first[1], s):
                    return None
            elif op == ONE or op == PLUS:
                if s >= len(self.src) or not first[1][self.src[s]]:
                    return None
            elif op == BALANCE:
                if s >= len(self.src) or self.src[s] != first[1]:
                    return None
        return run(prog.items, self.src, s, self.starts, self.ends)

    def reset(self) -> None:
        """Nothing to clear: every match writes the captures it passes."""

    def get_capture(self, i: int, s: int, e: int) -> Any:
        """Capture i (0-based) of the match [s, e): bytes, or a position as a Lua number;
        with no captures at all, capture 0 is the whole match."""
        kinds = self.prog.captures if self.prog is not None else ()
        if i >= len(kinds):
            if i == 0:
                return self.src[s:e]
            raise LuaError(b"invalid capture index")
        kind = kinds[i]
        if kind == UNFINISHED:
            raise LuaError(b"unfinished capture")
        if kind == POSITION:
            return float(self.starts[i] + 1)
        return self.src[self.starts[i]:self.ends[i]]

    def captures(self, s: int, e: int, whole: bool) -> list[Any]:
        """All captures; with none, the whole match if `whole` (match, gmatch, gsub)."""
        n = len(self.prog.captures) if self.prog is not None else 0
        if n == 0 and whole:
            n = 1
        return [self.get_capture(i, s, e) for i in range(n)]
