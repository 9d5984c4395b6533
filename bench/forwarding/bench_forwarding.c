/*
 * bench_forwarding: the forwarding path against the direct path, side by side in one run.
 *
 * The same measurements run in four child processes, each driving a driver-API table loaded by
 * src/backend's loader: "direct" (softgpu in-process), "shm" (our libcuda.so.1 talking to a
 * `tfuse node` over a unix socket + shared-memory rings), "tcp" (the same over TCP loopback) and
 * "tls" (TCP loopback inside TLS: a second node with --tls-cert/--tls-key, a throwaway CA made
 * with openssl and given to the stub as TFUSE_CA_FILE; the row is skipped without openssl).
 * Measured: synchronous round trip (cuCtxSynchronize on an idle context, back to back), launch
 * rate of an empty kernel (pipelined, one synchronize at the end), 64 MiB copy bandwidth from
 * and to pageable and page-locked memory holding random bytes (what compression cannot shrink),
 * page-locked copies of compressible bytes, and the line's limits in the same run (baselines.c:
 * plain TCP and unix-socket streams of 64 MiB, socket ping-pongs). "tcp+lz4" is the tcp row
 * with compression asked for (TFUSE_COMPRESS=lz4: loopback sessions are not compressed unless
 * asked). Round trips are the median of 20 batches of 1,000 (the mean is in the JSON too),
 * copies the median of 7 timed 64 MiB copies after an untimed one.
 * Prints a table of ratios and writes $TFUSE_BENCH_DIR/forwarding.json (default build/bench).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "baselines.h"
#include "harness.h"

#define SYNC_BATCHES 20
#define SYNC_BATCH 1000
#define LAUNCHES 5000
#define COPY_BYTES (64u << 20)
#define COPY_REPS 7

static const char empty_ptx[] =
    ".version 7.0\n.target sm_50\n.address_size 64\n"
    ".visible .entry empty()\n{\n  ret;\n}\n";

struct results {
    int ok;
    double sync_us;          /* cuCtxSynchronize round trip: median over batches */
    double sync_mean_us;     /* and the mean over all of them */
    double launches_per_s;
    double h2d_pageable, d2h_pageable, h2d_pinned, d2h_pinned;   /* GB/s, random bytes */
    double h2d_pinned_z, d2h_pinned_z;                           /* GB/s, compressible bytes */
    /* Each copy against the line (a plain TCP stream for tcp/tls, a unix one otherwise) timed
     * just before it: the median of the per-copy ratios, and the line's median, in the order
     * of the six copies above. */
    double vs_line[6], line_gbps[6];
    char error[200];
};

/* The line of the mode running in this process (opened before the driver: run_mode). */
static struct line mode_line;

typedef CUresult (*host_alloc_fn)(void **, size_t);
typedef CUresult (*host_free_fn)(void *);

static void *proc(struct tf_backend *be, const char *name, int version)
{
    CUresult (*getproc)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *) =
        (CUresult(*)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *))
            dlsym(be->dl, "cuGetProcAddress_v2");
    void *fn = NULL;
    if (!getproc || getproc(name, &fn, version, 0, NULL) != CUDA_SUCCESS)
        return NULL;
    return fn;
}

/* The median GB/s of COPY_REPS copies; the i-th copy's paired ratio and line into res. */
static double copy_gbps(struct tf_backend *be, CUdeviceptr d, void *h, int to_device,
                        struct results *res, int i_copy)
{
    /* One untimed copy first: fresh pages cost a fault each, far more than the copy itself
     * on these VMs, and every path pays that only once. */
    if ((to_device ? be->cuMemcpyHtoD_v2(d, h, COPY_BYTES)
                   : be->cuMemcpyDtoH_v2(h, d, COPY_BYTES)) != CUDA_SUCCESS)
        return -1;
    double gbps[COPY_REPS], line[COPY_REPS], ratio[COPY_REPS];
    for (int i = 0; i < COPY_REPS; i++) {
        line[i] = line_once(&mode_line, to_device);
        double t0 = now_seconds();
        CUresult r = to_device ? be->cuMemcpyHtoD_v2(d, h, COPY_BYTES)
                               : be->cuMemcpyDtoH_v2(h, d, COPY_BYTES);
        if (r != CUDA_SUCCESS)
            return -1;
        gbps[i] = (double)COPY_BYTES / (now_seconds() - t0) / 1e9;
        ratio[i] = line[i] > 0 ? gbps[i] / line[i] : 0;
    }
    res->vs_line[i_copy] = baselines_median(ratio, COPY_REPS);
    res->line_gbps[i_copy] = baselines_median(line, COPY_REPS);
    return baselines_median(gbps, COPY_REPS);
}

