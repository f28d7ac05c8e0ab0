"""Command families. Importing a module registers its commands in `registry.COMMANDS`."""

from __future__ import annotations

import importlib

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
)


def load_all() -> None:
    for family in FAMILIES:
        try:
            importlib.import_module(f"aikv.commands.{family}")
        except ModuleNotFoundError as exc:
            # Families land one by one; a missing module is not an error, a broken one is.
            if exc.name != f"aikv.commands.{family}":
                raise
