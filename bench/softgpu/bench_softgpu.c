/*
 * bench_softgpu: throughput of softgpu's two execution engines, the PTX interpreter and the JIT
 * (SOFTGPU_EXEC=interp|jit, docs/softgpu.md "JIT engine"), in thread-instructions per second, on
 * a compute-bound kernel (an FMA loop) and a memory-bound one (a streaming saxpy), with 1..N
 * host threads (SOFTGPU_THREADS; one child process per engine and thread count, since softgpu
 * reads both at start). The native baseline is the machine's real limit: the same kernels in C
 * with the loop over a block's threads innermost, compiled -O3 for the host's vector unit
 * (native.c), on one host thread. The table gives each engine's rate per host thread, its
 * speed-up over one host thread, and how many times slower than native it is; then the JIT's
 * first-launch cost (translation and compilation of a module's kernel) and the cost of a cache
 * hit (the same PTX loaded again), each as the launch time of a one-thread grid beside the
 * interpreter's; and the JIT's caches side by side: a cold compile, a disk-cache hit (a new
 * process linking the object another one stored, in a cache folder of this run's) and a memory
 * hit. The rates are the JIT's optimised code (SOFTGPU_JIT_TIERS=0 for them); the first-launch
 * and cold-compile times are the default's, the quick tier's.
 * Writes $TFUSE_BENCH_DIR/softgpu.json (default build/bench/softgpu.json).
 *
 * The kernels are hand-written PTX so that the instruction count of every thread is known
 * exactly (counts below, next to the code): rates are counted, not estimated.
 *
 * May call: the CUDA driver API (softgpu), libc, POSIX, native.c.
 */
#include <cuda.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "native.h"

/* fma_loop: 12 instructions before the loop, 11 per iteration (8 fma + add + setp + bra),
 * 6 after it (3 adds, cvt, mad, st) and ret = 19 + 11 * iters per thread. */
#define FMA_PRO 12
#define FMA_PER_ITER 11
#define FMA_EPI 7
/* saxpy_stream: 13 before the loop (incl. the guard), 10 per iteration, ret = 14 + 10 * iters
 * for every thread when n is a multiple of the thread count. */
#define SAXPY_PRO 13
#define SAXPY_PER_ITER 10
#define SAXPY_EPI 1
#define SAXPY_MAX_ITERS 512 /* 32 MiB per array */

