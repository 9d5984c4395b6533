/*
 * The process side of the shared device's scheduler (devsched.h; docs/softgpu.md, "Scheduling
 * on the shared device"): whether this process's launches may run on a device, the hooks its
 * pool threads call between blocks, and the process's device clock that events read.
 *
 * Time-slicing: `held` says this process holds the device (the segment elected it). Launches
 * between begin and end are `users`; the device is given up when they end (unless the stream's
 * next kernel follows at once and nobody is owed the device) or, when the time slice is used and
 * a queued process is owed the device by the weights (sg_ds_yield_due), at the next kernel or
 * block boundary: `yielding` stops the pool threads from
 * taking blocks (`run_ok`) and the last one out (`inflight` reaching 0) gives the turn away.
 * Paused launches and new ones queue again, and run when the device comes back.
 * MPS: no holder; each pool thread holds an SM token while it runs blocks of a launch.
 *
 * Locking: each device's `mu` is a leaf, never held while sleeping for the device; the pool's
 * own lock is never held when a hook runs. Calls devsched_shm.c, shm_map.c (the segment),
 * init.c (logging, time).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm_stats.h"
#include "softgpu.h"

#define SLICE_US_DEFAULT 4000
#define GAP_BINS 5

/* Process-local counters for SOFTGPU_SCHED_STATS (one line per device at exit): they say where
 * the device's time goes between this process's turns. */
struct sg_ds_stats {
    uint64_t turns, waited_turns, idle_gives, slice_gives;
    uint64_t deferred_turns; /* turns granted while deferred: the device was otherwise idle */
    uint64_t held_ns, first_ns, last_ns;
    uint64_t handover_ns;    /* the giver's give to this process's grant, for waited turns */
    uint64_t gap_ns, long_gap_ns; /* the idle gaps' time, and that of the gaps over 3 ms */
    uint64_t gaps[GAP_BINS]; /* idle give-up to the next launch: <100 us, <300 us, <1 ms, <3 ms,
                              * longer (the app's round trip, or its limiter's wait) */
};

struct sg_ds_dev {
    _Atomic int ready;          /* set once: S, idx, mode, slice_ns are fixed */
    struct sg_sched *S;         /* NULL: no shared segment, launches run freely */
    int idx, mode;
    uint64_t slice_ns, my_start;
    int weights;                /* SOFTGPU_SCHED_WEIGHTS: 0 ignores set_weight (all equal) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int users;                  /* launches between begin and end */
    int held, yielding, acquiring;
    int gave_busy;              /* the last give-up left launches waiting: no idle gap */
    uint64_t held_since, idle_at; /* for the stats: since when held, when it last went idle */
    struct sg_ds_stats st;
    _Atomic int run_ok;         /* time-slicing: pool threads may take blocks */
    _Atomic int inflight;       /* pool threads in a launch, and cooperative launches */
    _Atomic uint64_t turn_start; /* when this turn was granted (held_since, for pool threads) */
    _Atomic uint64_t slice_end;
    /* the device clock: time waited for the device (and since when, while waiting), the last
     * value read */
    uint64_t waited_ns, wait_since, clock_last;
    /* launches waiting for their kernel's JIT compile, also off the clock (sg_devsched_jit_wait):
     * the time counted (jit_ns) and since when (while jit_waiters and not already waiting for
     * the device, so that an overlap is not taken off twice) */
    int jit_waiters;
    uint64_t jit_ns, jit_since;
};

static struct sg_ds_dev devs[SG_MAX_DEVICES];
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- set-up ------------------------------------------------------------------------------ */

/* SOFTGPU_SCHED_STATS=path: one line per device appended at exit (a single write, so the
 * lines of processes ending at once do not mix). */
