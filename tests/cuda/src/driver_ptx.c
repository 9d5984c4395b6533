/*
 * driver_ptx: the driver API alone, with PTX embedded as text: cuModuleLoadData,
 * cuModuleGetFunction, cuModuleGetGlobal, cuFuncGetParamInfo, and cuLaunchKernel with both
 * kernelParams and a packed `extra` buffer. No cudart.
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                          \
    do {                                                                                     \
        CUresult check_rc_ = (call);                                                         \
        if (check_rc_ != CUDA_SUCCESS) {                                                     \
            const char *name_ = "?";                                                         \
            cuGetErrorName(check_rc_, &name_);                                               \
            fprintf(stderr, "%s:%d: %s failed: %s (%d)\n", __FILE__, __LINE__, #call, name_, \
                    (int)check_rc_);                                                         \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* y[i] = a * x[i] + y[i] for i < n; g_magic starts at 1234. */
static const char ptx[] =
    ".version 8.0\n"
    ".target sm_80\n"
    ".address_size 64\n"
    "\n"
    ".visible .global .align 4 .u32 g_magic = 1234;\n"
    "\n"
    ".visible .entry saxpy(\n"
    "    .param .u64 p_y,\n"
    "    .param .u64 p_x,\n"
    "    .param .f32 p_a,\n"
    "    .param .u32 p_n\n"
    ")\n"
    "{\n"
    "    .reg .pred %p<2>;\n"
    "    .reg .b32 %r<6>;\n"
    "    .reg .f32 %f<5>;\n"
    "    .reg .b64 %rd<8>;\n"
    "\n"
    "    ld.param.u64 %rd1, [p_y];\n"
    "    ld.param.u64 %rd2, [p_x];\n"
    "    ld.param.f32 %f1, [p_a];\n"
    "    ld.param.u32 %r1, [p_n];\n"
    "    mov.u32 %r2, %ctaid.x;\n"
    "    mov.u32 %r3, %ntid.x;\n"
    "    mov.u32 %r4, %tid.x;\n"
    "    mad.lo.s32 %r5, %r2, %r3, %r4;\n"
    "    setp.ge.s32 %p1, %r5, %r1;\n"
    "    @%p1 bra DONE;\n"
    "    cvta.to.global.u64 %rd3, %rd1;\n"
    "    cvta.to.global.u64 %rd4, %rd2;\n"
    "    mul.wide.s32 %rd5, %r5, 4;\n"
    "    add.s64 %rd6, %rd3, %rd5;\n"
    "    add.s64 %rd7, %rd4, %rd5;\n"
    "    ld.global.f32 %f2, [%rd7];\n"
    "    ld.global.f32 %f3, [%rd6];\n"
    "    fma.rn.f32 %f4, %f1, %f2, %f3;\n"
    "    st.global.f32 [%rd6], %f4;\n"
    "DONE:\n"
    "    ret;\n"
    "}\n";

#define N 5000

static void check_param_layout(CUfunction f)
{
    static const size_t want_off[4] = { 0, 8, 16, 20 }, want_size[4] = { 8, 8, 4, 4 };
    for (size_t i = 0; i < 4; i++) {
        size_t off = 0, size = 0;
        CHECK(cuFuncGetParamInfo(f, i, &off, &size));
        if (off != want_off[i] || size != want_size[i]) {
            fprintf(stderr, "param %zu: offset %zu size %zu\n", i, off, size);
            exit(1);
        }
    }
    size_t off;
    if (cuFuncGetParamInfo(f, 4, &off, NULL) != CUDA_ERROR_INVALID_VALUE) {
        fprintf(stderr, "param 4 should not exist\n");
        exit(1);
    }
}

/* Loads the PTX into the current context, checks g_magic's size and initial value (returned
 * in *magic) and saxpy's parameter layout. */
static CUmodule load_module(CUfunction *f, unsigned *magic)
{
    CUmodule mod;
    CUdeviceptr dmagic;
    size_t magic_size = 0;
    CHECK(cuModuleLoadData(&mod, ptx));
    CHECK(cuModuleGetFunction(f, mod, "saxpy"));
    check_param_layout(*f);
    CHECK(cuModuleGetGlobal(&dmagic, &magic_size, mod, "g_magic"));
    CHECK(cuMemcpyDtoH(magic, dmagic, sizeof(*magic)));
    if (magic_size != 4 || *magic != 1234) {
        fprintf(stderr, "g_magic: size %zu value %u\n", magic_size, *magic);
        exit(1);
    }
    return mod;
}

/* y += 2 x with one pointer per parameter, then y += 0.5 x with the parameters packed in one
 * `extra` buffer; waits for both. */
static void launch_both_ways(CUfunction f, CUdeviceptr dy, CUdeviceptr dx)
{
    float a = 2.0f;
    unsigned n = N;
    void *params[] = { &dy, &dx, &a, &n };
    CHECK(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, params, NULL));

    struct { CUdeviceptr y, x; float a; unsigned n; } packed = { dy, dx, 0.5f, N };
    size_t packed_size = sizeof(packed);
    void *extra[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE,
                      &packed_size, CU_LAUNCH_PARAM_END };
    CHECK(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, NULL, extra));
    CHECK(cuCtxSynchronize());
}

int main(void)
{
    CUdevice dev;
    CUcontext ctx;
    CUfunction f;
    CUdeviceptr dx, dy;
    unsigned magic = 0;
    static float x[N], y[N];
    int count = 0;

    CHECK(cuInit(0));
    CHECK(cuDeviceGetCount(&count));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    CUmodule mod = load_module(&f, &magic);

    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        y[i] = 1.0f;
    }
    CHECK(cuMemAlloc(&dx, sizeof(x)));
    CHECK(cuMemAlloc(&dy, sizeof(y)));
    CHECK(cuMemcpyHtoD(dx, x, sizeof(x)));
    CHECK(cuMemcpyHtoD(dy, y, sizeof(y)));
    launch_both_ways(f, dy, dx);
    CHECK(cuMemcpyDtoH(y, dy, sizeof(y)));
    for (int i = 0; i < N; i++) {
        float want = 1.0f + 2.0f * (float)i + 0.5f * (float)i;
        if (y[i] != want) {
            fprintf(stderr, "y[%d] = %f, expected %f\n", i, y[i], want);
            return 1;
        }
    }
    CHECK(cuMemFree(dx));
    CHECK(cuMemFree(dy));
    CHECK(cuModuleUnload(mod));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("driver_ptx: OK %d elements, 2 launches, g_magic=%u\n", N, magic);
    return 0;
}
