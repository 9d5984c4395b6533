/*
 * Graph node parameters changed and read back in the program's process, batch memory
 * operation and external semaphore nodes (calls_graph_more.def; the worker's half is
 * src/worker/graph_params.c).
 *
 * Setters send their target (tfs_set_node) and then the node's fields through the node
 * kind's one encoder, the one its add uses (graph.c). What is read back must be valid here:
 * the arrays the driver says a node owns (kernel arguments, access descriptors, operations)
 * are kept by the stub per node, from one read until the next read of the node, its
 * destruction or its top graph's (cuGraphDestroy and cuGraphDestroyNode drop them); host sides
 * of copies come back as places in this process's shared regions.
 * May call: graph.c (encoders, node requests), conn.c (shared regions), entry.c (tfi_*).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stub.h"

#undef cuGraphKernelNodeGetParams
CUresult CUDAAPI cuGraphKernelNodeGetParams(CUgraphNode hNode,
                                            CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);

#define MAX_MEMOPS 4096
#define MAX_ACCESS_DESCS 64

/* ---- what the stub keeps for a node: one block, with the top graph it belongs to ---- */

struct kept {
    uint64_t node, root;
    void *mem;
    struct kept *next;
};

#define KEPT_SLOTS 256
static struct kept *kept[KEPT_SLOTS];
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t kept_slot(uint64_t node)
{
    return (size_t)((node >> 4) ^ (node >> 12)) & (KEPT_SLOTS - 1);
}

/* Keeps mem for node (freeing what an earlier read of it left). */
static void keep(CUgraphNode node, uint64_t root, void *mem)
{
    uint64_t key = (uint64_t)(uintptr_t)node;
    void *old = NULL;
    pthread_mutex_lock(&kept_lock);
    struct kept **head = &kept[kept_slot(key)], *k = *head;
    while (k && k->node != key)
        k = k->next;
    if (!k && (k = calloc(1, sizeof *k))) {
        k->node = key;
        k->next = *head;
        *head = k;
    }
    if (k) {
        old = k->mem;
        k->mem = mem;
        k->root = root;
    }
    pthread_mutex_unlock(&kept_lock);
    free(k ? old : mem);   /* out of memory for the record: the read gives up its block */
}

/* Drops what is kept for the node h, or for every node of the graph h. */
static void forget(uint64_t h)
{
    pthread_mutex_lock(&kept_lock);
    for (size_t i = 0; i < KEPT_SLOTS; i++)
        for (struct kept **p = &kept[i]; *p;) {
            struct kept *k = *p;
            if (k->node != h && k->root != h) {
                p = &k->next;
                continue;
            }
            *p = k->next;
            free(k->mem);
            free(k);
        }
    pthread_mutex_unlock(&kept_lock);
}

CUresult CUDAAPI cuGraphDestroy(CUgraph hGraph)
{
    CUresult r = tfi_graph_destroy(hGraph);
    if (r == CUDA_SUCCESS)
        forget((uint64_t)(uintptr_t)hGraph);
    return r;
}

CUresult CUDAAPI cuGraphDestroyNode(CUgraphNode hNode)
{
    CUresult r = tfi_graph_destroy_node(hNode);
    if (r == CUDA_SUCCESS)
        forget((uint64_t)(uintptr_t)hNode);
    return r;
}

/* ---- setters ---- */

struct with_ctx {
    CUcontext ctx;
    const void *p;
};

static CUresult put_memset(struct tfs_call *c, const void *fields)
{
    const struct with_ctx *f = fields;
    tfs_put_memset(c->w, f->ctx, f->p);
    return CUDA_SUCCESS;
}

static CUresult put_memcpy(struct tfs_call *c, const void *fields)
{
    const struct with_ctx *f = fields;
    return tfs_put_copy_node(c, f->ctx, f->p);
}

