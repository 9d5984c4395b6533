/*
 * The worker's hand-written decoders for explicit graph construction, 3D copies and migration
 * hints (calls.def TF_CUSTOM entries naming src/worker/graph.c; the encoders are
 * src/stub/graph.c, wire layouts in docs/forwarding.md).
 *
 * What they enforce: a graph node is a handle of kind NODE recorded as a child of its graph,
 * so it is forgotten with the graph; a dependency or edge must name a node of the very graph
 * the request names, and a request names at most TFP_MAX_GRAPH_DEPS of them; every device
 * range a node or copy names (memset extent, both 3D copy sides with saturating arithmetic) must
 * lie in one of the session's allocations, and a host side must lie in one of the client's
 * shared regions; kernel node arguments are decoded by the launch path's decoder (kparams.h).
 * Migration hints on the stub's managed memory (a memfd both processes map: nothing to move)
 * are checked and answered here; on anything else they go to the backend, which refuses them as
 * a driver does.
 * May call: the backend table, session helpers (worker.c, session.c), devmap.h, kparams.h.
 */
#include <stdlib.h>
#include <string.h>

#include "devmap.h"
#include "kparams.h"
#include "log.h"
#include "graph_int.h"
#include "worker_int.h"

#define NEED_BACKEND(fn) \
    do { if (!s->be.fn) return CUDA_ERROR_NOT_SUPPORTED; } while (0)
#define DONE_READING TFW_DONE_READING

/* ---- node headers: u64 graph, u64 count, count x u64 dependency ---- */

CUresult tfw_node_read_head(struct tfw_session *s, struct tfp_reader *in, struct tfw_node_head *h,
                          const char *call)
{
    h->graph = tfp_get_u64(in);
    h->ndeps = tfp_get_u64(in);
    if (h->ndeps > TFP_MAX_GRAPH_DEPS)
        return tfw_malformed(s, call, "too many dependencies");
    h->deps = tfp_get_ref(in, (size_t)h->ndeps * sizeof(uint64_t));
    return CUDA_SUCCESS;
}

static uint64_t node_at(const uint8_t *array, uint64_t i)
{
    uint64_t v;
    memcpy(&v, array + i * sizeof v, sizeof v);
    return v;
}

int tfw_node_of(struct tfw_session *s, uint64_t node, uint64_t graph)
{
    return node && tfw_handles_kind(&s->handles, node) == TFW_K_NODE &&
           (!graph || tfw_handles_parent(&s->handles, node) == graph);
}

static CUresult check_graph(struct tfw_session *s, uint64_t graph)
{
    return graph ? tfw_check_handle(s, TFW_K_GRAPH, graph) : CUDA_ERROR_INVALID_VALUE;
}

CUresult tfw_node_check_head(struct tfw_session *s, const struct tfw_node_head *h,
                             CUgraphNode **deps)
{
    *deps = NULL;
    CUresult r = check_graph(s, h->graph);
    if (r != CUDA_SUCCESS)
        return r;
    for (uint64_t i = 0; i < h->ndeps; i++)
        if (!tfw_node_of(s, node_at(h->deps, i), h->graph))
            return CUDA_ERROR_INVALID_VALUE;
    if (!h->ndeps)
        return CUDA_SUCCESS;
    *deps = malloc(h->ndeps * sizeof **deps);
    if (!*deps)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < h->ndeps; i++)
        (*deps)[i] = (CUgraphNode)(uintptr_t)node_at(h->deps, i);
    return CUDA_SUCCESS;
}

CUresult tfw_node_made(struct tfw_session *s, struct tfp_writer *out, const struct tfw_node_head *h,
                          CUgraphNode *deps, CUresult r, CUgraphNode node)
{
    free(deps);
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t key = (uint64_t)(uintptr_t)node;
    if (key && tfw_handles_add_child(&s->handles, key, TFW_K_NODE, h->graph) != 0)
        tf_error("out of memory recording a graph node: the session will refuse it");
    tfp_put_u64(out, key);
    return CUDA_SUCCESS;
}

