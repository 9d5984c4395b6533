/*
 * Contexts: primary contexts (one per device, a handle that exists before it is retained, as
 * cudart expects) and created contexts, the per-thread current-context stack, limits, sticky
 * errors, device printf buffering, and context teardown (streams, modules, memory, export-table
 * context-local storage, core-dump settings). Calls stream.c, module.c/library.c, heap.c,
 * memory.c, exporttab and the driver kit's coredump.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coredump.h"
#include "softgpu.h"
#ifdef SG_HAVE_EXPORTTAB
#include "exporttab.h"
#endif

#define SG_PRINT_FIFO_DEFAULT ((size_t)1 << 20)

__thread struct sg_tls sg_tls;
static pthread_mutex_t primary_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- creation and teardown ------------------------------------------------------------------ */

static struct sg_ctx *ctx_alloc(struct sg_device *d, int is_primary)
{
    struct sg_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->dev = d;
    c->is_primary = is_primary;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->print_lock, NULL);
    sg_handle_add(c, SG_K_CTX);
    return c;
}

static CUresult ctx_activate(struct sg_ctx *c, unsigned flags)
{
    c->flags = flags;
    c->limits[CU_LIMIT_STACK_SIZE] = 1024;
    c->limits[CU_LIMIT_PRINTF_FIFO_SIZE] = SG_PRINT_FIFO_DEFAULT;
    c->limits[CU_LIMIT_MALLOC_HEAP_SIZE] = 8u << 20;
    c->limits[CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH] = 2;
    c->limits[CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT] = 2048;
    c->limits[CU_LIMIT_MAX_L2_FETCH_GRANULARITY] = 64;
    c->limits[CU_LIMIT_PERSISTING_L2_CACHE_SIZE] = 0;
    atomic_store(&c->sticky, CUDA_SUCCESS);
    CUresult r = sg_stream_create(c, CU_STREAM_DEFAULT, 0, 1, &c->null_stream);
    if (r)
        return r;
    c->active = 1;
    sg_shm_update(c->dev->ordinal); /* NVML lists processes that hold a context */
    return CUDA_SUCCESS;
}

/* Releases everything the context owns; the struct itself survives (primary contexts keep
 * their handle across resets). */
static void ctx_teardown(struct sg_ctx *c)
{
    if (!c->active)
        return;
    /* Work still queued runs to completion first, as cuCtxDestroy does on hardware. */
    sg_ctx_synchronize(c);
    pthread_mutex_lock(&c->lock);
    struct sg_stream *s = c->streams;
    c->streams = NULL;
    struct sg_module *m = c->modules;
    c->modules = NULL;
    pthread_mutex_unlock(&c->lock);
    while (s) {
        struct sg_stream *next = s->next_in_ctx;
        sg_stream_destroy(s);
        s = next;
    }
    sg_stream_destroy(c->null_stream);
    c->null_stream = NULL;
    while (m) {
        struct sg_module *next = m->next_in_ctx;
        sg_module_destroy(m);
        m = next;
    }
    sg_library_forget_ctx(c);
    sg_heap_destroy(c);
    sg_mem_free_ctx(c);
    sg_ctx_flush_print(c);
#ifdef SG_HAVE_EXPORTTAB
    exporttab_context_destroyed((CUcontext)c);
#endif
    c->active = 0;
    c->generation++;
    atomic_store(&c->sticky, CUDA_SUCCESS);
}

void sg_ctx_init_device(struct sg_device *d)
{
    d->primary = ctx_alloc(d, 1);
    if (!d->primary)
        abort(); /* at init, without a few hundred bytes nothing else would work either */
}

CUresult sg_primary_ctx_handle(CUcontext *ctx, CUdevice dev)
{
    CUresult r = sg_device_arg(dev, ctx != NULL);
    if (r)
        return r;
    *ctx = (CUcontext)sg.dev[dev].primary;
    return CUDA_SUCCESS;
}

/* ---- current context ------------------------------------------------------------------------ */

