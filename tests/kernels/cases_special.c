/*
 * Corpus cases that check behaviour rather than arithmetic: a cooperative grid sync, device
 * printf (stdout captured and compared after the synchronize), a failing device assert
 * (CUDA_ERROR_ASSERT plus its message), an out-of-bounds store (CUDA_ERROR_ILLEGAL_ADDRESS,
 * sticky, and a fresh context works afterwards), launch-configuration limits and the shared
 * memory opt-in, streams and events, and modules loaded from nvcc fat binaries (zstd and LZ4
 * compressed, through a wrapper and cuLibraryLoadData, SASS only).
 *
 * May call: the harness (harness.h), the CUDA driver API, libc.
 */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- coop.cu ------------------------------------------------------------------------------ */

static int case_coop_grid_sync(void)
{
    enum { GRID = 8, BLOCK = 64, N = GRID * BLOCK };
    int rounds = kt_randi(1, 5);
    int32_t got[N], a[N], next[N];
    CUdeviceptr da = kt_alloc(sizeof a), db = kt_alloc(sizeof a);
    CUfunction f = kt_func("coop", "coop_grid_sync");
    if (!f || !db)
        return 1;
    void *params[] = {&da, &db, &rounds};
    KT_CHECK(cuLaunchCooperativeKernel(f, GRID, 1, 1, BLOCK, 1, 1, 0, NULL, params));
    KT_CHECK(cuCtxSynchronize());
    if (kt_download(got, db, sizeof got))
        return 1;
    for (int i = 0; i < N; i++)
        a[i] = i;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < N; i++)
            next[i] = a[(i + BLOCK) % N] + 1;
        memcpy(a, next, sizeof a);
    }
    return kt_expect_i32("b", got, a, N);
}

/* ---- printf.cu ---------------------------------------------------------------------------- */

struct launch_args {
    CUfunction f;
    unsigned grid, block;
    void **params;
};

