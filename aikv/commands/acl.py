"""ACL: users, their passwords and permissions, as Redis 7.0 has them (aikv/acl.py holds
the model and the permission check; the dispatcher checks every command of a user that
lacks some permission, before it runs, in MULTI at queue time and at EXEC, and in
scripts' redis.call).

SETUSER (on/off, nopass, resetpass, >pass, <pass, #hash, !hash, [+-]command,
+command|subcommand, +command|first-arg, [+-]@category, allcommands, nocommands,
~pattern, %R~/%W~/%RW~pattern, allkeys, resetkeys, &pattern, allchannels, resetchannels,
[skip-]sanitize-payload, selectors "(...)", clearselectors, reset), DELUSER (its clients are
disconnected), GETUSER, LIST, USERS, WHOAMI, CAT, GENPASS, DRYRUN, LOG (denied commands,
keys and channels, failed authentications), HELP. The default user's password is
`requirepass`, as in Redis.

LOAD and SAVE use the ACL file (`aclfile`) as Redis does (aikv/acl_file.py: ACL LOAD is
all or nothing and closes the connections of every user but `default`; SAVE writes
through a temporary file); without one they answer Redis's "not configured to use an ACL
file". `user` directives in the config file are applied at startup (aikv/cli.py) and
written back by CONFIG REWRITE.

ACL LIST,
GETUSER and SAVE name single commands in AiKv's command-table order (Redis's order
depends on its hash seed) and choose categories by counting AiKv's commands (Redis counts
its own, a few more).
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from aikv import acl, acl_file
from aikv.commands.args import parse_int, subcommand_error
from aikv.commands.introspection import CATEGORY_ORDER, all_commands, categories
from aikv.commands.registry import Command, command, container
from aikv.resp import (
    NULL3,
    NULL_BULK,
    OK,
    CommandError,
    array,
    bulk,
    integer,
    map_reply,
    set_reply,
    simple,
)

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.server import Server

container("acl", -2)

_ADMIN = "admin noscript loading stale"
_ADMIN_CATS = "@admin @slow @dangerous"


@command("whoami", 2, "noscript loading stale", parent="acl", categories="@slow")
def acl_whoami(client: Client, argv: list[bytes]) -> bytes:
    return bulk(client.acl_user.name)


def _sorted_users(server: Server) -> list[acl.User]:
    return [server.acl_users[name] for name in sorted(server.acl_users)]  # a rax's order


@command("users", 2, _ADMIN, parent="acl", categories=_ADMIN_CATS)
def acl_users(client: Client, argv: list[bytes]) -> bytes:
    return array([bulk(u.name) for u in _sorted_users(client.server)])


@command("list", 2, _ADMIN, parent="acl", categories=_ADMIN_CATS)
def acl_list(client: Client, argv: list[bytes]) -> bytes:
    return array([bulk(b"user " + u.name + b" " + u.describe().encode())
                  for u in _sorted_users(client.server)])


@command("getuser", 3, _ADMIN, parent="acl", categories=_ADMIN_CATS)
def acl_getuser(client: Client, argv: list[bytes]) -> bytes:
    resp3 = client.resp3
    user = client.server.acl_users.get(argv[2])
    if user is None:
        return NULL3 if resp3 else NULL_BULK
    return map_reply([
        (bulk(b"flags"), set_reply([bulk(f.encode()) for f in user.flags()], resp3)),
        (bulk(b"passwords"), array([bulk(h) for h in user.passwords])),
        *_selector_fields(user.root),
        (bulk(b"selectors"), array([map_reply(_selector_fields(s), resp3)
                                    for s in user.selectors])),
    ], resp3)


def _selector_fields(selector: acl.Selector) -> list[tuple[bytes, bytes]]:
    """aclAddReplySelectorDescription: commands, keys and channels, each as one string."""
    channels = "&*" if selector.allchannels else " ".join(selector.describe_channels())
    return [(bulk(b"commands"), bulk(selector.describe_commands().encode())),
            (bulk(b"keys"), bulk(" ".join(selector.describe_keys()).encode())),
            (bulk(b"channels"), bulk(channels.encode()))]


@command("setuser", -3, _ADMIN, parent="acl", categories=_ADMIN_CATS)
def acl_setuser(client: Client, argv: list[bytes]) -> bytes:
    name = argv[2]
    if acl.has_spaces(name):
        raise CommandError("ERR Usernames can't contain spaces or null characters")
    server = client.server
    pubsub_all = server.config.values["acl-pubsub-default"] == "allchannels"
    existing = server.acl_users.get(name)
    try:
        staged = acl.set_user_rules(existing or acl.new_user(name, pubsub_all), argv[3:],
                                    pubsub_all)
    except acl.RuleError as exc:
        raise CommandError(f"ERR {exc}") from None
    if existing is None:
        server.acl_users[name] = staged
        return OK
    if acl.channels_revoked(staged, existing):
        _kill_revoked_subscribers(client, existing, staged)
    existing.copy_from(staged)  # in place: its connections keep pointing at it
    _user_changed(server, existing)
    return OK


def _user_changed(server: Server, user: acl.User) -> None:
    """A user's rules changed in place: whether its connections are checked follows."""
    restricted = not user.unrestricted
    for c in server.clients.values():
        if c.acl_user is user:
            c.restricted = restricted
    if user.name == b"default" and user.nopass and user.enabled:
        for c in server.clients.values():
            c.authenticated = True  # no password needed any more (authRequired)


