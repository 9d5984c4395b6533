/*
 * Corpus cases for the sm_80/sm_90 instructions and predefined registers that CUDA libraries
 * emit: warp-aggregated atomics through cooperative groups on partially active warps
 * (warpagg.cu), mbarrier, cp.async.bulk and elect.sync (bulkcopy.cu), ldmatrix/stmatrix and
 * the integer, tf32, fp8 and f64 mma shapes (mmaext.cu), bmsk/szext, the packed fp8
 * conversions and the predefined identifiers and special registers (bitfield.cu).
 *
 * May call: the harness (harness.h), the CUDA driver API, libc, libm.
 */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- warpagg.cu --------------------------------------------------------------------------- */

/* Fails unless the n values of v that are >= 0 are exactly 0..count-1, each once. */
static int expect_permutation(const char *what, const int32_t *v, int n, int count)
{
    char *seen = kt_host((size_t)count + 1);
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (v[i] < 0)
            continue;
        if (v[i] >= count || seen[v[i]])
            return kt_fail("%s[%d] = %d: outside 0..%d or taken twice", what, i, v[i], count - 1);
        seen[v[i]] = 1;
        found++;
    }
    return found == count ? 0 : kt_fail("%s: %d slots handed out, want %d", what, found, count);
}

static int case_agg_slots(void)
{
    int n = kt_randi(100, 5000), zero[2] = {0, 0}, got_ctr[2], want_ctr[2] = {0, 0};
    int32_t *in = kt_rand_ints(n, 0, 1000), *slot = kt_host(32 * (size_t)n);
    int32_t *mine = kt_host(32 * (size_t)n);
    CUdeviceptr din = kt_upload(in, 4 * n), dc = kt_upload(zero, 8), ds = kt_alloc(32 * n);
    void *params[] = {&din, &dc, &ds, &n};
    if (!ds || kt_run(kt_func("warpagg", "agg_slots"), KT_CEIL_DIV(n, 96), 96, 0, params) ||
        kt_download(got_ctr, dc, 8) || kt_download_sched(slot, ds, 32 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        want_ctr[0] += (in[i] & 1) ? 1 + (in[i] & 3) : 0;
        want_ctr[1] += in[i] % 3 == 0 ? 1 + (in[i] & 3) : 0;
    }
    if (kt_expect_i32("counters", got_ctr, want_ctr, 2))
        return 1;
    for (int c = 0; c < 2; c++) {
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 4; k++) {
                int took = (c == 0 ? in[i] & 1 : in[i] % 3 == 0) && k <= (in[i] & 3);
                mine[4 * i + k] = took ? slot[8 * i + 4 * c + k] : -1;
            }
        if (expect_permutation(c == 0 ? "counter 0 slots" : "counter 1 slots", mine, 4 * n,
                               want_ctr[c]))
            return 1;
    }
    return 0;
}

static int case_agg_by_key(void)
{
    int n = kt_randi(100, 5000), bins[8] = {0}, want[8] = {0};
    int32_t *in = kt_rand_ints(n, -300, 1000), *rank = kt_host(4 * (size_t)n);
    int32_t *mine = kt_host(4 * (size_t)n);
    CUdeviceptr din = kt_upload(in, 4 * n), db = kt_upload(bins, 32), dr = kt_alloc(4 * n);
    void *params[] = {&din, &db, &dr, &n};
    if (!dr || kt_run(kt_func("warpagg", "agg_by_key"), KT_CEIL_DIV(n, 64), 64, 0, params) ||
        kt_download(bins, db, 32) || kt_download(rank, dr, 4 * n))
        return 1;
    for (int i = 0; i < n; i++)
        want[in[i] & 7] += in[i] >= 0;
    if (kt_expect_i32("bins", bins, want, 8))
        return 1;
    for (int key = 0; key < 8; key++) {
        for (int i = 0; i < n; i++)
            mine[i] = in[i] >= 0 && (in[i] & 7) == key ? rank[i] : -1;
        if (expect_permutation("ranks of a key", mine, n, want[key]))
            return 1;
    }
    return 0;
}

