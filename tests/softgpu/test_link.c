/*
 * softgpu: the JIT linker (cuLinkCreate/AddData/AddFile/Complete/Destroy, both ABIs): a kernel
 * in one PTX input calls a function defined in another, the linked image loads with
 * cuModuleLoadData and the kernel computes the right answer; bad PTX fills the error log; NVVM
 * input is not supported. Also the pre-CUDA-4 launch API (cuFuncSetBlockShape, cuParamSet*,
 * cuLaunchGrid, cuLaunchGridAsync, cuLaunch).
 */
#include <stdlib.h>
#include <unistd.h>

#include "sg_test.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* deprecated calls are tested */

#define PTX_HEADER ".version 7.0\n.target sm_70\n.address_size 64\n"

/* data[i] = twice(data[i]) + k, where twice() lives in the other input */
static const char ptx_kernel[] = PTX_HEADER
    ".extern .func (.param .b32 ret) twice(.param .b32 x);\n"
    ".visible .entry apply(.param .u64 p_data, .param .u32 p_k)\n"
    "{\n"
    "  .reg .b32 %r<8>;\n  .reg .b64 %rd<5>;\n"
    "  ld.param.u64 %rd1, [p_data];\n  ld.param.u32 %r1, [p_k];\n"
    "  mov.u32 %r2, %tid.x;\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n  mul.wide.u32 %rd3, %r2, 4;\n  add.s64 %rd4, %rd2, %rd3;\n"
    "  ld.global.u32 %r3, [%rd4];\n"
    "  {\n  .param .b32 a;\n  .param .b32 b;\n  st.param.b32 [a], %r3;\n"
    "  call.uni (b), twice, (a);\n  ld.param.b32 %r4, [b];\n  }\n"
    "  add.s32 %r5, %r4, %r1;\n  st.global.u32 [%rd4], %r5;\n  ret;\n}\n";

static const char ptx_lib[] = ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".visible .func (.param .b32 ret) twice(.param .b32 x)\n"
    "{\n  .reg .b32 %r<3>;\n  ld.param.b32 %r1, [x];\n  add.s32 %r2, %r1, %r1;\n"
    "  st.param.b32 [ret], %r2;\n  ret;\n}\n";

static void run_apply(CUmodule mod)
{
    CUfunction f;
    CU_OK(cuModuleGetFunction(&f, mod, "apply"));
    unsigned host[32];
    for (unsigned i = 0; i < 32; i++)
        host[i] = i;
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, sizeof host));
    CU_OK(cuMemcpyHtoD(d, host, sizeof host));
    unsigned k = 5;
    void *args[] = {&d, &k};
    CU_OK(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
    CU_OK(cuMemcpyDtoH(host, d, sizeof host));
    for (unsigned i = 0; i < 32; i++)
        assert_int_equal(host[i], 2 * i + 5);
    CU_OK(cuMemFree(d));
}

static void link_two_ptx_inputs(void **state)
{
    (void)state;
    char errlog[512];
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *vals[] = {errlog, (void *)(uintptr_t)sizeof errlog};
    CUlinkState ls;
    CU_OK(cuLinkCreate(2, opts, vals, &ls));
    CU_OK(cuLinkAddData(ls, CU_JIT_INPUT_PTX, (void *)ptx_kernel, sizeof ptx_kernel, "kernel.ptx", 0, NULL, NULL));
    CU_OK(cuLinkAddData(ls, CU_JIT_INPUT_PTX, (void *)ptx_lib, sizeof ptx_lib, "lib.ptx", 0, NULL, NULL));
    void *image;
    size_t size;
    CU_OK(cuLinkComplete(ls, &image, &size));
    assert_true(size > sizeof ptx_lib);
    CUmodule mod;
    CU_OK(cuModuleLoadData(&mod, image));
    run_apply(mod);
    CU_OK(cuModuleUnload(mod));
    /* the image also loads as a library */
    CUlibrary lib;
    CU_OK(cuLibraryLoadData(&lib, image, NULL, NULL, 0, NULL, NULL, 0));
    CU_OK(cuLibraryUnload(lib));
    CU_OK(cuLinkDestroy(ls));
}

/* The 5.5 ABIs, under their own symbols (cuda.h renames the plain names to _v2). */
CUresult old_link_create(unsigned, CUjit_option *, void **, CUlinkState *) __asm__("cuLinkCreate");
CUresult old_link_add_file(CUlinkState, CUjitInputType, const char *, unsigned, CUjit_option *,
                           void **) __asm__("cuLinkAddFile");
CUresult old_link_add_data(CUlinkState, CUjitInputType, void *, size_t, const char *, unsigned,
                           CUjit_option *, void **) __asm__("cuLinkAddData");

/* The 5.5 ABI names and a file input; a duplicate definition fails at completion. */
static void link_file_and_old_abi(void **state)
{
    (void)state;
    char path[] = "/tmp/sg_link_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ptx_lib, strlen(ptx_lib)), (int)strlen(ptx_lib));
    close(fd);
    CUlinkState ls;
    CU_OK(old_link_create(0, NULL, NULL, &ls));
    CU_OK(old_link_add_file(ls, CU_JIT_INPUT_PTX, path, 0, NULL, NULL));
    CU_OK(old_link_add_data(ls, CU_JIT_INPUT_PTX, (void *)ptx_kernel, 0, NULL, 0, NULL, NULL));
    void *image;
    size_t size;
    CU_OK(cuLinkComplete(ls, &image, &size));
    CUmodule mod;
    CU_OK(cuModuleLoadData(&mod, image));
    run_apply(mod);
    CU_OK(cuModuleUnload(mod));
    CU_OK(cuLinkDestroy(ls));
    CU_OK(cuLinkCreate(0, NULL, NULL, &ls));
    CU_ERR(cuLinkAddFile(ls, CU_JIT_INPUT_PTX, "/nonexistent.ptx", 0, NULL, NULL), CUDA_ERROR_FILE_NOT_FOUND);
    CU_OK(cuLinkDestroy(ls));
    unlink(path);
}

