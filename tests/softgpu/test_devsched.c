/*
 * softgpu: the shared device's scheduler across processes (devsched.c). Forked children load
 * softgpu (the parent never initialises it) and run kernels whose blocks stamp %globaltimer at
 * their start and end; the parent compares the busy intervals of two processes:
 * - time-slicing: no block of one runs while a block of the other does, both make progress
 *   (each at least a quarter of a fair share of the kernels), and kernels longer than the
 *   slice are preempted between their blocks; with weights 1:3 (SOFTGPU_SCHED_WEIGHT) the
 *   heavier gets more of the device whichever child it is (with the weights ignored, as
 *   SOFTGPU_SCHED_WEIGHTS=0 does, the two get the same);
 * - SOFTGPU_SHARING=mps: blocks of both run at once;
 * - a process SIGKILLed while it holds the device mid-kernel (or, MPS, holds every SM) does
 *   not wedge it: the other finishes within a bounded wait;
 * - deferred turns (tfuse_softgpu_defer_turns): a deferred process runs only in the idle gaps
 *   of one that is not (its synchronizations), and as any other once its deferral ends;
 * - events: a process that waited for the device measures its kernel, not its wait, and so
 *   does the time it held the device (tfuse_softgpu_held_ns, the worker's GPU time);
 * - SOFTGPU_PIN_SMS=1: the SM threads ("sg-sm<i>") are each pinned to one allowed CPU (the
 *   same for every process); without it they may run on any.
 * Every child gets a namespace of its own (SOFTGPU_NAMESPACE), so no other test's processes
 * share its device. Waits are bounded and scale with TFUSE_TEST_TIMEOUT_SCALE.
 */
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sg_test.h"

#define MAX_BLOCKS 16384 /* intervals a child reports */

uint64_t tfuse_softgpu_held_ns(int dev); /* softgpu's exports for the worker (softgpu.map) */
void tfuse_softgpu_defer_turns(int dev, uint64_t until_ns);

/* spin(out, ns): thread 0 stamps the block's start at out[2 * block] at once, every thread
 * spins on %globaltimer for ns, and after a barrier thread 0 stamps the end at out[2*block+1]. */
