/*
 * A driver-API program for the migration test and bench/freeze's migration rows, run through
 * `tfuse run` (docs/freeze.md, "Migration"). Modes (argv[1]):
 *   hold BYTES   state in device memory: BYTES of linear memory (cuMemAlloc) and a pitched
 *                allocation (cuMemAllocPitch, 1000-byte rows x 2048), filled by a kernel and a
 *                copy; a module without variables, a stream of the program's, an event.
 *                Prints "ready pid PID", then serves commands read line by line from stdin:
 *                  check    one step of kernels on the stream, an event recorded after it and
 *                           waited for (made with CU_EVENT_DISABLE_TIMING: it must not time,
 *                           before a migration or after), then every byte compared with the
 *                           same steps done on the CPU: "ok STEP" or "FAIL ..."; a failed call
 *                           prints
 *                           "error CODE NAME (call)" and the program goes on
 *                  alloc B  one more allocation of B bytes, held: "allocated B"
 *                  unalloc  frees it: "unallocated"
 *                  mod      loads a second module, one with a __device__ variable (which
 *                           cannot migrate): "loaded"; unmod unloads it: "unloaded"
 *                  end      exits 0
 *   devfree DEV  the free memory of device DEV as an unlimited session sees it (cuMemGetInfo):
 *                "devfree F total T"
 * Owns: nothing. May call: the CUDA driver API (our stub through tfuse run).
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* fill: p[i] = i * 0x9E3779B1 + seed; step: p[i] = p[i] * 3 + 1 (n words) */
static const char ptx[] =
    ".version 7.0\n.target sm_50\n.address_size 64\n"
    ".visible .entry fill(.param .u64 p, .param .u64 n, .param .u32 seed)\n{\n"
    "  .reg .pred %q;\n  .reg .b32 %r<6>;\n  .reg .b64 %rd<8>;\n"
    "  ld.param.u64 %rd1, [p];\n  ld.param.u64 %rd2, [n];\n  ld.param.u32 %r1, [seed];\n"
    "  mov.u32 %r2, %ctaid.x;\n  mov.u32 %r3, %ntid.x;\n  mov.u32 %r4, %tid.x;\n"
    "  mul.wide.u32 %rd3, %r2, %r3;\n  cvt.u64.u32 %rd4, %r4;\n  add.u64 %rd3, %rd3, %rd4;\n"
    "  setp.ge.u64 %q, %rd3, %rd2;\n  @%q bra DONE;\n"
    "  cvt.u32.u64 %r5, %rd3;\n  mad.lo.u32 %r5, %r5, 0x9E3779B1, %r1;\n"
    "  shl.b64 %rd5, %rd3, 2;\n  cvta.to.global.u64 %rd6, %rd1;\n  add.u64 %rd6, %rd6, %rd5;\n"
    "  st.global.u32 [%rd6], %r5;\nDONE:\n  ret;\n}\n"
    ".visible .entry step(.param .u64 p, .param .u64 n)\n{\n"
    "  .reg .pred %q;\n  .reg .b32 %r<6>;\n  .reg .b64 %rd<8>;\n"
    "  ld.param.u64 %rd1, [p];\n  ld.param.u64 %rd2, [n];\n"
    "  mov.u32 %r2, %ctaid.x;\n  mov.u32 %r3, %ntid.x;\n  mov.u32 %r4, %tid.x;\n"
    "  mul.wide.u32 %rd3, %r2, %r3;\n  cvt.u64.u32 %rd4, %r4;\n  add.u64 %rd3, %rd3, %rd4;\n"
    "  setp.ge.u64 %q, %rd3, %rd2;\n  @%q bra DONE;\n"
    "  shl.b64 %rd5, %rd3, 2;\n  cvta.to.global.u64 %rd6, %rd1;\n  add.u64 %rd6, %rd6, %rd5;\n"
    "  ld.global.u32 %r5, [%rd6];\n  mad.lo.u32 %r5, %r5, 3, 1;\n  st.global.u32 [%rd6], %r5;\n"
    "DONE:\n  ret;\n}\n";

#define COPY_CHUNK (256ull << 20)   /* big copies in 256 MiB calls, as prog_freeze's */
#define ROW 1000
#define ROWS 2048
#define SEED 4242u

/* A module with a variable: its address would change on another device. */
static const char ptx_var[] = ".version 7.0\n.target sm_50\n.address_size 64\n"
                              ".visible .global .align 4 .u32 counter[16];\n";

static CUfunction fill_fn, step_fn;
static CUmodule var_mod;
static CUstream stream;
static CUevent done_ev;
static CUdeviceptr lin, pit, extra;
static size_t pitch, nlin;
static uint32_t *want_lin, *got;
static uint8_t *want_pit, *got_pit;

