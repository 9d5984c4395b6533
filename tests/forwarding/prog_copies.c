/*
 * A driver-API program for the bulk copy paths (test_fwd_copies): copies of sizes at every
 * boundary the transport and the worker cut at (64 KiB, where frames are compressed; 1 MiB,
 * where the worker streams copies in pieces, and its piece size; a few MiB with odd ends), at
 * odd host and device offsets, from and to pageable and page-locked memory, of random and of
 * compressible bytes. Each direction is checked against the other path: a large HtoD is read
 * back in 64 KiB - 1 pieces (the ordinary path), and a large DtoH reads what was written in
 * such pieces, so a fault of one direction cannot hide behind the same fault of the other.
 * "split" copies more than the session's frame bound (below). Prints "prog_copies: OK" and
 * exits 0 when every copy is right.
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prog_copyutil.h"

#define MAXB ((6u << 20) + 8192)   /* the largest size at the largest offset */

static int failures;

static void expect_same(const uint8_t *a, const uint8_t *b, size_t n, const char *what,
                        size_t size, size_t hoff, size_t doff)
{
    if (memcmp(a, b, n) == 0)
        return;
    size_t i = 0;
    while (a[i] == b[i])
        i++;
    printf("%s of %zu bytes (host +%zu, device +%zu): first difference at byte %zu\n", what,
           size, hoff, doff, i);
    failures++;
}

static void one(CUdeviceptr dev, uint8_t *src, uint8_t *dst, size_t n, size_t hoff, size_t doff,
                int compressible, uint32_t seed)
{
    fill(src + hoff, n, seed, compressible);
    /* HtoD whole, read back in small pieces */
    CHECK(cuMemcpyHtoD(dev + doff, src + hoff, n));
    memset(dst + hoff, 0xee, n);
    dtoh_small(dst + hoff, dev + doff, n);
    expect_same(dst + hoff, src + hoff, n, "HtoD", n, hoff, doff);
    /* written in small pieces, DtoH whole */
    fill(src + hoff, n, seed + 7, compressible);
    htod_small(dev + doff, src + hoff, n);
    memset(dst + hoff, 0xee, n);
    CHECK(cuMemcpyDtoH(dst + hoff, dev + doff, n));
    expect_same(dst + hoff, src + hoff, n, "DtoH", n, hoff, doff);
}

/* The bytes around [p + off, p + off + n) still hold 0x5a: a piece written past its end. */
static void expect_guard(const uint8_t *p, size_t off, size_t n, const char *what)
{
    for (size_t i = 0; i < off; i++)
        if (p[i] != 0x5a || p[off + n + i] != 0x5a) {
            printf("%s: a byte outside the copy was written\n", what);
            failures++;
            return;
        }
}

/* "split [MiB]": copies larger than the session's frame bound (the test lowers it with
 * TFUSE_FRAME_MAX_MB), which the stub sends in pieces: synchronous and asynchronous (the legacy
 * stream and a stream of the program's), both directions, pageable and page-locked, at odd
 * offsets, each checked against copies in small pieces and for bytes written around it. */
