/*
 * Stream memory operations: cuStreamWaitValue32/64, cuStreamWriteValue32/64 and
 * cuStreamBatchMemOp (the 8.0/9.0 ABIs and the 11.7 _v2 ones), one work item per call that
 * runs its operations in order when the stream reaches it (a wait polls the word until its
 * condition holds), and batch memory operation graph nodes, which hold the same work item
 * (captured calls become such nodes). Calls stream.c, memory.c, context.c and graph.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graph.h"

#define MEMOP_MAX 256 /* operations in one batch (CU_DEVICE_ATTRIBUTE_MAX... has no cap; NVIDIA's is 256) */

struct memop_work {
    struct sg_work base;
    struct sg_ctx *ctx;
    unsigned flags;
    unsigned count;
    CUstreamBatchMemOpParams ops[]; /* the node getters hand these out */
};

static int wait_satisfied(const struct CUstreamMemOpWaitValueParams_st *w, int is64)
{
    uint64_t cur = is64 ? atomic_load((_Atomic uint64_t *)(uintptr_t)w->address)
                        : atomic_load((_Atomic uint32_t *)(uintptr_t)w->address);
    uint64_t val = is64 ? w->value64 : w->value;
    switch (w->flags & ~(unsigned)CU_STREAM_WAIT_VALUE_FLUSH) {
    case CU_STREAM_WAIT_VALUE_GEQ:
        return is64 ? (int64_t)(cur - val) >= 0 : (int32_t)((uint32_t)cur - (uint32_t)val) >= 0;
    case CU_STREAM_WAIT_VALUE_EQ: return cur == val;
    case CU_STREAM_WAIT_VALUE_AND: return (cur & val) != 0;
    case CU_STREAM_WAIT_VALUE_NOR:
        return is64 ? ~(cur | val) != 0 : (uint32_t)~(cur | val) != 0;
    default: return 1;
    }
}

static void wait_value(struct sg_ctx *c, const struct CUstreamMemOpWaitValueParams_st *w, int is64)
{
    struct timespec nap = {0, 20000}; /* 20 us between polls */
    while (!wait_satisfied(w, is64) && !atomic_load(&c->sticky))
        nanosleep(&nap, NULL);
}

static CUresult memop_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    (void)s;
    struct memop_work *m = (struct memop_work *)w;
    for (unsigned i = 0; i < m->count; i++) {
        const CUstreamBatchMemOpParams *op = &m->ops[i];
        int is64 = op->operation == CU_STREAM_MEM_OP_WAIT_VALUE_64
                   || op->operation == CU_STREAM_MEM_OP_WRITE_VALUE_64;
        uint64_t addr = op->waitValue.address;
        if ((op->operation == CU_STREAM_MEM_OP_WAIT_VALUE_32 || op->operation == CU_STREAM_MEM_OP_WRITE_VALUE_32
             || is64) && !sg_mem_ok(addr, is64 ? 8 : 4))
            return CUDA_ERROR_INVALID_VALUE; /* freed since the call */
        switch (op->operation) {
        case CU_STREAM_MEM_OP_WAIT_VALUE_32:
        case CU_STREAM_MEM_OP_WAIT_VALUE_64:
            wait_value(c, &op->waitValue, is64);
            break;
        case CU_STREAM_MEM_OP_WRITE_VALUE_32:
            atomic_store((_Atomic uint32_t *)(uintptr_t)addr, op->writeValue.value);
            break;
        case CU_STREAM_MEM_OP_WRITE_VALUE_64:
            atomic_store((_Atomic uint64_t *)(uintptr_t)addr, op->writeValue.value64);
            break;
        default: /* barriers and flushes: every access is already coherent host memory */
            atomic_thread_fence(memory_order_seq_cst);
            break;
        }
    }
    return CUDA_SUCCESS;
}

static struct sg_work *memop_clone(const struct sg_work *w)
{
    const struct memop_work *m = (const struct memop_work *)w;
    return sg_work_dup(w, sizeof *m + m->count * sizeof m->ops[0]);
}

