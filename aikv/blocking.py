"""Clients blocked on keys: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX,
BZMPOP.

The model is Redis 7.0's (blocked.c):

- A blocking command that finds no data registers the client on each of its keys
  (`waiting[(db, key)]`, insertion-ordered, so wake-ups are FIFO per key), sets
  `client.blocked` (CLIENT LIST shows flag `b`) and returns no reply.
- Commands that give a list or sorted set key data call `signal_key_ready()`; it only
  records the key when somebody waits on it, so it costs one dict lookup otherwise.
- After every top-level command (and after EXEC as a whole — the queued commands run
  through `server.call`, not `dispatch`) the server calls `handle_ready()`, which serves
  the waiters of every ready key in FIFO order while the key can serve them: Redis's
  `handleClientsBlockedOnKeys`. Everything happens inside the tick, so served replies
  leave after the group commit like any other reply. Serving may make other keys ready
  (BLMOVE pushes); the loop runs until no key is ready.
- A served or timed-out client gets its reply with `client.write()`, and the commands it
  sent while blocked run afterwards (`server.resume_client`), as Redis reprocesses an
  unblocked client's query buffer after serving the ready keys.
- Timeouts are `loop.call_later` handles, cancelled on serve or disconnect.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from aikv.commands.args import parse_long_double, round_to_long_double
from aikv.resp import NULL3, NULL_ARRAY, CommandError

if TYPE_CHECKING:
    import asyncio

    from aikv.client import Client
    from aikv.server import Server

# serve(key) -> encoded reply when this key could serve the client, None when it cannot
# (gone, empty, or holding another type: the client keeps waiting).
Serve = Callable[[bytes], "bytes | None"]

TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
LLONG_MIN = -(2**63)
LLONG_MAX = 2**63 - 1

UNBLOCKED_ERROR = b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"


class BlockedState:
    """What a blocked client waits for; `client.blocked` holds it."""

    __slots__ = ("db_index", "keys", "serve", "timer", "command", "argv", "took")

    def __init__(self, db_index: int, keys: list[bytes], serve: Serve, command: bytes) -> None:
        self.db_index = db_index
        self.keys = keys
        self.serve = serve
        self.timer: asyncio.TimerHandle | None = None
        self.command = command
        # The blocking call, when slow enough for the slowlog: it is logged once served
        # (Redis's updateStatsOnUnblock), with its own arguments and duration.
        self.argv: list[bytes] | None = None
        self.took = 0


class Blocking:
    def __init__(self, server: Server) -> None:
        self.server = server
        # (db, key) -> {client id: client}, in blocking order.
        self.waiting: dict[tuple[int, bytes], dict[int, Client]] = {}
        # Keys that received data while somebody waited on them, in signal order.
        self.ready: dict[tuple[int, bytes], None] = {}
        self._to_resume: list[Client] = []
        self._handling = False

    # ------------------------------------------------------------------ blocking
    def block(self, client: Client, keys: list[bytes], deadline_ms: int, serve: Serve,
              command: bytes) -> bytes:
        """Park `client` on `keys` until served or `deadline_ms` (absolute; 0 = never).
        Returns the empty reply the handler hands back to the dispatcher."""
        unique = list(dict.fromkeys(keys))
        state = BlockedState(client.db_index, unique, serve, command)
        for key in unique:
            self.waiting.setdefault((client.db_index, key), {})[client.id] = client
        client.blocked = state
        if command.lower() == b"xreadgroup":
            db = self.server.databases[client.db_index]
            db.stream_readers += 1
            db.on_stream_gone = self.stream_gone
        if deadline_ms:
            loop = self.server.loop
            assert loop is not None
            delay = max(0.0, (deadline_ms - self.server.clock.now_ms) / 1000.0)
            state.timer = loop.call_later(delay, self._timed_out, client)
        return b""

    def _detach(self, client: Client) -> BlockedState | None:
        state = client.blocked
        if not isinstance(state, BlockedState):
            return None
        client.blocked = None
        if state.timer is not None:
            state.timer.cancel()
        if state.command.lower() == b"xreadgroup":
            self.server.databases[state.db_index].stream_readers -= 1
        for key in state.keys:
            entry = (state.db_index, key)
            waiters = self.waiting.get(entry)
            if waiters is not None:
                waiters.pop(client.id, None)
                if not waiters:
                    del self.waiting[entry]
        return state

    def stream_gone(self, db_index: int, key: bytes | None) -> None:
        """A stream was deleted or overwritten by another value (key None: the database
        was flushed) while XREADGROUP clients wait in `db_index`: its waiters look again
        and, finding no stream, get UNBLOCKED (Redis: dbGenericDelete / dbOverwrite /
        scanDatabaseForDeletedStreams signal the key)."""
        if key is not None:
            if (db_index, key) in self.waiting:
                self.ready[(db_index, key)] = None
            return
        for entry in self.waiting:
            if entry[0] == db_index:
                self.ready[entry] = None

    # ------------------------------------------------------------------ wake-ups
    def _serve(self, state: BlockedState, key: bytes) -> bytes | None:
        """state.serve(key); while replicas are connected, what the served command
        changed reaches them as one batch (MULTI/EXEC when more than one command), as
        Redis propagates each served client's effects."""
        server = self.server
        if server.propagator is None:
            return state.serve(key)
        from aikv.replication.propagate import Frame

        outer = server.propagation_frame
        frame = server.propagation_frame = Frame()
        try:
            reply = state.serve(key)
        finally:
            server.propagation_frame = outer
        if frame.effects:
            if outer is not None:
                outer.effects.extend(frame.effects)
            else:
                server.propagator(frame.effects)
        return reply

    def handle_ready(self) -> None:
        """Serve the waiters of every ready key (see the module docstring)."""
        if self._handling:
            return  # a resumed client's command: the running loop picks its keys up
        self._handling = True
        # As Redis's handleClientsBlockedOnKeys (updateCachedTime): keys are looked up at
        # the current time, so one that expired meanwhile (a DEBUG SLEEP or a long script
        # after the PEXPIRE in the same EXEC) serves nobody.
        self.server.clock.refresh()
        try:
            while self.ready or self._to_resume:
                while self.ready:
                    entry = next(iter(self.ready))
                    del self.ready[entry]
                    waiters = self.waiting.get(entry)
                    if not waiters:
                        continue
                    for client in list(waiters.values()):
                        state = client.blocked
                        if not isinstance(state, BlockedState):
                            continue
                        self._serve_one(client, state, entry[1])
                if self._to_resume:
                    resume = self._to_resume
                    self._to_resume = []
                    for client in resume:
                        if not client.closing:
                            self.server.resume_client(client)
        finally:
            self._handling = False

    def _serve_one(self, client: Client, state: BlockedState, key: bytes) -> None:
        """Run a waiter's command as that client: the invalidations it causes for its
        own tracked keys follow its reply (as Redis, where the served client is the
        current client), not precede it."""
        tracking = self.server.tracking
        if tracking is not None:
            outer = tracking.current, tracking.pending
            tracking.current, tracking.pending = client, []
        try:
            reply = self._serve(state, key)
            if reply is None:
                return
            self._detach(client)
            if reply[:1] == b"-":
                self.server.count_failed_unblock(state.command, reply)
            self._record_latency(state)
            if state.argv is not None:
                self._slowlog(client, state)
            client.write(reply)
            if tracking is not None:
                tracking.send_pending(client)
            self._to_resume.append(client)
        finally:
            if tracking is not None:
                tracking.current, tracking.pending = outer

    def _slowlog(self, client: Client, state: BlockedState) -> None:
        """A served blocking call enters the slowlog now, as the command the client sent
        (Redis's updateStatsOnUnblock; its call was not logged while it blocked)."""
        server = self.server
        cmd = server.lookup_command(state.command)
        if cmd is not None and state.argv is not None:
            server.slowlog.push(client, cmd, state.argv, state.took,
                                server.config.values["slowlog-max-len"])

    def _record_latency(self, state: BlockedState) -> None:
        """latency-tracking counts a blocking call when it is served, with the duration
        of its call, as Redis's updateStatsOnUnblock (a timed-out one is not counted)."""
        server = self.server
        if not server.latency_tracking:
            return
        cmd = server.lookup_command(state.command)
        if cmd is not None:
            latency = cmd.latency
            latency[state.took] = latency.get(state.took, 0) + 1

    def _timed_out(self, client: Client) -> None:
        state = self._detach(client)
        if state is None:
            return
        self.server.clock.refresh()
        client.write(NULL3 if client.resp3 else NULL_ARRAY)
        self.server.resume_client(client)
        if self.ready:
            self.handle_ready()

    def unblock(self, client: Client, with_error: bool = False) -> bool:
        """CLIENT UNBLOCK: end the wait as a timeout would, or with the UNBLOCKED error.
        False if the client was not blocked here."""
        state = self._detach(client)
        if state is None:
            return False
        if with_error:
            client.write(UNBLOCKED_ERROR)
        else:
            client.write(NULL3 if client.resp3 else NULL_ARRAY)
        self.server.count_failed_unblock(state.command, UNBLOCKED_ERROR if with_error else None)
        self.server.resume_client(client)
        if self.ready:
            self.handle_ready()
        return True

    def fail(self, client: Client, reply: bytes) -> None:
        """End a wait with an error reply (a cluster redirection: the slot moved away or
        the cluster went down while the client waited)."""
        if self._detach(client) is None:
            return
        client.write(reply)
        self.server.resume_client(client)

    def waiting_clients(self) -> list[tuple[Client, list[bytes]]]:
        return [(c, c.blocked.keys) for c in self.server.clients.values()
                if isinstance(c.blocked, BlockedState)]

    def client_gone(self, client: Client) -> None:
        self._detach(client)

    @property
    def blocked_clients(self) -> int:
        return sum(1 for c in self.server.clients.values() if c.blocked is not None)


