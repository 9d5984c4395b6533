// multimodule, second module: a kernel and a __constant__ of the same name as the first's.
#include "check.h"
#include "multimodule.h"

static __constant__ float k_factor = 3.0f;

__global__ void scale_values(float *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = p[i] * k_factor + 1.0f;
}

void mm_scale(float *d, int n)
{
    scale_values<<<(n + 255) / 256, 256>>>(d, n);
    CHECK_LAUNCH();
}
