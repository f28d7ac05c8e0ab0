"""Whole RDB files (what a master sends a replica in a full synchronisation): the
"REDIS" magic and version, then opcodes and keys up to EOF and the file's CRC64.

The values inside are encoded as in DUMP payloads, so each key is decoded by the DUMP
loaders of rdb.py and encoded by the DUMP writers. `read_rdb` is pure: bytes in, records
out (the replica side). `write_rdb` is the master side: it reads a server's whole
dataset and yields the file redis-server 7.0.15 would send for it.

Opcodes (rdb.h): 0xFA aux field, 0xFB database sizes, 0xFE select database, 0xFC expire
time in ms (8 bytes LE), 0xFD expire time in s (4 bytes LE), 0xF8 LRU idle, 0xF9 LFU
counter, 0xF5 function library (7.0), 0xF7 module aux (refused: AiKv has no modules),
0xFF end. Anything else is the type byte of a key.
"""

from __future__ import annotations

import dataclasses
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aikv import REDIS_VERSION
from aikv.info import process_rss
from aikv.keyspace import Database
from aikv.migrate.crc64 import crc64
from aikv.migrate.encoding import EncodingLimits
from aikv.migrate.functionrdb import OPCODE_FUNCTION2
from aikv.migrate.rdb import _LOADERS, RDB_VERSION, TYPE_STRING
from aikv.migrate.rdbprim import PayloadReader, bad_data, encode_length, encode_string
from aikv.migrate.values import encode_live_key, limits_from_config
from aikv.persist.layout import NO_EXPIRE, STRING_CODES

if TYPE_CHECKING:
    from aikv.server import Server

OP_MODULE_AUX = 0xF7
OP_IDLE = 0xF8
OP_FREQ = 0xF9
OP_AUX = 0xFA
OP_RESIZEDB = 0xFB
OP_EXPIRETIME_MS = 0xFC
OP_EXPIRETIME = 0xFD
OP_SELECTDB = 0xFE
OP_EOF = 0xFF

# What write_rdb hands its consumer at a time: big enough that the per-chunk costs (the
# join, the CRC call, a socket write) vanish, small enough to keep memory flat.
CHUNK_SIZE = 64 * 1024


@dataclass
class Key:
    db: int
    key: bytes
    kind: str
    value: object
    expire_at_ms: int  # 0: no expiry
    size: int  # bytes of the record in the file (a hint of what storing it takes)


@dataclass
class Aux:
    name: bytes
    value: bytes


@dataclass
class Function:
    code: bytes  # a library's source, as FUNCTION LOAD takes it


def read_rdb(data: bytes) -> Iterator[Key | Aux | Function]:
    """The records of a whole RDB file, in file order. Raises DumpPayloadError ("ERR Bad
    data format") on anything malformed, a newer version, or a checksum mismatch (a zero
    checksum means the writer did not compute one, as with rdbchecksum no)."""
    if len(data) < 9 or data[:5] != b"REDIS" or not data[5:9].isdigit():
        raise bad_data("not an RDB file")
    version = int(data[5:9])
    if version > RDB_VERSION:
        raise bad_data(f"RDB version {version} is too new")
    reader = PayloadReader(data, 9)
    db = 0
    expire_at_ms = 0
    while True:
        op = reader.read_byte()
        if op == OP_EOF:
            if version >= 5:
                end = reader.pos
                stored = int.from_bytes(reader.read_exact(8), "little")
                if stored and stored != crc64(memoryview(data)[:end]):
                    raise bad_data("RDB checksum mismatch")
            return
        if op == OP_AUX:
            yield Aux(reader.read_string(), reader.read_string())
        elif op == OP_SELECTDB:
            db = reader.read_length()
        elif op == OP_RESIZEDB:
            reader.read_length()
            reader.read_length()
        elif op == OP_EXPIRETIME_MS:
            expire_at_ms = int.from_bytes(reader.read_exact(8), "little")
        elif op == OP_EXPIRETIME:
            expire_at_ms = int.from_bytes(reader.read_exact(4), "little") * 1000
        elif op == OP_IDLE:
            reader.read_length()  # eviction metadata: AiKv keeps none
        elif op == OP_FREQ:
            reader.read_byte()
        elif op == OPCODE_FUNCTION2:
            yield Function(reader.read_string())
        elif op == OP_MODULE_AUX:
            raise bad_data("module data in the RDB file: AiKv has no modules")
        else:
            loader = _LOADERS.get(op)
            if loader is None:
                raise bad_data(f"unsupported RDB object type {op}")
            start = reader.pos
            key = reader.read_string()
            kind, value = loader(reader)
            yield Key(db, key, kind, value, expire_at_ms, reader.pos - start)
            expire_at_ms = 0


