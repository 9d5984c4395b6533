#!/usr/bin/env bash
# bench_freeze (generated from bench/freeze/bench_freeze.sh): the pause a freeze and a resume
# cost a vGPU's session holding 256 MiB and 1 GiB of device memory, to host memory and to disk,
# measured at the node's API (the reply's took_ms: command, drain, copies, mappings), beside a
# plain host-to-device copy of 1 GiB through the same node in the same run. After every resume
# the program checks its memory against the CPU. Prints a table, writes freeze.json to
# $TFUSE_BENCH_DIR (scripts/run-benches) or build/bench/.
#   bench_freeze [REPS]   (default 3: the median is reported, and the fastest)
# Owns: nothing. May call: tfuse (node, run), curl, jq.
set -uo pipefail
build=@CMAKE_BINARY_DIR@
tfuse=$build/bin/tfuse
prog=$build/tests/freeze/prog_freeze
reps=${1:-3}
MiB=$((1 << 20))
out_dir=${TFUSE_BENCH_DIR:-$build/bench}
mkdir -p "$out_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-freeze.XXXXXX")
node_pid=
holder=
prog_pid=
export SOFTGPU_NAMESPACE=bench_freeze_$$ SOFTGPU_MEMORY=${SOFTGPU_MEMORY:-3GiB}
cleanup() {
    [ -n "$holder" ] && kill -KILL "$holder" $prog_pid 2>/dev/null
    [ -n "$node_pid" ] && kill -TERM "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
die() { echo "bench_freeze: $*" >&2; tail -5 "$work/node.log" >&2; exit 1; }
http() {   # http METHOD PATH [BODY] -> body (status in $work/status)
    curl -s --unix-socket "$work/api.sock" -X "$1" -o "$work/reply" -w '%{http_code}' \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "http://node$2" \
        >"$work/status"
    cat "$work/reply"
}
wait_for() {   # wait_for SECONDS CMD...
    local end=$((SECONDS + $1))
    shift
    until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.05; done
}

"$tfuse" node --backend soft --listen "unix:$work/s.sock" --api "unix:$work/api.sock" \
    --freeze-to host --state "$work/state" --allow-unlimited >"$work/node.log" 2>&1 &
node_pid=$!
wait_for 20 test -S "$work/api.sock" || die "the node did not start"

# The plain copy: 1 GiB from pageable host memory into fresh device memory, then again.
copy=$(timeout 300 "$tfuse" run --connect "unix:$work/s.sock" -- "$prog" copy $((1024 * MiB))) ||
    die "the plain copy failed: $copy"
h2d_first=$(echo "$copy" | awk '{print $2}')
h2d_again=$(echo "$copy" | awk '{print $4}')

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
fastest() { sort -g | head -1; }
rows=()
json_rows=()
for size_mib in 256 1024; do
    body="{\"vram_bytes\": $(((size_mib + 128) * MiB)), \"id\": \"b$size_mib\"}"
    tok=$(http POST /api/v1/vgpus "$body" | jq -r .token)
    [ "$(cat "$work/status")" = 201 ] || die "create: $(cat "$work/reply")"
    rm -f "$work/in"
    mkfifo "$work/in"
    exec {fd}<>"$work/in"
    timeout 1200 "$tfuse" run --connect "unix:$work/s.sock" --vgpu "$tok" -- "$prog" hold \
        $((size_mib * MiB)) <"$work/in" >"$work/out" 2>&1 &
    holder=$!
    wait_for 300 grep -q '^ready' "$work/out" || die "the holder: $(cat "$work/out")"
    prog_pid=$(sed -n 's/^ready pid //p' "$work/out")
    for to in host disk; do
        : >"$work/f.ms"
        : >"$work/r.ms"
        for _ in $(seq "$reps"); do
            http POST "/api/v1/vgpus/b$size_mib/freeze" "{\"to\": \"$to\"}" | jq .took_ms \
                >>"$work/f.ms"
            [ "$(cat "$work/status")" = 200 ] || die "freeze: $(cat "$work/reply")"
            http POST "/api/v1/vgpus/b$size_mib/resume" | jq .took_ms >>"$work/r.ms"
            [ "$(cat "$work/status")" = 200 ] || die "resume: $(cat "$work/reply")"
        done
        n=$(wc -l <"$work/out")
        echo check >&"$fd"
        wait_for 300 eval "[ \$(wc -l <$work/out) -gt $n ]" || die "no answer to check"
        tail -1 "$work/out" | grep -q '^ok' || die "after the resumes: $(tail -1 "$work/out")"
        fm=$(median <"$work/f.ms") ff=$(fastest <"$work/f.ms")
        rm_=$(median <"$work/r.ms") rf=$(fastest <"$work/r.ms")
        rows+=("$(printf '%-6s %-5s %12.1f %12.1f %12.1f %12.1f %14.2f' "${size_mib}MiB" "$to" \
            "$fm" "$ff" "$rm_" "$rf" "$(echo "$rm_ $size_mib" | awk '{print $1 * 1024 / $2}')")")
        json_rows+=("{\"bytes\": $((size_mib * MiB)), \"to\": \"$to\", \"freeze_ms_median\": $fm,
            \"freeze_ms_min\": $ff, \"resume_ms_median\": $rm_, \"resume_ms_min\": $rf,
            \"resume_ms_per_gib\": $(echo "$rm_ $size_mib" | awk '{print $1 * 1024 / $2}')}")
    done
    echo end >&"$fd"
    wait "$holder"
    holder= prog_pid=
    exec {fd}>&-
    http DELETE "/api/v1/vgpus/b$size_mib" >/dev/null
done

load=$(cut -d' ' -f1 /proc/loadavg)
echo "bench_freeze: softgpu, $reps freeze+resume pairs per row (took_ms of the node's API)," \
     "load $load"
printf '%-6s %-5s %12s %12s %12s %12s %14s\n' SIZE TO FREEZE_MS FREEZE_MIN RESUME_MS RESUME_MIN \
    RESUME_MS/GiB
printf '%s\n' "${rows[@]}"
ratio=$(jq -n "[$(IFS=,; echo "${json_rows[*]}")] | map(select(.bytes == 1073741824 and
    .to == \"host\"))[0].resume_ms_median / ($h2d_first * 1000)")
printf 'plain 1 GiB host-to-device copy: %.1f ms into fresh memory, %.1f ms again;' \
    "$(echo "$h2d_first" | awk '{print $1 * 1000}')" \
    "$(echo "$h2d_again" | awk '{print $1 * 1000}')"
printf ' resume of 1 GiB from host memory = %.2fx the first (aim: within 2x)\n' "$ratio"
jq -n --argjson rows "[$(IFS=,; echo "${json_rows[*]}")]" --argjson first "$h2d_first" \
    --argjson again "$h2d_again" --argjson ratio "$ratio" --argjson load "$load" \
    --argjson reps "$reps" \
    '{bench: "freeze", backend: "softgpu", reps: $reps, loadavg: $load, rows: $rows,
      plain_h2d_1gib_first_s: $first, plain_h2d_1gib_again_s: $again,
      resume_1gib_host_over_plain_copy: $ratio}' >"$out_dir/freeze.json" ||
    die "cannot write $out_dir/freeze.json"
echo "wrote $out_dir/freeze.json"
