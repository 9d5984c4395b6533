/*
 * vGPU enforcement in the worker (see enforce.h): wrappers installed in the session's backend
 * table around the calls that take device memory, the calls that report it, and the calls that
 * launch work on the device.
 *
 * Memory is reserved on the shared ledger before the backend allocates and released if the
 * backend fails, so N processes of one vGPU racing can never pass the limit (the ledger's CAS
 * decides). Sizes are remembered per pointer so a free refunds exactly what was charged.
 *
 * Compute: a launch first waits for tokens (vgpu_compute_acquire sleeps on a futex), then is
 * bracketed by two events on its stream; the elapsed time is charged once the end event has
 * completed, found by the next launches (non-blocking queries) or, when too many launches are
 * in flight, by waiting for the oldest one. The pipeline is never serialised: a launch waits
 * only for a launch LIMITS_INFLIGHT places ahead of it. A limited session also runs a progress
 * thread that charges the running launch as it runs (settled against the events afterwards),
 * and a launch deep in debt sleeps it off outside the bucket (see repay_debt): kernels far
 * longer than the controller's period would otherwise overshoot the limit.
 *
 * Owns: struct tfw_limits. May call: src/vgpu, the backend table (the saved originals),
 * src/common/log.h.
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
#include "worker_int.h"

#define LIMITS_INFLIGHT 64 /* launches measured but not yet charged */
#define LIMITS_SPARE 16    /* event pairs kept for reuse */
#define PROGRESS_POLL_NS 2000000ull /* how often running kernels are charged (5 per period) */
#define DEBT_SLEEP_NS 20000000ll  /* a debt past 2 periods is slept off, not waited for */
#define PITCH_ALIGN 512    /* the largest pitch alignment a device uses (textureAlignment) */
#define KEY_EMPTY 0
#define KEY_GONE 1         /* a deleted entry; no device allocation starts at address 1 */

struct timing {
    CUcontext ctx;
    CUevent start, end;
    uint64_t est_ns;   /* what acquire took from the bucket up front */
    /* Written by the progress thread (under mu): */
    uint64_t run_since_ns;  /* wall time its start event was seen complete, 0 before */
    uint64_t charged_ns;    /* charged while it ran; settled against the events at collection */
    int ended;              /* its end event was seen complete: no more progress charges */
};

struct tfw_limits {
    struct vgpu_slot *slot;
    uint64_t generation;
    struct vgpu_mem_client mem;
    struct tf_backend orig;            /* the backend's entries before interposition */
    struct { uint64_t ptr, bytes; } *sizes; /* open addressing, linear probing */
    size_t cap, used;
    struct timing inflight[LIMITS_INFLIGHT]; /* a ring, oldest at head */
    unsigned head, count;
    struct timing spare[LIMITS_SPARE];
    unsigned nspare;
    uint64_t avg_ns;   /* recent kernel time (EWMA, 1/8): each launch's up-front estimate */
    /* A limited vGPU's progress thread charges kernels while they run, so that a kernel far
     * longer than the controller's period shows up as usage period by period rather than all
     * at its end (the controller would see idle periods and grant ahead). mu guards the ring
     * against it; the session thread alone adds and removes entries. */
    pthread_mutex_t mu;
    pthread_t progress;
    int has_progress;
    _Atomic int stop;
};

static struct tfw_limits *lim(void)
{
    return tfw_self->lim;
}

/* ---- allocation sizes ---- */

