/*
 * Compute enforcement in the worker (see enforce_int.h): the launch wrappers and the charging
 * of GPU time to the vGPU's token bucket.
 *
 * A launch first waits for tokens (vgpu_compute_acquire sleeps on a futex), then is bracketed
 * by two events on its stream; its time (the events' elapsed time, or on softgpu's time-sliced
 * device the time the process held the device: tfw_lim_held_ns) is charged once the end event
 * has completed, found by the next launches (non-blocking queries) or, when too many launches
 * are in flight, by waiting for the oldest one. The pipeline is never serialised: a launch
 * waits only for a launch LIMITS_INFLIGHT places ahead of it. A limited session also runs a
 * progress thread that charges the running launch as it runs (settled afterwards), and a
 * launch deep in debt sleeps it off outside the bucket (see repay_debt): kernels far longer
 * than the controller's period would otherwise overshoot the limit.
 *
 * Owns: the in-flight launch ring of struct tfw_limits. May call: src/vgpu, the backend table
 * (the saved originals, and softgpu's device clock by dlsym on its handle), src/common/log.h.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "enforce_int.h"
#include "log.h"
#include "vgpu_compute.h"
static void timing_recycle(struct tfw_limits *L, struct timing t)
{
    t.run_since_ns = t.charged_ns = t.tok_charged_ns = 0;
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
int tfw_lim_collect_one(struct tfw_limits *L, int wait)
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
    struct tfw_vgpu *v = t->v;
    uint64_t held = tfw_lim_held_ns(L, v);
    if (held != UINT64_MAX && v->held_mark_set) {   /* softgpu: the device time held since */
        ns = held > v->held_mark ? held - v->held_mark : 0;
        v->held_mark = held;
    }
    /* The bucket gave est_ns at acquire and tok_charged_ns while it ran; the launch costs ns */
    uint64_t charged = t->charged_ns, took = t->est_ns + t->tok_charged_ns;
    if (ns >= charged) {
        vgpu_compute_charge(v->slot, ns - charged, took - charged);
    } else {   /* polled wall time ran past the kernel: give the difference back */
        vgpu_compute_charge(v->slot, 0, took - ns);
        atomic_fetch_sub_explicit(&v->slot->busy_ns, charged - ns, memory_order_relaxed);
    }
    v->avg_ns = v->avg_ns ? v->avg_ns - v->avg_ns / 8 + ns / 8 : ns;
    struct timing done = *t;
    L->head = (L->head + 1) % LIMITS_INFLIGHT;
    L->count--;
    pthread_mutex_unlock(&L->mu);
    timing_recycle(L, done);
    return 1;
}

uint64_t tfw_lim_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int tfw_lim_vgpu_live(const struct tfw_vgpu *v)
{
    return atomic_load_explicit(&v->slot->state, memory_order_relaxed) == VGPU_SLOT_LIVE &&
           v->slot->generation == v->generation;
}

/* The clock a running launch's time is read on. On NVIDIA a start event completes once the
 * context runs on the GPU, so wall time from then on is the kernel's. softgpu's completes when
 * its stream reaches it, and the kernel may then wait for the shared device behind other
 * processes' turns: its device clock (tfuse_softgpu_device_clock_ns, docs/softgpu.md) stops
 * while the process waits, as its events do. Charging wall time there drained a waiting
 * tenant's tokens and throttled it below its limit (bench_isolation: a 50% tenant read 39.6%). */
typedef uint64_t (*devclock_fn)(int dev);
typedef void (*setweight_fn)(int dev, unsigned weight);

/* A function softgpu exports besides the driver's (NULL on NVIDIA's driver). */
static void *backend_extra(struct tfw_limits *L, const char *name)
{
    return L->orig.dl ? dlsym(L->orig.dl, name) : NULL;
}

/* A softgpu export, looked up once per process (one backend per process; the session and
 * progress threads race benignly, both storing the same answer). */
