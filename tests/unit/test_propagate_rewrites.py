"""Commands that reach replicas as their effect, not as the client sent them: what Redis
7.0.15 sends for each (checked against a redis-server master by watching MONITOR on its
replica), time-dependent ones with the clock fixed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hiredis
import pytest

from aikv.client import Client
from aikv.commands import dumprestore
from aikv.migrate.digest import dataset_digest
from aikv.migrate.migrate import MigrateEngine, Transport
from aikv.server import Server
from bench.python_path import FakeTransport
from tests.unit.propagation_harness import Captured, captured_server, in_process_server

NOW = 1_700_000_000_000  # ms


@contextmanager
def at_now(tmp_path: Path, **settings: str) -> Iterator[Captured]:
    with captured_server(tmp_path, **settings) as cap:
        cap.server.clock.now_ms = NOW
        yield cap


def _reply_members(reply: bytes) -> list[bytes]:
    parsed = hiredis.Reader()
    parsed.feed(reply)
    value = parsed.gets()
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------------- strings
def test_set_with_an_expiry_sends_an_absolute_pxat(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        pxat = b"%d" % (NOW + 100_000)
        assert cap.argvs("SET", "k", "v", "EX", "100") == [[b"SET", b"k", b"v", b"PXAT", pxat]]
        assert cap.argvs("SET", "k", "v", "px", "100000", "XX") == [
            [b"SET", b"k", b"v", b"PXAT", pxat]]
        assert cap.argvs("SET", "k", "v", "EXAT", "99999999999") == [
            [b"SET", b"k", b"v", b"PXAT", b"99999999999000"]]
        assert cap.argvs("SET", "k", "v", "PXAT", "99999999999123") == [
            [b"SET", b"k", b"v", b"PXAT", b"99999999999123"]]
        assert cap.argvs("SET", "k", "v2", "GET", "EX", "50") == [
            [b"SET", b"k", b"v2", b"PXAT", b"%d" % (NOW + 50_000)]]
        assert cap.argvs("SETEX", "k", "100", "v") == [[b"SET", b"k", b"v", b"PXAT", pxat]]
        assert cap.argvs("PSETEX", "k", "100000", "v") == [[b"SET", b"k", b"v", b"PXAT", pxat]]


def test_set_without_an_expiry(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        assert cap.argvs("set", "k", "v") == [[b"set", b"k", b"v"]]
        assert cap.argvs("set", "k", "v", "KEEPTTL") == [[b"set", b"k", b"v", b"KEEPTTL"]]
        # GET is dropped, wherever and however often it is written.
        assert cap.argvs("set", "k", "v", "get") == [[b"set", b"k", b"v"]]
        assert cap.argvs("SET", "k", "v", "GET", "XX", "Get") == [[b"SET", b"k", b"v", b"XX"]]
        # Nothing set, nothing sent.
        assert cap.argvs("SET", "k", "v", "NX") == []
        assert cap.argvs("SET", "k", "v", "NX", "EX", "10") == []
        assert cap.argvs("SET", "k", "v", "NX", "GET") == []
        assert cap.argvs("SET", "nokey", "v", "XX", "PX", "10") == []
        assert cap.argvs("SETNX", "k", "v") == []
        assert cap.argvs("MSETNX", "x", "1", "k", "v") == []
        assert cap.argvs("SETNX", "n", "v") == [[b"SETNX", b"n", b"v"]]


def test_getset_getdel(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        assert cap.argvs("getset", "k", "v") == [[b"SET", b"k", b"v"]]
        assert cap.argvs("GETDEL", "k") == [[b"DEL", b"k"]]
        assert cap.argvs("GETDEL", "k") == []
        cap.run("CONFIG", "SET", "lazyfree-lazy-user-del", "yes")
        cap.run("SET", "k", "v")
        assert cap.argvs("GETDEL", "k") == [[b"UNLINK", b"k"]]


def test_getex(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        cap.run("SET", "k", "v")
        assert cap.argvs("GETEX", "k") == []
        assert cap.argvs("GETEX", "k", "EX", "100") == [[b"PEXPIREAT", b"k", b"%d" % (NOW + 100_000)]]
        assert cap.argvs("GETEX", "k", "PX", "5") == [[b"PEXPIREAT", b"k", b"%d" % (NOW + 5)]]
        assert cap.argvs("GETEX", "k", "EXAT", "2000000000") == [
            [b"PEXPIREAT", b"k", b"2000000000000"]]
        assert cap.argvs("GETEX", "k", "PXAT", "2000000000001") == [
            [b"PEXPIREAT", b"k", b"2000000000001"]]
        assert cap.argvs("GETEX", "k", "PERSIST") == [[b"PERSIST", b"k"]]
        assert cap.argvs("GETEX", "k", "PERSIST") == []  # no TTL left to remove
        assert cap.argvs("GETEX", "missing", "EX", "10") == []
        assert cap.argvs("GETEX", "k", "PXAT", "1") == [[b"DEL", b"k"]]
        cap.run("CONFIG", "SET", "lazyfree-lazy-expire", "yes")
        cap.run("SET", "k", "v")
        assert cap.argvs("GETEX", "k", "EXAT", "1") == [[b"UNLINK", b"k"]]


def test_incrbyfloat_sends_the_result(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        assert cap.argvs("INCRBYFLOAT", "f", "1.5") == [[b"SET", b"f", b"1.5", b"KEEPTTL"]]
        assert cap.argvs("INCRBYFLOAT", "f", "1e3") == [[b"SET", b"f", b"1001.5", b"KEEPTTL"]]
        assert cap.argvs("INCRBYFLOAT", "f", "x") == []  # an error


# ---------------------------------------------------------------------- expiry
def test_expire_family_sends_pexpireat(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        cap.run("SET", "e", "v")
        assert cap.argvs("expire", "e", "200") == [[b"PEXPIREAT", b"e", b"%d" % (NOW + 200_000)]]
        assert cap.argvs("PEXPIRE", "e", "300000", "gt") == [
            [b"PEXPIREAT", b"e", b"%d" % (NOW + 300_000), b"gt"]]
        assert cap.argvs("EXPIREAT", "e", "9999999999") == [[b"PEXPIREAT", b"e", b"9999999999000"]]
        # PEXPIREAT already says it all: sent as written.
        assert cap.argvs("pexpireat", "e", "9999999999999") == [
            [b"pexpireat", b"e", b"9999999999999"]]


def test_expire_that_changes_nothing_sends_nothing(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        assert cap.argvs("EXPIRE", "missing", "10") == []
        assert cap.argvs("PEXPIREAT", "missing", "10") == []
        cap.run("SET", "e", "v")
        assert cap.argvs("EXPIRE", "e", "100", "XX") == []
        assert cap.argvs("EXPIRE", "e", "100", "GT") == []
        assert cap.argvs("PERSIST", "e") == []
        cap.run("EXPIRE", "e", "100")
        assert cap.argvs("EXPIRE", "e", "100", "NX") == []
        assert cap.argvs("EXPIRE", "e", "50", "GT") == []
        assert cap.argvs("PEXPIRE", "e", "500000", "LT") == []
        assert cap.argvs("EXPIRE", "e", "x") == []  # an error
        assert cap.argvs("PERSIST", "e") == [[b"PERSIST", b"e"]]


def test_expire_in_the_past_deletes(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        cap.run("SET", "e", "v")
        assert cap.argvs("EXPIRE", "e", "-1") == [[b"DEL", b"e"]]
        cap.run("SET", "e", "v")
        assert cap.argvs("PEXPIREAT", "e", "%d" % NOW) == [[b"DEL", b"e"]]
        cap.run("CONFIG", "SET", "lazyfree-lazy-expire", "yes")
        cap.run("SET", "e", "v")
        assert cap.argvs("EXPIREAT", "e", "1") == [[b"UNLINK", b"e"]]


# ---------------------------------------------------------------------- RESTORE
def test_restore_with_a_relative_ttl_sends_an_absolute_one(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        cap.run("SET", "src", "hello")
        payload = _reply_members(cap.run("DUMP", "src"))[0]
        assert cap.argvs("RESTORE", "r1", "0", payload) == [[b"RESTORE", b"r1", b"0", payload]]
        assert cap.argvs("RESTORE", "r2", "100000", payload) == [
            [b"RESTORE", b"r2", b"%d" % (NOW + 100_000), payload, b"ABSTTL"]]
        assert cap.argvs("RESTORE", "r2", "100000", payload, "replace", "IDLETIME", "5") == [
            [b"RESTORE", b"r2", b"%d" % (NOW + 100_000), payload, b"replace", b"IDLETIME", b"5",
             b"ABSTTL"]]
        assert cap.argvs("RESTORE", "r3", "9999999999999", payload, "ABSTTL") == [
            [b"RESTORE", b"r3", b"9999999999999", payload, b"ABSTTL"]]
        # Past its deadline: no key is made; only a replaced one is deleted.
        assert cap.argvs("RESTORE", "r4", "1", payload, "ABSTTL") == []
        assert cap.argvs("RESTORE", "r3", "1", payload, "ABSTTL", "REPLACE") == [[b"DEL", b"r3"]]
        assert cap.argvs("RESTORE", "r3", "1", payload, "ABSTTL", "REPLACE") == []
        assert cap.argvs("RESTORE", "r1", "0", payload) == []  # BUSYKEY


# ---------------------------------------------------------------------- hashes, sets
def test_hincrbyfloat_sends_hset(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        assert cap.argvs("HINCRBYFLOAT", "h", "f", "1.5") == [[b"HSET", b"h", b"f", b"1.5"]]
        cap.run("HSET", "h", "g", "3")
        assert cap.argvs("HINCRBYFLOAT", "h", "g", "0.25") == [[b"HSET", b"h", b"g", b"3.25"]]


def test_spop_sends_what_it_removed(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        cap.run("SADD", "s", *"abcdefghij")
        reply = cap.run("SPOP", "s")
        assert cap.batches[-1] == [(0, [b"SREM", b"s", _reply_members(reply)[0]])]
        before = len(cap.batches)
        popped = _reply_members(cap.run("SPOP", "s", "2"))
        assert cap.batches[before:] == [[(0, [b"SREM", b"s", m]) for m in popped]]
        assert cap.argvs("SPOP", "s", "0") == []
        assert cap.argvs("SPOP", "missing") == []
        assert cap.argvs("SPOP", "missing", "3") == []
        # Most of the set (Redis then keeps the rest rather than picking what goes).
        before = len(cap.batches)
        popped = _reply_members(cap.run("SPOP", "s", "6"))
        assert len(popped) == 6
        assert cap.batches[before:] == [[(0, [b"SREM", b"s", m]) for m in popped]]
        # The whole set: DEL.
        assert cap.argvs("SPOP", "s", "1000") == [[b"DEL", b"s"]]
        assert cap.run("EXISTS", "s") == b":0\r\n"


# ---------------------------------------------------------------------- lists
def test_list_pops_answered_at_once(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        cap.run("RPUSH", "l", "a", "b", "c", "d")
        assert cap.argvs("LMPOP", "2", "nol", "l", "left", "COUNT", "3") == [
            [b"LPOP", b"l", b"3"]]
        assert cap.argvs("LMPOP", "1", "l", "RIGHT") == [[b"RPOP", b"l", b"1"]]
        assert cap.argvs("LMPOP", "1", "l", "RIGHT") == []
        cap.run("RPUSH", "l", "a", "b", "c", "d", "e")
        assert cap.argvs("BLPOP", "nol", "l", "1") == [[b"LPOP", b"l"]]
        assert cap.argvs("BRPOP", "l", "0") == [[b"RPOP", b"l"]]
        assert cap.argvs("BLMPOP", "0", "1", "l", "right", "count", "10") == [
            [b"RPOP", b"l", b"3"]]
        cap.run("RPUSH", "l", "a", "b", "c")
        assert cap.argvs("BLMOVE", "l", "l2", "left", "RIGHT", "1") == [
            [b"LMOVE", b"l", b"l2", b"left", b"RIGHT"]]
        assert cap.argvs("BRPOPLPUSH", "l", "l2", "1") == [[b"RPOPLPUSH", b"l", b"l2"]]
        # Plain pops and moves are sent as they are, and not at all when nothing moved.
        assert cap.argvs("LPOP", "l", "1") == [[b"LPOP", b"l", b"1"]]
        assert cap.argvs("LPOP", "l") == []
        assert cap.argvs("RPOPLPUSH", "l", "l2") == []
        assert cap.argvs("LMOVE", "l", "l2", "LEFT", "LEFT") == []


def test_blocking_pops_that_cannot_block_send_nothing(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        cap.run("MULTI")
        for argv in (["BLPOP", "l", "0"], ["BRPOP", "l", "0"], ["BLMOVE", "l", "m", "LEFT", "LEFT", "0"],
                     ["BRPOPLPUSH", "l", "m", "0"], ["BLMPOP", "0", "1", "l", "LEFT"],
                     ["BZPOPMIN", "z", "0"], ["BZPOPMAX", "z", "0"], ["BZMPOP", "0", "1", "z", "MIN"]):
            cap.run(*argv)
        cap.run("RPUSH", "l", "x")
        assert cap.argvs("EXEC") == [[b"RPUSH", b"l", b"x"]]


# ---------------------------------------------------------------------- sorted sets
def test_zset_pops_answered_at_once(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        cap.run("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d")
        assert cap.argvs("ZMPOP", "1", "z", "min") == [[b"ZPOPMIN", b"z", b"1"]]
        assert cap.argvs("ZMPOP", "2", "nz", "z", "MAX", "COUNT", "10") == [
            [b"ZPOPMAX", b"z", b"3"]]
        assert cap.argvs("ZMPOP", "1", "z", "min") == []
        cap.run("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d")
        assert cap.argvs("BZPOPMIN", "z", "1") == [[b"ZPOPMIN", b"z"]]
        assert cap.argvs("BZPOPMAX", "nz", "z", "0") == [[b"ZPOPMAX", b"z"]]
        assert cap.argvs("BZMPOP", "1", "1", "z", "MIN", "COUNT", "5") == [
            [b"ZPOPMIN", b"z", b"2"]]
        assert cap.argvs("ZPOPMIN", "z") == []
        assert cap.argvs("ZPOPMIN", "z", "0") == []


# ---------------------------------------------------------------------- served later
def _waiter(cap: Captured) -> Client:
    """A second client, for blocking; its replies stay in `out` (no event loop here)."""
    waiter = Client(cap.server)
    waiter.connection_made(FakeTransport())  # type: ignore[arg-type]
    waiter.pending = True  # as if a flush were already due: client.write only queues
    return waiter


def _block(cap: Captured, waiter: Client, *argv: str) -> None:
    before = len(cap.batches)
    cap.server.dispatch(waiter, [a.encode() for a in argv])
    assert waiter.blocked is not None
    assert cap.batches[before:] == []


@pytest.mark.parametrize(("blocking", "push", "effect"), [
    (["BLPOP", "l", "0"], ["RPUSH", "l", "a", "b"], [b"LPOP", b"l"]),
    (["BRPOP", "nol", "l", "0"], ["RPUSH", "l", "a", "b"], [b"RPOP", b"l"]),
    (["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "5"], ["RPUSH", "l", "a", "b", "c"],
     [b"LPOP", b"l", b"3"]),
    (["BLMPOP", "0", "1", "l", "right"], ["RPUSH", "l", "a", "b"], [b"RPOP", b"l", b"1"]),
    (["BLMOVE", "l", "m", "LEFT", "Right", "0"], ["RPUSH", "l", "x"],
     [b"LMOVE", b"l", b"m", b"left", b"right"]),
    (["BRPOPLPUSH", "l", "m", "0"], ["RPUSH", "l", "y", "z"], [b"RPOPLPUSH", b"l", b"m"]),
    (["BZPOPMIN", "z", "0"], ["ZADD", "z", "1", "a", "2", "b"], [b"ZPOPMIN", b"z"]),
    (["BZPOPMAX", "z", "0"], ["ZADD", "z", "1", "a", "2", "b"], [b"ZPOPMAX", b"z"]),
    (["BZMPOP", "0", "1", "z", "MAX", "COUNT", "5"], ["ZADD", "z", "1", "a", "2", "b"],
     [b"ZPOPMAX", b"z", b"2"]),
    (["BZMPOP", "0", "1", "z", "MIN"], ["ZADD", "z", "1", "a", "2", "b"],
     [b"ZPOPMIN", b"z", b"1"]),
])
def test_served_later_sends_the_pop_after_the_push(
        tmp_path: Path, blocking: list[str], push: list[str], effect: list[bytes]) -> None:
    with at_now(tmp_path) as cap:
        cap.run("SELECT", "2")
        waiter = _waiter(cap)
        cap.server.dispatch(waiter, [b"SELECT", b"2"])
        _block(cap, waiter, *blocking)
        before = len(cap.batches)
        cap.run(*push)
        assert waiter.blocked is None
        # Each on its own, as Redis sends them: the push, then the served pop.
        assert cap.batches[before:] == [[(2, [a.encode() for a in push])], [(2, effect)]]


def test_served_later_move_to_a_wrong_type_sends_no_pop(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        waiter = _waiter(cap)
        _block(cap, waiter, "BLMOVE", "q", "q2", "LEFT", "LEFT", "0")
        cap.run("SET", "q2", "str")
        assert cap.argvs("RPUSH", "q", "a") == [[b"RPUSH", b"q", b"a"]]
        assert waiter.blocked is None
        assert waiter.out[-1].startswith(b"-WRONGTYPE")


def test_served_after_a_transaction(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        waiter = _waiter(cap)
        _block(cap, waiter, "BLPOP", "q3", "0")
        cap.run("MULTI")
        cap.run("RPUSH", "q3", "a")
        cap.run("RPUSH", "q3", "b")
        before = len(cap.batches)
        cap.run("EXEC")
        assert cap.batches[before:] == [
            [(0, [b"RPUSH", b"q3", b"a"]), (0, [b"RPUSH", b"q3", b"b"])],
            [(0, [b"LPOP", b"q3"])]]


# ---------------------------------------------------------------------- MIGRATE
class _Target(Transport):
    """Answers each RESTORE with the next scripted line (+OK by default)."""

    def __init__(self, replies: dict[bytes, bytes]) -> None:
        self.replies = replies
        self.lines: list[bytes] = []

    def send_all(self, data: bytes, timeout_s: float) -> None:
        reader = hiredis.Reader()
        reader.feed(data)
        while (cmd := reader.gets()) is not False:
            key = cmd[1] if cmd[0].startswith(b"RESTORE") else b""
            self.lines.append(self.replies.get(key, b"+OK"))

    def read_line(self, timeout_s: float) -> bytes:
        return self.lines.pop(0)

    def close(self) -> None:
        pass


def test_migrate_sends_del_of_the_moved_keys(tmp_path: Path) -> None:
    with at_now(tmp_path) as cap:
        busy = b"-BUSYKEY Target key name already exists."
        target = _Target({b"b": busy})
        dumprestore._ENGINES[cap.server] = MigrateEngine(lambda host, port, timeout: target)
        cap.run("MSET", "a", "1", "b", "2", "c", "3")
        migrate = ["MIGRATE", "127.0.0.1", "7000", "", "0", "1000"]
        assert cap.argvs(*migrate, "COPY", "KEYS", "a", "b", "nokey") == []
        assert cap.argvs(*migrate, "KEYS", "nokey") == []  # NOKEY
        # b is refused: the reply is an error, but a and c moved all the same.
        sent = cap.argvs(*migrate, "KEYS", "a", "nokey", "b", "c")
        assert sent == [[b"DEL", b"a", b"c"]]
        assert cap.argvs("MIGRATE", "127.0.0.1", "7000", "b", "0", "1000") == []
        target.replies.clear()
        assert cap.argvs("MIGRATE", "127.0.0.1", "7000", "b", "0", "1000") == [[b"DEL", b"b"]]


# ---------------------------------------------------------------------- replay
def _deadlines(server: Server) -> list[tuple[int, bytes, bytes]]:
    """Every key's stored deadline (DEBUG DIGEST only says whether a key has one)."""
    return sorted((db.index, db.key_of(mk), meta[1:9]) for db in server.databases
                  for mk, meta in db.iter_keys())