static size_t probe(uint64_t ptr, size_t cap)
{
    return (size_t)((ptr >> 8) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static int sizes_grow(struct tfw_limits *L)
{
    size_t cap = L->cap ? L->cap * 2 : 256;
    void *old = L->sizes;
    size_t oldcap = L->cap;
    L->sizes = calloc(cap, sizeof L->sizes[0]);
    if (!L->sizes) {
        L->sizes = old;
        return -1;
    }
    L->cap = cap;
    L->used = 0;
    struct { uint64_t ptr, bytes; } *o = old;
    for (size_t i = 0; i < oldcap; i++) {
        if (o[i].ptr <= KEY_GONE)
            continue;
        size_t j = probe(o[i].ptr, cap);
        while (L->sizes[j].ptr != KEY_EMPTY)
            j = (j + 1) & (cap - 1);
        L->sizes[j].ptr = o[i].ptr;
        L->sizes[j].bytes = o[i].bytes;
        L->used++;
    }
    free(old);
    return 0;
}

static int sizes_put(struct tfw_limits *L, uint64_t ptr, uint64_t bytes)
{
    if ((L->used + 1) * 2 > L->cap && sizes_grow(L) != 0)
        return -1;
    size_t j = probe(ptr, L->cap);
    while (L->sizes[j].ptr > KEY_GONE && L->sizes[j].ptr != ptr)
        j = (j + 1) & (L->cap - 1);
    if (L->sizes[j].ptr != ptr)
        L->used++;
    L->sizes[j].ptr = ptr;
    L->sizes[j].bytes = bytes;
    return 0;
}

/* Removes ptr and returns the bytes charged for it (0 when unknown). */
static uint64_t sizes_take(struct tfw_limits *L, uint64_t ptr)
{
    if (!L->cap || ptr <= KEY_GONE)
        return 0;
    for (size_t j = probe(ptr, L->cap), n = 0; n < L->cap; j = (j + 1) & (L->cap - 1), n++) {
        if (L->sizes[j].ptr == KEY_EMPTY)
            return 0;
        if (L->sizes[j].ptr == ptr) {
            L->sizes[j].ptr = KEY_GONE;   /* stays counted in `used` until the next grow */
            return L->sizes[j].bytes;
        }
    }
    return 0;
}

/* ---- memory ---- */

static CUresult reserve(struct tfw_limits *L, uint64_t bytes)
{
    if (bytes == 0)
        return CUDA_SUCCESS;
    int rc = vgpu_mem_reserve(&L->mem, bytes);
    if (rc == -ENOMEM)
        return CUDA_ERROR_OUT_OF_MEMORY;
    return rc == 0 ? CUDA_SUCCESS : CUDA_ERROR_DEVICE_UNAVAILABLE;
}

static void release(struct tfw_limits *L, uint64_t bytes)
{
    if (bytes && vgpu_mem_release(&L->mem, bytes) != 0)
        tf_error("vGPU ledger refused a refund of %llu bytes (accounting bug)",
                 (unsigned long long)bytes);
}

/* After the backend answered an allocation that was charged `bytes` up front. */
static CUresult settle(struct tfw_limits *L, CUresult r, CUdeviceptr p, uint64_t bytes)
{
    if (r != CUDA_SUCCESS) {
        release(L, bytes);
        return r;
    }
    if (sizes_put(L, (uint64_t)p, bytes) != 0)
        tf_error("out of memory remembering an allocation: its refund will come at exit");
    return r;
}

static CUresult w_mem_alloc(CUdeviceptr *dptr, size_t bytes)
{
    struct tfw_limits *L = lim();
    CUresult r = reserve(L, bytes);
    if (r != CUDA_SUCCESS)
        return r;
    /* The call must finish before *dptr is read: argument order is unspecified in C. */
    r = L->orig.cuMemAlloc_v2(dptr, bytes);
    return settle(L, r, dptr ? *dptr : 0, bytes);
}

static CUresult w_mem_alloc_async(CUdeviceptr *dptr, size_t bytes, CUstream st)
{
    struct tfw_limits *L = lim();
    CUresult r = reserve(L, bytes);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuMemAllocAsync(dptr, bytes, st);
    return settle(L, r, dptr ? *dptr : 0, bytes);
}

static CUresult w_mem_alloc_pool(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream st)
{
    struct tfw_limits *L = lim();
    CUresult r = reserve(L, bytes);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuMemAllocFromPoolAsync(dptr, bytes, pool, st);
    return settle(L, r, dptr ? *dptr : 0, bytes);
}

/* The pitch is the device's choice: charge the most it can be before, settle after. */
static CUresult w_mem_alloc_pitch(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height,
                                  unsigned elem)
{
    struct tfw_limits *L = lim();
    uint64_t row = ((uint64_t)width + PITCH_ALIGN - 1) / PITCH_ALIGN * PITCH_ALIGN;
    if (row < width || (height && row > UINT64_MAX / height))
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t est = row * height;
    CUresult r = reserve(L, est);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuMemAllocPitch_v2(dptr, pitch, width, height, elem);
    if (r != CUDA_SUCCESS) {
        release(L, est);
        return r;
    }
    uint64_t actual = (uint64_t)*pitch * height;
    if (actual < est) {
        release(L, est - actual);
    } else if (actual > est && (r = reserve(L, actual - est)) != CUDA_SUCCESS) {
        L->orig.cuMemFree_v2(*dptr);
        release(L, est);
        return r;
    }
    return settle(L, CUDA_SUCCESS, *dptr, actual);
}

static CUresult w_mem_free(CUdeviceptr p)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuMemFree_v2(p);
    if (r == CUDA_SUCCESS)
        release(L, sizes_take(L, (uint64_t)p));
    return r;
}

static CUresult w_mem_free_async(CUdeviceptr p, CUstream st)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuMemFreeAsync(p, st);
    if (r == CUDA_SUCCESS)
        release(L, sizes_take(L, (uint64_t)p));
    return r;
}

