"""Stream commands: XADD XLEN XRANGE XREVRANGE XDEL XTRIM XSETID XINFO STREAM, and the
stream storage (consumer-group commands and XREAD: stream_groups.py).

A stream is stored as Redis stores it (see aikv/streams.py): one element record per node,
`version | "N" | master ID (16)` -> the node's listpack, and a meta record

    type | expire(8) | version(8) | length(8) | last ID(16) | first ID(16)
         | max deleted ID(16) | entries added(8) | node count(8) | next group number(8)

so XADD rewrites the tail node and the meta record, XLEN reads the meta only, and a
range read decodes only the nodes it touches. Consumer groups add `"G" | name`,
`"C" | group number | consumer` and `"P" | group number | entry ID` records under the same
version (see stream_groups.py). An empty stream stays a key (XADD MAXLEN 0,
XDEL of every entry, XTRIM), as in Redis.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import lmdb

from aikv.blocking import signal_key_ready
from aikv.collections_common import WRONGTYPE, allocate_version
from aikv.commands.args import SYNTAX, parse_int, subcommand_error
from aikv.commands.registry import command, container
from aikv.keyspace import ENCODING_HOOKS, VALUE_READERS, VALUE_WRITERS, Database
from aikv.migrate.listpack import decode_listpack, encode_listpack
from aikv.migrate.streamrdb import StreamConsumerData, StreamData, StreamGroupData, StreamNack
from aikv.notify import STREAM
from aikv.persist.layout import TYPE_STREAM, encode_meta
from aikv.replication.propagate import propagate_as
from aikv.resp import (
    NULL3,
    NULL_BULK,
    OK,
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
    FLAG_DELETED,
    INVALID_ENTRIES_READ,
    LISTPACK_MAX_SIZE,
    MAX_ID,
    MIN_ID,
    StreamID,
    append_to_node,
    entry_flags,
    estimate_read_counter,
    format_id,
    id_bytes,
    id_from_bytes,
    incr_id,
    iter_replies,
    last_entry_id,
    mark_deleted,
    new_node,
    node_has_room,
    node_live,
    parse_id,
    radix_tree_nodes,
    range_end,
    range_start,
)

if TYPE_CHECKING:
    from aikv.client import Client

_NODE = b"N"
_GROUP = b"G"
_CONSUMER = b"C"
_PENDING = b"P"
# Names longer than this are stored under a head + SHA-256 form (LMDB keys are short).
_MAX_INLINE_NAME = 400


def _name_key(name: bytes) -> bytes:
    if len(name) <= _MAX_INLINE_NAME:
        return name
    return name[:360] + b"\xff\xfe" + hashlib.sha256(name).digest()


def _i64(value: int) -> bytes:
    return value.to_bytes(8, "big", signed=True)


def _read_i64(raw: bytes) -> int:
    return int.from_bytes(raw, "big", signed=True)


class Group:
    """A consumer group: `gid` numbers its consumer and pending records."""

    __slots__ = ("name", "gid", "last_id", "entries_read")

    def __init__(self, name: bytes, gid: int, last_id: StreamID, entries_read: int) -> None:
        self.name = name
        self.gid = gid
        self.last_id = last_id
        self.entries_read = entries_read


class Pending:
    """One entry of a group's pending entries list."""

    __slots__ = ("id", "delivery_time", "delivery_count", "consumer")

    def __init__(self, stream_id: StreamID, delivery_time: int, delivery_count: int,
                 consumer: bytes) -> None:
        self.id = stream_id
        self.delivery_time = delivery_time
        self.delivery_count = delivery_count
        self.consumer = consumer


ERR_NO_SUCH_KEY = "ERR no such key"


