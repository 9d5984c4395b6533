/*
 * PTX interpreter tests, part 2: control flow (divergence and reconvergence in loops, calls,
 * recursion), shared memory and barriers, shared and global atomics, warp shuffles and votes,
 * printf, assert, trap and cooperative grid sync, on nvcc-generated kernels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ptx_test_util.h"

static struct test_dev D;

static int setup(void **state) { (void)state; tdev_init(&D, 2); return 0; }
static int teardown(void **state) { (void)state; tdev_fini(&D); return 0; }

static void test_collatz(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "control.ptx");
    enum { N = 300 };
    int *in = tdev_alloc(&D, N * 4), *steps = tdev_alloc(&D, N * 4);
    for (int i = 0; i < N; i++)
        in[i] = i + 1;
    int n = N;
    void *args[] = {&in, &steps, &n};
    assert_int_equal(tdev_launch(&D, m, "collatz", 3, 128, 0, args), PTX_OK);
    for (int i = 0; i < N; i++) {
        unsigned v = (unsigned)in[i];
        int s = 0;
        while (v != 1 && s < 1000) {
            v = (v & 1) ? 3 * v + 1 : v >> 1;
            s++;
        }
        assert_int_equal(steps[i], s);
    }
    tdev_free(m);
}

static int fact(int n) { return n <= 1 ? 1 : n * fact(n - 1); }

static void test_calls(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "control.ptx");
    enum { N = 100 };
    int *out = tdev_alloc(&D, N * 4);
    float *v = tdev_alloc(&D, N * 8);
    for (int i = 0; i < N; i++) {
        v[2 * i] = (float)i;
        v[2 * i + 1] = (float)(2 * i);
    }
    int n = N;
    void *args[] = {&out, &v, &n};
    assert_int_equal(tdev_launch(&D, m, "calls", 2, 64, 0, args), PTX_OK);
    for (int i = 0; i < N; i++) {
        int want = i % 3 == 0 ? fact(i % 10) : i % 3 == 1 ? -fact(i % 7) : i;
        assert_int_equal(out[i], want);
        assert_true(v[2 * i] == (float)(2 * i) + (float)i);
        assert_true(v[2 * i + 1] == (float)i + (float)i);
    }
    tdev_free(m);
}

static void test_nested(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "control.ptx");
    int *out = tdev_alloc(&D, 96 * 4);
    void *args[] = {&out};
    assert_int_equal(tdev_launch(&D, m, "nested", 1, 96, 0, args), PTX_OK);
    for (int t = 0; t < 96; t++) {
        int acc = 0;
        for (int i = 0; i < t; i++) {
            if ((i ^ t) & 1)
                continue;
            for (int j = 0; j < (t & 3); j++) {
                if (j == 2 && t > 20)
                    break;
                acc += i * j + 1;
            }
        }
        switch (t & 3) {
        case 0: acc += 100; break;
        case 1: acc -= 7; break;
        case 2: acc *= 3; break;
        default: acc ^= 0x55;
        }
        assert_int_equal(out[t], acc);
    }
    tdev_free(m);
}

static void test_fnptr(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "control.ptx");
    int *in = tdev_alloc(&D, 64 * 4), *out = tdev_alloc(&D, 64 * 4);
    for (int i = 0; i < 64; i++)
        in[i] = i * 7 + 3;
    void *args[] = {&in, &out};
    assert_int_equal(tdev_launch(&D, m, "fnptr", 1, 64, 0, args), PTX_OK);
    for (int i = 0; i < 64; i++) {
        int v = in[i], k = v % 3;
        int r = k == 0 ? v * v : k == 1 ? -v : v + 1;
        int r2 = k == 0 ? (v + 1) * (v + 1) : k == 1 ? -(v + 1) : v + 2;
        assert_int_equal(out[i], r + (i & 1 ? r2 : 0));
    }
    tdev_free(m);
}

static void test_reduce(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "shared.ptx");
    enum { N = 1000 };
    float *in = tdev_alloc(&D, N * 4), *out = tdev_alloc(&D, 4 * 4);
    for (int i = 0; i < N; i++)
        in[i] = (float)(i % 17);
    int n = N;
    void *args[] = {&in, &out, &n};
    assert_int_equal(tdev_launch(&D, m, "reduce", 4, 256, 0, args), PTX_OK);
    for (int b = 0; b < 4; b++) {
        float want = 0;
        for (int i = b * 256; i < (b + 1) * 256 && i < N; i++)
            want += in[i];
        assert_true(out[b] == want);
    }
    tdev_free(m);
}

static void test_histo_dyn_syncops(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "shared.ptx");
    enum { N = 5000 };
    unsigned char *in = tdev_alloc(&D, N);
    unsigned *bins = tdev_alloc(&D, 16 * 4);
    unsigned want[16] = {0};
    for (int i = 0; i < N; i++) {
        in[i] = (unsigned char)(i * 7 + i / 3);
        want[in[i] & 15]++;
    }
    int n = N;
    void *args[] = {&in, &bins, &n};
    assert_int_equal(tdev_launch(&D, m, "histo", 3, 96, 0, args), PTX_OK);
    for (int i = 0; i < 16; i++)
        assert_int_equal(bins[i], want[i]);

    int *data = tdev_alloc(&D, 3 * 64 * 4);
    for (int i = 0; i < 3 * 64; i++)
        data[i] = i;
    void *args2[] = {&data};
    assert_int_equal(tdev_launch(&D, m, "dynrev", 3, 64, 64 * 4, args2), PTX_OK);
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < 64; t++)
            assert_int_equal(data[b * 64 + t], b * 64 + 63 - t);

    int *out = tdev_alloc(&D, 100 * 4);
    void *args3[] = {&out};
    assert_int_equal(tdev_launch(&D, m, "syncops", 1, 100, 0, args3), PTX_OK);
    for (int t = 0; t < 100; t++)
        assert_int_equal(out[t], 34 * 100 + 10 + 1);
    tdev_free(m);
}

static void test_warpops(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "warp.ptx");
    int *in = tdev_alloc(&D, 64 * 4), *out = tdev_alloc(&D, 64 * 8 * 4);
    for (int i = 0; i < 64; i++)
        in[i] = (i * 13 + 5) % 41 + 1;
    void *args[] = {&in, &out};
    assert_int_equal(tdev_launch(&D, m, "warpops", 1, 64, 0, args), PTX_OK);
    for (int w = 0; w < 2; w++) {
        const int *v = in + w * 32;
        int sum = 0, mx = 0, all = 1, any = 0;
        unsigned ballot = 0;
        for (int l = 0; l < 32; l++) {
            sum += v[l];
            mx = v[l] > mx ? v[l] : mx;
            ballot |= (unsigned)(v[l] & 1) << l;
            all &= v[l] > 0;
            any |= v[l] > 1000;
        }
        for (int l = 0; l < 32; l++) {
            const int *r = out + (w * 32 + l) * 8;
            assert_int_equal(r[0], sum);
            assert_int_equal(r[1], l >= 3 ? v[l - 3] : v[l]);
            int seg = l & ~15, j = l + 5;
            assert_int_equal(r[2], j <= seg + 15 ? v[j] : v[l]);
            assert_int_equal(r[3], v[(l * 7) & 31]);
            assert_int_equal((unsigned)r[4], ballot);
            assert_int_equal(r[5], all * 2 + any);
            unsigned match = 0;
            for (int k = 0; k < 32; k++)
                if ((v[k] & 3) == (v[l] & 3))
                    match |= 1u << k;
            assert_int_equal((unsigned)r[6], match);
            assert_int_equal(r[7], sum ^ mx);
        }
    }
    int *o2 = tdev_alloc(&D, 40 * 4);
    void *args2[] = {&o2};
    assert_int_equal(tdev_launch(&D, m, "divergent_ballot", 1, 40, 0, args2), PTX_OK);
    for (int t = 0; t < 40; t++) {
        unsigned lanes = t < 32 ? 0xffffffffu : 0xffu;
        unsigned odd = lanes & 0xaaaaaaaau, even = lanes & 0x55555555u;
        unsigned want = (t & 1) ? odd : (even & 0xccccccccu);
        assert_int_equal((unsigned)o2[t], want);
    }
    tdev_free(m);
}

static void test_printf(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "misc.ptx");
    char *s = tdev_alloc(&D, 16);
    strcpy(s, "dev");
    int k = 3;
    void *args[] = {&k, &s};
    assert_int_equal(tdev_launch(&D, m, "hello", 1, 2, 0, args), PTX_OK);
    char want[1024];
    int n = 0;
    for (int t = 0; t < 2; t++)
        n += snprintf(want + n, sizeof want - (size_t)n,
                      "t%d k=%d %5.2f|%-4x|%llu|%c|%s|%e|%g|%o|%ld\n", t, k, 1.5 * k, k + 10,
                      (unsigned long long)k << 40, 'A' + k, "dev", 12345.678, 0.0001, k, -5L);
    assert_string_equal(D.out, want);
    tdev_free(m);
}

static void test_assert_trap(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "misc.ptx");
    int limit = 64;
    void *args[] = {&limit};
    assert_int_equal(tdev_launch(&D, m, "checker", 2, 64, 0, args), PTX_OK);
    limit = 10;
    assert_int_equal(tdev_launch(&D, m, "checker", 1, 16, 0, args), PTX_ERR_ASSERT);
    assert_non_null(strstr(D.out, "misc.cu:"));
    assert_non_null(strstr(D.out, ": block: [0,0,0], thread: [10,0,0] Assertion `threadIdx.x < limit` failed.\n"));
    int when = 7;
    void *args2[] = {&when};
    assert_int_equal(tdev_launch(&D, m, "trapper", 1, 32, 0, args2), PTX_ERR_TRAP);
    assert_non_null(strstr(D.err, "trap"));
    when = 99;
    assert_int_equal(tdev_launch(&D, m, "trapper", 1, 32, 0, args2), PTX_OK);
    tdev_free(m);
}

static void test_oob(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "misc.ptx");
    int *p = tdev_alloc(&D, 64 * 4);
    long long off = 0;
    void *args[] = {&p, &off};
    assert_int_equal(tdev_launch(&D, m, "oob", 1, 64, 0, args), PTX_OK);
    assert_int_equal(p[63], 1);
    off = 1ll << 40; /* far outside the address space */
    assert_int_equal(tdev_launch(&D, m, "oob", 1, 64, 0, args), PTX_ERR_ILLEGAL_ADDRESS);
    assert_non_null(strstr(D.err, "not mapped"));
    int *null = NULL;
    off = 0;
    void *args2[] = {&null, &off};
    assert_int_equal(tdev_launch(&D, m, "oob", 1, 8, 0, args2), PTX_ERR_ILLEGAL_ADDRESS);
    tdev_free(m);
}

