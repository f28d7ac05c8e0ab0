"""Blocking list and sorted set commands. Each scenario runs the same steps, with several
connections, against AiKv and a real redis-server 7.0; the replies every connection
received must be byte-identical (wake-up order, served values, timeouts, RESP3 shapes)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import redis

from tests.differ import RawConnection, encode_command, parse
from tests.harness import wait_until

Scenario = Callable[["Conns"], list[bytes]]


class Conns:
    """Named raw connections to one server, plus helpers to drive them."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.admin = RawConnection(port)
        self.admin.call("flushall")
        self.open: dict[str, RawConnection] = {}

    def __getitem__(self, name: str) -> RawConnection:
        if name not in self.open:
            self.open[name] = RawConnection(self.port)
        return self.open[name]

    def send(self, name: str, *args: str) -> None:
        """Send without reading the reply (the connection may block)."""
        self[name].sock.sendall(encode_command(*args))

    def blocked(self) -> int:
        listing = self.admin.call("client", "list").decode()
        return sum(1 for line in listing.splitlines() if " flags=b " in line)

    def wait_blocked(self, n: int) -> None:
        wait_until(lambda: self.blocked() == n, timeout=5, what=f"{n} blocked clients")

    def close(self) -> None:
        for conn in self.open.values():
            conn.close()
        self.admin.close()


def both(aikv_module, redis_module, scenario: Scenario) -> list[bytes]:  # type: ignore[no-untyped-def]
    results = []
    for server in (aikv_module, redis_module):
        conns = Conns(server.port)
        try:
            results.append(scenario(conns))
        finally:
            conns.close()
    mine, theirs = results
    assert mine == theirs
    return mine


# ---------------------------------------------------------------------- scenarios
def fifo_wakeups(c: Conns) -> list[bytes]:
    for name in ("w1", "w2", "w3"):
        c.send(name, "blpop", "q", "0")
        c.wait_blocked(int(name[1]))
    out = [c["p"].call("rpush", "q", "a", "b")]
    out += [c["w1"].read_reply(), c["w2"].read_reply()]
    out.append(c["p"].call("llen", "q"))
    c.wait_blocked(1)
    out.append(c["p"].call("lpush", "q", "c"))
    out.append(c["w3"].read_reply())
    out.append(c["p"].call("exists", "q"))
    return out


def multi_key_and_pipeline(c: Conns) -> list[bytes]:
    # Blocked on two keys; the push goes to the second. The pusher's next command in the
    # same pipeline already sees the pop (served right after the push, within the tick).
    c.send("w", "brpop", "k1", "k2", "0")
    c.send("w", "ping")
    c.wait_blocked(1)
    c.send("p", "rpush", "k2", "x", "y", "z")
    c.send("p", "lrange", "k2", "0", "-1")
    out = [c["p"].read_reply(), c["p"].read_reply()]
    out += [c["w"].read_reply(), c["w"].read_reply()]
    return out


def timeouts(c: Conns) -> list[bytes]:
    started = time.monotonic()
    out = [c["w"].call("blpop", "nothing", "0.2")]
    assert time.monotonic() - started >= 0.18
    out.append(c["w"].call("bzpopmin", "nothing", "0.05"))
    out.append(c["w"].call("blmove", "nothing", "d", "LEFT", "LEFT", "0.05"))
    out.append(c["w"].call("blmpop", "0.05", "2", "n1", "n2", "LEFT"))
    out.append(c["w"].call("bzmpop", "0.05", "1", "n1", "MIN"))
    out.append(c["w"].call("brpoplpush", "nothing", "d", "0.05"))
    c["w"].call("hello", "3")
    out.append(c["w"].call("blpop", "nothing", "0.05"))
    out.append(c["w"].call("blmove", "nothing", "d", "LEFT", "LEFT", "0.05"))
    out.append(c["w"].call("bzpopmax", "nothing", "0.05"))
    return out


def blmove_chain(c: Conns) -> list[bytes]:
    c.send("mover", "blmove", "a", "b", "RIGHT", "LEFT", "0")
    c.wait_blocked(1)
    c.send("popper", "blpop", "b", "0")
    c.wait_blocked(2)
    out = [c["p"].call("rpush", "a", "1", "2")]
    out += [c["mover"].read_reply(), c["popper"].read_reply()]
    out += [c["p"].call("lrange", "a", "0", "-1"), c["p"].call("exists", "b")]
    return out


