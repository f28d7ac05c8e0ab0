"""Starting, measuring and always stopping the servers under test.

Every server gets free 127.0.0.1 ports and its own temporary directory. All processes the
suite starts are kept in a registry that an atexit hook and the SIGTERM/SIGHUP handlers
drain, so neither Ctrl-C nor an exception in a scenario leaves a server behind.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.resp import ping_until_ready

REPO = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")

_live: list[Server] = []
_tempdirs: list[Path] = []


def _cleanup() -> None:
    for srv in list(_live):
        srv.stop()
    for d in list(_tempdirs):
        shutil.rmtree(d, ignore_errors=True)
        _tempdirs.remove(d)


def _on_signal(signum: int, _frame: object) -> None:
    # Turn SIGTERM/SIGHUP into the same unwinding Ctrl-C gets, so finally blocks run.
    raise KeyboardInterrupt(f"signal {signum}")


atexit.register(_cleanup)


def install_signal_handlers() -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    # A shell starting us in the background without job control leaves SIGINT ignored;
    # Ctrl-C / kill -INT must still stop the servers.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def make_tempdir(prefix: str) -> Path:
    base = os.environ.get("AIKV_BENCH_TMP") or None
    d = Path(tempfile.mkdtemp(prefix=f"aikv-bench-{prefix}-", dir=base))
    _tempdirs.append(d)
    return d


def remove_tempdir(d: Path) -> None:
    shutil.rmtree(d, ignore_errors=True)
    if d in _tempdirs:
        _tempdirs.remove(d)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free port whose +10000 cluster-bus port is free too."""
    for _ in range(500):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 <= 65535 and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair found")


def wait_for(pred: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            r = pred()
            if r:
                return r
        except Exception as exc:  # noqa: BLE001 - polling: retry until the deadline
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}"
                       + (f" (last error: {last})" if last else ""))


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name may contain spaces; fields after the closing paren are fixed.
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, VmHWM in bytes from /proc/<pid>/status."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[name] = int(rest.split()[0]) * 1024
    return out


def redis_version() -> str:
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return out.strip()


class Server:
    """One AiKv (`kind="aikv"`), redis-server (`kind="redis"`) or floor responder
    (`kind="floor"`, see bench/floor_server.py) process."""

    def __init__(self, kind: str, directory: Path | None = None, port: int | None = None,
                 appendfsync: str = "everysec", cluster: bool = False,
                 extra: Sequence[str] = (), node_timeout_ms: int = 5000,
                 preexec: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.dir = directory or make_tempdir(kind)
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.cluster = cluster
        self.extra = list(extra)
        self.node_timeout_ms = node_timeout_ms
        self.preexec = preexec
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / f"{kind}-{self.port}.log"
        self.started_at = 0.0

    @property
    def label(self) -> str:
        return {"aikv": "AiKv", "floor": "floor"}.get(self.kind, "Redis")

    def command(self) -> list[str]:
        if self.kind == "floor":  # bench/floor_server.py: uvloop, framing, canned replies
            return [sys.executable, "-m", "bench.floor_server", "--port", str(self.port)]
        if self.kind == "aikv":
            cmd = [sys.executable, "-m", "aikv.cli", "--port", str(self.port),
                   "--dir", str(self.dir), "--appendfsync", self.appendfsync]
            if self.cluster:
                cmd += ["--cluster-enabled", "yes",
                        "--cluster-node-timeout", str(self.node_timeout_ms)]
            return cmd + self.extra
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
               "--dir", str(self.dir), "--save", "", "--appendonly", "yes",
               "--appendfsync", self.appendfsync, "--protected-mode", "no",
               "--daemonize", "no"]
        if self.cluster:
            cmd += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(self.node_timeout_ms)]
        return cmd + self.extra

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for the first PONG; returns seconds from spawn to that reply."""
        self.dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        with open(self.log_path, "ab") as log:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=str(self.dir),
                env=env, start_new_session=True, preexec_fn=self.preexec)
        _live.append(self)
        deadline = self.started_at + timeout
        try:
            ready = self._wait_ready(deadline)
        except Exception:
            self.stop()
            raise
        return ready - self.started_at

    def _wait_ready(self, deadline: float) -> float:
        # Poll in short slices so that a server that dies is reported at once.
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}: "
                                   f"{self.last_lines()}")
            slice_end = min(deadline, time.monotonic() + 0.5)
            try:
                return ping_until_ready(self.port, slice_end)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{self.label} on port {self.port} not ready: "
                                       f"{self.last_lines()}") from None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def memory(self) -> dict[str, int]:
        return proc_status(self.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:].strip()
        except OSError:
            return ""

    def last_lines(self, n: int = 2) -> str:
        """The log's last lines (for a crash, the exception), for an n/a reason."""
        lines = [ln.strip() for ln in self.log_tail(4000).splitlines() if ln.strip()]
        return " / ".join(lines[-n:])

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (both servers flush and exit on it), SIGKILL after `timeout`."""
        proc = self.proc
        if self in _live:
            _live.remove(self)
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            except KeyboardInterrupt:
                proc.kill()
                proc.wait(timeout=10)
                raise
        return proc.returncode
