"""Client limits against a real redis-server 7.0 where the behaviour is observable from a
client: maxclients, the query-buffer limit, proto-max-bulk-len at run time, output-buffer
limits (CONFIG syntax, pub/sub subscribers that never read), flow control for normal
clients pipelining huge replies, 100 MB values, and idle timeouts.

Memory is measured as the RSS of the server process while a peer misbehaves.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tests.differ import Differ, encode_command
from tests.harness import ServerProcess, wait_until

MB = 1 << 20


# ---------------------------------------------------------------------- helpers
def rss_mb(proc: ServerProcess) -> float:
    assert proc.proc is not None
    with open(f"/proc/{proc.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def read_until_quiet(sock: socket.socket, quiet: float = 0.2, limit: float = 10.0) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True) or stays quiet for `quiet` s."""
    data = b""
    deadline = time.monotonic() + limit
    sock.settimeout(quiet)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def exchange(port: int, data: bytes, quiet: float = 0.2) -> tuple[bytes, bool]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        return read_until_quiet(sock, quiet)


def both(fn: Callable[[int], object], ports: tuple[int, int]) -> list[object]:
    """Run the same probe against AiKv and redis-server at once (halves the waiting)."""
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(fn, ports))


def is_closed(sock: socket.socket, within: float = 5.0) -> bool:
    """True once the server has closed `sock` (EOF or reset), reading what is pending."""
    deadline = time.monotonic() + within
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not chunk:
            return True
    return False


