/*
 * A driver-API program for the freeze tests and bench/freeze, run through `tfuse run`.
 * Modes (argv[1]):
 *   hold BYTES        state in device memory: BYTES of linear memory (cuMemAlloc), a pitched
 *                     allocation (cuMemAllocPitch, 1000-byte rows x 2048) and a module global
 *                     (4 KiB), filled by kernels and copies from a seed (PROG_FREEZE_SEED,
 *                     default 12345: two programs hold different state), and with
 *                     PROG_FREEZE_SMALL=N, N allocations under 2 MiB (1000 + 777 i bytes,
 *                     rounded down to words); with PROG_FREEZE_ASYNC set, the linear memory
 *                     from cuMemAllocAsync; prints "ready pid PID", then serves
 *                     commands read line by line from stdin:
 *                       check  one step of kernels over all three, then compares every byte
 *                              with the same steps done on the CPU: "ok STEP" or "FAIL ...";
 *                              a call that fails prints "error CODE NAME" (the program goes on)
 *                       free   frees the linear memory (refunded): "freed"
 *                       freesmall  frees the oldest small allocation: "freedsmall"
 *                       alloc B  one more allocation of B bytes, held (oversubscription):
 *                              "allocated B IN SECONDS" or "error CODE NAME ... SECONDS"
 *                       unalloc  frees it: "unallocated"
 *                       end    exits 0
 *   devfree           the device's free memory as an unlimited session sees it (cuMemGetInfo):
 *                     "devfree F total T"
 *   copy BYTES        a plain host-to-device copy of BYTES from pageable memory into fresh device
 *                     memory and again into the same memory (256 MiB per call):
 *                     "h2d_first_s A h2d_again_s B"
 * Owns: nothing. May call: the CUDA driver API (our stub through tfuse run).
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char ptx[] =
    ".version 7.0\n"
    ".target sm_50\n"
    ".address_size 64\n"
    ".visible .global .align 4 .u32 gstate[1024];\n"
    ".visible .entry fill(.param .u64 p, .param .u64 n, .param .u32 seed)\n"
    "{\n"
    "  .reg .pred %q;\n"
    "  .reg .b32 %r<6>;\n"
    "  .reg .b64 %rd<8>;\n"
    "  ld.param.u64 %rd1, [p];\n"
    "  ld.param.u64 %rd2, [n];\n"
    "  ld.param.u32 %r1, [seed];\n"
    "  mov.u32 %r2, %ctaid.x;\n"
    "  mov.u32 %r3, %ntid.x;\n"
    "  mov.u32 %r4, %tid.x;\n"
    "  mul.wide.u32 %rd3, %r2, %r3;\n"
    "  cvt.u64.u32 %rd4, %r4;\n"
    "  add.u64 %rd3, %rd3, %rd4;\n"
    "  setp.ge.u64 %q, %rd3, %rd2;\n"
    "  @%q bra DONE;\n"
    "  cvt.u32.u64 %r5, %rd3;\n"
    "  mad.lo.u32 %r5, %r5, 0x9E3779B1, %r1;\n"
    "  shl.b64 %rd5, %rd3, 2;\n"
    "  cvta.to.global.u64 %rd6, %rd1;\n"
    "  add.u64 %rd6, %rd6, %rd5;\n"
    "  st.global.u32 [%rd6], %r5;\n"
    "DONE:\n"
    "  ret;\n"
    "}\n"
    ".visible .entry step(.param .u64 p, .param .u64 n)\n"
    "{\n"
    "  .reg .pred %q;\n"
    "  .reg .b32 %r<6>;\n"
    "  .reg .b64 %rd<8>;\n"
    "  ld.param.u64 %rd1, [p];\n"
    "  ld.param.u64 %rd2, [n];\n"
    "  mov.u32 %r2, %ctaid.x;\n"
    "  mov.u32 %r3, %ntid.x;\n"
    "  mov.u32 %r4, %tid.x;\n"
    "  mul.wide.u32 %rd3, %r2, %r3;\n"
    "  cvt.u64.u32 %rd4, %r4;\n"
    "  add.u64 %rd3, %rd3, %rd4;\n"
    "  setp.ge.u64 %q, %rd3, %rd2;\n"
    "  @%q bra DONE;\n"
    "  shl.b64 %rd5, %rd3, 2;\n"
    "  cvta.to.global.u64 %rd6, %rd1;\n"
    "  add.u64 %rd6, %rd6, %rd5;\n"
    "  ld.global.u32 %r5, [%rd6];\n"
    "  mad.lo.u32 %r5, %r5, 3, 1;\n"
    "  st.global.u32 [%rd6], %r5;\n"
    "DONE:\n"
    "  ret;\n"
    "}\n"
    ".visible .entry gstep()\n"
    "{\n"
    "  .reg .b32 %r<4>;\n"
    "  .reg .b64 %rd<4>;\n"
    "  mov.u32 %r1, %tid.x;\n"
    "  mov.u64 %rd1, gstate;\n"
    "  mul.wide.u32 %rd2, %r1, 4;\n"
    "  add.u64 %rd1, %rd1, %rd2;\n"
    "  ld.global.u32 %r2, [%rd1];\n"
    "  mad.lo.u32 %r2, %r2, 5, %r1;\n"
    "  st.global.u32 [%rd1], %r2;\n"
    "  ret;\n"
    "}\n";

/* One copy of 1 GiB through the stub loses its connection today (the transport's bulk path,
 * issue 22's): big copies go in 256 MiB calls, back to back. */
