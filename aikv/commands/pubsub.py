"""Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB.

Confirmations are one reply per channel, concatenated into the command's reply (RESP2
arrays, RESP3 pushes). In cluster mode PUBLISH and SPUBLISH are also handed to the bus
(`server.cluster.broadcast_publish`), which relays them to the other nodes; those nodes
deliver them with `aikv.pubsub.deliver_publish`. SSUBSCRIBE, SUNSUBSCRIBE and SPUBLISH
declare the channel as their key, so the cluster router sends them to the channel's slot
owner (and refuses channels of different slots with CROSSSLOT).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikv.commands.args import subcommand_error
from aikv.commands.registry import command, container
from aikv.glob import compile_pattern
from aikv.pubsub import get_pubsub, subscribed_reply, unsubscribed_reply
from aikv.replication.propagate import propagate_as
from aikv.resp import CommandError, integer, simple

if TYPE_CHECKING:
    from aikv.client import Client


def _confirmations(client: Client, replies: list[bytes]) -> bytes:
    """(Un)subscription confirmations are pushes: CLIENT REPLY OFF / SKIP do not silence
    them (Redis's CLIENT_PUSHING), nor the messages that follow (Client.write)."""
    client.reply_is_push = True
    return b"".join(replies)


def _count(client: Client) -> int:
    # SUBSCRIBE/PSUBSCRIBE confirmations count channels plus patterns; the shard ones
    # count shard channels only.
    return len(client.subscriptions) + len(client.patterns)


@command("subscribe", -2, "pubsub noscript loading stale", categories="@pubsub @slow")
def subscribe(client: Client, argv: list[bytes]) -> bytes:
    registry = get_pubsub(client.server)
    out = []
    for channel in argv[1:]:
        registry.subscribe(client, channel)
        out.append(subscribed_reply(b"subscribe", channel, _count(client), client.resp3))
    return _confirmations(client, out)


@command("unsubscribe", -1, "pubsub noscript loading stale", categories="@pubsub @slow")
def unsubscribe(client: Client, argv: list[bytes]) -> bytes:
    registry = get_pubsub(client.server)
    channels = argv[1:] if len(argv) > 1 else list(client.subscriptions)
    if not channels:
        return _confirmations(client, [unsubscribed_reply(b"unsubscribe", None, _count(client),
                                                          client.resp3)])
    out = []
    for channel in channels:
        registry.unsubscribe(client, channel)
        out.append(unsubscribed_reply(b"unsubscribe", channel, _count(client), client.resp3))
    return _confirmations(client, out)


@command("psubscribe", -2, "pubsub noscript loading stale", categories="@pubsub @slow")
def psubscribe(client: Client, argv: list[bytes]) -> bytes:
    registry = get_pubsub(client.server)
    out = []
    for pattern in argv[1:]:
        registry.psubscribe(client, pattern)
        out.append(subscribed_reply(b"psubscribe", pattern, _count(client), client.resp3))
    return _confirmations(client, out)


@command("punsubscribe", -1, "pubsub noscript loading stale", categories="@pubsub @slow")
def punsubscribe(client: Client, argv: list[bytes]) -> bytes:
    registry = get_pubsub(client.server)
    patterns = argv[1:] if len(argv) > 1 else registry.client_patterns(client)
    if not patterns:
        return _confirmations(client, [unsubscribed_reply(b"punsubscribe", None, _count(client),
                                                          client.resp3)])
    out = []
    for pattern in patterns:
        registry.punsubscribe(client, pattern)
        out.append(unsubscribed_reply(b"punsubscribe", pattern, _count(client), client.resp3))
    return _confirmations(client, out)


@command("ssubscribe", -2, "pubsub noscript loading stale", keys=(1, -1, 1),
         categories="@pubsub @slow")
def ssubscribe(client: Client, argv: list[bytes]) -> bytes:
    if client.deny_blocking:
        # Inside EXEC every command must answer once; a subscription would not.
        raise CommandError("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")
    registry = get_pubsub(client.server)
    out = []
    for channel in argv[1:]:
        registry.ssubscribe(client, channel)
        out.append(subscribed_reply(b"ssubscribe", channel, len(client.shard_subscriptions),
                                    client.resp3))
    return _confirmations(client, out)


@command("sunsubscribe", -1, "pubsub noscript loading stale", keys=(1, -1, 1),
         categories="@pubsub @slow")
def sunsubscribe(client: Client, argv: list[bytes]) -> bytes:
    registry = get_pubsub(client.server)
    channels = argv[1:] if len(argv) > 1 else list(client.shard_subscriptions)
    if not channels:
        return _confirmations(client, [unsubscribed_reply(b"sunsubscribe", None, 0, client.resp3)])
    out = []
    for channel in channels:
        registry.sunsubscribe(client, channel)
        out.append(unsubscribed_reply(b"sunsubscribe", channel,
                                      len(client.shard_subscriptions), client.resp3))
    return _confirmations(client, out)


def _relay(client: Client, channel: bytes, message: bytes, shard: bool) -> None:
    cluster = client.server.cluster
    if cluster is not None:
        # The bus carries it to every node (or the shard), replicas included: sent to them
        # by replication too, their subscribers would get it twice (Redis sends neither).
        propagate_as(client)
        broadcast = getattr(cluster, "broadcast_publish", None)
        if broadcast is not None:
            broadcast(channel, message, shard)


@command("publish", 3, "pubsub loading stale fast may-replicate",
         categories="@pubsub @fast")
def publish(client: Client, argv: list[bytes]) -> bytes:
    receivers = get_pubsub(client.server).publish(argv[1], argv[2])
    _relay(client, argv[1], argv[2], False)
    return integer(receivers)


@command("spublish", 3, "pubsub loading stale fast may-replicate", keys=(1, 1, 1),
         categories="@pubsub @fast")
def spublish(client: Client, argv: list[bytes]) -> bytes:
    receivers = get_pubsub(client.server).spublish(argv[1], argv[2])
    _relay(client, argv[1], argv[2], True)
    return integer(receivers)


# ---------------------------------------------------------------------- PUBSUB
container("pubsub", -2)


def _channel_list(client: Client, argv: list[bytes], shard: bool) -> bytes:
    if len(argv) > 3:
        raise subcommand_error(argv)
    channels = get_pubsub(client.server).active_channels(shard)
    if len(argv) == 3:
        matcher = compile_pattern(argv[2])
        channels = [c for c in channels if matcher(c)]
    return b"*%d\r\n" % len(channels) + b"".join(
        b"$%d\r\n%s\r\n" % (len(c), c) for c in channels)


def _numsub(client: Client, argv: list[bytes], shard: bool) -> bytes:
    registry = get_pubsub(client.server)
    parts = [b"*%d\r\n" % (2 * (len(argv) - 2))]
    for channel in argv[2:]:
        parts.append(b"$%d\r\n%s\r\n" % (len(channel), channel))
        parts.append(integer(registry.numsub(channel, shard)))
    return b"".join(parts)


@command("channels", -2, "pubsub loading stale", parent="pubsub", categories="@pubsub @slow")
def pubsub_channels(client: Client, argv: list[bytes]) -> bytes:
    return _channel_list(client, argv, False)


@command("shardchannels", -2, "pubsub loading stale", parent="pubsub",
         categories="@pubsub @slow")
def pubsub_shardchannels(client: Client, argv: list[bytes]) -> bytes:
    return _channel_list(client, argv, True)


@command("numsub", -2, "pubsub loading stale", parent="pubsub", categories="@pubsub @slow")
def pubsub_numsub(client: Client, argv: list[bytes]) -> bytes:
    return _numsub(client, argv, False)


@command("shardnumsub", -2, "pubsub loading stale", parent="pubsub",
         categories="@pubsub @slow")
def pubsub_shardnumsub(client: Client, argv: list[bytes]) -> bytes:
    return _numsub(client, argv, True)


@command("numpat", 2, "pubsub loading stale", parent="pubsub", categories="@pubsub @slow")
def pubsub_numpat(client: Client, argv: list[bytes]) -> bytes:
    return integer(get_pubsub(client.server).numpat())


_HELP = (
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
)


@command("help", 2, "loading stale", parent="pubsub", categories="@slow")
def pubsub_help(client: Client, argv: list[bytes]) -> bytes:
    head = "%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:" % (
        argv[0].decode(errors="replace").upper())
    lines = [head, *_HELP]
    return b"*%d\r\n" % len(lines) + b"".join(simple(line) for line in lines)
