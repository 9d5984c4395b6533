// cuBLAS from NVIDIA's shared libcublas on softgpu (SOFTGPU_CC=12.1, docs/libraries.md): the
// handle is created and level-1 routines whose kernels have PTX run (saxpy, sscal, checked
// against the CPU), while the GEMV/GEMM kernels, which cuBLAS ships only as SASS, fail at the
// call with a status instead of crashing or failing cublasCreate.
#include <cmath>
#include <vector>

#include <cublas_v2.h>

#include "check.h"

#define BLAS_CHECK(call) CHECK_STATUS(call, CUBLAS_STATUS_SUCCESS)

int main()
{
    cublasHandle_t h;
    BLAS_CHECK(cublasCreate(&h));
    const int n = 1000;
    std::vector<float> x(n), y(n), out(n);
    for (int i = 0; i < n; i++) {
        x[i] = (float)(i % 7 - 3);
        y[i] = (float)(i % 5) * 0.5f;
    }
    float *dx, *dy;
    CHECK(cudaMalloc(&dx, n * sizeof(float)));
    CHECK(cudaMalloc(&dy, n * sizeof(float)));
    CHECK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    const float a = 2.5f, s = -0.5f;
    BLAS_CHECK(cublasSaxpy(h, n, &a, dx, 1, dy, 1)); // y = a x + y
    BLAS_CHECK(cublasSscal(h, n, &s, dy, 1));        // y = s y
    CHECK(cudaMemcpy(out.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; i++)
        if (out[i] != s * (a * x[i] + y[i]))
            FAIL("saxpy/sscal element %d: %g, expected %g", i, out[i], s * (a * x[i] + y[i]));
    printf("saxpy and sscal of %d floats match the CPU\n", n);
    const float one = 1, zero = 0;
    cublasStatus_t st = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, dx, 8, dx, 8,
                                    &zero, dy, 8);
    if (st == CUBLAS_STATUS_SUCCESS)
        FAIL("sgemm succeeded, but its kernels have no PTX");
    printf("sgemm fails at the call (SASS-only kernels)\n");
    BLAS_CHECK(cublasDestroy(h));
    return 0;
}
