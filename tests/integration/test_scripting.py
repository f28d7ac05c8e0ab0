"""EVAL / EVALSHA / EVAL_RO / SCRIPT against a real redis-server 7.0.15: every case in
lua_cases.py is sent to both servers and the replies are compared byte for byte (pure
Lua, conversions both ways, redis.call/pcall on every type, errors and their texts,
script cache flows, read-only scripts, real-world scripts). Then what only AiKv can show:
SCRIPT KILL through pcall, and cluster routing by the declared keys."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest

from tests.differ import Differ, RawConnection, encode_command, parse
from tests.harness import ServerProcess, wait_until
from tests.integration import lua_cases as C


@pytest.fixture
def fresh(differ: Differ) -> Iterator[Differ]:
    for conn in (differ.a, differ.r):
        conn.call("flushall")
        conn.call("script", "flush")
    yield differ


@pytest.mark.parametrize("src", C.PURE, ids=[f"pure{i}" for i in range(len(C.PURE))])
def test_pure_lua_matches_redis(fresh: Differ, src: str) -> None:
    fresh.check(*C.ev(src))


@pytest.mark.parametrize("src", C.MORE, ids=[f"more{i}" for i in range(len(C.MORE))])
def test_more_lua_matches_redis(fresh: Differ, src: str) -> None:
    fresh.check(*C.ev(src))


@pytest.mark.parametrize("src", C.PATTERNS, ids=[f"pattern{i}" for i in range(len(C.PATTERNS))])
def test_lua_patterns_match_redis(fresh: Differ, src: str) -> None:
    fresh.check(*C.ev(src))


@pytest.mark.parametrize("src", C.FUZZ_FOUND,
                         ids=[f"fuzz{i}" for i in range(len(C.FUZZ_FOUND))])
def test_fuzz_found_cases_match_redis(fresh: Differ, src: str) -> None:
    fresh.check(*C.ev(src))


@pytest.mark.parametrize("case", C.CJSON_DECODE,
                         ids=[f"cjson_decode{i}" for i in range(len(C.CJSON_DECODE))])
def test_cjson_decode_matches_redis(fresh: Differ, case: tuple[str, bytes]) -> None:
    src, text = case
    fresh.check("eval", src, 0, text)


@pytest.mark.parametrize("case", C.DATA, ids=[f"data{i}" for i in range(len(C.DATA))])
def test_data_scripts_match_redis(fresh: Differ, case: C.Case) -> None:
    for cmd in case:
        fresh.check(*cmd)


@pytest.mark.parametrize("case", C.REAL_WORLD,
                         ids=[f"real{i}" for i in range(len(C.REAL_WORLD))])
def test_real_world_scripts_match_redis(fresh: Differ, case: C.Case) -> None:
    for cmd in case:
        fresh.check(*cmd)


def test_case_count() -> None:
    commands = len(C.PURE) + len(C.MORE) + len(C.PATTERNS) + sum(len(c) for c in C.DATA) + sum(len(c) for c in C.REAL_WORLD)
    assert commands >= 900


def test_resp3_caller_matches_redis(fresh: Differ) -> None:
    fresh.both("hello", "3")
    try:
        for src in ["return true", "return false", "return nil", "return {1, 'x', false}",
                    # (a RESP3 false, "#f", is what hiredis reports as "no reply yet")
                    "redis.setresp(3) return true", "redis.setresp(3) return {1, false}",
                    "return {double=3.5}", "return {double=0/0}", "return {double=-(0/0)}",
                    "return {map={a=1}}", "return {set={x=true}}",
                    "return {big_number='12345678901234567890'}",
                    "return {verbatim_string={format='txt', string='hi'}}",
                    "redis.setresp(3) redis.call('hset', 'h', 'f', 'v') "
                    "return redis.call('hgetall', 'h')",
                    "redis.setresp(3) return redis.call('get', 'nokey')",
                    "return redis.call('get', 'nokey')"]:
            fresh.check("eval", src, "0")
    finally:
        fresh.both("hello", "2")


def test_writes_notify_and_wake_like_commands(fresh: Differ) -> None:
    # A script's write is seen by WATCH (EXEC fails) and by blocked clients.
    for conn in (fresh.a, fresh.r):
        conn.call("set", "w", "1")
        conn.call("watch", "w")
    fresh.check("eval", "return redis.call('incr', 'w')", "1", "w")
    fresh.check("multi")
    fresh.check("get", "w")
    fresh.check("exec")


def test_evalsha_after_flush_and_uppercase(fresh: Differ) -> None:
    body = "return ARGV[1] .. '!'"
    sha = fresh.check("script", "load", body)
    digest = parse(sha).decode()
    fresh.check("evalsha", digest.upper(), "0", "hi")
    fresh.check("evalsha_ro", digest, "0", "ro")
    fresh.check("script", "flush")
    fresh.check("evalsha", digest, "0", "hi")


def test_command_getkeys_eval(fresh: Differ) -> None:
    fresh.check("command", "getkeys", "eval", "return 1", "2", "a", "b", "c")
    fresh.check("command", "getkeys", "evalsha", "x" * 40, "1", "k")
    fresh.check("command", "getkeys", "eval_ro", "return 1", "1", "k", "arg")


def test_pcall_cannot_catch_script_kill(aikv_module: ServerProcess) -> None:
    """A loop inside pcall, past lua-time-limit: SCRIPT KILL stops it all the same, and a
    recursive script still meets the depth limit, not the time limit."""
    conn = RawConnection(aikv_module.port, timeout=30)
    runner = RawConnection(aikv_module.port, timeout=30)
    try:
        conn.call("config", "set", "lua-time-limit", "100")
        runner.sock.sendall(encode_command(
            "eval", "while true do pcall(function() while true do end end) end", "0"))
        wait_until(lambda: conn.call("script", "kill") == b"+OK\r\n", timeout=15,
                   what="the script to be killable")
        reply = runner.read_reply()
        assert reply.startswith(b"-ERR Script killed by user with SCRIPT KILL... script: "), reply
        reply = runner.call("eval", "local function f() return 1 + f() end return f()", "0")
        assert b"stack overflow" in reply, reply
        assert runner.call("ping") == b"+PONG\r\n"
    finally:
        conn.call("config", "set", "lua-time-limit", "5000")
        conn.close()
        runner.close()


def test_script_runs_fast_enough(aikv_module: ServerProcess) -> None:
    conn = RawConnection(aikv_module.port)
    try:
        started = time.monotonic()
        reply = conn.call("eval", "local s = 0 for i = 1, 200000 do s = s + i % 7 end return s",
                          "0")
        assert reply == b":599997\r\n"
        assert time.monotonic() - started < 20  # typically well under a second
    finally:
        conn.close()


# ---------------------------------------------------------------------- cluster mode
def test_cluster_eval_routes_by_declared_keys(cluster_differ: Differ) -> None:
    d = cluster_differ
    d.check("eval", "return redis.call('set', KEYS[1], ARGV[1])", "1", "{u}a", "1")
    d.check("eval", "return redis.call('get', KEYS[1])", "1", "{u}a")
    d.check("eval", "return {KEYS[1], KEYS[2]}", "2", "{u}a", "{u}b")
    d.check("eval", "return 1", "2", "a", "b")  # CROSSSLOT
    d.check("eval", "return redis.call('mget', KEYS[1], KEYS[2])", "2", "{x}1", "{y}2")
    # No shebang: keys of other slots are fine while they are local (compat mode).
    d.check("eval", "redis.call('set', 'k1', 1) return redis.call('set', 'k2', 2)", "0")
    # With a shebang, undeclared keys must stay in one slot.
    d.check("eval", "#!lua\nredis.call('set', 'k1', 1) return redis.call('set', 'k2', 2)", "0")
    d.check("eval", "#!lua\nreturn redis.call('get', 'k3')", "1", "k1")
    d.check("eval", "#!lua flags=allow-cross-slot-keys\nreturn redis.call('get', 'k3')", "1", "k1")
    d.check("eval", "#!lua flags=no-cluster\nreturn 1", "0")
    d.check("command", "getkeys", "eval", "return 1", "2", "a", "b")


def test_cluster_redis_call_to_foreign_slot(spawn: Callable[..., ServerProcess]) -> None:
    """Nodes owning only slots 0-8000 (AiKv and redis-server): EVAL declaring a key of an
    unserved slot is refused, and a redis.call on an undeclared key of such a slot fails
    inside the script, with Redis's texts."""
    args = ["--cluster-enabled", "yes", "--cluster-require-full-coverage", "no"]
    servers = [spawn("aikv", args=args), spawn("redis", args=args)]
    for server in servers:
        conn = RawConnection(server.port)
        conn.call("cluster", "addslotsrange", "0", "8000")
        deadline = time.monotonic() + 10
        while b"cluster_state:ok" not in parse(conn.call("cluster", "info")):
            assert time.monotonic() < deadline, "cluster_state never turned ok"
            time.sleep(0.05)
        conn.close()
    d = Differ(servers[0].port, servers[1].port)
    try:
        # "a" hashes to slot 15495 (not served), "b" to 3300 (served).
        d.check("eval", "return 1", "1", "a")
        d.check("eval", "return redis.call('get', 'a')", "1", "b")
        d.check("eval", "return redis.pcall('get', 'a')", "1", "b")
        d.check("eval", "return redis.call('get', 'a')", "0")
        d.check("eval", "return redis.call('set', KEYS[1], 'v')", "1", "b")
        d.check("eval", "return redis.call('get', 'b')", "0")
    finally:
        d.close()


