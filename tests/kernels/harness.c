/*
 * The kernel-corpus harness's driver: command line, per-case contexts, module loading, poisoned
 * allocations, launches, output capture and comparisons (interface in harness.h). The cases
 * live in cases_basic.c, cases_numeric.c, cases_extra.c and cases_special.c.
 *
 *   test_kernels --ptx-dir DIR [--fatbin-dir DIR] [--seed N] [--module M]... [CASE]... [--list]
 *
 * Prints one "PASS <case>" or "FAIL <case>: <reason>" line per case and exits non-zero when any
 * case failed. The seed (printed first; also taken from $KT_SEED) makes a failure repeatable:
 * each case's generator is seeded from it and the case name.
 *
 * May call: the CUDA driver API, libc.
 */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_MODULES 8
#define MAX_HOST_BUFS 256

static const char *ptx_dir = ".";
const char *kt_fatbin_dir = ".";

static struct {
    CUcontext ctx;
    char reason[1024];
    int failed;
    uint64_t rng;
    struct { const char *name; CUmodule mod; } modules[MAX_MODULES];
    int nmodules;
    void *host[MAX_HOST_BUFS];
    int nhost;
} cur;

/* ---- failures ---------------------------------------------------------------------------- */

int kt_fail(const char *fmt, ...)
{
    if (!cur.failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cur.reason, sizeof cur.reason, fmt, ap);
        va_end(ap);
        cur.failed = 1;
    }
    return 1;
}

const char *kt_result_name(CUresult r)
{
    static __thread char buf[32];
    const char *name = NULL;
    if (cuGetErrorName(r, &name) == CUDA_SUCCESS && name)
        return name;
    snprintf(buf, sizeof buf, "CUresult %d", (int)r);
    return buf;
}

/* ---- inputs ------------------------------------------------------------------------------ */

uint32_t kt_rand(void)
{
    /* splitmix64: good enough statistics for test data, trivially reproducible */
    uint64_t z = (cur.rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

float kt_randf(float lo, float hi) { return lo + (hi - lo) * (float)(kt_rand() >> 8) / 16777216.0f; }

double kt_randd(double lo, double hi) { return lo + (hi - lo) * (double)kt_rand() / 4294967296.0; }

int kt_randi(int lo, int hi) { return lo + (int)(kt_rand() % (uint32_t)(hi - lo + 1)); }

void *kt_host(size_t bytes)
{
    if (cur.nhost == MAX_HOST_BUFS) {
        kt_fail("harness: too many host buffers");
        return NULL;
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        kt_fail("harness: out of host memory (%zu bytes)", bytes);
        return NULL;
    }
    cur.host[cur.nhost++] = p;
    return p;
}

/* kt_rand_floats and friends: one body for each element type and its draw function. */
#define DEFINE_RAND_ARRAY(fn, type, bound, draw)                                                 \
    type *fn(int n, bound lo, bound hi)                                                          \
    {                                                                                            \
        type *v = kt_host(sizeof(type) * (size_t)n);                                             \
        for (int i = 0; v && i < n; i++)                                                         \
            v[i] = draw(lo, hi);                                                                 \
        return v;                                                                                \
    }

DEFINE_RAND_ARRAY(kt_rand_floats, float, float, kt_randf)
DEFINE_RAND_ARRAY(kt_rand_doubles, double, double, kt_randd)
DEFINE_RAND_ARRAY(kt_rand_ints, int32_t, int, kt_randi)

/* ---- device ------------------------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            *len = fread(buf, 1, (size_t)n, f);
            buf[*len] = 0;
        }
    }
    fclose(f);
    return buf;
}

CUmodule kt_module(const char *module)
{
    for (int i = 0; i < cur.nmodules; i++)
        if (strcmp(cur.modules[i].name, module) == 0)
            return cur.modules[i].mod;
    char path[4096];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s.ptx", ptx_dir, module);
    char *ptx = read_file(path, &len);
    if (!ptx) {
        kt_fail("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    CUmodule mod = NULL;
    char log[4096] = "";
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *vals[] = {log, (void *)(uintptr_t)sizeof log};
    CUresult rc = cuModuleLoadDataEx(&mod, ptx, 2, opts, vals);
    free(ptx);
    if (rc != CUDA_SUCCESS) {
        kt_fail("cuModuleLoadDataEx(%s.ptx) -> %s%s%s", module, kt_result_name(rc),
                log[0] ? ": " : "", log);
        return NULL;
    }
    if (cur.nmodules < MAX_MODULES) {
        cur.modules[cur.nmodules].name = module;
        cur.modules[cur.nmodules++].mod = mod;
    }
    return mod;
}

CUfunction kt_func(const char *module, const char *kernel)
{
    CUmodule mod = kt_module(module);
    if (!mod)
        return NULL;
    CUfunction f = NULL;
    CUresult rc = cuModuleGetFunction(&f, mod, kernel);
    if (rc != CUDA_SUCCESS) {
        kt_fail("cuModuleGetFunction(%s) -> %s", kernel, kt_result_name(rc));
        return NULL;
    }
    return f;
}

CUdeviceptr kt_alloc(size_t bytes)
{
    CUdeviceptr p = 0;
    CUresult rc = cuMemAlloc(&p, bytes);
    if (rc == CUDA_SUCCESS)
        rc = cuMemsetD8(p, 0xff, bytes);
    if (rc != CUDA_SUCCESS) {
        kt_fail("allocating %zu poisoned bytes -> %s", bytes, kt_result_name(rc));
        return 0;
    }
    return p;
}

CUdeviceptr kt_upload(const void *host, size_t bytes)
{
    CUdeviceptr p = kt_alloc(bytes);
    if (!p)
        return 0;
    CUresult rc = cuMemcpyHtoD(p, host, bytes);
    if (rc != CUDA_SUCCESS) {
        kt_fail("cuMemcpyHtoD(%zu bytes) -> %s", bytes, kt_result_name(rc));
        return 0;
    }
    return p;
}

/* KT_DIGEST=path: every download's FNV-1a digest, one line per download ("case n digest
 * bytes"), so that two runs (softgpu's interpreter and its JIT, tests/kernels/diff_engines.sh)
 * can be compared bit for bit on the same inputs (KT_SEED). */
static const char *cur_case;
static int cur_download;

static void record_digest(const void *host, size_t bytes)
{
    static FILE *out;
    static int opened;
    if (!opened) {
        const char *path = getenv("KT_DIGEST");
        opened = 1;
        if (path && *path && !(out = fopen(path, "w")))
            fprintf(stderr, "KT_DIGEST: cannot write %s\n", path);
    }
    if (!out)
        return;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < bytes; i++)
        h = (h ^ ((const uint8_t *)host)[i]) * 0x100000001b3ull;
    fprintf(out, "%s %d %016llx %zu\n", cur_case ? cur_case : "?", cur_download++,
            (unsigned long long)h, bytes);
    fflush(out);
}

int kt_download(void *host, CUdeviceptr dev, size_t bytes)
{
    KT_CHECK(cuMemcpyDtoH(host, dev, bytes));
    record_digest(host, bytes);
    return 0;
}

int kt_download_sched(void *host, CUdeviceptr dev, size_t bytes)
{
    KT_CHECK(cuMemcpyDtoH(host, dev, bytes));
    static const uint8_t none; /* a digest of nothing: only that the download took place */
    record_digest(&none, 0);
    return 0;
}

void kt_digest(const void *host, size_t bytes) { record_digest(host, bytes); }

CUresult kt_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned shmem, void **params)
{
    CUresult rc = cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shmem, NULL, params, NULL);
    if (rc != CUDA_SUCCESS)
        return rc;
    return cuCtxSynchronize();
}

