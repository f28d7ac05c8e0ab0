"""`python -m bench.python_path`: what AiKv's Python request path costs, without sockets.

Starts a Server in this process on uvloop (its own temporary --dir, default settings),
connects CLIENTS Client objects to a fake transport, and feeds them GET or SET requests
for random keys out of 100,000 (stored first): each client gets one batch of `--pipeline`
requests, then the loop runs once, which ends the tick (the log frame, the replies) as in
the server. Prints the CPU time per request (process time, the best of `--rounds`). The
difference to the socket benchmarks is the kernel's share; the difference to
bench/floor_server.py is AiKv's own work.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from typing import Any

import uvloop

from aikv.client import Client
from aikv.config import Config
from aikv.server import Server
from bench.procs import free_port

CLIENTS = 30  # about what a tick holds under redis-benchmark -c 50 unpipelined
KEYS = 100_000
BATCHES = 2_000


class FakeTransport:
    """The parts of an asyncio transport a Client uses; writes are dropped."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 6379) if name in ("peername", "sockname") else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def request(command: str, key: bytes) -> bytes:
    if command == "get":
        return b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)
    return b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxxx\r\n" % (len(key), key)


async def measure(server: Server, command: str, pipeline: int, rounds: int,
                  replica: bool = False) -> float:
    await server.start()
    try:
        if replica:
            # One online replica on a fake connection: every write is propagated.
            from aikv.replication.source import ReplicationSource

            follower_client = Client(server)
            follower_client.connection_made(FakeTransport())  # type: ignore[arg-type]
            source = server.replication = ReplicationSource(server)
            source._attach(source.follower(follower_client))
        clients = []
        for _ in range(CLIENTS):
            client = Client(server)
            client.connection_made(FakeTransport())  # type: ignore[arg-type]
            clients.append(client)
        keys = [b"key:%012d" % i for i in range(KEYS)]
        for start in range(0, KEYS, 1000):
            clients[0].data_received(b"".join(request("set", k) for k in keys[start:start + 1000]))
            await asyncio.sleep(0)
        if server.store.key_totals[0] != KEYS:  # the requests must really have run
            raise RuntimeError(f"{server.store.key_totals[0]} keys stored, not {KEYS}")
        rng = random.Random(1)
        batches = [b"".join(request(command, rng.choice(keys)) for _ in range(pipeline))
                   for _ in range(BATCHES)]
        best = float("inf")
        for _ in range(rounds):
            started = time.process_time_ns()
            for i, batch in enumerate(batches):
                clients[i % CLIENTS].data_received(batch)
                if i % CLIENTS == CLIENTS - 1:
                    await asyncio.sleep(0)  # the tick ends, as after one loop pass
            await asyncio.sleep(0)
            best = min(best, (time.process_time_ns() - started) / (BATCHES * pipeline))
        return best / 1000
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.python_path", description=__doc__)
    p.add_argument("command", choices=["get", "set"])
    p.add_argument("--pipeline", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--replica", action="store_true", help="with one (fake) replica attached")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aikv-python-path-") as directory:
        config = Config()
        config.set("dir", directory, startup=True)
        config.set("port", str(free_port()), startup=True)
        config.set("bind", "127.0.0.1", startup=True)
        server = Server(config)
        server.open_storage()
        us = uvloop.run(measure(server, args.command, args.pipeline, args.rounds,
                                args.replica))
    print(f"{args.command.upper()} pipeline {args.pipeline}: {us:.2f} us of CPU per request "
          f"(best of {args.rounds} rounds of {BATCHES:,} batches, {CLIENTS} clients a tick)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
