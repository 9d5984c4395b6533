/*
 * softgpu: context-independent libraries and kernels. Loading with no current context,
 * lazy per-context instances (separate globals), CUkernel handles used as CUfunction,
 * kernel attributes and parameter info, and loading nvcc fat binaries (PTX-only: runs;
 * SASS-only: loads, its kernels CUDA_ERROR_NO_BINARY_FOR_GPU), raw and through a __fatBinC_Wrapper_t.
 */
#include <stdlib.h>

#include "sg_test.h"

static const char ptx[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".visible .global .align 4 .u32 g_value = 11;\n"
    ".visible .entry store_value(.param .u64 p_out)\n"
    "{\n"
    "  .reg .b32 %r<2>;\n  .reg .b64 %rd<2>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  cvta.to.global.u64 %rd1, %rd1;\n"
    "  ld.global.u32 %r1, [g_value];\n  st.global.u32 [%rd1], %r1;\n  ret;\n}\n";

static void test_library_without_context(void **state)
{
    (void)state;
    CU_OK(cuInit(0));
    CUcontext cur;
    CU_OK(cuCtxGetCurrent(&cur));
    assert_null(cur);
    CUlibrary lib;
    CUlibraryOption opt = CU_LIBRARY_BINARY_IS_PRESERVED;
    void *optval = (void *)1;
    CU_OK(cuLibraryLoadData(&lib, ptx, NULL, NULL, 0, &opt, &optval, 1));
    CUkernel k;
    CU_OK(cuLibraryGetKernel(&k, lib, "store_value"));
    CU_ERR(cuLibraryGetKernel(&k, lib, "nope"), CUDA_ERROR_NOT_FOUND);
    CU_OK(cuLibraryGetKernel(&k, lib, "store_value"));
    unsigned count;
    CU_OK(cuLibraryGetKernelCount(&count, lib));
    assert_int_equal(count, 1);
    const char *name;
    CU_OK(cuKernelGetName(&name, k));
    assert_string_equal(name, "store_value");
    size_t off, size;
    CU_OK(cuKernelGetParamInfo(k, 0, &off, &size));
    assert_int_equal(size, 8);
    int v;
    CU_OK(cuKernelGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, k, 0));
    assert_int_equal(v, 1024);
    CU_OK(cuKernelSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 64 * 1024, k, 0));
    CU_OK(cuKernelGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, k, 0));
    assert_int_equal(v, 64 * 1024);
    /* globals need a context */
    CUdeviceptr g;
    CU_ERR(cuLibraryGetGlobal(&g, &size, lib, "g_value"), CUDA_ERROR_INVALID_CONTEXT);

    /* two contexts, each with its own instance */
    CUcontext c1, c2;
    CU_OK(cuCtxCreate(&c1, NULL, 0, 0));
    CUdeviceptr g1, out1;
    CU_OK(cuLibraryGetGlobal(&g1, &size, lib, "g_value"));
    assert_int_equal(size, 4);
    CU_OK(cuMemsetD32(g1, 77, 1));
    CU_OK(cuMemAlloc(&out1, 4));
    void *p1[] = {&out1};
    CU_OK(cuLaunchKernel((CUfunction)k, 1, 1, 1, 1, 1, 1, 0, NULL, p1, NULL));
    unsigned r1;
    CU_OK(cuMemcpyDtoH(&r1, out1, 4));
    assert_int_equal(r1, 77);
    CUfunction f;
    CU_OK(cuKernelGetFunction(&f, k));
    CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, f));
    assert_int_equal(v, 64 * 1024); /* the kernel attribute reached the instance */
    CUmodule m;
    CU_OK(cuLibraryGetModule(&m, lib));
    CU_ERR(cuModuleUnload(m), CUDA_ERROR_INVALID_HANDLE); /* owned by the library */

    CU_OK(cuCtxCreate(&c2, NULL, 0, 0));
    CUdeviceptr g2, out2;
    CU_OK(cuLibraryGetGlobal(&g2, NULL, lib, "g_value"));
    assert_true(g2 != g1);
    CU_OK(cuMemAlloc(&out2, 4));
    void *p2[] = {&out2};
    CU_OK(cuLaunchKernel((CUfunction)k, 1, 1, 1, 1, 1, 1, 0, NULL, p2, NULL));
    CU_OK(cuMemcpyDtoH(&r1, out2, 4));
    assert_int_equal(r1, 11); /* initial value: c1's write did not leak */
    CU_OK(cuCtxDestroy(c2));
    CU_OK(cuCtxDestroy(c1));
    CU_OK(cuLibraryUnload(lib));
    CU_ERR(cuLibraryUnload(lib), CUDA_ERROR_INVALID_HANDLE);
    CU_ERR(cuKernelGetName(&name, k), CUDA_ERROR_INVALID_HANDLE);
}

