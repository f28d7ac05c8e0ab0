"""The building blocks of DUMP payloads: CRC-64, LZF, RDB lengths/strings/doubles,
listpack, intset."""

from __future__ import annotations

import math
import os
import random

import pytest

from aikv.migrate import lzf
from aikv.migrate.crc64 import crc64
from aikv.migrate.encoding import EncodingLimits, canonical_int, object_encoding
from aikv.migrate.errors import ERR_BAD_DATA_FORMAT, DumpPayloadError
from aikv.migrate.intset import decode_intset, encode_intset
from aikv.migrate.listpack import (
    decode_listpack,
    encode_backlen,
    encode_entry,
    encode_listpack,
)
from aikv.migrate.rdb import dump_payload
from aikv.migrate.rdbprim import (
    PayloadReader,
    double_text,
    encode_length,
    encode_string,
    encode_text_double,
    parse_double_text,
)


def _bad(call: object, *args: object) -> None:
    """Assert that calling raises DumpPayloadError with the Bad data format text."""
    assert callable(call)
    with pytest.raises(DumpPayloadError) as caught:
        call(*args)
    assert str(caught.value) == ERR_BAD_DATA_FORMAT


# --------------------------------------------------------------------------- CRC-64


def _crc64_bitwise(data: bytes) -> int:
    # Straight from the definition, one bit at a time: the reference for the table code.
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x95AC9329AC4BC9B5 if crc & 1 else crc >> 1
    return crc


def test_crc64_check_value() -> None:
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def test_crc64_vectors_from_real_payloads() -> None:
    assert crc64(b"\x00\x00\x0a\x00") == 0xDAA27F0F405C9B5D  # DUMP of an empty string
    assert crc64(b"\x0a\x00") == 0xDAA27F0F405C9B5D  # leading zeros change nothing (init 0)
    assert crc64(bytes.fromhex("00c139300a00")) == int.from_bytes(
        bytes.fromhex("9d94ea2793fc08b9"), "little"
    )


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000])
def test_crc64_matches_bitwise_reference(size: int) -> None:
    data = random.Random(size).randbytes(size)
    assert crc64(data) == _crc64_bitwise(data)


def test_crc64_can_be_continued_and_takes_any_buffer() -> None:
    data = os.urandom(1001)
    whole = crc64(data)
    assert crc64(data[333:], crc64(data[:333])) == whole
    assert crc64(bytearray(data)) == whole
    assert crc64(memoryview(data)) == whole


# --------------------------------------------------------------------------- LZF


def test_lzf_round_trip_of_compressible_data() -> None:
    for data in (b"a" * 1000, b"abcdefgh" * 64, bytes(range(256)) * 40, b"x" * 21):
        packed = lzf.compress(data, len(data) - 4)
        assert packed is not None and len(packed) <= len(data) - 4
        assert lzf.decompress(packed, len(data)) == data


def test_lzf_gives_up_when_it_cannot_save_enough() -> None:
    data = random.Random(1).randbytes(300)
    assert lzf.compress(data, len(data) - 4) is None
    assert lzf.compress(b"", 10) is None


def test_lzf_known_stream() -> None:
    # From the 512-byte fixture string: one literal run, then two back-references.
    packed = bytes.fromhex("08616263646566676861e0ff07e1e407016768")
    assert lzf.decompress(packed, 512) == b"abcdefgh" * 64
    assert lzf.compress(b"abcdefgh" * 64, 508) == packed


def test_lzf_overlapping_reference_repeats_the_pattern() -> None:
    # literal "ab", then copy 7 bytes starting 2 back: "ababababa"
    assert lzf.decompress(bytes((0x01,)) + b"ab" + bytes((5 << 5, 0x01)), 9) == b"ababababa"


@pytest.mark.parametrize(
    ("stream", "size"),
    [
        (bytes((0x02,)) + b"ab", 3),  # literal run longer than the input
        (bytes((0x00,)) + b"a" + bytes((0x20, 0x05)), 4),  # reference before the start
        (bytes((0x00,)) + b"a" + bytes((0x20,)), 4),  # reference missing its offset byte
        (bytes((0x00,)) + b"a" + bytes((0xE0,)), 12),  # long reference missing its length
        (bytes((0x01,)) + b"ab", 3),  # output shorter than announced
        (bytes((0x01,)) + b"ab", 1),  # output longer than announced
        (bytes((0x00,)) + b"a" + bytes((0xE0, 0xFF, 0x00)), 10),  # overruns announced size
    ],
)
def test_lzf_rejects_malformed_streams(stream: bytes, size: int) -> None:
    _bad(lzf.decompress, stream, size)


