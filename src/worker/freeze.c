/*
 * Freeze and resume of a session's device memory (see freeze.h, docs/freeze.md).
 *
 * Every freezable allocation keeps its reservation for the session's life; only its physical
 * memory comes and goes, so pointers the program holds (in host variables, in device memory,
 * in kernel parameters captured into graphs) stay valid. The image is one mapping: anonymous
 * memory (host) or a file under the node's freeze folder named by the worker's pid, which the
 * node removes when it reaps the worker and, after a crash of the node, at its next start.
 *
 * Owns: the session's table of freezable allocations (shared with freeze_move.c, migration's
 * moves, through freeze_int.h), the image, the worker's half of the command words. May call:
 * the backend's entries saved by enforce.c (struct tfw_limits, so that nothing here is charged
 * twice), stats.h, migrate.h (the migrate command), src/common/log.h, libc.
 */
#include "freeze.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "enforce_int.h"
#include "freeze_int.h"
#include "log.h"
#include "migrate.h"
#include "stats.h"
#include "worker.h"

#define POLL_MS 50                /* how soon an idle session sees the node's command */
#define ROOM_WAIT_MS 10000        /* a resume waits this long for the device to have room */
#define ROOM_RETRY_MS 20
#define ASK_AGAIN_MS 200          /* after the node found nothing to freeze */
#define BUSY_MAX_NS (300ull * 1000000000ull) /* the node freezing for us: its own bounds, and
                                                * this one in case it is stuck */

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void set_gauge(struct tfw_freeze *f)
{
    uint64_t live = 0;
    for (size_t i = 0; i < f->n; i++)
        live += f->a[i].size;
    atomic_store_explicit(&f->w->freezable_bytes, live, memory_order_relaxed);
}

void tfw_freeze_start(struct tfw_session *s, const struct tfw_opts *o)
{
    struct tfw_stats *e = tfw_stats_self();
    if (!o->freezable || !s->lim || !e)
        return;
    struct tfw_freeze *f = calloc(1, sizeof *f);
    if (!f) {
        tf_warn("out of memory: this session cannot be frozen");
        return;
    }
    f->w = &e->fz;
    f->fd = -1;
    f->dir = o->freeze_dir;
    const char *wait = getenv("TFUSE_FREEZE_ROOM_WAIT_MS");   /* tests shorten it */
    f->room_wait_ms = wait && *wait ? atoi(wait)
                    : o->room_wait_ms > 0 ? o->room_wait_ms : ROOM_WAIT_MS;
    f->room = o->room;
    f->switch_ms = o->switch_idle_ms > 0 ? o->switch_idle_ms : 0;
    f->seen = atomic_load_explicit(&f->w->seq, memory_order_acquire);
    atomic_store_explicit(&f->w->done, f->seen, memory_order_release);
    atomic_store_explicit(&f->w->enabled, 1, memory_order_release);
    s->fz = f;
}

/* ---- allocations ---- */

static uint64_t granularity(struct tfw_freeze *f, struct tfw_limits *L, int dev)
{
    int i = 0;
    for (; i < TFW_MAX_GPUS && f->granularity[i]; i++)
        if (f->granularity_dev[i] == dev)
            return f->granularity[i];
    size_t g = 0;
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {CU_MEM_LOCATION_TYPE_DEVICE, dev}};
    if (i == TFW_MAX_GPUS || !L->orig.cuMemGetAllocationGranularity ||
        L->orig.cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED)
            != CUDA_SUCCESS)
        return 0;
    f->granularity[i] = g;
    f->granularity_dev[i] = dev;
    return g;
}

/* Physical memory for a's range, mapped and accessible; all or nothing. */
CUresult tfw_fz_map_phys(struct tfw_limits *L, struct fz_alloc *a)
{
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {CU_MEM_LOCATION_TYPE_DEVICE, a->device}};
    CUmemAccessDesc acc = {.location = prop.location, .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CUmemGenericAllocationHandle h = 0;
    CUresult r = L->orig.cuMemCreate(&h, a->span, &prop, 0);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuMemMap(a->ptr, a->span, 0, h, 0);
    if (r == CUDA_SUCCESS) {
        r = L->orig.cuMemSetAccess(a->ptr, a->span, &acc, 1);
        if (r != CUDA_SUCCESS)
            L->orig.cuMemUnmap(a->ptr, a->span);
    }
    if (r != CUDA_SUCCESS) {
        L->orig.cuMemRelease(h);
        return r;
    }
    a->h = h;
    return CUDA_SUCCESS;
}

