"""Scenario `floor` (not in the default run): the cost of Python and uvloop alone.

bench/floor_server.py frames requests with AiKv's parser and answers each with a canned
reply: no dispatch, no storage, no commit. It runs the throughput scenario's SET and GET
(unpipelined and -P 16) next to a redis-server, interleaved the same way; its figures
sit in the AiKv column, marked in the note. What AiKv spends per request beyond this
floor is its own work (dispatch, LMDB, commit); what the floor spends beyond Redis is the
price of the language and the event loop, which no change inside AiKv can remove.
"""

from __future__ import annotations

from bench.procs import Server
from bench.report import Row
from bench.settings import Settings
from bench.throughput import Spec, interleaved, start_targets, warm_up

NOTE = "AiKv column: bench/floor_server.py (uvloop + AiKv's parser, canned replies)"


def run(st: Settings) -> list[Row]:
    specs = [Spec(t, p) for t in ("set", "get") for p in (1, 16)]
    servers = {"aikv": Server("floor"), "redis": Server("redis", appendfsync="everysec")}
    try:
        targets = start_targets(servers)
        warm_up(targets, min(st.n_plain, 10_000))
        rows = interleaved(st, "floor", targets, specs)
    finally:
        for srv in servers.values():
            srv.stop()
    for row in rows:
        row.note = "; ".join(filter(None, [NOTE, row.note]))
    return rows
