// Corpus: the raw tensor-core instruction that CUTLASS-style code emits:
// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32, one warp per 16x8 tile (D = A*B + C),
// with the per-lane fragment layout of the PTX ISA ("Matrix Fragments for mma.m16n8k16").
// Tile t reads A + 256t (16x16 row-major), B + 128t (16x8 stored column-major: (k, n) at
// n*16 + k), C + 128t and writes D + 128t (16x8 row-major).
#include <cuda_fp16.h>

__device__ unsigned pack2(const unsigned short *p, int i, int j)
{
    return (unsigned)p[i] | ((unsigned)p[j] << 16);
}

extern "C" __global__ void mma_sync_tile(const __half *A, const __half *B, const float *C,
                                         float *D)
{
    const unsigned short *a = (const unsigned short *)A + 256 * blockIdx.x;
    const unsigned short *b = (const unsigned short *)B + 128 * blockIdx.x;
    const float *c = C + 128 * blockIdx.x;
    float *d = D + 128 * blockIdx.x;
    int g = threadIdx.x >> 2, t = threadIdx.x & 3;
    unsigned a0 = pack2(a, g * 16 + 2 * t, g * 16 + 2 * t + 1);
    unsigned a1 = pack2(a, (g + 8) * 16 + 2 * t, (g + 8) * 16 + 2 * t + 1);
    unsigned a2 = pack2(a, g * 16 + 2 * t + 8, g * 16 + 2 * t + 9);
    unsigned a3 = pack2(a, (g + 8) * 16 + 2 * t + 8, (g + 8) * 16 + 2 * t + 9);
    unsigned b0 = pack2(b, g * 16 + 2 * t, g * 16 + 2 * t + 1);
    unsigned b1 = pack2(b, g * 16 + 2 * t + 8, g * 16 + 2 * t + 9);
    float c0 = c[g * 8 + 2 * t], c1 = c[g * 8 + 2 * t + 1];
    float c2 = c[(g + 8) * 8 + 2 * t], c3 = c[(g + 8) * 8 + 2 * t + 1];
    float d0, d1, d2, d3;
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};"
                 : "=f"(d0), "=f"(d1), "=f"(d2), "=f"(d3)
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "f"(c0), "f"(c1),
                   "f"(c2), "f"(c3));
    d[g * 8 + 2 * t] = d0;
    d[g * 8 + 2 * t + 1] = d1;
    d[(g + 8) * 8 + 2 * t] = d2;
    d[(g + 8) * 8 + 2 * t + 1] = d3;
}
