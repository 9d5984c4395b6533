// Corpus: ldmatrix/stmatrix (m8n8 .x1/.x2/.x4, .trans, b16) and the mma.sync forms beyond
// f16/bf16 as inline PTX: s8/u8, s4/u4, tf32, fp8 (e4m3 x e5m2) and f64. Each mma kernel is one
// warp that loads its fragment registers from a[32][NA], b[32][NB], c[32][NC] and stores d[32][NC]
// (the case computes the ISA's fragment layouts). Compiled with -arch=sm_80 -ptx: nvcc passes
// the sm_89/sm_90 forms (fp8 mma, stmatrix) through unchecked.

extern "C" __global__ void ldst_matrix(const unsigned short *in, unsigned *frag, unsigned short *out)
{
    __shared__ alignas(16) unsigned short tile[32][16], back[2][32][16];
    unsigned L = threadIdx.x;
    for (int i = L; i < 512; i += 32)
        tile[i / 16][i % 16] = in[i];
    __syncwarp();
    unsigned row = (unsigned)__cvta_generic_to_shared(&tile[L][(L / 8) % 2 * 8]);
    unsigned r[4], s[4], x1, x2[2];
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(s[0]), "=r"(s[1]), "=r"(s[2]), "=r"(s[3]) : "r"(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];" : "=r"(x1) : "r"(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];"
                 : "=r"(x2[0]), "=r"(x2[1]) : "r"(row));
    for (int i = 0; i < 4; i++) {
        frag[L * 4 + i] = r[i];
        frag[128 + L * 4 + i] = s[i];
    }
    frag[256 + L] = x1;
    frag[288 + 2 * L] = x2[0];
    frag[288 + 2 * L + 1] = x2[1];
    unsigned b0 = (unsigned)__cvta_generic_to_shared(&back[0][L][(L / 8) % 2 * 8]);
    unsigned b1 = (unsigned)__cvta_generic_to_shared(&back[1][L][(L / 8) % 2 * 8]);
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};"
                 :: "r"(b0), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3]) : "memory");
    asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};"
                 :: "r"(b1), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3]) : "memory");
    __syncwarp();
    for (int i = L; i < 1024; i += 32)
        out[i] = back[i / 512][i / 16 % 32][i % 16];
}

#define LOAD(arr, n, v) for (int i = 0; i < n; i++) v[i] = arr[threadIdx.x * n + i]
#define STORE(arr, n, v) for (int i = 0; i < n; i++) arr[threadIdx.x * n + i] = v[i]

// 4 A, 2 B, 4 C/D registers
#define MMA_4_2_4(name, shape_types)                                                             \
    extern "C" __global__ void name(const unsigned *a, const unsigned *b, const unsigned *c,   \
                                    unsigned *d)                                               \
    {                                                                                          \
        unsigned A[4], B[2], C[4], D[4];                                                       \
        LOAD(a, 4, A); LOAD(b, 2, B); LOAD(c, 4, C);                                           \
        asm volatile("mma.sync.aligned." shape_types " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, " \
                     "{%10,%11,%12,%13};"                                                      \
                     : "=r"(D[0]), "=r"(D[1]), "=r"(D[2]), "=r"(D[3])                          \
                     : "r"(A[0]), "r"(A[1]), "r"(A[2]), "r"(A[3]), "r"(B[0]), "r"(B[1]),       \
                       "r"(C[0]), "r"(C[1]), "r"(C[2]), "r"(C[3]));                            \
        STORE(d, 4, D);                                                                        \
    }
MMA_4_2_4(mma_s8_k32, "m16n8k32.row.col.s32.s8.s8.s32")
MMA_4_2_4(mma_s8u8_k32_sat, "m16n8k32.row.col.satfinite.s32.s8.u8.s32")
MMA_4_2_4(mma_u4_k64, "m16n8k64.row.col.s32.u4.u4.s32")
MMA_4_2_4(mma_tf32_k8, "m16n8k8.row.col.f32.tf32.tf32.f32")
MMA_4_2_4(mma_fp8_k32, "m16n8k32.row.col.f32.e4m3.e5m2.f32")

// 1 A, 1 B, 2 C/D registers (m8n8)
#define MMA_1_1_2(name, shape_types)                                                             \
    extern "C" __global__ void name(const unsigned *a, const unsigned *b, const unsigned *c,   \
                                    unsigned *d)                                               \
    {                                                                                          \
        unsigned A = a[threadIdx.x], B = b[threadIdx.x], C[2], D[2];                           \
        LOAD(c, 2, C);                                                                         \
        asm volatile("mma.sync.aligned." shape_types " {%0,%1}, {%2}, {%3}, {%4,%5};"           \
                     : "=r"(D[0]), "=r"(D[1]) : "r"(A), "r"(B), "r"(C[0]), "r"(C[1]));         \
        STORE(d, 2, D);                                                                        \
    }
MMA_1_1_2(mma_s4_m8k32, "m8n8k32.row.col.s32.s4.s4.s32")
MMA_1_1_2(mma_u8_m8k16, "m8n8k16.row.col.s32.u8.s8.s32")

extern "C" __global__ void mma_f64_m8k4(const double *a, const double *b, const double *c, double *d)
{
    double C[2], D[2];
    LOAD(c, 2, C);
    asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%4,%5};"
                 : "=d"(D[0]), "=d"(D[1]) : "d"(a[threadIdx.x]), "d"(b[threadIdx.x]), "d"(C[0]), "d"(C[1]));
    STORE(d, 2, D);
}
