"""ACL for the default user against a real redis-server 7.0: the same replies, ACL LOG's
entries included (their age and the connection description normalised). Other users and
their permissions: test_acl_users.py."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from aikv.commands import load_all
from aikv.commands.registry import COMMANDS
from tests.differ import Differ, RawConnection, parse
from tests.harness import ServerProcess


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> Iterator[None]:
    differ.both("acl", "log", "reset")
    yield
    differ.both("config", "set", "requirepass", "")
    differ.both("hello", "2")
    differ.both("acl", "log", "reset")


SCRIPT = [
    ("acl", "whoami"), ("acl", "users"), ("acl", "list"), ("acl", "getuser", "default"),
    ("acl", "getuser", "nobody"), ("acl", "getuser", "DEFAULT"), ("acl", "cat"),
    ("acl", "cat", "nosuch"), ("acl", "cat", "geo", "x"), ("acl", "genpass", "0"),
    ("acl", "genpass", "4097"), ("acl", "genpass", "x"), ("acl", "genpass", "1", "2"),
    ("acl", "dryrun", "default", "get"), ("acl", "dryrun", "default", "get", "k"),
    ("acl", "dryrun", "default", "nosuch"), ("acl", "dryrun", "default", "config"),
    ("acl", "dryrun", "default", "config", "get", "x"),
    ("acl", "dryrun", "default", "config", "nosuch"), ("acl", "dryrun", "nobody", "get", "k"),
    ("acl", "dryrun", "default"), ("acl", "log"), ("acl", "log", "0"), ("acl", "log", "-1"),
    ("acl", "log", "x"), ("acl", "log", "reset"), ("acl", "log", "1", "2"), ("acl",),
    ("auth", "DEFAULT", "x"), ("auth", "nobody", "x"), ("auth", "default", "anything"),
    # Users can be created and deleted now; there is no ACL file.
    ("acl", "help"), ("acl", "setuser"), ("acl", "deluser"), ("acl", "deluser", "default"),
    ("acl", "deluser", "nobody"), ("acl", "deluser", "nobody", "default"), ("acl", "load"),
    ("acl", "save"), ("acl", "load", "x"), ("acl", "dryrun", "default", "auth", "x"),
]


def test_default_user_matches_redis(differ: Differ) -> None:
    for cmd in SCRIPT:
        differ.check(*cmd)
    differ.both("hello", "3")
    for cmd in (("acl", "getuser", "default"), ("acl", "getuser", "nobody"), ("acl", "cat")):
        differ.check(*cmd)


def test_with_a_password(differ: Differ) -> None:
    differ.check("config", "set", "requirepass", "s3cret")
    differ.check("auth", "s3cret")
    for cmd in (("acl", "list"), ("acl", "getuser", "default"),
                ("auth", "default", "wrong"), ("auth", "s3cret")):
        differ.check(*cmd)


def test_genpass_lengths(differ: Differ) -> None:
    for bits in ("1", "4", "5", "7", "256", "4096"):
        mine, theirs = (parse(r) for r in differ.both("acl", "genpass", bits))
        assert len(mine) == len(theirs) and re.fullmatch(rb"[0-9a-f]+", mine), (bits, mine)
    mine, theirs = (parse(r) for r in differ.both("acl", "genpass"))
    assert len(mine) == len(theirs) == 64


def test_cat_lists_the_commands_of_a_category(differ: Differ) -> None:
    load_all()
    ours = {cmd.full_name.encode() for top in COMMANDS.values()
            for cmd in (top, *top.subcommands.values())}
    listed = {category: [set(parse(r)) for r in differ.both("acl", "cat", category)]
              for category in parse(differ.r.call("acl", "cat"))}
    redis_all = set().union(*(theirs for _, theirs in listed.values()))
    for category, (mine, theirs) in listed.items():
        # Compared on the commands both servers have: Redis lists streams, scripting ...,
        # AiKv its one extension (CLIENT SETINFO, from Redis 7.2).
        assert mine & redis_all == theirs & ours, (category, (mine & redis_all) ^ (theirs & ours))
        assert mine <= ours


def _normalised_log(raw: bytes) -> list[dict[bytes, object]]:
    entries = []
    for entry in parse(raw):
        fields = dict(zip(entry[::2], entry[1::2], strict=True))
        fields[b"age-seconds"] = float(fields[b"age-seconds"]) < 5
        info = fields[b"client-info"]
        fields[b"client-info"] = re.findall(rb"(?:cmd|user|resp|flags)=\S+", info)
        entries.append(fields)
    return entries


def test_log_groups_failed_authentications_like_redis(differ: Differ,
                                                       aikv_module: ServerProcess,
                                                       redis_module: ServerProcess) -> None:
    differ.check("config", "set", "requirepass", "pw")
    logs = []
    for server in (aikv_module, redis_module):
        first, second = RawConnection(server.port), RawConnection(server.port)
        try:
            first.call("auth", "wrong")
            second.call("auth", "wrong-again")
            first.call("auth", "nobody", "x")
            second.call("hello", "3", "auth", "default", "bad")
            first.call("auth", "pw")
            logs.append([_normalised_log(first.call("acl", "log")),
                         _normalised_log(first.call("acl", "log", "2")),
                         first.call("acl", "log", "reset"), first.call("acl", "log")])
        finally:
            first.close()
            second.close()
    assert logs[0] == logs[1]
    assert len(logs[1][0]) == 3 and logs[1][0][-1][b"count"] == 2