static const char bench_ptx[] =
    ".version 7.0\n.target sm_80\n.address_size 64\n"
    ".visible .entry fma_loop(.param .u64 out, .param .u32 iters)\n{\n"
    " .reg .f32 %f<12>; .reg .u32 %r<8>; .reg .u64 %rd<4>; .reg .pred %p;\n"
    " ld.param.u64 %rd1, [out];\n ld.param.u32 %r1, [iters];\n"
    " mov.u32 %r2, %tid.x;\n mov.u32 %r3, %ctaid.x;\n mov.u32 %r4, %ntid.x;\n"
    " mad.lo.u32 %r2, %r3, %r4, %r2;\n cvt.rn.f32.u32 %f1, %r2;\n"
    " mul.f32 %f1, %f1, 0f33800000;\n"          /* x = id * 2^-24: in [0, 1) */
    " mov.f32 %f2, 0f3F800000;\n mov.f32 %f3, 0f40000000;\n"
    " mov.f32 %f4, 0f40400000;\n mov.u32 %r5, 0;\n" /* 12 */
    "LOOP:\n"
    " fma.rn.f32 %f2, %f2, 0f3F7FF972, %f1;\n fma.rn.f32 %f3, %f3, 0f3F7FF972, %f1;\n"
    " fma.rn.f32 %f4, %f4, 0f3F7FF972, %f1;\n fma.rn.f32 %f2, %f2, 0f3F7FF972, %f1;\n"
    " fma.rn.f32 %f3, %f3, 0f3F7FF972, %f1;\n fma.rn.f32 %f4, %f4, 0f3F7FF972, %f1;\n"
    " fma.rn.f32 %f2, %f2, 0f3F7FF972, %f1;\n fma.rn.f32 %f3, %f3, 0f3F7FF972, %f1;\n"
    " add.u32 %r5, %r5, 1;\n setp.lt.u32 %p, %r5, %r1;\n @%p bra LOOP;\n" /* 11 */
    " add.f32 %f2, %f2, %f3;\n add.f32 %f2, %f2, %f4;\n add.f32 %f2, %f2, %f1;\n"
    " cvt.u64.u32 %rd2, %r2;\n mad.lo.u64 %rd3, %rd2, 4, %rd1;\n"
    " st.global.f32 [%rd3], %f2;\n ret;\n}\n" /* 7 */
    ".visible .entry saxpy_stream(.param .u64 x, .param .u64 y, .param .f32 a, .param .u32 n)\n{\n"
    " .reg .f32 %f<4>; .reg .u32 %r<8>; .reg .u64 %rd<8>; .reg .pred %p;\n"
    " ld.param.u64 %rd1, [x];\n ld.param.u64 %rd2, [y];\n ld.param.f32 %f3, [a];\n"
    " ld.param.u32 %r1, [n];\n mov.u32 %r2, %tid.x;\n mov.u32 %r3, %ctaid.x;\n"
    " mov.u32 %r4, %ntid.x;\n mad.lo.u32 %r2, %r3, %r4, %r2;\n mov.u32 %r5, %nctaid.x;\n"
    " mul.lo.u32 %r6, %r4, %r5;\n setp.ge.u32 %p, %r2, %r1;\n @%p bra DONE;\n"
    " mov.u32 %r7, 0;\n" /* 13 */
    "SLOOP:\n"
    " mul.wide.u32 %rd3, %r2, 4;\n add.s64 %rd4, %rd1, %rd3;\n add.s64 %rd5, %rd2, %rd3;\n"
    " ld.global.f32 %f1, [%rd4];\n ld.global.f32 %f2, [%rd5];\n"
    " fma.rn.f32 %f2, %f1, %f3, %f2;\n st.global.f32 [%rd5], %f2;\n"
    " add.u32 %r2, %r2, %r6;\n setp.lt.u32 %p, %r2, %r1;\n @%p bra SLOOP;\n" /* 10 */
    "DONE:\n ret;\n}\n";

enum { BLOCKS = 64, THREADS = 256, NTHREADS = BLOCKS * THREADS, REPEATS = 3 };

