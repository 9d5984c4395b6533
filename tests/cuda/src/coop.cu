// coop: a cooperative launch (cudaLaunchCooperativeKernel) whose blocks meet at a grid-wide
// barrier, and the same kernel through cudaLaunchKernelEx with the cooperative attribute.
#include <cooperative_groups.h>
#include "check.h"

namespace cg = cooperative_groups;

/* Phase 1: every thread writes its slot. Grid barrier. Phase 2: every thread reads a slot
 * written by a thread of another block, which is only safe after a grid-wide sync. */
__global__ void rotate_across_blocks(int *buf, int *out, int n)
{
    cg::grid_group grid = cg::this_grid();
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        buf[i] = i * 7;
    grid.sync();
    if (i < n)
        out[i] = buf[(i + blockDim.x) % n];
}

static void check_out(const int *h, int n, int block, const char *how)
{
    for (int i = 0; i < n; i++)
        if (h[i] != ((i + block) % n) * 7)
            FAIL("%s: out[%d] = %d, expected %d", how, i, h[i], ((i + block) % n) * 7);
}

int main()
{
    int coop = 0, blocks_per_sm = 0, sms = 0;
    CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, 0));
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    if (!coop)
        FAIL("device reports no cooperative launch support");
    const int block = 128;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, rotate_across_blocks, block, 0));
    int grid = 4;  /* small, and must fit on the device at once */
    if (grid > blocks_per_sm * sms)
        grid = blocks_per_sm * sms;
    if (grid < 2)
        FAIL("only %d co-resident blocks", grid);
    int n = grid * block;
    int *buf, *out, h[4 * 128];
    CHECK(cudaMalloc(&buf, n * sizeof(int)));
    CHECK(cudaMalloc(&out, n * sizeof(int)));

    void *args[] = { &buf, &out, &n };
    CHECK(cudaLaunchCooperativeKernel((void *)rotate_across_blocks, grid, block, args, 0, 0));
    CHECK(cudaMemcpy(h, out, n * sizeof(int), cudaMemcpyDeviceToHost));
    check_out(h, n, block, "cudaLaunchCooperativeKernel");

    CHECK(cudaMemset(out, 0, n * sizeof(int)));
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeCooperative;
    attr[0].val.cooperative = 1;
    cfg.gridDim = dim3(grid);
    cfg.blockDim = dim3(block);
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    CHECK(cudaLaunchKernelEx(&cfg, rotate_across_blocks, buf, out, n));
    CHECK(cudaMemcpy(h, out, n * sizeof(int), cudaMemcpyDeviceToHost));
    check_out(h, n, block, "cudaLaunchKernelEx");

    CHECK(cudaFree(buf));
    CHECK(cudaFree(out));
    printf("coop: OK grid-wide barrier, 2 cooperative launches\n");
    return 0;
}
