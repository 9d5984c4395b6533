/*
 * PTX interpreter tests, part 3: hand-written PTX. Malformed modules and unknown instructions
 * give clear errors with line numbers; bad accesses end the launch with the right status; and
 * instruction semantics that nvcc rarely emits on its own (carry chains, bit fields, unordered
 * compares, packed conversions, special registers, generic addressing, barriers with counts).
 */
#include <math.h>
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

#define HDR ".version 8.0\n.target sm_80\n.address_size 64\n"

static void expect_parse_error(const char *text, const char *needle)
{
    char err[256] = "";
    ptx_module *m = ptx_module_parse(text, strlen(text), err, sizeof err);
    if (m)
        fail_msg("parsed, expected error containing '%s'", needle);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_parse_error(HDR ".entry k()\n{\n\tfoo.bar.u32 %r1;\n}\n",
                       "line 6: unknown instruction 'foo.bar.u32'");
    expect_parse_error(HDR ".entry k()\n{\n.reg .b32 %r<2>;\n\tadd.q32 %r1, %r1, 1;\n}\n",
                       "line 7: unknown instruction 'add.q32'");
    expect_parse_error(HDR ".entry k()\n{\n.reg .b32 %r<2>;\n\tmov.u32 %r1, 1\n\tret;\n}\n",
                       "line 8: expected ',' or ';'");
    expect_parse_error(HDR ".entry k()\n{\n\tbra $L_nowhere;\n}\n", "undefined name '$L_nowhere'");
    expect_parse_error(HDR ".entry k()\n{\n.reg .b32 %r<2>;\n\tmov.u32 %r9, 1;\n}\n",
                       "unknown register '%r9'");
    expect_parse_error(HDR ".entry k()\n{\n", "end of file");
    expect_parse_error(".target sm_80\n", "missing .version");
    expect_parse_error(HDR ".entry k()\n{\n/* never closed", "unterminated comment");
    expect_parse_error(HDR ".entry k()\n{\n.reg .b32 %r<2>;\n\tadd.u32 %r1, %r1;\n}\n",
                       "takes 3 operands");
    expect_parse_error(HDR ".func f(.param .b32 a);\n.entry k()\n{\n\tcall f, (x);\n}\n", "line");
    expect_parse_error(HDR ".extern .func g();\n.entry k()\n{\n\tcall g, ();\n}\n",
                       "undefined function 'g'");
    expect_parse_error("\x01\x02\xff garbage", "line 1");
    expect_parse_error("", "missing .version");
    /* known gaps fail the load, naming the instruction */
    expect_parse_error(HDR ".entry k()\n{\n.reg .b32 %r<9>;\n"
                       "tcgen05.alloc.cta_group::1.sync.aligned.shared::cta.b32 [%r5], 32;\n}\n",
                       "unknown instruction 'tcgen05.alloc.cta_group::1.sync.aligned.shared::cta.b32'");
    expect_parse_error(HDR ".entry k()\n{\n.reg .b32 %r<9>;\n"
                       "cp.async.bulk.tensor.1d.shared::cluster.global.mbarrier::complete_tx::bytes"
                       " [%r1], [%r2, {%r3}], [%r4];\n}\n", "(modifier '.tensor')");
    expect_parse_error(HDR ".entry k()\n{\n.reg .b32 %r<9>;\n"
                       "mma.sync.aligned.m8n8k4.row.col.f32.f16.f16.f32 {%r1, %r2, %r3, %r4}, "
                       "{%r5, %r6}, {%r7, %r8}, {%r1, %r2, %r3, %r4};\n}\n",
                       "not supported");
}

static void expect_run(const char *body, const char *params, unsigned bx, void **args,
                       enum ptx_status want, const char *needle)
{
    char text[8192];
    snprintf(text, sizeof text, HDR ".visible .entry k(%s)\n{\n%s\n}\n", params, body);
    ptx_module *m = tdev_parse(&D, text);
    enum ptx_status st = tdev_launch(&D, m, "k", 1, bx, 0, args);
    if (st != want)
        fail_msg("status %d, want %d (%s)", st, want, D.err);
    if (needle && !strstr(D.err, needle))
        fail_msg("error '%s' lacks '%s'", D.err, needle);
    tdev_free(m);
}

