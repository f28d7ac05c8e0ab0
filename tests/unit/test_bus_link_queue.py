"""Messages sent to a bus link whose connect has not finished are written once it does
(Redis queues them on the link), and dropped if the connect fails."""

from __future__ import annotations

import asyncio

from aikv.bus.gossip import Link
from aikv.bus.link import BusTransport


def _bus(loop: asyncio.AbstractEventLoop, ups: list[Link], downs: list[Link]) -> BusTransport:
    return BusTransport(loop, on_message=lambda link, msg: None, on_up=ups.append,
                        on_down=downs.append)


def test_sends_before_the_connect_completes_are_written_first() -> None:
    async def scenario() -> bytes:
        received = bytearray()
        got_all = asyncio.Event()

        async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while len(received) < 10:
                chunk = await reader.read(100)
                if not chunk:
                    break
                received.extend(chunk)
            got_all.set()
            writer.close()

        server = await asyncio.start_server(peer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        ups: list[Link] = []
        downs: list[Link] = []
        bus = _bus(loop, ups, downs)
        link = Link(inbound=False)
        bus.connect(link, "127.0.0.1", port)
        bus.send(link, b"first")  # the connect task has not even started yet
        bus.send(link, b"second")
        await asyncio.wait_for(got_all.wait(), 10)
        assert ups == [link] and downs == []
        await bus.stop()
        server.close()
        return bytes(received)

    assert asyncio.run(scenario())[:11] == b"firstsecond"


def test_a_failed_connect_drops_what_was_queued() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        # A port nothing listens on: bind it, close it, connect to it.
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        ups: list[Link] = []
        downs: list[Link] = []
        bus = _bus(loop, ups, downs)
        link = Link(inbound=False)
        bus.connect(link, "127.0.0.1", port)
        bus.send(link, b"lost")
        for _ in range(200):
            if downs:
                break
            await asyncio.sleep(0.01)
        assert downs == [link] and ups == []
        assert link not in bus._queued
        bus.send(link, b"after")  # neither connecting nor connected: nothing kept
        assert link not in bus._queued
        await bus.stop()

    asyncio.run(scenario())
