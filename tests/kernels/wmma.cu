// Corpus: tensor cores. One warp per 16x16 output tile: C = A * B with A (MxK, row-major) and
// B (KxN, column-major) in half precision and f32 accumulation, through the WMMA API.
#include <mma.h>
using namespace nvcuda;

extern "C" __global__ void wmma_gemm(const __half *A, const __half *B, float *C, int M, int N,
                                     int K)
{
    int tile_m = blockIdx.y, tile_n = blockIdx.x;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    for (int k = 0; k < K; k += 16) {
        wmma::load_matrix_sync(a, A + tile_m * 16 * K + k, K);
        wmma::load_matrix_sync(b, B + tile_n * 16 * K + k, K);
        wmma::mma_sync(acc, a, b, acc);
    }
    wmma::store_matrix_sync(C + tile_m * 16 * N + tile_n * 16, acc, N, wmma::mem_row_major);
}
