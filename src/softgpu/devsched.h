/*
 * The shared device's scheduler (issue 12; docs/softgpu.md, "Scheduling on the shared device").
 * Its state lives inside the per-device shared segment (shm_stats.h, struct sg_shm_file) so
 * that every process opening the device sees one scheduler; devsched.c owns it and the
 * process-local half (which launches run, the process's device clock).
 *
 * Time-slicing (the default, a GPU without MPS): one process holds the device at a time (the
 * futex word `holder` names its entry). A process wanting it queues and sleeps on `holder`
 * until it is elected: whoever frees the device elects the queued process of least `pass`
 * (stride scheduling: a process's pass grows by the time it held the device over its weight, so
 * waiting processes get the device in proportion to their weights; equal passes go in arrival
 * order). It gives the device up when idle, or at a kernel or block boundary once its time slice
 * is used and a queued process's pass is not above its own. SOFTGPU_SHARING=mps: no holder; the
 * pool threads of all processes share `sm_total` SM tokens, one per running block (`sm_owner`).
 *
 * Death at any point is survivable: every process has an entry (pid + start time) that says
 * whether it waits or holds and owns its SM tokens; sleepers wake at least every
 * SG_SCHED_POLL_MS and take the device from, or the tokens back from, a process that is gone.
 */
#ifndef SOFTGPU_DEVSCHED_H
#define SOFTGPU_DEVSCHED_H

#include <stdatomic.h>
#include <stdint.h>

#define SG_SCHED_PROCS 128   /* processes using one device at once */
#define SG_SCHED_SMS 1024    /* SM tokens at most (SOFTGPU_THREADS' maximum) */
#define SG_SCHED_POLL_MS 50  /* a sleeper checks for the death of the one it waits for */

enum sg_sched_mode { SG_SCHED_UNSET = 0, SG_SCHED_TIMESLICE = 1, SG_SCHED_MPS = 2 };
enum sg_sched_state {
    SG_SCHED_IDLE = 0,
    SG_SCHED_TAKING,  /* unused since layout 3 (kept so the numbers stay) */
    SG_SCHED_QUEUED,  /* waits to be elected */
    SG_SCHED_HOLDING, /* `holder` names it: the device is this process's */
};
#define SG_SCHED_WEIGHT_MAX 10000u /* weights are basis points of the device; the default */
#define SG_SCHED_HOLDER_IDX 0xffu  /* `holder`: entry + 1 (0: free) | election count << 8 */

struct sg_sched_proc {
    _Atomic int32_t pid;      /* 0: free */
    _Atomic uint32_t state;   /* enum sg_sched_state */
    _Atomic uint64_t start;   /* the pid's start time (/proc/<pid>/stat field 22) */
    _Atomic uint32_t arrival; /* `next` when it queued: ties of pass go in arrival order */
    _Atomic uint32_t weight;  /* 1..SG_SCHED_WEIGHT_MAX */
    _Atomic uint64_t pass;    /* virtual time: sum of time held x WEIGHT_MAX / weight (ns),
                               * up to its last turn's end */
    _Atomic uint64_t since;   /* holding: CLOCK_MONOTONIC of its grant (its turn so far counts) */
    _Atomic uint64_t defer_until; /* CLOCK_MONOTONIC: until then it runs only when no process
                                   * that is not deferred wants the device (0: never deferred) */
};

struct sg_sched {
    _Atomic uint32_t setup;       /* pid holding the setup lock (entries, reaping, mode); futex */
    _Atomic uint32_t mode;        /* enum sg_sched_mode, chosen by the first live process */
    _Atomic uint64_t setup_start; /* the setup lock holder's start time (0: being written) */
    _Atomic uint32_t next;        /* arrivals in the queue, counted */
    _Atomic uint32_t holder;      /* the entry holding the device (SG_SCHED_HOLDER_IDX); futex */
    _Atomic uint32_t sm_total;    /* MPS: SM tokens (the first process's SOFTGPU_THREADS) */
    _Atomic uint32_t sm_waiters;  /* MPS: pool threads asleep waiting for a token */
    _Atomic uint32_t sm_seq;      /* MPS: bumped when a token is given back to waiters; futex */
    _Atomic uint32_t grants;      /* time-slicing: how often the device changed hands */
    _Atomic uint32_t takeovers;   /* turns skipped or tokens taken back from dead processes */
    _Atomic uint32_t queued;      /* entries queued (a hint: a process dying mid-queue skews it) */
    _Atomic uint64_t given_ns;    /* CLOCK_MONOTONIC when the device was last handed to a waiter */
    _Atomic uint64_t vtime;       /* virtual time: held time x WEIGHT_MAX / active weights */
    struct sg_sched_proc procs[SG_SCHED_PROCS];
    /* MPS: the entry index + 1 of the process running a block with each token; 0 free,
     * SG_SCHED_HANDOFF: given back to the waiters (only a waiter takes it while any waits) */
    _Atomic uint16_t sm_owner[SG_SCHED_SMS];
};
#define SG_SCHED_HANDOFF 0xffffu

/* ---- the process side (devsched.c), for softgpu's launch path, events and pool ------------- */

struct sg_ds_dev;
struct ptx_sched;

