/*
 * vGPU memory enforcement in the worker (see enforce.h): wrappers installed in the session's
 * backend table around the calls that take device memory and the calls that report it, and the
 * session's attachment to its vGPUs. Launches are metered by enforce_compute.c.
 *
 * Memory is reserved on the shared ledger before the backend allocates and released if the
 * backend fails, so N processes of one vGPU racing can never pass the limit (the ledger's CAS
 * decides). Sizes are remembered per pointer so a free refunds exactly what was charged.
 *
 * A session may hold several vGPUs, one per physical device (tfuse run --gpus N): each call is
 * charged to the vGPU of the device its context is on (the backend's current context, looked
 * up once per context), and every charge remembers its vGPU so that its refund goes back there.
 *
 * Owns: struct tfw_limits (enforce_int.h). May call: src/vgpu, the backend table (the saved
 * originals), src/common/log.h.
 */
#include "enforce.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "vgpu_compute.h"
#include "vgpu_mem.h"
#include "enforce_int.h"
#include "freeze.h"
#include "worker_int.h"

/* ---- allocation sizes ---- */

static size_t probe(uint64_t ptr, size_t cap)
{
    return (size_t)((ptr >> 8) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static int sizes_grow(struct tfw_limits *L)
{
    size_t cap = L->cap ? L->cap * 2 : 256;
    struct charge *old = L->sizes;
    size_t oldcap = L->cap;
    L->sizes = calloc(cap, sizeof L->sizes[0]);
    if (!L->sizes) {
        L->sizes = old;
        return -1;
    }
    L->cap = cap;
    L->used = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key <= KEY_GONE)
            continue;
        size_t j = probe(old[i].key, cap);
        while (L->sizes[j].key != KEY_EMPTY)
            j = (j + 1) & (cap - 1);
        L->sizes[j] = old[i];
        L->used++;
    }
    free(old);
    return 0;
}

int tfw_lim_sizes_put(struct tfw_limits *L, uint64_t key, uint64_t bytes, struct tfw_vgpu *v)
{
    if ((L->used + 1) * 2 > L->cap && sizes_grow(L) != 0)
        return -1;
    size_t j = probe(key, L->cap);
    while (L->sizes[j].key > KEY_GONE && L->sizes[j].key != key)
        j = (j + 1) & (L->cap - 1);
    if (L->sizes[j].key != key)
        L->used++;
    L->sizes[j] = (struct charge){key, bytes, v};
    return 0;
}

/* Removes key and returns what was charged for it (bytes 0 when unknown). */
static struct charge sizes_take(struct tfw_limits *L, uint64_t key)
{
    struct charge none = {0, 0, NULL};
    if (!L->cap || key <= KEY_GONE)
        return none;
    for (size_t j = probe(key, L->cap), n = 0; n < L->cap; j = (j + 1) & (L->cap - 1), n++) {
        if (L->sizes[j].key == KEY_EMPTY)
            return none;
        if (L->sizes[j].key == key) {
            L->sizes[j].key = KEY_GONE;   /* stays counted in `used` until the next grow */
            return L->sizes[j];
        }
    }
    return none;
}

/* ---- which vGPU ---- */

/* The vGPU of the device the backend's current context is on (the one the request runs in).
 * NULL when there is no current context: a charge made then (a context-independent library's
 * globals, which each device gets a copy of where it is used) goes to every vGPU of the session.
 * One vGPU: always it, without a lookup. */
struct tfw_vgpu *tfw_lim_current_vgpu(struct tfw_limits *L)
{
    if (L->nvgpus == 1)
        return &L->vgpus[0];
    CUcontext ctx = NULL;
    if (L->orig.cuCtxGetCurrent(&ctx) != CUDA_SUCCESS || !ctx)
        return NULL;
    if (ctx == L->last_ctx)
        return L->last_vgpu;
    CUdevice dev;
    if (!L->orig.cuCtxGetDevice || L->orig.cuCtxGetDevice(&dev) != CUDA_SUCCESS)
        return NULL;
    for (int i = 0; i < L->nvgpus; i++) {
        if (L->vgpus[i].device == dev) {
            L->last_ctx = ctx;
            L->last_vgpu = &L->vgpus[i];
            return L->last_vgpu;
        }
    }
    tf_error("context on device %d, which none of the session's vGPUs is on: charged to all",
             (int)dev);
    return NULL;
}