/* Module and library unloads refund the globals charged when they were loaded (custom.c). */
static CUresult w_module_unload(CUmodule m)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuModuleUnload(m);
    if (r == CUDA_SUCCESS)
        release(L, sizes_take(L, TFW_LIMITS_HANDLE_KEY((uintptr_t)m)));
    return r;
}

static CUresult w_library_unload(CUlibrary l)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuLibraryUnload(l);
    if (r == CUDA_SUCCESS)
        release(L, sizes_take(L, TFW_LIMITS_HANDLE_KEY((uintptr_t)l)));
    return r;
}

CUresult tfw_limits_reserve(struct tfw_session *s, uint64_t bytes)
{
    return s->lim ? reserve(s->lim, bytes) : CUDA_SUCCESS;
}

void tfw_limits_remember(struct tfw_session *s, uint64_t key, uint64_t bytes)
{
    if (s->lim && bytes && sizes_put(s->lim, key, bytes) != 0)
        tf_error("out of memory remembering a charge: its refund will come at exit");
}

void tfw_limits_release(struct tfw_session *s, uint64_t bytes)
{
    if (s->lim)
        release(s->lim, bytes);
}

void tfw_limits_refund(struct tfw_session *s, uint64_t key)
{
    if (s->lim)
        release(s->lim, sizes_take(s->lim, key));
}

/* ---- the vGPU's memory view ---- */

static CUresult w_mem_get_info(size_t *freeb, size_t *total)
{
    struct tfw_limits *L = lim();
    size_t dev_free = 0, dev_total = 0;
    CUresult r = L->orig.cuMemGetInfo_v2(&dev_free, &dev_total);
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t vfree = vgpu_mem_free(L->slot);
    if (freeb)
        *freeb = vfree < dev_free ? (size_t)vfree : dev_free;
    if (total)
        *total = (size_t)vgpu_mem_limit(L->slot);
    return r;
}

static CUresult w_device_total_mem(size_t *bytes, CUdevice dev)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuDeviceTotalMem_v2(bytes, dev);
    if (r == CUDA_SUCCESS && bytes)
        *bytes = (size_t)vgpu_mem_limit(L->slot);
    return r;
}

/* A session sees one device: its vGPU's (device 0 of the session, see tfw_limits_attach). */
static CUresult w_device_count(int *count)
{
    CUresult r = lim()->orig.cuDeviceGetCount(count);
    if (r == CUDA_SUCCESS && *count > 1)
        *count = 1;
    return r;
}

/* ---- compute ---- */

static void timing_recycle(struct tfw_limits *L, struct timing t)
{
    t.run_since_ns = t.charged_ns = 0;
    t.ended = 0;
    if (L->nspare < LIMITS_SPARE) {
        L->spare[L->nspare++] = t;
        return;
    }
    L->orig.cuEventDestroy_v2(t.start);
    L->orig.cuEventDestroy_v2(t.end);
}

/* Charges the oldest launch in flight if it finished (wait: block until it has). Returns 1 when
 * one was charged. What the progress thread charged while it ran is settled against the
 * events' measure. Never holds mu while it waits, so the progress thread goes on meanwhile. */
