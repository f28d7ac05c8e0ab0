"""Stream DUMP payloads (RDB types 15 and 19) against captures from redis-server 7.0.15.

data/stream_dumps.json is written by data/capture_stream_dumps.py: for every stream it
holds the DUMP bytes and Redis's own view of the stream (XRANGE, XINFO STREAM [FULL]); for
every hand-made payload the RESTORE reply with ``sanitize-dump-payload`` no and yes. No
redis-server is needed here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aikv.migrate.crc64 import crc64
from aikv.migrate.errors import ERR_BAD_DATA_FORMAT, ERR_VERSION_OR_CHECKSUM, DumpPayloadError
from aikv.migrate.listpack import encode_listpack
from aikv.migrate.rdb import dump_payload, load_payload
from aikv.migrate.rdbprim import PayloadReader
from aikv.migrate.streamrdb import (
    SCG_INVALID_ENTRIES_READ,
    STREAM_ITEM_FLAG_DELETED,
    STREAM_ITEM_FLAG_SAMEFIELDS,
    StreamConsumerData,
    StreamData,
    StreamGroupData,
    StreamID,
    StreamNack,
    encode_stream_body,
    encode_stream_node,
    id_to_key,
    load_stream,
    stream_node_entries,
)

FIXTURE = json.loads((Path(__file__).parent / "data" / "stream_dumps.json").read_text())
STREAMS: list[dict[str, Any]] = FIXTURE["streams"]
CASES: list[dict[str, Any]] = FIXTURE["cases"]
DUMPS = {item["name"]: bytes.fromhex(item["dump"]) for item in STREAMS}

# Hand-made payloads redis-server 7.0.15 (default settings) accepts but AiKv refuses on
# purpose: Redis never writes them, and each would leave a stream AiKv's commands could
# not trust. The value says whether 7.0 refuses it with sanitize-dump-payload yes.
DELIBERATE_REFUSALS = {
    "listpack-header-count": False,  # listpack element count in the header is wrong
    "node-lp-count-wrong": True,
    "node-master-not-zero-terminated": True,
    "node-extra-element": True,
    "node-missing-entry": True,
    "node-count-not-int": True,
    "node-flags-not-int": True,
    "node-id-not-int": True,
    "node-master-only": False,  # a node with no entries at all
    "node-unknown-flag": False,  # flag bits other than DELETED / SAMEFIELDS
    "node-count-split-wrong": False,  # master live/deleted counts disagree with the flags
    "node-negative-fields": False,  # negative field count
    "node-entries-descending": False,  # live entries not ascending
    "node-entry-above-last-id": False,  # a live entry above the stream's last ID
    "length-too-big": False,  # length is not the number of live entries
    "length-too-small": False,
    "group-pel-not-owned": True,  # a pending entry no consumer owns
}


def parse_id(text: str) -> StreamID:
    ms, seq = text.split("-")
    return int(ms), int(seq)


def raw(text: str) -> bytes:
    return text.encode("latin-1")


def seal(body: bytes) -> bytes:
    sealed = body + (10).to_bytes(2, "little")
    return sealed + crc64(sealed).to_bytes(8, "little")


def reseal(payload: bytes) -> bytes:
    return seal(payload[:-10])


def decode(payload: bytes) -> StreamData:
    kind, value = load_payload(payload)
    assert kind == "stream"
    assert isinstance(value, StreamData)
    return value


def live_entries(data: StreamData) -> list[list[Any]]:
    out = []
    for key, blob in data.nodes:
        for entry_id, flags, pairs in stream_node_entries(key, blob):
            if not flags & STREAM_ITEM_FLAG_DELETED:
                out.append(["%d-%d" % entry_id, [p.decode("latin-1") for p in pairs]])
    return out


def assert_matches_redis(data: StreamData, view: dict[str, Any]) -> None:
    """The decoded stream says what Redis's XINFO / XRANGE said about it."""
    assert data.length == view["length"]
    assert len(data.nodes) == view["nodes"]
    assert data.last_id == parse_id(view["last_id"])
    assert data.first_id == parse_id(view["first_id"])
    assert data.max_deleted_id == parse_id(view["max_deleted_id"])
    assert data.entries_added == view["entries_added"]
    assert live_entries(data) == view["entries"]
    expected_groups = [
        StreamGroupData(
            name=raw(g["name"]),
            last_id=parse_id(g["last_id"]),
            entries_read=g["entries_read"],
            pel=[StreamNack(parse_id(i), t, n, raw(c)) for i, c, t, n in g["pel"]],
            consumers=[
                StreamConsumerData(raw(c["name"]), c["seen_time"], [parse_id(i) for i in c["pending"]])
                for c in g["consumers"]
            ],
        )
        for g in view["groups"]
    ]
    assert data.groups == expected_groups
    keys = [key for key, _ in data.nodes]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


