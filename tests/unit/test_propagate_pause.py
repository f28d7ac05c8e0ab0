"""While clients are paused nothing reaches the replication stream: a key found past its
deadline is left for later (Redis's expireIfNeeded), so a failover's final offset holds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aikv.pause import PAUSE_DURING_FAILOVER, PAUSE_FOREVER
from tests.unit.propagation_harness import captured_server


def test_expired_key_is_not_deleted_while_paused(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    try:
        with captured_server(tmp_path) as cap:
            cap.server.loop = loop  # the pause arms its timer on it
            cap.run("SET", "k", "v", "PX", "1")
            time.sleep(0.01)
            cap.server.clock.refresh()
            cap.server.pause(True, PAUSE_FOREVER, PAUSE_DURING_FAILOVER)
            assert cap.run("GET", "k") == b"$-1\r\n"
            assert cap.sent("GET", "k") == []
            cap.server.unpause()  # CLIENT UNPAUSE: not this pause
            assert cap.server.pause_mode and cap.sent("GET", "k") == []
            cap.server.unpause(PAUSE_DURING_FAILOVER)
            assert cap.sent("GET", "k") == [(0, [b"DEL", b"k"])]
    finally:
        loop.close()