def push_inside_multi(c: Conns) -> list[bytes]:
    c.send("w", "blpop", "m", "0")
    c.wait_blocked(1)
    p = c["p"]
    out = [p.call("multi"), p.call("lpush", "m", "1"), p.call("lpush", "m", "2"),
           p.call("exec"), p.call("lrange", "m", "0", "-1"), c["w"].read_reply()]
    # A push undone inside the same transaction serves nobody.
    c.send("w", "blpop", "m2", "0")
    c.wait_blocked(1)
    out += [p.call("multi"), p.call("rpush", "m2", "x"), p.call("del", "m2"), p.call("exec")]
    out.append(p.call("rpush", "m2", "late"))
    out.append(c["w"].read_reply())
    return out


def blocking_inside_multi(c: Conns) -> list[bytes]:
    p = c["p"]
    out = [p.call("multi")]
    for cmd in (("blpop", "e", "0"), ("brpop", "e", "0"), ("blmove", "e", "x", "LEFT", "LEFT", "0"),
                ("brpoplpush", "e", "x", "0"), ("blmpop", "0", "1", "e", "LEFT"),
                ("bzpopmin", "e", "0"), ("bzpopmax", "e", "0"), ("bzmpop", "0", "1", "e", "MIN"),
                ("rpush", "e", "v"), ("blpop", "e", "0")):
        out.append(p.call(*cmd))
    out.append(p.call("exec"))
    return out


def disconnect_while_blocked(c: Conns) -> list[bytes]:
    c.send("gone", "blpop", "d", "0")
    c.wait_blocked(1)
    c["gone"].close()
    del c.open["gone"]
    c.wait_blocked(0)
    out = [c["p"].call("rpush", "d", "kept"), c["p"].call("llen", "d")]
    return out


def zset_waiters(c: Conns) -> list[bytes]:
    c.send("w1", "bzpopmin", "z", "0")
    c.wait_blocked(1)
    c.send("w2", "bzmpop", "0", "2", "other", "z", "MAX", "COUNT", "2")
    c.wait_blocked(2)
    c["w3"].call("hello", "3")
    c.send("w3", "bzpopmax", "z", "0")
    c.wait_blocked(3)
    out = [c["p"].call("zadd", "z", "1.5", "a", "2", "b", "3", "c", "4", "d")]
    out += [c["w1"].read_reply(), c["w2"].read_reply(), c["w3"].read_reply()]
    out.append(c["p"].call("zrange", "z", "0", "-1", "WITHSCORES"))
    return out


def type_mismatch(c: Conns) -> list[bytes]:
    # A list waiter ignores a key that became a sorted set, and times out.
    c.send("w", "blpop", "t", "0.3")
    c.wait_blocked(1)
    out = [c["p"].call("zadd", "t", "1", "m"), c["w"].read_reply()]
    # BLMOVE whose destination became a string by the time data arrives: WRONGTYPE.
    c.send("mv", "blmove", "src", "dst", "LEFT", "LEFT", "0")
    c.wait_blocked(1)
    out += [c["p"].call("set", "dst", "str"), c["p"].call("rpush", "src", "v"),
            c["mv"].read_reply(), c["p"].call("lrange", "src", "0", "-1")]
    return out


def rename_wakes(c: Conns) -> list[bytes]:
    c.send("w", "blpop", "target", "0")
    c.wait_blocked(1)
    out = [c["p"].call("rpush", "tmp", "v1", "v2"), c["p"].call("rename", "tmp", "target"),
           c["w"].read_reply(), c["p"].call("lrange", "target", "0", "-1")]
    return out


def sort_store_wakes(c: Conns) -> list[bytes]:
    # SORT ... STORE creates the list with setKey, which signals blocked clients (Redis
    # tests/unit/type/list.tcl "BLPOP when result key is created by SORT..STORE").
    c.send("w", "blpop", "{s}dst", "5")
    c.wait_blocked(1)
    out = [c["p"].call("rpush", "{s}src", "hello", "hola", "aguacate"),
           c["p"].call("sort", "{s}src", "ALPHA", "STORE", "{s}dst"),
           c["w"].read_reply(), c["p"].call("lrange", "{s}dst", "0", "-1")]
    return out


