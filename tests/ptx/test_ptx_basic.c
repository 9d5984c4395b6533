/*
 * PTX interpreter tests, part 1: nvcc-generated kernels (tests/ptx/kernels) for arithmetic by
 * width, conversions and rounding, floating point, f16/bf16, compared with C references.
 */
#include <math.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ptx_test_util.h"

static struct test_dev D;

static int setup(void **state) { (void)state; tdev_init(&D, 2); return 0; }
static int teardown(void **state) { (void)state; tdev_fini(&D); return 0; }

static void test_parse_all(void **state)
{
    (void)state;
    const char *files[] = {"basic.ptx", "control.ptx", "shared.ptx", "warp.ptx", "misc.ptx",
                           "half.ptx", "coop.ptx", "mma.ptx"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        ptx_module *m = tdev_load(&D, files[i]);
        assert_true(ptx_module_kernel_count(m) >= 1);
        assert_int_equal(ptx_module_target_sm(m), 80);
        assert_int_equal(ptx_module_ptx_version(m), 90);
        tdev_free(m);
    }
}

static void test_vadd(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "basic.ptx");
    const ptx_kernel *k = ptx_module_find_kernel(m, "vadd");
    assert_non_null(k);
    assert_int_equal(ptx_kernel_param_count(k), 4);
    size_t off, size;
    ptx_kernel_param(k, 3, &off, &size);
    assert_int_equal(off, 24);
    assert_int_equal(size, 4);
    int n = 1000;
    float *a = tdev_alloc(&D, n * 4), *b = tdev_alloc(&D, n * 4), *c = tdev_alloc(&D, n * 4);
    for (int i = 0; i < n; i++) {
        a[i] = (float)i * 0.5f;
        b[i] = (float)(n - i);
    }
    void *args[] = {&a, &b, &c, &n};
    assert_int_equal(tdev_launch(&D, m, "vadd", (n + 127) / 128, 128, 0, args), PTX_OK);
    for (int i = 0; i < n; i++)
        assert_true(c[i] == a[i] + b[i]);
    tdev_free(m);
}


static uint32_t prmt_ref(uint32_t a, uint32_t b, uint32_t s)
{
    uint8_t bytes[8];
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(a >> (8 * i));
        bytes[i + 4] = (uint8_t)(b >> (8 * i));
    }
    uint32_t r = 0;
    for (int i = 0; i < 4; i++)
        r |= (uint32_t)bytes[(s >> (4 * i)) & 7] << (8 * i);
    return r;
}

static uint32_t brev_ref(uint32_t x)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i++)
        r |= ((x >> i) & 1u) << (31 - i);
    return r;
}

static void intops_ref(int a, int b, long long *o)
{
    unsigned ua = (unsigned)a, ub = (unsigned)b;
    o[0] = (int)(ua + ub);
    o[1] = (int)(ua - ub);
    o[2] = (int)(ua * ub);
    o[3] = b ? (a == INT32_MIN && b == -1 ? a : a / b) : 0;
    o[4] = b ? (b == -1 ? 0 : a % b) : 0;
    o[5] = ub ? ua / ub : 0;
    o[6] = ub ? ua % ub : 0;
    o[7] = (int)(((long long)a * b) >> 32);
    o[8] = (unsigned)(((unsigned long long)ua * ub) >> 32);
    o[9] = (long long)a * b;
    o[10] = a < b ? a : b;
    o[11] = a > b ? a : b;
    o[12] = ua < ub ? ua : ub;
    o[13] = a == INT32_MIN ? a : (a < 0 ? -a : a);
    o[14] = a >> (b & 31);
    o[15] = ua >> (ub & 31);
    o[16] = (int)(ua << (b & 31));
    o[17] = __builtin_popcount(ua);
    o[18] = a ? __builtin_clz(ua) : 32;
    o[19] = brev_ref(ua);
    o[20] = a ? __builtin_ctz(ua) + 1 : 0;
    o[21] = prmt_ref(ua, ub, 0x5140);
    unsigned long long both = ((unsigned long long)ub << 32) | ua;
    o[22] = (uint32_t)((both << (b & 31)) >> 32);
    o[23] = (uint32_t)(both >> (b & 31));
    o[24] = (a & b) ^ (~a | b);
    o[25] = (unsigned)(a > b ? (long long)a - b : (long long)b - a) + 7u;
    o[26] = (ua > ub ? ua - ub : ub - ua) + 3u;
    long long la = (long long)a * 100003, lb = (long long)b * 7 + 1;
    o[27] = la / (lb ? lb : 1);
    o[28] = la % (lb ? lb : 1);
    o[29] = (long long)(((__int128)la * lb) >> 64);
    o[30] = (short)a + (signed char)b;
    o[31] = __builtin_popcountll((unsigned long long)la) + (lb ? __builtin_clzll((unsigned long long)lb) : 64);
}