CUresult tfw_fz_unmap_phys(struct tfw_limits *L, struct fz_alloc *a)
{
    CUresult r = L->orig.cuMemUnmap(a->ptr, a->span);
    if (r == CUDA_SUCCESS) {
        L->orig.cuMemRelease(a->h);
        a->h = 0;
    }
    return r;
}

static int has_vmm(const struct tfw_limits *L)
{
    const struct tf_backend *b = &L->orig;
    return b->cuMemAddressReserve && b->cuMemAddressFree && b->cuMemCreate && b->cuMemRelease &&
           b->cuMemMap && b->cuMemUnmap && b->cuMemSetAccess && b->cuMemcpyDtoH_v2 &&
           b->cuMemcpyHtoD_v2 && b->cuCtxSynchronize && b->cuCtxSetCurrent;
}

CUresult tfw_freeze_alloc(struct tfw_session *s, struct tfw_limits *L, struct tfw_vgpu *v,
                          uint64_t bytes, CUdeviceptr *p)
{
    struct tfw_freeze *f = s->fz;
    if (!f || !v || !p || !has_vmm(L))
        return CUDA_ERROR_NOT_SUPPORTED;
    uint64_t g = granularity(f, L, (int)v->device);
    if (!g || bytes > UINT64_MAX - g)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (bytes < g)   /* carved out of a granular chunk (freeze_small.c) */
        return tfw_freeze_small_alloc(s, L, v, (int)v->device, g, bytes, p);
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        struct fz_alloc *na = realloc(f->a, cap * sizeof *na);
        if (!na)
            return CUDA_ERROR_OUT_OF_MEMORY;
        f->a = na;
        f->cap = cap;
    }
    struct fz_alloc a = {.size = bytes, .span = (bytes + g - 1) / g * g, .device = (int)v->device,
                         .charged = bytes};
    CUdeviceptr ptr = 0;
    CUresult r = L->orig.cuMemAddressReserve(&ptr, a.span, 0, 0, 0);
    if (r != CUDA_SUCCESS)
        return r;
    a.ptr = ptr;
    r = tfw_fz_map_phys(L, &a);
    if (r != CUDA_SUCCESS) {
        L->orig.cuMemAddressFree(ptr, a.span);
        return r;
    }
    f->a[f->n++] = a;
    set_gauge(f);
    *p = ptr;
    return CUDA_SUCCESS;
}

CUresult tfw_freeze_alloc_pitch(struct tfw_session *s, struct tfw_limits *L, struct tfw_vgpu *v,
                                uint64_t width, uint64_t height, unsigned elem, uint64_t *p,
                                uint64_t *pitch)
{
    if (!s->fz)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (!width || !height || (elem != 4 && elem != 8 && elem != 16))
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t row = (width + PITCH_ALIGN - 1) / PITCH_ALIGN * PITCH_ALIGN;
    if (row < width || row > UINT64_MAX / height)
        return CUDA_ERROR_INVALID_VALUE;
    CUdeviceptr d = 0;
    CUresult r = tfw_freeze_alloc(s, L, v, row * height, &d);
    if (r == CUDA_SUCCESS) {
        *p = d;
        *pitch = row;
    }
    return r;
}

struct fz_alloc *tfw_fz_find(struct tfw_freeze *f, uint64_t p)
{
    for (size_t i = 0; f && i < f->n; i++)
        if (f->a[i].ptr == p)
            return &f->a[i];
    return NULL;
}

/* Waits for everything queued on every context of the session (cuMemFree's implicit
 * synchronization, and a freeze's drain); the first failure is held for the program. */