struct tfw_vgpu *tfw_lim_vgpu_of_device(struct tfw_limits *L, CUdevice dev)
{
    for (int i = 0; i < L->nvgpus; i++)
        if (L->vgpus[i].device == dev)
            return &L->vgpus[i];
    return NULL;
}

/* ---- memory ---- */

static CUresult reserve_one(struct tfw_vgpu *v, uint64_t bytes)
{
    int rc = vgpu_mem_reserve(&v->mem, bytes);
    if (rc == -ENOMEM) {   /* over the vGPU's budget: the program's notifications (misc.c) */
        uint64_t avail = vgpu_mem_free(v->slot);
        tfw_note_over_budget(v->device, bytes > avail ? bytes - avail : bytes);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    return rc == 0 ? CUDA_SUCCESS : CUDA_ERROR_DEVICE_UNAVAILABLE;
}

static void release_one(struct tfw_vgpu *v, uint64_t bytes)
{
    if (vgpu_mem_release(&v->mem, bytes) != 0)
        tf_error("vGPU ledger refused a refund of %llu bytes (accounting bug)",
                 (unsigned long long)bytes);
}

/* Charges bytes to v, or to every vGPU of the session when v is NULL (all or none). */
CUresult tfw_lim_reserve(struct tfw_limits *L, struct tfw_vgpu *v, uint64_t bytes)
{
    if (bytes == 0)
        return CUDA_SUCCESS;
    if (v)
        return reserve_one(v, bytes);
    for (int i = 0; i < L->nvgpus; i++) {
        CUresult r = reserve_one(&L->vgpus[i], bytes);
        if (r != CUDA_SUCCESS) {
            while (i > 0)
                release_one(&L->vgpus[--i], bytes);
            return r;
        }
    }
    return CUDA_SUCCESS;
}

void tfw_lim_release(struct tfw_limits *L, struct tfw_vgpu *v, uint64_t bytes)
{
    if (bytes == 0)
        return;
    if (v)
        release_one(v, bytes);
    else
        for (int i = 0; i < L->nvgpus; i++)
            release_one(&L->vgpus[i], bytes);
}

void tfw_lim_refund(struct tfw_limits *L, uint64_t key)
{
    struct charge c = sizes_take(L, key);
    tfw_lim_release(L, c.v, c.bytes);
}

/* After the backend answered an allocation that was charged `bytes` to v up front. */
CUresult tfw_lim_settle(struct tfw_limits *L, struct tfw_vgpu *v, CUresult r, uint64_t p,
                        uint64_t bytes)
{
    if (r != CUDA_SUCCESS) {
        tfw_lim_release(L, v, bytes);
        return r;
    }
    if (tfw_lim_sizes_put(L, (uint64_t)p, bytes, v) != 0)
        tf_error("out of memory remembering an allocation: its refund will come at exit");
    return r;
}

/* An allocation's charge; past the vGPU's limit, with model switching on (freeze.h), idle
 * other sessions of the vGPU are frozen off its ledger and it is tried again (bounded). */
static CUresult reserve_switching(struct tfw_limits *L, struct tfw_vgpu *v, uint64_t bytes)
{
    uint64_t deadline = 0;
    CUresult r;
    while ((r = tfw_lim_reserve(L, v, bytes)) == CUDA_ERROR_OUT_OF_MEMORY && v &&
           bytes <= vgpu_mem_limit(v->slot) && tfw_freeze_switch(tfw_self, bytes, &deadline))
        ;
    return r;
}

static CUresult w_mem_alloc(CUdeviceptr *dptr, size_t bytes)
{
    struct tfw_limits *L = lim();
    struct tfw_vgpu *v = tfw_lim_current_vgpu(L);
    CUresult r = reserve_switching(L, v, bytes);
    if (r != CUDA_SUCCESS)
        return r;
    /* The call must finish before *dptr is read: argument order is unspecified in C. A full
     * device on an oversubscribed node: others are frozen to make room, and it is tried again */
    uint64_t deadline = 0;
    do {
        r = tfw_freeze_alloc(tfw_self, L, v, bytes, dptr);   /* freezable when it can be */
        if (r == CUDA_ERROR_NOT_SUPPORTED)
            r = L->orig.cuMemAlloc_v2(dptr, bytes);
    } while (r == CUDA_ERROR_OUT_OF_MEMORY && tfw_freeze_room(tfw_self, bytes, &deadline, 0));
    return tfw_lim_settle(L, v, r, dptr ? *dptr : 0, bytes);
}

/* cuMemAllocAsync from the default pool as freezable memory (freeze.h), outside a capture (a
 * captured one is a graph's allocation node): valid at once, which stream order allows, and
 * freed by cuMemFreeAsync after a drain (tfw_freeze_free). NOT_SUPPORTED: the ordinary way. */
static CUresult alloc_async_freezable(struct tfw_limits *L, struct tfw_vgpu *v, uint64_t bytes,
                                      CUstream st, CUdeviceptr *dptr)
{
    CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
    if (!tfw_self->fz || !L->orig.cuStreamIsCapturing ||
        L->orig.cuStreamIsCapturing(st, &capture) != CUDA_SUCCESS ||
        capture != CU_STREAM_CAPTURE_STATUS_NONE)
        return CUDA_ERROR_NOT_SUPPORTED;
    uint64_t deadline = 0;
    CUresult r;
    while ((r = tfw_freeze_alloc(tfw_self, L, v, bytes, dptr)) == CUDA_ERROR_OUT_OF_MEMORY &&
           tfw_freeze_room(tfw_self, bytes, &deadline, 0))
        ;
    return r;
}

static CUresult w_mem_alloc_async(CUdeviceptr *dptr, size_t bytes, CUstream st)
{
    struct tfw_limits *L = lim();
    struct tfw_vgpu *v = tfw_lim_current_vgpu(L);
    CUresult r = reserve_switching(L, v, bytes);
    if (r != CUDA_SUCCESS)
        return r;
    r = dptr ? alloc_async_freezable(L, v, bytes, st, dptr) : CUDA_ERROR_NOT_SUPPORTED;
    if (r == CUDA_ERROR_NOT_SUPPORTED)
        r = L->orig.cuMemAllocAsync(dptr, bytes, st);
    return tfw_lim_settle(L, v, r, dptr ? *dptr : 0, bytes);
}

static CUresult w_mem_alloc_pool(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream st)
{
    struct tfw_limits *L = lim();
    struct tfw_vgpu *v = tfw_lim_current_vgpu(L);
    CUresult r = reserve_switching(L, v, bytes);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuMemAllocFromPoolAsync(dptr, bytes, pool, st);
    return tfw_lim_settle(L, v, r, dptr ? *dptr : 0, bytes);
}

/* The pitch is the device's choice: charge the most it can be before, settle after. call makes
 * the allocation (its address and pitch widened to 64 bits), undo frees it (both ABIs). */
CUresult tfw_lim_alloc_pitched(uint64_t width, uint64_t height, void *args,
                               CUresult (*call)(void *args, uint64_t *p, uint64_t *pitch),
                               CUresult (*undo)(uint64_t p))
{
    struct tfw_limits *L = lim();
    struct tfw_vgpu *v = tfw_lim_current_vgpu(L);
    uint64_t row = (width + PITCH_ALIGN - 1) / PITCH_ALIGN * PITCH_ALIGN;
    if (row < width || (height && row > UINT64_MAX / height))
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t est = row * height, p = 0, pitch = 0;
    CUresult r = reserve_switching(L, v, est);
    if (r != CUDA_SUCCESS)
        return r;
    r = call(args, &p, &pitch);
    if (r != CUDA_SUCCESS) {
        tfw_lim_release(L, v, est);
        return r;
    }
    uint64_t actual = pitch * height;
    if (actual < est) {
        tfw_lim_release(L, v, est - actual);
    } else if (actual > est && (r = tfw_lim_reserve(L, v, actual - est)) != CUDA_SUCCESS) {
        undo(p);
        tfw_lim_release(L, v, est);
        return r;
    }
    return tfw_lim_settle(L, v, CUDA_SUCCESS, p, actual);
}

struct pitch_args {
    CUdeviceptr *dptr;
    size_t *pitch, width, height;
    unsigned elem;
};

static CUresult pitch_once(void *args, uint64_t *p, uint64_t *pitch)
{
    struct pitch_args *a = args;
    struct tfw_limits *L = lim();
    CUresult r = tfw_freeze_alloc_pitch(tfw_self, L, tfw_lim_current_vgpu(L), a->width,
                                        a->height, a->elem, p, pitch);
    if (r != CUDA_ERROR_NOT_SUPPORTED) {
        if (r == CUDA_SUCCESS) {
            *a->dptr = (CUdeviceptr)*p;
            *a->pitch = (size_t)*pitch;
        }
        return r;
    }
    r = L->orig.cuMemAllocPitch_v2(a->dptr, a->pitch, a->width, a->height, a->elem);
    if (r == CUDA_SUCCESS) {
        *p = *a->dptr;
        *pitch = *a->pitch;
    }
    return r;
}

static CUresult pitch_call(void *args, uint64_t *p, uint64_t *pitch)
{
    struct pitch_args *a = args;
    uint64_t deadline = 0, bytes = (uint64_t)a->width * a->height;
    CUresult r;
    while ((r = pitch_once(args, p, pitch)) == CUDA_ERROR_OUT_OF_MEMORY &&
           tfw_freeze_room(tfw_self, bytes, &deadline, 0))
        ;
    return r;
}

static CUresult pitch_undo(uint64_t p)
{
    CUresult r;
    if (tfw_freeze_free(tfw_self, lim(), (CUdeviceptr)p, &r))
        return r;
    return lim()->orig.cuMemFree_v2((CUdeviceptr)p);
}

static CUresult w_mem_alloc_pitch(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height,
                                  unsigned elem)
{
    struct pitch_args a = {dptr, pitch, width, height, elem};
    if (!dptr || !pitch)
        return CUDA_ERROR_INVALID_VALUE;
    return tfw_lim_alloc_pitched(width, height, &a, pitch_call, pitch_undo);
}

static CUresult w_mem_free(CUdeviceptr p)
{
    struct tfw_limits *L = lim();
    CUresult r;
    if (!tfw_freeze_free(tfw_self, L, p, &r))
        r = L->orig.cuMemFree_v2(p);
    if (r == CUDA_SUCCESS)
        tfw_lim_refund(L, (uint64_t)p);
    return r;
}

/* A small allocation carved out of a freezable chunk (freeze_small.c) is a range of its own,
 * not its chunk's (the backend only knows the chunk). */
static CUresult w_mem_get_address_range(CUdeviceptr *base, size_t *size, CUdeviceptr p)
{
    uint64_t b = 0, n = 0;
    if (!tfw_freeze_small_range((uint64_t)p, &b, &n))
        return lim()->orig.cuMemGetAddressRange_v2(base, size, p);
    if (base)
        *base = (CUdeviceptr)b;
    if (size)
        *size = (size_t)n;
    return CUDA_SUCCESS;
}

/* A free captured into a graph frees nothing now: the graph allocates the memory again at every
 * launch (and the driver keeps it for the next one), so what was charged when the allocation
 * was captured stays charged for the session rather than be refunded by the capture. */
static CUresult w_mem_free_async(CUdeviceptr p, CUstream st)
{
    struct tfw_limits *L = lim();
    CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
    if (L->orig.cuStreamIsCapturing && L->orig.cuStreamIsCapturing(st, &capture) != CUDA_SUCCESS)
        capture = CU_STREAM_CAPTURE_STATUS_NONE;
    CUresult r;
    if (capture != CU_STREAM_CAPTURE_STATUS_NONE || !tfw_freeze_free(tfw_self, L, p, &r))
        r = L->orig.cuMemFreeAsync(p, st);
    if (r == CUDA_SUCCESS && capture == CU_STREAM_CAPTURE_STATUS_NONE)
        tfw_lim_refund(L, (uint64_t)p);
    return r;
}

/* Module and library unloads refund the globals charged when they were loaded (custom.c). */
static CUresult w_module_unload(CUmodule m)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuModuleUnload(m);
    if (r == CUDA_SUCCESS)
        tfw_lim_refund(L, TFW_LIMITS_HANDLE_KEY((uintptr_t)m));
    return r;
}

