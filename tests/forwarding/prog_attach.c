/*
 * A driver-API program for the cross-memory attach path (test_fwd_attach, issue 22):
 *   copies        pageable copies both ways, synchronous and asynchronous, at sizes around the
 *                 attach threshold (64 KiB) and the worker's pieces (256 KiB, 1 MiB), at odd
 *                 host and device offsets, and above 4 MiB, where the stub times both paths
 *                 and alternates them (six copies each way: both paths); each direction checked
 *                 against the other made in 64 KiB - 1 pieces (below the threshold: staged);
 *                 then DtoH into newly mapped pages (by attach). Prints "prog_attach: OK".
 *   bad           addresses that are not the program's (unmapped; read-only for a DtoH): each
 *                 copy CUDA_ERROR_INVALID_VALUE, the read-only page untouched, and the session
 *                 goes on (a good copy after them). Only meaningful through the attach: a
 *                 staged copy would fault in the program itself.
 *   secret FILE   maps 2 MiB of secret bytes at a fixed unusual address, prints "addr=0x...",
 *                 waits for FILE to exist, then says whether they are intact.
 *   steal ADDR    another session names that address both ways: each refused (the worker only
 *                 attaches to its own client), no secret byte read.
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prog_copyutil.h"

#define MAXB ((4u << 20) + 8192)
#define SECRET_ADDR ((void *)0x7e5500000000ull)
#define SECRET_LEN (2u << 20)

#define EXPECT(call, want)                                                                     \
    do {                                                                                       \
        CUresult r_ = (call);                                                                  \
        if (r_ != (want)) {                                                                    \
            printf("%s:%d %s gave %d, not %d\n", __FILE__, __LINE__, #call, (int)r_,           \
                   (int)(want));                                                               \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static void same(const uint8_t *a, const uint8_t *b, size_t n, const char *what, size_t size,
                 size_t hoff, size_t doff)
{
    if (memcmp(a, b, n) == 0)
        return;
    size_t i = 0;
    while (a[i] == b[i])
        i++;
    printf("%s of %zu bytes (host +%zu, device +%zu) differs at byte %zu\n", what, size, hoff,
           doff, i);
    exit(1);
}

static void copies(void)
{
    static const size_t sizes[] = {SMALL, 64u << 10, (64u << 10) + 1, (256u << 10) - 1,
                                   256u << 10, (256u << 10) + 1, (1u << 20) - 1, (1u << 20) + 5,
                                   (3u << 20) + 7, (4u << 20) + 3};
    static const size_t hoffs[] = {0, 1, 4097}, doffs[] = {0, 3};
    uint8_t *src = malloc(MAXB), *back = malloc(MAXB);
    CUdeviceptr d;
    CUstream st;
    CHECK(cuMemAlloc(&d, MAXB));
    CHECK(cuStreamCreate(&st, CU_STREAM_NON_BLOCKING));
    uint32_t seed = 1;
    for (size_t a = 0; a < 2; a++)   /* a: the asynchronous forms */
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            for (size_t h = 0; h < 3; h++)
                for (size_t k = 0; k < 2; k++) {
                    size_t n = sizes[i], ho = hoffs[h], dof = doffs[k];
                    fill(src + ho, n, seed++, 0);
                    if (a)
                        CHECK(cuMemcpyHtoDAsync(d + dof, src + ho, n, st));
                    else
                        CHECK(cuMemcpyHtoD(d + dof, src + ho, n));
                    if (a)
                        memset(src + ho, 0xee, 16);   /* reused at once: must not matter */
                    if (a)
                        CHECK(cuStreamSynchronize(st));
                    dtoh_small(back, d + dof, n);
                    if (a)
                        fill(src + ho, 16, seed - 1, 0);
                    same(src + ho, back, n, a ? "HtoDAsync" : "HtoD", n, ho, dof);
                    fill(src, n, seed++, 0);
                    htod_small(d + dof, src, n);
                    memset(back, 0, MAXB);
                    if (a)
                        CHECK(cuMemcpyDtoHAsync(back + ho, d + dof, n, st));
                    else
                        CHECK(cuMemcpyDtoH(back + ho, d + dof, n));
                    same(src, back + ho, n, a ? "DtoHAsync" : "DtoH", n, ho, dof);
                    if (back[ho + n] != 0 || (ho && back[ho - 1] != 0)) {
                        printf("DtoH of %zu bytes wrote outside its range\n", n);
                        exit(1);
                    }
                }
    CHECK(cuStreamDestroy(st));
    CHECK(cuMemFree(d));
    free(src);
    free(back);
}

/* DtoH, synchronous and asynchronous, of 8 MiB + 3 into newly mapped pages at offset 1 (the
 * stub sends those by attach whatever the timings say: mincore): right, and nothing written
 * around them. */
