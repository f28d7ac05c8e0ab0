"""Redis 7.0's whole configuration surface: every parameter listed, validated and rendered
as redis-server does it, and the ones AiKv applies (NOREPLICAS, acllog-max-len,
enable-debug-command, protected configs, unixsocket, pidfile, oom-score-adj).

The differential tests use this module's own pair of servers, so what they set stays here.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.differ import Differ, RawConnection, parse
from tests.harness import REPO, ServerProcess, free_port, redis_cli, wait_until

# AiKv's own parameters (the LMDB store); Redis has none of these names.
_AIKV_ONLY_PREFIX = "lmdb-"


def _names(conn: RawConnection) -> set[str]:
    pairs = parse(conn.call("config", "get", "*"))
    return {pairs[i].decode() for i in range(0, len(pairs), 2)}


def test_config_get_lists_the_same_parameters(differ: Differ) -> None:
    mine, theirs = _names(differ.a), _names(differ.r)
    assert len(theirs) > 180
    assert theirs - mine == set()
    assert {name for name in mine - theirs if not name.startswith(_AIKV_ONLY_PREFIX)} == set()


# (name, value) pairs sent to both servers by CONFIG SET, each followed by a CONFIG GET
# of the name: errors, accepted values and how they read back must match.
_SETS = [
    # yes/no only (yesnotoi), immutable and protected parameters.
    ("activerehashing", "maybe"), ("lazyfree-lazy-expire", "1"), ("protected-mode", "true"),
    ("io-threads", "2"), ("tcp-backlog", "5"), ("supervised", "no"), ("daemonize", "no"),
    ("unixsocket", "/tmp/x"), ("unixsocketperm", "700"), ("replicaof", "no one"),
    ("enable-debug-command", "yes"), ("enable-protected-configs", "yes"),
    ("appendfilename", "x"), ("set-proc-title", "no"), ("syslog-facility", "user"),
    ("dbfilename", "other.rdb"), ("dir", "/tmp"),
    # Integer ranges, signed and unsigned, and plain integers.
    ("active-expire-effort", "0"), ("active-expire-effort", "11"),
    ("active-expire-effort", "7"), ("maxmemory-eviction-tenacity", "101"),
    ("repl-timeout", "0"), ("lfu-log-factor", "-1"), ("tracking-table-max-keys", "-1"),
    ("acllog-max-len", "x"), ("acllog-max-len", "64"), ("maxmemory-samples", "0"),
    ("active-defrag-cycle-max", "100"), ("replica-priority", "007"),
    ("latency-monitor-threshold", "-1"), ("latency-monitor-threshold", "100"),
    # Memory values and the memory-or-percent one.
    ("repl-backlog-size", "0"), ("repl-backlog-size", "1x"), ("repl-backlog-size", "2mb"),
    ("active-defrag-ignore-bytes", "0"), ("cluster-link-sendbuf-limit", "-1"),
    ("cluster-link-sendbuf-limit", "1gb"), ("maxmemory-clients", "10%"),
    ("maxmemory-clients", "101%"), ("maxmemory-clients", "-5"), ("maxmemory-clients", "%"),
    ("maxmemory-clients", "abc"), ("maxmemory-clients", "1mb"), ("maxmemory-clients", "0"),
    # memtoull as C runs it: too many digits saturate at 2^64 - 1 and a unit's product
    # wraps; the result is a long long (negative above LLONG_MAX) except for the two
    # unsigned long long parameters.
    ("hash-max-listpack-value", "99999999999999999999"), ("repl-backlog-size", "18446744073709551615"),
    ("active-defrag-ignore-bytes", "9223372036854775808"), ("maxmemory-clients", "99999999999999999999"),
    ("cluster-link-sendbuf-limit", "99999999999999999999"), ("cluster-link-sendbuf-limit", "18014398509481984kb"),
    ("stream-node-max-bytes", "17179869184gb"), ("cluster-link-sendbuf-limit", "0"),
    ("maxmemory-clients", "0"),
    # CONFIG SET raises the backlog to its 16 KiB floor (resizeReplicationBacklog).
    ("repl-backlog-size", "1"), ("repl-backlog-size", "1k"), ("repl-backlog-size", "1mb"),
    # The several-word enum.
    ("shutdown-on-sigterm", "save now"), ("shutdown-on-sigterm", "save nosave"),
    ("shutdown-on-sigterm", ""), ("shutdown-on-sigterm", "default save"),
    ("shutdown-on-sigterm", "save  now"), ("shutdown-on-sigint", "NOW force"),
    ("shutdown-on-sigint", "now force save"), ("shutdown-on-sigint", "default"),
    # Special shapes.
    ("oom-score-adj-values", "1 2"), ("oom-score-adj-values", "1 2 x"),
    ("oom-score-adj-values", "0 2001 0"), ("oom-score-adj-values", "-1 +2 3"),
    ("oom-score-adj-values", "0 200 800"),
    ("latency-tracking-info-percentiles", "50 99.90 100"),
    ("latency-tracking-info-percentiles", "101"),
    ("latency-tracking-info-percentiles", "abc"),
    ("latency-tracking-info-percentiles", " 50"),
    ("latency-tracking-info-percentiles", ""),
    ("latency-tracking-info-percentiles", "0.0000001 33.5"),
    ("latency-tracking-info-percentiles", "50 99 99.9"),
    ("proc-title-template", "{x}"), ("proc-title-template", "{"),
    ("proc-title-template", "{{"), ("proc-title-template", ""),
    ("proc-title-template", "  {server-mode} "), ("proc-title-template", "{title} {port}"),
    ("proc-title-template", "{title} {listen-addr} {server-mode}"),
    ("cluster-announce-hostname", "bad_host!"), ("cluster-announce-hostname", "a" * 300),
    ("cluster-announce-hostname", "node-1.example"), ("cluster-announce-hostname", ""),
    # Enums: every choice listed in Redis's order.
    ("repl-diskless-load", "x"), ("acl-pubsub-default", "x"), ("sanitize-dump-payload", "x"),
    ("propagation-error-behavior", "x"), ("tls-auth-clients", "x"), ("oom-score-adj", "x"),
    ("maxmemory-policy", "x"), ("appendfsync", "x"), ("repl-diskless-load", "SWAPDB"),
    # No defragmenting allocator in either (Debian's redis-server has none either).
    ("activedefrag", "yes"), ("activedefrag", "no"),
    # Aliases read and write their parameter.
    ("lua-time-limit", "100"), ("busy-reply-threshold", "5000"), ("slave-priority", "50"),
    ("replica-priority", "100"), ("min-slaves-max-lag", "20"), ("min-replicas-max-lag", "10"),
    # Inert in AiKv, accepted and reported as Redis does.
    ("repl-ping-replica-period", "5"), ("lazyfree-lazy-user-flush", "yes"),
    ("tls-ciphers", "DEFAULT"), ("masterauth", "secret"), ("ignore-warnings", "ARM64-COW-BUG"),
    # Several-word values are cut at every single space (two in a row make an empty
    # word); numbers in them are read by strtoll and kept in C ints.
    ("client-output-buffer-limit", "normal  1mb 1mb 1"), ("client-output-buffer-limit", " normal 1 1 1"),
    ("client-output-buffer-limit", "normal 1mb 1mb 1 "), ("client-output-buffer-limit", "normal\t1 1 1"),
    ("client-output-buffer-limit", "normal 1mb 1mb 4294967297"),
    ("client-output-buffer-limit", "normal 1mb 1mb 2147483648"),
    ("client-output-buffer-limit", "normal 1mb 1mb 99999999999999999999"),
    ("client-output-buffer-limit", "normal 1mb 1mb +07"),
    ("client-output-buffer-limit", "normal 0 0 0"),
    ("save", "900 1  300 10"), ("save", " 900 1"), ("save", "900 1 "), ("save", "900\t1"),
    ("save", "900 +01 0300 4294967297"), ("save", "900 2147483648"), ("save", "900 -1"),
    ("save", "0 1"), ("save", ""),
]


# Read back differently because the test harness starts the two servers differently.
_SET_BY_HARNESS = {"protected-mode", "dir", "enable-debug-command"}


def test_config_set_and_get_match_redis(differ: Differ) -> None:
    commands: list[tuple[str, ...]] = []
    for name, value in _SETS:
        commands.append(("config", "set", name, value))
        if name not in _SET_BY_HARNESS:
            commands.append(("config", "get", name))
    # Several-word values on one CONFIG SET, an alias and its parameter named together.
    commands += [
        ("config", "set", "maxmemory-clients", "5%", "shutdown-on-sigterm", "bogus"),
        ("config", "get", "maxmemory-clients"),
        ("config", "set", "lua-time-limit", "10", "busy-reply-threshold", "20"),
        ("config", "get", "busy-reply-threshold"),
        # Back to the default: AiKv stops a script past it (later tests run scripts).
        ("config", "set", "busy-reply-threshold", "5000"),
        # Hidden parameters: only an exact name lists them.
        ("config", "get", "watchdog-period"), ("config", "get", "watchdog*"),
        ("config", "get", "key-load-delay"), ("config", "get", "*-load-delay"),
        ("config", "set", "rdb-key-save-delay", "-5"), ("config", "get", "rdb-key-save-delay"),
        ("config", "set", "rdb-key-save-delay", "0"),
    ]
    assert differ.mismatches(commands) == []
    # A pattern's matches come in hash order in Redis: compared as maps.
    for pattern in ("shutdown-*", "tls-*", "*replica*", "*"):
        differ.check("config", "get", pattern, normalize=_as_map)


def _as_map(raw: bytes) -> dict[bytes, bytes]:
    pairs = parse(raw)
    found = dict(zip(pairs[::2], pairs[1::2], strict=True))
    for name in _SET_BY_HARNESS | {"port", "appendonly", "logfile", "bind", "pidfile"}:
        found.pop(name.encode(), None)
    return {k: v for k, v in found.items() if not k.startswith(_AIKV_ONLY_PREFIX.encode())}


def test_noreplicas_matches_redis(differ: Differ) -> None:
    """min-replicas-to-write with min-replicas-max-lag: Redis refuses writes without that
    many good replicas; AiKv never has one."""
    write_script = "#!lua\nreturn redis.call('set', KEYS[1], 'v')"
    read_script = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])"
    library = "#!lua name=nr\nredis.register_function('f', function() return 1 end)"
    commands: list[tuple[str, ...]] = [
        ("set", "nr", "before"),
        ("config", "set", "min-replicas-to-write", "1"),
        ("set", "nr", "x"), ("get", "nr"), ("incr", "nr:n"), ("del", "nr"),
        ("mset", "nr", "1", "nr2", "2"), ("flushall",),
        ("eval", "return redis.call('set', KEYS[1], 'v')", "1", "nr"),
        ("eval", "return redis.pcall('set', KEYS[1], 'v')", "1", "nr"),
        ("eval", "return redis.call('get', KEYS[1])", "1", "nr"),
        ("eval", write_script, "1", "nr"), ("eval_ro", write_script, "1", "nr"),
        ("eval", read_script, "1", "nr"),
        ("function", "load", library),
        ("multi",), ("set", "nr", "y"), ("exec",),
        ("multi",), ("get", "nr"), ("exec",),
        ("config", "set", "min-replicas-max-lag", "0"),  # either one at 0 lifts it
        ("set", "nr", "z"), ("get", "nr"),
        ("config", "set", "min-replicas-max-lag", "10"),
        ("multi",), ("get", "nr"), ("config", "set", "min-replicas-to-write", "0"),
        ("exec",),
        ("set", "nr", "after"), ("get", "nr"),
        ("info", "errorstats"),
    ]
    differ.check("config", "resetstat")
    assert differ.mismatches(commands) == []
    # The per-command counters: a refused command is a rejected call, not a failed one.
    assert _counters(differ.a) == _counters(differ.r)


def _counters(conn: RawConnection) -> dict[str, tuple[str, ...]]:
    """INFO commandstats without the timings: command -> (calls, rejected, failed)."""
    text = parse(conn.call("info", "commandstats")).decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line.partition(":")
            values = dict(item.split("=") for item in fields.split(","))
            out[name] = (values["calls"], values["rejected_calls"], values["failed_calls"])
    return out


def test_acllog_max_len_matches_redis(differ: Differ) -> None:
    commands: list[tuple[str, ...]] = [("acl", "log", "reset"), ("config", "set", "acllog-max-len", "2")]
    for user in ("u1", "u2", "u3"):
        commands.append(("auth", user, "wrong"))
    commands += [("config", "set", "acllog-max-len", "0"), ("auth", "u4", "wrong"),
                 ("config", "set", "acllog-max-len", "128")]
    assert differ.mismatches(commands) == []
    mine, theirs = parse(differ.a.call("acl", "log")), parse(differ.r.call("acl", "log"))
    assert len(mine) == len(theirs) == 0  # trimmed to 0 by the last failure


def test_acllog_keeps_at_most_its_length(r: redis.Redis) -> None:
    r.execute_command("acl", "log", "reset")
    r.config_set("acllog-max-len", "3")
    try:
        # A raw connection: redis-py retries a failed AUTH (an AuthenticationError is a
        # ConnectionError), which took ~4 s each and logged each attempt.
        raw = RawConnection(r.connection_pool.connection_kwargs["port"])
        try:
            for i in range(5):
                assert raw.call("auth", f"user{i}", "wrong").startswith(b"-WRONGPASS")
        finally:
            raw.close()
        entries = r.acl_log()
        assert [entry["username"] for entry in entries] == ["user4", "user3", "user2"]
    finally:
        r.config_set("acllog-max-len", "128")


def test_debug_follows_enable_debug_command(spawn: Callable[..., ServerProcess]) -> None:
    # The harness starts AiKv with "local"; a later --set overrides it.
    mine = spawn("aikv", args=["--set", "enable-debug-command=no"])
    theirs = spawn("redis")
    d = Differ(mine.port, theirs.port)
    try:
        refused = d.check("debug", "sleep", "0")
        assert refused.startswith(b"-ERR DEBUG command not allowed.")
        assert d.check("debug", "help") == refused  # (introspection.tcl checks HELP)
        d.check("config", "get", "enable-debug-command")
        # AiKv's one deviation: DIGEST-VALUE stays open (redis-cli --cluster fix uses it).
        assert d.a.call("debug", "digest-value", "nokey") == (
            b"*1\r\n+0000000000000000000000000000000000000000\r\n")
    finally:
        d.close()
    allowed = spawn("aikv", args=["--set", "enable-debug-command=yes"])
    assert allowed.client().execute_command("debug", "sleep", "0") == b"OK"


def test_protected_configs_can_be_enabled(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv", args=["--set", "enable-protected-configs=local"])
    c = node.client()
    assert c.config_set("dbfilename", "other.rdb")
    assert c.config_get("dbfilename") == {"dbfilename": "other.rdb"}
    with pytest.raises(redis.ResponseError, match="can't be a path, just a filename"):
        c.config_set("dbfilename", "a/b.rdb")
    # dir stays fixed in AiKv (the data lives there): immutable, not protected.
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        c.config_set("dir", "/tmp")


def test_unix_socket(spawn: Callable[..., ServerProcess], tmp_path: Path) -> None:
    path = tmp_path / "aikv.sock"
    node = spawn("aikv", args=["--set", f"unixsocket={path}", "--set", "unixsocketperm=700"])
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert redis_cli("-s", str(path), "set", "via", "unix").stdout.strip() == "OK"
    assert redis_cli("-p", str(node.port), "get", "via").stdout.strip() == "unix"
    info = redis_cli("-s", str(path), "client", "info").stdout
    fields = dict(item.split("=", 1) for item in info.split())
    assert fields["addr"] == fields["laddr"] == f"{path}:0"
    assert fields["flags"] == "U"
    with redis.Redis(unix_socket_path=str(path), socket_timeout=10) as c:
        c.execute_command("multi")
        line = c.execute_command("client", "info")
        # In MULTI the command is queued; EXEC's reply carries the line.
        assert line == b"QUEUED"
        executed = c.execute_command("exec")[0].decode()
        assert " flags=xU " in f" {executed} "
    node.stop()
    assert not path.exists()  # removed at shutdown, as Redis does


def test_unix_socket_flags_match_redis(spawn: Callable[..., ServerProcess],
                                       tmp_path: Path) -> None:
    lines = []
    for kind in ("aikv", "redis"):
        path = tmp_path / f"{kind}.sock"
        option = ["--set", f"unixsocket={path}"] if kind == "aikv" else ["--unixsocket", str(path)]
        spawn(kind, args=option)
        info = redis_cli("-s", str(path), "client", "info").stdout
        fields = dict(item.split("=", 1) for item in info.split())
        lines.append((fields["flags"], fields["addr"] == fields["laddr"] == f"{path}:0"))
    assert lines[0] == lines[1] == ("U", True)


def test_pidfile(spawn: Callable[..., ServerProcess], tmp_path: Path) -> None:
    pidfile = tmp_path / "aikv.pid"
    node = spawn("aikv", args=["--set", f"pidfile={pidfile}"])
    assert node.proc is not None
    assert pidfile.read_text() == f"{node.proc.pid}\n"
    node.stop()
    assert not pidfile.exists()


def test_relative_logfile_and_pidfile_live_in_dir(tmp_path: Path) -> None:
    """As Redis, which opens them after its chdir into `dir`: started from another
    working directory, a relative logfile and pidfile are written in `dir`."""
    data = tmp_path / "data"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aikv.cli", "--port", str(port),
                             "--dir", str(data), "--logfile", "node.log",
                             "--set", "pidfile=node.pid"],
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: (data / "node.pid").exists(), 20, 0.05, "the pidfile")
        assert (data / "node.pid").read_text() == f"{proc.pid}\n"
        wait_until(lambda: b"Ready to accept" in (data / "node.log").read_bytes(), 20, 0.05,
                   "the log")
        assert not (tmp_path / "node.log").exists() and not (tmp_path / "node.pid").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _oom_score(pid: int) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


@pytest.mark.skipif(not Path("/proc/self/oom_score_adj").exists(), reason="no /proc oom_score_adj")
def test_oom_score_adj(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv")
    assert node.proc is not None
    pid = node.proc.pid
    c = node.client()
    base = _oom_score(pid)
    # Raising the score is allowed to every process (lowering it needs privileges).
    assert c.config_set("oom-score-adj-values", "7 200 800")
    assert _oom_score(pid) == base  # "no": untouched
    assert c.config_set("oom-score-adj", "absolute")
    assert _oom_score(pid) == 7
    assert c.config_set("oom-score-adj", "relative")
    assert _oom_score(pid) == min(1000, base + 7)
    c.execute_command("config", "set", "oom-score-adj", "absolute", "oom-score-adj-values",
                      "2000 2000 2000")
    assert _oom_score(pid) == 1000  # clamped
    assert c.config_set("oom-score-adj", "no")
    assert _oom_score(pid) == base  # restored
    # The replica's value while the node follows a master (oom-score-adj.tcl), the
    # master's again once it stops.
    c.execute_command("config", "set", "oom-score-adj", "absolute", "oom-score-adj-values",
                      "7 21 800")
    assert c.replicaof("127.0.0.1", node.port + 1)  # no master there: the role is enough
    assert _oom_score(pid) == 21
    assert c.replicaof("no", "one")
    assert _oom_score(pid) == 7
    assert c.config_set("oom-score-adj", "no")


@pytest.mark.parametrize(("setting", "message"), [
    ("replicaof=127.0.0.1", "wrong number of arguments"),
    ("tls-port=6380", "AiKv does not implement TLS"),
    ("activedefrag=yes", "Active defragmentation cannot be enabled"),
    ("replicaof=127.0.0.1 70000", "Invalid master port"),
])
def test_unsupported_settings_refuse_to_start(tmp_path: Path, setting: str,
                                              message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "aikv.cli", "--port", "0", "--dir",
                           str(tmp_path), "--set", setting],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 1
    assert message in done.stderr


def test_tcp_backlog_is_applied(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv", args=["--set", "tcp-backlog=37"])
    assert node.client().config_get("tcp-backlog") == {"tcp-backlog": "37"}
    # ss shows a listening socket's accept-queue limit in its Send-Q column.
    try:
        ss = subprocess.run(["ss", "-ltnH", f"sport = :{node.port}"], capture_output=True,
                            text=True, timeout=10)
    except FileNotFoundError:
        pytest.skip("ss (iproute2) is not installed")
    assert ss.stdout.split()[2] == "37", ss.stdout


def test_cluster_preferred_endpoint_type_matches_redis(cluster_differ: Differ) -> None:
    """CLUSTER SLOTS and SHARDS under each endpoint type, on one-node clusters that own
    every slot (ids and ports differ between the two and are masked)."""
    d = cluster_differ
    masks = []
    for conn in (d.a, d.r):
        node_id = parse(conn.call("cluster", "myid"))
        port = parse(conn.call("config", "get", "port"))[1]
        masks.append((node_id, port))

    def masked(conn: RawConnection, mask: tuple[bytes, bytes], *args: str) -> bytes:
        raw = conn.call(*args)
        node_id, port = mask
        return raw.replace(node_id, b"<id>").replace(b":" + port + b"\r\n", b":<port>\r\n")

    try:
        for hostname in ("", "node-1.example"):
            d.check("config", "set", "cluster-announce-hostname", hostname)
            for endpoint_type in ("ip", "hostname", "unknown-endpoint"):
                d.check("config", "set", "cluster-preferred-endpoint-type", endpoint_type)
                for protocol in ("2", "3"):
                    d.both("hello", protocol)  # client ids differ
                    for args in (("cluster", "slots"), ("cluster", "shards")):
                        mine = masked(d.a, masks[0], *args)
                        theirs = masked(d.r, masks[1], *args)
                        assert mine == theirs, (hostname, endpoint_type, protocol, args)
    finally:
        d.both("hello", "2")
        d.both("config", "set", "cluster-preferred-endpoint-type", "ip")
        d.both("config", "set", "cluster-announce-hostname", "")


def _server_side_timer(port: int) -> str:
    """ss's timer column for the server end of the established connection on `port`."""
    done = subprocess.run(["ss", "-tnoH", "state", "established", f"sport = :{port}"],
                          capture_output=True, text=True, timeout=10)
    return done.stdout


