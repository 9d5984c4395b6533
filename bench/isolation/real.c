/*
 * bench_isolation's real mode (the default): real tenants on a softgpu device. It starts
 * `tfuse node --backend soft --api ... --allow-unlimited`, creates vGPUs with `tfuse vgpu
 * create`, and runs each tenant as `tfuse run --vgpu TOKEN -- prog_iso spin S ITERS` (a
 * driver-API program with embedded PTX launching a compute-bound kernel and synchronizing, in
 * a loop) through the stub, a worker and softgpu. Shares come from the node's per-vGPU measured
 * GPU time (busy_ns in `tfuse vgpu list --json`, charged by the worker from events), sampled
 * every 0.5 s.
 *
 * Also the limiter's cost: the same program on an unlimited vGPU (enforcement wrappers, event
 * timing, bucket fast path) against a whole-device session with no limiter, alternating runs on
 * the same node.
 *
 * Owns: real mode. May call: libc, jansson, png_plot.c, bench/common; runs build/bin/tfuse and
 * build/tests/isolation/prog_iso.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "png_plot.h"

#define MAXT 4
#define SAMPLE_S 0.5
#define MAXS 2048
#define ROUNDS 4 /* alternating overhead runs per side */

struct tenant {
    const char *name;
    double limit_pct;
    char id[64], token[80];
    pid_t pid;
    uint64_t busy0, busy_prev;
    double share;
    double series[MAXS];
};

struct rscenario {
    const char *name;
    int n;
    struct tenant t[MAXT];
    int nsamples;
    double at[MAXS];
    double mae;
};

