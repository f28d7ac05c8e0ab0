"""Server and introspection commands against a real aikv-server, with redis-py, the real
redis-cli and redis-benchmark, and differentially against redis-server 7.0 where the
replies are deterministic."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tests.differ import Differ, RawConnection, encode_command, parse, unordered
from tests.harness import ServerProcess, have_redis_server, redis_cli, wait_until

needs_redis = pytest.mark.skipif(not have_redis_server(), reason="redis-server not installed")


@pytest.fixture
def differ(aikv_module: ServerProcess, redis_module: ServerProcess) -> Iterator[Differ]:
    d = Differ(aikv_module.port, redis_module.port)
    d.both("flushall")
    yield d
    d.close()


def raw_info(port: int, *sections: str) -> bytes:
    conn = RawConnection(port)
    try:
        return conn.call("info", *sections)
    finally:
        conn.close()


def info_fields(text: str) -> dict[str, list[str]]:
    """Section title -> field names in order, from INFO text."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.split("\r\n"):
        if line.startswith("# "):
            current = line[2:]
            out[current] = []
        elif line and current is not None:
            out[current].append(line.split(":", 1)[0])
    return out


# ---------------------------------------------------------------------- INFO
def test_info_every_section_parses_with_redis_py(r: redis.Redis, aikv_module: ServerProcess) -> None:
    r.set("k1", "v")
    r.set("k2", "v", ex=100)
    everything = r.info("everything")
    assert everything["redis_version"] == "7.0.15"
    assert everything["aikv_version"]
    assert everything["redis_mode"] == "standalone"
    assert everything["tcp_port"] == aikv_module.port
    assert everything["process_id"] == aikv_module.proc.pid
    assert re.fullmatch(r"[0-9a-f]{40}", everything["run_id"])
    assert everything["role"] == "master"
    assert everything["cluster_enabled"] == 0
    assert everything["aof_enabled"] == 1
    assert everything["loading"] == 0
    assert everything["connected_clients"] >= 1
    assert everything["used_memory"] > 0
    assert everything["used_memory_human"].endswith(("K", "M", "G"))
    assert isinstance(everything["used_cpu_user"], float)
    assert everything["db0"] == {"keys": 2, "expires": 1, "avg_ttl": 0}
    for section in ("server", "clients", "memory", "persistence", "stats", "replication",
                    "cpu", "modules", "commandstats", "errorstats", "latencystats",
                    "cluster", "keyspace"):
        assert isinstance(r.info(section), dict), section
    # run_id and process identity are stable for the life of the process.
    assert r.info("server")["run_id"] == everything["run_id"]


@needs_redis
def test_info_sections_and_field_order_follow_redis(aikv_module: ServerProcess,
                                                    redis_module: ServerProcess,
                                                    spawn) -> None:  # type: ignore[no-untyped-def]
    for args in ((), ("all",), ("default",), ("everything",), ("cpu", "keyspace"),
                 ("keyspace", "CPU"), ("server", "clients"), ("default", "commandstats")):
        mine = info_fields(parse(raw_info(aikv_module.port, *args)).decode())
        theirs = info_fields(parse(raw_info(redis_module.port, *args)).decode())
        assert list(mine) == list(theirs), args
    # With appendonly on, Redis lists the aof_* size fields AiKv reports too.
    aof_redis = spawn("redis", args=["--appendonly", "yes"])
    mine = info_fields(parse(raw_info(aikv_module.port, "everything")).decode())
    theirs = info_fields(parse(raw_info(aof_redis.port, "everything")).decode())
    for section, names in theirs.items():
        if section in ("Commandstats", "Errorstats", "Latencystats", "Keyspace"):
            continue  # per-command / per-db lines, checked elsewhere
        ours = [n for n in mine[section] if not n.startswith("aikv_")]
        unknown = [n for n in ours if n not in names]
        assert not unknown, (section, unknown)
        # Fields AiKv reports appear in Redis's relative order.
        assert ours == [n for n in names if n in ours], section


