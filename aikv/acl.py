"""ACL users and their permissions, as Redis 7.0 models them.

A `User` has flags (on/off, nopass, [skip-]sanitize-payload), password hashes, a root
`Selector` and any number of further selectors (`(...)` rules). A selector holds the
commands it may run (a set of full command names, plus first arguments allowed for
otherwise denied commands), the key patterns (each readable, writable or both) and the
Pub/Sub channel patterns it may use; a command is allowed when one selector allows all
of it. `User.apply` applies one ACL SETUSER rule with Redis's semantics and error texts;
`User.describe` writes the ACL LIST form (the command rules rebuilt from the permission
set by Redis's best-fit over categories); `check` is the permission check Redis runs
before every command of a restricted user.

This module only models users: commands/acl.py answers ACL, the dispatcher calls `check`,
acl_file.py reads and writes the ACL file and the config file's `user` directives.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from aikv.glob import match
from aikv.protocol import split_inline_args

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.commands.registry import Command

READ, WRITE = 1, 2
ALL = READ | WRITE

# Check results, with Redis's values (ACL_OK, ACL_DENIED_*).
OK = 0
DENIED_CMD = 1
DENIED_KEY = 2
DENIED_AUTH = 3
DENIED_CHANNEL = 4
REASONS = {DENIED_CMD: "command", DENIED_KEY: "key", DENIED_AUTH: "auth",
           DENIED_CHANNEL: "channel"}

# ACLSetUserStringError's texts, by the errno ACLSetUser sets.
ENOENT = "Unknown command or category name in ACL"
EINVAL = "Syntax error"
EEXIST = ("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and "
          "does not have any effect. Try 'resetkeys' to start with an empty list of patterns")
EISDIR = ("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and "
          "does not have any effect. Try 'resetchannels' to start with an empty list of "
          "channels")
ENODEV = "The password you are trying to remove from the user does not exist"
EBADMSG = ("The password hash must be exactly 64 characters and contain only lowercase "
           "hexadecimal characters")
ECHILD = "Allowing first-arg of a subcommand is not supported"

# ACLCommandCategories, in Redis's order (the order the best fit tries them in).
CATEGORIES = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
              "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
              "blocking", "dangerous", "connection", "transaction", "scripting")

# The commands with channel arguments (db.c's commands_with_channels) that the check
# covers: publishing and subscribing (unsubscribing is never denied).
_PUBLISH = frozenset({"publish", "spublish"})
_SUBSCRIBE = frozenset({"subscribe", "ssubscribe"})


class RuleError(Exception):
    """An ACL rule Redis refuses; the text is ACLSetUserStringError's."""


def hash_password(password: bytes) -> bytes:
    return hashlib.sha256(password).hexdigest().encode()


def has_spaces(text: bytes) -> bool:
    """ACLStringHasSpaces: isspace() or NUL anywhere."""
    return any(c in b" \t\n\v\f\r\x00" for c in text)


# ---------------------------------------------------------------------- the command table
class _Table:
    """Every command (containers, then their subcommands, in registration order) and each
    one's ACL categories, built once when first needed (all commands are registered by
    then)."""

    def __init__(self) -> None:
        from aikv.commands.introspection import categories
        from aikv.commands.registry import COMMANDS

        self.tops: list[Command] = list(COMMANDS.values())
        self.cats: dict[str, frozenset[str]] = {}
        self.every: list[Command] = []
        for top in self.tops:
            for cmd in (top, *top.subcommands.values()):
                self.every.append(cmd)
                self.cats[cmd.full_name] = frozenset(c.lstrip("@") for c in categories(cmd))
        self.names = frozenset(c.full_name for c in self.every)


_table: _Table | None = None


def table() -> _Table:
    global _table
    if _table is None:
        _table = _Table()
    return _table


def lookup(name: bytes) -> Command | None:
    """ACLLookupCommand: "cmd" or "container|sub", case-insensitive."""
    from aikv.commands.registry import COMMANDS

    parts = name.lower().split(b"|")
    if len(parts) > 2:
        return None
    top = COMMANDS.get(parts[0])
    if top is None or len(parts) == 1:
        return top
    if not top.subcommands:
        return None
    return top.subcommands.get(parts[1].decode(errors="replace"))


