/*
 * Tests of softgpu's JIT engine (src/softgpu/ptx/ptx_jit*.c) through the PTX API: which engine
 * a kernel gets and why, barriers (the region transformation: registers live across
 * bar.sync, barriers inside loops, threads exiting before a barrier), unstructured control
 * flow and predication, atomics, the in-memory cache (a second module with the same text),
 * gangs of 32 lanes with typed (32-bit) registers and loads and stores the gang runs through
 * the interpreter's executor, and that an illegal or misaligned access in jitted code ends the
 * launch with the interpreter's status and message. Results are checked against C computations.
 * Compiling off the launch path: a prepared module's kernels become ready without a launch,
 * and a module freed while its kernels are queued or compiling loses nothing. The disk cache
 * (SOFTGPU_JIT_CACHE, a folder of this test's): a second process links the kernel from it, a
 * truncated, corrupted or linked-in file is ignored with a warning and the kernel still runs
 * right, and the least recently used files go past the size bound. Those run this program
 * again as a child ("child" argument), which prints the engine's reason and the result.
 * Built with SOFTGPU_HAVE_LLVM when the engine is; without it, kernels must stay interpreted.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ptx_test_util.h"

static struct test_dev D;

static int setup(void **state) { (void)state; tdev_init(&D, 2); return 0; }
static int teardown(void **state) { (void)state; tdev_fini(&D); return 0; }

#define HDR ".version 7.0\n.target sm_80\n.address_size 64\n"

/* out[gid] = in[block_base + ntid-1-tid] through shared memory, twice around a loop with a
 * barrier in it; threads with tid >= limit leave before the loop (exited threads do not count
 * at a barrier). acc carries a value across both barriers of every iteration. */
static const char barrier_ptx[] = HDR
    ".visible .entry rev(.param .u64 in, .param .u64 out, .param .u32 limit)\n{\n"
    " .reg .u32 %r<12>; .reg .u64 %rd<8>; .reg .pred %p<3>; .reg .f32 %f<4>;\n"
    " .shared .align 4 .b8 s[1024];\n"
    " ld.param.u64 %rd1, [in]; ld.param.u64 %rd2, [out]; ld.param.u32 %r9, [limit];\n"
    " cvta.to.global.u64 %rd1, %rd1; cvta.to.global.u64 %rd2, %rd2;\n"
    " mov.u32 %r1, %tid.x; mov.u32 %r2, %ntid.x; mov.u32 %r3, %ctaid.x;\n"
    " mad.lo.u32 %r4, %r3, %r2, %r1;\n"
    " setp.ge.u32 %p2, %r1, %r9;\n @%p2 bra DONE;\n"
    " mul.wide.u32 %rd3, %r4, 4; add.s64 %rd4, %rd1, %rd3; ld.global.f32 %f1, [%rd4];\n"
    " mov.f32 %f2, 0f00000000; mov.u32 %r10, 0;\n"
    "LOOP:\n"
    " shl.b32 %r5, %r1, 2; mov.u32 %r6, s; add.u32 %r5, %r6, %r5;\n"
    " st.shared.f32 [%r5], %f1;\n bar.sync 0;\n"
    " sub.u32 %r7, %r9, %r1; sub.u32 %r7, %r7, 1; shl.b32 %r7, %r7, 2; add.u32 %r7, %r6, %r7;\n"
    " ld.shared.f32 %f3, [%r7];\n add.f32 %f2, %f2, %f3;\n bar.sync 0;\n"
    " mov.f32 %f1, %f3;\n add.u32 %r10, %r10, 1;\n setp.lt.u32 %p1, %r10, 2;\n"
    " @%p1 bra LOOP;\n"
    " add.s64 %rd5, %rd2, %rd3; st.global.f32 [%rd5], %f2;\n"
    "DONE:\n ret;\n}\n";

static void test_barriers(void **state)
{
    (void)state;
    ptx_module *m = tdev_parse(&D, barrier_ptx);
    char why[200];
    int jit = ptx_kernel_engine(ptx_module_find_kernel(m, "rev"), why, sizeof why);
#ifdef SOFTGPU_HAVE_LLVM
    if (!jit)
        fail_msg("rev not jitted: %s", why);
#else
    assert_int_equal(jit, 0);
#endif
    enum { B = 4, T = 96, LIMIT = 80 };
    float *in = tdev_alloc(&D, B * T * 4), *out = tdev_alloc(&D, B * T * 4);
    for (int i = 0; i < B * T; i++) {
        in[i] = (float)i * 0.5f + 1.0f;
        out[i] = -1.0f;
    }
    unsigned limit = LIMIT;
    void *args[] = {&in, &out, &limit};
    assert_int_equal(tdev_launch(&D, m, "rev", B, T, 0, args), PTX_OK);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float want = -1.0f;
            if (t < LIMIT) { /* first round: in[b][LIMIT-1-t]; second: in[b][t] back again */
                float a = in[b * T + (LIMIT - 1 - t)], c = in[b * T + t];
                want = 0.0f + a;
                want = want + c;
            }
            assert_true(out[b * T + t] == want);
        }
    tdev_free(m);
}

/* gcd by subtraction with gotos into and out of a loop, predicated adds and a selp: the
 * control flow nvcc emits for irreducible-looking code. */
