// Corpus: single-precision math: the accurate library functions, and the fast intrinsics
// (checked against the C library with tolerances).
#include "kt_device.cuh"

extern "C" __global__ void math_precise(const float *x, float *out, int n)
{
    int i = kt_global_index();
    if (i >= n)
        return;
    float v = x[i]; // in (0, 10)
    kt_store_row(out, i, {sqrtf(v), expf(v), logf(v), sinf(v), cosf(v), rsqrtf(v), v / (v + 1.5f),
                          tanhf(v - 5.0f)});
}

extern "C" __global__ void math_fast(const float *x, float *out, int n)
{
    int i = kt_global_index();
    if (i >= n)
        return;
    float v = x[i]; // in (0, 10)
    kt_store_row(out, i, {__expf(v), __logf(v), __sinf(v), __cosf(v), __fdividef(v, v + 2.0f)});
}
