"""Per-command latency histograms (`latency-tracking`): INFO latencystats and LATENCY
HISTOGRAM, with Redis 7.0's numbers.

Redis records each call's duration, in nanoseconds (microseconds x 1000, clamped to 1 ns
.. 1 s), in an HdrHistogram of 2 significant digits, and reads it back as percentiles
(the highest value equivalent to the bucket where the percentile's count is reached)
and as a cumulative distribution over power-of-two reporting levels from 1024 ns.

The request path keeps only a dict {duration in us: calls} per command (one dict update
a call); the histogram's buckets are a function of the value, so they are laid out here,
when a report is asked for. The layout is HdrHistogram's for those parameters: 256
sub-buckets (2 significant digits need 200), half of them per bucket after the first,
23 buckets to reach 1 s, 3072 counters.
"""

from __future__ import annotations

MIN_NS = 1
MAX_NS = 1_000_000_000
_SUB_BUCKET_MASK = 255  # 256 sub-buckets, unit magnitude 0
_HALF_MAGNITUDE = 7
_HALF_COUNT = 128
_COUNTS_LEN = 24 * _HALF_COUNT  # (23 buckets + 1) x half count


def _clamp(us: int) -> int:
    return min(max(us * 1000, MIN_NS), MAX_NS)


def _bucket(value: int) -> tuple[int, int]:
    bucket = (value | _SUB_BUCKET_MASK).bit_length() - (_HALF_MAGNITUDE + 1)
    return bucket, value >> bucket


def _index_of(value: int) -> int:
    bucket, sub = _bucket(value)
    return ((bucket + 1) << _HALF_MAGNITUDE) + sub - _HALF_COUNT


def _value_at(index: int) -> int:
    bucket = (index >> _HALF_MAGNITUDE) - 1
    sub = (index & (_HALF_COUNT - 1)) + _HALF_COUNT
    if bucket < 0:
        sub -= _HALF_COUNT
        bucket = 0
    return sub << bucket


def _lowest_equivalent(value: int) -> int:
    bucket, sub = _bucket(value)
    return sub << bucket


def _range_size(value: int) -> int:
    bucket, sub = _bucket(value)
    return 1 << (bucket + 1 if sub >= 2 * _HALF_COUNT else bucket)


def _highest_equivalent(value: int) -> int:
    return _lowest_equivalent(value) + _range_size(value) - 1


def _counts(samples: dict[int, int]) -> tuple[dict[int, int], int]:
    """The histogram's non-zero counters {index: count} and the total."""
    counts: dict[int, int] = {}
    total = 0
    for us, n in samples.items():
        index = _index_of(_clamp(us))
        counts[index] = counts.get(index, 0) + n
        total += n
    return counts, total


def value_at_percentile(samples: dict[int, int], percentile: float) -> int:
    """hdr_value_at_percentile, in nanoseconds."""
    counts, total = _counts(samples)
    wanted = max(int(min(percentile, 100.0) / 100 * total + 0.5), 1)
    value = 0
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= wanted:
            value = _value_at(index)
            break
    if percentile == 0.0:
        return _lowest_equivalent(value)
    return _highest_equivalent(value)


def percentile_label(percentile: float) -> str:
    """"%f" with its trailing zeros (and a bare point) trimmed: 50 -> "50", 99.9 -> "99.9"."""
    text = "%f" % percentile
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def percentiles_line(samples: dict[int, int], percentiles: tuple[float, ...]) -> str:
    """INFO latencystats' value: p50=1.003,p99=2.007,p99.9=2.007 (microseconds)."""
    return ",".join("p%s=%.3f" % (percentile_label(p), value_at_percentile(samples, p) / 1000.0)
                    for p in percentiles)


def cumulative_distribution(samples: dict[int, int]) -> list[tuple[int, int]]:
    """LATENCY HISTOGRAM's histogram_usec: (microseconds, calls at or below) at each
    power-of-two reporting level from 1024 ns that adds calls, as Redis's log iterator
    walks the counters (a level is reported at the first counter whose value reaches
    it, with that counter's highest equivalent value)."""
    counts, total = _counts(samples)
    out: list[tuple[int, int]] = []
    index = -1
    value = 0
    highest = 0
    cumulative = 0
    level = 1024
    level_lowest = _lowest_equivalent(level)
    previous = 0
    while cumulative < total or (index < _COUNTS_LEN and _value_at(index + 1) > level_lowest):
        while True:
            if value >= level_lowest:
                level *= 2
                level_lowest = _lowest_equivalent(level)
                break
            index += 1
            if index >= _COUNTS_LEN:
                break
            cumulative += counts.get(index, 0)
            value = _value_at(index)
            bucket, sub = _bucket(value)
            highest = (sub << bucket) + _range_size(value) - 1
        if cumulative > previous:
            out.append((highest // 1000, cumulative))
        previous = cumulative
        if index >= _COUNTS_LEN:
            break
    return out