static void test_intops(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "basic.ptx");
    enum { N = 200 };
    int *x = tdev_alloc(&D, N * 4), *y = tdev_alloc(&D, N * 4);
    long long *out = tdev_alloc(&D, N * 32 * 8);
    unsigned seed = 12345;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (int)seed;
        seed = seed * 1103515245u + 12345u;
        y[i] = i % 5 == 0 ? (int)(seed % 13) - 6 : (int)seed;
    }
    x[0] = INT32_MIN;
    y[0] = -1;
    x[1] = 0;
    y[2] = 0;
    int n = N;
    void *args[] = {&x, &y, &out, &n};
    assert_int_equal(tdev_launch(&D, m, "intops", 2, 128, 0, args), PTX_OK);
    for (int i = 0; i < N; i++) {
        long long ref[32];
        intops_ref(x[i], y[i], ref);
        for (int k = 0; k < 32; k++)
            if (ref[k] != out[i * 32 + k])
                fail_msg("intops[%d] op %d: x=%d y=%d got %lld want %lld", i, k, x[i], y[i],
                         out[i * 32 + k], ref[k]);
    }
    tdev_free(m);
}

static int f2i(float f) { int v; memcpy(&v, &f, 4); return v; }
static long long d2l(double f) { long long v; memcpy(&v, &f, 8); return v; }

static long long sat_ll(double v, double lo, double hi)
{
    if (isnan(v)) return 0;
    if (v < lo) return (long long)lo;
    if (v > hi) return (long long)hi;
    return (long long)v;
}

static void test_cvtops(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "basic.ptx");
    enum { N = 12 };
    float fv[N] = {0.5f, 1.5f, 2.5f, -2.5f, -0.7f, 3.7e9f, -3e10f, NAN, 1e-40f, 123456.789f, -1.0f, 7.49999f};
    double dv[N] = {0.5, 1.5, -2.5, 1e300, -1e19, 3.999999999, -7.25, NAN, 1e-310, 16777217.5, 2.5, -0.5};
    float *f = tdev_alloc(&D, sizeof fv);
    double *d = tdev_alloc(&D, sizeof dv);
    memcpy(f, fv, sizeof fv);
    memcpy(d, dv, sizeof dv);
    long long *out = tdev_alloc(&D, N * 16 * 8);
    int n = N;
    void *args[] = {&f, &d, &out, &n};
    assert_int_equal(tdev_launch(&D, m, "cvtops", 1, 32, 0, args), PTX_OK);
    for (int i = 0; i < N; i++) {
        float x = fv[i];
        double y = dv[i];
        long long ref[16];
        ref[0] = sat_ll(rintf(x), INT32_MIN, INT32_MAX);
        ref[1] = sat_ll(truncf(x), INT32_MIN, INT32_MAX);
        ref[2] = sat_ll(floorf(x), INT32_MIN, INT32_MAX);
        ref[3] = sat_ll(ceilf(x), INT32_MIN, INT32_MAX);
        ref[4] = (long long)(unsigned)sat_ll(rintf(x), 0, UINT32_MAX);
        ref[5] = sat_ll(truncf(x), -9.2233720368547758e18, 9.2233720368547758e18);
        if (!isnan(x) && x >= 9.2233720368547758e18f) ref[5] = INT64_MAX;
        if (!isnan(x) && x < -9.2233720368547758e18f) ref[5] = INT64_MIN;
        ref[6] = isnan(y) ? 0 : y >= 9.2233720368547758e18 ? INT64_MAX : y < -9.2233720368547758e18 ? INT64_MIN : (long long)rint(y);
        ref[7] = sat_ll(trunc(y), INT32_MIN, INT32_MAX);
        int iv = i * 16777217 + 1;
        ref[8] = f2i((float)iv); /* rz below: checked separately for exact ints */
        ref[9] = f2i((float)y);
        ref[11] = d2l((double)x);
        ref[12] = f2i(rintf(x));
        ref[13] = f2i(truncf(x));
        ref[14] = f2i(floorf(x));
        ref[15] = f2i(ceilf(x));
        for (int k = 0; k < 16; k++) {
            if (k == 8 || k == 10)
                continue;
            if (ref[k] != out[i * 16 + k])
                fail_msg("cvtops[%d] op %d: x=%g y=%g got %lld want %lld", i, k, x, y,
                         out[i * 16 + k], ref[k]);
        }
        /* round-toward-zero conversions: never larger in magnitude than the value */
        float rz;
        int bits = (int)out[i * 16 + 8];
        memcpy(&rz, &bits, 4);
        assert_true(fabs((double)rz) <= fabs((double)iv));
        assert_true(fabs((double)rz - iv) <= fabs((double)iv) * 1.2e-7);
        bits = (int)out[i * 16 + 10];
        memcpy(&rz, &bits, 4);
        if (!isnan(y)) {
            assert_true(fabs((double)rz) <= fabs(y));
            assert_true(fabs((double)rz - y) <= fabs(y) * 1.2e-7 || isinf(y) || fabs(y) > 3.4e38 || fabs(y) < 1e-37);
        }
    }
    tdev_free(m);
}

