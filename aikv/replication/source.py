"""This node as a master to replicas: Redis's replication protocol, master side.

A replica connects as a client and sends REPLCONF (listening-port, ip-address, capa)
then PSYNC <replid> <offset> (or the old SYNC). The first replica starts propagation
(aikv/replication/propagate.py): from then on the effects of every command are encoded
as RESP commands, with a SELECT whenever the database changes, and appended to the
replication stream. The stream's bytes are numbered (master_repl_offset); the last
repl-backlog-size of them stay in the backlog.

- Full resynchronisation: +FULLRESYNC <replid> <offset>, then the dataset as an RDB file
  ($<length> and the bytes) holding exactly the commands up to <offset>: it is written
  from an LMDB snapshot taken with the reply, a few milliseconds per event-loop turn
  while the node serves on (aikv/replication/snapshot.py; Redis forks a child for it).
  The stream produced meanwhile waits in the replica's buffer and follows the file.
- Partial resynchronisation: a replica that asks for our replid (or the one before a
  promotion) from an offset still in the backlog gets +CONTINUE and the bytes since.
- Replicas acknowledge with REPLCONF ACK <offset> (every second, and when asked with
  REPLCONF GETACK); WAIT counts those acknowledgements, and min-replicas-to-write counts
  the replicas heard from within min-replicas-max-lag seconds. No GETACK is sent while
  clients are paused (it would grow the stream a failover waits on); it goes after.
- A promoted replica starts its stream where its master's stopped, under a new id
  (ReplicationSource.promoted); FAILOVER is aikv/replication/failover.py.
- The master PINGs its replicas through the stream every repl-ping-replica-period
  seconds, so they can tell a quiet master from a dead link; a replica silent for
  repl-timeout seconds is dropped.

- The replication id and offset are stored with the data, in the commit of each tick
  (as Redis 7 keeps them in the RDB file it saves at shutdown): a restarted master takes
  them up with an empty backlog, so a replica that had received everything up to the
  restart (a clean stop, or a kill -9, since the stream only leaves after its commit)
  continues with a partial resynchronisation. repl-backlog-ttl seconds without any
  replica end all this (Redis frees its backlog then): propagation stops and the next
  replica starts with a full resynchronisation.

- Chained replication: a replica serves replicas of its own (sub-replicas) with the same
  machinery, relaying (ReplicationSource.relaying): its replication id and offset are
  its master's (the id of its last +FULLRESYNC / +CONTINUE, the offset it applied), its
  backlog is the stream it applied (the ReplicaLink's), and the sub-replicas get that
  stream byte for byte as the master sent it (its PINGs, SELECTs, GETACKs: Redis's
  replicationFeedStreamFromMasterStream), never a stream of its own, so offsets are the
  same along the chain. A full resynchronisation of the node itself (a new dataset)
  disconnects its sub-replicas and forgets the backlog; a +CONTINUE under a new id, or
  a promotion, disconnects them too, and they continue with a partial one.

- REPLCONF rdb-only 1 (redis-cli --rdb): the file alone, then the connection ends;
  rdb-filter-only (redis-cli --functions-rdb): the file with only what the filter names
  ("functions", or nothing at all for an empty filter).

Not implemented: diskless sync.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aikv.blocking import UNBLOCKED_ERROR
from aikv.info import MASTER_REPLID
from aikv.migrate.migrate import encode_command
from aikv.replication import position
from aikv.replication.backlog import Backlog
from aikv.replication.failover import failover_state
from aikv.replication.propagate import Effect
from aikv.replication.snapshot import SnapshotJob

if TYPE_CHECKING:
    import asyncio

    from aikv.client import Client
    from aikv.server import Server

log = logging.getLogger("aikv.replication")

NO_REPLID = "0" * 40
_MULTI = encode_command(b"MULTI")
_EXEC = encode_command(b"EXEC")
_PING = encode_command(b"PING")
_GETACK = encode_command(b"REPLCONF", b"GETACK", b"*")
_SELECT = [encode_command(b"SELECT", str(i).encode()) for i in range(16)]
# RESP templates of commands with 1-15 arguments (feed's common case).
_TEMPLATES = {n: b"*%d\r\n" % n + b"$%d\r\n%s\r\n" * n for n in range(1, 16)}


class Follower:
    """A replica connected to this node, as INFO and ROLE describe it."""

    __slots__ = ("client", "listening_port", "address", "capa", "state", "rdb_only",
                 "rdb_filter", "ack_offset",
                 "ack_time", "pending")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.listening_port = 0
        self.address = ""  # REPLCONF ip-address (replica-announce-ip), else its peer
        self.capa: set[str] = set()
        self.state = "wait_bgsave"
        self.rdb_only = False  # REPLCONF rdb-only 1: the file, then the end
        # REPLCONF rdb-filter-only: what the file holds (None: everything).
        self.rdb_filter: set[str] | None = None
        self.ack_offset = 0
        self.ack_time = time.monotonic()
        # While its RDB file is being written: the stream produced meanwhile.
        self.pending: list[bytes] | None = None

    @property
    def ip(self) -> str:
        if self.address:
            return self.address
        return self.client.addr.rsplit(":", 1)[0]


def follower_of(client: Client) -> Follower:
    """The replica record of `client`, made by its first REPLCONF or SYNC (a REPLCONF
    alone does not make the client a replica, nor start a replication stream)."""
    follower = client.replica_state
    if follower is None:
        follower = client.replica_state = Follower(client)
    return follower


class Waiter:
    """A client blocked in WAIT: it needs `count` replicas at `offset` by `deadline`."""

    __slots__ = ("client", "offset", "count", "timer")

    def __init__(self, client: Client, offset: int, count: int) -> None:
        self.client = client
        self.offset = offset
        self.count = count
        self.timer: asyncio.TimerHandle | None = None


def start_wait(server: Server, waiters: list[Waiter], client: Client, count: int,
               timeout_ms: int, on_timeout: Callable[[Waiter], None]) -> None:
    """Block `client` until `count` replicas acknowledged what it has seen done (its
    woff); `on_timeout` ends the wait after `timeout_ms` (0: never). end_wait undoes it."""
    waiter = Waiter(client, client.woff, count)
    client.blocked = waiter
    if timeout_ms:
        loop = server.loop
        assert loop is not None
        waiter.timer = loop.call_later(timeout_ms / 1000, on_timeout, waiter)
    waiters.append(waiter)


def end_wait(server: Server, waiters: list[Waiter], waiter: Waiter,
             reply: bytes | None) -> None:
    """Take `waiter` out of `waiters` (its timer stopped) and answer its client with
    `reply`, then run what it sent meanwhile; None: its client is gone, only forget it."""
    if waiter not in waiters:
        return
    waiters.remove(waiter)
    if waiter.timer is not None:
        waiter.timer.cancel()
    if reply is None:
        return
    client = waiter.client
    if client.blocked is waiter:
        client.blocked = None
    if not client.closing:
        client.write(reply)
        server.resume_client(client)


class LoneWaits:
    """WAIT on a master that never had a replica. It has no ReplicationSource (one would
    start propagating every write), and nothing can acknowledge: as in Redis, a client
    asking for replicas waits for its timeout (for ever with 0) and gets 0, unless CLIENT
    UNBLOCK ends it or a first replica's source takes the wait over (hand_over)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.waiters: list[Waiter] = []

    def wait(self, client: Client, count: int, timeout_ms: int) -> None:
        start_wait(self.server, self.waiters, client, count, timeout_ms, self._over)

    def _over(self, waiter: Waiter, reply: bytes = b":0\r\n") -> None:
        source = self.server.replication
        if source is not None and waiter in source.waiters:  # handed over meanwhile
            source._wait_over(waiter)
            return
        end_wait(self.server, self.waiters, waiter, reply)

    def unblock(self, client: Client, with_error: bool) -> bool:
        """CLIENT UNBLOCK: the count so far (0), or the UNBLOCKED error."""
        waiter = client.blocked
        if not isinstance(waiter, Waiter) or waiter not in self.waiters:
            return False
        self.server.count_failed_unblock(b"wait", UNBLOCKED_ERROR if with_error else None)
        self._over(waiter, UNBLOCKED_ERROR if with_error else b":0\r\n")
        return True

    def client_gone(self, client: Client) -> None:
        if isinstance(client.blocked, Waiter):
            end_wait(self.server, self.waiters, client.blocked, None)

    def hand_over(self, source: ReplicationSource) -> None:
        """The first replica's source serves the waits from now on (their timers come
        back here and are passed on)."""
        source.waiters.extend(self.waiters)
        self.waiters.clear()


