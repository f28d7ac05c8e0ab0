"""Lua 5.1 tokens, with the lexer's error texts (llex.c): `unfinished string`,
`malformed number`, ... each reported as `<chunk>:<line>: <msg> near '<token>'`."""

from __future__ import annotations

from aikv.scripting.values import LuaSyntaxError, str2number

KEYWORDS = frozenset({
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"})

# Longest first, so that '...' wins over '..' and '..' over '.'.
_SYMBOLS3 = ("...",)
_SYMBOLS2 = ("..", "==", "~=", "<=", ">=")
_SYMBOLS1 = "+-*/%^#()[]{};:,.<>="

_ESCAPES = {ord("n"): 10, ord("t"): 9, ord("r"): 13, ord("a"): 7, ord("b"): 8,
            ord("f"): 12, ord("v"): 11, ord("\\"): 92, ord('"'): 34, ord("'"): 39,
            ord("\n"): 10}

_NAME_START = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset(b"0123456789")
_DIGITS = frozenset(b"0123456789")
_SPACE = frozenset(b" \t\r\v\f")


class Token:
    __slots__ = ("kind", "value", "line", "raw")

    def __init__(self, kind: str, value: object, line: int, raw: str) -> None:
        self.kind = kind      # 'name', 'number', 'string', 'eof', or the symbol/keyword itself
        self.value = value    # str for names, float for numbers, bytes for strings
        self.line = line
        self.raw = raw        # the text shown in "near '...'"

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.value!r}, {self.line})"


def tokenize(src: bytes, chunk: str = "user_script") -> list[Token]:
    """The tokens of `src`, ending with "eof". A lexical error does not stop the caller
    here: it ends the list as a token of kind "error" (its value the LuaSyntaxError),
    which the parser raises when it reaches that token. Lua's lexer reads one token at a
    time, so a syntax error found before the bad token is the one reported."""
    toks: list[Token] = []
    try:
        _scan(src, chunk, toks)
    except LuaSyntaxError as exc:
        line = toks[-1].line if toks else 1
        toks.append(Token("error", exc, line, ""))
    return toks


def _scan(src: bytes, chunk: str, toks: list[Token]) -> None:
    n = len(src)
    i = 0
    line = 1

    def fail(msg: str, near: str | None) -> LuaSyntaxError:
        text = f"{chunk}:{line}: {msg}"
        if near is not None:
            text += f" near '{near}'"
        return LuaSyntaxError(text)

    def long_bracket(start: int) -> tuple[int, int] | None:
        """At '[': the level of a long bracket [==[ and the index after it, or None."""
        j = start + 1
        while j < n and src[j] == 61:  # '='
            j += 1
        if j < n and src[j] == 91:  # '['
            return j - start - 1, j + 1
        return None

    def read_long(pos: int, level: int, what: str) -> tuple[bytes, int]:
        nonlocal line
        close = b"]" + b"=" * level + b"]"
        # A newline right after the opening bracket is skipped.
        if pos < n and src[pos] in (13, 10):
            first = src[pos]
            pos += 1
            if pos < n and src[pos] in (13, 10) and src[pos] != first:
                pos += 1
            line += 1
        end = src.find(close, pos)
        if end < 0:
            line += src.count(b"\n", pos)
            raise fail(f"unfinished long {what}", "<eof>")
        body = src[pos:end]
        line += body.count(b"\n")
        return body, end + len(close)

    while True:
        while i < n:
            c = src[i]
            if c == 10:
                line += 1
                i += 1
            elif c in _SPACE:
                i += 1
            elif c == 45 and i + 1 < n and src[i + 1] == 45:  # comment
                i += 2
                if i < n and src[i] == 91:
                    lb = long_bracket(i)
                    if lb is not None:
                        _, i = read_long(lb[1], lb[0], "comment")
                        continue
                while i < n and src[i] != 10:
                    i += 1
            else:
                break
        if i >= n:
            toks.append(Token("eof", None, line, "<eof>"))
            return
        c = src[i]
        start = i
        if c in _NAME_START:
            i += 1
            while i < n and src[i] in _NAME_CHARS:
                i += 1
            word = src[start:i].decode()
            toks.append(Token(word if word in KEYWORDS else "name", word, line, word))
            continue
        if c in _DIGITS or (c == 46 and i + 1 < n and src[i + 1] in _DIGITS):
            # llex.c read_numeral: digits and dots; one 'e'/'E' with an optional sign;
            # then letters, digits and '_' (so "0x1F" and "3e5x" are read whole, and
            # "1e." stops after the "e").
            i += 1
            while i < n and (src[i] in _DIGITS or src[i] == 46):
                i += 1
            if i < n and src[i] in (69, 101):
                i += 1
                if i < n and src[i] in (43, 45):
                    i += 1
            while i < n and src[i] in _NAME_CHARS:
                i += 1
            raw = src[start:i].decode("latin-1")
            value = str2number(src[start:i])
            if value is None:
                raise fail("malformed number", raw)
            toks.append(Token("number", value, line, raw))
            continue
        if c in (34, 39):  # string
            quote = c
            i += 1
            buf = bytearray()
            while True:
                if i >= n:
                    raise fail("unfinished string", "<eof>")
                ch = src[i]
                if ch == quote:
                    i += 1
                    break
                if ch == 10:
                    raise fail("unfinished string", src[start:i].decode("latin-1"))
                if ch == 92:  # backslash
                    i += 1
                    if i >= n:
                        raise fail("unfinished string", "<eof>")
                    e = src[i]
                    if e in _DIGITS:
                        j = i
                        while j < n and j < i + 3 and src[j] in _DIGITS:
                            j += 1
                        val = int(src[i:j])
                        if val > 255:
                            raise fail("escape sequence too large",
                                       src[start:i - 1].decode("latin-1"))
                        buf.append(val)
                        i = j
                        continue
                    if e == 10:
                        line += 1
                    mapped = _ESCAPES.get(e)
                    buf.append(mapped if mapped is not None else e)
                    i += 1
                    continue
                buf.append(ch)
                i += 1
            toks.append(Token("string", bytes(buf), line, src[start:i].decode("latin-1")))
            continue
        if c == 91:  # '[' : long string?
            lb = long_bracket(i)
            if lb is not None:
                body, i = read_long(lb[1], lb[0], "string")
                toks.append(Token("string", body, line, src[start:i].decode("latin-1")))
                continue
            if i + 1 < n and src[i + 1] == 61:
                raise fail("invalid long string delimiter", "[=")
        three = src[i:i + 3].decode("latin-1")
        if three in _SYMBOLS3:
            toks.append(Token(three, three, line, three))
            i += 3
            continue
        two = three[:2]
        if two in _SYMBOLS2:
            toks.append(Token(two, two, line, two))
            i += 2
            continue
        # Any other character is a token of its own (llex.c), for the parser to refuse.
        one = chr(c)
        raw = one if 32 < c < 127 else f"char({c})"
        toks.append(Token(one, one, line, raw))
        i += 1