static int collect_one(struct tfw_limits *L, int wait)
{
    if (!L->count)
        return 0;
    struct timing *t = &L->inflight[L->head];   /* only this thread removes it */
    CUresult r = wait ? L->orig.cuEventSynchronize(t->end) : L->orig.cuEventQuery(t->end);
    if (r == CUDA_ERROR_NOT_READY)
        return 0;
    float ms = 0;
    uint64_t ns = 0;
    if (r == CUDA_SUCCESS && L->orig.cuEventElapsedTime(&ms, t->start, t->end) == CUDA_SUCCESS &&
        ms > 0)
        ns = (uint64_t)((double)ms * 1e6);
    pthread_mutex_lock(&L->mu);
    uint64_t charged = t->charged_ns;
    if (ns >= charged) {
        vgpu_compute_charge(L->slot, ns - charged, t->est_ns);
    } else {   /* polled wall time ran past the kernel: give the difference back */
        vgpu_compute_charge(L->slot, 0, t->est_ns + (charged - ns));
        atomic_fetch_sub_explicit(&L->slot->busy_ns, charged - ns, memory_order_relaxed);
    }
    L->avg_ns = L->avg_ns ? L->avg_ns - L->avg_ns / 8 + ns / 8 : ns;
    struct timing done = *t;
    L->head = (L->head + 1) % LIMITS_INFLIGHT;
    L->count--;
    pthread_mutex_unlock(&L->mu);
    timing_recycle(L, done);
    return 1;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One pass of the progress thread: finds the launch now running (the first in the ring whose
 * end has not completed; it runs once its start event has) and charges its time so far.
 * Event queries are thread-safe and take no context. */
static void progress_pass(struct tfw_limits *L)
{
    if (atomic_load_explicit(&L->slot->state, memory_order_relaxed) != VGPU_SLOT_LIVE ||
        L->slot->generation != L->generation)
        return;   /* deleted (the slot may serve another vGPU next): charge nothing more */
    pthread_mutex_lock(&L->mu);
    uint64_t now = wall_ns();
    for (unsigned k = 0; k < L->count; k++) {
        struct timing *t = &L->inflight[(L->head + k) % LIMITS_INFLIGHT];
        if (t->ended)
            continue;
        if (L->orig.cuEventQuery(t->end) != CUDA_ERROR_NOT_READY) {
            t->ended = 1;
            continue;
        }
        if (!t->run_since_ns) {
            if (L->orig.cuEventQuery(t->start) != CUDA_SUCCESS)
                break;   /* queued behind other work: not running yet */
            t->run_since_ns = now;
        }
        uint64_t ran = now - t->run_since_ns;
        if (ran > t->charged_ns) {   /* usage and tokens only: not a launch of its own */
            uint64_t d = ran - t->charged_ns;
            atomic_fetch_add_explicit(&L->slot->busy_ns, d, memory_order_relaxed);
            atomic_fetch_sub(&L->slot->tokens_ns, (int64_t)d);
            t->charged_ns = ran;
        }
        break;   /* a stream runs one kernel at a time; later ones wait their turn */
    }
    pthread_mutex_unlock(&L->mu);
}

static void *progress_main(void *arg)
{
    struct tfw_limits *L = arg;
    struct timespec poll = {0, (long)PROGRESS_POLL_NS};
    while (!atomic_load_explicit(&L->stop, memory_order_relaxed)) {
        nanosleep(&poll, NULL);
        progress_pass(L);
    }
    return NULL;
}

/* A kernel far longer than the controller's period leaves the bucket deep in debt. Waiting for
 * the refills inside vgpu_compute_acquire would mark the vGPU hungry for the whole repayment
 * while its usage reads 0, and the controller's integral would wind up and grant it well past
 * its limit (a 20% tenant with 300 ms kernels got 31%). The debt is the tenant's own: sleep it
 * off here, at the rate the vGPU is granted at most, without registering as a waiter. Returns
 * 0, or -1 when the vGPU was deleted meanwhile. */
static int repay_debt(struct tfw_limits *L)
{
    double rate = L->slot->limit_bp / (double)VGPU_BP_FULL;
    for (;;) {
        int64_t tokens = atomic_load(&L->slot->tokens_ns);
        if (tokens >= -(int64_t)DEBT_SLEEP_NS || rate <= 0)
            return 0;
        if (atomic_load_explicit(&L->slot->state, memory_order_relaxed) != VGPU_SLOT_LIVE)
            return -1;
        double wait = (double)(-tokens - (int64_t)DEBT_SLEEP_NS / 2) / rate;
        if (wait > 50e6)
            wait = 50e6;   /* look again: the grant may have grown, the vGPU may be gone */
        struct timespec ts = {0, (long)wait};
        nanosleep(&ts, NULL);
    }
}

static int capturing(struct tfw_limits *L, CUstream st)
{
    CUstreamCaptureStatus cs = CU_STREAM_CAPTURE_STATUS_NONE;
    return L->orig.cuStreamIsCapturing && L->orig.cuStreamIsCapturing(st, &cs) == CUDA_SUCCESS &&
           cs != CU_STREAM_CAPTURE_STATUS_NONE;
}

/* Before a launch on st: waits for tokens, takes the launch's estimated cost (the session's
 * recent kernel time) so that launches queued before the first ones are charged cannot all pass
 * on one positive balance, and records the start event. t->start == NULL when the launch is not
 * measured (stream capture: the graph's launch will be). */
static CUresult launch_begin(struct tfw_limits *L, CUstream st, struct timing *t)
{
    memset(t, 0, sizeof *t);
    if (capturing(L, st))
        return CUDA_SUCCESS;
    while (collect_one(L, 0))
        ;
    if (L->count == LIMITS_INFLIGHT)
        collect_one(L, 1);
    if (!L->slot->compute_unlimited && repay_debt(L) != 0)
        return CUDA_ERROR_DEVICE_UNAVAILABLE;
    int rc;
    uint64_t est = L->slot->compute_unlimited ? 0 : L->avg_ns;
    while ((rc = vgpu_compute_acquire(L->slot, est, 0)) == -EINTR)
        ;
    if (rc != 0)
        return CUDA_ERROR_DEVICE_UNAVAILABLE;
    CUcontext ctx = tfw_self->current;
    for (unsigned i = 0; i < L->nspare; i++) {
        if (L->spare[i].ctx == ctx) {
            *t = L->spare[i];
            L->spare[i] = L->spare[--L->nspare];
            break;
        }
    }
    if (!t->start) {
        t->ctx = ctx;
        if (L->orig.cuEventCreate(&t->start, CU_EVENT_DEFAULT) != CUDA_SUCCESS ||
            L->orig.cuEventCreate(&t->end, CU_EVENT_DEFAULT) != CUDA_SUCCESS) {
            tf_warn("cannot create timing events: this launch is not charged");
            if (t->start)
                L->orig.cuEventDestroy_v2(t->start);
            memset(t, 0, sizeof *t);
            vgpu_compute_charge(L->slot, 0, est);
            return CUDA_SUCCESS;
        }
    }
    if (L->orig.cuEventRecord(t->start, st) != CUDA_SUCCESS) {
        timing_recycle(L, *t);
        memset(t, 0, sizeof *t);
        vgpu_compute_charge(L->slot, 0, est);   /* give the estimate back: nothing is timed */
        return CUDA_SUCCESS;
    }
    t->est_ns = est;
    return CUDA_SUCCESS;
}

static CUresult launch_end(struct tfw_limits *L, CUstream st, struct timing *t, CUresult r)
{
    if (!t->start)
        return r;
    if (r != CUDA_SUCCESS || L->orig.cuEventRecord(t->end, st) != CUDA_SUCCESS) {
        vgpu_compute_charge(L->slot, 0, t->est_ns);   /* not run (or not timed): refund */
        timing_recycle(L, *t);
        return r;
    }
    pthread_mutex_lock(&L->mu);
    L->inflight[(L->head + L->count) % LIMITS_INFLIGHT] = *t;
    L->count++;
    pthread_mutex_unlock(&L->mu);
    return r;
}

static CUresult w_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                         unsigned by, unsigned bz, unsigned shmem, CUstream st, void **params,
                         void **extra)
{
    struct tfw_limits *L = lim();
    struct timing t;
    CUresult r = launch_begin(L, st, &t);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shmem, st, params, extra);
    return launch_end(L, st, &t, r);
}