static const char control_ptx[] = HDR
    ".visible .entry gcdk(.param .u64 a, .param .u64 out, .param .u32 n)\n{\n"
    " .reg .u32 %r<12>; .reg .u64 %rd<8>; .reg .pred %p<4>;\n"
    " ld.param.u64 %rd1, [a]; ld.param.u64 %rd2, [out]; ld.param.u32 %r9, [n];\n"
    " mov.u32 %r1, %tid.x; mov.u32 %r2, %ntid.x; mov.u32 %r3, %ctaid.x;\n"
    " mad.lo.u32 %r4, %r3, %r2, %r1;\n setp.ge.u32 %p1, %r4, %r9;\n @%p1 exit;\n"
    " mul.wide.u32 %rd3, %r4, 8; add.s64 %rd4, %rd1, %rd3;\n"
    " ld.global.v2.u32 {%r5, %r6}, [%rd4];\n mov.u32 %r7, 0;\n"
    " setp.eq.u32 %p2, %r5, %r6;\n @%p2 bra OUT;\n"
    "TOP:\n add.u32 %r7, %r7, 1;\n setp.gt.u32 %p3, %r5, %r6;\n @%p3 bra BIG;\n"
    " sub.u32 %r6, %r6, %r5;\n bra.uni CHK;\n"
    "BIG:\n sub.u32 %r5, %r5, %r6;\n"
    "CHK:\n setp.ne.u32 %p2, %r5, %r6;\n @%p2 bra TOP;\n"
    "OUT:\n setp.gt.u32 %p3, %r7, 5;\n selp.u32 %r8, 1000, 0, %p3;\n"
    " @!%p3 add.u32 %r8, %r8, 7;\n add.u32 %r8, %r8, %r5;\n"
    " shl.b32 %r10, %r7, 16;\n or.b32 %r8, %r8, %r10;\n"
    " mul.wide.u32 %rd5, %r4, 4; add.s64 %rd6, %rd2, %rd5; st.global.u32 [%rd6], %r8;\n"
    " ret;\n}\n";

static void test_control_flow(void **state)
{
    (void)state;
    ptx_module *m = tdev_parse(&D, control_ptx);
    enum { N = 500 };
    uint32_t *a = tdev_alloc(&D, N * 8), *out = tdev_alloc(&D, N * 4);
    srand(7);
    for (int i = 0; i < N; i++) {
        a[2 * i] = 1 + (uint32_t)rand() % 200;
        a[2 * i + 1] = 1 + (uint32_t)rand() % 200;
    }
    unsigned n = N - 3; /* the last threads exit at once */
    for (int i = 0; i < N; i++)
        out[i] = 0xdeadbeefu;
    void *args[] = {&a, &out, &n};
    assert_int_equal(tdev_launch(&D, m, "gcdk", 4, 128, 0, args), PTX_OK);
    for (int i = 0; i < N; i++) {
        uint32_t x = a[2 * i], y = a[2 * i + 1], steps = 0;
        while (x != y) {
            steps++;
            if (x > y)
                x -= y;
            else
                y -= x;
        }
        uint32_t want = (steps > 5 ? 1000 : 7) + x;
        want |= steps << 16;
        assert_int_equal(out[i], i < (int)n ? want : 0xdeadbeefu);
    }
    tdev_free(m);
}

/* A histogram with shared and global atomics; bins of the block summed into global ones. */
static const char atom_ptx[] = HDR
    ".visible .entry histo(.param .u64 in, .param .u64 bins, .param .u32 n)\n{\n"
    " .reg .u32 %r<12>; .reg .u64 %rd<8>; .reg .pred %p<3>;\n"
    " .shared .align 4 .b8 sb[64];\n"
    " ld.param.u64 %rd1, [in]; ld.param.u64 %rd2, [bins]; ld.param.u32 %r9, [n];\n"
    " mov.u32 %r1, %tid.x; mov.u32 %r2, %ntid.x; mov.u32 %r3, %ctaid.x;\n"
    " setp.lt.u32 %p1, %r1, 16;\n shl.b32 %r5, %r1, 2;\n mov.u32 %r11, sb;\n"
    " add.u32 %r10, %r11, %r5;\n @%p1 st.shared.u32 [%r10], 0;\n"
    " bar.sync 0;\n mad.lo.u32 %r4, %r3, %r2, %r1;\n setp.ge.u32 %p2, %r4, %r9;\n"
    " @%p2 bra SKIP;\n mul.wide.u32 %rd3, %r4, 4; add.s64 %rd4, %rd1, %rd3;\n"
    " ld.global.u32 %r6, [%rd4];\n and.b32 %r6, %r6, 15;\n shl.b32 %r6, %r6, 2;\n"
    " add.u32 %r6, %r11, %r6;\n atom.shared.add.u32 %r7, [%r6], 1;\n"
    "SKIP:\n bar.sync 0;\n @!%p1 bra END;\n ld.shared.u32 %r8, [%r10];\n"
    " cvt.u64.u32 %rd5, %r5;\n add.s64 %rd6, %rd2, %rd5;\n red.global.add.u32 [%rd6], %r8;\n"
    "END:\n ret;\n}\n";

static void test_atomics(void **state)
{
    (void)state;
    ptx_module *m = tdev_parse(&D, atom_ptx);
    enum { N = 3000 };
    uint32_t *in = tdev_alloc(&D, N * 4), *bins = tdev_alloc(&D, 16 * 4), want[16] = {0};
    for (int i = 0; i < N; i++) {
        in[i] = (uint32_t)(i * 2654435761u);
        want[in[i] & 15]++;
    }
    memset(bins, 0, 16 * 4);
    unsigned n = N;
    void *args[] = {&in, &bins, &n};
    assert_int_equal(tdev_launch(&D, m, "histo", (N + 255) / 256, 256, 0, args), PTX_OK);
    for (int b = 0; b < 16; b++)
        assert_int_equal(bins[b], want[b]);
    tdev_free(m);
}

/* out[idx] = 1 with idx a parameter: past the allocation is an illegal address; an odd
 * byte offset is misaligned; a shared offset past the block's window is illegal too. */
