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
    from aikv.server import Server

log = logging.getLogger("aikv.client")
_ids = itertools.count(1)


class Client(asyncio.Protocol):
    """Connection state, as CLIENT LIST shows it, plus the transaction, pub/sub and
    cluster flags the dispatcher consults."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.id = next(_ids)
        self.transport: asyncio.Transport | None = None
        self.parser = RequestParser(server.config.proto_max_bulk_len)
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.pending = False  # queued for the end-of-tick flush
        self.closing = False
        self.close_after_reply = False
        self.db_index = 0
        self.db: Database = server.databases[0]
        self.resp3 = False
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.authenticated = not server.config.requirepass
        self.user = "default"
        self.addr = "?"
        self.laddr = "?"
        self.fd = -1
        self.created = time.time()
        self.last_interaction = self.created
        self.last_command: Any = b"NULL"  # the last Command run (CLIENT LIST cmd=)
        # MULTI: None when not in a transaction, else the queued argument vectors.
        self.multi: list[Any] | None = None
        self.multi_error = False
        self.watched: set[tuple[int, bytes]] = set()
        self.watch_dirty = False
        self.asking = False
        self.readonly = False
        self.no_evict = False
        self.subscriptions: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_subscriptions: set[bytes] = set()
        self.blocked: Any = None
        # Set while EXEC (or a script) runs: blocking commands then answer nil at once.
        self.deny_blocking = False
        self.is_migrate_target = False

    # ------------------------------------------------------------------ asyncio
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.fd = sock.fileno()
            except OSError:
                pass
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.addr = _fmt_addr(peer)
        self.laddr = _fmt_addr(local)
        self.server.client_connected(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.client_disconnected(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        server = self.server
        server.clock.refresh()
        self.last_interaction = time.time()
        server.stat_net_input_bytes += len(data)
        commands: list[list[bytes]] = []
        failure: ProtocolError | None = None
        try:
            self.parser.feed(data, commands)
        except ProtocolError as exc:
            failure = exc
        if self.blocked is not None:
            # Redis stops reading from a blocked client: what arrives meanwhile waits.
            server.defer_commands(self, commands)
            commands = []
        dispatch = server.dispatch
        for i, argv in enumerate(commands):
            dispatch(self, argv)
            if self.closing or self.close_after_reply:
                break
            if self.blocked is not None:
                server.defer_commands(self, commands[i + 1 :])
                break
        if failure is not None and not self.close_after_reply:
            server.stat_protocol_errors += 1
            self.out.append(error(str(failure)))
            self.close_after_reply = True
        elif self.parser.buffered > server.config.client_query_buffer_limit:
            log.warning("Closing client that reached max query buffer length (qbuf=%d)",
                        self.parser.buffered)
            self.close_after_reply = True
        if not self.pending:
            self.pending = True
            server.pending_clients.append(self)
            server.schedule_tick()

    # ------------------------------------------------------------------ output
    def write(self, reply: bytes) -> None:
        """Queue bytes outside the request path (pub/sub messages, unblocked replies)."""
        if self.closing:
            return
        self.out.append(reply)
        if not self.pending:
            self.pending = True
            self.server.pending_clients.append(self)
            self.server.schedule_tick()

    def flush(self) -> None:
        self.pending = False
        transport = self.transport
        if self.out and transport is not None and not self.closing:
            data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
            self.out.clear()
            self.server.stat_net_output_bytes += len(data)
            transport.write(data)
        else:
            self.out.clear()
        if self.close_after_reply and transport is not None:
            self.closing = True
            transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.closing:
            self.closing = True
            self.transport.close()

    @property
    def output_buffer_size(self) -> int:
        if self.transport is None:
            return 0
        return self.transport.get_write_buffer_size()


def _fmt_addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in str(host) else f"{host}:{addr[1]}"
    return str(addr) if addr else "?"
