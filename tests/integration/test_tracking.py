"""CLIENT TRACKING (server-assisted client-side caching) against a real redis-server 7.0:
the same scenario on each server must deliver the same invalidation messages to the same
connections, in the same places among the replies."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest

from tests.differ import Differ, RawConnection, encode_command, parse
from tests.harness import ServerProcess, wait_until

PONG = (b"+PONG\r\n", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")


class Peer:
    """A connection whose pushes (or Pub/Sub messages) are collected up to a PING."""

    def __init__(self, port: int) -> None:
        self.conn = RawConnection(port)
        self.log: list[bytes] = []
        self.id = parse(self.conn.call("client", "id"))

    def call(self, *args: object) -> bytes:
        """A command's reply; pushes that arrive before it are kept in the log."""
        self.conn.sock.sendall(_encode(args))
        return self._read_until_reply()

    def _read_until_reply(self) -> bytes:
        while True:
            raw = self.conn.read_reply()
            if raw[:1] == b">" or raw.startswith(b"*3\r\n$7\r\nmessage\r\n"):
                self.log.append(raw)
                continue
            return raw

    def sync(self) -> list[bytes]:
        """Everything pushed so far: a PING goes after it on this connection."""
        self.conn.sock.sendall(_encode(("ping",)))
        while True:
            raw = self.conn.read_reply()
            if raw in PONG:
                out, self.log = self.log, []
                return out
            self.log.append(raw)

    def close(self) -> None:
        self.conn.close()


def _encode(args: tuple[object, ...]) -> bytes:
    return encode_command(*[a if isinstance(a, (bytes, str, int, float)) else str(a)
                            for a in args])


Scenario = Callable[[Callable[[], Peer]], list[object]]


def _both(aikv: ServerProcess, redis: ServerProcess, scenario: Scenario) -> None:
    results = []
    for server in (aikv, redis):
        peers: list[Peer] = []

        def new_peer(port: int = server.port, peers: list[Peer] = peers) -> Peer:
            peer = Peer(port)
            peers.append(peer)
            return peer

        try:
            results.append(scenario(new_peer))
        finally:
            for peer in peers:
                peer.close()
    mine, theirs = results
    assert mine == theirs
    assert "invalidate" in repr(theirs)  # the scenario did exercise invalidations


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> Iterator[None]:
    differ.both("flushall")
    yield
    differ.both("flushall")


def _ids_out(raw: bytes, *ids: int) -> bytes:
    """Client ids differ between the servers: replace them by their role."""
    for n, cid in enumerate(ids):
        # Not a bulk or array length ("$15") that happens to equal an id.
        raw = re.sub(rb"(?<![0-9$*%%~])%d(?![0-9])" % cid, b"<id%d>" % n, raw)
    return raw


def test_default_mode(aikv_module: ServerProcess, redis_module: ServerProcess) -> None:
    def scenario(peer: Callable[[], Peer]) -> list[object]:
        a, b = peer(), peer()
        seen: list[object] = [a.call("hello", "3")[:1], a.call("client", "tracking", "on")]
        seen += [a.call("get", "k"), a.call("mget", "x", "y"), a.call("hget", "h", "f")]
        seen += [a.call("client", "trackinginfo"), a.sync()]
        seen += [b.call("set", "k", "1"), a.sync()]
        seen += [b.call("set", "k", "2"), a.sync()]  # forgotten after one invalidation
        seen += [b.call("mset", "x", "1", "y", "2"), a.sync()]
        seen += [b.call("hset", "h", "f", "v"), b.call("hset", "h", "g", "v"), a.sync()]
        seen += [b.call("select", "1"), b.call("set", "x", "db1"), a.sync()]  # any db
        seen += [a.call("get", "k"), b.call("set", "k", "3"), a.sync()]
        # The client's own write: its invalidation comes after its reply.
        seen += [a.call("get", "own"), a.call("set", "own", "1"), a.sync()]
        seen += [a.call("get", "own"), a.call("del", "own"), a.call("get", "own"), a.sync()]
        seen += [a.call("get", "k"), a.call("get", "x"), a.call("flushall"), a.sync()]
        seen += [b.call("set", "k", "4"), a.sync()]  # the flush emptied the table
        seen += [a.call("client", "tracking", "off"), a.call("get", "k"),
                 b.call("set", "k", "5"), a.sync(), a.call("client", "trackinginfo")]
        return seen

    _both(aikv_module, redis_module, scenario)


