/*
 * Corpus cases for number formats and bit-level work: double precision, half and bfloat16,
 * integer intrinsics and 64-bit division, single-precision math (accurate and fast), a WMMA
 * f16 GEMM tile, and warp votes and shuffles. References are computed in C (half with GCC's
 * _Float16, bf16 rounding by hand); tolerances follow the CUDA programming guide's error bounds.
 *
 * May call: the harness (harness.h), the CUDA driver API, libc, libm.
 */
#include "harness.h"

#include <math.h>
#include <string.h>

/* ---- fp64.cu ------------------------------------------------------------------------------ */

static int case_daxpy(void)
{
    int n = kt_randi(1000, 40000);
    double alpha = kt_randd(-3, 3), *x = kt_rand_doubles(n, -1e3, 1e3),
           *y = kt_rand_doubles(n, -1e3, 1e3);
    double *got = kt_host(8 * n);
    CUdeviceptr dx = kt_upload(x, 8 * n), dy = kt_upload(y, 8 * n);
    void *params[] = {&n, &alpha, &dx, &dy};
    if (!dy || kt_run(kt_func("fp64", "daxpy"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dy, 8 * n))
        return 1;
    for (int i = 0; i < n; i++)
        y[i] = fma(alpha, x[i], y[i]);
    return kt_expect_f64("y", got, y, n, 0, 0);
}

static int case_ddot(void)
{
    int n = kt_randi(10000, 100000);
    double *x = kt_rand_doubles(n, -1, 1), *y = kt_rand_doubles(n, -1, 1), zero = 0, got, want = 0;
    CUdeviceptr dx = kt_upload(x, 8 * n), dy = kt_upload(y, 8 * n), dr = kt_upload(&zero, 8);
    void *params[] = {&n, &dx, &dy, &dr};
    if (!dr || kt_run(kt_func("fp64", "ddot"), 24, 256, 0, params) || kt_download(&got, dr, 8))
        return 1;
    for (int i = 0; i < n; i++)
        want += x[i] * y[i];
    return kt_expect_f64("dot", &got, &want, 1, 1e-12, 1e-12);
}

/* ---- fp16.cu ------------------------------------------------------------------------------ */

static int expect_u16(const char *what, const uint16_t *got, const uint16_t *want, int n)
{
    for (int i = 0; i < n; i++)
        if (got[i] != want[i])
            return kt_fail("%s[%d] = 0x%04x, expected 0x%04x (of %d)", what, i, got[i], want[i], n);
    return 0;
}

static float h(float f) { return (float)(_Float16)f; } /* round to half, back to float */

static uint16_t half_bits(float f)
{
    _Float16 v = (_Float16)f;
    uint16_t b;
    memcpy(&b, &v, 2);
    return b;
}

static int case_half_ops(void)
{
    int n = kt_randi(1000, 20000);
    float *a = kt_rand_floats(n, -8, 8), *b = kt_rand_floats(n, -8, 8), *c = kt_rand_floats(n, -8, 8);
    float *out = kt_host(4 * n), *out2 = kt_host(4 * n), *w = kt_host(4 * n), *w2 = kt_host(4 * n);
    uint16_t *bits = kt_host(2 * n), *wbits = kt_host(2 * n);
    CUdeviceptr da = kt_upload(a, 4 * n), db = kt_upload(b, 4 * n), dc = kt_upload(c, 4 * n),
                dout = kt_alloc(4 * n), dout2 = kt_alloc(4 * n), dbits = kt_alloc(2 * n);
    void *params[] = {&da, &db, &dc, &dout, &dout2, &dbits, &n};
    if (!dbits || kt_run(kt_func("fp16", "half_ops"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(out, dout, 4 * n) || kt_download(out2, dout2, 4 * n) ||
        kt_download(bits, dbits, 2 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        float ha = h(a[i]), hb = h(b[i]), hc = h(c[i]);
        float r = (float)(_Float16)((double)ha * hb + hc); /* fma: one rounding */
        r = h(r + h(ha * 0.5f));
        w[i] = r;
        w2[i] = h(ha + hc) + h(hb + hc);
        wbits[i] = half_bits(a[i] * 3.0f);
    }
    return kt_expect_f32("hfma+hadd", out, w, n, 1e-3, 1e-3) ||
           kt_expect_f32("half2 sum", out2, w2, n, 1e-3, 1e-3) ||
           expect_u16("half bits", bits, wbits, n);
}

static uint16_t bf16_bits(float f) /* round to nearest even; inputs are finite */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static float bf(float f)
{
    uint32_t u = (uint32_t)bf16_bits(f) << 16;
    float r;
    memcpy(&r, &u, 4);
    return r;
}

static int case_bf16_ops(void)
{
    int n = kt_randi(1000, 20000);
    float *a = kt_rand_floats(n, -50, 50), *b = kt_rand_floats(n, -50, 50);
    float *out = kt_host(4 * n), *w = kt_host(4 * n);
    uint16_t *bits = kt_host(2 * n), *wbits = kt_host(2 * n);
    CUdeviceptr da = kt_upload(a, 4 * n), db = kt_upload(b, 4 * n), dout = kt_alloc(4 * n),
                dbits = kt_alloc(2 * n);
    void *params[] = {&da, &db, &dout, &dbits, &n};
    if (!dbits || kt_run(kt_func("fp16", "bf16_ops"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(out, dout, 4 * n) || kt_download(bits, dbits, 2 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        float x = bf(a[i]), y = bf(b[i]);
        w[i] = bf(bf(x * y) + x);
        wbits[i] = bf16_bits(b[i]);
    }
    return kt_expect_f32("bf16 mul+add", out, w, n, 8e-3, 0) ||
           expect_u16("bf16 bits", bits, wbits, n);
}

/* ---- intops.cu ---------------------------------------------------------------------------- */

static uint32_t bfe_u32(uint32_t a, unsigned pos, unsigned len)
{
    if (len == 0)
        return 0;
    uint64_t v = (uint64_t)a >> pos;
    return (uint32_t)(len >= 32 ? v : v & ((1ull << len) - 1));
}

static uint32_t bfe_s32(uint32_t a, unsigned pos, unsigned len) /* PTX ISA: bfe */
{
    if (len == 0)
        return 0;
    unsigned sbit_pos = pos + len - 1 < 31 ? pos + len - 1 : 31;
    uint32_t sbit = (a >> sbit_pos) & 1, d = 0;
    for (unsigned i = 0; i < 32; i++) {
        uint32_t bit = (i < len && pos + i <= 31) ? (a >> (pos + i)) & 1 : sbit;
        d |= bit << i;
    }
    return d;
}

static uint32_t byte_perm(uint32_t x, uint32_t y, uint32_t s)
{
    uint64_t bytes = ((uint64_t)y << 32) | x;
    uint32_t r = 0;
    for (int k = 0; k < 4; k++)
        r |= (uint32_t)((bytes >> (8 * ((s >> (4 * k)) & 7))) & 0xff) << (8 * k);
    return r;
}

static uint32_t brev32(uint32_t x)
{
    uint32_t r = 0;
    for (int k = 0; k < 32; k++)
        r |= ((x >> k) & 1) << (31 - k);
    return r;
}

static void int_bits_ref(uint32_t x, uint32_t y, uint32_t *o)
{
    unsigned pos = y & 31, len = (y >> 5) & 15, fs = y & 31;
    uint64_t cat = ((uint64_t)y << 32) | x;
    o[0] = (uint32_t)__builtin_popcount(x);
    o[1] = x ? (uint32_t)__builtin_clz(x) : 32;
    o[2] = brev32(x);
    o[3] = bfe_u32(x, pos, len);
    o[4] = bfe_s32(x, pos, len);
    o[5] = (uint32_t)((cat << fs) >> 32);
    o[6] = (uint32_t)(cat >> fs);
    o[7] = (uint32_t)(((uint64_t)x * y) >> 32);
    o[8] = (uint32_t)(((int64_t)(int32_t)x * (int32_t)y) >> 32);
    o[9] = byte_perm(x, y, 0x5140) ^ (uint32_t)__builtin_popcountll(cat);
}

static int case_int_bits(void)
{
    int n = kt_randi(1000, 20000);
    uint32_t *a = kt_host(4 * n), *b = kt_host(4 * n), *got = kt_host(40 * n), *want = kt_host(40 * n);
    for (int i = 0; i < n; i++) {
        a[i] = kt_rand() >> (kt_rand() % 32); /* leading zeros of every count */
        b[i] = kt_rand();
    }
    a[0] = 0; /* clz(0) and popc(0) */
    CUdeviceptr da = kt_upload(a, 4 * n), db = kt_upload(b, 4 * n), dout = kt_alloc(40 * n);
    void *params[] = {&da, &db, &dout, &n};
    if (!dout || kt_run(kt_func("intops", "int_bits"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 40 * n))
        return 1;
    for (int i = 0; i < n; i++)
        int_bits_ref(a[i], b[i], want + 10 * i);
    /* each output slot i*10+k: k = popc, clz, brev, bfe.u32, bfe.s32, shf.l, shf.r, mul.hi.u32,
     * mul.hi.s32, prmt^popc.b64 */
    return kt_expect_u32("int_bits(10 per element)", got, want, 10 * n);
}

static int case_int64_div(void)
{
    int n = kt_randi(1000, 10000);
    int64_t *a = kt_host(8 * n), *b = kt_host(8 * n), *got = kt_host(48 * n), *want = kt_host(48 * n);
    for (int i = 0; i < n; i++) {
        a[i] = (int64_t)(((uint64_t)kt_rand() << 32 | kt_rand()) >> (kt_rand() % 60));
        a[i] = kt_rand() & 1 && a[i] != INT64_MIN ? -a[i] : a[i];
        do { /* nonzero, and not -1: INT64_MIN / -1 is undefined */
            b[i] = (int64_t)(((uint64_t)kt_rand() << 32 | kt_rand()) >> (kt_rand() % 64));
            b[i] = kt_rand() & 1 && b[i] != INT64_MIN ? -b[i] : b[i];
        } while (b[i] == 0 || b[i] == -1);
    }
    CUdeviceptr da = kt_upload(a, 8 * n), db = kt_upload(b, 8 * n), dout = kt_alloc(48 * n);
    void *params[] = {&da, &db, &dout, &n};
    if (!dout || kt_run(kt_func("intops", "int64_div"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 48 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        int64_t x = a[i], y = b[i], *o = want + 6 * i;
        uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
        o[0] = x / y;
        o[1] = x % y;
        o[2] = (int64_t)(ux / uy);
        o[3] = (int64_t)(ux % uy);
        o[4] = (int64_t)(uint64_t)(((unsigned __int128)ux * uy) >> 64);
        uint64_t hi = (uint64_t)(int64_t)(((__int128)x * y) >> 64);
        o[5] = (int64_t)(hi + (uint64_t)(x >> (y & 63)) + (ux >> (y & 63)));
    }
    return kt_expect_i64("int64_div(6 per element)", got, want, 6 * n);
}

/* ---- mathf.cu ----------------------------------------------------------------------------- */

/* got/want hold `nf` results per input; fails naming the function and its argument. */
static int check_math(const char *const *names, int nf, const float *x, const float *got,
                      const float *want, int n, const double *rtol, const double *atol)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nf; k++) {
            double g = got[nf * i + k], w = want[nf * i + k];
            if (!(fabs(g - w) <= atol[k] + rtol[k] * fabs(w)))
                return kt_fail("%s(%.9g) = %.9g, expected %.9g (element %d)", names[k], x[i], g,
                               w, i);
        }
    return 0;
}

static int case_math_precise(void)
{
    int n = kt_randi(1000, 10000);
    float *x = kt_rand_floats(n, 0.01f, 10), *got = kt_host(32 * n), *want = kt_host(32 * n);
    CUdeviceptr dx = kt_upload(x, 4 * n), dout = kt_alloc(32 * n);
    void *params[] = {&dx, &dout, &n};
    if (!dout || kt_run(kt_func("mathf", "math_precise"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 32 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        double v = x[i];
        float *w = want + 8 * i;
        w[0] = (float)sqrt(v), w[1] = (float)exp(v), w[2] = (float)log(v);
        w[3] = (float)sin(v), w[4] = (float)cos(v), w[5] = (float)(1 / sqrt(v));
        w[6] = x[i] / (x[i] + 1.5f), w[7] = (float)tanh(v - 5);
    }
    /* sqrtf and division are correctly rounded; the others are within 2 ulp (1e-6 relative
     * leaves room for that) or, near zero, within a few 1e-7 absolute. */
    static const char *names[] = {"sqrtf", "expf", "logf", "sinf", "cosf", "rsqrtf", "division",
                                  "tanhf"};
    static const double rtol[] = {0, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 0, 1e-6};
    static const double atol[] = {0, 0, 5e-7, 5e-7, 5e-7, 0, 0, 5e-7};
    return check_math(names, 8, x, got, want, n, rtol, atol);
}

static int case_math_fast(void)
{
    int n = kt_randi(1000, 10000);
    float *x = kt_rand_floats(n, 0.01f, 10), *got = kt_host(20 * n);
    CUdeviceptr dx = kt_upload(x, 4 * n), dout = kt_alloc(20 * n);
    void *params[] = {&dx, &dout, &n};
    if (!dout || kt_run(kt_func("mathf", "math_fast"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 20 * n))
        return 1;
    static const char *names[] = {"__expf", "__logf", "__sinf", "__cosf", "__fdividef"};
    /* Guide bounds: __expf 2 + 1.17*|x| ulp; __logf 2^-21.4 abs near 1, else 3 ulp; __sinf and
     * __cosf 2^-21.4 abs on [-pi, pi], growing with |x| outside; __fdividef 2 ulp. */
    static const double rtol[] = {2e-5, 1e-5, 0, 0, 1e-6}, atol[] = {0, 1e-6, 2e-5, 2e-5, 0};
    float *want = kt_host(20 * n);
    for (int i = 0; want && i < n; i++) {
        double v = x[i];
        float *w = want + 5 * i;
        w[0] = (float)exp(v), w[1] = (float)log(v), w[2] = (float)sin(v), w[3] = (float)cos(v);
        w[4] = (float)(v / (v + 2.0));
    }
    return !want || check_math(names, 5, x, got, want, n, rtol, atol);
}

/* ---- wmma.cu ------------------------------------------------------------------------------ */

static int case_wmma_gemm(void)
{
    int M = 16 * kt_randi(1, 3), N = 16 * kt_randi(1, 3), K = 16 * kt_randi(1, 4);
    _Float16 *A = kt_host(2 * M * K), *B = kt_host(2 * K * N); /* A row-major, B column-major */
    float *got = kt_host(4 * M * N), *want = kt_host(4 * M * N);
    for (int i = 0; i < M * K; i++)
        A[i] = (_Float16)kt_randf(-1, 1);
    for (int i = 0; i < K * N; i++)
        B[i] = (_Float16)kt_randf(-1, 1);
    CUdeviceptr dA = kt_upload(A, 2 * M * K), dB = kt_upload(B, 2 * K * N), dC = kt_alloc(4 * M * N);
    void *params[] = {&dA, &dB, &dC, &M, &N, &K};
    CUfunction f = kt_func("wmma", "wmma_gemm");
    if (!f || !dC)
        return 1;
    KT_CHECK(kt_launch(f, N / 16, M / 16, 1, 32, 1, 1, 0, params));
    if (kt_download(got, dC, 4 * M * N))
        return 1;
    for (int m = 0; m < M; m++)
        for (int c = 0; c < N; c++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)A[m * K + k] * (double)B[c * K + k];
            want[m * N + c] = (float)acc;
        }
    return kt_expect_f32("C", got, want, M * N, 1e-4, 1e-4);
}

/* ---- mma.cu ------------------------------------------------------------------------------- */

static int case_mma_sync_tile(void)
{
    int tiles = kt_randi(1, 6);
    _Float16 *A = kt_host(2 * 256 * tiles), *B = kt_host(2 * 128 * tiles);
    float *C = kt_host(4 * 128 * tiles), *got = kt_host(4 * 128 * tiles),
          *want = kt_host(4 * 128 * tiles);
    for (int i = 0; i < 256 * tiles; i++)
        A[i] = (_Float16)kt_randf(-1, 1);
    for (int i = 0; i < 128 * tiles; i++)
        B[i] = (_Float16)kt_randf(-1, 1), C[i] = kt_randf(-4, 4);
    CUdeviceptr dA = kt_upload(A, 2 * 256 * tiles), dB = kt_upload(B, 2 * 128 * tiles),
                dC = kt_upload(C, 4 * 128 * tiles), dD = kt_alloc(4 * 128 * tiles);
    void *params[] = {&dA, &dB, &dC, &dD};
    if (!dD || kt_run(kt_func("mma", "mma_sync_tile"), tiles, 32, 0, params) ||
        kt_download(got, dD, 4 * 128 * tiles))
        return 1;
    for (int t = 0; t < tiles; t++)
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++) {
                double acc = C[128 * t + m * 8 + n];
                for (int k = 0; k < 16; k++)
                    acc += (double)A[256 * t + m * 16 + k] * (double)B[128 * t + n * 16 + k];
                want[128 * t + m * 8 + n] = (float)acc;
            }
    return kt_expect_f32("D", got, want, 128 * tiles, 1e-4, 1e-4);
}

/* ---- warp.cu ------------------------------------------------------------------------------ */

static int case_warp_vote(void)
{
    enum { BLOCK = 128 };
    int n = kt_randi(500, 5000), total = KT_CEIL_DIV(n, BLOCK) * BLOCK;
    int32_t *in = kt_host(4 * n), *votes = kt_host(4 * n), *wvotes = kt_host(4 * n);
    uint32_t *ballots = kt_host(8 * n), *wballots = kt_host(8 * n);
    for (int i = 0; i < n; i++) { /* per warp: mixed, all >= 0, all > 0 */
        int mode = (i / 32) % 3;
        in[i] = mode == 0 ? kt_randi(-5, 200) : mode == 1 ? kt_randi(0, 100) : kt_randi(1, 200);
    }
    CUdeviceptr din = kt_upload(in, 4 * n), db = kt_alloc(8 * n), dv = kt_alloc(4 * n);
    void *params[] = {&din, &db, &dv, &n};
    if (!dv || kt_run(kt_func("warp", "warp_vote"), total / BLOCK, BLOCK, 0, params) ||
        kt_download(ballots, db, 8 * n) || kt_download(votes, dv, 4 * n))
        return 1;
    for (int base = 0; base < n; base += 32) {
        uint32_t ballot = 0, odd = 0;
        int any = 0, all = 1;
        for (int l = 0; l < 32; l++) {
            int v = base + l < n ? in[base + l] : 0;
            ballot |= (uint32_t)(v > 0) << l;
            odd |= (uint32_t)(v & 1) << l;
            any |= v > 100;
            all &= v >= 0;
        }
        for (int l = 0; l < 32 && base + l < n; l++) {
            wballots[base + l] = ballot;
            wvotes[base + l] = any | all << 1 | __builtin_popcount(ballot) << 2;
            /* __activemask() inside `if (v & 1)`: the lanes that took the branch */
            wballots[n + base + l] = in[base + l] & 1 ? odd : 0;
        }
    }
    return kt_expect_u32("ballot", ballots, wballots, n) ||
           kt_expect_i32("any|all<<1|popc<<2", votes, wvotes, n) ||
           kt_expect_u32("activemask", ballots + n, wballots + n, n);
}

static int case_block_vote(void)
{
    int block = 32 * kt_randi(1, 32), grid = kt_randi(1, 30), n = block * grid;
    int32_t *in = kt_host(4 * n), *got = kt_host(4 * grid), *want = kt_host(4 * grid);
    for (int b = 0; b < grid; b++) { /* per block: mixed, all >= 0, all > 0 */
        int mode = b % 3;
        for (int t = 0; t < block; t++)
            in[b * block + t] = mode == 0 ? kt_randi(-5, 200) : mode == 1 ? kt_randi(0, 100)
                                                                          : kt_randi(1, 200);
    }
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * grid);
    void *params[] = {&din, &dout};
    if (!dout || kt_run(kt_func("warp", "block_vote"), grid, block, 0, params) ||
        kt_download(got, dout, 4 * grid))
        return 1;
    for (int b = 0; b < grid; b++) {
        int count = 0, all = 1, any = 0;
        for (int t = 0; t < block; t++) {
            int v = in[b * block + t];
            count += v > 0, all &= v >= 0, any |= v > 100;
        }
        want[b] = count | all << 16 | any << 17;
    }
    return kt_expect_i32("count|all<<16|any<<17", got, want, grid);
}

static int case_shfl_variants(void)
{
    enum { BLOCK = 96 };
    int n = BLOCK * kt_randi(1, 20);
    int32_t *in = kt_host(4 * n), *got = kt_host(24 * n), *want = kt_host(24 * n);
    for (int i = 0; i < n; i++)
        in[i] = (int32_t)kt_rand();
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(24 * n);
    void *params[] = {&din, &dout, &n};
    if (!dout || kt_run(kt_func("warp", "shfl_variants"), n / BLOCK, BLOCK, 0, params) ||
        kt_download(got, dout, 24 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        int l = i % 32, w = i - l, *o = want + 6 * i;
        o[0] = in[w + ((l * 7) & 31)];
        o[1] = l >= 3 ? in[i - 3] : in[i];
        o[2] = l + 5 < 32 ? in[i + 5] : in[i];
        o[3] = in[w + (l ^ 9)];
        o[4] = in[w + (l / 8) * 8 + (l + 1) % 8];
        o[5] = l % 16 + 2 < 16 ? in[i + 2] : in[i];
    }
    return kt_expect_i32("idx,up,down,xor,idx/8,down/16", got, want, 6 * n);
}

const struct kt_case kt_cases_numeric[] = {
    KT_CASE(daxpy, "fp64"),
    KT_CASE(ddot, "fp64"),
    KT_CASE(half_ops, "fp16"),
    KT_CASE(bf16_ops, "fp16"),
    KT_CASE(int_bits, "intops"),
    KT_CASE(int64_div, "intops"),
    KT_CASE(math_precise, "mathf"),
    KT_CASE(math_fast, "mathf"),
    KT_CASE(wmma_gemm, "wmma"),
    KT_CASE(mma_sync_tile, "mma"),
    KT_CASE(warp_vote, "warp"),
    KT_CASE(shfl_variants, "warp"),
    KT_CASE(block_vote, "warp"),
};
const int kt_ncases_numeric = sizeof kt_cases_numeric / sizeof kt_cases_numeric[0];