class ReplicationSource:
    def __init__(self, server: Server, replid: str = MASTER_REPLID, offset: int = 0,
                 relaying: bool = False) -> None:
        self.server = server
        # A replica's: the stream is its master's, relayed (see relay), not produced here.
        self.relaying = relaying
        self.replid = replid
        self.replid2 = NO_REPLID
        self.second_offset = -1
        self.offset = offset  # master_repl_offset: bytes of stream produced so far
        self._pending: list[bytes] = []  # produced, not yet flushed (see feed)
        self._saved_offset = -1
        self.alone_since = time.monotonic()  # no replica since (repl-backlog-ttl)
        self.backlog = Backlog(offset)
        self.followers: dict[int, Follower] = {}  # client id -> replica
        self.selected_db = -1  # the database the stream last SELECTed
        self.waiters: list[Waiter] = []
        self._ack_requested = False
        self.last_ping = time.monotonic()
        if not relaying:
            server.start_propagating(self.feed)

    # ------------------------------------------------------------------ position
    @classmethod
    def resume(cls, server: Server) -> ReplicationSource | None:
        """At start-up: the stream's position stored by an earlier run, taken up with an
        empty backlog; None when there is none. As a restarted Redis master does, the
        stream goes on under this run's new id, the stored one kept as the secondary id
        up to the stored offset, so that replicas continue with either."""
        raw = position.read(server, position.MASTER)
        if raw is None:
            return None
        try:
            replid, offset = raw.decode().split()
            source = cls(server, MASTER_REPLID, int(offset))
        except ValueError:
            return None
        source.replid2 = replid
        source.second_offset = source.offset + 1
        log.info("Replication id %s and offset %d of an earlier run taken up.", replid,
                 source.offset)
        return source

    @classmethod
    def promoted(cls, server: Server, replid2: str, offset: int,
                 backlog: Backlog) -> ReplicationSource:
        """A replica becomes a master (REPLICAOF NO ONE, PSYNC FAILOVER, a cluster
        promotion): its stream goes on from where its master's stopped, under a new id.
        The master's id stays valid up to that point (replid2, second_offset), and the
        replica's backlog of it is kept: the old master and its other replicas, who share
        that history, can continue with a partial resynchronisation (Redis's
        shiftReplicationId)."""
        source = cls(server, secrets.token_hex(20), offset)
        if replid2 == NO_REPLID:  # it never synchronised: no history to go on with
            return source
        source.replid2 = replid2
        source.second_offset = offset + 1  # the first byte the old history lacks
        backlog.cut(offset)
        source.backlog = backlog
        log.warning("Setting secondary replication ID to %s, valid up to offset: %d. New "
                    "replication ID is %s", replid2, source.second_offset, source.replid)
        return source

    @classmethod
    def relaying_for(cls, server: Server, replid: str, offset: int,
                     backlog: Backlog) -> ReplicationSource:
        """A replica's first sub-replica: the stream served is the master's, from where
        the replica stands in it (`backlog` is the replica's, shared: the link appends
        what it applies, and this source sends it on, see relay)."""
        source = cls(server, replid, offset, relaying=True)
        source.backlog = backlog
        return source

    def start_relaying(self) -> Backlog:
        """This master becomes a replica: its replicas stay (Redis keeps them until the new
        master's answer says whether the history goes on), but the stream will be the new
        master's, relayed; nothing of this node's is produced any more. Returns the backlog,
        which the replica link continues."""
        self.flush()
        self.relaying = True
        self.forget_position()
        self.server.stop_propagating()
        return self.backlog

    def relay(self, data: bytes) -> None:
        """Bytes of the master's stream, applied by this replica: on to its sub-replicas as
        they came (the link has put them in the shared backlog)."""
        self.offset += len(data)
        for follower in self.followers.values():
            if follower.pending is not None:
                follower.pending.append(data)
            else:
                follower.client.write(data)

    def master_continued(self, replid: str) -> None:
        """The link's partial resynchronisation was accepted under `replid`. A new id (the
        master is a promoted replica) becomes ours, the old one staying valid up to here,
        and the sub-replicas are disconnected to learn it; they continue with +CONTINUE
        (Redis's reaction to a +CONTINUE with a new id)."""
        if replid == self.replid:
            return
        self.replid2 = self.replid
        self.second_offset = self.offset + 1
        self.replid = replid
        log.warning("Master replication ID changed to %s", replid)
        self.disconnect_followers()

    def disconnect_followers(self) -> None:
        for follower in list(self.followers.values()):
            self.replica_gone(follower.client)
            follower.client.close()

    def save_position(self) -> None:
        """At the end of a tick: the offset reached goes into the tick's commit (a relaying
        replica's position is the link's)."""
        if self.relaying or self.offset == self._saved_offset:
            return
        if position.write(self.server, position.MASTER,
                          b"%s %d" % (self.replid.encode(), self.offset)):
            self._saved_offset = self.offset

    def forget_position(self) -> None:
        position.forget(self.server, position.MASTER)

    # ------------------------------------------------------------------ the stream
    def feed(self, effects: list[Effect]) -> None:
        """Add the effects of one command to the stream: SELECT when the database
        changes, MULTI/EXEC around more than one effect (Redis's propagatePendingCommands).
        The bytes count in the offset at once (WAIT, ROLE); they reach the backlog and the
        replicas together at the end of the tick (flush), one write per replica."""
        parts = self._pending
        before = len(parts)
        if not parts:
            # A command that wrote nothing (PUBLISH, or a transaction of them) opens no
            # tick of its own: the stream must still leave at the end of this one.
            self.server.schedule_tick()
        wrap = len(effects) > 1
        if wrap:
            # The first effect's database is selected before MULTI, as Redis's
            # propagatePendingCommands does.
            first_db = effects[0][0]
            if first_db != self.selected_db:
                parts.append(_SELECT[first_db] if first_db < 16
                             else encode_command(b"SELECT", str(first_db).encode()))
                self.selected_db = first_db
            parts.append(_MULTI)
        for db_index, argv in effects:
            if db_index != self.selected_db:
                parts.append(_SELECT[db_index] if db_index < 16
                             else encode_command(b"SELECT", str(db_index).encode()))
                self.selected_db = db_index
            template = _TEMPLATES.get(len(argv))
            if template is not None:  # one formatting for the whole command
                values: list[int | bytes] = []
                for arg in argv:
                    values.append(len(arg))
                    values.append(arg)
                parts.append(template % tuple(values))
            else:
                parts.append(encode_command(*argv))
        if wrap:
            parts.append(_EXEC)
        self.offset += sum(map(len, parts[before:])) if wrap or len(parts) - before > 1 \
            else len(parts[-1])

    def _emit(self, data: bytes) -> None:
        """Bytes produced outside a command (PING, GETACK): sent at once."""
        self._pending.append(data)
        self.offset += len(data)
        self.flush()

    def flush(self) -> None:
        """The stream produced since the last flush goes to the backlog and the replicas."""
        pending = self._pending
        if not pending:
            return
        data = b"".join(pending)
        pending.clear()
        self.backlog.append(data, self.server.config.values["repl-backlog-size"])
        for follower in self.followers.values():
            if follower.pending is not None:
                follower.pending.append(data)
            else:
                follower.client.write(data)

    @property
    def backlog_first_offset(self) -> int:
        """The offset of the backlog's first byte (Redis numbers bytes from 1), with
        everything produced flushed."""
        self.flush()
        return self.backlog.first_offset

    # ------------------------------------------------------------------ synchronisation
    def psync(self, client: Client, replid: bytes, offset_text: bytes | None) -> bytes:
        """SYNC (offset_text None) or PSYNC: the reply, with the RDB file or the
        backlog's bytes after it; the client is a replica from now on."""
        server = self.server
        follower = follower_of(client)
        self.flush()  # the stream so far goes to the others; this replica starts after it
        if offset_text is not None:
            try:
                offset = int(offset_text)
            except ValueError:
                log.warning("Replica %s asks for synchronization but with a wrong offset",
                            client.addr)
                return b"-ERR value is not an integer or out of range\r\n"
            wanted = replid.decode(errors="replace")
            if self._can_continue(wanted, offset):
                self._attach(follower)
                server.stat_sync_partial_ok += 1
                log.info("Partial resynchronization request from %s accepted. Sending "
                         "%d bytes of backlog starting from offset %d.", client.addr,
                         self.offset + 1 - offset, offset)
                head = (b"+CONTINUE %s\r\n" % self.replid.encode() if "psync2" in follower.capa
                        else b"+CONTINUE\r\n")
                return head + self.backlog.since(offset)
            if not wanted.startswith("?"):
                server.stat_sync_partial_err += 1
        # Full resynchronisation: the snapshot and the offset describe the same moment.
        # A relaying replica's stream goes on in the database its master's selected.
        link = server.replica
        stream_db = 0
        if self.relaying and link is not None and link.master_client is not None:
            stream_db = link.master_client.db_index
        try:
            only = follower.rdb_filter
            job = SnapshotJob(server, self.replid, self.offset,
                              lambda chunks: self._rdb_written(follower, chunks),
                              lambda: client.closing or follower.client.id not in self.followers,
                              stream_db, keys=only is None,
                              functions=only is None or "functions" in only)
        except Exception as exc:  # the commit before the snapshot failed (disk error)
            log.warning("Full resynchronization of %s refused: %s", client.addr, exc)
            return b"-ERR cannot take a snapshot of the dataset for a replica now\r\n"
        log.info("Starting a full resynchronization of %s from offset %d.", client.addr,
                 self.offset)
        server.stat_sync_full += 1
        self.selected_db = -1  # the stream that follows starts with a SELECT
        follower.state = "wait_bgsave"
        follower.pending = []
        self.followers[client.id] = follower
        job.start()
        return b"" if offset_text is None else b"+FULLRESYNC %s %d\r\n" % (
            self.replid.encode(), self.offset)

    def _rdb_written(self, follower: Follower, chunks: list[bytes]) -> None:
        """The file is ready: it goes, then the stream kept for the replica meanwhile."""
        client = follower.client
        if not chunks or client.closing:
            self.replica_gone(client)
            client.close()
            return
        client.write(b"$%d\r\n" % sum(map(len, chunks)))
        for chunk in chunks:
            client.write(chunk)
        if follower.rdb_only:
            log.info("RDB transfer completed, rdb only replica (%s) should be disconnected "
                     "asap", client.addr)
            self.replica_gone(client)
            client.close_after_reply = True
            return
        for data in follower.pending or ():
            client.write(data)
        follower.pending = None
        self._attach(follower)

    def _can_continue(self, replid: str, offset: int) -> bool:
        if replid != self.replid and not (replid == self.replid2
                                          and offset <= self.second_offset):
            return False
        self.flush()
        return self.backlog.holds(offset)

    def _attach(self, follower: Follower) -> None:
        follower.state = "online"
        follower.ack_time = time.monotonic()
        self.followers[follower.client.id] = follower
        self.server.update_write_gates()

    def replica_gone(self, client: Client) -> None:
        if self.followers.pop(client.id, None) is not None:
            log.info("Connection with replica %s lost.", client.addr)
            if not self.followers:
                self.alone_since = time.monotonic()
            self.server.update_write_gates()

    def ack(self, client: Client, offset: int) -> None:
        follower = self.followers.get(client.id)
        if follower is None:
            return
        if offset > follower.ack_offset:
            follower.ack_offset = offset
        follower.ack_time = time.monotonic()
        if self.waiters:
            self._serve_waiters()
        failover = self.server.failover
        if failover is not None:
            # Not from here: handing over changes the role, and the replicas with it.
            failover.check_soon()

    # ------------------------------------------------------------------ WAIT
    def acked(self, offset: int) -> int:
        return sum(1 for f in self.followers.values()
                   if f.state == "online" and f.ack_offset >= offset)

    def wait(self, client: Client, count: int, timeout_ms: int) -> bytes | None:
        """WAIT: the reply now, or None when the client blocks until `count` replicas
        acknowledged the offset after the client's previous command (all it wrote, and
        what others wrote before it) or the timeout passes."""
        acked = self.acked(client.woff)
        if acked >= count or client.multi is not None or client.in_exec \
                or client.in_script:
            return b":%d\r\n" % acked
        start_wait(self.server, self.waiters, client, count, timeout_ms, self._wait_over)
        self.request_acks()
        return None

    def request_acks(self) -> None:
        """Ask every replica for an acknowledgement (REPLCONF GETACK *), once per tick."""
        if not self._ack_requested and self.followers:
            self._ack_requested = True
            loop = self.server.loop
            assert loop is not None
            loop.call_soon(self._send_getack)

    def _send_getack(self) -> None:
        if self.server.pause_mode:
            # The stream must not grow while clients are paused (a failover waits for a
            # replica to reach its final offset): asked again when the pause ends.
            return
        self._ack_requested = False
        if self.followers and not self.relaying:  # a replica relays its master's GETACKs
            self._emit(_GETACK)

    def ask_acks_now(self) -> None:
        """REPLCONF GETACK * to every replica at once (a shutdown asks before it pauses
        the writes, which would hold a request made the usual way)."""
        self._ack_requested = False
        if self.followers and not self.relaying:
            self._emit(_GETACK)

    def pause_lifted(self) -> None:
        """Clients run again: an acknowledgement request held by the pause goes now."""
        if self._ack_requested:
            self._send_getack()

    def _serve_waiters(self) -> None:
        for waiter in list(self.waiters):
            if self.acked(waiter.offset) >= waiter.count:
                self._wait_over(waiter)

    def unblock(self, client: Client, with_error: bool) -> bool:
        """CLIENT UNBLOCK of a client in WAIT; False if it is not waiting here."""
        waiter = client.blocked
        if not isinstance(waiter, Waiter) or waiter not in self.waiters:
            return False
        self.server.count_failed_unblock(b"wait", UNBLOCKED_ERROR if with_error else None)
        if with_error:
            end_wait(self.server, self.waiters, waiter, UNBLOCKED_ERROR)
        else:
            self._wait_over(waiter)
        return True

    def _wait_over(self, waiter: Waiter) -> None:
        end_wait(self.server, self.waiters, waiter, b":%d\r\n" % self.acked(waiter.offset))

    def client_gone(self, client: Client) -> None:
        """A client closed: it stops waiting, and stops being a replica."""
        if isinstance(client.blocked, Waiter):
            end_wait(self.server, self.waiters, client.blocked, None)
        self.replica_gone(client)

    # ------------------------------------------------------------------ cron
    def cron(self) -> None:
        """Once a second: PING replicas through the stream every repl-ping-replica-period
        seconds, drop those silent for repl-timeout seconds, and stop propagating after
        repl-backlog-ttl seconds without any replica."""
        values = self.server.config.values
        now = time.monotonic()
        ttl = values["repl-backlog-ttl"]
        if self.relaying:
            # A replica keeps its backlog, and its master's PINGs are what it relays.
            self._drop_silent(now, values["repl-timeout"])
            return
        if not self.followers and ttl and now - self.alone_since > ttl:
            log.info("Replication backlog freed after %d seconds without replicas.", ttl)
            self.server.stop_serving_replicas(backlog_expired=True)
            return
        if self.followers and now - self.last_ping >= values["repl-ping-replica-period"] \
                and not self._failover_pause():
            self.last_ping = now
            self._emit(_PING)
        self._drop_silent(now, values["repl-timeout"])

    def _drop_silent(self, now: float, timeout: int) -> None:
        for follower in list(self.followers.values()):
            if follower.state == "online" and now - follower.ack_time > timeout:
                log.warning("Disconnecting timedout replica (streaming sync): %s",
                            follower.client.addr)
                self.replica_gone(follower.client)
                follower.client.close()

    def _failover_pause(self) -> bool:
        """Writes paused for a failover whose offset must stay final: a cluster manual
        failover (the paused master advertised it to its replica) or a FAILOVER with a
        TIMEOUT. (As in Redis, a FAILOVER without one lets the PING through; the replica
        acknowledges it a second later.)"""
        server = self.server
        cluster = server.cluster
        if cluster is not None and cluster.manual_failover_in_progress():
            return True
        failover = server.failover
        return failover is not None and failover.end_ms != 0 and server.pause_mode != 0

    def good_replicas(self, max_lag: int) -> int:
        """Replicas heard from within `max_lag` seconds (min-replicas-to-write)."""
        now = time.monotonic()
        return sum(1 for f in self.followers.values()
                   if f.state == "online" and now - f.ack_time <= max_lag)

    # ------------------------------------------------------------------ reports
    def info_fields(self) -> list[tuple[str, Any]]:
        now = time.monotonic()
        fields: list[tuple[str, Any]] = [("connected_slaves", len(self.followers))]
        for i, f in enumerate(self.followers.values()):
            fields.append((f"slave{i}", f"ip={f.ip},port={f.listening_port},state={f.state},"
                                        f"offset={f.ack_offset},lag={int(now - f.ack_time)}"))
        fields += [
            ("master_failover_state", failover_state(self.server)),
            ("master_replid", self.replid),
            ("master_replid2", self.replid2),
            ("master_repl_offset", self.offset),
            ("second_repl_offset", self.second_offset),
            ("repl_backlog_active", 1),
            ("repl_backlog_size", self.server.config.values["repl-backlog-size"]),
            ("repl_backlog_first_byte_offset", self.backlog_first_offset),
            ("repl_backlog_histlen", self.backlog.histlen),
        ]
        return fields

    def role_replicas(self) -> list[tuple[str, int, int]]:
        return [(f.ip, f.listening_port, f.ack_offset) for f in self.followers.values()]
