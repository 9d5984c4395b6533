/*
 * Graph node parameters changed and read back, batch memory operation and external semaphore
 * nodes (the decoders of src/stub/graph_params.c; calls_graph_more.def). A semaphore a node
 * names must be one the session imported (EXTSEM).
 *
 * A setter names its target as u64 executable graph (0: a graph's node) and u64 node, then the
 * node's fields as the node kind's add sends them, read and checked by the same helpers
 * (graph.c), so a setter can name nothing an add could not. What is read back leaves out what
 * only this process can use: kernel argument pointers become their bytes by the function's
 * layout, host sides of copies become places in the program's shared regions (a host address
 * of this process never goes back), devices are renumbered as the session sees them. Each
 * reply also names the node's top graph, whose destruction ends what the stub keeps for it.
 * May call: graph_int.h (node headers, targets, node fields), devmap.h, the session's records,
 * the backend table.
 */
#include <stdlib.h>
#include <string.h>

#include "devmap.h"
#include "graph_int.h"

#define MAX_MEMOPS 4096
#define MAX_ACCESS_DESCS 64
#define NEED_BACKEND(fn) \
    do { if (!s->be.fn) return CUDA_ERROR_NOT_SUPPORTED; } while (0)
#define NODE(h) ((CUgraphNode)(uintptr_t)(h))
#define GEXEC(h) ((CUgraphExec)(uintptr_t)(h))

/* ---- setters: u64 executable graph (0: a graph's node), u64 node, the node's fields ---- */

static CUresult set_memset(struct tfw_session *s, struct tfp_reader *in, int exec,
                           const char *call)
{
    uint64_t gexec = tfp_get_u64(in), node = tfp_get_u64(in), ctx;
    CUDA_MEMSET_NODE_PARAMS p;
    CUresult r = tfw_memset_node_read(s, in, &ctx, &p, call);
    if (r == CUDA_SUCCESS)
        r = tfw_target_check(s, gexec, node, exec);
    if (r != CUDA_SUCCESS)
        return r;
    if (!exec) {
        NEED_BACKEND(cuGraphMemsetNodeSetParams);
        return s->be.cuGraphMemsetNodeSetParams(NODE(node), &p);
    }
    NEED_BACKEND(cuGraphExecMemsetNodeSetParams);
    return s->be.cuGraphExecMemsetNodeSetParams(GEXEC(gexec), NODE(node), &p,
                                                (CUcontext)(uintptr_t)ctx);
}

CUresult tfw_custom_cuGraphMemsetNodeSetParams(struct tfw_session *s, struct tfp_reader *in,
                                               struct tfp_writer *out)
{
    (void)out;
    return set_memset(s, in, 0, "cuGraphMemsetNodeSetParams");
}

CUresult tfw_custom_cuGraphExecMemsetNodeSetParams(struct tfw_session *s, struct tfp_reader *in,
                                                   struct tfp_writer *out)
{
    (void)out;
    return set_memset(s, in, 1, "cuGraphExecMemsetNodeSetParams");
}

static CUresult set_memcpy(struct tfw_session *s, struct tfp_reader *in, struct tfp_writer *out,
                           int exec, const char *call)
{
    uint64_t gexec = tfp_get_u64(in), node = tfp_get_u64(in), ctx;
    CUDA_MEMCPY3D m;
    CUresult r = tfw_copy_node_read(s, in, out, &ctx, &m, call);
    if (r == CUDA_SUCCESS)
        r = tfw_target_check(s, gexec, node, exec);
    if (r != CUDA_SUCCESS)
        return r;
    if (!exec) {
        NEED_BACKEND(cuGraphMemcpyNodeSetParams);
        return s->be.cuGraphMemcpyNodeSetParams(NODE(node), &m);
    }
    NEED_BACKEND(cuGraphExecMemcpyNodeSetParams);
    return s->be.cuGraphExecMemcpyNodeSetParams(GEXEC(gexec), NODE(node), &m,
                                                (CUcontext)(uintptr_t)ctx);
}

CUresult tfw_custom_cuGraphMemcpyNodeSetParams(struct tfw_session *s, struct tfp_reader *in,
                                               struct tfp_writer *out)
{
    return set_memcpy(s, in, out, 0, "cuGraphMemcpyNodeSetParams");
}

