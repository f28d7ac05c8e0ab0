"""Smoke test of the benchmark suite: quick mode of the throughput scenario, SET/GET only,
tiny request counts. It checks the plumbing (servers started and stopped, redis-benchmark
CSV parsed, CPU read from /proc, JSON written), not the numbers themselves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("redis-server", "redis-benchmark")),
    reason="redis-server and redis-benchmark are needed")


def test_quick_throughput_set_get(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = dict(os.environ, AIKV_BENCH_TMP=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "throughput", "--tests",
         "set,get", "-n", "2000", "--json", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    rows = {r["metric"]: r for r in doc["results"] if r["scenario"] == "throughput"}
    for metric in ("SET rps", "GET rps", "SET CPU/op", "GET CPU/op", "SET -P16 rps"):
        row = rows[metric]
        assert isinstance(row["aikv"], float | int), row
        assert isinstance(row["redis"], float | int), row
        if row["ratio"] is None:
            # A CPU reading is whole clock ticks (10 ms): 2,000 quick requests can cost
            # a server less than one, and a ratio to 0 is left empty.
            assert metric.endswith("CPU/op") and 0 in (row["aikv"], row["redis"]), row
        else:
            assert isinstance(row["ratio"], float), row
    assert rows["SET rps"]["aikv"] > 0 and rows["SET rps"]["redis"] > 0
    assert doc["versions"]["redis"]
    # The table went to stdout; every temporary server directory was removed.
    assert "AiKv/Redis" in proc.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("aikv-bench-")]


def test_python_path_tool_runs() -> None:
    """bench/python_path.py: an in-process server fed requests through fake transports;
    the tool fails unless the 100,000 keys it stores first are there, and must print a
    positive CPU time."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.python_path", "get", "--rounds", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("GET pipeline 1: "), line
    assert float(line.split(": ")[1].split()[0]) > 0, line
