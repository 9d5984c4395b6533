/* link: PTX linking on the driver API. A kernel in one PTX input calls a device function
 * defined in another (given from a file, cuLinkAddFile), cuLinkComplete gives one image,
 * cuModuleLoadData loads it and the kernel runs: every element doubled, then plus one. JIT
 * log buffers passed as options come back empty or filled, never stale. */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(call)                                                                          \
    do {                                                                                     \
        CUresult r_ = (call);                                                                \
        if (r_ != CUDA_SUCCESS) {                                                            \
            const char *n_ = "?";                                                            \
            cuGetErrorName(r_, &n_);                                                         \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, n_);        \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

static const char caller[] =
    ".version 7.0\n.target sm_50\n.address_size 64\n"
    ".extern .func (.param .b32 r) twice_plus_one(.param .b32 x);\n"
    ".visible .entry apply(.param .u64 p, .param .u32 n)\n{\n"
    "  .reg .b32 %r<6>;\n  .reg .b64 %rd<4>;\n  .reg .pred %p1;\n"
    "  ld.param.u64 %rd1, [p];\n  ld.param.u32 %r1, [n];\n"
    "  mov.u32 %r2, %tid.x;\n  setp.ge.u32 %p1, %r2, %r1;\n  @%p1 bra DONE;\n"
    "  cvta.to.global.u64 %rd1, %rd1;\n  mul.wide.u32 %rd2, %r2, 4;\n  add.s64 %rd3, %rd1, %rd2;\n"
    "  ld.global.u32 %r3, [%rd3];\n"
    "  {\n  .param .b32 a0;\n  st.param.b32 [a0], %r3;\n  .param .b32 rv;\n"
    "  call.uni (rv), twice_plus_one, (a0);\n  ld.param.b32 %r4, [rv];\n  }\n"
    "  st.global.u32 [%rd3], %r4;\nDONE:\n  ret;\n}\n";

static const char callee[] =
    ".version 7.0\n.target sm_50\n.address_size 64\n"
    ".visible .func (.param .b32 r) twice_plus_one(.param .b32 x)\n{\n"
    "  .reg .b32 %r<4>;\n  ld.param.b32 %r1, [x];\n  shl.b32 %r2, %r1, 1;\n"
    "  add.s32 %r3, %r2, 1;\n  st.param.b32 [r], %r3;\n  ret;\n}\n";

int main(void)
{
    enum { N = 200 };
    CUdevice dev;
    CUcontext ctx;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));

    char path[] = "/tmp/tfuse-link-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, callee, sizeof callee - 1) != (ssize_t)(sizeof callee - 1)) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    close(fd);

    char log[256];
    memset(log, 'x', sizeof log);
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *vals[] = {log, (void *)(uintptr_t)sizeof log};
    CUlinkState link;
    CHECK(cuLinkCreate(2, opts, vals, &link));
    CHECK(cuLinkAddData(link, CU_JIT_INPUT_PTX, (void *)caller, sizeof caller, "caller", 0, NULL,
                        NULL));
    CHECK(cuLinkAddFile(link, CU_JIT_INPUT_PTX, path, 0, NULL, NULL));
    unlink(path);
    void *image;
    size_t size;
    CHECK(cuLinkComplete(link, &image, &size));
    CUmodule mod;
    CHECK(cuModuleLoadData(&mod, image));
    CHECK(cuLinkDestroy(link));   /* the module keeps what it loaded */
    CUfunction f;
    CHECK(cuModuleGetFunction(&f, mod, "apply"));

    unsigned host[N];
    for (unsigned i = 0; i < N; i++)
        host[i] = i;
    CUdeviceptr d;
    CHECK(cuMemAlloc(&d, sizeof host));
    CHECK(cuMemcpyHtoD(d, host, sizeof host));
    unsigned n = N;
    void *args[] = {&d, &n};
    CHECK(cuLaunchKernel(f, 1, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    CHECK(cuMemcpyDtoH(host, d, sizeof host));
    for (unsigned i = 0; i < N; i++)
        if (host[i] != 2 * i + 1) {
            fprintf(stderr, "element %u is %u, expected %u\n", i, host[i], 2 * i + 1);
            return 1;
        }
    if (log[0] == 'x') {
        fprintf(stderr, "the error log buffer was left stale\n");
        return 1;
    }
    CHECK(cuMemFree(d));
    CHECK(cuModuleUnload(mod));
    printf("link: OK a kernel calling a function of another input, %d elements\n", N);
    return 0;
}
