"""Starting and stopping real server processes for integration tests.

Every process gets a free 127.0.0.1 port and its own temporary directory; readiness is
polled with a deadline (no fixed sleeps); `stop()` always runs from fixture finalizers.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

REPO = Path(__file__).resolve().parents[1]


GOLDEN = REPO / "tests" / "golden"


def shared_dir() -> Path:
    """The directory whose fixtures/ holds the golden data captured from redis-server
    7.0.15: the copy kept in the repository (tests/golden), or the one AIKV_SHARED
    names (a shared/ checkout, to test against a newer capture)."""
    env = os.environ.get("AIKV_SHARED")
    return Path(env) if env else GOLDEN


# Test servers listen below the kernel's ephemeral range (32768-60999 here), bus ports
# (port + 10000) included: a port the kernel hands to some outgoing connection between
# our check and the server's bind would make the server fail to start.
ALL_PORTS = (10000, 22700)


def _port_slice(spec: str | None) -> tuple[int, int]:
    """The ports of one of several test processes run side by side (tests/shards.py sets
    AIKV_TEST_PORT_SLICE=i/n): slices of 10000-19999, whose bus ports (20000-29999) can
    never be another slice's server ports. Without one, all of ALL_PORTS."""
    if not spec:
        return ALL_PORTS
    index, count = (int(part) for part in spec.split("/"))
    width = 10000 // count
    return (10000 + index * width, 10000 + (index + 1) * width)


PORT_RANGE = _port_slice(os.environ.get("AIKV_TEST_PORT_SLICE"))


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# Ports handed out recently (data and bus). A test often picks ports for several nodes
# before starting any of them, and a port is only free until someone binds it: without
# this, one node's data port could be the bus port (+10000) of another picked just
# before, and the second to bind fails ("address already in use").
_RECENT: deque[int] = deque(maxlen=1024)


def free_port(avoid_bus: bool = True, block: int = 1) -> int:
    """A free port (or the first of `block` consecutive free ports) whose +10000 bus
    ports are free too, none of them handed out recently by this process."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    recent = set(_RECENT)
    for _ in range(2000):
        base = rng.randrange(PORT_RANGE[0], PORT_RANGE[1] - block)
        ports = range(base, base + block)
        wanted = [*ports, *(p + 10000 for p in ports)]
        if any(p in recent for p in wanted):
            continue
        if all(_bindable(p) and (not avoid_bus or _bindable(p + 10000)) for p in ports):
            _RECENT.extend(wanted)
            return base
    raise RuntimeError("no free port found")


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - polling: keep trying until the deadline
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}" + (f" (last error: {last_exc})" if last_exc else ""))


def recv_until(sock: socket.socket, buf: bytes, marker: bytes, timeout: float) -> bytes:
    """`buf` plus what `sock` sends until `marker` is among it (with the rest of the read
    that brought it); an AssertionError if the peer closes first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while marker not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{marker!r} not received in {timeout} s: {buf[-300:]!r}")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before {marker!r}")
        buf += chunk
    return buf


class ServerProcess:
    """One aikv-server or redis-server process."""

    def __init__(self, kind: str, directory: Path, port: int | None = None,
                 args: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.dir = Path(directory)
        self.port = port or free_port()
        self.extra_args = list(args)
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / f"{kind}-{self.port}.log"

    def command(self) -> list[str]:
        # A config file comes first, as redis-server reads its command line.
        extra = self.extra_args
        config_file = extra[:1] if extra and not extra[0].startswith("-") else []
        if self.kind == "aikv":
            # AIKV_TEST_SERVER_ARGS (e.g. "--set lmdb-tick-log=no") goes to every aikv-server
            # started here, before the test's own arguments (which may override it).
            common = shlex.split(os.environ.get("AIKV_TEST_SERVER_ARGS", ""))
            # DEBUG is off by default (enable-debug-command no, as in Redis 7); the tests
            # use it from loopback, as Redis's own test suite enables it.
            return [sys.executable, "-m", "aikv.cli", *config_file, "--port", str(self.port),
                    "--dir", str(self.dir), "--set", "enable-debug-command=local",
                    *common, *extra[len(config_file):]]
        return ["redis-server", *config_file, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--appendonly", "no",
                "--protected-mode", "no", *extra[len(config_file):]]

    def start(self, timeout: float = 15.0, wait: bool = True) -> ServerProcess:
        self.dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        env = dict(os.environ)
        # The code under test is this checkout's, whatever `pip install -e` points at.
        env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     cwd=str(self.dir), env=env, start_new_session=True)
        log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            # No retries: redis-py retries a NOAUTH (an AuthenticationError, hence a
            # ConnectionError) with backoff, seconds per poll on a server with a password.
            with redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1,
                             retry=Retry(NoBackoff(), 0)) as r:
                try:
                    return bool(r.ping())
                except redis.AuthenticationError:
                    return True
                except redis.ResponseError as exc:
                    return "NOAUTH" in str(exc)

        try:
            wait_until(ready, timeout, what=f"{self.kind} on port {self.port}")
        except RuntimeError:
            raise
        except TimeoutError:
            raise TimeoutError(f"{self.kind} on {self.port} not ready:\n{self.log()}") from None

    def client(self, **kwargs) -> redis.Redis:
        kwargs.setdefault("socket_timeout", 10)
        return redis.Redis(port=self.port, **kwargs)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        return proc.returncode


def redis_cli(*args: str, timeout: float = 60.0, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["redis-cli", *args], capture_output=True, text=True, timeout=timeout,
                          input=input_text)


def have_redis_server() -> bool:
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


def serve_all_slots(*servers: ServerProcess, timeout: float = 10.0) -> None:
    """Give each cluster-enabled node (AiKv or redis-server) every slot, alone, and wait
    for their cluster_state to turn ok: all the claims first, then the waits, so that
    the nodes' start-up delay before "ok" (2 s, CLUSTER_WRITABLE_DELAY) runs once."""
    for server in servers:
        with server.client() as c:
            c.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    for server in servers:
        with server.client() as c:
            wait_until(lambda c=c: c.cluster("info")["cluster_state"] == "ok", timeout,
                       what="cluster_state ok")