static int close_f(double got, double want, double tol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= tol * (1.0 + fabs(want));
}

static void test_fops(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "basic.ptx");
    enum { N = 40 };
    float *f = tdev_alloc(&D, N * 4), *of = tdev_alloc(&D, N * 16 * 4);
    double *d = tdev_alloc(&D, N * 8), *od = tdev_alloc(&D, N * 16 * 8);
    for (int i = 0; i < N; i++) {
        f[i] = (float)((i * 37) % 23 - 11) * 0.75f + (i == 5 ? 0.0f : 0.1f);
        d[i] = (double)((i * 53) % 29 - 14) * 1.25 + 0.3;
    }
    f[7] = 0.0f;
    int n = N;
    void *args[] = {&f, &d, &of, &od, &n};
    assert_int_equal(tdev_launch(&D, m, "fops", 1, 64, 0, args), PTX_OK);
    for (int i = 0; i < N; i++) {
        float x = f[i], z = f[(i + 1) % N];
        double y = d[i], w = d[(i + 1) % N];
        float rf[16] = {x * z + 1.0f, x / z, sqrtf(fabsf(x)), fminf(x, z), fmaxf(x, z),
                        copysignf(x, z), x / z, 1.0f / sqrtf(fabsf(x) + 1), expf(x * 0.01f),
                        logf(fabsf(x) + 1), sinf(x), cosf(x), fmaf(x, z, -x),
                        isnan(x / z) ? 1.0f : 0.0f, x < 0 ? 0 : x > 1 ? 1 : x, tanhf(x * 0.001f)};
        double rd[16] = {y * w, y / w, sqrt(fabs(y)), fma(y, w, 1.0), fmin(y, w), y - w, 1.0 / w,
                         (double)x, y > w ? y : w, floor(y), copysign(y, w), fabs(w), rint(y),
                         y < w, -y, (double)(int)y};
        for (int k = 0; k < 16; k++) {
            double tol = (k >= 6 && k <= 11) ? 1e-5 : 1e-6;
            if (!close_f(of[i * 16 + k], rf[k], tol))
                fail_msg("fops f32[%d] op %d: x=%g z=%g got %.9g want %.9g", i, k, x, z,
                         of[i * 16 + k], rf[k]);
            if (!close_f(od[i * 16 + k], rd[k], 1e-15))
                fail_msg("fops f64[%d] op %d: y=%g w=%g got %.17g want %.17g", i, k, y, w,
                         od[i * 16 + k], rd[k]);
        }
    }
    tdev_free(m);
}

static float h_round(float x)
{
    _Float16 h = (_Float16)x;
    return (float)h;
}

static float bf_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t low = u & 0xffff, r = u >> 16;
    if (low > 0x8000 || (low == 0x8000 && (r & 1)))
        r++;
    u = r << 16;
    memcpy(&x, &u, 4);
    return x;
}

