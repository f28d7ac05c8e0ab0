"""Stored FUNCTION libraries that cannot be loaded at start are kept, not dropped by the
next change (aikv.commands.functions._load_stored / persist_libraries)."""

from __future__ import annotations

import pytest

from aikv.commands import functions as commands
from aikv.migrate.functionrdb import dump_functions, iter_functions
from aikv.resp import CommandError
from aikv.scripting.functions import FunctionEngine


class FakeStore:
    def __init__(self) -> None:
        self.payload: bytes | None = b"unset"

    def write_functions(self, payload: bytes | None) -> None:
        self.payload = payload


class FakeServer:
    def __init__(self) -> None:
        self.store = FakeStore()


def lib(name: str, fn: str) -> bytes:
    return f"#!lua name={name}\nredis.register_function('{fn}', function() return 1 end)\n".encode()


BROKEN = b"#!lua name=broken\nerror('this interpreter refuses it')\n"


def stored_codes(server: FakeServer) -> list[bytes]:
    assert server.store.payload is not None
    return list(iter_functions(server.store.payload))


def test_a_library_that_does_not_load_stays_stored() -> None:
    functions = FunctionEngine()
    commands._load_stored(functions, dump_functions([lib("good", "f1"), BROKEN]))
    assert list(functions.live.libraries) == [b"good"]
    assert functions.kept == [BROKEN]
    functions.create(lib("more", "f2"), False)
    server = FakeServer()
    commands.persist_libraries(server, functions)  # type: ignore[arg-type]
    assert stored_codes(server) == [lib("good", "f1"), lib("more", "f2"), BROKEN]
    functions.flush()  # FUNCTION FLUSH is the way to drop it
    commands.persist_libraries(server, functions)  # type: ignore[arg-type]
    assert server.store.payload is None


def test_an_unreadable_payload_blocks_changes_but_flush() -> None:
    functions = FunctionEngine()
    payload = dump_functions([lib("good", "f1")])
    commands._load_stored(functions, payload[:-3] + b"xyz")  # checksum broken
    assert functions.unreadable and not functions.live.libraries
    with pytest.raises(CommandError, match="cannot be read"):
        commands._check_writable(functions)
    functions.restore([lib("new", "f3")], "flush")
    assert not functions.unreadable
    commands._check_writable(functions)
    assert list(functions.live.libraries) == [b"new"]