def sub_millisecond_timeouts(c: Conns) -> list[bytes]:
    # Redis 7.0.15 rounds a timeout's milliseconds up (ceill), so 0.001 s and 0.0001 s
    # are 1 ms, not 0 (= forever) (list.tcl "BLPOP: with 0.001 timeout should not block
    # indefinitely").
    out = []
    for cmd in (("blpop", "none", "0.001"), ("brpop", "none", "0.0001"),
                ("blmpop", "0.0005", "1", "none", "LEFT"), ("bzpopmin", "none", "0.001"),
                ("blmove", "none", "d", "LEFT", "LEFT", "0.000001"),
                ("bzmpop", "0.0009", "1", "none", "MIN")):
        started = time.monotonic()
        out.append(c["w"].call(*cmd))
        assert time.monotonic() - started < 1
    return out


def expired_before_served(c: Conns) -> list[bytes]:
    # list.tcl "MULTI + LPUSH + EXPIRE + DEBUG SLEEP on blocked client, key already
    # expired": the waiters are served at the current time, so a key that expired within
    # the EXEC serves nobody and the client stays blocked.
    p = c["p"]
    out = [p.call("debug", "set-active-expire", "0")]
    w_id = c["w"].call("client", "id")
    c.send("w", "brpop", "k", "0")
    c.wait_blocked(1)
    out += [p.call("multi"), p.call("rpush", "k", "hello"), p.call("pexpire", "k", "100"),
            p.call("debug", "sleep", "0.2"), p.call("exec")]
    out.append(str(c.blocked()).encode())
    out += [p.call("exists", "k"), p.call("client", "unblock", parse(w_id)),
            c["w"].read_reply(), p.call("debug", "set-active-expire", "1")]
    return out


def _stats(c: Conns) -> bytes:
    """The error counters Redis keeps for errors served to blocked clients."""
    info = c.admin.call("info", "all").decode()
    keep = [re.sub(r"usec=[^,]*,usec_per_call=[^,]*,", "", line)
            for line in info.splitlines()
            if line.startswith(("errorstat_", "total_error_replies", "cmdstat_xreadgroup",
                                "cmdstat_blmove"))]
    return "\n".join(sorted(keep)).encode()


def xreadgroup_stream_gone(c: Conns) -> list[bytes]:
    # A stream deleted or replaced while XREADGROUP waits on it unblocks the reader with
    # "UNBLOCKED the stream key no longer exists" (stream-cgroups.tcl "Blocking
    # XREADGROUP: key deleted / key type changed ... / flushed DB"); errors served to
    # blocked clients count in errorstats and failed_calls.
    p = c["p"]
    out = [p.call("config", "resetstat")]
    setups = [
        [("del", "xs")],
        [("set", "xs", "val")],
        [("multi",), ("del", "xs"), ("sadd", "xs", "e"), ("exec",)],
        [("flushall",)],
        [("xgroup", "destroy", "xs", "g")],  # NOGROUP
        [("swapdb", "0", "1")],
    ]
    for steps in setups:
        p.call("del", "xs")
        out += [p.call("xadd", "xs", "1-1", "f", "v"), p.call("xgroup", "create", "xs", "g", "$")]
        c.send("w", "xreadgroup", "group", "g", "alice", "block", "0", "streams", "xs", ">")
        c.wait_blocked(1)
        for step in steps:
            out.append(p.call(*step))
        out.append(c["w"].read_reply())
        c.wait_blocked(0)
    # A reader of the stream itself (XREAD) keeps waiting; a later XADD serves it.
    p.call("del", "xs")
    out.append(p.call("xadd", "xs", "5-1", "f", "v"))
    c.send("w", "xread", "block", "0", "streams", "xs", "$")
    c.wait_blocked(1)
    out += [p.call("del", "xs"), p.call("xadd", "xs", "6-1", "f", "v"), c["w"].read_reply()]
    # BLMOVE served with WRONGTYPE counts too.
    c.send("w", "blmove", "src", "dst", "LEFT", "LEFT", "0")
    c.wait_blocked(1)
    out += [p.call("set", "dst", "x"), p.call("rpush", "src", "v"), c["w"].read_reply()]
    out += [p.call("ping"), _stats(c)]
    p.call("swapdb", "0", "1")
    p.call("flushall")
    return out


