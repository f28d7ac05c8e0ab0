"""The fault-injecting proxy itself, against a small threaded TCP target on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.faultproxy import ANY, DOWN, UP, Fabric, FaultProxy, Rules

ID_A = "a" * 40
ID_B = "b" * 40


def bus_hello(sender: str) -> bytes:
    """The start of a bus message: signature, totlen, ..., sender id at bytes 40..80."""
    return b"RCmb" + b"\0" * 36 + sender.encode() + b"\0" * 20


class Target:
    """Accepts connections, records what each one receives, can write to all of them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.received: list[bytearray] = []
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            buf = bytearray()
            with self.lock:
                self.conns.append(conn)
                self.received.append(buf)
            threading.Thread(target=self._recv, args=(conn, buf), daemon=True).start()

    def _recv(self, conn: socket.socket, buf: bytearray) -> None:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                buf.extend(data)

    def send_all(self, data: bytes) -> None:
        with self.lock:
            for conn in self.conns:
                try:
                    conn.sendall(data)
                except OSError:
                    pass

    def total(self) -> bytes:
        with self.lock:
            return b"".join(bytes(b) for b in self.received)

    def close(self) -> None:
        self.stopped = True
        try:
            # Wakes the thread blocked in accept(); close() alone leaves the port listening.
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for conn in self.conns:
                conn.close()


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    yield t
    t.close()


@pytest.fixture
def proxy(target: Target) -> Iterator[FaultProxy]:
    with FaultProxy(target.port) as p:
        yield p


