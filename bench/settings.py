"""Run-wide options shared by every scenario."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass


@dataclass
class Settings:
    quick: bool = False
    rounds: int = 3
    big: bool = False
    # Throughput scenario sizes; quick mode shrinks them so the whole run fits ~1-2 min.
    n_plain: int = 100_000
    n_pipelined: int = 400_000
    clients: int = 50
    keyspace: int = 100_000
    tests: tuple[str, ...] = ("set", "get", "incr", "lpush", "hset", "zadd")
    # Cluster set-up must not hang the run when a node never joins.
    cluster_timeout_s: float = 60.0

    @classmethod
    def make(cls, quick: bool, rounds: int | None, big: bool) -> Settings:
        if quick:
            return cls(quick=True, rounds=rounds or 1, big=big, n_plain=5_000,
                       n_pipelined=20_000, cluster_timeout_s=25.0)
        return cls(quick=False, rounds=rounds or 3, big=big)


def log(msg: str) -> None:
    """Progress goes to stderr so stdout keeps just the table."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
