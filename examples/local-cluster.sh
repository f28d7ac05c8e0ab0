#!/usr/bin/env bash
# A local six-node AiKv cluster built with the stock redis-cli: three masters with
# `--cluster create`, then three more joined as (empty) masters with `--cluster add-node`,
# then `--cluster rebalance --cluster-use-empty-masters` spreads the slots over all six.
#
#   examples/local-cluster.sh           # build it, check it, stop it
#   KEEP=1 examples/local-cluster.sh    # leave the nodes running (ports 7100-7105)
set -euo pipefail
cd "$(dirname "$0")/.."
source examples/lib.sh
[ "${KEEP:-0}" = 1 ] || trap stop_nodes EXIT

ports=()
for i in 0 1 2 3 4 5; do ports+=($((BASE_PORT + i))); done
for port in "${ports[@]}"; do
    start_node "$port" --cluster-enabled yes --cluster-node-timeout 2000
done

echo "== creating a cluster of three masters"
redis-cli --cluster create 127.0.0.1:${ports[0]} 127.0.0.1:${ports[1]} 127.0.0.1:${ports[2]} \
    --cluster-yes
members=("${ports[@]:0:3}")
for port in "${ports[@]:3}"; do
    # add-node refuses to run while the nodes disagree, so let gossip spread the previous
    # addition to every member first (the same is true of a real Redis cluster).
    wait_agree "${members[@]}"
    echo "== adding 127.0.0.1:$port as a master"
    redis-cli --cluster add-node 127.0.0.1:$port 127.0.0.1:${ports[0]}
    members+=("$port")
done
wait_cluster_ok "${ports[@]}"
wait_agree "${ports[@]}"
echo "== spreading the slots over all six masters"
redis-cli --cluster rebalance 127.0.0.1:${ports[0]} --cluster-use-empty-masters \
    --cluster-yes
redis-cli --cluster check 127.0.0.1:${ports[0]}
echo "== a key set through one node, read through another"
redis-cli -c -p "${ports[0]}" set greeting "hello from a six-node AiKv cluster"
redis-cli -c -p "${ports[5]}" get greeting
echo "nodes: ${ports[*]} (data and logs in $WORK)"
