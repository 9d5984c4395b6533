// cuRAND's host API on the device (NVIDIA's shared libcurand, which carries its kernels as
// compute_121 PTX; run with SOFTGPU_CC=12.1, see docs/libraries.md): each pseudo-random
// generator fills device memory with 32-bit integers, uniform floats and normal floats, and
// the results are compared with the same generator run on the host CPU
// (curandCreateGeneratorHost), which the library documents as producing the same sequence for
// the same seed, offset and ordering. Integers and uniform floats must match bit for bit (both
// sides convert the same integers the same way); normal floats go through Box-Muller, which
// the device computes with its approximate log and sine instructions and the host with libm,
// so they must agree to within 1e-5 relative to the value's magnitude (or 1e-5 absolute).
#include <cstdint>
#include <cmath>
#include <cstring>
#include <vector>

#include <curand.h>

#include "check.h"

#define CURAND_CHECK(call) CHECK_STATUS(call, CURAND_STATUS_SUCCESS)

static const size_t N = 4096;

struct gen_case {
    const char *name;
    curandRngType_t type;
};

// Fills host buffers from generator g (device or host) with n integers, n uniform floats and
// n normal floats; dev says whether g writes device memory.
static void fill(curandGenerator_t g, bool dev, uint32_t *u, float *f, float *nrm)
{
    CURAND_CHECK(curandSetPseudoRandomGeneratorSeed(g, 1234ULL));
    if (!dev) {
        CURAND_CHECK(curandGenerate(g, u, N));
        CURAND_CHECK(curandGenerateUniform(g, f, N));
        CURAND_CHECK(curandGenerateNormal(g, nrm, N, 0.0f, 1.0f));
        return;
    }
    uint32_t *du;
    float *df, *dn;
    CHECK(cudaMalloc(&du, N * sizeof *du));
    CHECK(cudaMalloc(&df, N * sizeof *df));
    CHECK(cudaMalloc(&dn, N * sizeof *dn));
    CURAND_CHECK(curandGenerate(g, du, N));
    CURAND_CHECK(curandGenerateUniform(g, df, N));
    CURAND_CHECK(curandGenerateNormal(g, dn, N, 0.0f, 1.0f));
    CHECK(cudaMemcpy(u, du, N * sizeof *u, cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(f, df, N * sizeof *f, cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(nrm, dn, N * sizeof *nrm, cudaMemcpyDeviceToHost));
    CHECK(cudaFree(du));
    CHECK(cudaFree(df));
    CHECK(cudaFree(dn));
}

// Normal floats differing by more than the tolerance above; *worst gets the largest difference.
static size_t far_apart(const float *a, const float *b, size_t n, double *worst)
{
    size_t bad = 0;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]), scale = fabs((double)b[i]);
        if (d > *worst)
            *worst = d;
        bad += !(d <= 1e-5 * (scale > 1 ? scale : 1));
    }
    return bad;
}

static size_t mismatches(const void *a, const void *b, size_t n)
{
    const uint32_t *x = (const uint32_t *)a, *y = (const uint32_t *)b;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += x[i] != y[i];
    return bad;
}

int main()
{
    static const gen_case cases[] = {
        {"XORWOW", CURAND_RNG_PSEUDO_XORWOW},
        {"MRG32k3a", CURAND_RNG_PSEUDO_MRG32K3A},
        {"MTGP32", CURAND_RNG_PSEUDO_MTGP32},
        {"Philox4x32-10", CURAND_RNG_PSEUDO_PHILOX4_32_10},
    };
    int failed = 0;
    for (const gen_case &c : cases) {
        std::vector<uint32_t> du(N), hu(N);
        std::vector<float> df(N), hf(N), dn(N), hn(N);
        curandGenerator_t dg, hg;
        CURAND_CHECK(curandCreateGenerator(&dg, c.type));
        CURAND_CHECK(curandCreateGeneratorHost(&hg, c.type));
        fill(dg, true, du.data(), df.data(), dn.data());
        fill(hg, false, hu.data(), hf.data(), hn.data());
        CURAND_CHECK(curandDestroyGenerator(dg));
        CURAND_CHECK(curandDestroyGenerator(hg));
        size_t bu = mismatches(du.data(), hu.data(), N), bf = mismatches(df.data(), hf.data(), N),
               exact = mismatches(dn.data(), hn.data(), N);
        double worst;
        size_t bn = far_apart(dn.data(), hn.data(), N, &worst);
        size_t distinct = 0;
        for (size_t i = 1; i < N; i++)
            distinct += du[i] != du[i - 1];
        printf("%s: %zu integers %s, uniform %s, normal %s\n", c.name, N,
               bu ? "DIFFER" : "match the host", bf ? "DIFFER" : "match",
               bn ? "DIFFER" : "within 1e-5");
        if (bu || bf || bn || distinct < N / 2) {
            fprintf(stderr, "%s: %zu/%zu/%zu mismatches, first device %08x host %08x\n", c.name,
                    bu, bf, bn, du[0], hu[0]);
            failed = 1;
        }
        fprintf(stderr, "%s: %zu normal floats not bit-identical, largest difference %g\n",
                c.name, exact, worst);
    }
    return failed;
}
