/*
 * bench_isolation: how exactly the vGPU compute limits hold, and what the limiter costs.
 *
 * Tenants at 20%, 30% and 50% of one device, then a 10%/90% pair, each tenant a separate
 * process running a compute-bound loop of kernels through vgpu_compute_acquire/charge while the
 * node's controller (vgpu_controller_tick, every 10 ms) refills their buckets. Prints each
 * tenant's achieved share against its limit and the mean absolute error, writes
 * isolation.json and isolation.png (share over time), and measures the throughput of an
 * unlimited vGPU through the limiter against no limiter at all, in the same run.
 *
 * This file is the EMULATED mode (`bench_isolation --emulated ...`); the default, real mode
 * (real tenants through tfuse node/run, see real.c) is dispatched from main.
 * In emulated mode KERNELS ARE EMULATED. By default (queue mode) the device
 * is a timeline in shared memory that runs kernels back to back, one at a time; each tenant keeps
 * up to --depth kernels in flight and charges each when it ends, as the worker will with events.
 * --kernel busy runs a CPU busy loop under the region's device lock instead. Everything else
 * (region, buckets, futex sleeps, controller, one process per tenant) is the code the node and
 * worker use.
 *
 *   bench_isolation [--seconds S] [--kernel-us K] [--kernel queue|busy] [--depth D]
 *   (defaults: 20 s per scenario, 1000 us kernels, queue mode, depth 8)
 *
 * Owns: this benchmark. May call: src/vgpu, tfuse_plot (src/common/png_plot.h), bench/common.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "png_plot.h"
#include "vgpu_compute.h"
#include "vgpu_region.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define SAMPLE_NS (250 * MS)
#define MAX_TENANTS 4
#define MAX_SAMPLES 4096

struct tenant_cfg {
    const char *name;
    uint32_t request_bp, limit_bp;
    int qos;
};

struct scenario {
    const char *name;
    int n;
    struct tenant_cfg t[MAX_TENANTS];
    /* results */
    int slot[MAX_TENANTS];
    double share[MAX_TENANTS]; /* percent, after the warm-up */
    double mae;
    double device_busy;           /* percent: the sum of the shares */
    double late_mean_ms, late_max_ms; /* tenants' wake-up lateness for kernel ends (queue mode) */
    int nsamples;
    double sample_t[MAX_SAMPLES];
    double sample_share[MAX_TENANTS][MAX_SAMPLES];
};

static struct scenario scenarios[] = {
    {.name = "20/30/50", .n = 3,
     .t = {{"A", 2000, 2000, VGPU_QOS_MEDIUM}, {"B", 3000, 3000, VGPU_QOS_MEDIUM},
           {"C", 5000, 5000, VGPU_QOS_MEDIUM}}},
    {.name = "10/90", .n = 2, .t = {{"A", 1000, 1000, VGPU_QOS_MEDIUM}, {"B", 9000, 9000, VGPU_QOS_MEDIUM}}},
};
#define NSCENARIOS (int)(sizeof scenarios / sizeof scenarios[0])

static void sleep_until(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / SEC), .tv_nsec = (long)(t % SEC)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/*
 * How a kernel is emulated:
 *   queue (default): a device with a launch queue that runs kernels back to back, one at a time,
 *       on its own timeline (a word in shared memory: when the device is next free); the host
 *       thread sleeps until its kernel has finished, as it waits on an event while a real GPU
 *       computes. Host CPU load cannot stretch or stall this device.
 *   busy: a CPU busy loop under the region's device lock (vgpu_emu_device_lock). Exact on an
 *       idle host; on a loaded one the device idles while the next tenant waits for a CPU.
 */
enum kernel_mode { KERNEL_QUEUE, KERNEL_BUSY };
static enum kernel_mode kernel_mode = KERNEL_QUEUE;
/* Shared by the tenant processes (an anonymous shared mapping made before they fork). */
struct shared_stats {
    _Atomic uint64_t device_free_at; /* queue mode: when the emulated device is next free */
    _Atomic uint64_t late_ns, late_max_ns, wakeups; /* how late tenants wake for kernel ends */
};
static struct shared_stats *shared;
#define device_free_at (&shared->device_free_at)

static void busy_for(uint64_t ns)
{
    uint64_t end = vgpu_clock_ns() + ns;
    while (vgpu_clock_ns() < end)
        ;
}

#define MAX_QUEUE_DEPTH 64
static int queue_depth = 8; /* kernels a tenant keeps in flight in queue mode (--depth), like an
                            * application's asynchronous stream */

