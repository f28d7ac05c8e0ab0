"""Scenario 1 (`throughput`): redis-benchmark against one AiKv and one redis-server.

SET, GET, INCR, LPUSH, HSET, ZADD with random keys (-r 100000) and 50 clients, unpipelined
and with -P 16: requests/s and server CPU microseconds per request. Both servers persist
with appendfsync everysec (Redis: appendonly yes); SET is repeated with appendfsync always
on a second pair. Runs alternate AiKv/Redis (and swap who goes first each round) so a
burst of load from other users of the machine hits both; medians over the rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench import rb
from bench.procs import Server
from bench.report import Row, row_from_samples
from bench.settings import Settings, log

KINDS = ("aikv", "redis")


@dataclass
class Target:
    """Where redis-benchmark connects for one kind, and whose CPU is charged to it."""
    kind: str
    entry: Server | None
    cpu_servers: list[Server] = field(default_factory=list)
    cluster: bool = False
    unavailable: str = ""


@dataclass(frozen=True)
class Spec:
    test: str
    pipeline: int
    tag: str = ""
    extra: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        parts = [self.test.upper()]
        if self.pipeline > 1:
            parts.append(f"-P{self.pipeline}")
        if self.tag:
            parts.append(self.tag)
        return " ".join(parts)


def interleaved(st: Settings, scenario: str, targets: dict[str, Target],
                specs: Sequence[Spec], keyspace: int | None = None,
                sizes: tuple[int, int] | None = None, on_round: Callable[[int], None] | None = None) -> list[Row]:
    rps: dict[tuple[Spec, str], list[float]] = {}
    cpu: dict[tuple[Spec, str], list[float]] = {}
    errors: dict[tuple[Spec, str], str] = {}
    for t in targets.values():
        if t.unavailable:
            for s in specs:
                errors[(s, t.kind)] = t.unavailable
    for rnd in range(st.rounds):
        order = KINDS if rnd % 2 == 0 else KINDS[::-1]
        for spec in specs:
            for kind in order:
                t = targets[kind]
                key = (spec, kind)
                if key in errors or t.entry is None:
                    continue  # an unsupported command fails the same way every round
                plain, piped = sizes or (st.n_plain, st.n_pipelined)
                n = piped if spec.pipeline > 1 else plain
                res = rb.run(t.entry, spec.test, n, clients=st.clients,
                             pipeline=spec.pipeline, keyspace=keyspace or st.keyspace,
                             cluster=t.cluster, cpu_servers=t.cpu_servers or [t.entry],
                             extra=list(spec.extra))
                if res.ok and res.rps is not None and res.cpu_us_per_op is not None:
                    rps.setdefault(key, []).append(res.rps)
                    cpu.setdefault(key, []).append(res.cpu_us_per_op)
                    log(f"{scenario} round {rnd + 1}/{st.rounds} {spec.name:<16} {kind:<5} "
                        f"{res.rps:>12,.0f} req/s {res.cpu_us_per_op:7.2f} us/op")
                else:
                    errors[key] = res.error
                    log(f"{scenario} {spec.name} {kind}: n/a ({res.error})")
        if on_round is not None:
            on_round(rnd)
    rows = []
    for spec in specs:
        a, r = (spec, "aikv"), (spec, "redis")
        rows.append(row_from_samples(scenario, f"{spec.name} rps", "req/s", rps.get(a, []),
                                     rps.get(r, []), errors.get(a, ""), errors.get(r, "")))
        rows.append(row_from_samples(scenario, f"{spec.name} CPU/op", "us", cpu.get(a, []),
                                     cpu.get(r, []), errors.get(a, ""), errors.get(r, "")))
    return rows


def warm_up(targets: dict[str, Target], n: int) -> None:
    # First requests pay for page faults and lazy imports; keep them out of round 1.
    for t in targets.values():
        if t.entry is not None and not t.unavailable:
            rb.run(t.entry, "set", n, cluster=t.cluster)


def start_targets(servers: dict[str, Server]) -> dict[str, Target]:
    """Start each server; one that does not start becomes an n/a target (its figures say
    why) rather than a failed scenario. The caller stops them all."""
    targets = {}
    for kind, srv in servers.items():
        try:
            srv.start()
            targets[kind] = Target(kind, srv)
        except (RuntimeError, TimeoutError) as exc:
            targets[kind] = Target(kind, None, unavailable=f"server did not start: {exc}")
    return targets


def run(st: Settings) -> list[Row]:
    rows: list[Row] = []
    specs = [Spec(t, p) for t in st.tests for p in (1, 16)]
    servers = {k: Server(k, appendfsync="everysec") for k in KINDS}
    try:
        targets = start_targets(servers)
        warm_up(targets, min(st.n_plain, 10_000))
        rows += interleaved(st, "throughput", targets, specs)
    finally:
        for srv in servers.values():
            srv.stop()

    # appendfsync always on fresh servers: every write waits for its fsync.
    always = {k: Server(k, appendfsync="always") for k in KINDS}
    try:
        targets = start_targets(always)
        rows += interleaved(st, "throughput", targets,
                            [Spec("set", 1, "always"), Spec("set", 16, "always")])
    finally:
        for srv in always.values():
            srv.stop()
    return rows
