// cuSPARSE's generic SpMV and SpMM on a CSR matrix (float) from NVIDIA's shared libcusparse,
// whose kernels softgpu runs from their compute_120 PTX (SOFTGPU_CC=12.1, docs/libraries.md):
// y = alpha * A x + beta * y and C = alpha * A B + beta * C (B, C dense, column-major), each
// compared with the same product computed on the CPU in double.
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

// A random CSR matrix (about one entry in seven, values in [-2, 2)) and its device copy.
struct csr {
    int m, n;
    std::vector<int> rows, cols;
    std::vector<float> vals;
    int *drows, *dcols;
    float *dvals;
};

static csr make_csr(int m, int n)
{
    csr a{m, n, std::vector<int>(m + 1), {}, {}, nullptr, nullptr, nullptr};
    unsigned s = 7;
    for (int i = 0; i < m; i++) {
        a.rows[i] = (int)a.cols.size();
        for (int j = 0; j < n; j++) {
            s = s * 1103515245u + 12345u;
            if ((s >> 16) % 7 == 0) {
                a.cols.push_back(j);
                a.vals.push_back((float)((s >> 8) % 100) / 25.0f - 2);
            }
        }
    }
    a.rows[m] = (int)a.cols.size();
    a.drows = to_device(a.rows);
    a.dcols = to_device(a.cols);
    a.dvals = to_device(a.vals);
    return a;
}

static cusparseSpMatDescr_t describe(const csr &a)
{
    cusparseSpMatDescr_t A;
    SPARSE_CHECK(cusparseCreateCsr(&A, a.m, a.n, (int64_t)a.cols.size(), a.drows, a.dcols,
                                   a.dvals, CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                                   CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
    return A;
}

// Row i of A times column c of the dense column-major b (ld rows), in double.
static double row_times(const csr &a, int i, const std::vector<float> &b, int ld, int c)
{
    double acc = 0;
    for (int k = a.rows[i]; k < a.rows[i + 1]; k++)
        acc += (double)a.vals[k] * b[(size_t)c * ld + a.cols[k]];
    return acc;
}

static void *workspace(size_t size)
{
    void *d = nullptr;
    if (size)
        CHECK(cudaMalloc(&d, size));
    return d;
}

static void spmv(cusparseHandle_t h, const csr &a)
{
    const int m = a.m, n = a.n;
    std::vector<float> x(n), y(m, 1.0f), ref(m), out(m);
    for (int j = 0; j < n; j++)
        x[j] = (float)(j % 13) / 4.0f - 1;
    const float alpha = 2.0f, beta = 0.5f;
    for (int i = 0; i < m; i++)
        ref[i] = (float)(alpha * row_times(a, i, x, n, 0) + beta * y[i]);
    float *dx = to_device(x), *dy = to_device(y);
    cusparseSpMatDescr_t A = describe(a);
    cusparseDnVecDescr_t X, Y;
    SPARSE_CHECK(cusparseCreateDnVec(&X, n, dx, CUDA_R_32F));
    SPARSE_CHECK(cusparseCreateDnVec(&Y, m, dy, CUDA_R_32F));
    size_t ws = 0;
    SPARSE_CHECK(cusparseSpMV_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, A, X, &beta,
                                         Y, CUDA_R_32F, CUSPARSE_SPMV_ALG_DEFAULT, &ws));
    void *dws = workspace(ws);
    SPARSE_CHECK(cusparseSpMV(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, A, X, &beta, Y,
                              CUDA_R_32F, CUSPARSE_SPMV_ALG_DEFAULT, dws));
    CHECK(cudaMemcpy(out.data(), dy, m * sizeof(float), cudaMemcpyDeviceToHost));
    double worst = 0;
    for (int i = 0; i < m; i++)
        worst = fmax(worst, fabs((double)out[i] - ref[i]));
    SPARSE_CHECK(cusparseDestroySpMat(A));
    SPARSE_CHECK(cusparseDestroyDnVec(X));
    SPARSE_CHECK(cusparseDestroyDnVec(Y));
    CHECK(cudaFree(dx));
    CHECK(cudaFree(dy));
    CHECK(cudaFree(dws));
    if (worst > 1e-4)
        FAIL("SpMV differs from the CPU by %g", worst);
    printf("SpMV %dx%d CSR with %zu nonzeros matches the CPU\n", m, n, a.cols.size());
}

// C (m x k) = alpha * A B + beta * C with B (n x k) and C dense, column-major.
static void spmm(cusparseHandle_t h, const csr &a, int k)
{
    const int m = a.m, n = a.n;
    std::vector<float> b((size_t)n * k), c((size_t)m * k), ref(c.size()), out(c.size());
    for (size_t i = 0; i < b.size(); i++)
        b[i] = (float)(i % 19) / 8.0f - 1;
    for (size_t i = 0; i < c.size(); i++)
        c[i] = (float)(i % 5) - 2;
    const float alpha = 1.5f, beta = -0.5f;
    for (int col = 0; col < k; col++)
        for (int i = 0; i < m; i++) {
            size_t at = (size_t)col * m + i;
            ref[at] = (float)(alpha * row_times(a, i, b, n, col) + beta * c[at]);
        }
    float *db = to_device(b), *dc = to_device(c);
    cusparseSpMatDescr_t A = describe(a);
    cusparseDnMatDescr_t B, C;
    SPARSE_CHECK(cusparseCreateDnMat(&B, n, k, n, db, CUDA_R_32F, CUSPARSE_ORDER_COL));
    SPARSE_CHECK(cusparseCreateDnMat(&C, m, k, m, dc, CUDA_R_32F, CUSPARSE_ORDER_COL));
    const cusparseOperation_t op = CUSPARSE_OPERATION_NON_TRANSPOSE;
    size_t ws = 0;
    SPARSE_CHECK(cusparseSpMM_bufferSize(h, op, op, &alpha, A, B, &beta, C, CUDA_R_32F,
                                         CUSPARSE_SPMM_ALG_DEFAULT, &ws));
    void *dws = workspace(ws);
    SPARSE_CHECK(cusparseSpMM(h, op, op, &alpha, A, B, &beta, C, CUDA_R_32F,
                              CUSPARSE_SPMM_ALG_DEFAULT, dws));
    CHECK(cudaMemcpy(out.data(), dc, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
    double worst = 0;
    for (size_t i = 0; i < out.size(); i++)
        worst = fmax(worst, fabs((double)out[i] - ref[i]));
    SPARSE_CHECK(cusparseDestroySpMat(A));
    SPARSE_CHECK(cusparseDestroyDnMat(B));
    SPARSE_CHECK(cusparseDestroyDnMat(C));
    CHECK(cudaFree(db));
    CHECK(cudaFree(dc));
    CHECK(cudaFree(dws));
    if (worst > 1e-4)
        FAIL("SpMM differs from the CPU by %g", worst);
    printf("SpMM %dx%d CSR times dense %dx%d matches the CPU\n", m, n, n, k);
}

int main()
{
    cusparseHandle_t h;
    SPARSE_CHECK(cusparseCreate(&h));
    csr a = make_csr(200, 150);
    spmv(h, a);
    spmm(h, a, 6);
    SPARSE_CHECK(cusparseDestroy(h));
    return 0;
}
