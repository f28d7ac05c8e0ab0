"""AiKv: a Redis-compatible key-value server whose data lives in LMDB and whose cluster
mode speaks the Redis Cluster 7.0 bus protocol byte for byte.

A tour of the package, in the order a request travels:

- `cli.py`        the `aikv-server` entry point: flags, optional redis.conf-style file.
- `config.py`     one typed configuration object (CONFIG GET/SET/REWRITE use it).
- `server.py`     listener, the event-loop tick (group commit, then replies), dispatcher.
- `client.py`     one connection: framing, reply buffering, per-client state.
- `protocol.py`   RESP request framing (multibulk and inline) with Redis's error texts.
- `resp.py`       RESP2/RESP3 reply encoding.
- `commands/`     one module per command family, all registered in `registry.py`
                  with name, arity, flags and key positions.
- `keyspace.py`   typed access to keys: lazy expiry, WRONGTYPE, counters, WATCH signal.
- `persist/`      `store.py` the LMDB environment and group commit; `layout.py` key and
                  value encodings; `nodesconf.py` Redis-compatible nodes.conf.
- `cluster/`      `slots.py` CRC16 and hash tags; `state.py` what this node believes about
                  the cluster (pure); routing decisions (MOVED/ASK/...); `election.py`
                  failover votes and elections (pure).
- `bus/`          the cluster bus: `wire.py` message codec (pure), links and gossip;
                  `failover.py` carries out votes, elections and CLUSTER FAILOVER.
- `migrate/`      `rdb.py` DUMP/RESTORE payloads; MIGRATE.
- `pause.py`      client pauses by purpose (CLIENT PAUSE, a failover's), pure.
- `replica.py`    this node as a replica: the link to its master, PSYNC, the stream.
- `replication/`  this node as a master: `propagate.py` what commands send, `source.py`
                  replicas, SYNC/PSYNC, WAIT; `backlog.py` the stream's last bytes
                  (pure); `snapshot.py` the RDB file; `failover.py` FAILOVER.
"""

__version__ = "0.1.0"
# The Redis version AiKv behaves like; INFO reports it as redis_version so clients and
# redis-cli enable the same features they would for a real 7.0 server.
REDIS_VERSION = "7.0.15"
