"""REPLICAOF / SLAVEOF, FAILOVER, and what replicas of this node send.

REPLICAOF host port makes this node a replica of that master (aikv/replica.py: it
follows a redis-server, or any master speaking PSYNC), offering its own replication id
and offset as its position when it was a master; REPLICAOF NO ONE makes it a master
again, keeping its data and going on with its stream under a new replication id (the
old one still valid up to where it stopped, with the backlog it kept as a replica).

FAILOVER hands this master's role to one of its replicas without losing a write, as
Redis 7.0 does (aikv/replication/failover.py): writes are paused, the target (TO host
port, or the first replica to acknowledge the whole stream) is waited for, then this
node becomes its replica with `PSYNC <replid> <offset> FAILOVER`. TIMEOUT abandons the
wait (with FORCE, hands over all the same), FAILOVER ABORT ends it at any point.

SYNC, PSYNC and REPLCONF are what replicas of this node send (the master side is
aikv/replication/source.py), whether it is a master or itself a replica (chained
replication: it relays its master's stream to them); a replica that receives `PSYNC <its master's replid>
<offset> FAILOVER` from its master is promoted first, then serves it.

Argument checks and error texts follow redis-server 7.0.15, in its order.
"""
from __future__ import annotations

import logging
import shlex
from typing import TYPE_CHECKING

from aikv.commands.args import parse_int
from aikv.commands.registry import command
from aikv.replication.failover import Failover, find_replica, now_ms
from aikv.replication.source import ReplicationSource, follower_of
from aikv.resp import OK, CommandError, simple

if TYPE_CHECKING:
    from aikv.client import Client

log = logging.getLogger("aikv")


