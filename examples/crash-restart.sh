#!/usr/bin/env bash
# Crash and restart: write keys with appendfsync always, kill -9 a node of a
# three-master cluster, show the others flag it `fail`, restart it from its --dir and
# show it comes back with the same id, slots and every acknowledged key.
set -euo pipefail
cd "$(dirname "$0")/.."
source examples/lib.sh
trap stop_nodes EXIT

ports=($BASE_PORT $((BASE_PORT + 1)) $((BASE_PORT + 2)))
for port in "${ports[@]}"; do
    start_node "$port" --cluster-enabled yes --cluster-node-timeout 2000 --appendfsync always
done
redis-cli --cluster create 127.0.0.1:${ports[0]} 127.0.0.1:${ports[1]} 127.0.0.1:${ports[2]} \
    --cluster-yes >/dev/null
wait_cluster_ok "${ports[@]}"

victim=${ports[2]}
id_before=$(redis-cli -p "$victim" cluster myid)
echo "== writing 1000 keys through the cluster"
for i in $(seq 1 1000); do echo "SET key:$i value:$i"; done | redis-cli -c -p "${ports[0]}" >/dev/null
# redis-cli -c follows MOVED one command at a time; count what landed on the victim.
keys_before=$(redis-cli -p "$victim" dbsize)
echo "node $victim holds $keys_before keys; killing it with SIGKILL"
victim_pid=${PIDS[2]}
kill -9 "$victim_pid"; wait "$victim_pid" 2>/dev/null || true

echo "== waiting for the survivors to flag it fail"
deadline=$((SECONDS + 30))
until redis-cli -p "${ports[0]}" cluster nodes | grep "$id_before" | grep -q ' master,fail '; do
    [ $SECONDS -lt $deadline ] || { echo "not flagged fail" >&2; exit 1; }
    sleep 0.2
done
redis-cli -p "${ports[0]}" cluster info | grep cluster_state

echo "== restarting it from its directory"
$AIKV --port "$victim" --dir "$WORK/$victim" --logfile "$WORK/$victim.log" \
    --cluster-enabled yes --cluster-node-timeout 2000 --appendfsync always &
PIDS[2]=$!
wait_for_port "$victim"
wait_cluster_ok "${ports[@]}"
id_after=$(redis-cli -p "$victim" cluster myid)
keys_after=$(redis-cli -p "$victim" dbsize)
echo "id before $id_before, after $id_after; keys before $keys_before, after $keys_after"
[ "$id_before" = "$id_after" ] && [ "$keys_before" = "$keys_after" ]
for i in 1 500 1000; do redis-cli -c -p "${ports[0]}" get key:$i; done
echo "OK: same node id, same keys, cluster_state ok"