static const char ptx_spin[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".visible .entry spin(.param .u64 p_out, .param .u64 p_ns)\n"
    "{\n"
    "  .reg .pred %p<3>;\n  .reg .b32 %r<4>;\n  .reg .b64 %rd<10>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  ld.param.u64 %rd2, [p_ns];\n"
    "  mov.u32 %r1, %tid.x;\n  mov.u32 %r2, %ctaid.x;\n"
    "  mul.wide.u32 %rd3, %r2, 16;\n  add.s64 %rd4, %rd1, %rd3;\n"
    "  setp.eq.u32 %p1, %r1, 0;\n"
    "  mov.u64 %rd5, %globaltimer;\n"
    "  @%p1 st.global.u64 [%rd4], %rd5;\n"
    "  add.s64 %rd6, %rd5, %rd2;\n"
    "SPIN:\n"
    "  mov.u64 %rd7, %globaltimer;\n"
    "  setp.lt.u64 %p2, %rd7, %rd6;\n"
    "  @%p2 bra SPIN;\n"
    "  bar.sync 0;\n"
    "  mov.u64 %rd8, %globaltimer;\n"
    "  @%p1 st.global.u64 [%rd4+8], %rd8;\n"
    "  ret;\n}\n";

struct interval {
    uint64_t start, end;
};

/* What the children report, in a MAP_SHARED page the parent reads after they exit. */
struct report {
    unsigned kernels, blocks_per_kernel;
    unsigned n;                /* intervals */
    volatile int holding;      /* the child's first block has started */
    double wall_ms, event_ms;  /* events test */
    double held_ms;            /* events test: tfuse_softgpu_held_ns's advance over the kernel */
    struct interval iv[MAX_BLOCKS];
};

static struct report *shared; /* [2] */
static int go_pipe[2], ready_pipe[2];

static double scale(void)
{
    const char *s = getenv("TFUSE_TEST_TIMEOUT_SCALE");
    double f = s ? atof(s) : 1.0;
    return f > 0 ? f : 1.0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the children ------------------------------------------------------------------------- */

struct child_cfg {
    const char *sharing;  /* SOFTGPU_SHARING */
    const char *slice_us; /* SOFTGPU_TIMESLICE_US, or NULL */
    unsigned blocks;      /* per kernel */
    uint64_t block_ns;
    double window_s;      /* launch for this long after the start signal */
    unsigned max_kernels; /* and at most this many */
    const char *weight[2]; /* SOFTGPU_SCHED_WEIGHT of child 0 and 1, or NULL */
    const char *weights;   /* SOFTGPU_SCHED_WEIGHTS, or NULL */
    unsigned sync_every;   /* kernels between synchronizations (0: 4) */
    unsigned defer_ms[2];  /* child i defers its turns this long from the start signal */
};

static CUfunction child_setup(const struct child_cfg *c)
{
    setenv("SOFTGPU_SHARING", c->sharing, 1);
    setenv("SOFTGPU_THREADS", "2", 1); /* two SMs: MPS has fewer than both processes want */
    if (c->slice_us)
        setenv("SOFTGPU_TIMESLICE_US", c->slice_us, 1);
    CUcontext ctx;
    CUmodule m;
    CUfunction f;
    if (cuInit(0) || cuDevicePrimaryCtxRetain(&ctx, 0) || cuCtxSetCurrent(ctx)
        || cuModuleLoadData(&m, ptx_spin) || cuModuleGetFunction(&f, m, "spin"))
        return NULL;
    return f;
}

static void signal_ready(void)
{
    char b = 'r';
    if (write(ready_pipe[1], &b, 1) != 1)
        _exit(40);
}

static void wait_go(void)
{
    char b;
    if (read(go_pipe[0], &b, 1) != 1)
        _exit(41);
}

static CUresult launch_spin(CUfunction f, CUstream s, CUdeviceptr out, unsigned blocks,
                            uint64_t ns)
{
    void *args[] = {&out, &ns};
    return cuLaunchKernel(f, blocks, 1, 1, 32, 1, 1, 0, s, args, NULL);
}

/* Launches kernels back to back (a few in flight) for the window; reports every interval. */
static int child_share(int role, const struct child_cfg *c)
{
    if (c->weight[role])
        setenv("SOFTGPU_SCHED_WEIGHT", c->weight[role], 1);
    if (c->weights)
        setenv("SOFTGPU_SCHED_WEIGHTS", c->weights, 1);
    CUfunction f = child_setup(c);
    if (!f)
        return 10;
    struct report *r = &shared[role];
    size_t per = (size_t)c->blocks * sizeof(struct interval);
    unsigned maxk = MAX_BLOCKS / c->blocks < c->max_kernels ? MAX_BLOCKS / c->blocks
                                                            : c->max_kernels;
    CUdeviceptr out;
    /* one kernel first: the JIT compiles inside a kernel's first launch, holding the device,
     * which must not fall inside the window the two processes are compared over */
    if (cuMemAlloc(&out, per * maxk) || launch_spin(f, NULL, out, 1, 1000) || cuCtxSynchronize()
        || cuMemsetD8(out, 0, per * maxk))
        return 11;
    signal_ready();
    wait_go();
    if (c->defer_ms[role]) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        tfuse_softgpu_defer_turns(0, now + c->defer_ms[role] * 1000000ull);
    }
    double end = now_s() + c->window_s;
    unsigned k = 0;
    while (k < maxk && now_s() < end) {
        if (launch_spin(f, NULL, out + k * per, c->blocks, c->block_ns))
            return 12;
        if (++k % (c->sync_every ? c->sync_every : 4) == 0 && cuCtxSynchronize())
            return 13;
    }
    if (cuCtxSynchronize() || cuMemcpyDtoH(r->iv, out, per * k))
        return 14;
    r->kernels = k;
    r->blocks_per_kernel = c->blocks;
    r->n = k * c->blocks;
    return 0;
}

/* Starts one long kernel, says when its first block runs, then waits for it (or to be killed). */
static int child_hold(int role, const struct child_cfg *c)
{
    CUfunction f = child_setup(c);
    if (!f)
        return 10;
    CUdeviceptr out;
    CUstream side;
    struct interval first = {0, 0};
    if (cuMemAlloc(&out, (size_t)c->blocks * sizeof first)
        || cuMemsetD8(out, 0, (size_t)c->blocks * sizeof first)
        || cuStreamCreate(&side, CU_STREAM_NON_BLOCKING))
        return 11;
    signal_ready();
    wait_go();
    if (launch_spin(f, NULL, out, c->blocks, c->block_ns))
        return 12;
    /* copies do not wait for the device: a side stream reads the first stamp while it runs */
    double deadline = now_s() + 30 * scale();
    while (!first.start && now_s() < deadline) {
        if (cuMemcpyDtoHAsync(&first, out, sizeof first, side) || cuStreamSynchronize(side))
            return 13;
        usleep(1000);
    }
    if (!first.start)
        return 14;
    shared[role].holding = 1;
    return cuCtxSynchronize() ? 15 : 0;
}

/* Runs a few short kernels and checks their stamps; with events, reports what they measured
 * beside the wall time the launch took. */
static int child_after(int role, const struct child_cfg *c, int events)
{
    CUfunction f = child_setup(c);
    if (!f)
        return 10;
    CUdeviceptr out;
    CUevent e0, e1;
    struct interval iv[4];
    if (cuMemAlloc(&out, sizeof iv) || cuMemsetD8(out, 0, sizeof iv)
        || cuEventCreate(&e0, 0) || cuEventCreate(&e1, 0))
        return 11;
    signal_ready();
    wait_go();
    double t0 = now_s();
    uint64_t h0 = tfuse_softgpu_held_ns(0);   /* UINT64_MAX under MPS: no turns */
    if (cuEventRecord(e0, NULL) || launch_spin(f, NULL, out, 4, c->block_ns)
        || cuEventRecord(e1, NULL) || cuEventSynchronize(e1))
        return 12;
    double wall = now_s() - t0;
    uint64_t h1 = tfuse_softgpu_held_ns(0);
    if (events && (h0 == UINT64_MAX || h1 < h0))
        return 15;
    shared[role].held_ms = events ? (double)(h1 - h0) / 1e6 : 0;
    float ms = -1;
    if (cuEventElapsedTime(&ms, e0, e1) || cuMemcpyDtoH(iv, out, sizeof iv))
        return 13;
    for (int i = 0; i < 4; i++)
        if (!iv[i].start || iv[i].end < iv[i].start + c->block_ns)
            return 14;
    shared[role].wall_ms = wall * 1e3;
    shared[role].event_ms = events ? ms : 0;
    return 0;
}

/* ---- the parent ----------------------------------------------------------------------------- */

typedef int (*child_fn)(int role, const struct child_cfg *c);

static pid_t spawn(int role, const struct child_cfg *c, child_fn fn, int events)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = fn ? fn(role, c) : child_after(role, c, events);
        fflush(NULL);
        _exit(rc);
    }
    assert_true(pid > 0);
    return pid;
}

