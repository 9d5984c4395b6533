// Corpus: device printf with integer, float, string and 64-bit arguments from a few threads.
#include <cstdio>
extern "C" __global__ void printf_kernel(int tag, float f, long long big)
{
    if (threadIdx.x % 16 == 0)
        printf("tag=%d block=%d thread=%d f=%.3f big=%lld %s\n", tag, blockIdx.x, threadIdx.x,
               f * threadIdx.x, big, "ok");
}

// One thread prints every common conversion, width, precision and flag once.
extern "C" __global__ void printf_formats(int i, unsigned u, float f, double d, long long ll,
                                          unsigned long long ull, char c)
{
    if (threadIdx.x == 0 && blockIdx.x == 0)
        printf("[%5d|%-5d|%05d|%+d|%x|%X|%#o|%c|%s|%-8s|%10.4f|%.2e|%g|%G|%%|%lld|%llu|%#llx|%u]\n",
               i, i, i, i, u, u, u, c, "str", "left", f, d, d, 1e-5, ll, ull, ull, u);
}
