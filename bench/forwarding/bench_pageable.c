/*
 * bench_pageable: pageable copies over shared memory against the direct path (issue 22), with
 * the spread of each figure. One child process per mode stays up for the whole run, each with
 * its driver loaded, its context, a 64 MiB device allocation and 64 MiB of malloc'd random
 * bytes (one untimed copy of each size and direction first): "direct" (softgpu in-process),
 * then our libcuda.so.1 through a `tfuse node` over unix + shm: "auto" (as shipped:
 * src/stub/attach.c picks per direction), "attach" (TFUSE_ATTACH=always: the worker copies the
 * program's memory by cross-memory attach) and "staged" (TFUSE_ATTACH=off: through the ring).
 * BENCH_PAGEABLE_MODES="name:K=V;K=V,name2:..." replaces the forwarded modes (each child gets
 * its K=V in its environment, e.g. TFUSE_RING_KB for the ring's size); the node takes the
 * bench's own environment (TFUSE_BULK_CHUNK_KB).
 * The modes are interleaved: each repetition times one copy in every mode, in a rotating order,
 * and the host's memcpy of the same size in this process (the ceiling of any path here), so the
 * load moves all of them alike; a mode's ratio to direct is the median of the repetitions'
 * paired ratios, with its quartiles. Rows: 1, 16 and 64 MiB HtoD and DtoH, and 64 MiB into
 * fresh memory (HtoD into a new device allocation, DtoH into newly mapped host pages; the
 * memcpy into new pages): what first touches cost each path.
 * Usage: bench_pageable [repetitions]  (default 15). Writes $TFUSE_BENCH_DIR/pageable.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "baselines.h"
#include "harness.h"

#define NSIZES 3
#define NROWS (2 * NSIZES + 2)
#define MAX_MODES 8
#define MAX_REPS 101
#define TOP (64u << 20)
static const size_t sizes[NSIZES] = {1u << 20, 16u << 20, 64u << 20};

struct mode {
    char name[24];
    char env[200];   /* K=V;K=V for the child */
};
static struct mode modes[MAX_MODES] = {{"direct", ""},
                                       {"auto", ""},
                                       {"attach", "TFUSE_ATTACH=always"},
                                       {"staged", "TFUSE_ATTACH=off"}};
static int nmodes = 4;

struct cmd {
    int quit, row;
};
struct ans {
    double seconds;   /* < 0: the copy failed */
    long faults;      /* the program's minor faults during it */
};
struct child {
    pid_t pid;
    int to, from;
};

static size_t row_size(int row) { return row < 2 * NSIZES ? sizes[row / 2] : TOP; }
static int row_dir(int row) { return row % 2; }          /* 0 HtoD, 1 DtoH */
static int row_fresh(int row) { return row >= 2 * NSIZES; }

