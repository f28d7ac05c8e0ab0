"""REPLICAOF / SLAVEOF and FAILOVER: AiKv has no master-replica replication, so a node is
always a master. These commands answer as a Redis master without replicas would, and
refuse what would need a replica or a master link, rather than being unknown commands
(tools send REPLICAOF NO ONE to any node they promote, for instance). Argument checks and
error texts follow redis-server 7.0.15, in its order.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aikv.commands.args import parse_int
from aikv.commands.registry import command
from aikv.resp import OK, CommandError

if TYPE_CHECKING:
    from aikv.client import Client

log = logging.getLogger("aikv")

NO_REPLICATION = "ERR AiKv does not support replication: this node can only be a master"


def _replicaof(client: Client, argv: list[bytes]) -> bytes:
    if client.server.config.cluster_enabled:
        raise CommandError("ERR REPLICAOF not allowed in cluster mode.")
    if argv[1].lower() == b"no" and argv[2].lower() == b"one":
        log.info("MASTER MODE enabled (user request from '%s')", client.addr)
        return OK  # already a master
    try:
        port = parse_int(argv[2])
    except CommandError:
        port = -1
    if not 0 <= port <= 65535:
        raise CommandError("ERR Invalid master port")
    raise CommandError(NO_REPLICATION)


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
    (a repeated option is a syntax error, as is ABORT with anything else; a TIMEOUT
    that is not positive fails as soon as it is read); then, with no replica ever connected, the only
    outcomes are Redis's errors for that case."""
    if client.server.config.cluster_enabled:
        raise CommandError("ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER "
                           "command instead.")
    host: bytes | None = None
    force = abort = False
    timeout_ms = 0
    n = len(argv)
    j = 1
    while j < n:
        option = argv[j].lower()
        if option == b"to" and j + 2 < n and host is None:
            host = argv[j + 1]
            parse_int(argv[j + 2])  # any integer is taken as a port here, as in Redis
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
        raise CommandError("ERR No failover in progress.")
    raise CommandError("ERR FAILOVER requires connected replicas.")