def test_script_writes_notify_keyspace_events(aikv_module: ServerProcess,
                                              redis_module: ServerProcess) -> None:
    events = {}
    for server in (aikv_module, redis_module):
        conn, sub = RawConnection(server.port), RawConnection(server.port)
        try:
            conn.call("config", "set", "notify-keyspace-events", "KEA")
            sub.call("psubscribe", "__keyevent@0__:*")
            conn.call("eval", "redis.call('set', KEYS[1], 'v') redis.call('expire', KEYS[1], 9) "
                      "redis.call('del', KEYS[1]) return 1", "1", "nk")
            events[server.kind] = [parse(sub.read_reply()) for _ in range(3)]
        finally:
            conn.call("config", "set", "notify-keyspace-events", "")
            conn.close()
            sub.close()
    assert events["aikv"] == events["redis"]
    assert [e[2] for e in events["aikv"]] == [b"__keyevent@0__:set", b"__keyevent@0__:expire",
                                            b"__keyevent@0__:del"]


def test_error_stats_of_scripts_match_redis(fresh: Differ) -> None:
    """An error counts once in INFO errorstats, where it arose: a command a script ran
    counts its own, and the script's reply that passes it on does not count it again
    (Redis's ignore_error_stats_update, a field scripts can see); failed_calls follow."""
    fresh.check("config", "resetstat")
    for cmd in (("set", "str", "x"), ("eval", "return {err='MYERR x'}", "0"),
                ("eval", "return redis.error_reply('FOO bar')", "0"),
                ("eval", "return redis.call('nosuch')", "0"),
                ("eval", "return redis.call('lpush', 'str', '1')", "0"),
                ("eval", "return redis.pcall('lpush', 'str', '1')", "0"),
                ("eval", "local ok = pcall(redis.call, 'lpush', 'str', '1') return 1", "0"),
                ("eval", "return redis.call('get')", "0"),
                ("eval", "return cjson.encode(redis.pcall('lpush', 'str', '1'))", "0"),
                ("lpush", "str", "1"), ("get", "str"), ("nosuchcmd",), ("get",)):
        fresh.check(*cmd)

    def stats(raw: bytes) -> list[bytes]:
        lines = parse(raw).split(b"\r\n")
        return sorted(re.sub(rb"usec=\d+,usec_per_call=[\d.]+,", b"", line) for line in lines
                      if line.startswith((b"errorstat_", b"cmdstat_eval", b"cmdstat_lpush",
                                          b"cmdstat_get", b"total_error_replies")))

    fresh.check("info", "errorstats", normalize=stats)
    fresh.check("info", "commandstats", normalize=stats)
    fresh.check("info", "stats", normalize=stats)


