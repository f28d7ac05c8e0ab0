"""End to end: real aikv-server processes (and a real redis-server 7.0) forming clusters
over the bus. Every process gets 127.0.0.1 free ports and its own temp dir, and is killed by
a finalizer; waits poll with deadlines."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.harness import free_port as harness_free_port

NODE_TIMEOUT = 2000
REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def free_port() -> int:
    return harness_free_port()


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except (redis.RedisError, OSError) as exc:
            last_exc = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_exc})")


class Proc:
    def __init__(self, kind: str, port: int, directory: Path) -> None:
        self.kind = kind
        self.port = port
        self.dir = directory
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        if self.kind == "aikv":
            return [
                sys.executable, "-m", "aikv.cli", "--port", str(self.port), "--dir", str(self.dir),
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT), "--appendfsync", "always",
            ]
        assert REDIS_SERVER
        return [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT), "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--logfile", str(self.dir / "redis.log"),
        ]

    def start(self) -> None:
        log = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()
        wait_for(lambda: self.client().ping(), 20, f"{self.kind} on {self.port} to answer")

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, decode_responses=True)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def nodes(self) -> str:
        return str(self.client().execute_command("CLUSTER", "NODES"))

    def myid(self) -> str:
        return str(self.client().execute_command("CLUSTER", "MYID"))


def aikv_main_module_ok() -> bool:
    return subprocess.run([sys.executable, "-c", "import aikv.cli"], capture_output=True).returncode == 0


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    procs: list[Proc] = []

    def make(kind: str = "aikv", node_class: type[Proc] = Proc) -> Proc:
        if kind == "redis" and REDIS_SERVER is None:
            pytest.skip("redis-server not installed")
        port = free_port()
        directory = tmp_path / f"{kind}-{port}"
        directory.mkdir()
        proc = node_class(kind, port, directory)
        procs.append(proc)
        proc.start()
        return proc

    yield make
    for proc in procs:
        proc.kill9() if proc.kind == "aikv" else proc.stop()


def signature(nodes_text: str) -> str | None:
    """redis-cli's configuration signature of one node's CLUSTER NODES reply."""
    parts = []
    for line in nodes_text.split("\n")[:-1]:
        fields = line.split(" ")
        if len(fields) < 8:
            continue
        slots = sorted(f for f in fields[8:] if not f.startswith("["))
        if slots:
            parts.append(f"{fields[0]}:{','.join(slots)}")
    return "|".join(sorted(parts)) if parts else None


def consistent(procs: list[Proc]) -> bool:
    sigs = {signature(p.nodes()) for p in procs}
    return len(sigs) == 1 and None not in sigs


def form_cluster(procs: list[Proc]) -> None:
    """Exactly what `redis-cli --cluster create` sends, for N masters."""
    n = len(procs)
    step = 16384 / n
    first = 0
    cursor = 0.0
    for i, proc in enumerate(procs):
        last = 16383 if i == n - 1 else round(cursor + step - 1)
        proc.client().execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
        first = last + 1
        cursor += step
    for i, proc in enumerate(procs, 1):
        proc.client().execute_command("cluster", "set-config-epoch", i)
    for proc in procs[1:]:
        proc.client().execute_command("cluster", "meet", "127.0.0.1", procs[0].port)


def cluster_ok(proc: Proc) -> bool:
    return "cluster_state:ok" in str(proc.client().execute_command("CLUSTER", "INFO"))


pytestmark = pytest.mark.skipif(not aikv_main_module_ok(), reason="aikv.cli not importable")


def test_three_aikv_masters_converge(spawn: Callable[[str], Proc]) -> None:
    procs = [spawn("aikv") for _ in range(3)]
    form_cluster(procs)
    wait_for(lambda: consistent(procs), 15, "slot signatures to agree")
    wait_for(lambda: all(cluster_ok(p) for p in procs), 15, "cluster_state:ok everywhere")
    for p in procs:
        text = p.nodes()
        assert text.count("\n") == 3
        assert "handshake" not in text and "disconnected" not in text
        info = str(p.client().execute_command("CLUSTER", "INFO"))
        assert "cluster_known_nodes:3" in info and "cluster_size:3" in info
    # redirections follow the slot table: "foo" is slot 12182, served by the third node
    with pytest.raises(redis.exceptions.MovedError) as moved:
        procs[0].client().get("foo")
    assert str(moved.value) == f"12182 127.0.0.1:{procs[2].port}"
    assert procs[2].client().set("foo", "bar")
    assert procs[2].client().get("foo") == "bar"


def _has_info(proc: Proc) -> bool:
    try:
        return proc.client().info("cluster").get("cluster_enabled") == 1
    except redis.ResponseError:
        return False


@pytest.mark.parametrize("kinds", [("aikv", "aikv", "aikv"), ("redis", "aikv", "aikv"), ("aikv", "redis", "aikv")],
                         ids=["3-aikv", "redis-first", "redis-second"])
def test_redis_cli_cluster_create_and_check(spawn: Callable[[str], Proc], kinds: tuple[str, ...]) -> None:
    if REDIS_CLI is None:
        pytest.skip("redis-cli not installed")
    procs = [spawn(kind) for kind in kinds]
    if not _has_info(next(p for p in procs if p.kind == "aikv")):
        pytest.skip("server has no INFO with cluster_enabled yet")
    addrs = [f"127.0.0.1:{p.port}" for p in procs]
    out = subprocess.run([REDIS_CLI, "--cluster", "create", *addrs, "--cluster-yes"],
                         capture_output=True, text=True, timeout=120)
    assert "[OK] All 16384 slots covered." in out.stdout, out.stdout + out.stderr
    wait_for(lambda: all(cluster_ok(p) for p in procs), 15, "cluster_state:ok")
    for addr in addrs:
        check = subprocess.run([REDIS_CLI, "--cluster", "check", addr], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "[OK] All nodes agree about slots configuration." in check.stdout


def test_mixed_cluster_with_real_redis(spawn: Callable[[str], Proc]) -> None:
    real = spawn("redis")
    procs = [real, spawn("aikv"), spawn("aikv")]
    form_cluster(procs)
    wait_for(lambda: consistent(procs), 20, "slot signatures to agree (mixed)")
    wait_for(lambda: all(cluster_ok(p) for p in procs), 20, "cluster_state:ok (mixed)")
    real_view = real.nodes()
    for p in procs[1:]:
        assert p.myid() in real_view
    assert "handshake" not in real_view and "fail" not in real_view
    # Redis redirects to AiKv nodes and AiKv to Redis, by the same slot table
    for p in procs:
        for key in ("foo", "bar", "{user1000}.following"):
            try:
                p.client().get(key)
            except redis.exceptions.MovedError as exc:
                slot = int(str(exc).split()[0])
                assert slot == p.client().execute_command("CLUSTER", "KEYSLOT", key)


def test_restart_keeps_identity_and_slots(spawn: Callable[[str], Proc]) -> None:
    procs = [spawn("aikv") for _ in range(3)]
    form_cluster(procs)
    wait_for(lambda: consistent(procs), 15, "slot signatures to agree")
    victim = procs[2]
    before_id = victim.myid()
    before_sig = signature(victim.nodes())
    victim.kill9()
    victim.start()
    assert victim.myid() == before_id
    assert signature(victim.nodes()) == before_sig
    wait_for(lambda: consistent(procs), 15, "signatures after restart")
    wait_for(lambda: all(cluster_ok(p) for p in procs), 20, "cluster ok after restart")


def test_failure_detection_and_recovery(spawn: Callable[[str], Proc]) -> None:
    procs = [spawn("aikv") for _ in range(3)]
    form_cluster(procs)
    wait_for(lambda: all(cluster_ok(p) for p in procs), 20, "cluster ok")
    victim = procs[2]
    victim_id = victim.myid()
    victim.kill9()

    def marked_fail(p: Proc) -> bool:
        line = next(x for x in p.nodes().split("\n") if x.startswith(victim_id))
        return "fail" in line.split()[2].split(",")

    wait_for(lambda: all(marked_fail(p) for p in procs[:2]), 15, "FAIL flag on survivors")
    assert all(not cluster_ok(p) for p in procs[:2])
    victim.start()
    wait_for(lambda: all(cluster_ok(p) for p in procs), 30, "cluster ok after the node returns")


def test_failure_detection_in_mixed_cluster(spawn: Callable[[str], Proc]) -> None:
    real = spawn("redis")
    procs = [real, spawn("aikv"), spawn("aikv")]
    form_cluster(procs)
    wait_for(lambda: all(cluster_ok(p) for p in procs), 20, "cluster ok (mixed)")
    victim = procs[2]
    victim_id = victim.myid()
    victim.kill9()

    def marked_fail(p: Proc) -> bool:
        line = next(x for x in p.nodes().split("\n") if x.startswith(victim_id))
        return "fail" in line.split()[2].split(",")

    wait_for(lambda: marked_fail(real) and marked_fail(procs[1]), 15, "FAIL agreed by Redis and AiKv")


def test_publish_reaches_subscribers_on_other_nodes(spawn: Callable[[str], Proc]) -> None:
    real = spawn("redis")
    procs = [spawn("aikv"), spawn("aikv"), real]
    form_cluster(procs)
    wait_for(lambda: consistent(procs), 20, "signatures")
    subs = []
    for p in procs[1:]:
        ps = p.client().pubsub()
        ps.subscribe("news")
        wait_for(lambda ps=ps: ps.get_message(timeout=0.1), 5, "subscribe confirmation")
        subs.append(ps)

    def got(ps: redis.client.PubSub) -> object:
        msg = ps.get_message(timeout=0.1)
        return msg if msg and msg.get("type") == "message" else None

    procs[0].client().publish("news", "hello-cluster")
    for ps in subs:
        msg = wait_for(lambda ps=ps: got(ps), 5, "relayed message")
        assert msg["data"] == "hello-cluster"  # type: ignore[index]
    # and the other way round: Redis publishes, AiKv subscribers receive
    ps = procs[0].client().pubsub()
    ps.subscribe("back")
    wait_for(lambda: ps.get_message(timeout=0.1), 5, "subscribe confirmation")
    real.client().publish("back", "from-redis")
    msg = wait_for(lambda: got(ps), 5, "message from redis-server")
    assert msg["data"] == "from-redis"  # type: ignore[index]
    for s in [*subs, ps]:
        s.close()


def _tcp_links(local_ip: str, remote_port: int) -> int:
    """Established TCP connections from `local_ip` to 127.0.0.1:`remote_port`
    (/proc/net/tcp: addresses in little-endian hex, state 01 = ESTABLISHED)."""
    want_local = "".join(reversed([f"{int(x):02X}" for x in local_ip.split(".")]))
    want_remote = f"0100007F:{remote_port:04X}"
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].startswith(want_local + ":") and fields[2] == want_remote \
                and fields[3] == "01":
            count += 1
    return count


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="no /proc/net/tcp")
def test_bus_links_leave_from_bind_source_addr(spawn: Callable[[str], Proc]) -> None:
    """bind-source-addr is the local address of the links a node opens (Redis 7.0 binds
    its cluster bus connections to it, as its replication link)."""
    procs = [spawn("aikv") for _ in range(2)]
    procs[1].client().config_set("bind-source-addr", "127.0.0.2")
    procs[1].client().execute_command("cluster", "meet", "127.0.0.1", procs[0].port)
    # (The met node then knows the other as 127.0.0.2, where nothing listens here: only
    # the link's source address is checked.)
    wait_for(lambda: _tcp_links("127.0.0.2", procs[0].port + 10000) >= 1, 15,
             "a bus link from 127.0.0.2")