# ---------------------------------------------------------------------- writing
def write_rdb(server: Server, repl_id: str, repl_offset: int, *, stream_db: int = 0,
              chunk_size: int = CHUNK_SIZE,
              databases: Sequence[Database] | None = None,
              compress: bool | None = None, replication: bool = True,
              functions: bool = True) -> Iterator[bytes]:
    """The RDB file of a full synchronisation, in chunks of about `chunk_size` bytes:
    the server's function libraries and every live key of every database as it is now,
    stamped with the replication id and offset that state corresponds to.

    The dataset is read through the store's current transaction (the open write
    transaction included) and the key cursors stay open between chunks: the caller must
    drain the iterator before anything writes to the store again. Keys already past
    their deadline are left out (nothing is deleted, so no DEL is propagated); expired
    keys still stored are counted in the RESIZEDB hints, as Redis counts them too.

    `stream_db` is the database the replication stream that follows has selected (the
    "repl-stream-db" field); a stream that begins with a SELECT makes it irrelevant.
    `databases`: read these instead of the server's (views of a snapshot, see
    aikv/replication/snapshot.py, which lift the draining requirement above).
    `compress`: LZF-compress strings (default: rdbcompression).
    `replication`: False leaves out the repl-* fields, as Redis does in a dump.rdb saved by
    a node outside any replication chain (rdbPopulateSaveInfo gives no info).
    `functions`: False leaves out the function libraries (REPLCONF rdb-filter-only).
    """
    limits = limits_from_config(server.config)
    if compress is not None and compress != limits.rdb_compression:
        limits = dataclasses.replace(limits, rdb_compression=compress)
    compress = limits.rdb_compression
    out = _ChunkedFile(chunk_size, bool(server.config.values["rdbchecksum"]))
    out.add(b"REDIS%04d" % RDB_VERSION)
    for name, value in _aux_fields(repl_id, repl_offset, stream_db, replication):
        out.add(bytes((OP_AUX,)) + encode_string(name, compress) + encode_string(value, compress))
    for code in _library_codes(server) if functions else ():
        out.add(bytes((OPCODE_FUNCTION2,)) + encode_string(code, compress))
    for db in server.databases if databases is None else databases:
        yield from _write_database(out, db, limits)
    out.add(bytes((OP_EOF,)))
    yield out.finish()


def _aux_fields(repl_id: str, repl_offset: int, stream_db: int,
                replication: bool = True) -> list[tuple[bytes, bytes]]:
    # The fields of a 7.0 replication RDB, in its order. A replica continues the stream
    # from repl-id and repl-offset (and offers them in a later PSYNC) and starts it in
    # repl-stream-db; the rest is informative. aof-base 0: not an AOF preamble.
    fields = [
        (b"redis-ver", REDIS_VERSION.encode()),
        (b"redis-bits", b"%d" % (struct.calcsize("P") * 8)),
        (b"ctime", b"%d" % int(time.time())),
        (b"used-mem", b"%d" % process_rss()),  # what INFO reports as used_memory
    ]
    if replication:
        fields += [
            (b"repl-stream-db", b"%d" % stream_db),
            (b"repl-id", repl_id.encode()),
            (b"repl-offset", b"%d" % repl_offset),
        ]
    fields.append((b"aof-base", b"0"))
    return fields


def _library_codes(server: Server) -> list[bytes]:
    # Imported here: the command modules import the migrate package, not the reverse.
    from aikv.commands.functions import functions_of

    return functions_of(server).live.codes()  # what FUNCTION DUMP writes too


def _write_database(out: _ChunkedFile, db: Database, limits: EncodingLimits
                    ) -> Iterator[bytes]:
    """One database's SELECTDB, RESIZEDB and live keys, handing out every full chunk.
    Nothing for a database without a live key: Redis skips empty ones, and one holding
    only expired keys is empty to a loader."""
    compress = limits.rdb_compression
    string_type = bytes((TYPE_STRING,))
    started = False
    for mk, meta in db.iter_keys():  # expired keys skipped, no lookup hooks fired
        if not started:
            started = True
            # The sizes only presize the loader's tables, so the stored record counts
            # serve (expired keys included); counting live keys would cost a pass.
            expires = int(db.store.reader().stat(db.expires_db)["entries"])
            out.add(bytes((OP_SELECTDB,)) + encode_length(db.index) + bytes((OP_RESIZEDB,))
                    + encode_length(db.size()) + encode_length(expires))
        key = db.key_of(mk)
        deadline = meta[1:9]
        if deadline != NO_EXPIRE:
            out.add(bytes((OP_EXPIRETIME_MS,)) + deadline[::-1])  # stored big-endian
        if meta[0] in STRING_CODES:
            # The common case, kept off the generic path: a string is its bytes.
            out.add(string_type + encode_string(key, compress) + encode_string(meta[9:], compress))
        else:
            obj = encode_live_key(db, key, meta, limits)
            out.add(obj[:1])
            out.add(encode_string(key, compress))
            out.add(memoryview(obj)[1:])
        if out.size >= out.chunk_size:
            yield out.take()


class _ChunkedFile:
    """The file being written: pieces gathered until a chunk is worth handing out, and
    the running CRC-64 of everything handed out so far."""

    __slots__ = ("chunk_size", "checksum", "crc", "parts", "size")

    def __init__(self, chunk_size: int, checksum: bool) -> None:
        self.chunk_size = chunk_size
        self.checksum = checksum  # rdbchecksum no: the file ends with a zero CRC
        self.crc = 0
        self.parts: list[bytes | memoryview] = []
        self.size = 0

    def add(self, piece: bytes | memoryview) -> None:
        self.parts.append(piece)
        self.size += len(piece)

    def take(self) -> bytes:
        chunk = b"".join(self.parts)
        self.parts = []
        self.size = 0
        if self.checksum:
            self.crc = crc64(chunk, self.crc)
        return chunk

    def finish(self) -> bytes:
        """The last chunk, closed by the CRC-64 of the whole file."""
        last = self.take()
        return last + self.crc.to_bytes(8, "little")