# ---------------------------------------------------------------------- selector
class Selector:
    """A user's permissions (Redis's root aclSelector)."""

    __slots__ = ("allkeys", "allchannels", "allcommands", "future", "allowed", "firstargs",
                 "patterns", "channels")

    def __init__(self, allchannels: bool = False) -> None:
        self.allkeys = False
        self.allchannels = allchannels
        self.allcommands = False  # SELECTOR_FLAG_ALLCOMMANDS: no command check at all
        self.future = False  # the reserved bit +@all sets: "+@all" starts the description
        self.allowed: set[str] = set()  # full names of the allowed commands
        self.firstargs: dict[str, list[bytes]] = {}  # command -> allowed first arguments
        self.patterns: list[tuple[bytes, int]] = []  # (pattern, READ|WRITE)
        self.channels: list[bytes] = []

    def copy(self) -> Selector:
        new = Selector()
        new.allkeys, new.allchannels = self.allkeys, self.allchannels
        new.allcommands, new.future = self.allcommands, self.future
        new.allowed = set(self.allowed)
        new.firstargs = {k: list(v) for k, v in self.firstargs.items()}
        new.patterns = list(self.patterns)
        new.channels = list(self.channels)
        return new

    # -- command bits
    def _set_bit(self, name: str, value: bool) -> None:
        if value:
            self.allowed.add(name)
        else:
            self.allowed.discard(name)
            self.allcommands = False

    def change_perm(self, cmd: Command, allow: bool) -> None:
        """ACLChangeSelectorPerm: the command and, for a container, its subcommands."""
        self._set_bit(cmd.full_name, allow)
        self.firstargs.pop(cmd.full_name, None)
        for sub in cmd.subcommands.values():
            self._set_bit(sub.full_name, allow)

    def set_category(self, category: str, allow: bool) -> None:
        t = table()
        for top in t.tops:
            if category in t.cats[top.full_name]:
                self.change_perm(top, allow)
            for sub in top.subcommands.values():
                if category in t.cats[sub.full_name]:
                    self.change_perm(sub, allow)

    def set_all(self, allow: bool) -> None:
        self.allowed = set(table().names) if allow else set()
        self.allcommands = self.future = allow
        self.firstargs = {}

    def count_category(self, category: str) -> tuple[int, int]:
        t = table()
        on = off = 0
        for cmd in t.every:
            if category in t.cats[cmd.full_name]:
                if cmd.full_name in self.allowed:
                    on += 1
                else:
                    off += 1
        return on, off

    # -- rules
    def apply(self, op: bytes) -> None:
        """ACLSetSelector: one key, channel or command rule."""
        low = op.lower()
        if low in (b"allkeys", b"~*"):
            self.allkeys = True
            self.patterns = []
        elif low == b"resetkeys":
            self.allkeys = False
            self.patterns = []
        elif low in (b"allchannels", b"&*"):
            self.allchannels = True
            self.channels = []
        elif low == b"resetchannels":
            self.allchannels = False
            self.channels = []
        elif low in (b"allcommands", b"+@all"):
            self.set_all(True)
        elif low in (b"nocommands", b"-@all"):
            self.set_all(False)
        elif op[:1] in (b"~", b"%"):
            self._add_key_pattern(op)
        elif op[:1] == b"&":
            if self.allchannels:
                raise RuleError(EISDIR)
            pattern = op[1:]
            if has_spaces(pattern):
                raise RuleError(EINVAL)
            if pattern not in self.channels:
                self.channels.append(pattern)
            self.allchannels = False
        elif op[:1] == b"+" and op[1:2] != b"@":
            self._allow_command(op[1:])
        elif op[:1] == b"-" and op[1:2] != b"@":
            cmd = lookup(op[1:])
            if cmd is None:
                raise RuleError(ENOENT)
            self.change_perm(cmd, False)
        elif op[:1] in (b"+", b"-") and op[1:2] == b"@":
            category = op[2:].decode(errors="replace").lower()
            if category not in CATEGORIES:
                raise RuleError(ENOENT)
            self.set_category(category, op[:1] == b"+")
        else:
            raise RuleError(EINVAL)

    def _add_key_pattern(self, op: bytes) -> None:
        if self.allkeys:
            raise RuleError(EEXIST)
        flags = 0
        offset = 1
        if op[:1] == b"%":
            while offset < len(op):
                c = op[offset:offset + 1].upper()
                if c == b"R" and not flags & READ:
                    flags |= READ
                elif c == b"W" and not flags & WRITE:
                    flags |= WRITE
                elif c == b"~":
                    offset += 1
                    break
                else:
                    raise RuleError(EINVAL)
                offset += 1
            if not flags:  # "%~a": redis-server 7.0.15 refuses a pattern with no access
                raise RuleError(EINVAL)
        else:
            flags = ALL
        pattern = op[offset:]
        if has_spaces(pattern):
            raise RuleError(EINVAL)
        for i, (known, known_flags) in enumerate(self.patterns):
            if known == pattern:
                self.patterns[i] = (pattern, known_flags | flags)
                break
        else:
            self.patterns.append((pattern, flags))
        self.allkeys = False

    def _allow_command(self, name: bytes) -> None:
        if b"|" not in name:
            cmd = lookup(name)
            if cmd is None:
                raise RuleError(ENOENT)
            self.change_perm(cmd, True)
            return
        head, sub = name.rsplit(b"|", 1)
        cmd = lookup(head)
        if cmd is None:
            raise RuleError(ENOENT)
        if cmd.parent is not None:
            raise RuleError(ECHILD)
        if not sub:
            raise RuleError(EINVAL)
        if cmd.subcommands:
            subcmd = lookup(name)
            if subcmd is None:
                raise RuleError(ENOENT)
            self.change_perm(subcmd, True)
        else:
            # A first argument allowed for an otherwise denied command (SELECT|0).
            allowed = self.firstargs.setdefault(cmd.full_name, [])
            if sub.lower() not in (a.lower() for a in allowed):
                allowed.append(sub)

    # -- description
    def describe_commands(self) -> str:
        """ACLDescribeSelectorCommandRules: +@all or -@all, the categories that fit best,
        then the single commands (and first arguments) that still differ."""
        t = table()
        fake = Selector()
        if self.future:
            additive = False
            rules = ["+@all"]
            fake.set_all(True)
        else:
            additive = True
            rules = ["-@all"]
            fake.set_all(False)
        temp = Selector()
        temp.allowed = set(self.allowed)
        applied: set[str] = set()
        while True:
            best = None
            mindiff, maxsame = 1 << 62, 0
            for category in CATEGORIES:
                if category in applied:
                    continue
                on, off = temp.count_category(category)
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (diff < mindiff or (diff == mindiff and same > maxsame)):
                    best, mindiff, maxsame = category, diff, same
            if best is None:
                break
            fake.set_category(best, additive)
            temp.set_category(best, not additive)
            rules.append(("+@" if additive else "-@") + best)
            applied.add(best)
        for top in t.tops:
            self._single(top, fake, rules)
        return " ".join(rules)

    def _single(self, cmd: Command, fake: Selector, rules: list[str]) -> None:
        name = cmd.full_name
        mine = name in self.allowed
        if mine != (name in fake.allowed):
            rules.append(("+" if mine else "-") + name)
            fake.change_perm(cmd, mine)
        for sub in cmd.subcommands.values():
            self._single(sub, fake, rules)
        if not mine:
            for arg in self.firstargs.get(name, ()):
                rules.append(f"+{name}|{arg.decode(errors='replace')}")

    def describe_keys(self) -> list[str]:
        if self.allkeys:
            return ["~*"]
        out = []
        for pattern, flags in self.patterns:
            prefix = {ALL: "~", READ: "%R~", WRITE: "%W~"}.get(flags, "%~")
            out.append(prefix + pattern.decode(errors="replace"))
        return out

    def describe_channels(self) -> list[str]:
        return ["&" + c.decode(errors="replace") for c in self.channels]

    def describe(self) -> str:
        """ACLDescribeSelector: keys, channels, then the command rules."""
        parts = self.describe_keys()
        parts.extend(["&*"] if self.allchannels else ["resetchannels", *self.describe_channels()])
        parts.append(self.describe_commands())
        return " ".join(parts)

    # -- checks
    def check(self, cmd: Command, argv: list[bytes]) -> tuple[int, int]:
        """ACLSelectorCheckCmd: (OK or the denial, the argument position at fault)."""
        if not self.allcommands and not cmd.no_auth and cmd.full_name not in self.allowed:
            allowed = self.firstargs.get(cmd.full_name)
            if len(argv) < 2 or not allowed:
                return DENIED_CMD, 0
            first = argv[2 if cmd.parent is not None else 1].lower()
            if all(a.lower() != first for a in allowed):
                return DENIED_CMD, 0
        if not self.allkeys:
            for pos, flags in key_refs(cmd, argv):
                if not self.may_access_key(argv[pos], flags):
                    return DENIED_KEY, pos
        if not self.allchannels:
            name = cmd.full_name
            if name in _PUBLISH or name in _SUBSCRIBE or name == "psubscribe":
                stop = 2 if name in _PUBLISH else len(argv)
                pattern = name == "psubscribe"
                for pos in range(1, min(stop, len(argv))):
                    if not self.may_use_channel(argv[pos], pattern):
                        return DENIED_CHANNEL, pos
        return OK, 0

    def may_access_key(self, key: bytes, spec_flags: tuple[str, ...]) -> bool:
        """ACLSelectorCheckKey: a pattern with the access the key's flags need matches."""
        if self.allkeys:
            return True
        need = 0
        for flag in spec_flags:
            if flag == "access":
                need |= READ
            elif flag in ("insert", "delete", "update"):
                need |= WRITE
        for pattern, flags in self.patterns:
            if flags & need == need and match(pattern, key):
                return True
        return False

    def may_use_channel(self, channel: bytes, is_pattern: bool) -> bool:
        return self.allchannels or channel_allowed(self.channels, channel, is_pattern)


