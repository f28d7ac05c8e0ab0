# Shared helpers for the example scripts: start AiKv nodes on loopback, wait for them,
# stop them on exit. Source it; set BASE_PORT and WORK first (both have defaults).

BASE_PORT=${BASE_PORT:-7100}
WORK=${WORK:-$(mktemp -d -t aikv-example.XXXXXX)}
AIKV=${AIKV:-aikv-server}
command -v "$AIKV" >/dev/null 2>&1 || AIKV="python3 -m aikv.cli"
PIDS=()

start_node() {  # start_node PORT [extra aikv-server args...]
    local port=$1; shift
    mkdir -p "$WORK/$port"
    $AIKV --port "$port" --dir "$WORK/$port" --logfile "$WORK/$port.log" "$@" &
    PIDS+=($!)
    wait_for_port "$port"
}

wait_for_port() {  # poll PING with a 20 s deadline
    local port=$1 deadline=$((SECONDS + 20))
    until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; do
        if [ $SECONDS -ge $deadline ]; then
            echo "node on port $port did not come up; log:" >&2
            tail -20 "$WORK/$port.log" >&2
            return 1
        fi
        sleep 0.1
    done
}

stop_nodes() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    PIDS=()
}

wait_cluster_ok() {  # wait until every given port reports cluster_state:ok
    local deadline=$((SECONDS + 30))
    for port in "$@"; do
        until redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; do
            if [ $SECONDS -ge $deadline ]; then echo "cluster not ok on $port" >&2; return 1; fi
            sleep 0.2
        done
    done
}

wait_agree() {  # wait_agree PORT...: every node knows all the others and all agree
    # `--cluster check` alone is not enough: it skips nodes its seed still lists as
    # handshake/disconnected, so it can "agree" before a just-added node has been heard
    # from. Require every given node to list all of them as connected first.
    local want=$# deadline=$((SECONDS + 30)) port
    for port in "$@"; do
        until [ "$(redis-cli -p "$port" cluster nodes 2>/dev/null \
                   | grep -v -E 'handshake|noaddr|fail' | grep -c ' connected')" = "$want" ]; do
            if [ $SECONDS -ge $deadline ]; then echo "node $port does not know all $want nodes" >&2; return 1; fi
            sleep 0.2
        done
    done
    until redis-cli --cluster check "127.0.0.1:$1" 2>/dev/null | grep -q "All nodes agree"; do
        if [ $SECONDS -ge $deadline ]; then echo "nodes do not agree" >&2; return 1; fi
        sleep 0.2
    done
}
