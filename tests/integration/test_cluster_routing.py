"""Routing of odd requests, against a real redis-server cluster of the same shape: a
3-master cluster of each kind, the same requests to each first master, MOVED targets
compared by node index. Found by a differential fuzz of random commands: Redis routes by
getKeysFromCommand (a command's own getkeys function, with C's atoi for numkeys), and a
transaction doomed by an error queues nothing more, so EXEC routes only what came first.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.differ import RawConnection
from tests.harness import ServerProcess, have_redis_server
from tests.integration.test_reshard import Cluster

pytestmark = pytest.mark.skipif(not have_redis_server(), reason="redis-server/redis-cli missing")

# Slots: k3 4576 and k2 449 (first master), {k}1 7629 (second), k1 12706 and WITHDIST
# 14816 (third).
REQUESTS: list[tuple[str, ...]] = [
    # numkeys read by atoi: 0 or more than the arguments left means no keys at all, not
    # even the destination, so the command runs here and reports its own error...
    ("zunionstore", "k1", "0", "k3"),
    ("zunionstore", "x", "k1", "{k}1"),
    ("zinterstore", "k1", "-1", "k3"),
    ("zdiffstore", "k1", "5", "k3"),
    ("eval", "return 1", "5", "k1"),
    ("zunion", "x1", "k1"),
    ("lmpop", "0", "k1", "LEFT"),
    # ... while "1-1" reads as 1 and routes by the argument after it.
    ("zdiff", "1-1", "WITHDIST", "-2.5"),
    ("zunionstore", "k3", "1 ", "k2"),
    ("sintercard", "+1", "k1"),
    ("sort", "k3", "store", "k2"),
    ("sort", "k3", "store", "k1"),
    ("sort", "k3", "limit", "store", "k1", "x"),
    ("xread", "streams", "k1", "k3", "0", "0"),
    ("xread", "count", "1", "streams", "k3", "0"),
    ("georadius", "k3", "0", "0", "1", "km", "store", "k1"),
    ("migrate", "127.0.0.1", "1", "k1", "0", "10"),
    # A transaction doomed by an arity error queues nothing after it: EXEC routes only
    # GET k3 and answers EXECABORT (not CROSSSLOT over k3 and k2).
    ("multi",), ("get", "k3"), ("lmpop",), ("get", "k2"), ("exec",),
    ("multi",), ("get", "k3"), ("get", "k2"), ("exec",),
    ("multi",), ("set", "k3", "v"), ("get", "k1"), ("get", "k2"), ("exec",),
]


def test_routing_matches_redis(spawn: Callable[..., ServerProcess]) -> None:
    replies: dict[str, list[bytes]] = {}
    for kind in ("aikv", "redis"):
        cluster = Cluster(spawn, [kind] * 3)
        cluster.create()
        names = {str(node.port).encode(): b"node%d" % i for i, node in enumerate(cluster.nodes)}
        conn = RawConnection(cluster.nodes[0].port)
        try:
            replies[kind] = [_by_index(conn.call(*request), names) for request in REQUESTS]
        finally:
            conn.close()
    for request, ours, theirs in zip(REQUESTS, replies["aikv"], replies["redis"], strict=True):
        assert ours == theirs, (request, ours, theirs)


def _by_index(reply: bytes, names: dict[bytes, bytes]) -> bytes:
    return re.sub(rb"127\.0\.0\.1:(\d+)", lambda m: names[m.group(1)], reply)
