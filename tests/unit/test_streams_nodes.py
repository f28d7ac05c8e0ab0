"""aikv/streams.py on bytes: stream IDs as Redis parses them, and stream nodes checked
against the listpacks a real redis-server 7.0.15 wrote (tests/unit/data/stream_dumps.json,
captured by capture_stream_dumps.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aikv.migrate.rdb import load_payload
from aikv.migrate.streamrdb import StreamData, encode_stream_node, stream_node_entries
from aikv.resp import CommandError, bulk_array
from aikv.streams import (
    FLAG_DELETED,
    MAX_ID,
    append_to_node,
    decr_id,
    entry_flags,
    format_id,
    id_from_bytes,
    incr_id,
    iter_replies,
    mark_deleted,
    new_node,
    node_live,
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
def test_lazy_readers_agree_with_the_codec(name: str, data: StreamData,
                                           redis: dict[str, object]) -> None:
    """iter_replies (both ways), entry_flags and node_live read Redis's nodes as the
    payload codec's validating reader does."""
    live = 0
    for raw_master, blob in data.nodes:
        master = id_from_bytes(raw_master)
        entries = list(stream_node_entries(raw_master, blob))
        whole = [(flags, entry_id, bulk_array(pairs)) for entry_id, flags, pairs in entries]
        assert list(iter_replies(master, blob)) == whole
        assert list(iter_replies(master, blob, reverse=True)) == whole[::-1]
        assert [(f, i) for _, f, i in entry_flags(master, blob)] == [(f, i) for i, f, _ in entries]
        assert node_live(blob) == sum(1 for _, f, _ in entries if not f & FLAG_DELETED)
        live += node_live(blob)
    assert live == redis["length"] == data.length


@pytest.mark.parametrize(("name", "data", "redis"), STREAMS, ids=[s[0] for s in STREAMS])
def test_appending_rebuilds_redis_nodes(name: str, data: StreamData, redis: dict[str, object]) -> None:
    """A node whose entries were all appended (no tombstones) is exactly what new_node +
    append_to_node make from its entries, including SAMEFIELDS decisions."""
    checked = 0
    for raw_master, blob in data.nodes:
        master = id_from_bytes(raw_master)
        entries = list(stream_node_entries(raw_master, blob))
        if any(f & FLAG_DELETED for _, f, _ in entries) or entries[0][0] != master:
            continue
        first_id, _, first_pairs = entries[0]
        built = new_node(first_id, first_pairs[0::2], first_pairs[1::2])
        for entry_id, _, pairs in entries[1:]:
            built = append_to_node(built, master, entry_id, pairs[0::2], pairs[1::2])
        assert built == blob
        checked += 1
    if data.nodes and data.length == data.entries_added:  # never an XDEL or a trim
        assert checked


@pytest.mark.parametrize(("name", "data", "redis"), STREAMS, ids=[s[0] for s in STREAMS])
def test_in_place_deletion_equals_reencoding(name: str, data: StreamData,
                                            redis: dict[str, object]) -> None:
    """mark_deleted (flags patched in place, counts re-encoded) gives the bytes of the
    node rebuilt whole with those entries deleted, whichever live entries go."""
    for raw_master, blob in data.nodes:
        master = id_from_bytes(raw_master)
        spots = list(entry_flags(master, blob))
        entries = list(stream_node_entries(raw_master, blob))
        live = [i for i, (_, flags, _) in enumerate(entries) if not flags & FLAG_DELETED]
        chosen = set(live[::2])
        rebuilt = encode_stream_node(master, [
            (entry_id, bool(flags & FLAG_DELETED) or i in chosen, pairs)
            for i, (entry_id, flags, pairs) in enumerate(entries)])[1]
        assert mark_deleted(blob, [spots[i][0] for i in sorted(chosen)]) == rebuilt


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
