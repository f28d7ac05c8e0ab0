"""SLOWLOG: the commands that took at least `slowlog-log-slower-than` microseconds to run,
newest first, at most `slowlog-max-len` of them (Redis's slowlog.c).

An entry keeps what Redis keeps: an id, the unix time, the duration, the arguments (at
most 32, the last one then saying how many more there were; each cut to 128 bytes with
a note of the rest; the ones MONITOR redacts redacted), the client's address and name.
Commands a script runs are logged too, as Redis logs them, under the address "?:0" of its
script client. A command that blocks is not logged (Redis logs it when it unblocks).
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from aikv.monitor import monitor_args

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.commands.registry import Command

MAX_ARGC = 32
MAX_STRING = 128


class SlowLog:
    __slots__ = ("entries", "next_id")

    def __init__(self) -> None:
        # (id, unix time, microseconds, arguments, peer address, client name), newest left
        self.entries: deque[tuple[int, int, int, list[bytes], bytes, bytes]] = deque()
        self.next_id = 0

    def push(self, client: Client, cmd: Command, argv: list[bytes], duration: int,
             max_len: int) -> None:
        shown = monitor_args(cmd, argv)
        args = []
        argc = min(len(shown), MAX_ARGC)
        for i in range(argc):
            if argc != len(shown) and i == argc - 1:
                args.append(b"... (%d more arguments)" % (len(shown) - argc + 1))
                break
            arg = shown[i]
            if len(arg) > MAX_STRING:
                arg = arg[:MAX_STRING] + b"... (%d more bytes)" % (len(arg) - MAX_STRING)
            args.append(arg)
        peer = client.addr.encode() if client.transport is not None else b"?:0"
        self.entries.appendleft((self.next_id, int(time.time()), duration, args, peer,
                                 client.name))
        self.next_id += 1
        while len(self.entries) > max_len:
            self.entries.pop()
