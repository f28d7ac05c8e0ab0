"""Start and stop a few local AiKv cluster nodes for the Python examples."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

REPO = Path(__file__).resolve().parents[1]


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


class LocalCluster:
    """`with LocalCluster(7110, masters=3) as c:` starts the nodes, runs
    `redis-cli --cluster create`, and stops everything on exit."""

    def __init__(self, base_port: int, masters: int = 3, node_timeout: int = 2000) -> None:
        self.ports = [base_port + i for i in range(masters)]
        self.node_timeout = node_timeout
        self.work = Path(tempfile.mkdtemp(prefix="aikv-example-"))
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start_node(self, port: int) -> None:
        directory = self.work / str(port)
        directory.mkdir(exist_ok=True)
        self.procs[port] = subprocess.Popen(
            [sys.executable, "-m", "aikv.cli", "--port", str(port), "--dir", str(directory),
             "--cluster-enabled", "yes", "--cluster-node-timeout", str(self.node_timeout),
             "--logfile", str(self.work / f"{port}.log")],
            cwd=str(REPO),
        )
        _wait(lambda: redis.Redis(port=port, socket_timeout=1).ping(), 20, f"node {port}")

    def kill9(self, port: int) -> None:
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait(10)

    def __enter__(self) -> LocalCluster:
        try:
            for port in self.ports:
                self.start_node(port)
            subprocess.run(
                ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                 "--cluster-yes"], check=True, capture_output=True, timeout=60)
            self.wait_ok()
        except BaseException:
            print(f"start-up failed; logs kept in {self.work}", file=sys.stderr)
            self.stop(keep_logs=True)
            raise
        return self

    def wait_ok(self, timeout: float = 30) -> None:
        for port in self.ports:
            _wait(lambda p=port: b"cluster_state:ok" in
                  redis.Redis(port=p, socket_timeout=1).execute_command("CLUSTER", "INFO"),
                  timeout, f"cluster_state:ok on {port}")

    def stop(self, keep_logs: bool = False) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
        if not keep_logs:
            shutil.rmtree(self.work, ignore_errors=True)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