def test_lzf_lying_size_does_not_allocate() -> None:
    # Announcing 2^60 bytes from 3 input bytes must fail on the content, not on memory.
    _bad(lzf.decompress, bytes((0x01,)) + b"ab", 1 << 60)


# --------------------------------------------------------------------------- lengths


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, "00"),
        (63, "3f"),
        (64, "4040"),
        (300, "412c"),
        (16383, "7fff"),
        (16384, "8000004000"),
        (0xFFFFFFFF, "80ffffffff"),
        (1 << 32, "810000000100000000"),
    ],
)
def test_length_encoding(length: int, encoded: str) -> None:
    assert encode_length(length).hex() == encoded
    reader = PayloadReader(bytes.fromhex(encoded))
    assert reader.read_length() == length
    assert reader.remaining == 0


def test_non_minimal_lengths_are_read() -> None:
    assert PayloadReader(bytes.fromhex("8000000003616263")).read_string() == b"abc"
    assert PayloadReader(bytes.fromhex("4003616263")).read_string() == b"abc"
    assert PayloadReader(bytes.fromhex("810000000000000003616263")).read_string() == b"abc"


@pytest.mark.parametrize("first", [0x82, 0x9F, 0xBF])
def test_unknown_length_forms_are_refused(first: int) -> None:
    _bad(PayloadReader(bytes((first,)) + bytes(9)).read_length)


def test_lying_string_length_fails_without_allocating() -> None:
    _bad(PayloadReader(bytes.fromhex("81") + (1 << 62).to_bytes(8, "big") + b"abc").read_string)
    _bad(PayloadReader(bytes.fromhex("c3") + encode_length(1 << 40) + b"\x05ab").read_string)


# --------------------------------------------------------------------------- strings


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        (b"0", "c000"),
        (b"-7", "c0f9"),
        (b"127", "c07f"),
        (b"-128", "c080"),
        (b"128", "c18000"),
        (b"12345", "c13930"),
        (b"-32768", "c10080"),
        (b"32768", "c200800000"),
        (b"100000", "c2a0860100"),
        (b"2147483647", "c2ffffff7f"),
        (b"-2147483648", "c200000080"),
        (b"2147483648", "0a32313437343833363438"),
        (b"12345678901", "0b3132333435363738393031"),
        (b"007", "03303037"),
        (b"-0", "022d30"),
        (b"+1", "022b31"),
        (b" 1", "022031"),
        (b"", "00"),
    ],
)
def test_string_forms(text: bytes, encoded: str) -> None:
    assert encode_string(text).hex() == encoded
    assert PayloadReader(bytes.fromhex(encoded)).read_string() == text


def test_long_strings_are_compressed_only_when_it_saves_four_bytes() -> None:
    assert encode_string(b"a" * 20) == b"\x14" + b"a" * 20  # 20 bytes: LZF never tried
    packed = encode_string(b"a" * 21)
    assert packed[0] == 0xC3
    assert PayloadReader(packed).read_string() == b"a" * 21
    noise = random.Random(7).randbytes(100)
    assert encode_string(noise) == b"\x40\x64" + noise
    assert encode_string(b"a" * 100, compress=False) == b"\x40\x64" + b"a" * 100


def test_huge_strings_still_round_trip() -> None:
    # Past the exact-LZF limit the writer may choose differently; reading must not care.
    for data in (b"0123456789abcdef" * 20000, random.Random(3).randbytes(200_000)):
        assert PayloadReader(encode_string(data)).read_string() == data


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"0", 0),
        (b"-1", -1),
        (b"9223372036854775807", (1 << 63) - 1),
        (b"-9223372036854775808", -(1 << 63)),
        (b"9223372036854775808", None),
        (b"-9223372036854775809", None),
        (b"007", None),
        (b"-0", None),
        (b"+5", None),
        (b"5 ", None),
        (b"", None),
        (b"-", None),
        (b"1e3", None),
        ("٣".encode(), None),
    ],
)
def test_canonical_int(text: bytes, value: int | None) -> None:
    assert canonical_int(text) == value


