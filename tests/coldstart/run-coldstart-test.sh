#!/usr/bin/env bash
# Issue 21's tests on a real softgpu `tfuse node` (docs/forwarding.md):
#   switch    bench_coldstart's model switch, small (16 MiB models, one repetition, one pair a
#             row): every kernel's sums are checked by model_prog across the freeze and resume,
#             and the JSON says ok
#   run-coldstart-test.sh CASE BUILD SRC
set -u
case_name=$1 build=$2 src=$3
tfuse=$build/bin/tfuse
. "$src/tests/lib/node-harness.sh" coldstart-test

case_switch() {
    local out=$work/bench
    mkdir -p "$out"
    TFUSE_BENCH_DIR=$out TFUSE_COLDSTART_PAIRS=1 TFUSE_COLDSTART_MODEL_MB=16 \
        TFUSE_COLDSTART_SWITCHES=1 timeout "$(scaled 240)" "$build/bin/bench_coldstart" \
        >"$work/bench.out" 2>&1 || { cat "$work/bench.out"; fail "bench_coldstart failed"; }
    cat "$work/bench.out"
    jq -e '.model_switch.ok == true and .model_switch.repetitions == 1 and
           .model_switch.switch_ms.median > 0 and .model_switch.scratch_ms.median > 0 and
           .model_switch.device_mib < 2 * .model_switch.model_mib' "$out/coldstart.json" \
        >/dev/null || fail "the JSON's model switch: $(jq -c .model_switch "$out/coldstart.json")"
}

"case_$case_name"
echo "PASS $case_name"
