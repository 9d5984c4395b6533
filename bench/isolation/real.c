/*
 * bench_isolation's real mode (the default): real tenants on a softgpu device. It starts
 * `tfuse node --backend soft --api ... --allow-unlimited`, creates vGPUs with `tfuse vgpu
 * create`, and runs each tenant as `tfuse run --vgpu TOKEN -- prog_iso spin S ITERS 4` (a
 * driver-API program with embedded PTX launching 4 compute-bound kernels and synchronizing, in
 * a loop) through the stub, a worker and softgpu.
 *
 * Two views of each tenant, over the same window (the first second excluded), from `tfuse ps
 * --json` every 0.5 s: its GPU-time share (the node's busy_ns of its vGPU, charged by the
 * worker: the time its process held softgpu's device) and its throughput share (its kernels per second, the node's launch
 * count of its sessions, against the same program alone on the device: a whole-device session
 * without vGPU or limiter, run before and after the scenario on the same node).
 * Scenarios 20/30/50, 10/90, 25/75 and, with --hog N (default: the host's CPU count; 0: off),
 * 20/30/50 again beside N CPU-bound processes (hog.c), which also run beside its alone runs.
 *
 * Kernels are sized by a calibration run of the program alone (--kernel-ms, default 3 ms: the
 * JIT runs the same steps ~10x faster than the interpreter, and 0.25 ms kernels measure the
 * round trips, not the device's shares) unless --iters fixes their steps.
 *
 * Also the limiter's cost: the same program on an unlimited vGPU (enforcement wrappers, event
 * timing, bucket fast path) against a whole-device session with no limiter, alternating runs on
 * the same node.
 *
 * Owns: real mode's runs. May call: libc, jansson, real_report.c, hog.c, bench/common; runs
 * build/bin/tfuse and build/tests/isolation/prog_iso.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "real.h"

#define SAMPLE_S 0.5
#define ROUNDS 4 /* alternating overhead runs per side */
#define ROUNDS_PER_SCENARIO 4 /* tenant phase + alone phase */
#define ALONE_FRACTION 0.5    /* an alone phase's length against a tenant phase's */
#define PHASE_SETTLE_S 0.3    /* not measured at a phase's start */
#define WARMUP_S 1.0
#define CONNECT_S 60.0        /* for every session of a scenario to be listed */

#define T(n, l) {.name = (n), .limit_pct = (l)}
/* The hog scenario (last) runs only with --hog N > 0. */
static struct rscenario rs[] = {
    {.name = "20/30/50", .n = 3, .t = {T("A", 20), T("B", 30), T("C", 50)}},
    {.name = "10/90", .n = 2, .t = {T("D", 10), T("E", 90)}},
    {.name = "25/75", .n = 2, .t = {T("F", 25), T("G", 75)}},
    {.name = "20/30/50+hog", .n = 3, .t = {T("H", 20), T("I", 30), T("J", 50)}},
};
#undef T
#define NRS (int)(sizeof rs / sizeof rs[0])

static char bindir[PATH_MAX], tfuse[PATH_MAX + 16], prog[PATH_MAX + 64], workdir[128];
static char api[256], sess[256];
static pid_t node_pid;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Runs a command (argv) and returns its stdout parsed as JSON, or NULL. */
static json_t *run_json(char *const argv[])
{
    int p[2];
    if (pipe(p) != 0)
        return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, cap);
            if (!nb)
                break;
            buf = nb;
        }
        ssize_t r = read(p[0], buf + len, cap - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    json_t *j = buf && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? json_loadb(buf, len, 0, NULL) : NULL;
    free(buf);
    return j;
}

