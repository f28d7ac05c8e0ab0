"""Chaos run: a 3-master AiKv cluster under verifiable writes, kill -9 + restart of nodes
and `redis-cli --cluster reshard` of random slot ranges, then a full audit.

    python -m tests.chaos --duration 600 --seed 7 [--appendfsync always|everysec]

Writers: each client thread owns a disjoint share of a fixed key space (key i belongs to
writer i % writers). One writer per key makes "the last acknowledged value" of a key well
defined (two concurrent writers of one key could be applied in either order whatever the
ack times say); keys are still overwritten many times. A value is "w<writer>:<seq>" with a
per-writer increasing sequence number. A write that raised (timeout, connection reset,
CLUSTERDOWN after retries) may or may not have landed: it is remembered as *uncertain*.

Audit (after healing: every node up, `--cluster fix` if a slot is open, cluster_state ok):
  * every key's value is its last acknowledged value, or a later uncertain one (strict form,
    asserted for both appendfsync modes: a kill -9 leaves LMDB's committed pages in the
    page cache, so even `everysec` must lose nothing; a loss inside the ~1 s window before a
    crash of the key's owner is still reported separately as "everysec window" so the
    weaker documented promise can be read off the summary);
  * no key is held by two masters, and every key sits on the master that owns its slot;
  * every node reports the same slot map, `redis-cli --cluster check` is clean.

Healing follows the operator's procedure: restart, wait for cluster_state ok everywhere,
drop the importing node's dead copies of keys an interrupted MIGRATE left on both sides
(see ChaosRun._drop_dead_copies; redis-server 7.0 shows the same with `--server redis
--appendfsync always`), then `redis-cli --cluster fix`. `kill -USR1 <pid>` prints stacks.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import dataclasses
import faulthandler
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from aikv.cluster.slots import key_hash_slot
from tests.harness import PORT_RANGE, ServerProcess

NODE_TIMEOUT_MS = 2000
# A restart that has not rejoined after this long is a healing failure, not slowness.
HEAL_DEADLINE = 90.0
RESHARD_TIMEOUT = 180.0
FIX_TIMEOUT = 180.0
# The everysec promise: what was acknowledged up to ~1 s before a crash is durable.
EVERYSEC_WINDOW = 1.5


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cli(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["redis-cli", *args], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        return subprocess.CompletedProcess(exc.cmd, 124, out, f"timed out after {timeout}s")


# ---------------------------------------------------------------------- writers
HOT_SLOTS_PER_MASTER = 300


def make_keys(count: int, masters: int) -> list[str]:
    """Half the keys spread over all slots, half packed into the first slots of each
    master's initial range. `redis-cli --cluster reshard` always moves a source's
    lowest-numbered slots, so those are the slots that keep moving; packing keys there
    makes most migrations carry keys (5,000 uniform keys leave ~0.3 per slot)."""
    hot = [m * 16384 // masters + i for m in range(masters) for i in range(HOT_SLOTS_PER_MASTER)]
    wanted = set(hot)
    tag_of: dict[int, str] = {}
    i = 0
    while len(tag_of) < len(wanted):
        slot = key_hash_slot(b"%d" % i)
        if slot in wanted:
            tag_of.setdefault(slot, str(i))
        i += 1
    keys = []
    for n in range(count):
        if n % 2 == 0:
            keys.append(f"chaos:{n}")
        else:
            keys.append(f"chaos:{{{tag_of[hot[n % len(hot)]]}}}:{n}")
    return keys


@dataclasses.dataclass
class KeyHistory:
    # The last few acknowledged writes (seq, ack time): the last one is what must be there;
    # earlier ones only matter for the everysec-window classification.
    acked: collections.deque[tuple[int, float]] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=16))
    # Writes sent after the last acknowledged one whose outcome is unknown.
    uncertain: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    ever_written: bool = False


@dataclasses.dataclass
class StreamHistory:
    """XADDs to one stream key: every acknowledged entry must survive (each carries its
    sequence number); entries whose XADD failed may or may not be there."""

    acked: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    uncertain: set[int] = dataclasses.field(default_factory=set)


STREAMS_PER_WRITER = 6
STREAM_WRITE_SHARE = 0.1


def stream_keys(keys: list[str], wid: int) -> list[str]:
    """Stream keys of one writer, in the slots of some of its string keys (hot ones too)."""
    out = []
    for key in keys[1:2 * STREAMS_PER_WRITER:2]:
        tag = key.split("{")[1].split("}")[0] if "{" in key else key.split(":")[1]
        out.append(f"chaos:{{{tag}}}:x{wid}-{len(out)}")
    return out


class Writer(threading.Thread):
    def __init__(self, wid: int, keys: list[str], ports: list[int], seed: int,
                 stop: threading.Event) -> None:
        super().__init__(name=f"writer-{wid}", daemon=True)
        self.wid = wid
        self.keys = keys
        self.ports = ports
        self.rng = random.Random(seed * 1000 + wid)
        self.stop_event = stop
        self.history: dict[str, KeyHistory] = {k: KeyHistory() for k in keys}
        self.streams = stream_keys(keys, wid)
        self.stream_history: dict[str, StreamHistory] = {k: StreamHistory() for k in self.streams}
        self.attempts = 0
        self.acked = 0
        self.uncertain = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.last_ack = time.monotonic()
        self.reads = 0
        self.read_anomalies = 0
        self.anomaly_samples: list[str] = []

    def _client(self) -> RedisCluster:
        return RedisCluster(
            startup_nodes=[ClusterNode("127.0.0.1", p) for p in self.ports],
            socket_timeout=5, socket_connect_timeout=1,
            # Few, short retries: during a crash the writer should record "uncertain" and
            # go on rather than sit in a long backoff.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3))

    def run(self) -> None:
        rc: RedisCluster | None = None
        seq = 0
        while not self.stop_event.is_set():
            if rc is None:
                try:
                    rc = self._client()
                except Exception as exc:  # noqa: BLE001 - a node is down: try again shortly
                    self.errors["connect:" + type(exc).__name__] += 1
                    self.stop_event.wait(0.2)
                    continue
            key = self.rng.choice(self.keys)
            if self.rng.random() < 0.2:
                self._read_check(rc, key)
                continue
            if self.streams and self.rng.random() < STREAM_WRITE_SHARE:
                seq += 1
                if not self._xadd(rc, self.rng.choice(self.streams), seq):
                    rc.close()
                    rc = None
                continue
            seq += 1
            value = f"w{self.wid}:{seq}"
            hist = self.history[key]
            hist.ever_written = True
            self.attempts += 1
            try:
                rc.set(key, value)
            except Exception as exc:  # noqa: BLE001 - any failure: outcome unknown
                hist.uncertain.append((seq, time.monotonic()))
                self.uncertain += 1
                self.errors[type(exc).__name__] += 1
                # Some errors leave the client's topology stale for good; start afresh.
                if self.errors[type(exc).__name__] % 20 == 0:
                    rc.close()
                    rc = None
                self.stop_event.wait(0.05)
                continue
            now = time.monotonic()
            hist.acked.append((seq, now))
            hist.uncertain.clear()
            self.acked += 1
            self.last_ack = now
        if rc is not None:
            rc.close()

    def _xadd(self, rc: RedisCluster, key: str, seq: int) -> bool:
        """One XADD with the sequence number in the entry; False if the client should be
        made afresh."""
        hist = self.stream_history[key]
        self.attempts += 1
        try:
            rc.xadd(key, {"w": str(self.wid), "s": str(seq)})
        except Exception as exc:  # noqa: BLE001 - any failure: outcome unknown
            hist.uncertain.add(seq)
            self.uncertain += 1
            self.errors["xadd:" + type(exc).__name__] += 1
            self.stop_event.wait(0.05)
            return self.errors["xadd:" + type(exc).__name__] % 20 != 0
        now = time.monotonic()
        hist.acked.append((seq, now))
        self.acked += 1
        self.last_ack = now
        return True

    def _read_check(self, rc: RedisCluster, key: str) -> None:
        """Read-your-writes while the chaos goes on: with one writer per key and no
        replicas, a GET must return the last acknowledged value or a later uncertain one
        (a stale value from a node that gave the slot away would show up here)."""
        self.reads += 1
        try:
            raw = rc.get(key)
        except Exception as exc:  # noqa: BLE001 - a failed read proves nothing
            self.errors["read:" + type(exc).__name__] += 1
            self.stop_event.wait(0.05)
            return
        value = raw.encode() if isinstance(raw, str) else raw
        hist = self.history[key]
        allowed = {s for s, _ in hist.uncertain}
        if hist.acked:
            allowed.add(hist.acked[-1][0])
        seq: int | None = None
        if value is not None:
            m = re.fullmatch(rb"w(\d+):(\d+)", value)
            seq = int(m.group(2)) if m and int(m.group(1)) == self.wid else -1
        if seq is None and not hist.acked:
            return
        if seq not in allowed:
            self.read_anomalies += 1
            if len(self.anomaly_samples) < 20:
                last = hist.acked[-1][0] if hist.acked else None
                self.anomaly_samples.append(f"GET {key} returned {value!r}, last acknowledged "
                                            f"w{self.wid}:{last} (uncertain {sorted(allowed)})")


# ---------------------------------------------------------------------- cluster
@dataclasses.dataclass
class Crash:
    at: float
    port: int
    slots: set[int]
    during_reshard: bool


def parse_nodes(text: str) -> tuple[dict[str, set[int]], list[str], list[str]]:
    """CLUSTER NODES -> (node id -> served slots, flag strings, open migration marks)."""
    owned: dict[str, set[int]] = {}
    flags: list[str] = []
    marks: list[str] = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 8:
            continue
        flags.append(fields[2])
        slots: set[int] = set()
        for token in fields[8:]:
            if token.startswith("["):
                marks.append(token)
                continue
            lo, _, hi = token.partition("-")
            slots.update(range(int(lo), int(hi or lo) + 1))
        owned[fields[0]] = slots
    return owned, flags, marks


def stable_ports(count: int) -> list[int]:
    """Ports (with their +10000 bus ports) below Linux's ephemeral range (32768+). A node
    that is killed and restarted gives its port up for seconds; inside the ephemeral range
    the kernel may hand it to any outgoing connection or to another test's port-0 bind
    meanwhile, and the restart would fail or, worse, join somebody else's cluster."""
    rng = random.SystemRandom()
    chosen: list[int] = []
    for _ in range(2000):
        port = rng.randrange(*PORT_RANGE)  # this test process's slice (tests/shards.py)
        # Neither adjacent to nor 10000 away from a port already chosen: one node's data
        # port must not be another's bus port.
        if any(abs(port - c) < 2 or abs(abs(port - c) - 10000) < 2 for c in chosen):
            continue
        try:
            for p in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", p))
        except OSError:
            continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    raise RuntimeError("no free port pairs below the ephemeral range")