CUresult tfw_custom_cuGraphExecMemcpyNodeSetParams(struct tfw_session *s, struct tfp_reader *in,
                                                   struct tfp_writer *out)
{
    return set_memcpy(s, in, out, 1, "cuGraphExecMemcpyNodeSetParams");
}

/* ---- batch memory operation nodes: u64 ctx, u32 count, u32 flags, count operations ---- */

/* Reads the node's fields (ending the request) and checks them; p->paramArray is a malloc'd
 * copy the caller frees. */
static CUresult memops_read(struct tfw_session *s, struct tfp_reader *in,
                            CUDA_BATCH_MEM_OP_NODE_PARAMS *p, const char *call)
{
    memset(p, 0, sizeof *p);
    uint64_t ctx = tfp_get_u64(in);
    uint32_t count = tfp_get_u32(in), flags = tfp_get_u32(in);
    if (count > MAX_MEMOPS)
        return tfw_malformed(s, call, "too many operations");
    const void *raw = tfp_get_ref(in, (size_t)count * sizeof(CUstreamBatchMemOpParams));
    TFW_DONE_READING(call);
    CUresult r = tfw_check_handle(s, TFW_K_CTX, ctx);
    if (r != CUDA_SUCCESS)
        return r;
    CUstreamBatchMemOpParams *ops = count ? malloc(count * sizeof *ops) : NULL;
    if (count && !ops)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (count)
        memcpy(ops, raw, count * sizeof *ops);
    for (uint32_t i = 0; i < count && r == CUDA_SUCCESS; i++)
        r = tfw_memop_check(s, &ops[i]);
    if (r != CUDA_SUCCESS) {
        free(ops);
        return r;
    }
    *p = (CUDA_BATCH_MEM_OP_NODE_PARAMS){.ctx = (CUcontext)(uintptr_t)ctx, .count = count,
                                         .paramArray = ops, .flags = flags};
    return CUDA_SUCCESS;
}

CUresult tfw_custom_cuGraphAddBatchMemOpNode(struct tfw_session *s, struct tfp_reader *in,
                                             struct tfp_writer *out)
{
    static const char call[] = "cuGraphAddBatchMemOpNode";
    struct tfw_node_head h;
    CUresult r = tfw_node_read_head(s, in, &h, call);
    CUDA_BATCH_MEM_OP_NODE_PARAMS p;
    if (r == CUDA_SUCCESS)
        r = memops_read(s, in, &p, call);
    if (r != CUDA_SUCCESS)
        return r;
    CUgraphNode *deps = NULL;
    if ((r = tfw_node_check_head(s, &h, &deps)) == CUDA_SUCCESS && !s->be.cuGraphAddBatchMemOpNode)
        r = CUDA_ERROR_NOT_SUPPORTED;
    CUgraphNode node = NULL;
    if (r == CUDA_SUCCESS)
        r = s->be.cuGraphAddBatchMemOpNode(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps, &p);
    free(p.paramArray);   /* the driver keeps a copy */
    return tfw_node_made(s, out, &h, deps, r, node);
}

static CUresult set_memops(struct tfw_session *s, struct tfp_reader *in, int exec,
                           const char *call)
{
    uint64_t gexec = tfp_get_u64(in), node = tfp_get_u64(in);
    CUDA_BATCH_MEM_OP_NODE_PARAMS p;
    CUresult r = memops_read(s, in, &p, call);
    if (r != CUDA_SUCCESS)
        return r;
    r = tfw_target_check(s, gexec, node, exec);
    if (r == CUDA_SUCCESS && !(exec ? (void *)s->be.cuGraphExecBatchMemOpNodeSetParams
                                    : (void *)s->be.cuGraphBatchMemOpNodeSetParams))
        r = CUDA_ERROR_NOT_SUPPORTED;
    if (r == CUDA_SUCCESS)
        r = exec ? s->be.cuGraphExecBatchMemOpNodeSetParams(GEXEC(gexec), NODE(node), &p)
                 : s->be.cuGraphBatchMemOpNodeSetParams(NODE(node), &p);
    free(p.paramArray);
    return r;
}