class StreamHandle:
    """One stream key's state for the duration of a command."""

    __slots__ = ("db", "key", "meta", "version", "base", "prefix", "length", "last_id",
                 "first_id", "max_deleted", "entries_added", "nodes", "next_gid")

    def __init__(self, db: Database, key: bytes, meta: bytes | None) -> None:
        self.db = db
        self.key = key
        self.meta = meta
        if meta is None:
            self.version = allocate_version(db.store)
            self.length = 0
            self.last_id = self.first_id = self.max_deleted = MIN_ID
            self.entries_added = 0
            self.nodes = 0
            self.next_gid = 1
        else:
            body = meta[9:]
            self.version = int.from_bytes(body[0:8], "big")
            self.length = int.from_bytes(body[8:16], "big")
            self.last_id = id_from_bytes(body[16:32])
            self.first_id = id_from_bytes(body[32:48])
            self.max_deleted = id_from_bytes(body[48:64])
            self.entries_added = int.from_bytes(body[64:72], "big")
            self.nodes = int.from_bytes(body[72:80], "big")
            self.next_gid = int.from_bytes(body[80:88], "big") if len(body) >= 88 else 1
        self.base = self.version.to_bytes(8, "big")
        self.prefix = self.base + _NODE

    # ------------------------------------------------------------------ meta
    def encode_meta(self, expire_at_ms: int) -> bytes:
        body = b"".join((
            self.version.to_bytes(8, "big"), self.length.to_bytes(8, "big"),
            id_bytes(self.last_id), id_bytes(self.first_id), id_bytes(self.max_deleted),
            self.entries_added.to_bytes(8, "big"), self.nodes.to_bytes(8, "big"),
            self.next_gid.to_bytes(8, "big"),
        ))
        return encode_meta(TYPE_STREAM, expire_at_ms, body)

    def save(self, touch: bool = True) -> None:
        """Store the meta record: creates the key when new. `touch` False skips the WATCH
        signal (XSETID: Redis does not signal it)."""
        if self.meta is None:
            self.meta = self.encode_meta(0)
            self.db.put_meta(self.key, self.meta)
            return
        meta = self.encode_meta(int.from_bytes(self.meta[1:9], "big"))
        self.db.update_meta(self.key, meta, touch=touch)
        self.meta = meta

    # ------------------------------------------------------------------ nodes
    def _cursor(self) -> lmdb.Cursor:
        store = self.db.store
        return store.reader().cursor(db=store.elements_db)

    def iter_nodes(self, start: StreamID = MIN_ID) -> Iterator[tuple[StreamID, bytes]]:
        """Nodes in ID order from the one that may hold `start`."""
        base = self.prefix
        target = base + id_bytes(start)
        cur = self._cursor()
        found = cur.set_range(target)
        if not (found and cur.key() == target):
            moved = cur.prev() if found else cur.last()
            if not (moved and cur.key()[:9] == base):
                if not found:
                    return
                cur.set_range(target)
        for k, v in cur:
            if k[:9] != base:
                return
            yield id_from_bytes(k[9:]), v

    def iter_nodes_rev(self, end: StreamID = MAX_ID) -> Iterator[tuple[StreamID, bytes]]:
        """Nodes in reverse ID order from the one that may hold `end`."""
        base = self.prefix
        target = base + id_bytes(end)
        cur = self._cursor()
        found = cur.set_range(target)
        if not (found and cur.key() == target):
            if not (cur.prev() if found else cur.last()):
                return
        while True:
            k = cur.key()
            if k[:9] != base:
                return
            yield id_from_bytes(k[9:]), cur.value()
            if not cur.prev():
                return

    def tail(self) -> tuple[StreamID, bytes] | None:
        for node in self.iter_nodes_rev():
            return node
        return None

    def put_node(self, master: StreamID, blob: bytes) -> None:
        store = self.db.store
        store.writer().put(self.prefix + id_bytes(master), blob, db=store.elements_db)

    def drop_node(self, master: StreamID) -> None:
        store = self.db.store
        store.writer().delete(self.prefix + id_bytes(master), db=store.elements_db)

    # ------------------------------------------------------------------ entries
    def entries(self, start: StreamID, end: StreamID, count: int = 0,
                rev: bool = False) -> list[tuple[StreamID, bytes]]:
        """Live entries with start <= ID <= end, at most `count` (0: all), each as its ID
        and its fields and values already encoded as a RESP array."""
        out: list[tuple[StreamID, bytes]] = []
        if start > end:
            return out
        if not rev:
            for master, blob in self.iter_nodes(start):
                if master > end:
                    break
                for flags, stream_id, pairs in iter_replies(master, blob):
                    if flags & FLAG_DELETED or stream_id < start:
                        continue
                    if stream_id > end:
                        return out
                    out.append((stream_id, pairs))
                    if count and len(out) >= count:
                        return out
        else:
            for master, blob in self.iter_nodes_rev(end):
                for flags, stream_id, pairs in iter_replies(master, blob, reverse=True):
                    if flags & FLAG_DELETED or stream_id > end:
                        continue
                    if stream_id < start:
                        return out
                    out.append((stream_id, pairs))
                    if count and len(out) >= count:
                        return out
        return out

    def first_live_id(self) -> StreamID | None:
        for master, blob in self.iter_nodes():
            for _, flags, entry_id in entry_flags(master, blob):
                if not flags & FLAG_DELETED:
                    return entry_id
        return None

    def head_id(self) -> StreamID:
        """The first entry's ID, a tombstone's included; MAX_ID when there is no entry
        (Redis's streamGetEdgeID(first, tombstones kept)): what an approximate MINID trim
        is sent to replicas as."""
        for master, blob in self.iter_nodes():
            for _, _, entry_id in entry_flags(master, blob):
                return entry_id
        return MAX_ID

    def last_live_id(self) -> StreamID | None:
        found = self.entries(MIN_ID, MAX_ID, 1, rev=True)
        return found[0][0] if found else None

    def append(self, stream_id: StreamID, fields: list[bytes], values: list[bytes],
               added_bytes: int, max_bytes: int, max_entries: int) -> None:
        tail = self.tail()
        if tail is not None and node_has_room(tail[1], added_bytes, max_bytes, max_entries):
            master, blob = tail
            self.put_node(master, append_to_node(blob, master, stream_id, fields, values))
        else:
            self.put_node(stream_id, new_node(stream_id, fields, values))
            self.nodes += 1
        self.length += 1
        self.entries_added += 1
        self.last_id = stream_id
        if self.length == 1:
            self.first_id = stream_id

    def delete(self, stream_id: StreamID) -> bool:
        """Mark one live entry deleted (dropping its node with its last live entry)."""
        for master, blob in self.iter_nodes(stream_id):
            if master > stream_id:
                return False
            for at, flags, entry_id in entry_flags(master, blob):
                if entry_id == stream_id:
                    if flags & FLAG_DELETED:
                        return False
                    if node_live(blob) == 1:
                        self.drop_node(master)
                        self.nodes -= 1
                    else:
                        self.put_node(master, mark_deleted(blob, [at]))
                    self.length -= 1
                    return True
                if entry_id > stream_id:
                    return False
        return False

    def trim(self, args: TrimArgs) -> int:
        """Redis's streamTrim: whole nodes from the head, then (exact trimming only)
        entries of the first node that must stay. Returns how many entries went. Reads
        only the head nodes it needs; the changes are written after the walk."""
        if args.strategy is None:
            return 0
        by_len = args.strategy == "maxlen"
        deleted = 0
        dropped: list[StreamID] = []
        rewritten: tuple[StreamID, bytes] | None = None
        first_live: StreamID | None = None
        for master, blob in self.iter_nodes():
            if by_len and self.length <= args.maxlen:
                break
            live = node_live(blob)
            if args.limit and deleted + live > args.limit:
                break
            if by_len:
                remove = self.length - live >= args.maxlen
            else:
                remove = last_entry_id(master, blob) < args.minid
            if remove:
                dropped.append(master)
                self.length -= live
                deleted += live
                continue
            if args.approx:
                break
            marked: list[int] = []
            stopped = False
            for at, flags, entry_id in entry_flags(master, blob):
                if not stopped:
                    stopped = self.length <= args.maxlen if by_len else entry_id >= args.minid
                if stopped:
                    if not flags & FLAG_DELETED:
                        first_live = entry_id  # spares the walk over the new tombstones
                        break
                    continue
                if not flags & FLAG_DELETED:
                    marked.append(at)
                    self.length -= 1
                    deleted += 1
            rewritten = (master, mark_deleted(blob, marked))
            break
        for master in dropped:
            self.drop_node(master)
        self.nodes -= len(dropped)
        if rewritten is not None:
            self.put_node(*rewritten)
        if self.length == 0:
            self.first_id = MIN_ID
        elif deleted:
            self.first_id = first_live or self.first_live_id() or MIN_ID
        return deleted

    def node_keys(self) -> list[bytes]:
        """The node keys (master IDs, 16 bytes), without reading the nodes."""
        base = self.prefix
        cur = self._cursor()
        out: list[bytes] = []
        if cur.set_range(base):
            for k in cur.iternext(keys=True, values=False):
                if k[:9] != base:
                    break
                out.append(k[9:])
        return out

    # ------------------------------------------------------------------ lag
    def range_has_tombstones(self, start: StreamID | None) -> bool:
        """Redis's streamRangeHasTombstones(start, end=+): may a deleted entry lie at or
        after `start`?"""
        if not self.length or self.max_deleted == MIN_ID:
            return False
        if self.first_id > self.max_deleted:
            return False
        return (start or MIN_ID) <= self.max_deleted

    def estimate_read_counter(self, stream_id: StreamID) -> int:
        return estimate_read_counter(self.entries_added, self.length, self.last_id,
                                     self.first_id, self.max_deleted, stream_id)

    def lag(self, group: Group) -> int | None:
        if not self.entries_added:
            return 0
        if group.entries_read != INVALID_ENTRIES_READ and not self.range_has_tombstones(group.last_id):
            return self.entries_added - group.entries_read
        read = self.estimate_read_counter(group.last_id)
        return None if read == INVALID_ENTRIES_READ else self.entries_added - read

    def entry(self, stream_id: StreamID) -> bytes | None:
        """A live entry's fields and values as a RESP array, None if absent or deleted."""
        found = self.entries(stream_id, stream_id, 1)
        return found[0][1] if found else None

    # ------------------------------------------------------------------ groups
    def _elements(self) -> tuple[lmdb.Transaction, Any]:
        store = self.db.store
        return store.writer(), store.elements_db

    def groups(self) -> list[Group]:
        base = self.base + _GROUP
        out = []
        cur = self._cursor()
        if cur.set_range(base):
            for k, v in cur:
                if k[:9] != base:
                    break
                out.append(Group(v[32:], int.from_bytes(v[:8], "big"), id_from_bytes(v[8:24]),
                                 _read_i64(v[24:32])))
        return out

    def group(self, name: bytes) -> Group | None:
        store = self.db.store
        v = store.reader().get(self.base + _GROUP + _name_key(name), None, store.elements_db)
        if v is None or v[32:] != name:
            return None
        return Group(name, int.from_bytes(v[:8], "big"), id_from_bytes(v[8:24]), _read_i64(v[24:32]))

    def create_group(self, name: bytes, last_id: StreamID, entries_read: int) -> Group:
        group = Group(name, self.next_gid, last_id, entries_read)
        self.next_gid += 1
        self.save_group(group)
        return group

    def save_group(self, group: Group) -> None:
        txn, edb = self._elements()
        txn.put(self.base + _GROUP + _name_key(group.name),
                group.gid.to_bytes(8, "big") + id_bytes(group.last_id)
                + _i64(group.entries_read) + group.name, db=edb)

    def _drop_range(self, prefix: bytes) -> None:
        txn, edb = self._elements()
        cur = txn.cursor(db=edb)
        keys = []
        if cur.set_range(prefix):
            for k in cur.iternext(keys=True, values=False):
                if not k.startswith(prefix):
                    break
                keys.append(k)
        for k in keys:
            txn.delete(k, db=edb)

    def drop_group(self, group: Group) -> None:
        txn, edb = self._elements()
        txn.delete(self.base + _GROUP + _name_key(group.name), db=edb)
        gid = group.gid.to_bytes(8, "big")
        self._drop_range(self.base + _CONSUMER + gid)
        self._drop_range(self.base + _PENDING + gid)

    # ------------------------------------------------------------------ consumers
    def consumers(self, group: Group) -> list[tuple[bytes, int]]:
        """(name, seen time) of the group's consumers, in name order."""
        base = self.base + _CONSUMER + group.gid.to_bytes(8, "big")
        out = []
        cur = self._cursor()
        if cur.set_range(base):
            for k, v in cur:
                if not k.startswith(base):
                    break
                out.append((v[8:], _read_i64(v[:8])))
        return out

    def _consumer_key(self, group: Group, name: bytes) -> bytes:
        return self.base + _CONSUMER + group.gid.to_bytes(8, "big") + _name_key(name)

    def consumer_seen(self, group: Group, name: bytes) -> int | None:
        store = self.db.store
        v = store.reader().get(self._consumer_key(group, name), None, store.elements_db)
        if v is None or v[8:] != name:
            return None
        return _read_i64(v[:8])

    def save_consumer(self, group: Group, name: bytes, seen_time: int) -> None:
        txn, edb = self._elements()
        txn.put(self._consumer_key(group, name), _i64(seen_time) + name, db=edb)

    def drop_consumer(self, group: Group, name: bytes) -> int:
        """Delete a consumer and its pending entries; returns how many it had."""
        txn, edb = self._elements()
        txn.delete(self._consumer_key(group, name), db=edb)
        mine = [p.id for p in self.pending(group) if p.consumer == name]
        for stream_id in mine:
            self.drop_pending(group, stream_id)
        return len(mine)

    # ------------------------------------------------------------------ pending entries
    def _pending_key(self, group: Group, stream_id: StreamID) -> bytes:
        return self.base + _PENDING + group.gid.to_bytes(8, "big") + id_bytes(stream_id)

    def pending(self, group: Group, start: StreamID = MIN_ID,
                end: StreamID = MAX_ID) -> Iterator[Pending]:
        """The group's pending entries with start <= ID <= end, in ID order."""
        base = self.base + _PENDING + group.gid.to_bytes(8, "big")
        cur = self._cursor()
        if not cur.set_range(base + id_bytes(start)):
            return
        for k, v in cur:
            if not k.startswith(base):
                return
            stream_id = id_from_bytes(k[17:])
            if stream_id > end:
                return
            yield Pending(stream_id, _read_i64(v[:8]), int.from_bytes(v[8:16], "big"), v[16:])

    def pending_entry(self, group: Group, stream_id: StreamID) -> Pending | None:
        store = self.db.store
        v = store.reader().get(self._pending_key(group, stream_id), None, store.elements_db)
        if v is None:
            return None
        return Pending(stream_id, _read_i64(v[:8]), int.from_bytes(v[8:16], "big"), v[16:])

    def save_pending(self, group: Group, nack: Pending) -> None:
        txn, edb = self._elements()
        txn.put(self._pending_key(group, nack.id),
                _i64(nack.delivery_time) + nack.delivery_count.to_bytes(8, "big") + nack.consumer,
                db=edb)

    def drop_pending(self, group: Group, stream_id: StreamID) -> bool:
        txn, edb = self._elements()
        return bool(txn.delete(self._pending_key(group, stream_id), db=edb))


