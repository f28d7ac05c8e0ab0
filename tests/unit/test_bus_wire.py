"""Bus wire codec against the 151 messages captured from real redis-server 7.0.15 nodes,
plus framing, validation and encoding rules of shared/spec/cluster-bus.md §1-§4."""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from functools import cache
from typing import Any

import pytest

from aikv.bus import builders
from aikv.bus.extensions import encode_extension
from aikv.bus.wire import (
    HEADER_SIZE,
    MFLAG0_EXT_DATA,
    MFLAG0_FORCEACK,
    MFLAG0_PAUSED,
    NO_SLOTS,
    CloseLink,
    DropMessage,
    ExtType,
    FailMessage,
    ForgottenNodeExt,
    FrameMismatch,
    FrameReader,
    GossipEntry,
    Header,
    HeaderOnlyMessage,
    HostnameExt,
    Message,
    ModuleMessage,
    MsgType,
    PingMessage,
    PublishMessage,
    RawExt,
    ShardIdExt,
    SlotBitmap,
    UnknownMessage,
    UpdateMessage,
    decode,
    encode,
    frame_length,
)
from aikv.cluster import nodeflags
from tests.harness import shared_dir

# ------------------------------------------------------------------ fixture loading


BUS_FIXTURE = shared_dir() / "fixtures" / "bus" / "bus-messages.json"


@cache
def fixture_messages() -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = json.loads(BUS_FIXTURE.read_text())["messages"]
    return messages


def fixture_params() -> list[Any]:
    return [pytest.param(m, id=f"seq{m['seq']}-{m['type']}") for m in fixture_messages()]


def raw_of(fixture: dict[str, Any]) -> bytes:
    return bytes.fromhex(fixture["hex"])


def first_fixture(**match: Any) -> dict[str, Any]:
    for m in fixture_messages():
        if all(m.get(k) == v for k, v in match.items()):
            return m
    raise LookupError(f"no fixture matching {match}")


# ------------------------------------------------------------------ fixture adapter

# The fixture's decoder names every flag bit, including two CLUSTER NODES never prints.
FIXTURE_FLAG_NAMES = {
    nodeflags.MASTER: "master",
    nodeflags.SLAVE: "slave",
    nodeflags.PFAIL: "pfail",
    nodeflags.FAIL: "fail",
    nodeflags.MYSELF: "myself",
    nodeflags.HANDSHAKE: "handshake",
    nodeflags.NOADDR: "noaddr",
    nodeflags.MEET: "meet",
    nodeflags.MIGRATE_TO: "migrate_to",
    nodeflags.NOFAILOVER: "nofailover",
}


def flag_names(flags: int) -> set[str]:
    return {name for bit, name in FIXTURE_FLAG_NAMES.items() if flags & bit}


def ranges_json(slots: SlotBitmap) -> list[list[int]]:
    return [[a, b] for a, b in slots.to_ranges()]


def check_header(msg: Message, d: dict[str, Any], raw: bytes) -> set[str]:
    """Compare header fields; return the keys it consumed."""
    h = msg.header
    assert d["sig"] == "RCmb" == raw[:4].decode()
    assert d["totlen"] == len(raw)
    assert d["ver"] == 1
    assert h.type == d["type"]
    assert MsgType(h.type).name == d["type_name"]
    assert h.port == d["port"]
    count = len(msg.gossip) if isinstance(msg, PingMessage) else 0
    assert count == d["count"]
    exts = len(msg.extensions) if isinstance(msg, PingMessage) else 0
    assert exts == d["extensions"]
    assert h.current_epoch == d["currentEpoch"]
    assert h.config_epoch == d["configEpoch"]
    assert h.offset == d["offset"]
    assert h.sender == d["sender"]
    assert ranges_json(h.myslots) == d["myslots"]
    assert h.slaveof == d["slaveof"]
    assert h.myip == d["myip"]
    assert (h.pport, h.cport, h.flags, h.state) == (d["pport"], d["cport"], d["flags"], d["state"])
    assert flag_names(h.flags) == set(d["flag_names"])
    assert [h.mflags, *h.mflags_unused.ljust(2, b"\0")] == d["mflags"]
    assert (h.myip_tail, h.notused) == (b"", b"")
    return {
        "sig", "totlen", "ver", "type", "type_name", "port", "count", "extensions",
        "currentEpoch", "configEpoch", "offset", "sender", "myslots", "slaveof", "myip",
        "pport", "cport", "flags", "flag_names", "state", "mflags",
    }  # fmt: skip


