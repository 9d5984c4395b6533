# Shared by the pool's shell end-to-end tests (tests/poole2e/run-poolrecon.sh,
# run-poolresize.sh, run-poolauto.sh): a scratch folder, a pool started on a free port with a
# join token, its API called as a credential (call, expect), and the stop of everything
# started on every exit path. Source it after setting $tfuse; it sets
# $work, $pids, $port_pool, $url and (after start_pool) $pid_pool; fail() prints the tails of
# the logs named in $logs (default: pool pool2 node).
#   . "$src/tests/lib/pool-harness.sh" PREFIX
work=$(mktemp -d "${TMPDIR:-/tmp}/${1:-pool-test}.XXXXXX")
pids=()
MiB=$((1 << 20))
logs=${logs:-pool pool2 node}
. "${BASH_SOURCE[0]%/*}/timeouts.sh"

stop_pid() {   # SIGTERM (a clean exit, where sanitizers report), SIGKILL after 3 s
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq "$(scaled 30)"); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    for p in "${pids[@]}"; do stop_pid "$p"; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "FAIL: $*" >&2
    for f in $logs; do
        echo "--- $f log" >&2
        tail -20 "$work/$f.log" >&2 2>/dev/null
    done
    exit 1
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
start_pool() {   # start_pool LOGNAME [SERVE OPTIONS]: the pool on $port_pool, $work/pool.db
    local log=$1
    shift
    rm -f "$work/pool.url"
    "$tfuse" pool serve --listen "127.0.0.1:$port_pool" --db "$work/pool.db" \
        --join-token-file "$work/join.token" --heartbeat-timeout "$(scaled 3)" \
        --ready-file "$work/pool.url" "$@" >"$work/$log.log" 2>&1 &
    pid_pool=$!
    pids+=($pid_pool)
    wait_until 10 test -s "$work/pool.url" || fail "the pool did not listen"
}
# The pool's API as TOKEN: call TOKEN METHOD PATH [BODY] -> "STATUS BODY"
call() {
    local out
    out=$(curl -s --max-time "$(scaled 20)" -H "Authorization: Bearer $1" -X "$2" \
          -w '\n%{http_code}' ${4:+-H 'Content-Type: application/json' --data-binary "$4"} \
          "$url$3")
    echo "$(echo "$out" | tail -1) $(echo "$out" | sed '$d')"
}
expect() {   # expect STATUS TOKEN METHOD PATH [BODY] -> the body
    local want=$1 r
    shift
    r=$(call "$@")
    [ "${r%% *}" = "$want" ] || fail "$2 $3 ${4:-} answered $r, expected $want"
    echo "${r#* }"
}
# A softgpu node of the pool (heartbeat every 0.2 s, API on a free $port_node): start_node
# NAME; healthy: the pool says it is; nvgpu ID FIELD: a vGPU as the node shows it.
port_node=$(free_port)
start_node() {
    node_name=$1
    "$tfuse" node --backend soft --listen "unix:$work/node.sock" \
        --api "tcp:127.0.0.1:$port_node" --pool "$url" --node-name "$1" \
        --heartbeat-interval 0.2 --pool-join-token-file "$work/join.token" \
        --state "$work/node.state" >"$work/node.log" 2>&1 &
    pids+=($!)
}
healthy() {
    [ "$(call "$admin" GET "/api/v1/nodes/$node_name" | cut -d' ' -f2- | jq -r .healthy)" = true ]
}
nvgpu() {
    curl -sf --max-time "$(scaled 5)" "http://127.0.0.1:$port_node/api/v1/vgpus/$1" | jq -r ".$2"
}
# Stops everything started and fails on a sanitizer report in a log.
finish_clean() {
    for p in "${pids[@]}"; do stop_pid "$p"; done
    pids=()
    if grep -l "Sanitizer" "$work"/*.log; then
        grep -h -A20 "Sanitizer" "$work"/*.log | head -60 >&2
        fail "a sanitizer report (above)"
    fi
}

(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/join.token")
port_pool=$(free_port)
url=http://127.0.0.1:$port_pool
