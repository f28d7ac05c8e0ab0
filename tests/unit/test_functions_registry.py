"""The FUNCTION library registry (aikv.scripting.functions) and its payload codec
(aikv.migrate.functionrdb) without a server. Texts are redis-server 7.0.15's; the live
comparison is tests/integration/test_functions.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aikv.migrate.crc64 import crc64
from aikv.migrate.functionrdb import FunctionPayloadError, dump_functions, iter_functions
from aikv.persist.store import Store
from aikv.scripting.engine import FLAG_ALLOW_CROSS_SLOT, FLAG_NO_WRITES
from aikv.scripting.functions import FunctionEngine, FunctionError, parse_shebang


def code(name: str, *functions: str) -> bytes:
    body = "".join(f"redis.register_function('{f}', function() return '{f}' end)\n"
                   for f in functions)
    return f"#!lua name={name}\n{body}".encode()


@pytest.mark.parametrize("payload, expected", [
    (b"#!lua name=a\n", (b"lua", b"a")),
    (b"#!LUA NAME=b\n", (b"LUA", b"b")),
    (b'#!lua "name=c d"\n', (b"lua", b"c d")),
    (b"#! name=e\n", (b"", b"e")),
])
def test_shebang(payload: bytes, expected: tuple[bytes, bytes]) -> None:
    assert parse_shebang(payload) == expected


@pytest.mark.parametrize("payload, message", [
    (b"lua name=a\n", "Missing library metadata"),
    (b"#!lua name=a", "Invalid library metadata"),
    (b"#!lua name=a\0\n", "Invalid library metadata"),
    (b'#!"lua\n', "Invalid library metadata"),
    (b"#!lua\n", "Library name was not given"),
    (b"#!lua name=a name=b\n", "Invalid metadata value, name argument was given multiple times"),
    (b"#!lua x=1\n", "Invalid metadata value given: x=1"),
])
def test_shebang_errors(payload: bytes, message: str) -> None:
    with pytest.raises(FunctionError) as info:
        parse_shebang(payload)
    assert info.value.args[0] == message


def test_register_and_find_without_case() -> None:
    engine = FunctionEngine()
    assert engine.create(code("lib", "Alpha", "beta"), False) == b"lib"
    fn = engine.find(b"ALPHA")
    assert fn is not None and fn.name == b"Alpha" and fn.library.name == b"lib"
    assert engine.live.function_count() == 2
    with pytest.raises(FunctionError, match="Function alpha already exists"):
        engine.create(code("other", "alpha"), False)
    with pytest.raises(FunctionError, match="Library 'lib' already exists"):
        engine.create(code("lib", "gamma"), False)
    # A failed REPLACE keeps the old library, whole.
    with pytest.raises(FunctionError, match="No functions registered"):
        engine.create(b"#!lua name=lib\nreturn 1", True)
    assert engine.find(b"beta") is not None
    engine.create(code("lib", "gamma"), True)
    assert engine.find(b"beta") is None and engine.find(b"gamma") is not None


def test_named_arguments_and_flags() -> None:
    engine = FunctionEngine()
    engine.create(b"#!lua name=n\nredis.register_function{function_name='f', callback="
                  b"function() end, flags={'no-writes', 'ALLOW-CROSS-SLOT-KEYS'}, "
                  b"description='d'}", False)
    fn = engine.find(b"f")
    assert fn is not None
    assert fn.flags == FLAG_NO_WRITES | FLAG_ALLOW_CROSS_SLOT
    assert fn.flag_names() == [b"no-writes", b"allow-cross-slot-keys"]
    assert fn.description == b"d"


def test_loading_sees_only_the_loading_api() -> None:
    engine = FunctionEngine()
    with pytest.raises(FunctionError) as info:
        engine.create(b"#!lua name=g\nlocal t = table.concat", False)
    assert info.value.args[0] == ("Error registering functions: ERR user_function:2: Script "
                                  "attempted to access nonexistent global variable 'table'")
    assert engine.live.libraries == {}


def test_restore_is_all_or_nothing() -> None:
    engine = FunctionEngine()
    engine.create(code("keep", "k"), False)
    with pytest.raises(FunctionError, match="Function K already exists"):
        engine.restore([code("new", "n"), code("clash", "K")], "append")
    assert sorted(engine.live.libraries) == [b"keep"] and engine.find(b"n") is None
    with pytest.raises(FunctionError, match="Library keep already exists"):
        engine.restore([code("keep", "k2")], "append")
    engine.restore([code("keep", "k2")], "replace")
    assert engine.find(b"k") is None and engine.find(b"k2") is not None
    engine.restore([code("only", "o")], "flush")
    assert list(engine.live.libraries) == [b"only"]


def test_payload_round_trip() -> None:
    codes = [code("a", "f"), code("b", "g" * 200)]
    for compress in (False, True):
        payload = dump_functions(codes, compress)
        assert payload[0] == 245 and payload[-10:-8] == b"\x0a\x00"
        assert list(iter_functions(payload)) == codes
    assert dump_functions([]) == b"\x0a\x00" + crc64(b"\x0a\x00").to_bytes(8, "little")


@pytest.mark.parametrize("body, message", [
    (b"\x00", "given type is not a function"),
    (b"\xf5\x40", "Failed loading library payload"),
    (b"\xf6\x01a", "Failed loading engine name"),
])
def test_payload_errors(body: bytes, message: str) -> None:
    sealed = body + b"\x0a\x00"
    payload = sealed + crc64(sealed).to_bytes(8, "little")
    with pytest.raises(FunctionPayloadError) as info:
        list(iter_functions(payload))
    assert info.value.args[0] == message
    with pytest.raises(FunctionPayloadError, match="version or checksum"):
        list(iter_functions(payload[:-1] + b"\x00"))


@pytest.mark.parametrize("tick_log", [False, True], ids=["commit", "tick-log"])
def test_store_keeps_the_payload(tmp_path: Path, tick_log: bool) -> None:
    """Store.write_functions lands with the tick (replayed from the tick log after a
    crash) and survives a FLUSHALL-style drop of the data databases."""
    store = Store(tmp_path, databases=1, tick_log=tick_log)
    store.open()
    assert store.read_functions() is None
    payload = dump_functions([code("kept", "f")])
    store.write_functions(payload)
    assert store.read_functions() == payload  # read back inside the tick
    store.end_tick()
    store.writer().drop(store.dbs[0].meta, delete=False)
    store.end_tick()
    # Killed: the tick log, if any, is replayed at the next open.
    store._drop_read_txn()
    assert store.env is not None and store._lock_fd is not None
    store.env.close()
    store.env = None
    os.close(store._lock_fd)
    store._lock_fd = None
    store = Store(tmp_path, databases=1, tick_log=tick_log)
    store.open()
    try:
        assert store.read_functions() == payload
        store.write_functions(None)
        store.end_tick()
        assert store.read_functions() is None
    finally:
        store.close()