@pytest.mark.parametrize(("setting", "expected"), [("300", "keepalive,4min"), ("0", None)])
def test_tcp_keepalive_is_applied(spawn: Callable[..., ServerProcess], setting: str,
                                  expected: str | None) -> None:
    try:
        subprocess.run(["ss", "-V"], capture_output=True, timeout=10)
    except FileNotFoundError:
        pytest.skip("ss (iproute2) is not installed")
    node = spawn("aikv", args=["--set", f"tcp-keepalive={setting}"])
    with node.client() as c:
        c.ping()
        if expected is None:
            # No keepalive: once the reply's retransmission timer is gone, no timer at all.
            def idle_without_timers() -> bool:
                shown = _server_side_timer(node.port)
                return f":{node.port} " in shown and "timer:" not in shown

            wait_until(idle_without_timers, 10, 0.05, "an idle connection without timers")
        else:
            wait_until(lambda: expected in _server_side_timer(node.port), 10, 0.05,
                       f"a keepalive timer ({_server_side_timer(node.port)!r})")


def test_latency_monitor_matches_redis(differ: Differ) -> None:
    """With latency-monitor-threshold set, a slow command (a script busy for 150 ms) is a
    `command` event in both. Latencies are timing, so they are compared by bounds, and
    a loaded machine may add events of its own: only the script's is looked at."""
    d = differ
    spin = "local t = redis.call('time') local s = t[1] * 1000000 + t[2] " \
           "repeat local n = redis.call('time') until n[1] * 1000000 + n[2] - s > 150000"
    try:
        # Past busy-reply-threshold a script answers BUSY to others: make sure it is not low.
        d.check("config", "set", "busy-reply-threshold", "5000")
        d.check("latency", "reset")
        d.check("latency", "history", "command")
        d.check("latency", "graph", "command")
        d.check("config", "set", "latency-monitor-threshold", "100")
        d.a.call("eval", spin, "0")
        d.r.call("eval", spin, "0")
        for conn in (d.a, d.r):
            events = {row[0]: row[1:] for row in parse(conn.call("latency", "latest"))}
            when, latency, worst = events[b"command"]
            assert when > 1_700_000_000 and 100 <= latency <= worst  # at least the threshold
            history = parse(conn.call("latency", "history", "command"))
            assert history[-1] == [when, latency]
            chart = parse(conn.call("latency", "graph", "command"))
            assert chart.startswith(b"command - high %d ms, low " % max(h[1] for h in history))
            assert chart.split(b"\n")[1] == b"-" * 80
        d.check("latency", "reset", "command", "nosuch")
        d.check("latency", "history", "command")
    finally:
        d.both("config", "set", "latency-monitor-threshold", "0")
        d.both("latency", "reset")


