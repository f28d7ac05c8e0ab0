"""Chained replication: an AiKv replica serving replicas of its own (sub-replicas), as a
Redis 7.0 replica does. The middle node relays its master's stream byte for byte, so
the three nodes share one replication id and one numbering of the stream; a
sub-replica that loses its link continues with a partial resynchronisation, and keeps
doing so when the middle node is promoted. Real processes on both ends (an AiKv or a
redis-server master, an AiKv or a redis-server sub-replica); datasets compared whole
with DEBUG DIGEST."""

from __future__ import annotations

from collections.abc import Callable

import redis

from tests.harness import ServerProcess, wait_until
from tests.integration.replication_data import digest, populate

DEBUG = ["--enable-debug-command", "yes"]


def _replica_of(spawn: Callable[..., ServerProcess], kind: str, master: ServerProcess
                ) -> ServerProcess:
    return spawn(kind, args=[*(DEBUG if kind == "redis" else []),
                             "--replicaof", "127.0.0.1", str(master.port)])


def _offset(r: redis.Redis) -> int:
    return int(r.info("replication")["master_repl_offset"])


def _caught_up(top: redis.Redis, *replicas: redis.Redis) -> bool:
    offset = _offset(top)
    for replica in replicas:
        info = replica.info("replication")
        if info.get("master_link_status") != "up" or info["slave_repl_offset"] != offset:
            return False
    return True


def _same_data(top: redis.Redis, *replicas: redis.Redis) -> None:
    """Every replica applied the whole stream, and holds `top`'s dataset."""
    def equal() -> bool:
        want = digest(top)
        return _caught_up(top, *replicas) and all(digest(r) == want for r in replicas)

    wait_until(equal, 30, 0.05, "the chain to catch up with equal digests")


def _stats(r: redis.Redis) -> tuple[int, int]:
    stats = r.info("stats")
    return int(stats["sync_full"]), int(stats["sync_partial_ok"])


def _writes(r: redis.Redis, tag: str) -> None:
    """Commands of several kinds, some sent as their effect, in two databases."""
    r.incrbyfloat(f"f-{tag}", 1.5)
    r.set(f"ex-{tag}", "v", ex=500)
    r.spop("strs")
    r.rpush("l", *[f"{tag}-{i}" for i in range(20)])
    pipe = r.pipeline(transaction=True)
    pipe.incr("counter").zincrby("z", 2.5, "m1").hset("h", tag, "1").execute()
    r.xadd("st", {"f": tag})


def _chain(spawn: Callable[..., ServerProcess], top_kind: str, sub_kind: str
           ) -> tuple[ServerProcess, ServerProcess, ServerProcess]:
    """top (populated) -> an AiKv middle -> a sub-replica, with writes going on while the
    sub-replica's full synchronisation runs."""
    top = spawn(top_kind, args=DEBUG if top_kind == "redis" else [])
    top_r = top.client()
    populate(top_r)
    middle = _replica_of(spawn, "aikv", top)
    middle_r = middle.client()
    wait_until(lambda: _caught_up(top_r, middle_r), 30, 0.05, "the middle node's sync")
    # The master's stream is left in database 4: the stream that follows the middle
    # node's RDB file goes on there without a SELECT (repl-stream-db says where).
    top4 = top.client(db=4)
    top4.set("db4-before", "1")
    sub = _replica_of(spawn, sub_kind, middle)
    for i in range(30):
        top4.set(f"during-sync-{i}", i)
    _same_data(top_r, middle_r, sub.client())
    # The first command after the sub-replica's sync comes without a SELECT.
    top4.set("db4-after", "2")
    _same_data(top_r, middle_r, sub.client())
    assert sub.client(db=4).get("db4-after") == b"2"
    return top, middle, sub


def _check_chain(top: ServerProcess, middle: ServerProcess, sub: ServerProcess) -> None:
    top_r, middle_r, sub_r = top.client(), middle.client(), sub.client()
    _writes(top_r, "a")
    _same_data(top_r, middle_r, sub_r)
    assert digest(top_r) != b"0" * 40
    # One history along the chain: the master's id and offsets, everywhere.
    top_info = top_r.info("replication")
    info = middle_r.info("replication")
    assert info["role"] == "slave" and info["master_link_status"] == "up"
    assert info["connected_slaves"] == 1
    assert info["slave0"]["port"] == sub.port and info["slave0"]["state"] == "online"
    assert info["master_replid"] == top_info["master_replid"]
    assert info["master_repl_offset"] == top_info["master_repl_offset"]
    assert sub_r.info("replication")["master_replid"] == top_info["master_replid"]
    role = middle_r.execute_command("ROLE")
    assert role[:4] == [b"slave", b"127.0.0.1", top.port, b"connected"]
    assert role[4] == top_info["master_repl_offset"]
    # The sub-replica's acknowledgements reach the middle node.
    wait_until(lambda: middle_r.info("replication")["slave0"]["offset"]
               == top_r.info("replication")["master_repl_offset"], 10, 0.05,
               "the sub-replica's ACK")
    try:
        middle_r.execute_command("WAIT", 1, 100)
        raise AssertionError("WAIT ran on a replica")
    except redis.ResponseError as exc:
        assert str(exc).startswith("WAIT cannot be used with replica instances.")