static const char oob_ptx[] = HDR
    ".visible .entry poke(.param .u64 out, .param .u64 off, .param .u32 who)\n{\n"
    " .reg .u32 %r<6>; .reg .u64 %rd<6>; .reg .pred %p;\n"
    " ld.param.u64 %rd1, [out]; ld.param.u64 %rd2, [off]; ld.param.u32 %r3, [who];\n"
    " mov.u32 %r1, %tid.x;\n setp.ne.u32 %p, %r1, %r3;\n @%p bra DONE;\n"
    " add.s64 %rd3, %rd1, %rd2;\n st.global.u32 [%rd3], 1;\n"
    "DONE:\n ret;\n}\n"
    ".visible .entry spoke(.param .u32 off)\n{\n"
    " .reg .u32 %r<4>; .shared .align 4 .b8 sm[256];\n"
    " ld.param.u32 %r1, [off];\n mov.u32 %r2, sm;\n add.u32 %r2, %r2, %r1;\n"
    " st.shared.u32 [%r2], 5;\n ret;\n}\n"
    ".visible .entry fill(.param .u64 p)\n{\n"
    " .reg .u32 %r<4>; .reg .u64 %rd<6>;\n ld.param.u64 %rd1, [p];\n mov.u32 %r1, %tid.x;\n"
    " mul.wide.u32 %rd2, %r1, 4;\n add.s64 %rd3, %rd1, %rd2;\n st.global.u32 [%rd3], %r1;\n"
    " ret;\n}\n";

static void test_illegal_address(void **state)
{
    (void)state;
    ptx_module *m = tdev_parse(&D, oob_ptx);
    uint32_t *out = tdev_alloc(&D, 128);
    uint64_t off = 48;
    unsigned who = 5;
    void *args[] = {&out, &off, &who};
    assert_int_equal(tdev_launch(&D, m, "poke", 2, 32, 0, args), PTX_OK);
    assert_int_equal(out[12], 1);
    off = (uint64_t)D.size * 4; /* far outside the device range */
    assert_int_equal(tdev_launch(&D, m, "poke", 2, 32, 0, args), PTX_ERR_ILLEGAL_ADDRESS);
    if (!strstr(D.err, "st.global.u32") || !strstr(D.err, "not mapped") ||
        !strstr(D.err, "thread 5,0,0"))
        fail_msg("unexpected error text: %s", D.err);
    off = 2;
    assert_int_equal(tdev_launch(&D, m, "poke", 1, 32, 0, args), PTX_ERR_MISALIGNED);
    unsigned soff = 256;
    void *sargs[] = {&soff};
    assert_int_equal(tdev_launch(&D, m, "spoke", 1, 1, 0, sargs), PTX_ERR_ILLEGAL_ADDRESS);
    if (!strstr(D.err, "shared") || !strstr(D.err, "out of bounds"))
        fail_msg("unexpected error text: %s", D.err);
    soff = 252;
    assert_int_equal(tdev_launch(&D, m, "spoke", 1, 1, 0, sargs), PTX_OK);
    /* threads in lock step (a gang) whose stores run off the end of device memory: the first
     * thread past it is named, as the interpreter's warp names its first failing lane */
    uint8_t *p = D.base + D.size - 8;
    void *fargs[] = {&p};
    assert_int_equal(tdev_launch(&D, m, "fill", 1, 32, 0, fargs), PTX_ERR_ILLEGAL_ADDRESS);
    if (!strstr(D.err, "st.global.u32") || !strstr(D.err, "thread 2,0,0"))
        fail_msg("unexpected error text: %s", D.err);
    p = (uint8_t *)out;
    assert_int_equal(tdev_launch(&D, m, "fill", 1, 32, 0, fargs), PTX_OK);
    for (unsigned i = 0; i < 32; i++)
        assert_int_equal(out[i], i);
    tdev_free(m);
}

static void test_cache_and_fallback(void **state)
{
    (void)state;
    char why[200];
    ptx_module *a = tdev_parse(&D, control_ptx), *b = tdev_parse(&D, control_ptx);
    int ja = ptx_kernel_engine(ptx_module_find_kernel(a, "gcdk"), why, sizeof why);
    int jb = ptx_kernel_engine(ptx_module_find_kernel(b, "gcdk"), why, sizeof why);
    assert_int_equal(ja, jb);
#ifdef SOFTGPU_HAVE_LLVM
    assert_int_equal(jb, 1);
    if (!strstr(why, "cache hit"))
        fail_msg("second module with the same text compiled again: %s", why);
#endif
    tdev_free(a);
    tdev_free(b);
    /* a named barrier is not in the engine yet: the kernel runs on the interpreter */
    static const char bfe_ptx[] = HDR
        ".visible .entry bf(.param .u64 out)\n{\n .reg .u32 %r<4>; .reg .u64 %rd<4>;\n"
        " ld.param.u64 %rd1, [out];\n mov.u32 %r1, %tid.x;\n"
        " bfe.u32 %r2, %r1, 1, 3;\n bar.sync 1, 32;\n mul.wide.u32 %rd2, %r1, 4;\n"
        " add.s64 %rd3, %rd1, %rd2;\n st.global.u32 [%rd3], %r2;\n ret;\n}\n";
    ptx_module *m = tdev_parse(&D, bfe_ptx);
    assert_int_equal(ptx_kernel_engine(ptx_module_find_kernel(m, "bf"), why, sizeof why), 0);
#ifdef SOFTGPU_HAVE_LLVM
    if (!strstr(why, "barrier"))
        fail_msg("fallback reason does not name the instruction: %s", why);
#endif
    uint32_t *out = tdev_alloc(&D, 32 * 4);
    void *args[] = {&out};
    assert_int_equal(tdev_launch(&D, m, "bf", 1, 32, 0, args), PTX_OK);
    for (unsigned i = 0; i < 32; i++)
        assert_int_equal(out[i], (i >> 1) & 7u);
    tdev_free(m);
}

