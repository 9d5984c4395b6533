// cuBLAS from NVIDIA's shared libcublas on softgpu (SOFTGPU_CC=12.1, docs/libraries.md): the
// handle is created and the routines whose kernels have PTX run, checked against the CPU:
// level 1 (saxpy, sscal, and the reductions sdot, snrm2, sasum, isamax, isamin, whose scalar
// result cuBLAS keys to the stream through the driver's TOOLS_TLS/TOOLS_CONTEXT export tables:
// docs/export-tables.md), on the default stream, a created one and the per-thread one, with the
// result on the host and on the device; level 2 (sgemv, sger, ssymv, strmv, strsv, ssyr,
// ssyr2; banded sgbmv, ssbmv, stbmv, stbsv; packed sspmv, stpmv, stpsv, sspr, sspr2) and a
// small sgemm. Routines whose kernels cuBLAS ships only as SASS (sgemv
// transposed, larger sgemm) fail at the call with a status, not a crash.
#include <cmath>
#include <vector>

#include <cublas_v2.h>

#include "check.h"

#define BLAS_CHECK(call) CHECK_STATUS(call, CUBLAS_STATUS_SUCCESS)

static void expect_close(const char *what, double got, double want, double rel)
{
    if (!(fabs(got - want) <= rel * fmax(1.0, fabs(want))))
        FAIL("%s: %.9g, expected %.9g (within %g)", what, got, want, rel);
}

static void axpy_scal(cublasHandle_t h, const std::vector<float> &x, const std::vector<float> &y)
{
    const int n = (int)x.size();
    std::vector<float> out(n);
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
    CHECK(cudaFree(dx));
    CHECK(cudaFree(dy));
    printf("saxpy and sscal of %d floats match the CPU\n", n);
}

struct cpu_reductions {
    double dot = 0, nrm2 = 0, asum = 0;
    int amax = 1, amin = 1; // 1-based, the first of equal magnitudes, as BLAS defines them
};

static cpu_reductions reduce_on_cpu(const std::vector<float> &x, const std::vector<float> &y)
{
    cpu_reductions r;
    for (size_t i = 0; i < x.size(); i++) {
        r.dot += (double)x[i] * y[i];
        r.nrm2 += (double)x[i] * x[i];
        r.asum += fabs((double)x[i]);
        if (fabsf(x[i]) > fabsf(x[r.amax - 1]))
            r.amax = (int)i + 1;
        if (fabsf(x[i]) < fabsf(x[r.amin - 1]))
            r.amin = (int)i + 1;
    }
    r.nrm2 = sqrt(r.nrm2);
    return r;
}

// The reductions on the stream the handle has, results to the host; then sdot and isamax with
// the results written to device memory (CUBLAS_POINTER_MODE_DEVICE).
static void reductions(cublasHandle_t h, const char *stream_name, const float *dx,
                       const float *dy, int n, const cpu_reductions &want)
{
    float dot, nrm2, asum;
    int amax, amin;
    BLAS_CHECK(cublasSdot(h, n, dx, 1, dy, 1, &dot));
    BLAS_CHECK(cublasSnrm2(h, n, dx, 1, &nrm2));
    BLAS_CHECK(cublasSasum(h, n, dx, 1, &asum));
    BLAS_CHECK(cublasIsamax(h, n, dx, 1, &amax));
    BLAS_CHECK(cublasIsamin(h, n, dx, 1, &amin));
    expect_close("sdot", dot, want.dot, 1e-5);
    expect_close("snrm2", nrm2, want.nrm2, 1e-5);
    expect_close("sasum", asum, want.asum, 1e-5);
    if (amax != want.amax || amin != want.amin)
        FAIL("isamax %d, isamin %d, expected %d and %d", amax, amin, want.amax, want.amin);

    struct { float dot; int amax; } *dres;
    CHECK(cudaMalloc(&dres, sizeof *dres));
    CHECK(cudaMemset(dres, 0, sizeof *dres));
    BLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE));
    BLAS_CHECK(cublasSdot(h, n, dx, 1, dy, 1, &dres->dot));
    BLAS_CHECK(cublasIsamax(h, n, dx, 1, &dres->amax));
    BLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
    cudaStream_t s;
    BLAS_CHECK(cublasGetStream(h, &s));
    CHECK(cudaStreamSynchronize(s));
    struct { float dot; int amax; } hres;
    CHECK(cudaMemcpy(&hres, dres, sizeof hres, cudaMemcpyDeviceToHost));
    CHECK(cudaFree(dres));
    expect_close("sdot to device memory", hres.dot, want.dot, 1e-5);
    if (hres.amax != want.amax)
        FAIL("isamax to device memory: %d, expected %d", hres.amax, want.amax);
    printf("sdot, snrm2, sasum, isamax and isamin of %d floats on the %s stream match the CPU "
           "(results to the host and to the device)\n", n, stream_name);
}

