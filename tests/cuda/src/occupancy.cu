// occupancy: cudaFuncGetAttributes, cudaOccupancyMaxActiveBlocksPerMultiprocessor and
// cudaOccupancyMaxPotentialBlockSize answer sanely, and the kernel they describe runs.
#include "check.h"

__global__ void block_sum(const float *in, float *out)
{
    __shared__ float s[256];
    s[threadIdx.x] = in[blockIdx.x * 256 + threadIdx.x];
    __syncthreads();
    for (int stride = 128; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride)
            s[threadIdx.x] += s[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        out[blockIdx.x] = s[0];
}

int main()
{
    cudaDeviceProp prop;
    cudaFuncAttributes fa;
    int blocks = 0, min_grid = 0, best_block = 0;

    CHECK(cudaGetDeviceProperties(&prop, 0));
    CHECK(cudaFuncGetAttributes(&fa, block_sum));
    if (fa.maxThreadsPerBlock < 256 || fa.maxThreadsPerBlock > prop.maxThreadsPerBlock)
        FAIL("maxThreadsPerBlock %d", fa.maxThreadsPerBlock);
    if (fa.sharedSizeBytes != 256 * sizeof(float))
        FAIL("sharedSizeBytes %zu, expected %zu", fa.sharedSizeBytes, 256 * sizeof(float));
    if (fa.numRegs < 0 || fa.ptxVersion <= 0)
        FAIL("numRegs %d ptxVersion %d", fa.numRegs, fa.ptxVersion);

    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, block_sum, 256, 0));
    if (blocks < 1 || blocks * 256 > prop.maxThreadsPerMultiProcessor)
        FAIL("%d active blocks of 256 threads (SM holds %d threads)", blocks,
             prop.maxThreadsPerMultiProcessor);
    CHECK(cudaOccupancyMaxPotentialBlockSize(&min_grid, &best_block, block_sum, 0, 0));
    if (best_block <= 0 || best_block > fa.maxThreadsPerBlock || best_block % 32 || min_grid <= 0)
        FAIL("potential block size %d, min grid %d", best_block, min_grid);

    const int nblocks = 40;
    float h_in[nblocks * 256], h_out[nblocks];
    for (int i = 0; i < nblocks * 256; i++)
        h_in[i] = (float)(i % 17);
    float *d_in, *d_out;
    CHECK(cudaMalloc(&d_in, sizeof(h_in)));
    CHECK(cudaMalloc(&d_out, sizeof(h_out)));
    CHECK(cudaMemcpy(d_in, h_in, sizeof(h_in), cudaMemcpyHostToDevice));
    block_sum<<<nblocks, 256>>>(d_in, d_out);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy(h_out, d_out, sizeof(h_out), cudaMemcpyDeviceToHost));
    for (int b = 0; b < nblocks; b++) {
        float want = 0;
        for (int t = 0; t < 256; t++)
            want += h_in[b * 256 + t];
        if (h_out[b] != want)
            FAIL("block %d sum %f, expected %f", b, h_out[b], want);
    }
    CHECK(cudaFree(d_in));
    CHECK(cudaFree(d_out));
    printf("occupancy: OK attributes, occupancy and %d block sums\n", nblocks);
    return 0;
}
