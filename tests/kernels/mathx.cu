// Corpus: library math that inlines large libdevice code: double sin/cos/exp/log/pow/sqrt/erf,
// and float powf/atan2f/erff/expm1f/log1pf/cbrtf/hypotf/fmodf.
extern "C" __global__ void math_double(const double *x, double *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    double v = x[i]; // in (0.1, 10)
    double *o = out + 8 * i;
    o[0] = sin(v);
    o[1] = cos(v);
    o[2] = exp(v);
    o[3] = log(v);
    o[4] = pow(v, 1.37);
    o[5] = sqrt(v);
    o[6] = erf(v - 5.0);
    o[7] = v / 3.0;
}

extern "C" __global__ void math_float_more(const float *x, const float *y, float *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float v = x[i], w = y[i]; // v in (0.1, 10), w in (-5, 5)
    float *o = out + 8 * i;
    o[0] = powf(v, w);
    o[1] = atan2f(w, v);
    o[2] = erff(w);
    o[3] = expm1f(w);
    o[4] = log1pf(v);
    o[5] = cbrtf(w);
    o[6] = hypotf(v, w);
    o[7] = fmodf(v * 7.0f, 1.3f);
}