static int start_node(void)
{
    /* A softgpu device of the bench's own: on a machine where a program of another build holds
     * the default segment, every process would get a private device (no shared scheduler), and
     * other programs would share ours. The node's workers and the tenants inherit it. One
     * name for every run: softgpu leaves a segment in /dev/shm that the next run reuses. */
    setenv("SOFTGPU_NAMESPACE", "bench-isolation", 0);
    /* One SM, pinned: every process's kernels run on the same host CPU, as every context's
     * run on a GPU's same SMs. With a pool thread per CPU, a tenant's kernels ran on whichever
     * CPU its threads sat on, and on this loaded 2-core host one CPU ran the same program up to
     * 3x as fast as the other (docs/vgpu.md): the time a limit grants bought unequal work. */
    setenv("SOFTGPU_THREADS", "1", 0);
    setenv("SOFTGPU_PIN_SMS", "1", 0);
    snprintf(workdir, sizeof workdir, "/tmp/bench-iso.XXXXXX");
    if (!mkdtemp(workdir))
        return -1;
    snprintf(api, sizeof api, "unix:%s/api.sock", workdir);
    snprintf(sess, sizeof sess, "unix:%s/s.sock", workdir);
    node_pid = fork();
    if (node_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);   /* never outlives the bench */
        int null = open("/dev/null", 1);
        dup2(null, 1);
        dup2(null, 2);
        execl(tfuse, tfuse, "node", "--backend", "soft", "--listen", sess, "--api", api,
              "--allow-unlimited", (char *)NULL);
        _exit(127);
    }
    char path[300];
    snprintf(path, sizeof path, "%s/api.sock", workdir);
    for (int i = 0; i < 200; i++) {
        struct stat st;
        if (stat(path, &st) == 0)
            return 0;
        sleep_s(0.05);
    }
    return -1;
}

static void stop_node(void)
{
    if (node_pid > 0) {
        kill(node_pid, SIGTERM);
        waitpid(node_pid, NULL, 0);
    }
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", workdir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_isolation: could not remove %s\n", workdir);
}

