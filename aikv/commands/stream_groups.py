"""XREAD and the consumer-group commands: XREADGROUP XGROUP XACK XPENDING XCLAIM
XAUTOCLAIM XINFO GROUPS / CONSUMERS.

A group lives in the stream's element records (see StreamHandle in streams.py): one
record for the group (last delivered ID, entries-read counter), one per consumer (seen
time) and one per pending entry (delivery time, delivery count, owner), numbered by the
group so that a group's consumers and PEL are each one key range. A consumer's own PEL is
the group PEL filtered by owner. Which writes wake WATCH follows Redis: only those that
change entries or create the key (XGROUP CREATE MKSTREAM), not group bookkeeping.

What replicas get follows Redis too. Deliveries and claims stamp entries with the
master's clock, so XREADGROUP, XCLAIM and XAUTOCLAIM never reach replicas as they were
called: each entry handed to a consumer (or found deleted and dropped from the PEL)
becomes an idempotent XCLAIM stating its owner, delivery time and count outright
(claim_effect); a group position that no XCLAIM carries becomes XGROUP SETID
(position_effect); a consumer only NOACK reads created becomes XGROUP CREATECONSUMER.
The other commands are sent as given, unless they changed nothing.
"""

from __future__ import annotations

import time
from itertools import islice
from typing import TYPE_CHECKING

from aikv.blocking import get_blocking, may_block, signal_key_ready
from aikv.commands.args import SYNTAX, parse_int, subcommand_error
from aikv.commands.redis_table import entry as command_entry
from aikv.commands.redis_table import find_keys
from aikv.commands.registry import command, container
from aikv.commands.streams import (
    INVALID_ENTRIES_READ,
    Group,
    Pending,
    StreamHandle,
    entries_reply,
    entry_reply,
    group_counters,
    info_handle,
    open_stream,
    replicating,
)
from aikv.notify import STREAM
from aikv.persist.layout import TYPE_STREAM
from aikv.replication.propagate import propagate_as, propagate_effect
from aikv.resp import (
    NULL3,
    NULL_ARRAY,
    NULL_BULK,
    OK,
    ONE,
    ZERO,
    CommandError,
    array,
    bulk,
    integer,
    map_reply,
    null_array,
    simple,
)
from aikv.streams import (
    MAX_ID,
    MIN_ID,
    StreamID,
    format_id,
    incr_id,
    parse_id,
    range_end,
    range_start,
)

if TYPE_CHECKING:
    from aikv.client import Client

# XREAD BLOCK without COUNT serves at most this many entries per key, as Redis does.
BLOCKED_DEFAULT_COUNT = 1000
_LONG_MAX = 2**63 - 1


def _now() -> int:
    """Redis stamps deliveries and consumer activity with mstime(), the wall clock."""
    return int(time.time() * 1000)


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace")


# ---------------------------------------------------------------------- consumers
def touch_consumer(handle: StreamHandle, group: Group, name: bytes) -> bool:
    """Look a consumer up, refreshing its seen time, or create it with the
    xgroup-createconsumer event. Returns True when it was created."""
    created = handle.consumer_seen(group, name) is None
    handle.save_consumer(group, name, _now())
    if created:
        handle.db.notify(STREAM, b"xgroup-createconsumer", handle.key)
    return created


# ---------------------------------------------------------------------- replication
def claim_effect(key: bytes, group: Group, nack: Pending, id_arg: bytes) -> list[bytes]:
    """A pending entry as replicas must record it (Redis's streamPropagateXCLAIM): FORCE
    creates it there if need be, TIME and RETRYCOUNT give the master's values rather than
    the replica's clock and count, JUSTID spares the replica reading the entry, LASTID
    carries the group's position. For an entry gone from the stream the replica's
    XCLAIM drops it from the PEL, as the master did."""
    return [b"XCLAIM", key, group.name, nack.consumer, b"0", id_arg,
            b"TIME", b"%d" % nack.delivery_time, b"RETRYCOUNT", b"%d" % nack.delivery_count,
            b"FORCE", b"JUSTID", b"LASTID", format_id(group.last_id)]


def position_effect(key: bytes, group: Group) -> list[bytes]:
    """The group's position when no XCLAIM carries it (NOACK reads, XCLAIM LASTID alone):
    Redis's streamPropagateGroupID."""
    return [b"XGROUP", b"SETID", key, group.name, format_id(group.last_id),
            b"ENTRIESREAD", b"%d" % group.entries_read]


