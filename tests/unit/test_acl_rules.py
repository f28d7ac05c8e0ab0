"""The ACL rule parser and permission check (aikv/acl.py) on their own: the texts and
descriptions below are what redis-server 7.0.15 answers for the same rules."""

from __future__ import annotations

import pytest

from aikv import acl
from aikv.commands import load_all
from aikv.commands.registry import COMMANDS

load_all()


def setuser(*rules: str, user: acl.User | None = None) -> acl.User:
    return acl.set_user_rules(user or acl.new_user(b"u", False),
                              [r.encode() for r in rules], False)


def error(*rules: str) -> str:
    with pytest.raises(acl.RuleError) as info:
        setuser(*rules)
    return str(info.value)


def test_descriptions() -> None:
    assert acl.new_user(b"u", False).describe() == "off resetchannels -@all"
    assert acl.new_user(b"u", True).describe() == "off &* -@all"
    assert acl.default_user("").describe() == "on nopass ~* &* +@all"
    assert acl.default_user("pw").describe() == (
        "on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* &* +@all")
    user = setuser("on", "nopass", "+@all", "-@dangerous", "~k*", "%R~r*", "%W~w*", "&ch*",
                   "+config|get", "+select|0")
    assert user.describe() == ("on nopass ~k* %R~r* %W~w* resetchannels &ch* +@all "
                               "-@dangerous +config|get")
    assert setuser("-@all", "+select|0", "+SELECT|0", "+select|1").describe() == \
        "off resetchannels -@all +select|0 +select|1"
    assert setuser("reset").describe() == "off sanitize-payload resetchannels -@all"
    assert setuser("%R~x", "%W~x", "%RW~y").root.describe_keys() == ["~x", "~y"]
    assert setuser("+@all", "-config").root.describe_commands() == "+@all -config"
    assert setuser("allcommands", "nocommands", "+config").root.describe_commands() == \
        "-@all +config"


def test_errors() -> None:
    prefix = "Error in ACL SETUSER modifier "
    assert error("foo") == prefix + "'foo': Syntax error"
    assert error("+nosuch") == prefix + "'+nosuch': Unknown command or category name in ACL"
    assert error("+@nosuch") == prefix + "'+@nosuch': Unknown command or category name in ACL"
    assert error("+get|x|y") == prefix + "'+get|x|y': Unknown command or category name in ACL"
    assert error("+config|get|x") == (
        prefix + "'+config|get|x': Allowing first-arg of a subcommand is not supported")
    assert error("+config|") == prefix + "'+config|': Syntax error"
    assert error("~a b") == prefix + "'~a b': Syntax error"
    assert error("%X~a") == prefix + "'%X~a': Syntax error"
    assert error("%~a") == prefix + "'%~a': Syntax error"
    assert error("<nope").endswith("The password you are trying to remove from the user "
                                   "does not exist")
    assert error("#abc").endswith("exactly 64 characters and contain only lowercase "
                                  "hexadecimal characters")
    assert error("~*", "~x").endswith("Try 'resetkeys' to start with an empty list of "
                                      "patterns")
    assert error("&*", "&x").endswith("Try 'resetchannels' to start with an empty list of "
                                      "channels")
    assert error("(+get") == "Unmatched parenthesis in acl selector starting at '(+get'."
    # A "(" inside an open selector starts another one; the error names the whole merged
    # selector, and passwords or flags are not selector rules.
    assert error("(+get", "(~x") == "Unmatched parenthesis in acl selector starting at '(~x'."
    assert error("(~* +get", "~k[", "(>p", "on)") == prefix + "'(>p on)': Syntax error"
    assert error("(+get", "bogus)") == prefix + "'(+get bogus)': Syntax error"