static struct sg_ctx *tls_top(void)
{
    return sg_tls.depth ? sg_tls.stack[sg_tls.depth - 1] : NULL;
}

/* Queries that work even when the context holds a sticky error. */
static CUresult ctx_lookup(CUcontext h, struct sg_ctx **out)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    struct sg_ctx *c = h ? (struct sg_ctx *)h : tls_top();
    if (!c || !sg_handle_is(c, SG_K_CTX) || !c->active)
        return CUDA_ERROR_INVALID_CONTEXT;
    *out = c;
    return CUDA_SUCCESS;
}

CUresult sg_ctx_resolve(CUcontext h, struct sg_ctx **out)
{
    struct sg_ctx *c;
    CUresult r = ctx_lookup(h, &c);
    if (r)
        return r;
    int sticky = atomic_load(&c->sticky);
    if (sticky)
        return (CUresult)sticky;
    *out = c;
    return CUDA_SUCCESS;
}

CUresult sg_ctx_get(struct sg_ctx **out) { return sg_ctx_resolve(NULL, out); }

void sg_ctx_set_sticky(struct sg_ctx *ctx, CUresult err)
{
    int expected = CUDA_SUCCESS;
    atomic_compare_exchange_strong(&ctx->sticky, &expected, (int)err);
}

/* ---- device printf ------------------------------------------------------------------------- */

void sg_ctx_print(struct sg_ctx *ctx, const char *text, size_t len)
{
    pthread_mutex_lock(&ctx->print_lock);
    size_t limit = ctx->limits[CU_LIMIT_PRINTF_FIFO_SIZE];
    if (ctx->print_len + len > limit) {
        /* the hardware FIFO drops what does not fit; say so once per flush */
        ctx->print_overflow = 1;
    } else {
        if (ctx->print_len + len > ctx->print_cap) {
            size_t ncap = ctx->print_cap ? ctx->print_cap : 4096;
            while (ncap < ctx->print_len + len)
                ncap *= 2;
            char *n = realloc(ctx->print_buf, ncap);
            if (!n) {
                ctx->print_overflow = 1;
                pthread_mutex_unlock(&ctx->print_lock);
                return;
            }
            ctx->print_buf = n;
            ctx->print_cap = ncap;
        }
        memcpy(ctx->print_buf + ctx->print_len, text, len);
        ctx->print_len += len;
    }
    pthread_mutex_unlock(&ctx->print_lock);
}

void sg_ctx_flush_print(struct sg_ctx *ctx)
{
    pthread_mutex_lock(&ctx->print_lock);
    if (ctx->print_len) {
        /* through stdio, so that it interleaves with the program's own printf output in the
         * order things happened, then flushed so that it is on fd 1 when the sync returns */
        fwrite(ctx->print_buf, 1, ctx->print_len, stdout);
        fflush(stdout);
    }
    ctx->print_len = 0;
    if (ctx->print_overflow)
        sg_log(SG_LOG_WARN, "device printf output exceeded CU_LIMIT_PRINTF_FIFO_SIZE; some was lost");
    ctx->print_overflow = 0;
    pthread_mutex_unlock(&ctx->print_lock);
}

/* ---- synchronisation ------------------------------------------------------------------------ */

CUresult sg_ctx_synchronize(struct sg_ctx *ctx)
{
    CUresult first = CUDA_SUCCESS;
    pthread_mutex_lock(&ctx->lock);
    struct sg_stream **list = NULL;
    size_t n = 0, cap = 0;
    for (struct sg_stream *s = ctx->streams; s; s = s->next_in_ctx) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct sg_stream **nl = realloc(list, cap * sizeof *nl);
            if (!nl)
                break;
            list = nl;
        }
        sg_stream_retain(s);
        list[n++] = s;
    }
    pthread_mutex_unlock(&ctx->lock);
    if (ctx->null_stream) {
        CUresult r = sg_stream_sync(ctx->null_stream);
        if (r && !first)
            first = r;
    }
    for (size_t i = 0; i < n; i++) {
        CUresult r = sg_stream_sync(list[i]);
        if (r && !first)
            first = r;
        sg_stream_release(list[i]);
    }
    free(list);
    sg_ctx_flush_print(ctx);
    int sticky = atomic_load(&ctx->sticky);
    return sticky ? (CUresult)sticky : first;
}

