/*
 * Kernel launches: cuLaunchKernel, cuLaunchKernelEx and cuLaunchCooperativeKernel. Validates
 * the configuration, packs the parameter buffer from kernelParams (PTX layout) or `extra`,
 * and queues a work item that runs the grid on the PTX interpreter's thread pool. Interpreter
 * failures become CUDA errors; the ones that corrupt a hardware context are sticky. A kernel
 * runs when the shared device's scheduler lets this process run it (devsched.c).
 * Calls module.c (function resolution), stream.c, memory.c, heap.c, devsched.c and the PTX
 * interpreter.
 */
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "devsched.h"
#include "sg_coredump.h"
#include "softgpu.h"

struct kernel_work {
    struct sg_work base;
    struct sg_func *func;
    struct sg_launch_cfg cfg;
    size_t max_shared;
    size_t param_bytes;
    unsigned char params[]; /* param_bytes */
};

static void print_sink(void *opaque, const char *text, size_t len)
{
    sg_ctx_print(opaque, text, len);
}

static CUresult map_status(struct sg_ctx *ctx, enum ptx_status st, const char *err)
{
    CUresult r;
    switch (st) {
    case PTX_OK: return CUDA_SUCCESS;
    case PTX_ERR_ILLEGAL_ADDRESS: r = CUDA_ERROR_ILLEGAL_ADDRESS; break;
    case PTX_ERR_MISALIGNED: r = CUDA_ERROR_MISALIGNED_ADDRESS; break;
    case PTX_ERR_TRAP: r = CUDA_ERROR_LAUNCH_FAILED; break;
    case PTX_ERR_ASSERT: r = CUDA_ERROR_ASSERT; break;
    case PTX_ERR_INVALID_CONFIG:
        sg_log(SG_LOG_WARN, "launch rejected: %s", err);
        return CUDA_ERROR_INVALID_VALUE; /* not a context-corrupting fault */
    default: r = CUDA_ERROR_LAUNCH_FAILED; break;
    }
    sg_log(SG_LOG_WARN, "kernel failed: %s", err);
    sg_ctx_set_sticky(ctx, r);
    return r;
}

