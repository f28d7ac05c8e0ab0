"""MULTI / EXEC / DISCARD / WATCH / UNWATCH.

Queued commands were already checked for existence and arity when queued (an error
there aborts EXEC with EXECABORT, as in Redis). EXEC runs them back to back inside the
current tick: no other client's command can interleave, and their writes share the tick's
transaction, so the whole block commits or fails together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikv import acl
from aikv.commands.registry import COMMANDS, command
from aikv.resp import OK, CommandError, error

if TYPE_CHECKING:
    from aikv.client import Client


@command("multi", 1, "noscript loading stale fast allow-busy", categories="@fast @transaction")
def multi(client: Client, argv: list[bytes]) -> bytes:
    if client.multi is not None:
        raise CommandError("ERR MULTI calls can not be nested")
    client.multi = []
    client.multi_error = False
    return OK


@command("discard", 1, "noscript loading stale fast allow-busy",
         categories="@fast @transaction")
def discard(client: Client, argv: list[bytes]) -> bytes:
    if client.multi is None:
        raise CommandError("ERR DISCARD without MULTI")
    client.multi = None
    client.multi_error = False
    client.server.unwatch_all(client)
    return OK


_EXEC_DENIED = ("NOPERM ACLs rules changed between the moment the transaction was accumulated "
                "and the EXEC call. This command is no longer allowed for the following "
                "reason: ")
_EXEC_REASONS = {
    acl.DENIED_CMD: "no permission to execute the command or subcommand",
    acl.DENIED_KEY: "no permission to touch the specified keys",
    acl.DENIED_CHANNEL: "no permission to access one of the channels used as arguments",
}


@command("exec", 1, "noscript loading stale skip-slowlog", categories="@slow @transaction")
def exec_(client: Client, argv: list[bytes]) -> bytes:
    queued = client.multi
    if queued is None:
        raise CommandError("ERR EXEC without MULTI")
    server = client.server
    client.multi = None
    if client.multi_error:
        client.multi_error = False
        server.unwatch_all(client)
        raise CommandError("EXECABORT Transaction discarded because of previous errors.")
    if client.watch_dirty or (client.watched and server.watched_key_expired(client)):
        server.unwatch_all(client)
        return b"_\r\n" if client.resp3 else b"*-1\r\n"
    server.unwatch_all(client)
    replies = [b"*%d\r\n" % len(queued)]
    client.deny_blocking = True
    client.in_exec = len(queued)
    try:
        for cmd, cmd_argv in queued:
            if client.restricted:
                # Checked again at EXEC, in case the user's rules changed meanwhile.
                denied = acl.check(client, client.acl_user, cmd, cmd_argv, "multi")
                if denied:
                    server.count_rejection(None, "NOPERM")
                    replies.append(error(_EXEC_DENIED + _EXEC_REASONS[denied]))
                    continue
            replies.append(server.call(client, cmd, cmd_argv))
    finally:
        client.deny_blocking = False
        client.in_exec = 0
    client.last_command = COMMANDS[b"exec"]  # as Redis's lastcmd: EXEC, not its last command
    client.asking = False
    return b"".join(replies)


@command("watch", -2, "noscript loading stale fast allow-busy", keys=(1, -1, 1),
         categories="@fast @transaction")
def watch(client: Client, argv: list[bytes]) -> bytes:
    if client.multi is not None:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    for key in argv[1:]:
        client.server.watch(client, key)
    return OK


@command("unwatch", 1, "noscript loading stale fast allow-busy", categories="@fast @transaction")
def unwatch(client: Client, argv: list[bytes]) -> bytes:
    client.server.unwatch_all(client)
    return OK
