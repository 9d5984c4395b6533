/*
 * softgpu: graph node kinds and their getters and setters (child graph, host, kernel in both
 * ABIs, kernel attributes, memcpy, memset, event), the generic node API, executable-graph
 * updates (per node, cuGraphExecUpdate in both ABIs, child graphs), enabling nodes,
 * instantiation parameters and flags, cuGraphNodeFindInClone and cuGraphDebugDotPrint.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "graph_kernels.h"

/* The older ABIs, exported under the plain names. */
#undef cuGraphAddKernelNode
#undef cuGraphKernelNodeGetParams
#undef cuGraphKernelNodeSetParams
#undef cuGraphExecKernelNodeSetParams
#undef cuGraphExecUpdate
#undef cuGraphAddNode
CUresult cuGraphAddKernelNode(CUgraphNode *, CUgraph, const CUgraphNode *, size_t,
                              const CUDA_KERNEL_NODE_PARAMS_v1 *);
CUresult cuGraphKernelNodeGetParams(CUgraphNode, CUDA_KERNEL_NODE_PARAMS_v1 *);
CUresult cuGraphKernelNodeSetParams(CUgraphNode, const CUDA_KERNEL_NODE_PARAMS_v1 *);
CUresult cuGraphExecKernelNodeSetParams(CUgraphExec, CUgraphNode, const CUDA_KERNEL_NODE_PARAMS_v1 *);
CUresult cuGraphExecUpdate(CUgraphExec, CUgraph, CUgraphNode *, CUgraphExecUpdateResult *);
CUresult cuGraphAddNode(CUgraphNode *, CUgraph, const CUgraphNode *, size_t, CUgraphNodeParams *);

static CUmodule mod;

/* ---- host nodes: order and parameters ------------------------------------------------------- */

static char order[16];
static _Atomic int norder;
static void note(void *tag) { order[atomic_fetch_add(&norder, 1)] = *(char *)tag; }

static void test_host_nodes(void **state)
{
    (void)state;
    static char a = 'a', b = 'b', c = 'c', z = 'z';
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphNode ha, hb, hc;
    CUDA_HOST_NODE_PARAMS p = {note, &a};
    CU_OK(cuGraphAddHostNode(&ha, g, NULL, 0, &p));
    p.userData = &b;
    CU_OK(cuGraphAddHostNode(&hb, g, &ha, 1, &p));
    p.userData = &c;
    CU_OK(cuGraphAddHostNode(&hc, g, &hb, 1, &p));
    CUDA_HOST_NODE_PARAMS got;
    CU_OK(cuGraphHostNodeGetParams(hb, &got));
    assert_ptr_equal(got.fn, note);
    assert_ptr_equal(got.userData, &b);
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(norder, 3);
    assert_memory_equal(order, "abc", 3);
    /* the graph's node changes only future instantiations; the exec's own setter changes x */
    p.userData = &z;
    CU_OK(cuGraphHostNodeSetParams(ha, &p));
    CU_OK(cuGraphExecHostNodeSetParams(x, hc, &p));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_memory_equal(order, "abcabz", 6);
    CU_OK(cuGraphHostNodeGetParams(ha, &got));
    assert_ptr_equal(got.userData, &z);
    CU_ERR(cuGraphExecHostNodeSetParams(x, ha, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    atomic_store(&norder, 0);
}

/* ---- kernel nodes: both ABIs, attributes ------------------------------------------------------ */

static void test_kernel_node_params(void **state)
{
    (void)state;
    CUfunction f = graph_kernel(&mod, "add_k");
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 64 * 4));
    CU_OK(cuMemsetD32(d, 0, 64));
    unsigned n = 64, k = 5;
    void *args[] = {&d, &n, &k};
    CUDA_KERNEL_NODE_PARAMS_v1 p1;
    CUDA_KERNEL_NODE_PARAMS p2 = add_params(f, args);
    memcpy(&p1, &p2, sizeof p1);
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphNode kn;
    CU_OK(cuGraphAddKernelNode(&kn, g, NULL, 0, &p1)); /* the 10.0 ABI */
    CUDA_KERNEL_NODE_PARAMS got;
    CU_OK(cuGraphKernelNodeGetParams_v2(kn, &got));
    assert_ptr_equal(got.func, f);
    assert_int_equal(got.blockDimX, 64);
    assert_int_equal(*(unsigned *)got.kernelParams[2], 5);
    assert_int_equal(*(CUdeviceptr *)got.kernelParams[0], d);
    CUDA_KERNEL_NODE_PARAMS_v1 got1;
    CU_OK(cuGraphKernelNodeGetParams(kn, &got1));
    assert_int_equal(*(unsigned *)got1.kernelParams[1], 64);
    k = 7;
    CU_OK(cuGraphKernelNodeSetParams(kn, &p1));
    CU_OK(cuGraphKernelNodeGetParams(kn, &got1));
    assert_int_equal(*(unsigned *)got1.kernelParams[2], 7);
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, NULL));
    k = 100;
    CU_OK(cuGraphExecKernelNodeSetParams(x, kn, &p1));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(d, 63), 107);
    /* attributes */
    CUkernelNodeAttrValue v = {0}, out;
    v.priority = 3;
    CU_OK(cuGraphKernelNodeSetAttribute(kn, CU_LAUNCH_ATTRIBUTE_PRIORITY, &v));
    CU_OK(cuGraphKernelNodeGetAttribute(kn, CU_LAUNCH_ATTRIBUTE_PRIORITY, &out));
    assert_int_equal(out.priority, 3);
    CUgraphNode kn2;
    CU_OK(cuGraphAddKernelNode_v2(&kn2, g, NULL, 0, &p2));
    CU_OK(cuGraphKernelNodeCopyAttributes(kn2, kn));
    CU_OK(cuGraphKernelNodeGetAttribute(kn2, CU_LAUNCH_ATTRIBUTE_PRIORITY, &out));
    assert_int_equal(out.priority, 3);
    v.clusterDim.x = 2, v.clusterDim.y = 1, v.clusterDim.z = 1;
    CU_ERR(cuGraphKernelNodeSetAttribute(kn, CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION, &v),
           CUDA_ERROR_NOT_SUPPORTED);
    CU_ERR(cuGraphKernelNodeGetParams_v2(NULL, &got), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuMemFree(d));
}

