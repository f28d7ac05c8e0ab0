"""Scenario 2 (`cluster`): scenario 1's redis-benchmark runs through a 3-master cluster of
each kind (`redis-benchmark --cluster`). Server CPU per request sums all three masters."""

from __future__ import annotations

from bench.cluster import Cluster, ClusterError
from bench.report import Row
from bench.settings import Settings, log
from bench.throughput import KINDS, Spec, Target, interleaved, warm_up


def run(st: Settings) -> list[Row]:
    clusters: dict[str, Cluster] = {}
    targets: dict[str, Target] = {}
    try:
        for kind in KINDS:
            cl = Cluster(kind)
            clusters[kind] = cl
            try:
                cl.up(st.cluster_timeout_s)
                targets[kind] = Target(kind, cl.nodes[0], cl.nodes, cluster=True)
                log(f"cluster: {kind} 3-master cluster is up")
            except (ClusterError, RuntimeError, TimeoutError, OSError) as exc:
                log(f"cluster: {kind} cluster n/a: {exc}")
                targets[kind] = Target(kind, None, unavailable=f"cluster n/a: {exc}"[:200])
        warm_up(targets, min(st.n_plain, 10_000))
        specs = [Spec(t, p) for t in st.tests for p in (1, 16)]
        return interleaved(st, "cluster", targets, specs)
    finally:
        for cl in clusters.values():
            cl.stop()