int kt_run(CUfunction f, unsigned gx, unsigned bx, unsigned shmem, void **params)
{
    if (!f)
        return 1;
    KT_CHECK(kt_launch(f, gx, 1, 1, bx, 1, 1, shmem, params));
    return 0;
}

char *kt_capture(CUresult (*fn)(void *), void *arg, CUresult *rc)
{
    FILE *tmp = tmpfile();
    if (!tmp) {
        kt_fail("tmpfile: %s", strerror(errno));
        return NULL;
    }
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(tmp), 1);
    dup2(fileno(tmp), 2);
    *rc = fn(arg);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    fseek(tmp, 0, SEEK_END);
    long n = ftell(tmp);
    if (n < 0)
        n = 0;
    char *text = kt_host((size_t)n + 1);
    if (text) {
        rewind(tmp);
        size_t got = fread(text, 1, (size_t)n, tmp);
        text[got] = 0;
    }
    fclose(tmp);
    return text;
}

static int create_context(void)
{
    CUdevice dev;
    KT_CHECK(cuDeviceGet(&dev, 0));
    KT_CHECK(cuCtxCreate(&cur.ctx, NULL, 0, dev));
    cur.nmodules = 0;
    return 0;
}

int kt_new_context(void)
{
    if (cur.ctx)
        cuCtxDestroy(cur.ctx);
    cur.ctx = NULL;
    return create_context();
}

/* ---- comparisons ------------------------------------------------------------------------- */

