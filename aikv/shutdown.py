"""Shutting down as Redis 7 does: let the replicas catch up first.

SHUTDOWN (without NOW) and SIGTERM/SIGINT do not end a node whose replicas have not
acknowledged the whole stream: writes are paused (PAUSE_DURING_SHUTDOWN), the replicas
are asked for an acknowledgement, and the node waits up to `shutdown-timeout` seconds
for every one of them to reach the master offset. Then, or at the deadline, it finishes:
the store is synced, the RDB file written if asked, and the process ends. SHUTDOWN's
client stays blocked meanwhile (it sees the connection close); SHUTDOWN ABORT cancels a
wait (the blocked clients get "Errors trying to SHUTDOWN") and so does a failed finish.

A signal is acted on by the cron, as Redis acts on `shutdown_asap` in serverCron: with
DEBUG PAUSE-CRON the request waits, and SHUTDOWN ABORT can still drop it. A second
SIGINT while one is pending exits at once, as Redis's handler does. While a replica loads
its master's data the loop (and so the cron) is held: a signal, or a SHUTDOWN served
meanwhile, ends the node between two parts of the load, without saving what it holds
(Redis's whileBlockedCron).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aikv import rdbsave
from aikv.config import SHUTDOWN_FORCE, SHUTDOWN_NOSAVE, SHUTDOWN_NOW, SHUTDOWN_SAVE
from aikv.pause import PAUSE_DURING_SHUTDOWN, PAUSE_FOREVER
from aikv.supervised import STOPPING

if TYPE_CHECKING:
    from aikv.client import Client
    from aikv.server import Server

log = logging.getLogger("aikv")

SHUTDOWN_FAILED = b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"


class ShuttingDown:
    """A shutdown waiting for replicas: the marker a blocked SHUTDOWN client carries
    (client.blocked), and the state INFO's shutdown_in_milliseconds reads."""

    __slots__ = ("flags", "deadline_ms", "waiters")

    def __init__(self, flags: int, deadline_ms: int) -> None:
        self.flags = flags
        self.deadline_ms = deadline_ms
        self.waiters: list[Client] = []


def _now_ms() -> int:
    return int(time.time() * 1000)


def ready(server: Server) -> bool:
    """isReadyToShutdown: every replica (online or not) acknowledged the master offset."""
    source = server.replication
    if source is None:
        return True
    return all(f.ack_offset == source.offset for f in source.followers.values())


def prepare(server: Server, flags: int, client: Client | None = None) -> bool:
    """prepareForShutdown: True when the node may exit now (finished); False when it
    waits for replicas (`client`, if given, is blocked until then) or failed (the
    caller reports it). A shutdown already waiting is not started again."""
    if server.shutting_down is not None:
        if client is not None:
            _block(server.shutting_down, client)
        return False
    if server.loading is not None:  # a half-loaded dataset must not be saved
        flags = (flags & ~SHUTDOWN_SAVE) | SHUTDOWN_NOSAVE
    log.warning("User requested shutdown...")
    server.supervision.notify(STOPPING)
    timeout = server.config.values["shutdown-timeout"]
    if not flags & SHUTDOWN_NOW and timeout and not ready(server):
        state = server.shutting_down = ShuttingDown(flags, _now_ms() + timeout * 1000)
        source = server.replication
        if source is not None and not server.pause_mode:
            source.ask_acks_now()
        server.pause(True, PAUSE_FOREVER, PAUSE_DURING_SHUTDOWN)
        log.info("Waiting for replicas before shutting down.")
        if client is not None:
            _block(state, client)
        return False
    return finish(server, flags)


def _block(state: ShuttingDown, client: Client) -> None:
    client.blocked = state
    state.waiters.append(client)


def cron(server: Server) -> None:
    """serverCron's part (at hz, not while DEBUG PAUSE-CRON holds it): start the
    shutdown a signal asked for; finish a wait once the replicas caught up or the
    deadline passed."""
    if server.shutdown_requested:
        return  # finished: the process is on its way out
    state = server.shutting_down
    if state is None:
        if server.shutdown_signal is not None:
            sig = server.shutdown_signal
            prepare(server, server.config.values[
                "shutdown-on-sigint" if sig == signal.SIGINT else "shutdown-on-sigterm"])
    elif _now_ms() >= state.deadline_ms or ready(server):
        finish(server, state.flags)