CUresult tfw_fz_drain(struct tfw_session *s, struct tfw_limits *L)
{
    CUresult first = CUDA_SUCCESS;
    int moved = 0;
    for (size_t i = 0; i < s->handles.cap; i++) {
        uint64_t k = s->handles.keys[i];
        if (k == 0 || k == UINT64_MAX || s->handles.kinds[i] != TFW_K_CTX)
            continue;
        CUresult r = L->orig.cuCtxSetCurrent((CUcontext)(uintptr_t)k);
        moved = 1;
        if (r == CUDA_SUCCESS)
            r = L->orig.cuCtxSynchronize();
        if (r != CUDA_SUCCESS && first == CUDA_SUCCESS)
            first = r;
    }
    if (moved)
        L->orig.cuCtxSetCurrent(s->current);
    if (first != CUDA_SUCCESS && s->held == CUDA_SUCCESS)
        s->held = first;
    return first;
}

int tfw_freeze_free(struct tfw_session *s, struct tfw_limits *L, CUdeviceptr p, CUresult *r)
{
    struct tfw_freeze *f = s->fz;
    /* a small allocation first: the first one of a chunk has the chunk's address */
    if (f && tfw_freeze_small_owns((uint64_t)p)) {
        tfw_fz_drain(s, L);   /* its units must not be handed out again under a running kernel */
        *r = tfw_freeze_small_free(s, L, (uint64_t)p);
        return 1;
    }
    struct fz_alloc *a = tfw_fz_find(f, (uint64_t)p);
    if (!a)
        return 0;
    tfw_fz_drain(s, L);   /* a kernel still running must not lose its pages under it */
    *r = a->h ? tfw_fz_unmap_phys(L, a) : CUDA_SUCCESS;
    if (*r != CUDA_SUCCESS)
        return 1;
    *r = L->orig.cuMemAddressFree(a->ptr, a->span);
    *a = f->a[--f->n];
    set_gauge(f);
    return 1;
}

/* ---- the image ---- */

static void image_drop(struct tfw_freeze *f)
{
    if (f->image)
        munmap(f->image, f->image_len);
    f->image = NULL;
    if (f->fd >= 0) {
        close(f->fd);
        unlink(f->path);
    }
    f->fd = -1;
    f->image_len = 0;
}

/* A writable mapping of len bytes: anonymous, or the session's file (disk). NULL with err. */
static uint8_t *image_open(struct tfw_freeze *f, int disk, uint64_t len, char *err, size_t elen)
{
    f->image_len = len;
    if (!disk) {
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            snprintf(err, elen, "no host memory for a %llu-byte image: %s",
                     (unsigned long long)len, strerror(errno));
            return NULL;
        }
        madvise(m, len, MADV_HUGEPAGE);   /* 2 MiB pages where THP allows: fewer faults */
        return f->image = m;
    }
    if (!f->dir) {
        snprintf(err, elen, "the node has no folder for disk images");
        return NULL;
    }
    snprintf(f->path, sizeof f->path, "%s/session-%d.frozen", f->dir, (int)getpid());
    f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    void *m = MAP_FAILED;
    if (f->fd >= 0 && ftruncate(f->fd, (off_t)len) == 0)
        m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (m == MAP_FAILED) {
        snprintf(err, elen, "cannot write %.300s: %s", f->path, strerror(errno));
        image_drop(f);
        return NULL;
    }
    return m;
}

/* The disk image is on disk and out of the page cache: the host keeps none of it. */
static int image_sync(struct tfw_freeze *f, uint8_t *m, char *err, size_t elen)
{
    int rc = msync(m, f->image_len, MS_SYNC);
    munmap(m, f->image_len);
    if (rc != 0) {
        snprintf(err, elen, "cannot write %.300s: %s", f->path, strerror(errno));
        return -1;
    }
    posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
    return 0;
}

/* ---- freeze and resume ---- */