@needs_redis
def test_info_raw_framing_matches_redis(differ: Differ) -> None:
    differ.check("info", "nosuchsection")
    differ.check("info", "keyspace")  # empty keyspace: "# Keyspace\r\n"
    differ.check("info", "modules")
    differ.check("info", "cluster")
    differ.check("set", "a", "1")
    differ.check("set", "b", "1", "EX", "1000")
    mine, theirs = differ.both("info", "keyspace")
    assert mine == b"$44\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n\r\n"
    assert theirs.startswith(b"$") and b"db0:keys=2,expires=1,avg_ttl=" in theirs
    mine, theirs = differ.both("info", "cpu", "cluster")
    assert re.fullmatch(rb"\$\d+\r\n# CPU\r\n(used_cpu_\w+:\d+\.\d{6}\r\n){6}\r\n"
                        rb"# Cluster\r\ncluster_enabled:0\r\n\r\n", mine)


def test_info_resp3_is_verbatim(aikv_module: ServerProcess) -> None:
    conn = RawConnection(aikv_module.port)
    try:
        conn.call("hello", "3")
        reply = conn.call("info", "cluster")
        assert reply == b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n"
    finally:
        conn.close()


def test_info_stats_counters(r: redis.Redis) -> None:
    r.config_resetstat()
    r.set("k", "v")
    r.get("k")
    r.get("missing")
    with pytest.raises(redis.ResponseError):
        r.incr("k")
    with pytest.raises(redis.ResponseError):
        r.execute_command("nosuchcommand")
    stats = r.info("stats")
    assert stats["keyspace_hits"] == 1
    assert stats["keyspace_misses"] == 1
    assert stats["total_error_replies"] == 2
    # resetstat, set, get, get, incrby; INFO is counted after it runs, as in Redis.
    assert stats["total_commands_processed"] == 5
    cmdstats = r.info("commandstats")
    assert cmdstats["cmdstat_get"]["calls"] == 2
    assert cmdstats["cmdstat_incrby"]["failed_calls"] == 1  # redis-py sends INCRBY
    assert cmdstats["cmdstat_config|resetstat"]["calls"] == 1
    assert set(cmdstats["cmdstat_get"]) == {"calls", "usec", "usec_per_call",
                                           "rejected_calls", "failed_calls"}
    assert r.info("errorstats") == {"errorstat_ERR": {"count": 2}}
    r.config_resetstat()
    assert r.info("errorstats") == {}
    assert "cmdstat_get" not in r.info("commandstats")
    assert r.info("stats")["keyspace_hits"] == 0


def test_instantaneous_ops_per_sec_tracks_load(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=False)
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        for _ in range(200):
            pipe.ping()
        pipe.execute()
    assert r.info("stats")["instantaneous_ops_per_sec"] > 100
    # After the load stops the 1.6 s window drains.
    wait_until(lambda: r.info("stats")["instantaneous_ops_per_sec"] < 50, timeout=5,
               what="ops/sec to drop")


def test_info_keyspace_lists_each_nonempty_db(r: redis.Redis, aikv_module: ServerProcess) -> None:
    r.set("a", "1")
    other = aikv_module.client(db=3)
    try:
        other.set("x", "1", px=100_000)
        other.set("y", "1")
        keyspace = r.info("keyspace")
        assert keyspace == {"db0": {"keys": 1, "expires": 0, "avg_ttl": 0},
                            "db3": {"keys": 2, "expires": 1, "avg_ttl": 0}}
    finally:
        other.close()


# ---------------------------------------------------------------------- CONFIG
@needs_redis
def test_config_get_matches_redis(differ: Differ) -> None:
    differ.check("config", "get", "maxmemory")
    differ.check("config", "get", "MAXMEMORY")  # the name is echoed as written
    differ.check("config", "get", "maxmemory", "MAXMEMORY")
    differ.check("config", "get", "nosuchparameter")
    differ.check("config", "get", "timeout", "hz", normalize=_pairs)
    differ.check("config", "get", "maxmemory-p*", normalize=_pairs)
    differ.check("config", "get", "hash-max-ziplist-entries", normalize=_names)
    differ.check("config", "get", "hash-max-*-entries", normalize=_names)
    differ.check("config", "get", "zset-max-*", "hash-max-*", normalize=_names)
    differ.check("config", "get")  # arity error


def _pairs(raw: bytes) -> object:
    value = parse(raw)
    return sorted(zip(value[::2], value[1::2], strict=True))


def _names(raw: bytes) -> object:
    return sorted(parse(raw)[::2])