static void stats_write(struct sg_ds_dev *d, int dev, uint64_t now)
{
    const char *path = getenv("SOFTGPU_SCHED_STATS");
    if (!path || !*path || !d->st.turns)
        return;
    const struct sg_ds_stats *t = &d->st;
    uint64_t held = t->held_ns + (d->held ? now - d->held_since : 0);
    char line[512];
    int n = snprintf(line, sizeof line, "pid=%d dev=%d first_ns=%llu last_ns=%llu turns=%llu "
                     "waited=%llu held_ns=%llu waited_ns=%llu idle_gives=%llu slice_gives=%llu "
                     "gaps=%llu,%llu,%llu,%llu,%llu "
                     "handover_ns=%llu gap_ns=%llu long_gap_ns=%llu deferred=%llu weight=%u\n",
                     (int)getpid(), dev, (unsigned long long)t->first_ns,
                     (unsigned long long)t->last_ns, (unsigned long long)t->turns,
                     (unsigned long long)t->waited_turns, (unsigned long long)held,
                     (unsigned long long)d->waited_ns, (unsigned long long)t->idle_gives,
                     (unsigned long long)t->slice_gives, (unsigned long long)t->gaps[0],
                     (unsigned long long)t->gaps[1], (unsigned long long)t->gaps[2],
                     (unsigned long long)t->gaps[3], (unsigned long long)t->gaps[4],
                     (unsigned long long)t->handover_ns, (unsigned long long)t->gap_ns,
                     (unsigned long long)t->long_gap_ns, (unsigned long long)t->deferred_turns,
                     (unsigned)atomic_load(&d->S->procs[d->idx].weight));
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (write(fd, line, (size_t)n) != n)
        sg_log(SG_LOG_WARN, "SOFTGPU_SCHED_STATS: short write to %.80s", path);
    close(fd);
}

static void ds_at_exit(void)
{
    for (int i = 0; i < SG_MAX_DEVICES; i++) {
        struct sg_ds_dev *d = &devs[i];
        if (!atomic_load(&d->ready) || !d->S)
            continue;
        pthread_mutex_lock(&d->mu);
        stats_write(d, i, sg_now_ns());
        if (d->held)
            sg_ds_give_turn(d->S, d->idx, sg_now_ns() - d->held_since);
        d->held = 0;
        sg_ds_unregister(d->S, d->idx);
        pthread_mutex_unlock(&d->mu);
    }
}

/* A forked child starts with no device of its own: the parent's entries are the parent's. */
static void ds_after_fork_child(void)
{
    for (int i = 0; i < SG_MAX_DEVICES; i++) {
        struct sg_ds_dev *d = &devs[i];
        memset(d, 0, sizeof *d);
        pthread_mutex_init(&d->mu, NULL);
        pthread_cond_init(&d->cv, NULL);
    }
    pthread_mutex_init(&init_mu, NULL);
}

static void ds_once(void)
{
    for (int i = 0; i < SG_MAX_DEVICES; i++) {
        pthread_mutex_init(&devs[i].mu, NULL);
        pthread_cond_init(&devs[i].cv, NULL);
    }
    pthread_atfork(NULL, NULL, ds_after_fork_child);
    atexit(ds_at_exit);
}

static void ds_warn(const char *msg) { sg_log(SG_LOG_WARN, "%s", msg); }

/* SOFTGPU_SHARING, SOFTGPU_TIMESLICE_US, SOFTGPU_SCHED_WEIGHT(S); a bad value is named and the
 * default used. */
static void ds_config(struct sg_ds_dev *d, int *mode, unsigned *weight)
{
    const char *s = getenv("SOFTGPU_SHARING");
    *mode = SG_SCHED_TIMESLICE;
    if (s && !strcmp(s, "mps"))
        *mode = SG_SCHED_MPS;
    else if (s && *s && strcmp(s, "timeslice"))
        sg_log(SG_LOG_WARN, "SOFTGPU_SHARING=%.40s is neither timeslice nor mps: time-slicing", s);
    d->slice_ns = (uint64_t)sg_env_int("SOFTGPU_TIMESLICE_US", SLICE_US_DEFAULT, 100, 10000000,
                                       ds_warn) * 1000u;
    d->weights = sg_env_int("SOFTGPU_SCHED_WEIGHTS", 1, 0, 1, ds_warn);
    *weight = d->weights ? (unsigned)sg_env_int("SOFTGPU_SCHED_WEIGHT", SG_SCHED_WEIGHT_MAX, 1,
                                                SG_SCHED_WEIGHT_MAX, ds_warn)
                         : SG_SCHED_WEIGHT_MAX;
}