#define COPY_CHUNK (256ull << 20)
#define ROW 1000
#define ROWS 2048
#define NG 1024

static CUfunction fill_fn, step_fn, gstep_fn;
static CUdeviceptr lin, pit, glob;
static size_t pitch, nlin;
static uint32_t *want_lin, *got;
static uint8_t *want_pit, *got_pit;
static uint32_t want_g[NG], got_g[NG];
#define NSMALL_MAX 64
static CUdeviceptr small_p[NSMALL_MAX];
static uint32_t *small_want[NSMALL_MAX], small_got[(1000 + 777 * NSMALL_MAX) / 4];
static size_t small_n[NSMALL_MAX];   /* words */
static int nsmall, small_first;   /* small_p[small_first..nsmall) are live */

/* A failed call: said on stdout (the test reads it), and this command ends. */
#define TRY(call)                                                                     \
    do {                                                                              \
        CUresult r_ = (call);                                                         \
        if (r_ != CUDA_SUCCESS) {                                                     \
            const char *n_ = NULL;                                                    \
            cuGetErrorName(r_, &n_);                                                  \
            printf("error %d %s (%s)\n", (int)r_, n_ ? n_ : "?", #call);              \
            fflush(stdout);                                                           \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

static int setup(void)
{
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    TRY(cuInit(0));
    TRY(cuDeviceGet(&dev, 0));
    TRY(cuCtxCreate(&ctx, NULL, 0, dev));
    TRY(cuModuleLoadData(&mod, ptx));
    TRY(cuModuleGetFunction(&fill_fn, mod, "fill"));
    TRY(cuModuleGetFunction(&step_fn, mod, "step"));
    TRY(cuModuleGetFunction(&gstep_fn, mod, "gstep"));
    size_t gsz = 0;
    TRY(cuModuleGetGlobal(&glob, &gsz, mod, "gstate"));
    return gsz == sizeof want_g ? 0 : 1;
}

static int launch(CUfunction f, CUdeviceptr p, uint64_t n, uint32_t seed)
{
    void *args[] = {&p, &n, &seed};
    unsigned blocks = (unsigned)((n + 255) / 256);
    TRY(cuLaunchKernel(f, blocks, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    return 0;
}

static int small_setup(uint32_t seed);

static int hold_setup(uint64_t bytes)
{
    nlin = bytes / 4;
    want_lin = malloc(nlin * 4);
    got = malloc(nlin * 4);
    want_pit = malloc((size_t)ROW * ROWS);
    got_pit = malloc((size_t)ROW * ROWS);
    if (!want_lin || !got || !want_pit || !got_pit)
        return 1;
    const char *env = getenv("PROG_FREEZE_SEED");
    uint32_t seed = env && *env ? (uint32_t)strtoul(env, NULL, 0) : 12345u;
    if (getenv("PROG_FREEZE_ASYNC"))   /* stream-ordered, from the default pool */
        TRY(cuMemAllocAsync(&lin, nlin * 4, NULL));
    else
        TRY(cuMemAlloc(&lin, nlin * 4));
    if (launch(fill_fn, lin, nlin, seed))
        return 1;
    for (size_t i = 0; i < nlin; i++)
        want_lin[i] = (uint32_t)i * 2654435761u + seed;
    TRY(cuMemAllocPitch(&pit, &pitch, ROW, ROWS, 4));
    for (size_t i = 0; i < (size_t)ROW * ROWS; i++)
        want_pit[i] = (uint8_t)(i * 7 + i / ROW + seed);
    CUDA_MEMCPY2D c = {.srcMemoryType = CU_MEMORYTYPE_HOST, .srcHost = want_pit, .srcPitch = ROW,
                       .dstMemoryType = CU_MEMORYTYPE_DEVICE, .dstDevice = pit,
                       .dstPitch = pitch, .WidthInBytes = ROW, .Height = ROWS};
    TRY(cuMemcpy2D(&c));
    for (int i = 0; i < NG; i++)
        want_g[i] = (uint32_t)i * 77u + 3u + seed;
    TRY(cuMemcpyHtoD(glob, want_g, sizeof want_g));
    TRY(cuCtxSynchronize());
    return small_setup(seed);
}

/* PROG_FREEZE_SMALL's allocations, filled from the seed. */
static int small_setup(uint32_t seed)
{
    const char *e = getenv("PROG_FREEZE_SMALL");
    nsmall = e && *e ? atoi(e) : 0;
    nsmall = nsmall < 0 ? 0 : nsmall > NSMALL_MAX ? NSMALL_MAX : nsmall;
    for (int i = 0; i < nsmall; i++) {
        small_n[i] = (1000u + 777u * (unsigned)i) / 4;
        small_want[i] = malloc(small_n[i] * 4);
        if (!small_want[i])
            return 1;
        for (size_t j = 0; j < small_n[i]; j++)
            small_want[i][j] = (uint32_t)j * 2654435761u + seed + (uint32_t)i;
        TRY(cuMemAlloc(&small_p[i], small_n[i] * 4));
        TRY(cuMemcpyHtoD(small_p[i], small_want[i], small_n[i] * 4));
        CUdeviceptr base = 0;   /* its own range, though it lies in a chunk of the worker's */
        size_t size = 0;
        TRY(cuMemGetAddressRange(&base, &size, small_p[i] + 4));
        if (base != small_p[i] || size != small_n[i] * 4) {
            printf("FAIL small allocation %d: range 0x%llx + %zu\n", i,
                   (unsigned long long)base, size);
            return 1;
        }
    }
    return 0;
}

/* After a step's kernels: the small allocations against the CPU's. */
static int small_check(void)
{
    for (int i = small_first; i < nsmall; i++) {
        for (size_t j = 0; j < small_n[i]; j++)
            small_want[i][j] = small_want[i][j] * 3u + 1u;
        TRY(cuMemcpyDtoH(small_got, small_p[i], small_n[i] * 4));
        if (memcmp(small_got, small_want[i], small_n[i] * 4) != 0) {
            printf("FAIL small allocation %d changed\n", i);
            return 1;
        }
    }
    return 0;
}

/* One step on the device and on the CPU, then every byte compared. */
static int check(int stepno)
{
    if (lin && launch(step_fn, lin, nlin, 0))
        return 1;
    for (int i = small_first; i < nsmall; i++)
        if (launch(step_fn, small_p[i], small_n[i], 0))
            return 1;
    TRY(cuLaunchKernel(gstep_fn, 1, 1, 1, NG, 1, 1, 0, NULL, NULL, NULL));
    TRY(cuCtxSynchronize());   /* the step ran: the CPU takes it too */
    for (size_t i = 0; lin && i < nlin; i++)
        want_lin[i] = want_lin[i] * 3u + 1u;
    for (int i = 0; i < NG; i++)
        want_g[i] = want_g[i] * 5u + (uint32_t)i;
    for (uint64_t off = 0; lin && off < nlin * 4; off += COPY_CHUNK) {
        uint64_t n = nlin * 4 - off < COPY_CHUNK ? nlin * 4 - off : COPY_CHUNK;
        TRY(cuMemcpyDtoH((uint8_t *)got + off, lin + off, n));
    }
    CUDA_MEMCPY2D c = {.srcMemoryType = CU_MEMORYTYPE_DEVICE, .srcDevice = pit,
                       .srcPitch = pitch, .dstMemoryType = CU_MEMORYTYPE_HOST, .dstHost = got_pit,
                       .dstPitch = ROW, .WidthInBytes = ROW, .Height = ROWS};
    TRY(cuMemcpy2D(&c));
    TRY(cuMemcpyDtoH(got_g, glob, sizeof got_g));
    for (size_t i = 0; lin && i < nlin; i++)
        if (got[i] != want_lin[i]) {
            printf("FAIL linear word %zu: %u, the CPU says %u\n", i, got[i], want_lin[i]);
            return 1;
        }
    if (memcmp(got_pit, want_pit, (size_t)ROW * ROWS) != 0) {
        printf("FAIL the pitched allocation changed\n");
        return 1;
    }
    for (int i = 0; i < NG; i++)
        if (got_g[i] != want_g[i]) {
            printf("FAIL global word %d: %u, the CPU says %u\n", i, got_g[i], want_g[i]);
            return 1;
        }
    if (small_check())
        return 1;
    printf("ok %d\n", stepno);
    return 0;
}

static CUdeviceptr extra;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* An allocation that may need others frozen first (or fail, bounded, when none can be). */
static void alloc_extra(uint64_t bytes)
{
    double t0 = now_s();
    CUdeviceptr p = 0;
    CUresult r = extra ? CUDA_ERROR_INVALID_VALUE : cuMemAlloc(&p, bytes);
    if (r == CUDA_SUCCESS)
        extra = p;
    const char *n = NULL;
    cuGetErrorName(r, &n);
    if (r == CUDA_SUCCESS)
        printf("allocated %llu in %.6f\n", (unsigned long long)bytes, now_s() - t0);
    else
        printf("error %d %s (cuMemAlloc) in %.6f\n", (int)r, n ? n : "?", now_s() - t0);
}

static int mode_hold(uint64_t bytes)
{
    if (setup() || hold_setup(bytes))
        return 1;
    printf("ready pid %d\n", (int)getpid());
    fflush(stdout);
    char line[64];
    int steps = 0;
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "check", 5) == 0) {
            check(++steps);
        } else if (strncmp(line, "freesmall", 9) == 0) {   /* the oldest small one */
            if (small_first < nsmall && cuMemFree(small_p[small_first]) == CUDA_SUCCESS)
                printf("freedsmall\n");
            small_first++;
        } else if (strncmp(line, "free", 4) == 0) {
            if (cuMemFree(lin) == CUDA_SUCCESS)
                printf("freed\n");
            lin = 0;
        } else if (strncmp(line, "alloc ", 6) == 0) {
            alloc_extra(strtoull(line + 6, NULL, 0));
        } else if (strncmp(line, "unalloc", 7) == 0) {
            if (extra && cuMemFree(extra) == CUDA_SUCCESS)
                printf("unallocated\n");
            extra = 0;
        } else if (strncmp(line, "end", 3) == 0) {
            return 0;
        }
        fflush(stdout);
    }
    return 0;
}

static int mode_devfree(void)
{
    size_t fr = 0, total = 0;
    if (setup())
        return 1;
    TRY(cuMemGetInfo(&fr, &total));
    printf("devfree %zu total %zu\n", fr, total);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}


static int mode_copy(uint64_t bytes)
{
    CUdeviceptr d;
    uint8_t *h = malloc(bytes);
    if (!h || setup())
        return 1;
    memset(h, 0x5a, bytes);
    TRY(cuMemAlloc(&d, bytes));
    double t[3] = {now()};
    for (int pass = 1; pass < 3; pass++) {
        for (uint64_t off = 0; off < bytes; off += COPY_CHUNK) {
            uint64_t n = bytes - off < COPY_CHUNK ? bytes - off : COPY_CHUNK;
            TRY(cuMemcpyHtoD(d + off, h + off, n));
        }
        t[pass] = now();
    }
    printf("h2d_first_s %.6f h2d_again_s %.6f\n", t[1] - t[0], t[2] - t[1]);
    free(h);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "hold") == 0)
        return mode_hold(strtoull(argv[2], NULL, 0));
    if (argc == 2 && strcmp(argv[1], "devfree") == 0)
        return mode_devfree();
    if (argc == 3 && strcmp(argv[1], "copy") == 0)
        return mode_copy(strtoull(argv[2], NULL, 0));
    fprintf(stderr, "usage: prog_freeze hold BYTES | devfree | copy BYTES\n");
    return 2;
}
