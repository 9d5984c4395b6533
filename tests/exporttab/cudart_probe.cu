// Drives NVIDIA's cudart against tests/exporttab/cudart_driver.c (whose tables come from
// src/exporttab). `cudart_probe ok`: initialisation passes the integrity check, memory calls
// work, and cudaDeviceReset makes cudart bring the context up again (it re-retains only when
// the context-local-storage destructor ran). `cudart_probe bad-hash`: the first call fails
// with cudaErrorSoftwareValidityNotEstablished. Exit 0 only when the expectation holds.
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <cuda_runtime.h>

static int retains()
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    int (*fn)() = h ? (int (*)())dlsym(h, "mini_driver_retains") : nullptr;
    return fn ? fn() : -1;
}

static bool step(const char *what, cudaError_t got, cudaError_t want)
{
    printf("%s: %s\n", what, cudaGetErrorName(got));
    return got == want;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "bad-hash") == 0) {
        void *p;
        return step("cudaMalloc", cudaMalloc(&p, 16), cudaErrorSoftwareValidityNotEstablished) ? 0 : 1;
    }
    if (argc != 2 || strcmp(argv[1], "ok") != 0) {
        fprintf(stderr, "usage: %s ok|bad-hash\n", argv[0]);
        return 2;
    }
    void *p = nullptr;
    bool ok = step("cudaMalloc", cudaMalloc(&p, 1024), cudaSuccess) &&
              step("cudaFree", cudaFree(p), cudaSuccess);
    int before = retains();
    ok = ok && step("cudaDeviceReset", cudaDeviceReset(), cudaSuccess) &&
         step("cudaMalloc after reset", cudaMalloc(&p, 64), cudaSuccess) &&
         step("cudaFree after reset", cudaFree(p), cudaSuccess);
    int after = retains();
    printf("primary context retains: %d before reset, %d after\n", before, after);
    cudaDeviceProp prop;
    ok = ok && step("cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, 0), cudaSuccess);
    ok = ok && before == 1 && after == 2 && strcmp(prop.name, "exporttab test driver") == 0;
    printf("%s\n", ok ? "cudart_probe: OK" : "cudart_probe: FAILED");
    return ok ? 0 : 1;
}