CUresult tfw_custom_cuGraphAddEmptyNode(struct tfw_session *s, struct tfp_reader *in,
                                        struct tfp_writer *out)
{
    struct tfw_node_head h;
    CUresult r = tfw_node_read_head(s, in, &h, "cuGraphAddEmptyNode");
    if (r != CUDA_SUCCESS)
        return r;
    DONE_READING("cuGraphAddEmptyNode");
    CUgraphNode *deps;
    if ((r = tfw_node_check_head(s, &h, &deps)) != CUDA_SUCCESS)
        return r;
    CUgraphNode node = NULL;
    r = s->be.cuGraphAddEmptyNode
            ? s->be.cuGraphAddEmptyNode(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps)
            : CUDA_ERROR_NOT_SUPPORTED;
    return tfw_node_made(s, out, &h, deps, r, node);
}

static CUresult event_node(struct tfw_session *s, struct tfp_reader *in, struct tfp_writer *out,
                           PFN_cuGraphAddEventRecordNode_v11010 add, const char *call)
{
    struct tfw_node_head h;
    CUresult r = tfw_node_read_head(s, in, &h, call);
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t event = tfp_get_u64(in);
    DONE_READING(call);
    if ((r = tfw_check_handle(s, TFW_K_EVENT, event)) != CUDA_SUCCESS)
        return r;
    CUgraphNode *deps;
    if ((r = tfw_node_check_head(s, &h, &deps)) != CUDA_SUCCESS)
        return r;
    CUgraphNode node = NULL;
    r = add ? add(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps, (CUevent)(uintptr_t)event)
            : CUDA_ERROR_NOT_SUPPORTED;
    return tfw_node_made(s, out, &h, deps, r, node);
}

CUresult tfw_custom_cuGraphAddEventRecordNode(struct tfw_session *s, struct tfp_reader *in,
                                              struct tfp_writer *out)
{
    return event_node(s, in, out, s->be.cuGraphAddEventRecordNode, "cuGraphAddEventRecordNode");
}

CUresult tfw_custom_cuGraphAddEventWaitNode(struct tfw_session *s, struct tfp_reader *in,
                                            struct tfp_writer *out)
{
    return event_node(s, in, out, s->be.cuGraphAddEventWaitNode, "cuGraphAddEventWaitNode");
}

/* A memset node's fields (tfs_put_memset): u64 ctx, u64 dst, u64 pitch, u32 value, u32 element
 * size, u64 width (elements), u64 height; they end the request. The context must be the
 * session's and the whole 2D extent one of its allocations. */
CUresult tfw_memset_node_read(struct tfw_session *s, struct tfp_reader *in, uint64_t *ctx,
                              CUDA_MEMSET_NODE_PARAMS *p, const char *call)
{
    *ctx = tfp_get_u64(in);
    memset(p, 0, sizeof *p);
    p->dst = tfp_get_u64(in);
    p->pitch = tfp_get_u64(in);
    p->value = tfp_get_u32(in);
    p->elementSize = tfp_get_u32(in);
    p->width = tfp_get_u64(in);
    p->height = tfp_get_u64(in);
    DONE_READING(call);
    CUresult r = tfw_check_handle(s, TFW_K_CTX, *ctx);
    if (r != CUDA_SUCCESS)
        return r;
    if (p->elementSize != 1 && p->elementSize != 2 && p->elementSize != 4)
        return CUDA_ERROR_INVALID_VALUE;
    return tfw_check_range(s, p->dst, tfp_span2d(p->pitch, tfp_mul(p->width, p->elementSize),
                                                 p->height));
}

CUresult tfw_custom_cuGraphAddMemsetNode(struct tfw_session *s, struct tfp_reader *in,
                                         struct tfp_writer *out)
{
    static const char call[] = "cuGraphAddMemsetNode";
    struct tfw_node_head h;
    CUresult r = tfw_node_read_head(s, in, &h, call);
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t ctx;
    CUDA_MEMSET_NODE_PARAMS p;
    if ((r = tfw_memset_node_read(s, in, &ctx, &p, call)) != CUDA_SUCCESS)
        return r;
    CUgraphNode *deps;
    if ((r = tfw_node_check_head(s, &h, &deps)) != CUDA_SUCCESS)
        return r;
    CUgraphNode node = NULL;
    r = s->be.cuGraphAddMemsetNode
            ? s->be.cuGraphAddMemsetNode(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps, &p,
                                         (CUcontext)(uintptr_t)ctx)
            : CUDA_ERROR_NOT_SUPPORTED;
    return tfw_node_made(s, out, &h, deps, r, node);
}

