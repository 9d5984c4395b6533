// graph_params: graph node parameters read back and changed, on device memory only (so it runs
// over TCP too): a kernel node's function, geometry and argument values (both ABIs), memset and
// memcpy nodes changed in the graph (a new instantiation computes the new values) and in an
// executable graph (its next launch does, the graph keeps its own), a child graph swapped in an
// executable graph, an allocation node read back, batch memory operation nodes (waits and
// writes read back, changed in the graph and in the executable graph), the DOT description
// naming the nodes, capture into a given graph after one of its nodes, and capture dependencies
// replaced and extended.
#include <cstring>
#include <unistd.h>
#include <cuda.h>
#include <cudaTypedefs.h>
#include "cu_check.h"

enum { N = 256 };

__global__ void fill(int *p, int v, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = v + i;
}

static int host[N];

static void expect(CUdeviceptr d, int upto, int base, int rest, const char *what)
{
    CU(cuMemcpyDtoH(host, d, sizeof host));
    for (int i = 0; i < N; i++) {
        int want = i < upto ? base + i : rest;
        if (host[i] != want)
            FAIL("%s: [%d] is %d, expected %d", what, i, host[i], want);
    }
}

static void launch(CUgraphExec x, CUstream s)
{
    CU(cuGraphLaunch(x, s));
    CU(cuStreamSynchronize(s));
}

static CUDA_MEMCPY3D copy_1d(CUdeviceptr dst, CUdeviceptr src, size_t bytes)
{
    CUDA_MEMCPY3D c;
    memset(&c, 0, sizeof c);
    c.srcMemoryType = c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    c.srcDevice = src, c.dstDevice = dst;
    c.WidthInBytes = bytes, c.Height = 1, c.Depth = 1;
    return c;
}

// A root node of g running fill(d, v); the node holds its own copy of the values.
static CUgraphNode fill_node(CUgraph g, CUfunction f, CUdeviceptr d, int v)
{
    int n = N;
    void *args[] = {&d, &v, &n};
    CUDA_KERNEL_NODE_PARAMS kp;
    memset(&kp, 0, sizeof kp);
    kp.func = f, kp.gridDimX = kp.gridDimY = kp.gridDimZ = 1;
    kp.blockDimX = N, kp.blockDimY = kp.blockDimZ = 1, kp.kernelParams = args;
    CUgraphNode k;
    CU(cuGraphAddKernelNode(&k, g, NULL, 0, &kp));
    return k;
}

// fill(a, 7) and memset(b, 1), then a copy of a's first half into b.
static void kernel_memset_memcpy(CUfunction f, CUdeviceptr a, CUdeviceptr b, CUstream s)
{
    CUgraph g;
    CU(cuGraphCreate(&g, 0));
    CUgraphNode k = fill_node(g, f, a, 7), m, c, deps[2];
    CUDA_KERNEL_NODE_PARAMS got;
    CU(cuGraphKernelNodeGetParams(k, &got));
    if (got.func != f || got.blockDimX != N || got.gridDimX != 1 || !got.kernelParams ||
        *(CUdeviceptr *)got.kernelParams[0] != a || *(int *)got.kernelParams[1] != 7 ||
        *(int *)got.kernelParams[2] != N)
        FAIL("kernel node read back wrong");
    PFN_cuGraphKernelNodeGetParams_v10000 get_v1;   // CUDA 10's ABI
    CUdriverProcAddressQueryResult found;
    CU(cuGetProcAddress("cuGraphKernelNodeGetParams", (void **)&get_v1, 10000, 0, &found));
    CUDA_KERNEL_NODE_PARAMS_v1 old;
    CU(get_v1(k, &old));
    if (old.blockDimX != N || *(int *)old.kernelParams[1] != 7)
        FAIL("kernel node read back wrong through the CUDA 10 ABI");
    CUDA_MEMSET_NODE_PARAMS mp = {b, 0, 1, 4, N, 1};
    CUcontext ctx;
    CU(cuCtxGetCurrent(&ctx));
    CU(cuGraphAddMemsetNode(&m, g, NULL, 0, &mp, ctx));
    CUDA_MEMCPY3D cp = copy_1d(b, a, N / 2 * sizeof(int));
    deps[0] = k, deps[1] = m;
    CU(cuGraphAddMemcpyNode(&c, g, deps, 2, &cp, ctx));
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    launch(x, s);
    expect(b, N / 2, 7, 1, "first launch");

    // the graph's nodes changed: a new instantiation computes the new values
    mp.value = 2;
    CU(cuGraphMemsetNodeSetParams(m, &mp));
    cp = copy_1d(b, a, N / 4 * sizeof(int));
    CU(cuGraphMemcpyNodeSetParams(c, &cp));
    CUDA_MEMSET_NODE_PARAMS mg;
    CUDA_MEMCPY3D cg;
    CU(cuGraphMemsetNodeGetParams(m, &mg));
    CU(cuGraphMemcpyNodeGetParams(c, &cg));
    if (mg.value != 2 || cg.WidthInBytes != N / 4 * sizeof(int) || cg.srcDevice != a ||
        cg.dstDevice != b || cg.srcMemoryType != CU_MEMORYTYPE_DEVICE)
        FAIL("memset or memcpy node read back wrong");
    CUgraphExec x2;
    CU(cuGraphInstantiate(&x2, g, 0));
    launch(x2, s);
    expect(b, N / 4, 7, 2, "graph changed");
    launch(x, s);   // the first instantiation keeps what it was made with
    expect(b, N / 2, 7, 1, "first instantiation unchanged");

    // the executable graph changed: its next launch computes the new values, the graph keeps its
    mp.value = 3;
    CU(cuGraphExecMemsetNodeSetParams(x, m, &mp, ctx));
    cp = copy_1d(b, a, N / 8 * sizeof(int));
    CU(cuGraphExecMemcpyNodeSetParams(x, c, &cp, ctx));
    launch(x, s);
    expect(b, N / 8, 7, 3, "executable graph changed");
    CU(cuGraphMemsetNodeGetParams(m, &mg));
    if (mg.value != 2)
        FAIL("an executable graph's change reached its graph");
    CU(cuGraphExecDestroy(x2));
    CU(cuGraphExecDestroy(x));
    CU(cuGraphDestroyNode(k));   // what the stub kept for the node goes with it
    CU(cuGraphDestroy(g));
}