def test_replaying_the_effects_gives_the_same_data(tmp_path: Path) -> None:
    """Random time-dependent and random commands; their effects, run on a second server
    whose clock lags (a replica receives them later), leave the same dataset: DEBUG
    DIGEST and every deadline."""
    rng = random.Random(7)
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    lag_ms = 15
    with at_now(tmp_path / "m") as cap, in_process_server(tmp_path / "r") as (replica, rclient):
        cap.run("SET", "src", "payload")
        payload = _reply_members(cap.run("DUMP", "src"))[0]
        keys = ["k%d" % i for i in range(4)]

        def one() -> list[str | bytes]:
            k = rng.choice(keys)
            now = cap.server.clock.now_ms
            return rng.choice([
                ["SET", k, str(rng.random()), rng.choice(["EX", "PX"]), str(rng.randint(1, 500))],
                ["SETEX", k, str(rng.randint(1, 9)), "v"],
                ["PSETEX", k, str(rng.randint(1, 900)), "v"],
                ["INCRBYFLOAT", "f", str(rng.uniform(-5, 5))],
                ["HINCRBYFLOAT", "h", k, str(rng.uniform(-5, 5))],
                ["EXPIRE", k, str(rng.randint(-2, 50)), *rng.choice([[], ["GT"], ["LT"], ["NX"]])],
                ["PEXPIRE", k, str(rng.randint(-2, 900)), *rng.choice([[], ["GT"], ["LT"]])],
                ["GETEX", k, *rng.choice([["PX", "700"], ["EX", "3"], ["PERSIST"],
                                          ["PXAT", str(now - 1)]])],
                ["SADD", "s", *(str(rng.randint(0, 40)) for _ in range(8))],
                ["SPOP", "s", *rng.choice([[], [str(rng.randint(0, 12))]])],
                ["RPUSH", "l", *(str(rng.randint(0, 9)) for _ in range(3))],
                ["LMPOP", "2", "l", "m", rng.choice(["LEFT", "RIGHT"]), "COUNT", "2"],
                ["BLMOVE", "l", "m", "LEFT", "RIGHT", "0"],
                ["ZADD", "z", str(rng.randint(0, 9)), k],
                ["BZMPOP", "0", "1", "z", "MAX", "COUNT", "2"],
                ["RESTORE", k, str(rng.randint(0, 900)), payload, "REPLACE"],
            ])

        replayed = 0
        for _ in range(400):
            cap.server.clock.now_ms += rng.randint(0, 20)
            replica.clock.now_ms = cap.server.clock.now_ms - lag_ms
            argv = one()
            if argv[0] in ("BLMOVE", "BZMPOP"):  # in a transaction: never blocks
                cap.run("MULTI")
                cap.run(*argv)
                cap.run("EXEC")
            else:
                cap.run(*argv)
            for batch in cap.batches[replayed:]:
                for db_index, effect in batch:
                    replica.dispatch(rclient, [b"SELECT", b"%d" % db_index])
                    replica.dispatch(rclient, effect)
            replayed = len(cap.batches)
            replica.clock.now_ms = cap.server.clock.now_ms  # the same keys are live
            assert dataset_digest(replica.databases) == dataset_digest(cap.server.databases), argv
            assert _deadlines(replica) == _deadlines(cap.server), argv