struct result {
    int ok;
    double seconds;           /* best of REPEATS */
    double thread_instructions;
    char err[160];
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define TRY(call)                                                                            \
    do {                                                                                     \
        CUresult rc_ = (call);                                                               \
        if (rc_ != CUDA_SUCCESS) {                                                           \
            const char *name_ = "?";                                                         \
            cuGetErrorName(rc_, &name_);                                                     \
            snprintf(r->err, sizeof r->err, "%s -> %s", #call, name_);                     \
            return;                                                                          \
        }                                                                                    \
    } while (0)

static void time_launch(CUfunction f, void **params, struct result *r)
{
    r->seconds = 1e30;
    for (int i = 0; i < REPEATS; i++) {
        double t0 = now();
        TRY(cuLaunchKernel(f, BLOCKS, 1, 1, THREADS, 1, 1, 0, NULL, params, NULL));
        TRY(cuCtxSynchronize());
        double t = now() - t0;
        if (t < r->seconds)
            r->seconds = t;
    }
    r->ok = 1;
}

/* Sizes the work so one launch takes about target seconds (measured on a small launch). */
static unsigned scale_iters(CUfunction f, void **params, unsigned *iters, unsigned max_iters,
                            int rounds, struct result *r)
{
    double target = 0.25;
    *iters = 16;
    /* a small launch's time is mostly overhead (and a busy machine's noise), so the first
     * estimate can be far off: a second round sizes again on a launch of useful size, where
     * the kernel's result does not depend on earlier launches */
    for (int round = 0; round < rounds; round++) {
        time_launch(f, params, r);
        if (!r->ok)
            return 0;
        double per_iter = r->seconds / *iters;
        double want = per_iter > 0 ? target / per_iter : max_iters;
        *iters = want > max_iters ? max_iters : want < 16 ? 16 : (unsigned)want;
    }
    r->ok = 0;
    return *iters;
}

/* What fma_loop stores for thread id: the benchmark checks that it measured real work. */
static float fma_loop_ref(unsigned id, unsigned iters)
{
    uint32_t bits = 0x3F7FF972u;
    float c, x = (float)id * 0x1p-24f, a = 1, b = 2, d = 3;
    memcpy(&c, &bits, sizeof c);
    for (unsigned i = 0; i < iters; i++) {
        a = fmaf(a, c, x), b = fmaf(b, c, x), d = fmaf(d, c, x);
        a = fmaf(a, c, x), b = fmaf(b, c, x), d = fmaf(d, c, x);
        a = fmaf(a, c, x), b = fmaf(b, c, x);
    }
    return a + b + d + x;
}

static void bench_fma(CUmodule mod, struct result *r)
{
    CUfunction f;
    CUdeviceptr out;
    unsigned iters = 16;
    TRY(cuModuleGetFunction(&f, mod, "fma_loop"));
    TRY(cuMemAlloc(&out, NTHREADS * sizeof(float)));
    void *params[] = {&out, &iters};
    if (!scale_iters(f, params, &iters, 1u << 16, 2, r))
        return;
    time_launch(f, params, r);
    r->thread_instructions = (double)NTHREADS * (FMA_PRO + FMA_EPI + (double)FMA_PER_ITER * iters);
    float got[NTHREADS];
    TRY(cuMemcpyDtoH(got, out, sizeof got));
    cuMemFree(out);
    static const unsigned probe[] = {0, 1, 31, 4097, NTHREADS - 1};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++)
        if (got[probe[i]] != fma_loop_ref(probe[i], iters)) {
            snprintf(r->err, sizeof r->err, "fma_loop thread %u computed %.9g, expected %.9g",
                     probe[i], got[probe[i]], fma_loop_ref(probe[i], iters));
            r->ok = 0;
        }
}

static void bench_saxpy(CUmodule mod, struct result *r)
{
    CUfunction f;
    CUdeviceptr x, y;
    unsigned iters = 16, n;
    float a = 0.5f;
    TRY(cuModuleGetFunction(&f, mod, "saxpy_stream"));
    n = NTHREADS * iters;
    TRY(cuMemAlloc(&x, (size_t)NTHREADS * SAXPY_MAX_ITERS * sizeof(float)));
    TRY(cuMemAlloc(&y, (size_t)NTHREADS * SAXPY_MAX_ITERS * sizeof(float)));
    TRY(cuMemsetD32(x, 0x3f800000, (size_t)NTHREADS * SAXPY_MAX_ITERS));
    TRY(cuMemsetD32(y, 0, (size_t)NTHREADS * SAXPY_MAX_ITERS));
    void *params[] = {&x, &y, &a, &n};
    if (!scale_iters(f, params, &iters, SAXPY_MAX_ITERS, 1, r)) /* 64 MiB streamed at most */
        return;
    n = NTHREADS * iters;
    time_launch(f, params, r);
    r->thread_instructions = (double)NTHREADS * (SAXPY_PRO + SAXPY_EPI + (double)SAXPY_PER_ITER * iters);
    /* x = 1, y = 0: y[i] is 0.5 per launch that covered i (REPEATS sizing launches covered the
     * first NTHREADS * 16 elements, REPEATS timed ones covered n). */
    float probe[3];
    size_t at[3] = {0, (size_t)NTHREADS * 16 - 1, (size_t)n - 1};
    float want[3] = {REPEATS, REPEATS, 0.5f * REPEATS};
    if (n == NTHREADS * 16)
        want[2] = REPEATS;
    for (int i = 0; i < 3; i++) {
        TRY(cuMemcpyDtoH(&probe[i], y + at[i] * sizeof(float), sizeof(float)));
        if (probe[i] != want[i]) {
            snprintf(r->err, sizeof r->err, "saxpy_stream y[%zu] = %g, expected %g", at[i],
                     probe[i], want[i]);
            r->ok = 0;
        }
    }
    cuMemFree(x);
    cuMemFree(y);
}

/* The first launch of a one-thread grid of a module loaded from text (the JIT translates and
 * compiles the kernel there) and of the same text loaded again (a cache hit), in ms. */
struct startup {
    double start_ms; /* the first module of the process (the JIT also starts LLVM) */
    double first_ms; /* a second new module */
    double again_ms; /* that module's text once more */
};

static double one_launch_ms(const char *text)
{
    CUmodule mod;
    CUfunction f;
    CUdeviceptr out;
    unsigned iters = 1;
    double t0 = now();
    if (cuModuleLoadData(&mod, text) != CUDA_SUCCESS ||
        cuModuleGetFunction(&f, mod, "fma_loop") != CUDA_SUCCESS ||
        cuMemAlloc(&out, sizeof(float)) != CUDA_SUCCESS)
        return -1;
    void *params[] = {&out, &iters};
    CUresult rc = cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL);
    if (rc == CUDA_SUCCESS)
        rc = cuCtxSynchronize();
    double ms = (now() - t0) * 1e3;
    cuMemFree(out);
    cuModuleUnload(mod);
    return rc == CUDA_SUCCESS ? ms : -1;
}

