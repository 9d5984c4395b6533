/*
 * softgpu: explicit graphs (kernel, memcpy, memset, host, empty and event nodes, edges,
 * clone, instantiate, replay, exec kernel-node update, exec update) and stream capture
 * (single stream, and fork/join across streams through events).
 */
#include <stdatomic.h>

#include "graph_kernels.h"

static const char *const ptx = graph_ptx; /* add_k */

enum { N = 256 };

static _Atomic int host_calls;
static void count_call(void *arg)
{
    (void)arg;
    atomic_fetch_add(&host_calls, 1);
}

static CUfunction load(CUmodule *m)
{
    CU_OK(cuModuleLoadData(m, ptx));
    CUfunction f;
    CU_OK(cuModuleGetFunction(&f, *m, "add_k"));
    return f;
}

/* memset(d, 1) -> add_k(+k) -> copy to host -> host callback */
static void test_explicit_graph(void **state)
{
    (void)state;
    CUmodule m;
    CUfunction f = load(&m);
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, N * 4));
    unsigned host[N];
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphNode ms, k, cp, h, empty;
    CUDA_MEMSET_NODE_PARAMS mp = {.dst = d, .pitch = 0, .value = 1, .elementSize = 4, .width = N, .height = 1};
    CU_OK(cuGraphAddMemsetNode(&ms, g, NULL, 0, &mp, NULL));
    unsigned n = N, kval = 10;
    void *params[] = {&d, &n, &kval};
    CUDA_KERNEL_NODE_PARAMS kp = {.func = f, .gridDimX = N / 64, .gridDimY = 1, .gridDimZ = 1,
                                  .blockDimX = 64, .blockDimY = 1, .blockDimZ = 1,
                                  .kernelParams = params};
    CU_OK(cuGraphAddKernelNode(&k, g, &ms, 1, &kp));
    kval = 999; /* parameters were copied when the node was made */
    CUDA_MEMCPY3D cp3 = {0};
    cp3.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    cp3.srcDevice = d;
    cp3.dstMemoryType = CU_MEMORYTYPE_HOST;
    cp3.dstHost = host;
    cp3.WidthInBytes = N * 4;
    cp3.Height = 1;
    cp3.Depth = 1;
    CU_OK(cuGraphAddMemcpyNode(&cp, g, &k, 1, &cp3, NULL));
    CUDA_HOST_NODE_PARAMS hp = {count_call, NULL};
    CU_OK(cuGraphAddHostNode(&h, g, NULL, 0, &hp));
    CU_OK(cuGraphAddEmptyNode(&empty, g, NULL, 0));
    CU_OK(cuGraphAddDependencies(g, &cp, &h, NULL, 1));
    CUgraphNodeType type;
    CU_OK(cuGraphNodeGetType(k, &type));
    assert_int_equal(type, CU_GRAPH_NODE_TYPE_KERNEL);
    size_t count = 0;
    CU_OK(cuGraphGetNodes(g, NULL, &count));
    assert_int_equal(count, 5);
    size_t edges = 0;
    CU_OK(cuGraphGetEdges(g, NULL, NULL, NULL, &edges));
    assert_int_equal(edges, 3);
    CUgraphNode from[3], to[3];
    CU_OK(cuGraphGetEdges(g, from, to, NULL, &edges));

    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CUstream s;
    CU_OK(cuStreamCreate(&s, 0));
    atomic_store(&host_calls, 0);
    for (int rep = 0; rep < 3; rep++) {
        memset(host, 0, sizeof host);
        CU_OK(cuGraphLaunch(x, s));
        CU_OK(cuStreamSynchronize(s));
        for (int i = 0; i < N; i++)
            assert_int_equal(host[i], 11); /* replay starts again from the memset */
    }
    assert_int_equal(atomic_load(&host_calls), 3);

    /* change the kernel's argument in the executable graph only */
    kval = 5;
    CU_OK(cuGraphExecKernelNodeSetParams(x, k, &kp));
    CU_OK(cuGraphLaunch(x, s));
    CU_OK(cuStreamSynchronize(s));
    assert_int_equal(host[0], 6);

    /* a clone with a different argument, pushed into the executable graph by cuGraphExecUpdate */
    CUgraph g2;
    CU_OK(cuGraphClone(&g2, g));
    CU_OK(cuGraphGetNodes(g2, NULL, &count));
    assert_int_equal(count, 5);
    CUgraphNode nodes2[5];
    CU_OK(cuGraphGetNodes(g2, nodes2, &count));
    CU_OK(cuGraphNodeGetType(nodes2[1], &type));
    assert_int_equal(type, CU_GRAPH_NODE_TYPE_KERNEL);
    CUgraphExecUpdateResultInfo info;
    CU_OK(cuGraphExecUpdate(x, g2, &info));
    assert_int_equal(info.result, CU_GRAPH_EXEC_UPDATE_SUCCESS);
    CU_OK(cuGraphLaunch(x, s));
    CU_OK(cuStreamSynchronize(s));
    assert_int_equal(host[0], 11); /* the clone carries the original argument (10) */
    CUgraphNode extra_node;
    CU_OK(cuGraphAddEmptyNode(&extra_node, g2, NULL, 0));
    CU_ERR(cuGraphExecUpdate(x, g2, &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    assert_int_equal(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED);

    /* a cycle cannot be instantiated */
    CU_OK(cuGraphAddDependencies(g2, &nodes2[4], &nodes2[0], NULL, 1));
    CU_OK(cuGraphAddDependencies(g2, &nodes2[2], &nodes2[4], NULL, 1));
    CUgraphExec bad;
    CU_ERR(cuGraphInstantiate(&bad, g2, 0), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuGraphAddDependencies(g2, &nodes2[0], &k, NULL, 1), CUDA_ERROR_INVALID_VALUE);

    /* changing the graph's node affects executable graphs made afterwards only */
    kval = 20;
    CU_OK(cuGraphKernelNodeSetParams(k, &kp));
    CUgraphExec x2;
    CU_OK(cuGraphInstantiate(&x2, g, 0));
    CU_OK(cuGraphLaunch(x2, s));
    CU_OK(cuStreamSynchronize(s));
    assert_int_equal(host[0], 21);
    CU_OK(cuGraphLaunch(x, s));
    CU_OK(cuStreamSynchronize(s));
    assert_int_equal(host[0], 11);
    CU_ERR(cuGraphKernelNodeSetParams(cp, &kp), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGraphExecDestroy(x2));

    CU_OK(cuGraphExecDestroy(x));
    CU_ERR(cuGraphLaunch(x, s), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGraphDestroy(g2));
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuStreamDestroy(s));
    CU_OK(cuMemFree(d));
    CU_OK(cuModuleUnload(m));
}

