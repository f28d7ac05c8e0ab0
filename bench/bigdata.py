"""Scenario 5 (`bigdata`): a data set four times larger than the memory AiKv may use.

AiKv runs in a memory cgroup (v2 memory.max, or the v1 memory controller where that is
the one the machine offers; see bench/cgroup.py) limited to LIMIT bytes, and gets 4 x LIMIT
bytes of 1 KiB values. Its page cache is charged to the group too, so reads beyond the
limit must come from disk through LMDB's memory map. Then random GETs over all keys and
random overwriting SETs (-d 1024) run while over the limit. Redis holds everything in RAM
(it cannot serve a data set larger than its memory) and is the unlimited reference.
If no cgroup can be made, the exact errors are recorded and AiKv runs without a limit.
"""

from __future__ import annotations

from typing import Any

from bench import cgroup
from bench.procs import Server, remove_tempdir
from bench.report import Row
from bench.resp import Conn, load_keys
from bench.settings import Settings, log
from bench.throughput import KINDS, Spec, Target, interleaved

MIB = 1024 * 1024
VALUE_SIZE = 1024
ENV_NOTES: dict[str, Any] = {}


def _sizes(st: Settings) -> tuple[int, int]:
    limit = 64 * MIB if st.quick else (1024 * MIB if st.big else 256 * MIB)
    return limit, 4 * limit // VALUE_SIZE


def _dir_bytes(srv: Server) -> int:
    return sum(p.stat().st_size for p in srv.dir.rglob("*") if p.is_file())


def run(st: Settings) -> list[Row]:
    limit, n_keys = _sizes(st)
    group, notes = cgroup.make(limit)
    for line in notes:
        log(f"bigdata: {line}")
    ENV_NOTES.clear()
    ENV_NOTES.update({"cgroup_attempts": notes, "limit_bytes": limit, "keys": n_keys,
                      "value_bytes": VALUE_SIZE, "limited": group is not None})
    limited = "limited" if group is not None else "UNLIMITED (no cgroup)"
    servers = {
        "aikv": Server("aikv", preexec=group.preexec() if group else None),
        "redis": Server("redis", extra=["--auto-aof-rewrite-percentage", "0"]),
    }
    targets: dict[str, Target] = {}
    rows: list[Row] = []
    try:
        value = b"x" * VALUE_SIZE
        for kind in KINDS:
            srv = servers[kind]
            try:
                srv.start()
                took = load_keys(srv.port, n_keys, value, timeout=3600)
                with Conn(srv.port, timeout=60) as c:
                    size = c.call("DBSIZE")
                if size != n_keys:
                    raise RuntimeError(f"DBSIZE {size!r} after loading {n_keys} keys")
                ENV_NOTES[f"{kind}_load_s"] = round(took, 2)
                ENV_NOTES[f"{kind}_dir_bytes_after_load"] = _dir_bytes(srv)
                ENV_NOTES[f"{kind}_rss_after_load"] = srv.memory()
                log(f"bigdata: {kind} loaded {n_keys:,} x {VALUE_SIZE} B in {took:.1f}s; "
                    f"VmRSS {srv.memory()['VmRSS'] / MIB:.0f} MiB")
                targets[kind] = Target(kind, srv)
            except (RuntimeError, TimeoutError, OSError, ConnectionError) as exc:
                reason = str(exc)[:200]
                if kind == "aikv" and not srv.alive() and group is not None:
                    reason = f"AiKv died under the {limit // MIB} MiB limit: {reason}"
                log(f"bigdata: {kind} n/a: {reason}")
                targets[kind] = Target(kind, None, unavailable=reason)
        if group is not None:
            ENV_NOTES["cgroup_after_load"] = group.stats()

        def snapshot(rnd: int) -> None:
            if group is not None:
                ENV_NOTES[f"cgroup_after_round_{rnd + 1}"] = group.stats()

        specs = [Spec("get", 1), Spec("get", 16),
                 Spec("set", 1, extra=("-d", str(VALUE_SIZE))),
                 Spec("set", 16, extra=("-d", str(VALUE_SIZE)))]
        # Far fewer requests than scenario 1: from disk AiKv serves thousands, not tens of
        # thousands, of requests per second, and each round must stay within minutes.
        sizes = (5_000, 10_000) if st.quick else (20_000, 50_000)
        got = interleaved(st, "bigdata", targets, specs, keyspace=n_keys, sizes=sizes,
                          on_round=snapshot)
        tag = f"{n_keys // 1024}Ki x 1KiB, AiKv {limited} to {limit // MIB} MiB"
        for r in got:
            r.metric = f"{r.metric} ({tag})"
        rows += got
        if servers["aikv"].alive():
            ENV_NOTES["aikv_rss_end"] = servers["aikv"].memory()
        ENV_NOTES["aikv_alive_at_end"] = servers["aikv"].alive()
        if group is not None and "aikv" in targets and targets["aikv"].entry is not None:
            rows += unlimited_pass(st, servers, targets["redis"], specs, n_keys, sizes)
    finally:
        for srv in servers.values():
            srv.stop()
            remove_tempdir(srv.dir)
        if group is not None:
            ENV_NOTES["cgroup_final"] = group.stats()
            group.remove()
    return rows


def unlimited_pass(st: Settings, servers: dict[str, Server], redis: Target,
                   specs: list[Spec], n_keys: int, sizes: tuple[int, int]) -> list[Row]:
    """The same runs with AiKv restarted on the same LMDB directory outside the cgroup and
    its files read once into the page cache: separates what the memory limit costs from
    what the data set's size costs."""
    limited = servers["aikv"]
    limited.stop()
    free = Server("aikv", directory=limited.dir)
    servers["aikv-unlimited"] = free
    free.start()
    for f in free.dir.rglob("*.mdb"):
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass
    got = interleaved(st, "bigdata", {"aikv": Target("aikv", free), "redis": redis}, specs,
                      keyspace=n_keys, sizes=sizes)
    for r in got:
        r.metric = f"{r.metric} ({n_keys // 1024}Ki x 1KiB, AiKv unlimited, cache warm)"
    return got
