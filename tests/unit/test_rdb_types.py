"""Every RDB object type RESTORE accepts, hand-built, plus what must be refused.

The builders here write the legacy containers (ziplist, zipmap) independently of the
decoders under test. ``LOADABLE`` is also replayed against a real redis-server by
tests/integration/test_rdb_vs_redis.py, which checks Redis reads them the same way.
"""

from __future__ import annotations

import math
import struct

import pytest

from aikv.migrate.crc64 import crc64
from aikv.migrate.intset import encode_intset
from aikv.migrate.listpack import encode_listpack
from aikv.migrate.rdb import ERR_BAD_DATA_FORMAT, DumpPayloadError, load_payload
from aikv.migrate.rdbprim import encode_length, encode_string


def seal(body: bytes, version: int = 10) -> bytes:
    sealed = body + version.to_bytes(2, "little")
    return sealed + crc64(sealed).to_bytes(8, "little")


def raw(data: bytes) -> bytes:
    """An RDB string in the plain length-prefixed form, never int or LZF."""
    return encode_length(len(data)) + data


# --------------------------------------------------------------------------- builders


def _ziplist_entry(prev_size: int, element: bytes | int) -> bytes:
    prevlen = bytes((prev_size,)) if prev_size < 254 else b"\xfe" + prev_size.to_bytes(4, "little")
    if isinstance(element, int):
        if 0 <= element <= 12:
            enc = bytes((0xF1 + element,))
        elif -(1 << 7) <= element < (1 << 7):
            enc = b"\xfe" + element.to_bytes(1, "little", signed=True)
        elif -(1 << 15) <= element < (1 << 15):
            enc = b"\xc0" + element.to_bytes(2, "little", signed=True)
        elif -(1 << 23) <= element < (1 << 23):
            enc = b"\xf0" + element.to_bytes(3, "little", signed=True)
        elif -(1 << 31) <= element < (1 << 31):
            enc = b"\xd0" + element.to_bytes(4, "little", signed=True)
        else:
            enc = b"\xe0" + element.to_bytes(8, "little", signed=True)
    else:
        size = len(element)
        if size < 64:
            enc = bytes((size,)) + element
        elif size < 16384:
            enc = bytes((0x40 | (size >> 8), size & 0xFF)) + element
        else:
            enc = b"\x80" + size.to_bytes(4, "big") + element
    return prevlen + enc


def ziplist(elements: list[bytes | int]) -> bytes:
    """A ziplist as Redis < 7.0 laid it out."""
    body = b""
    prev_size = 0
    tail = 10
    for element in elements:
        entry = _ziplist_entry(prev_size, element)
        tail = 10 + len(body)
        body += entry
        prev_size = len(entry)
    total = 10 + len(body) + 1
    header = total.to_bytes(4, "little") + tail.to_bytes(4, "little")
    return header + min(len(elements), 0xFFFF).to_bytes(2, "little") + body + b"\xff"


def _zipmap_len(size: int) -> bytes:
    return bytes((size,)) if size < 254 else b"\xfe" + size.to_bytes(4, "little")


def zipmap(pairs: list[tuple[bytes, bytes]], free: int = 0) -> bytes:
    """A Redis 2.x zipmap, each value followed by ``free`` unused bytes."""
    out = bytes((min(len(pairs), 254),))
    for key, value in pairs:
        out += _zipmap_len(len(key)) + key + _zipmap_len(len(value)) + bytes((free,))
        out += value + bytes(free)
    return out + b"\xff"


def zset_text(score: float) -> bytes:
    if math.isnan(score):
        return b"\xfd"
    if math.isinf(score):
        return b"\xfe" if score > 0 else b"\xff"
    text = repr(score).encode()
    return bytes((len(text),)) + text


# --------------------------------------------------------------------------- accepted

