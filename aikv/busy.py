"""Serving the node's connections while the event loop is held: a script past
busy-reply-threshold (Redis's timed-out script mode, scriptInterrupt +
processEventsWhileBlocked), and a replica loading its master's RDB file (Redis's loading
state, rdbLoadProgressCallback).

A script runs inside its EVAL or FCALL call, on the event loop, so while it runs the loop
serves nobody. Redis lets such a script run on, but once it has run for longer than
`busy-reply-threshold` milliseconds it goes back to its connections every so often from
inside the script: every command then gets BUSY except the few flagged allow-busy (SCRIPT
KILL, FUNCTION KILL, FUNCTION STATS, SHUTDOWN NOSAVE, AUTH, HELLO, MULTI, ...), so a
client can stop the script.

uvloop cannot be re-entered from one of its own callbacks, so `BusyServing.serve` does
the loop's job for that moment itself: it polls the sockets of the node's clients (the
script's own caller excepted: Redis protects it), its listening sockets and its cluster
bus links without waiting, reads what is there, runs it through the clients' usual path
(Server.execute refuses what is not allow-busy) and writes the replies straight to the
sockets. Connections accepted meanwhile (clients, and peers on the cluster bus port) are
handed to the loop once the script ends.
While a replica loads, the same is done with the commands flagged `loading` allowed and
every other answered LOADING.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.server import Server

log = logging.getLogger("aikv.busy")

BUSY_EVAL = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
BUSY_FUNCTION = ("BUSY Redis is busy running a script. You can only call FUNCTION KILL or "
                 "SHUTDOWN NOSAVE.")
LOADING = "LOADING Redis is loading the dataset in memory"
# How often a script past the threshold looks at its connections (Redis: every 100,000
# Lua instructions, a millisecond or so; here at most every SERVE_INTERVAL_S seconds).
SERVE_INTERVAL_S = 0.002
READ_SIZE = 1 << 16


class DirectTransport:
    """Stands in for a client's uvloop transport while the loop is held: uvloop sends
    what is written only when the loop runs, so replies go to the socket here (after
    whatever the transport still holds, which keeps them in order)."""

    def __init__(self, real: Any, fd: int) -> None:
        self.real = real
        self.fd = fd

    def write(self, data: bytes) -> None:
        real = self.real
        if real.get_write_buffer_size() == 0 and not real.is_closing():
            try:
                sent = os.write(self.fd, data)
            except BlockingIOError:
                sent = 0
            except OSError:
                return  # the peer is gone; the loop sees it when it runs again
            data = data[sent:]
        if data:
            real.write(data)

    def close(self) -> None:
        # QUIT: the loop closes the transport when it runs again; the peer sees the end
        # now, as with Redis, unless replies still wait in the transport.
        real = self.real
        empty = real.get_write_buffer_size() == 0
        real.close()
        if empty:
            _shutdown(self.fd)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _shutdown(fd: int) -> None:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


class AcceptedTransport:
    """The transport of a connection accepted while the loop is held, until the loop
    adopts the socket (Client.connection_made is then called again)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.unsent = bytearray()
        self.closed = False
        self.reading = True

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        if not self.unsent:
            try:
                data = data[self.sock.send(data):]
            except BlockingIOError:
                pass
            except OSError:
                self.closed = True
                return
        self.unsent += data

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        try:
            if name == "socket":
                return self.sock
            if name == "peername":
                return self.sock.getpeername()
            if name == "sockname":
                return self.sock.getsockname()
        except OSError:
            pass
        return default

    def get_write_buffer_size(self) -> int:
        return len(self.unsent)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True
        if not self.unsent:
            self.sock.close()

    def abort(self) -> None:
        self.unsent.clear()
        self.closed = True
        self.sock.close()

    def take_unsent(self) -> bytes:
        data = bytes(self.unsent)
        self.unsent.clear()
        return data