def test_cluster_replica_no_failover_flag_matches_redis(cluster_differ: Differ) -> None:
    """The setting is our own "nofailover" flag, shown in CLUSTER NODES at once."""
    d = cluster_differ

    def flags(conn: RawConnection) -> bytes:
        return parse(conn.call("cluster", "nodes")).split()[2]

    try:
        d.check("config", "set", "cluster-replica-no-failover", "yes")
        assert flags(d.a) == flags(d.r) == b"myself,master,nofailover"
        d.check("config", "set", "cluster-slave-no-failover", "no")
        assert flags(d.a) == flags(d.r) == b"myself,master"
    finally:
        d.both("config", "set", "cluster-replica-no-failover", "no")


def test_nofailover_is_saved_and_reaches_peers(
        spawn: Callable[..., ServerProcess]) -> None:
    a = spawn("aikv", args=["--cluster-enabled", "yes"])
    b = spawn("aikv", args=["--cluster-enabled", "yes"])
    ca, cb = a.client(), b.client()
    a_id = ca.execute_command("cluster", "myid").decode()
    ca.config_set("cluster-replica-no-failover", "yes")
    assert cb.execute_command("cluster", "meet", "127.0.0.1", str(a.port))

    def b_sees_nofailover() -> bool:
        for line in cb.execute_command("cluster", "nodes").decode().splitlines():
            if line.startswith(a_id):
                return "nofailover" in line.split()[2]
        return False

    wait_until(b_sees_nofailover, 20, 0.05, "the peer to learn the nofailover flag")
    nodes_conf = (a.dir / "nodes.conf").read_text()
    assert f"{a_id} " in nodes_conf
    mine = next(line for line in nodes_conf.splitlines() if line.startswith(a_id))
    assert "myself,master,nofailover" in mine


