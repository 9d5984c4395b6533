// graph_nodes: explicit graphs through the node calls libraries use after construction: a
// graph of two kernels joined by an event record node, instantiated with parameters (upload on
// a stream), flags read back, a kernel node disabled and enabled again in the executable graph,
// the event node's event swapped, a kernel node attribute set and read, and the executable
// graph updated from an edited copy (CUDA 11's and 12's cudaGraphExecUpdate). Every launch's
// result is checked. Then a capture is queried while it runs (cudaStreamGetCaptureInfo: its
// graph and current dependency, a node the program can name), and a graph's structure is read
// back (root nodes, edges, dependencies, dependents), edited (an edge removed and added again)
// and nested (a child graph node, its embedded graph, a node found in a clone); then the generic
// node API, memory nodes and a conditional WHILE node.
#include "check.h"

enum { N = 4096 };

__global__ void axpb(int *p, int a, int b)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N)
        p[i] = p[i] * a + b;
}

static cudaGraphNode_t kernel_node(cudaGraph_t g, const cudaGraphNode_t *dep, int ndep, int **d,
                                   int *a, int *b)
{
    void *args[] = {d, a, b};
    cudaKernelNodeParams kp = {};
    kp.func = (void *)axpb;
    kp.gridDim = dim3(N / 256);
    kp.blockDim = dim3(256);
    kp.kernelParams = args;
    cudaGraphNode_t n;
    CHECK(cudaGraphAddKernelNode(&n, g, dep, ndep, &kp));
    return n;
}

static void run(cudaGraphExec_t x, cudaStream_t s, int *d, int start, int want, const char *what)
{
    static int h[N];
    for (int i = 0; i < N; i++)
        h[i] = start + i;
    CHECK(cudaMemcpy(d, h, sizeof h, cudaMemcpyHostToDevice));
    CHECK(cudaGraphLaunch(x, s));
    CHECK(cudaStreamSynchronize(s));
    CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
    for (int i = 0; i < N; i++) {
        int v = start + i;
        int expect = want == 0 ? (v * 2 + 1) * 3 - 4 : want == 1 ? v * 3 - 4 : (v * 2 + 1) * 5;
        if (h[i] != expect)
            FAIL("%s: element %d is %d, expected %d", what, i, h[i], expect);
    }
}

static void check_capture_info(cudaStream_t s, int *d)
{
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    axpb<<<N / 256, 256, 0, s>>>(d, 1, 1);
    CHECK_LAUNCH();
    cudaStreamCaptureStatus st;
    unsigned long long id = 0;
    cudaGraph_t captured = NULL;
    const cudaGraphNode_t *deps = NULL;
    const cudaGraphEdgeData *edges = NULL;
    size_t n = 0;
    CHECK(cudaStreamGetCaptureInfo(s, &st, &id, &captured, &deps, &edges, &n));
    if (st != cudaStreamCaptureStatusActive || !captured || n != 1 || !deps)
        FAIL("capture info: status %d, graph %p, %zu dependencies", (int)st, (void *)captured, n);
    cudaGraphNodeType type;
    CHECK(cudaGraphNodeGetType(deps[0], &type));
    if (type != cudaGraphNodeTypeKernel)
        FAIL("the capture's dependency is a node of type %d", (int)type);
    cudaGraph_t g;
    CHECK(cudaStreamEndCapture(s, &g));
    if (g != captured)
        FAIL("the captured graph is not the one the query named");
    CHECK(cudaStreamGetCaptureInfo(s, &st, &id, NULL, NULL, NULL, NULL));
    if (st != cudaStreamCaptureStatusNone)
        FAIL("status %d after the capture ended", (int)st);
    CHECK(cudaGraphDestroy(g));
}