def check_body(msg: Message, d: dict[str, Any]) -> set[str]:
    if isinstance(msg, PingMessage):
        assert len(msg.gossip) == len(d["gossip"])
        for entry, g in zip(msg.gossip, d["gossip"], strict=True):
            assert entry.node_id == g["nodename"]
            assert (entry.ping_sent, entry.pong_received) == (g["ping_sent"], g["pong_received"])
            assert entry.ip == g["ip"]
            assert (entry.port, entry.cport, entry.pport) == (g["port"], g["cport"], g["pport"])
            assert entry.flags == g["flags"]
            assert flag_names(entry.flags) == set(g["flag_names"])
            assert entry.notused == g["notused1"]
            assert entry.ip_tail == b""
        assert len(msg.extensions) == len(d["ext"])
        for ext, e in zip(msg.extensions, d["ext"], strict=True):
            wire = encode_extension(ext)
            assert len(wire) == e["length"]
            assert struct.unpack_from(">IHH", wire) == (e["length"], e["type"], e["unused"])
            assert wire[8:].hex() == e["payload_hex"]
            if e["type"] == ExtType.HOSTNAME:
                assert ext == HostnameExt(e["string"])
        return {"gossip", "ext"}
    if isinstance(msg, FailMessage):
        assert msg.node_id == d["fail_about"]
        return {"fail_about"}
    if isinstance(msg, PublishMessage):
        assert msg.channel == d["channel"].encode()
        assert msg.message == d["message"].encode()
        return {"channel", "message"}
    if isinstance(msg, UpdateMessage):
        assert msg.config_epoch == d["update_configEpoch"]
        assert msg.node_id == d["update_nodename"]
        assert ranges_json(msg.slots) == d["update_slots"]
        return {"update_configEpoch", "update_nodename", "update_slots"}
    assert isinstance(msg, HeaderOnlyMessage)
    assert msg.header.type in (
        MsgType.FAILOVER_AUTH_REQUEST, MsgType.FAILOVER_AUTH_ACK, MsgType.MFSTART
    )  # fmt: skip
    return set()


@pytest.mark.parametrize("fixture", fixture_params())
def test_fixture_decodes_to_recorded_fields(fixture: dict[str, Any]) -> None:
    raw = raw_of(fixture)
    d = fixture["decoded"]
    msg = decode(raw)
    consumed = check_header(msg, d, raw) | check_body(msg, d)
    assert set(d) == consumed, "fixture fields the adapter did not check"
    # The capture metadata agrees with the header too.
    assert fixture["totlen"] == len(raw)
    assert fixture["sender_port_in_header"] == msg.header.port


@pytest.mark.parametrize("fixture", fixture_params())
def test_fixture_reencodes_byte_for_byte(fixture: dict[str, Any]) -> None:
    raw = raw_of(fixture)
    assert encode(decode(raw)) == raw