static int case_agg_reduce(void)
{
    int n = kt_randi(100, 5000);
    int32_t *in = kt_rand_ints(n, -1000, 1000), *got = kt_host(20 * (size_t)n);
    int32_t *want = kt_host(20 * (size_t)n);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(20 * n);
    void *params[] = {&din, &dout, &n};
    if (!dout || kt_run(kt_func("warpagg", "agg_reduce"), KT_CEIL_DIV(n, 128), 128, 0, params) ||
        kt_download(got, dout, 20 * n))
        return 1;
    memset(want, 0xff, 20 * (size_t)n);
    for (int w = 0; w < n; w += 32) {
        int sum = 0, max = INT32_MIN, size = 0, scan = 0;
        for (int i = w; i < w + 32 && i < n; i++)
            if (in[i] % 5 == 0 || (in[i] & 2)) {
                sum += in[i];
                max = in[i] > max ? in[i] : max;
                size++;
            }
        for (int i = w, rank = 0; i < w + 32 && i < n; i++)
            if (in[i] % 5 == 0 || (in[i] & 2)) {
                scan += in[i];
                int32_t *o = &want[5 * i];
                o[0] = sum, o[1] = max, o[2] = scan, o[3] = size, o[4] = rank++;
            }
    }
    return kt_expect_i32("sum, max, scan, size, rank", got, want, 5 * (size_t)n);
}

