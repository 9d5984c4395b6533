// hostregister: cudaHostRegister with cudaHostRegisterMapped on ordinary malloc'd memory (an
// unaligned range inside a larger buffer). A kernel adds to the range through the device
// pointer cudaHostGetDevicePointer gives; the program sees the result in its own memory, and
// bytes next to the range (same pages) keep their values through registration and
// unregistration. Then a plain (unmapped) registration for an async copy.
#include <cstring>
#include "check.h"

enum { N = 3000, PAD = 100 };

__global__ void add(int *p, int n, int v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] += v;
}

int main()
{
    int *buf = (int *)malloc((N + 2 * PAD) * sizeof(int));
    for (int i = 0; i < N + 2 * PAD; i++)
        buf[i] = i;
    int *range = buf + PAD;
    CHECK(cudaHostRegister(range, N * sizeof(int), cudaHostRegisterMapped));
    int *dev;
    CHECK(cudaHostGetDevicePointer((void **)&dev, range, 0));
    add<<<(N + 255) / 256, 256>>>(dev, N, 1000);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    for (int i = 0; i < N + 2 * PAD; i++) {
        int want = i + (i >= PAD && i < PAD + N ? 1000 : 0);
        if (buf[i] != want)
            FAIL("after the kernel: buf[%d] = %d, expected %d", i, buf[i], want);
    }
    range[5] = -7;   // the program's writes reach the device
    add<<<1, 32>>>(dev, 8, 1);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    if (range[5] != -6)
        FAIL("a host write was not seen by the device: %d", range[5]);
    CHECK(cudaHostUnregister(range));
    if (buf[PAD + 6] != PAD + 6 + 1001 || buf[0] != 0 || buf[N + 2 * PAD - 1] != N + 2 * PAD - 1)
        FAIL("unregistering changed the memory");
    CHECK(cudaHostRegister(buf, 64 * sizeof(int), cudaHostRegisterDefault));
    int *d2;
    CHECK(cudaMalloc(&d2, 64 * sizeof(int)));
    CHECK(cudaMemcpyAsync(d2, buf, 64 * sizeof(int), cudaMemcpyHostToDevice, 0));
    CHECK(cudaMemset(d2, 0, 4));
    CHECK(cudaMemcpyAsync(buf, d2, 64 * sizeof(int), cudaMemcpyDeviceToHost, 0));
    CHECK(cudaStreamSynchronize(0));
    if (buf[0] != 0 || buf[63] != 63)
        FAIL("registered copies: %d %d", buf[0], buf[63]);
    CHECK(cudaHostUnregister(buf));
    CHECK(cudaFree(d2));
    free(buf);
    printf("hostregister: OK mapped registration of %d ints, neighbours intact\n", N);
    return 0;
}
