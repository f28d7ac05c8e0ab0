"""DEBUG CLUSTERLINK KILL <to|from|all> <node-id> on a 3-master AiKv cluster and a 3-master
redis-server 7.0 cluster side by side: the same replies byte for byte, the same links gone
and back, and a message sent while a link is down lost the same way (Redis's
tests/unit/cluster/links.tcl)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from tests.integration.test_cluster_bus import (
    REDIS_SERVER,
    Proc,
    aikv_main_module_ok,
    consistent,
    form_cluster,
    spawn,  # noqa: F401  (fixture)
    wait_for,
)
from tests.integration.test_cluster_commands import raw as raw_reply

pytestmark = pytest.mark.skipif(not aikv_main_module_ok() or REDIS_SERVER is None,
                                reason="needs aikv.cli and redis-server")


class DebugProc(Proc):
    """A cluster node that takes DEBUG from anyone."""

    def argv(self) -> list[str]:
        return [*super().argv(), "--enable-debug-command", "yes"]


@pytest.fixture
def clusters(spawn: Callable[..., Proc]) -> dict[str, list[Proc]]:  # noqa: F811
    made: dict[str, list[Proc]] = {}
    for kind in ("aikv", "redis"):
        nodes = [spawn(kind, DebugProc) for _ in range(3)]
        form_cluster(nodes)
        made[kind] = nodes
    for kind, nodes in made.items():
        wait_for(lambda nodes=nodes: consistent(nodes), 30, f"{kind} signatures")
        for node in nodes:
            wait_for(lambda node=node: link_count(node) == 4, 30, f"{kind} links")
    return made


def link_count(proc: Proc) -> int:
    return len(proc.client().execute_command("CLUSTER", "LINKS"))


def raw(port: int, *args: str) -> bytes:
    """One request; the raw bytes that come back before the connection goes quiet."""
    return raw_reply(port, b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args))


def subscriber(proc: Proc, channel: str) -> redis.client.PubSub:
    ps = proc.client().pubsub()
    ps.subscribe(channel)
    wait_for(lambda: ps.get_message(timeout=0.1), 5, "subscribe confirmation")
    return ps


def next_message(ps: redis.client.PubSub) -> str:
    def got() -> object:
        msg = ps.get_message(timeout=0.1)
        return msg if msg and msg.get("type") == "message" else None

    msg = wait_for(got, 10, "a message")
    return str(msg["data"])  # type: ignore[index]


def test_replies_are_redis_bytes(clusters: dict[str, list[Proc]]) -> None:
    seen = {}
    for kind, (first, second, _) in clusters.items():
        peer = second.myid()
        replies = [
            raw(first.port, "DEBUG", "CLUSTERLINK", "KILL", "sideways", peer),
            raw(first.port, "DEBUG", "CLUSTERLINK", "KILL", "to", "f" * 40),
            raw(first.port, "DEBUG", "CLUSTERLINK", "kill", "to", "abc"),
            raw(first.port, "DEBUG", "clusterlink", "STOP", "to", peer),
            raw(first.port, "DEBUG", "CLUSTERLINK", "KILL", "to", peer, "extra"),
        ]
        seen[kind] = [r.replace(peer.encode(), b"<peer>") for r in replies]
    assert seen["aikv"] == seen["redis"]
    assert seen["aikv"][0] == b"-ERR Unknown direction sideways\r\n+OK\r\n"
    assert seen["aikv"][1] == b"-ERR Unknown node " + b"f" * 40 + b"\r\n"


@pytest.mark.parametrize("direction,left", [("to", 3), ("from", 3), ("all", 2)])
def test_killed_links_are_gone_then_come_back(clusters: dict[str, list[Proc]], direction: str,
                                              left: int) -> None:
    for kind, (first, second, third) in clusters.items():
        c = first.client()
        pipe = c.pipeline(transaction=True)
        pipe.execute_command("DEBUG", "CLUSTERLINK", "KILL", direction, second.myid())
        pipe.execute_command("CLUSTER", "LINKS")
        ok, links = pipe.execute()
        assert ok in ("OK", b"OK", True), kind
        assert len(links) == left, (kind, links)
        for node in (first, second, third):
            wait_for(lambda node=node: link_count(node) == 4, 30, f"{kind} links back")
        assert all("fail" not in line for line in first.nodes().splitlines()), kind


def test_a_message_sent_while_the_link_is_down_is_lost(clusters: dict[str, list[Proc]]) -> None:
    for kind, (first, second, third) in clusters.items():
        on_second = subscriber(second, "ch")
        on_third = subscriber(third, "ch")
        pipe = first.client().pipeline(transaction=True)
        pipe.execute_command("DEBUG", "CLUSTERLINK", "KILL", "TO", second.myid())
        pipe.execute_command("PUBLISH", "ch", "hello")
        assert pipe.execute()[1] == 0, kind  # no subscriber on the publishing node
        wait_for(lambda first=first: link_count(first) == 4, 30, f"{kind} link back")
        first.client().publish("ch", "world")
        assert next_message(on_second) == "world", kind  # "hello" never reached it
        assert next_message(on_third) == "hello", kind
        assert next_message(on_third) == "world", kind
        on_second.close()
        on_third.close()

