// symbols: __device__ and __constant__ variables, initialised ones included, through
// cudaMemcpyToSymbol / cudaMemcpyFromSymbol / cudaGetSymbolAddress / cudaGetSymbolSize.
#include "check.h"

__device__ int g_counter;
__device__ float g_table[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
__constant__ float c_coef[2];

__global__ void apply(const float *in, float *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = in[i] * c_coef[0] + c_coef[1] + g_table[i % 8];
        atomicAdd(&g_counter, 1);
    }
}

int main()
{
    const int n = 4096;
    float h_in[n], h_out[n], table[8];
    for (int i = 0; i < n; i++)
        h_in[i] = (float)(i % 100);

    CHECK(cudaMemcpyFromSymbol(table, g_table, sizeof(table)));
    for (int i = 0; i < 8; i++)
        if (table[i] != (float)(i + 1))
            FAIL("initial g_table[%d] = %f", i, table[i]);

    const float coef[2] = { 2.0f, 0.5f };
    const int zero = 0;
    CHECK(cudaMemcpyToSymbol(c_coef, coef, sizeof(coef)));
    CHECK(cudaMemcpyToSymbol(g_counter, &zero, sizeof(zero)));
    table[3] = 40.0f; /* one entry changed through a plain copy to the symbol's address */
    float *table_addr = nullptr;
    size_t table_size = 0;
    CHECK(cudaGetSymbolAddress((void **)&table_addr, g_table));
    CHECK(cudaGetSymbolSize(&table_size, g_table));
    if (table_size != sizeof(table))
        FAIL("cudaGetSymbolSize(g_table) = %zu", table_size);
    CHECK(cudaMemcpy(table_addr, table, sizeof(table), cudaMemcpyHostToDevice));

    float *d_in, *d_out;
    CHECK(cudaMalloc(&d_in, sizeof(h_in)));
    CHECK(cudaMalloc(&d_out, sizeof(h_out)));
    CHECK(cudaMemcpy(d_in, h_in, sizeof(h_in), cudaMemcpyHostToDevice));
    apply<<<n / 128, 128>>>(d_in, d_out, n);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy(h_out, d_out, sizeof(h_out), cudaMemcpyDeviceToHost));

    int counter = -1;
    CHECK(cudaMemcpyFromSymbol(&counter, g_counter, sizeof(counter)));
    if (counter != n)
        FAIL("g_counter = %d, expected %d", counter, n);
    for (int i = 0; i < n; i++) {
        float want = h_in[i] * 2.0f + 0.5f + table[i % 8];
        if (h_out[i] != want)
            FAIL("out[%d] = %f, expected %f", i, h_out[i], want);
    }
    CHECK(cudaFree(d_in));
    CHECK(cudaFree(d_out));
    printf("symbols: OK counter=%d table[3]=%.1f\n", counter, table[3]);
    return 0;
}
