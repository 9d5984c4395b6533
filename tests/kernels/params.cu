// Corpus: a struct passed by value (mixed alignment, array member, trailing char) and
// non-inlined device functions with several arguments and a returned value.
struct Params {
    float scale;
    double offset;
    int idx[3];
    char flag;
    long long big;
};

extern "C" __global__ void struct_param(Params p, double *out, char tail, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    double v = p.scale * (double)i + p.offset + p.idx[i % 3] + (double)p.big;
    if (p.flag)
        v = -v;
    out[i] = v + (double)tail;
}

__device__ __noinline__ float poly3(float x, float a, float b, float c)
{
    return (a * x + b) * x + c;
}

__device__ __noinline__ int collatz_steps(unsigned v)
{
    int steps = 0;
    while (v != 1 && steps < 1000) {
        v = (v & 1) ? 3 * v + 1 : v >> 1;
        steps++;
    }
    return steps;
}

extern "C" __global__ void device_func(const float *x, float *y, const unsigned *seeds,
                                       int *steps, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    y[i] = poly3(x[i], 1.5f, -2.0f, 0.25f);
    steps[i] = collatz_steps(seeds[i]);
}
