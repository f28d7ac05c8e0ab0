"""Authentication and protected mode against a real redis-server 7.0: NOAUTH on every
command path, AUTH / HELLO AUTH replies byte for byte, the limits Redis puts on what an
unauthenticated client may announce, and protected mode (including a connection from a
non-loopback address of this machine, when it has one).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from aikv.server import PROTECTED_MODE_ERROR, protected_mode_denies
from tests.harness import ServerProcess, have_redis_server

PASSWORD = "s3cret"


def talk(port: int, data: bytes, host: str = "127.0.0.1", source: str | None = None,
         quiet: float = 0.25) -> tuple[bytes, bool]:
    """Send `data` on a fresh connection; return what came back before the server closed
    it (True) or went quiet (False)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if source is not None:
            sock.bind((source, 0))
        sock.settimeout(5)
        sock.connect((host, port))
        if data:
            sock.sendall(data)
        out = b""
        sock.settimeout(quiet)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return out, False
            except ConnectionResetError:
                return out, True
            if not chunk:
                return out, True
            out += chunk
    finally:
        sock.close()


def both(ports: tuple[int, int], data: bytes, **kwargs: object) -> tuple[tuple[bytes, bool], ...]:
    with ThreadPoolExecutor(2) as pool:
        return tuple(pool.map(lambda p: talk(p, data, **kwargs), ports))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """AiKv and redis-server, both with requirepass."""
    if not have_redis_server():
        pytest.skip("redis-server is not installed")
    procs = [ServerProcess("aikv", tmp_path_factory.mktemp("aikv-auth"),
                           args=["--requirepass", PASSWORD]),
             ServerProcess("redis", tmp_path_factory.mktemp("redis-auth"),
                           args=["--requirepass", PASSWORD])]
    try:
        for p in procs:
            p.start()
        yield procs[0].port, procs[1].port
    finally:
        for p in procs:
            p.stop()


AUTH = b"AUTH " + PASSWORD.encode() + b"\r\n"
AUTH_MB = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(PASSWORD), PASSWORD.encode())

CASES = [
    # NOAUTH on each path: inline, multibulk, container subcommand, pub/sub, MULTI/EXEC.
    b"GET a\r\n",
    b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
    b"CLIENT ID\r\n",
    b"SUBSCRIBE x\r\n",
    b"MULTI\r\nGET a\r\nEXEC\r\n",
    b"WATCH a\r\nEXEC\r\n",
    b"PING\r\nRESET\r\nCLIENT ID\r\n",
    b"QUIT\r\n",
    # Checks that come before authentication.
    b"GET\r\n",
    b"FOO bar\r\n",
    b"CONFIG FOO\r\n",
    b"EXEC foo\r\n",
    # AUTH and HELLO AUTH.
    b"AUTH\r\n",
    b"AUTH wrong\r\n",
    b"AUTH default wrong\r\n",
    b"AUTH someone " + PASSWORD.encode() + b"\r\n",
    b"AUTH a b c\r\n",
    AUTH + b"GET a\r\n",
    b"AUTH default " + PASSWORD.encode() + b"\r\nGET a\r\n",
    b"HELLO 3\r\n",
    b"HELLO 4\r\n",
    b"HELLO x\r\n",
    b"HELLO 2 SETNAME x\r\n",
    b"HELLO 3 AUTH default wrong\r\n",
    b"HELLO 3 AUTH default\r\n",
    b"HELLO 3 AUTH default wrong SETNAME a\x01b\r\n",
    b"HELLO 3 SETNAME a\x01b AUTH default wrong\r\n",
    b"HELLO 3 AUTH default " + PASSWORD.encode() + b" SETNAME a\x01b\r\nGET a\r\n",
    b"HELLO 2 AUTH default " + PASSWORD.encode() + b" SETNAME me\r\nCLIENT GETNAME\r\n",
    b"HELLO 3 FOO SETNAME a\x01b\r\n",
    AUTH + b"RESET\r\nGET a\r\n",
    # Redis 7.0's limits for unauthenticated clients: 10 arguments, 16 KB bulks.
    b"*10\r\n",
    b"*11\r\n",
    b"*1\r\n$16384\r\n",
    b"*1\r\n$16385\r\n",
    b"*1\r\n$4\r\nPING\r\n*1\r\n$20000\r\n",
    b"*1\r\n$-1\r\n",
    b"*3000000000\r\n",
    AUTH + b"*20\r\n",
    AUTH_MB + b"*1\r\n$20000\r\n",
    AUTH + b"RESET\r\n*20\r\n",
    b"AUTH wrong\r\n*20\r\n",
    b"AUTH wrong\r\n" + AUTH + b"*11\r\n",
]


