#!/usr/bin/env bash
# End-to-end multi-GPU tests (issue 4: one process on several vGPUs, seen as devices 0..N-1): a
# real `tfuse node --api` on a 2-device softgpu, vGPUs created over HTTP or by
# `tfuse run --gpus N`, programs run through the stub.
#
#   run-multigpu-test.sh CASE BUILD_DIR SOURCE_DIR
#
# CASE: driver join killed toomany refused ids cudart pool (see each function).
# The node and every program are stopped on every exit path.
set -u

case_name=$1 build=$2 src=$3
tfuse=$build/bin/tfuse
prog=$build/tests/multigpu/prog_multi
. "$src/tests/lib/node-harness.sh" multigpu-test
OVERHEAD=$((32 * MiB))   # the node's default --ctx-overhead, charged on each vGPU
export SOFTGPU_DEVICES=2 SOFTGPU_MEMORY=1GiB

create() {   # create BODY -> prints the token; fails the test unless 201
    local r
    r=$(http POST /api/v1/vgpus "$1")
    [ "${r%% *}" = 201 ] || fail "create $1 answered $r"
    echo "${r#* }" | jq -r .token
}

vgpus() { http GET /api/v1/vgpus | cut -d' ' -f2-; }
vgpu_field() { vgpus | jq -r ".vgpus[] | select(.id == \"$1\") | .$2"; }
vgpu_count() { vgpus | jq '.vgpus | length'; }
# A program's worker detaches (and a deleted vGPU leaves the list) a moment after the program
# exits: poll up to 5 s (scaled). settle_count N; settle_used ID...
settle_count() {
    for _ in $(seq "$(scaled 100)"); do [ "$(vgpu_count)" = "$1" ] && return 0; sleep 0.05; done
    return 1
}
settle_used() {
    local id
    for _ in $(seq "$(scaled 100)"); do
        for id in "$@"; do
            [ "$(vgpu_field "$id" used_bytes)" = 0 ] || { sleep 0.05; continue 2; }
        done
        return 0
    done
    return 1
}

# Two vGPUs with different limits: "hi" (160 MiB) on device 1, "lo" (96 MiB) on device 0.
make_pair() {
    HI=$(create "{\"vram_bytes\": $((160 * MiB)), \"id\": \"hi\", \"device\": 1}")
    LO=$(create "{\"vram_bytes\": $((96 * MiB)), \"id\": \"lo\", \"device\": 0}")
    [ "$(vgpu_field hi device_index)" = 1 ] && [ "$(vgpu_field lo device_index)" = 0 ] ||
        fail "vGPUs not on the devices asked: $(vgpus)"
}

run_tokens() {   # run_tokens TOKENS PROGRAM ARGS...
    local tok=$1
    shift
    timeout $T60 "$tfuse" run --connect "$sess" --vgpu "$tok" -- "$@"
}

# tfuse run --gpus 2: two ephemeral vGPUs on the two devices, deleted afterwards.
case_driver() {
    start_node
    local out
    out=$(timeout $T60 "$tfuse" run --api "$api" --vram 96MiB --gpus 2 -- \
          "$prog" check $OVERHEAD $((96 * MiB)) $((96 * MiB)) 2>&1) || fail "$out"
    echo "$out"
    echo "$out" | grep -q '^ok$' || fail "$out"
    settle_count 0 || fail "vGPUs left behind: $(vgpus)"
}

# --vgpu T1,T2 joins existing vGPUs: the session's device i is the device of the i-th token, with
# that vGPU's limit (here device 0 = physical 1 with 160 MiB, device 1 = physical 0 with 96 MiB).
case_join() {
    start_node
    make_pair
    local out
    out=$(run_tokens "$HI,$LO" "$prog" check $OVERHEAD $((160 * MiB)) $((96 * MiB)) 2>&1) ||
        fail "$out"
    echo "$out"
    echo "$out" | grep -q '^ok$' || fail "$out"
    settle_used hi lo || fail "memory not refunded: $(vgpus)"
    # one vGPU on device 1 alone: the session's device 0
    out=$(run_tokens "$HI" "$prog" check $OVERHEAD $((160 * MiB)) 2>&1) || fail "alone: $out"
    echo "$out" | grep -q '^ok$' || fail "alone: $out"
    settle_used hi lo || fail "memory not refunded: $(vgpus)"
}