#define TRY(call, what)                                                                        \
    do {                                                                                       \
        CUresult r_ = (call);                                                                  \
        if (r_ != CUDA_SUCCESS) {                                                              \
            snprintf(res->error, sizeof res->error, "%s failed: %d", what, (int)r_);           \
            return;                                                                            \
        }                                                                                      \
    } while (0)

static void measure(struct tf_backend *be, struct results *res)
{
    CUcontext ctx;
    CUmodule mod;
    CUfunction fn;
    TRY(be->cuDevicePrimaryCtxRetain(&ctx, 0), "cuDevicePrimaryCtxRetain");
    TRY(be->cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
    TRY(be->cuModuleLoadData(&mod, empty_ptx), "cuModuleLoadData");
    TRY(be->cuModuleGetFunction(&fn, mod, "empty"), "cuModuleGetFunction");
    TRY(be->cuCtxSynchronize(), "cuCtxSynchronize");
    for (int i = 0; i < 1000; i++)   /* warm up the spin path */
        be->cuCtxSynchronize();
    double batch_us[SYNC_BATCHES], total = 0;
    for (int b = 0; b < SYNC_BATCHES; b++) {
        double t0 = now_seconds();
        for (int i = 0; i < SYNC_BATCH; i++)
            TRY(be->cuCtxSynchronize(), "cuCtxSynchronize");
        batch_us[b] = (now_seconds() - t0) / SYNC_BATCH * 1e6;
        total += batch_us[b];
    }
    res->sync_mean_us = total / SYNC_BATCHES;
    res->sync_us = baselines_median(batch_us, SYNC_BATCHES);

    double t0 = now_seconds();
    for (int i = 0; i < LAUNCHES; i++)
        TRY(be->cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), "cuLaunchKernel");
    TRY(be->cuCtxSynchronize(), "cuCtxSynchronize");
    res->launches_per_s = LAUNCHES / (now_seconds() - t0);

    CUdeviceptr d;
    TRY(be->cuMemAlloc_v2(&d, COPY_BYTES), "cuMemAlloc");
    void *pageable = malloc(COPY_BYTES);
    baselines_fill(pageable, COPY_BYTES, 0);
    res->h2d_pageable = copy_gbps(be, d, pageable, 1, res, 0);
    res->d2h_pageable = copy_gbps(be, d, pageable, 0, res, 1);
    free(pageable);
    host_alloc_fn halloc = (host_alloc_fn)proc(be, "cuMemAllocHost", 3020);
    host_free_fn hfree = (host_free_fn)proc(be, "cuMemFreeHost", 2000);
    void *pinned = NULL;
    if (!halloc || !hfree || halloc(&pinned, COPY_BYTES) != CUDA_SUCCESS) {
        snprintf(res->error, sizeof res->error, "cuMemAllocHost failed");
        return;
    }
    baselines_fill(pinned, COPY_BYTES, 0);
    res->h2d_pinned = copy_gbps(be, d, pinned, 1, res, 2);
    res->d2h_pinned = copy_gbps(be, d, pinned, 0, res, 3);
    baselines_fill(pinned, COPY_BYTES, 1);
    res->h2d_pinned_z = copy_gbps(be, d, pinned, 1, res, 4);
    res->d2h_pinned_z = copy_gbps(be, d, pinned, 0, res, 5);
    hfree(pinned);
    be->cuMemFree_v2(d);
    res->ok = res->h2d_pageable > 0 && res->d2h_pageable > 0 && res->h2d_pinned > 0 &&
              res->d2h_pinned > 0;
    if (!res->ok)
        snprintf(res->error, sizeof res->error, "a copy failed");
}

