"""ACL for the one user AiKv has: `default`, with every permission, whose password is
`requirepass` (nopass when it is empty), as Redis configures its default user.

What is here answers truthfully about that user: WHOAMI, USERS, LIST, GETUSER, CAT,
GENPASS, DRYRUN (every existing command is allowed), LOG (failed authentications, grouped
as Redis groups them), HELP. Creating or changing users (SETUSER, DELUSER, LOAD, SAVE) is
not implemented, so those subcommands are not registered: they answer Redis's
"unknown subcommand" error rather than pretend.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import TYPE_CHECKING

from aikv.commands.args import parse_int, subcommand_error
from aikv.commands.introspection import CATEGORY_ORDER, all_commands, categories
from aikv.commands.registry import COMMANDS, Command, command, container
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

USER = b"default"

container("acl", -2)


def _password_hashes(client: Client) -> list[bytes]:
    password = client.server.config.requirepass
    if not password:
        return []
    return [hashlib.sha256(password.encode()).hexdigest().encode()]


@command("whoami", 2, "noscript loading stale", parent="acl", categories="@slow")
def acl_whoami(client: Client, argv: list[bytes]) -> bytes:
    return bulk(USER)


@command("users", 2, "admin noscript loading stale", parent="acl",
         categories="@admin @slow @dangerous")
def acl_users(client: Client, argv: list[bytes]) -> bytes:
    return array([bulk(USER)])


@command("list", 2, "admin noscript loading stale", parent="acl",
         categories="@admin @slow @dangerous")
def acl_list(client: Client, argv: list[bytes]) -> bytes:
    hashes = _password_hashes(client)
    secret = b" ".join(b"#" + h for h in hashes) if hashes else b"nopass"
    return array([bulk(b"user default on " + secret + b" ~* &* +@all")])


@command("getuser", 3, "admin noscript loading stale", parent="acl",
         categories="@admin @slow @dangerous")
def acl_getuser(client: Client, argv: list[bytes]) -> bytes:
    resp3 = client.resp3
    if argv[2] != USER:
        return NULL3 if resp3 else NULL_BULK
    hashes = _password_hashes(client)
    flags = [b"on"] if hashes else [b"on", b"nopass"]
    return map_reply([
        (bulk(b"flags"), set_reply([bulk(f) for f in flags], resp3)),
        (bulk(b"passwords"), array([bulk(h) for h in hashes])),
        (bulk(b"commands"), bulk(b"+@all")),
        (bulk(b"keys"), bulk(b"~*")),
        (bulk(b"channels"), bulk(b"&*")),
        (bulk(b"selectors"), b"*0\r\n"),
    ], resp3)


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
    for top in all_commands():
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


@command("dryrun", -4, "admin noscript loading stale", parent="acl",
         categories="@admin @slow @dangerous")
def acl_dryrun(client: Client, argv: list[bytes]) -> bytes:
    if argv[2] != USER:
        raise CommandError(f"ERR User '{argv[2].decode(errors='replace')}' not found")
    line = argv[3:]
    cmd = _lookup(line)
    if cmd is None:
        raise CommandError(f"ERR Command '{line[0].decode(errors='replace')}' not found")
    if (cmd.arity > 0 and len(line) != cmd.arity) or len(line) < -cmd.arity:
        raise CommandError(f"ERR wrong number of arguments for '{cmd.full_name}' command")
    return OK  # the default user may run everything


def _lookup(line: list[bytes]) -> Command | None:
    """Redis's lookupCommand over a command line (a container with an unknown
    subcommand is not found)."""
    top = COMMANDS.get(line[0].lower())
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
            (bulk(b"reason"), bulk(b"auth")),
            (bulk(b"context"), bulk(b"toplevel")),
            (bulk(b"object"), bulk(entry.command.encode())),
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
        "    List the command categories, or the commands of one category.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Whether the user may run the command (the default user may run all).",
        "GETUSER <username>", "    The user's flags, passwords and permissions.",
        "GENPASS [<bits>]", "    A random password of <bits> bits (256 by default), in hex.",
        "LIST", "    The users in ACL file syntax.",
        "LOG [<count> | RESET]", "    Failed authentications, newest first.",
        "USERS", "    The user names.",
        "WHOAMI", "    The user of this connection.",
        "HELP", "    Print this help.",
    ]
    return array([simple(line) for line in lines])
