"""CLUSTER command replies on live AiKv nodes: error texts from cluster-errors.json, a slot
move by SETSLOT (marks, ASK, epoch bump, convergence), BUMPEPOCH, FORGET, RESET."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable

import pytest
import redis

from tests.integration.test_cluster_bus import (
    Proc,
    cluster_ok,
    consistent,
    form_cluster,
    spawn,  # noqa: F401  (fixture)
    wait_for,
)


def raw(port: int, request: bytes) -> bytes:
    """Send one request and return the raw reply bytes (read until the peer is idle)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        sock.settimeout(0.3)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
    return data


def err(client: redis.Redis, *args: object) -> str:
    with pytest.raises(redis.ResponseError) as info:
        client.execute_command(*args)
    return str(info.value)


def test_single_node_replies(spawn: Callable[[str], Proc]) -> None:  # noqa: F811
    p = spawn("aikv")
    c = p.client()
    me = p.myid()
    assert c.execute_command("CLUSTER", "KEYSLOT", "foo") == 12182
    assert c.execute_command("CLUSTER", "KEYSLOT", "{user1000}.following") == 3443
    assert c.execute_command("CLUSTER", "KEYSLOT", "foo{}{bar}") == 8363
    assert c.execute_command("CLUSTER", "COUNTKEYSINSLOT", 100) == 0
    assert err(c, "CLUSTER", "COUNTKEYSINSLOT", 16384) == "Invalid slot"
    assert err(c, "CLUSTER", "GETKEYSINSLOT", 100, -1) == "Invalid slot or number of keys"
    assert c.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383) in (True, "OK", b"OK")
    assert err(c, "CLUSTER", "ADDSLOTS", 0) == "Slot 0 is already busy"
    assert err(c, "CLUSTER", "ADDSLOTSRANGE", 5, 3) == "start slot number 5 is greater than end slot number 3"
    assert err(c, "CLUSTER", "DELSLOTS", 99999) == "Invalid or out of range slot"
    assert err(c, "CLUSTER", "SETSLOT", 200, "MIGRATING", "f" * 40) == f"I don't know about node {'f' * 40}"
    assert err(c, "CLUSTER", "SETSLOT", 50, "IMPORTING", me) == "I'm already the owner of hash slot 50"
    assert err(c, "CLUSTER", "SETSLOT", 50, "BOGUS") == (
        "Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"
    )
    assert err(c, "CLUSTER", "SETSLOT", 16384, "STABLE") == "Invalid or out of range slot"
    assert err(c, "CLUSTER", "MEET", "127.0.0.1", "notaport") == "Invalid TCP base port specified: notaport"
    assert err(c, "CLUSTER", "MEET", "not-an-ip", "7000") == "Invalid node address specified: not-an-ip:7000"
    assert err(c, "CLUSTER", "FORGET", me) == "I tried hard but I can't forget myself..."
    assert err(c, "CLUSTER", "FORGET", "f" * 40) == f"Unknown node {'f' * 40}"
    assert err(c, "CLUSTER", "NOSUCH") == "unknown subcommand 'NOSUCH'. Try CLUSTER HELP."
    assert c.execute_command("CLUSTER", "COUNT-FAILURE-REPORTS", me) == 0
    assert c.execute_command("CLUSTER", "REPLICAS", me) == []
    # a lone node with epoch 0 bumps, then holds the max
    assert c.execute_command("CLUSTER", "BUMPEPOCH") == "BUMPED 1"
    assert c.execute_command("CLUSTER", "BUMPEPOCH") == "STILL 1"
    assert err(c, "CLUSTER", "SET-CONFIG-EPOCH", 5) == "Node config epoch is already non-zero"
    # byte-exact: a node nobody has MEETed yet does not know its own ip
    assert raw(p.port, b"*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n") == (
        b"*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$0\r\n\r\n:%d\r\n$40\r\n%s\r\n*0\r\n" % (p.port, me.encode())
    )
    # the whole range is ours: the state turns ok after the start-up delay
    wait_for(lambda: cluster_ok(p), 10, "single-node cluster ok")
    assert c.set("foo", "1")
    assert c.execute_command("CLUSTER", "COUNTKEYSINSLOT", 12182) == 1
    assert c.execute_command("CLUSTER", "GETKEYSINSLOT", 12182, 10) == ["foo"]
    assert err(c, "CLUSTER", "FLUSHSLOTS") == "DB must be empty to perform CLUSTER FLUSHSLOTS."
    assert err(c, "CLUSTER", "RESET") == "CLUSTER RESET can't be called with master nodes containing keys"
    c.delete("foo")
    assert c.execute_command("CLUSTER", "RESET", "HARD")
    assert p.myid() != me
    assert p.nodes().count("\n") == 1
    assert "cluster_current_epoch:0" in str(c.execute_command("CLUSTER", "INFO"))


