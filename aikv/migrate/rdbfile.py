"""Whole RDB files (what a master sends a replica in a full synchronisation): the
"REDIS" magic and version, then opcodes and keys up to EOF and the file's CRC64.

The values inside are encoded as in DUMP payloads, so each key is decoded by the DUMP
loaders of rdb.py. Pure: bytes in, records out (see `read_rdb`).

Opcodes (rdb.h): 0xFA aux field, 0xFB database sizes, 0xFE select database, 0xFC expire
time in ms (8 bytes LE), 0xFD expire time in s (4 bytes LE), 0xF8 LRU idle, 0xF9 LFU
counter, 0xF5 function library (7.0), 0xF7 module aux (refused: AiKv has no modules),
0xFF end. Anything else is the type byte of a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from aikv.migrate.crc64 import crc64
from aikv.migrate.functionrdb import OPCODE_FUNCTION2
from aikv.migrate.rdb import _LOADERS, RDB_VERSION
from aikv.migrate.rdbprim import PayloadReader, bad_data

OP_MODULE_AUX = 0xF7
OP_IDLE = 0xF8
OP_FREQ = 0xF9
OP_AUX = 0xFA
OP_RESIZEDB = 0xFB
OP_EXPIRETIME_MS = 0xFC
OP_EXPIRETIME = 0xFD
OP_SELECTDB = 0xFE
OP_EOF = 0xFF


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
