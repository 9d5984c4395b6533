/*
 * A "model" for bench_coldstart's model-switch figure: a driver-API program that holds a file of
 * weights in device memory and runs a kernel over them. Loading is what a serving process does
 * at start: the context, a module, the weights read from the file (the page cache) and copied
 * into one device allocation. The kernel visits every 4 KiB page of the weights (65536 threads,
 * each summing 16 words of its own slice) and its 65536 sums are compared with the same sums
 * computed on the host from the file's bytes when the weights were loaded.
 *
 *   model_prog WEIGHTS once    load, run the kernel once, print "done NS ok" and exit
 *   model_prog WEIGHTS serve   load, run once, print "ready pid PID", then for each line read:
 *                                run   the kernel again: "done NS ok" (or "FAIL ..."/"error ...")
 *                                end   exit 0
 * NS is the CLOCK_MONOTONIC time at which the kernel had completed (its cuCtxSynchronize
 * returned). The weights file's size must be a multiple of 256 KiB.
 *
 * Owns: nothing. May call: the CUDA driver API (softgpu's or our stub's), libc.
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 65536u
#define BLOCK 256u
#define SAMPLES 16u

static const char ptx[] =
    ".version 7.0\n.target sm_50\n.address_size 64\n"
    ".visible .entry sample(.param .u64 w, .param .u64 out, .param .u32 span,"
    " .param .u32 step)\n{\n"
    "  .reg .pred %p;\n  .reg .b32 %r<12>;\n  .reg .b64 %rd<8>;\n"
    "  ld.param.u64 %rd1, [w];\n  ld.param.u64 %rd2, [out];\n"
    "  ld.param.u32 %r1, [span];\n  ld.param.u32 %r2, [step];\n"
    "  mov.u32 %r3, %ctaid.x;\n  mov.u32 %r4, %ntid.x;\n  mov.u32 %r5, %tid.x;\n"
    "  mad.lo.u32 %r6, %r3, %r4, %r5;\n"          /* t */
    "  mul.wide.u32 %rd3, %r6, %r1;\n"            /* t * span: the slice's first word */
    "  cvta.to.global.u64 %rd4, %rd1;\n"
    "  mov.u32 %r7, 0;\n  mov.u32 %r8, 0;\n"      /* acc, j */
    "LOOP:\n"
    "  shl.b64 %rd5, %rd3, 2;\n  add.u64 %rd5, %rd4, %rd5;\n"
    "  ld.global.u32 %r9, [%rd5];\n"
    "  mad.lo.u32 %r7, %r7, 31, %r9;\n"
    "  cvt.u64.u32 %rd6, %r2;\n  add.u64 %rd3, %rd3, %rd6;\n"
    "  add.u32 %r8, %r8, 1;\n  setp.lt.u32 %p, %r8, 16;\n  @%p bra LOOP;\n"
    "  cvta.to.global.u64 %rd7, %rd2;\n  mul.wide.u32 %rd6, %r6, 4;\n"
    "  add.u64 %rd7, %rd7, %rd6;\n  st.global.u32 [%rd7], %r7;\n  ret;\n}\n";

struct model {
    CUfunction fn;
    CUdeviceptr w, out;
    unsigned span, step;
    uint32_t *want, *got;   /* THREADS sums: the host's, the device's */
};

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int bad(const char *what, CUresult r)
{
    const char *name = NULL;
    cuGetErrorName(r, &name);
    printf("error %d %s (%s)\n", (int)r, name ? name : "?", what);
    fflush(stdout);
    return -1;
}

#define TRY(call)                                                                           \
    do {                                                                                    \
        CUresult r_ = (call);                                                               \
        if (r_ != CUDA_SUCCESS)                                                             \
            return bad(#call, r_);                                                          \
    } while (0)

/* The file's bytes into host memory; its size in *bytes. */
static uint32_t *read_weights(const char *path, size_t *bytes)
{
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        if (f)
            fclose(f);
        return NULL;
    }
    long n = ftell(f);
    rewind(f);
    uint32_t *w = n > 0 && n % (long)(THREADS * 4) == 0 ? malloc((size_t)n) : NULL;
    if (w && fread(w, 1, (size_t)n, f) != (size_t)n) {
        free(w);
        w = NULL;
    }
    fclose(f);
    *bytes = (size_t)n;
    return w;
}

static int load(struct model *m, const char *path)
{
    size_t bytes = 0;
    uint32_t *host = read_weights(path, &bytes);
    if (!host) {
        printf("error 0 cannot read %s (its size must be a multiple of 256 KiB)\n", path);
        return -1;
    }
    m->span = (unsigned)(bytes / 4 / THREADS);
    m->step = m->span / SAMPLES ? m->span / SAMPLES : 1;
    m->want = malloc(THREADS * sizeof *m->want);
    m->got = malloc(THREADS * sizeof *m->got);
    for (unsigned t = 0; m->want && t < THREADS; t++) {
        uint32_t acc = 0;
        for (unsigned j = 0; j < SAMPLES; j++)
            acc = acc * 31u + host[(size_t)t * m->span + (size_t)j * m->step];
        m->want[t] = acc;
    }
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUresult r = cuInit(0);
    r = r ? r : cuDeviceGet(&dev, 0);
    r = r ? r : cuDevicePrimaryCtxRetain(&ctx, dev);
    r = r ? r : cuCtxSetCurrent(ctx);
    r = r ? r : cuModuleLoadData(&mod, ptx);
    r = r ? r : cuModuleGetFunction(&m->fn, mod, "sample");
    r = r ? r : cuMemAlloc(&m->w, bytes);
    r = r ? r : cuMemAlloc(&m->out, THREADS * sizeof *m->got);
    r = r ? r : cuMemcpyHtoD(m->w, host, bytes);
    free(host);
    if (r != CUDA_SUCCESS)
        return bad("loading the model", r);
    return m->want && m->got ? 0 : -1;
}

/* One kernel over the weights, waited for, then its sums checked. */
static int run(struct model *m)
{
    void *args[] = {&m->w, &m->out, &m->span, &m->step};
    TRY(cuLaunchKernel(m->fn, THREADS / BLOCK, 1, 1, BLOCK, 1, 1, 0, NULL, args, NULL));
    TRY(cuCtxSynchronize());
    long long done = mono_ns();
    TRY(cuMemcpyDtoH(m->got, m->out, THREADS * sizeof *m->got));
    for (unsigned t = 0; t < THREADS; t++)
        if (m->got[t] != m->want[t]) {
            printf("FAIL thread %u summed %u, the host %u\n", t, m->got[t], m->want[t]);
            fflush(stdout);
            return -1;
        }
    printf("done %lld ok\n", done);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "once") && strcmp(argv[2], "serve"))) {
        fprintf(stderr, "usage: model_prog WEIGHTS_FILE once|serve\n");
        return 2;
    }
    static struct model m;
    if (load(&m, argv[1]) != 0 || run(&m) != 0)
        return 1;
    if (!strcmp(argv[2], "once"))
        return 0;
    printf("ready pid %d\n", (int)getpid());
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "end", 3))
            return 0;
        if (!strncmp(line, "run", 3))
            run(&m);
        else
            printf("error 0 unknown command\n");
        fflush(stdout);
    }
    return 0;
}
