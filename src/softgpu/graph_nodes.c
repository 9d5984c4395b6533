/*
 * Graph node kinds beyond graph.c's constructors, and the per-kind getters and setters: child
 * graph nodes, kernel node parameters (both ABIs) and attributes, memcpy, memset, host and event
 * node parameters, the matching cuGraphExec*SetParams calls, cuGraphNodeFindInClone, and what a
 * node owns besides its work (bodies, handles, getter buffers) with its cloning.
 * Calls graph.c, graph_exec.c, graph_cond.c, graph_mem.c, launch.c, copy.c and event.c.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"

#define KERNEL_ATTR_COUNT (CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING + 1)

/* ---- what a node owns ------------------------------------------------------------------------- */

void sg_node_release_extras(struct sg_graph_node *n)
{
    for (unsigned i = 0; i < n->nbodies; i++)
        sg_graph_free(n->bodies[i]);
    free(n->bodies);
    n->bodies = NULL;
    n->nbodies = 0;
    if (n->cond)
        sg_cond_release(n->cond);
    n->cond = NULL;
    free(n->kernel_args);
    n->kernel_args = NULL;
    free(n->kernel_attrs);
    n->kernel_attrs = NULL;
}

static CUresult clone_bodies(struct sg_graph_node *dst, const struct sg_graph_node *src)
{
    dst->bodies = calloc(src->nbodies, sizeof *dst->bodies);
    if (!dst->bodies)
        return CUDA_ERROR_OUT_OF_MEMORY;
    dst->nbodies = src->nbodies;
    for (unsigned i = 0; i < src->nbodies; i++) {
        struct sg_graph *b = sg_graph_new();
        if (!b)
            return CUDA_ERROR_OUT_OF_MEMORY;
        b->owned = 1;
        dst->bodies[i] = b;
        CUresult r = sg_graph_clone_into(b, src->bodies[i]);
        if (r)
            return r;
    }
    return CUDA_SUCCESS;
}

CUresult sg_node_clone_extras(struct sg_graph_node *dst, const struct sg_graph_node *src)
{
    dst->type = src->type;
    dst->cond_type = src->cond_type;
    dst->has_copy = src->has_copy;
    dst->copy = src->copy;
    if (src->cond) {
        sg_cond_retain(src->cond);
        dst->cond = src->cond;
    }
    if (src->kernel_attrs) {
        dst->kernel_attrs = malloc(KERNEL_ATTR_COUNT * sizeof *dst->kernel_attrs);
        if (!dst->kernel_attrs)
            return CUDA_ERROR_OUT_OF_MEMORY;
        memcpy(dst->kernel_attrs, src->kernel_attrs, KERNEL_ATTR_COUNT * sizeof *dst->kernel_attrs);
    }
    return src->nbodies ? clone_bodies(dst, src) : CUDA_SUCCESS;
}

CUresult sg_node_replace(CUgraphNode h, CUgraphNodeType type, struct sg_work *w, CUresult made)
{
    struct sg_graph_node *n;
    CUresult r = made ? made : sg_node_of_type(h, type, &n);
    if (r) {
        sg_work_free(w);
        return r;
    }
    sg_node_set_work(n, w);
    return CUDA_SUCCESS;
}

CUresult sg_exec_replace(CUgraphExec hx, CUgraphNode h, CUgraphNodeType type, struct sg_work *w,
                         CUresult made)
{
    struct sg_graph_exec *x;
    CUresult r = made ? made : sg_exec_lookup(hx, &x);
    if (r) {
        sg_work_free(w);
        return r;
    }
    return sg_exec_set_work(x, h, type, w);
}

void sg_node_set_work(struct sg_graph_node *n, struct sg_work *w)
{
    sg_work_free(n->work);
    n->work = w;
    n->has_copy = 0;
    free(n->kernel_args); /* pointed into the old work's parameters */
    n->kernel_args = NULL;
}

