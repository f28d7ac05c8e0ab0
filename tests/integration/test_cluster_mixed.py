"""Mixed clusters: AiKv nodes and real redis-server 7.0 nodes created together with
`redis-cli --cluster create`. Every node's CLUSTER NODES must agree (ids, addresses,
flags apart from `myself`, masters, epochs, link state, slots), keys written through one
kind of node are read through the other with `redis-cli -c`, and failure detection works
with a real redis-server as the victim and as a survivor.

Processes, ports, temp dirs and cleanup as in test_cluster_acceptance (same fixture).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence

import pytest

from tests.integration.test_cluster_acceptance import (
    Node,
    NodeFactory,
    cli_check,
    cli_create,
    cluster_nodes,
    flag_of,
    start_all,
)
from tests.integration.test_cluster_bus import NODE_TIMEOUT, REDIS_CLI, cluster_ok, wait_for

__all__ = ["cluster_nodes"]  # the fixture, re-exported so pytest finds it here

pytestmark = [
    pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli not installed"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
]


def view(node: Node) -> dict[str, tuple[str, ...]]:
    """One node's CLUSTER NODES as id -> the fields every node must agree on: address,
    flags without `myself`, master id, config epoch, link state, slots (and open marks).
    The ping/pong times are each node's own."""
    result = {}
    for line in node.nodes().splitlines():
        fields = line.split(" ")
        flags = ",".join(f for f in fields[2].split(",") if f != "myself")
        result[fields[0]] = (fields[1], flags, fields[3], fields[6], fields[7], *fields[8:])
    return result


def all_agree(nodes: Sequence[Node]) -> bool:
    views = [view(n) for n in nodes]
    return all(v == views[0] for v in views) and len(views[0]) == len(nodes)