@pytest.fixture
def pair(aikv_module: ServerProcess, redis_module: ServerProcess) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Both module servers; every CONFIG parameter a test changes is restored after."""
    saved = {}
    names = ("maxclients", "client-query-buffer-limit", "proto-max-bulk-len",
             "client-output-buffer-limit", "timeout")
    for proc in (aikv_module, redis_module):
        with proc.client() as c:
            saved[proc.port] = {n: c.config_get(n)[n] for n in names}
    yield aikv_module, redis_module
    for proc in (aikv_module, redis_module):
        with proc.client() as c:
            for name, value in saved[proc.port].items():
                c.config_set(name, value)


# ---------------------------------------------------------------------- maxclients
def test_maxclients_refuses_the_extra_connection(pair: tuple[ServerProcess, ServerProcess]) -> None:
    def probe(port: int) -> tuple[bytes, bool, list[bytes], int]:
        first = redis.Redis(port=port, socket_timeout=5, protocol=2)
        first.config_set("maxclients", 3)
        # The readiness probe's connection may still be counted: wait until it is gone.
        wait_until(lambda: first.info("clients")["connected_clients"] == 1, 5,
                   what="other connections to go")
        rejected_before = first.info("stats")["rejected_connections"]
        others = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        for s in others:
            s.sendall(b"PING\r\n")
            assert read_until_quiet(s, 0.1)[0] == b"+PONG\r\n"
        extra, closed = exchange(port, b"PING\r\n")
        # Existing clients are unaffected.
        replies = []
        for s in others:
            s.sendall(b"PING\r\n")
            replies.append(read_until_quiet(s, 0.1)[0])
        rejected = first.info("stats")["rejected_connections"] - rejected_before
        # A slot freed is usable again.
        others[0].close()
        wait_until(lambda: exchange(port, b"PING\r\n", 0.1)[0] == b"+PONG\r\n", 5,
                   what="a free slot")
        others[1].close()
        first.config_set("maxclients", 10000)
        first.close()
        return extra, closed, replies, rejected

    mine, theirs = both(probe, (pair[0].port, pair[1].port))
    assert mine == theirs
    assert mine[0] == b"-ERR max number of clients reached\r\n" and mine[1]
    assert mine[3] == 1


# ---------------------------------------------------------------------- query buffer
def test_query_buffer_limit_closes_only_that_client(pair: tuple[ServerProcess, ServerProcess]) -> None:
    aikv, _ = pair

    def probe(port: int) -> tuple[bytes, bool, bool]:
        with redis.Redis(port=port, socket_timeout=5) as other:
            other.config_set("client-query-buffer-limit", "1mb")
            other.delete("qb")
            head = b"*3\r\n$3\r\nSET\r\n$2\r\nqb\r\n$3000000\r\n"
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(head)
                try:
                    for _ in range(12):  # 1.5 MB of the 3 MB announced
                        sock.sendall(b"x" * 131072)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                reply, closed = read_until_quiet(sock, 0.5)
            alive = other.ping() and other.exists("qb") == 0
            other.config_set("client-query-buffer-limit", "1gb")
            return reply, closed, bool(alive)

    before = rss_mb(aikv)
    mine, theirs = both(probe, (pair[0].port, pair[1].port))
    assert mine == theirs == (b"", True, True)
    assert rss_mb(aikv) - before < 32
    wait_until(lambda: "Closing client that reached max query buffer length" in aikv.log(), 5,
               what="the query buffer log line")


# ---------------------------------------------------------------------- proto-max-bulk-len
def test_proto_max_bulk_len_applies_to_open_connections(pair: tuple[ServerProcess, ServerProcess]) -> None:
    def probe(port: int) -> list[tuple[bytes, bool]]:
        opened = socket.create_connection(("127.0.0.1", port), timeout=5)
        opened.sendall(b"PING\r\n")
        read_until_quiet(opened, 0.1)
        with redis.Redis(port=port, socket_timeout=5) as admin:
            admin.config_set("proto-max-bulk-len", "1mb")
            results = []
            # Exactly the limit is accepted...
            results.append(exchange(port, encode_command("ECHO", b"e" * MB)[:40], 0.1))
            # ...one byte more closes the connection, already open or new.
            opened.sendall(b"*2\r\n$4\r\nECHO\r\n$1048577\r\n")
            results.append(read_until_quiet(opened, 0.3))
            opened.close()
            results.append(exchange(port, b"*2\r\n$4\r\nECHO\r\n$1048577\r\n", 0.3))
            admin.config_set("proto-max-bulk-len", "512mb")
        results.append(exchange(port, b"*2\r\n$4\r\nECHO\r\n$1048577\r\n", 0.1))
        return results

    mine, theirs = both(probe, (pair[0].port, pair[1].port))
    assert mine == theirs
    assert mine[1] == (b"-ERR Protocol error: invalid bulk length\r\n", True)
    assert mine[3] == (b"", False)  # raised again: the bulk is awaited


# ---------------------------------------------------------------------- output buffers
@pytest.mark.parametrize("value", [
    "pubsub 1mb 512kb 10",
    "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60",
    "slave 1kb 2k 3",
    "NORMAL 10mb 5mb 30 PubSub 1 2 3",
    "foo 1 2 3",
    "master 1 2 3",
    "pubsub 1 2",
    "pubsub x 2 3",
    "pubsub -1 2 3",
    "pubsub 1 2 -3",
    "pubsub 1 2 3x",
    "pubsub 1 2 3 foo 1 2 3",
    "",
])
def test_output_buffer_limit_config_syntax(pair: tuple[ServerProcess, ServerProcess], value: str) -> None:
    d = Differ(pair[0].port, pair[1].port)
    try:
        d.check("CONFIG", "SET", "client-output-buffer-limit", value)
        d.check("CONFIG", "GET", "client-output-buffer-limit")
        d.check("CONFIG", "GET", "client-output-*")
    finally:
        d.close()


def subscribe_without_reading(port: int, channel: bytes) -> socket.socket:
    sock = socket.socket()
    # A small receive window, so what piles up is the server's, not our kernel's.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(encode_command("SUBSCRIBE", channel))
    sock.settimeout(5)
    assert sock.recv(100).startswith(b"*3\r\n$9\r\nsubscribe\r\n")
    return sock


def flood(port: int, channel: bytes, message: bytes, budget: int,
          sample: Callable[[], None] = lambda: None) -> tuple[int, int]:
    """Publish until no subscriber is left or `budget` bytes went out; returns (bytes
    published, receivers of the last message)."""
    sent = 0
    receivers = 1
    with redis.Redis(port=port, socket_timeout=10) as pub:
        while sent < budget:
            pipe = pub.pipeline(transaction=False)
            for _ in range(16):
                pipe.publish(channel, message)
            counts = pipe.execute()
            sent += 16 * len(message)
            receivers = counts[-1]
            sample()
            if receivers == 0:
                break
    return sent, receivers


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_subscriber_that_never_reads_is_disconnected(
        pair: tuple[ServerProcess, ServerProcess], kind: str) -> None:
    """Default limits (pubsub 32mb 8mb 60): the hard limit drops the subscriber while a
    publisher floods; the server's memory stays bounded; other clients are unaffected."""
    proc = pair[0] if kind == "aikv" else pair[1]
    sub = subscribe_without_reading(proc.port, b"flood")
    bystander = subscribe_without_reading(proc.port, b"quiet")
    base = rss_mb(proc)
    peak = [base]

    def sample() -> None:
        peak[0] = max(peak[0], rss_mb(proc))

    try:
        sent, receivers = flood(proc.port, b"flood", b"m" * 65536, 256 * MB, sample)
        assert receivers == 0, f"subscriber still there after {sent >> 20} MB"
        assert is_closed(sub)
        with proc.client() as c:
            assert c.publish("quiet", "hi") == 1
            kinds = [cl["sub"] for cl in c.client_list(_type="pubsub")]
            assert kinds == ["1"]
        growth = peak[0] - base
        print(f"{kind}: subscriber dropped after {sent >> 20} MB published; "
              f"RSS {base:.0f} MB -> peak {peak[0]:.0f} MB")
        if kind == "aikv":
            # 32 MB hard limit + one tick of messages + allocator slack.
            assert growth < 96, growth
            wait_until(lambda: "overcoming of output buffer limits" in proc.log(), 5,
                       what="the output buffer log line")
    finally:
        sub.close()
        bystander.close()


