/*
 * Green contexts and device resources: cuDeviceGetDevResource, cuCtxGetDevResource,
 * cuGreenCtxGetDevResource, cuDevSmResourceSplitByCount, cuDevResourceGenerateDesc,
 * cuGreenCtxCreate/Destroy/GetId/RecordEvent/WaitEvent/StreamCreate, cuCtxFromGreenCtx,
 * cuStreamGetGreenCtx and cuStreamGetCtx_v2.
 *
 * An SM resource is a range of the device's SMs: its count, and (in the struct's internal
 * padding) its first SM, so that split groups are disjoint ranges. As on an A100, SMs are
 * co-scheduled in pairs: minSmPartitionSize and smCoscheduledAlignment are 2, or 1 with
 * CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING. A green context is a created context
 * (context.c) that owns such a range; its resource is reported faithfully everywhere. The PTX
 * executor's thread pool is shared by the whole device and cannot be confined to a subset of
 * its threads, so a green context's blocks still run on every SM thread: the split is recorded
 * and reported, not enforced. Calls context.c, stream.c and ctx_extra.c (event record/wait).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "softgpu.h"

struct sm_range {
    unsigned first;
};

struct CUdevResourceDesc_st {
    unsigned sm_first, sm_count;
    struct CUdevResourceDesc_st *next;   /* every descriptor made, kept for the process's life */
};

static struct CUdevResourceDesc_st *_Atomic descriptors;

struct CUgreenCtx_st {
    CUcontext ctx;
    unsigned sm_first, sm_count;
    unsigned long long id;
    struct CUgreenCtx_st *next;
};

static pthread_mutex_t green_lock = PTHREAD_MUTEX_INITIALIZER;
static struct CUgreenCtx_st *greens;
static unsigned long long next_green_id = 1;

/* ---- SM resources --------------------------------------------------------------------------- */

static void sm_resource(CUdevResource *res, unsigned first, unsigned count, unsigned align)
{
    memset(res, 0, sizeof *res);
    res->type = CU_DEV_RESOURCE_TYPE_SM;
    res->sm.smCount = count;
    res->sm.minSmPartitionSize = align;
    res->sm.smCoscheduledAlignment = align;
    struct sm_range range = {first};
    memcpy(res->_internal_padding, &range, sizeof range);
}

static unsigned sm_first_of(const CUdevResource *res)
{
    struct sm_range range;
    memcpy(&range, res->_internal_padding, sizeof range);
    return range.first;
}

CUresult cuDeviceGetDevResource(CUdevice device, CUdevResource *resource, CUdevResourceType type)
{
    CUresult r = sg_device_arg(device, resource != NULL);
    if (r)
        return r;
    if (type != CU_DEV_RESOURCE_TYPE_SM)
        return CUDA_ERROR_INVALID_RESOURCE_TYPE;
    sm_resource(resource, 0, (unsigned)sg.sms, 2);
    return CUDA_SUCCESS;
}

/* green_lock held. */
static struct CUgreenCtx_st *green_of_ctx(struct sg_ctx *c)
{
    for (struct CUgreenCtx_st *g = greens; g; g = g->next)
        if ((struct sg_ctx *)g->ctx == c)
            return g;
    return NULL;
}

static struct CUgreenCtx_st *green_lookup(CUgreenCtx h)
{
    pthread_mutex_lock(&green_lock);
    struct CUgreenCtx_st *g = greens;
    while (g && g != h)
        g = g->next;
    pthread_mutex_unlock(&green_lock);
    return g;
}

CUresult cuCtxGetDevResource(CUcontext hCtx, CUdevResource *resource, CUdevResourceType type)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_resolve(hCtx, &c);
    if (r)
        return r;
    if (!resource)
        return CUDA_ERROR_INVALID_VALUE;
    if (type != CU_DEV_RESOURCE_TYPE_SM)
        return CUDA_ERROR_INVALID_RESOURCE_TYPE;
    pthread_mutex_lock(&green_lock);
    struct CUgreenCtx_st *g = green_of_ctx(c);
    if (g)
        sm_resource(resource, g->sm_first, g->sm_count, 2);
    pthread_mutex_unlock(&green_lock);
    return g ? CUDA_SUCCESS : cuDeviceGetDevResource(c->dev->ordinal, resource, type);
}