static CUresult w_library_unload(CUlibrary l)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuLibraryUnload(l);
    if (r == CUDA_SUCCESS)
        tfw_lim_refund(L, TFW_LIMITS_HANDLE_KEY((uintptr_t)l));
    return r;
}

/* A destroyed context's handle may come back for another device: forget the cached lookup
 * whenever a context may have gone (destroyed, or a primary context released or reset). */
static CUresult w_ctx_destroy(CUcontext ctx)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuCtxDestroy_v2(ctx);
    L->last_ctx = NULL;
    return r;
}

CUresult tfw_limits_context_on(struct tfw_session *s, CUdevice dev)
{
    struct tfw_limits *L = s->lim;
    struct tfw_vgpu *v = L ? tfw_lim_vgpu_of_device(L, dev) : NULL;
    if (!v || v->ctx_charged || !L->ctx_overhead)
        return CUDA_SUCCESS;
    CUresult r = tfw_lim_reserve(L, v, L->ctx_overhead);
    if (r == CUDA_SUCCESS)
        v->ctx_charged = 1;
    else
        tf_warn("vGPU %s has no room for a context (%llu bytes)", v->slot->id,
                (unsigned long long)L->ctx_overhead);
    return r;
}

static CUresult w_primary_retain(CUcontext *pctx, CUdevice dev)
{
    CUresult r = tfw_limits_context_on(tfw_self, dev);
    return r == CUDA_SUCCESS ? lim()->orig.cuDevicePrimaryCtxRetain(pctx, dev) : r;
}