static int split(size_t mib)
{
    size_t n = (mib << 20) + 5, hoff = 4097, doff = 3, len = n + 2 * hoff;
    CUcontext ctx;
    CUdeviceptr dev;
    CUstream st;
    CHECK(cuInit(0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, 0));
    CHECK(cuCtxSetCurrent(ctx));
    CHECK(cuMemAlloc(&dev, n + doff));
    CHECK(cuStreamCreate(&st, CU_STREAM_NON_BLOCKING));
    uint8_t *src = malloc(len), *dst[2] = {malloc(len), NULL};
    CHECK(cuMemAllocHost((void **)&dst[1], len));
    if (!src || !dst[0])
        return 1;
    uint32_t seed = 100;
    for (int locked = 0; locked < 2; locked++)
        for (int async = 0; async < 3; async++) {   /* sync, legacy stream, own stream */
            CUstream s = async == 2 ? st : NULL;
            uint8_t *h = dst[locked];
            fill(h + hoff, n, seed++, 0);
            memcpy(src, h, len);
            CHECK(async ? cuMemcpyHtoDAsync(dev + doff, h + hoff, n, s)
                        : cuMemcpyHtoD(dev + doff, h + hoff, n));
            CHECK(cuStreamSynchronize(s));
            memset(h, 0x5a, len);
            dtoh_small(h + hoff, dev + doff, n);
            expect_same(h + hoff, src + hoff, n, "split HtoD", n, hoff, doff);
            fill(src + hoff, n, seed++, 0);
            htod_small(dev + doff, src + hoff, n);
            memset(h, 0x5a, len);
            CHECK(async ? cuMemcpyDtoHAsync(h + hoff, dev + doff, n, s)
                        : cuMemcpyDtoH(h + hoff, dev + doff, n));
            CHECK(cuStreamSynchronize(s));
            expect_same(h + hoff, src + hoff, n, "split DtoH", n, hoff, doff);
            expect_guard(h, hoff, n, "split DtoH");
        }
    /* Past the allocation by one byte: refused whole, before any piece is written. */
    dtoh_small(dst[0], dev + doff, 4096);
    memset(src, 0x77, len);
    if (cuMemcpyHtoD(dev + doff + 1, src, n) == CUDA_SUCCESS ||
        cuMemcpyDtoH(dst[0] + 8192, dev + doff + 1, n) == CUDA_SUCCESS) {
        printf("a split copy past the allocation was not refused\n");
        failures++;
    }
    dtoh_small(dst[0] + 4096, dev + doff, 4096);
    expect_same(dst[0] + 4096, dst[0], 4096, "refused split HtoD", n, 0, doff + 1);
    CHECK(cuStreamDestroy(st));
    CHECK(cuMemFreeHost(dst[1]));
    free(src);
    free(dst[0]);
    CHECK(cuMemFree(dev));
    printf(failures ? "prog_copies: %d FAILED\n" : "prog_copies: OK\n", failures);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "split") == 0)
        return split(argc > 2 ? strtoul(argv[2], NULL, 10) : 40);
    const size_t K = 1024, M = 1024 * 1024;
    const size_t sizes[] = {64 * K - 1, 64 * K, 64 * K + 1, M - 1, M, M + 1, 2 * M - 1,
                            2 * M + 3, 3 * M, 6 * M + 5};
    const size_t offs[][2] = {{0, 0}, {1, 0}, {0, 13}, {4097, 3}};
    CUdevice devno;
    CUcontext ctx;
    CUdeviceptr dev;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&devno, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, devno));
    CHECK(cuCtxSetCurrent(ctx));
    CHECK(cuMemAlloc(&dev, MAXB));
    uint8_t *page[2], *pin[2];
    for (int i = 0; i < 2; i++) {
        page[i] = malloc(MAXB);
        CHECK(cuMemAllocHost((void **)&pin[i], MAXB));
        if (!page[i])
            return 1;
    }
    int quick = argc > 1 && strcmp(argv[1], "quick") == 0;   /* fewer offsets */
    uint32_t seed = 1;
    for (int locked = 0; locked < 2; locked++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (size_t o = 0; o < (quick ? 2 : 4); o++)
                for (int z = 0; z < 2; z++) {
                    uint8_t **h = locked ? pin : page;
                    one(dev, h[0], h[1], sizes[s], offs[o][0], offs[o][1], z, seed++);
                }
    CHECK(cuCtxSynchronize());
    /* A copy past the allocation is refused, and the session goes on. */
    if (cuMemcpyHtoD(dev + MAXB - M, page[0], 2 * M) == CUDA_SUCCESS ||
        cuMemcpyDtoH(page[0], dev + MAXB - M, 2 * M) == CUDA_SUCCESS) {
        printf("a 2 MiB copy past the allocation was not refused\n");
        failures++;
    }
    one(dev, page[0], page[1], 3 * M, 0, 0, 1, seed);
    for (int i = 0; i < 2; i++) {
        free(page[i]);
        CHECK(cuMemFreeHost(pin[i]));
    }
    CHECK(cuMemFree(dev));
    if (failures)
        printf("prog_copies: %d FAILED\n", failures);
    else
        printf("prog_copies: OK\n");
    return failures ? 1 : 0;
}
