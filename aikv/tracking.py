"""Server-assisted client-side caching (CLIENT TRACKING), as Redis 7.0 does it.

Default mode: after a read-only command, its keys are remembered for the client that
ran it; the first change to such a key (a write, an expiry; any database: the table
holds key names only) sends every client that read it an invalidation and forgets the
key. BCAST mode: the client registers key prefixes and, at the end of each event-loop
tick, gets the keys under them that changed in that tick, in one message per prefix.

Messages go to the client itself as RESP3 pushes (`>2 invalidate [keys]`), or, with
REDIRECT, to another connection: a RESP3 push there, or a Pub/Sub message on
`__redis__:invalidate` when that connection is a subscribed RESP2 client. FLUSHDB and
FLUSHALL send a null invalidation to every tracking client and empty the table.

How keys reach this module: a Database calls its on_modified hook for the keys in its
`watched` set (WATCH uses the same hook). Tracked keys are added to every database's
set; while any client is in BCAST mode the sets are replaced by AllKeys, which claims
to contain every key, so each change reaches `key_modified`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aikv.resp import bulk

if TYPE_CHECKING:
    from aikv.client import Client

_PUSH_INVALIDATE = b">2\r\n$10\r\ninvalidate\r\n"
_PUBSUB_INVALIDATE = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"


class AllKeys(set[bytes]):
    """A database's `watched` set while BCAST tracking is on: the real members are kept
    (WATCH and tracking still add and discard them) but every key tests as present."""

    def __contains__(self, key: object) -> bool:
        return True

    def __bool__(self) -> bool:
        return True


class TrackingState:
    """A client's tracking settings (None on the client when tracking is off)."""

    __slots__ = ("redirect", "bcast", "optin", "optout", "noloop", "caching",
                 "broken_redirect", "prefixes")

    def __init__(self, redirect: int, bcast: bool, optin: bool, optout: bool,
                 noloop: bool) -> None:
        self.redirect = redirect
        self.bcast = bcast
        self.optin = optin
        self.optout = optout
        self.noloop = noloop
        self.caching = False  # CLIENT CACHING yes/no given for the next command
        self.broken_redirect = False
        self.prefixes: list[bytes] = []