CUresult sg_node_exec_work(const struct sg_graph_node *n, struct sg_work **out)
{
    *out = NULL;
    switch (n->type) {
    case CU_GRAPH_NODE_TYPE_EMPTY:
        return CUDA_SUCCESS;
    case CU_GRAPH_NODE_TYPE_GRAPH:
        return sg_graph_program(n->bodies[0], out);
    case CU_GRAPH_NODE_TYPE_CONDITIONAL:
        return sg_cond_work_new(n, out);
    default:
        *out = n->work ? n->work->clone(n->work) : NULL;
        return !n->work || *out ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    }
}

CUresult sg_node_of_type(CUgraphNode h, CUgraphNodeType type, struct sg_graph_node **out)
{
    CUresult r = sg_node_lookup(h, out);
    return r ? r : (*out)->type == type ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

int sg_graph_has_mem_nodes(const struct sg_graph *g)
{
    for (size_t i = 0; i < g->n; i++) {
        const struct sg_graph_node *n = g->nodes[i];
        if (n->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC || n->type == CU_GRAPH_NODE_TYPE_MEM_FREE)
            return 1;
        for (unsigned b = 0; b < n->nbodies; b++)
            if (sg_graph_has_mem_nodes(n->bodies[b]))
                return 1;
    }
    return 0;
}

/* ---- child graph nodes ------------------------------------------------------------------------ */

/* A child graph node holding a clone of child, or child itself when its ownership moves. */
CUresult sg_child_node_new(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                           CUgraph child, int move)
{
    struct sg_graph *c, *parent;
    CUresult r = sg_graph_lookup(child, &c);
    if (!r)
        r = sg_graph_lookup(hGraph, &parent);
    if (r)
        return r;
    if (c == parent || c->capturing || c->owned || (!move && sg_graph_has_mem_nodes(c)))
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_graph *body = c;
    if (!move) {
        if (!(body = sg_graph_new()))
            return CUDA_ERROR_OUT_OF_MEMORY;
        if ((r = sg_graph_clone_into(body, c)) != CUDA_SUCCESS) {
            sg_graph_free(body);
            return r;
        }
    }
    struct sg_graph **bodies = malloc(sizeof *bodies);
    r = bodies ? sg_graph_api_add(out, hGraph, deps, ndeps, NULL, CUDA_SUCCESS)
               : CUDA_ERROR_OUT_OF_MEMORY;
    if (r) {
        free(bodies);
        if (!move)
            sg_graph_free(body);
        return r;
    }
    struct sg_graph_node *n = (struct sg_graph_node *)*out;
    body->owned = 1;
    bodies[0] = body;
    n->bodies = bodies;
    n->nbodies = 1;
    n->type = CU_GRAPH_NODE_TYPE_GRAPH;
    return CUDA_SUCCESS;
}

CUresult cuGraphAddChildGraphNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                  const CUgraphNode *dependencies, size_t numDependencies,
                                  CUgraph childGraph)
{
    return sg_child_node_new(phGraphNode, hGraph, dependencies, numDependencies, childGraph, 0);
}

CUresult cuGraphChildGraphNodeGetGraph(CUgraphNode hNode, CUgraph *phGraph)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_GRAPH, &n);
    if (!r && !phGraph)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        *phGraph = (CUgraph)n->bodies[0];
    return r;
}

/* ---- kernel nodes ----------------------------------------------------------------------------- */

static CUresult kernel_params_out(struct sg_graph_node *n, CUDA_KERNEL_NODE_PARAMS *p)
{
    struct sg_func *f;
    struct sg_launch_cfg cfg;
    unsigned char *buf;
    size_t bytes;
    sg_kernel_work_describe(n->work, &f, &cfg, &buf, &bytes);
    int count = ptx_kernel_param_count(f->kernel);
    if (!n->kernel_args && count) {
        if (!(n->kernel_args = calloc((size_t)count, sizeof *n->kernel_args)))
            return CUDA_ERROR_OUT_OF_MEMORY;
        for (int i = 0; i < count; i++) {
            size_t off, size;
            ptx_kernel_param(f->kernel, i, &off, &size);
            n->kernel_args[i] = buf + off;
        }
    }
    *p = (CUDA_KERNEL_NODE_PARAMS){
        .func = (CUfunction)f, .gridDimX = cfg.grid[0], .gridDimY = cfg.grid[1],
        .gridDimZ = cfg.grid[2], .blockDimX = cfg.block[0], .blockDimY = cfg.block[1],
        .blockDimZ = cfg.block[2], .sharedMemBytes = cfg.shared, .kernelParams = n->kernel_args,
        .ctx = (CUcontext)f->module->ctx};
    return CUDA_SUCCESS;
}

CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_KERNEL, &n);
    if (!r && !nodeParams)
        r = CUDA_ERROR_INVALID_VALUE;
    return r ? r : kernel_params_out(n, nodeParams);
}

CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode,
                                           const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    struct sg_work *w = NULL;
    CUresult r = sg_kernel_node_work(nodeParams, &w);
    return sg_exec_replace(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_KERNEL, w, r);
}

/* The 10.0 ABIs: CUDA_KERNEL_NODE_PARAMS_v1 is the _v2 structure without kern and ctx. */
#undef cuGraphAddKernelNode
#undef cuGraphKernelNodeGetParams
#undef cuGraphKernelNodeSetParams
#undef cuGraphExecKernelNodeSetParams
CUresult cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                              const CUgraphNode *dependencies, size_t numDependencies,
                              const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);
CUresult cuGraphKernelNodeGetParams(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);
CUresult cuGraphKernelNodeSetParams(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);
CUresult cuGraphExecKernelNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                        const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);

static const CUDA_KERNEL_NODE_PARAMS *kernel_params_v2(const CUDA_KERNEL_NODE_PARAMS_v1 *v1,
                                                       CUDA_KERNEL_NODE_PARAMS *v2)
{
    if (!v1)
        return NULL;
    memset(v2, 0, sizeof *v2);
    memcpy(v2, v1, sizeof *v1);
    return v2;
}

CUresult cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                              const CUgraphNode *dependencies, size_t numDependencies,
                              const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    CUDA_KERNEL_NODE_PARAMS p;
    return cuGraphAddKernelNode_v2(phGraphNode, hGraph, dependencies, numDependencies,
                                   kernel_params_v2(nodeParams, &p));
}

CUresult cuGraphKernelNodeGetParams(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    CUDA_KERNEL_NODE_PARAMS p;
    CUresult r = nodeParams ? cuGraphKernelNodeGetParams_v2(hNode, &p) : CUDA_ERROR_INVALID_VALUE;
    if (!r)
        memcpy(nodeParams, &p, sizeof *nodeParams);
    return r;
}

CUresult cuGraphKernelNodeSetParams(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    CUDA_KERNEL_NODE_PARAMS p;
    return cuGraphKernelNodeSetParams_v2(hNode, kernel_params_v2(nodeParams, &p));
}

CUresult cuGraphExecKernelNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                        const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    CUDA_KERNEL_NODE_PARAMS p;
    return cuGraphExecKernelNodeSetParams_v2(hGraphExec, hNode, kernel_params_v2(nodeParams, &p));
}

/* Kernel node attributes: the launch attributes a kernel node can carry. Thread-block clusters
 * larger than one block and device-updatable nodes need hardware softgpu does not model. */
static CUresult kernel_attr_check(CUkernelNodeAttrID attr, const CUkernelNodeAttrValue *v)
{
    switch (attr) {
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
        return v->clusterDim.x > 1 || v->clusterDim.y > 1 || v->clusterDim.z > 1
                   ? CUDA_ERROR_NOT_SUPPORTED : CUDA_SUCCESS;
    case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
    case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
    case CU_LAUNCH_ATTRIBUTE_PRIORITY:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
    case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING:
        return CUDA_SUCCESS;
    case CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE:
        return CUDA_ERROR_NOT_SUPPORTED; /* no device-side graph updates */
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult cuGraphKernelNodeSetAttribute(CUgraphNode hNode, CUkernelNodeAttrID attr,
                                       const CUkernelNodeAttrValue *value)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_KERNEL, &n);
    if (!r && !value)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        r = kernel_attr_check(attr, value);
    if (!r && !n->kernel_attrs
        && !(n->kernel_attrs = calloc(KERNEL_ATTR_COUNT, sizeof *n->kernel_attrs)))
        r = CUDA_ERROR_OUT_OF_MEMORY;
    if (!r)
        n->kernel_attrs[attr] = *value;
    return r;
}