static int close_enough(double got, double want, double rtol, double atol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

int kt_expect_f32(const char *what, const float *got, const float *want, size_t n, double rtol,
                  double atol)
{
    for (size_t i = 0; i < n; i++)
        if (!close_enough(got[i], want[i], rtol, atol))
            return kt_fail("%s[%zu] = %.9g, expected %.9g (of %zu)", what, i, got[i], want[i], n);
    return 0;
}

int kt_expect_f64(const char *what, const double *got, const double *want, size_t n, double rtol,
                  double atol)
{
    for (size_t i = 0; i < n; i++)
        if (!close_enough(got[i], want[i], rtol, atol))
            return kt_fail("%s[%zu] = %.17g, expected %.17g (of %zu)", what, i, got[i], want[i],
                           n);
    return 0;
}

int kt_expect_i32(const char *what, const int32_t *got, const int32_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            return kt_fail("%s[%zu] = %d (0x%x), expected %d (0x%x) (of %zu)", what, i, got[i],
                           (unsigned)got[i], want[i], (unsigned)want[i], n);
    return 0;
}

int kt_expect_u32(const char *what, const uint32_t *got, const uint32_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            return kt_fail("%s[%zu] = 0x%08x, expected 0x%08x (of %zu)", what, i, got[i], want[i],
                           n);
    return 0;
}

int kt_expect_i64(const char *what, const int64_t *got, const int64_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            return kt_fail("%s[%zu] = %lld, expected %lld (of %zu)", what, i, (long long)got[i],
                           (long long)want[i], n);
    return 0;
}

/* ---- main -------------------------------------------------------------------------------- */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

static int run_case(const struct kt_case *c, uint64_t seed)
{
    memset(&cur, 0, sizeof cur);
    cur.rng = seed ^ hash_name(c->name);
    cur_case = c->name;
    cur_download = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = create_context();
    if (rc == 0)
        rc = c->run();
    if (cur.ctx)
        cuCtxDestroy(cur.ctx);
    for (int i = 0; i < cur.nhost; i++)
        free(cur.host[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (rc || cur.failed) {
        printf("FAIL %s [%s] (%.2fs): %s\n", c->name, c->module, secs,
               cur.failed ? cur.reason : "failed without a reason");
        return 1;
    }
    printf("PASS %s [%s] (%.2fs)\n", c->name, c->module, secs);
    return 0;
}

static int selected(const struct kt_case *c, char **names, int nnames, char **mods, int nmods)
{
    if (!nnames && !nmods)
        return 1;
    for (int i = 0; i < nnames; i++)
        if (strcmp(names[i], c->name) == 0)
            return 1;
    for (int i = 0; i < nmods; i++)
        if (strcmp(mods[i], c->module) == 0)
            return 1;
    return 0;
}

static int collect(const struct kt_case **all)
{
    int n = 0;
    for (int i = 0; i < kt_ncases_basic; i++)
        all[n++] = &kt_cases_basic[i];
    for (int i = 0; i < kt_ncases_numeric; i++)
        all[n++] = &kt_cases_numeric[i];
    for (int i = 0; i < kt_ncases_extra; i++)
        all[n++] = &kt_cases_extra[i];
    for (int i = 0; i < kt_ncases_special; i++)
        all[n++] = &kt_cases_special[i];
    for (int i = 0; i < kt_ncases_isa; i++)
        all[n++] = &kt_cases_isa[i];
    for (int i = 0; i < kt_ncases_texture; i++)
        all[n++] = &kt_cases_texture[i];
    return n;
}

int main(int argc, char **argv)
{
    static char *names[KT_MAX_CASES * 6], *mods[KT_MAX_CASES * 6];
    static const struct kt_case *all[KT_MAX_CASES * 6];
    int nnames = 0, nmods = 0, list = 0;
    const char *env_seed = getenv("KT_SEED");
    uint64_t seed = env_seed ? strtoull(env_seed, NULL, 0)
                             : (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ptx-dir") == 0 && i + 1 < argc)
            ptx_dir = argv[++i];
        else if (strcmp(argv[i], "--fatbin-dir") == 0 && i + 1 < argc)
            kt_fatbin_dir = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--module") == 0 && i + 1 < argc && nmods < KT_MAX_CASES * 6)
            mods[nmods++] = argv[++i];
        else if (strcmp(argv[i], "--list") == 0)
            list = 1;
        else if (argv[i][0] != '-' && nnames < KT_MAX_CASES * 6)
            names[nnames++] = argv[i];
        else {
            fprintf(stderr, "usage: %s --ptx-dir DIR [--fatbin-dir DIR] [--seed N] "
                            "[--module M]... [CASE]... [--list]\n", argv[0]);
            return 2;
        }
    }
    int ncases = collect(all), ran = 0, failed = 0;
    if (list) {
        for (int i = 0; i < ncases; i++)
            printf("%s %s\n", all[i]->module, all[i]->name);
        return 0;
    }
    printf("SEED %llu (rerun with KT_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    CUresult rc = cuInit(0);
    if (rc != CUDA_SUCCESS) {
        printf("FAIL cuInit: %s\n", kt_result_name(rc));
        return 1;
    }
    for (int i = 0; i < ncases; i++) {
        if (!selected(all[i], names, nnames, mods, nmods))
            continue;
        ran++;
        failed += run_case(all[i], seed);
    }
    if (ran == 0) {
        printf("FAIL: no case matches the selection\n");
        return 1;
    }
    printf("%d of %d cases passed\n", ran - failed, ran);
    return failed ? 1 : 0;
}
