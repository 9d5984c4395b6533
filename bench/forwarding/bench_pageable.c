/*
 * bench_pageable: pageable copies over shared memory against the direct path, several runs
 * (issue 22). Each run measures, one child process per mode and in this order so that the
 * host's load falls on all of them alike: "direct" (softgpu in-process), then our libcuda.so.1
 * through a `tfuse node` over unix + shm: "auto" (as shipped: copies of 4 MiB and more take
 * whichever path has been faster, src/stub/attach.c), "attach" (TFUSE_ATTACH=always: the
 * worker copies the program's memory by cross-memory attach) and "staged" (TFUSE_ATTACH=off:
 * the bytes go through the shared-memory ring in pieces). Sizes 1, 16 and 64 MiB, HtoD and DtoH from and to
 * malloc'd memory holding random bytes; each figure is the median of REPS timed copies after an
 * untimed one (first touches fault pages, which every path pays once). The program's minor
 * faults during the timed copies are reported too (getrusage), the worker's are not seen here.
 * Usage: bench_pageable [runs]  (default 5). Prints each run and the spread of the ratios, and
 * writes $TFUSE_BENCH_DIR/pageable.json (default build/bench).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "baselines.h"
#include "harness.h"

#define NSIZES 3
#define REPS 7
#define MAX_RUNS 20
static const size_t sizes[NSIZES] = {1u << 20, 16u << 20, 64u << 20};

enum { M_DIRECT, M_AUTO, M_ATTACH, M_STAGED, M_COUNT };
static const char *const mode_names[M_COUNT] = {"direct", "auto", "attach", "staged"};
static const char *const attach_env[M_COUNT] = {NULL, NULL, "always", "off"};

struct result {
    int ok;
    double gbps[NSIZES][2];     /* [size][0 HtoD, 1 DtoH] */
    long faults[NSIZES][2];     /* the program's minor faults over the timed copies */
};

static void fill(void *p, size_t n)
{
    uint64_t x = 0x9e3779b97f4a7c15ull, *w = p;
    for (size_t i = 0; i < n / 8; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w[i] = x;
    }
}

static long minflt(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static CUresult copy(struct tf_backend *be, CUdeviceptr d, void *h, size_t n, int dir)
{
    return dir == 0 ? be->cuMemcpyHtoD_v2(d, h, n) : be->cuMemcpyDtoH_v2(h, d, n);
}

static void measure(struct tf_backend *be, struct result *res)
{
    CUcontext ctx;
    CUdeviceptr d;
    size_t top = sizes[NSIZES - 1];
    void *h = malloc(top);
    if (!h || be->cuDevicePrimaryCtxRetain(&ctx, 0) || be->cuCtxSetCurrent(ctx) ||
        be->cuMemAlloc_v2(&d, top))
        return;
    fill(h, top);
    for (int s = 0; s < NSIZES; s++)
        for (int dir = 0; dir < 2; dir++) {
            double t[REPS];
            if (copy(be, d, h, sizes[s], dir) != CUDA_SUCCESS)
                return;
            long f0 = minflt();
            for (int i = 0; i < REPS; i++) {
                double t0 = now_seconds();
                if (copy(be, d, h, sizes[s], dir) != CUDA_SUCCESS)
                    return;
                t[i] = (double)sizes[s] / (now_seconds() - t0) / 1e9;
            }
            res->faults[s][dir] = minflt() - f0;
            res->gbps[s][dir] = baselines_median(t, REPS);
        }
    be->cuMemFree_v2(d);
    free(h);
    res->ok = 1;
}

/* One mode in a child process (connect NULL: direct; attach: TFUSE_ATTACH, NULL for none). */
static int run_mode(const char *lib, const char *connect, const char *attach,
                    struct result *out)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        struct result res;
        memset(&res, 0, sizeof res);
        if (connect)
            setenv("TFUSE_CONNECT", connect, 1);
        if (attach)
            setenv("TFUSE_ATTACH", attach, 1);
        struct tf_backend be;
        char err[512];
        if (tf_backend_load(&be, lib, err, sizeof err) == 0)
            measure(&be, &res);
        else
            fprintf(stderr, "bench_pageable: %s\n", err);
        _exit(write(pfd[1], &res, sizeof res) == (ssize_t)sizeof res ? 0 : 1);
    }
    close(pfd[1]);
    memset(out, 0, sizeof *out);
    ssize_t n = read(pfd[0], out, sizeof *out);
    close(pfd[0]);
    waitpid(pid, NULL, 0);
    return n == (ssize_t)sizeof *out && out->ok ? 0 : -1;
}

