"""WATCH and expired keys, against a real redis-server 7.0.15 (Redis's multi.tcl cases):
a key watched while live that expires fails EXEC even before anything deletes it; a key
already expired when watched, or missing, is no change for FLUSHDB/FLUSHALL/SWAPDB."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.differ import Differ


@pytest.fixture
def d(differ: Differ) -> Iterator[Differ]:
    differ.both("select", "9")
    differ.both("flushall")
    differ.both("debug", "set-active-expire", "0")
    yield differ
    differ.both("debug", "set-active-expire", "1")
    differ.both("unwatch")
    differ.both("select", "9")


def _exec_ping(d: Differ) -> None:
    d.check("multi")
    d.check("ping")
    d.check("exec")


def test_lazy_expired_watched_key_fails_exec(d: Differ) -> None:
    d.both("set", "key", "1", "px", "50")
    d.check("watch", "key")
    time.sleep(0.08)
    d.check("multi")
    d.check("incr", "key")
    d.check("exec")


def test_stale_watched_key_and_flushdb_do_not_fail_exec(d: Differ) -> None:
    d.both("set", "x", "foo", "px", "1")
    time.sleep(0.01)
    d.check("watch", "x")
    _exec_ping(d)
    d.check("watch", "x")
    d.check("flushdb")
    _exec_ping(d)


@pytest.mark.parametrize("flush", ["flushdb", "flushall"])
def test_flush_does_not_touch_missing_watched_key(d: Differ, flush: str) -> None:
    d.both("del", "x")
    d.check("watch", "x")
    d.check(flush)
    _exec_ping(d)
    d.both("set", "x", "1")
    d.check("watch", "x")
    d.check(flush)
    _exec_ping(d)


def test_swapdb_missing_key_replaced_with_stale_key(d: Differ) -> None:
    d.both("select", "0")
    d.both("set", "x", "foo", "px", "1")
    time.sleep(0.01)
    d.both("select", "1")
    d.check("watch", "x")
    d.check("swapdb", "0", "1")
    _exec_ping(d)
    d.both("flushall")
