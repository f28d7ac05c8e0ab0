"""Scenario `replication`: AiKv and redis-server as masters, each with one redis-server
replica.

1. Throughput of SET and GET (unpipelined and `-P 16`) on a master whose writes go to a
   replica, with the master's CPU per operation; and the same AiKv master without a
   replica in the same rounds, for what propagation costs AiKv itself.
2. A full synchronisation of N keys (`key:%012d`, 32-byte values, our own loader; 1M,
   quick 100k): seconds from starting a fresh replica to it being online and caught up,
   and the longest PING round trip on the master meanwhile (Redis forks for the RDB file;
   AiKv writes it from a snapshot a few milliseconds per loop turn: both should keep
   answering). Redis runs with repl-diskless-sync-delay 0: its default waits 5 s for
   more replicas before it starts.
"""

from __future__ import annotations

import threading
import time

from bench.procs import Server, remove_tempdir, wait_for
from bench.report import Row, row_from_samples
from bench.resp import Conn, info_field, load_keys
from bench.settings import Settings, log
from bench.throughput import KINDS, Spec, Target, interleaved, start_targets, warm_up

VALUE = b"v" * 32


def _replica_of(master: Server) -> Server:
    return Server("redis", extra=["--replicaof", "127.0.0.1", str(master.port),
                                  "--appendonly", "no"])


def _offset(port: int, field: str) -> int | None:
    with Conn(port, timeout=10) as c:
        info = c.call("INFO", "replication")
    assert isinstance(info, bytes)
    value = info_field(info, field)
    return int(value) if value is not None else None


def _caught_up(master: Server, replica: Server) -> bool:
    with Conn(replica.port, timeout=10) as c:
        info = c.call("INFO", "replication")
    assert isinstance(info, bytes)
    if info_field(info, "master_link_status") != "up":
        return False
    return _offset(master.port, "master_repl_offset") == int(
        info_field(info, "slave_repl_offset") or -1)


class _PingProbe:
    """PINGs the master every 5 ms from a thread; keeps the longest round trip."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _PingProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with Conn(self.port, timeout=60) as c:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                c.call("PING")
                self.worst = max(self.worst, time.perf_counter() - t0)
                self._stop.wait(0.005)


def _throughput(st: Settings) -> list[Row]:
    masters = {k: Server(k, appendfsync="everysec") for k in KINDS}
    replicas: list[Server] = []
    alone = Server("aikv", appendfsync="everysec")
    try:
        targets = start_targets(masters)
        for kind, master in masters.items():
            if targets[kind].entry is None:
                continue
            replica = _replica_of(master)
            replicas.append(replica)
            replica.start()
            wait_for(lambda m=master, r=replica: _caught_up(m, r), 60, f"{kind}'s replica")
        warm_up(targets, min(st.n_plain, 10_000))
        specs = [Spec(t, p) for t in ("set", "get") for p in (1, 16)]
        rows = interleaved(st, "replication", targets, specs)
        # AiKv with a replica against AiKv alone, in the same way ("redis" slot = alone).
        alone.start()
        pair = {"aikv": targets["aikv"], "redis": Target("aikv", alone)}
        warm_up({"x": pair["redis"]}, min(st.n_plain, 10_000))
        for row in interleaved(st, "replication-cost", pair, specs):
            row.metric = row.metric + " (with replica vs alone)"
            rows.append(row)
        return rows
    finally:
        for srv in [*replicas, *masters.values(), alone]:
            srv.stop()


def _full_sync(st: Settings) -> list[Row]:
    n = 100_000 if st.quick else 1_000_000
    seconds: dict[str, list[float]] = {k: [] for k in KINDS}
    worst: dict[str, list[float]] = {k: [] for k in KINDS}
    for kind in KINDS:
        # Redis's default repl-diskless-sync-delay (5 s, waiting for more replicas to
        # share the transfer) would be most of its figure: measured without it.
        master = Server(kind, appendfsync="everysec",
                        extra=["--repl-diskless-sync-delay", "0"] if kind == "redis" else [])
        try:
            master.start()
            log(f"replication: loading {n:,} keys into {master.label}")
            load_keys(master.port, n, VALUE)
            for _ in range(st.rounds):
                replica = _replica_of(master)
                try:
                    with _PingProbe(master.port) as probe:
                        t0 = time.monotonic()
                        replica.start()
                        wait_for(lambda m=master, r=replica: _caught_up(m, r), 600,
                                 "the replica's full sync", interval=0.02)
                        took = time.monotonic() - t0
                    seconds[kind].append(took)
                    worst[kind].append(probe.worst * 1000)
                    log(f"replication: full sync of {n:,} keys from {master.label}: {took:.2f} s, "
                        f"longest PING meanwhile {probe.worst * 1000:.1f} ms")
                finally:
                    replica.stop()
                    remove_tempdir(replica.dir)
        finally:
            master.stop()
            remove_tempdir(master.dir)
    return [
        row_from_samples("replication", f"full sync {n:,} keys", "s", seconds["aikv"],
                         seconds["redis"]),
        row_from_samples("replication", "longest PING during the sync", "ms", worst["aikv"],
                         worst["redis"]),
    ]


def run(st: Settings) -> list[Row]:
    return _throughput(st) + _full_sync(st)
