"""Redirection decisions, checked against the replies captured in cluster-errors.json."""

from __future__ import annotations

import json

from aikv.cluster import nodeflags as nf
from aikv.cluster.routing import blocked_client_error, route
from aikv.cluster.slots import key_hash_slot
from aikv.cluster.state import ClusterState, NodeRecord
from tests.harness import shared_dir

ID1 = "d6db14b3d426415295516ece82eda168b8cc20c7"  # 7101
ID2 = "0e222c93ae9952f37985684d936da2b796c0f8d7"  # 7102
ID3 = "d73c88c9ca1148e37b9d6eddcc37e96bc3f4cf84"  # 7103
PORTS = {ID1: 7101, ID2: 7102, ID3: 7103}
FIXTURE = shared_dir() / "fixtures" / "cluster-replies" / "cluster-errors.json"


def mid_migration(me: str) -> ClusterState:
    """The mid-migration stage: slot 100 MIGRATING 7101 -> 7102."""
    st = ClusterState(me, node_timeout=2000)
    st.myself.ip, st.myself.port = "127.0.0.1", PORTS[me]
    for node_id, port in PORTS.items():
        if node_id != me:
            st.add_node(NodeRecord(node_id, nf.MASTER, ip="127.0.0.1", port=port, cport=port + 10000))
    for lo, hi, owner in ((0, 5460, ID1), (5461, 10922, ID2), (10923, 16383, ID3)):
        for s in range(lo, hi + 1):
            st.add_slot(st.nodes[owner], s)
    if me == ID1:
        st.migrating_to[100] = st.nodes[ID2]
    if me == ID2:
        st.importing_from[100] = st.nodes[ID1]
    st.state_ok = True
    return st


KEYS = {ID1: {b"{t10648}a", b"{t10648}b"}, ID2: {b"{t10648}c"}, ID3: set()}


def run(me: str, keys: list[bytes], *, write: bool = False, asking: bool = False, readonly: bool = False) -> str | None:
    st = mid_migration(me)
    return route(st, keys, is_write=write, key_exists=lambda k: k in KEYS[me], asking=asking, readonly=readonly)


def test_fixture_slot_of_tag() -> None:
    assert key_hash_slot(b"{t10648}a") == 100


def test_source_serves_present_key() -> None:
    assert run(ID1, [b"{t10648}a"]) is None


def test_source_asks_for_missing_key() -> None:
    assert run(ID1, [b"{t10648}missing"]) == "ASK 100 127.0.0.1:7102"
    assert run(ID1, [b"{t10648}x", b"{t10648}y"]) == "ASK 100 127.0.0.1:7102"
    assert run(ID1, [b"{t10648}newkey"], write=True) == "ASK 100 127.0.0.1:7102"


def test_source_tryagain_when_partly_moved() -> None:
    assert run(ID1, [b"{t10648}a", b"{t10648}missing"]) == "TRYAGAIN Multiple keys request during rehashing of slot"


def test_importing_without_asking_is_moved() -> None:
    assert run(ID2, [b"{t10648}a"]) == "MOVED 100 127.0.0.1:7101"


def test_importing_with_asking() -> None:
    assert run(ID2, [b"{t10648}a"], asking=True) is None
    assert run(ID2, [b"{t10648}c"], write=True, asking=True) is None
    assert run(ID2, [b"{t10648}c", b"{t10648}zz"], asking=True) == "TRYAGAIN Multiple keys request during rehashing of slot"
    # the same key twice is not a multi-key request
    assert run(ID2, [b"{t10648}c", b"{t10648}c"], asking=True) is None


def test_unrelated_node_moves_and_crossslot() -> None:
    assert run(ID3, [b"{t10648}a"]) == "MOVED 100 127.0.0.1:7101"
    assert run(ID1, [b"foo", b"bar"]) == "CROSSSLOT Keys in request don't hash to the same slot"
    assert run(ID1, [b"foo"]) == "MOVED 12182 127.0.0.1:7103"
    # READONLY only helps replicas
    assert run(ID1, [b"foo"], readonly=True) == "MOVED 12182 127.0.0.1:7103"


