"""Command families. Importing a module registers its commands in `registry.COMMANDS`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aikv.commands.registry import Command

FAMILIES = (
    "connection",
    "strings",
    "bitmaps",
    "lcs",
    "hyperloglog",
    "keys",
    "transactions",
    "server",
    "introspection",
    "hashes",
    "lists",
    "sets",
    "zsets",
    "pubsub",
    "cluster",
    "dumprestore",
    "sort",
    "geo",
    "streams",
    "stream_groups",
    "acl",
    "scripting",
    "replication",
    "modules",
    "functions",
    "debug",
)


def load_all() -> None:
    for family in FAMILIES:
        try:
            importlib.import_module(f"aikv.commands.{family}")
        except ModuleNotFoundError as exc:
            # Families land one by one; a missing module is not an error, a broken one is.
            if exc.name != f"aikv.commands.{family}":
                raise


def all_commands() -> dict[str, Command]:
    """Every registered command and subcommand by full name ("config|get"), with every
    family loaded (COMMAND COUNT's set; the command table and its tests walk it)."""
    from aikv.commands.registry import COMMANDS

    load_all()
    found: dict[str, Command] = {}
    for top in COMMANDS.values():
        found[top.full_name] = top
        for sub in top.subcommands.values():
            found[sub.full_name] = sub
    return found