static pid_t spawn_spin(const char *token, double seconds, unsigned iters, int out_fd)
{
    char secs[32], its[32];
    snprintf(secs, sizeof secs, "%.1f", seconds);
    snprintf(its, sizeof its, "%u", iters);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        setpgid(0, 0);   /* a group of its own, with its program: stopped and resumed together */
        if (out_fd >= 0)
            dup2(out_fd, 1);
        execl(tfuse, tfuse, "run", "--connect", sess, "--vgpu", token, "--", prog, "spin", secs,
              its, "4", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* One look at the node: each tenant's busy_ns (its vGPU) and launches (summed over its
 * sessions), and the launches of whole-device sessions (no vGPU), at time t. */
struct snap {
    double t;
    uint64_t busy[MAXT], launches[MAXT], alone;
    int nsess[MAXT], nalone;   /* sessions seen per tenant, whole-device sessions seen */
};

static void snap_sessions(const struct rscenario *sc, json_t *sessions, struct snap *s)
{
    json_t *v;
    size_t k;
    json_array_foreach(sessions, k, v) {
        uint64_t n = (uint64_t)json_integer_value(json_object_get(v, "launches_total"));
        const char *vg = json_string_value(json_object_get(v, "vgpu"));
        if (!vg) {
            s->alone += n;
            s->nalone++;
            continue;
        }
        for (int i = 0; sc && i < sc->n; i++)
            if (strcmp(vg, sc->t[i].id) == 0) {
                s->launches[i] += n;
                s->nsess[i]++;
            }
    }
}

static int read_snap(const struct rscenario *sc, struct snap *s)
{
    char *argv[] = {tfuse, "ps", "--node", api, "--json", NULL};
    memset(s, 0, sizeof *s);
    double t0 = now_s();
    json_t *j = run_json(argv);
    if (!j)
        return -1;
    s->t = (t0 + now_s()) / 2;   /* the node answered somewhere in between */
    json_t *v;
    size_t k;
    json_array_foreach(json_object_get(j, "vgpus"), k, v)
        for (int i = 0; sc && i < sc->n; i++)
            if (strcmp(json_string_value(json_object_get(v, "id")), sc->t[i].id) == 0)
                s->busy[i] = (uint64_t)json_integer_value(json_object_get(v, "busy_ns"));
    snap_sessions(sc, json_object_get(j, "sessions"), s);
    json_decref(j);
    return 0;
}

static int create_vgpu(const char *id, double pct, char *token, size_t len)
{
    char c[32];
    snprintf(c, sizeof c, "%.2f%%", pct);
    char *argv[] = {tfuse, "vgpu", "create", "--node", api, "--vram", "256MiB", "--id",
                    (char *)id, "--json", pct > 0 ? "--compute" : NULL, c, NULL};
    json_t *j = run_json(argv);
    if (!j)
        return -1;
    snprintf(token, len, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    return 0;
}

static void delete_vgpu(const char *id)
{
    char *argv[] = {tfuse, "vgpu", "delete", "--node", api, "--json", (char *)id, NULL};
    json_decref(run_json(argv));
}

/* One process group: stopped or resumed (SIGSTOP stops `tfuse run` and its program; the
 * worker finishes the kernels already sent, then its stream idles and gives the device up). */
static void group_signal(pid_t pgid, int sig)
{
    if (pgid > 0)
        kill(-pgid, sig);
}

static void tenants_signal(struct rscenario *sc, int sig)
{
    for (int i = 0; i < sc->n; i++)
        group_signal(sc->t[i].pid, sig);
}

/* What one phase measured: launches and busy_ns per tenant, the alone session's launches. */
struct span {
    double s;
    uint64_t busy[MAXT], launches[MAXT], alone;
    uint64_t sm_run, sm_wait;   /* the SM threads' host CPU time and run-queue wait (smcpu.c) */
    int ok;
};

/* Sleeps to `until`, reading the node every SAMPLE_S for the plot (tenant phases). */
static int phase_wait(struct rscenario *sc, double start, double until, int series,
                      struct snap *last)
{
    while (now_s() < until - 1e-3) {
        double step = until - now_s();
        sleep_s(series && step > SAMPLE_S ? SAMPLE_S : step);
        if (!series || now_s() >= until - 1e-3 || sc->nsamples >= MAXS)
            continue;
        struct snap s;
        if (read_snap(sc, &s) != 0)
            return -1;
        for (int i = 0; i < sc->n; i++) {
            sc->t[i].series[sc->nsamples] = 100.0 * (double)(s.busy[i] - last->busy[i]) /
                                            ((s.t - last->t) * 1e9);
        }
        sc->at[sc->nsamples++] = s.t - start;
        *last = s;
    }
    return 0;
}

/* One phase: resume `run` (tenants or the alone session), let it settle, measure it until
 * the phase ends. Snapshots list every session, so counts come from the same reads. */
static int phase(struct rscenario *sc, int tenants, pid_t alone, double start, double len,
                 struct span *out)
{
    if (tenants) {
        group_signal(alone, SIGSTOP);
        tenants_signal(sc, SIGCONT);
    } else {
        tenants_signal(sc, SIGSTOP);
        group_signal(alone, SIGCONT);
    }
    double t0 = now_s();
    struct snap a, b;
    uint64_t run0, wait0, run1, wait1;
    sleep_s(PHASE_SETTLE_S);   /* the other side's kernels in flight drain */
    if (read_snap(sc, &a) != 0 || iso_sm_cpu(node_pid, &run0, &wait0) != 0)
        return -1;
    struct snap last = a;
    if (phase_wait(sc, start, t0 + len, tenants, &last) != 0 ||
        iso_sm_cpu(node_pid, &run1, &wait1) != 0 || read_snap(sc, &b) != 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->sm_run = run1 > run0 ? run1 - run0 : 0;
    out->sm_wait = wait1 > wait0 ? wait1 - wait0 : 0;
    out->s = b.t - a.t;
    out->alone = b.alone - a.alone;
    out->ok = a.nalone == 1 && b.nalone == 1;
    for (int i = 0; i < sc->n; i++) {
        out->busy[i] = b.busy[i] - a.busy[i];
        out->launches[i] = b.launches[i] - a.launches[i];
        out->ok = out->ok && a.nsess[i] == 1 && b.nsess[i] == 1;
    }
    return 0;
}

/* Adds one round (a tenant phase and the alone phase after it) to the scenario's totals and
 * its per-round spread. */
static double cpu_share(uint64_t run, uint64_t wait)
{
    return run + wait ? (double)run / (double)(run + wait) : 1.0;
}

static void add_round(struct rscenario *sc, const struct span *tp, const struct span *ap,
                      double tot[MAXT][2], double *alone_l, double *alone_s, double *tsec)
{
    double alone = (double)ap->alone / ap->s;
    *alone_l += (double)ap->alone;
    *alone_s += ap->s;
    *tsec += tp->s;
    sc->sm[0] += (double)tp->sm_run;
    sc->sm[1] += (double)tp->sm_wait;
    sc->sm[2] += (double)ap->sm_run;
    sc->sm[3] += (double)ap->sm_wait;
    sc->alone_lo = sc->rounds ? fmin(sc->alone_lo, alone) : alone;
    sc->alone_hi = sc->rounds ? fmax(sc->alone_hi, alone) : alone;
    for (int i = 0; i < sc->n; i++) {
        struct tenant *tn = &sc->t[i];
        tot[i][0] += (double)tp->busy[i];
        tot[i][1] += (double)tp->launches[i];
        double tput = 100.0 * ((double)tp->launches[i] / tp->s) / alone;
        tn->tput_lo = sc->rounds ? fmin(tn->tput_lo, tput) : tput;
        tn->tput_hi = sc->rounds ? fmax(tn->tput_hi, tput) : tput;
    }
    sc->rounds++;
}

/* Waits until the node lists every tenant's session and the alone one (a loaded host may take
 * seconds to start them): a program stopped before it connected would never be listed. */
static int wait_listed(struct rscenario *sc)
{
    for (double t0 = now_s(); now_s() - t0 < CONNECT_S; sleep_s(0.2)) {
        struct snap s;
        if (read_snap(sc, &s) != 0)
            return -1;
        int all = s.nalone == 1;
        for (int i = 0; i < sc->n; i++)
            all = all && s.nsess[i] == 1;
        if (all)
            return 0;
    }
    return -1;
}

/* The scenario's tenants and the program alone (a whole-device session, no vGPU, no limiter)
 * run as one set of processes for the whole scenario, and the bench alternates which of the
 * two runs: ROUNDS_PER_SCENARIO rounds of a tenant phase then an alone phase, each measured
 * after PHASE_SETTLE_S. So the alone rate is read within seconds of the tenants' rates, on
 * the same host load, many times (the host's CPU for softgpu moves 2x within seconds here:
 * docs/vgpu.md); shares are over the tenant phases, throughput against the alone phases. */
static int run_phases(struct rscenario *sc, pid_t alone, double seconds)
{
    double tlen = seconds / ROUNDS_PER_SCENARIO, alen = tlen * ALONE_FRACTION;
    double start = now_s(), tot[MAXT][2] = {{0}}, al = 0, as = 0, tsec = 0;
    if (wait_listed(sc) != 0) {
        fprintf(stderr, "bench_isolation: %s: the sessions were not all listed within %.0f s\n",
                sc->name, CONNECT_S);
        return -1;
    }
    group_signal(alone, SIGSTOP);
    sleep_s(WARMUP_S);   /* compiled, and the controller settled */
    for (int r = 0; r < ROUNDS_PER_SCENARIO; r++) {
        struct span tp, ap;
        if (phase(sc, 1, alone, start, tlen, &tp) != 0 || phase(sc, 0, alone, start, alen, &ap))
            return -1;
        if (!tp.ok || !ap.ok || tp.s <= 0 || ap.s <= 0 || ap.alone == 0) {
            fprintf(stderr, "bench_isolation: round %d of %s: a session was not listed once in "
                    "every look, or the program alone ran no kernel\n", r, sc->name);
            return -1;
        }
        add_round(sc, &tp, &ap, tot, &al, &as, &tsec);
        if (getenv("BENCH_ISOLATION_PHASES"))   /* each phase, for a look at the spread */
            fprintf(stderr, "round %d: tenants %.2f s %.1f/%.1f k/s cpu %.2f SM run %.0f "
                    "wait %.0f us/kernel; alone %.2f s %.1f k/s cpu %.2f SM run %.0f wait %.0f "
                    "us/kernel\n", r, tp.s, tp.launches[0] / tp.s, tp.launches[1] / tp.s,
                    cpu_share(tp.sm_run, tp.sm_wait),
                    tp.sm_run / 1e3 / (double)(tp.launches[0] + tp.launches[1] + 1),
                    tp.sm_wait / 1e3 / (double)(tp.launches[0] + tp.launches[1] + 1), ap.s,
                    ap.alone / ap.s, cpu_share(ap.sm_run, ap.sm_wait),
                    ap.sm_run / 1e3 / (double)(ap.alone + 1),
                    ap.sm_wait / 1e3 / (double)(ap.alone + 1));
    }
    tenants_signal(sc, SIGCONT);
    group_signal(alone, SIGCONT);
    sc->alone = al / as;
    for (int i = 0; i < sc->n; i++) {
        sc->t[i].share = 100.0 * tot[i][0] / (tsec * 1e9);
        sc->t[i].rate = tot[i][1] / tsec;
    }
    return 0;
}

static int run_rscenario(struct rscenario *sc, double seconds, unsigned iters)
{
    for (int i = 0; i < sc->n; i++) {
        snprintf(sc->t[i].id, sizeof sc->t[i].id, "bench-%s", sc->t[i].name);
        if (create_vgpu(sc->t[i].id, sc->t[i].limit_pct, sc->t[i].token, sizeof sc->t[i].token))
            return -1;
    }
    /* every program runs until the last phase is over (stopped time counts as its time) */
    double total = CONNECT_S + WARMUP_S + seconds * (1 + ALONE_FRACTION) +
                   2 * ROUNDS_PER_SCENARIO;
    int null = open("/dev/null", O_WRONLY);
    for (int i = 0; i < sc->n; i++)
        sc->t[i].pid = spawn_spin(sc->t[i].token, total, iters, null);
    sc->alone_pid = spawn_spin("no-vgpu", total, iters, null);
    close(null);
    int rc = run_phases(sc, sc->alone_pid, seconds);
    for (int i = 0; i <= sc->n; i++) {
        pid_t *pid = i < sc->n ? &sc->t[i].pid : &sc->alone_pid;
        int st;
        group_signal(*pid, SIGCONT);
        group_signal(*pid, SIGTERM);   /* done: the programs need not spin to their end */
        waitpid(*pid, &st, 0);
        *pid = 0;
        if (i < sc->n)
            delete_vgpu(sc->t[i].id);
    }
    return rc;
}

/* The throughput shares against the alone phases, the work shares, and the MAEs. */
static void score(struct rscenario *sc)
{
    sc->mae = sc->tput_mae = 0;
    sc->cpu_tenants = cpu_share((uint64_t)sc->sm[0], (uint64_t)sc->sm[1]);
    sc->cpu_alone = cpu_share((uint64_t)sc->sm[2], (uint64_t)sc->sm[3]);
    double sum = 0, limits = 0;
    for (int i = 0; i < sc->n; i++) {
        sum += sc->t[i].rate;
        limits += sc->t[i].limit_pct;
    }
    for (int i = 0; i < sc->n; i++) {
        struct tenant *tn = &sc->t[i];
        tn->tput = 100.0 * tn->rate / sc->alone;
        tn->work = sum > 0 ? limits * tn->rate / sum : 0;   /* of what the limits add up to */
        sc->mae += fabs(tn->share - tn->limit_pct) / sc->n;
        sc->tput_mae += fabs(tn->tput - tn->limit_pct) / sc->n;
    }
}

/* One scenario, beside its hogs (if any). */
static int measure(struct rscenario *sc, double seconds, unsigned iters)
{
    int rc = iso_hogs_start(sc->hogs);
    if (rc == 0)
        rc = run_rscenario(sc, seconds, iters);
    iso_hogs_stop();
    if (rc != 0)
        return -1;
    score(sc);
    return 0;
}

/* Launches a spin run managed in one go; returns its launches per second. */
static double spin_rate(const char *token, double seconds, unsigned iters)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = spawn_spin(token, seconds, iters, p[1]);
    close(p[1]);
    char buf[256] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    waitpid(pid, NULL, 0);
    unsigned long launches = 0;
    if (n <= 0 || sscanf(buf, "launches %lu", &launches) != 1)
        return -1;
    return (double)launches / seconds;
}

static int find_programs(void)
{
    ssize_t n = readlink("/proc/self/exe", bindir, sizeof bindir - 1);
    if (n <= 0)
        return -1;
    bindir[n] = '\0';
    *strrchr(bindir, '/') = '\0';
    snprintf(tfuse, sizeof tfuse, "%s/tfuse", bindir);
    snprintf(prog, sizeof prog, "%s/../tests/isolation/prog_iso", bindir);
    return access(tfuse, X_OK) == 0 && access(prog, X_OK) == 0 ? 0 : -1;
}

/* Ends what the bench started when it is interrupted: the hogs, the tenants, the node. */
static void on_signal(int sig)
{
    iso_hogs_stop();
    for (int k = 0; k < NRS; k++)
        for (int i = 0; i <= rs[k].n; i++) {
            pid_t g = i < rs[k].n ? rs[k].t[i].pid : rs[k].alone_pid;
            if (g > 0) {   /* a stopped group ends only once it runs again */
                kill(-g, SIGTERM);
                kill(-g, SIGCONT);
            }
        }
    if (node_pid > 0) {
        kill(node_pid, SIGTERM);
        waitpid(node_pid, NULL, 0);
    }
    /* the work folder holds the node's two sockets (unlink and rmdir are async-signal-safe) */
    unlink(api + 5);   /* past "unix:" */
    unlink(sess + 5);
    rmdir(workdir);
    _exit(128 + sig);
}

/* Steps for kernels of about `ms` on this host and engine: the program alone on the device,
 * its steps scaled by the time per kernel until within 10% (a launch's own cost does not
 * scale, hence more than one pass). 0 when the program does not run. */
static unsigned calibrate(double ms)
{
    unsigned iters = 20000;
    for (int pass = 0; pass < 4; pass++) {
        double rate = spin_rate("no-vgpu", 2, iters);
        if (rate <= 0)
            return 0;
        double per = 1000.0 / rate, next = iters * ms / per;
        printf("calibration: %u steps, %.0f kernels/s alone (%.2f ms each)\n", iters, rate, per);
        if (fabs(per - ms) < ms * 0.1)
            break;
        iters = next > 2e9 ? 2000000000u : next < 1000 ? 1000u : (unsigned)next;
    }
    return iters;
}

static const char *only; /* --only NAME: that scenario alone, no limiter-cost runs */

static int parse_real_args(int argc, char **argv, double *seconds, unsigned *iters, int *hogs,
                           double *kernel_ms)
{
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            *seconds = strtod(argv[++i], &end);
        else if (strcmp(argv[i], "--kernel-ms") == 0 && i + 1 < argc)
            *kernel_ms = strtod(argv[++i], &end);
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            *iters = (unsigned)strtoul(argv[++i], &end, 10);
        else if (strcmp(argv[i], "--hog") == 0 && i + 1 < argc)
            *hogs = (int)strtol(argv[++i], &end, 10);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
            end = argv[i] + strlen(argv[i]);
        }
        if (!end || *end || end == argv[i]) {
            fprintf(stderr, "usage: bench_isolation [--seconds 2..600] [--iters N | --kernel-ms "
                            "0.1..1000] [--hog 0..64] [--only SCENARIO]   (real tenants)\n"
                            "       bench_isolation --emulated [options of the emulated mode]\n");
            return -1;
        }
    }
    if (!(*seconds >= 2 && *seconds <= 600) || *hogs < 0 || *hogs > 64
        || !(*kernel_ms >= 0.1 && *kernel_ms <= 1000)) {
        fprintf(stderr, "bench_isolation: --seconds 2..600, --kernel-ms 0.1..1000, "
                        "--hog 0..64\n");
        return -1;
    }
    return 0;
}

