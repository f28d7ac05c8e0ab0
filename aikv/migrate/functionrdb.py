"""FUNCTION DUMP / FUNCTION RESTORE payloads, as redis-server 7.0.15 writes and reads them
(functions.c functionDumpCommand/functionRestoreCommand, rdb.c rdbFunctionLoad).

A payload is, per library, the opcode FUNCTION2 (245) and the library's code as an RDB
string (LZF-compressed when that pays, as `rdbcompression yes` does), then the RDB version
(u16 LE) and a CRC-64 (u64 LE) of everything before it. The 7.0 release candidates wrote
opcode FUNCTION (246) with the name, engine, an optional description and the code
apart; those are read too, turned into a `#!<engine> name=<name>` payload as Redis does.
"""

from __future__ import annotations

from collections.abc import Iterator

from .crc64 import crc64
from .errors import DumpPayloadError
from .rdb import RDB_VERSION, check_footer
from .rdbprim import PayloadReader, encode_string

OPCODE_FUNCTION2 = 245
OPCODE_FUNCTION_RC = 246  # 7.0-rc1/rc2
_FOOTER_SIZE = 10


class FunctionPayloadError(Exception):
    """A payload FUNCTION RESTORE refuses; args[0] is Redis's message after "ERR "."""


def dump_functions(codes: list[bytes], compress: bool = True) -> bytes:
    body = b"".join(bytes((OPCODE_FUNCTION2,)) + encode_string(code, compress)
                    for code in codes)
    sealed = body + RDB_VERSION.to_bytes(2, "little")
    return sealed + crc64(sealed).to_bytes(8, "little")


def iter_functions(payload: bytes) -> Iterator[bytes]:
    """Each library's code, in payload order. Errors come when reached, as Redis creates
    each library before it reads the next (a bad second record fails after the first
    library loaded into the restore's scratch set)."""
    try:
        check_footer(payload)
    except DumpPayloadError:
        raise FunctionPayloadError("DUMP payload version or checksum are wrong") from None
    # Like Redis, read from the whole argument: a record may run into the footer.
    reader = PayloadReader(payload)
    while len(payload) - reader.pos > _FOOTER_SIZE:
        kind = reader.read_byte()
        if kind == OPCODE_FUNCTION2:
            yield _read(reader, "Failed loading library payload")
        elif kind == OPCODE_FUNCTION_RC:
            name = _read(reader, "Failed loading library name")
            engine = _read(reader, "Failed loading engine name")
            try:
                has_description = reader.read_length()
            except DumpPayloadError:
                raise FunctionPayloadError(
                    "Failed loading library description indicator") from None
            if has_description:
                _read(reader, "Failed loading library description")
            code = _read(reader, "Failed loading library blob")
            yield b"#!%s name=%s\n%s" % (engine, name, code)
        else:
            raise FunctionPayloadError("given type is not a function")


def _read(reader: PayloadReader, failure: str) -> bytes:
    try:
        return reader.read_string()
    except DumpPayloadError:
        raise FunctionPayloadError(failure) from None
