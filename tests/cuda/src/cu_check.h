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
        CUresult e_ = (call);                                                                \
        if (e_ != (want))                                                                    \
            FAIL("%s returned %d, expected %d", #call, (int)e_, (int)(want));                \
    } while (0)

#endif