/* ---- copies: each side a device pointer or a place in a shared region ---- */

enum { SIDE_DEVICE = 0, SIDE_REGION = 1 };

struct side {
    uint32_t kind;
    uint64_t ptr;             /* SIDE_DEVICE */
    int shared;               /* SIDE_REGION: the client found it in a region */
    uint64_t rid, roff;
    uint64_t x, y, z, pitch, rows;
};

struct copy {
    struct side src, dst;
    uint64_t width, height, depth;
};

static void read_side(struct tfw_session *s, struct tfp_reader *in, struct side *d)
{
    memset(d, 0, sizeof *d);
    d->kind = tfp_get_u32(in);
    if (d->kind == SIDE_DEVICE)
        d->ptr = tfp_get_u64(in);
    else if (d->kind == SIDE_REGION)
        d->shared = tfw_get_out(s, in, &d->rid, &d->roff);
    else
        in->bad = 1;
    uint64_t v[5];
    tfp_get(in, v, sizeof v);
    d->x = v[0], d->y = v[1], d->z = v[2], d->pitch = v[3], d->rows = v[4];
}

static void read_copy(struct tfw_session *s, struct tfp_reader *in, struct copy *c)
{
    read_side(s, in, &c->src);
    read_side(s, in, &c->dst);
    c->width = tfp_get_u64(in);
    c->height = tfp_get_u64(in);
    c->depth = tfp_get_u64(in);
}

/* Checks one side against the session and fills the driver's description of it. */
static CUresult resolve_side(struct tfw_session *s, struct tfp_writer *out, const struct side *d,
                             const struct copy *c, CUmemorytype *type, const void **host,
                             CUdeviceptr *dev)
{
    if ((c->height > 1 || c->depth > 1) && d->pitch < c->width)
        return CUDA_ERROR_INVALID_VALUE;
    if (c->depth > 1 && d->rows < c->height)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t extent = tfp_extent3d(d->x, d->y, d->z, d->pitch, d->rows, c->width, c->height,
                                   c->depth);
    if (d->kind == SIDE_DEVICE) {
        CUresult r = tfw_check_range(s, d->ptr, extent ? extent : 1);
        *type = CU_MEMORYTYPE_DEVICE;
        *dev = (CUdeviceptr)d->ptr;
        return r;
    }
    if (!d->shared)
        return CUDA_ERROR_NOT_SUPPORTED;   /* the stub never sends this: host memory we lack */
    void *p = tfw_out_buffer(s, out, 1, d->rid, d->roff, extent);
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;   /* not the client's region (request marked malformed) */
    *type = CU_MEMORYTYPE_HOST;
    *host = p;
    return CUDA_SUCCESS;
}

static CUresult resolve_copy(struct tfw_session *s, struct tfp_writer *out, const struct copy *c,
                             CUDA_MEMCPY3D *m)
{
    memset(m, 0, sizeof *m);
    const void *src_host = NULL, *dst_host = NULL;
    CUresult r = resolve_side(s, out, &c->src, c, &m->srcMemoryType, &src_host, &m->srcDevice);
    if (r == CUDA_SUCCESS)
        r = resolve_side(s, out, &c->dst, c, &m->dstMemoryType, &dst_host, &m->dstDevice);
    if (r != CUDA_SUCCESS)
        return r;
    m->srcHost = src_host;
    m->dstHost = (void *)dst_host;
    m->srcXInBytes = c->src.x, m->srcY = c->src.y, m->srcZ = c->src.z;
    m->srcPitch = c->src.pitch, m->srcHeight = c->src.rows;
    m->dstXInBytes = c->dst.x, m->dstY = c->dst.y, m->dstZ = c->dst.z;
    m->dstPitch = c->dst.pitch, m->dstHeight = c->dst.rows;
    m->WidthInBytes = c->width, m->Height = c->height, m->Depth = c->depth;
    return CUDA_SUCCESS;
}

