"""Server commands: INFO, CONFIG, TIME, DBSIZE, FLUSHDB/FLUSHALL, SAVE/BGSAVE/LASTSAVE,
SHUTDOWN, ROLE, WAIT, SWAPDB, LOLWUT, DEBUG, and the MEMORY/SLOWLOG/LATENCY families.

Persistence: every write is already committed to LMDB before its reply leaves, so AiKv
needs no snapshot and SHUTDOWN NOSAVE cannot drop acknowledged writes. SAVE and BGSAVE
still do what a Redis user expects for backups: write the dataset as an RDB file
(`dbfilename` in `dir`, atomically), SAVE before its reply, BGSAVE from a snapshot while
the node serves on; `save` points start BGSAVEs, FLUSHALL rewrites the file when save
points are set, SHUTDOWN [SAVE] writes it before exiting (aikv/rdbsave.py). The file is
never loaded at startup. LASTSAVE and INFO's rdb_* fields describe these files.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from aikv import glob, rdbsave
from aikv import shutdown as shutdown_state
from aikv.acl import set_default_password
from aikv.acl_file import user_lines
from aikv.commands import diagnostics  # noqa: F401 - registers MEMORY, SLOWLOG, LATENCY, DEBUG
from aikv.commands.args import parse_c_int, parse_int
from aikv.commands.diagnostics import allow_protected_action
from aikv.commands.registry import command, container
from aikv.config import (
    BY_NAME,
    FIXED_HERE,
    SHUTDOWN_FORCE,
    SHUTDOWN_NOSAVE,
    SHUTDOWN_NOW,
    SHUTDOWN_SAVE,
    ConfigError,
)
from aikv.crash import apply_crash_log
from aikv.info import info_text, persistence_state, reset_stats, select_sections
from aikv.logging_setup import set_level
from aikv.resp import (
    EMPTY_ARRAY,
    OK,
    ZERO,
    CommandError,
    array,
    bulk,
    integer,
    map_reply,
    simple,
    verbatim,
)

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.server import Server

log = logging.getLogger("aikv")


# ---------------------------------------------------------------------- INFO
@command("info", -1, "loading stale", categories="@slow @dangerous")
def info(client: Client, argv: list[bytes]) -> bytes:
    text = info_text(client.server, select_sections(argv[1:]))
    return verbatim(text.encode(), client.resp3)


# ---------------------------------------------------------------------- CONFIG
container("config", -2)


@command("get", -3, "admin noscript loading stale", parent="config",
         categories="@admin @slow @dangerous")
def config_get(client: Client, argv: list[bytes]) -> bytes:
    cfg = client.server.config
    values = dict(cfg.matching("*"))  # every listed name and alias -> rendered value
    found: dict[str, tuple[str, str]] = {}  # lower-cased name -> (name replied, value)
    for raw in argv[2:]:
        pattern = raw.decode(errors="replace")
        if not any(ch in pattern for ch in "*?["):
            # An exact name is looked up (aliases and hidden parameters too) and echoed as
            # the caller wrote it.
            low = pattern.lower()
            if low in BY_NAME and low not in found:
                found[low] = (pattern, cfg.render(low))
            continue
        for name, value in values.items():
            if name not in found and glob.match(raw, name.encode(), nocase=True):
                found[name] = (name, value)
    pairs = [(bulk(n.encode()), bulk(v.encode())) for n, v in found.values()]
    return map_reply(pairs, client.resp3)


def _set_failed(name: str, reason: str) -> CommandError:
    return CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - "
                        f"{reason}")


@command("set", -4, "admin noscript loading stale", parent="config",
         categories="@admin @slow @dangerous")
def config_set(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) % 2:
        raise CommandError("ERR syntax error")
    server = client.server
    cfg = server.config
    pairs = [(argv[i].decode(errors="replace"), argv[i + 1].decode(errors="replace"))
             for i in range(2, len(argv), 2)]
    # First pass, as Redis: names must exist, be mutable and appear once; the first
    # problem found is the one reported.
    seen: set[str] = set()
    for name, _ in pairs:
        param = BY_NAME.get(name.lower())
        if param is None:
            raise CommandError("ERR Unknown option or number of arguments for CONFIG SET - "
                               f"'{name}'")
        if param.protected and not allow_protected_action(
                cfg.values["enable-protected-configs"], client):
            raise _set_failed(name, "can't set protected config")
        if not param.mutable and param.name not in FIXED_HERE:
            # (FIXED_HERE's accept their current value: Config.set decides.)
            raise _set_failed(name, "can't set immutable config")
        # By the name given: Redis keeps an alias as a parameter of its own here, so an
        # alias beside its parameter is no duplicate (the later value wins).
        if name.lower() in seen:
            raise _set_failed(name, "duplicate parameter")
        seen.add(name.lower())
    # Second pass: convert every value; any failure restores all of them (atomic).
    backup = dict(cfg.values)
    for name, text in pairs:
        try:
            cfg.set(name, text)
        except ConfigError as exc:
            cfg.values.clear()
            cfg.values.update(backup)
            # Under the name given, alias or not (Redis registers each alias on its own).
            raise _set_failed(name.lower(), str(exc)) from None
    changed = [BY_NAME[n.lower()].name for n, _ in pairs]
    if not _apply_oom(server, changed):
        cfg.values.clear()
        cfg.values.update(backup)
        _apply_oom(server, changed)
        raise _set_failed(next(n for n in changed if n.startswith("oom-score-adj")),
                          "Failed to set current oom_score_adj. Check server logs.")
    failed = _apply_listeners(server, changed)
    if failed is not None:
        # Everything goes back, the applied oom-score-adj included, as Redis restores it.
        cfg.values.clear()
        cfg.values.update(backup)
        _apply_oom(server, changed)
        server.rebind()
        raise _set_failed(*failed)
    _apply(server, set(changed))
    return OK


def _apply_listeners(server: Server, changed: list[str]) -> tuple[str, str] | None:
    """CONFIG SET port / bind take effect at once (Redis's updatePort / applyBind):
    the name and reason of a failure, None when listening as asked."""
    name = next((n for n in changed if n in ("port", "bind")), None)
    if name is None or server.loop is None or server.rebind():
        return None
    return name, ("Unable to listen on this port. Check server logs."
                  if name == "port" else "Failed to bind to specified addresses.")


def _apply_oom(server: Server, changed: list[str]) -> bool:
    if "oom-score-adj" not in changed and "oom-score-adj-values" not in changed:
        return True
    return server.apply_oom_score()


def _apply(server: Server, changed: set[str]) -> None:
    """Side effects of the settable parameters that are read once rather than on use."""
    cfg = server.config
    if "loglevel" in changed:
        set_level(cfg.loglevel)
    if "appendfsync" in changed:
        server.store.set_appendfsync(cfg.appendfsync)
    if "slowlog-log-slower-than" in changed:
        server.set_slowlog_threshold()
    if "latency-monitor-threshold" in changed:
        server.set_latency_threshold()
    if "client-output-buffer-limit" in changed:
        server.set_output_limit_floor()
    if "latency-tracking" in changed:
        server.latency_tracking = bool(cfg.values["latency-tracking"])
    if changed & {"min-replicas-to-write", "min-replicas-max-lag", "replica-read-only",
                  "replica-serve-stale-data", "save", "stop-writes-on-bgsave-error"}:
        server.update_write_gates()
    if changed & {"maxmemory", "maxmemory-policy", "replica-ignore-maxmemory"}:
        server.update_memory_state()
    if server.cluster is not None and any(name.startswith("cluster-") for name in changed):
        server.cluster.config_changed()
    if changed & {"watchdog-period", "hz"}:
        server.apply_watchdog()
    if "crash-log-enabled" in changed:
        apply_crash_log(bool(cfg.values["crash-log-enabled"]))
    if "notify-keyspace-events" in changed:
        server.key_events.flags = cfg.values["notify-keyspace-events"]
    if "requirepass" in changed:
        # The default user's passwords follow (ACLUpdateDefaultUserPassword).
        # Connections already open keep their state (Redis keeps them authenticated);
        # clearing the password lets everyone in, as the nopass default user would.
        set_default_password(server.acl_users[b"default"], cfg.requirepass)
        if not cfg.requirepass:
            for c in server.clients.values():
                c.authenticated = True


@command("resetstat", 2, "admin noscript loading stale", parent="config",
         categories="@admin @slow @dangerous")
def config_resetstat(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    # The dispatcher counts a command after it ran, so RESETSTAT itself shows up once in
    # the fresh statistics, as in Redis.
    reset_stats(server)
    return OK


@command("rewrite", 2, "admin noscript loading stale", parent="config",
         categories="@admin @slow @dangerous")
def config_rewrite(client: Client, argv: list[bytes]) -> bytes:
    cfg = client.server.config
    if not cfg.config_file:
        raise CommandError("ERR The server is running without a config file")
    # The users, as `user` lines, unless they live in an ACL file (rewriteConfigUserOption:
    # then the file's `user` lines are dropped).
    try:
        rewrite_config(client.server)
    except (ConfigError, OSError) as exc:
        log.warning("CONFIG REWRITE failed: %s", exc)
        raise CommandError(f"ERR Rewriting config file: {exc}") from None
    log.info("CONFIG REWRITE executed with success.")
    return OK


def rewrite_config(server: Server, force_all: bool = False) -> None:
    """The config file rewritten (CONFIG REWRITE; DEBUG CONFIG-REWRITE-FORCE-ALL)."""
    cfg = server.config
    users = [] if cfg.values["aclfile"] else [
        line.decode(errors="replace") for line in user_lines(server.acl_users)]
    cfg.rewrite(users, force_all)


@command("help", 2, "loading stale", parent="config", categories="@slow")
def config_help(client: Client, argv: list[bytes]) -> bytes:
    return _help([
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help.",
    ])


def _help(lines: list[str]) -> bytes:
    return array([simple(line) for line in lines])


# ---------------------------------------------------------------------- keyspace
@command("time", 1, "loading stale fast", categories="@fast")
def time_(client: Client, argv: list[bytes]) -> bytes:
    now_us = time.time_ns() // 1000
    return array([bulk(b"%d" % (now_us // 1_000_000)), bulk(b"%d" % (now_us % 1_000_000))])


@command("dbsize", 1, "readonly fast", categories="@keyspace @read @fast")
def dbsize(client: Client, argv: list[bytes]) -> bytes:
    return integer(client.db.size())


def _flush_mode(argv: list[bytes]) -> None:
    """[ASYNC|SYNC]: both are accepted. A flush drops the keys in the tick's transaction
    either way; collections' element records are reclaimed in the background, which is
    what ASYNC asks for, and SYNC cannot be made more synchronous than the commit."""
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() not in (b"SYNC", b"ASYNC")):
        raise CommandError("ERR syntax error")


@command("flushdb", -1, "write", categories="@keyspace @write @slow @dangerous")
def flushdb(client: Client, argv: list[bytes]) -> bytes:
    _flush_mode(argv)
    if client.server.tracking is not None:
        client.server.tracking.flushed()
    client.db.flush()
    return OK


@command("flushall", -1, "write", categories="@keyspace @write @slow @dangerous")
def flushall(client: Client, argv: list[bytes]) -> bytes:
    _flush_mode(argv)
    if client.server.tracking is not None:
        client.server.tracking.flushed()
    server = client.server
    for db in server.databases:
        db.flush()
    # flushAllDataAndResetRDB: a BGSAVE in progress is cancelled and, with save points,
    # the (empty) dataset is saved at once; the changes since the last save are then
    # zero (this FLUSHALL's own call, counted after it returns, included).
    rdbsave.cancel_background(server)
    if rdbsave.save_points(server):
        rdbsave.save_now(server, pending_calls=1)
    return OK


@command("swapdb", 3, "write fast", categories="@keyspace @write @fast @dangerous")
def swapdb(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    if server.config.cluster_enabled:
        raise CommandError("ERR SWAPDB is not allowed in cluster mode")
    first = parse_c_int(argv[1], "ERR invalid first DB index")
    second = parse_c_int(argv[2], "ERR invalid second DB index")
    count = len(server.databases)
    if not (0 <= first < count and 0 <= second < count):
        raise CommandError("ERR DB index is out of range")
    if first != second:
        server.swap_databases(first, second)
    return OK


# ---------------------------------------------------------------------- persistence
@command("save", 1, "admin noscript no-async-loading no-multi",
         categories="@admin @slow @dangerous")
def save(client: Client, argv: list[bytes]) -> bytes:
    """saveCommand: the RDB file written before the reply (the node waits, as Redis)."""
    server = client.server
    state = persistence_state(server)
    if state.job is not None:
        raise CommandError("ERR Background save already in progress")
    state.saves += 1  # counted even if it fails, as Redis's stat_rdb_saves
    if not rdbsave.save_now(server):
        raise CommandError("ERR")
    return OK


@command("bgsave", -1, "admin noscript no-async-loading", categories="@admin @slow @dangerous")
def bgsave(client: Client, argv: list[bytes]) -> bytes:
    """bgsaveCommand: the file is written from a snapshot taken now, while the node
    serves on. Inside MULTI/EXEC it is only scheduled (the snapshot would show half the
    transaction): the cron starts it. AiKv has no other child process (BGREWRITEAOF is
    done before its reply), so SCHEDULE otherwise starts it at once."""
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() != b"SCHEDULE"):
        raise CommandError("ERR syntax error")
    server = client.server
    state = persistence_state(server)
    if state.job is not None:
        raise CommandError("ERR Background save already in progress")
    if client.in_exec:
        state.bgsave_scheduled = True
        return simple("Background saving scheduled")
    if not rdbsave.start_background(server):
        raise CommandError("ERR")
    return simple("Background saving started")


@command("bgrewriteaof", 1, "admin noscript no-async-loading",
         categories="@admin @slow @dangerous")
def bgrewriteaof(client: Client, argv: list[bytes]) -> bytes:
    """Redis rewrites its AOF into a compact base file. AiKv's counterpart of the AOF
    is the tick log (or nothing, with lmdb-tick-log no), and its base is LMDB: the
    rewrite checkpoints the logged ticks into LMDB and syncs it, which lets the log
    files go. Done before the reply (a checkpoint takes milliseconds, not a fork),
    except inside MULTI/EXEC, where Redis only schedules it: the cron runs it."""
    server = client.server
    if client.in_exec:
        persistence_state(server).aof_rewrite_scheduled = True
        return simple("Background append only file rewriting scheduled")
    if not rdbsave.rewrite_aof(server):
        raise CommandError("ERR Can't execute an AOF background rewriting. Please check "
                           "the server logs for more information.")
    return simple("Background append only file rewriting started")


@command("lastsave", 1, "loading stale fast", categories="@admin @fast @dangerous")
def lastsave(client: Client, argv: list[bytes]) -> bytes:
    return integer(client.server.last_save)


@command("shutdown", -1, "admin noscript loading stale no-multi allow-busy",
         categories="@admin @slow @dangerous")
def shutdown(client: Client, argv: list[bytes]) -> bytes:
    """shutdownCommand. Without NOW, a node whose replicas lag waits for them (up to
    shutdown-timeout, writes paused) with this client blocked: see aikv/shutdown.py.
    No reply when the node goes: as with Redis, the client sees the connection close."""
    flags = 0
    abort = False
    for arg in argv[1:]:
        word = arg.upper()
        if word == b"ABORT":
            abort = True
        elif word in _SHUTDOWN_FLAGS:
            flags |= _SHUTDOWN_FLAGS[word]
        else:
            raise CommandError("ERR syntax error")
    if (abort and flags) or (flags & SHUTDOWN_SAVE and flags & SHUTDOWN_NOSAVE):
        raise CommandError("ERR syntax error")
    server = client.server
    if abort:
        if not shutdown_state.abort(server):
            raise CommandError("ERR No shutdown in progress.")
        return OK
    if server.busy is not None and server.loading is None:
        # A script holds the node (aikv/busy.py): only NOSAVE stops it, from inside it.
        # (During a replica's load any SHUTDOWN is taken, as NOSAVE: see below and
        # aikv/shutdown.py's while_loading, which ends the load.)
        if not flags & SHUTDOWN_NOSAVE:
            raise CommandError(server.busy.refusal)
        log.warning("User requested shutdown...")
        server.exit_now()
    if shutdown_state.prepare(server, flags, client):
        client.close_after_reply = True
        return b""
    if client.blocked is not None:
        return b""  # waiting for the replicas
    raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")


_SHUTDOWN_FLAGS = {b"NOSAVE": SHUTDOWN_NOSAVE, b"SAVE": SHUTDOWN_SAVE, b"NOW": SHUTDOWN_NOW,
                   b"FORCE": SHUTDOWN_FORCE}


# ---------------------------------------------------------------------- replication
@command("role", 1, "noscript loading stale fast", categories="@admin @fast @dangerous")
def role(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    link = server.replica
    if link is None:
        source = server.replication
        if source is None:
            return array([bulk(b"master"), integer(server.idle_stream_position[1]),
                          EMPTY_ARRAY])
        return array([bulk(b"master"), integer(source.offset), array([
            array([bulk(ip.encode()), bulk(str(port).encode()), bulk(str(offset).encode())])
            for ip, port, offset in source.role_replicas()])])
    kind, host, port, state, offset = link.role()
    return array([bulk(kind.encode()), bulk(host.encode()), integer(port),
                  bulk(state.encode()), integer(offset)])


@command("wait", 3, "noscript", categories="@slow @connection")
def wait(client: Client, argv: list[bytes]) -> bytes:
    if client.server.replica is not None:
        raise CommandError("ERR WAIT cannot be used with replica instances. Please also note "
                           "that since Redis 4.0 if a replica is configured to be writable "
                           "(which is not the default) writes to replicas are just local and "
                           "are not propagated.")
    numreplicas = parse_int(argv[1])
    timeout = parse_int(argv[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    server = client.server
    source = server.replication
    if source is None:
        # No replica ever connected: 0 now if none is asked for (or the client cannot
        # block), else the wait runs to its timeout, as in Redis.
        if numreplicas <= 0 or client.multi is not None or client.in_exec \
                or client.in_script:
            return ZERO
        server.lone_waits.wait(client, numreplicas, timeout)
        return b""
    reply = source.wait(client, numreplicas, timeout)
    return b"" if reply is None else reply  # None: blocked until acknowledged

