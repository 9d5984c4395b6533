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
 * and to pageable and page-locked memory, and plain socket ping-pong baselines (unix, TCP).
 * Round trips are the median of 20 batches of 1,000 (the mean is in the JSON too), copies the
 * median of 7 timed 64 MiB copies after an untimed one.
 * Prints a table of ratios and writes $TFUSE_BENCH_DIR/forwarding.json (default build/bench).
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "harness.h"

#define SYNC_BATCHES 20
#define SYNC_BATCH 1000
#define LAUNCHES 5000
#define COPY_BYTES (64u << 20)
#define COPY_REPS 7
#define PING_ITERS 20000

static const char empty_ptx[] =
    ".version 7.0\n.target sm_50\n.address_size 64\n"
    ".visible .entry empty()\n{\n  ret;\n}\n";

struct results {
    int ok;
    double sync_us;          /* cuCtxSynchronize round trip: median over batches */
    double sync_mean_us;     /* and the mean over all of them */
    double launches_per_s;
    double h2d_pageable, d2h_pageable, h2d_pinned, d2h_pinned;   /* GB/s */
    char error[200];
};

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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n values (sorted in place). On a 2-core VM the benchmark, the node and the
 * worker share two cores: one descheduling of a spinning process adds milliseconds to a run,
 * so each figure is the median of several timed runs (the same statistic on every path). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double copy_gbps(struct tf_backend *be, CUdeviceptr d, void *h, int to_device)
{
    /* One untimed copy first: fresh pages cost a fault each, far more than the copy itself
     * on these VMs, and every path pays that only once. */
    if ((to_device ? be->cuMemcpyHtoD_v2(d, h, COPY_BYTES) : be->cuMemcpyDtoH_v2(h, d, COPY_BYTES)) !=
        CUDA_SUCCESS)
        return -1;
    double gbps[COPY_REPS];
    for (int i = 0; i < COPY_REPS; i++) {
        double t0 = now_seconds();
        CUresult r = to_device ? be->cuMemcpyHtoD_v2(d, h, COPY_BYTES)
                               : be->cuMemcpyDtoH_v2(h, d, COPY_BYTES);
        if (r != CUDA_SUCCESS)
            return -1;
        gbps[i] = (double)COPY_BYTES / (now_seconds() - t0) / 1e9;
    }
    return median(gbps, COPY_REPS);
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
    res->sync_us = median(batch_us, SYNC_BATCHES);

    double t0 = now_seconds();
    for (int i = 0; i < LAUNCHES; i++)
        TRY(be->cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), "cuLaunchKernel");
    TRY(be->cuCtxSynchronize(), "cuCtxSynchronize");
    res->launches_per_s = LAUNCHES / (now_seconds() - t0);

    CUdeviceptr d;
    TRY(be->cuMemAlloc_v2(&d, COPY_BYTES), "cuMemAlloc");
    void *pageable = malloc(COPY_BYTES);
    memset(pageable, 1, COPY_BYTES);
    res->h2d_pageable = copy_gbps(be, d, pageable, 1);
    res->d2h_pageable = copy_gbps(be, d, pageable, 0);
    free(pageable);
    host_alloc_fn halloc = (host_alloc_fn)proc(be, "cuMemAllocHost", 3020);
    host_free_fn hfree = (host_free_fn)proc(be, "cuMemFreeHost", 2000);
    void *pinned = NULL;
    if (!halloc || !hfree || halloc(&pinned, COPY_BYTES) != CUDA_SUCCESS) {
        snprintf(res->error, sizeof res->error, "cuMemAllocHost failed");
        return;
    }
    memset(pinned, 2, COPY_BYTES);
    res->h2d_pinned = copy_gbps(be, d, pinned, 1);
    res->d2h_pinned = copy_gbps(be, d, pinned, 0);
    hfree(pinned);
    be->cuMemFree_v2(d);
    res->ok = res->h2d_pageable > 0 && res->d2h_pageable > 0 && res->h2d_pinned > 0 &&
              res->d2h_pinned > 0;
    if (!res->ok)
        snprintf(res->error, sizeof res->error, "a copy failed");
}

/* Runs measure() in a child with `lib` as its driver (connect: TFUSE_CONNECT or NULL). */
static int run_mode(const char *lib, const char *connect, struct results *out)
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
        if (tf_backend_load(&be, lib, err, sizeof err) != 0)
            snprintf(res.error, sizeof res.error, "%.190s", err);
        else
            measure(&be, &res);
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

/* ---- plain socket ping-pong baselines ---- */