static int cmp_int(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int case_agg_filter(void)
{
    int n = kt_randi(100, 20000), count = 0, got_count, zero = 0;
    int32_t *src = kt_rand_ints(n, -1000, 1000), *got = kt_host(4 * (size_t)n);
    int32_t *want = kt_host(4 * (size_t)n);
    CUdeviceptr dsrc = kt_upload(src, 4 * n), ddst = kt_alloc(4 * n), dn = kt_upload(&zero, 4);
    void *params[] = {&ddst, &dn, &dsrc, &n};
    if (!dn || kt_run(kt_func("warpagg", "agg_filter"), kt_randi(1, 8), 128, 0, params) ||
        kt_download(&got_count, dn, 4))
        return 1;
    for (int i = 0; i < n; i++)
        if (src[i] > 0)
            want[count++] = src[i];
    if (kt_expect_i32("count", &got_count, &count, 1) ||
        kt_download_sched(got, ddst, 4 * count))
        return 1;
    qsort(got, (size_t)count, 4, cmp_int); /* the order depends on the schedule */
    kt_digest(got, 4 * (size_t)count);
    qsort(want, (size_t)count, 4, cmp_int);
    return kt_expect_i32("compacted values (sorted)", got, want, (size_t)count);
}

static int case_agg_bins(void)
{
    int n = kt_randi(100, 5000), bins[8] = {0}, want[8] = {0};
    int32_t *src = kt_rand_ints(n, 0, 1000), *rank = kt_host(4 * (size_t)n);
    int32_t *mine = kt_host(4 * (size_t)n);
    CUdeviceptr dsrc = kt_upload(src, 4 * n), db = kt_upload(bins, 32), dr = kt_alloc(4 * n);
    void *params[] = {&dsrc, &db, &dr, &n};
    if (!dr || kt_run(kt_func("warpagg", "agg_bins"), KT_CEIL_DIV(n, 64), 64, 0, params) ||
        kt_download(bins, db, 32) || kt_download(rank, dr, 4 * n))
        return 1;
    for (int i = 0; i < n; i++)
        want[src[i] & 7] += src[i] % 3 != 0;
    if (kt_expect_i32("bins", bins, want, 8))
        return 1;
    for (int b = 0; b < 8; b++) {
        for (int i = 0; i < n; i++)
            mine[i] = src[i] % 3 != 0 && (src[i] & 7) == b ? rank[i] : -1;
        if (expect_permutation("ranks in a bin", mine, n, want[b]))
            return 1;
    }
    return 0;
}

static int case_agg_shuffle(void)
{
    int n = kt_randi(100, 5000);
    int32_t *in = kt_rand_ints(n, 0, 1000), *got = kt_host(24 * (size_t)n);
    int32_t *want = kt_host(24 * (size_t)n), idx[32];
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(24 * n);
    void *params[] = {&din, &dout, &n};
    if (!dout || kt_run(kt_func("warpagg", "agg_shuffle"), KT_CEIL_DIV(n, 96), 96, 0, params) ||
        kt_download(got, dout, 24 * n))
        return 1;
    memset(want, 0xff, 24 * (size_t)n);
    for (int w = 0; w < n; w += 32) {
        int size = 0, any = 0, all = 1;
        for (int i = w; i < w + 32 && i < n; i++)
            if (in[i] & 4) {
                idx[size++] = i;
                any |= in[i] > 900;
                all &= in[i] > 100;
            }
        for (int r = 0; r < size; r++) {
            int32_t *o = &want[6 * idx[r]];
            o[0] = in[idx[size - 1]];
            o[1] = in[idx[(r + 1) % size]];
            o[2] = in[idx[r + 1 < size ? r + 1 : r]];
            o[3] = in[idx[r >= 2 ? r - 2 : r]];
            o[4] = any, o[5] = all;
        }
    }
    return kt_expect_i32("last, next, down 1, up 2, any, all", got, want, 6 * (size_t)n);
}

/* ---- bulkcopy.cu -------------------------------------------------------------------------- */

static int case_bulk_tile(void)
{
    int grid = kt_randi(1, 12), n = 1024 * grid, block = 32 * kt_randi(1, 8);
    float *in = kt_rand_floats(n, -100, 100), *got = kt_host(4 * (size_t)n);
    float *want = kt_host(4 * (size_t)n);
    CUdeviceptr din = kt_upload(in, 4 * n), dout = kt_alloc(4 * n);
    void *params[] = {&din, &dout};
    if (!dout || kt_run(kt_func("bulkcopy", "bulk_tile"), grid, block, 0, params) ||
        kt_download(got, dout, 4 * n))
        return 1;
    for (int i = 0; i < n; i++)
        want[i] = 2.0f * in[i] + 1.0f;
    return kt_expect_f32("2x+1 through bulk copies", got, want, n, 0, 0);
}

static int case_mbarrier_phases(void)
{
    /* pending count after 1 of 3 arrivals; both tokens of a completed phase; a phase waiting
     * on 16 transaction bytes, then complete; arrive_drop; cp.async.mbarrier.arrive without
     * and with .noinc; elect.sync's leader (lane 1 of members ~1) seen by lanes 0 and 1 */
    uint32_t got[9], want[9] = {2, 11, 0, 1, 1, 1, 1, 0, 2};
    CUdeviceptr df = kt_alloc(sizeof got);
    void *params[] = {&df};
    if (!df || kt_run(kt_func("bulkcopy", "mbarrier_phases"), 1, 32, 0, params) ||
        kt_download(got, df, sizeof got))
        return 1;
    return kt_expect_u32("observations", got, want, 9);
}

/* ---- mmaext.cu ---------------------------------------------------------------------------- */

static int case_ldst_matrix(void)
{
    uint16_t *in = kt_host(1024), *out = kt_host(2048), *want_out = kt_host(2048);
    uint32_t *frag = kt_host(4 * 352), *want = kt_host(4 * 352);
    for (int i = 0; i < 512; i++)
        in[i] = (uint16_t)kt_rand();
    CUdeviceptr din = kt_upload(in, 1024), df = kt_alloc(4 * 352), dout = kt_alloc(2048);
    void *params[] = {&din, &df, &dout};
    if (!dout || kt_run(kt_func("mmaext", "ldst_matrix"), 1, 32, 0, params) ||
        kt_download(frag, df, 4 * 352) || kt_download(out, dout, 2048))
        return 1;
#define M(r, i, c) in[(8 * (r) + (i)) * 16 + ((r) % 2) * 8 + (c)] /* matrix r, row i, column c */
    for (int L = 0; L < 32; L++)
        for (int r = 0; r < 4; r++) {
            int g = L / 4, c = 2 * (L % 4);
            want[L * 4 + r] = M(r, g, c) | (uint32_t)M(r, g, c + 1) << 16;
            want[128 + L * 4 + r] = M(r, c, g) | (uint32_t)M(r, c + 1, g) << 16;
        }
    for (int L = 0; L < 32; L++) {
        want[256 + L] = want[L * 4];
        want[288 + 2 * L] = want[128 + L * 4];
        want[288 + 2 * L + 1] = want[128 + L * 4 + 1];
    }
    memcpy(want_out, out, 2048); /* shared memory stmatrix does not write keeps its contents */
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < 8; i++)
            for (int c = 0; c < 8; c++) {
                want_out[(8 * r + i) * 16 + (r % 2) * 8 + c] = M(r, i, c);
                want_out[512 + (8 * r + i) * 16 + (r % 2) * 8 + c] = M(r, c, i);
            }
#undef M
    if (kt_expect_u32("fragments (x4, x4.trans, x1, x2.trans)", frag, want, 352))
        return 1;
    for (int i = 0; i < 1024; i++)
        if (out[i] != want_out[i])
            return kt_fail("stmatrix%s: element %d = 0x%x, want 0x%x", i >= 512 ? ".trans" : "",
                           i % 512, out[i], want_out[i]);
    return 0;
}

