"""A replica loading its master's data is stopped by SIGTERM or SHUTDOWN at once, as
redis-server 7.0 is (its whileBlockedCron acts on the signal between two parts of the
load), not when the load is over: AiKv's event loop, and with it the signal handlers and
the cron, is held by the load. Nothing is saved (the data is half loaded): restarted, the
replica synchronises again and ends with all of the master's keys. Both kinds run the
same steps."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable

import pytest

from tests.differ import RawConnection, encode_command
from tests.harness import ServerProcess, wait_until
from tests.integration.test_bus_while_blocked import (
    KINDS,
    LOADING_NODE_ARGS,
    info_field,
    replica_loading,
)

Spawn = Callable[..., ServerProcess]
# The load has about 6 s to go when the replica is asked to stop; an answer to the
# request comes within a part of the load (1 KB here, a key or two).
PROMPT_S = 3.0


def exit_code_within(proc: ServerProcess, seconds: float) -> int | None:
    assert proc.proc is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        code = proc.proc.poll()
        if code is not None:
            return code
        time.sleep(0.02)
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_sigterm_during_a_load_ends_the_replica_now(spawn: Spawn, kind: str) -> None:
    replica_proc, master, replica = replica_loading(spawn, kind)
    assert replica_proc.proc is not None
    asked = time.monotonic()
    replica_proc.proc.send_signal(signal.SIGTERM)
    code = exit_code_within(replica_proc, asked + PROMPT_S - time.monotonic())
    assert code == 0, f"exit code {code} (None: still running)\n{replica_proc.log()}"
    log = replica_proc.log()
    assert "Received shutdown signal during loading, scheduling shutdown." in log
    # (and the line of a replica carries its role letter, S, as all its lines do)
    assert re.search(r"\n\d+:S [^\n]* # User requested shutdown\.\.\.\n", log), log
    replica.close()
    # Back from the same directory: a replica again, synchronised whole.
    again = spawn(kind, args=LOADING_NODE_ARGS, directory=replica_proc.dir,
                  port=replica_proc.port)
    with again.client() as client:
        wait_until(lambda: info_field(client, "replication", "master_link_status") == "up"
                   and info_field(client, "persistence", "loading") == 0, 60, 0.05,
                   "the restarted replica to synchronise")
        assert client.dbsize() == master.dbsize() == 3100
    master.close()


@pytest.mark.parametrize("kind", KINDS)
def test_shutdown_during_a_load_ends_the_replica_now(spawn: Spawn, kind: str) -> None:
    replica_proc, master, replica = replica_loading(spawn, kind)
    # On a raw socket: redis-py would retry a -LOADING reply until the load is over.
    conn = RawConnection(replica_proc.port, timeout=PROMPT_S)
    try:
        asked = time.monotonic()
        # SHUTDOWN is served during the load (flag `loading`); the node ends, no reply.
        conn.sock.sendall(encode_command("SHUTDOWN"))
        assert conn.sock.recv(100) == b""
        code = exit_code_within(replica_proc, asked + PROMPT_S - time.monotonic())
    finally:
        conn.close()
    assert code == 0, f"exit code {code} (None: still running)\n{replica_proc.log()}"
    assert "User requested shutdown..." in replica_proc.log()
    assert master.ping()
    master.close()
    replica.close()