static CUresult launch_and_sync(void *p)
{
    struct launch_args *a = p;
    return kt_launch(a->f, a->grid, 1, 1, a->block, 1, 1, 0, a->params);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits text into lines (in place) and sorts them: device threads print in no fixed order. */
static int sorted_lines(char *text, char **lines, int max)
{
    int n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (n < max)
            lines[n++] = l;
        else
            return max + 1;
    qsort(lines, (size_t)n, sizeof *lines, cmp_str);
    return n;
}

static int case_printf_kernel(void)
{
    enum { GRID = 2, BLOCK = 64, LINES = GRID * BLOCK / 16 };
    int tag = kt_randi(0, 1000000);
    float f = (float)kt_randi(-5000, 5000) / 64.0f; /* exact binary fraction: no rounding ties */
    long long big = (long long)kt_rand() << 24 | kt_rand();
    struct launch_args args = {kt_func("printf", "printf_kernel"), GRID, BLOCK,
                               (void *[]){&tag, &f, &big}};
    if (!args.f)
        return 1;
    CUresult rc;
    char *text = kt_capture(launch_and_sync, &args, &rc);
    if (!text)
        return 1;
    if (rc != CUDA_SUCCESS)
        return kt_fail("launch/synchronize -> %s", kt_result_name(rc));
    char *want_text = kt_host(LINES * 128), *got_lines[LINES + 1], *want_lines[LINES];
    size_t used = 0;
    for (int b = 0; b < GRID; b++)
        for (int t = 0; t < BLOCK; t += 16)
            used += (size_t)snprintf(want_text + used, LINES * 128 - used,
                                     "tag=%d block=%d thread=%d f=%.3f big=%lld %s\n", tag, b, t,
                                     (double)(f * (float)t), big, "ok");
    int ngot = sorted_lines(text, got_lines, LINES + 1);
    sorted_lines(want_text, want_lines, LINES);
    if (ngot != LINES)
        return kt_fail("captured %d lines of device printf, expected %d", ngot, LINES);
    for (int i = 0; i < LINES; i++)
        if (strcmp(got_lines[i], want_lines[i]) != 0)
            return kt_fail("printf line '%s', expected '%s'", got_lines[i], want_lines[i]);
    return 0;
}

static int case_printf_formats(void)
{
    int i = kt_randi(-99999, 99999);
    unsigned u = kt_rand();
    float f = kt_randf(-1000, 1000);
    double d = kt_randd(-1e6, 1e6);
    long long ll = (long long)((uint64_t)kt_rand() << 32 | kt_rand());
    unsigned long long ull = (uint64_t)kt_rand() << 32 | kt_rand();
    char c = (char)kt_randi('A', 'Z');
    struct launch_args args = {kt_func("printf", "printf_formats"), 2, 32,
                               (void *[]){&i, &u, &f, &d, &ll, &ull, &c}};
    if (!args.f)
        return 1;
    CUresult rc;
    char *text = kt_capture(launch_and_sync, &args, &rc), want[512];
    if (!text)
        return 1;
    if (rc != CUDA_SUCCESS)
        return kt_fail("launch/synchronize -> %s", kt_result_name(rc));
    snprintf(want, sizeof want,
             "[%5d|%-5d|%05d|%+d|%x|%X|%#o|%c|%s|%-8s|%10.4f|%.2e|%g|%G|%%|%lld|%llu|%#llx|%u]\n",
             i, i, i, i, u, u, u, c, "str", "left", (double)f, d, d, 1e-5, ll, ull, ull, u);
    if (strcmp(text, want) != 0)
        return kt_fail("device printf wrote '%s', expected '%s'", text, want);
    return 0;
}

/* ---- assert.cu ---------------------------------------------------------------------------- */

/* After a kernel failure: the old context is replaced and a small vec_add must work. */
static int fresh_context_works(void)
{
    if (kt_new_context())
        return 1;
    int n = 1000;
    float *a = kt_host(4 * n), *c = kt_host(4 * n), *want = kt_host(4 * n);
    for (int i = 0; i < n; i++)
        a[i] = kt_randf(-1, 1), want[i] = a[i] + a[i];
    CUdeviceptr da = kt_upload(a, 4 * n), dc = kt_alloc(4 * n);
    void *params[] = {&da, &da, &dc, &n};
    if (!dc || kt_run(kt_func("vector", "vec_add"), (n + 255) / 256, 256, 0, params) ||
        kt_download(c, dc, 4 * n))
        return 1;
    return kt_expect_f32("vec_add after the failure", c, want, n, 0, 0);
}

static int case_assert_kernel(void)
{
    int n = kt_randi(100, 5000), bad = kt_randi(0, n - 1);
    int32_t *in = kt_host(4 * n);
    for (int i = 0; i < n; i++)
        in[i] = i == bad ? -1 : kt_randi(0, 1000);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n);
    struct launch_args args = {kt_func("assert", "assert_kernel"), (n + 127) / 128, 128,
                               (void *[]){&din, &dout, &n}};
    if (!args.f || !dout)
        return 1;
    CUresult rc;
    char *text = kt_capture(launch_and_sync, &args, &rc);
    if (!text)
        return 1;
    if (rc != CUDA_ERROR_ASSERT)
        return kt_fail("synchronize after a failing assert -> %s, expected CUDA_ERROR_ASSERT",
                       kt_result_name(rc));
    if (!strstr(text, "in[i] >= 0"))
        return kt_fail("assert message missing the condition; output was '%s'", text);
    return fresh_context_works();
}

/* ---- oob.cu ------------------------------------------------------------------------------- */

static int case_oob_write(void)
{
    int n = kt_randi(100, 5000);
    long long bad_index = (1ll << 40) + kt_randi(0, 1000); /* 4 TiB past the buffer */
    CUdeviceptr dout = kt_alloc(4 * (size_t)n), other;
    void *params[] = {&dout, &n, &bad_index};
    CUfunction f = kt_func("oob", "oob_write");
    if (!f || !dout)
        return 1;
    CUresult rc = kt_launch(f, (n + 127) / 128, 1, 1, 128, 1, 1, 0, params);
    if (rc != CUDA_ERROR_ILLEGAL_ADDRESS)
        return kt_fail("out-of-bounds store -> %s, expected CUDA_ERROR_ILLEGAL_ADDRESS",
                       kt_result_name(rc));
    rc = cuMemAlloc(&other, 256); /* the error is sticky, as on hardware */
    if (rc != CUDA_ERROR_ILLEGAL_ADDRESS)
        return kt_fail("cuMemAlloc after the fault -> %s, expected the sticky "
                       "CUDA_ERROR_ILLEGAL_ADDRESS", kt_result_name(rc));
    return fresh_context_works();
}

/* ---- launch configuration and streams (vector.cu, dynshared.cu) --------------------------- */

