"""FCALL / FCALL_RO and FUNCTION LOAD|LIST|DELETE|FLUSH|DUMP|RESTORE|STATS|KILL|HELP: Redis
7.0 functions (the libraries and their Lua state are aikv.scripting.functions).

A function runs like an EVAL script with a shebang: the same checks before the run
(commands/scripting.prepare_run, with the function's flags) and the same redis.call
bridge. The libraries are kept in LMDB (Store.write_functions, one FUNCTION DUMP payload)
by every command that changes them, in the tick's write transaction, and loaded from
there when first needed after a start; FLUSHALL does not touch them.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from aikv.busy import BUSY_EVAL
from aikv.commands.args import parse_int, subcommand_error
from aikv.commands.registry import command, container
from aikv.commands.scripting import (
    engine_of,
    eval_keys,
    kill_running_script,
    parse_numkeys,
    prepare_run,
    run_script,
    time_limit_ms,
)
from aikv.glob import match
from aikv.migrate.functionrdb import FunctionPayloadError, dump_functions, iter_functions
from aikv.migrate.values import limits_from_config
from aikv.resp import (
    OK,
    CommandError,
    array,
    bulk,
    integer,
    map_reply,
    null,
    set_reply,
    simple,
)
from aikv.scripting.functions import (
    ENGINE_NAME,
    LOAD_TIMEOUT_MS,
    FunctionEngine,
    FunctionError,
    Library,
)

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.server import Server

log = logging.getLogger("aikv")


def functions_of(server: Server) -> FunctionEngine:
    """The server's libraries; the first call loads the ones stored in LMDB."""
    engine = engine_of(server)
    functions = engine.functions
    if functions is None:
        functions = engine.functions = FunctionEngine()
        payload = server.store.read_functions()
        if payload is not None:
            _load_stored(functions, payload)
    return functions


def _load_stored(functions: FunctionEngine, payload: bytes) -> None:
    """Load the stored libraries. One that fails (stored by this server, so only if the
    interpreter changed) is left out of the live set but kept on disk; a payload that
    cannot be read at all is kept as it is, and only FUNCTION FLUSH may replace it:
    user code is not dropped because a later FUNCTION LOAD rewrote the record."""
    try:
        codes = list(iter_functions(payload))
    except FunctionPayloadError as exc:
        functions.unreadable = True
        log.warning("The stored function libraries are unreadable (%s): they are kept, "
                    "and only FUNCTION FLUSH or FUNCTION RESTORE ... FLUSH replaces them",
                    exc)
        return
    for code in codes:
        try:
            functions.create(code, False)
        except FunctionError as exc:
            functions.kept.append(code)
            log.warning("A stored function library did not load (%s): it stays stored, "
                        "unused, until FUNCTION FLUSH", exc)


_UNREADABLE = ("ERR the stored function libraries cannot be read (see the server log): "
               "only FUNCTION FLUSH or FUNCTION RESTORE with FLUSH may replace them")


def _check_writable(functions: FunctionEngine) -> None:
    if functions.unreadable:
        raise CommandError(_UNREADABLE)


def persist_libraries(server: Server, functions: FunctionEngine) -> None:
    codes = functions.live.codes() + functions.kept
    server.store.write_functions(dump_functions(codes, compress=False) if codes else None)


def _error(exc: FunctionError | FunctionPayloadError) -> CommandError:
    return CommandError("ERR " + str(exc.args[0]))


# ---------------------------------------------------------------------- FCALL
def _fcall(client: Client, argv: list[bytes], ro: bool) -> bytes:
    server = client.server
    if server.monitors:
        # Fed before the function's own commands, as fcallCommandGeneric does.
        cmd = server.lookup_command(argv[0])
        if cmd is not None:
            server.feed_monitors(client, cmd, argv)
    functions = functions_of(server)
    fn = functions.find(argv[1])
    if fn is None:
        raise CommandError("ERR Function not found")
    try:
        parse_int(argv[2])
    except CommandError:
        raise CommandError("ERR Bad number of keys provided") from None
    numkeys = parse_numkeys(argv)
    keys = argv[3:3 + numkeys]
    args = argv[3 + numkeys:]
    ctx = prepare_run(client, fn.flags, ro, keys)
    return run_script(ctx, False, fn.name, argv, lambda: functions.call(
        fn, keys, args, ctx, client.resp3, time_limit_ms(server)))


@command("fcall", -3, "noscript stale skip-monitor no-mandatory-keys may-replicate",
         key_finder=eval_keys, categories="@slow @scripting")
def fcall(client: Client, argv: list[bytes]) -> bytes:
    return _fcall(client, argv, False)


@command("fcall_ro", -3, "readonly noscript stale skip-monitor no-mandatory-keys",
         key_finder=eval_keys, categories="@slow @scripting")
def fcall_ro(client: Client, argv: list[bytes]) -> bytes:
    return _fcall(client, argv, True)


# ---------------------------------------------------------------------- FUNCTION
container("function", -2)

HELP_LINES = [
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME "
    "argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored "
    "using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a "
    "restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, "
    "abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, "
    "replace the old",
    "      libraries with the new libraries (notice that even on this option there is a "
    "chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
]