/* The segment's attachment is changing hands (issue 12, part 1): shm_stats.c's
 * sg_shm_device() when the library has it, else a mapping of our own through sg_shm_map().
 * Weak references, so that this file builds and links with either. */
struct sg_shm_file *sg_shm_device(int device) __attribute__((weak));
struct sg_shm_file *sg_shm_map(int dev, int create) __attribute__((weak));

/* The segment of device `dev`; NULL when the device is private to this process. */
static struct sg_sched *ds_segment(int dev)
{
    struct sg_shm_file *f = sg_shm_device ? sg_shm_device(dev)
                            : sg_shm_map ? sg_shm_map(dev, 1) : NULL;
    return f ? &f->sched : NULL;
}

static void ds_setup(struct sg_ds_dev *d, int dev)
{
    int want;
    unsigned weight;
    ds_config(d, &want, &weight);
    d->my_start = sg_ds_start_of((int32_t)getpid());
    d->S = d->my_start ? ds_segment(dev) : NULL;
    if (d->S) {
        d->idx = sg_ds_register(d->S, d->my_start, want, (unsigned)sg.threads, weight,
                                &d->mode);
        if (d->idx < 0) {
            sg_log(SG_LOG_WARN, "device %d: %d processes use it already: this one's kernels run "
                   "outside its scheduler", dev, SG_SCHED_PROCS);
            d->S = NULL;
        } else if (d->mode != want) {
            sg_log(SG_LOG_WARN, "device %d is %s by the processes using it: SOFTGPU_SHARING of "
                   "this one does not apply", dev, d->mode == SG_SCHED_MPS ? "MPS-shared"
                                                                            : "time-sliced");
        }
    } else {
        sg_log(SG_LOG_WARN, "device %d: no shared segment: this process's kernels run outside "
               "the device's scheduler", dev);
    }
    atomic_store(&d->ready, 1);
}

static struct sg_ds_dev *ds_get(int dev)
{
    if (dev < 0 || dev >= SG_MAX_DEVICES)
        return NULL;
    struct sg_ds_dev *d = &devs[dev];
    if (!atomic_load_explicit(&d->ready, memory_order_acquire)) {
        pthread_once(&once, ds_once);
        pthread_mutex_lock(&init_mu);
        if (!atomic_load(&d->ready))
            ds_setup(d, dev);
        pthread_mutex_unlock(&init_mu);
    }
    return d->S ? d : NULL;
}

/* ---- holding the device (time-slicing; d->mu held) ------------------------------------------ */

/* Before wait_since or jit_waiters changes: the JIT wait so far, if it alone ran. */
static void jit_fold(struct sg_ds_dev *d, uint64_t now)
{
    if (d->jit_waiters && !d->wait_since)
        d->jit_ns += now - d->jit_since;
    d->jit_since = now;
}

static void release_locked(struct sg_ds_dev *d, uint64_t now)
{
    atomic_store(&d->run_ok, 0);
    sg_ds_give_turn(d->S, d->idx, now - d->held_since);
    d->held = d->yielding = 0;
    d->gave_busy = d->users > 0;
    d->st.held_ns += now - d->held_since;
    jit_fold(d, now);
    if (d->users > 0 && !d->wait_since)
        d->wait_since = now; /* paused or waiting launches: the process waits with work */
    pthread_cond_broadcast(&d->cv);
}

/* Stop taking blocks; the turn goes once no block of this process runs. */
static void yield_locked(struct sg_ds_dev *d)
{
    if (!d->held || d->yielding)
        return;
    d->yielding = 1;
    atomic_store(&d->run_ok, 0);
    if (atomic_load(&d->inflight) == 0)
        release_locked(d, sg_now_ns());
}

