"""Log lines in Redis's style: `pid:M 26 Nov 2026 06:51:42.123 * message`, the letter
after the pid the node's role when the line is written: M for a master, S for a replica
(a node configured to follow a master, connected or not), as redis-server writes them."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO, cast

_LEVEL_CHARS = {logging.DEBUG: ".", 15: "-", logging.INFO: "*", logging.WARNING: "#",
                logging.ERROR: "#", logging.CRITICAL: "#"}
_LEVELS = {"debug": logging.DEBUG, "verbose": 15, "notice": logging.INFO,
           "warning": logging.WARNING}


def _master() -> str:
    return "M"


_role: Callable[[], str] = _master


def set_role(role: Callable[[], str] | None) -> None:
    """Where the role letter comes from (the server registers itself; None: M)."""
    global _role
    _role = role or _master


class RedisStyleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%d %b %Y %H:%M:%S", time.localtime(record.created))
        ms = int(record.msecs)
        text = f"{os.getpid()}:{_role()} {ts}.{ms:03d} " \
               f"{_LEVEL_CHARS.get(record.levelno, '*')} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(loglevel: str, logfile: str) -> None:
    logging.addLevelName(15, "VERBOSE")
    handler: logging.Handler
    if logfile:
        handler = logging.FileHandler(logfile)
    else:
        handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(RedisStyleFormatter())
    root = logging.getLogger("aikv")
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(loglevel, logging.INFO))
    root.propagate = False


def set_level(loglevel: str) -> None:
    logging.getLogger("aikv").setLevel(_LEVELS.get(loglevel, logging.INFO))


def _handlers() -> list[logging.Handler]:
    return logging.getLogger("aikv").handlers


def log_stream() -> TextIO:
    """Where the log goes (the log file, or stdout): faulthandler writes there too."""
    for handler in _handlers():
        stream = getattr(handler, "stream", None)
        if stream is not None:
            return cast(TextIO, stream)
    return sys.stdout


def write_raw(text: str) -> None:
    """Text into the log as it is, without the pid/time prefix (Redis's LL_RAW): the
    sections of a bug report and stack traces."""
    for handler in _handlers():
        stream = getattr(handler, "stream", None)
        if stream is None:
            continue
        handler.acquire()
        try:
            stream.write(text)
            stream.flush()
        finally:
            handler.release()
