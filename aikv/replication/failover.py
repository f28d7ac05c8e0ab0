"""FAILOVER: this master hands its role to one of its replicas without losing a write
(Redis 7.0's coordinated failover, replication.c), then follows it.

1. FAILOVER pauses writes, under a pause of its own (CLIENT UNPAUSE does not end it):
   the replication stream stops growing, so its end (master_repl_offset) is final.
2. waiting-for-sync: every 100 ms, and as soon as a replica acknowledges, the target is
   looked for: the replica named by TO host port, or else the first replica whose
   acknowledged offset is master_repl_offset. Replicas acknowledge every second; a
   REPLCONF GETACK would not bring that sooner, since it is stream bytes itself (the
   offset would move past what the replica acknowledges in its answer).
   When TIMEOUT passes first, the failover is abandoned, or with FORCE the role is
   handed to the TO replica all the same.
3. failover-in-progress: this node becomes a replica of the target, offering its own
   replication id and offset as its position, and its first PSYNC says FAILOVER: the
   target, whose replication id is ours, stops being a replica and answers as a master,
   +CONTINUE when it holds everything (aikv/commands/replication.py `_sync` is that
   side). That answer, or +FULLRESYNC, ends the failover: the pause is lifted, and the
   writes it held now get READONLY. An error answer aborts it. This node's other
   replicas stay connected: they follow it as sub-replicas (chained replication), with
   a partial resynchronisation under the target's new id.

FAILOVER ABORT (or a refused PSYNC) ends a failover at any point; once this node is a
replica, ending it makes it a master again (with a new replication id, as after
REPLICAOF NO ONE).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from aikv.pause import PAUSE_DURING_FAILOVER, PAUSE_FOREVER

if TYPE_CHECKING:
    import asyncio

    from aikv.replication.source import Follower
    from aikv.server import Server

log = logging.getLogger("aikv.replication")

NO_FAILOVER = "no-failover"
WAIT_FOR_SYNC = "waiting-for-sync"
IN_PROGRESS = "failover-in-progress"
CHECK_SECONDS = 0.1  # Redis runs its replication cron every 100 ms during a failover


def now_ms() -> int:
    return int(time.time() * 1000)


def failover_state(server: Server) -> str:
    """INFO's master_failover_state."""
    failover = server.failover
    return NO_FAILOVER if failover is None else failover.state


def find_replica(server: Server, host: str, port: int) -> Follower | None:
    """The replica announced as host:port (REPLCONF ip-address, else its peer address,
    and REPLCONF listening-port)."""
    source = server.replication
    if source is None:
        return None
    host = host.lower()
    for follower in source.followers.values():
        if follower.ip.lower() == host and follower.listening_port == port:
            return follower
    return None


class Failover:
    def __init__(self, server: Server, target: tuple[str, int] | None, end_ms: int,
                 force: bool) -> None:
        self.server = server
        self.state = WAIT_FOR_SYNC
        self.target = target  # chosen by TO, or once a replica has caught up
        self.end_ms = end_ms  # the TIMEOUT's deadline (wall clock), 0 = none
        self.force = force
        self._timer: asyncio.TimerHandle | None = None
        self._check_queued = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        server = self.server
        log.info("FAILOVER requested to %s.", self._target_name())
        server.failover = self
        server.pause(writes_only=True, end_ms=PAUSE_FOREVER, purpose=PAUSE_DURING_FAILOVER)
        self._arm()

    def _arm(self) -> None:
        loop = self.server.loop
        assert loop is not None
        self._timer = loop.call_later(CHECK_SECONDS, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.server.failover is self and self.state == WAIT_FOR_SYNC:
            self.check()
            if self.server.failover is self and self.state == WAIT_FOR_SYNC:
                self._arm()

    def check_soon(self) -> None:
        """A replica acknowledged: look again once the command that told us is done."""
        if not self._check_queued and self.state == WAIT_FOR_SYNC:
            self._check_queued = True
            loop = self.server.loop
            assert loop is not None
            loop.call_soon(self._queued_check)

    def _queued_check(self) -> None:
        self._check_queued = False
        if self.server.failover is self:
            self.check()

    def _target_name(self) -> str:
        return "any replica" if self.target is None else "%s:%d" % self.target

    # ------------------------------------------------------------------ progress
    def check(self) -> None:
        """waiting-for-sync: time out, or hand over once the target has caught up
        (Redis's updateFailoverStatus)."""
        if self.state != WAIT_FOR_SYNC:
            return
        server = self.server
        if self.end_ms and self.end_ms <= now_ms():
            if self.force and self.target is not None:
                log.info("FAILOVER to %s time out exceeded, failing over.", self._target_name())
                self._hand_over()
            else:
                self.abort("Replica never caught up before timeout")
            return
        source = server.replication
        if source is None:
            return
        offset = source.offset
        if self.target is not None:
            follower = find_replica(server, *self.target)
        else:
            follower = next((f for f in source.followers.values() if f.ack_offset == offset),
                            None)
            if follower is not None:
                self.target = (follower.ip, follower.listening_port)
        if follower is not None and follower.ack_offset == offset:
            log.info("Failover target %s is synced, failing over.", self._target_name())
            self._hand_over()

    def _hand_over(self) -> None:
        assert self.target is not None
        self.state = IN_PROGRESS
        # The link's first PSYNC carries FAILOVER while the state is IN_PROGRESS.
        self.server.replicate_from(self.target)

    def psync_answered(self, accepted: bool) -> None:
        """The target answered the PSYNC FAILOVER: +CONTINUE or +FULLRESYNC (it is our
        master now), or anything else (it refused)."""
        if self.state != IN_PROGRESS or self.server.failover is not self:
            return
        if accepted:
            log.info("FAILOVER to %s completed.", self._target_name())
            self._clear()
        else:
            self.abort("Failover target rejected psync request")

    def abort(self, reason: str) -> None:
        log.info("FAILOVER to %s aborted: %s", self._target_name(), reason)
        if self.state == IN_PROGRESS:
            self.server.replicate_from(None)  # a master again
        self._clear()

    def _clear(self) -> None:
        server = self.server
        if server.failover is self:
            server.failover = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        server.unpause(PAUSE_DURING_FAILOVER)