CUresult cuGraphKernelNodeGetAttribute(CUgraphNode hNode, CUkernelNodeAttrID attr,
                                       CUkernelNodeAttrValue *value_out)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_KERNEL, &n);
    if (!r && (!value_out || attr <= 0 || attr >= KERNEL_ATTR_COUNT))
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r && attr == CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE)
        r = CUDA_ERROR_NOT_SUPPORTED;
    if (!r) {
        memset(value_out, 0, sizeof *value_out);
        if (n->kernel_attrs)
            *value_out = n->kernel_attrs[attr];
    }
    return r;
}

CUresult cuGraphKernelNodeCopyAttributes(CUgraphNode dst, CUgraphNode src)
{
    struct sg_graph_node *d, *s;
    CUresult r = sg_node_of_type(dst, CU_GRAPH_NODE_TYPE_KERNEL, &d);
    if (!r)
        r = sg_node_of_type(src, CU_GRAPH_NODE_TYPE_KERNEL, &s);
    if (r || d == s)
        return r;
    if (!s->kernel_attrs) {
        free(d->kernel_attrs);
        d->kernel_attrs = NULL;
        return CUDA_SUCCESS;
    }
    if (!d->kernel_attrs && !(d->kernel_attrs = malloc(KERNEL_ATTR_COUNT * sizeof *d->kernel_attrs)))
        return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(d->kernel_attrs, s->kernel_attrs, KERNEL_ATTR_COUNT * sizeof *d->kernel_attrs);
    return CUDA_SUCCESS;
}

/* ---- memcpy and memset nodes ------------------------------------------------------------------ */

CUresult cuGraphMemcpyNodeGetParams(CUgraphNode hNode, CUDA_MEMCPY3D *nodeParams)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_MEMCPY, &n);
    if (!r && !nodeParams)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r && n->has_copy)
        *nodeParams = n->copy;
    else if (!r)
        sg_copy_work_describe(n->work, nodeParams); /* a captured copy */
    return r;
}

CUresult cuGraphMemcpyNodeSetParams(CUgraphNode hNode, const CUDA_MEMCPY3D *nodeParams)
{
    struct sg_graph_node *n;
    struct sg_work *w = NULL;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_MEMCPY, &n);
    if (!r)
        r = sg_copy3d_work_new(nodeParams, &w);
    if (r)
        return r;
    sg_node_set_work(n, w);
    n->copy = *nodeParams;
    n->has_copy = 1;
    return CUDA_SUCCESS;
}

CUresult cuGraphExecMemcpyNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                        const CUDA_MEMCPY3D *copyParams, CUcontext ctx)
{
    struct sg_ctx *c;
    struct sg_work *w = NULL;
    CUresult r = sg_ctx_resolve(ctx, &c);
    if (!r)
        r = sg_copy3d_work_new(copyParams, &w);
    return sg_exec_replace(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_MEMCPY, w, r);
}

CUresult cuGraphMemsetNodeGetParams(CUgraphNode hNode, CUDA_MEMSET_NODE_PARAMS *nodeParams)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_MEMSET, &n);
    if (!r && !nodeParams)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        sg_memset_work_describe(n->work, nodeParams);
    return r;
}

CUresult cuGraphMemsetNodeSetParams(CUgraphNode hNode, const CUDA_MEMSET_NODE_PARAMS *nodeParams)
{
    struct sg_work *w = NULL;
    CUresult r = sg_memset_node_work(nodeParams, NULL, &w);
    return sg_node_replace(hNode, CU_GRAPH_NODE_TYPE_MEMSET, w, r);
}

CUresult cuGraphExecMemsetNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                        const CUDA_MEMSET_NODE_PARAMS *memsetParams, CUcontext ctx)
{
    struct sg_work *w = NULL;
    CUresult r = sg_memset_node_work(memsetParams, ctx, &w);
    return sg_exec_replace(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_MEMSET, w, r);
}