// The generic node API (CUDA 12.2): a memset node and a kernel node added through
// cudaGraphAddNode, the kernel's parameters changed through cudaGraphNodeSetParams.
static void check_generic(cudaStream_t s, int *d)
{
    cudaGraph_t g;
    CHECK(cudaGraphCreate(&g, 0));
    cudaGraphNodeParams mp = {};
    mp.type = cudaGraphNodeTypeMemset;
    mp.memset.dst = d, mp.memset.value = 4, mp.memset.elementSize = 4;
    mp.memset.width = N, mp.memset.height = 1, mp.memset.pitch = N * sizeof(int);
    cudaGraphNode_t ms, kn;
    CHECK(cudaGraphAddNode(&ms, g, NULL, NULL, 0, &mp));
    int a = 3, b = 1;
    void *args[] = {&d, &a, &b};
    cudaGraphNodeParams kp = {};
    kp.type = cudaGraphNodeTypeKernel;
    kp.kernel.func = (void *)axpb, kp.kernel.gridDim = dim3(N / 256);
    kp.kernel.blockDim = dim3(256), kp.kernel.kernelParams = args;
    CHECK(cudaGraphAddNode(&kn, g, &ms, NULL, 1, &kp));
    int a2 = 5;
    void *args2[] = {&d, &a2, &b};
    kp.kernel.kernelParams = args2;
    CHECK(cudaGraphNodeSetParams(kn, &kp));
    cudaGraphExec_t x;
    CHECK(cudaGraphInstantiate(&x, g, 0));
    CHECK(cudaGraphLaunch(x, s));
    CHECK(cudaStreamSynchronize(s));
    static int h[N];
    CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
    if (h[0] != 21 || h[N - 1] != 21)
        FAIL("generic nodes: %d %d, expected 21", h[0], h[N - 1]);
    CHECK(cudaGraphExecDestroy(x));
    CHECK(cudaGraphDestroy(g));
}

__global__ void count_up(cudaGraphConditionalHandle h, int *counter, int limit)
{
    int c = ++*counter;
    cudaGraphSetConditional(h, c < limit ? 1 : 0);
}

// A conditional WHILE node whose body kernel counts and sets the condition: 7 trips.
static void check_conditional(cudaStream_t s, int *d)
{
    cudaGraph_t g;
    CHECK(cudaGraphCreate(&g, 0));
    cudaGraphConditionalHandle handle;
    CHECK(cudaGraphConditionalHandleCreate(&handle, g, 1, cudaGraphCondAssignDefault));
    cudaGraphNodeParams cp = {};
    cp.type = cudaGraphNodeTypeConditional;
    cp.conditional.handle = handle;
    cp.conditional.type = cudaGraphCondTypeWhile;
    cp.conditional.size = 1;
    cudaGraphNode_t cond;
    CHECK(cudaGraphAddNode(&cond, g, NULL, NULL, 0, &cp));
    cudaGraph_t body = cp.conditional.phGraph_out[0];
    int limit = 7;
    void *args[] = {&handle, &d, &limit};
    cudaKernelNodeParams kp = {};
    kp.func = (void *)count_up, kp.gridDim = dim3(1), kp.blockDim = dim3(1);
    kp.kernelParams = args;
    cudaGraphNode_t k;
    CHECK(cudaGraphAddKernelNode(&k, body, NULL, 0, &kp));
    cudaGraphExec_t x;
    CHECK(cudaGraphInstantiate(&x, g, 0));
    CHECK(cudaMemset(d, 0, sizeof(int)));
    CHECK(cudaGraphLaunch(x, s));
    CHECK(cudaStreamSynchronize(s));
    int count = 0;
    CHECK(cudaMemcpy(&count, d, sizeof count, cudaMemcpyDeviceToHost));
    if (count != limit)
        FAIL("the WHILE body ran %d times, expected %d", count, limit);
    CHECK(cudaGraphExecDestroy(x));
    CHECK(cudaGraphDestroy(g));
}