def wait(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(2)
    return s


def recv_some(s: socket.socket, timeout: float = 2.0) -> bytes:
    s.settimeout(timeout)
    try:
        return s.recv(65536)
    except TimeoutError:
        return b"<timeout>"
    except OSError:
        return b""


def is_closed(s: socket.socket, timeout: float = 2.0) -> bool:
    """True if the peer closed or reset the connection within `timeout`."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_forwards_both_ways(proxy: FaultProxy, target: Target) -> None:
    with connect(proxy.port) as c:
        c.sendall(b"hello")
        assert wait(lambda: target.total() == b"hello")
        target.send_all(b"world")
        assert recv_some(c) == b"world"
    assert proxy.stats.bytes_up == 5 and proxy.stats.bytes_down == 5


def test_refuses_non_loopback_addresses() -> None:
    with pytest.raises(ValueError):
        FaultProxy(80, target_host="192.0.2.1")
    with pytest.raises(ValueError):
        FaultProxy(80, listen_host="0.0.0.0")


def test_listens_on_another_loopback_address(target: Target) -> None:
    with FaultProxy(target.port, listen_host="127.0.0.2") as p, \
            socket.create_connection(("127.0.0.2", p.port), timeout=5) as c:
        c.sendall(b"via-127.0.0.2")
        assert wait(lambda: target.total() == b"via-127.0.0.2")


def test_cut_closes_open_and_new_connections_until_healed(proxy: FaultProxy, target: Target) -> None:
    c = connect(proxy.port)
    c.sendall(b"x")
    assert wait(lambda: target.total() == b"x")
    proxy.cut()
    assert is_closed(c)
    c.close()
    # New connections are accepted and closed at once; nothing reaches the target.
    with connect(proxy.port) as c2:
        try:
            c2.sendall(b"lost")
        except OSError:
            pass
        assert is_closed(c2)
    assert target.total() == b"x"
    proxy.heal()
    with connect(proxy.port) as c3:
        c3.sendall(b"y")
        assert wait(lambda: target.total() == b"xy")
    assert proxy.stats.cut_open >= 1 and proxy.stats.refused >= 1


def test_delay_adds_latency_per_direction_and_keeps_order(proxy: FaultProxy, target: Target) -> None:
    with connect(proxy.port) as c:
        c.sendall(b"warm")
        assert wait(lambda: target.total() == b"warm")
        proxy.delay(0.3)
        start = time.monotonic()
        for part in (b"1", b"2", b"3"):
            c.sendall(part)
        assert not wait(lambda: target.total() == b"warm123", timeout=0.2)
        assert wait(lambda: target.total() == b"warm123", timeout=2)
        up = time.monotonic() - start
        assert 0.28 <= up < 1.5
        start = time.monotonic()
        target.send_all(b"back")
        assert recv_some(c, 3) == b"back"
        assert 0.28 <= time.monotonic() - start < 1.5
        proxy.heal()
        start = time.monotonic()
        c.sendall(b"!")
        assert wait(lambda: target.total().endswith(b"!"))
        assert time.monotonic() - start < 0.25


def test_drop_up_swallows_requests_and_passes_replies(proxy: FaultProxy, target: Target) -> None:
    with connect(proxy.port) as c:
        c.sendall(b"a")
        assert wait(lambda: target.total() == b"a")
        proxy.drop(UP)
        c.sendall(b"bbb")
        target.send_all(b"reply")
        assert recv_some(c) == b"reply"
        time.sleep(0.1)
        assert target.total() == b"a"
        assert proxy.stats.dropped_up == 3
        # The connection stays open: the sender sees nothing wrong.
        assert not is_closed(c, 0.1)
        proxy.heal()
        c.sendall(b"c")
        assert wait(lambda: target.total() == b"ac")


def test_drop_down_swallows_replies_and_passes_requests(proxy: FaultProxy, target: Target) -> None:
    with connect(proxy.port) as c:
        c.sendall(b"a")
        assert wait(lambda: target.total() == b"a")
        proxy.drop(DOWN)
        target.send_all(b"lost")
        c.sendall(b"b")
        assert wait(lambda: target.total() == b"ab")
        assert recv_some(c, 0.3) == b"<timeout>"
        proxy.heal()
        target.send_all(b"ok")
        assert recv_some(c) == b"ok"


def test_black_hole_both_directions(proxy: FaultProxy, target: Target) -> None:
    with connect(proxy.port) as c:
        c.sendall(b"a")
        assert wait(lambda: target.total() == b"a")
        proxy.drop("both")
        c.sendall(b"b")
        target.send_all(b"c")
        assert recv_some(c, 0.3) == b"<timeout>"
        assert target.total() == b"a"


def test_peer_filter_uses_the_bus_sender_id(proxy: FaultProxy, target: Target) -> None:
    a = connect(proxy.port)
    b = connect(proxy.port)
    other = connect(proxy.port)
    a.sendall(bus_hello(ID_A))
    b.sendall(bus_hello(ID_B))
    other.sendall(b"PING\r\n")
    assert wait(lambda: len(target.total()) == 200 + 6)
    assert sorted(p or "" for p, _ in proxy.connections()) == ["", ID_A, ID_B]

    proxy.cut(peer=ID_A)
    assert is_closed(a)
    assert not is_closed(b, 0.1) and not is_closed(other, 0.1)
    # A new connection from A is let in just long enough to say who it is.
    with connect(proxy.port) as a2:
        a2.sendall(bus_hello(ID_A))
        assert is_closed(a2)
    assert ID_A.encode() not in target.total()[206:]
    b.sendall(b"more")
    assert wait(lambda: b"more" in target.total())

    proxy.drop(DOWN, peer=ID_B)
    target.send_all(b"to-everyone")
    assert recv_some(other) == b"to-everyone"
    assert recv_some(b, 0.3) == b"<timeout>"
    proxy.heal()
    with connect(proxy.port) as a3:
        a3.sendall(bus_hello(ID_A))
        assert not is_closed(a3, 0.2)
    for s in (a, b, other):
        s.close()


def test_split_first_message_is_held_until_identified(proxy: FaultProxy, target: Target) -> None:
    proxy.cut(peer=ID_A)
    with connect(proxy.port) as a:
        hello = bus_hello(ID_A)
        a.sendall(hello[:30])
        time.sleep(0.1)
        assert target.total() == b""  # not forwarded: the sender is not known yet
        a.sendall(hello[30:])
        assert is_closed(a)
    assert target.total() == b""


def test_fabric_rules_make_a_partition_two_way() -> None:
    targets = [Target() for _ in range(3)]
    fabric = Fabric()
    try:
        for name, t in zip("xyz", targets, strict=True):
            fabric.add(name, t.port)
            fabric.bind(name, name * 40)
        fabric.isolate("x")
        assert fabric.proxies["x"].rules() == {ANY: Rules(cut=True)}
        assert fabric.proxies["y"].rules() == {"x" * 40: Rules(cut=True)}
        fabric.heal()
        fabric.drop_from("x")
        assert fabric.proxies["x"].rules() == {ANY: Rules(drop={DOWN})}
        assert fabric.proxies["z"].rules() == {"x" * 40: Rules(drop={UP})}
        fabric.heal()
        fabric.drop_to("y")
        assert fabric.proxies["y"].rules() == {ANY: Rules(drop={UP})}
        assert fabric.proxies["x"].rules() == {"y" * 40: Rules(drop={DOWN})}
        fabric.heal()
        fabric.split(["x"], ["y", "z"])
        assert fabric.proxies["x"].rules() == {"y" * 40: Rules(cut=True), "z" * 40: Rules(cut=True)}
        assert fabric.proxies["y"].rules() == {"x" * 40: Rules(cut=True)}
        fabric.heal()
        assert all(not p.rules() for p in fabric.proxies.values())
    finally:
        fabric.close()
        for t in targets:
            t.close()


def test_target_down_closes_the_client(target: Target) -> None:
    with FaultProxy(target.port) as p:
        target.close()
        with connect(p.port) as c:
            assert is_closed(c)
