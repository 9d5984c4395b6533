// Corpus: divergence. Per-thread trip counts, a while loop with break and continue, and
// early exits of individual threads before a barrier-free computation. The loops are in
// divergence_ref.h, which the C reference (cases_basic.c) compiles too.
#include "divergence_ref.h"
#include "kt_device.cuh"

extern "C" __global__ void divergent_loops(const int *trips, int *out, int n)
{
    int i = kt_global_index();
    if (i >= n)
        return;
    out[i] = kt_divergent_loops_value(i, trips[i]);
}

extern "C" __global__ void early_exit(const int *in, int *out, int n)
{
    int i = kt_global_index();
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
