// The demo's tenant workload in CUDA C++, built by nvcc (static cudart): the same program as
// tenant.c (see there and affine.h), with the kernel compiled by nvcc and the memory and
// launches through the runtime API. The over-limit attempt uses the driver's cuMemAlloc so the
// error it shows is the driver's own CUDA_ERROR_OUT_OF_MEMORY, not cudart's translation.
//   tenant-cuda NAME SECONDS MEM_MIB [--over MIB] [--iters N] [--depth D] [--calibrate]
// Owns: nothing. May call: the CUDA runtime and driver APIs.
#include <cuda.h>
#include <cuda_runtime.h>

#include "affine.h"

__global__ void affine_steps(uint32_t *state, unsigned n, unsigned iters)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    uint32_t x = state[i], b = 2 * i + 1;
    for (unsigned k = 0; k < iters; k++)
        x = x * AFFINE_MUL + b;
    state[i] = x;
}

static const char *tenant_name = "tenant";

static bool ok(cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return true;
    fprintf(stderr, "%s: %s failed: %s\n", tenant_name, what, cudaGetErrorName(e));
    return false;
}

#define CHECK(call)              \
    do {                         \
        if (!ok((call), #call))  \
            return 1;            \
    } while (0)

static const char *try_over(unsigned long long bytes)
{
    CUdeviceptr p = 0;
    CUresult r = cuMemAlloc(&p, (size_t)bytes);
    if (r == CUDA_SUCCESS) {
        cuMemFree(p);
        return "GRANTED";
    }
    const char *name = nullptr;
    cuGetErrorName(r, &name);
    printf("%s: allocation of %llu MiB beyond the vGPU refused: %s; the kernels go on\n",
           tenant_name, bytes >> 20, name ? name : "?");
    fflush(stdout);
    return r == CUDA_ERROR_OUT_OF_MEMORY ? "refused:CUDA_ERROR_OUT_OF_MEMORY" : "WRONG_ERROR";
}

int main(int argc, char **argv)
{
    tenant_args a;
    if (tenant_parse(argc, argv, &a) != 0)
        return 2;
    tenant_name = a.name;
    void *work = nullptr;
    uint32_t *state = nullptr;
    CHECK(cudaFree(0)); // the primary context, which the driver calls below share
    if (a.mem_bytes) {
        CHECK(cudaMalloc(&work, a.mem_bytes));
        CHECK(cudaMemset(work, 0, a.mem_bytes < (16u << 20) ? a.mem_bytes : 16u << 20));
    }
    uint32_t host[AFFINE_THREADS];
    for (uint32_t i = 0; i < AFFINE_THREADS; i++)
        host[i] = affine_seed(i);
    CHECK(cudaMalloc(&state, sizeof host));
    CHECK(cudaMemcpy(state, host, sizeof host, cudaMemcpyHostToDevice));

    const char *over = a.over_bytes ? "not-reached" : "not-tried";
    uint64_t launches = 0, steps = 0;
    double start = tenant_now(), now = start;
    for (int k = 0; !a.iters_given; k++) { // sizes the kernels; the first launch also loads the module
        double t = tenant_now();
        affine_steps<<<1, AFFINE_THREADS>>>(state, AFFINE_THREADS, a.iters);
        CHECK(cudaGetLastError());
        CHECK(cudaDeviceSynchronize());
        launches++, steps += a.iters;
        if (tenant_size_step(&a, k, tenant_now() - t))
            break;
    }
    if (tenant_calibrated(&a))
        return 0;
    while (now - start < a.seconds) {
        for (int k = 0; k < a.depth; k++)
            affine_steps<<<1, AFFINE_THREADS>>>(state, AFFINE_THREADS, a.iters);
        CHECK(cudaGetLastError());
        CHECK(cudaDeviceSynchronize());
        launches += (uint64_t)a.depth;
        steps += (uint64_t)a.depth * a.iters;
        now = tenant_now();
        if (a.over_bytes && strcmp(over, "not-reached") == 0 && now - start >= a.seconds / 2)
            over = try_over(a.over_bytes);
    }
    CHECK(cudaMemcpy(host, state, sizeof host, cudaMemcpyDeviceToHost));
    int rc = tenant_report(&a, host, launches, steps, over, now - start);
    if (work)
        CHECK(cudaFree(work));
    CHECK(cudaFree(state));
    return rc || (a.over_bytes && strncmp(over, "refused", 7) != 0);
}
