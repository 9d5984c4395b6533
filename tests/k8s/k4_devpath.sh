#!/usr/bin/env bash
# The device-plugin path end to end (issue 17, K4): the mutating admission webhook and the
# scheduler extender of `tfuse-k8s`, spoken to by curl over TLS (a throwaway CA made with
# openssl), a real pool (`tfuse pool serve`) and a real `tfuse node --backend soft` named like
# the Kubernetes node, and k4_fake_apiserver.py standing in for the API server (in the shape of
# the API reference: it is not one). k8s_dp_allocate runs through k4_dpalloc_cli.
#
#   k4_devpath.sh BUILD_DIR PYTHON DPALLOC_CLI      ($TFUSE_K8S overrides the tfuse-k8s binary)
#
# Checked: AdmissionReviews of a Tensor Fusion pod, a HAMi pod and a plain pod (patches applied
# and read back), denials of conflicting or bad values, hostile bodies (not JSON, not a review,
# over the size cap), https only (plain http and another CA fail); the extender's filter and
# prioritize agree with the pool's dry run (unknown node unresolvable, too much memory, quota),
# bind allocates on the chosen node, writes the tokens to a Secret owned by the pod and never
# to the pod, binds the pod, refuses a wrong uid without allocating; Allocate gives the token
# and address, and a CUDA program run with them sees its vGPU's memory limit; a deleted pod's
# allocation is released and its vGPU deleted.
set -u

build=$1
py=$2
dpcli=$3
tfuse=$build/bin/tfuse
k8s=${TFUSE_K8S:-$build/bin/tfuse-k8s}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/k4devpath.XXXXXX")
pids=()
. "$here/../lib/timeouts.sh"

stop_pid() {
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq "$(scaled 30)"); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    for p in "${pids[@]}"; do stop_pid "$p"; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
    echo "FAIL: $*" >&2
    for f in pool node webhook extender api; do
        echo "--- $f log" >&2
        tail -15 "$work/$f.log" >&2 2>/dev/null
    done
    exit 1
}
wait_for() { local s=$1 what=$2; shift 2; wait_until "$s" "$@" || fail "timed out: $what"; }
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
command -v openssl >/dev/null && command -v jq >/dev/null || fail "openssl and jq are needed"
unset TFUSE_CA_FILE TFUSE_POOL_TOKEN TFUSE_NODE_TOKEN

