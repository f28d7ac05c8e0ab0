#!/usr/bin/env python3
"""A redis-py RedisCluster client against an AiKv cluster.

Starts three AiKv masters (unless --nodes points at a running cluster), creates the
cluster with redis-cli, then writes and reads keys of several types through
`redis.cluster.RedisCluster`, which discovers the slot map with CLUSTER SLOTS and follows
MOVED redirections on its own.

    examples/cluster_client.py                 # self-contained
    examples/cluster_client.py --nodes 127.0.0.1:7100
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_nodes import LocalCluster  # noqa: E402
from redis.cluster import ClusterNode, RedisCluster  # noqa: E402


def demo(host: str, port: int, count: int) -> None:
    rc = RedisCluster(startup_nodes=[ClusterNode(host, port)], decode_responses=True)
    try:
        print(f"connected; {len(rc.get_nodes())} nodes, slot map from CLUSTER SLOTS")
        for i in range(count):
            rc.set(f"user:{i}", f"name-{i}")
        assert all(rc.get(f"user:{i}") == f"name-{i}" for i in range(count))
        print(f"wrote and read back {count} string keys across the cluster")
        rc.hset("profile:{alice}", mapping={"name": "Alice", "lang": "en"})
        rc.rpush("timeline:{alice}", "hello", "world")
        print("hash:", rc.hgetall("profile:{alice}"))
        print("list:", rc.lrange("timeline:{alice}", 0, -1))
        # Keys sharing a hash tag live in one slot, so multi-key commands work.
        rc.mset({"{cart}:apples": "3", "{cart}:pears": "5"})
        print("mget:", rc.mget("{cart}:apples", "{cart}:pears"))
        per_node = {f"{n.host}:{n.port}": rc.dbsize(target_nodes=n) for n in rc.get_primaries()}
        print("keys per master:", per_node)
    finally:
        rc.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", help="host:port of a running cluster node")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--base-port", type=int, default=7110)
    args = parser.parse_args()
    if args.nodes:
        host, port = args.nodes.rsplit(":", 1)
        demo(host, int(port), args.count)
        return 0
    with LocalCluster(args.base_port, masters=3) as cluster:
        demo("127.0.0.1", cluster.ports[0], args.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
