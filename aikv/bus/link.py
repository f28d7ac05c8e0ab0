"""asyncio adapter for the cluster bus: sockets in, `Link` events out.

Thin on purpose: framing and decoding come from aikv.bus.wire, every decision from
aikv.bus.gossip. This module only accepts and opens TCP connections, splits the byte
stream into frames, and writes what it is told to write.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import cast

from aikv.bus.gossip import Link
from aikv.bus.wire import CloseLink, DropMessage, FrameReader, Message, decode
from aikv.listen import listen_all

log = logging.getLogger("aikv.bus")

# Largest message we accept. PUBLISH payloads are the only big ones; 64 MiB keeps a
# broken or hostile peer from making us buffer without end.
MAX_BUS_MESSAGE = 64 * 1024 * 1024
# A peer that does not drain its link is dropped rather than allowed to grow our memory.
MAX_SEND_BUFFER = 64 * 1024 * 1024
CONNECT_TIMEOUT_S = 5.0

MessageHandler = Callable[[Link, Message], None]
LinkHandler = Callable[[Link], None]
DropHandler = Callable[[Link, int], None]  # a whole frame dropped unread: its type code


class _BusProtocol(asyncio.Protocol):
    def __init__(self, bus: BusTransport, link: Link) -> None:
        self.bus = bus
        self.link = link
        self.reader = FrameReader(MAX_BUS_MESSAGE)
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        previous = self.transport
        # uvloop's transports are not asyncio.Transport subclasses; same interface.
        self.transport = cast(asyncio.Transport, transport)
        if previous is not None:
            # Accepted while a script or a load held the loop (aikv/busy.py), now adopted
            # by the loop: what the socket did not take then goes first.
            self.bus._protocols[self.link] = self
            unsent = previous.take_unsent()  # type: ignore[attr-defined]
            if unsent:
                self.transport.write(unsent)
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.link.inbound:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            except OSError:
                pass
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if peer:
            self.link.peer_ip = _plain_ip(peer[0])
        if local:
            self.link.local_ip = _plain_ip(local[0])
        self.bus._protocols[self.link] = self

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.reader.feed(data)
        try:
            for frame in self.reader:
                try:
                    msg = decode(frame)
                except DropMessage as exc:
                    log.debug("bus message dropped: %s", exc.reason)
                    # Redis counts every whole frame in the per-type received stats
                    # before validating it (CLUSTER INFO shows them): so must we.
                    if self.bus.on_drop is not None:
                        self.bus.on_drop(self.link, int.from_bytes(frame[12:14], "big"))
                    continue
                self.bus.on_message(self.link, msg)
                if self.closed:
                    return
        except CloseLink as exc:
            log.info("closing bus link from %s: %s", self.link.peer_ip, exc)
            self.bus.close(self.link)

    def connection_lost(self, exc: Exception | None) -> None:
        already = self.closed
        self.closed = True
        self.bus._protocols.pop(self.link, None)
        if not already:
            self.bus.on_down(self.link)


def _plain_ip(ip: str) -> str:
    # An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
    return ip[7:] if ip.startswith("::ffff:") else ip


class BusTransport:
    """Listener plus the set of live links. Callbacks fire on the event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        on_message: MessageHandler,
        on_up: LinkHandler,
        on_down: LinkHandler,
        on_drop: DropHandler | None = None,
        source_address: Callable[[], str] = lambda: "",
    ) -> None:
        self.loop = loop
        # bind-source-addr, read at each connect (CONFIG SET applies to the next link).
        self.source_address = source_address
        self.on_message = on_message
        self.on_up = on_up
        self.on_down = on_down
        self.on_drop = on_drop
        self._protocols: dict[Link, _BusProtocol] = {}
        self._connecting: dict[Link, asyncio.Task[None]] = {}
        # What was sent to an outbound link before its connect finished: written once it
        # does, as Redis queues messages on a link still connecting (they are lost only
        # if the connect fails). Without it a PUBLISHSHARD, a FAIL or a PONG broadcast
        # made while a link is being re-established never reached that node.
        self._queued: dict[Link, list[bytes]] = {}
        self._servers: list[asyncio.AbstractServer] = []  # one per `bind` address

    async def listen(self, bind: str, port: int) -> None:
        """Listen on `port` at every address of `bind` (aikv/listen.py: Redis's rules)."""
        self._servers, _ = await listen_all(self.loop, self._inbound_protocol, bind, port,
                                            kind="cluster")

    def _inbound_protocol(self) -> _BusProtocol:
        return _BusProtocol(self, Link(inbound=True, ctime=_now_ms()))

    def listening_sockets(self) -> list[socket.socket]:
        """The listener's sockets: aikv/busy.py accepts peers on them while a script or a
        load holds the loop, as Redis's processEventsWhileBlocked does."""
        return [sock for server in self._servers
                for sock in (getattr(server, "sockets", None) or ())]

    def accepted(self, transport: asyncio.BaseTransport) -> _BusProtocol:
        """An inbound link for a peer accepted outside the loop (aikv/busy.py), on a
        stand-in transport until the loop adopts the socket."""
        proto = self._inbound_protocol()
        proto.connection_made(transport)
        return proto

    def connect(self, link: Link, ip: str, port: int) -> None:
        """Open an outbound link; on_up or on_down is called exactly once for it."""
        self._connecting[link] = self.loop.create_task(self._connect(link, ip, port))

    async def _connect(self, link: Link, ip: str, port: int) -> None:
        source = self.source_address()
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: _BusProtocol(self, link), ip or "127.0.0.1", port,
                                            local_addr=(source, 0) if source else None),
                CONNECT_TIMEOUT_S,
            )
        # ValueError: an address no lookup can even start with ("a..b" fails IDNA
        # encoding with UnicodeError). Any failure must reach on_down, or the node stays
        # "connecting" forever and is never failure-detected; Redis treats them all alike.
        except (TimeoutError, OSError, ValueError) as exc:
            self._connecting.pop(link, None)
            self._queued.pop(link, None)
            log.debug("bus connect to %s:%d failed: %s", ip, port, exc)
            self.on_down(link)
            return
        except asyncio.CancelledError:
            self._connecting.pop(link, None)
            self._queued.pop(link, None)
            raise
        self._connecting.pop(link, None)
        queued = self._queued.pop(link, ())
        if link not in self._protocols:  # closed while we were finishing the connect
            return
        for data in queued:
            self.send(link, data)
        self.on_up(link)

    def send(self, link: Link, data: bytes) -> None:
        proto = self._protocols.get(link)
        if proto is None or proto.transport is None or proto.closed:
            if link in self._connecting:
                queue = self._queued.setdefault(link, [])
                if sum(map(len, queue)) + len(data) <= MAX_SEND_BUFFER:
                    queue.append(data)
            return
        transport = proto.transport
        if transport.get_write_buffer_size() > MAX_SEND_BUFFER:
            log.warning("bus link to %s exceeded its send buffer; closing it", link.peer_ip)
            self.close(link)
            self.on_down(link)  # the engine forgets it and reconnects, as for any loss
            return
        transport.write(data)

    def close(self, link: Link) -> None:
        """Close without reporting on_down: the engine asked for it and already knows."""
        task = self._connecting.pop(link, None)
        self._queued.pop(link, None)
        if task is not None:
            task.cancel()
        proto = self._protocols.pop(link, None)
        if proto is not None:
            proto.closed = True
            if proto.transport is not None:
                proto.transport.abort()

    def connecting(self) -> list[Link]:
        """Outbound links whose connect has not finished yet."""
        return list(self._connecting)

    def link_count(self) -> int:
        return len(self._protocols)

    def buffer_sizes(self, link: Link) -> tuple[int, int]:
        proto = self._protocols.get(link)
        if proto is None or proto.transport is None:
            return 0, 0
        used = proto.transport.get_write_buffer_size()
        return used, used

    async def stop(self) -> None:
        for listener in self._servers:
            listener.close()
        for link in list(self._connecting):
            self.close(link)
        for link in list(self._protocols):
            self.close(link)
        for listener in self._servers:
            try:
                await asyncio.wait_for(listener.wait_closed(), 1.0)
            except (TimeoutError, Exception):
                pass


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