static void test_atomics(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "misc.ptx");
    int *i = tdev_alloc(&D, 8 * 4);
    unsigned *u = tdev_alloc(&D, 8 * 4);
    float *f = tdev_alloc(&D, 4);
    double *d = tdev_alloc(&D, 8);
    unsigned long long *l = tdev_alloc(&D, 8);
    i[2] = 0;
    i[3] = 0;
    u[1] = 5;
    u[4] = 0xffffffffu;
    void *args[] = {&i, &u, &f, &d, &l};
    enum { B = 4, T = 64, N = B * T };
    assert_int_equal(tdev_launch(&D, m, "atomics", B, T, 0, args), PTX_OK);
    assert_int_equal(i[0], N * (N - 1) / 2);
    assert_int_equal(i[1], N - 1);
    assert_int_equal(i[2], -(N - 1));
    assert_int_equal(u[0], N % 18);
    assert_int_equal(u[2], 0xffffffffu);
    assert_int_equal(u[3], 0); /* xor of 0..255 */
    assert_int_equal(u[4], 0);
    assert_true(f[0] == 0.5f * N);
    assert_true(d[0] == 0.25 * N);
    assert_int_equal(l[0], (unsigned long long)N << 33);
    /* the CAS chain t -> t+1 always completes block 0 (its lanes run in order); later blocks
     * may find the value behind them */
    assert_true(i[3] >= T && i[3] <= N);
    assert_int_equal(i[4], 7);
    tdev_free(m);
}

