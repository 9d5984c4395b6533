/*
 * softgpu: graph-allocated memory (allocation and free nodes, cuMemGetInfo, reuse across
 * launches, relaunch rules, attributes, trim, capture of cuMemAllocAsync / cuMemFreeAsync),
 * conditional nodes (a WHILE loop counted by a kernel through cudaGraphSetConditional, IF with
 * an else body, SWITCH), user objects (destructor timing), stream memory operations and batch
 * memory operation nodes, and the capture paths (host functions, external event record / wait,
 * memory operations, cuStreamBeginCaptureToGraph, capture info, capture mode exchange).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "graph_kernels.h"

#undef cuStreamGetCaptureInfo /* the 10.1 ABI */
CUresult cuStreamGetCaptureInfo(CUstream, CUstreamCaptureStatus *, cuuint64_t *);
CUresult cuStreamGetCaptureInfo_v2(CUstream, CUstreamCaptureStatus *, cuuint64_t *, CUgraph *,
                                   const CUgraphNode **, size_t *); /* the 11.3 ABI */

static CUmodule mod;

static size_t free_mem(void)
{
    size_t f, t;
    CU_OK(cuMemGetInfo(&f, &t));
    return f;
}

static cuuint64_t graph_mem(CUgraphMem_attribute a)
{
    cuuint64_t v;
    CU_OK(cuDeviceGetGraphMemAttribute(0, a, &v));
    return v;
}

/* ---- allocation and free nodes ------------------------------------------------------------- */

static void test_mem_alloc_nodes(void **state)
{
    (void)state;
    enum { BYTES = 3 << 20 };
    size_t before = free_mem();
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUDA_MEM_ALLOC_NODE_PARAMS ap = {0};
    ap.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    ap.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    ap.bytesize = BYTES;
    CUgraphNode an, ms;
    CU_OK(cuGraphAddMemAllocNode(&an, g, NULL, 0, &ap));
    assert_true(ap.dptr != 0);
    CUdeviceptr d = ap.dptr;
    CUDA_MEMSET_NODE_PARAMS mp = {.dst = d, .value = 7, .elementSize = 4, .width = BYTES / 4, .height = 1};
    CU_OK(cuGraphAddMemsetNode(&ms, g, &an, 1, &mp, NULL));
    CUDA_MEM_ALLOC_NODE_PARAMS got;
    CU_OK(cuGraphMemAllocNodeGetParams(an, &got));
    assert_int_equal(got.dptr, d);
    assert_int_equal(got.bytesize, BYTES);
    assert_int_equal(free_mem(), before); /* only an address until it runs */
    CUgraph clone;
    CU_ERR(cuGraphClone(&clone, g), CUDA_ERROR_NOT_SUPPORTED);
    CUgraphExec x, x2;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_ERR(cuGraphInstantiate(&x2, g, 0), CUDA_ERROR_INVALID_VALUE); /* one exec at a time */
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    size_t after = free_mem();
    assert_true(before - after >= BYTES);
    assert_int_equal(word_at(d, BYTES / 4 - 1), 7);
    assert_true(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT) >= BYTES);
    /* still allocated: relaunching is refused until it is freed */
    CU_ERR(cuGraphLaunch(x, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemFreeAsync(d, NULL));
    CU_ERR(cuMemFreeAsync(d, NULL), CUDA_ERROR_INVALID_VALUE); /* twice */
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT), 0);
    assert_true(graph_mem(CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT) >= BYTES);
    assert_int_equal(free_mem(), after); /* kept for the next launch */
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(free_mem(), after); /* the same memory again, at the same address */
    assert_int_equal(word_at(d, 0), 7);
    CU_OK(cuMemFree(d));
    CU_OK(cuDeviceGraphMemTrim(0));
    assert_int_equal(free_mem(), before);
    assert_int_equal(graph_mem(CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT), 0);
    cuuint64_t zero = 0;
    assert_true(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_HIGH) >= BYTES);
    CU_OK(cuDeviceSetGraphMemAttribute(0, CU_GRAPH_MEM_ATTR_USED_MEM_HIGH, &zero));
    assert_int_equal(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_HIGH), 0);
    CU_ERR(cuDeviceSetGraphMemAttribute(0, CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT, &zero),
           CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGraphExecDestroy(x));
    /* AUTO_FREE_ON_LAUNCH: each launch frees the last one's allocation first */
    CU_OK(cuGraphInstantiate(&x, g, CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    CU_OK(cuMemFree(d));
    CU_OK(cuGraphExecDestroy(x));
    /* a free node in the same graph: relaunch at will */
    CUgraphNode fn;
    CU_OK(cuGraphAddMemFreeNode(&fn, g, &ms, 1, d));
    CUdeviceptr fd;
    CU_OK(cuGraphMemFreeNodeGetParams(fn, &fd));
    assert_int_equal(fd, d);
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT), 0);
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuDeviceGraphMemTrim(0));
    assert_int_equal(free_mem(), before);
}