/* The child's exit status (0 is success), failing the test when it does not end in time. */
static int reap_within(pid_t pid, double seconds)
{
    double deadline = now_s() + seconds * scale();
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("child %d did not finish within %.0f s", (int)pid, seconds * scale());
        }
        usleep(5000);
    }
    if (WIFSIGNALED(status))
        return 100 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static void await_ready(int n)
{
    for (int i = 0; i < n; i++) {
        char b;
        assert_int_equal(read(ready_pipe[0], &b, 1), 1);
    }
}

static void send_go(int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(write(go_pipe[1], "g", 1), 1);
}

static int setup(void **state)
{
    (void)state;
    shared = mmap(NULL, 2 * sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                  -1, 0);
    if (shared == MAP_FAILED || pipe(go_pipe) || pipe(ready_pipe))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    munmap(shared, 2 * sizeof *shared);
    close(go_pipe[0]);
    close(go_pipe[1]);
    close(ready_pipe[0]);
    close(ready_pipe[1]);
    return 0;
}

static char ns_path[128]; /* the segment of the current case's machine */

/* Each case its own machine: the device's mode is chosen by its first process. */
static void fresh_namespace(const char *what)
{
    char ns[48];
    snprintf(ns, sizeof ns, "devsched-%s-%d", what, (int)getpid());
    setenv("SOFTGPU_NAMESPACE", ns, 1);
    snprintf(ns_path, sizeof ns_path, "/dev/shm/softgpu-%u-%s-dev0", (unsigned)getuid(), ns);
    memset(shared, 0, 2 * sizeof *shared);
}