static void test_event_nodes(void **state)
{
    (void)state;
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUevent e;
    CU_OK(cuEventCreate(&e, 0));
    CUgraphNode rec, wait;
    CU_OK(cuGraphAddEventRecordNode(&rec, g, NULL, 0, e));
    CU_OK(cuGraphAddEventWaitNode(&wait, g, &rec, 1, e));
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    CU_OK(cuEventQuery(e));
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuEventDestroy(e));
}

static void test_capture_single_stream(void **state)
{
    (void)state;
    CUmodule m;
    CUfunction f = load(&m);
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, N * 4));
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CU_ERR(cuStreamBeginCapture(NULL, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    /* relaxed: this test peeks at memory with a synchronous copy while capturing */
    CU_OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
    CUstreamCaptureStatus st;
    CU_OK(cuStreamIsCapturing(s, &st));
    assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
    unsigned n = N, kval = 2;
    void *params[] = {&d, &n, &kval};
    CU_OK(cuMemsetD32Async(d, 100, N, s));
    CU_OK(cuLaunchKernel(f, N / 64, 1, 1, 64, 1, 1, 0, s, params, NULL));
    CU_OK(cuLaunchKernel(f, N / 64, 1, 1, 64, 1, 1, 0, s, params, NULL));
    CU_OK(cuLaunchHostFunc(s, count_call, NULL));
    /* captured work did not run */
    unsigned first;
    CU_OK(cuMemcpyDtoH(&first, d, 4));
    assert_int_equal(first, 0);
    CU_ERR(cuStreamSynchronize(s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    cuuint64_t id;
    CUgraph cg;
    const CUgraphNode *deps;
    size_t ndeps;
    CU_OK(cuStreamGetCaptureInfo(s, &st, &id, &cg, &deps, NULL, &ndeps));
    assert_true(id != 0);
    assert_int_equal(ndeps, 1);
    CUgraph g;
    CU_OK(cuStreamEndCapture(s, &g));
    assert_ptr_equal(g, cg);
    CU_OK(cuStreamIsCapturing(s, &st));
    assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_NONE);
    size_t count;
    CU_OK(cuGraphGetNodes(g, NULL, &count));
    assert_int_equal(count, 4);
    size_t edges;
    CU_OK(cuGraphGetEdges(g, NULL, NULL, NULL, &edges));
    assert_int_equal(edges, 3); /* a chain */
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    atomic_store(&host_calls, 0);
    CU_OK(cuGraphLaunch(x, s));
    CU_OK(cuGraphLaunch(x, s));
    CU_OK(cuStreamSynchronize(s));
    unsigned host[N];
    CU_OK(cuMemcpyDtoH(host, d, sizeof host));
    for (int i = 0; i < N; i++)
        assert_int_equal(host[i], 104);
    assert_int_equal(atomic_load(&host_calls), 2);
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuStreamDestroy(s));
    CU_OK(cuMemFree(d));
    CU_OK(cuModuleUnload(m));
}

/* s1 forks work to s2 through an event and joins it back: a diamond. */
static void test_capture_fork_join(void **state)
{
    (void)state;
    CUmodule m;
    CUfunction f = load(&m);
    CUdeviceptr a, b;
    CU_OK(cuMemAlloc(&a, N * 4));
    CU_OK(cuMemAlloc(&b, N * 4));
    CUstream s1, s2;
    CU_OK(cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING));
    CU_OK(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    CUevent fork, join;
    CU_OK(cuEventCreate(&fork, CU_EVENT_DISABLE_TIMING));
    CU_OK(cuEventCreate(&join, CU_EVENT_DISABLE_TIMING));
    unsigned n = N, k1 = 1, k2 = 2;
    void *pa[] = {&a, &n, &k1}, *pb[] = {&b, &n, &k2};
    CU_OK(cuStreamBeginCapture(s1, CU_STREAM_CAPTURE_MODE_RELAXED));
    CU_OK(cuMemsetD32Async(a, 0, N, s1));
    CU_OK(cuEventRecord(fork, s1));
    CU_OK(cuStreamWaitEvent(s2, fork, 0));
    CUstreamCaptureStatus st;
    CU_OK(cuStreamIsCapturing(s2, &st));
    assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
    CU_OK(cuLaunchKernel(f, N / 64, 1, 1, 64, 1, 1, 0, s1, pa, NULL));
    CU_OK(cuMemsetD32Async(b, 40, N, s2));
    CU_OK(cuLaunchKernel(f, N / 64, 1, 1, 64, 1, 1, 0, s2, pb, NULL));
    CU_OK(cuEventRecord(join, s2));
    CU_OK(cuStreamWaitEvent(s1, join, 0));
    CU_OK(cuMemcpyDtoDAsync(a, b, 4, s1)); /* after both branches */
    CUgraph g;
    CU_OK(cuStreamEndCapture(s1, &g));
    CU_OK(cuStreamIsCapturing(s2, &st));
    assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_NONE);
    size_t count, edges;
    CU_OK(cuGraphGetNodes(g, NULL, &count));
    assert_int_equal(count, 5);
    CU_OK(cuGraphGetEdges(g, NULL, NULL, NULL, &edges));
    assert_int_equal(edges, 5); /* memset->k1, memset->memsetb, memsetb->k2, k1->copy, k2->copy */
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, s1));
    CU_OK(cuStreamSynchronize(s1));
    unsigned ha[2], hb[2];
    CU_OK(cuMemcpyDtoH(ha, a, 8));
    CU_OK(cuMemcpyDtoH(hb, b, 8));
    assert_int_equal(hb[0], 42);
    assert_int_equal(ha[0], 42); /* copied from b */
    assert_int_equal(ha[1], 1);
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuEventDestroy(fork));
    CU_OK(cuEventDestroy(join));
    CU_OK(cuStreamDestroy(s1));
    CU_OK(cuStreamDestroy(s2));
    CU_OK(cuMemFree(a));
    CU_OK(cuMemFree(b));
    CU_OK(cuModuleUnload(m));
}