def finish(server: Server, flags: int) -> bool:
    """finishShutdown: sync the store, write the RDB file if asked (a failure without
    FORCE keeps the node running, the wait cancelled) and end the process."""
    _log_lagging(server)
    force = bool(flags & SHUTDOWN_FORCE)
    try:
        rdbsave.commit_and_sync(server)
    except Exception as exc:
        log.warning("Error syncing the store before exiting: %s", exc)
        if not force:
            return _failed(server)
    if not rdbsave.save_before_exit(server, bool(flags & SHUTDOWN_SAVE),
                                    bool(flags & SHUTDOWN_NOSAVE), force):
        return _failed(server)
    state = server.shutting_down
    if state is not None:
        for waiter in state.waiters:
            waiter.close_after_reply = True  # closed with the others; no reply, as Redis
    server.shutdown_requested = True
    server.request_shutdown()
    return True


def _log_lagging(server: Server) -> None:
    source = server.replication
    if source is None or not source.followers:
        return
    lagging = 0
    now = time.monotonic()
    for follower in source.followers.values():
        if follower.ack_offset != source.offset:
            lagging += 1
            lag = int(now - follower.ack_time) if follower.state == "online" else 0
            log.warning("Lagging replica %s reported offset %d behind master, lag=%d, "
                        "state=%s.", follower.client.addr, source.offset - follower.ack_offset,
                        lag, follower.state)
    total = len(source.followers)
    log.info("%d of %d replicas are in sync when shutting down.", total - lagging, total)


def _failed(server: Server) -> bool:
    log.warning("Errors trying to shut down the server. Check the logs for more information.")
    _cancel(server)
    return False


def _cancel(server: Server) -> None:
    """cancelShutdown: the blocked SHUTDOWN clients get the error, writes resume."""
    server.shutdown_signal = None
    state, server.shutting_down = server.shutting_down, None
    if state is None:
        return
    for client in state.waiters:
        client.blocked = None
        if not client.closing:
            client.write(SHUTDOWN_FAILED)
            server.resume_client(client)
    server.unpause(PAUSE_DURING_SHUTDOWN)


def abort(server: Server) -> bool:
    """SHUTDOWN ABORT: cancel a wait, or drop a signal the cron has not acted on yet.
    False: there was nothing to abort."""
    if server.shutting_down is not None:
        _cancel(server)
    elif server.shutdown_signal is not None:
        server.shutdown_signal = None
    else:
        return False
    log.info("Shutdown manually aborted.")
    return True


def client_gone(server: Server, client: Client) -> None:
    state = server.shutting_down
    if state is not None and client in state.waiters:
        state.waiters.remove(client)


def on_signal(server: Server, sig: int) -> None:
    """The signal handler: remember the request for the cron; a second SIGINT exits at
    once."""
    if server.shutdown_signal is not None and sig == signal.SIGINT:
        log.warning("You insist... exiting now.")
        os._exit(1)
    if server.loading is not None:  # (noted by signals_while_loading)
        log.warning("Received shutdown signal during loading, scheduling shutdown.")
    else:
        log.warning("Received %s scheduling shutdown...",
                    "SIGINT" if sig == signal.SIGINT else "SIGTERM")
    server.shutdown_signal = sig


@contextlib.contextmanager
def signals_while_loading(server: Server) -> Iterator[None]:
    """While a load holds the loop, uvloop cannot run its signal handlers: SIGTERM and
    SIGINT are noted here instead (with Redis's message for a signal during loading) and
    acted on by `while_loading`. The loop's own route for signals, its wakeup fd, is
    off meanwhile, so that a signal noted here is not reported a second time after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # (only the main thread may set handlers; the server's loop runs there)
        return

    def noted(sig: int, _frame: object) -> None:
        on_signal(server, sig)

    sigs = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in sigs}
    wakeup = signal.set_wakeup_fd(-1)
    try:
        for sig in sigs:
            signal.signal(sig, noted)
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # (None: a handler set outside Python, left alone)
                signal.signal(sig, handler)
        if wakeup != -1:
            signal.set_wakeup_fd(wakeup, warn_on_full_buffer=False)


def while_loading(server: Server) -> bool:
    """Between two parts of a load: True when the node is to end now (a signal noted by
    signals_while_loading, or a SHUTDOWN served during the load), so the load must stop.
    Nothing is saved: the data is half loaded. A finish that fails keeps the node
    loading, the request dropped, as Redis does."""
    if server.shutdown_requested:
        return True
    if server.shutdown_signal is None or server.shutting_down is not None:
        return False
    if prepare(server, SHUTDOWN_NOSAVE):
        return True
    log.warning("SIGTERM received but errors trying to shut down the server, check the "
                "logs for more information")
    server.shutdown_signal = None
    return False
