// Corpus: library math that inlines large libdevice code: double sin/cos/exp/log/pow/sqrt/erf,
// and float powf/atan2f/erff/expm1f/log1pf/cbrtf/hypotf/fmodf.
#include "kt_device.cuh"

extern "C" __global__ void math_double(const double *x, double *out, int n)
{
    int i = kt_global_index();
    if (i >= n)
        return;
    double v = x[i]; // in (0.1, 10)
    kt_store_row(out, i,
                 {sin(v), cos(v), exp(v), log(v), pow(v, 1.37), sqrt(v), erf(v - 5.0), v / 3.0});
}

extern "C" __global__ void math_float_more(const float *x, const float *y, float *out, int n)
{
    int i = kt_global_index();
    if (i >= n)
        return;
    float v = x[i], w = y[i]; // v in (0.1, 10), w in (-5, 5)
    kt_store_row(out, i, {powf(v, w), atan2f(w, v), erff(w), expm1f(w), log1pf(v), cbrtf(w),
                          hypotf(v, w), fmodf(v * 7.0f, 1.3f)});
}
