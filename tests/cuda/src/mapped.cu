// mapped: zero-copy page-locked host memory (cudaHostAllocMapped) read and written by a
// kernel through the device pointer from cudaHostGetDevicePointer.
#include "check.h"

__global__ void square_into(const int *in, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = in[i] * in[i];
}

int main()
{
    const int n = 4096;
    int *h_in, *h_out, *d_in, *d_out;
    int can_map = 0;
    CHECK(cudaSetDeviceFlags(cudaDeviceMapHost));
    CHECK(cudaDeviceGetAttribute(&can_map, cudaDevAttrCanMapHostMemory, 0));
    if (!can_map)
        FAIL("device cannot map host memory");
    CHECK(cudaHostAlloc(&h_in, n * sizeof(int), cudaHostAllocMapped));
    CHECK(cudaHostAlloc(&h_out, n * sizeof(int), cudaHostAllocMapped));
    for (int i = 0; i < n; i++) {
        h_in[i] = i - 2000;
        h_out[i] = -1;
    }
    CHECK(cudaHostGetDevicePointer(&d_in, h_in, 0));
    CHECK(cudaHostGetDevicePointer(&d_out, h_out, 0));
    square_into<<<n / 256, 256>>>(d_in, d_out, n);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    for (int i = 0; i < n; i++)
        if (h_out[i] != (i - 2000) * (i - 2000))
            FAIL("out[%d] = %d", i, h_out[i]);
    CHECK(cudaFreeHost(h_in));
    CHECK(cudaFreeHost(h_out));
    printf("mapped: OK %d elements through zero-copy host memory\n", n);
    return 0;
}
