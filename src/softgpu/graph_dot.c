/*
 * cuGraphDebugDotPrint: writes a graph as a Graphviz DOT file, one statement per line. Every
 * node is `n<id> [label="<TYPE>\n<details>"]`, every edge `n<from> -> n<to>`; child graphs and
 * conditional bodies are `subgraph cluster_<id>_<body>` blocks whose roots hang from their
 * node by a dashed edge. Details follow the node kind (kernel name and launch shape, copy
 * extent, memset value, event handle, allocation address and size, conditional type, each
 * semaphore and its value). Calls graph.c, launch.c, copy.c, event.c, graph_mem.c, memop.c
 * and extmem.c.
 */
#include <stdio.h>

#include "graph.h"

static const char *type_name(CUgraphNodeType t)
{
    switch (t) {
    case CU_GRAPH_NODE_TYPE_KERNEL: return "KERNEL";
    case CU_GRAPH_NODE_TYPE_MEMCPY: return "MEMCPY";
    case CU_GRAPH_NODE_TYPE_MEMSET: return "MEMSET";
    case CU_GRAPH_NODE_TYPE_HOST: return "HOST";
    case CU_GRAPH_NODE_TYPE_GRAPH: return "GRAPH";
    case CU_GRAPH_NODE_TYPE_EMPTY: return "EMPTY";
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT: return "WAIT_EVENT";
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD: return "EVENT_RECORD";
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: return "MEM_ALLOC";
    case CU_GRAPH_NODE_TYPE_MEM_FREE: return "MEM_FREE";
    case CU_GRAPH_NODE_TYPE_BATCH_MEM_OP: return "BATCH_MEM_OP";
    case CU_GRAPH_NODE_TYPE_CONDITIONAL: return "CONDITIONAL";
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL: return "EXT_SEMAS_SIGNAL";
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT: return "EXT_SEMAS_WAIT";
    default: return "UNKNOWN";
    }
}

/* Each semaphore with its fence value (a timeline's; binary semaphores ignore it). */
static void sems_details(FILE *f, const struct sg_work *w)
{
    CUexternalSemaphore *sems;
    const void *params;
    unsigned n;
    sg_extsem_work_describe(w, &sems, &params, &n);
    const CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS *p = params; /* the wait's have its layout */
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "\\nsemaphore %p value %llu", (void *)sems[i], p[i].params.fence.value);
}

static void node_details(FILE *f, const struct sg_graph_node *n)
{
    switch (n->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        struct sg_func *fn;
        struct sg_launch_cfg c;
        unsigned char *params;
        size_t bytes;
        sg_kernel_work_describe(n->work, &fn, &c, &params, &bytes);
        fprintf(f, "\\n%s\\n<<<(%u,%u,%u),(%u,%u,%u),%u>>>", ptx_kernel_name(fn->kernel), c.grid[0],
                c.grid[1], c.grid[2], c.block[0], c.block[1], c.block[2], c.shared);
        break;
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY: {
        CUDA_MEMCPY3D p;
        if (n->has_copy)
            p = n->copy;
        else
            sg_copy_work_describe(n->work, &p);
        fprintf(f, "\\n%zux%zux%zu bytes", p.WidthInBytes, p.Height, p.Depth);
        break;
    }
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        CUDA_MEMSET_NODE_PARAMS p;
        sg_memset_work_describe(n->work, &p);
        fprintf(f, "\\ndst 0x%llx value %u x%u", (unsigned long long)p.dst, p.value, p.elementSize);
        break;
    }
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
        fprintf(f, "\\nevent %p", (void *)sg_work_event(n->work));
        break;
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC:
    case CU_GRAPH_NODE_TYPE_MEM_FREE: {
        CUDA_MEM_ALLOC_NODE_PARAMS p = {0};
        CUdeviceptr d = 0;
        if (n->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC && cuGraphMemAllocNodeGetParams((CUgraphNode)n, &p) == 0)
            fprintf(f, "\\n0x%llx %zu bytes", (unsigned long long)p.dptr, p.bytesize);
        else if (cuGraphMemFreeNodeGetParams((CUgraphNode)n, &d) == 0)
            fprintf(f, "\\n0x%llx", (unsigned long long)d);
        break;
    }
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL:
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT:
        sems_details(f, n->work);
        break;
    case CU_GRAPH_NODE_TYPE_CONDITIONAL:
        fprintf(f, "\\n%s", n->cond_type == CU_GRAPH_COND_TYPE_IF ? "IF"
                            : n->cond_type == CU_GRAPH_COND_TYPE_WHILE ? "WHILE" : "SWITCH");
        break;
    default:
        break;
    }
}

static void print_graph(FILE *f, const struct sg_graph *g, int depth)
{
    for (size_t i = 0; i < g->n; i++) {
        const struct sg_graph_node *n = g->nodes[i];
        fprintf(f, "%*sn%llu [shape=box,label=\"%s", depth * 2, "", n->id, type_name(n->type));
        node_details(f, n);
        fprintf(f, "\"];\n");
        for (unsigned b = 0; b < n->nbodies; b++) {
            fprintf(f, "%*ssubgraph cluster_%llu_%u {\n", depth * 2, "", n->id, b);
            fprintf(f, "%*slabel=\"body %u\";\n", depth * 2 + 2, "", b);
            print_graph(f, n->bodies[b], depth + 1);
            fprintf(f, "%*s}\n", depth * 2, "");
            for (size_t k = 0; k < n->bodies[b]->n; k++)
                if (!n->bodies[b]->nodes[k]->ndeps)
                    fprintf(f, "%*sn%llu -> n%llu [style=dashed];\n", depth * 2, "", n->id,
                            n->bodies[b]->nodes[k]->id);
        }
    }
    for (size_t i = 0; i < g->n; i++)
        for (size_t k = 0; k < g->nodes[i]->ndeps; k++)
            fprintf(f, "%*sn%llu -> n%llu;\n", depth * 2, "", g->nodes[i]->deps[k]->id,
                    g->nodes[i]->id);
}

CUresult cuGraphDebugDotPrint(CUgraph hGraph, const char *path, unsigned int flags)
{
    (void)flags; /* every detail softgpu knows is always written */
    struct sg_graph *g;
    CUresult r = sg_graph_lookup(hGraph, &g);
    if (r)
        return r;
    if (!path)
        return CUDA_ERROR_INVALID_VALUE;
    FILE *f = fopen(path, "w");
    if (!f)
        return CUDA_ERROR_OPERATING_SYSTEM;
    fprintf(f, "digraph softgpu_graph {\n");
    print_graph(f, g, 1);
    fprintf(f, "}\n");
    return fclose(f) == 0 ? CUDA_SUCCESS : CUDA_ERROR_OPERATING_SYSTEM;
}
