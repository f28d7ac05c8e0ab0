"""INFO's number_of_functions / number_of_libraries: a node with no stored library builds
no Lua state to answer INFO; one with stored libraries loads them to count them."""

from __future__ import annotations

from pathlib import Path

from aikv import info
from aikv.config import Config
from aikv.migrate.functionrdb import dump_functions
from aikv.server import Server

LIBRARY = (b"#!lua name=lib\n"
           b"redis.register_function('f1', function() return 1 end)\n"
           b"redis.register_function('f2', function() return 2 end)\n")


def counts(server: Server) -> dict[str, object]:
    return {name: value for name, value in info._memory(server)
            if name.startswith("number_of_")}


def test_counts_without_and_with_stored_libraries(tmp_path: Path) -> None:
    config = Config()
    config.set("dir", str(tmp_path), startup=True)
    server = Server(config)
    server.open_storage()
    try:
        assert counts(server) == {"number_of_cached_scripts": 0, "number_of_functions": 0,
                                  "number_of_libraries": 0}
        assert server.scripting is None  # no Lua state built for INFO
        server.store.write_functions(dump_functions([LIBRARY]))
        server.store.end_tick()
        assert counts(server) == {"number_of_cached_scripts": 0, "number_of_functions": 2,
                                  "number_of_libraries": 1}
    finally:
        server.store.close()