# --------------------------------------------------------------------------- doubles


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, b"1"),
        (-3.0, b"-3"),
        (-0.0, b"0"),
        (2.5, b"2.5"),
        (0.1, b"0.10000000000000001"),
        (1e20, b"1e+20"),
        (float(1 << 62), b"4611686018427387904"),
        (float((1 << 62) + 2048), b"4.61168601842739e+18"),
        (math.inf, b"inf"),
        (-math.inf, b"-inf"),
    ],
)
def test_double_text_as_redis_prints_it(value: float, text: bytes) -> None:
    assert double_text(value) == text
    assert parse_double_text(text) == value


def test_text_double_specials() -> None:
    assert encode_text_double(math.inf) == b"\xfe"
    assert encode_text_double(-math.inf) == b"\xff"
    assert encode_text_double(math.nan) == b"\xfd"
    assert encode_text_double(1.5) == b"\x031.5"
    assert math.isnan(PayloadReader(b"\xfd").read_text_double())
    assert PayloadReader(b"\x031.5").read_text_double() == 1.5


@pytest.mark.parametrize("text", [b"", b"abc", b"1.5x", b"nan", b"1_0", b" 1", b"0x10", b"--1"])
def test_junk_double_text_is_refused(text: bytes) -> None:
    _bad(parse_double_text, text)


# --------------------------------------------------------------------------- listpack


@pytest.mark.parametrize(
    ("size", "encoded"),
    [
        (1, "01"),
        (12, "0c"),
        (127, "7f"),
        (128, "0180"),
        (200, "01c8"),
        (9205, "47f5"),
        (16382, "7ffe"),
        (16383, "00ffff"),
        (2097151, "00ffffff"),
        (268435455, "00ffffffff"),
    ],
)
def test_backlen_layout(size: int, encoded: str) -> None:
    assert encode_backlen(size).hex() == encoded
    # 0x80 is clear on the first byte and set on every following one.
    raw = encode_backlen(size)
    assert raw[0] < 0x80 and all(b >= 0x80 for b in raw[1:])


@pytest.mark.parametrize(
    ("element", "entry"),
    [
        (b"1", "0101"),
        (b"127", "7f01"),
        (b"128", "c08002"),
        (b"-2", "dffe02"),
        (b"4095", "cfff02"),
        (b"-4096", "d00002"),
        (b"4096", "f1001003"),
        (b"-32768", "f1008003"),
        (b"32768", "f200800004"),
        (b"70000", "f270110104"),
        (b"8388608", "f30000800005"),
        (b"4294967296", "f4000000000100000009"),
        (b"-9223372036854775808", "f4000000000000008009"),
        (b"a", "816102"),
        (b"", "8001"),
    ],
)
def test_listpack_entry_encodings(element: bytes, entry: str) -> None:
    assert encode_entry(element).hex() == entry
    assert decode_listpack(encode_listpack([element])) == [element]


@pytest.mark.parametrize("size", [63, 64, 4095, 4096, 70000])
def test_listpack_string_length_forms(size: int) -> None:
    element = b"s" * size
    blob = encode_listpack([element, b"tail"])
    assert decode_listpack(blob) == [element, b"tail"]
    first = blob[6]
    assert (first & 0xC0 == 0x80) == (size < 64)
    assert (first & 0xF0 == 0xE0) == (64 <= size < 4096)
    assert (first == 0xF0) == (size >= 4096)


def test_listpack_header_count_saturates() -> None:
    blob = encode_listpack([b"1"] * 70000)
    assert blob[4:6] == b"\xff\xff"
    assert len(decode_listpack(blob)) == 70000


def test_listpack_example_from_the_spec() -> None:
    blob = bytes.fromhex(
        "34000000090081610281620281630201"
        "01dffe02c12c02f270110104f4000000000100000009"
        "8b68656c6c6f20776f726c640cff"
    )
    elements = [b"a", b"b", b"c", b"1", b"-2", b"300", b"70000", b"4294967296", b"hello world"]
    assert decode_listpack(blob) == elements
    assert encode_listpack(elements) == blob


def _valid_listpack() -> bytes:
    return encode_listpack([b"a" * 200, b"1", b"xyz"])


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: b[:-1], id="no-terminator"),
        pytest.param(lambda b: b[:-1] + b"\x00", id="terminator-replaced"),
        pytest.param(lambda b: (len(b) + 1).to_bytes(4, "little") + b[4:], id="size-field"),
        pytest.param(lambda b: b[:4] + b"\x04\x00" + b[6:], id="count-wrong"),
        pytest.param(lambda b: b[:6] + b"\xf5" + b[7:], id="invalid-encoding"),
        # The 200-byte string entry takes 202 bytes: backlen 01 ca. With 0x80 on the wrong
        # byte (81 4a) Redis 7.0 accepts the payload and crashes on first access.
        pytest.param(lambda b: b.replace(b"\x01\xca", b"\x81\x4a", 1), id="backlen-reversed"),
        pytest.param(lambda b: b[:6] + b"\xef\xff" + b[8:], id="length-overruns"),
        pytest.param(lambda b: b"\x06\x00\x00\x00\x00\x00", id="too-short"),
    ],
)
def test_listpack_corruption_is_refused(mutate: object) -> None:
    assert callable(mutate)
    _bad(decode_listpack, mutate(_valid_listpack()))


