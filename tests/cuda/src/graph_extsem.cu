// graph_extsem: external semaphore signal and wait nodes. A graph runs
// init -> signal(timeline, value) -> wait(binary) -> add: after a launch the timeline's counter
// reaches the value while the wait holds the graph (the stream stays NOT_READY and the data
// is init's alone) until the program writes the eventfd; then add has run. The nodes' parameters
// read back as set (in the graph and in a clone); a changed signal value reaches the executable
// graph through cuGraphExecUpdate and through cuGraphExecExternalSemaphoresSignalNodeSetParams
// (a different number of semaphores is refused both ways); the generic node API makes and
// changes such nodes; the DOT file names them; capturing cuSignalExternalSemaphoresAsync and
// cuWaitExternalSemaphoresAsync makes the same nodes. Semaphores are the program's file
// descriptors, so the node must be on the same host.
#include <cstring>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "cu_check.h"

enum { N = 1024 };

__global__ void init(int *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = 3 * i;
}

__global__ void add(int *p, int n, int v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] += v;
}

struct sems {
    int efd;                        // binary: an eventfd
    int tfd;                        // timeline: a memfd whose first 8 bytes are the counter
    volatile uint64_t *counter;
    CUexternalSemaphore bin, tl;
};

static int *d_data;
static int host[N];

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static CUexternalSemaphore import_sem(CUexternalSemaphoreHandleType type, int fd)
{
    CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC d;
    memset(&d, 0, sizeof d);
    d.type = type;
    d.handle.fd = dup(fd);   // import takes the descriptor
    CUexternalSemaphore s;
    CU(cuImportExternalSemaphore(&s, &d));
    return s;
}

static void post(const sems &s)
{
    uint64_t one = 1;
    if (write(s.efd, &one, sizeof one) != sizeof one)
        FAIL("eventfd write");
}

// The data as init and then `added` (0: add has not run).
static void expect_data(int added, const char *what)
{
    CHECK(cudaMemcpy(host, d_data, sizeof host, cudaMemcpyDeviceToHost));
    for (int i = 0; i < N; i++)
        if (host[i] != 3 * i + added)
            FAIL("%s: [%d] is %d, expected %d", what, i, host[i], 3 * i + added);
}

static void wait_counter(const sems &s, uint64_t value)
{
    for (int t = 0; t < 1000 && *s.counter != value; t++)
        sleep_ms(10);
    if (*s.counter != value)
        FAIL("the timeline's counter is %llu, expected %llu", (unsigned long long)*s.counter,
             (unsigned long long)value);
}

// One launch: the signal reaches the counter, the wait holds add until the eventfd is written.
static void launch_held(CUgraphExec x, CUstream st, const sems &s, uint64_t value, int v)
{
    CHECK(cudaMemset(d_data, 0xff, sizeof host));
    CHECK(cudaDeviceSynchronize());   // st does not wait for the legacy stream
    *s.counter = 0;
    CU(cuGraphLaunch(x, st));
    wait_counter(s, value);
    sleep_ms(100);
    EXPECT_CU(cuStreamQuery(st), CUDA_ERROR_NOT_READY);
    expect_data(0, "held by the wait node");
    post(s);
    CU(cuStreamSynchronize(st));
    expect_data(v, "after the wait");
}

static CUgraphNode kernel_node(CUgraph g, const CUgraphNode *dep, const void *fn, void **args)
{
    CUDA_KERNEL_NODE_PARAMS kp;
    memset(&kp, 0, sizeof kp);
    CHECK(cudaGetFuncBySymbol((cudaFunction_t *)&kp.func, fn));
    kp.gridDimX = N / 256, kp.gridDimY = kp.gridDimZ = 1;
    kp.blockDimX = 256, kp.blockDimY = kp.blockDimZ = 1, kp.kernelParams = args;
    CUgraphNode k;
    CU(cuGraphAddKernelNode(&k, g, dep, dep ? 1 : 0, &kp));
    return k;
}

static void expect_signal(CUgraphNode node, CUexternalSemaphore sem, uint64_t value)
{
    CUDA_EXT_SEM_SIGNAL_NODE_PARAMS p;
    CU(cuGraphExternalSemaphoresSignalNodeGetParams(node, &p));
    if (p.numExtSems != 1 || !p.extSemArray || !p.paramsArray || p.extSemArray[0] != sem ||
        p.paramsArray[0].params.fence.value != value)
        FAIL("signal node read back %u semaphores, value %llu (expected 1, %llu)", p.numExtSems,
             p.paramsArray ? p.paramsArray[0].params.fence.value : 0ull,
             (unsigned long long)value);
}

static void expect_wait(CUgraphNode node, CUexternalSemaphore sem)
{
    CUDA_EXT_SEM_WAIT_NODE_PARAMS p;
    CU(cuGraphExternalSemaphoresWaitNodeGetParams(node, &p));
    if (p.numExtSems != 1 || !p.extSemArray || p.extSemArray[0] != sem)
        FAIL("wait node read back %u semaphores", p.numExtSems);
}

