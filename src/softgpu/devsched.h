/*
 * The shared device's scheduler (issue 12; docs/softgpu.md, "Scheduling on the shared device").
 * Its state lives inside the per-device shared segment (shm_stats.h, struct sg_shm_file) so
 * that every process opening the device sees one scheduler; devsched.c owns it and the
 * process-local half (which launches run, the process's device clock).
 *
 * Time-slicing (the default, a GPU without MPS): one process holds the device at a time. A
 * process wanting it takes a ticket (`next`) and sleeps on the futex word `serving` until its
 * ticket is served; it gives the device up when idle, or at a kernel or block boundary once its
 * time slice is used and someone waits. SOFTGPU_SHARING=mps: no holder; the pool threads of all
 * processes share `sm_total` SM tokens, one per running block (`sm_owner`).
 *
 * Death at any point is survivable: every process has an entry (pid + start time) naming the
 * ticket it waits for or holds and owning its SM tokens; sleepers wake at least every
 * SG_SCHED_POLL_MS and skip the turn of, or take back the tokens of, a process that is gone.
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
    SG_SCHED_TAKING,  /* taking a ticket: may own one that `ticket` does not show yet */
    SG_SCHED_QUEUED,  /* waits for `ticket` */
    SG_SCHED_HOLDING, /* `ticket` is being served: the device is this process's */
};

struct sg_sched_proc {
    _Atomic int32_t pid;      /* 0: free */
    _Atomic uint32_t state;   /* enum sg_sched_state */
    _Atomic uint64_t start;   /* the pid's start time (/proc/<pid>/stat field 22) */
    _Atomic uint32_t ticket;
    uint32_t reserved;
};

struct sg_sched {
    _Atomic uint32_t setup;       /* pid holding the setup lock (entries, reaping, mode); futex */
    _Atomic uint32_t mode;        /* enum sg_sched_mode, chosen by the first live process */
    _Atomic uint64_t setup_start; /* the setup lock holder's start time (0: being written) */
    _Atomic uint32_t next;        /* the next ticket to hand out */
    _Atomic uint32_t serving;     /* the ticket that holds the device (== next: free); futex */
    _Atomic uint32_t sm_total;    /* MPS: SM tokens (the first process's SOFTGPU_THREADS) */
    _Atomic uint32_t sm_waiters;  /* MPS: pool threads asleep waiting for a token */
    _Atomic uint32_t sm_seq;      /* MPS: bumped when a token is given back to waiters; futex */
    _Atomic uint32_t grants;      /* time-slicing: how often the device changed hands */
    _Atomic uint32_t takeovers;   /* turns skipped or tokens taken back from dead processes */
    uint32_t reserved;
    _Atomic uint64_t given_ns;    /* CLOCK_MONOTONIC when the device was last handed to a waiter */
    uint64_t reserved2;
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
/* A kernel that `more` announced was skipped (sticky error): give the device up if idle. */
void sg_devsched_skipped(int dev);
/* The hooks for struct ptx_launch.sched (sched_opaque: the struct sg_ds_launch). */
const struct ptx_sched *sg_devsched_hooks(void);
/* This process's clock of device `dev`, in ns: CLOCK_MONOTONIC less the time the process
 * waited for the device with work ready. Never goes back. */
uint64_t sg_devsched_clock_ns(int dev);
uint64_t tfuse_softgpu_device_clock_ns(int dev); /* the same, exported for the worker */

/* ---- the shared side (devsched_shm.c), called by devsched.c -------------------------------- */

/* /proc/<pid>/stat's start time + 1; 0 when the process is gone or a zombie. */
uint64_t sg_ds_start_of(int32_t pid);
/* Claims an entry for this process (its index, or -1 when all are live processes'); the first
 * live process sets the mode and the SM tokens; *mode: the device's mode. */
int sg_ds_register(struct sg_sched *S, uint64_t my_start, int want_mode, unsigned sms, int *mode);
void sg_ds_unregister(struct sg_sched *S, int idx);
void sg_ds_reap(struct sg_sched *S, uint64_t my_start);
/* Takes a ticket and sleeps until it is served (*waited: it was not at once); the ticket. */
uint32_t sg_ds_take_turn(struct sg_sched *S, int idx, int *waited);
void sg_ds_give_turn(struct sg_sched *S, int idx, uint32_t t);
/* Someone queued behind the holder of ticket t (cheap: for every block boundary). */
int sg_ds_others_wait(struct sg_sched *S, uint32_t t);
/* An SM token (its slot), sleeping until one is free; queue_first: sleep before trying. */
int sg_ds_token_take(struct sg_sched *S, int idx, uint64_t my_start, unsigned hint,
                     int queue_first);
/* handoff: reserve it for the waiters (this thread goes to the back). */
void sg_ds_token_give(struct sg_sched *S, int idx, int slot, int handoff);

#endif