static void startup_times(struct startup *st)
{
    /* a comment unique to this run: the text, hence the JIT's cache key, is new */
    static char text[sizeof bench_ptx + 64];
    snprintf(text, sizeof text, "// run %ld.%ld\n%s", (long)getpid(), (long)(now() * 1e6),
             bench_ptx);
    st->start_ms = one_launch_ms(text);
    /* the best of a few (a busy machine deschedules for milliseconds): new texts, then reloads */
    st->first_ms = st->again_ms = 1e30;
    for (int i = 0; i < REPEATS; i++) {
        text[3] = (char)('A' + i); /* "// Aun", "// Bun"...: other texts */
        double ms = one_launch_ms(text);
        st->first_ms = ms < st->first_ms ? ms : st->first_ms;
    }
    for (int i = 0; i < 5; i++) {
        double ms = one_launch_ms(text);
        st->again_ms = ms < st->again_ms ? ms : st->again_ms;
    }
}

/* Child process: SOFTGPU_THREADS and SOFTGPU_EXEC are set; runs both kernels (and, with one
 * thread, the start-up measurement), writes the results to fd. */
static void child(int fd, int threads)
{
    struct result res[2];
    struct startup st = {-1, -1, -1};
    memset(res, 0, sizeof res);
    struct result *r = &res[0];
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    /* the rates are the optimised code's: compiled straight away, not by the quick tier first
     * (SOFTGPU_JIT_TIERS, read at each compile); the start-up times after them are the
     * default's, the quick tier's first launch */
    setenv("SOFTGPU_JIT_TIERS", "0", 1);
    if (cuInit(0) != CUDA_SUCCESS || cuDeviceGet(&dev, 0) != CUDA_SUCCESS ||
        cuCtxCreate(&ctx, NULL, 0, dev) != CUDA_SUCCESS) {
        snprintf(r->err, sizeof r->err, "cannot initialise softgpu");
    } else if (cuModuleLoadData(&mod, bench_ptx) != CUDA_SUCCESS) {
        snprintf(r->err, sizeof r->err, "softgpu rejected the benchmark PTX");
    } else {
        bench_fma(mod, &res[0]);
        bench_saxpy(mod, &res[1]);
        unsetenv("SOFTGPU_JIT_TIERS");
        if (threads == 1)
            startup_times(&st);
    }
    if (write(fd, res, sizeof res) != (ssize_t)sizeof res || write(fd, &st, sizeof st) != sizeof st)
        _exit(3);
    _exit(0);
}

