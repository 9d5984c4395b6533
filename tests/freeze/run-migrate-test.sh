#!/usr/bin/env bash
# Migration of a vGPU's sessions to another device of the node (issue 15, docs/freeze.md
# "Migration"), end to end: a real `tfuse node --api` on a two-device softgpu with --freeze-to,
# prog_migrate run through `tfuse run` with its state in device memory (a module, a stream, an
# event), driven through a fifo, moved from device 0 to device 1 mid-run and back.
#
#   run-migrate-test.sh CASE BUILD_DIR SOURCE_DIR
#
# CASE: migrate (memory copied device to device), migrate_host (the same through host memory,
# the way taken when the devices have no peer access: TFUSE_MIGRATE_VIA_HOST), cudart (an
# nvcc-built CUDA runtime program; skipped, 77, where there is no nvcc), pair (two sessions of
# one vGPU: all or none).
#
# Every node and program is stopped on every exit path (node-harness.sh).
set -u

case_name=$1 build=$2 src=$3
tfuse=$build/bin/tfuse
prog=$build/tests/freeze/prog_migrate
holder=$prog
. "$src/tests/lib/node-harness.sh" migrate-test
PITCHED=$((2 * MiB))     # prog_migrate's pitched allocation: 1024-byte pitch x 2048 rows
HELD=$((64 * MiB))

vgpu() { http GET "/api/v1/vgpus/$1" | cut -d' ' -f2-; }
expect() {   # expect CODE REASON METHOD PATH [BODY]: the status and the error's reason
    local want=$1 reason=$2 r
    shift 2
    r=$(http "$@")
    [ "${r%% *}" = "$want" ] || fail "$* answered $r, expected $want"
    [ "$reason" = - ] || [ "$(echo "${r#* }" | jq -r .error)" = "$reason" ] ||
        fail "$* answered $r, expected the reason $reason"
    echo "${r#* }"
}
devfree() {   # devfree DEV: device DEV's free memory as a whole-device session sees it
    timeout $T60 "$tfuse" run --connect "$sess" -- "$prog" devfree "$1" |
        sed -n 's/^devfree \([0-9]*\).*/\1/p'
}
declare -A fd_of
start_holder() {   # start_holder TOKEN BYTES [NAME]: $holder hold, commands on ${fd_of[NAME]}
    local w=${3:-a} f
    mkfifo "$work/$w.in"
    exec {f}<>"$work/$w.in"
    fd_of[$w]=$f
    : >"$work/$w.out"
    timeout $(scaled 150) "$tfuse" run --connect "$sess" --vgpu "$1" -- "$holder" hold "$2" \
        <"$work/$w.in" >"$work/$w.out" 2>"$work/$w.err" &
    pids+=($!)
    wait_until 120 grep -q '^ready' "$work/$w.out" ||
        fail "program $w did not start: $(cat "$work/$w.out" "$work/$w.err")"
    pids+=("$(sed -n 's/^ready pid //p' "$work/$w.out")")
}
say() {   # say COMMAND EXPECTED-PREFIX [NAME]: sends a command, waits for the next line
    local w=${3:-a} n before
    before=$(wc -l <"$work/$w.out")
    echo "$1" >&"${fd_of[$w]}"
    wait_until 60 eval "[ \$(wc -l <\"$work/$w.out\") -gt $before ]" ||
        fail "$w: no answer to '$1': $(cat "$work/$w.out" "$work/$w.err")"
    n=$(sed -n "$((before + 1))p" "$work/$w.out")
    case "$n" in
        "$2"*) echo "$n" ;;
        *) fail "$w answered '$n' to '$1', expected '$2...': $(cat "$work/$w.err")" ;;
    esac
}