CUresult tfw_custom_cuGraphBatchMemOpNodeSetParams(struct tfw_session *s, struct tfp_reader *in,
                                                   struct tfp_writer *out)
{
    (void)out;
    return set_memops(s, in, 0, "cuGraphBatchMemOpNodeSetParams");
}

CUresult tfw_custom_cuGraphExecBatchMemOpNodeSetParams(struct tfw_session *s,
                                                       struct tfp_reader *in,
                                                       struct tfp_writer *out)
{
    (void)out;
    return set_memops(s, in, 1, "cuGraphExecBatchMemOpNodeSetParams");
}

/* ---- read back ---- */

/* The graph the node belongs to at the top: a child graph's or body graph's parent is a node
 * (cuGraphChildGraphNodeGetGraph, conditional bodies), whose graph is one level up. */
static uint64_t root_of(struct tfw_session *s, uint64_t node)
{
    uint64_t g = tfw_handles_parent(&s->handles, node);
    for (int depth = 0; g && depth < 64; depth++) {
        uint64_t up = tfw_handles_parent(&s->handles, g);
        if (!up || tfw_handles_kind(&s->handles, up) != TFW_K_NODE)
            break;
        g = tfw_handles_parent(&s->handles, up);
    }
    return g;
}

/* The bytes of a kernel node's arguments, laid out as the function's parameter buffer: from
 * the argument pointers, or from the `extra` buffer the node was given. */
