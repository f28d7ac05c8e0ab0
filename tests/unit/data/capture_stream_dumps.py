"""Regenerate stream_dumps.json: DUMP payloads of streams from a real redis-server 7.0.15.

Usage (from the repository root): ``python tests/unit/data/capture_stream_dumps.py``.

Starts its own redis-server on a free 127.0.0.1 port in a temporary directory, builds a
set of streams, and records for each one the DUMP bytes and what Redis itself reports
about it (XRANGE, XINFO STREAM [FULL]), so that tests/unit/test_streamrdb.py can check
AiKv's decoder against Redis's view without a server. It then RESTOREs a list of
corrupted or hand-made payloads, once with ``sanitize-dump-payload no`` (the default) and
once with ``yes``, and records both replies next to the payload.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from aikv.migrate.crc64 import crc64  # noqa: E402
from aikv.migrate.listpack import encode_listpack  # noqa: E402
from aikv.migrate.rdb import load_payload  # noqa: E402
from aikv.migrate.rdbprim import encode_length, encode_string  # noqa: E402
from aikv.migrate.streamrdb import (  # noqa: E402
    StreamConsumerData,
    StreamData,
    StreamGroupData,
    StreamNack,
    encode_stream_body,
    encode_stream_node,
    id_to_key,
)

OUT = Path(__file__).with_name("stream_dumps.json")
U64 = (1 << 64) - 1


def text(data: bytes) -> str:
    # Bytes as a JSON string, one code point per byte.
    return data.decode("latin-1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="aikv-stream-capture-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: redis.Redis | None = None
        self.port = 0

    def start(self) -> redis.Redis:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--stream-node-max-entries", "100",
             "--stream-node-max-bytes", "4096"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, protocol=2)
        client.response_callbacks.clear()  # raw replies: no redis-py reshaping
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        self.client = client
        return client

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- scenarios


def build_streams(r: redis.Redis) -> list[str]:
    x = r.execute_command
    names: list[str] = []

    def add(name: str) -> str:
        names.append(name)
        return name

    k = add("single-int-values")
    x("XADD", k, "1-1", "a", "1", "b", "-7")
    k = add("same-and-different-fields")
    for i in range(10):
        x("XADD", k, f"5-{i}", "name", f"n{i}", "age", str(20 + i))
    x("XADD", k, "6-0", "other", "x")
    x("XADD", k, "6-1", "age", "1", "name", "swapped")
    x("XADD", k, "7-0", "name", "again", "age", "3")
    x("XDEL", k, "6-0", "5-3")  # tombstones with and without SAMEFIELDS
    k = add("many-nodes")
    for i in range(350):
        x("XADD", k, f"{1000 + i // 3}-{i % 3}", "f", f"value-{i}", "g", str(i * 1000))
    k = add("bytes-limited-nodes")
    for i in range(120):
        x("XADD", k, f"{i + 1}-0", "payload", "x" * 200 + str(i))
    k = add("big-values")
    x("XADD", k, "1-0", "small", "s")
    x("XADD", k, "2-0", "big", "ab" * 3000)
    x("XADD", k, "3-0", "rnd", bytes(range(256)) * 20)
    x("XADD", k, "4-0", "tail", "t")
    k = add("tombstones")
    for i in range(20):
        x("XADD", k, f"{i + 1}-0", "f", str(i))
    x("XDEL", k, "1-0", "7-0", "8-0", "20-0")
    k = add("xdel-whole-node")
    for i in range(150):
        x("XADD", k, f"{i + 1}-0", "f", str(i))
    x("XDEL", k, *[f"{i + 1}-0" for i in range(100)])
    k = add("xtrim-maxlen")
    for i in range(300):
        x("XADD", k, f"{i + 1}-0", "f", str(i))
    x("XTRIM", k, "MAXLEN", "=", "50")
    k = add("xtrim-minid-leaves-tombstone-node")
    x("XADD", k, "1-0", "f", "1")
    x("XADD", k, "2-0", "f", "2")
    x("XDEL", k, "2-0")
    x("XTRIM", k, "MINID", "2")
    k = add("xsetid-below-tombstone")
    x("XADD", k, "1-0", "a", "1")
    x("XADD", k, "5-0", "a", "1")
    x("XDEL", k, "5-0")
    x("XSETID", k, "2-0")
    x("XADD", k, "3-0", "a", "2")
    k = add("xsetid-entriesadded-maxdeletedid")
    x("XADD", k, "10-0", "f", "v")
    x("XSETID", k, "99-5", "ENTRIESADDED", "1000", "MAXDELETEDID", "50-0")
    k = add("empty-maxlen-0")
    x("XADD", k, "MAXLEN", "0", "7-7", "f", "v")
    k = add("empty-mkstream")
    x("XGROUP", "CREATE", k, "grp", "$", "MKSTREAM")
    k = add("large-ids")
    x("XADD", k, "0-1", "f", "low")
    x("XADD", k, f"{(1 << 63) + 5}-{U64 - 1}", "f", "mid")
    x("XADD", k, f"{U64}-0", "f", "high")
    x("XADD", k, f"{U64}-{U64}", "f", "top")
    k = add("numeric-looking-values")
    x("XADD", k, "1-0", "i", "123", "neg", "-5", "max", "9223372036854775807",
      "min", "-9223372036854775808", "over", "9223372036854775808", "lead", "007",
      "float", "1.5", "zero", "0", "negzero", "-0", "big13", "4095", "big16", "-32768")
    x("XADD", k, "2-0", "12", "34", "-1", "", "", "empty")
    k = add("groups")
    for i in range(30):
        x("XADD", k, f"{100 + i}-0", "f", str(i))
    x("XGROUP", "CREATE", k, "g-dollar", "$")
    x("XGROUP", "CREATE", k, "g-zero", "0", "ENTRIESREAD", "0")
    x("XGROUP", "CREATE", k, "g-mid", "110-0")
    x("XGROUP", "CREATE", k, "123", "0")
    x("XREADGROUP", "GROUP", "g-zero", "alice", "COUNT", "5", "STREAMS", k, ">")
    x("XREADGROUP", "GROUP", "g-zero", "bob", "COUNT", "4", "STREAMS", k, ">")
    x("XREADGROUP", "GROUP", "g-zero", "carol-with-a-long-consumer-name-aaaaaaaaaaaaaaaaaaaa",
      "COUNT", "3", "STREAMS", k, ">")
    x("XREADGROUP", "GROUP", "g-zero", "dave", "COUNT", "3", "NOACK", "STREAMS", k, ">")
    x("XACK", k, "g-zero", "101-0", "106-0")
    x("XCLAIM", k, "g-zero", "bob", "0", "100-0", "102-0")
    x("XCLAIM", k, "g-zero", "alice", "0", "110-0", "JUSTID")
    x("XCLAIM", k, "g-zero", "erin", "0", "111-0", "RETRYCOUNT", "7", "TIME", "1700000000000")
    x("XREADGROUP", "GROUP", "g-mid", "m1", "COUNT", "2", "STREAMS", k, ">")
    x("XREADGROUP", "GROUP", "123", "7", "COUNT", "1", "STREAMS", k, ">")
    x("XGROUP", "CREATECONSUMER", k, "g-mid", "idle")
    x("XDEL", k, "103-0", "125-0")
    x("XADD", k, "200-0", "f", "after")
    k = add("group-setid-entriesread")
    for i in range(5):
        x("XADD", k, f"{i + 1}-0", "f", str(i))
    x("XGROUP", "CREATE", k, "g", "0")
    x("XGROUP", "SETID", k, "g", "3-0", "ENTRIESREAD", "42")
    x("XGROUP", "CREATE", k, "h", "2-0")
    return names


def stream_view(r: redis.Redis, key: str) -> dict[str, Any]:
    """What Redis itself says about a stream, independent of AiKv's decoder."""
    x = r.execute_command
    brief = x("XINFO", "STREAM", key)
    info = dict(zip(brief[0::2], brief[1::2], strict=True))
    full_reply = x("XINFO", "STREAM", key, "FULL", "COUNT", "0")
    full = dict(zip(full_reply[0::2], full_reply[1::2], strict=True))
    entries = [[eid.decode(), [text(v) for v in fv]] for eid, fv in x("XRANGE", key, "-", "+")]
    groups = []
    for group_reply in full[b"groups"]:
        g = dict(zip(group_reply[0::2], group_reply[1::2], strict=True))
        consumers = []
        for consumer_reply in g[b"consumers"]:
            c = dict(zip(consumer_reply[0::2], consumer_reply[1::2], strict=True))
            consumers.append({
                "name": text(c[b"name"]),
                "seen_time": c[b"seen-time"],
                "pending": [p[0].decode() for p in c[b"pending"]],
            })
        groups.append({
            "name": text(g[b"name"]),
            "last_id": g[b"last-delivered-id"].decode(),
            "entries_read": -1 if g[b"entries-read"] is None else g[b"entries-read"],
            "pel": [[p[0].decode(), text(p[1]), p[2], p[3]] for p in g[b"pending"]],
            "consumers": consumers,
        })
    return {
        "length": info[b"length"],
        "nodes": info[b"radix-tree-keys"],
        "last_id": info[b"last-generated-id"].decode(),
        "first_id": info[b"recorded-first-entry-id"].decode(),
        "max_deleted_id": info[b"max-deleted-entry-id"].decode(),
        "entries_added": info[b"entries-added"],
        "entries": entries,
        "groups": groups,
    }


