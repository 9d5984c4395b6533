#!/usr/bin/env bash
# Auto mode through a real pool and a real softgpu node (issue 14): the node's heartbeats
# become the workload's history, and the pool's autoscaler resizes the allocation live while a
# program runs on it.
#
#   run-poolauto.sh BUILD_DIR SOURCE_DIR
#
# The pool runs with --test-clock: POST /api/v1/test/clock moves its clock forward, so a
# sample period (60 s) or the cool-down (600 s) passes without sleeping; passes of auto mode
# are asked for with POST /api/v1/autoscale (the background one waits a day).
# Checks: samples come from the heartbeats; recommend (the default) changes nothing; auto shrinks
# a 512 MiB slice to the workload's min_vram and the running program's cuMemGetInfo sees it; an
# allocation refused by the new limit bumps the recommendation and the slice grows to cover it
# (the node reports its size) at the next pass a minute later (a raise waits only
# --grow-cooldown); a maximum asking for a cut waits the cool-down (600 s), across a pool restart
# too (mode and events kept), then the program sees the smaller limit; a maximum below what the
# program holds is never applied below it (the slice is set to what is in use); every change is an
# event with who/from/to/why (GET /api/v1/events, tfuse pool events); tenant team-b sees none of
# it and cannot change the mode. Everything started is stopped on every exit path.
set -u

build=$1
tfuse=$build/bin/tfuse
prog=$build/tests/isolation/prog_iso
logs="pool pool2 node prog"
. "$(dirname "$0")/../lib/pool-harness.sh" poolauto

serve_opts=(--test-clock --usage-period 60 --cooldown 600 --autoscale-period 86400)
samples() {
    call "$admin" GET /metrics | awk '$1 == "tfuse_pool_usage_samples_total" { print $2 }'
}
# tick [MS]: moves the pool's clock (default 61 s, a sample period) and waits for the sample
# the next heartbeat flushes. $advanced: how far it was moved in all.
advanced=0
tick() {
    local before
    before=$(samples)
    advanced=$((advanced + ${1:-61000}))
    expect 200 "$admin" POST /api/v1/test/clock "{\"advance_ms\": ${1:-61000}}" >/dev/null
    more() { [ "$(samples)" -gt "$before" ]; }
    wait_until 20 more || fail "no usage sample after the clock moved"
}
pass() {   # one pass of auto mode: the number of changes
    expect 200 "$admin" POST /api/v1/autoscale | jq '.changes | length'
}
nevents() { expect 200 "$admin" GET "/api/v1/events?workload=team-a/svc" | jq '.events | length'; }

# The program: holds 48 MiB, then obeys "view", "alloc BYTES", "free" on the FIFO.
n=0
ask() { echo "$1" >&"$cmd"; n=$((n + 1)); }
nth_line() {
    wait_until 30 eval "[ \$(wc -l <\"$work/prog.log\") -ge $1 ]" ||
        fail "the program did not answer (line $1)"
    sed -n "${1}p" "$work/prog.log"
}
seen_total() {   # $seen: what the program's cuMemGetInfo says the total is now
    ask view
    seen=$(nth_line $n | awk '$1 == "view" { print $5 }')
}

start_pool pool "${serve_opts[@]}"
admin=$(cat "$work/pool.db.admin-token")
start_node node-a
wait_until 20 healthy || fail "the node is not healthy at the pool"
ta=$(expect 201 "$admin" POST /api/v1/tenants/team-a '{}' | jq -r .token)
tb=$(expect 201 "$admin" POST /api/v1/tenants/team-b '{}' | jq -r .token)
a=$(TFUSE_POOL_TOKEN=$ta "$tfuse" pool allocate --pool "$url" --tenant team-a --vram 512MiB \
    --compute-pct 50 --workload svc --json) || fail "tfuse pool allocate --workload: $a"