static void test_bad_accesses(void **state)
{
    (void)state;
    uint32_t *buf = tdev_alloc(&D, 64);
    void *args[] = {&buf};
    /* shared access past the end of the (64-byte) window */
    expect_run(".shared .align 4 .b8 s[64];\n.reg .b32 %r<3>;\n"
               "mov.u32 %r1, s;\nld.shared.u32 %r2, [%r1+64];\nret;",
               ".param .u64 p", 1, args, PTX_ERR_ILLEGAL_ADDRESS, "shared address 0x40");
    /* misaligned global access */
    expect_run(".reg .b64 %rd<3>;\n.reg .b32 %r<2>;\nld.param.u64 %rd1, [p];\n"
               "ld.global.u32 %r1, [%rd1+2];\nret;",
               ".param .u64 p", 1, args, PTX_ERR_MISALIGNED, "misaligned");
    /* local access past the thread's window */
    expect_run(".local .align 4 .b8 d[16];\n.reg .b64 %rd<3>;\n.reg .b32 %r<2>;\n"
               "mov.u64 %rd1, d;\nld.local.u32 %r1, [%rd1+1048576];\nret;",
               ".param .u64 p", 1, args, PTX_ERR_ILLEGAL_ADDRESS, "local");
    /* a barrier that can never complete: the warps wait at different barriers */
    expect_run(".reg .b32 %r<3>;\n.reg .pred %p<2>;\nmov.u32 %r1, %tid.x;\n"
               "setp.lt.u32 %p1, %r1, 32;\n@%p1 bar.sync 1;\n@!%p1 bar.sync 2;\nret;",
               ".param .u64 p", 64, args, PTX_ERR_LAUNCH_FAILED, "deadlock");
    /* generic store through a pointer into the first, unmapped page */
    expect_run(".reg .b64 %rd<3>;\nmov.u64 %rd1, 16;\nst.u32 [%rd1], 5;\nret;",
               ".param .u64 p", 1, args, PTX_ERR_ILLEGAL_ADDRESS, "not mapped");
    /* executing a not yet supported instruction reports it by name */
    expect_run(".reg .b32 %r<2>;\nbrkpt;\nret;", ".param .u64 p", 1, args, PTX_ERR_TRAP, "brkpt");
}

