/*
 * softgpu: modules from PTX text, functions and their attributes, parameter layout, kernel
 * launches (kernelParams, `extra`, cuLaunchKernelEx, cooperative, dynamic shared memory,
 * large grids), module globals, device printf delivered at synchronisation, occupancy, and
 * launch failures (illegal address and trap are sticky until the context is destroyed).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "sg_test.h"

static int fcntl_nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

#define PTX_HEADER ".version 8.0\n.target sm_80\n.address_size 64\n"

/* data[i] += 1 for i < n, one thread per element */
static const char ptx_add_one[] = PTX_HEADER
    ".visible .entry add_one(.param .u64 p_data, .param .u32 p_n)\n"
    "{\n"
    "  .reg .pred %p<2>;\n  .reg .b32 %r<8>;\n  .reg .b64 %rd<5>;\n"
    "  ld.param.u64 %rd1, [p_data];\n"
    "  ld.param.u32 %r1, [p_n];\n"
    "  mov.u32 %r2, %ctaid.x;\n  mov.u32 %r3, %ntid.x;\n  mov.u32 %r4, %tid.x;\n"
    "  mad.lo.s32 %r5, %r2, %r3, %r4;\n"
    "  setp.ge.u32 %p1, %r5, %r1;\n"
    "  @%p1 bra DONE;\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n"
    "  mul.wide.u32 %rd3, %r5, 4;\n"
    "  add.s64 %rd4, %rd2, %rd3;\n"
    "  ld.global.u32 %r6, [%rd4];\n"
    "  add.s32 %r6, %r6, 1;\n"
    "  st.global.u32 [%rd4], %r6;\n"
    "DONE:\n  ret;\n}\n"
    /* out[0] = sum of 0..n-1 computed in a loop by one thread */
    ".visible .entry loop_sum(.param .u64 p_out, .param .u32 p_n)\n"
    "{\n"
    "  .reg .pred %p<2>;\n  .reg .b32 %r<6>;\n  .reg .b64 %rd<3>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  ld.param.u32 %r1, [p_n];\n"
    "  mov.u32 %r2, 0;\n  mov.u32 %r3, 0;\n"
    "LOOP:\n"
    "  setp.ge.u32 %p1, %r3, %r1;\n  @%p1 bra END;\n"
    "  add.s32 %r2, %r2, %r3;\n  add.s32 %r3, %r3, 1;\n  bra LOOP;\n"
    "END:\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n  st.global.u32 [%rd2], %r2;\n  ret;\n}\n"
    /* out[blockIdx.x] = blockIdx.x, for grids wider than 65535 blocks */
    ".visible .entry block_ids(.param .u64 p_out)\n"
    "{\n"
    "  .reg .b32 %r<2>;\n  .reg .b64 %rd<5>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  mov.u32 %r1, %ctaid.x;\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n  mul.wide.u32 %rd3, %r1, 4;\n"
    "  add.s64 %rd4, %rd2, %rd3;\n  st.global.u32 [%rd4], %r1;\n  ret;\n}\n"
    /* a struct parameter: *out = s.a + s.b (s = {int a; long long b;} at align 8) and c */
    ".visible .entry struct_param(.param .u64 p_out, .param .align 8 .b8 p_s[16], .param .u8 p_c)\n"
    "{\n"
    "  .reg .b32 %r<4>;\n  .reg .b64 %rd<6>;\n  .reg .b16 %rs<2>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  ld.param.u32 %r1, [p_s];\n  ld.param.u64 %rd2, [p_s+8];\n"
    "  ld.param.u8 %rs1, [p_c];\n  cvt.u32.u16 %r2, %rs1;\n"
    "  cvt.s64.s32 %rd3, %r1;\n  add.s64 %rd4, %rd3, %rd2;\n  cvt.u64.u32 %rd5, %r2;\n"
    "  add.s64 %rd4, %rd4, %rd5;\n"
    "  cvta.to.global.u64 %rd1, %rd1;\n  st.global.u64 [%rd1], %rd4;\n  ret;\n}\n"
    /* stores to the address it is given (used with a bad one) */
    ".visible .entry poke(.param .u64 p_addr)\n"
    "{\n"
    "  .reg .b64 %rd<2>;\n  .reg .b32 %r<2>;\n"
    "  ld.param.u64 %rd1, [p_addr];\n  mov.u32 %r1, 1;\n  st.global.u32 [%rd1], %r1;\n  ret;\n}\n"
    ".visible .entry die()\n{\n  trap;\n}\n";

