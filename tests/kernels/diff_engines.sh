#!/bin/sh
# The differential test of softgpu's two engines: runs the whole kernel corpus (test_kernels,
# every case, the same KT_SEED) once on the interpreter (SOFTGPU_EXEC=interp) and once with the
# JIT (SOFTGPU_EXEC=jit), and fails unless
#  - both runs pass and fail the same cases (each checks against its C reference),
#  - every download of every case has the same bits in both runs (KT_DIGEST digests),
#  - at least MIN_JIT distinct kernels ran on the JIT (SOFTGPU_EXEC_REPORT), so the test fails
#    if the JIT silently stops being used.
# One SM thread (SOFTGPU_THREADS=1): blocks run in order in both engines, so atomics whose
# order shows in the result (float sums, slot counters) give the same bits.
# usage: diff_engines.sh TEST_KERNELS PTX_DIR FATBIN_DIR MIN_JIT
set -u
if [ $# -ne 4 ]; then
    echo "usage: $0 TEST_KERNELS PTX_DIR FATBIN_DIR MIN_JIT" >&2
    exit 2
fi
tk=$1 ptx=$2 fatbin=$3 floor=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
KT_SEED=${KT_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
export KT_SEED SOFTGPU_THREADS=1 SOFTGPU_NAMESPACE=${SOFTGPU_NAMESPACE:-diff_engines}
echo "KT_SEED=$KT_SEED"
for e in interp jit; do
    SOFTGPU_EXEC=$e KT_DIGEST="$dir/$e.digest" SOFTGPU_EXEC_REPORT="$dir/$e.report" \
        "$tk" --ptx-dir "$ptx" --fatbin-dir "$fatbin" >"$dir/$e.out" 2>&1
    echo "$e: $(tail -n 1 "$dir/$e.out")"
done
fail=0
grep -E '^(PASS|FAIL) ' "$dir/interp.out" | sed 's/ (.*//' >"$dir/interp.res"
grep -E '^(PASS|FAIL) ' "$dir/jit.out" | sed 's/ (.*//' >"$dir/jit.res"
if ! cmp -s "$dir/interp.res" "$dir/jit.res"; then
    echo "FAIL: the engines pass different cases:"
    diff "$dir/interp.res" "$dir/jit.res"
    fail=1
fi
if ! cmp -s "$dir/interp.digest" "$dir/jit.digest"; then
    echo "FAIL: outputs differ (case, download, digest, bytes; < interpreter, > JIT):"
    diff "$dir/interp.digest" "$dir/jit.digest" | head -n 40
    fail=1
fi
ndl=$(wc -l <"$dir/jit.digest")
njit=$(grep -c '^jit ' "$dir/jit.report" 2>/dev/null)
nint=$(grep -c '^interp ' "$dir/jit.report" 2>/dev/null)
echo "$ndl downloads compared; kernels on the JIT: $njit, on the interpreter: $nint"
echo "why kernels stayed on the interpreter:"
grep '^interp ' "$dir/jit.report" | cut -d' ' -f3- | sed 's/ at line [0-9]*//' | sort | uniq -c |
    sort -rn
if [ "${njit:-0}" -lt "$floor" ]; then
    echo "FAIL: only ${njit:-0} kernels ran on the JIT, fewer than $floor"
    fail=1
fi
[ $fail -eq 0 ] && echo "PASS: both engines agree bit for bit"
exit $fail