def test_fixture_replies_agree() -> None:
    data = json.loads(FIXTURE.read_text())
    ids = {7101: ID1, 7102: ID2, 7103: ID3}
    asking = False
    checked = 0
    for entry in data["replies"]:
        cmd = entry["command"]
        name = cmd[0].upper()
        if name == "ASKING":
            asking = True
            continue
        if name not in ("GET", "MGET", "SET"):
            continue
        keys = [k.encode() for k in (cmd[1:] if name == "MGET" else cmd[1:2])]
        me = ids[entry["port"]]
        raw = entry["reply_raw"]
        got = run(me, keys, write=name == "SET", asking=asking)
        asking = False
        if raw.startswith("-") and raw.split()[0][1:] in ("MOVED", "ASK", "TRYAGAIN", "CROSSSLOT"):
            assert got == raw[1:-2], (cmd, raw)
        else:
            assert got is None, (cmd, raw)
        checked += 1
    assert checked >= 10


def test_unassigned_slot_and_cluster_down() -> None:
    st = mid_migration(ID1)
    st.del_slot(key_hash_slot(b"foo"))
    assert route(st, [b"foo"], is_write=False, key_exists=lambda k: False) == "CLUSTERDOWN Hash slot not served"
    st = mid_migration(ID1)
    st.state_ok = False
    assert route(st, [b"{t10648}a"], is_write=False, key_exists=lambda k: True) == "CLUSTERDOWN The cluster is down"
    assert route(st, [b"{t10648}a"], is_write=False, key_exists=lambda k: True, allow_reads_when_down=True) is None
    assert (
        route(st, [b"{t10648}a"], is_write=True, key_exists=lambda k: True, allow_reads_when_down=True)
        == "CLUSTERDOWN The cluster is down and only accepts read commands"
    )
    # CROSSSLOT is decided before the cluster state
    assert route(st, [b"foo", b"bar"], is_write=False, key_exists=lambda k: True) == "CROSSSLOT Keys in request don't hash to the same slot"


def test_no_keys_served_locally() -> None:
    assert run(ID3, []) is None


def test_migrate_runs_locally_on_open_slot() -> None:
    st = mid_migration(ID1)
    assert route(st, [b"{t10648}gone"], is_write=True, key_exists=lambda k: False, is_migrate=True) is None


def test_migrate_on_an_open_slot_looks_up_no_key() -> None:
    # Whatever exists, MIGRATE runs where the slot is open, so its keys are not looked up
    # (as Redis's lookups there, the answer could not change anything).
    st = mid_migration(ID1)
    looked_up: list[bytes] = []

    def exists(key: bytes) -> bool:
        looked_up.append(key)
        return True

    keys = [b"{t10648}a", b"{t10648}b"]
    assert route(st, keys, is_write=True, key_exists=exists, is_migrate=True) is None
    assert looked_up == []
    # Any other command on the migrating slot still counts the keys it names.
    assert route(st, keys, is_write=True, key_exists=exists) is None
    assert looked_up == keys


def test_readonly_replica_serves_reads_of_its_master() -> None:
    st = mid_migration(ID3)
    st.del_node_slots(st.myself)
    st.set_node_as_replica(st.myself, st.nodes[ID1])
    assert route(st, [b"{t10648}a"], is_write=False, key_exists=lambda k: True, readonly=True) is None
    assert route(st, [b"{t10648}a"], is_write=True, key_exists=lambda k: True, readonly=True) == "MOVED 100 127.0.0.1:7101"


def test_blocked_client_errors() -> None:
    st = mid_migration(ID1)
    assert blocked_client_error(st, [b"{t10648}a"]) is None
    assert blocked_client_error(st, [b"foo"]) == "MOVED 12182 127.0.0.1:7103"
    st.state_ok = False
    assert blocked_client_error(st, [b"{t10648}a"]) == "CLUSTERDOWN The cluster is down"
