// Corpus: divergence. Per-thread trip counts, a while loop with break and continue, and
// early exits of individual threads before a barrier-free computation.
extern "C" __global__ void divergent_loops(const int *trips, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int acc = 0;
    for (int k = 0; k < trips[i]; k++)
        acc += k * (i & 7);
    int v = i, steps = 0;
    while (true) {
        steps++;
        if (v % 5 == 0)
            break;
        if (v & 1) {
            v += 3;
            continue;
        }
        v = v / 2 + 1;
        if (steps > 50)
            break;
    }
    out[i] = acc * 64 + steps;
}

extern "C" __global__ void early_exit(const int *in, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int v = in[i];
    if (v < 0) {
        out[i] = -7;
        return;
    }
    if ((v & 3) == 0)
        return; // leaves the poisoned value in place
    out[i] = v * 2;
}
