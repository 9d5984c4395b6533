#!/usr/bin/env bash
# The pool's Prometheus history source (src/pool/pool_promsrc.c, issue 14), through
# promsrc_probe (a workload whose vGPUs are given on its command line).
#
#   run-promsrc.sh hostile    BUILD_DIR SOURCE_DIR
#       Against fake_prometheus.py: exact series give exact samples (the peak that rose
#       between two scrapes, counter growth per step, a counter that started again, a point off
#       the grid, a '.' in a vGPU id escaped in the selector's regex); bad JSON, Prometheus'
#       own error, a proxy's HTML, an answer over 4 MiB, a timeout, a vector, a value that is
#       not a number and bad URLs each give an error that says which; basic authentication
#       from the URL's userinfo, its password never shown in an error.
#   run-promsrc.sh prometheus BUILD_DIR SOURCE_DIR
#       Against Debian's real prometheus (exit 77, skipped, when it is not installed), scraping
#       a real softgpu node every second while prog_iso runs on the vGPU of a pool's allocation
#       (`tfuse pool serve --history prometheus:URL`): an allocation refused by the limit,
#       kernels, 96 MiB held then freed. The samples agree with the node's own /metrics: the
#       limit, the memory held, the refused allocations, launches and device time (summed over
#       the steps). The pool's chart and `tfuse pool plot` show the same peak and limit, its
#       recommendation has samples, and with Prometheus stopped the chart fails saying so.
# Everything started is stopped on every exit path (tests/lib/node-harness.sh).
set -u

mode=$1 build=$2 src=$3
tfuse=$build/bin/tfuse
prog=$build/tests/isolation/prog_iso
probe=$build/bin/promsrc_probe
. "$src/tests/lib/node-harness.sh" promsrc
F=1700000000000   # the fake's time

