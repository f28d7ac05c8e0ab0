"""Crash reports and the software watchdog, in the shape Redis 7.0 gives them.

Three ways a node reports trouble in its log:

- A fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) from C code or from outside:
  Python's faulthandler writes every thread's Python stack into the log before the
  process dies by that signal. It has to be faulthandler: a signal like SIGSEGV cannot be
  handled in Python code, which only runs after the C handler has returned.
  `crash-log-enabled no` turns it off, as it removes Redis's handlers.
- DEBUG SEGFAULT, DEBUG PANIC and DEBUG ASSERT: the node writes Redis's bug report
  (START marker, headline, STACK TRACE of every thread, INFO OUTPUT, CLIENT LIST OUTPUT,
  CURRENT CLIENT INFO, END marker) and then dies as Redis does: by SIGSEGV, or by SIGABRT
  after a panic or an assertion (`use-exit-on-panic yes`: exit status 1 instead).
- `watchdog-period` (milliseconds, 0 = off): when the event loop has not come back to its
  cron for that long, a thread logs "--- WATCHDOG TIMER EXPIRED ---" and the loop
  thread's Python stack, once per stall, as Redis's SIGALRM handler does. Like Redis, a
  period under two cron intervals is raised to that.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
import time
import traceback
from types import FrameType
from typing import TYPE_CHECKING

from aikv.logging_setup import log_stream, write_raw

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.server import Server

log = logging.getLogger("aikv")

START = "\n\n=== AIKV BUG REPORT START: Cut & paste starting from here ===\n"
END = ("\n=== AIKV BUG REPORT END. Make sure to include from START to END. ===\n\n"
       "       Please report the crash with the log above.\n\n")


def apply_crash_log(enabled: bool) -> None:
    """crash-log-enabled: dump the Python stacks into the log on a fatal signal."""
    if not enabled:
        faulthandler.disable()
        return
    try:
        faulthandler.enable(file=log_stream(), all_threads=True)
    except (ValueError, OSError) as exc:  # a log stream without a file descriptor
        log.warning("Crash log not enabled: %s", exc)


def stacks_text() -> str:
    """Every thread's Python stack, the event loop's (main) thread first."""
    frames = sys._current_frames()
    main_id = threading.main_thread().ident
    names = {t.ident: t.name for t in threading.enumerate()}
    order = sorted(frames, key=lambda ident: ident != main_id)
    parts = []
    for ident in order:
        parts.append(_stack_text(names.get(ident, "?"), ident, frames[ident]))
    return "".join(parts)


def _stack_text(name: str, ident: int, frame: FrameType) -> str:
    lines = traceback.format_stack(frame)
    return f"\nThread {name} ({ident:#x}), most recent call last:\n" + "".join(lines)


def _client_info(client: Client, argv: list[bytes]) -> str:
    from aikv.commands.connection import describe
    from aikv.monitor import quote_arg

    text = "\n------ CURRENT CLIENT INFO ------\n" + describe(client, time.time()) + "\n"
    for i, arg in enumerate(argv):
        text += f"argv[{i}]: '{quote_arg(arg[:128]).decode('latin-1')}'\n"
    return text


def bug_report(server: Server, headline: list[str], client: Client | None,
               argv: list[bytes]) -> None:
    """Redis's bug report, written to the log in one piece; `client` is the one whose
    command (`argv`) is running."""
    from aikv.commands.connection import describe
    from aikv.info import ALL, info_text

    write_raw(START)
    for line in headline:
        log.warning("%s", line)
    text = "\n------ STACK TRACE ------\n" + stacks_text()
    try:
        info = info_text(server, ALL).replace("\r\n", "\n")
    except Exception as exc:  # noqa: BLE001 - the report must get out whatever is broken
        info = f"(INFO failed: {exc!r})\n"
    text += "\n------ INFO OUTPUT ------\n" + info
    now = time.time()
    text += "\n------ CLIENT LIST OUTPUT ------\n" + "".join(
        describe(c, now) + "\n" for c in sorted(server.clients.values(), key=lambda c: c.id))
    if client is not None:
        text += _client_info(client, argv)
    write_raw(text)
    write_raw(END)


def die(server: Server, client: Client | None, argv: list[bytes], headline: list[str],
        sig: int) -> None:
    """Write the report (unless crash-log-enabled is no) and end the process by `sig`
    (SIGABRT ends in exit status 1 under use-exit-on-panic, as Redis's bugReportEnd)."""
    values = server.config.values
    if values["crash-log-enabled"]:
        bug_report(server, headline, client, argv)
    elif sig != signal.SIGSEGV:  # (a panic's or an assertion's own lines stay, as in Redis)
        for line in headline:
            log.warning("%s", line)
    faulthandler.disable()  # the report is written: no second dump from the signal
    if sig == signal.SIGABRT and values["use-exit-on-panic"]:
        os._exit(1)
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    time.sleep(1)  # (the signal arrives within the call; never reached)
    os._exit(128 + sig)


class Watchdog:
    """The software watchdog: a thread that looks at when the loop last ran its cron."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.period_s = 0.0
        self.beat = time.monotonic()  # the cron's last run (Server calls feed())
        self._reported_beat = -1.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def feed(self) -> None:
        self.beat = time.monotonic()

    def apply(self, period_ms: int, hz: int) -> None:
        """watchdog-period changed (or at start): start, retune or stop the thread."""
        if period_ms <= 0:
            self.stop()
            return
        self.period_s = max(period_ms, (1000 // max(1, hz)) * 2) / 1000
        self.feed()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="aikv-watchdog",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        while not self._stop.wait(min(self.period_s / 4, 0.05)):
            beat = self.beat
            if time.monotonic() - beat > self.period_s and beat != self._reported_beat:
                self._reported_beat = beat
                self.report()

    def report(self) -> None:
        main = threading.main_thread()
        frame = sys._current_frames().get(main.ident or 0)
        log.warning("\n--- WATCHDOG TIMER EXPIRED ---")
        if frame is not None:
            write_raw(_stack_text(main.name, main.ident or 0, frame))
        log.warning("--------\n")