# ---------------------------------------------------------------------- lookups
def open_stream(db: Database, key: bytes, counted: bool = False) -> StreamHandle | None:
    """The stream at `key` (None if absent; WRONGTYPE for another type). `counted`: a
    write command's lookup that Redis makes with lookupKeyRead (a keyspace hit or miss)."""
    meta = db.read_meta(key) if counted else db.get_meta(key)
    if meta is None:
        return None
    if meta[0] != TYPE_STREAM:
        raise CommandError(WRONGTYPE)
    return StreamHandle(db, key, meta)


def _node_limits(client: Client) -> tuple[int, int]:
    values = client.server.config.values
    return int(values["stream-node-max-bytes"]), int(values["stream-node-max-entries"])


# ---------------------------------------------------------------------- replies
def entry_reply(stream_id: StreamID, pairs: bytes) -> bytes:
    """An entry as Redis replies it: [ID, [field, value, ...]] (`pairs` already RESP)."""
    return b"*2\r\n" + bulk(format_id(stream_id)) + pairs


def entries_reply(entries: list[tuple[StreamID, bytes]]) -> bytes:
    return b"*%d\r\n" % len(entries) + b"".join(entry_reply(i, p) for i, p in entries)


# ---------------------------------------------------------------------- trimming arguments
class TrimArgs:
    __slots__ = ("strategy", "maxlen", "minid", "approx", "limit", "value_pos", "id_pos",
                 "nomkstream", "id", "seq_given")

    def __init__(self) -> None:
        self.strategy: str | None = None
        self.maxlen = 0
        self.minid: StreamID = MIN_ID
        self.approx = False
        self.limit = 0
        self.value_pos = 0  # where the MAXLEN count or MINID id is in argv
        self.id_pos = 0
        self.nomkstream = False
        self.id: StreamID | None = None  # XADD's explicit ID (None: "*")
        self.seq_given = True