def build_from_json(d: dict[str, Any]) -> Message:
    """Rebuild a fixture message from its plain decoded values through the builders."""
    header = Header(
        type=MsgType.PING,
        sender=d["sender"],
        current_epoch=d["currentEpoch"],
        config_epoch=d["configEpoch"],
        offset=d["offset"],
        myslots=SlotBitmap.from_ranges(tuple(r) for r in d["myslots"]),
        slaveof=d["slaveof"],
        myip=d["myip"],
        port=d["port"],
        cport=d["cport"],
        pport=d["pport"],
        flags=d["flags"],
        state=d["state"],
        mflags=d["mflags"][0] & MFLAG0_PAUSED,
    )
    t = d["type"]
    if t in (MsgType.PING, MsgType.PONG, MsgType.MEET):
        gossip = [
            builders.gossip_entry(
                g["nodename"], g["ip"], g["port"], g["cport"], g["flags"],
                ping_sent_ms=g["ping_sent"] * 1000 + 999,
                pong_received_ms=g["pong_received"] * 1000 + 1,
                pport=g["pport"],
            )
            for g in d["gossip"]
        ]  # fmt: skip
        hostnames = [e["string"] for e in d["ext"] if e["type"] == ExtType.HOSTNAME]
        hostname = hostnames[0] if hostnames else None
        return builders.ping_message(header, gossip, msg_type=t, hostname=hostname)
    if t == MsgType.FAIL:
        return builders.fail_message(header, d["fail_about"])
    if t == MsgType.UPDATE:
        slots = SlotBitmap.from_ranges(tuple(r) for r in d["update_slots"])
        return builders.update_message(header, d["update_nodename"], d["update_configEpoch"], slots)
    if t in (MsgType.PUBLISH, MsgType.PUBLISHSHARD):
        return builders.publish_message(
            header, d["channel"].encode(), d["message"].encode(),
            shard=t == MsgType.PUBLISHSHARD,
        )  # fmt: skip
    if t == MsgType.FAILOVER_AUTH_REQUEST:
        return builders.failover_auth_request(
            header, force_ack=bool(d["mflags"][0] & MFLAG0_FORCEACK)
        )
    if t == MsgType.FAILOVER_AUTH_ACK:
        return builders.failover_auth_ack(header)
    assert t == MsgType.MFSTART
    return builders.mfstart_message(header)


@pytest.mark.parametrize("fixture", fixture_params())
def test_builders_reproduce_fixture_bytes(fixture: dict[str, Any]) -> None:
    assert encode(build_from_json(fixture["decoded"])) == raw_of(fixture)


# ------------------------------------------------------------------ helpers for hand-made frames


def with_u32(raw: bytes, offset: int, value: int) -> bytes:
    return raw[:offset] + struct.pack(">I", value) + raw[offset + 4 :]


def with_u16(raw: bytes, offset: int, value: int) -> bytes:
    return raw[:offset] + struct.pack(">H", value) + raw[offset + 2 :]


def with_totlen(raw: bytes) -> bytes:
    return with_u32(raw, 4, len(raw))


def plain_ping() -> bytes:
    return raw_of(first_fixture(type="PING", gossip_count=0, extension_count=0))


def hostname_meet() -> bytes:
    return raw_of(first_fixture(type="MEET", gossip_count=0, extension_count=1))


def gossip_ping() -> bytes:
    return raw_of(first_fixture(type="PING", gossip_count=1, extension_count=0))


def header_fields() -> Header:
    return Header(
        type=MsgType.PING,
        sender="a" * 40,
        current_epoch=7,
        config_epoch=6,
        offset=14,
        myslots=SlotBitmap.from_ranges([(0, 5461)]),
        port=7101,
        cport=17101,
        flags=nodeflags.MASTER | nodeflags.MYSELF,
    )


# ------------------------------------------------------------------ framing (§1)


def test_bad_signature_closes_link() -> None:
    raw = b"RCmB" + plain_ping()[4:]
    with pytest.raises(CloseLink):
        frame_length(raw)
    with pytest.raises(CloseLink):
        decode(raw)
    reader = FrameReader()
    reader.feed(raw[:8])
    with pytest.raises(CloseLink):
        reader.next_frame()


def test_totlen_below_header_size_closes_link() -> None:
    raw = with_u32(plain_ping(), 4, HEADER_SIZE - 1)
    with pytest.raises(CloseLink):
        frame_length(raw[:8])
    assert frame_length(with_u32(raw, 4, HEADER_SIZE)) == HEADER_SIZE


