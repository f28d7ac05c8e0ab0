"""Where ACL users are kept across restarts, as Redis 7.0 keeps them: `user` directives in
the config file (or `--user` on the command line) or an ACL file (`aclfile`), never both.

- `user <name> <rules...>` directives are checked when the config is read (every rule
  but unknown commands and categories, which Redis only reports when it applies them:
  ACLAppendUserForLoading) and applied in order at startup (ACLLoadConfiguredUsers;
  `user default` resets the default user first).
- The ACL file holds one `user <name> <rules...>` line per user; blank lines are allowed,
  anything else (comments included) is an error. Loading is all-or-nothing and every
  problem found is reported in one line (ACLLoadFromFile's texts); ACL SAVE writes the
  users in ACL LIST form through a temporary file renamed over the old one
  (ACLSaveToFile). CONFIG REWRITE writes `user` lines only when there is no ACL file
  (rewriteConfigUserOption).

The parsing here is pure (bytes in, users or an error text out); commands/acl.py and the
startup in cli.py apply the results to the server.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aikv import acl

if TYPE_CHECKING:
    from aikv.config import Config

log = logging.getLogger("aikv")

ABORTED = ("WARNING: ACL errors detected, no change to the previously active ACL rules "
           "was performed")
DUPLICATE_DIRECTIVE = ("Duplicate user found. A user can only be defined once in config "
                       "files")
BOTH_SOURCES = ("Configuring Redis with users defined in redis.conf and at the same setting "
                "an ACL file path is invalid. This setup is very likely to lead to "
                "configuration errors and security holes, please define either an ACL file "
                "or declare users directly in your redis.conf, but not both.")


class AclFileError(Exception):
    """The ACL file could not be loaded; the text is ACLLoadFromFile's error line."""


def _text(value: bytes) -> str:
    return value.decode(errors="replace")


def _ensure_commands() -> None:
    """Rules naming commands or categories need the whole command table (acl.table()
    caches it on first use)."""
    from aikv.commands import load_all

    load_all()


# ---------------------------------------------------------------------- config directives
def check_user_directive(args: list[bytes], known: Iterable[bytes]) -> None:
    """ACLAppendUserForLoading for `user <args...>`: ValueError with Redis's "Error in
    user declaration '<word>': <reason>" when the rules cannot be valid (unknown commands
    and categories pass: they are reported at startup)."""
    name, rules = args[0], args[1:]
    if name in set(known):
        raise ValueError(f"Error in user declaration '{_text(name)}': {DUPLICATE_DIRECTIVE}")
    words = [b"user", *args]
    try:
        merged = acl.merge_selector_args(rules)
    except ValueError as exc:
        # Redis names argv[<index of the "(" among the rules>] (an off-by-two it has) and
        # whatever errno was left: the reason is not meaningful, the word is kept.
        index = rules.index(exc.args[0])
        raise ValueError(f"Error in user declaration '{_text(words[index])}': "
                         f"{acl.ENOENT}") from None
    _ensure_commands()
    fake = acl.new_user(name, False)
    for index, op in enumerate(merged):
        try:
            fake.apply(op)
        except acl.RuleError as exc:
            if str(exc) == acl.ENOENT:
                continue
            # Redis prints argv[j], j counting the rules (so "user", the name, ...).
            shown = words[index] if index < len(words) else op
            raise ValueError(f"Error in user declaration '{_text(shown)}': {exc}") from None


def load_configured_users(directives: list[list[bytes]], users: dict[bytes, acl.User],
                          pubsub_default_all: bool) -> None:
    """ACLLoadConfiguredUsers: create each user (`default` is reset instead) and apply its
    rules in order. ValueError with the log line for the first rule that fails."""
    _ensure_commands()
    for args in directives:
        name = args[0]
        if acl.has_spaces(name):
            raise ValueError("Spaces not allowed in ACL usernames")
        user = users.get(name)
        if user is None:
            user = users[name] = acl.new_user(name, pubsub_default_all)
        else:
            user.apply(b"reset", pubsub_default_all)
        for op in acl.merge_selector_args(args[1:]):
            try:
                user.apply(op, pubsub_default_all)
            except acl.RuleError as exc:
                raise ValueError(f"Error loading ACL rule '{_text(op)}' for the user named "
                                 f"'{_text(name)}': {exc}") from None
        if not user.enabled:
            log.info("The user '%s' is disabled (there is no 'on' modifier in the user "
                     "description). Make sure this is not a configuration error.", _text(name))


