#!/usr/bin/env bash
# End-to-end isolation tests (issue 4): a real `tfuse node --api` on softgpu, vGPUs created over
# HTTP, programs run through `tfuse run` (stub -> worker -> softgpu).
#
#   run-isolation-test.sh CASE BUILD_DIR SOURCE_DIR
#
# CASE: api overlimit race killed meminfo cudart compute qos deleted managed globals arrays ipc
# graphmem longkern abi32 resize schedweight (see each function).
# The node and every program are stopped on every exit path.
set -u

case_name=$1 build=$2 src=$3
tfuse=$build/bin/tfuse
prog=$build/tests/isolation/prog_iso
. "$src/tests/lib/node-harness.sh" iso-test
OVERHEAD=$((32 * MiB))   # the node's default --ctx-overhead

create() {   # create BODY -> prints the reply; fails the test unless 201
    local r
    r=$(http POST /api/v1/vgpus "$1")
    [ "${r%% *}" = 201 ] || fail "create $1 answered $r"
    echo "${r#* }"
}

field() { jq -r "$1"; }
vgpu_field() {   # vgpu_field ID FIELD
    http GET /api/v1/vgpus | cut -d' ' -f2- | jq -r ".vgpus[] | select(.id == \"$1\") | .$2"
}

sessions() { http GET /api/v1/sessions | cut -d' ' -f2-; }
no_sessions() { [ "$(sessions | jq '.sessions | length')" = 0 ]; }
no_vgpus() { [ "$(http GET /api/v1/vgpus | cut -d' ' -f2- | jq '.vgpus | length')" = 0 ]; }
used_is() { [ "$(vgpu_field "$1" used_bytes)" = "$2" ]; }

run_on() {   # run_on TOKEN ARGS... (prog_iso through tfuse run on that vGPU)
    local tok=$1
    shift
    timeout $T60 "$tfuse" run --connect "$sess" --vgpu "$tok" -- "$prog" "$@"
}