def test_config_get_resp3_map_and_multiple_patterns(aikv_module: ServerProcess) -> None:
    conn = RawConnection(aikv_module.port)
    try:
        conn.call("hello", "3")
        reply = conn.call("config", "get", "save", "appendonly")
        assert reply.startswith(b"%2\r\n")
        assert parse(reply) == {b"save": b"", b"appendonly": b"yes"}
    finally:
        conn.close()


# Defaults that differ on purpose: every node has its own port and directory, AiKv
# always persists every write (so appendonly is yes, see INFO aof_enabled), and the
# harness starts redis-server with protected-mode off.
_INTENDED_DEFAULTS = {"port", "dir", "appendonly", "protected-mode",
                      "enable-debug-command"}  # the harness gives AiKv "local"


@needs_redis
def test_config_defaults_match_redis(r: redis.Redis, oracle: redis.Redis) -> None:
    """Every parameter AiKv knows reads the same as on redis-server (started by the
    harness with --save "", which is AiKv's default too);
    parameters Redis does not have are AiKv's own."""
    from aikv.config import PARAMETERS

    mismatched = {}
    for param in PARAMETERS:
        for name in (param.name, *param.aliases):
            theirs = oracle.config_get(name)
            if not theirs or name in _INTENDED_DEFAULTS:
                continue
            mine = r.config_get(name)
            if mine != theirs:
                mismatched[name] = (mine, theirs)
    assert not mismatched


@needs_redis
def test_config_set_errors_match_redis(differ: Differ) -> None:
    differ.check("config", "set", "nosuch", "1")
    differ.check("config", "set", "maxmemory", "1", "maxmemory", "2")
    differ.check("config", "set", "maxmemory", "abc")
    differ.check("config", "set", "MAXMEMORY", "abc")
    differ.check("config", "set", "appendfsync", "bogus", normalize=_error_prefix)
    differ.check("config", "set", "protected-mode", "maybe")
    differ.check("config", "set", "loglevel", "bogus")
    differ.check("config", "set", "maxmemory", "10mb", "hz", "x")
    differ.check("config", "set", "maxmemory", "1", "hz")
    differ.check("config", "set", "maxmemory")
    differ.check("config", "set", "databases", "4")  # immutable in both
    # A failed multi-set changes nothing.
    differ.check("config", "get", "maxmemory")


def _error_prefix(raw: bytes) -> bytes:
    """Enum errors list the choices in declaration order, which may differ."""
    return raw.split(b" - ")[0]


@needs_redis
def test_config_set_range_errors_match_redis(differ: Differ) -> None:
    differ.check("config", "set", "maxclients", "0")
    differ.check("config", "set", "timeout", "-1")


def test_config_set_round_trips_and_applies(r: redis.Redis) -> None:
    before = r.config_get("maxmemory")["maxmemory"]
    try:
        assert r.config_set("maxmemory", "10mb")
        assert r.config_get("maxmemory") == {"maxmemory": str(10 * 1024 * 1024)}
        assert r.info("memory")["maxmemory"] == 10 * 1024 * 1024
        assert r.execute_command("config", "set", "maxmemory", "1gb", "hz", "20") == b"OK"
        assert r.config_get("hz") == {"hz": "20"}
        with pytest.raises(redis.ResponseError):
            r.execute_command("config", "set", "maxmemory", "2gb", "hz", "nope")
        assert r.config_get("maxmemory") == {"maxmemory": str(1024**3)}  # unchanged
        for mode in ("always", "no", "everysec"):
            assert r.config_set("appendfsync", mode)
            assert r.info("persistence")["aikv_appendfsync"] == mode
            r.set("k", mode)  # writes keep working in every mode
            assert r.get("k") == mode.encode()
        assert r.config_set("loglevel", "warning")
        assert r.config_get("loglevel") == {"loglevel": "warning"}
    finally:
        r.config_set("maxmemory", before)
        r.config_set("hz", "10")
        r.config_set("loglevel", "notice")


@needs_redis
def test_every_help_reply_matches_redis(differ: Differ) -> None:
    # Each container command's HELP (CLIENT HELP, OBJECT HELP, XINFO HELP, ...), found in
    # redis-server's own command list, byte for byte.
    raw = differ.r.call("command", "list")
    names = parse(raw)
    containers = sorted({n.split(b"|")[0] for n in names if n.endswith(b"|help")})
    assert len(containers) >= 15, containers
    mismatched = [name for name in containers
                  if differ.a.call(name, "help") != differ.r.call(name, "help")]
    assert mismatched == []


