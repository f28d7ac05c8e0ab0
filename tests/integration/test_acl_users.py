"""ACL users and permissions against a real redis-server 7.0: the same commands to both,
replies compared byte for byte (ACL LIST / GETUSER with their single-command rules
sorted, since Redis orders those by a randomly seeded hash table; ACL LOG with its age
and connection details reduced to what is deterministic)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.differ import Differ, RawConnection, parse
from tests.harness import ServerProcess

ADMIN_RESET = ("acl", "log", "reset")


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> Iterator[None]:
    differ.both(*ADMIN_RESET)
    differ.both("flushall")
    yield
    users = parse(differ.r.call("acl", "users"))
    others = [u for u in users if u != b"default"]
    if others:
        differ.both("acl", "deluser", *others)
    differ.both("config", "set", "requirepass", "")
    differ.both("hello", "2")
    differ.both(*ADMIN_RESET)


def _single(token: str) -> bool:
    return token[:1] in "+-" and token[1:2] != "@"


def norm_rules(text: bytes) -> tuple[list[str], list[str]]:
    """A rule line with the single-command rules (after the categories) sorted."""
    tokens = text.decode().split(" ")
    return [t for t in tokens if not _single(t)], sorted(t for t in tokens if _single(t))


def norm_list(raw: bytes) -> Any:
    value = parse(raw)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [norm_rules(v) for v in value]
    return value


def norm_getuser(raw: bytes) -> Any:
    value = parse(raw)
    if not isinstance(value, list):
        return value
    out = list(value)
    i = out.index(b"commands")
    out[i + 1] = norm_rules(out[i + 1])
    return out


class Pair:
    """A connection to each server (for a second client)."""

    def __init__(self, aikv: ServerProcess, redis_: ServerProcess) -> None:
        self.a = RawConnection(aikv.port)
        self.r = RawConnection(redis_.port)

    def both(self, *args: Any) -> tuple[bytes, bytes]:
        return self.a.call(*args), self.r.call(*args)

    def check(self, *args: Any) -> bytes:
        mine, theirs = self.both(*args)
        assert mine == theirs, (args, mine, theirs)
        return mine

    def close(self) -> None:
        self.a.close()
        self.r.close()


@pytest.fixture
def pair(aikv_module: ServerProcess, redis_module: ServerProcess) -> Iterator[Pair]:
    p = Pair(aikv_module, redis_module)
    yield p
    p.close()


SETUSERS = [
    ("acl", "setuser", "alice"),
    ("acl", "setuser", "alice", "on", ">pw1", ">pw2", "~cached:*", "+get", "-@all"),
    ("acl", "setuser", "bob", "on", "nopass", "+@all", "-@dangerous", "~k*", "%R~r*",
     "%W~w*", "&ch*", "+config|get", "+select|0"),
    ("acl", "setuser", "carol", "on", "#" + "a" * 64, "-@all", "+@read", "+@hash",
     "-hgetall", "allkeys", "allchannels"),
    ("acl", "setuser", "dave", "on", "nopass", "-@all", "+select|0", "+select|1",
     "%RW~x", "%R~x", "~y", "%W~y", "&a", "&a"),
    ("acl", "setuser", "erin", "+@all", "-config", "+config|get", "reset", "on",
     "skip-sanitize-payload", "allcommands", "-client|kill", "nocommands", "+client"),
    ("acl", "setuser", "frank", "on", ">x", "<x", "resetpass", ">y", "!" + "b" * 64),
    ("acl", "setuser", "frank", "on", ">x", "resetpass", "nopass", ">y"),
    ("acl", "setuser", "gina", "on", "+@all", "-@write", "-@admin", "+set", "~*", "~x"),
    ("acl", "setuser", "gina", "&*", "&x"),
    ("acl", "setuser", "gina", "+acl|setuser", "+acl|nosuch"),
    ("acl", "setuser", "gina", "-@all", "+@NoSuch"),
    ("acl", "setuser", "gina", "%Rx~a"), ("acl", "setuser", "gina", "%~a"),
    ("acl", "setuser", "gina", "~a b"), ("acl", "setuser", "gina", "&a\x00b"),
    ("acl", "setuser", "gina", "+config|get|x"), ("acl", "setuser", "gina", "+get|"),
    ("acl", "setuser", "gina", "bogus"), ("acl", "setuser", "gina", "(+get"),
    ("acl", "setuser", "gina", "#ABC"), ("acl", "setuser", "gina", "!" + "c" * 64),
    ("acl", "setuser", "gina", ""), ("acl", "setuser", "gina", "ON", "RESETKEYS", "%rw~z"),
    ("acl", "setuser", "bad name"), ("acl", "setuser"),
    ("acl", "setuser", "henry", "on", "-@all", "+@pubsub", "+@scripting", "-@slow"),
    ("acl", "setuser", "ivan", "on", "+@all", "-@keyspace", "-@string", "+@fast"),
]


def test_setuser_rules_errors_list_and_getuser(differ: Differ) -> None:
    for cmd in SETUSERS:
        differ.check(*cmd)
    differ.check("acl", "users")
    differ.check("acl", "list", normalize=norm_list)
    for name in ("default", "alice", "bob", "carol", "dave", "erin", "frank", "gina",
                 "henry", "ivan", "nobody"):
        differ.check("acl", "getuser", name, normalize=norm_getuser)
    differ.both("hello", "3")
    for name in ("bob", "dave", "nobody"):
        differ.check("acl", "getuser", name, normalize=norm_getuser)


def test_exact_list_lines(differ: Differ) -> None:
    """Lines with at most one single-command rule: compared without normalising."""
    for cmd in [("acl", "setuser", "u1", "on", "nopass", "+@all", "-@dangerous", "~k*",
                 "%R~r*", "%W~w*", "&ch*", "+config|get"),
                ("acl", "setuser", "u2", "on", ">secret", "-@all", "+@read", "%R~*"),
                ("acl", "setuser", "u3", "reset", "+@all", "-flushall"),
                ("acl", "setuser", "u4", "-@all", "+select|0", "+select|9")]:
        differ.check(*cmd)
    differ.check("acl", "list")
    differ.check("acl", "getuser", "u1")
    differ.check("acl", "getuser", "u2")
    differ.check("acl", "getuser", "u4")


def test_auth_hello_and_whoami(differ: Differ, pair: Pair) -> None:
    differ.check("acl", "setuser", "alice", "on", ">apw", "+@all", "~*", "&*")
    differ.check("acl", "setuser", "off1", "off", ">pw", "+@all")
    differ.check("acl", "setuser", "free", "on", "nopass", "+acl|whoami")
    for cmd in [("auth", "alice", "wrong"), ("auth", "nobody", "apw"), ("auth", "off1", "pw"),
                ("auth", "alice", "apw"), ("acl", "whoami"), ("auth", "free", "anything"),
                ("acl", "whoami"), ("auth", "x"), ("auth", "alice", "apw", "x"),
                ("hello", "3", "auth", "alice", "bad"),
                ("acl", "whoami")]:
        pair.check(*cmd)
    mine, theirs = pair.both("hello", "2", "auth", "alice", "apw", "setname", "n1")
    assert re.sub(rb":\d+\r\n", b"", mine) == re.sub(rb":\d+\r\n", b"", theirs)
    pair.check("acl", "whoami")
    for conn in (pair.a, pair.r):
        info = parse(conn.call("client", "info"))
        assert re.search(rb" user=alice ", info), info
    # AUTH <password> authenticates the default user with requirepass.
    differ.check("config", "set", "requirepass", "s3cret")
    for cmd in [("auth", "wrong"), ("auth", "s3cret"), ("acl", "whoami"),
                ("acl", "getuser", "default"), ("client", "kill", "user", "nobody"),
                ("client", "kill", "user", "free")]:
        pair.check(*cmd)
    differ.check("acl", "list", normalize=norm_list)
    differ.check("acl", "setuser", "default", "resetpass", ">other")
    for cmd in [("auth", "s3cret"), ("auth", "other"), ("acl", "whoami")]:
        pair.check(*cmd)
    differ.check("config", "get", "requirepass")
    differ.check("config", "set", "requirepass", "")
    differ.check("acl", "getuser", "default")


RESTRICTED = ("acl", "setuser", "limited", "on", ">pw", "-@all", "+get", "+set", "+copy",
              "+lmove", "+del", "+config|get", "+@hash", "-hdel", "+publish", "+subscribe",
              "+psubscribe", "+ping", "+multi", "+exec", "+eval", "+acl|whoami",
              "+object|encoding", "%R~r*", "%W~w*", "~rw*", "&news.*", "&lit*")


def _as_limited(differ: Differ, pair: Pair) -> None:
    differ.check(*RESTRICTED)
    pair.check("auth", "limited", "pw")
    differ.check("set", "r1", "v")
    differ.check("rpush", "rl", "a", "b")


def test_noperm_commands_keys_and_channels(differ: Differ, pair: Pair) -> None:
    _as_limited(differ, pair)
    for cmd in [
        ("get", "r1"), ("set", "r1", "x"), ("set", "w1", "x"), ("get", "w1"),
        ("set", "rw1", "x"), ("get", "rw1"), ("get", "other"), ("incr", "r1"),
        ("config", "get", "maxmemory"), ("config", "set", "maxmemory", "0"),
        ("config", "resetstat"), ("acl", "whoami"), ("acl", "list"), ("flushall",),
        ("hset", "rw2", "f", "v"), ("hget", "rw2", "f"), ("hdel", "rw2", "f"),
        ("hset", "r2", "f", "v"), ("hget", "w2", "f"),
        ("copy", "r1", "w9"), ("copy", "w1", "w9"), ("copy", "r1", "r9"),
        ("lmove", "rl", "wl", "left", "right"), ("lmove", "rl", "rl", "left", "right"),
        ("lmove", "rwl", "rwl2", "left", "right"), ("del", "r1"), ("del", "w1"),
        ("object", "encoding", "r1"), ("object", "freq", "r1"),
        ("publish", "news.today", "m"), ("publish", "sports", "m"),
        ("publish", "literal", "m"), ("ping",), ("nosuchcommand",), ("get",),
        ("select", "0"),
    ]:
        pair.check(*cmd)


def test_noperm_subscribe(differ: Differ, pair: Pair) -> None:
    _as_limited(differ, pair)
    for cmd in [("subscribe", "sports"), ("subscribe", "news.x", "sports"),
                ("psubscribe", "news.*x"), ("psubscribe", "lit*"),
                ("psubscribe", "news.*"), ("subscribe", "news.y")]:
        pair.check(*cmd)


def test_multi_exec_with_denied_command(differ: Differ, pair: Pair) -> None:
    _as_limited(differ, pair)
    for cmd in [("multi",), ("get", "r1"), ("incr", "r1"), ("exec",),
                ("multi",), ("get", "r1"), ("set", "r2", "x"), ("exec",),
                ("multi",), ("get", "r1"), ("set", "w1", "v"), ("publish", "news.a", "m")]:
        pair.check(*cmd)
    # The rules change between queueing and EXEC: checked again at EXEC.
    differ.check("acl", "setuser", "limited", "-get", "resetchannels")
    pair.check("exec")
    differ.check("acl", "log", normalize=_norm_log)


def test_script_redis_call_denied(differ: Differ, pair: Pair) -> None:
    _as_limited(differ, pair)
    for cmd in [
        ("eval", "return redis.call('get', ARGV[1])", "0", "r1"),
        ("eval", "return redis.call('incr', ARGV[1])", "0", "r1"),
        ("eval", "return redis.pcall('incr', ARGV[1])", "0", "r1"),
        ("eval", "return redis.call('set', ARGV[1], 'x')", "0", "r1"),
        ("eval", "return redis.call('get', KEYS[1])", "1", "rw1"),
        ("eval", "return redis.call('get', KEYS[1])", "1", "r1"),
        ("eval", "return redis.call('publish', 'sports', 'x')", "0"),
        ("eval", "return redis.acl_check_cmd('get', 'r1')", "0"),
        ("eval", "return redis.acl_check_cmd('get', 'w1')", "0"),
        ("eval", "return redis.acl_check_cmd('incr', 'r1')", "0"),
        ("eval", "return redis.acl_check_cmd('nosuch')", "0"),
    ]:
        pair.check(*cmd)
    differ.check("acl", "log", normalize=_norm_log)


def test_dryrun(differ: Differ) -> None:
    differ.check(*RESTRICTED)
    for cmd in [("acl", "dryrun", "limited", "get", "r1"),
                ("acl", "dryrun", "limited", "get", "w1"),
                ("acl", "dryrun", "limited", "set", "r1", "v"),
                ("acl", "dryrun", "limited", "incr", "x"),
                ("acl", "dryrun", "limited", "config", "get", "x"),
                ("acl", "dryrun", "limited", "config", "set", "x", "y"),
                ("acl", "dryrun", "limited", "copy", "r1", "r2"),
                ("acl", "dryrun", "limited", "publish", "sports", "m"),
                ("acl", "dryrun", "limited", "subscribe", "news.a", "bad"),
                ("acl", "dryrun", "limited", "auth", "x"),
                ("acl", "dryrun", "limited", "get"),
                ("acl", "dryrun", "limited", "nosuch"),
                ("acl", "dryrun", "nobody", "get", "x"),
                ("acl", "dryrun", "default", "flushall")]:
        differ.check(*cmd)


def _norm_log(raw: bytes) -> list[dict[bytes, object]]:
    entries = []
    for entry in parse(raw):
        fields = dict(zip(entry[::2], entry[1::2], strict=True))
        fields[b"age-seconds"] = float(fields[b"age-seconds"]) < 5
        fields[b"client-info"] = re.findall(rb"(?:cmd|user|resp|flags|db)=\S+",
                                            fields[b"client-info"])
        entries.append(fields)
    return entries


def test_acl_log_entries(differ: Differ, pair: Pair) -> None:
    _as_limited(differ, pair)
    for cmd in [("incr", "r1"), ("incr", "r1"), ("get", "w1"), ("set", "r1", "x"),
                ("publish", "sports", "m"), ("auth", "limited", "bad"),
                ("multi",), ("flushall",), ("discard",)]:
        pair.both(*cmd)
    differ.check("acl", "log", normalize=_norm_log)
    differ.check("acl", "log", "2", normalize=_norm_log)


def test_deluser_disconnects_its_clients(differ: Differ, pair: Pair,
                                         aikv_module: ServerProcess,
                                         redis_module: ServerProcess) -> None:
    differ.check("acl", "setuser", "temp", "on", ">pw", "+@all", "~*")
    pair.check("auth", "temp", "pw")
    differ.check("acl", "deluser", "default")
    differ.check("acl", "deluser", "temp", "nobody", "default")
    differ.check("acl", "deluser", "temp", "nobody")
    for conn in (pair.a, pair.r):
        with pytest.raises((ConnectionError, OSError)):
            conn.call("ping")
    # Its own user deleted: the reply comes, then the connection closes.
    differ.check("acl", "setuser", "self", "on", ">pw", "+@all", "~*")
    mine = [RawConnection(p.port) for p in (aikv_module, redis_module)]
    try:
        replies = [c.call("auth", "self", "pw") + c.call("acl", "deluser", "self")
                   for c in mine]
        assert replies[0] == replies[1] == b"+OK\r\n:1\r\n"
        for conn in mine:
            with pytest.raises((ConnectionError, OSError)):
                conn.call("ping")
    finally:
        for conn in mine:
            conn.close()


def test_revoked_channels_disconnect_subscribers(differ: Differ, pair: Pair) -> None:
    differ.check("acl", "setuser", "sub", "on", ">pw", "+@all", "~*", "&ch*", "&other")
    pair.check("auth", "sub", "pw")
    pair.check("subscribe", "ch1")
    differ.check("acl", "setuser", "sub", "&more")  # a superset: nothing happens
    pair.check("ping")
    differ.check("acl", "setuser", "sub", "resetchannels", "&other")
    for conn in (pair.a, pair.r):
        with pytest.raises((ConnectionError, OSError)):
            conn.call("ping")


def test_restricted_then_unrestricted(differ: Differ, pair: Pair) -> None:
    """A user given every permission later runs everything (the fast path again)."""
    _as_limited(differ, pair)
    pair.check("incr", "counter")
    differ.check("acl", "setuser", "limited", "+@all", "allkeys", "allchannels")
    for cmd in [("incr", "counter"), ("get", "counter"), ("mget", "r1", "zz")]:
        pair.check(*cmd)
    differ.check("acl", "setuser", "limited", "-incr")
    pair.check("incr", "counter")


SELECTORS = ("acl", "setuser", "sel", "on", ">pw", "-@all", "+get", "~a*", "&news.*",
             "(+set ~b* &sports)", "(+@hash", "%R~h*)", "(+publish +subscribe &lit*)")


def test_selectors(differ: Differ, pair: Pair) -> None:
    """Redis 7.0's selectors: rules in "(...)", listed after the root's; a command runs
    when one selector allows all of it, and a denial reports a key or channel before the
    command itself."""
    for cmd in [SELECTORS,
                ("acl", "setuser", "sel2", "(+get", "(~x", "bogus)"),
                ("acl", "setuser", "sel2", "(+get", "(>pw)"),
                ("acl", "setuser", "sel2", "(~\"x)", "()"), ("acl", "getuser", "sel2"),
                ("acl", "setuser", "sel2", "clearselectors"), ("acl", "getuser", "sel2"),
                ("acl", "setuser", "sel2", "(+get)", "reset"),
                ("acl", "dryrun", "sel", "get", "a1"), ("acl", "dryrun", "sel", "get", "b1"),
                ("acl", "dryrun", "sel", "set", "b1", "v"), ("acl", "dryrun", "sel", "set", "a1", "v"),
                ("acl", "dryrun", "sel", "hget", "h1", "f"), ("acl", "dryrun", "sel", "hset", "h1", "f", "v"),
                ("acl", "dryrun", "sel", "del", "a1"),
                ("acl", "dryrun", "sel", "publish", "sports", "m")]:
        differ.check(*cmd)
    # Single-command rules come in each server's own table order: compared sorted.
    differ.check("acl", "list", normalize=_norm_deep)
    differ.check("acl", "getuser", "sel", normalize=_norm_deep)
    differ.both("hello", "3")
    differ.check("acl", "getuser", "sel", normalize=_norm_deep)
    differ.both("hello", "2")
    pair.check("auth", "sel", "pw")
    for cmd in [("get", "a1"), ("get", "b1"), ("set", "b1", "v"), ("set", "a1", "v"),
                ("hget", "h1", "f"), ("hset", "h1", "f", "v"), ("del", "b1"),
                ("publish", "news.x", "m"), ("publish", "sports", "m"),
                ("publish", "lit1", "m"), ("publish", "other", "m"),
                ("subscribe", "lit2"), ("subscribe", "news.y")]:
        pair.check(*cmd)
    differ.check("acl", "log", "2", normalize=_norm_log)
    differ.both("acl", "deluser", "sel", "sel2")


def _norm_deep(raw: bytes) -> Any:
    """norm_rules on every rule string of a reply, a selector's parentheses made words of
    their own ("+publish)" would otherwise hide the single rule it ends with)."""
    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):  # a RESP3 map
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, bytes) and b" " in value:
            return norm_rules(value.replace(b"(", b"( ").replace(b")", b" )"))
        return value
    return walk(parse(raw))
