"""What a command sends to replicas.

Replicas run the master's commands in order, so most commands are sent as the client
gave them: with the same data, a deterministic command does the same thing there. What
is not deterministic, or depends on the time, is sent as its effect instead, as Redis
does (SET ... EX becomes SET ... PXAT, SPOP becomes SREM, INCRBYFLOAT becomes SET with
the new value...). A handler states that with `propagate_as`; everything else follows
from the command table:

- a write command (or a "may-replicate" one: PUBLISH, PFCOUNT) is sent unless its
  reply is an error (Redis's commands check before they change anything) or it
  blocked the client (a blocked command is sent when it is served, as its effect);
- transactions and scripts (EXEC, EVAL, FCALL...) are not sent themselves: the
  commands they ran are, each with its own rule (Redis 7's effects replication);
- a key found past its deadline is deleted on the replicas at once (a DEL before the
  command that found it). AiKv leaves such a key stored until the expiry cycle, but a
  replica's copy must go now: a Redis replica lets its master's commands see keys past
  their deadline, so without the DEL an LPUSHX or SET XX there would act on it.

The effects of one command from a client (a transaction's or a script's included) reach
the sink together; more than one is wrapped in MULTI/EXEC by the source, as Redis does.

Nothing here costs anything until the first replica connects: Server.start_propagating
swaps in the propagating call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aikv.client import Client

# One effect: (SELECT index it applies in, argv).
Effect = tuple[int, list[bytes]]
# Receives the effects of one command from a client, in order.
Sink = Callable[[list[Effect]], None]



class Frame:
    """The command being run (nested inside a transaction or a script): the effects
    collected so far, and what the handler asked to send instead of its argv."""

    __slots__ = ("effects", "replaced")

    def __init__(self) -> None:
        self.effects: list[Effect] = []
        self.replaced: list[list[bytes]] | None = None


def propagate_as(client: Client, *argvs: list[bytes]) -> None:
    """The command running for `client` reaches replicas as `argvs` (in the client's
    current database) instead of its own argv; no argv at all: it sends nothing.
    A no-op while no replica is connected."""
    frame = client.server.propagation_frame
    if frame is not None:
        frame.replaced = list(argvs)


def propagate_effect(client: Client, argv: list[bytes], db_index: int | None = None) -> None:
    """Send `argv` to replicas now (in `db_index`, default the client's database): for a
    change made outside the command's own run, e.g. a blocked client being served.
    A no-op while no replica is connected."""
    server = client.server
    if server.propagator is None:
        return
    index = client.db_index if db_index is None else db_index
    frame = server.propagation_frame
    if frame is not None:
        frame.effects.append((index, argv))
    else:
        server.propagator([(index, argv)])