# --------------------------------------------------------------------------- corruptions


def seal(body: bytes) -> bytes:
    sealed = body + (10).to_bytes(2, "little")
    return sealed + crc64(sealed).to_bytes(8, "little")


def body_of(payload: bytes) -> bytes:
    return payload[:-10]


def decoded(payload: bytes) -> StreamData:
    kind, value = load_payload(payload)
    assert kind == "stream" and isinstance(value, StreamData)
    return value


def lp_elements_node(elements: list[bytes | int]) -> bytes:
    return encode_listpack(elements)


def v1_body(data: StreamData) -> bytes:
    """A type-15 (pre-7.0) body: no first/max-deleted IDs, entries added, entries read."""
    parts = [b"\x0f", encode_length(len(data.nodes))]
    for key, blob in data.nodes:
        parts += [encode_string(key), encode_string(blob)]
    parts += [encode_length(data.length), encode_length(data.last_id[0]),
              encode_length(data.last_id[1]), encode_length(len(data.groups))]
    for g in data.groups:
        parts += [encode_string(g.name), encode_length(g.last_id[0]), encode_length(g.last_id[1]),
                  encode_length(len(g.pel))]
        for n in g.pel:
            parts += [id_to_key(n.entry_id), n.delivery_time_ms.to_bytes(8, "little", signed=True),
                      encode_length(n.delivery_count)]
        parts.append(encode_length(len(g.consumers)))
        for c in g.consumers:
            parts += [encode_string(c.name), c.seen_time_ms.to_bytes(8, "little", signed=True),
                      encode_length(len(c.pending))]
            parts += [id_to_key(i) for i in c.pending]
    return b"".join(parts)


