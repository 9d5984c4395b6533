/*
 * Conditional graph nodes (tfi_add_conditional): made with the backend's cuGraphAddNode_v2; the
 * body graphs the driver creates for the node are recorded as graphs of the session, forgotten
 * with the node, so the program may fill them with nodes of its own.
 * May call: the session's records, the backend table.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker_int.h"

#define MAX_BODIES 4096

/* The dependencies as nodes of graph (each must be one); NULL with *r set otherwise. */
static CUgraphNode *nodes_of(struct tfw_session *s, uint64_t graph, const uint8_t *raw,
                             uint64_t n, CUresult *r)
{
    *r = CUDA_SUCCESS;
    if (!n)
        return NULL;
    CUgraphNode *d = malloc(n * sizeof *d);
    if (!d) {
        *r = CUDA_ERROR_OUT_OF_MEMORY;
        return NULL;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t key;
        memcpy(&key, raw + i * sizeof key, sizeof key);
        if (!key || tfw_handles_kind(&s->handles, key) != TFW_K_NODE ||
            tfw_handles_parent(&s->handles, key) != graph) {
            free(d);
            *r = CUDA_ERROR_INVALID_VALUE;
            return NULL;
        }
        d[i] = (CUgraphNode)(uintptr_t)key;
    }
    return d;
}

CUresult tfw_tfi_add_conditional(CUgraph graph, uint64_t ndeps, const void *deps,
                                 CUgraphConditionalHandle handle, unsigned int type,
                                 unsigned int size, CUcontext ctx, uint64_t *node, void *bodies)
{
    struct tfw_session *s = tfw_self;
    if (!graph || ndeps > TFP_MAX_GRAPH_DEPS || !size || size > MAX_BODIES)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r;
    CUgraphNode *d = nodes_of(s, (uint64_t)(uintptr_t)graph, deps, ndeps, &r);
    if (r != CUDA_SUCCESS)
        return r;
    if (!s->be.cuGraphAddNode_v2) {
        free(d);
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    CUgraphNodeParams p = {.type = CU_GRAPH_NODE_TYPE_CONDITIONAL};
    p.conditional = (CUDA_CONDITIONAL_NODE_PARAMS){.handle = handle,
                                                   .type = (CUgraphConditionalNodeType)type,
                                                   .size = size, .ctx = ctx};
    CUgraphNode made = NULL;
    r = s->be.cuGraphAddNode_v2(&made, graph, d, NULL, ndeps, &p);
    free(d);
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t key = (uint64_t)(uintptr_t)made;
    if (tfw_handles_add_child(&s->handles, key, TFW_K_NODE, (uint64_t)(uintptr_t)graph) != 0)
        tf_error("out of memory recording a graph node: the session will refuse it");
    for (unsigned i = 0; i < size; i++) {
        uint64_t body = (uint64_t)(uintptr_t)(p.conditional.phGraph_out ? p.conditional.phGraph_out[i]
                                                                          : NULL);
        if (body && tfw_handles_add_child(&s->handles, body, TFW_K_GRAPH, key) != 0)
            tf_error("out of memory recording a graph: the session will refuse it");
        memcpy((uint8_t *)bodies + i * sizeof body, &body, sizeof body);
    }
    *node = key;
    return CUDA_SUCCESS;
}
