"""A fault-injecting TCP proxy for tests, on loopback only.

`FaultProxy` listens on 127.0.0.1, forwards every connection to a target port and can, at
run time, cut (close every connection and refuse new ones), delay (add latency to every
chunk), drop one direction (swallow the bytes going one way while the other way passes),
black-hole both directions, and heal. It runs its own asyncio loop in a daemon thread; the
control methods are thread-safe and return once the fault is in force.

Partitioning cluster nodes
--------------------------
Each node announces its proxy as its bus port (`--cluster-announce-bus-port`), so every
peer dials that node through the node's own proxy. A connection through proxy P_Y is
therefore always "some node -> Y", and the links node X opens to others go through the
*others'* proxies. A partition of X must stop both: P_Y must be able to tell which peer a
connection comes from. All connections come from 127.0.0.1, so the source address says
nothing; instead the proxy reads the sender id from the bus header of the first message
the connecting side sends (bytes 40..80 after the `RCmb` signature; on the bus the
connecting side always speaks first). So one proxy per node, with faults that apply to
every connection or only to connections opened by one peer (`peer=<node id>`). This keeps
the number of proxies equal to the number of nodes (what a node can announce: one bus
port), and works unchanged in front of a real redis-server.

Directions are named from the connection's point of view: "up" is connector -> target
(requests: PING/MEET/FAIL/...), "down" is target -> connector (the PONG replies).
`Fabric` turns node-level intentions into proxy rules: isolate X, drop everything X sends,
drop everything X receives, delay X's traffic, heal.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

BUS_SIGNATURE = b"RCmb"
SENDER_OFFSET = 40
SENDER_END = 80
CHUNK = 65536
UP = "up"
DOWN = "down"
BOTH = "both"
ANY: str | None = None
T = TypeVar("T")


@dataclass
class Rules:
    """Faults in force for one peer (or for every connection when keyed by ANY)."""

    cut: bool = False
    delay_s: float = 0.0
    drop: set[str] = field(default_factory=set)

    def empty(self) -> bool:
        return not self.cut and not self.delay_s and not self.drop


@dataclass
class Stats:
    accepted: int = 0
    refused: int = 0  # closed because a cut was in force when it arrived or identified
    cut_open: int = 0  # open connections closed by cut()
    bytes_up: int = 0
    bytes_down: int = 0
    dropped_up: int = 0
    dropped_down: int = 0


class _Conn:
    def __init__(self, client_w: asyncio.StreamWriter) -> None:
        self.client_w = client_w
        self.upstream_w: asyncio.StreamWriter | None = None
        self.peer: str | None = None
        self.identified = False
        self.head = b""
        self.closed = False
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        for w in (self.client_w, self.upstream_w):
            if w is not None:
                w.transport.abort()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()


def _check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"FaultProxy only proxies loopback addresses, not {host}")


class FaultProxy:
    """Forward <listen_host>:<port> to <target_host>:<target_port>, with injectable faults.
    Both hosts must be loopback addresses; another 127.x.y.z than the target's lets a
    test play a node behind NAT (it announces the proxy's address)."""

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1", listen_port: int = 0,
                 listen_host: str = "127.0.0.1", name: str = "") -> None:
        _check_loopback(target_host)
        _check_loopback(listen_host)
        self.listen_host = listen_host
        self.target_host = target_host
        self.target_port = target_port
        self.name = name or f"proxy->{target_port}"
        self._listen_port = listen_port
        self._rules: dict[str | None, Rules] = {}
        self._conns: set[_Conn] = set()
        self.stats = Stats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self.listen_host, self._listen_port,
                                         reuse_address=True)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def close(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self._conns):
                conn.abort()
            self._conns.clear()
            # Let every connection handler finish before the loop stops under it.
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- faults (callable from any thread) ---------------------------------------------

    def cut(self, peer: str | None = ANY) -> None:
        """Close the matching open connections and every matching new one."""
        self._update(peer, lambda r: setattr(r, "cut", True))

    def delay(self, seconds: float, peer: str | None = ANY) -> None:
        """Deliver every chunk (both directions) `seconds` after it was read. Order is
        kept and throughput is not limited: this is latency, not a slow link."""
        self._update(peer, lambda r: setattr(r, "delay_s", float(seconds)))

    def drop(self, direction: str, peer: str | None = ANY) -> None:
        """Swallow bytes going `direction` ("up", "down" or "both"); the connection stays
        open, so the sender sees nothing wrong (a black hole when "both")."""
        if direction not in (UP, DOWN, BOTH):
            raise ValueError(direction)
        dirs = {UP, DOWN} if direction == BOTH else {direction}
        self._update(peer, lambda r: r.drop.update(dirs))

    def heal(self, peer: str | None = ANY, *, everything: bool = True) -> None:
        """Remove faults: all of them (default), or only those keyed by `peer`."""

        def clear() -> None:
            if everything and peer is ANY:
                self._rules.clear()
            else:
                self._rules.pop(peer, None)

        self._call(clear)

    def rules(self) -> dict[str | None, Rules]:
        return self._call(lambda: {k: Rules(v.cut, v.delay_s, set(v.drop)) for k, v in self._rules.items()})

    def connections(self) -> list[tuple[str | None, bool]]:
        """(peer id or None, identified) of every open connection."""
        return self._call(lambda: [(c.peer, c.identified) for c in self._conns])

    def _update(self, peer: str | None, change: Callable[[Rules], object]) -> None:
        def apply() -> None:
            change(self._rules.setdefault(peer, Rules()))
            self._enforce_cuts()

        self._call(apply)

    def _call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the proxy's loop (rules and connections live there) and wait."""
        loop = self._loop
        if loop is None:
            raise RuntimeError(f"{self.name} is not running")

        async def wrapper() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(5)

    # --- the rules as they apply to one connection -------------------------------------

    def _applicable(self, conn: _Conn) -> Iterable[Rules]:
        general = self._rules.get(ANY)
        if general is not None:
            yield general
        if conn.identified and conn.peer is not None:
            specific = self._rules.get(conn.peer)
            if specific is not None:
                yield specific

    def _is_cut(self, conn: _Conn) -> bool:
        return any(r.cut for r in self._applicable(conn))

    def _drops(self, conn: _Conn, direction: str) -> bool:
        return any(direction in r.drop for r in self._applicable(conn))

    def _delay(self, conn: _Conn) -> float:
        return max((r.delay_s for r in self._applicable(conn)), default=0.0)

    def _enforce_cuts(self) -> None:
        for conn in list(self._conns):
            if self._is_cut(conn):
                self.stats.cut_open += 1
                self._drop_conn(conn)

    def _drop_conn(self, conn: _Conn) -> None:
        conn.abort()
        self._conns.discard(conn)

    # --- forwarding --------------------------------------------------------------------

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        conn = _Conn(client_w)
        self.stats.accepted += 1
        if self._is_cut(conn):
            self.stats.refused += 1
            conn.abort()
            return
        try:
            upstream_r, upstream_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            conn.abort()
            return
        conn.upstream_w = upstream_w
        if conn.closed:  # cut while we were connecting
            upstream_w.transport.abort()
            return
        self._conns.add(conn)
        up_q: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        down_q: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        conn.tasks = [
            asyncio.create_task(self._read(conn, client_r, up_q, UP)),
            asyncio.create_task(self._write(conn, upstream_w, up_q)),
            asyncio.create_task(self._read(conn, upstream_r, down_q, DOWN)),
            asyncio.create_task(self._write(conn, client_w, down_q)),
        ]
        await asyncio.gather(*conn.tasks, return_exceptions=True)
        self._drop_conn(conn)

    def _identify(self, conn: _Conn, data: bytes) -> bytes:
        """Hold the connector's first bytes until we know who it is: a cut peer's first
        message must not get through. Returns the bytes that may now be forwarded."""
        conn.head += data
        head = conn.head
        if head[: len(BUS_SIGNATURE)] != BUS_SIGNATURE[: len(head)]:
            conn.identified = True  # not the cluster bus: only ANY rules apply
        elif len(head) >= SENDER_END:
            conn.peer = head[SENDER_OFFSET:SENDER_END].decode("ascii", "replace")
            conn.identified = True
        if not conn.identified:
            return b""
        conn.head = b""
        return head

    async def _read(self, conn: _Conn, reader: asyncio.StreamReader,
                    queue: asyncio.Queue[tuple[float, bytes] | None], direction: str) -> None:
        try:
            while not conn.closed:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if direction == UP and not conn.identified:
                    data = self._identify(conn, data)
                    if conn.identified and self._is_cut(conn):
                        self.stats.refused += 1
                        self._drop_conn(conn)
                        return
                    if not data:
                        continue
                if self._drops(conn, direction):
                    if direction == UP:
                        self.stats.dropped_up += len(data)
                    else:
                        self.stats.dropped_down += len(data)
                    continue
                if direction == UP:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
                queue.put_nowait((time.monotonic() + self._delay(conn), data))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            queue.put_nowait(None)

    async def _write(self, conn: _Conn, writer: asyncio.StreamWriter,
                     queue: asyncio.Queue[tuple[float, bytes] | None]) -> None:
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                deliver_at, data = item
                wait = deliver_at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if conn.closed:
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        # One side finished (EOF or error): the connection is over in both directions, as
        # a node would see it when its peer goes away.
        conn.abort()