@command("help", 2, "loading stale", parent="function", categories="@slow @scripting")
def function_help(client: Client, argv: list[bytes]) -> bytes:
    return array([simple(line) for line in HELP_LINES])


@command("load", -3, "write denyoom noscript", parent="function",
         categories="@slow @scripting")
def function_load(client: Client, argv: list[bytes]) -> bytes:
    replace = False
    for option in argv[2:-1]:
        if option.lower() != b"replace":
            raise CommandError("ERR Unknown option given: " + option.decode(errors="replace"))
        replace = True
    server = client.server
    functions = functions_of(server)
    _check_writable(functions)
    try:
        name = functions.create(argv[-1], replace, timeout_ms=LOAD_TIMEOUT_MS)
    except FunctionError as exc:
        raise _error(exc) from None
    persist_libraries(server, functions)
    return bulk(name)


@command("delete", 3, "write noscript", parent="function", categories="@slow @scripting")
def function_delete(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    functions = functions_of(server)
    _check_writable(functions)
    try:
        functions.delete(argv[2])
    except FunctionError as exc:
        raise _error(exc) from None
    persist_libraries(server, functions)
    return OK


@command("flush", -2, "write noscript", parent="function", categories="@slow @scripting")
def function_flush(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 3:
        raise subcommand_error(argv)
    if len(argv) == 3 and argv[2].lower() not in (b"sync", b"async"):
        raise CommandError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    server = client.server
    functions = functions_of(server)
    functions.flush()
    persist_libraries(server, functions)
    return OK


@command("list", -2, "noscript", parent="function", categories="@slow @scripting")
def function_list(client: Client, argv: list[bytes]) -> bytes:
    with_code = False
    pattern: bytes | None = None
    i = 2
    while i < len(argv):
        arg = argv[i]
        if not with_code and arg.lower() == b"withcode":
            with_code = True
        elif pattern is None and arg.lower() == b"libraryname":
            if i >= len(argv) - 1:
                raise CommandError("ERR library name argument was not given")
            i += 1
            pattern = argv[i]
        else:
            raise CommandError("ERR Unknown argument " + arg.decode(errors="replace"))
        i += 1
    resp3 = client.resp3
    libraries = functions_of(client.server).live.libraries.values()
    return array([_describe(lib, with_code, resp3) for lib in libraries
                  if pattern is None or match(pattern, lib.name, nocase=True)])


def _describe(lib: Library, with_code: bool, resp3: bool) -> bytes:
    functions = [map_reply([
        (bulk(b"name"), bulk(fn.name)),
        (bulk(b"description"),
         bulk(fn.description) if fn.description is not None else null(resp3)),
        (bulk(b"flags"), set_reply([simple(flag) for flag in fn.flag_names()], resp3)),
    ], resp3) for fn in lib.functions.values()]
    pairs = [(bulk(b"library_name"), bulk(lib.name)), (bulk(b"engine"), bulk(ENGINE_NAME)),
             (bulk(b"functions"), array(functions))]
    if with_code:
        pairs.append((bulk(b"library_code"), bulk(lib.code)))
    return map_reply(pairs, resp3)


@command("dump", 2, "noscript", parent="function", categories="@slow @scripting")
def function_dump(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    compress = limits_from_config(server.config).rdb_compression
    return bulk(dump_functions(functions_of(server).live.codes(), compress))


_RESTORE_POLICIES = {b"flush": "flush", b"append": "append", b"replace": "replace"}


@command("restore", -3, "write denyoom noscript", parent="function",
         categories="@slow @scripting")
def function_restore(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 4:
        raise subcommand_error(argv)
    policy = "append"
    if len(argv) == 4:
        chosen = _RESTORE_POLICIES.get(argv[3].lower())
        if chosen is None:
            raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, "
                               "APPEND or REPLACE.")
        policy = chosen
    server = client.server
    functions = functions_of(server)
    if policy != "flush":
        _check_writable(functions)
    try:
        functions.restore(iter_functions(argv[2]), policy)
    except (FunctionError, FunctionPayloadError) as exc:
        raise _error(exc) from None
    persist_libraries(server, functions)
    return OK


@command("stats", 2, "noscript allow-busy", parent="function", categories="@slow @scripting")
def function_stats(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    resp3 = client.resp3
    running = server.running_script  # seen only while a busy script serves the node
    if running is None:
        running_reply = null(resp3)
    elif running.is_eval:
        raise CommandError(BUSY_EVAL)
    else:
        running_reply = map_reply([
            (bulk(b"name"), bulk(running.name)),
            (bulk(b"command"), array([bulk(arg) for arg in running.argv])),
            (bulk(b"duration_ms"), integer(int((time.monotonic() - running.started) * 1000))),
        ], resp3)
    live = functions_of(server).live
    counts = map_reply([(bulk(b"libraries_count"), integer(len(live.libraries))),
                        (bulk(b"functions_count"), integer(live.function_count()))], resp3)
    return map_reply([(bulk(b"running_script"), running_reply),
                      (bulk(b"engines"), map_reply([(bulk(ENGINE_NAME), counts)], resp3))],
                     resp3)


@command("kill", 2, "noscript allow-busy", parent="function", categories="@slow @scripting")
def function_kill(client: Client, argv: list[bytes]) -> bytes:
    return kill_running_script(client.server, False)
