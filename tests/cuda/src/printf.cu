// printf: device printf output reaches stdout in order at the synchronizing call. Threads
// print one at a time (a barrier between turns) so the order is defined.
#include "check.h"

__global__ void hello(int *squares, int n)
{
    for (int turn = 0; turn < n; turn++) {
        if (threadIdx.x == turn) {
            squares[turn] = turn * turn;
            printf("device: thread %d says %d squared is %d\n", turn, turn, squares[turn]);
        }
        __syncthreads();
    }
    if (threadIdx.x == 0)
        printf("device: %s %.3f %c %u %lld\n", "mixed", 3.14159f, 'x', 4000000000u, -5ll);
}

int main()
{
    const int n = 6;
    int *d, h[n];
    CHECK(cudaMalloc(&d, sizeof(h)));
    printf("host: before launch\n");
    fflush(stdout); /* device output goes to the same stdout: keep host lines in order */
    hello<<<1, 32>>>(d, n);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    fflush(stdout);
    CHECK(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; i++)
        if (h[i] != i * i)
            FAIL("squares[%d] = %d", i, h[i]);
    printf("printf: OK %d device lines\n", n + 1);
    return 0;
}
