#!/usr/bin/env bash
# End-to-end tests of freeze and resume (issue 15, docs/freeze.md): a real `tfuse node --api` on
# softgpu with --freeze-to, vGPUs created over HTTP, prog_freeze run through `tfuse run` with
# its state in device memory, driven through a fifo.
#
#   run-freeze-test.sh CASE BUILD_DIR SOURCE_DIR
#
# CASE: state disk api room killed idle oversub switch (see each function). Every node and
# program is stopped on every exit path (node-harness.sh).
set -u

case_name=$1 build=$2 src=$3
tfuse=$build/bin/tfuse
prog=$build/tests/freeze/prog_freeze
. "$src/tests/lib/node-harness.sh" freeze-test
PITCHED=$((2 * MiB))     # prog_freeze's pitched allocation: 1024-byte pitch x 2048 rows

field() { jq -r "$1"; }
create() {   # create BODY -> the reply; fails the test unless 201
    local r
    r=$(http POST /api/v1/vgpus "$1")
    [ "${r%% *}" = 201 ] || fail "create $1 answered $r"
    echo "${r#* }"
}
vgpu() { http GET "/api/v1/vgpus/$1" | cut -d' ' -f2-; }
frozen_is() { [ "$(vgpu "$1" | jq -r .freeze.frozen)" = "$2" ]; }
expect() {   # expect CODE REASON METHOD PATH [BODY]: the status and the error's reason
    local want=$1 reason=$2 r
    shift 2
    r=$(http "$@")
    [ "${r%% *}" = "$want" ] || fail "$* answered $r, expected $want"
    [ "$reason" = - ] || [ "$(echo "${r#* }" | jq -r .error)" = "$reason" ] ||
        fail "$* answered $r, expected the reason $reason"
}

# The device's free memory as a whole-device session sees it (the node has --allow-unlimited).
devfree() {
    timeout $T60 "$tfuse" run --connect "${1:-$sess}" -- "$prog" devfree |
        sed -n 's/^devfree \([0-9]*\).*/\1/p'
}

# start_holder NAME TOKEN BYTES [SESSION ADDRESS]: prog_freeze hold on that vGPU, its commands
# on fd ${cmd[NAME]}; waits for "ready".
declare -A cmd
start_holder() {
    mkfifo "$work/$1.in"
    exec {fd}<>"$work/$1.in"
    cmd[$1]=$fd
    timeout $(scaled 150) "$tfuse" run --connect "${4:-$sess}" --vgpu "$2" -- "$prog" hold "$3" \
        <"$work/$1.in" >"$work/$1.out" 2>"$work/$1.err" &
    pids+=($!)
    eval "pid_$1=$!"
    wait_until 120 grep -q '^ready' "$work/$1.out" ||
        fail "$1 did not start: $(cat "$work/$1.out" "$work/$1.err")"
    pids+=("$(sed -n 's/^ready pid //p' "$work/$1.out")")   # killed on exit, as tfuse run is
}
# say NAME COMMAND EXPECTED-PREFIX: sends a command and waits for the next line of output
say() {
    local n before
    before=$(wc -l <"$work/$1.out")
    echo "$2" >&"${cmd[$1]}"
    wait_until 60 eval "[ \$(wc -l <\"$work/$1.out\") -gt $before ]" ||
        fail "$1 did not answer '$2': $(cat "$work/$1.out" "$work/$1.err")"
    n=$(sed -n "$((before + 1))p" "$work/$1.out")
    case "$n" in
        "$3"*) echo "$n" ;;
        *) fail "$1 answered '$n' to '$2', expected '$3...': $(cat "$work/$1.err")" ;;
    esac
}
worker_of() {   # the worker pid of vGPU $1's one session
    http GET /api/v1/sessions | cut -d' ' -f2- | jq -r ".sessions[] | select(.vgpu == \"$1\") |
        .worker_pid"
}

