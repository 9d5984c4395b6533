#!/usr/bin/env bash
# nvml_smi against each of our libnvidia-ml.so.1 (tests/nvml/CMakeLists.txt):
#
#   run-nvml-smi.sh softgpu BUILD_DIR SOURCE_DIR   softgpu's library (build/lib/softgpu first on
#                                                  LD_LIBRARY_PATH): the device's truth
#   run-nvml-smi.sh stub BUILD_DIR SOURCE_DIR      TensorFuse's, through a node on softgpu and
#                                                  `tfuse run --vram 192MiB`: the vGPU's view
#
# nvml_smi holds 64 MiB first; its answers (everything from "answers:") must equal
# expect-CASE.txt next to this script. The node and every program are stopped on every exit.
set -u

case_name=$1 build=$2 src=$3
tfuse=$build/bin/tfuse
smi=$build/tests/nvml/nvml_smi
here=$(cd "$(dirname "$0")" && pwd)
. "$src/tests/lib/node-harness.sh" nvml-smi

check() {   # check OUTPUT: prints it, compares its answers with the golden file
    echo "$1"
    diff <(echo "$1" | sed -n '/^answers:/,$p') "$here/expect-$case_name.txt" ||
        fail "answers differ from expect-$case_name.txt (< got, > expected)"
    echo "answers match expect-$case_name.txt"
}

export SOFTGPU_MEMORY=512MiB SOFTGPU_THREADS=2 SOFTGPU_SMS=8
case $case_name in
softgpu)
    out=$(LD_LIBRARY_PATH=$build/lib/softgpu timeout $T60 "$smi" --alloc 64 2>&1) ||
        fail "nvml_smi on softgpu: $out"
    check "$out"
    ;;
stub)
    start_node
    out=$(NVML_SMI_EXCLUSIVE=1 timeout $T60 "$tfuse" run --api "$api" --vram 192MiB --compute 50% \
          -- "$smi" --alloc 64 2>&1) || fail "nvml_smi through tfuse run: $out"
    check "$out"
    ;;
*)
    fail "unknown case $case_name"
    ;;
esac
