// graph_explicit: a CUDA graph built by hand (memset, kernel, device-to-device memcpy, empty and
// event-record nodes, edges added at creation and afterwards), instantiated and launched several
// times; then a kernel node's arguments are changed in the executable graph, and in the graph
// followed by cudaGraphExecUpdate. The nodes of the graph and of a clone are listed back by type.
// A dependency on another graph's node must be refused.
#include "check.h"

__global__ void axpy(int *y, const int *x, int a, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] += a * x[i];
}

__global__ void add_one(int *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] += 1;
}

static void expect_all(const int *d, int n, int want, const char *when)
{
    static int h[4096];
    CHECK(cudaMemcpy(h, d, n * sizeof(int), cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; i++)
        if (h[i] != want)
            FAIL("%s: z[%d] = %d, expected %d", when, i, h[i], want);
}

static cudaKernelNodeParams axpy_params(void **args, int n)
{
    cudaKernelNodeParams k = {};
    k.func = (void *)axpy;
    k.gridDim = dim3(n / 256);
    k.blockDim = dim3(256);
    k.kernelParams = args;
    return k;
}

int main()
{
    const int n = 4096, launches = 3;
    int *x, *y, *z;
    CHECK(cudaMalloc(&x, n * sizeof(int)));
    CHECK(cudaMalloc(&y, n * sizeof(int)));
    CHECK(cudaMalloc(&z, n * sizeof(int)));
    cudaStream_t s;
    cudaEvent_t done;
    CHECK(cudaStreamCreate(&s));
    CHECK(cudaEventCreate(&done));

    cudaGraph_t g;
    CHECK(cudaGraphCreate(&g, 0));
    cudaMemsetParams ms = {};
    ms.dst = x, ms.value = 3, ms.elementSize = 4, ms.width = n, ms.height = 1;
    cudaGraphNode_t set_x, set_y, k1, k2, copy, join, record;
    CHECK(cudaGraphAddMemsetNode(&set_x, g, NULL, 0, &ms));
    ms.dst = y, ms.value = 0;
    CHECK(cudaGraphAddMemsetNode(&set_y, g, NULL, 0, &ms));

    int a = 2, count = n;
    void *args1[] = {&y, &x, &a, &count};
    cudaKernelNodeParams kp = axpy_params(args1, n);
    cudaGraphNode_t both[] = {set_x, set_y};
    CHECK(cudaGraphAddKernelNode(&k1, g, both, 2, &kp));
    void *args2[] = {&y, &count};
    cudaKernelNodeParams kp2 = {};
    kp2.func = (void *)add_one, kp2.gridDim = dim3(n / 256), kp2.blockDim = dim3(256);
    kp2.kernelParams = args2;
    CHECK(cudaGraphAddKernelNode(&k2, g, &k1, 1, &kp2));

    cudaMemcpy3DParms cp = {};
    cp.srcPtr = make_cudaPitchedPtr(y, n * sizeof(int), n, 1);
    cp.dstPtr = make_cudaPitchedPtr(z, n * sizeof(int), n, 1);
    cp.extent = make_cudaExtent(n * sizeof(int), 1, 1);
    cp.kind = cudaMemcpyDeviceToDevice;
    CHECK(cudaGraphAddMemcpyNode(&copy, g, NULL, 0, &cp));      // its edge comes next
    CHECK(cudaGraphAddDependencies(g, &k2, &copy, NULL, 1));
    CHECK(cudaGraphAddEmptyNode(&join, g, &copy, 1));
    CHECK(cudaGraphAddEventRecordNode(&record, g, &join, 1, done));

    size_t nodes = 0;
    CHECK(cudaGraphGetNodes(g, NULL, &nodes));
    if (nodes != 7)
        FAIL("graph has %zu nodes, expected 7", nodes);
    cudaGraphNodeType type;
    CHECK(cudaGraphNodeGetType(k1, &type));
    if (type != cudaGraphNodeTypeKernel)
        FAIL("k1 has node type %d", (int)type);

    // A node of another graph is no dependency of this one.
    cudaGraph_t other;
    cudaGraphNode_t stranger, refused;
    CHECK(cudaGraphCreate(&other, 0));
    CHECK(cudaGraphAddEmptyNode(&stranger, other, NULL, 0));
    if (cudaGraphAddEmptyNode(&refused, g, &stranger, 1) != cudaErrorInvalidValue)
        FAIL("a dependency on another graph's node was accepted");
    (void)cudaGetLastError();
    CHECK(cudaGraphDestroy(other));

    // The nodes listed back (the rest of the array NULL), and a clone's nodes, by type.
    cudaGraph_t clone;
    CHECK(cudaGraphClone(&clone, g));
    cudaGraph_t listed_graphs[] = {g, clone};
    for (int c = 0; c < 2; c++) {
        cudaGraphNode_t list[9];
        size_t listed = 9;
        CHECK(cudaGraphGetNodes(listed_graphs[c], list, &listed));
        if (listed != 7 || list[7] != NULL || list[8] != NULL)
            FAIL("graph %d: listed %zu nodes, expected 7 and the rest NULL", c, listed);
        int kernels = 0, memsets = 0;
        for (size_t i = 0; i < listed; i++) {
            CHECK(cudaGraphNodeGetType(list[i], &type));
            kernels += type == cudaGraphNodeTypeKernel;
            memsets += type == cudaGraphNodeTypeMemset;
        }
        if (kernels != 2 || memsets != 2)
            FAIL("graph %d: %d kernel and %d memset nodes listed", c, kernels, memsets);
    }
    CHECK(cudaGraphDestroy(clone));

    cudaGraphExec_t ge;
    CHECK(cudaGraphInstantiate(&ge, g, 0));
    CHECK(cudaGraphUpload(ge, s));
    for (int l = 1; l <= launches; l++) {
        CHECK(cudaMemset(z, 0, n * sizeof(int)));
        CHECK(cudaGraphLaunch(ge, s));
        CHECK(cudaStreamSynchronize(s));
        CHECK(cudaEventQuery(done));
        expect_all(z, n, 2 * 3 + 1, "launch");
    }

    // The executable graph's kernel node with a new factor: the graph itself keeps a = 2.
    int a5 = 5;
    void *args5[] = {&y, &x, &a5, &count};
    kp = axpy_params(args5, n);
    CHECK(cudaGraphExecKernelNodeSetParams(ge, k1, &kp));
    CHECK(cudaGraphLaunch(ge, s));
    CHECK(cudaStreamSynchronize(s));
    expect_all(z, n, 5 * 3 + 1, "after cudaGraphExecKernelNodeSetParams");

    // The graph's node changed, then carried into the executable graph by an update.
    int a7 = 7;
    void *args7[] = {&y, &x, &a7, &count};
    kp = axpy_params(args7, n);
    CHECK(cudaGraphKernelNodeSetParams(k1, &kp));
    cudaGraphExecUpdateResultInfo info;
    CHECK(cudaGraphExecUpdate(ge, g, &info));
    if (info.result != cudaGraphExecUpdateSuccess)
        FAIL("cudaGraphExecUpdate result %d", (int)info.result);
    CHECK(cudaGraphLaunch(ge, s));
    CHECK(cudaStreamSynchronize(s));
    expect_all(z, n, 7 * 3 + 1, "after cudaGraphExecUpdate");

    CHECK(cudaGraphExecDestroy(ge));
    CHECK(cudaGraphDestroy(g));
    CHECK(cudaEventDestroy(done));
    CHECK(cudaStreamDestroy(s));
    CHECK(cudaFree(x));
    CHECK(cudaFree(y));
    CHECK(cudaFree(z));
    printf("graph_explicit: OK %zu nodes, %d launches, node params set in exec and by update\n",
           nodes, launches);
    return 0;
}