/* A machine whose processes were killed keeps its segment (docs/softgpu.md): no litter. */
static int drop_namespace(void **state)
{
    (void)state;
    if (ns_path[0])
        unlink(ns_path);
    ns_path[0] = 0;
    return 0;
}

static int by_start(const void *a, const void *b)
{
    const struct interval *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Pairs (one block of each process) that ran at the same time. */
static unsigned long overlaps(struct report *a, struct report *b)
{
    qsort(a->iv, a->n, sizeof a->iv[0], by_start);
    qsort(b->iv, b->n, sizeof b->iv[0], by_start);
    uint64_t longest = 0; /* no b that started before a's start - longest can reach it */
    for (unsigned j = 0; j < b->n; j++)
        if (b->iv[j].end - b->iv[j].start > longest)
            longest = b->iv[j].end - b->iv[j].start;
    unsigned long n = 0;
    unsigned j0 = 0;
    for (unsigned i = 0; i < a->n; i++) {
        while (j0 < b->n && b->iv[j0].start + longest < a->iv[i].start)
            j0++;
        for (unsigned j = j0; j < b->n && b->iv[j].start < a->iv[i].end; j++)
            if (b->iv[j].end > a->iv[i].start)
                n++;
    }
    return n;
}

/* Kernels of `a` during which a block of `b` ran: preempted between their blocks. */
static unsigned preempted(const struct report *a, const struct report *b)
{
    unsigned n = 0;
    for (unsigned k = 0; k < a->kernels; k++) {
        const struct interval *kb = &a->iv[k * a->blocks_per_kernel];
        uint64_t lo = UINT64_MAX, hi = 0;
        for (unsigned i = 0; i < a->blocks_per_kernel; i++) {
            lo = kb[i].start < lo ? kb[i].start : lo;
            hi = kb[i].end > hi ? kb[i].end : hi;
        }
        for (unsigned j = 0; j < b->n; j++)
            if (b->iv[j].start > lo && b->iv[j].end < hi) {
                n++;
                break;
            }
    }
    return n;
}

static void run_pair(const struct child_cfg *c)
{
    pid_t a = spawn(0, c, child_share, 0), b = spawn(1, c, child_share, 0);
    await_ready(2);
    send_go(2);
    int ra = reap_within(a, 60 + c->window_s), rb = reap_within(b, 60 + c->window_s);
    assert_int_equal(ra, 0);
    assert_int_equal(rb, 0);
    assert_true(shared[0].kernels > 0 && shared[1].kernels > 0);
}

static void timeslice_never_overlaps_and_is_fair(void **state)
{
    (void)state;
    fresh_namespace("ts");
    /* kernels of 8 blocks of 0.5 ms on 2 threads (2 ms) against a 1 ms slice */
    struct child_cfg c = {"timeslice", "1000", 8, 500000, 1.5, 100000,
                          {NULL, NULL}, NULL, 0, {0, 0}};
    run_pair(&c);
    /* preempted() reads the intervals in launch order: count before overlaps() sorts them */
    unsigned pa = preempted(&shared[0], &shared[1]), pb = preempted(&shared[1], &shared[0]);
    unsigned ka = shared[0].kernels, kb = shared[1].kernels;
    unsigned long ov = overlaps(&shared[0], &shared[1]);
    print_message("time-slicing: kernels %u and %u, overlapping blocks %lu, preempted %u/%u\n",
                  ka, kb, ov, pa, pb);
    assert_int_equal(ov, 0);
    double fair = (ka + kb) / 2.0;
    assert_true(ka >= fair / 4 && kb >= fair / 4);
    assert_true(pa + pb > 0);
}

/* Block time of r inside [lo, hi] (ns of %globaltimer). */
static uint64_t busy_within(const struct report *r, uint64_t lo, uint64_t hi)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < r->n; i++)
        if (r->iv[i].start >= lo && r->iv[i].end && r->iv[i].end <= hi)
            sum += r->iv[i].end - r->iv[i].start;
    return sum;
}

