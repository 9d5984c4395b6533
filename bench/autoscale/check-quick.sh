#!/usr/bin/env bash
# bench_autoscale_quick (ctest): bench_autoscale --quick writes autoscale.json with both arms'
# numbers for every workload, and a 1000x700 PNG chart per workload; and, the day being
# simulated (the numbers do not depend on the host), that auto mode with the pool's defaults
# meets the aim: no refusal the static arm did not have, at least 40% less memory reserved.
#   check-quick.sh BENCH_AUTOSCALE
set -u
bench=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-autoscale.XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
TFUSE_BENCH_DIR=$dir "$bench" --quick >"$dir/out.txt" 2>&1 ||
    fail "the bench: $(cat "$dir/out.txt")"
cat "$dir/out.txt"
json=$dir/autoscale.json
[ -s "$json" ] || fail "no autoscale.json"
jq -e '.bench == "autoscale" and .simulated_minutes == 1440 and (.configs | length) == 1' \
    "$json" >/dev/null || fail "autoscale.json: $(head -c 400 "$json")"
jq -e '.configs[0].total.extra_refusals == 0 and .configs[0].total.saving_pct >= 40 and
    .aim.met == true' "$json" >/dev/null ||
    fail "the aim, auto mode's defaults: $(jq -c '.configs[0].total' "$json")"
for w in inference batch growing; do
    jq -e --arg w "$w" '.configs[0].workloads[$w] | .static_gib_h > 0 and .auto_gib_h > 0 and
        .peak_gib > 0 and .static_refusals == 0 and (.resizes | type) == "number"' "$json" \
        >/dev/null ||
        fail "$w in autoscale.json: $(jq -c --arg w "$w" '.configs[0].workloads[$w]' "$json")"
    png=$dir/autoscale-$w-24h.png
    [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
        fail "$png is no PNG"
    # IHDR: width and height, big-endian, at bytes 16..23
    [ "$(od -An -tu1 -j16 -N8 "$png" | tr -s ' ' | sed 's/^ //')" = "0 0 3 232 0 0 2 188" ] ||
        fail "$png is not 1000x700"
done
echo PASS