def channel_allowed(allowed: list[bytes], channel: bytes, is_pattern: bool) -> bool:
    """ACLCheckChannelAgainstList: a PSUBSCRIBE pattern must equal an allowed pattern; a
    channel name is matched against them."""
    for pattern in allowed:
        if (pattern == channel) if is_pattern else match(pattern, channel):
            return True
    return False


def selector_from_rules(op: bytes, pubsub_default_all: bool) -> Selector:
    """aclCreateSelectorFromOpSet: a `(...)` rule's words (split as a config line is:
    quotes allowed; unbalanced quotes give no words) applied to a new selector, which
    starts with no commands or keys and the channels acl-pubsub-default gives."""
    selector = Selector(pubsub_default_all)
    for word in split_inline_args(op[1:-1]) or []:
        selector.apply(word)
    return selector


def key_refs(cmd: Command, argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]]:
    """The command's keys with their key-spec flags, as getKeysFromCommandWithSpecs finds
    them (the flags are empty for AiKv's own commands, which Redis does not describe)."""
    from aikv.commands import redis_table

    ent = redis_table.entry(cmd.full_name)
    if ent is None:
        if not cmd.first_key and cmd.key_finder is None:
            return []
        try:
            return [(p, ()) for p in cmd.key_positions(argv) if 0 < p < len(argv)]
        except Exception:
            return []
    if not redis_table.has_keys(ent):
        return []
    return [(p, f) for p, f in redis_table.find_keys(ent, argv) if 0 < p < len(argv)]


