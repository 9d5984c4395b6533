/*
 * The launch API from before CUDA 4.0 (cuFuncSetBlockShape, cuFuncSetSharedSize, cuParamSet*,
 * cuLaunch, cuLaunchGrid, cuLaunchGridAsync), kept in the program's process: each function's
 * block shape, shared memory and parameter bytes are recorded here and a launch becomes
 * cuLaunchKernel with the bytes as CU_LAUNCH_PARAM_BUFFER_POINTER, so it is forwarded, checked
 * and metered like any other launch. cuParamSetTexRef is refused (texture references are bound
 * by module, not by launch, since CUDA 3.2).
 * May call: launch.c (cuLaunchKernel).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stub.h"

#define LEGACY_MAX_PARAM_BYTES 4096   /* the pre-4.0 limit on a launch's parameters */

struct legacy_fn {
    CUfunction f;
    unsigned block[3], shared;
    unsigned size;                    /* cuParamSetSize */
    unsigned char params[LEGACY_MAX_PARAM_BYTES];
    struct legacy_fn *next;
};

static struct legacy_fn *fns;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The record of f, made on first use; NULL when out of memory. Called with lock held. */
static struct legacy_fn *record(CUfunction f)
{
    for (struct legacy_fn *p = fns; p; p = p->next)
        if (p->f == f)
            return p;
    struct legacy_fn *p = calloc(1, sizeof *p);
    if (p) {
        p->f = f;
        p->block[0] = p->block[1] = p->block[2] = 1;
        p->next = fns;
        fns = p;
    }
    return p;
}

/* Runs `body` on the record of f (p) under the lock, then returns. */
#define WITH_RECORD(f, body)                                                                \
    do {                                                                                    \
        if (!(f))                                                                           \
            return CUDA_ERROR_INVALID_HANDLE;                                               \
        pthread_mutex_lock(&lock);                                                          \
        struct legacy_fn *p = record(f);                                                    \
        CUresult r_ = p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;                          \
        if (p) {                                                                            \
            body;                                                                           \
        }                                                                                   \
        pthread_mutex_unlock(&lock);                                                        \
        return r_;                                                                          \
    } while (0)

CUresult CUDAAPI cuFuncSetBlockShape(CUfunction hfunc, int x, int y, int z)
{
    if (x <= 0 || y <= 0 || z <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    WITH_RECORD(hfunc, (p->block[0] = (unsigned)x, p->block[1] = (unsigned)y,
                        p->block[2] = (unsigned)z));
}

CUresult CUDAAPI cuFuncSetSharedSize(CUfunction hfunc, unsigned int bytes)
{
    WITH_RECORD(hfunc, p->shared = bytes);
}

CUresult CUDAAPI cuParamSetSize(CUfunction hfunc, unsigned int numbytes)
{
    if (numbytes > LEGACY_MAX_PARAM_BYTES)
        return CUDA_ERROR_INVALID_VALUE;
    WITH_RECORD(hfunc, p->size = numbytes);
}

CUresult CUDAAPI cuParamSetv(CUfunction hfunc, int offset, void *ptr, unsigned int numbytes)
{
    if (offset < 0 || numbytes > LEGACY_MAX_PARAM_BYTES ||
        (unsigned)offset > LEGACY_MAX_PARAM_BYTES - numbytes || (numbytes && !ptr))
        return CUDA_ERROR_INVALID_VALUE;
    WITH_RECORD(hfunc, memcpy(p->params + offset, ptr, numbytes));
}

CUresult CUDAAPI cuParamSeti(CUfunction hfunc, int offset, unsigned int value)
{
    return cuParamSetv(hfunc, offset, &value, sizeof value);
}

CUresult CUDAAPI cuParamSetf(CUfunction hfunc, int offset, float value)
{
    return cuParamSetv(hfunc, offset, &value, sizeof value);
}

CUresult CUDAAPI cuLaunchGridAsync(CUfunction f, int grid_width, int grid_height, CUstream hStream)
{
    if (!f)
        return CUDA_ERROR_INVALID_HANDLE;
    if (grid_width <= 0 || grid_height <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&lock);
    struct legacy_fn *p = record(f);
    struct legacy_fn snap;
    if (p)
        snap = *p;
    pthread_mutex_unlock(&lock);
    if (!p)
        return CUDA_ERROR_OUT_OF_MEMORY;
    size_t size = snap.size;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, snap.params, CU_LAUNCH_PARAM_BUFFER_SIZE,
                     &size, CU_LAUNCH_PARAM_END};
    return cuLaunchKernel(f, (unsigned)grid_width, (unsigned)grid_height, 1, snap.block[0],
                          snap.block[1], snap.block[2], snap.shared, hStream, NULL, extra);
}

CUresult CUDAAPI cuLaunchGrid(CUfunction f, int grid_width, int grid_height)
{
    return cuLaunchGridAsync(f, grid_width, grid_height, NULL);
}

CUresult CUDAAPI cuLaunch(CUfunction f)
{
    return cuLaunchGridAsync(f, 1, 1, NULL);
}