/* ---- host nodes ------------------------------------------------------------------------------- */

static CUresult host_work(const CUDA_HOST_NODE_PARAMS *p, struct sg_work **out)
{
    if (!p || !p->fn)
        return CUDA_ERROR_INVALID_VALUE;
    *out = sg_host_work_new(p->fn, p->userData);
    return *out ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult cuGraphHostNodeGetParams(CUgraphNode hNode, CUDA_HOST_NODE_PARAMS *nodeParams)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, CU_GRAPH_NODE_TYPE_HOST, &n);
    if (!r && !nodeParams)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        sg_host_work_describe(n->work, &nodeParams->fn, &nodeParams->userData);
    return r;
}

CUresult cuGraphHostNodeSetParams(CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *nodeParams)
{
    struct sg_work *w = NULL;
    CUresult r = host_work(nodeParams, &w);
    return sg_node_replace(hNode, CU_GRAPH_NODE_TYPE_HOST, w, r);
}

CUresult cuGraphExecHostNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                      const CUDA_HOST_NODE_PARAMS *nodeParams)
{
    struct sg_work *w = NULL;
    CUresult r = host_work(nodeParams, &w);
    return sg_exec_replace(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_HOST, w, r);
}

/* ---- event record and wait nodes -------------------------------------------------------------- */

static CUresult event_get(CUgraphNode hNode, CUgraphNodeType type, CUevent *out)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, type, &n);
    if (!r && !out)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        *out = (CUevent)sg_work_event(n->work);
    return r;
}

static CUresult event_work(CUevent event, CUgraphNodeType type, struct sg_work **out)
{
    if (!sg_handle_is(event, SG_K_EVENT))
        return CUDA_ERROR_INVALID_HANDLE;
    struct sg_event *e = (struct sg_event *)event;
    *out = type == CU_GRAPH_NODE_TYPE_EVENT_RECORD ? sg_work_event_record_new(e, 0)
                                                   : sg_work_event_wait_new(e, 0);
    return *out ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

static CUresult event_set(CUgraphNode hNode, CUgraphNodeType type, CUevent event)
{
    struct sg_work *w = NULL;
    CUresult r = event_work(event, type, &w);
    return sg_node_replace(hNode, type, w, r);
}

static CUresult exec_event_set(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraphNodeType type,
                               CUevent event)
{
    struct sg_work *w = NULL;
    CUresult r = event_work(event, type, &w);
    return sg_exec_replace(hGraphExec, hNode, type, w, r);
}

CUresult cuGraphEventRecordNodeGetEvent(CUgraphNode hNode, CUevent *event_out)
{
    return event_get(hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event_out);
}

CUresult cuGraphEventRecordNodeSetEvent(CUgraphNode hNode, CUevent event)
{
    return event_set(hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event);
}

CUresult cuGraphEventWaitNodeGetEvent(CUgraphNode hNode, CUevent *event_out)
{
    return event_get(hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event_out);
}

CUresult cuGraphEventWaitNodeSetEvent(CUgraphNode hNode, CUevent event)
{
    return event_set(hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event);
}

CUresult cuGraphExecEventRecordNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event)
{
    return exec_event_set(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event);
}

CUresult cuGraphExecEventWaitNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event)
{
    return exec_event_set(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event);
}

/* ---- clones ----------------------------------------------------------------------------------- */

CUresult cuGraphNodeFindInClone(CUgraphNode *phNode, CUgraphNode hOriginalNode, CUgraph hClonedGraph)
{
    struct sg_graph *g;
    struct sg_graph_node *orig;
    CUresult r = sg_graph_lookup(hClonedGraph, &g);
    if (!r)
        r = sg_node_lookup(hOriginalNode, &orig);
    if (!r && !phNode)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r)
        return r;
    for (size_t i = 0; i < g->n; i++)
        if (g->nodes[i]->origin == orig->id) {
            *phNode = (CUgraphNode)g->nodes[i];
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_INVALID_VALUE;
}