// Memory nodes: an allocation the graph makes, fills and copies out, then frees.
static void check_memory_nodes(cudaStream_t s, int *d)
{
    cudaGraph_t g;
    CHECK(cudaGraphCreate(&g, 0));
    cudaMemAllocNodeParams ap = {};
    ap.poolProps.allocType = cudaMemAllocationTypePinned;
    ap.poolProps.location.type = cudaMemLocationTypeDevice;
    ap.poolProps.location.id = 0;
    ap.bytesize = N * sizeof(int);
    cudaGraphNode_t alloc, fill, copy, release;
    CHECK(cudaGraphAddMemAllocNode(&alloc, g, NULL, 0, &ap));
    cudaMemsetParams mp = {};
    mp.dst = ap.dptr, mp.value = 9, mp.elementSize = 4, mp.width = N, mp.height = 1;
    CHECK(cudaGraphAddMemsetNode(&fill, g, &alloc, 1, &mp));
    CHECK(cudaGraphAddMemcpyNode1D(&copy, g, &fill, 1, d, ap.dptr, N * sizeof(int),
                                   cudaMemcpyDeviceToDevice));
    CHECK(cudaGraphAddMemFreeNode(&release, g, &copy, 1, ap.dptr));
    void *freed = NULL;
    CHECK(cudaGraphMemFreeNodeGetParams(release, &freed));
    if (freed != ap.dptr)
        FAIL("the free node frees %p, not %p", freed, ap.dptr);
    cudaGraphExec_t x;
    CHECK(cudaGraphInstantiate(&x, g, 0));
    for (int launch = 0; launch < 2; launch++) {
        CHECK(cudaMemset(d, 0, N * sizeof(int)));
        CHECK(cudaGraphLaunch(x, s));
        CHECK(cudaStreamSynchronize(s));
        static int h[N];
        CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
        if (h[0] != 9 || h[N - 1] != 9)
            FAIL("memory nodes, launch %d: %d %d", launch, h[0], h[N - 1]);
    }
    CHECK(cudaGraphExecDestroy(x));
    CHECK(cudaGraphDestroy(g));
    CHECK(cudaDeviceGraphMemTrim(0));
}

static void check_structure(cudaGraph_t g, cudaGraphNode_t k1, cudaGraphNode_t ev,
                            cudaGraphNode_t k2, cudaStream_t s, int *d)
{
    cudaGraphNode_t nodes[4] = {};
    size_t n = 0;
    CHECK(cudaGraphGetRootNodes(g, NULL, &n));
    if (n != 1)
        FAIL("%zu root nodes, expected 1", n);
    n = 4;
    CHECK(cudaGraphGetRootNodes(g, nodes, &n));
    if (n != 1 || nodes[0] != k1 || nodes[1] != NULL)
        FAIL("root nodes: %zu, first %s", n, nodes[0] == k1 ? "k1" : "another");
    cudaGraphNode_t from[4], to[4];
    n = 4;
    CHECK(cudaGraphGetEdges(g, from, to, NULL, &n));
    if (n != 2)
        FAIL("%zu edges, expected 2", n);
    n = 4;
    CHECK(cudaGraphNodeGetDependencies(k2, nodes, NULL, &n));
    if (n != 1 || nodes[0] != ev)
        FAIL("dependencies of the second kernel: %zu", n);
    n = 4;
    CHECK(cudaGraphNodeGetDependentNodes(k1, nodes, NULL, &n));
    if (n != 1 || nodes[0] != ev)
        FAIL("dependents of the first kernel: %zu", n);
    CHECK(cudaGraphRemoveDependencies(g, &ev, &k2, NULL, 1));
    n = 0;
    CHECK(cudaGraphGetEdges(g, NULL, NULL, NULL, &n));
    if (n != 1)
        FAIL("%zu edges after removing one", n);
    CHECK(cudaGraphAddDependencies(g, &ev, &k2, NULL, 1));

    cudaGraph_t parent, embedded, clone;
    CHECK(cudaGraphCreate(&parent, 0));
    cudaGraphNode_t child;
    CHECK(cudaGraphAddChildGraphNode(&child, parent, NULL, 0, g));
    CHECK(cudaGraphChildGraphNodeGetGraph(child, &embedded));
    n = 0;
    CHECK(cudaGraphGetNodes(embedded, NULL, &n));
    if (n != 3)
        FAIL("the embedded graph has %zu nodes", n);
    CHECK(cudaGraphClone(&clone, parent));
    cudaGraphNode_t in_clone;
    CHECK(cudaGraphNodeFindInClone(&in_clone, child, clone));
    cudaGraphNodeType type;
    CHECK(cudaGraphNodeGetType(in_clone, &type));
    if (type != cudaGraphNodeTypeGraph)
        FAIL("the clone's counterpart is of type %d", (int)type);
    cudaGraphExec_t x;
    CHECK(cudaGraphInstantiate(&x, clone, 0));
    run(x, s, d, 5, 2, "a clone of a graph holding the graph");
    CHECK(cudaGraphExecDestroy(x));
    CHECK(cudaGraphDestroy(clone));
    CHECK(cudaGraphDestroy(parent));
}