# ---- certificates: a CA, another CA, a server certificate for 127.0.0.1
cd "$work" || exit 1
for ca in ca other; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=k4 test $ca" -keyout $ca.key -out $ca.pem 2>/dev/null || fail "CA $ca"
done
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout srv.key -out srv.csr 2>/dev/null || fail "server key"
printf '%s\n' "subjectAltName=IP:127.0.0.1" "extendedKeyUsage=serverAuth" >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile srv.ext -out srv.pem 2>/dev/null || fail "server certificate"
chmod 600 ./*.key

# ---- the pool, a softgpu node named as the Kubernetes node, the API server stand-in
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >join.token)
port_pool=$(free_port)
port_node=$(free_port)
pool=http://127.0.0.1:$port_pool
"$tfuse" pool serve --listen "127.0.0.1:$port_pool" --db pool.db --join-token-file join.token \
    --heartbeat-timeout "$(scaled 5)" --ready-file pool.url >pool.log 2>&1 &
pids+=($!)
wait_for 10 "the pool" test -s pool.url
admin=$(cat pool.db.admin-token)
"$tfuse" node --backend soft --listen "unix:$work/node.sock" --api "tcp:127.0.0.1:$port_node" \
    --pool "$pool" --node-name k8s-node-a --heartbeat-interval 0.2 \
    --pool-join-token-file join.token --state "$work/node.state" >node.log 2>&1 &
pids+=($!)
pget() { curl -sf --max-time "$(scaled 10)" -H "Authorization: Bearer $admin" "$pool$1"; }
healthy() { [ "$(pget /api/v1/nodes/k8s-node-a | jq -r .healthy)" = true ]; }
wait_for 30 "the node healthy at the pool" healthy
"$py" "$here/k4_fake_apiserver.py" api.port >api.log 2>&1 &
pids+=($!)
wait_for 10 "the API server stand-in" test -s api.port
kube=http://127.0.0.1:$(cat api.port)

# ---- the webhook and the extender, https only
"$k8s" webhook --listen 127.0.0.1:0 --tls-cert srv.pem --tls-key srv.key \
    --scheduler-name tensorfuse-scheduler --ready-file wh.url >webhook.log 2>&1 &
pids+=($!)
"$k8s" extender --listen 127.0.0.1:0 --tls-cert srv.pem --tls-key srv.key --pool "$pool" \
    --pool-token-file pool.db.admin-token --kube-api "$kube" --reconcile-interval 0.5 \
    --release-grace 1 --ready-file ex.url >extender.log 2>&1 &
pids+=($!)
wait_for 10 "the webhook" test -s wh.url
wait_for 10 "the extender" test -s ex.url
wh=$(cat wh.url)
ex=$(cat ex.url)
tls() { curl -s --max-time "$(scaled 20)" --cacert ca.pem "$@"; }
post() { tls -o out.json -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$2" "$1"; }

curl -s --max-time 5 "http://${wh#https://}/healthz" >/dev/null &&
    fail "the webhook answered plain http"
curl -s --max-time 5 --cacert other.pem "$ex/healthz" >/dev/null &&
    fail "the extender was trusted under another CA"
[ "$(tls "$wh/healthz" | jq -r .status)" = ok ] || fail "webhook /healthz over TLS"

# ---- webhook: AdmissionReviews
review() {   # review POD_JSON > review.json
    jq -n --argjson pod "$1" '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
        request: {uid: "rev-1", operation: "CREATE", kind: {kind: "Pod"}, object: $pod}}'
}
patched() {   # patched POD_JSON: the pod after the webhook's patch
    review "$1" >review.json
    [ "$(post "$wh/mutate" review.json)" = 200 ] || fail "mutate: $(cat out.json)"
    jq -e '.response.uid == "rev-1" and .response.allowed' out.json >/dev/null ||
        fail "not allowed: $(cat out.json)"
    jq -r '.response.patch // ""' out.json | base64 -d >patch.json
    "$py" - "$1" <<'EOF'
import json, sys
pod, patch = json.loads(sys.argv[1]), json.load(open("patch.json")) if \
    open("patch.json").read().strip() else []
for op in patch:
    assert op["op"] == "add", op
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    cur = pod
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    if isinstance(cur, list):
        cur.insert(int(parts[-1]), op["value"])
    else:
        cur[parts[-1]] = op["value"]
print(json.dumps(pod))
EOF
}
tf_pod='{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "train-1",
  "labels": {"tensor-fusion.ai/enabled": "true"},
  "annotations": {"tensor-fusion.ai/vram-request": "64Mi", "tensor-fusion.ai/vram-limit": "128Mi",
    "tensor-fusion.ai/compute-percent-request": "20", "tensor-fusion.ai/qos": "high",
    "tensor-fusion.ai/inject-container": "main"}},
  "spec": {"containers": [{"name": "sidecar", "image": "busybox"},
                          {"name": "main", "image": "cuda",
                           "resources": {"limits": {"cpu": "1"}}}]}}'
tf=$(patched "$tf_pod") || exit 1
jq -e '.metadata.annotations["tensorfuse.io/vram-request"] == "67108864" and
       .metadata.annotations["tensorfuse.io/vram-limit"] == "134217728" and
       .metadata.annotations["tensorfuse.io/compute-request"] == "20" and
       .metadata.annotations["tensorfuse.io/qos"] == "high" and
       .metadata.labels["tensorfuse.io/vgpu"] == "true" and
       .metadata.labels["tensor-fusion.ai/enabled"] == "true" and
       .spec.schedulerName == "tensorfuse-scheduler" and
       .spec.containers[1].resources.limits["tensorfuse.io/vgpu"] == "1" and
       .spec.containers[1].resources.limits.cpu == "1" and
       (.spec.containers[0].resources == null)' <<<"$tf" >/dev/null ||
    fail "Tensor Fusion pod patched to: $tf"
hami_pod='{"metadata": {"name": "h"}, "spec": {"containers": [{"name": "c", "resources": {
  "limits": {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "100", "nvidia.com/gpucores": "30"},
  "requests": {"nvidia.com/gpu": "1"}}}]}}'
hami=$(patched "$hami_pod") || exit 1
jq -e '.metadata.annotations["tensorfuse.io/vram-request"] == "104857600" and
       .metadata.annotations["tensorfuse.io/compute-limit"] == "30" and
       .spec.containers[0].resources.limits == {"tensorfuse.io/vgpu": "1"} and
       .spec.containers[0].resources.requests == null' <<<"$hami" \
    >/dev/null || fail "HAMi pod patched to: $hami"
plain=$(patched '{"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}') || exit 1
[ "$(jq -c . <<<"$plain")" = '{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}}' ] ||
    fail "a pod without GPUs was changed: $plain"
echo "webhook: Tensor Fusion, HAMi and plain pods patched as expected"

denied() {   # denied POD_JSON WORDS: the review is refused with WORDS in its message
    review "$1" >review.json
    [ "$(post "$wh/mutate" review.json)" = 200 ] || fail "mutate: $(cat out.json)"
    jq -e --arg w "$2" '(.response.allowed | not) and (.response.status.message | contains($w))
        and (.response.patch == null)' out.json >/dev/null ||
        fail "not denied ($2): $(cat out.json)"
}
denied '{"metadata": {"annotations": {"tensorfuse.io/vram-request": "1Gi",
  "tensor-fusion.ai/vram-request": "2Gi"}}, "spec": {"containers": [{"name": "c"}]}}' disagree
denied '{"metadata": {"annotations": {"tensorfuse.io/vram-request": "1Gi",
  "tensorfuse.io/gpu-count": "1e400"}}, "spec": {"containers": [{"name": "c"}]}}' gpu-count
denied '{"metadata": {}, "spec": {"containers": [{"name": "c", "resources": {"limits":
  {"nvidia.com/gpu": "1", "nvidia.com/gpumem-percentage": "50"}}}]}}' gpumem-percentage
denied '{"metadata": {"annotations": {"tensorfuse.io/gpu-count": "1"}},
  "spec": {"containers": [{"name": "c"}]}}' vram-request
printf 'not json' >bad.json
[ "$(post "$wh/mutate" bad.json)" = 400 ] || fail "a body that is not JSON: $(cat out.json)"
echo '{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview",
  "request": {"uid": "x"}}' >bad.json
[ "$(post "$wh/mutate" bad.json)" = 400 ] || fail "a v1beta1 review: $(cat out.json)"
echo '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}' >bad.json
[ "$(post "$wh/mutate" bad.json)" = 400 ] || fail "a review without a uid: $(cat out.json)"
head -c $((5 << 20)) /dev/zero | tr '\0' ' ' >big.json
[ "$(post "$wh/mutate" big.json)" = 413 ] || fail "a 5 MiB body: $(cat out.json)"
tls -o /dev/null -w '%{http_code}' "$wh/mutate" | grep -qx 405 || fail "GET /mutate"
tls -o /dev/null -w '%{http_code}' -H 'Content-Length: 40000000' --data-binary '{}' \
    "$ex/filter" | grep -qx 413 || fail "the extender took a declared 40 MB body"
echo "webhook: conflicts, bad values and hostile bodies refused"

# ---- extender: filter and prioritize from the pool's dry run
ns_pod() { jq --arg ns "$1" '.metadata.namespace = $ns' <<<"$2"; }
pod_a=$(ns_pod team-a "$tf")
long=$(printf 'n%.0s' $(seq 100))   # a valid Kubernetes node name the pool cannot hold
jq -n --argjson pod "$pod_a" --arg long "$long" \
    '{Pod: $pod, NodeNames: ["k8s-node-a", "node-x", $long]}' >args.json
[ "$(post "$ex/filter" args.json)" = 200 ] || fail "filter: $(cat out.json)"
jq -e --arg long "$long" '.NodeNames == ["k8s-node-a"] and .Error == "" and
       (.FailedAndUnresolvableNodes["node-x"] | contains("no node of this name")) and
       (.FailedAndUnresolvableNodes[$long] | contains("1-63 characters"))' out.json \
    >/dev/null || fail "filter by names: $(cat out.json)"
jq -n --argjson pod "$pod_a" '{Pod: $pod, Nodes: {items: [{metadata: {name: "node-x"}},
    {metadata: {name: "k8s-node-a", labels: {zone: "z"}}}]}}' >args.json
[ "$(post "$ex/filter" args.json)" = 200 ] || fail "filter: $(cat out.json)"
jq -e '.Nodes.items == [{metadata: {name: "k8s-node-a", labels: {zone: "z"}}}]' out.json \
    >/dev/null || fail "filter by Node objects: $(cat out.json)"
jq -n --argjson pod "$pod_a" '{Pod: $pod, NodeNames: ["k8s-node-a", "node-x"]}' >args.json
[ "$(post "$ex/prioritize" args.json)" = 200 ] || fail "prioritize: $(cat out.json)"
score=$(jq -r '.[] | select(.Host == "k8s-node-a") | .Score' out.json)
dry=$(curl -sf -H "Authorization: Bearer $admin" -X POST "$pool/api/v1/placements" -d \
    '{"tenant": "team-a", "vram_request": 67108864, "vram_limit": 134217728,
      "compute_request_pct": 20, "compute_limit_pct": 20, "qos": "high",
      "nodes": ["k8s-node-a"]}') || fail "the pool's dry run"
want=$(jq -r '.nodes[0].score * 10 | round' <<<"$dry")
[ "$score" = "$want" ] && jq -e '.[] | select(.Host == "node-x") | .Score == 0' out.json \
    >/dev/null || fail "prioritize $(cat out.json) against the pool's $dry"
big=$(jq 'del(.metadata.annotations["tensor-fusion.ai/vram-request"],
              .metadata.annotations["tensor-fusion.ai/vram-limit"]) |
          .metadata.annotations["tensorfuse.io/vram-request"] = "1Ti" |
          .metadata.annotations["tensorfuse.io/vram-limit"] = "1Ti"' <<<"$pod_a")
jq -n --argjson pod "$big" '{Pod: $pod, NodeNames: ["k8s-node-a"]}' >args.json
post "$ex/filter" args.json >/dev/null
jq -e '.NodeNames == [] and (.FailedNodes["k8s-node-a"] | contains("free memory"))' out.json \
    >/dev/null || fail "a pod asking 1 TiB: $(cat out.json)"
curl -sf -H "Authorization: Bearer $admin" -X PUT "$pool/api/v1/quotas/team-q" \
    -d '{"max_vram": 1048576}' >/dev/null || fail "setting a quota"
jq -n --argjson pod "$(ns_pod team-q "$tf")" '{Pod: $pod, NodeNames: ["k8s-node-a"]}' >args.json
post "$ex/filter" args.json >/dev/null
jq -e '.NodeNames == [] and (.FailedNodes["k8s-node-a"] | contains("quota"))' out.json \
    >/dev/null || fail "a pod over its namespace's quota: $(cat out.json)"
# the pool's dry run is the admin's or a tenant's for itself; its body is checked strictly
code() { curl -s -o /dev/null -w '%{http_code}' -X POST "$@"; }
[ "$(code -d '{"vram_request": 1, "tflops_request": 1}' "$pool/api/v1/placements")" = 401 ] ||
    fail "a dry run without a credential"
[ "$(code -H "Authorization: Bearer $admin" -d '{"vram_request": 1, "tflops_request": 1,
    "nodes": "k8s-node-a"}' "$pool/api/v1/placements")" = 400 ] || fail "nodes not an array"
[ "$(code -H "Authorization: Bearer $admin" -d '{"vram_request": 1, "tflops_request": 1,
    "bogus": 1}' "$pool/api/v1/placements")" = 400 ] || fail "an unknown field"
curl -sf -H "Authorization: Bearer $admin" -X POST "$pool/api/v1/placements" -d \
    '{"vram_request": 1, "tflops_request": 1, "nodes": []}' |
    jq -e '.nodes == [] and .best == null' >/dev/null || fail "a dry run of no node"
ttok=$(curl -sf -H "Authorization: Bearer $admin" -X POST "$pool/api/v1/tenants/team-t" |
       jq -r .token) || fail "creating a tenant"
[ "$(code -H "Authorization: Bearer $ttok" -d '{"tenant": "team-a", "vram_request": 1,
    "tflops_request": 1}' "$pool/api/v1/placements")" = 403 ] || fail "a tenant asked for another"
printf '{"NodeNames": []}' >bad.json
[ "$(post "$ex/filter" bad.json)" = 400 ] || fail "filter without a Pod: $(cat out.json)"
printf '{"Pod": {}, "Pod": {}}' >bad.json
[ "$(post "$ex/prioritize" bad.json)" = 400 ] || fail "duplicate keys: $(cat out.json)"
[ "$(post "$ex/nope" bad.json)" = 404 ] || fail "an unknown verb: $(cat out.json)"
echo "extender: filter and prioritize follow the pool (score $score), quota and capacity refused"

# ---- extender: bind, then the device plugin's Allocate
kpost() { curl -sf --max-time 10 -H 'Content-Type: application/json' -X POST -d "$2" "$kube$1"; }
kget() { curl -sf --max-time 10 "$kube$1"; }
uid=$(kpost /api/v1/namespaces/team-a/pods "$pod_a" | jq -r .metadata.uid) || fail "creating pod"
nalloc() { pget "/api/v1/allocations?tenant=team-a" | jq '.allocations | length'; }
jq -n --arg uid "$uid" '{PodName: "train-1", PodNamespace: "team-a", PodUID: "not-\($uid)",
    Node: "k8s-node-a"}' >bind.json
post "$ex/bind" bind.json >/dev/null
jq -e '.Error | contains("is not the pod")' out.json >/dev/null || fail "wrong uid: $(cat out.json)"
[ "$(nalloc)" = 0 ] || fail "a refused bind left an allocation"
printf '{"PodName": "a/b", "PodNamespace": "team-a", "PodUID": "u", "Node": "n"}' >bad.json
[ "$(post "$ex/bind" bad.json)" = 400 ] || fail "a bind with a bad name: $(cat out.json)"
jq -n --arg uid "$uid" '{PodName: "train-1", PodNamespace: "team-a", PodUID: $uid,
    Node: "k8s-node-a"}' >bind.json
[ "$(post "$ex/bind" bind.json)" = 200 ] && jq -e '.Error == ""' out.json >/dev/null ||
    fail "bind: $(cat out.json)"
pod=$(kget /api/v1/namespaces/team-a/pods/train-1)
alloc=$(jq -r '.metadata.annotations["tensorfuse.io/allocation"]' <<<"$pod")
vgpu=$(jq -r '.metadata.annotations["tensorfuse.io/vgpu-ids"]' <<<"$pod")
jq -e '.spec.nodeName == "k8s-node-a" and .metadata.labels["tensorfuse.io/vgpu"] == "true"' \
    <<<"$pod" >/dev/null || fail "the pod after bind: $pod"
view=$(pget "/api/v1/allocations/$alloc") || fail "allocation $alloc at the pool"
jq -e '.node == "k8s-node-a" and .tenant == "team-a" and .status == "active" and
       .devices[0].vram_limit == 134217728' <<<"$view" >/dev/null || fail "allocation: $view"
curl -sf "http://127.0.0.1:$port_node/api/v1/vgpus/$vgpu" >/dev/null || fail "vGPU $vgpu"
secret=$(kget "/api/v1/namespaces/team-a/secrets/tfuse-vgpu-$uid") || fail "no Secret"
token=$(jq -r .data.tokens <<<"$secret" | base64 -d)
connect=$(jq -r .data.connect <<<"$secret" | base64 -d)
jq -e --arg uid "$uid" '.metadata.ownerReferences[0].uid == $uid' <<<"$secret" >/dev/null ||
    fail "the Secret is not owned by the pod: $secret"
[ ${#token} -ge 16 ] || fail "no token in the Secret"
grep -qF -- "$token" <<<"$pod" && fail "the token is in the pod"
kget /test/requests | jq -c '.[] | select(.path | contains("/secrets") | not)' |
    grep -qF -- "$token" && fail "the token was sent to the API server outside the Secret"
[ "$(post "$ex/bind" bind.json)" = 200 ] && jq -e '.Error == ""' out.json >/dev/null ||
    fail "a repeated bind: $(cat out.json)"
[ "$(nalloc)" = 1 ] || fail "a repeated bind allocated again"
echo "extender: pod bound to k8s-node-a with $alloc ($vgpu), token only in the Secret"

"$dpcli" --kube-api "$kube" --node-name k8s-node-a --plugin-dir "$work" --stub-dir /opt/stub 2 \
    >dp.out 2>dp.err && fail "Allocate of 2 shares served a pod asking 1"
"$dpcli" --kube-api "$kube" --node-name k8s-node-a --plugin-dir "$work" --stub-dir /opt/stub 1 \
    >dp.out 2>dp.err || fail "Allocate: $(cat dp.err)"
grep -qxF "ENV TFUSE_TOKEN=$token" dp.out && grep -qxF "ENV TFUSE_CONNECT=$connect" dp.out &&
    grep -qx 'MOUNT /opt/stub/libcuda.so.1 /usr/local/tfuse/lib/libcuda.so.1 ro' dp.out ||
    fail "Allocate answered: $(cat dp.out)"
# the container's program, with Allocate's env as the runtime applies it (the stub's build
# folder standing in for the mount), sees its vGPU: the 128 MiB limit the pod asked
iso=$build/tests/isolation/prog_iso
if [ -x "$iso" ]; then
    out=$(env $(sed -n 's/^ENV //p' dp.out | grep -v '^LD_LIBRARY_PATH=') \
          LD_LIBRARY_PATH="$build/lib/tfuse" timeout "$(scaled 60)" "$iso" meminfo 2>&1) ||
        fail "a CUDA program with Allocate's env: $out"
    grep -q "total $((128 << 20))" <<<"$out" || fail "the program saw: $out"
    echo "a CUDA program with Allocate's env sees its 128 MiB vGPU"
else
    echo "skip: prog_iso is not built, no CUDA program run with Allocate's env"
fi
"$dpcli" --kube-api "$kube" --node-name k8s-node-a --plugin-dir "$work" 1 >dp.out 2>dp.err &&
    fail "a second Allocate served the same pod again"
grep -q "no pending pod" dp.err || fail "second Allocate: $(cat dp.err)"
echo "Allocate: the container gets the pod's token and address, once"

# two pods of one shape, bound one after the other; one of them with an init container that
# asks too: the kubelet admits the older pod's init container, then its container, then the
# newer pod's, and each Allocate gets the pod it belongs to
bind_new() {   # bind_new NAME POD_JSON: creates, binds; prints the Secret's tokens
    local u
    u=$(kpost /api/v1/namespaces/team-a/pods "$(jq --arg n "$1" '.metadata.name = $n' <<<"$2")" |
        jq -r .metadata.uid) || fail "creating $1"
    jq -n --arg n "$1" --arg uid "$u" '{PodName: $n, PodNamespace: "team-a", PodUID: $uid,
        Node: "k8s-node-a"}' >bind.json
    post "$ex/bind" bind.json >/dev/null
    jq -e '.Error == ""' out.json >/dev/null || fail "bind $1: $(cat out.json)"
    kget "/api/v1/namespaces/team-a/secrets/tfuse-vgpu-$u" | jq -r .data.tokens | base64 -d
}
two=$(jq '.spec.initContainers = [{name: "init",
                                    resources: {limits: {"tensorfuse.io/vgpu": "1"}}}]' <<<"$hami")
t1=$(bind_new older "$(ns_pod team-a "$two")") || exit 1
t2=$(bind_new newer "$(ns_pod team-a "$hami")") || exit 1
for want in "$t1" "$t1" "$t2"; do
    "$dpcli" --kube-api "$kube" --node-name k8s-node-a --plugin-dir "$work" 1 >dp.out \
        2>dp.err || fail "Allocate: $(cat dp.err)"
    grep -qxF "ENV TFUSE_TOKEN=$want" dp.out || fail "Allocate gave another pod's token"
done
"$dpcli" --kube-api "$kube" --node-name k8s-node-a --plugin-dir "$work" 1 >dp.out 2>dp.err &&
    fail "a fourth Allocate was served"
jq -e '[.[]] | sort == [1, 1, 2]' "$work/dp-alloc.json" >/dev/null ||   # train-1 is pending too
    fail "the record: $(cat "$work/dp-alloc.json")"
for n in older newer; do
    curl -sf -X DELETE "$kube/api/v1/namespaces/team-a/pods/$n" >/dev/null || fail "delete $n"
done
echo "Allocate: two pods of one shape served oldest first, init container included"

# ---- the pod goes: its allocation is released and the vGPU deleted
curl -sf -X DELETE "$kube/api/v1/namespaces/team-a/pods/train-1" >/dev/null || fail "delete pod"
gone() { [ "$(nalloc)" = 0 ]; }
wait_for 30 "the allocation of the deleted pod released" gone
vgpu_gone() { ! curl -sf "http://127.0.0.1:$port_node/api/v1/vgpus/$vgpu" >/dev/null; }
wait_for 30 "vGPU $vgpu deleted on the node" vgpu_gone
grep -q "released $alloc" extender.log || fail "no log of the release"
echo "release: $alloc of the deleted pod released, $vgpu gone"

# every process stopped cleanly (SIGTERM), with no sanitizer report in its log
for p in "${pids[@]}"; do stop_pid "$p"; done
pids=()
grep -l "Sanitizer\|runtime error:" ./*.log && fail "a sanitizer report (above)"
echo "PASS"