/* Dynamic shared memory above the 48 KiB default needs the function's opt-in attribute. */
static int case_dyn_shared_optin(void)
{
    enum { BLOCK = 256, BIG = 100 * 1024 };
    int n = BLOCK * kt_randi(1, 16);
    int32_t *in = kt_host(4 * n), *got = kt_host(4 * n), *want = kt_host(4 * n);
    for (int i = 0; i < n; i++)
        in[i] = (int32_t)kt_rand();
    for (int i = 0; i < n; i++)
        want[i] = in[i / BLOCK * BLOCK + BLOCK - 1 - i % BLOCK];
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&din, &dout, &n};
    CUfunction f = kt_func("dynshared", "dyn_shared_reverse");
    if (!f || !dout)
        return 1;
    CUresult rc = kt_launch(f, n / BLOCK, 1, 1, BLOCK, 1, 1, BIG, params);
    if (rc != CUDA_ERROR_INVALID_VALUE)
        return kt_fail("100 KiB of dynamic shared memory without opt-in -> %s, expected "
                       "CUDA_ERROR_INVALID_VALUE", kt_result_name(rc));
    KT_CHECK(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, BIG));
    KT_CHECK(kt_launch(f, n / BLOCK, 1, 1, BLOCK, 1, 1, BIG, params));
    if (kt_download(got, dout, 4 * n))
        return 1;
    return kt_expect_i32("out", got, want, n);
}

/* Invalid launch shapes are refused without poisoning the context. */
static int case_launch_config_errors(void)
{
    CUfunction f = kt_func("vector", "vec_add");
    CUdeviceptr d = kt_alloc(4096);
    int n = 1024;
    void *params[] = {&d, &d, &d, &n};
    if (!f || !d)
        return 1;
    static const unsigned shapes[][6] = {
        {1, 1, 1, 1025, 1, 1}, /* more than 1024 threads per block */
        {0, 1, 1, 64, 1, 1},   /* empty grid */
        {1, 1, 1, 1, 1, 65},   /* block z above 64 */
        {1, 65536, 1, 32, 1, 1}, /* grid y above 65535 */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const unsigned *g = shapes[i];
        CUresult rc = kt_launch(f, g[0], g[1], g[2], g[3], g[4], g[5], 0, params);
        if (rc != CUDA_ERROR_INVALID_VALUE)
            return kt_fail("launch grid (%u,%u,%u) block (%u,%u,%u) -> %s, expected "
                           "CUDA_ERROR_INVALID_VALUE", g[0], g[1], g[2], g[3], g[4], g[5],
                           kt_result_name(rc));
    }
    int32_t back[1024];
    KT_CHECK(kt_launch(f, 4, 1, 1, 256, 1, 1, 0, params)); /* the context still works */
    return kt_download(back, d, sizeof back);
}

/* Two streams, each: async upload, saxpy, async download into page-locked memory; the second
 * stream waits on an event of the first; events time the work. */
static int case_streams_events(void)
{
    int n = kt_randi(10000, 50000);
    float alpha = kt_randf(-2, 2), *x = kt_host(4 * n), *y = kt_host(4 * n), *want = kt_host(4 * n);
    float *pinned;
    CUstream s[2];
    CUevent start, mid, stop;
    CUfunction f = kt_func("vector", "saxpy");
    CUdeviceptr dx = kt_alloc(4 * n), dy = kt_alloc(4 * n);
    if (!f || !dy)
        return 1;
    for (int i = 0; i < n; i++)
        x[i] = kt_randf(-5, 5), y[i] = kt_randf(-5, 5);
    for (int i = 0; i < n; i++) /* stream 0: y += a*x; stream 1 (after it): y += a*x again */
        want[i] = fmaf(alpha, x[i], fmaf(alpha, x[i], y[i]));
    KT_CHECK(cuMemAllocHost((void **)&pinned, 4 * n));
    for (int i = 0; i < 2; i++)
        KT_CHECK(cuStreamCreate(&s[i], CU_STREAM_NON_BLOCKING));
    KT_CHECK(cuEventCreate(&start, CU_EVENT_DEFAULT));
    KT_CHECK(cuEventCreate(&mid, CU_EVENT_DEFAULT));
    KT_CHECK(cuEventCreate(&stop, CU_EVENT_DEFAULT));
    void *params[] = {&n, &alpha, &dx, &dy};
    KT_CHECK(cuEventRecord(start, s[0]));
    KT_CHECK(cuMemcpyHtoDAsync(dx, x, 4 * n, s[0]));
    KT_CHECK(cuMemcpyHtoDAsync(dy, y, 4 * n, s[0]));
    KT_CHECK(cuLaunchKernel(f, 16, 1, 1, 256, 1, 1, 0, s[0], params, NULL));
    KT_CHECK(cuEventRecord(mid, s[0]));
    KT_CHECK(cuStreamWaitEvent(s[1], mid, 0));
    KT_CHECK(cuLaunchKernel(f, 16, 1, 1, 256, 1, 1, 0, s[1], params, NULL));
    KT_CHECK(cuMemcpyDtoHAsync(pinned, dy, 4 * n, s[1]));
    KT_CHECK(cuEventRecord(stop, s[1]));
    KT_CHECK(cuEventSynchronize(stop));
    float ms = -1;
    KT_CHECK(cuEventElapsedTime(&ms, start, stop));
    int rc = kt_expect_f32("y", pinned, want, n, 1e-6, 1e-6);
    if (!rc && !(ms >= 0 && ms < 60000))
        rc = kt_fail("elapsed time %g ms between the events", ms);
    for (int i = 0; i < 2; i++)
        cuStreamDestroy(s[i]);
    cuEventDestroy(start);
    cuEventDestroy(mid);
    cuEventDestroy(stop);
    cuMemFreeHost(pinned);
    return rc;
}