/* One operation's checks; v2 is the 11.7 ABI (barriers allowed, no NO_MEMORY_BARRIER). */
static CUresult check_op(const CUstreamBatchMemOpParams *op, int v2)
{
    switch (op->operation) {
    case CU_STREAM_MEM_OP_WAIT_VALUE_32:
    case CU_STREAM_MEM_OP_WAIT_VALUE_64: {
        int is64 = op->operation == CU_STREAM_MEM_OP_WAIT_VALUE_64;
        unsigned how = op->waitValue.flags & ~(unsigned)CU_STREAM_WAIT_VALUE_FLUSH;
        if (how > CU_STREAM_WAIT_VALUE_NOR || op->waitValue.address % (is64 ? 8 : 4)
            || !sg_mem_ok(op->waitValue.address, is64 ? 8 : 4))
            return CUDA_ERROR_INVALID_VALUE;
        return CUDA_SUCCESS;
    }
    case CU_STREAM_MEM_OP_WRITE_VALUE_32:
    case CU_STREAM_MEM_OP_WRITE_VALUE_64: {
        int is64 = op->operation == CU_STREAM_MEM_OP_WRITE_VALUE_64;
        unsigned f = op->writeValue.flags;
        if (f > CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER || (v2 && f)
            || op->writeValue.address % (is64 ? 8 : 4)
            || !sg_mem_ok(op->writeValue.address, is64 ? 8 : 4))
            return CUDA_ERROR_INVALID_VALUE;
        return CUDA_SUCCESS;
    }
    case CU_STREAM_MEM_OP_FLUSH_REMOTE_WRITES:
        return op->flushRemoteWrites.flags ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
    case CU_STREAM_MEM_OP_BARRIER:
        return v2 && op->memoryBarrier.flags <= CU_STREAM_MEMORY_BARRIER_TYPE_GPU
                   ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult sg_memop_work_new(CUcontext ctx, unsigned count, const CUstreamBatchMemOpParams *ops,
                           unsigned flags, int v2, struct sg_work **out)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_resolve(ctx, &c);
    if (r)
        return r;
    if (!count || count > MEMOP_MAX || !ops || flags)
        return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < count; i++)
        if ((r = check_op(&ops[i], v2)) != CUDA_SUCCESS)
            return r;
    struct memop_work *m = sg_work_new(sizeof *m + count * sizeof m->ops[0], SG_W_MEMOP, memop_exec,
                                       memop_clone, NULL);
    if (!m)
        return CUDA_ERROR_OUT_OF_MEMORY;
    m->ctx = c;
    m->flags = flags;
    m->count = count;
    memcpy(m->ops, ops, count * sizeof *ops);
    *out = &m->base;
    return CUDA_SUCCESS;
}

void sg_memop_describe(const struct sg_work *w, CUDA_BATCH_MEM_OP_NODE_PARAMS *out)
{
    struct memop_work *m = (struct memop_work *)w;
    *out = (CUDA_BATCH_MEM_OP_NODE_PARAMS){(CUcontext)m->ctx, m->count, m->ops, m->flags};
}

/* ---- stream entry points ---------------------------------------------------------------------- */

static CUresult batch(CUstream hStream, unsigned count, const CUstreamBatchMemOpParams *ops,
                      unsigned flags, int v2)
{
    struct sg_stream *s;
    struct sg_work *w;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (!r)
        r = sg_memop_work_new((CUcontext)s->ctx, count, ops, flags, v2, &w);
    return r ? r : sg_stream_submit(s, w);
}

static CUresult one_op(CUstream hStream, CUstreamBatchMemOpType op, CUdeviceptr addr,
                       uint64_t value, unsigned flags, int v2)
{
    CUstreamBatchMemOpParams p;
    memset(&p, 0, sizeof p);
    p.operation = op;
    p.waitValue.address = addr;
    if (op == CU_STREAM_MEM_OP_WAIT_VALUE_64 || op == CU_STREAM_MEM_OP_WRITE_VALUE_64)
        p.waitValue.value64 = value;
    else
        p.waitValue.value = (cuuint32_t)value;
    p.waitValue.flags = flags; /* writeValue shares the layout */
    return batch(hStream, 1, &p, 0, v2);
}

CUresult cuStreamBatchMemOp_v2(CUstream stream, unsigned int count,
                               CUstreamBatchMemOpParams *paramArray, unsigned int flags)
{
    return batch(stream, count, paramArray, flags, 1);
}

CUresult cuStreamWaitValue32_v2(CUstream stream, CUdeviceptr addr, cuuint32_t value,
                                unsigned int flags)
{
    return one_op(stream, CU_STREAM_MEM_OP_WAIT_VALUE_32, addr, value, flags, 1);
}

CUresult cuStreamWaitValue64_v2(CUstream stream, CUdeviceptr addr, cuuint64_t value,
                                unsigned int flags)
{
    return one_op(stream, CU_STREAM_MEM_OP_WAIT_VALUE_64, addr, value, flags, 1);
}

