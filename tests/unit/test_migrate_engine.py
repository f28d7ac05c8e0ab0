"""MIGRATE's exchange against a scripted target: what goes on the wire, how replies map
to the client's reply, which keys may be deleted, retries and the connection cache."""

from __future__ import annotations

import hiredis
import pytest

from aikv.migrate.migrate import (
    IOERR_CONNECT,
    IOERR_READ,
    IOERR_WRITE,
    ConnectFailed,
    KeyToSend,
    MigrateEngine,
    SocketFailure,
    Transport,
    atoi,
    encode_command,
    restore_command,
)
from aikv.migrate.options import parse_migrate
from aikv.resp import OK, error


class FakeTarget(Transport):
    """Answers each parsed command with the next scripted line; a script entry may be
    an exception to raise instead (on write: 'write', on the n-th read: an index)."""

    def __init__(self, replies: list[bytes], fail_write: SocketFailure | None = None,
                 fail_read_at: int | None = None, read_failure: SocketFailure | None = None) -> None:
        self.replies = list(replies)
        self.fail_write = fail_write
        self.fail_read_at = fail_read_at
        self.read_failure = read_failure or SocketFailure(False)
        self.commands: list[list[bytes]] = []
        self.reads = 0
        self.closed = False

    def send_all(self, data: bytes, timeout_s: float) -> None:
        if self.fail_write is not None:
            raise self.fail_write
        reader = hiredis.Reader()
        reader.feed(data)
        while (cmd := reader.gets()) is not False:
            self.commands.append(cmd)

    def read_line(self, timeout_s: float) -> bytes:
        if self.fail_read_at is not None and self.reads == self.fail_read_at:
            raise self.read_failure
        self.reads += 1
        return self.replies.pop(0)

    def close(self) -> None:
        self.closed = True


class Connector:
    def __init__(self, *targets: FakeTarget | Exception) -> None:
        self.targets = list(targets)
        self.calls = 0

    def __call__(self, host: bytes, port: bytes, timeout: float) -> Transport:
        self.calls += 1
        target = self.targets.pop(0)
        if isinstance(target, Exception):
            raise target
        return target


NOW = 1_700_000_000.0


def _engine(*targets: FakeTarget | Exception) -> tuple[MigrateEngine, Connector]:
    connector = Connector(*targets)
    clock = [NOW]
    engine = MigrateEngine(connector, clock=lambda: clock[0])
    engine.clock_cell = clock  # type: ignore[attr-defined]
    return engine, connector


def _req(*words: str):
    return parse_migrate([w.encode() for w in ("MIGRATE", *words)])


ITEMS = [KeyToSend(b"a", b"PA"), KeyToSend(b"b", b"PB", int(NOW * 1000) + 5000)]


def test_first_call_selects_and_sends_ttl() -> None:
    target = FakeTarget([b"+OK", b"+OK", b"+OK"])
    engine, _ = _engine(target)
    result = engine.run(_req("h", "1", "", "0", "100", "KEYS", "a", "b"), ITEMS, False)
    assert result.reply == OK and result.acked == [b"a", b"b"]
    assert target.commands == [
        [b"SELECT", b"0"],
        [b"RESTORE", b"a", b"0", b"PA"],
        [b"RESTORE", b"b", b"5000", b"PB"],
    ]


def test_cached_connection_skips_select_but_auths_every_time() -> None:
    target = FakeTarget([b"+OK"] * 10)
    engine, connector = _engine(target)
    req = _req("h", "1", "", "0", "100", "REPLACE", "AUTH", "pw", "KEYS", "a")
    assert engine.run(req, ITEMS[:1], True).reply == OK
    assert engine.run(req, ITEMS[:1], True).reply == OK
    assert connector.calls == 1
    assert target.commands == [
        [b"AUTH", b"pw"], [b"SELECT", b"0"], [b"RESTORE-ASKING", b"a", b"0", b"PA", b"REPLACE"],
        [b"AUTH", b"pw"], [b"RESTORE-ASKING", b"a", b"0", b"PA", b"REPLACE"],
    ]
    # Another db: SELECT again.
    engine.run(_req("h", "1", "a", "3", "100"), ITEMS[:1], False)
    assert target.commands[-2] == [b"SELECT", b"3"]


def test_auth2_sends_username() -> None:
    target = FakeTarget([b"+OK"] * 3)
    engine, _ = _engine(target)
    engine.run(_req("h", "1", "", "0", "100", "AUTH2", "mig", "migpw", "KEYS", "a"), ITEMS[:1], False)
    assert target.commands[0] == [b"AUTH", b"mig", b"migpw"]


def test_ttl_is_at_least_one_and_expired_keys_are_dropped() -> None:
    target = FakeTarget([b"+OK"] * 3)
    engine, _ = _engine(target)
    now_ms = int(NOW * 1000)
    items = [KeyToSend(b"gone", b"P", now_ms - 1), KeyToSend(b"edge", b"P", now_ms)]
    result = engine.run(_req("h", "1", "", "0", "100", "KEYS", "gone", "edge"), items, False)
    assert result.acked == [b"edge"]
    assert target.commands[1] == [b"RESTORE", b"edge", b"1", b"P"]


