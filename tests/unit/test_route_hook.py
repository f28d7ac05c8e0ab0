"""ClusterNode.route, the dispatcher's hook, answers exactly as the general `route()`.

The hook decides common cases without building the routing question (a single key in a
slot we own; a single key of a slot we import, asked for with ASKING). Every command,
node, key set and client flag below is put to both; the answers must be the same bytes.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from aikv.cluster.routing import route
from aikv.cluster.runtime import ClusterNode
from aikv.commands import load_all
from aikv.commands.registry import COMMANDS
from aikv.config import Config
from aikv.resp import error
from tests.unit.test_routing import ID1, ID2, ID3, KEYS, mid_migration

load_all()


class _Db:
    def __init__(self, keys: set[bytes]) -> None:
        self.keys = keys

    def exists(self, key: bytes) -> bool:
        return key in self.keys


class _Server:
    def __init__(self, directory: Path, keys: set[bytes]) -> None:
        self.config = Config()
        self.config.set("dir", str(directory), startup=True)
        self.databases = [_Db(keys)]


class _Client:
    def __init__(self, asking: bool, readonly: bool) -> None:
        self.asking = asking
        self.readonly = readonly
        self.multi = None


# Slot 100 is migrating ID1 -> ID2 ({t10648}); the other tags hash to slots of ID1, ID2
# and ID3 in the mid-migration layout of test_routing.
IMPORTING_KEYS = [b"{t10648}a", b"{t10648}c", b"{t10648}missing"]
OTHER_KEYS = [b"plain-key", b"{user1000}x", b"zzz"]
COMMAND_LINES = (
    [[b"GET", k] for k in IMPORTING_KEYS + OTHER_KEYS]
    + [[b"SET", k, b"v"] for k in IMPORTING_KEYS + OTHER_KEYS]
    + [[b"RESTORE-ASKING", k, b"0", b"payload"] for k in IMPORTING_KEYS + OTHER_KEYS]
    + [[b"MGET", *IMPORTING_KEYS[:2]], [b"MGET", IMPORTING_KEYS[0], IMPORTING_KEYS[2]],
       [b"MGET", IMPORTING_KEYS[0], OTHER_KEYS[0]], [b"DEL", IMPORTING_KEYS[1]]]
)


@pytest.mark.parametrize("me", [ID1, ID2, ID3])
@pytest.mark.parametrize("state_ok", [True, False])
def test_hook_agrees_with_route(tmp_path: Path, me: str, state_ok: bool) -> None:
    server: Any = _Server(tmp_path, KEYS[me])
    node = ClusterNode(server)
    node.state = mid_migration(me)
    node.state.state_ok = state_ok
    checked = 0
    for argv, asking, readonly in itertools.product(COMMAND_LINES, (False, True), (False, True)):
        cmd = COMMANDS[argv[0].lower()]
        client: Any = _Client(asking, readonly)
        expected = route(
            node.state, cmd.keys(argv), is_write=cmd.is_write,
            key_exists=lambda k: k in KEYS[me],
            asking=asking or cmd.name == "restore-asking", readonly=readonly,
            is_migrate=False, allow_reads_when_down=False)
        want = None if expected is None else error(expected)
        assert node.route(client, cmd, argv) == want, (me, argv, asking, readonly)
        checked += 1
    assert checked == len(COMMAND_LINES) * 4


def test_restore_asking_into_an_importing_slot_takes_the_shortcut(tmp_path: Path) -> None:
    """The shortcut really is taken: no key lookup for RESTORE-ASKING on an import."""
    server: Any = _Server(tmp_path, set())

    def no_lookups(key: bytes) -> bool:
        raise AssertionError("looked the key up")

    server.databases[0].exists = no_lookups
    node = ClusterNode(server)
    node.state = mid_migration(ID2)
    cmd = COMMANDS[b"restore-asking"]
    assert node.route(_Client(False, False), cmd, [b"RESTORE-ASKING", b"{t10648}new", b"0", b"p"]) is None
    # A multi-key command on the same slot still needs the lookups (TRYAGAIN rule).
    with pytest.raises(AssertionError, match="looked the key up"):
        node.route(_Client(True, False), COMMANDS[b"mget"], [b"MGET", b"{t10648}a", b"{t10648}b"])
