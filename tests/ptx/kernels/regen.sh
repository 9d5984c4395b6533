#!/bin/sh
# Regenerates the checked-in PTX of the interpreter tests from src/*.cu (needs nvcc).
set -e
cd "$(dirname "$0")"
for f in src/*.cu; do
    b=$(basename "$f" .cu)
    /usr/local/cuda/bin/nvcc -arch=sm_80 -O3 -ptx "$f" -o "$b.ptx"
done
