"""Random edits of a sequence, for the seeded fuzz tests (test_lua_fuzz,
test_protocol_edges): each mutates a well-formed input a few times."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def mutate(rng: random.Random, items: Sequence[T], inserted: Callable[[], T],
           replacement: Callable[[], T], deletes: float, inserts: float) -> list[T]:
    """A copy of `items` after one to three edits at random places: a deletion (with
    probability `deletes`), an insertion of `inserted()` (`inserts`), or else an element
    replaced by `replacement()`."""
    out = list(items)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(out) + 1)
        roll = rng.random()
        if roll < deletes and out:
            del out[min(at, len(out) - 1)]
        elif roll < deletes + inserts:
            out.insert(at, inserted())
        elif out:
            out[min(at, len(out) - 1)] = replacement()
    return out