#define TRY(call)                                                                     \
    do {                                                                              \
        CUresult r_ = (call);                                                         \
        if (r_ != CUDA_SUCCESS) {                                                     \
            const char *n_ = NULL;                                                    \
            cuGetErrorName(r_, &n_);                                                  \
            printf("error %d %s (%s)\n", (int)r_, n_ ? n_ : "?", #call);              \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

static int setup(int ordinal)
{
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    TRY(cuInit(0));
    TRY(cuDeviceGet(&dev, ordinal));
    TRY(cuCtxCreate(&ctx, NULL, 0, dev));
    TRY(cuModuleLoadData(&mod, ptx));
    TRY(cuModuleGetFunction(&fill_fn, mod, "fill"));
    TRY(cuModuleGetFunction(&step_fn, mod, "step"));
    TRY(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
    TRY(cuEventCreate(&done_ev, CU_EVENT_DISABLE_TIMING));
    return 0;
}

static int launch(CUfunction f, CUdeviceptr p, uint64_t n, uint32_t seed)
{
    void *args[] = {&p, &n, &seed};
    TRY(cuLaunchKernel(f, (unsigned)((n + 255) / 256), 1, 1, 256, 1, 1, 0, stream, args, NULL));
    return 0;
}

static int hold_setup(uint64_t bytes)
{
    nlin = bytes / 4;
    want_lin = malloc(nlin * 4);
    got = malloc(nlin * 4);
    want_pit = malloc((size_t)ROW * ROWS);
    got_pit = malloc((size_t)ROW * ROWS);
    if (!want_lin || !got || !want_pit || !got_pit)
        return 1;
    TRY(cuMemAlloc(&lin, nlin * 4));
    if (launch(fill_fn, lin, nlin, SEED))
        return 1;
    for (size_t i = 0; i < nlin; i++)
        want_lin[i] = (uint32_t)i * 2654435761u + SEED;
    TRY(cuMemAllocPitch(&pit, &pitch, ROW, ROWS, 4));
    for (size_t i = 0; i < (size_t)ROW * ROWS; i++)
        want_pit[i] = (uint8_t)(i * 7 + i / ROW + SEED);
    CUDA_MEMCPY2D c = {.srcMemoryType = CU_MEMORYTYPE_HOST, .srcHost = want_pit, .srcPitch = ROW,
                       .dstMemoryType = CU_MEMORYTYPE_DEVICE, .dstDevice = pit,
                       .dstPitch = pitch, .WidthInBytes = ROW, .Height = ROWS};
    TRY(cuMemcpy2D(&c));
    TRY(cuStreamSynchronize(stream));
    return 0;
}

/* One step on the device and on the CPU, then every byte compared. */
static int check(int stepno)
{
    if (launch(step_fn, lin, nlin, 0))
        return 1;
    TRY(cuEventRecord(done_ev, stream));
    TRY(cuEventSynchronize(done_ev));
    float ms = 0;
    if (cuEventElapsedTime(&ms, done_ev, done_ev) != CUDA_ERROR_INVALID_HANDLE) {
        printf("FAIL the event made without timing times\n");
        return 1;
    }
    for (size_t i = 0; i < nlin; i++)
        want_lin[i] = want_lin[i] * 3u + 1u;
    for (uint64_t off = 0; off < nlin * 4; off += COPY_CHUNK) {
        uint64_t n = nlin * 4 - off < COPY_CHUNK ? nlin * 4 - off : COPY_CHUNK;
        TRY(cuMemcpyDtoH((uint8_t *)got + off, lin + off, n));
    }
    CUDA_MEMCPY2D c = {.srcMemoryType = CU_MEMORYTYPE_DEVICE, .srcDevice = pit,
                       .srcPitch = pitch, .dstMemoryType = CU_MEMORYTYPE_HOST, .dstHost = got_pit,
                       .dstPitch = ROW, .WidthInBytes = ROW, .Height = ROWS};
    TRY(cuMemcpy2D(&c));
    for (size_t i = 0; i < nlin; i++)
        if (got[i] != want_lin[i]) {
            printf("FAIL linear word %zu: %u, the CPU says %u\n", i, got[i], want_lin[i]);
            return 1;
        }
    if (memcmp(got_pit, want_pit, (size_t)ROW * ROWS) != 0) {
        printf("FAIL the pitched allocation changed\n");
        return 1;
    }
    printf("ok %d\n", stepno);
    return 0;
}

static int command(const char *line, int *steps)
{
    if (strncmp(line, "check", 5) == 0)
        return check(++*steps);
    if (strncmp(line, "alloc ", 6) == 0 && !extra) {
        unsigned long long b = strtoull(line + 6, NULL, 0);
        TRY(cuMemAlloc(&extra, b));
        printf("allocated %llu\n", b);
    } else if (strncmp(line, "unalloc", 7) == 0 && extra) {
        TRY(cuMemFree(extra));
        extra = 0;
        printf("unallocated\n");
    } else if (strncmp(line, "mod", 3) == 0 && !var_mod) {
        TRY(cuModuleLoadData(&var_mod, ptx_var));
        printf("loaded\n");
    } else if (strncmp(line, "unmod", 5) == 0 && var_mod) {
        TRY(cuModuleUnload(var_mod));
        var_mod = NULL;
        printf("unloaded\n");
    }
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "devfree") == 0) {
        size_t fr = 0, total = 0;
        if (setup(atoi(argv[2])))
            return 1;
        TRY(cuMemGetInfo(&fr, &total));
        printf("devfree %zu total %zu\n", fr, total);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "hold") != 0) {
        fprintf(stderr, "usage: prog_migrate hold BYTES | devfree DEV\n");
        return 2;
    }
    if (setup(0) || hold_setup(strtoull(argv[2], NULL, 0)))
        return 1;
    printf("ready pid %d\n", (int)getpid());
    char line[64];
    int steps = 0;
    while (fgets(line, sizeof line, stdin) && strncmp(line, "end", 3) != 0)
        command(line, &steps);
    return 0;
}
