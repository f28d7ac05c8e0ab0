"""DEBUG: the subcommands of Redis 7.0's debug.c that make sense for AiKv.

Read-only ones (DIGEST, DIGEST-VALUE, OBJECT, PROTOCOL, ERROR, LOG) and the ones that
change state in a way AiKv can honour: RELOAD (a real round trip through the RDB file:
save, flush, load back), POPULATE, SET-ACTIVE-EXPIRE, SLEEP and
DROP-CLUSTER-PACKET-FILTER. Those that inspect or crash Redis's C structures (LISTPACK,
QUICKLIST, SDSLEN, HTSTATS, SEGFAULT, PANIC, MALLCTL...) are unknown subcommands here.
"""

from __future__ import annotations

import logging
import signal
import time
import zlib
from typing import TYPE_CHECKING

from aikv import __version__, crash, restart
from aikv.commands.args import parse_int
from aikv.commands.diagnostics import allow_protected_action
from aikv.commands.functions import functions_of, persist_libraries
from aikv.commands.keys import _SHARED_REFCOUNT, _shared_integer, string_encoding
from aikv.commands.redis_table import c_atoi
from aikv.commands.registry import command
from aikv.config import ConfigError, parse_memory
from aikv.keyspace import ENCODING_HOOKS
from aikv.migrate.digest import dataset_digest, digest_value
from aikv.migrate.rdb import list_nodes
from aikv.migrate.rdbfile import Function, Key, read_rdb
from aikv.migrate.values import (
    MissingTypeSupport,
    encode_live_key,
    limits_from_config,
    read_value,
    store_value,
)
from aikv.persist.layout import STRING_CODES, TYPE_LIST
from aikv.rdbsave import rdb_path, save_now
from aikv.replication.propagate import propagate_effect
from aikv.resp import OK, CommandError, array, bulk, integer, simple
from aikv.scripting.functions import FunctionError

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.server import Server

log = logging.getLogger("aikv")

# The subcommand allowed from any connection whatever enable-debug-command says (HELP
# included, Redis refuses all of DEBUG): redis-cli --cluster (run from any host)
# compares DEBUG DIGEST-VALUE across nodes after a BUSYKEY.
_READ_ONLY_DEBUG = {b"DIGEST-VALUE"}

_HELP = [
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Replace the process with a fresh copy at once, as a crash and a restart would,",
    "    after a <milliseconds> delay (default 0). The data directory is reopened.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Close the cluster bus link to the node (to), from it (from) or both (all), as a",
    "    network failure would: what was waiting to be sent on it is lost.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all cluster bus messages of this type. Set to -1 to allow all.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "LOADAOF",
    "    Make the writes so far durable (the store is AiKv's AOF: nothing else to load).",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "PAUSE-CRON <0|1>",
    "    Stop (1) or restart (0) the periodic jobs (expiry, idle clients, save points).",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>, or <prefix>:<num>. They are not",
    "    propagated to replicas, and cluster slots are not respected.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Accepted and checked as in Redis (a memory value below 4gb; 0 restores the",
    "    default); AiKv's lists have no packed or plain nodes, so it changes nothing.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: rewrite the config file, shut down as SHUTDOWN NOW would, and",
    "    start again after a <milliseconds> delay (default 0).",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
    "    Save the RDB file, empty the databases and the function libraries, and load",
    "    the file back. MERGE: keys and libraries in the file replace existing ones.",
    "    NOFLUSH: keep what exists (a conflict refuses the load, unless MERGE).",
    "    NOSAVE: load the existing file without saving first.",
    "ASSERT",
    "    Crash the server with an assertion failure (a bug report, then SIGABRT).",
    "PANIC",
    "    Crash the server simulating a panic (a bug report, then SIGABRT).",
    "SEGFAULT",
    "    Crash the server with sigsegv (a bug report first).",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Stop (0) or restart (1) the background deletion of expired keys.",
    "SET-DISABLE-DENY-SCRIPTS <0|1>",
    "    Let scripts call commands flagged noscript (1), or not (0, the default).",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
]


