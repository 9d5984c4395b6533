// Corpus: element-wise vector kernels (vec_add, saxpy, a fused multiply-add-activation).
extern "C" __global__ void vec_add(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        c[i] = a[i] + b[i];
}

// Grid-stride loop: the grid is smaller than the data.
extern "C" __global__ void saxpy(int n, float alpha, const float *x, float *y)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        y[i] = alpha * x[i] + y[i];
}

// out = max(a*b + c, 0) * scale, with selects and min/max.
extern "C" __global__ void fused_elementwise(const float *a, const float *b, const float *c,
                                             float *out, float scale, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float v = fmaf(a[i], b[i], c[i]);
    v = v > 0.0f ? v : 0.0f;
    out[i] = fminf(v * scale, 100.0f);
}