static CUresult w_launch_ex(const CUlaunchConfig *cfg, CUfunction f, void **params, void **extra)
{
    struct tfw_limits *L = lim();
    CUstream st = cfg ? cfg->hStream : NULL;
    struct timing t;
    CUresult r = launch_begin(L, st, &t);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuLaunchKernelEx(cfg, f, params, extra);
    return launch_end(L, st, &t, r);
}

static CUresult w_graph_launch(CUgraphExec g, CUstream st)
{
    struct tfw_limits *L = lim();
    struct timing t;
    CUresult r = launch_begin(L, st, &t);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuGraphLaunch(g, st);
    return launch_end(L, st, &t, r);
}

/* ---- attachment ---- */

static void install(struct tf_backend *be)
{
#define WRAP(sym, fn) if (be->sym) be->sym = fn
    WRAP(cuMemAlloc_v2, w_mem_alloc);
    WRAP(cuMemAllocPitch_v2, w_mem_alloc_pitch);
    WRAP(cuMemAllocAsync, w_mem_alloc_async);
    WRAP(cuMemAllocFromPoolAsync, w_mem_alloc_pool);
    WRAP(cuMemFree_v2, w_mem_free);
    WRAP(cuMemFreeAsync, w_mem_free_async);
    WRAP(cuModuleUnload, w_module_unload);
    WRAP(cuLibraryUnload, w_library_unload);
    WRAP(cuMemGetInfo_v2, w_mem_get_info);
    WRAP(cuDeviceTotalMem_v2, w_device_total_mem);
    WRAP(cuDeviceGetCount, w_device_count);
    WRAP(cuLaunchKernel, w_launch);
    WRAP(cuLaunchKernelEx, w_launch_ex);
    WRAP(cuGraphLaunch, w_graph_launch);
#undef WRAP
}

