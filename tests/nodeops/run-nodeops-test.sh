#!/usr/bin/env bash
# The node daemon as an operator runs it (issue 5): a real `tfuse node` on softgpu, sessions
# through `tfuse run` with tests/isolation's prog_iso (a driver-API program).
#
#   run-nodeops-test.sh CASE BUILD_DIR
#
# CASE: env auto drain drainkill drainsecond reload token restart clash persist (see each
# function).
# Every node and program is stopped on every exit path.
set -u

case_name=$1 build=$2
tfuse=$build/bin/tfuse
prog=$build/tests/isolation/prog_iso
work=$(mktemp -d "${TMPDIR:-/tmp}/nodeops-test.XXXXXX")
sess_path=$work/s.sock
sess=unix:$sess_path
api_path=$work/api.sock
node_pid=
pids=()
export TFUSE_NODE_CONFIG=""   # never the machine's /etc/tfuse/node.conf
unset TFUSE_LOG TFUSE_NODE_TOKEN TFUSE_NODE_LISTEN TFUSE_NODE_API TFUSE_NODE_BACKEND
. "$(dirname "$0")/../lib/timeouts.sh"

cleanup() {
    for p in "${pids[@]}" $node_pid; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in "$work"/*.log; do echo "--- $f" >&2; tail -30 "$f" >&2; done
    exit 1
}

[ -x "$tfuse" ] || fail "$tfuse not built"
[ -x "$prog" ] || fail "$prog not built"

# A sanitizer-built stub needs its runtimes loaded before the uninstrumented program.
asan_libs=$(ldd "$build/lib/tfuse/libcuda.so.1" 2>/dev/null |
            awk '/lib(asan|ubsan)\.so/ {print $3}' | paste -sd: -)
run_client() {   # run_client ARGS... (prog_iso through tfuse run on the node)
    LD_PRELOAD="$asan_libs${LD_PRELOAD:+:$LD_PRELOAD}" \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        timeout $T60 "$tfuse" run --connect "$sess" -- "$prog" "$@"
}

start_node() {   # start_node LOGNAME ARGS... : waits for the session socket
    local log=$work/$1.log
    shift
    "$tfuse" node "$@" >"$log" 2>&1 &
    node_pid=$!
    for _ in $(seq "$(scaled 200)"); do
        kill -0 "$node_pid" 2>/dev/null || fail "node exited at start"
        grep -q "listening on" "$log" && return 0
        sleep 0.05
    done
    fail "node did not start"
}

wait_exit() {   # wait_exit PID SECONDS (scaled) -> the exit status, or fails the test
    local pid=$1 tenths=$(($(scaled "$2") * 10))
    for _ in $(seq "$tenths"); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "process $pid still running after $2 s"
    wait "$pid"
}

wait_log() {   # wait_log FILE REGEX SECONDS (scaled)
    wait_until "$3" grep -Eq "$2" "$1" || fail "no '$2' in $1 after $(scaled "$3") s"
}

wait_workers() {   # wait_workers N: the node has N worker children
    for _ in $(seq "$(scaled 400)"); do
        [ "$(pgrep -P "$node_pid" | wc -l)" -ge "$1" ] && return 0
        sleep 0.05
    done
    fail "the node never had $1 worker(s)"
}

# Configuration from the environment only: variables as in deploy/ and systemd.
case_env() {
    TFUSE_NODE_LISTEN="$sess" TFUSE_NODE_BACKEND=soft TFUSE_NODE_DRAIN_TIMEOUT=3 \
        TFUSE_LOG=debug TFUSE_NODE_STATE="$work/state" start_node node
    [ -S "$sess_path" ] || fail "no socket from \$TFUSE_NODE_LISTEN"
    [ -d "$work/state/modules" ] || fail "\$TFUSE_NODE_STATE not used"
    run_client meminfo >"$work/out" || fail "client failed"
    wait_log "$work/node.log" "node\[[0-9]+\] debug: worker [0-9]+ exited with 0" 10
    kill -TERM "$node_pid"
    wait_exit "$node_pid" 10 || fail "node exited with $?"
    node_pid=
    grep -q "waiting up to 3 s" "$work/node.log" || fail "\$TFUSE_NODE_DRAIN_TIMEOUT not used"
    # A bad value in the environment is an error that names the variable.
    TFUSE_NODE_DRAIN_TIMEOUT=soon "$tfuse" node --listen "$sess" 2>"$work/err" &&
        fail "a bad \$TFUSE_NODE_DRAIN_TIMEOUT was accepted"
    grep -q 'TFUSE_NODE_DRAIN_TIMEOUT' "$work/err" || fail "error does not name the variable"
    # `--help` names every option with its variable.
    "$tfuse" node --help >"$work/help" || fail "--help failed"
    for flag in config backend listen token state api api-token oversubscribe allow-unlimited \
                ctx-overhead pool node-name advertise heartbeat-interval drain-timeout \
                log-level log-syslog; do
        grep -q -- "--$flag[ ].*\\\$TFUSE" "$work/help" || fail "--help lacks --$flag"
    done
}

# --backend auto (the default): softgpu without an NVIDIA driver, and NVIDIA's library when one
# reports a device (played here by softgpu named through $TFUSE_NVIDIA_CUDA_LIB).
case_auto() {
    TFUSE_NVIDIA_CUDA_LIB=$work/no-such-libcuda.so.1 start_node auto1 --listen "$sess"
    grep -q "auto: softgpu, because .*no-such-libcuda.so.1 not loadable" "$work/auto1.log" ||
        fail "auto did not explain its fallback"
    grep -q "backend .*libtfuse-softgpu.so" "$work/auto1.log" || fail "auto did not pick softgpu"
    run_client meminfo >/dev/null || fail "client on auto/softgpu failed"
    kill -TERM "$node_pid"
    wait_exit "$node_pid" 10 || fail "node exited with $?"
    local lib
    lib=$(readlink -f "$build/lib/libtfuse-softgpu.so")
    TFUSE_NVIDIA_CUDA_LIB=$lib start_node auto2 --listen "$sess"
    grep -q "auto: NVIDIA driver, .*reports [1-9][0-9]* device" "$work/auto2.log" ||
        fail "auto did not take the driver that reports devices"
    run_client meminfo >/dev/null || fail "client on auto/driver failed"
    kill -TERM "$node_pid"
    wait_exit "$node_pid" 10 || fail "node exited with $?"
    node_pid=
}

# SIGTERM drains: a running session finishes, a new one is refused at once, /healthz says
# draining, the node exits 0.
case_drain() {
    start_node node --backend soft --listen "$sess" --drain-timeout 30 --api "unix:$api_path" \
        --allow-unlimited
    [ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$api_path" http://node/healthz)" = 200 ] ||
        fail "healthz is not 200 before the drain"
    run_client spin 3 200 >"$work/spin.out" 2>"$work/spin.err" &
    local spin=$!
    pids+=("$spin")
    wait_workers 1
    sleep 0.5
    kill -TERM "$node_pid"
    wait_log "$work/node.log" "draining: new sessions refused, 1 session\(s\) running" 5
    local t0=$SECONDS
    run_client meminfo >/dev/null 2>"$work/refused.err" && fail "a session was accepted while draining"
    [ $((SECONDS - t0)) -le "$(scaled 5)" ] ||
        fail "the refused client took $((SECONDS - t0)) s to fail (not refused at once)"
    grep -q "the node is draining" "$work/refused.err" ||
        fail "the refused client got no clear error: $(cat "$work/refused.err")"
    kill -0 "$node_pid" 2>/dev/null || fail "the node did not wait for its session"
    [ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$api_path" http://node/healthz)" = 503 ] ||
        fail "healthz does not say draining"
    wait_exit "$spin" 60 || fail "the running session failed during the drain ($(cat "$work/spin.err"))"
    grep -q "^launches [1-9]" "$work/spin.out" || fail "the running session printed no result"
    wait_exit "$node_pid" 10 || fail "node exited with $?"
    node_pid=
    grep -q "drained: 1 session(s) finished on their own, 0 stopped" "$work/node.log" ||
        fail "no drain summary"
}

# A session that does not finish in --drain-timeout is stopped; the node still exits 0.
case_drainkill() {
    start_node node --backend soft --listen "$sess" --drain-timeout 1
    run_client hold 1048576 >"$work/hold.out" 2>/dev/null &
    local hold=$!
    pids+=("$hold")
    wait_log "$work/hold.out" "held pid" 30
    kill -TERM "$node_pid"
    wait_exit "$node_pid" 10 || fail "node exited with $?"
    node_pid=
    grep -q "1 session(s) still running after the drain timeout: sending SIGTERM" \
        "$work/node.log" || fail "no timeout step in the log"
    grep -q "drained: 0 session(s) finished on their own, 1 stopped" "$work/node.log" ||
        fail "no drain summary"
    grep -Eq "worker [0-9]+ killed by signal 15" "$work/node.log" || fail "the worker was not stopped"
}

# A second SIGTERM skips the wait.
case_drainsecond() {
    start_node node --backend soft --listen "$sess" --drain-timeout 300
    run_client hold 1048576 >"$work/hold.out" 2>/dev/null &
    pids+=("$!")
    wait_log "$work/hold.out" "held pid" 30
    kill -TERM "$node_pid"
    wait_log "$work/node.log" "draining:" 5
    kill -TERM "$node_pid"
    wait_exit "$node_pid" 10 || fail "node exited with $?"
    node_pid=
    grep -q "still running after a second stop signal" "$work/node.log" ||
        fail "no second-signal step in the log"
}

# SIGHUP reloads the file: the log level changes at once, a restart-only change is named, and a
# file with an error is rejected whole.
case_reload() {
    local conf=$work/node.conf
    printf 'backend = soft\nlisten = %s\nlog-level = info\ndrain-timeout = 30\n' "$sess" >"$conf"
    start_node node --config "$conf"
    run_client meminfo >/dev/null || fail "client failed"
    sleep 0.5
    grep -q "debug:" "$work/node.log" && fail "debug lines at level info"
    printf 'backend = nvidia\nlisten = %s\nlog-level = debug\ndrain-timeout = 4\n' "$sess" >"$conf"
    kill -HUP "$node_pid"
    wait_log "$work/node.log" "reloaded the configuration from $conf: 2 option\(s\) changed, 1 need a restart" 5
    grep -q "reload: log-level = debug (was info)" "$work/node.log" || fail "level not reloaded"
    grep -q "reload: backend changed to 'nvidia' but needs a restart" "$work/node.log" ||
        fail "restart-only change not named"
    run_client meminfo >/dev/null || fail "client after reload failed (backend must not change)"
    wait_log "$work/node.log" "debug: worker [0-9]+ exited with 0" 10
    # A bad file: rejected whole, the level stays debug, the drain timeout stays 4.
    printf 'listen = %s\nlog-level = error\ndrain-timeout = soon\n' "$sess" >"$conf"
    kill -HUP "$node_pid"
    wait_log "$work/node.log" "reload rejected, the configuration in force stays: $conf:3: drain-timeout" 5
    local before
    before=$(grep -c "debug: worker" "$work/node.log")
    run_client meminfo >/dev/null || fail "client after the rejected reload failed"
    for _ in $(seq "$(scaled 100)"); do
        [ "$(grep -c "debug: worker" "$work/node.log")" -gt "$before" ] && break
        sleep 0.05
    done
    [ "$(grep -c "debug: worker" "$work/node.log")" -gt "$before" ] ||
        fail "the rejected file changed the log level"
    kill -TERM "$node_pid"
    wait_exit "$node_pid" 10 || fail "node exited with $?"
    node_pid=
    grep -q "waiting up to 4 s" "$work/node.log" || fail "reloaded drain timeout not in force"
}

# SIGHUP replaces the API's bearer token: the old one is refused at once, the new one works.
case_token() {
    local conf=$work/node.conf port code
    for try in 1 2 3 4 5; do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        printf 'backend = soft\nlisten = %s\napi = tcp:127.0.0.1:%s\napi-token = first\n' \
            "$sess" "$port" >"$conf"
        "$tfuse" node --config "$conf" >"$work/node.log" 2>&1 &
        node_pid=$!
        for _ in $(seq "$(scaled 100)"); do
            grep -q "listening on" "$work/node.log" && break
            kill -0 "$node_pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -0 "$node_pid" 2>/dev/null && break
        wait "$node_pid" 2>/dev/null
    done
    grep -q "listening on" "$work/node.log" || fail "node did not start"
    bearer() {
        curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
            "http://127.0.0.1:$port/api/v1/devices"
    }
    [ "$(bearer first)" = 200 ] || fail "the configured token is refused"
    [ "$(bearer second)" = 401 ] || fail "a wrong token is accepted"
    printf 'backend = soft\nlisten = %s\napi = tcp:127.0.0.1:%s\napi-token = second\n' \
        "$sess" "$port" >"$conf"
    kill -HUP "$node_pid"
    wait_log "$work/node.log" "reload: api-token = <new token>" 5
    grep -q "second" "$work/node.log" && fail "the token was written to the log"
    [ "$(bearer second)" = 200 ] || fail "the reloaded token is refused"
    [ "$(bearer first)" = 401 ] || fail "the old token still works"
    # (no exit status check: the API keeps replaced tokens alive on purpose, see api.h, which
    # LeakSanitizer would report; the drain cases check the clean exit)
}

# A node killed with SIGKILL (clients connected) starts again on the same paths: stale sockets
# replaced, its workers gone, nothing left in /dev/shm.
case_restart() {
    local shm_before
    shm_before=$(ls /dev/shm | grep -i tfuse | sort)
    start_node node1 --backend soft --listen "$sess" --api "unix:$api_path" --state "$work/st" \
        --allow-unlimited
    run_client hold 1048576 >"$work/hold.out" 2>/dev/null &
    local hold=$!
    pids+=("$hold")
    wait_log "$work/hold.out" "held pid" 30
    local workers
    workers=$(pgrep -P "$node_pid")
    [ -n "$workers" ] || fail "no worker"
    kill -KILL "$node_pid"
    wait "$node_pid" 2>/dev/null
    node_pid=
    for _ in $(seq "$(scaled 50)"); do
        alive=0
        for w in $workers; do kill -0 "$w" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    [ $alive = 0 ] && echo "workers of the killed node are gone" || fail "a worker outlived its node"
    # (the client sleeps in pause(): it learns of the dead node at its next call, never here)
    [ -S "$sess_path" ] && [ -S "$api_path" ] || fail "expected stale sockets to test with"
    start_node node2 --backend soft --listen "$sess" --api "unix:$api_path" --state "$work/st" \
        --allow-unlimited
    run_client meminfo >/dev/null || fail "client on the restarted node failed"
    curl -sf --unix-socket "$api_path" http://node/api/v1/devices >/dev/null ||
        fail "the restarted node's API does not answer"
    kill -TERM "$node_pid"
    wait_exit "$node_pid" 10 || fail "node exited with $?"
    node_pid=
    [ ! -e "$sess_path" ] || fail "session socket left after a clean stop"
    [ "$(ls /dev/shm | grep -i tfuse | sort)" = "$shm_before" ] || fail "/dev/shm leftovers"
}

# A second node on a live node's paths refuses, and the first keeps working.
case_clash() {
    start_node node1 --backend soft --listen "$sess" --api "unix:$api_path" --allow-unlimited
    local first=$node_pid
    "$tfuse" node --backend soft --listen "$sess" >"$work/second.log" 2>&1 &&
        fail "a second node took a live session socket"
    grep -q "in use by a running server" "$work/second.log" || fail "unclear refusal (session)"
    "$tfuse" node --backend soft --listen "unix:$work/other.sock" --api "unix:$api_path" \
        >"$work/third.log" 2>&1 && fail "a second node took a live API socket"
    grep -q "in use by a running server" "$work/third.log" || fail "unclear refusal (api)"
    [ ! -e "$work/other.sock" ] || fail "the refused node left its socket behind"
    run_client meminfo >/dev/null || fail "the first node stopped serving sessions"
    curl -sf --unix-socket "$api_path" http://node/api/v1/devices >/dev/null ||
        fail "the first node's API was taken"
    kill -TERM "$first"
    wait_exit "$first" 10 || fail "node exited with $?"
    node_pid=
}

http() {   # http METHOD PATH [BODY] -> prints "STATUS BODY" (the API on $api_path)
    local out
    out=$(curl -s --unix-socket "$api_path" -X "$1" -w '\n%{http_code}' \
          ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "http://node$2")
    echo "$(echo "$out" | tail -1) $(echo "$out" | sed '$d')"
}

# With --state, vGPUs (id, token, limits, idempotency key) survive a node killed with SIGKILL.
case_persist() {
    local args=(--backend soft --listen "$sess" --api "unix:$api_path" --state "$work/st")
    start_node node1 "${args[@]}"
    local dev r tok
    dev=$(http GET /api/v1/devices | cut -d' ' -f2- | jq -r '.devices[0].uuid')
    r=$(http POST /api/v1/vgpus "{\"device\":\"$dev\",\"vram_bytes\":268435456}")
    [ "${r%% *}" = 201 ] || fail "create answered $r"
    r=$(http POST /api/v1/vgpus "{\"device\":\"$dev\",\"vram_bytes\":134217728,\"compute_request_pct\":20,\"compute_limit_pct\":40,\"qos\":\"high\",\"idempotency_key\":\"alloc-7/0\"}")
    [ "${r%% *}" = 201 ] || fail "create answered $r"
    tok=$(echo "${r#* }" | jq -r .token)
    local id
    id=$(echo "${r#* }" | jq -r .id)
    r=$(http DELETE /api/v1/vgpus/vgpu-0)
    [ "${r%% *}" = 204 ] || fail "delete answered $r"
    [ "$(stat -c %a "$work/st/vgpus.json")" = 600 ] || fail "vgpus.json is not mode 0600"
    kill -KILL "$node_pid"
    wait "$node_pid" 2>/dev/null
    start_node node2 "${args[@]}"
    grep -q "restored 1 vGPU(s)" "$work/node2.log" || fail "nothing restored"
    r=$(http GET /api/v1/vgpus | cut -d' ' -f2-)
    [ "$(echo "$r" | jq -r '.vgpus | length')" = 1 ] || fail "expected 1 vGPU, got $r"
    [ "$(echo "$r" | jq -r '.vgpus[0].id')" = "$id" ] || fail "the id changed: $r"
    [ "$(echo "$r" | jq -r '.vgpus[0].vram_bytes')" = 134217728 ] || fail "the limit changed"
    [ "$(echo "$r" | jq -r '.vgpus[0].qos')" = high ] || fail "the qos changed"
    [ "$(echo "$r" | jq -r '.vgpus[0].compute_limit_pct')" = 40 ] || fail "the compute limit changed: $r"
    local out
    out=$(LD_PRELOAD="$asan_libs${LD_PRELOAD:+:$LD_PRELOAD}" \
          ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
          timeout $T60 "$tfuse" run --connect "$sess" --vgpu "$tok" -- "$prog" meminfo) ||
        fail "the saved token no longer works"
    echo "$out" | grep -q " total 134217728 " || fail "the restored vGPU's view: $out"
    r=$(http POST /api/v1/vgpus "{\"device\":\"$dev\",\"vram_bytes\":134217728,\"idempotency_key\":\"alloc-7/0\"}")
    [ "${r%% *}" = 200 ] && [ "$(echo "${r#* }" | jq -r .id)" = "$id" ] ||
        fail "the idempotency key was forgotten: $r"
    r=$(http POST /api/v1/vgpus "{\"device\":\"$dev\",\"vram_bytes\":67108864}")
    [ "${r%% *}" = 201 ] || fail "a new create after the restore answered $r"
    kill -TERM "$node_pid"
    wait_exit "$node_pid" 10 || fail "node exited with $?"
    node_pid=
    [ "$(jq '.vgpus | length' "$work/st/vgpus.json")" = 2 ] || fail "the new vGPU was not saved"
    echo '{"version": 1, "vgpus": [' >"$work/st/vgpus.json"
    "$tfuse" node "${args[@]}" >"$work/bad.log" 2>&1 && fail "a corrupt vgpus.json was ignored"
    grep -q "vgpus.json" "$work/bad.log" || fail "unclear error for a corrupt vgpus.json"
}

"case_$case_name" || exit 1
echo "ok: $case_name"
