/*
 * Kernel launches from the stub: the parameter layout of each function is asked of the worker
 * once (tfi_param_layout, which uses the backend's cuFuncGetParamInfo) and cached; a launch
 * packs the arguments into one buffer by that layout and is pipelined (not waited for). Graph
 * kernel nodes (graph.c) encode their arguments with the same tfs_kargs_* helpers.
 * Wire layout: docs/forwarding.md. May call: conn.c, entry.c.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stub.h"

struct layout {
    uint64_t func;
    uint32_t count;
    uint32_t bytes;              /* end of the last parameter */
    struct tfp_param p[];
};

#define LAYOUT_SLOTS 4096        /* open addressing; functions of one program */
static struct layout *layouts[LAYOUT_SLOTS];
static size_t nlayouts;
static pthread_mutex_t layout_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(uint64_t f)
{
    f ^= f >> 29;
    f *= 0xbf58476d1ce4e5b9ULL;
    return (size_t)(f >> 32) & (LAYOUT_SLOTS - 1);
}

static const struct layout *cached_layout(uint64_t f)
{
    for (size_t i = slot_of(f), n = 0; layouts[i] && n < LAYOUT_SLOTS; i = (i + 1) % LAYOUT_SLOTS, n++)
        if (layouts[i]->func == f)
            return layouts[i];
    return NULL;
}

static CUresult layout_for(CUfunction f, const struct layout **out)
{
    uint64_t key = (uint64_t)(uintptr_t)f;
    pthread_mutex_lock(&layout_lock);
    *out = cached_layout(key);
    pthread_mutex_unlock(&layout_lock);
    if (*out)
        return CUDA_SUCCESS;
    struct tfp_param *tmp = malloc(TFP_MAX_PARAMS * sizeof *tmp);
    if (!tmp)
        return CUDA_ERROR_OUT_OF_MEMORY;
    unsigned count = 0;
    CUresult r = tfi_param_layout(f, &count, tmp);
    struct layout *l = NULL;
    if (r == CUDA_SUCCESS && count <= TFP_MAX_PARAMS &&
        (l = malloc(sizeof *l + count * sizeof l->p[0]))) {
        l->func = key;
        l->count = count;
        l->bytes = 0;
        for (unsigned i = 0; i < count; i++) {
            l->p[i] = tmp[i];
            if (tmp[i].offset + tmp[i].size > l->bytes)
                l->bytes = tmp[i].offset + tmp[i].size;
        }
    } else if (r == CUDA_SUCCESS) {
        r = CUDA_ERROR_OUT_OF_MEMORY;
    }
    free(tmp);
    if (r != CUDA_SUCCESS)
        return r;
    pthread_mutex_lock(&layout_lock);
    const struct layout *again = cached_layout(key);
    if (again) {
        free(l);
        l = (struct layout *)again;
    } else if (nlayouts < LAYOUT_SLOTS / 2) {
        size_t i = slot_of(key);
        while (layouts[i])
            i = (i + 1) % LAYOUT_SLOTS;
        layouts[i] = l;
        nlayouts++;
    }
    /* (past half full the layout is used once and asked again next time) */
    pthread_mutex_unlock(&layout_lock);
    *out = l;
    return CUDA_SUCCESS;
}

/* An `extra` list: CU_LAUNCH_PARAM_BUFFER_POINTER / _SIZE pairs ending with _END. */
static CUresult parse_extra(void **extra, const void **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    for (int i = 0; i < 64 && extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
        if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
            *buf = extra[i + 1];
        else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE && extra[i + 1])
            memcpy(len, extra[i + 1], sizeof *len);
        else
            return CUDA_ERROR_INVALID_VALUE;
    }
    if ((*len && !*buf) || *len > TFP_MAX_PARAM_BYTES)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

struct launch_args {
    CUfunction f;
    unsigned grid[3], block[3], shmem;
    CUstream stream;
    void **params, **extra;
    unsigned nattrs;
    const CUlaunchAttribute *attrs;
};