def test_noloop_optin_optout(aikv_module: ServerProcess, redis_module: ServerProcess) -> None:
    def scenario(peer: Callable[[], Peer]) -> list[object]:
        a, b = peer(), peer()
        seen: list[object] = [a.call("hello", "3")[:1]]
        seen += [a.call("client", "tracking", "on", "noloop"), a.call("get", "k"),
                 a.call("set", "k", "1"), a.sync(), b.call("set", "k", "2"), a.sync()]
        seen += [a.call("get", "k"), b.call("set", "k", "3"), a.sync()]
        seen += [a.call("client", "tracking", "off"),
                 a.call("client", "tracking", "on", "optin"), a.call("get", "p"),
                 a.call("client", "caching", "yes"), a.call("client", "trackinginfo"),
                 a.call("get", "q"), a.call("client", "trackinginfo"), a.call("get", "r"),
                 b.call("mset", "p", "1", "q", "1", "r", "1"), a.sync()]
        seen += [a.call("client", "caching", "yes"), a.call("multi"), a.call("get", "p"),
                 a.call("get", "r"), a.call("exec"), b.call("mset", "p", "2", "r", "2"),
                 a.sync()]
        seen += [a.call("client", "caching", "no"), a.call("client", "tracking", "on", "optout"),
                 a.call("client", "tracking", "off"),
                 a.call("client", "tracking", "on", "optout"), a.call("client", "caching", "no"),
                 a.call("get", "p"), a.call("get", "q"), b.call("mset", "p", "3", "q", "3"),
                 a.sync(), a.call("client", "caching", "yes")]
        return seen

    _both(aikv_module, redis_module, scenario)


def test_scripts(aikv_module: ServerProcess, redis_module: ServerProcess) -> None:
    """Redis's tracking.tcl: a script that reads makes its caller track every key it
    declared; one that only writes, and the *_RO runs themselves, track nothing; NOLOOP
    holds for the caller's own script writes, and a write's invalidation to the caller
    comes after the script's reply."""
    def scenario(peer: Callable[[], Peer]) -> list[object]:
        a, b = peer(), peer()
        seen: list[object] = [a.call("hello", "3")[:1], a.call("client", "tracking", "on")]
        seen += [a.call("eval", "redis.call('set', 'k3{t}', 'bar')", "2", "k1{t}", "k2{t}"),
                 b.call("mset", "k2{t}", "1", "k1{t}", "1"), a.sync()]
        seen += [a.call("eval", "return redis.call('get', 'k3{t}')", "2", "k1{t}", "k2{t}"),
                 b.call("mset", "k2{t}", "2", "k1{t}", "2"), a.sync()]
        seen += [a.call("eval_ro", "return redis.call('ping')", "2", "k1{t}", "k2{t}"),
                 b.call("mset", "k2{t}", "3", "k1{t}", "3"), a.sync()]
        seen += [a.call("eval_ro", "return redis.call('get', 'k1{t}')", "2", "k1{t}", "k2{t}"),
                 b.call("mset", "k2{t}", "4", "k1{t}", "4"), a.sync()]
        # The caller's own write in a script: after its reply; under NOLOOP, not at all.
        seen += [a.call("get", "own"),
                 a.call("eval", "return redis.call('set', KEYS[1], '1')", "1", "own"),
                 a.sync()]
        seen += [a.call("client", "tracking", "off"),
                 a.call("client", "tracking", "on", "noloop"), a.call("get", "own"),
                 a.call("eval", "return redis.call('set', KEYS[1], '2')", "1", "own"),
                 a.sync(), b.call("set", "own", "3"), a.sync()]
        return seen

    _both(aikv_module, redis_module, scenario)