static long minflt(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

struct state {
    struct tf_backend be;
    CUdeviceptr d;
    void *h;
};

static CUresult copy(struct state *st, CUdeviceptr d, void *h, size_t n, int dir)
{
    return dir == 0 ? st->be.cuMemcpyHtoD_v2(d, h, n) : st->be.cuMemcpyDtoH_v2(h, d, n);
}

/* One timed copy of the row: into the warm buffers, or into fresh memory. */
static struct ans one_copy(struct state *st, int row)
{
    size_t n = row_size(row);
    int dir = row_dir(row);
    CUdeviceptr d = st->d;
    void *h = st->h;
    struct ans a = {-1, 0};
    if (row_fresh(row) && dir == 0 && st->be.cuMemAlloc_v2(&d, n) != CUDA_SUCCESS)
        return a;
    if (row_fresh(row) && dir == 1 &&
        (h = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) ==
            MAP_FAILED)
        return a;
    long f0 = minflt();
    double t0 = now_seconds();
    CUresult r = copy(st, d, h, n, dir);
    a.seconds = r == CUDA_SUCCESS ? now_seconds() - t0 : -1;
    a.faults = minflt() - f0;
    if (d != st->d)
        st->be.cuMemFree_v2(d);
    if (h != st->h)
        munmap(h, n);
    return a;
}

static void set_env(const char *kv)
{
    char buf[200];
    snprintf(buf, sizeof buf, "%s", kv);
    for (char *save, *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(t, '=');
        if (eq) {
            *eq = '\0';
            setenv(t, eq + 1, 1);
        }
    }
}

/* The child: set up, answer "ready" (seconds 0, or -1), then one answer per command. */
static void child_main(const struct mode *m, const char *lib, const char *connect, int in,
                       int out)
{
    struct state st;
    struct ans a = {-1, 0};
    char err[512];
    CUcontext ctx;
    if (connect)
        setenv("TFUSE_CONNECT", connect, 1);
    set_env(m->env);
    if (tf_backend_load(&st.be, lib, err, sizeof err) != 0)
        fprintf(stderr, "bench_pageable: %s\n", err);
    else if ((st.h = malloc(TOP)) && !st.be.cuDevicePrimaryCtxRetain(&ctx, 0) &&
             !st.be.cuCtxSetCurrent(ctx) && !st.be.cuMemAlloc_v2(&st.d, TOP)) {
        baselines_fill(st.h, TOP, 0);
        a.seconds = 0;
        for (int row = 0; row < 2 * NSIZES && a.seconds == 0; row++)
            if (copy(&st, st.d, st.h, row_size(row), row_dir(row)) != CUDA_SUCCESS)
                a.seconds = -1;   /* the untimed first copies: the pages are touched */
    }
    struct cmd c;
    while (write(out, &a, sizeof a) == (ssize_t)sizeof a && a.seconds >= 0 &&
           read(in, &c, sizeof c) == (ssize_t)sizeof c && !c.quit)
        a = one_copy(&st, c.row);
    _exit(0);
}

static int spawn(struct child *ch, const struct mode *m, const char *lib, const char *connect)
{
    int to[2], from[2];
    if (pipe(to) || pipe(from))
        return -1;
    ch->pid = fork();
    if (ch->pid == 0) {
        close(to[1]);
        close(from[0]);
        child_main(m, lib, connect, to[0], from[1]);
    }
    close(to[0]);
    close(from[1]);
    ch->to = to[1];
    ch->from = from[0];
    struct ans a;
    return read(ch->from, &a, sizeof a) == (ssize_t)sizeof a && a.seconds == 0 ? 0 : -1;
}

static int ask(struct child *ch, int row, struct ans *a)
{
    struct cmd c = {0, row};
    return write(ch->to, &c, sizeof c) == (ssize_t)sizeof c &&
                   read(ch->from, a, sizeof *a) == (ssize_t)sizeof *a && a->seconds > 0
               ? 0
               : -1;
}

static void stop(struct child *ch)
{
    struct cmd c = {1, 0};
    if (write(ch->to, &c, sizeof c) != (ssize_t)sizeof c)
        kill(ch->pid, SIGKILL);
    close(ch->to);
    close(ch->from);
    waitpid(ch->pid, NULL, 0);
}

/* The host's own memcpy of the row's size: into warm pages, or into newly mapped ones. */
static double memcpy_gbps(uint8_t *src, uint8_t *dst, int row)
{
    size_t n = row_size(row);
    uint8_t *to = dst;
    if (row_fresh(row) &&
        (to = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) ==
            MAP_FAILED)
        return 0;
    double t0 = now_seconds();
    memcpy(to, src, n);
    double dt = now_seconds() - t0;
    if (to != dst)
        munmap(to, n);
    return (double)n / dt / 1e9;
}

/* gbps[row][mode][rep]; mode nmodes is the memcpy. */
static double gbps[NROWS][MAX_MODES + 1][MAX_REPS];
static long faults[NROWS][MAX_MODES][MAX_REPS];

static int measure(struct child *ch, int reps)
{
    uint8_t *src = malloc(TOP), *dst = malloc(TOP);
    if (!src || !dst)
        return -1;
    baselines_fill(src, TOP, 0);
    memset(dst, 0, TOP);
    for (int row = 0; row < NROWS; row++)
        for (int rep = 0; rep < reps; rep++)
            for (int k = 0; k <= nmodes; k++) {
                int m = (k + rep) % (nmodes + 1);   /* rotating: no mode always goes first */
                struct ans a;
                if (m == nmodes) {
                    gbps[row][m][rep] = memcpy_gbps(src, dst, row);
                    continue;
                }
                if (ask(&ch[m], row, &a) != 0) {
                    fprintf(stderr, "bench_pageable: mode %s failed\n", modes[m].name);
                    return -1;
                }
                gbps[row][m][rep] = (double)row_size(row) / a.seconds / 1e9;
                faults[row][m][rep] = a.faults;
            }
    free(src);
    free(dst);
    return 0;
}

struct stat5 {
    double med, q1, q3, lo, hi;
};

static struct stat5 stats(double *v, int n)
{
    struct stat5 s;
    s.med = baselines_median(v, n);   /* sorts */
    s.q1 = baselines_quantile(v, n, 0.25);
    s.q3 = baselines_quantile(v, n, 0.75);
    s.lo = v[0];
    s.hi = v[n - 1];
    return s;
}

/* The paired ratios of mode m to direct in a row (v: reps values), sorted. */
static struct stat5 ratio_stats(int row, int m, int reps)
{
    double v[MAX_REPS];
    for (int i = 0; i < reps; i++)
        v[i] = gbps[row][m][i] / gbps[row][0][i];
    return stats(v, reps);
}

static void row_name(int row, char *buf, size_t len)
{
    snprintf(buf, len, "%2zu MiB %s%s", row_size(row) >> 20, row_dir(row) ? "DtoH" : "HtoD",
             row_fresh(row) ? (row_dir(row) ? " new host" : " new dev") : "");
}

static void report(int reps, double load0, double load1, FILE *json)
{
    printf("%d repetitions, load %.1f -> %.1f; GB/s medians; x direct: median of the paired "
           "ratios (quartiles)\n%-22s %8s %8s", reps, load0, load1, "copy", "memcpy", "direct");
    for (int m = 1; m < nmodes; m++)
        printf("  %-20s", modes[m].name);
    printf("\n");
    fprintf(json, "{\"benchmark\": \"pageable\", \"reps\": %d, \"load\": [%.2f, %.2f], "
            "\"rows\": [", reps, load0, load1);
    for (int row = 0; row < NROWS; row++) {
        char name[40];
        row_name(row, name, sizeof name);
        double tmp[MAX_REPS];
        memcpy(tmp, gbps[row][nmodes], sizeof tmp);
        struct stat5 mc = stats(tmp, reps);
        memcpy(tmp, gbps[row][0], sizeof tmp);
        struct stat5 dr = stats(tmp, reps);
        printf("%-22s %8.2f %8.2f", name, mc.med, dr.med);
        fprintf(json, "%s\n  {\"copy\": \"%s\", \"memcpy_gbps\": %.3f, \"direct_gbps\": %.3f, "
                "\"direct_gbps_q1\": %.3f, \"direct_gbps_q3\": %.3f", row ? "," : "", name,
                mc.med, dr.med, dr.q1, dr.q3);
        for (int m = 1; m < nmodes; m++) {
            struct stat5 r = ratio_stats(row, m, reps);
            double f[MAX_REPS];
            for (int i = 0; i < reps; i++)
                f[i] = (double)faults[row][m][i];
            printf("  %4.2f (%4.2f-%4.2f)     ", r.med, r.q1, r.q3);
            fprintf(json, ", \"%s\": {\"x_direct\": %.3f, \"q1\": %.3f, \"q3\": %.3f, "
                    "\"min\": %.3f, \"max\": %.3f, \"faults\": %.0f}", modes[m].name, r.med,
                    r.q1, r.q3, r.lo, r.hi, baselines_median(f, reps));
        }
        printf("\n");
        fprintf(json, "}");
    }
    fprintf(json, "]}\n");
}

/* BENCH_PAGEABLE_MODES: "name:K=V;K=V,name2:..." in place of auto/attach/staged. */
static int parse_modes(const char *spec)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    nmodes = 1;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        if (nmodes == MAX_MODES)
            return -1;
        if (colon)
            *colon = '\0';
        snprintf(modes[nmodes].name, sizeof modes[nmodes].name, "%s", t);
        snprintf(modes[nmodes].env, sizeof modes[nmodes].env, "%s", colon ? colon + 1 : "");
        nmodes++;
    }
    return nmodes > 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    const char *spec = getenv("BENCH_PAGEABLE_MODES");
    if (reps < 3 || reps > MAX_REPS || (spec && *spec && parse_modes(spec) != 0)) {
        fprintf(stderr, "usage: bench_pageable [repetitions 3..%d]; BENCH_PAGEABLE_MODES="
                "name:K=V;K=V,... (at most %d)\n", MAX_REPS, MAX_MODES - 1);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *softgpu = TFUSE_BUILD_DIR "/lib/libtfuse-softgpu.so";
    const char *stub = TFUSE_BUILD_DIR "/lib/tfuse/libcuda.so.1";
    struct node_proc node;
    if (node_start(&node, NULL) != 0) {
        fprintf(stderr, "bench_pageable: the node did not start\n");
        return 1;
    }
    struct child ch[MAX_MODES];
    int up = 0, e = 0;
    for (; up < nmodes && !e; up++)
        e = spawn(&ch[up], &modes[up], up ? stub : softgpu, up ? node.unix_addr : NULL);
    double load0 = baselines_loadavg();
    e = e || measure(ch, reps);
    double load1 = baselines_loadavg();
    for (int m = 0; m < up; m++)
        stop(&ch[m]);
    node_stop(&node);
    if (e) {
        fprintf(stderr, "bench_pageable: a mode failed\n");
        return 1;
    }
    const char *dir = getenv("TFUSE_BENCH_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/pageable.json", dir ? dir : TFUSE_BUILD_DIR "/bench");
    mkdir(dir ? dir : TFUSE_BUILD_DIR "/bench", 0755);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_pageable: cannot write %s\n", path);
        return 1;
    }
    report(reps, load0, load1, f);
    fclose(f);
    printf("wrote %s\n", path);
    return 0;
}