class ChaosCluster:
    def __init__(self, masters: int, appendfsync: str, workdir: Path,
                 server: str = "aikv") -> None:
        self.workdir = workdir
        args = ["--cluster-enabled", "yes", "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                "--appendfsync", appendfsync]
        if server == "redis":
            # The oracle: redis-server with an AOF (later options override the harness's
            # --appendonly no), DEBUG for redis-cli's digest comparison in fix.
            args += ["--appendonly", "yes", "--cluster-config-file", "nodes.conf",
                     "--enable-debug-command", "yes"]
        ports = stable_ports(masters)
        self.nodes = [ServerProcess(server, workdir / f"n{i}", port=ports[i], args=args)
                      for i in range(masters)]
        self.ids: dict[int, str] = {}

    def addr(self, node: ServerProcess) -> str:
        return f"127.0.0.1:{node.port}"

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    def start(self) -> None:
        for node in self.nodes:
            node.start(timeout=30)
        out = cli("--cluster", "create", *[self.addr(n) for n in self.nodes], "--cluster-yes",
                  timeout=120)
        if out.returncode != 0:
            raise RuntimeError("cluster create failed:\n" + out.stdout + out.stderr)
        for node in self.nodes:
            with node.client(socket_timeout=5) as c:
                self.ids[node.port] = c.execute_command("CLUSTER", "MYID").decode()
        if not self.wait_healthy(HEAL_DEADLINE):
            raise RuntimeError("new cluster never became healthy")

    def stop(self) -> None:
        for node in self.nodes:
            try:
                node.stop(timeout=10)
            except Exception:  # noqa: BLE001 - teardown: stop the others regardless
                node.kill9()

    def nodes_text(self, node: ServerProcess) -> str:
        with node.client(socket_timeout=3, socket_connect_timeout=1) as c:
            raw = c.execute_command("CLUSTER", "NODES")
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def node_ok(self, node: ServerProcess) -> bool:
        """Reachable, cluster_state ok, and no fail/pfail/handshake flag in its view."""
        try:
            with node.client(socket_timeout=3, socket_connect_timeout=1) as c:
                if b"cluster_state:ok" not in c.execute_command("CLUSTER", "INFO"):
                    return False
            _, flags, _ = parse_nodes(self.nodes_text(node))
        except (redis.RedisError, OSError):
            return False
        for f in flags:
            parts = f.split(",")
            if "fail" in parts or "fail?" in parts or "handshake" in parts or "noaddr" in parts:
                return False
        return True

    def wait_state_ok(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(n.running for n in self.nodes) and all(self.node_ok(n) for n in self.nodes):
                return True
            time.sleep(0.3)
        return False

    def check(self) -> subprocess.CompletedProcess[str]:
        return cli("--cluster", "check", self.addr(self.nodes[0]), timeout=60)

    def wait_healthy(self, timeout: float) -> bool:
        """State ok everywhere and `--cluster check` clean (agreement, no open slot)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.wait_state_ok(max(0.1, deadline - time.monotonic())):
                if self.check().returncode == 0:
                    return True
            time.sleep(0.5)
        return False

    def open_marks(self) -> list[str]:
        marks: list[str] = []
        for node in self.nodes:
            try:
                marks += [m for m in parse_nodes(self.nodes_text(node))[2]]
            except (redis.RedisError, OSError):
                pass
        return marks

    def slots_of(self, node: ServerProcess) -> set[int]:
        owned, _, _ = parse_nodes(self.nodes_text(node))
        return owned.get(self.ids[node.port], set())


# ---------------------------------------------------------------------- the run
@dataclasses.dataclass
class Result:
    seed: int
    duration: float
    elapsed: float = 0.0
    appendfsync: str = "everysec"
    attempts: int = 0
    acked: int = 0
    uncertain: int = 0
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    crashes: int = 0
    crashes_during_reshard: int = 0
    reshards_ok: int = 0
    reshards_failed: int = 0
    slots_moved: int = 0
    fixes: int = 0
    dead_copies: int = 0
    reads: int = 0
    read_anomalies: int = 0
    keys_verified: int = 0
    keys_seen: int = 0
    accepted_uncertain: int = 0
    everysec_window_losses: int = 0
    streams_verified: int = 0
    stream_entries: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        err = ", ".join(f"{k}={v}" for k, v in self.errors.most_common()) or "none"
        lines = [
            f"chaos seed: {self.seed}",
            f"chaos duration: {self.duration:.0f}s requested, {self.elapsed:.1f}s run, "
            f"appendfsync {self.appendfsync}",
            f"chaos operations: {self.attempts} writes sent, {self.acked} acknowledged, "
            f"{self.uncertain} uncertain, {self.reads} reads checked "
            f"({self.read_anomalies} stale) (errors: {err})",
            f"chaos crashes injected: {self.crashes} kill -9 + restart "
            f"({self.crashes_during_reshard} during a reshard)",
            f"chaos reshards: {self.reshards_ok} done, {self.reshards_failed} interrupted, "
            f"{self.slots_moved} slots moved, {self.fixes} --cluster fix runs, "
            f"{self.dead_copies} dead copies of interrupted MIGRATEs dropped before a fix",
            f"chaos keys verified: {self.keys_verified} written keys checked against their "
            f"last acknowledged value ({self.accepted_uncertain} hold a later uncertain "
            f"write), {self.keys_seen} keys scanned on the masters; {self.streams_verified} "
            f"streams holding {self.stream_entries} entries checked against their "
            f"acknowledged XADDs",
            "chaos assertion: strict (every acknowledged write present with its last "
            "acknowledged value or a later uncertain one) for appendfsync "
            f"{self.appendfsync}; losses inside the everysec window: "
            f"{self.everysec_window_losses}",
            f"chaos problems: {len(self.problems)}",
        ]
        lines += [f"  problem: {p}" for p in self.problems[:50]]
        return "\n".join(lines)


class ChaosRun:
    def __init__(self, duration: float, seed: int, appendfsync: str = "everysec",
                 masters: int = 3, writers: int = 4, keyspace: int = 5000,
                 keep: bool = False, server: str = "aikv") -> None:
        self.duration = duration
        self.rng = random.Random(seed)
        self.seed = seed
        self.appendfsync = appendfsync
        self.workdir = Path(tempfile.mkdtemp(prefix=f"aikv-chaos-{seed}-"))
        self.cluster = ChaosCluster(masters, appendfsync, self.workdir, server)
        self.nwriters = writers
        self.keyspace = keyspace
        self.keep = keep
        self.stop_writers = threading.Event()
        self.writers: list[Writer] = []
        self.crashes: list[Crash] = []
        self.result = Result(seed=seed, duration=duration, appendfsync=appendfsync)
        self._torn_down = False

    # -- lifecycle
    def run(self) -> Result:
        atexit.register(self.teardown)
        started = time.monotonic()
        try:
            self.cluster.start()
            log(f"cluster up on ports {self.cluster.ports} (dir {self.workdir})")
            keys = make_keys(self.keyspace, len(self.cluster.nodes))
            for wid in range(self.nwriters):
                mine = keys[wid::self.nwriters]
                w = Writer(wid, mine, self.cluster.ports, self.seed, self.stop_writers)
                self.writers.append(w)
                w.start()
            self._chaos_loop(started + self.duration)
            self._heal("end of run")
            self._check_progress()
            self._stop_writers()
            self._heal("after the writers stopped")
            self._audit()
            for w in self.writers:
                self.result.problems += [f"{w.name}: {a}" for a in w.anomaly_samples]
                if w.read_anomalies > len(w.anomaly_samples):
                    self.result.problems.append(
                        f"{w.name}: {w.read_anomalies - len(w.anomaly_samples)} more stale reads")
        except Exception as exc:  # noqa: BLE001 - report it as a problem, still tear down
            self.result.problems.append(f"driver aborted: {exc!r}")
        finally:
            self._stop_writers()
            self.result.elapsed = time.monotonic() - started
            self._collect()
            self.teardown()
        return self.result

    def teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        self.stop_writers.set()
        self.cluster.stop()
        if self.result.problems or self.keep:
            log(f"node dirs and logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop_writers(self) -> None:
        self.stop_writers.set()
        deadline = time.monotonic() + 60
        for w in self.writers:
            w.join(max(0.1, deadline - time.monotonic()))
            if w.is_alive():
                self.result.problems.append(f"{w.name} did not stop within 60 s (hung client)")

    def _collect(self) -> None:
        r = self.result
        r.attempts = sum(w.attempts for w in self.writers)
        r.acked = sum(w.acked for w in self.writers)
        r.uncertain = sum(w.uncertain for w in self.writers)
        r.errors = collections.Counter()
        for w in self.writers:
            r.errors.update(w.errors)
        r.reads = sum(w.reads for w in self.writers)
        r.read_anomalies = sum(w.read_anomalies for w in self.writers)
        r.crashes = len(self.crashes)
        r.crashes_during_reshard = sum(1 for c in self.crashes if c.during_reshard)

    # -- chaos
    def _chaos_loop(self, until: float) -> None:
        n = 0
        while time.monotonic() < until:
            time.sleep(min(self.rng.uniform(0.5, 3.0), max(0.0, until - time.monotonic())))
            if time.monotonic() >= until:
                break
            n += 1
            action = self.rng.choices(["kill", "reshard", "reshard+kill"], [35, 40, 25])[0]
            if action == "kill":
                self._kill_restart(self.rng.choice(self.cluster.nodes), during_reshard=False)
                self._heal("after a restart")
            else:
                self._reshard(with_kill=action == "reshard+kill")
            if n % 10 == 0:
                self._collect()
                log(f"progress: {self.result.acked} acked, {self.result.crashes} crashes, "
                    f"{self.result.reshards_ok}+{self.result.reshards_failed} reshards, "
                    f"{len(self.result.problems)} problems")

    def _kill_restart(self, node: ServerProcess, during_reshard: bool) -> None:
        try:
            slots = self.cluster.slots_of(node)
        except (redis.RedisError, OSError):
            slots = set(range(16384))  # unknown: count every key as possibly owned
        at = time.monotonic()
        node.kill9()
        self.crashes.append(Crash(at, node.port, slots, during_reshard))
        pause = self.rng.uniform(0.1, 4.0)
        log(f"kill -9 node {node.port} ({len(slots)} slots); restart in {pause:.1f}s"
            + (" [during reshard]" if during_reshard else ""))
        time.sleep(pause)
        node.start(timeout=60)

    def _heal(self, why: str) -> None:
        """All nodes up, state ok everywhere, open slots closed by `--cluster fix`."""
        for node in self.cluster.nodes:
            if not node.running:
                node.start(timeout=60)
        if not self.cluster.wait_state_ok(HEAL_DEADLINE):
            self.result.problems.append(f"{why}: cluster_state not ok on every node within "
                                        f"{HEAL_DEADLINE:.0f}s")
            return
        if self.cluster.open_marks() or self.cluster.check().returncode != 0:
            self._drop_dead_copies()
            self._fix(why)

    def _drop_dead_copies(self) -> None:
        """Keys of an open slot held both by the slot's owner and by a node importing it.

        MIGRATE is not atomic across a crash (Redis's and AiKv's alike): the target can
        commit a RESTORE batch and die before its reply leaves; the source then keeps its
        keys (IOERR) and goes on serving — and taking writes for — them, while the target's
        copies are invisible to clients (a migrating node answers for every key it still
        holds). `redis-cli --cluster fix` does not know this: it elects as owner the node
        with most keys in the slot, which may be the importing one, then stops at "Target
        key exists ... different values" — after the slot has already been handed to the
        stale copies, which loses acknowledged writes. An operator resolves this before
        the fix by dropping the importing node's dead copies; so does the harness."""
        c = self.cluster
        by_id = {nid: node for node in c.nodes for port, nid in c.ids.items()
                 if node.port == port}
        for node in c.nodes:
            try:
                text = c.nodes_text(node)
            except (redis.RedisError, OSError):
                continue
            for line in text.splitlines():
                fields = line.split(" ")
                if len(fields) < 8 or "myself" not in fields[2]:
                    continue
                for token in fields[8:]:
                    m = re.fullmatch(r"\[(\d+)-<-([0-9a-f]+)\]", token)
                    if m and m.group(2) in by_id:
                        self._drop_slot_copies(int(m.group(1)), node, by_id[m.group(2)])

    def _drop_slot_copies(self, slot: int, importer: ServerProcess,
                          owner: ServerProcess) -> None:
        with importer.client(socket_timeout=10) as imp, owner.client(socket_timeout=10) as own:
            keys = imp.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10000)
            if not keys:
                return
            # EXISTS on the migrating owner: a key it no longer has is an ASK error.
            pipe = own.pipeline(transaction=False)
            for key in keys:
                pipe.exists(key)
            held = [k for k, r in zip(keys, pipe.execute(raise_on_error=False), strict=True)
                    if r == 1]
            if not held:
                return
            pipe = imp.pipeline(transaction=False)
            for key in held:
                pipe.execute_command("ASKING")
                pipe.delete(key)
            pipe.execute(raise_on_error=False)
        self.result.dead_copies += len(held)
        log(f"slot {slot}: dropped {len(held)} dead copies on importing node {importer.port} "
            f"(still held by {owner.port})")

    def _fix(self, why: str) -> None:
        self.result.fixes += 1
        out = cli("--cluster", "fix", self.cluster.addr(self.rng.choice(self.cluster.nodes)),
                  "--cluster-yes", timeout=FIX_TIMEOUT)
        log(f"--cluster fix ({why}): rc {out.returncode}")
        if out.returncode != 0:
            self.result.problems.append(f"{why}: --cluster fix rc {out.returncode}: "
                                        + (out.stdout + out.stderr)[-600:].replace("\n", " | "))
        if not self.cluster.wait_healthy(HEAL_DEADLINE):
            check = self.cluster.check()
            self.result.problems.append(f"{why}: not healthy after --cluster fix: "
                                        + check.stdout[-600:].replace("\n", " | "))

    def _reshard(self, with_kill: bool) -> None:
        if not self.cluster.wait_healthy(HEAL_DEADLINE):
            self.result.problems.append("cluster not healthy before a reshard")
            self._heal("before a reshard")
            return
        counts = {n.port: len(self.cluster.slots_of(n)) for n in self.cluster.nodes}
        sources = [n for n in self.cluster.nodes if counts[n.port] > 100]
        source = self.rng.choice(sources)
        target = self.rng.choice([n for n in self.cluster.nodes if n is not source])
        nslots = self.rng.randint(10, 60)
        # Small MIGRATE batches keep a slot open longer: more chances for a crash to land
        # in the middle of a migration.
        pipeline = self.rng.choice(["1", "3", "10"])
        args = ["redis-cli", "--cluster", "reshard", self.cluster.addr(self.rng.choice(
            self.cluster.nodes)), "--cluster-from", self.cluster.ids[source.port],
            "--cluster-to", self.cluster.ids[target.port], "--cluster-slots", str(nslots),
            "--cluster-yes", "--cluster-pipeline", pipeline, "--cluster-timeout", "5000"]
        log(f"reshard {nslots} slots {source.port} -> {target.port}"
            + (" with a kill" if with_kill else ""))
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        killed = False
        try:
            if with_kill:
                # Mostly aim at the middle of a migration (a slot open on source or target),
                # sometimes at any moment.
                if self.rng.random() < 0.7:
                    self._wait_open_slot(proc, 5.0)
                else:
                    time.sleep(self.rng.uniform(0.0, 0.5))
                victim = self.rng.choice([source, target, self.rng.choice(self.cluster.nodes)])
                killed = proc.poll() is None
                self._kill_restart(victim, during_reshard=killed)
            try:
                out, _ = proc.communicate(timeout=RESHARD_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate(timeout=10)
                self.result.problems.append(
                    f"reshard {source.port}->{target.port} hung for {RESHARD_TIMEOUT:.0f}s: "
                    + out[-400:].replace("\n", " | "))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        if proc.returncode == 0:
            self.result.reshards_ok += 1
            self.result.slots_moved += nslots
        else:
            self.result.reshards_failed += 1
            tail = [ln for ln in re.sub(r"\x1b\[[0-9;]*m", "", out).splitlines() if ln.strip()]
            log(f"reshard failed rc {proc.returncode}: {tail[-1:]}")
            if not with_kill:
                self.result.problems.append("reshard without a crash failed: "
                                            + out[-600:].replace("\n", " | "))
        self._heal("after a reshard")

    def _wait_open_slot(self, proc: subprocess.Popen[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if self.cluster.open_marks():
                time.sleep(self.rng.uniform(0.0, 0.05))
                return
            time.sleep(0.005)

    def _check_progress(self) -> None:
        """After healing, every writer must get writes through again (no stuck client)."""
        healed = time.monotonic()
        deadline = healed + 30
        while time.monotonic() < deadline:
            if all(w.last_ack > healed for w in self.writers):
                return
            time.sleep(0.2)
        stuck = [w.name for w in self.writers if w.last_ack <= healed]
        self.result.problems.append(f"no acknowledged write for 30 s after healing: {stuck}")

    # -- audit
    def _audit(self) -> None:
        r = self.result
        c = self.cluster
        # Slot map agreement: every node's CLUSTER NODES gives the same id -> slots.
        maps = {}
        for node in c.nodes:
            owned, _, marks = parse_nodes(c.nodes_text(node))
            maps[node.port] = {k: frozenset(v) for k, v in owned.items()}
            if marks:
                r.problems.append(f"node {node.port} still has open slots {marks}")
        reference = maps[c.nodes[0].port]
        for port, m in maps.items():
            if m != reference:
                r.problems.append(f"node {port} disagrees about the slot map")
        covered = set().union(*reference.values()) if reference else set()
        if len(covered) != 16384:
            r.problems.append(f"slot map covers {len(covered)} slots, not 16384")
        check = c.check()
        if check.returncode != 0 or "[ERR]" in check.stdout or "[WARNING]" in check.stdout:
            r.problems.append("--cluster check not clean: "
                              + check.stdout[-600:].replace("\n", " | "))
        port_of = {nid: port for port, nid in c.ids.items()}
        owner_of_slot = {s: port_of.get(nid, -1) for nid, slots in reference.items()
                         for s in slots}

        # Every key on every master, with its value (a stream's entries kept aside).
        found: dict[str, list[tuple[int, bytes | None]]] = {}
        stream_found: dict[str, list[Any]] = {}
        for node in c.nodes:
            with node.client(socket_timeout=30) as cl:
                keys = list(cl.scan_iter(count=1000))
                for i in range(0, len(keys), 500):
                    chunk = keys[i:i + 500]
                    # Plain GETs in a pipeline: MGET across slots is CROSSSLOT on a node.
                    pipe = cl.pipeline(transaction=False)
                    for k in chunk:
                        if b":x" in k:
                            pipe.xrange(k)
                        else:
                            pipe.get(k)
                    for k, v in zip(chunk, pipe.execute(raise_on_error=False), strict=True):
                        if isinstance(v, Exception):
                            r.problems.append(f"read of {k!r} on {node.port}: {v}")
                            v = None
                        if isinstance(v, list):
                            stream_found[k.decode()] = v
                            v = None
                        found.setdefault(k.decode(), []).append((node.port, v))
        r.keys_seen = len(found)
        for key, holders in found.items():
            if len(holders) > 1:
                r.problems.append(f"key {key} held by {[p for p, _ in holders]}")
            slot = key_hash_slot(key.encode())
            if holders[0][0] != owner_of_slot.get(slot):
                r.problems.append(f"key {key} (slot {slot}) on {holders[0][0]}, slot owner is "
                                  f"{owner_of_slot.get(slot)}")

        histories: dict[str, tuple[int, KeyHistory]] = {}
        streams: dict[str, tuple[int, StreamHistory]] = {}
        for w in self.writers:
            for key, h in w.history.items():
                histories[key] = (w.wid, h)
            for key, sh in w.stream_history.items():
                streams[key] = (w.wid, sh)
        for key in found:
            if key not in histories and key not in streams:
                r.problems.append(f"key {key} was never written by the chaos writers")
        for key, (wid, sh) in streams.items():
            if sh.acked or sh.uncertain:
                self._verify_stream(key, wid, sh, stream_found.get(key, []))
        for key, (wid, h) in histories.items():
            if not h.ever_written:
                continue
            holders = found.get(key, [])
            value = holders[0][1] if holders else None
            self._verify_key(key, wid, h, value)

    def _verify_key(self, key: str, wid: int, h: KeyHistory, value: bytes | None) -> None:
        r = self.result
        seq: int | None = None
        if value is not None:
            m = re.fullmatch(rb"w(\d+):(\d+)", value)
            if m is None or int(m.group(1)) != wid:
                r.problems.append(f"key {key}: foreign value {value!r}")
                return
            seq = int(m.group(2))
        r.keys_verified += 1
        last = h.acked[-1][0] if h.acked else None
        if seq is not None and seq == last:
            return
        if seq is not None and any(seq == s for s, _ in h.uncertain):
            r.accepted_uncertain += 1
            return
        if seq is None and last is None:
            return  # only uncertain writes, none landed: fine
        # A loss. Would the everysec promise excuse it? Only if every acknowledged write
        # after the surviving value was acked within the window before a crash of the
        # node that owned the key's slot at that time.
        slot = key_hash_slot(key.encode())
        lost = [(s, t) for s, t in h.acked if seq is None or s > seq]
        excused = bool(lost) and all(
            any(c.at - EVERYSEC_WINDOW <= t <= c.at and slot in c.slots for c in self.crashes)
            for _, t in lost)
        if excused:
            r.everysec_window_losses += 1
        found = value.decode() if value is not None else "missing"
        r.problems.append(f"key {key}: holds {found}, last acknowledged w{wid}:{last}"
                          + (" (inside the everysec window of a crash)" if excused else ""))


    def _verify_stream(self, key: str, wid: int, h: StreamHistory, entries: list[Any]) -> None:
        """Every acknowledged XADD is in the stream, once, in order; nothing else but
        entries whose XADD failed."""
        r = self.result
        seqs = []
        for _, fields in entries:
            if fields.get(b"w") != str(wid).encode():
                r.problems.append(f"stream {key}: foreign entry {fields!r}")
                return
            seqs.append(int(fields[b"s"]))
        r.streams_verified += 1
        r.stream_entries += len(seqs)
        if seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
            r.problems.append(f"stream {key}: entries out of order or repeated")
        present = set(seqs)
        acked = {s for s, _ in h.acked}
        extra = present - acked - h.uncertain
        if extra:
            r.problems.append(f"stream {key}: entries never written {sorted(extra)[:5]}")
        lost = [(s, t) for s, t in h.acked if s not in present]
        if not lost:
            return
        slot = key_hash_slot(key.encode())
        excused = all(any(c.at - EVERYSEC_WINDOW <= t <= c.at and slot in c.slots
                          for c in self.crashes) for _, t in lost)
        if excused:
            r.everysec_window_losses += 1
        r.problems.append(f"stream {key}: {len(lost)} acknowledged entries missing "
                          f"(first {lost[0][0]})"
                          + (" (inside the everysec window of a crash)" if excused else ""))


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="AiKv chaos run (kill -9, reshard, audit)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of chaos")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--appendfsync", choices=["always", "everysec"], default="everysec")
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="keep node dirs and logs")
    parser.add_argument("--server", choices=["aikv", "redis"], default="aikv",
                        help="run the same chaos on redis-server 7.0 (to compare)")
    args = parser.parse_args(argv)
    # SIGTERM (e.g. from `timeout`) must still tear the nodes down: turn it into an
    # exception so the run's finally/atexit stop them.
    signal.signal(signal.SIGTERM, _terminate)
    # `kill -USR1 <pid>` dumps every thread's stack: how to see where a long run hangs.
    faulthandler.register(signal.SIGUSR1)
    run = ChaosRun(args.duration, args.seed, args.appendfsync, args.masters, args.writers,
                   args.keys, keep=args.keep, server=args.server)
    result = run.run()
    print(result.summary(), flush=True)
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