def _kill_revoked_subscribers(me: Client, old: acl.User, new: acl.User) -> None:
    """ACLKillPubsubClientsIfNeeded: the user's subscribers to a channel or pattern its
    new rules no longer allow are disconnected."""
    upcoming = acl.allowed_channels(new)
    for c in list(me.server.clients.values()):
        if c.acl_user is not old or not (c.subscriptions or c.patterns
                                          or c.shard_subscriptions):
            continue
        if any(not acl.channel_allowed(upcoming, p, True) for p in c.patterns) or any(
                not acl.channel_allowed(upcoming, ch, False)
                for ch in (*c.subscriptions, *c.shard_subscriptions)):
            _disconnect(me, c)


def _disconnect(me: Client, victim: Client) -> None:
    if victim is me:
        me.close_after_reply = True
    else:
        victim.abort()


@command("deluser", -3, _ADMIN, parent="acl", categories=_ADMIN_CATS)
def acl_deluser(client: Client, argv: list[bytes]) -> bytes:
    if b"default" in argv[2:]:
        raise CommandError("ERR The 'default' user cannot be removed")
    server = client.server
    deleted = 0
    for name in argv[2:]:
        user = server.acl_users.pop(name, None)
        if user is None:
            continue
        deleted += 1
        _free_user_and_kill_clients(client, user)
    return integer(deleted)


def _free_user_and_kill_clients(me: Client, user: acl.User) -> None:
    """ACLFreeUserAndKillClients: the user's connections go back to the default user,
    unauthenticated, and are closed (the caller's once it has its reply)."""
    from aikv.commands.connection import set_default_user

    for c in list(me.server.clients.values()):
        if c.acl_user is user:
            set_default_user(c)
            c.authenticated = False
            _disconnect(me, c)


_NO_ACLFILE = ("ERR This Redis instance is not configured to use an ACL file. You may want "
               "to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE "
               "(assuming you have a Redis configuration file set) in order to store users "
               "in the Redis configuration.")


