"""SLOWLOG against a real redis-server 7.0: which commands are logged (EXEC is not, the
commands of a transaction and of a script are), how arguments are cut (32 at most, 128
bytes each), redacted (AUTH) and attributed (address, client name), SLOWLOG GET's
count, LEN, RESET and slowlog-max-len. Ids, times and durations differ by nature and
are compared as shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.differ import Differ, RawConnection, encode_command, parse
from tests.harness import ServerProcess, wait_until


@pytest.fixture(autouse=True)
def quiet(differ: Differ) -> Iterator[None]:
    differ.both("config", "set", "slowlog-log-slower-than", "-1")
    differ.both("slowlog", "reset")
    yield
    differ.both("config", "set", "slowlog-log-slower-than", "10000")
    differ.both("config", "set", "slowlog-max-len", "128")
    differ.both("client", "setname", "")
    differ.both("del", "k", "big", "lst", "n", "a")


def _entries(raw: bytes) -> list[Any]:
    """An entry without its id, time and duration (checked to be integers), and with
    the client port replaced."""
    out = []
    for ident, when, duration, args, peer, name in parse(raw):
        assert all(isinstance(v, int) and v >= 0 for v in (ident, when, duration))
        host = peer.rsplit(b":", 1)[0]
        out.append((args, host, name))
    return out


def test_entries_match_redis(differ: Differ) -> None:
    differ.check("config", "set", "slowlog-log-slower-than", "0")
    for cmd in (("client", "setname", "slowy"), ("set", "k", "v"), ("set", "big", "x" * 200),
                ("rpush", "lst", *map(str, range(40))), ("get", "k"),
                ("auth", "secret"), ("eval", "redis.call('set', 'a', '1') return 1", "0"),
                ("acl", "setuser", "slowuser", "on", ">pw", "+get"),
                ("acl", "setuser", "bad user", "+get"), ("acl", "deluser", "slowuser"),
                ("multi",), ("incr", "n"), ("exec",),
                ("config", "set", "masterauth", "pw1", "MasterUser", "u1"),
                ("config", "set", "maxmemory-policy", "bad", "requirepass", ""),
                ("config", "set", "nosuchparam", "x", "masterauth", "pw2"),
                ("config", "set", "masterauth", "pw3", "maxmemory-policy"),
                ("config", "set", "masterauth", "", "masteruser", ""),
                ("config", "set", "slowlog-log-slower-than", "-1")):
        differ.both(*cmd)
    differ.check("slowlog", "len")
    differ.check("slowlog", "get", normalize=_entries)
    differ.check("slowlog", "get", "-1", normalize=_entries)
    differ.check("slowlog", "get", "3", normalize=_entries)
    differ.check("slowlog", "get", "0")
    differ.check("slowlog", "get", "-2")
    differ.check("slowlog", "get", "x")
    differ.check("slowlog", "Get", "1", "2")
    differ.check("slowlog", "reset")
    differ.check("slowlog", "len")


def test_max_len_and_threshold_match_redis(differ: Differ) -> None:
    differ.check("config", "set", "slowlog-max-len", "3")
    differ.check("config", "set", "slowlog-log-slower-than", "0")
    for i in range(6):
        differ.both("set", "k", str(i))
    differ.check("config", "set", "slowlog-log-slower-than", "-1")
    differ.check("slowlog", "len")
    differ.check("slowlog", "get", "-1", normalize=_entries)
    # A high threshold logs nothing more.
    differ.check("config", "set", "slowlog-log-slower-than", "100000000")
    differ.both("set", "k", "v")
    differ.check("slowlog", "len")


def test_served_blocking_call_is_logged_as_sent(differ: Differ, aikv_module: ServerProcess,
                                                redis_module: ServerProcess) -> None:
    """A blocked BLPOP enters the slowlog when it is served, as the BLPOP it was (Redis's
    updateStatsOnUnblock), not while it waits; here after the SLOWLOG RESET that ran in
    the EXEC that served it (Redis's slowlog.tcl)."""
    differ.check("config", "set", "slowlog-log-slower-than", "0")
    differ.both("del", "l")
    blocked = [RawConnection(server.port) for server in (aikv_module, redis_module)]
    try:
        for conn in blocked:
            conn.sock.sendall(encode_command("blpop", "l", "0"))
        wait_until(lambda: all(b"blocked_clients:1" in raw for raw in
                               differ.both("info", "clients")), 10, 0.01, "the BLPOPs")
        differ.check("multi")
        differ.check("lpush", "l", "foo")
        differ.check("slowlog", "reset")
        differ.check("exec")
        assert [conn.read_reply() for conn in blocked] == [b"*2\r\n$1\r\nl\r\n$3\r\nfoo\r\n"] * 2
        entries = differ.check("slowlog", "get", normalize=_entries)
        assert _entries(entries)[0][0] == [b"blpop", b"l", b"0"]
    finally:
        for conn in blocked:
            conn.close()