/* An mma form: shape, element width of A/B (bits), their decoders, accumulator kind. */
struct mma_form {
    const char *kernel;
    int m, k, bits;
    double (*a)(uint32_t, int), (*b)(uint32_t, int);
    int acc; /* 0 s32, 1 f32 */
    int sat;
};

static double el_s8(uint32_t r, int j) { return (int8_t)(r >> (8 * j)); }
static double el_u8(uint32_t r, int j) { return (uint8_t)(r >> (8 * j)); }
static double el_s4(uint32_t r, int j) { return (int32_t)(r << (28 - 4 * j)) >> 28; }
static double el_u4(uint32_t r, int j) { return (r >> (4 * j)) & 15; }
static double el_tf32(uint32_t r, int j)
{
    (void)j;
    float f;
    r &= 0xffffe000u;
    memcpy(&f, &r, 4);
    return f;
}
static double fp8_value(uint8_t v, int ebits) /* e4m3 (ebits 4) or e5m2 (5), finite codes only */
{
    int mb = 7 - ebits, bias = ebits == 4 ? 7 : 15, e = (v >> mb) & ((1 << ebits) - 1);
    int m = v & ((1 << mb) - 1);
    double r = e ? ldexp(1.0 + ldexp(m, -mb), e - bias) : ldexp(m, 1 - bias - mb);
    return v & 0x80 ? -r : r;
}
static double el_e4m3(uint32_t r, int j) { return fp8_value((uint8_t)(r >> (8 * j)), 4); }
static double el_e5m2(uint32_t r, int j) { return fp8_value((uint8_t)(r >> (8 * j)), 5); }

/* Random register contents: small magnitudes for the float forms, so every sum is exact. */
static uint32_t rand_reg(const struct mma_form *f, int is_b)
{
    if (f->bits == 32) {
        float v = (float)kt_randi(-8, 8);
        uint32_t u;
        memcpy(&u, &v, 4);
        return u;
    }
    if (f->a == el_e4m3) { /* exponent fields 6..9 (e4m3) / 14..17 (e5m2): 0.5 .. 8 */
        uint32_t r = 0;
        for (int j = 0; j < 4; j++) {
            uint32_t e = is_b ? 14u + (kt_rand() & 3) : 6u + (kt_rand() & 3);
            uint32_t byte = is_b ? (e << 2) | (kt_rand() & 3) : (e << 3) | (kt_rand() & 7);
            r |= (byte | (kt_rand() & 0x80)) << (8 * j);
        }
        return r;
    }
    return kt_rand();
}