/* The per-instruction fallback: instructions the JIT does not translate run through the
 * interpreter's executors inside compiled code (the kernel stays on the JIT). Per thread t:
 * out[4t] = (t % 45)^2 in half precision (exact), out[4t+1] = bfe(t, 1, 3), for odd t
 * overwritten by a predicated prmt (gangs pass their guard lane by lane), out[4t+2] = the
 * carry of (t << 28) + 0xf0000000 by add.cc/addc, out[4t+3] = lop3(t, 0x5a, 0xf0, 0xe8). */
static const char callout_ptx[] = HDR
    ".visible .entry co(.param .u64 out)\n{\n"
    " .reg .u32 %r<16>; .reg .u64 %rd<6>; .reg .pred %p<3>; .reg .f16 %h<4>;\n"
    " ld.param.u64 %rd1, [out]; mov.u32 %r1, %tid.x; mov.u32 %r2, %ntid.x;\n"
    " mov.u32 %r3, %ctaid.x; mad.lo.u32 %r1, %r3, %r2, %r1;\n"
    " rem.u32 %r4, %r1, 45; cvt.rn.f16.u32 %h1, %r4; mul.f16 %h2, %h1, %h1;\n"
    " cvt.rzi.u32.f16 %r5, %h2;\n"
    " bfe.u32 %r6, %r1, 1, 3; and.b32 %r7, %r1, 1; setp.ne.u32 %p1, %r7, 0;\n"
    " @%p1 prmt.b32 %r6, %r1, 0x11223344, 0x5140;\n"
    " shl.b32 %r8, %r1, 28; add.cc.u32 %r9, %r8, 0xf0000000; addc.u32 %r10, 0, 0;\n"
    " lop3.b32 %r11, %r1, 0x5a, 0xf0, 0xe8;\n"
    " mul.wide.u32 %rd2, %r1, 16; add.s64 %rd3, %rd1, %rd2;\n"
    " st.global.v4.u32 [%rd3], {%r5, %r6, %r10, %r11};\n ret;\n}\n"
    ".visible .entry tr(.param .u32 who)\n{\n .reg .u32 %r<4>; .reg .pred %p<2>;\n"
    " ld.param.u32 %r1, [who]; mov.u32 %r2, %tid.x; setp.eq.u32 %p1, %r2, %r1;\n"
    " @%p1 trap;\n ret;\n}\n";

static uint32_t prmt_ref(uint32_t a, uint32_t b, uint32_t sel)
{
    uint64_t bytes = ((uint64_t)b << 32) | a;
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) {
        unsigned s = (sel >> (4 * i)) & 15;
        uint32_t v = (uint32_t)(bytes >> (8 * (s & 7))) & 0xff;
        if (s & 8)
            v = (v & 0x80) ? 0xff : 0;
        r |= v << (8 * i);
    }
    return r;
}

static void test_callouts(void **state)
{
    (void)state;
    ptx_module *m = tdev_parse(&D, callout_ptx);
    char why[200];
    int jit = ptx_kernel_engine(ptx_module_find_kernel(m, "co"), why, sizeof why);
    int jtr = ptx_kernel_engine(ptx_module_find_kernel(m, "tr"), why, sizeof why);
#ifdef SOFTGPU_HAVE_LLVM
    if (!jit || !jtr)
        fail_msg("co or tr not jitted: %s", why);
#else
    assert_int_equal(jit | jtr, 0);
#endif
    enum { B = 3, T = 40 }; /* gangs of 8 and a partial warp */
    uint32_t *out = tdev_alloc(&D, B * T * 16);
    memset(out, 0xff, B * T * 16);
    void *args[] = {&out};
    assert_int_equal(tdev_launch(&D, m, "co", B, T, 0, args), PTX_OK);
    for (uint32_t t = 0; t < B * T; t++) {
        uint32_t h = t % 45, want1 = (t & 1) ? prmt_ref(t, 0x11223344u, 0x5140) : (t >> 1) & 7;
        uint32_t lop = (t & 0x5a) | (t & 0xf0) | (0x5a & 0xf0); /* 0xe8: majority */
        assert_int_equal(out[4 * t], h * h);
        assert_int_equal(out[4 * t + 1], want1);
        assert_int_equal(out[4 * t + 2], (uint32_t)(((((uint64_t)t << 28) & 0xffffffffu) +
                                                     0xf0000000u) >> 32));
        assert_int_equal(out[4 * t + 3], lop);
    }
    unsigned who = 37; /* in the fifth gang of eight */
    void *targs[] = {&who};
    assert_int_equal(tdev_launch(&D, m, "tr", 1, 64, 0, targs), PTX_ERR_TRAP);
    if (!strstr(D.err, "trap") || !strstr(D.err, "thread 37,0,0"))
        fail_msg("unexpected error text: %s", D.err);
    who = 99; /* no thread traps */
    assert_int_equal(tdev_launch(&D, m, "tr", 1, 64, 0, targs), PTX_OK);
    tdev_free(m);
}

/* The kernel is on the JIT when the engine is built, else on the interpreter. */
static void expect_engine(ptx_module *m, const char *name)
{
    char why[200];
    int jit = ptx_kernel_engine(ptx_module_find_kernel(m, name), why, sizeof why);
#ifdef SOFTGPU_HAVE_LLVM
    if (!jit)
        fail_msg("%s is not on the JIT: %s", name, why);
#else
    assert_int_equal(jit, 0);
#endif
}