CUresult cuGreenCtxGetDevResource(CUgreenCtx hCtx, CUdevResource *resource, CUdevResourceType type)
{
    struct CUgreenCtx_st *g = green_lookup(hCtx);
    if (!g)
        return CUDA_ERROR_INVALID_HANDLE;
    return cuCtxGetDevResource(g->ctx, resource, type);
}

CUresult cuDevSmResourceSplitByCount(CUdevResource *result, unsigned int *nbGroups,
                                     const CUdevResource *input, CUdevResource *remaining,
                                     unsigned int useFlags, unsigned int minCount)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!nbGroups || !input || input->type != CU_DEV_RESOURCE_TYPE_SM || (result && !*nbGroups))
        return CUDA_ERROR_INVALID_VALUE;
    if (useFlags & ~(unsigned)CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING)
        return CUDA_ERROR_INVALID_VALUE; /* MAX_POTENTIAL_CLUSTER_SIZE: sm_90 and later */
    unsigned align = (useFlags & CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING) ? 1 : 2;
    unsigned count = minCount < align ? align : (minCount + align - 1) / align * align;
    unsigned possible = input->sm.smCount / count;
    unsigned groups = result && *nbGroups < possible ? *nbGroups : possible;
    if (groups == 0)
        return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
    unsigned first = sm_first_of(input);
    for (unsigned i = 0; result && i < groups; i++)
        sm_resource(&result[i], first + i * count, count, align);
    if (remaining)
        sm_resource(remaining, first + groups * count, input->sm.smCount - groups * count, align);
    *nbGroups = groups;
    return CUDA_SUCCESS;
}

CUresult cuDevResourceGenerateDesc(CUdevResourceDesc *phDesc, CUdevResource *resources,
                                   unsigned int nbResources)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!phDesc || !resources || !nbResources)
        return CUDA_ERROR_INVALID_VALUE;
    /* several SM resources must be contiguous: together they form one range */
    unsigned first = sm_first_of(&resources[0]), count = 0;
    for (unsigned i = 0; i < nbResources; i++) {
        if (resources[i].type != CU_DEV_RESOURCE_TYPE_SM)
            return CUDA_ERROR_INVALID_RESOURCE_TYPE;
        if (sm_first_of(&resources[i]) != first + count || !resources[i].sm.smCount)
            return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
        count += resources[i].sm.smCount;
    }
    if (first + count > (unsigned)sg.sms)
        return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
    struct CUdevResourceDesc_st *d = malloc(sizeof *d); /* descriptors live as long as the process */
    if (!d)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *d = (struct CUdevResourceDesc_st){first, count, atomic_load(&descriptors)};
    while (!atomic_compare_exchange_weak(&descriptors, &d->next, d))
        ;
    *phDesc = d;
    return CUDA_SUCCESS;
}

/* ---- green contexts ------------------------------------------------------------------------- */

CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev); /* cuda.h names _v4 */

CUresult cuGreenCtxCreate(CUgreenCtx *phCtx, CUdevResourceDesc desc, CUdevice dev, unsigned int flags)
{
    CUresult r = sg_device_arg(dev, phCtx && desc);
    if (r)
        return r;
    if (flags != CU_GREEN_CTX_DEFAULT_STREAM)
        return CUDA_ERROR_INVALID_VALUE; /* the default stream is required */
    struct CUgreenCtx_st *g = calloc(1, sizeof *g);
    if (!g)
        return CUDA_ERROR_OUT_OF_MEMORY;
    r = cuCtxCreate_v2(&g->ctx, 0, dev);
    if (r) {
        free(g);
        return r;
    }
    CUcontext popped;
    cuCtxPopCurrent_v2(&popped); /* a green context is not made current by its creation */
    g->sm_first = desc->sm_first;
    g->sm_count = desc->sm_count;
    pthread_mutex_lock(&green_lock);
    g->id = next_green_id++;
    g->next = greens;
    greens = g;
    pthread_mutex_unlock(&green_lock);
    *phCtx = g;
    return CUDA_SUCCESS;
}