static void test_coop(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "coop.ptx");
    struct ptx_kernel_attrs a;
    ptx_kernel_get_attrs(ptx_module_find_kernel(m, "gridsum"), &a);
    assert_true(a.uses_grid_sync);
    enum { B = 6, T = 64, R = 3 };
    int *data = tdev_alloc(&D, B * T * 4), *out = tdev_alloc(&D, 2 * R * 4);
    for (int i = 0; i < B * T; i++)
        data[i] = i % 5;
    int rounds = R;
    void *args[] = {&data, &out, &rounds};
    unsigned grid[3] = {B, 1, 1}, block[3] = {T, 1, 1};
    assert_int_equal(tdev_launch3(&D, m, "gridsum", grid, block, 0, args, 1), PTX_OK);
    int base = 0;
    for (int i = 0; i < B * T; i++)
        base += data[i];
    for (int r = 0; r < R; r++) {
        assert_int_equal(out[r], base + r * B * T);
        assert_int_equal(out[R + r], base + r * B * T);
    }
    tdev_free(m);
}

static uint32_t simd_ref(int op, uint32_t a, uint32_t b)
{
    uint32_t r = 0;
    int sum = 0;
    for (int i = 0; i < 4; i++) {
        int x = (a >> (8 * i)) & 0xff, y = (b >> (8 * i)) & 0xff, v = 0;
        switch (op) {
        case 0: v = x > y ? x - y : y - x; break;
        case 1: v = (x + y) & 0xff; break;
        case 3: v = x > y ? x : y; break;
        case 5: v = (x + y + 1) >> 1; break;
        case 6: v = x > y ? x - y : y - x; sum += v; break;
        }
        r |= (uint32_t)(v & 0xff) << (8 * i);
    }
    if (op == 6)
        return (uint32_t)sum;
    if (op == 2 || op == 4 || op == 7) {
        r = 0;
        for (int i = 0; i < 2; i++) {
            int x = (int16_t)(a >> (16 * i)), y = (int16_t)(b >> (16 * i)), v;
            v = op == 2 ? x - y : op == 4 ? (x < y ? x : y) : x + y;
            if (op == 7)
                v = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
            r |= (uint32_t)(v & 0xffff) << (16 * i);
        }
    }
    return r;
}

