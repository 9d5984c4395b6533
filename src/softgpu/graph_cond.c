/*
 * Conditional nodes: cuGraphConditionalHandleCreate (a handle whose value device code sets
 * with cudaGraphSetConditional, which the PTX interpreter forwards to sg_graph_cond_set), IF /
 * WHILE / SWITCH nodes with their body graphs (made through cuGraphAddNode), and the work item
 * that evaluates the handle on the stream and runs the chosen body programs. Handles created
 * with CU_GRAPH_COND_ASSIGN_DEFAULT take their default value at the start of every launch.
 * Calls graph.c, graph_exec.c and context.c.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"

struct sg_cond {
    _Atomic unsigned value;
    unsigned default_value;
    unsigned flags;
    _Atomic int refs;
    struct sg_ctx *ctx;
};

void sg_cond_retain(struct sg_cond *c) { atomic_fetch_add(&c->refs, 1); }

void sg_cond_release(struct sg_cond *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    sg_handle_del(c);
    free(c);
}

void sg_cond_launch_reset(struct sg_cond *c)
{
    if (c->flags & CU_GRAPH_COND_ASSIGN_DEFAULT)
        atomic_store(&c->value, c->default_value);
}

int sg_graph_cond_set(uint64_t handle, uint32_t value)
{
    void *p = (void *)(uintptr_t)handle;
    if (!sg_handle_is(p, SG_K_COND))
        return -1;
    atomic_store(&((struct sg_cond *)p)->value, value);
    return 0;
}

static CUresult cond_lookup(CUgraphConditionalHandle h, struct sg_cond **out)
{
    void *p = (void *)(uintptr_t)h;
    if (!sg_handle_is(p, SG_K_COND))
        return CUDA_ERROR_INVALID_VALUE;
    *out = p;
    return CUDA_SUCCESS;
}

CUresult cuGraphConditionalHandleCreate(CUgraphConditionalHandle *pHandle_out, CUgraph hGraph,
                                        CUcontext ctx, unsigned int defaultLaunchValue,
                                        unsigned int flags)
{
    struct sg_graph *g;
    struct sg_ctx *c;
    CUresult r = sg_graph_lookup(hGraph, &g);
    if (!r)
        r = sg_ctx_resolve(ctx, &c);
    if (!r && (!pHandle_out || (flags & ~(unsigned)CU_GRAPH_COND_ASSIGN_DEFAULT)))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r)
        return r;
    struct sg_cond *cond = calloc(1, sizeof *cond);
    struct sg_cond **list = cond ? realloc(g->conds, (g->nconds + 1) * sizeof *list) : NULL;
    if (!list) {
        free(cond);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    atomic_store(&cond->value, defaultLaunchValue);
    cond->default_value = defaultLaunchValue;
    cond->flags = flags;
    cond->ctx = c;
    atomic_store(&cond->refs, 1); /* the graph's */
    g->conds = list;
    g->conds[g->nconds++] = cond;
    sg_handle_add(cond, SG_K_COND);
    *pHandle_out = (CUgraphConditionalHandle)(uintptr_t)cond;
    return CUDA_SUCCESS;
}

/* ---- nodes ------------------------------------------------------------------------------------ */

static int body_count_ok(CUgraphConditionalNodeType type, unsigned size)
{
    switch (type) {
    case CU_GRAPH_COND_TYPE_IF: return size == 1 || size == 2;
    case CU_GRAPH_COND_TYPE_WHILE: return size == 1;
    case CU_GRAPH_COND_TYPE_SWITCH: return size >= 1;
    default: return 0;
    }
}