class Fabric:
    """The proxies of a set of cluster nodes, and faults expressed per node.

    Each node `name` has a proxy in front of its bus port and a node id (set once the
    node is started: `bind(name, node_id)`). A connection through `proxies[Y]` with peer
    id X is a link X -> Y."""

    def __init__(self) -> None:
        self.proxies: dict[str, FaultProxy] = {}
        self.ids: dict[str, str] = {}

    def add(self, name: str, target_port: int) -> FaultProxy:
        proxy = FaultProxy(target_port, name=f"bus-proxy-{name}").start()
        self.proxies[name] = proxy
        return proxy

    def bind(self, name: str, node_id: str) -> None:
        self.ids[name] = node_id

    def _others(self, name: str) -> list[FaultProxy]:
        return [p for n, p in self.proxies.items() if n != name]

    def isolate(self, name: str) -> None:
        """Cut every link into `name` and every link out of it."""
        self.proxies[name].cut()
        for proxy in self._others(name):
            proxy.cut(peer=self.ids[name])

    def blackhole(self, name: str) -> None:
        """Like isolate, but silent: connections to and from `name` are accepted and kept
        open and every byte is swallowed, as with a pulled cable (no reset, no refusal)."""
        self.proxies[name].drop(BOTH)
        for proxy in self._others(name):
            proxy.drop(BOTH, peer=self.ids[name])

    def split(self, *groups: Iterable[str]) -> None:
        """Partition the nodes into `groups`: links between two groups are cut both ways,
        links inside a group keep working."""
        sets = [list(g) for g in groups]
        for i, group in enumerate(sets):
            for other in sets[i + 1:]:
                for a in group:
                    for b in other:
                        self.proxies[a].cut(peer=self.ids[b])
                        self.proxies[b].cut(peer=self.ids[a])

    def drop_from(self, name: str) -> None:
        """Everything `name` sends is lost, everything sent to it arrives: its requests on
        its own links ("up" via the others' proxies) and its replies on the links the
        others opened to it ("down" via its own proxy)."""
        self.proxies[name].drop(DOWN)
        for proxy in self._others(name):
            proxy.drop(UP, peer=self.ids[name])

    def drop_to(self, name: str) -> None:
        """Everything sent to `name` is lost, everything it sends arrives."""
        self.proxies[name].drop(UP)
        for proxy in self._others(name):
            proxy.drop(DOWN, peer=self.ids[name])

    def delay(self, name: str, seconds: float) -> None:
        """Every link of `name`, both ways, gets `seconds` of latency per direction."""
        self.proxies[name].delay(seconds)
        for proxy in self._others(name):
            proxy.delay(seconds, peer=self.ids[name])

    def heal(self) -> None:
        for proxy in self.proxies.values():
            proxy.heal()

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()