/* Runs measure() in a child with `lib` as its driver (connect: TFUSE_CONNECT or NULL), with
 * a TCP line (tcp_line) or a unix one beside it. */
static int run_mode(const char *lib, const char *connect, int tcp_line, struct results *out)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        struct results res;
        memset(&res, 0, sizeof res);
        if (connect)
            setenv("TFUSE_CONNECT", connect, 1);
        struct tf_backend be;
        char err[512];
        if (line_open(&mode_line, tcp_line, COPY_BYTES) != 0)
            snprintf(res.error, sizeof res.error, "cannot open the line beside the copies");
        else if (tf_backend_load(&be, lib, err, sizeof err) != 0)
            snprintf(res.error, sizeof res.error, "%.190s", err);
        else
            measure(&be, &res);
        line_close(&mode_line);
        if (write(pfd[1], &res, sizeof res) != (ssize_t)sizeof res)
            _exit(1);
        _exit(0);
    }
    close(pfd[1]);
    memset(out, 0, sizeof *out);
    ssize_t n = read(pfd[0], out, sizeof *out);
    close(pfd[0]);
    waitpid(pid, NULL, 0);
    return n == (ssize_t)sizeof *out ? 0 : -1;
}

/* ---- the TLS node's certificate ---- */

/* A throwaway CA and a certificate for 127.0.0.1 signed by it, in dir (ca.pem, srv.pem,
 * srv.key). 0, or -1 when openssl is missing or fails. */
static int make_certs(const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-days 2 -subj /CN=bench-ca -keyout ca.key -out ca.pem && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench "
             "-keyout srv.key -out srv.csr && printf 'subjectAltName=IP:127.0.0.1\\n' >srv.ext "
             "&& openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
             "-extfile srv.ext -out srv.pem && chmod 600 srv.key ca.key", dir);
    char quiet[2100];
    snprintf(quiet, sizeof quiet, "(%s) >/dev/null 2>&1", cmd);
    return system(quiet) == 0 ? 0 : -1;
}

/* ---- report ---- */

enum { M_DIRECT, M_SHM, M_TCP, M_TCPZ, M_TLS, M_COUNT };
static const char *const mode_names[M_COUNT] = {"direct", "shm", "tcp", "tcp+lz4", "tls"};

/* One measure across the modes; a mode that did not run prints "-". */
static void print_row(const char *what, const char *unit, const struct results *r,
                      size_t field)
{
    printf("%-30s", what);
    for (int m = 0; m < M_COUNT; m++) {
        double v = *(const double *)((const char *)&r[m] + field);
        if (r[m].ok)
            printf(" %9.2f", v);
        else
            printf(" %9s", "-");
    }
    printf("  %s\n", unit);
}

#define F(name) offsetof(struct results, name)

