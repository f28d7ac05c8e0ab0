"""Whole RDB files (a master's full synchronisation), built here byte by byte; a real
redis-server's file is read in tests/integration/test_replica.py."""

from __future__ import annotations

import pytest

from aikv.migrate.crc64 import crc64
from aikv.migrate.errors import DumpPayloadError
from aikv.migrate.rdbfile import Aux, Function, Key, read_rdb
from aikv.migrate.rdbprim import encode_length, encode_string


def _file(body: bytes, version: bytes = b"0010", crc: int | None = None) -> bytes:
    head = b"REDIS" + version + body + b"\xff"
    return head + (crc64(head) if crc is None else crc).to_bytes(8, "little")


def _aux(name: bytes, value: bytes) -> bytes:
    return b"\xfa" + encode_string(name) + encode_string(value)


def _string_key(key: bytes, value: bytes) -> bytes:
    return b"\x00" + encode_string(key) + encode_string(value)


BODY = (_aux(b"redis-ver", b"7.0.15") + _aux(b"repl-stream-db", b"0")
        + b"\xf5" + encode_string(b"#!lua name=l\nredis.register_function('f', "
                                  b"function() return 1 end)")
        + b"\xfe" + encode_length(0) + b"\xfb" + encode_length(2) + encode_length(1)
        + b"\xfc" + (1_900_000_000_000).to_bytes(8, "little") + _string_key(b"a", b"1")
        + b"\xf8" + encode_length(5) + _string_key(b"b", b"x" * 100)
        + b"\xfe" + encode_length(3) + b"\xfd" + (2_000_000_000).to_bytes(4, "little")
        + b"\xf9\x07" + _string_key(b"c", b"12345"))


def test_records_in_file_order() -> None:
    records = list(read_rdb(_file(BODY)))
    assert records[:2] == [Aux(b"redis-ver", b"7.0.15"), Aux(b"repl-stream-db", b"0")]
    assert isinstance(records[2], Function) and records[2].code.startswith(b"#!lua name=l")
    keys = [r for r in records if isinstance(r, Key)]
    assert [(k.db, k.key, k.kind, k.value, k.expire_at_ms) for k in keys] == [
        (0, b"a", "string", b"1", 1_900_000_000_000),
        (0, b"b", "string", b"x" * 100, 0),  # an expiry belongs to the next key only
        (3, b"c", "string", b"12345", 2_000_000_000_000),
    ]
    assert all(k.size > len(k.key) for k in keys)


def test_a_zero_checksum_is_not_checked() -> None:
    assert len(list(read_rdb(_file(BODY, crc=0)))) == 6


@pytest.mark.parametrize(("data", "why"), [
    (_file(BODY, crc=12345), "checksum"),
    (_file(BODY, version=b"0011"), "too new"),
    (b"RUBBISH0010\xff" + bytes(8), "not an RDB"),
    (_file(BODY)[:-12], "truncated"),
    (_file(b"\xf7" + encode_length(1)), "module"),
    (_file(b"\x63" + encode_string(b"k")), "unsupported RDB object type 99"),
])
def test_malformed_files_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(DumpPayloadError) as excinfo:
        list(read_rdb(data))
    assert why in repr(excinfo.value.args) + str(excinfo.value.__dict__)
