#!/usr/bin/env bash
# The pool and its node agree (issue 19): reconciliation both ways, the node's pool name,
# labels and topology at the pool.
#
#   run-poolrecon.sh BUILD_DIR SOURCE_DIR
#
# Checks: a malformed --label stops the node at start; a node started with --pool-name gold --label zone=eu-1a --label rack=r12 shows them
# (and each device's "numa" and "nvlink_peers") in GET /api/v1/nodes/{n}; an allocation's vGPU
# carries owner "pool:gold" on the node; after the pool is restored from a database copied
# before that allocation, the node deletes the vGPU the pool forgot within a bounded wait, while
# a vGPU a user created on the node directly (no owner, or an owner of its own) is kept; a
# vGPU deleted on the node behind the pool's back makes its allocation read "lost", without
# tokens. Everything started is killed on every exit path.
set -u

build=$1
tfuse=$build/bin/tfuse
. "$(dirname "$0")/../lib/pool-harness.sh" poolrecon

wait_for() {   # wait_for SECONDS WHAT CMD...
    local secs=$1 what=$2
    shift 2
    wait_until "$secs" "$@" || fail "timed out waiting for $what"
}
get() { curl -sf --max-time "$(scaled 5)" -H "Authorization: Bearer $admin" "$url$1"; }
post() {
    curl -sf --max-time "$(scaled 20)" -H "Authorization: Bearer $admin" -X POST -d "$2" "$url$1"
}
nget() { curl -sf --max-time "$(scaled 5)" "http://127.0.0.1:$port_node$1"; }
npost() {
    curl -sf --max-time "$(scaled 5)" -H 'Content-Type: application/json' -X POST -d "$2" \
        "http://127.0.0.1:$port_node$1"
}
node_has() { nget /api/v1/vgpus | jq -e --arg id "$1" 'any(.vgpus[]; .id == $id)' >/dev/null; }
node_lacks() { ! node_has "$1"; }

port_node=$(free_port)
start_pool pool
admin=$(cat "$work/pool.db.admin-token")
# a malformed label is refused when the node starts, not on every registration attempt
for bad in novalue '=v' 'k y=v'; do
    out=$(timeout "$(scaled 30)" "$tfuse" node --backend soft --listen "unix:$work/bad.sock" \
          --api "tcp:127.0.0.1:$(free_port)" --pool "$url" --label "$bad" \
          --pool-join-token-file "$work/join.token" --state "$work/bad.state" 2>&1) &&
        fail "a node started with --label '$bad'"
    grep -qF -- "--label '$bad'" <<<"$out" || fail "--label '$bad' refused with: $out"
done
"$tfuse" node --backend soft --listen "unix:$work/node.sock" --api "tcp:127.0.0.1:$port_node" \
    --pool "$url" --node-name node-r --pool-name gold --label zone=eu-1a --label rack=r12 \
    --heartbeat-interval 0.2 --pool-join-token-file "$work/join.token" --state "$work/node.state" \
    >"$work/node.log" 2>&1 &
pids+=($!)
healthy() { [ "$(get /api/v1/nodes/node-r | jq -r .healthy)" = true ]; }
wait_for 20 "the node healthy at the pool" healthy

# ---- pool name, labels and topology in the pool's view of the node
view=$(get /api/v1/nodes/node-r)
[ "$(jq -r .pool <<<"$view")" = gold ] || fail "pool name: $view"
[ "$(jq -c .labels <<<"$view")" = '{"rack":"r12","zone":"eu-1a"}' ] ||
    [ "$(jq -c .labels <<<"$view")" = '{"zone":"eu-1a","rack":"r12"}' ] || fail "labels: $view"
jq -e '.devices[0] | (.numa | type == "number") and (.nvlink_peers | type == "array")' \
    <<<"$view" >/dev/null || fail "topology: $view"
echo "node view: pool gold, labels $(jq -c .labels <<<"$view"),\
 numa $(jq .devices[0].numa <<<"$view")"
# a label filter that does not match places nothing; the node's own does
alloc='{"pool":"gold","tflops_request":1,"vram_request":67108864,"labels":{"zone":"us-2"}}'
post /api/v1/allocations "$alloc" >/dev/null 2>&1 && fail "placed on a node without zone=us-2"

# ---- the pool forgets an allocation (restored from an older database): the node deletes it
# an online copy (SQLite's backup API): what an operator restores after losing the disk
python3 -c 'import sqlite3, sys
sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' \
    "$work/pool.db" "$work/pool.db.before" || fail "backing up the pool's database"
alloc='{"pool":"gold","tflops_request":1,"vram_request":67108864,"labels":{"zone":"eu-1a"}}'
a1=$(post /api/v1/allocations "$alloc") || fail "allocation"
v1=$(jq -r '.devices[0].vgpu_id' <<<"$a1")
[ "$(nget "/api/v1/vgpus/$v1" | jq -r .owner)" = pool:gold ] || fail "owner of $v1"
u1=$(npost /api/v1/vgpus '{"vram_bytes":33554432}' | jq -er .id) || fail "user vGPU"
u2=$(npost /api/v1/vgpus '{"vram_bytes":33554432,"owner":"alice"}' | jq -er .id) ||
    fail "user vGPU with an owner"
stop_pid "$pid_pool"
rm -f "$work/pool.db"*-wal "$work/pool.db"*-shm
cp "$work/pool.db.before" "$work/pool.db"
start_pool pool2
wait_for 20 "the node healthy at the restored pool" healthy
# grace 10 s after the vGPU's creation + a reconciliation every 5 heartbeats
wait_for 40 "the node to delete the vGPU the pool forgot" node_lacks "$v1"
node_has "$u1" && node_has "$u2" || fail "a user's vGPU was deleted: $(nget /api/v1/vgpus)"
grep -q "reconcile: deleted vGPU $v1" "$work/node.log" || fail "no log of the deletion"
echo "forgotten vGPU $v1 deleted; user vGPUs $u1 $u2 kept"

# ---- the node loses a vGPU the pool booked: the allocation reads lost, without tokens
a2=$(post /api/v1/allocations "$alloc") || fail "allocation 2"
id2=$(jq -r .id <<<"$a2")
v2=$(jq -r '.devices[0].vgpu_id' <<<"$a2")
sleep 1
[ "$(get "/api/v1/allocations/$id2" | jq -r .status)" = active ] || fail "allocation 2 not active"
curl -sf --max-time 10 -X DELETE "http://127.0.0.1:$port_node/api/v1/vgpus/$v2" >/dev/null ||
    fail "deleting $v2 on the node"
lost() { [ "$(get "/api/v1/allocations/$id2" | jq -r .status)" = lost ]; }
wait_for 10 "allocation 2 to read lost" lost
node_has "$u1" && node_has "$u2" || fail "a user's vGPU went missing"
echo "allocation $id2 lost once its vGPU $v2 was gone"

finish_clean
echo "PASS"
