/*
 * Corpus cases for the less common code nvcc emits: 128-bit and read-only loads, float atomics
 * (memops.cu), cp.async (cpasync.cu), redux.sync and match.any (redux.cu); conversions with rounding modes and
 * saturation (conv.cu); SIMD and 24-bit integer intrinsics (simd.cu); libdevice-heavy double
 * and float math (mathx.cu); templates and recursion (cxx.cu), function
 * pointers (fnptr.cu); the device
 * heap (heap.cu).
 *
 * May call: the harness (harness.h), the CUDA driver API, libc, libm.
 */
#include "harness.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- memops.cu, cpasync.cu, redux.cu ------------------------------------------------------ */

static int case_vec4_scale(void)
{
    int n4 = kt_randi(500, 8000), n = 4 * n4;
    float *in = kt_host(4 * n), *got = kt_host(4 * n), *want = kt_host(4 * n), total = 0, tgot,
          twant = 0;
    for (int i = 0; i < n; i++) /* small integers: the atomic sum is exact in any order */
        in[i] = (float)kt_randi(-8, 8);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n), dt = kt_upload(&total, 4);
    void *params[] = {&din, &dout, &dt, &n4};
    if (!dt || kt_run(kt_func("memops", "vec4_scale"), KT_CEIL_DIV(n4, 128), 128, 0, params) ||
        kt_download(got, dout, 4 * n) || kt_download(&tgot, dt, 4))
        return 1;
    for (int i = 0; i < n4; i++)
        for (int j = 0; j < 4; j++) {
            want[4 * i + j] = 2 * in[4 * i + 3 - j];
            twant += in[4 * i + j];
        }
    return kt_expect_f32("out", got, want, n, 0, 0) || kt_expect_f32("total", &tgot, &twant, 1, 0, 0);
}