# lua-cjson's configuration functions (Redis's scripting.tcl "JSON smoke test"): each
# script puts back the defaults it changed, since the settings live as long as the Lua state.
_CJSON_RESET = ("cjson.encode_max_depth(1000) cjson.decode_max_depth(1000) "
                "cjson.encode_invalid_numbers(false) cjson.encode_number_precision(14) "
                "cjson.encode_sparse_array(false, 2, 10) ")
CJSON_CONFIG = [
    "cjson.encode_max_depth(1) local ok, e = pcall(cjson.encode, {a={1}}) " + _CJSON_RESET
    + "return {tostring(ok), e}",
    "local r = {cjson.encode_max_depth(), cjson.encode_max_depth(5), "
    "cjson.decode_max_depth(2), cjson.encode_number_precision()} " + _CJSON_RESET
    + "return r",
    "cjson.decode_max_depth(1) local ok, e = pcall(cjson.decode, "
    "'{\"obj\": {\"array\": [1,2,3,4]}}') " + _CJSON_RESET + "return {tostring(ok), e}",
    "cjson.encode_invalid_numbers(true) local r = cjson.encode({0/0, 1/0, -1/0}) "
    + _CJSON_RESET + "return r",
    "cjson.encode_invalid_numbers('null') local r = {cjson.encode({0/0}), "
    "cjson.encode_invalid_numbers()} " + _CJSON_RESET + "return r",
    "local ok, e = pcall(cjson.encode_max_depth, 0) return e",
    "local ok, e = pcall(cjson.encode_invalid_numbers, 'maybe') return e",
    "cjson.encode_number_precision(3) local r = cjson.encode({3.14159, 100, 12345}) "
    + _CJSON_RESET + "return r",
    "cjson.encode_sparse_array(true) local r = cjson.encode({[1]=1, [20]=2}) "
    + _CJSON_RESET + "return r",
    "local r = {cjson.encode_keep_buffer(), cjson.encode_keep_buffer(false), "
    "cjson.decode_invalid_numbers()} cjson.encode_keep_buffer(true) return r",
    "local t = {} local c = t for i = 1, 1001 do c[1] = {} c = c[1] end "
    "local ok, e = pcall(cjson.encode, t) return e",
]