#ifdef SG_FATBIN_PTX
static void *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = aligned_alloc(16, ((size_t)n + 16) & ~(size_t)15);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

struct fatbin_wrapper {
    int magic, version;
    const void *data;
    void *filename_or_fatbins;
};

static void test_nvcc_fatbins(void **state)
{
    (void)state;
    size_t len;
    void *fb = read_all(SG_FATBIN_PTX, &len);
    /* the way cudart does it: a wrapper pointing at the container */
    struct fatbin_wrapper w = {0x466243b1, 1, fb, NULL};
    CUlibrary lib;
    CU_OK(cuLibraryLoadData(&lib, &w, NULL, NULL, 0, NULL, NULL, 0));
    CUcontext c;
    CU_OK(cuCtxCreate(&c, NULL, 0, 0));
    CUkernel k;
    CU_OK(cuLibraryGetKernel(&k, lib, "scale_add"));
    CUdeviceptr d;
    int host[64];
    for (int i = 0; i < 64; i++)
        host[i] = i;
    CU_OK(cuMemAlloc(&d, sizeof host));
    CU_OK(cuMemcpyHtoD(d, host, sizeof host));
    int n = 64, factor = 2;
    void *params[] = {&d, &n, &factor};
    CU_OK(cuLaunchKernel((CUfunction)k, 2, 1, 1, 32, 1, 1, 0, NULL, params, NULL));
    CU_OK(cuMemcpyDtoH(host, d, sizeof host));
    for (int i = 0; i < 64; i++)
        assert_int_equal(host[i], 2 * i + 3);
    /* the raw container works with cuModuleLoadData too */
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, fb));
    CUdeviceptr g;
    CU_OK(cuModuleGetGlobal(&g, NULL, m, "g_offset"));
    CU_OK(cuModuleUnload(m));
    CU_OK(cuCtxDestroy(c));
    CU_OK(cuLibraryUnload(lib));
    free(fb);

    fb = read_all(SG_FATBIN_SASS, &len);
    w.data = fb;
    /* SASS only: the library loads (a library's other images may have PTX); its kernel has no
     * code softgpu runs, which the lookup says by name; a name it lacks is not found */
    CU_OK(cuLibraryLoadData(&lib, &w, NULL, NULL, 0, NULL, NULL, 0));
    CU_ERR(cuLibraryGetKernel(&k, lib, "scale_add"), CUDA_ERROR_NO_BINARY_FOR_GPU);
    CU_ERR(cuLibraryGetKernel(&k, lib, "no_such_kernel"), CUDA_ERROR_NOT_FOUND);
    CU_OK(cuLibraryUnload(lib));
    free(fb);
    unsigned char junk[64];
    memset(junk, 0xa5, sizeof junk);
    junk[63] = 0;
    CU_ERR(cuLibraryLoadData(&lib, junk, NULL, NULL, 0, NULL, NULL, 0), CUDA_ERROR_INVALID_IMAGE);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_without_context),
#ifdef SG_FATBIN_PTX
        cmocka_unit_test(test_nvcc_fatbins),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
