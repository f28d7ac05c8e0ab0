"""aikv/streams.py on bytes: stream IDs as Redis parses them, and stream nodes checked
against the listpacks a real redis-server 7.0.15 wrote (tests/unit/data/stream_dumps.json,
captured by capture_stream_dumps.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aikv.migrate.rdb import load_payload
from aikv.migrate.streamrdb import StreamData
from aikv.resp import CommandError, bulk_array
from aikv.streams import (
    FLAG_DELETED,
    MAX_ID,
    Node,
    append_to_node,
    decr_id,
    entry_flags,
    format_id,
    id_from_bytes,
    incr_id,
    iter_replies,
    mark_deleted,
    new_node,
    parse_id,
    parse_interval,
    radix_tree_nodes,
    string2ull,
)

DATA = json.loads((Path(__file__).parent / "data" / "stream_dumps.json").read_text())


def _streams() -> list[tuple[str, StreamData, dict[str, object]]]:
    out = []
    for case in DATA["streams"]:
        kind, value = load_payload(bytes.fromhex(case["dump"]))
        assert kind == "stream" and isinstance(value, StreamData)
        out.append((case["name"], value, case["redis"]))
    return out


STREAMS = _streams()


@pytest.mark.parametrize(("name", "data", "redis"), STREAMS, ids=[s[0] for s in STREAMS])
def test_nodes_decode_and_reencode_byte_for_byte(name: str, data: StreamData,
                                                 redis: dict[str, object]) -> None:
    live = 0
    for raw_master, blob in data.nodes:
        node = Node(id_from_bytes(raw_master), blob)
        assert node.encode() == blob
        assert node.live == sum(1 for e in node.entries if not e.flags & FLAG_DELETED)
        assert node.tombstones == len(node.entries) - node.live
        whole = [(e.flags, e.id, bulk_array(e.pairs())) for e in node.entries]
        assert list(iter_replies(node.master, blob)) == whole
        assert list(iter_replies(node.master, blob, reverse=True)) == whole[::-1]
        live += node.live
    assert live == redis["length"] == data.length


@pytest.mark.parametrize(("name", "data", "redis"), STREAMS, ids=[s[0] for s in STREAMS])
def test_appending_rebuilds_redis_nodes(name: str, data: StreamData, redis: dict[str, object]) -> None:
    """A node whose entries were all appended (no tombstones) is exactly what new_node +
    append_to_node make from its entries, including SAMEFIELDS decisions."""
    checked = 0
    for raw_master, blob in data.nodes:
        master = id_from_bytes(raw_master)
        node = Node(master, blob)
        if node.tombstones or node.entries[0].id != master:
            continue
        first = node.entries[0]
        built = new_node(first.id, first.pairs()[0::2], first.pairs()[1::2])
        for entry in node.entries[1:]:
            pairs = entry.pairs()
            built = append_to_node(built, master, entry.id, pairs[0::2], pairs[1::2])
        assert built == blob
        checked += 1
    if not any(Node(id_from_bytes(k), b).tombstones for k, b in data.nodes) and data.nodes:
        assert checked


@pytest.mark.parametrize(("name", "data", "redis"), STREAMS, ids=[s[0] for s in STREAMS])
def test_in_place_deletion_equals_reencoding(name: str, data: StreamData,
                                            redis: dict[str, object]) -> None:
    """mark_deleted (flags patched in place, counts re-encoded) gives the bytes a full
    re-encode of the changed node gives, whichever live entries go."""
    for raw_master, blob in data.nodes:
        master = id_from_bytes(raw_master)
        spots = list(entry_flags(master, blob))
        node = Node(master, blob)
        assert [(e.flags, e.id) for e in node.entries] == [(f, i) for _, f, i in spots]
        live = [(at, e) for (at, _, _), e in zip(spots, node.entries, strict=True) if not e.deleted]
        chosen = live[::2]
        for _, entry in chosen:
            node.mark_deleted(entry)
        assert mark_deleted(blob, [at for at, _ in chosen]) == node.encode()


@pytest.mark.parametrize(("name", "data", "redis"), STREAMS, ids=[s[0] for s in STREAMS])
def test_radix_tree_keys_and_nodes(name: str, data: StreamData, redis: dict[str, object]) -> None:
    assert len(data.nodes) == redis["nodes"]
    keys = [k for k, _ in data.nodes]
    assert keys == sorted(keys)
    assert radix_tree_nodes(keys) >= 1


def test_radix_tree_node_counts() -> None:
    """XINFO STREAM's radix-tree-nodes as redis-server 7.0.15 reported them for these node
    keys (stream-node-max-entries 1, one XADD per ID; the last after an XDEL)."""
    def key(ms: int, seq: int = 0) -> bytes:
        return ms.to_bytes(8, "big") + seq.to_bytes(8, "big")

    assert radix_tree_nodes([]) == 1
    assert radix_tree_nodes([key(1)]) == 2
    assert radix_tree_nodes([key(1, 1), key(1, 2)]) == 4
    assert radix_tree_nodes([key(1), key(2)]) == 6
    assert radix_tree_nodes([key(1, 5), key(2, 5)]) == 6
    assert radix_tree_nodes([key(i) for i in (1, 2, 3, 256, 257, 65536)]) == 17
    assert radix_tree_nodes([key(i) for i in (1, 3, 256, 257, 65536)]) == 15


@pytest.mark.parametrize(("raw", "value"), [
    (b"0", 0), (b"18446744073709551615", 2**64 - 1), (b"007", 7), (b"+5", 5), (b" 9", 9),
    (b"\t\n12", 12), (b"-0", 0), (b" -5", 2**64 - 5), (b"-5", None), (b"", None), (b"5 ", None),
    (b"18446744073709551616", None), (b"1e3", None), (b"0x10", None), (b"+", None), (b"--1", None),
])
def test_string2ull_is_redis_strtoull(raw: bytes, value: int | None) -> None:
    assert string2ull(raw) == value


def test_parse_id_forms() -> None:
    assert parse_id(b"5") == ((5, 0), True)
    assert parse_id(b"5", missing_seq=2**64 - 1) == ((5, 2**64 - 1), True)
    assert parse_id(b"5-3") == ((5, 3), True)
    assert parse_id(b"-") == ((0, 0), True)
    assert parse_id(b"+") == (MAX_ID, True)
    assert parse_id(b"5-*", seq_star=True) == ((5, 0), False)
    assert parse_id(b"5-3\x00junk") == ((5, 3), True)  # C sees the text up to the NUL
    for bad, kwargs in [(b"5-*", {}), (b"-", {"strict": True}), (b"+", {"strict": True}),
                        (b"1-2-3", {}), (b"x", {}), (b"1" * 128, {}), (b"-1-1", {})]:
        with pytest.raises(CommandError, match="Invalid stream ID"):
            parse_id(bad, **kwargs)  # type: ignore[arg-type]
    assert parse_interval(b"(5-1", 0) == ((5, 1), True)
    for bad in (b"(", b"(-", b"(+"):  # "(" alone is an ID; "(-"/"(+" are strict
        with pytest.raises(CommandError):
            parse_interval(bad, 0)


def test_id_steps_wrap_at_the_ends() -> None:
    assert incr_id((1, 2**64 - 1)) == (2, 0)
    assert incr_id(MAX_ID) is None
    assert decr_id((2, 0)) == (1, 2**64 - 1)
    assert decr_id((0, 0)) is None
    assert format_id((1, 2)) == b"1-2"