/* The slice is used and a queued process is owed the device. When none is (this process's
 * weight keeps it ahead), the slice is renewed: the queue is looked at once a slice, not at
 * every block. A deferred holder looks at every boundary: it ran only because the device was
 * idle, and gives it up as soon as one that is not deferred queues. */
static int slice_over(struct sg_ds_dev *d, uint64_t now)
{
    if (!atomic_load_explicit(&d->S->queued, memory_order_relaxed))
        return 0;
    if (now < atomic_load_explicit(&d->slice_end, memory_order_relaxed)
        && !sg_ds_deferred(d->S, d->idx, now))
        return 0;
    uint64_t since = atomic_load_explicit(&d->turn_start, memory_order_relaxed);
    if (sg_ds_yield_due(d->S, d->idx, now > since ? now - since : 0))
        return 1;
    atomic_store_explicit(&d->slice_end, now + d->slice_ns, memory_order_relaxed);
    return 0;
}

/* Returns holding the device, not yielding it; sleeps (unlocked) for the turn when needed. */
static void hold_locked(struct sg_ds_dev *d)
{
    for (;;) {
        if (d->held && !d->yielding)
            return;
        if (d->held || d->acquiring) { /* its blocks are finishing, or another thread queues */
            pthread_cond_wait(&d->cv, &d->mu);
            continue;
        }
        d->acquiring = 1;
        jit_fold(d, sg_now_ns());
        if (!d->wait_since)
            d->wait_since = sg_now_ns();
        pthread_mutex_unlock(&d->mu);
        int waited;
        uint32_t w = atomic_load(&d->S->procs[d->idx].weight);
        uint64_t credit = d->gave_busy ? UINT64_MAX
                                       : d->slice_ns * SG_SCHED_WEIGHT_MAX / (w ? w : 1);
        sg_ds_take_turn(d->S, d->idx, credit, &waited);
        pthread_mutex_lock(&d->mu);
        uint64_t now = sg_now_ns();
        d->acquiring = 0;
        d->held = 1;
        d->held_since = now;
        d->st.turns++;
        d->st.waited_turns += waited != 0;
        d->st.deferred_turns += sg_ds_deferred(d->S, d->idx, now);
        uint64_t given = atomic_load_explicit(&d->S->given_ns, memory_order_relaxed);
        if (waited && given && given <= now && now - given < 1000000000ull)
            d->st.handover_ns += now - given;
        if (!d->st.first_ns)
            d->st.first_ns = now;
        jit_fold(d, now);
        d->waited_ns += now - d->wait_since;
        d->wait_since = 0;
        atomic_store(&d->turn_start, now);
        atomic_store(&d->slice_end, now + d->slice_ns);
        atomic_store(&d->run_ok, 1);
        pthread_cond_broadcast(&d->cv);
    }
}

/* A launch begins: the idle gap that ended (stats). */
static void gap_end_locked(struct sg_ds_dev *d, uint64_t now)
{
    if (d->idle_at) {
        uint64_t g = now - d->idle_at;
        int bin = g < 100000 ? 0 : g < 300000 ? 1 : g < 1000000 ? 2 : g < 3000000 ? 3 : 4;
        d->st.gaps[bin]++;
        d->st.gap_ns += g;
        d->st.long_gap_ns += bin == 4 ? g : 0;
        d->idle_at = 0;
    }
}

static uint64_t clock_locked(struct sg_ds_dev *d, uint64_t now)
{
    uint64_t off = d->waited_ns + (d->wait_since ? now - d->wait_since : 0) + d->jit_ns +
                   (d->jit_waiters && !d->wait_since ? now - d->jit_since : 0);
    uint64_t v = now > off ? now - off : 0;
    if (v < d->clock_last)
        v = d->clock_last;
    d->clock_last = v;
    return v;
}

/* ---- the launch path ---------------------------------------------------------------------- */

