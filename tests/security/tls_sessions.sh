#!/usr/bin/env bash
# TLS for session connections between hosts (issue 19): a node with --tls-cert/--tls-key speaks
# TLS on its tcp session listeners (tls:HOST:PORT) and programs verify it.
#
#   tls_sessions.sh TFUSE_BINARY PROG_DRIVER
#
# A throwaway CA (and a second, untrusted one) and a certificate for 127.0.0.1 are made with
# openssl. Checked: the node prints its tcp listener as tls:; a CUDA program (prog_driver: a
# module, launches, copies both ways) works over tls: with the CA from TFUSE_CA_FILE; the
# wrong CA, or none, is refused with words naming TFUSE_CA_FILE, and no worker is forked; a
# plaintext client to the TLS listener and a TLS client to a plain node fail at once with words
# that say which side speaks what; --listen tls: without a certificate stops the node; and
# through a recording relay, the token and the program's PTX are on the wire of a plain session
# (the relay sees everything) but nowhere in the bytes of a TLS one; a stalled TLS handshake is
# dropped at --handshake-timeout; a certificate for another host name is refused; tfuse vgpu,
# ps and top take --ca-file (and refuse the wrong CA, or a missing file, by name), and tfuse run
# on an https API runs its program over TLS with that CA. Everything started is stopped on
# every exit path.
set -u
tfuse=$1
prog=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/sectlss.XXXXXX")
. "$(dirname "$0")/../lib/timeouts.sh"
. "$(dirname "$0")/tls_certs.sh"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for f in node.log api.log plain.log far.log run.err relay.log cli.out; do
        echo "--- $f" >&2; tail -20 "$work/$f" >&2 2>/dev/null
    done
    exit 1
}
command -v openssl >/dev/null || { echo "openssl is needed"; exit 1; }
cd "$work" || exit 1
unset TFUSE_CA_FILE TFUSE_TOKEN TFUSE_CONNECT
export TFUSE_CONNECT_TIMEOUT_MS=$(($(scaled 20) * 1000))

tls_test_pki
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

start_node() {   # start_node LOG ARGS...: a node on tcp 127.0.0.1:0; its pid in node_pid
    local log=$1
    shift
    "$tfuse" node --backend soft --listen tcp:127.0.0.1:0 --token "$token" "$@" >"$log" 2>&1 &
    node_pid=$!
    pids+=($node_pid)
    wait_until 20 grep -q "listening on" "$log" || fail "the node of $log did not start"
}
addr_of() { sed -n 's/.*listening on \(t[a-z]*:.*\)$/\1/p' "$1" | head -1; }
workers() { pgrep -c -P "$1" 2>/dev/null || true; }
run() {   # run ADDR [env...]: prog_driver through tfuse run; output in run.out, run.err
    local addr=$1
    shift
    env "$@" timeout "$(scaled 60)" "$tfuse" run --connect "$addr" --token "$token" -- \
        "$prog" all >run.out 2>run.err
}

# ---- a node with TLS on its session port
start_node node.log --state st1 --tls-cert srv.pem --tls-key srv.key --handshake-timeout 2
tls=$(addr_of node.log)
case $tls in tls:127.0.0.1:*) ;; *) fail "the node lists its tcp session listener as '$tls'";; esac
port=${tls##*:}

run "$tls" TFUSE_CA_FILE=ca.pem || fail "a CUDA program over $tls failed"
grep -q "accepted from.*over TLS stream" node.log || fail "the node shows no TLS session"
accepted=$(grep -c "accepted from" node.log)

# ---- the CLI's --ca-file (vgpu, ps, top), and tfuse run on an https API: the vGPU's session
# ---- address is tls:, verified with the same CA (a node with vGPUs: its own)
api_port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0))
print(s.getsockname()[1])")
api=https://127.0.0.1:$api_port
start_node api.log --state st5 --tls-cert srv.pem --tls-key srv.key --api "tcp:127.0.0.1:$api_port"
wait_until 20 grep -q "control API on tcp:127.0.0.1:$api_port (https)" api.log ||
    fail "the node's https API did not start"
"$tfuse" vgpu list --node "$api" >cli.out 2>&1 && fail "tfuse vgpu trusted the node without a CA"
grep -q -- "--ca-file" cli.out || fail "tfuse vgpu without a CA does not name --ca-file"
"$tfuse" vgpu list --node "$api" --ca-file ca.pem >cli.out 2>&1 ||
    fail "tfuse vgpu list --ca-file: $(cat cli.out)"
"$tfuse" ps --node "$api" --ca-file ca.pem >cli.out 2>&1 ||
    fail "tfuse ps --ca-file: $(cat cli.out)"
"$tfuse" top --node "$api" --ca-file ca.pem --iterations 1 --json >cli.out 2>&1 ||
    fail "tfuse top --ca-file: $(cat cli.out)"
"$tfuse" ps --node "$api" --ca-file other.pem >cli.out 2>&1 && fail "tfuse ps trusted the wrong CA"
"$tfuse" ps --node "$api" --ca-file nothere.pem >cli.out 2>&1 &&
    fail "a missing --ca-file was taken"
grep -q "nothere.pem" cli.out || fail "a missing --ca-file is not named: $(cat cli.out)"
timeout "$(scaled 60)" "$tfuse" run --api "$api" --ca-file ca.pem --vram 64MiB -- "$prog" all \
    >run.out 2>run.err || fail "tfuse run --api https:// --ca-file failed"
grep -q "accepted from.*over TLS stream" api.log ||
    fail "tfuse run --api https:// did not run over TLS: $(grep "accepted from" api.log)"

