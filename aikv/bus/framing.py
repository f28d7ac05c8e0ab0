"""Splitting a cluster bus byte stream into messages (spec §1), without doing any I/O.

A message announces its own length in bytes 4..7; the first 8 bytes decide whether the
stream is still trustworthy. 7.0.15 closes the link on a bad signature or a totlen below
the header size, since there is no way to find the next message boundary after that.
"""

from __future__ import annotations

from collections.abc import Iterator
from struct import Struct

from aikv.bus.protocol import FRAME_PREFIX_SIZE, HEADER_SIZE, MAX_TOTLEN, SIGNATURE, CloseLink

Buffer = bytes | bytearray | memoryview

_PREFIX = Struct(">4sI")


def check_prefix(buf: Buffer, max_totlen: int | None) -> int:
    """totlen of the message whose first 8 (or more) bytes are in `buf`; raises CloseLink.
    `max_totlen=None` skips the cap (for a frame already fully in memory)."""
    sig, totlen = _PREFIX.unpack_from(buf, 0)
    if sig != SIGNATURE:
        raise CloseLink(f"bad signature {bytes(sig)!r}")
    if totlen < HEADER_SIZE:
        raise CloseLink(f"totlen {totlen} below the header size {HEADER_SIZE}")
    if max_totlen is not None and totlen > max_totlen:
        raise CloseLink(f"totlen {totlen} above the cap {max_totlen}")
    return int(totlen)


def frame_length(buf: Buffer, max_totlen: int = MAX_TOTLEN) -> int | None:
    """None while fewer than 8 bytes are buffered; otherwise the length of the message
    that starts at buf[0] (complete once len(buf) >= that). Raises CloseLink."""
    if len(buf) < FRAME_PREFIX_SIZE:
        return None
    return check_prefix(buf, max_totlen)


class FrameReader:
    """Accumulates stream bytes and yields whole frames. After CloseLink it must be
    discarded with the link."""

    __slots__ = ("_buf", "_max_totlen")

    def __init__(self, max_totlen: int = MAX_TOTLEN) -> None:
        self._buf = bytearray()
        self._max_totlen = max_totlen

    def feed(self, data: Buffer) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def bytes_wanted(self) -> int:
        """How many more bytes complete the frame being read (at least 1). Raises
        CloseLink."""
        totlen = frame_length(self._buf, self._max_totlen)
        if totlen is None:
            return FRAME_PREFIX_SIZE - len(self._buf)
        return max(totlen - len(self._buf), 1)

    def next_frame(self) -> bytes | None:
        """The next complete frame, or None if more bytes are needed. Raises CloseLink."""
        totlen = frame_length(self._buf, self._max_totlen)
        if totlen is None or len(self._buf) < totlen:
            return None
        frame = bytes(self._buf[:totlen])
        # Deleting from the front of a bytearray is amortised O(1) in CPython.
        del self._buf[:totlen]
        return frame

    def __iter__(self) -> Iterator[bytes]:
        while (frame := self.next_frame()) is not None:
            yield frame
