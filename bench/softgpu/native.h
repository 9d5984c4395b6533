/*
 * bench_softgpu's native baselines (native.c, compiled -O3 for the host's vector unit).
 */
#ifndef BENCH_SOFTGPU_NATIVE_H
#define BENCH_SOFTGPU_NATIVE_H

#include <stddef.h>

/* fma_loop for threads first..first+n-1 of the grid (n <= 1024): out[first + t] */
void native_fma_block(float *out, unsigned first, unsigned n, unsigned iters);
/* saxpy_stream's work: y[i] = x[i] * a + y[i] (fused) for i < n */
void native_saxpy(float *y, const float *x, float a, size_t n);

#endif