@pytest.mark.parametrize("data", CASES, ids=[repr(c[:40]) for c in CASES])
def test_unauthenticated_behaviour_matches_redis(secured: tuple[int, int], data: bytes) -> None:
    mine, theirs = both(secured, data)
    # HELLO's reply carries the connection id, which differs between the servers.
    assert _no_id(mine) == _no_id(theirs)


def _no_id(result: tuple[bytes, bool]) -> tuple[bytes, bool]:
    return re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:0\r\n", result[0]), result[1]


def test_clients_authenticate_with_redis_py(secured: tuple[int, int]) -> None:
    once = Retry(NoBackoff(), 0)  # redis-py would otherwise retry a refused AUTH for seconds
    for port in secured:
        for protocol in (2, 3):  # AUTH, then HELLO 3 AUTH
            with redis.Redis(port=port, password=PASSWORD, protocol=protocol) as c:
                assert c.ping()
            with pytest.raises(redis.AuthenticationError):
                redis.Redis(port=port, password="nope", protocol=protocol, retry=once).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, retry=once).ping()


def test_changing_requirepass_keeps_open_connections(secured: tuple[int, int]) -> None:
    def scenario(port: int) -> tuple[object, ...]:
        with redis.Redis(port=port, password=PASSWORD, protocol=2) as admin:
            admin.config_set("requirepass", "other")
            try:
                still = admin.ping()
                old = talk(port, AUTH + b"PING\r\n")
                new = talk(port, b"AUTH other\r\nPING\r\n")
                admin.config_set("requirepass", "")
                open_door = talk(port, b"PING\r\nAUTH x\r\nAUTH default x\r\n")
            finally:
                admin.config_set("requirepass", PASSWORD)
            return still, old, new, open_door

    with ThreadPoolExecutor(2) as pool:
        mine, theirs = pool.map(scenario, secured)
    assert mine == theirs


# ---------------------------------------------------------------------- protected mode
def test_protected_mode_decision() -> None:
    for host in ("127.0.0.1", "::1", None):  # None: a Unix socket
        assert not protected_mode_denies(True, "", host)
    for host in ("192.0.2.7", "10.0.0.1", "127.0.0.5", "::ffff:127.0.0.1", "fe80::1"):
        assert protected_mode_denies(True, "", host)
        assert not protected_mode_denies(True, "pw", host)
        assert not protected_mode_denies(False, "", host)


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine other than loopback (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def test_protected_mode_matches_redis(tmp_path: Path) -> None:
    if not have_redis_server():
        pytest.skip("redis-server is not installed")
    args = ["--bind", "0.0.0.0", "--protected-mode", "yes"]
    procs = [ServerProcess("aikv", tmp_path / "aikv", args=args),
             ServerProcess("redis", tmp_path / "redis", args=args)]
    try:
        for p in procs:
            p.start()
        ports = (procs[0].port, procs[1].port)
        # Loopback is always served.
        assert both(ports, b"PING\r\n") == ((b"+PONG\r\n", False),) * 2
        # 127.0.0.5 is loopback too, but Redis 7.0 only trusts 127.0.0.1 and ::1.
        assert both(ports, b"PING\r\n", source="127.0.0.5") == ((PROTECTED_MODE_ERROR, True),) * 2
        outside = non_loopback_address()
        if outside is not None:
            mine, theirs = both(ports, b"PING\r\n", host=outside)
            assert mine == theirs == (PROTECTED_MODE_ERROR, True)
        for port in ports:
            with redis.Redis(port=port) as c:
                assert c.info("stats")["rejected_connections"] == (2 if outside else 1)
                # A password opens the door (to AUTH), and so does turning the mode off.
                c.config_set("requirepass", "pw")
                assert talk(port, b"PING\r\n", source="127.0.0.5") == (
                    b"-NOAUTH Authentication required.\r\n", False)
                c.execute_command("AUTH", "pw")
                c.config_set("requirepass", "")
                c.config_set("protected-mode", "no")
                assert talk(port, b"PING\r\n", source="127.0.0.5") == (b"+PONG\r\n", False)
        if outside is None:
            pytest.skip("no non-loopback IPv4 address here: only 127.0.0.5 was tried")
    finally:
        for p in procs:
            p.stop()
