"""Three-master clusters of either kind, created the way users do: `redis-cli --cluster
create ... --cluster-yes`. Every step has a deadline; failures become ClusterError with a
short reason that the scenarios report as n/a."""

from __future__ import annotations

import re
import subprocess
import time

from bench.procs import Server, remove_tempdir
from bench.resp import Conn, ReplyError, info_field

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ClusterError(Exception):
    pass


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC16-XMODEM, the hash Redis Cluster maps keys to slots with."""
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def key_slot(key: bytes) -> int:
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc16(key) & 16383


def tags_for_slots(n_slots: int) -> list[bytes]:
    """A hash tag for each slot 0..n_slots-1, so keys can be placed in exact slots."""
    tags: list[bytes | None] = [None] * n_slots
    missing = n_slots
    i = 0
    while missing:
        tag = b"%d" % i
        slot = crc16(tag) & 16383
        if slot < n_slots and tags[slot] is None:
            tags[slot] = tag
            missing -= 1
        i += 1
    return [t for t in tags if t is not None]


def clean_output(text: str) -> str:
    return ANSI.sub("", text)


def failure_reason(text: str) -> str:
    """The most telling line of redis-cli's output (errors are printed in red, '[ERR]')."""
    lines = [ln.strip() for ln in clean_output(text).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "ERR" in ln or "rror" in ln or "failed" in ln or "Could not" in ln:
            return re.sub(r",? with args beginning with:.*", "", ln)[:200]
    return (lines[-1] if lines else "no output")[:200]


class Cluster:
    def __init__(self, kind: str, masters: int = 3, node_timeout_ms: int = 5000) -> None:
        self.kind = kind
        self.nodes = [Server(kind, cluster=True, node_timeout_ms=node_timeout_ms)
                      for _ in range(masters)]

    def start(self, timeout: float = 60.0) -> None:
        for n in self.nodes:
            n.start(timeout=timeout)

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
        for n in self.nodes:
            remove_tempdir(n.dir)

    def create(self, timeout: float) -> float:
        """redis-cli --cluster create; returns its wall time in seconds."""
        args = ["redis-cli", "--cluster", "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes), "--cluster-yes"]
        t0 = time.monotonic()
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode(errors="replace") if isinstance(
                exc.stdout, bytes) else (exc.stdout or "")
            raise ClusterError(f"redis-cli --cluster create timed out after {timeout:.0f}s "
                               f"({failure_reason(out)})") from None
        took = time.monotonic() - t0
        if proc.returncode != 0 or "[OK] All 16384 slots covered" not in proc.stdout:
            raise ClusterError("redis-cli --cluster create failed: "
                               + failure_reason(proc.stdout + proc.stderr))
        return took

    def wait_ok(self, timeout: float) -> float:
        """Until every node says cluster_state:ok and knows all the masters."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                if all(self._node_ok(n) for n in self.nodes):
                    return time.monotonic() - t0
            except (OSError, ConnectionError, ReplyError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise ClusterError(f"cluster not ok after {timeout:.0f}s {last}".strip())

    def _node_ok(self, node: Server) -> bool:
        with Conn(node.port, timeout=5) as c:
            info = c.call("CLUSTER", "INFO")
        assert isinstance(info, bytes)
        return (info_field(info, "cluster_state") == "ok"
                and info_field(info, "cluster_known_nodes") == str(len(self.nodes)))

    def node_id(self, node: Server) -> str:
        with Conn(node.port, timeout=5) as c:
            r = c.call("CLUSTER", "MYID")
        assert isinstance(r, bytes)
        return r.decode()

    def owner_of(self, slot: int) -> Server:
        with Conn(self.nodes[0].port, timeout=10) as c:
            slots = c.call("CLUSTER", "SLOTS")
        assert isinstance(slots, list)
        for entry in slots:
            assert isinstance(entry, list)
            lo, hi, master = entry[0], entry[1], entry[2]
            assert isinstance(lo, int) and isinstance(hi, int) and isinstance(master, list)
            if lo <= slot <= hi:
                port = master[1]
                for n in self.nodes:
                    if n.port == port:
                        return n
        raise ClusterError(f"no node owns slot {slot}")

    def up(self, create_timeout: float) -> float:
        """Start, create and wait for a healthy cluster; returns the create wall time."""
        self.start()
        took = self.create(create_timeout)
        self.wait_ok(create_timeout)
        return took
