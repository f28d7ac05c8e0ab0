"""ACL LOG's entries: failed authentications, newest first, equal ones grouped as Redis
groups them (same user and command less than a minute apart: one entry, counted)."""

from __future__ import annotations

import time
from dataclasses import dataclass

GROUPING_MS = 60_000


@dataclass
class Entry:
    username: bytes
    command: str  # the command that failed to authenticate, as the client spelled it
    client_info: bytes  # the connection, as CLIENT INFO describes it, at the last failure
    ctime_ms: int
    count: int = 1


class AclLog:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add_auth_failure(self, username: bytes, command: str, client_info: bytes,
                         max_len: int) -> None:
        """Record one failure; a new entry trims the log to `max_len` (acllog-max-len),
        as Redis trims only when it adds."""
        now = int(time.time() * 1000)  # milliseconds, as Redis's entries keep time
        for entry in self.entries:
            if entry.username == username and entry.command == command \
                    and now - entry.ctime_ms <= GROUPING_MS:
                entry.count += 1
                entry.ctime_ms = now
                entry.client_info = client_info
                self.entries.remove(entry)
                self.entries.insert(0, entry)
                return
        self.entries.insert(0, Entry(username, command, client_info, now))
        del self.entries[max_len:]

