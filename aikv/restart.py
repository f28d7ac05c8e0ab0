"""DEBUG RESTART and DEBUG CRASH-AND-RECOVER: the process replaced by a fresh copy of
itself, as redis-server's restartServer does it.

The same interpreter and command line are executed again (`execve`, so the pid stays),
after every descriptor above stderr is closed. RESTART first rewrites the config file
when the server was started with one, then shuts down as SHUTDOWN NOW would (the store
synced, nodes.conf saved, clients and listeners closed) and only then executes; the new
process opens the same directory with everything in it. CRASH-AND-RECOVER does none of
that, as a crash would not: what survives is what the tick log already holds, the same as
after a kill -9, which every acknowledged write does.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from aikv.server import Server

log = logging.getLogger("aikv")


def can_execute() -> bool:
    if os.access(sys.executable, os.X_OK):
        return True
    log.warning("Can't restart: this process has no permissions to execute %s", sys.executable)
    return False


def shut_down_for_restart(server: Server, delay_ms: int) -> bool:
    """RESTART's shutdown (SHUTDOWN NOW's); False (logged) when it cannot happen. On
    success the process executes itself once the loop has stopped (aikv/cli.py)."""
    from aikv import shutdown
    from aikv.config import SHUTDOWN_NOW

    if not shutdown.prepare(server, SHUTDOWN_NOW):
        log.warning("Can't restart: error preparing for shutdown")
        return False
    server.restart_delay_ms = delay_ms
    return True


def execute_self(delay_ms: int) -> NoReturn:
    """Close every descriptor above stderr (stdin, stdout and stderr stay, as in Redis:
    a server that is not daemonized keeps its terminal), wait `delay_ms`, and execute
    the same command line again."""
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 - a log that cannot be flushed must not stop us
            pass
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    os.closerange(3, soft if 1024 <= soft <= 1 << 20 else 1 << 20)
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    try:
        os.execv(sys.executable, sys.orig_argv)
    finally:
        os._exit(1)  # nothing else can be done if the execution failed