/* roots, dependencies in both directions, removing an edge and a node */
static void test_graph_structure(void **state)
{
    (void)state;
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphNode a, b, c;
    CU_OK(cuGraphAddEmptyNode(&a, g, NULL, 0));
    CU_OK(cuGraphAddEmptyNode(&b, g, &a, 1));
    CUgraphNode ab[2] = {a, b};
    CU_OK(cuGraphAddEmptyNode(&c, g, ab, 2));
    size_t n = 0;
    CUgraphNode out[4];
    CU_OK(cuGraphGetRootNodes(g, NULL, &n));
    assert_int_equal(n, 1);
    n = 4;
    CU_OK(cuGraphNodeGetDependencies(c, out, NULL, &n));
    assert_int_equal(n, 2);
    n = 4;
    CU_OK(cuGraphNodeGetDependentNodes(a, out, NULL, &n));
    assert_int_equal(n, 2);
    CU_OK(cuGraphRemoveDependencies(g, &a, &c, NULL, 1));
    CU_ERR(cuGraphRemoveDependencies(g, &a, &c, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    n = 4;
    CU_OK(cuGraphNodeGetDependentNodes(a, out, NULL, &n));
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], b);
    CU_OK(cuGraphDestroyNode(b));
    CU_OK(cuGraphGetRootNodes(g, NULL, &n));
    assert_int_equal(n, 2); /* a, and c which lost its only dependency */
    CU_OK(cuGraphGetNodes(g, NULL, &n));
    assert_int_equal(n, 2);
    CUgraphNodeType t;
    CU_ERR(cuGraphNodeGetType(b, &t), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGraphDestroy(g));
}