def test_totlen_above_cap_closes_link() -> None:
    raw = plain_ping()
    with pytest.raises(CloseLink):
        frame_length(raw, max_totlen=len(raw) - 1)
    assert frame_length(raw, max_totlen=len(raw)) == len(raw)
    raw_big = with_u32(raw, 4, 10_000_000)
    with pytest.raises(CloseLink):
        frame_length(raw_big, max_totlen=1_000_000)
    assert frame_length(raw_big) == 10_000_000


def test_fewer_than_eight_bytes_need_more() -> None:
    raw = plain_ping()
    for n in range(8):
        assert frame_length(raw[:n]) is None
        with pytest.raises(FrameMismatch):
            decode(raw[:n])
    assert frame_length(raw[:8]) == len(raw)


def test_truncated_and_overlong_buffers_are_not_one_frame() -> None:
    raw = plain_ping()
    with pytest.raises(FrameMismatch):
        decode(raw[:-1])
    with pytest.raises(FrameMismatch):
        decode(raw + b"\0")


def test_frame_reader_splits_back_to_back_duplicate_pings() -> None:
    # seq 16 and 17: 7103 queued two identical PINGs right after connecting (§1 quirk).
    first, second = (raw_of(first_fixture(seq=s)) for s in (16, 17))
    assert first == second
    stream = first + second + plain_ping()[:100]
    reader = FrameReader()
    frames: list[bytes] = []
    for i in range(len(stream)):
        reader.feed(stream[i : i + 1])
        frames.extend(reader)
    assert frames == [first, second]
    assert reader.buffered == 100
    assert reader.bytes_wanted() == len(plain_ping()) - 100
    assert [decode(f).header.type for f in frames] == [MsgType.PING, MsgType.PING]


def test_frame_reader_wants_prefix_first() -> None:
    reader = FrameReader()
    assert reader.bytes_wanted() == 8
    reader.feed(b"RCm")
    assert reader.bytes_wanted() == 5
    assert reader.next_frame() is None


# ------------------------------------------------------------------ drop rules (§1, §3, §4.2)


def test_version_two_is_dropped() -> None:
    with pytest.raises(DropMessage) as info:
        decode(with_u16(plain_ping(), 8, 2))
    assert info.value.msg_type == MsgType.PING


def test_fail_with_wrong_totlen_is_dropped() -> None:
    raw = raw_of(first_fixture(type="FAIL"))
    assert len(raw) == 2296
    bad = with_totlen(raw + bytes(4))  # totlen 2300, as replayed against a real node
    assert frame_length(bad) == 2300
    with pytest.raises(DropMessage) as info:
        decode(bad)
    assert info.value.msg_type == MsgType.FAIL
    with pytest.raises(DropMessage):
        decode(with_totlen(raw[:-8]))


def test_extension_length_not_multiple_of_eight_is_dropped() -> None:
    raw = hostname_meet()
    # Grow the hostname extension from 32 to 36 bytes and the message with it, so the
    # only rule broken is the alignment.
    bad = with_totlen(with_u32(raw, HEADER_SIZE, 36) + bytes(4))
    with pytest.raises(DropMessage, match="multiple of 8"):
        decode(bad)


def test_extension_running_past_totlen_is_dropped() -> None:
    raw = hostname_meet()
    with pytest.raises(DropMessage, match="exceeds"):
        decode(with_u32(raw, HEADER_SIZE, 40))
    # Two extensions announced, one present.
    with pytest.raises(DropMessage, match="past totlen"):
        decode(with_u16(raw, 2214, 2))


def test_extension_shorter_than_its_header_is_dropped() -> None:
    raw = hostname_meet()
    with pytest.raises(DropMessage, match="out of range"):
        decode(with_u32(raw, HEADER_SIZE, 0))


