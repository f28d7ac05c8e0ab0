"""DUMP, RESTORE, RESTORE-ASKING and MIGRATE.

RESTORE follows restoreCommand of redis-server 7.0.15 step by step (options, BUSYKEY,
TTL, payload, REPLACE, expiry); the order decides which error wins when several apply.
Every RESTORE asks the store to fsync its tick before the reply leaves, whatever
appendfsync says: when it comes from a MIGRATE, the source deletes its copy as soon as it
reads our +OK, so our copy must already be durable.

MIGRATE serialises the keys without LZF (as Redis does with `rdbcompression no`; every
RESTORE accepts both forms). LZF in Python compresses ~1.5 MB/s, slower than any link it
could save time on: a 1 MB text value took ~0.6 s to compress, during which the node
serves nobody, against ~15 ms for the checksum of the raw bytes.

MIGRATE runs the synchronous exchange of `aikv.migrate.migrate`
(nothing else runs on the node meanwhile), and deletes the acknowledged keys in the same
tick, so the deletes are committed before MIGRATE's reply leaves.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from aikv.commands.registry import command
from aikv.migrate.errors import DumpPayloadError
from aikv.migrate.migrate import KeyToSend, MigrateEngine
from aikv.migrate.options import (
    ERR_BUSYKEY,
    migrate_key_positions,
    parse_migrate,
    parse_restore_options,
    parse_ttl,
)
from aikv.migrate.rdb import load_payload
from aikv.migrate.values import (
    MissingTypeSupport,
    dump_key,
    dump_live_key,
    expire_at,
    limits_from_config,
    store_value,
)
from aikv.notify import GENERIC
from aikv.replication.propagate import propagate_as
from aikv.resp import NULL3, NULL_BULK, OK, CommandError, bulk

if TYPE_CHECKING:
    from aikv.client import Client

try:  # blocked clients (BLPOP, BZPOPMIN) wait for lists and sorted sets
    from aikv.blocking import signal_key_ready
except ImportError:  # pragma: no cover - the blocking module is part of the tree today
    signal_key_ready = None  # type: ignore[assignment]


@command("dump", 2, "readonly", keys=(1, 1, 1), categories="@keyspace @read @slow")
def dump(client: Client, argv: list[bytes]) -> bytes:
    try:
        payload = dump_key(client.db, argv[1], limits_from_config(client.server.config))
    except MissingTypeSupport as exc:
        raise CommandError(f"ERR {exc}") from None
    if payload is None:
        return NULL3 if client.resp3 else NULL_BULK
    return bulk(payload)


def _restore(client: Client, argv: list[bytes]) -> bytes:
    opts = parse_restore_options(argv[4:])
    db = client.db
    key = argv[1]
    if not opts.replace and db.exists(key):
        raise CommandError(ERR_BUSYKEY)
    ttl = parse_ttl(argv[2])
    try:
        kind, value = load_payload(argv[3])
    except DumpPayloadError as exc:
        raise CommandError(str(exc)) from None
    server = client.server
    # The target side of MIGRATE: durable before +OK leaves (see the module docstring).
    server.store.request_sync()
    deleted = opts.replace and db.delete(key)
    now = db.clock.now_ms
    if ttl and not opts.absttl:
        ttl += now
    if ttl and ttl <= now:
        # Already expired: Redis answers OK without creating the key (the old one, with
        # REPLACE, is gone all the same).
        if deleted:
            db.notify(GENERIC, b"del", key)
            propagate_as(client, [b"DEL", key])
        else:
            propagate_as(client)
        return OK
    try:
        store_value(db, key, kind, value, ttl, cleared=opts.replace)
    except MissingTypeSupport as exc:
        if deleted:  # the error comes after REPLACE removed the old key
            propagate_as(client, [b"DEL", key])
        raise CommandError(f"ERR {exc}") from None
    db.notify(GENERIC, b"restore", key)
    if ttl and not opts.absttl:
        # The deadline as an absolute time, so that the key ends at the same moment on
        # replicas: the TTL argument becomes it, and ABSTTL is appended.
        propagate_as(client, [*argv[:2], b"%d" % ttl, *argv[3:], b"ABSTTL"])
    if kind in ("list", "zset", "stream") and signal_key_ready is not None:
        signal_key_ready(server, client.db_index, key)
    # IDLETIME / FREQ only feed eviction metadata, which AiKv does not keep (no eviction).
    return OK


# RESTORE and RESTORE-ASKING are @dangerous for ACL only: they write one key and touch no
# connection state, so they may take Client._run's direct path like SET (a reshard sends
# one per key moved).
@command("restore", -4, "write denyoom", keys=(1, 1, 1),
         categories="@keyspace @write @slow @dangerous", data=True)
def restore(client: Client, argv: list[bytes]) -> bytes:
    return _restore(client, argv)


# Same command flagged "asking": the cluster router serves it in an IMPORTING slot as if
# the client had sent ASKING (aikv/cluster/runtime.py checks the command name).
@command("restore-asking", -4, "write denyoom asking", keys=(1, 1, 1),
         categories="@keyspace @write @slow @dangerous", data=True)
def restore_asking(client: Client, argv: list[bytes]) -> bytes:
    return _restore(client, argv)


# ---------------------------------------------------------------------- MIGRATE
_ENGINES: weakref.WeakKeyDictionary[Any, MigrateEngine] = weakref.WeakKeyDictionary()
_SWEEP_SECONDS = 1.0


def engine_of(server: Any) -> MigrateEngine:
    engine = _ENGINES.get(server)
    if engine is None:
        engine = _ENGINES[server] = MigrateEngine()
    return engine


def cached_sockets(server: Any) -> int:
    """INFO's migrate_cached_sockets: MIGRATE's open connections to targets."""
    engine = _ENGINES.get(server)
    return 0 if engine is None else len(engine.cache)


def _schedule_sweep(server: Any, engine: MigrateEngine) -> None:
    """Close cached target connections after 10 s unused (Redis does it in serverCron);
    the timer only runs while something is cached."""
    loop = getattr(server, "loop", None)
    if loop is None or engine.sweep_scheduled:
        return

    def tick() -> None:
        engine.sweep_scheduled = False
        if engine.sweep():
            _schedule_sweep(server, engine)

    engine.sweep_scheduled = True
    loop.call_later(_SWEEP_SECONDS, tick)


@command("migrate", -6, "write", keys=(3, 3, 1), key_finder=migrate_key_positions,
         categories="@keyspace @write @slow @dangerous")
def migrate(client: Client, argv: list[bytes]) -> bytes:
    req = parse_migrate(argv)
    db = client.db
    server = client.server
    limits = limits_from_config(server.config, compress=False)
    items: list[KeyToSend] = []
    for key in req.keys:
        meta = db.get_meta(key)
        if meta is None:
            continue  # missing keys are skipped; none at all is NOKEY
        try:
            payload = dump_live_key(db, key, meta, limits)
        except MissingTypeSupport as exc:
            raise CommandError(f"ERR {exc}") from None
        items.append(KeyToSend(key, payload, expire_at(meta)))
    if not items:
        propagate_as(client)
        return b"+NOKEY\r\n"
    engine = engine_of(server)
    result = engine.run(req, items, cluster_mode=server.cluster is not None)
    _schedule_sweep(server, engine)
    # Time passed while we waited for the target.
    server.clock.refresh()
    if not req.copy:
        for key in result.acked:
            if db.delete(key):
                db.notify(GENERIC, b"del", key)
    # Replicas must not run MIGRATE: they only lose the keys the target acknowledged
    # (the reply may still be an error for later keys), and nothing with COPY.
    if result.acked and not req.copy:
        propagate_as(client, [b"DEL", *result.acked])
    else:
        propagate_as(client)
    return result.reply
