// cuFFT's 1D complex-to-complex transform, forward and inverse, from NVIDIA's shared libcufft,
// whose kernels softgpu runs from their PTX (SOFTGPU_CC=12.1, docs/libraries.md; cuFFT loads
// them itself and finds each module's kernel through the TOOLS_MODULE export table), compared
// with a discrete Fourier transform computed on the CPU in double.
#include <cmath>
#include <vector>

#include <cufft.h>

#include "check.h"

#define FFT_CHECK(call) CHECK_STATUS(call, CUFFT_SUCCESS)

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
    return 0;
}
