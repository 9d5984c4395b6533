// Divergence, loops, calls and recursion; compiled to ../control.ptx by regen.sh.
__device__ __noinline__ int fact(int n) { return n <= 1 ? 1 : n * fact(n - 1); }
__device__ __noinline__ float2 swapadd(float2 v, float s) { return make_float2(v.y + s, v.x + s); }

extern "C" __global__ void collatz(const int *in, int *steps, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned v = in[i];
    int s = 0;
    while (v != 1 && s < 1000) {
        if (v & 1) v = 3 * v + 1; else v >>= 1;
        s++;
    }
    steps[i] = s;
}

extern "C" __global__ void calls(int *out, float2 *v, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    if (i % 3 == 0) out[i] = fact(i % 10);
    else if (i % 3 == 1) out[i] = -fact(i % 7);
    else out[i] = i;
    v[i] = swapadd(v[i], (float)i);
}

extern "C" __global__ void nested(int *out)
{
    int t = threadIdx.x, acc = 0;
    for (int i = 0; i < t; i++) {
        if ((i ^ t) & 1) continue;
        for (int j = 0; j < (t & 3); j++) {
            if (j == 2 && t > 20) break;
            acc += i * j + 1;
        }
    }
    switch (t & 3) {
    case 0: acc += 100; break;
    case 1: acc -= 7; break;
    case 2: acc *= 3; break;
    default: acc ^= 0x55;
    }
    out[t] = acc;
}

__device__ __noinline__ int op_sq(int x) { return x * x; }
__device__ __noinline__ int op_neg(int x) { return -x; }
__device__ __noinline__ int op_inc(int x) { return x + 1; }
typedef int (*int_op)(int);

// indirect calls: lanes of one warp call different functions through a pointer table
extern "C" __global__ void fnptr(const int *in, int *out)
{
    int i = threadIdx.x, v = in[i];
    volatile int_op table[3] = {op_sq, op_neg, op_inc};
    int_op f = table[(unsigned)v % 3];
    out[i] = f(v) + (i & 1 ? f(v + 1) : 0);
}
