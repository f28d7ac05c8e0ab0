"""Running redis-benchmark and reading its `--csv` output."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import time
from dataclasses import dataclass, field

from bench.procs import Server


@dataclass
class RbResult:
    ok: bool
    rps: float | None = None
    cpu_us_per_op: float | None = None
    wall_s: float = 0.0
    error: str = ""
    rows: dict[str, float] = field(default_factory=dict)


def parse_csv(text: str) -> dict[str, float]:
    """{test name: requests/s} from redis-benchmark --csv (header line + one per test)."""
    out: dict[str, float] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or row[0] == "test":
            continue
        try:
            out[row[0]] = float(row[1])
        except ValueError:
            continue
    return out


def _error_text(stdout: str, stderr: str, rc: int) -> str:
    # redis-benchmark prints "Error from server: ..." and exits 1 for an unknown command;
    # the CONFIG warnings are noise (AiKv has no CONFIG GET), so they are skipped.
    lines = [ln.strip() for ln in (stderr + "\n" + stdout).splitlines()
             if ln.strip() and "Could not fetch server CONFIG" not in ln
             and not ln.startswith('"')]
    msg = lines[-1] if lines else f"redis-benchmark exited {rc}"
    # "..., with args beginning with: <random keys>" differs every run; drop it.
    msg = re.sub(r",? with args beginning with:.*", "", msg).removeprefix("Error from server: ")
    return msg[:200]


def run(server: Server, test: str, n: int, clients: int = 50, pipeline: int = 1,
        keyspace: int = 100_000, cluster: bool = False, extra: list[str] | None = None,
        command: list[str] | None = None, timeout: float = 300.0,
        cpu_servers: list[Server] | None = None) -> RbResult:
    """One redis-benchmark run of `test` (e.g. "set") or of a custom `command`.

    Server CPU per request is the utime+stime the server process(es) used during the run
    divided by the requests sent; in cluster mode the CPU of every node is summed."""
    args = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "-n", str(n),
            "-c", str(clients), "-r", str(keyspace), "-P", str(pipeline), "--csv"]
    if cluster:
        args.append("--cluster")
    args += extra or []
    if command:
        args += command
    else:
        args += ["-t", test]
    watched = cpu_servers or [server]
    if not all(s.alive() for s in watched):
        return RbResult(ok=False, error="server process is gone: "
                        + "; ".join(s.last_lines(1) for s in watched if not s.alive()))
    cpu0 = [s.cpu() for s in watched]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return RbResult(ok=False, error=f"redis-benchmark timed out after {timeout:.0f}s",
                        wall_s=time.monotonic() - t0)
    wall = time.monotonic() - t0
    try:
        cpu = sum(s.cpu() - c for s, c in zip(watched, cpu0, strict=True))
    except OSError:  # the server died during the run (e.g. killed at a memory limit)
        return RbResult(ok=False, error="server process died during the run", wall_s=wall)
    rows = parse_csv(proc.stdout)
    if proc.returncode != 0 or not rows:
        return RbResult(ok=False, error=_error_text(proc.stdout, proc.stderr, proc.returncode),
                        wall_s=wall)
    rps = next(iter(rows.values())) if len(rows) == 1 else rows.get(test.upper())
    if rps is None:
        return RbResult(ok=False, error=f"no {test.upper()} row in output: {list(rows)}",
                        wall_s=wall)
    return RbResult(ok=True, rps=rps, cpu_us_per_op=cpu * 1e6 / n, wall_s=wall, rows=rows)