/* cuStreamUpdateCaptureDependencies: the next node depends on exactly the nodes given */
static void test_capture_update_dependencies(void **state)
{
    (void)state;
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 64));
    CU_OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
    CU_OK(cuMemsetD8Async(d, 1, 64, s));
    CUstreamCaptureStatus st;
    const CUgraphNode *deps;
    size_t ndeps;
    CU_OK(cuStreamGetCaptureInfo(s, &st, NULL, NULL, &deps, NULL, &ndeps));
    CUgraphNode first = deps[0];
    CU_OK(cuMemsetD8Async(d, 2, 64, s));
    /* the third node should follow only the first, in parallel with the second */
    CU_OK(cuStreamUpdateCaptureDependencies(s, &first, NULL, 1, CU_STREAM_SET_CAPTURE_DEPENDENCIES));
    CU_OK(cuMemsetD8Async(d, 3, 32, s));
    CUgraph g;
    CU_OK(cuStreamEndCapture(s, &g));
    size_t n = 0;
    CUgraphNode out[4];
    n = 4;
    CU_OK(cuGraphNodeGetDependentNodes(first, out, NULL, &n));
    assert_int_equal(n, 2);
    CU_ERR(cuStreamUpdateCaptureDependencies(s, &first, NULL, 1, CU_STREAM_SET_CAPTURE_DEPENDENCIES),
           CUDA_ERROR_ILLEGAL_STATE);
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuMemFree(d));
    CU_OK(cuStreamDestroy(s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explicit_graph),
        cmocka_unit_test(test_event_nodes),
        cmocka_unit_test(test_capture_single_stream),
        cmocka_unit_test(test_capture_fork_join),
        cmocka_unit_test(test_graph_structure),
        cmocka_unit_test(test_capture_update_dependencies),
    };
    return cmocka_run_group_tests(tests, sg_setup_primary, sg_teardown_primary);
}
