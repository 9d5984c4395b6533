/*
 * Shared by the CUDA test programs: CHECK() turns any runtime error into a one-line diagnosis
 * on stderr and exit status 1, so a program exits 0 only when every call and every
 * verification succeeded.
 */
#ifndef TFUSE_CUDA_TEST_CHECK_H
#define TFUSE_CUDA_TEST_CHECK_H

#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define CHECK(call)                                                                          \
    do {                                                                                     \
        cudaError_t check_err_ = (call);                                                     \
        if (check_err_ != cudaSuccess) {                                                     \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #call,       \
                    cudaGetErrorName(check_err_), cudaGetErrorString(check_err_));          \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* Checks the launch itself (configuration errors surface here, not at the next sync). */
#define CHECK_LAUNCH() CHECK(cudaGetLastError())

#define FAIL(...)                                                                            \
    do {                                                                                     \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                      \
        fprintf(stderr, __VA_ARGS__);                                                        \
        fputc('\n', stderr);                                                                 \
        exit(1);                                                                             \
    } while (0)

#endif
