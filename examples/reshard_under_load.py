#!/usr/bin/env python3
"""Reshard while a client writes: move slots between AiKv masters with the stock
`redis-cli --cluster reshard` while a RedisCluster client keeps writing and verifying.

The writer records every acknowledged write; at the end every key must hold its last
acknowledged value, and every key must live on exactly one master.

    examples/reshard_under_load.py --slots 1000
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis  # noqa: E402
from local_nodes import LocalCluster  # noqa: E402
from redis.cluster import ClusterNode, RedisCluster  # noqa: E402


def writer(port: int, stop: threading.Event, acked: dict[str, str], errors: list[str]) -> None:
    rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port)], decode_responses=True)
    rng = random.Random(7)
    seq = 0
    while not stop.is_set():
        key = f"item:{rng.randrange(2000)}"
        value = f"v{seq}"
        try:
            rc.set(key, value)
            acked[key] = value
        except redis.RedisError as exc:  # anything but a followed redirection is a failure
            errors.append(f"{key}: {exc!r}")
        seq += 1
    rc.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=1000)
    parser.add_argument("--base-port", type=int, default=7120)
    args = parser.parse_args()
    with LocalCluster(args.base_port, masters=3) as cluster:
        ports = cluster.ports
        ids = [redis.Redis(port=p).execute_command("CLUSTER", "MYID").decode() for p in ports]
        acked: dict[str, str] = {}
        errors: list[str] = []
        stop = threading.Event()
        thread = threading.Thread(target=writer, args=(ports[0], stop, acked, errors))
        thread.start()
        time.sleep(0.5)  # let the writer fill some keys before the move
        started = time.monotonic()
        result = subprocess.run(
            ["redis-cli", "--cluster", "reshard", f"127.0.0.1:{ports[0]}",
             "--cluster-from", ids[0], "--cluster-to", ids[1],
             "--cluster-slots", str(args.slots), "--cluster-yes"],
            capture_output=True, text=True, timeout=600)
        took = time.monotonic() - started
        stop.set()
        thread.join(30)
        if result.returncode != 0:
            print(result.stdout[-2000:], result.stderr[-2000:])
            return 1
        print(f"moved {args.slots} slots in {took:.1f}s while writing {len(acked)} keys")
        check = subprocess.run(["redis-cli", "--cluster", "check", f"127.0.0.1:{ports[0]}"],
                               capture_output=True, text=True, timeout=60)
        print(check.stdout.strip().splitlines()[-1])
        rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", ports[0])],
                          decode_responses=True)
        wrong = {k: v for k, v in acked.items() if rc.get(k) != v}
        owners: dict[str, int] = {}
        for port in ports:
            for key in redis.Redis(port=port, decode_responses=True).keys("item:*"):
                owners[key] = owners.get(key, 0) + 1
        doubled = [k for k, n in owners.items() if n > 1]
        rc.close()
        print(f"client errors: {len(errors)}, wrong values: {len(wrong)}, keys on two nodes: "
              f"{len(doubled)}")
        return 0 if not errors and not wrong and not doubled and check.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