def _stat(conn: RawConnection, name: bytes) -> int:
    text = parse(conn.call("info", "stats"))
    return int(text.split(name + b":")[1].split(b"\r\n")[0])


def test_reads_and_writes_processed_match_redis(spawn: Callable[..., ServerProcess]) -> None:
    mine, theirs = spawn("aikv"), spawn("redis")
    deltas = []
    for server in (mine, theirs):
        conn = RawConnection(server.port)
        try:
            reads, writes = (_stat(conn, b"total_reads_processed"),
                             _stat(conn, b"total_writes_processed"))
            for _ in range(10):
                conn.call("ping")
            deltas.append((_stat(conn, b"total_reads_processed") - reads,
                           _stat(conn, b"total_writes_processed") - writes))
        finally:
            conn.close()
    assert deltas[0] == deltas[1]
    assert deltas[0][0] == 12  # the second INFO, ten PINGs, the third INFO


def test_redis_server_style_arguments(spawn: Callable[..., ServerProcess]) -> None:
    node = spawn("aikv", args=["--maxmemory-policy", "allkeys-lru", "--shutdown-on-sigint",
                               "save", "now", "--save", "", "--latency-monitor-threshold",
                               "100"])
    got = node.client().config_get("*")
    assert (got["maxmemory-policy"], got["shutdown-on-sigint"], got["save"],
            got["latency-monitor-threshold"]) == ("allkeys-lru", "save now", "", "100")


