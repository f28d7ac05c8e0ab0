"""Scripts and functions against the server's state, as scriptPrepareForRun and
processCommand judge them: a replica whose link is down with replica-serve-stale-data
no (allow-stale), a read-only replica (no-writes), and a failed BGSAVE with save points
set (stop-writes-on-bgsave-error). Replies and the rejected / failed call counters are
compared with a real redis-server's."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from tests.differ import Differ, RawConnection
from tests.harness import ServerProcess, free_port, have_redis_server, wait_until

pytestmark = pytest.mark.skipif(not have_redis_server(), reason="redis-server is not installed")

LIBRARY = """#!lua name=statelib
redis.register_function{function_name='f_w', callback=function() return 1 end}
redis.register_function{function_name='f_nw', callback=function() return 2 end,
                        flags={'no-writes'}}
redis.register_function{function_name='f_stale', callback=function() return 3 end,
                        flags={'no-writes', 'allow-stale'}}
"""

CALLS = [
    ("EVAL", "#!lua\nreturn 1", "0"),
    ("EVAL", "#!lua flags=no-writes\nreturn 2", "0"),
    ("EVAL", "#!lua flags=no-writes,allow-stale\nreturn 3", "0"),
    ("EVAL", "return 4", "0"),
    ("EVAL", "return redis.call('SET', 'k', 'v')", "0"),
    ("EVAL_RO", "#!lua flags=no-writes\nreturn 5", "0"),
    ("FCALL", "f_w", "0"),
    ("FCALL", "f_nw", "0"),
    ("FCALL", "f_stale", "0"),
    ("FCALL_RO", "f_nw", "0"),
]


def _counters(conn: RawConnection) -> list[str]:
    """Calls, rejected and failed calls of the script commands (INFO commandstats)."""
    info = conn.call("INFO", "commandstats").decode()
    out = []
    for line in info.split("\r\n"):
        if line.startswith(("cmdstat_eval", "cmdstat_fcall")):
            name, _, fields = line.partition(":")
            kept = [f for f in fields.split(",") if f.split("=")[0] in
                    ("calls", "rejected_calls", "failed_calls")]
            out.append(name + ":" + ",".join(kept))
    return sorted(out)


def test_script_flags_against_replica_and_disk_state(
        spawn: Callable[..., ServerProcess]) -> None:
    nodes = [spawn("aikv"), spawn("redis")]
    differ = Differ(nodes[0].port, nodes[1].port)
    both = differ.check
    try:

        def round_of_calls() -> list[bytes]:
            return [both(*call) for call in CALLS]

        assert both("FUNCTION", "LOAD", LIBRARY) == b"$8\r\nstatelib\r\n"
        master_alone = round_of_calls()
        assert master_alone[0] == b":1\r\n" and master_alone[4] == b"+OK\r\n"

        # A replica of nothing: its link stays down.
        dead = free_port()
        both("REPLICAOF", "127.0.0.1", str(dead))
        read_only = round_of_calls()
        assert read_only[0].startswith(b"-READONLY")
        both("CONFIG", "SET", "replica-serve-stale-data", "no")
        stale = round_of_calls()
        assert stale[1].startswith(b"-MASTERDOWN") and stale[2] == b":3\r\n"
        both("CONFIG", "SET", "replica-read-only", "no")
        round_of_calls()
        both("REPLICAOF", "NO", "ONE")
        both("CONFIG", "SET", "replica-serve-stale-data", "yes")

        # A failed BGSAVE with save points set.
        both("CONFIG", "SET", "save", "3600 1")
        for node in nodes:  # the rename over a non-empty directory fails, even for root
            (node.dir / "dump.rdb" / "x").mkdir(parents=True)
        both("BGSAVE")
        for raw in (differ.a, differ.r):
            wait_until(lambda raw=raw: b"rdb_last_bgsave_status:err" in
                       raw.call("INFO", "persistence"), 15, 0.05, "the failed BGSAVE")
        misconf = round_of_calls()
        assert misconf[0].startswith(b"-MISCONF") and misconf[1] == b":2\r\n"
        assert misconf[4].startswith(b"-MISCONF")  # redis.call's SET, with the script's line
        for node in nodes:
            shutil.rmtree(node.dir / "dump.rdb")
        assert _counters(differ.a) == _counters(differ.r)
    finally:
        differ.close()
