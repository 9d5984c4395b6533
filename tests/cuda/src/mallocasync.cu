// mallocasync: stream-ordered allocation (cudaMallocAsync / cudaFreeAsync) from the default
// pool and from a pool of our own, used by kernels and copies on the same stream.
#include "check.h"

__global__ void fill(int *p, int n, int v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = v + i;
}

static void round_trip(cudaStream_t s, int *h, int n, int v, cudaMemPool_t pool)
{
    int *d = NULL;
    if (pool)
        CHECK(cudaMallocFromPoolAsync(&d, n * sizeof(int), pool, s));
    else
        CHECK(cudaMallocAsync(&d, n * sizeof(int), s));
    fill<<<(n + 255) / 256, 256, 0, s>>>(d, n, v);
    CHECK_LAUNCH();
    CHECK(cudaMemcpyAsync(h, d, n * sizeof(int), cudaMemcpyDeviceToHost, s));
    CHECK(cudaFreeAsync(d, s));
    CHECK(cudaStreamSynchronize(s));
    for (int i = 0; i < n; i++)
        if (h[i] != v + i)
            FAIL("value %d: p[%d] = %d", v, i, h[i]);
}

int main()
{
    const int n = 10000;
    int supported = 0, *h;
    cudaStream_t s;
    CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, 0));
    if (!supported)
        FAIL("device reports no memory pools");
    CHECK(cudaStreamCreate(&s));
    CHECK(cudaMallocHost(&h, n * sizeof(int)));
    for (int r = 0; r < 4; r++)
        round_trip(s, h, n, 1000 * r, NULL);

    cudaMemPoolProps props = {};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = 0;
    cudaMemPool_t pool;
    CHECK(cudaMemPoolCreate(&pool, &props));
    round_trip(s, h, n, 77, pool);
    CHECK(cudaMemPoolDestroy(pool));

    CHECK(cudaStreamDestroy(s));
    CHECK(cudaFreeHost(h));
    printf("mallocasync: OK 5 stream-ordered allocations, 2 pools\n");
    return 0;
}