def parse_trim_args(argv: list[bytes], xadd: bool, max_entries: int,
                    from_master: bool = False) -> TrimArgs:
    """The options of XADD (up to the ID, whose position is returned in `id_pos`) or of
    XTRIM, in Redis's order of checks. `from_master`: the replication link's command,
    whose trimming is never limited (a master sends approximate trims rewritten as exact
    ones, LIMIT left in place: see trim_sent_as)."""
    args = TrimArgs()
    limit_given = False
    argc = len(argv)
    i = 2
    while i < argc:
        more = argc - 1 - i
        opt = argv[i].lower()
        if xadd and argv[i] == b"*":
            break
        if opt in (b"maxlen", b"minid") and more:
            if args.strategy is not None:
                raise CommandError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
            args.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt == b"~":
                args.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            if opt == b"maxlen":
                args.maxlen = parse_int(argv[i + 1])
                if args.maxlen < 0:
                    raise CommandError("ERR The MAXLEN argument must be >= 0.")
            else:
                args.minid = parse_id(argv[i + 1], 0, strict=True)[0]
            i += 1
            args.value_pos = i
            args.strategy = opt.decode()
        elif opt == b"limit" and more:
            args.limit = parse_int(argv[i + 1])
            if args.limit < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            limit_given = True
            i += 1
        elif xadd and opt == b"nomkstream":
            args.nomkstream = True
        elif xadd:
            # The ID, parsed here as Redis does: its error comes before the checks below.
            args.id, args.seq_given = parse_id(argv[i], 0, strict=True, seq_star=True)
            break
        else:
            raise CommandError(SYNTAX)
        i += 1
    args.id_pos = i
    if args.limit and args.strategy is None:
        raise CommandError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    if not xadd and args.strategy is None:
        raise CommandError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if from_master:
        args.limit = 0
    elif limit_given:
        if not args.approx:
            raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ option")
    elif args.approx:
        limit = 100 * max_entries
        args.limit = 10000 if limit <= 0 else min(limit, 1000000)
    else:
        args.limit = 0
    return args