case_api() {
    start_node
    local r dev
    r=$(http GET /api/v1/devices)
    [ "${r%% *}" = 200 ] || fail "devices: $r"
    dev=$(echo "${r#* }" | jq -r '.devices[0].memory_bytes')
    expect_status() {   # expect_status CODE METHOD PATH [BODY]
        local want=$1
        shift
        r=$(http "$@")
        [ "${r%% *}" = "$want" ] || fail "$* answered $r, expected $want"
        echo "${r#* }" | jq -e . >/dev/null 2>&1 || [ "$want" = 204 ] ||
            fail "$* answered a body that is not JSON: $r"
    }
    expect_status 400 POST /api/v1/vgpus 'not json'
    expect_status 400 POST /api/v1/vgpus '[1,2]'
    expect_status 400 POST /api/v1/vgpus '{"compute_request_pct": 10}'
    expect_status 400 POST /api/v1/vgpus '{"vram":"1GiB","qos":"urgent"}'
    expect_status 400 POST /api/v1/vgpus '{"vram":"1GiB","compute_request_pct":150}'
    expect_status 400 POST /api/v1/vgpus '{"vram":"1GiB","compute_limit":"30%"}'
    expect_status 400 POST /api/v1/vgpus '{"vram":"1GiB","device":"GPU-nope"}'
    expect_status 409 POST /api/v1/vgpus "{\"vram_bytes\": $((dev + 1))}"
    expect_status 405 PUT /api/v1/vgpus
    expect_status 404 GET /api/v1/nothing
    # a refused request changed nothing
    [ "$(http GET /api/v1/vgpus | cut -d' ' -f2- | jq '.vgpus | length')" = 0 ] ||
        fail "a refused create left a vGPU behind"
    local a b
    a=$(create "{\"vram_bytes\": $((dev / 2)), \"id\": \"half\", \"idempotency_key\": \"k/0\"}")
    [ "$(echo "$a" | field .id)" = half ] || fail "create: $a"
    [ "$(echo "$a" | field .token | wc -c)" -gt 16 ] || fail "no token: $a"
    [ "$(echo "$a" | field .connect)" = "$sess" ] || fail "connect: $a"
    b=$(http POST /api/v1/vgpus "{\"vram_bytes\": $((dev / 2)), \"idempotency_key\": \"k/0\"}")
    [ "${b%% *}" = 200 ] && [ "$(echo "${b#* }" | field .token)" = "$(echo "$a" | field .token)" ] ||
        fail "idempotent replay: $b"
    # the sum of limits may not pass the device's memory
    expect_status 409 POST /api/v1/vgpus "{\"vram_bytes\": $((dev / 2 + 1))}"
    expect_status 201 POST /api/v1/vgpus "{\"vram_bytes\": $((dev / 2)), \"id\": \"other\"}"
    expect_status 204 DELETE /api/v1/vgpus/other
    expect_status 409 POST /api/v1/vgpus '{"vram":"1MiB","id":"half"}'   # the id is taken
    expect_status 404 DELETE /api/v1/vgpus/other
    # the CLI
    "$tfuse" vgpu list --node "$api" | grep -q '^half ' || fail "tfuse vgpu list"
    local c
    c=$("$tfuse" vgpu create --node "$api" --vram 64MiB --compute 25% --compute-limit 50% \
        --qos high --id cli --json) || fail "tfuse vgpu create"
    [ "$(echo "$c" | field .compute_limit_pct)" = 50 ] || fail "cli create: $c"
    "$tfuse" vgpu create --node "$api" --vram 64MiB --qos nope 2>/dev/null &&
        fail "bad qos accepted by the CLI"
    "$tfuse" vgpu delete --node "$api" cli | grep -q 'deleted cli' || fail "tfuse vgpu delete"
    "$tfuse" vgpu delete --node "$api" cli 2>/dev/null && fail "deleting twice succeeded"
    # a session without a vGPU token is refused by a node with vGPUs
    timeout $T30 "$tfuse" run --connect "$sess" --token nope -- "$prog" meminfo 2>/dev/null &&
        fail "a session with an unknown token was served"
    return 0
}

case_overlimit() {
    start_node
    local v tok
    v=$(create '{"vram":"128MiB"}')
    tok=$(echo "$v" | field .token)
    run_on "$tok" overlimit $((100 * MiB)) >"$work/out" 2>&1 || fail "$(cat "$work/out")"
    grep -q 'over limit refused' "$work/out" && grep -q 'other work ok' "$work/out" ||
        fail "$(cat "$work/out")"
}

case_race() {
    start_node
    local n=8 chunk=$((4 * MiB)) extra=40 v tok id total=0
    local limit=$((n * OVERHEAD + extra * chunk))
    v=$(create "{\"vram_bytes\": $limit, \"id\": \"race\"}")
    tok=$(echo "$v" | field .token)
    local fds=()
    for i in $(seq $n); do   # one fifo each: a first byte says go, a second one says end
        mkfifo "$work/go.$i"
        exec {fd}<>"$work/go.$i"
        fds+=("$fd")
        timeout $T60 "$tfuse" run --connect "$sess" --vgpu "$tok" -- "$prog" grab $chunk \
            <"$work/go.$i" >"$work/out.$i" 2>&1 &
        pids+=($!)
    done
    for i in $(seq $n); do   # every process attached (its context charged) before the race
        wait_until 30 grep -q '^ready' "$work/out.$i" || fail "process $i: $(cat "$work/out.$i")"
    done
    for fd in "${fds[@]}"; do printf g >&"$fd"; done
    for i in $(seq $n); do
        wait_until 30 grep -q '^got' "$work/out.$i" || fail "process $i: $(cat "$work/out.$i")"
        total=$((total + $(sed -n 's/^got //p' "$work/out.$i")))
    done
    local used
    used=$(vgpu_field race used_bytes)
    [ "$used" -le "$limit" ] || fail "ledger $used passed the limit $limit"
    # every process took what was left: together exactly what fits, not one chunk more
    [ "$total" = "$extra" ] || fail "the processes got $total chunks of $chunk, $extra fit"
    [ "$used" = "$limit" ] || fail "ledger $used, expected exactly $limit"
    for fd in "${fds[@]}"; do printf e >&"$fd"; done   # end
    wait "${pids[@]}" 2>/dev/null
    pids=()
    wait_until 10 no_sessions || fail "sessions still listed after the processes ended"
    used_is race 0 || fail "memory not returned after the processes ended"
    echo "8 processes: $total chunks, ledger peaked at exactly the limit"
}


# A session's charge is refunded before its end is visible at the node (docs/vgpu.md): its
# worker refunds, then exits, and only the reaped worker leaves the session list (a killed
# worker: the node's reaper refunds, then unlists). A client's own exit comes first, so each
# step waits for the node's list to empty, then reads the ledger once, without waiting.
case_killed() {
    start_node
    local v tok free_before free_after
    v=$(create '{"vram":"512MiB","id":"k"}')
    tok=$(echo "$v" | field .token)
    # A holds 200 MiB; its client is killed with SIGKILL (the worker sees the peer vanish)
    run_on "$tok" hold $((200 * MiB)) >"$work/a" 2>&1 &
    pids+=($!)
    wait_until 10 grep -q held "$work/a" || fail "hold: $(cat "$work/a")"
    free_before=$(run_on "$tok" meminfo | sed -n 's/^free \([0-9]*\).*/\1/p')
    [ "$free_before" = $((512 * MiB - 2 * OVERHEAD - 200 * MiB)) ] ||
        fail "second client sees free $free_before while A holds 200 MiB"
    kill -KILL "$(sed -n 's/^held pid //p' "$work/a")"
    wait_until 10 no_sessions || fail "sessions still listed after A's kill: $(sessions)"
    used_is k 0 || fail "no session listed, yet $(vgpu_field k used_bytes) bytes charged"
    free_after=$(run_on "$tok" meminfo | sed -n 's/^free \([0-9]*\).*/\1/p')
    [ "$free_after" = $((512 * MiB - OVERHEAD)) ] || fail "after the kill free is $free_after"
    # the meminfo client has exited; its session's end at the node comes with its refund
    wait_until 10 no_sessions || fail "the meminfo session is still listed: $(sessions)"
    used_is k 0 || fail "meminfo's session unlisted, yet $(vgpu_field k used_bytes) charged"
    # B holds 100 MiB and its WORKER is killed: the node's reaper refunds
    run_on "$tok" hold $((100 * MiB)) >"$work/b" 2>&1 &
    pids+=($!)
    wait_until 10 grep -q held "$work/b" || fail "hold: $(cat "$work/b")"
    used_is k $((OVERHEAD + 100 * MiB)) ||
        fail "B not charged exactly: $(vgpu_field k used_bytes), expected $((OVERHEAD + 100 * MiB))"
    local worker
    worker=$(sessions | jq -r '.sessions[] | .worker_pid')   # B's alone: the list was empty
    [[ $worker =~ ^[0-9]+$ ]] || fail "not one worker listed: '$worker'"
    kill -KILL "$worker"
    wait_until 10 no_sessions || fail "B's session is still listed: $(sessions)"
    used_is k 0 || fail "reaper did not refund: $(vgpu_field k used_bytes)"
    echo "killed client and killed worker both returned their memory"
}

case_meminfo() {
    start_node
    local out
    out=$(timeout $T60 "$tfuse" run --api "$api" --vram 256MiB --compute 50% -- "$prog" meminfo) ||
        fail "meminfo: $out"
    [ "$out" = "free $((256 * MiB - OVERHEAD)) total $((256 * MiB)) devtotal $((256 * MiB))" ] ||
        fail "memory view: $out"
    # NVML's memory info through our libnvidia-ml: the same view
    out=$(timeout $T60 "$tfuse" run --api "$api" --vram 192MiB -- "$prog" nvml) || fail "nvml: $out"
    case "$out" in
        "nvml total $((192 * MiB)) free "*) ;;
        *) fail "NVML view: $out" ;;
    esac
    # the virtual memory API: physical allocations charged, refunded once released and unmapped
    out=$(timeout $T60 "$tfuse" run --api "$api" --vram 128MiB -- "$prog" vmm) || fail "vmm: $out"
    echo "$out"
    # NVML's utilization (the vGPU's share of device time) and process list (this process, with
    # what it holds)
    out=$(timeout $T60 "$tfuse" run --api "$api" --vram 128MiB --compute 50% -- \
          "$prog" nvmlusage) ||
        fail "nvml usage: $out"
    echo "$out"
    # the ephemeral vGPUs are gone afterwards (freed once their workers have ended)
    wait_until 10 no_vgpus || fail "tfuse run left its vGPU behind"
    # exit status is the program's
    timeout $T60 "$tfuse" run --api "$api" --vram 64MiB -- "$prog" nosuchmode 2>/dev/null
    [ $? = 2 ] || fail "tfuse run did not pass the program's exit status on"
}

