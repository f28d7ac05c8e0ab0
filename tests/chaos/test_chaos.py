"""Bounded chaos runs for CI (about 70 seconds together): the same driver as
`python -m tests.chaos`, once per appendfsync mode, asserting the strict form (no
acknowledged write lost, even under everysec: kill -9 keeps LMDB's commits in the page
cache)."""

from __future__ import annotations

import pytest

from tests.chaos.driver import ChaosRun
from tests.harness import have_redis_server

pytestmark = [
    pytest.mark.skipif(not have_redis_server(), reason="redis-cli missing"),
]

# Fixed seeds: the fault schedule is reproducible (timings are not).
RUNS = [("always", 11), ("everysec", 12)]


@pytest.mark.parametrize(("appendfsync", "seed"), RUNS, ids=[m for m, _ in RUNS])
def test_chaos_run(appendfsync: str, seed: int) -> None:
    result = ChaosRun(duration=30, seed=seed, appendfsync=appendfsync).run()
    print(result.summary())
    assert not result.problems, result.summary()
    # The run must actually have exercised something.
    assert result.acked > 1000, result.summary()
    assert result.crashes >= 1 and result.reshards_ok >= 1, result.summary()
    assert result.keys_verified > 1000, result.summary()
