"""Lua 5.1 patterns (the matcher behind string.find/match/gmatch/gsub), on bytes.

Backtracking as the reference matcher does: a single-character item without a quantifier
advances in a loop; `*`, `+`, `-` and `?` recurse on the rest of the pattern, so Python
recursion grows with the number of pattern items, not with the subject's length.
"""

from __future__ import annotations

from typing import Any

from aikv.scripting.values import LuaError

MAXCAPTURES = 32
CAP_UNFINISHED = -1
CAP_POSITION = -2
SPECIALS = frozenset(b"^$*+?.([%-")


def _set(pred: Any) -> frozenset[int]:
    return frozenset(c for c in range(256) if pred(c))


def _alpha(c: int) -> bool:
    return 65 <= c <= 90 or 97 <= c <= 122


def _digit(c: int) -> bool:
    return 48 <= c <= 57


def _space(c: int) -> bool:
    return c == 32 or 9 <= c <= 13


def _cntrl(c: int) -> bool:
    return c < 32 or c == 127


def _punct(c: int) -> bool:
    return 33 <= c <= 126 and not _alpha(c) and not _digit(c)


CLASSES: dict[int, frozenset[int]] = {
    ord("a"): _set(_alpha),
    ord("c"): _set(_cntrl),
    ord("d"): _set(_digit),
    ord("l"): _set(lambda c: 97 <= c <= 122),
    ord("p"): _set(_punct),
    ord("s"): _set(_space),
    ord("u"): _set(lambda c: 65 <= c <= 90),
    ord("w"): _set(lambda c: _alpha(c) or _digit(c)),
    ord("x"): _set(lambda c: _digit(c) or 97 <= c <= 102 or 65 <= c <= 70),
    ord("z"): frozenset({0}),
}
_ALL = frozenset(range(256))
for _k in list(CLASSES):
    CLASSES[_k - 32] = _ALL - CLASSES[_k]


def match_class(c: int, cl: int) -> bool:
    members = CLASSES.get(cl)
    if members is None:
        return cl == c
    return c in members