static void test_hand_semantics(void **state)
{
    (void)state;
    enum { NOUT = 24 };
    uint64_t *out = tdev_alloc(&D, 32 * NOUT * 8);
    void *args[] = {&out};
    const char *body =
        ".reg .b32 %r<40>;\n.reg .b64 %rd<20>;\n.reg .pred %p<8>;\n.reg .f32 %f<8>;\n"
        ".shared .align 8 .b8 sm[256];\n"
        "ld.param.u64 %rd1, [p];\n"
        "mov.u32 %r1, %tid.x;\n"
        "mul.wide.u32 %rd2, %r1, 192;\n"      /* NOUT * 8 */
        "add.s64 %rd3, %rd1, %rd2;\n"
        /* 0: 64-bit add through 32-bit carry chain: 0xffffffff + tid + (1<<32) */
        "mov.u32 %r2, -1;\nmov.u32 %r3, 1;\n"
        "add.cc.u32 %r4, %r2, %r1;\naddc.u32 %r5, %r3, 0;\n"
        "mov.b64 %rd4, {%r4, %r5};\nst.global.u64 [%rd3], %rd4;\n"
        /* 1: sub.cc borrow */
        "sub.cc.u32 %r6, %r1, 1;\nsubc.u32 %r7, 0, 0;\nmov.b64 %rd5, {%r6, %r7};\n"
        "st.global.u64 [%rd3+8], %rd5;\n"
        /* 2: bfe signed and unsigned, 3: bfi */
        "mov.u32 %r8, 0xF0F0A5A5;\nbfe.s32 %r9, %r8, 4, 8;\nbfe.u32 %r10, %r8, %r1, 5;\n"
        "cvt.u64.u32 %rd6, %r9;\nst.global.u64 [%rd3+16], %rd6;\n"
        "bfi.b32 %r11, %r1, %r8, 8, 4;\ncvt.u64.u32 %rd6, %r11;\nst.global.u64 [%rd3+24], %rd6;\n"
        /* 4: unordered compare with NaN, combined with .and */
        "mov.f32 %f1, 0f7FC00000;\ncvt.rn.f32.u32 %f2, %r1;\n"
        "setp.ltu.and.f32 %p1, %f1, %f2, %p0;\nsetp.eq.u32 %p0, %r1, %r1;\n"
        "setp.geu.and.f32 %p2|%p3, %f1, %f2, %p0;\n"
        "selp.u64 %rd7, 1, 0, %p2;\nselp.u64 %rd8, 2, 0, %p3;\nadd.s64 %rd7, %rd7, %rd8;\n"
        "st.global.u64 [%rd3+32], %rd7;\n"
        /* 5: testp and copysign */
        "testp.notanumber.f32 %p4, %f1;\nselp.u64 %rd9, 7, 9, %p4;\nst.global.u64 [%rd3+40], %rd9;\n"
        /* 6: packed conversion f32 -> f16x2 */
        "mov.f32 %f3, 0f3FC00000;\nmov.f32 %f4, 0fC0000000;\ncvt.rn.f16x2.f32 %r12, %f3, %f4;\n"
        "cvt.u64.u32 %rd10, %r12;\nst.global.u64 [%rd3+48], %rd10;\n"
        /* 7: special registers */
        "mov.u32 %r13, %laneid;\nmov.u32 %r14, %warpid;\nmov.u32 %r15, %lanemask_lt;\n"
        "mad.lo.u32 %r16, %r14, 1000, %r13;\ncvt.u64.u32 %rd11, %r16;\nst.global.u64 [%rd3+56], %rd11;\n"
        "cvt.u64.u32 %rd11, %r15;\nst.global.u64 [%rd3+64], %rd11;\n"
        /* 9: generic addressing into shared memory via cvta */
        "mov.u64 %rd12, sm;\ncvta.shared.u64 %rd13, %rd12;\nmul.wide.u32 %rd14, %r1, 4;\n"
        "add.s64 %rd15, %rd13, %rd14;\nst.u32 [%rd15], %r1;\nbar.sync 0, 32;\n"
        "xor.b32 %r17, %r1, 1;\nmul.wide.u32 %rd14, %r17, 4;\nadd.s64 %rd15, %rd13, %rd14;\n"
        "ld.u32 %r18, [%rd15];\ncvt.u64.u32 %rd16, %r18;\nst.global.u64 [%rd3+72], %rd16;\n"
        "cvta.to.shared.u64 %rd17, %rd15;\nst.global.u64 [%rd3+80], %rd17;\n"
        /* 11: prmt modes, lop3, shf.r.clamp, bfind, clz, brev */
        "prmt.b32.f4e %r19, %r8, %r1, 1;\ncvt.u64.u32 %rd6, %r19;\nst.global.u64 [%rd3+88], %rd6;\n"
        "lop3.b32 %r20, %r8, %r1, %r2, 0x96;\ncvt.u64.u32 %rd6, %r20;\nst.global.u64 [%rd3+96], %rd6;\n"
        "shf.r.clamp.b32 %r21, %r8, %r1, 40;\ncvt.u64.u32 %rd6, %r21;\nst.global.u64 [%rd3+104], %rd6;\n"
        "bfind.u32 %r22, %r1;\ncvt.u64.u32 %rd6, %r22;\nst.global.u64 [%rd3+112], %rd6;\n"
        /* 15: division, remainder by zero (no crash), min/max signed */
        "div.u32 %r23, %r1, 0;\ncvt.u64.u32 %rd6, %r23;\nst.global.u64 [%rd3+120], %rd6;\n"
        "rem.s32 %r24, -7, 3;\ncvt.s64.s32 %rd6, %r24;\nst.global.u64 [%rd3+128], %rd6;\n"
        /* 17: 64-bit mul.hi and mad.wide */
        "mov.u64 %rd18, 0xFFFFFFFFFFFFFFFF;\nmul.hi.u64 %rd19, %rd18, %rd18;\nst.global.u64 [%rd3+136], %rd19;\n"
        "mad.wide.s32 %rd19, %r1, -3, %rd18;\nst.global.u64 [%rd3+144], %rd19;\n"
        /* 19: cvt rounding of float to int and saturation */
        "cvt.rni.s32.f32 %r25, 0f40200000;\ncvt.rmi.s32.f32 %r26, 0fC0200000;\n"
        "cvt.sat.u8.s32 %r27, %r25;\nsub.s32 %r28, %r26, %r27;\ncvt.s64.s32 %rd6, %r28;\n"
        "st.global.u64 [%rd3+152], %rd6;\n"
        /* 20: vote/redux in a divergent region */
        "and.b32 %r29, %r1, 3;\nsetp.eq.u32 %p5, %r29, 0;\n@!%p5 bra $L_skip;\n"
        "activemask.b32 %r30;\nredux.sync.add.u32 %r31, %r1, %r30;\n"
        "$L_skip:\nselp.u32 %r31, %r31, 0, %p5;\ncvt.u64.u32 %rd6, %r31;\nst.global.u64 [%rd3+160], %rd6;\n"
        "ret;";
    expect_run(body, ".param .u64 p", 32, args, PTX_OK, NULL);
    for (uint32_t t = 0; t < 32; t++) {
        uint64_t *o = out + t * NOUT;
        assert_int_equal(o[0], 0xffffffffull + t + (1ull << 32));
        assert_int_equal(o[1], t == 0 ? 0xffffffffffffffffull : t - 1);
        assert_int_equal(o[2], 0x5a);
        assert_int_equal(o[3], (0xF0F0A5A5u & ~0xF00u) | ((t & 15) << 8));
        assert_int_equal(o[4], 1);
        assert_int_equal(o[5], 7);
        assert_int_equal(o[6], 0x3E00C000u);
        assert_int_equal(o[7], t);
        assert_int_equal(o[8], (1u << t) - 1);
        assert_int_equal(o[9], t ^ 1);
        assert_int_equal(o[10], (t ^ 1) * 4);
        assert_int_equal(o[11], 0xA5u | 0xF000u | 0xF00000u | (t << 24));
        assert_int_equal(o[12], 0xF0F0A5A5u ^ t ^ 0xffffffffu);
        assert_int_equal(o[13], t);
        assert_int_equal(o[14], t ? 31u - (uint32_t)__builtin_clz(t) : 0xffffffffu);
        assert_int_equal(o[15], 0xffffffffu);
        assert_int_equal(o[16], 0xffffffffffffffffull);
        assert_int_equal(o[17], 0xfffffffffffffffeull);
        assert_int_equal(o[18], (uint64_t)(-3 * (int64_t)t - 1));
        assert_int_equal(o[19], (uint64_t)-5ll);
        assert_int_equal(o[20], t % 4 == 0 ? 112 : 0);
    }
}