/* Gangs of 32 lanes with typed (32-bit) and 64-bit registers side by side, loads and stores
 * the gang cannot do as one vector (a stride of 12 and 16 bytes, a guard with odd lanes off:
 * the interpreter's executor for the gang) and uniform parameter loads. Per thread t:
 * s = (int8)in[12t] (sign-extended, a 64-bit register), u = (u16)in[12t+2], r = 7, f = 1;
 * n times: r = r * 3 + u, f = fma(f, 0.5, (float)s), s -= 1; then out[4t..4t+3] =
 * r, f, s, and in[12t+4] for odd t (99 for even ones). */
static const char typed_ptx[] = HDR
    ".visible .entry tl(.param .u64 in, .param .u64 out, .param .u32 n)\n{\n"
    " .reg .u32 %r<12>; .reg .s32 %s<4>; .reg .u64 %rd<8>; .reg .f32 %f<4>; .reg .pred %p<3>;\n"
    " ld.param.u64 %rd1, [in]; ld.param.u64 %rd2, [out]; ld.param.u32 %r9, [n];\n"
    " mov.u32 %r1, %tid.x; mov.u32 %r4, %ctaid.x; mov.u32 %r5, %ntid.x;\n"
    " mad.lo.u32 %r1, %r4, %r5, %r1;\n"
    " mul.wide.u32 %rd3, %r1, 12; add.s64 %rd4, %rd1, %rd3;\n"
    " ld.global.s8 %s1, [%rd4]; ld.global.u16 %r2, [%rd4+2];\n"
    " mov.u32 %r3, 7; mov.f32 %f1, 0f3F800000; mov.u32 %r10, 0; mov.u32 %r11, 99;\n"
    "LOOP:\n"
    " mad.lo.u32 %r3, %r3, 3, %r2;\n cvt.rn.f32.s32 %f2, %s1;\n"
    " fma.rn.f32 %f1, %f1, 0f3F000000, %f2;\n add.s32 %s1, %s1, -1;\n"
    " add.u32 %r10, %r10, 1;\n setp.lt.u32 %p1, %r10, %r9;\n @%p1 bra LOOP;\n"
    " and.b32 %r6, %r1, 1;\n setp.ne.u32 %p2, %r6, 0;\n @%p2 ld.global.u32 %r11, [%rd4+4];\n"
    " mul.wide.u32 %rd5, %r1, 16; add.s64 %rd6, %rd2, %rd5;\n"
    " st.global.u32 [%rd6], %r3; st.global.f32 [%rd6+4], %f1;\n"
    " st.global.u32 [%rd6+8], %s1; st.global.u32 [%rd6+12], %r11;\n ret;\n}\n";

static void test_typed_lanes(void **state)
{
    (void)state;
    ptx_module *m = tdev_parse(&D, typed_ptx);
    expect_engine(m, "tl");
    enum { B = 2, T = 96, N = B * T };
    uint8_t *in = tdev_alloc(&D, N * 12);
    uint32_t *out = tdev_alloc(&D, N * 16);
    for (uint32_t t = 0; t < N; t++) {
        uint16_t u = (uint16_t)(t * 1000 + 1);
        uint32_t w = t ^ 0xdeadbeefu;
        in[12 * t] = (uint8_t)(t * 37), memcpy(in + 12 * t + 2, &u, 2);
        memcpy(in + 12 * t + 4, &w, 4);
    }
    unsigned n = 5;
    void *args[] = {&in, &out, &n};
    assert_int_equal(tdev_launch(&D, m, "tl", B, T, 0, args), PTX_OK);
    for (uint32_t t = 0; t < N; t++) {
        int32_t sv = (int8_t)(uint8_t)(t * 37);
        uint32_t r = 7, u = (uint16_t)(t * 1000 + 1), fb;
        float f = 1;
        for (unsigned i = 0; i < n; i++)
            r = r * 3 + u, f = fmaf(f, 0.5f, (float)sv), sv -= 1;
        memcpy(&fb, &f, 4);
        assert_int_equal(out[4 * t], r);
        assert_int_equal(out[4 * t + 1], fb);
        assert_int_equal(out[4 * t + 2], (uint32_t)sv);
        assert_int_equal(out[4 * t + 3], t & 1 ? t ^ 0xdeadbeefu : 99u);
    }
    tdev_free(m);
}

/* bar.red on the JIT: threads t < limit of a block (the others exit first, and do not count)
 * reduce p = (t % 3 == 0) and q = (t != bad): out[3t..] = popc(p), and(q), or(!q), twice
 * around a loop so that a second reduction starts afresh. */
static const char barred_ptx[] = HDR
    ".visible .entry br(.param .u64 out, .param .u32 limit, .param .u32 bad)\n{\n"
    " .reg .u32 %r<12>; .reg .u64 %rd<4>; .reg .pred %p<6>;\n"
    " ld.param.u64 %rd1, [out]; ld.param.u32 %r9, [limit]; ld.param.u32 %r8, [bad];\n"
    " mov.u32 %r1, %tid.x;\n setp.ge.u32 %p5, %r1, %r9;\n @%p5 bra DONE;\n"
    " rem.u32 %r2, %r1, 3;\n setp.eq.u32 %p1, %r2, 0;\n setp.ne.u32 %p2, %r1, %r8;\n"
    " mov.u32 %r10, 0;\n"
    "LOOP:\n"
    " bar.red.popc.u32 %r3, 0, %p1;\n bar.red.and.pred %p3, 0, %p2;\n"
    " bar.red.or.pred %p4, 0, !%p2;\n"
    " add.u32 %r10, %r10, 1;\n setp.lt.u32 %p5, %r10, 2;\n @%p5 bra LOOP;\n"
    " selp.u32 %r4, 1, 0, %p3;\n selp.u32 %r5, 1, 0, %p4;\n"
    " mul.wide.u32 %rd2, %r1, 12;\n add.s64 %rd3, %rd1, %rd2;\n"
    " st.global.u32 [%rd3], %r3;\n st.global.u32 [%rd3+4], %r4;\n st.global.u32 [%rd3+8], %r5;\n"
    "DONE:\n ret;\n}\n";