CUresult tfw_fz_freeze(struct tfw_session *s, int disk, char *err, size_t elen)
{
    struct tfw_freeze *f = s->fz;
    struct tfw_limits *L = s->lim;
    if (f->frozen)
        return CUDA_SUCCESS;
    CUresult r = tfw_fz_drain(s, L);
    if (r != CUDA_SUCCESS) {
        snprintf(err, elen, "its queued work failed (error %d)", (int)r);
        return r;
    }
    uint64_t len = 0;
    for (size_t i = 0; i < f->n; i++) {
        f->a[i].off = len;
        len += f->a[i].size;
    }
    uint8_t *m = len ? image_open(f, disk, len, err, elen) : NULL;
    if (len && !m)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (size_t i = 0; i < f->n && r == CUDA_SUCCESS; i++)
        r = L->orig.cuMemcpyDtoH_v2(m + f->a[i].off, f->a[i].ptr, f->a[i].size);
    if (r == CUDA_SUCCESS && disk && len && image_sync(f, m, err, elen) != 0)
        r = CUDA_ERROR_OPERATING_SYSTEM;
    else if (r != CUDA_SUCCESS)
        snprintf(err, elen, "copying its memory out failed (error %d)", (int)r);
    if (r != CUDA_SUCCESS) {
        if (disk && m && r != CUDA_ERROR_OPERATING_SYSTEM)
            munmap(m, len);
        image_drop(f);
        return r;
    }
    for (size_t i = 0; i < f->n; i++)
        if (tfw_fz_unmap_phys(L, &f->a[i]) != CUDA_SUCCESS)   /* stays mapped: resume skips it */
            tf_error("freeze: 0x%llx stays on the device (unmap failed)",
                     (unsigned long long)f->a[i].ptr);
    f->frozen = disk ? 2 : 1;
    return CUDA_SUCCESS;
}

/* ---- room on an oversubscribed device ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
    nanosleep(&ts, NULL);
}

/* A command of the node that comes while this session waits for room inside a request: it
 * cannot be run now (the request is half done), and the node must not wait for it (it may be
 * freezing others for this very session), so it is answered at once, refused. */
static void refuse_command(struct tfw_freeze *f)
{
    uint32_t seq = atomic_load_explicit(&f->w->seq, memory_order_acquire);
    if (seq == f->seen)
        return;
    f->seen = seq;
    atomic_store_explicit(&f->w->result, (int32_t)CUDA_ERROR_NOT_READY, memory_order_relaxed);
    atomic_store_explicit(&f->w->done, seq, memory_order_release);
}

/* Asks the node to freeze other vGPUs of the device until `need` bytes fit, and waits for its
 * answer until deadline, or longer once the node is freezing for it (the wait bounds the time
 * without room being made, not the copies of others' memory). 1 when it froze something. */
static int ask_room(struct tfw_freeze *f, uint64_t need, uint64_t deadline, int vgpu)
{
    atomic_store_explicit(&f->w->room_need, need, memory_order_relaxed);
    atomic_store_explicit(&f->w->room_vgpu, (uint32_t)vgpu, memory_order_relaxed);
    uint32_t seq = atomic_load_explicit(&f->w->room_seq, memory_order_relaxed) + 1;
    atomic_store_explicit(&f->w->room_seq, seq, memory_order_release);
    while (atomic_load_explicit(&f->w->room_done, memory_order_acquire) != seq) {
        refuse_command(f);
        int busy = atomic_load_explicit(&f->w->room_busy, memory_order_relaxed) == seq;
        if (now_ns() >= deadline + (busy ? BUSY_MAX_NS : 0)) {
            atomic_store_explicit(&f->w->room_need, 0, memory_order_relaxed);   /* withdrawn */
            return 0;
        }
        sleep_ms(2);
    }
    return atomic_load_explicit(&f->w->room_result, memory_order_relaxed) == TFW_ROOM_FREED;
}

/* One step of a bounded wait for room on the device (vgpu 0) or within the vGPU's limit
 * (vgpu 1, model switching); `ask`: the node may be asked to make it. */