class MatchState:
    __slots__ = ("src", "pat", "level", "capture", "depth")

    def __init__(self, src: bytes, pat: bytes) -> None:
        self.src = src
        self.pat = pat
        self.level = 0
        self.capture: list[list[int]] = []
        self.depth = 0

    def error(self, msg: str) -> LuaError:
        return LuaError(msg.encode())

    def class_end(self, p: int) -> int:
        pat = self.pat
        c = pat[p]
        p += 1
        if c == 37:  # '%'
            if p >= len(pat):
                raise self.error("malformed pattern (ends with '%')")
            return p + 1
        if c == 91:  # '['
            if p < len(pat) and pat[p] == 94:  # '^'
                p += 1
            while True:  # look for a ']'
                if p >= len(pat):
                    raise self.error("malformed pattern (missing ']')")
                c = pat[p]
                p += 1
                if c == 37:
                    if p >= len(pat):
                        raise self.error("malformed pattern (missing ']')")
                    p += 1
                if p < len(pat) and pat[p] == 93:
                    return p + 1
                if p >= len(pat):
                    raise self.error("malformed pattern (missing ']')")
        return p

    def bracket_class(self, c: int, p: int, ec: int) -> bool:
        """p at '[', ec at the closing ']'."""
        pat = self.pat
        sig = True
        p += 1
        if pat[p] == 94:
            sig = False
            p += 1
        while p < ec:
            if pat[p] == 37:
                p += 1
                if match_class(c, pat[p]):
                    return sig
                p += 1
            elif p + 2 < ec and pat[p + 1] == 45:  # range a-z
                if pat[p] <= c <= pat[p + 2]:
                    return sig
                p += 3
            else:
                if pat[p] == c:
                    return sig
                p += 1
        return not sig

    def single(self, s: int, p: int, ep: int) -> bool:
        if s >= len(self.src):
            return False
        c = self.src[s]
        pc = self.pat[p]
        if pc == 46:  # '.'
            return True
        if pc == 37:
            return match_class(c, self.pat[p + 1])
        if pc == 91:
            return self.bracket_class(c, p, ep - 1)
        return pc == c

    def match(self, s: int, p: int) -> int | None:
        self.depth += 1
        if self.depth > 200:
            raise self.error("pattern too complex")
        try:
            return self._match(s, p)
        finally:
            self.depth -= 1

    def _match(self, s: int, p: int) -> int | None:
        pat = self.pat
        plen = len(pat)
        src = self.src
        while True:
            if p >= plen:
                return s
            pc = pat[p]
            if pc == 40:  # '('
                if p + 1 < plen and pat[p + 1] == 41:
                    return self.start_capture(s, p + 2, CAP_POSITION)
                return self.start_capture(s, p + 1, CAP_UNFINISHED)
            if pc == 41:  # ')'
                return self.end_capture(s, p + 1)
            if pc == 37 and p + 1 < plen:  # '%'
                nc = pat[p + 1]
                if nc == 98:  # 'b'
                    r = self.balance(s, p + 2)
                    if r is None:
                        return None
                    s = r
                    p += 4
                    continue
                if nc == 102:  # 'f'
                    p += 2
                    if p >= plen or pat[p] != 91:
                        raise self.error("missing '[' after '%f' in pattern")
                    ep = self.class_end(p)
                    prev = src[s - 1] if s > 0 else 0
                    cur = src[s] if s < len(src) else 0
                    if (not self.bracket_class(prev, p, ep - 1)
                            and self.bracket_class(cur, p, ep - 1)):
                        p = ep
                        continue
                    return None
                if 48 <= nc <= 57:  # back reference
                    r = self.match_capture(s, nc)
                    if r is None:
                        return None
                    s = r
                    p += 2
                    continue
            if pc == 36 and p + 1 == plen:  # '$' at the end
                return s if s == len(src) else None
            ep = self.class_end(p)
            m = self.single(s, p, ep)
            q = pat[ep] if ep < plen else -1
            if q == 63:  # '?'
                if m:
                    r = self.match(s + 1, ep + 1)
                    if r is not None:
                        return r
                p = ep + 1
                continue
            if q == 42:  # '*'
                return self.max_expand(s, p, ep)
            if q == 43:  # '+'
                return self.max_expand(s + 1, p, ep) if m else None
            if q == 45:  # '-'
                return self.min_expand(s, p, ep)
            if not m:
                return None
            s += 1
            p = ep

    def max_expand(self, s: int, p: int, ep: int) -> int | None:
        i = 0
        while self.single(s + i, p, ep):
            i += 1
        while i >= 0:
            r = self.match(s + i, ep + 1)
            if r is not None:
                return r
            i -= 1
        return None

    def min_expand(self, s: int, p: int, ep: int) -> int | None:
        while True:
            r = self.match(s, ep + 1)
            if r is not None:
                return r
            if self.single(s, p, ep):
                s += 1
            else:
                return None

    def start_capture(self, s: int, p: int, what: int) -> int | None:
        if self.level >= MAXCAPTURES:
            raise self.error("too many captures")
        self.capture.append([s, what])
        self.level += 1
        r = self.match(s, p)
        if r is None:
            self.level -= 1
            self.capture.pop()
        return r

    def end_capture(self, s: int, p: int) -> int | None:
        lvl = self.capture_to_close()
        cap = self.capture[lvl]
        cap[1] = s - cap[0]
        r = self.match(s, p)
        if r is None:
            cap[1] = CAP_UNFINISHED
        return r

    def capture_to_close(self) -> int:
        level = self.level - 1
        while level >= 0:
            if self.capture[level][1] == CAP_UNFINISHED:
                return level
            level -= 1
        raise self.error("invalid pattern capture")

    def balance(self, s: int, p: int) -> int | None:
        pat = self.pat
        if p + 1 >= len(pat):
            raise self.error("unbalanced pattern")
        src = self.src
        if s >= len(src) or src[s] != pat[p]:
            return None
        b, e = pat[p], pat[p + 1]
        cont = 1
        s += 1
        while s < len(src):
            c = src[s]
            if c == e:
                cont -= 1
                if cont == 0:
                    return s + 1
            elif c == b:
                cont += 1
            s += 1
        return None

    def match_capture(self, s: int, digit: int) -> int | None:
        lvl = digit - 49  # '1'
        if lvl < 0 or lvl >= self.level or self.capture[lvl][1] == CAP_UNFINISHED:
            raise self.error("invalid capture index")
        start, ln = self.capture[lvl]
        cap = self.src[start:start + ln]
        if self.src[s:s + ln] == cap and len(self.src) - s >= ln:
            return s + ln
        return None

    def get_capture(self, i: int, s: int, e: int) -> Any:
        if i >= self.level:
            if i == 0:
                return self.src[s:e]
            raise self.error("invalid capture index")
        start, ln = self.capture[i]
        if ln == CAP_UNFINISHED:
            raise self.error("unfinished capture")
        if ln == CAP_POSITION:
            return float(start + 1)
        return self.src[start:start + ln]

    def captures(self, s: int, e: int, whole: bool) -> list[Any]:
        n = self.level if (self.level or not whole) else 1
        return [self.get_capture(i, s, e) for i in range(n)]

    def reset(self) -> None:
        self.level = 0
        self.capture = []