def test_slot_move_by_setslot(spawn: Callable[[str], Proc]) -> None:  # noqa: F811
    procs = [spawn("aikv") for _ in range(3)]
    form_cluster(procs)
    wait_for(lambda: consistent(procs), 15, "signatures")
    wait_for(lambda: all(cluster_ok(p) for p in procs), 15, "cluster ok")
    src, dst, other = procs
    src_id, dst_id = src.myid(), dst.myid()
    s, d = src.client(), dst.client()
    assert d.execute_command("CLUSTER", "SETSLOT", 100, "importing", src_id)
    assert s.execute_command("CLUSTER", "SETSLOT", 100, "migrating", dst_id)
    assert f"[100->-{dst_id}]" in src.nodes()
    assert f"[100-<-{src_id}]" in dst.nodes()
    # a missing key on the source is redirected with ASK; the target serves it after ASKING
    with pytest.raises(redis.exceptions.AskError) as ask:
        s.get("{t10648}a")
    assert str(ask.value) == f"100 127.0.0.1:{dst.port}"
    with pytest.raises(redis.exceptions.MovedError):
        d.get("{t10648}a")
    pipe = d.pipeline(transaction=False)
    pipe.execute_command("ASKING")
    pipe.set("{t10648}a", "moved")
    assert pipe.execute() == [True, True]
    # finish: target first (bumps its epoch), then the others
    before = int(str(d.execute_command("CLUSTER", "INFO")).split("cluster_my_epoch:")[1].split()[0])
    assert d.execute_command("CLUSTER", "SETSLOT", 100, "node", dst_id)
    after = int(str(d.execute_command("CLUSTER", "INFO")).split("cluster_my_epoch:")[1].split()[0])
    assert after > before
    assert s.execute_command("CLUSTER", "SETSLOT", 100, "node", dst_id)
    wait_for(lambda: consistent(procs), 15, "signatures after the move")
    for p in procs:
        line = next(x for x in p.nodes().split("\n") if x.startswith(dst_id))
        assert "100" in line.split()[8:], line
    assert "[" not in src.nodes() and "[" not in dst.nodes()
    assert other.client().execute_command("CLUSTER", "KEYSLOT", "{t10648}a") == 100
    with pytest.raises(redis.exceptions.MovedError) as moved:
        other.client().get("{t10648}a")
    assert str(moved.value) == f"100 127.0.0.1:{dst.port}"
    assert d.get("{t10648}a") == "moved"


