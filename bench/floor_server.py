"""A do-nothing RESP server on uvloop, for the `floor` scenario: what one Python process
on uvloop costs per request before any command runs.

It frames requests with AiKv's own parser (aikv.protocol.RequestParser) and answers
each one with a canned reply (GET: a 3-byte bulk, PING: +PONG, anything else: +OK) in
one write per read. No storage, no dispatch, no commit. redis-benchmark only counts replies, so its
SET and GET runs work unchanged against it.

    python -m bench.floor_server --port 7000
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop

from aikv.protocol import ProtocolError, RequestParser

_OK = b"+OK\r\n"
_CANNED = {b"GET": b"$3\r\nxxx\r\n", b"get": b"$3\r\nxxx\r\n",
           b"PING": b"+PONG\r\n", b"ping": b"+PONG\r\n"}


class Responder(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = RequestParser()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        commands: list[list[bytes]] = []
        try:
            self.parser.feed(data, commands)
        except ProtocolError:
            assert self.transport is not None
            self.transport.close()
            return
        if commands and self.transport is not None:
            canned = _CANNED.get
            self.transport.write(b"".join([canned(argv[0], _OK) for argv in commands]))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Responder, "127.0.0.1", port, reuse_address=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
