// Corpus: calls through device function pointers (indirect `call` with a .callprototype).
__device__ __noinline__ int op_square(int x) { return x * x; }
__device__ __noinline__ int op_cube(int x) { return x * x * x; }
__device__ __noinline__ int op_negate(int x) { return -x; }

typedef int (*int_op)(int);

extern "C" __global__ void function_pointers(const int *in, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int v = in[i];
    volatile int_op table[3] = {op_square, op_cube, op_negate}; // volatile: keep the calls indirect
    int_op f = table[v % 3];
    out[i] = f(v);
}
