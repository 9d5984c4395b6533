// Corpus: single-precision math: the accurate library functions, and the fast intrinsics
// (checked against the C library with tolerances).
extern "C" __global__ void math_precise(const float *x, float *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float v = x[i]; // in (0, 10)
    float *o = out + 8 * i;
    o[0] = sqrtf(v);
    o[1] = expf(v);
    o[2] = logf(v);
    o[3] = sinf(v);
    o[4] = cosf(v);
    o[5] = rsqrtf(v);
    o[6] = v / (v + 1.5f);
    o[7] = tanhf(v - 5.0f);
}

extern "C" __global__ void math_fast(const float *x, float *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float v = x[i]; // in (0, 10)
    float *o = out + 5 * i;
    o[0] = __expf(v);
    o[1] = __logf(v);
    o[2] = __sinf(v);
    o[3] = __cosf(v);
    o[4] = __fdividef(v, v + 2.0f);
}
