/*
 * The demo's tenant workload on the CUDA driver API, with its kernel as embedded PTX: built by
 * any C compiler, so the demo has a real CUDA program even where nvcc is missing (tenant.cu is
 * the same program for nvcc). It holds MEM_MIB of device memory, launches the affine-step
 * kernel (affine.h) DEPTH at a time for SECONDS, optionally tries an allocation beyond its
 * vGPU half-way (which must fail with CUDA_ERROR_OUT_OF_MEMORY while the work goes on), and
 * checks the final state against the CPU reference.
 *   tenant NAME SECONDS MEM_MIB [--over MIB] [--iters N] [--depth D] [--calibrate]
 * Owns: nothing. May call: the CUDA driver API (our stub under `tfuse run`, or any libcuda).
 */
#include <cuda.h>

#include "affine.h"

static const char ptx[] =
    ".version 7.0\n"
    ".target sm_50\n"
    ".address_size 64\n"
    ".visible .entry affine_steps(.param .u64 state, .param .u32 n, .param .u32 iters)\n"
    "{\n"
    "  .reg .pred %p<3>;\n"
    "  .reg .b32 %r<10>;\n"
    "  .reg .b64 %rd<5>;\n"
    "  ld.param.u64 %rd1, [state];\n"
    "  ld.param.u32 %r1, [n];\n"
    "  ld.param.u32 %r2, [iters];\n"
    "  mov.u32 %r3, %ctaid.x;\n"
    "  mov.u32 %r4, %ntid.x;\n"
    "  mov.u32 %r5, %tid.x;\n"
    "  mad.lo.u32 %r6, %r3, %r4, %r5;\n"   /* i */
    "  setp.ge.u32 %p1, %r6, %r1;\n"
    "  @%p1 bra DONE;\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n"
    "  mul.wide.u32 %rd3, %r6, 4;\n"
    "  add.u64 %rd4, %rd2, %rd3;\n"
    "  ld.global.u32 %r7, [%rd4];\n"        /* x */
    "  shl.b32 %r8, %r6, 1;\n"
    "  add.u32 %r8, %r8, 1;\n"              /* 2i + 1 */
    "  mov.u32 %r9, 0;\n"
    "LOOP:\n"
    "  setp.ge.u32 %p2, %r9, %r2;\n"
    "  @%p2 bra STORE;\n"
    "  mad.lo.u32 %r7, %r7, 1664525, %r8;\n"
    "  add.u32 %r9, %r9, 1;\n"
    "  bra LOOP;\n"
    "STORE:\n"
    "  st.global.u32 [%rd4], %r7;\n"
    "DONE:\n"
    "  ret;\n"
    "}\n";

static const char *tenant_name = "tenant";

static int check(CUresult r, const char *what)
{
    if (r == CUDA_SUCCESS)
        return 0;
    const char *name = NULL;
    cuGetErrorName(r, &name);
    fprintf(stderr, "%s: %s failed: %s\n", tenant_name, what, name ? name : "unknown error");
    return -1;
}

#define CHECK(call)                          \
    do {                                     \
        if (check((call), #call) != 0)       \
            return 1;                        \
    } while (0)

/* The over-limit attempt: "refused" only for CUDA_ERROR_OUT_OF_MEMORY. */
static const char *try_over(unsigned long long bytes)
{
    CUdeviceptr p = 0;
    CUresult r = cuMemAlloc(&p, (size_t)bytes);
    if (r == CUDA_SUCCESS) {
        cuMemFree(p);
        return "GRANTED";
    }
    const char *name = NULL;
    cuGetErrorName(r, &name);
    printf("%s: allocation of %llu MiB beyond the vGPU refused: %s; the kernels go on\n",
           tenant_name, bytes >> 20, name ? name : "?");
    fflush(stdout);
    return r == CUDA_ERROR_OUT_OF_MEMORY ? "refused:CUDA_ERROR_OUT_OF_MEMORY" : "WRONG_ERROR";
}

int main(int argc, char **argv)
{
    struct tenant_args a;
    if (tenant_parse(argc, argv, &a) != 0)
        return 2;
    tenant_name = a.name;
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fn;
    CUdeviceptr work = 0, state;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
    CHECK(cuModuleLoadData(&mod, ptx));
    CHECK(cuModuleGetFunction(&fn, mod, "affine_steps"));
    if (a.mem_bytes) { /* the working set a real tenant would hold (weights, activations) */
        CHECK(cuMemAlloc(&work, (size_t)a.mem_bytes));
        CHECK(cuMemsetD8(work, 0, a.mem_bytes < (16u << 20) ? (size_t)a.mem_bytes : 16u << 20));
    }
    uint32_t host[AFFINE_THREADS];
    for (uint32_t i = 0; i < AFFINE_THREADS; i++)
        host[i] = affine_seed(i);
    CHECK(cuMemAlloc(&state, sizeof host));
    CHECK(cuMemcpyHtoD(state, host, sizeof host));

    unsigned n = AFFINE_THREADS;
    void *params[] = {&state, &n, &a.iters};
    const char *over = a.over_bytes ? "not-reached" : "not-tried";
    uint64_t launches = 0, steps = 0;
    double start = tenant_now(), now = start;
    for (int k = 0; !a.iters_given; k++) { /* sizes the kernels; the first launch also loads the module */
        double t = tenant_now();
        CHECK(cuLaunchKernel(fn, 1, 1, 1, AFFINE_THREADS, 1, 1, 0, NULL, params, NULL));
        CHECK(cuCtxSynchronize());
        launches++, steps += a.iters;
        if (tenant_size_step(&a, k, tenant_now() - t))
            break;
    }
    if (tenant_calibrated(&a))
        return 0;
    while (now - start < a.seconds) {
        for (int k = 0; k < a.depth; k++)
            CHECK(cuLaunchKernel(fn, 1, 1, 1, AFFINE_THREADS, 1, 1, 0, NULL, params, NULL));
        CHECK(cuCtxSynchronize());
        launches += (uint64_t)a.depth;
        steps += (uint64_t)a.depth * a.iters;
        now = tenant_now();
        if (a.over_bytes && strcmp(over, "not-reached") == 0 && now - start >= a.seconds / 2)
            over = try_over(a.over_bytes);
    }
    CHECK(cuMemcpyDtoH(host, state, sizeof host));
    int rc = tenant_report(&a, host, launches, steps, over, now - start);
    if (work)
        CHECK(cuMemFree(work));
    CHECK(cuMemFree(state));
    CHECK(cuCtxDestroy(ctx));
    return rc || (a.over_bytes && strncmp(over, "refused", 7) != 0);
}