static CUresult w_ctx_create(CUcontext *pctx, unsigned flags, CUdevice dev)
{
    CUresult r = tfw_limits_context_on(tfw_self, dev);
    return r == CUDA_SUCCESS ? lim()->orig.cuCtxCreate_v2(pctx, flags, dev) : r;
}

static CUresult w_green_create(CUgreenCtx *pctx, CUdevResourceDesc desc, CUdevice dev,
                               unsigned flags)
{
    CUresult r = tfw_limits_context_on(tfw_self, dev);
    return r == CUDA_SUCCESS ? lim()->orig.cuGreenCtxCreate(pctx, desc, dev, flags) : r;
}

static CUresult w_primary_release(CUdevice dev)
{
    struct tfw_limits *L = lim();
    L->last_ctx = NULL;
    return L->orig.cuDevicePrimaryCtxRelease_v2(dev);
}

static CUresult w_primary_reset(CUdevice dev)
{
    struct tfw_limits *L = lim();
    L->last_ctx = NULL;
    return L->orig.cuDevicePrimaryCtxReset_v2(dev);
}

CUresult tfw_limits_reserve(struct tfw_session *s, uint64_t bytes)
{
    return s->lim ? tfw_lim_reserve(s->lim, tfw_lim_current_vgpu(s->lim), bytes) : CUDA_SUCCESS;
}

