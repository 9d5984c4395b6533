// wmma shapes beyond m16n16k16 f16 (m32n8k16 and m8n32k16 with f16 inputs, m16n16k16 with s8
// inputs and s32 accumulators) and cvt.pack.sat.s8.s32.b32, as cuDNN's and cuBLASLt's PTX use
// them; compiled to ../wmma_more.ptx.
#include <mma.h>
using namespace nvcuda;

// D = A * B + C for one tile: A row-major MxK, B column-major KxN, C and D row-major MxN.
template <int M, int N, int K>
__device__ void tile_f16(const half *a, const half *b, const float *c, float *d)
{
    wmma::fragment<wmma::matrix_a, M, N, K, half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, M, N, K, half, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, M, N, K, float> fc;
    wmma::load_matrix_sync(fa, a, K);
    wmma::load_matrix_sync(fb, b, K);
    wmma::load_matrix_sync(fc, c, N, wmma::mem_row_major);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(d, fc, N, wmma::mem_row_major);
}

extern "C" __global__ void wmma_32x8(const half *a, const half *b, const float *c, float *d)
{
    tile_f16<32, 8, 16>(a, b, c, d);
}

extern "C" __global__ void wmma_8x32(const half *a, const half *b, const float *c, float *d)
{
    tile_f16<8, 32, 16>(a, b, c, d);
}

// A row-major 16x16 s8, B row-major 16x16 s8, C and D column-major 16x16 s32.
extern "C" __global__ void wmma_s8(const signed char *a, const signed char *b, const int *c,
                                   int *d)
{
    wmma::fragment<wmma::matrix_a, 16, 16, 16, signed char, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, signed char, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, int> fc;
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::load_matrix_sync(fc, c, 16, wmma::mem_col_major);
    wmma::mma_sync(fc, fa, fb, fc, true); // satfinite
    wmma::store_matrix_sync(d, fc, 16, wmma::mem_col_major);
}

extern "C" __global__ void pack_s8(const int *x, unsigned *out)
{
    int t = threadIdx.x;
    unsigned d;
    asm("cvt.pack.sat.s8.s32.b32 %0, %1, %2, %3;"
        : "=r"(d) : "r"(x[t]), "r"(x[t + 32]), "r"((unsigned)x[t + 64]));
    out[t] = d;
    asm("cvt.pack.sat.u16.s32 %0, %1, %2;" : "=r"(d) : "r"(x[t]), "r"(x[t + 32]));
    out[t + 32] = d;
}
