#!/bin/sh
# The engines' differential run over generated kernels: writes COUNT random modules
# (gen_random_ptx.py), runs diff_ptx_exec on them with SOFTGPU_EXEC=interp and =jit, and fails
# unless every module ends the same way on both (status, and the memory it wrote when it
# succeeded) and at least MIN_JIT modules ran on the JIT.
# usage: diff_fuzz.sh DIFF_PTX_EXEC GEN_RANDOM_PTX COUNT MIN_JIT
set -u
if [ $# -ne 4 ]; then
    echo "usage: $0 DIFF_PTX_EXEC GEN_RANDOM_PTX COUNT MIN_JIT" >&2
    exit 2
fi
prog=$1 gen=$2 count=$3 floor=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 "$gen" 0 "$count" "$dir/ptx" || exit 2
# Without address randomisation both runs map the device memory (and so the globals a kernel
# may store the address of) at the same place.
norand="setarch $(uname -m) -R"
$norand true 2>/dev/null || norand=
SOFTGPU_EXEC=interp $norand "$prog" "$dir/ptx" "$dir/interp.out" 2>/dev/null || exit 1
SOFTGPU_EXEC=jit $norand "$prog" "$dir/ptx" "$dir/jit.out" 2>"$dir/jit.err" || exit 1
njit=$(grep -c '^jit ' "$dir/jit.err")
nok=$(grep -c ' ok ' "$dir/interp.out")
nrun=$(grep -c -E ' (ok|status) ' "$dir/interp.out")
echo "$count modules: $nrun launched ($nok succeeded), $njit on the JIT"
fail=0
if ! cmp -s "$dir/interp.out" "$dir/jit.out"; then
    echo "FAIL: the engines differ (< interpreter, > JIT):"
    diff "$dir/interp.out" "$dir/jit.out" | head -n 20
    fail=1
fi
if [ "$njit" -lt "$floor" ]; then
    echo "FAIL: only $njit modules ran on the JIT, fewer than $floor"
    fail=1
fi
[ $fail -eq 0 ] && echo "PASS: both engines agree on every module"
exit $fail
