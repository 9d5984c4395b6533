/*
 * The per-thread computation of divergence.cu's divergent_loops, written once for both sides:
 * nvcc compiles it into the kernel (whose PTX softgpu runs, branching per thread) and the C
 * harness compiles it as the reference (cases_basic.c), so the two cannot drift apart.
 *
 * May call: nothing (plain C that is also valid CUDA C++).
 */
#ifndef KT_DIVERGENCE_REF_H
#define KT_DIVERGENCE_REF_H

#ifdef __CUDACC__
#define KT_HOST_DEVICE __host__ __device__
#else
#define KT_HOST_DEVICE
#endif

/* Thread i's result: a loop of `trips` iterations, then a while loop with break and continue
 * whose trip count depends on i. */
static inline KT_HOST_DEVICE int kt_divergent_loops_value(int i, int trips)
{
    int acc = 0;
    for (int k = 0; k < trips; k++)
        acc += k * (i & 7);
    int v = i, steps = 0;
    for (;;) {
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
    return acc * 64 + steps;
}

#endif