def test_restore_error_maps_and_resets_db() -> None:
    target = FakeTarget([b"+OK", b"-BUSYKEY Target key name already exists.", b"+OK", b"+OK", b"+OK"])
    engine, _ = _engine(target)
    result = engine.run(_req("h", "1", "", "0", "100", "KEYS", "a", "b"), ITEMS, False)
    assert result.reply == error(
        "ERR Target instance replied with error: BUSYKEY Target key name already exists.")
    # The key whose RESTORE succeeded is still deleted by the caller.
    assert result.acked == [b"b"]
    # An error forgets the selected db: the next call sends SELECT again.
    engine.run(_req("h", "1", "a", "0", "100"), ITEMS[:1], False)
    assert target.commands[-2] == [b"SELECT", b"0"]


def test_auth_error_keeps_every_key() -> None:
    wrongpass = b"-WRONGPASS invalid username-password pair or user is disabled."
    target = FakeTarget([wrongpass, b"+OK", b"+OK", b"+OK"])
    engine, _ = _engine(target)
    result = engine.run(_req("h", "1", "", "0", "100", "AUTH", "nope", "KEYS", "a", "b"), ITEMS, False)
    assert result.reply == error("ERR Target instance replied with error: " + wrongpass[1:].decode())
    assert result.acked == []


def test_connect_failure() -> None:
    engine, _ = _engine(ConnectFailed())
    assert engine.run(_req("h", "1", "a", "0", "100"), ITEMS[:1], False).reply == error(IOERR_CONNECT)


def test_write_error_retries_once_then_reports_writing() -> None:
    engine, connector = _engine(FakeTarget([], fail_write=SocketFailure(False)),
                                FakeTarget([], fail_write=SocketFailure(False)))
    assert engine.run(_req("h", "1", "a", "0", "100"), ITEMS[:1], False).reply == error(IOERR_WRITE)
    assert connector.calls == 2 and not engine.cache


def test_write_timeout_is_not_retried() -> None:
    engine, connector = _engine(FakeTarget([], fail_write=SocketFailure(True)))
    assert engine.run(_req("h", "1", "a", "0", "100"), ITEMS[:1], False).reply == error(IOERR_WRITE)
    assert connector.calls == 1


def test_stale_cached_connection_is_replaced_silently() -> None:
    first = FakeTarget([b"+OK", b"+OK"])
    engine, connector = _engine(first, FakeTarget([b"+OK", b"+OK"]))
    req = _req("h", "1", "a", "0", "100")
    assert engine.run(req, ITEMS[:1], False).reply == OK
    first.fail_write = SocketFailure(False)  # the target closed the idle connection
    assert engine.run(req, ITEMS[:1], False).reply == OK
    assert connector.calls == 2 and first.closed


def test_first_restore_read_failure_retries_later_ones_do_not() -> None:
    # Fails reading the first RESTORE reply: retried on a new connection.
    engine, connector = _engine(FakeTarget([b"+OK"], fail_read_at=1),
                                FakeTarget([b"+OK", b"+OK", b"+OK"]))
    result = engine.run(_req("h", "1", "", "0", "100", "KEYS", "a", "b"), ITEMS, False)
    assert result.reply == OK and connector.calls == 2
    # Fails after one RESTORE reply: no retry, IOERR reading, acknowledged key deleted.
    engine, connector = _engine(FakeTarget([b"+OK", b"+OK"], fail_read_at=2))
    result = engine.run(_req("h", "1", "", "0", "100", "KEYS", "a", "b"), ITEMS, False)
    assert result.reply == error(IOERR_READ) and result.acked == [b"a"]
    assert connector.calls == 1 and not engine.cache


def test_read_timeout_is_not_retried() -> None:
    engine, connector = _engine(FakeTarget([b"+OK"], fail_read_at=1,
                                           read_failure=SocketFailure(True)))
    result = engine.run(_req("h", "1", "a", "0", "100"), ITEMS[:1], False)
    assert result.reply == error(IOERR_READ) and connector.calls == 1


def test_idle_connections_are_swept() -> None:
    target = FakeTarget([b"+OK"] * 2)
    engine, _ = _engine(target)
    engine.run(_req("h", "1", "a", "0", "100"), ITEMS[:1], False)
    assert engine.sweep() == 1
    engine.clock_cell[0] += 10.5  # type: ignore[attr-defined]
    assert engine.sweep() == 0 and target.closed


def test_helpers() -> None:
    assert atoi(b"7151") == 7151 and atoi(b"abc") == 0 and atoi(b" 12x") == 12
    assert atoi(b"-3") == -3
    assert encode_command(b"SELECT", b"0") == b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"


@pytest.mark.parametrize("line", [b"-ERR x", b"-BUSYKEY y"])
def test_target_error_strips_dash(line: bytes) -> None:
    from aikv.migrate.migrate import target_error

    assert target_error(line) == b"-ERR Target instance replied with error: " + line[1:] + b"\r\n"


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("ttl", [0, 1, 86_400_000])
def test_restore_command_is_the_generic_encoding(replace: bool, ttl: int) -> None:
    payload = bytes(range(256)) * 3 + b"\r\n"
    for name, key in ((b"RESTORE", b"k"), (b"RESTORE-ASKING", b"{tag}:" * 40)):
        extra = [b"REPLACE"] if replace else []
        assert restore_command(name, key, ttl, payload, replace) == \
            encode_command(name, key, b"%d" % ttl, payload, *extra)
