"""What MONITOR shows of a command: Redis's quoting of each argument (sdscatrepr) and
the arguments it redacts (passwords of AUTH, HELLO ... AUTH, MIGRATE ... AUTH/AUTH2, and
everything after ACL SETUSER, the values CONFIG SET gives the sensitive parameters)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aikv.commands.registry import Command

REDACTED = b"(redacted)"
# The parameters Redis flags SENSITIVE_CONFIG: CONFIG SET redacts the values given them.
_SENSITIVE_CONFIG = frozenset((b"masteruser", b"masterauth", b"requirepass"))
_ESCAPES = {0x5C: b"\\\\", 0x22: b'\\"', 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t",
            0x07: b"\\a", 0x08: b"\\b"}
# Byte -> its quoted form: printable ASCII as itself, the escapes above, else \xHH.
_QUOTED = [_ESCAPES.get(b, bytes([b]) if 0x20 <= b <= 0x7E else b"\\x%02x" % b)
           for b in range(256)]
_PLAIN = frozenset(range(0x20, 0x7F)) - {0x5C, 0x22}


def quote_arg(arg: bytes) -> bytes:
    """`arg` in double quotes with C-style escapes, as Redis's sdscatrepr writes it."""
    if _PLAIN.issuperset(arg):
        return b'"' + arg + b'"'
    return b'"' + b"".join([_QUOTED[b] for b in arg]) + b'"'


def monitor_args(cmd: Command, argv: list[bytes]) -> list[bytes]:
    """argv with the arguments Redis redacts replaced by "(redacted)"."""
    name = cmd.name
    if name == "auth":
        if len(argv) > 3:
            return argv  # refused as a syntax error before Redis redacts anything
        return [argv[0]] + [REDACTED] * (len(argv) - 1)
    if name == "hello":
        return _redact_hello(argv)
    if name == "migrate":
        return _redact_migrate(argv)
    if cmd.full_name == "acl|setuser" and len(argv) >= 3:
        return argv[:2] + [REDACTED] * (len(argv) - 2)  # the name and every rule
    if cmd.full_name == "config|set" and len(argv) % 2 == 0:
        return _redact_config_set(argv)
    return argv


def _redact_config_set(argv: list[bytes]) -> list[bytes]:
    # Every pair is looked at, even after an unknown or invalid one, so that an error
    # never leaves a password in the logs (configSetCommand).
    shown = list(argv)
    for j in range(2, len(argv) - 1, 2):
        if argv[j].lower() in _SENSITIVE_CONFIG:
            shown[j + 1] = REDACTED
    return shown


def _redact_hello(argv: list[bytes]) -> list[bytes]:
    if len(argv) < 2 or argv[1] not in (b"2", b"3"):
        return argv  # Redis returns on a bad protocol version before the options
    shown = list(argv)
    j = 2
    while j < len(argv):
        option = argv[j].upper()
        more = len(argv) - 1 - j
        if option == b"AUTH" and more >= 2:
            shown[j + 1] = shown[j + 2] = REDACTED
            j += 3
        elif option == b"SETNAME" and more >= 1:
            j += 2
        else:
            break
    return shown


def _redact_migrate(argv: list[bytes]) -> list[bytes]:
    shown = list(argv)
    j = 6
    while j < len(argv):
        option = argv[j].lower()
        more = len(argv) - 1 - j
        if option == b"auth" and more >= 1:
            shown[j + 1] = REDACTED
            j += 2
        elif option == b"auth2" and more >= 2:
            shown[j + 1] = shown[j + 2] = REDACTED
            j += 3
        elif option == b"keys":
            break
        else:
            j += 1
    return shown
