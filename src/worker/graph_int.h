/*
 * What the worker's graph decoders share (graph.c, graph_mem.c, graph_params.c, callbacks.c):
 * node requests start with a header (u64 graph, u64 count, count x u64 dependency), read,
 * checked against the session and answered the same way; setters start with their target
 * (u64 executable graph, u64 node); a node kind's fields are read by one helper for its add and
 * its setters.
 */
#ifndef TFUSE_WORKER_GRAPH_INT_H
#define TFUSE_WORKER_GRAPH_INT_H

#include "worker_int.h"

#define TFW_DONE_READING(call) \
    do { if (!tfp_reader_done(in)) return tfw_malformed(s, call, "arguments do not match"); } while (0)

struct tfw_node_head {
    uint64_t graph, ndeps;
    const uint8_t *deps;      /* ndeps u64 in the request, unaligned */
};

CUresult tfw_node_read_head(struct tfw_session *s, struct tfp_reader *in, struct tfw_node_head *h,
                            const char *call);
/* Checks the header; on success *deps is a malloc'd copy of the dependencies (or NULL). */
CUresult tfw_node_check_head(struct tfw_session *s, const struct tfw_node_head *h,
                             CUgraphNode **deps);
/* Records the node the backend made (r: its answer) and replies with it; frees deps. */
CUresult tfw_node_made(struct tfw_session *s, struct tfp_writer *out,
                       const struct tfw_node_head *h, CUgraphNode *deps, CUresult r,
                       CUgraphNode node);

/* A node handle of the session that belongs to graph (graph 0: to any of its graphs). */
int tfw_node_of(struct tfw_session *s, uint64_t node, uint64_t graph);
/* A setter's target (u64 executable graph, u64 node): exec says which kind of setter. */
CUresult tfw_target_check(struct tfw_session *s, uint64_t gexec, uint64_t node, int exec);
/* A node kind's fields as its add and its setters send them, ending the request, checked
 * against the session (graph.c). */
CUresult tfw_memset_node_read(struct tfw_session *s, struct tfp_reader *in, uint64_t *ctx,
                              CUDA_MEMSET_NODE_PARAMS *p, const char *call);
CUresult tfw_copy_node_read(struct tfw_session *s, struct tfp_reader *in, struct tfp_writer *out,
                            uint64_t *ctx, CUDA_MEMCPY3D *m, const char *call);

#endif