static void pack_args(const CUDA_KERNEL_NODE_PARAMS *p, unsigned count,
                      const struct tfp_param *layout, uint8_t *args)
{
    const uint8_t *buf = NULL;
    size_t len = 0;
    for (int i = 0; !p->kernelParams && p->extra && i < 64 && p->extra[i] != CU_LAUNCH_PARAM_END;
         i += 2) {
        if (p->extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
            buf = p->extra[i + 1];
        else if (p->extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE && p->extra[i + 1])
            memcpy(&len, p->extra[i + 1], sizeof len);
    }
    for (unsigned i = 0; i < count; i++) {
        uint32_t off = layout[i].offset, size = layout[i].size;
        if (p->kernelParams && p->kernelParams[i])
            memcpy(args + off, p->kernelParams[i], size);
        else if (buf && off + (size_t)size <= len)
            memcpy(args + off, buf + off, size);
    }
}

CUresult tfw_tfi_kernel_node_get(CUgraphNode node, CUDA_KERNEL_NODE_PARAMS *params, uint64_t *root,
                                 unsigned int *count, void *layout, void *args)
{
    struct tfw_session *s = tfw_self;
    NEED_BACKEND(cuGraphKernelNodeGetParams_v2);
    CUDA_KERNEL_NODE_PARAMS p;
    memset(&p, 0, sizeof p);
    CUresult r = s->be.cuGraphKernelNodeGetParams_v2(node, &p);
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t f = (uint64_t)(uintptr_t)(p.func ? (void *)p.func : (void *)p.kern);
    if (p.func && tfw_handles_kind(&s->handles, (uint64_t)(uintptr_t)p.func) == TFW_K_NONE)
        tfw_record_handle(s, TFW_K_FUNC, (uint64_t)(uintptr_t)p.func);   /* forgotten with it */
    memset(args, 0, TFP_MAX_PARAM_BYTES);
    r = tfw_tfi_param_layout((CUfunction)(uintptr_t)f, count, layout);
    if (r != CUDA_SUCCESS)
        return r;
    pack_args(&p, *count, layout, args);
    p.kernelParams = NULL;
    p.extra = NULL;
    *params = p;
    *root = root_of(s, (uint64_t)(uintptr_t)node);
    return CUDA_SUCCESS;
}

/* A host side as the program can name it: a place in one of its shared regions, or an address
 * both processes map alike (tfi_map_host); anything else is not given back. */
static void host_side(struct tfw_session *s, CUmemorytype type, const void **host,
                      uint64_t *region, uint64_t *offset)
{
    *region = *offset = 0;
    if (type != CU_MEMORYTYPE_HOST || !*host)
        return;
    if (tf_region_find(s->conn, *host, 1, region, offset)) {
        *host = NULL;
        return;
    }
    uint64_t p = (uint64_t)(uintptr_t)*host;
    for (size_t i = 0; i < s->hostmaps.n; i++)
        if (p >= s->hostmaps.v[i].base && p - s->hostmaps.v[i].base < s->hostmaps.v[i].size)
            return;
    *host = NULL;
}

CUresult tfw_tfi_memcpy_node_get(CUgraphNode node, CUDA_MEMCPY3D *params, uint64_t *srcRegion,
                                 uint64_t *srcOffset, uint64_t *dstRegion, uint64_t *dstOffset)
{
    struct tfw_session *s = tfw_self;
    NEED_BACKEND(cuGraphMemcpyNodeGetParams);
    CUresult r = s->be.cuGraphMemcpyNodeGetParams(node, params);
    if (r != CUDA_SUCCESS)
        return r;
    const void *dst = params->dstHost;
    host_side(s, params->srcMemoryType, &params->srcHost, srcRegion, srcOffset);
    host_side(s, params->dstMemoryType, &dst, dstRegion, dstOffset);
    params->dstHost = (void *)dst;
    return CUDA_SUCCESS;
}

CUresult tfw_tfi_mem_alloc_node_get(CUgraphNode node, CUDA_MEM_ALLOC_NODE_PARAMS *params,
                                    uint64_t *root, void *descs)
{
    struct tfw_session *s = tfw_self;
    NEED_BACKEND(cuGraphMemAllocNodeGetParams);
    CUDA_MEM_ALLOC_NODE_PARAMS p;
    CUresult r = s->be.cuGraphMemAllocNodeGetParams(node, &p);
    if (r != CUDA_SUCCESS)
        return r;
    size_t n = p.accessDescCount < MAX_ACCESS_DESCS ? p.accessDescCount : MAX_ACCESS_DESCS;
    CUmemAccessDesc *d = descs;
    if (p.poolProps.location.type == CU_MEM_LOCATION_TYPE_DEVICE)
        r = tfw_devmap_to_session(s, &p.poolProps.location.id);
    for (size_t i = 0; r == CUDA_SUCCESS && i < n; i++) {
        d[i] = p.accessDescs[i];
        if (d[i].location.type == CU_MEM_LOCATION_TYPE_DEVICE)
            r = tfw_devmap_to_session(s, &d[i].location.id);
    }
    p.accessDescs = NULL;
    p.accessDescCount = n;
    *params = p;
    *root = root_of(s, (uint64_t)(uintptr_t)node);
    return r;
}

CUresult tfw_tfi_batch_memop_node_get(CUgraphNode node, unsigned int capacity,
                                      CUDA_BATCH_MEM_OP_NODE_PARAMS *params, uint64_t *root,
                                      void *ops)
{
    struct tfw_session *s = tfw_self;
    NEED_BACKEND(cuGraphBatchMemOpNodeGetParams);
    CUDA_BATCH_MEM_OP_NODE_PARAMS p;
    CUresult r = s->be.cuGraphBatchMemOpNodeGetParams(node, &p);
    if (r != CUDA_SUCCESS)
        return r;
    if (p.count && p.paramArray)
        memcpy(ops, p.paramArray, (p.count < capacity ? p.count : capacity) * sizeof *p.paramArray);
    p.paramArray = NULL;
    *params = p;
    *root = root_of(s, (uint64_t)(uintptr_t)node);
    return CUDA_SUCCESS;
}

/* ---- destruction (the session forgets the graph or node and what came from it) ---- */

CUresult tfw_tfi_graph_destroy(CUgraph graph)
{
    struct tfw_session *s = tfw_self;
    NEED_BACKEND(cuGraphDestroy);
    return s->be.cuGraphDestroy(graph);
}

CUresult tfw_tfi_graph_destroy_node(CUgraphNode node)
{
    struct tfw_session *s = tfw_self;
    NEED_BACKEND(cuGraphDestroyNode);
    return s->be.cuGraphDestroyNode(node);
}

/* ---- external semaphore nodes: u32 count, count x u64 semaphore, count x parameters ---- */

#define MAX_SEMS 1024
#define SEM_PARAMS sizeof(CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS)

struct sems {
    unsigned n;
    CUexternalSemaphore *sems;   /* malloc'd copies (one block: handles, then parameters) */
    void *params;
};

/* Reads the node's fields (ending the request); every semaphore must be one the session
 * imported. The caller frees f->sems. */
static CUresult sems_read(struct tfw_session *s, struct tfp_reader *in, struct sems *f,
                          const char *call)
{
    memset(f, 0, sizeof *f);
    uint32_t n = tfp_get_u32(in);
    if (n > MAX_SEMS)
        return tfw_malformed(s, call, "too many semaphores");
    const uint8_t *handles = tfp_get_ref(in, (size_t)n * sizeof(uint64_t));
    const void *params = tfp_get_ref(in, (size_t)n * SEM_PARAMS);
    TFW_DONE_READING(call);
    uint8_t *block = n ? malloc(n * (sizeof(CUexternalSemaphore) + SEM_PARAMS)) : NULL;
    if (n && !block)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *f = (struct sems){n, (CUexternalSemaphore *)block, block + n * sizeof(CUexternalSemaphore)};
    for (uint32_t i = 0; i < n; i++) {
        uint64_t h;
        memcpy(&h, handles + i * sizeof h, sizeof h);
        if (!h || tfw_handles_kind(&s->handles, h) != TFW_K_EXTSEM) {
            free(block);
            f->sems = NULL;
            return CUDA_ERROR_INVALID_HANDLE;
        }
        f->sems[i] = (CUexternalSemaphore)(uintptr_t)h;
    }
    if (n)
        memcpy(f->params, params, n * SEM_PARAMS);
    return CUDA_SUCCESS;
}

static CUresult add_sems(struct tfw_session *s, struct tfp_reader *in, struct tfp_writer *out,
                         int wait, const char *call)
{
    struct tfw_node_head h;
    struct sems f = {0};
    CUresult r = tfw_node_read_head(s, in, &h, call);
    if (r == CUDA_SUCCESS)
        r = sems_read(s, in, &f, call);
    if (r != CUDA_SUCCESS)
        return r;
    CUgraphNode *deps = NULL, node = NULL;
    CUgraph g = (CUgraph)(uintptr_t)h.graph;
    if ((r = tfw_node_check_head(s, &h, &deps)) == CUDA_SUCCESS &&
        !(wait ? (void *)s->be.cuGraphAddExternalSemaphoresWaitNode
               : (void *)s->be.cuGraphAddExternalSemaphoresSignalNode))
        r = CUDA_ERROR_NOT_SUPPORTED;
    CUDA_EXT_SEM_SIGNAL_NODE_PARAMS sp = {f.sems, f.params, f.n};
    CUDA_EXT_SEM_WAIT_NODE_PARAMS wp = {f.sems, f.params, f.n};
    if (r == CUDA_SUCCESS)
        r = wait ? s->be.cuGraphAddExternalSemaphoresWaitNode(&node, g, deps, h.ndeps, &wp)
                 : s->be.cuGraphAddExternalSemaphoresSignalNode(&node, g, deps, h.ndeps, &sp);
    free(f.sems);
    return tfw_node_made(s, out, &h, deps, r, node);
}

CUresult tfw_custom_cuGraphAddExternalSemaphoresSignalNode(struct tfw_session *s,
                                                           struct tfp_reader *in,
                                                           struct tfp_writer *out)
{
    return add_sems(s, in, out, 0, "cuGraphAddExternalSemaphoresSignalNode");
}

CUresult tfw_custom_cuGraphAddExternalSemaphoresWaitNode(struct tfw_session *s,
                                                         struct tfp_reader *in,
                                                         struct tfp_writer *out)
{
    return add_sems(s, in, out, 1, "cuGraphAddExternalSemaphoresWaitNode");
}

/* The four setters: exec says which target, wait which kind of node. */
static CUresult set_sems(struct tfw_session *s, struct tfp_reader *in, int exec, int wait,
                         const char *call)
{
    uint64_t gexec = tfp_get_u64(in), node = tfp_get_u64(in);
    struct sems f;
    CUresult r = sems_read(s, in, &f, call);
    if (r != CUDA_SUCCESS)
        return r;
    r = tfw_target_check(s, gexec, node, exec);
    CUDA_EXT_SEM_SIGNAL_NODE_PARAMS sp = {f.sems, f.params, f.n};
    CUDA_EXT_SEM_WAIT_NODE_PARAMS wp = {f.sems, f.params, f.n};
    struct tf_backend *be = &s->be;
    void *fn = exec ? (wait ? (void *)be->cuGraphExecExternalSemaphoresWaitNodeSetParams
                            : (void *)be->cuGraphExecExternalSemaphoresSignalNodeSetParams)
                    : (wait ? (void *)be->cuGraphExternalSemaphoresWaitNodeSetParams
                            : (void *)be->cuGraphExternalSemaphoresSignalNodeSetParams);
    if (r == CUDA_SUCCESS && !fn)
        r = CUDA_ERROR_NOT_SUPPORTED;
    if (r == CUDA_SUCCESS && exec)
        r = wait ? be->cuGraphExecExternalSemaphoresWaitNodeSetParams(GEXEC(gexec), NODE(node),
                                                                      &wp)
                 : be->cuGraphExecExternalSemaphoresSignalNodeSetParams(GEXEC(gexec), NODE(node),
                                                                        &sp);
    else if (r == CUDA_SUCCESS)
        r = wait ? be->cuGraphExternalSemaphoresWaitNodeSetParams(NODE(node), &wp)
                 : be->cuGraphExternalSemaphoresSignalNodeSetParams(NODE(node), &sp);
    free(f.sems);
    return r;
}

CUresult tfw_custom_cuGraphExternalSemaphoresSignalNodeSetParams(struct tfw_session *s,
                                                                 struct tfp_reader *in,
                                                                 struct tfp_writer *out)
{
    return set_sems(s, in, 0, 0, "cuGraphExternalSemaphoresSignalNodeSetParams");
}

CUresult tfw_custom_cuGraphExternalSemaphoresWaitNodeSetParams(struct tfw_session *s,
                                                               struct tfp_reader *in,
                                                               struct tfp_writer *out)
{
    return set_sems(s, in, 0, 1, "cuGraphExternalSemaphoresWaitNodeSetParams");
}

CUresult tfw_custom_cuGraphExecExternalSemaphoresSignalNodeSetParams(struct tfw_session *s,
                                                                     struct tfp_reader *in,
                                                                     struct tfp_writer *out)
{
    return set_sems(s, in, 1, 0, "cuGraphExecExternalSemaphoresSignalNodeSetParams");
}

CUresult tfw_custom_cuGraphExecExternalSemaphoresWaitNodeSetParams(struct tfw_session *s,
                                                                   struct tfp_reader *in,
                                                                   struct tfp_writer *out)
{
    return set_sems(s, in, 1, 1, "cuGraphExecExternalSemaphoresWaitNodeSetParams");
}

CUresult tfw_tfi_extsem_node_get(CUgraphNode node, unsigned int wait, unsigned int capacity,
                                 unsigned int *count, uint64_t *root, void *sems, void *params)
{
    struct tfw_session *s = tfw_self;
    CUexternalSemaphore *handles;
    const void *values;
    CUresult r;
    if (wait) {
        NEED_BACKEND(cuGraphExternalSemaphoresWaitNodeGetParams);
        CUDA_EXT_SEM_WAIT_NODE_PARAMS p;
        r = s->be.cuGraphExternalSemaphoresWaitNodeGetParams(node, &p);
        handles = p.extSemArray, values = p.paramsArray, *count = p.numExtSems;
    } else {
        NEED_BACKEND(cuGraphExternalSemaphoresSignalNodeGetParams);
        CUDA_EXT_SEM_SIGNAL_NODE_PARAMS p;
        r = s->be.cuGraphExternalSemaphoresSignalNodeGetParams(node, &p);
        handles = p.extSemArray, values = p.paramsArray, *count = p.numExtSems;
    }
    if (r != CUDA_SUCCESS)
        return r;
    unsigned n = *count < capacity ? *count : capacity;
    if (n && handles && values) {
        memcpy(sems, handles, n * sizeof *handles);
        memcpy(params, values, n * SEM_PARAMS);
    }
    *root = root_of(s, (uint64_t)(uintptr_t)node);
    return CUDA_SUCCESS;
}