/* ---- memcpy, memset and event nodes ----------------------------------------------------------- */

static CUDA_MEMCPY3D dtoh(CUdeviceptr src, void *dst, size_t bytes)
{
    CUDA_MEMCPY3D c = {0};
    c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    c.srcDevice = src;
    c.dstMemoryType = CU_MEMORYTYPE_HOST;
    c.dstHost = dst;
    c.WidthInBytes = bytes;
    c.Height = c.Depth = 1;
    return c;
}

static void test_copy_set_event_nodes(void **state)
{
    (void)state;
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 256));
    unsigned h1[64] = {0}, h2[64] = {0};
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphNode ms, cp, rec, wt;
    CUDA_MEMSET_NODE_PARAMS mp = {.dst = d, .value = 3, .elementSize = 4, .width = 64, .height = 1};
    CU_OK(cuGraphAddMemsetNode(&ms, g, NULL, 0, &mp, NULL));
    CUDA_MEMCPY3D c = dtoh(d, h1, 256);
    CU_OK(cuGraphAddMemcpyNode(&cp, g, &ms, 1, &c, NULL));
    CUDA_MEMSET_NODE_PARAMS mgot;
    CU_OK(cuGraphMemsetNodeGetParams(ms, &mgot));
    assert_int_equal(mgot.value, 3);
    assert_int_equal(mgot.width, 64);
    CUDA_MEMCPY3D cgot;
    CU_OK(cuGraphMemcpyNodeGetParams(cp, &cgot));
    assert_ptr_equal(cgot.dstHost, h1);
    mp.value = 4;
    CU_OK(cuGraphMemsetNodeSetParams(ms, &mp));
    c.dstHost = h2;
    CU_OK(cuGraphMemcpyNodeSetParams(cp, &c));
    CUevent e1, e2, eg;
    CU_OK(cuEventCreate(&e1, 0));
    CU_OK(cuEventCreate(&e2, 0));
    CU_OK(cuGraphAddEventRecordNode(&rec, g, &cp, 1, e1));
    CU_OK(cuGraphAddEventWaitNode(&wt, g, &rec, 1, e1));
    CU_OK(cuGraphEventRecordNodeGetEvent(rec, &eg));
    assert_ptr_equal(eg, e1);
    CU_OK(cuGraphEventRecordNodeSetEvent(rec, e2));
    CU_OK(cuGraphEventWaitNodeSetEvent(wt, e2));
    CU_OK(cuGraphEventWaitNodeGetEvent(wt, &eg));
    assert_ptr_equal(eg, e2);
    CU_ERR(cuGraphEventWaitNodeGetEvent(rec, &eg), CUDA_ERROR_INVALID_VALUE);
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(h2[63], 4);
    assert_int_equal(h1[0], 0);
    CU_OK(cuEventQuery(e2));
    /* executable-graph setters */
    mp.value = 9;
    CU_OK(cuGraphExecMemsetNodeSetParams(x, ms, &mp, NULL));
    c.dstHost = h1;
    CU_OK(cuGraphExecMemcpyNodeSetParams(x, cp, &c, NULL));
    CU_OK(cuGraphExecEventRecordNodeSetEvent(x, rec, e1));
    CU_OK(cuGraphExecEventWaitNodeSetEvent(x, wt, e1));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(h1[10], 9);
    CU_OK(cuEventQuery(e1));
    CU_ERR(cuGraphExecMemsetNodeSetParams(x, cp, &mp, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuEventDestroy(e1));
    CU_OK(cuEventDestroy(e2));
    CU_OK(cuMemFree(d));
}

