/*
 * The native baselines of bench_softgpu: its two kernels written in C the way a CPU back end
 * would want them, the loop over a block's threads innermost, compiled -O3 for the host's
 * vector unit (bench/softgpu/CMakeLists.txt), so that the compiler vectorises across threads.
 * This is the machine's real limit for the same work, which the engines are measured against.
 * Bit-identical to the kernels (fmaf is one rounding, as fma.rn.f32).
 *
 * May call: libc, libm.
 */
#include <math.h>
#include <stddef.h>

#include "native.h"

void native_fma_block(float *out, unsigned first, unsigned n, unsigned iters)
{
    enum { MAXT = 1024 };
    float x[MAXT], a[MAXT], b[MAXT], d[MAXT];
    const float c = 0x1.fff2e4p-1f; /* 0f3F7FF972 */
    if (n > MAXT)
        n = MAXT;
    for (unsigned t = 0; t < n; t++) {
        x[t] = (float)(first + t) * 0x1p-24f;
        a[t] = 1, b[t] = 2, d[t] = 3;
    }
    for (unsigned i = 0; i < iters; i++)
        for (unsigned t = 0; t < n; t++) {
            a[t] = fmaf(a[t], c, x[t]), b[t] = fmaf(b[t], c, x[t]), d[t] = fmaf(d[t], c, x[t]);
            a[t] = fmaf(a[t], c, x[t]), b[t] = fmaf(b[t], c, x[t]), d[t] = fmaf(d[t], c, x[t]);
            a[t] = fmaf(a[t], c, x[t]), b[t] = fmaf(b[t], c, x[t]);
        }
    for (unsigned t = 0; t < n; t++)
        out[first + t] = a[t] + b[t] + d[t] + x[t];
}

void native_saxpy(float *y, const float *x, float a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fmaf(x[i], a, y[i]);
}
