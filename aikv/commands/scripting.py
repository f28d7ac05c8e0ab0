"""EVAL / EVALSHA / EVAL_RO / EVALSHA_RO and SCRIPT: Lua 5.1 scripts (aikv.scripting).

A script runs inside its EVAL call: redis.call goes through Server.call with a client of
its own (as Redis's Lua client), so its commands join the tick's write transaction and
behave as when sent by a client (WRONGTYPE, keyspace notifications, WATCH, stats,
MONITOR lines "[db lua]"). The checks Redis makes before each redis.call (script.c
scriptCall) are made here in the same order, with the same texts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aikv import acl
from aikv.busy import BUSY_EVAL, BUSY_FUNCTION, SERVE_INTERVAL_S, BusyServing, log_slow_script
from aikv.cluster.slots import key_hash_slot
from aikv.commands.args import parse_int
from aikv.commands.introspection import lookup
from aikv.commands.registry import Command, command, container
from aikv.resp import OK, CommandError, CommandRejected, array, bulk, integer, simple
from aikv.scripting.convert import error_table, resp_to_lua
from aikv.scripting.engine import (
    FLAG_ALLOW_CROSS_SLOT,
    FLAG_ALLOW_OOM,
    FLAG_ALLOW_STALE,
    FLAG_COMPAT,
    FLAG_NO_CLUSTER,
    FLAG_NO_WRITES,
    IGNORE_STATS,
    REPL_REPLICA,
    CallContext,
    Engine,
    Script,
    ScriptError,
    sha1hex,
    split_shebang,
)
from aikv.scripting.runtime import Runtime
from aikv.scripting.values import LuaTable, ScriptKilled

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.server import Server

NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."


def engine_of(server: Server) -> Engine:
    engine: Engine | None = server.scripting
    if engine is None:
        engine = server.scripting = Engine()
    return engine


def _script_client(server: Server) -> Client:
    fake: Client | None = server.script_client
    if fake is None:
        from aikv.client import Client

        fake = Client(server)
        fake.addr = "lua"
        fake.laddr = "lua"
        fake.name = b""
        fake.deny_blocking = True
        fake.in_script = True
        server.script_client = fake
    return fake


def eval_keys(argv: list[bytes]) -> list[int]:
    """Key positions of EVAL-like commands: numkeys at 2, the keys after it."""
    try:
        n = int(argv[2])
    except (ValueError, IndexError):
        return []
    if n <= 0 or 3 + n > len(argv):
        return []
    return list(range(3, 3 + n))


class RunContext(CallContext):
    """One script run: redis.call's checks and dispatch (scriptCall)."""

    def __init__(self, server: Server, caller: Client, fake: Client, read_only: bool,
                 cross_slot_ok: bool, slot: int, keys: list[bytes]) -> None:
        self.server = server
        self.caller = caller
        self.keys = keys  # the keys the script declared
        self.fake = fake
        self.read_only = read_only
        self.cross_slot_ok = cross_slot_ok
        self.slot = slot
        self.allow_oom = False  # a script with flags that says allow-oom
        self.dirty = False  # a write command was called (SCRIPT KILL refuses then)
        self.resp3 = False
        # What SCRIPT KILL, FUNCTION KILL and FUNCTION STATS see of the run (run_script).
        self.is_eval = True
        self.name = b""
        self.argv: list[bytes] = []
        self.started = 0.0
        self.killed = False
        self.busy: BusyServing | None = None

    def overtime(self, rt: Runtime, line: int) -> None:
        """scriptInterrupt: past busy-reply-threshold the node serves its connections
        (every command but the allow-busy ones gets BUSY) every SERVE_INTERVAL_S while
        the script runs on, until it ends or a KILL stops it here."""
        busy = self.busy
        if busy is None:
            log_slow_script(time.monotonic() - self.started, self.is_eval, self.name)
            busy = self.busy = BusyServing(self.server, self.caller,
                                           BUSY_EVAL if self.is_eval else BUSY_FUNCTION,
                                           "allow-busy")
        started = time.monotonic()
        busy.serve()
        if self.killed:
            raise ScriptKilled(line)
        now = time.monotonic()
        # With thousands of connections a pass is not free: the script keeps most of the
        # time whatever the number of clients.
        rt.deadline = now + max(SERVE_INTERVAL_S, 10 * (now - started))

    def execute(self, argv: list[bytes], raise_error: bool) -> Any:
        server = self.server
        cmd: Command | None = server.lookup_command(argv[0])
        if cmd is not None and cmd.subcommands and len(argv) >= 2:
            cmd = cmd.subcommands.get(argv[1].decode(errors="replace").lower())
        if cmd is None:
            return self._refused(None, b"Unknown Redis command called from script")
        n = len(argv)
        if (cmd.arity > 0 and n != cmd.arity) or n < -cmd.arity:
            return self._refused(cmd, b"Wrong number of args calling Redis command from script")
        flags = cmd.flags
        if "noscript" in flags and not server.script_deny_disabled:
            return self._refused(cmd, b"This Redis command is not allowed from script")
        if server.no_stale_data and "stale" not in flags:
            link = server.replica  # scriptVerifyAllowStale
            if link is not None and link.state != "connected":
                return self._refused(cmd, b"Can not execute the command on a stale replica")
        caller = self.caller
        if caller.restricted:  # scriptVerifyACL: the caller's user, logged as "lua"
            denied = acl.check(caller, caller.acl_user, cmd, argv, "lua")
            if denied:
                return self._refused(cmd, b"The user executing the script "
                                     + acl.SCRIPT_DENIALS[denied])
        if self.read_only and (cmd.is_write or "may-replicate" in flags):
            return self._refused(cmd, b"Write commands are not allowed from read-only scripts.")
        if cmd.is_write:
            if not self.dirty:
                # Only until the script's first write: after it, failing would leave the
                # script half done (scriptVerifyWriteCommandAllow).
                # These texts keep their own error codes ("-CODE msg", luaPushError).
                if server.read_only_replica and not self.caller.is_master:
                    from aikv.replica import READONLY

                    return self._refused(cmd, b"-" + READONLY.encode())
                if server.bgsave_refusal:
                    from aikv.server import BGSAVE_MISCONF

                    return self._refused(cmd, b"-" + BGSAVE_MISCONF.encode())
                if server.store.write_error is not None:
                    from aikv.server import disk_error_reply

                    return self._refused(
                        cmd, b"-" + disk_error_reply(server.store.write_error).encode())
                if server.replicas_required and server.too_few_replicas():
                    from aikv.server import NOREPLICAS

                    return self._refused(cmd, b"-" + NOREPLICAS.encode())
                if ("denyoom" in flags and server.out_of_memory and not self.allow_oom
                        and not caller.is_master):
                    # scriptVerifyOOM: only before the script's first write (after it,
                    # stopping would leave the script half done).
                    from aikv.server import OOM

                    return self._refused(cmd, b"-" + OOM.encode())
            self.dirty = True
        fake = self.fake
        if server.router is not None:
            refusal = self._cluster_check(cmd, argv)
            if refusal is not None:
                return self._refused(cmd, refusal)
        fake.resp3 = self.resp3
        frame = server.propagation_frame
        if frame is not None and not self.repl_flags & REPL_REPLICA:
            # redis.set_repl without REPL_REPLICA: this command's effects stay here.
            kept = len(frame.effects)
            value = resp_to_lua(server.call(fake, cmd, argv))
            del frame.effects[kept:]
        else:
            value = resp_to_lua(server.call(fake, cmd, argv))
        tracking = server.tracking
        if tracking is not None and caller.tracking is not None and "readonly" in flags:
            # A script that reads makes its caller track every key it declared, whatever
            # the command read (Redis's call() with server.script_caller).
            tracking.remember(caller, self.keys)
        if type(value) is LuaTable and b"err" in value.hash:
            value.hash[IGNORE_STATS] = True  # counted by Server.call already
        return value

    def _refused(self, cmd: Command | None, text: bytes) -> LuaTable:
        """scriptCall's refusals: the error counts (and the command as rejected) here,
        not again in the script's reply."""
        table = error_table(text)
        err = table.hash[b"err"]
        self.server.count_rejection(cmd, err[:err.find(b" ")].decode(errors="replace"))
        table.hash[IGNORE_STATS] = True
        return table

    def may_run(self, argv: list[bytes]) -> bool | None:
        cmd = lookup(argv, self.server.command_table)
        if cmd is None:
            return None
        user = self.caller.acl_user
        if user.unrestricted:
            return True
        try:
            return user.check(cmd, argv)[0] == acl.OK
        except Exception:  # keys of a command line of the wrong arity
            return False

    def _cluster_check(self, cmd: Command, argv: list[bytes]) -> bytes | None:
        """scriptVerifyClusterState."""
        server = self.server
        fake, caller = self.fake, self.caller
        fake.readonly = caller.readonly
        fake.asking = caller.asking
        assert server.router is not None
        redirect = server.router(fake, cmd, argv)
        if redirect is not None:
            if redirect.startswith(b"-CLUSTERDOWN The cluster is down and only accepts read"):
                return (b"Script attempted to execute a write command while the cluster is "
                        b"down and readonly")
            if redirect.startswith(b"-CLUSTERDOWN The cluster is down"):
                return b"Script attempted to execute a command while the cluster is down"
            return b"Script attempted to access a non local key in a cluster node"
        if not self.cross_slot_ok:
            for key in cmd.keys(argv):
                slot = key_hash_slot(key)
                if self.slot == -1:
                    self.slot = slot
                elif self.slot != slot:
                    return (b"Script attempted to access keys that do not hash to the same "
                            b"slot")
        return None