/* A memcpy node's fields (tfs_put_copy_node): u64 ctx, the copy; they end the request. */
CUresult tfw_copy_node_read(struct tfw_session *s, struct tfp_reader *in, struct tfp_writer *out,
                            uint64_t *ctx, CUDA_MEMCPY3D *m, const char *call)
{
    *ctx = tfp_get_u64(in);
    struct copy c;
    read_copy(s, in, &c);
    DONE_READING(call);
    CUresult r = tfw_check_handle(s, TFW_K_CTX, *ctx);
    return r != CUDA_SUCCESS ? r : resolve_copy(s, out, &c, m);
}

CUresult tfw_custom_cuGraphAddMemcpyNode(struct tfw_session *s, struct tfp_reader *in,
                                         struct tfp_writer *out)
{
    static const char call[] = "cuGraphAddMemcpyNode";
    struct tfw_node_head h;
    CUresult r = tfw_node_read_head(s, in, &h, call);
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t ctx;
    CUDA_MEMCPY3D m;
    if ((r = tfw_copy_node_read(s, in, out, &ctx, &m, call)) != CUDA_SUCCESS)
        return r;
    CUgraphNode *deps;
    if ((r = tfw_node_check_head(s, &h, &deps)) != CUDA_SUCCESS)
        return r;
    CUgraphNode node = NULL;
    r = s->be.cuGraphAddMemcpyNode
            ? s->be.cuGraphAddMemcpyNode(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps, &m,
                                         (CUcontext)(uintptr_t)ctx)
            : CUDA_ERROR_NOT_SUPPORTED;
    return tfw_node_made(s, out, &h, deps, r, node);
}

/* Request: u64 stream (0 for cuMemcpy3D), the copy. */
static CUresult copy3d(struct tfw_session *s, struct tfp_reader *in, struct tfp_writer *out,
                       int async, const char *call)
{
    uint64_t stream = tfp_get_u64(in);
    s->last_stream = (CUstream)(uintptr_t)stream;
    struct copy c;
    read_copy(s, in, &c);
    DONE_READING(call);
    CUresult r = tfw_check_handle(s, TFW_K_STREAM, stream);
    CUDA_MEMCPY3D m;
    if (r == CUDA_SUCCESS)
        r = resolve_copy(s, out, &c, &m);
    if (r != CUDA_SUCCESS)
        return r;
    if (!async) {
        NEED_BACKEND(cuMemcpy3D_v2);
        return s->be.cuMemcpy3D_v2(&m);
    }
    NEED_BACKEND(cuMemcpy3DAsync_v2);
    return s->be.cuMemcpy3DAsync_v2(&m, (CUstream)(uintptr_t)stream);
}

CUresult tfw_custom_cuMemcpy3D_v2(struct tfw_session *s, struct tfp_reader *in,
                                  struct tfp_writer *out)
{
    return copy3d(s, in, out, 0, "cuMemcpy3D");
}

CUresult tfw_custom_cuMemcpy3DAsync_v2(struct tfw_session *s, struct tfp_reader *in,
                                       struct tfp_writer *out)
{
    return copy3d(s, in, out, 1, "cuMemcpy3DAsync");
}

/* ---- kernel nodes: u64 func, u64 kern, u64 ctx, geometry, the launch path's arguments ---- */

struct kernel_node {
    struct tfw_launch l;
    uint64_t kern, ctx;
};

static CUresult read_kernel(struct tfw_session *s, struct tfp_reader *in, struct kernel_node *k,
                            const char *call)
{
    memset(k, 0, sizeof *k);
    k->l.f = tfp_get_u64(in);
    k->kern = tfp_get_u64(in);
    k->ctx = tfp_get_u64(in);
    for (int i = 0; i < 3; i++)
        k->l.grid[i] = tfp_get_u32(in);
    for (int i = 0; i < 3; i++)
        k->l.block[i] = tfp_get_u32(in);
    k->l.shmem = tfp_get_u32(in);
    return tfw_read_kernel_params(s, in, &k->l, call);   /* ends the request */
}

