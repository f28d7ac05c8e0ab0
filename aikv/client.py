"""One client connection: framing its requests, running them through the dispatcher, and
buffering its replies until the end of the event-loop tick (after the group commit)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from typing import TYPE_CHECKING, Any

from aikv.protocol import ProtocolError, RequestParser
from aikv.resp import error

if TYPE_CHECKING:
    from aikv.keyspace import Database
    from aikv.replication.source import Follower
    from aikv.server import Server
    from aikv.tracking import TrackingState

log = logging.getLogger("aikv.client")
_ids = itertools.count(1)
# Pending output past which asyncio pauses writing (and we pause reading, see
# pause_writing). Above uvloop's 64 KB default so pipelines of ordinary replies never
# pause; below anything that matters for memory.
WRITE_HIGH_WATER = 1 << 20
# Reply bytes one client may produce in one tick; the rest of its pipeline then waits until
# those replies have drained, so a small request (GET of a big value, repeated) cannot
# make us build gigabytes of replies out of one read.
REPLY_BATCH_BYTES = 8 << 20
_NONE: dict[bytes, Any] = {}


class Client(asyncio.Protocol):
    """Connection state, as CLIENT LIST shows it, plus the transaction, pub/sub and
    cluster flags the dispatcher consults."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.id = next(_ids)
        self.transport: asyncio.Transport | None = None
        self.parser = RequestParser(server.config.proto_max_bulk_len)
        self.out: list[bytes] = []
        # Bytes queued by write() (pub/sub pushes) since the last flush: with the
        # transport's buffer, what client-output-buffer-limit is checked against.
        self.out_bytes = 0
        self.obuf_soft_since = 0  # Redis's obuf_soft_limit_reached_time (unix seconds)
        self.write_paused = False
        # Commands parsed but held back until the replies before them drained (above).
        self.held: list[list[bytes]] | None = None
        self.held_error: str | None = None  # a protocol error found after them
        self._reading_paused = False
        self.pending = False  # queued for the end-of-tick flush
        self.lost = False  # connection_lost ran
        self.query_len = 0  # bytes of the read whose commands are running (CLIENT LIST)
        self.closing = False
        self.close_after_reply = False
        self.db_index = 0
        self.db: Database = server.databases[0]
        self.resp3 = False
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        default = server.acl_users[b"default"]
        self.authenticated = default.nopass and default.enabled
        self.user = "default"
        self.acl_user = default  # the ACL user (aikv/acl.py); `user` is its name
        # The user lacks some permission: every command is checked (Server.execute).
        self.restricted = not default.unrestricted
        self.addr = "?"
        self.laddr = "?"
        self.unix = False
        self.fd = -1
        self.created = time.time()
        self.last_interaction = self.created
        self.last_command: Any = b"NULL"  # the last Command run (CLIENT LIST cmd=)
        # MULTI: None when not in a transaction, else the queued argument vectors.
        self.multi: list[Any] | None = None
        self.in_exec = 0  # while EXEC runs: how many commands it runs (CLIENT LIST's multi=)
        self.multi_error = False
        self.watched: set[tuple[int, bytes]] = set()
        self.watch_dirty = False
        # Watched keys that were already expired when WATCHed (Redis's wk->expired).
        self.watched_expired: set[tuple[int, bytes]] = set()
        self.asking = False
        # The reply being made is pushes only (subscription confirmations): CLIENT REPLY
        # OFF / SKIP let it through (Server.dispatch).
        self.reply_is_push = False
        self.readonly = False
        self.no_evict = False
        self.subscriptions: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_subscriptions: set[bytes] = set()
        self.blocked: Any = None
        # Held by CLIENT PAUSE: its commands wait in Server.deferred until the pause ends.
        self.postponed = False
        self.tracking: TrackingState | None = None  # CLIENT TRACKING settings when on
        # Set while EXEC (or a script) runs: blocking commands then answer nil at once.
        self.deny_blocking = False
        self.in_script = False  # the client a script's redis.call commands run as
        self.is_migrate_target = False
        self.is_master = False  # the replication link's client: its writes always run
        # Set when this connection is a replica of this node (aikv/replication/source.py).
        self.replica_state: Follower | None = None
        # The replication offset after this client's last command (WAIT waits for it).
        self.woff = 0
        self.monitoring = False  # MONITOR: every command the server runs is copied here
        # A monitoring client's own lines, sent after the reply of the command (or EXEC).
        self.monitor_echo: list[bytes] = []
        # CLIENT REPLY: OFF drops every reply; SKIP drops the next command's (SKIP_NEXT
        # becomes SKIP once the CLIENT REPLY SKIP command itself is done).
        self.reply_off = False
        self.reply_skip = False
        self.reply_skip_next = False

    # ------------------------------------------------------------------ asyncio
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        previous = self.transport
        if previous is not None:
            # Accepted while a busy script held the loop (aikv/busy.py), now adopted by
            # the loop: the same client goes on over the loop's transport.
            adopted: Any = transport
            self.transport = adopted
            adopted.set_write_buffer_limits(high=WRITE_HIGH_WATER)
            unsent = previous.take_unsent()  # type: ignore[attr-defined]
            if unsent:
                adopted.write(unsent)
            return
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                self.fd = sock.fileno()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                keepalive = self.server.config.values["tcp-keepalive"]
                if keepalive:
                    # anetKeepAlive: probes after `keepalive` idle seconds, then every
                    # third of it, dropped after three unanswered.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepalive)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL,
                                    max(1, keepalive // 3))
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
            except OSError:
                pass  # a Unix socket has no TCP options
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if isinstance(local, str) and local:
            # A Unix-socket connection: Redis names both ends "<unixsocket>:0".
            self.unix = True
            self.addr = self.laddr = f"{local}:0"
        else:
            self.addr = _fmt_addr(peer)
            self.laddr = _fmt_addr(local)
        if self.transport is not None:
            self.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.server.client_connected(self, peer[0] if isinstance(peer, tuple) else None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost:
            return  # already let go while a busy script held the loop (aikv/busy.py)
        self.lost = True
        self.closing = True
        self.server.client_disconnected(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        server = self.server
        now = time.time()
        server.clock.now_ms = int(now * 1000)  # Clock.refresh
        self.last_interaction = now
        server.stat_net_input_bytes += len(data)
        server.stat_reads_processed += 1
        parser = self.parser
        values = server.config.values
        # Read on every read rather than once: CONFIG SET proto-max-bulk-len applies to
        # open connections too, as in Redis (one dict lookup per read, not per command).
        parser.max_bulk_len = values["proto-max-bulk-len"]
        parser.unauth = not self.authenticated
        commands: list[list[bytes]] = []
        failure: ProtocolError | None = None
        # CLIENT LIST's qbuf while this read's commands run: Redis's query buffer holds
        # all of the read until its commands are done.
        self.query_len = parser.buffered + len(data)
        try:
            parser.feed(data, commands)
        except ProtocolError as exc:
            failure = exc
        if parser.buffered > values["client-query-buffer-limit"]:
            # Checked before running anything, as Redis checks right after the read: the
            # connection goes without a reply and its buffer is freed now.
            self._close_for_query_buffer()
            return
        self._run(commands)
        while parser.auth_stall is not None and failure is None:
            # A request over the unauthenticated limits stopped the parser: if the
            # commands before it authenticated the client, parse on; otherwise it is
            # the protocol error Redis gives for it.
            stall, parser.auth_stall = parser.auth_stall, None
            if not self.authenticated:
                failure = ProtocolError(stall)
                break
            if self.closing or self.close_after_reply:
                break
            parser.unauth = False
            commands = []
            try:
                parser.feed(b"", commands)
            except ProtocolError as exc:
                failure = exc
            self._run(commands)
        self.query_len = 0
        if failure is not None and not self.close_after_reply:
            if self.held is not None:
                # Its reply goes after those of the held commands before it.
                self.held_error = str(failure)
            else:
                server.stat_protocol_errors += 1
                self.out.append(error(str(failure)))
                self.close_after_reply = True
        if not self.pending:
            if server.nothing_to_commit():
                # Nothing written and no cluster change to save: no commit stands between
                # these replies and the client, so send them now rather than after a
                # round trip through the loop (most of a read's overhead when unpipelined).
                self.flush()
                return
            self.pending = True
            server.pending_clients.append(self)
            server.schedule_tick()

    def _run(self, commands: list[list[bytes]]) -> None:
        server = self.server
        if self.blocked is not None or self.postponed:
            # Redis stops reading from a blocked client: what arrives meanwhile waits.
            server.defer_commands(self, commands)
            return
        if self.held is not None:
            self.held.extend(commands)  # keep the order behind what is already held
            return
        out = self.out
        produced = 0
        last = len(commands) - 1
        store = server.store
        routed = server.router is not None
        # While the connection is plain (see _plain), data commands are looked up here and
        # run through Server.call directly, skipping execute()'s other checks: with the
        # right number of arguments such a command needs none of them but routing (cluster
        # mode), and cannot close or block this client or change what _plain() says.
        # Everything else goes through Server.dispatch.
        direct = server.data_commands if self._plain() else _NONE
        for i, argv in enumerate(commands):
            cmd = direct.get(argv[0])
            if (cmd is not None and cmd.min_args <= len(argv) <= cmd.max_args
                    and store.write_error is None):
                reply = (routed and server.redirect(self, cmd, argv)) or server.call(self, cmd, argv)
                out.append(reply)
                if self.monitor_echo:
                    self.flush_monitor_echo()
                blocking = server.blocking
                if blocking is not None and blocking.ready:
                    blocking.handle_ready()
            else:
                server.dispatch(self, argv)
                reply = out[-1]
                if self.closing or self.close_after_reply:
                    break
                if self.blocked is not None or self.postponed:
                    server.defer_commands(self, commands[i + 1 :])
                    break
                direct = server.data_commands if self._plain() else _NONE
            produced += len(reply)
            if produced > REPLY_BATCH_BYTES and i < last:
                self.held = commands[i + 1 :]
                self._update_reading()
                break

    def _plain(self) -> bool:
        """True when a data command from this connection needs no check beyond its name,
        arity and (in cluster mode) routing — Server.execute's other checks all pass:
        authenticated, not in MULTI, not subscribed, a user with every permission."""
        return (self.authenticated and self.multi is None and not self.restricted
                and self.replica_state is None
                and not self.subscriptions
                and not self.patterns and not self.shard_subscriptions
                and not self.reply_off and not self.reply_skip
                and not self.server.pause_mode and self.tracking is None)

    def _release_held(self) -> None:
        """Run the held commands once the replies before them have drained."""
        held = self.held
        if held is None or self.closing:
            return
        self.held = None
        server = self.server
        server.clock.refresh()
        self._run(held)
        if self.held is None and self.held_error is not None:
            server.stat_protocol_errors += 1
            self.out.append(error(self.held_error))
            self.held_error = None
            self.close_after_reply = True
        self._update_reading()
        if not self.pending:
            self.pending = True
            server.pending_clients.append(self)
            server.schedule_tick()

    def _update_reading(self) -> None:
        # Read requests only while the peer keeps up with our replies and nothing is held.
        paused = self.write_paused or self.held is not None
        transport = self.transport
        if paused != self._reading_paused and transport is not None and not self.closing:
            self._reading_paused = paused
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def _close_for_query_buffer(self) -> None:
        from aikv.commands.connection import describe

        log.warning("Closing client that reached max query buffer length: %s "
                    "(qbuf initial bytes: %r)", describe(self, time.time()),
                    self.parser.peek(64))
        self.parser.reset()
        self.abort()

    # ------------------------------------------------------------------ output
    def flush_monitor_echo(self) -> None:
        lines, self.monitor_echo = self.monitor_echo, []
        for line in lines:
            self.write(line)

    def write(self, reply: bytes, push: bool = False) -> None:
        """Queue bytes outside the request path (pub/sub messages, unblocked replies).
        `push`: a pub/sub message or an invalidation, which CLIENT REPLY OFF does not
        silence (Redis's CLIENT_PUSHING)."""
        if self.closing or (self.reply_off and not push):
            return
        self.out.append(reply)
        self.out_bytes += len(reply)
        transport = self.transport
        if transport is not None:
            pending = self.out_bytes + transport.get_write_buffer_size()
            if pending >= self.server.output_limit_floor and self.over_output_limit(pending):
                self.close_for_output_buffer()
                return
        if not self.pending:
            self.pending = True
            self.server.pending_clients.append(self)
            self.server.schedule_tick()

    def flush(self) -> None:
        self.pending = False
        self.out_bytes = 0
        transport = self.transport
        if self.out and transport is not None and not self.closing:
            data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
            self.out.clear()
            server = self.server
            # The limits apply to all that is pending, these replies included, before
            # any of it is sent: Redis holds a command's whole reply in its buffer before
            # writing, so a single reply over the hard limit closes the client unsent
            # (what the socket did not take earlier stays in the transport).
            pending = transport.get_write_buffer_size() + len(data)
            if pending >= server.output_limit_floor and self.over_output_limit(pending):
                self.close_for_output_buffer()
                return
            server.stat_net_output_bytes += len(data)
            server.stat_writes_processed += 1
            transport.write(data)
            if self.obuf_soft_since and self.over_output_limit(
                    transport.get_write_buffer_size()):  # (restarts the soft timer if under)
                self.close_for_output_buffer()
                return
            if self.held is not None and not self.write_paused and self.server.loop:
                # The socket took it all (no pause_writing coming): go on next pass.
                self.server.loop.call_soon(self._release_held)
        else:
            self.out.clear()
        if self.close_after_reply and transport is not None:
            self.closing = True
            transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.closing:
            self.closing = True
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping unsent output (Redis's freeClient): a peer that does not
        read must not keep its backlog alive in our memory."""
        self.out.clear()
        self.out_bytes = 0
        if self.transport is not None:
            self.closing = True
            self.transport.abort()

    # ------------------------------------------------------------------ output limits
    @property
    def is_replica(self) -> bool:
        """A replica of this node (it sent SYNC or PSYNC); REPLCONF alone does not make
        one, as in Redis."""
        state = self.replica_state
        return state is not None and state.state == "online"

    def _limits_and_usage(self, pending: int) -> tuple[tuple[int, int, int], int]:
        """This client's class limits (hard, soft, seconds) and what of `pending` bytes
        of output counts against them (replicas: all of it; see limit_usage)."""
        limits = self.server.config.values["client-output-buffer-limit"]
        if self.is_replica:
            return limits["replica"], pending
        subscribed = self.subscriptions or self.patterns or self.shard_subscriptions
        return limits["pubsub" if subscribed else "normal"], limit_usage(pending)

    def over_output_limit(self, pending: int) -> bool:
        """Redis's checkClientOutputBufferLimits for `pending` bytes of output: the hard
        limit at once, the soft one after being over it for more than its seconds."""
        (hard, soft, seconds), used = self._limits_and_usage(pending)
        if hard and used >= hard:
            return True
        if soft and used >= soft:
            now = int(time.time())
            if not self.obuf_soft_since:
                self.obuf_soft_since = now
                return False
            return now - self.obuf_soft_since > seconds
        self.obuf_soft_since = 0
        return False

    def exceeds_hard_output_limit(self, size: int) -> bool:
        """Whether `size` more bytes of output would pass this client's hard limit."""
        (hard, _, _), used = self._limits_and_usage(size)
        return bool(hard) and used >= hard

    def check_output_limit(self) -> None:
        """The clients cron's check (Redis's clientsCron): a soft limit passed long enough
        closes a client even when nothing more is written to it."""
        transport = self.transport
        if self.obuf_soft_since and transport is not None and not self.closing \
                and self.over_output_limit(transport.get_write_buffer_size()):
            self.close_for_output_buffer()

    def close_for_output_buffer(self) -> None:
        from aikv.commands.connection import describe

        log.warning("Client %s scheduled to be closed ASAP for overcoming of output buffer "
                    "limits.", describe(self, time.time()))
        self.abort()

    def pause_writing(self) -> None:
        # The peer reads slower than we produce: stop reading its requests until it has
        # caught up, so a client pipelining large replies cannot grow our memory without
        # bound (with REPLY_BATCH_BYTES, one read cannot either).
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.held is not None:
            self._release_held()
        else:
            self._update_reading()

    @property
    def output_buffer_size(self) -> int:
        if self.transport is None:
            return 0
        return self.transport.get_write_buffer_size()

    @property
    def output_limit_usage(self) -> int:
        """The pending output the limits count (CLIENT LIST's omem)."""
        return self._limits_and_usage(self.output_buffer_size)[1]


# A Redis client's first 16 KiB of pending output sit in its own reply buffer, which the
# output buffer limits do not count: getClientOutputBufferMemoryUsage counts the reply
# list behind it, whose blocks take at least 16 KiB each (PROTO_REPLY_CHUNK_BYTES).
REPLY_CHUNK_BYTES = 16 * 1024


def limit_usage(pending: int) -> int:
    """What Redis counts against a (non-replica) client's output limits when `pending`
    bytes of replies wait to be sent."""
    if pending <= REPLY_CHUNK_BYTES:
        return 0
    return max(pending - REPLY_CHUNK_BYTES, REPLY_CHUNK_BYTES)


def _fmt_addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in str(host) else f"{host}:{addr[1]}"
    return str(addr) if addr else "?"