int tfw_limits_attach(struct tfw_session *s, struct vgpu_region *r, int slot,
                      uint64_t ctx_overhead, char *err, size_t errlen)
{
    struct vgpu_slot *vs = vgpu_slot_at(r, slot);
    if (!vs) {
        snprintf(err, errlen, "no vGPU slot %d", slot);
        return -1;
    }
    if (r->hdr->device_index != 0) {
        /* Sessions see their vGPU as device 0 and calls name devices by index: mapping a
         * physical device other than 0 to the session's device 0 is not implemented yet. */
        snprintf(err, errlen, "vGPUs on device %u are not supported yet (device 0 only)",
                 r->hdr->device_index);
        return -1;
    }
    struct tfw_limits *L = calloc(1, sizeof *L);
    if (!L) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = vgpu_mem_attach(vs, getpid(), &L->mem);
    if (rc != 0) {
        snprintf(err, errlen, "cannot attach to vGPU %s: %s", vs->id,
                 rc == -ENODEV ? "it was deleted" : rc == -ENOSPC ? "too many processes"
                                                                  : strerror(-rc));
        free(L);
        return -1;
    }
    if (ctx_overhead && vgpu_mem_reserve(&L->mem, ctx_overhead) != 0) {
        snprintf(err, errlen, "vGPU %s has no room for a context (%llu bytes)", vs->id,
                 (unsigned long long)ctx_overhead);
        vgpu_mem_detach(&L->mem);
        free(L);
        return -1;
    }
    L->slot = vs;
    L->generation = L->mem.generation;
    L->orig = s->be;
    pthread_mutex_init(&L->mu, NULL);
    /* An unlimited vGPU pays nothing: its kernels are charged at the end, as usage only. */
    if (!vs->compute_unlimited && L->orig.cuEventQuery) {
        L->has_progress = pthread_create(&L->progress, NULL, progress_main, L) == 0;
        if (!L->has_progress)
            tf_warn("no progress thread: long kernels are charged when they end");
    }
    install(&s->be);
    s->lim = L;
    return 0;
}

CUresult tfw_limits_check(const struct tfw_session *s)
{
    const struct tfw_limits *L = s->lim;
    if (!L)
        return CUDA_SUCCESS;
    uint32_t st = atomic_load_explicit(&L->slot->state, memory_order_relaxed);
    return st == VGPU_SLOT_LIVE && L->slot->generation == L->generation
               ? CUDA_SUCCESS
               : CUDA_ERROR_DEVICE_UNAVAILABLE;
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
        while (collect_one(L, 1))
            ;
    pthread_mutex_destroy(&L->mu);
    vgpu_mem_detach(&L->mem);
    free(L->sizes);
    free(L);
    s->lim = NULL;
}