static CUgraph memset_graph(CUdeviceptr d, unsigned value, CUcontext ctx)
{
    CUgraph g;
    CUgraphNode n;
    CU(cuGraphCreate(&g, 0));
    CUDA_MEMSET_NODE_PARAMS mp = {d, 0, value, 4, N, 1};
    CU(cuGraphAddMemsetNode(&n, g, NULL, 0, &mp, ctx));
    return g;
}

static void child_and_alloc(CUdeviceptr d, CUstream s)
{
    CUcontext ctx;
    CU(cuCtxGetCurrent(&ctx));
    CUgraph c1 = memset_graph(d, 5, ctx), c2 = memset_graph(d, 6, ctx), g;
    CUgraphNode child;
    CU(cuGraphCreate(&g, 0));
    CU(cuGraphAddChildGraphNode(&child, g, NULL, 0, c1));
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    launch(x, s);
    expect(d, 0, 0, 5, "child graph");
    CU(cuGraphExecChildGraphNodeSetParams(x, child, c2));
    launch(x, s);
    expect(d, 0, 0, 6, "child graph swapped in the executable graph");
    CU(cuGraphExecDestroy(x));

    CUDA_MEM_ALLOC_NODE_PARAMS ap;
    memset(&ap, 0, sizeof ap);
    ap.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    ap.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    ap.poolProps.location.id = 0;
    ap.bytesize = 1 << 20;
    CUgraphNode an, fn;
    CU(cuGraphAddMemAllocNode(&an, g, &child, 1, &ap));
    CU(cuGraphAddMemFreeNode(&fn, g, &an, 1, ap.dptr));
    CUDA_MEM_ALLOC_NODE_PARAMS got;
    CU(cuGraphMemAllocNodeGetParams(an, &got));
    if (got.bytesize != ap.bytesize || got.dptr != ap.dptr ||
        got.poolProps.location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
        got.poolProps.location.id != 0)
        FAIL("allocation node read back wrong");
    CU(cuGraphDestroy(g));
    CU(cuGraphDestroy(c1));
    CU(cuGraphDestroy(c2));
}

static CUstreamBatchMemOpParams write_op(CUdeviceptr addr, cuuint32_t value)
{
    CUstreamBatchMemOpParams op;
    memset(&op, 0, sizeof op);
    op.writeValue.operation = CU_STREAM_MEM_OP_WRITE_VALUE_32;
    op.writeValue.address = addr;
    op.writeValue.value = value;
    return op;
}

