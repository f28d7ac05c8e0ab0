"""The node: listener, event-loop tick (group commit, then replies), dispatcher, crons.

A tick is one pass of the event loop. Every client whose bytes arrived in that pass has
its commands executed at once; their writes share one LMDB write transaction. At the end
of the tick (`_end_tick`, scheduled with call_soon) the transaction is committed, cluster
config changes are saved, and only then do the replies of the tick leave — so a client
never sees an acknowledgement for data that is not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
import time
import weakref
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from aikv import __version__, acl, logging_setup, rdbsave, shutdown
from aikv.acllog import AclLog
from aikv.blocking import BlockedState
from aikv.client import Client
from aikv.commands import load_all
from aikv.commands.registry import Command, command_table
from aikv.config import Config
from aikv.crash import Watchdog
from aikv.info import MASTER_REPLID, persistence_state, start_sampler
from aikv.keyspace import Clock, Database, LookupStats
from aikv.latency import LatencyMonitor
from aikv.listen import ListenError, NothingToListenOn, open_sockets, serve_on
from aikv.monitor import monitor_args, quote_arg
from aikv.notify import EXPIRED, KeyEvents
from aikv.oom import OomScore
from aikv.pause import (
    PAUSE_ALL,
    PAUSE_BY_CLIENT,
    PAUSE_FOREVER,
    PAUSE_OFF,
    PAUSE_WRITE,
    add_pause,
    pause_in_force,
)
from aikv.persist.elements import reclaim
from aikv.persist.store import Store, StoreFullError
from aikv.pubsub import get_pubsub
from aikv.replica import READONLY, ReplicaLink, parse_master, stop_link
from aikv.replication.backlog import Backlog
from aikv.replication.failover import Failover
from aikv.replication.propagate import Frame, Sink
from aikv.replication.source import LoneWaits, ReplicationSource
from aikv.resp import QUEUED, CommandError, CommandRejected, error, logged_error
from aikv.slowlog import SlowLog
from aikv.supervised import Supervision
from aikv.tracking import Tracking

log = logging.getLogger("aikv")

# Commands that run immediately even inside MULTI.
_MULTI_IMMEDIATE = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})
_NAME_CACHE_MAX = 4096
_RECLAIM_BATCH = 1000  # element records per reclaim() call in the active-expire cron

# redis-server 7.0.15's texts (networking.c).
MAXCLIENTS_ERROR = b"-ERR max number of clients reached\r\n"
MAXCLIENTS_CLUSTER_ERROR = b"-ERR max number of clients + cluster connections reached\r\n"
PROTECTED_MODE_ERROR = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no "
    b"password is set for the default user. In this mode connections are only accepted "
    b"from the loopback interface. If you want to connect from external computers to "
    b"Redis you may adopt one of the following solutions: 1) Just disable protected mode "
    b"sending the command 'CONFIG SET protected-mode no' from the loopback interface by "
    b"connecting to Redis from the same host the server is running, however MAKE SURE "
    b"Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to "
    b"make this change permanent. 2) Alternatively you can just disable the protected "
    b"mode by editing the Redis configuration file, and setting the protected mode option "
    b"to 'no', and then restarting the server. 3) If you started the server manually just "
    b"for testing, restart it with the '--protected-mode no' option. 4) Setup a an "
    b"authentication password for the default user. NOTE: You only need to do one of the "
    b"above things in order for the server to start accepting connections from the "
    b"outside.\r\n"
)


def protected_mode_denies(protected_mode: bool, requirepass: str, peer_host: str | None) -> bool:
    """Redis 7.0's rule: with protected mode on and no password for the default user,
    only the loopback addresses (exactly 127.0.0.1 and ::1; 127.0.0.5 is refused) and
    Unix sockets (no peer host) may connect. The bind address plays no part since 7.0."""
    if not protected_mode or requirepass or peer_host is None:
        return False
    return peer_host not in ("127.0.0.1", "::1")


def disk_error_reply(text: str) -> str:
    """Redis's reply for writes while the AOF cannot be written (the closest analogue of a
    failed LMDB commit): writeCommandsGetDiskErrorMessage."""
    return f"MISCONF Errors writing to the AOF file: {text}"


NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
# stop-writes-on-bgsave-error (shared.bgsaveerr).
BGSAVE_MISCONF = ("MISCONF Redis is configured to save RDB snapshots, but it's currently "
                  "unable to persist to disk. Commands that may modify the data set are "
                  "disabled, because this instance is configured to report errors during "
                  "writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). "
                  "Please check the Redis logs for details about the RDB error.")
UNBLOCKED_ROLE_CHANGE = (b"-UNBLOCKED force unblock from blocking operation, instance state "
                         b"changed (master -> replica?)\r\n")
MASTERDOWN = ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to "
              "'no'.")


# Read-only script runs track nothing themselves: the reads their scripts make do (see
# RunContext.execute).
_SCRIPT_RUNS_RO = frozenset(("eval_ro", "evalsha_ro", "fcall_ro"))
_SCRIPT_RUNS = _SCRIPT_RUNS_RO | {"eval", "evalsha", "fcall"}
OOM = "OOM command not allowed when used memory > 'maxmemory'."
# Commands whose effects (the expired keys they meet) are not one transaction when they
# are sent directly (Redis's CMD_TOUCHES_ARBITRARY_KEYS).
_TOUCHES_ARBITRARY_KEYS = frozenset(("scan", "randomkey"))


class Server:
    def __init__(self, config: Config) -> None:
        load_all()
        self.config = config
        # Every command by name, after the config's rename-command directives.
        self.command_table = command_table(config.renames)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.store = Store(config.dir, config.databases, config.appendfsync,
                           config.lmdb_initial_map_size, config.lmdb_writemap,
                           config.lmdb_tick_log, config.lmdb_tick_log_checkpoint_ms)
        self.clock = Clock()
        self.databases: list[Database] = []
        self.clients: dict[int, Client] = {}
        self.pending_clients: list[Client] = []
        self._tick_scheduled = False
        self._servers: list[asyncio.AbstractServer] = []  # one per `bind` address
        self._listen_sockets: list[socket.socket] = []  # theirs (see rebind)
        self._serve_task: asyncio.Task[list[asyncio.AbstractServer]] | None = None
        self._unix_server: asyncio.AbstractServer | None = None
        self._stopping: asyncio.Event | None = None
        self._sync_thread: threading.Thread | None = None
        self._sync_stop = threading.Event()
        self._crons: list[asyncio.TimerHandle] = []
        self._clients_cron: asyncio.TimerHandle | None = None
        # Set when a write of this tick could not be committed (see _commit_failed): the
        # tick's clients then get an error instead of their replies.
        self._tick_lost = False
        self._tick_wrote = False
        # Command names as clients spell them -> Command (lookup_command fills both);
        # data_commands has only the data commands (Command.data), for Client._run.
        self.command_cache: dict[bytes, Command] = {}
        # Clients in MONITOR mode (usually none: call() tests this list's truth only).
        self.monitors: list[Client] = []
        self.data_commands: dict[bytes, Command] = {}
        self.started_at = time.time()
        self.cluster: Any = None  # aikv.cluster runtime when cluster mode is on
        self.router: Callable[[Client, Command, list[bytes]], bytes | None] | None = None
        self.pubsub: Any = None
        # EVAL: the script engine (aikv.scripting.engine.Engine) and the client its
        # redis.call commands run as; both made by the first script.
        self.scripting: Any = None
        self.script_client: Client | None = None
        self.tracking: Tracking | None = None  # created by the first CLIENT TRACKING ON
        # Keyspace notifications; flags follow notify-keyspace-events (see _apply).
        self.key_events = KeyEvents(self._publish_key_event)
        self.key_events.flags = config.values["notify-keyspace-events"]
        self.lookups = LookupStats()
        self.acl_log = AclLog()  # ACL LOG: denied commands and failed authentications
        # ACL users by name (aikv/acl.py); `default` has requirepass as its password.
        self.acl_users: dict[bytes, acl.User] = {b"default": acl.default_user(config.requirepass)}
        self.blocking: Any = None
        # The EVAL/FCALL running now (commands/scripting.RunContext), for SCRIPT KILL and
        # FUNCTION STATS; `busy` while it runs past busy-reply-threshold (aikv/busy.py).
        self.running_script: Any = None
        self.busy: Any = None
        self.loading: Any = None  # a replica's full-sync load (replica.LoadProgress)
        self.deferred: dict[int, list[list[bytes]]] = {}
        self.shutdown_requested = False
        self.restart_delay_ms: int | None = None  # DEBUG RESTART (aikv/restart.py)
        self.output_limit_floor = 0  # set_output_limit_floor
        self.set_output_limit_floor()
        # aikv/shutdown.py: a shutdown waiting for replicas; a signal the cron acts on.
        self.shutting_down: shutdown.ShuttingDown | None = None
        self.shutdown_signal: int | None = None
        self.active_expire_enabled = True  # DEBUG SET-ACTIVE-EXPIRE
        self.cron_paused = False  # DEBUG PAUSE-CRON
        self.script_deny_disabled = False  # DEBUG SET-DISABLE-DENY-SCRIPTS
        # Client pauses by purpose (aikv/pause.py); the one applied, PAUSE_WRITE or
        # PAUSE_ALL until pause_end (wall clock, ms); the clients it holds, and the timer
        # that lifts it.
        self.pauses: dict[str, tuple[int, int]] = {}
        self.pause_mode = PAUSE_OFF
        self.pause_end = 0
        self.postponed_clients: list[Client] = []
        self._pause_timer: asyncio.TimerHandle | None = None
        self.last_save = int(time.time())
        # INFO stats
        self.stat_commands = 0
        self.stat_connections = 0
        self.stat_rejected_connections = 0
        self.stat_unexpected_error_replies = 0  # errors a replica's master commands got
        # Synchronisations served to replicas, whatever the role changes since.
        self.stat_sync_full = 0
        self.stat_sync_partial_ok = 0
        self.stat_sync_partial_err = 0
        self.stat_net_input_bytes = 0
        self.stat_net_output_bytes = 0
        # Socket reads that brought data, and reply writes (INFO total_*_processed).
        self.stat_reads_processed = 0
        self.stat_writes_processed = 0
        self.stat_protocol_errors = 0
        self.stat_error_replies = 0
        self._errors_seen = 0  # stat_error_replies when the last command finished
        self.error_counts: dict[str, int] = {}
        self.slowlog = SlowLog()
        self.slowlog_threshold = 0  # see set_slowlog_threshold
        self.set_slowlog_threshold()
        self.latency = LatencyMonitor()
        self.latency_threshold_us = 0  # see set_latency_threshold
        self.set_latency_threshold()
        self.latency_tracking = bool(self.config.values["latency-tracking"])
        self.replica: ReplicaLink | None = None  # set while this node follows a master
        # The log's role letter (S while following a master), as Redis's log lines show.
        this = weakref.ref(self)
        logging_setup.set_role(
            lambda: "S" if (node := this()) is not None and node.replica is not None else "M")
        # Master side: where the effects of commands go once a replica has connected
        # (see start_propagating), and the command being run meanwhile.
        self.propagator: Sink | None = None
        self.propagation_frame: Frame | None = None
        # The replicas of this node and the replication stream (made by the first
        # replica's SYNC / PSYNC, or by a promotion: aikv/replication/source.py).
        self.replication: ReplicationSource | None = None
        self.lone_waits = LoneWaits(self)  # WAIT before any replica (source.py)
        # A master's stream position while it has no source: the offset stays where the
        # last one reached, under a new id once its backlog is freed (Redis keeps
        # master_repl_offset and calls changeReplicationId). The next source starts there.
        self.idle_stream_position: tuple[str, int] = (MASTER_REPLID, 0)
        self.failover: Failover | None = None  # FAILOVER in progress (replication/failover.py)
        self.replicas_required = False  # see update_write_gates
        self.bgsave_refusal = False  # see update_write_gates
        self.read_only_replica = False
        self.writes_gated = False
        self.no_stale_data = False
        self._no_direct_path = False
        self.out_of_memory = False  # see update_memory_state
        # A writable replica's own keys with a deadline, (db index, key): its master's
        # keys expire by the master's DELs, these by this node (Redis's
        # slaveKeysWithExpire). Kept in memory, as in Redis.
        self.writable_replica = False
        self.replica_expires: set[tuple[int, bytes]] = set()
        self.update_write_gates()
        self.oom_score = OomScore()
        self.watchdog = Watchdog(self)  # watchdog-period (a thread only while it is on)
        self.supervision = Supervision("no")  # systemd's, set by aikv/cli.py
        self.apply_oom_score()
        # WATCHed (db, key) -> ids of the clients watching it.
        self._watchers: dict[tuple[int, bytes], set[int]] = {}
        # (database, key) that lookups found past their deadline, to delete after the
        # command (see note_found_expired).
        self.found_expired: dict[tuple[Database, bytes], None] = {}

    # ------------------------------------------------------------------ lifecycle
    def open_storage(self) -> float:
        """Lock --dir and open LMDB; returns the seconds it took (no load phase)."""
        started = time.perf_counter()
        self.store.open()
        self.databases = [
            Database(self.store, i, self.clock, self._key_modified, self.key_events,
                     self.lookups)
            for i in range(self.config.databases)
        ]
        for db in self.databases:
            db.found_expired = self.found_expired
            db.on_found_expired = self.note_found_expired
        return time.perf_counter() - started

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self.config.cluster_enabled:
            from aikv.cluster.runtime import start_cluster

            await start_cluster(self)
        backlog = self.config.values["tcp-backlog"]
        # Port 0: no TCP socket at all, as in Redis (the Unix socket may still serve).
        sockets: list[socket.socket] = []
        if self.config.port:
            sockets, _ = open_sockets(self.config.bind, self.config.port, backlog)
        self._listen_sockets = sockets
        self._servers = await serve_on(self.loop, lambda: Client(self), sockets, backlog)
        await self._listen_unix(backlog)
        if not sockets and self._unix_server is None:
            raise NothingToListenOn()
        self._start_crons()
        self.apply_watchdog()
        master = parse_master(self.config.values["replicaof"])
        if master is not None:
            self.replicate_from(master)
        else:
            self.replication = ReplicationSource.resume(self)
            if self.replication is not None:
                self.schedule_tick()  # this run's id goes into the stored position now
        start_sampler(self)  # INFO's instantaneous_* rates, sampled every 100 ms
        # Always started: CONFIG SET appendfsync can switch to everysec at run time, and
        # the thread only syncs while the store's policy is everysec.
        self._sync_thread = threading.Thread(target=self._everysec, name="aikv-fsync",
                                             daemon=True)
        self._sync_thread.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self.loop.add_signal_handler(sig, self._shutdown_signal, sig)
            except (NotImplementedError, RuntimeError):
                pass

    async def _listen_unix(self, backlog: int) -> None:
        """`unixsocket`: also accept clients on a Unix socket, as Redis does: a stale file
        at the path is removed first, `unixsocketperm` (octal, 0 = leave the umask's) is
        applied, and the file goes at shutdown."""
        path = self.config.values["unixsocket"]
        if not path:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._unix_server = await asyncio.get_running_loop().create_unix_server(
            lambda: Client(self), path=path, backlog=backlog)
        perm = self.config.values["unixsocketperm"]
        if perm:
            os.chmod(path, perm)
        log.info("The server is now ready to accept connections at %s", path)

    async def serve_until_stopped(self) -> None:
        assert self._stopping is not None
        await self._stopping.wait()
        await self.stop()

    def request_shutdown(self) -> None:
        if self._stopping is not None and not self._stopping.is_set():
            log.warning("Received shutdown request, scheduling shutdown...")
            self._stopping.set()

    def _shutdown_signal(self, sig: int) -> None:
        shutdown.on_signal(self, sig)

    async def stop(self) -> None:
        rdbsave.cancel_background(self)  # as Redis kills its saving child
        self.watchdog.stop()
        for handle in self._crons:
            handle.cancel()
        if self._clients_cron is not None:
            self._clients_cron.cancel()
        self._close_listeners()
        stop_link(self.replica)
        if self._unix_server is not None:
            self._unix_server.close()
            with contextlib.suppress(OSError):
                os.unlink(self.config.values["unixsocket"])
        self._end_tick()
        for client in list(self.clients.values()):
            client.close()
        if self.cluster is not None:
            await self.cluster.stop()
        self._sync_stop.set()
        if self._sync_thread is not None:
            self._sync_thread.join(timeout=5)
        self.store.close()
        log.warning("AiKv is now ready to exit, bye bye...")

    def exit_now(self) -> None:
        """SHUTDOWN NOSAVE while a script holds the loop (aikv/busy.py): the process
        exits from inside the script, as Redis's does. The tick's uncommitted writes,
        the script's among them, are dropped: no reply has acknowledged them (and
        Redis's AOF never receives a script it did not finish)."""
        from aikv.cli import in_dir

        try:
            self.store.abort()
            self.store.close()
        except Exception as exc:  # exiting all the same, as the user asked
            log.warning("Error closing the store: %s", exc)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.flush_config()
        for path in (self.config.values["unixsocket"] if self._unix_server else "",
                     in_dir(self.config, self.config.values["pidfile"])):
            if path:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        log.warning("AiKv is now ready to exit, bye bye...")
        logging.shutdown()
        os._exit(0)

    # ------------------------------------------------------------------ clients
    def client_connected(self, client: Client, peer_host: str | None = None) -> None:
        # Redis's order: the client count first (acceptCommonHandler), then protected
        # mode (clientAcceptHandler); both count as rejected connections.
        assert client.transport is not None
        cfg = self.config
        if len(self.clients) >= cfg.maxclients:
            self.stat_rejected_connections += 1
            client.transport.write(MAXCLIENTS_CLUSTER_ERROR if cfg.cluster_enabled
                                   else MAXCLIENTS_ERROR)
            client.closing = True
            client.transport.close()
            return
        # Redis asks whether the default user is nopass (requirepass or ACL SETUSER).
        if protected_mode_denies(cfg.protected_mode,
                                 "" if self.acl_users[b"default"].nopass else "set", peer_host):
            self.stat_rejected_connections += 1
            client.transport.write(PROTECTED_MODE_ERROR)
            client.closing = True
            client.transport.close()
            return
        self.clients[client.id] = client
        self.stat_connections += 1

    def client_disconnected(self, client: Client) -> None:
        self.clients.pop(client.id, None)
        self.stop_monitoring(client)
        self.deferred.pop(client.id, None)
        if client.postponed:
            client.postponed = False
            self.postponed_clients.remove(client)
        if self.tracking is not None:
            self.tracking.client_gone(client)
        self._unwatch_all(client)
        if self.pubsub is not None:
            self.pubsub.client_gone(client)
        if self.blocking is not None:
            self.blocking.client_gone(client)
        if self.replication is not None:
            self.replication.client_gone(client)
        if self.shutting_down is not None:
            shutdown.client_gone(self, client)
        if self.lone_waits.waiters:
            self.lone_waits.client_gone(client)

    def defer_commands(self, client: Client, commands: list[list[bytes]]) -> None:
        if commands:
            self.deferred.setdefault(client.id, []).extend(commands)

    def resume_client(self, client: Client) -> None:
        """A blocked client was served: run what it sent meanwhile."""
        queued = self.deferred.pop(client.id, None)
        if not queued:
            return
        for i, argv in enumerate(queued):
            self.dispatch(client, argv)
            if client.closing or client.close_after_reply:
                return
            if client.blocked is not None or client.postponed:
                self.defer_commands(client, queued[i + 1 :])
                return

    # ------------------------------------------------------------------ client pauses
    def pause(self, writes_only: bool, end_ms: int, purpose: str = PAUSE_BY_CLIENT) -> None:
        """Hold writes (or all commands) until `end_ms` (wall clock) for `purpose`
        (aikv/pause.py: CLIENT PAUSE, a failover); over a pause this purpose already has,
        the stricter mode and the later end win."""
        now = int(time.time() * 1000)
        if end_ms < now:  # CLIENT PAUSE 0: nothing to pause
            return
        pause_in_force(self.pauses, now)  # an ended pause is not extended
        add_pause(self.pauses, purpose, PAUSE_WRITE if writes_only else PAUSE_ALL, end_ms)
        self._apply_pauses()

    def unpause(self, purpose: str = PAUSE_BY_CLIENT) -> None:
        """End the pause of `purpose`; what another purpose holds stays held."""
        if self.pauses.pop(purpose, None) is not None:
            self._apply_pauses()

    def _apply_pauses(self) -> None:
        """Apply the strictest pause in force. When it gets milder the held clients run
        what they sent, in the order they were held (a command among them may be held
        again, or pause again)."""
        before = self.pause_mode
        self.pause_mode, self.pause_end = pause_in_force(self.pauses, int(time.time() * 1000))
        if self._pause_timer is not None:
            self._pause_timer.cancel()
            self._pause_timer = None
        if self.pause_mode and self.pause_end < PAUSE_FOREVER:
            assert self.loop is not None
            delay = (self.pause_end - int(time.time() * 1000)) / 1000 + 0.001
            self._pause_timer = self.loop.call_later(max(0.0, delay), self._pause_expired)
        if self.pause_mode < before:
            self._release_postponed()
            if self.replica is not None and self.replica.held:
                self.replica.run_held()
        if not self.pause_mode and self.replication is not None:
            self.replication.pause_lifted()

    def _release_postponed(self) -> None:
        held, self.postponed_clients = self.postponed_clients, []
        for client in held:
            client.postponed = False
            if client.closing:
                continue
            self.clock.refresh()
            self.resume_client(client)
            if not client.pending:
                client.pending = True
                self.pending_clients.append(client)
        self.schedule_tick()

    def _pause_expired(self) -> None:
        self._pause_timer = None
        self._apply_pauses()  # a timer that woke a little early is armed again

    def holds(self, client: Client, argv: list[bytes]) -> bool:
        """Whether the pause in force holds `argv` from `client` (the master's stream on
        a replica: Redis pauses its client as any other)."""
        cmd = self.command_for(argv)
        return cmd is not None and self._pauses(client, cmd, argv)

    def _pauses(self, client: Client, cmd: Command, argv: list[bytes]) -> bool:
        """Whether the pause in force holds this command (Redis's processCommand test:
        everything under ALL; under WRITE, writes and may-replicate commands, and an EXEC
        whose transaction holds one)."""
        if self.pause_mode == PAUSE_ALL:
            return True
        if self._may_replicate(cmd, argv):
            return True
        return cmd.name == "exec" and client.multi is not None and any(
            self._may_replicate(queued, args) for queued, args in client.multi)

    def _may_replicate(self, cmd: Command, argv: list[bytes]) -> bool:
        """A write or may-replicate command, as getCommandFlags says: a script or
        function with flags is a write unless it says no-writes, and never only
        may-replicate (scriptFlagsToCmdFlags)."""
        writes = self._script_writes(cmd, argv)
        if writes is not None:
            return writes
        return cmd.is_write or "may-replicate" in cmd.flags

    def _script_writes(self, cmd: Command, argv: list[bytes]) -> bool | None:
        """For a script or function run (EVAL, FCALL...): whether the flags it declares
        make it a write; None when it declares none (or `cmd` runs no script), and the
        command's own flags stand."""
        if cmd.name not in _SCRIPT_RUNS:
            return None
        from aikv.commands.scripting import script_writes

        return script_writes(self, cmd, argv)

    @property
    def stat_keyspace_hits(self) -> int:
        return self.lookups.hits

    @stat_keyspace_hits.setter
    def stat_keyspace_hits(self, value: int) -> None:
        self.lookups.hits = value

    @property
    def stat_expired_keys(self) -> int:
        return self.lookups.expired

    @stat_expired_keys.setter
    def stat_expired_keys(self, value: int) -> None:
        self.lookups.expired = value

    @property
    def stat_keyspace_misses(self) -> int:
        return self.lookups.misses

    @stat_keyspace_misses.setter
    def stat_keyspace_misses(self, value: int) -> None:
        self.lookups.misses = value

    def _publish_key_event(self, channel: bytes, message: bytes) -> None:
        get_pubsub(self).publish(channel, message)

    # ------------------------------------------------------------------ tick
    def schedule_tick(self) -> None:
        if not self._tick_scheduled:
            self._tick_scheduled = True
            assert self.loop is not None
            self.loop.call_soon(self._end_tick)

    def nothing_to_commit(self) -> bool:
        """True when replies produced now would not wait for anything at the end of the
        tick: no write transaction is open (with the tick log: no change of this tick
        awaits its frame), so no reply can show data not yet durable, and no cluster
        configuration change awaits its save."""
        if self.store.tick_pending() or self._tick_lost:
            return False
        cluster = self.cluster
        return cluster is None or not cluster.state.save_needed

    def _end_tick(self) -> None:
        self._tick_scheduled = False
        if self.found_expired:
            self.remove_found_expired()  # found outside a command (blocking, the bus)
        if self.replication is not None:
            self.replication.flush()  # this tick's stream, one write per replica
            self.replication.save_position()  # committed with the data it describes
        try:
            self.store.end_tick()
        except Exception as exc:
            self._commit_failed(exc)
        lost, self._tick_lost = self._tick_lost, False
        self._tick_wrote = False
        if self.cluster is not None:
            self.cluster.flush_config()
        if self.tracking is not None and self.tracking.prefixes:
            self.tracking.broadcast()  # BCAST invalidations, after this tick's replies
        pending = self.pending_clients
        self.pending_clients = []
        if lost:
            # Replies of this tick may acknowledge writes that were not committed, or show
            # data that never reached the disk: each client gets the disk error instead of
            # them, and is closed, since its other requests got no reply.
            refusal = self._error_reply(disk_error_reply(self.store.write_error or "?"))
            self._errors_seen = self.stat_error_replies
            for client in pending:
                client.out.clear()
                client.out.append(refusal)
                client.close_after_reply = True
        for client in pending:
            client.flush()

    def _commit_failed(self, exc: Exception) -> None:
        """A commit failed (disk full, I/O error): the transaction is gone. Writes are
        refused with MISCONF until a probe commit succeeds (see _clients_cron_run). A tick
        that ran write commands is lost; one that only expired keys lazily is not (its
        replies stand, the deletions are redone on a later access)."""
        store = self.store
        if store.write_error is None:
            store.write_error = "Input/output error"
        log.warning("Error committing the write transaction: %s (%s). Write commands are "
                    "refused until the disk accepts writes again.", store.write_error, exc)
        if self._tick_wrote:
            self._tick_lost = True

    # ------------------------------------------------------------------ dispatch
    def lookup_command(self, name: bytes) -> Command | None:
        cmd = self.command_cache.get(name)
        if cmd is None:
            cmd = self.command_table.get(name.lower())
            if cmd is not None and len(self.command_cache) < _NAME_CACHE_MAX:
                self.command_cache[name] = cmd
                if cmd.data and not (cmd.is_write and self.writes_gated) \
                        and not self._no_direct_path:
                    self.data_commands[name] = cmd
        return cmd

    def command_for(self, argv: list[bytes]) -> Command | None:
        """The command `argv` names, its subcommand when it names a known one (else the
        container itself): what a log line or a pause test needs, not execute()'s checks."""
        cmd = self.lookup_command(argv[0])
        if cmd is not None and cmd.subcommands and len(argv) > 1:
            cmd = cmd.subcommands.get(argv[1].decode(errors="replace").lower(), cmd)
        return cmd

    def dispatch(self, client: Client, argv: list[bytes]) -> None:
        if client.replica_state is not None and self._syncing(client):
            self._command_from_replica(client, argv)
            return
        reply = self.execute(client, argv)
        if client.postponed:
            # Held by CLIENT PAUSE: it has not run, so the state Redis resets after a
            # command (CLIENT REPLY SKIP, CLIENT CACHING) waits for it to run.
            client.out.append(b"")
            return
        if client.reply_off or client.reply_skip:
            if not client.reply_is_push:
                reply = b""  # CLIENT REPLY OFF / SKIP: the command ran, its reply is dropped
        client.reply_is_push = False
        client.out.append(reply)
        client.reply_skip = client.reply_skip_next
        client.reply_skip_next = False
        tracking = self.tracking
        if tracking is not None:
            if tracking.pending:
                tracking.send_pending(client)
            state = client.tracking
            # CLIENT CACHING covers the next command (or the whole transaction); CLIENT
            # subcommands in between do not spend it.
            if state is not None and state.caching and client.multi is None \
                    and argv[0].lower() != b"client":
                state.caching = False
        if client.monitor_echo:
            client.flush_monitor_echo()
        blocking = self.blocking
        if blocking is not None and blocking.ready and self.busy is None:
            # Serve clients blocked on keys this command (or EXEC) gave data to, before
            # the next command runs: Redis's handleClientsBlockedOnKeys. (Not while a
            # busy script runs: the keys it made ready are served once it is over.)
            blocking.handle_ready()

    def _syncing(self, client: Client) -> bool:
        """Whether `client` is a replica since its SYNC / PSYNC (Redis's CLIENT_SLAVE)."""
        source = self.replication
        return source is not None and client.id in source.followers

    def _command_from_replica(self, client: Client, argv: list[bytes]) -> None:
        """A replica's connection carries the replication stream to it, nothing else:
        keyspace commands are refused ("Replica can't interact with the keyspace"), and
        any command that would answer (REPLCONF ACK does not) disconnects the replica
        with the answer unsent, logged as Redis logs it."""
        cmd = self.command_for(argv)
        if cmd is not None and ("readonly" in cmd.flags or cmd.is_write
                                or "may-replicate" in cmd.flags):
            reply = self._reject(client, "ERR Replica can't interact with the keyspace", cmd)
        else:
            reply = self.execute(client, argv)
        if not reply:
            client.out.append(b"")  # (dispatch's callers read the reply it queued)
            return
        from aikv.commands.connection import describe

        name = "<unknown>" if cmd is None else cmd.full_name
        if reply[:1] == b"-":
            log.warning("== CRITICAL == This master is sending an error to its replica: "
                        "'%s' after processing the command '%s'", logged_error(reply), name)
        log.warning("Replica generated a reply to command '%s', disconnecting it: %s", name,
                    describe(client, time.time()))
        client.abort()
        client.out.append(b"")

    def execute(self, client: Client, argv: list[bytes]) -> bytes:
        """Run one command and return its encoded reply."""
        cmd = self.command_cache.get(argv[0]) or self.lookup_command(argv[0])
        if cmd is None:
            return self._reject(client, _unknown_command(argv))
        if cmd.subcommands and len(argv) >= 2:
            # As in Redis, a container called alone runs itself: its arity check answers
            # CONFIG with "wrong number of arguments", while COMMAND lists every command.
            sub = cmd.subcommands.get(argv[1].decode(errors="replace").lower())
            if sub is None:
                return self._reject(client, "ERR unknown subcommand '%s'. Try %s HELP." % (
                    _sanitize(_c_text(argv[1], 128)), cmd.name.upper()))
            cmd = sub
        n = len(argv)
        arity = cmd.arity
        if (arity > 0 and n != arity) or n < -arity:
            return self._reject(client, f"ERR wrong number of arguments for '{cmd.full_name}' command",
                                cmd)
        if not client.authenticated and not cmd.no_auth:
            return self._reject(client, "NOAUTH Authentication required.", cmd)
        if client.restricted and not client.is_master \
                and not (client.multi is not None and "no-multi" in cmd.flags):
            # ACL users without every permission (Redis's ACLCheckAllPerm, after the
            # NOAUTH and no-multi checks; a master's link has no user): unrestricted
            # clients pay one attribute test.
            client.last_command = cmd  # as Redis's lastcmd (ACL LOG's client-info)
            denied = acl.check(client, client.acl_user, cmd, argv,
                               "toplevel" if client.multi is None else "multi")
            if denied:
                return self._reject(client, acl.noperm_text(denied, cmd), cmd)
        if self.router is not None:
            redirect = self.redirect(client, cmd, argv)
            if redirect is not None:
                return redirect
        if self.out_of_memory and not client.is_master and self.busy is None \
                and self._denies_oom(client, cmd, argv):
            return self._reject(client, OOM, cmd)
        tracking = self.tracking
        if tracking is not None and tracking.table:
            # trackingLimitUsedSlots, before each command as well as from the cron (the
            # direct path's commands only meet the cron's).
            tracking.limit_keys(self.config.values["tracking-table-max-keys"])
        if self.store.write_error is not None and (cmd.is_write or cmd.name in ("ping", "exec")):
            refusal = self._refuse_for_disk(client, cmd)
            if refusal is not None:
                return refusal
        if self.writes_gated and (self._queued_writes([(cmd, argv)]) or (
                cmd.name == "exec" and client.multi is not None
                and self._queued_writes(client.multi))
                or (self.bgsave_refusal and cmd.name == "ping")):
            refusal = self._gated_write_refusal(client, cmd)
            if refusal is not None:
                return refusal
        if (client.subscriptions or client.patterns or client.shard_subscriptions) \
                and not client.resp3 and not cmd.allowed_in_pubsub:
            return self._reject(client, "ERR Can't execute '%s': only (P|S)SUBSCRIBE / "
                                "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this "
                                "context" % cmd.full_name, cmd)
        if self.no_stale_data and self._denies_stale(client, cmd):
            return self._reject(client, MASTERDOWN, cmd)
        busy = self.busy
        if busy is not None and busy.allowed not in cmd.flags and client is not busy.protected:
            return self._reject(client, busy.refusal, cmd)
        if self.pause_mode and not client.is_master and self._pauses(client, cmd, argv):
            # Held, this command first; the client's later commands wait behind it.
            client.postponed = True
            client.last_command = cmd  # CLIENT LIST shows it (flag b), as Redis
            self.postponed_clients.append(client)
            self.defer_commands(client, [argv])
            return b""
        multi = client.multi
        if multi is not None and (cmd.parent is not None or cmd.name not in _MULTI_IMMEDIATE):
            # (A subcommand is queued whatever its name: SLOWLOG RESET is not RESET.)
            if "no-multi" in cmd.flags:
                return self._reject(client, "ERR Command not allowed inside a transaction", cmd)
            if not (client.multi_error or client.watch_dirty):
                # A doomed transaction queues nothing more (queueMultiCommand): EXEC then
                # routes only what came before the error (EXECABORT, not CROSSSLOT).
                multi.append((cmd, argv))
            client.last_command = cmd  # CLIENT LIST's cmd= shows a queued command, as Redis
            return QUEUED
        return self.call(client, cmd, argv)

    def _queued_writes(self, queued: list[tuple[Command, list[bytes]]]) -> bool:
        """Whether commands write, as Redis's getCommandFlags says (a script or function
        by the flags it declares); for a transaction, as EXEC's flags sum its commands'
        (mstate.cmd_flags)."""
        for cmd, argv in queued:
            if cmd.is_write or self._script_writes(cmd, argv):
                return True
        return False

    def _denies_oom(self, client: Client, cmd: Command, argv: list[bytes]) -> bool:
        """processCommand's reject_cmd_on_oom: a denyoom command (EXEC: one queued; a
        script: by its flags), or anything queued in MULTI but EXEC, DISCARD, QUIT and
        RESET (queuing takes memory too)."""
        if "denyoom" in cmd.flags:
            return True
        name = cmd.name
        if client.multi is not None:
            if name == "exec":
                from aikv.commands.scripting import script_denies_oom

                return any("denyoom" in queued.flags or (
                    queued.name in _SCRIPT_RUNS and script_denies_oom(self, queued, args))
                    for queued, args in client.multi)
            return cmd.parent is not None or name not in ("discard", "quit", "reset")
        if name in _SCRIPT_RUNS:
            from aikv.commands.scripting import script_denies_oom

            return script_denies_oom(self, cmd, argv)
        return False

    def redirect(self, client: Client, cmd: Command, argv: list[bytes]) -> bytes | None:
        """Cluster mode: the MOVED/ASK/TRYAGAIN/CLUSTERDOWN/CROSSSLOT reply if `cmd` must
        not run here, else None. As in Redis, a command is routed before it is queued: a
        MOVED inside MULTI is answered at once and dooms the transaction (EXECABORT at
        EXEC). A redirect counts as a rejected call and in errorstats, and spends ASKING,
        as after any command Redis processes (resetClient) outside MULTI."""
        assert self.router is not None
        reply = self.router(client, cmd, argv)
        if reply is None:
            return None
        # An error reply like any other: counted in errorstats (MOVED, ASK, ...).
        self._count_error(reply[1:].split(b" ", 1)[0].decode(errors="replace"))
        self._errors_seen = self.stat_error_replies
        cmd.rejected_calls += 1
        if client.multi is not None:
            if cmd.name == "exec":
                client.multi = None
                client.multi_error = False
                self.unwatch_all(client)
            else:
                client.multi_error = True
        if client.multi is None:
            client.asking = False
        return reply

    def call(self, client: Client, cmd: Command, argv: list[bytes]) -> bytes:
        client.last_command = cmd
        started = perf_counter_ns()
        local_write = False
        if cmd.is_write:
            refusal = self.before_write(argv)
            if refusal is not None:
                cmd.rejected_calls += 1  # refused before it ran, as Redis's MISCONF
                self._errors_seen = self.stat_error_replies
                return refusal
            local_write = self.writable_replica and not client.is_master
        tracking = self.tracking
        if tracking is not None:
            # Whose changes these are (NOLOOP, pending): the client that sent the command,
            # not a script's own client calling in (Redis's server.current_client).
            outer_current = tracking.current
            if outer_current is None:
                tracking.current = client
        reads = cmd.counts_lookups
        if reads:
            self.lookups.on = reads
        try:
            reply = cmd.handler(client, argv)
        except CommandRejected as exc:
            if tracking is not None:
                tracking.current = outer_current
            return self._rejected_in_call(client, cmd, str(exc))
        except Exception as exc:
            reply = self.call_failed(cmd, exc)
        else:
            if reply[:1] == b"-":  # an error given as a value (a script's)
                if type(reply) is bytes:
                    self._count_error(reply[1:].split(b" ", 1)[0].rstrip(b"\r\n")
                                      .decode(errors="replace"))
                else:  # CountedError: counted where it arose, but this command failed
                    cmd.failed_calls += 1
        # As Redis's incrCommandStatsOnError: the command failed if errors were counted
        # since the last command (a nested one included) finished.
        if self.stat_error_replies != self._errors_seen:
            if self.stat_error_replies > self._errors_seen:
                cmd.failed_calls += 1
            self._errors_seen = self.stat_error_replies
        if reads:
            self.lookups.on = False
        if local_write:
            self._remember_replica_expires(client, cmd, argv)
        if self.found_expired:
            self.remove_found_expired()
        if tracking is not None:
            tracking.current = outer_current
            if client.tracking is not None and "readonly" in cmd.flags \
                    and "pubsub" not in cmd.flags and cmd.name not in _SCRIPT_RUNS_RO:
                tracking.remember(client, cmd.keys(argv))
        if client.asking and cmd.name != "asking" and client.multi is None:
            client.asking = False
        # Counted after the call, as Redis does (INFO does not count itself).
        took = (perf_counter_ns() - started) // 1000
        cmd.usec += took
        cmd.calls += 1
        blocked = client.blocked
        if blocked is None:
            if self.latency_tracking:
                try:
                    cmd.latency[took] += 1
                except KeyError:
                    cmd.latency[took] = 1
            if took >= self.slowlog_threshold and not cmd.skip_slowlog:
                self.slowlog.push(client, cmd, argv, took, self.config.values["slowlog-max-len"])
        elif isinstance(blocked, BlockedState):
            # Recorded once served or timed out (blocking.py), as Redis does on unblock.
            blocked.took = took
            if took >= self.slowlog_threshold and not cmd.skip_slowlog:
                blocked.argv = argv
        if took >= self.latency_threshold_us and client.blocked is None:
            self.latency.add(b"fast-command" if "fast" in cmd.flags else b"command",
                             took // 1000)
        self.stat_commands += 1
        if self.monitors and not cmd.skip_monitor:
            self.feed_monitors(client, cmd, argv)
        return reply

    def start_propagating(self, sink: Sink) -> None:
        """From now on every command's effects go to `sink` (aikv/replication/propagate.py):
        `call` becomes the propagating call, and keys found expired are reported."""
        self.propagator = sink
        self.call = self._propagating_call  # type: ignore[method-assign]
        for db in self.databases:
            db.on_expired = self._expired_key

    def _propagating_call(self, client: Client, cmd: Command, argv: list[bytes]) -> bytes:
        outer = self.propagation_frame
        frame = self.propagation_frame = Frame()
        db_index = client.db_index
        try:
            reply = Server.call(self, client, cmd, argv)
        finally:
            self.propagation_frame = outer
        effects = frame.effects
        if frame.replaced is not None:
            effects.extend([(db_index, replaced) for replaced in frame.replaced])
        elif cmd.propagates and client.blocked is None and reply[:1] != b"-":
            effects.append((db_index, argv))
        if outer is not None:
            if effects:
                outer.effects.extend(effects)
            return reply
        if effects and self.propagator is not None:
            # (None: a REPLICAOF inside this EXEC or script stopped the propagation; its
            # replicas were disconnected, as Redis drops such a transaction's stream.)
            if len(effects) > 1 and cmd.name in _TOUCHES_ARBITRARY_KEYS:
                for effect in effects:  # each on its own, like active expiry's
                    self.propagator([effect])
            else:
                self.propagator(effects)
        source = self.replication
        if source is not None:
            # WAIT waits for what this client has seen done so far (Redis's c->woff).
            client.woff = source.offset
        return reply

    def stop_serving_replicas(self, backlog_expired: bool = False) -> None:
        """repl-backlog-ttl seconds without replicas (`backlog_expired`), a replica's full
        resynchronisation or promotion: this node's replicas are disconnected, commands
        stop being propagated and the stream's stored position is dropped."""
        source = self.replication
        if source is None:
            return
        self.replication = None
        if backlog_expired:
            self.idle_stream_position = (secrets.token_hex(20), source.offset)
        if not source.relaying:
            source.forget_position()
        for follower in list(source.followers.values()):
            follower.client.close()
        self.stop_propagating()

    def stop_propagating(self) -> None:
        """Commands' effects are no longer encoded (a master that becomes a replica
        relays its master's stream instead)."""
        if self.propagator is None:
            return
        self.propagator = None
        del self.call  # back to the plain Server.call
        for db in self.databases:
            db.on_expired = None

    def _expired_key(self, db_index: int, key: bytes) -> None:
        """A key past its deadline was found (or deleted): replicas delete it now (with
        UNLINK under lazyfree-lazy-expire, as Redis's propagateDeletion)."""
        if self.pause_mode:
            # Left alone while clients are paused, as Redis does: a failover needs the
            # stream to stay put (no paused command deletes a key; the expiry cycle waits).
            return
        verb = b"UNLINK" if self.config.values["lazyfree-lazy-expire"] else b"DEL"
        effect = (db_index, [verb, key])
        frame = self.propagation_frame
        if frame is None:
            assert self.propagator is not None
            self.propagator([effect])
        elif not frame.effects or frame.effects[-1] != effect:
            frame.effects.append(effect)

    def _rejected_in_call(self, client: Client, cmd: Command, text: str) -> bytes:
        """A handler refused to start (CommandRejected): counted and answered as a
        refusal before the call, so not a call, not timed, not logged or monitored."""
        self.lookups.on = False
        cmd.rejected_calls += 1
        reply = self._error_reply(text)
        self._errors_seen = self.stat_error_replies
        return reply

    # ------------------------------------------------------------------ MONITOR
    def start_monitoring(self, client: Client) -> None:
        client.monitoring = True
        self.monitors.append(client)

    def stop_monitoring(self, client: Client) -> None:
        if client.monitoring:
            client.monitoring = False
            self.monitors.remove(client)

    def feed_monitors(self, client: Client, cmd: Command, argv: list[bytes]) -> None:
        """Copy a command that just ran to every MONITOR client, in Redis's line format:
        +<unix time with microseconds> [<db> <ip:port>] "arg" "arg" ..."""
        now = time.time()
        shown = monitor_args(cmd, argv)
        line = b"+%d.%06d [%d %s] %s\r\n" % (
            int(now), int(now * 1_000_000) % 1_000_000, client.db_index,
            client.addr.encode(), b" ".join(map(quote_arg, shown)))
        for watcher in self.monitors:
            if watcher is client:
                # Its own command: the line follows the command's reply, as in Redis
                # (the caller appends the reply after call() returns; see Client._run).
                client.monitor_echo.append(line)
            else:
                watcher.write(line)

    def before_write(self, argv: list[bytes]) -> bytes | None:
        """Called before a write command runs; a reply means it must not run."""
        return self.prepare_write(sum(map(len, argv)))

    def end_tick_now(self) -> None:
        """End the tick here (commit, replies) rather than when the loop gets to it: a
        long job (a replica loading its master's data) commits as it goes."""
        self._end_tick()

    def prepare_write(self, nbytes: int) -> bytes | None:
        """Before a write of about `nbytes`; a reply means it must not happen."""
        self._tick_wrote = True
        # Grow the LMDB map ahead of the write: a transaction that hits MDB_MAP_FULL
        # is lost whole, with the rest of the tick's writes.
        try:
            self.store.ensure_room(nbytes)
        except StoreFullError as exc:
            # No room to grow the map: this write is refused, the tick's others stand.
            log.warning("Write refused: %s", exc)
            return self._error_reply(disk_error_reply(self.store.write_error or "?"))
        except Exception as exc:  # growing commits the tick so far: the disk may refuse
            self._commit_failed(exc)
            return self._error_reply(disk_error_reply(self.store.write_error or "?"))
        return None

    def call_failed(self, cmd: Command, exc: Exception) -> bytes:
        """The reply for a handler that raised (call() counts the command as failed)."""
        if isinstance(exc, CommandError):
            return self._error_reply(str(exc))
        # A bug must cost one reply, not the connection or node.
        log.error("Unexpected error in '%s'", cmd.full_name, exc_info=exc)
        return self._error_reply(f"ERR internal error in '{cmd.full_name}': "
                                 f"{type(exc).__name__}")

    def _gated_write_refusal(self, client: Client, cmd: Command) -> bytes | None:
        """A write (EXEC of one, or a PING under a failed BGSAVE) while writes are gated
        (update_write_gates), in processCommand's order: the disk error first (our
        master's stream is exempt), then min-replicas-to-write, then a read-only replica."""
        if self.bgsave_refusal and not client.is_master:
            return self._reject(client, BGSAVE_MISCONF, cmd)
        if cmd.name == "ping":
            return None
        if self.replicas_required:
            if self.too_few_replicas():
                return self._reject(client, NOREPLICAS, cmd)
        elif self.read_only_replica and not client.is_master:
            return self._reject(client, READONLY, cmd)
        return None

    def _refuse_for_disk(self, client: Client, cmd: Command) -> bytes | None:
        """Redis's deny-on-disk-error: write commands, EXEC of a transaction with writes,
        and PING (so that monitoring notices) get MISCONF while commits fail."""
        if cmd.name == "exec" and (client.multi is None
                                   or not self._queued_writes(client.multi)):
            return None
        return self._reject(client, disk_error_reply(self.store.write_error or "?"), cmd)

    def _reject(self, client: Client, text: str, cmd: Command | None = None) -> bytes:
        if cmd is not None:
            cmd.rejected_calls += 1
        if cmd is not None and cmd.name == "exec":
            # Redis's rejectCommand answers a refused EXEC with execCommandAbort, in a
            # transaction or not: it is discarded and the reason given without "ERR ".
            client.multi = None
            client.multi_error = False
            self.unwatch_all(client)
            reason = text[4:] if text.startswith("ERR ") else text
            text = "EXECABORT Transaction discarded because of: " + reason
        elif client.multi is not None:
            client.multi_error = True
        reply = self._error_reply(text)
        self._errors_seen = self.stat_error_replies  # a refusal is not the next command's
        return reply

    def _error_reply(self, text: str) -> bytes:
        self._count_error(text.split(" ", 1)[0])
        return error(text)

    def count_rejection(self, cmd: Command | None, code: str) -> None:
        """An error refusing `cmd` before it ran (a script's redis.call checks)."""
        self._count_error(code)
        if cmd is not None:
            cmd.rejected_calls += 1
        self._errors_seen = self.stat_error_replies

    def count_failed_unblock(self, command: bytes, reply: bytes | None) -> None:
        """A blocked client ended with an error `reply` (NOGROUP, UNBLOCKED, BLMOVE's
        WRONGTYPE): as Redis's addReplyError and updateStatsOnUnblock, the error counts in
        errorstats and total_error_replies, and the blocked command's failed_calls. None:
        CLIENT UNBLOCK ... TIMEOUT, which Redis 7.0 counts as a failed call all the same
        (its clientCommand passes had_errors=1 whatever the reason)."""
        if reply is not None:
            self._count_error(reply[1:].split(b" ", 1)[0].rstrip(b"\r\n")
                              .decode(errors="replace"))
            self._errors_seen = self.stat_error_replies  # not the next command's failure
        cmd = self.lookup_command(command)
        if cmd is not None:
            cmd.failed_calls += 1

    def _count_error(self, code: str) -> None:
        """INFO's total_error_replies and errorstats, by the reply's first word."""
        self.stat_error_replies += 1
        self.error_counts[code] = self.error_counts.get(code, 0) + 1

    # ------------------------------------------------------------------ WATCH
    def watch(self, client: Client, key: bytes) -> None:
        entry = (client.db_index, key)
        if entry in client.watched:
            return
        client.watched.add(entry)
        self._watchers.setdefault(entry, set()).add(client.id)
        db = client.db
        db.watched.add(key)
        deadline = db.stored_deadline(key)
        if deadline and deadline <= self.clock.now_ms:
            client.watched_expired.add(entry)  # EXEC ignores its expiry (Redis's wk->expired)

    def _unwatch_all(self, client: Client) -> None:
        for entry in client.watched:
            ids = self._watchers.get(entry)
            if ids is not None:
                ids.discard(client.id)
                if not ids:
                    del self._watchers[entry]
                    if self.tracking is None or entry[1] not in self.tracking.table:
                        self.databases[entry[0]].watched.discard(entry[1])
        client.watched.clear()
        client.watched_expired.clear()
        client.watch_dirty = False

    def unwatch_all(self, client: Client) -> None:
        self._unwatch_all(client)

    def _key_modified(self, db_index: int, key: bytes, existed: bool = True) -> None:
        """`key` changed; `existed` False: a flush found no record of it, which changes
        nothing for WATCH (Redis's touchAllWatchedKeysInDb)."""
        entry = (db_index, key)
        for client_id in self._watchers.get(entry, ()) if existed else ():
            client = self.clients.get(client_id)
            if client is not None:
                if client.watched_expired and entry in client.watched_expired:
                    # Watched when already expired (Redis's touchWatchedKey): its
                    # deletion is no change; only a new live value is.
                    deadline = self.databases[db_index].stored_deadline(key)
                    if deadline is None:
                        client.watched_expired.discard(entry)
                        continue
                    if deadline and deadline <= self.clock.now_ms:
                        continue
                client.watch_dirty = True
        if self.tracking is not None:
            self.tracking.key_modified(key)

    def set_slowlog_threshold(self) -> None:
        """Cache slowlog-log-slower-than for Server.call: one comparison per command
        (a negative setting turns the log off)."""
        threshold = self.config.values["slowlog-log-slower-than"]
        self.slowlog_threshold = threshold if threshold >= 0 else 1 << 63

    def set_latency_threshold(self) -> None:
        """Cache latency-monitor-threshold (ms) for Server.call as microseconds: a command
        is an event when its run time, truncated to milliseconds, reaches it; 0 is off."""
        threshold = self.config.values["latency-monitor-threshold"]
        self.latency_threshold_us = threshold * 1000 if threshold else 1 << 63

    def update_write_gates(self) -> None:
        """Whether execute() must look at write commands before they run:
        - a master with min-replicas-to-write and min-replicas-max-lag both set: Redis
          refuses writes unless that many replicas acknowledged within the lag, and AiKv
          has no replicas of its own, so every write gets NOREPLICAS;
        - a replica with replica-read-only: clients' writes get READONLY (the master's
          own commands run);
        - a replica with replica-serve-stale-data no: while its link is down, commands
          not flagged "stale" get MASTERDOWN (then no command takes the direct path);
        - stop-writes-on-bgsave-error, with save points set, after a failed BGSAVE:
          writes and PING get MISCONF until a save succeeds.
        When this changes the name caches are emptied, so that Client._run's direct path,
        which skips execute(), no longer holds the commands concerned (lookup_command
        leaves them out)."""
        values = self.config.values
        replica = self.replica is not None
        self.replicas_required = not replica and bool(
            values["min-replicas-to-write"] and values["min-replicas-max-lag"])
        self.read_only_replica = replica and bool(values["replica-read-only"])
        self.writable_replica = replica and not values["replica-read-only"]
        if not self.writable_replica:
            self.replica_expires.clear()
        self.no_stale_data = replica and not values["replica-serve-stale-data"]
        # stop-writes-on-bgsave-error: the last BGSAVE failed while save points are set.
        self.bgsave_refusal = bool(values["stop-writes-on-bgsave-error"]) \
            and bool(values["save"].split()) and not persistence_state(self).last_bgsave_ok
        gated = self.replicas_required or self.read_only_replica or self.bgsave_refusal
        self.update_memory_state(refresh=False)
        no_direct = self.no_stale_data or self.out_of_memory
        if gated != self.writes_gated or no_direct != self._no_direct_path:
            self.writes_gated = gated
            self._no_direct_path = no_direct
            self.command_cache.clear()
            self.data_commands.clear()

    def set_output_limit_floor(self) -> None:
        """The smallest client-output-buffer-limit byte count set for any class: pending
        output below it needs no closer look (Client.flush, on every reply)."""
        limits = self.config.values["client-output-buffer-limit"].values()
        self.output_limit_floor = min((n for hard, soft, _ in limits for n in (hard, soft) if n),
                                      default=1 << 62)

    def update_memory_state(self, refresh: bool = True) -> None:
        """maxmemory with maxmemory-policy noeviction: past the limit, the commands that
        may take more memory are refused with OOM (Server.execute, in processCommand's
        place), as Redis's performEvictions fails under noeviction. Used memory is
        INFO's used_memory (the process's RSS) less what Redis does not count for
        eviction (replicas' output buffers). Looked at on CONFIG SET and every 100 ms
        (Redis: before every command). AiKv evicts nothing: under the other policies
        the limit is not applied (its data lives on disk, not in memory to free).
        A replica with replica-ignore-maxmemory ignores it, as in Redis."""
        values = self.config.values
        limit = values["maxmemory"]
        over = False
        if limit and self.loop is not None and values["maxmemory-policy"] == "noeviction" and not (
                self.replica is not None and values["replica-ignore-maxmemory"]):
            from aikv.info import memory_for_eviction

            over = memory_for_eviction(self) > limit
        if over != self.out_of_memory:
            self.out_of_memory = over
            if refresh:
                self.update_write_gates()  # the direct path must meet execute()'s check

    def too_few_replicas(self) -> bool:
        """min-replicas-to-write: fewer replicas than that acknowledged within
        min-replicas-max-lag seconds (Redis's refreshGoodSlavesCount)."""
        values = self.config.values
        source = self.replication
        good = 0 if source is None else source.good_replicas(values["min-replicas-max-lag"])
        return good < values["min-replicas-to-write"]

    def _denies_stale(self, client: Client, cmd: Command) -> bool:
        """replica-serve-stale-data no and the link to the master is down: commands not
        flagged "stale" (for EXEC, any queued one) are refused."""
        link = self.replica
        if link is None or link.state == "connected" or client.is_master:
            return False
        if cmd.name == "exec" and client.multi is not None:
            return any("stale" not in queued.flags for queued, _ in client.multi)
        return "stale" not in cmd.flags

    # ------------------------------------------------------------------ replication
    def replicate_from(self, master: tuple[str, int] | None) -> None:
        """Follow `master` (REPLICAOF host port), or stop being a replica (None).

        A replica that stops being one is promoted: its stream goes on under a new
        replication id, the old one valid up to its offset, with the backlog it kept
        (ReplicationSource.promoted), so the old master and its replicas can continue
        from it. A master that becomes a replica offers its own replication id and
        offset as its position when it has a stream (Redis's
        replicationCacheMasterUsingMyself): a replica it had, promoted since, can
        continue it (the hand-over of FAILOVER). Otherwise the link offers the position
        stored by an earlier run as a replica, if any."""
        link = self.replica
        stop_link(link)
        self.replica = None
        if master is None:
            if link is not None:
                link.forget_position()
                # Its sub-replicas are disconnected, to learn the new id; they continue
                # with a partial resynchronisation (Redis's disconnectSlaves there).
                self.stop_serving_replicas()
                self.replication = ReplicationSource.promoted(
                    self, link.replid, link.offset, link.backlog)
                self.schedule_tick()  # its position goes into a commit
        else:
            self._unblock_for_role_change()
            source = self.replication
            own = None
            history: tuple[str, Backlog] | None = None  # the stream this node stands in
            if link is None:
                if source is not None:
                    # A master becoming a replica: its replicas stay, relayed the new
                    # master's stream if it continues this one (else the full
                    # resynchronisation disconnects them), as in Redis.
                    own = (source.replid, source.offset)
                    history = (source.replid, source.start_relaying())
            elif link.master_client is not None:
                history = (link.replid, link.backlog)  # another master: it may go on
            new = self.replica = ReplicaLink(self, *master, own_position=own)
            if history is not None and history[0] == new.replid \
                    and history[1].end == new.offset:
                new.backlog = history[1]
            elif source is not None:
                self.stop_serving_replicas()  # no history shared with its replicas
            self.replica.start()
        if not self.config.cluster_enabled:
            self.config.values["replicaof"] = "" if master is None else "%s %d" % master
        self.update_write_gates()
        self.apply_oom_score()

    def rebind(self) -> bool:
        """CONFIG SET port / bind: stop listening, then listen as the settings now say
        (port 0: no TCP socket), as Redis's changeBindAddr does; False if that failed
        (the caller restores the settings and rebinds again)."""
        self._close_listeners()
        port = self.config.port
        if port == 0:
            return True
        backlog = self.config.values["tcp-backlog"]
        try:
            sockets, _ = open_sockets(self.config.bind, port, backlog)
        except ListenError:
            log.warning("Failed to bind")
            return False
        self._listen_sockets = sockets
        assert self.loop is not None
        # Listening already (connections wait in the backlog); accepting starts with the
        # next loop pass.
        task = self._serve_task = self.loop.create_task(
            serve_on(self.loop, lambda: Client(self), sockets, backlog))
        task.add_done_callback(self._serving)
        return True

    def _serving(self, task: asyncio.Task[list[asyncio.AbstractServer]]) -> None:
        if task is not self._serve_task:
            return  # superseded by a later rebind, which closed what it made
        self._serve_task = None
        if task.cancelled() or task.exception() is not None:
            log.warning("Accepting on the new listening sockets failed: %s",
                        None if task.cancelled() else task.exception())
            return
        self._servers.extend(task.result())

    def _close_listeners(self) -> None:
        # A rebind's servers may still be on their way (two CONFIG SETs in one read):
        # not started yet, the task is cancelled; done, its servers are closed here.
        task, self._serve_task = self._serve_task, None
        if task is not None:
            if not task.done():
                task.cancel()
            elif not task.cancelled() and task.exception() is None:
                self._servers.extend(task.result())
        for listener in self._servers:
            listener.close()
        for sock in self._listen_sockets:  # (no-op for those the loop's servers detached)
            sock.close()
        self._servers = []
        self._listen_sockets = []

    def apply_watchdog(self) -> None:
        self.watchdog.apply(int(self.config.values["watchdog-period"]), self.config.hz)

    def apply_oom_score(self) -> bool:
        """oom-score-adj for this node's role (Redis's setOOMScoreAdj(-1))."""
        values = self.config.values
        return self.oom_score.apply(values["oom-score-adj"], values["oom-score-adj-values"],
                                    replica=self.replica is not None)

    def _unblock_for_role_change(self) -> None:
        """Becoming a replica: clients blocked on keys or in WAIT get an error and are
        disconnected after it, as Redis's disconnectAllBlockedClients (clients held by
        a pause are not blocked: their commands run, or are refused, later)."""
        for client in list(self.clients.values()):
            if client.blocked is None:
                continue
            if self.blocking is not None:
                self.blocking.client_gone(client)
            if self.replication is not None:
                self.replication.client_gone(client)
            if self.shutting_down is not None:
                shutdown.client_gone(self, client)
            self.lone_waits.client_gone(client)
            client.blocked = None
            self.deferred.pop(client.id, None)
            client.close_after_reply = True
            client.write(UNBLOCKED_ROLE_CHANGE)

    def watched_key_expired(self, client: Client) -> bool:
        """A key the client watched while it was live has expired since, even if
        nothing deleted it yet: EXEC fails (Redis's isWatchedKeyExpired)."""
        now = self.clock.now_ms
        expired = client.watched_expired
        for entry in client.watched:
            if entry in expired:
                continue
            deadline = self.databases[entry[0]].stored_deadline(entry[1])
            if deadline and deadline <= now:
                return True
        return False

    def _swap_touch(self, db: Database, other: Database, key: bytes) -> None:
        """SWAPDB is about to give `db` the data of `other`: the watchers of `key` in
        `db` are touched as Redis's touchAllWatchedKeysInDb does (records expired or
        not count as there; an expired key that stays expired, or is dropped, is no
        change; a missing key replaced with an expired one becomes an expired watch)."""
        here = db.stored_deadline(key)
        there = other.stored_deadline(key)
        if here is None and there is None:
            return
        now = self.clock.now_ms
        there_expired = there is not None and 0 < there <= now
        entry = (db.index, key)
        for client_id in self._watchers.get(entry, ()):
            client = self.clients.get(client_id)
            if client is None:
                continue
            if entry in client.watched_expired:
                if there is None:
                    client.watched_expired.discard(entry)
                    continue
                if there_expired:
                    continue
            elif here is None and there_expired:
                client.watched_expired.add(entry)
                continue
            client.watch_dirty = True
        if self.tracking is not None and (db.exists(key) or other.exists(key)):
            self.tracking.key_modified(key)

    def watching(self, db_index: int, key: bytes) -> bool:
        return (db_index, key) in self._watchers

    def swap_databases(self, first: int, second: int) -> None:
        """SWAPDB: the two SELECT indexes exchange their data (the stored databases they
        show, see Store.swap_databases); clients stay on their index, as in Redis."""
        one, two = self.databases[first], self.databases[second]
        # As Redis's touchAllWatchedKeysInDb: a watched key that exists on either side
        # changes (it appears, disappears or gets another value).
        for db, other in ((one, two), (two, one)):
            for key in list(db.watched):
                self._swap_touch(db, other, key)
        stored_one, stored_two = self.store.swap_databases(first, second)
        one.show(stored_one)
        two.show(stored_two)
        # Clients blocked on keys of either index look again (scanDatabaseForReadyKeys).
        blocking = self.blocking
        if blocking is not None:
            for entry in list(blocking.waiting):
                if entry[0] in (first, second):
                    blocking.ready[entry] = None

    # ------------------------------------------------------------------ crons
    def _start_crons(self) -> None:
        assert self.loop is not None

        def expire_cron() -> None:
            self.watchdog.feed()  # (before PAUSE-CRON's test: Redis re-arms its alarm first)
            try:
                if not self.cron_paused:  # DEBUG PAUSE-CRON
                    shutdown.cron(self)  # a signal to act on, a wait for replicas to end
                    self._active_expire()
                    if self.tracking is not None:
                        self.tracking.limit_keys(self.config.values["tracking-table-max-keys"])
                    if self.store.checkpoint_due():  # tick log: checkpoint an idle node too
                        self.store.checkpoint_quietly()
            except Exception:
                log.exception("expiry cycle failed")
            # Re-read hz every time: CONFIG SET hz takes effect at the next run.
            self._crons[0] = self.loop.call_later(  # type: ignore[union-attr]
                1.0 / max(1, self.config.hz), expire_cron)

        self._crons.append(self.loop.call_later(1.0 / max(1, self.config.hz), expire_cron))
        self._clients_cron = self.loop.call_later(1.0, self._clients_cron_run)

    def _clients_cron_run(self) -> None:
        """Once a second: idle timeouts, and the disk probe after a failed commit."""
        assert self.loop is not None
        try:
            if not self.cron_paused:  # DEBUG PAUSE-CRON
                self._close_idle_clients()
                for client in list(self.clients.values()):
                    if client.obuf_soft_since:
                        client.check_output_limit()
                if self.replication is not None:
                    self.replication.cron()
                rdbsave.cron(self)  # save points, a scheduled BGSAVE
                if self.store.write_error is not None and self.store.probe_write():
                    log.warning("Disk write error looks solved, AiKv can write again.")
        except Exception:
            log.exception("clients cron failed")
        self._clients_cron = self.loop.call_later(1.0, self._clients_cron_run)

    def _close_idle_clients(self) -> None:
        """Redis's clientsCronHandleTimeout: `timeout` seconds without a request closes a
        client, unless it is a replica, subscribed or blocked (blocking has its own timeout), or
        still receiving output."""
        timeout = self.config.timeout
        if not timeout:
            return
        now = time.time()
        for client in list(self.clients.values()):
            if (now - client.last_interaction > timeout and client.blocked is None
                    and not client.is_replica and not (client.subscriptions or client.patterns
                             or client.shard_subscriptions)
                    and not client.output_buffer_size and not client.closing):
                log.info("Closing idle client")
                client.close()

    def note_found_expired(self, db: Database, key: bytes) -> None:
        """A lookup found `key` past its deadline. A master deletes it, as Redis's
        expireIfNeeded does on access: the expiry is announced now (before the command's
        own events) and the key deleted once the command is done (remove_found_expired).
        A replica leaves it to its master's DEL, a paused node to a later access, and so
        does a node whose disk refuses writes."""
        if self.replica is not None or self.pause_mode or self.store.write_error is not None:
            return
        found = self.found_expired
        entry = (db, key)
        if entry in found:
            return
        found[entry] = None
        if db.events.flags & EXPIRED:
            db.events.emit(EXPIRED, b"expired", key, db.index)

    def remove_found_expired(self) -> None:
        """Delete the keys noted by note_found_expired: within the command, so that its
        own tracking invalidations follow its reply."""
        found = self.found_expired
        for db, key in list(found):
            db.remove_expired(key)  # (drops the entry: announced already)
        found.clear()

    def _remember_replica_expires(self, client: Client, cmd: Command, argv: list[bytes]) -> None:
        """A client's write on a writable replica: its keys that now have a deadline
        are this node's to expire (Redis's rememberSlaveKeyWithExpire)."""
        db = client.db
        for key in cmd.keys(argv):
            if db.stored_deadline(key):
                self.replica_expires.add((client.db_index, key))

    def _expire_replica_keys(self) -> None:
        """expireSlaveKeys: of a writable replica's own keys with a deadline, delete
        those past it (counted and announced as any expiry); forget those gone or
        without a deadline now."""
        now = self.clock.refresh()
        removed = False
        for entry in list(self.replica_expires):
            index, key = entry
            db = self.databases[index]
            deadline = db.stored_deadline(key)
            if not deadline:
                self.replica_expires.discard(entry)
            elif deadline <= now:
                db.delete(key)
                self.replica_expires.discard(entry)
                removed = True
        if removed:
            self.schedule_tick()

    def _active_expire(self) -> None:
        """Delete keys whose deadline passed, at most ~25% of a cron period of work."""
        if self.replica_expires and self.store.write_error is None \
                and self.active_expire_enabled and not self.pause_mode:
            self._expire_replica_keys()
        if self.store.write_error is not None or not self.active_expire_enabled \
                or self.pause_mode or self.replica is not None:
            # Nothing can be committed; or a replica, whose master sends the DELs.
            # Expired keys stay invisible meanwhile.
            return
        self.clock.refresh()
        started = time.perf_counter()
        deadline = started + 0.025
        removed = 0
        for db in self.databases:
            while True:
                n = db.expire_due(200)
                removed += n
                if n < 200 or time.perf_counter() > deadline:
                    break
        threshold = self.config.values["latency-monitor-threshold"]
        if threshold:
            elapsed_ms = int((time.perf_counter() - started) * 1000)
            if elapsed_ms >= threshold:
                self.latency.add(b"expire-cycle", elapsed_ms)
        if removed:
            self.schedule_tick()
        if self.store.has_garbage:
            # Deleted collections' element records go in batches within the same budget
            # (one batch at least): a fixed 2,000 records a run reclaimed ~20,000 a second,
            # less than a client deleting big collections can queue.
            while reclaim(self.store, _RECLAIM_BATCH) == _RECLAIM_BATCH \
                    and time.perf_counter() < deadline:
                pass
            self.schedule_tick()

    def _everysec(self) -> None:
        while not self._sync_stop.wait(1.0):
            if self.store.appendfsync != "everysec":
                continue
            if self.store.dirty_since_sync:
                self.store.dirty_since_sync = 0
                try:
                    self.store.sync()
                except Exception:
                    log.exception("fsync failed")

    # ------------------------------------------------------------------ helpers
    @property
    def port(self) -> int:
        return int(self.config.port)

    def uptime(self) -> int:
        return int(time.time() - self.started_at)


def _sanitize(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _c_text(raw: bytes, limit: int) -> str:
    """An argument as Redis's "%.<limit>s" prints it (a C string: up to a NUL), its bytes
    kept as they are (surrogateescape; resp.error encodes them back)."""
    return raw.partition(b"\0")[0][:limit].decode("utf-8", "surrogateescape")


def _unknown_command(argv: list[bytes]) -> str:
    args = ""
    for raw in argv[1:]:
        used = len(args.encode("utf-8", "surrogateescape"))
        if used >= 128:
            break
        args += "'%s' " % _c_text(raw, 128 - used)
    return _sanitize("ERR unknown command '%s', with args beginning with: %s"
                     % (_c_text(argv[0], 128), args))


def server_pid() -> int:
    return os.getpid()


__all__ = ["Server", "__version__"]
