#!/usr/bin/env bash
# Live resize through the pool (issue 14): PATCH /api/v1/allocations/{id} and `tfuse pool
# resize` against a real pool and a real softgpu node.
#
#   run-poolresize.sh BUILD_DIR SOURCE_DIR
#
# Checks: a tenant grows its allocation and the node's vGPU follows; a resize the GPU cannot
# hold is refused (409 no_capacity) and neither the record nor the node changes; another
# tenant's PATCH answers 404 and changes nothing; the tenant's quota bounds a resize (403);
# with a program holding memory on the vGPU, a shrink below it is refused by the node, said so
# by the pool (409, the node's figures), and the record and the vGPU keep their values; once
# the program ended the shrink goes through (the CLI); the record outlives a pool restart.
# Everything started is stopped on every exit path.
set -u

build=$1
tfuse=$build/bin/tfuse
prog=$build/tests/isolation/prog_iso
logs="pool pool2 node prog"
. "$(dirname "$0")/../lib/pool-harness.sh" poolresize

start_pool pool
admin=$(cat "$work/pool.db.admin-token")
start_node node-z
wait_until 20 healthy || fail "the node is not healthy at the pool"
ta=$(expect 201 "$admin" POST /api/v1/tenants/team-a '{}' | jq -r .token)
tb=$(expect 201 "$admin" POST /api/v1/tenants/team-b '{}' | jq -r .token)
mem=$(call "$admin" GET /api/v1/nodes/node-z | cut -d' ' -f2- | jq '.devices[0].memory_bytes')

a=$(expect 201 "$ta" POST /api/v1/allocations \
    '{"compute_request_pct":10,"vram_request":67108864,"qos":"low"}')
id=$(jq -r .id <<<"$a")
vg=$(jq -r '.devices[0].vgpu_id' <<<"$a")
tok=$(jq -r '.devices[0].token' <<<"$a")
[ "$(nvgpu "$vg" vram_bytes)" = $((64 * MiB)) ] || fail "the node's vGPU: $(nvgpu "$vg" .)"

# ---- grow: the record and the node's vGPU follow
r=$(expect 200 "$ta" PATCH "/api/v1/allocations/$id" \
    '{"vram_request":134217728,"compute_request_pct":20,"compute_limit_pct":40,"qos":"high"}')
[ "$(jq -c '[.devices[0].vram_request, .devices[0].vram_limit, .qos]' <<<"$r")" = \
  "[$((128 * MiB)),$((128 * MiB)),\"high\"]" ] || fail "grown record: $r"
[ "$(nvgpu "$vg" vram_bytes)" = $((128 * MiB)) ] || fail "node vram after grow"
[ "$(nvgpu "$vg" compute_limit_pct)" = 40 ] || fail "node compute after grow: $(nvgpu "$vg" .)"
[ "$(nvgpu "$vg" qos)" = high ] || fail "node qos after grow"
echo "grown: $(jq -c '.devices[0] | [.vram_request, .tflops_request, .tflops_limit]' <<<"$r")"

# ---- more than the GPU has: refused, nothing changes
r=$(expect 409 "$ta" PATCH "/api/v1/allocations/$id" "{\"vram_request\": $((mem + MiB))}")
[ "$(jq -r .error <<<"$r")" = no_capacity ] || fail "too big: $r"
echo "refused: $(jq -r .message <<<"$r")"
[ "$(call "$ta" GET "/api/v1/allocations/$id" | cut -d' ' -f2- |
     jq '.devices[0].vram_limit')" = $((128 * MiB)) ] || fail "a refused resize changed the record"
[ "$(nvgpu "$vg" vram_bytes)" = $((128 * MiB)) ] || fail "a refused resize reached the node"

# ---- another tenant's allocation: as absent as one that never existed
expect 404 "$tb" PATCH "/api/v1/allocations/$id" '{"vram_request":67108864}' >/dev/null
expect 401 nope PATCH "/api/v1/allocations/$id" '{"vram_request":67108864}' >/dev/null
expect 400 "$ta" PATCH "/api/v1/allocations/$id" '{"vram":1}' >/dev/null
expect 400 "$ta" PATCH "/api/v1/allocations/$id" '{}' >/dev/null
[ "$(nvgpu "$vg" vram_bytes)" = $((128 * MiB)) ] || fail "another tenant resized it"

# ---- the quota bounds a resize
expect 200 "$admin" PUT /api/v1/quotas/team-a '{"max_vram":201326592}' >/dev/null
r=$(expect 403 "$ta" PATCH "/api/v1/allocations/$id" '{"vram_request":268435456}')
[ "$(jq -r .error <<<"$r")" = quota ] || fail "quota: $r"
expect 200 "$admin" PUT /api/v1/quotas/team-a '{}' >/dev/null

# ---- a program holds 96 MiB: the node refuses a shrink below it, the record keeps its values
"$tfuse" run --connect "unix:$work/node.sock" --vgpu "$tok" -- "$prog" hold $((96 * MiB)) \
    >"$work/prog.log" 2>&1 &
prog_pid=$!
pids+=($prog_pid)
wait_until 30 grep -q '^held' "$work/prog.log" || fail "the program did not start"
r=$(expect 409 "$ta" PATCH "/api/v1/allocations/$id" '{"vram_request":67108864}')
grep -q 'in use' <<<"$(jq -r .message <<<"$r")" || fail "the node's reason: $r"
echo "refused by the node: $(jq -r .message <<<"$r")"
[ "$(call "$ta" GET "/api/v1/allocations/$id" | cut -d' ' -f2- |
     jq -c '[.devices[0].vram_limit, .qos]')" = "[$((128 * MiB)),\"high\"]" ] ||
    fail "the record changed after the node refused"
[ "$(nvgpu "$vg" vram_bytes)" = $((128 * MiB)) ] || fail "the node's vGPU changed"
stop_pid "$prog_pid"
gone() { [ "$(nvgpu "$vg" used_bytes)" = 0 ]; }
wait_until 20 gone || fail "the program's memory did not come back"

# ---- now it fits: the CLI, as the tenant
out=$(TFUSE_POOL_TOKEN=$ta "$tfuse" pool resize "$id" --pool "$url" --vram 64MiB --qos medium) ||
    fail "tfuse pool resize: $out"
echo "cli: $out"
[ "$(nvgpu "$vg" vram_bytes)" = $((64 * MiB)) ] || fail "node vram after the CLI resize"
TFUSE_POOL_TOKEN=$tb "$tfuse" pool resize "$id" --pool "$url" --vram 32MiB 2>/dev/null &&
    fail "another tenant's CLI resize succeeded"

# ---- the record outlives a pool restart
stop_pid "$pid_pool"
start_pool pool2
wait_until 20 healthy || fail "the node is not healthy at the restarted pool"
[ "$(call "$ta" GET "/api/v1/allocations/$id" | cut -d' ' -f2- |
     jq -c '[.devices[0].vram_limit, .qos, .status]')" = \
  "[$((64 * MiB)),\"medium\",\"active\"]" ] ||
    fail "after the restart: $(call "$ta" GET "/api/v1/allocations/$id")"
expect 204 "$ta" DELETE "/api/v1/allocations/$id" >/dev/null

finish_clean
echo "PASS"