static int wait_room(struct tfw_freeze *f, uint64_t bytes, uint64_t *deadline, int vgpu, int ask)
{
    uint64_t now = now_ns();
    if (!*deadline)
        *deadline = now + (uint64_t)f->room_wait_ms * 1000000ull;
    if (now >= *deadline) {
        if (ask)
            tf_warn("session %d: no room %s for %llu bytes after %d ms, with what the node "
                    "could freeze frozen: out of memory", (int)getpid(),
                    vgpu ? "within the vGPU's limit" : "on the device",
                    (unsigned long long)bytes, f->room_wait_ms);
        return 0;
    }
    if (ask && now >= f->next_ask) {
        if (ask_room(f, bytes, *deadline, vgpu)) {
            *deadline += now_ns() - now;   /* the node's freezes for us are not waiting */
            return 1;
        }
        f->next_ask = now_ns() + ASK_AGAIN_MS * 1000000ull;
    }
    refuse_command(f);
    sleep_ms(ROOM_RETRY_MS);   /* nothing freezable now: room may still come from a free */
    return 1;
}

int tfw_freeze_room(struct tfw_session *s, uint64_t bytes, uint64_t *deadline, int wait)
{
    struct tfw_freeze *f = s->fz;
    if (!f || (!f->room && !wait))
        return 0;
    return wait_room(f, bytes, deadline, 0, f->room);
}

int tfw_freeze_switch(struct tfw_session *s, uint64_t bytes, uint64_t *deadline)
{
    struct tfw_freeze *f = s->fz;
    if (!f || !f->switch_ms)
        return 0;
    return wait_room(f, bytes, deadline, 1, 1);
}

/* ---- model switching: a session's frozen bytes off and back on its vGPU's ledger ---- */

static void set_uncharged(struct tfw_freeze *f, uint64_t bytes)
{
    f->uncharged = bytes != 0;
    atomic_store_explicit(&f->w->uncharged_bytes, bytes, memory_order_relaxed);
}

/* Frozen, idle: its allocations stop counting against the vGPU, so that another session of
 * the vGPU may allocate them (they are charged again before it resumes). */
static void uncharge(struct tfw_session *s)
{
    struct tfw_freeze *f = s->fz;
    uint64_t bytes = 0;
    for (size_t i = 0; !f->uncharged && i < f->n; i++) {
        struct tfw_vgpu *v = tfw_lim_vgpu_of_device(s->lim, f->a[i].device);
        if (v && f->a[i].charged) {
            tfw_lim_release(s->lim, v, f->a[i].charged);
            bytes += f->a[i].charged;
        }
    }
    if (!f->uncharged)
        set_uncharged(f, bytes);
}

/* Before a resume: the session's allocations charged to the vGPU again, all or none, asking
 * the node to freeze idle other sessions of the vGPU while its limit has no room (bounded). */
static CUresult recharge(struct tfw_session *s, uint64_t *deadline)
{
    struct tfw_freeze *f = s->fz;
    struct tfw_limits *L = s->lim;
    if (!f->uncharged)
        return CUDA_SUCCESS;
    uint64_t left = atomic_load_explicit(&f->w->uncharged_bytes, memory_order_relaxed);
    CUresult r = CUDA_SUCCESS;
    size_t i = 0;
    for (; i < f->n && r == CUDA_SUCCESS; i++) {
        struct tfw_vgpu *v = tfw_lim_vgpu_of_device(L, f->a[i].device);
        while (v && (r = tfw_lim_reserve(L, v, f->a[i].charged)) == CUDA_ERROR_OUT_OF_MEMORY &&
               wait_room(f, left, deadline, 1, 1))
            ;
        if (v && r == CUDA_SUCCESS)
            left -= f->a[i].charged;
    }
    if (r != CUDA_SUCCESS) {   /* what was charged goes back: the session stays as it was */
        for (size_t k = 0; k + 1 < i; k++) {
            struct tfw_vgpu *v = tfw_lim_vgpu_of_device(L, f->a[k].device);
            if (v)
                tfw_lim_release(L, v, f->a[k].charged);
        }
        return r;
    }
    set_uncharged(f, 0);
    return CUDA_SUCCESS;
}

/* The node's switch command: frozen (if idle) and off the ledger, for another session. */
static int idle_for(int ms)
{
    struct tfw_stats *e = tfw_stats_self();
    uint64_t last = e ? atomic_load_explicit(&e->last_call_ticks, memory_order_relaxed) : 0;
    uint64_t now = tfw_stats_now();
    return !last || (now > last && tfw_stats_ticks_to_ns(now - last) >= (uint64_t)ms * 1000000ull);
}