static int case_cp_async_reverse(void)
{
    int block = 32 * kt_randi(1, 8), grid = kt_randi(1, 40), n = 4 * block * grid;
    float *in = kt_host(4 * n), *got = kt_host(4 * n), *want = kt_host(4 * n);
    for (int i = 0; i < n; i++)
        in[i] = kt_randf(-1000, 1000);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&din, &dout};
    if (!dout || kt_run(kt_func("cpasync", "cp_async_reverse"), grid, block, 16 * block, params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    for (int b = 0; b < grid; b++)
        for (int t = 0; t < block; t++)
            for (int j = 0; j < 4; j++)
                want[4 * (b * block + t) + j] = in[4 * (b * block + block - 1 - t) + 3 - j];
    return kt_expect_f32("out", got, want, n, 0, 0);
}

static int case_warp_reduce_match(void)
{
    int n = 64 * kt_randi(1, 30);
    uint32_t *in = kt_host(4 * n), *got = kt_host(16 * n), *want = kt_host(16 * n);
    for (int i = 0; i < n; i++)
        in[i] = kt_rand() >> (kt_rand() % 8 * 4);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(16 * n);
    void *params[] = {&din, &dout};
    if (!dout || kt_run(kt_func("redux", "warp_reduce_match"), n / 64, 64, 0, params) ||
        kt_download(got, dout, 16 * n))
        return 1;
    for (int w = 0; w < n; w += 32) {
        uint32_t sum = 0, or = 0;
        int32_t max = INT32_MIN;
        for (int l = 0; l < 32; l++) {
            sum += in[w + l], or |= in[w + l];
            max = (int32_t)in[w + l] > max ? (int32_t)in[w + l] : max;
        }
        for (int l = 0; l < 32; l++) {
            uint32_t match = 0;
            for (int m = 0; m < 32; m++)
                match |= (uint32_t)((in[w + m] & 3) == (in[w + l] & 3)) << m;
            uint32_t *o = want + 4 * (w + l);
            o[0] = sum, o[1] = (uint32_t)max, o[2] = or, o[3] = match;
        }
    }
    return kt_expect_u32("redux add,max,or,match.any", got, want, 4 * n);
}

/* ---- conv.cu ------------------------------------------------------------------------------ */

/* cvt.{rni,rzi,rmi,rpi}.s32.f32: round, then clamp to the destination range. */
static int32_t f2i(double v, double (*round_fn)(double))
{
    double r = round_fn(v);
    return r >= 2147483647.0 ? INT32_MAX : r <= -2147483648.0 ? INT32_MIN : (int32_t)r;
}

static float f_toward(double exact, float rn, int dir) /* dir: 0 zero, 1 up, -1 down */
{
    if ((double)rn == exact || isinf(exact))
        return rn;
    if (dir == 0)
        return fabs((double)rn) > fabs(exact) ? nextafterf(rn, 0) : rn;
    if (dir > 0)
        return (double)rn < exact ? nextafterf(rn, INFINITY) : rn;
    return (double)rn > exact ? nextafterf(rn, -INFINITY) : rn;
}

static void convert_ref(float v, double d, int32_t k, int32_t *o, float *f)
{
    o[0] = f2i(v, rint), o[1] = f2i(v, trunc), o[2] = f2i(v, floor), o[3] = f2i(v, ceil);
    double t = trunc(v);
    o[4] = (int32_t)(t <= 0 ? 0u : t >= 4294967295.0 ? UINT32_MAX : (uint32_t)t);
    double fl = floor(v);
    int64_t ll = fl >= 9.2233720368547758e18 ? INT64_MAX : fl <= -9.2233720368547758e18 ? INT64_MIN
                                                                                       : (int64_t)fl;
    o[5] = (int32_t)(ll >> 32) ^ (int32_t)ll;
    o[6] = o[1];
    o[7] = f2i(d, rint);
    f[0] = f_toward((double)k, (float)k, 0);
    f[1] = (float)k;
    f[2] = f_toward(d, (float)d, -1);
    f[3] = f_toward(d, (float)d, 1);
    f[4] = isnan(v) ? 0 : v < 0 ? 0 : v > 1 ? 1 : v;
    double p = (double)v * (double)1.1f; /* exact: 24 x 24 bits */
    f[5] = f_toward(p, (float)p, 0);
    f[6] = f_toward(p, (float)p, 1);
    f[7] = (float)d;
}

static float special_float(void)
{
    static const float specials[] = {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 1e10f, -1e10f, 3e9f,
                                     INFINITY, -INFINITY, 0.0f, -0.0f, 0.999f, 1.001f};
    switch (kt_rand() % 4) {
    case 0: return specials[kt_rand() % (sizeof specials / sizeof specials[0])];
    case 1: return (float)kt_randi(-1000, 1000) + 0.5f; /* ties */
    default: return kt_randf(-2000, 2000);
    }
}

static int case_convert_round(void)
{
    int n = kt_randi(500, 5000);
    float *x = kt_host(4 * n), *fgot = kt_host(32 * n), *fwant = kt_host(32 * n);
    double *d = kt_host(8 * n);
    int32_t *k = kt_host(4 * n), *igot = kt_host(32 * n), *iwant = kt_host(32 * n);
    for (int i = 0; i < n; i++) {
        x[i] = special_float();
        d[i] = kt_randd(-1, 1) * pow(10, kt_randi(-3, 12));
        k[i] = (int32_t)kt_rand();
    }
    CUdeviceptr dx = kt_upload(x, 4 * n), dd = kt_upload(d, 8 * n), dk = kt_upload(k, 4 * n),
                di = kt_alloc(32 * n), df = kt_alloc(32 * n);
    void *params[] = {&dx, &dd, &dk, &di, &df, &n};
    if (!df || kt_run(kt_func("conv", "convert_round"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(igot, di, 32 * n) || kt_download(fgot, df, 32 * n))
        return 1;
    for (int i = 0; i < n; i++)
        convert_ref(x[i], d[i], k[i], iwant + 8 * i, fwant + 8 * i);
    /* per element: f2i rn,rz,rd,ru; f2u rz; f2ll rd (folded); (int); d2i rn | i2f rz, rn;
     * d2f rd, ru; saturatef; fmul rz, ru; (float)double */
    return kt_expect_i32("int conversions (8 per element)", igot, iwant, 8 * n) ||
           kt_expect_f32("float conversions (8 per element)", fgot, fwant, 8 * n, 0, 0);
}

/* ---- simd.cu ------------------------------------------------------------------------------ */

static uint32_t bytewise(uint32_t x, uint32_t y, int absdiff)
{
    uint32_t r = 0;
    for (int k = 0; k < 32; k += 8) {
        uint32_t a = (x >> k) & 0xff, b = (y >> k) & 0xff;
        r |= ((absdiff ? (a > b ? a - b : b - a) : a + b) & 0xff) << k;
    }
    return r;
}

static void simd_ref(uint32_t x, uint32_t y, uint32_t *o)
{
    uint64_t xy = (uint64_t)x << 32 | y, rev = 0;
    int32_t dp = 17;
    for (int k = 0; k < 32; k += 8)
        dp += (int8_t)(x >> k) * (int8_t)(y >> k);
    for (int k = 0; k < 64; k++)
        rev |= ((xy >> k) & 1) << (63 - k);
    int64_t diff = (int64_t)(int32_t)x - (int32_t)y;
    uint64_t shifted = xy >> (y & 63);
    int64_t s = (int64_t)(xy - ((uint64_t)y * 3u << 31)), lx = (int64_t)x;
    uint64_t abs_s = s < 0 ? -(uint64_t)s : (uint64_t)s;
    int32_t sx = (int32_t)(x << 8) >> 8, sy = (int32_t)(y << 8) >> 8;
    int64_t sum = (int64_t)(int32_t)x + (int32_t)y;
    o[0] = (uint32_t)dp;
    o[1] = bytewise(x, y, 0);
    o[2] = bytewise(x, y, 1);
    o[3] = (uint32_t)(diff < 0 ? -diff : diff) + 5u;
    o[4] = (uint32_t)__builtin_ffs((int)(x & y));
    o[5] = shifted ? (uint32_t)__builtin_clzll(shifted) : 64;
    o[6] = (uint32_t)(rev >> 16);
    o[7] = (uint32_t)((int64_t)sx * sy);
    o[8] = (uint32_t)((uint64_t)(x & 0xffffff) * (y & 0xffffff));
    o[9] = (uint32_t)(int32_t)(sum >> 1) ^ (uint32_t)(int32_t)((sum + 1) >> 1);
    o[10] = (uint32_t)(abs_s >> 7);
    o[11] = (uint32_t)((s < lx ? s : lx) ^ (int64_t)(x > y ? x : y));
}

static int case_simd_ops(void)
{
    int n = kt_randi(1000, 10000);
    uint32_t *a = kt_host(4 * n), *b = kt_host(4 * n), *got = kt_host(48 * n), *want = kt_host(48 * n);
    for (int i = 0; i < n; i++)
        a[i] = kt_rand(), b[i] = kt_rand() >> (kt_rand() % 4 * 8);
    CUdeviceptr da = kt_upload(a, 4 * n), db = kt_upload(b, 4 * n), dout = kt_alloc(48 * n);
    void *params[] = {&da, &db, &dout, &n};
    if (!dout || kt_run(kt_func("simd", "simd_ops"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 48 * n))
        return 1;
    for (int i = 0; i < n; i++)
        simd_ref(a[i], b[i], want + 12 * i);
    /* per element: dp4a, vadd4, vabsdiffu4, sad, ffs, clzll, brevll, mul24, umul24,
     * hadd^rhadd, llabs, llmin^umax */
    return kt_expect_u32("simd_ops (12 per element)", got, want, 12 * n);
}

/* ---- mathx.cu ----------------------------------------------------------------------------- */

static int case_math_double(void)
{
    static const char *names[] = {"sin", "cos", "exp", "log", "pow", "sqrt", "erf", "div"};
    int n = kt_randi(500, 5000);
    double *x = kt_host(8 * n), *got = kt_host(64 * n);
    for (int i = 0; i < n; i++)
        x[i] = kt_randd(0.1, 10);
    CUdeviceptr dx = kt_upload(x, 8 * n), dout = kt_alloc(64 * n);
    void *params[] = {&dx, &dout, &n};
    if (!dout || kt_run(kt_func("mathx", "math_double"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 64 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        double v = x[i], w[8] = {sin(v), cos(v), exp(v), log(v), pow(v, 1.37), sqrt(v),
                                 erf(v - 5.0), v / 3.0};
        for (int k = 0; k < 8; k++) { /* CUDA: <= 2 ulp; sqrt and division exact */
            double tol = k >= 5 && k != 6 ? 0 : 4e-15, g = got[8 * i + k];
            if (!(fabs(g - w[k]) <= tol * fabs(w[k])))
                return kt_fail("%s(%.17g) = %.17g, expected %.17g", names[k], v, g, w[k]);
        }
    }
    return 0;
}

static int case_math_float_more(void)
{
    static const char *names[] = {"powf", "atan2f", "erff", "expm1f", "log1pf", "cbrtf",
                                  "hypotf", "fmodf"};
    int n = kt_randi(500, 5000);
    float *x = kt_host(4 * n), *y = kt_host(4 * n), *got = kt_host(32 * n);
    for (int i = 0; i < n; i++)
        x[i] = kt_randf(0.1f, 10), y[i] = kt_randf(-5, 5);
    CUdeviceptr dx = kt_upload(x, 4 * n), dy = kt_upload(y, 4 * n), dout = kt_alloc(32 * n);
    void *params[] = {&dx, &dy, &dout, &n};
    if (!dout || kt_run(kt_func("mathx", "math_float_more"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 32 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        double v = x[i], w = y[i];
        double want[8] = {pow(v, w), atan2(w, v), erf(w), expm1(w), log1p(v), cbrt(w),
                          hypot(v, w), fmodf(x[i] * 7.0f, 1.3f)};
        for (int k = 0; k < 8; k++) { /* CUDA: 1-3 ulp; fmodf exact */
            double tol = k == 7 ? 0 : 1e-6, g = got[8 * i + k], e = (float)want[k];
            if (!(fabs(g - e) <= tol * fabs(e) + (k == 7 ? 0 : 1e-30)))
                return kt_fail("%s(%.9g, %.9g) = %.9g, expected %.9g", names[k], x[i], y[i], g, e);
        }
    }
    return 0;
}

/* ---- heap.cu ------------------------------------------------------------------------------ */

static int case_heap_sum(void)
{
    int n = kt_randi(100, 2000);
    int32_t *counts = kt_host(4 * n), *got = kt_host(4 * n), *want = kt_host(4 * n);
    for (int i = 0; i < n; i++) {
        counts[i] = kt_randi(1, 64);
        want[i] = i * (counts[i] * (counts[i] - 1) / 2);
    }
    CUdeviceptr dc = kt_upload(counts, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&dc, &dout, &n};
    if (!dout || kt_run(kt_func("heap", "heap_sum"), KT_CEIL_DIV(n, 64), 64, 0, params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    return kt_expect_i32("sum (-1: malloc returned NULL)", got, want, n);
}

/* ---- cxx.cu -------------------------------------------------------------------------------- */

static int case_template_kernels(void)
{
    int n = kt_randi(100, 5000), ia = kt_randi(-50, 50), ib = kt_randi(-1000, 1000);
    double da = kt_randd(-3, 3), db = kt_randd(-10, 10);
    int32_t *iin = kt_host(4 * n), *iout = kt_host(4 * n), *iwant = kt_host(4 * n);
    double *din = kt_host(8 * n), *dout = kt_host(8 * n), *dwant = kt_host(8 * n);
    for (int i = 0; i < n; i++) {
        iin[i] = kt_randi(-100000, 100000), din[i] = kt_randd(-100, 100);
        iwant[i] = ia * iin[i] + ib, dwant[i] = da * din[i] + db;
    }
    CUdeviceptr di = kt_upload(iin, 4 * n), dio = kt_alloc(4 * n), dd = kt_upload(din, 8 * n),
                ddo = kt_alloc(8 * n);
    void *ip[] = {&dio, &di, &ia, &ib, &n}, *dp[] = {&ddo, &dd, &da, &db, &n};
    /* the Itanium-mangled names of axpb<int> and axpb<double> */
    if (!ddo ||
        kt_run(kt_func("cxx", "_Z4axpbIiEvPT_PKS0_S0_S0_i"), KT_CEIL_DIV(n, 128), 128, 0, ip) ||
        kt_run(kt_func("cxx", "_Z4axpbIdEvPT_PKS0_S0_S0_i"), KT_CEIL_DIV(n, 128), 128, 0, dp) ||
        kt_download(iout, dio, 4 * n) || kt_download(dout, ddo, 8 * n))
        return 1;
    /* a * x + b in double may be contracted into one fma on the device */
    return kt_expect_i32("axpb<int>", iout, iwant, n) ||
           kt_expect_f64("axpb<double>", dout, dwant, n, 1e-15, 1e-13);
}

static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static int case_recursion(void)
{
    int n = kt_randi(100, 3000);
    int32_t *in = kt_host(4 * n), *got = kt_host(4 * n), *want = kt_host(4 * n);
    for (int i = 0; i < n; i++)
        in[i] = kt_randi(0, 1000), want[i] = fib(in[i] % 16);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&din, &dout, &n};
    if (!dout || kt_run(kt_func("cxx", "recursion"), KT_CEIL_DIV(n, 64), 64, 0, params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    return kt_expect_i32("fib", got, want, n);
}

/* ---- fnptr.cu ------------------------------------------------------------------------------ */

static int case_function_pointers(void)
{
    int n = kt_randi(100, 3000);
    int32_t *in = kt_host(4 * n), *got = kt_host(4 * n), *want = kt_host(4 * n);
    for (int i = 0; i < n; i++) {
        int v = in[i] = kt_randi(0, 1000);
        want[i] = v % 3 == 0 ? v * v : v % 3 == 1 ? v * v * v : -v;
    }
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&din, &dout, &n};
    if (!dout || kt_run(kt_func("fnptr", "function_pointers"), KT_CEIL_DIV(n, 64), 64, 0, params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    return kt_expect_i32("op(v)", got, want, n);
}

const struct kt_case kt_cases_extra[] = {
    KT_CASE(template_kernels, "cxx"),
    KT_CASE(recursion, "cxx"),
    KT_CASE(function_pointers, "fnptr"),
    KT_CASE(vec4_scale, "memops"),
    KT_CASE(cp_async_reverse, "cpasync"),
    KT_CASE(warp_reduce_match, "redux"),
    KT_CASE(convert_round, "conv"),
    KT_CASE(simd_ops, "simd"),
    KT_CASE(math_double, "mathx"),
    KT_CASE(math_float_more, "mathx"),
    KT_CASE(heap_sum, "heap"),
};
const int kt_ncases_extra = sizeof kt_cases_extra / sizeof kt_cases_extra[0];
