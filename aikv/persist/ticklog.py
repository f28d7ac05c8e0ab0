"""The tick log (`lmdb-tick-log yes`): each tick's LMDB changes as one appended frame.

With the tick log on, the store's LMDB write transaction stays open across ticks and is
committed only at checkpoints (see aikv/persist/store.py). What makes a tick durable is
one frame appended to a log file in --dir with one os.write() (and, for
`appendfsync always`, one fdatasync), instead of an LMDB commit that writes every dirty
B-tree page and then the meta page.

This module holds what does not need the store: the frame codec, the recording wrappers
that capture every write made through an lmdb.Transaction (and its cursors), the log
file names, and replay.

Frame (little-endian):

    length  u32   bytes of the body
    crc     u32   zlib.crc32 of the 8 sequence bytes followed by the body
    seq     u64   sequence number, +1 per frame, never reused
    body          operations, each: op u8, db u16, key length u32, value length u32,
                  key, value

Operations: PUT (put/replace, cursor put/putmulti/replace), DELETE (delete/pop, cursor
delete/pop), DROP (txn.drop(db, delete=False): empty the database). `db` is the index of
the database in the store's fixed list of handles (see Store._log_handles).

Reading stops at the first frame that is torn (shorter than its header says) or whose
CRC does not match: everything before it is a complete, acknowledged prefix.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import lmdb

PUT = 1
DELETE = 2
DROP = 3

HEADER = struct.Struct("<IIQ")
OP = struct.Struct("<BHII")
_OP_PACK = OP.pack
_SEQ = struct.Struct("<Q")
PREFIX = "ticklog-"
SUFFIX = ".log"


# ---------------------------------------------------------------------- codec
def encode_frame(seq: int, body: bytes | bytearray) -> bytes:
    seq_bytes = _SEQ.pack(seq)
    crc = zlib.crc32(body, zlib.crc32(seq_bytes))
    return HEADER.pack(len(body), crc, seq) + bytes(body)


def decode_frames(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The complete, CRC-valid frames at the start of `data` as (seq, body), and the
    offset where reading stopped (len(data) when every byte belonged to a good frame)."""
    frames: list[tuple[int, bytes]] = []
    pos = 0
    size = len(data)
    while pos + HEADER.size <= size:
        length, crc, seq = HEADER.unpack_from(data, pos)
        end = pos + HEADER.size + length
        if end > size:
            break  # torn: the write of this frame did not finish
        body = data[pos + HEADER.size:end]
        if zlib.crc32(body, zlib.crc32(_SEQ.pack(seq))) != crc:
            break
        frames.append((seq, body))
        pos = end
    return frames, pos


def encode_op(buf: bytearray, op: int, db: int, key: bytes, value: bytes = b"") -> None:
    buf += OP.pack(op, db, len(key), len(value))
    buf += key
    buf += value


def decode_ops(body: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    pos = 0
    size = len(body)
    while pos < size:
        op, db, klen, vlen = OP.unpack_from(body, pos)
        pos += OP.size
        key = body[pos:pos + klen]
        pos += klen
        value = body[pos:pos + vlen]
        pos += vlen
        yield op, db, key, value


def apply_ops(txn: lmdb.Transaction, handles: dict[int, Any], body: bytes,
              touched: set[tuple[int, bytes]] | None = None) -> None:
    """Redo one frame's operations in `txn` (a raw lmdb.Transaction). `touched` collects
    (db index, key) of every operation, for the caller's count bookkeeping."""
    for op, dbi, key, value in decode_ops(body):
        db = handles[dbi]
        if op == PUT:
            txn.put(key, value, db=db)
        elif op == DELETE:
            txn.delete(key, db=db)
        elif op == DROP:
            txn.drop(db, delete=False)
        else:
            raise ValueError(f"unknown tick-log operation {op}")
        if touched is not None:
            touched.add((dbi, key if op != DROP else b""))


# ---------------------------------------------------------------------- files
def log_path(directory: Path, first_seq: int) -> Path:
    return directory / f"{PREFIX}{first_seq:020d}{SUFFIX}"


def log_files(directory: Path) -> list[Path]:
    """The log files of `directory`, oldest (lowest first sequence) first."""
    found = []
    for path in directory.glob(f"{PREFIX}*{SUFFIX}"):
        digits = path.name[len(PREFIX):-len(SUFFIX)]
        if digits.isdigit():
            found.append((int(digits), path))
    return [path for _, path in sorted(found)]


def frames_to_replay(files: Iterable[Path], checkpoint_seq: int) -> Iterator[tuple[int, bytes]]:
    """The frames after `checkpoint_seq`, in order, as long as the sequence continues
    without a gap. A torn or corrupt frame ends its file (a write that failed is followed
    by a new file); a gap in the sequence ends the replay."""
    expected = checkpoint_seq + 1
    for path in files:
        frames, _ = decode_frames(path.read_bytes())
        for seq, body in frames:
            if seq < expected:
                continue  # covered by the checkpoint
            if seq != expected:
                return
            yield seq, body
            expected += 1


# ---------------------------------------------------------------------- capture
class RecordingCursor:
    """An lmdb.Cursor whose writes are also appended to the owner's frame buffer. Reads
    go to the cursor itself (bound on first use)."""

    def __init__(self, cursor: lmdb.Cursor, owner: RecordingTxn, dbi: int) -> None:
        self._cur = cursor
        self._owner = owner
        self._dbi = dbi

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._cur, name)
        setattr(self, name, value)  # later lookups find it in the instance dict
        return value

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur)

    def put(self, key: bytes, value: bytes, dupdata: bool = True, overwrite: bool = True,
            append: bool = False) -> bool:
        if self._cur.put(key, value, dupdata, overwrite, append):
            owner = self._owner
            owner.ops += 1
            owner.grows += 1
            encode_op(owner.buf, PUT, self._dbi, key, value)
            return True
        return False

    def putmulti(self, items: Iterable[tuple[bytes, bytes]], dupdata: bool = True,
                 overwrite: bool = True, append: bool = False) -> tuple[int, int]:
        items = list(items)
        if not overwrite:  # which items were written is only known one by one
            added = sum(self.put(k, v, dupdata, False, append) for k, v in items)
            return len(items), added
        result = self._cur.putmulti(items, dupdata, overwrite, append)
        self._owner.ops += len(items)
        self._owner.grows += len(items)
        buf = self._owner.buf
        for key, value in items:
            encode_op(buf, PUT, self._dbi, key, value)
        return result

    def replace(self, key: bytes, value: bytes) -> bytes | None:
        old = self._cur.replace(key, value)
        owner = self._owner
        owner.ops += 1
        if old is None or len(old) < len(value):
            owner.grows += 1
        encode_op(owner.buf, PUT, self._dbi, key, value)
        return old

    def pop(self, key: bytes) -> bytes | None:
        old = self._cur.pop(key)
        if old is not None:
            owner = self._owner
            owner.ops += 1
            encode_op(owner.buf, DELETE, self._dbi, key)
        return old

    def delete(self, dupdata: bool = False) -> bool:
        key = self._cur.key()
        if self._cur.delete(dupdata):
            owner = self._owner
            owner.ops += 1
            encode_op(owner.buf, DELETE, self._dbi, key)
            return True
        return False