LONG = b"L" * 300  # forces 14-bit lengths and 5-byte ziplist prevlens
LOADABLE: list[tuple[str, bytes, tuple[str, object]]] = [
    (
        "list-plain",
        seal(b"\x01\x04" + raw(b"x") + encode_string(b"-7") + encode_string(b"q" * 40) + raw(LONG)),
        ("list", [b"x", b"-7", b"q" * 40, LONG]),
    ),
    (
        "set-plain-strings",
        seal(b"\x02\x03" + raw(b"a") + raw(b"b") + encode_string(b"100000")),
        ("set", {b"a", b"b", b"100000"}),
    ),
    (
        "set-plain-ints",
        seal(b"\x02\x03" + raw(b"1") + raw(b"2") + raw(b"3")),
        ("set", {b"1", b"2", b"3"}),
    ),
    (
        "zset-text-scores",
        seal(
            b"\x03\x04"
            + raw(b"a")
            + b"\x031.5"
            + raw(b"b")
            + b"\xfe"
            + raw(b"c")
            + b"\xff"
            + raw(b"d")
            + b"\x05-2e-3"
        ),
        ("zset", {b"a": 1.5, b"b": math.inf, b"c": -math.inf, b"d": -0.002}),
    ),
    (
        "hash-plain",
        seal(b"\x04\x02" + raw(b"f1") + raw(b"v1") + raw(b"f2") + encode_string(b"22")),
        ("hash", {b"f1": b"v1", b"f2": b"22"}),
    ),
    (
        "zset2-binary-scores",
        seal(
            b"\x05\x02" + raw(b"m1") + struct.pack("<d", 1.5) + raw(b"m2") + struct.pack("<d", -2.0)
        ),
        ("zset", {b"m1": 1.5, b"m2": -2.0}),
    ),
    (
        "hash-zipmap",
        seal(b"\x09" + raw(zipmap([(b"name", b"bob"), (b"big", LONG), (b"n", b"7")], free=2))),
        ("hash", {b"name": b"bob", b"big": LONG, b"n": b"7"}),
    ),
    (
        "list-ziplist",
        seal(
            b"\x0a"
            + raw(ziplist([b"a", 0, 12, 13, -100, 1000, -70000, 1 << 30, 1 << 40, LONG, b"z"]))
        ),
        (
            "list",
            [
                b"a",
                b"0",
                b"12",
                b"13",
                b"-100",
                b"1000",
                b"-70000",
                b"%d" % (1 << 30),
                b"%d" % (1 << 40),
                LONG,
                b"z",
            ],
        ),
    ),
    (
        "list-ziplist-32bit-string",
        seal(b"\x0a" + encode_string(ziplist([b"s" * 17000, b"t"]))),
        ("list", [b"s" * 17000, b"t"]),
    ),
    (
        "set-intset",
        seal(b"\x0b" + raw(encode_intset([5, -1, 1 << 33]))),
        ("set", {b"5", b"-1", b"%d" % (1 << 33)}),
    ),
    (
        "zset-ziplist",
        seal(b"\x0c" + raw(ziplist([b"a", 1, b"b", b"2.5", b"c", b"inf"]))),
        ("zset", {b"a": 1.0, b"b": 2.5, b"c": math.inf}),
    ),
    (
        "hash-ziplist",
        seal(b"\x0d" + raw(ziplist([b"f", b"v", b"n", 42]))),
        ("hash", {b"f": b"v", b"n": b"42"}),
    ),
    (
        "list-quicklist-ziplist-nodes",
        seal(b"\x0e\x03" + raw(ziplist([b"a", b"b"])) + raw(ziplist([])) + raw(ziplist([3, LONG]))),
        ("list", [b"a", b"b", b"3", LONG]),
    ),
    (
        "hash-listpack",
        seal(b"\x10" + raw(encode_listpack([b"f", b"v", b"n", b"-1"]))),
        ("hash", {b"f": b"v", b"n": b"-1"}),
    ),
    (
        "zset-listpack",
        seal(b"\x11" + raw(encode_listpack([b"x", b"-inf", b"y", 3, b"z", b"0.25"]))),
        ("zset", {b"x": -math.inf, b"y": 3.0, b"z": 0.25}),
    ),
    (
        "list-quicklist2-plain-and-packed",
        seal(
            b"\x12\x03\x02"
            + raw(encode_listpack([b"a", b"1"]))
            + b"\x01"
            + raw(b"plain")
            + b"\x02"
            + raw(encode_listpack([b"b"]))
        ),
        ("list", [b"a", b"1", b"plain", b"b"]),
    ),
    (
        "list-quicklist2-empty-node-skipped",
        seal(b"\x12\x02\x02" + raw(encode_listpack([])) + b"\x02" + raw(encode_listpack([b"k"]))),
        ("list", [b"k"]),
    ),
    (
        "count-in-encoded-form",  # 0xC2 in a count position means 2, as in 7.0's reader
        seal(b"\x01\xc2" + raw(b"a") + raw(b"b")),
        ("list", [b"a", b"b"]),
    ),
]