def _replicaof(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    if server.config.cluster_enabled:
        raise CommandError("ERR REPLICAOF not allowed in cluster mode.")
    if server.failover is not None:
        raise CommandError("ERR REPLICAOF not allowed while failing over.")
    if argv[1].lower() == b"no" and argv[2].lower() == b"one":
        if server.replica is not None:
            server.replicate_from(None)
            log.warning("MASTER MODE enabled (user request from '%s')", client.addr)
        return OK
    try:
        port = parse_int(argv[2])
    except CommandError:
        port = -1
    if not 0 <= port <= 65535:
        raise CommandError("ERR Invalid master port")
    host = argv[1].decode(errors="replace")
    link = server.replica
    if link is not None and (link.host, link.port) == (host, port):
        log.warning("REPLICAOF would result into synchronization with the master we are "
                    "already connected with. No operation performed.")
        return simple("OK Already connected to specified master")
    server.replicate_from((host, port))
    log.warning("REPLICAOF %s:%d enabled (user request from '%s')", host, port, client.addr)
    return OK


@command("replicaof", 3, "admin noscript stale no-async-loading",
         categories="@admin @slow @dangerous")
def replicaof(client: Client, argv: list[bytes]) -> bytes:
    return _replicaof(client, argv)


@command("slaveof", 3, "admin noscript stale no-async-loading",
         categories="@admin @slow @dangerous")
def slaveof(client: Client, argv: list[bytes]) -> bytes:
    return _replicaof(client, argv)


@command("failover", -1, "admin noscript stale", categories="@admin @slow @dangerous")
def failover(client: Client, argv: list[bytes]) -> bytes:
    """FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: parsed as Redis parses it
    (a repeated option is a syntax error, as is ABORT with anything else; a TIMEOUT that
    is not positive fails as soon as it is read), then checked in Redis's order; the
    hand-over itself is aikv/replication/failover.py."""
    server = client.server
    if server.config.cluster_enabled:
        raise CommandError("ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER "
                           "command instead.")
    host: bytes | None = None
    port = 0
    force = abort = False
    timeout_ms = 0
    n = len(argv)
    j = 1
    while j < n:
        option = argv[j].lower()
        if option == b"to" and j + 2 < n and host is None:
            port = parse_int(argv[j + 2])  # any integer is taken as a port here, as in Redis
            host = argv[j + 1]
            j += 3
        elif option == b"timeout" and j + 1 < n and timeout_ms == 0:
            timeout_ms = parse_int(argv[j + 1])
            if timeout_ms <= 0:  # checked as it is read, before what follows
                raise CommandError("ERR FAILOVER timeout must be greater than 0")
            j += 2
        elif option == b"force" and not force:
            force = True
            j += 1
        elif option == b"abort" and n == 2:
            abort = True
            j += 1
        else:
            raise CommandError("ERR syntax error")
    if abort:
        if server.failover is None:
            raise CommandError("ERR No failover in progress.")
        server.failover.abort("Failover manually aborted")
        return OK
    if server.failover is not None:
        raise CommandError("ERR FAILOVER already in progress.")
    if server.replica is not None:
        raise CommandError("ERR FAILOVER is not valid when server is a replica.")
    if server.replication is None or not server.replication.followers:
        raise CommandError("ERR FAILOVER requires connected replicas.")
    if force and (not timeout_ms or host is None):
        raise CommandError("ERR FAILOVER with force option requires both a timeout and "
                           "target HOST and IP.")
    target = None
    if host is not None:
        target = (host.decode(errors="replace"), port)
        follower = find_replica(server, *target)
        if follower is None:
            raise CommandError("ERR FAILOVER target HOST and PORT is not a replica.")
        if follower.state != "online":
            raise CommandError("ERR FAILOVER target replica is not online.")
    end_ms = now_ms() + timeout_ms if timeout_ms else 0
    Failover(server, target, end_ms, force).start()
    return OK


def replication_source(client: Client) -> ReplicationSource:
    """The stream replicas get: this master's, or a replica's master's, relayed (chained
    replication: the replica's id, offset and backlog are its master's)."""
    server = client.server
    source = server.replication
    if source is None:
        link = server.replica
        if link is None:
            source = ReplicationSource(server, *server.idle_stream_position)
            server.lone_waits.hand_over(source)
        else:
            source = ReplicationSource.relaying_for(server, link.replid, link.offset,
                                                    link.backlog)
        server.replication = source
    return source


def _sync(client: Client, replid: bytes, offset: bytes | None, failover: bool = False
          ) -> bytes:
    if client.is_replica:
        return b""  # already a replica: ignored, as Redis does
    server = client.server
    if failover:
        # Our master hands its role to us (its FAILOVER): we become a master, keeping
        # the data, and its PSYNC is served as any replica's (+CONTINUE when it holds
        # no more than we do).
        log.warning("Failover request received for replid %s.", replid.decode(errors="replace"))
        link = server.replica
        if link is None:
            raise CommandError("ERR PSYNC FAILOVER can't be sent to a master.")
        # A replica that never synchronised has no replid to match.
        if link.master_client is None or replid.lower() != link.replid.encode().lower():
            raise CommandError("ERR PSYNC FAILOVER replid must match my replid.")
        server.replicate_from(None)
        log.warning("MASTER MODE enabled (failover request from '%s')", client.addr)
    if server.failover is not None:
        raise CommandError("NOMASTERLINK Can't SYNC while failing over")
    if server.replica is not None:
        if server.replica.state != "connected":
            raise CommandError("NOMASTERLINK Can't SYNC while not connected with my master")
    if client.out:
        raise CommandError("ERR SYNC and PSYNC are invalid with pending output")
    log.info("Replica %s asks for synchronization", client.addr)
    return replication_source(client).psync(client, replid, offset)


@command("sync", 1, "admin noscript no-async-loading no-multi", categories="@admin @slow @dangerous")
def sync(client: Client, argv: list[bytes]) -> bytes:
    return _sync(client, b"?", None)


@command("psync", -3, "admin noscript no-async-loading no-multi",
         categories="@admin @slow @dangerous")
def psync(client: Client, argv: list[bytes]) -> bytes:
    return _sync(client, argv[1], argv[2], len(argv) > 3 and argv[3].lower() == b"failover")


@command("replconf", -1, "admin noscript loading stale allow-busy",
         categories="@admin @slow @dangerous")
def replconf(client: Client, argv: list[bytes]) -> bytes:
    """What a replica tells its master about itself (listening-port, ip-address, capa)
    and its acknowledgements (ACK <offset>: no reply). GETACK is for replicas (the
    replica link answers it itself); the other options are accepted as Redis accepts them."""
    if len(argv) % 2 == 0:
        raise CommandError("ERR syntax error")
    server = client.server
    for j in range(1, len(argv), 2):
        option = argv[j].lower()
        value = argv[j + 1]
        if option == b"listening-port":
            port = parse_int(value)
            follower_of(client).listening_port = port
        elif option == b"ip-address":
            if len(value) >= 46:  # NET_HOST_STR_LEN
                raise CommandError("ERR REPLCONF ip-address provided by replica instance is "
                                   f"too long: {len(value)} bytes")
            follower_of(client).address = value.decode(errors="replace")
        elif option == b"capa":
            follower_of(client).capa.add(value.decode(errors="replace").lower())
        elif option == b"ack":
            source = server.replication
            if source is not None and client.is_replica:
                try:
                    source.ack(client, int(value))
                except ValueError:
                    pass
            return b""
        elif option == b"getack":
            return b""
        elif option == b"rdb-only":
            rdb_only = parse_int(value)
            if not 0 <= rdb_only <= 1:
                raise CommandError("ERR value is out of range, value must between 0 and 1")
            follower_of(client).rdb_only = rdb_only == 1
        elif option == b"rdb-filter-only":
            try:
                filters = shlex.split(value.decode(errors="replace"))
            except ValueError:
                raise CommandError("ERR Missing rdb-filter-only values") from None
            for name in filters:
                if name.lower() != "functions":
                    raise CommandError(f"ERR Unsupported rdb-filter-only option: {name}")
            follower_of(client).rdb_filter = {name.lower() for name in filters}
        else:
            raise CommandError("ERR Unrecognized REPLCONF option: %s" % argv[j].decode(errors="replace"))
    return OK