void sg_devsched_begin(struct sg_ds_launch *L, int dev, int cooperative)
{
    memset(L, 0, sizeof *L);
    L->cooperative = cooperative;
    struct sg_ds_dev *d = ds_get(dev);
    if (!d)
        return;
    L->d = d;
    pthread_mutex_lock(&d->mu);
    d->users++;
    if (d->mode == SG_SCHED_TIMESLICE) {
        gap_end_locked(d, sg_now_ns());
        if (d->held && !d->yielding && slice_over(d, sg_now_ns()))
            yield_locked(d); /* a kernel boundary after the slice, and others wait */
        hold_locked(d);
        if (cooperative)
            atomic_fetch_add(&d->inflight, 1); /* held to its end: grid barriers wait for all */
    }
    L->clock0 = clock_locked(d, sg_now_ns());
    pthread_mutex_unlock(&d->mu);
}

uint64_t sg_devsched_end(struct sg_ds_launch *L, int more)
{
    struct sg_ds_dev *d = L->d;
    if (!d)
        return 0;
    pthread_mutex_lock(&d->mu);
    uint64_t now = sg_now_ns();
    d->users--;
    if (d->mode == SG_SCHED_TIMESLICE) {
        if (L->cooperative)
            atomic_fetch_sub(&d->inflight, 1);
        if (d->held && d->yielding && atomic_load(&d->inflight) == 0)
            release_locked(d, now);
        else if (d->held && !d->users && slice_over(d, now)) {
            d->st.slice_gives++;
            release_locked(d, now);
        } else if (d->held && !d->users && !more) {
            /* idle: measured (docs/softgpu.md), the gap to its next launch is mostly under
             * 100 us and a hand-over costs tens of us, so keeping the device idle for it
             * would buy nothing */
            d->st.idle_gives++;
            d->idle_at = now;
            release_locked(d, now);
        }
        d->st.last_ns = now;
    }
    uint64_t c = clock_locked(d, now);
    pthread_mutex_unlock(&d->mu);
    return c - L->clock0;
}

void sg_devsched_jit_wait(int dev, int begin)
{
    struct sg_ds_dev *d = ds_get(dev);
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    jit_fold(d, sg_now_ns());
    d->jit_waiters += begin ? 1 : -1;
    pthread_mutex_unlock(&d->mu);
}

void sg_devsched_skipped(int dev)
{
    if (dev < 0 || dev >= SG_MAX_DEVICES || !atomic_load(&devs[dev].ready) || !devs[dev].S)
        return;
    struct sg_ds_dev *d = &devs[dev];
    pthread_mutex_lock(&d->mu);
    if (d->held && !d->users && !d->yielding) {
        d->st.idle_gives++;
        release_locked(d, sg_now_ns());
    }
    pthread_mutex_unlock(&d->mu);
}

uint64_t sg_devsched_clock_ns(int dev)
{
    if (dev < 0 || dev >= SG_MAX_DEVICES || !atomic_load(&devs[dev].ready) || !devs[dev].S)
        return sg_now_ns();
    struct sg_ds_dev *d = &devs[dev];
    pthread_mutex_lock(&d->mu);
    uint64_t v = clock_locked(d, sg_now_ns());
    pthread_mutex_unlock(&d->mu);
    return v;
}

uint64_t sg_devsched_held_ns(int dev)
{
    struct sg_ds_dev *d = ds_get(dev);   /* set up here if no launch has yet: the answer stays */
    if (!d)
        return UINT64_MAX;
    pthread_mutex_lock(&d->mu);
    uint64_t v = UINT64_MAX;
    if (d->mode == SG_SCHED_TIMESLICE)
        v = d->st.held_ns + (d->held ? sg_now_ns() - d->held_since : 0);
    pthread_mutex_unlock(&d->mu);
    return v;
}

void sg_devsched_set_weight(int dev, unsigned weight)
{
    struct sg_ds_dev *d = ds_get(dev);
    if (d && d->weights)
        sg_ds_set_weight(d->S, d->idx, weight);
}