/* Queue mode: appends a kernel of ns to the device timeline; returns when it will finish. */
static uint64_t enqueue_kernel(uint64_t ns)
{
    uint64_t now = vgpu_clock_ns(), free_at = atomic_load(device_free_at), start;
    do
        start = free_at > now ? free_at : now;
    while (!atomic_compare_exchange_weak(device_free_at, &free_at, start + ns));
    return start + ns;
}

/* The host's scheduling delay, which decides how deep a queue keeps the device busy. */
static void note_lateness(uint64_t late)
{
    atomic_fetch_add_explicit(&shared->late_ns, late, memory_order_relaxed);
    atomic_fetch_add_explicit(&shared->wakeups, 1, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&shared->late_max_ns, memory_order_relaxed);
    while (late > max && !atomic_compare_exchange_weak(&shared->late_max_ns, &max, late))
        ;
}

/* Busy mode: runs one kernel under the device lock; returns its device time. */
static uint64_t run_busy_kernel(struct vgpu_region *r, uint64_t ns)
{
    vgpu_emu_device_lock(r);
    uint64_t t0 = vgpu_clock_ns();
    busy_for(ns);
    uint64_t took = vgpu_clock_ns() - t0;
    vgpu_emu_device_unlock(r);
    return took;
}

/* Queue mode: charges every kernel that has finished by now (the worker charges each kernel
 * when its end event completes, whatever its launching thread is doing). */
static void charge_finished(struct vgpu_slot *s, uint64_t kernel_ns, const uint64_t *ends, int *head,
                            int *inflight)
{
    uint64_t now = vgpu_clock_ns();
    while (*inflight > 0 && ends[*head] <= now) {
        vgpu_compute_charge(s, kernel_ns, kernel_ns);
        *head = (*head + 1) % queue_depth;
        (*inflight)--;
    }
}

/* One tenant process: launch (acquire first), run, charge the measured device time, for as
 * long as the scenario lasts. Busy mode runs one kernel at a time; queue mode keeps up to
 * queue_depth kernels in flight and never lets a wait for tokens delay a completed kernel's
 * charge (the acquire's deadline is the next kernel end). */
static int tenant_loop(struct vgpu_region *r, struct vgpu_slot *s, uint64_t kernel_ns,
                       uint64_t start, uint64_t stop)
{
    prctl(PR_SET_TIMERSLACK, 1UL); /* sleeps end on time, not up to 50 us late */
    sleep_until(start);
    uint64_t ends[MAX_QUEUE_DEPTH];
    int head = 0, inflight = 0;
    for (;;) {
        charge_finished(s, kernel_ns, ends, &head, &inflight);
        uint64_t now = vgpu_clock_ns();
        int more = now < stop;
        if (more && (kernel_mode == KERNEL_BUSY || inflight < queue_depth)) {
            uint64_t deadline = inflight > 0 && ends[head] < stop ? ends[head] : stop;
            int rc = vgpu_compute_acquire(s, kernel_ns, deadline);
            if (rc == -ETIMEDOUT || rc == -EINTR)
                continue;
            if (rc != 0)
                return 1;
            if (kernel_mode == KERNEL_BUSY) {
                vgpu_compute_charge(s, run_busy_kernel(r, kernel_ns), kernel_ns);
            } else {
                ends[(head + inflight) % queue_depth] = enqueue_kernel(kernel_ns);
                inflight++;
            }
            continue;
        }
        if (inflight == 0) {
            if (!more)
                return 0;
            continue;
        }
        sleep_until(ends[head]); /* the oldest kernel's end event */
        note_lateness(vgpu_clock_ns() - ends[head]);
    }
}