static void test_mem_capture(void **state)
{
    (void)state;
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    size_t before = free_mem();
    CU_OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    CUdeviceptr d;
    CU_OK(cuMemAllocAsync(&d, 1 << 20, s));
    CU_OK(cuMemsetD32Async(d, 42, 1 << 18, s));
    unsigned host = 0;
    CU_OK(cuMemcpyDtoHAsync(&host, d + 100, 4, s));
    CU_OK(cuMemFreeAsync(d, s));
    CUgraph g;
    CU_OK(cuStreamEndCapture(s, &g));
    assert_int_equal(free_mem(), before);
    CUgraphNode nodes[4];
    size_t n = 4;
    CU_OK(cuGraphGetNodes(g, nodes, &n));
    assert_int_equal(n, 4);
    CUgraphNodeType t0, t3;
    CU_OK(cuGraphNodeGetType(nodes[0], &t0));
    CU_OK(cuGraphNodeGetType(nodes[3], &t3));
    assert_int_equal(t0, CU_GRAPH_NODE_TYPE_MEM_ALLOC);
    assert_int_equal(t3, CU_GRAPH_NODE_TYPE_MEM_FREE);
    graph_run(g);
    assert_int_equal(host, 42);
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuDeviceGraphMemTrim(0));
    assert_int_equal(free_mem(), before);
    CU_OK(cuStreamDestroy(s));
}

/* ---- conditional nodes --------------------------------------------------------------------- */

static CUgraphNode add_loop_kernel(CUgraph body, CUgraphConditionalHandle *h, CUdeviceptr *count,
                                   unsigned *limit)
{
    void *args[] = {h, count, limit};
    CUDA_KERNEL_NODE_PARAMS kp = {.func = graph_kernel(&mod, "loop_k"), .gridDimX = 1,
                                  .gridDimY = 1, .gridDimZ = 1, .blockDimX = 1, .blockDimY = 1,
                                  .blockDimZ = 1, .kernelParams = args};
    CUgraphNode kn;
    CU_OK(cuGraphAddKernelNode(&kn, body, NULL, 0, &kp));
    return kn;
}

static CUgraphNode add_conditional(CUgraph g, CUgraphConditionalHandle h,
                                   CUgraphConditionalNodeType type, unsigned size, CUgraph **bodies)
{
    CUgraphNodeParams p;
    memset(&p, 0, sizeof p);
    p.type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
    p.conditional.handle = h;
    p.conditional.type = type;
    p.conditional.size = size;
    CUcontext ctx;
    CU_OK(cuCtxGetCurrent(&ctx));
    p.conditional.ctx = ctx;
    CUgraphNode n;
    CU_OK(cuGraphAddNode_v2(&n, g, NULL, NULL, 0, &p));
    *bodies = p.conditional.phGraph_out;
    return n;
}