/* When r's first block started and its last ended. */
static void span_of(const struct report *r, uint64_t *first, uint64_t *last)
{
    *first = UINT64_MAX;
    *last = 0;
    for (unsigned i = 0; i < r->n; i++) {
        *first = r->iv[i].start < *first ? r->iv[i].start : *first;
        *last = r->iv[i].end > *last ? r->iv[i].end : *last;
    }
}

/* Weights 1:3, both processes launching back to back: the heavier gets more kernels, with either
 * child heavier (neither the first to start nor the child's index explains it); the share is
 * 3:1 by the weights, asserted only in order with a margin (host load moves it). With the
 * weights ignored (SOFTGPU_SCHED_WEIGHTS=0) the lighter is not held back that far. */
static void weights_share_the_device_in_order(void **state)
{
    (void)state;
    static const char *const names[] = {"w0", "w1", "woff"};
    for (int run = 0; run < 3; run++) {
        fresh_namespace(names[run]);
        int light = run == 1; /* run 2: child 0 is weighted lighter, but weights are off */
        /* 32 kernels between synchronizations: each process stays queued, so the share is
         * the scheduler's (a process idle in its round trip is rightly passed over) */
        struct child_cfg c = {"timeslice", "1000", 8, 500000, 1.5, 100000, {NULL, NULL},
                              run == 2 ? "0" : NULL, 32, {0, 0}};
        c.weight[light] = "2500";
        c.weight[!light] = "7500";
        run_pair(&c);
        /* the device time each had while both had work: from the later start to the earlier
         * end */
        uint64_t a0, a1, b0, b1;
        span_of(&shared[0], &a0, &a1);
        span_of(&shared[1], &b0, &b1);
        uint64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
        double kl = (double)busy_within(&shared[light], lo, hi);
        double kh = (double)busy_within(&shared[!light], lo, hi);
        print_message("weights 2500:7500%s: device time %.0f and %.0f ms (%.2f)\n",
                      run == 2 ? " ignored" : "", kl / 1e6, kh / 1e6, kh / kl);
        assert_int_equal(overlaps(&shared[0], &shared[1]), 0);
        assert_true(kl > 0 && kh > 0);
        if (run < 2)
            assert_true(kh >= 1.5 * kl);
        else
            assert_true(kh < 2 * kl && kl < 2 * kh);
        drop_namespace(NULL);
    }
}

/* Child 1 deferred: while child 0 keeps kernels queued (32 between synchronizations) child 1
 * gets the device only in child 0's round trips, a small part of the device time (equal
 * weights would give it half), but it does run there: the gaps are filled. Deferred for 300 ms
 * of the 1.5 s only, it competes as any process once the deferral ends. */