static int run_child(const char *engine, int threads, struct result res[2], struct startup *st)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", threads);
        setenv("SOFTGPU_THREADS", buf, 1);
        setenv("SOFTGPU_EXEC", engine, 1);
        close(p[0]);
        child(p[1], threads);
    }
    close(p[1]);
    ssize_t got = read(p[0], res, 2 * sizeof *res);
    ssize_t got2 = read(p[0], st, sizeof *st);
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)(2 * sizeof *res) || got2 != (ssize_t)sizeof *st || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        memset(res, 0, 2 * sizeof *res);
        snprintf(res[0].err, sizeof res[0].err, "benchmark child failed (status 0x%x)", status);
        res[1] = res[0];
    }
    return 0;
}

/* ---- the JIT's caches: a cold compile against a disk-cache hit ---------------------------- */

/* A fresh process on the JIT with a cache folder of its own, whose LLVM has started (another
 * text loaded and launched first): module load + first launch of text, in ms, to fd. The first
 * such process compiles text, the next ones link it from the disk cache. */
static void disk_child(int fd, const char *text, const char *cache)
{
    static char warm[sizeof bench_ptx + 16];
    snprintf(warm, sizeof warm, "// warm\n%s", bench_ptx);
    setenv("SOFTGPU_EXEC", "jit", 1);
    setenv("SOFTGPU_THREADS", "1", 1);
    setenv("SOFTGPU_JIT_CACHE", cache, 1);
    CUdevice dev;
    CUcontext ctx;
    double ms = -1;
    if (cuInit(0) == CUDA_SUCCESS && cuDeviceGet(&dev, 0) == CUDA_SUCCESS &&
        cuCtxCreate(&ctx, NULL, 0, dev) == CUDA_SUCCESS && one_launch_ms(warm) >= 0)
        ms = one_launch_ms(text);
    _exit(write(fd, &ms, sizeof ms) == (ssize_t)sizeof ms ? 0 : 3);
}

