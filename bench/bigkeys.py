"""Scenario 6 (`bigkeys`): DUMP, RESTORE and MIGRATE of single big values.

A node serves nobody while it serialises, checks or moves one key (in Redis too: these
commands block), so the time one big key takes is a latency every other client sees.
Each kind gets a source and a target server. Values, all written with one SET/HSET:

* `string 1 MB random`: incompressible bytes (LZF gives up; the checksum is the work);
* `string 1 MB text`: decimal numbers separated by spaces (compresses to ~40%);
* `hash 10k fields`: 10,000 fields of 20-byte values (a hashtable in both).

Per value and round: DUMP on the source, RESTORE REPLACE of that payload on the source,
and MIGRATE COPY REPLACE to the target (checked afterwards on the target), each timed as
the client's round trip. AiKv and Redis alternate who goes first.
"""

from __future__ import annotations

import random
import time

from bench.procs import Server, remove_tempdir
from bench.report import Row, row_from_samples
from bench.resp import Conn
from bench.settings import Settings, log
from bench.throughput import KINDS

HASH_FIELDS = 10_000


def _values(quick: bool) -> dict[str, tuple[str, object]]:
    size = 100_000 if quick else 1_000_000
    label = "100 kB" if quick else "1 MB"
    rng = random.Random(7)
    text = b" ".join(b"%d" % rng.randrange(10**9) for _ in range(size // 5))[:size]
    fields = HASH_FIELDS // 10 if quick else HASH_FIELDS
    return {
        f"string {label} random": ("string", rng.randbytes(size)),
        f"string {label} text": ("string", text),
        f"hash {fields // 1000}k fields": ("hash", {b"field:%d" % i: b"%020d" % i
                                                   for i in range(fields)}),
    }


def _write(c: Conn, key: bytes, kind: str, value: object) -> None:
    c.call("DEL", key)
    if kind == "string":
        assert isinstance(value, bytes)
        c.call("SET", key, value)
    else:
        assert isinstance(value, dict)
        flat: list[bytes] = []
        for f, v in value.items():
            flat += [f, v]
        c.call("HSET", key, *flat)


def _fingerprint(c: Conn, key: bytes, kind: str) -> object:
    if kind == "string":
        return c.call("GET", key)
    return c.call("HLEN", key)


def _timed(c: Conn, *args: bytes | str | int) -> tuple[float, object]:
    t0 = time.perf_counter()
    got = c.call(*args)
    return (time.perf_counter() - t0) * 1000, got


def _one_value(c: Conn, t: Conn, target_port: int, vkind: str, value: object) -> dict[str, float]:
    """DUMP, RESTORE REPLACE and MIGRATE COPY REPLACE of one value: ms of each."""
    key = b"big"
    _write(c, key, vkind, value)
    expected = _fingerprint(c, key, vkind)
    took: dict[str, float] = {}
    took["DUMP"], payload = _timed(c, "DUMP", key)
    assert isinstance(payload, bytes)
    took["RESTORE"], reply = _timed(c, "RESTORE", key, 0, payload, "REPLACE")
    if reply != b"OK":
        raise RuntimeError(f"RESTORE replied {reply!r}")
    took["MIGRATE"], reply = _timed(c, "MIGRATE", "127.0.0.1", target_port, key, 0, 60000,
                                    "COPY", "REPLACE")
    if reply != b"OK":
        raise RuntimeError(f"MIGRATE replied {reply!r}")
    if _fingerprint(t, key, vkind) != expected:
        raise RuntimeError("the target's copy differs")
    return took


def run(st: Settings) -> list[Row]:
    values = _values(st.quick)
    names = list(values)
    ops = ("DUMP", "RESTORE", "MIGRATE")
    samples: dict[tuple[str, str, str], list[float]] = {
        (n, op, k): [] for n in names for op in ops for k in KINDS}
    errs: dict[str, str] = {}
    pairs: dict[str, tuple[Server, Server]] = {}
    try:
        for kind in KINDS:
            pair = (Server(kind), Server(kind))
            pairs[kind] = pair
            try:
                for srv in pair:
                    srv.start()
            except (RuntimeError, TimeoutError, OSError) as exc:
                errs[kind] = str(exc)[:240]
                log(f"bigkeys: {kind} n/a: {exc}")
        for rnd in range(st.rounds):
            for kind in (KINDS if rnd % 2 == 0 else KINDS[::-1]):
                if kind in errs:
                    continue
                source, target = pairs[kind]
                try:
                    with Conn(source.port, timeout=120) as c, Conn(target.port, timeout=120) as t:
                        for name, (vkind, value) in values.items():
                            took = _one_value(c, t, target.port, vkind, value)
                            for op in ops:
                                samples[(name, op, kind)].append(took[op])
                            log(f"bigkeys round {rnd + 1}: {kind} {name}: " + ", ".join(
                                f"{op} {took[op]:.1f} ms" for op in ops))
                except (RuntimeError, TimeoutError, OSError, AssertionError) as exc:
                    errs[kind] = str(exc)[:240]
                    log(f"bigkeys: {kind} n/a: {exc}")
    finally:
        for pair in pairs.values():
            for srv in pair:
                srv.stop()
                remove_tempdir(srv.dir)
    a, r = errs.get("aikv", ""), errs.get("redis", "")
    return [row_from_samples("bigkeys", f"{name}: {op}", "ms", samples[(name, op, "aikv")],
                             samples[(name, op, "redis")], a, r)
            for name in names for op in ops]