def test_redirections_count_in_errorstats_like_redis(cluster_differ: Differ) -> None:
    """A routing refusal is an error reply like any other: INFO errorstats counts it by
    its code and the command's rejected_calls grows (Redis's cluster test 18-info)."""
    d = cluster_differ
    d.check("config", "set", "cluster-require-full-coverage", "no")
    slot = parse(d.a.call("cluster", "keyslot", "gone"))
    d.check("cluster", "delslots", str(slot))
    d.check("config", "resetstat")
    d.check("set", "gone", "1")  # CLUSTERDOWN Hash slot not served
    d.check("mset", "a", "1", "b", "2")  # CROSSSLOT
    d.check("set", "here", "1")
    d.check("info", "errorstats")
    mine, theirs = (parse(raw).decode() for raw in d.both("info", "commandstats"))
    assert _cmdstat(mine, "set") == _cmdstat(theirs, "set") == "rejected_calls=1,failed_calls=0"
    assert _cmdstat(mine, "mset") == _cmdstat(theirs, "mset")


def _cmdstat(info: str, name: str) -> str:
    line = next(x for x in info.split("\r\n") if x.startswith(f"cmdstat_{name}:"))
    return line.split(",", 3)[3]  # rejected_calls=..,failed_calls=..


def test_appendonly_no_is_accepted_and_ignored(aikv_module: ServerProcess) -> None:
    """AiKv always persists: CONFIG SET appendonly yes is accepted (Redis's test suites
    set it), and so is no (Redis's cluster test suite sends it before it stops a node),
    which changes nothing and says so in the log, as `appendonly no` at start-up."""
    conn = RawConnection(aikv_module.port)
    try:
        assert conn.call("config", "set", "appendonly", "yes") == b"+OK\r\n"
        assert conn.call("config", "set", "appendonly", "no") == b"+OK\r\n"
        assert conn.call("config", "get", "appendonly") == \
            b"*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n"
        assert b"aof_enabled:1\r\n" in conn.call("info", "persistence")
        assert conn.call("config", "set", "appendonly", "maybe").startswith(
            b"-ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument "
            b"must be 'yes' or 'no'")
        wait_until(lambda: "CONFIG SET appendonly no is ignored" in aikv_module.log(), 5,
                   0.05, "the log line")
    finally:
        conn.close()