def test_listpack_without_entries_is_empty() -> None:
    assert decode_listpack(encode_listpack([])) == []


# --------------------------------------------------------------------------- intset


@pytest.mark.parametrize(
    ("values", "width"),
    [
        ([1, 2, 3, -5, 100], 2),
        ([-32768, 32767], 2),
        ([32768], 4),
        ([-(1 << 31)], 4),
        ([1 << 31], 8),
        ([-3, 1, 1 << 40], 8),
        ([-(1 << 63), (1 << 63) - 1], 8),
    ],
)
def test_intset_round_trip(values: list[int], width: int) -> None:
    blob = encode_intset(values)
    assert int.from_bytes(blob[:4], "little") == width
    assert decode_intset(blob) == sorted(values)


def test_intset_layout_from_the_spec() -> None:
    assert encode_intset([1, 2, 3, -5, 100]).hex() == "0200000005000000fbff0100020003006400"


@pytest.mark.parametrize(
    "blob",
    [
        "0200000002000000",  # count says 2, no elements
        "0300000001000000010000",  # width 3
        "0200000000000000",  # empty
        "020000000200000002000100",  # descending
        "020000000200000001000100",  # duplicate
        "02000000",  # short header
        "0200000001000000010000",  # one byte too many
    ],
)
def test_intset_corruption_is_refused(blob: str) -> None:
    _bad(decode_intset, bytes.fromhex(blob))


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("kind", "value", "encoding"),
    [
        ("string", b"123", "int"),
        ("string", b"-9223372036854775808", "int"),
        ("string", b"9223372036854775808", "embstr"),
        ("string", b"x" * 44, "embstr"),
        ("string", b"x" * 45, "raw"),
        ("list", [b"a"], "quicklist"),
        ("set", {b"%d" % i for i in range(512)}, "intset"),
        ("set", {b"%d" % i for i in range(513)}, "hashtable"),
        ("set", {b"1", b"a"}, "hashtable"),
        ("hash", {b"%d" % i: b"v" for i in range(512)}, "listpack"),
        ("hash", {b"%d" % i: b"v" for i in range(513)}, "hashtable"),
        ("hash", {b"f": b"v" * 64}, "listpack"),
        ("hash", {b"f": b"v" * 65}, "hashtable"),
        ("hash", {b"f" * 65: b"v"}, "hashtable"),
        ("zset", {b"%d" % i: 1.0 for i in range(128)}, "listpack"),
        ("zset", {b"%d" % i: 1.0 for i in range(129)}, "skiplist"),
        ("zset", {b"m" * 64: 1.0}, "listpack"),
        ("zset", {b"m" * 65: 1.0}, "skiplist"),
    ],
)
def test_object_encoding_thresholds(kind: str, value: object, encoding: str) -> None:
    assert object_encoding(kind, value) == encoding


def test_object_encoding_rejects_mismatched_values() -> None:
    for kind, value in (("string", "text"), ("set", [b"a"]), ("hash", [b"a"]), ("x", b"")):
        with pytest.raises(ValueError):
            object_encoding(kind, value)


def test_limits_can_model_a_server_started_with_redis_conf() -> None:
    # The shipped redis.conf lowers hash-max-listpack-entries to 128; the built-in is 512.
    conf = EncodingLimits(hash_max_listpack_entries=128)
    value = {b"f%d" % i: b"v" for i in range(129)}
    assert object_encoding("hash", value) == "listpack"
    assert object_encoding("hash", value, conf) == "hashtable"
    assert dump_payload("hash", value)[0] == 16
    assert dump_payload("hash", value, conf)[0] == 4


def test_positive_list_fill_counts_elements_per_node() -> None:
    payload = dump_payload(
        "list", [b"%d" % i for i in range(7)], EncodingLimits(list_max_listpack_size=3)
    )
    assert payload[:2] == b"\x12\x03"  # 3 nodes: 3 + 3 + 1 elements
