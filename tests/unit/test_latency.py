"""The latency monitor on its own, with time passed in."""

from __future__ import annotations

from aikv.latency import HISTORY_LEN, LatencyMonitor

T = 1_795_817_480


def test_one_sample_per_second_and_the_all_time_worst() -> None:
    m = LatencyMonitor()
    m.add(b"command", 20, T)
    m.add(b"command", 40, T)  # same second: raises that second's sample
    m.add(b"command", 5, T)  # ... never lowers it
    m.add(b"command", 10, T + 1)
    event = m.events[b"command"]
    assert event.samples() == [(T, 40), (T + 1, 10)]
    assert event.latest() == (T + 1, 10)
    assert event.max == 40


def test_the_ring_keeps_the_last_samples() -> None:
    m = LatencyMonitor()
    for i in range(HISTORY_LEN + 5):
        m.add(b"expire-cycle", i, T + i)
    samples = m.events[b"expire-cycle"].samples()
    assert len(samples) == HISTORY_LEN
    assert samples[0] == (T + 5, 5) and samples[-1] == (T + HISTORY_LEN + 4, HISTORY_LEN + 4)
    assert m.events[b"expire-cycle"].max == HISTORY_LEN + 4


def test_reset_counts_what_it_removed() -> None:
    m = LatencyMonitor()
    for name in (b"command", b"fast-command", b"expire-cycle"):
        m.add(name, 1, T)
    assert m.reset([b"command", b"nosuch", b"command"]) == 1
    assert m.reset() == 2
    assert m.events == {}


def test_graph_matches_redis() -> None:
    # redis-server 7.0.15 after DEBUG SLEEP 0.02 and 0.04 in one second and 0.01 in the
    # next, with latency-monitor-threshold 5, asked one second later: LATENCY GRAPH command.
    m = LatencyMonitor()
    m.add(b"command", 20, T)
    m.add(b"command", 40, T)
    m.add(b"command", 10, T + 1)
    expected = (b"command - high 40 ms, low 10 ms (all time high 40 ms)\n"
                + b"-" * 80 + b"\n"
                b"# \n| \n| \n|_\n  \n10\nss\n")
    assert m.graph(b"command", now=T + 1) == expected
    assert m.graph(b"nosuch") is None


def test_graph_of_equal_samples_and_older_labels() -> None:
    m = LatencyMonitor()
    m.add(b"e", 7, T)
    m.add(b"e", 7, T + 90)
    chart = m.graph(b"e", now=T + 7200).decode().split("\n")
    # Equal samples stay on the bottom row; ages two hours and 118 minutes.
    assert chart[2:9] == ["  ", "  ", "  ", "__", "  ", "21", "hh"]


def test_doctor() -> None:
    m = LatencyMonitor()
    assert "disabled" in m.doctor(0, 10000)
    assert "No event has reached" in m.doctor(5, 10000)
    m.add(b"command", 20, T)
    m.add(b"command", 40, T + 1)
    report = m.doctor(5, 10000, now=T + 2)
    assert "1. command: 2 latency spikes (average 30ms, mean deviation 10ms, period 1.00 " \
           "sec). Worst all time event 40ms." in report
    assert "slowlog-log-slower-than 5000" in report