def test_bcast(aikv_module: ServerProcess, redis_module: ServerProcess) -> None:
    def scenario(peer: Callable[[], Peer]) -> list[object]:
        a, b = peer(), peer()
        seen: list[object] = [a.call("hello", "3")[:1]]
        seen += [a.call("client", "tracking", "on", "bcast", "prefix", "user:", "prefix", "s"),
                 a.call("client", "trackinginfo")]
        seen += [b.call("set", "user:1", "x"), a.sync()]
        seen += [b.call("set", "other", "x"), a.sync()]
        seen += [b.call("mset", "user:3", "a", "user:2", "b", "s1", "c", "q", "d"), a.sync()]
        seen += [a.call("set", "user:9", "self"), a.sync()]
        seen += [a.call("client", "tracking", "on", "noloop", "bcast", "prefix", "z"),
                 a.call("client", "tracking", "off"),
                 a.call("client", "tracking", "on", "bcast", "noloop", "prefix", "user:"),
                 a.call("set", "user:9", "self"), a.call("mset", "user:9", "1", "user:8", "2"),
                 a.sync(), b.call("set", "user:9", "other"), a.sync()]
        seen += [a.call("client", "tracking", "off"), a.call("client", "tracking", "on", "bcast"),
                 b.call("set", "anything", "1"), b.call("del", "anything"), a.sync()]
        seen += [b.call("flushall"), a.sync()]
        return seen

    _both(aikv_module, redis_module, scenario)


def test_redirect_to_resp2_subscriber(aikv_module: ServerProcess,
                                      redis_module: ServerProcess) -> None:
    def scenario(peer: Callable[[], Peer]) -> list[object]:
        a, b, sink = peer(), peer(), peer()
        seen: list[object] = [sink.call("subscribe", "__redis__:invalidate")]
        seen.append(a.call("client", "tracking", "on", "redirect", sink.id))
        seen.append(_ids_out(a.call("client", "getredir"), sink.id))
        seen.append(_ids_out(a.call("client", "trackinginfo"), sink.id))
        seen += [a.call("get", "k"), b.call("set", "k", "1"), a.sync(), sink.sync()]
        seen += [a.call("get", "k"), a.call("flushdb"), a.sync(), sink.sync()]
        # The redirect target goes away: RESP2 clients get nothing, the flag says so.
        seen += [a.call("get", "k")]
        sink.close()
        time.sleep(0.05)
        seen += [b.call("set", "k", "2"), a.sync(), _ids_out(a.call("client", "trackinginfo"),
                                                              sink.id)]
        c = peer()
        seen += [c.call("hello", "3")[:1], c.call("client", "tracking", "on", "redirect", b.id),
                 c.call("get", "k")]
        b.close()
        time.sleep(0.05)
        d = peer()
        seen += [d.call("set", "k", "3"), [_ids_out(m, b.id) for m in c.sync()]]
        return seen

    _both(aikv_module, redis_module, scenario)


def test_errors(differ: Differ) -> None:
    for args in (("client", "tracking", "maybe"), ("client", "tracking", "on", "bogus"),
                 ("client", "tracking", "on", "prefix", "a"),
                 ("client", "tracking", "on", "optin", "optout"),
                 ("client", "tracking", "on", "bcast", "optin"),
                 ("client", "tracking", "on", "redirect", "999999"),
                 ("client", "tracking", "on", "redirect", "x"),
                 ("client", "tracking", "on", "bcast", "prefix", "ab", "prefix", "a"),
                 ("client", "tracking", "on", "redirect"), ("client", "tracking"),
                 ("client", "caching", "yes"), ("client", "caching", "maybe"),
                 ("client", "getredir"), ("client", "trackinginfo"),
                 ("client", "tracking", "on", "bcast", "prefix", "ab"),
                 ("client", "tracking", "on", "bcast", "prefix", "a"),
                 ("client", "tracking", "on", "bcast", "prefix", "abc"),
                 ("client", "tracking", "on"),
                 ("client", "tracking", "on", "bcast", "prefix", "x"),
                 ("client", "trackinginfo"), ("client", "caching", "yes"),
                 ("client", "tracking", "off"), ("client", "tracking", "on", "optin"),
                 ("client", "tracking", "on", "optout"), ("client", "caching", "no"),
                 ("client", "tracking", "off"), ("client", "trackinginfo")):
        differ.check(*args)


def test_expired_keys_are_invalidated(aikv_module: ServerProcess,
                                      redis_module: ServerProcess) -> None:
    def scenario(peer: Callable[[], Peer]) -> list[object]:
        a, b = peer(), peer()
        seen: list[object] = [a.call("hello", "3")[:1], a.call("client", "tracking", "on"),
                              b.call("set", "soon", "1", "px", "30"), a.call("get", "soon")]
        got: list[bytes] = []
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
            b.call("exists", "soon")  # Redis deletes on access; AiKv's cycle does it
            got = a.sync()
        seen.append(got)
        return seen

    _both(aikv_module, redis_module, scenario)


