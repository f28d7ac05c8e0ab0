"""write_rdb: the RDB file a master sends in a full synchronisation, read back with
read_rdb and compared with what the server holds. The server runs in-process and its
writes stay in the open write transaction unless a test ends the tick, so the file is
checked to describe that uncommitted state too."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from aikv.client import Client
from aikv.config import Config
from aikv.migrate.crc64 import crc64
from aikv.migrate.rdbfile import Aux, Function, Key, read_rdb, write_rdb
from aikv.migrate.streamrdb import StreamData
from aikv.migrate.values import expire_at, read_value
from aikv.persist.layout import MAX_INLINE_KEY
from aikv.server import Server
from bench.python_path import FakeTransport

REPL_ID = "8f3c1f0e9d2b4a5c6e7f8091a2b3c4d5e6f70819"
LIBRARY = (b"#!lua name=rdblib\n"
           b"redis.register_function('rdbfn', function(keys, args) return 1 end)")
LONG_KEY = b"k" * (MAX_INLINE_KEY + 20)  # stored apart from its meta record


class Node:
    """An in-process server and one client on it."""

    def __init__(self, directory: Path, **settings: str) -> None:
        config = Config()
        config.set("dir", str(directory), startup=True)
        for name, value in settings.items():
            config.set(name.replace("_", "-"), value, startup=True)
        self.server = Server(config)
        self.server.open_storage()
        self.client = Client(self.server)
        self.client.connection_made(FakeTransport())  # type: ignore[arg-type]

    def run(self, *argv: bytes | str | int) -> bytes:
        args = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
        reply = self.server.execute(self.client, args)
        assert not reply.startswith(b"-"), (args[:3], reply)
        return reply

    def rdb(self, **kwargs: object) -> bytes:
        return b"".join(write_rdb(self.server, REPL_ID, 4242, **kwargs))  # type: ignore[arg-type]

    def held(self) -> dict[tuple[int, bytes], tuple[str, object, int]]:
        """Every live key of every database as the server reads it."""
        out: dict[tuple[int, bytes], tuple[str, object, int]] = {}
        for db in self.server.databases:
            for mk, meta in db.iter_keys():
                key = db.key_of(mk)
                kind, value = read_value(db, key, meta)
                out[(db.index, key)] = (kind, value, expire_at(meta))
        return out


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    try:
        yield n
    finally:
        n.server.store.close()


def _fill(node: Node) -> dict[tuple[int, bytes], tuple[str, object]]:
    """Every kind of value in several databases; returns the model of what was written
    (streams aside, checked against the server's own reading)."""
    rng = random.Random(7)
    model: dict[tuple[int, bytes], tuple[str, object]] = {}

    def string(db: int, key: bytes, value: bytes) -> None:
        node.run("SET", key, value)
        model[(db, key)] = ("string", value)

    node.run("SELECT", 0)
    string(0, b"plain", b"hello")
    string(0, b"int", b"12345")
    string(0, b"negative", b"-7")
    string(0, b"int64", b"9223372036854775807")
    string(0, b"not-canonical", b"007")
    string(0, b"empty", b"")
    string(0, b"compressible", b"abc" * 3000)  # LZF form
    string(0, b"incompressible", rng.randbytes(5000))
    string(0, b"12", b"key spelled as an integer")
    string(0, LONG_KEY, b"long key's value")
    node.run("APPEND", "appended", "a")
    node.run("APPEND", "appended", "b")
    model[(0, b"appended")] = ("string", b"ab")
    node.run("INCRBY", "counter", 41)
    node.run("INCR", "counter")
    model[(0, b"counter")] = ("string", b"42")

    small_list = [b"a", b"1", b"-300", b"c" * 40]
    node.run("RPUSH", "list:small", *small_list)
    model[(0, b"list:small")] = ("list", small_list)
    big_list = [b"%d-%s" % (i, b"v" * (i % 50)) for i in range(5000)]
    for start in range(0, len(big_list), 500):
        node.run("RPUSH", "list:big", *big_list[start:start + 500])
    model[(0, b"list:big")] = ("list", big_list)
    huge_items = [b"x" * 10000, b"short", rng.randbytes(9000)]  # nodes of one element
    node.run("RPUSH", "list:huge-items", *huge_items)
    model[(0, b"list:huge-items")] = ("list", huge_items)
    node.run("LPUSH", "list:left", "c", "b", "a")
    model[(0, b"list:left")] = ("list", [b"a", b"b", b"c"])

    ints = {b"%d" % n for n in [-5, 0, 7, 70000, 1 << 40]}
    node.run("SADD", "set:intset", *ints)
    model[(0, b"set:intset")] = ("set", ints)
    words = {b"alpha", b"beta", b"7"}
    node.run("SADD", "set:small", *words)
    model[(0, b"set:small")] = ("set", words)
    many_ints = {b"%d" % n for n in range(1000)}  # past set-max-intset-entries
    node.run("SADD", "set:many-ints", *many_ints)
    model[(0, b"set:many-ints")] = ("set", many_ints)
    big_set = {b"member-%d" % n for n in range(3000)}
    node.run("SADD", "set:big", *big_set)
    model[(0, b"set:big")] = ("set", big_set)

    small_hash = {b"f1": b"v1", b"f2": b"2", b"n": b"-99"}
    node.run("HSET", "hash:small", *[x for pair in small_hash.items() for x in pair])
    model[(0, b"hash:small")] = ("hash", small_hash)
    big_hash = {b"field-%d" % i: b"%d" % (i * 3) for i in range(1000)}
    node.run("HSET", "hash:big", *[x for pair in big_hash.items() for x in pair])
    model[(0, b"hash:big")] = ("hash", big_hash)
    wide_hash = {b"f": b"w" * 200, b"g": b"short"}  # a value past hash-max-listpack-value
    node.run("HSET", "hash:wide", *[x for pair in wide_hash.items() for x in pair])
    model[(0, b"hash:wide")] = ("hash", wide_hash)

    small_zset = {b"a": 1.0, b"b": 2.5, b"c": -3.0, b"inf": float("inf"),
                  b"-inf": float("-inf"), b"third": 1 / 3}
    node.run("ZADD", "zset:small", *[x for m, s in small_zset.items() for x in (repr(s), m)])
    model[(0, b"zset:small")] = ("zset", small_zset)
    big_zset = {b"m%d" % i: i / 7 for i in range(500)}
    node.run("ZADD", "zset:big", *[x for m, s in big_zset.items() for x in (repr(s), m)])
    model[(0, b"zset:big")] = ("zset", big_zset)

    # Grown past the compact encoding, then shrunk: Redis keeps the big encoding.
    node.run("HSET", "hash:shrunk", *[x for i in range(600) for x in (f"f{i}", i)])
    node.run("HDEL", "hash:shrunk", *[f"f{i}" for i in range(2, 600)])
    model[(0, b"hash:shrunk")] = ("hash", {b"f0": b"0", b"f1": b"1"})
    node.run("ZADD", "zset:shrunk", *[x for i in range(200) for x in (i, f"m{i}")])
    node.run("ZREMRANGEBYRANK", "zset:shrunk", 2, -1)
    model[(0, b"zset:shrunk")] = ("zset", {b"m0": 0.0, b"m1": 1.0})
    node.run("SADD", "set:was-intset", 1, 2, 3, "word")
    node.run("SREM", "set:was-intset", "word")
    model[(0, b"set:was-intset")] = ("set", {b"1", b"2", b"3"})

    node.run("PFADD", "hll", *[f"user{i}" for i in range(100)])
    node.run("GEOADD", "geo", "13.361389", "38.115556", "Palermo")

    # Streams: entries across several nodes, deletions, groups with pending entries.
    for i in range(1, 301):
        node.run("XADD", "stream", f"{i}-0", "field", f"v{i}", "n", i)
    node.run("XDEL", "stream", "5-0", "6-0")
    node.run("XGROUP", "CREATE", "stream", "g1", "0")
    node.run("XGROUP", "CREATE", "stream", "g2", "$")
    node.run("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "10", "STREAMS", "stream", ">")
    node.run("XREADGROUP", "GROUP", "g1", "bob", "COUNT", "5", "STREAMS", "stream", ">")
    node.run("XACK", "stream", "g1", "1-0", "2-0")
    node.run("XGROUP", "CREATECONSUMER", "stream", "g2", "idle")
    node.run("XADD", "stream:empty-after-trim", "1-1", "f", "v")
    node.run("XTRIM", "stream:empty-after-trim", "MAXLEN", "0")

    # Deadlines: live ones are kept with their expiry, a past one is left out.
    deadline = node.server.clock.now_ms + 3_600_000
    node.run("SET", "ttl:string", "t", "PXAT", deadline)
    model[(0, b"ttl:string")] = ("string", b"t")
    node.run("RPUSH", "ttl:list", "x", "y")
    node.run("PEXPIREAT", "ttl:list", deadline + 1)
    model[(0, b"ttl:list")] = ("list", [b"x", b"y"])
    node.run("SET", "ttl:gone", "g", "PX", 100)
    node.run("HSET", "ttl:gone-hash", "f", "v")
    node.run("PEXPIRE", "ttl:gone-hash", 100)

    node.run("SELECT", 3)
    string(3, b"plain", b"in db 3")
    node.run("SADD", "set", "x")
    model[(3, b"set")] = ("set", {b"x"})
    node.run("SELECT", 15)
    string(15, b"last", b"in the last database")
    node.run("SELECT", 9)
    node.run("SET", "only-expired", "gone", "PX", 100)  # database 9 holds nothing live
    node.run("SELECT", 0)

    node.run("FUNCTION", "LOAD", LIBRARY)
    return model


def _records(data: bytes) -> tuple[list[Aux], list[Function], list[Key]]:
    aux: list[Aux] = []
    functions: list[Function] = []
    keys: list[Key] = []
    for record in read_rdb(data):
        if isinstance(record, Aux):
            aux.append(record)
        elif isinstance(record, Function):
            functions.append(record)
        else:
            keys.append(record)
    return aux, functions, keys


def test_file_holds_the_whole_dataset(node: Node) -> None:
    model = _fill(node)
    node.server.clock.now_ms += 1000  # the short deadlines pass, the hour-long do not
    expired_seen: list[tuple[int, bytes]] = []
    for db in node.server.databases:
        db.on_expired = lambda index, key: expired_seen.append((index, key))
    data = node.rdb()

    assert data[:9] == b"REDIS0010"
    assert data[-9] == 0xFF  # EOF, then the CRC of everything before it
    assert int.from_bytes(data[-8:], "little") == crc64(data[:-8])
    aux, functions, keys = _records(data)

    held = node.held()
    by_key = {(k.db, k.key): k for k in keys}
    assert len(by_key) == len(keys), "a key was written twice"
    assert set(by_key) == set(held)
    for where, (kind, value, deadline) in held.items():
        record = by_key[where]
        assert (record.kind, record.expire_at_ms) == (kind, deadline), where
        assert record.value == value, where
    for where, (kind, value) in model.items():
        assert (by_key[where].kind, by_key[where].value) == (kind, value), where

    # Past their deadline: not written, and not deleted either (no DEL to propagate).
    for where in [(0, b"ttl:gone"), (0, b"ttl:gone-hash"), (9, b"only-expired")]:
        assert where not in by_key
    assert expired_seen == []
    assert by_key[(0, b"ttl:string")].expire_at_ms > node.server.clock.now_ms
    assert {k.db for k in keys} == {0, 3, 15}

    stream = by_key[(0, b"stream")].value
    assert isinstance(stream, StreamData)
    assert stream.length == 298 and len(stream.nodes) > 1
    groups = {g.name: g for g in stream.groups}
    assert [len(groups[b"g1"].pel), len(groups[b"g2"].pel)] == [13, 0]
    assert {c.name for c in groups[b"g1"].consumers} == {b"alice", b"bob"}
    assert [c.name for c in groups[b"g2"].consumers] == [b"idle"]
    trimmed = by_key[(0, b"stream:empty-after-trim")].value
    assert isinstance(trimmed, StreamData) and trimmed.length == 0

    assert [f.code for f in functions] == [LIBRARY]
    names = [a.name for a in aux]
    assert names == [b"redis-ver", b"redis-bits", b"ctime", b"used-mem", b"repl-stream-db",
                     b"repl-id", b"repl-offset", b"aof-base"]
    fields = {a.name: a.value for a in aux}
    assert fields[b"redis-ver"] == b"7.0.15"
    assert fields[b"repl-id"] == REPL_ID.encode()
    assert fields[b"repl-offset"] == b"4242"
    assert fields[b"repl-stream-db"] == b"0"
    assert fields[b"aof-base"] == b"0"
    assert int(fields[b"used-mem"]) > 0


@pytest.mark.parametrize("tick_log", ["yes", "no"])
def test_committed_and_uncommitted_writes_both_appear(tmp_path: Path, tick_log: str) -> None:
    node = Node(tmp_path, lmdb_tick_log=tick_log)
    try:
        node.run("SET", "committed", "1")
        node.run("RPUSH", "changed", "old")
        node.run("HSET", "hash", "f", "v")
        node.server.store.end_tick()
        if node.server.store.tick_log:
            node.server.store.checkpoint()  # into LMDB itself, not only the log
        node.run("SET", "pending", "2")  # in the open write transaction
        node.run("RPUSH", "changed", "new")
        node.run("HSET", "hash", "g", "w")
        node.run("DEL", "committed")
        _, _, keys = _records(node.rdb())
        assert {k.key: k.value for k in keys} == {
            b"pending": b"2", b"changed": [b"old", b"new"], b"hash": {b"f": b"v", b"g": b"w"}}
    finally:
        node.server.store.close()


def test_chunks_are_bounded_and_make_the_same_file(node: Node) -> None:
    for i in range(0, 3000, 300):
        node.run("MSET", *[x for n in range(i, i + 300) for x in (f"key:{n}", f"value:{n}")])
    chunks = list(write_rdb(node.server, REPL_ID, 1, chunk_size=1024))
    assert len(chunks) > 10
    # Each chunk but the last is handed out as soon as it reached the size (a key
    # record, ~20 bytes here, is never split).
    assert all(1024 <= len(chunk) < 1024 + 100 for chunk in chunks[:-1])
    small = _records(b"".join(chunks))[2]
    whole = _records(node.rdb())[2]
    assert small == whole and len(small) == 3000


def test_empty_server_and_stream_db(node: Node) -> None:
    data = node.rdb(stream_db=5)
    aux, functions, keys = _records(data)
    assert functions == [] and keys == []
    assert {a.name: a.value for a in aux}[b"repl-stream-db"] == b"5"
    assert data[-9] == 0xFF


def test_rdbchecksum_no_writes_a_zero_crc(tmp_path: Path) -> None:
    node = Node(tmp_path, rdbchecksum="no")
    try:
        node.run("SET", "k", "v")
        data = node.rdb()
        assert data[-8:] == bytes(8)
        assert [k.key for k in _records(data)[2]] == [b"k"]  # a zero CRC is not checked
    finally:
        node.server.store.close()


def test_swapped_databases_are_written_under_their_select_index(node: Node) -> None:
    node.run("SET", "was-in-0", "x")
    node.run("SWAPDB", 0, 2)
    _, _, keys = _records(node.rdb())
    assert [(k.db, k.key) for k in keys] == [(2, b"was-in-0")]
