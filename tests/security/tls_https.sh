#!/usr/bin/env bash
# HTTPS for the control plane (issue 19): the pool's and the node's APIs with --tls-cert and
# --tls-key, and their clients verifying the server against --ca-file / TFUSE_CA_FILE.
#
#   tls_https.sh TFUSE_BINARY
#
# A throwaway CA (and a second, untrusted one) and a server certificate for 127.0.0.1 are made
# with openssl. Checked: the pool and the node serve https on tcp (plain http there gets no
# HTTP answer) while the node's unix socket stays plain; the CLI works with the CA given by
# flag or environment and fails, naming --ca-file, without it or with the wrong CA; a missing
# or non-PEM file is refused before any request; a node with https registers an https address,
# heartbeats the https pool, and the pool creates a vGPU on it with the node token over https;
# a bearer token sent to an https URL is never on the wire in clear (a recording listener);
# a key that is not the certificate's stops the node with its reason. Everything started is
# stopped on every exit path.
set -u
tfuse=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/sectls.XXXXXX")
. "$(dirname "$0")/../lib/timeouts.sh"
. "$(dirname "$0")/tls_certs.sh"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for f in pool.log node.log; do
        echo "--- $f" >&2; tail -20 "$work/$f" >&2 2>/dev/null
    done
    exit 1
}
command -v openssl >/dev/null || { echo "openssl is needed"; exit 1; }
free_port() {
    python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0))
print(s.getsockname()[1])"
}
wait_for() {   # wait_for SECONDS WHAT CMD...
    local secs=$1 what=$2
    shift 2
    wait_until "$secs" "$@" || fail "timed out waiting for $what"
}
code() { curl -s -o /dev/null -w '%{http_code}' --max-time "$(scaled 5)" "$@"; }

# ---- the certificates
cd "$work" || exit 1
tls_test_pki
unset TFUSE_CA_FILE TFUSE_POOL_TOKEN TFUSE_NODE_TOKEN

# ---- the pool over https
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >join.token)
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >node.token)
port_pool=$(free_port)
"$tfuse" pool serve --listen "127.0.0.1:$port_pool" --db pool.db --join-token-file join.token \
    --node-token-file node.token --tls-cert srv.pem --tls-key srv.key --ca-file ca.pem \
    --heartbeat-timeout "$(scaled 5)" --ready-file pool.url >pool.log 2>&1 &
pids+=($!)
wait_for 10 "the pool to listen" test -s pool.url
url=$(head -1 pool.url)
[ "$url" = "https://127.0.0.1:$port_pool" ] || fail "the pool's ready file says $url"
[ "$(code --cacert ca.pem "$url/healthz")" = 200 ] || fail "https /healthz with the CA"
[ "$(code "http://127.0.0.1:$port_pool/healthz")" = 000 ] ||
    fail "plain http to the pool's TLS port got an HTTP answer"
admin=pool.db.admin-token

"$tfuse" pool nodes --pool "$url" --token-file $admin --ca-file ca.pem >/dev/null ||
    fail "tfuse pool nodes --ca-file"
TFUSE_CA_FILE=$work/ca.pem "$tfuse" pool nodes --pool "$url" --token-file $admin >/dev/null ||
    fail "tfuse pool nodes with TFUSE_CA_FILE"
out=$("$tfuse" pool nodes --pool "$url" --token-file $admin 2>&1) &&
    fail "the CLI trusted an unknown CA (system store only)"
echo "$out" | grep -q -- "--ca-file" || fail "no hint at --ca-file: $out"
out=$("$tfuse" pool nodes --pool "$url" --token-file $admin --ca-file other.pem 2>&1) &&
    fail "the CLI trusted the wrong CA"
echo "$out" | grep -q "not trusted" || fail "the wrong CA's error: $out"
out=$("$tfuse" pool nodes --pool "$url" --token-file $admin --ca-file nope.pem 2>&1) &&
    fail "a missing --ca-file was passed over"
echo "$out" | grep -q "nope.pem" || fail "a missing --ca-file's error: $out"
out=$("$tfuse" pool nodes --pool "$url" --token-file $admin --ca-file srv.key 2>&1) &&
    fail "a key was taken for a CA bundle"
echo "$out" | grep -q "no PEM CERTIFICATE" || fail "a non-certificate --ca-file's error: $out"

# ---- a bearer token sent to an https URL never crosses in clear
port_rec=$(free_port)
python3 - "$port_rec" rec.bin <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); s.settimeout(30)
open("rec.ready", "w").close()
c, _ = s.accept(); c.settimeout(3); data = b""
try:
    while len(data) < 65536:
        b = c.recv(4096)
        if not b: break
        data += b