@command("debug", -2, "admin noscript loading stale", categories="@admin @slow @dangerous")
def debug(client: Client, argv: list[bytes]) -> bytes:
    # Redis 7 refuses DEBUG unless enable-debug-command allows it (default "no"). AiKv
    # keeps the read-only subcommands open to every connection (see _READ_ONLY_DEBUG).
    sub = argv[1].upper()
    # (Checked for the connection that sent it: a script's DEBUG, when
    # SET-DISABLE-DENY-SCRIPTS lets it through, is not, as in Redis's processCommand.)
    if sub not in _READ_ONLY_DEBUG and not client.in_script and not allow_protected_action(
            client.server.config.values["enable-debug-command"], client):
        raise CommandError(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to "
            "\"local\", you can run it from a local connection, otherwise you need to set "
            "this option in the configuration file, and then restart the server.")
    handler = _SUBCOMMANDS.get(sub)
    if handler is None or not handler[1](len(argv)):
        raise CommandError("ERR unknown subcommand or wrong number of arguments for '%.128s'. "
                           "Try DEBUG HELP." % argv[1].decode(errors="replace"))
    return handler[0](client, argv)


def _help_reply(client: Client, argv: list[bytes]) -> bytes:
    return array([simple(line) for line in _HELP])


def _digest(client: Client, argv: list[bytes]) -> bytes:
    # The whole dataset's digest, Redis's exactly (see aikv.migrate.digest).
    return simple(dataset_digest(client.server.databases))


def _digest_value(client: Client, argv: list[bytes]) -> bytes:
    # Redis's exact per-key digests (see aikv.migrate.digest); zeros for a missing key.
    return array([simple(digest_value(client.db, key)) for key in argv[2:]])


def _set_active_expire(client: Client, argv: list[bytes]) -> bytes:
    # Redis reads the argument with atoi: anything not a number is 0.
    client.server.active_expire_enabled = c_atoi(argv[2]) != 0
    return OK


def _pause_cron(client: Client, argv: list[bytes]) -> bytes:
    client.server.cron_paused = c_atoi(argv[2]) != 0
    return OK


def _quicklist_packed_threshold(client: Client, argv: list[bytes]) -> bytes:
    """Redis stores list elements above this size in nodes of their own; its tests set
    it low to exercise those nodes. AiKv stores every element as its own record, so
    there is nothing to switch: the value is only validated, as
    quicklistisSetPackedThreshold does."""
    try:
        size = parse_memory(argv[2].decode(errors="replace"))
    except ConfigError:
        size = -1
    if not 0 <= size <= (1 << 32) - (1 << 20):
        raise CommandError("ERR argument must be a memory value bigger than 1 and smaller "
                           "than 4gb")
    return OK


def _config_rewrite_force_all(client: Client, argv: list[bytes]) -> bytes:
    from aikv.commands.server import rewrite_config

    try:
        rewrite_config(client.server, force_all=True)
    except (ConfigError, OSError) as exc:
        raise CommandError(f"ERR CONFIG-REWRITE-FORCE-ALL failed: {exc}") from None
    return OK


def _replicate(client: Client, argv: list[bytes]) -> bytes:
    """A command sent to the replicas only (Redis's tests make replicas diverge so)."""
    propagate_effect(client, list(argv[2:]))
    return OK


def _set_disable_deny_scripts(client: Client, argv: list[bytes]) -> bytes:
    client.server.script_deny_disabled = c_atoi(argv[2]) != 0
    return OK


def _sleep(client: Client, argv: list[bytes]) -> bytes:
    try:
        seconds = float(argv[2])
    except ValueError:
        seconds = 0.0  # Redis's strtod: garbage reads as 0
    if seconds > 0:
        time.sleep(seconds)  # blocks the node, exactly what DEBUG SLEEP is for
    return OK


