"""nodes.conf parsing, formatting, durable save and locking.

Golden files are real nodes.conf files and CLUSTER NODES replies from redis-server 7.0.15
(shared/fixtures); malformed inputs are built from them by hand.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aikv.cluster import nodeflags
from aikv.persist import nodesconf
from aikv.persist.nodesconf import (
    NodeEntry,
    NodesConf,
    NodesConfError,
    NodesConfLockError,
    format_node_line,
    format_nodes_conf,
    load_nodes_conf,
    lock_nodes_conf,
    parse_node_line,
    parse_nodes_conf,
    save_nodes_conf,
    split_args,
)
from tests.harness import shared_dir

FIXTURES = shared_dir() / "fixtures"
CONF_FILES = sorted((FIXTURES / "nodes-conf").glob("*/nodes-*.conf"))
NODES_REPLIES = sorted((FIXTURES / "cluster-replies").glob("*/cluster-nodes-*.txt"))
needs_fixtures = pytest.mark.skipif(not CONF_FILES, reason=f"no fixtures under {FIXTURES}")

ID_7101 = "d6db14b3d426415295516ece82eda168b8cc20c7"
ID_7102 = "0e222c93ae9952f37985684d936da2b796c0f8d7"
ID_7103 = "d73c88c9ca1148e37b9d6eddcc37e96bc3f4cf84"
ID_7104 = "c6851030a09d2138b9e3fac8917afb2d9f2a786e"

# A healthy 3-master file, one line per kind of content, used to build broken variants.
GOOD = (
    f"{ID_7103} 127.0.0.1:7103@17103 master - 0 1795670352671 3 connected 10923-16383\n"
    f"{ID_7102} 127.0.0.1:7102@17102,node-7102.aikv.test master - 0 1795670352370 2 "
    "connected 5461-10922\n"
    f"{ID_7101} 127.0.0.1:7101@17101 myself,master - 0 0 1 connected 0-5460 "
    f"[100->-{ID_7102}]\n"
    "vars currentEpoch 3 lastVoteEpoch 0\n"
)


def _fixture(stage: str, port: int) -> str:
    return (FIXTURES / "nodes-conf" / stage / f"nodes-{port}.conf").read_text()


# --------------------------------------------------------------------------------------
# Golden files


@needs_fixtures
@pytest.mark.parametrize("path", CONF_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_file_round_trips_byte_for_byte(path: Path) -> None:
    text = path.read_text()
    conf = parse_nodes_conf(text)
    assert format_nodes_conf(conf) == text
    assert sum(e.is_myself for e in conf.entries) == 1
    # The model keeps the file's line order (Redis's is hash order, so it is arbitrary).
    assert [e.node_id for e in conf.entries] == [line.split()[0] for line in
                                                 text.splitlines()[:-1]]


@needs_fixtures
@pytest.mark.parametrize("path", NODES_REPLIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cluster_nodes_reply_lines_reproduced(path: Path) -> None:
    text = path.read_text()
    assert text.endswith("\n")
    for number, line in enumerate(text.splitlines(), 1):
        assert format_node_line(parse_node_line(line, number)) == line


@needs_fixtures
def test_fixture_models_carry_the_facts() -> None:
    source = parse_nodes_conf(_fixture("mid-migration", 7101))
    target = parse_nodes_conf(_fixture("mid-migration", 7102))
    assert source.myself is not None and source.myself.node_id == ID_7101
    assert source.myself.migrating == {100: ID_7102} and source.myself.importing == {}
    assert target.myself is not None and target.myself.importing == {100: ID_7101}
    # The slot stays in the owner's ranges while it migrates.
    assert source.myself.slots == [(0, 5460)] and source.myself.slot_count == 5461

    node_7102 = source.find(ID_7102)
    assert node_7102 is not None
    assert (node_7102.ip, node_7102.port, node_7102.cport) == ("127.0.0.1", 7102, 17102)
    assert node_7102.hostname == "node-7102.aikv.test"
    assert node_7102.flags == nodeflags.MASTER and node_7102.master_id is None

    replica = parse_nodes_conf(_fixture("with-replica", 7101)).find(ID_7104)
    assert replica is not None and replica.is_replica and replica.master_id == ID_7101
    assert replica.config_epoch == 6  # as written: its master's epoch

    failed = parse_nodes_conf(_fixture("after-fail", 7101))
    node_7103 = failed.find(ID_7103)
    assert node_7103 is not None
    assert node_7103.flags == nodeflags.MASTER | nodeflags.FAIL
    assert node_7103.ping_sent_ms == 1795670500428 and not node_7103.link_connected
    assert (failed.current_epoch, failed.last_vote_epoch) == (8, 0)

    fresh = parse_nodes_conf(_fixture("fresh", 7101))
    assert fresh.entries[0].ip == "" and fresh.entries[0].port == 0 and fresh.entries[0].cport == 0


# --------------------------------------------------------------------------------------
# Loader rules that a well-formed Redis file never exercises


def test_vars_anywhere_case_insensitive_and_later_wins() -> None:
    text = "VARS CurrentEpoch 9 LASTVOTEEPOCH 4\n" + GOOD.replace(
        "vars currentEpoch 3 lastVoteEpoch 0", "vars currentEpoch 11 foo bar")
    conf = parse_nodes_conf(text)
    assert (conf.current_epoch, conf.last_vote_epoch) == (11, 4)
    assert conf.vars_line == 5
    assert conf.notes == [(5, "unknown variable 'foo' skipped")]


def test_blank_lines_skipped_like_the_70_writer_padding() -> None:
    # Redis 7.0 pads with newlines when the new content is shorter than the old file.
    conf = parse_nodes_conf(GOOD + "\n\n\n")
    assert format_nodes_conf(conf) == GOOD
    assert parse_nodes_conf("\n" + GOOD).entries[0].line == 2


def test_address_forms() -> None:
    old = parse_node_line(f"{ID_7101} 10.0.0.1:7000 myself,master - 0 0 0 connected")
    assert (old.ip, old.port, old.cport) == ("10.0.0.1", 7000, 17000)  # pre-4.0: no @cport
    v6 = parse_node_line(f"{ID_7101} ::1:7000@17000 master - 0 0 0 connected")
    assert (v6.ip, v6.port) == ("::1", 7000)
    named = parse_node_line(f"{ID_7101} 10.0.0.1:7000@17000,h:x,y master - 0 0 0 connected")
    assert named.hostname == "h:x,y" and named.ip == "10.0.0.1"
    assert parse_node_line(f"{ID_7101} 1.2.3.4:1@2, master - 0 0 0 x").hostname is None


def test_field_rules() -> None:
    entry = parse_node_line(
        f"{ID_7104} 1.2.3.4:1@2 NoFlags -whatever 7 8 9 'connected' 5 1-3 10-10 2")
    assert entry.flags == 0 and entry.master_id is None
    assert (entry.ping_sent_ms, entry.pong_received_ms, entry.config_epoch) == (7, 8, 9)
    assert entry.link_connected  # quotes are shell-like, as in the Redis loader
    assert entry.slots == [(1, 3), (5, 5), (10, 10)]  # merged and sorted like a bitmap
    both = parse_node_line(f"{ID_7101} 1.2.3.4:1@2 Myself,MASTER,Fail?,nofailover - 0 0 0 x"
                           f" [5->-{ID_7102}] [5-<-{ID_7103}] [6-<-{ID_7103}]")
    assert both.flags == (nodeflags.MYSELF | nodeflags.MASTER | nodeflags.PFAIL
                          | nodeflags.NOFAILOVER)
    assert both.migrating == {5: ID_7102} and both.importing == {5: ID_7103, 6: ID_7103}
    assert not both.link_connected


def test_replica_epoch_and_duplicates_are_kept_as_written() -> None:
    # Redis merges a repeated id and keeps a slot with its first claimant; the model keeps
    # the lines as written and leaves that to the state (and flags it in the inspector).
    text = GOOD + f"{ID_7103} 127.0.0.1:7103@17103 master - 0 0 3 connected 0\n"
    conf = parse_nodes_conf(text)
    assert [e.node_id for e in conf.entries].count(ID_7103) == 2


def test_empty_range_is_accepted_and_noted() -> None:
    conf = parse_nodes_conf(GOOD.replace("10923-16383", "10923-16383 9-3"))
    assert conf.entries[0].slots == [(10923, 16383)]
    assert conf.notes == [(1, "empty slot range '9-3' ignored")]


def test_missing_vars_line_is_loadable_but_recorded() -> None:
    conf = parse_nodes_conf(GOOD.rsplit("vars", 1)[0])
    assert conf.vars_line is None and conf.current_epoch == 0


def test_last_line_without_newline_and_crlf() -> None:
    assert parse_nodes_conf(GOOD.rstrip("\n")).current_epoch == 3
    crlf = parse_nodes_conf(GOOD.replace("\n", "\r\n"))
    assert crlf.entries[2].migrating == {100: ID_7102} and crlf.last_vote_epoch == 0


# --------------------------------------------------------------------------------------
# Malformed input: every case Redis refuses, with the line it fails on


def _replace_line(number: int, line: str) -> str:
    lines = GOOD.splitlines(keepends=True)
    lines[number - 1] = line + "\n"
    return "".join(lines)


MYSELF_LINE = GOOD.splitlines()[2]
MALFORMED = {
    "truncated-line": (GOOD[: GOOD.index("myself") + 4], 3, "fields"),
    "truncated-mid-field": (_replace_line(2, f"{ID_7102} 127.0.0.1:7102@17102 mas"), 2, "fields"),
    "seven-fields": (_replace_line(1, f"{ID_7103} 127.0.0.1:7103@17103 master - 0 0 3"), 1,
                     "7 fields"),
    "short-id": (_replace_line(1, MYSELF_LINE.replace(ID_7101, ID_7101[:39])), 1, "node id"),
    "uppercase-id": (_replace_line(1, MYSELF_LINE.replace(ID_7101, ID_7101.upper())), 1,
                     "node id"),
    "bad-master-id": (_replace_line(1, f"{ID_7104} 1.2.3.4:1@2 slave xyz 0 0 0 connected"), 1,
                      "master id"),
    "slot-16384": (GOOD.replace("10923-16383", "10923-16384"), 1, "slot 16384 out of range"),
    "single-slot-out-of-range": (GOOD.replace("0-5460", "0-5460 99999"), 3, "out of range"),
    "negative-slot": (GOOD.replace("0-5460", "-5"), 3, "slot"),
    "mark-slot-out-of-range": (GOOD.replace("[100->-", "[16384->-"), 3, "out of range"),
    "mark-without-arrow": (GOOD.replace(f"[100->-{ID_7102}]", "[100]"), 3, "migration mark"),
    "mark-unclosed": (GOOD.replace(f"{ID_7102}]", ID_7102), 3, "migration mark"),
    "mark-bad-arrow": (GOOD.replace("[100->-", "[100=>-"), 3, "migration mark"),
    "mark-bad-id": (GOOD.replace(f"[100->-{ID_7102}]", "[100->-abc]"), 3, "migration mark"),
    "unknown-flag": (GOOD.replace("master - 0 1795670352370", "master,bogus - 0 1"), 2,
                     "unknown flag 'bogus'"),
    "empty-flag": (GOOD.replace("myself,master", "myself,master,"), 3, "unknown flag ''"),
    "two-myself": (GOOD.replace(f"{ID_7103} 127.0.0.1:7103@17103 master",
                                f"{ID_7103} 127.0.0.1:7103@17103 myself,master"), 3,
                   "second node flagged 'myself' (first on line 1)"),
    "myself-twice-in-line": (GOOD.replace("myself,master", "myself,myself"), 3, "twice"),
    "no-myself": (GOOD.replace("myself,master", "master"), 4, "no node is flagged 'myself'"),
    "vars-name-without-value": (GOOD.replace("lastVoteEpoch 0", "lastVoteEpoch"), 4,
                                "has no value"),
    "vars-bad-number": (GOOD.replace("currentEpoch 3", "currentEpoch x3"), 4, "currentEpoch"),
    "unterminated-quote": (_replace_line(2, f'{ID_7102} "127.0.0.1:7102 master - 0 0 2 c'), 2,
                           "unterminated"),
    "quote-glued": (_replace_line(2, f'{ID_7102} "127.0.0.1:7102"x master - 0 0 2 c'), 2,
                    "closing quote"),
    "no-port": (GOOD.replace("127.0.0.1:7103@17103", "127.0.0.1"), 1, "no ':port'"),
    "port-garbage": (GOOD.replace("7103@17103", "71x3@17103"), 1, "port"),
    "epoch-garbage": (GOOD.replace(" 3 connected", " -1 connected"), 1, "configEpoch"),
    "blanks-only-line": (_replace_line(2, "   "), 2, "0 fields"),
    "empty-file": ("", 1, "empty file"),
}


# Cases where Redis reads garbage numbers as 0 (atoi/strtoull) or a prefix of them and
# loads the file anyway; AiKv refuses instead (checked against redis-server in
# tests/integration/test_nodesconf_redis.py). An empty file is "no config yet" for Redis.
STRICTER_THAN_REDIS = {"negative-slot", "port-garbage", "epoch-garbage", "vars-bad-number"}
NEW_NODE_FOR_REDIS = {"empty-file"}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_is_refused_at_the_right_line(case: str) -> None:
    text, line, reason = MALFORMED[case]
    with pytest.raises(NodesConfError) as caught:
        parse_nodes_conf(text)
    assert caught.value.line == line, caught.value
    assert reason in caught.value.reason


def test_error_text_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "nodes.conf"
    path.write_text(GOOD.replace("myself,master", "myself,oops,master"))
    with pytest.raises(NodesConfError) as caught:
        load_nodes_conf(path)
    assert str(caught.value) == f"{path}:3: unknown flag 'oops'"
    assert isinstance(caught.value, ValueError)


def test_missing_or_empty_file_means_new_node(tmp_path: Path) -> None:
    path = tmp_path / "nodes.conf"
    assert load_nodes_conf(path) is None
    path.write_bytes(b"")
    assert load_nodes_conf(path) is None
    path.write_text(GOOD)
    loaded = load_nodes_conf(path)
    assert loaded is not None and loaded == parse_nodes_conf(GOOD)


# --------------------------------------------------------------------------------------
# Tokenizer and formatter details


@pytest.mark.parametrize("line,words", [
    ("a  b\tc", ["a", "b", "c"]),
    ('"a b" c', ["a b", "c"]),
    ('"\\x41\\n\\q"', ["A\nq"]),
    ("'it\\'s' x", ["it's", "x"]),
    ('ab"c d"e', None),  # a closing quote must be followed by a blank
    ('ab"c d" e', ["abc d", "e"]),
    ("\v a\vb", ["a\vb"]),  # leading \v is skipped, but does not end a word
    ("", []),
])
def test_split_args_like_redis(line: str, words: list[str] | None) -> None:
    if words is None:
        with pytest.raises(ValueError):
            split_args(line)
    else:
        assert split_args(line) == words


def test_format_rules() -> None:
    entry = NodeEntry(node_id=ID_7101, ip="10.0.0.1", port=7000, cport=17000,
                      hostname="h.example", flags=nodeflags.MYSELF | nodeflags.MASTER,
                      config_epoch=4, link_connected=False,
                      slots=[(5, 5), (0, 3), (4, 4), (10, 12)],
                      migrating={7: ID_7102, 3: ID_7103}, importing={7: ID_7104, 1: ID_7104})
    assert format_node_line(entry) == (
        f"{ID_7101} 10.0.0.1:7000@17000,h.example myself,master - 0 0 4 connected 0-5 10-12"
        f" [1-<-{ID_7104}] [3->-{ID_7103}] [7->-{ID_7102}]")
    other = NodeEntry(node_id=ID_7102, ip="", port=0, cport=0)
    assert format_node_line(other) == f"{ID_7102} :0@0 noflags - 0 0 0 disconnected"


def test_file_leaves_out_handshake_nodes() -> None:
    me = NodeEntry(ID_7101, "127.0.0.1", 7101, 17101, flags=nodeflags.MYSELF | nodeflags.MASTER)
    shaking = NodeEntry(ID_7102, "127.0.0.1", 7198, 17198, flags=nodeflags.HANDSHAKE)
    text = format_nodes_conf(NodesConf([shaking, me], current_epoch=2, last_vote_epoch=1))
    assert text == (f"{ID_7101} 127.0.0.1:7101@17101 myself,master - 0 0 0 connected\n"
                    "vars currentEpoch 2 lastVoteEpoch 1\n")


# --------------------------------------------------------------------------------------
# Durable save


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


@pytest.mark.parametrize("fsync", [True, False])
def test_save_replaces_file(tmp_path: Path, fsync: bool) -> None:
    path = tmp_path / "nodes.conf"
    path.write_text("old content that is much longer than the new one\n" * 50)
    save_nodes_conf(path, GOOD, fsync=fsync)
    assert path.read_text() == GOOD
    assert oct(path.stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    assert _leftovers(tmp_path) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_interrupted_save_keeps_the_old_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "nodes.conf"
    path.write_text(GOOD)
    new_text = GOOD.replace("currentEpoch 3", "currentEpoch 4") * 200
    real_write = os.write

    def write_half_then_fail(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nodesconf.os, "write", write_half_then_fail)
    with pytest.raises(OSError, match="No space"):
        save_nodes_conf(path, new_text, fsync=True)
    monkeypatch.undo()
    assert path.read_text() == GOOD
    assert _leftovers(tmp_path) == []

    def crash_before_rename(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # e.g. the process is told to stop mid-save

    monkeypatch.setattr(nodesconf.os, "replace", crash_before_rename)
    with pytest.raises(KeyboardInterrupt):
        save_nodes_conf(path, new_text, fsync=False)
    monkeypatch.undo()
    assert path.read_text() == GOOD
    assert _leftovers(tmp_path) == []


def test_killed_writer_never_leaves_a_partial_file(tmp_path: Path) -> None:
    # A child saves large texts in a loop and is SIGKILLed at a random point: whatever is
    # under the name afterwards must be one complete version.
    path = tmp_path / "nodes.conf"
    versions = [GOOD.replace("currentEpoch 3", f"currentEpoch {n}") + "\n" * 200_000
                for n in range(3)]
    save_nodes_conf(path, versions[0], fsync=False)
    script = textwrap.dedent(f"""
        import sys
        from aikv.persist.nodesconf import save_nodes_conf
        good = sys.stdin.read()
        texts = [good.replace("currentEpoch 3", f"currentEpoch {{n}}") + "\\n" * 200_000
                 for n in range(3)]
        print("ready", flush=True)
        n = 0
        while True:
            save_nodes_conf({str(path)!r}, texts[n % 3], fsync=False)
            n += 1
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(GOOD.encode())
        child.stdin.close()
        assert child.stdout.readline() == b"ready\n"
        for _ in range(20):
            assert path.read_text() in versions
    finally:
        child.kill()
        child.wait(timeout=10)
        if child.stdout:
            child.stdout.close()
    assert path.read_text() in versions