id=$(jq -r .id <<<"$a")
vg=$(jq -r '.devices[0].vgpu_id' <<<"$a")
tok=$(jq -r '.devices[0].token' <<<"$a")
[ "$(jq -r .workload <<<"$a")" = team-a/svc ] || fail "workload: $a"

mkfifo "$work/cmd"
exec {cmd}<>"$work/cmd"
"$tfuse" run --connect "unix:$work/node.sock" --vgpu "$tok" -- "$prog" watch $((48 * MiB)) \
    <"$work/cmd" >"$work/prog.log" 2>&1 {cmd}>&- &
pids+=($!)
[ "$(nth_line 1)" = ready ] || fail "the program did not start: $(cat "$work/prog.log")"
n=1
seen_total; [ "$seen" = $((512 * MiB)) ] || fail "the program's view: $(cat "$work/prog.log")"

# ---- a history from the heartbeats: ten sample periods
for _ in $(seq 10); do tick; done
w=$(expect 200 "$ta" GET /api/v1/workloads/team-a/svc)
[ "$(jq -r .mode <<<"$w")" = recommend ] || fail "default mode: $w"
[ "$(jq .samples <<<"$w")" -ge 10 ] || fail "samples: $w"
used=$(jq '.allocations[0].mem_used' <<<"$w")
target=$(jq .memory.target <<<"$w")
[ "$used" -ge $((48 * MiB)) ] && [ "$target" -ge "$used" ] && [ "$target" -lt $((512 * MiB)) ] ||
    fail "recommendation: $w"
echo "recommended: $(jq -c '[.memory, .why]' <<<"$w")"
[ "$(pass)" = 0 ] || fail "recommend mode changed something"
[ "$(nvgpu "$vg" vram_bytes)" = $((512 * MiB)) ] || fail "recommend mode resized"

# ---- another tenant: neither sees nor changes it
expect 404 "$tb" GET /api/v1/workloads/team-a/svc >/dev/null
expect 404 "$tb" PUT /api/v1/workloads/team-a/svc/mode '{"mode":"auto"}' >/dev/null
[ "$(expect 200 "$tb" GET /api/v1/recommendations | jq '.recommendations | length')" = 0 ] ||
    fail "team-b sees recommendations"
expect 400 "$ta" PUT /api/v1/workloads/team-a/svc/mode '{"mode":"fast"}' >/dev/null

# ---- auto, bounded below by 160 MiB: shrunk live, the program sees it
out=$(TFUSE_POOL_TOKEN=$ta "$tfuse" pool mode team-a/svc auto --min-vram 160MiB --pool "$url") ||
    fail "tfuse pool mode: $out"
[ "$(pass)" = 1 ] || fail "auto mode did not resize"
[ "$(nvgpu "$vg" vram_bytes)" = $((160 * MiB)) ] || fail "node vram: $(nvgpu "$vg" vram_bytes)"
seen_total; [ "$seen" = $((160 * MiB)) ] || fail "the program's view after the shrink"
echo "shrunk: the program sees $((160)) MiB"

# ---- refused at 160 MiB: the recommendation's bump asks for 192 MiB, but the node reports the
# refused allocation (oom_largest, 128 MiB) and auto mode covers it with the 80 MiB in use:
# (80 + 128) MiB + 15% = 240 MiB (192 would refuse it again), a raise: applied a minute later
ask "alloc $((128 * MiB))"
[ "$(nth_line $n)" = "alloc $((128 * MiB)) oom" ] || fail "over the limit: $(nth_line $n)"
tick
w=$(expect 200 "$ta" GET /api/v1/workloads/team-a/svc)
[ "$(jq .memory.target <<<"$w")" = $((192 * MiB)) ] || fail "OOM bump: $w"
[ "$(pass)" = 1 ] || fail "the raise did not go ahead"
[ "$(nvgpu "$vg" vram_bytes)" = $((240 * MiB)) ] || fail "node vram after the bump"
seen_total; [ "$seen" = $((240 * MiB)) ] || fail "the program's view after the bump"
echo "grown after the refusal to cover it: 240 MiB"