static CUresult resolve_kernel(struct tfw_session *s, struct kernel_node *k,
                               CUDA_KERNEL_NODE_PARAMS *p)
{
    CUresult r;
    if (!k->l.f && !k->kern)
        return CUDA_ERROR_INVALID_VALUE;
    if ((r = tfw_check_handle(s, TFW_K_FUNC, k->l.f)) != CUDA_SUCCESS ||
        (r = tfw_check_handle(s, TFW_K_KERN, k->kern)) != CUDA_SUCCESS ||
        (r = tfw_check_handle(s, TFW_K_CTX, k->ctx)) != CUDA_SUCCESS)
        return r;
    memset(p, 0, sizeof *p);
    p->func = (CUfunction)(uintptr_t)k->l.f;
    p->kern = (CUkernel)(uintptr_t)k->kern;
    p->ctx = (CUcontext)(uintptr_t)k->ctx;
    p->gridDimX = k->l.grid[0], p->gridDimY = k->l.grid[1], p->gridDimZ = k->l.grid[2];
    p->blockDimX = k->l.block[0], p->blockDimY = k->l.block[1], p->blockDimZ = k->l.block[2];
    p->sharedMemBytes = k->l.shmem;
    p->kernelParams = k->l.use_extra ? NULL : k->l.params;
    p->extra = k->l.use_extra ? k->l.extra : NULL;
    return CUDA_SUCCESS;
}

CUresult tfw_custom_cuGraphAddKernelNode_v2(struct tfw_session *s, struct tfp_reader *in,
                                            struct tfp_writer *out)
{
    static const char call[] = "cuGraphAddKernelNode";
    struct tfw_node_head h;
    CUresult r = tfw_node_read_head(s, in, &h, call);
    if (r != CUDA_SUCCESS)
        return r;
    struct kernel_node *k = malloc(sizeof *k);   /* 8 KiB of argument pointers */
    if (!k)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUDA_KERNEL_NODE_PARAMS p;
    CUgraphNode *deps = NULL;
    if ((r = read_kernel(s, in, k, call)) == CUDA_SUCCESS &&
        (r = resolve_kernel(s, k, &p)) == CUDA_SUCCESS)
        r = tfw_node_check_head(s, &h, &deps);
    CUgraphNode node = NULL;
    if (r == CUDA_SUCCESS)
        r = s->be.cuGraphAddKernelNode_v2
                ? s->be.cuGraphAddKernelNode_v2(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps,
                                                &p)
                : CUDA_ERROR_NOT_SUPPORTED;
    free(k);   /* the driver copied the argument values */
    return tfw_node_made(s, out, &h, deps, r, node);
}

/* A setter's target: an executable graph of the session for the Exec setters, none for a graph
 * node's; the node one of the session's. */