static int dot_contains(CUgraph g, const char *what)
{
    char path[] = "/tmp/tfuse-graph-extsem-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        FAIL("mkstemp");
    close(fd);
    CU(cuGraphDebugDotPrint(g, path, CU_GRAPH_DEBUG_DOT_FLAGS_VERBOSE));
    static char text[1 << 16];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = 0;
    unlink(path);
    return strstr(text, what) != NULL;
}

// The executable graph's signal value changed by an update and by the exec setter; a node
// with two semaphores fits neither.
static void exec_changes(CUgraph g, CUgraphNode sig, CUgraphExec x, CUstream st, const sems &s)
{
    CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS sp[2];
    memset(sp, 0, sizeof sp);
    sp[0].params.fence.value = 13;
    CUexternalSemaphore two[2] = {s.tl, s.tl};
    CUDA_EXT_SEM_SIGNAL_NODE_PARAMS np = {two, sp, 1};
    CU(cuGraphExternalSemaphoresSignalNodeSetParams(sig, &np));
    expect_signal(sig, s.tl, 13);
    CUgraphExecUpdateResultInfo info;
    CU(cuGraphExecUpdate(x, g, &info));
    launch_held(x, st, s, 13, 7);
    sp[0].params.fence.value = 17;
    CU(cuGraphExecExternalSemaphoresSignalNodeSetParams(x, sig, &np));
    launch_held(x, st, s, 17, 7);
    expect_signal(sig, s.tl, 13);   // the graph keeps its own
    np.numExtSems = 2;
    EXPECT_CU(cuGraphExecExternalSemaphoresSignalNodeSetParams(x, sig, &np),
              CUDA_ERROR_INVALID_VALUE);
    CU(cuGraphExternalSemaphoresSignalNodeSetParams(sig, &np));
    memset(&info, 0xff, sizeof info);
    EXPECT_CU(cuGraphExecUpdate(x, g, &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    // A failed update still says which node and why, through a node too.
    if (info.result != CU_GRAPH_EXEC_UPDATE_ERROR_PARAMETERS_CHANGED || info.errorNode != sig)
        FAIL("update with two semaphores: result %d", (int)info.result);
}

// init -> signal(tl, 11) -> wait(bin) -> add(7), built node by node.
static void explicit_nodes(CUstream st, const sems &s)
{
    CUgraph g;
    CU(cuGraphCreate(&g, 0));
    int n = N, v = 7;
    void *init_args[] = {&d_data, &n}, *add_args[] = {&d_data, &n, &v};
    CUgraphNode k1 = kernel_node(g, NULL, (const void *)init, init_args), sig, wt;
    CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS sp;
    memset(&sp, 0, sizeof sp);
    sp.params.fence.value = 11;
    CUexternalSemaphore tl = s.tl, bin = s.bin;
    CUDA_EXT_SEM_SIGNAL_NODE_PARAMS snp = {&tl, &sp, 1};
    CU(cuGraphAddExternalSemaphoresSignalNode(&sig, g, &k1, 1, &snp));
    CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS wp;
    memset(&wp, 0, sizeof wp);
    CUDA_EXT_SEM_WAIT_NODE_PARAMS wnp = {&bin, &wp, 1};
    CU(cuGraphAddExternalSemaphoresWaitNode(&wt, g, &sig, 1, &wnp));
    kernel_node(g, &wt, (const void *)add, add_args);
    sp.params.fence.value = 99;   // the node keeps its own copy
    expect_signal(sig, s.tl, 11);
    expect_wait(wt, s.bin);
    CUDA_EXT_SEM_SIGNAL_NODE_PARAMS tmp;
    EXPECT_CU(cuGraphExternalSemaphoresSignalNodeGetParams(wt, &tmp), CUDA_ERROR_INVALID_VALUE);
    if (!dot_contains(g, "EXT_SEMAS_SIGNAL") || !dot_contains(g, "EXT_SEMAS_WAIT") ||
        !dot_contains(g, "value 11"))
        FAIL("the DOT file does not name the semaphore nodes");
    CUgraph clone;
    CUgraphNode csig;
    CU(cuGraphClone(&clone, g));
    CU(cuGraphNodeFindInClone(&csig, sig, clone));
    expect_signal(csig, s.tl, 11);
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    launch_held(x, st, s, 11, 7);
    exec_changes(g, sig, x, st, s);
    CU(cuGraphExecDestroy(x));
    CU(cuGraphInstantiate(&x, clone, 0));   // the clone runs as the original did
    launch_held(x, st, s, 11, 7);
    CU(cuGraphExecDestroy(x));
    CU(cuGraphDestroy(clone));
    CU(cuGraphDestroy(g));
}

// cuGraphAddNode and cuGraphNodeSetParams make and change a signal node; bad input refused.
static void generic_nodes(CUstream st, const sems &s)
{
    CUgraph g;
    CU(cuGraphCreate(&g, 0));
    CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS sp;
    memset(&sp, 0, sizeof sp);
    sp.params.fence.value = 21;
    CUexternalSemaphore tl = s.tl;
    CUgraphNodeParams p;
    memset(&p, 0, sizeof p);
    p.type = CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL;
    p.extSemSignal.extSemArray = &tl, p.extSemSignal.paramsArray = &sp;
    p.extSemSignal.numExtSems = 1;
    CUgraphNode node;
    CU(cuGraphAddNode(&node, g, NULL, NULL, 0, &p));
    CUgraphNodeType type;
    CU(cuGraphNodeGetType(node, &type));
    if (type != CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL)
        FAIL("cuGraphAddNode made a node of type %d", (int)type);
    sp.params.fence.value = 22;
    CU(cuGraphNodeSetParams(node, &p));
    expect_signal(node, s.tl, 22);
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    *s.counter = 0;
    CU(cuGraphLaunch(x, st));
    CU(cuStreamSynchronize(st));
    if (*s.counter != 22)
        FAIL("the generic signal node left the counter at %llu", (unsigned long long)*s.counter);
    CU(cuGraphExecDestroy(x));
    CUexternalSemaphore bogus = (CUexternalSemaphore)0x1234;
    p.extSemSignal.extSemArray = &bogus;
    EXPECT_CU(cuGraphAddNode(&node, g, NULL, NULL, 0, &p), CUDA_ERROR_INVALID_HANDLE);
    CUDA_EXT_SEM_SIGNAL_NODE_PARAMS none = {&tl, &sp, 0};
    EXPECT_CU(cuGraphAddExternalSemaphoresSignalNode(&node, g, NULL, 0, &none),
              CUDA_ERROR_INVALID_VALUE);
    CU(cuGraphDestroy(g));
}

// The stream calls on a capturing stream become the same nodes.
static void captured(CUstream st, const sems &s)
{
    CUgraph g;
    CU(cuStreamBeginCapture(st, CU_STREAM_CAPTURE_MODE_GLOBAL));
    init<<<N / 256, 256, 0, st>>>(d_data, N);
    CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS sp;
    memset(&sp, 0, sizeof sp);
    sp.params.fence.value = 31;
    CU(cuSignalExternalSemaphoresAsync(&s.tl, &sp, 1, st));
    CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS wp;
    memset(&wp, 0, sizeof wp);
    CU(cuWaitExternalSemaphoresAsync(&s.bin, &wp, 1, st));
    add<<<N / 256, 256, 0, st>>>(d_data, N, 5);
    CU(cuStreamEndCapture(st, &g));
    CUgraphNode nodes[8];
    size_t count = 8;
    CU(cuGraphGetNodes(g, nodes, &count));
    const CUgraphNodeType want[] = {CU_GRAPH_NODE_TYPE_KERNEL, CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL,
                                    CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT, CU_GRAPH_NODE_TYPE_KERNEL};
    if (count != 4)
        FAIL("the capture made %zu nodes, expected 4", count);
    for (size_t i = 0; i < count; i++) {
        CUgraphNodeType type;
        CU(cuGraphNodeGetType(nodes[i], &type));
        if (type != want[i])
            FAIL("captured node %zu has type %d, expected %d", i, (int)type, (int)want[i]);
    }
    expect_signal(nodes[1], s.tl, 31);
    expect_wait(nodes[2], s.bin);
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    launch_held(x, st, s, 31, 5);
    CU(cuGraphExecDestroy(x));
    CU(cuGraphDestroy(g));
}

int main()
{
    CHECK(cudaFree(0));
    CHECK(cudaMalloc(&d_data, sizeof host));
    sems s;
    s.efd = eventfd(0, EFD_CLOEXEC);
    s.tfd = memfd_create("graph-extsem-timeline", 0);
    if (s.efd < 0 || s.tfd < 0 || ftruncate(s.tfd, 8) != 0)
        FAIL("eventfd or memfd");
    void *map = mmap(NULL, 8, PROT_READ | PROT_WRITE, MAP_SHARED, s.tfd, 0);
    if (map == MAP_FAILED)
        FAIL("mmap");
    s.counter = (volatile uint64_t *)map;
    s.bin = import_sem(CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD, s.efd);
    s.tl = import_sem(CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_TIMELINE_SEMAPHORE_FD, s.tfd);
    CUstream st;
    CU(cuStreamCreate(&st, CU_STREAM_NON_BLOCKING));
    explicit_nodes(st, s);
    generic_nodes(st, s);
    captured(st, s);
    CU(cuStreamDestroy(st));
    CU(cuDestroyExternalSemaphore(s.bin));
    CU(cuDestroyExternalSemaphore(s.tl));
    CHECK(cudaFree(d_data));
    close(s.efd);
    close(s.tfd);
    printf("graph_extsem: OK signal and wait nodes run in graph order (the wait holds the graph "
           "until the eventfd), read back, cloned, updated, generic API, DOT, captured\n");
    return 0;
}