/* One vGPU per tenant of the scenario, at its request/limit/QoS; 0, or -1 after saying why. */
static int create_tenant_vgpus(struct scenario *sc, struct vgpu_region *r)
{
    char err[256];
    for (int i = 0; i < sc->n; i++) {
        struct vgpu_spec spec = {.id = sc->t[i].name, .mem_limit = 1ull << 30,
                                 .request_bp = sc->t[i].request_bp, .limit_bp = sc->t[i].limit_bp,
                                 .qos = sc->t[i].qos};
        sc->slot[i] = vgpu_create(r, &spec, err, sizeof err);
        if (sc->slot[i] < 0) {
            fprintf(stderr, "bench_isolation: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/* Records each tenant's share of the device over the last SAMPLE_NS, for the plot. */
static void sample_shares(struct scenario *sc, struct vgpu_region *r, double at_s,
                          uint64_t *last_busy)
{
    sc->sample_t[sc->nsamples] = at_s;
    for (int i = 0; i < sc->n; i++) {
        uint64_t b = vgpu_slot_at(r, sc->slot[i])->busy_ns;
        sc->sample_share[i][sc->nsamples] = 100.0 * (double)(b - last_busy[i]) / SAMPLE_NS;
        last_busy[i] = b;
    }
    sc->nsamples++;
}

/* Each tenant's share over the span_ns after warm-up, their mean error against the limits and
 * the device's total busy share. */
static void measured_shares(struct scenario *sc, struct vgpu_region *r,
                            const uint64_t *busy_at_warmup, double span_ns)
{
    sc->mae = 0;
    sc->device_busy = 0;
    for (int i = 0; i < sc->n; i++) {
        uint64_t b = vgpu_slot_at(r, sc->slot[i])->busy_ns;
        sc->share[i] = 100.0 * (double)(b - busy_at_warmup[i]) / span_ns;
        sc->mae += fabs(sc->share[i] - sc->t[i].limit_bp / 100.0);
        sc->device_busy += sc->share[i];
    }
    sc->mae /= sc->n;
}

static int run_scenario(struct scenario *sc, double seconds, uint64_t kernel_ns)
{
    struct vgpu_device_desc dev = {.index = 0, .uuid = "softgpu-emulated", .memory = 16ull << 30};
    struct vgpu_region *r;
    char err[256];
    if (vgpu_region_create(NULL, &dev, 8, &r, err, sizeof err) != 0) {
        fprintf(stderr, "bench_isolation: %s\n", err);
        return -1;
    }
    if (create_tenant_vgpus(sc, r) != 0) {
        vgpu_region_close(r);
        return -1;
    }
    atomic_store(&shared->late_ns, 0);
    atomic_store(&shared->late_max_ns, 0);
    atomic_store(&shared->wakeups, 0);
    uint64_t start = vgpu_clock_ns() + 100 * MS;
    uint64_t stop = start + (uint64_t)(seconds * SEC);
    pid_t pids[MAX_TENANTS];
    for (int i = 0; i < sc->n; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(tenant_loop(r, vgpu_slot_at(r, sc->slot[i]), kernel_ns, start, stop));
    }
    struct vgpu_controller ctl;
    vgpu_controller_init(&ctl, r, NULL, start);
    uint64_t warmup = seconds >= 10 ? 1 * SEC : (uint64_t)(seconds * SEC / 10);
    uint64_t last_busy[MAX_TENANTS] = {0}, busy_at_warmup[MAX_TENANTS] = {0};
    uint64_t next_sample = start + SAMPLE_NS;
    int warmed = 0;
    sc->nsamples = 0;
    for (uint64_t tick = start + VGPU_DEFAULT_PERIOD_NS; tick <= stop; tick += VGPU_DEFAULT_PERIOD_NS) {
        sleep_until(tick);
        vgpu_controller_tick(&ctl, vgpu_clock_ns());
        if (!warmed && tick >= start + warmup) {
            for (int i = 0; i < sc->n; i++)
                busy_at_warmup[i] = vgpu_slot_at(r, sc->slot[i])->busy_ns;
            warmed = 1;
        }
        if (tick >= next_sample && sc->nsamples < MAX_SAMPLES) {
            sample_shares(sc, r, (double)(tick - start) / SEC, last_busy);
            next_sample += SAMPLE_NS;
        }
    }
    int failed = 0;
    for (int i = 0; i < sc->n; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    /* Kernels still running at `stop` are charged after it; count what they ran inside the window
     * only approximately (at most one kernel per tenant), which the long window makes small. */
    measured_shares(sc, r, busy_at_warmup, (double)(stop - start - warmup));
    uint64_t wakeups = atomic_load(&shared->wakeups);
    sc->late_mean_ms = wakeups ? (double)atomic_load(&shared->late_ns) / (double)wakeups / 1e6 : 0;
    sc->late_max_ms = (double)atomic_load(&shared->late_max_ns) / 1e6;
    vgpu_region_close(r);
    return failed ? -1 : 0;
}

/* ---- the cost of the limiter on an unlimited vGPU ---- */

struct overhead {
    uint64_t kernel_ns;
    double direct_kps, limiter_kps; /* kernels per second, best rounds */
    double cost_pct;                /* 1 - limiter/direct, in percent */
    double path_ns;                 /* acquire + charge on the unlimited vGPU, per launch */
};

/* One kernel as a tenant runs it, with or without the limiter around it; returns its wall
 * time, launch to charge. */
static uint64_t timed_kernel(struct vgpu_region *r, struct vgpu_slot *s, uint64_t kernel_ns)
{
    uint64_t t0 = vgpu_clock_ns();
    if (s && vgpu_compute_acquire(s, kernel_ns, 0) != 0)
        return UINT64_MAX;
    uint64_t took = run_busy_kernel(r, kernel_ns);
    if (s)
        vgpu_compute_charge(s, took, kernel_ns);
    return vgpu_clock_ns() - t0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Throughput of busy kernels with no limiter and through the limiter of an unlimited vGPU.
 * The two alternate kernel by kernel, so that whatever else the host is doing falls on both
 * alike, and each side's rate is 1 / its median kernel time (preemptions only lengthen the
 * tail, which the median ignores). */
static int run_overhead(struct overhead *o, uint64_t kernel_ns, int pairs)
{
    struct vgpu_device_desc dev = {.memory = 16ull << 30};
    struct vgpu_region *r;
    char err[256];
    if (vgpu_region_create(NULL, &dev, 2, &r, err, sizeof err) != 0) {
        fprintf(stderr, "bench_isolation: %s\n", err);
        return -1;
    }
    struct vgpu_spec spec = {.id = "unlimited", .mem_limit = 1ull << 30}; /* no compute spec */
    struct vgpu_slot *s = vgpu_slot_at(r, vgpu_create(r, &spec, err, sizeof err));
    uint64_t *direct = malloc((size_t)pairs * sizeof *direct);
    uint64_t *limited = malloc((size_t)pairs * sizeof *limited);
    if (!direct || !limited || !s) {
        free(direct);
        free(limited);
        vgpu_region_close(r);
        return -1;
    }
    for (int i = 0; i < pairs; i++) {
        /* Swap the order every pair so neither side always runs with a warmer cache. */
        if (i & 1) {
            limited[i] = timed_kernel(r, s, kernel_ns);
            direct[i] = timed_kernel(r, NULL, kernel_ns);
        } else {
            direct[i] = timed_kernel(r, NULL, kernel_ns);
            limited[i] = timed_kernel(r, s, kernel_ns);
        }
    }
    qsort(direct, (size_t)pairs, sizeof *direct, cmp_u64);
    qsort(limited, (size_t)pairs, sizeof *limited, cmp_u64);
    o->kernel_ns = kernel_ns;
    o->direct_kps = 1e9 / (double)direct[pairs / 2];
    o->limiter_kps = 1e9 / (double)limited[pairs / 2];
    o->cost_pct = 100.0 * (1.0 - o->limiter_kps / o->direct_kps);
    free(direct);
    free(limited);
    /* The limiter's own work per launch, timed alone. */
    enum { CALLS = 2000000 };
    uint64_t t0 = vgpu_clock_ns();
    for (int i = 0; i < CALLS; i++) {
        if (vgpu_compute_acquire(s, kernel_ns, 0) != 0)
            break;
        vgpu_compute_charge(s, kernel_ns, kernel_ns);
    }
    o->path_ns = (double)(vgpu_clock_ns() - t0) / CALLS;
    vgpu_region_close(r);
    return 0;
}

/* ---- output ---- */

static const uint32_t colors[MAX_TENANTS] = {0x1f77b4, 0xd62728, 0x2ca02c, 0x9467bd};

static int write_plot(double seconds, const char *path)
{
    struct tf_plot_canvas c;
    if (tf_plot_init(&c, 1000, 720) != 0)
        return -1;
    for (int k = 0; k < NSCENARIOS; k++) {
        const struct scenario *sc = &scenarios[k];
        struct tf_plot_panel p = {.x0 = 90, .x1 = 960, .y0 = 40 + k * 350, .y1 = 300 + k * 350,
                               .xmax = seconds, .ymax = 100};
        double xstep = seconds >= 10 ? 5 : 1;
        tf_plot_frame(&c, &p, xstep, 20);
        tf_plot_text(&c, p.x0, p.y0 - 25, k == 0 ? "20/30/50" : "10/90", 0x000000, 3);
        for (int i = 0; i < sc->n; i++) {
            char legend[32];
            snprintf(legend, sizeof legend, "%s %.0f%%", sc->t[i].name, sc->t[i].limit_bp / 100.0);
            int lx = p.x1 - 150 * (sc->n - i);
            tf_plot_rect(&c, lx, p.y0 - 22, lx + 20, p.y0 - 12, colors[i]);
            tf_plot_text(&c, lx + 28, p.y0 - 25, legend, 0x000000, 3);
            tf_plot_hline_dashed(&c, &p, sc->t[i].limit_bp / 100.0, colors[i]);
            tf_plot_series(&c, &p, sc->sample_t, sc->sample_share[i], sc->nsamples, colors[i]);
        }
    }
    int rc = tf_plot_write_png(&c, path);
    tf_plot_free(&c);
    return rc;
}

static void write_json(FILE *f, double seconds, uint64_t kernel_ns, double mae_all,
                       const struct overhead *o)
{
    fprintf(f, "{\n  \"bench\": \"isolation\",\n  \"kernels\": \"emulated, %s mode (the worker does "
               "not call the library yet)\",\n", kernel_mode == KERNEL_QUEUE ? "queue" : "busy");
    fprintf(f, "  \"seconds\": %.1f,\n  \"kernel_us\": %.1f,\n  \"queue_depth\": %d,\n  \"period_ms\": %.1f,\n", seconds,
            kernel_ns / 1e3, queue_depth, VGPU_DEFAULT_PERIOD_NS / 1e6);
    fprintf(f, "  \"scenarios\": [\n");
    for (int k = 0; k < NSCENARIOS; k++) {
        const struct scenario *sc = &scenarios[k];
        fprintf(f, "    {\"name\": \"%s\", \"mae_points\": %.3f, \"device_busy_pct\": %.2f, "
                   "\"wake_late_mean_ms\": %.3f, \"wake_late_max_ms\": %.3f, \"tenants\": [\n",
                sc->name, sc->mae, sc->device_busy, sc->late_mean_ms, sc->late_max_ms);
        for (int i = 0; i < sc->n; i++) {
            fprintf(f, "      {\"name\": \"%s\", \"limit_pct\": %.2f, \"share_pct\": %.3f, \"series_pct\": [",
                    sc->t[i].name, sc->t[i].limit_bp / 100.0, sc->share[i]);
            for (int j = 0; j < sc->nsamples; j++)
                fprintf(f, "%s%.2f", j ? ", " : "", sc->sample_share[i][j]);
            fprintf(f, "]}%s\n", i + 1 < sc->n ? "," : "");
        }
        fprintf(f, "    ], \"sample_s\": %.3f}%s\n", SAMPLE_NS / 1e9, k + 1 < NSCENARIOS ? "," : "");
    }
    fprintf(f, "  ],\n  \"mae_points\": %.3f,\n", mae_all);
    fprintf(f, "  \"unlimited_overhead\": {\"kernel_us\": %.1f, \"direct_kernels_per_s\": %.1f, "
               "\"limiter_kernels_per_s\": %.1f, \"ratio\": %.4f, \"cost_pct\": %.3f, "
               "\"limiter_ns_per_launch\": %.2f}\n}\n",
            o->kernel_ns / 1e3, o->direct_kps, o->limiter_kps, o->limiter_kps / o->direct_kps, o->cost_pct,
            o->path_ns);
}

static int parse_args(int argc, char **argv, double *seconds, uint64_t *kernel_ns)
{
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            *seconds = strtod(argv[++i], &end);
            if (*end || *seconds < 1 || *seconds > 600)
                return -1;
        } else if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "queue") == 0)
                kernel_mode = KERNEL_QUEUE;
            else if (strcmp(argv[i], "busy") == 0)
                kernel_mode = KERNEL_BUSY;
            else
                return -1;
        } else if (strcmp(argv[i], "--depth") == 0 && i + 1 < argc) {
            queue_depth = (int)strtol(argv[++i], &end, 10);
            if (*end || queue_depth < 1 || queue_depth > MAX_QUEUE_DEPTH)
                return -1;
        } else if (strcmp(argv[i], "--kernel-us") == 0 && i + 1 < argc) {
            double us = strtod(argv[++i], &end);
            if (*end || us < 10 || us > 100000)
                return -1;
            *kernel_ns = (uint64_t)(us * 1000);
        } else {
            return -1;
        }
    }
    return 0;
}

