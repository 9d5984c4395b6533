/*
 * A driver-API program for the isolation tests and bench/isolation, run through `tfuse run` on
 * a vGPU. Modes (argv[1]):
 *   meminfo                 print "free F total T devtotal D" (cuMemGetInfo, cuDeviceTotalMem)
 *   overlimit BYTES         allocate BYTES (must fail with CUDA_ERROR_OUT_OF_MEMORY), then
 *                           allocate 1 MiB, run a kernel and check its result: "other work ok"
 *   grab CHUNK              print "ready", wait for a byte on stdin, allocate CHUNK-byte blocks
 *                           until refused, print "got N", wait for a second byte
 *   hold BYTES              allocate BYTES, print "held pid PID", sleep until killed
 *   spin SECONDS ITERS [DEPTH]  launch DEPTH (1) compute-bound kernels (ITERS loop steps per
 *                           thread) and synchronize, repeatedly for SECONDS; print "launches N"
 * Exits 0 when the mode's checks passed.
 * Owns: nothing. May call: the CUDA driver API (our stub through tfuse run).
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char ptx[] =
    ".version 7.0\n"
    ".target sm_50\n"
    ".address_size 64\n"
    ".visible .entry spin(.param .u64 out, .param .u32 iters)\n"
    "{\n"
    "  .reg .pred %p<2>;\n"
    "  .reg .b32 %r<8>;\n"
    "  .reg .b64 %rd<4>;\n"
    "  ld.param.u64 %rd1, [out];\n"
    "  ld.param.u32 %r1, [iters];\n"
    "  mov.u32 %r2, %tid.x;\n"
    "  mov.u32 %r3, 0;\n"
    "  mov.u32 %r4, 0;\n"
    "LOOP:\n"
    "  setp.ge.u32 %p1, %r4, %r1;\n"
    "  @%p1 bra DONE;\n"
    "  mad.lo.u32 %r3, %r3, 1664525, %r2;\n"
    "  add.u32 %r4, %r4, 1;\n"
    "  bra LOOP;\n"
    "DONE:\n"
    "  mul.wide.u32 %rd2, %r2, 4;\n"
    "  cvta.to.global.u64 %rd3, %rd1;\n"
    "  add.u64 %rd3, %rd3, %rd2;\n"
    "  st.global.u32 [%rd3], %r4;\n"
    "  ret;\n"
    "}\n";

#define CHECK(call)                                                                   \
    do {                                                                              \
        CUresult r_ = (call);                                                         \
        if (r_ != CUDA_SUCCESS) {                                                     \
            const char *n_ = NULL;                                                    \
            cuGetErrorName(r_, &n_);                                                  \
            fprintf(stderr, "FAIL %s:%d %s -> %d %s\n", __FILE__, __LINE__, #call,    \
                    (int)r_, n_ ? n_ : "?");                                          \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

static CUfunction spin_fn;

static void setup(void)
{
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
    CHECK(cuModuleLoadData(&mod, ptx));
    CHECK(cuModuleGetFunction(&spin_fn, mod, "spin"));
}

/* depth kernels back to back, then one synchronize (several in flight keep the device busy
 * across the round trips, as a real training loop does). */
static void spin_batch(CUdeviceptr out, unsigned iters, int depth)
{
    void *args[] = {&out, &iters};
    for (int i = 0; i < depth; i++)
        CHECK(cuLaunchKernel(spin_fn, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
    CHECK(cuCtxSynchronize());
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int mode_overlimit(unsigned long long bytes)
{
    CUdeviceptr big = 0, small;
    CUresult r = cuMemAlloc(&big, (size_t)bytes);
    if (r != CUDA_ERROR_OUT_OF_MEMORY) {
        fprintf(stderr, "FAIL allocation over the limit answered %d, not OOM\n", (int)r);
        return 1;
    }
    printf("over limit refused\n");
    CHECK(cuMemAlloc(&small, 1u << 20));
    spin_batch(small, 10, 1);
    unsigned got[32];
    CHECK(cuMemcpyDtoH(got, small, sizeof got));
    for (int i = 0; i < 32; i++)
        if (got[i] != 10) {
            fprintf(stderr, "FAIL kernel result %u at %d\n", got[i], i);
            return 1;
        }
    CHECK(cuMemFree(small));
    printf("other work ok\n");
    return 0;
}

/* Attaches first (the context is charged), says "ready", and waits for one byte on stdin so
 * that all racing processes start allocating together; then takes CHUNK blocks until refused,
 * says "got N" and waits for a second byte. */
static int mode_grab(unsigned long long chunk)
{
    unsigned long n = 0;
    CUdeviceptr p;
    CUresult r;
    char go;
    printf("ready\n");
    fflush(stdout);
    if (read(0, &go, 1) != 1)
        return 1;
    while ((r = cuMemAlloc(&p, (size_t)chunk)) == CUDA_SUCCESS)
        n++;
    if (r != CUDA_ERROR_OUT_OF_MEMORY) {
        fprintf(stderr, "FAIL grab ended with %d, not OOM\n", (int)r);
        return 1;
    }
    printf("got %lu\n", n);
    fflush(stdout);
    return read(0, &go, 1) == 1 ? 0 : 1;   /* a second byte (or EOF): end */
}

static int mode_spin(double seconds, unsigned iters, int depth)
{
    CUdeviceptr out;
    CHECK(cuMemAlloc(&out, 32 * sizeof(unsigned)));
    unsigned long n = 0;
    double end = now() + seconds;
    while (now() < end) {
        spin_batch(out, iters, depth);
        n += (unsigned long)depth;
    }
    printf("launches %lu\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "meminfo";
    setup();
    if (strcmp(mode, "meminfo") == 0) {
        size_t freeb, total, devtotal;
        CHECK(cuMemGetInfo(&freeb, &total));
        CHECK(cuDeviceTotalMem(&devtotal, 0));
        printf("free %zu total %zu devtotal %zu\n", freeb, total, devtotal);
        return 0;
    }
    if (strcmp(mode, "overlimit") == 0 && argc > 2)
        return mode_overlimit(strtoull(argv[2], NULL, 0));
    if (strcmp(mode, "grab") == 0 && argc > 2)
        return mode_grab(strtoull(argv[2], NULL, 0));
    if (strcmp(mode, "hold") == 0 && argc > 2) {
        CUdeviceptr p;
        CHECK(cuMemAlloc(&p, (size_t)strtoull(argv[2], NULL, 0)));
        printf("held pid %d\n", (int)getpid());
        fflush(stdout);
        for (;;)
            pause();
    }
    if (strcmp(mode, "spin") == 0 && argc > 3) {
        int depth = argc > 4 ? atoi(argv[4]) : 1;
        return mode_spin(atof(argv[2]), (unsigned)strtoul(argv[3], NULL, 0),
                         depth >= 1 && depth <= 64 ? depth : 1);
    }
    fprintf(stderr, "usage: prog_iso meminfo|overlimit B|grab CHUNK|hold B|spin S ITERS [DEPTH]\n");
    return 2;
}
