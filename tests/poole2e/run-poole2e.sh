#!/usr/bin/env bash
# End to end through the pool (issue 6): `tfuse pool serve`, two `tfuse node --backend soft
# --pool` nodes, and `tfuse run --pool` running CUDA programs on vGPUs the pool placed.
#
#   run-poole2e.sh BUILD_DIR SOURCE_DIR
#
# Checks: both nodes, started before the pool, register once it answers and stay healthy; a program runs on a 256 MiB / 20% vGPU and sees
# its limit; the allocation and the node's vGPU are gone afterwards; two concurrent runs land on
# two nodes with LowLoadFirst and on one with CompactFirst; a killed node goes unhealthy at the
# pool while the other stays healthy. Everything started is killed on every exit path.
# Credentials (issue 19): the nodes join with the join token and keep the credential the pool
# gives them in --state (0600); the runs present a tenant's token (TFUSE_POOL_TOKEN), the
# checks the admin's; nothing without a credential gets in.
set -u

build=$1
tfuse=$build/bin/tfuse
iso=$build/tests/isolation/prog_iso
vadd=$build/tests/cuda/vadd
work=$(mktemp -d "${TMPDIR:-/tmp}/poole2e.XXXXXX")
pids=()
MiB=$((1 << 20))
. "$(dirname "$0")/../lib/timeouts.sh"