static void level1_reductions(cublasHandle_t h, const std::vector<float> &x,
                              const std::vector<float> &y)
{
    const int n = (int)x.size();
    const cpu_reductions want = reduce_on_cpu(x, y);
    float *dx, *dy;
    CHECK(cudaMalloc(&dx, n * sizeof(float)));
    CHECK(cudaMalloc(&dy, n * sizeof(float)));
    CHECK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    reductions(h, "default", dx, dy, n, want);
    cudaStream_t created;
    CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking));
    BLAS_CHECK(cublasSetStream(h, created));
    reductions(h, "created", dx, dy, n, want);
    BLAS_CHECK(cublasSetStream(h, cudaStreamPerThread));
    reductions(h, "per-thread", dx, dy, n, want);
    BLAS_CHECK(cublasSetStream(h, 0));
    CHECK(cudaStreamDestroy(created));
    CHECK(cudaFree(dx));
    CHECK(cudaFree(dy));
}

// Level 2 on an M x N column-major matrix (leading dimension LD) whose square part is
// diagonally dominant (for the triangular solve); results against the CPU in double.
enum { M = 29, N = 37, LD = 48 };

struct level2 {
    cublasHandle_t h;
    std::vector<float> a, x, y; // a: LD x N, x and y: LD elements
    float *da, *dx, *dy;
    float alpha = 1.5f, beta = 0.5f;

