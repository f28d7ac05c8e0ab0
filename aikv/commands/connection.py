"""Connection commands: PING ECHO QUIT SELECT AUTH HELLO RESET and CLIENT."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aikv import REDIS_VERSION
from aikv.client import REPLY_CHUNK_BYTES
from aikv.commands.args import parse_c_int, parse_int, subcommand_error
from aikv.commands.registry import command, container
from aikv.resp import (
    OK,
    PONG,
    CommandError,
    array,
    bulk,
    bulk_or_null,
    integer,
    map_reply,
    set_reply,
    simple,
    verbatim,
)
from aikv.tracking import Tracking

if TYPE_CHECKING:
    from aikv.acl import User
    from aikv.client import Client


@command("ping", -1, "fast", categories="@fast @connection")
def ping(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    subscribed = client.subscriptions or client.patterns or client.shard_subscriptions
    if subscribed and not client.resp3:
        return array([bulk(b"pong"), bulk(argv[1] if len(argv) == 2 else b"")])
    return bulk(argv[1]) if len(argv) == 2 else PONG


@command("echo", 2, "fast loading stale", categories="@fast @connection")
def echo(client: Client, argv: list[bytes]) -> bytes:
    return bulk(argv[1])


@command("quit", -1, "no-auth fast stale allow-busy loading noscript", categories="@fast @connection")
def quit_(client: Client, argv: list[bytes]) -> bytes:
    client.close_after_reply = True
    return OK


@command("select", 2, "loading stale fast", categories="@fast @connection")
def select(client: Client, argv: list[bytes]) -> bytes:
    index = parse_c_int(argv[1])
    server = client.server
    if server.config.cluster_enabled and index != 0:
        raise CommandError("ERR SELECT is not allowed in cluster mode")
    if index < 0 or index >= len(server.databases):
        raise CommandError("ERR DB index is out of range")
    client.db_index = index
    client.db = server.databases[index]
    return OK


def _check_password(client: Client, username: bytes, password: bytes, command: str) -> None:
    """AUTH / HELLO AUTH (ACLAuthenticateUser): the user must exist, be on, and be nopass
    or have the password (names are case-sensitive). Success makes it the connection's
    user; a failure goes to ACL LOG."""
    server = client.server
    user = server.acl_users.get(username)
    if user is not None and user.check_password(password):
        set_user(client, user)
        return
    context = "multi" if client.multi is not None or client.in_exec else "toplevel"
    server.acl_log.add_auth_failure(username, command, describe(client, time.time()).encode(),
                                    server.config.values["acllog-max-len"], context)
    raise CommandError("WRONGPASS invalid username-password pair or user is disabled.")


def set_user(client: Client, user: User) -> None:
    """The connection authenticated as `user`: whether its commands are checked follows."""
    client.authenticated = True
    client.acl_user = user
    client.user = user.name.decode(errors="replace")
    client.restricted = not user.unrestricted


def set_default_user(client: Client) -> None:
    """clientSetDefaultAuth: back to `default`, authenticated if it needs no password."""
    default = client.server.acl_users[b"default"]
    client.acl_user = default
    client.user = "default"
    client.restricted = not default.unrestricted
    client.authenticated = default.nopass and default.enabled


@command("auth", -2, "no-auth fast stale loading noscript allow-busy", categories="@fast @connection")
def auth(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 3:
        raise CommandError("ERR syntax error")
    if len(argv) == 2 and client.server.acl_users[b"default"].nopass:
        raise CommandError("ERR AUTH <password> called without any password configured for "
                           "the default user. Are you sure your configuration is correct?")
    username, password = (b"default", argv[1]) if len(argv) == 2 else (argv[1], argv[2])
    _check_password(client, username, password, argv[0].decode(errors="replace"))
    return OK


@command("hello", -1, "no-auth fast stale loading noscript allow-busy", categories="@fast @connection")
def hello(client: Client, argv: list[bytes]) -> bytes:
    version: int | None = None
    i = 1
    if len(argv) >= 2:
        try:
            version = parse_int(argv[1])
        except CommandError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
        i = 2
        if version < 2 or version > 3:
            raise CommandError("NOPROTO unsupported protocol version")
    # As redis-server 7.0.15 does: each option takes effect as it is read (AUTH
    # authenticates, SETNAME's name is validated), so an error in a later option leaves
    # an earlier AUTH done; the authentication requirement is checked after them all.
    name: bytes | None = None
    while i < len(argv):
        opt = argv[i].upper()
        more = len(argv) - i - 1
        if opt == b"AUTH" and more >= 2:
            username, password = argv[i + 1], argv[i + 2]
            _check_password(client, username, password, argv[0].decode(errors="replace"))
            i += 3
        elif opt == b"SETNAME" and more >= 1:
            name = argv[i + 1]
            _validate_name(name)
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[i].decode(errors='replace')}'")
    if not client.authenticated:
        raise CommandError("NOAUTH HELLO must be called with the client already authenticated, "
                           "otherwise the HELLO AUTH <user> <pass> option can be used to "
                           "authenticate the client and select the RESP protocol version at "
                           "the same time")
    if version is not None:
        client.resp3 = version == 3
    if name is not None:
        client.name = name
    mode = b"cluster" if client.server.config.cluster_enabled else b"standalone"
    pairs = [
        (bulk(b"server"), bulk(b"redis")),
        (bulk(b"version"), bulk(REDIS_VERSION.encode())),
        (bulk(b"proto"), integer(3 if client.resp3 else 2)),
        (bulk(b"id"), integer(client.id)),
        (bulk(b"mode"), bulk(mode)),
        (bulk(b"role"), bulk(b"master")),
        (bulk(b"modules"), b"*0\r\n"),
    ]
    return map_reply(pairs, client.resp3)


@command("reset", 1, "no-auth fast stale noscript loading allow-busy", categories="@fast @connection")
def reset(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    client.multi = None
    client.multi_error = False
    server.unwatch_all(client)
    if server.pubsub is not None:
        server.pubsub.client_gone(client)
    client.db_index = 0
    client.db = server.databases[0]
    client.resp3 = False
    client.name = b""
    client.asking = False
    client.readonly = False
    set_default_user(client)
    server.stop_monitoring(client)
    if server.tracking is not None:
        server.tracking.disable(client)
    client.reply_off = client.reply_skip = client.reply_skip_next = False
    return simple("RESET")


@command("monitor", 1, "admin noscript loading stale", categories="@admin @slow @dangerous")
def monitor(client: Client, argv: list[bytes]) -> bytes:
    if client.deny_blocking:
        raise CommandError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    if client.monitoring:
        return b""  # Redis ignores a second MONITOR: no reply at all
    client.server.start_monitoring(client)
    return OK


# ---------------------------------------------------------------------- CLIENT
container("client", -2, "sentinel")


def _validate_name(name: bytes) -> None:
    if any(c < 33 or c > 126 for c in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special "
                           "characters.")


@command("id", 2, "noscript loading stale", parent="client", categories="@slow @connection")
def client_id(client: Client, argv: list[bytes]) -> bytes:
    return integer(client.id)


@command("setname", 3, "noscript loading stale", parent="client", categories="@slow @connection")
def client_setname(client: Client, argv: list[bytes]) -> bytes:
    _validate_name(argv[2])
    client.name = argv[2]
    return OK


@command("getname", 2, "noscript loading stale", parent="client", categories="@slow @connection")
def client_getname(client: Client, argv: list[bytes]) -> bytes:
    return bulk_or_null(client.name or None, client.resp3)


@command("setinfo", 4, "noscript loading stale", parent="client", categories="@slow @connection")
def client_setinfo(client: Client, argv: list[bytes]) -> bytes:
    attr = argv[2].upper()
    if attr not in (b"LIB-NAME", b"LIB-VER"):
        raise CommandError(f"ERR Unrecognized option '{argv[2].decode(errors='replace')}'")
    if any(c < 33 or c > 126 for c in argv[3]):
        raise CommandError(f"ERR {attr.decode().lower()} cannot contain spaces, newlines or "
                           "special characters.")
    if attr == b"LIB-NAME":
        client.lib_name = argv[3]
    else:
        client.lib_ver = argv[3]
    return OK


def describe(c: Client, now: float) -> str:
    """One CLIENT LIST / CLIENT INFO line (without the newline), fields as Redis 7.0."""
    flags = "O" if c.monitoring else ""  # Redis's order: O/S M P x b t R B d c U r
    if c.is_replica and not c.monitoring:
        flags += "S"
    if c.is_master:
        flags += "M"
    if c.subscriptions or c.patterns or c.shard_subscriptions:
        flags += "P"
    if c.multi is not None or c.in_exec:  # EXEC runs with the transaction's flag on
        flags += "x"
    if c.blocked is not None or c.postponed:  # Redis blocks a paused client (POSTPONE)
        flags += "b"
    if c.tracking is not None:
        flags += "t"
        if c.tracking.broken_redirect:
            flags += "R"
        if c.tracking.bcast:
            flags += "B"
    if c.watch_dirty:
        flags += "d"
    if c.close_after_reply:
        flags += "c"
    if c.unix:
        flags += "U"
    if c.readonly:
        flags += "r"
    flags = flags or "N"
    qbuf = c.query_len or c.parser.buffered
    # Redis's view of pending output: its reply buffer (obl), then the list of blocks
    # behind it (oll), which is what omem and the output limits count.
    pending = c.output_buffer_size
    obl = min(pending, REPLY_CHUNK_BYTES)
    omem = c.output_limit_usage
    oll = -(-(pending - obl) // REPLY_CHUNK_BYTES)
    last = c.last_command
    cmd = "exec" if c.in_exec else (
        last.decode(errors="replace") if isinstance(last, bytes) else last.full_name)
    return (
        f"id={c.id} addr={c.addr} laddr={c.laddr} fd={c.fd} name={c.name.decode(errors='replace')}"
        f" age={int(now - c.created)} idle={int(now - c.last_interaction)} flags={flags}"
        f" db={c.db_index} sub={len(c.subscriptions)} psub={len(c.patterns)}"
        f" ssub={len(c.shard_subscriptions)}"
        f" multi={len(c.multi) if c.multi is not None else c.in_exec or -1} qbuf={qbuf}"
        f" qbuf-free={max(0, 20474 - qbuf)} argv-mem=0 multi-mem=0 rbs=16384 rbp=16384"
        f" obl={obl} oll={oll} omem={omem} tot-mem={37658 + qbuf + pending} events=r cmd={cmd}"
        f" user={c.user} redir={c.tracking.redirect if c.tracking is not None else -1}"
        f" resp={3 if c.resp3 else 2}"
        + (f" lib-name={c.lib_name.decode()} lib-ver={c.lib_ver.decode()}"
           if c.lib_name or c.lib_ver else "")
    )


@command("info", 2, "noscript loading stale", parent="client", categories="@slow @connection")
def client_info(client: Client, argv: list[bytes]) -> bytes:
    return verbatim((describe(client, time.time()) + "\n").encode(), client.resp3)


@command("list", -2, "admin noscript loading stale", parent="client",
         categories="@admin @slow @dangerous @connection")
def client_list(client: Client, argv: list[bytes]) -> bytes:
    clients = list(client.server.clients.values())
    if len(argv) > 2:
        opt = argv[2].upper()
        if opt == b"TYPE" and len(argv) == 4:
            kind = argv[3].lower()
            if kind not in _CLIENT_TYPES:
                raise CommandError(f"ERR Unknown client type '{argv[3].decode(errors='replace')}'")
            kind_name = "replica" if kind == b"slave" else kind.decode()
            clients = [c for c in clients if client_type(c) == kind_name]
        elif opt == b"ID" and len(argv) >= 4:
            wanted = set()
            for raw in argv[3:]:
                value = parse_int(raw, "ERR Invalid client ID")
                if value <= 0:
                    raise CommandError("ERR Invalid client ID")
                wanted.add(value)
            clients = [c for c in clients if c.id in wanted]
        else:
            raise CommandError("ERR syntax error")
    now = time.time()
    text = "".join(describe(c, now) + "\n" for c in sorted(clients, key=lambda c: c.id))
    return verbatim(text.encode(), client.resp3)


_CLIENT_TYPES = (b"normal", b"master", b"replica", b"slave", b"pubsub")


def client_type(c: Client) -> str:
    """Redis's getClientType: the class a client's output limits and TYPE filters use."""
    if c.is_master:
        return "master"
    if c.is_replica and not c.monitoring:
        return "replica"
    if c.subscriptions or c.patterns or c.shard_subscriptions:
        return "pubsub"
    return "normal"


@command("kill", -3, "admin noscript loading stale", parent="client",
         categories="@admin @slow @dangerous @connection")
def client_kill(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    if len(argv) == 3:
        addr = argv[2].decode(errors="replace")
        for c in list(server.clients.values()):
            if c.addr == addr:
                _kill(client, c)
                return OK
        raise CommandError("ERR No such client")
    if len(argv) % 2 == 1:
        raise CommandError("ERR syntax error")
    filters: list[tuple[bytes, bytes]] = []
    skipme = True
    for i in range(2, len(argv), 2):
        opt, value = argv[i].upper(), argv[i + 1]
        if opt == b"ID":
            ident = parse_int(value, "ERR client-id should be greater than 0")
            if ident <= 0:
                raise CommandError("ERR client-id should be greater than 0")
            filters.append((opt, value))
        elif opt == b"TYPE":
            if value.lower() not in _CLIENT_TYPES:
                raise CommandError(f"ERR Unknown client type '{value.decode(errors='replace')}'")
            filters.append((opt, value))
        elif opt == b"USER":
            if value not in server.acl_users:
                raise CommandError(f"ERR No such user '{value.decode(errors='replace')}'")
            filters.append((opt, value))
        elif opt in (b"ADDR", b"LADDR"):
            filters.append((opt, value))
        elif opt == b"SKIPME":
            low = value.lower()
            if low not in (b"yes", b"no"):
                raise CommandError("ERR syntax error")
            skipme = low == b"yes"
        else:
            raise CommandError("ERR syntax error")
    killed = 0
    for c in list(server.clients.values()):
        if skipme and c is client:
            continue
        if all(_matches(c, opt, value) for opt, value in filters):
            _kill(client, c)
            killed += 1
    return integer(killed)


def _matches(c: Client, opt: bytes, value: bytes) -> bool:
    text = value.decode(errors="replace")
    if opt == b"ID":
        return str(c.id) == text
    if opt == b"ADDR":
        return c.addr == text
    if opt == b"LADDR":
        return c.laddr == text
    if opt == b"USER":
        return c.acl_user is c.server.acl_users.get(value)
    if opt == b"TYPE":
        wanted = text.lower()
        return client_type(c) == ("replica" if wanted == "slave" else wanted)
    return False


def _kill(me: Client, victim: Client) -> None:
    link = me.server.replica
    if victim is me:
        me.close_after_reply = True
    elif victim.is_master and link is not None and victim is link.master_client:
        link.drop_link()  # the replication link's client has no transport of its own
    else:
        victim.close()


@command("unblock", -3, "admin noscript loading stale", parent="client",
         categories="@admin @slow @dangerous @connection")
def client_unblock(client: Client, argv: list[bytes]) -> bytes:
    # Redis's order: the argument count, the reason, then the id.
    if len(argv) > 4:
        raise subcommand_error(argv)
    with_error = False
    if len(argv) == 4:
        reason = argv[3].upper()
        if reason not in (b"TIMEOUT", b"ERROR"):
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        with_error = reason == b"ERROR"
    target_id = parse_int(argv[2])
    server = client.server
    target = server.clients.get(target_id)
    if target is not None and ((server.replication is not None
                                and server.replication.unblock(target, with_error))
                               or server.lone_waits.unblock(target, with_error)):
        return integer(1)  # a WAIT: as a timeout (the count so far) or the error
    blocking = server.blocking
    if target is None or blocking is None or target.blocked is None:
        return integer(0)
    return integer(1 if blocking.unblock(target, with_error) else 0)


@command("no-evict", 3, "admin noscript loading stale", parent="client",
         categories="@admin @slow @dangerous @connection")
def client_no_evict(client: Client, argv: list[bytes]) -> bytes:
    value = argv[2].lower()
    if value not in (b"on", b"off"):
        raise CommandError("ERR syntax error")
    client.no_evict = value == b"on"
    return OK


@command("pause", -3, "admin noscript loading stale", parent="client",
         categories="@admin @slow @dangerous @connection")
def client_pause(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 4:
        raise subcommand_error(argv)
    writes_only = False
    if len(argv) == 4:
        word = argv[3].lower()
        if word == b"write":
            writes_only = True
        elif word != b"all":
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    timeout = parse_int(argv[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    end = int(time.time() * 1000) + timeout if timeout else 0
    client.server.pause(writes_only, end)
    return OK


@command("unpause", 2, "admin noscript loading stale", parent="client",
         categories="@admin @slow @dangerous @connection")
def client_unpause(client: Client, argv: list[bytes]) -> bytes:
    client.server.unpause()
    return OK


@command("tracking", -3, "noscript loading stale", parent="client", categories="@slow @connection")
def client_tracking(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    redirect = 0
    bcast = optin = optout = noloop = False
    prefixes: list[bytes] = []
    i = 3
    while i < len(argv):
        word = argv[i].lower()
        more = i + 1 < len(argv)
        if word == b"redirect" and more:
            i += 1
            if redirect:
                raise CommandError("ERR A client can only redirect to a single other client")
            redirect = parse_int(argv[i])
            if redirect not in server.clients:
                raise CommandError("ERR The client ID you want redirect to does not exist")
        elif word == b"bcast":
            bcast = True
        elif word == b"optin":
            optin = True
        elif word == b"optout":
            optout = True
        elif word == b"noloop":
            noloop = True
        elif word == b"prefix" and more:
            i += 1
            prefixes.append(argv[i])
        else:
            raise CommandError("ERR syntax error")
        i += 1
    mode = argv[2].lower()
    if mode == b"on":
        state = client.tracking
        if not bcast and prefixes:
            raise CommandError("ERR PREFIX option requires BCAST mode to be enabled")
        if state is not None and state.bcast != bcast:
            raise CommandError("ERR You can't switch BCAST mode on/off before disabling "
                               "tracking for this client, and then re-enabling it with a "
                               "different mode.")
        if bcast and (optin or optout):
            raise CommandError("ERR OPTIN and OPTOUT are not compatible with BCAST")
        if optin and optout:
            raise CommandError("ERR You can't specify both OPTIN mode and OPTOUT mode")
        if state is not None and ((optin and state.optout) or (optout and state.optin)):
            raise CommandError("ERR You can't switch OPTIN/OPTOUT mode before disabling "
                               "tracking for this client, and then re-enabling it with a "
                               "different mode.")
        if server.tracking is None:
            server.tracking = Tracking(server)
        if bcast:
            collision = server.tracking.prefix_collision(client, prefixes)
            if collision is not None:
                raise CommandError("ERR " + collision)
        server.tracking.enable(client, redirect, bcast, optin, optout, noloop, prefixes)
    elif mode == b"off":
        if server.tracking is not None:
            server.tracking.disable(client)
    else:
        raise CommandError("ERR syntax error")
    return OK


@command("caching", 3, "noscript loading stale", parent="client", categories="@slow @connection")
def client_caching(client: Client, argv: list[bytes]) -> bytes:
    state = client.tracking
    if state is None:
        raise CommandError("ERR CLIENT CACHING can be called only when the client is in "
                           "tracking mode with OPTIN or OPTOUT mode enabled")
    answer = argv[2].lower()
    if answer == b"yes":
        if not state.optin:
            raise CommandError("ERR CLIENT CACHING YES is only valid when tracking is enabled "
                               "in OPTIN mode.")
    elif answer == b"no":
        if not state.optout:
            raise CommandError("ERR CLIENT CACHING NO is only valid when tracking is enabled "
                               "in OPTOUT mode.")
    else:
        raise CommandError("ERR syntax error")
    state.caching = True
    return OK


@command("getredir", 2, "noscript loading stale", parent="client", categories="@slow @connection")
def client_getredir(client: Client, argv: list[bytes]) -> bytes:
    return integer(client.tracking.redirect if client.tracking is not None else -1)


@command("trackinginfo", 2, "noscript loading stale", parent="client",
         categories="@slow @connection")
def client_trackinginfo(client: Client, argv: list[bytes]) -> bytes:
    state = client.tracking
    flags = [b"on" if state is not None else b"off"]
    if state is not None:
        if state.bcast:
            flags.append(b"bcast")
        if state.optin:
            flags.append(b"optin")
            if state.caching:
                flags.append(b"caching-yes")
        if state.optout:
            flags.append(b"optout")
            if state.caching:
                flags.append(b"caching-no")
        if state.noloop:
            flags.append(b"noloop")
        if state.broken_redirect:
            flags.append(b"broken_redirect")
    resp3 = client.resp3
    prefixes = state.prefixes if state is not None else []
    pairs = [
        (bulk(b"flags"), set_reply([bulk(f) for f in flags], resp3)),
        (bulk(b"redirect"), integer(state.redirect if state is not None else -1)),
        (bulk(b"prefixes"), b"*%d\r\n" % len(prefixes) + b"".join(map(bulk, sorted(prefixes)))),
    ]
    return map_reply(pairs, resp3)


@command("reply", 3, "noscript loading stale", parent="client", categories="@slow @connection")
def client_reply(client: Client, argv: list[bytes]) -> bytes:
    mode = argv[2].lower()
    if mode == b"on":
        client.reply_off = client.reply_skip = False
        return OK
    if mode == b"off":
        client.reply_off = True
        return b""
    if mode == b"skip":
        if not client.reply_off:
            client.reply_skip_next = True
        return b""
    raise CommandError("ERR syntax error")


@command("help", 2, "loading stale", parent="client", categories="@slow @connection")
def client_help(client: Client, argv: list[bytes]) -> bytes:
    # redis-server 7.0.15's reply, line for line (CLIENT SETINFO, AiKv's one extension
    # from Redis 7.2, is not listed: 7.0 clients never see it in HELP).
    lines = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CACHING (YES|NO)",
        "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR",
        "    Return the client ID we are redirecting to when tracking is enabled.",
        "GETNAME", "    Return the name of the current connection.",
        "ID", "    Return the ID of the current connection.",
        "INFO", "    Return information about the current client connection.",
        "KILL <ip:port>", "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "UNPAUSE", "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection.",
        "SETNAME <name>", "    Assign the name <name> to the current connection.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]", "    Unblock the specified blocked client.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]",
        "    Control server assisted client side caching.",
        "TRACKINGINFO", "    Report tracking status for the current connection.",
        "NO-EVICT (ON|OFF)", "    Protect current client connection from eviction.",
        "HELP", "    Prints this help.",
    ]
    return array([simple(line) for line in lines])
