"""Keyspace notifications (`notify-keyspace-events`): after a command changes a key it
names the change (an event such as "set", "lpush", "del", "expired"), and, when the
configured classes include that event's class, the node publishes it on
`__keyspace@<db>__:<key>` (message: the event) and/or `__keyevent@<db>__:<event>`
(message: the key), to this node's subscribers only, as Redis does.

Event names, classes and the order of events within a command follow Redis 7.0 (the
tests compare the published streams with a real redis-server). "keymiss" (class m)
comes from the lookups INFO counts as misses (see keyspace.LookupStats). Not generated:
"evicted" (AiKv never evicts). "expired" comes from the active expiry cycle and from
writes that find a key expired; a read of an expired key does not publish it (Redis
deletes on that read), the cycle does shortly after.
"""

from __future__ import annotations

from collections.abc import Callable

KEYSPACE = 1 << 0  # K
KEYEVENT = 1 << 1  # E
GENERIC = 1 << 2  # g
STRING = 1 << 3  # $
LIST = 1 << 4  # l
SET = 1 << 5  # s
HASH = 1 << 6  # h
ZSET = 1 << 7  # z
EXPIRED = 1 << 8  # x
EVICTED = 1 << 9  # e
STREAM = 1 << 10  # t
KEY_MISS = 1 << 11  # m (not part of A)
MODULE = 1 << 13  # d
NEW = 1 << 14  # n (not part of A)
ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE

_CLASSES = {"A": ALL, "g": GENERIC, "$": STRING, "l": LIST, "s": SET, "h": HASH, "z": ZSET,
            "x": EXPIRED, "e": EVICTED, "K": KEYSPACE, "E": KEYEVENT, "t": STREAM,
            "m": KEY_MISS, "d": MODULE, "n": NEW}
# The order CONFIG GET spells the classes in (A stands for its members when all are on).
_RENDER = (("g", GENERIC), ("$", STRING), ("l", LIST), ("s", SET), ("h", HASH), ("z", ZSET),
           ("x", EXPIRED), ("e", EVICTED), ("t", STREAM), ("d", MODULE), ("n", NEW))

BAD_CLASS = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."


def parse_classes(text: str) -> int | None:
    """The flags of a notify-keyspace-events value; None if a character is not a class."""
    flags = 0
    for char in text:
        bit = _CLASSES.get(char)
        if bit is None:
            return None
        flags |= bit
    return flags


def render_classes(flags: int) -> str:
    if flags & ALL == ALL:
        text = "A"
    else:
        text = "".join(char for char, bit in _RENDER if flags & bit)
    if flags & KEYSPACE:
        text += "K"
    if flags & KEYEVENT:
        text += "E"
    if flags & KEY_MISS:
        text += "m"
    return text


class KeyEvents:
    """The node's notification switch: `flags` is the parsed configuration (0: off, the
    common case, which costs each write one test of this integer)."""

    __slots__ = ("flags", "_publish")

    def __init__(self, publish: Callable[[bytes, bytes], object]) -> None:
        self.flags = 0
        self._publish = publish

    def emit(self, kind: int, event: bytes, key: bytes, db: int) -> None:
        flags = self.flags
        if not flags & kind:
            return
        if flags & KEYSPACE:
            self._publish(b"__keyspace@%d__:%s" % (db, key), event)
        if flags & KEYEVENT:
            self._publish(b"__keyevent@%d__:%s" % (db, event), key)
