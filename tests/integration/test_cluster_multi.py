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
