"""The rules of aikv/replication/propagate.py: which commands reach replicas and how."""

from __future__ import annotations

from pathlib import Path

from tests.unit.propagation_harness import captured_server


def test_writes_are_sent_reads_and_errors_are_not(tmp_path: Path) -> None:
    with captured_server(tmp_path) as cap:
        assert cap.sent("SET", "k", "v") == [(0, [b"SET", b"k", b"v"])]
        assert cap.sent("GET", "k") == []
        assert cap.sent("LPUSH", "k", "x") == []  # WRONGTYPE: nothing changed
        assert cap.sent("PUBLISH", "ch", "m") == [(0, [b"PUBLISH", b"ch", b"m"])]
        cap.run("SELECT", "3")
        assert cap.sent("DEL", "k") == []  # nothing deleted: nothing sent
        cap.run("SET", "k", "v")
        assert cap.sent("DEL", "k", "other") == [(3, [b"DEL", b"k", b"other"])]


def test_transaction_sends_its_commands_not_exec(tmp_path: Path) -> None:
    with captured_server(tmp_path) as cap:
        assert cap.sent("MULTI") == []
        assert cap.sent("SET", "a", "1") == []
        assert cap.sent("GET", "a") == []
        assert cap.sent("SELECT", "2") == []
        assert cap.sent("INCR", "a") == []
        assert cap.sent("EXEC") == [(0, [b"SET", b"a", b"1"]), (2, [b"INCR", b"a"])]


def test_script_sends_its_writes(tmp_path: Path) -> None:
    with captured_server(tmp_path) as cap:
        effects = cap.argvs("EVAL", "redis.call('SET', KEYS[1], 'x'); redis.call('GET', KEYS[1]);"
                            " redis.call('RPUSH', 'l', 'y'); return 1", "1", "s")
        assert effects == [[b"SET", b"s", b"x"], [b"RPUSH", b"l", b"y"]]
        assert cap.argvs("EVAL", "return redis.call('GET', 's')", "0") == []


def test_expired_key_found_is_deleted_on_replicas_first(tmp_path: Path) -> None:
    with captured_server(tmp_path) as cap:
        cap.run("SET", "k", "v", "PXAT", "1")  # already past its deadline when read
        cap.server.clock.now_ms += 10
        cap.run("RPUSH", "l", "a")
        cap.run("PEXPIRE", "l", "5")
        cap.server.clock.now_ms += 10
        assert cap.argvs("GET", "k") == [[b"DEL", b"k"]]
        assert cap.argvs("LPUSHX", "l", "b") == [[b"DEL", b"l"], [b"LPUSHX", b"l", b"b"]]