case_migrate() {
    export SOFTGPU_DEVICES=2 SOFTGPU_MEMORY=512MiB
    export SOFTGPU_NAMESPACE=${SOFTGPU_NAMESPACE:-freeze}_migrate2
    start_node --freeze-to host --allow-unlimited
    local tok r a0 a1 b0 b1 moved=$((HELD + PITCHED))
    tok=$(http POST /api/v1/vgpus '{"vram":"256MiB","id":"mg","device":0}' | cut -d' ' -f2- |
          jq -r .token)
    [ -n "$tok" ] && [ "$tok" != null ] || fail "create"
    expect 409 no_sessions POST /api/v1/vgpus/mg/migrate '{"device":1}' >/dev/null
    start_holder "$tok" $HELD
    say check "ok 1" >/dev/null
    # bad requests are refused before any worker is asked
    expect 400 bad_request POST /api/v1/vgpus/mg/migrate >/dev/null
    expect 400 bad_request POST /api/v1/vgpus/mg/migrate '{"device":2}' >/dev/null
    expect 400 bad_request POST /api/v1/vgpus/mg/migrate '{"device":"1","x":1}' >/dev/null
    expect 409 already_there POST /api/v1/vgpus/mg/migrate '{"device":0}' >/dev/null
    expect 404 not_found POST /api/v1/vgpus/nope/migrate '{"device":1}' >/dev/null
    expect 405 - GET /api/v1/vgpus/mg/migrate >/dev/null
    # what migration cannot move (a module with a __device__ variable: its address would
    # change on another device): refused with the reason, the session goes on where it was
    say mod "loaded" >/dev/null
    r=$(expect 409 cannot_migrate POST /api/v1/vgpus/mg/migrate '{"device":1}')
    echo "refused: $(echo "$r" | jq -r .message)"
    grep -q "__device__ or __constant__ variables" "$work/node.log" ||
        fail "the worker's reason is not in the log"
    say check "ok 2" >/dev/null
    say unmod "unloaded" >/dev/null
    # the migration, mid-run; a small allocation moves with its 2 MiB chunk (freeze_small.c)
    say "alloc 4096" "allocated" >/dev/null
    moved=$((moved + 2 * MiB))
    a0=$(devfree 0)
    a1=$(devfree 1)
    r=$(expect 200 - POST /api/v1/vgpus/mg/migrate '{"device":1}')
    echo "$r" | jq -e ".from_device == 0 and .device == 1 and .moved_bytes == $moved and
        (.sessions | length) == 1" >/dev/null || fail "migrate reply: $r"
    echo "migrated $moved bytes in $(echo "$r" | jq .took_ms) ms"
    b0=$(devfree 0)
    b1=$(devfree 1)
    [ $((b0 - a0)) -ge $moved ] || fail "device 0's free memory rose by $((b0 - a0)), not $moved"
    [ $((a1 - b1)) -ge $moved ] || fail "device 1's free memory fell by $((a1 - b1)), not $moved"
    echo "device 0 free +$((b0 - a0)) bytes, device 1 free -$((a1 - b1)) bytes"
    vgpu mg | jq -e '.migration.device_index == 1 and .migration.migrations_total == 1' \
        >/dev/null || fail "the vGPU's JSON: $(vgpu mg)"
    http GET /metrics | grep -q '^tfuse_vgpu_migrations_total{vgpu="mg",.*} 1$' &&
        http GET /metrics | grep -q '^tfuse_vgpu_running_device{vgpu="mg",.*} 1$' ||
        fail "metrics: $(http GET /metrics | grep migrat)"
    say check "ok 3" >/dev/null   # same handles, same pointers, the CPU's results
    say unalloc "unallocated" >/dev/null   # freed on device 1, its chunk with it
    moved=$((moved - 2 * MiB))
    say check "ok 4" >/dev/null
    expect 409 already_there POST /api/v1/vgpus/mg/migrate '{"device":1}' >/dev/null
    # back with the CLI, and on again
    "$tfuse" vgpu migrate --node "$api" mg --device 0 | grep -q '^migrated mg: device 1 -> 0' ||
        fail "tfuse vgpu migrate"
    say check "ok 5" >/dev/null
    [ $(($(devfree 0) - b0)) -le $((-moved)) ] || fail "not back on device 0"
    "$tfuse" vgpu migrate --node "$api" mg --device x 2>&1 | grep -q 'device index' ||
        fail "the CLI took a bad --device"
    # frozen: refused until resumed
    expect 200 - POST /api/v1/vgpus/mg/freeze >/dev/null
    expect 409 frozen POST /api/v1/vgpus/mg/migrate '{"device":1}' >/dev/null
    say check "ok 6" >/dev/null
    expect 200 - POST /api/v1/vgpus/mg/migrate '{"device":1}' >/dev/null
    say check "ok 7" >/dev/null
    echo end >&"${fd_of[a]}"
    wait "${pids[0]}" || fail "the program did not end cleanly: $(cat "$work/a.err")"
    # one refusal (the 4 KiB allocation's), three migrations, nothing lost
    [ "$(grep -c 'refused or failed' "$work/node.log")" = 1 ] &&
        [ "$(grep -c 'session [0-9]* migrated from device' "$work/node.log")" = 3 ] &&
        ! grep -q "out of memory recording\|bytes are lost\|stays frozen" "$work/node.log" ||
        fail "the node's log: $(grep -i migrat "$work/node.log")"
}

