/*
 * Handles (IPC, pool export data) passed to a second process on its command line, as hex: for
 * the CUDA test programs that start one (ipc_event, share_handles).
 */
#ifndef TFUSE_CUDA_TEST_HEX_H
#define TFUSE_CUDA_TEST_HEX_H

#include <cstdio>

/* out holds 2 * n + 1 characters. */
static inline void to_hex(const void *h, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", ((const unsigned char *)h)[i]);
}

static inline void from_hex(const char *hex, void *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        ((unsigned char *)h)[i] = (unsigned char)v;
    }
}

#endif
