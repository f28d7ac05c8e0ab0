"""maxmemory under the noeviction policy, against a real redis-server 7.0.15: past the
limit, commands that may take memory are refused with OOM (in MULTI, anything queued but
EXEC / DISCARD / QUIT / RESET), scripts by their flags, and a script's first write; a
read still runs. The limit is set to 1 byte so that both servers are over it; replies are
compared byte for byte. AiKv applies the limit under noeviction only (it evicts
nothing): the other policies are shown to leave writes alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.differ import Differ

LIB = ("#!lua name=oomlib\n"
       "redis.register_function('w', function(keys) return redis.call('set', keys[1], 'v') end)\n"
       "redis.register_function{function_name='ro', callback=function(keys) "
       "return redis.call('get', keys[1]) end, flags={'no-writes'}}\n"
       "redis.register_function{function_name='oomok', callback=function(keys) "
       "return redis.call('set', keys[1], 'v') end, flags={'allow-oom'}}")


@pytest.fixture
def over_limit(differ: Differ) -> Iterator[Differ]:
    differ.both("flushall")
    differ.both("function", "flush")
    differ.check("set", "k", "v")
    differ.check("function", "load", LIB)
    differ.check("config", "set", "maxmemory", "1")
    try:
        yield differ
    finally:
        differ.both("discard")
        differ.both("config", "set", "maxmemory", "0")
        differ.both("config", "set", "maxmemory-policy", "noeviction")
        differ.both("function", "flush")
        differ.both("flushall")


def test_writes_are_refused_past_maxmemory(over_limit: Differ) -> None:
    d = over_limit
    for args in [("set", "k", "w"), ("get", "k"), ("append", "k", "x"), ("del", "k"),
                 ("incr", "n"), ("lpush", "l", "a"), ("ping",), ("dbsize",),
                 ("expire", "k", "100"), ("setrange", "k", "0", "x")]:
        d.check(*args)


def test_transactions_past_maxmemory(over_limit: Differ) -> None:
    d = over_limit
    for args in [("multi",), ("get", "k"), ("set", "k", "x"), ("client", "id"),
                 ("discard",), ("multi",), ("del", "k"), ("exec",), ("get", "k")]:
        d.check(*args)
    d.check("config", "set", "maxmemory", "0")
    d.check("multi")
    d.check("set", "k", "y")
    d.check("config", "set", "maxmemory", "1")
    d.check("exec")  # queued before the limit was passed: EXEC with a denyoom command
    d.check("get", "k")


def test_scripts_past_maxmemory(over_limit: Differ) -> None:
    d = over_limit
    for args in [("eval", "return redis.call('get', KEYS[1])", "1", "k"),
                 ("eval", "return redis.call('set', KEYS[1], 'x')", "1", "k"),
                 ("eval", "return redis.pcall('set', KEYS[1], 'x')", "1", "k"),
                 ("eval", "#!lua\nreturn redis.call('get', KEYS[1])", "1", "k"),
                 ("eval", "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", "1", "k"),
                 ("eval", "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], 'y')",
                  "1", "k"),
                 ("fcall", "w", "1", "k"), ("fcall", "ro", "1", "k"),
                 ("fcall", "oomok", "1", "k"), ("fcall_ro", "ro", "1", "k"),
                 ("get", "k")]:
        d.check(*args)
    d.check("multi")
    d.check("eval", "#!lua\nreturn redis.call('get', KEYS[1])", "1", "k")
    d.check("exec")


def test_other_policies_are_not_applied(over_limit: Differ) -> None:
    """AiKv evicts nothing: with an eviction policy the limit is left alone (Redis
    would evict keys to get under it)."""
    conn = over_limit.a
    assert conn.call("config", "set", "maxmemory-policy", "allkeys-lru") == b"+OK\r\n"
    assert conn.call("set", "k2", "v") == b"+OK\r\n"
    assert conn.call("config", "set", "maxmemory-policy", "noeviction") == b"+OK\r\n"
    assert conn.call("set", "k3", "v").startswith(b"-OOM command not allowed")