static void test_conditional_while(void **state)
{
    (void)state;
    CUdeviceptr count;
    CU_OK(cuMemAlloc(&count, 4));
    CU_OK(cuMemsetD32(count, 0, 1));
    CUgraph g, *bodies;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphConditionalHandle h;
    CU_OK(cuGraphConditionalHandleCreate(&h, g, NULL, 1, CU_GRAPH_COND_ASSIGN_DEFAULT));
    CUgraphNode cn = add_conditional(g, h, CU_GRAPH_COND_TYPE_WHILE, 1, &bodies);
    unsigned limit = 10;
    add_loop_kernel(bodies[0], &h, &count, &limit);
    CUgraphNodeType t;
    CU_OK(cuGraphNodeGetType(cn, &t));
    assert_int_equal(t, CU_GRAPH_NODE_TYPE_CONDITIONAL);
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(count, 0), 10);
    /* the handle is reset to its default (1) at every launch: one more pass, since 11 >= 10 */
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(count, 0), 11);
    CU_OK(cuGraphExecDestroy(x));
    /* a handle that no node uses cannot be instantiated */
    CUgraphConditionalHandle unused;
    CU_OK(cuGraphConditionalHandleCreate(&unused, g, NULL, 0, 0));
    CUDA_GRAPH_INSTANTIATE_PARAMS ip = {0};
    CU_ERR(cuGraphInstantiateWithParams(&x, g, &ip), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(ip.result_out, CUDA_GRAPH_INSTANTIATE_CONDITIONAL_HANDLE_UNUSED);
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuMemFree(count));
}

static void test_conditional_if_switch(void **state)
{
    (void)state;
    CUfunction f = graph_kernel(&mod, "add_k");
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 16));
    CU_OK(cuMemsetD32(d, 0, 4));
    CUgraph g, *ifb, *swb;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphConditionalHandle hif, hsw;
    CU_OK(cuGraphConditionalHandleCreate(&hif, g, NULL, 0, CU_GRAPH_COND_ASSIGN_DEFAULT));
    CU_OK(cuGraphConditionalHandleCreate(&hsw, g, NULL, 2, CU_GRAPH_COND_ASSIGN_DEFAULT));
    add_conditional(g, hif, CU_GRAPH_COND_TYPE_IF, 2, &ifb);
    add_conditional(g, hsw, CU_GRAPH_COND_TYPE_SWITCH, 3, &swb);
    unsigned n = 1, k = 1;
    CUdeviceptr words[4] = {d, d + 4, d + 8, d + 12};
    CUgraph targets[5] = {ifb[0], ifb[1], swb[0], swb[1], swb[2]};
    CUdeviceptr *where[5] = {&words[0], &words[1], &words[2], &words[3], &words[3]};
    for (int i = 0; i < 5; i++) {
        void *args[] = {where[i], &n, &k};
        CUDA_KERNEL_NODE_PARAMS kp = add_params(f, args);
        CUgraphNode kn;
        CU_OK(cuGraphAddKernelNode(&kn, targets[i], NULL, 0, &kp));
    }
    graph_run(g); /* IF 0 runs the else body (word 1); SWITCH 2 runs body 2 (word 3) */
    assert_int_equal(word_at(d, 0), 0);
    assert_int_equal(word_at(d, 1), 1);
    assert_int_equal(word_at(d, 2), 0);
    assert_int_equal(word_at(d, 3), 1);
    CUgraphConditionalHandle bad = 12345;
    CUgraphNodeParams p;
    memset(&p, 0, sizeof p);
    p.type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
    p.conditional.handle = bad;
    p.conditional.type = CU_GRAPH_COND_TYPE_WHILE;
    p.conditional.size = 1;
    CUgraphNode cn;
    CU_ERR(cuGraphAddNode_v2(&cn, g, NULL, NULL, 0, &p), CUDA_ERROR_INVALID_VALUE);
    p.conditional.handle = hif;
    p.conditional.size = 2; /* WHILE takes one body */
    CU_ERR(cuGraphAddNode_v2(&cn, g, NULL, NULL, 0, &p), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuMemFree(d));
}

/* ---- user objects ------------------------------------------------------------------------- */

