/*
 * Helpers shared by softgpu's tests: cmocka includes, a CUDA-call assertion that names the
 * error, and a per-test primary-context setup. Tests use only the public driver API.
 */
#ifndef SG_TEST_H
#define SG_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <cuda.h>

#define CU_OK(call)                                                                 \
    do {                                                                            \
        CUresult r_ = (call);                                                       \
        if (r_ != CUDA_SUCCESS) {                                                   \
            const char *n_ = NULL;                                                  \
            cuGetErrorName(r_, &n_);                                                \
            fail_msg("%s -> %d (%s)", #call, (int)r_, n_ ? n_ : "?");             \
        }                                                                           \
    } while (0)

#define CU_ERR(call, expected) assert_int_equal((int)(call), (int)(expected))

/* cmocka setup/teardown: the calling thread has device 0's primary context current. */
static inline int sg_setup_primary(void **state)
{
    (void)state;
    CUcontext ctx;
    if (cuInit(0) != CUDA_SUCCESS || cuDevicePrimaryCtxRetain(&ctx, 0) != CUDA_SUCCESS
        || cuCtxSetCurrent(ctx) != CUDA_SUCCESS)
        return -1;
    return 0;
}

static inline int sg_teardown_primary(void **state)
{
    (void)state;
    return cuDevicePrimaryCtxRelease(0) == CUDA_SUCCESS ? 0 : -1;
}

#endif
