"""ACL LOG's entries: denied commands, keys, channels and failed authentications, newest
first, grouped as Redis's addACLLogEntry groups them (same reason, context, object and
user, less than a minute apart, among the 10 newest entries: one entry, counted)."""

from __future__ import annotations

import time
from dataclasses import dataclass

GROUPING_MS = 60_000
SCANNED = 10  # how many recent entries a new one is compared with


@dataclass
class Entry:
    username: bytes
    command: str  # the object: the command, key or channel (or AUTH as typed)
    client_info: bytes  # the connection, as CLIENT INFO describes it, at the last event
    ctime_ms: int
    count: int = 1
    reason: str = "auth"  # "command", "key", "channel" or "auth"
    context: str = "toplevel"  # "toplevel", "multi" or "lua"


class AclLog:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add(self, reason: str, context: str, obj: str, username: bytes,
            client_info: bytes, max_len: int) -> None:
        """Record one event; a new entry trims the log to `max_len` (acllog-max-len),
        as Redis trims only when it adds."""
        now = int(time.time() * 1000)  # milliseconds, as Redis's entries keep time
        for entry in self.entries[:SCANNED]:
            if entry.reason == reason and entry.context == context \
                    and entry.command == obj and entry.username == username \
                    and abs(now - entry.ctime_ms) <= GROUPING_MS:
                entry.count += 1
                entry.ctime_ms = now
                entry.client_info = client_info
                self.entries.remove(entry)
                self.entries.insert(0, entry)
                return
        self.entries.insert(0, Entry(username, obj, client_info, now, 1, reason, context))
        del self.entries[max_len:]

    def add_auth_failure(self, username: bytes, command: str, client_info: bytes,
                         max_len: int, context: str = "toplevel") -> None:
        self.add("auth", context, command, username, client_info, max_len)
