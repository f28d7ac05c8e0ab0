"""Scenario 3 (`cluster-ops`): cluster administration wall times.

* `redis-cli --cluster create` of 3 fresh masters, each kind (what a user waits for,
  including redis-cli's own once-a-second polling while the nodes join);
* `redis-cli --cluster reshard` of 4,000 slots from master 0 to master 1 when those slots
  hold 100,000 keys (25 per slot, placed with hash tags), default --cluster-pipeline 10.

Every round builds fresh clusters, AiKv and Redis alternating who goes first.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

from bench.cluster import Cluster, ClusterError, failure_reason, tags_for_slots
from bench.report import Row, row_from_samples
from bench.resp import Conn, encode
from bench.settings import Settings, log
from bench.throughput import KINDS

RESHARD_SLOTS = 4_000
RESHARD_KEYS = 100_000
SLOW_RESHARD_S = 120.0


def load_slots(cl: Cluster, n_slots: int, n_keys: int) -> None:
    """n_keys keys spread evenly over slots 0..n_slots-1, one MSET per slot (all keys of
    an MSET share a hash tag, so it is a single-slot command in cluster mode)."""
    owner = cl.owner_of(0)
    tags = tags_for_slots(n_slots)
    per_slot, extra = divmod(n_keys, n_slots)
    value = b"v" * 32

    def batches() -> Iterator[bytes]:
        for slot, tag in enumerate(tags):
            count = per_slot + (1 if slot < extra else 0)
            args: list[bytes] = [b"MSET"]
            for j in range(count):
                args += [b"{%s}:k:%d" % (tag, j), value]
            yield encode(*args)

    with Conn(owner.port, timeout=120) as c:
        c.pipeline(batches(), window=16)


def reshard(cl: Cluster, n_slots: int, timeout: float) -> float:
    src, dst = cl.nodes[0], cl.nodes[1]
    args = ["redis-cli", "--cluster", "reshard", f"127.0.0.1:{src.port}",
            "--cluster-from", cl.node_id(src), "--cluster-to", cl.node_id(dst),
            "--cluster-slots", str(n_slots), "--cluster-yes"]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ClusterError(f"reshard timed out after {timeout:.0f}s") from None
    took = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 or "rror" in out or "failed" in out:
        raise ClusterError("reshard failed: " + failure_reason(out))
    return took


def count_keys(cl: Cluster, node_index: int) -> int:
    with Conn(cl.nodes[node_index].port, timeout=30) as c:
        r = c.call("DBSIZE")
    assert isinstance(r, int)
    return r


def run(st: Settings) -> list[Row]:
    n_slots = 200 if st.quick else RESHARD_SLOTS
    n_keys = 5_000 if st.quick else RESHARD_KEYS
    create: dict[str, list[float]] = {k: [] for k in KINDS}
    moved: dict[str, list[float]] = {k: [] for k in KINDS}
    create_err: dict[str, str] = {}
    reshard_err: dict[str, str] = {}
    reshard_done: dict[str, bool] = {}
    for rnd in range(st.rounds):
        for kind in (KINDS if rnd % 2 == 0 else KINDS[::-1]):
            if kind in create_err:
                continue
            cl = Cluster(kind)
            try:
                cl.start()
                took = cl.create(st.cluster_timeout_s)
                create[kind].append(took)
                cl.wait_ok(st.cluster_timeout_s)
                log(f"cluster-ops round {rnd + 1} {kind}: create {took:.2f}s")
                if kind in reshard_err or reshard_done.get(kind):
                    continue
                load_slots(cl, n_slots, n_keys)
                before = count_keys(cl, 1)
                took = reshard(cl, n_slots, timeout=120 if st.quick else 900)
                arrived = count_keys(cl, 1) - before
                if arrived != n_keys:
                    raise ClusterError(f"reshard moved {arrived} of {n_keys} keys")
                moved[kind].append(took)
                # A reshard of several minutes is not repeated: one sample says enough
                # and the suite has to finish in reasonable time.
                reshard_done[kind] = took > SLOW_RESHARD_S
                log(f"cluster-ops round {rnd + 1} {kind}: reshard {n_slots} slots / "
                    f"{n_keys} keys {took:.2f}s")
            except (ClusterError, RuntimeError, TimeoutError, OSError) as exc:
                msg = str(exc)[:240]
                # Which step failed decides which figure is n/a.
                if not create[kind] or (len(create[kind]) <= rnd and "create" in msg):
                    create_err[kind] = msg
                reshard_err.setdefault(kind, msg)
                log(f"cluster-ops {kind}: n/a: {msg}")
            finally:
                cl.stop()
    rows = [
        row_from_samples("cluster-ops", "create 3 masters", "s", create["aikv"],
                         create["redis"], create_err.get("aikv", ""),
                         create_err.get("redis", "")),
        row_from_samples("cluster-ops", f"reshard {n_slots} slots/{n_keys} keys", "s",
                         moved["aikv"], moved["redis"], reshard_err.get("aikv", ""),
                         reshard_err.get("redis", "")),
    ]
    slow = [k for k, v in reshard_done.items() if v]
    if slow:
        rows[1].note = "; ".join(filter(None, [rows[1].note, "measured once for " + ", ".join(
            slow) + f" (a reshard took > {SLOW_RESHARD_S:.0f}s)"]))
    return rows