/* module globals: g_counter (initialised to 5) += c_step (7) */
static const char ptx_globals[] = PTX_HEADER
    ".visible .global .align 4 .u32 g_counter = 5;\n"
    ".visible .const .align 4 .u32 c_step = 7;\n"
    ".visible .global .align 4 .b8 g_table[64];\n"
    ".visible .entry bump()\n"
    "{\n"
    "  .reg .b32 %r<4>;\n"
    "  ld.global.u32 %r1, [g_counter];\n  ld.const.u32 %r2, [c_step];\n"
    "  add.s32 %r3, %r1, %r2;\n  st.global.u32 [g_counter], %r3;\n  ret;\n}\n";

/* dynamic shared memory: each thread writes tid into shared, then reads its neighbour's */
static const char ptx_shared[] = PTX_HEADER
    ".extern .shared .align 4 .b8 dyn[];\n"
    ".visible .entry rotate(.param .u64 p_out)\n"
    "{\n"
    "  .reg .b32 %r<8>;\n  .reg .b64 %rd<8>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  cvta.to.global.u64 %rd1, %rd1;\n"
    "  mov.u32 %r1, %tid.x;\n  mov.u32 %r2, %ntid.x;\n"
    "  mov.u32 %r7, dyn;\n  shl.b32 %r3, %r1, 2;\n  add.s32 %r4, %r7, %r3;\n"
    "  st.shared.u32 [%r4], %r1;\n"
    "  bar.sync 0;\n"
    "  add.s32 %r5, %r1, 1;\n  rem.u32 %r5, %r5, %r2;\n  shl.b32 %r5, %r5, 2;\n"
    "  add.s32 %r5, %r7, %r5;\n  ld.shared.u32 %r6, [%r5];\n"
    "  mul.wide.u32 %rd2, %r1, 4;\n  add.s64 %rd3, %rd1, %rd2;\n  st.global.u32 [%rd3], %r6;\n"
    "  ret;\n}\n";

/* printf("hello from %d\n", threadIdx.x) */
static const char ptx_printf[] = PTX_HEADER
    ".extern .func (.param .b32 func_retval0) vprintf(.param .b64 vprintf_param_0, .param .b64 vprintf_param_1);\n"
    ".global .align 1 .b8 fmt[16] = {104,101,108,108,111,32,102,114,111,109,32,37,100,10,0,0};\n"
    ".visible .entry hello()\n"
    "{\n"
    "  .local .align 8 .b8 __local_depot0[8];\n"
    "  .reg .b64 %SP;\n  .reg .b64 %SPL;\n  .reg .b32 %r<3>;\n  .reg .b64 %rd<5>;\n"
    "  mov.u64 %SPL, __local_depot0;\n  cvta.local.u64 %SP, %SPL;\n"
    "  mov.u32 %r1, %tid.x;\n  add.u64 %rd1, %SP, 0;\n  add.u64 %rd2, %SPL, 0;\n"
    "  st.local.u32 [%rd2], %r1;\n"
    "  mov.u64 %rd3, fmt;\n  cvta.global.u64 %rd4, %rd3;\n"
    "  {\n"
    "  .param .b64 param0;\n  st.param.b64 [param0], %rd4;\n"
    "  .param .b64 param1;\n  st.param.b64 [param1], %rd1;\n"
    "  .param .b32 retval0;\n"
    "  call.uni (retval0), vprintf, (param0, param1);\n"
    "  ld.param.b32 %r2, [retval0];\n"
    "  }\n"
    "  ret;\n}\n";

static CUfunction get(CUmodule m, const char *name)
{
    CUfunction f;
    CU_OK(cuModuleGetFunction(&f, m, name));
    return f;
}