/* Runs a 1-block kernel of `threads` threads writing one u32 per thread to out: `decls`, then
 * %rd1 = out and %r1 = %tid.x, then `body`, which leaves its result in %r2 and falls through to
 * the store of out[%tid.x] (or branches to $L_done to store nothing). */
static void run_per_thread(const char *decls, const char *body, unsigned threads, uint32_t *out)
{
    char text[4096];
    void *args[] = {&out};
    snprintf(text, sizeof text,
             "%s\n.reg .b32 %%r<8>;\n.reg .pred %%p<4>;\n.reg .b64 %%rd<6>;\n"
             "ld.param.u64 %%rd1, [p];\nmov.u32 %%r1, %%tid.x;\n%s\n"
             "mul.wide.u32 %%rd2, %%r1, 4;\nadd.s64 %%rd3, %%rd1, %%rd2;\n"
             "st.global.u32 [%%rd3], %%r2;\n$L_done:\nret;",
             decls, body);
    expect_run(text, ".param .u64 p", threads, args, PTX_OK, NULL);
}

static void test_scheduling(void **state)
{
    (void)state;
    uint32_t *out = tdev_alloc(&D, 64 * 4);
    /* warp 0 spins on a shared flag that warp 1 sets after a long loop: needs time slicing */
    run_per_thread(".shared .align 4 .u32 flag;",
                   "setp.lt.u32 %p1, %r1, 32;\n@%p1 bra $L_wait;\nmov.u32 %r2, 0;\n$L_loop:\n"
                   "add.u32 %r2, %r2, 1;\nsetp.lt.u32 %p2, %r2, 20000;\n@%p2 bra $L_loop;\n"
                   "st.volatile.shared.u32 [flag], %r2;\nbra $L_done;\n$L_wait:\n"
                   "ld.volatile.shared.u32 %r2, [flag];\nsetp.eq.u32 %p3, %r2, 0;\n"
                   "@%p3 bra $L_wait;",
                   64, out);
    for (int t = 0; t < 32; t++)
        assert_int_equal(out[t], 20000);
    /* producer/consumer with named barriers: warp 1 arrives, warp 0 syncs */
    run_per_thread(".shared .align 4 .u32 v;",
                   "setp.lt.u32 %p1, %r1, 32;\n@%p1 bra $L_cons;\nst.shared.u32 [v], 77;\n"
                   "bar.arrive 3, 64;\nbra $L_done;\n$L_cons:\nbar.sync 3, 64;\n"
                   "ld.shared.u32 %r2, [v];",
                   64, out);
    for (int t = 0; t < 32; t++)
        assert_int_equal(out[t], 77);
}