def test_forget_and_bumpepoch_in_cluster(spawn: Callable[[str], Proc]) -> None:  # noqa: F811
    procs = [spawn("aikv") for _ in range(3)]
    form_cluster(procs)
    wait_for(lambda: consistent(procs), 15, "signatures")
    a, b, c = procs
    assert err(a.client(), "CLUSTER", "SET-CONFIG-EPOCH", 5) == (
        "The user can assign a config epoch only when the node does not know any other node."
    )
    # node 3 holds the max epoch (3): STILL; node 1 (epoch 1) bumps to 4
    assert c.client().execute_command("CLUSTER", "BUMPEPOCH") == "STILL 3"
    assert a.client().execute_command("CLUSTER", "BUMPEPOCH") == "BUMPED 4"
    gone = c.myid()
    assert a.client().execute_command("CLUSTER", "FORGET", gone)
    assert gone not in a.nodes()
    # b still gossips about c, but the blacklist keeps it out of a for 60 s
    wait_for(lambda: "cluster_stats_messages_ping_received" in str(a.client().execute_command("CLUSTER", "INFO")), 5, "pings")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert gone not in a.nodes()
        time.sleep(0.2)


def test_replicate_changes_topology_everywhere(spawn: Callable[[str], Proc]) -> None:  # noqa: F811
    procs = [spawn("aikv") for _ in range(3)]
    form_cluster(procs)
    wait_for(lambda: consistent(procs), 15, "signatures")
    extra = spawn("aikv")
    master_id = procs[0].myid()
    e = extra.client()
    assert err(e, "CLUSTER", "REPLICATE", master_id) == f"Unknown node {master_id}"
    assert err(e, "CLUSTER", "FAILOVER") == "You should send CLUSTER FAILOVER to a replica"
    e.execute_command("cluster", "meet", "127.0.0.1", procs[0].port)
    wait_for(lambda: master_id in extra.nodes(), 10, "the new node to learn the master")
    assert err(e, "CLUSTER", "REPLICATE", extra.myid()) == "Can't replicate myself"
    assert e.execute_command("CLUSTER", "REPLICATE", master_id)
    replica_id = extra.myid()

    def seen_as_replica(p: Proc) -> bool:
        line = next((x for x in p.nodes().split("\n") if x.startswith(replica_id)), "")
        return "slave" in line.split(" ")[2:3][0] if line else False

    wait_for(lambda: all(seen_as_replica(p) for p in [*procs, extra]), 15, "replica role everywhere")
    assert err(procs[1].client(), "CLUSTER", "REPLICATE", replica_id) == "I can only replicate a master, not a replica."
    # The flag can arrive (handshake completion copies the header's role bits) one message
    # before the master id does, in Redis too: wait for the pair.
    lines = wait_for(lambda: procs[1].client().execute_command("CLUSTER", "REPLICAS", master_id),
                     15, "the replica listed under its master")
    assert len(lines) == 1 and lines[0].startswith(replica_id) and f"slave {master_id}" in lines[0]
    assert err(e, "CLUSTER", "FORGET", master_id) == "Can't forget my master!"
    assert err(e, "CLUSTER", "SETSLOT", 1, "STABLE") == "Please use SETSLOT only with masters."
    wait_for(lambda: all(cluster_ok(p) for p in [*procs, extra]), 15, "cluster ok with a replica")
    # The replica holds its master's data: a READONLY read is answered here, a plain one
    # or a write is sent to the master.
    m = procs[0].client()
    ranges = [(r[0], r[1]) for r in m.execute_command("CLUSTER", "SLOTS")
              if r[2][2] == master_id]
    key = next(k for k in (f"key{i}" for i in range(1000))
               if any(lo <= m.execute_command("CLUSTER", "KEYSLOT", k) <= hi for lo, hi in ranges))
    assert m.set(key, "v")
    slot = m.execute_command("CLUSTER", "KEYSLOT", key)
    assert err(e, "GET", key) == f"{slot} 127.0.0.1:{procs[0].port}"  # MOVED
    assert e.execute_command("READONLY")
    wait_for(lambda: e.get(key) == "v", 15, "the replica to hold its master's data")
    assert err(e, "SET", key, "w") == f"{slot} 127.0.0.1:{procs[0].port}"  # MOVED


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_asking_is_spent_by_a_redirected_command(spawn: Callable[[str], Proc], kind: str) -> None:  # noqa: F811
    """Redis resets ASKING after every command outside MULTI, a redirected one included
    (and counts the redirect as a rejected call): the next command to an importing slot
    without a fresh ASKING is MOVED. Checked on AiKv and on redis-server alike."""
    procs = [spawn(kind) for _ in range(3)]
    form_cluster(procs)
    wait_for(lambda: consistent(procs), 15, "signatures")
    wait_for(lambda: all(cluster_ok(p) for p in procs), 15, "cluster ok")
    src, dst, other = procs
    d = dst.client()
    assert d.execute_command("CLUSTER", "SETSLOT", 100, "importing", src.myid())
    assert d.execute_command("CLUSTER", "KEYSLOT", "foo") == 12182  # served by `other`
    pipe = d.pipeline(transaction=False)
    pipe.execute_command("ASKING")
    pipe.get("foo")  # redirected even with ASKING: not an importing slot
    pipe.set("{t10648}b", "x")  # slot 100, importing, but ASKING is spent
    pipe.execute_command("ASKING")
    pipe.set("{t10648}c", "y")  # a fresh ASKING lets it in
    ok, moved_foo, moved_b, ok2, set_c = pipe.execute(raise_on_error=False)
    assert isinstance(moved_foo, redis.exceptions.MovedError), moved_foo
    assert str(moved_foo) == f"12182 127.0.0.1:{other.port}"
    assert isinstance(moved_b, redis.exceptions.MovedError), moved_b
    assert str(moved_b) == f"100 127.0.0.1:{src.port}"
    assert set_c is True
    stats = d.info("commandstats")
    assert stats["cmdstat_get"]["rejected_calls"] == 1
    assert stats["cmdstat_set"]["rejected_calls"] == 1 and stats["cmdstat_set"]["calls"] == 1


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _link_to(proc: Proc, peer_id: object) -> dict:
    links = proc.client().execute_command("CLUSTER", "LINKS")
    for entry in links:
        fields = {(k.decode() if isinstance(k, bytes) else k): v for k, v in (
            entry.items() if isinstance(entry, dict) else zip(entry[::2], entry[1::2],
                                                              strict=True))}
        node, direction = fields["node"], fields.get("direction", fields.get("dir"))
        if _text(node) == _text(peer_id) and _text(direction) == "to":
            return fields
    raise AssertionError(f"no link to {peer_id!r}: {links!r}")