# A program's state in device memory frozen mid-run: the device gets the memory back, the vGPU
# keeps it charged, a call resumes it transparently, the results equal the CPU's.
case_state() {
    start_node --freeze-to host --allow-unlimited
    local v tok f0 f1 f2 used r
    v=$(create '{"vram":"256MiB","id":"fz"}')
    tok=$(echo "$v" | field .token)
    start_holder a "$tok" $((64 * MiB))
    say a check "ok 1" >/dev/null
    [ "$(vgpu fz | jq .freeze.freezable_bytes)" = $((64 * MiB + PITCHED)) ] ||
        fail "freezable bytes: $(vgpu fz)"
    used=$(vgpu fz | jq .used_bytes)
    f0=$(devfree)
    r=$(http POST /api/v1/vgpus/fz/freeze)
    [ "${r%% *}" = 200 ] || fail "freeze answered $r"
    echo "${r#* }" | jq -e '.freeze.frozen and .freeze.frozen_to == "host" and
        .freeze.frozen_bytes == '$((64 * MiB + PITCHED))' and .freeze.freezes_total == 1' \
        >/dev/null || fail "freeze reply: $r"
    f1=$(devfree)
    [ $((f1 - f0)) -ge $((64 * MiB + PITCHED)) ] ||
        fail "the device's free memory rose by $((f1 - f0)) bytes, not by the program's"
    [ "$(vgpu fz | jq .used_bytes)" = "$used" ] || fail "the vGPU's charge changed while frozen"
    [ "$(vgpu fz | jq .freeze.host_bytes)" = $((64 * MiB + PITCHED)) ] || fail "$(vgpu fz)"
    http GET /metrics | grep -q '^tfuse_vgpu_frozen{vgpu="fz",.*} 1$' ||
        fail "metrics do not show the freeze"
    "$tfuse" ps --node "$api" | grep -q 'frozen (host: 66' ||
        fail "ps: $("$tfuse" ps --node "$api")"
    "$tfuse" vgpu list --node "$api" | grep -q '^fz  *frozen' || fail "tfuse vgpu list"
    # a call while frozen: resumed transparently, at the same addresses, with the same bytes
    say a check "ok 2" >/dev/null
    frozen_is fz false || fail "still frozen after a call: $(vgpu fz)"
    [ "$(vgpu fz | jq .freeze.resumes_total)" = 1 ] || fail "resume not counted: $(vgpu fz)"
    f2=$(devfree)
    [ $((f1 - f2)) -ge $((64 * MiB + PITCHED)) ] || fail "resumed, yet the device has it free"
    # the CLI's verbs, an explicit resume
    "$tfuse" vgpu freeze --node "$api" fz | grep -q '^froze fz: 1 session' || fail "cli freeze"
    "$tfuse" vgpu resume --node "$api" fz | grep -q '^resumed fz' || fail "cli resume"
    say a check "ok 3" >/dev/null
    grep -q 'vGPU fz frozen to host memory' "$work/node.log" &&
        grep -q 'frozen (asked by the node)' "$work/node.log" &&
        grep -q 'resumed (by cuLaunchKernel)' "$work/node.log" || fail "freezes not logged"
    # an allocation freed while frozen (the free resumes first), then a freeze without it
    http POST /api/v1/vgpus/fz/freeze >/dev/null
    say a free freed >/dev/null
    r=$(http POST /api/v1/vgpus/fz/freeze)
    echo "$r" | cut -d' ' -f2- | jq -e ".freeze.frozen_bytes == $PITCHED" >/dev/null ||
        fail "freeze after a free: $r"
    say a check "ok 4" >/dev/null
    echo end >&"${cmd[a]}"
    wait "$pid_a" || fail "the program failed: $(cat "$work/a.out" "$work/a.err")"
    echo "64 MiB + pitched + globals frozen, resumed by a call and by the API; results = CPU's"
}

# Frozen to a file under --state: the host keeps nothing, the file goes at the resume and with a
# killed worker.
case_disk() {
    start_node --freeze-to disk --state "$work/state"
    local v tok r w
    v=$(create '{"vram":"256MiB","id":"dk"}')
    tok=$(echo "$v" | field .token)
    start_holder a "$tok" $((32 * MiB))
    w=$(worker_of dk)
    r=$(http POST /api/v1/vgpus/dk/freeze)
    echo "${r#* }" | jq -e '.freeze.frozen_to == "disk" and .freeze.host_bytes == 0' \
        >/dev/null || fail "disk freeze: $r"
    [ "$(stat -c %s "$work/state/freeze/session-$w.frozen")" = $((32 * MiB + PITCHED)) ] ||
        fail "no image: $(ls -l "$work/state/freeze")"
    say a check "ok 1" >/dev/null
    [ ! -e "$work/state/freeze/session-$w.frozen" ] || fail "the image outlived the resume"
    # the body chooses: host memory this time
    r=$(http POST /api/v1/vgpus/dk/freeze '{"to":"host"}')
    echo "${r#* }" | jq -e '.freeze.frozen_to == "host"' >/dev/null || fail "to host: $r"
    say a check "ok 2" >/dev/null
    # a worker killed while frozen to disk: the node removes its image
    http POST /api/v1/vgpus/dk/freeze >/dev/null
    [ -e "$work/state/freeze/session-$w.frozen" ] || fail "no image for the second freeze"
    kill -KILL "$w"
    wait_until 10 eval "[ ! -e \"$work/state/freeze/session-$w.frozen\" ]" ||
        fail "a killed worker's image stayed"
    say a check "error " >/dev/null   # its next call fails (bounded by say's wait), not hangs
    echo "frozen to disk and back; images removed at resume and with their worker"
}

