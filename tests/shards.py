"""`python -m tests.shards`: the whole test suite as parallel pytest processes.

Most of the suite's time is spent waiting, not computing: an integration test starts
servers, then polls for a cluster to agree, a failover to happen, a timeout to pass.
Measured on a 2-core CI machine, the integration tests kept about a fifth of one core
busy (140 s of wall time for 29 s of CPU, servers included). So the test files are split
into shards run side by side, each a plain pytest process over its own files:

* files are given to shards by their recorded duration (tests/durations.json, written by
  `--record JUNIT.xml` from a whole-suite run), longest first, each to the least loaded
  shard; a file never recorded counts as DEFAULT_SECONDS;
* each shard gets its own slice of the port range the tests pick server ports from
  (AIKV_TEST_PORT_SLICE, read by tests/harness.py), chosen so that no shard's server
  ports overlap another's bus ports (port + 10000): two shards never race for a port;
* a shard's output goes to a file and is printed whole when the shard ends (a line every
  minute says which shards are still running); the exit status is the worst of theirs.

AIKV_TEST_SHARDS sets how many (default 2; 1 runs the plain suite in this process's
child). Arguments after `--` go to every pytest. To refresh the recorded durations, run
the whole suite in one process with a report (`bash tools/test-all --junitxml=/tmp/j.xml`:
with arguments, tools/test-all runs a single pytest) and then
`python -m tests.shards --record /tmp/j.xml`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
DURATIONS = TESTS / "durations.json"
DEFAULT_SECONDS = 5.0
HEARTBEAT_SECONDS = 60.0


def test_files() -> list[str]:
    """Every test file pytest would collect from tests/, as paths relative to the repo."""
    files = sorted(p for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)
    return [str(p.relative_to(ROOT)) for p in files]


def load_durations() -> dict[str, float]:
    try:
        data = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()}


def assign(files: list[str], durations: dict[str, float], shards: int) -> list[list[str]]:
    """Longest-processing-time-first: each file, longest first, to the lightest shard."""
    loads = [0.0] * shards
    out: list[list[str]] = [[] for _ in range(shards)]
    for name in sorted(files, key=lambda f: (-durations.get(f, DEFAULT_SECONDS), f)):
        lightest = min(range(shards), key=lambda i: (loads[i], i))
        out[lightest].append(name)
        loads[lightest] += durations.get(name, DEFAULT_SECONDS)
    return [sorted(part) for part in out if part]


def record(junit: Path) -> dict[str, float]:
    """Seconds per test file from a pytest --junitxml report (setup, call and teardown)."""
    per_file: dict[str, float] = {}
    known = set(test_files())
    for case in ET.parse(junit).iter("testcase"):
        parts = (case.get("classname") or "").split(".")
        # tests.integration.test_x[.Class] -> tests/integration/test_x.py
        for depth in range(len(parts), 0, -1):
            name = "/".join(parts[:depth]) + ".py"
            if name in known:
                per_file[name] = per_file.get(name, 0.0) + float(case.get("time") or 0)
                break
    return {name: round(seconds, 1) for name, seconds in sorted(per_file.items())}


def run(shards: int, pytest_args: list[str]) -> int:
    files = test_files()
    parts = assign(files, load_durations(), shards)
    if len(parts) <= 1:
        return subprocess.call([sys.executable, "-m", "pytest", *pytest_args, *files], cwd=ROOT)
    started = time.monotonic()
    logs = []
    procs = []
    for index, part in enumerate(parts):
        log = tempfile.NamedTemporaryFile(prefix=f"aikv-shard{index}-", suffix=".log", delete=False)
        logs.append(Path(log.name))
        env = dict(os.environ, AIKV_TEST_PORT_SLICE=f"{index}/{len(parts)}")
        procs.append(subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args, *part],
                                      cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        print(f"shard {index}: {len(part)} files", flush=True)
    codes: dict[int, int] = {}
    next_beat = started + HEARTBEAT_SECONDS
    while len(codes) < len(procs):
        for index, proc in enumerate(procs):
            if index not in codes and proc.poll() is not None:
                codes[index] = proc.returncode
                print(f"[{_clock(started)}] shard {index} ended with status {proc.returncode}",
                      flush=True)
        if time.monotonic() >= next_beat:
            running = [str(i) for i in range(len(procs)) if i not in codes]
            print(f"[{_clock(started)}] running: shard {', '.join(running)}", flush=True)
            next_beat += HEARTBEAT_SECONDS
        time.sleep(0.5)
    for index, log_path in enumerate(logs):
        print(f"\n======== shard {index} (status {codes[index]}) ========", flush=True)
        sys.stdout.write(log_path.read_text(errors="replace"))
        log_path.unlink()
    print(f"\nall shards done in {_clock(started)}; statuses {[codes[i] for i in range(len(procs))]}")
    return combined_status([codes[i] for i in range(len(procs))])


def combined_status(statuses: list[int]) -> int:
    """The run's exit status from the shards' pytest statuses: 0 all passed, 5 nothing
    selected (a shard whose files a -k left empty: fine unless every shard says so),
    anything else a failure of some kind (the first one is reported)."""
    if all(code == 5 for code in statuses):
        return 5
    return next((code for code in statuses if code not in (0, 5)), 0)


def _clock(started: float) -> str:
    seconds = int(time.monotonic() - started)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.shards", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", type=int,
                   default=int(os.environ.get("AIKV_TEST_SHARDS", "2")))
    p.add_argument("--record", type=Path, metavar="JUNIT.xml",
                   help="write tests/durations.json from a whole-suite junit report")
    p.add_argument("--plan", action="store_true", help="print the split and exit")
    p.add_argument("pytest_args", nargs="*", help="after --: passed to every pytest")
    args = p.parse_args(argv)
    if args.record:
        DURATIONS.write_text(json.dumps(record(args.record), indent=1) + "\n")
        return 0
    if args.plan:
        durations = load_durations()
        for index, part in enumerate(assign(test_files(), durations, max(1, args.shards))):
            load = sum(durations.get(f, DEFAULT_SECONDS) for f in part)
            print(f"shard {index}: {len(part)} files, ~{load:.0f} s")
        return 0
    return run(max(1, args.shards), args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