CUresult cuGreenCtxDestroy(CUgreenCtx hCtx)
{
    struct CUgreenCtx_st *found = NULL;
    pthread_mutex_lock(&green_lock);
    for (struct CUgreenCtx_st **pp = &greens; *pp; pp = &(*pp)->next)
        if (*pp == hCtx) {
            found = *pp;
            *pp = found->next;
            break;
        }
    pthread_mutex_unlock(&green_lock);
    if (!found)
        return CUDA_ERROR_INVALID_HANDLE;
    CUresult r = cuCtxDestroy_v2(found->ctx);
    free(found);
    return r;
}

CUresult cuCtxFromGreenCtx(CUcontext *pContext, CUgreenCtx hCtx)
{
    if (!pContext)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUgreenCtx_st *g = green_lookup(hCtx);
    if (!g)
        return CUDA_ERROR_INVALID_HANDLE;
    *pContext = g->ctx;
    return CUDA_SUCCESS;
}

CUresult cuGreenCtxGetId(CUgreenCtx greenCtx, unsigned long long *greenCtxId)
{
    if (!greenCtxId)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUgreenCtx_st *g = green_lookup(greenCtx);
    if (!g)
        return CUDA_ERROR_INVALID_HANDLE;
    *greenCtxId = g->id;
    return CUDA_SUCCESS;
}

CUresult cuGreenCtxRecordEvent(CUgreenCtx hCtx, CUevent hEvent)
{
    struct CUgreenCtx_st *g = green_lookup(hCtx);
    return g ? cuCtxRecordEvent(g->ctx, hEvent) : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuGreenCtxWaitEvent(CUgreenCtx hCtx, CUevent hEvent)
{
    struct CUgreenCtx_st *g = green_lookup(hCtx);
    return g ? cuCtxWaitEvent(g->ctx, hEvent) : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuGreenCtxStreamCreate(CUstream *phStream, CUgreenCtx greenCtx, unsigned int flags,
                                int priority)
{
    if (!phStream || flags != CU_STREAM_NON_BLOCKING)
        return CUDA_ERROR_INVALID_VALUE; /* green streams must be non-blocking */
    struct CUgreenCtx_st *g = green_lookup(greenCtx);
    if (!g)
        return CUDA_ERROR_INVALID_HANDLE;
    CUresult r = cuCtxPushCurrent_v2(g->ctx);
    if (r)
        return r;
    r = cuStreamCreateWithPriority(phStream, flags, priority);
    CUcontext popped;
    cuCtxPopCurrent_v2(&popped);
    return r;
}

/* ---- which context a stream belongs to ------------------------------------------------------ */

/* The stream's context and, when that context is a green context's, the green context. */
static CUresult stream_contexts(CUstream hStream, struct sg_ctx **ctx, CUgreenCtx *green)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    *ctx = s->ctx;
    pthread_mutex_lock(&green_lock);
    *green = green_of_ctx(s->ctx);
    pthread_mutex_unlock(&green_lock);
    return CUDA_SUCCESS;
}

CUresult cuStreamGetGreenCtx(CUstream hStream, CUgreenCtx *phCtx)
{
    struct sg_ctx *c;
    if (!phCtx)
        return CUDA_ERROR_INVALID_VALUE;
    return stream_contexts(hStream, &c, phCtx);
}

CUresult cuStreamGetCtx_v2(CUstream hStream, CUcontext *pCtx, CUgreenCtx *pGreenCtx)
{
    struct sg_ctx *c;
    CUgreenCtx g;
    if (!pCtx || !pGreenCtx)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = stream_contexts(hStream, &c, &g);
    if (r)
        return r;
    *pGreenCtx = g;
    if (!g) {
        *pCtx = (CUcontext)c;
        return CUDA_SUCCESS;
    }
    /* a green context's stream: the device's primary context, as documented */
    return sg_primary_ctx_handle(pCtx, c->dev->ordinal);
}
