"""MONITOR against a real redis-server 7.0: the same commands from another connection
must appear on the monitor in the same lines (timestamp and client port aside), with
Redis's quoting, redacted passwords and administrative commands hidden."""

from __future__ import annotations

import re
import socket
import time

from tests.differ import RawConnection, encode_command
from tests.harness import wait_until

COMMANDS: list[tuple[str | bytes, ...]] = [
    ("set", "k", b'v\n"x\\\x01\xff\t\r\x07\x08 '), ("get", "k"), ("select", "3"), ("set", "a", "1"),
    ("auth", "pw"), ("auth", "u", "pw"), ("auth", "a", "b", "c"),
    ("hello", "3", "auth", "default", "pw"), ("hello", "3", "setname", "n", "auth", "x", "y"),
    ("hello", "9", "auth", "default", "pw"), ("hello", "2"),
    ("config", "get", "port"), ("client", "list"), ("client", "id"), ("nosuch",), ("get",),
    ("multi",), ("set", "x", "1"), ("incr", "x"), ("exec",), ("blpop", "nolist", "0.01"),
    ("migrate", "127.0.0.1", "1", "", "0", "100", "auth", "pw", "keys", "auth"),
    ("migrate", "127.0.0.1", "1", "", "0", "100", "auth2", "u", "pw", "keys", "k"),
    ("debug", "sleep", "0"), ("ping",), ("echo", "hi"), ("select", "0"), ("del", "k", "x"),
]


def _read_lines(sock: socket.socket, count: int, timeout: float = 5.0) -> list[bytes]:
    sock.settimeout(0.2)
    buf = b""
    deadline = time.monotonic() + timeout
    while buf.count(b"\r\n") < count and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\r\n")[:count]


def _normalise(line: bytes) -> bytes:
    return re.sub(rb"^\+\d+\.\d{6} \[(\d+) 127\.0\.0\.1:\d+\]", rb"+T [\1 ADDR]", line)


def _monitor_output(port: int) -> list[bytes]:
    watcher = RawConnection(port)
    other = RawConnection(port)
    try:
        assert watcher.call("monitor") == b"+OK\r\n"
        for cmd in COMMANDS:
            other.call(*cmd)
        other.call("echo", "last")
        lines = _read_lines(watcher.sock, 64, timeout=3.0)
        end = next(i for i, line in enumerate(lines) if line.endswith(b'"echo" "last"'))
        return [_normalise(line) for line in lines[: end + 1]]
    finally:
        watcher.close()
        other.close()


def test_monitor_lines_match_redis(aikv_module, redis_module) -> None:  # type: ignore[no-untyped-def]
    mine = _monitor_output(aikv_module.port)
    theirs = _monitor_output(redis_module.port)
    assert mine == theirs
    assert b'+T [0 ADDR] "set" "k" "v\\n\\"x\\\\\\x01\\xff\\t\\r\\a\\b "' in mine
    assert b'+T [3 ADDR] "auth" "(redacted)" "(redacted)"' in mine
    assert (b'+T [3 ADDR] "migrate" "127.0.0.1" "1" "" "0" "100" "auth2" "(redacted)" '
            b'"(redacted)" "keys" "k"') in mine
    assert not any(b'"config"' in line or b'"debug"' in line for line in mine)


def test_second_monitor_is_silent_and_reset_stops_it(spawn) -> None:  # type: ignore[no-untyped-def]
    for server in (spawn("aikv"), spawn("redis")):
        watcher = RawConnection(server.port)
        other = RawConnection(server.port)
        try:
            assert watcher.call("monitor") == b"+OK\r\n"
            # A second MONITOR gets no reply at all: the next thing read is PING's.
            watcher.sock.sendall(encode_command("monitor") + encode_command("ping"))
            assert watcher.read_reply() == b"+PONG\r\n"
            # Its own commands are monitored too, each after its reply.
            assert _normalise(watcher.read_reply()) == b'+T [0 ADDR] "ping"\r\n'
            other.call("set", "a", "1")
            assert _normalise(watcher.read_reply()) == b'+T [0 ADDR] "set" "a" "1"\r\n'
            assert watcher.call("reset") == b"+RESET\r\n"
            other.call("set", "b", "2")
            assert watcher.call("ping") == b"+PONG\r\n"  # nothing was queued before it
        finally:
            watcher.close()
            other.close()


def test_monitor_in_exec_is_refused_like_redis(aikv_module, redis_module) -> None:  # type: ignore[no-untyped-def]
    replies = []
    for port in (aikv_module.port, redis_module.port):
        conn = RawConnection(port)
        try:
            conn.call("multi")
            conn.call("monitor")
            replies.append(conn.call("exec"))
        finally:
            conn.close()
    assert replies[0] == replies[1]
    assert b"MONITOR isn't allowed for DENY BLOCKING client" in replies[0]


def test_client_list_flag_and_disconnect(aikv_module) -> None:  # type: ignore[no-untyped-def]
    watcher = RawConnection(aikv_module.port)
    client = aikv_module.client()
    watcher.call("monitor")
    watcher.call("client", "setname", "watcher")  # MONITOR clients still run commands
    listed = [c for c in client.client_list() if c["name"] == "watcher"]
    assert listed and listed[0]["flags"] == "O"
    watcher.close()
    wait_until(lambda: not [c for c in client.client_list() if c["name"] == "watcher"], 5,
               what="the monitor connection to go")
    assert client.set("after", "1")  # feeding no one: nothing breaks


def test_own_transaction_lines_follow_exec_reply(aikv_module) -> None:  # type: ignore[no-untyped-def]
    # Every command EXEC runs is copied, after EXEC's whole reply (Redis writes them into
    # the middle of that reply, which no client can parse).
    watcher = RawConnection(aikv_module.port)
    try:
        assert watcher.call("monitor") == b"+OK\r\n"
        assert watcher.call("multi") == b"+OK\r\n"
        assert _normalise(watcher.read_reply()) == b'+T [0 ADDR] "multi"\r\n'
        assert watcher.call("set", "tx", "1") == b"+QUEUED\r\n"
        assert watcher.call("incr", "tx") == b"+QUEUED\r\n"
        assert watcher.call("exec") == b"*2\r\n+OK\r\n:2\r\n"
        lines = [_normalise(watcher.read_reply()) for _ in range(3)]
        assert lines == [b'+T [0 ADDR] "set" "tx" "1"\r\n', b'+T [0 ADDR] "incr" "tx"\r\n',
                         b'+T [0 ADDR] "exec"\r\n']
    finally:
        watcher.close()