static int run_mma_form(const struct mma_form *f)
{
    int P = 32 / f->bits, na = f->m == 8 ? 1 : f->k / (2 * P), nb = f->m == 8 ? 1 : f->k / (4 * P);
    int nc = f->m == 8 ? 2 : 4;
    uint32_t a[32][4], b[32][2], c[32][4], d[32][4], want[32][4];
    double A[16][64], B[64][8], C[16][8];
    for (int L = 0; L < 32; L++) {
        for (int r = 0; r < 4; r++) {
            a[L][r] = rand_reg(f, 0);
            c[L][r] = f->acc ? (uint32_t)0 : kt_rand() >> kt_randi(0, 31);
        }
        b[L][0] = rand_reg(f, 1), b[L][1] = rand_reg(f, 1);
    }
    for (int L = 0; L < 32; L++) { /* the ISA's fragment layouts */
        int g = L / 4, t = L % 4;
        for (int r = 0; r < na; r++)
            for (int j = 0; j < P; j++)
                A[g + (f->m == 8 ? 0 : 8 * (r % 2))][P * t + 4 * P * (r / 2) + j] = f->a(a[L][r], j);
        for (int r = 0; r < nb; r++)
            for (int j = 0; j < P; j++)
                B[P * t + 4 * P * r + j][g] = f->b(b[L][r], j);
        for (int i = 0; i < nc; i++)
            C[f->m == 8 ? g : g + 8 * (i / 2)][2 * t + (f->m == 8 ? i : i % 2)] =
                f->acc ? 0 : (double)(int32_t)c[L][i];
    }
    for (int L = 0; L < 32; L++)
        for (int i = 0; i < nc; i++) {
            int row = f->m == 8 ? L / 4 : L / 4 + 8 * (i / 2), col = 2 * (L % 4) + (f->m == 8 ? i : i % 2);
            double sum = C[row][col];
            for (int k = 0; k < f->k; k++)
                sum += A[row][k] * B[k][col];
            if (f->acc) {
                float v = (float)sum;
                memcpy(&want[L][i], &v, 4);
            } else {
                if (f->sat)
                    sum = sum > INT32_MAX ? INT32_MAX : sum < INT32_MIN ? INT32_MIN : sum;
                want[L][i] = (uint32_t)(int64_t)sum;
            }
        }
    uint32_t pa[128], pb[64], pc[128], pw[128];
    for (int L = 0; L < 32; L++) {
        for (int r = 0; r < na; r++) pa[L * na + r] = a[L][r];
        for (int r = 0; r < nb; r++) pb[L * nb + r] = b[L][r];
        for (int i = 0; i < nc; i++) pc[L * nc + i] = c[L][i], pw[L * nc + i] = want[L][i];
    }
    CUdeviceptr da = kt_upload(pa, 4 * 32 * na), db = kt_upload(pb, 4 * 32 * nb);
    CUdeviceptr dc = kt_upload(pc, 4 * 32 * nc), dd = kt_alloc(4 * 32 * nc);
    void *params[] = {&da, &db, &dc, &dd};
    if (!dd || kt_run(kt_func("mmaext", f->kernel), 1, 32, 0, params) ||
        kt_download(d, dd, 4 * 32 * nc))
        return 1;
    return kt_expect_u32(f->kernel, &d[0][0], pw, 32 * (size_t)nc);
}