static void test_simd_async_heap(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "extra.ptx");
    uint32_t *x = tdev_alloc(&D, 32 * 4), *y = tdev_alloc(&D, 32 * 4), *out = tdev_alloc(&D, 32 * 32);
    for (int i = 0; i < 32; i++) {
        x[i] = 0x9f3c7a01u * (uint32_t)(i + 1);
        y[i] = 0x12e5c3b7u * (uint32_t)(i + 3);
    }
    void *args[] = {&x, &y, &out};
    assert_int_equal(tdev_launch(&D, m, "simd", 1, 32, 0, args), PTX_OK);
    for (int i = 0; i < 32; i++)
        for (int k = 0; k < 8; k++)
            if (out[i * 8 + k] != simd_ref(k, x[i], y[i]))
                fail_msg("simd[%d] op %d: got %08x want %08x", i, k, out[i * 8 + k],
                         simd_ref(k, x[i], y[i]));
    int *in = tdev_alloc(&D, 64 * 16), *o = tdev_alloc(&D, 64 * 16);
    for (int i = 0; i < 256; i++)
        in[i] = i * 3 + 1;
    void *args2[] = {&in, &o};
    assert_int_equal(tdev_launch(&D, m, "async_copy", 1, 64, 0, args2), PTX_OK);
    for (int t = 0; t < 64; t++)
        for (int k = 0; k < 4; k++)
            assert_int_equal(o[t * 4 + k], in[(63 - t) * 4 + k]);
    int *h = tdev_alloc(&D, 48 * 4);
    void *args3[] = {&h};
    assert_int_equal(tdev_launch(&D, m, "heap", 1, 48, 0, args3), PTX_OK);
    for (int t = 0; t < 48; t++)
        assert_int_equal(h[t], t * (t + 1) / 2);
    tdev_free(m);
}