static CUresult kernel_run(struct sg_ctx *ctx, struct kernel_work *k, struct sg_ds_launch *ds)
{
    if (!sg.pool) {
        sg_log(SG_LOG_ERROR, "no PTX interpreter thread pool: cannot run %s",
               ptx_kernel_name(k->func->kernel));
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    struct ptx_kernel_attrs attrs;
    ptx_kernel_get_attrs(k->func->kernel, &attrs);
    if (attrs.uses_heap) {
        CUresult r = sg_heap_ensure(ctx); /* fixes CU_LIMIT_MALLOC_HEAP_SIZE from now on */
        if (r)
            return r;
    }
    uint64_t workspace = 0;
    if (k->cfg.cooperative) {
        CUresult r = sg_mem_alloc(ctx, 64, SG_PAGE_SIZE, SG_R_DEVICE, 0, &workspace);
        if (r)
            return r;
    }
    struct ptx_launch l = {
        .kernel = k->func->kernel,
        .global_addrs = k->func->module->global_addrs,
        .params = k->params,
        .param_bytes = k->param_bytes,
        .dynamic_shared_bytes = k->cfg.shared,
        .max_shared_bytes = k->max_shared,
        .cooperative = k->cfg.cooperative,
        .grid_sync_workspace = workspace,
        .mem = &sg.as,
        .pool = sg.pool,
        .num_sms = sg.sms,
        .print = print_sink,
        .print_opaque = ctx,
        .heap_alloc = sg_heap_alloc,
        .heap_free = sg_heap_free,
        .heap_opaque = ctx,
        .tex_lookup = sg_tex_lookup,
        .set_conditional = sg_graph_cond_set,
        .sched = ds->d ? sg_devsched_hooks() : NULL,
        .sched_opaque = ds,
    };
    memcpy(l.grid, k->cfg.grid, sizeof l.grid);
    memcpy(l.block, k->cfg.block, sizeof l.block);
    char err[512] = "", why[200] = "";
    /* the engine is decided per kernel (compiled on its first launch): say which and why */
    int jit = ptx_kernel_engine(k->func->kernel, why, sizeof why);
    sg_log(SG_LOG_DEBUG, "launch %s grid %ux%ux%u block %ux%ux%u shared %u%s on the %s (%s)",
           ptx_kernel_name(k->func->kernel), l.grid[0], l.grid[1], l.grid[2], l.block[0],
           l.block[1], l.block[2], k->cfg.shared, k->cfg.cooperative ? " cooperative" : "",
           jit ? "JIT" : "interpreter", why);
    enum ptx_status st = ptx_launch_run(&l, err, sizeof err);
    if (workspace)
        sg_mem_free(workspace, SG_R_DEVICE);
    CUresult r = map_status(ctx, st, err);
    if (r && st != PTX_ERR_INVALID_CONFIG)   /* a GPU exception: the core dump, if asked for */
        sg_coredump_fault(ctx, ptx_kernel_name(k->func->kernel), l.grid, l.block, r, err);
    return r;
}

/* The kernel runs while this process may use the device; the busy window counts the time the
 * device worked for it (not the time it waited for the device or for a host CPU). */
static CUresult kernel_exec(struct sg_ctx *ctx, struct sg_stream *s, struct sg_work *w)
{
    struct sg_ds_launch ds;
    int dev = ctx->dev->ordinal;
    const ptx_kernel *pk = ((struct kernel_work *)w)->func->kernel;
    if (!ptx_kernel_ready(pk)) {
        /* its code is being compiled (from the module's load): waited for before the device
         * is asked for and off the device clock, as NVIDIA's JIT runs at load, uncharged */
        sg_devsched_jit_wait(dev, 1);
        ptx_kernel_engine(pk, NULL, 0);
        sg_devsched_jit_wait(dev, 0);
    }
    uint64_t t0 = sg_now_ns();
    sg_devsched_begin(&ds, dev, ((struct kernel_work *)w)->cfg.cooperative);
    CUresult r = kernel_run(ctx, (struct kernel_work *)w, &ds);
    uint64_t busy = sg_devsched_end(&ds, sg_stream_next_is_kernel(s, w));
    sg_shm_note_busy(dev, ds.d ? busy : sg_now_ns() - t0, 0);
    return r;
}

static struct sg_work *kernel_clone(const struct sg_work *w)
{
    const struct kernel_work *k = (const struct kernel_work *)w;
    return sg_work_dup(w, sizeof *k + k->param_bytes);
}

void sg_kernel_work_describe(const struct sg_work *w, struct sg_func **f, struct sg_launch_cfg *cfg,
                             unsigned char **params, size_t *param_bytes)
{
    struct kernel_work *k = (struct kernel_work *)w;
    *f = k->func;
    *cfg = k->cfg;
    *params = k->params;
    *param_bytes = k->param_bytes;
}

static CUresult check_config(struct sg_func *f, const struct sg_launch_cfg *c, size_t *max_shared)
{
    struct ptx_kernel_attrs a;
    ptx_kernel_get_attrs(f->kernel, &a);
    for (int i = 0; i < 3; i++)
        if (!c->grid[i] || !c->block[i])
            return CUDA_ERROR_INVALID_VALUE;
    if (c->grid[0] > 2147483647u || c->grid[1] > 65535 || c->grid[2] > 65535)
        return CUDA_ERROR_INVALID_VALUE;
    if (c->block[0] > 1024 || c->block[1] > 1024 || c->block[2] > 64)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t threads = (uint64_t)c->block[0] * c->block[1] * c->block[2];
    if (threads > 1024 || threads > (uint64_t)a.max_threads_per_block)
        return CUDA_ERROR_INVALID_VALUE;
    for (int i = 0; i < 3; i++)
        if (a.reqntid[i] && (unsigned)a.reqntid[i] != c->block[i])
            return CUDA_ERROR_INVALID_VALUE;
    size_t limit = a.static_shared_bytes + (size_t)f->max_dynamic_shared;
    if (limit < SG_SHARED_DEFAULT)
        limit = SG_SHARED_DEFAULT;
    if (a.static_shared_bytes + c->shared > limit)
        return CUDA_ERROR_INVALID_VALUE;
    *max_shared = limit;
    if (c->cooperative) {
        int per_sm;
        CUresult r = cuOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, (CUfunction)f,
                                                                 (int)threads, c->shared);
        if (r)
            return r;
        uint64_t blocks = (uint64_t)c->grid[0] * c->grid[1] * c->grid[2];
        if (blocks > (uint64_t)per_sm * (uint64_t)sg.sms)
            return CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE;
    }
    return CUDA_SUCCESS;
}

