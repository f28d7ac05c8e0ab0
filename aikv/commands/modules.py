"""MODULE: AiKv cannot load Redis modules (they are C shared objects written against
redis-server's internals). MODULE LIST answers with the empty list, which clients and GUIs
ask for when they connect; LOAD, LOADEX and UNLOAD give the refusal a redis-server 7.0
gives under its default `enable-module-command no`. With that parameter set to yes or
local (accepted for configuration files written for Redis), LOAD and LOADEX fail as a
module that does not load fails in Redis, with the reason in the log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aikv.commands.diagnostics import allow_protected_action
from aikv.commands.registry import command, container
from aikv.resp import CommandError, array, simple

if TYPE_CHECKING:
    from aikv.client import Client

log = logging.getLogger("aikv")

container("module", -2)

_NOT_ALLOWED = (
    "ERR MODULE command not allowed. If the enable-module-command option is set to "
    '"local", you can run it from a local connection, otherwise you need to set this '
    "option in the configuration file, and then restart the server.")

HELP_LINES = [
    "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    "    Load a module library from <path>, while passing it module configurations and "
    "optional arguments.",
    "UNLOAD <name>",
    "    Unload a module.",
    "HELP",
    "    Prints this help.",
]


def _check_allowed(client: Client) -> None:
    """Redis's gate for LOAD, LOADEX and UNLOAD (enable-module-command)."""
    if not allow_protected_action(client.server.config.values["enable-module-command"], client):
        raise CommandError(_NOT_ALLOWED)


@command("help", 2, "loading stale", parent="module", categories="@slow")
def module_help(client: Client, argv: list[bytes]) -> bytes:
    return array([simple(line) for line in HELP_LINES])


@command("list", 2, "admin noscript", parent="module", categories="@admin @slow @dangerous")
def module_list(client: Client, argv: list[bytes]) -> bytes:
    return array([])


def _load(client: Client, path: bytes) -> bytes:
    _check_allowed(client)
    log.warning("Module %s failed to load: AiKv cannot load Redis modules",
                path.decode(errors="replace"))
    raise CommandError("ERR Error loading the extension. Please check the server logs.")


@command("load", -3, "admin noscript no-async-loading", parent="module",
         categories="@admin @slow @dangerous")
def module_load(client: Client, argv: list[bytes]) -> bytes:
    return _load(client, argv[2])


@command("loadex", -3, "admin noscript no-async-loading", parent="module",
         categories="@admin @slow @dangerous")
def module_loadex(client: Client, argv: list[bytes]) -> bytes:
    return _load(client, argv[2])


@command("unload", 3, "admin noscript no-async-loading", parent="module",
         categories="@admin @slow @dangerous")
def module_unload(client: Client, argv: list[bytes]) -> bytes:
    _check_allowed(client)
    raise CommandError("ERR Error unloading module: no such module with that name")