static CUresult set_memset(uint32_t call, CUgraphExec exec, CUgraphNode node,
                           const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx)
{
    struct with_ctx f = {ctx, p};
    return p ? tfs_set_node(call, exec, node, put_memset, &f) : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuGraphMemsetNodeSetParams(CUgraphNode hNode,
                                            const CUDA_MEMSET_NODE_PARAMS *nodeParams)
{
    return set_memset(TFP_ID_cuGraphMemsetNodeSetParams, NULL, hNode, nodeParams, NULL);
}

CUresult CUDAAPI cuGraphExecMemsetNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                const CUDA_MEMSET_NODE_PARAMS *memsetParams,
                                                CUcontext ctx)
{
    if (!hGraphExec)
        return CUDA_ERROR_INVALID_VALUE;
    return set_memset(TFP_ID_cuGraphExecMemsetNodeSetParams, hGraphExec, hNode, memsetParams,
                      ctx);
}

static CUresult set_memcpy(uint32_t call, CUgraphExec exec, CUgraphNode node,
                           const CUDA_MEMCPY3D *p, CUcontext ctx)
{
    struct with_ctx f = {ctx, p};
    return p ? tfs_set_node(call, exec, node, put_memcpy, &f) : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuGraphMemcpyNodeSetParams(CUgraphNode hNode, const CUDA_MEMCPY3D *nodeParams)
{
    return set_memcpy(TFP_ID_cuGraphMemcpyNodeSetParams, NULL, hNode, nodeParams, NULL);
}

CUresult CUDAAPI cuGraphExecMemcpyNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                const CUDA_MEMCPY3D *copyParams, CUcontext ctx)
{
    if (!hGraphExec)
        return CUDA_ERROR_INVALID_VALUE;
    return set_memcpy(TFP_ID_cuGraphExecMemcpyNodeSetParams, hGraphExec, hNode, copyParams, ctx);
}

/* ---- batch memory operation nodes: u64 ctx, u32 count, u32 flags, count operations ---- */

static int memops_valid(const CUDA_BATCH_MEM_OP_NODE_PARAMS *p)
{
    return p && (!p->count || p->paramArray) && p->count <= MAX_MEMOPS;
}

