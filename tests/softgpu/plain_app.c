/*
 * An unmodified driver-API program linked with -lcuda (the toolkit's stub at build time).
 * The softgpu_plain_app test runs it with build/lib/softgpu first on LD_LIBRARY_PATH, so the
 * loader binds it to softgpu as libcuda.so.1. Prints what it saw; the test checks the output.
 */
#include <cuda.h>
#include <stdio.h>

static const char ptx[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".visible .entry sum_to(.param .u64 p_out, .param .u32 p_n)\n"
    "{\n"
    "  .reg .pred %p<2>;\n  .reg .b32 %r<6>;\n  .reg .b64 %rd<3>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  ld.param.u32 %r1, [p_n];\n"
    "  mov.u32 %r2, 0;\n  mov.u32 %r3, 0;\n"
    "LOOP:\n  setp.ge.u32 %p1, %r3, %r1;\n  @%p1 bra END;\n"
    "  add.s32 %r2, %r2, %r3;\n  add.s32 %r3, %r3, 1;\n  bra LOOP;\n"
    "END:\n  cvta.to.global.u64 %rd2, %rd1;\n  st.global.u32 [%rd2], %r2;\n  ret;\n}\n";

#define CHECK(call)                                                  \
    do {                                                             \
        CUresult r_ = (call);                                        \
        if (r_ != CUDA_SUCCESS) {                                    \
            printf("FAIL %s -> %d\n", #call, (int)r_);               \
            return 1;                                                \
        }                                                            \
    } while (0)

int main(void)
{
    CHECK(cuInit(0));
    CUdevice dev;
    CHECK(cuDeviceGet(&dev, 0));
    char name[128];
    CHECK(cuDeviceGetName(name, sizeof name, dev));
    CUcontext ctx;
    CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
    CUmodule mod;
    CHECK(cuModuleLoadData(&mod, ptx));
    CUfunction f;
    CHECK(cuModuleGetFunction(&f, mod, "sum_to"));
    CUdeviceptr out;
    CHECK(cuMemAlloc(&out, 4));
    unsigned n = 100;
    void *params[] = {&out, &n};
    CHECK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
    unsigned sum = 0;
    CHECK(cuMemcpyDtoH(&sum, out, 4));
    CHECK(cuMemFree(out));
    CHECK(cuModuleUnload(mod));
    CHECK(cuCtxDestroy(ctx));
    printf("device=%s sum=%u %s\n", name, sum, sum == 4950 ? "ok" : "WRONG");
    return sum == 4950 ? 0 : 1;
}
