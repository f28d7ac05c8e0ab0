"""aikv.latency_histogram against Redis 7.0.15's HdrHistogram: the percentiles INFO
latencystats prints and LATENCY HISTOGRAM's cumulative distribution, for random samples
whose expected values were computed by Redis's own deps/hdr_histogram (see the fixture's
"about")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aikv.latency_histogram import (
    cumulative_distribution,
    percentile_label,
    percentiles_line,
    value_at_percentile,
)

CASES = json.loads((Path(__file__).parent / "data" / "hdr_histogram_redis.json").read_text())["cases"]


def _samples(values: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_matches_redis_hdr_histogram(case: dict) -> None:
    samples = _samples(case["samples_us"])
    for label, want in case["percentiles"].items():
        assert "%.3f" % (value_at_percentile(samples, float(label)) / 1000.0) == want, label
    assert [list(step) for step in cumulative_distribution(samples)] == case["histogram_usec"]


def test_fixture_covers_the_edges() -> None:
    values = {v for case in CASES for v in case["samples_us"]}
    assert {0, 1, 1023, 1024, 1000000, 1000001} <= values  # clamping and bucket edges
    assert max(values) > 1_000_000  # above the 1 s ceiling


def test_labels_and_line() -> None:
    assert [percentile_label(p) for p in (50.0, 99.0, 99.9, 0.0, 12.25)] == \
        ["50", "99", "99.9", "0", "12.25"]
    assert percentiles_line({1: 2, 2: 1}, (50.0, 99.0, 99.9)) == "p50=1.003,p99=2.007,p99.9=2.007"