# ---------------------------------------------------------------------- module API
def get_blocking(server: Server) -> Blocking:
    blocking = server.blocking
    if blocking is None:
        blocking = server.blocking = Blocking(server)
    assert isinstance(blocking, Blocking)
    return blocking


def signal_key_ready(server: Any, db_index: int, key: bytes) -> None:
    """A list or sorted set at `key` received data (created by a push, RENAME, RESTORE,
    MOVE, a STORE command, ...). Cheap when nobody is blocked on it."""
    blocking = server.blocking
    if blocking is not None and (db_index, key) in blocking.waiting:
        blocking.ready[(db_index, key)] = None


def parse_timeout(client: Client, raw: bytes) -> int:
    """A blocking command's timeout in seconds -> absolute deadline in ms (0 = forever),
    with Redis 7.0.15's checks: long double parse, `ceill(value * 1000.0)` (so 0.001 or
    0.0001 is 1 ms, never 0 = forever); values a C cast cannot represent come out as
    LLONG_MIN, hence 'negative' for inf and 1e300."""
    if raw.isdigit() and len(raw) < 15:
        ms = int(raw) * 1000
    else:
        value = parse_long_double(raw, TIMEOUT_NOT_FLOAT)
        if isinstance(value, float):  # +/-inf
            ms = LLONG_MIN
        else:
            try:
                scaled = round_to_long_double(value * 1000)  # the long double product
            except OverflowError:
                scaled = Fraction(LLONG_MIN)
            ms = math.ceil(scaled)
            if ms > LLONG_MAX or ms < LLONG_MIN:
                ms = LLONG_MIN
    if ms < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    if ms == 0:
        return 0
    return client.server.clock.now_ms + ms


def may_block(client: Client) -> bool:
    """False inside EXEC (and scripts): blocking commands then answer nil at once."""
    return not getattr(client, "deny_blocking", False)
