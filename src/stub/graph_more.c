/*
 * Capture into a given graph, capture dependency updates, a graph's DOT description and user
 * objects, in the program's process (calls_graph_more.def; the worker's halves are
 * src/worker/graph_more.c and userobj.c).
 *
 * The DOT text is made by the worker and written here, at the program's path, in the program's
 * file system. User objects are the backend's, so every reference a graph, an executable graph
 * or a launch holds is counted where the work runs; their destructors run here through the
 * host-function channel (callbacks.c), on its thread, with no lock of the stub held, after the
 * work that used them. Over TCP there is no channel: cuUserObjectCreate answers
 * CUDA_ERROR_NOT_SUPPORTED there (a destructor is a function of this process, as a host node's).
 * May call: callbacks.c (the channel), entry.c (tfi_*).
 */
#include <stdio.h>
#include <stdlib.h>

#include "stub.h"

#undef cuStreamUpdateCaptureDependencies
CUresult CUDAAPI cuStreamUpdateCaptureDependencies(CUstream hStream, CUgraphNode *dependencies,
                                                   size_t numDependencies, unsigned int flags);

#define DOT_FIRST (64u << 10)
#define DOT_MAX (64u << 20)

/* ---- capture ---- */

static CUresult deps_valid(const CUgraphNode *deps, size_t n)
{
    if (n && !deps)
        return CUDA_ERROR_INVALID_VALUE;
    if (n > TFP_MAX_GRAPH_DEPS) {
        tfs_unsupported("capture dependencies: more than 4096 at once");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamBeginCaptureToGraph(CUstream hStream, CUgraph hGraph,
                                             const CUgraphNode *dependencies,
                                             const CUgraphEdgeData *dependencyData,
                                             size_t numDependencies, CUstreamCaptureMode mode)
{
    CUresult r = deps_valid(dependencies, numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    return tfi_capture_to_graph(hStream, hGraph, numDependencies, dependencies,
                                numDependencies ? dependencyData : NULL, mode);
}

CUresult CUDAAPI cuStreamUpdateCaptureDependencies_v2(CUstream hStream, CUgraphNode *dependencies,
                                                      const CUgraphEdgeData *dependencyData,
                                                      size_t numDependencies, unsigned int flags)
{
    CUresult r = deps_valid(dependencies, numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    return tfi_capture_deps(hStream, numDependencies, dependencies,
                            numDependencies ? dependencyData : NULL, flags);
}

CUresult CUDAAPI cuStreamUpdateCaptureDependencies(CUstream hStream, CUgraphNode *dependencies,
                                                   size_t numDependencies, unsigned int flags)
{
    return cuStreamUpdateCaptureDependencies_v2(hStream, dependencies, NULL, numDependencies,
                                                flags);
}

/* ---- DOT ---- */

/* The text as the worker made it: asked with room for most graphs, again with its size. */
CUresult CUDAAPI cuGraphDebugDotPrint(CUgraph hGraph, const char *path, unsigned int flags)
{
    if (!path)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t cap = DOT_FIRST, size = 0;
    char *text = NULL;
    CUresult r;
    for (;;) {
        char *more = realloc(text, cap);
        if (!more) {
            r = CUDA_ERROR_OUT_OF_MEMORY;
            break;
        }
        text = more;
        r = tfi_graph_dot(hGraph, flags, cap, &size, text);
        if (r != CUDA_SUCCESS || size <= cap)
            break;
        if (size > DOT_MAX) {
            tfs_unsupported("cuGraphDebugDotPrint of more than 64 MiB of text");
            r = CUDA_ERROR_NOT_SUPPORTED;
            break;
        }
        cap = size;
    }
    if (r == CUDA_SUCCESS) {
        FILE *f = fopen(path, "w");
        if (!f || fwrite(text, 1, size, f) != size)
            r = CUDA_ERROR_OPERATING_SYSTEM;
        if (f && fclose(f) != 0)
            r = CUDA_ERROR_OPERATING_SYSTEM;
    }
    free(text);
    return r;
}

/* ---- user objects ---- */

enum { UO_RETAIN, UO_RELEASE, UO_GRAPH_RETAIN, UO_GRAPH_RELEASE };

CUresult CUDAAPI cuUserObjectCreate(CUuserObject *object_out, void *ptr, CUhostFn destroy,
                                    unsigned int initialRefcount, unsigned int flags)
{
    if (!object_out || !destroy)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfs_callback_channel();
    uint64_t object = 0;
    if (r == CUDA_SUCCESS)
        r = tfi_user_object_create((uint64_t)(uintptr_t)destroy, (uint64_t)(uintptr_t)ptr,
                                   initialRefcount, flags, &object);
    if (r == CUDA_SUCCESS)
        *object_out = (CUuserObject)(uintptr_t)object;
    return r;
}

CUresult CUDAAPI cuUserObjectRetain(CUuserObject object, unsigned int count)
{
    return tfi_user_object(UO_RETAIN, NULL, (uint64_t)(uintptr_t)object, count, 0);
}

CUresult CUDAAPI cuUserObjectRelease(CUuserObject object, unsigned int count)
{
    return tfi_user_object(UO_RELEASE, NULL, (uint64_t)(uintptr_t)object, count, 0);
}

CUresult CUDAAPI cuGraphRetainUserObject(CUgraph graph, CUuserObject object, unsigned int count,
                                         unsigned int flags)
{
    if (!graph)
        return CUDA_ERROR_INVALID_VALUE;
    return tfi_user_object(UO_GRAPH_RETAIN, graph, (uint64_t)(uintptr_t)object, count, flags);
}

CUresult CUDAAPI cuGraphReleaseUserObject(CUgraph graph, CUuserObject object, unsigned int count)
{
    if (!graph)
        return CUDA_ERROR_INVALID_VALUE;
    return tfi_user_object(UO_GRAPH_RELEASE, graph, (uint64_t)(uintptr_t)object, count, 0);
}