def run_script(ctx: RunContext, is_eval: bool, name: bytes, argv: list[bytes],
               run: Callable[[], bytes]) -> bytes:
    """Run `run` (the engine's call) as the node's running script: SCRIPT KILL and
    FUNCTION STATS find it, and connections served while it was busy go back to the
    loop when it ends."""
    server = ctx.server
    ctx.is_eval = is_eval
    ctx.name = name
    ctx.argv = argv
    ctx.started = time.monotonic()
    server.running_script = ctx
    try:
        return run()
    finally:
        server.running_script = None
        if ctx.busy is not None:
            ctx.busy.end()


def kill_running_script(server: Server, by_eval: bool) -> bytes:
    """scriptKill: SCRIPT KILL (`by_eval`) or FUNCTION KILL."""
    ctx: RunContext | None = server.running_script
    if ctx is None:
        raise CommandError("NOTBUSY No scripts in execution right now.")
    if ctx.caller.is_master:
        raise CommandError("UNKILLABLE The busy script was sent by a master instance in the "
                           "context of replication and cannot be killed.")
    if ctx.dirty:
        raise CommandError("UNKILLABLE Sorry the script already executed write commands "
                           "against the dataset. You can either wait the script termination "
                           "or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
    if by_eval != ctx.is_eval:
        # SCRIPT KILL does not stop a function, nor FUNCTION KILL an EVAL.
        raise CommandError(BUSY_FUNCTION if by_eval else BUSY_EVAL)
    ctx.killed = True
    return OK


def parse_numkeys(argv: list[bytes]) -> int:
    numkeys = parse_int(argv[2])
    if numkeys > len(argv) - 3:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    if numkeys < 0:
        raise CommandError("ERR Number of keys can't be negative")
    return numkeys


def _run(client: Client, argv: list[bytes], by_sha: bool, ro: bool) -> bytes:
    server = client.server
    if server.monitors:
        # Fed here, so the script's own commands follow it (evalCommand does the same).
        cmd = server.lookup_command(argv[0])
        if cmd is not None:
            server.feed_monitors(client, cmd, argv)
    engine = engine_of(server)
    if by_sha and len(argv[1]) != 40:
        raise CommandError(NOSCRIPT)
    numkeys = parse_numkeys(argv)
    script: Script | None
    if by_sha:
        script = engine.scripts.get(argv[1].decode(errors="replace").lower())
        if script is None:
            raise CommandError(NOSCRIPT)
    else:
        try:
            script = engine.load(argv[1])
        except ScriptError as exc:
            raise CommandError(str(exc)) from None
    keys = argv[3:3 + numkeys]
    args = argv[3 + numkeys:]
    ctx = prepare_run(client, script.flags, ro, keys)
    return run_script(ctx, True, script.sha.encode(), argv, lambda: engine.run(
        script, keys, args, ctx, client.resp3, time_limit_ms(server)))


def prepare_run(client: Client, flags: int, ro: bool, keys: list[bytes]) -> RunContext:
    """scriptPrepareForRun: refuse a run its flags forbid here, else the context its
    redis.call commands run in. Shared by EVAL (shebang flags; FLAG_COMPAT without a
    shebang) and FCALL (the function's flags)."""
    server = client.server
    compat = bool(flags & FLAG_COMPAT)
    link = server.replica
    # A replica with replica-serve-stale-data no whose link is down (EVAL and FCALL are
    # flagged "stale": the dispatcher lets them through to this check).
    running_stale = (server.no_stale_data and link is not None and link.state != "connected"
                     and not client.is_master)
    if compat:
        if running_stale:
            from aikv.server import MASTERDOWN

            raise CommandError(MASTERDOWN)  # scriptPrepareForRun's own refusal
    else:
        # Redis's processCommand refuses these first, in this order, the script's flags
        # making the command a write (no no-writes) or not "stale" (no allow-stale).
        if not flags & FLAG_NO_WRITES and not client.is_master:
            if server.bgsave_refusal:
                from aikv.server import BGSAVE_MISCONF

                raise CommandRejected(BGSAVE_MISCONF)
            if server.read_only_replica:
                from aikv.replica import READONLY

                raise CommandRejected(READONLY)
        if running_stale and not flags & FLAG_ALLOW_STALE:
            from aikv.server import MASTERDOWN

            raise CommandRejected(MASTERDOWN)
        if flags & FLAG_NO_CLUSTER and server.config.cluster_enabled:
            raise CommandError("ERR Can not run script on cluster, 'no-cluster' flag is set.")
        if not flags & FLAG_NO_WRITES:
            if server.store.write_error is not None:
                raise CommandError(
                    "MISCONF Redis is configured to persist data to AOF, but it's currently "
                    "unable to persist to disk. Writable scripts are blocked. Use 'no-writes' "
                    "flag for read only scripts. AOF error: " + server.store.write_error)
            if server.replicas_required and server.too_few_replicas():
                from aikv.server import NOREPLICAS

                # Redis refuses it before the call: such a script counts as a write.
                raise CommandRejected(NOREPLICAS)
            if ro:
                raise CommandError(
                    "ERR Can not execute a script with write flag using *_ro command.")
        # (no-writes implies allow-oom; execute() refused such a run already unless it
        # came inside a transaction.)
        if server.out_of_memory and not flags & (FLAG_ALLOW_OOM | FLAG_NO_WRITES):
            raise CommandError("OOM allow-oom flag is not set on the script, can not run "
                               "it when used memory > 'maxmemory'")
    fake = _script_client(server)
    fake.db_index = client.db_index
    fake.db = client.db
    fake.authenticated = True
    slot = key_hash_slot(keys[0]) if keys and server.router is not None else -1
    ctx = RunContext(server, client, fake, ro or bool(not compat and flags & FLAG_NO_WRITES),
                     compat or bool(flags & FLAG_ALLOW_CROSS_SLOT), slot, keys)
    ctx.allow_oom = not compat and bool(flags & FLAG_ALLOW_OOM)
    return ctx


def script_writes(server: Server, cmd: Command, argv: list[bytes]) -> bool | None:
    """Whether an EVAL*/FCALL* run counts as a write, as Redis's evalGetCommandFlags and
    fcallGetCommandFlags decide before it runs (cluster routing sends a READONLY
    replica's client to the master for one): a script or function with flags writes
    unless it says no-writes. None: no flags to go on (a script without a shebang, an
    unknown SHA or function), the command's own flags decide."""
    flags = declared_flags(server, cmd, argv)
    return None if flags is None else not flags & FLAG_NO_WRITES


def script_denies_oom(server: Server, cmd: Command, argv: list[bytes]) -> bool:
    """Whether an EVAL*/FCALL* run is refused past maxmemory before it runs: a script or
    function with flags is denyoom unless it says allow-oom or no-writes."""
    flags = declared_flags(server, cmd, argv)
    return flags is not None and not flags & (FLAG_ALLOW_OOM | FLAG_NO_WRITES)


def declared_flags(server: Server, cmd: Command, argv: list[bytes]) -> int | None:
    """The flags a script's shebang or a function declares; None without any (no
    shebang, an unknown SHA or function)."""
    name = cmd.name
    if name in ("fcall", "fcall_ro"):
        from aikv.commands.functions import functions_of

        fn = functions_of(server).find(argv[1])
        return None if fn is None else int(fn.flags)
    body = argv[1]
    if name in ("evalsha", "evalsha_ro"):
        if len(body) != 40:
            return None
        script = engine_of(server).scripts.get(body.decode(errors="replace").lower())
        if script is None:
            return None
        flags = script.flags
    else:
        script = engine_of(server).scripts.get(sha1hex(body))
        if script is not None:
            flags = script.flags
        else:
            try:
                flags = split_shebang(body)[0]
            except ScriptError:
                return None
    return None if flags & FLAG_COMPAT else int(flags)


def time_limit_ms(server: Server) -> int:
    return int(server.config.values["busy-reply-threshold"])  # alias lua-time-limit


_EVAL_FLAGS = "noscript stale skip-monitor no-mandatory-keys may-replicate"
_RO_FLAGS = "readonly noscript stale skip-monitor no-mandatory-keys"


@command("eval", -3, _EVAL_FLAGS, key_finder=eval_keys, categories="@slow @scripting")
def eval_(client: Client, argv: list[bytes]) -> bytes:
    return _run(client, argv, False, False)


@command("evalsha", -3, _EVAL_FLAGS, key_finder=eval_keys, categories="@slow @scripting")
def evalsha(client: Client, argv: list[bytes]) -> bytes:
    return _run(client, argv, True, False)


@command("eval_ro", -3, _RO_FLAGS, key_finder=eval_keys,
         categories="@slow @scripting")
def eval_ro(client: Client, argv: list[bytes]) -> bytes:
    return _run(client, argv, False, True)


@command("evalsha_ro", -3, _RO_FLAGS, key_finder=eval_keys,
         categories="@slow @scripting")
def evalsha_ro(client: Client, argv: list[bytes]) -> bytes:
    return _run(client, argv, True, True)


# ---------------------------------------------------------------------- SCRIPT
container("script", -2)

HELP_LINES = [
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
]


@command("help", 2, "loading stale", parent="script", categories="@slow @scripting")
def script_help(client: Client, argv: list[bytes]) -> bytes:
    return array([simple(line) for line in HELP_LINES])


@command("flush", -2, "noscript", parent="script", categories="@slow @scripting")
def script_flush(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"sync", b"async")):
        raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    engine_of(client.server).flush()
    return OK