static _Atomic int destroyed;
static void object_gone(void *p) { atomic_fetch_add(&destroyed, *(int *)p); }

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open;
static void gate(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void test_user_objects(void **state)
{
    (void)state;
    static int one = 1;
    CUuserObject o;
    CU_ERR(cuUserObjectCreate(&o, &one, object_gone, 1, 0), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuUserObjectCreate(&o, &one, object_gone, 2, CU_USER_OBJECT_NO_DESTRUCTOR_SYNC));
    CU_OK(cuUserObjectRetain(o, 1));
    CU_OK(cuUserObjectRelease(o, 2));
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CU_OK(cuGraphRetainUserObject(g, o, 1, CU_GRAPH_USER_OBJECT_MOVE)); /* our last reference */
    CUgraphNode hn;
    CUDA_HOST_NODE_PARAMS hp = {gate, NULL};
    CU_OK(cuGraphAddHostNode(&hn, g, NULL, 0, &hp));
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CU_OK(cuGraphLaunch(x, s));
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    assert_int_equal(destroyed, 0); /* the launch in flight still holds it */
    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    CU_OK(cuStreamSynchronize(s));
    assert_int_equal(destroyed, 1);
    /* graph references: released by cuGraphReleaseUserObject or graph destruction */
    CU_OK(cuUserObjectCreate(&o, &one, object_gone, 1, CU_USER_OBJECT_NO_DESTRUCTOR_SYNC));
    CU_OK(cuGraphCreate(&g, 0));
    CU_OK(cuGraphRetainUserObject(g, o, 2, 0));
    CU_OK(cuUserObjectRelease(o, 1));
    CU_OK(cuGraphReleaseUserObject(g, o, 1));
    CU_ERR(cuGraphReleaseUserObject(g, o, 5), CUDA_ERROR_INVALID_VALUE);
    CUgraph clone;
    CU_OK(cuGraphClone(&clone, g));
    CU_OK(cuGraphDestroy(g));
    assert_int_equal(destroyed, 1);
    CU_OK(cuGraphDestroy(clone));
    assert_int_equal(destroyed, 2);
    CU_OK(cuStreamDestroy(s));
}

/* ---- memory operations ---------------------------------------------------------------------- */

static void test_stream_memops(void **state)
{
    (void)state;
    CUdeviceptr flag;
    CU_OK(cuMemAlloc(&flag, 16));
    CU_OK(cuMemsetD32(flag, 0, 4));
    CUstream a, b;
    CU_OK(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING));
    CU_OK(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING));
    CU_OK(cuStreamWaitValue32(a, flag, 5, CU_STREAM_WAIT_VALUE_GEQ));
    CU_OK(cuStreamWriteValue32(a, flag + 4, 77, 0));
    CU_ERR(cuStreamQuery(a), CUDA_ERROR_NOT_READY); /* blocked on the wait */
    CU_OK(cuStreamWriteValue64(b, flag + 8, 0x100000002ull, 0));
    CU_OK(cuStreamWriteValue32(b, flag, 5, 0));
    CU_OK(cuStreamSynchronize(a));
    assert_int_equal(word_at(flag, 1), 77);
    CU_OK(cuStreamWaitValue64(a, flag + 8, 0x100000002ull, CU_STREAM_WAIT_VALUE_EQ));
    CU_OK(cuStreamSynchronize(a));
    CU_ERR(cuStreamWriteValue32(a, flag + 2, 1, 0), CUDA_ERROR_INVALID_VALUE); /* misaligned */
    /* a batch node, its getter and setters */
    CUstreamBatchMemOpParams ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].operation = CU_STREAM_MEM_OP_WRITE_VALUE_32;
    ops[0].writeValue.address = flag + 12;
    ops[0].writeValue.value = 9;
    ops[1].operation = CU_STREAM_MEM_OP_BARRIER;
    CUcontext ctx;
    CU_OK(cuCtxGetCurrent(&ctx));
    CUDA_BATCH_MEM_OP_NODE_PARAMS bp = {ctx, 2, ops, 0};
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphNode bn;
    CU_OK(cuGraphAddBatchMemOpNode(&bn, g, NULL, 0, &bp));
    CUDA_BATCH_MEM_OP_NODE_PARAMS got;
    CU_OK(cuGraphBatchMemOpNodeGetParams(bn, &got));
    assert_int_equal(got.count, 2);
    assert_int_equal(got.paramArray[0].writeValue.value, 9);
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(flag, 3), 9);
    ops[0].writeValue.value = 10;
    CU_OK(cuGraphExecBatchMemOpNodeSetParams(x, bn, &bp));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(flag, 3), 10);
    ops[0].writeValue.value = 11;
    CU_OK(cuGraphBatchMemOpNodeSetParams(bn, &bp));
    CU_OK(cuGraphBatchMemOpNodeGetParams(bn, &got));
    assert_int_equal(got.paramArray[0].writeValue.value, 11);
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuStreamBatchMemOp(a, 2, ops, 0));
    CU_OK(cuStreamSynchronize(a));
    assert_int_equal(word_at(flag, 3), 11);
    CU_OK(cuStreamDestroy(a));
    CU_OK(cuStreamDestroy(b));
    CU_OK(cuMemFree(flag));
}

