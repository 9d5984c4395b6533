/*
 * Corpus cases for the basic kernels: vector ops, tiled matmul, reductions, scans, histogram,
 * transpose, bitonic sort, 2D/3D grids, dynamic shared memory, divergence, struct parameters,
 * device functions, assorted atomics, local arrays and __constant__ memory. Each builds random
 * inputs, runs the kernel (outputs poisoned by kt_alloc) and compares with a C reference.
 *
 * May call: the harness (harness.h), the CUDA driver API, libc, libm.
 */
#include "divergence_ref.h"
#include "harness.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- vector.cu ---------------------------------------------------------------------------- */

static int case_vec_add(void)
{
    int n = kt_randi(1000, 50000);
    float *a = kt_rand_floats(n, -10, 10), *b = kt_rand_floats(n, -10, 10), *c = kt_host(4 * n),
          *want = kt_host(4 * n);
    CUdeviceptr da = kt_upload(a, 4 * n), db = kt_upload(b, 4 * n), dc = kt_alloc(4 * n);
    void *params[] = {&da, &db, &dc, &n};
    if (!dc || kt_run(kt_func("vector", "vec_add"), KT_CEIL_DIV(n, 256), 256, 0, params) ||
        kt_download(c, dc, 4 * n))
        return 1;
    for (int i = 0; i < n; i++)
        want[i] = a[i] + b[i];
    return kt_expect_f32("c", c, want, n, 0, 0);
}

static int case_saxpy(void)
{
    int n = kt_randi(5000, 60000);
    float alpha = kt_randf(-3, 3);
    float *x = kt_rand_floats(n, -5, 5), *y = kt_rand_floats(n, -5, 5), *got = kt_host(4 * n);
    CUdeviceptr dx = kt_upload(x, 4 * n), dy = kt_upload(y, 4 * n);
    void *params[] = {&n, &alpha, &dx, &dy};
    if (!dy || kt_run(kt_func("vector", "saxpy"), 16, 128, 0, params) ||
        kt_download(got, dy, 4 * n))
        return 1;
    for (int i = 0; i < n; i++)
        y[i] = fmaf(alpha, x[i], y[i]);
    return kt_expect_f32("y", got, y, n, 1e-6, 1e-6);
}

/* More than 65,535 blocks in x (allowed up to 2^31 - 1 since sm_30). */
static int case_vec_add_large_grid(void)
{
    int blocks = kt_randi(65536, 80000), n = blocks * 32 - kt_randi(0, 31);
    float *a = kt_rand_floats(n, -10, 10), *c = kt_host(4 * (size_t)n),
          *want = kt_host(4 * (size_t)n);
    CUdeviceptr da = kt_upload(a, 4 * (size_t)n), dc = kt_alloc(4 * (size_t)n);
    void *params[] = {&da, &da, &dc, &n};
    if (!dc || kt_run(kt_func("vector", "vec_add"), blocks, 32, 0, params) ||
        kt_download(c, dc, 4 * (size_t)n))
        return 1;
    for (int i = 0; i < n; i++)
        want[i] = a[i] + a[i];
    return kt_expect_f32("c", c, want, n, 0, 0);
}

/* Parameters packed by the caller and passed through `extra` (CU_LAUNCH_PARAM_BUFFER_*), as
 * non-cudart clients do: saxpy(int n @0, float alpha @4, float *x @8, float *y @16). */
static int case_saxpy_extra_params(void)
{
    int n = kt_randi(1000, 20000);
    float alpha = kt_randf(-3, 3);
    float *x = kt_rand_floats(n, -5, 5), *y = kt_rand_floats(n, -5, 5), *got = kt_host(4 * n);
    CUdeviceptr dx = kt_upload(x, 4 * n), dy = kt_upload(y, 4 * n);
    CUfunction f = kt_func("vector", "saxpy");
    if (!f || !dy)
        return 1;
    unsigned char buf[24];
    size_t size = sizeof buf;
    memcpy(buf, &n, 4);
    memcpy(buf + 4, &alpha, 4);
    memcpy(buf + 8, &dx, 8);
    memcpy(buf + 16, &dy, 8);
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
                     CU_LAUNCH_PARAM_END};
    KT_CHECK(cuLaunchKernel(f, 8, 1, 1, 128, 1, 1, 0, NULL, NULL, extra));
    KT_CHECK(cuCtxSynchronize());
    if (kt_download(got, dy, 4 * n))
        return 1;
    for (int i = 0; i < n; i++)
        y[i] = fmaf(alpha, x[i], y[i]);
    return kt_expect_f32("y", got, y, n, 1e-6, 1e-6);
}