def replicating(client: Client) -> bool:
    """Whether a replica may be sent this command's effects: rewritten argvs are built
    only then (see aikv/replication/propagate.py)."""
    return client.server.propagator is not None


def trim_sent_as(argv: list[bytes], args: TrimArgs, handle: StreamHandle) -> list[bytes]:
    """XADD / XTRIM with an approximate trim, as replicas must run it: `~` trims whole
    nodes only, and a replica's nodes need not be the master's (nor its LIMIT default),
    so the replica gets an exact trim to what the master kept, as Redis does
    (streamRewriteApproxSpecifier, streamRewriteTrimArgument): MAXLEN = the length
    left, MINID = the first entry left (a tombstone's ID counts)."""
    sent = list(argv)
    sent[args.value_pos - 1] = b"="
    if args.strategy == "maxlen":
        sent[args.value_pos] = b"%d" % handle.length
    else:
        sent[args.value_pos] = format_id(handle.head_id())
    return sent


# ---------------------------------------------------------------------- XADD
@command("xadd", -5, "write denyoom fast", keys=(1, 1, 1), categories="@write @stream @fast")
def xadd(client: Client, argv: list[bytes]) -> bytes:
    max_bytes, max_entries = _node_limits(client)
    args = parse_trim_args(argv, True, max_entries, client.is_master)
    given, seq_given = args.id, args.seq_given
    field_pos = args.id_pos + 1
    nargs = len(argv) - field_pos
    if nargs < 2 or nargs % 2:
        raise CommandError("ERR wrong number of arguments for 'xadd' command")
    if given is not None and seq_given and given == MIN_ID:
        raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    db = client.db
    key = argv[1]
    handle = open_stream(db, key)
    if handle is None:
        if args.nomkstream:
            propagate_as(client)  # nothing changed
            return NULL3 if client.resp3 else NULL_BULK
        handle = StreamHandle(db, key, None)
    if handle.last_id == MAX_ID:
        raise CommandError("ERR The stream has exhausted the last possible ID, unable to add more items")
    last = handle.last_id
    new_id: StreamID | None
    if given is None:
        now = client.server.clock.now_ms
        new_id = (now, 0) if now > last[0] else incr_id(last)
    elif seq_given:
        new_id = given
    elif last[0] == given[0]:
        new_id = None if last[1] == MAX_ID[1] else (last[0], last[1] + 1)
    else:
        new_id = given
    fields = argv[field_pos::2]
    values = argv[field_pos + 1::2]
    added = sum(len(a) for a in argv[field_pos:])
    if new_id is None or added > LISTPACK_MAX_SIZE:
        # Redis: the sequence of this millisecond is exhausted, or the entry is too big.
        raise CommandError("ERR Elements are too large to be stored")
    if new_id <= last:
        raise CommandError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    client.db.store.ensure_room(added + 64)
    handle.append(new_id, fields, values, added, max_bytes, max_entries)
    handle.save()
    db.notify(STREAM, b"xadd", key)
    if args.strategy is not None and handle.trim(args):
        handle.save()
        db.notify(STREAM, b"xtrim", key)
    id_chosen = given is None or not seq_given  # "*" or "<ms>-*"
    if (id_chosen or args.approx) and replicating(client):
        # Replicas get the ID this entry got (theirs would depend on their clock or last
        # ID) and an exact trim.
        sent = trim_sent_as(argv, args, handle) if args.approx else list(argv)
        if id_chosen:
            sent[args.id_pos] = format_id(new_id)
        propagate_as(client, sent)
    signal_key_ready(client.server, db.index, key)
    return bulk(format_id(new_id))


