"""latency-tracking against a real redis-server 7.0: INFO latencystats and LATENCY
HISTOGRAM list the same commands with the same call counts after the same commands
(subcommands, blocked calls, transactions and scripts included), in Redis's formats;
the percentile settings, turning tracking off and CONFIG RESETSTAT act alike. Durations
differ by nature: their values are checked for shape (the arithmetic is unit-tested
against Redis's own HdrHistogram in tests/unit/test_latency_histogram.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.differ import Differ, RawConnection, encode_command, parse
from tests.harness import wait_until


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> Iterator[None]:
    differ.both("flushall")
    differ.both("config", "resetstat")
    yield
    differ.both("config", "set", "latency-tracking", "yes")
    differ.both("config", "set", "latency-tracking-info-percentiles", "50 99 99.9")


def _latencystats(raw: bytes) -> dict[str, str]:
    text = parse(raw).decode()
    assert text.startswith("# Latencystats\r\n")
    fields = {}
    for line in text.split("\r\n")[1:]:
        if line:
            name, value = line.split(":", 1)
            fields[name] = value
    return fields


def _histograms(raw: bytes) -> dict[str, tuple[int, list[tuple[int, int]]]]:
    """LATENCY HISTOGRAM's map (RESP2: flat arrays) as {command: (calls, steps)}."""
    reply = parse(raw)
    out = {}
    for name, body in zip(reply[::2], reply[1::2], strict=True):
        assert body[0] == b"calls" and body[2] == b"histogram_usec"
        steps = list(zip(body[3][::2], body[3][1::2], strict=True))
        out[name.decode()] = (body[1], steps)
    return out


def _run_workload(differ: Differ) -> None:
    for args in (("set", "a", "1"), ("set", "b", "2"), ("get", "a"), ("mget", "a", "b"),
                 ("config", "get", "maxmemory"), ("client", "id"), ("incr", "x"),
                 ("multi",), ("incr", "x"), ("get", "a"), ("exec",),
                 ("eval", "return redis.call('get', KEYS[1])", "1", "a"),
                 ("brpop", "nolist", "0.01"), ("get", "nosuchkey"), ("incr", "a"),
                 ("set", "s", "v"), ("incr", "s")):  # an error counts too
        differ.both(*args)
    waiting = [RawConnection(conn.sock.getpeername()[1]) for conn in (differ.a, differ.r)]
    try:
        for conn in waiting:
            conn.sock.sendall(encode_command("blpop", "q", "0"))
        for conn in (differ.a, differ.r):
            wait_until(lambda c=conn: b"blocked_clients:1" in c.call("info", "clients"),
                       10, 0.01, "the BLPOP")
        differ.both("rpush", "q", "x")
        for conn in waiting:
            assert conn.read_reply() == b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n"
    finally:
        for conn in waiting:
            conn.close()


def test_latencystats_and_histogram_match_redis(differ: Differ) -> None:
    _run_workload(differ)
    mine, theirs = (_latencystats(raw) for raw in differ.both("info", "latencystats"))
    assert set(mine) == set(theirs)
    assert "latency_percentiles_usec_config|get" in mine
    # A blocked BLPOP counts once served, not when its wait times out.
    assert "latency_percentiles_usec_blpop" in mine and "latency_percentiles_usec_brpop" not in mine
    for value in mine.values():
        assert re.fullmatch(r"p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}", value), value
    mine_h, theirs_h = (_histograms(raw) for raw in differ.both("latency", "histogram"))
    # (INFO's count depends on how often the wait for the BLPOP polled.)
    assert {name: calls for name, (calls, _) in mine_h.items() if name != "info"} == \
        {name: calls for name, (calls, _) in theirs_h.items() if name != "info"}
    assert mine_h["get"][0] == 4 and mine_h["incr"][0] == 4
    for calls, steps in mine_h.values():
        assert steps and steps[-1][1] == calls
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(steps, steps[1:], strict=False))
    # Named commands: a container brings its subcommands; unknown names are left out.
    for args in (("latency", "histogram", "config"), ("latency", "histogram", "nosuch"),
                 ("latency", "histogram", "GET", "get", "config|get", "config|nosuch")):
        mine_h, theirs_h = (_histograms(raw) for raw in differ.both(*args))
        assert list(mine_h) == list(theirs_h) or sorted(mine_h) == sorted(theirs_h), args
        assert {k: v[0] for k, v in mine_h.items()} == {k: v[0] for k, v in theirs_h.items()}


def test_settings_and_reset_match_redis(differ: Differ) -> None:
    differ.check("config", "set", "latency-tracking-info-percentiles", "0 12.5 100")
    differ.both("set", "a", "1")
    mine, theirs = (_latencystats(raw) for raw in differ.both("info", "latencystats"))
    assert set(mine) == set(theirs)
    assert re.fullmatch(r"p0=\d+\.\d{3},p12\.5=\d+\.\d{3},p100=\d+\.\d{3}",
                        mine["latency_percentiles_usec_set"])
    differ.check("config", "set", "latency-tracking-info-percentiles", "")
    mine, theirs = (_latencystats(raw) for raw in differ.both("info", "latencystats"))
    assert mine == theirs and mine["latency_percentiles_usec_set"] == ""
    # Off: the section is empty and nothing is recorded; the histograms stay.
    differ.check("config", "set", "latency-tracking", "no")
    differ.both("get", "a")
    differ.check("info", "latencystats")
    mine_h, theirs_h = (_histograms(raw) for raw in differ.both("latency", "histogram"))
    assert sorted(mine_h) == sorted(theirs_h) and "get" not in mine_h
    differ.check("config", "set", "latency-tracking", "yes")
    differ.check("config", "resetstat")
    mine_h, theirs_h = (_histograms(raw) for raw in differ.both("latency", "histogram"))
    assert list(mine_h) == list(theirs_h) == ["config|resetstat"]
