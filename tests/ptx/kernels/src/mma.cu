// Warp matrix operations: mma.sync (inline asm, f16/bf16, k16/k8) and wmma; ../mma.ptx.
#include <mma.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
using namespace nvcuda;

// A: 16xK row-major halves (as u16 bits), B: Kx8 stored column-major (B[n*K + k]), C/D: 16x8 f32
// row-major. Each thread loads its fragment per the PTX ISA layout.
extern "C" __global__ void mma_k16(const unsigned short *A, const unsigned short *B, const float *C,
                                   float *D, int bf)
{
    int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    unsigned a[4], b[2];
    float c[4], d[4];
    for (int i = 0; i < 4; i++) {
        int row = g + (i & 1) * 8, col = t * 2 + (i >> 1) * 8;
        a[i] = A[row * 16 + col] | ((unsigned)A[row * 16 + col + 1] << 16);
    }
    for (int i = 0; i < 2; i++) {
        int k = t * 2 + i * 8;
        b[i] = B[g * 16 + k] | ((unsigned)B[g * 16 + k + 1] << 16);
    }
    for (int i = 0; i < 4; i++) c[i] = C[(g + (i >> 1) * 8) * 8 + t * 2 + (i & 1)];
    if (bf)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"
                     : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
                       "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"
                     : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
                       "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
    for (int i = 0; i < 4; i++) D[(g + (i >> 1) * 8) * 8 + t * 2 + (i & 1)] = d[i];
}

extern "C" __global__ void mma_k8(const unsigned short *A, const unsigned short *B, const float *C,
                                  float *D)
{
    int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    unsigned a[2], b;
    float c[4], d[4];
    for (int i = 0; i < 2; i++) {
        int row = g + i * 8, col = t * 2;
        a[i] = A[row * 8 + col] | ((unsigned)A[row * 8 + col + 1] << 16);
    }
    b = B[g * 8 + t * 2] | ((unsigned)B[g * 8 + t * 2 + 1] << 16);
    for (int i = 0; i < 4; i++) c[i] = C[(g + (i >> 1) * 8) * 8 + t * 2 + (i & 1)];
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%8,%9,%10};"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(b), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
    for (int i = 0; i < 4; i++) D[(g + (i >> 1) * 8) * 8 + t * 2 + (i & 1)] = d[i];
}

// wmma 16x16x16: A row-major, B col-major, C/D row-major, scaled by alpha element-wise
extern "C" __global__ void wmma_f16(const half *A, const half *B, const float *C, float *D, float alpha)
{
    wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> b;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
    wmma::load_matrix_sync(a, A, 16);
    wmma::load_matrix_sync(b, B, 16);
    wmma::load_matrix_sync(c, C, 16, wmma::mem_row_major);
    wmma::mma_sync(c, a, b, c);
    for (int i = 0; i < c.num_elements; i++) c.x[i] *= alpha;
    wmma::store_matrix_sync(D, c, 16, wmma::mem_row_major);
}

extern "C" __global__ void wmma_bf16(const __nv_bfloat16 *A, const __nv_bfloat16 *B, float *D)
{
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
    wmma::fill_fragment(c, 1.0f);
    wmma::load_matrix_sync(a, A, 16);
    wmma::load_matrix_sync(b, B, 16);
    wmma::mma_sync(c, a, b, c);
    wmma::store_matrix_sync(D, c, 16, wmma::mem_col_major);
}