RENAMES = 'rename-command flushall ""\nrename-command config MyConfig\nrename-command get getx\n'


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_rename_command(spawn: Callable[..., ServerProcess], tmp_path: Path, kind: str) -> None:
    """rename-command in the config file: the old name is unknown, the command answers to
    the new one (an empty one removes it), COMMAND COUNT loses the removed one and
    COMMAND INFO shows the command's own name. Both kinds, the same replies."""
    plain = spawn(kind).client()
    conf = tmp_path / f"{kind}.conf"
    conf.write_text(RENAMES)
    node = spawn(kind, args=[str(conf)])
    conn = RawConnection(node.port)
    assert conn.call("FLUSHALL") == \
        b"-ERR unknown command 'FLUSHALL', with args beginning with: \r\n"
    assert conn.call("GET", "k").startswith(b"-ERR unknown command 'GET'")
    assert conn.call("SET", "k", "v") == b"+OK\r\n"
    assert conn.call("GETX", "k") == b"$1\r\nv\r\n"
    assert conn.call("myconfig", "get", "hz") == b"*2\r\n$2\r\nhz\r\n$2\r\n10\r\n"
    assert conn.call("CONFIG", "GET", "hz").startswith(b"-ERR unknown command 'CONFIG'")
    assert parse(conn.call("COMMAND", "COUNT")) == plain.command_count() - 1
    info = parse(conn.call("COMMAND", "INFO", "getx"))
    assert isinstance(info, list) and info[0][0] == b"get"
    assert parse(conn.call("COMMAND", "INFO", "get")) == [None]
    # A script calls what the table has now.
    assert conn.call("EVAL", "return redis.pcall('get', 'k')['err']", "0") == \
        b"$44\r\nERR Unknown Redis command called from script\r\n"
    assert conn.call("EVAL", "return redis.call('getx', 'k')", "0") == b"$1\r\nv\r\n"
    # ACL rules name commands by their own names (Redis's orig_commands); ACL DRYRUN runs
    # a command line as the table has it now.
    unknown = b"-ERR Error in ACL SETUSER modifier '%s': Unknown command or category name in ACL\r\n"
    for rule in (b"+config", b"+get", b"+config|get", b"+flushall", b"-get"):
        assert conn.call("ACL", "SETUSER", "u", "on", "nopass", "~*", rule) == b"+OK\r\n", rule
    for rule in (b"+myconfig", b"+getx", b"+myconfig|get", b"-getx"):
        assert conn.call("ACL", "SETUSER", "u", rule) == unknown % rule, rule
    assert conn.call("ACL", "SETUSER", "u", "+get") == b"+OK\r\n"
    assert conn.call("ACL", "DRYRUN", "u", "getx", "k") == b"+OK\r\n"
    assert conn.call("ACL", "DRYRUN", "u", "myconfig", "get", "hz") == b"+OK\r\n"
    assert conn.call("ACL", "DRYRUN", "u", "get", "k") == b"-ERR Command 'get' not found\r\n"
    assert conn.call("ACL", "DRYRUN", "u", "set", "k", "v") == \
        b"$53\r\nThis user has no permissions to run the 'set' command\r\n"


