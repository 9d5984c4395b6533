/*
 * Private structures of CUDA graphs, shared by graph.c (graphs, nodes, edges), graph_exec.c
 * (instantiation, launch, update), capture.c (stream capture), graph_nodes.c (node getters and
 * setters), graph_generic.c (cuGraphAddNode / SetParams), graph_cond.c (conditional nodes),
 * graph_mem.c (allocation and free nodes), graph_dot.c, userobj.c, memop.c and graph_extsem.c.
 * Calls nothing.
 */
#ifndef SOFTGPU_GRAPH_H
#define SOFTGPU_GRAPH_H

#include "softgpu.h"

struct sg_cond;          /* a conditional handle (graph_cond.c) */
struct sg_gmem;          /* one graph allocation (graph_mem.c) */
struct sg_user_object;   /* userobj.c */

/* References to user objects held by a graph or an executable graph (userobj.c). */
struct sg_user_ref {
    struct sg_user_object *obj;
    unsigned count;
};
struct sg_user_refs {
    struct sg_user_ref *v;
    size_t n;
};

struct sg_graph_node {
    struct sg_graph *graph;
    CUgraphNodeType type;
    struct sg_work *work;            /* NULL for empty, child graph and conditional nodes */
    struct sg_graph_node **deps;     /* incoming edges */
    size_t ndeps;
    unsigned long long id;           /* unique in the process */
    unsigned long long origin;       /* id of the node cuGraphClone copied this one from */
    struct sg_graph **bodies;        /* child graph node: 1; conditional node: its bodies */
    unsigned nbodies;
    struct sg_cond *cond;            /* conditional node: its handle (a reference) */
    CUgraphConditionalNodeType cond_type;
    void **kernel_args;              /* kernel getters: pointers into the work's parameters */
    CUlaunchAttributeValue *kernel_attrs; /* cuGraphKernelNodeSetAttribute, by attribute id */
    int has_copy;                    /* explicit memcpy node: copy holds what was given */
    CUDA_MEMCPY3D copy;
};

struct sg_graph {
    struct sg_graph_node **nodes;    /* in creation order */
    size_t n, cap;
    int capturing;                   /* a stream capture is adding to it */
    int owned;                       /* a child graph or body: destroyed with its node */
    int capture_into;                /* cuStreamBeginCaptureToGraph: the caller's graph */
    struct sg_user_refs users;       /* user objects the graph holds */
    struct sg_cond **conds;          /* handles created on this graph (references) */
    size_t nconds;
};

/* graph.c */
struct sg_graph *sg_graph_new(void);
void sg_graph_free(struct sg_graph *g);
CUresult sg_graph_add_work(struct sg_graph *g, struct sg_work *w, struct sg_graph_node *const *deps,
                           size_t ndeps, struct sg_graph_node **out);
CUresult sg_graph_lookup(CUgraph h, struct sg_graph **out);
CUresult sg_node_lookup(CUgraphNode h, struct sg_graph_node **out);
/* The checks and the node creation every cuGraphAdd*Node makes: `made` is the result of making
 * w (freed on any error). */
CUresult sg_graph_api_add(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                          struct sg_work *w, CUresult made);
CUresult sg_graph_clone_into(struct sg_graph *c, const struct sg_graph *g);
/* Kernel work from node parameters (CUDA_KERNEL_NODE_PARAMS_v2). */
CUresult sg_kernel_node_work(const CUDA_KERNEL_NODE_PARAMS *p, struct sg_work **out);
CUresult sg_memset_node_work(const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx, struct sg_work **out);

/* graph_nodes.c */
/* Frees what a node owns besides its work and edges (bodies, handle, getter buffers). */
void sg_node_release_extras(struct sg_graph_node *n);
/* Copies src's extras (bodies, handle, attributes) into its clone dst. */
CUresult sg_node_clone_extras(struct sg_graph_node *dst, const struct sg_graph_node *src);
/* What an executable graph runs for node n: a copy of its work, the program of its child
 * graph or its conditional; NULL for empty nodes. */
CUresult sg_node_exec_work(const struct sg_graph_node *n, struct sg_work **out);
/* The node's type must be `type`: INVALID_VALUE otherwise. */
CUresult sg_node_of_type(CUgraphNode h, CUgraphNodeType type, struct sg_graph_node **out);
/* The setters: a node of `type` (or node h of executable graph hx) gets w, made with result
 * `made` (w is freed on any error). */