# --------------------------------------------------------------------------- captured streams


def test_fixture_is_from_7_0_15() -> None:
    assert FIXTURE["redis_version"] == "7.0.15"
    assert len(STREAMS) >= 15


@pytest.mark.parametrize("item", STREAMS, ids=[s["name"] for s in STREAMS])
def test_decode_matches_redis(item: dict[str, Any]) -> None:
    assert_matches_redis(decode(bytes.fromhex(item["dump"])), item["redis"])


@pytest.mark.parametrize("item", STREAMS, ids=[s["name"] for s in STREAMS])
def test_dump_round_trip_is_byte_identical(item: dict[str, Any]) -> None:
    payload = bytes.fromhex(item["dump"])
    assert payload[0] == 19
    assert dump_payload("stream", decode(payload)) == payload


@pytest.mark.parametrize("item", STREAMS, ids=[s["name"] for s in STREAMS])
def test_nodes_rebuild_byte_identical(item: dict[str, Any]) -> None:
    # encode_stream_node (XADDs then XDELs) rebuilds every listpack Redis wrote.
    for key, blob in decode(bytes.fromhex(item["dump"])).nodes:
        master = (int.from_bytes(key[:8], "big"), int.from_bytes(key[8:], "big"))
        entries = [
            (entry_id, bool(flags & STREAM_ITEM_FLAG_DELETED), pairs)
            for entry_id, flags, pairs in stream_node_entries(key, blob)
        ]
        assert encode_stream_node(master, entries) == (key, blob)


def test_captures_cover_the_interesting_shapes() -> None:
    flags_seen: set[int] = set()
    for payload in DUMPS.values():
        for key, blob in decode(payload).nodes:
            flags_seen.update(flags for _, flags, _ in stream_node_entries(key, blob))
    assert flags_seen == {0, 1, 2, 3}
    assert len(decode(DUMPS["many-nodes"]).nodes) == 4
    assert len(decode(DUMPS["bytes-limited-nodes"]).nodes) == 7
    assert decode(DUMPS["empty-maxlen-0"]).nodes == []
    # XTRIM MINID can leave a node holding tombstones only (length 0, one node).
    tomb = decode(DUMPS["xtrim-minid-leaves-tombstone-node"])
    assert tomb.length == 0 and len(tomb.nodes) == 1
    # XSETID below a tombstone: 5-0 stays, deleted, above the last ID 3-0.
    below = decode(DUMPS["xsetid-below-tombstone"])
    key, blob = below.nodes[0]
    assert [(i, f & STREAM_ITEM_FLAG_DELETED) for i, f, _ in stream_node_entries(key, blob)] == [
        ((1, 0), 0), ((5, 0), 1), ((3, 0), 0)
    ]
    groups = {g.name: g for g in decode(DUMPS["groups"]).groups}
    assert groups[b"g-dollar"].entries_read == SCG_INVALID_ENTRIES_READ
    assert [c.name for c in groups[b"g-zero"].consumers][:2] == [b"alice", b"bob"]
    # Big listpacks and long names are LZF-compressed RDB strings (0xC3).
    assert b"\xc3" in DUMPS["big-values"]


def test_large_ids_use_wrapping_deltas() -> None:
    data = decode(DUMPS["large-ids"])
    key, blob = data.nodes[0]
    ids = [entry_id for entry_id, _, _ in stream_node_entries(key, blob)]
    top = (1 << 64) - 1
    assert ids == [(0, 1), ((1 << 63) + 5, top - 1), (top, 0), (top, top)]