static int case_fused_elementwise(void)
{
    int n = kt_randi(1000, 40000);
    float scale = kt_randf(0.5f, 4);
    float *a = kt_rand_floats(n, -10, 10), *b = kt_rand_floats(n, -10, 10),
          *c = kt_rand_floats(n, -10, 10);
    float *got = kt_host(4 * n), *want = kt_host(4 * n);
    CUdeviceptr da = kt_upload(a, 4 * n), db = kt_upload(b, 4 * n), dc = kt_upload(c, 4 * n),
                dout = kt_alloc(4 * n);
    void *params[] = {&da, &db, &dc, &dout, &scale, &n};
    if (!dout ||
        kt_run(kt_func("vector", "fused_elementwise"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        float v = fmaf(a[i], b[i], c[i]);
        v = v > 0 ? v : 0;
        want[i] = fminf(v * scale, 100.0f);
    }
    return kt_expect_f32("out", got, want, n, 1e-6, 0);
}

/* ---- matmul.cu ---------------------------------------------------------------------------- */

static int case_matmul_tiled(void)
{
    int M = kt_randi(17, 80), N = kt_randi(17, 80), K = kt_randi(17, 80);
    float *A = kt_rand_floats(M * K, -1, 1), *B = kt_rand_floats(K * N, -1, 1);
    float *got = kt_host(4 * M * N), *want = kt_host(4 * M * N);
    CUdeviceptr dA = kt_upload(A, 4 * M * K), dB = kt_upload(B, 4 * K * N), dC = kt_alloc(4 * M * N);
    void *params[] = {&dA, &dB, &dC, &M, &N, &K};
    CUfunction f = kt_func("matmul", "matmul_tiled");
    if (!f || !dC)
        return 1;
    KT_CHECK(kt_launch(f, KT_CEIL_DIV(N, 16), KT_CEIL_DIV(M, 16), 1, 16, 16, 1, 0, params));
    if (kt_download(got, dC, 4 * M * N))
        return 1;
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)A[r * K + k] * B[k * N + c];
            want[r * N + c] = (float)acc;
        }
    return kt_expect_f32("C", got, want, M * N, 1e-4, 1e-5);
}

/* ---- reduce.cu ---------------------------------------------------------------------------- */

static int case_reduce_shfl(void)
{
    enum { GRID = 32, BLOCK = 256 };
    int n = kt_randi(10000, 100000);
    float *in = kt_rand_floats(n, -1, 1), got[GRID], want[GRID];
    double sums[GRID] = {0};
    CUdeviceptr din = kt_upload(in, 4 * n), dpart = kt_alloc(sizeof got);
    void *params[] = {&din, &dpart, &n};
    if (!dpart || kt_run(kt_func("reduce", "reduce_shfl"), GRID, BLOCK, 0, params) ||
        kt_download(got, dpart, sizeof got))
        return 1;
    for (int i = 0; i < n; i++)
        sums[(i / BLOCK) % GRID] += in[i];
    for (int b = 0; b < GRID; b++)
        want[b] = (float)sums[b];
    return kt_expect_f32("partial", got, want, GRID, 1e-4, 1e-4);
}

static int case_reduce_atomic(void)
{
    int n = kt_randi(1000, 60000);
    int32_t *in = kt_rand_ints(n, -1000, 100000), init[2] = {0, INT_MIN}, got[2];
    uint64_t zero = 0, got64, want64 = 0;
    CUdeviceptr din = kt_upload(in, 4 * n), dsum = kt_upload(&init[0], 4),
                dmax = kt_upload(&init[1], 4), dsum64 = kt_upload(&zero, 8);
    void *params[] = {&din, &n, &dsum, &dmax, &dsum64};
    if (!dsum64 || kt_run(kt_func("reduce", "reduce_atomic"), KT_CEIL_DIV(n, 256), 256, 0, params) ||
        kt_download(&got[0], dsum, 4) || kt_download(&got[1], dmax, 4) ||
        kt_download(&got64, dsum64, 8))
        return 1;
    int32_t want[2] = {0, INT_MIN};
    for (int i = 0; i < n; i++) {
        want[0] = (int32_t)((uint32_t)want[0] + (uint32_t)in[i]); /* wraps, as atom.add does */
        want[1] = in[i] > want[1] ? in[i] : want[1];
        want64 += (uint32_t)in[i];
    }
    return kt_expect_i32("sum,max", got, want, 2) ||
           kt_expect_i64("sum64", (int64_t *)&got64, (int64_t *)&want64, 1);
}

