"""The tick log's frame codec, replay order and the recording transaction wrapper."""

from __future__ import annotations

from pathlib import Path

import lmdb

from aikv.persist import ticklog
from aikv.persist.ticklog import DELETE, PUT, RecordingTxn


def _body(*ops: tuple[int, int, bytes, bytes]) -> bytes:
    buf = bytearray()
    for op in ops:
        ticklog.encode_op(buf, *op)
    return bytes(buf)


def test_frames_round_trip() -> None:
    bodies = [_body((PUT, 1, b"k", b"v")), b"", _body((DELETE, 3, b"x" * 300, b""))]
    data = b"".join(ticklog.encode_frame(i + 1, b) for i, b in enumerate(bodies))
    frames, end = ticklog.decode_frames(data)
    assert [f[1] for f in frames] == bodies and [f[0] for f in frames] == [1, 2, 3]
    assert end == len(data)
    assert list(ticklog.decode_ops(bodies[0])) == [(PUT, 1, b"k", b"v")]


def test_torn_frame_ends_reading() -> None:
    good = ticklog.encode_frame(1, _body((PUT, 0, b"a", b"1")))
    torn = ticklog.encode_frame(2, _body((PUT, 0, b"b", b"2")))
    for cut in range(1, len(torn)):
        frames, end = ticklog.decode_frames(good + torn[:cut])
        assert [f[0] for f in frames] == [1] and end == len(good)


def test_bad_crc_ends_reading() -> None:
    first = ticklog.encode_frame(1, _body((PUT, 0, b"a", b"1")))
    second = bytearray(ticklog.encode_frame(2, _body((PUT, 0, b"b", b"2"))))
    second[-1] ^= 0x55
    third = ticklog.encode_frame(3, b"")
    frames, end = ticklog.decode_frames(first + bytes(second) + third)
    assert [f[0] for f in frames] == [1] and end == len(first)
    # A changed sequence number fails the CRC too.
    renumbered = bytearray(first)
    renumbered[8] ^= 1
    assert ticklog.decode_frames(bytes(renumbered)) == ([], 0)


def _write(path: Path, *frames: tuple[int, bytes]) -> None:
    path.write_bytes(b"".join(ticklog.encode_frame(s, b) for s, b in frames))


def test_replay_order_checkpoint_and_gaps(tmp_path: Path) -> None:
    _write(ticklog.log_path(tmp_path, 1), (1, b"a"), (2, b"b"), (3, b"c"))
    # A torn frame ends its file; the next file continues the sequence.
    with open(ticklog.log_path(tmp_path, 1), "ab") as f:
        f.write(ticklog.encode_frame(4, b"lost")[:-2])
    _write(ticklog.log_path(tmp_path, 4), (4, b"d"), (5, b"e"))
    _write(ticklog.log_path(tmp_path, 7), (7, b"after a gap"))
    files = ticklog.log_files(tmp_path)
    assert [p.name for p in files] == [ticklog.log_path(tmp_path, n).name for n in (1, 4, 7)]
    assert [s for s, _ in ticklog.frames_to_replay(files, 0)] == [1, 2, 3, 4, 5]
    assert [b for _, b in ticklog.frames_to_replay(files, 2)] == [b"c", b"d", b"e"]
    assert list(ticklog.frames_to_replay(files, 5)) == []
    assert list(ticklog.frames_to_replay(files, 9)) == []


def _dump(env: lmdb.Environment, names: list[bytes]) -> dict[bytes, list[tuple[bytes, bytes]]]:
    with env.begin() as txn:
        return {n: list(txn.cursor(db=env.open_db(n, txn=txn))) for n in names}


def test_recording_txn_captures_every_write(tmp_path: Path) -> None:
    names = [b"a", b"b"]
    src = lmdb.open(str(tmp_path / "src"), max_dbs=4)
    dst = lmdb.open(str(tmp_path / "dst"), max_dbs=4)
    sdbs = [src.open_db(n) for n in names]
    ddbs = {i: dst.open_db(n) for i, n in enumerate(names)}
    for env, dbs in ((src, sdbs), (dst, list(ddbs.values()))):  # state before the log
        with env.begin(write=True) as t:
            for i in range(20):
                t.put(b"old%02d" % i, b"v", db=dbs[0])
                t.put(b"old%02d" % i, b"w", db=dbs[1])
    raw = src.begin(write=True)
    txn = RecordingTxn(raw, {db: i for i, db in enumerate(sdbs)})
    a, b = sdbs
    assert txn.put(b"k1", b"v1", db=a)
    assert not txn.put(b"k1", b"no", overwrite=False, db=a)  # not written: not logged
    assert txn.replace(b"k2", b"v2", db=a) is None
    assert txn.pop(b"old00", db=a) == b"v"
    assert txn.pop(b"missing", db=a) is None
    assert txn.delete(b"old01", db=a)
    assert txn.delete(b"old02", b"", a)
    assert txn.get(b"k1", db=a) == b"v1"
    cur = txn.cursor(db=a)
    assert cur.set_range(b"old05")
    assert cur.delete()  # cursor delete: the key under the cursor
    assert cur.put(b"c1", b"x")
    assert cur.putmulti([(b"m1", b"1"), (b"m2", b"2")]) == (2, 2)
    assert cur.putmulti(iter([(b"m2", b"keep"), (b"m3", b"3")]), overwrite=False) == (2, 1)
    assert cur.replace(b"old06", b"r") == b"v"
    assert cur.pop(b"old07") == b"v"
    assert [k for k, _ in txn.cursor(db=a)][:2] == [b"c1", b"k1"]  # iteration
    txn.drop(b, delete=False)
    txn.put(b"after-drop", b"1", db=b)
    body = bytes(txn.buf)
    # Counted for the store's disk reservation: every logged operation, and the puts
    # that may grow a tree (all but the replace of old06 by a value as long as before).
    assert txn.ops == len(list(ticklog.decode_ops(body))) == 14
    assert txn.grows == 7
    raw.commit()
    with dst.begin(write=True) as t:
        ticklog.apply_ops(t, ddbs, body)
    assert _dump(src, names) == _dump(dst, names)