static void test_bar_red(void **state)
{
    (void)state;
    ptx_module *m = tdev_parse(&D, barred_ptx);
    expect_engine(m, "br");
    enum { T = 100 }; /* three gangs and four threads alone */
    uint32_t *out = tdev_alloc(&D, T * 12);
    for (unsigned limit = 97, bad = 5; limit <= T; limit += 3, bad = 1000) {
        memset(out, 0xff, T * 12); /* 97: threads 97-99 exit first; 1000: q holds everywhere */
        void *args[] = {&out, &limit, &bad};
        assert_int_equal(tdev_launch(&D, m, "br", 1, T, 0, args), PTX_OK);
        uint32_t popc = 0;
        for (uint32_t t = 0; t < limit; t++)
            popc += t % 3 == 0;
        for (uint32_t t = 0; t < limit; t++) {
            assert_int_equal(out[3 * t], popc);
            assert_int_equal(out[3 * t + 1], bad >= limit);
            assert_int_equal(out[3 * t + 2], bad < limit);
        }
        for (uint32_t t = limit; t < T; t++)
            assert_int_equal(out[3 * t], 0xffffffffu);
    }
    tdev_free(m);
}

/* Warp operations on the JIT: per thread t (lane L of warp w), with v = t * 3 + 1:
 * out[4t] = shfl.bfly(v, 1); out[4t+1] = the warp's sum of v by shfl.down (lane 0's is the
 * whole sum); out[4t+2] = ballot(v odd) for even lanes, activemask among odd lanes only (the
 * odd lanes meet); out[4t+3] = the value lane L^1 stored to shared memory before a
 * __syncwarp() (bar.warp.sync orders lanes that run one after another on the JIT; it comes
 * before the branch, since the interpreter does not reconverge lanes there). */
static const char warp_ptx[] = HDR
    ".visible .entry wk(.param .u64 out)\n{\n"
    " .reg .u32 %r<16>; .reg .u64 %rd<6>; .reg .pred %p<3>;\n .shared .align 4 .b8 sw[1024];\n"
    " ld.param.u64 %rd1, [out]; mov.u32 %r1, %tid.x; mad.lo.u32 %r2, %r1, 3, 1;\n"
    " shfl.sync.bfly.b32 %r3, %r2, 1, 31, -1;\n"
    " mov.u32 %r4, %r2;\n"
    " shfl.sync.down.b32 %r5, %r4, 16, 31, -1; add.u32 %r4, %r4, %r5;\n"
    " shfl.sync.down.b32 %r5, %r4, 8, 31, -1; add.u32 %r4, %r4, %r5;\n"
    " shfl.sync.down.b32 %r5, %r4, 4, 31, -1; add.u32 %r4, %r4, %r5;\n"
    " shfl.sync.down.b32 %r5, %r4, 2, 31, -1; add.u32 %r4, %r4, %r5;\n"
    " shfl.sync.down.b32 %r5, %r4, 1, 31, -1; add.u32 %r4, %r4, %r5;\n"
    " shl.b32 %r9, %r1, 2; mov.u32 %r10, sw; add.u32 %r9, %r10, %r9;\n"
    " st.shared.u32 [%r9], %r2;\n bar.warp.sync -1;\n"
    " xor.b32 %r11, %r1, 1; shl.b32 %r11, %r11, 2; add.u32 %r11, %r10, %r11;\n"
    " ld.shared.u32 %r12, [%r11];\n"
    " and.b32 %r6, %r2, 1; setp.ne.u32 %p1, %r6, 0;\n"
    " vote.sync.ballot.b32 %r7, %p1, -1;\n"
    " and.b32 %r8, %r1, 1; setp.ne.u32 %p2, %r8, 0;\n"
    " @!%p2 bra EVEN;\n activemask.b32 %r7;\nEVEN:\n"
    " mul.wide.u32 %rd2, %r1, 16; add.s64 %rd3, %rd1, %rd2;\n"
    " st.global.v4.u32 [%rd3], {%r3, %r4, %r7, %r12};\n ret;\n}\n";

static void test_warp_ops(void **state)
{
    (void)state;
    ptx_module *m = tdev_parse(&D, warp_ptx);
    expect_engine(m, "wk");
    enum { N = 96 }; /* three warps */
    uint32_t *out = tdev_alloc(&D, N * 16);
    void *args[] = {&out};
    assert_int_equal(tdev_launch(&D, m, "wk", 1, N, 0, args), PTX_OK);
    for (uint32_t t = 0; t < N; t++) {
        uint32_t L = t % 32, w0 = t - L, sum, ballot = 0;
        uint32_t a[32]; /* the reduction's steps; shfl.down past lane 31 reads the lane's own */
        for (uint32_t j = 0; j < 32; j++)
            a[j] = (w0 + j) * 3 + 1;
        for (uint32_t d = 16; d >= 1; d /= 2) {
            uint32_t b[32];
            for (uint32_t j = 0; j < 32; j++)
                b[j] = a[j] + (j + d <= 31 ? a[j + d] : a[j]);
            memcpy(a, b, sizeof a);
        }
        sum = a[L];
        for (uint32_t j = 0; j < 32; j++)
            ballot |= (((w0 + j) * 3 + 1) & 1u) << j;
        uint32_t third = L & 1 ? 0xaaaaaaaau : ballot;
        uint32_t want[4] = {(t ^ 1) * 3 + 1, sum, third, (t ^ 1) * 3 + 1};
        for (int i = 0; i < 4; i++)
            if (out[4 * t + i] != want[i])
                fail_msg("thread %u value %d: %#x, expected %#x", t, i, out[4 * t + i], want[i]);
    }
    tdev_free(m);
}