/* ---- created contexts ----------------------------------------------------------------------- */

static CUresult ctx_create(CUcontext *pctx, unsigned flags, CUdevice dev)
{
    CUresult r = sg_device_arg(dev, pctx != NULL);
    if (r)
        return r;
    if (flags & ~(unsigned)(CU_CTX_FLAGS_MASK | CU_CTX_COREDUMP_ENABLE | CU_CTX_USER_COREDUMP_ENABLE
                            | CU_CTX_SYNC_MEMOPS))
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c = ctx_alloc(&sg.dev[dev], 0);
    if (!c)
        return CUDA_ERROR_OUT_OF_MEMORY;
    r = ctx_activate(c, flags);
    if (r) {
        sg_handle_del(c);
        free(c);
        return r;
    }
    if (sg_tls.depth >= SG_CTX_STACK_MAX) {
        ctx_teardown(c);
        sg_handle_del(c);
        free(c);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    sg_tls.stack[sg_tls.depth++] = c;
    *pctx = (CUcontext)c;
    return CUDA_SUCCESS;
}

CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    return ctx_create(pctx, flags, dev);
}

CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                        unsigned int flags, CUdevice dev);
CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                        unsigned int flags, CUdevice dev)
{
    /* An SM-count affinity is accepted as long as it asks for no more SMs than exist. */
    if (numParams < 0 || (numParams > 0 && !paramsArray))
        return CUDA_ERROR_INVALID_VALUE;
    for (int i = 0; i < numParams; i++)
        if (paramsArray[i].type != CU_EXEC_AFFINITY_TYPE_SM_COUNT
            || paramsArray[i].param.smCount.val > (unsigned)sg.sms)
            return CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY;
    return ctx_create(pctx, flags, dev);
}

CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags,
                        CUdevice dev)
{
    if (params && (params->numExecAffinityParams || params->cigParams))
        return params->cigParams ? CUDA_ERROR_NOT_SUPPORTED
                                 : cuCtxCreate_v3(pctx, params->execAffinityParams,
                                                  params->numExecAffinityParams, flags, dev);
    return ctx_create(pctx, flags, dev);
}

static void tls_remove(struct sg_ctx *c)
{
    int j = 0;
    for (int i = 0; i < sg_tls.depth; i++)
        if (sg_tls.stack[i] != c)
            sg_tls.stack[j++] = sg_tls.stack[i];
    sg_tls.depth = j;
}

CUresult cuCtxDestroy_v2(CUcontext ctx)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    struct sg_ctx *c = (struct sg_ctx *)ctx;
    if (!c || !sg_handle_is(c, SG_K_CTX))
        return CUDA_ERROR_INVALID_CONTEXT;
    if (c->is_primary)
        return CUDA_ERROR_INVALID_CONTEXT; /* primary contexts are released, not destroyed */
    ctx_teardown(c);
    sg_handle_del(c);
    tls_remove(c);
    dk_coredump_forget(ctx);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->print_lock);
    free(c->print_buf);
    free(c);
    return CUDA_SUCCESS;
}

CUresult cuCtxPushCurrent_v2(CUcontext ctx)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!ctx || !sg_handle_is(ctx, SG_K_CTX))
        return CUDA_ERROR_INVALID_CONTEXT;
    if (sg_tls.depth >= SG_CTX_STACK_MAX)
        return CUDA_ERROR_OUT_OF_MEMORY;
    sg_tls.stack[sg_tls.depth++] = (struct sg_ctx *)ctx;
    return CUDA_SUCCESS;
}

