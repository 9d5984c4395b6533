#!/usr/bin/env bash
# `tfuse pool serve`'s secret files and the CLI's credentials (issue 19):
#
#   pool_cli.sh TFUSE_POOL_BINARY
#
# Under umask 000 the store, its WAL and the generated admin and join credentials are 0600; a
# restart reads the same credentials back; without a credential every route but /healthz is
# 401 and the CLI says how to pass one; --token-file and TFUSE_POOL_TOKEN work; a tenant's
# token (tenant create --token-out, 0600) lists only its own and cannot set quotas; a rotated
# token is refused. The pool is stopped on every exit path.
set -u
pool_bin=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/secpool.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    tail -20 "$work/pool.log" >&2 2>/dev/null
    exit 1
}
mode() { stat -c %a "$1"; }

start_pool() {
    rm -f "$work/url"
    (umask 000; exec "$pool_bin" serve --listen 127.0.0.1:0 --db "$work/pool.db" \
        --ready-file "$work/url" >>"$work/pool.log" 2>&1) &
    pid=$!
    for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
    [ -s "$work/url" ] || fail "the pool did not start"
    url=$(head -1 "$work/url")
}
code() {   # code [TOKEN] METHOD PATH: the HTTP status
    local auth=()
    [ $# -eq 3 ] && { auth=(-H "Authorization: Bearer $1"); shift; }
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${auth[@]}" -X "$1" "$url$2"
}

start_pool
for f in pool.db pool.db-wal pool.db.admin-token pool.db.join-token; do
    [ -e "$work/$f" ] || continue
    [ "$(mode "$work/$f")" = 600 ] || fail "$f has mode $(mode "$work/$f"), not 600"
done
admin=$(cat "$work/pool.db.admin-token")
[ ${#admin} -ge 64 ] || fail "the admin credential is too short: '$admin'"
[ "$(code GET /healthz)" = 200 ] || fail "/healthz needs no credential"
for r in "GET /api/v1/nodes" "GET /api/v1/allocations" "POST /api/v1/allocations" \
         "GET /metrics" "GET /api/v1/tenants" "PUT /api/v1/quotas/x" "GET /nope"; do
    [ "$(code $r)" = 401 ] || fail "$r without a credential: $(code $r), not 401"
    [ "$(code wrong $r)" = 401 ] || fail "$r with a wrong credential is not 401"
done
[ "$(code "$admin" GET /api/v1/nodes)" = 200 ] || fail "the admin credential is refused"

out=$("$pool_bin" nodes --pool "$url" 2>&1) && fail "the CLI worked without a credential"
echo "$out" | grep -q "401.*--token-file" || fail "the CLI does not say how to pass one: $out"
"$pool_bin" nodes --pool "$url" --token-file "$work/pool.db.admin-token" >/dev/null ||
    fail "--token-file is not used"
TFUSE_POOL_TOKEN=$admin "$pool_bin" tenant create team-a --pool "$url" --vgpus 2 \
    --token-out "$work/a.token" >/dev/null || fail "tenant create"
[ "$(mode "$work/a.token")" = 600 ] || fail "--token-out wrote mode $(mode "$work/a.token")"
TFUSE_POOL_TOKEN=$admin "$pool_bin" tenant list --pool "$url" | grep -q team-a ||
    fail "tenant list lacks team-a"
a=$(cat "$work/a.token")
TFUSE_POOL_TOKEN=$a "$pool_bin" quota get team-a --pool "$url" >/dev/null ||
    fail "a tenant cannot read its own quota"
TFUSE_POOL_TOKEN=$a "$pool_bin" quota set team-a --pool "$url" --vgpus 9 2>/dev/null &&
    fail "a tenant changed its quota"
TFUSE_POOL_TOKEN=$a "$pool_bin" nodes --pool "$url" 2>/dev/null && fail "a tenant listed nodes"

# A restart: the same credentials, the tenant still there.
kill -TERM "$pid"; wait "$pid"; pid=
start_pool
[ "$(cat "$work/pool.db.admin-token")" = "$admin" ] || fail "the admin credential changed"
[ "$(code "$a" GET /api/v1/allocations)" = 200 ] || fail "the tenant's token died in a restart"
new=$(TFUSE_POOL_TOKEN=$admin "$pool_bin" tenant rotate team-a --pool "$url" | tail -1)
[ "$(code "$a" GET /api/v1/allocations)" = 401 ] || fail "a rotated token still works"
[ "$(code "$new" GET /api/v1/allocations)" = 200 ] || fail "the new token does not work"
grep -c "$new" "$work"/pool.db* >/dev/null && fail "a tenant token is stored in clear"
echo PASS