/* ---- child graphs ------------------------------------------------------------------------------ */

static CUgraph adder_graph(CUfunction f, CUdeviceptr *d, unsigned *k)
{
    static unsigned n = 64;
    void *args[] = {d, &n, k};
    CUDA_KERNEL_NODE_PARAMS p = add_params(f, args);
    CUgraph g;
    CUgraphNode kn;
    CU_OK(cuGraphCreate(&g, 0));
    CU_OK(cuGraphAddKernelNode_v2(&kn, g, NULL, 0, &p));
    return g;
}

static void test_child_graph(void **state)
{
    (void)state;
    CUfunction f = graph_kernel(&mod, "add_k");
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 256));
    CU_OK(cuMemsetD32(d, 0, 64));
    unsigned k1 = 1, k2 = 1000;
    CUgraph child = adder_graph(f, &d, &k1), other = adder_graph(f, &d, &k2);
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphNode cn, cn2;
    CU_OK(cuGraphAddChildGraphNode(&cn, g, NULL, 0, child));
    CU_OK(cuGraphAddChildGraphNode(&cn2, g, &cn, 1, child));
    CU_OK(cuGraphDestroy(child)); /* the nodes hold clones */
    CUgraph emb;
    CU_OK(cuGraphChildGraphNodeGetGraph(cn, &emb));
    size_t count = 0;
    CU_OK(cuGraphGetNodes(emb, NULL, &count));
    assert_int_equal(count, 1);
    CU_ERR(cuGraphDestroy(emb), CUDA_ERROR_INVALID_VALUE); /* owned by the node */
    CUgraphNodeType t;
    CU_OK(cuGraphNodeGetType(cn, &t));
    assert_int_equal(t, CU_GRAPH_NODE_TYPE_GRAPH);
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(d, 5), 2);
    CU_OK(cuGraphExecChildGraphNodeSetParams(x, cn2, other));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(d, 5), 1003);
    CUgraph wrong;
    CU_OK(cuGraphCreate(&wrong, 0));
    CU_ERR(cuGraphExecChildGraphNodeSetParams(x, cn2, wrong), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGraphDestroy(wrong));
    /* clone: nested graphs are copied too */
    CUgraph clone;
    CUgraphNode found;
    CU_OK(cuGraphClone(&clone, g));
    CU_OK(cuGraphNodeFindInClone(&found, cn2, clone));
    CU_OK(cuGraphNodeGetType(found, &t));
    assert_int_equal(t, CU_GRAPH_NODE_TYPE_GRAPH);
    assert_ptr_not_equal(found, cn2);
    CU_ERR(cuGraphNodeFindInClone(&found, cn2, other), CUDA_ERROR_INVALID_VALUE);
    graph_run(clone);
    assert_int_equal(word_at(d, 5), 1005);
    CU_OK(cuGraphDestroy(clone));
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuGraphDestroy(other));
    CU_OK(cuMemFree(d));
}

/* ---- the generic node API ------------------------------------------------------------------- */

