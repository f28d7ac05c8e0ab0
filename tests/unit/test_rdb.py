"""DUMP/RESTORE payloads against the golden fixtures captured from redis-server 7.0.15."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from aikv.migrate.crc64 import crc64
from aikv.migrate.encoding import DEFAULT_LIMITS, object_encoding
from aikv.migrate.rdb import (
    ERR_BAD_DATA_FORMAT,
    ERR_VERSION_OR_CHECKSUM,
    DumpPayloadError,
    check_footer,
    dump_payload,
    dump_string_payload,
    load_payload,
)
from aikv.migrate.rdbprim import PayloadReader
from tests.harness import shared_dir

DUMP_DIR = shared_dir() / "fixtures" / "dump"


def _load_json(name: str, key: str) -> list[dict[str, Any]]:
    path = DUMP_DIR / name
    if not path.is_file():
        return []
    return list(json.loads(path.read_text())[key])


DUMP_FIXTURES = _load_json("dump-payloads.json", "fixtures")
RESTORE_CASES = _load_json("restore-cases.json", "cases")


def _params(items: list[dict[str, Any]], what: str) -> list[Any]:
    assert items, f"no {what} fixtures"
    return [pytest.param(item, id=item["name"]) for item in items]


def seal(body: bytes, version: int = 10) -> bytes:
    """Footer a hand-built object body the way DUMP does."""
    sealed = body + version.to_bytes(2, "little")
    return sealed + crc64(sealed).to_bytes(8, "little")


def _text(item: Any) -> bytes:
    # The fixtures write binary strings as {"hex": ...}, everything else as UTF-8 text.
    if isinstance(item, dict):
        return bytes.fromhex(item["hex"])
    return str(item).encode()


def fixture_value(fixture: dict[str, Any]) -> object:
    """The fixture's recorded value in AiKv's value model."""
    kind, raw = fixture["type"], fixture["value"]
    if kind == "string":
        return _text(raw)
    if kind == "list":
        return [_text(x) for x in raw]
    if kind == "set":
        return {_text(x) for x in raw}
    if kind == "hash":
        return {_text(f): _text(v) for f, v in raw}
    # Scores are written the way Redis prints them ("0.1", "-inf", "1e+20"); compare them
    # as numbers since the payload may hold a longer spelling of the same double.
    assert kind == "zset"
    return {_text(m): float(s) for m, s in raw}


# Hashtable sets and hashes are written in the server's hash-table order: not reproducible.
def _order_is_deterministic(fixture: dict[str, Any]) -> bool:
    return not (fixture["type"] in ("set", "hash") and fixture["object_encoding"] == "hashtable")


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("fixture", _params(DUMP_FIXTURES, "dump"))
def test_fixture_payload_decodes_to_recorded_value(fixture: dict[str, Any]) -> None:
    kind, value = load_payload(bytes.fromhex(fixture["dump_hex"]))
    assert kind == fixture["type"]
    assert value == fixture_value(fixture)


@pytest.mark.parametrize("fixture", _params(DUMP_FIXTURES, "dump"))
def test_fixture_dump_reproduced(fixture: dict[str, Any]) -> None:
    expected = bytes.fromhex(fixture["dump_hex"])
    value = fixture_value(fixture)
    payload = dump_payload(fixture["type"], value)
    assert payload[0] == fixture["rdb_type_byte"]
    assert payload[-10:-8] == b"\x0a\x00"
    if _order_is_deterministic(fixture):
        assert payload.hex() == expected.hex()
    else:
        assert len(payload) == len(expected)  # same members, same string forms
        assert load_payload(payload) == (fixture["type"], value)


@pytest.mark.parametrize("fixture", _params(DUMP_FIXTURES, "dump"))
def test_fixture_object_encoding(fixture: dict[str, Any]) -> None:
    assert object_encoding(fixture["type"], fixture_value(fixture)) == fixture["object_encoding"]


@pytest.mark.parametrize("fixture", _params(DUMP_FIXTURES, "dump"))
def test_fixture_crc_and_version(fixture: dict[str, Any]) -> None:
    payload = bytes.fromhex(fixture["dump_hex"])
    assert crc64(payload[:-8]) == int(fixture["crc64_hex"], 16)
    assert payload[-8:].hex() == fixture["crc64_trailer_hex"]
    assert check_footer(payload) == fixture["rdb_version"]


# --------------------------------------------------------------------------- restore cases

# Replies that judge the payload itself; the others (BUSYKEY, option and TTL errors) come
# from checks RESTORE makes before it looks at the payload, which are the server's job.
PAYLOAD_ERRORS = {ERR_VERSION_OR_CHECKSUM, ERR_BAD_DATA_FORMAT}
SERVER_SIDE_ERRORS = {
    "BUSYKEY Target key name already exists.",
    "ERR syntax error",
    "ERR Invalid TTL value, must be >= 0",
    "ERR Invalid FREQ value, must be >= 0 and <= 255",
    "ERR Invalid IDLETIME value, must be >= 0",
    "ERR value is not an integer or out of range",
}


def _expected_from_read(command: list[str], reply: Any) -> tuple[str, object] | None:
    name = command[0].upper()
    if name == "GET":
        return "string", reply.encode()
    if name == "LRANGE":
        return "list", [x.encode() for x in reply]
    if name == "SMEMBERS":
        return "set", {x.encode() for x in reply}
    if name == "HGETALL":
        return "hash", {
            f.encode(): v.encode() for f, v in zip(reply[::2], reply[1::2], strict=True)
        }
    if name == "ZRANGE":
        return "zset", {m.encode(): float(s) for m, s in zip(reply[::2], reply[1::2], strict=True)}
    return None


def test_restore_cases_are_all_classified() -> None:
    assert RESTORE_CASES
    for case in RESTORE_CASES:
        reply = case["reply"]
        assert "status" in reply or reply["error"] in PAYLOAD_ERRORS | SERVER_SIDE_ERRORS, case


PAYLOAD_CASES = [
    c for c in RESTORE_CASES if "status" in c["reply"] or c["reply"]["error"] in PAYLOAD_ERRORS
]


@pytest.mark.parametrize("case", _params(PAYLOAD_CASES, "restore"))
def test_restore_case_payload_verdict(case: dict[str, Any]) -> None:
    payload = bytes.fromhex(case["payload_hex"])
    if "error" in case["reply"]:
        with pytest.raises(DumpPayloadError) as caught:
            load_payload(payload)
        assert str(caught.value) == case["reply"]["error"]
        return
    kind, value = load_payload(payload)
    reads = [_expected_from_read(a["command"], a["reply"]) for a in case.get("after", [])]
    for expected in reads:
        if expected is not None:
            assert (kind, value) == expected


def test_truncated_string_reads_into_the_footer_like_redis() -> None:
    # 7.0 reads the body from the whole argument: a 5-byte string whose payload only has
    # "ab" takes the footer's "\n\x00" and the first CRC byte (GET on 7.0.15 shows this).
    payload = bytes.fromhex("000561620a0027a9b354d194f99e")
    assert load_payload(payload) == ("string", b"ab\n\x00'")
    longer = seal(bytes.fromhex("000e616263"))  # 14 bytes wanted, 13 left in total
    with pytest.raises(DumpPayloadError, match=f"^{ERR_BAD_DATA_FORMAT}$"):
        load_payload(longer)


def _read_with_reader(payload: bytes) -> tuple[str, bytes]:
    # The general path: the string loader on a PayloadReader over the whole payload.
    reader = PayloadReader(payload)
    assert reader.read_byte() == 0
    return "string", reader.read_string()


@pytest.mark.parametrize("size", [0, 1, 11, 12, 21, 63, 64, 65, 300, 16383, 16384, 70000])
@pytest.mark.parametrize("compress", [False, True])
def test_string_payloads_read_in_place_as_the_reader_reads_them(size: int, compress: bool) -> None:
    # load_payload reads raw strings with a 6- or 14-bit length in place; every other
    # form goes through the reader. Both must give the same value for any payload.
    for value in (bytes(range(256)) * (size // 256 + 1))[:size], b"7" * size, b"a" * size:
        payload = dump_string_payload(value, compress)
        assert payload == dump_payload("string", value,
                                       dataclasses.replace(DEFAULT_LIMITS, rdb_compression=compress))
        assert load_payload(payload) == _read_with_reader(payload) == ("string", value)


def test_declared_lengths_past_the_body_read_like_the_reader() -> None:
    # A raw length running into the footer (or past the end) must be treated exactly as
    # the reader treats it: footer bytes taken as value, or Bad data format.
    for body in (b"\x00\x05ab", b"\x00\x07", b"\x00\x12", b"\x00\x3f", b"\x00\x40\x05xy",
                 b"\x00\x40\x0a", b"\x00\x41\x00", b"\x00\x7f\xff"):
        payload = seal(body)
        try:
            expected: object = _read_with_reader(payload)
        except DumpPayloadError as exc:
            expected = str(exc)
        try:
            got: object = load_payload(payload)
        except DumpPayloadError as exc:
            got = str(exc)
        assert got == expected, body


# --------------------------------------------------------------------------- footer


@pytest.mark.parametrize("version", range(11))
def test_every_version_up_to_10_is_accepted(version: int) -> None:
    assert load_payload(seal(b"\x00\x02hi", version)) == ("string", b"hi")


@pytest.mark.parametrize("version", [11, 12, 0x100, 0xFFFF])
def test_newer_versions_are_refused(version: int) -> None:
    with pytest.raises(DumpPayloadError) as caught:
        load_payload(seal(b"\x00\x02hi", version))
    assert str(caught.value) == ERR_VERSION_OR_CHECKSUM


@pytest.mark.parametrize("size", range(10))
def test_payloads_shorter_than_the_footer_are_refused(size: int) -> None:
    with pytest.raises(DumpPayloadError) as caught:
        load_payload(bytes(size))
    assert str(caught.value) == ERR_VERSION_OR_CHECKSUM


def test_crc_mismatch_and_zero_crc_are_refused() -> None:
    good = seal(b"\x00\x03crc")
    for bad in (good[:-8] + bytes(8), good[:-1] + bytes((good[-1] ^ 1,)), b"\x01" + good[1:]):
        with pytest.raises(DumpPayloadError) as caught:
            load_payload(bad)
        assert str(caught.value) == ERR_VERSION_OR_CHECKSUM


def test_footer_alone_is_read_as_an_object_like_redis() -> None:
    # 10 bytes pass the footer check; the version byte 0x0a is then the type byte
    # (LIST_ZIPLIST) and what follows is no valid ziplist.
    with pytest.raises(DumpPayloadError) as caught:
        load_payload(seal(b""))
    assert str(caught.value) == ERR_BAD_DATA_FORMAT


def test_error_message_is_the_bare_redis_text() -> None:
    error = DumpPayloadError(ERR_BAD_DATA_FORMAT, "why")
    assert str(error) == "ERR Bad data format"
    assert error.detail == "why"
    assert "\r" not in str(error) and not str(error).startswith("-")


# --------------------------------------------------------------------------- dump input


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("list", []),
        ("set", set()),
        ("hash", {}),
        ("zset", {}),
        ("zset", {b"a": math.nan}),
        ("string", "text"),
        ("list", [b"a", "b"]),
        ("set", [b"a"]),
        ("stream", b""),
    ],
)
def test_dump_refuses_values_redis_cannot_hold(kind: str, value: object) -> None:
    with pytest.raises(ValueError):
        dump_payload(kind, value)


def test_infinite_scores_round_trip() -> None:
    value = {b"lo": -math.inf, b"hi": math.inf, b"z": 0.0}
    assert load_payload(dump_payload("zset", value)) == ("zset", value)