void tfw_limits_remember(struct tfw_session *s, uint64_t key, uint64_t bytes)
{
    if (s->lim && bytes && tfw_lim_sizes_put(s->lim, key, bytes, tfw_lim_current_vgpu(s->lim)) != 0)
        tf_error("out of memory remembering a charge: its refund will come at exit");
}

void tfw_limits_release(struct tfw_session *s, uint64_t bytes)
{
    if (s->lim)
        tfw_lim_release(s->lim, tfw_lim_current_vgpu(s->lim), bytes);
}

void tfw_limits_refund(struct tfw_session *s, uint64_t key)
{
    if (s->lim)
        tfw_lim_refund(s->lim, key);
}

/* ---- the vGPU's memory view ---- */

static CUresult w_mem_get_info(size_t *freeb, size_t *total)
{
    struct tfw_limits *L = lim();
    size_t dev_free = 0, dev_total = 0;
    CUresult r = L->orig.cuMemGetInfo_v2(&dev_free, &dev_total);
    if (r != CUDA_SUCCESS)
        return r;
    struct tfw_vgpu *v = tfw_lim_current_vgpu(L);
    if (!v)
        return CUDA_ERROR_INVALID_CONTEXT;
    uint64_t vfree = vgpu_mem_free(v->slot);
    if (freeb)
        *freeb = vfree < dev_free ? (size_t)vfree : dev_free;
    if (total)
        *total = (size_t)vgpu_mem_limit(v->slot);
    return r;
}