static double ratio(const struct result *r, int m, int s, int dir)
{
    return r[m].gbps[s][dir] / r[M_DIRECT].gbps[s][dir];
}

static void print_run(int run, const struct result *r, double load)
{
    printf("run %d (load %.1f)\n", run + 1, load);
    for (int s = 0; s < NSIZES; s++) {
        printf("  %2zu MiB  direct %6.2f / %6.2f GB/s", sizes[s] >> 20, r[M_DIRECT].gbps[s][0],
               r[M_DIRECT].gbps[s][1]);
        for (int m = M_AUTO; m < M_COUNT; m++)
            printf("   %s %4.2f / %4.2f x", mode_names[m], ratio(r, m, s, 0), ratio(r, m, s, 1));
        printf("   faults attach %ld/%ld staged %ld/%ld\n", r[M_ATTACH].faults[s][0],
               r[M_ATTACH].faults[s][1], r[M_STAGED].faults[s][0], r[M_STAGED].faults[s][1]);
    }
    fflush(stdout);
}

static void write_json(struct result (*r)[M_COUNT], const double *load, int runs)
{
    const char *dir = getenv("TFUSE_BENCH_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/pageable.json", dir ? dir : TFUSE_BUILD_DIR "/bench");
    mkdir(dir ? dir : TFUSE_BUILD_DIR "/bench", 0755);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "{\"runs\": [");
    for (int i = 0; i < runs; i++) {
        fprintf(f, "%s{\"load\": %.2f", i ? ", " : "", load[i]);
        for (int m = 0; m < M_COUNT; m++)
            for (int s = 0; s < NSIZES; s++)
                fprintf(f, ", \"%s_%zumib_h2d_gbps\": %.3f, \"%s_%zumib_d2h_gbps\": %.3f",
                        mode_names[m], sizes[s] >> 20, r[i][m].gbps[s][0], mode_names[m],
                        sizes[s] >> 20, r[i][m].gbps[s][1]);
        fprintf(f, "}");
    }
    fprintf(f, "]}\n");
    fclose(f);
    printf("wrote %s\n", path);
}

static double loadavg(void)
{
    double l = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = 0;
        fclose(f);
    }
    return l;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "usage: bench_pageable [runs 1..%d]\n", MAX_RUNS);
        return 2;
    }
    const char *softgpu = TFUSE_BUILD_DIR "/lib/libtfuse-softgpu.so";
    const char *stub = TFUSE_BUILD_DIR "/lib/tfuse/libcuda.so.1";
    struct node_proc node;
    if (node_start(&node, NULL) != 0) {
        fprintf(stderr, "bench_pageable: the node did not start\n");
        return 1;
    }
    static struct result r[MAX_RUNS][M_COUNT];
    double load[MAX_RUNS];
    int e = 0;
    for (int i = 0; i < runs && !e; i++) {
        load[i] = loadavg();
        for (int m = 0; m < M_COUNT && !e; m++)
            e = run_mode(m == M_DIRECT ? softgpu : stub, m == M_DIRECT ? NULL : node.unix_addr,
                         attach_env[m], &r[i][m]);
        if (!e)
            print_run(i, r[i], load[i]);
    }
    node_stop(&node);
    if (e) {
        fprintf(stderr, "bench_pageable: a mode failed\n");
        return 1;
    }
    printf("spread over %d runs (x direct, min - max):\n", runs);
    for (int s = 0; s < NSIZES; s++)
        for (int m = M_AUTO; m < M_COUNT; m++) {
            double lo[2] = {1e9, 1e9}, hi[2] = {0, 0};
            for (int i = 0; i < runs; i++)
                for (int dir = 0; dir < 2; dir++) {
                    double x = ratio(r[i], m, s, dir);
                    lo[dir] = x < lo[dir] ? x : lo[dir];
                    hi[dir] = x > hi[dir] ? x : hi[dir];
                }
            printf("  %2zu MiB %-6s HtoD %.2f - %.2f   DtoH %.2f - %.2f\n", sizes[s] >> 20,
                   mode_names[m], lo[0], hi[0], lo[1], hi[1]);
        }
    write_json(r, load, runs);
    return 0;
}