class BusyServing:
    """The node's connections while the loop is held: commands without the `allowed`
    flag are answered `refusal` (Server.execute). `protected`: the client whose command
    holds the loop, not read meanwhile."""

    def __init__(self, server: Server, protected: Client | None, refusal: str,
                 allowed: str) -> None:
        self.server = server
        self.protected = protected
        self.refusal = refusal
        self.allowed = allowed
        self.at_eof: set[int] = set()  # fds whose peer closed: the loop handles them later
        self.accepted: list[tuple[Client, AcceptedTransport]] = []
        self.listeners = _own_sockets(
            pseudo for srv in (*server._servers, server._unix_server)
            for pseudo in getattr(srv, "sockets", None) or ())
        # Peers connecting to the cluster bus meanwhile are accepted too: a load can take
        # minutes, and a peer whose link broke must be able to ping us again before it
        # takes us for failing (Redis accepts them in processEventsWhileBlocked).
        bus = server.cluster.transport if server.cluster is not None else None
        self.bus_listeners = _own_sockets(bus.listening_sockets()) if bus is not None else []
        self.accepted_bus: list[tuple[Any, AcceptedTransport]] = []
        # While busy no command takes Client._run's direct path, so each meets
        # Server.execute's BUSY check; lookup_command must not refill it meanwhile.
        self._direct = server.data_commands
        self._no_direct = server._no_direct_path
        server.data_commands = {}
        server._no_direct_path = True
        server.busy = self

    def end(self) -> None:
        """The script is over: the loop takes the connections back."""
        server = self.server
        server.busy = None
        server.data_commands = self._direct
        server._no_direct_path = self._no_direct
        # Whatever changed meanwhile (a bus message can change the node's role), the
        # direct path is rebuilt from the gates as they are now.
        server.update_write_gates()
        server.command_cache.clear()
        server.data_commands.clear()
        for sock in (*self.listeners, *self.bus_listeners):
            sock.close()
        loop = server.loop
        for proto, transport in self.accepted_bus:
            if proto.closed or transport.closed or transport.sock.fileno() in self.at_eof \
                    or loop is None:
                transport.sock.close()
                proto.connection_lost(None)  # (the engine forgets the link, as for any loss)
                continue
            loop.create_task(_adopt_bus(loop, proto, transport))
        for client, transport in self.accepted:
            if transport.closed or client.fd in self.at_eof or loop is None:
                if transport.unsent and transport.sock.fileno() >= 0:
                    with contextlib.suppress(OSError):
                        transport.sock.send(transport.unsent)  # what the peer can take now
                transport.sock.close()
                client.connection_lost(None)  # (once: a QUIT or an EOF may have been first)
                continue
            loop.create_task(_adopt(server, client, transport))

    # ------------------------------------------------------------------ serving
    def serve(self) -> None:
        """One pass over whatever is ready now, without waiting."""
        server = self.server
        clock = server.clock
        now_ms = clock.now_ms  # the script keeps its own notion of now
        poller = select.poll()
        readers: dict[int, Any] = {}
        for sock in (*self.listeners, *self.bus_listeners):
            readers[sock.fileno()] = sock
        for client in list(server.clients.values()):
            if self._may_read(client):
                readers[client.fd] = client
        for client, transport in self.accepted:
            if transport.reading and not transport.closed and client.fd not in self.at_eof \
                    and not client.closing:
                readers[client.fd] = client
        links = _bus_links(server)
        for fd, proto in links.items():
            readers[fd] = proto
        for fd in readers:
            poller.register(fd, select.POLLIN)
        try:
            ready = poller.poll(0)
        finally:
            clock.now_ms = now_ms
        for fd, _ in ready:
            target = readers[fd]
            if isinstance(target, socket.socket):
                if target in self.bus_listeners:
                    self._accept_bus(target)
                else:
                    self._accept(target)
            else:
                self._read(fd, target, target in links.values())
        clock.now_ms = now_ms

    def _may_read(self, client: Client) -> bool:
        # Not: the script's caller; a client with replies waiting for the end of the tick
        # (its next reply must not overtake them); the link to our master (its stream
        # waits, as in Redis); paused readers. Replicas are read: their REPLCONF ACKs
        # are allow-busy, and one that goes away must be seen to go (a script may wait
        # for connected_slaves to drop).
        return (client is not self.protected and client.fd >= 0 and not client.closing
                and client.transport is not None and not client.pending and not client.out
                and not client.is_master
                and not client._reading_paused and client.fd not in self.at_eof)

    def _accept(self, listener: socket.socket) -> None:
        from aikv.client import Client

        try:
            sock, _ = listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        client = Client(self.server)
        transport = AcceptedTransport(sock)
        self.accepted.append((client, transport))
        client.connection_made(transport)  # type: ignore[arg-type]

    def _accept_bus(self, listener: socket.socket) -> None:
        cluster = self.server.cluster
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        bus = cluster.transport if cluster is not None else None
        if bus is None:
            sock.close()
            return
        sock.setblocking(False)
        transport = AcceptedTransport(sock)
        # Registered among the live links at once, so the next passes read it.
        self.accepted_bus.append((bus.accepted(transport), transport))

    def _read(self, fd: int, target: Any, bus: bool) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # The peer is gone: let the client go now, as Redis frees it (a replica that
            # left must stop counting); the loop's later report of it is ignored.
            self.at_eof.add(fd)
            if not bus and target.transport is not None:
                target.transport.close()
                target.connection_lost(None)
            return
        real = target.transport
        if real is None:
            return
        if not isinstance(real, AcceptedTransport):
            target.transport = DirectTransport(real, fd)
        try:
            target.data_received(data)
            if not bus and (target.pending or target.out):
                target.flush()
        finally:
            if target.transport is not real and isinstance(target.transport, DirectTransport):
                target.transport = real


def _own_sockets(listening: Any) -> list[socket.socket]:
    """Sockets of our own on the same listening sockets (uvloop's cannot accept), closed
    when the loop is free again."""
    own = []
    for pseudo in listening:
        try:
            sock = socket.socket(fileno=os.dup(pseudo.fileno()))
            sock.setblocking(False)
            own.append(sock)
        except OSError as exc:
            log.debug("cannot listen while busy: %s", exc)
    return own


def _bus_links(server: Server) -> dict[int, Any]:
    """The open cluster bus links by fd: PINGs are answered while a script runs, as
    Redis's processEventsWhileBlocked does, so peers do not take the node for failing."""
    cluster = server.cluster
    if cluster is None:
        return {}
    links: dict[int, Any] = {}
    for proto in list(cluster.transport._protocols.values()):
        transport = proto.transport
        if transport is None or proto.closed:
            continue
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                links[sock.fileno()] = proto
            except OSError:
                pass
    return links


async def _adopt_bus(loop: Any, proto: Any, transport: AcceptedTransport) -> None:
    try:
        await loop.connect_accepted_socket(lambda: proto, transport.sock)
    except OSError:
        transport.sock.close()
        proto.connection_lost(None)


async def _adopt(server: Server, client: Client, transport: AcceptedTransport) -> None:
    assert server.loop is not None
    try:
        await server.loop.connect_accepted_socket(lambda: client, transport.sock)
    except OSError:
        transport.sock.close()
        client.connection_lost(None)


def log_slow_script(elapsed_s: float, is_eval: bool, name: bytes) -> None:
    log.warning("Slow script detected: still in execution after %d milliseconds. You can "
                "try killing the script using the %s command. Script name is: %s.",
                int(elapsed_s * 1000), "SCRIPT KILL" if is_eval else "FUNCTION KILL",
                name.decode(errors="replace"))