# ---- a token the node does not know: refused with its reason, inside TLS
TFUSE_CA_FILE=ca.pem timeout "$(scaled 60)" "$tfuse" run --connect "$tls" --token wrong -- \
    "$prog" all >run.out 2>run.err && fail "a wrong token ran over TLS"
grep -q "bad session token" run.err ||
    fail "the node's refusal of a wrong token did not come through TLS: $(cat run.err)"

# ---- the wrong CA, and none (the system store does not know the test CA): refused, no worker
for env in TFUSE_CA_FILE=other.pem TFUSE_CA_FILE=; do
    run "$tls" "$env" && fail "a program trusting the wrong CA ($env) ran"
    grep -q "not trusted.*TFUSE_CA_FILE" run.err ||
        fail "the refusal ($env) does not say the certificate is not trusted: $(cat run.err)"
done
[ "$(grep -c "accepted from" node.log)" = "$accepted" ] ||
    fail "a session was accepted from a client that did not trust the node"
wait_until 10 test "$(workers "$node_pid")" = 0 || fail "workers left after refused handshakes"

# ---- a TLS handshake that stalls (a record header, then silence) is dropped at the handshake
# ---- timeout like a silent connection, and forks nothing
python3 - "$port" "$(scaled 20)" <<'EOF' || fail "a stalled TLS handshake was not dropped"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x16\x03\x01\x00")
s.settimeout(float(sys.argv[2]))
t0 = time.time()
try:
    gone = s.recv(1) == b""
except ConnectionResetError:
    gone = True
except socket.timeout:
    gone = False
print("stalled handshake closed after %.1f s" % (time.time() - t0))
sys.exit(0 if gone else 1)
EOF
[ "$(workers "$node_pid")" = 0 ] || fail "a worker runs for a stalled TLS handshake"

# ---- a certificate for another name: the chain is trusted, the host name is not
tls_mkcert far ca DNS:elsewhere.example
start_node far.log --state st4 --tls-cert far.pem --tls-key far.key
run "$(addr_of far.log)" TFUSE_CA_FILE=ca.pem && fail "a certificate for another host was taken"
grep -q "not trusted.*name in the certificate does not match" run.err ||
    fail "the host name mismatch was not named: $(cat run.err)"
grep -q "accepted from" far.log && fail "a session was accepted despite the host name"

# ---- plaintext to the TLS listener: told to use tls:, no worker
run "tcp:127.0.0.1:$port" TFUSE_CA_FILE=ca.pem && fail "a plaintext client ran on the TLS port"
grep -q "speaks TLS: connect with tls:" run.err ||
    fail "the plaintext client was not told to use tls: $(cat run.err)"
[ "$(grep -c "accepted from" node.log)" = "$accepted" ] ||
    fail "a plaintext client got a session on the TLS listener"

# ---- --listen tls: without a certificate stops the node with its reason
"$tfuse" node --backend soft --listen tls:127.0.0.1:0 --state st3 >notls.log 2>&1 &
p=$!
pids+=($p)
wait_until 20 sh -c "! kill -0 $p 2>/dev/null" || fail "a node with --listen tls: and no cert ran"
grep -q "needs --tls-cert" notls.log || fail "no reason for --listen tls: without a cert"

# ---- a plain node: a TLS client refuses it
start_node plain.log --state st2
plain=$(addr_of plain.log)
case $plain in tcp:127.0.0.1:*) ;; *) fail "the plain node lists '$plain'";; esac
run "tls:${plain#tcp:}" TFUSE_CA_FILE=ca.pem && fail "a TLS client ran on a plain node"
grep -q "answered in plain text" run.err ||
    fail "the TLS client did not say the node speaks plain TCP: $(cat run.err)"
grep -q "accepted from" plain.log && fail "the plain node accepted the TLS client's session"

# ---- the wire, through a recording relay: the plain session shows the token and the PTX,
# ---- the TLS one neither
cat >relay.py <<'EOF'
import socket, sys, threading
up_port, cap, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            with lock, open(cap, "ab") as f:
                f.write(b)
            dst.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
open(ready, "w").write(str(srv.getsockname()[1]))
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", up_port))
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
EOF
relay() {   # relay UPSTREAM_PORT CAPTURE: a relay's port in relay_port
    rm -f relay.port
    python3 relay.py "$1" "$2" relay.port >>relay.log 2>&1 &
    pids+=($!)
    wait_until 10 test -s relay.port || fail "the relay did not start"
    relay_port=$(cat relay.port)
}
seen() {   # seen TEXT FILE: whether the bytes of TEXT are anywhere in FILE
    python3 -c "import sys; sys.exit(sys.argv[1].encode() not in open(sys.argv[2], 'rb').read())" \
        "$1" "$2"
}

relay "${plain##*:}" plain.cap
run "tcp:127.0.0.1:$relay_port" || fail "the program through the relay to the plain node failed"
seen "$token" plain.cap || fail "the relay did not record the plain session's token"
seen ".visible .entry vadd" plain.cap || fail "the relay did not record the plain session's PTX"

relay "$port" tls.cap
run "tls:127.0.0.1:$relay_port" TFUSE_CA_FILE=ca.pem ||
    fail "the program through the relay to the TLS node failed"
[ "$(stat -c %s tls.cap)" -gt 10000 ] || fail "the relay recorded too little of the TLS session"
seen "$token" tls.cap && fail "the token crossed the TLS session in clear"
seen ".visible .entry vadd" tls.cap && fail "the PTX crossed the TLS session in clear"
echo "ok: TLS sessions (program over tls:, wrong CA, mismatches both ways, nothing in clear)"
