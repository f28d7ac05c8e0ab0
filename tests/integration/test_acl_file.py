"""ACL users kept across restarts: `user` directives (config file, --user), the ACL file
(startup, ACL LOAD, ACL SAVE) and CONFIG REWRITE's `user` lines, against a real
redis-server 7.0 where it can be compared (files and replies byte for byte, the
single-command rules of a line sorted: Redis orders them by a randomly seeded hash
table), plus AiKv's own restarts."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.differ import RawConnection, parse
from tests.harness import ServerProcess, have_redis_server, wait_until
from tests.integration.test_acl_users import norm_rules

pytestmark = pytest.mark.skipif(not have_redis_server(), reason="redis-server not installed")

SETUSERS = [
    ("alice", "on", ">pw1", ">pw2", "~cached:*", "-@all", "+get"),
    ("bob", "on", "nopass", "+@all", "-@dangerous", "~k*", "%R~r*", "%W~w*", "&ch*",
     "+config|get", "+select|0"),
    ("carol", "on", "#" + "a" * 64, "-@all", "+@read", "+@hash", "-hgetall", "allkeys",
     "allchannels"),
    ("dave", "skip-sanitize-payload", "-@all", "+select|0", "%RW~x", "%R~y"),
    ("erin", "reset"),
    ("default", "on", "nopass", "sanitize-payload", "-flushall"),
]

Start = Callable[..., ServerProcess]


class ConfServer(ServerProcess):
    """A server started with a config file (redis-server wants it first)."""

    def __init__(self, kind: str, directory: Path, conf: Path | None,
                 args: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(kind, directory, args=args)
        self.conf = conf

    def command(self) -> list[str]:
        cmd = super().command()
        if self.conf is None:
            return cmd
        if self.kind == "redis":
            return [cmd[0], str(self.conf), *cmd[1:]]
        return [*cmd[:3], str(self.conf), *cmd[3:]]  # after `python -m aikv.cli`


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """start(kind, name, conf_text=None, args=(), wait=True): a server in tmp_path/name
    (its config file there too); every one started is stopped at teardown."""
    started: list[ServerProcess] = []

    def _start(kind: str, name: str, conf_text: str | None = None,
               args: list[str] | tuple[str, ...] = (), wait: bool = True,
               files: dict[str, str] | None = None) -> ServerProcess:
        directory = tmp_path / name
        directory.mkdir(exist_ok=True)
        for fname, text in (files or {}).items():
            (directory / fname).write_text(text)
        conf = None
        if conf_text is not None:
            conf = directory / "server.conf"
            conf.write_text(conf_text)
        proc = ConfServer(kind, directory, conf, args)
        started.append(proc)
        return proc.start(wait=wait)

    yield _start
    for proc in reversed(started):
        proc.stop()


def exit_code(proc: ServerProcess, timeout: float = 15.0) -> int:
    assert proc.proc is not None
    return proc.proc.wait(timeout=timeout)


def call(proc: ServerProcess, *args: str) -> object:
    conn = RawConnection(proc.port)
    try:
        return parse(conn.call(*args))
    finally:
        conn.close()


def norm_lines(text: bytes | str) -> list[tuple[list[str], list[str]]]:
    data = text.encode() if isinstance(text, str) else text
    return [norm_rules(line) for line in data.split(b"\n") if line]


def acl_list(proc: ServerProcess) -> list[tuple[list[str], list[str]]]:
    value = call(proc, "acl", "list")
    assert isinstance(value, list)
    return [norm_rules(line) for line in value]


def both(start: Start, **kwargs: object) -> tuple[ServerProcess, ServerProcess]:
    return start("aikv", "aikv", **kwargs), start("redis", "redis", **kwargs)


# ---------------------------------------------------------------------- ACL SAVE / LOAD
def test_acl_save_writes_the_same_file(start: Start) -> None:
    a, r = both(start, args=["--aclfile", "users.acl"], files={"users.acl": ""})
    for proc in (a, r):
        for rules in SETUSERS:
            assert call(proc, "acl", "setuser", *rules) == b"OK"
        assert call(proc, "acl", "save") == b"OK"
    mine = (a.dir / "users.acl").read_bytes()
    theirs = (r.dir / "users.acl").read_bytes()
    assert norm_lines(mine) == norm_lines(theirs)
    assert mine.endswith(b"\n") and mine.count(b"\n") == len(SETUSERS)
    # No temporary file left behind.
    assert sorted(p.name for p in a.dir.glob("users.acl*")) == ["users.acl"]
    # Lines with at most one single-command rule are identical without normalising.
    for line_a, line_r in zip(mine.split(b"\n"), theirs.split(b"\n"), strict=True):
        if len([t for t in line_a.split(b" ") if t[:1] in b"+-" and t[1:2] != b"@"]) <= 1:
            assert line_a == line_r


BAD_FILES = [
    "# a comment\nuser alice on\n",
    "user alice on +bogus -bogus2 %X~a ~b\nfoo bar\nuser alice off\nuser a\tb on\n"
    " user c on +@foo\n",
    "\r\nuser  alice  on\t\r\n",
    "user alice on ~* ~a\n",
    "user alice on &* &a\nuser\n",
    "user alice on #abc\nUSER bob on\n",
    "user alice on <nosuch\n",
    "user alice on +acl|whoami|x\nuser bob on +get|\n",
]


def test_acl_load_errors_are_redis_texts(start: Start) -> None:
    good = "user alice on nopass ~* +@all\n"
    a, r = both(start, args=["--aclfile", "users.acl"], files={"users.acl": good})
    for text in BAD_FILES:
        replies = []
        for proc in (a, r):
            (proc.dir / "users.acl").write_text(text)
            replies.append(RawConnection(proc.port).call("acl", "load"))
        assert replies[0] == replies[1], (text, replies)
        assert replies[0].startswith(b"-ERR users.acl:") or b"WARNING" in replies[0]
    for proc in (a, r):  # nothing changed: alice still the only other user
        assert call(proc, "acl", "users") == [b"alice", b"default"]
        (proc.dir / "users.acl").unlink()
    missing = [RawConnection(p.port).call("acl", "load") for p in (a, r)]
    assert missing[0] == missing[1] == (b"-ERR Error loading ACLs, opening file 'users.acl': "
                                        b"No such file or directory\r\n")


def test_acl_load_replaces_users_and_closes_their_connections(start: Start) -> None:
    text = "user alice on nopass ~* +@all\nuser bob on nopass ~* +@all\n"
    a, r = both(start, args=["--aclfile", "users.acl"], files={"users.acl": text})
    for proc in (a, r):
        admin, alice, plain = (RawConnection(proc.port) for _ in range(3))
        assert alice.call("auth", "alice", "x") == b"+OK\r\n"
        # A bad file changes nothing: alice stays connected.
        (proc.dir / "users.acl").write_text(text + "bogus\n")
        assert admin.call("acl", "load").startswith(b"-ERR users.acl:3 should start")
        assert alice.call("ping") == b"+PONG\r\n"
        # A good one replaces every user but default: alice's connection is closed
        # (even though alice is still defined), default's are kept.
        (proc.dir / "users.acl").write_text(
            "user alice on nopass ~* +@all\nuser carol on >pw ~k* +get\n"
            "user default on nopass ~* &* -@all +ping +acl\n")
        assert admin.call("acl", "load") == b"+OK\r\n"
        with pytest.raises((ConnectionError, OSError)):
            alice.call("ping")
        assert plain.call("ping") == b"+PONG\r\n"
        assert plain.call("get", "k").startswith(b"-NOPERM")
        # The caller authenticated as a replaced user gets its reply, then is closed.
        caller = RawConnection(proc.port)
        assert caller.call("auth", "alice", "x") == b"+OK\r\n"
        caller.sock.sendall(b"*2\r\n$3\r\nacl\r\n$4\r\nload\r\n*1\r\n$4\r\nping\r\n")
        assert caller.read_reply() == b"+OK\r\n"
        with pytest.raises((ConnectionError, OSError)):
            caller.read_reply()
        for conn in (admin, alice, plain, caller):
            conn.close()
    assert acl_list(a) == acl_list(r)


def test_acl_save_errors(start: Start, tmp_path: Path) -> None:
    texts = []
    for kind in ("aikv", "redis"):
        sub = tmp_path / f"acls-{kind}"
        sub.mkdir()
        (sub / "users.acl").write_text("")
        proc = start(kind, kind, args=["--aclfile", str(sub / "users.acl")])
        shutil.rmtree(sub)  # the temporary file cannot be created any more
        texts.append(RawConnection(proc.port).call("acl", "save"))
        wait_until(lambda p=proc: "Opening temp ACL file for ACL SAVE: No such file or "
                   "directory" in p.log(), 5, what="the logged reason")
    assert texts[0] == texts[1] == (b"-ERR There was an error trying to save the ACLs. "
                                    b"Please check the server logs for more information\r\n")


def test_load_and_save_without_an_aclfile(start: Start) -> None:
    a, r = both(start)
    for sub in ("load", "save"):
        replies = [RawConnection(p.port).call("acl", sub) for p in (a, r)]
        assert replies[0] == replies[1]
        assert b"not configured to use an ACL file" in replies[0]


# ---------------------------------------------------------------------- startup
def test_startup_from_an_aclfile(start: Start) -> None:
    text = ("user alice on >pw ~k* &ch +get +set\n\n   \n"
            "user bob off nopass -@all +@read %R~r*\n"
            "user default on >secret ~* &* +@all -flushall\n")
    a, r = both(start, args=["--aclfile", "users.acl", "--requirepass", "ignored"],
                files={"users.acl": text})
    for proc in (a, r):
        assert RawConnection(proc.port).call("ping").startswith(b"-NOAUTH")
        conn = RawConnection(proc.port)
        assert conn.call("auth", "secret") == b"+OK\r\n"
        assert conn.call("auth", "alice", "pw") == b"+OK\r\n"
    lists = []
    for proc in (a, r):
        conn = RawConnection(proc.port)
        conn.call("auth", "secret")
        lists.append([norm_rules(line) for line in parse(conn.call("acl", "list"))])
    assert lists[0] == lists[1] and len(lists[0]) == 3


def test_startup_aclfile_without_default_makes_a_nopass_default(start: Start) -> None:
    a, r = both(start, args=["--aclfile", "users.acl", "--requirepass", "pw"],
                files={"users.acl": "user alice on\n"})
    assert acl_list(a) == acl_list(r)
    assert call(a, "config", "get", "requirepass") == [b"requirepass", b"pw"]


@pytest.mark.parametrize("text", [
    "user alice on\nfoo\n",
    "user alice on +nosuchcommand\nuser alice off\n",
])
def test_startup_aborts_on_a_bad_aclfile(start: Start, text: str) -> None:
    logs = []
    for kind in ("aikv", "redis"):
        proc = start(kind, kind, args=["--aclfile", "users.acl"], files={"users.acl": text},
                     wait=False)
        assert exit_code(proc) == 1
        found = re.search(r"Aborting Redis startup because of ACL errors: .*", proc.log())
        assert found, proc.log()
        logs.append(found.group(0))
    assert logs[0] == logs[1]


CONF_USERS = ("user zed on nopass ~z* +get\n"
              "# comment\n"
              "user alice on >pw ~* &* +@all -@dangerous\n"
              "requirepass ignored\n"
              "user default on >secret ~* &* +@all -debug\n")


def test_users_from_config_directives(start: Start) -> None:
    a, r = both(start, conf_text=CONF_USERS)
    for proc in (a, r):
        assert RawConnection(proc.port).call("auth", "ignored").startswith(b"-WRONGPASS")
        assert RawConnection(proc.port).call("auth", "secret") == b"+OK\r\n"
    lists = []
    for proc in (a, r):
        conn = RawConnection(proc.port)
        assert conn.call("auth", "alice", "pw") == b"+OK\r\n"
        assert conn.call("acl", "list").startswith(b"-NOPERM")  # -@dangerous
        conn.call("auth", "secret")
        lists.append([norm_rules(line) for line in parse(conn.call("acl", "list"))])
    assert lists[0] == lists[1] and len(lists[0]) == 3
    # "user default" resets the default user first: sanitize-payload shows.
    assert "sanitize-payload" in lists[0][1][0]


def test_users_from_the_command_line(start: Start) -> None:
    args = ["--user", "alice", "on", ">a b", "~*", "+get", "--user", "bob", "off"]
    a, r = both(start, args=args)
    assert acl_list(a) == acl_list(r)
    for proc in (a, r):
        assert RawConnection(proc.port).call("auth", "alice", "a b") == b"+OK\r\n"


@pytest.mark.parametrize(("conf", "where", "message"), [
    ("user alice on %X~foo\n", "stderr", "Error in user declaration 'alice': Syntax error"),
    ("user alice on\nuser alice off\n", "stderr",
     "Error in user declaration 'alice': Duplicate user found. A user can only be defined "
     "once in config files"),
    ("user alice on ~a ~* ~b\n", "stderr", "Error in user declaration '~a': Adding a "
     "pattern after the * pattern (or the 'allkeys' flag) is not valid"),
    ("user\n", "stderr", "Bad directive or wrong number of arguments"),
    ("user alice on +bogus ~*\n", "log",
     "Error loading ACL rule '+bogus' for the user named 'alice': Unknown command or "
     "category name in ACL"),
    ("user alice on\naclfile users.acl\n", "log",
     "Configuring Redis with users defined in redis.conf and at the same setting an ACL "
     "file path is invalid."),
])
def test_bad_user_directives_stop_the_startup(start: Start, conf: str, where: str,
                                              message: str) -> None:
    for kind in ("aikv", "redis"):
        proc = start(kind, kind, conf_text=conf, wait=False, files={"users.acl": ""})
        assert exit_code(proc) == 1, proc.log()
        assert message in proc.log(), (kind, proc.log())
        if where == "log" and "aclfile" not in conf:
            assert "Critical error while loading ACLs. Exiting." in proc.log()


# ---------------------------------------------------------------------- CONFIG REWRITE
def _user_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.startswith("user ")]


def test_config_rewrite_writes_the_users(start: Start) -> None:
    a, r = both(start, conf_text=CONF_USERS.replace("requirepass ignored\n", ""))
    for proc in (a, r):
        conn = RawConnection(proc.port)
        assert conn.call("auth", "secret") == b"+OK\r\n"
        assert conn.call("acl", "setuser", "bob", "on", ">x", "~k*", "+get") == b"+OK\r\n"
        assert conn.call("acl", "deluser", "zed") == b":1\r\n"
        assert conn.call("config", "rewrite") == b"+OK\r\n"
    mine, theirs = (_user_lines(p.dir / "server.conf") for p in (a, r))
    assert [norm_rules(x.encode()) for x in mine] == [norm_rules(x.encode()) for x in theirs]
    assert [x.split()[1] for x in mine] == ["alice", "bob", "default"]
    # In place: the first user line where "user zed" was, before the comment.
    lines = (a.dir / "server.conf").read_text().splitlines()
    assert lines[0].startswith("user alice ") and lines[1] == "# comment"


def test_config_rewrite_drops_user_lines_with_an_aclfile(start: Start) -> None:
    a, r = both(start, conf_text="aclfile users.acl\n# keep\n",
                files={"users.acl": "user alice on nopass\n"})
    for proc in (a, r):
        text = (proc.dir / "server.conf").read_text()
        (proc.dir / "server.conf").write_text(text + "user stray on\n")
        assert call(proc, "config", "rewrite") == b"OK"
        assert _user_lines(proc.dir / "server.conf") == []
        assert "# keep" in (proc.dir / "server.conf").read_text()


# ---------------------------------------------------------------------- AiKv restarts
def _restart(proc: ServerProcess) -> ServerProcess:
    assert proc.stop() == 0
    return proc.start()


def test_users_survive_a_restart_through_the_aclfile(start: Start) -> None:
    a = start("aikv", "aikv", args=["--aclfile", "users.acl"], files={"users.acl": ""})
    for rules in SETUSERS:
        assert call(a, "acl", "setuser", *rules) == b"OK"
    before = call(a, "acl", "list")
    assert call(a, "acl", "save") == b"OK"
    _restart(a)
    assert call(a, "acl", "list") == before
    conn = RawConnection(a.port)
    assert conn.call("auth", "alice", "pw2") == b"+OK\r\n"
    assert conn.call("get", "cached:1") == b"$-1\r\n"
    assert conn.call("set", "cached:1", "v").startswith(b"-NOPERM")
    # ACL LOAD with a bad line keeps every user as it was.
    with open(a.dir / "users.acl", "a") as f:
        f.write("user broken on +nosuch\n")
    reply = RawConnection(a.port).call("acl", "load")
    assert reply.startswith(b"-ERR users.acl:7: Error in applying operation '+nosuch'")
    assert call(a, "acl", "list") == before
    assert conn.call("get", "cached:1") == b"$-1\r\n"


def test_users_survive_a_restart_through_config_rewrite(start: Start) -> None:
    a = start("aikv", "aikv", conf_text="# my config\n")
    for rules in SETUSERS:
        assert call(a, "acl", "setuser", *rules) == b"OK"
    before = call(a, "acl", "list")
    assert call(a, "config", "rewrite") == b"OK"
    _restart(a)
    assert call(a, "acl", "list") == before
    assert RawConnection(a.port).call("auth", "alice", "pw1") == b"+OK\r\n"
