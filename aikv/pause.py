"""Client pauses (Redis's pauseClients): what is held, for whom, until when.

Several pauses can be in force at once, one per purpose: CLIENT PAUSE, a failover
(FAILOVER, or the master's side of CLUSTER FAILOVER) and a shutdown waiting for its
replicas, the last two holding writes until they end.
Each purpose keeps its own mode and end, and ends on its own (CLIENT UNPAUSE does not
lift a failover's pause); what the server applies is the strictest mode in force, until
the latest end among the pauses of that mode. Pure: the time comes in as an argument.
"""

from __future__ import annotations

PAUSE_OFF, PAUSE_WRITE, PAUSE_ALL = 0, 1, 2

# Purposes
PAUSE_BY_CLIENT = "client"  # CLIENT PAUSE / CLIENT UNPAUSE
PAUSE_DURING_FAILOVER = "failover"  # FAILOVER, CLUSTER FAILOVER's paused master
PAUSE_DURING_SHUTDOWN = "shutdown"  # a shutdown waiting for replicas (aikv/shutdown.py)

PAUSE_FOREVER = 1 << 62  # an end (ms) for a pause that lasts until it is lifted


def add_pause(pauses: dict[str, tuple[int, int]], purpose: str, mode: int, end_ms: int
              ) -> None:
    """Pause for `purpose`: over a pause it already has, the stricter mode and the later
    end win."""
    held = pauses.get(purpose)
    if held is not None:
        mode, end_ms = max(mode, held[0]), max(end_ms, held[1])
    pauses[purpose] = (mode, end_ms)


def pause_in_force(pauses: dict[str, tuple[int, int]], now_ms: int) -> tuple[int, int]:
    """Drop the pauses that ended before `now_ms`; the (mode, end) to apply."""
    for purpose, (_, end_ms) in list(pauses.items()):
        if end_ms < now_ms:
            del pauses[purpose]
    mode = max((m for m, _ in pauses.values()), default=PAUSE_OFF)
    end = max((e for m, e in pauses.values() if m == mode), default=0)
    return mode, end