/* out[t] = t * t + k for every thread of the block */
static const char sq_ptx[] = HDR
    ".visible .entry sq(.param .u64 out, .param .u32 k)\n{\n"
    " .reg .u32 %r<5>; .reg .u64 %rd<4>;\n"
    " ld.param.u64 %rd1, [out]; ld.param.u32 %r4, [k]; mov.u32 %r1, %tid.x;\n"
    " mul.lo.u32 %r2, %r1, %r1; add.u32 %r2, %r2, %r4;\n"
    " mul.wide.u32 %rd2, %r1, 4; add.s64 %rd3, %rd1, %rd2; st.global.u32 [%rd3], %r2;\n"
    " ret;\n}\n";

static int sq_run(ptx_module *m, unsigned k)
{
    uint32_t *out = tdev_alloc(&D, 64 * 4);
    void *args[] = {&out, &k};
    if (tdev_launch(&D, m, "sq", 1, 64, 0, args) != PTX_OK)
        return 0;
    for (uint32_t i = 0; i < 64; i++)
        if (out[i] != i * i + k)
            return 0;
    return 1;
}

static void test_compile_at_load(void **state)
{
    (void)state;
    char text[sizeof sq_ptx + 64];
    snprintf(text, sizeof text, "// %ld %d\n%s", (long)time(NULL), (int)getpid(), sq_ptx);
    ptx_module *m = tdev_parse(&D, text);
    const ptx_kernel *k = ptx_module_find_kernel(m, "sq");
    ptx_module_prepare(m);
#ifdef SOFTGPU_HAVE_LLVM
    /* nothing asks for the kernel: the compiler thread makes it ready (bounded, generous) */
    for (int i = 0; i < 1200 && !ptx_kernel_ready(k); i++)
        usleep(50000);
    if (!ptx_kernel_ready(k))
        fail_msg("a prepared kernel was not compiled within 60 s");
#endif
    char why[200];
    int jit = ptx_kernel_engine(k, why, sizeof why);
#ifdef SOFTGPU_HAVE_LLVM
    if (!jit || !strstr(why, "instructions"))
        fail_msg("the prepared kernel is not on the JIT: %s", why);
#else
    assert_int_equal(jit, 0);
#endif
    assert_true(sq_run(m, 7));
    tdev_free(m);
    /* freed at once, its kernels queued or compiling: waits or drops them, nothing leaks */
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof text, "// gone %d %ld\n%s", i, (long)time(NULL), sq_ptx);
        ptx_module *g = tdev_parse(&D, text);
        ptx_module_prepare(g);
        tdev_free(g);
    }
}

#ifdef SOFTGPU_HAVE_LLVM
static char self[4096], cache_dir[256];

/* Runs this program as a child (mode "child" or "hot", after env): its output (stdout and
 * stderr) into out. */
static void run_mode(const char *env, const char *mode, char *out, size_t len)
{
    char cmd[4700];
    snprintf(cmd, sizeof cmd, "%s SOFTGPU_JIT_CACHE='%s' '%s' %s 2>&1", env, cache_dir, self,
             mode);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = 0;
    assert_int_equal(pclose(p), 0);
}

static void run_child(char *out, size_t len)
{
    run_mode("", "child", out, len);
}