static void batch_memops(CUdeviceptr w, CUstream s)
{
    CUcontext ctx;
    CU(cuCtxGetCurrent(&ctx));
    CU(cuMemsetD32(w, 0, 2));
    CUstreamBatchMemOpParams ops[3];
    memset(&ops[0], 0, sizeof ops[0]);
    ops[0].waitValue.operation = CU_STREAM_MEM_OP_WAIT_VALUE_32;   // already true
    ops[0].waitValue.address = w;
    ops[0].waitValue.flags = CU_STREAM_WAIT_VALUE_GEQ;
    ops[1] = write_op(w, 11), ops[2] = write_op(w + 4, 22);
    CUDA_BATCH_MEM_OP_NODE_PARAMS bp = {ctx, 3, ops, 0};
    CUgraph g;
    CUgraphNode n;
    CU(cuGraphCreate(&g, 0));
    CU(cuGraphAddBatchMemOpNode(&n, g, NULL, 0, &bp));
    ops[1].writeValue.value = 0;   // the node holds its own copy
    CUDA_BATCH_MEM_OP_NODE_PARAMS got;
    CU(cuGraphBatchMemOpNodeGetParams(n, &got));
    if (got.count != 3 || got.paramArray[0].operation != CU_STREAM_MEM_OP_WAIT_VALUE_32 ||
        got.paramArray[1].writeValue.value != 11 || got.paramArray[2].writeValue.address != w + 4)
        FAIL("batch memory operation node read back wrong");
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    launch(x, s);
    unsigned words[2];
    CU(cuMemcpyDtoH(words, w, sizeof words));
    if (words[0] != 11 || words[1] != 22)
        FAIL("batch memory operation node wrote %u %u", words[0], words[1]);
    ops[1] = write_op(w, 33), ops[2] = write_op(w + 4, 44);
    CU(cuGraphBatchMemOpNodeSetParams(n, &bp));
    ops[1] = write_op(w, 55), ops[2] = write_op(w + 4, 66);
    CU(cuGraphExecBatchMemOpNodeSetParams(x, n, &bp));
    launch(x, s);
    CU(cuMemcpyDtoH(words, w, sizeof words));
    if (words[0] != 55 || words[1] != 66)
        FAIL("executable graph's batch node wrote %u %u", words[0], words[1]);
    CU(cuGraphBatchMemOpNodeGetParams(n, &got));
    if (got.paramArray[1].writeValue.value != 33 || got.paramArray[2].writeValue.value != 44)
        FAIL("batch memory operation node changed wrong");
    CU(cuGraphExecDestroy(x));
    CU(cuGraphInstantiate(&x, g, 0));
    launch(x, s);
    CU(cuMemcpyDtoH(words, w, sizeof words));
    if (words[0] != 33 || words[1] != 44)
        FAIL("changed batch memory operation node wrote %u %u", words[0], words[1]);
    CU(cuGraphExecDestroy(x));
    CU(cuGraphDestroy(g));
}

static int contains(const char *path, const char *what)
{
    static char text[1 << 16];
    FILE *f = fopen(path, "r");
    if (!f)
        FAIL("no DOT file at %s", path);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    return strstr(text, what) != NULL;
}

static void dot(CUfunction f, CUdeviceptr d)
{
    CUgraph g;
    CUgraphNode m;
    CU(cuGraphCreate(&g, 0));
    CUgraphNode k = fill_node(g, f, d, 1);
    CUDA_MEMSET_NODE_PARAMS mp = {d, 0, 1, 4, N, 1};
    CUcontext ctx;
    CU(cuCtxGetCurrent(&ctx));
    CU(cuGraphAddMemsetNode(&m, g, &k, 1, &mp, ctx));
    char path[] = "/tmp/tfuse-graph-params-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        FAIL("mkstemp");
    close(fd);
    CU(cuGraphDebugDotPrint(g, path, CU_GRAPH_DEBUG_DOT_FLAGS_VERBOSE));
    if (!contains(path, "digraph") || !contains(path, "fill") || !contains(path, "->"))
        FAIL("the DOT file names neither the graph, the kernel nor the edge");
    unlink(path);
    CU(cuGraphDestroy(g));
}

static CUgraphNode only_dependency(CUstream s)
{
    CUstreamCaptureStatus st;
    const CUgraphNode *deps;
    size_t n = 0;
    CU(cuStreamGetCaptureInfo(s, &st, NULL, NULL, &deps, NULL, &n));
    if (st != CU_STREAM_CAPTURE_STATUS_ACTIVE || n != 1)
        FAIL("capture: %zu current dependencies, expected 1", n);
    return deps[0];
}

