// reduce: a sum over 1M integers with shared memory, warp shuffles, a ballot and global
// atomics: the instructions a reduction kernel needs.
#include <vector>
#include "check.h"

__global__ void reduce_sum(const int *in, int n, unsigned long long *sum, unsigned *odd_count)
{
    __shared__ long long warp_sums[32];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    long long v = i < n ? in[i] : 0;

    unsigned odd = __ballot_sync(0xffffffffu, i < n && (in[i] & 1));
    if (lane == 0)
        atomicAdd(odd_count, (unsigned)__popc(odd));

    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0)
        warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < blockDim.x / 32 ? warp_sums[lane] : 0;
        for (int off = 16; off > 0; off >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, off);
        if (lane == 0)
            atomicAdd(sum, (unsigned long long)v);
    }
}

int main()
{
    const int n = 1 << 20;
    std::vector<int> h(n);
    unsigned long long want = 0;
    unsigned want_odd = 0;
    for (int i = 0; i < n; i++) {
        h[i] = (int)((long long)i * 7919 % 10007);
        want += h[i];
        want_odd += h[i] & 1;
    }
    int *d;
    unsigned long long *d_sum, sum = 0;
    unsigned *d_odd, odd = 0;
    CHECK(cudaMalloc(&d, n * sizeof(int)));
    CHECK(cudaMalloc(&d_sum, sizeof(*d_sum)));
    CHECK(cudaMalloc(&d_odd, sizeof(*d_odd)));
    CHECK(cudaMemset(d_sum, 0, sizeof(*d_sum)));
    CHECK(cudaMemset(d_odd, 0, sizeof(*d_odd)));
    CHECK(cudaMemcpy(d, h.data(), n * sizeof(int), cudaMemcpyHostToDevice));
    reduce_sum<<<n / 256, 256>>>(d, n, d_sum, d_odd);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy(&sum, d_sum, sizeof(sum), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(&odd, d_odd, sizeof(odd), cudaMemcpyDeviceToHost));
    if (sum != want || odd != want_odd)
        FAIL("sum %llu odd %u, expected %llu and %u", sum, odd, want, want_odd);
    CHECK(cudaFree(d));
    CHECK(cudaFree(d_sum));
    CHECK(cudaFree(d_odd));
    printf("reduce: OK sum of %d integers = %llu, %u odd\n", n, sum, odd);
    return 0;
}