# ---------------------------------------------------------------------- user
class User:
    __slots__ = ("name", "enabled", "nopass", "sanitize", "passwords", "root", "selectors")

    def __init__(self, name: bytes, allchannels: bool = False) -> None:
        self.name = name
        self.enabled = False
        self.nopass = False
        self.sanitize = ""  # "", "skip-sanitize-payload" or "sanitize-payload"
        self.passwords: list[bytes] = []  # SHA-256 hex digests
        self.root = Selector(allchannels)
        self.selectors: list[Selector] = []  # the `(...)` ones, after the root

    @property
    def all_selectors(self) -> list[Selector]:
        return [self.root, *self.selectors]

    @property
    def unrestricted(self) -> bool:
        """Every command, key and channel: its clients skip the permission check."""
        root = self.root
        return root.allcommands and root.allkeys and root.allchannels

    def copy_from(self, other: User) -> None:
        self.enabled, self.nopass = other.enabled, other.nopass
        self.sanitize = other.sanitize
        self.passwords = list(other.passwords)
        self.root = other.root.copy()
        self.selectors = [selector.copy() for selector in other.selectors]

    def clone(self) -> User:
        new = User(self.name)
        new.copy_from(self)
        return new

    def apply(self, op: bytes, pubsub_default_all: bool = False) -> None:
        """ACLSetUser: one rule (raises RuleError with Redis's reason)."""
        if not op:
            return
        low = op.lower()
        if low == b"on":
            self.enabled = True
        elif low == b"off":
            self.enabled = False
        elif low == b"skip-sanitize-payload":
            self.sanitize = "skip-sanitize-payload"
        elif low == b"sanitize-payload":
            self.sanitize = "sanitize-payload"
        elif low == b"nopass":
            self.nopass = True
            self.passwords = []
        elif low == b"resetpass":
            self.nopass = False
            self.passwords = []
        elif op[:1] in (b">", b"#"):
            digest = _password_digest(op)
            if digest not in self.passwords:
                self.passwords.append(digest)
            self.nopass = False
        elif op[:1] in (b"<", b"!"):
            digest = _password_digest(op)
            if digest not in self.passwords:
                raise RuleError(ENODEV)
            self.passwords.remove(digest)
        elif op[:1] == b"(" and op[-1:] == b")":
            self.selectors.append(selector_from_rules(op, pubsub_default_all))
        elif low == b"clearselectors":
            self.selectors = []
        elif low == b"reset":
            self.nopass = False
            self.passwords = []
            root = self.root
            root.allkeys = False
            root.patterns = []
            root.allchannels = pubsub_default_all
            root.channels = []
            self.enabled = False
            self.sanitize = "sanitize-payload"
            self.selectors = []
            root.set_all(False)
        else:
            self.root.apply(op)

    def check_password(self, password: bytes) -> bool:
        """ACLCheckUserCredentials for an existing user."""
        if not self.enabled:
            return False
        if self.nopass:
            return True
        digest = hash_password(password)
        ok = False
        for stored in self.passwords:
            ok |= _equal(stored, digest)
        return ok

    def describe(self) -> str:
        """ACLDescribeUser: what ACL LIST prints after "user <name> "."""
        parts = ["on" if self.enabled else "off"]
        if self.nopass:
            parts.append("nopass")
        if self.sanitize:
            parts.append(self.sanitize)
        parts.extend("#" + p.decode() for p in self.passwords)
        parts.append(self.root.describe())
        parts.extend(f"({selector.describe()})" for selector in self.selectors)
        return " ".join(parts)

    def check(self, cmd: Command, argv: list[bytes]) -> tuple[int, int]:
        """ACLCheckAllUserCommandPerm: OK when one selector allows the command; otherwise
        the denial to report: a key or channel over the command itself, the later
        argument among equal ones."""
        result, pos = self.root.check(cmd, argv)
        if result == OK or not self.selectors:
            return result, pos
        relevant, last = DENIED_CMD, 0
        for selector in self.all_selectors:
            result, pos = selector.check(cmd, argv)
            if result == OK:
                return OK, 0
            if result > relevant or (result == relevant and pos > last):
                relevant, last = result, pos
        return relevant, last

    def flags(self) -> list[str]:
        out = ["on" if self.enabled else "off"]
        if self.nopass:
            out.append("nopass")
        if self.sanitize:
            out.append(self.sanitize)
        return out