static void *backend_extra_once(struct tfw_limits *L, const char *name, _Atomic(void *) *fn,
                                _Atomic int *looked)
{
    if (!atomic_load(looked)) {
        atomic_store(fn, backend_extra(L, name));
        atomic_store(looked, 1);
    }
    return atomic_load(fn);
}

static devclock_fn devclock(struct tfw_limits *L)
{
    static _Atomic(void *) fn;
    static _Atomic int looked;
    return (devclock_fn)backend_extra_once(L, "tfuse_softgpu_device_clock_ns", &fn, &looked);
}

/* On softgpu's time-sliced device a launch costs the time its process held the device
 * (tfuse_softgpu_held_ns), as a GPU's time slices are the context's: the events' bracket also
 * held the launch's own way through the stream before and after its turn. Where a host CPU
 * was short, that was 70-200 us a kernel, more for a tenant often woken from throttling, so
 * the demo's 20% tenant was charged 12% more per kernel than its 50% neighbour and the work
 * done strayed 10-17% from the limits' ratio while the GPU-time shares read exact. A launch
 * settled is charged the time held since the one before it: the running kernel's part, found
 * again in its own settlement, is given back there. UINT64_MAX: events as on NVIDIA. */
typedef uint64_t (*heldclock_fn)(int dev);

uint64_t tfw_lim_held_ns(struct tfw_limits *L, const struct tfw_vgpu *v)
{
    static _Atomic(void *) fn;
    static _Atomic int looked;
    heldclock_fn f = (heldclock_fn)backend_extra_once(L, "tfuse_softgpu_held_ns", &fn, &looked);
    return f ? f((int)v->device) : UINT64_MAX;
}

/* softgpu's time-slicing scheduler elects the waiting process of least device time over weight
 * (docs/softgpu.md): with its vGPU's compute request as the weight, tenants that contend get
 * the device in the ratio of their shares from the scheduler itself, and the bucket stays the
 * hard cap (a 25% vGPU alone still gets 25%). An unlimited vGPU weighs the whole device. Set
 * at the first launch and again when a live resize changes the request. */
static void sched_weight(struct tfw_limits *L, struct tfw_vgpu *v)
{
    static setweight_fn fn; /* the session thread's alone */
    static int looked;
    static unsigned set[TFW_MAX_GPUS];
    if (!looked) {
        fn = (setweight_fn)backend_extra(L, "tfuse_softgpu_set_sched_weight");
        looked = 1;
    }
    int unlimited = atomic_load_explicit(&v->slot->compute_unlimited, memory_order_relaxed);
    unsigned w = unlimited ? VGPU_BP_FULL : atomic_load_explicit(&v->slot->request_bp,
                                                                  memory_order_relaxed);
    size_t i = (size_t)(v - L->vgpus);
    if (fn && i < TFW_MAX_GPUS && set[i] != w) {
        fn((int)v->device, w);
        set[i] = w;
    }
}

/* One pass of the progress thread: finds, on each device, the launch now running (the first
 * of that device in the ring whose end has not completed; it runs once its start event has) and
 * charges its time so far. Event queries are thread-safe and take no context. */
