/*
 * softgpu: the device heap behind device-side malloc()/free(). A PTX kernel in which every
 * thread calls malloc, writes its block and optionally frees it; the blocks live in device
 * memory (the host can read them), are distinct and aligned, persist across launches until
 * freed, and malloc returns NULL once CU_LIMIT_MALLOC_HEAP_SIZE is used up. The limit has
 * CUDA's default and becomes fixed once a kernel that uses malloc has been launched.
 */
#include <stdlib.h>

#include "sg_test.h"

/* out[gid] = malloc(size); the block gets gid in its first and last 8 bytes, read back (a
 * mismatch stores 1 instead of the pointer); free(block) when p_free != 0. */
static const char ptx_heap[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".extern .func (.param .b64 func_retval0) malloc(.param .b64 malloc_param_0);\n"
    ".extern .func free(.param .b64 free_param_0);\n"
    ".visible .entry heap_rt(.param .u64 p_out, .param .u64 p_size, .param .u32 p_free)\n"
    "{\n"
    "  .reg .pred %p<4>;\n  .reg .b32 %r<6>;\n  .reg .b64 %rd<12>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  ld.param.u64 %rd2, [p_size];\n"
    "  ld.param.u32 %r1, [p_free];\n"
    "  mov.u32 %r2, %tid.x;\n  mov.u32 %r3, %ctaid.x;\n  mov.u32 %r4, %ntid.x;\n"
    "  mad.lo.s32 %r5, %r3, %r4, %r2;\n"
    "  {\n  .param .b64 param0;\n  st.param.b64 [param0+0], %rd2;\n"
    "  .param .b64 retval0;\n  call.uni (retval0), malloc, (param0);\n"
    "  ld.param.b64 %rd3, [retval0+0];\n  }\n"
    "  setp.eq.s64 %p1, %rd3, 0;\n  @%p1 bra STORE;\n"
    "  cvt.u64.u32 %rd4, %r5;\n  add.s64 %rd8, %rd3, %rd2;\n  add.s64 %rd8, %rd8, -8;\n"
    "  st.global.u64 [%rd3], %rd4;\n  st.global.u64 [%rd8], %rd4;\n"
    "  ld.global.u64 %rd5, [%rd3];\n  ld.global.u64 %rd9, [%rd8];\n"
    "  setp.ne.s64 %p2, %rd5, %rd4;\n  setp.ne.or.s64 %p2, %rd9, %rd4, %p2;\n"
    "  @%p2 mov.u64 %rd3, 1;\n  @%p2 bra STORE;\n"
    "  setp.eq.u32 %p3, %r1, 0;\n  @%p3 bra STORE;\n"
    "  {\n  .param .b64 param0;\n  st.param.b64 [param0+0], %rd3;\n"
    "  call.uni free, (param0);\n  }\n"
    "STORE:\n"
    "  mul.wide.u32 %rd6, %r5, 8;\n  add.s64 %rd7, %rd1, %rd6;\n"
    "  st.global.u64 [%rd7], %rd3;\n  ret;\n}\n"
    /* a kernel without malloc: launching it must not fix the heap size */
    ".visible .entry no_heap(.param .u64 p_out)\n"
    "{\n  .reg .b64 %rd<2>;\n  ld.param.u64 %rd1, [p_out];\n"
    "  st.global.u64 [%rd1], 7;\n  ret;\n}\n";

struct heap_fixture {
    CUmodule mod;
    CUfunction rt;
    CUdeviceptr out;
};

/* Each test gets a fresh primary context, so the heap starts unfixed. */
static int setup(void **state)
{
    static struct heap_fixture fx;
    if (sg_setup_primary(state) || cuModuleLoadData(&fx.mod, ptx_heap)
        || cuModuleGetFunction(&fx.rt, fx.mod, "heap_rt") || cuMemAlloc(&fx.out, 4096 * 8))
        return -1;
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct heap_fixture *fx = *state;
    cuMemFree(fx->out);
    cuModuleUnload(fx->mod);
    return sg_teardown_primary(state);
}

/* Runs heap_rt on blocks x threads and copies the pointers it produced into ptrs. */
static void run_rt(struct heap_fixture *fx, unsigned blocks, unsigned threads, uint64_t size,
                   unsigned do_free, uint64_t *ptrs)
{
    void *params[] = {&fx->out, &size, &do_free};
    CU_OK(cuLaunchKernel(fx->rt, blocks, 1, 1, threads, 1, 1, 0, NULL, params, NULL));
    CU_OK(cuCtxSynchronize());
    CU_OK(cuMemcpyDtoH(ptrs, fx->out, (size_t)blocks * threads * 8));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_limit_get_set(void **state)
{
    struct heap_fixture *fx = *state;
    size_t v = 0;
    CU_OK(cuCtxGetLimit(&v, CU_LIMIT_MALLOC_HEAP_SIZE));
    assert_int_equal(v, 8u << 20); /* CUDA's default */
    CU_ERR(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 0), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 1u << 20));
    CU_OK(cuCtxGetLimit(&v, CU_LIMIT_MALLOC_HEAP_SIZE));
    assert_int_equal(v, 1u << 20);
    /* a kernel that does not use malloc leaves the limit adjustable */
    CUfunction plain;
    CU_OK(cuModuleGetFunction(&plain, fx->mod, "no_heap"));
    void *params[] = {&fx->out};
    CU_OK(cuLaunchKernel(plain, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
    CU_OK(cuCtxSynchronize());
    CU_OK(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 2u << 20));
    /* once a malloc kernel has been launched (even before it runs), the heap size is fixed */
    uint64_t size = 64, p = 0;
    unsigned do_free = 1;
    void *rt_params[] = {&fx->out, &size, &do_free};
    CU_OK(cuLaunchKernel(fx->rt, 1, 1, 1, 1, 1, 1, 0, NULL, rt_params, NULL));
    CU_ERR(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 4u << 20), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuCtxSynchronize());
    CU_OK(cuMemcpyDtoH(&p, fx->out, sizeof p));
    assert_true(p > 1);
    CU_OK(cuCtxGetLimit(&v, CU_LIMIT_MALLOC_HEAP_SIZE));
    assert_int_equal(v, 2u << 20);
}