# Bad requests get clear errors and change nothing.
case_api() {
    start_node --allow-unlimited
    create '{"vram":"64MiB","id":"off"}' >/dev/null
    expect 409 freeze_off POST /api/v1/vgpus/off/freeze
    kill -TERM "$node_pid"
    wait "$node_pid"
    local port tok other
    port=$((20000 + RANDOM % 20000))
    start_node --freeze-to host --api "tcp:127.0.0.1:$port" --api-token admin-secret
    tok=$(create '{"vram":"256MiB","id":"ap"}' | field .token)
    other=$(create '{"vram":"64MiB","id":"other"}' | field .token)
    expect 404 not_found POST /api/v1/vgpus/nope/freeze
    expect 409 no_sessions POST /api/v1/vgpus/ap/freeze
    expect 405 - GET /api/v1/vgpus/ap/freeze
    start_holder a "$tok" $((8 * MiB))
    expect 400 bad_request POST /api/v1/vgpus/ap/freeze '{"to":"tape"}'
    expect 400 bad_request POST /api/v1/vgpus/ap/freeze '{"to":"host","x":1}'
    expect 400 bad_request POST /api/v1/vgpus/ap/freeze '[1]'
    expect 400 bad_request POST /api/v1/vgpus/ap/resume '{"to":"host"}'
    expect 409 not_frozen POST /api/v1/vgpus/ap/resume
    frozen_is ap false || fail "a refused request froze it"
    # over tcp: the admin's token, the tenant's own, another tenant's, none
    tcp() {   # tcp TOKEN PATH -> status
        curl -s -o /dev/null -w '%{http_code}' -X POST ${1:+-H "Authorization: Bearer $1"} \
            "http://127.0.0.1:$port$2"
    }
    [ "$(tcp "$other" /api/v1/vgpus/ap/freeze)" = 403 ] || fail "another tenant's token froze ap"
    [ "$(tcp "" /api/v1/vgpus/ap/freeze)" = 401 ] || fail "no token froze ap"
    frozen_is ap false || fail "a refused request froze it"
    [ "$(tcp "$tok" /api/v1/vgpus/ap/freeze)" = 200 ] || fail "the tenant could not freeze"
    expect 409 already_frozen POST /api/v1/vgpus/ap/freeze
    [ "$(tcp admin-secret /api/v1/vgpus/ap/resume)" = 200 ] || fail "the admin could not resume"
    [ "$(tcp "$tok" /api/v1/vgpus/other/freeze)" = 403 ] || fail "ap's token reached other"
    say a check "ok 1" >/dev/null
    "$tfuse" vgpu freeze --node "$api" nope 2>&1 | grep -q "no live vGPU named 'nope'" ||
        fail "the CLI's error"
    echo "unknown id, no sessions, bad bodies, double freeze, tokens: all refused clearly"
}

# A resume waits, bounded, while the device has no room, then fails clearly and stays frozen:
# on a 192 MiB device, a (96 + 2 MiB) and b (128 + 2 MiB) fit only one at a time.
case_room() {
    # a device of its own: a segment left by a killed run keeps the size it was made with
    export SOFTGPU_NAMESPACE=${SOFTGPU_NAMESPACE:-freeze}_192MiB
    SOFTGPU_MEMORY=192MiB TFUSE_FREEZE_ROOM_WAIT_MS=1500 \
        start_node --freeze-to host --oversubscribe --ctx-overhead 0
    local ta tb line
    ta=$(create '{"vram":"160MiB","id":"ra"}' | field .token)
    tb=$(create '{"vram":"160MiB","id":"rb"}' | field .token)
    start_holder a "$ta" $((96 * MiB))
    http POST /api/v1/vgpus/ra/freeze | grep -q '^200' || fail "freeze ra"
    start_holder b "$tb" $((128 * MiB))   # fits only because a is frozen
    line=$(say a check "error 2 ")
    echo "a while the device is full: $line"
    frozen_is ra true || fail "a failed resume left ra thawed"
    grep -q 'the device has no room' "$work/node.log" || fail "no clear error in the log"
    say b free freed >/dev/null
    say a check "ok " >/dev/null   # the failed check did no step: the CPU's state is the same
    frozen_is ra false || fail "ra is still frozen"
    echo "resume refused after a bounded wait while full, then done once room came back"
}

