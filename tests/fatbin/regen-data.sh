#!/usr/bin/env bash
# Regenerates the nvcc-built images under tests/fatbin/data/ that test_fatbin and fuzz_fatbin
# read (the tests themselves never need nvcc). Run from anywhere: tests/fatbin/regen-data.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
src=$here/vadd.cu
out=$here/data
mkdir -p "$out"
"$nvcc" -arch=sm_80 -fatbin -o "$out/zstd_sm80.fatbin" "$src"                       # default: PTX zstd
"$nvcc" -arch=sm_80 -fatbin --compress-mode=speed -o "$out/lz4_sm80.fatbin" "$src"  # PTX LZ4
"$nvcc" -arch=sm_80 -fatbin --no-compress -o "$out/plain_sm80.fatbin" "$src"
"$nvcc" -arch=sm_80 -Xfatbin -compress-all -fatbin -o "$out/all_zstd.fatbin" "$src"  # ELF zstd too
"$nvcc" -gencode arch=compute_80,code=sm_80 -fatbin -o "$out/sass_only_sm80.fatbin" "$src"
"$nvcc" -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -fatbin \
        -o "$out/sass_only_80_90.fatbin" "$src"
"$nvcc" -gencode arch=compute_75,code=compute_75 -gencode arch=compute_80,code=compute_80 \
        -gencode arch=compute_90,code='[sm_90,compute_90]' -fatbin -o "$out/multi_ptx.fatbin" "$src"
"$nvcc" -gencode arch=compute_100,code=sm_100 -gencode arch=compute_120,code='[sm_120,compute_120]' \
        -fatbin -o "$out/blackwell.fatbin" "$src"          # sm_100+ ELF entries: 112-byte headers
"$nvcc" -arch=compute_90 -fatbin -o "$out/ptx_only_90.fatbin" "$src"
"$nvcc" -arch=sm_80 -cubin -o "$out/vadd_sm80.cubin" "$src"
"$nvcc" -arch=sm_80 -ptx -o "$out/vadd.ptx" "$src"
"$nvcc" -arch=sm_80 -c -o "$out/vadd_host.elf" "$src"   # host object (.elf: *.o is git-ignored), holds the .nvFatBinSegment wrapper
# SASS only, two architectures, compressed: the worker sizes its globals from the cubins
"$nvcc" -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
        -Xfatbin -compress-all -fatbin -o "$out/globals_sass.fatbin" "$here/globals.cu"