/* barrier.sync with a thread count counts whole warps, each once: a warp whose lanes arrive
 * in two divergent groups is counted when its last lane arrives, not once per group. */
static void test_barrier_counts(void **state)
{
    (void)state;
    uint32_t *out = tdev_alloc(&D, 64 * 4);
    /* lanes 0-15 arrive first; lanes 16-31 arrive only after a long loop and a store to v */
    run_per_thread(".shared .align 4 .u32 v;",
                   "setp.lt.u32 %p1, %r1, 16;\nsetp.lt.u32 %p2, %r1, 32;\n@%p1 bra $L_early;\n"
                   "@!%p2 bra $L_other;\nbra $L_late;\n$L_early:\nbarrier.sync 1, 64;\n"
                   "bra $L_read;\n$L_late:\nmov.u32 %r3, 0;\n$L_spin:\nadd.u32 %r3, %r3, 1;\n"
                   "setp.lt.u32 %p3, %r3, 20000;\n@%p3 bra $L_spin;\nst.shared.u32 [v], 5;\n"
                   "barrier.sync 1, 64;\nbra $L_read;\n$L_other:\nbarrier.sync 1, 64;\n"
                   "$L_read:\nld.shared.u32 %r2, [v];",
                   64, out);
    for (int t = 0; t < 64; t++)
        assert_int_equal(out[t], 5);
    /* 48 threads, 44 of them live: two warps arrive, which is 64 threads' worth */
    memset(out, 0, 64 * 4);
    run_per_thread(".shared .align 4 .u32 s[48];",
                   "setp.ge.u32 %p1, %r1, 44;\n@%p1 exit;\nmov.u64 %rd4, s;\n"
                   "mul.wide.u32 %rd2, %r1, 4;\nadd.s64 %rd5, %rd4, %rd2;\nadd.u32 %r2, %r1, 1;\n"
                   "st.shared.u32 [%rd5], %r2;\nbar.sync 1, 64;\nadd.u32 %r3, %r1, 16;\n"
                   "rem.u32 %r3, %r3, 48;\nmul.wide.u32 %rd3, %r3, 4;\nadd.s64 %rd5, %rd4, %rd3;\n"
                   "ld.shared.u32 %r2, [%rd5];",
                   48, out);
    for (uint32_t t = 0; t < 44; t++) {
        uint32_t src = (t + 16) % 48;
        assert_int_equal(out[t], src < 44 ? src + 1 : 0);
    }
    /* a count above the block's warps can never complete */
    expect_run("bar.sync 1, 96;\nret;", "", 48, NULL, PTX_ERR_LAUNCH_FAILED, "thread count");
}

static void test_runaway_recursion(void **state)
{
    (void)state;
    const char *text = HDR
        ".func (.param .b32 r) f(.param .b32 a)\n{\n.reg .b32 %r<4>;\n"
        "ld.param.b32 %r1, [a];\nadd.s32 %r2, %r1, 1;\n{\n.param .b32 p0;\n.param .b32 r0;\n"
        "st.param.b32 [p0], %r2;\ncall.uni (r0), f, (p0);\nld.param.b32 %r3, [r0];\n}\n"
        "st.param.b32 [r], %r3;\nret;\n}\n"
        ".visible .entry k()\n{\n.reg .b32 %r<3>;\n{\n.param .b32 p0;\n.param .b32 r0;\n"
        "st.param.b32 [p0], 0;\ncall.uni (r0), f, (p0);\n}\nret;\n}\n";
    ptx_module *m = tdev_parse(&D, text);
    assert_int_equal(tdev_launch(&D, m, "k", 1, 32, 0, NULL), PTX_ERR_LAUNCH_FAILED);
    assert_true(strstr(D.err, "call depth") || strstr(D.err, "stack overflow"));
    tdev_free(m);
}

