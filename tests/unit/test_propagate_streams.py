"""What the stream commands send to replicas: exactly what Redis 7.0.15 sends (each
expectation below was read from a real redis-server master's replication stream for the
same commands; only the delivery times, the wall clock there, are fixed here)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from aikv.client import Client
from aikv.commands import stream_groups
from bench.python_path import FakeTransport
from tests.unit.propagation_harness import Captured, captured_server

NOW = 1_700_000_000_000  # the master's wall clock when it delivers or claims
T = b"%d" % NOW
MAX = b"18446744073709551615-18446744073709551615"


def xclaim(key: bytes, group: bytes, consumer: bytes, entry: bytes, time: bytes,
           count: int, last: bytes) -> list[bytes]:
    return [b"XCLAIM", key, group, consumer, b"0", entry, b"TIME", time,
            b"RETRYCOUNT", b"%d" % count, b"FORCE", b"JUSTID", b"LASTID", last]


@pytest.fixture
def cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    monkeypatch.setattr(stream_groups, "_now", lambda: NOW)
    with captured_server(tmp_path) as captured:
        yield captured


def fill(cap: Captured, key: str, *ids: int) -> None:
    for stream_id in ids:
        cap.run("XADD", key, stream_id, "f", "v")


def test_xadd_sends_the_id_it_chose(cap: Captured) -> None:
    assert cap.argvs("XADD", "s", "5-*", "f", "v") == [[b"XADD", b"s", b"5-0", b"f", b"v"]]
    assert cap.argvs("XADD", "s", "5-*", "f", "v") == [[b"XADD", b"s", b"5-1", b"f", b"v"]]
    assert cap.argvs("XADD", "s", "7", "f", "v") == [[b"XADD", b"s", b"7", b"f", b"v"]]
    cap.server.clock.now_ms = 1_600_000_000_000
    assert cap.argvs("XADD", "s", "*", "f", "v") == [
        [b"XADD", b"s", b"1600000000000-0", b"f", b"v"]]
    cap.server.clock.now_ms = 1000  # a clock behind the last ID: its next sequence
    assert cap.argvs("XADD", "s", "NOMKSTREAM", "*", "a", "b") == [
        [b"XADD", b"s", b"NOMKSTREAM", b"1600000000000-1", b"a", b"b"]]
    # Nothing changed: nothing sent.
    assert cap.argvs("XADD", "none", "NOMKSTREAM", "*", "f", "v") == []
    assert cap.argvs("XADD", "s", "7-3", "f", "v") == []  # an error


def test_approximate_trim_is_sent_as_the_exact_trim_it_made(tmp_path: Path) -> None:
    # Three entries a node: `~` trims whole nodes only.
    with captured_server(tmp_path, stream_node_max_entries="3") as cap:
        fill(cap, "s", *range(1, 12))
        assert cap.argvs("XADD", "s", "MAXLEN", "11", "100", "f", "v") == [
            [b"XADD", b"s", b"MAXLEN", b"11", b"100", b"f", b"v"]]  # exact: as given
        cap.run("DEL", "s")
        fill(cap, "s", *range(1, 12))
        assert cap.argvs("XADD", "s", "MAXLEN", "~", "5", "12", "f", "v") == [
            [b"XADD", b"s", b"MAXLEN", b"=", b"6", b"12", b"f", b"v"]]
        assert cap.argvs("XADD", "s", "MINID", "~", "10", "13", "f", "v") == [
            [b"XADD", b"s", b"MINID", b"=", b"10-0", b"13", b"f", b"v"]]
        assert cap.argvs("XADD", "s", "MAXLEN", "~", "1", "LIMIT", "3", "14-*", "f", "v") == [
            [b"XADD", b"s", b"MAXLEN", b"=", b"2", b"LIMIT", b"3", b"14-0", b"f", b"v"]]
        cap.run("XDEL", "s", "12", "13")
        # The first entry left is a tombstone: its ID is the bound.
        assert cap.argvs("XADD", "s", "MINID", "~", "14", "15", "f", "v") == [
            [b"XADD", b"s", b"MINID", b"=", b"13-0", b"15", b"f", b"v"]]
        # Everything went: MINID = the last possible ID.
        assert cap.argvs("XADD", "s", "MINID", "~", "99", "16", "f", "v") == [
            [b"XADD", b"s", b"MINID", b"=", MAX, b"16", b"f", b"v"]]
        assert cap.argvs("XADD", "s", "MAXLEN", "~", "0", "17", "f", "v") == [
            [b"XADD", b"s", b"MAXLEN", b"=", b"0", b"17", b"f", b"v"]]


def test_xtrim_sends_what_it_trimmed_or_nothing(tmp_path: Path) -> None:
    with captured_server(tmp_path, stream_node_max_entries="3") as cap:
        assert cap.argvs("XTRIM", "s", "MAXLEN", "1") == []  # no key
        fill(cap, "s", *range(1, 12))
        assert cap.argvs("XTRIM", "s", "MAXLEN", "~", "9") == []  # no whole node
        assert cap.argvs("XTRIM", "s", "MAXLEN", "~", "5") == [
            [b"XTRIM", b"s", b"MAXLEN", b"=", b"5"]]
        assert cap.argvs("XTRIM", "s", "MAXLEN", "20") == []
        assert cap.argvs("XTRIM", "s", "MINID", "8") == [[b"XTRIM", b"s", b"MINID", b"8"]]
        assert cap.argvs("XTRIM", "s", "MAXLEN", "~", "1", "LIMIT", "3") == [
            [b"XTRIM", b"s", b"MAXLEN", b"=", b"2", b"LIMIT", b"3"]]
        assert cap.argvs("XTRIM", "s", "MAXLEN", "~", "0") == [
            [b"XTRIM", b"s", b"MAXLEN", b"=", b"0"]]
        assert cap.argvs("XTRIM", "s", "MAXLEN", "0") == []


def test_exact_trim_with_limit_from_the_master_runs(tmp_path: Path) -> None:
    """A replica gets `MAXLEN = n LIMIT m` (the rewritten `~`): LIMIT is ignored there, as
    Redis ignores it for its master, rather than refused."""
    with captured_server(tmp_path, stream_node_max_entries="3") as cap:
        fill(cap, "s", *range(1, 12))
        assert cap.run("XTRIM", "s", "MAXLEN", "=", "2", "LIMIT", "3").startswith(b"-ERR")
        cap.client.is_master = True
        assert cap.run("XTRIM", "s", "MAXLEN", "=", "2", "LIMIT", "3") == b":9\r\n"
        assert cap.run("XADD", "s", "MAXLEN", "=", "1", "LIMIT", "3", "12", "f", "v") \
            == b"$4\r\n12-0\r\n"
        assert cap.run("XLEN", "s") == b":1\r\n"


def test_sent_as_given_unless_nothing_changed(cap: Captured) -> None:
    assert cap.argvs("XDEL", "s", "1") == []
    fill(cap, "s", 1, 2)
    assert cap.argvs("XDEL", "s", "9") == []
    assert cap.argvs("XDEL", "s", "1", "9") == [[b"XDEL", b"s", b"1", b"9"]]
    assert cap.argvs("XSETID", "s", "5") == [[b"XSETID", b"s", b"5"]]
    # "$" is not resolved: a replica with the same data reads the same last ID.
    assert cap.argvs("XGROUP", "CREATE", "s", "g", "$") == [
        [b"XGROUP", b"CREATE", b"s", b"g", b"$"]]
    assert cap.argvs("XGROUP", "CREATE", "new", "g", "$", "MKSTREAM") == [
        [b"XGROUP", b"CREATE", b"new", b"g", b"$", b"MKSTREAM"]]
    assert cap.argvs("XGROUP", "SETID", "s", "g", "$") == [[b"XGROUP", b"SETID", b"s", b"g", b"$"]]
    assert cap.argvs("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "0") == [
        [b"XGROUP", b"SETID", b"s", b"g", b"0", b"ENTRIESREAD", b"0"]]
    assert cap.argvs("XGROUP", "CREATECONSUMER", "s", "g", "c") == [
        [b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"c"]]
    assert cap.argvs("XGROUP", "CREATECONSUMER", "s", "g", "c") == []
    assert cap.argvs("XACK", "s", "g", "2") == []
    assert cap.argvs("XACK", "s", "nogroup", "2") == []
    cap.run("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    assert cap.argvs("XACK", "s", "g", "5", "2") == [[b"XACK", b"s", b"g", b"5", b"2"]]
    assert cap.argvs("XGROUP", "DELCONSUMER", "s", "g", "x") == []
    assert cap.argvs("XGROUP", "DELCONSUMER", "s", "g", "c") == [
        [b"XGROUP", b"DELCONSUMER", b"s", b"g", b"c"]]
    assert cap.argvs("XGROUP", "DESTROY", "s", "nogroup") == []
    assert cap.argvs("XGROUP", "DESTROY", "s", "g") == [[b"XGROUP", b"DESTROY", b"s", b"g"]]


def test_xreadgroup_sends_an_xclaim_per_entry_delivered(cap: Captured) -> None:
    fill(cap, "s", 1, 2)
    cap.run("XGROUP", "CREATE", "s", "g", "0")
    assert cap.argvs("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">") == [
        xclaim(b"s", b"g", b"c", b"1-0", T, 1, b"1-0")]
    assert cap.argvs("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">") == [
        xclaim(b"s", b"g", b"c", b"2-0", T, 1, b"2-0")]
    assert cap.argvs("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">") == []
    # History: the new delivery counts and times stay the master's.
    assert cap.argvs("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0") == []
    assert cap.argvs("XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", "0") == []
    # Entries pending for another consumer are handed over, counted from 1 again.
    cap.run("XGROUP", "SETID", "s", "g", "0")
    assert cap.argvs("XREADGROUP", "GROUP", "g", "e", "STREAMS", "s", ">") == [
        xclaim(b"s", b"g", b"e", b"1-0", T, 1, b"1-0"),
        xclaim(b"s", b"g", b"e", b"2-0", T, 1, b"2-0")]
    fill(cap, "t", 1)
    cap.run("XGROUP", "CREATE", "t", "g", "0")
    fill(cap, "s", 6)
    assert cap.argvs("XREADGROUP", "GROUP", "g", "m", "COUNT", "5", "STREAMS", "s", "t", ">",
                     ">") == [xclaim(b"s", b"g", b"m", b"6-0", T, 1, b"6-0"),
                              xclaim(b"t", b"g", b"m", b"1-0", T, 1, b"1-0")]
    assert cap.argvs("XREAD", "STREAMS", "s", "0") == []
    assert cap.argvs("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "nokey", ">") == []


def test_xreadgroup_noack_sends_the_group_position_and_new_consumers(cap: Captured) -> None:
    fill(cap, "s", 1, 2, 3)
    cap.run("XGROUP", "CREATE", "s", "g", "0")
    cap.run("XDEL", "s", "2")
    # A tombstone ahead: the read counter is unknown until the reads pass it.
    assert cap.argvs("XREADGROUP", "GROUP", "g", "c", "NOACK", "COUNT", "1", "STREAMS", "s",
                     ">") == [[b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"c"],
                              [b"XGROUP", b"SETID", b"s", b"g", b"1-0", b"ENTRIESREAD", b"-1"]]
    assert cap.argvs("XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "s", ">") == [
        [b"XGROUP", b"SETID", b"s", b"g", b"3-0", b"ENTRIESREAD", b"3"]]
    assert cap.argvs("XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "s", ">") == []
    # A consumer a NOACK history read creates is created on replicas too.
    assert cap.argvs("XREADGROUP", "GROUP", "g", "n", "NOACK", "STREAMS", "s", "0") == [
        [b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"n"]]
    # Without NOACK the consumer comes with the XCLAIMs (or is not sent at all).
    assert cap.argvs("XREADGROUP", "GROUP", "g", "p", "STREAMS", "s", "0") == []


def test_xclaim_sends_each_claim_and_each_entry_dropped(cap: Captured) -> None:
    fill(cap, "s", 1, 2, 3)
    cap.run("XGROUP", "CREATE", "s", "g", "0")
    cap.run("XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    # The ID as the client spelled it; the delivery count as it now is.
    assert cap.argvs("XCLAIM", "s", "g", "b", "0", "1") == [
        xclaim(b"s", b"g", b"b", b"1", T, 2, b"3-0")]
    assert cap.argvs("XCLAIM", "s", "g", "b", "0", "2-0", "JUSTID") == [
        xclaim(b"s", b"g", b"b", b"2-0", T, 1, b"3-0")]
    assert cap.argvs("XCLAIM", "s", "g", "b", "0", "3", "RETRYCOUNT", "7", "TIME", "1000") == [
        xclaim(b"s", b"g", b"b", b"3", b"1000", 7, b"3-0")]
    assert cap.argvs("XCLAIM", "s", "g", "b", "3600000", "1") == []  # not idle enough
    assert cap.argvs("XCLAIM", "s", "g", "b", "0", "9") == []  # not pending
    # LASTID moving the group alone: the position is sent.
    assert cap.argvs("XCLAIM", "s", "g", "b", "0", "9", "LASTID", "8") == [
        [b"XGROUP", b"SETID", b"s", b"g", b"8-0", b"ENTRIESREAD", b"3"]]
    assert cap.argvs("XCLAIM", "s", "g", "b", "0", "9", "LASTID", "5") == []
    fill(cap, "s", 30)
    assert cap.argvs("XCLAIM", "s", "g", "c", "0", "30", "FORCE", "LASTID", "40") == [
        xclaim(b"s", b"g", b"c", b"30", T, 2, b"40-0")]
    # An entry deleted from the stream leaves the PEL: the replica's XCLAIM drops it
    # too. It goes with its owner and delivery as they were.
    cap.run("XDEL", "s", "1")
    assert cap.argvs("XCLAIM", "s", "g", "c", "0", "1", "LASTID", "50") == [
        xclaim(b"s", b"g", b"b", b"1", T, 2, b"50-0")]
    assert cap.argvs("XCLAIM", "s", "g", "c", "0", "1") == []
    assert cap.argvs("XCLAIM", "s", "g", "b", "0", "2", "2", "FORCE", "JUSTID") == [
        xclaim(b"s", b"g", b"b", b"2", T, 1, b"50-0")] * 2


def test_xautoclaim_sends_each_claim_and_each_entry_dropped(
        cap: Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(cap, "s", 1, 2, 3, 4)
    cap.run("XGROUP", "CREATE", "s", "g", "0")
    cap.run("XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    later = NOW + 5
    monkeypatch.setattr(stream_groups, "_now", lambda: later)
    assert cap.argvs("XAUTOCLAIM", "s", "g", "b", "0", "0", "COUNT", "1") == [
        xclaim(b"s", b"g", b"b", b"1-0", b"%d" % later, 2, b"4-0")]
    assert cap.argvs("XAUTOCLAIM", "s", "g", "b", "3600000", "0") == []
    cap.run("XDEL", "s", "2", "3")
    assert cap.argvs("XAUTOCLAIM", "s", "g", "c", "0", "0", "JUSTID") == [
        xclaim(b"s", b"g", b"c", b"1-0", b"%d" % later, 2, b"4-0"),
        xclaim(b"s", b"g", b"a", b"2-0", T, 1, b"4-0"),
        xclaim(b"s", b"g", b"a", b"3-0", T, 1, b"4-0"),
        xclaim(b"s", b"g", b"c", b"4-0", b"%d" % later, 1, b"4-0")]
    assert cap.argvs("XAUTOCLAIM", "s", "g", "c", "0", "(4") == []
    assert cap.argvs("XAUTOCLAIM", "nokey", "g", "c", "0", "0") == []


def test_blocked_xreadgroup_sends_what_it_was_served(cap: Captured) -> None:
    cap.server.loop = asyncio.new_event_loop()  # served replies are queued on it
    try:
        fill(cap, "s", 1)
        cap.run("XGROUP", "CREATE", "s", "g", "$")
        for block in (["c1"], ["c2", "NOACK", "COUNT", "1"], ["c3", "NOACK"]):
            waiter = Client(cap.server)
            waiter.connection_made(FakeTransport())  # type: ignore[arg-type]
            argv = ["XREADGROUP", "GROUP", "g", *block, "BLOCK", "0", "STREAMS", "s", ">"]
            before = len(cap.batches)
            cap.server.dispatch(waiter, [a.encode() for a in argv])
            assert waiter.blocked is not None and len(cap.batches) == before

        def served(*argv: str) -> list[list[bytes]]:
            before = len(cap.batches)
            cap.run(*argv)
            return [effect for batch in cap.batches[before:] for _, effect in batch]

        cap.run("MULTI")
        cap.run("XADD", "s", "2", "f", "v")
        cap.run("XADD", "s", "3", "f", "v")
        # The first waiter takes both entries; the others find nothing new.
        assert served("EXEC") == [[b"XADD", b"s", b"2", b"f", b"v"],
                                  [b"XADD", b"s", b"3", b"f", b"v"],
                                  xclaim(b"s", b"g", b"c1", b"2-0", T, 1, b"2-0"),
                                  xclaim(b"s", b"g", b"c1", b"3-0", T, 1, b"3-0")]
        assert served("XADD", "s", "4", "f", "v") == [
            [b"XADD", b"s", b"4", b"f", b"v"],
            [b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"c2"],
            [b"XGROUP", b"SETID", b"s", b"g", b"4-0", b"ENTRIESREAD", b"4"]]
        assert served("XADD", "s", "5", "f", "v") == [
            [b"XADD", b"s", b"5", b"f", b"v"],
            [b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"c3"],
            [b"XGROUP", b"SETID", b"s", b"g", b"5-0", b"ENTRIESREAD", b"5"]]
    finally:
        cap.server.loop.close()
        cap.server.loop = None


def test_transactions_and_scripts_send_the_effects(cap: Captured) -> None:
    fill(cap, "s", 1)
    cap.run("XGROUP", "CREATE", "s", "g", "0")
    cap.server.clock.now_ms = 1_600_000_000_000
    cap.run("MULTI")
    cap.run("XADD", "s", "*", "f", "v")
    cap.run("XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    cap.run("XACK", "s", "g", "9")
    assert cap.argvs("EXEC") == [
        [b"XADD", b"s", b"1600000000000-0", b"f", b"v"],
        xclaim(b"s", b"g", b"a", b"1-0", T, 1, b"1-0"),
        xclaim(b"s", b"g", b"a", b"1600000000000-0", T, 1, b"1600000000000-0")]
    script = ("redis.call('XADD', KEYS[1], '1600000000001-*', 'f', 'v');"
              " return redis.call('XAUTOCLAIM', KEYS[1], 'g', 'b', '0', '(1600000000000-0')")
    assert cap.argvs("EVAL", script, "1", "s") == [
        [b"XADD", b"s", b"1600000000001-0", b"f", b"v"]]