CUresult cuCtxPopCurrent_v2(CUcontext *pctx)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!sg_tls.depth)
        return CUDA_ERROR_INVALID_CONTEXT;
    struct sg_ctx *c = sg_tls.stack[--sg_tls.depth];
    if (pctx)
        *pctx = (CUcontext)c;
    return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext ctx)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!ctx) {
        if (sg_tls.depth)
            sg_tls.depth--;
        return CUDA_SUCCESS;
    }
    /* A primary context may be made current before it is retained (cudart does exactly that). */
    if (!sg_handle_is(ctx, SG_K_CTX))
        return CUDA_ERROR_INVALID_CONTEXT;
    if (sg_tls.depth)
        sg_tls.stack[sg_tls.depth - 1] = (struct sg_ctx *)ctx;
    else
        sg_tls.stack[sg_tls.depth++] = (struct sg_ctx *)ctx;
    return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext *pctx)
{
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_check_init();
    if (r)
        return r;
    struct sg_ctx *c = tls_top();
    /* a destroyed context reads as "none" rather than a dangling handle */
    *pctx = c && sg_handle_is(c, SG_K_CTX) ? (CUcontext)c : NULL;
    return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice(CUdevice *device)
{
    if (!device)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    CUresult r = ctx_lookup(NULL, &c);
    if (!r)
        *device = c->dev->ordinal;
    return r;
}

CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx)
{
    if (!device)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    CUresult r = ctx_lookup(ctx, &c);
    if (!r)
        *device = c->dev->ordinal;
    return r;
}

CUresult cuCtxGetFlags(unsigned int *flags)
{
    if (!flags)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    CUresult r = ctx_lookup(NULL, &c);
    if (!r)
        *flags = c->flags;
    return r;
}

CUresult cuCtxSetFlags(unsigned int flags)
{
    struct sg_ctx *c;
    CUresult r = ctx_lookup(NULL, &c);
    if (r)
        return r;
    if (flags & ~(unsigned)(CU_CTX_FLAGS_MASK | CU_CTX_SYNC_MEMOPS))
        return CUDA_ERROR_INVALID_VALUE;
    c->flags = flags;
    return CUDA_SUCCESS;
}

CUresult cuCtxGetId(CUcontext ctx, unsigned long long *ctxId)
{
    if (!ctxId)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    CUresult r = ctx_lookup(ctx, &c);
    if (!r)
        *ctxId = (unsigned long long)(uintptr_t)c;
    return r;
}

CUresult cuCtxSynchronize(void)
{
    struct sg_ctx *c;
    CUresult r = ctx_lookup(NULL, &c);
    return r ? r : sg_ctx_synchronize(c);
}

CUresult cuCtxSynchronize_v2(CUcontext ctx)
{
    struct sg_ctx *c;
    CUresult r = ctx_lookup(ctx, &c);
    return r ? r : sg_ctx_synchronize(c);
}

CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version)
{
    if (!version)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    CUresult r = ctx_lookup(ctx, &c);
    if (!r)
        *version = 3020; /* the context API generation every modern driver reports */
    return r;
}

CUresult cuCtxSetLimit(CUlimit limit, size_t value)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    switch (limit) {
    case CU_LIMIT_STACK_SIZE:
        if (value > (1u << 20))
            return CUDA_ERROR_INVALID_VALUE;
        break;
    case CU_LIMIT_PRINTF_FIFO_SIZE:
    case CU_LIMIT_MALLOC_HEAP_SIZE:
        if (value == 0 || value > ((size_t)1 << 32))
            return CUDA_ERROR_INVALID_VALUE;
        if (limit == CU_LIMIT_MALLOC_HEAP_SIZE)
            return sg_heap_set_limit(c, value);
        break;
    case CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH:
    case CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT:
        break;
    case CU_LIMIT_MAX_L2_FETCH_GRANULARITY:
        if (value > 128)
            return CUDA_ERROR_INVALID_VALUE;
        break;
    case CU_LIMIT_PERSISTING_L2_CACHE_SIZE:
        if (value > 30u * 1024 * 1024)
            return CUDA_ERROR_INVALID_VALUE;
        break;
    default:
        return CUDA_ERROR_UNSUPPORTED_LIMIT;
    }
    c->limits[limit] = value;
    return CUDA_SUCCESS;
}

