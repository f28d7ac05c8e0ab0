"""Pub/sub: the same subscriber/publisher sessions against AiKv and a real redis-server 7.0,
every reply and every pushed message compared byte for byte, in RESP2 and RESP3; plus
redis-py's PubSub client against AiKv and the registry's bookkeeping on disconnect.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from aikv.pubsub import PubSub, deliver_publish, get_pubsub
from tests.differ import Differ, parse, unordered


@pytest.fixture
def pair(aikv_module, redis_module) -> Iterator[tuple[Differ, Differ]]:  # type: ignore[no-untyped-def]
    sub = Differ(aikv_module.port, redis_module.port)
    pub = Differ(aikv_module.port, redis_module.port)
    yield sub, pub
    sub.close()
    pub.close()


def receive(d: Differ) -> bytes:
    """The next pushed message on both servers, which must be identical."""
    mine, theirs = d.a.read_reply(), d.r.read_reply()
    assert mine == theirs, (mine, theirs)
    return mine


@pytest.mark.parametrize("proto", ["2", "3"])
def test_session_matches_redis(pair: tuple[Differ, Differ], proto: str) -> None:
    sub, pub = pair
    if proto == "3":
        sub.check("hello", "3", normalize=lambda raw: parse(raw)[b"proto"])
    # Unsubscribing from nothing still answers, with a null channel.
    sub.check("unsubscribe")
    sub.check("punsubscribe")
    sub.check("sunsubscribe")
    sub.check("subscribe", "news", "sport")
    sub.check("subscribe", "news")  # already subscribed: confirmed again, same count
    sub.check("psubscribe", "n*", "s?ort", "n*")
    sub.check("ssubscribe", "shard1", "shard2")
    pub.check("publish", "news", "hello")
    receive(sub)  # message
    receive(sub)  # pmessage via n*
    pub.check("publish", "sport", "goal")
    receive(sub)
    receive(sub)
    pub.check("publish", "nothing-listens", "x")
    pub.check("publish", "n", "")  # pattern only
    receive(sub)
    pub.check("spublish", "shard1", "m")
    receive(sub)
    pub.check("spublish", "nobody", "m")
    pub.check("pubsub", "numsub", "news", "sport", "zz")
    pub.check("pubsub", "numsub")
    pub.check("pubsub", "numpat")
    pub.check("pubsub", "channels", normalize=unordered)
    pub.check("pubsub", "channels", "n*")
    pub.check("pubsub", "channels", "[sx]*")
    pub.check("pubsub", "shardchannels", normalize=unordered)
    pub.check("pubsub", "shardchannels", "*2")
    pub.check("pubsub", "shardnumsub", "shard1", "nope")
    # Commands allowed, and refused, while subscribed.
    sub.check("ping")
    sub.check("ping", "hi")
    sub.check("get", "x")
    sub.check("punsubscribe", "s?ort", "never")
    sub.check("punsubscribe")  # the rest, in subscription order
    sub.check("unsubscribe", "news")
    sub.check("unsubscribe")
    sub.check("sunsubscribe", "shard2")
    sub.check("sunsubscribe")
    sub.check("ping")
    sub.check("get", "x")


def test_errors_and_help_match_redis(pair: tuple[Differ, Differ]) -> None:
    _, pub = pair
    for args in (("subscribe",), ("psubscribe",), ("ssubscribe",), ("publish", "a"),
                 ("publish", "a", "b", "c"), ("spublish", "a"), ("pubsub",),
                 ("pubsub", "foo"), ("pubsub", "channels", "a", "b"), ("pubsub", "numpat", "x"),
                 ("pubsub", "shardchannels", "a", "b"), ("pubsub", "help"),
                 ("pubsub", "help", "x"), ("pubsub", "NUMSUB", "a")):
        pub.check(*args)


def test_resp3_client_publishing_to_itself(pair: tuple[Differ, Differ]) -> None:
    sub, _ = pair
    sub.check("hello", "3", normalize=lambda raw: parse(raw)[b"proto"])
    sub.check("subscribe", "self")
    # RESP3 clients may run any command while subscribed; the push comes first.
    sub.check("publish", "self", "hi")
    receive(sub)
    sub.check("set", "k", "v")
    sub.check("get", "k")
    sub.check("del", "k")


def test_redis_py_pubsub(r: redis.Redis) -> None:
    p = r.pubsub()
    p.subscribe("chan")
    p.psubscribe("pat.*")
    assert p.get_message(timeout=2)["type"] == "subscribe"
    assert p.get_message(timeout=2)["type"] == "psubscribe"
    assert r.publish("chan", "one") == 1
    assert r.publish("pat.x", "two") == 1
    msg = p.get_message(timeout=2)
    assert msg["type"] == "message" and msg["channel"] == b"chan" and msg["data"] == b"one"
    msg = p.get_message(timeout=2)
    assert msg["type"] == "pmessage" and msg["pattern"] == b"pat.*" and msg["data"] == b"two"
    assert r.pubsub_numsub("chan") == [(b"chan", 1)]
    assert r.pubsub_numpat() == 1
    p.close()
    # The server forgets a closed connection's subscriptions.
    deadline = time.monotonic() + 5
    while r.pubsub_numpat() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert r.pubsub_numpat() == 0
    assert r.pubsub_numsub("chan") == [(b"chan", 0)]
    assert r.publish("chan", "nobody") == 0


def test_many_subscribers_get_every_message_in_order(r: redis.Redis) -> None:
    subs = [r.pubsub(ignore_subscribe_messages=True) for _ in range(5)]
    for p in subs:
        p.subscribe("fan")
        p.get_message(timeout=2)
    for i in range(50):
        assert r.publish("fan", str(i)) == 5
    for p in subs:
        got = []
        while len(got) < 50:
            msg = p.get_message(timeout=2)
            assert msg is not None
            got.append(int(msg["data"]))
        assert got == list(range(50))
        p.close()


# ---------------------------------------------------------------------- registry (in process)
class _FakeClient:
    _next = 0

    def __init__(self, resp3: bool = False) -> None:
        _FakeClient._next += 1
        self.id = _FakeClient._next
        self.resp3 = resp3
        self.subscriptions: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_subscriptions: set[bytes] = set()
        self.sent: list[bytes] = []

    def write(self, data: bytes, push: bool = False) -> None:
        self.sent.append(data)


class _FakeServer:
    pubsub = None
    cluster = None
    propagation_frame = None  # no replica connected


def test_registry_delivery_and_cleanup() -> None:
    server = _FakeServer()
    registry = get_pubsub(server)
    assert isinstance(registry, PubSub) and get_pubsub(server) is registry
    a, b = _FakeClient(), _FakeClient(resp3=True)
    registry.subscribe(a, b"c")  # type: ignore[arg-type]
    registry.psubscribe(b, b"c*")  # type: ignore[arg-type]
    registry.ssubscribe(b, b"s")  # type: ignore[arg-type]
    assert deliver_publish(server, b"c", b"m", shard=False) == 2
    assert a.sent == [b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"]
    assert b.sent == [b">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$1\r\nc\r\n$1\r\nm\r\n"]
    assert deliver_publish(server, b"s", b"x", shard=True) == 1
    assert b.sent[-1] == b">3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\nx\r\n"
    registry.client_gone(b)  # type: ignore[arg-type]
    assert not b.patterns and not b.shard_subscriptions
    assert registry.numpat() == 0 and registry.active_channels(shard=True) == []
    registry.drop_shard_channels([b"s"])
    registry.client_gone(a)  # type: ignore[arg-type]
    assert registry.channels == {} and registry.patterns == {}


def test_publish_is_relayed_to_the_cluster_bus() -> None:
    from aikv.commands.pubsub import publish, spublish

    relayed: list[tuple[bytes, bytes, bool]] = []

    class _Bus:
        def broadcast_publish(self, channel: bytes, message: bytes, shard: bool) -> None:
            relayed.append((channel, message, shard))

    server = _FakeServer()
    server.cluster = _Bus()  # type: ignore[assignment]
    client = _FakeClient()
    client.server = server  # type: ignore[attr-defined]
    assert publish(client, [b"publish", b"c", b"m"]) == b":0\r\n"  # type: ignore[arg-type]
    assert spublish(client, [b"spublish", b"s", b"x"]) == b":0\r\n"  # type: ignore[arg-type]
    assert relayed == [(b"c", b"m", False), (b"s", b"x", True)]
    # A bus without the hook (or no cluster) is simply skipped.
    server.cluster = object()  # type: ignore[assignment]
    assert publish(client, [b"publish", b"c", b"m"]) == b":0\r\n"  # type: ignore[arg-type]


def test_shard_channels_route_like_keys_in_cluster_mode(cluster_differ: Differ) -> None:
    # "a" and "b" live in different slots: one command may not mix them.
    for args in (("ssubscribe", "a", "b"), ("sunsubscribe", "a", "b"),
                 ("ssubscribe", "{t}a", "{t}b"), ("spublish", "{t}a", "m"),
                 ("pubsub", "shardnumsub", "{t}a", "{t}b"), ("sunsubscribe", "{t}b"),
                 ("sunsubscribe",), ("pubsub", "shardchannels")):
        cluster_differ.check(*args)
