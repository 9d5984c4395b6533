/*
 * Shared by the CUDA test programs: CHECK() turns any runtime error into a one-line diagnosis
 * on stderr and exit status 1, so a program exits 0 only when every call and every
 * verification succeeded; run_on_two_threads() for the programs that use the device from two
 * host threads at once.
 */
#ifndef TFUSE_CUDA_TEST_CHECK_H
#define TFUSE_CUDA_TEST_CHECK_H

#include <cstdio>
#include <cstdlib>
#include <pthread.h>
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

/* For the libraries' own status codes (cuRAND, cuFFT, cuSPARSE, cuDNN): call must give ok. */
#define CHECK_STATUS(call, ok)                                                               \
    do {                                                                                     \
        auto check_st_ = (call);                                                             \
        if (check_st_ != (ok))                                                               \
            FAIL("%s failed: status %d", #call, (int)check_st_);                             \
    } while (0)

/* Runs work(here) on the calling thread while a second host thread runs work(there); returns
 * when both are done. */
static inline void run_on_two_threads(void *(*work)(void *), void *here, void *there)
{
    pthread_t t;
    if (pthread_create(&t, NULL, work, there) != 0)
        FAIL("pthread_create");
    work(here);
    pthread_join(t, NULL);
}

#endif
