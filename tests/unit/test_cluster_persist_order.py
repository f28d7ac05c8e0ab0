"""A node never tells a peer about a configuration it has not saved.

Redis writes bus messages after beforeSleep has saved (and, for epoch changes, fsynced)
nodes.conf. AiKv must keep the same order: a chaos run killed a node between the PONG
that announced a slot it had just imported and the save of that slot; the others had
re-bound the slot to it, it came back without it, and the slot was owned by nobody's own
view (`redis-cli --cluster fix` could not repair that)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from aikv.bus.gossip import Action, Link, Send
from aikv.cluster import nodeflags as nf
from aikv.cluster import runtime
from aikv.cluster.runtime import ClusterNode
from aikv.cluster.state import NodeRecord
from aikv.commands.cluster import _setslot_node
from aikv.config import Config


class RecordingTransport:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def send(self, link: Link, data: bytes) -> None:
        self.events.append("send")


def make_node(tmp_path: Path, events: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[ClusterNode, NodeRecord]:
    config = Config()
    config.set("port", "7001", startup=True)
    config.set("cluster-enabled", "yes", startup=True)
    config.set("dir", str(tmp_path), startup=True)
    node = ClusterNode(SimpleNamespace(config=config))
    node._apply_config()

    def fake_save(path: str, text: str, fsync: bool, lock: object) -> None:
        events.append("save+fsync" if fsync else "save")

    monkeypatch.setattr(runtime, "save_nodes_conf", fake_save)
    node.transport = RecordingTransport(events)  # type: ignore[assignment]
    st = node.state
    peer = NodeRecord("b" * 40, nf.MASTER, ip="127.0.0.1", port=7002, cport=17002, config_epoch=5)
    st.add_node(peer)
    st.current_epoch = 7
    st.myself.config_epoch = 7  # already the unique maximum: the import will not bump it
    node.gossip.outbound[peer] = Link(inbound=False, node=peer)
    return node, peer


def test_end_of_import_saves_before_the_pong_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    node, peer = make_node(tmp_path, events, monkeypatch)
    st = node.state
    st.add_slot(peer, 8)
    st.importing_from[8] = peer
    st.save_needed = st.fsync_needed = False

    # True: already saved, so the end of the tick does not write the file again (a
    # reshard makes one such call per slot).
    assert _setslot_node(node, 8, st.myself.node_id.encode()) is True

    assert st.slot_owner[8] is st.myself and 8 not in st.importing_from
    assert "send" in events
    # The binding is written once, before anything went out (in place: the epoch did
    # not move, so, as in Redis, there is no fsync; a process crash cannot lose it).
    assert events[0] == "save" and events.index("send") > 0 and events.count("save") == 1
    assert not st.save_needed and not st.state_eval_needed


def test_an_epoch_bump_is_fsynced_before_the_pong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    node, peer = make_node(tmp_path, events, monkeypatch)
    st = node.state
    peer.config_epoch = 9  # ours (7) is not the maximum: taking the slot bumps it
    st.current_epoch = 9
    st.add_slot(peer, 8)
    st.importing_from[8] = peer
    st.save_needed = st.fsync_needed = False

    _setslot_node(node, 8, st.myself.node_id.encode())

    assert st.myself.config_epoch == 10
    assert events[0] == "save+fsync" and events.index("send") > 0


def test_bus_event_changes_are_written_before_the_replies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    node, peer = make_node(tmp_path, events, monkeypatch)
    link = node.gossip.outbound[peer]

    def on_message(link_: Link, msg: object, now: int) -> list[Action]:
        node.state.mark_dirty(fsync=True)  # say the message raised our epoch
        return [Send(link_, b"pong")]

    node.gossip.on_message = on_message  # type: ignore[method-assign]
    node._on_message(link, object())  # type: ignore[arg-type]
    # Written in place at once (safe against a crash of this process); the durable
    # copy follows from the cron, still before any later message could matter.
    assert events == ["save", "send"]


def test_a_plain_binding_is_left_for_the_end_of_the_tick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an import to finish nothing is broadcast, so the command's caller marks
    the change and the end of the tick saves it before the reply leaves."""
    events: list[str] = []
    node, peer = make_node(tmp_path, events, monkeypatch)
    st = node.state
    st.add_slot(st.myself, 9)
    st.save_needed = st.fsync_needed = False

    assert _setslot_node(node, 9, peer.node_id.encode()) is False
    assert st.slot_owner[9] is peer
    assert events == []