def test_extension_count_without_ext_data_flag_is_dropped() -> None:
    raw = hostname_meet()
    assert raw[2253] == MFLAG0_EXT_DATA
    with pytest.raises(DropMessage, match="EXT_DATA"):
        decode(raw[:2253] + b"\0" + raw[2254:])


def test_ext_data_flag_without_extensions_is_valid_and_kept() -> None:
    raw = plain_ping()
    flagged = raw[:2253] + bytes([MFLAG0_EXT_DATA]) + raw[2254:]
    msg = decode(flagged)
    assert isinstance(msg, PingMessage) and msg.extensions == ()
    assert msg.header.mflags == MFLAG0_EXT_DATA
    assert encode(msg) == flagged


def test_lying_gossip_count_is_dropped() -> None:
    raw = gossip_ping()
    assert raw[14:16] == b"\x00\x01"
    for count in (0, 2, 3, 0xFFFF):
        with pytest.raises(DropMessage):
            decode(with_u16(raw, 14, count))


def test_gossip_count_on_a_non_ping_type_is_dropped() -> None:
    raw = raw_of(first_fixture(type="FAIL"))
    with pytest.raises(DropMessage, match="counts"):
        decode(with_u16(raw, 14, 1))
    with pytest.raises(DropMessage, match="counts"):
        decode(with_u16(raw, 2214, 1))


def test_header_only_types_must_be_exactly_the_header() -> None:
    raw = raw_of(first_fixture(type="MFSTART"))
    with pytest.raises(DropMessage):
        decode(with_totlen(raw + bytes(8)))


def test_publish_lengths_must_match_totlen_without_u32_wraparound() -> None:
    raw = raw_of(first_fixture(type="PUBLISH"))
    msg = decode(raw)
    assert isinstance(msg, PublishMessage)
    with pytest.raises(DropMessage):
        decode(with_u32(raw, HEADER_SIZE, 5))
    # 7.0.15 adds the lengths in 32 bits: these two would wrap back to the right total.
    channel_len = 0xFFFFFFFF
    message_len = len(msg.channel) + len(msg.message) + 1
    wrapped = with_u32(with_u32(raw, HEADER_SIZE, channel_len), HEADER_SIZE + 4, message_len)
    with pytest.raises(DropMessage):
        decode(wrapped)
    # Too short to even hold the two length fields.
    header_only = with_totlen(with_u16(raw[:HEADER_SIZE], 12, MsgType.PUBLISH))
    with pytest.raises(DropMessage):
        decode(header_only)


def test_unknown_type_is_accepted_with_its_header() -> None:
    raw = with_u16(plain_ping(), 12, 50)
    body = b"future body bytes"
    raw = with_totlen(raw + body)
    msg = decode(raw)
    assert isinstance(msg, UnknownMessage)
    assert msg.header.type == 50
    assert msg.body == body
    original = decode(plain_ping()).header
    assert (msg.header.current_epoch, msg.header.config_epoch, msg.header.offset) == (
        original.current_epoch, original.config_epoch, original.offset
    )  # fmt: skip
    assert msg.header.sender == original.sender
    assert encode(msg) == raw


def test_unknown_type_keeps_its_header_counts() -> None:
    raw = with_u16(with_u16(with_u16(plain_ping(), 12, 11), 14, 3), 2214, 2)
    msg = decode(raw)
    assert isinstance(msg, UnknownMessage) and (msg.count, msg.extensions) == (3, 2)
    assert encode(msg) == raw


# ------------------------------------------------------------------ extensions (§4)


def test_hostname_extension_matches_spec_example() -> None:
    wire = encode_extension(HostnameExt("node-7102.aikv.test"))
    assert wire.hex() == "0000002000000000" + b"node-7102.aikv.test".hex() + "00" * 5


@pytest.mark.parametrize(("length", "ext_len"), [(0, 16), (6, 16), (7, 16), (8, 24), (15, 24)])
def test_hostname_extension_always_has_a_terminator(length: int, ext_len: int) -> None:
    wire = encode_extension(HostnameExt("h" * length))
    assert len(wire) == ext_len
    assert wire[8 + length] == 0


