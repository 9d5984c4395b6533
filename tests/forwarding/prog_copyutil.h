/*
 * Helpers of the copy test programs (prog_copies.c, prog_attach.c): the failing-call check,
 * reproducible bytes, and copies in pieces below every threshold of the copy paths (64 KiB - 1:
 * the ordinary path whatever the size), against which the large copies are checked.
 */
#ifndef TFUSE_TESTS_FORWARDING_PROG_COPYUTIL_H
#define TFUSE_TESTS_FORWARDING_PROG_COPYUTIL_H

#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SMALL ((64u << 10) - 1)   /* below every threshold */

#define CHECK(call)                                                                            \
    do {                                                                                       \
        CUresult r_ = (call);                                                                  \
        if (r_ != CUDA_SUCCESS) {                                                              \
            printf("%s:%d %s failed: %d\n", __FILE__, __LINE__, #call, (int)r_);               \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

/* xorshift bytes from seed; compressible: 16 of every 64 random, the rest zeros. */
static inline void fill(uint8_t *p, size_t n, uint32_t seed, int compressible)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = compressible && i % 64 >= 16 ? 0 : (uint8_t)x;
    }
}

static inline void htod_small(CUdeviceptr d, const uint8_t *h, size_t n)
{
    for (size_t off = 0; off < n; off += SMALL)
        CHECK(cuMemcpyHtoD(d + off, h + off, n - off < SMALL ? n - off : SMALL));
}

static inline void dtoh_small(uint8_t *h, CUdeviceptr d, size_t n)
{
    for (size_t off = 0; off < n; off += SMALL)
        CHECK(cuMemcpyDtoH(h + off, d + off, n - off < SMALL ? n - off : SMALL));
}

#endif