def test_numeric_values_survive() -> None:
    entries = live_entries(decode(DUMPS["numeric-looking-values"]))
    assert entries[0][1][1::2] == [
        "123", "-5", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
        "007", "1.5", "0", "-0", "4095", "-32768",
    ]
    assert entries[1][1] == ["12", "34", "-1", "", "", "empty"]


# --------------------------------------------------------------------------- hand-made payloads


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_hand_made_payloads_agree_with_redis(case: dict[str, Any]) -> None:
    payload = bytes.fromhex(case["payload"])
    try:
        value = decode(payload)
        reply = "OK"
    except DumpPayloadError as exc:
        reply = str(exc)
        value = None
    name = case["name"]
    if name in DELIBERATE_REFUSALS:
        assert case["redis_default"] == "OK"
        sanitized_refuses = case["redis_sanitized"] == "Bad data format"
        assert sanitized_refuses == DELIBERATE_REFUSALS[name]
        assert reply == ERR_BAD_DATA_FORMAT
        return
    expected = "OK" if case["redis_default"] == "OK" else "ERR " + case["redis_default"]
    assert reply == expected
    assert case["redis_sanitized"] == case["redis_default"]
    if case["redis_view"] is not None:
        assert value is not None
        assert_matches_redis(value, case["redis_view"])


def test_every_deliberate_refusal_is_in_the_fixture() -> None:
    assert set(DELIBERATE_REFUSALS) <= {c["name"] for c in CASES}


def test_type_15_derives_what_7_0_derives() -> None:
    views = {c["name"]: c for c in CASES}
    for name in ("type-15-groups", "type-15-empty-mkstream", "type-15-xsetid-below-tombstone"):
        assert views[name]["redis_view"] is not None
    empty = decode(bytes.fromhex(views["type-15-empty-mkstream"]["payload"]))
    assert empty.first_id == ((1 << 64) - 1, (1 << 64) - 1)
    assert empty.groups[0].entries_read == 0
    # Re-dumped as type 19 it is what 7.0 itself would DUMP after that RESTORE.
    assert dump_payload("stream", empty)[0] == 19


def test_type_21_is_refused() -> None:
    body = encode_stream_body(decode(DUMPS["groups"]), True)
    with pytest.raises(DumpPayloadError) as caught:
        load_payload(seal(b"\x15" + body[1:]))
    assert str(caught.value) == ERR_BAD_DATA_FORMAT
    with pytest.raises(DumpPayloadError):
        load_stream(PayloadReader(body[1:]), 21)


def test_wrong_crc_is_the_checksum_error() -> None:
    payload = DUMPS["tombstones"]
    with pytest.raises(DumpPayloadError) as caught:
        load_payload(payload[:-1] + bytes((payload[-1] ^ 0x80,)))
    assert str(caught.value) == ERR_VERSION_OR_CHECKSUM


# --------------------------------------------------------------------------- model helpers


def _stream(entries: list[tuple[StreamID, bool, list[bytes]]]) -> StreamData:
    key, blob = encode_stream_node(entries[0][0], entries)
    live = [e for e in entries if not e[1]]
    return StreamData([(key, blob)], len(live), entries[-1][0], live[0][0], (0, 0),
                      len(entries), [])


def test_stream_node_entries_flags_and_fields() -> None:
    data = _stream([
        ((5, 0), False, [b"a", b"1", b"b", b"x"]),
        ((5, 1), True, [b"a", b"2", b"b", b"y"]),
        ((6, 0), False, [b"c", b"3"]),
    ])
    key, blob = data.nodes[0]
    assert list(stream_node_entries(key, blob)) == [
        ((5, 0), STREAM_ITEM_FLAG_SAMEFIELDS, [b"a", b"1", b"b", b"x"]),
        ((5, 1), STREAM_ITEM_FLAG_SAMEFIELDS | STREAM_ITEM_FLAG_DELETED, [b"a", b"2", b"b", b"y"]),
        ((6, 0), 0, [b"c", b"3"]),
    ]
    assert decode(dump_payload("stream", data)) == data