# ---- a maximum of 170 MiB asks for a cut: it waits the cool-down, across a restart too
expect 200 "$admin" PUT /api/v1/workloads/team-a/svc/mode \
    "{\"mode\":\"auto\",\"max_vram\":$((170 * MiB))}" >/dev/null
tick
[ "$(pass)" = 0 ] || fail "cut within the cool-down"
stop_pid "$pid_pool"
start_pool pool2 "${serve_opts[@]}"
wait_until 20 healthy || fail "the node is not healthy at the restarted pool"
w=$(expect 200 "$ta" GET /api/v1/workloads/team-a/svc)
[ "$(jq -c '[.mode, .max_vram]' <<<"$w")" = "[\"auto\",$((170 * MiB))]" ] ||
    fail "mode lost in the restart: $w"
[ "$(nevents)" = 4 ] || fail "events after the restart: $(call "$admin" GET /api/v1/events)"
# The restarted pool's test clock starts at the wall's: moved as far as before, the last
# change was two minutes ago.
tick "$advanced"
[ "$(pass)" = 0 ] || fail "the restart forgot the cool-down"
tick 600000
[ "$(pass)" = 1 ] || fail "no cut after the cool-down"
[ "$(nvgpu "$vg" vram_bytes)" = $((170 * MiB)) ] || fail "node vram after the cut"
seen_total; [ "$seen" = $((170 * MiB)) ] || fail "the program's view after the cut"
echo "cut after the cool-down: 170 MiB"

# ---- a maximum below what is held: set to what is in use, never below
ask "alloc $((64 * MiB))"
[ "$(nth_line $n)" = "alloc $((64 * MiB)) ok" ] || fail "alloc 64 MiB: $(nth_line $n)"
expect 200 "$admin" PUT /api/v1/workloads/team-a/svc/mode \
    "{\"mode\":\"auto\",\"max_vram\":$((100 * MiB))}" >/dev/null
held() { [ "$(nvgpu "$vg" used_bytes)" -ge $((112 * MiB)) ]; }
wait_until 10 held || fail "the node does not count what the program holds"
tick 600000
[ "$(pass)" = 1 ] || fail "no change towards the maximum"
in_use=$(nvgpu "$vg" used_bytes)
limit=$(nvgpu "$vg" vram_bytes)
[ "$limit" -ge "$in_use" ] && [ "$limit" -lt $((170 * MiB)) ] || fail "limit $limit, used $in_use"
ev=$(expect 200 "$ta" GET "/api/v1/events?workload=team-a/svc&limit=1" | jq '.events[0]')
grep -q 'in use' <<<"$(jq -r .why <<<"$ev")" || fail "why: $ev"
[ "$(jq -r .who <<<"$ev")" = autoscaler ] && [ "$(jq .to.vram_limit <<<"$ev")" = "$limit" ] ||
    fail "event: $ev"
echo "held at usage: limit $limit >= used $in_use (max 100 MiB)"

# ---- the CLI's views
out=$(TFUSE_POOL_TOKEN=$ta "$tfuse" pool events --pool "$url" --workload team-a/svc) ||
    fail "tfuse pool events: $out"
[ "$(grep -c '^20.* resize ' <<<"$out")" = 4 ] || fail "tfuse pool events: $out"
out=$(TFUSE_POOL_TOKEN=$ta "$tfuse" pool recommendations --pool "$url") ||
    fail "tfuse pool recommendations: $out"
grep -q '^team-a/svc  *auto' <<<"$out" || fail "tfuse pool recommendations: $out"
out=$(TFUSE_POOL_TOKEN=$tb "$tfuse" pool events --pool "$url")
[ -z "$out" ] || fail "team-b's events: $out"
metric='tfuse_pool_recommendation_memory_bytes{workload="team-a/svc",tenant="team-a"'
call "$admin" GET /metrics | grep -qF "$metric,bound=\"target\"}" || fail "recommendation metrics"

exec {cmd}>&-
finish_clean
echo "PASS"