/* The same program on an unlimited vGPU against a whole-device session, alternating runs so
 * that drift hits both sides alike; fills their mean kernels/s. */
static int limiter_cost(double seconds, unsigned iters, double *direct, double *limited)
{
    char token[80];
    if (create_vgpu("bench-unlimited", 0, token, sizeof token) != 0)
        return -1;
    double each = seconds / 8 < 2 ? 2 : seconds / 8;
    *direct = *limited = 0;
    for (int r = 0; r < ROUNDS; r++) {
        *direct += spin_rate("no-vgpu", each, iters) / ROUNDS;
        *limited += spin_rate(token, each, iters) / ROUNDS;
    }
    delete_vgpu("bench-unlimited");
    printf("%-40s %12s %8s\n", "alone on the device", "launches/s", "ratio");
    printf("%-40s %12.1f %8.4f\n", "whole-device session (no limiter)", *direct, 1.0);
    printf("%-40s %12.1f %8.4f\n", "unlimited vGPU (limiter, launch timing)", *limited,
           *limited / *direct);
    printf("limiter cost: %.2f%% of throughput (aim: < 2%%)\n\n",
           100.0 * (1 - *limited / *direct));
    return *direct > 0 && *limited > 0 ? 0 : -1;
}

int isolation_real_main(int argc, char **argv)
{
    double seconds = 20, kernel_ms = 3;
    unsigned iters = 0; /* 0: calibrated */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int hogs = cpus > 0 && cpus <= 64 ? (int)cpus : 2;
    if (parse_real_args(argc, argv, &seconds, &iters, &hogs, &kernel_ms) != 0)
        return 2;
    if (find_programs() != 0) {
        fprintf(stderr, "bench_isolation: needs %s and %s (build tfuse and prog_iso)\n", tfuse,
                prog);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    if (start_node() != 0) {
        fprintf(stderr, "bench_isolation: the node did not start\n");
        stop_node();
        return 1;
    }
    rs[NRS - 1].hogs = hogs;
    if (!iters && !(iters = calibrate(kernel_ms))) {
        fprintf(stderr, "bench_isolation: the program alone ran no kernel (calibration)\n");
        stop_node();
        return 1;
    }
    iso_print_header(iters, seconds);
    int rc = 0;
    for (int k = 0; k < NRS && rc == 0; k++) {
        if (rs[k].hogs == 0 && k == NRS - 1)
            break;   /* --hog 0: no loaded scenario */
        if (only && strcmp(only, rs[k].name) != 0)
            continue;
        if (rs[k].hogs)
            printf("%-13s (beside %d CPU-bound process%s)\n", rs[k].name, rs[k].hogs,
                   rs[k].hogs > 1 ? "es" : "");
        if (measure(&rs[k], seconds, iters) != 0) {
            fprintf(stderr, "bench_isolation: scenario %s failed\n", rs[k].name);
            rc = 1;
            break;
        }
        iso_print_scenario(&rs[k]);
    }
    double direct = 0, limited = 0;
    if (rc == 0) {
        iso_print_summary(rs, NRS);
        if (!only)
            rc = limiter_cost(seconds, iters, &direct, &limited) != 0;
    }
    stop_node();
    if (rc == 0)
        rc = iso_write_outputs(rs, NRS, seconds, iters, hogs, direct, limited) != 0;
    return rc;
}
