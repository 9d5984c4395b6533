/*
 * What the worker's graph decoders share (graph.c, graph_mem.c): node requests start with a
 * header (u64 graph, u64 count, count x u64 dependency), read, checked against the session and
 * answered the same way.
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

#endif
