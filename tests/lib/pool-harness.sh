# Shared by the pool's shell end-to-end tests (tests/poole2e/run-poolrecon.sh,
# run-poolresize.sh): a scratch folder, a pool started on a free port with a join token, and
# the stop of everything started on every exit path. Source it after setting $tfuse; it sets
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
start_pool() {   # start_pool LOGNAME: the pool on $port_pool with $work/pool.db
    rm -f "$work/pool.url"
    "$tfuse" pool serve --listen "127.0.0.1:$port_pool" --db "$work/pool.db" \
        --join-token-file "$work/join.token" --heartbeat-timeout "$(scaled 3)" \
        --ready-file "$work/pool.url" >"$work/$1.log" 2>&1 &
    pid_pool=$!
    pids+=($pid_pool)
    wait_until 10 test -s "$work/pool.url" || fail "the pool did not listen"
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