/* The one cache file (there is one kernel); 0 when there is none. */
static int cache_file(char *path, size_t len)
{
    DIR *d = opendir(cache_dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        if (strlen(e->d_name) == 66 && !strcmp(e->d_name + 64, ".o")) {
            snprintf(path, len, "%s/%s", cache_dir, e->d_name);
            found++;
        }
    if (d)
        closedir(d);
    return found == 1;
}

static void expect(const char *out, const char *what, const char *step)
{
    if (!strstr(out, what) || !strstr(out, "result: ok"))
        fail_msg("%s: expected '%s' and a right result, got:\n%s", step, what, out);
}

static void test_disk_cache(void **state)
{
    (void)state;
    char out[8192], path[512];
    struct stat st;
    run_child(out, sizeof out);
    expect(out, "compiled in", "first process");
    expect(out, "quick tier", "first process"); /* its optimised code goes to the disk */
    assert_int_equal(stat(cache_dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_true(cache_file(path, sizeof path));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    run_child(out, sizeof out);
    expect(out, "loaded from the disk cache", "second process");
    if (strstr(out, "JIT cache:"))
        fail_msg("a good file was warned about:\n%s", out);
    /* truncated: ignored with a warning, compiled again and replaced by a good file */
    assert_int_equal(truncate(path, st.st_size - 9), 0);
    run_child(out, sizeof out);
    expect(out, "compiled in", "truncated file");
    expect(out, "ignored and replaced", "truncated file");
    run_child(out, sizeof out);
    expect(out, "loaded from the disk cache", "after the truncated file");
    /* a byte of the code flipped: the checksum catches it */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, -100, SEEK_END);
    int c = fgetc(f);
    fseek(f, -100, SEEK_END);
    fputc(c ^ 0x5a, f);
    fclose(f);
    run_child(out, sizeof out);
    expect(out, "checksum", "corrupted file");
    expect(out, "compiled in", "corrupted file");
    /* a link in its place is not followed */
    char other[600];
    snprintf(other, sizeof other, "%s.elsewhere", path);
    assert_int_equal(rename(path, other), 0);
    assert_int_equal(symlink(other, path), 0);
    run_child(out, sizeof out);
    expect(out, "cannot be opened", "a link");
    expect(out, "compiled in", "a link");
    unlink(other);
}

/* Old files past SOFTGPU_JIT_CACHE_MB (1) go first, down to three quarters of it. */
static void test_disk_eviction(void **state)
{
    (void)state;
    char names[4][600], path[512], out[8192];
    static char junk[300 << 10];
    memset(junk, 1, sizeof junk);
    assert_true(cache_file(path, sizeof path));
    unlink(path);
    for (int i = 0; i < 4; i++) {
        snprintf(names[i], sizeof names[i], "%s/%064d.o", cache_dir, i);
        FILE *f = fopen(names[i], "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
        fclose(f);
        struct timespec t[2] = {{time(NULL) - 1000 + i * 100, 0}, {time(NULL) - 1000 + i * 100,
                                                                    0}};
        assert_int_equal(utimensat(AT_FDCWD, names[i], t, 0), 0);
    }
    setenv("SOFTGPU_JIT_CACHE_MB", "1", 1);
    run_child(out, sizeof out);
    unsetenv("SOFTGPU_JIT_CACHE_MB");
    expect(out, "compiled in", "eviction");
    assert_int_not_equal(access(names[0], F_OK), 0);
    assert_int_not_equal(access(names[1], F_OK), 0);
    assert_int_equal(access(names[2], F_OK), 0);
    assert_int_equal(access(names[3], F_OK), 0);
    for (int i = 2; i < 4; i++)
        unlink(names[i]);
    assert_true(cache_file(path, sizeof path)); /* the newest, just written, stays */
}

/* The auto engine's tiers: a kernel not compiled ahead runs on the interpreter until its
 * SOFTGPU_JIT_HOT-th launch (2 here) queues it; questions asked for logs count nothing. */
static int hot_main(void)
{
    tdev_init(&D, 2);
    char text[sizeof sq_ptx + 64];
    snprintf(text, sizeof text, "// hot %d\n%s", (int)getpid(), sq_ptx);
    ptx_module *m = tdev_parse(&D, text);
    const ptx_kernel *k = ptx_module_find_kernel(m, "sq");
    char why[200];
    for (int i = 0; i < 5; i++)
        printf("asked: %s\n", ptx_kernel_engine(k, why, sizeof why) ? "jit" : "interp");
    for (int i = 0; i < 2; i++) {
        int jit = ptx_kernel_engine(k, why, sizeof why);
        printf("launch %d: %s result: %s\n", i + 1, jit ? "jit" : "interp",
               sq_run(m, 7) ? "ok" : "WRONG");
    }
    for (int i = 0; i < 1200 && !ptx_kernel_engine(k, why, sizeof why); i++)
        usleep(50000); /* queued: the compiler thread makes it (bounded, generous) */
    int jit = ptx_kernel_engine(k, why, sizeof why);
    printf("launch 3: %s result: %s\n", jit ? "jit" : "interp", sq_run(m, 7) ? "ok" : "WRONG");
    tdev_free(m);
    tdev_fini(&D);
    return 0;
}

static void test_auto_hot(void **state)
{
    (void)state;
    char out[8192];
    run_mode("SOFTGPU_JIT_HOT=2", "hot", out, sizeof out);
    if (strstr(out, "asked: jit") || !strstr(out, "launch 1: interp result: ok") ||
        !strstr(out, "launch 2: interp result: ok") || !strstr(out, "launch 3: jit result: ok"))
        fail_msg("expected two interpreted launches, then the JIT, all right; got:\n%s", out);
}

static int child_main(void)
{
    tdev_init(&D, 2);
    ptx_module *m = tdev_parse(&D, sq_ptx);
    char why[200];
    int jit = ptx_kernel_engine(ptx_module_find_kernel(m, "sq"), why, sizeof why);
    printf("engine: %s why: %s\n", jit ? "jit" : "interp", why);
    printf("result: %s\n", sq_run(m, 7) ? "ok" : "WRONG");
    tdev_free(m);
    tdev_fini(&D);
    return 0;
}
#endif

int main(int argc, char **argv)
{
    setenv("SOFTGPU_EXEC", "auto", 1); /* this test is about the default engine, */
    setenv("SOFTGPU_JIT_HOT", "0", 0); /* each kernel compiled at its first launch */
#ifdef SOFTGPU_HAVE_LLVM
    if (argc > 1 && !strcmp(argv[1], "child"))
        return child_main();
    if (argc > 1 && !strcmp(argv[1], "hot"))
        return hot_main();
    /* the children's cache folder, this run's: created by the engine (it must make it 0700) */
    snprintf(cache_dir, sizeof cache_dir, "/tmp/test_ptx_jit.%d/cache", (int)getpid());
    char parent[256];
    snprintf(parent, sizeof parent, "/tmp/test_ptx_jit.%d", (int)getpid());
    mkdir(parent, 0700);
    setenv("SOFTGPU_JIT_CACHE", "off", 1); /* this process's kernels: not in the children's */
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
#else
    (void)argc;
    (void)argv;
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_barriers),
        cmocka_unit_test(test_control_flow),
        cmocka_unit_test(test_atomics),
        cmocka_unit_test(test_illegal_address),
        cmocka_unit_test(test_cache_and_fallback),
        cmocka_unit_test(test_compile_at_load),
        cmocka_unit_test(test_warp_ops),
        cmocka_unit_test(test_callouts),
        cmocka_unit_test(test_typed_lanes),
        cmocka_unit_test(test_bar_red),
#ifdef SOFTGPU_HAVE_LLVM
        cmocka_unit_test(test_disk_cache),
        cmocka_unit_test(test_disk_eviction),
        cmocka_unit_test(test_auto_hot),
#endif
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
#ifdef SOFTGPU_HAVE_LLVM
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", parent);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", parent);
#endif
    return rc;
}
