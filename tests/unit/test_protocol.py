"""Request framing: multibulk, inline, Redis's error texts and quirks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aikv.protocol import INLINE_MAX, ProtocolError, RequestParser, split_inline_args


def feed_all(data: bytes, chunk: int | None = None) -> list[list[bytes]]:
    parser = RequestParser()
    out: list[list[bytes]] = []
    if chunk is None:
        parser.feed(data, out)
    else:
        for i in range(0, len(data), chunk):
            parser.feed(data[i : i + chunk], out)
    return out


def encode(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def test_multibulk_and_pipelining() -> None:
    data = encode(b"SET", b"k", b"v") + encode(b"GET", b"k")
    assert feed_all(data) == [[b"SET", b"k", b"v"], [b"GET", b"k"]]
    assert feed_all(data, chunk=1) == [[b"SET", b"k", b"v"], [b"GET", b"k"]]


def test_empty_and_negative_counts_are_skipped() -> None:
    assert feed_all(b"*0\r\n*-1\r\n" + encode(b"PING")) == [[b"PING"]]


def test_bytes_after_bulk_are_not_checked() -> None:
    # Redis skips the two bytes after a bulk without looking at them.
    assert feed_all(b"*1\r\n$4\r\nPINGxx") == [[b"PING"]]


@pytest.mark.parametrize("data,message", [
    (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
    (b"*3000000000\r\n", "ERR Protocol error: invalid multibulk length"),
    (b"*2\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'"),
    (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
    (b"*1\r\n$536870913\r\n", "ERR Protocol error: invalid bulk length"),
    (b"*2\r\n$3\r\nget\r\n$ab\r\n", "ERR Protocol error: invalid bulk length"),
    (b'"unbalanced\r\n', "ERR Protocol error: unbalanced quotes in request"),
    (b'echo "a"b\r\n', "ERR Protocol error: unbalanced quotes in request"),
    (b"x" * (INLINE_MAX + 1), "ERR Protocol error: too big inline request"),
    (b"*" + b"1" * (INLINE_MAX + 1), "ERR Protocol error: too big mbulk count string"),
])
def test_errors(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        feed_all(data)
    assert str(info.value) == message


def test_commands_before_an_error_are_returned() -> None:
    parser = RequestParser()
    out: list[list[bytes]] = []
    with pytest.raises(ProtocolError):
        parser.feed(encode(b"PING") + b"*1x\r\n", out)
    assert out == [[b"PING"]]


def test_inline() -> None:
    assert feed_all(b"PING\nPING\r\n\r\n") == [[b"PING"], [b"PING"]]
    assert split_inline_args(b"  echo 'a b'  ") == [b"echo", b"a b"]
    assert split_inline_args(b'set k "a\\x41\\n"') == [b"set", b"k", b"aA\n"]
    assert split_inline_args(b'x "\\X41"') == [b"x", b"X41"]
    assert split_inline_args(b"x 'it\\'s'") == [b"x", b"it's"]
    assert split_inline_args(b'x "open') is None


def test_large_bulk_is_assembled_once() -> None:
    payload = b"v" * 3_000_000
    data = encode(b"SET", b"k", payload) + encode(b"PING")
    assert feed_all(data, chunk=65536) == [[b"SET", b"k", payload], [b"PING"]]


@given(st.lists(st.lists(st.binary(max_size=40), min_size=1, max_size=6), max_size=10),
       st.integers(min_value=1, max_value=64))
def test_any_chunking_gives_the_same_commands(commands: list[list[bytes]], chunk: int) -> None:
    data = b"".join(encode(*c) for c in commands)
    assert feed_all(data, chunk=chunk) == commands


@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        feed_all(data, chunk=7)
    except ProtocolError:
        pass


def _parse_with(data: bytes, chunk: int, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    import aikv.protocol as protocol

    if not fast:
        monkeypatch.setattr(protocol, "_split_simple_multibulk", lambda buf, out: 0)
    parser = RequestParser()
    out: list[list[bytes]] = []
    error = None
    try:
        for i in range(0, len(data), chunk):
            parser.feed(data[i : i + chunk], out)
    except ProtocolError as exc:
        error = str(exc)
    monkeypatch.undo()
    return out, error, parser.buffered


_piece = st.one_of(
    st.lists(st.binary(max_size=12), min_size=1, max_size=4).map(lambda a: encode(*a)),
    st.sampled_from([b"*0\r\n", b"*-1\r\n", b"PING\r\n", b"*1\r\n$4\r\nPINGxx", b"*2\r\n$3\r\nGET\r\n",
                     b"*1\r\n$x\r\n", b"$3\r\nabc\r\n", b"\r\n", b"*1\r\n$3\r\na\r\n\r\n"]),
    st.binary(max_size=8),
)


@given(st.lists(_piece, max_size=12), st.integers(min_value=1, max_value=40))
def test_fast_path_agrees_with_careful_parser(pieces: list[bytes], chunk: int) -> None:
    data = b"".join(pieces)
    with pytest.MonkeyPatch.context() as mp:
        fast = _parse_with(data, chunk, True, mp)
    with pytest.MonkeyPatch.context() as mp:
        careful = _parse_with(data, chunk, False, mp)
    assert fast == careful


def test_fast_path_hands_big_arguments_to_the_careful_parser() -> None:
    # Lengths of 4096 and more are outside the fast path's header table: it stops there
    # and the careful parser reads the rest, in one feed or in chunks.
    big = b"v" * 5000
    data = encode(b"GET", b"k") + encode(b"SET", b"k", big) + encode(b"GET", b"k") \
        + encode(b"RPUSH", b"l", b"a", b"b")
    for chunk in (len(data), 1000, 7):
        parser = RequestParser()
        out: list[list[bytes]] = []
        for i in range(0, len(data), chunk):
            parser.feed(data[i : i + chunk], out)
        assert out == [[b"GET", b"k"], [b"SET", b"k", big], [b"GET", b"k"],
                       [b"RPUSH", b"l", b"a", b"b"]]
        assert parser.buffered == 0