def test_a_link_over_its_send_buffer_limit_is_freed(spawn: Callable[[str], Proc]) -> None:  # noqa: F811
    """cluster-link-sendbuf-limit (Redis's cluster test 24-links): while a peer stops
    reading, published messages fill the link's send buffer; past the limit the link is
    freed, counted in CLUSTER INFO, and a new one is made once the peer reads again."""
    procs = [spawn("aikv") for _ in range(2)]
    form_cluster(procs)
    wait_for(lambda: all(cluster_ok(p) for p in procs), 15, "cluster_state:ok")
    a, b = procs
    a_client = a.client()
    a_client.config_set("cluster-node-timeout", 3_600_000)  # no failure detection meanwhile
    a_client.config_set("cluster-link-sendbuf-limit", 256 * 1024)
    b_id = b.client().execute_command("CLUSTER", "MYID")
    before = _link_to(a, b_id)["create-time"]
    assert b.proc is not None
    b.proc.send_signal(signal.SIGSTOP)
    try:
        def exceeded() -> bool:
            a_client.publish("channel", b"x" * 128 * 1024)
            info = _text(a_client.execute_command("CLUSTER", "INFO"))
            return "total_cluster_links_buffer_limit_exceeded:0" not in info
        wait_for(exceeded, 60, "the link to be freed")
    finally:
        b.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: _link_to(a, b_id)["create-time"] > before, 15, "a new link")
    wait_for(lambda: all(cluster_ok(p) for p in procs), 15, "cluster_state:ok again")


