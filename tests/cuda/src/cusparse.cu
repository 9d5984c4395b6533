// cuSPARSE's generic SpMV on a CSR matrix (float) from NVIDIA's shared libcusparse, whose
// kernels softgpu runs from their compute_120 PTX (SOFTGPU_CC=12.1, docs/libraries.md): y =
// alpha * A x + beta * y, compared with the same product computed on the CPU in double.
#include <cmath>
#include <vector>

#include <cusparse.h>

#include "check.h"

#define SPARSE_CHECK(call) CHECK_STATUS(call, CUSPARSE_STATUS_SUCCESS)

template <typename T> static T *to_device(const std::vector<T> &v)
{
    T *d;
    CHECK(cudaMalloc(&d, v.size() * sizeof(T)));
    CHECK(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}

int main()
{
    const int m = 200, n = 150;
    std::vector<int> rows(m + 1), cols;
    std::vector<float> vals, x(n), y(m, 1.0f), ref(m);
    unsigned s = 7;
    for (int i = 0; i < m; i++) { // about one entry in seven, values in [-2, 2)
        rows[i] = (int)cols.size();
        for (int j = 0; j < n; j++) {
            s = s * 1103515245u + 12345u;
            if ((s >> 16) % 7 == 0) {
                cols.push_back(j);
                vals.push_back((float)((s >> 8) % 100) / 25.0f - 2);
            }
        }
    }
    rows[m] = (int)cols.size();
    for (int j = 0; j < n; j++)
        x[j] = (float)(j % 13) / 4.0f - 1;
    const float alpha = 2.0f, beta = 0.5f;
    for (int i = 0; i < m; i++) {
        double a = 0;
        for (int k = rows[i]; k < rows[i + 1]; k++)
            a += (double)vals[k] * x[cols[k]];
        ref[i] = (float)(alpha * a + beta * y[i]);
    }
    int *drows = to_device(rows), *dcols = to_device(cols);
    float *dvals = to_device(vals), *dx = to_device(x), *dy = to_device(y);

    cusparseHandle_t h;
    cusparseSpMatDescr_t A;
    cusparseDnVecDescr_t X, Y;
    SPARSE_CHECK(cusparseCreate(&h));
    SPARSE_CHECK(cusparseCreateCsr(&A, m, n, (int64_t)cols.size(), drows, dcols, dvals,
                                   CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                                   CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
    SPARSE_CHECK(cusparseCreateDnVec(&X, n, dx, CUDA_R_32F));
    SPARSE_CHECK(cusparseCreateDnVec(&Y, m, dy, CUDA_R_32F));
    size_t ws = 0;
    SPARSE_CHECK(cusparseSpMV_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, A, X, &beta,
                                         Y, CUDA_R_32F, CUSPARSE_SPMV_ALG_DEFAULT, &ws));
    void *dws = nullptr;
    if (ws)
        CHECK(cudaMalloc(&dws, ws));
    SPARSE_CHECK(cusparseSpMV(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, A, X, &beta, Y,
                              CUDA_R_32F, CUSPARSE_SPMV_ALG_DEFAULT, dws));
    std::vector<float> out(m);
    CHECK(cudaMemcpy(out.data(), dy, m * sizeof(float), cudaMemcpyDeviceToHost));
    double worst = 0;
    for (int i = 0; i < m; i++)
        worst = fmax(worst, fabs((double)out[i] - ref[i]));
    SPARSE_CHECK(cusparseDestroySpMat(A));
    SPARSE_CHECK(cusparseDestroyDnVec(X));
    SPARSE_CHECK(cusparseDestroyDnVec(Y));
    SPARSE_CHECK(cusparseDestroy(h));
    if (worst > 1e-4)
        FAIL("SpMV differs from the CPU by %g", worst);
    printf("SpMV %dx%d CSR with %zu nonzeros matches the CPU\n", m, n, cols.size());
    return 0;
}