def test_subscriber_soft_limit_needs_its_seconds(pair: tuple[ServerProcess, ServerProcess]) -> None:
    aikv = pair[0]
    with aikv.client() as c:
        c.config_set("client-output-buffer-limit", "pubsub 0 512kb 1")
    sub = subscribe_without_reading(aikv.port, b"soft")
    try:
        flood(aikv.port, b"soft", b"s" * 65536, 8 * MB)
        with aikv.client() as c:
            # Over the soft limit, but not for longer than its second: still subscribed.
            assert c.publish("soft", "x") == 1
            time.sleep(2.2)
            c.publish("soft", "x")  # the check runs when output is added, as in Redis
            wait_until(lambda: c.publish("soft", "y") == 0, 5, what="the soft limit")
    finally:
        sub.close()


def test_one_reply_over_the_hard_limit_closes_the_client_unsent(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    """obuf-limits.tcl: a single reply past the normal class's hard limit closes the
    client before any of it is sent (Redis holds the whole reply before writing), as
    does HRANDFIELD's huge negative count (Redis stops it part way); a reply under the
    limit is delivered."""
    for proc in pair:
        with proc.client() as c:
            c.delete("biglist", "myhash")
            c.rpush("biglist", *[b"x" * 1000] * 150)
            c.hset("myhash", "a", "b")
            c.config_set("client-output-buffer-limit", "normal 100000 0 0")
    ports = (pair[0].port, pair[1].port)
    over = both(lambda port: exchange(port, b"LRANGE biglist 0 -1\r\n"), ports)
    assert over[0] == over[1] == (b"", True)
    under = both(lambda port: exchange(port, b"LRANGE biglist 0 49\r\n"), ports)
    assert under[0] == under[1] and under[0][0].startswith(b"*50\r\n")
    huge = both(lambda port: exchange(port, b"HRANDFIELD myhash -999999999\r\n"), ports)
    assert huge[0] == huge[1] == (b"", True)
    for proc in pair:
        with proc.client() as c:
            c.delete("biglist", "myhash")


def test_replies_in_the_reply_buffer_do_not_count(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    """Redis counts only the output behind a client's 16 KiB reply buffer against its
    limits (and in CLIENT LIST's omem): with a 1-byte hard limit, small replies still
    go out, and only a reply that spills past that buffer closes the client."""
    for proc in pair:
        with proc.client() as c:
            c.set("small", b"s" * 100)
            c.set("big", b"b" * 40000)
            c.config_set("client-output-buffer-limit", "normal 1 0 0")
    ports = (pair[0].port, pair[1].port)
    try:
        small = both(lambda port: exchange(port, b"GET small\r\nPING\r\n"), ports)
        assert small[0] == small[1] == (b"$100\r\n" + b"s" * 100 + b"\r\n+PONG\r\n", False)
        omem = both(lambda port: exchange(port, b"CLIENT LIST ID 1 2 3\r\nCLIENT INFO\r\n"), ports)
        for reply, closed in omem:  # type: ignore[misc]
            assert not closed and b" omem=0 " in reply, reply
        big = both(lambda port: exchange(port, b"GET big\r\n"), ports)
        assert big[0] == big[1] == (b"", True)
    finally:
        for proc in pair:
            with proc.client() as c:
                c.config_set("client-output-buffer-limit", "normal 0 0 0")
                c.delete("small", "big")


def _soft_limit_without_traffic(port: int) -> bool:
    """A subscriber over the soft limit is closed once its seconds pass, though nothing
    more is published (Redis's clients cron checks it)."""
    with redis.Redis(port=port) as c:
        c.config_set("client-output-buffer-limit", "pubsub 0 100000 1")
    sub = subscribe_without_reading(port, b"quiet")
    try:
        with redis.Redis(port=port) as c:
            def over_soft() -> bool:  # publish until the server holds more than 100000
                c.publish("quiet", b"q" * 16384)
                return any(int(e["omem"]) > 100000 for e in c.client_list(_type="pubsub"))
            wait_until(over_soft, 20, 0, "the subscriber's output over the soft limit")
            # No more traffic from here.
            return wait_until(lambda: c.pubsub_numsub("quiet")[0][1] == 0, 8, 0.05,
                              "the soft limit to close the subscriber")
    finally:
        sub.close()


def test_soft_limit_closes_a_client_when_traffic_stopped(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    assert both(_soft_limit_without_traffic, (pair[0].port, pair[1].port)) == [True, True]


# ---------------------------------------------------------------------- flow control
def test_pipelined_huge_replies_keep_memory_bounded(aikv_module: ServerProcess) -> None:
    """A normal client (no output limit) pipelines GETs of a 1 MB value and reads nothing:
    the server stops producing replies and reading requests instead of buffering them."""
    proc = aikv_module
    n = 400
    with proc.client() as c:
        c.set("big1m", b"v" * MB)
    base = rss_mb(proc)
    sock = socket.create_connection(("127.0.0.1", proc.port), timeout=10)
    sender = threading.Thread(target=sock.sendall, args=(encode_command("GET", "big1m") * n,),
                              daemon=True)
    sender.start()
    try:
        peak = base
        for _ in range(10):
            time.sleep(0.05)
            peak = max(peak, rss_mb(proc))
        with proc.client(socket_timeout=2) as other:
            started = time.monotonic()
            assert other.ping()
            assert time.monotonic() - started < 1.0
        expected = n * (len(b"$1048576\r\n") + MB + 2)
        got = 0
        while got < expected:
            chunk = sock.recv(1 << 20)
            assert chunk, "closed early"
            got += len(chunk)
            if got % (32 * MB) < (1 << 20):
                peak = max(peak, rss_mb(proc))
        assert got == expected
        print(f"{n} MB of replies: RSS {base:.0f} MB -> peak {peak:.0f} MB")
        assert peak - base < 64
    finally:
        sock.close()


# ---------------------------------------------------------------------- big values
def test_100mb_value_round_trips_and_node_stays_responsive(aikv_module: ServerProcess) -> None:
    proc = aikv_module
    value = bytes(range(256)) * (100 * MB // 256)
    latencies: list[float] = []
    stop = threading.Event()

    def pinger() -> None:
        with proc.client(socket_timeout=30) as c:
            while not stop.is_set():
                started = time.monotonic()
                c.ping()
                latencies.append(time.monotonic() - started)
                time.sleep(0.05)

    thread = threading.Thread(target=pinger, daemon=True)
    thread.start()
    try:
        with proc.client(socket_timeout=60) as c:
            assert c.set("v100", value)
            assert c.strlen("v100") == len(value)
            assert c.get("v100") == value
            c.delete("a100")
            quarter = value[: 25 * MB]
            for i in range(4):
                assert c.append("a100", quarter) == (i + 1) * len(quarter)
            assert c.strlen("a100") == 100 * MB
            assert c.getrange("a100", 100 * MB - 10, -1) == quarter[-10:]
            c.delete("v100", "a100")
    finally:
        stop.set()
        thread.join(30)
    assert latencies and max(latencies) < 5.0, max(latencies, default=None)
    print(f"PING during 100 MB traffic: max {max(latencies) * 1000:.0f} ms over {len(latencies)}")


# ---------------------------------------------------------------------- timeout
def test_idle_timeout_spares_subscribers(pair: tuple[ServerProcess, ServerProcess]) -> None:
    def probe(port: int) -> tuple[bool, bool, bool]:
        with redis.Redis(port=port, socket_timeout=5) as admin:
            admin.config_set("timeout", 1)
            try:
                idle = socket.create_connection(("127.0.0.1", port), timeout=5)
                idle.sendall(b"PING\r\n")
                read_until_quiet(idle, 0.1)
                sub = subscribe_without_reading(port, b"t")
                busy = socket.create_connection(("127.0.0.1", port), timeout=5)
                deadline = time.monotonic() + 3.5
                while time.monotonic() < deadline:
                    busy.sendall(b"PING\r\n")
                    read_until_quiet(busy, 0.3)
                idle_closed = is_closed(idle, 0.5)
                sub_closed = is_closed(sub, 0.3)
                busy.sendall(b"PING\r\n")
                busy_alive = read_until_quiet(busy, 0.2)[0] == b"+PONG\r\n"
                for s in (idle, sub, busy):
                    s.close()
                return idle_closed, sub_closed, busy_alive
            finally:
                admin.config_set("timeout", 0)

    mine, theirs = both(probe, (pair[0].port, pair[1].port))
    assert mine == theirs == (True, False, True)


def test_held_pipeline_keeps_reply_order(aikv_module: ServerProcess) -> None:
    """Commands held behind 8 MB of replies, then a protocol error: every reply comes,
    in order, then the error, then the close (as Redis, which runs what it parsed)."""
    with aikv_module.client() as c:
        c.set("order1m", b"o" * MB)
        c.set("tail", "end")
    data = (encode_command("GET", "order1m") * 20 + encode_command("GET", "tail")
            + b"*1x\r\n")
    with socket.create_connection(("127.0.0.1", aikv_module.port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += chunk
    one = b"$1048576\r\n" + b"o" * MB + b"\r\n"
    assert received == one * 20 + b"$3\r\nend\r\n" + \
        b"-ERR Protocol error: invalid multibulk length\r\n"
