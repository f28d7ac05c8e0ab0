"""Redis 7.0 FUNCTIONS (FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/STATS/KILL/HELP, FCALL,
FCALL_RO) against a real redis-server 7.0.15, replies compared byte for byte: what a library
may do while it loads and the errors when it does something else, the shebang and name
checks, running functions and their errors, flags, RESP3 shapes, payloads moved between
the two servers both ways. Then what only AiKv can show: libraries surviving a restart
(and a kill -9), and cluster routing by the keys FCALL declares.

Where a reply holds several libraries, or several functions of one library, Redis lists
them in the order of a hash table seeded at random when it starts: those replies are
compared after sorting (`sorted_libraries`); every other reply byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aikv.migrate.crc64 import crc64
from aikv.migrate.rdbprim import encode_length
from tests.differ import Differ, RawConnection, parse
from tests.harness import ServerProcess


@pytest.fixture
def fresh(differ: Differ) -> Iterator[Differ]:
    for conn in (differ.a, differ.r):
        conn.call("flushall")
        conn.call("function", "flush")
    yield differ
    for conn in (differ.a, differ.r):
        conn.call("hello", "2")
        conn.call("function", "flush")


def lib(name: str, body: str) -> str:
    return f"#!lua name={name}\n{body}"


def sorted_libraries(raw: bytes) -> Any:
    """A RESP2 FUNCTION LIST reply with libraries and their functions in name order."""
    libraries = []
    for entry in parse(raw):
        fields = dict(zip(entry[::2], entry[1::2], strict=True))
        fields[b"functions"] = sorted(
            (dict(zip(f[::2], f[1::2], strict=True)) for f in fields[b"functions"]),
            key=lambda f: f[b"name"])
        libraries.append(fields)
    return sorted(libraries, key=lambda f: f[b"library_name"])


def seal(body: bytes) -> bytes:
    """A FUNCTION RESTORE payload: body, RDB version 10, CRC-64."""
    sealed = body + (10).to_bytes(2, "little")
    return sealed + crc64(sealed).to_bytes(8, "little")


def rdb_string(data: bytes) -> bytes:
    return encode_length(len(data)) + data


# ---------------------------------------------------------------------- FUNCTION LOAD
SHEBANG_ERRORS = [
    "lua name=a\n",                      # no "#!"
    "#!lua name=a",                      # no newline after the shebang
    "#!lua\nredis.register_function('g', function() end)",  # no name
    "#!lua name=a name=b\nredis.register_function('g', function() end)",
    "#!lua name=a foo=b\n",
    "#!lua NAME=a\nreturn 1",            # name= in any case: then "No functions registered"
    "#!foo name=a\n",
    "#! name=a\n",
    '#!"lua name=a\n',                   # unbalanced quote
    '#!lua "name=q"\nredis.register_function("g", function() end)',
    "#!LUA name=up\nredis.register_function('up', function() end)",
    "#!lua name=y-z\n",
    "#!lua name=\n",
    "#!lua name=a\0\nredis.register_function('g', function() end)",
]


@pytest.mark.parametrize("code", SHEBANG_ERRORS, ids=[f"shebang{i}" for i in
                                                      range(len(SHEBANG_ERRORS))])
def test_shebang_and_library_name(fresh: Differ, code: str) -> None:
    fresh.check("function", "load", code)
    fresh.check("function", "list", normalize=sorted_libraries)


LOADING = [
    # Only redis.register_function, redis.log and the version are there while loading.
    "local s = string.format('a') redis.register_function('f', function() return 1 end)",
    "redis.register_function('f', function() return 1 end) x = 1",
    "redis.call('ping')",
    "local x = redis.pcall",
    "redis.setresp(3)",
    "local x = pairs",
    "local x = _G",
    "local x = KEYS",
    "error('boom')",
    "local a = nil + 1",
    "local function f() return f() + 1 end f()",
    "local a = 0 while true do a = a + 1 end",       # FUNCTION LOAD timeout (500 ms)
    "redis.register_function('gg', function() return 1 end",
    "return 1",                                      # no functions registered
    "redis.log(redis.LOG_WARNING, 'loading') "
    "redis.register_function('v', function() return {redis.REDIS_VERSION, "
    "redis.REDIS_VERSION_NUM} end)",
    "local t = {} t.a = 1 redis.register_function('t', function() return t.a end)",
    # register_function's arguments
    "redis.register_function('g', function() end) redis.register_function('g', function() end)",
    "redis.register_function('g-h', function() end)",
    "redis.register_function('', function() end)",
    "redis.register_function(1, function() end)",
    "redis.register_function({}, function() end)",
    "redis.register_function('a', 1)",
    "redis.register_function('y')",
    "redis.register_function(nil)",
    "redis.register_function()",
    "redis.register_function(1, 2, 3)",
    "redis.register_function{function_name='x', callback=function() end, flags={'bad'}}",
    "redis.register_function{function_name='x', callback=function() end, flags='no-writes'}",
    "redis.register_function{function_name='x', callback=function() end, flags={1}}",
    "redis.register_function{function_name='x', callback=function() end, flags={{}}}",
    "redis.register_function{function_name='x', callback=function() end, flags={'NO-WRITES'}}",
    "redis.register_function{function_name=1, callback=function() end}",
    "redis.register_function{function_name={}, callback=function() end}",
    "redis.register_function{function_name='a', callback=1}",
    "redis.register_function{function_name='a', description=1, callback=function() end}",
    "redis.register_function{function_name='b', description={}, callback=function() end}",
    "redis.register_function{function_name='b', foo=1, callback=function() end}",
    "redis.register_function{function_name='b'}",
    "redis.register_function{callback=function() end}",
    "redis.register_function{[1]=2}",
    "redis.register_function{function_name='', callback=function() end}",
    "redis.register_function{FUNCTION_NAME='up', CALLBACK=function() return 1 end}",
]


@pytest.mark.parametrize("body", LOADING, ids=[f"load{i}" for i in range(len(LOADING))])
def test_what_a_library_may_do_while_loading(fresh: Differ, body: str) -> None:
    fresh.check("function", "load", lib("l", body))
    fresh.check("function", "list", "withcode")


def test_load_options_and_collisions(fresh: Differ) -> None:
    code = lib("x", "redis.register_function('f', function() return 1 end)")
    fresh.check("function", "load")
    fresh.check("function", "load", "replace")
    fresh.check("function", "load", "foo", code)
    fresh.check("function", "load", code)
    fresh.check("function", "load", code)                      # Library 'x' already exists
    fresh.check("function", "load", "REPLACE", "replace", code)
    # function names collide across libraries without regard to case
    fresh.check("function", "load", lib("y", "redis.register_function('F', function() end)"))
    fresh.check("function", "load", lib("y", "redis.register_function('f', function() end)"))
    # REPLACE that fails keeps the old library
    fresh.check("function", "load", "replace", lib("x", "return 1"))
    fresh.check("fcall", "f", "0")
    fresh.check("function", "load", "replace",
                lib("x", "redis.register_function('f2', function() return 2 end)"))
    fresh.check("fcall", "f", "0")
    fresh.check("fcall", "F2", "0")
    fresh.check("function", "list", normalize=sorted_libraries)


# ---------------------------------------------------------------------- FCALL
CALLBACKS = """
local r = redis
redis.register_function('reg', function() r.register_function('zz', function() end) end)
redis.register_function('reg2', function() redis.register_function('zz', function() end) end)
redis.register_function('rlog', function() r.log(r.LOG_WARNING, 'x') return r.call end)
redis.register_function('err1', function() error('boom') end)
redis.register_function('err2', function() return redis.call('nosuch') end)
redis.register_function('err3', function() local x = nil + 1 end)
redis.register_function('keys', function() return KEYS end)
redis.register_function('glob', function() x = 1 end)
redis.register_function('set', function(keys, args) return redis.call('set', keys[1], args[1]) end)
redis.register_function('pc', function() return {pcall(error, 'e')} end)
redis.register_function('err5', function() error({err='MYERR x'}) end)
redis.register_function('err6', function() error() end)
redis.register_function('err7', function() return redis.error_reply('FOO bar') end)
redis.register_function('echo', function(keys, args) return {#keys, #args, keys, args} end)
redis.register_function('types', function() return {1, 'two', 3.5, true, false, {ok='fine'}} end)
redis.register_function('lib', function() return {string.rep('a', 3), math.floor(2.5),
  cjson.encode({1}), table.concat({'a', 'b'}), type(bit), tostring(_G == nil)} end)
redis.register_function('eval', function() return redis.call('eval', 'return 1', 0) end)
redis.register_function('fcall', function() return redis.call('fcall', 'echo', 0) end)
redis.register_function('incr', function(keys) return redis.call('incr', keys[1]) end)
redis.register_function{function_name='ro', callback=function(keys)
  return redis.call('get', keys[1]) end, flags={'no-writes'}, description='read it'}
redis.register_function{function_name='ro_writes', callback=function(keys)
  return redis.call('set', keys[1], 1) end, flags={'no-writes', 'allow-stale'}}
"""

FCALLS = [
    ("fcall", "reg", "0"), ("fcall", "reg2", "0"), ("fcall", "rlog", "0"),
    ("fcall", "err1", "0"), ("fcall", "err2", "0"), ("fcall", "err3", "0"),
    ("fcall", "keys", "0"), ("fcall", "glob", "0"), ("fcall", "set", "1", "k", "v"),
    ("fcall", "pc", "0"), ("fcall", "err5", "0"), ("fcall", "err6", "0"),
    ("fcall", "err7", "0"), ("fcall", "echo", "2", "a", "b", "c"), ("fcall", "ECHO", "0"),
    ("fcall", "types", "0"), ("fcall", "lib", "0"), ("fcall", "eval", "0"),
    ("fcall", "fcall", "0"), ("fcall", "incr", "1", "k"), ("fcall", "incr", "1", "n"),
    ("fcall", "nofunc", "0"), ("fcall", "echo", "x", "a"), ("fcall", "echo", "3", "a"),
    ("fcall", "echo", "-1"), ("fcall", "nofunc", "x"), ("fcall", "echo"),
    ("fcall_ro", "ro", "1", "k"), ("fcall_ro", "ro", "1", "n"), ("fcall", "ro", "1", "n"),
    # FCALL_RO refuses a function without no-writes; no-writes refuses writes inside
    ("fcall_ro", "set", "1", "k", "v"), ("fcall_ro", "echo", "0"),
    ("fcall_ro", "ro_writes", "1", "k"), ("fcall", "ro_writes", "1", "k"),
    ("get", "k"),
]


def test_fcall_matches_redis(fresh: Differ) -> None:
    fresh.check("function", "load", lib("callbacks", CALLBACKS))
    for call in FCALLS:
        fresh.check(*call)


def test_builtins_registered_as_functions(fresh: Differ) -> None:
    """A C function as the callback: its errors carry no script position."""
    fresh.check("function", "load", lib("builtins", """
redis.register_function('log', redis.log) redis.register_function('sort', table.sort)
redis.register_function('error', error) redis.register_function('call', redis.call)
redis.register_function('pcall', pcall) redis.register_function('unpack', unpack)"""))
    for name in ("log", "sort", "error", "call", "pcall", "unpack"):
        fresh.check("fcall", name, "0")
        fresh.check("fcall", name, "1", "k", "a")


def test_fcall_resp3(fresh: Differ) -> None:
    fresh.check("function", "load", lib("r3", """
redis.register_function('t', function() return {double=1.5} end)
redis.register_function('m', function() redis.setresp(3) redis.call('hset', 'h', 'f', 'v')
  return redis.call('hgetall', 'h') end)
redis.register_function('n', function() return redis.call('get', 'nokey') end)
redis.register_function('b', function() return true end)
"""))
    fresh.both("hello", "3")
    for name in ("t", "m", "n", "b"):
        fresh.check("fcall", name, "0")


def test_fcall_in_multi_and_watch(fresh: Differ) -> None:
    fresh.check("function", "load",
                lib("m", "redis.register_function('incr', function(k) "
                         "return redis.call('incr', k[1]) end)"))
    for conn in (fresh.a, fresh.r):
        conn.call("set", "w", "1")
        conn.call("watch", "w")
    fresh.check("fcall", "incr", "1", "w")
    fresh.check("multi")
    fresh.check("fcall", "incr", "1", "w")
    fresh.check("exec")
    fresh.check("multi")
    fresh.check("fcall", "incr", "1", "w")
    fresh.check("function", "list", "libraryname", "m")
    fresh.check("exec")


def test_functions_are_not_scripts(fresh: Differ) -> None:
    """Libraries stay through FLUSHALL and SCRIPT FLUSH; FUNCTION FLUSH leaves scripts."""
    fresh.check("function", "load", lib("keep", "redis.register_function('k', function() "
                                                "return 'kept' end)"))
    sha = fresh.check("script", "load", "return 'script'")
    fresh.check("flushall")
    fresh.check("script", "flush")
    fresh.check("fcall", "k", "0")
    fresh.check("script", "load", "return 'script'")
    fresh.check("function", "flush")
    fresh.check("evalsha", parse(sha), "0")
    fresh.check("fcall", "k", "0")


def test_redis_api_of_functions_and_scripts(fresh: Differ) -> None:
    """The function state's redis.* lacks EVAL's debugger and replication helpers; both
    have acl_check_cmd."""
    fresh.check("function", "load", lib("api", """
redis.register_function('api', function() return {redis.acl_check_cmd == nil,
  redis.breakpoint == nil, redis.debug == nil, redis.replicate_commands == nil,
  __redis__err__handler == nil, redis.set_repl(redis.REPL_ALL), redis.sha1hex('a')} end)
redis.register_function('acl', function(k, a) return redis.acl_check_cmd(unpack(a)) end)
"""))
    fresh.check("fcall", "api", "0")
    for line in [("get", "x"), ("config", "get"), ("config",), ("config", "nosuch"),
                 ("nosuch",), (), ("set", "1", "2")]:
        fresh.check("fcall", "acl", "0", *line)
    for script in ["return redis.acl_check_cmd({})", "return {pcall(redis.acl_check_cmd, 'x')}",
                   "return redis.acl_check_cmd('get', 'k')",
                   "return {redis.breakpoint(), redis.debug(), redis.replicate_commands()}"]:
        fresh.check("eval", script, "0")


# ---------------------------------------------------------------------- FUNCTION LIST
def test_list_and_stats_resp2_resp3(fresh: Differ) -> None:
    fresh.check("function", "list")
    fresh.check("function", "stats")
    fresh.check("function", "load", lib("lib2", """
redis.register_function{function_name='ro', callback=function() end, flags={'no-writes'},
  description='read it'}"""))
    fresh.check("function", "load", lib("other", """
redis.register_function{function_name='all', callback=function() end, flags={'no-writes',
  'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}}"""))
    for resp3 in ("2", "3"):
        fresh.both("hello", resp3)
        for args in [("libraryname", "lib2"), ("libraryname", "lib2", "withcode"),
                     ("withcode", "libraryname", "OTH*"), ("libraryname", "nomatch"),
                     ("libraryname",), ("foo",), ("withcode", "withcode"),
                     ("libraryname", "a", "libraryname", "b")]:
            fresh.check("function", "list", *args)
        fresh.check("function", "stats")
        fresh.check("function", "stats", "extra")
    fresh.both("hello", "2")
    fresh.check("function", "list", normalize=sorted_libraries)
    fresh.check("function", "list", "withcode", normalize=sorted_libraries)


def test_several_functions_of_a_library(fresh: Differ) -> None:
    fresh.check("function", "load", lib("many", CALLBACKS))
    fresh.check("function", "list", "withcode", normalize=sorted_libraries)
    fresh.check("function", "stats")


# ---------------------------------------------------------------------- other subcommands
def test_delete_flush_kill_help(fresh: Differ) -> None:
    fresh.check("function", "load", lib("d", "redis.register_function('d', function() end)"))
    for args in [("delete", "nolib"), ("delete", "D"), ("delete", "d"), ("delete",),
                 ("delete", "a", "b"), ("flush", "foo"), ("flush", "sync", "x"),
                 ("flush", "async"), ("flush", "SYNC"), ("flush",), ("kill",), ("kill", "x"),
                 ("help",), ("help", "x"), ("foo",), ("stats",), ("dump", "x")]:
        fresh.check("function", *args)
    fresh.check("function")
    fresh.check("fcall", "d", "0")


# ---------------------------------------------------------------------- DUMP / RESTORE
def test_dump_is_byte_identical(fresh: Differ) -> None:
    fresh.check("function", "dump")  # no libraries
    fresh.check("function", "load", lib("small", "redis.register_function('s', function() "
                                                 "return 1 end)"))
    fresh.check("function", "dump")
    fresh.check("function", "flush")
    big = lib("big", "-- " + "x" * 300 + "\nredis.register_function{function_name='big', "
              "callback=function(k, a) return #a end, flags={'no-writes'}}")
    fresh.check("function", "load", big)
    fresh.check("function", "dump")  # LZF-compressed, as Redis's rdbcompression does


def test_dump_restore_between_servers(fresh: Differ) -> None:
    """Each server's FUNCTION DUMP restores into the other."""
    a, r = fresh.a, fresh.r
    a.call("function", "load", lib("from_aikv", "redis.register_function('fa', function() "
                                                "return 'aikv' end)"))
    r.call("function", "load", lib("from_redis", "redis.register_function{function_name="
                                   "'fr', callback=function() return 'redis' end, "
                                   "flags={'no-writes'}, description='" + "d" * 80 + "'}"))
    payload_a, payload_r = parse(a.call("function", "dump")), parse(r.call("function", "dump"))
    assert a.call("function", "restore", payload_r) == b"+OK\r\n"
    assert r.call("function", "restore", payload_a) == b"+OK\r\n"
    fresh.check("function", "list", "withcode", normalize=sorted_libraries)
    fresh.check("fcall", "fa", "0")
    fresh.check("fcall_ro", "fr", "0")
    fresh.check("function", "dump", normalize=lambda raw: len(parse(raw)))


def test_restore_policies_and_errors(fresh: Differ) -> None:
    code1 = lib("l1", "redis.register_function('f1', function() return 1 end)")
    fresh.check("function", "load", code1)
    dump1 = parse(fresh.check("function", "dump"))
    code2 = lib("l2", "redis.register_function('F1', function() return 2 end)")
    clash = seal(b"\xf5" + rdb_string(code2.encode()))
    code1b = lib("l1", "redis.register_function('f2', function() return 22 end)")
    renewed = seal(b"\xf5" + rdb_string(code1b.encode()))
    for args in [
        (dump1,), (dump1, "append"), (dump1, "replace"), (dump1, "FLUSH"), (dump1, "foo"),
        (dump1, "flush", "x"), (clash,), (clash, "replace"), (renewed,), (renewed, "replace"),
        ("xx",), ("xx", "foo"), (dump1[:-1],), (dump1[:-10] + b"\x0b\x00" + dump1[-8:],),
        (seal(b""),), (seal(b"\x00\x01a"),), (seal(b"\xf5\x40"),), (seal(b"\xf5\x05ab"),),
        (seal(b"\xf5" + rdb_string(code1.encode()) * 2),),
        (seal(b"\xf5" + rdb_string(lib("ok", "redis.register_function('ok', function() "
                                             "end)").encode())
              + b"\xf5" + rdb_string(b"#!lua name=bad\nnot lua")),),
        # the 7.0-rc format: name, engine, description flag, code
        (seal(b"\xf6" + rdb_string(b"old") + rdb_string(b"LUA") + b"\x01"
              + rdb_string(b"a description")
              + rdb_string(b"redis.register_function('old', function() return 'old' end)")),),
        (seal(b"\xf6" + rdb_string(b"old2") + rdb_string(b"lua") + b"\x00"),),
    ]:
        fresh.check("function", "restore", *args)
        fresh.check("function", "list", "withcode", normalize=sorted_libraries)
    for name in ("f1", "f2", "old", "ok"):
        fresh.check("fcall", name, "0")


# ---------------------------------------------------------------------- AiKv only
LIBRARY_A = lib("persisted", "redis.register_function{function_name='pa', callback="
                             "function(k, a) return a[1] end, flags={'no-writes'}, "
                             "description='kept on disk'}")
LIBRARY_B = lib("persisted_too", "redis.register_function('pb', function() return 'b' end)")


def _restart(spawn: Callable[..., ServerProcess], server: ServerProcess,
             kill: bool) -> ServerProcess:
    if kill:
        server.kill9()
    else:
        server.stop()
    return spawn("aikv", directory=server.dir, port=server.port)


def test_libraries_survive_a_restart(spawn: Callable[..., ServerProcess]) -> None:
    server = spawn("aikv")
    conn = RawConnection(server.port)
    assert conn.call("function", "load", LIBRARY_A) == b"$9\r\npersisted\r\n"
    listing = conn.call("function", "list", "withcode")
    conn.call("flushall")
    conn.close()
    server = _restart(spawn, server, kill=False)
    conn = RawConnection(server.port)
    assert conn.call("function", "list", "withcode") == listing
    assert conn.call("fcall_ro", "pa", "0", "arg") == b"$3\r\narg\r\n"
    # Durable once acknowledged: a kill -9 right after the reply loses nothing.
    assert conn.call("function", "load", LIBRARY_B) == b"$13\r\npersisted_too\r\n"
    conn.close()
    server = _restart(spawn, server, kill=True)
    conn = RawConnection(server.port)
    assert conn.call("fcall", "pb", "0") == b"$1\r\nb\r\n"
    assert conn.call("function", "delete", "persisted") == b"+OK\r\n"
    conn.close()
    server = _restart(spawn, server, kill=True)
    conn = RawConnection(server.port)
    try:
        assert conn.call("fcall", "pa", "0") == b"-ERR Function not found\r\n"
        assert conn.call("function", "stats") == (
            b"*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n*4\r\n"
            b"$15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:1\r\n")
        assert conn.call("function", "flush") == b"+OK\r\n"
    finally:
        conn.close()
    server = _restart(spawn, server, kill=True)
    conn = RawConnection(server.port)
    try:
        assert conn.call("function", "list") == b"*0\r\n"
    finally:
        conn.close()



CLUSTER_LIBRARY = lib("cl", """
redis.register_function('set', function(keys, args) return redis.call('set', keys[1], args[1]) end)
redis.register_function('get', function(keys) return redis.call('get', keys[1]) end)
redis.register_function('two', function() redis.call('set', 'k1', 1) return redis.call('set', 'k2', 2) end)
redis.register_function('other', function() return redis.call('get', 'k3') end)
redis.register_function{function_name='cross', callback=function() return redis.call('get', 'k3') end,
  flags={'allow-cross-slot-keys'}}
redis.register_function{function_name='nocluster', callback=function() return 1 end,
  flags={'no-cluster'}}
redis.register_function('mget', function(keys) return redis.call('mget', keys[1], keys[2]) end)
""")


def test_cluster_fcall_routes_by_declared_keys(cluster_differ: Differ) -> None:
    d = cluster_differ
    d.check("function", "load", CLUSTER_LIBRARY)
    d.check("fcall", "set", "1", "{u}a", "1")
    d.check("fcall", "get", "1", "{u}a")
    d.check("fcall_ro", "get", "1", "{u}a")
    d.check("fcall", "get", "2", "a", "b")                  # CROSSSLOT
    d.check("fcall", "mget", "2", "{x}1", "{y}2")
    d.check("fcall", "two", "0")                            # undeclared keys, two slots
    d.check("fcall", "other", "1", "k1")
    d.check("fcall", "cross", "1", "k1")
    d.check("fcall", "nocluster", "0")
    d.check("command", "getkeys", "fcall", "get", "2", "a", "b")
    d.check("command", "getkeys", "fcall_ro", "get", "1", "a", "b")


def test_cluster_fcall_to_an_unserved_slot(spawn: Callable[..., ServerProcess]) -> None:
    """Nodes owning only slots 0-8000: FCALL declaring a key of another slot is refused
    before the function runs, as Redis refuses it."""
    args = ["--cluster-enabled", "yes", "--cluster-require-full-coverage", "no"]
    servers = [spawn("aikv", args=args), spawn("redis", args=args)]
    for server in servers:
        conn = RawConnection(server.port)
        try:
            conn.call("cluster", "addslotsrange", "0", "8000")
            deadline = time.monotonic() + 10
            while b"cluster_state:ok" not in parse(conn.call("cluster", "info")):
                assert time.monotonic() < deadline, "cluster_state never turned ok"
                time.sleep(0.05)
        finally:
            conn.close()
    d = Differ(servers[0].port, servers[1].port)
    try:
        d.check("function", "load", CLUSTER_LIBRARY)
        # "a" hashes to slot 15495 (not served), "b" to 3300 (served).
        d.check("fcall", "get", "1", "a")
        d.check("fcall", "set", "1", "b", "v")
        d.check("fcall_ro", "get", "1", "b")
        d.check("fcall", "other", "1", "b")
    finally:
        d.close()