static void progress_pass(struct tfw_limits *L)
{
    pthread_mutex_lock(&L->mu);
    uint64_t wall = tfw_lim_wall_ns();
    devclock_fn clk = devclock(L);
    uint32_t done = 0;   /* bit i: vGPU i's running launch was found (or none can be) */
    for (int i = 0; i < L->nvgpus; i++)
        if (!tfw_lim_vgpu_live(&L->vgpus[i]))
            done |= 1u << i;   /* deleted (the slot may serve another vGPU next): no charges */
    for (unsigned k = 0; k < L->count; k++) {
        struct timing *t = &L->inflight[(L->head + k) % LIMITS_INFLIGHT];
        uint32_t bit = 1u << (t->v - L->vgpus);
        if (t->ended || (done & bit))
            continue;
        if (L->orig.cuEventQuery(t->end) != CUDA_ERROR_NOT_READY) {
            t->ended = 1;
            continue;
        }
        done |= bit;   /* a device runs one of the session's kernels at a time; later ones wait */
        uint64_t now = tfw_lim_held_ns(L, t->v);
        if (now == UINT64_MAX)
            now = clk ? clk((int)t->v->device) : wall;
        if (!t->run_since_ns) {
            if (L->orig.cuEventQuery(t->start) != CUDA_SUCCESS)
                continue;   /* queued behind other work: not running yet */
            t->run_since_ns = now;
        }
        uint64_t ran = now - t->run_since_ns;
        if (ran > t->charged_ns) {   /* usage: not a launch of its own */
            atomic_fetch_add_explicit(&t->v->slot->busy_ns, ran - t->charged_ns,
                                      memory_order_relaxed);
            t->charged_ns = ran;
        }
        /* Tokens: acquire took est_ns already, so only the time past it. Taking all of it
         * counted the estimate twice while the kernel ran: a 10% vGPU's bucket read -3.5 to
         * -5 ms mid-kernel, past the controller's debt threshold (5 periods at its limit), whose
         * anti-windup then dropped the correction that held it down (it ran 0.7-1.1 points
         * over), and every vGPU's next queued launch waited an estimate longer than it owed. */
        uint64_t past = ran > t->est_ns ? ran - t->est_ns : 0;
        if (past > t->tok_charged_ns) {
            atomic_fetch_sub(&t->v->slot->tokens_ns, (int64_t)(past - t->tok_charged_ns));
            t->tok_charged_ns = past;
        }
    }
    pthread_mutex_unlock(&L->mu);
}

void *tfw_lim_progress_main(void *arg)
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
static int repay_debt(struct tfw_vgpu *v)
{
    double rate = v->slot->limit_bp / (double)VGPU_BP_FULL;
    for (;;) {
        int64_t tokens = atomic_load(&v->slot->tokens_ns);
        if (tokens >= -(int64_t)DEBT_SLEEP_NS || rate <= 0)
            return 0;
        if (atomic_load_explicit(&v->slot->state, memory_order_relaxed) != VGPU_SLOT_LIVE)
            return -1;
        double wait = (double)(-tokens - (int64_t)DEBT_SLEEP_NS / 2) / rate;
        if (wait > 50e6)
            wait = 50e6;   /* look again: the grant may have grown, the vGPU may be gone */
        struct timespec ts = {0, (long)wait};
        nanosleep(&ts, NULL);
    }
}

/* Admission ahead of the grant (TFUSE_LIMIT_AHEAD=1 turns it on; softgpu's time-sliced device: it
 * alone can run a kernel "only while nobody else wants the device"). A tenant at its cap sleeps
 * in its bucket while the device idles through its neighbours' round trips (a 90% tenant's
 * cuCtxSynchronize and next launches: 3.4% of the time, docs/vgpu.md), and no one may make that
 * time up. So a launch is admitted up to one kernel (at most one period at the vGPU's limit)
 * before its tokens come, and softgpu defers this process's turns until the debt would be
 * repaid at its limit: until then it runs only while no tenant that is not deferred wants the
 * device. The bucket spends the same tokens; the gaps get them. Measured on a quiet host
 * (docs/vgpu.md): the largest tenant of each scenario within 2 points of its limit in
 * throughput (was 2.1-2.9 short). Off by default: under load it narrowed the QoS classes'
 * split (a low tenant beside a critical one took 24-41% against 18-32% without it). */
typedef void (*defer_fn)(int dev, uint64_t until_ns);

static uint64_t ahead_ns(struct tfw_limits *L, const struct tfw_vgpu *v, uint64_t est,
                         defer_fn *fn)
{
    static _Atomic(void *) f;
    static _Atomic int looked;
    static int off = -1;   /* on with TFUSE_LIMIT_AHEAD=1 only (above) */
    if (off < 0) {
        const char *e = getenv("TFUSE_LIMIT_AHEAD");
        off = !e || strcmp(e, "1") != 0;
    }
    *fn = off ? NULL : (defer_fn)backend_extra_once(L, "tfuse_softgpu_defer_turns", &f, &looked);
    if (!*fn)
        return 0;
    uint64_t period = (uint64_t)((double)VGPU_DEFAULT_PERIOD_NS * v->slot->limit_bp /
                                 VGPU_BP_FULL);
    return est < period ? est : period;
}