static void test_load_and_attributes(void **state)
{
    (void)state;
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx_add_one));
    unsigned n;
    CU_OK(cuModuleGetFunctionCount(&n, m));
    assert_int_equal(n, 6);
    CUfunction f = get(m, "add_one");
    CUfunction g;
    CU_ERR(cuModuleGetFunction(&g, m, "nope"), CUDA_ERROR_NOT_FOUND);
    const char *name;
    CU_OK(cuFuncGetName(&name, f));
    assert_string_equal(name, "add_one");
    int v;
    CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f));
    assert_int_equal(v, 1024);
    CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_PTX_VERSION, f));
    assert_int_equal(v, 80);
    CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, f));
    assert_int_equal(v, 48 * 1024);
    size_t off, size;
    CU_OK(cuFuncGetParamInfo(f, 0, &off, &size));
    assert_int_equal(off, 0);
    assert_int_equal(size, 8);
    CU_OK(cuFuncGetParamInfo(f, 1, &off, &size));
    assert_int_equal(off, 8);
    assert_int_equal(size, 4);
    CU_ERR(cuFuncGetParamInfo(f, 2, &off, &size), CUDA_ERROR_INVALID_VALUE);
    CUfunction s = get(m, "struct_param");
    CU_OK(cuFuncGetParamInfo(s, 1, &off, &size));
    assert_int_equal(off, 8);
    assert_int_equal(size, 16);
    CU_OK(cuFuncGetParamInfo(s, 2, &off, &size));
    assert_int_equal(off, 24);
    assert_int_equal(size, 1);
    CUmoduleLoadingMode mode;
    CU_OK(cuModuleGetLoadingMode(&mode));
    assert_int_equal(mode, CU_MODULE_EAGER_LOADING);
    CU_OK(cuModuleUnload(m));
    CU_ERR(cuModuleUnload(m), CUDA_ERROR_INVALID_HANDLE);
    CU_ERR(cuFuncGetName(&name, f), CUDA_ERROR_INVALID_HANDLE);
}

static void test_bad_images(void **state)
{
    (void)state;
    CUmodule m;
    CU_ERR(cuModuleLoadData(&m, ".version 8.0\n.target sm_80\n.address_size 64\n"
                                ".visible .entry k()\n{\n  frobnicate.u32 %r1;\n}\n"),
           CUDA_ERROR_INVALID_PTX);
    CU_ERR(cuModuleLoadData(&m, ".version 8.0\n.target sm_90\n.address_size 64\n"
                                ".visible .entry k()\n{\n  ret;\n}\n"),
           CUDA_ERROR_NO_BINARY_FOR_GPU);
    CU_ERR(cuModuleLoadData(&m, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuModuleLoad(&m, "/nonexistent/file.ptx"), CUDA_ERROR_FILE_NOT_FOUND);
}

static void test_launch_add_one(void **state)
{
    (void)state;
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx_add_one));
    CUfunction f = get(m, "add_one");
    enum { N = 1000 };
    unsigned host[N];
    for (int i = 0; i < N; i++)
        host[i] = (unsigned)i;
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, sizeof host));
    CU_OK(cuMemcpyHtoD(d, host, sizeof host));
    unsigned n = N;
    void *params[] = {&d, &n};
    CU_OK(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, params, NULL));
    /* the same launch through `extra` with a packed buffer */
    struct { CUdeviceptr data; unsigned n; unsigned pad; } packed = {d, N, 0};
    size_t packed_size = 12;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE,
                     &packed_size, CU_LAUNCH_PARAM_END};
    CU_OK(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, NULL, extra));
    CU_OK(cuCtxSynchronize());
    CU_OK(cuMemcpyDtoH(host, d, sizeof host));
    for (int i = 0; i < N; i++)
        assert_int_equal(host[i], (unsigned)i + 2);
    /* bad configurations are refused at launch time */
    CU_ERR(cuLaunchKernel(f, 1, 1, 1, 2048, 1, 1, 0, NULL, params, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuLaunchKernel(f, 0, 1, 1, 32, 1, 1, 0, NULL, params, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 64 * 1024, NULL, params, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuLaunchKernel((CUfunction)&n, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL),
           CUDA_ERROR_INVALID_HANDLE);
    /* loops and cuLaunchKernelEx */
    CUfunction loop = get(m, "loop_sum");
    n = 100;
    void *lp[] = {&d, &n};
    CUlaunchAttribute attr = {.id = CU_LAUNCH_ATTRIBUTE_PRIORITY, .value.priority = 0};
    CUlaunchConfig cfg = {.gridDimX = 1, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 1,
                          .blockDimY = 1, .blockDimZ = 1, .attrs = &attr, .numAttrs = 1};
    CU_OK(cuLaunchKernelEx(&cfg, loop, lp, NULL));
    unsigned sum;
    CU_OK(cuMemcpyDtoH(&sum, d, 4));
    assert_int_equal(sum, 4950);
    CUlaunchAttribute cluster = {.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION};
    cluster.value.clusterDim.x = 2;
    cluster.value.clusterDim.y = cluster.value.clusterDim.z = 1;
    cfg.attrs = &cluster;
    CU_ERR(cuLaunchKernelEx(&cfg, loop, lp, NULL), CUDA_ERROR_NOT_SUPPORTED);
    CU_OK(cuMemFree(d));
    CU_OK(cuModuleUnload(m));
}

static void test_struct_param_and_big_grid(void **state)
{
    (void)state;
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx_add_one));
    CUdeviceptr out;
    enum { BLOCKS = 70000 };
    CU_OK(cuMemAlloc(&out, BLOCKS * 4));
    struct { int a; int pad; long long b; } s = {40, 0, 2000000000000LL};
    unsigned char c = 2;
    void *sp[] = {&out, &s, &c};
    CU_OK(cuLaunchKernel(get(m, "struct_param"), 1, 1, 1, 1, 1, 1, 0, NULL, sp, NULL));
    long long r;
    CU_OK(cuMemcpyDtoH(&r, out, 8));
    assert_true(r == 2000000000042LL);
    void *bp[] = {&out};
    CU_OK(cuLaunchKernel(get(m, "block_ids"), BLOCKS, 1, 1, 1, 1, 1, 0, NULL, bp, NULL));
    unsigned *ids = malloc(BLOCKS * 4);
    CU_OK(cuMemcpyDtoH(ids, out, BLOCKS * 4));
    for (unsigned i = 0; i < BLOCKS; i++)
        if (ids[i] != i)
            fail_msg("block %u wrote %u", i, ids[i]);
    free(ids);
    CU_OK(cuMemFree(out));
    CU_OK(cuModuleUnload(m));
}