static void print_table(const struct results *r, const struct baselines *bl)
{
    printf("%-30s", "measure");
    for (int m = 0; m < M_COUNT; m++)
        printf(" %9s", mode_names[m]);
    printf("\n");
    print_row("sync round trip, median", "us", r, F(sync_us));
    print_row("sync round trip, mean", "us", r, F(sync_mean_us));
    print_row("empty kernel launches", "launch/s", r, F(launches_per_s));
    print_row("64 MiB HtoD pageable", "GB/s", r, F(h2d_pageable));
    print_row("64 MiB DtoH pageable", "GB/s", r, F(d2h_pageable));
    print_row("64 MiB HtoD page-locked", "GB/s", r, F(h2d_pinned));
    print_row("64 MiB DtoH page-locked", "GB/s", r, F(d2h_pinned));
    print_row("64 MiB HtoD page-locked, compr.", "GB/s", r, F(h2d_pinned_z));
    print_row("64 MiB DtoH page-locked, compr.", "GB/s", r, F(d2h_pinned_z));
    double us = baselines_unix_stream(bl);
    printf("\nthe line, measured apart: TCP loopback stream %.2f / %.2f GB/s (out / in), unix "
           "socket stream %.2f / %.2f GB/s; ping-pong TCP %.2f us, unix %.2f us\n", bl->tcp_stream_out_gbps,
           bl->tcp_stream_in_gbps, bl->unix_stream_out_gbps, bl->unix_stream_in_gbps,
           bl->tcp_ping_pong_us, bl->unix_ping_pong_us);
    printf("64 MiB copies against the line timed just before each (median of the ratios; "
           "HtoD / DtoH; the line's median GB/s in brackets):\n");
    for (int m = 0; m < M_COUNT; m++)
        if (r[m].ok)
            printf("  %-8s %s page-locked %.2f / %.2f%s, pageable %.2f / %.2f, compressible "
                   "%.2f / %.2f  [%.2f / %.2f]\n", mode_names[m], m <= M_SHM ? "unix" : "TCP ",
                   r[m].vs_line[2], r[m].vs_line[3], m >= M_TCP ? " (aim >= 0.8)" : "",
                   r[m].vs_line[0], r[m].vs_line[1], r[m].vs_line[4], r[m].vs_line[5],
                   r[m].line_gbps[2], r[m].line_gbps[3]);
    const struct results *d = &r[M_DIRECT], *s = &r[M_SHM];
    printf("  shm      page-locked %.2f / %.2f x direct, pageable %.2f / %.2f x direct (aim >= "
           "0.8), pageable %.2f / %.2f x unix stream\n", s->h2d_pinned / d->h2d_pinned,
           s->d2h_pinned / d->d2h_pinned, s->h2d_pageable / d->h2d_pageable,
           s->d2h_pageable / d->d2h_pageable, s->h2d_pageable / us, s->d2h_pageable / us);
    printf("shm round trip %.2f us (aim < 2 us); TCP round trip / TCP ping-pong = %.2f "
           "(aim <= 1.5)\n", s->sync_us, r[M_TCP].sync_us / bl->tcp_ping_pong_us);
    const struct results *t = &r[M_TCP], *l = &r[M_TLS];
    if (l->ok)
        printf("TLS against plain TCP: round trip x%.2f (aim <= 1.25), launch rate x%.2f "
               "(aim >= 0.8), 64 MiB page-locked copies x%.2f / x%.2f\n", l->sync_us / t->sync_us,
               l->launches_per_s / t->launches_per_s, l->h2d_pinned / t->h2d_pinned,
               l->d2h_pinned / t->d2h_pinned);
}

static void json_mode(FILE *f, const char *name, const struct results *r, int last)
{
    fprintf(f,
            "    \"%s\": {\"ok\": %s, \"sync_round_trip_us\": %.3f, \"sync_round_trip_mean_us\": %.3f,"
            " \"empty_launches_per_s\": %.1f,"
            " \"h2d_pageable_gbps\": %.3f, \"d2h_pageable_gbps\": %.3f, \"h2d_pinned_gbps\": %.3f,"
            " \"d2h_pinned_gbps\": %.3f, \"h2d_pinned_compressible_gbps\": %.3f,"
            " \"d2h_pinned_compressible_gbps\": %.3f,\n      \"vs_line\": [%.3f, %.3f, %.3f, %.3f,"
            " %.3f, %.3f], \"line_gbps\": [%.3f, %.3f, %.3f, %.3f, %.3f, %.3f]}%s\n",
            name, r->ok ? "true" : "false", r->sync_us, r->sync_mean_us, r->launches_per_s,
            r->h2d_pageable, r->d2h_pageable, r->h2d_pinned, r->d2h_pinned, r->h2d_pinned_z,
            r->d2h_pinned_z, r->vs_line[0], r->vs_line[1], r->vs_line[2], r->vs_line[3],
            r->vs_line[4], r->vs_line[5], r->line_gbps[0], r->line_gbps[1], r->line_gbps[2],
            r->line_gbps[3], r->line_gbps[4], r->line_gbps[5], last ? "" : ",");
}

