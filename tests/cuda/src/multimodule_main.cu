// multimodule: three translation units, each with its own kernels and its own (static)
// __constant__ of the same name, so cudart registers three fat binaries (three libraries).
#include <vector>
#include "check.h"
#include "multimodule.h"

static __constant__ float k_factor = 10.0f;

__global__ void init_values(float *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = (float)i * k_factor;
}

int main()
{
    const int n = 10000;
    float *d;
    double *d_sum;
    CHECK(cudaMalloc(&d, n * sizeof(float)));
    CHECK(cudaMalloc(&d_sum, sizeof(double)));
    init_values<<<(n + 127) / 128, 128>>>(d, n);  /* p[i] = 10 i        (this module)   */
    CHECK_LAUNCH();
    mm_scale(d, n);                               /* p[i] = 10 i * 3 + 1 (scale module) */
    mm_sum(d, n, d_sum);                          /* sum of p            (sum module)   */

    std::vector<float> h(n);
    double sum = 0;
    CHECK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(&sum, d_sum, sizeof(double), cudaMemcpyDeviceToHost));
    double want_sum = 0;
    for (int i = 0; i < n; i++) {
        float want = (float)i * 10.0f * 3.0f + 1.0f;
        if (h[i] != want)
            FAIL("p[%d] = %f, expected %f", i, h[i], want);
        want_sum += want;
    }
    if (sum != want_sum)
        FAIL("sum = %f, expected %f", sum, want_sum);
    CHECK(cudaFree(d));
    CHECK(cudaFree(d_sum));
    printf("multimodule: OK 3 modules, sum=%.0f\n", sum);
    return 0;
}