static void test_half(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "half.ptx");
    enum { N = 32 };
    float *in = tdev_alloc(&D, N * 4), *out = tdev_alloc(&D, N * 8 * 4);
    for (int i = 0; i < N; i++)
        in[i] = (float)(i - 16) * 0.377f + 0.01f;
    int n = N;
    void *args[] = {&in, &out, &n};
    assert_int_equal(tdev_launch(&D, m, "halfops", 1, 32, 0, args), PTX_OK);
    for (int i = 0; i < N; i++) {
        float x = in[i], y = in[(i + 1) % N];
        float a = h_round(x), b = h_round(y), c = bf_round(x), d = bf_round(y);
        float ref[8] = {h_round(a + b), h_round(a * b), bf_round(c + d), bf_round(c * d),
                        h_round(fmaf(a, b, a)), h_round(fmaf(b, a, b)),
                        (a > b ? a : b) + (a < b ? 1000.0f : 0.0f), bf_round(fmaf(c, d, c))};
        for (int k = 0; k < 8; k++)
            if (out[i * 8 + k] != ref[k])
                fail_msg("halfops[%d] op %d: x=%g y=%g got %.9g want %.9g", i, k, x, y,
                         out[i * 8 + k], ref[k]);
    }
    tdev_free(m);
}

static uint16_t to_h(float x) { _Float16 h = (_Float16)x; uint16_t u; memcpy(&u, &h, 2); return u; }
static float from_h(uint16_t u) { _Float16 h; memcpy(&h, &u, 2); return (float)h; }
static uint16_t to_bf(float x) { float r = bf_round(x); uint32_t u; memcpy(&u, &r, 4); return (uint16_t)(u >> 16); }
static float from_bf(uint16_t u) { uint32_t v = (uint32_t)u << 16; float f; memcpy(&f, &v, 4); return f; }

static void check_close(const float *got, const float *want, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (fabsf(got[i] - want[i]) > 1e-3f * (1.0f + fabsf(want[i])))
            fail_msg("%s[%d]: got %g want %g", what, i, got[i], want[i]);
}

static void test_mma(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "mma.ptx");
    uint16_t *A = tdev_alloc(&D, 256 * 2), *B = tdev_alloc(&D, 256 * 2);
    float *C = tdev_alloc(&D, 256 * 4), *Dm = tdev_alloc(&D, 256 * 4);
    float ref[256];
    for (int bf = 0; bf < 2; bf++) {
        for (int i = 0; i < 256; i++) {
            float a = (float)((i * 7) % 11 - 5) * 0.25f, b = (float)((i * 5) % 13 - 6) * 0.125f;
            A[i] = bf ? to_bf(a) : to_h(a);
            B[i] = bf ? to_bf(b) : to_h(b);
            C[i] = (float)(i % 9) - 4.0f;
        }
        /* m16n8k16: A 16x16 row-major, B stored column-major as B[n*16 + k] */
        int flag = bf;
        void *args[] = {&A, &B, &C, &Dm, &flag};
        assert_int_equal(tdev_launch(&D, m, "mma_k16", 1, 32, 0, args), PTX_OK);
        for (int r = 0; r < 16; r++)
            for (int c = 0; c < 8; c++) {
                float acc = C[r * 8 + c];
                for (int k = 0; k < 16; k++) {
                    float a = bf ? from_bf(A[r * 16 + k]) : from_h(A[r * 16 + k]);
                    float b = bf ? from_bf(B[c * 16 + k]) : from_h(B[c * 16 + k]);
                    acc += a * b;
                }
                ref[r * 8 + c] = acc;
            }
        check_close(Dm, ref, 128, bf ? "mma bf16 k16" : "mma f16 k16");
    }
    void *args8[] = {&A, &B, &C, &Dm};
    for (int i = 0; i < 256; i++)
        A[i] = to_h((float)(i % 7) - 3.0f), B[i] = to_h((float)(i % 5) * 0.5f);
    assert_int_equal(tdev_launch(&D, m, "mma_k8", 1, 32, 0, args8), PTX_OK);
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 8; c++) {
            float acc = C[r * 8 + c];
            for (int k = 0; k < 8; k++)
                acc += from_h(A[r * 8 + k]) * from_h(B[c * 8 + k]);
            ref[r * 8 + c] = acc;
        }
    check_close(Dm, ref, 128, "mma f16 k8");

    /* wmma: D = alpha * (A * B + C), A row-major, B column-major (B[n*16 + k]) */
    float alpha = 0.5f;
    void *argsw[] = {&A, &B, &C, &Dm, &alpha};
    assert_int_equal(tdev_launch(&D, m, "wmma_f16", 1, 32, 0, argsw), PTX_OK);
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
            float acc = C[r * 16 + c];
            for (int k = 0; k < 16; k++)
                acc += from_h(A[r * 16 + k]) * from_h(B[c * 16 + k]);
            ref[r * 16 + c] = acc * alpha;
        }
    check_close(Dm, ref, 256, "wmma f16");
    /* bf16 wmma: B row-major, D stored column-major, C filled with 1 */
    for (int i = 0; i < 256; i++)
        A[i] = to_bf((float)(i % 9) * 0.5f - 2.0f), B[i] = to_bf((float)(i % 4) - 1.5f);
    void *argsb[] = {&A, &B, &Dm};
    assert_int_equal(tdev_launch(&D, m, "wmma_bf16", 1, 32, 0, argsb), PTX_OK);
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
            float acc = 1.0f;
            for (int k = 0; k < 16; k++)
                acc += from_bf(A[r * 16 + k]) * from_bf(B[k * 16 + c]);
            ref[c * 16 + r] = acc;
        }
    check_close(Dm, ref, 256, "wmma bf16");
    tdev_free(m);
}