# ---------------------------------------------------------------------- reads
@command("xlen", 2, "readonly fast", keys=(1, 1, 1), categories="@read @stream @fast")
def xlen(client: Client, argv: list[bytes]) -> bytes:
    handle = open_stream(client.db, argv[1])
    return ZERO if handle is None else integer(handle.length)


def _range(client: Client, argv: list[bytes], rev: bool) -> bytes:
    start_arg, end_arg = (argv[3], argv[2]) if rev else (argv[2], argv[3])
    start = range_start(start_arg)
    end = range_end(end_arg)
    count = -1
    j = 4
    while j < len(argv):
        if argv[j].lower() == b"count" and j + 1 < len(argv):
            count = max(parse_int(argv[j + 1]), 0)
            j += 2
        else:
            raise CommandError(SYNTAX)
    handle = open_stream(client.db, argv[1])
    if handle is None:
        return b"*0\r\n"
    if count == 0:
        return null_array(client.resp3)
    return entries_reply(handle.entries(start, end, max(count, 0), rev))


@command("xrange", -4, "readonly", keys=(1, 1, 1), categories="@read @stream @slow")
def xrange(client: Client, argv: list[bytes]) -> bytes:
    return _range(client, argv, False)


@command("xrevrange", -4, "readonly", keys=(1, 1, 1), categories="@read @stream @slow")
def xrevrange(client: Client, argv: list[bytes]) -> bytes:
    return _range(client, argv, True)


# ---------------------------------------------------------------------- deletion
@command("xdel", -3, "write fast", keys=(1, 1, 1), categories="@write @stream @fast")
def xdel(client: Client, argv: list[bytes]) -> bytes:
    db = client.db
    key = argv[1]
    handle = open_stream(db, key)
    if handle is None:
        propagate_as(client)
        return ZERO
    ids = [parse_id(raw, 0, strict=True)[0] for raw in argv[2:]]
    deleted = 0
    first_gone = False
    for stream_id in ids:
        if handle.delete(stream_id):
            if stream_id == handle.first_id:
                first_gone = True
            if stream_id > handle.max_deleted:
                handle.max_deleted = stream_id
            deleted += 1
    if deleted:
        if handle.length == 0:
            handle.first_id = MIN_ID
        elif first_gone:
            handle.first_id = handle.first_live_id() or MIN_ID
        handle.save()
        db.notify(STREAM, b"xdel", key)
    else:
        propagate_as(client)  # none of the IDs was there: Redis sends nothing
    return integer(deleted)