# A CUDA runtime program (nvcc-built migrate_view: its kernels are libraries, cuLibraryLoadData,
# in the primary context; cudaMalloc, a stream, an event) moved to device 1 mid-run and back.
case_cudart() {
    holder=$build/tests/freeze/migrate_view
    [ -x "$holder" ] || { echo "no migrate_view (built only where nvcc is): skipped"; exit 77; }
    export SOFTGPU_DEVICES=2 SOFTGPU_MEMORY=512MiB
    export SOFTGPU_NAMESPACE=${SOFTGPU_NAMESPACE:-freeze}_migrate2
    start_node --freeze-to host --allow-unlimited
    local tok r a0 a1 moved=$((HELD + PITCHED))
    tok=$(http POST /api/v1/vgpus '{"vram":"256MiB","id":"cr","device":0}' | cut -d' ' -f2- |
          jq -r .token)
    start_holder "$tok" $HELD
    say check "ok 1" >/dev/null
    a0=$(devfree 0)
    a1=$(devfree 1)
    r=$(expect 200 - POST /api/v1/vgpus/cr/migrate '{"device":1}')
    echo "$r" | jq -e ".moved_bytes == $moved" >/dev/null || fail "migrate reply: $r"
    echo "migrated $moved bytes in $(echo "$r" | jq .took_ms) ms"
    [ $(($(devfree 0) - a0)) -ge $moved ] && [ $((a1 - $(devfree 1))) -ge $moved ] ||
        fail "the memory did not move to device 1"
    say check "ok 2" >/dev/null
    say check "ok 3" >/dev/null
    expect 200 - POST /api/v1/vgpus/cr/migrate '{"device":0}' >/dev/null
    say check "ok 4" >/dev/null
    echo end >&"${fd_of[a]}"
    wait "${pids[0]}" || fail "the program did not end cleanly: $(cat "$work/a.err")"
}

# Two sessions of one vGPU move together or not at all: one that refuses has the other moved
# back, and both go on with the CPU's results where they were; a session that starts after a
# migration starts on the device its vGPU's sessions were moved to.
case_pair() {
    export SOFTGPU_DEVICES=2 SOFTGPU_MEMORY=512MiB
    export SOFTGPU_NAMESPACE=${SOFTGPU_NAMESPACE:-freeze}_migrate2
    start_node --freeze-to host --allow-unlimited
    local tok r f1 one=$((32 * MiB + PITCHED))
    tok=$(http POST /api/v1/vgpus '{"vram":"256MiB","id":"pr","device":0}' | cut -d' ' -f2- |
          jq -r .token)
    start_holder "$tok" $((32 * MiB)) a
    start_holder "$tok" $((32 * MiB)) b
    say check "ok 1" a >/dev/null
    say check "ok 1" b >/dev/null
    r=$(expect 200 - POST /api/v1/vgpus/pr/migrate '{"device":1}')
    echo "$r" | jq -e ".moved_bytes == $((2 * one)) and (.sessions | length) == 2 and
        all(.sessions[]; .outcome == \"done\")" >/dev/null || fail "migrate reply: $r"
    echo "two sessions moved to device 1 in $(echo "$r" | jq .took_ms) ms"
    say check "ok 2" a >/dev/null
    say check "ok 2" b >/dev/null
    # b holds what cannot move: a moves to device 0, b refuses, a is moved back to device 1
    say mod "loaded" b >/dev/null
    f1=$(devfree 1)
    r=$(expect 409 cannot_migrate POST /api/v1/vgpus/pr/migrate '{"device":0}')
    echo "$r" | jq -e '[.sessions[].outcome] | sort == ["done", "failed"]' >/dev/null ||
        fail "the refusal's sessions: $r"
    echo "refused: $(echo "$r" | jq -r .message)"
    [ "$(grep -c 'session [0-9]* migrated from device 1 to device 0' "$work/node.log")" = 1 ] &&
        [ "$(grep -c 'session [0-9]* migrated from device 0 to device 1' "$work/node.log")" = 3 ] ||
        fail "the one that moved was not moved back: $(grep -i migrat "$work/node.log")"
    [ $((f1 - $(devfree 1))) -gt $((-one)) ] || fail "device 1 lost a session's memory"
    vgpu pr | jq -e '.migration.device_index == 1' >/dev/null || fail "placement: $(vgpu pr)"
    say check "ok 3" a >/dev/null
    say check "ok 3" b >/dev/null
    say unmod "unloaded" b >/dev/null
    expect 200 - POST /api/v1/vgpus/pr/migrate '{"device":0}' >/dev/null
    say check "ok 4" a >/dev/null
    say check "ok 4" b >/dev/null
    # on device 1 again, a session that starts now starts there too
    expect 200 - POST /api/v1/vgpus/pr/migrate '{"device":1}' >/dev/null
    local d0 d1
    d0=$(devfree 0)
    d1=$(devfree 1)
    start_holder "$tok" $((32 * MiB)) c
    say check "ok 1" c >/dev/null
    [ $((d1 - $(devfree 1))) -ge $one ] && [ $((d0 - $(devfree 0))) -lt $one ] ||
        fail "the new session's memory is not on device 1"
    grep -q "starts on device 1, where its vGPU's sessions were migrated" "$work/node.log" ||
        fail "the new session did not say so: $(grep migrat "$work/node.log")"
    say check "ok 5" a >/dev/null
    for w in a b c; do echo end >&"${fd_of[$w]}"; done
    wait "${pids[0]}" "${pids[2]}" "${pids[4]}" || fail "a program did not end cleanly"
}

case_migrate_host() {
    export TFUSE_MIGRATE_VIA_HOST=1
    case_migrate
}

"case_$case_name" || exit 1
echo "freeze_$case_name: OK"
