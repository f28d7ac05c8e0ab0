"""Transactions in cluster mode: commands are routed when queued, as in Redis."""

from __future__ import annotations

import pytest

from tests.differ import RawConnection
from tests.harness import ServerProcess, free_port, wait_until


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_moved_inside_multi_aborts_exec(kind: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    nodes = []
    try:
        for name in ("a", "b"):
            args = ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]
            proc = ServerProcess(kind, tmp_path / name, port=free_port(), args=args)
            nodes.append(proc.start())
        a, b = (n.client() for n in nodes)
        a.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "8191")
        b.execute_command("CLUSTER", "ADDSLOTSRANGE", "8192", "16383")
        a.execute_command("CLUSTER", "MEET", "127.0.0.1", str(nodes[1].port))
        for client in (a, b):
            wait_until(lambda c=client: b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO"),
                       20, what="cluster_state:ok")
        conn = RawConnection(nodes[0].port)
        # "foo" hashes to 12182 (node b); "bar" to 5061 (node a).
        assert conn.call("MULTI") == b"+OK\r\n"
        assert conn.call("SET", "bar", "1") == b"+QUEUED\r\n"
        assert conn.call("SET", "foo", "1") == b"-MOVED 12182 127.0.0.1:%d\r\n" % nodes[1].port
        assert conn.call("EXEC") == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        assert conn.call("GET", "bar") == b"$-1\r\n"
        # EXEC over two slots owned here: CROSSSLOT at EXEC time.
        assert conn.call("MULTI") == b"+OK\r\n"
        assert conn.call("SET", "bar", "1") == b"+QUEUED\r\n"
        assert conn.call("SET", "{bar}x", "2") == b"+QUEUED\r\n"
        assert conn.call("EXEC") == b"*2\r\n+OK\r\n+OK\r\n"
        conn.close()
    finally:
        for n in nodes:
            n.stop()


def test_blocked_client_is_redirected_when_its_slot_moves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    nodes = []
    try:
        for name in ("a", "b"):
            args = ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]
            nodes.append(ServerProcess("aikv", tmp_path / name, port=free_port(), args=args).start())
        a, b = (n.client() for n in nodes)
        a.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "8191")
        b.execute_command("CLUSTER", "ADDSLOTSRANGE", "8192", "16383")
        a.execute_command("CLUSTER", "MEET", "127.0.0.1", str(nodes[1].port))
        for client in (a, b):
            wait_until(lambda c=client: b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO"),
                       20, what="cluster_state:ok")
        b_id = b.execute_command("CLUSTER", "MYID").decode()
        conn = RawConnection(nodes[0].port)
        conn.sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$3\r\nbar\r\n$1\r\n0\r\n")  # slot 5061, on a
        wait_until(lambda: b"flags=b" in a.execute_command("CLIENT", "LIST"), 10,
                   what="client blocked")
        a.execute_command("CLUSTER", "SETSLOT", "5061", "NODE", b_id)
        conn.sock.settimeout(10)
        assert conn.read_reply() == b"-MOVED 5061 127.0.0.1:%d\r\n" % nodes[1].port
        conn.close()
    finally:
        for n in nodes:
            n.stop()


def test_client_unblock(aikv_module) -> None:  # type: ignore[no-untyped-def]
    conn = RawConnection(aikv_module.port)
    my_id = int(conn.call("CLIENT", "ID")[1:-2])
    conn.sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$2\r\nub\r\n$1\r\n0\r\n")
    admin = aikv_module.client()
    wait_until(lambda: b"flags=b" in admin.execute_command("CLIENT", "LIST"), 10, what="blocked")
    assert admin.execute_command("CLIENT", "UNBLOCK", my_id, "ERROR") == 1
    assert conn.read_reply() == b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    assert admin.execute_command("CLIENT", "UNBLOCK", my_id) == 0
    assert b"cmd=client|info" in conn.call("CLIENT", "INFO")
    conn.close()