def reader_consumer(client: Client, handle: StreamHandle, group: Group, name: bytes,
                    noack: bool) -> None:
    """Look up (or create) the consumer an XREADGROUP serves. One created by a NOACK read
    would not exist on replicas, as no XCLAIM follows to create it there: it is sent as
    XGROUP CREATECONSUMER (Redis's streamPropagateConsumerCreation)."""
    if touch_consumer(handle, group, name) and noack and replicating(client):
        propagate_effect(client, [b"XGROUP", b"CREATECONSUMER", handle.key, group.name, name])


# ---------------------------------------------------------------------- delivery
def deliver(client: Client, handle: StreamHandle, group: Group, consumer: bytes,
            start: StreamID, count: int, noack: bool) -> list[tuple[StreamID, bytes]]:
    """New entries from `start` to a group's consumer (Redis's streamReplyWithRange with a
    group): the group's last ID and read counter move, and each entry becomes (or is
    reassigned as) pending for this consumer unless NOACK. Replicas get an XCLAIM per
    entry made pending, or (NOACK) the group's new position."""
    entries = handle.entries(start, MAX_ID, count)
    now = _now()
    sending = replicating(client)
    moved = False
    for stream_id, _ in entries:
        if stream_id > group.last_id:
            if group.entries_read != INVALID_ENTRIES_READ and not handle.range_has_tombstones(stream_id):
                group.entries_read += 1
            elif handle.entries_added:
                group.entries_read = handle.estimate_read_counter(stream_id)
            group.last_id = stream_id
            moved = True
        if not noack:
            nack = Pending(stream_id, now, 1, consumer)
            handle.save_pending(group, nack)
            if sending:
                propagate_effect(client, claim_effect(handle.key, group, nack,
                                                      format_id(stream_id)))
    if entries:
        handle.save_group(group)
        if noack and moved and sending:
            propagate_effect(client, position_effect(handle.key, group))
    return entries


def history(handle: StreamHandle, group: Group, consumer: bytes, start: StreamID, count: int,
            resp3: bool) -> bytes:
    """A consumer's own pending entries from `start` (XREADGROUP with an ID): each one is
    delivered again; an entry gone from the stream comes back as its ID and a null.
    Replicas are not told: the new delivery times and counts stay the master's, as in
    Redis (a later XCLAIM of the entry states them outright)."""
    parts: list[bytes] = []
    now = _now()
    for nack in list(handle.pending(group, start)):
        if nack.consumer != consumer:
            continue
        if count and len(parts) >= count:
            break
        pairs = handle.entry(nack.id)
        if pairs is None:
            parts.append(b"*2\r\n" + bulk(format_id(nack.id)) + (NULL3 if resp3 else NULL_ARRAY))
            continue
        nack.delivery_time = now
        nack.delivery_count += 1
        handle.save_pending(group, nack)
        parts.append(entry_reply(nack.id, pairs))
    return array(parts)


# ---------------------------------------------------------------------- XREAD / XREADGROUP
def _xread_keys(argv: list[bytes]) -> list[int]:
    """Key positions of XREAD / XREADGROUP, found as Redis finds them for COMMAND GETKEYS
    and cluster routing alike: by the command's key spec (STREAMS searched from the
    spec's start, so XREADGROUP's group and consumer are never taken for it; half of
    what follows)."""
    ent = command_entry("xreadgroup" if len(argv[0]) == 10 else "xread")
    assert ent is not None  # both are in the table (a unit test checks every command)
    return [pos for pos, _ in find_keys(ent, argv)]


def _read_reply(client: Client, served: list[tuple[bytes, bytes]]) -> bytes:
    if client.resp3:
        return b"%%%d\r\n" % len(served) + b"".join(bulk(k) + r for k, r in served)
    return b"*%d\r\n" % len(served) + b"".join(b"*2\r\n" + bulk(k) + r for k, r in served)