@command("exists", -3, "noscript", parent="script", categories="@slow @scripting")
def script_exists(client: Client, argv: list[bytes]) -> bytes:
    scripts = engine_of(client.server).scripts
    return array([integer(1 if sha.decode(errors="replace").lower() in scripts else 0)
                  for sha in argv[2:]])


@command("load", 3, "noscript stale", parent="script", categories="@slow @scripting")
def script_load(client: Client, argv: list[bytes]) -> bytes:
    try:
        script = engine_of(client.server).load(argv[2])
    except ScriptError as exc:
        raise CommandError(str(exc)) from None
    return bulk(script.sha.encode())


@command("kill", 2, "noscript allow-busy", parent="script", categories="@slow @scripting")
def script_kill(client: Client, argv: list[bytes]) -> bytes:
    return kill_running_script(client.server, True)


@command("debug", 3, "noscript", parent="script", categories="@slow @scripting")
def script_debug(client: Client, argv: list[bytes]) -> bytes:
    mode = argv[2].lower()
    if mode == b"no":
        return OK
    if mode in (b"yes", b"sync"):
        raise CommandError("ERR AiKv has no Lua debugger (SCRIPT DEBUG YES/SYNC)")
    raise CommandError("ERR Use SCRIPT DEBUG YES/SYNC/NO")