@needs_redis
def test_config_help_rewrite_resetstat_match_redis(differ: Differ) -> None:
    differ.check("config", "help")
    differ.check("config", "rewrite")  # no config file
    differ.check("config", "resetstat")
    differ.check("config")
    differ.check("config", "nosuch")


def test_config_rewrite_with_file(spawn, tmp_path) -> None:  # type: ignore[no-untyped-def]
    conf = tmp_path / "aikv.conf"
    conf.write_text("# my settings\nhz 15\n")
    node = spawn("aikv", args=[str(conf)])
    client = node.client()
    try:
        assert client.config_get("hz") == {"hz": "15"}
        client.config_set("hz", "25")
        client.config_set("maxmemory", "1mb")
        assert client.config_rewrite()
        text = conf.read_text()
        assert "# my settings" in text
        assert "hz 25" in text and "hz 15" not in text
        assert "maxmemory 1mb" in text  # sizes as Redis writes them
        assert "\n# Generated by CONFIG REWRITE\n" in text
        assert client.info("server")["config_file"] == str(conf)
    finally:
        client.close()


def test_config_rewrite_force_all_round_trips(spawn, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """introspection.tcl "CONFIG REWRITE sanity": DEBUG CONFIG-REWRITE-FORCE-ALL writes
    every parameter; the node starts again from that file with every value the same."""
    conf = tmp_path / "aikv.conf"
    conf.write_text("hz 15\n")
    node = spawn("aikv", args=[str(conf)])
    client = node.client()
    client.config_set("maxmemory", "1mb")
    client.config_set("save", "3600 1 300 100")
    client.config_set("shutdown-on-sigterm", "nosave now")
    client.config_set("notify-keyspace-events", "KEA")
    before = client.config_get("*")
    assert client.execute_command("DEBUG", "CONFIG-REWRITE-FORCE-ALL") == b"OK"
    client.close()
    written = conf.read_text().splitlines()
    # Defaults too: what plain CONFIG REWRITE leaves out.
    assert "lazyfree-lazy-eviction no" in written and "hz 15" in written
    assert "CONFIG-REWRITE-FORCE-ALL" not in written
    node.stop()
    node.start()
    client = node.client()
    after = client.config_get("*")
    client.close()
    assert {k: v for k, v in after.items() if after[k] != before.get(k)} == {}
    assert after.keys() == before.keys()


# ---------------------------------------------------------------------- COMMAND
@needs_redis
def test_command_info_matches_redis_for_server_family(differ: Differ) -> None:
    for name in ("get", "mget", "info", "time", "dbsize", "flushall", "lastsave", "save",
                 "bgsave", "shutdown", "role", "wait", "lolwut", "swapdb", "debug"):
        differ.check("command", "info", name)
    differ.check("command", "info", "nosuchcommand", "get")
    differ.check("command", "info", "config|get")
    for container in ("config", "command", "memory", "slowlog", "latency"):
        mine, theirs = differ.both("command", "info", container)
        (m,), (t,) = parse(mine), parse(theirs)
        assert m[:9] == t[:9], container
        # Subcommands in any order: Redis's order comes from a randomly seeded hash table.
        # (test_command_introspection.py compares every command byte for byte.)
        assert sorted(m[9]) == sorted(t[9]), container


@needs_redis
def test_command_getkeys_matches_redis(differ: Differ) -> None:
    differ.check("command", "getkeys", "get", "a")
    differ.check("command", "getkeys", "mset", "a", "1", "b", "2")
    differ.check("command", "getkeys", "memory", "usage", "k")
    differ.check("command", "getkeys", "nosuch", "a")
    differ.check("command", "getkeys", "get", "a", "b")
    differ.check("command", "getkeys", "get")
    differ.check("command", "getkeys", "config", "get", "x")
    differ.check("command", "getkeys", "client", "nosuch")
    differ.check("command", "getkeys", "mset", "a")
    differ.check("command", "getkeysandflags", "get", "a")
    differ.check("command", "count", "x")
    differ.check("command", "nosuch")
    differ.check("command", "help")
    differ.check("command", "list", "filterby", "pattern", "config*", normalize=unordered)
    differ.check("command", "list", "filterby", "module", "x")
    differ.check("command", "list", "filterby", "nosuch", "x")
    differ.check("command", "list", "nosuch")


def test_movable_key_commands_answer_getkeys(r: redis.Redis) -> None:
    """Every command registered with a key finder is flagged movablekeys, so redis-py's
    cluster client asks COMMAND GETKEYS for it instead of trusting (first, last, step)."""
    from aikv.commands import load_all
    from aikv.commands.registry import COMMANDS

    load_all()
    finders = {c.full_name for top in COMMANDS.values()
               for c in (top, *top.subcommands.values()) if c.key_finder is not None}
    entries = parse_command(r)
    for name in finders:
        if name in entries:
            assert "movablekeys" in entries[name]["flags"], name
    if "lmpop" in entries:
        assert raw_command(r, "command", "getkeys", "lmpop", "2", "a", "b", "LEFT") == [
            b"a", b"b"]


def raw_command(r: redis.Redis, *args: str) -> object:
    """A reply parsed by hiredis only: redis-py reshapes COMMAND replies into dicts."""
    conn = RawConnection(r.connection_pool.connection_kwargs["port"])
    try:
        return parse(conn.call(*args))
    finally:
        conn.close()


def parse_command(r: redis.Redis) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for e in raw_command(r, "command"):  # type: ignore[union-attr]
        out[e[0].decode()] = {"arity": e[1], "flags": {f.decode() for f in e[2]}}
        for sub in e[9]:
            out[sub[0].decode()] = {"arity": sub[1], "flags": {f.decode() for f in sub[2]}}
    return out


def test_command_count_list_docs_are_consistent(r: redis.Redis) -> None:
    entries: list = raw_command(r, "command")  # type: ignore[assignment]
    assert raw_command(r, "command", "count") == len(entries)
    names = set(raw_command(r, "command", "list"))  # type: ignore[arg-type]
    for e in entries:
        assert e[0] in names
        for sub in e[9]:
            assert sub[0] in names
    assert len(entries) >= 100
    docs: list = raw_command(r, "command", "docs", "get", "config", "nosuch")  # type: ignore[assignment]
    docs = dict(zip(docs[::2], docs[1::2], strict=True))
    assert set(docs) == {b"get", b"config"}
    get_doc = dict(zip(docs[b"get"][::2], docs[b"get"][1::2], strict=True))
    assert get_doc[b"group"] == b"string"
    config_doc = dict(zip(docs[b"config"][::2], docs[b"config"][1::2], strict=True))
    assert config_doc[b"group"] == b"server" and config_doc[b"summary"]
    subs = config_doc[b"subcommands"]
    assert b"config|get" in subs[::2]
    all_docs: list = raw_command(r, "command", "docs")  # type: ignore[assignment]
    assert len(all_docs) == 2 * len(entries)


def test_redis_py_commands_parser_reads_our_table(r: redis.Redis) -> None:
    """redis-py's cluster client builds its key-position table from COMMAND."""
    from redis._parsers import CommandsParser

    parser = CommandsParser(r)
    assert parser.get_keys(r, "GET", "k") == ["k"]
    assert parser.get_keys(r, "MSET", "a", "1", "b", "2") == ["a", "b"]
    assert parser.get_keys(r, "MEMORY", "USAGE", "k") == ["k"]
    assert parser.get_keys(r, "INFO") is None


# ---------------------------------------------------------------------- keyspace
@needs_redis
def test_dbsize_flush_time_role_wait_match_redis(differ: Differ) -> None:
    differ.check("mset", "a", "1", "b", "2", "c", "3")
    differ.check("dbsize")
    differ.check("select", "2")
    differ.check("set", "x", "1")
    differ.check("flushdb")
    differ.check("dbsize")
    differ.check("select", "0")
    differ.check("dbsize")
    differ.check("flushdb", "sync", "async")
    differ.check("flushall", "foo")
    differ.check("flushall", "sync")
    differ.check("flushall", "async")
    differ.check("flushdb", "ASYNC")
    differ.check("dbsize")
    differ.check("role")
    differ.check("wait", "0", "0")
    differ.check("wait", "x", "0")
    differ.check("wait", "0", "-1")
    differ.check("lolwut")
    differ.check("swapdb", "0", "99")
    differ.check("swapdb", "x", "1")
    differ.check("swapdb", "0", "x")
    differ.check("swapdb", "0", "0")
    mine, theirs = differ.both("time")
    sec, usec = (int(v) for v in parse(mine))
    assert abs(sec + usec / 1e6 - time.time()) < 5 and 0 <= usec < 1_000_000
    assert len(parse(theirs)) == 2


def test_flushall_clears_every_database(r: redis.Redis, aikv_module: ServerProcess) -> None:
    other = aikv_module.client(db=5)
    try:
        r.set("a", "1")
        other.rpush("l", "x", "y")
        assert r.flushall(asynchronous=True)
        assert r.dbsize() == 0 and other.dbsize() == 0
        assert r.info("keyspace") == {}
    finally:
        other.close()


# ---------------------------------------------------------------------- persistence
def test_save_bgsave_lastsave(r: redis.Redis) -> None:
    saves = r.info("persistence")["rdb_saves"]
    r.set("k", "v")
    before = int(time.time())
    assert r.save()
    assert r.lastsave().timestamp() >= before - 1

    def idle() -> bool:
        return r.info("persistence")["rdb_bgsave_in_progress"] == 0

    # One BGSAVE at a time (another meanwhile is refused, as in Redis).
    assert r.bgsave()
    wait_until(idle, what="BGSAVE done")
    assert r.bgsave(schedule=True)
    wait_until(idle, what="BGSAVE done")
    conn = RawConnection(r.connection_pool.connection_kwargs["port"])
    assert conn.call("bgsave") == b"+Background saving started\r\n"
    conn.close()
    wait_until(idle, what="BGSAVE done")
    persistence = r.info("persistence")
    assert persistence["rdb_saves"] == saves + 4
    assert persistence["rdb_last_bgsave_status"] == "ok"
    assert persistence["rdb_last_save_time"] >= before - 1
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("bgsave", "foo")
    with pytest.raises(redis.ResponseError, match="not allowed inside a transaction"):
        pipe = r.pipeline(transaction=True)
        pipe.save()
        pipe.execute()


def test_shutdown_exits_zero_and_data_survives(spawn) -> None:  # type: ignore[no-untyped-def]
    node = spawn("aikv", args=["--appendfsync", "no"])
    client = node.client()
    client.set("survivor", "yes")
    client.rpush("list", "a", "b")
    with pytest.raises(redis.ResponseError, match="No shutdown in progress"):
        client.execute_command("shutdown", "abort")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        client.execute_command("shutdown", "nosave", "save")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        client.execute_command("shutdown", "later")
    client.shutdown(nosave=True)  # redis-py expects the connection to drop
    client.close()
    assert node.proc is not None
    assert node.proc.wait(timeout=15) == 0
    again = spawn("aikv", directory=node.dir, port=node.port)
    client = again.client()
    try:
        assert client.get("survivor") == b"yes"
        assert client.lrange("list", 0, -1) == [b"a", b"b"]
    finally:
        client.close()


def test_redis_cli_shutdown(spawn) -> None:  # type: ignore[no-untyped-def]
    node = spawn("aikv")
    done = redis_cli("-p", str(node.port), "set", "k", "v")
    assert done.stdout.strip() == "OK"
    done = redis_cli("-p", str(node.port), "shutdown")
    assert done.returncode == 0, done.stderr
    assert node.proc is not None and node.proc.wait(timeout=15) == 0


# ---------------------------------------------------------------------- diagnostics
@needs_redis
def test_diagnostics_match_redis(differ: Differ) -> None:
    differ.check("set", "foo", "bar")
    differ.check("memory", "usage", "nosuchkey")
    differ.check("memory", "usage", "foo", "samples", "x")
    differ.check("memory", "usage", "foo", "samples", "-1")
    differ.check("memory", "usage", "foo", "bogus")
    differ.check("memory", "usage")
    differ.check("memory", "help")
    differ.check("memory", "purge")
    differ.check("memory", "nosuch")
    # The slow log records for real: off here, or a command slowed by a loaded machine
    # (10 ms, the default threshold) would show up on one side only.
    differ.check("config", "set", "slowlog-log-slower-than", "-1")
    try:
        differ.check("slowlog", "reset")
        differ.check("slowlog", "len")
        differ.check("slowlog", "get", "-5")
        differ.check("slowlog", "get", "x")
        differ.check("slowlog", "get", "1", "2")
        differ.check("slowlog", "help")
    finally:
        differ.both("config", "set", "slowlog-log-slower-than", "10000")
    differ.check("latency", "latest")
    differ.check("latency", "history", "command")
    differ.check("latency", "reset")
    differ.check("latency", "graph", "command")
    differ.check("latency", "help")
    differ.check("debug")
    mine, theirs = differ.both("memory", "usage", "foo")
    assert parse(mine) == parse(theirs) == 64  # Redis's scale for a short string


def test_debug_and_memory(r: redis.Redis) -> None:
    assert r.execute_command("debug", "sleep", "0") == b"OK"
    with pytest.raises(redis.ResponseError, match="Try DEBUG HELP"):
        r.execute_command("debug", "nosuch")
    r.set("d", "1")
    digests = r.execute_command("debug", "digest-value", "d", "missing")
    assert re.fullmatch(rb"[0-9a-f]{40}", digests[0]) and digests[0] != b"0" * 40
    assert digests[1] == b"0" * 40
    assert r.execute_command("debug", "digest-value") == []
    r.delete("d")
    r.rpush("big", *[b"x" * 100] * 50)
    usage = r.memory_usage("big")
    assert usage is not None and 50 * 100 <= usage < 50 * 100 * 3
    assert r.memory_usage("big", samples=0) == usage  # uniform elements: same estimate
    stats = r.memory_stats()
    assert stats["keys.count"] == 1


# ---------------------------------------------------------------------- tools
def test_redis_cli_reads_info_and_config(aikv_module: ServerProcess) -> None:
    port = str(aikv_module.port)
    done = redis_cli("-p", port, "info", "server")
    assert "redis_version:7.0.15" in done.stdout
    done = redis_cli("-p", port, "config", "get", "appendonly")
    assert done.stdout.split() == ["appendonly", "yes"]
    done = redis_cli("-p", port, "--no-raw", "command", "count")
    assert re.fullmatch(r"\(integer\) \d+", done.stdout.strip())


def test_redis_cli_interactive_loads_command_docs(aikv_module: ServerProcess) -> None:
    """An interactive redis-cli 7 fetches COMMAND DOCS for its hints; it must get them
    and still work."""
    client = aikv_module.client()
    client.config_resetstat()
    pid, fd = pty.fork()
    if pid == 0:  # child: become redis-cli on the pseudo-terminal
        os.execvp("redis-cli", ["redis-cli", "-p", str(aikv_module.port)])
    output = b""
    try:
        sent = False
        deadline = time.monotonic() + 10
        while b"PONG" not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                output += chunk
                if b"\x1b[6n" in chunk:  # linenoise asks where the cursor is
                    os.write(fd, b"\x1b[1;1R")
            if not sent and b">" in output:  # the prompt: 127.0.0.1:port>
                os.write(fd, b"ping\r")
                sent = True
        os.write(fd, b"quit\r")
    finally:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert b"PONG" in output, output
    stats = client.info("commandstats")
    client.close()
    assert stats.get("cmdstat_command|docs", {}).get("calls", 0) >= 1, stats


def test_redis_benchmark_fetches_config(aikv_module: ServerProcess) -> None:
    done = subprocess.run(
        ["redis-benchmark", "-p", str(aikv_module.port), "-n", "300", "-c", "5",
         "-t", "ping,set,get", "-q"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Could not fetch server CONFIG" not in done.stdout + done.stderr
    assert "SET:" in done.stdout and "GET:" in done.stdout


def test_info_in_cluster_mode(spawn) -> None:  # type: ignore[no-untyped-def]
    node = spawn("aikv", args=["--cluster-enabled", "yes"])
    client = node.client()
    try:
        info = client.info("everything")
        assert info["redis_mode"] == "cluster"
        assert info["cluster_enabled"] == 1
        assert info["cluster_connections"] == 0  # alone: no bus links
        with pytest.raises(redis.ResponseError, match="^SWAPDB is not allowed in cluster mode$"):
            client.execute_command("swapdb", "0", "1")
    finally:
        client.close()


def test_bytes_to_human_and_section_selection() -> None:
    from aikv.info import ALL, DEFAULT, bytes_to_human, select_sections

    # Pairs read from a real redis-server's INFO memory.
    assert bytes_to_human(0) == "0B"
    assert bytes_to_human(1023) == "1023B"
    assert bytes_to_human(916400) == "894.92K"
    assert bytes_to_human(6844416) == "6.53M"
    assert bytes_to_human(25276510208) == "23.54G"
    assert select_sections([]) == DEFAULT
    assert select_sections([b"ALL"]) == ALL == select_sections([b"everything"])
    assert select_sections([b"default", b"commandstats"]) == DEFAULT | {"commandstats"}
    assert select_sections([b"nosuch"]) == frozenset()
    assert "commandstats" not in DEFAULT and "latencystats" not in DEFAULT


def test_client_qbuf_of_the_running_command_matches_redis(aikv_module: ServerProcess,
                                                        redis_module: ServerProcess) -> None:
    """While a read's commands run, Redis's query buffer still holds the whole read:
    CLIENT INFO shows qbuf=26 alone, the pipeline's length in a pipeline."""
    seen = []
    for proc in (aikv_module, redis_module):
        a = RawConnection(proc.port)
        try:
            alone = re.search(rb" qbuf=\d+ ", a.call("client", "info"))
            a.sock.sendall(encode_command("client", "info") + encode_command("echo", "hi"))
            piped = re.search(rb" qbuf=\d+ ", a.read_reply())
            a.read_reply()
            seen.append((alone and alone.group(0), piped and piped.group(0)))
        finally:
            a.close()
    assert seen[0] == seen[1], seen
    assert seen[0][0] == b" qbuf=26 "


def test_client_fields_in_a_transaction_match_redis(aikv_module: ServerProcess,
                                                    redis_module: ServerProcess) -> None:
    """CLIENT INFO run by EXEC shows the transaction (flags x, multi=, cmd=exec); CLIENT
    LIST shows a queued command as the client's last one."""
    def fields(raw: bytes) -> list[str]:
        return [f for f in raw.decode(errors="replace").split()
                if f.split("=")[0] in ("flags", "multi", "cmd")]

    seen = []
    for proc in (aikv_module, redis_module):
        a, b = RawConnection(proc.port), RawConnection(proc.port)
        try:
            ident = a.call("client", "id")[1:-2].decode()
            a.call("multi")
            a.call("client", "info")
            during = fields(a.call("exec"))
            after = fields(a.call("client", "info"))
            a.call("multi")
            a.call("set", "k", "v")
            listing = b.call("client", "list").decode(errors="replace")
            queued = [fields(line.encode()) for line in listing.split("\n")
                      if line.startswith(f"id={ident} ")]
            assert len(queued) == 1
            a.call("discard")
            seen.append((during, after, queued))
        finally:
            a.close()
            b.close()
    assert seen[0] == seen[1], seen


def test_config_rewrite_writes_lines_as_redis(spawn, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same file and the same CONFIG SETs on both kinds: the lines both write read
    the same — sizes in mb, strings quoted as sdscatrepr quotes them, the changed
    line in place, new ones after Redis's signature line and an empty line."""
    kept = ("hz ", "maxmemory ", "masterauth ", "proto-max-bulk-len ", "# Generated by")
    found = {}
    for kind in ("aikv", "redis"):
        conf = tmp_path / f"{kind}.conf"
        conf.write_text("# mine\nhz 11\n")
        client = spawn(kind, args=[str(conf)]).client()
        client.config_set("hz", "12")
        client.config_set("maxmemory", "3mb")
        client.config_set("proto-max-bulk-len", "2000000")
        client.config_set("masterauth", 'two "words"')
        assert client.config_rewrite()
        lines = conf.read_text().split("\n")
        signature = lines.index("# Generated by CONFIG REWRITE")
        assert lines[signature - 1] == "" and lines[:2] == ["# mine", "hz 12"]
        found[kind] = sorted(line for line in lines if line.startswith(kept))
    assert found["aikv"] == found["redis"]
    assert 'masterauth "two \\"words\\""' in found["aikv"]