# While a program holds memory on both devices, the node's list shows it on both vGPUs; killing
# the program refunds both.
case_killed() {
    start_node
    make_pair
    run_tokens "$HI,$LO" "$prog" hold $((100 * MiB)) $((40 * MiB)) >"$work/a" 2>&1 &
    pids+=($!)
    for _ in $(seq "$(scaled 200)"); do grep -q held "$work/a" && break; sleep 0.05; done
    grep -q held "$work/a" || fail "hold: $(cat "$work/a")"
    [ "$(vgpu_field hi used_bytes)" = $((OVERHEAD + 100 * MiB)) ] ||
        fail "device 1's vGPU not charged: $(vgpus)"
    [ "$(vgpu_field lo used_bytes)" = $((OVERHEAD + 40 * MiB)) ] ||
        fail "device 0's vGPU not charged: $(vgpus)"
    echo "held: hi $(vgpu_field hi used_bytes) lo $(vgpu_field lo used_bytes)"
    kill -KILL "$(sed -n 's/^held pid //p' "$work/a")"
    for _ in $(seq "$(scaled 100)"); do
        [ "$(vgpu_field hi used_bytes)" = 0 ] && [ "$(vgpu_field lo used_bytes)" = 0 ] && break
        sleep 0.05
    done
    [ "$(vgpu_field hi used_bytes)" = 0 ] && [ "$(vgpu_field lo used_bytes)" = 0 ] ||
        fail "the kill did not refund both: $(vgpus)"
    echo "killed: both refunded"
    # A session charges a vGPU's context overhead only once it opens a context on that device:
    # holding memory on device 0 alone leaves device 1's vGPU untouched.
    run_tokens "$HI,$LO" "$prog" hold $((30 * MiB)) >"$work/b" 2>&1 &
    pids+=($!)
    for _ in $(seq "$(scaled 200)"); do grep -q held "$work/b" && break; sleep 0.05; done
    grep -q held "$work/b" || fail "hold: $(cat "$work/b")"
    [ "$(vgpu_field hi used_bytes)" = $((OVERHEAD + 30 * MiB)) ] ||
        fail "device 0's vGPU not charged: $(vgpus)"
    [ "$(vgpu_field lo used_bytes)" = 0 ] || fail "an unused device was charged: $(vgpus)"
    echo "one device used: hi $(vgpu_field hi used_bytes) lo $(vgpu_field lo used_bytes)"
}

# --gpus 3 on a 2-device node, and --gpus 2 when one device has no room: clear errors, no vGPU
# left behind.
case_toomany() {
    start_node
    local out
    out=$(timeout $T60 "$tfuse" run --api "$api" --vram 64MiB --gpus 3 -- "$prog" check 0 1 2>&1) &&
        fail "--gpus 3 on 2 devices ran: $out"
    echo "$out"
    echo "$out" | grep -q 'the node has 2 devices' || fail "unclear error: $out"
    settle_count 0 || fail "vGPUs left behind: $(vgpus)"
    create "{\"vram_bytes\": $((1000 * MiB)), \"id\": \"big\", \"device\": 1}" >/dev/null
    out=$(timeout $T60 "$tfuse" run --api "$api" --vram 64MiB --gpus 2 -- "$prog" check 0 1 2>&1) &&
        fail "--gpus 2 with one full device ran: $out"
    echo "$out"
    echo "$out" | grep -q 'only 1 of the node.s 2 devices have room' || fail "unclear error: $out"
    settle_count 1 || fail "vGPUs left behind: $(vgpus)"
    out=$(timeout $T60 "$tfuse" run --api "$api" --vram 64MiB --gpus x -- "$prog" check 0 1 2>&1) &&
        fail "--gpus x accepted"
    echo "$out" | grep -q 'expected a count' || fail "unclear error: $out"
}

# vGPU ids are the node's: automatic ids differ across devices, a taken id is refused on any
# device, and DELETE by id removes exactly one vGPU.
case_ids() {
    start_node
    local r a b
    r=$(http POST /api/v1/vgpus "{\"vram_bytes\": $((64 * MiB)), \"device\": 0}")
    [ "${r%% *}" = 201 ] || fail "create on device 0 answered $r"
    a=$(echo "${r#* }" | jq -r .id)
    r=$(http POST /api/v1/vgpus "{\"vram_bytes\": $((64 * MiB)), \"device\": 1}")
    [ "${r%% *}" = 201 ] || fail "create on device 1 answered $r"
    b=$(echo "${r#* }" | jq -r .id)
    [ "$a" != "$b" ] || fail "two devices' vGPUs share the id $a"
    r=$(http POST /api/v1/vgpus "{\"vram_bytes\": $((64 * MiB)), \"device\": 1, \"id\": \"$a\"}")
    [ "${r%% *}" = 409 ] || fail "a taken id on another device answered $r"
    [ "$(http DELETE "/api/v1/vgpus/$a" | cut -d' ' -f1)" = 204 ] || fail "delete $a"
    [ "$(vgpus | jq -r '[.vgpus[].id] | join(",")')" = "$b" ] || fail "delete took more: $(vgpus)"
    echo "ids $a $b: ok"
}

# The worker refuses token lists it cannot honour, with the reason.
case_refused() {
    start_node
    make_pair
    local same out
    same=$(create "{\"vram_bytes\": $((64 * MiB)), \"id\": \"same\", \"device\": 1}")
    out=$(run_tokens "$HI,$same" "$prog" check $OVERHEAD 1 1 2>&1) && fail "two vGPUs of one device served"
    echo "$out" | grep -q 'both on device 1' || fail "unclear refusal: $out"
    out=$(run_tokens "$HI,nope" "$prog" check $OVERHEAD 1 1 2>&1) && fail "an unknown token served"
    echo "$out" | grep -q 'token 2 of 2 is unknown' || fail "unclear refusal: $out"
    settle_used hi || fail "a refused session left a charge: $(vgpus)"
    echo "refusals: ok"
}