def test_meet_with_hostname_and_gossip_sizes() -> None:
    header = header_fields()
    entry = GossipEntry("b" * 40, 0, 1795670352, "127.0.0.1", 7103, 17103, nodeflags.MASTER)
    bare = builders.ping_message(header, msg_type=MsgType.MEET, hostname="node-7102.aikv.test")
    with_gossip = builders.ping_message(
        header, [entry], msg_type=MsgType.MEET, hostname="node-7102.aikv.test"
    )
    assert len(encode(bare)) == 2288
    assert len(encode(with_gossip)) == 2392
    for msg in (bare, with_gossip):
        assert decode(encode(msg)) == msg
        assert msg.hostname == "node-7102.aikv.test"


def test_non_canonical_hostname_is_kept_raw_and_still_read() -> None:
    raw = hostname_meet()
    # Append 8 more zero bytes of padding: 7.0 would still read the hostname.
    ext_len = struct.unpack_from(">I", raw, HEADER_SIZE)[0]
    padded = with_totlen(with_u32(raw, HEADER_SIZE, ext_len + 8) + bytes(8))
    msg = decode(padded)
    assert isinstance(msg, PingMessage)
    assert isinstance(msg.extensions[0], RawExt)
    assert msg.hostname == "node-7102.aikv.test"
    assert encode(msg) == padded


def test_later_version_extensions_round_trip_and_are_tolerated() -> None:
    forgotten = ForgottenNodeExt("c" * 40, 58)
    shard = ShardIdExt("d" * 40)
    future = RawExt(9, b"12345678" * 2)
    assert len(encode_extension(forgotten)) == 56
    assert encode_extension(forgotten)[48:] == struct.pack(">Q", 58)
    assert len(encode_extension(shard)) == 48
    msg = builders.ping_message(
        header_fields(), hostname="h.example", extensions=[forgotten, shard, future]
    )
    raw = encode(msg)
    assert struct.unpack_from(">H", raw, 2214)[0] == 4
    assert raw[2253] & MFLAG0_EXT_DATA
    assert decode(raw) == msg


def test_ping_without_extensions_has_no_ext_data_flag() -> None:
    header = replace(header_fields(), mflags=MFLAG0_EXT_DATA | MFLAG0_FORCEACK | MFLAG0_PAUSED)
    raw = encode(builders.ping_message(header))
    assert raw[2253] == MFLAG0_PAUSED
    assert raw[2214:2216] == b"\0\0"


# ------------------------------------------------------------------ other bodies


def test_module_message_id_is_little_endian() -> None:
    msg = ModuleMessage(
        replace(header_fields(), type=MsgType.MODULE), 0x0102030405060708, 7, b"payload"
    )
    raw = encode(msg)
    assert len(raw) == 2269 + 7
    assert raw[HEADER_SIZE : HEADER_SIZE + 8] == bytes.fromhex("0807060504030201")
    assert raw[HEADER_SIZE + 8 : HEADER_SIZE + 13] == struct.pack(">IB", 7, 7)
    assert decode(raw) == msg
    with pytest.raises(DropMessage):
        decode(with_totlen(raw + b"x"))


def test_update_message_layout() -> None:
    slots = SlotBitmap.from_ranges([(16000, 16000), (10923, 16383)])
    msg = builders.update_message(header_fields(), "e" * 40, 5, slots)
    raw = encode(msg)
    assert len(raw) == 4352
    assert struct.unpack_from(">Q", raw, HEADER_SIZE)[0] == 5
    assert raw[HEADER_SIZE + 8 : HEADER_SIZE + 48] == b"e" * 40
    assert raw[HEADER_SIZE + 48 :] == slots.bits
    assert decode(raw) == msg