static void into_new_pages(void)
{
    size_t n = (8u << 20) + 3, len = n + 8192;
    uint8_t *src = malloc(n);
    CUdeviceptr d;
    CUstream st;
    CHECK(cuMemAlloc(&d, n));
    CHECK(cuStreamCreate(&st, CU_STREAM_NON_BLOCKING));
    for (int a = 0; a < 2 && src; a++) {
        uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            exit(1);
        fill(src, n, 500 + (uint32_t)a, 0);
        htod_small(d, src, n);
        if (a)
            CHECK(cuMemcpyDtoHAsync(p + 1, d, n, st));
        else
            CHECK(cuMemcpyDtoH(p + 1, d, n));
        CHECK(cuStreamSynchronize(st));
        same(src, p + 1, n, a ? "DtoHAsync into new pages" : "DtoH into new pages", n, 1, 0);
        for (size_t i = n + 1; i < len; i++)
            if (p[i] != 0 || p[0] != 0) {
                printf("DtoH into new pages wrote outside its range\n");
                exit(1);
            }
        munmap(p, len);
    }
    CHECK(cuStreamDestroy(st));
    CHECK(cuMemFree(d));
    free(src);
}

/* The device buffer must hold `pattern` bytes afterwards: the refused copies wrote nothing. */
static void bad(void)
{
    size_t n = 1u << 20;
    CUdeviceptr d;
    CUstream st;
    uint8_t *good = malloc(n), *back = malloc(n);
    uint8_t *ro = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *hole = (void *)(uintptr_t)0x1000;
    if (!good || !back || ro == MAP_FAILED)
        exit(1);
    CHECK(cuMemAlloc(&d, n));
    CHECK(cuStreamCreate(&st, 0));
    fill(good, n, 7, 0);
    CHECK(cuMemcpyHtoD(d, good, n));
    EXPECT(cuMemcpyHtoD(d, hole, n), CUDA_ERROR_INVALID_VALUE);
    EXPECT(cuMemcpyDtoH(hole, d, n), CUDA_ERROR_INVALID_VALUE);
    EXPECT(cuMemcpyDtoH(ro, d, n), CUDA_ERROR_INVALID_VALUE);
    EXPECT(cuMemcpyHtoDAsync(d, hole, n, st), CUDA_ERROR_INVALID_VALUE);
    EXPECT(cuMemcpyDtoHAsync(hole, d, n, st), CUDA_ERROR_INVALID_VALUE);
    for (size_t i = 0; i < n; i++)
        if (ro[i] != 0) {
            printf("the read-only page changed at byte %zu\n", i);
            exit(1);
        }
    CHECK(cuStreamSynchronize(st));
    CHECK(cuMemcpyDtoH(back, d, n));   /* the session goes on */
    same(good, back, n, "after refused copies", n, 0, 0);
    CHECK(cuStreamDestroy(st));
    CHECK(cuMemFree(d));
    munmap(ro, n);
    free(good);
    free(back);
    printf("prog_attach: OK\n");
}

static void secret(const char *file)
{
    uint8_t *p = mmap(SECRET_ADDR, SECRET_LEN, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != SECRET_ADDR) {
        printf("cannot map the secret at %p\n", SECRET_ADDR);
        exit(1);
    }
    memset(p, 0x5a, SECRET_LEN);
    CUdeviceptr d;
    CHECK(cuMemAlloc(&d, 1u << 20));   /* a session of its own, attached */
    CHECK(cuMemcpyHtoD(d, p, 1u << 20));
    printf("addr=%p\n", (void *)p);
    fflush(stdout);
    for (int i = 0; i < 600 && access(file, F_OK) != 0; i++)
        usleep(100000);
    for (size_t i = 0; i < SECRET_LEN; i++)
        if (p[i] != 0x5a) {
            printf("the secret changed at byte %zu\n", i);
            exit(1);
        }
    printf("secret intact\n");
}

static void steal(const char *addr)
{
    void *p = (void *)(uintptr_t)strtoull(addr, NULL, 0);
    size_t n = 1u << 20;
    uint8_t *back = malloc(n), *mine = malloc(n);
    CUdeviceptr d;
    CHECK(cuMemAlloc(&d, n));
    memset(mine, 0x11, n);
    CHECK(cuMemcpyHtoD(d, mine, n));
    EXPECT(cuMemcpyHtoD(d, p, n), CUDA_ERROR_INVALID_VALUE);
    EXPECT(cuMemcpyDtoH(p, d, n), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuMemcpyDtoH(back, d, n));
    for (size_t i = 0; i < n; i++)
        if (back[i] == 0x5a) {
            printf("a secret byte came through at %zu\n", i);
            exit(1);
        }
    CHECK(cuMemFree(d));
    free(back);
    free(mine);
    printf("prog_attach: OK\n");
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "copies";
    CUdevice dev;
    CUcontext ctx;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
    if (!strcmp(mode, "copies")) {
        copies();
        into_new_pages();
        printf("prog_attach: OK\n");
    } else if (!strcmp(mode, "bad")) {
        bad();
    } else if (!strcmp(mode, "secret") && argc > 2) {
        secret(argv[2]);
    } else if (!strcmp(mode, "steal") && argc > 2) {
        steal(argv[2]);
    } else {
        fprintf(stderr, "usage: prog_attach copies | bad | secret FILE | steal ADDR\n");
        return 2;
    }
    CHECK(cuCtxDestroy(ctx));
    return 0;
}
