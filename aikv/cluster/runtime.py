"""The cluster runtime of one node: state + bus engine + links + nodes.conf.

The server calls `start_cluster(server)` before accepting clients; it then holds the
`ClusterNode` as `server.cluster`, calls `flush_config()` at the end of every event-loop
tick (before replies leave) and `stop()` on shutdown. Routing of keyed commands is
installed as `server.router`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aikv.bus.gossip import (
    Action,
    Close,
    Connect,
    Deliver,
    DurableSave,
    Gossip,
    Link,
    PauseWrites,
    ResumeWrites,
    Send,
    SlotsLostWithKeys,
)
from aikv.bus.link import BusTransport
from aikv.bus.wire import MSG_TYPE_COUNT, Message
from aikv.cluster import failure
from aikv.cluster import nodeflags as nf
from aikv.cluster.announce import Announce
from aikv.cluster.confmodel import from_nodes_conf, nodes_conf_text
from aikv.cluster.election import NEVER_SYNCED_AGE_MS, FailoverSettings
from aikv.cluster.routing import blocked_client_error, route
from aikv.cluster.slots import key_hash_slot
from aikv.cluster.state import LINK_CONNECTING, ClusterState, NodeRecord
from aikv.commands import redis_table
from aikv.pause import PAUSE_DURING_FAILOVER
from aikv.persist.nodesconf import (
    NodesConfLock,
    load_nodes_conf,
    lock_nodes_conf,
    save_nodes_conf,
)
from aikv.resp import error

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.commands.registry import Command

log = logging.getLogger("aikv.cluster")

CLUSTER_PORT_INCR = 10000
CRON_PERIOD_S = 0.1


def now_ms() -> int:
    return int(time.time() * 1000)


class ClusterNode:
    def __init__(self, server: Any) -> None:
        self.server = server
        config = server.config
        self.config = config
        self.path = os.path.join(config.dir, config.cluster_config_file)
        self.port = int(config.cluster_announce_port or config.port)
        bus_port = int(config.cluster_port or (int(config.port) + CLUSTER_PORT_INCR))
        self.bus_port = bus_port
        self.announced_bus_port = int(config.cluster_announce_bus_port or bus_port)
        self.announce = Announce(ip=config.cluster_announce_ip, hostname=config.cluster_announce_hostname)
        # The cluster-announce-ip last applied to myself; "" = none (learn it from MEETs).
        self._applied_announce_ip = ""
        self.lock: NodesConfLock | None = None
        self.state: ClusterState = ClusterState(node_timeout=int(config.cluster_node_timeout))
        self.gossip: Gossip = Gossip(self.state, self.announce, has_keys_in_slot=self._has_keys_in_slot)
        self.transport: BusTransport | None = None
        self._cron: asyncio.TimerHandle | None = None
        self._cron_count = 0
        self._durable_save_pending = False
        # Hook for the server: deliver a PUBLISH/PUBLISHSHARD received from the bus to
        # local subscribers.
        self.on_publish: Callable[[bytes, bytes, bool], None] | None = None
        self.links_buffer_limit_exceeded = 0

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.lock = lock_nodes_conf(self.path)
        conf = load_nodes_conf(self.path)
        timeout = int(self.config.cluster_node_timeout)
        if conf is None:
            self.state = ClusterState(node_timeout=timeout)
            log.warning("No cluster configuration found, I'm %s", self.state.myself.node_id)
            fresh = True
        else:
            self.state = from_nodes_conf(conf, now_ms=now_ms(), node_timeout=timeout)
            log.warning("Node configuration loaded, I'm %s", self.state.myself.node_id)
            fresh = False
        self._apply_config()
        self.gossip = Gossip(self.state, self.announce, has_keys_in_slot=self._has_keys_in_slot)
        self._wire_failover()
        if fresh:
            self.save(fsync=True)
        else:
            self._verify_config_with_data()
        loop = asyncio.get_running_loop()
        values = self.server.config.values
        self.transport = BusTransport(loop, on_message=self._on_message, on_up=self._on_up, on_down=self._on_down,
                                      on_drop=self._on_drop,
                                      source_address=lambda: values["bind-source-addr"])
        await self.transport.listen(self.config.bind, self.bus_port)
        self._cron = loop.call_later(CRON_PERIOD_S, self._cron_tick)

    async def stop(self) -> None:
        if self._cron is not None:
            self._cron.cancel()
            self._cron = None
        if self.transport is not None:
            await self.transport.stop()
        if self._durable_save_pending and self.lock is not None:
            self.save(fsync=True)
            self._durable_save_pending = False
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def config_changed(self) -> None:
        """CONFIG SET of a cluster-* parameter: applied before the reply, as Redis's
        apply functions do (CLUSTER NODES/SLOTS/SHARDS show a new hostname at once)."""
        self._apply_config()

    def _apply_config(self) -> None:
        st = self.state
        st.node_timeout = int(self.config.cluster_node_timeout)
        st.require_full_coverage = bool(self.config.cluster_require_full_coverage)
        st.allow_replica_migration = bool(self.config.cluster_allow_replica_migration)
        st.migration_barrier = int(self.config.values["cluster-migration-barrier"])
        # clusterUpdateMyselfFlags: cluster-replica-no-failover shows as our "nofailover"
        # flag (CLUSTER NODES, nodes.conf, every header we send), whatever our role.
        wanted = nf.NOFAILOVER if self.config.values["cluster-replica-no-failover"] else 0
        me = st.myself
        if me.flags & nf.NOFAILOVER != wanted:
            me.flags = (me.flags & ~nf.NOFAILOVER) | wanted
            st.mark_dirty(update_state=True)
        self.gossip.failover.settings = self._failover_settings()
        self._apply_announce()

    def _apply_announce(self) -> None:
        """Put the cluster-announce-* parameters into our own record, which is what every
        header, gossip entry and CLUSTER NODES/SLOTS/SHARDS line is built from. Redis does
        this at start and on CONFIG SET (deriveAnnouncedPorts, clusterUpdateMyselfIp and
        -Hostname); AiKv also runs it from the cron, so a CONFIG SET counts within a tick."""
        config = self.config
        me = self.state.myself
        self.port = int(config.cluster_announce_port or config.port)
        self.announced_bus_port = int(config.cluster_announce_bus_port or self.bus_port)
        me.port = self.port
        me.cport = self.announced_bus_port
        hostname = str(config.cluster_announce_hostname or "")
        self.announce.hostname = me.hostname = hostname
        ip = str(config.cluster_announce_ip or "")
        if ip != self._applied_announce_ip:
            # As clusterUpdateMyselfIp: an announced address replaces ours; removing it
            # empties ours, so that the next MEET or PING teaches us the real one. With no
            # announced address ever set, the address from nodes.conf stays.
            self._applied_announce_ip = ip
            self.announce.ip = ip
            me.ip = ip

    # --- failover ----------------------------------------------------------------------

    def _wire_failover(self) -> None:
        """What the bus engine's elections need from this process: the settings, the
        age of our replicated data, and our replication offset at the moment a header
        is built (a paused master's first PAUSED ping must carry its final offset)."""
        self.gossip.failover.settings = self._failover_settings()
        self.gossip.failover.data_age_ms = self._replication_data_age_ms
        self.gossip.repl_offset_now = self._repl_offset_now

    def _failover_settings(self) -> FailoverSettings:
        values = self.config.values
        return FailoverSettings(validity_factor=int(values["cluster-replica-validity-factor"]),
                                repl_ping_period_ms=int(values["repl-ping-replica-period"]) * 1000)

    def _replication_data_age_ms(self) -> int:
        """Redis's data_age: ms since the link to our master last heard from it, or since
        it went down; with no link at all, "forever"."""
        link = getattr(self.server, "replica", None)
        if link is None:
            return NEVER_SYNCED_AGE_MS
        # ReplicaLink keeps time.monotonic() seconds.
        since = link.last_io if getattr(link, "state", "") == "connected" else getattr(link, "down_since", None)
        if since is None:
            return 0
        return max(0, int((time.monotonic() - since) * 1000))

    def _repl_offset_now(self) -> int:
        link = getattr(self.server, "replica", None)
        if link is not None:
            # Receiving or loading a full synchronisation: no data yet (Redis's
            # replicationGetSlaveOffset has neither master nor cached master then), so
            # peers hide this replica from CLUSTER SLOTS / SHARDS meanwhile.
            return 0 if link.state == "sync" else int(link.offset)
        source = getattr(self.server, "replication", None)
        return int(source.offset) if source is not None else 0

    def manual_failover(self, mode: str) -> None:
        """CLUSTER FAILOVER [FORCE|TAKEOVER] (preconditions checked by the command). A
        TAKEOVER is saved (fsync) before the PONGs announcing it leave."""
        self.apply(self.gossip.manual_failover(mode, now_ms()))

    def manual_failover_in_progress(self) -> bool:
        """A master with writes paused for a replica's manual failover: its replication
        stream must not grow (no PING to replicas), or the offset it advertised as final
        would be wrong."""
        return self.gossip.failover.paused_master

    def _verify_config_with_data(self) -> None:
        """Keys in slots we do not own, found at startup: take unassigned slots, mark the
        others as importing, so `redis-cli --cluster fix` can see and repair them."""
        if not self.state.myself.is_master:
            return
        db0 = self._db0()
        if db0 is None or not db0.size():
            return
        changed = False
        for slot in range(len(self.state.slot_owner)):
            owner = self.state.slot_owner[slot]
            if owner is self.state.myself or slot in self.state.importing_from:
                continue
            if db0.count_in_slot(slot) == 0:
                continue
            changed = True
            if owner is None:
                self.state.add_slot(self.state.myself, slot)
            else:
                self.state.importing_from[slot] = owner
        if changed:
            self.save(fsync=True)

    # --- persistence -------------------------------------------------------------------

    def save(self, *, fsync: bool) -> None:
        save_nodes_conf(self.path, nodes_conf_text(self.state), fsync, self.lock)
        self.state.save_needed = self.state.fsync_needed = False

    def flush_config(self, defer_fsync: bool = False) -> None:
        """Write nodes.conf if something changed. Called at the end of every tick, so a
        command's reply never leaves before the change it made is on disk.

        With `defer_fsync` (changes learned from the bus, which no reply waits for) a
        change that wants an fsync is written in place at once — safe against a crash of
        this process — and made durable (temp file, fsync, rename) by the next cron run,
        at most 100 ms later. A reshard makes every node re-bind a slot from gossip several
        times a second; a durable save each time (~1.5 ms here) would dominate it."""
        st = self.state
        if st.state_eval_needed:
            failure.update_state(st, now_ms())
        if st.save_needed:
            self._drop_foreign_shard_channels()
            fsync = st.fsync_needed
            try:
                if fsync and defer_fsync:
                    self.save(fsync=False)
                    self._durable_save_pending = True
                else:
                    self.save(fsync=fsync)
                    if fsync:
                        self._durable_save_pending = False
            except OSError:
                # A node that cannot persist its configuration could come back with an
                # older epoch and steal slots: stop, as Redis does.
                log.critical("Fatal: can't update cluster config file.")
                os._exit(1)

    def _drop_foreign_shard_channels(self) -> None:
        """Subscribers of shard channels whose slot this shard no longer serves are
        unsubscribed (with an sunsubscribe push), as Redis does when a slot is deleted
        from under it. Checked on configuration changes only; there are few channels."""
        pubsub = getattr(self.server, "pubsub", None)
        if pubsub is None or not pubsub.shard_channels:
            return
        channels = pubsub.shard_channels
        myself = self.state.myself
        served_by = myself.master_id if myself.is_replica else myself.node_id
        foreign = []
        for channel in list(channels):
            owner = self.state.slot_owner[key_hash_slot(channel)]
            if owner is None or owner.node_id != served_by:
                foreign.append(channel)
        if foreign:
            pubsub.drop_shard_channels(foreign)

    # --- bus events --------------------------------------------------------------------

    def _cron_tick(self) -> None:
        try:
            # CONFIG SET of cluster-node-timeout, -require-full-coverage and the
            # announce-* parameters counts from the next tick, as in Redis where they are
            # read where used.
            self._apply_config()
            self._free_links_over_limit()
            actions = self.gossip.tick(now_ms())
            if self._durable_save_pending:
                self.state.save_needed = self.state.fsync_needed = True
            self.apply(actions)
            self._follow_master()
            self._cron_count += 1
            if self._cron_count % 10 == 0:
                self._redirect_blocked_clients()
            if self.lock is not None:
                self.lock.close_retired()
        except Exception:
            log.exception("cluster cron failed")
        loop = asyncio.get_running_loop()
        self._cron = loop.call_later(CRON_PERIOD_S, self._cron_tick)

    def _free_links_over_limit(self) -> None:
        """cluster-link-sendbuf-limit: a link whose unsent bytes pass it (a peer that
        stopped reading) is freed, counted in CLUSTER INFO, and reconnected by the cron
        (Redis's clusterNodeCronFreeLinkOnBufferLimitReached)."""
        limit = self.config.values["cluster-link-sendbuf-limit"]
        transport = self.transport
        if not limit or transport is None:
            return
        gossip = self.gossip
        for table in (gossip.outbound, gossip.inbound):
            for node, link in list(table.items()):
                used = transport.buffer_sizes(link)[0]
                if used > limit:
                    log.warning("Freeing cluster link(%s node %.40s, used memory: %d) due to "
                                "exceeding send buffer memory limit.",
                                "from" if link.inbound else "to", node.node_id, used)
                    self.apply(gossip.free_link(link))
                    self.links_buffer_limit_exceeded += 1

    def _follow_master(self) -> None:
        """Keep the server's replication link in step with our role, every cron: a
        replica follows its master's data (CLUSTER REPLICATE, a restart as a replica,
        a master that changed), a node that became a master stops following and keeps
        the data it has (a promotion). A master that is failing keeps its link, which
        retries. The bus header carries our replication offset (replicas are ranked by
        it in elections)."""
        server = self.server
        myself = self.state.myself
        wanted: tuple[str, int] | None = None
        if myself.is_replica and myself.master_id:
            master = self.state.lookup(myself.master_id)
            if master is not None and master.ip and master.port:
                wanted = (master.ip, master.port)
        link = server.replica
        current = None if link is None else (link.host, link.port)
        if wanted != current:
            if wanted is None:
                log.warning("MASTER MODE enabled: no longer replicating %s", current)
            else:
                log.warning("Replicating %s:%d (cluster master %s)", *wanted, myself.master_id)
            server.replicate_from(wanted)
            link = server.replica
        myself.repl_offset = self._repl_offset_now()

    def _redirect_blocked_clients(self) -> None:
        """About once a second, as Redis's client cron does: a client blocked on keys whose
        slot moved away (or whose cluster went down) gets the redirection instead of
        waiting forever."""
        blocking = getattr(self.server, "blocking", None)
        if blocking is None:
            return
        for client, keys in blocking.waiting_clients():
            err = blocked_client_error(self.state, keys,
                                       self.config.values["cluster-preferred-endpoint-type"])
            if err is not None:
                blocking.fail(client, error(err))
        self.server.schedule_tick()

    def _on_drop(self, link: Link, msg_type: int) -> None:
        if 0 <= msg_type < MSG_TYPE_COUNT:
            self.gossip.stats.received[msg_type] += 1

    # Bus events: what they change is written at once and made durable by the cron (see
    # flush_config); no reply waits for them.

    def _on_message(self, link: Link, msg: Message) -> None:
        self.apply(self.gossip.on_message(link, msg, now_ms()), defer_fsync=True)

    def _on_up(self, link: Link) -> None:
        self.apply(self.gossip.on_link_up(link, now_ms()), defer_fsync=True)

    def _on_down(self, link: Link) -> None:
        self.apply(self.gossip.on_link_down(link, now_ms()), defer_fsync=True)

    def apply(self, actions: list[Action], *, defer_fsync: bool = False) -> None:
        """Carry out the engine's actions, after persisting whatever the event that
        produced them changed, as Redis does (its bus writes go out after beforeSleep
        saved nodes.conf): a peer must never learn a claim or an epoch that a crash of
        this process could take back. A chaos run found the hole this closes: a node
        killed between the PONG announcing an imported slot and its end-of-tick save
        came back without the slot the others had re-bound to it.

        A DurableSave in the batch (a vote, an election, a promotion) forbids deferring
        the fsync: those sends must not leave before the change is durable."""
        if defer_fsync and any(isinstance(act, DurableSave) for act in actions):
            defer_fsync = False
        self.flush_config(defer_fsync=defer_fsync)
        transport = self.transport
        for act in actions:
            if isinstance(act, Send):
                if transport is not None:
                    transport.send(act.link, act.data)
            elif isinstance(act, Connect):
                if transport is None:
                    act.node.link = 0
                    continue
                node = act.node
                node.link = LINK_CONNECTING
                link = Link(inbound=False, node=node, ctime=now_ms())
                transport.connect(link, node.ip, node.cport)
            elif isinstance(act, Close):
                if transport is not None:
                    transport.close(act.link)
            elif isinstance(act, Deliver):
                self._deliver(act)
            elif isinstance(act, SlotsLostWithKeys):
                self._slots_lost_with_keys(act.slots, act.claimant)
            elif isinstance(act, PauseWrites):
                self.server.pause(writes_only=True, end_ms=act.end_ms,
                                  purpose=PAUSE_DURING_FAILOVER)
            elif isinstance(act, ResumeWrites):
                # Only our own pause: one by CLIENT PAUSE stays.
                self.server.unpause(PAUSE_DURING_FAILOVER)

    def _deliver(self, act: Deliver) -> None:
        if self.on_publish is not None:
            self.on_publish(act.channel, act.message, act.shard)
            return
        from aikv.pubsub import deliver_publish

        deliver_publish(self.server, act.channel, act.message, act.shard)
        schedule = getattr(self.server, "schedule_tick", None)
        if schedule is not None:
            schedule()

    # --- data helpers ------------------------------------------------------------------

    def _db0(self) -> Any:
        dbs = getattr(self.server, "databases", None)
        return dbs[0] if dbs else None

    def _has_keys_in_slot(self, slot: int) -> bool:
        db0 = self._db0()
        return bool(db0 is not None and db0.count_in_slot(slot))

    def count_keys_in_slot(self, slot: int) -> int:
        db0 = self._db0()
        return int(db0.count_in_slot(slot)) if db0 is not None else 0

    def keys_in_slot(self, slot: int, count: int) -> list[bytes]:
        db0 = self._db0()
        return list(db0.keys_in_slot(slot, count)) if db0 is not None else []

    def db_has_keys(self) -> bool:
        db0 = self._db0()
        return bool(db0 is not None and db0.size())

    def _slots_lost_with_keys(self, slots: list[int], claimant: str) -> None:
        """Another master's claim (a higher configEpoch, by gossip or UPDATE) took slots
        we still hold keys in. Redis deletes those keys. AiKv keeps them, on purpose: a
        failover takes all of a master's slots, and the master then becomes a replica
        of the winner (no slot reported here); a partial loss comes from an operator or
        a race, and these keys may be the only copy. One race is
        real: redis-cli 7.0's `--cluster fix` runs BUMPEPOCH on a migration's source and
        then moves the slot to the target; a target that has not yet heard of the new
        epoch takes the slot without a bump, and a stale claim of the source's arriving
        next takes it back, so Redis would drop the keys just imported and leave the
        slot uncovered. Here they stay (not served: the slot is not ours), and
        `redis-cli --cluster fix` covers the slot with the node that holds them."""
        db0 = self._db0()
        for slot in slots:
            count = db0.count_in_slot(slot) if db0 is not None else 0
            log.warning("Lost hash slot %d to %s while holding %d keys in it: keeping them "
                        "(redis-cli --cluster fix gives the slot back to the node holding "
                        "its keys)", slot, claimant, count)

    # --- services for commands ---------------------------------------------------------

    def publish(self, channel: bytes, message: bytes, *, shard: bool = False) -> None:
        self.apply(self.gossip.publish(channel, message, shard=shard))

    def broadcast_publish(self, channel: bytes, message: bytes, shard: bool) -> None:
        """Called by PUBLISH / SPUBLISH after local delivery."""
        self.publish(channel, message, shard=shard)

    def broadcast_pong(self) -> None:
        """Called by commands (SETSLOT NODE after an import): apply() saves the new claim
        (and fsyncs a new epoch) before the PONG that announces it leaves."""
        self.apply(self.gossip.broadcast_pong(now_ms()))

    def kill_links(self, node: NodeRecord, *, outbound: bool, inbound: bool) -> None:
        """Free the links with `node` that DEBUG CLUSTERLINK KILL names."""
        connecting = self.transport.connecting() if self.transport is not None else []
        self.apply(self.gossip.kill_links(node, outbound=outbound, inbound=inbound,
                                          connecting=connecting))

    def forget(self, node: NodeRecord) -> None:
        self.apply(self.gossip.forget_node(node, now_ms()))

    def become_replica_of(self, master: NodeRecord) -> None:
        """CLUSTER REPLICATE: we follow `master`: the cluster view changes (role, header
        `slaveof`, open slots closed) and the replication link starts at once."""
        st = self.state
        if st.myself.is_master:
            st.migrating_to.clear()
            st.importing_from.clear()
        st.set_node_as_replica(st.myself, master)
        st.mark_dirty(update_state=True)
        self._follow_master()

    def reset(self, *, hard: bool) -> None:
        """CLUSTER RESET. A replica becomes a master with no data: it stops following
        and empties every database, as Redis's clusterReset does."""
        was_replica = self.state.myself.is_replica
        self.apply(self.gossip.reset(hard=hard, now_ms=now_ms()))
        if was_replica:
            self._follow_master()
            server = self.server
            if server.tracking is not None:
                server.tracking.flushed()
            for db in server.databases:
                db.flush()

    def route(self, client: Client, cmd: Command, argv: list[bytes]) -> bytes | None:
        """The dispatcher's hook: None to run the command here, else the reply.

        Runs for every command in cluster mode, so the common case is decided first
        without building the full routing question: the cluster is up and all keys hash
        to one slot that we own and are not migrating, or one key of a slot we import
        asked for with ASKING. Then `route()` could only answer None (importing, ASKING
        and READONLY change nothing for a slot we serve); the profile put the general
        path at ~3 us of a 7 us pipelined GET. tests/unit/test_route_hook.py checks the
        shortcuts against `route()`."""
        st = self.state
        first = cmd.first_key  # 0 for EXEC, which routes its queued commands below
        if first and cmd.key_finder is None and first == cmd.last_key and st.state_ok:
            # One key at a fixed position (GET, SET, INCR, LPUSH, ...): arity was
            # checked, but a negative arity lets argv be shorter than first+1.
            if len(argv) <= first:
                return None
            slot = key_hash_slot(argv[first])
            owner = st.slot_owner[slot]
            if owner is st.myself:
                if slot not in st.migrating_to:
                    return None
            elif (owner is not None and slot in st.importing_from
                  and (getattr(client, "asking", False) or cmd.name == "restore-asking")):
                # An import with ASKING (every RESTORE-ASKING of a MIGRATE): with one key,
                # whether it already exists here cannot change the answer (route() looks
                # only to refuse multi-key commands with TRYAGAIN), so skip the lookup.
                return None
        if getattr(client, "is_master", False):
            return None  # our master's stream: it runs whatever the slots say
        if cmd.name == "exec":
            multi = getattr(client, "multi", None)
            if not multi:
                return None
            keys: list[bytes] = []
            is_write = False
            for queued_cmd, queued_argv in multi:
                keys.extend(routing_keys(queued_cmd, queued_argv))
                is_write = is_write or queued_cmd.is_write
        else:
            keys = routing_keys(cmd, argv)
            is_write = cmd.is_write
            if cmd.name in _SCRIPT_RUNS and keys:
                from aikv.commands.scripting import script_writes

                declared = script_writes(self.server, cmd, argv)
                if declared is not None:
                    is_write = declared
        if not keys:
            return None
        allow_when_down = bool(self.config.cluster_allow_reads_when_down)
        db0 = self._db0()
        key_exists = (lambda key: bool(db0.exists(key))) if db0 is not None \
            else (lambda key: False)
        if cmd.name in _SHARD_PUBSUB:
            if self.config.cluster_allow_pubsubshard_when_down:
                # Shard pub/sub keeps working while the cluster is down (Redis's default).
                allow_when_down, is_write = True, False
            # A channel is never "missing" in a migrating slot: the source serves it until
            # the slot's owner changes (getNodeByQuery skips the check for them).
            key_exists = _ALWAYS
            # A replica serves its master's shard channels without READONLY.
            shard_pubsub = True
        else:
            shard_pubsub = False
        decision = route(
            self.state,
            keys,
            is_write=is_write,
            key_exists=key_exists,
            asking=bool(getattr(client, "asking", False)) or cmd.name == "restore-asking",
            # A replica holds its master's data: READONLY clients read it here.
            readonly=shard_pubsub or bool(getattr(client, "readonly", False)),
            is_migrate=cmd.name == "migrate",
            allow_reads_when_down=allow_when_down,
            endpoint_type=self.config.values["cluster-preferred-endpoint-type"],
        )
        if decision is None:
            return None
        if cmd.name == "exec":
            # A redirected EXEC discards the transaction, as Redis does.
            discard = getattr(client, "discard_multi", None)
            if discard is not None:
                discard()
            else:
                client.multi = None
                client.multi_error = False
        return error(decision)


_SHARD_PUBSUB = frozenset({"spublish", "ssubscribe", "sunsubscribe"})


def routing_keys(cmd: Command, argv: list[bytes]) -> list[bytes]:
    """The keys getNodeByQuery routes by: getKeysFromCommand's, which for a command whose
    keys move with its arguments is the command's own getkeys function, not its key
    specs (ZUNIONSTORE with a numkeys atoi reads as 0 has no keys at all, not even its
    destination; ZDIFF's "1-1" counts as 1). So a malformed request is redirected or run
    here as Redis would, and gets the same error."""
    if cmd.key_finder is not None:
        ent = redis_table.entry(cmd.full_name)
        parser = ent.get("getkeys") if ent is not None else None
        if parser is not None:
            return [argv[pos] for pos, _ in redis_table.PARSERS[parser](argv)]
    return cmd.keys(argv)


def _ALWAYS(key: bytes) -> bool:  # noqa: N802 - a constant predicate
    return True
# Routed as writes or reads by their script's or function's flags (script_writes).
_SCRIPT_RUNS = frozenset({"eval", "eval_ro", "evalsha", "evalsha_ro", "fcall", "fcall_ro"})


async def start_cluster(server: Any) -> ClusterNode:
    node = ClusterNode(server)
    await node.start()
    server.cluster = node
    server.router = node.route
    return node
