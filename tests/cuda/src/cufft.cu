// cuFFT's transforms from NVIDIA's shared libcufft: 1D complex-to-complex forward and inverse,
// 2D complex-to-complex, 1D real-to-complex and back. softgpu runs cuFFT's kernels from their
// PTX (SOFTGPU_CC=12.1, docs/libraries.md; cuFFT loads them itself and finds each module's
// kernel through the TOOLS_MODULE export table); each result is compared with a discrete
// Fourier transform computed on the CPU in double.
#include <cmath>
#include <vector>

#include <cufft.h>

#include "check.h"

#define FFT_CHECK(call) CHECK_STATUS(call, CUFFT_SUCCESS)

// The forward DFT of in (nx rows of ny points, row-major; nx = 1 for 1D) at (kx, ky), in double.
static void dft(const std::vector<cufftComplex> &in, int nx, int ny, int kx, int ky, double *re,
                double *im)
{
    *re = *im = 0;
    for (int x = 0; x < nx; x++)
        for (int y = 0; y < ny; y++) {
            double a = -2 * M_PI * ((double)x * kx / nx + (double)y * ky / ny);
            const cufftComplex &v = in[(size_t)x * ny + y];
            *re += v.x * cos(a) - v.y * sin(a);
            *im += v.x * sin(a) + v.y * cos(a);
        }
}

// 2D C2C of 16 x 12 points, forward, against the 2D DFT.
static void c2c_2d()
{
    const int nx = 16, ny = 12, n = nx * ny;
    std::vector<cufftComplex> in(n), out(n);
    for (int i = 0; i < n; i++) {
        in[i].x = (float)((i * 7) % 11) * 0.2f - 1.0f;
        in[i].y = cosf((float)i * 0.45f);
    }
    cufftComplex *d;
    CHECK(cudaMalloc(&d, n * sizeof *d));
    CHECK(cudaMemcpy(d, in.data(), n * sizeof *d, cudaMemcpyHostToDevice));
    cufftHandle plan;
    FFT_CHECK(cufftPlan2d(&plan, nx, ny, CUFFT_C2C));
    FFT_CHECK(cufftExecC2C(plan, d, d, CUFFT_FORWARD));
    CHECK(cudaMemcpy(out.data(), d, n * sizeof *d, cudaMemcpyDeviceToHost));
    FFT_CHECK(cufftDestroy(plan));
    CHECK(cudaFree(d));
    double worst = 0, re, im;
    for (int kx = 0; kx < nx; kx++)
        for (int ky = 0; ky < ny; ky++) {
            dft(in, nx, ny, kx, ky, &re, &im);
            const cufftComplex &o = out[(size_t)kx * ny + ky];
            worst = fmax(worst, fmax(fabs(re - o.x), fabs(im - o.y)));
        }
    if (worst > 1e-3)
        FAIL("2D C2C differs from the CPU by %g", worst);
    printf("2D C2C of %d x %d points, forward, matches the CPU\n", nx, ny);
}

// 1D R2C of 128 real points (65 complex outputs), then C2R back to 128 times the input.
static void r2c_c2r()
{
    const int n = 128, nc = n / 2 + 1;
    std::vector<float> in(n), back(n);
    std::vector<cufftComplex> as_complex(n), out(nc);
    for (int i = 0; i < n; i++) {
        in[i] = sinf((float)i * 0.2f) + (float)(i % 3) * 0.5f;
        as_complex[i].x = in[i];
        as_complex[i].y = 0;
    }
    float *dr;
    cufftComplex *dc;
    CHECK(cudaMalloc(&dr, n * sizeof *dr));
    CHECK(cudaMalloc(&dc, nc * sizeof *dc));
    CHECK(cudaMemcpy(dr, in.data(), n * sizeof *dr, cudaMemcpyHostToDevice));
    cufftHandle fwd, inv;
    FFT_CHECK(cufftPlan1d(&fwd, n, CUFFT_R2C, 1));
    FFT_CHECK(cufftPlan1d(&inv, n, CUFFT_C2R, 1));
    FFT_CHECK(cufftExecR2C(fwd, dr, dc));
    CHECK(cudaMemcpy(out.data(), dc, nc * sizeof *dc, cudaMemcpyDeviceToHost));
    FFT_CHECK(cufftExecC2R(inv, dc, dr));
    CHECK(cudaMemcpy(back.data(), dr, n * sizeof *dr, cudaMemcpyDeviceToHost));
    FFT_CHECK(cufftDestroy(fwd));
    FFT_CHECK(cufftDestroy(inv));
    CHECK(cudaFree(dr));
    CHECK(cudaFree(dc));
    double worst = 0, worst_back = 0, re, im;
    for (int k = 0; k < nc; k++) {
        dft(as_complex, 1, n, 0, k, &re, &im);
        worst = fmax(worst, fmax(fabs(re - out[k].x), fabs(im - out[k].y)));
    }
    for (int i = 0; i < n; i++)
        worst_back = fmax(worst_back, fabs(back[i] / n - in[i]));
    if (worst > 1e-3 || worst_back > 1e-5)
        FAIL("R2C differs from the CPU by %g, C2R's round trip by %g", worst, worst_back);
    printf("1D R2C of %d points matches the CPU, C2R brings it back\n", n);
}

int main()
{
    const int n = 256;
    std::vector<cufftComplex> in(n), out(n), back(n);
    for (int i = 0; i < n; i++) {
        in[i].x = cosf((float)i * 0.3f) + (float)(i % 5) * 0.1f;
        in[i].y = sinf((float)i * 0.7f);
    }
    cufftComplex *d;
    CHECK(cudaMalloc(&d, n * sizeof *d));
    CHECK(cudaMemcpy(d, in.data(), n * sizeof *d, cudaMemcpyHostToDevice));
    cufftHandle plan;
    FFT_CHECK(cufftPlan1d(&plan, n, CUFFT_C2C, 1));
    FFT_CHECK(cufftExecC2C(plan, d, d, CUFFT_FORWARD));
    CHECK(cudaMemcpy(out.data(), d, n * sizeof *d, cudaMemcpyDeviceToHost));
    FFT_CHECK(cufftExecC2C(plan, d, d, CUFFT_INVERSE));
    CHECK(cudaMemcpy(back.data(), d, n * sizeof *d, cudaMemcpyDeviceToHost));
    FFT_CHECK(cufftDestroy(plan));
    double worst = 0, worst_back = 0;
    for (int k = 0; k < n; k++) {
        double re = 0, im = 0;
        for (int j = 0; j < n; j++) {
            double a = -2 * M_PI * (double)j * k / n;
            re += in[j].x * cos(a) - in[j].y * sin(a);
            im += in[j].x * sin(a) + in[j].y * cos(a);
        }
        worst = fmax(worst, fmax(fabs(re - out[k].x), fabs(im - out[k].y)));
        // the inverse is unnormalised: n times the input
        worst_back = fmax(worst_back, fmax(fabs(back[k].x / n - in[k].x),
                                           fabs(back[k].y / n - in[k].y)));
    }
    if (worst > 1e-3 || worst_back > 1e-5)
        FAIL("C2C differs from the CPU by %g (forward), %g (round trip)", worst, worst_back);
    printf("1D C2C of %d points, forward and inverse, matches the CPU\n", n);
    c2c_2d();
    r2c_c2r();
    return 0;
}