static const char *yes(int b) { return b ? "true" : "false"; }

static void json_ratios(FILE *f, const struct results *r, const struct baselines *bl)
{
    const struct results *d = &r[M_DIRECT], *s = &r[M_SHM], *t = &r[M_TCP], *l = &r[M_TLS];
    fprintf(f,
            "  \"ratios\": {\"shm_sync_us\": %.3f, \"launch_rate_shm_vs_direct\": %.3f,"
            " \"launch_rate_tcp_vs_direct\": %.3f, \"h2d_pinned_shm_vs_direct\": %.3f,"
            " \"d2h_pinned_shm_vs_direct\": %.3f, \"h2d_pageable_shm_vs_direct\": %.3f,"
            " \"d2h_pageable_shm_vs_direct\": %.3f, \"tcp_rtt_vs_tcp_ping_pong\": %.3f,"
            " \"h2d_pinned_tcp_vs_line\": %.3f, \"d2h_pinned_tcp_vs_line\": %.3f,"
            " \"h2d_pageable_tcp_vs_line\": %.3f, \"d2h_pageable_tcp_vs_line\": %.3f,"
            " \"tls_rtt_vs_tcp\": %.3f, \"tls_launch_rate_vs_tcp\": %.3f,"
            " \"tls_h2d_pinned_vs_tcp\": %.3f, \"tls_d2h_pinned_vs_tcp\": %.3f},\n",
            s->sync_us, s->launches_per_s / d->launches_per_s,
            t->launches_per_s / d->launches_per_s, s->h2d_pinned / d->h2d_pinned,
            s->d2h_pinned / d->d2h_pinned, s->h2d_pageable / d->h2d_pageable,
            s->d2h_pageable / d->d2h_pageable, t->sync_us / bl->tcp_ping_pong_us,
            t->vs_line[2], t->vs_line[3], t->vs_line[0], t->vs_line[1],
            l->ok ? l->sync_us / t->sync_us : 0, l->ok ? l->launches_per_s / t->launches_per_s : 0,
            l->ok ? l->h2d_pinned / t->h2d_pinned : 0, l->ok ? l->d2h_pinned / t->d2h_pinned : 0);
    fprintf(f,
            "  \"aims\": {\"shm_round_trip_under_2us\": %s, \"launch_rate_80pct\": %s,"
            " \"pinned_copy_80pct\": %s, \"shm_pageable_copy_80pct_of_direct\": %s,"
            " \"tcp_within_1_5x_ping_pong\": %s, \"tcp_pinned_copy_80pct_of_line\": %s,"
            " \"tls_round_trip_within_1_25x_tcp\": %s, \"tls_launch_rate_80pct_of_tcp\": %s}\n}\n",
            yes(s->sync_us < 2.0), yes(s->launches_per_s >= 0.8 * d->launches_per_s),
            yes(s->h2d_pinned >= 0.8 * d->h2d_pinned && s->d2h_pinned >= 0.8 * d->d2h_pinned),
            yes(s->h2d_pageable >= 0.8 * d->h2d_pageable &&
                s->d2h_pageable >= 0.8 * d->d2h_pageable),
            yes(t->sync_us <= 1.5 * bl->tcp_ping_pong_us),
            yes(t->vs_line[2] >= 0.8 && t->vs_line[3] >= 0.8),
            yes(l->ok && l->sync_us <= 1.25 * t->sync_us),
            yes(l->ok && l->launches_per_s >= 0.8 * t->launches_per_s));
}