void tfuse_softgpu_set_sched_weight(int dev, unsigned weight)
{
    sg_devsched_set_weight(dev, weight);
}

void sg_devsched_defer(int dev, uint64_t until_ns)
{
    struct sg_ds_dev *d = ds_get(dev);
    if (d && d->mode == SG_SCHED_TIMESLICE)
        atomic_store(&d->S->procs[d->idx].defer_until, until_ns);
}

void tfuse_softgpu_defer_turns(int dev, uint64_t until_ns) { sg_devsched_defer(dev, until_ns); }

/* The same clock, exported (softgpu.map) for the worker's progress charges under the prefix
 * the library may export besides the driver's own names (tests/surface checks that). */
uint64_t tfuse_softgpu_device_clock_ns(int dev) { return sg_devsched_clock_ns(dev); }
uint64_t tfuse_softgpu_held_ns(int dev) { return sg_devsched_held_ns(dev); }

/* ---- pool threads ------------------------------------------------------------------------- */

static __thread int token = -1;
static __thread unsigned token_hint;
static _Atomic unsigned next_hint;

static void leave_inflight(struct sg_ds_dev *d)
{
    if (atomic_fetch_sub(&d->inflight, 1) == 1 && !atomic_load(&d->run_ok)) {
        pthread_mutex_lock(&d->mu);
        if (d->held && d->yielding && atomic_load(&d->inflight) == 0)
            release_locked(d, sg_now_ns());
        pthread_mutex_unlock(&d->mu);
    }
}

static int hk_enter(void *opaque)
{
    struct sg_ds_launch *L = opaque;
    struct sg_ds_dev *d = L->d;
    if (d->mode == SG_SCHED_MPS && !L->cooperative) {
        if (!token_hint)
            token_hint = atomic_fetch_add(&next_hint, 1) + 1;
        token = sg_ds_token_take(d->S, d->idx, d->my_start, token_hint, 0);
    } else if (d->mode == SG_SCHED_TIMESLICE && !L->cooperative) {
        if (!atomic_load(&d->run_ok))
            return 0;
        atomic_fetch_add(&d->inflight, 1);
        if (!atomic_load(&d->run_ok)) { /* a yield came between: it may be waiting for us */
            leave_inflight(d);
            return 0;
        }
    }
    return 1;
}

static int hk_next(void *opaque)
{
    struct sg_ds_launch *L = opaque;
    struct sg_ds_dev *d = L->d;
    if (d->mode == SG_SCHED_MPS) {
        if (atomic_load_explicit(&d->S->sm_waiters, memory_order_relaxed)) {
            /* others wait for an SM: hand this one over and queue behind them */
            sg_ds_token_give(d->S, d->idx, token, 1);
            token = sg_ds_token_take(d->S, d->idx, d->my_start, token_hint, 1);
        }
        return 1;
    }
    if (!atomic_load_explicit(&d->run_ok, memory_order_relaxed))
        return 0;
    if (slice_over(d, sg_now_ns())) {
        pthread_mutex_lock(&d->mu);
        yield_locked(d);
        pthread_mutex_unlock(&d->mu);
        return 0;
    }
    return 1;
}

static void hk_leave(void *opaque)
{
    struct sg_ds_launch *L = opaque;
    struct sg_ds_dev *d = L->d;
    if (L->cooperative)
        return;
    if (d->mode == SG_SCHED_MPS) {
        sg_ds_token_give(d->S, d->idx, token, 0);
        token = -1;
    } else {
        leave_inflight(d);
    }
}

/* The launching thread of a paused launch: wait for the device again. */
static void hk_resume(void *opaque)
{
    struct sg_ds_launch *L = opaque;
    struct sg_ds_dev *d = L->d;
    pthread_mutex_lock(&d->mu);
    hold_locked(d);
    pthread_mutex_unlock(&d->mu);
}

static const struct ptx_sched hooks = {hk_enter, hk_next, hk_leave, hk_resume};

const struct ptx_sched *sg_devsched_hooks(void) { return &hooks; }
