"""`python -m bench`: run the scenarios, print the table, write the JSON file."""

from __future__ import annotations

import argparse
import compileall
import importlib
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procs import REPO, install_signal_handlers
from bench.report import Row, render_markdown, table, write_json
from bench.settings import Settings, log

# Scenario name -> module; each module has run(Settings) -> list[Row].
SCENARIOS: dict[str, str] = {
    "throughput": "bench.throughput",
    "cluster": "bench.cluster_throughput",
    "cluster-ops": "bench.cluster_ops",
    "restart": "bench.restart",
    "bigdata": "bench.bigdata",
    "bigkeys": "bench.bigkeys",
    "replication": "bench.replication",
    "floor": "bench.floor",
}
# Run only when asked for with --only: a reference point, not a comparison of AiKv.
OPTIONAL = {"floor"}
DEFAULT_JSON = REPO / "bench" / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="small sizes and one round (about 1-2 minutes)")
    p.add_argument("--rounds", type=int, help="rounds per figure (default 3; quick: 1)")
    p.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    p.add_argument("--big", action="store_true",
                   help="also 10,000,000 keys in the restart scenario; bigger data set")
    p.add_argument("--tests", help="redis-benchmark tests for the throughput scenarios "
                   "(default set,get,incr,lpush,hset,zadd)")
    p.add_argument("-n", type=int, help="requests per unpipelined run (pipelined: 4x)")
    p.add_argument("--render", type=Path, metavar="JSON",
                   help="print a results file as a Markdown table and exit (runs nothing)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(render_markdown(args.render))
        return 0
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install redis-server redis-tools", file=sys.stderr)
            return 2
    st = Settings.make(args.quick, args.rounds, args.big)
    if args.tests:
        st.tests = tuple(t.strip().lower() for t in args.tests.split(",") if t.strip())
    if args.n:
        st.n_plain, st.n_pipelined = args.n, 4 * args.n
    names = [n for n in SCENARIOS if n not in OPTIONAL]
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            print(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}",
                  file=sys.stderr)
            return 2
    install_signal_handlers()
    # AiKv as installed: a pip install compiles the bytecode, but this tree may be run
    # with PYTHONDONTWRITEBYTECODE set, and every AiKv spawn (restart included) would then
    # compile its modules again (~0.5 s here). compileall writes the cache regardless.
    compileall.compile_dir(str(REPO / "aikv"), quiet=1)
    started = time.time()
    rows: list[Row] = []
    env_notes: dict[str, Any] = {}
    options = {"quick": st.quick, "rounds": st.rounds, "big": st.big, "only": names,
               "tests": list(st.tests), "n_plain": st.n_plain,
               "n_pipelined": st.n_pipelined, "clients": st.clients,
               "keyspace": st.keyspace}
    try:
        for name in names:
            log(f"scenario {name}: starting")
            module = importlib.import_module(SCENARIOS[name])
            runner: Callable[[Settings], list[Row]] = module.run
            t0 = time.monotonic()
            try:
                got = runner(st)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - one broken scenario must not lose the rest
                log(f"scenario {name} failed: {exc!r}")
                got = [Row(name, "scenario", "", note=f"failed: {exc!r}"[:300])]
            rows += got
            notes = getattr(module, "ENV_NOTES", None)
            if notes:
                env_notes[name] = dict(notes)
            log(f"scenario {name}: done in {time.monotonic() - t0:.0f}s")
            # Write after every scenario so an interrupted run keeps what it measured.
            write_json(args.json, rows, options, started, env_notes)
    except KeyboardInterrupt:
        log("interrupted: servers stopped, partial results kept")
        write_json(args.json, rows, options, started, env_notes)
        print(table(rows))
        return 130
    print(table(rows))
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