def _log(client: Client, argv: list[bytes]) -> bytes:
    log.warning("DEBUG LOG: %s", argv[2].decode(errors="replace"))
    return OK


def _error(client: Client, argv: list[bytes]) -> bytes:
    # The text as given, as an error reply; line breaks would end it, so they become
    # spaces.
    return b"-" + argv[2].replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"


def _drop_packet_filter(client: Client, argv: list[bytes]) -> bytes:
    packet_type = parse_int(argv[2])
    node = getattr(client.server, "cluster", None)
    if node is not None:
        node.gossip.drop_type = packet_type
    return OK


def _clusterlink(client: Client, argv: list[bytes]) -> bytes:
    """CLUSTERLINK KILL <to|from|all> <node-id>: free bus links as if they had broken."""
    if len(argv) != 5 or argv[2].upper() != b"KILL":
        raise CommandError("ERR unknown subcommand or wrong number of arguments for '%.128s'. "
                           "Try DEBUG HELP." % argv[1].decode(errors="replace"))
    node = getattr(client.server, "cluster", None)
    if node is None:
        raise CommandError("ERR Debug option only available for cluster mode enabled setup!")
    peer = node.state.lookup(argv[4].decode(errors="surrogateescape"))
    if peer is None:
        raise CommandError("ERR Unknown node %s" % argv[4].decode(errors="replace"))
    direction = argv[3].lower()
    if direction not in (b"to", b"from", b"all"):
        # Redis 7.0 answers the error and then +OK as well (its code falls through to the
        # OK): two replies for one command, which a client reading one reply per command
        # sees as the next command's. Kept byte for byte.
        shown = argv[3].replace(b"\r", b" ").replace(b"\n", b" ")
        return b"-ERR Unknown direction %s\r\n%s" % (shown, OK)
    node.kill_links(peer, outbound=direction != b"from", inbound=direction != b"to")
    return OK


# ---------------------------------------------------------------------- OBJECT
def _object(client: Client, argv: list[bytes]) -> bytes:
    """Redis's line for the value: its encoding and RDB length are real; AiKv keeps no
    object in memory, so the address is a stable number derived from the key, the
    refcount is Redis's (shared small integers), and the access clock is now (access
    times are not tracked, as OBJECT IDLETIME says)."""
    db, key = client.db, argv[2]
    meta = db.stored_meta(key)  # a key past its deadline is still there until deleted
    if meta is None:
        raise CommandError("ERR no such key")
    server = client.server
    limits = limits_from_config(server.config)
    if meta[0] in STRING_CODES:
        encoding = string_encoding(meta[9:], meta[0])
    else:
        encoding = ENCODING_HOOKS[meta[0]](db, key, meta)
    try:
        serialized = len(encode_live_key(db, key, meta, limits)) - 1  # without the type
    except MissingTypeSupport as exc:
        raise CommandError(f"ERR {exc}") from None
    refcount = _SHARED_REFCOUNT if _shared_integer(server, meta) else 1
    address = 0x7F0000000000 | (zlib.crc32(key) << 4) | (db.index & 0xF)
    lru_clock = int(time.time()) & 0xFFFFFF  # Redis's LRU_CLOCK: seconds, 24 bits
    extra = b""
    if meta[0] == TYPE_LIST and encoding == b"quicklist":
        extra = _quicklist_fields(server, read_value(db, key, meta)[1])
    return b"+Value at:0x%x refcount:%d encoding:%s serializedlength:%d lru:%d " \
           b"lru_seconds_idle:0%s\r\n" % (address, refcount, encoding, serialized,
                                          lru_clock, extra)