static double disk_run(const char *text, const char *cache)
{
    int p[2];
    double ms = -1;
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        disk_child(p[1], text, cache);
    }
    close(p[1]);
    if (pid < 0 || read(p[0], &ms, sizeof ms) != (ssize_t)sizeof ms)
        ms = -1;
    close(p[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return ms;
}

/* The best of three: cold compiles (new texts, each in a new process) and disk-cache hits (the
 * last text, in new processes). */
static void disk_times(double *cold, double *disk)
{
    char dir[] = "/tmp/bench_softgpu.XXXXXX", cache[64], cmd[128];
    static char text[sizeof bench_ptx + 64];
    *cold = *disk = 1e30;
    if (!mkdtemp(dir))
        return;
    snprintf(cache, sizeof cache, "%s/jit", dir);
    for (int i = 0; i < 3; i++) {
        snprintf(text, sizeof text, "// cold %d.%ld.%d\n%s", (int)getpid(), (long)(now() * 1e3),
                 i, bench_ptx);
        double ms = disk_run(text, cache);
        *cold = ms >= 0 && ms < *cold ? ms : *cold;
    }
    for (int i = 0; i < 3; i++) {
        double ms = disk_run(text, cache);
        *disk = ms >= 0 && ms < *disk ? ms : *disk;
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_softgpu: could not remove %s\n", dir);
}

/* ---- the native baselines (native.c), one host thread ------------------------------------ */

static double native_fma_rate(void)
{
    unsigned iters = 4096;
    static float out[NTHREADS];
    double best = 1e30;
    for (int rep = 0; rep < REPEATS; rep++) {
        double t0 = now();
        for (unsigned b = 0; b < BLOCKS / 4; b++) /* a quarter of the grid: same work per thread */
            native_fma_block(out, b * THREADS, THREADS, iters);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    for (unsigned id = 0; id < THREADS; id += 97)
        if (out[id] != fma_loop_ref(id, iters)) {
            fprintf(stderr, "bench_softgpu: native fma thread %u differs from the reference\n", id);
            return 0;
        }
    return (double)(NTHREADS / 4) * (FMA_PRO + FMA_EPI + (double)FMA_PER_ITER * iters) / best;
}

static double native_saxpy_rate(void)
{
    /* the engines' largest launch's footprint (SAXPY_MAX_ITERS per thread), so that neither
     * side is measured in a cache the other overflows */
    size_t n = (size_t)NTHREADS * SAXPY_MAX_ITERS;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = 1, y[i] = 0;
    double best = 1e30;
    for (int rep = 0; rep < REPEATS; rep++) {
        double t0 = now();
        native_saxpy(y, x, 0.5f, n);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    int ok = y[n / 2] == 0.5f * REPEATS;
    free(x);
    free(y);
    double per_thread = SAXPY_PRO + SAXPY_EPI + (double)SAXPY_PER_ITER * SAXPY_MAX_ITERS;
    return ok ? (double)NTHREADS * per_thread / best : 0;
}

/* ---- report ------------------------------------------------------------------------------- */

enum { NENGINES = 2, MAXRUNS = 8 };
static const char *engines[NENGINES] = {"interp", "jit"};
static const char *kernel_names[2] = {"fma_loop (compute)", "saxpy_stream (memory)"};
static const char *kernel_ids[2] = {"fma_loop", "saxpy_stream"};

static double rate_of(const struct result *r)
{
    return r->ok ? r->thread_instructions / r->seconds : 0;
}

static void write_json(int nruns, const int *threads, struct result (*res)[MAXRUNS][2],
                       const double *native, const struct startup *st, double cold,
                       double disk)
{
    const char *dir = getenv("TFUSE_BENCH_DIR");
    char path[4096];
    if (!dir)
        dir = "build/bench";
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/softgpu.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_softgpu: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "{\n  \"bench\": \"softgpu\",\n  \"grid\": [%d, %d],\n  \"startup\": [\n",
            BLOCKS, THREADS);
    for (int e = 0; e < NENGINES; e++)
        fprintf(f, "    {\"engine\": \"%s\", \"process_first_launch_ms\": %.3f, "
                   "\"first_launch_ms\": %.3f, \"cache_hit_launch_ms\": %.3f}%s\n",
                engines[e], st[e].start_ms, st[e].first_ms, st[e].again_ms,
                e == NENGINES - 1 ? "" : ",");
    fprintf(f, "  ],\n  \"jit_cache\": {\"cold_compile_ms\": %.3f, \"disk_hit_ms\": %.3f, "
               "\"memory_hit_ms\": %.3f},\n", cold, disk, st[1].again_ms);
    fprintf(f, "  ],\n  \"results\": [\n");
    for (int e = 0; e < NENGINES; e++)
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < nruns; i++) {
                struct result *r = &res[e][i][k];
                double rate = rate_of(r), base = rate_of(&res[e][0][k]);
                fprintf(f,
                        "    {\"engine\": \"%s\", \"kernel\": \"%s\", \"host_threads\": %d, "
                        "\"ok\": %s, \"thread_instructions\": %.0f, \"seconds\": %.6f, "
                        "\"thread_instructions_per_s\": %.0f, \"per_host_thread\": %.0f, "
                        "\"speedup\": %.3f, \"native_per_s\": %.0f, \"slowdown_vs_native\": %.2f, "
                        "\"vs_interpreter\": %.2f}%s\n",
                        engines[e], kernel_ids[k], threads[i], r->ok ? "true" : "false",
                        r->thread_instructions, r->ok ? r->seconds : 0, rate, rate / threads[i],
                        base > 0 ? rate / base : 0, native[k],
                        rate > 0 ? native[k] / (rate / threads[i]) : 0,
                        rate_of(&res[0][i][k]) > 0 ? rate / rate_of(&res[0][i][k]) : 0,
                        e == NENGINES - 1 && k == 1 && i == nruns - 1 ? "" : ",");
            }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    printf("\nwrote %s\n", path);
}

static int print_table(int nruns, const int *threads, struct result (*res)[MAXRUNS][2],
                       const double *native)
{
    int failed = 0;
    printf("%-22s %-6s %7s %9s %12s %14s %9s %11s %9s %8s\n", "kernel", "engine", "threads",
           "launch s", "M instr/s", "M/s per thread", "speed-up", "native M/s", "slowdown",
           "vs interp");
    for (int k = 0; k < 2; k++)
        for (int e = 0; e < NENGINES; e++)
            for (int i = 0; i < nruns; i++) {
                struct result *r = &res[e][i][k];
                if (!r->ok) {
                    printf("%-22s %-6s %7d FAILED: %s\n", kernel_names[k], engines[e], threads[i],
                           r->err);
                    failed = 1;
                    continue;
                }
                double rate = rate_of(r), base = rate_of(&res[e][0][k]);
                double interp = rate_of(&res[0][i][k]);
                printf("%-22s %-6s %7d %9.3f %12.1f %14.1f %8.2fx %11.1f %8.1fx %8.1fx\n",
                       kernel_names[k], engines[e], threads[i], r->seconds, rate / 1e6,
                       rate / threads[i] / 1e6, base > 0 ? rate / base : 0, native[k] / 1e6,
                       native[k] / (rate / threads[i]), interp > 0 ? rate / interp : 0);
            }
    return failed;
}

int main(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads[MAXRUNS], nruns = 0, failed = 0;
    for (int t = 1; t <= (cpus > 1 ? cpus : 1) && nruns < MAXRUNS - 1; t *= 2)
        threads[nruns++] = t;
    if (threads[nruns - 1] != cpus && cpus > 1 && nruns < MAXRUNS)
        threads[nruns++] = (int)cpus;
    static struct result res[NENGINES][MAXRUNS][2];
    struct startup st[NENGINES];
    double native[2] = {native_fma_rate(), native_saxpy_rate()};
    for (int e = 0; e < NENGINES; e++)
        for (int i = 0; i < nruns; i++) {
            struct startup s1;
            run_child(engines[e], threads[i], res[e][i], &s1);
            if (i == 0)
                st[e] = s1;
        }

    printf("softgpu engines: %d blocks x %d threads; thread-instructions counted from the PTX; "
           "best of %d launches\n", BLOCKS, THREADS, REPEATS);
    printf("native = the kernel in C, block's threads innermost, -O3 for this CPU, one host "
           "thread\n\n");
    failed = print_table(nruns, threads, res, native);
    printf("\nload + first launch of a 1-thread grid, ms: the process's first module / a new "
           "module / the same text again (JIT cache hit):\n");
    for (int e = 0; e < NENGINES; e++)
        printf("  %-6s %9.2f / %9.2f / %.2f\n", engines[e], st[e].start_ms, st[e].first_ms,
               st[e].again_ms);
    printf("  JIT costs beyond the interpreter's: starting LLVM and compiling %.1f ms, compiling "
           "a module %.1f ms (aim < 100), a cache hit %.2f ms (aim < 1)\n",
           st[1].start_ms - st[0].start_ms, st[1].first_ms - st[0].first_ms,
           st[1].again_ms - st[0].again_ms);
    double cold, disk;
    disk_times(&cold, &disk);
    printf("  the JIT's caches, load + first launch in a process whose LLVM has started: a cold "
           "compile %.1f ms, a disk-cache hit (another process) %.2f ms, a memory hit %.2f ms\n",
           cold, disk, st[1].again_ms);
    for (int k = 0; k < 2; k++)
        if (res[0][0][k].ok && res[1][0][k].ok)
            printf("%s, 1 thread: JIT %.1fx the interpreter, %.1fx slower than native\n",
                   kernel_ids[k], rate_of(&res[1][0][k]) / rate_of(&res[0][0][k]),
                   native[k] / rate_of(&res[1][0][k]));
    write_json(nruns, threads, res, native, st, cold, disk);
    return failed;
}
