"""An in-process server whose propagated effects are captured: what a master would send
its replicas for each command, without a replica (see aikv/replication/propagate.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aikv.client import Client
from aikv.config import Config
from aikv.replication.propagate import Effect
from aikv.server import Server
from bench.python_path import FakeTransport


class Captured:
    def __init__(self, server: Server, client: Client) -> None:
        self.server = server
        self.client = client
        self.batches: list[list[Effect]] = []
        server.start_propagating(self.batches.append)

    def run(self, *argv: bytes | str | int) -> bytes:
        """Run one command as the client; returns its encoded reply."""
        args = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
        self.client.out.clear()
        self.server.dispatch(self.client, args)
        return b"".join(self.client.out)

    def sent(self, *argv: bytes | str | int) -> list[Effect]:
        """Run one command and return the effects it propagated (one batch or none)."""
        before = len(self.batches)
        self.run(*argv)
        new = self.batches[before:]
        assert len(new) <= 1, new
        return new[0] if new else []

    def argvs(self, *argv: bytes | str | int) -> list[list[bytes]]:
        """As sent(), without the database indexes."""
        return [effect for _, effect in self.sent(*argv)]


@contextmanager
def in_process_server(tmp_path: Path, **settings: str) -> Iterator[tuple[Server, Client]]:
    """A server with its store open in `tmp_path`, and one client on a fake transport."""
    config = Config()
    config.set("dir", str(tmp_path), startup=True)
    for name, value in settings.items():
        config.set(name.replace("_", "-"), value, startup=True)
    server = Server(config)
    server.open_storage()
    try:
        client = Client(server)
        client.connection_made(FakeTransport())  # type: ignore[arg-type]
        yield server, client
    finally:
        server.store.close()


@contextmanager
def captured_server(tmp_path: Path, **settings: str) -> Iterator[Captured]:
    with in_process_server(tmp_path, **settings) as (server, client):
        yield Captured(server, client)
