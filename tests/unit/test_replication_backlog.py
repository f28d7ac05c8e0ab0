"""aikv/replication/backlog.py and aikv/pause.py: pure, bytes and times in."""

from __future__ import annotations

from aikv.pause import (
    PAUSE_ALL,
    PAUSE_BY_CLIENT,
    PAUSE_DURING_FAILOVER,
    PAUSE_FOREVER,
    PAUSE_OFF,
    PAUSE_WRITE,
    add_pause,
    pause_in_force,
)
from aikv.replication.backlog import Backlog


def test_backlog_numbers_bytes_from_where_it_starts() -> None:
    backlog = Backlog(100)  # the stream had 100 bytes before this backlog
    assert (backlog.first_offset, backlog.histlen) == (101, 0)
    assert backlog.holds(101) and not backlog.holds(100) and not backlog.holds(102)
    assert backlog.since(101) == b""
    backlog.append(b"abc", 10)
    backlog.append(b"defg", 10)
    assert (backlog.first_offset, backlog.end, backlog.histlen) == (101, 107, 7)
    assert backlog.since(103) == b"cdefg"
    assert backlog.holds(108) and not backlog.holds(109)


def test_backlog_keeps_the_last_limit_bytes() -> None:
    backlog = Backlog(0)
    for chunk in (b"12345", b"678", b"9abcdef"):
        backlog.append(chunk, 6)
    assert (backlog.first_offset, backlog.end, backlog.histlen) == (10, 15, 6)
    assert backlog.since(10) == b"abcdef"
    assert not backlog.holds(9)


def test_backlog_cut_drops_what_was_never_applied() -> None:
    backlog = Backlog(0)
    backlog.append(b"SET1", 100)
    backlog.append(b"SET2-partial", 100)
    backlog.cut(6)  # applied up to offset 6
    assert (backlog.end, backlog.histlen, backlog.since(1)) == (6, 6, b"SET1SE")
    backlog.cut(10)  # nothing past the end to drop
    assert backlog.end == 6
    backlog.cut(0)
    assert (backlog.end, backlog.histlen, backlog.first_offset) == (0, 0, 1)
    short = Backlog(50)
    short.append(b"xyz", 2)  # holds "yz", offsets 52-53
    short.cut(40)  # before what it holds: empty, ending there
    assert (short.end, short.histlen, short.first_offset) == (40, 0, 41)


def test_pauses_by_purpose() -> None:
    pauses: dict[str, tuple[int, int]] = {}
    assert pause_in_force(pauses, 0) == (PAUSE_OFF, 0)
    add_pause(pauses, PAUSE_DURING_FAILOVER, PAUSE_WRITE, PAUSE_FOREVER)
    add_pause(pauses, PAUSE_BY_CLIENT, PAUSE_ALL, 1000)
    assert pause_in_force(pauses, 500) == (PAUSE_ALL, 1000)  # the strictest wins
    add_pause(pauses, PAUSE_BY_CLIENT, PAUSE_WRITE, 800)  # same purpose: never milder
    assert pauses[PAUSE_BY_CLIENT] == (PAUSE_ALL, 1000)
    # CLIENT PAUSE's end passes: the failover's pause stays
    assert pause_in_force(pauses, 1001) == (PAUSE_WRITE, PAUSE_FOREVER)
    assert PAUSE_BY_CLIENT not in pauses
    add_pause(pauses, PAUSE_BY_CLIENT, PAUSE_WRITE, 2000)
    assert pause_in_force(pauses, 1500) == (PAUSE_WRITE, PAUSE_FOREVER)  # the latest end
    del pauses[PAUSE_DURING_FAILOVER]
    assert pause_in_force(pauses, 1500) == (PAUSE_WRITE, 2000)