static void test_half_atomics(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "half.ptx");
    uint16_t *h2 = tdev_alloc(&D, 4), *b2 = tdev_alloc(&D, 4);
    float *cmp = tdev_alloc(&D, 16 * 4);
    void *args[] = {&h2, &b2, &cmp};
    assert_int_equal(tdev_launch(&D, m, "half_atomics", 2, 16, 0, args), PTX_OK);
    assert_true(from_h(h2[0]) == 32.0f && from_h(h2[1]) == 16.0f);
    assert_true(from_bf(b2[0]) == 64.0f && from_bf(b2[1]) == 8.0f);
    for (int t = 0; t < 16; t++) {
        float lt = (t < 5 ? 10.0f : 0.0f) + (3.0f < (float)t ? 1.0f : 0.0f);
        float gt = (t > 5 && 3.0f > (float)t) ? 100.0f : 0.0f;
        if (cmp[t] != lt + gt)
            fail_msg("half compare t=%d: got %g want %g", t, cmp[t], lt + gt);
    }
    tdev_free(m);
}

static void test_mathfn(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "basic.ptx");
    enum { N = 24 };
    double *x = tdev_alloc(&D, N * 8), *out = tdev_alloc(&D, N * 8 * 8);
    for (int i = 0; i < N; i++)
        x[i] = (i % 2 ? -1.0 : 1.0) * pow(10.0, (double)(i % 12) - 2.0) * (1.0 + i * 0.137);
    int n = N;
    void *args[] = {&x, &out, &n};
    assert_int_equal(tdev_launch(&D, m, "mathfn", 1, 32, 0, args), PTX_OK);
    for (int i = 0; i < N; i++) {
        double v = x[i];
        float f = (float)v;
        double ref[8] = {sin(v), cos(v), exp(v * 1e-9), pow(fabs(v) + 1.0, 0.37), atan2(v, 3.0),
                         sinf(f), expf(f * 1e-9f), cbrt(v)};
        double tol[8] = {1e-15, 1e-15, 1e-15, 1e-15, 1e-15, 4e-7, 4e-7, 1e-15};
        for (int k = 0; k < 8; k++)
            if (fabs(out[i * 8 + k] - ref[k]) > tol[k] * (1.0 + fabs(ref[k])))
                fail_msg("mathfn[%d] op %d: x=%.17g got %.17g want %.17g", i, k, v,
                         out[i * 8 + k], ref[k]);
    }
    tdev_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_all),
        cmocka_unit_test(test_vadd),
        cmocka_unit_test(test_intops),
        cmocka_unit_test(test_cvtops),
        cmocka_unit_test(test_fops),
        cmocka_unit_test(test_mathfn),
        cmocka_unit_test(test_half),
        cmocka_unit_test(test_mma),
        cmocka_unit_test(test_half_atomics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