class RecordingTxn:
    """An lmdb.Transaction (write) that appends each change to `buf` (encoded
    operations, see the module doc). `index` maps a database handle to its number in
    the log; `raw` is the transaction itself, for writes that must not be logged. `ops`
    counts the operations in `buf`, `grows` those that may have grown a B-tree (a put,
    except a replace by a value no longer than the old one): the store estimates the LMDB
    pages they can need by them (see Store._room_for_tick)."""

    def __init__(self, txn: lmdb.Transaction, index: dict[Any, int]) -> None:
        self.raw = txn
        self.index = index
        self.buf = bytearray()
        self.ops = 0
        self.grows = 0
        self.get = txn.get  # the hot read, without a Python call in between
        self._replacers: dict[Any, lmdb.Cursor] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.raw, name)
        setattr(self, name, value)
        return value

    def put(self, key: bytes, value: bytes, dupdata: bool = True, overwrite: bool = True,
            append: bool = False, db: Any = None) -> bool:
        if self.raw.put(key, value, dupdata, overwrite, append, db):
            self.ops += 1
            self.grows += 1
            encode_op(self.buf, PUT, self.index[db], key, value)
            return True
        return False

    def replace(self, key: bytes, value: bytes, db: Any = None) -> bytes | None:
        # Through a cursor kept per database for the transaction's life: the
        # transaction's own replace() opens and frees a cursor on every call (SET's
        # write; ~0.15-0.2 us of its ~1 us), and the log holds one transaction open
        # across many ticks.
        cursor = self._replacers.get(db)
        if cursor is None:
            cursor = self._replacers[db] = self.raw.cursor(db=db)
        old = cursor.replace(key, value)
        self.ops += 1
        if old is None or len(old) < len(value):
            self.grows += 1
        buf = self.buf
        buf += _OP_PACK(PUT, self.index[db], len(key), len(value))  # encode_op, inline
        buf += key
        buf += value
        return old

    def pop(self, key: bytes, db: Any = None) -> bytes | None:
        old = self.raw.pop(key, db)
        if old is not None:
            self.ops += 1
            encode_op(self.buf, DELETE, self.index[db], key)
        return old

    def delete(self, key: bytes, value: bytes = b"", db: Any = None) -> bool:
        if self.raw.delete(key, value, db):
            self.ops += 1
            encode_op(self.buf, DELETE, self.index[db], key)
            return True
        return False

    def drop(self, db: Any, delete: bool = True) -> None:
        if delete:
            raise ValueError("the tick log cannot record deleting a database handle")
        self.raw.drop(db, delete=False)
        self.ops += 1
        encode_op(self.buf, DROP, self.index[db], b"")

    def cursor(self, db: Any = None) -> RecordingCursor:
        return RecordingCursor(self.raw.cursor(db=db), self, self.index[db])


def write_all(fd: int, data: bytes) -> None:
    """One write() for the frame; the loop only continues a short write (rare)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
