"""The ACL file and `user` directives parsed on their own (aikv/acl_file.py, the `user`
handling of aikv/config.py and aikv/cli.py): the error texts below are what
redis-server 7.0.15 reports for the same files and lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from aikv import acl, acl_file
from aikv.cli import load_command_line
from aikv.config import Config, ConfigLineError

SUFFIX = ("WARNING: ACL errors detected, no change to the previously active ACL rules was "
          "performed")


def parse(text: bytes) -> dict[bytes, acl.User]:
    return acl_file.parse_acl_file(text, "f.acl", False)


def parse_error(text: bytes) -> str:
    with pytest.raises(acl_file.AclFileError) as info:
        parse(text)
    message = str(info.value)
    assert message.endswith(SUFFIX)
    return message[:-len(SUFFIX)]


def test_users_blank_lines_and_the_default_user() -> None:
    users = parse(b"user alice on >x ~* +get\n\n   \r\n\tuser bob off \n")
    assert sorted(users) == [b"alice", b"bob", b"default"]
    assert acl_file.render(users) == (
        b"user alice on #2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        b" ~* resetchannels -@all +get\n"
        b"user bob off resetchannels -@all\n"
        b"user default on nopass ~* &* +@all\n")
    # A default user in the file is taken as written.
    users = parse(b"user default off\n")
    assert users[b"default"].describe() == "off resetchannels -@all"
    assert acl_file.parse_acl_file(b"user a\n", "f", True)[b"a"].describe() == "off &* -@all"


def test_error_texts() -> None:
    assert parse_error(b"# comment\nuser a on\n") == (
        "f.acl:1 should start with user keyword followed by the username. ")
    assert parse_error(b"USER a\nuser\n") == (
        "f.acl:1 should start with user keyword followed by the username. "
        "f.acl:2 should start with user keyword followed by the username. ")
    # Split at single spaces: "user  a" names the user "" and "a" is a rule.
    assert parse_error(b"user  a  on\n") == "f.acl:1: Syntax error. "
    assert parse_error(b"user a\tb on\n") == (
        "'f.acl:1: username 'a\tb' contains invalid characters. ")
    assert parse_error(b"user a on\nuser a off\n") == (
        "WARNING: Duplicate user 'a' found on line 2. ")
    # Every unknown command or category, only the first other error.
    assert parse_error(b"user a +x1 %X~a -x2 #ab ~*\n") == (
        "f.acl:1: Error in applying operation '+x1': Unknown command or category name in "
        "ACL. f.acl:1: Syntax error. f.acl:1: Error in applying operation '-x2': Unknown "
        "command or category name in ACL. ")
    assert parse_error(b"user a (+get\n") == (
        "f.acl:1: Unmatched parenthesis in selector definition.")


def test_opening_error(tmp_path: Path) -> None:
    config = Config()
    config.set("dir", str(tmp_path), startup=True)
    config.set("aclfile", "none.acl", startup=True)
    with pytest.raises(acl_file.AclFileError) as info:
        acl_file.load_acl_file(config)
    assert str(info.value) == ("Error loading ACLs, opening file 'none.acl': No such file "
                               "or directory")


def test_save_writes_through_a_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "users.acl"
    users = parse(b"user alice on nopass\n")
    assert acl_file.save_acl_file(str(path), users)
    assert path.read_bytes() == acl_file.render(users)
    assert [p.name for p in tmp_path.iterdir()] == ["users.acl"]
    assert not acl_file.save_acl_file(str(tmp_path / "missing" / "users.acl"), users)


def directive_error(*args: str, known: tuple[bytes, ...] = ()) -> str:
    with pytest.raises(ValueError) as info:
        acl_file.check_user_directive([a.encode() for a in args], known)
    return str(info.value)


def test_user_directive_checks() -> None:
    # Redis names argv[<index of the bad rule>], the line's words counted from "user".
    assert directive_error("alice", "on", "%X~a") == (
        "Error in user declaration 'alice': Syntax error")
    assert directive_error("alice", "%X~a") == "Error in user declaration 'user': Syntax error"
    assert directive_error("alice", "on", known=(b"alice",)) == (
        "Error in user declaration 'alice': Duplicate user found. A user can only be "
        "defined once in config files")
    # Unknown commands and categories wait for the startup.
    acl_file.check_user_directive([b"alice", b"+nosuch", b"+@nosuch"], ())


def test_configured_users_are_applied_in_order() -> None:
    users = {b"default": acl.default_user("pw")}
    acl_file.load_configured_users([[b"zed", b"on"], [b"default", b"on", b"+get"]], users,
                                   False)
    assert users[b"zed"].describe() == "on resetchannels -@all"
    # `user default` starts from a reset default user: the password is gone.
    assert users[b"default"].describe() == "on sanitize-payload resetchannels -@all +get"
    with pytest.raises(ValueError) as info:
        acl_file.load_configured_users([[b"a", b"on", b"+nosuch"]], users, False)
    assert str(info.value) == ("Error loading ACL rule '+nosuch' for the user named 'a': "
                               "Unknown command or category name in ACL")


def test_config_file_user_lines(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("user a on\nport 7000\nuser b off\n# user c\n")
    config = Config()
    config.load_file(str(conf))
    assert config.users == [[b"a", b"on"], [b"b", b"off"]]
    conf.write_text("user a on\nuser a off\n")
    with pytest.raises(ConfigLineError, match=r"^Error in user declaration 'a': "
                                              r"Duplicate user found") as caught:
        Config().load_file(str(conf))
    assert (caught.value.line_number, caught.value.line) == (2, "user a off")
    conf.write_text("user\n")
    with pytest.raises(ConfigLineError, match="^Bad directive") as caught:
        Config().load_file(str(conf))
    assert caught.value.line_number == 1


def test_rewrite_replaces_user_lines_in_place(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("user z on\n# note\nuser y on\n")
    config = Config()
    config.load_file(str(conf))
    # In place, the rest after Redis's signature line (redis-server writes the same shape).
    config.rewrite(["user a on", "user b off", "user c on"])
    assert conf.read_text() == ("user a on\n# note\nuser b off\n\n"
                                "# Generated by CONFIG REWRITE\nuser c on\n")
    config.rewrite(None)  # None leaves them alone
    assert conf.read_text() == ("user a on\n# note\nuser b off\n\n"
                                "# Generated by CONFIG REWRITE\nuser c on\n\n")
    config.rewrite([])  # removed lines become empty ones, runs of them one
    assert conf.read_text() == "\n# note\n\n# Generated by CONFIG REWRITE\n\n"


def test_command_line_user() -> None:
    import io

    config = Config()
    load_command_line(config, ["--user", "a", "on", ">x y", "--port", "1"], io.StringIO())
    assert config.users == [[b"a", b"on", b">x y"]] and config.values["port"] == 1
