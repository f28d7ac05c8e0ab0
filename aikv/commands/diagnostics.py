"""Diagnostics: MEMORY, SLOWLOG, LATENCY and LOLWUT (DEBUG is aikv/commands/debug.py).

Split from `server.py` (which imports this module so the commands are registered with
the server family). SLOWLOG reads the log Server.call keeps (aikv/slowlog.py). AiKv does
not track latency events yet, so LATENCY keeps Redis's reply shapes and argument checks
with no entries, which is what a Redis with its monitor idle replies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikv import REDIS_VERSION
from aikv.commands.args import parse_int
from aikv.commands.registry import command, container
from aikv.info import memory_use
from aikv.latency_histogram import cumulative_distribution
from aikv.persist.elements import element_prefix, meta_count, meta_version
from aikv.persist.layout import META_HEADER, STRING_CODES, TYPE_STREAM
from aikv.resp import (
    EMPTY_ARRAY,
    OK,
    CommandError,
    array,
    bulk,
    integer,
    map_reply,
    null,
    simple,
    verbatim,
)

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.commands.registry import Command


# ---------------------------------------------------------------------- MEMORY
container("memory", -2)

_OBJECT_OVERHEAD = 56  # dict entry + object header + string headers, as Redis counts them


def _round8(n: int) -> int:
    return (n + 7) & ~7


def estimate_usage(client: Client, key: bytes, samples: int) -> int | None:
    """Approximate bytes a key takes, on Redis's scale: strings by their lengths;
    collections by sampling `samples` element records (0 = all) and extrapolating to
    the element count kept in their meta."""
    meta = client.db.get_meta(key)
    if meta is None:
        return None
    base = _OBJECT_OVERHEAD + len(key)
    if meta[0] in STRING_CODES:
        return _round8(base + len(meta) - META_HEADER)
    store = client.server.store
    count = meta_count(meta)
    if meta[0] == TYPE_STREAM:
        # A stream's records are its nodes (up to 100 entries each): extrapolate to them.
        count = int.from_bytes(meta[81:89], "big")
    prefix = element_prefix(meta_version(meta))
    cursor = store.reader().cursor(db=store.elements_db)
    seen = total = 0
    if count and cursor.set_range(prefix):
        for k, v in cursor:
            if k[:8] != prefix or (samples and seen >= samples):
                break
            total += len(k) - 8 + len(v) + 2  # +2: per-entry header in a listpack
            seen += 1
    if seen:
        total = total * count // seen
    return _round8(base + len(meta) - META_HEADER + total)


@command("usage", -3, "readonly", keys=(2, 2, 1), parent="memory", categories="@read @slow")
def memory_usage(client: Client, argv: list[bytes]) -> bytes:
    samples = 5
    if len(argv) == 5 and argv[3].upper() == b"SAMPLES":
        samples = parse_int(argv[4])
        if samples < 0:
            raise CommandError("ERR syntax error")
    elif len(argv) != 3:
        raise CommandError("ERR syntax error")
    usage = estimate_usage(client, argv[2], samples)
    return null(client.resp3) if usage is None else integer(usage)


@command("doctor", 2, "", parent="memory", categories="@slow")
def memory_doctor(client: Client, argv: list[bytes]) -> bytes:
    text = ("AiKv keeps its data in LMDB's memory-mapped file, so the process memory is "
            "mostly page cache the kernel can reclaim. There is nothing to diagnose "
            "here: see INFO memory and INFO persistence for the numbers.\n")
    return verbatim(text.encode(), client.resp3)


@command("stats", 2, "", parent="memory", categories="@slow")
def memory_stats(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    mem = memory_use(server)  # the numbers INFO memory prints
    keys = sum(server.store.key_totals)
    fields: list[tuple[bytes, bytes]] = [
        (bulk(b"peak.allocated"), integer(mem.peak)),
        (bulk(b"total.allocated"), integer(mem.used)),
        (bulk(b"keys.count"), integer(keys)),
        (bulk(b"dataset.bytes"), integer(mem.dataset)),
    ]
    return map_reply(fields, client.resp3)


@command("malloc-stats", 2, "", parent="memory", categories="@slow")
def memory_malloc_stats(client: Client, argv: list[bytes]) -> bytes:
    return bulk(b"Stats not supported for the current allocator")


@command("purge", 2, "", parent="memory", categories="@slow")
def memory_purge(client: Client, argv: list[bytes]) -> bytes:
    return OK


@command("help", 2, "loading stale", parent="memory", categories="@slow")
def memory_help(client: Client, argv: list[bytes]) -> bytes:
    return _help([
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ])


def _help(lines: list[str]) -> bytes:
    return array([simple(line) for line in lines])


# ---------------------------------------------------------------------- SLOWLOG
# The entries are recorded by Server.call (see aikv/slowlog.py).
container("slowlog", -2)


@command("get", -2, "admin loading stale", parent="slowlog",
         categories="@admin @slow @dangerous")
def slowlog_get(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 3:
        raise CommandError("ERR unknown subcommand or wrong number of arguments for '%s'. "
                           "Try SLOWLOG HELP." % argv[1].decode(errors="replace"))
    entries = client.server.slowlog.entries
    count = 10
    if len(argv) == 3:
        count = parse_int(argv[2], "ERR count should be greater than or equal to -1")
        if count < -1:
            raise CommandError("ERR count should be greater than or equal to -1")
        if count == -1:
            count = len(entries)
    out = []
    for ident, when, duration, args, peer, name in list(entries)[:count]:
        out.append(b"*6\r\n:%d\r\n:%d\r\n:%d\r\n" % (ident, when, duration)
                   + b"*%d\r\n" % len(args)
                   + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
                   + b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(peer), peer, len(name), name))
    return b"*%d\r\n" % len(out) + b"".join(out)


@command("len", 2, "admin loading stale", parent="slowlog",
         categories="@admin @slow @dangerous")
def slowlog_len(client: Client, argv: list[bytes]) -> bytes:
    return integer(len(client.server.slowlog.entries))


@command("reset", 2, "admin loading stale", parent="slowlog",
         categories="@admin @slow @dangerous")
def slowlog_reset(client: Client, argv: list[bytes]) -> bytes:
    client.server.slowlog.entries.clear()
    return OK


@command("help", 2, "loading stale", parent="slowlog", categories="@slow")
def slowlog_help(client: Client, argv: list[bytes]) -> bytes:
    return _help([
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Prints this help.",
    ])


# ---------------------------------------------------------------------- LATENCY
# The latency monitor (aikv/latency.py): events recorded while latency-monitor-threshold
# is set. Event names are compared as given (case-sensitive), as Redis's dictionary does.
container("latency", -2)

_LATENCY_FLAGS = "admin noscript loading stale"
_LATENCY_CATS = "@admin @slow @dangerous"


@command("latest", 2, _LATENCY_FLAGS, parent="latency", categories=_LATENCY_CATS)
def latency_latest(client: Client, argv: list[bytes]) -> bytes:
    rows = []
    for name, event in client.server.latency.events.items():
        when, latency = event.latest()
        rows.append(array([bulk(name), integer(when), integer(latency), integer(event.max)]))
    return array(rows)


@command("history", 3, _LATENCY_FLAGS, parent="latency", categories=_LATENCY_CATS)
def latency_history(client: Client, argv: list[bytes]) -> bytes:
    event = client.server.latency.events.get(argv[2])
    if event is None:
        return EMPTY_ARRAY
    return array([array([integer(when), integer(latency)])
                  for when, latency in event.samples()])


@command("reset", -2, _LATENCY_FLAGS, parent="latency", categories=_LATENCY_CATS)
def latency_reset(client: Client, argv: list[bytes]) -> bytes:
    return integer(client.server.latency.reset(argv[2:] if len(argv) > 2 else None))


@command("graph", 3, _LATENCY_FLAGS, parent="latency", categories=_LATENCY_CATS)
def latency_graph(client: Client, argv: list[bytes]) -> bytes:
    chart = client.server.latency.graph(argv[2])
    if chart is None:
        raise CommandError("ERR No samples available for event '%s'"
                           % argv[2].decode(errors="replace"))
    return verbatim(chart, client.resp3)


@command("doctor", 2, _LATENCY_FLAGS, parent="latency", categories=_LATENCY_CATS)
def latency_doctor(client: Client, argv: list[bytes]) -> bytes:
    values = client.server.config.values
    text = client.server.latency.doctor(values["latency-monitor-threshold"],
                                        values["slowlog-log-slower-than"])
    return verbatim(text.encode(), client.resp3)


@command("histogram", -2, _LATENCY_FLAGS, parent="latency", categories=_LATENCY_CATS)
def latency_histogram(client: Client, argv: list[bytes]) -> bytes:
    """Every command with recorded calls (registry order), or the named ones (a command
    named with its subcommands: its own and each subcommand's); unknown names are left
    out, a name given twice comes twice, as in Redis."""
    from aikv.commands.registry import COMMANDS

    resp3 = client.resp3
    chosen: list[Command] = []
    if len(argv) == 2:
        for top in COMMANDS.values():
            chosen.extend(c for c in (top, *top.subcommands.values()) if c.latency)
    else:
        for raw in argv[2:]:
            name, _, sub = raw.lower().partition(b"|")
            cmd = COMMANDS.get(name)
            if cmd is not None and sub:
                cmd = cmd.subcommands.get(sub.decode(errors="replace"))
            if cmd is None:
                continue
            chosen.extend(c for c in (cmd, *([] if sub else cmd.subcommands.values()))
                          if c.latency)
    return map_reply([(bulk(cmd.full_name.encode()), _command_cdf(cmd, resp3))
                      for cmd in chosen], resp3)


def _command_cdf(cmd: Command, resp3: bool) -> bytes:
    steps = cumulative_distribution(cmd.latency)
    return map_reply([
        (bulk(b"calls"), integer(sum(cmd.latency.values()))),
        (bulk(b"histogram_usec"),
         map_reply([(integer(us), integer(n)) for us, n in steps], resp3)),
    ], resp3)


@command("help", 2, "loading stale", parent="latency", categories="@slow")
def latency_help(client: Client, argv: list[bytes]) -> bytes:
    return _help([
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram "
        "for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
        "HELP",
        "    Prints this help.",
    ])


# ---------------------------------------------------------------------- misc
@command("lolwut", -1, "readonly fast", categories="@read @fast")
def lolwut(client: Client, argv: list[bytes]) -> bytes:
    i = 1
    while i < len(argv):
        if argv[i].upper() == b"VERSION" and i + 1 < len(argv):
            parse_int(argv[i + 1])
            i += 2
        else:
            i += 1
    return verbatim(f"Redis ver. {REDIS_VERSION}\n".encode(), client.resp3)


def is_local_client(client: Client) -> bool:
    """islocalClient: a unix-socket connection, or a peer at exactly 127.0.0.1 or ::1."""
    host = client.addr.rsplit(":", 1)[0]
    return host in ("127.0.0.1", "::1", "[::1]") or client.addr.startswith("/")


def allow_protected_action(setting: str, client: Client) -> bool:
    """enable-debug-command / enable-protected-configs / enable-module-command: "yes"
    allows every connection, "local" loopback (and unix-socket) ones."""
    return setting == "yes" or (setting == "local" and is_local_client(client))