except OSError:
    pass
open(sys.argv[2], "wb").write(data)
PY
rec=$!
wait_for 10 "the recording listener" test -e rec.ready
"$tfuse" pool nodes --pool "https://127.0.0.1:$port_rec" --token-file $admin --ca-file ca.pem \
    >/dev/null 2>&1 && fail "a client finished a request with a listener that speaks no TLS"
wait "$rec"
[ -s rec.bin ] || fail "the recording listener got nothing"
[ "$(od -An -tx1 -N1 rec.bin | tr -d ' ')" = 16 ] || fail "the client did not open with TLS"
grep -qF "$(cat $admin)" rec.bin && fail "the admin token crossed in clear"

# ---- a node with https, registered with the https pool
port_node=$(free_port)
start_node() {   # start_node [EXTRA FLAGS]
    "$tfuse" node --backend soft --listen "unix:$work/s.sock" --api "tcp:127.0.0.1:$port_node" \
        --api "unix:$work/api.sock" --api-token "$(cat node.token)" --state "$work/node.state" \
        --pool "$url" --node-name tls-node --heartbeat-interval 0.3 \
        --pool-join-token-file join.token "$@" >node.log 2>&1 &
    node_pid=$!
    pids+=($node_pid)
}
start_node --tls-cert srv.pem --tls-key other.key
wait_for 10 "the node with a mismatched key to exit" bash -c "! kill -0 $node_pid 2>/dev/null"
grep -q "tls-key" node.log || fail "a mismatched key's error does not name --tls-key"
start_node --tls-cert srv.pem
wait_for 10 "the node with no key to exit" bash -c "! kill -0 $node_pid 2>/dev/null"
grep -q "both --tls-cert FILE and --tls-key FILE" node.log || fail "--tls-cert alone"

start_node --tls-cert srv.pem --tls-key srv.key --ca-file ca.pem
nurl=https://127.0.0.1:$port_node
tok=(-H "Authorization: Bearer $(cat node.token)")
node_up() { [ "$(code --cacert ca.pem "$nurl/healthz")" = 200 ]; }
wait_for 15 "the node's https API" node_up
[ "$(code "http://127.0.0.1:$port_node/healthz")" = 000 ] ||
    fail "plain http to the node's TLS port got an HTTP answer"
[ "$(code --unix-socket api.sock http://node/healthz)" = 200 ] || fail "the unix API is not plain"
[ "$(code --cacert ca.pem "${tok[@]}" "$nurl/api/v1/vgpus")" = 200 ] || fail "node vgpus, https"
[ "$(code --cacert other.pem "${tok[@]}" "$nurl/api/v1/vgpus")" = 000 ] ||
    fail "the node's certificate passed against the wrong CA"

get() { curl -sf --max-time "$(scaled 5)" --cacert ca.pem -H "Authorization: Bearer $(cat $admin)" \
        "$url$1"; }
healthy() { [ "$(get /api/v1/nodes | jq '[.nodes[] | select(.healthy)] | length')" = 1 ]; }
wait_for 20 "the node healthy at the pool (heartbeats over https)" healthy
addr=$(get /api/v1/nodes/tls-node | jq -r .address)
[ "$addr" = "$nurl" ] || fail "the node registered the address $addr, not $nurl"

# The pool creates a vGPU on the node: the node token crosses only inside TLS.
t=$("$tfuse" pool tenant create tls --pool "$url" --token-file $admin --ca-file ca.pem |
    tail -1) || fail "tenant create"
TFUSE_POOL_TOKEN=$t "$tfuse" pool allocate --pool "$url" --ca-file ca.pem --tenant tls \
    --vram 64MiB --compute-pct 10 >alloc.out 2>&1 || fail "allocate: $(cat alloc.out)"
n=$(curl -sf --cacert ca.pem "${tok[@]}" "$nurl/api/v1/vgpus" | jq '.vgpus | length')
[ "$n" = 1 ] || fail "the node lists $n vGPUs after the pool's allocation, not 1"

# The tfuse CLI's node commands take an https address and TFUSE_CA_FILE.
TFUSE_CA_FILE=$work/ca.pem "$tfuse" vgpu list --node "$nurl" --token "$(cat node.token)" \
    >list.out 2>&1 || fail "tfuse vgpu list over https: $(cat list.out)"
out=$("$tfuse" vgpu list --node "$nurl" --token "$(cat node.token)" 2>&1) &&
    fail "tfuse vgpu list trusted an unknown CA"
echo "$out" | grep -q "TFUSE_CA_FILE" || fail "tfuse vgpu list's error: $out"
echo "tls_https: ok"
