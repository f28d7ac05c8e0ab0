"""State <-> nodes.conf model: real 7.0.15 files survive a load/save round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from aikv.cluster import nodeflags as nf
from aikv.cluster.confmodel import cluster_nodes_text, from_nodes_conf, nodes_conf_text
from aikv.cluster.state import LINK_CONNECTED, ClusterState, NodeRecord
from aikv.persist.nodesconf import parse_nodes_conf
from tests.harness import shared_dir

FIXTURES = shared_dir() / "fixtures" / "nodes-conf"
FILES = sorted(FIXTURES.glob("*/nodes-*.conf"))


def _comparable(text: str) -> list[tuple[object, ...]]:
    conf = parse_nodes_conf(text)
    rows: list[tuple[object, ...]] = [
        (e.node_id, e.address, e.flags, e.master_id, bool(e.ping_sent_ms), bool(e.pong_received_ms),
         e.config_epoch, e.slots, e.migrating, e.importing)
        for e in sorted(conf.entries, key=lambda e: e.node_id)
    ]
    rows.append(("vars", conf.current_epoch, conf.last_vote_epoch))
    return rows


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_fixture_round_trip(path: Path) -> None:
    text = path.read_text()
    state = from_nodes_conf(parse_nodes_conf(text), now_ms=123, node_timeout=2000)
    assert not state.save_needed
    assert _comparable(nodes_conf_text(state)) == _comparable(text)


def test_replica_epoch_comes_from_master() -> None:
    text = (FIXTURES / "with-replica" / "nodes-7104.conf").read_text()
    state = from_nodes_conf(parse_nodes_conf(text), now_ms=1, node_timeout=2000)
    me = state.myself
    assert me.is_replica and me.config_epoch == 0
    assert state.effective_config_epoch(me) == 6
    assert state.current_epoch == 6


def test_fail_flag_sets_fail_time_and_epoch_raise() -> None:
    text = (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-10\n"
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 127.0.0.1:7002@17002 master,fail - 5 6 9 disconnected 11-20\n"
        "vars currentEpoch 2 lastVoteEpoch 1\n"
    )
    state = from_nodes_conf(parse_nodes_conf(text), now_ms=777, node_timeout=2000)
    b = state.nodes["b" * 40]
    assert b.has(nf.FAIL) and b.fail_time == 777 and b.ping_sent == 777
    assert state.current_epoch == 9 and state.last_vote_epoch == 1
    assert state.slot_owner[15] is b


def test_cluster_nodes_lists_handshake_and_link_state() -> None:
    st = ClusterState("a" * 40, node_timeout=2000, id_factory=lambda: "f" * 40)
    st.myself.ip, st.myself.port, st.myself.cport = "127.0.0.1", 7101, 17101
    for s in range(0, 5461):
        st.add_slot(st.myself, s)
    st.myself.config_epoch = 1
    b = NodeRecord("b" * 40, nf.MASTER, ip="127.0.0.1", port=7102, cport=17102, hostname="h2",
                   pong_received=1795670352370, config_epoch=2, link=LINK_CONNECTED)
    st.add_node(b)
    st.migrating_to[100] = b
    st.create_handshake_node("127.0.0.1", 7198, 17198, now_ms=0)
    text = cluster_nodes_text(st)
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert lines[0] == f"{'a' * 40} 127.0.0.1:7101@17101 myself,master - 0 0 1 connected 0-5460 [100->-{'b' * 40}]"
    assert lines[1] == f"{'b' * 40} 127.0.0.1:7102@17102,h2 master - 0 1795670352370 2 connected"
    assert lines[2] == f"{'f' * 40} 127.0.0.1:7198@17198 handshake - 0 0 0 disconnected"
    assert "handshake" not in nodes_conf_text(st)
