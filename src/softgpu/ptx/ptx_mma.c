/*
 * Warp matrix instructions: mma.sync.aligned m16n8k16 and m16n8k8 (A row-major, B column-major)
 * for f16 and bf16 inputs with f32 or f16 accumulators, using the fragment layouts of the PTX
 * ISA; and wmma.load/mma/store m16n16k16 (f16 or bf16 inputs, f32 or f16 accumulators).
 * wmma fragments are opaque to programs, so we use our own layout (lane L holds elements
 * 8L..8L+7 in row-major order, repeated when the fragment has more slots) that load, mma and
 * store agree on. Products are accumulated in single precision. Calls the operand and memory
 * helpers of ptx_exec.c and ptx_ops_mem.c.
 */
#include "ptx_internal.h"

/* element e of a vector operand of packed 16-bit values (or 32-bit floats) for lane L */
static uint64_t *vreg(ptx_warp *w, const ptx_operand *o, int i, int L)
{
    return &ptx_top(w)->regs[(size_t)o->vec[i] * PTX_WARP + L];
}

static float get16(ptx_warp *w, const ptx_operand *o, int e, int L, int bf)
{
    uint16_t h = (uint16_t)(*vreg(w, o, e / 2, L) >> (16 * (e & 1)));
    return bf ? ptx_bf2f(h) : ptx_h2f(h);
}

static void put16(ptx_warp *w, const ptx_operand *o, int e, int L, float v, int bf)
{
    uint64_t *r = vreg(w, o, e / 2, L);
    uint64_t h = bf ? ptx_f2bf(v, RND_RN) : ptx_f2h(v, RND_RN);
    int sh = 16 * (e & 1);
    *r = (*r & ~(0xffffull << sh)) | (h << sh);
}

/* accumulator element i (0..3 for mma, 0..7 for wmma) */
static float get_acc(ptx_warp *w, const ptx_operand *o, int i, int L, int t)
{
    if (t == T_F32)
        return ptx_as_f32(*vreg(w, o, i, L));
    return get16(w, o, i, L, 0);
}

static void put_acc(ptx_warp *w, const ptx_operand *o, int i, int L, float v, int t)
{
    if (t == T_F32)
        *vreg(w, o, i, L) = ptx_f32_bits(v);
    else
        put16(w, o, i, L, v, 0);
}

static int check_vec(ptx_warp *w, const ptx_insn *in, const ptx_operand *o, int n, uint32_t mask)
{
    if (o->kind != OK_VEC || o->nvec < n) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "bad matrix fragment");
        return -1;
    }
    for (int i = 0; i < o->nvec; i++)
        if (o->vec[i] >= UINT32_MAX - 1) {
            ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "bad matrix fragment");
            return -1;
        }
    return 0;
}

/* mma.sync m16n8k16 / m16n8k8: D(16x8) = A(16xK) * B(Kx8) + C */
static void do_mma(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int K = in->cmp == 1 ? 16 : in->cmp == 2 ? 8 : 0;
    int dt = in->types[0], at = in->types[1], ct = in->types[3];
    int bf = at == T_BF16;
    if (!K || in->nops != 4 || (at != T_F16 && at != T_BF16) ||
        (dt != T_F32 && dt != T_F16) || (ct != T_F32 && ct != T_F16)) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED,
                 "unsupported mma shape or types (m16n8k16/m16n8k8, f16/bf16 inputs)");
        return;
    }
    int nd = dt == T_F32 ? 4 : 2, nc = ct == T_F32 ? 4 : 2;
    if (check_vec(w, in, &in->o[0], nd, mask) || check_vec(w, in, &in->o[1], K / 4, mask) ||
        check_vec(w, in, &in->o[2], K / 8, mask) || check_vec(w, in, &in->o[3], nc, mask))
        return;
    float A[16][16], B[16][8], C[16][8];
    for (int L = 0; L < PTX_WARP; L++) {
        int g = L >> 2, t = L & 3;
        for (int i = 0; i < K / 2; i++) { /* a0..a(K/2-1) */
            int row = g + ((i >> 1) & 1) * 8;
            int col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
            A[row][col] = get16(w, &in->o[1], i, L, bf);
        }
        for (int i = 0; i < K / 4; i++) { /* b0..b(K/4-1) */
            int row = t * 2 + (i & 1) + (i >= 2 ? 8 : 0);
            B[row][g] = get16(w, &in->o[2], i, L, bf);
        }
        for (int i = 0; i < 4; i++)
            C[g + (i >> 1) * 8][t * 2 + (i & 1)] = get_acc(w, &in->o[3], i, L, ct);
    }
    float Dm[16][8];
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 8; c++) {
            float acc = C[r][c];
            for (int k = 0; k < K; k++)
                acc += A[r][k] * B[k][c];
            Dm[r][c] = acc;
        }
    PTX_FOR_LANES(mask, {
        int g = L >> 2, t = L & 3;
        for (int i = 0; i < 4; i++)
            put_acc(w, &in->o[0], i, L, Dm[g + (i >> 1) * 8][t * 2 + (i & 1)], dt);
    });
}