def _password_digest(op: bytes) -> bytes:
    """The SHA-256 hex digest a password rule names: hashed from `>pass` / `<pass`, given
    as is by `#hash` / `!hash` (which must be a valid digest)."""
    if op[:1] in (b">", b"<"):
        return hash_password(op[1:])
    digest = op[1:]
    if not _valid_hash(digest):
        raise RuleError(EBADMSG)
    return digest


def _valid_hash(digest: bytes) -> bool:
    return len(digest) == 64 and all(c in b"0123456789abcdef" for c in digest)


def _equal(a: bytes, b: bytes) -> bool:
    import hmac

    return hmac.compare_digest(a, b)


def merge_selector_args(rules: list[bytes]) -> list[bytes]:
    """ACLMergeSelectorArguments: a selector spread over several arguments becomes one
    (an argument opening another one inside it starts afresh, the first is dropped); an
    unmatched "(" raises ValueError with the argument it starts at."""
    merged: list[bytes] = []
    start: bytes | None = None
    current = b""
    for op in rules:
        if op[:1] == b"(" and op[-1:] != b")":
            start, current = op, op
            continue
        if start is not None:
            current += b" " + op
            if op[-1:] == b")":
                merged.append(current)
                start = None
            continue
        merged.append(op)
    if start is not None:
        raise ValueError(start)
    return merged