@pytest.mark.parametrize("src", CJSON_CONFIG, ids=[f"cjson{i}" for i in range(len(CJSON_CONFIG))])
def test_cjson_configuration_matches_redis(fresh: Differ, src: str) -> None:
    fresh.check(*C.ev(src))


STACK_LIMIT_SCRIPTS = [
    "local a = {}; local b = {a}; a[1] = b; return a",  # an array holding itself
    "local a = {}; a['map'] = a; return a",
    "local a = {}; local m = {}; a.map = m; m[1] = a; return a",
    "local a = {}; a.set = {}; a.set[a] = true; return a",
    "local t = {}; for i = 1, 7999 do t[i] = 1 end; return redis.call('lpush', 'ul', unpack(t))",
    "local t = {}; for i = 1, 8000 do t[i] = 1 end; return #({unpack(t)})",
    "local t = {}; for i = 1, 7998 do t[i] = 1 end; return #({unpack(t, 1, 7998)})",
]


@pytest.mark.parametrize("protocol", ["2", "3"])
@pytest.mark.parametrize("src", STACK_LIMIT_SCRIPTS,
                         ids=[f"stack{i}" for i in range(len(STACK_LIMIT_SCRIPTS))])
def test_lua_stack_limit_matches_redis(fresh: Differ, src: str, protocol: str) -> None:
    """Redis's scripting.tcl: a self-containing or too deep result is converted until
    Lua's stack limit ("*1" thousands of times, then "reached lua stack limit"), and
    unpack takes up to 7999 values with its one argument. Each reply is read up to a
    PING sent after it (hiredis cannot frame every RESP3 type)."""
    replies = []
    for conn in (fresh.a, fresh.r):
        conn.call("hello", protocol)
        replies.append(conn.call_then_ping("eval", src, "0", timeout=30))
        conn.call("hello", "2")
    assert replies[0] == replies[1]


def test_sort_by_constant_of_a_set_is_ordered_in_scripts(fresh: Differ) -> None:
    """A set's own order is not reproducible, so SORT BY <constant> from a script sorts
    it ALPHA, as with STORE (Redis's sort.c); a list keeps its order."""
    fresh.check("sadd", "myset", *"a b c d e f g h i l m n o p q r s t u v z aa aaa azz".split())
    fresh.check("eval", "return redis.call('sort', KEYS[1], 'by', '_')", "1", "myset")
    fresh.check("eval", "return redis.call('sort', KEYS[1], 'by', '_', 'get', '#', 'get', "
                "'_:*')", "1", "myset")
    fresh.check("rpush", "mylist", "c", "a", "b")
    fresh.check("eval", "return redis.call('sort', KEYS[1], 'by', '_')", "1", "mylist")