/* Waits, bounded, for the device to have room for a (making room when the node does). */
static CUresult map_waiting(struct tfw_session *s, struct fz_alloc *a, uint64_t *deadline)
{
    for (;;) {
        CUresult r = tfw_fz_map_phys(s->lim, a);
        if (r != CUDA_ERROR_OUT_OF_MEMORY || s->fz->moving ||
            !tfw_freeze_room(s, a->span, deadline, 1))
            return r;
    }
}

CUresult tfw_fz_resume(struct tfw_session *s, char *err, size_t elen)
{
    struct tfw_freeze *f = s->fz;
    struct tfw_limits *L = s->lim;
    if (!f->frozen)
        return CUDA_SUCCESS;
    uint64_t deadline = 0;   /* set at the first refusal */
    int was_uncharged = f->uncharged;
    CUresult r = recharge(s, &deadline);
    if (r != CUDA_SUCCESS) {
        snprintf(err, elen, "its vGPU's limit has no room for its %llu bytes after %d ms: the "
                 "vGPU's other sessions are not idle (error %d)", (unsigned long long)
                 atomic_load_explicit(&f->w->uncharged_bytes, memory_order_relaxed),
                 f->room_wait_ms, (int)r);
        return r;
    }
    size_t mapped = 0;   /* a[0..mapped) have memory again, or never lost it */
    for (; mapped < f->n && r == CUDA_SUCCESS; mapped++)
        if (!f->a[mapped].h && (r = map_waiting(s, &f->a[mapped], &deadline)) != CUDA_SUCCESS)
            snprintf(err, elen, "the device has no room for %llu bytes after %d ms (error %d)",
                     (unsigned long long)f->a[mapped].span, f->room_wait_ms, (int)r);
    const uint8_t *m = f->image;
    if (r == CUDA_SUCCESS && f->image_len && f->fd >= 0) {
        void *fm = mmap(NULL, f->image_len, PROT_READ, MAP_SHARED | MAP_POPULATE, f->fd, 0);
        m = fm == MAP_FAILED ? NULL : fm;
        if (!m) {
            snprintf(err, elen, "cannot read %.300s: %s", f->path, strerror(errno));
            r = CUDA_ERROR_OPERATING_SYSTEM;
        }
    }
    for (size_t i = 0; i < f->n && r == CUDA_SUCCESS; i++)
        if ((r = L->orig.cuMemcpyHtoD_v2(f->a[i].ptr, m + f->a[i].off, f->a[i].size)) != 0)
            snprintf(err, elen, "copying its memory back failed (error %d)", (int)r);
    if (m && f->fd >= 0)
        munmap((void *)m, f->image_len);
    if (r != CUDA_SUCCESS) {   /* back to frozen as it was: the image is kept */
        for (size_t i = 0; i < mapped && i < f->n; i++)
            if (f->a[i].h)
                tfw_fz_unmap_phys(L, &f->a[i]);
        if (was_uncharged)
            uncharge(s);
        return r;
    }
    image_drop(f);
    f->frozen = 0;
    return CUDA_SUCCESS;
}

void tfw_fz_publish(struct tfw_freeze *f)
{
    atomic_store_explicit(&f->w->frozen, (uint32_t)f->frozen, memory_order_relaxed);
    atomic_store_explicit(&f->w->frozen_bytes, f->frozen ? f->image_len : 0,
                          memory_order_relaxed);
}