static void test_globals(void **state)
{
    (void)state;
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx_globals));
    CUdeviceptr g, c, t;
    size_t size;
    CU_OK(cuModuleGetGlobal(&g, &size, m, "g_counter"));
    assert_int_equal(size, 4);
    CU_OK(cuModuleGetGlobal(&c, &size, m, "c_step"));
    CU_OK(cuModuleGetGlobal(&t, &size, m, "g_table"));
    assert_int_equal(size, 64);
    CU_ERR(cuModuleGetGlobal(&t, &size, m, "missing"), CUDA_ERROR_NOT_FOUND);
    unsigned v;
    CU_OK(cuMemcpyDtoH(&v, g, 4));
    assert_int_equal(v, 5);
    CU_OK(cuMemcpyDtoH(&v, c, 4));
    assert_int_equal(v, 7);
    CUfunction f = get(m, "bump");
    CU_OK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
    CU_OK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
    CU_OK(cuMemcpyDtoH(&v, g, 4));
    assert_int_equal(v, 19);
    /* a second instance of the module has its own globals */
    CUmodule m2;
    CU_OK(cuModuleLoadData(&m2, ptx_globals));
    CUdeviceptr g2;
    CU_OK(cuModuleGetGlobal(&g2, NULL, m2, "g_counter"));
    assert_true(g2 != g);
    CU_OK(cuMemcpyDtoH(&v, g2, 4));
    assert_int_equal(v, 5);
    CU_OK(cuModuleUnload(m2));
    CU_OK(cuModuleUnload(m));
}