static void test_generic_api(void **state)
{
    (void)state;
    CUfunction f = graph_kernel(&mod, "add_k");
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 256));
    CUgraph g;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphNodeParams p;
    memset(&p, 0, sizeof p);
    p.type = CU_GRAPH_NODE_TYPE_MEMSET;
    p.memset = (CUDA_MEMSET_NODE_PARAMS_v2){.dst = d, .value = 1, .elementSize = 4, .width = 64, .height = 1};
    CUgraphNode ms, kn, hn, en;
    CU_OK(cuGraphAddNode(&ms, g, NULL, 0, &p));
    unsigned n = 64, k = 2;
    void *args[] = {&d, &n, &k};
    CUDA_KERNEL_NODE_PARAMS kp = add_params(f, args);
    memset(&p, 0, sizeof p);
    p.type = CU_GRAPH_NODE_TYPE_KERNEL;
    memcpy(&p.kernel, &kp, sizeof kp);
    CU_OK(cuGraphAddNode_v2(&kn, g, &ms, NULL, 1, &p));
    memset(&p, 0, sizeof p);
    p.type = CU_GRAPH_NODE_TYPE_HOST;
    static char tag = 'g';
    p.host.fn = note;
    p.host.userData = &tag;
    CU_OK(cuGraphAddNode(&hn, g, &kn, 1, &p));
    memset(&p, 0, sizeof p);
    p.type = CU_GRAPH_NODE_TYPE_EMPTY;
    CU_OK(cuGraphAddNode(&en, g, &hn, 1, &p));
    p.reserved0[1] = 1;
    CU_ERR(cuGraphAddNode(&en, g, NULL, 0, &p), CUDA_ERROR_INVALID_VALUE);
    memset(&p, 0, sizeof p);
    p.type = CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT; /* a wait on no semaphore */
    CU_ERR(cuGraphAddNode(&en, g, NULL, 0, &p), CUDA_ERROR_INVALID_VALUE);
    /* change the kernel's constant through the generic setter */
    k = 5;
    memset(&p, 0, sizeof p);
    p.type = CU_GRAPH_NODE_TYPE_KERNEL;
    memcpy(&p.kernel, &kp, sizeof kp);
    CU_OK(cuGraphNodeSetParams(kn, &p));
    p.type = CU_GRAPH_NODE_TYPE_MEMSET;
    CU_ERR(cuGraphNodeSetParams(kn, &p), CUDA_ERROR_INVALID_VALUE); /* the type cannot change */
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g, 0));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(d, 1), 6);
    k = 40;
    p.type = CU_GRAPH_NODE_TYPE_KERNEL;
    memcpy(&p.kernel, &kp, sizeof kp);
    CU_OK(cuGraphExecNodeSetParams(x, kn, &p));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(d, 1), 41);
    assert_int_equal(order[norder - 1], 'g');
    atomic_store(&norder, 0);
    CU_OK(cuGraphExecDestroy(x));
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuMemFree(d));
}

/* ---- exec update, enable, instantiate flags ---------------------------------------------------- */