CUresult tfs_kargs_prepare(CUfunction f, void **params, void **extra, struct tfs_kargs *a)
{
    const struct layout *l = NULL;
    CUresult r;
    memset(a, 0, sizeof *a);
    a->params = params;
    if (params || !extra)
        r = layout_for(f, &l);
    else
        r = parse_extra(extra, &a->xbuf, &a->xlen);
    if (r != CUDA_SUCCESS)
        return r;
    if (l && l->count && !params)
        return CUDA_ERROR_INVALID_VALUE;
    a->layout = l;
    return CUDA_SUCCESS;
}

void tfs_kargs_put(struct tfp_writer *w, const struct tfs_kargs *a)
{
    const struct layout *l = a->layout;
    if (l) {
        tfp_put_u32(w, l->count);
        tfp_put(w, l->p, l->count * sizeof l->p[0]);
        tfp_put_u32(w, l->bytes);
        uint8_t *buf = tfp_reserve(w, l->bytes);   /* filled before anything else is added */
        if (buf) {
            memset(buf, 0, l->bytes);
            for (uint32_t i = 0; i < l->count; i++)
                memcpy(buf + l->p[i].offset, a->params[i], l->p[i].size);
        }
    } else {
        tfp_put_u32(w, UINT32_MAX);
        tfp_put_u32(w, (uint32_t)a->xlen);
        tfp_put(w, a->xbuf, a->xlen);
    }
}

static CUresult launch(uint32_t call, const struct launch_args *a)
{
    if (!a->f)
        return CUDA_ERROR_INVALID_HANDLE;
    struct tfs_kargs args;
    CUresult r = tfs_kargs_prepare(a->f, a->params, a->extra, &args);
    if (r != CUDA_SUCCESS)
        return r;
    struct tfs_call c;
    r = tfs_begin(&c, call);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, (uint64_t)(uintptr_t)a->f);
    for (int i = 0; i < 3; i++)
        tfp_put_u32(c.w, a->grid[i]);
    for (int i = 0; i < 3; i++)
        tfp_put_u32(c.w, a->block[i]);
    tfp_put_u32(c.w, a->shmem);
    tfp_put_u64(c.w, tfs_stream_arg(a->stream));
    if (call == TFP_ID_cuLaunchKernelEx) {
        tfp_put_u32(c.w, a->nattrs);
        tfp_put(c.w, a->attrs, a->nattrs * sizeof *a->attrs);
    }
    tfs_kargs_put(c.w, &args);
    return tfs_end(&c, tfs_transact(&c));
}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                unsigned int gridDimZ, unsigned int blockDimX,
                                unsigned int blockDimY, unsigned int blockDimZ,
                                unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
                                void **extra)
{
    struct launch_args a = {
        .f = f, .grid = {gridDimX, gridDimY, gridDimZ}, .block = {blockDimX, blockDimY, blockDimZ},
        .shmem = sharedMemBytes, .stream = hStream, .params = kernelParams, .extra = extra,
    };
    return launch(TFP_ID_cuLaunchKernel, &a);
}

CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                                  void **extra)
{
    if (!config || config->numAttrs > 64 || (config->numAttrs && !config->attrs))
        return CUDA_ERROR_INVALID_VALUE;
    struct launch_args a = {
        .f = f, .grid = {config->gridDimX, config->gridDimY, config->gridDimZ},
        .block = {config->blockDimX, config->blockDimY, config->blockDimZ},
        .shmem = config->sharedMemBytes, .stream = config->hStream, .params = kernelParams,
        .extra = extra, .nattrs = config->numAttrs, .attrs = config->attrs,
    };
    return launch(TFP_ID_cuLaunchKernelEx, &a);
}

CUresult CUDAAPI cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX,
                                           unsigned int gridDimY, unsigned int gridDimZ,
                                           unsigned int blockDimX, unsigned int blockDimY,
                                           unsigned int blockDimZ, unsigned int sharedMemBytes,
                                           CUstream hStream, void **kernelParams)
{
    CUlaunchAttribute coop = {.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE, .value.cooperative = 1};
    struct launch_args a = {
        .f = f, .grid = {gridDimX, gridDimY, gridDimZ}, .block = {blockDimX, blockDimY, blockDimZ},
        .shmem = sharedMemBytes, .stream = hStream, .params = kernelParams,
        .nattrs = 1, .attrs = &coop,
    };
    return launch(TFP_ID_cuLaunchKernelEx, &a);
}