CUresult cuStreamWriteValue32_v2(CUstream stream, CUdeviceptr addr, cuuint32_t value,
                                 unsigned int flags)
{
    return one_op(stream, CU_STREAM_MEM_OP_WRITE_VALUE_32, addr, value, flags, 1);
}

CUresult cuStreamWriteValue64_v2(CUstream stream, CUdeviceptr addr, cuuint64_t value,
                                 unsigned int flags)
{
    return one_op(stream, CU_STREAM_MEM_OP_WRITE_VALUE_64, addr, value, flags, 1);
}

/* The 8.0 / 9.0 ABIs: the same arguments; writes may skip the memory barrier, no barriers. */
#undef cuStreamBatchMemOp
#undef cuStreamWaitValue32
#undef cuStreamWaitValue64
#undef cuStreamWriteValue32
#undef cuStreamWriteValue64
CUresult cuStreamBatchMemOp(CUstream stream, unsigned int count,
                            CUstreamBatchMemOpParams *paramArray, unsigned int flags);
CUresult cuStreamWaitValue32(CUstream stream, CUdeviceptr addr, cuuint32_t value, unsigned int flags);
CUresult cuStreamWaitValue64(CUstream stream, CUdeviceptr addr, cuuint64_t value, unsigned int flags);
CUresult cuStreamWriteValue32(CUstream stream, CUdeviceptr addr, cuuint32_t value, unsigned int flags);
CUresult cuStreamWriteValue64(CUstream stream, CUdeviceptr addr, cuuint64_t value, unsigned int flags);

CUresult cuStreamBatchMemOp(CUstream stream, unsigned int count,
                            CUstreamBatchMemOpParams *paramArray, unsigned int flags)
{
    return batch(stream, count, paramArray, flags, 0);
}

CUresult cuStreamWaitValue32(CUstream stream, CUdeviceptr addr, cuuint32_t value, unsigned int flags)
{
    return one_op(stream, CU_STREAM_MEM_OP_WAIT_VALUE_32, addr, value, flags, 0);
}

CUresult cuStreamWaitValue64(CUstream stream, CUdeviceptr addr, cuuint64_t value, unsigned int flags)
{
    return one_op(stream, CU_STREAM_MEM_OP_WAIT_VALUE_64, addr, value, flags, 0);
}

CUresult cuStreamWriteValue32(CUstream stream, CUdeviceptr addr, cuuint32_t value, unsigned int flags)
{
    return one_op(stream, CU_STREAM_MEM_OP_WRITE_VALUE_32, addr, value, flags, 0);
}

CUresult cuStreamWriteValue64(CUstream stream, CUdeviceptr addr, cuuint64_t value, unsigned int flags)
{
    return one_op(stream, CU_STREAM_MEM_OP_WRITE_VALUE_64, addr, value, flags, 0);
}

/* ---- batch memory operation nodes ------------------------------------------------------------- */

static CUresult node_work(const CUDA_BATCH_MEM_OP_NODE_PARAMS *p, struct sg_work **out)
{
    return p ? sg_memop_work_new(p->ctx, p->count, p->paramArray, p->flags, 1, out)
             : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGraphAddBatchMemOpNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                  const CUgraphNode *dependencies, size_t numDependencies,
                                  const CUDA_BATCH_MEM_OP_NODE_PARAMS *nodeParams)
{
    struct sg_work *w = NULL;
    CUresult r = node_work(nodeParams, &w);
    return sg_graph_api_add(phGraphNode, hGraph, dependencies, numDependencies, w, r);
}

CUresult cuGraphBatchMemOpNodeGetParams(CUgraphNode hNode, CUDA_BATCH_MEM_OP_NODE_PARAMS *nodeParams_out)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_BATCH_MEM_OP, &n);
    if (!r && !nodeParams_out)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        sg_memop_describe(n->work, nodeParams_out);
    return r;
}

CUresult cuGraphBatchMemOpNodeSetParams(CUgraphNode hNode, const CUDA_BATCH_MEM_OP_NODE_PARAMS *nodeParams)
{
    struct sg_work *w = NULL;
    CUresult r = node_work(nodeParams, &w);
    return sg_node_replace(hNode, CU_GRAPH_NODE_TYPE_BATCH_MEM_OP, w, r);
}

CUresult cuGraphExecBatchMemOpNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                            const CUDA_BATCH_MEM_OP_NODE_PARAMS *nodeParams)
{
    struct sg_work *w = NULL;
    CUresult r = node_work(nodeParams, &w);
    return sg_exec_replace(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_BATCH_MEM_OP, w, r);
}
