"""The replication backlog: the last bytes of a replication stream, numbered as the
stream numbers them (the first byte ever produced is offset 1), so that a replica that
lost its link can be sent what it missed (+CONTINUE).

A master keeps one of the stream it produces (aikv/replication/source.py); a replica
keeps one of the stream it applies (aikv/replica.py), so that once promoted it can
continue the stream of the replicas of its old master, the old master included (Redis's
replicas keep theirs for the same reason). Pure: bytes in, bytes out.
"""

from __future__ import annotations

from collections import deque


class Backlog:
    __slots__ = ("chunks", "histlen", "end")

    def __init__(self, end: int) -> None:
        self.chunks: deque[bytes] = deque()
        self.histlen = 0  # bytes held
        self.end = end  # the offset of the last byte of the stream (held or not)

    @property
    def first_offset(self) -> int:
        """The offset of the first byte held (end + 1 when empty)."""
        return self.end - self.histlen + 1

    def append(self, data: bytes, limit: int) -> None:
        """Add the stream's next bytes, keeping the last `limit` bytes."""
        if not data:
            return
        chunks = self.chunks
        chunks.append(data)
        self.histlen += len(data)
        self.end += len(data)
        excess = self.histlen - limit
        while excess > 0:
            first = chunks[0]
            if len(first) <= excess:
                chunks.popleft()
                excess -= len(first)
                self.histlen -= len(first)
            else:
                chunks[0] = first[excess:]
                self.histlen -= excess
                break

    def holds(self, offset: int) -> bool:
        """Whether the bytes from `offset` to the end are all here (the end itself, an
        empty remainder, included)."""
        return self.first_offset <= offset <= self.end + 1

    def since(self, offset: int) -> bytes:
        """The bytes from `offset` (inclusive) to the end; `offset` must be held."""
        return b"".join(self.chunks)[offset - self.first_offset:]

    def cut(self, end: int) -> None:
        """Forget the bytes after `end`: read but never applied (a command cut in the
        middle, a transaction whose EXEC did not come), they will come again."""
        excess = self.end - end
        if excess <= 0:
            return
        chunks = self.chunks
        while excess > 0 and chunks:
            last = chunks[-1]
            if len(last) <= excess:
                chunks.pop()
                self.histlen -= len(last)
                self.end -= len(last)
                excess -= len(last)
            else:
                chunks[-1] = last[:-excess]
                self.histlen -= excess
                self.end -= excess
                excess = 0
        self.end -= excess  # beyond what was held
