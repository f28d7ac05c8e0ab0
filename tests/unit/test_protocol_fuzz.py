"""Fuzzing the request parser for unbounded allocation: whatever lengths and counts a peer
announces, one feed() may only allocate in proportion to the bytes actually received.

A huge `*<count>` must not build a list of that size, a huge `$<len>` must not reserve
the bulk before it arrives, and everything buffered must be bytes that were sent. The
unauthenticated limits of Redis 7.0 are checked here too.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aikv.protocol import (
    DEFAULT_MAX_BULK_LEN,
    UNAUTH_BULK_ERROR,
    UNAUTH_MULTIBULK_ERROR,
    ProtocolError,
    RequestParser,
)

# Fixed overhead a feed may allocate whatever it is given (small objects, the output list,
# tracemalloc's own frames); beyond it, allocation must be proportional to input.
SLACK = 64 * 1024
PER_BYTE = 4


@pytest.fixture(autouse=True)
def _tracing() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


def feed_measured(parser: RequestParser, data: bytes, received: int) -> int:
    """Feed `data` (after `received` earlier bytes); assert the peak allocation of this
    one call is bounded by the bytes received so far; return the new total."""
    received += len(data)
    out: list[list[bytes]] = []
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        parser.feed(data, out)
    except ProtocolError:
        parser.reset()
    peak = tracemalloc.get_traced_memory()[1] - before
    assert peak <= SLACK + PER_BYTE * received, (data[:80], peak, received)
    assert parser.buffered <= received
    return received


# Numbers a hostile peer would pick: around the 32- and 64-bit limits, the bulk limit,
# the unauthenticated limits, and plain small ones.
_EDGE_NUMBERS = st.sampled_from([
    -1, 0, 1, 10, 11, 16384, 16385, 32768, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63,
    2**64, DEFAULT_MAX_BULK_LEN - 1, DEFAULT_MAX_BULK_LEN, DEFAULT_MAX_BULK_LEN + 1,
])
_NUMBERS = st.one_of(_EDGE_NUMBERS, st.integers(min_value=-5, max_value=2**70))
_NUMBER_TEXT = st.one_of(_NUMBERS.map(lambda n: b"%d" % n),
                         st.sampled_from([b"", b"-", b"+5", b"05", b" 5", b"1e9", b"x"]))


@st.composite
def fragments(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["count", "bulk", "payload", "command", "inline", "junk"]))
    if kind == "count":
        return b"*" + draw(_NUMBER_TEXT) + b"\r\n"
    if kind == "bulk":
        return b"$" + draw(_NUMBER_TEXT) + b"\r\n"
    if kind == "payload":
        return draw(st.binary(max_size=64)) + b"\r\n"
    if kind == "command":
        args = draw(st.lists(st.binary(max_size=16), min_size=1, max_size=4))
        return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    if kind == "inline":
        return draw(st.binary(max_size=32)).replace(b"\n", b" ") + b"\r\n"
    return draw(st.binary(max_size=16))


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    """Fragments joined and cut again at arbitrary points, as TCP delivers them."""
    data = b"".join(draw(st.lists(fragments(), min_size=1, max_size=12)))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    pieces, last = [], 0
    for cut in cuts + [len(data)]:
        pieces.append(data[last:cut])
        last = cut
    return pieces


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.booleans())
def test_no_feed_allocates_beyond_what_was_received(pieces: list[bytes], unauth: bool) -> None:
    parser = RequestParser()
    parser.unauth = unauth
    received = 0
    for piece in pieces:
        received = feed_measured(parser, piece, received)
        if parser.auth_stall is not None:
            # The client would fail here (still unauthenticated): nothing more is read.
            break


@pytest.mark.parametrize("header", [
    b"*2147483647\r\n",
    b"*2147483647\r\n$3\r\nSET\r\n$1\r\n",
    b"*1\r\n$536870912\r\n",
    b"*1\r\n$536870912\r\nabc",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n" + b"x" * 100,
    b"*1000000\r\n" + b"$1\r\na\r\n" * 100,
])
def test_huge_announcements_reserve_nothing(header: bytes) -> None:
    parser = RequestParser()
    received = feed_measured(parser, header, 0)
    # More pieces of the announced bulk arrive: still proportional to what came.
    for _ in range(3):
        received = feed_measured(parser, b"y" * 1000, received)


def test_announced_bulk_is_collected_not_preallocated() -> None:
    parser = RequestParser()
    out: list[list[bytes]] = []
    parser.feed(b"*1\r\n$536870912\r\n", out)
    parser.feed(b"z" * 100_000, out)
    assert out == [] and parser.buffered < 200_000


def test_bulk_limit_follows_max_bulk_len() -> None:
    parser = RequestParser(max_bulk_len=2 * 1024 * 1024)
    out: list[list[bytes]] = []
    parser.feed(b"*1\r\n$2097152\r\n", out)  # exactly the limit: accepted
    parser = RequestParser(max_bulk_len=2 * 1024 * 1024)
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.feed(b"*1\r\n$2097153\r\n", out)
    # The limit is read when the length arrives, so lowering it applies to an open
    # connection (CONFIG SET proto-max-bulk-len).
    parser = RequestParser()
    parser.feed(b"*1\r\n", out)
    parser.max_bulk_len = 1024 * 1024
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.feed(b"$1048577\r\n", out)


@pytest.mark.parametrize("data,stall", [
    (b"*11\r\n", UNAUTH_MULTIBULK_ERROR),
    (b"*1\r\n$16385\r\n", UNAUTH_BULK_ERROR),
    (b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n", UNAUTH_MULTIBULK_ERROR),
])
def test_unauthenticated_limits_stall_after_complete_commands(data: bytes, stall: str) -> None:
    parser = RequestParser()
    parser.unauth = True
    out: list[list[bytes]] = []
    parser.feed(data, out)
    assert parser.auth_stall == stall
    assert out == ([[b"AUTH", b"pw"]] if data.startswith(b"*2") else [])
    # Authenticated meanwhile: the same bytes parse on as a normal request.
    parser.auth_stall = None
    parser.unauth = False
    parser.feed(b"", out)
    assert parser.auth_stall is None


def test_unauthenticated_limits_are_inclusive() -> None:
    parser = RequestParser()
    parser.unauth = True
    out: list[list[bytes]] = []
    parser.feed(b"*10\r\n" + b"$16384\r\n" + b"a" * 16384 + b"\r\n", out)
    assert parser.auth_stall is None
