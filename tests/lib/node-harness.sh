# Shared by the shell end-to-end tests that drive a real `tfuse node --api` on softgpu
# (tests/isolation, tests/multigpu): a scratch folder, the node's start and stop, HTTP to its
# unix API socket. Source it after setting $tfuse; it sets $work, $api, $sess, $node_pid and
# $pids (programs to kill on exit) and stops everything it started on every exit path.
#   . "$src/tests/lib/node-harness.sh" PREFIX
work=$(mktemp -d "${TMPDIR:-/tmp}/${1:-node-test}.XXXXXX")
api=unix:$work/api.sock
sess=unix:$work/s.sock
node_pid=
pids=()
MiB=$((1 << 20))
. "${BASH_SOURCE[0]%/*}/timeouts.sh"

cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ -n "$node_pid" ]; then
        kill -TERM "$node_pid" 2>/dev/null
        for _ in $(seq "$(scaled 30)"); do kill -0 "$node_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$node_pid" 2>/dev/null
    fi
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    echo "--- node log" >&2
    tail -30 "$work/node.log" >&2
    exit 1
}

# start_node [EXTRA NODE FLAGS...]: a softgpu node on $sess with its API on $api.
start_node() {
    "$tfuse" node --backend soft --listen "$sess" --api "$api" "$@" >"$work/node.log" 2>&1 &
    node_pid=$!
    for _ in $(seq "$(scaled 100)"); do
        [ -S "$work/api.sock" ] && [ -S "$work/s.sock" ] && return 0
        sleep 0.05
    done
    fail "node did not start"
}

# http METHOD PATH [BODY] -> prints "STATUS BODY"
http() {
    local out
    out=$(curl -s --unix-socket "$work/api.sock" -X "$1" -w '\n%{http_code}' \
          ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "http://node$2")
    echo "$(echo "$out" | tail -1) $(echo "$out" | sed '$d')"
}
