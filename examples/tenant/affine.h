/*
 * The demo tenant's computation, shared by tenant.c (driver API, embedded PTX) and tenant.cu
 * (nvcc): every element x_i of a state vector steps through x = x * MUL + (2i + 1) mod 2^32,
 * ITERS steps per kernel launch, as many launches as fit in the run. The GPU walks every step;
 * the CPU reference jumps there in O(log steps) by composing the affine map with itself, so
 * the check is an independent computation that stays cheap however long the run was.
 * Owns: the reference, the argument parsing and the result line of both tenants. May call: libc.
 */
#ifndef TFUSE_EXAMPLE_AFFINE_H
#define TFUSE_EXAMPLE_AFFINE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AFFINE_MUL 1664525u
#define AFFINE_THREADS 256 /* one block: a tenant is one steady stream of kernels */

static inline uint32_t affine_seed(uint32_t i)
{
    return i * 2654435761u ^ 0x5eed1234u;
}

/* x after `steps` steps from x0, for element i: (A, B) of the map x -> A x + B, squared up. */
static inline uint32_t affine_reference(uint32_t x0, uint32_t i, uint64_t steps)
{
    uint32_t rA = 1, rB = 0;              /* the result map: identity */
    uint32_t pA = AFFINE_MUL, pB = 2 * i + 1; /* the map of 2^k steps */
    while (steps) {
        if (steps & 1) { /* r = p o r */
            rB = pA * rB + pB;
            rA = pA * rA;
        }
        pB = pA * pB + pB; /* p = p o p */
        pA = pA * pA;
        steps >>= 1;
    }
    return rA * x0 + rB;
}

struct tenant_args {
    const char *name;
    double seconds;
    unsigned long long mem_bytes, over_bytes; /* working set; over-limit attempt (0: none) */
    unsigned iters;                           /* steps per launch */
    int depth;                                /* launches per synchronize */
    int iters_given;                          /* --iters: no sizing, every launch the same */
    int calibrate;                            /* --calibrate: size, print ITERS, exit */
    int size_tries;                           /* sizing: launches timed at this size */
    double size_best;                         /* sizing: the fastest of them, seconds */
};

static inline unsigned long long tenant_mib(const char *s)
{
    return strtoull(s, NULL, 10) << 20;
}

/* tenant NAME SECONDS MEM_MIB [--over MIB] [--iters N] [--depth D] [--calibrate] */
static inline int tenant_parse(int argc, char **argv, struct tenant_args *a)
{
    memset(a, 0, sizeof *a);
    a->iters = 2500;
    a->depth = 4;
    if (argc < 4) {
        fprintf(stderr, "usage: %s NAME SECONDS MEM_MIB [--over MIB] [--iters N] [--depth D]"
                        " [--calibrate]\n"
                        "Runs kernels for SECONDS holding MEM_MIB of device memory, checks the\n"
                        "result against a CPU reference; --over tries an allocation of MIB\n"
                        "half-way, which must fail with CUDA_ERROR_OUT_OF_MEMORY. Without\n"
                        "--iters, doubles the steps per launch until one takes a millisecond;\n"
                        "--calibrate does that alone and prints ITERS N for the others' --iters.\n",
                argv[0]);
        return -1;
    }
    a->name = argv[1];
    a->seconds = atof(argv[2]);
    a->mem_bytes = tenant_mib(argv[3]);
    for (int i = 4; i < argc; i += 2) {
        if (strcmp(argv[i], "--calibrate") == 0) {
            a->calibrate = 1, i--; /* a flag: no value to skip */
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", argv[0], argv[i]);
            return -1;
        }
        if (strcmp(argv[i], "--over") == 0)
            a->over_bytes = tenant_mib(argv[i + 1]);
        else if (strcmp(argv[i], "--iters") == 0)
            a->iters = (unsigned)strtoul(argv[i + 1], NULL, 10), a->iters_given = 1;
        else if (strcmp(argv[i], "--depth") == 0)
            a->depth = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]);
            return -1;
        }
    }
    if (!(a->seconds > 0 && a->seconds <= 3600) || a->iters == 0 || a->depth < 1 ||
        a->depth > 64) {
        fprintf(stderr, "%s: SECONDS 0..3600, --iters > 0, --depth 1..64\n", argv[0]);
        return -1;
    }
    return 0;
}

static inline double tenant_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Kernels of a millisecond or more, so that the limiter has whole kernels to share out:
 * softgpu's already are; a real GPU runs the default in microseconds, so the tenant doubles
 * the steps per launch while one launch (and its synchronize) takes less than that.
 */
#define TENANT_MIN_KERNEL_S 1e-3
#define TENANT_MAX_ITERS (1u << 26)
/* --calibrate sizes the kernels the demo gives all its tenants: longer, so that on softgpu
 * (one hand-over of the device per kernel) the kernels and not the hand-overs fill the device */
#define TENANT_CALIBRATE_KERNEL_S 5e-3

/* Sizing, after launch k (with its synchronize) took `took` seconds at a->iters steps: 1 once
 * the size is settled, else the steps of the next launch are set. The first launch loads the
 * module and is not timed; each size is timed TENANT_SIZE_TRIES times and the fastest counts,
 * since a busy host only ever makes a launch slower: one hiccup cannot end the sizing early. */
#define TENANT_SIZE_TRIES 3
static inline int tenant_size_step(struct tenant_args *a, int k, double took)
{
    if (k == 0)
        return 0;
    if (a->size_tries == 0 || took < a->size_best)
        a->size_best = took;
    if (++a->size_tries < TENANT_SIZE_TRIES)
        return 0;
    double want = a->calibrate ? TENANT_CALIBRATE_KERNEL_S : TENANT_MIN_KERNEL_S;
    if (a->size_best >= want || a->iters >= TENANT_MAX_ITERS)
        return 1;
    a->iters *= 2, a->size_tries = 0;
    return 0;
}

/* After the sizing launches: 1 when the tenant should stop there (--calibrate), having printed
 * the steps per launch it settled on. */
static inline int tenant_calibrated(const struct tenant_args *a)
{
    if (!a->calibrate)
        return 0;
    printf("ITERS %u\n", a->iters);
    fflush(stdout);
    return 1;
}

/* Compares the state with the reference after `steps` steps; prints the one line the demo
 * reads. 0: verified. */
static inline int tenant_report(const struct tenant_args *a, const uint32_t *state,
                                uint64_t launches, uint64_t steps, const char *over_result,
                                double elapsed)
{
    uint32_t sum = 0;
    int bad = 0;
    for (uint32_t i = 0; i < AFFINE_THREADS; i++) {
        uint32_t want = affine_reference(affine_seed(i), i, steps);
        if (state[i] != want && bad++ == 0)
            fprintf(stderr, "%s: element %u is %08x, the CPU reference says %08x\n", a->name, i,
                    state[i], want);
        sum = sum * 31u + state[i];
    }
    printf("RESULT tenant=%s verified=%s elements=%d launches=%llu steps=%llu checksum=%08x "
           "mem=%llu overlimit=%s seconds=%.1f\n",
           a->name, bad ? "NO" : "yes", AFFINE_THREADS, (unsigned long long)launches,
           (unsigned long long)steps, sum, a->mem_bytes, over_result, elapsed);
    fflush(stdout);
    return bad ? 1 : 0;
}

#endif