def _quicklist_fields(server: Server, items: object) -> bytes:
    """The quicklist's fields, its nodes laid out as Redis's RPUSH would lay them out.
    ql_compressed follows today's list-compress-depth (Redis's list keeps the setting it
    was created with)."""
    assert isinstance(items, list)
    values = server.config.values
    nodes = list_nodes(items, limits_from_config(server.config))
    size = sum(len(node) if isinstance(node, bytes) else len(node.to_bytes())
               for node in nodes)
    return b" ql_nodes:%d ql_avg_node:%.2f ql_listpack_max:%d ql_compressed:%d " \
           b"ql_uncompressed_size:%d" % (
               len(nodes), len(items) / len(nodes), values["list-max-listpack-size"],
               values["list-compress-depth"] != 0, size)


# ---------------------------------------------------------------------- PROTOCOL
_PROTOCOL_TYPES = ("string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|"
                   "true|false")


def _protocol(client: Client, argv: list[bytes]) -> bytes:
    """A fixed value of each reply type, as RESP2 or RESP3 carries it (for clients'
    tests)."""
    name = argv[2].lower()
    resp3 = client.resp3
    if name == b"string":
        return bulk(b"Hello World")
    if name == b"integer":
        return integer(12345)
    if name == b"double":
        text = b"%.17g" % 3.141
        return b",%s\r\n" % text if resp3 else bulk(text)
    if name == b"bignum":
        digits = b"1234567999999999999999999999999999999"
        return b"(%s\r\n" % digits if resp3 else bulk(digits)
    if name == b"null":
        return b"_\r\n" if resp3 else b"$-1\r\n"
    if name in (b"array", b"set"):
        head = b"~3\r\n" if resp3 and name == b"set" else b"*3\r\n"
        return head + b":0\r\n:1\r\n:2\r\n"
    if name == b"map":
        pairs = [(integer(j), (b"#t\r\n" if j == 1 else b"#f\r\n") if resp3 else integer(j == 1))
                 for j in range(3)]
        return (b"%3\r\n" if resp3 else b"*6\r\n") + b"".join(k + v for k, v in pairs)
    if name == b"attrib":
        attribute = b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n" \
            if resp3 else b""
        # An attribute is not a reply by itself: a real one follows it.
        return attribute + bulk(b"Some real reply following the attribute")
    if name == b"push":
        if not resp3:
            raise CommandError("ERR RESP2 is not supported by this command")
        # Followed by a real reply, for clients that discard pushes while they wait.
        return b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n" \
            + bulk(b"Some real reply following the push reply")
    if name in (b"true", b"false"):
        value = name == b"true"
        return (b"#t\r\n" if value else b"#f\r\n") if resp3 else integer(value)
    if name == b"verbatim":
        text = b"This is a verbatim\nstring"
        return b"=%d\r\ntxt:%s\r\n" % (len(text) + 4, text) if resp3 else bulk(text)
    raise CommandError("ERR Wrong protocol type name. Please use one of the following: "
                       + _PROTOCOL_TYPES)


# ---------------------------------------------------------------------- POPULATE
def _positive(raw: bytes) -> int:
    # getPositiveLongFromObjectOrReply: one message for garbage and for a negative.
    message = "ERR value is out of range, must be positive"
    value = parse_int(raw, message)
    if value < 0:
        raise CommandError(message)
    return value


def _populate(client: Client, argv: list[bytes]) -> bytes:
    """String keys <prefix>:<n> holding value:<n> (padded with zero bytes or cut to
    <size>), skipping names that exist, all in this command's transaction."""
    count = _positive(argv[2])
    size = _positive(argv[4]) if len(argv) == 5 else 0
    prefix = argv[3] if len(argv) >= 4 else b"key"
    db = client.db
    server = client.server
    estimate = count * (len(prefix) + 24 + max(size, 16))
    refusal = server.prepare_write(estimate)
    if refusal is not None:
        return refusal
    for j in range(count):
        # Redis formats both into a 128-byte buffer: longer names are cut.
        key = b"%s:%d" % (prefix, j)
        if len(key) > 127:
            key = key[:127]
        if db.get_meta(key) is not None:
            continue
        value = b"value:%d" % j
        if size:
            value = value[:size].ljust(size, b"\0")
        db.set_string(key, value)
    return OK