def simple_stream(entries: list[tuple[tuple[int, int], bool, list[bytes]]],
                  **overrides: Any) -> StreamData:
    key, blob = encode_stream_node(entries[0][0], entries)
    live = [e for e in entries if not e[1]]
    data = StreamData(
        nodes=[(key, blob)], length=len(live), last_id=entries[-1][0],
        first_id=live[0][0] if live else (0, 0), max_deleted_id=(0, 0),
        entries_added=len(entries), groups=[],
    )
    return replace(data, **overrides)


def one_group(pel_ids: list[tuple[int, int]], owners: list[list[tuple[int, int]]],
              names: list[bytes] | None = None) -> StreamGroupData:
    names = names or [b"c%d" % i for i in range(len(owners))]
    owner_of: dict[tuple[int, int], bytes] = {}
    for name, ids in zip(names, owners, strict=True):
        for i in ids:
            owner_of.setdefault(i, name)
    return StreamGroupData(
        name=b"g", last_id=(3, 0), entries_read=3,
        pel=[StreamNack(i, 1700000000000, 1, owner_of.get(i, b"")) for i in pel_ids],
        consumers=[StreamConsumerData(n, 1700000000000, ids)
                   for n, ids in zip(names, owners, strict=True)],
    )


E3: list[tuple[tuple[int, int], bool, list[bytes]]] = [
    ((1, 0), False, [b"f", b"a"]), ((2, 0), False, [b"f", b"b"]), ((3, 0), False, [b"f", b"c"])
]