def test_stale_bytes_after_ip_terminator_round_trip() -> None:
    # A node whose ip shrank keeps the old tail after the NUL and copies the whole
    # buffer into gossip; the receiver must read the text up to the NUL.
    raw = bytearray(gossip_ping())
    ip_at = HEADER_SIZE + 48
    assert raw[ip_at : ip_at + 10] == b"127.0.0.1\0"
    raw[ip_at + 10 : ip_at + 12] = b"00"
    raw[2168:2176] = b"10.0.0.1"  # myip with stale bytes too
    raw[2177:2179] = b"99"
    msg = decode(bytes(raw))
    assert isinstance(msg, PingMessage)
    assert msg.gossip[0].ip == "127.0.0.1" and msg.gossip[0].ip_tail == b"00"
    assert msg.header.myip == "10.0.0.1" and msg.header.myip_tail == b"99"
    assert encode(msg) == bytes(raw)


def test_reserved_bytes_round_trip() -> None:
    raw = bytearray(plain_ping())
    raw[2216] = 0xAA  # notused1
    raw[2255] = 0x01  # mflags[2]
    msg = decode(bytes(raw))
    assert msg.header.notused == b"\xaa" and msg.header.mflags_unused == b"\0\x01"
    assert encode(msg) == bytes(raw)


# ------------------------------------------------------------------ encode errors


@pytest.mark.parametrize(
    "bad",
    [
        FailMessage(replace(header_fields(), type=MsgType.FAIL), "short"),
        FailMessage(replace(header_fields(), type=MsgType.PING), "f" * 40),
        PingMessage(replace(header_fields(), sender="x" * 39)),
        PingMessage(replace(header_fields(), port=70000)),
        PingMessage(replace(header_fields(), current_epoch=-1)),
        PingMessage(replace(header_fields(), myip="1" * 47)),
        PingMessage(replace(header_fields(), myip="a\0b")),
        PingMessage(replace(header_fields(), mflags=256)),
        PingMessage(header_fields(), extensions=(RawExt(9, b"odd"),)),
        PingMessage(header_fields(), extensions=(HostnameExt("h" * 70000),)),
        UnknownMessage(replace(header_fields(), type=MsgType.FAIL)),
        HeaderOnlyMessage(replace(header_fields(), type=MsgType.UPDATE)),
    ],
)
def test_encode_rejects_unrepresentable_messages(bad: Message) -> None:
    with pytest.raises(ValueError):
        encode(bad)


# ------------------------------------------------------------------ builders


def test_gossip_entry_converts_milliseconds_to_seconds() -> None:
    entry = builders.gossip_entry(
        "a" * 40, "127.0.0.1", 7101, 17101, nodeflags.MASTER,
        ping_sent_ms=0, pong_received_ms=1795670352999,
    )  # fmt: skip
    assert (entry.ping_sent, entry.pong_received) == (0, 1795670352)


def test_failover_builders_set_only_their_mflags() -> None:
    header = replace(header_fields(), mflags=MFLAG0_PAUSED | MFLAG0_EXT_DATA)
    request = builders.failover_auth_request(header, force_ack=True)
    assert request.header.mflags == MFLAG0_PAUSED | MFLAG0_FORCEACK
    assert builders.failover_auth_request(header).header.mflags == MFLAG0_PAUSED
    assert builders.failover_auth_ack(header).header.type == MsgType.FAILOVER_AUTH_ACK
    assert builders.mfstart_message(header).header.type == MsgType.MFSTART
    for msg in (request, builders.fail_message(header, "f" * 40)):
        assert len(encode(msg)) in (2256, 2296)
        assert decode(encode(msg)) == msg


def test_builder_refuses_non_ping_type() -> None:
    with pytest.raises(ValueError):
        builders.ping_message(header_fields(), msg_type=MsgType.FAIL)


def test_master_header_has_zero_slaveof_and_empty_slots() -> None:
    header = replace(header_fields(), myslots=NO_SLOTS)
    raw = encode(builders.ping_message(header))
    assert raw[2128:2168] == bytes(40)
    assert raw[80:2128] == bytes(2048)
