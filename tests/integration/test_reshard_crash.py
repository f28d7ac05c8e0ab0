"""kill -9 in the middle of a `redis-cli --cluster reshard`, on the target and on the
source (default appendfsync everysec). The killed node restarts from its --dir with its
migration marks (nodes.conf), `redis-cli --cluster fix` closes the open slot, no key is
lost or left on two nodes, and the reshard can then simply be run again to completion.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import pytest

from tests.harness import ServerProcess, wait_until
from tests.integration.test_reshard import (
    Cluster,
    assert_each_key_once,
    cli,
    populate,
    snapshot,
)

SLOTS = 120
PER_SLOT = 15


def _open_marks(node: ServerProcess) -> list[str]:
    with node.client() as c:
        for line in c.execute_command("CLUSTER", "NODES").decode().splitlines():
            if "myself" in line.split(" ")[2]:
                return re.findall(r"\[[^\]]+\]", line)
    return []


@pytest.mark.parametrize("victim_index", [1, 0], ids=["kill-target", "kill-source"])
def test_kill9_mid_reshard_then_fix(spawn: Callable[..., ServerProcess], victim_index: int) -> None:
    cluster = Cluster(spawn, ["aikv"] * 3)
    cluster.create()
    source, target = cluster.nodes[0], cluster.nodes[1]
    populate(source.client(), range(SLOTS), per_slot=PER_SLOT)
    with source.client() as c:
        expected = snapshot(c, cluster.owners().keys())
    total = len(expected)
    source_id, target_id = cluster.node_id(source), cluster.node_id(target)

    # Small MIGRATE batches, so a slot is "open" most of the time.
    proc = subprocess.Popen(
        ["redis-cli", "--cluster", "reshard", cluster.addr(source), "--cluster-from", source_id,
         "--cluster-to", target_id, "--cluster-slots", str(SLOTS), "--cluster-yes",
         "--cluster-pipeline", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim = cluster.nodes[victim_index]
    peer_id = target_id if victim is source else source_id
    arrow = "->-" if victim is source else "-<-"
    try:
        # Kill once a third of the keys have moved, and while the victim itself has its
        # half of a slot's migration open. (The target's IMPORTING mark comes before the
        # source's MIGRATING one and outlives it: waiting on the target's alone could kill
        # the source between two slots, with nothing open.)
        def midway() -> bool:
            with target.client(socket_timeout=2) as c:
                moved = c.dbsize()
            return moved > total // 3 and any(arrow + peer_id in m
                                               for m in _open_marks(victim))

        wait_until(midway, 120, interval=0.002, what="a reshard in progress")
        victim.kill9()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, out[-2000:]

    victim.start()
    # It comes back with its half of the open migration (nodes.conf kept the mark).
    marks = _open_marks(victim)
    assert any(arrow + peer_id in m for m in marks), marks
    wait_until(lambda: cluster.check().returncode != 0 and "open" in cluster.check().stdout, 30,
               what="check to see the open slot")
    # The restarted node must be reachable, not flagged fail anywhere, and every node's
    # cluster state ok (a restarted node reports fail until it has rejoined): redis-cli
    # skips unreachable/failed masters, and a down target refuses the fix's MIGRATE.
    wait_until(lambda: all(_state_ok(n) for n in cluster.nodes), 60, interval=0.2,
               what="cluster_state:ok everywhere after the restart")
    fix = cli("--cluster", "fix", cluster.addr(cluster.nodes[2]), "--cluster-yes")
    assert fix.returncode == 0, fix.stdout[-4000:] + fix.stderr
    cluster.wait_healthy()
    assert all(not _open_marks(n) for n in cluster.nodes)
    assert_each_key_once(cluster, expected)

    # The rest of the move: run the same kind of reshard again.
    remaining = len(_owned(source) & set(range(SLOTS)))
    if remaining:
        again = cluster.reshard(source, target, remaining)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    with source.client() as c:
        assert c.dbsize() == 0
    check = cluster.check()
    if check.returncode != 0:
        # The race of redis-cli 7.0's fix (BUMPEPOCH on the source, then the move to a
        # target that has not heard of that epoch yet; see ClusterNode.
        # _slots_lost_with_keys) can take a just-imported slot back from the target.
        # Redis would delete its keys; AiKv keeps them, and fix covers the slot again.
        assert "Not all 16384 slots are covered" in check.stdout, check.stdout[-2000:]
        _cover_with_fix(cluster)
    assert_each_key_once(cluster, expected)


def _cover_with_fix(cluster: Cluster) -> None:
    """`redis-cli --cluster fix` of an uncovered slot; covering one asks for a typed "yes"
    even with --cluster-yes."""
    fix = cli("--cluster", "fix", cluster.addr(cluster.nodes[2]), "--cluster-yes",
              input_text="yes\n")
    assert fix.returncode == 0, fix.stdout[-4000:] + fix.stderr
    cluster.wait_healthy()
    assert cluster.check().returncode == 0


def test_keys_survive_losing_their_slot_to_a_higher_epoch(spawn: Callable[..., ServerProcess]) -> None:
    """What that race leaves, made on purpose: another master claims a slot with a
    greater configEpoch and then stops claiming it. The old owner keeps the slot's keys
    (Redis would delete them), the slot is uncovered, and fix gives it back to them."""
    cluster = Cluster(spawn, ["aikv"] * 3)
    cluster.create()
    owner, other = cluster.nodes[0], cluster.nodes[1]
    slot = 7  # create gives 0-5460 to the first node
    populate(owner.client(), [slot], per_slot=10)
    with owner.client() as c:
        expected = snapshot(c, cluster.owners().keys())
    other_id = cluster.node_id(other)
    with other.client() as c:
        c.execute_command("CLUSTER", "BUMPEPOCH")
        c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", other_id)

    def lost() -> bool:
        with owner.client() as c:
            return any(line.startswith(other_id) and f" {slot}" in line
                       for line in c.execute_command("CLUSTER", "NODES").decode().splitlines())

    wait_until(lost, 20, what="the owner to hand the slot over in its view")
    with owner.client() as c:
        assert c.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 10
    assert f"Lost hash slot {slot} to {other_id} while holding 10 keys" in owner.log()
    with other.client() as c:
        c.execute_command("CLUSTER", "DELSLOTS", slot)
    wait_until(lambda: "Not all 16384 slots are covered" in cluster.check().stdout, 20,
               what="check to see the slot uncovered")
    _cover_with_fix(cluster)
    assert_each_key_once(cluster, expected)
    with owner.client() as c:
        assert c.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 10



def _state_ok(node: ServerProcess) -> bool:
    with node.client(socket_timeout=2) as c:
        if b"cluster_state:ok" not in c.execute_command("CLUSTER", "INFO"):
            return False
        flags = [line.split(" ")[2] for line in
                 c.execute_command("CLUSTER", "NODES").decode().splitlines()]
    return not any("fail" in f.split(",") or "handshake" in f for f in flags)


def _owned(node: ServerProcess) -> set[int]:
    """Slots the node's own CLUSTER NODES line says it serves."""
    slots: set[int] = set()
    with node.client() as c:
        for line in c.execute_command("CLUSTER", "NODES").decode().splitlines():
            fields = line.split(" ")
            if "myself" in fields[2]:
                for token in fields[8:]:
                    if not token.startswith("["):
                        lo, _, hi = token.partition("-")
                        slots.update(range(int(lo), int(hi or lo) + 1))
    return slots
