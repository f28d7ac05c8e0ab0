"""Node flag bits as carried on the cluster bus and their names in CLUSTER NODES / nodes.conf.

One home for these constants: the bus codec, the cluster state and the nodes.conf reader and
writer all use them.
"""

from __future__ import annotations

MASTER = 0x0001
SLAVE = 0x0002
PFAIL = 0x0004
FAIL = 0x0008
MYSELF = 0x0010
HANDSHAKE = 0x0020
NOADDR = 0x0040
MEET = 0x0080
MIGRATE_TO = 0x0100
NOFAILOVER = 0x0200

# Printed names, in the fixed order Redis prints them. MEET and MIGRATE_TO are never shown.
FLAG_NAMES: tuple[tuple[int, str], ...] = (
    (MYSELF, "myself"),
    (MASTER, "master"),
    (SLAVE, "slave"),
    (PFAIL, "fail?"),
    (FAIL, "fail"),
    (HANDSHAKE, "handshake"),
    (NOADDR, "noaddr"),
    (NOFAILOVER, "nofailover"),
)
_BY_NAME = {name: bit for bit, name in FLAG_NAMES}


def flags_to_text(flags: int) -> str:
    names = [name for bit, name in FLAG_NAMES if flags & bit]
    return ",".join(names) if names else "noflags"


def flags_from_text(text: str) -> int:
    """Parse a comma-separated flag list; raises ValueError on an unknown word
    (Redis refuses to load a nodes.conf with one)."""
    flags = 0
    for word in text.lower().split(","):
        if word == "noflags":
            continue
        bit = _BY_NAME.get(word)
        if bit is None:
            raise ValueError(f"unknown node flag {word!r}")
        flags |= bit
    return flags
