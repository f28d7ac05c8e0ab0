"""Seeded differential sweeps against redis-server 7.0.15, each a few seconds: random ACL
rules (with selectors) and their checks, OBJECT ENCODING under random size limits, the
keyspace notifications of random writes, and CONFIG SET of every parameter to awkward
values. Longer runs of the same generators found the differences fixed in session 25;
with fixed seeds they guard against regressions.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from typing import Any

import hiredis
import pytest

from tests.differ import Differ, parse


@pytest.fixture
def pair_differ(spawn: Any) -> Iterator[Differ]:
    """Fresh servers of each kind (these sweeps change ACL users and settings)."""
    mine = spawn("aikv")
    theirs = spawn("redis", args=["--enable-debug-command", "yes"])
    d = Differ(mine.port, theirs.port)
    yield d
    d.close()


def _words(raw: bytes) -> list[bytes]:
    """The reply's words in sorted order (a selector's parentheses words of their own):
    Redis lists single-command rules in its hash order."""
    return sorted(raw.replace(b"(", b"( ").replace(b")", b" )").split())


# ---------------------------------------------------------------------------- ACL
_CMDS = ["get", "set", "config", "config|get", "client|id", "acl|whoami", "select", "ping",
         "xadd", "eval", "nosuch", "get|x", "publish", "subscribe", "object|encoding", "hset"]
_CATS = ["@read", "@write", "@all", "@admin", "@keyspace", "@nosuch", "@pubsub", "@hash"]
_PATTERNS = ["*", "k*", "foo", "a?b", "[abc]*", "", "k["]


def _acl_rule(rng: random.Random) -> str:
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice(["on", "off", "nopass", "resetpass", "reset", "allkeys", "resetkeys",
                           "allchannels", "resetchannels", "allcommands", "nocommands",
                           "clearselectors", "bogus"])
    if kind == 1:
        return rng.choice([">pw", "<pw", "#" + "a" * 64, "!" + "b" * 64])
    if kind in (2, 3):
        return rng.choice(["~", "%R~", "%W~", "%RW~", "%X~", "&"]) + rng.choice(_PATTERNS)
    if kind in (4, 5, 6):
        return rng.choice("+-") + rng.choice(_CMDS)
    if kind == 7:
        return rng.choice("+-") + rng.choice(_CATS)
    if kind in (8, 9):
        inner = " ".join(_acl_rule(rng) for _ in range(rng.randrange(3)))
        return f"({inner})"
    if kind == 10:
        return rng.choice(["(", ")", "(~x", "()", "(~* +get", "+select|0", "+client|kill|x"])
    return rng.choice(["~*", "+@all", "&*", "~k*", "+get"])


def test_acl_rules_sweep(pair_differ: Differ) -> None:
    d = pair_differ
    rng = random.Random(25)
    for _ in range(300):
        user = rng.choice(["u1", "u2"])
        op = rng.random()
        if op < 0.55:
            d.check("acl", "setuser", user, *[_acl_rule(rng) for _ in range(rng.randrange(1, 6))])
        elif op < 0.75:
            # Single-command rules come in each server's table order.
            d.check("acl", "getuser", user, normalize=_words)
            d.check("acl", "list", normalize=_words)
        else:
            d.check("acl", "dryrun", user,
                    rng.choice(["get", "set", "config", "publish", "xadd", "hset", "nosuch"]),
                    *[rng.choice(["k1", "foo", "abc", "get", "0", "ch"])
                      for _ in range(rng.randrange(3))])


# ------------------------------------------------------------------ OBJECT ENCODING
_LIMITS = [("hash-max-listpack-entries", ["0", "1", "4", "128"]),
           ("hash-max-listpack-value", ["0", "8", "64"]),
           ("zset-max-listpack-entries", ["0", "1", "4", "128"]),
           ("zset-max-listpack-value", ["0", "8", "64"]),
           ("set-max-intset-entries", ["0", "1", "4", "512"]),
           ("list-max-listpack-size", ["-2", "-1", "1", "4"])]


def _member(rng: random.Random) -> str:
    k = rng.random()
    if k < 0.4:
        return str(rng.randrange(-5, 600))
    if k < 0.5:
        return str(rng.choice([2**63 - 1, -2**63, 2**64]))
    if k < 0.6:
        return "x" * rng.choice([1, 10, 63, 64, 65, 100])
    return "m%d" % rng.randrange(300)


def test_object_encoding_sweep(pair_differ: Differ) -> None:
    d = pair_differ
    rng = random.Random(25)
    for i in range(600):
        if i % 100 == 0:
            d.both("flushall")
        x = rng.random()
        if x < 0.25:
            cmd = ["hset", "h", *[_member(rng) for _ in range(2 * rng.randrange(1, 4))]]
        elif x < 0.45:
            cmd = ["sadd", "s", *[_member(rng) for _ in range(rng.randrange(1, 6))]]
        elif x < 0.65:
            cmd = ["zadd", "z", *[v for _ in range(rng.randrange(1, 4))
                                  for v in (str(rng.randrange(100)), _member(rng))]]
        elif x < 0.7:
            cmd = [rng.choice(["zunionstore", "zinterstore"]), "z", "2", "z", "s"]
        elif x < 0.85:
            cmd = ["rpush", "l", *[_member(rng) for _ in range(rng.randrange(1, 6))]]
        elif x < 0.9:
            cmd = ["ltrim", "l", "0", str(rng.randrange(6))]
        else:
            name, values = rng.choice(_LIMITS)
            d.check("config", "set", name, rng.choice(values))
            continue
        d.check(*cmd)
        d.check("object", "encoding", cmd[1])


# ------------------------------------------------------------ keyspace notifications
class _Subscriber:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = hiredis.Reader()
        self.sock.sendall(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$10\r\n__key*__:*\r\n")
        self._until(lambda m: m[0] == b"psubscribe")

    def _until(self, last: Any) -> list[Any]:
        out: list[Any] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = self.reader.gets()
            if message is False:
                self.reader.feed(self.sock.recv(65536))
                continue
            if last(message):
                return out
            out.append(message)
        raise TimeoutError(out)

    def events_before(self, marker: bytes) -> list[tuple[bytes, bytes]]:
        got = self._until(lambda m: m[2] == b"__keyevent@0__:del" and m[3] == marker)
        return [(m[2], m[3]) for m in got if not (m[2].endswith(b":" + marker) or m[3] == marker)]

    def close(self) -> None:
        self.sock.close()


_WRITES = [
    ["set", "k", "1"], ["incr", "k"], ["append", "k", "x"], ["del", "k", "l", "h"],
    ["rpush", "l", "a", "b"], ["lpop", "l"], ["rpoplpush", "l", "l2"], ["lmove", "l", "l", "left", "right"],
    ["ltrim", "l", "5", "9"], ["hset", "h", "f", "1"], ["hincrby", "h", "f", "2"], ["hdel", "h", "f"],
    ["sadd", "s", "a", "b"], ["spop", "s"], ["smove", "s", "s2", "a"], ["sinterstore", "s3", "s", "s2"],
    ["zadd", "z", "1", "a"], ["zincrby", "z", "2", "a"], ["zpopmin", "z"], ["zunionstore", "z2", "1", "z"],
    ["expire", "l", "100"], ["persist", "l"], ["rename", "l", "l3"], ["copy", "s2", "s4"],
    ["xadd", "x", "*", "f", "v"], ["xtrim", "x", "maxlen", "0"], ["xgroup", "create", "x", "g", "$", "mkstream"],
    ["getdel", "k"], ["getex", "h", "px", "100"], ["setrange", "k", "3", "ab"], ["pfadd", "p", "a"],
    ["geoadd", "g", "13", "38", "m"], ["sort", "l", "store", "l4"], ["flushdb"],
]


def test_keyspace_events_sweep(pair_differ: Differ) -> None:
    d = pair_differ
    d.both("config", "set", "notify-keyspace-events", "KEA")
    subscribers = [_Subscriber(d.a.sock.getpeername()[1]), _Subscriber(d.r.sock.getpeername()[1])]
    rng = random.Random(25)
    try:
        for i in range(300):
            cmd = rng.choice(_WRITES)
            marker = b"mark%d" % i
            events = []
            for conn, subscriber in zip((d.a, d.r), subscribers, strict=True):
                conn.call(*cmd)
                conn.call("set", marker, "1")
                conn.call("del", marker)  # closes this command's events
                events.append(subscriber.events_before(marker))
            assert events[0] == events[1], (cmd, events)
    finally:
        for subscriber in subscribers:
            subscriber.close()
        d.both("config", "set", "notify-keyspace-events", "")


# ------------------------------------------------------------------------ CONFIG SET
_SKIP = {"port", "bind", "dir", "daemonize", "logfile", "unixsocket", "requirepass",
         "masterauth", "masteruser", "replicaof", "slaveof", "appendonly",
         "enable-debug-command", "enable-module-command", "enable-protected-configs",
         "protected-mode", "maxmemory", "cluster-enabled", "aclfile", "pidfile", "dbfilename",
         "appendfilename", "appenddirname", "cluster-config-file", "unixsocketperm",
         "io-threads", "supervised", "syslog-enabled", "bind-source-addr", "always-show-logo",
         "set-proc-title", "proc-title-template", "oom-score-adj", "oom-score-adj-values",
         "loglevel", "databases", "timeout", "maxclients", "client-query-buffer-limit",
         "proto-max-bulk-len", "client-output-buffer-limit", "busy-reply-threshold",
         "lua-time-limit", "notify-keyspace-events"}
_VALUES = ["", "abc", "-1", "0", "1", "yes", "no", "100mb", "99999999999999999999", "1 2",
           "-0", "1.5", "2kb", "01", "+1", "0x10", "everysec", "1k", "18446744073709551615"]


def test_config_set_sweep(pair_differ: Differ) -> None:
    d = pair_differ
    names = sorted(parse(d.r.call("config", "get", "*"))[0::2])
    for raw_name in names:
        name = raw_name.decode()
        if name in _SKIP or name.startswith("tls-"):
            continue
        before = parse(d.a.call("config", "get", name))[1], parse(d.r.call("config", "get", name))[1]
        for value in _VALUES:
            d.check("config", "set", name, value)
            d.check("config", "get", name)
        d.a.call("config", "set", name, before[0])
        d.r.call("config", "set", name, before[1])