def test_shard_channels_stay_on_a_migrating_source(spawn: Callable[[str], Proc]) -> None:  # noqa: F811
    """Redis's cluster test 25-pubsubshard-slot-migration: while a slot migrates, its
    shard channels are served by the source (a channel is never a missing key); the
    subscriber gets sunsubscribe once the slot's owner changes."""
    procs = [spawn("aikv") for _ in range(2)]
    form_cluster(procs)
    wait_for(lambda: all(cluster_ok(p) for p in procs), 15, "cluster_state:ok")
    a, b = procs
    slot = a.client().execute_command("CLUSTER", "KEYSLOT", "mychannel")
    source, target = (a, b) if slot < 8192 else (b, a)
    src, dst = source.client(), target.client()
    src_id, dst_id = src.execute_command("CLUSTER", "MYID"), dst.execute_command("CLUSTER", "MYID")
    sub = socket.create_connection(("127.0.0.1", source.port), timeout=5)
    try:
        sub.sendall(b"*2\r\n$10\r\nSSUBSCRIBE\r\n$9\r\nmychannel\r\n")
        assert b"ssubscribe" in sub.recv(1024)
        assert src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        assert dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        assert src.execute_command("SPUBLISH", "mychannel", "hello") == 1
        assert b"hello" in sub.recv(1024)
        assert src.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        assert b"sunsubscribe" in sub.recv(1024)
    finally:
        sub.close()


# Arguments that Redis's clusterCommand reads strictly (getSlotOrReply is string2ll: no
# spaces, sign or leading zeros) and argument counts its table lets through but
# clusterCommand itself refuses (found by a differential fuzz of CLUSTER subcommands).
ARGUMENT_EDGES = [
    ("DELSLOTS", " 1", "10"),
    ("DELSLOTS", "0" * 40),
    ("ADDSLOTS", "00"),
    ("ADDSLOTS", "+5"),
    ("ADDSLOTS", "-0"),
    ("ADDSLOTS", "5 "),
    ("ADDSLOTS", "1_0"),
    ("SETSLOT", " 1", "STABLE", "foo"),
    ("SETSLOT", "01", "NODE", "x"),
    ("DELSLOTSRANGE", "100", "0" * 40),
    # each range is checked before the next is parsed
    ("DELSLOTSRANGE", "0", "16383", "0" * 40, "5"),
    ("ADDSLOTSRANGE", "0", "5", "x", "9"),
    ("ADDSLOTSRANGE", "200", "300", "250", "260"),
    ("RESET", "SOFT", "HARD"),
    ("reset", "a", "b", "c"),
    ("MEET", "127.0.0.1", "7000", "17000", "extra"),
    ("FAILOVER", "FORCE", "TAKEOVER"),
    ("COUNTKEYSINSLOT", " 1"),
    ("GETKEYSINSLOT", "1", "01"),
    ("SET-CONFIG-EPOCH", "+1"),
]


def test_argument_edges_as_redis(spawn: Callable[[str], Proc]) -> None:  # noqa: F811
    """The same CLUSTER requests to a lone AiKv node and a lone redis-server node (each
    holding slots 0-100): the same reply bytes."""
    from tests.differ import RawConnection

    replies: dict[str, list[bytes]] = {}
    for kind in ("aikv", "redis"):
        proc = spawn(kind)
        conn = RawConnection(proc.port)
        try:
            assert conn.call("CLUSTER", "ADDSLOTSRANGE", "0", "100") == b"+OK\r\n"
            replies[kind] = [conn.call("CLUSTER", *args) for args in ARGUMENT_EDGES]
        finally:
            conn.close()
    for args, ours, theirs in zip(ARGUMENT_EDGES, replies["aikv"], replies["redis"], strict=True):
        assert ours == theirs, (args, ours, theirs)
