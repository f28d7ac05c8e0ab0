"""The one exception every DUMP/RESTORE payload codec raises.

Its message is the exact Redis error text (without the leading ``-``), so the RESTORE
command can reply with ``str(exc)`` and match redis-server 7.0.15 byte for byte.
"""

from __future__ import annotations

# RESTORE replies this when the footer is missing, too new, or the CRC does not match.
ERR_VERSION_OR_CHECKSUM = "ERR DUMP payload version or checksum are wrong"
# ... and this for everything wrong inside a payload whose footer was fine.
ERR_BAD_DATA_FORMAT = "ERR Bad data format"


class DumpPayloadError(Exception):
    """A DUMP payload that RESTORE must refuse; ``str(exc)`` is the Redis error text."""

    def __init__(self, message: str = ERR_BAD_DATA_FORMAT, detail: str = "") -> None:
        super().__init__(message)
        # Why it was refused, for logs only: Redis does not put this in the reply.
        self.detail = detail

    def __str__(self) -> str:
        return str(self.args[0])


def bad_data(detail: str) -> DumpPayloadError:
    """Shorthand for the common case: a malformed body, with a reason for the log."""
    return DumpPayloadError(ERR_BAD_DATA_FORMAT, detail)