static int case_reduce_last_block(void)
{
    enum { BLOCK = 256 };
    int n = kt_randi(10000, 200000), grid = kt_randi(2, 48), got, want = 0;
    int32_t *in = kt_rand_ints(n, -1000, 1000);
    CUdeviceptr din = kt_upload(in, 4 * n), dpart = kt_alloc(4 * grid), dres = kt_alloc(4);
    void *params[] = {&din, &n, &dpart, &dres};
    CUfunction f = kt_func("reduce", "reduce_last_block");
    for (int i = 0; i < n; i++)
        want += in[i];
    for (int round = 0; round < 3; round++) { /* the last block resets the ticket counter */
        if (!dres || kt_run(f, grid, BLOCK, 0, params) || kt_download(&got, dres, 4))
            return 1;
        if (got != want)
            return kt_fail("round %d: total %d, expected %d", round, got, want);
        KT_CHECK(cuMemsetD8(dres, 0xff, 4));
    }
    return 0;
}

/* ---- scan.cu ------------------------------------------------------------------------------ */

static int scan_case(const char *kernel, int block, int inclusive)
{
    int n = kt_randi(3000, 30000);
    int32_t *in = kt_rand_ints(n, -100, 100), *got = kt_host(4 * n), *want = kt_host(4 * n);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&din, &dout, &n};
    unsigned shmem = inclusive ? 0 : 2 * block * 4;
    if (!dout || kt_run(kt_func("scan", kernel), KT_CEIL_DIV(n, block), block, shmem, params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    for (int base = 0; base < n; base += block) {
        int acc = 0;
        for (int i = base; i < n && i < base + block; i++) {
            if (inclusive)
                acc += in[i];
            want[i] = acc;
            if (!inclusive)
                acc += in[i];
        }
    }
    return kt_expect_i32("out", got, want, n);
}

static int case_scan_inclusive(void) { return scan_case("scan_inclusive", 256, 1); }
static int case_scan_exclusive(void) { return scan_case("scan_exclusive", 128, 0); }

/* ---- histogram.cu, transpose.cu, bitonic.cu ------------------------------------------------ */

static int case_histogram_shared(void)
{
    int n = kt_randi(50000, 200000);
    uint8_t *data = kt_host(n);
    uint32_t got[256], want[256] = {0};
    for (int i = 0; i < n; i++)
        data[i] = (uint8_t)(kt_rand() % 7 == 0 ? 42 : kt_rand()); /* a hot bin: contention */
    CUdeviceptr dd = kt_upload(data, n), dbins = kt_upload(want, sizeof want);
    void *params[] = {&dd, &n, &dbins};
    if (!dbins || kt_run(kt_func("histogram", "histogram_shared"), 16, 256, 0, params) ||
        kt_download(got, dbins, sizeof got))
        return 1;
    for (int i = 0; i < n; i++)
        want[data[i]]++;
    return kt_expect_u32("bins", got, want, 256);
}

static int case_transpose_padded(void)
{
    int w = kt_randi(33, 150), h = kt_randi(33, 150);
    float *in = kt_rand_floats(w * h, -100, 100), *got = kt_host(4 * w * h),
          *want = kt_host(4 * w * h);
    CUdeviceptr din = kt_upload(in, 4 * w * h), dout = kt_alloc(4 * w * h);
    void *params[] = {&din, &dout, &w, &h};
    CUfunction f = kt_func("transpose", "transpose_padded");
    if (!f || !dout)
        return 1;
    KT_CHECK(kt_launch(f, KT_CEIL_DIV(w, 32), KT_CEIL_DIV(h, 32), 1, 32, 8, 1, 0, params));
    if (kt_download(got, dout, 4 * w * h))
        return 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            want[x * h + y] = in[y * w + x];
    return kt_expect_f32("out", got, want, w * h, 0, 0);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int case_bitonic_sort(void)
{
    enum { BLOCK = 512, GRID = 4, N = BLOCK * GRID };
    uint32_t *keys = kt_host(4 * N), *got = kt_host(4 * N);
    for (int i = 0; i < N; i++)
        keys[i] = i % 5 == 0 ? 77 : kt_rand(); /* duplicates too */
    CUdeviceptr dk = kt_upload(keys, 4 * N);
    void *params[] = {&dk};
    if (!dk || kt_run(kt_func("bitonic", "bitonic_sort"), GRID, BLOCK, BLOCK * 4, params) ||
        kt_download(got, dk, 4 * N))
        return 1;
    for (int b = 0; b < GRID; b++)
        qsort(keys + b * BLOCK, BLOCK, 4, cmp_u32);
    return kt_expect_u32("keys", got, keys, N);
}

/* ---- grids.cu, dynshared.cu --------------------------------------------------------------- */

static int case_grid2d(void)
{
    int w = kt_randi(20, 200), h = kt_randi(20, 200);
    int32_t *got = kt_host(4 * w * h), *want = kt_host(4 * w * h);
    CUdeviceptr d = kt_alloc(4 * w * h);
    void *params[] = {&d, &w, &h};
    CUfunction f = kt_func("grids", "grid2d");
    if (!f || !d)
        return 1;
    KT_CHECK(kt_launch(f, KT_CEIL_DIV(w, 16), KT_CEIL_DIV(h, 8), 1, 16, 8, 1, 0, params));
    if (kt_download(got, d, 4 * w * h))
        return 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            want[y * w + x] = (y << 16) | x;
    return kt_expect_i32("out", got, want, w * h);
}

static int case_grid3d(void)
{
    int nx = kt_randi(5, 40), ny = kt_randi(5, 40), nz = kt_randi(5, 40);
    int total = nx * ny * nz;
    unsigned gx = KT_CEIL_DIV(nx, 8), gy = KT_CEIL_DIV(ny, 4), gz = KT_CEIL_DIV(nz, 2);
    uint32_t *got = kt_host(4 * total), *want = kt_host(4 * total);
    CUdeviceptr d = kt_alloc(4 * total);
    void *params[] = {&d, &nx, &ny, &nz};
    CUfunction f = kt_func("grids", "grid3d");
    if (!f || !d)
        return 1;
    KT_CHECK(kt_launch(f, gx, gy, gz, 8, 4, 2, 0, params));
    if (kt_download(got, d, 4 * total))
        return 1;
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
                want[(z * ny + y) * nx + x] =
                    (uint32_t)(x + 1000 * y + 1000000 * z) ^ (gx << 28) ^ (2u << 24);
    return kt_expect_u32("out", got, want, total);
}

static int case_dyn_shared_reverse(void)
{
    static const int blocks[] = {64, 128, 256, 512};
    int block = blocks[kt_rand() % 4], n = kt_randi(1000, 20000);
    int32_t *in = kt_rand_ints(n, -1000000, 1000000), *got = kt_host(4 * n), *want = kt_host(4 * n);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&din, &dout, &n};
    if (!dout ||
        kt_run(kt_func("dynshared", "dyn_shared_reverse"), KT_CEIL_DIV(n, block), block, block * 4,
               params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        int base = i / block * block, src = base + block - 1 - (i - base);
        want[i] = src < n ? in[src] : -1; /* -1: the poison, never written */
    }
    return kt_expect_i32("out", got, want, n);
}

/* ---- divergence.cu ------------------------------------------------------------------------ */

static int case_divergent_loops(void)
{
    int n = kt_randi(2000, 20000);
    int32_t *trips = kt_rand_ints(n, 0, 40), *got = kt_host(4 * n), *want = kt_host(4 * n);
    CUdeviceptr dt = kt_upload(trips, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&dt, &dout, &n};
    if (!dout ||
        kt_run(kt_func("divergence", "divergent_loops"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    for (int i = 0; i < n; i++)
        want[i] = kt_divergent_loops_value(i, trips[i]);
    return kt_expect_i32("out", got, want, n);
}

static int case_early_exit(void)
{
    int n = kt_randi(2000, 20000);
    int32_t *in = kt_rand_ints(n, -50, 1000), *got = kt_host(4 * n), *want = kt_host(4 * n);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&din, &dout, &n};
    if (!dout || kt_run(kt_func("divergence", "early_exit"), KT_CEIL_DIV(n, 96), 96, 0, params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    for (int i = 0; i < n; i++)
        want[i] = in[i] < 0 ? -7 : (in[i] & 3) == 0 ? -1 : in[i] * 2;
    return kt_expect_i32("out", got, want, n);
}

/* ---- params.cu ---------------------------------------------------------------------------- */

struct Params { /* the same layout as the kernel's struct (natural alignment on both sides) */
    float scale;
    double offset;
    int idx[3];
    char flag;
    long long big;
};

static int case_struct_param(void)
{
    struct Params p = {kt_randf(-2, 2), kt_randd(-100, 100), {kt_randi(-9, 9), kt_randi(-9, 9),
                       kt_randi(-9, 9)}, (char)(kt_rand() & 1), (long long)kt_rand() << 8};
    char tail = (char)kt_randi(-100, 100);
    int n = kt_randi(100, 5000);
    double *got = kt_host(8 * n), *want = kt_host(8 * n);
    CUdeviceptr dout = kt_alloc(8 * n);
    void *params[] = {&p, &dout, &tail, &n};
    CUfunction f = kt_func("params", "struct_param");
    /* The layout the driver derives from the PTX signature: the struct is .align 8, 40 bytes. */
    static const size_t offsets[] = {0, 40, 48, 52}, sizes[] = {40, 8, 1, 4};
    for (size_t k = 0; f && k < 4; k++) {
        size_t off = 0, sz = 0;
        KT_CHECK(cuFuncGetParamInfo(f, k, &off, &sz));
        if (off != offsets[k] || sz != sizes[k])
            return kt_fail("cuFuncGetParamInfo(%zu) = offset %zu size %zu, expected %zu/%zu", k,
                           off, sz, offsets[k], sizes[k]);
    }
    size_t off, sz;
    CUresult rc = f ? cuFuncGetParamInfo(f, 4, &off, &sz) : CUDA_SUCCESS;
    if (rc != CUDA_ERROR_INVALID_VALUE)
        return kt_fail("cuFuncGetParamInfo past the last parameter -> %s, expected "
                       "CUDA_ERROR_INVALID_VALUE", kt_result_name(rc));
    if (!dout || kt_run(f, KT_CEIL_DIV(n, 64), 64, 0, params) ||
        kt_download(got, dout, 8 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        double v = p.scale * (double)i + p.offset + p.idx[i % 3] + (double)p.big;
        want[i] = (p.flag ? -v : v) + (double)tail;
    }
    return kt_expect_f64("out", got, want, n, 1e-15, 0);
}

static int case_device_func(void)
{
    int n = kt_randi(500, 5000);
    float *x = kt_rand_floats(n, -4, 4), *y = kt_host(4 * n), *ywant = kt_host(4 * n);
    int32_t *seeds = kt_rand_ints(n, 1, 100000), *steps = kt_host(4 * n), *swant = kt_host(4 * n);
    CUdeviceptr dx = kt_upload(x, 4 * n), dy = kt_alloc(4 * n), ds = kt_upload(seeds, 4 * n),
                dsteps = kt_alloc(4 * n);
    void *params[] = {&dx, &dy, &ds, &dsteps, &n};
    if (!dsteps || kt_run(kt_func("params", "device_func"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(y, dy, 4 * n) || kt_download(steps, dsteps, 4 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        ywant[i] = (1.5f * x[i] - 2.0f) * x[i] + 0.25f;
        unsigned v = (unsigned)seeds[i];
        int s = 0;
        while (v != 1 && s < 1000) {
            v = (v & 1) ? 3 * v + 1 : v >> 1;
            s++;
        }
        swant[i] = s;
    }
    return kt_expect_f32("y", y, ywant, n, 1e-5, 1e-5) || kt_expect_i32("steps", steps, swant, n);
}

/* ---- misc.cu ------------------------------------------------------------------------------ */

static int case_atomics_misc(void)
{
    int n = kt_randi(100, 20000);
    int32_t *in = kt_rand_ints(n, -10000, 10000), init[3] = {INT_MAX, 0, 0}, slots[16];
    uint32_t or_got;
    int32_t min_got, cas_got;
    CUdeviceptr din = kt_upload(in, 4 * n), dmin = kt_upload(&init[0], 4),
                dor = kt_upload(&init[1], 4), dcas = kt_upload(&init[2], 4),
                dslots = kt_alloc(sizeof slots);
    void *params[] = {&din, &n, &dmin, &dor, &dcas, &dslots};
    if (!dslots || kt_run(kt_func("misc", "atomics_misc"), KT_CEIL_DIV(n, 256), 256, 0, params) ||
        kt_download(&min_got, dmin, 4) || kt_download(&or_got, dor, 4) ||
        kt_download(&cas_got, dcas, 4) || kt_download(slots, dslots, sizeof slots))
        return 1;
    int32_t min_want = INT_MAX, cas_want = 2 * n;
    uint32_t or_want = 0;
    for (int i = 0; i < n; i++) {
        min_want = in[i] < min_want ? in[i] : min_want;
        or_want |= 1u << (in[i] & 31);
    }
    if (kt_expect_i32("min", &min_got, &min_want, 1) || kt_expect_u32("or", &or_got, &or_want, 1) ||
        kt_expect_i32("cas counter", &cas_got, &cas_want, 1))
        return 1;
    for (int k = 0; k < 16; k++) /* some thread i with i % 16 == k wrote i + 1 */
        if (slots[k] < 1 || slots[k] > n || (slots[k] - 1) % 16 != k)
            return kt_fail("exch slot %d holds %d", k, slots[k]);
    return 0;
}

static int case_local_array(void)
{
    int n = kt_randi(500, 10000);
    int32_t *in = kt_rand_ints(n, -1000, 1000), *got = kt_host(4 * n), *want = kt_host(4 * n);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&din, &dout, &n};
    if (!dout || kt_run(kt_func("misc", "local_array"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        int tmp[24], idx = in[i] & 15, acc = 0;
        for (int k = 0; k < 24; k++)
            tmp[k] = in[i] * k + k * k;
        for (int k = 0; k < 8; k++)
            acc += tmp[(idx + k * 5) % 24];
        want[i] = acc;
    }
    return kt_expect_i32("out", got, want, n);
}

static int case_constant_poly(void)
{
    int n = kt_randi(500, 10000);
    float coeffs[8], *x = kt_rand_floats(n, -1, 1), *got = kt_host(4 * n), *want = kt_host(4 * n);
    for (int k = 0; k < 8; k++)
        coeffs[k] = kt_randf(-2, 2);
    CUmodule mod = kt_module("misc");
    CUdeviceptr dcoeffs, dcalls, dx = kt_upload(x, 4 * n), dy = kt_alloc(4 * n);
    size_t size;
    if (!mod || !dy)
        return 1;
    KT_CHECK(cuModuleGetGlobal(&dcoeffs, &size, mod, "coeffs"));
    if (size != sizeof coeffs)
        return kt_fail("coeffs is %zu bytes, expected %zu", size, sizeof coeffs);
    KT_CHECK(cuMemcpyHtoD(dcoeffs, coeffs, sizeof coeffs));
    KT_CHECK(cuModuleGetGlobal(&dcalls, &size, mod, "calls"));
    void *params[] = {&dx, &dy, &n};
    uint32_t calls, calls_want = (uint32_t)n;
    if (kt_run(kt_func("misc", "constant_poly"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dy, 4 * n) || kt_download(&calls, dcalls, 4))
        return 1;
    for (int i = 0; i < n; i++) {
        double acc = 0;
        for (int k = 7; k >= 0; k--)
            acc = acc * x[i] + coeffs[k];
        want[i] = (float)acc;
    }
    return kt_expect_f32("y", got, want, n, 1e-5, 1e-5) ||
           kt_expect_u32("calls (a __device__ counter)", &calls, &calls_want, 1);
}

const struct kt_case kt_cases_basic[] = {
    KT_CASE(vec_add, "vector"),
    KT_CASE(saxpy, "vector"),
    KT_CASE(fused_elementwise, "vector"),
    KT_CASE(vec_add_large_grid, "vector"),
    KT_CASE(saxpy_extra_params, "vector"),
    KT_CASE(matmul_tiled, "matmul"),
    KT_CASE(reduce_shfl, "reduce"),
    KT_CASE(reduce_atomic, "reduce"),
    KT_CASE(reduce_last_block, "reduce"),
    KT_CASE(scan_inclusive, "scan"),
    KT_CASE(scan_exclusive, "scan"),
    KT_CASE(histogram_shared, "histogram"),
    KT_CASE(transpose_padded, "transpose"),
    KT_CASE(bitonic_sort, "bitonic"),
    KT_CASE(grid2d, "grids"),
    KT_CASE(grid3d, "grids"),
    KT_CASE(dyn_shared_reverse, "dynshared"),
    KT_CASE(divergent_loops, "divergence"),
    KT_CASE(early_exit, "divergence"),
    KT_CASE(struct_param, "params"),
    KT_CASE(device_func, "params"),
    KT_CASE(atomics_misc, "misc"),
    KT_CASE(local_array, "misc"),
    KT_CASE(constant_poly, "misc"),
};
const int kt_ncases_basic = sizeof kt_cases_basic / sizeof kt_cases_basic[0];