def test_tracking_table_max_keys(aikv_module: ServerProcess,
                                 redis_module: ServerProcess) -> None:
    """Over tracking-table-max-keys, the cron invalidates keys until the table fits:
    the same number in both (which ones Redis picks is random; AiKv takes the oldest)."""
    outcomes = []
    for server in (aikv_module, redis_module):
        a, admin = Peer(server.port), Peer(server.port)
        try:
            a.call("hello", "3")
            a.call("client", "tracking", "on")
            admin.call("config", "set", "tracking-table-max-keys", "3")
            for i in range(10):
                a.call("get", f"key:{i}")
            invalidated: list[bytes] = []
            deadline = time.monotonic() + 10
            while len(invalidated) < 7 and time.monotonic() < deadline:
                for push in a.sync():
                    invalidated += parse(push)[1]
                time.sleep(0.02)
            stats = parse(admin.call("info", "stats"))
            total = int(stats.split(b"tracking_total_keys:")[1].split(b"\r\n")[0])
            outcomes.append((len(invalidated), len(set(invalidated)), total))
            if server is aikv_module:
                assert sorted(invalidated) == [b"key:%d" % i for i in range(7)]
        finally:
            admin.call("config", "set", "tracking-table-max-keys", "1000000")
            a.close()
            admin.close()
    assert outcomes[0] == outcomes[1] == (7, 7, 3)


def test_a_served_blocked_client_gets_its_reply_before_its_invalidation(
        aikv_module: ServerProcess, redis_module: ServerProcess) -> None:
    """BLMOVE served into a list its client tracks: as the served command runs as that
    client, the invalidation follows the reply (tracking.tcl); with NOLOOP there is
    none."""
    def scenario(peer: Callable[[], Peer]) -> list[object]:
        a, b = peer(), peer()
        seen: list[object] = [b.call("rpush", "list2", "a"), a.call("hello", "3")[:1],
                              a.call("client", "tracking", "on"), a.call("lrange", "list2", "0", "-1")]
        for noloop in (False, True):
            if noloop:
                seen += [a.call("client", "tracking", "on", "noloop"),
                         a.call("lrange", "list2", "0", "-1")]
            a.conn.sock.sendall(_encode(("blmove", "list1", "list2", "left", "left", "0")))
            wait_until(lambda: b"blocked_clients:1\r" in b.call("info", "clients"), 10,
                       what="the client to block")
            seen.append(b.call("rpush", "list1", "foo"))
            seen.append(a.conn.read_reply())  # the reply first
            seen.append(a.sync())  # then (without NOLOOP) the invalidation
        return seen

    _both(aikv_module, redis_module, scenario)


def test_table_limit_applies_before_the_next_command(aikv_module: ServerProcess,
                                                     redis_module: ServerProcess) -> None:
    """tracking-table-max-keys is enforced before each command, not only by the cron
    (paused here with DEBUG PAUSE-CRON): the invalidation reaches the client before the
    reply of its next command, even one queued in MULTI (Redis's #11715 test)."""
    def scenario(peer: Callable[[], Peer]) -> list[object]:
        a, b = peer(), peer()
        seen: list[object] = [b.call("config", "set", "tracking-table-max-keys", "2"),
                              b.call("debug", "pause-cron", "1")]
        try:
            seen += [a.call("hello", "3")[:1], a.call("client", "tracking", "on"),
                     a.call("mget", "1{tag}", "2{tag}"), a.call("multi")]
            seen.append(b.call("config", "set", "tracking-table-max-keys", "1"))
            a.conn.sock.sendall(_encode(("ping",)) + _encode(("exec",)))
            # Which of the two keys goes is Redis's random pick: only the order is compared.
            seen += [re.sub(rb"[12]\{tag\}", b"<key>", a.conn.read_reply()) for _ in range(3)]
        finally:
            b.call("debug", "pause-cron", "0")
            b.call("config", "set", "tracking-table-max-keys", "1000000")
        return seen

    _both(aikv_module, redis_module, scenario)