# ---------------------------------------------------------------------- RELOAD
_RELOAD_FAILED = "ERR Error trying to load the RDB dump"


def _loadaof(client: Client, argv: list[bytes]) -> bytes:
    """Redis flushes its AOF, empties the dataset and replays the file. AiKv's store is
    its AOF and holds the dataset itself: the tick so far is committed and made durable,
    and the data is then what a reload would find."""
    from aikv.rdbsave import commit_and_sync

    commit_and_sync(client.server)
    log.warning("Append Only File loaded by DEBUG LOADAOF")
    return OK


def _reload(client: Client, argv: list[bytes]) -> bytes:
    """Save the RDB file, empty every database and the function libraries, and load the
    file back: the dataset makes a round trip through Redis's file format. The file is
    read and decoded whole before anything is emptied, so a file that cannot be loaded
    leaves the data as it was (Redis would have emptied it). Where Redis panics
    (NOFLUSH without MERGE meeting an existing key), the load is refused before any
    change."""
    merge = False
    flush = save = True
    for option in argv[2:]:
        word = option.upper()
        if word == b"MERGE":
            merge = True
        elif word == b"NOFLUSH":
            flush = False
        elif word == b"NOSAVE":
            save = False
        else:
            raise CommandError("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and "
                               "NOSAVE options.")
    server = client.server
    if save and not save_now(server):
        return b"-ERR\r\n"
    try:
        with open(rdb_path(server), "rb") as f:
            records = list(read_rdb(f.read()))
    except Exception as exc:  # noqa: BLE001 - a missing or malformed file: refused, logged
        log.warning("DEBUG RELOAD: the RDB file cannot be loaded: %s", exc)
        raise CommandError(_RELOAD_FAILED) from None
    keys = [r for r in records if isinstance(r, Key)]
    if any(r.db >= len(server.databases) for r in keys):
        log.warning("DEBUG RELOAD: the RDB file has more databases than this server")
        raise CommandError(_RELOAD_FAILED)
    if not flush and not merge and any(
            server.databases[r.db].stored_deadline(r.key) is not None for r in keys):
        log.warning("DEBUG RELOAD: a key of the file exists and neither NOFLUSH nor MERGE "
                    "allows replacing it")
        raise CommandError(_RELOAD_FAILED)
    refusal = server.prepare_write(sum(r.size + len(r.key) for r in keys))
    if refusal is not None:
        return refusal
    functions = functions_of(server)
    if flush:
        if server.tracking is not None:
            server.tracking.flushed()
        for db in server.databases:
            db.flush()
        functions.flush()
    try:
        for record in records:
            if isinstance(record, Function):
                functions.create(record.code, merge)
    except FunctionError as exc:
        log.warning("DEBUG RELOAD: a function library of the file did not load: %s",
                    exc.args[0])
        raise CommandError(_RELOAD_FAILED) from None
    finally:
        persist_libraries(server, functions)
    # A master drops keys whose time has passed, as Redis's rdbLoad does; a replica
    # keeps them for its master's DEL.
    now = server.clock.now_ms if server.replica is None else 0
    for record in keys:
        if now and record.expire_at_ms and record.expire_at_ms < now:
            continue
        store_value(server.databases[record.db], record.key, record.kind, record.value,
                    record.expire_at_ms)
    log.warning("DB reloaded by DEBUG RELOAD")
    return OK


# Subcommand -> (handler, accepted argument counts including DEBUG and the name).
def _segfault(client: Client, argv: list[bytes]) -> bytes:
    crash.die(client.server, client, argv,
              [f"AiKv {__version__} crashed by signal: {int(signal.SIGSEGV)} (DEBUG SEGFAULT)"],
              signal.SIGSEGV)
    raise AssertionError("not reached")