def set_user_rules(user: User, rules: list[bytes], pubsub_default_all: bool) -> User:
    """ACLStringSetUser on a copy: the changed user, or RuleError with Redis's complete
    message ("Error in ACL SETUSER modifier '...': ...") and nothing changed."""
    try:
        merged = merge_selector_args(rules)
    except ValueError as exc:
        start = exc.args[0].split(b"\0", 1)[0]
        raise RuleError("Unmatched parenthesis in acl selector starting at "
                        f"'{start.decode(errors='replace')}'.") from None
    staged = user.clone()
    for op in merged:
        try:
            staged.apply(op, pubsub_default_all)
        except RuleError as exc:
            shown = op.split(b"\0", 1)[0].decode(errors="replace")  # printed with %s
            raise RuleError(f"Error in ACL SETUSER modifier '{shown}': "
                            f"{exc}") from None
    return staged


def new_user(name: bytes, pubsub_default_all: bool) -> User:
    """ACLCreateUser: off, no passwords, no commands, keys or (by acl-pubsub-default)
    channels."""
    return User(name, allchannels=pubsub_default_all)


def default_user(password: str) -> User:
    """ACLCreateDefaultUser, with requirepass as its password."""
    user = User(b"default")
    user.root.set_all(True)
    user.root.allkeys = True
    user.root.allchannels = True
    user.enabled = True
    set_default_password(user, password)
    return user


def set_default_password(user: User, password: str) -> None:
    """ACLUpdateDefaultUserPassword: requirepass resets the default user's passwords."""
    user.passwords = []
    user.nopass = False
    if password:
        user.apply(b">" + password.encode())
    else:
        user.nopass = True


def channels_revoked(new: User, old: User) -> bool:
    """ACLKillPubsubClientsIfNeeded's shortcut: False when the new channel permissions
    include all the old ones (no subscriber can have lost access): a new selector with
    every channel, or every old pattern among the new ones."""
    if any(s.allchannels for s in new.all_selectors):
        return False
    upcoming = allowed_channels(new)
    return any(s.allchannels or any(c not in upcoming for c in s.channels)
               for s in old.all_selectors)


def allowed_channels(user: User) -> list[bytes]:
    """Every channel pattern of every selector (Redis's "upcoming" list)."""
    return [c for s in user.all_selectors for c in s.channels]


# ---------------------------------------------------------------------- the check
NOPERM_CMD = "NOPERM this user has no permissions to run the '%s' command"
NOPERM_KEY = "NOPERM this user has no permissions to access one of the keys used as arguments"
NOPERM_CHANNEL = ("NOPERM this user has no permissions to access one of the channels used "
                  "as arguments")


def check(client: Client, user: User, cmd: Command, argv: list[bytes], context: str) -> int:
    """ACLCheckAllPerm, plus the ACL LOG entry a denial makes (Redis's addACLLogEntry):
    OK or the denial. `client` is the connection the log describes (a script's caller)."""
    result, pos = user.check(cmd, argv)
    if result:
        obj = cmd.full_name if result == DENIED_CMD else argv[pos].decode(
            errors="surrogateescape")
        log_event(client, REASONS[result], context, obj, user.name)
    return result


def log_event(client: Client, reason: str, context: str, obj: str, username: bytes) -> None:
    from aikv.commands.connection import describe

    server = client.server
    server.acl_log.add(reason, context, obj, username,
                       describe(client, time.time()).encode(),
                       server.config.values["acllog-max-len"])


def noperm_text(result: int, cmd: Command) -> str:
    """processCommand's NOPERM reply for a denial."""
    if result == DENIED_CMD:
        return NOPERM_CMD % cmd.full_name
    if result == DENIED_KEY:
        return NOPERM_KEY
    return NOPERM_CHANNEL

# getAclErrorMessage: how a script's redis.call denial reads.
SCRIPT_DENIALS = {
    DENIED_CMD: b"can't run this command or subcommand",
    DENIED_KEY: b"can't access at least one of the keys mentioned in the command arguments",
    DENIED_CHANNEL: b"can't publish to the channel mentioned in the command",
}