/* dev is the backend's ordinal: the session's ordinals were translated before (devmap.c). */
static CUresult w_device_total_mem(size_t *bytes, CUdevice dev)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuDeviceTotalMem_v2(bytes, dev);
    struct tfw_vgpu *v = tfw_lim_vgpu_of_device(L, dev);
    if (r == CUDA_SUCCESS && bytes && v)
        *bytes = (size_t)vgpu_mem_limit(v->slot);
    return r;
}

/* ---- attachment ---- */

static void install(struct tf_backend *be)
{
    TFW_WRAP(be, cuMemAlloc_v2, w_mem_alloc);
    TFW_WRAP(be, cuMemAllocPitch_v2, w_mem_alloc_pitch);
    TFW_WRAP(be, cuMemAllocAsync, w_mem_alloc_async);
    TFW_WRAP(be, cuMemAllocFromPoolAsync, w_mem_alloc_pool);
    TFW_WRAP(be, cuMemFree_v2, w_mem_free);
    TFW_WRAP(be, cuMemGetAddressRange_v2, w_mem_get_address_range);
    TFW_WRAP(be, cuMemFreeAsync, w_mem_free_async);
    TFW_WRAP(be, cuModuleUnload, w_module_unload);
    TFW_WRAP(be, cuLibraryUnload, w_library_unload);
    TFW_WRAP(be, cuMemGetInfo_v2, w_mem_get_info);
    TFW_WRAP(be, cuDeviceTotalMem_v2, w_device_total_mem);
    TFW_WRAP(be, cuCtxDestroy_v2, w_ctx_destroy);
    TFW_WRAP(be, cuDevicePrimaryCtxRetain, w_primary_retain);
    TFW_WRAP(be, cuCtxCreate_v2, w_ctx_create);
    TFW_WRAP(be, cuGreenCtxCreate, w_green_create);
    TFW_WRAP(be, cuDevicePrimaryCtxRelease_v2, w_primary_release);
    TFW_WRAP(be, cuDevicePrimaryCtxReset_v2, w_primary_reset);
    TFW_WRAP(be, cuLaunchKernel, tfw_lim_launch);
    TFW_WRAP(be, cuLaunchKernelEx, tfw_lim_launch_ex);
    TFW_WRAP(be, cuGraphLaunch, tfw_lim_graph_launch);
    tfw_lim_vmm_install(be);
    tfw_lim_array_install(be);
    tfw_lim_abi32_install(be);
}

/* Attaches the process to one vGPU (the context overhead is charged at the first context on
 * its device, tfw_limits_context_on). */
static int attach_one(struct tfw_vgpu *v, struct vgpu_region *r, int slot, char *err,
                      size_t errlen)
{
    struct vgpu_slot *vs = vgpu_slot_at(r, slot);
    if (!vs) {
        snprintf(err, errlen, "no vGPU slot %d", slot);
        return -1;
    }
    int rc = vgpu_mem_attach(vs, getpid(), &v->mem);
    if (rc != 0) {
        snprintf(err, errlen, "cannot attach to vGPU %s: %s", vs->id,
                 rc == -ENODEV ? "it was deleted" : rc == -ENOSPC ? "too many processes"
                                                                  : strerror(-rc));
        return -1;
    }
    v->slot = vs;
    v->generation = v->mem.generation;
    v->device = (CUdevice)r->hdr->device_index;
    v->usage_busy_ns = atomic_load(&vs->busy_ns);
    v->usage_wall_ns = tfw_lim_wall_ns();
    return 0;
}