stop_all() {   # SIGTERM (a clean exit, where sanitizers report), SIGKILL after 3 s
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do
        for _ in $(seq "$(scaled 30)"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
}
cleanup() {
    stop_all
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "FAIL: $*" >&2
    for f in pool node-a node-b; do
        echo "--- $f log" >&2
        tail -20 "$work/$f.log" >&2 2>/dev/null
    done
    exit 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

get() { curl -sf --max-time "$(scaled 5)" -H "Authorization: Bearer $admin" "$url$1"; }

# wait_for SECONDS WHAT CMD...: polls CMD until it succeeds, for SECONDS (scaled).
wait_for() {
    local secs=$1 what=$2
    shift 2
    wait_until "$secs" "$@" || fail "timed out waiting for $what"
}

healthy_count() { get /api/v1/nodes | jq '[.nodes[] | select(.healthy)] | length'; }
nodes_healthy() { [ "$(healthy_count)" = "$1" ]; }
node_health() { get "/api/v1/nodes/$1" | jq -r .healthy; }
live_allocs() {
    get /api/v1/allocations | jq '[.allocations[] | select(.status != "released")] | length'
}
allocs_are() { [ "$(live_allocs)" = "$1" ]; }
node_vgpus() {   # node_vgpus PORT [STATE]: how many vGPUs the node lists (in STATE)
    curl -sf --max-time "$(scaled 5)" "http://127.0.0.1:$1/api/v1/vgpus" |
        jq --arg st "${2:-}" '[.vgpus[] | select($st == "" or .state == $st)] | length'
}
# A deleted vGPU is listed as "deleting" until its session's worker has exited and been reaped.
nodes_empty() { [ "$(node_vgpus "$port_a")" = 0 ] && [ "$(node_vgpus "$port_b")" = 0 ]; }

start_node() {   # start_node NAME API_PORT
    "$tfuse" node --backend soft --listen "unix:$work/$1.sock" --api "tcp:127.0.0.1:$2" \
        --pool "$url" --node-name "$1" --heartbeat-interval 0.3 \
        --pool-join-token-file "$work/join.token" --state "$work/$1.state" >"$work/$1.log" 2>&1 &
    pids+=($!)
    eval "pid_${1//-/_}=$!"
}

# The join token the nodes present (the pool reads it; without the file it would make one).
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/join.token")
# ---- two nodes, then the pool: the nodes keep retrying until it answers
port_pool=$(free_port)
url=http://127.0.0.1:$port_pool
port_a=$(free_port)
port_b=$(free_port)
# node-a's softgpu has 27 SMs: its rating must be the one its driver's SM count gives.
SOFTGPU_SMS=27 start_node node-a "$port_a"
# node-b is a machine of its own: softgpu folds SOFTGPU_NAMESPACE into its GPU uuids, and the
# pool refuses a uuid another live node registered.
SOFTGPU_NAMESPACE="${SOFTGPU_NAMESPACE:-poole2e}-b" start_node node-b "$port_b"
sleep 0.5
"$tfuse" pool serve --listen "127.0.0.1:$port_pool" --db "$work/pool.db" --join-token-file "$work/join.token" \
    --heartbeat-timeout "$(scaled 3)" --ready-file "$work/pool.url" >"$work/pool.log" 2>&1 &
pids+=($!)
wait_for 10 "the pool to listen" test -s "$work/pool.url"
[ "$(head -1 "$work/pool.url")" = "$url" ] || fail "the pool listens on $(cat "$work/pool.url")"
admin=$(cat "$work/pool.db.admin-token")
wait_for 15 "both nodes healthy at the pool" nodes_healthy 2
for n in node-a node-b; do
    [ "$(stat -c %a "$work/$n.state/pool-credential")" = 600 ] || fail "$n's credential file"
done
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
[ "$(status "$url/api/v1/allocations")" = 401 ] || fail "the pool answers without a credential"
rogue='{"name":"rogue","address":"http://127.0.0.1:9","devices":[]}'
[ "$(status -X POST -d "$rogue" "$url/api/v1/nodes")" = 401 ] || fail "a rogue node registered"
TFUSE_POOL_TOKEN=$("$tfuse" pool tenant create e2e --pool "$url" \
    --token-file "$work/pool.db.admin-token" | tail -1) || fail "tenant create"
export TFUSE_POOL_TOKEN
model=$(get /api/v1/nodes/node-a | jq -r '.devices[0].model')
tflops=$(get /api/v1/nodes/node-a | jq -r '.devices[0].tflops_fp16')
addr=$(get /api/v1/nodes/node-a | jq -r .address)
[ "$addr" = "http://127.0.0.1:$port_a" ] || fail "node-a registered address $addr"
# 312 dense FP16 TFLOPs over the A100's 108 SMs, times 27
awk -v t="$tflops" 'BEGIN { exit !(t > 77.99 && t < 78.01) }' ||
    fail "node-a's 27-SM softgpu is rated $tflops TFLOPs, not 78"
echo "pool $url; nodes registered (model $model, $tflops TFLOPs)"

# ---- one program through the pool
out=$(timeout $T60 "$tfuse" run --pool "$url" --vram 256MiB --compute 20% --tenant e2e \
      -- "$iso" meminfo 2>"$work/run1.err") || fail "tfuse run --pool failed: $out $(cat "$work/run1.err")"
echo "meminfo: $out"
total=$(echo "$out" | awk '{ print $4 }')
[ "$total" = $((256 * MiB)) ] || fail "the program saw $total bytes, not the vGPU's 256 MiB"
if [ -x "$vadd" ]; then
    # A sanitizer-built stub needs its runtimes loaded before the uninstrumented nvcc program
    # (as tests/cuda/run-cuda-test does); cudart's own leaks are not ours to report.
    san=$(ldd "$build/lib/tfuse/libcuda.so.1" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ {print $3}' | paste -sd: -)
    out=$(LD_PRELOAD="$san${LD_PRELOAD:+:$LD_PRELOAD}" \
          ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
          timeout $T60 "$tfuse" run --pool "$url" --vram 256MiB --compute 20% --tenant e2e \
          -- "$vadd" 2>"$work/run2.err") || fail "vadd through the pool: $out $(cat "$work/run2.err")"
    [ "$out" = "vadd: OK 1048576 elements" ] || fail "vadd printed '$out'"
    echo "$out"
else
    echo "note: $vadd not built (no nvcc): the driver-API program alone ran"
fi
allocs_are 0 || fail "allocations left after the runs: $(get /api/v1/allocations)"
[ "$(node_vgpus "$port_a" live)" = 0 ] && [ "$(node_vgpus "$port_b" live)" = 0 ] ||
    fail "a node still holds live vGPUs after the runs"
wait_for 10 "the nodes to free the deleted vGPUs" nodes_empty

# ---- the program's exit status comes back, and a failed program releases too
timeout $T60 "$tfuse" run --pool "$url" --vram 64MiB --compute 10% --tenant e2e \
    -- sh -c 'exit 7' 2>/dev/null
rc=$?
[ "$rc" = 7 ] || fail "exit status $rc, not the program's 7"
allocs_are 0 || fail "a failed program's allocation was not released"
# SIGTERM to `tfuse run` reaches the program, and the allocation is still released.
"$tfuse" run --pool "$url" --vram 64MiB --compute 10% --tenant e2e -- sleep 30 2>/dev/null &
run_pid=$!
pids+=($run_pid)
wait_for 10 "the sleeping program's allocation" allocs_are 1
# the program runs (a fixed pause lost the race on a busy machine): SIGTERM must reach it
wait_for 10 "the sleeping program to start" pgrep -x -P "$run_pid" sleep
kill -TERM "$run_pid"
wait "$run_pid"
rc=$?
[ "$rc" = 143 ] || fail "a run terminated by SIGTERM exited with $rc, not 143"
allocs_are 0 || fail "a terminated run's allocation was not released"

# ---- two concurrent runs: where they land is the strategy's choice
concurrent() {   # concurrent STRATEGY -> sets got to the two nodes, sorted
    local s=$1 n1 n2
    for i in 1 2; do
        timeout $T60 "$tfuse" run --pool "$url" --vram 128MiB --compute 20% --tenant e2e \
            --strategy "$s" -- sh -c '"$0" meminfo >/dev/null && sleep 2' "$iso" \
            2>"$work/c$i.err" &
        pids+=($!)
        eval "cpid$i=$!"
        wait_for 20 "allocation $i ($s)" allocs_are "$i"
    done
    wait "$cpid1" || fail "concurrent run 1 ($s): $(cat "$work/c1.err")"
    wait "$cpid2" || fail "concurrent run 2 ($s): $(cat "$work/c2.err")"
    n1=$(sed -n 's/.*allocation .* on node \([^ ]*\) .*/\1/p' "$work/c1.err")
    n2=$(sed -n 's/.*allocation .* on node \([^ ]*\) .*/\1/p' "$work/c2.err")
    echo "$s: $n1 $n2"
    got=$(printf '%s\n%s\n' "$n1" "$n2" | sort | tr '\n' ' ')
}
concurrent LowLoadFirst
[ "$got" = "node-a node-b " ] || fail "LowLoadFirst put two runs on '$got', not one per node"
wait_for 10 "LowLoadFirst runs released" allocs_are 0
concurrent CompactFirst
[ "$got" = "node-a node-a " ] || [ "$got" = "node-b node-b " ] ||
    fail "CompactFirst spread two runs over '$got' instead of packing one GPU"
wait_for 10 "CompactFirst runs released" allocs_are 0

# ---- a node that dies goes unhealthy, the other stays healthy
kill -KILL "$pid_node_b"
wait "$pid_node_b" 2>/dev/null   # (reaped here: no "Killed" job notice)
is_unhealthy() { [ "$(node_health node-b)" = false ]; }
wait_for 10 "node-b to be marked unhealthy" is_unhealthy
[ "$(node_health node-a)" = true ] || fail "node-a went unhealthy too"
# No placement on the dead node: a run still works, on node-a.
timeout $T60 "$tfuse" run --pool "$url" --vram 64MiB --compute 10% --tenant e2e \
    -- "$iso" meminfo >/dev/null 2>"$work/run3.err" || fail "run after node-b died: $(cat "$work/run3.err")"
grep -q "on node node-a" "$work/run3.err" || fail "placed on a dead node: $(cat "$work/run3.err")"
# Sanitizer builds: the pool, the nodes and every `tfuse run` must have stopped without a report.
stop_all
if grep -l "Sanitizer" "$work"/*.log "$work"/*.err; then
    grep -h -A20 "Sanitizer" "$work"/*.log "$work"/*.err | head -60 >&2
    fail "a sanitizer report (above)"
fi
echo "PASS"