# kill -9 of a node during a freeze: a tenant of another node on the same device keeps its
# state, the frozen tenant gets an error (not a hang), its memory and image are freed.
case_killed() {
    local sess_b=unix:$work/b.sock api_b=$work/b-api.sock tb ta f0 r
    "$tfuse" node --backend soft --listen "$sess_b" --api "unix:$api_b" --allow-unlimited \
        >"$work/node-b.log" 2>&1 &
    pids+=($!)
    wait_until 10 eval "[ -S $api_b ] && [ -S $work/b.sock ]" || fail "node b did not start"
    tb=$(curl -s --unix-socket "$api_b" -X POST -H 'Content-Type: application/json' \
         --data-binary '{"vram":"256MiB","id":"kb"}' http://node/api/v1/vgpus | jq -r .token)
    start_node --freeze-to disk --state "$work/state"
    ta=$(create '{"vram":"256MiB","id":"ka"}' | field .token)
    start_holder a "$ta" $((64 * MiB))
    start_holder b "$tb" $((32 * MiB)) "$sess_b"
    f0=$(devfree "$sess_b")
    http POST /api/v1/vgpus/ka/freeze >"$work/freeze.out" &
    sleep 0.1
    kill -KILL "$node_pid"
    wait "$node_pid" 2>/dev/null
    node_pid=
    r=$(say a check "error ")
    echo "the frozen tenant: $r"
    wait_until 30 eval "! kill -0 $pid_a 2>/dev/null" || true
    say b check "ok 1" >/dev/null
    wait_until 30 eval "[ \$(devfree $sess_b) -ge $((f0 + 64 * MiB)) ]" ||
        fail "the dead node's tenant still holds device memory"
    # a new node on the same state folder removes the image the dead one left
    rm -f "$work/api.sock" "$work/s.sock"
    start_node --freeze-to disk --state "$work/state"
    [ -z "$(ls "$work/state/freeze")" ] || fail "images left: $(ls "$work/state/freeze")"
    echo end >&"${cmd[b]}"
    echo "node killed during a freeze: the other tenant finished, the frozen one got an error"
}

# --freeze-idle: a vGPU idle that long is frozen; a call resumes it; idle again, frozen again.
# (A second between two calls is idle: on a loaded host the program's setup may be frozen and
# resumed too, so the counts are compared before and after, not to fixed numbers.)
counter() { vgpu id | jq ".freeze.$1"; }
case_idle() {
    start_node --freeze-to host --freeze-idle 1
    local tok n r
    tok=$(create '{"vram":"256MiB","id":"id"}' | field .token)
    start_holder a "$tok" $((16 * MiB))
    wait_until 20 frozen_is id true || fail "not frozen when idle: $(vgpu id)"
    grep -q 'vGPU id frozen to host memory (idle for 1 s)' "$work/node.log" || fail "not logged"
    n=$(counter freezes_total) r=$(counter resumes_total)
    say a check "ok 1" >/dev/null
    [ "$(counter resumes_total)" -gt "$r" ] || fail "the call did not resume it: $(vgpu id)"
    wait_until 20 eval "[ \$(counter freezes_total) -gt $n ] && frozen_is id true" ||
        fail "not frozen again: $(vgpu id)"
    say a check "ok 2" >/dev/null
    echo "idle vGPU frozen, resumed by a call, frozen again"
}

# --oversubscribe-memory 1.8 on a 128 MiB device: three tenants whose limits add up to 180% of it
# hold 50 MiB each (two fit at a time) and compute in turns, each turn freezing the least
# recently active other; all finish with the CPU's results. Then QoS: a high tenant's
# allocation freezes a low one, never the reverse; an allocation that cannot fit even with
# everything freezable frozen (the rest is critical) fails with CUDA_ERROR_OUT_OF_MEMORY,
# bounded, and the session goes on.
HOLD=$((48 * MiB))   # + prog_freeze's 2 MiB pitched allocation
limit180=$(((128 * MiB * 18 / 10) / 3))   # three of these add up to 180% of the device
hold_turns() {   # hold_turns ROUNDS NAME...: each tenant checks in turn
    local round n
    for round in $(seq "$1"); do
        for n in "${@:2}"; do say "$n" check "ok $round" >/dev/null; done
    done
}
evictions() { http GET /metrics | sed -n "s/^tfuse_vgpu_evictions_total{vgpu=\"$1\",.*} //p"; }
nsessions() { http GET /api/v1/sessions | cut -d' ' -f2- | jq '.sessions | length'; }
case_oversub() {
    export SOFTGPU_NAMESPACE=${SOFTGPU_NAMESPACE:-freeze}_128MiB
    SOFTGPU_MEMORY=128MiB start_node --freeze-to host --oversubscribe-memory 1.8 \
        --oversubscribe-wait 3 --ctx-overhead 0
    local ta tb tc line n
    ta=$(create '{"vram_bytes":'$limit180',"id":"oa"}' | field .token)
    tb=$(create '{"vram_bytes":'$limit180',"id":"ob"}' | field .token)
    tc=$(create '{"vram_bytes":'$limit180',"id":"oc"}' | field .token)
    expect 409 conflict POST /api/v1/vgpus '{"vram":"2MiB","id":"od"}'   # past 1.8x
    [ "$(http GET /api/v1/devices | cut -d' ' -f2- | jq '.devices[0].memory_promisable_bytes')" \
        = $((128 * MiB * 18 / 10)) ] || fail "devices: $(http GET /api/v1/devices)"
    start_holder a "$ta" $HOLD
    start_holder b "$tb" $HOLD
    start_holder c "$tc" $HOLD   # a third does not fit: the idlest (a) is frozen for it
    frozen_is oa true || fail "oa not frozen to make room for oc: $(vgpu oa)"
    "$tfuse" ps --node "$api" | grep -q 'frozen (host: 50' ||
        fail "ps: $("$tfuse" ps --node "$api")"
    hold_turns 2 a b c
    for n in a b c; do [ "$(evictions o$n)" -ge 1 ] || fail "o$n evicted $(evictions o$n)x"; done
    grep -q 'frozen to host memory (to make room for vGPU oc' "$work/node.log" ||
        fail "the freeze for room is not logged"
    http GET /metrics | grep -q '^tfuse_vgpu_room_requests_total{vgpu="oc",.*} [1-9]' ||
        fail "room requests not counted"
    for n in a b c; do echo end >&"${cmd[$n]}"; done
    wait_until 60 eval '[ "$(nsessions)" = 0 ]' || fail "sessions did not end"
    echo "three tenants at 180% of the device computed in turns, results equal to the CPU's"
    for n in oa ob oc; do http DELETE "/api/v1/vgpus/$n" >/dev/null; done
    ta=$(create '{"vram":"52MiB","id":"lo","qos":"low"}' | field .token)
    tb=$(create '{"vram":"120MiB","id":"hi","qos":"high"}' | field .token)
    tc=$(create '{"vram":"52MiB","id":"cr","qos":"critical"}' | field .token)
    start_holder lo "$ta" $HOLD
    start_holder hi "$tb" $HOLD
    say hi "alloc $((40 * MiB))" "allocated " >/dev/null   # room: lo is frozen
    frozen_is lo true || fail "the high tenant's allocation did not freeze lo: $(vgpu lo)"
    line=$(say lo check "error 2 ")   # hi holds the room and is never frozen for lo
    echo "lo, frozen, while hi holds the room: $line"
    frozen_is hi false || fail "the low tenant froze the high one"
    [ "$(evictions hi)" = 0 ] || fail "hi was evicted"
    say hi unalloc unallocated >/dev/null
    start_holder cr "$tc" $HOLD   # fits: lo stays frozen
    line=$(say hi "alloc $((60 * MiB))" "error 2 ")   # lo frozen already, cr critical
    echo "hi, past what freezing can give: $line"
    frozen_is cr false || fail "a high tenant froze a critical one"
    say hi check "ok 1" >/dev/null   # the session goes on
    grep -q "no room on the device for $((60 * MiB)) bytes" "$work/node.log" ||
        fail "not refused for want of room on the device"
    echo end >&"${cmd[cr]}"
    say lo check "ok " >/dev/null   # room again: lo resumes with its state (the failed check
                                    # did no step: the CPU's state is the same)
    echo "QoS respected; an allocation that cannot fit fails bounded and its session goes on"
}

# Model switching on one vGPU (issue 21): two programs with different state share vGPU sw,
# whose limit holds one of them (each holds 0.7 of it); the idle one is frozen, per session, off
# the vGPU's ledger whenever the other needs the room, and they alternate with the CPU's
# results; a program of another vGPU is never touched; past what switching can give, an
# allocation fails after the bounded wait and its session goes on. Each also holds 16
# allocations under 2 MiB, frozen with the rest (sub-allocated in one 2 MiB chunk).
SWHOLD=$((42 * MiB))   # + the 2 MiB pitched allocation: 44 MiB, 0.71 of 62 MiB
SMALL=16 SMALLSUM=0
for i in $(seq 0 $((SMALL - 1))); do SMALLSUM=$((SMALLSUM + (1000 + 777 * i) / 4 * 4)); done
case_switch() {
    start_node --freeze-to host --switch-idle-ms 300 --oversubscribe-wait 5 --ctx-overhead 0
    local tm to j used line
    tm=$(create '{"vram":"62MiB","id":"sw"}' | field .token)
    to=$(create '{"vram":"64MiB","id":"so"}' | field .token)
    PROG_FREEZE_SEED=1 PROG_FREEZE_SMALL=$SMALL start_holder a "$tm" $SWHOLD
    PROG_FREEZE_SEED=2 PROG_FREEZE_SMALL=$SMALL PROG_FREEZE_ASYNC=1 \
        start_holder b "$tm" $SWHOLD   # a is frozen; b's linear memory is cuMemAllocAsync's
    start_holder o "$to" $((16 * MiB))
    j=$(vgpu sw)
    [ "$(echo "$j" | jq .freeze.sessions_frozen)" = 1 ] &&
        [ "$(echo "$j" | jq .freeze.host_bytes)" = $((SWHOLD + PITCHED + 2 * MiB)) ] &&
        [ "$(echo "$j" | jq .freeze.switched_bytes)" = $((SWHOLD + PITCHED + SMALLSUM)) ] ||
        fail "a was not frozen for b: $j"
    used=$(echo "$j" | jq .used_bytes)
    [ "$used" -le $((62 * MiB)) ] && [ "$used" -ge $((SWHOLD + PITCHED)) ] ||
        fail "used_bytes $used: the frozen session still counts, or b does not"
    "$tfuse" ps --node "$api" | grep -q ', 1 frozen (host: 46' ||
        fail "ps: $("$tfuse" ps --node "$api")"
    say a check "ok 1" >/dev/null   # b switched out, its cuMemAllocAsync memory with it
    j=$(vgpu sw)
    [ "$(echo "$j" | jq .freeze.host_bytes)" = $((SWHOLD + PITCHED + 2 * MiB)) ] ||
        fail "b was not frozen whole for a: $j"
    for round in 1 2 3; do   # each check of a frozen one freezes the other, idle, one
        [ $round = 1 ] && { say b check "ok 1" >/dev/null; say o check "ok 1" >/dev/null;
                            continue; }
        say a check "ok $round" >/dev/null
        say b check "ok $round" >/dev/null
        say o check "ok $round" >/dev/null
    done
    [ "$(grep -c 'to make room for session' "$work/node.log")" -ge 6 ] ||
        fail "switches not logged: $(grep -i switch "$work/node.log")"
    [ "$(http GET /metrics | sed -n 's/^tfuse_vgpu_session_switches_total{vgpu="sw",.*} //p')" \
        -ge 6 ] || fail "switches not counted: $(http GET /metrics | grep switches)"
    [ "$(vgpu so | jq .freeze.freezes_total)" = 0 ] || fail "so was touched: $(vgpu so)"
    echo "two programs on one vGPU of 62 MiB, 44 MiB each, alternated 3 times: CPU's results"
    line=$(say b "alloc $((30 * MiB))" "error 2 ")   # a is off the ledger already: no room
    echo "past what switching can give: $line"
    grep -q "no room within the vGPU's limit for $((30 * MiB)) bytes" "$work/node.log" ||
        fail "the refusal is not logged"
    say b check "ok 4" >/dev/null   # b goes on
    say a check "ok 4" >/dev/null   # and a comes back for it
    say a freesmall freedsmall >/dev/null   # the first of its chunk (at the chunk's address):
    say a check "ok 5" >/dev/null           # the others in the chunk stay
    for n in a b o; do echo end >&"${cmd[$n]}"; done
    wait_until 60 eval '[ "$(nsessions)" = 0 ]' || fail "sessions did not end"
    [ "$(vgpu sw | jq .used_bytes)" = 0 ] || fail "the ledger is not back to 0: $(vgpu sw)"
}

"case_$case_name" || exit 1
echo "freeze_$case_name: OK"
