#!/usr/bin/env bash
# bench_freeze (generated from bench/freeze/bench_freeze.sh): the pause a freeze and a resume
# cost a vGPU's session holding 256 MiB and 1 GiB of device memory, to host memory and to disk,
# measured at the node's API (the reply's took_ms: command, drain, copies, mappings), beside a
# plain host-to-device copy of 1 GiB through the same node in the same run. After every resume
# the program checks its memory against the CPU. Prints a table, writes freeze.json to
# $TFUSE_BENCH_DIR (scripts/run-benches) or build/bench/. The oversubscribed case, on a node
# of its own (--oversubscribe-memory): the time of an allocation that fits in the device's free
# memory against the same allocation when another vGPU must be frozen first to make room. The
# migration case, on a node of its own with two softgpu devices: the pause of moving a session
# holding 256 MiB and 1 GiB from device 0 to device 1 and back (the reply's took_ms).
#   bench_freeze [REPS]   (default 3: the median is reported, and the fastest)
#   BENCH_FREEZE_CASES=oversub bench_freeze   only the oversubscribed case (its JSON alone);
#   cases: plain, oversub, migrate, separated by commas
# Owns: nothing. May call: tfuse (node, run), curl, jq.
set -uo pipefail
build=@CMAKE_BINARY_DIR@
tfuse=$build/bin/tfuse
prog=$build/tests/freeze/prog_freeze
mprog=$build/tests/freeze/prog_migrate
reps=${1:-3}
MiB=$((1 << 20))
out_dir=${TFUSE_BENCH_DIR:-$build/bench}
mkdir -p "$out_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-freeze.XXXXXX")
node_pid=
holder=
prog_pid=
extra_pids=()
cases=${BENCH_FREEZE_CASES:-plain,oversub,migrate}
export SOFTGPU_NAMESPACE=bench_freeze_$$ SOFTGPU_MEMORY=${SOFTGPU_MEMORY:-3GiB}
cleanup() {
    [ -n "$holder" ] && kill -KILL "$holder" $prog_pid 2>/dev/null
    [ ${#extra_pids[@]} -gt 0 ] && kill -KILL "${extra_pids[@]}" 2>/dev/null
    [ -n "$node_pid" ] && kill -TERM "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
die() { echo "bench_freeze: $*" >&2; tail -5 "$work/node.log" >&2; exit 1; }
http() {   # http METHOD PATH [BODY] -> body (status in $work/status)
    curl -s --unix-socket "${api_sock:-$work/api.sock}" -X "$1" -o "$work/reply" -w '%{http_code}' \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "http://node$2" \
        >"$work/status"
    cat "$work/reply"
}
wait_for() {   # wait_for SECONDS CMD...
    local end=$((SECONDS + $1))
    shift
    until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.05; done
}

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
fastest() { sort -g | head -1; }

# The oversubscribed case (a 384 MiB device, limits up to 2x): vGPU ov holds 256 MiB, vGPU or
# 18 MiB; or's allocation of 128 MiB fits only once ov is frozen. Each rep times, around
# cuMemAlloc in prog_freeze, the allocation that needs the freeze first, then (ov frozen) the
# same allocation that fits; then ov is resumed through the API for the next rep.
holder_start() {   # holder_start NAME TOKEN BYTES: prog_freeze hold on fd ${ofd[NAME]}
    rm -f "$work/$1.in"
    mkfifo "$work/$1.in"
    exec {fd}<>"$work/$1.in"
    ofd[$1]=$fd
    timeout 1200 "$tfuse" run --connect "unix:$work/o.sock" --vgpu "$2" -- "$prog" hold "$3" \
        <"$work/$1.in" >"$work/$1.out" 2>&1 &
    extra_pids+=($!)
    wait_for 300 grep -q '^ready' "$work/$1.out" || die "holder $1: $(cat "$work/$1.out")"
    extra_pids+=("$(sed -n 's/^ready pid //p' "$work/$1.out")")
}
ask() {   # ask NAME COMMAND: the program's answer line
    local n
    n=$(wc -l <"$work/$1.out")
    echo "$2" >&"${ofd[$1]}"
    wait_for 300 eval "[ \$(wc -l <$work/$1.out) -gt $n ]" || die "$1: no answer to $2"
    sed -n "$((n + 1))p" "$work/$1.out"
}
declare -A ofd
oversub() {
    SOFTGPU_NAMESPACE=${SOFTGPU_NAMESPACE}_over SOFTGPU_MEMORY=384MiB "$tfuse" node \
        --backend soft --listen "unix:$work/o.sock" --api "unix:$work/o-api.sock" \
        --freeze-to host --oversubscribe-memory 2 --oversubscribe-wait 120 --ctx-overhead 0 \
        >"$work/o-node.log" 2>&1 &
    extra_pids+=($!)
    api_sock=$work/o-api.sock
    wait_for 20 test -S "$api_sock" || die "the oversubscribed node did not start"
    local tov tor line
    tov=$(http POST /api/v1/vgpus '{"vram":"300MiB","id":"ov"}' | jq -r .token)
    tor=$(http POST /api/v1/vgpus '{"vram":"300MiB","id":"or"}' | jq -r .token)
    holder_start ov "$tov" $((254 * MiB))
    holder_start or "$tor" $((16 * MiB))
    : >"$work/over.s"
    : >"$work/fit.s"
    for _ in $(seq "$reps"); do
        line=$(ask or "alloc $((128 * MiB))")
        case "$line" in allocated*) echo "${line##* }" >>"$work/over.s" ;;
                        *) die "the allocation that needs room: $line" ;; esac
        [ "$(http GET /api/v1/vgpus/ov | jq .freeze.frozen)" = true ] || die "ov not frozen"
        ask or unalloc >/dev/null
        line=$(ask or "alloc $((128 * MiB))")
        case "$line" in allocated*) echo "${line##* }" >>"$work/fit.s" ;;
                        *) die "the allocation that fits: $line" ;; esac
        ask or unalloc >/dev/null
        http POST /api/v1/vgpus/ov/resume >/dev/null
        [ "$(cat "$work/status")" = 200 ] || die "resume ov: $(cat "$work/reply")"
    done
    line=$(ask ov check)
    [ "${line%% *}" = ok ] || die "ov after its evictions: $line"
    evict_ms=$(grep 'frozen to host memory (to make room for vGPU or' "$work/o-node.log" |
        sed 's/.* in \([0-9.]*\) ms$/\1/' | median)
    echo end >&"${ofd[ov]}"
    echo end >&"${ofd[or]}"
    wait_for 60 eval '! pgrep -f "$work/o.sock" >/dev/null' || true
    kill -TERM "${extra_pids[0]}" 2>/dev/null && wait "${extra_pids[0]}" 2>/dev/null
    extra_pids=()
    over_ms=$(median <"$work/over.s" | awk '{print $1 * 1000}')
    fit_ms=$(median <"$work/fit.s" | awk '{print $1 * 1000}')
    unset api_sock
}
# Migration (a node of its own, two 1.5 GiB devices): a session holding SIZE is moved from
# device 0 to 1 and back, REPS times each way; every move's took_ms is a pause of the program.
# migrate direct|host: the memory copied device to device, or through host memory (the way
# taken without peer access; TFUSE_MIGRATE_VIA_HOST in the node's environment).
migrate() {
    local via=$1
    [ "$via" = host ] && export TFUSE_MIGRATE_VIA_HOST=1
    SOFTGPU_NAMESPACE=${SOFTGPU_NAMESPACE}_mig SOFTGPU_DEVICES=2 SOFTGPU_MEMORY=1536MiB \
        "$tfuse" node --backend soft --listen "unix:$work/m.sock" --api "unix:$work/m-api.sock" \
        --freeze-to host --ctx-overhead 0 >"$work/m-node.log" 2>&1 &
    extra_pids+=($!)
    api_sock=$work/m-api.sock
    wait_for 20 test -S "$api_sock" || die "the migration node did not start"
    unset TFUSE_MIGRATE_VIA_HOST
    local size_mib tok line dev
    for size_mib in 256 1024; do
        tok=$(http POST /api/v1/vgpus "{\"vram_bytes\": $(((size_mib + 64) * MiB)), \"id\":
              \"m$size_mib\", \"device\": 0}" | jq -r .token)
        rm -f "$work/m.in"
        mkfifo "$work/m.in"
        exec {fd}<>"$work/m.in"
        ofd[m]=$fd
        timeout 1200 "$tfuse" run --connect "unix:$work/m.sock" --vgpu "$tok" -- "$mprog" hold \
            $((size_mib * MiB)) <"$work/m.in" >"$work/m.out" 2>&1 &
        extra_pids+=($!)
        wait_for 300 grep -q '^ready' "$work/m.out" || die "migration holder: $(cat "$work/m.out")"
        : >"$work/m.ms"
        for _ in $(seq "$reps"); do
            for dev in 1 0; do
                http POST "/api/v1/vgpus/m$size_mib/migrate" "{\"device\": $dev}" | jq .took_ms \
                    >>"$work/m.ms"
                [ "$(cat "$work/status")" = 200 ] || die "migrate: $(cat "$work/reply")"
            done
            line=$(ask m check)
            [ "${line%% *}" = ok ] || die "after migrating: $line"
        done
        echo end >&"$fd"
        exec {fd}>&-
        http DELETE "/api/v1/vgpus/m$size_mib" >/dev/null
        local mm mf
        mm=$(median <"$work/m.ms") mf=$(fastest <"$work/m.ms")
        mig_rows+=("$(printf '%-6s %-6s %12.1f %12.1f %14.2f' "${size_mib}MiB" "$via" "$mm" \
            "$mf" "$(echo "$mm $size_mib" | awk '{print $1 * 1024 / $2}')")")
        mig_json+=("{\"bytes\": $((size_mib * MiB)), \"via\": \"$via\",
            \"pause_ms_median\": $mm, \"pause_ms_min\": $mf, \"moves\": $((2 * reps))}")
    done
    kill -TERM "${extra_pids[0]}" 2>/dev/null && wait "${extra_pids[0]}" 2>/dev/null
    extra_pids=()
    unset api_sock
}
if [[ $cases == *plain* ]]; then
"$tfuse" node --backend soft --listen "unix:$work/s.sock" --api "unix:$work/api.sock" \
    --freeze-to host --state "$work/state" --allow-unlimited >"$work/node.log" 2>&1 &
