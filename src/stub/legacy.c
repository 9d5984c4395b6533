/*
 * The stub's own part of the pre-4.0 leftovers, answered in the program's process: CUDA 3.1's
 * cuMemAllocHost, CUDA 3.2's cuTexRefSetAddress2D_v2 (the 2D binding that CUDA 4.1's _v3
 * replaced with the same arguments) and the deprecated context usage count (cuCtxAttach,
 * cuCtxDetach). The other CUDA 3.1 ABIs are src/driverkit/abi32.c's, shared with softgpu; their
 * device allocations are forwarded (calls_legacy.def).
 * May call: the stub's entry points (entry.c, local.c).
 */
#include <pthread.h>
#include <stdlib.h>

#include "stub.h"

#undef cuMemAllocHost
CUresult CUDAAPI cuMemAllocHost(void **pp, unsigned int bytesize);
CUresult CUDAAPI cuCtxAttach(CUcontext *pctx, unsigned int flags);
CUresult CUDAAPI cuCtxDetach(CUcontext ctx);

CUresult CUDAAPI cuTexRefSetAddress2D_v2(CUtexref hTexRef, const CUDA_ARRAY_DESCRIPTOR *desc,
                                         CUdeviceptr dptr, size_t Pitch);

/* CUDA 3.1's page-locked allocation: the program's own memory, as the current ABI's. */
CUresult CUDAAPI cuMemAllocHost(void **pp, unsigned int bytesize)
{
    return cuMemAllocHost_v2(pp, bytesize);
}

CUresult CUDAAPI cuTexRefSetAddress2D_v2(CUtexref hTexRef, const CUDA_ARRAY_DESCRIPTOR *desc,
                                         CUdeviceptr dptr, size_t Pitch)
{
    return cuTexRefSetAddress2D_v3(hTexRef, desc, dptr, Pitch);
}

/* ---- cuCtxAttach / cuCtxDetach: a context's usage count is the one reference its creator
 * holds plus the attachments counted here (the program's process is the only one that holds
 * its contexts); attach adds one to the current context, detach drops one and destroys the
 * context when none is left ---- */

struct attached {
    CUcontext ctx;
    unsigned count;   /* attachments beyond the creator's reference */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct attached *table;
static size_t used, cap;

/* lock held: the entry of ctx, made with count 0 when add; NULL when absent (or no memory). */
static struct attached *entry(CUcontext ctx, int add)
{
    for (size_t i = 0; i < used; i++)
        if (table[i].ctx == ctx)
            return &table[i];
    if (!add)
        return NULL;
    if (used == cap) {
        size_t n = cap ? cap * 2 : 8;
        struct attached *t = realloc(table, n * sizeof *t);
        if (!t)
            return NULL;
        table = t;
        cap = n;
    }
    table[used] = (struct attached){ctx, 0};
    return &table[used++];
}

CUresult CUDAAPI cuCtxAttach(CUcontext *pctx, unsigned int flags)
{
    CUcontext cur = NULL;
    if (!pctx || flags)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = cuCtxGetCurrent(&cur);
    if (r)
        return r;
    if (!cur)
        return CUDA_ERROR_INVALID_CONTEXT;
    pthread_mutex_lock(&lock);
    struct attached *a = entry(cur, 1);
    if (a)
        a->count++;
    pthread_mutex_unlock(&lock);
    if (!a)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *pctx = cur;
    return CUDA_SUCCESS;
}

/* The last reference destroys the context, as cuCtxDestroy would. A context destroyed by
 * cuCtxDestroy while attached leaves its count here; a later context given the same handle
 * would inherit it, which only makes a detach keep it alive longer (never destroy it early). */
CUresult CUDAAPI cuCtxDetach(CUcontext ctx)
{
    CUcontext cur = NULL;
    CUresult r = cuCtxGetCurrent(&cur);
    if (r)
        return r;
    if (!ctx || ctx != cur)
        return CUDA_ERROR_INVALID_CONTEXT;
    pthread_mutex_lock(&lock);
    struct attached *a = entry(ctx, 0);
    int last = !a || a->count == 0;
    if (a && a->count)
        a->count--;
    if (a && last)
        *a = table[--used];
    pthread_mutex_unlock(&lock);
    return last ? cuCtxDestroy_v2(ctx) : CUDA_SUCCESS;
}