CUresult tfw_target_check(struct tfw_session *s, uint64_t gexec, uint64_t node, int exec)
{
    if (exec ? !gexec : gexec != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = exec ? tfw_check_handle(s, TFW_K_GEXEC, gexec) : CUDA_SUCCESS;
    if (r == CUDA_SUCCESS && !tfw_node_of(s, node, 0))
        r = CUDA_ERROR_INVALID_VALUE;
    return r;
}

/* Request: u64 executable graph (0 for a graph's node), u64 node, the kernel node. */
static CUresult set_kernel_params(struct tfw_session *s, struct tfp_reader *in, int exec,
                                  const char *call)
{
    uint64_t gexec = tfp_get_u64(in);
    uint64_t node = tfp_get_u64(in);
    struct kernel_node *k = malloc(sizeof *k);
    if (!k)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUDA_KERNEL_NODE_PARAMS p;
    CUresult r = read_kernel(s, in, k, call);
    if (r == CUDA_SUCCESS)
        r = tfw_target_check(s, gexec, node, exec);
    if (r == CUDA_SUCCESS)
        r = resolve_kernel(s, k, &p);
    if (r == CUDA_SUCCESS && exec)
        r = s->be.cuGraphExecKernelNodeSetParams_v2
                ? s->be.cuGraphExecKernelNodeSetParams_v2((CUgraphExec)(uintptr_t)gexec,
                                                          (CUgraphNode)(uintptr_t)node, &p)
                : CUDA_ERROR_NOT_SUPPORTED;
    else if (r == CUDA_SUCCESS)
        r = s->be.cuGraphKernelNodeSetParams_v2
                ? s->be.cuGraphKernelNodeSetParams_v2((CUgraphNode)(uintptr_t)node, &p)
                : CUDA_ERROR_NOT_SUPPORTED;
    free(k);
    return r;
}

CUresult tfw_custom_cuGraphKernelNodeSetParams_v2(struct tfw_session *s, struct tfp_reader *in,
                                                  struct tfp_writer *out)
{
    return set_kernel_params(s, in, 0, "cuGraphKernelNodeSetParams");
}

CUresult tfw_custom_cuGraphExecKernelNodeSetParams_v2(struct tfw_session *s,
                                                      struct tfp_reader *in,
                                                      struct tfp_writer *out)
{
    return set_kernel_params(s, in, 1, "cuGraphExecKernelNodeSetParams");
}

/* ---- edges: u64 graph, u64 n, n x from, n x to, u32 has edge data, [n x CUgraphEdgeData] ---- */

typedef CUresult (*edges_fn)(CUgraph, const CUgraphNode *, const CUgraphNode *,
                             const CUgraphEdgeData *, size_t);

/* Adds or removes edges: every end must be a node of the graph. */
static CUresult edges(struct tfw_session *s, struct tfp_reader *in, edges_fn fn, const char *call)
{
    uint64_t graph = tfp_get_u64(in);
    uint64_t n = tfp_get_u64(in);
    if (n > TFP_MAX_GRAPH_DEPS)
        return tfw_malformed(s, call, "too many edges");
    const uint8_t *from = tfp_get_ref(in, (size_t)n * sizeof(uint64_t));
    const uint8_t *to = tfp_get_ref(in, (size_t)n * sizeof(uint64_t));
    uint32_t has_data = tfp_get_u32(in);
    if (has_data > 1)
        return tfw_malformed(s, call, "bad edge data flag");
    const void *data = has_data ? tfp_get_ref(in, (size_t)n * sizeof(CUgraphEdgeData)) : NULL;
    DONE_READING(call);
    CUresult r = check_graph(s, graph);
    if (r != CUDA_SUCCESS)
        return r;
    for (uint64_t i = 0; i < n; i++)
        if (!tfw_node_of(s, node_at(from, i), graph) || !tfw_node_of(s, node_at(to, i), graph))
            return CUDA_ERROR_INVALID_VALUE;
    if (!fn)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUgraphNode *ends = n ? malloc(2 * n * sizeof *ends) : NULL;
    CUgraphEdgeData *data_copy = has_data && n ? malloc(n * sizeof *data_copy) : NULL;
    if ((n && !ends) || (has_data && n && !data_copy)) {
        free(ends);
        free(data_copy);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    for (uint64_t i = 0; i < n; i++) {
        ends[i] = (CUgraphNode)(uintptr_t)node_at(from, i);
        ends[n + i] = (CUgraphNode)(uintptr_t)node_at(to, i);
    }
    if (data_copy)
        memcpy(data_copy, data, n * sizeof *data_copy);
    r = fn((CUgraph)(uintptr_t)graph, ends, ends ? ends + n : NULL, data_copy, n);
    free(ends);
    free(data_copy);
    return r;
}

CUresult tfw_custom_cuGraphAddDependencies_v2(struct tfw_session *s, struct tfp_reader *in,
                                              struct tfp_writer *out)
{
    (void)out;
    return edges(s, in, s->be.cuGraphAddDependencies_v2, "cuGraphAddDependencies");
}

CUresult tfw_custom_cuGraphRemoveDependencies_v2(struct tfw_session *s, struct tfp_reader *in,
                                                 struct tfp_writer *out)
{
    (void)out;
    return edges(s, in, s->be.cuGraphRemoveDependencies_v2, "cuGraphRemoveDependencies");
}

/* A child graph node: the child must be a graph of the session (the node embeds a copy). */
CUresult tfw_custom_cuGraphAddChildGraphNode(struct tfw_session *s, struct tfp_reader *in,
                                             struct tfp_writer *out)
{
    struct tfw_node_head h;
    CUresult r = tfw_node_read_head(s, in, &h, "cuGraphAddChildGraphNode");
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t child = tfp_get_u64(in);
    DONE_READING("cuGraphAddChildGraphNode");
    if ((r = check_graph(s, child)) != CUDA_SUCCESS)
        return r;
    CUgraphNode *deps;
    if ((r = tfw_node_check_head(s, &h, &deps)) != CUDA_SUCCESS)
        return r;
    CUgraphNode node = NULL;
    r = s->be.cuGraphAddChildGraphNode
            ? s->be.cuGraphAddChildGraphNode(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps,
                                             (CUgraph)(uintptr_t)child)
            : CUDA_ERROR_NOT_SUPPORTED;
    return tfw_node_made(s, out, &h, deps, r, node);
}

/* ---- listing a graph's nodes ---- */

/* Nodes of captured or cloned graphs become known here: each listed node is recorded as a node
 * of its graph, so later requests may name it. */
CUresult tfw_tfi_graph_nodes(CUgraph hGraph, uint64_t capacity, uint64_t *count, void *nodes)
{
    struct tfw_session *s = tfw_self;
    if (!hGraph)
        return CUDA_ERROR_INVALID_VALUE;
    if (!s->be.cuGraphGetNodes)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUgraphNode *list = capacity ? calloc(capacity, sizeof *list) : NULL;
    if (capacity && !list)
        return CUDA_ERROR_OUT_OF_MEMORY;
    size_t n = capacity;
    CUresult r = s->be.cuGraphGetNodes(hGraph, list, &n);
    if (r == CUDA_SUCCESS) {
        for (uint64_t i = 0; i < capacity; i++) {
            uint64_t key = (uint64_t)(uintptr_t)list[i];
            if (key && tfw_handles_add_child(&s->handles, key, TFW_K_NODE,
                                             (uint64_t)(uintptr_t)hGraph) != 0)
                tf_error("out of memory recording a graph node: the session will refuse it");
            memcpy((uint8_t *)nodes + i * sizeof key, &key, sizeof key);
        }
        *count = n;
    }
    free(list);
    return r;
}

/* ---- migration hints ---- */

/* Checks a location and gives the backend's form of it (device ordinals translated). */
static CUresult backend_location(struct tfw_session *s, const CUmemLocation *loc,
                                 CUmemLocation *be_loc)
{
    *be_loc = *loc;
    switch (loc->type) {
    case CU_MEM_LOCATION_TYPE_DEVICE: {
        int count = 0;
        if (!s->be.cuDeviceGetCount || s->be.cuDeviceGetCount(&count) != CUDA_SUCCESS)
            return CUDA_ERROR_NOT_SUPPORTED;
        CUdevice dev;
        if (loc->id < 0 || loc->id >= count ||
            tfw_devmap_to_backend(s, loc->id, &dev) != CUDA_SUCCESS)
            return CUDA_ERROR_INVALID_DEVICE;
        be_loc->id = dev;
        return CUDA_SUCCESS;
    }
    case CU_MEM_LOCATION_TYPE_HOST:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

/* Request: u64 pointer, u64 count, CUmemLocation, u32 flags, u64 stream. */
CUresult tfw_custom_cuMemPrefetchAsync_v2(struct tfw_session *s, struct tfp_reader *in,
                                          struct tfp_writer *out)
{
    uint64_t p = tfp_get_u64(in), count = tfp_get_u64(in);
    CUmemLocation loc, be_loc;
    tfp_get(in, &loc, sizeof loc);
    uint32_t flags = tfp_get_u32(in);
    uint64_t stream = tfp_get_u64(in);
    s->last_stream = (CUstream)(uintptr_t)stream;
    DONE_READING("cuMemPrefetchAsync");
    CUresult r = tfw_check_handle(s, TFW_K_STREAM, stream);
    if (r == CUDA_SUCCESS && (flags || !count || tfw_check_range(s, p, count) != CUDA_SUCCESS))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        r = backend_location(s, &loc, &be_loc);
    if (r == CUDA_SUCCESS && tfw_managed_here(s, p, count))
        return tfw_advice_prefetched(p, count, loc);   /* nothing to move: remembered */
    if (r != CUDA_SUCCESS)
        return r;
    NEED_BACKEND(cuMemPrefetchAsync_v2);
    return s->be.cuMemPrefetchAsync_v2((CUdeviceptr)p, count, be_loc, flags,
                                       (CUstream)(uintptr_t)stream);
}

/* Request: u64 pointer, u64 count, u32 advice, CUmemLocation. */
CUresult tfw_custom_cuMemAdvise_v2(struct tfw_session *s, struct tfp_reader *in,
                                   struct tfp_writer *out)
{
    uint64_t p = tfp_get_u64(in), count = tfp_get_u64(in);
    uint32_t advice = tfp_get_u32(in);
    CUmemLocation loc, be_loc;
    tfp_get(in, &loc, sizeof loc);
    DONE_READING("cuMemAdvise");
    if (!count || tfw_check_range(s, p, count) != CUDA_SUCCESS ||
        advice < CU_MEM_ADVISE_SET_READ_MOSTLY || advice > CU_MEM_ADVISE_UNSET_ACCESSED_BY)
        return CUDA_ERROR_INVALID_VALUE;
    /* Read-mostly advice names no location. */
    int located = advice != CU_MEM_ADVISE_SET_READ_MOSTLY &&
                  advice != CU_MEM_ADVISE_UNSET_READ_MOSTLY;
    be_loc = loc;
    CUresult r = located ? backend_location(s, &loc, &be_loc) : CUDA_SUCCESS;
    if (r == CUDA_SUCCESS && tfw_managed_here(s, p, count))
        return tfw_advice_apply(p, count, (CUmem_advise)advice, loc);   /* pages never move */
    if (r != CUDA_SUCCESS)
        return r;
    NEED_BACKEND(cuMemAdvise_v2);
    return s->be.cuMemAdvise_v2((CUdeviceptr)p, count, (CUmem_advise)advice, be_loc);
}

/* ---- a stream's capture ---- */

/* The capture's dependencies become nodes of its graph, so later requests may name them. */
CUresult tfw_tfi_capture_info(CUstream hStream, CUstreamCaptureStatus *status, cuuint64_t *id,
                              CUgraph *graph, uint64_t capacity, uint64_t *count, void *deps,
                              void *edges)
{
    struct tfw_session *s = tfw_self;
    if (!s->be.cuStreamGetCaptureInfo_v3)
        return CUDA_ERROR_NOT_SUPPORTED;
    const CUgraphNode *dep = NULL;
    const CUgraphEdgeData *edge = NULL;
    size_t n = 0;
    *graph = NULL;
    CUresult r = s->be.cuStreamGetCaptureInfo_v3(hStream, status, id, graph, &dep, &edge, &n);
    if (r != CUDA_SUCCESS)
        return r;
    *count = n;
    for (uint64_t i = 0; i < n && i < capacity; i++) {
        uint64_t key = (uint64_t)(uintptr_t)dep[i];
        if (key && tfw_handles_add_child(&s->handles, key, TFW_K_NODE,
                                         (uint64_t)(uintptr_t)*graph) != 0)
            tf_error("out of memory recording a graph node: the session will refuse it");
        memcpy((uint8_t *)deps + i * sizeof key, &key, sizeof key);
        CUgraphEdgeData e = {0};
        if (edge)
            e = edge[i];
        memcpy((uint8_t *)edges + i * sizeof e, &e, sizeof e);
    }
    return CUDA_SUCCESS;
}
