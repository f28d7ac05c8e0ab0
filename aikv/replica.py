"""This node as a replica of a master (REPLICAOF host port, or `replicaof` at start-up):
the replica side of Redis's replication protocol, so that an AiKv node can follow a
redis-server (or any master speaking PSYNC) and hold a live copy of its data.

The link, as a Redis 7.0 replica runs it: connect, PING, AUTH with masterauth (and
masteruser) when set, REPLCONF listening-port and capa psync2, then PSYNC. The first
time it is PSYNC ? -1, a full synchronisation: the master answers +FULLRESYNC <replid>
<offset> and sends its dataset as an RDB file ($<length> and the bytes; AiKv does not
announce `capa eof`, so a diskless master writes the file first for it), which
replaces this node's data (all databases, and the function libraries). Then every
command the master propagates is run as the master's client, in order. REPLCONF GETACK
is answered with REPLCONF ACK <offset>, and an ACK also goes every second, as masters
expect. A lost or silent link (repl-timeout seconds without a byte; a master PINGs
every 10 s) is reconnected after a second with PSYNC <replid> <offset + 1>: a master
that still has the commands since then in its backlog answers +CONTINUE and sends them
(a partial resynchronisation), otherwise it starts a full one. The offset counts only
commands that ran: the commands of a MULTI count when its EXEC has run, and a
transaction cut by a lost link is discarded and sent again, as Redis's replicas do.

While this node is a replica, clients may read but not write (replica-read-only: the
writes get READONLY), keys are not expired here (the master sends their DELs; reads
already hide keys past their deadline), and REPLICAOF NO ONE turns it back into a master
that keeps the data it has. The stream it applied stays in a backlog
(repl-backlog-size), as a Redis replica keeps one: once promoted (REPLICAOF NO ONE, the
PSYNC ... FAILOVER of its master's FAILOVER, a cluster failover) it goes on with that
stream, so its old master and their other replicas can continue from it
(ReplicationSource.promoted).

A master that becomes a replica offers its own replication id and offset with its first
PSYNC (the replica it hands over to, promoted, answers +CONTINUE); during a FAILOVER
(aikv/replication/failover.py) that PSYNC carries FAILOVER, and its answer ends the
failover.

Where the replica stands in the master's stream (replication id, offset, the database
the stream has selected) is stored with the data, in the same commits: a replica
restarted from its directory offers that position with PSYNC and, when the master's
backlog still holds what followed, goes on with a partial resynchronisation instead of
copying the whole dataset again (Redis 7 gets this from the RDB file it saves at
shutdown; AiKv's data is always on disk, so a kill -9 keeps the position too). The
position is forgotten when the node stops being a replica (REPLICAOF NO ONE, a
promotion), since its data may then change on its own.

Replicas of this node (sub-replicas) are served as a master's are, by
aikv/replication/source.py, relaying: every byte of the master's stream, once applied
here, goes to the backlog and on to them unchanged (`_applied`), so they share the
master's replication id and offsets. A full synchronisation of this node disconnects
them (its backlog is a new one); a partial one keeps them.

Not implemented: diskless loading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from typing import TYPE_CHECKING, Any

from aikv import shutdown
from aikv.busy import LOADING, BusyServing
from aikv.client import Client
from aikv.migrate.errors import DumpPayloadError
from aikv.migrate.migrate import encode_command
from aikv.migrate.rdbfile import Aux, Function, Key, read_rdb
from aikv.migrate.values import store_value
from aikv.protocol import ProtocolError, RequestParser
from aikv.replication import position
from aikv.replication.backlog import Backlog
from aikv.replication.failover import IN_PROGRESS
from aikv.resp import logged_error
from aikv.supervised import RESUMED, SYNCED

if TYPE_CHECKING:
    from aikv.server import Server

log = logging.getLogger("aikv.replica")

READONLY = "READONLY You can't write against a read only replica."
RETRY_SECONDS = 1.0
ACK_SECONDS = 1.0
# How many keys of the RDB file are stored between two commits while loading.
LOAD_BATCH = 2000


class SyncError(Exception):
    pass


class ReplicaLink:
    def __init__(self, server: Server, host: str, port: int,
                 own_position: tuple[str, int] | None = None) -> None:
        self.server = server
        self.host = host
        self.port = port
        # ROLE's states: connect (waiting to retry), connecting, sync, connected.
        self.state = "connect"
        self.replid = "0" * 40
        self.offset = 0  # the master's offset of the last command applied here
        self.read_offset = 0  # ... of the last byte read
        self.last_io = time.monotonic()
        self.down_since = time.monotonic()
        self.sync_bytes = 0  # the RDB file's size during a synchronisation
        # The master's client survives a lost link, so that a partial resynchronisation
        # goes on with its state (its selected database).
        self.master_client: Client | None = None
        self.multi_bytes = 0  # commands of an open MULTI, counted in offset at its EXEC
        # The stream's bytes read past `offset` (a command cut by the read, an open
        # MULTI, commands held by a pause): they go to the backlog and the sub-replicas
        # once applied. Kept as the reads came (joined when applied): a command of many
        # megabytes arrives in many reads, and joining at each would be quadratic.
        self.unapplied: list[bytes] = []
        self.unapplied_bytes = 0
        # Commands read but not run: CLIENT PAUSE holds the master's writes (its client
        # is paused like any other in Redis); they run, in order, when the pause lifts.
        self.held: list[list[bytes]] = []
        self._parser: RequestParser | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        if own_position is None:
            self._restore_position()
        else:
            self._take_own_position(*own_position)
        # The master's stream as applied here, for this node's replicas once promoted.
        self.backlog = Backlog(self.offset)

    # ------------------------------------------------------------------ position
    def _restore_position(self) -> None:
        """Take up the position stored by an earlier run: the first PSYNC offers it."""
        raw = position.read(self.server, position.REPLICA)
        if raw is None:
            return
        try:
            replid, offset, db_index = raw.decode().split()
            self.offset = self.read_offset = int(offset)
            index = int(db_index)
        except ValueError:
            return
        if len(replid) != 40 or not 0 <= index < len(self.server.databases):
            return
        self.replid = replid
        client = self._new_master_client()
        client.db_index = index
        client.db = self.server.databases[index]
        self.master_client = client
        log.info("Replication position of an earlier run: %s offset %d", replid, self.offset)

    def _take_own_position(self, replid: str, offset: int) -> None:
        """A master becoming a replica offers its own stream's id and offset: the node
        it follows may be a replica of it that was promoted (FAILOVER, a failover run by
        Sentinel or the cluster) and can continue from there. Any database will do as
        the stream's: a promoted master starts its stream with a SELECT."""
        self.replid = replid
        self.offset = self.read_offset = offset
        self.master_client = self._new_master_client()
        self._save_position()

    def _save_position(self) -> None:
        """Store where the replica stands, in the tick that holds the commands that got it
        there (so a restart finds data and position from the same commit)."""
        client = self.master_client
        if client is not None:
            position.write(self.server, position.REPLICA, b"%s %d %d" % (
                self.replid.encode(), self.offset, client.db_index))

    def forget_position(self) -> None:
        """This node no longer follows a master: a later REPLICAOF starts afresh."""
        position.forget(self.server, position.REPLICA)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
        self._close()

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        client = self.master_client
        if client is not None:
            self.server.clients.pop(client.id, None)
        if client is not None and client.multi is not None:
            # A transaction the link cut: its commands come again with the resync.
            client.multi = None
            client.multi_error = False
        self.multi_bytes = 0
        self.unapplied = []
        self.unapplied_bytes = 0
        self.held = []
        self._parser = None
        if self.state == "connected":
            self.down_since = time.monotonic()
        self.state = "connect"

    async def _run(self) -> None:
        while not self._stopped:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (TimeoutError, OSError, EOFError, asyncio.IncompleteReadError, SyncError,
                    ProtocolError, DumpPayloadError) as exc:
                log.warning("Replication link to MASTER %s:%d lost or refused: %s",
                            self.host, self.port, exc or type(exc).__name__)
            except Exception:
                log.exception("Replication link to MASTER %s:%d failed", self.host,
                              self.port)
            self._close()
            if not self._stopped:
                await asyncio.sleep(RETRY_SECONDS)

    # ------------------------------------------------------------------ session
    async def _session(self) -> None:
        values = self.server.config.values
        timeout = max(1, values["repl-timeout"])
        self.state = "connecting"
        log.info("Connecting to MASTER %s:%d", self.host, self.port)
        source = values["bind-source-addr"]  # Redis binds the link's end to it, if set
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port,
                                    local_addr=(source, 0) if source else None), timeout)
        self._writer = writer

        async def call(*args: bytes) -> bytes:
            writer.write(encode_command(*args))
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                raise EOFError("the master closed the connection")
            return line.rstrip(b"\r\n")

        reply = await call(b"PING")
        if reply.startswith(b"-") and not reply.startswith((b"-NOAUTH", b"-NOPERM",
                                                            b"-ERR operation not permitted")):
            raise SyncError(f"error reply to PING from master: {reply.decode(errors='replace')}")
        if values["masterauth"]:
            auth = [b"AUTH"] + ([values["masteruser"].encode()] if values["masteruser"] else [])
            reply = await call(*auth, values["masterauth"].encode())
            if reply.startswith(b"-"):
                raise SyncError(f"Unable to AUTH to MASTER: {reply.decode(errors='replace')}")
        port = values["replica-announce-port"] or self.server.port
        await call(b"REPLCONF", b"listening-port", str(port).encode())
        if values["replica-announce-ip"]:
            await call(b"REPLCONF", b"ip-address", values["replica-announce-ip"].encode())
        await call(b"REPLCONF", b"capa", b"psync2")
        cached = self.master_client
        if cached is not None:
            psync = [b"PSYNC", self.replid.encode(), str(self.offset + 1).encode()]
        else:
            psync = [b"PSYNC", b"?", b"-1"]
        failover = self.server.failover
        if failover is not None and failover.state == IN_PROGRESS:
            psync.append(b"FAILOVER")  # the master we were hands its role to this one
        reply = await call(*psync)
        failover = self.server.failover
        if failover is not None and failover.state == IN_PROGRESS:
            accepted = reply.startswith((b"+CONTINUE", b"+FULLRESYNC "))
            failover.psync_answered(accepted)
            if not accepted:
                raise SyncError(f"the failover target refused PSYNC FAILOVER: "
                                f"{reply.decode(errors='replace')}")
        if reply.startswith(b"+CONTINUE") and cached is not None:
            words = reply.split()
            if len(words) > 1:
                self.replid = words[1].decode()  # the master changed its id (a failover)
            self.read_offset = self.offset
            source = self.server.replication
            if source is not None and source.relaying:
                source.master_continued(self.replid)  # sub-replicas kept, or told the id
            log.info("Successful partial resynchronization with master.")
            self.server.supervision.notify(RESUMED)
        elif reply.startswith(b"+FULLRESYNC "):
            _, replid, offset = reply.split()
            self.state = "sync"
            rdb = await self._receive_rdb(reader, timeout)
            log.info("MASTER <-> REPLICA sync: receiving %d bytes from master to disk done",
                     len(rdb))
            self.master_client = None  # if the load fails, the next try is a full sync
            # A new dataset: the sub-replicas must synchronise again, and the backlog
            # (their history) is gone (Redis's replicationAttachToNewMaster).
            self.server.stop_serving_replicas()
            self._load(rdb)
            self.replid = replid.decode()
            self.offset = self.read_offset = int(offset)
            self.backlog = Backlog(self.offset)
            self._save_position()
            self.server.end_tick_now()
        else:
            raise SyncError(f"unexpected reply to PSYNC from master: "
                            f"{reply.decode(errors='replace')}")
        self.state = "connected"
        self.last_io = time.monotonic()
        log.info("MASTER <-> REPLICA sync: Finished with success")
        if not reply.startswith(b"+CONTINUE"):
            self.server.supervision.notify(SYNCED)
        self._list_master_client()
        acks = asyncio.get_running_loop().create_task(self._ack_every_second())
        try:
            await self._stream(reader, timeout)
        finally:
            acks.cancel()

    async def _receive_rdb(self, reader: asyncio.StreamReader, timeout: float) -> bytes:
        # While the master prepares the file it sends bare newlines to keep the link up.
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                raise EOFError("the master closed the connection during the sync")
            if line in (b"\n", b"\r\n"):
                continue
            if line[:1] == b"-":
                raise SyncError(f"MASTER aborted replication: {line.decode(errors='replace')}")
            if line[:1] != b"$" or line.startswith(b"$EOF:"):
                raise SyncError("bad protocol from MASTER, the first byte is not '$'")
            self.sync_bytes = int(line[1:])
            break
        return await asyncio.wait_for(reader.readexactly(self.sync_bytes),
                                      timeout + self.sync_bytes / (1 << 20))

    def _load(self, rdb: bytes) -> None:
        """Replace every database and the function libraries with the file's contents,
        decoded one record at a time; the store commits every LOAD_BATCH keys. As a
        Redis replica loading without async loading, the node answers LOADING to all
        but the commands flagged `loading` (INFO, ...) meanwhile, looking at its
        connections every loading-process-events-interval-bytes of the file (aikv/busy.py),
        and its cluster bus links go on answering. A file that turns out malformed
        leaves what was loaded so far, until the next synchronisation empties it again
        (as in Redis)."""
        server = self.server
        client = self._new_master_client()  # runs the load's own commands
        progress = server.loading = LoadProgress(len(rdb))
        serving = BusyServing(server, client, LOADING, "loading")
        try:
            with shutdown.signals_while_loading(server):
                self._load_records(rdb, client, progress, serving)
        finally:
            serving.end()
            server.loading = None

    def _load_records(self, rdb: bytes, client: Client, progress: LoadProgress,
                      serving: BusyServing) -> None:
        server = self.server
        values = server.config.values
        self.forget_position()  # a restart in the middle of the load must not resume
        server.dispatch(client, [b"FLUSHALL"])
        server.dispatch(client, [b"FUNCTION", b"FLUSH"])
        stream_db = 0
        stored = 0
        serve_at = values["loading-process-events-interval-bytes"]
        for record in read_rdb(rdb):
            if isinstance(record, Aux):
                if record.name == b"repl-stream-db":
                    stream_db = int(record.value)
            elif isinstance(record, Function):
                server.dispatch(client, [b"FUNCTION", b"LOAD", b"REPLACE", record.code])
            elif isinstance(record, Key):
                if record.db >= len(server.databases):
                    raise SyncError(f"the master's database {record.db} does not exist here "
                                    f"(databases {len(server.databases)})")
                refusal = server.prepare_write(record.size + len(record.key))
                if refusal is not None:
                    raise SyncError("the data directory refused the write")
                store_value(server.databases[record.db], record.key, record.kind,
                            record.value, record.expire_at_ms)
                stored += 1
                if stored % LOAD_BATCH == 0:
                    server.end_tick_now()
                progress.loaded += record.size
                delay = values["key-load-delay"]
                if delay:
                    debug_delay(delay)
                if progress.loaded >= serve_at:
                    serve_at = progress.loaded + values["loading-process-events-interval-bytes"]
                    serving.serve()
                    if shutdown.while_loading(server):
                        raise SyncError("the node is shutting down")
        progress.loaded = progress.total
        server.end_tick_now()
        server.dispatch(client, [b"SELECT", str(stream_db).encode()])
        client.out.clear()
        self.master_client = client
        log.info("MASTER <-> REPLICA sync: Loaded %d keys", stored)

    def _new_master_client(self) -> Client:
        client = Client(self.server)
        client.authenticated = True
        client.is_master = True
        client.addr = f"{self.host}:{self.port}"
        client.user = "(superuser)"  # Redis's master client has no ACL user
        return client

    def _list_master_client(self) -> None:
        """While the stream flows the master's client is one of the node's clients (CLIENT
        LIST shows it with flag M, CLIENT KILL can end the link), as in Redis."""
        client = self.master_client
        writer = self._writer
        if client is None or writer is None:
            return
        sock = writer.get_extra_info("socket")
        if sock is not None:
            client.fd = sock.fileno()
            local = sock.getsockname()
            client.laddr = f"{local[0]}:{local[1]}"
        client.created = client.last_interaction = time.time()
        self.server.clients[client.id] = client

    def drop_link(self) -> None:
        """CLIENT KILL of the master's client: the connection ends, and the link comes
        back as after any loss, continuing with PSYNC (Redis frees the master client and
        caches it)."""
        writer = self._writer
        if writer is not None:
            log.info("Connection with master lost (killed by CLIENT KILL).")
            # The master sees the connection end now, as Redis frees the client at once,
            # not when the loop next runs (a DEBUG SLEEP may follow in the same EXEC).
            # (uvloop's transport sockets refuse shutdown(): a duplicate of the descriptor
            # reaches the same connection.)
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError, ValueError), \
                        socket.fromfd(sock.fileno(), socket.AF_INET, socket.SOCK_STREAM) as dup:
                    dup.shutdown(socket.SHUT_RDWR)
            writer.close()
            # Down from now, not from when the loop next runs (a DEBUG SLEEP in the same
            # transaction must count in the data's age, as in Redis).
            if self.state == "connected":
                self.down_since = time.monotonic()
                self.state = "connect"

    async def _stream(self, reader: asyncio.StreamReader, timeout: float) -> None:
        """Run the propagated commands in order; the master's offset advances by each
        command's bytes once it has run."""
        self._parser = parser = RequestParser(self.server.config.values["proto-max-bulk-len"])
        while True:
            data = await asyncio.wait_for(reader.read(1 << 16), timeout)
            if not data:
                raise EOFError("the master closed the connection")
            self.last_io = time.monotonic()
            self.read_offset += len(data)
            self.unapplied.append(data)
            self.unapplied_bytes += len(data)
            parser.feed(data, self.held)
            self.run_held()

    def run_held(self) -> None:
        """Run the commands read and not yet run, up to one a pause holds (Server.pause
        calls this again when it lifts)."""
        server = self.server
        client = self.master_client
        parser = self._parser
        if client is None or parser is None:
            return
        before = self.offset
        commands = self.held
        done = 0
        clock = server.clock
        clock.refresh()
        for argv in commands:
            if server.pause_mode and server.holds(client, argv):
                break
            done += 1
            if (len(argv) == 3 and argv[0].lower() == b"replconf"
                    and argv[1].lower() == b"getack"):
                self._send_ack()
            else:
                # As any client's command (blocked clients served, tracking and
                # MONITOR told), its reply dropped. Its keys are seen as live whatever
                # their deadline (the clock at 0 for it): a Redis replica lets its
                # master's commands act on keys past their deadline, which only the
                # master's DEL removes, and the master sends times as absolute ones
                # (PXAT, PEXPIREAT, ABSTTL, stream ids), so no command reads the clock.
                clock.now_ms = 0
                server.dispatch(client, argv)
                clock.refresh()
                if client.out and client.out[-1][:1] == b"-":
                    self._error_to_master(client.out[-1], argv)
                client.out.clear()
            size = len(encode_command(*argv))
            if client.multi is not None:
                self.multi_bytes += size  # queued, not run yet
            else:
                self.offset += self.multi_bytes + size
                self.multi_bytes = 0
        del commands[:done]
        if not commands and client.multi is None:
            # Exactly where the parser stands (bytes between commands included).
            self.offset = self.read_offset - parser.buffered
        self._applied(self.offset - before)
        if done:
            self._save_position()
        if not server.nothing_to_commit():
            server.schedule_tick()

    def _error_to_master(self, reply: bytes, argv: list[bytes]) -> None:
        """A master's command (`argv`) failed here (data divergence on a writable
        replica, say): as Redis's afterErrorReply, logged and counted (INFO
        unexpected_error_replies), and fatal when propagation-error-behavior says so for
        a read-only replica."""
        server = self.server
        cmd = server.command_for(argv)
        name = "<unknown>" if cmd is None else cmd.full_name
        text = logged_error(reply)
        log.warning("== CRITICAL == This replica is sending an error to its master: '%s' "
                    "after processing the command '%s'", text, name)
        server.stat_unexpected_error_replies += 1
        values = server.config.values
        if values["replica-read-only"] and values["propagation-error-behavior"] in (
                "panic", "panic-on-replicas"):
            log.critical("This replica panicked sending an error to its master after "
                         "processing the command '%s'", name)
            os._exit(1)

    def _applied(self, count: int) -> None:
        """The first `count` bytes of `unapplied` (the stream after the previous offset)
        were applied: they go to the backlog and, as they came, to this node's
        sub-replicas (Redis's replicationFeedStreamFromMasterStream)."""
        if count <= 0:
            return
        joined = b"".join(self.unapplied)  # (one read: that read itself, not a copy)
        data = joined[:count] if count < len(joined) else joined
        rest = joined[count:]
        self.unapplied = [rest] if rest else []
        self.unapplied_bytes = len(rest)
        self.backlog.append(data, self.server.config.values["repl-backlog-size"])
        source = self.server.replication
        if source is not None and source.relaying:
            source.relay(data)

    def _send_ack(self) -> None:
        writer = self._writer
        if writer is not None and self.state == "connected":
            writer.write(encode_command(b"REPLCONF", b"ACK", str(self.offset).encode()))

    async def _ack_every_second(self) -> None:
        while True:
            await asyncio.sleep(ACK_SECONDS)
            self._send_ack()

    # ------------------------------------------------------------------ reports
    def role(self) -> list[Any]:
        return ["slave", self.host, self.port, self.state,
                self.offset if self.state == "connected" else -1]

    def info_fields(self) -> list[tuple[str, Any]]:
        now = time.monotonic()
        up = self.state == "connected"
        fields: list[tuple[str, Any]] = [
            ("master_host", self.host),
            ("master_port", self.port),
            ("master_link_status", "up" if up else "down"),
            ("master_last_io_seconds_ago", int(now - self.last_io) if up else -1),
            ("master_sync_in_progress", 1 if self.state == "sync" else 0),
            ("slave_read_repl_offset", self.read_offset),
            ("slave_repl_offset", self.offset),
        ]
        if self.state == "sync":
            fields.append(("master_sync_total_bytes", self.sync_bytes))
        if not up:
            fields.append(("master_link_down_since_seconds", int(now - self.down_since)))
        values = self.server.config.values
        fields += [
            ("slave_priority", values["replica-priority"]),
            ("slave_read_only", 1 if values["replica-read-only"] else 0),
            ("replica_announced", 1 if values["replica-announced"] else 0),
        ]
        return fields


