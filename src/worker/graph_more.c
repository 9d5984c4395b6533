/*
 * Capture into a given graph, capture dependency updates and a graph's DOT description (the
 * worker's half of src/stub/graph_more.c; calls_graph_more.def).
 *
 * Every node a request names must be a node of the graph it concerns: the given graph, or the
 * graph the stream is capturing into (asked of the backend). The DOT text is written by the
 * backend into a memory file of this process, named by its /proc/self/fd path, so no path of
 * the node's file system is created, shared between sessions or left behind; the graph is
 * checked as the session's before, so the text shows nothing of another session.
 * May call: graph_int.h, the session's records, the backend table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph_int.h"

#define NEED_BACKEND(fn) \
    do { if (!s->be.fn) return CUDA_ERROR_NOT_SUPPORTED; } while (0)

/* count nodes of graph (each must be one, graph 0: NULL) copied from the request, with their
 * edge data when given. The caller frees *nodes and *edges. */
static CUresult nodes_of(struct tfw_session *s, uint64_t graph, uint64_t count, const void *raw,
                         const void *edge_raw, CUgraphNode **nodes, CUgraphEdgeData **edges)
{
    *nodes = NULL;
    *edges = NULL;
    if (count > TFP_MAX_GRAPH_DEPS)
        return CUDA_ERROR_INVALID_VALUE;
    if (!count)
        return CUDA_SUCCESS;
    *nodes = malloc(count * sizeof **nodes);
    *edges = edge_raw ? malloc(count * sizeof **edges) : NULL;
    if (!*nodes || (edge_raw && !*edges))
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t key;
        memcpy(&key, (const uint8_t *)raw + i * sizeof key, sizeof key);
        if (!graph || !tfw_node_of(s, key, graph))
            return CUDA_ERROR_INVALID_VALUE;
        (*nodes)[i] = (CUgraphNode)(uintptr_t)key;
    }
    if (edge_raw)
        memcpy(*edges, edge_raw, count * sizeof **edges);
    return CUDA_SUCCESS;
}

CUresult tfw_tfi_capture_to_graph(CUstream stream, CUgraph graph, uint64_t count,
                                  const void *deps, const void *edges, CUstreamCaptureMode mode)
{
    struct tfw_session *s = tfw_self;
    if (!graph)
        return CUDA_ERROR_INVALID_VALUE;
    NEED_BACKEND(cuStreamBeginCaptureToGraph);
    CUgraphNode *n;
    CUgraphEdgeData *e;
    CUresult r = nodes_of(s, (uint64_t)(uintptr_t)graph, count, deps, edges, &n, &e);
    if (r == CUDA_SUCCESS)
        r = s->be.cuStreamBeginCaptureToGraph(stream, graph, n, e, count, mode);
    free(n);
    free(e);
    return r;
}

CUresult tfw_tfi_capture_deps(CUstream stream, uint64_t count, const void *deps,
                              const void *edges, unsigned int flags)
{
    struct tfw_session *s = tfw_self;
    NEED_BACKEND(cuStreamGetCaptureInfo_v3);
    NEED_BACKEND(cuStreamUpdateCaptureDependencies_v2);
    CUstreamCaptureStatus status = CU_STREAM_CAPTURE_STATUS_NONE;
    CUgraph graph = NULL;
    CUresult r = s->be.cuStreamGetCaptureInfo_v3(stream, &status, NULL, &graph, NULL, NULL, NULL);
    if (r != CUDA_SUCCESS)
        return r;
    if (status != CU_STREAM_CAPTURE_STATUS_ACTIVE)
        return CUDA_ERROR_ILLEGAL_STATE;
    CUgraphNode *n;
    CUgraphEdgeData *e;
    r = nodes_of(s, (uint64_t)(uintptr_t)graph, count, deps, edges, &n, &e);
    if (r == CUDA_SUCCESS)
        r = s->be.cuStreamUpdateCaptureDependencies_v2(stream, n, e, count, flags);
    free(n);
    free(e);
    return r;
}

/* The whole text is read back when it fits capacity; *size is its length either way. */
CUresult tfw_tfi_graph_dot(CUgraph graph, unsigned int flags, uint64_t capacity, uint64_t *size,
                           void *text)
{
    struct tfw_session *s = tfw_self;
    if (!graph)
        return CUDA_ERROR_INVALID_VALUE;
    NEED_BACKEND(cuGraphDebugDotPrint);
    int fd = memfd_create("tfuse-graph-dot", MFD_CLOEXEC);
    if (fd < 0)
        return CUDA_ERROR_OPERATING_SYSTEM;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    CUresult r = s->be.cuGraphDebugDotPrint(graph, path, flags);
    struct stat st;
    if (r == CUDA_SUCCESS && fstat(fd, &st) != 0)
        r = CUDA_ERROR_OPERATING_SYSTEM;
    if (r == CUDA_SUCCESS) {
        *size = (uint64_t)st.st_size;
        uint64_t want = *size < capacity ? *size : capacity, got = 0;
        while (got < want) {
            ssize_t n = pread(fd, (char *)text + got, want - got, (off_t)got);
            if (n <= 0)
                break;
            got += (uint64_t)n;
        }
        if (got < want)
            r = CUDA_ERROR_OPERATING_SYSTEM;
    }
    close(fd);
    return r;
}
