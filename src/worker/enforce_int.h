/*
 * What the worker's two enforcement files share (private to src/worker): enforce.c charges
 * memory and attaches sessions to their vGPUs, enforce_compute.c meters launches against the
 * compute buckets. One struct tfw_limits per session, reached through tfw_self.
 */
#ifndef TFUSE_WORKER_ENFORCE_INT_H
#define TFUSE_WORKER_ENFORCE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "backend.h"
#include "enforce.h"
#include "vgpu_mem.h"
#include "worker_int.h"

#define LIMITS_INFLIGHT 64 /* launches measured but not yet charged */
#define LIMITS_SPARE 16    /* event pairs kept for reuse */
#define PROGRESS_POLL_NS 2000000ull /* how often running kernels are charged (5 per period) */
#define DEBT_SLEEP_NS 20000000ll  /* a debt past 2 periods is slept off, not waited for */
#define PITCH_ALIGN 512    /* the largest pitch alignment a device uses (textureAlignment) */
#define KEY_EMPTY 0
#define KEY_GONE 1         /* a deleted entry; no device allocation starts at address 1 */

/* One of the session's vGPUs: the ledger entry and bucket of one physical device. */
struct tfw_vgpu {
    struct vgpu_slot *slot;
    uint64_t generation;
    struct vgpu_mem_client mem;
    CUdevice device;   /* the backend's ordinal of the vGPU's physical device */
    uint64_t avg_ns;   /* recent kernel time (EWMA, 1/8): each launch's up-front estimate */
    /* softgpu's held clock (tfw_lim_held_ns) when the last launch was settled: the launch
     * settled next is charged the device time held since (held_mark_set: read once) */
    uint64_t held_mark;
    int held_mark_set;
    uint64_t usage_busy_ns, usage_wall_ns; /* the last utilization sample (tfw_limits_usage) */
    unsigned usage_pct;
    int ctx_charged;   /* the context overhead was charged (at the session's first context) */
};

/* What a pointer or handle was charged, and to which of the session's vGPUs. */
struct charge {
    uint64_t key, bytes;
    struct tfw_vgpu *v;
};

struct timing {
    struct tfw_vgpu *v;   /* the vGPU the launch is charged to */
    CUcontext ctx;
    CUevent start, end;
    uint64_t est_ns;   /* what acquire took from the bucket up front */
    /* Written by the progress thread (under mu): */
    uint64_t run_since_ns;  /* wall time its start event was seen complete, 0 before */
    uint64_t charged_ns;    /* charged while it ran; settled against the events at collection */
    uint64_t tok_charged_ns; /* of which taken from the bucket: only what ran past est_ns */
    int ended;              /* its end event was seen complete: no more progress charges */
};

struct tfw_limits {
    struct tfw_vgpu vgpus[TFW_MAX_GPUS];
    int nvgpus;
    CUcontext last_ctx;                /* the context whose vGPU was looked up last, */
    struct tfw_vgpu *last_vgpu;        /*   and that vGPU (several vGPUs only) */
    struct tf_backend orig;            /* the backend's entries before interposition */
    struct charge *sizes;              /* open addressing, linear probing on key */
    size_t cap, used;
    struct timing inflight[LIMITS_INFLIGHT]; /* a ring, oldest at head */
    unsigned head, count;
    struct timing spare[LIMITS_SPARE];
    unsigned nspare;
    /* A limited vGPU's progress thread charges kernels while they run, so that a kernel far
     * longer than the controller's period shows up as usage period by period rather than all
     * at its end (the controller would see idle periods and grant ahead). mu guards the ring
     * against it; the session thread alone adds and removes entries. */
    struct tfw_vmm *vmm;               /* physical allocations and mappings (enforce_vmm.c) */
    uint64_t ctx_overhead;             /* charged per vGPU at the first context on its device */
    pthread_mutex_t mu;
    pthread_t progress;
    int has_progress;
    int progress_failed;    /* pthread_create failed once: do not try at every launch */
    _Atomic int stop;
};

static inline struct tfw_limits *lim(void)
{
    return tfw_self->lim;
}

/* The vGPU of the device the backend's current context is on; NULL when there is none (a
 * charge then goes to every vGPU of the session). enforce.c. */
struct tfw_vgpu *tfw_lim_current_vgpu(struct tfw_limits *L);

/* enforce.c's charging: bytes charged to v (to every vGPU of the session when v is NULL, all
 * or none) before an allocation, released when it fails; a charge remembered under key and
 * refunded by it; the vGPU of a backend device ordinal (NULL when none). */
CUresult tfw_lim_reserve(struct tfw_limits *L, struct tfw_vgpu *v, uint64_t bytes);
void tfw_lim_release(struct tfw_limits *L, struct tfw_vgpu *v, uint64_t bytes);
int tfw_lim_sizes_put(struct tfw_limits *L, uint64_t key, uint64_t bytes, struct tfw_vgpu *v);
void tfw_lim_refund(struct tfw_limits *L, uint64_t key);
struct tfw_vgpu *tfw_lim_vgpu_of_device(struct tfw_limits *L, CUdevice dev);

/* After the backend answered an allocation charged `bytes` to v up front: refunds the charge on
 * failure, else remembers it under p. Returns r. */
CUresult tfw_lim_settle(struct tfw_limits *L, struct tfw_vgpu *v, CUresult r, uint64_t p,
                        uint64_t bytes);
/* A pitched allocation (cuMemAllocPitch, both ABIs): charged for the widest pitch a device
 * gives before `call` allocates, settled at the pitch it gave; `undo` frees it when the rest
 * cannot be charged. */
CUresult tfw_lim_alloc_pitched(uint64_t width, uint64_t height, void *args,
                               CUresult (*call)(void *args, uint64_t *p, uint64_t *pitch),
                               CUresult (*undo)(uint64_t p));

/* enforce_abi32.c: the wrappers that charge the CUDA 3.1 ABIs' allocations. */
void tfw_lim_abi32_install(struct tf_backend *be);

/* enforce_array.c: the wrappers that charge CUDA arrays and mipmapped arrays. */
void tfw_lim_array_install(struct tf_backend *be);

/* enforce_vmm.c: the virtual memory API's wrappers, and their state's end. */
void tfw_lim_vmm_install(struct tf_backend *be);
void tfw_lim_vmm_free(struct tfw_limits *L);

/* enforce_compute.c: the launch wrappers installed in the session's backend table, */
CUresult tfw_lim_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned shmem, CUstream st, void **params,
                        void **extra);
CUresult tfw_lim_launch_ex(const CUlaunchConfig *cfg, CUfunction f, void **params, void **extra);
CUresult tfw_lim_graph_launch(CUgraphExec g, CUstream st);
/* the monotonic clock in ns (launch timing and utilization samples), */
uint64_t tfw_lim_wall_ns(void);
/* softgpu's time-sliced device: the time this process has held v's device, in ns (the GPU
 * time a launch is charged); UINT64_MAX elsewhere (NVIDIA, MPS sharing): the events are. */
uint64_t tfw_lim_held_ns(struct tfw_limits *L, const struct tfw_vgpu *v);
/* the progress thread of a limited session, */
void *tfw_lim_progress_main(void *arg);
/* starts it unless it runs (a vGPU attached unlimited and made limited by a live resize) */
void tfw_lim_progress_ensure(struct tfw_limits *L);
/* charging the oldest launch in flight (wait: block until its end event; returns 0 when none
 * was collected), and whether a vGPU still exists. */
int tfw_lim_collect_one(struct tfw_limits *L, int wait);
int tfw_lim_vgpu_live(const struct tfw_vgpu *v);

#endif
