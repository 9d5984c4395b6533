/*
 * For the CUDA test programs that call the driver API (after cuda.h and check.h): CU() turns
 * a failed driver call into a one-line diagnosis and exit status 1, as CHECK() does for the
 * runtime; EXPECT_CU() requires a call to return one particular result (a refusal under test).
 */
#ifndef TFUSE_CUDA_TEST_CU_CHECK_H
#define TFUSE_CUDA_TEST_CU_CHECK_H

#include <cuda.h>
#include "check.h"

#define CU(call)                                                                             \
    do {                                                                                     \
        CUresult cu_err_ = (call);                                                           \
        if (cu_err_ != CUDA_SUCCESS) {                                                       \
            const char *n_ = "?";                                                            \
            cuGetErrorName(cu_err_, &n_);                                                    \
            FAIL("%s failed: %s", #call, n_);                                                \
        }                                                                                    \
    } while (0)

#define EXPECT_CU(call, want)                                                                \
    do {                                                                                     \
        CUresult got_ = (call);                                                              \
        if (got_ != (want)) {                                                                \
            const char *n_ = "?", *w_ = "?";                                                 \
            cuGetErrorName(got_, &n_);                                                       \
            cuGetErrorName((want), &w_);                                                     \
            FAIL("%s: %s, expected %s", #call, n_, w_);                                      \
        }                                                                                    \
    } while (0)

#endif