static void link_errors(void **state)
{
    (void)state;
    char errlog[512] = "x";
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *vals[] = {errlog, (void *)(uintptr_t)sizeof errlog};
    CUlinkState ls;
    CU_OK(cuLinkCreate(2, opts, vals, &ls));
    assert_int_equal(errlog[0], 0);
    static const char bad[] = PTX_HEADER ".visible .entry broken(\n{ nonsense }\n";
    CU_ERR(cuLinkAddData(ls, CU_JIT_INPUT_PTX, (void *)bad, sizeof bad, "bad.ptx", 0, NULL, NULL),
           CUDA_ERROR_INVALID_PTX);
    assert_non_null(strstr(errlog, "bad.ptx"));
    CU_ERR(cuLinkAddData(ls, CU_JIT_INPUT_NVVM, (void *)bad, sizeof bad, "x.ll", 0, NULL, NULL),
           CUDA_ERROR_NOT_SUPPORTED);
    void *image;
    size_t size;
    CU_ERR(cuLinkComplete(ls, &image, &size), CUDA_ERROR_INVALID_VALUE); /* nothing added */
    CU_OK(cuLinkAddData(ls, CU_JIT_INPUT_PTX, (void *)ptx_lib, sizeof ptx_lib, "a.ptx", 0, NULL, NULL));
    CU_OK(cuLinkAddData(ls, CU_JIT_INPUT_PTX, (void *)ptx_lib, sizeof ptx_lib, "b.ptx", 0, NULL, NULL));
    CU_ERR(cuLinkComplete(ls, &image, &size), CUDA_ERROR_INVALID_PTX); /* twice() defined twice */
    CU_OK(cuLinkDestroy(ls));
}

/* ---- the pre-CUDA-4 launch API ---------------------------------------------------------------- */

static const char ptx_fill[] = PTX_HEADER
    ".visible .entry fill(.param .u64 p_out, .param .u32 p_v, .param .f32 p_f)\n"
    "{\n  .reg .b32 %r<8>;\n  .reg .f32 %f<2>;\n  .reg .b64 %rd<5>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  ld.param.u32 %r1, [p_v];\n  ld.param.f32 %f1, [p_f];\n"
    "  cvt.rzi.u32.f32 %r7, %f1;\n"
    "  mov.u32 %r2, %ctaid.x;\n  mov.u32 %r3, %ntid.x;\n  mov.u32 %r4, %tid.x;\n"
    "  mad.lo.s32 %r5, %r2, %r3, %r4;\n  mov.u32 %r6, %ctaid.y;\n  mul.lo.s32 %r6, %r6, 1000;\n"
    "  add.s32 %r6, %r6, %r1;\n  add.s32 %r6, %r6, %r7;\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n  mul.wide.u32 %rd3, %r5, 4;\n  add.s64 %rd4, %rd2, %rd3;\n"
    "  st.global.u32 [%rd4], %r6;\n  ret;\n}\n";

static void legacy_launch_api(void **state)
{
    (void)state;
    CUmodule mod;
    CUfunction f;
    CU_OK(cuModuleLoadData(&mod, ptx_fill));
    CU_OK(cuModuleGetFunction(&f, mod, "fill"));
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 64 * sizeof(unsigned)));
    CU_OK(cuMemsetD32(d, 0, 64));
    CU_OK(cuFuncSetBlockShape(f, 8, 1, 1));
    CU_OK(cuFuncSetSharedSize(f, 0));
    CU_OK(cuParamSetv(f, 0, &d, sizeof d));
    CU_OK(cuParamSeti(f, 8, 40));
    CU_OK(cuParamSetf(f, 12, 2.0f));
    CU_OK(cuParamSetSize(f, 16));
    CU_OK(cuLaunchGrid(f, 4, 1));
    CU_OK(cuCtxSynchronize());
    unsigned host[64];
    CU_OK(cuMemcpyDtoH(host, d, sizeof host));
    for (int i = 0; i < 32; i++)
        assert_int_equal(host[i], 42);
    assert_int_equal(host[32], 0);
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CU_OK(cuParamSeti(f, 8, 7));
    CU_OK(cuLaunchGridAsync(f, 1, 2, s)); /* blockIdx.y = 1 writes 1000 + 9 at the same indices */
    CU_OK(cuStreamSynchronize(s));
    CU_OK(cuMemcpyDtoH(host, d, sizeof host));
    assert_true(host[0] == 9 || host[0] == 1009);
    CU_OK(cuLaunch(f));
    CU_OK(cuCtxSynchronize());
    CU_ERR(cuFuncSetBlockShape(f, 0, 1, 1), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuParamSeti(f, 5000, 1), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuParamSetTexRef(f, CU_PARAM_TR_DEFAULT, NULL), CUDA_ERROR_INVALID_HANDLE);
    CU_ERR(cuParamSetTexRef(f, 0, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuLaunchGrid(f, 0, 1), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuStreamDestroy(s));
    CU_OK(cuMemFree(d));
    CU_OK(cuModuleUnload(mod));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(link_two_ptx_inputs, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(link_file_and_old_abi, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(link_errors, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(legacy_launch_api, sg_setup_primary, sg_teardown_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