/* The scalar video instructions of video.ptx, written out from the PTX ISA's description. */
static uint32_t video_ref(int k, uint32_t a, uint32_t b, uint32_t c)
{
    int64_t sa = (int32_t)a, sc = (int32_t)c, t;
    uint32_t clamp = b > 32 ? 32 : b, wrap = b & 31;
    switch (k) {
    case 0: return (uint32_t)(((uint64_t)a >> clamp) + c);
    case 1: return (uint32_t)((int32_t)a >> wrap);
    case 2: return (uint32_t)((uint64_t)a << clamp);
    case 3: t = (uint32_t)(a << wrap); return (uint32_t)(t > (int64_t)c ? t : (int64_t)c);
    case 4:
        t = sa + sc;
        return (uint32_t)(t > INT32_MAX ? INT32_MAX : t < INT32_MIN ? INT32_MIN : t);
    case 5: t = sa - sc; t = t < 0 ? 0 : t; return (uint32_t)(t < (int64_t)b ? t : (int64_t)b);
    case 6: t = sa > sc ? sa - sc : sc - sa; return (uint32_t)(t + b);
    default: return (uint32_t)((int64_t)a > sc ? (int64_t)a : sc);
    }
}

static void test_video(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "video.ptx");
    uint32_t *x = tdev_alloc(&D, 64 * 4), *y = tdev_alloc(&D, 64 * 4), *z = tdev_alloc(&D, 64 * 4);
    uint32_t *out = tdev_alloc(&D, 64 * 32);
    for (int i = 0; i < 64; i++) {
        x[i] = 0x9f3c7a01u * (uint32_t)(i + 1) ^ (i & 4 ? 0x80000000u : 0);
        y[i] = i < 48 ? (uint32_t)i : 0x7e5c3b71u * (uint32_t)i; /* shifts 0..47, then large */
        z[i] = 0x12e5c3b7u * (uint32_t)(i + 3);
    }
    void *args[] = {&x, &y, &z, &out};
    assert_int_equal(tdev_launch(&D, m, "video", 1, 64, 0, args), PTX_OK);
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < 8; k++)
            if (out[i * 8 + k] != video_ref(k, x[i], y[i], z[i]))
                fail_msg("video[%d] op %d: got %08x want %08x", i, k, out[i * 8 + k],
                         video_ref(k, x[i], y[i], z[i]));
    tdev_free(m);
}

/* The f16 bits of a small integer (exact). */
static uint16_t h_of(int v)
{
    if (!v)
        return 0;
    unsigned a = (unsigned)(v < 0 ? -v : v), e = 31 - (unsigned)__builtin_clz(a);
    return (uint16_t)((v < 0 ? 0x8000u : 0) | (e + 15) << 10 | ((a << (10 - e)) & 0x3ff));
}