class LoadProgress:
    """A full synchronisation's load, as INFO's loading_* fields show it."""

    def __init__(self, total: int) -> None:
        self.started = int(time.time())
        self.total = total  # bytes of the master's file
        self.loaded = 0  # bytes of it stored so far (the keys' records)

    def info_fields(self) -> list[tuple[str, Any]]:
        """Redis's INFO persistence while loading (loading_rdb_used_mem: the file size is
        known, so no estimate from the file's used-mem is needed)."""
        perc = self.loaded / self.total * 100 if self.total else 0.0
        remaining = self.total - self.loaded if self.total else 1
        elapsed = int(time.time()) - self.started
        eta = 1 if elapsed == 0 else (elapsed * remaining) // (self.loaded + 1)
        return [("loading_start_time", self.started), ("loading_total_bytes", self.total),
                ("loading_rdb_used_mem", 0), ("loading_loaded_bytes", self.loaded),
                ("loading_loaded_perc", f"{perc:.2f}"), ("loading_eta_seconds", eta)]


def debug_delay(usec: int) -> None:
    """Redis's debugDelay (key-load-delay): sleep `usec` microseconds; a negative value
    sleeps one microsecond with probability 1/-usec."""
    if usec < 0:
        usec = 1 if random.randrange(-usec) == 0 else 0
    if usec:
        time.sleep(usec / 1_000_000)


def parse_master(text: str) -> tuple[str, int] | None:
    """The `replicaof` parameter's value ("" or "host port")."""
    if not text:
        return None
    host, _, port = text.rpartition(" ")
    return host, int(port)


def stop_link(link: ReplicaLink | None) -> None:
    if link is not None:
        with contextlib.suppress(Exception):
            link.stop()