static void test_malloc_free(void **state)
{
    struct heap_fixture *fx = *state;
    enum { BLOCKS = 4, THREADS = 128, N = BLOCKS * THREADS, SIZE = 40 };
    uint64_t *p = calloc(N, sizeof *p);
    assert_non_null(p);
    run_rt(fx, BLOCKS, THREADS, SIZE, 0, p);
    /* blocks are device memory the host can read: each holds its thread's id */
    for (int i = 0; i < N; i += 37) {
        uint64_t v = 0;
        assert_true(p[i] > 1);
        CU_OK(cuMemcpyDtoH(&v, (CUdeviceptr)p[i], sizeof v));
        assert_int_equal(v, (uint64_t)i);
    }
    qsort(p, N, sizeof *p, cmp_u64);
    for (int i = 0; i < N; i++) {
        assert_int_equal(p[i] % 16, 0);
        if (i)
            assert_true(p[i] - p[i - 1] >= SIZE); /* distinct and not overlapping */
    }
    /* with free, the same threads can allocate again and again */
    for (int round = 0; round < 4; round++) {
        run_rt(fx, BLOCKS, THREADS, 1000, 1, p);
        for (int i = 0; i < N; i++)
            assert_true(p[i] > 1);
    }
    free(p);
}

static void test_exhaustion(void **state)
{
    struct heap_fixture *fx = *state;
    CU_OK(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 64u << 10));
    uint64_t p[8];
    run_rt(fx, 1, 1, 1u << 20, 0, p); /* larger than the heap */
    assert_int_equal(p[0], 0);
    /* a block freed is reusable: 48 KiB of 64 fits only once at a time */
    for (int i = 0; i < 3; i++) {
        run_rt(fx, 1, 1, 48u << 10, 1, p);
        assert_true(p[0] > 1);
    }
    /* exactly four 16 KiB blocks fit; the other threads get NULL */
    run_rt(fx, 1, 8, 16u << 10, 0, p);
    int got = 0;
    for (int i = 0; i < 8; i++)
        got += p[i] > 1;
    assert_int_equal(got, 4);
    for (int i = 0; i < 8; i++)
        assert_true(p[i] == 0 || p[i] > 1);
    /* the heap stays full across launches: nothing was freed */
    run_rt(fx, 1, 2, 16, 0, p);
    assert_int_equal(p[0], 0);
    assert_int_equal(p[1], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limit_get_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malloc_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhaustion, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
