// struct_arg: structs passed by value (mixed alignment, padding, a 48-byte struct of doubles)
// next to scalars of different sizes.
#include "check.h"

struct Params {
    float scale;
    double offset;
    int idx[3];
    char tag;
};

struct Big {
    double v[5];
    int count;
};

__global__ void apply(float *out, const float *in, Params p, char c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = in[i] * p.scale + (float)p.offset + (float)p.idx[i % 3] + (float)p.tag + (float)c;
}

__global__ void big_sum(Big b, double *out)
{
    double s = 0;
    for (int i = 0; i < b.count; i++)
        s += b.v[i];
    *out = s;
}

int main()
{
    const int n = 3000;
    static float h_in[n], h_out[n];
    for (int i = 0; i < n; i++)
        h_in[i] = (float)(i % 50);
    Params p = { 1.5f, 100.0, { 1, 20, 300 }, 7 };
    Big b = { { 1.25, 2.5, 3.75, 5.0, 6.25 }, 5 };
    float *d_in, *d_out;
    double *d_sum, sum = 0;
    CHECK(cudaMalloc(&d_in, sizeof(h_in)));
    CHECK(cudaMalloc(&d_out, sizeof(h_out)));
    CHECK(cudaMalloc(&d_sum, sizeof(double)));
    CHECK(cudaMemcpy(d_in, h_in, sizeof(h_in), cudaMemcpyHostToDevice));
    apply<<<(n + 127) / 128, 128>>>(d_out, d_in, p, (char)-2, n);
    CHECK_LAUNCH();
    big_sum<<<1, 1>>>(b, d_sum);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy(h_out, d_out, sizeof(h_out), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(&sum, d_sum, sizeof(sum), cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; i++) {
        float want = h_in[i] * p.scale + (float)p.offset + (float)p.idx[i % 3] + 7.0f - 2.0f;
        if (h_out[i] != want)
            FAIL("out[%d] = %f, expected %f", i, h_out[i], want);
    }
    if (sum != 18.75)
        FAIL("big_sum = %f, expected 18.75", sum);
    CHECK(cudaFree(d_in));
    CHECK(cudaFree(d_out));
    CHECK(cudaFree(d_sum));
    printf("struct_arg: OK %d elements, big struct sum %.2f\n", n, sum);
    return 0;
}
