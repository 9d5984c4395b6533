// NVRTC and nvJitLink to PTX, run with the driver API: a kernel compiled by NVRTC to PTX is
// loaded with cuModuleLoadData and launched; two translation units compiled separately
// (relocatable, one calls a device function the other defines) are linked by nvJitLink into
// one PTX module and run. Both results are compared with the CPU. Asked for SASS instead (an
// sm_XX cubin from NVRTC, or nvJitLink without -ptx), the image cannot run on softgpu: its
// load must fail with CUDA_ERROR_NO_BINARY_FOR_GPU (docs/libraries.md).
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <nvJitLink.h>
#include <nvrtc.h>

#include "cu_check.h"

#define RTC(call) CHECK_STATUS(call, NVRTC_SUCCESS)
#define JIT(call) CHECK_STATUS(call, NVJITLINK_SUCCESS)

static const char scale_src[] =
    "extern \"C\" __global__ void scale_add(float *y, const float *x, float a, int n)\n"
    "{\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) y[i] = a * x[i] + y[i] * y[i];\n"
    "}\n";

// Two units: the kernel calls poly(), which only the second defines.
static const char main_src[] =
    "extern __device__ float poly(float v);\n"
    "extern \"C\" __global__ void apply(float *y, int n)\n"
    "{\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) y[i] = poly(y[i]);\n"
    "}\n";
static const char poly_src[] =
    "__device__ float poly(float v) { return 3.0f * v * v - v + 0.5f; }\n";

// Compiles src with opts; gives back PTX (want = 'p'), a cubin ('c') or LTO-IR ('l').
static std::vector<char> compile(const char *src, const char *name,
                                 std::vector<const char *> opts, char want)
{
    nvrtcProgram prog;
    RTC(nvrtcCreateProgram(&prog, src, name, 0, NULL, NULL));
    nvrtcResult r = nvrtcCompileProgram(prog, (int)opts.size(), opts.data());
    if (r != NVRTC_SUCCESS) {
        size_t n;
        nvrtcGetProgramLogSize(prog, &n);
        std::string log(n, 0);
        nvrtcGetProgramLog(prog, &log[0]);
        FAIL("nvrtc %s: %s\n%s", name, nvrtcGetErrorString(r), log.c_str());
    }
    size_t n;
    std::vector<char> out;
    if (want == 'p') {
        RTC(nvrtcGetPTXSize(prog, &n));
        out.resize(n);
        RTC(nvrtcGetPTX(prog, out.data()));
    } else if (want == 'c') {
        RTC(nvrtcGetCUBINSize(prog, &n));
        out.resize(n);
        RTC(nvrtcGetCUBIN(prog, out.data()));
    } else {
        RTC(nvrtcGetLTOIRSize(prog, &n));
        out.resize(n);
        RTC(nvrtcGetLTOIR(prog, out.data()));
    }
    RTC(nvrtcDestroyProgram(&prog));
    return out;
}

// Links the two units' LTO-IR with opts; gives back the PTX (ptx) or the cubin.
static std::vector<char> jit_link(const std::vector<char> &a, const std::vector<char> &b,
                                  std::vector<const char *> opts, bool ptx)
{
    nvJitLinkHandle h;
    JIT(nvJitLinkCreate(&h, (uint32_t)opts.size(), opts.data()));
    JIT(nvJitLinkAddData(h, NVJITLINK_INPUT_LTOIR, a.data(), a.size(), "main"));
    JIT(nvJitLinkAddData(h, NVJITLINK_INPUT_LTOIR, b.data(), b.size(), "poly"));
    nvJitLinkResult r = nvJitLinkComplete(h);
    if (r != NVJITLINK_SUCCESS) {
        size_t n = 0;
        nvJitLinkGetErrorLogSize(h, &n);
        std::string log(n + 1, 0);
        nvJitLinkGetErrorLog(h, &log[0]);
        FAIL("nvJitLinkComplete: %d\n%s", (int)r, log.c_str());
    }
    size_t n;
    std::vector<char> out;
    if (ptx) {
        JIT(nvJitLinkGetLinkedPtxSize(h, &n));
        out.resize(n);
        JIT(nvJitLinkGetLinkedPtx(h, out.data()));
    } else {
        JIT(nvJitLinkGetLinkedCubinSize(h, &n));
        out.resize(n);
        JIT(nvJitLinkGetLinkedCubin(h, out.data()));
    }
    JIT(nvJitLinkDestroy(&h));
    return out;
}