static void capture(CUdeviceptr a, CUdeviceptr b, CUstream s)
{
    CUcontext ctx;
    CU(cuCtxGetCurrent(&ctx));
    CUgraph g = memset_graph(a, 0, ctx), out;
    CUgraphNode first;
    size_t count = 1;
    CU(cuGraphGetNodes(g, &first, &count));
    CU(cuStreamBeginCaptureToGraph(s, g, &first, NULL, 1, CU_STREAM_CAPTURE_MODE_GLOBAL));
    fill<<<1, N, 0, s>>>((int *)a, 40, N);
    CHECK_LAUNCH();
    CU(cuStreamEndCapture(s, &out));
    CUgraphNode nodes[4], dep;
    count = 4;
    CU(cuGraphGetNodes(g, nodes, &count));
    CUgraphNode kernel = nodes[0] == first ? nodes[1] : nodes[0];
    size_t ndeps = 1;
    CU(cuGraphNodeGetDependencies(kernel, &dep, NULL, &ndeps));
    if (out != g || count != 2 || ndeps != 1 || dep != first)
        FAIL("capture into a graph: %zu nodes, the captured one after %zu", count, ndeps);
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    launch(x, s);
    expect(a, N, 40, 0, "captured into a graph");
    CU(cuGraphExecDestroy(x));
    CU(cuGraphDestroy(g));

    // A, B; dependencies set back to {A}: C after A only; then {C} extended by B: D after both
    CU(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    fill<<<1, N, 0, s>>>((int *)a, 100, N);
    CUgraphNode na = only_dependency(s);
    fill<<<1, N, 0, s>>>((int *)b, 200, N);
    CUgraphNode nb = only_dependency(s);
    PFN_cuStreamUpdateCaptureDependencies_v11030 update_v1;   // the CUDA 11.3 ABI
    CUdriverProcAddressQueryResult found;
    CU(cuGetProcAddress("cuStreamUpdateCaptureDependencies", (void **)&update_v1, 11030, 0,
                        &found));
    CU(update_v1(s, &na, 1, CU_STREAM_SET_CAPTURE_DEPENDENCIES));
    if (only_dependency(s) != na)
        FAIL("capture dependencies not replaced");
    fill<<<1, N, 0, s>>>((int *)a, 300, N);
    CUgraphNode nc = only_dependency(s);
    CU(cuStreamUpdateCaptureDependencies_v2(s, &nb, NULL, 1, CU_STREAM_ADD_CAPTURE_DEPENDENCIES));
    fill<<<1, N, 0, s>>>((int *)b, 400, N);
    CU(cuStreamEndCapture(s, &g));
    size_t deps_c = 2, deps_d = 0, roots = 0;
    CUgraphNode list[2], nd = NULL;
    CU(cuGraphNodeGetDependencies(nc, list, NULL, &deps_c));
    CU(cuGraphGetRootNodes(g, NULL, &roots));
    size_t all = 4;
    CU(cuGraphGetNodes(g, nodes, &all));
    for (size_t i = 0; i < all; i++)
        if (nodes[i] != na && nodes[i] != nb && nodes[i] != nc)
            nd = nodes[i];
    CU(cuGraphNodeGetDependencies(nd, NULL, NULL, &deps_d));
    if (deps_c != 1 || list[0] != na || roots != 1 || all != 4 || deps_d != 2)
        FAIL("capture dependencies: C after %zu, D after %zu, %zu roots", deps_c, deps_d, roots);
    CU(cuGraphInstantiate(&x, g, 0));
    launch(x, s);
    expect(a, N, 300, 0, "captured graph, a");
    expect(b, N, 400, 0, "captured graph, b");
    CU(cuGraphExecDestroy(x));
    CU(cuGraphDestroy(g));
}

int main()
{
    CHECK(cudaFree(0));
    CUfunction f;
    CHECK(cudaGetFuncBySymbol(&f, (const void *)fill));
    CUdeviceptr a, b, w;
    CU(cuMemAlloc(&a, N * sizeof(int)));
    CU(cuMemAlloc(&b, N * sizeof(int)));
    CU(cuMemAlloc(&w, 2 * sizeof(unsigned)));
    CUstream s;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    kernel_memset_memcpy(f, a, b, s);
    child_and_alloc(a, s);
    batch_memops(w, s);
    dot(f, a);
    capture(a, b, s);
    CU(cuStreamDestroy(s));
    CU(cuMemFree(a));
    CU(cuMemFree(b));
    CU(cuMemFree(w));
    printf("graph_params: OK kernel, memset, memcpy, child, allocation and batch nodes read back "
           "and changed; DOT; capture into a graph and its dependencies\n");
    return 0;
}
