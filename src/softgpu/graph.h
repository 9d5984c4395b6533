/*
 * Private structures of CUDA graphs, shared by graph.c (graphs, nodes, edges), graph_exec.c
 * (instantiation, launch, update) and capture.c (stream capture). Calls nothing.
 */
#ifndef SOFTGPU_GRAPH_H
#define SOFTGPU_GRAPH_H

#include "softgpu.h"

struct sg_graph_node {
    struct sg_graph *graph;
    CUgraphNodeType type;
    struct sg_work *work;            /* NULL for an empty node */
    struct sg_graph_node **deps;     /* incoming edges */
    size_t ndeps;
};

struct sg_graph {
    struct sg_graph_node **nodes;    /* in creation order */
    size_t n, cap;
    int capturing;                   /* a stream capture is adding to it */
};

struct sg_graph *sg_graph_new(void);
void sg_graph_free(struct sg_graph *g);
CUresult sg_graph_add_work(struct sg_graph *g, struct sg_work *w, struct sg_graph_node *const *deps,
                           size_t ndeps, struct sg_graph_node **out);

#endif