static CUresult put_memops(struct tfs_call *c, const void *fields)
{
    const CUDA_BATCH_MEM_OP_NODE_PARAMS *p = fields;
    tfp_put_u64(c->w, (uint64_t)(uintptr_t)p->ctx);
    tfp_put_u32(c->w, p->count);
    tfp_put_u32(c->w, p->flags);
    tfp_put(c->w, p->paramArray, p->count * sizeof *p->paramArray);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphAddBatchMemOpNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                          const CUgraphNode *dependencies, size_t numDependencies,
                                          const CUDA_BATCH_MEM_OP_NODE_PARAMS *nodeParams)
{
    if (!memops_valid(nodeParams))
        return CUDA_ERROR_INVALID_VALUE;
    struct tfs_call c;
    CUresult r = tfs_node_begin(&c, TFP_ID_cuGraphAddBatchMemOpNode, phGraphNode, hGraph,
                                dependencies, numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    put_memops(&c, nodeParams);
    return tfs_node_finish(&c, phGraphNode);
}

static CUresult set_memops(uint32_t call, CUgraphExec exec, CUgraphNode node,
                           const CUDA_BATCH_MEM_OP_NODE_PARAMS *p)
{
    return memops_valid(p) ? tfs_set_node(call, exec, node, put_memops, p)
                           : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuGraphBatchMemOpNodeSetParams(CUgraphNode hNode,
                                                const CUDA_BATCH_MEM_OP_NODE_PARAMS *nodeParams)
{
    return set_memops(TFP_ID_cuGraphBatchMemOpNodeSetParams, NULL, hNode, nodeParams);
}

CUresult CUDAAPI cuGraphExecBatchMemOpNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                    const CUDA_BATCH_MEM_OP_NODE_PARAMS *p)
{
    if (!hGraphExec)
        return CUDA_ERROR_INVALID_VALUE;
    return set_memops(TFP_ID_cuGraphExecBatchMemOpNodeSetParams, hGraphExec, hNode, p);
}

CUresult CUDAAPI cuGraphBatchMemOpNodeGetParams(CUgraphNode hNode,
                                                CUDA_BATCH_MEM_OP_NODE_PARAMS *nodeParams_out)
{
    if (!nodeParams_out)
        return CUDA_ERROR_INVALID_VALUE;
    unsigned cap = 16;
    for (;;) {
        CUstreamBatchMemOpParams *ops = malloc(cap * sizeof *ops);
        if (!ops)
            return CUDA_ERROR_OUT_OF_MEMORY;
        CUDA_BATCH_MEM_OP_NODE_PARAMS p;
        uint64_t root = 0;
        CUresult r = tfi_batch_memop_node_get(hNode, cap, &p, &root, ops);
        if (r == CUDA_SUCCESS && p.count > cap && p.count <= MAX_MEMOPS) {
            free(ops);
            cap = p.count;   /* more than we had room for: ask again */
            continue;
        }
        if (r != CUDA_SUCCESS) {
            free(ops);
            return r;
        }
        p.count = p.count < cap ? p.count : cap;
        p.paramArray = ops;
        keep(hNode, root, ops);
        *nodeParams_out = p;
        return CUDA_SUCCESS;
    }
}

/* ---- kernel nodes: the arguments in a block of the stub, pointers first ---- */

CUresult CUDAAPI cuGraphKernelNodeGetParams_v2(CUgraphNode hNode,
                                               CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    if (!nodeParams)
        return CUDA_ERROR_INVALID_VALUE;
    struct tfp_param *layout = malloc(TFP_MAX_PARAMS * sizeof *layout);
    uint8_t *args = malloc(TFP_MAX_PARAM_BYTES);
    CUDA_KERNEL_NODE_PARAMS p;
    uint64_t root = 0;
    unsigned count = 0;
    CUresult r = layout && args ? tfi_kernel_node_get(hNode, &p, &root, &count, layout, args)
                                : CUDA_ERROR_OUT_OF_MEMORY;
    if (r == CUDA_SUCCESS && count > TFP_MAX_PARAMS)
        r = CUDA_ERROR_INVALID_VALUE;
    size_t end = 0, head = ((size_t)count * sizeof(void *) + 15) & ~(size_t)15;
    for (unsigned i = 0; r == CUDA_SUCCESS && i < count; i++)
        if (layout[i].offset + (size_t)layout[i].size > end)
            end = layout[i].offset + (size_t)layout[i].size;
    void **block = r == CUDA_SUCCESS ? malloc(head + end + 1) : NULL;   /* 16-byte aligned */
    if (r == CUDA_SUCCESS && !block)
        r = CUDA_ERROR_OUT_OF_MEMORY;
    if (r == CUDA_SUCCESS && end <= TFP_MAX_PARAM_BYTES) {
        uint8_t *bytes = (uint8_t *)block + head;
        memcpy(bytes, args, end);
        for (unsigned i = 0; i < count; i++)
            block[i] = bytes + layout[i].offset;
        p.kernelParams = block;
        p.extra = NULL;
        keep(hNode, root, block);
        *nodeParams = p;
    } else if (r == CUDA_SUCCESS) {
        free(block);
        r = CUDA_ERROR_INVALID_VALUE;
    }
    free(layout);
    free(args);
    return r;
}

/* CUDA 10's structure is the first part of CUDA 12's. */
CUresult CUDAAPI cuGraphKernelNodeGetParams(CUgraphNode hNode,
                                            CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    CUDA_KERNEL_NODE_PARAMS p;
    CUresult r = nodeParams ? cuGraphKernelNodeGetParams_v2(hNode, &p) : CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        memcpy(nodeParams, &p, sizeof *nodeParams);
    return r;
}

/* ---- memcpy and allocation nodes ---- */

CUresult CUDAAPI cuGraphMemcpyNodeGetParams(CUgraphNode hNode, CUDA_MEMCPY3D *nodeParams)
{
    if (!nodeParams)
        return CUDA_ERROR_INVALID_VALUE;
    CUDA_MEMCPY3D p;
    uint64_t src = 0, src_off = 0, dst = 0, dst_off = 0;
    CUresult r = tfi_memcpy_node_get(hNode, &p, &src, &src_off, &dst, &dst_off);
    if (r != CUDA_SUCCESS)
        return r;
    if (src)
        p.srcHost = tfs_region_ptr(src, src_off, 1);
    if (dst)
        p.dstHost = tfs_region_ptr(dst, dst_off, 1);
    *nodeParams = p;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphMemAllocNodeGetParams(CUgraphNode hNode,
                                              CUDA_MEM_ALLOC_NODE_PARAMS *params_out)
{
    if (!params_out)
        return CUDA_ERROR_INVALID_VALUE;
    CUmemAccessDesc *descs = malloc(MAX_ACCESS_DESCS * sizeof *descs);
    if (!descs)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUDA_MEM_ALLOC_NODE_PARAMS p;
    uint64_t root = 0;
    CUresult r = tfi_mem_alloc_node_get(hNode, &p, &root, descs);
    if (r != CUDA_SUCCESS) {
        free(descs);
        return r;
    }
    p.accessDescCount = p.accessDescCount < MAX_ACCESS_DESCS ? p.accessDescCount
                                                             : MAX_ACCESS_DESCS;
    p.accessDescs = descs;
    keep(hNode, root, descs);
    *params_out = p;
    return CUDA_SUCCESS;
}

/* ---- external semaphore nodes: u32 count, count x u64 semaphore, count x parameters ---- */

_Static_assert(sizeof(CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS) ==
                   sizeof(CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS),
               "signal and wait parameters travel alike");
#define SEM_PARAMS sizeof(CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS)
#define MAX_SEMS 1024

/* The fields of a signal or a wait node (the two structures differ only in their types). */
struct sems {
    unsigned n;
    const CUexternalSemaphore *sems;
    const void *params;
};

static int sems_valid(const void *p, const struct sems *f)
{
    return p && f->n <= MAX_SEMS && (!f->n || (f->sems && f->params));
}

static CUresult put_sems(struct tfs_call *c, const void *fields)
{
    const struct sems *f = fields;
    tfp_put_u32(c->w, f->n);
    for (unsigned i = 0; i < f->n; i++)
        tfp_put_u64(c->w, (uint64_t)(uintptr_t)f->sems[i]);
    tfp_put(c->w, f->params, f->n * SEM_PARAMS);
    return CUDA_SUCCESS;
}

static CUresult add_sems(uint32_t call, CUgraphNode *out, CUgraph graph, const CUgraphNode *deps,
                         size_t ndeps, const void *p, struct sems f)
{
    if (!sems_valid(p, &f))
        return CUDA_ERROR_INVALID_VALUE;
    struct tfs_call c;
    CUresult r = tfs_node_begin(&c, call, out, graph, deps, ndeps);
    if (r != CUDA_SUCCESS)
        return r;
    put_sems(&c, &f);
    return tfs_node_finish(&c, out);
}

static CUresult set_sems(uint32_t call, CUgraphExec exec, CUgraphNode node, const void *p,
                         struct sems f)
{
    return sems_valid(p, &f) ? tfs_set_node(call, exec, node, put_sems, &f)
                             : CUDA_ERROR_INVALID_VALUE;
}

/* A signal or a wait node's parameters as the fields both kinds send. */
#define FIELDS(p) (p ? (struct sems){p->numExtSems, p->extSemArray, p->paramsArray} \
                     : (struct sems){0, NULL, NULL})

CUresult CUDAAPI cuGraphAddExternalSemaphoresSignalNode(
    CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
    size_t numDependencies, const CUDA_EXT_SEM_SIGNAL_NODE_PARAMS *nodeParams)
{
    return add_sems(TFP_ID_cuGraphAddExternalSemaphoresSignalNode, phGraphNode, hGraph,
                    dependencies, numDependencies, nodeParams, FIELDS(nodeParams));
}

CUresult CUDAAPI cuGraphAddExternalSemaphoresWaitNode(
    CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
    size_t numDependencies, const CUDA_EXT_SEM_WAIT_NODE_PARAMS *nodeParams)
{
    return add_sems(TFP_ID_cuGraphAddExternalSemaphoresWaitNode, phGraphNode, hGraph,
                    dependencies, numDependencies, nodeParams, FIELDS(nodeParams));
}

CUresult CUDAAPI cuGraphExternalSemaphoresSignalNodeSetParams(
    CUgraphNode hNode, const CUDA_EXT_SEM_SIGNAL_NODE_PARAMS *nodeParams)
{
    return set_sems(TFP_ID_cuGraphExternalSemaphoresSignalNodeSetParams, NULL, hNode, nodeParams,
                    FIELDS(nodeParams));
}

CUresult CUDAAPI cuGraphExternalSemaphoresWaitNodeSetParams(
    CUgraphNode hNode, const CUDA_EXT_SEM_WAIT_NODE_PARAMS *nodeParams)
{
    return set_sems(TFP_ID_cuGraphExternalSemaphoresWaitNodeSetParams, NULL, hNode, nodeParams,
                    FIELDS(nodeParams));
}

CUresult CUDAAPI cuGraphExecExternalSemaphoresSignalNodeSetParams(
    CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_EXT_SEM_SIGNAL_NODE_PARAMS *nodeParams)
{
    if (!hGraphExec)
        return CUDA_ERROR_INVALID_VALUE;
    return set_sems(TFP_ID_cuGraphExecExternalSemaphoresSignalNodeSetParams, hGraphExec, hNode,
                    nodeParams, FIELDS(nodeParams));
}

CUresult CUDAAPI cuGraphExecExternalSemaphoresWaitNodeSetParams(
    CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_EXT_SEM_WAIT_NODE_PARAMS *nodeParams)
{
    if (!hGraphExec)
        return CUDA_ERROR_INVALID_VALUE;
    return set_sems(TFP_ID_cuGraphExecExternalSemaphoresWaitNodeSetParams, hGraphExec, hNode,
                    nodeParams, FIELDS(nodeParams));
}

/* The node's semaphores and parameters in one block the stub keeps: handles, then parameters. */
static CUresult get_sems(CUgraphNode node, unsigned wait, struct sems *f)
{
    unsigned cap = 4, count = 0;
    for (;;) {
        uint8_t *block = malloc(cap * (sizeof(uint64_t) + SEM_PARAMS));
        if (!block)
            return CUDA_ERROR_OUT_OF_MEMORY;
        uint64_t root = 0, *sems = (uint64_t *)block;
        uint8_t *params = block + cap * sizeof(uint64_t);
        CUresult r = tfi_extsem_node_get(node, wait, cap, &count, &root, sems, params);
        if (r == CUDA_SUCCESS && count > cap && count <= MAX_SEMS) {
            free(block);
            cap = count;   /* more than we had room for: ask again */
            continue;
        }
        if (r == CUDA_SUCCESS && count > cap)  /* more than the worker ever sends */
            r = CUDA_ERROR_NOT_SUPPORTED;
        if (r != CUDA_SUCCESS) {
            free(block);
            return r;
        }
        keep(node, root, block);
        *f = (struct sems){count, (CUexternalSemaphore *)sems, params};
        return CUDA_SUCCESS;
    }
}

CUresult CUDAAPI cuGraphExternalSemaphoresSignalNodeGetParams(
    CUgraphNode hNode, CUDA_EXT_SEM_SIGNAL_NODE_PARAMS *params_out)
{
    struct sems f;
    CUresult r = params_out ? get_sems(hNode, 0, &f) : CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *params_out = (CUDA_EXT_SEM_SIGNAL_NODE_PARAMS){(CUexternalSemaphore *)f.sems,
                                                         f.params, f.n};
    return r;
}

CUresult CUDAAPI cuGraphExternalSemaphoresWaitNodeGetParams(
    CUgraphNode hNode, CUDA_EXT_SEM_WAIT_NODE_PARAMS *params_out)
{
    struct sems f;
    CUresult r = params_out ? get_sems(hNode, 1, &f) : CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *params_out = (CUDA_EXT_SEM_WAIT_NODE_PARAMS){(CUexternalSemaphore *)f.sems, f.params,
                                                       f.n};
    return r;
}