static int case_mma_int_tf32_fp8(void)
{
    static const struct mma_form forms[] = {
        {"mma_s8_k32", 16, 32, 8, el_s8, el_s8, 0, 0},
        {"mma_s8u8_k32_sat", 16, 32, 8, el_s8, el_u8, 0, 1},
        {"mma_u4_k64", 16, 64, 4, el_u4, el_u4, 0, 0},
        {"mma_s4_m8k32", 8, 32, 4, el_s4, el_s4, 0, 0},
        {"mma_u8_m8k16", 8, 16, 8, el_u8, el_s8, 0, 0},
        {"mma_tf32_k8", 16, 8, 32, el_tf32, el_tf32, 1, 0},
        {"mma_fp8_k32", 16, 32, 8, el_e4m3, el_e5m2, 1, 0},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (run_mma_form(&forms[i]))
            return 1;
    return 0;
}

static int case_mma_f64(void)
{
    double a[32], b[32], c[64], d[64], want[64];
    for (int i = 0; i < 32; i++)
        a[i] = kt_randi(-50, 50), b[i] = kt_randi(-50, 50);
    for (int i = 0; i < 64; i++)
        c[i] = kt_randi(-1000, 1000);
    for (int L = 0; L < 32; L++)
        for (int i = 0; i < 2; i++) { /* A row g col t; B row t col g; D row g col 2t + i */
            int row = L / 4, col = 2 * (L % 4) + i;
            double s = c[2 * L + i];
            for (int k = 0; k < 4; k++)
                s += a[row * 4 + k] * b[col * 4 + k];
            want[2 * L + i] = s;
        }
    CUdeviceptr da = kt_upload(a, 256), db = kt_upload(b, 256), dc = kt_upload(c, 512);
    CUdeviceptr dd = kt_alloc(512);
    void *params[] = {&da, &db, &dc, &dd};
    if (!dd || kt_run(kt_func("mmaext", "mma_f64_m8k4"), 1, 32, 0, params) ||
        kt_download(d, dd, 512))
        return 1;
    return kt_expect_f64("d", d, want, 64, 0, 0);
}

/* ---- bitfield.cu -------------------------------------------------------------------------- */

static uint32_t shl_all(uint32_t v, uint32_t n) { return n >= 32 ? 0 : v << n; }

static uint32_t ref_bmsk(uint32_t a, uint32_t b, int clamp) /* the ISA's pseudo-code */
{
    uint32_t a1 = a & 0x1f, b1 = b & 0x1f, sum = a1 + b1;
    uint32_t mask0 = shl_all(~0u, a1), mask1 = shl_all(~0u, sum);
    int over = sum >= 32 || (clamp && (a >= 32 || b >= 32));
    if (clamp && a >= 32)
        mask0 = 0;
    mask1 = over ? 0 : b1 == 0 ? ~0u : mask1;
    return mask0 & ~mask1;
}

static uint32_t ref_szext(uint32_t a, uint32_t b, int clamp, int sign)
{
    uint32_t n = clamp ? (b > 32 ? 32 : b) : b % 32; /* the N low bits of a, extended */
    if (n == 0)
        return 0;
    if (n == 32)
        return a;
    uint32_t low = a & ((1u << n) - 1);
    return sign && (low >> (n - 1)) ? low | ~((1u << n) - 1) : low;
}

static int case_bits_ops(void)
{
    int n = 64 * kt_randi(1, 20);
    uint32_t *a = kt_host(4 * (size_t)n), *b = kt_host(4 * (size_t)n);
    uint32_t *got = kt_host(24 * (size_t)n), *want = kt_host(24 * (size_t)n);
    for (int i = 0; i < n; i++)
        a[i] = kt_rand(), b[i] = (uint32_t)kt_randi(0, 40);
    CUdeviceptr da = kt_upload(a, 4 * n), db = kt_upload(b, 4 * n), dout = kt_alloc(24 * n);
    void *params[] = {&da, &db, &dout};
    if (!dout || kt_run(kt_func("bitfield", "bits_ops"), n / 64, 64, 0, params) ||
        kt_download(got, dout, 24 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        uint32_t *w = &want[6 * i];
        w[0] = ref_bmsk(a[i] & 63, b[i], 1), w[1] = ref_bmsk(a[i] & 63, b[i], 0);
        w[2] = ref_szext(a[i], b[i], 1, 1), w[3] = ref_szext(a[i], b[i], 0, 1);
        w[4] = ref_szext(a[i], b[i], 1, 0), w[5] = ref_szext(a[i], b[i], 0, 0);
    }
    return kt_expect_u32("bmsk clamp/wrap, szext s32/u32 clamp/wrap", got, want, 6 * (size_t)n);
}

/* The fp8 code nearest to x (ties to the even code), saturated to the largest finite one; by
 * search over every finite code, independently of softgpu's arithmetic. */
static uint8_t ref_fp8(float x, int ebits, int relu)
{
    if (isnan(x))
        return 0x7f;
    if (relu && x < 0)
        x = 0;
    float max = ebits == 4 ? 448.0f : 57344.0f; /* .satfinite */
    x = x > max ? max : x < -max ? -max : x;
    uint8_t best = 0;
    double bd = INFINITY;
    for (int c = 0; c < 256; c++) {
        int e = (c >> (7 - ebits)) & ((1 << ebits) - 1);
        if ((ebits == 4 && (c & 0x7f) == 0x7f) || (ebits == 5 && e == 31))
            continue; /* NaN and infinity codes */
        double d = fabs(fp8_value((uint8_t)c, ebits) - (double)x);
        if (d < bd || (d == bd && !(c & 1) && fp8_value((uint8_t)c, ebits) != 0)) {
            bd = d;
            best = (uint8_t)c;
        }
    }
    if (fp8_value(best, ebits) == 0) /* zero keeps the sign of what rounded to it */
        best = signbit(x) ? 0x80 : 0;
    return best;
}

static uint16_t f32_to_f16_bits(float f) /* exact for the values used below */
{
    _Float16 h = (_Float16)f;
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}

static int case_fp8_convert(void)
{
    int n = 64 * kt_randi(1, 10);
    float *x = kt_host(8 * (size_t)n);
    uint32_t *got = kt_host(16 * (size_t)n), *want = kt_host(16 * (size_t)n);
    for (int i = 0; i < 2 * n; i++) { /* f16-exact values over fp8's range and beyond */
        x[i] = (float)ldexp(kt_randi(-1024, 1024), kt_randi(-20, 6));
        if (i % 17 == 0)
            x[i] = i % 2 ? 1e6f : -7e4f;
    }
    CUdeviceptr dx = kt_upload(x, 8 * n), dout = kt_alloc(16 * n);
    void *params[] = {&dx, &dout};
    if (!dout || kt_run(kt_func("bitfield", "fp8_convert"), n / 64, 64, 0, params) ||
        kt_download(got, dout, 16 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        float hi = x[2 * i], lo = x[2 * i + 1];
        uint16_t e4 = ref_fp8(lo, 4, 0) | ref_fp8(hi, 4, 0) << 8;
        uint16_t e5 = ref_fp8(lo, 5, 0) | ref_fp8(hi, 5, 0) << 8;
        uint16_t e4r = ref_fp8(lo, 4, 1) | ref_fp8(hi, 4, 1) << 8;
        float hh = (float)(_Float16)hi, hl = (float)(_Float16)lo; /* through f16x2 */
        uint16_t h4 = ref_fp8(hl, 4, 0) | ref_fp8(hh, 4, 0) << 8;
        want[4 * i + 0] = e4 | (uint32_t)e5 << 16;
        want[4 * i + 1] = e4r | (uint32_t)h4 << 16;
        want[4 * i + 2] = f32_to_f16_bits((float)fp8_value((uint8_t)e5, 5)) |
                          (uint32_t)f32_to_f16_bits((float)fp8_value((uint8_t)(e5 >> 8), 5)) << 16;
        want[4 * i + 3] = f32_to_f16_bits(lo) | (uint32_t)f32_to_f16_bits(hi) << 16;
    }
    return kt_expect_u32("e4m3x2|e5m2x2, relu|from f16x2, e5m2x2 to f16x2, f16x2", got, want,
                         4 * (size_t)n);
}

static int case_special_regs(void)
{
    int grid = kt_randi(1, 5), block = 32 * kt_randi(1, 4), n = grid * block;
    uint32_t *got = kt_host(64 * (size_t)n), *want = kt_host(64 * (size_t)n);
    unsigned dyn = 16 * (unsigned)kt_randi(0, 64);
    CUdeviceptr dout = kt_alloc(64 * n);
    void *params[] = {&dout};
    if (!dout || kt_run(kt_func("bitfield", "special_regs"), grid, block, dyn, params) ||
        kt_download(got, dout, 64 * n))
        return 1;
    for (int i = 0; i < n; i++) {
        uint32_t *w = &want[16 * i], L = (uint32_t)(i % block) % 32, blk = (uint32_t)(i / block);
        uint32_t v[16] = {32, L, (1u << L) - 1, ~((1u << L) - 1), blk, (uint32_t)grid, 0, 1, 0, 1,
                          0, dyn, got[16 * i + 12], got[16 * i + 13], got[16 * i + 14], 1u << L};
        memcpy(w, v, sizeof v);
        if (got[16 * i + 12] < dyn || got[16 * i + 14] < (uint32_t)block / 32)
            return kt_fail("thread %d: %%aggr_smem_size %u < %u or %%nwarpid %u < %d", i,
                           got[16 * i + 12], dyn, got[16 * i + 14], block / 32);
    }
    return kt_expect_u32("WARP_SZ, laneid, lanemasks, cluster registers, smem sizes", got, want,
                         16 * (size_t)n);
}

const struct kt_case kt_cases_isa[] = {
    KT_CASE(agg_slots, "warpagg"),
    KT_CASE(agg_by_key, "warpagg"),
    KT_CASE(agg_reduce, "warpagg"),
    KT_CASE(agg_filter, "warpagg"),
    KT_CASE(agg_bins, "warpagg"),
    KT_CASE(agg_shuffle, "warpagg"),
    KT_CASE(bulk_tile, "bulkcopy"),
    KT_CASE(mbarrier_phases, "bulkcopy"),
    KT_CASE(ldst_matrix, "mmaext"),
    KT_CASE(mma_int_tf32_fp8, "mmaext"),
    KT_CASE(mma_f64, "mmaext"),
    KT_CASE(bits_ops, "bitfield"),
    KT_CASE(fp8_convert, "bitfield"),
    KT_CASE(special_regs, "bitfield"),
};
const int kt_ncases_isa = sizeof kt_cases_isa / sizeof kt_cases_isa[0];