def _read(client: Client, argv: list[bytes], with_group: bool) -> bytes:
    timeout = -1
    count = 0
    streams_at = 0
    noack = False
    group_name = consumer = b""
    group_given = False  # an empty group name is still a name (NOGROUP later, as Redis)
    argc = len(argv)
    i = 1
    while i < argc:
        more = argc - i - 1
        opt = argv[i].lower()
        if opt == b"block" and more:
            if client.in_script:
                # Redis keeps this error for Lua rather than answering as if not blocking.
                raise CommandError("ERR %s command is not allowed with BLOCK option from "
                                   "scripts" % argv[0].decode(errors="replace"))
            i += 1
            timeout = parse_int(argv[i], "ERR timeout is not an integer or out of range")
            if timeout < 0:
                raise CommandError("ERR timeout is negative")
        elif opt == b"count" and more:
            i += 1
            count = max(parse_int(argv[i]), 0)
        elif opt == b"streams" and more:
            streams_at = i + 1
            if (argc - streams_at) % 2:
                raise CommandError("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
            break
        elif opt == b"group" and more >= 2:
            if not with_group:
                raise CommandError("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
            group_name, consumer = argv[i + 1], argv[i + 2]
            group_given = True
            i += 2
        elif opt == b"noack":
            if not with_group:
                raise CommandError("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
            noack = True
        else:
            raise CommandError(SYNTAX)
        i += 1
    if not streams_at:
        raise CommandError(SYNTAX)
    if with_group and not group_given:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")
    if with_group:
        # Never sent as called: what it changed goes as effects (see deliver).
        propagate_as(client)
    nkeys = (argc - streams_at) // 2
    keys = argv[streams_at:streams_at + nkeys]
    db = client.db
    ids: list[StreamID] = []
    groups: list[Group | None] = []
    for key, raw in zip(keys, argv[streams_at + nkeys:], strict=True):
        handle = open_stream(db, key, counted=True)
        group = None
        if with_group:
            group = handle.group(group_name) if handle is not None else None
            if group is None:
                raise CommandError(
                    f"NOGROUP No such key '{_text(key)}' or consumer group '{_text(group_name)}' "
                    "in XREADGROUP with GROUP option")
        groups.append(group)
        if raw == b"$":
            if with_group:
                raise CommandError(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read "
                    "the history of this consumer by specifying a proper ID, or use the > ID to "
                    "get new messages. The $ ID would just return an empty result set.")
            ids.append(handle.last_id if handle is not None else MIN_ID)
        elif raw == b">":
            if not with_group:
                raise CommandError("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
            ids.append(MAX_ID)
        else:
            ids.append(parse_id(raw, 0, strict=True)[0])
    served: list[tuple[bytes, bytes]] = []
    for index, key in enumerate(keys):
        handle = open_stream(db, key, counted=True)
        if handle is None:
            continue
        gt = ids[index]
        group = groups[index]
        if group is not None:
            group = handle.group(group_name) or group  # earlier keys may have moved it
        serve_history = False
        if group is not None:
            if gt != MAX_ID:
                serve_history = True
            elif handle.length:
                top = handle.last_live_id()
                if top is None or top <= group.last_id:
                    continue
                gt = group.last_id
            else:
                continue
        elif handle.length:
            top = handle.last_live_id()
            if top is None or top <= gt:
                continue
        else:
            continue
        start = incr_id(gt) or MIN_ID
        if group is None:
            served.append((key, entries_reply(handle.entries(start, MAX_ID, count))))
            continue
        reader_consumer(client, handle, group, consumer, noack)
        if serve_history:
            served.append((key, history(handle, group, consumer, start, count, client.resp3)))
        else:
            served.append((key, entries_reply(deliver(client, handle, group, consumer, start,
                                                      count, noack))))
    if served:
        return _read_reply(client, served)
    if timeout == -1 or not may_block(client):
        return null_array(client.resp3)
    deadline = client.server.clock.now_ms + timeout if timeout > 0 else 0
    waits: dict[bytes, StreamID] = {}
    for key, gt in zip(keys, ids, strict=True):
        waits.setdefault(key, gt)
    blocked_count = count or BLOCKED_DEFAULT_COUNT

    def serve(key: bytes) -> bytes | None:
        meta = db.get_meta(key)
        if meta is None or meta[0] != TYPE_STREAM:
            # Redis's unblockDeletedStreamReadgroupClients: the group went with the key.
            return b"-UNBLOCKED the stream key no longer exists\r\n" if with_group else None
        handle = StreamHandle(db, key, meta)
        gt = waits[key]
        group = None
        if with_group:
            group = handle.group(group_name)
            if group is None:
                return b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
            gt = group.last_id
        if handle.last_id <= gt:
            return None
        start = incr_id(gt) or MIN_ID
        if group is None:
            reply = entries_reply(handle.entries(start, MAX_ID, blocked_count))
        else:
            # Served after the command that gave the data: the effects go out on their own.
            reader_consumer(client, handle, group, consumer, noack)
            reply = entries_reply(deliver(client, handle, group, consumer, start,
                                          blocked_count, noack))
        return _read_reply(client, [(key, reply)])

    return get_blocking(client.server).block(client, list(waits), deadline, serve, argv[0])


@command("xread", -4, "readonly blocking movablekeys", key_finder=_xread_keys,
         categories="@read @stream @slow @blocking")
def xread(client: Client, argv: list[bytes]) -> bytes:
    return _read(client, argv, False)


@command("xreadgroup", -7, "write blocking movablekeys", key_finder=_xread_keys,
         categories="@write @stream @slow @blocking")
def xreadgroup(client: Client, argv: list[bytes]) -> bytes:
    return _read(client, argv, True)


# ---------------------------------------------------------------------- XGROUP
container("xgroup", -2, "")


def _xgroup_target(client: Client, argv: list[bytes], create: bool, setid: bool,
                   ) -> tuple[StreamHandle | None, Group | None, bool, int]:
    """The common part of XGROUP's subcommands: options, key, group, in Redis's order."""
    mkstream = False
    entries_read = INVALID_ENTRIES_READ
    i = 5
    while i < len(argv):
        opt = argv[i].lower()
        if create and opt == b"mkstream":
            mkstream = True
            i += 1
        elif (create or setid) and opt == b"entriesread" and i + 1 < len(argv):
            entries_read = parse_int(argv[i + 1])
            if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
                raise CommandError("ERR value for ENTRIESREAD must be positive or -1")
            i += 2
        else:
            raise subcommand_error(argv)
    handle = open_stream(client.db, argv[2])
    group = handle.group(argv[3]) if handle is not None else None
    if not mkstream:
        if handle is None:
            raise CommandError(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you "
                "may want to use the MKSTREAM option to create an empty stream automatically.")
        if group is None and not create and argv[1].lower() != b"destroy":
            raise CommandError(f"NOGROUP No such consumer group '{_text(argv[3])}' for key "
                               f"name '{_text(argv[2])}'")
    return handle, group, mkstream, entries_read


@command("create", -5, "write denyoom", keys=(2, 2, 1), parent="xgroup",
         categories="@write @stream @slow")
def xgroup_create(client: Client, argv: list[bytes]) -> bytes:
    handle, group, _, entries_read = _xgroup_target(client, argv, True, False)
    if len(argv) > 8:
        raise subcommand_error(argv)
    if argv[4] == b"$":
        start = handle.last_id if handle is not None else MIN_ID
    else:
        start = parse_id(argv[4], 0, strict=True)[0]
    db = client.db
    key = argv[2]
    if handle is None:
        handle = StreamHandle(db, key, None)
        handle.save()
    elif group is not None:
        raise CommandError("BUSYGROUP Consumer Group name already exists")
    handle.create_group(argv[3], start, entries_read)
    handle.save(touch=False)
    db.notify(STREAM, b"xgroup-create", key)
    return OK


@command("setid", -5, "write", keys=(2, 2, 1), parent="xgroup",
         categories="@write @stream @slow")
def xgroup_setid(client: Client, argv: list[bytes]) -> bytes:
    handle, group, _, entries_read = _xgroup_target(client, argv, False, True)
    if len(argv) not in (5, 7):
        raise subcommand_error(argv)
    assert handle is not None and group is not None
    group.last_id = handle.last_id if argv[4] == b"$" else parse_id(argv[4], 0)[0]
    group.entries_read = entries_read
    handle.save_group(group)
    client.db.notify(STREAM, b"xgroup-setid", argv[2])
    return OK


@command("destroy", 4, "write", keys=(2, 2, 1), parent="xgroup",
         categories="@write @stream @slow")
def xgroup_destroy(client: Client, argv: list[bytes]) -> bytes:
    handle, group, _, _ = _xgroup_target(client, argv, False, False)
    if handle is None or group is None:
        propagate_as(client)  # nothing changed
        return ZERO
    handle.drop_group(group)
    client.db.notify(STREAM, b"xgroup-destroy", argv[2])
    # XREADGROUP clients blocked on this group get NOGROUP.
    signal_key_ready(client.server, client.db.index, argv[2])
    return ONE


@command("createconsumer", 5, "write denyoom", keys=(2, 2, 1), parent="xgroup",
         categories="@write @stream @slow")
def xgroup_createconsumer(client: Client, argv: list[bytes]) -> bytes:
    handle, group, _, _ = _xgroup_target(client, argv, False, False)
    assert handle is not None and group is not None
    if handle.consumer_seen(group, argv[4]) is not None:
        propagate_as(client)
        return ZERO  # an existing consumer is left as it is (its seen time too)
    touch_consumer(handle, group, argv[4])
    return ONE


@command("delconsumer", 5, "write", keys=(2, 2, 1), parent="xgroup",
         categories="@write @stream @slow")
def xgroup_delconsumer(client: Client, argv: list[bytes]) -> bytes:
    handle, group, _, _ = _xgroup_target(client, argv, False, False)
    assert handle is not None and group is not None
    if handle.consumer_seen(group, argv[4]) is None:
        propagate_as(client)
        return ZERO
    pending = handle.drop_consumer(group, argv[4])
    client.db.notify(STREAM, b"xgroup-delconsumer", argv[2])
    return integer(pending)


@command("help", 2, "loading stale", parent="xgroup", categories="@stream @slow")
def xgroup_help(client: Client, argv: list[bytes]) -> bytes:
    lines = [
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
        "HELP",
        "    Prints this help.",
    ]
    return array([simple(line) for line in lines])


# ---------------------------------------------------------------------- XACK / XPENDING
@command("xack", -4, "write fast", keys=(1, 1, 1), categories="@write @stream @fast")
def xack(client: Client, argv: list[bytes]) -> bytes:
    handle = open_stream(client.db, argv[1], counted=True)
    group = handle.group(argv[2]) if handle is not None else None
    if handle is None or group is None:
        propagate_as(client)
        return ZERO
    ids = [parse_id(raw, 0, strict=True)[0] for raw in argv[3:]]
    acked = 0
    for stream_id in ids:
        if handle.drop_pending(group, stream_id):
            acked += 1
    if not acked:
        propagate_as(client)  # nothing was pending: Redis sends nothing
    return integer(acked)


@command("xpending", -3, "readonly", keys=(1, 1, 1), categories="@read @stream @slow")
def xpending(client: Client, argv: list[bytes]) -> bytes:
    argc = len(argv)
    if argc != 3 and not 6 <= argc <= 9:
        raise CommandError(SYNTAX)
    min_idle = 0
    start, end = MIN_ID, MAX_ID
    count = 0
    consumer: bytes | None = None
    if argc >= 6:
        at = 3
        if argv[3].lower() == b"idle":
            min_idle = parse_int(argv[4])
            if argc < 8:
                raise CommandError(SYNTAX)
            at += 2
        count = max(parse_int(argv[at + 2]), 0)
        start = range_start(argv[at])
        end = range_end(argv[at + 1])
        if at + 3 < argc:
            consumer = argv[at + 3]
    handle = open_stream(client.db, argv[1], counted=True)
    group = handle.group(argv[2]) if handle is not None else None
    if handle is None or group is None:
        raise CommandError(f"NOGROUP No such key '{_text(argv[1])}' or consumer group '{_text(argv[2])}'")
    resp3 = client.resp3
    if argc == 3:
        pel = list(handle.pending(group))
        if not pel:
            null = NULL3 if resp3 else NULL_BULK
            return b"*4\r\n" + ZERO + null + null + null_array(client.resp3)
        owners: dict[bytes, int] = {}
        for nack in pel:
            owners[nack.consumer] = owners.get(nack.consumer, 0) + 1
        rows = [b"*2\r\n" + bulk(name) + bulk(b"%d" % owners[name])
                for name, _ in handle.consumers(group) if owners.get(name)]
        return (b"*4\r\n" + integer(len(pel)) + bulk(format_id(pel[0].id))
                + bulk(format_id(pel[-1].id)) + array(rows))
    if consumer is not None and handle.consumer_seen(group, consumer) is None:
        return b"*0\r\n"
    now = _now()
    rows = []
    for nack in handle.pending(group, start, end):
        if not count:
            break
        if consumer is not None and nack.consumer != consumer:
            continue
        idle = now - nack.delivery_time
        if min_idle and idle < min_idle:
            continue
        count -= 1
        rows.append(b"*4\r\n" + bulk(format_id(nack.id)) + bulk(nack.consumer)
                    + integer(max(idle, 0)) + integer(nack.delivery_count))
    return array(rows)


# ---------------------------------------------------------------------- XCLAIM / XAUTOCLAIM
class _Claimant:
    """The consumer XCLAIM / XAUTOCLAIM hand entries to: looked up (or created, with its
    event) when the first entry is actually claimed, as Redis does."""

    __slots__ = ("handle", "group", "name", "ready")

    def __init__(self, handle: StreamHandle, group: Group, name: bytes) -> None:
        self.handle = handle
        self.group = group
        self.name = name
        self.ready = False

    def take(self, nack: Pending) -> None:
        if not self.ready:
            touch_consumer(self.handle, self.group, self.name)
            self.ready = True
        nack.consumer = self.name


@command("xclaim", -6, "write fast", keys=(1, 1, 1), categories="@write @stream @fast")
def xclaim(client: Client, argv: list[bytes]) -> bytes:
    handle = open_stream(client.db, argv[1], counted=True)
    group = handle.group(argv[2]) if handle is not None else None
    if handle is None or group is None:
        raise CommandError(f"NOGROUP No such key '{_text(argv[1])}' or consumer group '{_text(argv[2])}'")
    min_idle = max(parse_int(argv[4], "ERR Invalid min-idle-time argument for XCLAIM"), 0)
    ids: list[StreamID] = []
    j = 5
    while j < len(argv):
        try:
            ids.append(parse_id(argv[j], 0, strict=True)[0])
        except CommandError:
            break
        j += 1
    id_args = argv[5:j]  # replicas get each ID as the client spelled it, as in Redis
    now = _now()
    force = justid = False
    retry = -1
    delivery = -1
    last_id = MIN_ID
    while j < len(argv):
        more = len(argv) - 1 - j
        opt = argv[j].lower()
        if opt == b"force":
            force = True
        elif opt == b"justid":
            justid = True
        elif opt == b"idle" and more:
            j += 1
            delivery = now - parse_int(argv[j], "ERR Invalid IDLE option argument for XCLAIM")
        elif opt == b"time" and more:
            j += 1
            delivery = parse_int(argv[j], "ERR Invalid TIME option argument for XCLAIM")
        elif opt == b"retrycount" and more:
            j += 1
            retry = parse_int(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif opt == b"lastid" and more:
            j += 1
            last_id = parse_id(argv[j], 0, strict=True)[0]
        else:
            raise CommandError(f"ERR Unrecognized XCLAIM option '{_text(argv[j])}'")
        j += 1
    moved = last_id > group.last_id
    if moved:
        group.last_id = last_id
        handle.save_group(group)
    if delivery == -1 or delivery < 0 or delivery > now:
        delivery = now
    claimant = _Claimant(handle, group, argv[3])
    out = []
    key = argv[1]
    sending = replicating(client)
    sent: list[list[bytes]] = []
    for stream_id, id_arg in zip(ids, id_args, strict=True):
        nack = handle.pending_entry(group, stream_id)
        pairs = handle.entry(stream_id)
        if pairs is None:
            if nack is not None:
                if sending:
                    sent.append(claim_effect(key, group, nack, id_arg))
                handle.drop_pending(group, stream_id)
            continue
        fresh = False
        if force and nack is None:
            nack = Pending(stream_id, now, 1, b"")
            fresh = True
        if nack is None:
            continue
        if not fresh and min_idle and now - nack.delivery_time < min_idle:
            continue
        claimant.take(nack)
        nack.delivery_time = delivery
        if retry >= 0:
            nack.delivery_count = retry
        elif not justid:
            nack.delivery_count += 1
        handle.save_pending(group, nack)
        out.append(bulk(format_id(stream_id)) if justid else entry_reply(stream_id, pairs))
        if sending:
            sent.append(claim_effect(key, group, nack, id_arg))
    if moved and not sent and sending:
        sent.append(position_effect(key, group))  # LASTID alone: no XCLAIM carries it
    propagate_as(client, *sent)
    return array(out)


@command("xautoclaim", -6, "write fast", keys=(1, 1, 1), categories="@write @stream @fast")
def xautoclaim(client: Client, argv: list[bytes]) -> bytes:
    min_idle = max(parse_int(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM"), 0)
    start = range_start(argv[5])
    count = 100
    justid = False
    j = 6
    while j < len(argv):
        more = len(argv) - 1 - j
        opt = argv[j].lower()
        if opt == b"count" and more:
            count = parse_int(argv[j + 1], "ERR COUNT must be > 0")
            if not 1 <= count <= _LONG_MAX // 16:
                raise CommandError("ERR COUNT must be > 0")
            j += 1
        elif opt == b"justid":
            justid = True
        else:
            raise CommandError(SYNTAX)
        j += 1
    handle = open_stream(client.db, argv[1], counted=True)
    group = handle.group(argv[2]) if handle is not None else None
    if handle is None or group is None:
        raise CommandError(f"NOGROUP No such key '{_text(argv[1])}' or consumer group '{_text(argv[2])}'")
    attempts = count * 10
    now = _now()
    claimant = _Claimant(handle, group, argv[3])
    key = argv[1]
    sending = replicating(client)
    sent: list[list[bytes]] = []
    claimed: list[bytes] = []
    deleted: list[StreamID] = []
    # Read ahead only as far as this call may go (plus one for the cursor); the records
    # are changed below, so the list is taken before any write.
    candidates = list(islice(handle.pending(group, start), attempts + 1))
    cursor: StreamID = MIN_ID
    for nack in candidates:
        if not attempts or not count:
            cursor = nack.id
            break
        attempts -= 1
        pairs = handle.entry(nack.id)
        if pairs is None:
            if sending:
                sent.append(claim_effect(key, group, nack, format_id(nack.id)))
            handle.drop_pending(group, nack.id)
            deleted.append(nack.id)
            count -= 1
            continue
        if min_idle and now - nack.delivery_time < min_idle:
            continue
        claimant.take(nack)
        nack.delivery_time = now
        if not justid:
            nack.delivery_count += 1
        handle.save_pending(group, nack)
        claimed.append(bulk(format_id(nack.id)) if justid else entry_reply(nack.id, pairs))
        count -= 1
        if sending:
            sent.append(claim_effect(key, group, nack, format_id(nack.id)))
    propagate_as(client, *sent)
    return (b"*3\r\n" + bulk(format_id(cursor)) + array(claimed)
            + array([bulk(format_id(i)) for i in deleted]))


# ---------------------------------------------------------------------- XINFO
# (XINFO itself and XINFO STREAM are registered in streams.py, imported above.)


@command("groups", 3, "readonly", keys=(2, 2, 1), parent="xinfo",
         categories="@read @stream @slow")
def xinfo_groups(client: Client, argv: list[bytes]) -> bytes:
    handle = info_handle(client, argv)
    resp3 = client.resp3
    rows = []
    for group in handle.groups():
        entries_read, lag = group_counters(handle, group, resp3)
        rows.append(map_reply([
            (bulk(b"name"), bulk(group.name)),
            (bulk(b"consumers"), integer(len(handle.consumers(group)))),
            (bulk(b"pending"), integer(sum(1 for _ in handle.pending(group)))),
            (bulk(b"last-delivered-id"), bulk(format_id(group.last_id))),
            (bulk(b"entries-read"), entries_read),
            (bulk(b"lag"), lag),
        ], resp3))
    return array(rows)


@command("consumers", 4, "readonly", keys=(2, 2, 1), parent="xinfo",
         categories="@read @stream @slow")
def xinfo_consumers(client: Client, argv: list[bytes]) -> bytes:
    handle = info_handle(client, argv)
    group = handle.group(argv[3])
    if group is None:
        raise CommandError(f"NOGROUP No such consumer group '{_text(argv[3])}' for key name "
                           f"'{_text(argv[2])}'")
    owners: dict[bytes, int] = {}
    for nack in handle.pending(group):
        owners[nack.consumer] = owners.get(nack.consumer, 0) + 1
    now = _now()
    rows = [map_reply([
        (bulk(b"name"), bulk(name)),
        (bulk(b"pending"), integer(owners.get(name, 0))),
        (bulk(b"idle"), integer(max(now - seen, 0))),
    ], client.resp3) for name, seen in handle.consumers(group)]
    return array(rows)
