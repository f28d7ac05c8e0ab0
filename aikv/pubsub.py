"""The node's pub/sub registry: who listens to which channel, pattern and shard channel,
and delivery of published messages (RESP2 arrays or RESP3 pushes, per subscriber).

The registry lives on `server.pubsub`, created on first use by `get_pubsub()`; the server
calls `client_gone()` when a connection closes and RESET calls it too. A client's own
subscription sets (`client.subscriptions`, `client.patterns`, `client.shard_subscriptions`)
are kept in step, because the dispatcher and CLIENT LIST read them.

Ordering follows Redis where it is defined: subscribers of a channel receive a message in
subscription order; a client's patterns are a list in Redis, so PUNSUBSCRIBE without
arguments reports them in subscription order (channel sets are hash tables in Redis, in
no particular order).

Messages are queued with `client.write()`, which sends them at the end of the tick like
any reply: a message published by a command of this tick reaches subscribers after the
tick's group commit, and a client that publishes to itself sees the message before the
PUBLISH reply, as in Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aikv.glob import compile_pattern

if TYPE_CHECKING:
    from aikv.client import Client

_MESSAGE = b"$7\r\nmessage\r\n"
_PMESSAGE = b"$8\r\npmessage\r\n"
_SMESSAGE = b"$8\r\nsmessage\r\n"


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


class PubSub:
    def __init__(self) -> None:
        # channel -> subscribers (client id -> client), in subscription order.
        self.channels: dict[bytes, dict[int, Client]] = {}
        self.patterns: dict[bytes, dict[int, Client]] = {}
        self.shard_channels: dict[bytes, dict[int, Client]] = {}
        # client id -> its patterns in subscription order (Redis keeps a list).
        self._client_patterns: dict[int, dict[bytes, None]] = {}

    # ------------------------------------------------------------------ subscribe
    def subscribe(self, client: Client, channel: bytes) -> bool:
        if channel in client.subscriptions:
            return False
        client.subscriptions.add(channel)
        self.channels.setdefault(channel, {})[client.id] = client
        return True

    def unsubscribe(self, client: Client, channel: bytes) -> bool:
        if channel not in client.subscriptions:
            return False
        client.subscriptions.discard(channel)
        _drop(self.channels, channel, client.id)
        return True

    def psubscribe(self, client: Client, pattern: bytes) -> bool:
        if pattern in client.patterns:
            return False
        client.patterns.add(pattern)
        self._client_patterns.setdefault(client.id, {})[pattern] = None
        self.patterns.setdefault(pattern, {})[client.id] = client
        return True

    def punsubscribe(self, client: Client, pattern: bytes) -> bool:
        if pattern not in client.patterns:
            return False
        client.patterns.discard(pattern)
        mine = self._client_patterns.get(client.id)
        if mine is not None:
            mine.pop(pattern, None)
            if not mine:
                del self._client_patterns[client.id]
        _drop(self.patterns, pattern, client.id)
        return True

    def ssubscribe(self, client: Client, channel: bytes) -> bool:
        if channel in client.shard_subscriptions:
            return False
        client.shard_subscriptions.add(channel)
        self.shard_channels.setdefault(channel, {})[client.id] = client
        return True

    def sunsubscribe(self, client: Client, channel: bytes) -> bool:
        if channel not in client.shard_subscriptions:
            return False
        client.shard_subscriptions.discard(channel)
        _drop(self.shard_channels, channel, client.id)
        return True

    def client_patterns(self, client: Client) -> list[bytes]:
        return list(self._client_patterns.get(client.id, ()))

    def client_gone(self, client: Client) -> None:
        """Forget every subscription of `client` without notifying it (disconnect,
        RESET)."""
        for channel in list(client.subscriptions):
            self.unsubscribe(client, channel)
        for pattern in list(client.patterns):
            self.punsubscribe(client, pattern)
        for channel in list(client.shard_subscriptions):
            self.sunsubscribe(client, channel)
        self._client_patterns.pop(client.id, None)

    # ------------------------------------------------------------------ publish
    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to the channel's subscribers and to every matching pattern's; returns
        the number of deliveries (a client matching twice counts twice, as in Redis)."""
        receivers = 0
        tail = _bulk(channel) + _bulk(message)
        subscribers = self.channels.get(channel)
        if subscribers:
            body = _MESSAGE + tail
            receivers += _send(subscribers, b"*3\r\n" + body, b">3\r\n" + body)
        if self.patterns:
            for pattern, clients in list(self.patterns.items()):
                if not compile_pattern(pattern)(channel):
                    continue
                body = _PMESSAGE + _bulk(pattern) + tail
                receivers += _send(clients, b"*4\r\n" + body, b">4\r\n" + body)
        return receivers

    def spublish(self, channel: bytes, message: bytes) -> int:
        subscribers = self.shard_channels.get(channel)
        if not subscribers:
            return 0
        body = _SMESSAGE + _bulk(channel) + _bulk(message)
        return _send(subscribers, b"*3\r\n" + body, b">3\r\n" + body)

    # ------------------------------------------------------------------ introspection
    def active_channels(self, shard: bool = False) -> list[bytes]:
        return list(self.shard_channels if shard else self.channels)

    def numsub(self, channel: bytes, shard: bool = False) -> int:
        table = self.shard_channels if shard else self.channels
        return len(table.get(channel, ()))

    def numpat(self) -> int:
        return len(self.patterns)

    def drop_shard_channels(self, channels: list[bytes]) -> None:
        """Unsubscribe every client from these shard channels, notifying them (a slot
        that moved away: Redis sends each subscriber an sunsubscribe)."""
        for channel in channels:
            for client in list(self.shard_channels.get(channel, {}).values()):
                self.sunsubscribe(client, channel)
                client.write(unsubscribed_reply(b"sunsubscribe", channel,
                                                len(client.shard_subscriptions),
                                                client.resp3), push=True)


def _drop(table: dict[bytes, dict[int, Client]], name: bytes, client_id: int) -> None:
    clients = table.get(name)
    if clients is not None:
        clients.pop(client_id, None)
        if not clients:
            # Free the entry, so subscribing to millions of channels in turn cannot grow
            # the table for ever.
            del table[name]


def _send(clients: dict[int, Client], resp2: bytes, resp3: bytes) -> int:
    n = 0
    for client in list(clients.values()):
        client.write(resp3 if client.resp3 else resp2, push=True)
        n += 1
    return n


def subscribed_reply(kind: bytes, name: bytes, count: int, resp3: bool) -> bytes:
    head = b">3\r\n" if resp3 else b"*3\r\n"
    return head + _bulk(kind) + _bulk(name) + b":%d\r\n" % count


def unsubscribed_reply(kind: bytes, name: bytes | None, count: int, resp3: bool) -> bytes:
    head = b">3\r\n" if resp3 else b"*3\r\n"
    if name is None:
        shown = b"_\r\n" if resp3 else b"$-1\r\n"
    else:
        shown = _bulk(name)
    return head + _bulk(kind) + shown + b":%d\r\n" % count


def get_pubsub(server: Any) -> PubSub:
    """The server's registry, created on first use."""
    registry = server.pubsub
    if registry is None:
        registry = server.pubsub = PubSub()
    return registry


def deliver_publish(server: Any, channel: bytes, message: bytes, shard: bool) -> int:
    """Local delivery of a PUBLISH (or SPUBLISH when `shard`), e.g. one relayed by the
    cluster bus from a peer; returns the number of local receivers."""
    registry = get_pubsub(server)
    return registry.spublish(channel, message) if shard else registry.publish(channel, message)