static void bump(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Freezes (to = 1 host, 2 disk) or resumes (to = 0); `why` names who asked. */
static CUresult change(struct tfw_session *s, int to, const char *why)
{
    struct tfw_freeze *f = s->fz;
    if (!f->frozen == !to)
        return CUDA_SUCCESS;
    char err[512] = "";
    int where = to ? to : f->frozen;
    uint64_t t0 = now_ns(), bytes = 0;
    for (size_t i = 0; i < f->n; i++)
        bytes += f->a[i].size;
    CUresult r = to ? tfw_fz_freeze(s, to == 2, err, sizeof err)
                    : tfw_fz_resume(s, err, sizeof err);
    uint64_t took = now_ns() - t0;
    const char *what = to ? "freeze" : "resume";
    if (r != CUDA_SUCCESS) {
        tf_error("session %d: %s (%s) failed: %s", (int)getpid(), what, why, err);
        return r;
    }
    tfw_fz_publish(f);
    bump(to ? &f->w->freezes : &f->w->resumes);
    atomic_store_explicit(to ? &f->w->last_freeze_ns : &f->w->last_resume_ns, took,
                          memory_order_relaxed);
    tf_info("session %d %s (%s): %zu allocations, %llu bytes %s %s in %.1f ms", (int)getpid(),
            to ? "frozen" : "resumed", why, f->n, (unsigned long long)bytes, to ? "to" : "from",
            where == 2 ? "disk" : "host memory", (double)took / 1e6);
    return CUDA_SUCCESS;
}

/* The node's switch command (to: 1 host, 2 disk): refused (CUDA_ERROR_NOT_READY) unless the
 * session made no call for the switch's idle time; a session frozen already (by the API or the
 * idle policy) is only taken off the ledger. */
static CUresult switch_out(struct tfw_session *s, int to)
{
    struct tfw_freeze *f = s->fz;
    if (!f->switch_ms || !idle_for(f->switch_ms))
        return CUDA_ERROR_NOT_READY;
    CUresult r = change(s, to, "to make room for another session of its vGPU");
    if (r == CUDA_SUCCESS)
        uncharge(s);
    return r;
}

int tfw_freeze_wait_ms(const struct tfw_session *s)
{
    return s->fz ? POLL_MS : -1;
}

void tfw_freeze_poll(struct tfw_session *s)
{
    struct tfw_freeze *f = s->fz;
    if (!f)
        return;
    uint32_t seq = atomic_load_explicit(&f->w->seq, memory_order_acquire);
    if (seq == f->seen)
        return;
    uint32_t cmd = atomic_load_explicit(&f->w->cmd, memory_order_relaxed);
    CUresult r = cmd == TFW_FZ_CMD_FREEZE_HOST ? change(s, 1, "asked by the node")
               : cmd == TFW_FZ_CMD_FREEZE_DISK ? change(s, 2, "asked by the node")
               : cmd == TFW_FZ_CMD_RESUME ? change(s, 0, "asked by the node")
               : cmd == TFW_FZ_CMD_SWITCH_HOST ? switch_out(s, 1)
               : cmd == TFW_FZ_CMD_SWITCH_DISK ? switch_out(s, 2)
               : cmd >= TFW_FZ_CMD_MIGRATE && cmd <= TFW_FZ_CMD_MIGRATE_MAX
               ? tfw_migrate_command(s, (int)(cmd - TFW_FZ_CMD_MIGRATE))
                                          : CUDA_ERROR_INVALID_VALUE;
    f->seen = seq;
    atomic_store_explicit(&f->w->result, (int32_t)r, memory_order_relaxed);
    atomic_store_explicit(&f->w->done, seq, memory_order_release);
}

CUresult tfw_freeze_thaw(struct tfw_session *s, uint32_t call)
{
    struct tfw_freeze *f = s->fz;
    if (!f || !f->frozen)
        return CUDA_SUCCESS;
    char why[96];
    snprintf(why, sizeof why, "by %s", tfp_call_name(call));
    /* tfw_fz_publish() clears frozen, so the node's wait for "resumed" ends with this one */
    CUresult r = change(s, 0, why);
    if (r == CUDA_SUCCESS)
        bump(&f->w->resumes_by_call);
    return r;
}

void tfw_freeze_end(struct tfw_session *s)
{
    struct tfw_freeze *f = s->fz;
    if (!f)
        return;
    atomic_store_explicit(&f->w->frozen, 0, memory_order_relaxed);
    image_drop(f);   /* the physical memory and ranges go with the process */
    tfw_freeze_small_end();
    free(f->a);
    free(f);
    s->fz = NULL;
}
