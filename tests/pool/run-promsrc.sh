#!/usr/bin/env bash
# The pool's Prometheus history source (src/pool/pool_promsrc.c, issue 14), through
# promsrc_probe (a workload whose vGPUs are given on its command line).
#
#   run-promsrc.sh hostile    BUILD_DIR SOURCE_DIR
#       Against fake_prometheus.py: exact series give exact samples (the peak that rose
#       between two scrapes, counter growth per step, a counter that started again, a point off
#       the grid, a '.' in a vGPU id escaped in the selector's regex); bad JSON, Prometheus'
#       own error, a proxy's HTML, an answer over 4 MiB, a timeout, a vector, a value that is
#       not a number and bad URLs each give an error that says which.
#   run-promsrc.sh prometheus BUILD_DIR SOURCE_DIR
#       Against Debian's real prometheus (exit 77, skipped, when it is not installed), scraping
#       a real softgpu node every second while prog_iso runs on a vGPU: an allocation refused
#       by the limit, kernels, 96 MiB held then freed. The samples agree with the node's own
#       /metrics: the limit, the memory held, the refused allocations, launches and device
#       time (summed over the steps).
# Everything started is stopped on every exit path (tests/lib/node-harness.sh).
set -u

mode=$1 build=$2 src=$3
tfuse=$build/bin/tfuse
prog=$build/tests/isolation/prog_iso
probe=$build/bin/promsrc_probe
. "$src/tests/lib/node-harness.sh" promsrc
F=1700000000000   # the fake's time: any multiple of the step

