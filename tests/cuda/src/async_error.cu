// async_error: a kernel that writes far outside its allocation. The launch itself succeeds;
// the error surfaces at the next synchronize as cudaErrorIllegalAddress, stays sticky, and
// cudaDeviceReset clears it. Exits 0 only when exactly that happened.
#include "check.h"

__global__ void write_out_of_bounds(int *p, long long offset)
{
    p[offset + threadIdx.x] = 42;
}

int main()
{
    int *d;
    CHECK(cudaMalloc(&d, 4096));
    write_out_of_bounds<<<1, 32>>>(d, 1ll << 28); /* 1 GiB past a 4 KiB allocation */
    cudaError_t launch = cudaGetLastError();
    printf("async_error: launch %s\n", cudaGetErrorName(launch));
    cudaError_t sync = cudaDeviceSynchronize();
    printf("async_error: synchronize %s\n", cudaGetErrorName(sync));
    void *p = nullptr;
    cudaError_t after = cudaMalloc(&p, 16);
    printf("async_error: next call %s\n", cudaGetErrorName(after));
    if (launch != cudaSuccess || sync != cudaErrorIllegalAddress || after != cudaErrorIllegalAddress)
        FAIL("unexpected error sequence");

    CHECK(cudaDeviceReset());
    CHECK(cudaMalloc(&d, 4096));
    CHECK(cudaMemset(d, 0, 4096));
    CHECK(cudaDeviceSynchronize());
    CHECK(cudaFree(d));
    printf("async_error: OK reset clears the sticky error\n");
    return 0;
}
