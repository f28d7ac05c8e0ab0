"""The latency monitor (LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR).

While `latency-monitor-threshold` is non-zero, an event that lasts that many milliseconds
or more is recorded under its name, as Redis records them: per event the all-time worst
and a ring of the last 160 samples, one per second (a second sample in the same second
only raises that second's latency). AiKv records the events it has counterparts for:
`command` and `fast-command` (a command's own run time, as SLOWLOG measures it) and
`expire-cycle` (one pass of active expiry). Times are Unix seconds, latencies whole
milliseconds (truncated, as Redis's duration/1000).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

HISTORY_LEN = 160  # samples kept per event (Redis's LATENCY_TS_LEN)
GRAPH_COLUMNS = 80
GRAPH_ROWS = 4
# The sparkline's fill characters, from the lowest third of a row to the top, then '|'
# for a row that is full: the chart LATENCY GRAPH draws in Redis.
_FILL = "_o#"


@dataclass
class Event:
    max: int = 0
    idx: int = 0  # the next slot to write
    times: list[int] = field(default_factory=lambda: [0] * HISTORY_LEN)
    latencies: list[int] = field(default_factory=lambda: [0] * HISTORY_LEN)

    def add(self, latency_ms: int, now: int) -> None:
        if latency_ms > self.max:
            self.max = latency_ms
        prev = (self.idx - 1) % HISTORY_LEN
        if self.times[prev] == now:
            if latency_ms > self.latencies[prev]:
                self.latencies[prev] = latency_ms
            return
        self.times[self.idx] = now
        self.latencies[self.idx] = latency_ms
        self.idx = (self.idx + 1) % HISTORY_LEN

    def samples(self) -> list[tuple[int, int]]:
        """(time, latency) from the oldest kept sample to the newest."""
        out = []
        for j in range(HISTORY_LEN):
            i = (self.idx + j) % HISTORY_LEN
            if self.times[i]:
                out.append((self.times[i], self.latencies[i]))
        return out

    def latest(self) -> tuple[int, int]:
        prev = (self.idx - 1) % HISTORY_LEN
        return self.times[prev], self.latencies[prev]


class LatencyMonitor:
    def __init__(self) -> None:
        self.events: dict[bytes, Event] = {}

    def add(self, name: bytes, latency_ms: int, now: int | None = None) -> None:
        event = self.events.get(name)
        if event is None:
            event = self.events[name] = Event()
        event.add(latency_ms, int(time.time()) if now is None else now)

    def reset(self, names: list[bytes] | None = None) -> int:
        """Forget the named events (all of them without names); how many there were."""
        if names is None:
            count = len(self.events)
            self.events.clear()
            return count
        return sum(self.events.pop(name, None) is not None for name in names)

    def graph(self, name: bytes, now: int | None = None) -> bytes | None:
        """LATENCY GRAPH's chart of an event's kept samples, or None if it has none."""
        event = self.events.get(name)
        if event is None:
            return None
        now = int(time.time()) if now is None else now
        samples = event.samples()
        values = [latency for _, latency in samples]
        low, high = (min(values), max(values)) if values else (0, 0)
        labels = [_age_label(now - when) for when, _ in samples]
        head = b"%s - high %d ms, low %d ms (all time high %d ms)\n" % (
            name, high, low, event.max)
        chart = []
        for start in range(0, len(values), GRAPH_COLUMNS):
            if start:
                chart.append("\n")
            chart.append(_sparkline(values, labels, start, GRAPH_COLUMNS, low, high))
        return head + b"-" * GRAPH_COLUMNS + b"\n" + "".join(chart).encode()

    def doctor(self, threshold_ms: int, slowlog_us: int, now: int | None = None) -> str:
        """LATENCY DOCTOR: what was seen and what to look at (AiKv's own report)."""
        if not self.events and not threshold_ms:
            return ("Latency monitoring is disabled on this AiKv node. Turn it on with "
                    "\"CONFIG SET latency-monitor-threshold <milliseconds>\": events "
                    "lasting at least that long are then recorded.\n")
        if not self.events:
            return (f"No event has reached the latency threshold ({threshold_ms} ms) since "
                    "the monitor was turned on or last reset.\n")
        now = int(time.time()) if now is None else now
        lines = ["Latency spikes recorded on this AiKv node:", ""]
        hints = []
        for number, (name, event) in enumerate(self.events.items(), 1):
            values = [latency for _, latency in event.samples()]
            oldest = min(when for when, _ in event.samples())
            average = sum(values) // len(values)
            deviation = sum(abs(average - v) for v in values) // len(values)
            period = max(now - oldest, 1) / len(values)
            lines.append(f"{number}. {name.decode(errors='replace')}: {len(values)} latency "
                         f"spikes (average {average}ms, mean deviation {deviation}ms, "
                         f"period {period:.2f} sec). Worst all time event {event.max}ms.")
            if name == b"command":
                if slowlog_us < 0:
                    hints.append("- The slow log is off, so it cannot say which commands "
                                 "these were: CONFIG SET slowlog-log-slower-than "
                                 f"{threshold_ms * 1000} turns it on at this threshold.")
                elif slowlog_us // 1000 > threshold_ms:
                    hints.append("- The slow log keeps only commands slower than "
                                 f"{slowlog_us} us, so it misses some of these: CONFIG SET "
                                 f"slowlog-log-slower-than {threshold_ms * 1000} matches it "
                                 "to this threshold.")
                hints.append("- SLOWLOG GET shows the slow commands. Commands on big keys "
                             "(DEL of a large collection, SORT, KEYS, SMEMBERS ...) take "
                             "time in proportion to their size.")
            elif name == b"fast-command":
                hints.append("- Even O(1) commands were slow: the process did not get the "
                             "CPU (machine load, noisy neighbours) or the disk stalled a "
                             "page fault of the data file.")
            elif name == b"expire-cycle":
                hints.append("- Active expiry took long: many keys expiring at once, or "
                             "big expiring collections being deleted.")
        if hints:
            lines += ["", "What to look at:", ""] + hints
        return "\n".join(lines) + "\n"


def _age_label(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _sparkline(values: list[int], labels: list[str], offset: int, columns: int,
               low: int, high: int) -> str:
    """One band of up to `columns` samples: GRAPH_ROWS rows of bars scaled between the
    lowest and the highest sample (each row in three steps), then a blank line and the
    age labels written downwards, as Redis draws LATENCY GRAPH."""
    width = min(columns, len(values) - offset)
    span = (high - low) or 1
    steps = len(_FILL) * GRAPH_ROWS
    levels = []
    for value in values[offset:offset + width]:
        step = int(int((value - low) * steps) / span)
        levels.append(min(max(step, 0), steps - 1))
    rows = []
    for row in range(GRAPH_ROWS):
        chars = []
        for step in levels:
            index = step - (GRAPH_ROWS - row - 1) * len(_FILL)
            chars.append(_FILL[index] if 0 <= index < len(_FILL)
                         else "|" if index >= len(_FILL) else " ")
        rows.append("".join(chars))
    rows.append(" " * width)  # the margin above the labels
    band = labels[offset:offset + width]
    for depth in range(max(map(len, band), default=0)):
        rows.append("".join(label[depth] if depth < len(label) else " " for label in band))
    return "".join(row + "\n" for row in rows)