/* Prints each tenant's share against its limit and the scenario's MAE; returns the sum of the
 * tenants' absolute errors (for the MAE over all scenarios). */
static double print_scenario(const struct scenario *sc)
{
    double err_sum = 0;
    for (int i = 0; i < sc->n; i++) {
        double limit = sc->t[i].limit_bp / 100.0;
        printf("%-10s %-7s %9.2f %9.2f %+9.2f\n", sc->name, sc->t[i].name, limit, sc->share[i],
               sc->share[i] - limit);
        err_sum += fabs(sc->share[i] - limit);
    }
    printf("%-10s %-7s %29s %.2f points\n", sc->name, "MAE", "", sc->mae);
    if (kernel_mode == KERNEL_QUEUE)
        printf("%-10s device busy %.1f%%; tenants woke for kernel ends %.3f ms late on average, "
               "%.1f ms at worst (queue: %d kernels)\n",
               "", sc->device_busy, sc->late_mean_ms, sc->late_max_ms, queue_depth);
    return err_sum;
}

/* isolation.json and isolation.png; 0, or 1 after saying which could not be written. */
static int write_outputs(double seconds, uint64_t kernel_ns, double mae_all,
                         const struct overhead *o)
{
    char path[4400];
    bench_output_path(path, sizeof path, "isolation.json");
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    write_json(f, seconds, kernel_ns, mae_all, o);
    fclose(f);
    printf("wrote %s\n", path);
    bench_output_path(path, sizeof path, "isolation.png");
    if (write_plot(seconds, path) != 0) {
        fprintf(stderr, "bench_isolation: cannot write %s\n", path);
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

int isolation_real_main(int argc, char **argv);   /* real.c */

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--emulated") != 0)
        return isolation_real_main(argc, argv);
    argv[1] = argv[0];   /* the emulated mode's options follow --emulated */
    argc--;
    argv++;
    double seconds = 20;
    uint64_t kernel_ns = 1000 * 1000;
    if (parse_args(argc, argv, &seconds, &kernel_ns) != 0) {
        fprintf(stderr, "usage: bench_isolation [--seconds 1..600] [--kernel-us 10..100000] "
                        "[--kernel queue|busy] [--depth 1..64]\n");
        return 2;
    }
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    printf("bench_isolation: KERNELS ARE EMULATED until the worker calls the vGPU library.\n"
           "  device: %s\n"
           "  The region, token buckets, futex sleeps, controller and tenant processes are the real code.\n"
           "  %g s per scenario, %.0f us kernels, controller period %.0f ms, first %s excluded from shares.\n\n",
           kernel_mode == KERNEL_QUEUE
               ? "queue mode: kernels run back to back, one at a time, on a device timeline in shared\n"
                 "          memory; each tenant process sleeps until its kernel is done (--kernel busy: CPU loop)"
               : "busy mode: a CPU busy loop under the region's device lock (one kernel at a time)",
           seconds, kernel_ns / 1e3, VGPU_DEFAULT_PERIOD_NS / 1e6, seconds >= 10 ? "1 s" : "10%");
    double mae_sum = 0;
    int mae_n = 0;
    printf("%-10s %-7s %9s %9s %9s\n", "scenario", "tenant", "limit %", "share %", "error");
    for (int k = 0; k < NSCENARIOS; k++) {
        struct scenario *sc = &scenarios[k];
        if (run_scenario(sc, seconds, kernel_ns) != 0) {
            fprintf(stderr, "bench_isolation: scenario %s failed\n", sc->name);
            return 1;
        }
        mae_sum += print_scenario(sc);
        mae_n += sc->n;
    }
    double mae_all = mae_sum / mae_n;
    printf("all        MAE  %.2f percentage points (aim: < 2; other systems measure 15-20)\n\n", mae_all);

    struct overhead o;
    if (run_overhead(&o, 20 * 1000, 50000) != 0)
        return 1;
    printf("%-34s %14s %8s\n", "unlimited vGPU, 20 us busy kernels", "kernels/s", "ratio");
    printf("%-34s %14.0f %8.4f\n", "no limiter (direct)", o.direct_kps, 1.0);
    printf("%-34s %14.0f %8.4f\n", "through acquire/charge", o.limiter_kps, o.limiter_kps / o.direct_kps);
    printf("limiter cost: %.2f%% of throughput (aim: < 2%%; median kernel times, the two sides\n"
           "  alternating kernel by kernel); its own work: %.1f ns per launch, %.3f%% of a 20 us kernel\n",
           o.cost_pct, o.path_ns, 100.0 * o.path_ns / (double)o.kernel_ns);

    return write_outputs(seconds, kernel_ns, mae_all, &o);
}