CUresult sg_node_replace(CUgraphNode h, CUgraphNodeType type, struct sg_work *w, CUresult made);
CUresult sg_exec_replace(CUgraphExec hx, CUgraphNode h, CUgraphNodeType type, struct sg_work *w,
                         CUresult made);
/* Replaces a node's work item (the getters' buffers follow it). */
void sg_node_set_work(struct sg_graph_node *n, struct sg_work *w);
CUresult sg_child_node_new(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                           CUgraph child, int move);
int sg_graph_has_mem_nodes(const struct sg_graph *g);

/* graph_exec.c */
struct sg_ptr_list {
    void **v;
    size_t n;
};

struct sg_graph_exec {
    size_t n;
    size_t *order;                    /* node indices in a valid execution order */
    struct sg_work **works;           /* by node index; NULL for empty nodes */
    struct sg_graph_node **source;    /* the graph node each index came from */
    struct sg_graph_node **alias;     /* its counterpart in the last cuGraphExecUpdate graph */
    CUgraphNodeType *types;
    uint64_t *shapes;                 /* child graph and conditional nodes: their bodies' shape */
    size_t **deps;                    /* dependency indices by node index */
    size_t *ndeps;
    unsigned char *enabled;
    unsigned long long flags;
    struct sg_user_refs users;        /* the graph's user objects, held while this exists */
    struct sg_ptr_list conds;         /* conditional handles used anywhere in the graph */
    struct sg_ptr_list allocs, frees; /* struct sg_gmem of allocation and free nodes */
    pthread_mutex_t lock;
};

size_t sg_node_index(const struct sg_graph *g, const struct sg_graph_node *n);
/* A fingerprint of nested graphs' structure (types, edges, bodies), for updates. */
uint64_t sg_bodies_shape(struct sg_graph *const *bodies, unsigned n);
/* The nodes of g in a valid execution order, as one work item (child graphs, bodies). */
CUresult sg_graph_program(const struct sg_graph *g, struct sg_work **out);
CUresult sg_exec_lookup(CUgraphExec h, struct sg_graph_exec **out);
/* Replaces what the executable graph runs for node h (of type `type`); takes w. */
CUresult sg_exec_set_work(struct sg_graph_exec *x, CUgraphNode h, CUgraphNodeType type,
                          struct sg_work *w);

/* graph_cond.c */
CUresult sg_cond_node_new(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                          CUDA_CONDITIONAL_NODE_PARAMS *p);
CUresult sg_cond_work_new(const struct sg_graph_node *n, struct sg_work **out);
void sg_cond_retain(struct sg_cond *c);
void sg_cond_release(struct sg_cond *c);
/* At the start of a launch: handles created with CU_GRAPH_COND_ASSIGN_DEFAULT take their
 * default value. */
void sg_cond_launch_reset(struct sg_cond *c);

/* graph_mem.c */
CUresult sg_mem_alloc_node_new(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps,
                               size_t ndeps, CUDA_MEM_ALLOC_NODE_PARAMS *p);
CUresult sg_mem_free_node_new(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps,
                              size_t ndeps, CUdeviceptr dptr);
/* The allocation an allocation or free work item refers to. */
struct sg_gmem *sg_gmem_of(const struct sg_work *w);
void sg_gmem_retain(struct sg_gmem *m);
void sg_gmem_release(struct sg_gmem *m);
/* Instantiation claims a graph's allocations (one executable graph at a time). */
CUresult sg_gmem_claim(struct sg_gmem *m);
void sg_gmem_unclaim(struct sg_gmem *m);
/* A launch's bookkeeping: an allocation it makes must be free; auto_free frees it first. */
int sg_gmem_outstanding(const struct sg_gmem *m);
void sg_gmem_note_launch(struct sg_gmem *m, int allocs, int frees);
void sg_gmem_free_run(struct sg_gmem *m);

/* userobj.c */
CUresult sg_user_refs_copy(struct sg_user_refs *dst, const struct sg_user_refs *src);
void sg_user_refs_release(struct sg_user_refs *refs);

/* memop.c */
CUresult sg_memop_work_new(CUcontext ctx, unsigned count, const CUstreamBatchMemOpParams *ops,
                           unsigned flags, int v2, struct sg_work **out);
void sg_memop_describe(const struct sg_work *w, CUDA_BATCH_MEM_OP_NODE_PARAMS *out);

#endif