class Tracking:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.table: dict[bytes, set[int]] = {}  # key -> ids of clients that read it
        # BCAST: prefix -> (client ids, {changed key: id of the client that changed it})
        self.prefixes: dict[bytes, tuple[set[int], dict[bytes, int | None]]] = {}
        self.clients = 0  # clients with tracking on
        self.items = 0  # (key, client) pairs in the table
        # Invalidations for the client whose command is running: sent after its reply.
        self.pending: list[bytes | None] = []
        self.current: Client | None = None
        self.runs_over_limit = 0  # see limit_keys

    # ------------------------------------------------------------------ on / off
    def enable(self, client: Client, redirect: int, bcast: bool, optin: bool, optout: bool,
               noloop: bool, prefixes: list[bytes]) -> None:
        old = client.tracking
        if old is None:
            self.clients += 1
        state = client.tracking = TrackingState(redirect, bcast, optin, optout, noloop)
        if old is not None:
            state.prefixes = old.prefixes  # enabling again adds prefixes, drops none
        if bcast:
            for prefix in prefixes or [b""]:
                clients, _ = self.prefixes.setdefault(prefix, (set(), {}))
                if client.id not in clients:
                    clients.add(client.id)
                    state.prefixes.append(prefix)
            self._watch_everything(True)

    def disable(self, client: Client) -> None:
        if client.tracking is None:
            return
        self._drop_prefixes(client)
        client.tracking = None
        self.clients -= 1

    def _drop_prefixes(self, client: Client) -> None:
        state = client.tracking
        assert state is not None
        for prefix in state.prefixes:
            entry = self.prefixes.get(prefix)
            if entry is not None:
                entry[0].discard(client.id)
                if not entry[0]:
                    del self.prefixes[prefix]
        state.prefixes = []
        if not self.prefixes:
            self._watch_everything(False)

    def _watch_everything(self, on: bool) -> None:
        for db in self.server.databases:
            if on and not isinstance(db.watched, AllKeys):
                db.watched = AllKeys(db.watched)
            elif not on and isinstance(db.watched, AllKeys):
                db.watched = set(db.watched)

    def prefix_collision(self, client: Client, prefixes: list[bytes]) -> str | None:
        """Redis's error when a BCAST prefix overlaps another of the same client."""
        existing = client.tracking.prefixes if client.tracking is not None else []
        for i, prefix in enumerate(prefixes):
            for old in existing:
                if old.startswith(prefix) or prefix.startswith(old):
                    return (f"Prefix '{_text(prefix)}' overlaps with an existing prefix "
                            f"'{_text(old)}'. Prefixes for a single client must not overlap.")
            for other in prefixes[i + 1:]:
                if other.startswith(prefix) or prefix.startswith(other):
                    return (f"Prefix '{_text(prefix)}' overlaps with another provided prefix "
                            f"'{_text(other)}'. Prefixes for a single client must not "
                            "overlap.")
        return None

    # ------------------------------------------------------------------ reads
    def remember(self, client: Client, keys: list[bytes]) -> None:
        """After a read-only command of a tracking client (default mode)."""
        state = client.tracking
        assert state is not None
        if state.bcast or (state.optin and not state.caching) or (state.optout and state.caching):
            return
        table = self.table
        for key in keys:
            ids = table.get(key)
            if ids is None:
                ids = table[key] = set()
                for db in self.server.databases:
                    db.watched.add(key)
            if client.id not in ids:
                ids.add(client.id)
                self.items += 1

    # ------------------------------------------------------------------ changes
    def key_modified(self, key: bytes) -> None:
        """A key changed (by the running command, or by expiry when none runs)."""
        current = self.current
        for prefix, (_, changed) in self.prefixes.items():
            if key.startswith(prefix):
                changed[key] = current.id if current is not None else None
        self._invalidate(key, current)

    def _invalidate(self, key: bytes, current: Client | None) -> None:
        """Forget `key` and tell every default-mode client that read it."""
        ids = self.table.pop(key, None)
        if ids is None:
            return
        self.items -= len(ids)
        server = self.server
        for db in server.databases:
            if not server.watching(db.index, key):
                db.watched.discard(key)
        clients = server.clients
        for client_id in ids:
            target = clients.get(client_id)
            state = target.tracking if target is not None else None
            if target is None or state is None or state.bcast:
                continue
            if target is current:
                if state.noloop:
                    continue
                self.pending.append(key)  # after the command's own reply
                continue
            self._send(target, b"*1\r\n" + bulk(key))

    def limit_keys(self, max_keys: int) -> None:
        """tracking-table-max-keys, from the cron (trackingLimitUsedSlots): while the table
        holds more keys, invalidate keys until it does not, with an effort of 100 keys per
        run that grows by 100 for every run that ended still over the limit. Redis picks
        the keys by a random walk; AiKv takes the longest-tracked ones first."""
        table = self.table
        if not max_keys or len(table) <= max_keys:
            self.runs_over_limit = 0
            return
        effort = 100 * (self.runs_over_limit + 1)
        while effort > 0 and table:
            effort -= 1
            self._invalidate(next(iter(table)), None)
            if len(table) <= max_keys:
                self.runs_over_limit = 0
                return
        self.runs_over_limit += 1

    def flushed(self) -> None:
        """FLUSHDB / FLUSHALL: a null invalidation to every tracking client."""
        server = self.server
        for client in list(server.clients.values()):
            if client.tracking is None:
                continue
            if client is self.current:
                self.pending.append(None)
            else:
                self._send(client, b"_\r\n" if client.resp3 else b"$-1\r\n")
        for key in self.table:
            for db in server.databases:
                if not server.watching(db.index, key):
                    db.watched.discard(key)
        self.table.clear()
        self.items = 0

    def send_pending(self, client: Client) -> None:
        """The running command's reply is out: its own invalidations follow it."""
        pending, self.pending = self.pending, []
        if client.closing:
            return
        for key in pending:
            if key is None:
                self._send(client, b"_\r\n" if client.resp3 else b"$-1\r\n")
            else:
                self._send(client, b"*1\r\n" + bulk(key))

    def broadcast(self) -> None:
        """End of a tick: each BCAST client gets the keys changed under its prefixes
        (those it changed itself left out under NOLOOP), sorted as Redis's radix tree
        walks them."""
        clients = self.server.clients
        for prefix in sorted(self.prefixes):
            ids, changed = self.prefixes[prefix]
            if not changed:
                continue
            keys = sorted(changed)
            everything = b"*%d\r\n" % len(keys) + b"".join(bulk(k) for k in keys)
            for client_id in sorted(ids):
                target = clients.get(client_id)
                if target is None or target.tracking is None:
                    continue
                if target.tracking.noloop:
                    mine = [k for k in keys if changed[k] != client_id]
                    if mine:
                        self._send(target, b"*%d\r\n" % len(mine)
                                   + b"".join(bulk(k) for k in mine))
                else:
                    self._send(target, everything)
            changed.clear()

    def _send(self, client: Client, payload: bytes) -> None:
        """One invalidation message: `payload` is the array of keys (or a null)."""
        state = client.tracking
        assert state is not None
        if state.redirect:
            target = self.server.clients.get(state.redirect)
            if target is None:
                state.broken_redirect = True
                if client.resp3:
                    client.write(b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % state.redirect,
                                 push=True)
                return
            if target.resp3:
                target.write(_PUSH_INVALIDATE + payload, push=True)
            elif target.subscriptions or target.patterns or target.shard_subscriptions:
                target.write(_PUBSUB_INVALIDATE + payload, push=True)
            return
        if client.resp3:
            client.write(_PUSH_INVALIDATE + payload, push=True)

    def client_gone(self, client: Client) -> None:
        self.disable(client)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