static void deferred_turns_take_only_idle_time(void **state)
{
    (void)state;
    for (int run = 0; run < 2; run++) {
        fresh_namespace(run ? "defer-end" : "defer");
        /* both launch for 1.5 s, synchronizing every 32 kernels; child 1 is deferred for the
         * whole window, then (run 1) for its first 300 ms only */
        struct child_cfg c = {"timeslice", "1000", 4, 500000, 1.5, 100000, {NULL, NULL},
                              NULL, 32, {0, run ? 300 : 60000}};
        run_pair(&c);
        uint64_t a0, a1;
        span_of(&shared[0], &a0, &a1);
        double k0 = (double)busy_within(&shared[0], a0, a1);
        double k1 = (double)busy_within(&shared[1], a0, a1);
        print_message("deferred %u ms: device time %.0f ms (child 0) and %.0f ms (deferred, "
                      "within child 0's span)\n", c.defer_ms[1], k0 / 1e6, k1 / 1e6);
        assert_int_equal(overlaps(&shared[0], &shared[1]), 0);
        if (run == 0) {
            assert_true(k1 > 0);          /* it ran in child 0's round trips */
            assert_true(k1 < 0.25 * k0);  /* and only there */
        } else {
            assert_true(k1 >= 0.25 * k0); /* the deferral ended: it had its turns */
        }
        drop_namespace(NULL);
    }
}

static void mps_blocks_of_both_run_at_once(void **state)
{
    (void)state;
    fresh_namespace("mps");
    struct child_cfg c = {"mps", NULL, 8, 500000, 1.0, 100000, {NULL, NULL}, NULL, 0, {0, 0}};
    run_pair(&c);
    unsigned long ov = overlaps(&shared[0], &shared[1]);
    print_message("mps: kernels %u and %u, overlapping blocks %lu\n", shared[0].kernels,
                  shared[1].kernels, ov);
    assert_true(ov > 0);
}

/* Starts A (child 0) with cfg and waits, bounded, until it holds the device. */
static pid_t start_holder(struct child_cfg *cfg)
{
    pid_t a = spawn(0, cfg, child_hold, 0);
    await_ready(1);
    send_go(1);
    double deadline = now_s() + 30 * scale();
    while (!shared[0].holding && now_s() < deadline)
        usleep(2000);
    assert_true(shared[0].holding);
    return a;
}

/* A holds the device (or every SM) with a long kernel; B queues; A is killed mid-kernel. */
static void death_of(const char *sharing)
{
    fresh_namespace(sharing);
    /* 64 blocks of 5 s, a slice longer than that: A is inside its blocks, holding, when killed */
    struct child_cfg ca = {sharing, "10000000", 64, 5000000000ull, 0, 0,
                           {NULL, NULL}, NULL, 0, {0, 0}};
    struct child_cfg cb = {sharing, NULL, 4, 1000000, 0, 0, {NULL, NULL}, NULL, 0, {0, 0}};
    pid_t a = start_holder(&ca);
    pid_t b = spawn(1, &cb, NULL, 0);
    await_ready(1);
    send_go(1);
    usleep(100000); /* B most likely queued behind A by now; either way it must get the device */
    kill(a, SIGKILL);
    int ra = reap_within(a, 30);
    assert_int_equal(ra, 100 + SIGKILL);
    assert_int_equal(reap_within(b, 30), 0);
}

static void killed_holder_does_not_wedge_the_device(void **state)
{
    (void)state;
    death_of("timeslice");
}

static void killed_mps_process_gives_its_sms_back(void **state)
{
    (void)state;
    death_of("mps");
}

