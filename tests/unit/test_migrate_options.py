"""RESTORE and MIGRATE argument parsing: Redis 7.0.15's error texts and check order."""

from __future__ import annotations

import pytest

from aikv.migrate.options import (
    DEFAULT_TIMEOUT_MS,
    ERR_FREQ,
    ERR_IDLETIME,
    ERR_KEYS_NONEMPTY,
    ERR_TTL,
    migrate_key_positions,
    parse_migrate,
    parse_restore_options,
    parse_ttl,
)
from aikv.resp import CommandError

SYNTAX = "ERR syntax error"
NOT_INT = "ERR value is not an integer or out of range"


def _err(fn, *args) -> str:
    with pytest.raises(CommandError) as info:
        fn(*args)
    return str(info.value)


# ---------------------------------------------------------------------- RESTORE
def test_restore_options_all_flags() -> None:
    opts = parse_restore_options([b"REPLACE", b"absttl", b"IdleTime", b"10"])
    assert (opts.replace, opts.absttl, opts.idletime, opts.freq) == (True, True, 10, None)
    opts = parse_restore_options([b"freq", b"255"])
    assert opts.freq == 255 and opts.idletime is None
    assert parse_restore_options([]).replace is False


@pytest.mark.parametrize("args, message", [
    ([b"FOO"], SYNTAX),
    ([b"IDLETIME", b"10", b"FREQ", b"5"], SYNTAX),
    ([b"FREQ", b"5", b"IDLETIME", b"10"], SYNTAX),
    ([b"IDLETIME"], SYNTAX),  # no value: the word is not recognised
    ([b"FREQ", b"256"], ERR_FREQ),
    ([b"FREQ", b"-1"], ERR_FREQ),
    ([b"IDLETIME", b"-1"], ERR_IDLETIME),
    ([b"IDLETIME", b"x"], NOT_INT),
    ([b"REPLACE", b"BOGUS", b"FREQ", b"999"], SYNTAX),  # first problem wins
])
def test_restore_option_errors(args: list[bytes], message: str) -> None:
    assert _err(parse_restore_options, args) == message


def test_restore_ttl() -> None:
    assert parse_ttl(b"0") == 0
    assert parse_ttl(b"100000") == 100000
    assert _err(parse_ttl, b"-1") == ERR_TTL
    assert _err(parse_ttl, b"abc") == NOT_INT
    assert _err(parse_ttl, b"1.5") == NOT_INT


# ---------------------------------------------------------------------- MIGRATE
def _argv(*words: str) -> list[bytes]:
    return [w.encode() for w in ("MIGRATE", *words)]


def test_migrate_single_key() -> None:
    req = parse_migrate(_argv("127.0.0.1", "7151", "m:one", "3", "5000", "AUTH", "s3cret"))
    assert req.keys == [b"m:one"] and req.db == 3 and req.timeout_ms == 5000
    assert req.password == b"s3cret" and req.username is None
    assert not req.copy and not req.replace
    assert req.cache_name == b"127.0.0.1:7151"


def test_migrate_keys_form_and_flags() -> None:
    req = parse_migrate(_argv("h", "1", "", "0", "10", "copy", "REPLACE", "AUTH2", "u", "p",
                              "KEYS", "a", "b", "KEYS"))
    assert req.copy and req.replace
    assert (req.username, req.password) == (b"u", b"p")
    # Everything after the first KEYS is a key, even the word KEYS.
    assert req.keys == [b"a", b"b", b"KEYS"]


def test_migrate_keys_without_names_is_empty() -> None:
    assert parse_migrate(_argv("h", "1", "", "0", "10", "KEYS")).keys == []


@pytest.mark.parametrize("timeout", ["0", "-5"])
def test_migrate_nonpositive_timeout_means_one_second(timeout: str) -> None:
    assert parse_migrate(_argv("h", "1", "k", "0", timeout)).timeout_ms == DEFAULT_TIMEOUT_MS


@pytest.mark.parametrize("words, message", [
    (("h", "1", "k", "0", "5000", "KEYS", "k"), ERR_KEYS_NONEMPTY),
    (("h", "1", "k", "0", "5000", "KEYS"), ERR_KEYS_NONEMPTY),
    (("h", "1", "k", "0", "5000", "AUTH"), SYNTAX),
    (("h", "1", "k", "0", "5000", "AUTH2", "u"), SYNTAX),
    (("h", "1", "k", "0", "5000", "FOO"), SYNTAX),
    (("h", "1", "k", "0", "abc"), NOT_INT),
    (("h", "1", "k", "x", "5000"), NOT_INT),
    # options are checked before the numbers
    (("h", "1", "k", "x", "abc", "FOO"), SYNTAX),
])
def test_migrate_errors(words: tuple[str, ...], message: str) -> None:
    assert _err(parse_migrate, _argv(*words)) == message


def test_migrate_key_positions() -> None:
    assert migrate_key_positions(_argv("h", "1", "k", "0", "10")) == [3]
    argv = _argv("h", "1", "", "0", "10", "AUTH", "keys", "KEYS", "a", "b")
    # AUTH's value "keys" is skipped, not taken as the KEYS keyword.
    assert [argv[i] for i in migrate_key_positions(argv)] == [b"a", b"b"]
    argv = _argv("h", "1", "", "0", "10", "AUTH2", "keys", "keys", "COPY", "KEYS", "z")
    assert [argv[i] for i in migrate_key_positions(argv)] == [b"z"]
    assert migrate_key_positions(_argv("h", "1", "k", "0", "10", "KEYS", "a")) == []
    assert migrate_key_positions(_argv("h", "1", "", "0", "10", "KEYS")) == []
