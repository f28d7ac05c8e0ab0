"""Scenario 4 (`restart`): restart-to-first-reply time and resident memory with 1,000,000
keys (10,000,000 with --big).

Keys are `key:%012d` with 32-byte values, written by our own loader (pipelined MSET
batches over one socket: distinct keys, unlike redis-benchmark -r). Redis runs with
appendonly yes; automatic rewrites are off during the load and one BGREWRITEAOF is run
and waited for afterwards, so Redis 7.0 restarts from its AOF directory in the usual
steady state: an RDB-preamble base file plus a (near-empty) incr file, listed in the
manifest. AiKv restarts on its LMDB directory. "Ready" means the first +PONG (a -LOADING
reply does not count); DBSIZE is checked after every restart.
"""

from __future__ import annotations

import time
from typing import Any

from bench.procs import Server, remove_tempdir, wait_for
from bench.report import Row, row_from_samples
from bench.resp import Conn, info_field, load_keys
from bench.settings import Settings, log
from bench.throughput import KINDS

VALUE = b"v" * 32
MIB = 1024 * 1024
ENV_NOTES: dict[str, Any] = {}


def _rewrite_aof(srv: Server, timeout: float) -> dict[str, Any]:
    with Conn(srv.port, timeout=30) as c:
        c.call("BGREWRITEAOF")

        def done() -> bool:
            info = c.call("INFO", "persistence")
            assert isinstance(info, bytes)
            return (info_field(info, "aof_rewrite_in_progress") == "0"
                    and info_field(info, "aof_rewrite_scheduled") == "0")

        wait_for(done, timeout, "BGREWRITEAOF to finish", interval=0.2)
        info = c.call("INFO", "persistence")
        assert isinstance(info, bytes)
        status = info_field(info, "aof_last_bgrewrite_status")
    if status != "ok":
        raise RuntimeError(f"BGREWRITEAOF status {status}")
    aofdir = srv.dir / "appendonlydir"
    return {p.name: p.stat().st_size for p in sorted(aofdir.iterdir())}


def _dbsize(port: int) -> int:
    with Conn(port, timeout=60) as c:
        r = c.call("DBSIZE")
    assert isinstance(r, int)
    return r


def _loaded_line(srv: Server) -> str:
    for line in reversed(srv.log_tail(6000).splitlines()):
        if "loaded" in line.lower() or "opened in" in line:
            return line.split(" ", 4)[-1][:160]
    return ""


def measure(st: Settings, n: int) -> list[Row]:
    label = f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"
    servers: dict[str, Server] = {}
    load_s: dict[str, list[float]] = {k: [] for k in KINDS}
    rss_load: dict[str, list[float]] = {k: [] for k in KINDS}
    ready: dict[str, list[float]] = {k: [] for k in KINDS}
    rss_ready: dict[str, list[float]] = {k: [] for k in KINDS}
    errs: dict[str, str] = {}
    extra: dict[str, Any] = {}
    try:
        for kind in KINDS:
            extra_args = ["--auto-aof-rewrite-percentage", "0"] if kind == "redis" else []
            srv = Server(kind, extra=extra_args)
            servers[kind] = srv
            try:
                srv.start()
                took = load_keys(srv.port, n, VALUE, timeout=3600)
                load_s[kind].append(took)
                log(f"restart {label}: {kind} loaded {n:,} keys in {took:.1f}s "
                    f"({n / took:,.0f} keys/s)")
                if kind == "redis":
                    extra["redis_aof_files"] = _rewrite_aof(srv, timeout=600)
                rss_load[kind].append(srv.memory()["VmRSS"] / MIB)
                if _dbsize(srv.port) != n:
                    raise RuntimeError(f"DBSIZE after load is not {n}")
                srv.stop(timeout=300)
            except (RuntimeError, TimeoutError, OSError, AssertionError) as exc:
                errs[kind] = str(exc)[:240]
                log(f"restart {label}: {kind} n/a: {exc}")
                srv.stop()
        for rnd in range(st.rounds):
            for kind in (KINDS if rnd % 2 == 0 else KINDS[::-1]):
                if kind in errs:
                    continue
                srv = servers[kind]
                try:
                    took = srv.start(timeout=1800)
                    rss = srv.memory()
                    size = _dbsize(srv.port)
                    if size != n:
                        raise RuntimeError(f"DBSIZE after restart is {size}, not {n}")
                    ready[kind].append(took)
                    rss_ready[kind].append(rss["VmRSS"] / MIB)
                    extra[f"{kind}_rss_detail_mib"] = {k: round(v / MIB, 1)
                                                       for k, v in rss.items()}
                    extra[f"{kind}_load_log"] = _loaded_line(srv)
                    log(f"restart {label} round {rnd + 1}: {kind} first PONG after "
                        f"{took:.3f}s, VmRSS {rss['VmRSS'] / MIB:.0f} MiB")
                except (RuntimeError, TimeoutError, OSError, AssertionError) as exc:
                    errs[kind] = str(exc)[:240]
                    log(f"restart {label}: {kind} n/a: {exc}")
                finally:
                    srv.stop(timeout=300)
    finally:
        for srv in servers.values():
            srv.stop()
            remove_tempdir(srv.dir)
    ENV_NOTES[label] = extra
    a, r = errs.get("aikv", ""), errs.get("redis", "")
    return [
        row_from_samples("restart", f"{label} keys: load (MSET x500)", "s",
                         load_s["aikv"], load_s["redis"], a, r),
        row_from_samples("restart", f"{label} keys: VmRSS after load", "MiB",
                         rss_load["aikv"], rss_load["redis"], a, r),
        row_from_samples("restart", f"{label} keys: restart to first PONG", "s",
                         ready["aikv"], ready["redis"], a, r, extra=extra),
        row_from_samples("restart", f"{label} keys: VmRSS after restart", "MiB",
                         rss_ready["aikv"], rss_ready["redis"], a, r),
    ]


def run(st: Settings) -> list[Row]:
    sizes = [50_000] if st.quick else [1_000_000]
    if st.big:
        sizes.append(10_000_000)
    rows: list[Row] = []
    for n in sizes:
        t0 = time.monotonic()
        rows += measure(st, n)
        log(f"restart: {n:,} keys done in {time.monotonic() - t0:.0f}s")
    return rows