static void run_scale_add(const std::vector<char> &ptx)
{
    const int n = 1000;
    std::vector<float> x(n), y(n), got(n);
    for (int i = 0; i < n; i++) {
        x[i] = (float)i * 0.25f;
        y[i] = (float)(i % 17) - 8.0f;
    }
    CUmodule mod;
    CUfunction fn;
    CU(cuModuleLoadData(&mod, ptx.data()));
    CU(cuModuleGetFunction(&fn, mod, "scale_add"));
    CUdeviceptr dx, dy;
    CU(cuMemAlloc(&dx, n * sizeof(float)));
    CU(cuMemAlloc(&dy, n * sizeof(float)));
    CU(cuMemcpyHtoD(dx, x.data(), n * sizeof(float)));
    CU(cuMemcpyHtoD(dy, y.data(), n * sizeof(float)));
    float a = 1.5f;
    int nn = n;
    void *args[] = {&dy, &dx, &a, &nn};
    CU(cuLaunchKernel(fn, (n + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CU(cuMemcpyDtoH(got.data(), dy, n * sizeof(float)));
    for (int i = 0; i < n; i++) {
        float want = fmaf(a, x[i], y[i] * y[i]);
        // the compiler may or may not contract a*x + y*y: allow either rounding
        if (fabsf(got[i] - want) > 1e-5f * fabsf(want) + 1e-6f)
            FAIL("scale_add[%d] = %g, the CPU says %g", i, got[i], want);
    }
    CU(cuMemFree(dx));
    CU(cuMemFree(dy));
    CU(cuModuleUnload(mod));
}

static void run_apply(const std::vector<char> &ptx)
{
    const int n = 300;
    std::vector<float> y(n), got(n);
    for (int i = 0; i < n; i++)
        y[i] = (float)i / 64.0f - 2.0f;
    CUmodule mod;
    CUfunction fn;
    CU(cuModuleLoadData(&mod, ptx.data()));
    CU(cuModuleGetFunction(&fn, mod, "apply"));
    CUdeviceptr dy;
    CU(cuMemAlloc(&dy, n * sizeof(float)));
    CU(cuMemcpyHtoD(dy, y.data(), n * sizeof(float)));
    int nn = n;
    void *args[] = {&dy, &nn};
    CU(cuLaunchKernel(fn, (n + 63) / 64, 1, 1, 64, 1, 1, 0, NULL, args, NULL));
    CU(cuMemcpyDtoH(got.data(), dy, n * sizeof(float)));
    for (int i = 0; i < n; i++) {
        double want = 3.0 * y[i] * y[i] - y[i] + 0.5;
        if (fabs(got[i] - want) > 1e-5 * fabs(want) + 1e-6)
            FAIL("apply[%d] = %g, the CPU says %g", i, got[i], want);
    }
    CU(cuMemFree(dy));
    CU(cuModuleUnload(mod));
}

int main()
{
    CUdevice dev;
    CUcontext ctx;
    CU(cuInit(0));
    CU(cuDeviceGet(&dev, 0));
    CU(cuDevicePrimaryCtxRetain(&ctx, dev));
    CU(cuCtxSetCurrent(ctx));

    run_scale_add(compile(scale_src, "scale.cu", {"--gpu-architecture=compute_80"}, 'p'));
    printf("NVRTC to PTX: scale_add matches the CPU\n");

    std::vector<const char *> unit = {"--gpu-architecture=compute_80", "-rdc=true", "-dlto"};
    std::vector<char> a = compile(main_src, "main.cu", unit, 'l');
    std::vector<char> b = compile(poly_src, "poly.cu", unit, 'l');
    run_apply(jit_link(a, b, {"-arch=sm_80", "-lto", "-ptx"}, true));
    printf("nvJitLink of two units to PTX: apply matches the CPU\n");

    // SASS: an sm_80 cubin from NVRTC and from nvJitLink; softgpu runs PTX only
    CUmodule mod;
    std::vector<char> cubin = compile(scale_src, "scale.cu", {"--gpu-architecture=sm_80"}, 'c');
    EXPECT_CU(cuModuleLoadData(&mod, cubin.data()), CUDA_ERROR_NO_BINARY_FOR_GPU);
    cubin = jit_link(a, b, {"-arch=sm_80", "-lto"}, false);
    EXPECT_CU(cuModuleLoadData(&mod, cubin.data()), CUDA_ERROR_NO_BINARY_FOR_GPU);
    printf("cubins (SASS) from NVRTC and nvJitLink are refused: no binary for the GPU\n");
    CU(cuDevicePrimaryCtxRelease(dev));
    return 0;
}
