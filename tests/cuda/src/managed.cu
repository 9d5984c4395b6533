// managed: cudaMallocManaged memory used by the host and by kernels in turn.
#include "check.h"

__global__ void bump(int *p, int n, int by)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = p[i] * 2 + by;
}

int main()
{
    const int n = 10000;
    int *m;
    int attr = 0;
    CHECK(cudaDeviceGetAttribute(&attr, cudaDevAttrManagedMemory, 0));
    if (!attr)
        FAIL("device reports no managed memory support");
    CHECK(cudaMallocManaged(&m, n * sizeof(int)));
    for (int i = 0; i < n; i++)
        m[i] = i;
    bump<<<(n + 255) / 256, 256>>>(m, n, 1);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    for (int i = 0; i < n; i++) {
        if (m[i] != 2 * i + 1)
            FAIL("round 1: m[%d] = %d", i, m[i]);
        m[i] = -m[i];
    }
    bump<<<(n + 255) / 256, 256>>>(m, n, 5);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    for (int i = 0; i < n; i++)
        if (m[i] != -2 * (2 * i + 1) + 5)
            FAIL("round 2: m[%d] = %d", i, m[i]);

    cudaPointerAttributes pa;
    CHECK(cudaPointerGetAttributes(&pa, m));
    if (pa.type != cudaMemoryTypeManaged)
        FAIL("pointer type %d, expected managed", (int)pa.type);
    CHECK(cudaFree(m));
    printf("managed: OK %d elements, 2 host/device round trips\n", n);
    return 0;
}