case_cudart() {
    local bin=$build/tests/multigpu/multi_view
    [ -x "$bin" ] || { echo "SKIPPED: $bin not built (needs nvcc)"; exit 77; }
    start_node
    make_pair
    # An instrumented stub needs its sanitizer runtimes loaded before the uninstrumented program
    # (as tests/cuda/run-cuda-test does); cudart's own leaks are not ours to report. Only the
    # program's commands get them: curl must not run with them.
    local san out
    san=$(ldd "$build/lib/tfuse/libcuda.so.1" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ {print $3}' | paste -sd: -)
    with_san() {
        if [ -n "$san" ]; then
            LD_PRELOAD="$san${LD_PRELOAD:+:$LD_PRELOAD}" \
            ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@"
        else
            "$@"
        fi
    }
    out=$(with_san timeout $T60 "$tfuse" run --connect "$sess" --vgpu "$HI,$LO" -- \
          "$bin" $((160 * MiB)) $((96 * MiB)) 2>&1) || fail "$out"
    echo "$out"
    echo "$out" | grep -q '^ok$' || fail "$out"
    settle_used hi lo || fail "memory not refunded: $(vgpus)"   # the --gpus run needs the room
    out=$(with_san timeout $T60 "$tfuse" run --api "$api" --vram 128MiB --gpus 2 -- \
          "$bin" $((128 * MiB)) $((128 * MiB)) 2>&1) || fail "--gpus 2: $out"
    echo "$out" | grep -q '^ok$' || fail "--gpus 2: $out"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# tfuse run --pool --gpus 2: the pool places a gang of two vGPUs on the node's two devices; the
# program sees both; the allocation and the vGPUs are gone afterwards. --gpus 3: refused.
case_pool() {
    local port_pool port_node url out
    port_pool=$(free_port)
    port_node=$(free_port)
    url=http://127.0.0.1:$port_pool
    "$tfuse" pool serve --listen "127.0.0.1:$port_pool" --db "$work/pool.db" \
        --ready-file "$work/pool.url" >"$work/pool.log" 2>&1 &
    pids+=($!)
    for _ in $(seq "$(scaled 100)"); do [ -s "$work/pool.url" ] && break; sleep 0.1; done
    [ -s "$work/pool.url" ] || fail "the pool did not start: $(cat "$work/pool.log")"
    # The pool's credentials (docs/pool-api.md): the node joins with the join token, the runs
    # and the checks present the admin's.
    local admin
    admin=$(cat "$work/pool.db.admin-token")
    local -x TFUSE_POOL_TOKEN=$admin
    pcurl() { curl -sf -H "Authorization: Bearer $admin" "$@"; }
    "$tfuse" node --backend soft --listen "unix:$work/s.sock" --api "tcp:127.0.0.1:$port_node" \
        --pool "$url" --node-name multi --heartbeat-interval 0.3 \
        --pool-join-token-file "$work/pool.db.join-token" >"$work/node.log" 2>&1 &
    node_pid=$!
    for _ in $(seq "$(scaled 150)"); do
        [ "$(pcurl "$url/api/v1/nodes" | jq '[.nodes[] | select(.healthy)] | length')" = 1 ] &&
            break
        sleep 0.1
    done
    [ "$(pcurl "$url/api/v1/nodes/multi" | jq '.devices | length')" = 2 ] ||
        fail "the node did not register two devices: $(pcurl "$url/api/v1/nodes")"
    out=$(timeout $T60 "$tfuse" run --pool "$url" --vram 96MiB --compute 20% --gpus 2 -- \
          "$prog" check $OVERHEAD $((96 * MiB)) $((96 * MiB)) 2>&1) || fail "$out"
    echo "$out"
    echo "$out" | grep -q '^ok$' || fail "$out"
    out=$(timeout $T60 "$tfuse" run --pool "$url" --vram 96MiB --compute 20% --gpus 3 -- \
          "$prog" check 0 1 1 1 2>&1) && fail "--gpus 3 on a 2-device node ran: $out"
    echo "$out"
    echo "$out" | grep -q 'refused the allocation' || fail "unclear error: $out"
    local live
    live=$(pcurl "$url/api/v1/allocations" |
           jq '[.allocations[] | select(.status != "released")] | length')
    [ "$live" = 0 ] || fail "allocations left: $(pcurl "$url/api/v1/allocations")"
    for _ in $(seq "$(scaled 50)"); do
        [ "$(curl -sf "http://127.0.0.1:$port_node/api/v1/vgpus" | jq '.vgpus | length')" = 0 ] &&
            break
        sleep 0.1
    done
    [ "$(curl -sf "http://127.0.0.1:$port_node/api/v1/vgpus" | jq '.vgpus | length')" = 0 ] ||
        fail "vGPUs left on the node: $(curl -sf "http://127.0.0.1:$port_node/api/v1/vgpus")"
}

"case_$case_name"
