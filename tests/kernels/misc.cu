// Corpus: assorted features: compare-and-swap / exchange / min / or atomics, a per-thread
// local array with dynamic indexing, and a polynomial whose coefficients live in __constant__
// memory set by the host (cuModuleGetGlobal) plus a __device__ global counter.
__constant__ float coeffs[8];
__device__ unsigned calls;

extern "C" __global__ void atomics_misc(const int *in, int n, int *min_out, unsigned *or_out,
                                        int *cas_counter, int *exch_slots)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    atomicMin(min_out, in[i]);
    atomicOr(or_out, 1u << (in[i] & 31));
    int old = *cas_counter, assumed; // increment via a CAS loop
    do {
        assumed = old;
        old = atomicCAS(cas_counter, assumed, assumed + 2);
    } while (old != assumed);
    atomicExch(&exch_slots[i % 16], i + 1);
}

extern "C" __global__ void local_array(const int *in, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int tmp[24];
    for (int k = 0; k < 24; k++)
        tmp[k] = in[i] * k + k * k;
    int idx = in[i] & 15, acc = 0;
    for (int k = 0; k < 8; k++)
        acc += tmp[(idx + k * 5) % 24];
    out[i] = acc;
}

extern "C" __global__ void constant_poly(const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float v = x[i], acc = 0.0f;
    for (int k = 7; k >= 0; k--)
        acc = acc * v + coeffs[k];
    y[i] = acc;
    atomicAdd(&calls, 1u);
}