    float at(int i, int j) const { return a[(size_t)j * LD + i]; }
    void upload()
    {
        CHECK(cudaMemcpy(da, a.data(), a.size() * sizeof(float), cudaMemcpyHostToDevice));
        CHECK(cudaMemcpy(dx, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
        CHECK(cudaMemcpy(dy, y.data(), y.size() * sizeof(float), cudaMemcpyHostToDevice));
    }
    // The first want.size() elements of d (with stride 1) against want.
    void expect(const char *what, const float *d, const std::vector<double> &want) const
    {
        std::vector<float> got(want.size());
        CHECK(cudaMemcpy(got.data(), d, got.size() * sizeof(float), cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < want.size(); i++)
            if (!(fabs(got[i] - want[i]) <= 1e-5 * fmax(1.0, fabs(want[i]))))
                FAIL("%s element %zu: %.9g, expected %.9g", what, i, got[i], want[i]);
    }
};

static void gemv_and_ger(level2 &t)
{
    std::vector<double> want(M);
    t.upload();
    BLAS_CHECK(cublasSgemv(t.h, CUBLAS_OP_N, M, N, &t.alpha, t.da, LD, t.dx, 1, &t.beta, t.dy, 1));
    for (int i = 0; i < M; i++) {
        double s = 0;
        for (int j = 0; j < N; j++)
            s += (double)t.at(i, j) * t.x[j];
        want[i] = t.alpha * s + t.beta * t.y[i];
    }
    t.expect("sgemv", t.dy, want);
    cublasStatus_t st = cublasSgemv(t.h, CUBLAS_OP_T, M, N, &t.alpha, t.da, LD, t.dx, 1,
                                    &t.beta, t.dy, 1);
    if (st == CUBLAS_STATUS_SUCCESS)
        FAIL("sgemv with CUBLAS_OP_T succeeded, but its kernel (gemvx) has no PTX");
    t.upload(); // a = alpha x y^T + a
    BLAS_CHECK(cublasSger(t.h, M, N, &t.alpha, t.dx, 1, t.dy, 1, t.da, LD));
    want.assign((size_t)LD * N, 0);
    for (int j = 0; j < N; j++)
        for (int i = 0; i < LD; i++)
            want[(size_t)j * LD + i] = t.at(i, j) + (i < M ? t.alpha * t.x[i] * t.y[j] : 0.0);
    t.expect("sger", t.da, want);
}

// Upper triangle of the leading N x N part: symv, trmv, trsv, syr, syr2.
static void symmetric_and_triangular(level2 &t)
{
    std::vector<double> want(N);
    auto sym = [&](int i, int j) { return (double)(i <= j ? t.at(i, j) : t.at(j, i)); };
    t.upload();
    BLAS_CHECK(cublasSsymv(t.h, CUBLAS_FILL_MODE_UPPER, N, &t.alpha, t.da, LD, t.dx, 1,
                           &t.beta, t.dy, 1));
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < N; j++)
            s += sym(i, j) * t.x[j];
        want[i] = t.alpha * s + t.beta * t.y[i];
    }
    t.expect("ssymv", t.dy, want);
    const cublasFillMode_t up = CUBLAS_FILL_MODE_UPPER;
    BLAS_CHECK(cublasStrmv(t.h, up, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, N, t.da, LD, t.dx, 1));
    for (int i = 0; i < N; i++) {
        want[i] = 0;
        for (int j = i; j < N; j++)
            want[i] += (double)t.at(i, j) * t.x[j];
    }
    t.expect("strmv", t.dx, want);
    t.upload(); // solve U z = x by back substitution
    BLAS_CHECK(cublasStrsv(t.h, up, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, N, t.da, LD, t.dx, 1));
    for (int i = N - 1; i >= 0; i--) {
        double s = t.x[i];
        for (int j = i + 1; j < N; j++)
            s -= t.at(i, j) * want[j];
        want[i] = s / t.at(i, i);
    }
    t.expect("strsv", t.dx, want);
    std::vector<double> a1((size_t)LD * N), a2((size_t)LD * N);
    for (int j = 0; j < N; j++)
        for (int i = 0; i < LD; i++) {
            bool upper = i <= j;
            a1[(size_t)j * LD + i] = t.at(i, j) + (upper ? t.alpha * t.x[i] * t.x[j] : 0.0);
            a2[(size_t)j * LD + i] =
                t.at(i, j) + (upper ? t.alpha * (t.x[i] * t.y[j] + t.y[i] * t.x[j]) : 0.0);
        }
    t.upload();
    BLAS_CHECK(cublasSsyr(t.h, up, N, &t.alpha, t.dx, 1, t.da, LD));
    t.expect("ssyr", t.da, a1);
    t.upload();
    BLAS_CHECK(cublasSsyr2(t.h, up, N, &t.alpha, t.dx, 1, t.dy, 1, t.da, LD));
    t.expect("ssyr2", t.da, a2);
}

// Banded (general KL/KU, upper symmetric/triangular K) and packed (upper) storage of the same
// matrix: sgbmv, ssbmv, stbmv, stbsv, sspmv, stpmv, stpsv, sspr, sspr2 against the CPU.
enum { KL = 2, KU = 3, K = 3, LDAB = 8 };

static void banded_and_packed(level2 &t)
{
    auto u = [&](int i, int j) { return (double)(i <= j ? t.at(i, j) : t.at(j, i)); };
    auto in_band = [](int i, int j, int below, int above) {
        return i - j <= below && j - i <= above;
    };
    std::vector<float> ab((size_t)LDAB * N, 0), ub((size_t)LDAB * N, 0), ap(N * (N + 1) / 2);
    for (int j = 0; j < N; j++)
        for (int i = 0; i < M || i < N; i++) {
            if (i < M && in_band(i, j, KL, KU))
                ab[(size_t)j * LDAB + KU + i - j] = t.at(i, j);
            if (i < N && i <= j && j - i <= K)
                ub[(size_t)j * LDAB + K + i - j] = t.at(i, j);
            if (i < N && i <= j)
                ap[i + j * (j + 1) / 2] = t.at(i, j);
        }
    float *dab, *dub, *dap;
    CHECK(cudaMalloc(&dab, ab.size() * sizeof(float)));
    CHECK(cudaMalloc(&dub, ub.size() * sizeof(float)));
    CHECK(cudaMalloc(&dap, ap.size() * sizeof(float)));
    CHECK(cudaMemcpy(dab, ab.data(), ab.size() * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dub, ub.data(), ub.size() * sizeof(float), cudaMemcpyHostToDevice));
    const cublasFillMode_t up = CUBLAS_FILL_MODE_UPPER;
    const cublasOperation_t no = CUBLAS_OP_N;
    const cublasDiagType_t nonunit = CUBLAS_DIAG_NON_UNIT;
    // y = alpha A x + beta y for a rows x cols matrix A(i, j) = val(i, j)
    auto mv = [&](int rows, int cols, auto val) {
        std::vector<double> w(rows);
        for (int i = 0; i < rows; i++) {
            double s = 0;
            for (int j = 0; j < cols; j++)
                s += val(i, j) * t.x[j];
            w[i] = t.alpha * s + t.beta * t.y[i];
        }
        return w;
    };
    t.upload();
    BLAS_CHECK(cublasSgbmv(t.h, no, M, N, KL, KU, &t.alpha, dab, LDAB, t.dx, 1, &t.beta, t.dy, 1));
    t.expect("sgbmv", t.dy, mv(M, N, [&](int i, int j) {
                 return in_band(i, j, KL, KU) ? (double)t.at(i, j) : 0.0;
             }));
    t.upload();
    BLAS_CHECK(cublasSsbmv(t.h, up, N, K, &t.alpha, dub, LDAB, t.dx, 1, &t.beta, t.dy, 1));
    t.expect("ssbmv", t.dy,
             mv(N, N, [&](int i, int j) { return abs(i - j) <= K ? u(i, j) : 0.0; }));
    t.upload();
    CHECK(cudaMemcpy(dap, ap.data(), ap.size() * sizeof(float), cudaMemcpyHostToDevice));
    BLAS_CHECK(cublasSspmv(t.h, up, N, &t.alpha, dap, t.dx, 1, &t.beta, t.dy, 1));
    t.expect("sspmv", t.dy, mv(N, N, u));
    // x = U x and the solve U z = x, banded (K) and packed (all of the upper triangle)
    for (int banded = 1; banded >= 0; banded--) {
        int width = banded ? (int)K : (int)N;
        std::vector<double> w(N);
        for (int i = 0; i < N; i++) {
            w[i] = 0;
            for (int j = i; j < N && j - i <= width; j++)
                w[i] += (double)t.at(i, j) * t.x[j];
        }
        t.upload();
        if (banded)
            BLAS_CHECK(cublasStbmv(t.h, up, no, nonunit, N, K, dub, LDAB, t.dx, 1));
        else
            BLAS_CHECK(cublasStpmv(t.h, up, no, nonunit, N, dap, t.dx, 1));
        t.expect(banded ? "stbmv" : "stpmv", t.dx, w);
        for (int i = N - 1; i >= 0; i--) {
            double s = t.x[i];
            for (int j = i + 1; j < N && j - i <= width; j++)
                s -= t.at(i, j) * w[j];
            w[i] = s / t.at(i, i);
        }
        t.upload();
        if (banded)
            BLAS_CHECK(cublasStbsv(t.h, up, no, nonunit, N, K, dub, LDAB, t.dx, 1));
        else
            BLAS_CHECK(cublasStpsv(t.h, up, no, nonunit, N, dap, t.dx, 1));
        t.expect(banded ? "stbsv" : "stpsv", t.dx, w);
    }
    // AP += alpha x x^T, AP += alpha (x y^T + y x^T), upper packed
    std::vector<double> p1(ap.size()), p2(ap.size());
    for (int j = 0; j < N; j++)
        for (int i = 0; i <= j; i++) {
            double a = ap[i + j * (j + 1) / 2];
            p1[i + j * (j + 1) / 2] = a + t.alpha * t.x[i] * t.x[j];
            p2[i + j * (j + 1) / 2] = a + t.alpha * (t.x[i] * t.y[j] + t.y[i] * t.x[j]);
        }
    t.upload();
    BLAS_CHECK(cublasSspr(t.h, up, N, &t.alpha, t.dx, 1, dap));
    t.expect("sspr", dap, p1);
    CHECK(cudaMemcpy(dap, ap.data(), ap.size() * sizeof(float), cudaMemcpyHostToDevice));
    BLAS_CHECK(cublasSspr2(t.h, up, N, &t.alpha, t.dx, 1, t.dy, 1, dap));
    t.expect("sspr2", dap, p2);
    CHECK(cudaFree(dab));
    CHECK(cudaFree(dub));
    CHECK(cudaFree(dap));
}

static void level2_routines(cublasHandle_t h)
{
    level2 t;
    t.h = h;
    t.a.resize((size_t)LD * N);
    t.x.resize(LD);
    t.y.resize(LD);
    for (size_t i = 0; i < t.a.size(); i++)
        t.a[i] = (float)(i * 7 % 11) / 8 - 0.625f;
    for (int i = 0; i < N; i++)
        t.a[(size_t)i * LD + i] += 4;
    for (int i = 0; i < LD; i++) {
        t.x[i] = (float)(i % 5) / 4 - 0.375f;
        t.y[i] = (float)(i % 3) / 2;
    }
    CHECK(cudaMalloc(&t.da, t.a.size() * sizeof(float)));
    CHECK(cudaMalloc(&t.dx, LD * sizeof(float)));
    CHECK(cudaMalloc(&t.dy, LD * sizeof(float)));
    gemv_and_ger(t);
    symmetric_and_triangular(t);
    banded_and_packed(t);
    CHECK(cudaFree(t.da));
    CHECK(cudaFree(t.dx));
    CHECK(cudaFree(t.dy));
    printf("sgemv (no transpose), sger, ssymv, strmv, strsv, ssyr, ssyr2 match the CPU; "
           "sgemv transposed fails at the call (SASS-only kernel)\n");
    printf("banded sgbmv, ssbmv, stbmv, stbsv and packed sspmv, stpmv, stpsv, sspr, sspr2 "
           "match the CPU\n");
}

// A GEMM small enough for cuBLAS's kernel with PTX runs; larger ones pick SASS-only kernels
// and fail at the call with a status.
static void gemm(cublasHandle_t h)
{
    const int n = 8, big = 64;
    const float one = 1, zero = 0;
    std::vector<float> a(n * n), b(n * n), c(n * n);
    for (int i = 0; i < n * n; i++) {
        a[i] = (float)(i % 9) / 4 - 1;
        b[i] = (float)(i % 7) / 2 - 1.5f;
    }
    float *da, *db, *dc;
    CHECK(cudaMalloc(&da, big * big * sizeof(float)));
    CHECK(cudaMalloc(&db, big * big * sizeof(float)));
    CHECK(cudaMalloc(&dc, big * big * sizeof(float)));
    CHECK(cudaMemcpy(da, a.data(), n * n * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(db, b.data(), n * n * sizeof(float), cudaMemcpyHostToDevice));
    BLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, da, n, db, n, &zero, dc,
                           n));
    CHECK(cudaMemcpy(c.data(), dc, n * n * sizeof(float), cudaMemcpyDeviceToHost));
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                s += (double)a[k * n + i] * b[j * n + k];
            expect_close("sgemm 8x8x8", c[j * n + i], s, 1e-5);
        }
    cublasStatus_t st = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, big, big, big, &one, da, big,
                                    db, big, &zero, dc, big);
    if (st == CUBLAS_STATUS_SUCCESS)
        FAIL("sgemm 64x64x64 succeeded, but its kernels have no PTX");
    CHECK(cudaFree(da));
    CHECK(cudaFree(db));
    CHECK(cudaFree(dc));
    printf("sgemm 8x8x8 matches the CPU; sgemm 64x64x64 fails at the call (SASS-only "
           "kernels)\n");
}

int main()
{
    cublasHandle_t h;
    BLAS_CHECK(cublasCreate(&h));
    const int n = 1000;
    std::vector<float> x(n), y(n);
    for (int i = 0; i < n; i++) {
        x[i] = (float)(i % 7 - 3) + (float)(i % 13) / 16.0f + 1.0f / 32; // never 0
        y[i] = (float)(i % 5) * 0.5f;
    }
    x[617] = -9.5f; // a unique largest magnitude, past the first thread block
    x[402] = 1.0f / 64; // and a unique smallest
    axpy_scal(h, x, y);
    level1_reductions(h, x, y);
    level2_routines(h);
    gemm(h);
    BLAS_CHECK(cublasDestroy(h));
    return 0;
}
