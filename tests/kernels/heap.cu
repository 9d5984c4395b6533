// Corpus: the device heap: per-thread malloc, use, free.
extern "C" __global__ void heap_sum(const int *counts, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int c = counts[i];
    int *p = (int *)malloc(c * sizeof(int));
    if (!p) {
        out[i] = -1;
        return;
    }
    for (int k = 0; k < c; k++)
        p[k] = k * i;
    int s = 0;
    for (int k = c - 1; k >= 0; k--)
        s += p[k];
    free(p);
    out[i] = s;
}