def test_entries_read_minus_one_round_trips() -> None:
    data = _stream([((1, 0), False, [b"f", b"v"])])
    data.groups = [StreamGroupData(b"g", (0, 0), -1, [], [])]
    payload = dump_payload("stream", data)
    assert b"\x81" + b"\xff" * 8 in payload
    assert decode(payload).groups[0].entries_read == -1


def test_dump_refuses_bad_models() -> None:
    data = _stream([((1, 0), False, [b"f", b"v"])])
    with pytest.raises(ValueError):
        dump_payload("stream", {"not": "a stream"})
    with pytest.raises(ValueError):
        dump_payload("stream", StreamData([(b"short", b"")], 0, (0, 0), (0, 0), (0, 0), 0, []))
    with pytest.raises(ValueError):
        data.length = -1
        dump_payload("stream", data)
    with pytest.raises(ValueError):
        id_to_key((1 << 64, 0))


def test_stream_node_entries_refuses_garbage() -> None:
    with pytest.raises(DumpPayloadError):
        list(stream_node_entries(id_to_key((1, 0)), encode_listpack([b"x"])))
    with pytest.raises(DumpPayloadError):
        list(stream_node_entries(b"short", encode_listpack([1, 0, 1, b"f", 0])))


# --------------------------------------------------------------------------- fuzzing


def _only_payload_errors(payload: bytes) -> None:
    try:
        load_payload(payload)
    except DumpPayloadError as exc:
        assert str(exc) in (ERR_BAD_DATA_FORMAT, ERR_VERSION_OR_CHECKSUM)


@pytest.mark.parametrize("name", ["groups", "tombstones", "same-and-different-fields"])
def test_every_truncation_is_refused(name: str) -> None:
    # Like 7.0, the reader may run on into the footer (see aikv.migrate.rdb): a cut that
    # only drops the trailing counters can still load, with the footer's version byte
    # (10) and a 0 read in their place. Everything else must be Bad data format.
    body = DUMPS[name][:-10]
    accepted = []
    for cut in range(len(body)):
        try:
            load_payload(seal(body[:cut]))
        except DumpPayloadError as exc:
            assert str(exc) == ERR_BAD_DATA_FORMAT
        else:
            accepted.append(cut)
    assert len(accepted) <= 1
    for cut in accepted:
        data = decode(seal(body[:cut]))
        assert data.entries_added == 10 and data.groups == []


@pytest.mark.parametrize("name", ["single-int-values", "group-setid-entriesread", "large-ids"])
def test_every_single_byte_change_is_safe(name: str) -> None:
    body = DUMPS[name][:-10]
    for pos in range(len(body)):
        for value in (0x00, 0x01, 0x7F, 0x80, 0xC3, 0xFF, body[pos] ^ 0x01):
            _only_payload_errors(seal(body[:pos] + bytes((value,)) + body[pos + 1 :]))


_FUZZ_BASES = [DUMPS[n][:-10] for n in sorted(DUMPS)] + [
    bytes.fromhex(c["payload"])[:-10] for c in CASES if c["redis_default"] == "OK"
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(_FUZZ_BASES),
    edits=st.lists(
        st.tuples(st.integers(0, 1 << 20), st.integers(0, 255), st.sampled_from("sid")),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_payloads_only_raise_payload_errors(
    base: bytes, edits: list[tuple[int, int, str]]
) -> None:
    body = bytearray(base)
    for pos, value, op in edits:
        if not body:
            break
        at = pos % len(body)
        if op == "s":
            body[at] = value
        elif op == "i":
            body.insert(at, value)
        else:
            del body[at]
    _only_payload_errors(seal(bytes(body)))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_node_listpacks_only_raise_payload_errors(data: st.DataObject) -> None:
    # Mutate inside a node listpack (stored raw, not LZF), keeping its header consistent,
    # so that the stream-level checks rather than the listpack ones get exercised.
    stream = decode(DUMPS[data.draw(st.sampled_from(["tombstones", "same-and-different-fields",
                                                     "numeric-looking-values", "groups"]))])
    key, blob = stream.nodes[0]
    mutable = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(6, len(mutable) - 2))
        mutable[at] = data.draw(st.integers(0, 255))
    stream.nodes[0] = (key, bytes(mutable))
    _only_payload_errors(seal(encode_stream_body(stream, False)))