/* One M x N x 16 tile of wmma_more.ptx (f16 products of small integers: exact in f32). */
static void check_wmma_f16(ptx_module *m, const char *kernel, int M, int N)
{
    const int K = 16;
    uint16_t *a = tdev_alloc(&D, (size_t)M * K * 2), *b = tdev_alloc(&D, (size_t)K * N * 2);
    float *c = tdev_alloc(&D, (size_t)M * N * 4), *d = tdev_alloc(&D, (size_t)M * N * 4);
    for (int i = 0; i < M * K; i++)
        a[i] = h_of(i % 9 - 4);
    for (int i = 0; i < K * N; i++)
        b[i] = h_of((i * 5) % 7 - 3);
    for (int i = 0; i < M * N; i++)
        c[i] = (float)(i % 11);
    void *args[] = {&a, &b, &c, &d};
    assert_int_equal(tdev_launch(&D, m, kernel, 1, 32, 0, args), PTX_OK);
    for (int r = 0; r < M; r++)
        for (int col = 0; col < N; col++) {
            float want = c[r * N + col];
            for (int k = 0; k < K; k++) /* A row-major, B column-major */
                want += (float)((r * K + k) % 9 - 4) * (float)(((col * K + k) * 5) % 7 - 3);
            if (d[r * N + col] != want)
                fail_msg("%s (%d,%d): got %g want %g", kernel, r, col, d[r * N + col], want);
        }
}

static void test_wmma_shapes_pack(void **state)
{
    (void)state;
    ptx_module *m = tdev_load(&D, "wmma_more.ptx");
    check_wmma_f16(m, "wmma_32x8", 32, 8);
    check_wmma_f16(m, "wmma_8x32", 8, 32);
    int8_t *a = tdev_alloc(&D, 256), *b = tdev_alloc(&D, 256);
    int32_t *c = tdev_alloc(&D, 1024), *d = tdev_alloc(&D, 1024);
    for (int i = 0; i < 256; i++) {
        a[i] = (int8_t)((i * 37) % 255 - 127);
        b[i] = (int8_t)((i * 11) % 256 - 128);
    }
    for (int i = 0; i < 256; i++) /* column n = i / 16; the last two near the int32 limits */
        c[i] = i >= 240 ? (i & 1 ? INT32_MAX - 5 : INT32_MIN + 5) : i * 1000 - 50000;
    void *args[] = {&a, &b, &c, &d};
    assert_int_equal(tdev_launch(&D, m, "wmma_s8", 1, 32, 0, args), PTX_OK);
    for (int r = 0; r < 16; r++)
        for (int n = 0; n < 16; n++) {
            int64_t want = c[n * 16 + r]; /* C, D column-major; A, B row-major */
            for (int k = 0; k < 16; k++)
                want += (int64_t)a[r * 16 + k] * b[k * 16 + n];
            want = want > INT32_MAX ? INT32_MAX : want < INT32_MIN ? INT32_MIN : want;
            assert_int_equal(d[n * 16 + r], (int32_t)want);
        }
    int32_t *x = tdev_alloc(&D, 96 * 4);
    uint32_t *out = tdev_alloc(&D, 64 * 4);
    for (int i = 0; i < 96; i++)
        x[i] = (i * 7919) % 1000 - 500 + (i % 5 == 0 ? 70000 : 0);
    void *args2[] = {&x, &out};
    assert_int_equal(tdev_launch(&D, m, "pack_s8", 1, 32, 0, args2), PTX_OK);
    for (int t = 0; t < 32; t++) {
        int32_t p = x[t], q = x[t + 32];
        uint32_t s8p = (uint8_t)(p < -128 ? -128 : p > 127 ? 127 : p);
        uint32_t s8q = (uint8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
        assert_int_equal(out[t], (uint32_t)x[t + 64] << 16 | s8p << 8 | s8q);
        uint32_t u16p = (uint32_t)(p < 0 ? 0 : p > 65535 ? 65535 : p);
        uint32_t u16q = (uint32_t)(q < 0 ? 0 : q > 65535 ? 65535 : q);
        assert_int_equal(out[t + 32], u16p << 16 | u16q);
    }
    tdev_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collatz),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_fnptr),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_histo_dyn_syncops),
        cmocka_unit_test(test_warpops),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_assert_trap),
        cmocka_unit_test(test_oob),
        cmocka_unit_test(test_atomics),
        cmocka_unit_test(test_coop),
        cmocka_unit_test(test_simd_async_heap),
        cmocka_unit_test(test_video),
        cmocka_unit_test(test_wmma_shapes_pack),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
