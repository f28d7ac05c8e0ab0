"""Result rows, medians, the printed table and the JSON file."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import REPO, redis_version


@dataclass
class Row:
    """One compared figure: AiKv's value, Redis's value and AiKv/Redis.

    A value of None means n/a; `note` then says why. `samples` keeps every round so a
    reader can judge the spread on a noisy machine."""
    scenario: str
    metric: str
    unit: str
    aikv: float | None = None
    redis: float | None = None
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.aikv is None or self.redis is None or self.redis == 0:
            return None
        return self.aikv / self.redis

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def row_from_samples(scenario: str, metric: str, unit: str, aikv: list[float],
                     redis: list[float], aikv_err: str = "", redis_err: str = "",
                     extra: dict[str, Any] | None = None) -> Row:
    notes = []
    if not aikv and aikv_err:
        notes.append(f"AiKv n/a: {aikv_err}")
    if not redis and redis_err:
        notes.append(f"Redis n/a: {redis_err}")
    return Row(scenario, metric, unit, median(aikv), median(redis), "; ".join(notes),
               {"aikv": aikv, "redis": redis}, extra or {})


def _fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 9.95:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def table(rows: list[Row], width_note: int = 70) -> str:
    header = ["scenario", "metric", "unit", "AiKv", "Redis", "AiKv/Redis", "note"]
    body = []
    for r in rows:
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}"
        note = r.note if len(r.note) <= width_note else r.note[: width_note - 3] + "..."
        body.append([r.scenario, r.metric, r.unit, _fmt(r.aikv), _fmt(r.redis), ratio, note])
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    right = {3, 4, 5}

    def line(cells: list[str]) -> str:
        return " | ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                          for i, c in enumerate(cells)).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(b) for b in body)])


def markdown_table(rows: list[Row]) -> str:
    out = ["| scenario | metric | unit | AiKv | Redis | AiKv/Redis | note |",
           "|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}"
        note = r.note.replace("|", "/")
        out.append(f"| {r.scenario} | {r.metric} | {r.unit} | {_fmt(r.aikv)} | "
                   f"{_fmt(r.redis)} | {ratio} | {note} |")
    return "\n".join(out)


def git_head() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def write_json(path: Path, rows: list[Row], options: dict[str, Any],
               started: float, env_notes: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {"nproc": os.cpu_count(), "loadavg_end": os.getloadavg(),
                    "shared_noisy": True, "python": sys.version.split()[0]},
        "versions": {"redis": redis_version(), "aikv_commit": git_head()},
        "options": options,
        "environment": env_notes,
        "results": [r.to_json() for r in rows],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def render_markdown(path: Path) -> str:
    """A results file as the Markdown table BENCHMARKS.md shows."""
    doc = json.loads(path.read_text())
    rows = []
    for d in doc["results"]:
        d = dict(d)
        d.pop("ratio", None)
        rows.append(Row(**d))
    head = (f"Run {doc['date']}, {doc['duration_s']:.0f} s, redis-server "
            f"{doc['versions']['redis']}, AiKv at {doc['versions']['aikv_commit']}, "
            f"{doc['options']['rounds']} round(s), {doc['machine']['nproc']} cores "
            f"(shared, noisy), load average at the end "
            f"{', '.join(f'{x:.1f}' for x in doc['machine']['loadavg_end'])}.")
    return head + "\n\n" + markdown_table(rows)