/* B's events around its kernel measure the kernel, not the time it waited behind A. */
static void events_leave_out_the_wait_for_the_device(void **state)
{
    (void)state;
    fresh_namespace("ev");
    /* A: 4 blocks of 300 ms on 2 threads, a slice longer than that: B waits >= 300 ms */
    struct child_cfg ca = {"timeslice", "10000000", 4, 300000000, 0, 0,
                           {NULL, NULL}, NULL, 0, {0, 0}};
    struct child_cfg cb = {"timeslice", NULL, 1, 2000000, 0, 0, {NULL, NULL}, NULL, 0, {0, 0}};
    pid_t a = start_holder(&ca);
    pid_t b = spawn(1, &cb, NULL, 1);
    await_ready(1);
    send_go(1);
    assert_int_equal(reap_within(b, 60), 0);
    assert_int_equal(reap_within(a, 60), 0);
    print_message("events: B waited %.1f ms wall, its events measured %.2f ms, it held the "
                  "device %.2f ms\n", shared[1].wall_ms, shared[1].event_ms, shared[1].held_ms);
    assert_true(shared[1].event_ms > 0);
    assert_true(shared[1].event_ms * 4 < shared[1].wall_ms);
    /* its 4 blocks of 2 ms ran on 2 SM threads while it held the device: 4 ms at least */
    assert_true(shared[1].held_ms >= 2 * cb.block_ns / 1e6);
    assert_true(shared[1].held_ms * 4 < shared[1].wall_ms);
}

/* In a child: 0 when the SM threads' affinities are as SOFTGPU_PIN_SMS says. Thread i must
 * sit on exactly the i-th allowed CPU (modulo their count) when pinned, on all of them if not. */
static int check_sm_affinity(int pinned)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || cuInit(0) != CUDA_SUCCESS)
        return 10;
    int cpus[CPU_SETSIZE], n = 0, found = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed))
            cpus[n++] = c;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        int sm = -1;
        if (f && fgets(comm, sizeof comm, f))
            sscanf(comm, "sg-sm%d", &sm);
        if (f)
            fclose(f);
        cpu_set_t on;
        if (sm < 0 || sched_getaffinity(atoi(e->d_name), sizeof on, &on) != 0)
            continue;
        found++;
        if (pinned ? CPU_COUNT(&on) != 1 || !CPU_ISSET(cpus[sm % n], &on)
                   : !CPU_EQUAL(&on, &allowed))
            return 20 + sm;
    }
    if (d)
        closedir(d);
    return found == 2 ? 0 : 30 + found;   /* SOFTGPU_THREADS=2 */
}

static void pinned_sms_sit_on_one_cpu_each(void **state)
{
    (void)state;
    fresh_namespace("pin");
    const char *values[] = {"1", "0", "yes"};   /* "yes" is not a number: warned, not pinned */
    for (int v = 0; v < 3; v++) {
        pid_t pid = fork();
        if (pid == 0) {
            setenv("SOFTGPU_PIN_SMS", values[v], 1);
            _exit(check_sm_affinity(v == 0));
        }
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        if (WEXITSTATUS(st) != 0)
            print_message("SOFTGPU_PIN_SMS=%s: check %d\n", values[v], WEXITSTATUS(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(timeslice_never_overlaps_and_is_fair, drop_namespace),
        cmocka_unit_test_teardown(weights_share_the_device_in_order, drop_namespace),
        cmocka_unit_test_teardown(deferred_turns_take_only_idle_time, drop_namespace),
        cmocka_unit_test_teardown(mps_blocks_of_both_run_at_once, drop_namespace),
        cmocka_unit_test_teardown(killed_holder_does_not_wedge_the_device, drop_namespace),
        cmocka_unit_test_teardown(killed_mps_process_gives_its_sms_back, drop_namespace),
        cmocka_unit_test_teardown(events_leave_out_the_wait_for_the_device, drop_namespace),
        cmocka_unit_test_teardown(pinned_sms_sit_on_one_cpu_each, drop_namespace),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