/* ---- capture paths ------------------------------------------------------------------------ */

static _Atomic int host_runs;
static void host_run(void *p) { (void)p; atomic_fetch_add(&host_runs, 1); }

static CUgraphNodeType type_of(CUgraph g, size_t i)
{
    CUgraphNode nodes[8];
    size_t n = 8;
    CU_OK(cuGraphGetNodes(g, nodes, &n));
    assert_true(i < n);
    CUgraphNodeType t;
    CU_OK(cuGraphNodeGetType(nodes[i], &t));
    return t;
}

static void test_capture_paths(void **state)
{
    (void)state;
    CUdeviceptr w;
    CU_OK(cuMemAlloc(&w, 8));
    CU_OK(cuMemsetD32(w, 0, 2));
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUevent e;
    CU_OK(cuEventCreate(&e, 0));
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphNode first;
    CU_OK(cuGraphAddEmptyNode(&first, g, NULL, 0));
    CU_OK(cuStreamBeginCaptureToGraph(s, g, &first, NULL, 1, CU_STREAM_CAPTURE_MODE_RELAXED));
    CUstreamCaptureStatus st;
    cuuint64_t id;
    CUgraph cg;
    const CUgraphNode *deps;
    size_t nd;
    CU_OK(cuStreamGetCaptureInfo_v2(s, &st, &id, &cg, &deps, &nd));
    assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
    assert_ptr_equal(cg, g);
    assert_int_equal(nd, 1);
    assert_ptr_equal(deps[0], first);
    CU_OK(cuLaunchHostFunc(s, host_run, NULL));
    CU_OK(cuEventRecordWithFlags(e, s, CU_EVENT_RECORD_EXTERNAL));
    CU_OK(cuStreamWaitEvent(s, e, CU_EVENT_WAIT_EXTERNAL));
    CU_OK(cuStreamWriteValue32(s, w, 3, 0));
    CUgraph out;
    CU_OK(cuStreamEndCapture(s, &out));
    assert_ptr_equal(out, g);
    assert_int_equal(type_of(g, 1), CU_GRAPH_NODE_TYPE_HOST);
    assert_int_equal(type_of(g, 2), CU_GRAPH_NODE_TYPE_EVENT_RECORD);
    assert_int_equal(type_of(g, 3), CU_GRAPH_NODE_TYPE_WAIT_EVENT);
    assert_int_equal(type_of(g, 4), CU_GRAPH_NODE_TYPE_BATCH_MEM_OP);
    assert_int_equal(host_runs, 0);
    graph_run(g);
    assert_int_equal(host_runs, 1);
    assert_int_equal(word_at(w, 0), 3);
    CU_OK(cuGraphDestroy(g));
    /* the 10.1 capture info and the thread's capture mode */
    CU_OK(cuStreamGetCaptureInfo(s, &st, &id));
    assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_NONE);
    CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
    CU_OK(cuThreadExchangeStreamCaptureMode(&mode));
    assert_int_equal(mode, CU_STREAM_CAPTURE_MODE_GLOBAL);
    CU_OK(cuThreadExchangeStreamCaptureMode(&mode));
    assert_int_equal(mode, CU_STREAM_CAPTURE_MODE_RELAXED);
    CU_OK(cuEventDestroy(e));
    CU_OK(cuStreamDestroy(s));
    CU_OK(cuMemFree(w));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_alloc_nodes),
        cmocka_unit_test(test_mem_capture),
        cmocka_unit_test(test_conditional_while),
        cmocka_unit_test(test_conditional_if_switch),
        cmocka_unit_test(test_user_objects),
        cmocka_unit_test(test_stream_memops),
        cmocka_unit_test(test_capture_paths),
    };
    return cmocka_run_group_tests(tests, sg_setup_primary, sg_teardown_primary);
}
