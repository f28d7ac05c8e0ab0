"""DUMP/RESTORE payloads exchanged with a real redis-server 7.0 in both directions.

A private redis-server is started for this module on a free loopback port, in its own
temporary directory, and stopped in the fixture's cleanup whatever the tests did.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

redis = pytest.importorskip("redis")

from aikv.migrate.encoding import EncodingLimits, object_encoding  # noqa: E402
from aikv.migrate.rdb import DumpPayloadError, dump_payload, load_payload  # noqa: E402
from aikv.migrate.rdbprim import LZF_EXACT_LIMIT  # noqa: E402
from tests.harness import shared_dir  # noqa: E402
from tests.unit.test_rdb_properties import CORPUS  # noqa: E402
from tests.unit.test_rdb_types import LOADABLE, seal  # noqa: E402

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")

START_DEADLINE_S = 15.0


FIXTURES = shared_dir() / "fixtures"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_ready(proc: subprocess.Popen[bytes], client: Any, log: Path) -> bool:
    """Poll PING until our server answers; False if it exited (e.g. port taken).

    The answer must come from our process: if the port was grabbed by another server in
    the meantime, that one would answer PING too.
    """
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if client.ping() and client.info("server")["process_id"] == proc.pid:
                return True
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            pass
        time.sleep(0.01)  # poll interval, not a guess at start-up time
    raise RuntimeError(f"redis-server not ready in {START_DEADLINE_S}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    assert REDIS_SERVER is not None
    workdir = tmp_path_factory.mktemp("redis-rdb")
    log_path = workdir / "redis.log"
    # Another process can take the free port before redis-server binds it: retry.
    for _attempt in range(5):
        port = _free_port()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--save", "",
                    "--appendonly", "no",
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--dir", str(workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        client = redis.Redis(
            host="127.0.0.1", port=port, socket_timeout=30, socket_connect_timeout=1
        )
        try:
            if _wait_until_ready(proc, client, log_path):
                yield client
                return
        finally:
            client.close()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    pytest.fail(f"redis-server did not start:\n{log_path.read_text()}")


@pytest.fixture
def r(redis_server: Any) -> Any:
    redis_server.flushall()
    return redis_server


def read_back(client: Any, key: str) -> tuple[str, object]:
    """The key's value in AiKv's value model, read with ordinary commands."""
    kind = client.type(key).decode()
    if kind == "string":
        return kind, client.get(key)
    if kind == "list":
        return kind, client.lrange(key, 0, -1)
    if kind == "set":
        return kind, set(client.smembers(key))
    if kind == "hash":
        return kind, client.hgetall(key)
    if kind == "zset":
        return kind, dict(client.zrange(key, 0, -1, withscores=True))
    return kind, None


def write_natively(client: Any, key: str, kind: str, value: Any) -> None:
    """Create the key the way a Redis user would, so Redis picks its own encoding."""
    step = 1000
    if kind == "string":
        client.set(key, value)
    elif kind == "list":
        for i in range(0, len(value), step):
            client.rpush(key, *value[i : i + step])
    elif kind == "set":
        members = list(value)
        for i in range(0, len(members), step):
            client.sadd(key, *members[i : i + step])
    elif kind == "hash":
        items = list(value.items())  # insertion order is what a listpack hash keeps
        for i in range(0, len(items), step):
            client.hset(key, mapping=dict(items[i : i + step]))
    elif kind == "zset":
        items = list(value.items())
        for i in range(0, len(items), step):
            client.zadd(key, dict(items[i : i + step]))
    else:
        raise AssertionError(kind)


def _ints(count: int, start: int = -300) -> set[bytes]:
    return {b"%d" % (start + 3 * i) for i in range(count)}


_rng = random.Random(2024)
VALUES: list[Any] = [
    # strings: integer forms, text, LZF, lengths of every size class
    pytest.param("string", b"", id="str-empty"),
    pytest.param("string", b"-7", id="str-int8"),
    pytest.param("string", b"12345", id="str-int16"),
    pytest.param("string", b"2147483647", id="str-int32"),
    pytest.param("string", b"12345678901", id="str-int64-text"),
    pytest.param("string", b"007", id="str-leading-zero"),
    pytest.param("string", bytes(range(256)), id="str-binary"),
    pytest.param("string", b"a" * 21, id="str-21-lzf"),
    pytest.param("string", _rng.randbytes(300), id="str-300-random"),
    pytest.param("string", b"abcdefgh" * 64, id="str-512-lzf"),
    pytest.param("string", b"0123456789abcdef" * 1063, id="str-17k-lzf"),
    pytest.param("string", b"{'k': 'v%d'} " * 20000, id="str-300k-lzf"),
    pytest.param("string", _rng.randbytes(1 << 20), id="str-1mb-random"),
    # lists: node splitting at 8 KB, integer entries, big elements
    pytest.param(
        "list", [b"a", b"b", b"1", b"-2", b"300", b"70000", b"4294967296"], id="list-small"
    ),
    pytest.param("list", [b"item-%d" % i for i in range(1000)], id="list-1000"),
    pytest.param("list", [b"%d" % (i * 37 - 500) for i in range(300)], id="list-ints"),
    pytest.param("list", [b"head", b"Z" * 9200, b"tail"], id="list-big-element"),
    pytest.param("list", [b"e" * n for n in range(0, 3000, 7)], id="list-growing-elements"),
    pytest.param("list", [_rng.randbytes(50) for _ in range(20000)], id="list-20000"),
    pytest.param("list", [b"x" * 200_000, b"y"], id="list-200k-element"),
    # sets: intset widths and limits, hashtable
    pytest.param("set", _ints(5), id="set-intset-16"),
    pytest.param("set", {b"-3", b"1", b"1099511627776"}, id="set-intset-64"),
    pytest.param("set", {b"%d" % -(1 << 63), b"%d" % ((1 << 63) - 1)}, id="set-intset-extremes"),
    pytest.param("set", _ints(512), id="set-512-ints"),
    pytest.param("set", _ints(513), id="set-513-ints"),
    pytest.param("set", {b"42", b"apple", b"banana"}, id="set-strings"),
    pytest.param("set", {b"member:%d" % i for i in range(1000)}, id="set-1000"),
    # hashes: listpack limits on count and sizes
    pytest.param(
        "hash", {b"name": b"alice", b"age": b"30", b"city": "Zürich".encode()}, id="hash-small"
    ),
    pytest.param("hash", {b"f%d" % i: b"v%d" % i for i in range(512)}, id="hash-512"),
    pytest.param("hash", {b"f%d" % i: b"v%d" % i for i in range(513)}, id="hash-513"),
    pytest.param("hash", {b"f1": b"short", b"f2": b"v" * 64}, id="hash-value-64"),
    pytest.param("hash", {b"f1": b"short", b"f2": b"v" * 65}, id="hash-value-65"),
    pytest.param("hash", {b"k" * 65: b"v"}, id="hash-field-65"),
    pytest.param("hash", {b"big": b"B" * 50_000, b"n": b"1"}, id="hash-big-value"),
    # sorted sets: score spellings, listpack limits, skiplist
    pytest.param(
        "zset",
        {
            b"f": -math.inf,
            b"c": -3.0,
            b"g": 0.1,
            b"a": 1.0,
            b"b": 2.5,
            b"d": 1e20,
            b"e": math.inf,
            b"p62": float(1 << 62),
            b"p62+": float((1 << 62) + 2048),
            b"negzero": -0.0,
            b"tiny": 5e-324,
            b"third": 1 / 3,
        },
        id="zset-score-forms",
    ),  # fmt: skip
    pytest.param("zset", {b"m%d" % i: i * 1.5 for i in range(128)}, id="zset-128"),
    pytest.param("zset", {b"m%d" % i: i * 1.5 for i in range(129)}, id="zset-129"),
    pytest.param("zset", {b"m%d" % i: float(i % 3) for i in range(300)}, id="zset-ties"),
    pytest.param("zset", {b"m" * 64: 1.0, b"n": 2.0}, id="zset-member-64"),
    pytest.param("zset", {b"m" * 65: 1.0, b"n": 2.0}, id="zset-member-65"),
]


def _hashtable_order(kind: str, encoding: str) -> bool:
    return kind in ("set", "hash") and encoding == "hashtable"


@pytest.mark.parametrize(("kind", "value"), VALUES)
def test_aikv_payload_restores_in_redis(r: Any, kind: str, value: Any) -> None:
    assert r.restore("k", 0, dump_payload(kind, value)) is not None
    assert read_back(r, "k") == (kind, value)
    assert r.object("encoding", "k").decode() == object_encoding(kind, value)


@pytest.mark.parametrize(("kind", "value"), VALUES)
def test_redis_dump_loads_in_aikv(r: Any, kind: str, value: Any) -> None:
    write_natively(r, "k", kind, value)
    redis_payload = r.dump("k")
    encoding = r.object("encoding", "k").decode()
    assert load_payload(redis_payload) == (kind, value)
    assert object_encoding(kind, value) == encoding
    ours = dump_payload(kind, value)
    if _hashtable_order(kind, encoding):
        assert ours[0] == redis_payload[0] and len(ours) == len(redis_payload)
    else:
        assert ours.hex() == redis_payload.hex()


def _lzf_strings(seed: int) -> Iterator[bytes]:
    """Strings whose LZF form exercises every branch of liblzf's matcher: short and long
    matches, matches cut by the end of the input (where liblzf's unrolled compare may run
    2 bytes past its limit), references near the 8 KB reach, literal runs of every
    length, and text that compresses poorly."""
    rng = random.Random(seed)
    for size in (21, 22, 23, 24, 30, 35, 36, 37, 38, 40, 50, 100, 300, 1000):
        yield (b"ab" * size)[:size]
        yield bytes(rng.choice(b"0123456789 ") for _ in range(size))
    for _ in range(60):
        unit = rng.randbytes(rng.randint(1, 40))
        tail = rng.randbytes(rng.randint(0, 30))
        yield unit * rng.randint(2, 80) + tail
    for _ in range(20):
        yield b" ".join(b"%d" % rng.randrange(10**rng.randint(1, 9)) for _ in range(rng.randint(5, 3000)))
    for _ in range(10):
        yield b"".join(b'{"id":%d,"name":"user%d","score":%d.%d},' % (
            i, rng.randrange(1000), rng.randrange(1000), i % 10) for i in range(rng.randint(1, 600)))
    for gap in (8190, 8191, 8192, 8193, 8194):
        block = rng.randbytes(40)
        yield block + rng.randbytes(gap - 40) + block + rng.randbytes(10)


def test_lzf_strings_dump_byte_for_byte_like_redis(r: Any) -> None:
    checked = compressed = 0
    for value in _lzf_strings(11):
        assert len(value) <= LZF_EXACT_LIMIT  # past it AiKv probes the head first
        r.set("k", value)
        theirs = r.dump("k")
        ours = dump_payload("string", value)
        assert ours.hex() == theirs.hex(), value[:60]
        checked += 1
        compressed += theirs[0] == 0 and theirs[1] == 0xC3  # RDB_ENC_LZF
    assert checked == 123 and compressed > 100, (checked, compressed)


@pytest.mark.parametrize(
    ("payload", "expected"), [pytest.param(p, e, id=n) for n, p, e in LOADABLE]
)
def test_hand_built_payloads_read_the_same_in_redis(
    r: Any, payload: bytes, expected: tuple[str, object]
) -> None:
    # Legacy encodings (ziplist, zipmap, plain LIST/ZSET...) decoded by Redis itself.
    r.restore("k", 0, payload)
    assert read_back(r, "k") == expected
    assert load_payload(payload) == expected


def _fixture_payloads() -> list[Any]:
    path = FIXTURES / "dump" / "dump-payloads.json"
    cases = json.loads(path.read_text())["fixtures"]
    return [pytest.param(bytes.fromhex(c["dump_hex"]), id=c["name"]) for c in cases]


@pytest.mark.parametrize("payload", _fixture_payloads())
def test_fixture_payloads_read_the_same_in_redis(r: Any, payload: bytes) -> None:
    r.restore("k", 0, payload)
    assert read_back(r, "k") == load_payload(payload)


def _restore_cases() -> list[Any]:
    path = FIXTURES / "dump" / "restore-cases.json"
    cases = json.loads(path.read_text())["cases"]
    # Only the plain "RESTORE key 0 payload" calls: their reply is about the payload.
    plain = [c for c in cases if len(c["restore_args"]) == 4 and c["key"] != "r:exists"]
    return [pytest.param(bytes.fromhex(c["payload_hex"]), id=c["name"]) for c in plain]


@pytest.mark.parametrize("payload", _restore_cases())
def test_restore_case_verdicts_match_live_redis(r: Any, payload: bytes) -> None:
    try:
        r.restore("k", 0, payload)
    except redis.ResponseError as redis_error:
        with pytest.raises(DumpPayloadError) as ours:
            load_payload(payload)
        # redis-py drops the leading "ERR " of the reply; the rest must match exactly.
        assert str(ours.value) == f"ERR {redis_error}"
        return
    assert load_payload(payload) == read_back(r, "k")


def _mutations(count: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    corpus = CORPUS + [p for _, p, _ in LOADABLE]
    for _ in range(count):
        body = bytearray(rng.choice(corpus)[:-10])
        for _ in range(rng.randint(1, 3)):
            if not body:
                break
            pos = rng.randrange(len(body))
            action = rng.randrange(5)
            if action == 0:
                body[pos] ^= 1 << rng.randrange(8)
            elif action == 1:
                body[pos] = rng.randrange(256)
            elif action == 2:
                del body[pos:]
            elif action == 3:
                body[pos:pos] = rng.randbytes(rng.randint(1, 8))
            else:
                del body[pos : pos + rng.randint(1, 8)]
        yield seal(bytes(body))


def test_corrupted_payloads_are_never_accepted_where_redis_refuses(r: Any) -> None:
    """Whatever AiKv accepts, Redis accepts too, with the same value.

    Redis runs with sanitize-dump-payload yes here, so it deep-checks instead of crashing
    on a bad listpack later. The other direction is allowed to differ: AiKv refuses some
    payloads 7.0 takes (score text like "1.5x", which strtod reads as 1.5).
    """
    r.config_set("sanitize-dump-payload", "yes")
    try:
        accepted = 0
        for payload in _mutations(1500, seed=7):
            try:
                ours = load_payload(payload)
            except DumpPayloadError:
                continue
            accepted += 1
            r.restore("k", 0, payload, replace=True)
            assert read_back(r, "k") == ours, payload.hex()
        assert accepted > 100  # the corpus mutations must exercise the accept path too
    finally:
        r.config_set("sanitize-dump-payload", "no")


CONFIGURED = [
    pytest.param(
        {"hash-max-listpack-entries": 128},
        "hash",
        {b"f%d" % i: b"v" for i in range(129)},
        id="redis-conf-hash-128",
    ),
    pytest.param(
        {"list-max-listpack-size": 3}, "list", [b"%d" % i for i in range(10)], id="list-fill-3"
    ),
    pytest.param(
        {"list-max-listpack-size": -1}, "list", [b"e" * 100 for _ in range(100)], id="list-fill-4kb"
    ),
    pytest.param(
        {"set-max-intset-entries": 4}, "set", {b"1", b"2", b"3", b"4", b"5"}, id="set-intset-4"
    ),
    pytest.param(
        {"zset-max-listpack-value": 3}, "zset", {b"abcd": 1.0, b"x": 2.0}, id="zset-value-3"
    ),
]


@pytest.mark.parametrize(("config", "kind", "value"), CONFIGURED)
def test_non_default_limits_match_a_reconfigured_server(
    r: Any, config: dict[str, int], kind: str, value: Any
) -> None:
    limits = EncodingLimits(**{name.replace("-", "_"): v for name, v in config.items()})
    defaults = {name: r.config_get(name)[name] for name in config}
    try:
        for name, setting in config.items():
            r.config_set(name, setting)
        write_natively(r, "k", kind, value)
        encoding = r.object("encoding", "k").decode()
        assert object_encoding(kind, value, limits) == encoding
        ours = dump_payload(kind, value, limits)
        assert ours != dump_payload(kind, value)  # the limit does change the payload
        theirs = r.dump("k")
        if _hashtable_order(kind, encoding):
            assert ours[0] == theirs[0] and load_payload(ours) == load_payload(theirs)
        else:
            assert ours.hex() == theirs.hex()
    finally:
        for name, setting in defaults.items():
            r.config_set(name, setting)
