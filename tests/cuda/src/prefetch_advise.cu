// prefetch_advise: managed memory with the usual hints (read-mostly, preferred location,
// accessed-by) and prefetches to the device and back to the host around a kernel; hints on
// memory that is not managed, or naming a device that does not exist, must be refused. Then a
// graph whose memcpy nodes move page-locked host memory to the device and back.
#include "check.h"

__global__ void triple(int *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] *= 3;
}

static cudaMemLocation device_loc(int id)
{
    cudaMemLocation l = {};
    l.type = cudaMemLocationTypeDevice;
    l.id = id;
    return l;
}

static cudaMemLocation host_loc()
{
    cudaMemLocation l = {};
    l.type = cudaMemLocationTypeHost;
    return l;
}

static void managed_hints(cudaStream_t s)
{
    const int n = 1 << 16;
    const size_t bytes = n * sizeof(int);
    int *m, *dev;
    CHECK(cudaMallocManaged(&m, bytes));
    CHECK(cudaMalloc(&dev, bytes));
    for (int i = 0; i < n; i++)
        m[i] = i;
    CHECK(cudaMemAdvise(m, bytes, cudaMemAdviseSetReadMostly, device_loc(0)));
    CHECK(cudaMemAdvise(m, bytes, cudaMemAdviseUnsetReadMostly, device_loc(0)));
    CHECK(cudaMemAdvise(m, bytes, cudaMemAdviseSetPreferredLocation, device_loc(0)));
    CHECK(cudaMemAdvise(m, bytes, cudaMemAdviseSetAccessedBy, device_loc(0)));
    CHECK(cudaMemPrefetchAsync(m, bytes, device_loc(0), 0, s));
    triple<<<n / 256, 256, 0, s>>>(m, n);
    CHECK_LAUNCH();
    CHECK(cudaMemPrefetchAsync(m + n / 2, bytes / 2, host_loc(), 0, s));
    CHECK(cudaStreamSynchronize(s));
    for (int i = 0; i < n; i++)
        if (m[i] != 3 * i)
            FAIL("m[%d] = %d, expected %d", i, m[i], 3 * i);

    if (cudaMemPrefetchAsync(dev, bytes, device_loc(0), 0, s) != cudaErrorInvalidValue)
        FAIL("prefetching device memory was not refused as invalid");
    (void)cudaGetLastError();
    if (cudaMemAdvise(dev, bytes, cudaMemAdviseSetReadMostly, device_loc(0)) !=
        cudaErrorInvalidValue)
        FAIL("advice on device memory was not refused as invalid");
    (void)cudaGetLastError();
    if (cudaMemPrefetchAsync(m, bytes, device_loc(99), 0, s) != cudaErrorInvalidDevice)
        FAIL("a prefetch to device 99 was not refused");
    (void)cudaGetLastError();
    if (cudaMemPrefetchAsync(m, bytes + 4096, device_loc(0), 0, s) != cudaErrorInvalidValue)
        FAIL("a prefetch past the end of the allocation was not refused");
    (void)cudaGetLastError();
    CHECK(cudaFree(m));
    CHECK(cudaFree(dev));
}

static void pinned_memcpy_nodes(cudaStream_t s)
{
    const int n = 4096;
    const size_t bytes = n * sizeof(int);
    int *h, *d;
    CHECK(cudaMallocHost(&h, bytes));
    CHECK(cudaMalloc(&d, bytes));
    cudaGraph_t g;
    cudaGraphNode_t up, run, down;
    CHECK(cudaGraphCreate(&g, 0));
    CHECK(cudaGraphAddMemcpyNode1D(&up, g, NULL, 0, d, h, bytes, cudaMemcpyHostToDevice));
    void *args[] = {&d, (void *)&n};
    cudaKernelNodeParams k = {};
    k.func = (void *)triple, k.gridDim = dim3(n / 256), k.blockDim = dim3(256);
    k.kernelParams = args;
    CHECK(cudaGraphAddKernelNode(&run, g, &up, 1, &k));
    CHECK(cudaGraphAddMemcpyNode1D(&down, g, &run, 1, h, d, bytes, cudaMemcpyDeviceToHost));
    cudaGraphExec_t ge;
    CHECK(cudaGraphInstantiate(&ge, g, 0));
    for (int i = 0; i < n; i++)
        h[i] = i;
    for (int l = 1; l <= 3; l++) {
        CHECK(cudaGraphLaunch(ge, s));
        CHECK(cudaStreamSynchronize(s));
    }
    for (int i = 0; i < n; i++)
        if (h[i] != 27 * i)
            FAIL("h[%d] = %d after three launches, expected %d", i, h[i], 27 * i);
    CHECK(cudaGraphExecDestroy(ge));
    CHECK(cudaGraphDestroy(g));
    CHECK(cudaFreeHost(h));
    CHECK(cudaFree(d));
}

int main()
{
    cudaStream_t s;
    CHECK(cudaStreamCreate(&s));
    managed_hints(s);
    pinned_memcpy_nodes(s);
    CHECK(cudaStreamDestroy(s));
    printf("prefetch_advise: OK hints and prefetches, page-locked memcpy nodes\n");
    return 0;
}