# --------------------------------------------------------------------------------------
# Lock


HOLDER = textwrap.dedent("""
    import sys
    from aikv.persist.nodesconf import lock_nodes_conf
    lock = lock_nodes_conf(sys.argv[1])
    print("locked", flush=True)
    sys.stdin.readline()  # hold the lock until the parent closes our stdin
""")


def _start_holder(path: Path) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    assert child.stdout is not None
    assert child.stdout.readline() == b"locked\n"
    return child


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.kill()
    child.wait(timeout=10)
    for stream in (child.stdin, child.stdout):
        if stream:
            stream.close()


def test_lock_conflict_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "nodes.conf"
    child = _start_holder(path)
    try:
        assert path.exists() and path.stat().st_size == 0  # created empty, as Redis does
        with pytest.raises(NodesConfLockError, match=rf"already used.*process {child.pid}"):
            lock_nodes_conf(path)
    finally:
        _stop(child)
    with lock_nodes_conf(path) as lock:  # free again once the holder is gone
        assert lock.held
    assert not lock.held


def test_lock_survives_saves(tmp_path: Path) -> None:
    path = tmp_path / "nodes.conf"
    with lock_nodes_conf(path) as lock:
        for epoch in range(3):
            save_nodes_conf(path, GOOD.replace("currentEpoch 3", f"currentEpoch {epoch}"),
                            fsync=True, lock=lock)
        # A second AiKv process is refused by the sibling lock file...
        script = ("import sys\nfrom aikv.persist.nodesconf import lock_nodes_conf\n"
                  "try:\n    lock_nodes_conf(sys.argv[1])\nexcept Exception as e:\n"
                  "    print(type(e).__name__)\n")
        result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                                text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
        assert result.stdout.strip() == "NodesConfLockError"
        # ...and the live file (a new inode after each save) is locked too, which is the
        # only thing a real redis-server checks.
        fd = os.open(path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        with pytest.raises(ValueError):
            save_nodes_conf(tmp_path / "other.conf", GOOD, fsync=False, lock=lock)
    assert path.read_text().endswith("vars currentEpoch 2 lastVoteEpoch 0\n")


def test_file_locked_by_a_foreign_process_is_refused(tmp_path: Path) -> None:
    # A real redis-server locks only nodes.conf itself; we must notice that too.
    path = tmp_path / "nodes.conf"
    path.write_text(GOOD)
    fd = os.open(path, os.O_RDONLY)
    try:
        # flock is per open file description, so this conflicts within one process too.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(NodesConfLockError, match="already used"):
            lock_nodes_conf(path)
    finally:
        os.close(fd)
    lock_nodes_conf(path).release()


def _reference_line_tail(entry: nodesconf.NodeEntry) -> str:
    """The slots and marks part of a node line, spelled out without any caching."""
    slots = sorted(s for lo, hi in entry.slots for s in range(lo, hi + 1))
    runs: list[list[int]] = []
    for s in slots:
        if runs and s <= runs[-1][1] + 1:
            runs[-1][1] = max(runs[-1][1], s)
        else:
            runs.append([s, s])
    words = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in runs]
    for slot in sorted(entry.migrating.keys() | entry.importing.keys()):
        words.append(f"[{slot}->-{entry.migrating[slot]}]" if slot in entry.migrating
                     else f"[{slot}-<-{entry.importing[slot]}]")
    return " ".join(words)


def test_node_lines_rendered_from_cache_equal_a_fresh_rendering() -> None:
    import random

    rng = random.Random(7)
    entry = nodesconf.NodeEntry(node_id="a" * 40, ip="127.0.0.1", port=7000, cport=17000,
                                flags=nodeflags.MASTER)
    head = nodesconf.format_node_line(entry)
    for _ in range(400):
        # ranges that overlap, touch or come out of order (normalised on output), and
        # marks, both changed in place on the same entry so a stale cached text would show
        entry.slots = [(lo, min(16383, lo + rng.randrange(0, 40)))
                       for lo in (rng.randrange(16384) for _ in range(rng.randrange(0, 12)))]
        entry.migrating = {rng.randrange(16384): rng.choice("bc") * 40
                           for _ in range(rng.randrange(0, 4))}
        entry.importing = {rng.randrange(16384): rng.choice("de") * 40
                           for _ in range(rng.randrange(0, 4))}
        tail = _reference_line_tail(entry)
        assert nodesconf.format_node_line(entry) == (f"{head} {tail}" if tail else head)
