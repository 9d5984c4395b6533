// Corpus: double precision. daxpy, and a dot product: per-block tree reduction in shared
// memory, then one double atomicAdd per block.
extern "C" __global__ void daxpy(int n, double alpha, const double *x, double *y)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = fma(alpha, x[i], y[i]);
}

extern "C" __global__ void ddot(int n, const double *x, const double *y, double *result)
{
    __shared__ double s[256];
    double v = 0.0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        v += x[i] * y[i];
    s[threadIdx.x] = v;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (threadIdx.x < half)
            s[threadIdx.x] += s[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        atomicAdd(result, s[0]);
}
