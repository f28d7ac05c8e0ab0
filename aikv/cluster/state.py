"""What this node believes about the cluster: nodes, slot owners, epochs, open slots.

Pure data and rules. No sockets, no files, no clock: every time-dependent call takes
`now_ms`. The bus runtime (`aikv/bus/gossip.py`) and the CLUSTER commands mutate it; the
runtime persists it (nodes.conf) whenever `save_needed` is raised.

Related rules live next door so each module stays on one concern:
  * `aikv/cluster/failure.py` — failure reports, PFAIL/FAIL, cluster_state evaluation;
  * `aikv/cluster/epochs.py`  — epoch bumps, collisions, slot re-binding by configEpoch.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aikv.cluster import nodeflags as nf
from aikv.cluster.slots import CLUSTER_SLOTS

SLOT_BITMAP_BYTES = CLUSTER_SLOTS // 8

# Outbound link states, as the runtime reports them. CLUSTER NODES shows `connected` only
# for LINK_CONNECTED: a node we cannot reach must read `disconnected`.
LINK_NONE = 0
LINK_CONNECTING = 1
LINK_CONNECTED = 2

# A forgotten node stays blacklisted this long so that gossip from nodes that have not been
# told to forget it yet cannot bring it back (redis-cli sends FORGET to all within this).
BLACKLIST_TTL_MS = 60_000

# Fresh node ids are random 40-char lowercase hex strings, like Redis's.
NODE_ID_LEN = 40


def random_node_id() -> str:
    return secrets.token_hex(NODE_ID_LEN // 2)


def is_valid_node_id(text: str) -> bool:
    return len(text) == NODE_ID_LEN and all(c in "0123456789abcdefghijklmnopqrstuvwxyz" for c in text)


# --- slot bitmaps (the bus's bit order: slot s is bit s & 7 of byte s >> 3) ---------------


def bitmap_test(bitmap: bytes | bytearray, slot: int) -> bool:
    return bool(bitmap[slot >> 3] & (1 << (slot & 7)))


def bitmap_set(bitmap: bytearray, slot: int) -> None:
    bitmap[slot >> 3] |= 1 << (slot & 7)


def bitmap_clear(bitmap: bytearray, slot: int) -> None:
    bitmap[slot >> 3] &= ~(1 << (slot & 7)) & 0xFF


def bitmap_slots(bitmap: bytes | bytearray) -> Iterator[int]:
    """Slots set in `bitmap`, ascending. Skips empty bytes quickly (bitmaps are sparse-ish
    when scanned often and dense in long runs otherwise)."""
    for byte_index, byte in enumerate(bitmap):
        if byte:
            base = byte_index << 3
            for bit in range(8):
                if byte & (1 << bit):
                    yield base + bit


def slot_ranges(slots: Iterator[int] | list[int]) -> list[tuple[int, int]]:
    """Maximal ascending runs. Redis prints these as `a-b` or `a`, and redis-cli's
    agreement check compares the text, so they must be maximal."""
    ranges: list[tuple[int, int]] = []
    for slot in slots:
        if ranges and ranges[-1][1] == slot - 1:
            ranges[-1] = (ranges[-1][0], slot)
        else:
            ranges.append((slot, slot))
    return ranges


_RANGES_SEEN: dict[bytes, tuple[tuple[int, int], ...]] = {}
_RANGES_SEEN_MAX = 64


def bitmap_ranges(bitmap: bytes | bytearray) -> list[tuple[int, int]]:
    """slot_ranges(bitmap_slots(bitmap)), computed run by run on the bitmap as one integer
    (slot i is bit i): nodes.conf and CLUSTER NODES render every node's ranges on each
    save, and a per-slot loop made every CLUSTER SETSLOT cost ~10 ms.

    Each save renders every node, most of whose bitmaps did not change since the last
    one, and the big-integer walk costs ~7 us a node here against ~1 us to look the
    bitmap up: the last few answers are kept by content."""
    key = bytes(bitmap)
    seen = _RANGES_SEEN.get(key)
    if seen is None:
        if len(_RANGES_SEEN) >= _RANGES_SEEN_MAX:
            _RANGES_SEEN.clear()
        seen = _RANGES_SEEN[key] = tuple(_bitmap_runs(key))
    return list(seen)


def _bitmap_runs(bitmap: bytes) -> list[tuple[int, int]]:
    bits = int.from_bytes(bitmap, "little")
    ranges: list[tuple[int, int]] = []
    while bits:
        start = (bits & -bits).bit_length() - 1
        run = bits >> start
        length = (run ^ (run + 1)).bit_length() - 1  # trailing ones
        ranges.append((start, start + length - 1))
        bits = (run >> length) << (start + length)
    return ranges


@dataclass(eq=False)
class NodeRecord:
    """One node as we know it. Identity matters (eq=False): slot tables point at records,
    so renaming a handshake record keeps every reference valid."""

    node_id: str
    flags: int
    ip: str = ""
    port: int = 0
    cport: int = 0
    pport: int = 0
    hostname: str = ""
    master_id: str | None = None
    config_epoch: int = 0
    ping_sent: int = 0
    pong_received: int = 0
    data_received: int = 0
    fail_time: int = 0
    ctime: int = 0
    repl_offset: int = 0
    # When we last voted for one of this master's replicas (failover elections).
    voted_time: int = 0
    # Since when this master looks orphaned (no working replica) to replica migration;
    # 0 = not orphaned, or not looked at (aikv/cluster/migration.py).
    orphaned_time: int = 0
    slots: bytearray = field(default_factory=lambda: bytearray(SLOT_BITMAP_BYTES))
    num_slots: int = 0
    # reporter node id -> time (ms) of its latest report that this node is failing
    fail_reports: dict[str, int] = field(default_factory=dict)
    link: int = LINK_NONE
    link_ctime: int = 0

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    @property
    def is_master(self) -> bool:
        return bool(self.flags & nf.MASTER)

    @property
    def is_replica(self) -> bool:
        return bool(self.flags & nf.SLAVE)

    @property
    def in_handshake(self) -> bool:
        return bool(self.flags & nf.HANDSHAKE)

    @property
    def is_myself(self) -> bool:
        return bool(self.flags & nf.MYSELF)

    def owns(self, slot: int) -> bool:
        return bitmap_test(self.slots, slot)


class ClusterState:
    """Nodes, slots and epochs of one node's view of the cluster."""

    def __init__(
        self,
        myself_id: str | None = None,
        *,
        node_timeout: int = 15_000,
        require_full_coverage: bool = True,
        allow_replica_migration: bool = True,
        migration_barrier: int = 1,
        id_factory: Callable[[], str] = random_node_id,
    ) -> None:
        self.node_timeout = node_timeout
        self.require_full_coverage = require_full_coverage
        self.allow_replica_migration = allow_replica_migration
        # cluster-migration-barrier: replicas a master keeps before one may migrate away.
        self.migration_barrier = migration_barrier
        self.id_factory = id_factory
        self.nodes: dict[str, NodeRecord] = {}
        self.myself = NodeRecord(myself_id or id_factory(), nf.MYSELF | nf.MASTER)
        self.nodes[self.myself.node_id] = self.myself
        self.slot_owner: list[NodeRecord | None] = [None] * CLUSTER_SLOTS
        # Slots still bound to an owner whose latest bitmap no longer claims them; any
        # claim, whatever its epoch, may take them (7.0.15 behaviour).
        self.not_claiming: set[int] = set()
        self.migrating_to: dict[int, NodeRecord] = {}
        self.importing_from: dict[int, NodeRecord] = {}
        self.current_epoch = 0
        self.last_vote_epoch = 0
        self.state_ok = False
        self.size = 0
        self.blacklist: dict[str, int] = {}
        self.stats_pfail_nodes = 0
        # cluster_state evaluation bookkeeping (see failure.update_state)
        self.first_eval_time = 0
        self.among_minority_time = 0
        self.state_eval_needed = True
        # Raised by every change that must reach nodes.conf; the runtime writes the file
        # before the replies of the command (or bus message) that caused it go out.
        self.save_needed = False
        self.fsync_needed = False

    # --- persistence flags -------------------------------------------------------------

    def mark_dirty(self, *, fsync: bool = False, update_state: bool = False) -> None:
        self.save_needed = True
        if fsync:
            self.fsync_needed = True
        if update_state:
            self.state_eval_needed = True

    def take_dirty(self) -> tuple[bool, bool]:
        """Return (save, fsync) and clear both flags."""
        result = (self.save_needed, self.fsync_needed)
        self.save_needed = self.fsync_needed = False
        return result

    # --- lookups -----------------------------------------------------------------------

    def lookup(self, node_id: str) -> NodeRecord | None:
        return self.nodes.get(node_id)

    def master_of(self, node: NodeRecord) -> NodeRecord | None:
        return self.nodes.get(node.master_id) if node.master_id else None

    def replicas_of(self, master: NodeRecord) -> list[NodeRecord]:
        return [n for n in self.nodes.values() if n.master_id == master.node_id and n.is_replica]

    def effective_config_epoch(self, node: NodeRecord) -> int:
        """A replica advertises (and CLUSTER NODES prints) its master's configEpoch."""
        if node.is_replica:
            master = self.master_of(node)
            if master is not None:
                return master.config_epoch
        return node.config_epoch

    def my_master_or_me(self) -> NodeRecord | None:
        if self.myself.is_master:
            return self.myself
        return self.master_of(self.myself)

    def known_node_count(self) -> int:
        return len(self.nodes)

    def others(self) -> list[NodeRecord]:
        return [n for n in self.nodes.values() if n is not self.myself]

    # --- membership --------------------------------------------------------------------

    def add_node(self, node: NodeRecord) -> None:
        self.nodes[node.node_id] = node

    def create_handshake_node(
        self, ip: str, port: int, cport: int, now_ms: int, *, meet: bool = True
    ) -> NodeRecord | None:
        """A record for a node we will MEET (or that MEETed us), under a random temporary id
        until its first PONG tells us the real one. Returns None if a handshake with the
        same address is already pending (a repeated MEET must not multiply records)."""
        for other in self.nodes.values():
            if other.in_handshake and other.ip == ip and other.port == port and other.cport == cport:
                return None
        flags = nf.HANDSHAKE | (nf.MEET if meet else 0)
        node = NodeRecord(self.id_factory(), flags, ip=ip, port=port, cport=cport, ctime=now_ms)
        self.add_node(node)
        return node

    def rename_node(self, node: NodeRecord, new_id: str) -> None:
        del self.nodes[node.node_id]
        old_id = node.node_id
        node.node_id = new_id
        self.nodes[new_id] = node
        for other in self.nodes.values():
            if other.master_id == old_id:
                other.master_id = new_id

    def del_node(self, node: NodeRecord) -> None:
        """Remove a node and every reference to it: its slots become unassigned, open-slot
        marks pointing at it are dropped, and reports it filed about others vanish."""
        for slot in list(self.migrating_to):
            if self.migrating_to[slot] is node:
                del self.migrating_to[slot]
        for slot in list(self.importing_from):
            if self.importing_from[slot] is node:
                del self.importing_from[slot]
        for other in self.nodes.values():
            other.fail_reports.pop(node.node_id, None)
            if other.master_id == node.node_id and other is not self.myself:
                other.master_id = None
        self.del_node_slots(node)
        self.nodes.pop(node.node_id, None)
        if node.is_replica and node.master_id:
            self._replica_left(node.master_id)
        self.state_eval_needed = True

    def forget(self, node: NodeRecord, now_ms: int) -> None:
        self.blacklist_add(node.node_id, now_ms)
        self.del_node(node)
        self.mark_dirty(update_state=True)

    def blacklist_add(self, node_id: str, now_ms: int) -> None:
        self.blacklist_cleanup(now_ms)
        self.blacklist[node_id] = now_ms + BLACKLIST_TTL_MS

    def blacklist_cleanup(self, now_ms: int) -> None:
        for node_id in [k for k, expire in self.blacklist.items() if expire < now_ms]:
            del self.blacklist[node_id]

    def is_blacklisted(self, node_id: str, now_ms: int) -> bool:
        self.blacklist_cleanup(now_ms)
        return node_id in self.blacklist

    # --- roles -------------------------------------------------------------------------

    # MIGRATE_TO marks a master that is supposed to have replicas: replica migration
    # only moves replicas to such masters. As Redis 7.0.15 keeps it: set when a master
    # gains a replica, when a replica of some master becomes a master itself (another
    # node: a failover winner), and when a master gets its first slot while some master
    # has replicas; cleared when a master's last replica leaves it (turns master, follows
    # another node, is forgotten) and when it turns replica. Carried in headers and
    # gossip entries, never printed in CLUSTER NODES or nodes.conf.

    def _replica_left(self, master_id: str) -> None:
        master = self.nodes.get(master_id)
        if master is not None and not any(n.master_id == master_id for n in self.nodes.values()):
            master.flags &= ~nf.MIGRATE_TO

    def masters_have_replicas(self) -> bool:
        """Some node that is not a replica has a replica (clusterMastersHaveSlaves)."""
        for node in self.nodes.values():
            if node.master_id is not None:
                master = self.nodes.get(node.master_id)
                if master is not None and not master.is_replica:
                    return True
        return False

    def set_node_as_master(self, node: NodeRecord) -> None:
        if node.is_master and node.master_id is None:
            return
        old_master_id = node.master_id
        node.master_id = None
        node.flags = (node.flags & ~nf.SLAVE) | nf.MASTER
        if old_master_id is not None:
            self._replica_left(old_master_id)
            if node is not self.myself:
                node.flags |= nf.MIGRATE_TO
        self.mark_dirty(update_state=True)

    def set_node_as_replica(self, node: NodeRecord, master: NodeRecord | None) -> None:
        """A node turning replica gives up its slots (its master's bitmap now speaks for
        it); `master` may still be unknown to us."""
        if node.is_master:
            self.del_node_slots(node)
            node.flags = (node.flags & ~(nf.MASTER | nf.MIGRATE_TO)) | nf.SLAVE
            self.mark_dirty(update_state=True)
        if master is not None and node.master_id != master.node_id:
            old_master_id = node.master_id
            node.master_id = master.node_id
            if old_master_id is not None:
                self._replica_left(old_master_id)
            master.flags |= nf.MIGRATE_TO
            self.mark_dirty()

    # --- slots -------------------------------------------------------------------------

    def add_slot(self, node: NodeRecord, slot: int) -> bool:
        if self.slot_owner[slot] is not None:
            return False
        self.slot_owner[slot] = node
        bitmap_set(node.slots, slot)
        node.num_slots += 1
        if node.num_slots == 1 and self.masters_have_replicas():
            # A new slot-serving master in a cluster that has replicas is a valid
            # migration target even before it ever had one (clusterNodeSetSlotBit).
            node.flags |= nf.MIGRATE_TO
        self.not_claiming.discard(slot)
        self.state_eval_needed = True
        return True

    def del_slot(self, slot: int) -> bool:
        owner = self.slot_owner[slot]
        if owner is None:
            return False
        bitmap_clear(owner.slots, slot)
        owner.num_slots -= 1
        self.slot_owner[slot] = None
        self.not_claiming.discard(slot)
        self.state_eval_needed = True
        return True

    def bind_slot(self, slot: int, node: NodeRecord) -> None:
        self.del_slot(slot)
        self.add_slot(node, slot)

    def del_node_slots(self, node: NodeRecord) -> int:
        removed = 0
        for slot in list(bitmap_slots(node.slots)):
            if self.slot_owner[slot] is node:
                self.del_slot(slot)
                removed += 1
            else:  # keep the bitmap honest even if the tables ever diverged
                bitmap_clear(node.slots, slot)
                node.num_slots -= 1
        return removed

    def slot_unclaimed(self, slot: int) -> bool:
        return self.slot_owner[slot] is None or slot in self.not_claiming

    def node_slot_ranges(self, node: NodeRecord) -> list[tuple[int, int]]:
        return bitmap_ranges(node.slots)

    def assigned_slot_count(self) -> int:
        return sum(1 for owner in self.slot_owner if owner is not None)

    def advertised_slots(self) -> bytes:
        """The myslots bitmap we send: ours if master, our master's if replica."""
        target = self.my_master_or_me()
        return bytes(target.slots) if target is not None else bytes(SLOT_BITMAP_BYTES)

    def update_bitmap_for(self, node: NodeRecord) -> bytes:
        """Bitmap for an UPDATE about `node`: its slots minus those it no longer claims, so
        we never tell anyone to bind a slot to an owner that has let go of it."""
        bitmap = bytearray(node.slots)
        for slot in self.not_claiming:
            if self.slot_owner[slot] is node:
                bitmap_clear(bitmap, slot)
        return bytes(bitmap)

    # --- reset -------------------------------------------------------------------------

    def reset(self, *, hard: bool, now_ms: int) -> None:
        """CLUSTER RESET: forget everyone (without blacklisting), drop all slots and open
        slot marks, become a master. HARD also zeroes epochs and takes a new identity, so
        the node can join a different cluster as if freshly installed."""
        myself = self.myself
        if myself.is_replica:
            self.set_node_as_master(myself)
        self.migrating_to.clear()
        self.importing_from.clear()
        for slot in range(CLUSTER_SLOTS):
            self.del_slot(slot)
        for node in self.others():
            self.del_node(node)
        myself.fail_reports.clear()
        if hard:
            self.current_epoch = 0
            self.last_vote_epoch = 0
            myself.config_epoch = 0
            new_id = self.id_factory()
            self.rename_node(myself, new_id)
        self.mark_dirty(fsync=True, update_state=True)