def corruptions(dumps: dict[str, bytes]) -> list[tuple[str, bytes, str]]:
    """(name, payload, why) for every hand-made payload RESTORE is tried with."""
    cases: list[tuple[str, bytes, str]] = []

    def case(name: str, body: bytes, why: str) -> None:
        cases.append((name, seal(body), why))

    base = dumps["groups"]
    base_body = body_of(base)
    good = simple_stream(E3)
    good_body = encode_stream_body(good, True)
    case("control-hand-built", good_body, "a well-formed stream built by encode_stream_node")
    for cut in (1, 2, 5, 20, len(base_body) // 2, len(base_body) - 1):
        case(f"truncated-{cut}", base_body[:cut], "body cut short")
    tomb_body = body_of(dumps["tombstones"])
    case("truncated-into-footer", tomb_body[:-2],
         "last two counters cut: the reader takes them from the footer")
    cases.append(("crc-flipped", base[:-1] + bytes((base[-1] ^ 1,)), "wrong CRC"))
    case("type-21", b"\x15" + base_body[1:], "7.2's STREAM_LISTPACKS_3, unknown to 7.0")
    case("type-15-from-19-body", b"\x0f" + base_body[1:], "19 body labelled 15")

    data = decoded(base)
    case("type-15-groups", v1_body(data), "pre-7.0 layout of the groups stream")
    for name in ("many-nodes", "tombstones", "empty-mkstream", "xsetid-entriesadded-maxdeletedid",
                 "group-setid-entriesread", "xsetid-below-tombstone"):
        case(f"type-15-{name}", v1_body(decoded(dumps[name])), "pre-7.0 layout")

    key, blob = good.nodes[0]
    assert good_body[:3] == b"\x13\x01\x10"
    after_key = good_body[3 + 16:]
    case("node-key-15-bytes", b"\x13\x01\x0f" + key[:15] + after_key, "node key must be 16 bytes")
    case("node-key-17-bytes", b"\x13\x01\x11" + key + b"\0" + after_key,
         "node key must be 16 bytes")
    case("empty-listpack", encode_stream_body(replace(good, nodes=[(key, encode_listpack([]))]),
                                              True), "empty listpack in a stream")
    bad_size = (len(blob) + 1).to_bytes(4, "little") + blob[4:]
    case("listpack-size-field", encode_stream_body(replace(good, nodes=[(key, bad_size)]), True),
         "listpack header size wrong")
    no_eof = blob[:-1] + b"\x00"
    case("listpack-no-terminator", encode_stream_body(replace(good, nodes=[(key, no_eof)]), True),
         "listpack without its terminator")
    bad_count = blob[:4] + (99).to_bytes(2, "little") + blob[6:]
    case("listpack-header-count", encode_stream_body(replace(good, nodes=[(key, bad_count)]),
                                                     True), "listpack element count wrong")

    def node_case(name: str, elements: list[bytes | int], why: str, **over: Any) -> None:
        node = (id_to_key((1, 0)), lp_elements_node(elements))
        case(name, encode_stream_body(replace(good, nodes=[node], **over), True), why)

    master = [3, 0, 1, b"f", 0]
    entry = [[2, 0, 0, b"a", 4], [2, 1, 0, b"b", 4], [2, 2, 0, b"c", 4]]
    node_case("node-control", master + sum(entry, []), "elements of a valid node")
    node_case("node-lp-count-wrong", master + entry[0] + entry[1] + [2, 2, 0, b"c", 5],
              "lp-count does not match")
    node_case("node-master-not-zero-terminated", [3, 0, 1, b"f", 1] + sum(entry, []),
              "master entry must end with 0")
    node_case("node-extra-element", master + sum(entry, []) + [b"x"], "element after the last entry")
    node_case("node-missing-entry", master + entry[0] + entry[1], "master count says 3")
    node_case("node-master-only", [0, 0, 1, b"f", 0], "node with a master entry only", length=0)
    node_case("node-count-not-int", [b"x", 0, 1, b"f", 0] + sum(entry, []), "count not an integer")
    node_case("node-flags-not-int", master + [b"x", 0, 0, b"a", 4] + entry[1] + entry[2],
              "flags not an integer")
    node_case("node-id-not-int", master + [2, b"x", 0, b"a", 4] + entry[1] + entry[2],
              "id delta not an integer")
    node_case("node-unknown-flag", master + [6, 0, 0, b"a", 4] + entry[1] + entry[2],
              "flags with bit 4")
    node_case("node-count-split-wrong", [2, 1, 1, b"f", 0] + sum(entry, []),
              "master says 1 deleted, no entry has the flag", length=2)
    node_case("node-negative-fields", [3, 0, -1, 0] + [2, 0, 0, 2] * 3,
              "negative master field count")
    node_case("node-string-ints", [b"3", b"0", b"1", b"f", b"0"] + sum(entry, []),
              "integers stored as listpack strings (which Redis also reads as integers)")
    node_case("node-entries-descending", master + [2, 2, 0, b"c", 4, 2, 1, 0, b"b", 4,
                                                   2, 0, 0, b"a", 4],
              "live entries out of order")
    node_case("node-entry-above-last-id", master + sum(entry, []), "last ID below an entry",
              last_id=(2, 5))
    node_case("node-different-fields", master + [0, 0, 0, 2, b"x", b"1", b"y", b"2", 8]
              + entry[1] + entry[2], "non-SAMEFIELDS entry")

    key2, blob2 = encode_stream_node((10, 0), [((10, 0), False, [b"f", b"z"])])
    case("duplicate-node-key", encode_stream_body(replace(good, nodes=[(key, blob), (key, blob)],
                                                          length=6), True),
         "the same node key twice")
    case("nodes-out-of-order", encode_stream_body(
        replace(good, nodes=[(key2, blob2), (key, blob)], length=4, last_id=(10, 0)), True),
        "node keys descending in the payload")
    case("zero-nodes-length-3", encode_stream_body(replace(good, nodes=[]), True),
         "length > 0 with no nodes")
    case("length-too-big", encode_stream_body(replace(good, length=5), True),
         "length larger than the live entries")
    case("length-too-small", encode_stream_body(replace(good, length=1), True),
         "length smaller than the live entries")

    ids = [(1, 0), (2, 0), (3, 0)]

    def group_case(name: str, groups: list[StreamGroupData], why: str) -> None:
        case(name, encode_stream_body(replace(good, groups=groups), True), why)

    group_case("group-control", [one_group(ids, [[(1, 0)], [(2, 0), (3, 0)]])], "valid group")
    group_case("group-pel-not-owned", [one_group(ids, [[(1, 0)], [(2, 0)]])],
               "group PEL entry without a consumer")
    group_case("group-consumer-id-not-in-pel", [one_group(ids[:2], [[(1, 0)], [(2, 0), (3, 0)]])],
               "consumer PEL entry missing from the group PEL")
    group_case("group-pel-duplicate", [one_group([(1, 0), (1, 0)], [[(1, 0)]])],
               "group PEL lists an ID twice")
    group_case("group-pel-owned-twice", [one_group(ids, [[(1, 0), (2, 0)], [(2, 0), (3, 0)]])],
               "two consumers own the same PEL entry")
    group_case("group-consumer-pel-duplicate", [one_group(ids, [[(1, 0), (1, 0)], [(2, 0), (3, 0)]])],
               "a consumer lists an ID twice")
    group_case("group-duplicate-consumer", [one_group([], [[], []], names=[b"c", b"c"])],
               "two consumers with one name")
    g = one_group([], [])
    group_case("group-duplicate-name", [g, g], "two groups with one name")
    group_case("group-pel-unsorted", [one_group([(3, 0), (1, 0)], [[(3, 0), (1, 0)]])],
               "PEL listed in descending order")
    group_case("group-pel-deleted-entry", [one_group([(9, 9)], [[(9, 9)]])],
               "PEL entry that is not (or no longer) in the stream")
    return cases


def restore_reply(server: Server, payload: bytes) -> str:
    assert server.client is not None
    try:
        server.client.execute_command("RESTORE", "probe", "0", payload, "REPLACE")
        reply = "OK"
    except redis.ResponseError as exc:
        reply = str(exc)
    except redis.ConnectionError:
        server.stop()
        server.start()
        return "<server crashed>"
    server.client.execute_command("DEL", "probe")
    return reply


def main() -> None:
    server = Server()
    try:
        r = server.start()
        names = build_streams(r)
        dumps = {name: r.execute_command("DUMP", name) for name in names}
        streams = [{"name": n, "dump": dumps[n].hex(), "redis": stream_view(r, n)} for n in names]
        # Each captured payload must restore to the same stream.
        for item in streams:
            r.execute_command("RESTORE", "copy", "0", dumps[str(item["name"])], "REPLACE")
            assert stream_view(r, "copy") == item["redis"], item["name"]
        cases = []
        for name, payload, why in corruptions(dumps):
            server.client.execute_command("CONFIG", "SET", "sanitize-dump-payload", "no")
            default = restore_reply(server, payload)
            view = None
            if default == "OK" and name.startswith(("type-15", "control", "node-control",
                                                     "group-control", "nodes-out", "node-string",
                                                     "group-pel-unsorted", "group-pel-deleted")):
                server.client.execute_command("RESTORE", "probe", "0", payload)
                view = stream_view(server.client, "probe")
                server.client.execute_command("DEL", "probe")
            server.client.execute_command("CONFIG", "SET", "sanitize-dump-payload", "yes")
            sanitized = restore_reply(server, payload)
            cases.append({"name": name, "why": why, "payload": payload.hex(),
                          "redis_default": default, "redis_sanitized": sanitized,
                          "redis_view": view})
        OUT.write_text(json.dumps({
            "redis_version": r.execute_command("INFO", "server").split(b"redis_version:")[1].split(b"\r")[0].decode(),
            "streams": streams,
            "cases": cases,
        }, indent=1) + "\n")
        print(f"wrote {OUT}: {len(streams)} streams, {len(cases)} hand-made payloads")
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
