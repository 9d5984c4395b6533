// Corpus: C++ the way real code uses it: template kernels looked up by their mangled names, and
// recursion through a device function (a real call stack).
template <typename T>
__global__ void axpb(T *out, const T *in, T a, T b, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = a * in[i] + b;
}
template __global__ void axpb<int>(int *, const int *, int, int, int);
template __global__ void axpb<double>(double *, const double *, double, double, int);

__device__ __noinline__ int fib(int n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

extern "C" __global__ void recursion(const int *in, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = fib(in[i] % 16);
}
