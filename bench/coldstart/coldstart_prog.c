/*
 * The fresh process bench_coldstart starts again and again: a driver-API program that loads a
 * module image from a file (a stand-in for a model's kernels), launches one of its kernels and
 * waits for it, then prints the CLOCK_MONOTONIC time at which that first kernel had completed
 * ("done NS") and how long it took from cuModuleLoadData to then ("load NS": the module's
 * transfer and parse, wherever the driver does it, and the launch). Which driver it runs on is the
 * library path's choice: softgpu's libcuda.so.1 (direct) or our stub's (through a node).
 *
 *   coldstart_prog MODULE_FILE
 *
 * Owns: nothing. May call: the CUDA driver API, libc.
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

#define CHECK(call)                                                                         \
    do {                                                                                    \
        CUresult r_ = (call);                                                               \
        if (r_ != CUDA_SUCCESS) {                                                           \
            fprintf(stderr, "coldstart_prog: %s -> %d\n", #call, (int)r_);                  \
            return 1;                                                                       \
        }                                                                                   \
    } while (0)

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n > 0 ? calloc(1, (size_t)n + 1) : NULL;   /* PTX is text: NUL-terminated */
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

int main(int argc, char **argv)
{
    char *image = argc > 1 ? slurp(argv[1]) : NULL;
    if (!image) {
        fprintf(stderr, "usage: coldstart_prog MODULE_FILE (a readable PTX file)\n");
        return 2;
    }
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fn;
    CUdeviceptr out;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    long long t0 = mono_ns();
    CHECK(cuModuleLoadData(&mod, image));
    CHECK(cuModuleGetFunction(&fn, mod, "k0"));
    CHECK(cuMemAlloc(&out, 256 * sizeof(unsigned)));
    void *args[] = {&out};
    CHECK(cuLaunchKernel(fn, 1, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    CHECK(cuCtxSynchronize());
    long long done = mono_ns();
    unsigned first = 0;
    CHECK(cuMemcpyDtoH(&first, out + 5 * sizeof first, sizeof first));
    printf("done %lld\nload %lld\nvalue %u\n", done, done - t0, first);
    fflush(stdout);
    free(image);
    return 0;
}
