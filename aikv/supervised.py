"""`supervised`: telling systemd how the node is doing, as redis-server does.

With `supervised systemd`, or `auto` when systemd started us (NOTIFY_SOCKET is set), the
node sends the sd_notify messages Redis sends: a STATUS line and READY=1 once it accepts
connections (a replica says it waits for its master, then that the sync finished), and
STOPPING=1 when the shutdown goes ahead. A supervised node does not daemonize itself:
the supervisor keeps it. Upstart (SIGSTOP as the readiness signal) is long gone from
the systems AiKv runs on: asked for, it is logged and ignored.

The protocol is one datagram per message to the Unix socket named by NOTIFY_SOCKET
(an initial '@' names an abstract socket), which is what libsystemd's sd_notify sends.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("aikv")

READY = "STATUS=Ready to accept connections\n"
STOPPING = "STOPPING=1\n"
READY_AS_REPLICA = ("STATUS=Ready to accept connections in read-only mode. Waiting for "
                    "MASTER <-> REPLICA sync\n")
SYNCED = ("STATUS=MASTER <-> REPLICA sync: Finished with success. Ready to accept "
          "connections in read-write mode.\n")
RESUMED = ("STATUS=MASTER <-> REPLICA sync: Partial Resynchronization accepted. Ready to "
           "accept connections in read-write mode.\n")


class Supervision:
    """Whether systemd supervises this node, and the messages to it."""

    def __init__(self, mode: str, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.socket_path = env.get("NOTIFY_SOCKET", "")
        self.detected = ""
        if mode == "auto":
            if env.get("UPSTART_JOB"):
                mode, self.detected = "upstart", "Upstart supervision detected."
            elif self.socket_path:
                mode, self.detected = "systemd", "Systemd supervision detected."
        self.mode = mode
        self.systemd = mode == "systemd"

    def start(self) -> None:
        """Once the log is set up (Redis's redisIsSupervised): systemd hears that the
        node is loading, or supervision is off if it cannot be told."""
        if self.detected:
            log.log(15, "%s", self.detected)
        if self.mode == "upstart":
            log.warning("upstart supervision is not supported by AiKv; not supervised.")
        if self.systemd:
            self.systemd = self.notify("STATUS=AiKv is loading...\n")
            if self.systemd:
                log.info("Supervised by systemd. Please make sure you set appropriate values "
                         "for TimeoutStartSec and TimeoutStopSec in your service unit.")

    def notify(self, message: str) -> bool:
        """sd_notify(message) when supervised by systemd; False if it could not be sent
        (logged as Redis logs it)."""
        if not self.systemd:
            return False
        if not self.socket_path:
            log.warning("systemd supervision error: NOTIFY_SOCKET not found!")
            return False
        address = self.socket_path
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), address)
        except OSError as exc:
            log.warning("systemd supervision error: sd_notify: %s", exc)
            return False
        return True
