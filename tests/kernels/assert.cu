// Corpus: a device-side assertion that fails for one element.
#undef NDEBUG
#include <cassert>
extern "C" __global__ void assert_kernel(const int *in, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    assert(in[i] >= 0);
    out[i] = in[i];
}
