"""Malformed requests as redis-server 7.0 reads them: each input goes to AiKv and to a real
redis-server on a fresh connection, followed by a PING that shows whether the connection
is still served, and everything each sends back (until its PONG, its close, or a quiet
moment) must be the same bytes.

How Redis reads what is not well formed: a count or length line ends at its '\\r', and
the byte after it is skipped whatever it is (as the two after a bulk); a line is looked
for with strchr, so a NUL before its end means "not complete yet" (the connection waits);
'$' is checked once the length line is there; an argument quoted in an error keeps its
bytes and ends at a NUL, and CR or LF in an error text become spaces. The cases below
were found by mutating well-formed requests (the seeded test at the end keeps doing it).
A server that waits for the rest of a request sends nothing: QUIET_S is how long silence
is taken for that (a reply, even under CI load, starts within milliseconds)."""

from __future__ import annotations

import random
import socket
import time

import pytest

from tests.harness import ServerProcess
from tests.mutation import mutate

QUIET_S = 0.6  # no more bytes for this long: the server has answered all it will

CASES = [
    b"PIN\xc2 ",                                   # an unknown command's bytes kept
    b"s\xdet k v\r\n",
    b"*1\r\n$4\r\nP\xfaNG\r\n",
    b"  \r\xf8",
    b"*2\r\n$4\r*1\r\n$-5\r\nECHO\r\n$0w\n\r\n",  # a length line ends at its '\r'
    b"*1\r\n$4\r\\\nPING\r\n",
    b"*2\r\n$4\r\x18ECHO\r\n$0\r\n\r\n-",
    b"*3\r\n\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",  # "got ' '" for a LF
    b"*1\r\n\xc24\r\nPI",                          # "got '\xc2'"
    b"\x00  \n*-1\r\n",                            # a NUL before the line end: waits
    b"*1\x00\r\n",
    b"get\x00x k\r\n",
    b"set k\n v\r\x82",
]


def exchange(port: int, data: bytes) -> bytes:
    """Send `data` and a PING; collect the replies until the PONG, the close, or QUIET_S
    without a byte."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data + b"PING\r\n")
        sock.settimeout(QUIET_S)
        received = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                return received + b"<closed>"
            received += chunk
            if received.endswith(b"+PONG\r\n"):
                break
        return received


@pytest.fixture(scope="module")
def ports(aikv_module: ServerProcess, redis_module: ServerProcess) -> tuple[int, int]:
    return aikv_module.port, redis_module.port


@pytest.mark.parametrize("data", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_malformed_request_is_read_as_redis_reads_it(ports: tuple[int, int],
                                                    data: bytes) -> None:
    aikv, redis = ports
    assert exchange(aikv, data) == exchange(redis, data)


PIECES = [b"*", b"$", b"\r\n", b"\n", b"\r", b"-1", b"0", b"99999999999", b"-", b"+", b'"',
          b"'", b"\\x41", b"\\", b" ", b"\x00", b"*-1\r\n", b"*0\r\n", b"$-1\r\n", b"*1\r\n",
          b"a", b"PING", b"*2147483648\r\n", b"$2147483648\r\n", b"*1\r\n$-5\r\n"]
WELL_FORMED = [b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
               b"PING\r\n", b"set k v\r\n", b"echo \"a b\" 'c d'\r\n",
               b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", b"get k\n"]


def mutated(rng: random.Random) -> bytes:
    # Edited as a list of byte strings: a piece goes in whole, a byte is replaced by one.
    chunks = [bytes([byte]) for byte in rng.choice(WELL_FORMED)]
    return b"".join(mutate(rng, chunks, lambda: rng.choice(PIECES),
                           lambda: bytes([rng.randrange(256)]), deletes=0.3, inserts=0.4))


def test_mutated_requests_are_read_as_redis_reads_them(ports: tuple[int, int]) -> None:
    aikv, redis = ports
    rng = random.Random(20261129)
    differing = []
    for _ in range(40):
        data = mutated(rng)
        mine, theirs = exchange(aikv, data), exchange(redis, data)
        if mine != theirs:
            differing.append(f"{data!r}: aikv {mine!r}, redis {theirs!r}")
    assert not differing, "\n".join(differing[:5])
