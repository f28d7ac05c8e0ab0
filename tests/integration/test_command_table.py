"""The whole team's command registrations checked against redis-server 7.0.15.

For every command (and subcommand) in AiKv's table, COMMAND INFO on AiKv must agree with
COMMAND INFO on the real server: arity, flags, legacy key positions (first, last, step)
and ACL categories. A failure here names the command and the differing fields; fix the
registration in the module that owns the command.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aikv.commands import all_commands
from tests.differ import RawConnection, parse
from tests.harness import ServerProcess

REGISTERED = sorted(all_commands())

# Commands AiKv has on purpose although Redis 7.0.15 does not.
EXTENSIONS = {
    "client|setinfo": "Redis 7.2; redis-py 5 sends it on every new connection",
}


def _table(port: int, resp3: bool = False) -> dict[str, list[Any]]:
    conn = RawConnection(port)
    try:
        if resp3:
            conn.call("hello", "3")
        entries = parse(conn.call("command"))
    finally:
        conn.close()
    out: dict[str, list[Any]] = {}

    def walk(entry: list[Any]) -> None:
        out[entry[0].decode()] = entry
        for sub in entry[9]:
            walk(sub)

    for entry in entries:
        walk(entry)
    return out


@pytest.fixture(scope="module")
def real_table(redis_module: ServerProcess) -> Iterator[dict[str, list[Any]]]:
    yield _table(redis_module.port)


@pytest.fixture(scope="module")
def aikv_table(aikv_module: ServerProcess) -> Iterator[dict[str, list[Any]]]:
    yield _table(aikv_module.port)


def _describe(entry: list[Any]) -> dict[str, Any]:
    return {
        "arity": entry[1],
        "flags": sorted(f.decode() for f in entry[2]),
        "keys": (entry[3], entry[4], entry[5]),
        "categories": sorted(c.decode() for c in entry[6]),
    }


@pytest.mark.parametrize("name", REGISTERED)
def test_registration_matches_redis(name: str, real_table: dict[str, list[Any]],
                                    aikv_table: dict[str, list[Any]]) -> None:
    assert name in aikv_table, f"{name} is registered but missing from COMMAND"
    if name in EXTENSIONS:
        assert name not in real_table, f"{name} is in Redis 7.0 after all"
        return
    assert name in real_table, f"{name} is not a Redis 7.0 command"
    mine = _describe(aikv_table[name])
    theirs = _describe(real_table[name])
    diffs = {field: (mine[field], theirs[field]) for field in mine
             if mine[field] != theirs[field]}
    assert not diffs, f"{name}: (aikv, redis) " + repr(diffs)


def test_command_lists_exactly_the_registry(aikv_table: dict[str, list[Any]]) -> None:
    assert sorted(aikv_table) == REGISTERED


def test_command_is_well_formed_in_resp3(aikv_module: ServerProcess,
                                         aikv_table: dict[str, list[Any]]) -> None:
    resp3 = _table(aikv_module.port, resp3=True)
    assert sorted(resp3) == sorted(aikv_table)
    for name, entry in resp3.items():
        assert len(entry) == 10, name
        assert _describe(entry) == _describe(aikv_table[name]), name
        for spec in entry[8]:
            assert isinstance(spec, dict) and {b"flags", b"begin_search",
                                               b"find_keys"} <= set(spec), name


def _groups(port: int) -> dict[str, bytes]:
    """COMMAND DOCS "group" of every command and subcommand."""
    conn = RawConnection(port)
    try:
        reply = parse(conn.call("command", "docs"))
    finally:
        conn.close()
    out: dict[str, bytes] = {}

    def walk(name: bytes, doc: list[Any]) -> None:
        fields = dict(zip(doc[::2], doc[1::2], strict=True))
        out[name.decode()] = fields.get(b"group", b"")
        subs = fields.get(b"subcommands") or []
        for sub_name, sub_doc in zip(subs[::2], subs[1::2], strict=True):
            walk(sub_name, sub_doc)

    for name, doc in zip(reply[::2], reply[1::2], strict=True):
        walk(name, doc)
    return out


def test_docs_groups_match_redis(aikv_module: ServerProcess, redis_module: ServerProcess) -> None:
    mine, theirs = _groups(aikv_module.port), _groups(redis_module.port)
    wrong = {name: (group, theirs[name]) for name, group in mine.items()
             if name in theirs and group != theirs[name]}
    assert not wrong, wrong
    assert set(mine) - set(theirs) <= set(EXTENSIONS)