@pytest.mark.parametrize("lines", [
    "rename-command nosuch x\n",
    "hz 5\nrename-command get set\n",
    "rename-command get getx\nrename-command get again\n",
    "rename-command get\n",
])
def test_rename_command_errors(tmp_path: Path, lines: str) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(lines)
    ours = subprocess.run([sys.executable, "-m", "aikv.cli", str(conf)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    theirs = subprocess.run(["redis-server", str(conf)], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 1
    from aikv import __version__

    assert ours.stderr.replace(f"AiKv {__version__}", "Redis 7.0.15") == theirs.stderr


def _pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_daemonize_and_debians_stock_redis_conf(tmp_path: Path, kind: str) -> None:
    """Debian's /etc/redis/redis.conf as it is installed (daemonize yes, `bind 127.0.0.1
    -::1`, appendonly no, ...), with only the port and the paths moved here: the
    command returns at once and a daemon serves, its pid in the pidfile, its log in the
    logfile; both kinds."""
    stock = Path("/etc/redis/redis.conf")
    if not stock.exists():
        pytest.skip("no Debian redis.conf here")
    port = free_port()
    pidfile, logfile = tmp_path / "server.pid", tmp_path / "server.log"
    moved = ["--port", str(port), "--dir", str(tmp_path), "--pidfile", str(pidfile),
             "--logfile", str(logfile)]
    command = [sys.executable, "-m", "aikv.cli"] if kind == "aikv" else ["redis-server"]
    started = subprocess.run([*command, str(stock), *moved], capture_output=True, text=True,
                             timeout=60, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    pid: int | None = None
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout == ""  # everything goes to the log now
        wait_until(lambda: _pid_from(pidfile) is not None, 20, 0.05, "the pidfile")
        pid = _pid_from(pidfile)
        client = redis.Redis(port=port, socket_timeout=5)
        wait_until(client.ping, 20, 0.05, f"{kind} daemon on {port}")
        assert client.config_get("daemonize") == {"daemonize": "yes"}
        assert client.config_get("bind") == {"bind": "127.0.0.1 -::1"}
        assert pid is not None and client.info("server")["process_id"] == pid
        assert client.set("k", "v") and client.get("k") == b"v"
        with contextlib.suppress(redis.ConnectionError):  # SHUTDOWN closes the connection
            client.shutdown(nosave=True)
        wait_until(lambda: not _alive(pid), 20, 0.05, "the daemon to exit")
    finally:
        _kill_daemon(pid)
    assert "Ready to accept connections" in logfile.read_text()
    assert not pidfile.exists()  # removed on the way out


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped counts as gone: it is not ours to wait for)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _kill_daemon(pid: int | None) -> None:
    """Never leave a daemon behind: SIGKILL if it is still there."""
    import signal

    if pid is not None and _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_bind_several_addresses_and_optional_ones(spawn: Callable[..., ServerProcess],
                                                  tmp_path: Path, kind: str) -> None:
    """Every address of `bind` gets a socket; a `-` address that is not on this host
    (192.0.2.1, TEST-NET-1) is skipped, a plain one stops the start-up, with Redis's
    log lines."""
    node = spawn(kind, args=["--bind", "127.0.0.1 -192.0.2.1"])
    assert node.client().ping()
    assert node.client().config_get("bind") == {"bind": "127.0.0.1 -192.0.2.1"}
    assert f"Could not create server TCP listening socket 192.0.2.1:{node.port}: bind: " \
           "Cannot assign requested address" in node.log()
    port = free_port()
    command = [sys.executable, "-m", "aikv.cli"] if kind == "aikv" else ["redis-server"]
    failed = subprocess.run([*command, "--port", str(port), "--dir", str(tmp_path),
                             "--bind", "127.0.0.1 192.0.2.1"], capture_output=True, text=True,
                            timeout=60, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert failed.returncode == 1
    assert f"Failed listening on port {port} (TCP), aborting." in failed.stdout


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_config_set_port_and_bind(spawn: Callable[..., ServerProcess], kind: str) -> None:
    """networking.tcl's CONFIG SET port / bind: the node moves to the new port at once;
    a port in use or an address it cannot bind is refused with Redis's error and the
    node keeps listening where it was; `bind ""` stops new connections."""
    node = spawn(kind)
    other = spawn(kind)
    conn = RawConnection(node.port)
    new_port = free_port()
    assert conn.call("CONFIG", "SET", "port", str(new_port)) == b"+OK\r\n"
    moved = RawConnection(new_port)
    assert moved.call("PING") == b"+PONG\r\n"
    assert parse(moved.call("CONFIG", "GET", "port")) == [b"port", str(new_port).encode()]
    with pytest.raises(OSError):
        RawConnection(node.port).call("PING")
    assert moved.call("CONFIG", "SET", "port", str(other.port)) == (
        b"-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on "
        b"this port. Check server logs.\r\n")
    assert RawConnection(new_port).call("PING") == b"+PONG\r\n"
    # A failed apply rolls back the ones applied before it (oom-score-adj here), as
    # introspection.tcl's "CONFIG SET rollback on apply error" checks.
    assert node.proc is not None
    oom_file = Path(f"/proc/{node.proc.pid}/oom_score_adj")
    before = oom_file.read_text()
    assert moved.call("CONFIG", "SET", "oom-score-adj", "yes", "oom-score-adj-values",
                      "1 1 1", "port", str(other.port)).startswith(
        b"-ERR CONFIG SET failed (possibly related to argument 'port')")
    assert oom_file.read_text() == before
    assert moved.call("CONFIG", "SET", "bind", "999.999.999.999") == (
        b"-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to "
        b"specified addresses.\r\n")
    assert parse(moved.call("CONFIG", "GET", "bind"))[1] != b"999.999.999.999"
    assert RawConnection(new_port).call("PING") == b"+PONG\r\n"
    assert moved.call("CONFIG", "SET", "bind", "") == b"+OK\r\n"
    with pytest.raises(OSError):
        RawConnection(new_port).call("PING")
    assert moved.call("CONFIG", "SET", "bind", "127.0.0.1") == b"+OK\r\n"
    wait_until(lambda: RawConnection(new_port).call("PING") == b"+PONG\r\n", 10, 0.05,
               "listening again")
    # Several in one read (introspection.tcl's CONFIG sanity sets each to what it is):
    # each rebinds, none finds the port still held by the one before.
    assert moved.call("CONFIG", "SET", "port", str(new_port)) == b"+OK\r\n"
    assert moved.call("CONFIG", "SET", "bind", "127.0.0.1") == b"+OK\r\n"
    moved.sock.sendall(b"CONFIG SET port %d\r\nCONFIG SET bind 127.0.0.1\r\n"
                       b"CONFIG SET port %d\r\n" % (new_port, new_port))
    replies = b""
    while replies.count(b"\r\n") < 3:
        replies += moved.sock.recv(4096)
    assert replies == b"+OK\r\n" * 3
    assert RawConnection(new_port).call("PING") == b"+PONG\r\n"


def _datagrams(sock: socket.socket, into: list[str]) -> list[str]:
    with contextlib.suppress(BlockingIOError):
        while True:
            into.append(sock.recv(4096).decode())
    return into


@pytest.mark.parametrize("kind", ["aikv", "redis"])
@pytest.mark.parametrize("mode", ["systemd", "auto"])
def test_supervised_by_systemd(tmp_path: Path, kind: str, mode: str) -> None:
    """sd_notify as redis-server sends it (Debian's is built with libsystemd): loading,
    ready, stopping, to the NOTIFY_SOCKET datagram socket; a supervised node does not
    daemonize (the supervisor keeps it)."""
    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.setblocking(False)
    node = ServerProcess(kind, tmp_path / "node", args=["--supervised", mode,
                                                         "--daemonize", "yes"],
                         env={"NOTIFY_SOCKET": str(path)})
    got: list[str] = []
    try:
        node.start()
        wait_until(lambda: "READY=1\n" in _datagrams(listener, got), 20, 0.05, "READY=1")
        product = "AiKv" if kind == "aikv" else "Redis"
        assert got == [f"STATUS={product} is loading...\n",
                       "STATUS=Ready to accept connections\n", "READY=1\n"]
        with contextlib.suppress(redis.ConnectionError):
            node.client().shutdown(nosave=True)
        assert node.proc is not None and node.proc.wait(timeout=30) == 0  # not daemonized
        wait_until(lambda: "STOPPING=1\n" in _datagrams(listener, got), 10, 0.05,
                   "STOPPING=1")
    finally:
        node.stop()
        listener.close()


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_save_lines_add_up(tmp_path: Path, kind: str) -> None:
    """The first `save` directive of a configuration replaces the default, each later one
    (in the file, then on the command line) adds its points, `save ""` empties them."""
    conf = tmp_path / "save.conf"
    conf.write_text("save 3600 1\nsave 300 100\nsave 60 10000\n")
    port = free_port()
    command = [sys.executable, "-m", "aikv.cli"] if kind == "aikv" else ["redis-server"]
    expected = {
        (): "3600 1 300 100 60 10000",
        ("--save", "30", "5"): "3600 1 300 100 60 10000 30 5",
        ("--save", "", "--save", "30", "5"): "30 5",
        ("--save", ""): "",
    }
    for extra, points in expected.items():
        proc = subprocess.Popen([*command, str(conf), "--port", str(port), "--dir", str(tmp_path),
                                 *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        try:
            client = redis.Redis(port=port, socket_timeout=5)
            wait_until(client.ping, 20, 0.05, f"{kind} on {port}")
            assert client.config_get("save") == {"save": points}, extra
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.mark.parametrize("kind", ["aikv", "redis"])
@pytest.mark.parametrize("where", [["--port", "0"], ["--port", str(65535), "--bind", "-10.255.255.1"]],
                         ids=["port-0", "optional-address-missing"])
def test_nowhere_to_listen_exits(tmp_path: Path, kind: str, where: list[str]) -> None:
    """Port 0 opens no TCP socket (not a port of the kernel's choosing); with no socket
    at all the server says so and exits 1, as redis-server does."""
    command = [sys.executable, "-m", "aikv.cli"] if kind == "aikv" else ["redis-server"]
    done = subprocess.run([*command, *where, "--dir", str(tmp_path)], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 1
    assert "Configured to not listen anywhere, exiting." in done.stdout + done.stderr


def test_port_0_serves_the_unix_socket_only(spawn: Callable[..., ServerProcess], tmp_path: Path) -> None:
    path = tmp_path / "only.sock"
    node = spawn("aikv", args=["--port", "0", "--unixsocket", str(path)], wait=False)
    with redis.Redis(unix_socket_path=str(path), socket_timeout=5) as c:
        wait_until(lambda: path.exists() and c.ping(), 20, 0.05, "the Unix socket")
        assert c.config_get("port") == {"port": "0"}
    assert node.running