static CUresult new_bodies(unsigned n, struct sg_graph ***out)
{
    struct sg_graph **b = calloc(n, sizeof *b);
    if (!b)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (unsigned i = 0; i < n; i++) {
        if (!(b[i] = sg_graph_new())) {
            while (i--)
                sg_graph_free(b[i]);
            free(b);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        b[i]->owned = 1;
    }
    *out = b;
    return CUDA_SUCCESS;
}

CUresult sg_cond_node_new(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                          CUDA_CONDITIONAL_NODE_PARAMS *p)
{
    struct sg_cond *cond;
    struct sg_ctx *c;
    CUresult r = cond_lookup(p->handle, &cond);
    if (!r)
        r = sg_ctx_resolve(p->ctx, &c);
    if (!r && (!body_count_ok(p->type, p->size) || c != cond->ctx))
        r = CUDA_ERROR_INVALID_VALUE;
    struct sg_graph **bodies = NULL;
    if (!r)
        r = new_bodies(p->size, &bodies);
    if (!r)
        r = sg_graph_api_add(out, hGraph, deps, ndeps, NULL, CUDA_SUCCESS);
    if (r) {
        for (unsigned i = 0; bodies && i < p->size; i++)
            sg_graph_free(bodies[i]);
        free(bodies);
        return r;
    }
    struct sg_graph_node *n = (struct sg_graph_node *)*out;
    n->type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
    n->cond_type = p->type;
    n->bodies = bodies;
    n->nbodies = p->size;
    sg_cond_retain(cond);
    n->cond = cond;
    p->phGraph_out = (CUgraph *)bodies; /* owned by the node */
    return CUDA_SUCCESS;
}

/* ---- the work item ---------------------------------------------------------------------------- */

struct cond_work {
    struct sg_work base;
    struct sg_cond *cond;
    CUgraphConditionalNodeType type;
    unsigned n;
    struct sg_work *bodies[]; /* programs, NULL for an empty body */
};

static CUresult run_body(struct sg_ctx *c, struct sg_stream *s, struct sg_work *body)
{
    return body ? body->exec(c, s, body) : CUDA_SUCCESS;
}

static CUresult cond_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    struct cond_work *cw = (struct cond_work *)w;
    unsigned v = atomic_load(&cw->cond->value);
    CUresult r = CUDA_SUCCESS;
    switch (cw->type) {
    case CU_GRAPH_COND_TYPE_IF:
        if (v || cw->n == 2)
            r = run_body(c, s, cw->bodies[v ? 0 : 1]);
        break;
    case CU_GRAPH_COND_TYPE_WHILE:
        /* the body sets the handle; a sticky error stops the loop */
        while (!r && atomic_load(&cw->cond->value) && !atomic_load(&c->sticky))
            r = run_body(c, s, cw->bodies[0]);
        break;
    case CU_GRAPH_COND_TYPE_SWITCH:
        if (v < cw->n)
            r = run_body(c, s, cw->bodies[v]);
        break;
    default:
        break;
    }
    return r;
}

static void cond_destroy(struct sg_work *w)
{
    struct cond_work *cw = (struct cond_work *)w;
    for (unsigned i = 0; i < cw->n; i++)
        sg_work_free(cw->bodies[i]);
    sg_cond_release(cw->cond);
    free(cw);
}

static struct cond_work *cond_alloc(struct sg_cond *cond, CUgraphConditionalNodeType type,
                                    unsigned n);

static struct sg_work *cond_clone(const struct sg_work *w)
{
    const struct cond_work *src = (const struct cond_work *)w;
    struct cond_work *cw = cond_alloc(src->cond, src->type, src->n);
    for (unsigned i = 0; cw && i < src->n; i++)
        if (src->bodies[i] && !(cw->bodies[i] = src->bodies[i]->clone(src->bodies[i]))) {
            cond_destroy(&cw->base);
            return NULL;
        }
    return cw ? &cw->base : NULL;
}

static struct cond_work *cond_alloc(struct sg_cond *cond, CUgraphConditionalNodeType type,
                                    unsigned n)
{
    struct cond_work *cw = sg_work_new(sizeof *cw + n * sizeof cw->bodies[0], SG_W_CONDITIONAL,
                                       cond_exec, cond_clone, cond_destroy);
    if (!cw)
        return NULL;
    sg_cond_retain(cond);
    cw->cond = cond;
    cw->type = type;
    cw->n = n;
    return cw;
}

CUresult sg_cond_work_new(const struct sg_graph_node *n, struct sg_work **out)
{
    struct cond_work *cw = cond_alloc(n->cond, n->cond_type, n->nbodies);
    if (!cw)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (unsigned i = 0; i < n->nbodies; i++) {
        CUresult r = n->bodies[i]->n ? sg_graph_program(n->bodies[i], &cw->bodies[i])
                                     : CUDA_SUCCESS;
        if (r) {
            cond_destroy(&cw->base);
            return r;
        }
    }
    *out = &cw->base;
    return CUDA_SUCCESS;
}
