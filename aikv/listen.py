"""The listening sockets `bind` asks for, opened as redis-server opens them.

`bind` holds one or more addresses. Each gets its own socket: IPv6 when the address has
a colon, IPv4 otherwise; `*` and `::*` mean every interface of that family. A leading
`-` makes an address optional: if it is not available here (EADDRNOTAVAIL, say `-::1`
on a host without IPv6 loopback), it is skipped. So is an address whose family or
protocol the host does not support, optional or not. Any other failure closes what was
opened and the node does not start (Redis's listenToPort). Every failure is logged with
Redis's warning. The client port and the cluster bus port both go through here.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from collections.abc import Callable

log = logging.getLogger("aikv")

# Failures skipped whatever the address: the host cannot do that family or protocol.
_UNSUPPORTED = {errno.ENOPROTOOPT, errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT,
                errno.EPFNOSUPPORT, errno.EAFNOSUPPORT}


class ListenError(OSError):
    """A socket `bind` asked for could not be opened (the node must not start): on
    `port`, for `kind` ("TCP", or "cluster" for the bus), as Redis's log line names it."""

    def __init__(self, code: int | None, reason: str, port: int, kind: str) -> None:
        super().__init__(code, reason)
        self.port = port
        self.kind = kind


class NothingToListenOn(Exception):
    """No TCP socket (port 0, or every `bind` address optional and unavailable) and no
    Unix socket: Redis exits rather than run unreachable."""


def bind_addresses(text: str) -> list[tuple[str, bool]]:
    """(address, optional) for each word of a `bind` value."""
    return [(word[1:], True) if word.startswith("-") else (word, False)
            for word in text.split()]


def open_sockets(bind: str, port: int, backlog: int = 511, kind: str = "TCP"
                 ) -> tuple[list[socket.socket], int]:
    """Listening sockets on `port` for every address of `bind`, and the port (chosen by
    the first socket when `port` is 0, then shared by the others). Plain sockets, made
    at once: CONFIG SET port/bind opens them inside a command (see serve_on)."""
    opened: list[socket.socket] = []
    for address, optional in bind_addresses(bind):  # (`bind ""`: no TCP socket, as Redis)
        try:
            sock = _listening_socket(address, port, backlog)
        except OSError as exc:
            if isinstance(exc, socket.gaierror) or not exc.errno:
                reason = exc.strerror or str(exc)  # (a name that does not resolve)
            else:
                reason = f"bind: {os.strerror(exc.errno)}"
            log.warning("Warning: Could not create server TCP listening socket %s:%d: %s",
                        address, port, reason)
            if exc.errno in _UNSUPPORTED or (optional and exc.errno == errno.EADDRNOTAVAIL):
                continue
            for done in opened:
                done.close()
            raise ListenError(exc.errno, reason, port, kind) from exc
        opened.append(sock)
        if port == 0:
            port = sock.getsockname()[1]
    return opened, port


def _listening_socket(address: str, port: int, backlog: int) -> socket.socket:
    # As Redis's anetTcpServer: the first address getaddrinfo gives for that family, an
    # IPv6 socket for IPv6 only, SO_REUSEADDR.
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    host = None if address in ("*", "::*") else address
    fam, kind, proto, _, sockaddr = socket.getaddrinfo(
        host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)[0]
    sock = socket.socket(fam, kind, proto)
    try:
        if fam == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve_on(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol],
                   sockets: list[socket.socket], backlog: int = 511
                   ) -> list[asyncio.AbstractServer]:
    """Accept connections on `sockets` (from open_sockets)."""
    return [await loop.create_server(factory, sock=sock, backlog=backlog) for sock in sockets]


async def listen_all(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol],
                     bind: str, port: int, backlog: int = 511, kind: str = "TCP"
                     ) -> tuple[list[asyncio.AbstractServer], int]:
    """open_sockets, then serve_on: the servers and the port."""
    sockets, port = open_sockets(bind, port, backlog, kind)
    return await serve_on(loop, factory, sockets, backlog), port