case_cudart() {
    local bin=$build/tests/isolation/vram_view
    [ -x "$bin" ] || { echo "SKIPPED: $bin not built (needs nvcc)"; exit 77; }
    start_node
    # An instrumented stub needs its sanitizer runtimes loaded before the uninstrumented program
    # (as tests/cuda/run-cuda-test does); cudart's own leaks are not ours to report.
    local libs out
    libs=$(ldd "$build/lib/tfuse/libcuda.so.1" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ {print $3}' | paste -sd: -)
    if [ -n "$libs" ]; then
        export LD_PRELOAD="$libs${LD_PRELOAD:+:$LD_PRELOAD}"
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    fi
    out=$(timeout $T60 "$tfuse" run --api "$api" --vram 384MiB -- "$bin" 2>&1) || fail "$out"
    echo "$out"
    echo "$out" | grep -q "^total $((384 * MiB))\$" || fail "cudart total: $out"
    echo "$out" | grep -q '^over limit: out of memory$' || fail "cudart over limit: $out"
    # cudaFree gives the bytes back to the vGPU: free drops by 64 MiB and comes back.
    out=$(timeout $T60 "$tfuse" run --api "$api" --vram 384MiB -- \
          "$build/tests/cuda/meminfo" 2>&1) ||
        fail "cudart free/refund: $out"
    echo "$out"
}

# Asynchronous notifications through a vGPU (misc_calls): an allocation past the vGPU's memory
# limit calls the program's callback, in the program, with exactly the bytes over budget; none
# after unregister. The rest of misc_calls (core dump written on the program's side) runs too.
case_notify() {
    local bin=$build/tests/cuda/misc_calls
    [ -x "$bin" ] || { echo "SKIPPED: $bin not built (needs nvcc)"; exit 77; }
    start_node
    local libs out
    libs=$(ldd "$build/lib/tfuse/libcuda.so.1" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ {print $3}' | paste -sd: -)
    [ -n "$libs" ] && export LD_PRELOAD="$libs${LD_PRELOAD:+:$LD_PRELOAD}" \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    out=$(MISC_CALLS_EXPECT_NOTIFY=1 timeout $T60 "$tfuse" run --api "$api" --vram 256MiB -- \
          "$bin" 2>&1) || fail "$out"
    echo "$out" | grep -qx "misc_calls: OK" || fail "misc_calls: $out"
    echo "over-budget notification delivered through the vGPU"
}

spin_share() {   # spin_share ID SECONDS -> busy share in percent of wall time
    echo "$(vgpu_field "$1" busy_ns) $2" | awk '{printf "%.1f", $1 / ($2 * 1e9) * 100}'
}

case_compute() {
    start_node
    local lim free_tok lim_tok s_lim s_free
    lim_tok=$(create '{"vram":"256MiB","id":"lim","compute_request":"20%"}' | field .token)
    free_tok=$(create '{"vram":"256MiB","id":"free"}' | field .token)
    run_on "$lim_tok" spin 4 100000 >"$work/lim" 2>&1 &
    pids+=($!)
    run_on "$free_tok" spin 4 100000 >"$work/free" 2>&1 &
    pids+=($!)
    wait "${pids[@]}" || fail "spin: $(cat "$work/lim" "$work/free")"
    pids=()
    s_lim=$(spin_share lim 4)
    s_free=$(spin_share free 4)
    local th_lim th_free
    th_lim=$(vgpu_field lim throttled_seconds)
    th_free=$(vgpu_field free throttled_seconds)
    echo "limited (20%) tenant: ${s_lim}% of the time (throttled ${th_lim} s)," \
         "unlimited: ${s_free}% (throttled ${th_free} s)"
    # Behaviour, not a timing aim (bench/isolation measures how close shares come): both ran;
    # the limit is never passed by much; the limiter held the limited tenant back and never the
    # unlimited one. Which got more device time is asserted only when the device was the
    # bottleneck (shares summing to half of it or more): on a loaded host both tenants are
    # starved of CPU far below the limit (7.8% and 6.5% under a hog per core), and who waited
    # less for a core is no property of the limiter.
    awk -v l="$s_lim" -v f="$s_free" 'BEGIN { exit !(l > 0 && f > 0 && l < 30) }' ||
        fail "limited ${s_lim}%, unlimited ${s_free}%"
    awk -v a="$th_lim" -v b="$th_free" 'BEGIN { exit !(a > 0 && b == 0) }' ||
        fail "throttled: limited ${th_lim} s (must be > 0), unlimited ${th_free} s (must be 0)"
    awk -v l="$s_lim" -v f="$s_free" 'BEGIN { exit !(l + f < 50 || f > l) }' ||
        fail "a saturated device gave the limited tenant ${s_lim}%, the unlimited ${s_free}%"
}

case_qos() {
    start_node
    local low crit s_low s_crit
    low=$(create '{"vram":"256MiB","id":"low","compute_request":"10%","compute_limit":"100%","qos":"low"}' | field .token)
    crit=$(create '{"vram":"256MiB","id":"crit","compute_request":"60%","compute_limit":"100%","qos":"critical"}' | field .token)
    run_on "$low" spin 4 100000 4 >"$work/low" 2>&1 &
    pids+=($!)
    run_on "$crit" spin 4 100000 4 >"$work/crit" 2>&1 &
    pids+=($!)
    wait "${pids[@]}" || fail "spin: $(cat "$work/low" "$work/crit")"
    pids=()
    s_low=$(spin_share low 4)
    s_crit=$(spin_share crit 4)
    echo "low-QoS tenant: ${s_low}%, critical: ${s_crit}%"
    # the ordering (critical first), not how far apart a loaded host lets them be
    awk -v l="$s_low" -v c="$s_crit" 'BEGIN { exit !(l > 0 && c > l) }' ||
        fail "critical ${s_crit}% did not come before low ${s_low}%"
}

# The worker gives softgpu's scheduler its vGPU's compute request as the process's weight
# (docs/softgpu.md, "Time-slicing"): each worker's SOFTGPU_SCHED_STATS line at its exit names
# the weight its process had on the device: 2500 for a 25% vGPU, 10000 (the whole device) for
# an unlimited one. The worker, not the node or the program, holds the device.
case_schedweight() {
    SOFTGPU_SCHED_STATS=$work/sched start_node
    local q u
    q=$(create '{"vram":"256MiB","id":"q","compute_request":"25%"}' | field .token)
    u=$(create '{"vram":"256MiB","id":"u"}' | field .token)
    run_on "$q" spin 0.3 1000 >"$work/q" 2>&1 || fail "spin on q: $(cat "$work/q")"
    run_on "$u" spin 0.3 1000 >"$work/u" 2>&1 || fail "spin on u: $(cat "$work/u")"
    for _ in $(seq "$(scaled 100)"); do   # each worker writes its line when it exits
        [ "$(grep -c 'turns=' "$work/sched" 2>/dev/null)" -ge 2 ] && break
        sleep 0.1
    done
    echo "scheduler lines:"; cat "$work/sched" 2>/dev/null
    [ "$(grep -c 'turns=' "$work/sched" 2>/dev/null)" = 2 ] ||
        fail "want a line from each of the two workers"
    grep -q ' weight=2500$' "$work/sched" || fail "no worker weighed 2500 (the 25% vGPU)"
    grep -q ' weight=10000$' "$work/sched" || fail "no worker weighed 10000 (the unlimited vGPU)"
}

case_managed() {
    start_node
    local tok out f0=$((128 * MiB - OVERHEAD))
    tok=$(create '{"vram":"128MiB","id":"m"}' | field .token)
    out=$(run_on "$tok" managed $((40 * MiB)) $((100 * MiB)) 2>&1) || fail "$out"
    echo "$out"
    echo "$out" | grep -qx "managed $f0 $((f0 - 40 * MiB)) $f0" || fail "managed charge: $out"
    echo "$out" | grep -qx "managed over limit refused, free $f0" || fail "managed over: $out"
    wait_until 10 no_sessions || fail "the session is still listed after its program ended"
    used_is m 0 || fail "ledger not empty after the session"
}

case_globals() {
    start_node
    local tok out f0
    tok=$(create '{"vram":"128MiB","id":"g"}' | field .token)
    # a 4-byte output buffer, then a module holding exactly 8 MiB of variables
    f0=$((128 * MiB - OVERHEAD - 4))
    out=$(run_on "$tok" globals $((8 * MiB)) $((100 * MiB)) 2>&1) || fail "$out"
    echo "$out"
    echo "$out" | grep -qx "globals $f0 $((f0 - 8 * MiB)) $f0" || fail "globals charge: $out"
    echo "$out" | grep -qx "globals over limit refused, free $f0" || fail "globals over: $out"
}

# IPC memory handles: a process of vGPU A exports one; a process of vGPU B that learns its bytes
# is refused (CUDA_ERROR_NOT_PERMITTED); a second process of A opens it, reads the exporter's
# bytes and writes one word, which the exporter then sees. The same for an IPC event handle.
case_ipc() {
    start_node
    local ta tb hex ehex i out
    ta=$(create '{"vram":"128MiB","id":"ia"}' | field .token)
    tb=$(create '{"vram":"128MiB","id":"ib"}' | field .token)
    mkfifo "$work/go"
    run_on "$ta" ipcexport <"$work/go" >"$work/export" 2>&1 &
    local exporter=$!
    exec 3>"$work/go"
    wait_until 30 eval '[ "$(wc -l <"$work/export")" -ge 2 ]'
    hex=$(head -1 "$work/export")
    ehex=$(sed -n 2p "$work/export")
    [ ${#hex} = 128 ] || fail "no handle from the exporter: $(cat "$work/export")"
    out=$(run_on "$tb" ipcopen "$hex" 2>&1) || fail "$out"
    [ "$out" = "ipc open refused" ] || fail "another vGPU's process opened the handle: $out"
    out=$(run_on "$ta" ipcopen "$hex" 2>&1) || fail "$out"
    [ "$out" = "ipc open ok 0x5a" ] || fail "the exporter's own vGPU could not open it: $out"
    out=$(run_on "$tb" ipcevent "$ehex" 2>&1) || fail "$out"
    [ "$out" = "ipc event refused" ] || fail "another vGPU's process opened the event: $out"
    out=$(run_on "$ta" ipcevent "$ehex" 2>&1) || fail "$out"
    [ "$out" = "ipc event ok" ] || fail "the exporter's own vGPU could not open the event: $out"
    echo go >&3
    exec 3>&-
    wait "$exporter" || fail "exporter: $(cat "$work/export")"
    grep -qx "ipc export written" "$work/export" || fail "exporter: $(cat "$work/export")"
    echo "refused across vGPUs, shared within one"
}

# Stream-ordered memory captured into a graph (allocated and freed by the graph at each launch)
# stays charged: a capture's free must not refund it, so a second graph cannot pass the limit,
# captured or made of an explicit allocation node.
case_graphmem() {
    start_node
    local tok out f0=$((128 * MiB - OVERHEAD))
    tok=$(create '{"vram":"128MiB","id":"gm"}' | field .token)
    out=$(run_on "$tok" graphmem $((64 * MiB)) $((64 * MiB)) 2>&1) || fail "$out"
    echo "$out"
    echo "$out" | grep -qx "graphmem $f0 $((f0 - 64 * MiB))" || fail "graph memory charge: $out"
    echo "$out" | grep -qx "graphmem over limit refused" || fail "graph memory over: $out"
}

# CUDA arrays take device memory: charged when created (exactly what the driver says they take:
# softgpu packs 16-byte texels without padding), refunded when destroyed, refused past the limit.
case_arrays() {
    start_node
    local tok out f0=$((128 * MiB - OVERHEAD))
    tok=$(create '{"vram":"128MiB","id":"arr"}' | field .token)
    out=$(run_on "$tok" arrays $((24 * MiB)) $((100 * MiB)) 2>&1) || fail "$out"
    echo "$out"
    echo "$out" | grep -qx "arrays $f0 $((f0 - 24 * MiB)) $f0" || fail "array charge: $out"
    echo "$out" | grep -qx "arrays over limit refused, free $f0" || fail "arrays over: $out"
}

# The CUDA 3.1 ABI's allocations (32-bit pointers, forwarded as themselves to the backend's v1
# entries) are charged and refunded exactly like the current ABI's, and refused past the limit.
case_abi32() {
    start_node
    local tok out f0=$((128 * MiB - OVERHEAD)) held=$((128 * MiB - OVERHEAD - 24 * MiB))
    tok=$(create '{"vram":"128MiB","id":"a32"}' | field .token)
    out=$(run_on "$tok" abi32 $((24 * MiB)) $((100 * MiB)) 2>&1) || fail "$out"
    echo "$out"
    echo "$out" | grep -qx "abi32 $f0 $held $f0 $held $f0" || fail "32-bit charge: $out"
    echo "$out" | grep -qx "abi32 over limit refused, free $f0" || fail "32-bit over: $out"
}

# Kernels far longer than the controller's 10 ms period: a tenant limited to 20% must not pass
# 20% by much although each kernel is charged only when it ends. ITERS is sized for ~150 ms
# kernels by a one-second calibration run first (softgpu's engines differ: the JIT runs this
# kernel ~5x faster than the interpreter; printed: the mean kernel length, from busy time and
# launches). The limit
# holds in the long run; a run of few kernels can overdraw by the kernel in flight at its end
# (charged, never waited off, as the program exits). So the bound is the limit's share of the
# run plus one kernel (1.5 mean kernels: lengths vary) and 2 points: on an idle host ~100 ms
# kernels in ~8 s make it ~24%; on a loaded one, where kernels stretch to seconds (4 s each
# under `make test-under-load`), it grows with them instead of failing. How close to 20% a
# tenant comes is a timing aim, bench/isolation's.
case_longkern() {
    # The default engine: the JIT compiles a module's kernels from its load, and a launch that
    # waits for its kernel's code does so off the device clock (docs/softgpu.md, "The JIT
    # engine"), so compiling is never charged as the tenant's device time.
    start_node
    local tok t0 t1 busy share kern iters=${LONGKERN_ITERS:-2000000} secs=8
    tok=$(create '{"vram":"256MiB","id":"long","compute_request":"20%"}' | field .token)
    run_on "$tok" spin 0 1 >/dev/null 2>&1 || fail "warm-up"   # the node and cache are warm
    local busy0 n
    if [ -z "${LONGKERN_ITERS:-}" ]; then   # calibrate: kernels of ~150 ms on this engine
        busy0=$(vgpu_field long busy_ns)
        run_on "$tok" spin 1 $iters >"$work/long" 2>&1 || fail "calibration: $(cat "$work/long")"
        n=$(sed -n 's/^launches //p' "$work/long")
        iters=$(awk -v b="$(($(vgpu_field long busy_ns) - busy0))" -v n="${n:-0}" -v i=$iters \
                'BEGIN { k = (n > 0) ? b / n / 1e6 : 0; x = (k > 0) ? i * 150 / k : i
                         if (x > 2e9) x = 2e9; printf "%d", x }')
        echo "calibration: $n kernels of $iters steps for ~150 ms each"
    fi
    busy0=$(vgpu_field long busy_ns)
    t0=$(date +%s%N)
    run_on "$tok" spin $secs $iters >"$work/long" 2>&1 || fail "spin: $(cat "$work/long")"
    t1=$(date +%s%N)
    busy=$(($(vgpu_field long busy_ns) - busy0))
    n=$(sed -n 's/^launches //p' "$work/long")
    [ "${n:-0}" -gt 0 ] && [ "$busy" -gt 0 ] || fail "no kernel ran: $(cat "$work/long")"
    # share of the program's whole run (its last kernel may end past SECONDS)
    share=$(awk -v b="$busy" -v w=$((t1 - t0)) 'BEGIN { printf "%.1f", b / w * 100 }')
    kern=$(awk -v b="$busy" -v n="$n" 'BEGIN { printf "%.0f", b / n / 1e6 }')
    local bound
    bound=$(awk -v w=$((t1 - t0)) -v k="$kern" \
            'BEGIN { printf "%.1f", (0.22 * w + 1.5 * k * 1e6) / w * 100 }')
    echo "20% tenant with ${kern} ms kernels ($n): ${share}% of its run (bound ${bound}%)"
    awk -v k="$kern" 'BEGIN { exit !(k >= 40) }' || fail "kernels of ${kern} ms are not long"
    awk -v l="$share" -v b="$bound" 'BEGIN { exit !(l <= b) }' ||
        fail "limited to 20%, used ${share}% (bound ${bound}%)"
}

case_deleted() {
    start_node
    local tok rc r
    tok=$(create '{"vram":"256MiB","id":"gone"}' | field .token)
    run_on "$tok" spin 20 100000 >"$work/out" 2>&1 &
    pids+=($!)
    # deleted while its kernels run (a fixed sleep could delete it before it connects)
    wait_until 30 eval '[ "$(sessions | jq "[.sessions[].launches_total] | add // 0")" -gt 0 ]' ||
        fail "the program launched nothing: $(cat "$work/out")"
    r=$(http DELETE /api/v1/vgpus/gone)
    # 204: its sessions ended within the node's wait; 202: deleted, a loaded host's session is
    # still ending (the waits below see it end)
    [ "${r%% *}" = 204 ] || [ "${r%% *}" = 202 ] || fail "delete answered $r"
    wait "${pids[0]}"
    rc=$?
    pids=()
    [ $rc != 0 ] && [ $rc != 124 ] || fail "the program went on after its vGPU was deleted ($rc)"
    grep -q 'CUDA_ERROR_DEVICE_UNAVAILABLE' "$work/out" || fail "no clear error: $(cat "$work/out")"
    wait_until 10 no_vgpus || fail "the deleted vGPU was not freed after its session ended"
    timeout $T30 "$tfuse" run --connect "$sess" --vgpu "$tok" -- "$prog" meminfo 2>/dev/null &&
        fail "a deleted vGPU's token still connects"
    return 0
}

# ---- live resize: a running program's views follow PATCH /api/v1/vgpus/{id} ----

# Line $1 of the watching program's output, once it has that many (bounded wait).
nth_line() {
    wait_until 30 eval "[ \$(wc -l <\"$work/out\") -ge $1 ]" ||
        fail "the program did not answer (line $1): $(cat "$work/out")"
    sed -n "${1}p" "$work/out"
}
view_is() {   # view_is LINE FREE TOTAL
    local got
    got=$(nth_line "$1")
    [ "$got" = "view free $2 total $3 devtotal $3 nvml $3" ] || fail "view $1: $got"
}

case_resize() {
    start_node --state "$work/state"
    local v tok r n=1 hold=$((16 * MiB))
    v=$(create '{"vram":"128MiB","id":"rs","compute_request_pct":20}')
    tok=$(echo "$v" | field .token)
    mkfifo "$work/cmd"
    exec {cmd}<>"$work/cmd"
    run_on "$tok" watch $hold <"$work/cmd" >"$work/out" 2>&1 {cmd}>&- &   # ours: the only writer
    pids+=($!)
    [ "$(nth_line 1)" = ready ] || fail "start: $(cat "$work/out")"
    ask() { echo "$1" >&"$cmd"; n=$((n + 1)); }
    local used=$((OVERHEAD + hold))
    ask view; view_is $n $((128 * MiB - used)) $((128 * MiB))
    # grow, with compute and QoS: the running program sees the new limit at its next call
    r=$(http PATCH /api/v1/vgpus/rs \
        '{"vram":"256MiB","compute_request_pct":30,"compute_limit_pct":60,"qos":"high"}')
    [ "${r%% *}" = 200 ] || fail "grow: $r"
    [ "$(echo "${r#* }" | jq -c '[.vram_bytes, .compute_request_pct, .compute_limit_pct, .qos,
        .previous.vram_bytes, .previous.compute_limit_pct, .previous.qos]')" = \
      "[$((256 * MiB)),30,60,\"high\",$((128 * MiB)),20,\"medium\"]" ] || fail "grow answer: $r"
    ask view; view_is $n $((256 * MiB - used)) $((256 * MiB))
    ask "alloc $((150 * MiB))"   # fits only the new limit
    [ "$(nth_line $n)" = "alloc $((150 * MiB)) ok" ] || fail "alloc after grow: $(cat "$work/out")"
    used=$((used + 150 * MiB))
    # below what is in use: refused with both figures; nothing lost
    r=$(http PATCH /api/v1/vgpus/rs '{"vram":"64MiB"}')
    [ "${r%% *}" = 409 ] || fail "shrink below usage: $r"
    [ "$(echo "${r#* }" | jq -c '[.error, .used_bytes, .asked_bytes]')" = \
      "[\"memory_in_use\",$used,$((64 * MiB))]" ] || fail "shrink refusal: $r"
    echo "refused: $(echo "${r#* }" | jq -r .message)"
    ask view; view_is $n $((256 * MiB - used)) $((256 * MiB))
    used_is rs $used || fail "the refused shrink changed the ledger: $(vgpu_field rs used_bytes)"
    # down to 2 MiB above what is in use: 4 MiB more no longer fits
    r=$(http PATCH /api/v1/vgpus/rs "{\"vram_bytes\": $((used + 2 * MiB))}")
    [ "${r%% *}" = 200 ] || fail "shrink: $r"
    ask view; view_is $n $((2 * MiB)) $((used + 2 * MiB))
    ask "alloc $((4 * MiB))"
    [ "$(nth_line $n)" = "alloc $((4 * MiB)) oom" ] || fail "over the new limit: $(nth_line $n)"
    ask free; nth_line $n >/dev/null
    used=$((used - 150 * MiB))
    r=$(http PATCH /api/v1/vgpus/rs '{"vram":"64MiB","compute_request":null}')
    [ "${r%% *}" = 200 ] || fail "shrink after free: $r"
    [ "$(echo "${r#* }" | jq -c '[.compute_request_pct, .compute_limit_pct]')" = '[null,null]' ] ||
        fail "unlimited compute: $r"
    ask view; view_is $n $((64 * MiB - used)) $((64 * MiB))
    # what a PATCH refuses
    for bad in '{}' '{"memory":"1GiB"}' '{"vram":"0"}' '{"compute_limit_pct":50}' \
               '{"compute_request_pct":30,"compute_limit_pct":20}' '{"qos":"urgent"}' 'x'; do
        r=$(http PATCH /api/v1/vgpus/rs "$bad")
        [ "${r%% *}" = 400 ] || fail "PATCH $bad answered $r"
    done
    r=$(http PATCH /api/v1/vgpus/nope '{"vram":"64MiB"}')
    [ "${r%% *}" = 404 ] || fail "PATCH of an unknown vGPU: $r"
    local dev
    dev=$(http GET /api/v1/devices | cut -d' ' -f2- | jq '.devices[0].memory_bytes')
    r=$(http PATCH /api/v1/vgpus/rs "{\"vram_bytes\": $((dev + 1))}")
    [ "${r%% *}" = 409 ] || fail "larger than the device: $r"
    [ "$(vgpu_field rs vram_bytes)" = $((64 * MiB)) ] || fail "a refused PATCH changed the limit"
    # the CLI
    r=$("$tfuse" vgpu resize --node "$api" rs --memory 96MiB --compute 10% --compute-limit 40% \
        --qos low) || fail "tfuse vgpu resize"
    echo "$r" | grep -q 'resized rs: memory 64MiB -> 96MiB' || fail "CLI: $r"
    "$tfuse" vgpu resize --node "$api" rs --memory 1MiB 2>"$work/err" && fail "CLI shrink"
    grep -q 'in use' "$work/err" || fail "CLI refusal: $(cat "$work/err")"
    ask view; view_is $n $((96 * MiB - used)) $((96 * MiB))
    exec {cmd}>&-   # EOF: the program ends
    wait "${pids[-1]}" || fail "the program failed: $(cat "$work/out")"
    # kept across a restart (--state)
    kill -TERM "$node_pid"
    wait "$node_pid"
    start_node --state "$work/state"
    [ "$(http GET /api/v1/vgpus/rs | cut -d' ' -f2- |
         jq -c '[.vram_bytes, .compute_request_pct, .compute_limit_pct, .qos]')" = \
      "[$((96 * MiB)),10,40,\"low\"]" ] || fail "after restart: $(http GET /api/v1/vgpus/rs)"
    # a change the state folder cannot take is undone (the save's fault injection: a folder
    # "full" past the file's present size, so that a longer vram_bytes cannot be saved)
    local size
    size=$(stat -c %s "$work/state/vgpus.json")
    kill -TERM "$node_pid"
    wait "$node_pid"
    TFUSE_FAULT_STATE_MAX_BYTES=$size start_node --state "$work/state"
    r=$(http PATCH /api/v1/vgpus/rs '{"vram":"1GiB","qos":"critical"}')
    [ "${r%% *}" = 507 ] || fail "a save that failed answered $r"
    [ "$(http GET /api/v1/vgpus/rs | cut -d' ' -f2- | jq -c '[.vram_bytes, .qos]')" = \
      "[$((96 * MiB)),\"low\"]" ] || fail "an unsaved resize stayed: $(http GET /api/v1/vgpus/rs)"
    [ "$(http GET /api/v1/devices | cut -d' ' -f2- | jq '.devices[0].memory_limit_sum')" = \
      $((96 * MiB)) ] || fail "an unsaved resize kept its memory promise"
    r=$(http PATCH /api/v1/vgpus/rs '{"vram":"80MiB"}')   # as long a file: saved
    [ "${r%% *}" = 200 ] || fail "a resize that fits the folder: $r"
    return 0
}

"case_$case_name" || exit 1
echo "isolation_$case_name: OK"