static void write_json(const struct results *r, const struct baselines *bl)
{
    const char *dir = getenv("TFUSE_BENCH_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/forwarding.json", dir && *dir ? dir : TFUSE_BUILD_DIR "/bench");
    if (!(dir && *dir))
        mkdir(TFUSE_BUILD_DIR "/bench", 0755);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_forwarding: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "{\n  \"benchmark\": \"forwarding\",\n");
    /* Spin-then-sleep waiting is only as fast as the cores are free: record how busy they were. */
    fprintf(f, "  \"machine\": {\"cpus\": %ld, \"load_average_1min\": %.2f},\n",
            sysconf(_SC_NPROCESSORS_ONLN), baselines_loadavg());
    fprintf(f, "  \"modes\": {\n");
    for (int m = 0; m < M_COUNT; m++)
        json_mode(f, mode_names[m], &r[m], m == M_COUNT - 1);
    fprintf(f, "  },\n  \"baselines\": {\"unix_ping_pong_us\": %.3f, \"tcp_ping_pong_us\": %.3f,"
            " \"tcp_stream_out_gbps\": %.3f, \"tcp_stream_in_gbps\": %.3f,"
            " \"unix_stream_out_gbps\": %.3f, \"unix_stream_in_gbps\": %.3f},\n",
            bl->unix_ping_pong_us, bl->tcp_ping_pong_us, bl->tcp_stream_out_gbps,
            bl->tcp_stream_in_gbps, bl->unix_stream_out_gbps, bl->unix_stream_in_gbps);
    json_ratios(f, r, bl);
    fclose(f);
    printf("\nwrote %s\n", path);
}

/* The TLS row: a node of its own (its tcp listener speaks only TLS) with a throwaway CA. */
static void run_tls(const char *stub, struct results *l)
{
    struct node_proc node;
    char certs[] = "/tmp/tfuse-bench-tls-XXXXXX", cert[300], key[300], ca[300];
    if (mkdtemp(certs) && make_certs(certs) == 0) {
        snprintf(cert, sizeof cert, "%s/srv.pem", certs);
        snprintf(key, sizeof key, "%s/srv.key", certs);
        snprintf(ca, sizeof ca, "%s/ca.pem", certs);
        setenv("TFUSE_CA_FILE", ca, 1);
        if (node_start_tls(&node, NULL, cert, key) == 0) {
            run_mode(stub, node.tcp_addr, 1, l);
            node_stop(&node);
        }
    }
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf '%s'", certs);
    if (system(rm) != 0)
        fprintf(stderr, "bench_forwarding: could not remove %s\n", certs);
    if (!l->ok)
        fprintf(stderr, "bench_forwarding: no TLS row: %s\n", l->error);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct node_proc node;
    if (node_start(&node, NULL) != 0) {
        fprintf(stderr, "bench_forwarding: cannot start tfuse node\n");
        return 1;
    }
    const char *softgpu = TFUSE_BUILD_DIR "/lib/libtfuse-softgpu.so";
    const char *stub = TFUSE_BUILD_DIR "/lib/tfuse/libcuda.so.1";
    struct results r[M_COUNT];
    memset(r, 0, sizeof r);
    snprintf(r[M_TLS].error, sizeof r[M_TLS].error, "no TLS node (openssl missing?)");
    int e = run_mode(softgpu, NULL, 0, &r[M_DIRECT]) |
            run_mode(stub, node.unix_addr, 0, &r[M_SHM]) |
            run_mode(stub, node.tcp_addr, 1, &r[M_TCP]);
    setenv("TFUSE_COMPRESS", "lz4", 1);
    run_mode(stub, node.tcp_addr, 1, &r[M_TCPZ]);
    unsetenv("TFUSE_COMPRESS");
    node_stop(&node);
    run_tls(stub, &r[M_TLS]);
    struct baselines bl;
    baselines_measure(&bl, COPY_BYTES, COPY_REPS);
    if (e || !r[M_DIRECT].ok || !r[M_SHM].ok || !r[M_TCP].ok) {
        fprintf(stderr, "bench_forwarding: a mode failed: direct '%s' shm '%s' tcp '%s'\n",
                r[M_DIRECT].error, r[M_SHM].error, r[M_TCP].error);
        return 1;
    }
    print_table(r, &bl);
    printf("\n(%ld CPUs, load average %.2f: spinning waiters need free cores)\n",
           sysconf(_SC_NPROCESSORS_ONLN), baselines_loadavg());
    write_json(r, &bl);
    return 0;
}