/* Hundreds of launches queued back to back on one stream, one synchronize: each adds 1 to y,
 * so any lost, duplicated or reordered-overlapping launch shows in the result. */
static int case_many_launches(void)
{
    int n = kt_randi(1000, 4000), launches = kt_randi(200, 400);
    float alpha = 1, *ones = kt_host(4 * n), *got = kt_host(4 * n), *want = kt_host(4 * n);
    for (int i = 0; i < n; i++)
        ones[i] = 1, want[i] = (float)launches;
    CUdeviceptr dx = kt_upload(ones, 4 * n), dy = kt_alloc(4 * n);
    CUfunction f = kt_func("vector", "saxpy");
    CUstream s;
    if (!f || !dy)
        return 1;
    KT_CHECK(cuMemsetD32(dy, 0, n));
    KT_CHECK(cuStreamCreate(&s, CU_STREAM_DEFAULT));
    void *params[] = {&n, &alpha, &dx, &dy};
    for (int k = 0; k < launches; k++)
        KT_CHECK(cuLaunchKernel(f, 4, 1, 1, 128, 1, 1, 0, s, params, NULL));
    KT_CHECK(cuStreamSynchronize(s));
    KT_CHECK(cuStreamDestroy(s));
    if (kt_download(got, dy, 4 * n))
        return 1;
    return kt_expect_f32("y", got, want, n, 0, 0);
}

/* ---- fat binaries (tests/fatbin/data, built by nvcc from tests/fatbin/vadd.cu) -------------- */

