"""Chained replication's pieces without sockets: a replica's ReplicationSource relaying
its master's stream (aikv/replication/source.py), and the replica link handing on only
what it applied (aikv/replica.py `_stream`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from aikv.migrate.migrate import encode_command
from aikv.replica import ReplicaLink
from aikv.replication.backlog import Backlog
from aikv.replication.source import NO_REPLID, Follower, ReplicationSource
from tests.unit.propagation_harness import in_process_server

REPLID = "a" * 40
NEW_REPLID = "b" * 40


class FakeClient:
    def __init__(self, client_id: int) -> None:
        self.id = client_id
        self.addr = f"127.0.0.1:{client_id}"
        self.written: list[bytes] = []
        self.closed = False
        self.closing = False
        self.replica_state: Follower | None = None

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = self.closing = True


def _relaying(offset: int = 100) -> tuple[ReplicationSource, Backlog]:
    server: Any = SimpleNamespace(update_write_gates=lambda: None, replica=None, pause_mode=0,
                                  config=SimpleNamespace(values={
                                      "repl-backlog-ttl": 1, "repl-timeout": 60,
                                      "repl-ping-replica-period": 0}))
    backlog = Backlog(offset)
    return ReplicationSource.relaying_for(server, REPLID, offset, backlog), backlog


def _follower(source: ReplicationSource, client_id: int, pending: bool = False
              ) -> FakeClient:
    client = FakeClient(client_id)
    follower = Follower(client)  # type: ignore[arg-type]
    follower.state = "online"
    if pending:
        follower.pending = []
    source.followers[client_id] = follower
    return client


def test_relay_sends_the_bytes_on_unchanged_and_counts_them() -> None:
    source, backlog = _relaying()
    online = _follower(source, 1)
    loading = _follower(source, 2, pending=True)  # its RDB file is being written
    source.relay(b"*1\r\n$4\r\nPING\r\n")
    assert online.written == [b"*1\r\n$4\r\nPING\r\n"]
    assert loading.written == [] and source.followers[2].pending == [b"*1\r\n$4\r\nPING\r\n"]
    assert source.offset == 114
    assert source.backlog is backlog  # the link's, which it appends to itself


def test_a_relaying_source_produces_nothing_of_its_own() -> None:
    source, _ = _relaying()
    client = _follower(source, 1)
    source.cron()  # repl-ping-replica-period 0: a master would PING now
    source._send_getack()
    source.flush()
    assert client.written == [] and source.offset == 100
    source.save_position()  # the replica's position is the link's: nothing stored


def test_master_continued_under_a_new_id_shifts_it_and_disconnects() -> None:
    source, backlog = _relaying()
    backlog.append(b"x" * 10, 1000)
    source.relay(b"x" * 10)
    client = _follower(source, 1)
    source.master_continued(REPLID)  # the same history: nothing changes
    assert not client.closed and source.replid2 == NO_REPLID
    source.master_continued(NEW_REPLID)
    assert client.closed and not source.followers
    assert (source.replid, source.replid2, source.second_offset) == (NEW_REPLID, REPLID, 111)
    # A sub-replica that knew the old id up to there continues.
    assert source._can_continue(REPLID, 105) and source._can_continue(REPLID, 111)
    assert not source._can_continue(REPLID, 112)
    assert source._can_continue(NEW_REPLID, 111)


def test_the_link_hands_on_only_what_it_applied(tmp_path: Path) -> None:
    """Commands cut by a read, and a transaction until its EXEC, are held back: the
    sub-replicas and the backlog get whole commands, at the master's offsets."""
    ping = encode_command(b"PING")
    multi = encode_command(b"MULTI") + encode_command(b"SET", b"k", b"v")
    exec_ = encode_command(b"EXEC")
    select = encode_command(b"SELECT", b"3")
    chunks = [select + ping[:5], ping[5:] + multi, exec_ + b"*2\r\n$3\r\nGET"]
    with in_process_server(tmp_path) as (server, client):
        relayed: list[tuple[int, bytes]] = []

        async def run() -> None:
            server.loop = asyncio.get_running_loop()
            link = ReplicaLink(server, "127.0.0.1", 1)
            link.master_client = link._new_master_client()
            source, _ = _relaying(0)
            server.replication = source
            source.relay = lambda data: relayed.append((link.offset, data))  # type: ignore
            reads = iter([*chunks, b""])  # one read each, then the end of the link

            async def read(_: int) -> bytes:
                return next(reads)

            reader: Any = SimpleNamespace(read=read)
            with pytest.raises(EOFError):
                await link._stream(reader, 5)
            assert link.offset == len(select + ping + multi + exec_)
            assert link.read_offset == link.offset + len(b"*2\r\n$3\r\nGET")
            assert link.backlog.since(1) == select + ping + multi + exec_
            assert link.master_client.db_index == 3
            client.out.clear()
            server.dispatch(client, [b"SELECT", b"3"])
            server.dispatch(client, [b"GET", b"k"])
            assert client.out[-1].endswith(b"v\r\n")
            server.replication = None

        asyncio.run(run())
    # Each read's applied bytes, as they came: the split PING once whole, the
    # transaction once its EXEC ran.
    assert [data for _, data in relayed] == [select, ping, multi + exec_]