vgpu_field() {   # vgpu_field ID FIELD
    http GET /api/v1/vgpus | cut -d' ' -f2- | jq -r ".vgpus[] | select(.id == \"$1\") | .$2"
}
used_is() { [ "$(vgpu_field "$1" used_bytes)" = "$2" ]; }
run_on() {   # run_on TOKEN ARGS... (prog_iso through tfuse run on that vGPU)
    local tok=$1
    shift
    timeout "$T60" "$tfuse" run --connect "$sess" --vgpu "$tok" -- "$prog" "$@"
}
pcall() {   # pcall TOKEN METHOD PATH [BODY] -> "STATUS BODY" from the pool
    local out
    out=$(curl -s --max-time "$(scaled 20)" -H "Authorization: Bearer $1" -X "$2" \
          -w '\n%{http_code}' ${4:+-H 'Content-Type: application/json' --data-binary "$4"} \
          "$pool_url$3")
    echo "$(echo "$out" | tail -1) $(echo "$out" | sed '$d')"
}
healthy() {
    [ "$(pcall "$admin" GET /api/v1/nodes/n1 | cut -d' ' -f2- | jq -r .healthy)" = true ]
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

expect_error() {   # expect_error URL PATTERN: the probe fails, saying PATTERN
    local out
    out=$("$probe" "$1" $F $((F + 60000)) wl.a 2>&1) && fail "$1: no error: $out"
    ! grep -q "Sanitizer\|runtime error" <<<"$out" || fail "$1: $out"
    grep -q -- "$2" <<<"$out" || fail "$1: '$out', expected /$2/"
    echo "refused: $out"
}

hostile() {
    python3 "$src/tests/pool/fake_prometheus.py" "$work/fake.port" >"$work/fake.log" 2>&1 &
    pids+=($!)
    wait_until 20 test -s "$work/fake.port" || fail "the fake Prometheus did not start"
    local fake=http://127.0.0.1:$(cat "$work/fake.port") out MiB=$((1 << 20))
    out=$("$probe" "$fake/derive/?step=10s" $F $((F + 60000)) wl.a 2>"$work/probe.log") ||
        fail "derive: $out $(cat "$work/probe.log")"
    # t used peak limit compute_used compute_limit throttled launches ooms, a step each
    local want
    local t=$((F + 9000))   # steps end at the last whole second before the end
    want=$(printf '%s\n' \
        "$t $((10 * MiB)) $((10 * MiB)) $((100 * MiB)) 0.500000 0.5000 0.000000 100 0" \
        "$((t + 10000)) $((20 * MiB)) $((50 * MiB)) $((100 * MiB)) 0.500000 0.5000 0.100000 100 1" \
        "$((t + 20000)) $((20 * MiB)) $((25 * MiB)) $((100 * MiB)) 0.000000 0.5000 0.100000 0 0" \
        "$((t + 30000)) $((5 * MiB)) $((20 * MiB)) $((100 * MiB)) 0.000000 0.5000 0.100000 0 2" \
        "$((t + 40000)) $((5 * MiB)) $((5 * MiB)) $((100 * MiB)) 0.200000 0.5000 0.100000 50 0" \
        "$((t + 50000)) $((30 * MiB)) $((30 * MiB)) $((100 * MiB)) 0.200000 0.5000 0.100000 50 0")
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
    # Basic authentication from the URL's userinfo; errors never show the password.
    local fport=${fake##*:}
    out=$("$probe" "http://user:s3cret@127.0.0.1:$fport/auth" $F $((F + 60000)) wl.a) ||
        fail "basic authentication: $out"
    out=$("$probe" "http://user:wrong@127.0.0.1:$fport/auth" $F $((F + 60000)) wl.a 2>&1) &&
        fail "a wrong password was let in"
    grep -q "Prometheus at http://user:\*\*\*@127.0.0.1:$fport/auth: answered 401" <<<"$out" &&
        ! grep -q wrong <<<"$out" || fail "the refusal: $out"
    echo "refused: $out"
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
        awk -v f="$1" -v v="vgpu=\"$vg\"" '$1 ~ "^"f"\\{" && index($1, v) { print $2 }'
}
caught_up() {   # Prometheus has scraped the node's current value of FAMILY
    local v p
    v=$(node_metric "$1")
    p=$(prom "$1{vgpu=\"$vg\"}")
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
    local port_prom port_pool r tok ta
    port_prom=$(free_port)
    purl=http://127.0.0.1:$port_prom
    port_pool=$(free_port)
    pool_url=http://127.0.0.1:$port_pool
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/join.token")
    # The pool reads its usage history from the Prometheus started below.
    TFUSE_NODE_TOKEN=$node_token "$tfuse" pool serve --listen "127.0.0.1:$port_pool" \
        --db "$work/pool.db" --join-token-file "$work/join.token" --usage-period 1 \
        --ready-file "$work/pool.url" --history "prometheus:$purl?step=1s" \
        >"$work/pool.log" 2>&1 &
    pids+=($!)
    wait_until 20 test -s "$work/pool.url" || fail "the pool did not start: $(cat "$work/pool.log")"
    admin=$(cat "$work/pool.db.admin-token")
    TFUSE_NODE_TOKEN=$node_token start_node --api "tcp:127.0.0.1:$port_node" --pool "$pool_url" \
        --node-name n1 --heartbeat-interval 0.2 --pool-join-token-file "$work/join.token"
    wait_until 30 healthy || fail "the node is not healthy at the pool"
    r=$(pcall "$admin" POST /api/v1/tenants/team-a '{}')
    [ "${r%% *}" = 201 ] || fail "tenant: $r"
    ta=$(jq -r .token <<<"${r#* }")
    r=$(pcall "$ta" POST /api/v1/allocations \
        '{"compute_request_pct":20,"compute_limit_pct":50,"vram_request":268435456,"qos":"low"}')
    [ "${r%% *}" = 201 ] || fail "allocate: $r"
    vg=$(jq -r '.devices[0].vgpu_id' <<<"${r#* }")
    tok=$(jq -r '.devices[0].token' <<<"${r#* }")
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
    held=$(vgpu_field "$vg" used_bytes)
    [ "$held" -ge $((96 * MiB)) ] || fail "the vGPU holds $held"
    wait_until 30 caught_up tfuse_vgpu_memory_used_bytes || fail "prometheus did not see $held"
    sleep 2   # a few scrapes of it
    kill -TERM "$hold"
    wait "$hold" 2>/dev/null
    wait_until 30 used_is "$vg" 0 || fail "the memory did not come back"
    for f in tfuse_vgpu_memory_used_bytes tfuse_vgpu_launches_total \
             tfuse_vgpu_memory_denied_total tfuse_vgpu_busy_seconds_total; do
        wait_until 30 caught_up $f || fail "prometheus did not catch up with $f"
    done
    local t1 out
    t1=$(($(date +%s%3N) + 1000))
    out=$("$probe" "$purl?step=1s" $((t0 - 3000)) $t1 "$vg") || fail "probe: $out"
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
    pool_reads_prometheus "$ta" "$held"
    finish
}

# The pool's chart, `tfuse pool plot` and recommendation of the workload come from Prometheus:
# the same peak and limit; once Prometheus is gone the chart fails saying so.
pool_reads_prometheus() {
    local ta=$1 held=$2 r
    r=$(pcall "$ta" GET "/api/v1/workloads/team-a/any/chart?hours=1&columns=200")
    [ "${r%% *}" = 200 ] || fail "chart: $r"
    jq -e --argjson held "$held" --argjson lim $((256 * MiB)) '(.points | length) > 0 and
        ([.points[].mem_peak] | max) == $held and ([.points[].mem_limit] | max) == $lim' \
        <<<"${r#* }" >/dev/null || fail "the pool's chart from Prometheus: ${r#* }"
    echo "pool chart: $(jq '.points | length' <<<"${r#* }") columns, peak $held"
    (umask 077; printf '%s' "$ta" >"$work/ta.token")
    "$tfuse" pool plot team-a/any -o "$work/chart.png" --pool "$pool_url" \
        --token-file "$work/ta.token" --hours 1 --width 800 --height 600 || fail "tfuse pool plot"
    [ "$(od -An -tu1 -j16 -N8 "$work/chart.png" | tr -s ' ' | sed 's/^ //')" = \
      "0 0 3 32 0 0 2 88" ] || fail "the plot is not an 800x600 PNG"
    r=$(pcall "$ta" GET /api/v1/workloads/team-a/any)
    jq -e '.samples >= 1' <<<"${r#* }" >/dev/null || fail "no samples recommended from: $r"
    stop_prometheus
    r=$(pcall "$ta" GET "/api/v1/workloads/team-a/any/chart?hours=1")
    [ "${r%% *}" = 502 ] && grep -q "Prometheus at $purl" <<<"$r" ||
        fail "the chart without Prometheus: $r"
    echo "without Prometheus: $(jq -r .message <<<"${r#* }")"
}

stop_prometheus() {   # a clean stop (SIGKILL after 20 s)
    [ -n "${prom_pid:-}" ] || return 0
    kill -TERM "$prom_pid" 2>/dev/null
    (sleep "$(scaled 20)"; kill -KILL "$prom_pid" 2>/dev/null) &
    local watchdog=$!
    wait "$prom_pid" 2>/dev/null
    kill "$watchdog" 2>/dev/null
    prom_pid=
}

finish() {
    stop_prometheus
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