static void *read_fatbin(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", kt_fatbin_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        kt_fail("cannot open %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    void *buf = n > 0 ? kt_host((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n)
        buf = NULL;
    fclose(f);
    if (!buf)
        kt_fail("cannot read %s", path);
    return buf;
}

/* Runs the image's vadd (extern "C", signature (a, b, c, n)) and checks it. */
static int check_vadd(CUmodule mod)
{
    int n = kt_randi(500, 5000);
    float *a = kt_host(4 * n), *b = kt_host(4 * n), *c = kt_host(4 * n), *want = kt_host(4 * n);
    for (int i = 0; i < n; i++)
        a[i] = kt_randf(-9, 9), b[i] = kt_randf(-9, 9), want[i] = a[i] + b[i];
    CUfunction f;
    KT_CHECK(cuModuleGetFunction(&f, mod, "vadd"));
    CUdeviceptr da = kt_upload(a, 4 * n), db = kt_upload(b, 4 * n), dc = kt_alloc(4 * n);
    void *params[] = {&da, &db, &dc, &n};
    if (!dc || kt_run(f, (n + 255) / 256, 256, 0, params) || kt_download(c, dc, 4 * n))
        return 1;
    return kt_expect_f32("c", c, want, n, 0, 0);
}

static int case_fatbin_zstd(void)
{
    void *image = read_fatbin("zstd_sm80.fatbin"); /* nvcc -arch=sm_80 -fatbin: PTX in zstd */
    CUmodule m1, m2;
    if (!image)
        return 1;
    KT_CHECK(cuModuleLoadData(&m1, image));
    KT_CHECK(cuModuleLoadFatBinary(&m2, image));
    int rc = check_vadd(m1) || check_vadd(m2);
    cuModuleUnload(m1);
    cuModuleUnload(m2);
    return rc;
}

static int case_fatbin_lz4_wrapper(void)
{
    void *image = read_fatbin("lz4_sm80.fatbin"); /* --compress-mode=speed: PTX in LZ4 */
    if (!image)
        return 1;
    struct { uint32_t magic, version; const void *data, *filename; } wrapper = {
        0x466243B1u, 1, image, NULL}; /* what nvcc's host object registers */
    CUmodule m;
    KT_CHECK(cuModuleLoadData(&m, &wrapper));
    int rc = check_vadd(m);
    cuModuleUnload(m);
    return rc;
}

static int run_library_vadd(CUlibrary lib)
{
    CUkernel kernel;
    KT_CHECK(cuLibraryGetKernel(&kernel, lib, "vadd"));
    int n = kt_randi(500, 5000);
    float *a = kt_host(4 * n), *c = kt_host(4 * n), *want = kt_host(4 * n);
    for (int i = 0; i < n; i++)
        a[i] = kt_randf(-9, 9), want[i] = a[i] + a[i];
    CUdeviceptr da = kt_upload(a, 4 * n), dc = kt_alloc(4 * n);
    void *params[] = {&da, &da, &dc, &n};
    if (!dc || kt_run((CUfunction)kernel, (n + 255) / 256, 256, 0, params) ||
        kt_download(c, dc, 4 * n))
        return 1;
    return kt_expect_f32("c", c, want, n, 0, 0);
}

/* What cudart 13 does (docs/cudart-driver.md, "Loading device code"): cuLibraryLoadData on the
 * wrapper, with no context required, then cuLibraryGetKernel, and the CUkernel passed to
 * cuLaunchKernel. */
static int case_fatbin_library_wrapper(void)
{
    void *image = read_fatbin("zstd_sm80.fatbin");
    if (!image)
        return 1;
    struct { uint32_t magic, version; const void *data, *filename; } wrapper = {
        0x466243B1u, 1, image, NULL};
    CUlibraryOption opt = CU_LIBRARY_BINARY_IS_PRESERVED;
    void *val = (void *)1;
    CUlibrary lib;
    CUcontext ctx;
    KT_CHECK(cuCtxPopCurrent(&ctx)); /* no current context while loading */
    CUresult rc = cuLibraryLoadData(&lib, &wrapper, NULL, NULL, 0, &opt, &val, 1);
    KT_CHECK(cuCtxPushCurrent(ctx));
    KT_CHECK(rc);
    int failed = run_library_vadd(lib);
    rc = cuLibraryUnload(lib); /* libraries outlive contexts: always unload */
    if (!failed && rc != CUDA_SUCCESS)
        return kt_fail("cuLibraryUnload -> %s", kt_result_name(rc));
    return failed;
}

static int case_fatbin_sass_only(void)
{
    void *image = read_fatbin("sass_only_80_90.fatbin"); /* cubins for sm_80/90, no PTX */
    CUmodule m;
    if (!image)
        return 1;
    /* it loads (libraries mix such images with PTX ones); its kernel has no code to run */
    KT_CHECK(cuModuleLoadData(&m, image));
    CUfunction f;
    CUresult rc = cuModuleGetFunction(&f, m, "vadd");
    CUresult rc2 = cuModuleGetFunction(&f, m, "not_there");
    KT_CHECK(cuModuleUnload(m));
    if (rc != CUDA_ERROR_NO_BINARY_FOR_GPU || rc2 != CUDA_ERROR_NOT_FOUND)
        return kt_fail("a SASS-only module's kernel -> %s, a missing one -> %s; expected "
                       "CUDA_ERROR_NO_BINARY_FOR_GPU, CUDA_ERROR_NOT_FOUND",
                       kt_result_name(rc), kt_result_name(rc2));
    return 0;
}

const struct kt_case kt_cases_special[] = {
    KT_CASE(coop_grid_sync, "coop"),
    KT_CASE(printf_kernel, "printf"),
    KT_CASE(printf_formats, "printf"),
    KT_CASE(assert_kernel, "assert"),
    KT_CASE(oob_write, "oob"),
    KT_CASE(dyn_shared_optin, "dynshared"),
    KT_CASE(launch_config_errors, "vector"),
    KT_CASE(streams_events, "vector"),
    KT_CASE(many_launches, "vector"),
    KT_CASE(fatbin_zstd, "fatbin"),
    KT_CASE(fatbin_lz4_wrapper, "fatbin"),
    KT_CASE(fatbin_library_wrapper, "fatbin"),
    KT_CASE(fatbin_sass_only, "fatbin"),
};
const int kt_ncases_special = sizeof kt_cases_special / sizeof kt_cases_special[0];