static void test_launch_validation(void **state)
{
    (void)state;
    ptx_module *m = tdev_parse(&D, HDR ".visible .entry k()\n{\nret;\n}\n");
    assert_int_equal(tdev_launch(&D, m, "k", 1, 2048, 0, NULL), PTX_ERR_INVALID_CONFIG);
    assert_int_equal(tdev_launch(&D, m, "k", 0, 32, 0, NULL), PTX_ERR_INVALID_CONFIG);
    assert_int_equal(tdev_launch(&D, m, "k", 1, 32, 1 << 30, NULL), PTX_ERR_INVALID_CONFIG);
    assert_int_equal(tdev_launch(&D, m, "k", 3, 33, 0, NULL), PTX_OK);
    tdev_free(m);
}

static void test_rounding_modes(void **state)
{
    (void)state;
    uint32_t *out = tdev_alloc(&D, 16 * 4);
    void *args[] = {&out};
    /* 1/3 in each direction: rz and rm agree for positive values, rp is one ulp above */
    expect_run(".reg .f32 %f<12>;\n.reg .f64 %fd<4>;\n.reg .b64 %rd<3>;\n.reg .b32 %r<4>;\n"
               "ld.param.u64 %rd1, [p];\nmov.f64 %fd1, 0d3FD5555555555555;\n"
               "cvt.rn.f32.f64 %f1, %fd1;\ncvt.rz.f32.f64 %f2, %fd1;\ncvt.rm.f32.f64 %f3, %fd1;\n"
               "cvt.rp.f32.f64 %f4, %fd1;\nmov.f32 %f5, 0f3F800000;\nmov.f32 %f6, 0f40400000;\n"
               "div.rn.f32 %f7, %f5, %f6;\nadd.rz.f32 %f8, %f7, 0f32000000;\n"
               "add.rp.f32 %f9, %f7, 0f32000000;\nmul.rm.f32 %f10, %f7, 0fBF800001;\n"
               "cvt.rzi.f32.f32 %f11, 0fC0700000;\n"
               "st.global.f32 [%rd1], %f1;\nst.global.f32 [%rd1+4], %f2;\nst.global.f32 [%rd1+8], %f3;\n"
               "st.global.f32 [%rd1+12], %f4;\nst.global.f32 [%rd1+16], %f7;\nst.global.f32 [%rd1+20], %f8;\n"
               "st.global.f32 [%rd1+24], %f9;\nst.global.f32 [%rd1+28], %f10;\nst.global.f32 [%rd1+32], %f11;\n"
               "cvt.rn.sat.f32.f32 %f1, 0f40000000;\nst.global.f32 [%rd1+36], %f1;\n"
               "cvt.rn.satfinite.bf16x2.f32 %r1, %f6, %f5;\nst.global.u32 [%rd1+40], %r1;\nret;",
               ".param .u64 p", 1, args, PTX_OK, NULL);
    assert_int_equal(out[0], 0x3EAAAAABu); /* round to nearest */
    assert_int_equal(out[1], 0x3EAAAAAAu); /* toward zero */
    assert_int_equal(out[2], 0x3EAAAAAAu); /* down */
    assert_int_equal(out[3], 0x3EAAAAABu); /* up */
    assert_int_equal(out[4], 0x3EAAAAABu);
    assert_int_equal(out[5], 0x3EAAAAABu); /* + a quarter ulp, truncated */
    assert_int_equal(out[6], 0x3EAAAAACu); /* + a quarter ulp, rounded up */
    assert_int_equal(out[7], 0xBEAAAAADu); /* -(x + 1.33 ulp) rounded down: 2 ulps */
    assert_int_equal(out[8], 0xC0400000u); /* -3.75 truncated to -3 */
    assert_int_equal(out[9], 0x3F800000u); /* saturated to 1 */
    assert_int_equal(out[10], 0x40403F80u); /* {bf16(3), bf16(1)} */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_bad_accesses),
        cmocka_unit_test(test_hand_semantics),
        cmocka_unit_test(test_scheduling),
        cmocka_unit_test(test_barrier_counts),
        cmocka_unit_test(test_runaway_recursion),
        cmocka_unit_test(test_launch_validation),
        cmocka_unit_test(test_rounding_modes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
