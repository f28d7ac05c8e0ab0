"""Every example script runs to completion on a fresh checkout."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.harness import REPO, free_port

EXAMPLES = REPO / "examples"


def free_port_block(size: int) -> int:
    """A base port such that base..base+size-1 and their bus ports are all free."""
    return free_port(block=size)


def run(cmd: list[str], tmp_path: Path, base: int, timeout: float = 300) -> str:
    env = dict(os.environ, BASE_PORT=str(base), WORK=str(tmp_path / "work"))
    # Its own process group, so that on a timeout the nodes the script started go too
    # (a killed script cannot run its cleanup trap).
    proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        _kill_leftovers(tmp_path / "work")
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    return out


def _kill_leftovers(work: Path) -> None:
    """Stop any node still running on the example's data directories."""
    for lock in work.glob("**/aikv.lock"):
        try:
            with open(lock, "rb") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    continue  # nobody holds it: that node is gone (its pid may be reused)
                except BlockingIOError:
                    pid = int(lock.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (ValueError, IndexError, ProcessLookupError, PermissionError, OSError):
            pass


def test_crash_restart(tmp_path: Path) -> None:
    out = run(["bash", str(EXAMPLES / "crash-restart.sh")], tmp_path, free_port_block(3))
    assert "OK: same node id, same keys, cluster_state ok" in out


def test_cluster_client(tmp_path: Path) -> None:
    out = run([sys.executable, str(EXAMPLES / "cluster_client.py"), "--count", "300",
               "--base-port", str(free_port_block(3))], tmp_path, 0)
    assert "wrote and read back 300 string keys" in out


def test_local_cluster(tmp_path: Path) -> None:
    out = run(["bash", str(EXAMPLES / "local-cluster.sh")], tmp_path, free_port_block(6))
    assert "[OK] All 16384 slots covered." in out
    assert "hello from a six-node AiKv cluster" in out


def test_reshard_under_load(tmp_path: Path) -> None:
    out = run([sys.executable, str(EXAMPLES / "reshard_under_load.py"), "--slots", "300",
               "--base-port", str(free_port_block(3))], tmp_path, 0)
    assert "client errors: 0, wrong values: 0, keys on two nodes: 0" in out
