"""Every example script runs to completion on a fresh checkout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.harness import REPO

EXAMPLES = REPO / "examples"


def free_port_block(size: int) -> int:
    """A base port such that base..base+size-1 and their bus ports are all free."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + size + 10000 > 65535:
            continue
        ok = True
        for port in list(range(base, base + size)) + list(range(base + 10000, base + 10000 + size)):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port block")


def run(cmd: list[str], tmp_path: Path, base: int, timeout: float = 300) -> str:
    env = dict(os.environ, BASE_PORT=str(base), WORK=str(tmp_path / "work"))
    result = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


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