def _panic(client: Client, argv: list[bytes]) -> bytes:
    crash.die(client.server, client, argv, [
        "------------------------------------------------",
        "!!! Software Failure. Press left mouse button to continue",
        f"Guru Meditation: DEBUG PANIC called at Unix time {int(time.time())} "
        "#aikv/commands/debug.py"], signal.SIGABRT)
    raise AssertionError("not reached")


def _assert(client: Client, argv: list[bytes]) -> bytes:
    crash.die(client.server, client, argv, [
        "=== ASSERTION FAILED ===",
        "==> aikv/commands/debug.py '1 == 2' is not true"], signal.SIGABRT)
    raise AssertionError("not reached")


def _restart(client: Client, argv: list[bytes]) -> bytes:
    """RESTART [delay-ms] and CRASH-AND-RECOVER [delay-ms] (aikv/restart.py). When the
    restart goes ahead the client gets no reply: its connection closes, as in Redis."""
    delay = max(parse_int(argv[2]), 0) if len(argv) >= 3 else 0
    server = client.server
    if restart.can_execute():
        if argv[1].upper() != b"RESTART":
            restart.execute_self(delay)  # CRASH-AND-RECOVER: at once, nothing saved
        if _rewrite_before_restart(server) and restart.shut_down_for_restart(server, delay):
            client.close_after_reply = True
            return b""
    raise CommandError("ERR failed to restart the server. Check server logs.")


def _rewrite_before_restart(server: Server) -> bool:
    """RESTART rewrites the config file first, when there is one (Redis's
    RESTART_SERVER_CONFIG_REWRITE), so the new process starts with today's settings."""
    if not server.config.config_file:
        return True
    from aikv.commands.server import rewrite_config

    try:
        rewrite_config(server)
    except (ConfigError, OSError) as exc:
        log.warning("Can't restart: configuration rewrite process failed: %s", exc)
        return False
    return True


_SUBCOMMANDS = {
    b"RESTART": (_restart, lambda n: n >= 2),
    b"CRASH-AND-RECOVER": (_restart, lambda n: n >= 2),
    b"ASSERT": (_assert, lambda n: n == 2),
    b"PANIC": (_panic, lambda n: n == 2),
    b"SEGFAULT": (_segfault, lambda n: n == 2),
    b"HELP": (_help_reply, lambda n: n == 2),
    b"DIGEST": (_digest, lambda n: n == 2),
    b"CONFIG-REWRITE-FORCE-ALL": (_config_rewrite_force_all, lambda n: n == 2),
    b"REPLICATE": (_replicate, lambda n: n >= 3),
    b"DIGEST-VALUE": (_digest_value, lambda n: n >= 2),
    b"LOADAOF": (_loadaof, lambda n: n == 2),
    b"PAUSE-CRON": (_pause_cron, lambda n: n == 3),
    b"SET-ACTIVE-EXPIRE": (_set_active_expire, lambda n: n == 3),
    b"SET-DISABLE-DENY-SCRIPTS": (_set_disable_deny_scripts, lambda n: n == 3),
    b"SLEEP": (_sleep, lambda n: n == 3),
    b"LOG": (_log, lambda n: n == 3),
    b"ERROR": (_error, lambda n: n == 3),
    b"DROP-CLUSTER-PACKET-FILTER": (_drop_packet_filter, lambda n: n == 3),
    b"CLUSTERLINK": (_clusterlink, lambda n: n >= 2),
    b"OBJECT": (_object, lambda n: n == 3),
    b"PROTOCOL": (_protocol, lambda n: n == 3),
    b"QUICKLIST-PACKED-THRESHOLD": (_quicklist_packed_threshold, lambda n: n == 3),
    b"POPULATE": (_populate, lambda n: 3 <= n <= 5),
    b"RELOAD": (_reload, lambda n: n >= 2),
}
