/*
 * cuStreamGetCaptureInfo_v2/_v3 in the program's process: the driver hands out a pointer to
 * the capture's current dependencies that stays valid until the next query. The stub keeps
 * them (and their edge data) in a per-thread buffer filled by tfi_capture_info, growing it
 * when the capture has more dependencies than it holds.
 * May call: entry.c (tfi_capture_info).
 */
#include <stdlib.h>

#include "stub.h"

#define FIRST_CAPACITY 16

static __thread struct {
    CUgraphNode *deps;
    CUgraphEdgeData *edges;
    uint64_t cap;
} held;

static int hold(uint64_t cap)
{
    if (cap <= held.cap)
        return 0;
    CUgraphNode *d = realloc(held.deps, cap * sizeof *d);
    if (d)
        held.deps = d;
    CUgraphEdgeData *e = d ? realloc(held.edges, cap * sizeof *e) : NULL;
    if (e)
        held.edges = e;
    if (!d || !e)
        return -1;
    held.cap = cap;
    return 0;
}

static CUresult capture_info(CUstream hStream, CUstreamCaptureStatus *status, cuuint64_t *id,
                             CUgraph *graph, const CUgraphNode **deps,
                             const CUgraphEdgeData **edges, size_t *count)
{
    CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
    cuuint64_t cid = 0;
    CUgraph g = NULL;
    uint64_t n = 0, want = held.cap ? held.cap : FIRST_CAPACITY;
    CUresult r;
    do {
        if (hold(want) != 0)
            return CUDA_ERROR_OUT_OF_MEMORY;
        r = tfi_capture_info(hStream, &st, &cid, &g, held.cap, &n, held.deps, held.edges);
        want = n;
    } while (r == CUDA_SUCCESS && n > held.cap);
    if (r != CUDA_SUCCESS)
        return r;
    if (status)
        *status = st;
    if (st == CU_STREAM_CAPTURE_STATUS_ACTIVE) {
        if (id)
            *id = cid;
        if (graph)
            *graph = g;
        if (deps)
            *deps = n ? held.deps : NULL;
        if (edges)
            *edges = n ? held.edges : NULL;
        if (count)
            *count = n;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                           cuuint64_t *id_out, CUgraph *graph_out,
                                           const CUgraphNode **dependencies_out,
                                           size_t *numDependencies_out)
{
    return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, NULL,
                        numDependencies_out);
}

CUresult CUDAAPI cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                           cuuint64_t *id_out, CUgraph *graph_out,
                                           const CUgraphNode **dependencies_out,
                                           const CUgraphEdgeData **edgeData_out,
                                           size_t *numDependencies_out)
{
    return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out,
                        edgeData_out, numDependencies_out);
}