int tfw_limits_attach(struct tfw_session *s, struct vgpu_region *const *regions, const int *slots,
                      int n, uint64_t ctx_overhead, char *err, size_t errlen)
{
    if (n < 1 || n > TFW_MAX_GPUS) {
        snprintf(err, errlen, "a session may use 1 to %d vGPUs, not %d", TFW_MAX_GPUS, n);
        return -1;
    }
    struct tfw_limits *L = calloc(1, sizeof *L);
    if (!L) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int limited = 0;   /* a live resize may limit one later: tfw_lim_progress_ensure */
    for (; L->nvgpus < n; L->nvgpus++) {
        struct tfw_vgpu *v = &L->vgpus[L->nvgpus];
        if (attach_one(v, regions[L->nvgpus], slots[L->nvgpus], err, errlen) != 0) {
            while (L->nvgpus > 0)
                vgpu_mem_detach(&L->vgpus[--L->nvgpus].mem);
            free(L);
            return -1;
        }
        limited |= !v->slot->compute_unlimited;
    }
    L->orig = s->be;
    L->ctx_overhead = ctx_overhead;
    pthread_mutex_init(&L->mu, NULL);
    /* Unlimited vGPUs pay nothing: their kernels are charged at the end, as usage only. */
    if (limited)
        tfw_lim_progress_ensure(L);
    install(&s->be);
    s->lim = L;
    return 0;
}

CUresult tfw_limits_check(const struct tfw_session *s)
{
    const struct tfw_limits *L = s->lim;
    if (!L)
        return CUDA_SUCCESS;
    for (int i = 0; i < L->nvgpus; i++)
        if (!tfw_lim_vgpu_live(&L->vgpus[i]))
            return CUDA_ERROR_DEVICE_UNAVAILABLE;
    return CUDA_SUCCESS;
}

int tfw_limits_device(const struct tfw_session *s, int i)
{
    return s->lim && i >= 0 && i < s->lim->nvgpus ? (int)s->lim->vgpus[i].device : -1;
}

void tfw_lim_progress_ensure(struct tfw_limits *L)
{
    pthread_mutex_lock(&L->mu);
    if (!L->has_progress && !L->progress_failed && L->orig.cuEventQuery) {
        L->has_progress = pthread_create(&L->progress, NULL, tfw_lim_progress_main, L) == 0;
        L->progress_failed = !L->has_progress;
        if (!L->has_progress)
            tf_warn("no progress thread: long kernels are charged when they end");
    }
    pthread_mutex_unlock(&L->mu);
}

int tfw_limits_count(const struct tfw_session *s)
{
    return s->lim ? s->lim->nvgpus : 0;
}

void tfw_limits_end(struct tfw_session *s)
{
    struct tfw_limits *L = s->lim;
    if (!L)
        return;
    if (L->has_progress) {
        atomic_store(&L->stop, 1);
        pthread_join(L->progress, NULL);
    }
    if (tfw_limits_check(s) == CUDA_SUCCESS)
        while (tfw_lim_collect_one(L, 1))
            ;
    pthread_mutex_destroy(&L->mu);
    for (int i = 0; i < L->nvgpus; i++)
        vgpu_mem_detach(&L->vgpus[i].mem);
    tfw_lim_vmm_free(L);
    free(L->sizes);
    free(L);
    s->lim = NULL;
}

CUresult tfw_limits_usage(struct tfw_session *s, int i, unsigned *pct, uint64_t *held)
{
    enum { MIN_WINDOW_NS = 100000000 };
    struct tfw_limits *L = s->lim;
    if (!L)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (i < 0 || i >= L->nvgpus)
        return CUDA_ERROR_INVALID_DEVICE;
    struct tfw_vgpu *v = &L->vgpus[i];
    uint64_t busy = atomic_load(&v->slot->busy_ns), now = tfw_lim_wall_ns();
    if (now - v->usage_wall_ns >= MIN_WINDOW_NS) {
        uint64_t ran = busy - v->usage_busy_ns, window = now - v->usage_wall_ns;
        v->usage_pct = ran >= window ? 100 : (unsigned)(ran * 100 / window);
        v->usage_busy_ns = busy;
        v->usage_wall_ns = now;
    }
    *pct = v->usage_pct;
    *held = v->mem.entry ? atomic_load(&v->mem.entry->bytes) : 0;
    return CUDA_SUCCESS;
}