static struct rscenario rs[] = {
    {"20/30/50", 3, {{.name = "A", .limit_pct = 20}, {.name = "B", .limit_pct = 30},
                     {.name = "C", .limit_pct = 50}}, 0, {0}, 0},
    {"10/90", 2, {{.name = "D", .limit_pct = 10}, {.name = "E", .limit_pct = 90}}, 0, {0}, 0},
};
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
    snprintf(workdir, sizeof workdir, "/tmp/bench-iso.XXXXXX");
    if (!mkdtemp(workdir))
        return -1;
    snprintf(api, sizeof api, "unix:%s/api.sock", workdir);
    snprintf(sess, sizeof sess, "unix:%s/s.sock", workdir);
    node_pid = fork();
    if (node_pid == 0) {
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
        if (out_fd >= 0)
            dup2(out_fd, 1);
        execl(tfuse, tfuse, "run", "--connect", sess, "--vgpu", token, "--", prog, "spin", secs,
              its, "4", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* busy_ns of every vGPU, by id. */
static int read_busy(struct rscenario *sc, uint64_t *busy)
{
    char *argv[] = {tfuse, "vgpu", "list", "--node", api, "--json", NULL};
    json_t *j = run_json(argv);
    if (!j)
        return -1;
    json_t *v;
    size_t k;
    json_array_foreach(json_object_get(j, "vgpus"), k, v)
        for (int i = 0; i < sc->n; i++)
            if (strcmp(json_string_value(json_object_get(v, "id")), sc->t[i].id) == 0)
                busy[i] = (uint64_t)json_integer_value(json_object_get(v, "busy_ns"));
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

static int run_rscenario(struct rscenario *sc, double seconds, unsigned iters)
{
    for (int i = 0; i < sc->n; i++) {
        snprintf(sc->t[i].id, sizeof sc->t[i].id, "bench-%s", sc->t[i].name);
        if (create_vgpu(sc->t[i].id, sc->t[i].limit_pct, sc->t[i].token, sizeof sc->t[i].token))
            return -1;
    }
    int null = open("/dev/null", 1);
    for (int i = 0; i < sc->n; i++)
        sc->t[i].pid = spawn_spin(sc->t[i].token, seconds, iters, null);
    close(null);
    uint64_t busy[MAXT] = {0};
    double start = now_s(), prev = start, warm = seconds >= 10 ? 1.0 : seconds * 0.1, tw = 0;
    while (now_s() - start < seconds - 0.2 && sc->nsamples < MAXS) {
        sleep_s(SAMPLE_S);
        double t = now_s();
        if (read_busy(sc, busy) != 0)
            return -1;
        int warming = tw == 0 && t - start >= warm;
        for (int i = 0; i < sc->n; i++) {
            struct tenant *tn = &sc->t[i];
            tn->series[sc->nsamples] = 100.0 * (double)(busy[i] - tn->busy_prev) / ((t - prev) * 1e9);
            tn->busy_prev = busy[i];
            if (warming)
                tn->busy0 = busy[i];
            else if (tw > 0)
                tn->share = 100.0 * (double)(busy[i] - tn->busy0) / ((t - tw) * 1e9);
        }
        if (warming)
            tw = t;
        sc->at[sc->nsamples++] = t - start;
        prev = t;
    }
    int ok = 1;
    for (int i = 0; i < sc->n; i++) {
        int st;
        waitpid(sc->t[i].pid, &st, 0);
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
        delete_vgpu(sc->t[i].id);
    }
    double err = 0;
    for (int i = 0; i < sc->n; i++)
        err += fabs(sc->t[i].share - sc->t[i].limit_pct);
    sc->mae = err / sc->n;
    return ok ? 0 : -1;
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

static int write_png(double seconds, const char *path)
{
    static const uint32_t colors[MAXT] = {0x1f77b4, 0xd62728, 0x2ca02c, 0x9467bd};
    struct plot_canvas c;
    if (plot_init(&c, 1000, 720) != 0)
        return -1;
    for (int k = 0; k < NRS; k++) {
        struct plot_panel p = {.x0 = 90, .x1 = 960, .y0 = 40 + k * 350, .y1 = 300 + k * 350,
                               .xmax = seconds, .ymax = 100};
        plot_frame(&c, &p, seconds >= 10 ? 5 : 1, 20);
        plot_text(&c, p.x0, p.y0 - 25, rs[k].name, 0x000000, 3);
        for (int i = 0; i < rs[k].n; i++) {
            char legend[32];
            snprintf(legend, sizeof legend, "%s %.0f%%", rs[k].t[i].name, rs[k].t[i].limit_pct);
            int lx = p.x1 - 150 * (rs[k].n - i);
            plot_rect(&c, lx, p.y0 - 22, lx + 20, p.y0 - 12, colors[i]);
            plot_text(&c, lx + 28, p.y0 - 25, legend, 0x000000, 3);
            plot_hline_dashed(&c, &p, rs[k].t[i].limit_pct, colors[i]);
            plot_series(&c, &p, rs[k].at, rs[k].t[i].series, rs[k].nsamples, colors[i]);
        }
    }
    int rc = plot_write_png(&c, path);
    plot_free(&c);
    return rc;
}

static int write_outputs(double seconds, unsigned iters, double mae, double direct,
                         double limited)
{
    json_t *scs = json_array();
    for (int k = 0; k < NRS; k++) {
        json_t *ts = json_array();
        for (int i = 0; i < rs[k].n; i++) {
            json_t *series = json_array();
            for (int j = 0; j < rs[k].nsamples; j++)
                json_array_append_new(series, json_real(rs[k].t[i].series[j]));
            json_array_append_new(ts, json_pack("{s:s, s:f, s:f, s:o}", "name", rs[k].t[i].name,
                                                "limit_pct", rs[k].t[i].limit_pct, "share_pct",
                                                rs[k].t[i].share, "series_pct", series));
        }
        json_array_append_new(scs, json_pack("{s:s, s:f, s:f, s:o}", "name", rs[k].name,
                                             "mae_points", rs[k].mae, "sample_s", SAMPLE_S,
                                             "tenants", ts));
    }
    json_t *j = json_pack(
        "{s:s, s:s, s:f, s:i, s:o, s:f, s:{s:f, s:f, s:f, s:f}}", "bench", "isolation", "kernels",
        "real: prog_iso spin through tfuse run, stub, worker and softgpu; shares from the node's "
        "measured busy_ns", "seconds", seconds, "spin_iters", (int)iters, "scenarios", scs,
        "mae_points", mae, "unlimited_overhead", "direct_launches_per_s", direct,
        "limiter_launches_per_s", limited, "ratio", limited / direct, "cost_pct",
        100.0 * (1 - limited / direct));
    char path[PATH_MAX];
    bench_output_path(path, sizeof path, "isolation.json");
    int rc = json_dump_file(j, path, JSON_INDENT(2));
    json_decref(j);
    bench_output_path(path, sizeof path, "isolation.png");
    if (write_png(seconds, path) != 0)
        rc = -1;
    if (rc == 0)
        printf("wrote isolation.json and isolation.png\n");
    return rc;
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

int isolation_real_main(int argc, char **argv)
{
    double seconds = 20;
    unsigned iters = 20000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = (unsigned)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_isolation [--seconds S] [--iters N]   (real tenants)\n"
                            "       bench_isolation --emulated [options of the emulated mode]\n");
            return 2;
        }
    }
    if (!(seconds >= 2 && seconds <= 600) || iters == 0) {
        fprintf(stderr, "bench_isolation: --seconds 2..600, --iters > 0\n");
        return 2;
    }
    if (find_programs() != 0) {
        fprintf(stderr, "bench_isolation: needs %s and %s (build tfuse and prog_iso)\n", tfuse,
                prog);
        return 1;
    }
    if (start_node() != 0) {
        fprintf(stderr, "bench_isolation: the node did not start\n");
        stop_node();
        return 1;
    }
    printf("bench_isolation (real tenants): softgpu device, tfuse node with vGPUs, each tenant a\n"
           "  `tfuse run` of prog_iso spinning %u-step kernels, 4 per sync; %g s per scenario, shares from\n"
           "  the node's measured GPU time, first %s excluded.\n\n", iters, seconds,
           seconds >= 10 ? "1 s" : "10%");
    printf("%-10s %-7s %9s %9s %9s\n", "scenario", "tenant", "limit %", "share %", "error");
    double mae = 0;
    int nt = 0, rc = 0;
    for (int k = 0; k < NRS && rc == 0; k++) {
        if (run_rscenario(&rs[k], seconds, iters) != 0) {
            fprintf(stderr, "bench_isolation: scenario %s failed\n", rs[k].name);
            rc = 1;
            break;
        }
        for (int i = 0; i < rs[k].n; i++) {
            printf("%-10s %-7s %9.1f %9.2f %+9.2f\n", rs[k].name, rs[k].t[i].name,
                   rs[k].t[i].limit_pct, rs[k].t[i].share,
                   rs[k].t[i].share - rs[k].t[i].limit_pct);
            mae += fabs(rs[k].t[i].share - rs[k].t[i].limit_pct);
            nt++;
        }
        printf("%-10s MAE  %.2f points\n", rs[k].name, rs[k].mae);
    }
    double direct = 0, limited = 0;
    if (rc == 0) {
        mae /= nt;
        printf("all        MAE  %.2f percentage points (aim: < 2; other systems measure 15-20)\n\n",
               mae);
        char token[80];
        if (create_vgpu("bench-unlimited", 0, token, sizeof token) != 0) {
            rc = 1;
        } else {
            double each = seconds / 8 < 2 ? 2 : seconds / 8;
            for (int r = 0; r < ROUNDS; r++) {   /* alternate: drift hits both sides alike */
                direct += spin_rate("no-vgpu", each, iters);
                limited += spin_rate(token, each, iters);
            }
            delete_vgpu("bench-unlimited");
            printf("%-40s %12s %8s\n", "alone on the device", "launches/s", "ratio");
            printf("%-40s %12.1f %8.4f\n", "whole-device session (no limiter)", direct / ROUNDS, 1.0);
            printf("%-40s %12.1f %8.4f\n", "unlimited vGPU (limiter, event timing)", limited / ROUNDS,
                   limited / direct);
            printf("limiter cost: %.2f%% of throughput (aim: < 2%%)\n\n",
                   100.0 * (1 - limited / direct));
            rc = direct > 0 && limited > 0 ? 0 : 1;
        }
    }
    stop_node();
    if (rc == 0)
        rc = write_outputs(seconds, iters, mae, direct / ROUNDS, limited / ROUNDS) != 0;
    return rc;
}
