// Device code for softgpu's library tests, compiled by nvcc into a fat binary whose only
// runnable code is PTX (zstd-compressed by default), exactly what cudart hands the driver.
__device__ int g_offset = 3;
extern "C" __global__ void scale_add(int *data, int n, int factor)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        data[i] = data[i] * factor + g_offset;
}