# ---------------------------------------------------------------------- the ACL file
def _trim(value: bytes, chars: bytes) -> bytes:
    return value.strip(chars)


def parse_acl_file(data: bytes, filename: str,
                   pubsub_default_all: bool) -> dict[bytes, acl.User]:
    """ACLLoadFromFile's parsing: the users the file defines (plus a fresh default user
    when it defines none), or AclFileError with every problem found, in Redis's words."""
    _ensure_commands()
    users: dict[bytes, acl.User] = {}
    errors: list[str] = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = _trim(raw, b" \t\r\n")
        if not line:
            continue
        argv = line.split(b" ")  # single spaces: two in a row make an empty word
        if argv[0] != b"user" or len(argv) < 2:
            errors.append(f"{filename}:{number} should start with user keyword followed by "
                          f"the username. ")
            continue
        name = argv[1]
        if acl.has_spaces(name):
            errors.append(f"'{filename}:{number}: username '{_text(name)}' contains invalid "
                          f"characters. ")
            continue
        if name in users:
            errors.append(f"WARNING: Duplicate user '{_text(name)}' found on line {number}. ")
            continue
        user = users[name] = acl.new_user(name, pubsub_default_all)
        try:
            merged = acl.merge_selector_args(argv[2:])
        except ValueError:
            errors.append(f"{filename}:{number}: Unmatched parenthesis in selector "
                          f"definition.")
            continue
        syntax_error = False
        for op in merged:
            op = _trim(op, b"\t\r\n")
            try:
                user.apply(op, pubsub_default_all)
            except acl.RuleError as exc:
                if str(exc) == acl.ENOENT:
                    errors.append(f"{filename}:{number}: Error in applying operation "
                                  f"'{_text(op)}': {exc}. ")
                elif not syntax_error:  # only the first: it may explain the next ones
                    errors.append(f"{filename}:{number}: {exc}. ")
                    syntax_error = True
    if errors:
        raise AclFileError("".join(errors) + ABORTED)
    if b"default" not in users:
        users[b"default"] = acl.default_user("")  # ACLCreateDefaultUser: nopass
    return users


def resolve(config: Config) -> str:
    """The ACL file's path as AiKv opens it: a relative `aclfile` is relative to `dir`
    (redis-server changes into its `dir` before it reads the file)."""
    return os.path.join(config.values["dir"], config.values["aclfile"])


def load_acl_file(config: Config) -> dict[bytes, acl.User]:
    """Read and parse the configured ACL file (AclFileError as ACLLoadFromFile's)."""
    filename = config.values["aclfile"]
    try:
        with open(resolve(config), "rb") as f:
            data = f.read()
    except OSError as exc:
        raise AclFileError(f"Error loading ACLs, opening file '{filename}': "
                           f"{os.strerror(exc.errno or 0)}") from None
    pubsub_all = config.values["acl-pubsub-default"] == "allchannels"
    return parse_acl_file(data, filename, pubsub_all)


def user_lines(users: dict[bytes, acl.User]) -> list[bytes]:
    """Every user in ACL LIST form, by name (a rax's order): the ACL file's lines and the
    config file's `user` directives."""
    return [b"user " + name + b" " + users[name].describe().encode()
            for name in sorted(users)]


def render(users: dict[bytes, acl.User]) -> bytes:
    return b"".join(line + b"\n" for line in user_lines(users))


def save_acl_file(path: str, users: dict[bytes, acl.User]) -> bool:
    """ACLSaveToFile: write a temporary file next to `path` and rename it over; False
    (with the reason logged) when any step fails."""
    content = render(users)
    tmp = f"{path}.tmp-{os.getpid()}-{int(time.time() * 1000)}"
    fd = -1
    step = "Opening temp ACL file for ACL SAVE"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o644)
        step = "Writing ACL file for ACL SAVE"
        if os.write(fd, content) != len(content):
            raise OSError(0, "short write")
        os.close(fd)
        fd = -1
        step = "Renaming ACL file for ACL SAVE"
        os.rename(tmp, path)
        return True
    except OSError as exc:
        log.warning("%s: %s", step, exc.strerror or exc)
        if fd != -1:
            os.close(fd)
        if step != "Opening temp ACL file for ACL SAVE":
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return False