static void test_exec_update_and_enable(void **state)
{
    (void)state;
    CUfunction f = graph_kernel(&mod, "add_k");
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 256));
    CU_OK(cuMemsetD32(d, 0, 64));
    unsigned k1 = 1, k2 = 10;
    CUgraph g1 = adder_graph(f, &d, &k1), g2 = adder_graph(f, &d, &k2);
    CUgraphExec x;
    CU_OK(cuGraphInstantiate(&x, g1, 0));
    CUgraphNode err;
    CUgraphExecUpdateResult res;
    CU_OK(cuGraphExecUpdate(x, g2, &err, &res)); /* the 10.2 ABI */
    assert_int_equal(res, CU_GRAPH_EXEC_UPDATE_SUCCESS);
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(d, 0), 10);
    CUgraphNode extra;
    CU_OK(cuGraphAddEmptyNode(&extra, g2, NULL, 0));
    CU_ERR(cuGraphExecUpdate(x, g2, &err, &res), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    assert_int_equal(res, CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED);
    CUgraphExecUpdateResultInfo info;
    CU_ERR(cuGraphExecUpdate_v2(x, g2, &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    assert_int_equal(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED);
    /* disabling the kernel node makes the launch a no-op */
    CUgraphNode kn;
    size_t one = 1;
    CU_OK(cuGraphGetNodes(g1, &kn, &one));
    unsigned en;
    CU_OK(cuGraphNodeGetEnabled(x, kn, &en));
    assert_int_equal(en, 1);
    CU_OK(cuGraphNodeSetEnabled(x, kn, 0));
    CU_OK(cuGraphNodeGetEnabled(x, kn, &en));
    assert_int_equal(en, 0);
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(d, 0), 10);
    CU_OK(cuGraphNodeSetEnabled(x, kn, 1));
    CU_OK(cuGraphLaunch(x, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_int_equal(word_at(d, 0), 20);
    CU_OK(cuGraphExecDestroy(x));
    /* instantiate with parameters: upload, flags, device-launch restrictions */
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUDA_GRAPH_INSTANTIATE_PARAMS ip = {.flags = CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD
                                                 | CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH,
                                        .hUploadStream = s};
    CU_OK(cuGraphInstantiateWithParams(&x, g1, &ip));
    assert_int_equal(ip.result_out, CUDA_GRAPH_INSTANTIATE_SUCCESS);
    cuuint64_t flags;
    CU_OK(cuGraphExecGetFlags(x, &flags));
    assert_int_equal(flags, ip.flags);
    CU_OK(cuGraphExecDestroy(x));
    CU_ERR(cuGraphInstantiateWithFlags(&x, g1, CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD),
           CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGraphInstantiateWithFlags(&x, g1, CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH));
    CU_OK(cuGraphExecDestroy(x));
    ip.flags = CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH;
    CU_ERR(cuGraphInstantiateWithParams(&x, g2, &ip), CUDA_ERROR_INVALID_VALUE); /* an empty node */
    assert_int_equal(ip.result_out, CUDA_GRAPH_INSTANTIATE_NODE_OPERATION_NOT_SUPPORTED);
    assert_ptr_equal(ip.hErrNode_out, extra);
    /* a cycle */
    CUgraphNode nodes[2];
    size_t two = 2;
    CU_OK(cuGraphGetNodes(g2, nodes, &two));
    CU_OK(cuGraphAddDependencies_v2(g2, &nodes[0], &nodes[1], NULL, 1));
    CU_OK(cuGraphAddDependencies_v2(g2, &nodes[1], &nodes[0], NULL, 1));
    ip.flags = 0;
    CU_ERR(cuGraphInstantiateWithParams(&x, g2, &ip), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(ip.result_out, CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE);
    CU_OK(cuStreamDestroy(s));
    CU_OK(cuGraphDestroy(g1));
    CU_OK(cuGraphDestroy(g2));
    CU_OK(cuMemFree(d));
}

/* ---- DOT output ---------------------------------------------------------------------------- */

static void test_dot_print(void **state)
{
    (void)state;
    CUfunction f = graph_kernel(&mod, "add_k");
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 256));
    unsigned k = 1;
    CUgraph child = adder_graph(f, &d, &k), g;
    CU_OK(cuGraphCreate(&g, 0));
    CUgraphNode a, b, c;
    CU_OK(cuGraphAddEmptyNode(&a, g, NULL, 0));
    CU_OK(cuGraphAddChildGraphNode(&b, g, &a, 1, child));
    CUDA_MEMSET_NODE_PARAMS mp = {.dst = d, .value = 1, .elementSize = 4, .width = 4, .height = 1};
    CU_OK(cuGraphAddMemsetNode(&c, g, &a, 1, &mp, NULL));
    char path[] = "/tmp/softgpu_dot_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    CU_OK(cuGraphDebugDotPrint(g, path, CU_GRAPH_DEBUG_DOT_FLAGS_VERBOSE));
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[512];
    int nodes = 0, edges = 0, dashed = 0, clusters = 0, kernels = 0, opened = 0, closed = 0;
    while (fgets(line, sizeof line, fp)) {
        opened += strchr(line, '{') != NULL;
        closed += strchr(line, '}') != NULL;
        if (strstr(line, "digraph"))
            continue;
        clusters += strstr(line, "subgraph cluster_") != NULL;
        if (strstr(line, "[shape=box"))
            nodes++;
        if (strstr(line, "add_k"))
            kernels++;
        if (strstr(line, " -> "))
            strstr(line, "dashed") ? dashed++ : edges++;
    }
    fclose(fp);
    unlink(path);
    assert_int_equal(nodes, 4); /* empty, child, memset, and the kernel inside the child */
    assert_int_equal(edges, 2);
    assert_int_equal(dashed, 1);
    assert_int_equal(clusters, 1);
    assert_int_equal(kernels, 1);
    assert_int_equal(opened, closed);
    CU_ERR(cuGraphDebugDotPrint(g, "/nonexistent/dir/x.dot", 0), CUDA_ERROR_OPERATING_SYSTEM);
    CU_OK(cuGraphDestroy(g));
    CU_OK(cuGraphDestroy(child));
    CU_OK(cuMemFree(d));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_nodes),
        cmocka_unit_test(test_kernel_node_params),
        cmocka_unit_test(test_copy_set_event_nodes),
        cmocka_unit_test(test_child_graph),
        cmocka_unit_test(test_generic_api),
        cmocka_unit_test(test_exec_update_and_enable),
        cmocka_unit_test(test_dot_print),
    };
    return cmocka_run_group_tests(tests, sg_setup_primary, sg_teardown_primary);
}