node_pid=$!
wait_for 20 test -S "$work/api.sock" || die "the node did not start"

# The plain copy: 1 GiB from pageable host memory into fresh device memory, then again.
copy=$(timeout 300 "$tfuse" run --connect "unix:$work/s.sock" -- "$prog" copy $((1024 * MiB))) ||
    die "the plain copy failed: $copy"
h2d_first=$(echo "$copy" | awk '{print $2}')
h2d_again=$(echo "$copy" | awk '{print $4}')

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

fi
if [[ $cases == *oversub* ]]; then
    oversub
fi
if [[ $cases == *migrate* ]]; then
    mig_rows=()
    mig_json=()
    migrate direct
    migrate host
fi

load=$(cut -d' ' -f1 /proc/loadavg)
json='{bench: "freeze", backend: "softgpu", reps: $reps, loadavg: $load}'
args=(--argjson load "$load" --argjson reps "$reps")
if [[ $cases == *plain* ]]; then
    echo "bench_freeze: softgpu, $reps freeze+resume pairs per row (took_ms of the node's API)," \
         "load $load"
    printf '%-6s %-5s %12s %12s %12s %12s %14s\n' SIZE TO FREEZE_MS FREEZE_MIN RESUME_MS \
        RESUME_MIN RESUME_MS/GiB
    printf '%s\n' "${rows[@]}"
    ratio=$(jq -n "[$(IFS=,; echo "${json_rows[*]}")] | map(select(.bytes == 1073741824 and
        .to == \"host\"))[0].resume_ms_median / ($h2d_first * 1000)")
    printf 'plain 1 GiB host-to-device copy: %.1f ms into fresh memory, %.1f ms again;' \
        "$(echo "$h2d_first" | awk '{print $1 * 1000}')" \
        "$(echo "$h2d_again" | awk '{print $1 * 1000}')"
    printf ' resume of 1 GiB from host memory = %.2fx the first (aim: within 2x)\n' "$ratio"
    json+=' + {rows: $rows, plain_h2d_1gib_first_s: $first, plain_h2d_1gib_again_s: $again,
               resume_1gib_host_over_plain_copy: $ratio}'
    args+=(--argjson rows "[$(IFS=,; echo "${json_rows[*]}")]" --argjson first "$h2d_first"
           --argjson again "$h2d_again" --argjson ratio "$ratio")