static void test_dynamic_shared(void **state)
{
    (void)state;
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx_shared));
    CUfunction f = get(m, "rotate");
    CUdeviceptr out;
    CU_OK(cuMemAlloc(&out, 256 * 4));
    void *p[] = {&out};
    CU_OK(cuLaunchKernel(f, 1, 1, 1, 256, 1, 1, 256 * 4, NULL, p, NULL));
    unsigned host[256];
    CU_OK(cuMemcpyDtoH(host, out, sizeof host));
    for (unsigned i = 0; i < 256; i++)
        assert_int_equal(host[i], (i + 1) % 256);
    /* beyond 48 KiB only after opting in, up to 163 KiB */
    CU_ERR(cuLaunchKernel(f, 1, 1, 1, 256, 1, 1, 100 * 1024, NULL, p, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 100 * 1024));
    CU_OK(cuLaunchKernel(f, 1, 1, 1, 256, 1, 1, 100 * 1024, NULL, p, NULL));
    CU_OK(cuCtxSynchronize());
    CU_ERR(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 200 * 1024),
           CUDA_ERROR_INVALID_VALUE);
    /* occupancy follows the shared memory a block needs */
    int blocks_small, blocks_big;
    CU_OK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_small, f, 256, 1024));
    CU_OK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_big, f, 256, 100 * 1024));
    assert_true(blocks_small > blocks_big);
    assert_int_equal(blocks_big, 1);
    int min_grid, block;
    CU_OK(cuOccupancyMaxPotentialBlockSize(&min_grid, &block, f, NULL, 0, 0));
    assert_true(block > 0 && block <= 1024 && min_grid >= 8);
    size_t avail;
    CU_OK(cuOccupancyAvailableDynamicSMemPerBlock(&avail, f, 2, 256));
    assert_true(avail > 48 * 1024 && avail < 82 * 1024);
    CU_OK(cuMemFree(out));
    CU_OK(cuModuleUnload(m));
}

static void test_cooperative(void **state)
{
    (void)state;
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx_add_one));
    CUfunction f = get(m, "add_one");
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 64 * 4));
    CU_OK(cuMemsetD32(d, 0, 64));
    unsigned n = 64;
    void *p[] = {&d, &n};
    CU_OK(cuLaunchCooperativeKernel(f, 2, 1, 1, 32, 1, 1, 0, NULL, p));
    unsigned host[64];
    CU_OK(cuMemcpyDtoH(host, d, sizeof host));
    assert_int_equal(host[63], 1);
    CU_ERR(cuLaunchCooperativeKernel(f, 100000, 1, 1, 1024, 1, 1, 0, NULL, p),
           CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE);
    CU_OK(cuMemFree(d));
    CU_OK(cuModuleUnload(m));
}

/* Kernels read and write page-locked host memory: allocated by cuMemHostAlloc (inside
 * softgpu's range) and registered with cuMemHostRegister (answered outside it). */
static void test_mapped_host_memory(void **state)
{
    (void)state;
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx_add_one));
    CUfunction f = get(m, "add_one");
    unsigned *pinned;
    CU_OK(cuMemHostAlloc((void **)&pinned, 64 * 4, CU_MEMHOSTALLOC_DEVICEMAP));
    for (unsigned i = 0; i < 64; i++)
        pinned[i] = i;
    CUdeviceptr dp;
    CU_OK(cuMemHostGetDevicePointer(&dp, pinned, 0));
    unsigned n = 64;
    void *p1[] = {&dp, &n};
    CU_OK(cuLaunchKernel(f, 1, 1, 1, 64, 1, 1, 0, NULL, p1, NULL));
    CU_OK(cuCtxSynchronize());
    for (unsigned i = 0; i < 64; i++)
        assert_int_equal(pinned[i], i + 1);
    unsigned *plain = aligned_alloc(4096, 4096);
    for (unsigned i = 0; i < 64; i++)
        plain[i] = 10 * i;
    CU_OK(cuMemHostRegister(plain, 4096, CU_MEMHOSTREGISTER_DEVICEMAP));
    CUdeviceptr rp;
    CU_OK(cuMemHostGetDevicePointer(&rp, plain, 0));
    void *p2[] = {&rp, &n};
    CU_OK(cuLaunchKernel(f, 1, 1, 1, 64, 1, 1, 0, NULL, p2, NULL));
    CU_OK(cuCtxSynchronize());
    for (unsigned i = 0; i < 64; i++)
        assert_int_equal(plain[i], 10 * i + 1);
    CU_OK(cuMemHostUnregister(plain));
    free(plain);
    CU_OK(cuMemFreeHost(pinned));
    CU_OK(cuModuleUnload(m));
}