@pytest.mark.parametrize(
    ("payload", "expected"), [pytest.param(p, e, id=n) for n, p, e in LOADABLE]
)
def test_accepted_payloads(payload: bytes, expected: tuple[str, object]) -> None:
    assert load_payload(payload) == expected


def test_ziplist_builder_uses_long_prevlen() -> None:
    # Guards the builder itself: the entry after LONG must carry a 5-byte prevlen.
    blob = ziplist([LONG, b"x"])
    assert b"\xfe" + (len(LONG) + 3).to_bytes(4, "little") + b"\x01x" in blob


# --------------------------------------------------------------------------- refused

NAN = struct.pack("<d", math.nan)
# Some of these are stricter than 7.0.15, which with its default sanitize-dump-payload no
# replies +OK (checked on a real server) and stores something broken: duplicates in a
# small plain hash, in listpacks and in intsets, an odd listpack hash, a ziplist inside a
# QUICKLIST_2 node; even with sanitizing on it takes a "nan" listpack score. AiKv decodes
# into its own value model, so it refuses them all. (A packed score such as "1.5x" it
# reads as Redis does, 1.5: see test_packed_zset_scores_read_as_zzlstrtod.)
REFUSED: list[tuple[str, bytes]] = [
    # empty collections: Redis has no empty keys
    ("list-empty", b"\x01\x00"),
    ("set-empty", b"\x02\x00"),
    ("zset-empty", b"\x03\x00"),
    ("hash-empty", b"\x04\x00"),
    ("zset2-empty", b"\x05\x00"),
    ("zipmap-empty", b"\x09" + raw(zipmap([]))),
    ("ziplist-list-empty", b"\x0a" + raw(ziplist([]))),
    ("intset-empty", b"\x0b" + raw(bytes.fromhex("0200000000000000"))),
    ("ziplist-zset-empty", b"\x0c" + raw(ziplist([]))),
    ("ziplist-hash-empty", b"\x0d" + raw(ziplist([]))),
    ("quicklist-no-nodes", b"\x0e\x00"),
    ("quicklist-only-empty-nodes", b"\x0e\x01" + raw(ziplist([]))),
    ("listpack-hash-empty", b"\x10" + raw(encode_listpack([]))),
    ("listpack-zset-empty", b"\x11" + raw(encode_listpack([]))),
    ("quicklist2-no-nodes", b"\x12\x00"),
    ("quicklist2-only-empty-nodes", b"\x12\x01\x02" + raw(encode_listpack([]))),
    # duplicates
    ("set-dup", b"\x02\x02" + raw(b"a") + raw(b"a")),
    ("set-dup-int-forms", b"\x02\x02" + raw(b"5") + encode_string(b"5")),
    ("zset-dup", b"\x03\x02" + raw(b"a") + b"\x011" + raw(b"a") + b"\x012"),
    ("hash-dup", b"\x04\x02" + raw(b"f") + raw(b"1") + raw(b"f") + raw(b"2")),
    ("zset2-dup", b"\x05\x02" + (raw(b"m") + struct.pack("<d", 1.0)) * 2),
    ("zipmap-dup", b"\x09" + raw(zipmap([(b"k", b"1"), (b"k", b"2")]))),
    ("ziplist-hash-dup", b"\x0d" + raw(ziplist([b"f", b"1", b"f", b"2"]))),
    ("ziplist-zset-dup", b"\x0c" + raw(ziplist([b"m", 1, b"m", 2]))),
    ("listpack-hash-dup", b"\x10" + raw(encode_listpack([b"f", b"1", b"f", b"2"]))),
    ("listpack-zset-dup", b"\x11" + raw(encode_listpack([b"m", 1, b"m", 2]))),
    ("intset-dup", b"\x0b" + raw(bytes.fromhex("02000000020000000100" + "0100"))),
    # NaN scores
    ("zset-text-nan", b"\x03\x01" + raw(b"a") + b"\xfd"),
    ("zset2-nan", b"\x05\x01" + raw(b"a") + NAN),
    ("listpack-zset-nan", b"\x11" + raw(encode_listpack([b"a", b"nan"]))),
    ("zset-text-junk", b"\x03\x01" + raw(b"a") + b"\x03abc"),
    # odd pair containers
    ("listpack-hash-odd", b"\x10" + raw(encode_listpack([b"f", b"v", b"g"]))),
    ("listpack-zset-odd", b"\x11" + raw(encode_listpack([b"m"]))),
    ("ziplist-hash-odd", b"\x0d" + raw(ziplist([b"f"]))),
    # quicklist node problems
    ("quicklist2-container-0", b"\x12\x01\x00" + raw(encode_listpack([b"a"]))),
    ("quicklist2-container-3", b"\x12\x01\x03" + raw(encode_listpack([b"a"]))),
    ("quicklist2-empty-plain-node", b"\x12\x01\x01\x00"),
    ("quicklist2-ziplist-node", b"\x12\x01\x02" + raw(ziplist([b"a"]))),
    ("quicklist-listpack-node", b"\x0e\x01" + raw(encode_listpack([b"a"]))),
    # lying sizes: must fail on the missing data, without allocating it
    ("list-count-2e32", b"\x01\x81" + (1 << 32).to_bytes(8, "big") + raw(b"a")),
    ("hash-count-huge", b"\x04\x80\xff\xff\xff\xff" + raw(b"f") + raw(b"v")),
    ("string-length-huge", b"\x00\x81" + (1 << 63).to_bytes(8, "big") + b"abc"),
    ("lzf-ulen-huge", b"\x00\xc3\x03" + encode_length(1 << 40) + b"\x01ab"),
    ("string-encoding-4", b"\x00\xc4\x00"),
]
# Types 6/7 (modules) are real Redis types AiKv has no model for; 21 is 7.2's stream
# type, unknown to 7.0. Streams (15, 19) are covered by test_streamrdb.py.
UNKNOWN_TYPES = [6, 7, 8, 20, 21, 0x7F, 0xFF]