vgpu_field() {   # vgpu_field ID FIELD
    http GET /api/v1/vgpus | cut -d' ' -f2- | jq -r ".vgpus[] | select(.id == \"$1\") | .$2"
}
used_is() { [ "$(vgpu_field "$1" used_bytes)" = "$2" ]; }
run_on() {   # run_on TOKEN ARGS... (prog_iso through tfuse run on that vGPU)
    local tok=$1
    shift
    timeout "$T60" "$tfuse" run --connect "$sess" --vgpu "$tok" -- "$prog" "$@"
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

expect_error() {   # expect_error URL PATTERN: the probe fails, saying PATTERN
    local out
    out=$("$probe" "$1" $F $((F + 60000)) wl.a 2>&1) && fail "$1: no error: $out"
    grep -q -- "$2" <<<"$out" || fail "$1: '$out', expected /$2/"
    echo "refused: $out"
}

hostile() {
    python3 "$src/tests/pool/fake_prometheus.py" "$work/fake.port" >"$work/fake.log" 2>&1 &
    pids+=($!)
    wait_until 20 test -s "$work/fake.port" || fail "the fake Prometheus did not start"
    local fake=http://127.0.0.1:$(cat "$work/fake.port") out MiB=$((1 << 20))
    out=$("$probe" "$fake/derive/?step=10s" $F $((F + 60000)) wl.a) || fail "derive: $out"
    # t used peak limit compute_used compute_limit throttled launches ooms, a step each
    local want
    want=$(printf '%s\n' \
        "$F $((10 * MiB)) $((10 * MiB)) $((100 * MiB)) 0.500000 0.5000 0.000000 100 0" \
        "$((F + 10000)) $((20 * MiB)) $((50 * MiB)) $((100 * MiB)) 0.500000 0.5000 0.100000 100 1" \
        "$((F + 20000)) $((20 * MiB)) $((25 * MiB)) $((100 * MiB)) 0.000000 0.5000 0.100000 0 0" \
        "$((F + 30000)) $((5 * MiB)) $((20 * MiB)) $((100 * MiB)) 0.000000 0.5000 0.100000 0 2" \
        "$((F + 40000)) $((5 * MiB)) $((5 * MiB)) $((100 * MiB)) 0.200000 0.5000 0.100000 50 0" \
        "$((F + 50000)) $((30 * MiB)) $((30 * MiB)) $((100 * MiB)) 0.200000 0.5000 0.100000 50 0")
    [ "$out" = "$want" ] || fail "derived samples:
$out
expected:
$want"
    echo "derived: $(wc -l <<<"$out") samples as expected"
    # Samples of no vGPU, and no vGPU at all: none, and no error.
    out=$("$probe" "$fake/empty" $F $((F + 60000)) wl.a) || fail "empty: $out"
    [ -z "$out" ] || fail "empty answered samples: $out"
    out=$("$probe" "$fake/derive" $F $((F + 60000))) || fail "no vGPUs: $out"
    [ -z "$out" ] || fail "no vGPUs gave samples: $out"
    expect_error "$fake/badjson" "something that is not JSON"
    expect_error "$fake/error400" "answered 400: bad_data: invalid parameter"
    expect_error "$fake/html502" "answered 502 with something that is not JSON.*Bad Gateway"
    expect_error "$fake/huge" "too large"
    expect_error "$fake/slow?timeout=1s" "timed out after 1[0-9]* milliseconds"
    expect_error "$fake/vector" "JSON that is not its API's"
    expect_error "$fake/badvalue" "not a number"
    expect_error "$fake/derive?step=abc" "expected step=DURATION"
    expect_error "$fake/derive?color=red" "option 'color=red'"
    expect_error "ftp://127.0.0.1/" "begins with http"
    expect_error "http:///api" "not a usable Prometheus URL"
    expect_error "http://127.0.0.1:1" "Prometheus at http://127.0.0.1:1"
    finish
}

# prom QUERY -> the first value of an instant query, or nothing
prom() {
    curl -s --max-time "$(scaled 5)" "$purl/api/v1/query" --data-urlencode "query=$1" |
        jq -r '.data.result[0].value[1] // empty'
}
# node_metric FAMILY -> the value of the vGPU's series on the node's own /metrics
node_metric() {
    curl -s --max-time "$(scaled 5)" -H "Authorization: Bearer $node_token" \
        "http://127.0.0.1:$port_node/metrics" |
        awk -v f="$1" '$1 ~ "^"f"\\{" && $1 ~ /vgpu="wl-a.0"/ { print $2 }'
}
caught_up() {   # Prometheus has scraped the node's current value of FAMILY
    local v p
    v=$(node_metric "$1")
    p=$(prom "$1{vgpu=\"wl-a.0\"}")
    [ -n "$v" ] && [ -n "$p" ] && awk -v a="$v" -v b="$p" 'BEGIN { exit !(a == b) }'
}

real_prometheus() {
    local promb
    promb=$(command -v prometheus || echo /usr/bin/prometheus)
    if [ ! -x "$promb" ]; then
        echo "SKIP: no prometheus binary (Debian's package 'prometheus'; scripts/install-deps)"
        exit 77
    fi
    port_node=$(free_port)
    node_token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    TFUSE_NODE_TOKEN=$node_token start_node --api "tcp:127.0.0.1:$port_node"
    local r tok
    r=$(http POST /api/v1/vgpus \
        '{"vram":"256MiB","compute_request_pct":20,"compute_limit_pct":50,"id":"wl-a.0"}')
    [ "${r%% *}" = 201 ] || fail "create: $r"
    tok=$(jq -r .token <<<"${r#* }")
    local port_prom
    port_prom=$(free_port)
    purl=http://127.0.0.1:$port_prom
    cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: tfuse-node
    authorization: {credentials: "$node_token"}
    static_configs: [{targets: ["127.0.0.1:$port_node"]}]
EOF
    "$promb" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus-data" \
        --web.listen-address="127.0.0.1:$port_prom" --log.level=warn >"$work/prom.log" 2>&1 &
    prom_pid=$!
    pids+=($prom_pid)
    wait_until 60 curl -sf -o /dev/null "$purl/-/ready" ||
        fail "prometheus did not start: $(tail -5 "$work/prom.log")"
    wait_until 60 caught_up tfuse_vgpu_memory_limit_bytes || fail "prometheus scraped nothing"
    local t0
    t0=$(date +%s%3N)

    # A refused allocation, kernels, then 96 MiB held until Prometheus has seen it.
    run_on "$tok" overlimit $((300 * MiB)) | grep -q "other work ok" || fail "overlimit"
    run_on "$tok" spin 2 20000 >"$work/spin.log" 2>&1 || fail "spin: $(cat "$work/spin.log")"
    "$tfuse" run --connect "$sess" --vgpu "$tok" -- "$prog" hold $((96 * MiB)) \
        >"$work/hold.log" 2>&1 &
    local hold=$!
    pids+=($hold)
    wait_until 30 grep -q '^held' "$work/hold.log" || fail "the program did not hold its memory"
    local held
    held=$(vgpu_field wl-a.0 used_bytes)
    [ "$held" -ge $((96 * MiB)) ] || fail "the vGPU holds $held"
    wait_until 30 caught_up tfuse_vgpu_memory_used_bytes || fail "prometheus did not see $held"
    sleep 2   # a few scrapes of it
    kill -TERM "$hold"
    wait "$hold" 2>/dev/null
    wait_until 30 used_is wl-a.0 0 || fail "the memory did not come back"
    for f in tfuse_vgpu_memory_used_bytes tfuse_vgpu_launches_total \
             tfuse_vgpu_memory_denied_total tfuse_vgpu_busy_seconds_total; do
        wait_until 30 caught_up $f || fail "prometheus did not catch up with $f"
    done
    local t1 out
    t1=$(($(date +%s%3N) + 1000))
    out=$("$probe" "$purl?step=1s" $((t0 - 3000)) $t1 wl-a.0) || fail "probe: $out"
    echo "$out" >"$work/samples"
    local launches denied busy
    launches=$(node_metric tfuse_vgpu_launches_total)
    denied=$(node_metric tfuse_vgpu_memory_denied_total)
    busy=$(node_metric tfuse_vgpu_busy_seconds_total)
    echo "node: held $held, launches $launches, denied $denied, busy ${busy}s"
    awk -v held="$held" -v lim=$((256 * MiB)) -v launches="$launches" -v denied="$denied" \
        -v busy="$busy" -v span=$(((t1 - t0 + 3000) / 1000)) '
        { n++; if ($4 != lim) bad = bad " limit " $4 " at " $1
          if ($6 != "0.5000") bad = bad " compute_limit " $6
          if ($2 > maxu) maxu = $2; if ($3 > maxp) maxp = $3
          if ($2 == held) seen = 1; if (seen && $2 == 0) freed = 1
          cu += $5; l += $8; o += $9 }
        END {
          printf "prometheus: %d samples, max used %d, max peak %d, launches %d, ooms %d, " \
                 "busy %.3fs\n", n, maxu, maxp, l, o, cu
          if (n < span - 3 || n > span + 1) bad = bad " " n " samples in " span " s"
          if (maxu != held || maxp < held) bad = bad " used/peak " maxu "/" maxp
          if (!freed) bad = bad " never freed"
          if (l != launches) bad = bad " launches " l " != " launches
          if (o != denied || o < 1) bad = bad " ooms " o " != " denied
          if (busy <= 0 || cu < busy * 0.9 || cu > busy * 1.1) bad = bad " busy " cu
          if (bad != "") { print "mismatch:" bad; exit 1 } }' "$work/samples" ||
        fail "the samples disagree with the node: $(cat "$work/samples")"
    finish
}

finish() {
    if [ -n "${prom_pid:-}" ]; then   # a clean stop (SIGKILL after 20 s, by the harness)
        kill -TERM "$prom_pid" 2>/dev/null
        (sleep "$(scaled 20)"; kill -KILL "$prom_pid" 2>/dev/null) &
        local watchdog=$!
        wait "$prom_pid" 2>/dev/null
        kill "$watchdog" 2>/dev/null
    fi
    if grep -l "Sanitizer" "$work"/*.log 2>/dev/null; then
        grep -h -A20 "Sanitizer" "$work"/*.log | head -60 >&2
        fail "a sanitizer report (above)"
    fi
    echo "PASS"
}

case $mode in
hostile) hostile ;;
prometheus) real_prometheus ;;
*) echo "usage: run-promsrc.sh hostile|prometheus BUILD_DIR SOURCE_DIR" >&2; exit 2 ;;
esac
