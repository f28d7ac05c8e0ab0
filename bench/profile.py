"""`python -m bench.profile`: where AiKv spends its CPU under redis-benchmark SET/GET.

Starts one AiKv (appendfsync everysec), attaches py-spy to it (`record --format raw`,
collapsed stacks, aggregated by function), drives it with redis-benchmark for a fixed
time, and prints the functions with the most self time (samples where the function was
the innermost Python frame) and the most inclusive time. The raw stacks are kept for
flame graphs (e.g. speedscope.app or flamegraph.pl read them as they are).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.procs import REPO, Server, install_signal_handlers
from bench.settings import log

RESULTS = REPO / "bench" / "results"
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def ensure_py_spy() -> str:
    found = shutil.which("py-spy")
    if found:
        return found
    log("py-spy not found; installing it with pip")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True,
                   timeout=300)
    found = shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy is still not on PATH after pip install py-spy")
    return found


def short(frame: str) -> str:
    """'handler (/work/main/aikv/commands/strings.py:41)' -> 'handler (aikv/commands/strings.py:41)'"""
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("/aikv/", "/site-packages/", "/lib/python3"):
        i = path.find(marker)
        if i >= 0:
            path = path[i + 1:]
            break
    line = f":{m.group('line')}" if m.group("line") else ""
    return f"{m.group('func')} ({path}{line})"


def summarize(raw: str) -> tuple[int, Counter[str], Counter[str]]:
    """(total samples, self samples per function, inclusive samples per function)."""
    total = 0
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short(f) for f in stack.split(";") if f.strip()]
        # py-spy may prefix a "process"/"thread" pseudo-frame; it is not a function.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    return total, own, incl


def drive(port: int, seconds: float, tests: str, pipeline: int) -> int:
    """redis-benchmark SET/GET runs back to back until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    runs = 0
    while time.monotonic() < deadline:
        left = deadline - time.monotonic()
        subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", tests,
                        "-n", "50000", "-c", "50", "-r", "100000", "-P", str(pipeline), "-q"],
                       capture_output=True, timeout=max(30.0, left + 30), check=False)
        runs += 1
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    p.add_argument("--seconds", type=float, default=20.0, help="profiling time")
    p.add_argument("--tests", default="set,get", help="redis-benchmark -t value")
    p.add_argument("--pipeline", type=int, default=1, help="redis-benchmark -P value")
    p.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--native", action="store_true",
                   help="include C frames (uvloop, lmdb, the interpreter) via py-spy --native")
    p.add_argument("--out", type=Path, default=RESULTS / "profile")
    args = p.parse_args(argv)
    py_spy = ensure_py_spy()
    install_signal_handlers()
    args.out.mkdir(parents=True, exist_ok=True)
    raw_path = args.out / "aikv-setget.raw.txt"
    raw_path.unlink(missing_ok=True)
    server = Server("aikv", appendfsync="everysec")
    spy: subprocess.Popen[bytes] | None = None
    try:
        server.start()
        # --nonblocking: sample without pausing AiKv, so the profile does not slow it down
        # (py-spy cannot unwind native stacks that way, so --native pauses it);
        # --function: one entry per function rather than per line.
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(server.pid), "--format", "raw", "--function",
             *([] if args.native else ["--nonblocking"]), "--rate", str(args.rate), "--output", str(raw_path),
             "--duration", str(int(args.seconds + 60)),
             *(["--native"] if args.native else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # let py-spy attach before the load starts
        log(f"profiling AiKv pid {server.pid} for {args.seconds:.0f}s "
            f"(redis-benchmark -t {args.tests} -P {args.pipeline})")
        runs = drive(server.port, args.seconds, args.tests, args.pipeline)
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            _, err = spy.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            _, err = spy.communicate(timeout=10)
        if not raw_path.exists():
            print(f"py-spy wrote no profile: {err.decode(errors='replace')[-800:]}",
                  file=sys.stderr)
            return 1
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait(timeout=10)
        server.stop()
    total, own, incl = summarize(raw_path.read_text(errors="replace"))
    if not total:
        print("no samples recorded", file=sys.stderr)
        return 1
    lines = [f"AiKv under redis-benchmark -t {args.tests} -P {args.pipeline}, {runs} runs, "
             f"{total} samples (busy samples only; idle event-loop waits are excluded)",
             "", f"Top {args.top} by self time:", f"{'self%':>6} {'incl%':>6}  function"]
    for func, n in own.most_common(args.top):
        lines.append(f"{100 * n / total:6.1f} {100 * incl[func] / total:6.1f}  {func}")
    lines += ["", f"Top {args.top} by inclusive time:", f"{'incl%':>6} {'self%':>6}  function"]
    for func, n in incl.most_common(args.top):
        lines.append(f"{100 * n / total:6.1f} {100 * own[func] / total:6.1f}  {func}")
    report = "\n".join(lines)
    print(report)
    (args.out / "aikv-setget.top.txt").write_text(report + "\n")
    (args.out / "aikv-setget.top.json").write_text(json.dumps({
        "total_samples": total,
        "self": [[f, n] for f, n in own.most_common(100)],
        "inclusive": [[f, n] for f, n in incl.most_common(100)],
    }, indent=1) + "\n")
    print(f"\nraw stacks: {raw_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