@pytest.mark.parametrize("body", [pytest.param(b, id=n) for n, b in REFUSED])
def test_refused_payloads(body: bytes) -> None:
    with pytest.raises(DumpPayloadError) as caught:
        load_payload(seal(body))
    assert str(caught.value) == ERR_BAD_DATA_FORMAT


@pytest.mark.parametrize(("score", "value"), [
    (b"1.5x", 1.5), (b" 2", 2.0), (b"x", 0.0), (b"", 0.0), (b"1e3junk", 1000.0),
    (b"0x10", 16.0), (b"-inf", -math.inf), (b"1" + b"0" * 200, 1e126)])
def test_packed_zset_scores_read_as_zzlstrtod(score: bytes, value: float) -> None:
    """Redis checks a packed sorted set's pairs, not its scores, and reads each back with
    strtod on its first 127 bytes (checked on redis-server 7.0.15: ZSCORE of "1.5x" is
    1.5, sanitize-dump-payload yes or no)."""
    for container in (b"\x0c" + raw(ziplist([b"a", score])),
                      b"\x11" + raw(encode_listpack([b"a", score]))):
        assert load_payload(seal(container)) == ("zset", {b"a": value})


@pytest.mark.parametrize("rdb_type", UNKNOWN_TYPES)
def test_unknown_or_unsupported_types(rdb_type: int) -> None:
    with pytest.raises(DumpPayloadError) as caught:
        load_payload(seal(bytes((rdb_type,)) + raw(b"x")))
    assert str(caught.value) == ERR_BAD_DATA_FORMAT


def test_bytes_between_object_and_footer_are_ignored() -> None:
    # 7.0.15 replies +OK to this (restore-cases.json: trailing_garbage).
    assert load_payload(seal(b"\x00\x02tgGARBAGE")) == ("string", b"tg")