def test_selectors() -> None:
    user = setuser("on", "nopass", "+get", "~a*", "(+set ~b* &ch)", "(+@hash", "%R~h*)")
    assert user.describe() == ("on nopass ~a* resetchannels -@all +get "
                               "(~b* resetchannels &ch -@all +set) "
                               "(%R~h* resetchannels -@all +@hash)")
    assert setuser("()").describe() == "off resetchannels -@all (resetchannels -@all)"
    assert setuser("(~\"x)").describe() == "off resetchannels -@all (resetchannels -@all)"
    assert setuser("(+get)", "clearselectors").describe() == "off resetchannels -@all"
    assert setuser("(+get)", "reset").describe() == "off sanitize-payload resetchannels -@all"
    get, set_ = COMMANDS[b"get"], COMMANDS[b"set"]
    # Allowed when one selector allows all of it.
    assert user.check(get, [b"get", b"a1"]) == (acl.OK, 0)
    assert user.check(set_, [b"set", b"b1", b"v"]) == (acl.OK, 0)
    # Denied: a key beats the command, and among equal denials the later argument.
    assert user.check(set_, [b"set", b"a1", b"v"]) == (acl.DENIED_KEY, 1)
    assert user.check(get, [b"get", b"z"]) == (acl.DENIED_KEY, 1)
    assert user.check(COMMANDS[b"del"], [b"del", b"a1"]) == (acl.DENIED_CMD, 0)


def test_passwords() -> None:
    user = setuser("on", ">a", ">b", ">a", "<b")
    assert user.passwords == [acl.hash_password(b"a")]
    assert user.check_password(b"a") and not user.check_password(b"b")
    assert not setuser("off", "nopass").check_password(b"x")
    assert setuser("on", ">a", "nopass").check_password(b"anything")
    assert not setuser("on", "nopass", "resetpass").check_password(b"")
    digest = acl.hash_password(b"z").decode()
    assert setuser("on", "#" + digest).check_password(b"z")
    assert setuser("on", "#" + digest, "!" + digest).passwords == []


def test_a_failed_rule_changes_nothing() -> None:
    user = setuser("on", ">a", "~x")
    with pytest.raises(acl.RuleError):
        acl.set_user_rules(user, [b"off", b"resetpass", b"bogus"], False)
    assert user.enabled and user.passwords and user.root.patterns == [(b"x", acl.ALL)]


def check(user: acl.User, *argv: str) -> int:
    args = [a.encode() for a in argv]
    cmd = COMMANDS[args[0].lower()]
    if cmd.subcommands:
        cmd = cmd.subcommands[argv[1].lower()]
    return user.check(cmd, args)[0]


def test_permission_check() -> None:
    user = setuser("on", "-@all", "+get", "+set", "+copy", "+config|get", "+select|0",
                   "+publish", "+psubscribe", "%R~r*", "%W~w*", "~rw*", "&news.*")
    assert check(user, "get", "r1") == acl.OK
    assert check(user, "get", "w1") == acl.DENIED_KEY
    assert check(user, "set", "w1", "v") == acl.OK
    assert check(user, "set", "r1", "v") == acl.DENIED_KEY
    assert check(user, "set", "rw1", "v", "get") == acl.OK
    assert check(user, "set", "w1", "v", "get") == acl.DENIED_KEY  # GET reads it too
    assert check(user, "copy", "r1", "w1") == acl.OK
    assert check(user, "copy", "w1", "w2") == acl.DENIED_KEY
    assert user.root.check(COMMANDS[b"copy"], [b"copy", b"r1", b"r2"]) == (acl.DENIED_KEY, 2)
    assert check(user, "incr", "rw1") == acl.DENIED_CMD
    assert check(user, "config", "get", "x") == acl.OK
    assert check(user, "config", "set", "x", "y") == acl.DENIED_CMD
    assert check(user, "select", "0") == acl.OK
    assert check(user, "select", "1") == acl.DENIED_CMD
    assert check(user, "auth", "x") == acl.OK  # no-auth commands are always allowed
    assert check(user, "publish", "news.a", "m") == acl.OK
    assert check(user, "publish", "sports", "m") == acl.DENIED_CHANNEL
    assert check(user, "psubscribe", "news.*") == acl.OK
    assert check(user, "psubscribe", "news.a") == acl.DENIED_CHANNEL  # literal compare
    assert not user.unrestricted
    assert setuser("+@all", "~*", "&*").unrestricted
    assert not setuser("+@all", "-get", "+get", "~*", "&*").unrestricted