@command("load", 2, _ADMIN, parent="acl", categories=_ADMIN_CATS)
def acl_load(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    if not server.config.values["aclfile"]:
        raise CommandError(_NO_ACLFILE)
    try:
        users = acl_file.load_acl_file(server.config)
    except acl_file.AclFileError as exc:
        raise CommandError(f"ERR {exc}") from None
    # ACLLoadFromFile's switch: the default user object stays (its connections keep it)
    # and takes the new rules; every other old user goes, its connections closed, even
    # when the file defines a user of the same name.
    old = server.acl_users
    default = old[b"default"]
    default.copy_from(users[b"default"])
    users[b"default"] = default
    server.acl_users = users
    for user in old.values():
        if user is not default:
            _free_user_and_kill_clients(client, user)
    _user_changed(server, default)
    return OK


@command("save", 2, _ADMIN, parent="acl", categories=_ADMIN_CATS)
def acl_save(client: Client, argv: list[bytes]) -> bytes:
    server = client.server
    if not server.config.values["aclfile"]:
        raise CommandError(_NO_ACLFILE)
    if not acl_file.save_acl_file(acl_file.resolve(server.config), server.acl_users):
        raise CommandError("ERR There was an error trying to save the ACLs. Please check "
                           "the server logs for more information")
    return OK


@command("cat", -2, "noscript loading stale", parent="acl", categories="@slow")
def acl_cat(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 3:
        raise subcommand_error(argv)
    if len(argv) == 2:
        return array([bulk(name.encode()) for name in CATEGORY_ORDER])
    wanted = argv[2].decode(errors="replace").lower()
    if wanted not in CATEGORY_ORDER:
        raise CommandError(f"ERR Unknown category '{argv[2].decode(errors='replace')}'")
    tag = "@" + wanted
    names: list[bytes] = []
    for top in all_commands(client.server.command_table):
        for cmd in (top, *top.subcommands.values()):
            if tag in categories(cmd):
                names.append(cmd.full_name.encode())
    return array([bulk(name) for name in names])


@command("genpass", -2, "noscript loading stale", parent="acl", categories="@slow")
def acl_genpass(client: Client, argv: list[bytes]) -> bytes:
    bits = 256
    if len(argv) == 3:
        bits = parse_int(argv[2])
    elif len(argv) > 3:
        raise subcommand_error(argv)
    if bits <= 0 or bits > 4096:
        raise CommandError("ERR ACL GENPASS argument must be the number of bits for the "
                           "output password, a positive number up to 4096")
    chars = (bits + 3) // 4
    return bulk(secrets.token_hex((chars + 1) // 2)[:chars].encode())


@command("dryrun", -4, _ADMIN, parent="acl", categories=_ADMIN_CATS)
def acl_dryrun(client: Client, argv: list[bytes]) -> bytes:
    user = client.server.acl_users.get(argv[2])
    if user is None:
        raise CommandError(f"ERR User '{argv[2].decode(errors='replace')}' not found")
    line = argv[3:]
    cmd = _lookup(client.server.command_table, line)
    if cmd is None:
        raise CommandError(f"ERR Command '{line[0].decode(errors='replace')}' not found")
    if (cmd.arity > 0 and len(line) != cmd.arity) or len(line) < -cmd.arity:
        raise CommandError(f"ERR wrong number of arguments for '{cmd.full_name}' command")
    result, pos = user.check(cmd, line)
    if result == acl.DENIED_CMD:
        return bulk(f"This user has no permissions to run the '{cmd.full_name}' command"
                    .encode())
    if result == acl.DENIED_KEY:
        return bulk(b"This user has no permissions to access the '%s' key"
                    % line[pos].split(b"\0", 1)[0])
    if result == acl.DENIED_CHANNEL:
        return bulk(b"This user has no permissions to access the '%s' channel"
                    % line[pos].split(b"\0", 1)[0])
    return OK


def _lookup(table: dict[bytes, Command], line: list[bytes]) -> Command | None:
    """Redis's lookupCommand over a command line (a container with an unknown
    subcommand is not found), in the server's table: names as rename-command left them
    (the rules themselves name commands by their own names, as Redis's orig_commands)."""
    top = table.get(line[0].lower())
    if top is None:
        return None
    if not top.subcommands or len(line) < 2:
        return top  # a container alone: its arity check answers
    return top.subcommands.get(line[1].decode(errors="replace").lower())


# ---------------------------------------------------------------------- LOG
@command("log", -2, "admin noscript loading stale", parent="acl",
         categories="@admin @slow @dangerous")
def acl_log(client: Client, argv: list[bytes]) -> bytes:
    log = client.server.acl_log
    count = 10
    if len(argv) == 3:
        if argv[2].lower() == b"reset":
            log.entries.clear()
            return OK
        count = max(parse_int(argv[2]), 0)
    elif len(argv) > 3:
        raise subcommand_error(argv)
    now = int(time.time() * 1000)
    resp3 = client.resp3
    rows = []
    for entry in log.entries[:count]:
        age = b"%.17g" % ((now - entry.ctime_ms) / 1000.0)
        rows.append(map_reply([
            (bulk(b"count"), integer(entry.count)),
            (bulk(b"reason"), bulk(entry.reason.encode())),
            (bulk(b"context"), bulk(entry.context.encode())),
            (bulk(b"object"), bulk(entry.command.encode(errors="surrogateescape"))),
            (bulk(b"username"), bulk(entry.username)),
            (bulk(b"age-seconds"), b",%s\r\n" % age if resp3 else bulk(age)),
            (bulk(b"client-info"), bulk(entry.client_info)),
        ], resp3))
    return array(rows)


@command("help", 2, "loading stale", parent="acl", categories="@slow")
def acl_help(client: Client, argv: list[bytes]) -> bytes:
    lines = [
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Prints this help.",
    ]
    return array([simple(line) for line in lines])
