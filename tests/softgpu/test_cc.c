/*
 * SOFTGPU_CC (docs/libraries.md): run with SOFTGPU_CC=12.1, softgpu reports compute capability
 * 12.1 everywhere it says one (device queries, function binary version), accepts PTX for targets
 * up to sm_121 (arch-specific ones included) and refuses a higher one (SASS-only images:
 * test_library.c).
 */
#include <stdio.h>

#include "sg_test.h"

static const char *ptx_for(const char *target)
{
    static char text[256];
    snprintf(text, sizeof text, ".version 8.8\n.target %s\n.address_size 64\n"
             ".visible .entry k()\n{\n  ret;\n}\n", target);
    return text;
}

static void test_reported(void **state)
{
    (void)state;
    int v = 0;
    CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0));
    assert_int_equal(v, 12);
    CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0));
    assert_int_equal(v, 1);
    CUmodule m;
    CUfunction f;
    CU_OK(cuModuleLoadData(&m, ptx_for("sm_120")));
    CU_OK(cuModuleGetFunction(&f, m, "k"));
    CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_BINARY_VERSION, f));
    assert_int_equal(v, 121);
    CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_PTX_VERSION, f));
    assert_int_equal(v, 120);
    CU_OK(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
    CU_OK(cuCtxSynchronize());
    CU_OK(cuModuleUnload(m));
}

static void test_targets(void **state)
{
    (void)state;
    CUmodule m;
    static const char *ok[] = {"sm_80", "sm_90a", "sm_100", "sm_120", "sm_121"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CU_OK(cuModuleLoadData(&m, ptx_for(ok[i])));
        CU_OK(cuModuleUnload(m));
    }
    CU_ERR(cuModuleLoadData(&m, ptx_for("sm_130")), CUDA_ERROR_NO_BINARY_FOR_GPU);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reported, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(test_targets, sg_setup_primary, sg_teardown_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
