// printf, assert, trap, atomics, out-of-bounds; compiled to ../misc.ptx.
#include <cstdio>
#include <cassert>
extern "C" __global__ void hello(int k, const char *s)
{
    printf("t%d k=%d %5.2f|%-4x|%llu|%c|%s|%e|%g|%o|%ld\n", threadIdx.x, k, 1.5 * k, k + 10,
           (unsigned long long)k << 40, 'A' + k, s, 12345.678, 0.0001, k, -5L);
}

extern "C" __global__ void checker(int limit)
{
    assert(threadIdx.x < limit);
}

extern "C" __global__ void trapper(int when)
{
    if (threadIdx.x == when) __trap();
}

extern "C" __global__ void oob(int *p, long long off)
{
    p[threadIdx.x + off] = 1;
}

extern "C" __global__ void atomics(int *i, unsigned *u, float *f, double *d, unsigned long long *l)
{
    int t = threadIdx.x + blockIdx.x * blockDim.x;
    atomicAdd(&i[0], t);
    atomicMax(&i[1], t);
    atomicMin(&i[2], -t);
    atomicInc(&u[0], 17);
    atomicDec(&u[1], 9);
    atomicOr(&u[2], 1u << (t & 31));
    atomicXor(&u[3], t);
    atomicAnd(&u[4], ~(1u << (t & 31)));
    atomicAdd(&f[0], 0.5f);
    atomicAdd(&d[0], 0.25);
    atomicAdd(&l[0], 1ull << 33);
    int old = atomicCAS(&i[3], t, t + 1);
    (void)old;
    atomicExch(&i[4], 7);
}