/* One launch's part in the scheduling, on its launching thread's stack. */
struct sg_ds_launch {
    struct sg_ds_dev *d;      /* NULL: this device has no scheduler (no segment) */
    int cooperative;
    uint64_t clock0;          /* the device clock once the launch could run */
};

/* Before a kernel runs on device `dev`: blocks until this process may run it (time-slicing: it
 * holds the device). Every begin is followed by one end. */
void sg_devsched_begin(struct sg_ds_launch *L, int dev, int cooperative);
/* After it: `more` says another kernel of the same stream follows at once (the device is then
 * kept, unless its slice is used and others wait). Returns the device time the launch took
 * (the device clock's advance), for the busy windows. */
uint64_t sg_devsched_end(struct sg_ds_launch *L, int more);
/* A launch waits (begin 1) for its kernel's JIT compile, or is done waiting (0), before
 * sg_devsched_begin: the time is off the device clock, like a wait for the device. */
void sg_devsched_jit_wait(int dev, int begin);
/* A kernel that `more` announced was skipped (sticky error): give the device up if idle. */
void sg_devsched_skipped(int dev);
/* The hooks for struct ptx_launch.sched (sched_opaque: the struct sg_ds_launch). */
const struct ptx_sched *sg_devsched_hooks(void);
/* This process's clock of device `dev`, in ns: CLOCK_MONOTONIC less the time the process
 * waited for the device with work ready. Never goes back. */
uint64_t sg_devsched_clock_ns(int dev);
uint64_t tfuse_softgpu_device_clock_ns(int dev); /* the same, exported for the worker */
/* The time this process has held device `dev` (time-slicing), in ns: what its kernels took of
 * the device, without the waits for it or for a host CPU between them (the vGPU limiter's GPU
 * time on softgpu). UINT64_MAX where the device is not time-sliced (MPS, or no scheduler). */
uint64_t sg_devsched_held_ns(int dev);
uint64_t tfuse_softgpu_held_ns(int dev); /* the same, exported for the worker */
/* This process's scheduling weight on device dev (1..10000, basis points of the device: the
 * worker sets its vGPU's compute request), unless SOFTGPU_SCHED_WEIGHTS=0. Exported for the
 * worker; the default is SOFTGPU_SCHED_WEIGHT, else 10000. */
void sg_devsched_set_weight(int dev, unsigned weight);
void tfuse_softgpu_set_sched_weight(int dev, unsigned weight);
/* This process's turns on device dev are deferred until the CLOCK_MONOTONIC time until_ns (0:
 * not deferred): it is elected only when no process that is not deferred is queued, and holding
 * the device it gives it up at the next block boundary to one that is. The worker defers a
 * launch its vGPU's bucket admitted ahead of its grant: that kernel fills the device's idle gaps
 * (another tenant's round trips) and never delays a tenant that is within its own grant. */
void sg_devsched_defer(int dev, uint64_t until_ns);
void tfuse_softgpu_defer_turns(int dev, uint64_t until_ns);

/* ---- the shared side (devsched_shm.c), called by devsched.c -------------------------------- */

/* /proc/<pid>/stat's start time + 1; 0 when the process is gone or a zombie. */
uint64_t sg_ds_start_of(int32_t pid);
/* Claims an entry for this process (its index, or -1 when all are live processes'); the first
 * live process sets the mode and the SM tokens; *mode: the device's mode. */
int sg_ds_register(struct sg_sched *S, uint64_t my_start, int want_mode, unsigned sms,
                   unsigned weight, int *mode);
void sg_ds_unregister(struct sg_sched *S, int idx);
void sg_ds_reap(struct sg_sched *S, uint64_t my_start);
/* Queues and sleeps until elected (*waited: not at once). credit: how far below the device's
 * virtual time (in pass units) a process returning from idle may start (it saves up no more
 * standing while idle); UINT64_MAX for one that gave the device up with work (a slice's end). */
void sg_ds_take_turn(struct sg_sched *S, int idx, uint64_t credit, int *waited);
/* Gives the device up after holding it held_ns (charged to the pass) and elects the next. */
void sg_ds_give_turn(struct sg_sched *S, int idx, uint64_t held_ns);
/* The holder, held_ns into its turn: a queued process is owed the device (its pass is not
 * above the holder's, or the holder is deferred and it is not; a deferred one is never owed
 * it). Cheap when nobody queues (every block boundary after a slice). */
int sg_ds_yield_due(struct sg_sched *S, int idx, uint64_t held_ns);
/* Entry idx is deferred now (devsched.h, sg_devsched_defer). */
int sg_ds_deferred(const struct sg_sched *S, int idx, uint64_t now);
/* This process's weight, clamped to 1..SG_SCHED_WEIGHT_MAX. */
void sg_ds_set_weight(struct sg_sched *S, int idx, unsigned weight);
/* An SM token (its slot), sleeping until one is free; queue_first: sleep before trying. */
int sg_ds_token_take(struct sg_sched *S, int idx, uint64_t my_start, unsigned hint,
                     int queue_first);
/* handoff: reserve it for the waiters (this thread goes to the back). */
void sg_ds_token_give(struct sg_sched *S, int idx, int slot, int handoff);

#endif