def cli_run(port: int, commands: Sequence[Sequence[str]]) -> tuple[list[str], int]:
    """Commands piped to one `redis-cli -c` process (it follows MOVED in that mode too):
    the replies, and how many redirections it followed."""
    assert REDIS_CLI
    script = "".join(" ".join(cmd) + "\n" for cmd in commands)
    out = subprocess.run([REDIS_CLI, "-c", "-h", "127.0.0.1", "-p", str(port)], input=script,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    replies = [line for line in lines if not line.startswith("-> Redirected")]
    return replies, len(lines) - len(replies)


def owner_port(nodes: Sequence[Node], key: str) -> int:
    slot = int(nodes[0].client().execute_command("CLUSTER", "KEYSLOT", key))
    for line in nodes[0].nodes().splitlines():
        fields = line.split(" ")
        for r in fields[8:]:
            if r.startswith("["):
                continue
            lo, _, hi = r.partition("-")
            if int(lo) <= slot <= int(hi or lo):
                return int(fields[1].split("@")[0].rsplit(":", 1)[1])
    raise AssertionError(f"no owner for {key}")


def test_mixed_create_agree_and_cross_reads(cluster_nodes: NodeFactory) -> None:  # noqa: F811
    nodes = cluster_nodes(["aikv", "redis", "aikv", "redis"])
    cli_create(nodes)
    wait_for(lambda: all(cluster_ok(n) for n in nodes), 20, "cluster_state:ok (mixed)")
    wait_for(lambda: all_agree(nodes), 20, "every CLUSTER NODES to agree")
    reference = view(nodes[0])
    assert all("master" in fields[1].split(",") for fields in reference.values())
    assert all(fields[4] == "connected" for fields in reference.values())
    # each node lists itself, and only itself, as myself
    for node in nodes:
        me = [line for line in node.nodes().splitlines() if "myself" in line.split(" ")[2]]
        assert len(me) == 1 and me[0].startswith(node.myid())
    for node in nodes:
        cli_check(node)
    # CLUSTER SLOTS is identical everywhere; CLUSTER SHARDS too, apart from the order of
    # the shards (Redis walks a dict: its own nodes do not agree on it either)
    slots = [n.client().execute_command("CLUSTER", "SLOTS") for n in nodes]
    assert all(s == slots[0] for s in slots), slots
    shards = [sorted(repr(x) for x in n.client().execute_command("CLUSTER", "SHARDS")) for n in nodes]
    assert all(s == shards[0] for s in shards), shards

    aikv = [n for n in nodes if n.kind == "aikv"]
    real = [n for n in nodes if n.kind == "redis"]
    keys = [f"mixed:{i}" for i in range(40)]
    # the keys must land on both kinds of node, or the test shows nothing
    kinds = {next(n.kind for n in nodes if n.port == owner_port(nodes, k)) for k in keys}
    assert kinds == {"aikv", "redis"}
    # written through AiKv, read through Redis, and the other way round; each client
    # is redirected (MOVED) at least once, so both kinds send and follow redirections
    for (writer, reader), label in (((aikv[0], real[0]), "aikv"), ((real[1], aikv[1]), "redis")):
        replies, moved = cli_run(writer.port, [("SET", k, f"from-{label}-{k}") for k in keys])
        assert replies == ["OK"] * len(keys) and moved > 0
        replies, moved = cli_run(reader.port, [("GET", k) for k in keys])
        assert replies == [f"from-{label}-{k}" for k in keys] and moved > 0
    # and each key sits on its owner, whatever kind it is
    for key in keys:
        port = owner_port(nodes, key)
        owner = next(n for n in nodes if n.port == port)
        assert owner.client().get(key) == f"from-redis-{key}"


def _fail_and_return(nodes: Sequence[Node], victim: Node) -> None:
    survivors = [n for n in nodes if n is not victim]
    victim_id = victim.myid()
    killed = time.monotonic()
    victim.kill9()
    wait_for(lambda: all("fail" in flag_of(s, victim_id) for s in survivors), 20,
             f"survivors to flag the {victim.kind} victim fail")
    detected = time.monotonic() - killed
    print(f"\n{victim.kind} victim flagged fail by {[s.kind for s in survivors]} after {detected:.1f} s")
    # "within a few timeouts": PFAIL after one node timeout (2 s), FAIL once the
    # survivors' reports meet, a timeout or so later
    assert detected < 5 * NODE_TIMEOUT / 1000, detected
    wait_for(lambda: all(s.info()["cluster_state"] == "fail" for s in survivors), 10,
             "cluster_state:fail on every survivor")
    start_all([victim])
    assert victim.myid() == victim_id
    wait_for(lambda: all("fail" not in flag_of(s, victim_id) for s in survivors), 30,
             f"FAIL on the {victim.kind} node cleared")
    wait_for(lambda: all(cluster_ok(n) for n in nodes), 30, "cluster_state:ok after return")
    wait_for(lambda: all_agree(nodes), 20, "CLUSTER NODES agree after return")


def test_mixed_failure_detection_both_ways(cluster_nodes: NodeFactory) -> None:  # noqa: F811
    # 4 masters (quorum 3): a dead Redis leaves 1 Redis + 2 AiKv to agree on its FAIL, a
    # dead AiKv leaves 2 Redis + 1 AiKv, so each kind's failure reports must count on the
    # other kind's side.
    nodes = cluster_nodes(["aikv", "redis", "aikv", "redis"])
    cli_create(nodes)
    wait_for(lambda: all(cluster_ok(n) for n in nodes), 20, "cluster_state:ok (mixed)")
    _fail_and_return(nodes, nodes[3])  # real redis-server is the victim
    _fail_and_return(nodes, nodes[2])  # real redis-servers among the survivors


def test_redis_replica_of_an_aikv_master(cluster_nodes: NodeFactory) -> None:  # noqa: F811
    """A redis-server added with `--cluster-slave` to an AiKv master replicates it: it
    synchronises from AiKv's RDB file and follows the command stream, ending with the
    same dataset (DEBUG DIGEST)."""
    assert REDIS_CLI
    masters = cluster_nodes(["aikv", "aikv", "aikv"], extra=["--enable-debug-command", "yes"])
    cli_create(masters)
    wait_for(lambda: all(cluster_ok(n) for n in masters), 20, "cluster_state:ok")
    cli_run(masters[0].port, [("SET", f"before:{i}", str(i)) for i in range(100)])
    (replica,) = cluster_nodes(["redis"], extra=["--enable-debug-command", "yes"])
    out = subprocess.run([REDIS_CLI, "--cluster", "add-node", f"127.0.0.1:{replica.port}",
                          f"127.0.0.1:{masters[0].port}", "--cluster-slave",
                          "--cluster-master-id", masters[0].myid()],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    master = masters[0].client()

    def caught_up() -> bool:
        info = replica.client().info("replication")
        return (info.get("master_link_status") == "up" and info["slave_repl_offset"]
                == master.info("replication")["master_repl_offset"])

    wait_for(caught_up, 30, "the Redis replica to sync with its AiKv master")
    replies, _ = cli_run(masters[1].port, [("SET", f"after:{i}", str(i)) for i in range(300)]
                         + [("INCRBYFLOAT", "{after:1}f", "1.5"), ("EXPIRE", "after:2", "100")])
    assert replies[:300] == ["OK"] * 300
    wait_for(caught_up, 30, "the Redis replica to follow the stream")
    digest = master.execute_command("DEBUG", "DIGEST")
    assert digest != "0" * 40
    assert replica.client().execute_command("DEBUG", "DIGEST") == digest
    assert master.info("replication")["connected_slaves"] == 1
    # the replica is listed as such by every node, AiKv ones included
    wait_for(lambda: all(f"slave {masters[0].myid()}" in n.nodes() for n in masters), 20,
             "every master to list the Redis replica")
