"""A script past busy-reply-threshold, against a real redis-server 7.0.15: other clients
get BUSY (new connections too), the allow-busy commands run, SCRIPT KILL / FUNCTION KILL
stop a script that has not written, UNKILLABLE one that has, SHUTDOWN NOSAVE ends the
node from inside the script. The same steps go to both servers and the replies are
compared byte for byte (durations normalised). Then what only AiKv needs showing: the
connections accepted while busy carry on afterwards, the half-run script's writes are
not on disk after SHUTDOWN NOSAVE, and the cluster bus keeps answering its peers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from tests.differ import RawConnection, encode_command, parse
from tests.harness import ServerProcess, wait_until

Spawn = Callable[..., ServerProcess]
THRESHOLD = ["--busy-reply-threshold", "100"]
SPIN = "local i = 0 while true do i = i + 1 end"
LIB = ("#!lua name=spinlib\n"
       "redis.register_function('spin', function(keys, args)\n"
       "  local i = 0 while true do i = i + 1 end end)")


def start_script(port: int, *args: str) -> RawConnection:
    """Send a script call without reading its reply; return once the node is busy."""
    runner = RawConnection(port, timeout=30)
    # Connected (and answered) before the script starts: a connection the loop accepted
    # but had not yet announced when the script took it is served only after the script.
    probe = RawConnection(port)
    probe.call("echo", "x")
    runner.sock.sendall(encode_command(*args))
    try:
        wait_until(lambda: probe.call("echo", "x").startswith(b"-BUSY"), timeout=15,
                   what="the script to make the node busy")
    finally:
        probe.close()
    return runner


def normalize(reply: bytes) -> bytes:
    return re.sub(rb"duration_ms\r\n:\d+", b"duration_ms\r\n:N", reply)


def busy_transcript(server: ServerProcess) -> list[bytes]:
    """Everything a client sees around a read-only EVAL that runs until SCRIPT KILL."""
    seen: list[bytes] = []
    setup = RawConnection(server.port)
    setup.call("set", "k", "v")
    setup.call("config", "resetstat")
    other = setup  # connected before the script
    runner = start_script(server.port, "eval", SPIN, "0")
    late = RawConnection(server.port)  # connected while the script runs
    try:
        for args in [("ping",), ("get", "k"), ("function", "stats"), ("function", "kill"),
                     ("shutdown",), ("shutdown", "save"), ("multi",), ("set", "a", "b"),
                     ("exec",), ("multi",), ("discard",), ("watch", "k"), ("unwatch",),
                     ("client", "list"), ("nosuchcommand",), ("get",)]:
            seen.append(other.call(*args))
            seen.append(late.call(*args))
        seen.append(late.call("ping"))
        seen.append(late.call("echo", "hi"))
        seen.append(other.call("script", "kill"))
        seen.append(runner.read_reply())
        seen.append(other.call("script", "kill"))  # nothing runs any more
        seen.append(late.call("ping"))
        seen.append(late.call("get", "k"))
        seen.append(runner.call("ping"))
        errorstats = other.call("info", "errorstats")
        seen.append(re.sub(rb"# Errorstats\r\n", b"", errorstats))
        stats = parse(other.call("info", "commandstats")).decode()
        for name in ("eval", "ping", "script|kill", "exec", "get", "function|kill"):
            line = re.search(rf"cmdstat_{re.escape(name)}:.*", stats)
            assert line is not None, name
            seen.append(re.sub(r"usec(_per_call)?=[\d.]+,", "", line.group(0)).encode())
    finally:
        for conn in (setup, runner, late):
            conn.close()
    return seen


def test_busy_eval_matches_redis(spawn: Spawn) -> None:
    mine = busy_transcript(spawn("aikv", args=THRESHOLD))
    theirs = busy_transcript(spawn("redis", args=THRESHOLD))
    assert mine == theirs
    assert mine[0].startswith(b"-BUSY Redis is busy running a script. You can only call "
                              b"SCRIPT KILL or SHUTDOWN NOSAVE.")
    assert mine.count(b"+OK\r\n") >= 3  # MULTI, DISCARD... and the kill itself


def function_transcript(server: ServerProcess) -> list[bytes]:
    seen: list[bytes] = []
    setup = RawConnection(server.port)
    seen.append(setup.call("function", "load", LIB))
    runner = start_script(server.port, "fcall", "spin", "1", "key", "arg")
    try:
        seen.append(normalize(setup.call("function", "stats")))
        seen.append(setup.call("script", "kill"))
        seen.append(setup.call("function", "kill"))
        seen.append(runner.read_reply())
        seen.append(setup.call("function", "stats"))
    finally:
        setup.close()
        runner.close()
    return seen


def test_busy_function_matches_redis(spawn: Spawn) -> None:
    mine = function_transcript(spawn("aikv", args=THRESHOLD))
    theirs = function_transcript(spawn("redis", args=THRESHOLD))
    assert mine == theirs
    assert mine[4] == (b"-ERR Script killed by user with SCRIPT KILL... script: spin, "
                       b"on @user_function:3.\r\n")


def shutdown_transcript(server: ServerProcess) -> list[bytes]:
    """A script that wrote cannot be killed; SHUTDOWN NOSAVE ends the node anyway."""
    seen: list[bytes] = []
    setup = RawConnection(server.port)
    seen.append(setup.call("set", "before", "1"))
    runner = start_script(server.port, "eval", "redis.call('set', KEYS[1], 'y') " + SPIN,
                          "1", "during")
    try:
        seen.append(setup.call("script", "kill"))
        seen.append(setup.call("ping"))
        seen.append(setup.call("shutdown"))
        setup.sock.sendall(encode_command("shutdown", "nosave"))
        seen.append(setup.sock.recv(100))  # the connection closes without a reply
        seen.append(runner.sock.recv(100))
    finally:
        setup.close()
        runner.close()
    assert server.proc is not None
    seen.append(str(server.proc.wait(timeout=30)).encode())
    return seen


def test_shutdown_nosave_ends_a_busy_script_that_wrote(spawn: Spawn) -> None:
    mine_server = spawn("aikv", args=THRESHOLD)
    mine = shutdown_transcript(mine_server)
    theirs = shutdown_transcript(spawn("redis", args=THRESHOLD))
    assert mine == theirs
    assert mine[1].startswith(b"-UNKILLABLE Sorry the script already executed write commands")
    assert mine[-1] == b"0"
    # Acknowledged before the script: kept. Written by the half-run script: never made
    # durable, as its tick was not committed (Redis's AOF never saw it either).
    restarted = spawn("aikv", directory=mine_server.dir)
    conn = RawConnection(restarted.port)
    try:
        assert conn.call("get", "before") == b"$1\r\n1\r\n"
        assert conn.call("exists", "during") == b":0\r\n"
    finally:
        conn.close()


def test_connections_accepted_while_busy_carry_on(spawn: Spawn) -> None:
    server = spawn("aikv", args=THRESHOLD)
    runner = start_script(server.port, "eval", SPIN, "0")
    late: list[RawConnection] = []
    try:
        for _ in range(3):
            conn = RawConnection(server.port)
            late.append(conn)
            assert conn.call("ping").startswith(b"-BUSY")
        # A pipeline half read while busy: the rest is served after the script.
        quitter = RawConnection(server.port)
        assert quitter.call("quit") == b"+OK\r\n"
        assert quitter.sock.recv(10) == b""
        quitter.close()
        late[0].sock.sendall(encode_command("client", "setname", "late0"))
        assert late[0].read_reply().startswith(b"-BUSY")
        assert late[1].call("script", "kill") == b"+OK\r\n"
        assert runner.read_reply().startswith(b"-ERR Script killed by user")
        for i, conn in enumerate(late):
            assert conn.call("client", "setname", f"late{i}") == b"+OK\r\n"
            assert conn.call("set", f"k{i}", "v") == b"+OK\r\n"
        names = parse(late[0].call("client", "list")).decode()
        for i in range(3):
            assert f"name=late{i} " in names
        # The runner and the three: the client that quit while busy is gone for good.
        assert len(names.strip().split("\n")) == 4, names
        assert late[2].call("dbsize") == b":3\r\n"
    finally:
        runner.close()
        for conn in late:
            conn.close()


def test_cluster_bus_answers_while_a_script_is_busy(spawn: Spawn) -> None:
    """With node-timeout 1 s, a script busy for 3 s would have its node flagged as
    failing (PFAIL) by its peer unless the bus kept answering PINGs meanwhile."""
    cluster = ["--cluster-enabled", "yes", "--cluster-node-timeout", "1000", *THRESHOLD]
    a, b = spawn("aikv", args=cluster), spawn("aikv", args=cluster)
    ca, cb = a.client(), b.client()
    try:
        ca.execute_command("cluster", "addslots", *range(0, 8192))
        cb.execute_command("cluster", "addslots", *range(8192, 16384))
        cb.execute_command("cluster", "meet", "127.0.0.1", str(a.port))
        a_id = ca.execute_command("cluster", "myid")
        a_id = a_id.decode() if isinstance(a_id, bytes) else a_id

        def a_seen_by_b() -> str:
            text = cb.execute_command("cluster", "nodes")
            text = text.decode() if isinstance(text, bytes) else text
            return next(line for line in text.splitlines() if line.startswith(a_id))

        wait_until(lambda: "connected" in a_seen_by_b() and "handshake" not in a_seen_by_b()
                   and "cluster_state:ok" in str(cb.execute_command("cluster", "info")),
                   timeout=20, what="the two nodes to know each other")
        runner = start_script(a.port, "eval", SPIN, "0")
        try:
            until = time.monotonic() + 3.0
            while time.monotonic() < until:
                line = a_seen_by_b()
                assert "fail" not in line.split()[2], line
                time.sleep(0.05)
            killer = RawConnection(a.port)
            assert killer.call("script", "kill") == b"+OK\r\n"
            killer.close()
            assert runner.read_reply().startswith(b"-ERR Script killed by user")
        finally:
            runner.close()
    finally:
        ca.close()
        cb.close()


def test_a_busy_script_that_ends_by_itself_returns_its_result(spawn: Spawn) -> None:
    """Past the threshold the script is not stopped (the old guard is gone): it keeps
    running while others get BUSY, and its caller gets its result."""
    server = spawn("aikv", args=THRESHOLD)
    runner = start_script(server.port, "eval", "for i = 1, 3000000 do end return 1", "0")
    try:
        assert runner.read_reply() == b":1\r\n"
        assert runner.call("ping") == b"+PONG\r\n"
    finally:
        runner.close()


def test_threshold_zero_never_interrupts(spawn: Spawn) -> None:
    """busy-reply-threshold 0: Redis sets no hook, the script is never interrupted and
    nobody gets BUSY; the client that asked meanwhile is answered after it."""
    server = spawn("aikv", args=["--busy-reply-threshold", "0"])
    conn = RawConnection(server.port, timeout=60)
    probe = RawConnection(server.port, timeout=60)
    try:
        conn.sock.sendall(encode_command("eval", "for i = 1, 1000000 do end return 1", "0"))
        assert probe.call("ping") == b"+PONG\r\n"
        assert conn.read_reply() == b":1\r\n"
        log = server.log()
        assert "Slow script detected" not in log
    finally:
        conn.close()
        probe.close()


def test_a_replica_that_leaves_is_seen_while_a_script_is_busy(spawn: Spawn) -> None:
    """Replica links are read while busy: one that goes away stops counting at once, so
    a script waiting for connected_slaves:0 ends (scripting.tcl's min-replicas test)."""
    master = spawn("aikv", args=THRESHOLD)
    replica = spawn("redis", args=["--replicaof", "127.0.0.1", str(master.port)])
    mc, rc = master.client(), replica.client()
    try:
        wait_until(lambda: mc.info("replication").get("slave0", {}).get("state") == "online",
                   timeout=30, what="the replica to be online")
        runner = start_script(master.port, "eval", """
            while true do
                local info = redis.call('info', 'replication')
                if string.match(info, 'connected_slaves:0') then return 1 end
            end""", "0")
        try:
            rc.execute_command("replicaof", "no", "one")
            assert runner.read_reply() == b":1\r\n"
        finally:
            runner.close()
    finally:
        mc.close()
        rc.close()