static double ping_pong(int a, int b)
{
    pid_t pid = fork();
    char msg[64] = {0};
    if (pid == 0) {
        close(a);
        for (int i = 0; i < PING_ITERS + 100; i++)
            if (read(b, msg, sizeof msg) != (ssize_t)sizeof msg ||
                write(b, msg, sizeof msg) != (ssize_t)sizeof msg)
                _exit(1);
        _exit(0);
    }
    close(b);
    double t0 = 0;
    for (int i = 0; i < PING_ITERS + 100; i++) {
        if (i == 100)
            t0 = now_seconds();
        if (write(a, msg, sizeof msg) != (ssize_t)sizeof msg ||
            read(a, msg, sizeof msg) != (ssize_t)sizeof msg)
            break;
    }
    double us = (now_seconds() - t0) / PING_ITERS * 1e6;
    close(a);
    waitpid(pid, NULL, 0);
    return us;
}

static double unix_ping_pong(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    return ping_pong(sv[0], sv[1]);
}

static double tcp_ping_pong(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    int s = accept(l, NULL, NULL);
    close(l);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return ping_pong(c, s);
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

static void print_row(const char *what, const char *unit, double direct, double shm, double tcp,
                      double tls, int higher_better)
{
    double rs = higher_better ? shm / direct : direct / shm;
    double rt = higher_better ? tcp / direct : direct / tcp;
    double rl = higher_better ? tls / tcp : tcp / tls;   /* TLS against plain TCP */
    printf("%-34s %11.2f %11.2f %11.2f %11.2f %7.2f %7.2f %7.2f  %s\n", what, direct, shm, tcp,
           tls, rs, rt, rl, unit);
}

static void json_mode(FILE *f, const char *name, const struct results *r, int last)
{
    fprintf(f,
            "    \"%s\": {\"ok\": %s, \"sync_round_trip_us\": %.3f, \"sync_round_trip_mean_us\": %.3f,"
            " \"empty_launches_per_s\": %.1f,"
            " \"h2d_pageable_gbps\": %.3f, \"d2h_pageable_gbps\": %.3f, \"h2d_pinned_gbps\": %.3f,"
            " \"d2h_pinned_gbps\": %.3f}%s\n",
            name, r->ok ? "true" : "false", r->sync_us, r->sync_mean_us, r->launches_per_s,
            r->h2d_pageable,
            r->d2h_pageable, r->h2d_pinned, r->d2h_pinned, last ? "" : ",");
}

static void write_json(const struct results *d, const struct results *s, const struct results *t,
                       const struct results *l, double unix_pp, double tcp_pp)
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
    double load[3] = {0, 0, 0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (!la || fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
        load[0] = -1;
    if (la)
        fclose(la);
    fprintf(f, "{\n  \"benchmark\": \"forwarding\",\n");
    /* Spin-then-sleep waiting is only as fast as the cores are free: record how busy they were. */
    fprintf(f, "  \"machine\": {\"cpus\": %ld, \"load_average_1min\": %.2f},\n",
            sysconf(_SC_NPROCESSORS_ONLN), load[0]);
    fprintf(f, "  \"modes\": {\n");
    json_mode(f, "direct", d, 0);
    json_mode(f, "shm", s, 0);
    json_mode(f, "tcp", t, 0);
    json_mode(f, "tls", l, 1);
    fprintf(f, "  },\n  \"baselines\": {\"unix_ping_pong_us\": %.3f, \"tcp_ping_pong_us\": %.3f},\n",
            unix_pp, tcp_pp);
    fprintf(f,
            "  \"ratios\": {\"shm_sync_us\": %.3f, \"launch_rate_shm_vs_direct\": %.3f,"
            " \"launch_rate_tcp_vs_direct\": %.3f, \"h2d_pinned_shm_vs_direct\": %.3f,"
            " \"d2h_pinned_shm_vs_direct\": %.3f, \"tcp_rtt_vs_tcp_ping_pong\": %.3f,"
            " \"tls_rtt_vs_tcp\": %.3f, \"tls_launch_rate_vs_tcp\": %.3f,"
            " \"tls_h2d_pageable_vs_tcp\": %.3f, \"tls_d2h_pageable_vs_tcp\": %.3f},\n",
            s->sync_us, s->launches_per_s / d->launches_per_s,
            t->launches_per_s / d->launches_per_s, s->h2d_pinned / d->h2d_pinned,
            s->d2h_pinned / d->d2h_pinned, t->sync_us / tcp_pp,
            l->ok ? l->sync_us / t->sync_us : 0, l->ok ? l->launches_per_s / t->launches_per_s : 0,
            l->ok ? l->h2d_pageable / t->h2d_pageable : 0,
            l->ok ? l->d2h_pageable / t->d2h_pageable : 0);
    fprintf(f,
            "  \"aims\": {\"shm_round_trip_under_2us\": %s, \"launch_rate_80pct\": %s,"
            " \"pinned_copy_80pct\": %s, \"tcp_within_1_5x_ping_pong\": %s,"
            " \"tls_round_trip_within_1_25x_tcp\": %s, \"tls_launch_rate_80pct_of_tcp\": %s}\n}\n",
            s->sync_us < 2.0 ? "true" : "false",
            s->launches_per_s >= 0.8 * d->launches_per_s ? "true" : "false",
            s->h2d_pinned >= 0.8 * d->h2d_pinned && s->d2h_pinned >= 0.8 * d->d2h_pinned ? "true"
                                                                                      : "false",
            t->sync_us <= 1.5 * tcp_pp ? "true" : "false",
            l->ok && l->sync_us <= 1.25 * t->sync_us ? "true" : "false",
            l->ok && l->launches_per_s >= 0.8 * t->launches_per_s ? "true" : "false");
    fclose(f);
    printf("\nwrote %s\n", path);
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
    struct results d, s, t, l = {.error = "no TLS node (openssl missing?)"};
    int e = run_mode(softgpu, NULL, &d) | run_mode(stub, node.unix_addr, &s) |
            run_mode(stub, node.tcp_addr, &t);
    node_stop(&node);
    /* The TLS row: a node of its own (its tcp listener speaks only TLS). */
    char certs[] = "/tmp/tfuse-bench-tls-XXXXXX", cert[300], key[300], ca[300];
    if (mkdtemp(certs) && make_certs(certs) == 0) {
        snprintf(cert, sizeof cert, "%s/srv.pem", certs);
        snprintf(key, sizeof key, "%s/srv.key", certs);
        snprintf(ca, sizeof ca, "%s/ca.pem", certs);
        setenv("TFUSE_CA_FILE", ca, 1);
        if (node_start_tls(&node, NULL, cert, key) == 0) {
            run_mode(stub, node.tcp_addr, &l);
            node_stop(&node);
        }
    }
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf '%s'", certs);
    if (system(rm) != 0)
        fprintf(stderr, "bench_forwarding: could not remove %s\n", certs);
    if (!l.ok)
        fprintf(stderr, "bench_forwarding: no TLS row: %s\n", l.error);
    double upp = unix_ping_pong(), tpp = tcp_ping_pong();
    if (e || !d.ok || !s.ok || !t.ok) {
        fprintf(stderr, "bench_forwarding: a mode failed: direct '%s' shm '%s' tcp '%s'\n",
                d.error, s.error, t.error);
        return 1;
    }
    printf("%-34s %11s %11s %11s %11s %7s %7s %7s\n", "measure", "direct", "shm", "tcp", "tls",
           "shm/dir", "tcp/dir", "tls/tcp");
    print_row("sync round trip, median (lower better)", "us", d.sync_us, s.sync_us, t.sync_us,
              l.sync_us, 0);
    print_row("sync round trip, mean", "us", d.sync_mean_us, s.sync_mean_us,
              t.sync_mean_us, l.sync_mean_us, 0);
    print_row("empty kernel launches", "launch/s", d.launches_per_s, s.launches_per_s,
              t.launches_per_s, l.launches_per_s, 1);
    print_row("64 MiB HtoD pageable", "GB/s", d.h2d_pageable, s.h2d_pageable, t.h2d_pageable,
              l.h2d_pageable, 1);
    print_row("64 MiB DtoH pageable", "GB/s", d.d2h_pageable, s.d2h_pageable, t.d2h_pageable,
              l.d2h_pageable, 1);
    print_row("64 MiB HtoD page-locked", "GB/s", d.h2d_pinned, s.h2d_pinned, t.h2d_pinned,
              l.h2d_pinned, 1);
    print_row("64 MiB DtoH page-locked", "GB/s", d.d2h_pinned, s.d2h_pinned, t.d2h_pinned,
              l.d2h_pinned, 1);
    FILE *la = fopen("/proc/loadavg", "r");
    char load[64] = "?";
    if (la && fgets(load, sizeof load, la))
        load[strcspn(load, " ")] = '\0';
    if (la)
        fclose(la);
    printf("\n(%ld CPUs, load average %s: spinning waiters need free cores)\n",
           sysconf(_SC_NPROCESSORS_ONLN), load);
    printf("baselines: unix socket ping-pong %.2f us, TCP loopback ping-pong %.2f us\n", upp, tpp);
    printf("shm round trip %.2f us (aim < 2 us); TCP round trip / TCP ping-pong = %.2f (aim <= 1.5)\n",
           s.sync_us, t.sync_us / tpp);
    if (l.ok)
        printf("TLS against plain TCP: round trip x%.2f (aim <= 1.25), launch rate x%.2f "
               "(aim >= 0.8), 64 MiB pageable copies x%.2f / x%.2f\n", l.sync_us / t.sync_us,
               l.launches_per_s / t.launches_per_s, l.h2d_pageable / t.h2d_pageable,
               l.d2h_pageable / t.d2h_pageable);
    write_json(&d, &s, &t, &l, upp, tpp);
    return 0;
}