fi
if [[ $cases == *oversub* ]]; then
    printf 'oversubscribed (384 MiB device, 2x): a 128 MiB allocation that fits %.1f ms; that\n' \
        "$fit_ms"
    printf '  needs a 256 MiB vGPU frozen first %.1f ms (the freeze, in the node: %.1f ms;' \
        "$over_ms" "$evict_ms"
    printf ' medians of %s, load %s)\n' "$reps" "$load"
    json+=' + {oversub: {device_bytes: 402653184, alloc_bytes: 134217728,
               frozen_bytes: 268435456, alloc_fits_ms_median: $fit,
               alloc_after_freeze_ms_median: $over, eviction_freeze_ms_median: $evict}}'
    args+=(--argjson fit "$fit_ms" --argjson over "$over_ms" --argjson evict "$evict_ms")
fi
if [[ $cases == *migrate* ]]; then
    echo "migration, same node (two softgpu devices), device 0 -> 1 and back, $((2 * reps))" \
         "moves per row (took_ms: drain, rebuild, copies; the program paused meanwhile):"
    printf '%-6s %-6s %12s %12s %14s\n' SIZE VIA PAUSE_MS PAUSE_MIN PAUSE_MS/GiB
    printf '%s\n' "${mig_rows[@]}"
    json+=' + {migrate: $mig}'
    args+=(--argjson mig "[$(IFS=,; echo "${mig_json[*]}")]")
fi
jq -n "${args[@]}" "$json" >"$out_dir/freeze.json" || die "cannot write $out_dir/freeze.json"
echo "wrote $out_dir/freeze.json"