def test_aikv_master_aikv_middle_aikv_sub_replica(spawn: Callable[..., ServerProcess]
                                                  ) -> None:
    top, middle, sub = _chain(spawn, "aikv", "aikv")
    _check_chain(top, middle, sub)
    assert _stats(middle.client()) == (1, 0)

    # The middle node's own link is lost: it continues (+CONTINUE), and its
    # sub-replica stays attached, without any resynchronisation.
    top_r, middle_r, sub_r = top.client(), middle.client(), sub.client()
    assert int(top_r.execute_command("CLIENT", "KILL", "TYPE", "replica")) == 1
    _writes(top_r, "b")
    wait_until(lambda: top_r.info("replication")["connected_slaves"] == 1, 30, 0.05,
               "the middle node to reconnect")
    _same_data(top_r, middle_r, sub_r)
    assert _stats(top_r)[1] == 1  # the middle node continued
    assert _stats(middle_r) == (1, 0)


def test_redis_master_aikv_middle_redis_sub_replica(spawn: Callable[..., ServerProcess]
                                                    ) -> None:
    """A real redis-server downstream: it takes the RDB file the middle node writes, and
    the stream relayed from a real redis-server master (its PINGs and SELECTs
    included), at the master's offsets."""
    top, middle, sub = _chain(spawn, "redis", "redis")
    _check_chain(top, middle, sub)
    # The master PINGs every second here: the relayed PINGs count in the offsets.
    top.client().config_set("repl-ping-replica-period", 1)
    before = _offset(top.client())
    wait_until(lambda: _offset(top.client()) > before, 10, 0.05, "a PING from the master")
    _same_data(top.client(), middle.client(), sub.client())


def test_sub_replica_continues_after_a_lost_link(spawn: Callable[..., ServerProcess]
                                                 ) -> None:
    top, middle, sub = _chain(spawn, "aikv", "redis")
    top_r, middle_r, sub_r = top.client(), middle.client(), sub.client()
    full, partial = _stats(middle_r)
    for round_ in range(2):
        assert int(middle_r.execute_command("CLIENT", "KILL", "TYPE", "replica")) == 1
        _writes(top_r, f"k{round_}")
        wait_until(lambda: middle_r.info("replication")["connected_slaves"] == 1, 30, 0.05,
                   "the sub-replica to reconnect")
        _same_data(top_r, middle_r, sub_r)
    assert _stats(middle_r) == (full, partial + 2)


def test_promoted_middle_node_keeps_its_sub_replica(spawn: Callable[..., ServerProcess]
                                                    ) -> None:
    top, middle, sub = _chain(spawn, "aikv", "aikv")
    top_r, middle_r, sub_r = top.client(), middle.client(), sub.client()
    old_replid = top_r.info("replication")["master_replid"]
    full, partial = _stats(middle_r)
    assert middle_r.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    info = middle_r.info("replication")
    assert info["role"] == "master"
    # Its stream goes on under a new id; the master's is valid up to where it stood.
    assert info["master_replid2"] == old_replid != info["master_replid"]
    assert info["second_repl_offset"] == info["master_repl_offset"] + 1
    # The sub-replica was disconnected (the id changed) and continues from the backlog.
    wait_until(lambda: middle_r.info("replication")["connected_slaves"] == 1
               and middle_r.info("replication")["slave0"]["state"] == "online", 30, 0.05,
               "the sub-replica to come back")
    _writes(middle_r, "promoted")
    _same_data(middle_r, sub_r)
    assert _stats(middle_r) == (full, partial + 1)
    assert sub_r.info("replication")["master_replid"] == info["master_replid"]
    assert digest(middle_r) != digest(top_r)  # the old master is left behind


def test_full_resync_of_the_middle_node_resyncs_its_sub_replica(
        spawn: Callable[..., ServerProcess]) -> None:
    """A new dataset on the middle node (a new master, not sharing its history): the
    sub-replica is disconnected and synchronised again in full, as Redis's
    replicationAttachToNewMaster does."""
    top, middle, sub = _chain(spawn, "aikv", "aikv")
    middle_r, sub_r = middle.client(), sub.client()
    other = spawn("aikv")
    other_r = other.client()
    other_r.set("other", "dataset")
    full, _ = _stats(middle_r)
    assert middle_r.execute_command("REPLICAOF", "127.0.0.1", other.port) == b"OK"
    wait_until(lambda: _stats(middle_r)[0] == full + 1, 30, 0.05,
               "the sub-replica's new full sync")
    other_r.set("more", "x")
    _same_data(other_r, middle_r, sub_r)
    assert sub_r.get("other") == b"dataset" and sub_r.get("s") is None
    assert sub_r.info("replication")["master_replid"] == \
        other_r.info("replication")["master_replid"]


def test_failover_leaves_the_other_replica_following_the_old_master(
        spawn: Callable[..., ServerProcess]) -> None:
    """FAILOVER on a master with two replicas: the target becomes the master, the old
    master its replica, and the other replica, still pointed at the old master,
    continues as its sub-replica with a partial resynchronisation (as with Redis)."""
    old = spawn("aikv")
    old_r = old.client()
    populate(old_r)
    target = _replica_of(spawn, "aikv", old)
    other = _replica_of(spawn, "redis", old)
    target_r, other_r = target.client(), other.client()
    _same_data(old_r, target_r, other_r)
    assert old_r.execute_command("FAILOVER", "TO", "127.0.0.1", target.port,
                                 "TIMEOUT", "10000") == b"OK"
    wait_until(lambda: target_r.info("replication")["role"] == "master"
               and old_r.info("replication").get("master_link_status") == "up"
               and old_r.info("replication")["connected_slaves"] == 1
               and old_r.info("replication")["slave0"]["state"] == "online", 30, 0.05,
               "the old master to follow the target and serve the other replica")
    target_r.set("after-failover", "y")
    _writes(target_r, "f")
    _same_data(target_r, old_r, other_r)
    assert other_r.get("after-failover") == b"y"
    assert _stats(old_r) == (2, 1)  # the two first syncs; the other replica continued
