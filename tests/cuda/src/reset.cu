// reset: cudaDeviceReset tears the context down and the next call builds a new one; three
// rounds of allocate / launch / verify / reset.
#include "check.h"

__constant__ int c_add;

__global__ void add_const(int *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = i + c_add;
}

int main()
{
    const int n = 5000;
    static int h[n];
    for (int round = 0; round < 3; round++) {
        int *d;
        int add = 100 * (round + 1);
        CHECK(cudaMalloc(&d, n * sizeof(int)));
        CHECK(cudaMemcpyToSymbol(c_add, &add, sizeof(add)));
        add_const<<<(n + 127) / 128, 128>>>(d, n);
        CHECK_LAUNCH();
        CHECK(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost));
        for (int i = 0; i < n; i++)
            if (h[i] != i + add)
                FAIL("round %d: p[%d] = %d, expected %d", round, i, h[i], i + add);
        CHECK(cudaFree(d));
        CHECK(cudaDeviceReset());
    }
    printf("reset: OK 3 rounds of use and cudaDeviceReset\n");
    return 0;
}