/* Waits for the bucket (ahead of it where ahead_ns allows) and takes est. 0, or -errno. */
static int acquire(struct tfw_limits *L, struct tfw_vgpu *v, uint64_t est)
{
    defer_fn defer;
    uint64_t ahead = ahead_ns(L, v, est, &defer);
    int64_t left = 0;
    int rc;
    while ((rc = vgpu_compute_acquire_ahead(v->slot, est, ahead, 0, &left)) == -EINTR)
        ;
    if (rc != 0 || !defer)
        return rc;
    double rate = v->slot->limit_bp / (double)VGPU_BP_FULL;
    uint64_t until = 0;
    if (left < 0 && rate > 0)
        until = tfw_lim_wall_ns() + (uint64_t)((double)-left / rate);
    defer((int)v->device, until);
    return 0;
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
    while (tfw_lim_collect_one(L, 0))
        ;
    if (L->count == LIMITS_INFLIGHT)
        tfw_lim_collect_one(L, 1);
    struct tfw_vgpu *v = tfw_lim_current_vgpu(L);
    if (!v)
        return CUDA_ERROR_INVALID_CONTEXT;
    sched_weight(L, v);
    if (!v->held_mark_set) {
        pthread_mutex_lock(&L->mu);
        v->held_mark = tfw_lim_held_ns(L, v);
        v->held_mark_set = v->held_mark != UINT64_MAX;
        pthread_mutex_unlock(&L->mu);
    }
    int limited = !atomic_load_explicit(&v->slot->compute_unlimited, memory_order_relaxed);
    if (limited && !L->has_progress)
        tfw_lim_progress_ensure(L);   /* limited since the session attached (a live resize) */
    if (limited && repay_debt(v) != 0)
        return CUDA_ERROR_DEVICE_UNAVAILABLE;
    uint64_t est = limited ? v->avg_ns : 0;
    if ((limited ? acquire(L, v, est) : vgpu_compute_acquire(v->slot, 0, 0)) != 0)
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
            vgpu_compute_charge(v->slot, 0, est);
            return CUDA_SUCCESS;
        }
    }
    if (L->orig.cuEventRecord(t->start, st) != CUDA_SUCCESS) {
        timing_recycle(L, *t);
        memset(t, 0, sizeof *t);
        vgpu_compute_charge(v->slot, 0, est);   /* give the estimate back: nothing is timed */
        return CUDA_SUCCESS;
    }
    t->est_ns = est;
    t->v = v;
    return CUDA_SUCCESS;
}

static CUresult launch_end(struct tfw_limits *L, CUstream st, struct timing *t, CUresult r)
{
    if (!t->start)
        return r;
    if (r != CUDA_SUCCESS || L->orig.cuEventRecord(t->end, st) != CUDA_SUCCESS) {
        vgpu_compute_charge(t->v->slot, 0, t->est_ns);   /* not run (or not timed): refund */
        timing_recycle(L, *t);
        return r;
    }
    pthread_mutex_lock(&L->mu);
    L->inflight[(L->head + L->count) % LIMITS_INFLIGHT] = *t;
    L->count++;
    pthread_mutex_unlock(&L->mu);
    return r;
}

CUresult tfw_lim_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
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

CUresult tfw_lim_launch_ex(const CUlaunchConfig *cfg, CUfunction f, void **params, void **extra)
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

CUresult tfw_lim_graph_launch(CUgraphExec g, CUstream st)
{
    struct tfw_limits *L = lim();
    struct timing t;
    CUresult r = launch_begin(L, st, &t);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuGraphLaunch(g, st);
    return launch_end(L, st, &t, r);
}