@command("xtrim", -4, "write", keys=(1, 1, 1), categories="@write @stream @slow")
def xtrim(client: Client, argv: list[bytes]) -> bytes:
    args = parse_trim_args(argv, False, _node_limits(client)[1], client.is_master)
    db = client.db
    key = argv[1]
    handle = open_stream(db, key)
    if handle is None:
        propagate_as(client)
        return ZERO
    deleted = handle.trim(args)
    if deleted:
        db.notify(STREAM, b"xtrim", key)
        handle.save()
        if args.approx and replicating(client):
            propagate_as(client, trim_sent_as(argv, args, handle))
    else:
        propagate_as(client)  # nothing trimmed: Redis sends nothing
    return integer(deleted)


@command("xsetid", -3, "write denyoom fast", keys=(1, 1, 1), categories="@write @stream @fast")
def xsetid(client: Client, argv: list[bytes]) -> bytes:
    new_id = parse_id(argv[2], 0, strict=True)[0]
    entries_added = -1
    max_deleted = MIN_ID
    i = 3
    while i < len(argv):
        more = len(argv) - 1 - i
        opt = argv[i].lower()
        if opt == b"entriesadded" and more:
            entries_added = parse_int(argv[i + 1])
            if entries_added < 0:
                raise CommandError("ERR entries_added must be positive")
            i += 2
        elif opt == b"maxdeletedid" and more:
            max_deleted = parse_id(argv[i + 1], 0, strict=True)[0]
            if new_id < max_deleted:
                raise CommandError("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
            i += 2
        else:
            raise CommandError(SYNTAX)
    db = client.db
    key = argv[1]
    handle = open_stream(db, key)
    if handle is None:
        raise CommandError(ERR_NO_SUCH_KEY)
    if handle.length > 0:
        top = handle.last_live_id()
        if top is not None and new_id < top:
            raise CommandError("ERR The ID specified in XSETID is smaller than the target stream top item")
        if entries_added != -1 and handle.length > entries_added:
            raise CommandError("ERR The entries_added specified in XSETID is smaller than the target stream length")
    handle.last_id = new_id
    if entries_added != -1:
        handle.entries_added = entries_added
    if max_deleted != MIN_ID:
        handle.max_deleted = max_deleted
    handle.save(touch=False)
    db.notify(STREAM, b"xsetid", key)
    return OK


# ---------------------------------------------------------------------- XINFO
container("xinfo", -2, "")


def info_handle(client: Client, argv: list[bytes]) -> StreamHandle:
    """The stream of an XINFO subcommand (argv[2]): "no such key" when absent."""
    handle = open_stream(client.db, argv[2])
    if handle is None:
        raise CommandError(ERR_NO_SUCH_KEY)
    return handle


@command("stream", -3, "readonly", keys=(2, 2, 1), parent="xinfo",
         categories="@read @stream @slow")
def xinfo_stream(client: Client, argv: list[bytes]) -> bytes:
    handle = info_handle(client, argv)  # Redis looks the key up before the options
    options = argv[3:]
    full = bool(options)
    count = 10
    if options:
        if len(options) not in (1, 3) or options[0].lower() != b"full":
            raise subcommand_error(argv)
        if len(options) == 3:
            if options[1].lower() != b"count":
                raise subcommand_error(argv)
            count = parse_int(options[2])
            if count < 0:
                count = 10
    resp3 = client.resp3
    keys = handle.node_keys()
    pairs = [
        (bulk(b"length"), integer(handle.length)),
        (bulk(b"radix-tree-keys"), integer(len(keys))),
        (bulk(b"radix-tree-nodes"), integer(radix_tree_nodes(keys))),
        (bulk(b"last-generated-id"), bulk(format_id(handle.last_id))),
        (bulk(b"max-deleted-entry-id"), bulk(format_id(handle.max_deleted))),
        (bulk(b"entries-added"), integer(handle.entries_added)),
        (bulk(b"recorded-first-entry-id"), bulk(format_id(handle.first_id))),
    ]
    null = NULL3 if resp3 else NULL_BULK
    if not full:
        first = handle.entries(MIN_ID, MAX_ID, 1)
        last = handle.entries(MIN_ID, MAX_ID, 1, rev=True)
        pairs.append((bulk(b"groups"), integer(len(handle.groups()))))
        pairs.append((bulk(b"first-entry"), entry_reply(*first[0]) if first else null))
        pairs.append((bulk(b"last-entry"), entry_reply(*last[0]) if last else null))
    else:
        pairs.append((bulk(b"entries"), entries_reply(handle.entries(MIN_ID, MAX_ID, count))))
        pairs.append((bulk(b"groups"), array([_full_group(handle, g, count, resp3)
                                                for g in handle.groups()])))
    return map_reply(pairs, resp3)


def group_counters(handle: StreamHandle, group: Group, resp3: bool) -> tuple[bytes, bytes]:
    """A group's entries-read and lag replies (XINFO GROUPS, STREAM FULL): null where
    Redis cannot tell."""
    null = NULL3 if resp3 else NULL_BULK
    lag = handle.lag(group)
    return (null if group.entries_read == INVALID_ENTRIES_READ else integer(group.entries_read),
            null if lag is None else integer(lag))


def _full_group(handle: StreamHandle, group: Group, count: int, resp3: bool) -> bytes:
    """One group of XINFO STREAM FULL: its counters, PEL and consumers with their PELs
    (COUNT caps each PEL listing; 0 lists all)."""
    pel = list(handle.pending(group))
    listed = pel if not count else pel[:count]
    entries_read, lag = group_counters(handle, group, resp3)
    consumers = []
    for name, seen in handle.consumers(group):
        own = [p for p in pel if p.consumer == name]
        shown = own if not count else own[:count]
        consumers.append(map_reply([
            (bulk(b"name"), bulk(name)),
            (bulk(b"seen-time"), integer(seen)),
            (bulk(b"pel-count"), integer(len(own))),
            (bulk(b"pending"), array([b"*3\r\n" + bulk(format_id(p.id)) + integer(p.delivery_time)
                                      + integer(p.delivery_count) for p in shown])),
        ], resp3))
    return map_reply([
        (bulk(b"name"), bulk(group.name)),
        (bulk(b"last-delivered-id"), bulk(format_id(group.last_id))),
        (bulk(b"entries-read"), entries_read),
        (bulk(b"lag"), lag),
        (bulk(b"pel-count"), integer(len(pel))),
        (bulk(b"pending"), array([b"*4\r\n" + bulk(format_id(p.id)) + bulk(p.consumer)
                                  + integer(p.delivery_time) + integer(p.delivery_count)
                                  for p in listed])),
        (bulk(b"consumers"), array(consumers)),
    ], resp3)


@command("help", 2, "loading stale", parent="xinfo", categories="@stream @slow")
def xinfo_help(client: Client, argv: list[bytes]) -> bytes:
    lines = [
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
        "HELP",
        "    Prints this help.",
    ]
    return array([simple(line) for line in lines])


# ---------------------------------------------------------------------- type hooks
def stream_encoding(db: Database, key: bytes, meta: bytes) -> bytes:
    return b"stream"


def read_stream(db: Database, key: bytes, meta: bytes) -> StreamData:
    """The stream as a payload model (DUMP / MIGRATE)."""
    handle = StreamHandle(db, key, meta)
    groups = []
    for group in handle.groups():
        pel = list(handle.pending(group))
        groups.append(StreamGroupData(
            name=group.name, last_id=group.last_id, entries_read=group.entries_read,
            pel=[StreamNack(p.id, p.delivery_time, p.delivery_count, p.consumer) for p in pel],
            consumers=[StreamConsumerData(name, seen, [p.id for p in pel if p.consumer == name])
                       for name, seen in handle.consumers(group)]))
    return StreamData(
        nodes=[(id_bytes(master), blob) for master, blob in handle.iter_nodes()],
        length=handle.length, last_id=handle.last_id, first_id=handle.first_id,
        max_deleted_id=handle.max_deleted, entries_added=handle.entries_added, groups=groups)


def write_stream(db: Database, key: bytes, value: object, expire_at_ms: int) -> None:
    """Store a decoded payload under `key` (RESTORE / MIGRATE), replacing the key."""
    if not isinstance(value, StreamData):
        raise TypeError("not a stream payload")
    handle = StreamHandle(db, key, None)
    for raw_master, blob in value.nodes:
        # Re-encoded: a crafted payload may spell integers as listpack strings, which
        # Redis accepts; AiKv's node code reads them as integers.
        handle.put_node(id_from_bytes(raw_master), encode_listpack(decode_listpack(blob)))
    handle.nodes = len(value.nodes)
    handle.length = value.length
    handle.last_id = value.last_id
    handle.first_id = value.first_id
    handle.max_deleted = value.max_deleted_id
    handle.entries_added = value.entries_added
    for data in value.groups:
        group = handle.create_group(data.name, data.last_id, data.entries_read)
        for consumer in data.consumers:
            handle.save_consumer(group, consumer.name, consumer.seen_time_ms)
        for nack in data.pel:
            handle.save_pending(group, Pending(nack.entry_id, nack.delivery_time_ms,
                                               nack.delivery_count, nack.consumer))
    db.put_meta(key, handle.encode_meta(expire_at_ms))


VALUE_READERS[TYPE_STREAM] = read_stream
VALUE_WRITERS["stream"] = write_stream
ENCODING_HOOKS[TYPE_STREAM] = stream_encoding

__all__ = ["INVALID_ENTRIES_READ", "StreamHandle", "group_counters", "info_handle",
           "open_stream"]