int main()
{
    int *d;
    CHECK(cudaMalloc(&d, N * sizeof(int)));
    cudaStream_t s;
    CHECK(cudaStreamCreate(&s));
    cudaEvent_t e1, e2;
    CHECK(cudaEventCreate(&e1));
    CHECK(cudaEventCreate(&e2));
    cudaGraph_t g;
    CHECK(cudaGraphCreate(&g, 0));
    int a1 = 2, b1 = 1, a2 = 3, b2 = -4;
    cudaGraphNode_t k1 = kernel_node(g, NULL, 0, &d, &a1, &b1);
    cudaGraphNode_t ev;
    CHECK(cudaGraphAddEventRecordNode(&ev, g, &k1, 1, e1));
    cudaGraphNode_t k2 = kernel_node(g, &ev, 1, &d, &a2, &b2);

    cudaGraphInstantiateParams ip = {};
    ip.flags = cudaGraphInstantiateFlagUpload;
    ip.uploadStream = s;
    cudaGraphExec_t x;
    CHECK(cudaGraphInstantiateWithParams(&x, g, &ip));
    if (ip.result_out != cudaGraphInstantiateSuccess)
        FAIL("instantiation result %d", (int)ip.result_out);
    unsigned long long flags = 1;
    CHECK(cudaGraphExecGetFlags(x, &flags));
    run(x, s, d, 0, 0, "both kernels");

    CHECK(cudaGraphNodeSetEnabled(x, k1, 0));
    unsigned enabled = 1;
    CHECK(cudaGraphNodeGetEnabled(x, k1, &enabled));
    if (enabled)
        FAIL("the disabled node reads as enabled");
    run(x, s, d, 7, 1, "first kernel disabled");
    CHECK(cudaGraphNodeSetEnabled(x, k1, 1));

    cudaEvent_t got;
    CHECK(cudaGraphEventRecordNodeGetEvent(ev, &got));
    if (got != e1)
        FAIL("the event node's event changed by itself");
    CHECK(cudaGraphExecEventRecordNodeSetEvent(x, ev, e2));
    CHECK(cudaGraphEventRecordNodeSetEvent(ev, e2));
    run(x, s, d, 3, 0, "event swapped");
    if (cudaEventQuery(e2) != cudaSuccess)
        FAIL("the swapped-in event was not recorded");

    cudaKernelNodeAttrValue pri = {}, pri_got = {};
    pri.priority = 0;
    CHECK(cudaGraphKernelNodeSetAttribute(k2, cudaKernelNodeAttributePriority, &pri));
    CHECK(cudaGraphKernelNodeGetAttribute(k2, cudaKernelNodeAttributePriority, &pri_got));

    // an edited copy: the second kernel now multiplies by 5 and adds 0
    cudaGraph_t g2;
    CHECK(cudaGraphCreate(&g2, 0));
    int a3 = 5, b3 = 0;
    cudaGraphNode_t m1 = kernel_node(g2, NULL, 0, &d, &a1, &b1);
    cudaGraphNode_t mev;
    CHECK(cudaGraphAddEventRecordNode(&mev, g2, &m1, 1, e2));
    cudaGraphNode_t m2 = kernel_node(g2, &mev, 1, &d, &a3, &b3);
    cudaGraphExecUpdateResultInfo info;
    CHECK(cudaGraphExecUpdate(x, g2, &info));
    if (info.result != cudaGraphExecUpdateSuccess)
        FAIL("update result %d", (int)info.result);
    run(x, s, d, 11, 2, "updated graph");

    check_capture_info(s, d);
    check_structure(g2, m1, mev, m2, s, d);
    check_generic(s, d);
    check_memory_nodes(s, d);
    check_conditional(s, d);
    CHECK(cudaGraphExecDestroy(x));
    CHECK(cudaGraphDestroy(g2));
    CHECK(cudaGraphDestroy(g));
    CHECK(cudaEventDestroy(e1));
    CHECK(cudaEventDestroy(e2));
    CHECK(cudaStreamDestroy(s));
    CHECK(cudaFree(d));
    printf("graph_nodes: OK instantiate with upload, enable/disable, event nodes, attributes, "
           "update, capture info, structure, generic nodes, memory nodes, conditional\n");
    return 0;
}