/* Device printf reaches fd 1 at the next synchronising call, not before. */
static void test_printf_at_sync(void **state)
{
    (void)state;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(pipefd[1], 1);
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx_printf));
    CUstream s;
    CU_OK(cuStreamCreate(&s, 0));
    CU_OK(cuLaunchKernel(get(m, "hello"), 1, 1, 1, 2, 1, 1, 0, s, NULL, NULL));
    /* wait for the kernel without a synchronising call: an event query loop */
    CUevent e;
    CU_OK(cuEventCreate(&e, 0));
    CU_OK(cuEventRecord(e, s));
    while (cuEventQuery(e) == CUDA_ERROR_NOT_READY)
        usleep(1000);
    char buf[256] = {0};
    int flags = fcntl_nonblock(pipefd[0]);
    (void)flags;
    ssize_t early = read(pipefd[0], buf, sizeof buf - 1);
    CU_OK(cuStreamSynchronize(s));
    ssize_t got = read(pipefd[0], buf, sizeof buf - 1);
    dup2(saved, 1);
    close(saved);
    close(pipefd[1]);
    close(pipefd[0]);
    assert_true(early <= 0);
    assert_true(got > 0);
    buf[got] = 0;
    assert_non_null(strstr(buf, "hello from 0\n"));
    assert_non_null(strstr(buf, "hello from 1\n"));
    CU_OK(cuEventDestroy(e));
    CU_OK(cuStreamDestroy(s));
    CU_OK(cuModuleUnload(m));
}

/* An illegal address poisons the context: every call returns it until the context goes. */
static void test_sticky_illegal_address(void **state)
{
    (void)state;
    CUcontext c;
    CU_OK(cuCtxCreate(&c, NULL, 0, 0));
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx_add_one));
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 4096));
    unsigned long long bad = 0x10;
    void *p[] = {&bad};
    CU_OK(cuLaunchKernel(get(m, "poke"), 1, 1, 1, 1, 1, 1, 0, NULL, p, NULL));
    CU_ERR(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
    CU_ERR(cuMemAlloc(&d, 16), CUDA_ERROR_ILLEGAL_ADDRESS);
    CU_ERR(cuMemsetD8(d, 0, 16), CUDA_ERROR_ILLEGAL_ADDRESS);
    CU_ERR(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
    CU_OK(cuCtxDestroy(c));
    /* another context is unaffected */
    CU_OK(cuCtxCreate(&c, NULL, 0, 0));
    CU_OK(cuMemAlloc(&d, 16));
    CU_OK(cuCtxDestroy(c));
}

static void test_trap_and_primary_reset(void **state)
{
    (void)state;
    CUcontext p;
    CU_OK(cuDevicePrimaryCtxRetain(&p, 0));
    CU_OK(cuCtxPushCurrent(p));
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx_add_one));
    CU_OK(cuLaunchKernel(get(m, "die"), 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
    CU_ERR(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_FAILED);
    CUdeviceptr d;
    CU_ERR(cuMemAlloc(&d, 16), CUDA_ERROR_LAUNCH_FAILED);
    CU_OK(cuDevicePrimaryCtxReset(0));
    CU_OK(cuDevicePrimaryCtxRetain(&p, 0));
    CU_OK(cuMemAlloc(&d, 16));
    CU_OK(cuMemFree(d)); /* the group teardown releases the retain above */
    CUcontext popped;
    CU_OK(cuCtxPopCurrent(&popped));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_attributes),
        cmocka_unit_test(test_bad_images),
        cmocka_unit_test(test_launch_add_one),
        cmocka_unit_test(test_struct_param_and_big_grid),
        cmocka_unit_test(test_globals),
        cmocka_unit_test(test_dynamic_shared),
        cmocka_unit_test(test_cooperative),
        cmocka_unit_test(test_mapped_host_memory),
        cmocka_unit_test(test_printf_at_sync),
        cmocka_unit_test(test_sticky_illegal_address),
        cmocka_unit_test(test_trap_and_primary_reset),
    };
    const char *filter = getenv("SG_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, sg_setup_primary, sg_teardown_primary);
}