/* Copies the arguments into the kernel's parameter buffer. */
static CUresult pack_params(const ptx_kernel *k, void **params, void **extra, unsigned char *buf,
                            size_t bytes)
{
    int n = ptx_kernel_param_count(k);
    if (params && extra)
        return CUDA_ERROR_INVALID_VALUE;
    if (params) {
        for (int i = 0; i < n; i++) {
            size_t off, size;
            ptx_kernel_param(k, i, &off, &size);
            if (!params[i] || off + size > bytes)
                return CUDA_ERROR_INVALID_VALUE;
            memcpy(buf + off, params[i], size);
        }
        return CUDA_SUCCESS;
    }
    if (extra) {
        const void *ptr = NULL;
        size_t size = 0;
        int have_size = 0;
        for (int i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
            if (i > 64)
                return CUDA_ERROR_INVALID_VALUE; /* unterminated list */
            if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
                ptr = extra[i + 1];
            else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE && extra[i + 1]) {
                size = *(size_t *)extra[i + 1];
                have_size = 1;
            } else
                return CUDA_ERROR_INVALID_VALUE;
        }
        if (bytes && (!ptr || !have_size || size < bytes))
            return CUDA_ERROR_INVALID_VALUE;
        if (bytes)
            memcpy(buf, ptr, bytes);
        return CUDA_SUCCESS;
    }
    return n ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

CUresult sg_kernel_work_new(struct sg_func *f, const struct sg_launch_cfg *cfg, void **params,
                            void **extra, struct sg_work **out)
{
    size_t max_shared;
    CUresult r = check_config(f, cfg, &max_shared);
    if (r)
        return r;
    size_t bytes = ptx_kernel_param_bytes(f->kernel);
    if (bytes > SG_MAX_PARAM_BYTES)
        return CUDA_ERROR_INVALID_VALUE;
    struct kernel_work *w = sg_work_new(sizeof *w + bytes, SG_W_KERNEL, kernel_exec, kernel_clone,
                                        NULL);
    if (!w)
        return CUDA_ERROR_OUT_OF_MEMORY;
    r = pack_params(f->kernel, params, extra, w->params, bytes);
    if (r) {
        free(w);
        return r;
    }
    w->func = f;
    w->cfg = *cfg;
    w->max_shared = max_shared;
    w->param_bytes = bytes;
    *out = &w->base;
    return CUDA_SUCCESS;
}

static CUresult launch(CUfunction h, const struct sg_launch_cfg *cfg, CUstream hStream,
                       void **params, void **extra)
{
    struct sg_func *f;
    CUresult r = sg_func_resolve(h, &f);
    if (r)
        return r;
    struct sg_stream *s;
    r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    if (f->module->ctx != s->ctx)
        return CUDA_ERROR_INVALID_HANDLE; /* a function of another context */
    struct sg_work *w;
    r = sg_kernel_work_new(f, cfg, params, extra, &w);
    if (r)
        return r;
    struct ptx_kernel_attrs a;
    ptx_kernel_get_attrs(f->kernel, &a);
    /* the heap size is fixed from the launch on, not from when the stream gets to the kernel */
    if (a.uses_heap && (r = sg_heap_ensure(s->ctx))) {
        sg_work_free(w);
        return r;
    }
    return sg_stream_submit(s, w);
}

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                        unsigned int bx, unsigned int by, unsigned int bz,
                        unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
                        void **extra)
{
    struct sg_launch_cfg cfg = {{gx, gy, gz}, {bx, by, bz}, sharedMemBytes, 0};
    return launch(f, &cfg, hStream, kernelParams, extra);
}

CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                   unsigned int bx, unsigned int by, unsigned int bz,
                                   unsigned int sharedMemBytes, CUstream hStream,
                                   void **kernelParams)
{
    struct sg_launch_cfg cfg = {{gx, gy, gz}, {bx, by, bz}, sharedMemBytes, 1};
    return launch(f, &cfg, hStream, kernelParams, NULL);
}

CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                          void **extra)
{
    if (!config || (config->numAttrs && !config->attrs))
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_launch_cfg cfg = {{config->gridDimX, config->gridDimY, config->gridDimZ},
                                {config->blockDimX, config->blockDimY, config->blockDimZ},
                                config->sharedMemBytes, 0};
    for (unsigned i = 0; i < config->numAttrs; i++) {
        const CUlaunchAttribute *a = &config->attrs[i];
        switch (a->id) {
        case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
            cfg.cooperative = a->value.cooperative != 0;
            break;
        case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
        case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
            /* softgpu has no thread-block clusters: only the trivial 1x1x1 cluster runs */
            if (a->value.clusterDim.x > 1 || a->value.clusterDim.y > 1 || a->value.clusterDim.z > 1)
                return CUDA_ERROR_NOT_SUPPORTED;
            break;
        case CU_LAUNCH_ATTRIBUTE_IGNORE:
        case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
        case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
        case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
        case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
        case CU_LAUNCH_ATTRIBUTE_PRIORITY:
        case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
        case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
        case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
            break; /* scheduling hints: every launch runs to completion in stream order */
        default:
            return CUDA_ERROR_NOT_SUPPORTED;
        }
    }
    return launch(f, &cfg, config->hStream, kernelParams, extra);
}
