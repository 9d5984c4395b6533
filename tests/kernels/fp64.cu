// Corpus: double precision. daxpy, and a dot product: per-block tree reduction in shared
// memory, then one double atomicAdd per block.
#include "kt_device.cuh"

extern "C" __global__ void daxpy(int n, double alpha, const double *x, double *y)
{
    int i = kt_global_index();
    if (i < n)
        y[i] = fma(alpha, x[i], y[i]);
}

extern "C" __global__ void ddot(int n, const double *x, const double *y, double *result)
{
    __shared__ double s[256];
    double v = 0.0;
    for (int i = kt_global_index(); i < n; i += blockDim.x * gridDim.x)
        v += x[i] * y[i];
    double sum = kt_block_sum(s, v);
    if (threadIdx.x == 0)
        atomicAdd(result, sum);
}