def client_unblock_error_counts(c: Conns) -> list[bytes]:
    # info.tcl "errorstats: blocking commands": a client ended by CLIENT UNBLOCK ...
    # ERROR got an error reply: it counts in errorstats, total_error_replies and the
    # blocked command's failed_calls (WAIT's case: test_master.py).
    p = c["p"]
    out = [p.call("config", "resetstat")]
    w_id = parse(c["w"].call("client", "id"))
    for reason in ("timeout", "error"):  # (Redis counts a failed call for both)
        c.send("w", "blpop", "list1", "0")
        c.wait_blocked(1)
        out += [p.call("client", "unblock", w_id, reason), c["w"].read_reply()]
    info = p.call("info", "all").decode()
    out += [line.encode() for line in sorted(
        re.sub(r"usec=[^,]*,usec_per_call=[^,]*,", "", line) for line in info.splitlines()
        if line.startswith(("errorstat_", "total_error_replies", "cmdstat_blpop",
                            "cmdstat_wait")))]
    return out


SCENARIOS = [fifo_wakeups, multi_key_and_pipeline, timeouts, blmove_chain, push_inside_multi,
             blocking_inside_multi, disconnect_while_blocked, zset_waiters, type_mismatch,
             rename_wakes, sort_store_wakes, sub_millisecond_timeouts, xreadgroup_stream_gone,
             expired_before_served, client_unblock_error_counts]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_scenario_matches_redis(aikv_module, redis_module, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    replies = both(aikv_module, redis_module, scenario)
    assert replies  # scenarios always produce replies


def test_fifo_expected_values(aikv_module, redis_module) -> None:  # type: ignore[no-untyped-def]
    replies = both(aikv_module, redis_module, fifo_wakeups)
    assert replies[1] == b"*2\r\n$1\r\nq\r\n$1\r\na\r\n"
    assert replies[2] == b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n"
    assert replies[5] == b"*2\r\n$1\r\nq\r\n$1\r\nc\r\n"


def test_client_list_flag_and_info(r: redis.Redis, aikv_module) -> None:  # type: ignore[no-untyped-def]
    conns = Conns(aikv_module.port)
    try:
        conns.send("w", "blpop", "k", "0")
        conns.wait_blocked(1)
        listing = r.execute_command("client", "list")
        blocked = [x for x in listing.decode().splitlines() if " flags=b " in x]
        assert len(blocked) == 1
        assert r.info("clients")["blocked_clients"] == 1
        r.rpush("k", "v")
        assert conns["w"].read_reply() == b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n"
        conns.wait_blocked(0)
    finally:
        conns.close()


def test_commands_sent_while_blocked_run_after(aikv_module) -> None:  # type: ignore[no-untyped-def]
    conns = Conns(aikv_module.port)
    try:
        conns.send("w", "blpop", "k", "0")
        conns.wait_blocked(1)
        conns.send("w", "llen", "k")
        conns.send("w", "blpop", "k", "0")  # blocks again once the first is served
        conns.send("w", "echo", "after")
        assert conns["p"].call("rpush", "k", "1") == b":1\r\n"
        w = conns["w"]
        assert w.read_reply() == b"*2\r\n$1\r\nk\r\n$1\r\n1\r\n"
        assert w.read_reply() == b":0\r\n"
        conns.wait_blocked(1)
        assert conns["p"].call("rpush", "k", "2") == b":1\r\n"
        assert w.read_reply() == b"*2\r\n$1\r\nk\r\n$1\r\n2\r\n"
        assert w.read_reply() == b"$5\r\nafter\r\n"
    finally:
        conns.close()


def test_many_waiters_timeouts_are_independent(aikv_module) -> None:  # type: ignore[no-untyped-def]
    conns = Conns(aikv_module.port)
    try:
        for i in range(20):
            conns.send(f"w{i}", "brpop", "never", "0.1" if i % 2 else "0")
        conns.wait_blocked(10)  # the short ones time out, the others stay
        for i in range(1, 20, 2):
            assert conns[f"w{i}"].read_reply() == b"*-1\r\n"
        assert conns.blocked() == 10
        conns["p"].call("rpush", "never", *[str(i) for i in range(10)])
        got = [conns[f"w{i}"].read_reply() for i in range(0, 20, 2)]
        assert got == [b"*2\r\n$5\r\nnever\r\n$%d\r\n%s\r\n" % (len(v), v)
                       for v in (str(9 - i).encode() for i in range(10))]
        conns.wait_blocked(0)
    finally:
        conns.close()