CUresult cuCtxGetLimit(size_t *pvalue, CUlimit limit)
{
    if (!pvalue)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    CUresult r = ctx_lookup(NULL, &c);
    if (r)
        return r;
    if ((unsigned)limit >= CU_LIMIT_MAX || limit == 0x5)
        return CUDA_ERROR_UNSUPPORTED_LIMIT;
    *pvalue = c->limits[limit];
    return CUDA_SUCCESS;
}

CUresult cuCtxGetCacheConfig(CUfunc_cache *pconfig)
{
    if (!pconfig)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    CUresult r = ctx_lookup(NULL, &c);
    if (!r)
        *pconfig = CU_FUNC_CACHE_PREFER_NONE;
    return r;
}

CUresult cuCtxSetCacheConfig(CUfunc_cache config)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    /* There is no L1/shared split on a CPU: every preference is accepted and has no effect. */
    return (unsigned)config <= CU_FUNC_CACHE_PREFER_EQUAL ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (leastPriority)
        *leastPriority = 0;
    if (greatestPriority)
        *greatestPriority = -5;
    return CUDA_SUCCESS;
}

CUresult cuCtxResetPersistingL2Cache(void)
{
    struct sg_ctx *c;
    return sg_ctx_get(&c);
}

CUresult cuCtxEnablePeerAccess(CUcontext peerContext, unsigned int Flags)
{
    struct sg_ctx *c, *peer;
    CUresult r = sg_ctx_get(&c);
    if (!r)
        r = ctx_lookup(peerContext, &peer);
    if (r)
        return r;
    if (Flags)
        return CUDA_ERROR_INVALID_VALUE;
    return peer == c ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS;
}

CUresult cuCtxDisablePeerAccess(CUcontext peerContext)
{
    struct sg_ctx *c, *peer;
    CUresult r = sg_ctx_get(&c);
    if (!r)
        r = ctx_lookup(peerContext, &peer);
    return r;
}

/* ---- primary contexts ----------------------------------------------------------------------- */

CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
    CUresult r = sg_device_arg(dev, pctx != NULL);
    if (r)
        return r;
    struct sg_ctx *c = sg.dev[dev].primary;
    pthread_mutex_lock(&primary_lock);
    if (!c->active)
        r = ctx_activate(c, c->flags);
    if (!r)
        c->retains++;
    pthread_mutex_unlock(&primary_lock);
    if (!r)
        *pctx = (CUcontext)c;
    return r;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
    CUresult r = sg_device_check(dev);
    if (r)
        return r;
    struct sg_ctx *c = sg.dev[dev].primary;
    pthread_mutex_lock(&primary_lock);
    if (c->retains <= 0) {
        pthread_mutex_unlock(&primary_lock);
        return CUDA_ERROR_INVALID_CONTEXT;
    }
    if (--c->retains == 0) {
        unsigned flags = c->flags;
        ctx_teardown(c);
        c->flags = flags; /* cuDevicePrimaryCtxSetFlags survives release */
    }
    pthread_mutex_unlock(&primary_lock);
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
    CUresult r = sg_device_check(dev);
    if (r)
        return r;
    struct sg_ctx *c = sg.dev[dev].primary;
    pthread_mutex_lock(&primary_lock);
    ctx_teardown(c);
    c->retains = 0;
    c->flags = 0;
    pthread_mutex_unlock(&primary_lock);
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
    CUresult r = sg_device_check(dev);
    if (r)
        return r;
    if (flags & ~(unsigned)(CU_CTX_FLAGS_MASK | CU_CTX_SYNC_MEMOPS))
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&primary_lock);
    sg.dev[dev].primary->flags = flags;
    pthread_mutex_unlock(&primary_lock);
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
    CUresult r = sg_device_arg(dev, flags && active);
    if (r)
        return r;
    pthread_mutex_lock(&primary_lock);
    *flags = sg.dev[dev].primary->flags;
    *active = sg.dev[dev].primary->active;
    pthread_mutex_unlock(&primary_lock);
    return CUDA_SUCCESS;
}