/* ---- wmma m16n16k16 ------------------------------------------------------------------------ */

static int wmma_elem_bytes(int t) { return t == T_F32 ? 4 : 2; }

/* Address of element (r, c) of a 16x16 matrix in memory with the given layout and stride. */
static uint64_t wmma_addr(uint64_t base, int row_major, uint64_t stride, int r, int c, int esz)
{
    return base + (row_major ? ((uint64_t)r * stride + (uint64_t)c)
                             : ((uint64_t)c * stride + (uint64_t)r)) * (uint64_t)esz;
}

static void do_wmma_ldst(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int store = in->op == OP_WMMA_STORE;
    const ptx_operand *frag = &in->o[store ? 1 : 0], *ao = &in->o[store ? 0 : 1];
    int t = in->type;
    if (in->cmp != 3 || in->nops < 2 || ao->kind != OK_ADDR || (t != T_F16 && t != T_BF16 && t != T_F32)) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED,
                 "unsupported wmma form (m16n16k16 with f16/bf16/f32)");
        return;
    }
    if (check_vec(w, in, frag, 1, mask))
        return;
    int row_major = (in->type3 & 3) != 2;
    int esz = wmma_elem_bytes(t);
    int slots = t == T_F32 ? frag->nvec : frag->nvec * 2;
    ptx_src stride = in->nops > 2 ? ptx_get_src(w, in, 2) : (ptx_src){&in->o[0].imm, 0};
    uint64_t symv = ao->sym_kind ? ptx_sym_value(w, ao->sym_kind, ao->sym, 0) : 0;
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        uint64_t base = ao->imm + symv;
        if (ao->reg != UINT32_MAX)
            base += ptx_top(w)->regs[(size_t)ao->reg * PTX_WARP + L];
        uint64_t st = in->nops > 2 ? (uint32_t)stride.p[L & stride.m] : 16;
        for (int s = 0; s < slots; s++) {
            int e = L * 8 + (s % 8), r = e / 16, c = e % 16;
            if (store && s >= 8)
                break;
            void *p = ptx_translate(w, in, in->space, wmma_addr(base, row_major, st, r, c, esz),
                                    (unsigned)esz, L, store);
            if (!p)
                return;
            if (t == T_F32) {
                uint32_t v;
                if (store) {
                    v = (uint32_t)*vreg(w, frag, s, L);
                    memcpy(p, &v, 4);
                } else {
                    memcpy(&v, p, 4);
                    *vreg(w, frag, s, L) = v;
                }
            } else {
                uint16_t h;
                uint64_t *reg = vreg(w, frag, s / 2, L);
                int sh = 16 * (s & 1);
                if (store) {
                    h = (uint16_t)(*reg >> sh);
                    memcpy(p, &h, 2);
                } else {
                    memcpy(&h, p, 2);
                    *reg = (*reg & ~(0xffffull << sh)) | ((uint64_t)h << sh);
                }
            }
        }
    }
}

static void do_wmma_mma(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int dt = in->types[0], ct = in->ntypes == 4 ? in->types[3] : in->types[1];
    int at = in->ntypes == 4 ? in->types[1] : T_F16;
    int bf = at == T_BF16;
    if (in->cmp != 3 || in->nops != 4 || (dt != T_F32 && dt != T_F16) ||
        (ct != T_F32 && ct != T_F16) || (at != T_F16 && at != T_BF16)) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "unsupported wmma.mma form");
        return;
    }
    for (int i = 0; i < 4; i++)
        if (check_vec(w, in, &in->o[i], 1, mask))
            return;
    static __thread float A[16][16], B[16][16], C[16][16];
    for (int L = 0; L < PTX_WARP; L++)
        for (int j = 0; j < 8; j++) {
            int e = L * 8 + j, r = e / 16, c = e % 16;
            A[r][c] = get16(w, &in->o[1], j, L, bf);
            B[r][c] = get16(w, &in->o[2], j, L, bf);
            C[r][c] = get_acc(w, &in->o[3], j, L, ct);
        }
    PTX_FOR_LANES(mask, {
        for (int j = 0; j < 8; j++) {
            int e = L * 8 + j, r = e / 16, c = e % 16;
            float acc = C[r][c];
            for (int k = 0; k < 16; k++)
                acc += A[r][k] * B[k][c];
            put_acc(w, &in->o[0], j, L, acc, dt);
        }
    });
}

void ptx_x_mma(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    switch (in->op) {
    case OP_MMA: do_mma(w, in, mask); return;
    case OP_WMMA_LOAD:
    case OP_WMMA_STORE: do_wmma_ldst(w, in, mask); return;
    default: do_wmma_mma(w, in, mask); return;
    }
}
