/*
 * Warp matrix instructions: mma.sync.aligned m16n8k16 and m16n8k8 (A row-major, B column-major)
 * for f16 and bf16 inputs with f32 or f16 accumulators, using the fragment layouts of the PTX
 * ISA; and wmma.load/mma/store m16n16k16, m32n8k16 and m8n32k16 (f16 or bf16 inputs with f32
 * or f16 accumulators; s8 or u8 inputs with s32 accumulators, .satfinite clamping). wmma
 * fragments are opaque to programs, so we use our own layout (lane L holds elements E*L ..
 * E*L+E-1 of the matrix in row-major order, E = elements / 32, repeated when the fragment has
 * more slots) that load, mma and store agree on. Float products are accumulated in single
 * precision, integer ones exactly. Calls the operand and memory
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

/* ---- wmma: m16n16k16, m32n8k16, m8n32k16 -------------------------------------------------- */

/* Rows and columns of matrix `which` ('a': MxK, 'b': KxN, 'c'/'d': MxN) of the shape in
 * insn.cmp (3: m16n16k16, 4: m32n8k16, 5: m8n32k16); 0 for another shape. */
static int wmma_dims(const ptx_insn *in, int which, int *rows, int *cols)
{
    static const int mnk[3][3] = {{16, 16, 16}, {32, 8, 16}, {8, 32, 16}};
    if (in->cmp < 3 || in->cmp > 5)
        return 0;
    const int *d = mnk[in->cmp - 3];
    *rows = which == 'b' ? d[2] : d[0];
    *cols = which == 'a' ? d[2] : d[1];
    return 1;
}

static int wmma_elem_bytes(int t)
{
    return t == T_F32 || t == T_S32 ? 4 : t == T_S8 || t == T_U8 ? 1 : 2;
}

/* Fragment slot s of lane L: slots of esz bytes packed into the 32-bit registers in order. */
static uint64_t frag_get(ptx_warp *w, const ptx_operand *o, int s, int L, int esz)
{
    int per = 4 / esz;
    return (*vreg(w, o, s / per, L) >> (8 * esz * (s % per))) & ptx_wmask(8 * esz);
}

static void frag_put(ptx_warp *w, const ptx_operand *o, int s, int L, int esz, uint64_t v)
{
    int per = 4 / esz, sh = 8 * esz * (s % per);
    uint64_t *r = vreg(w, o, s / per, L), m = ptx_wmask(8 * esz) << sh;
    *r = (*r & ~m) | ((v << sh) & m);
}

/* An element's value (exact in a double for every type here) and its store. */
static double el_get(ptx_warp *w, const ptx_operand *o, int s, int L, int t)
{
    uint64_t v = frag_get(w, o, s, L, wmma_elem_bytes(t));
    switch (t) {
    case T_F32: return ptx_as_f32(v);
    case T_F16: return ptx_h2f((uint16_t)v);
    case T_BF16: return ptx_bf2f((uint16_t)v);
    case T_S8: return (int8_t)v;
    case T_U8: return (uint8_t)v;
    default: return (int32_t)v;
    }
}

static void el_put(ptx_warp *w, const ptx_operand *o, int s, int L, int t, double v)
{
    uint64_t b = t == T_F32 ? ptx_f32_bits((float)v)
                 : t == T_F16 ? ptx_f2h((float)v, RND_RN)
                              : (uint64_t)(uint32_t)(int32_t)(int64_t)v; /* s32 */
    frag_put(w, o, s, L, wmma_elem_bytes(t), b);
}

/* Address of element (r, c) of a matrix in memory with the given layout and stride. */
static uint64_t wmma_addr(uint64_t base, int row_major, uint64_t stride, int r, int c, int esz)
{
    return base + (row_major ? ((uint64_t)r * stride + (uint64_t)c)
                             : ((uint64_t)c * stride + (uint64_t)r)) * (uint64_t)esz;
}

/* Our fragment layout: lane L holds elements L*E .. L*E+E-1 (E = rows*cols/32) of the matrix
 * in row-major order, repeated when the fragment has more slots. */
static void do_wmma_ldst(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int store = in->op == OP_WMMA_STORE;
    const ptx_operand *frag = &in->o[store ? 1 : 0], *ao = &in->o[store ? 0 : 1];
    int t = in->type, rows, cols;
    if (!wmma_dims(in, in->boolop, &rows, &cols) || in->nops < 2 || ao->kind != OK_ADDR) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "unsupported wmma form");
        return;
    }
    if (check_vec(w, in, frag, 1, mask))
        return;
    int row_major = (in->type3 & 3) != 2;
    int esz = wmma_elem_bytes(t), epl = rows * cols / PTX_WARP;
    int slots = frag->nvec * (4 / esz);
    ptx_src stride = in->nops > 2 ? ptx_get_src(w, in, 2) : (ptx_src){&in->o[0].imm, 0};
    uint64_t symv = ao->sym_kind ? ptx_sym_value(w, ao->sym_kind, ao->sym, 0) : 0;
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        uint64_t base = ao->imm + symv;
        if (ao->reg != UINT32_MAX)
            base += ptx_top(w)->regs[(size_t)ao->reg * PTX_WARP + L];
        uint64_t st = in->nops > 2 ? (uint32_t)stride.p[L & stride.m]
                                   : (uint64_t)(row_major ? cols : rows);
        for (int s = 0; s < slots && (!store || s < epl); s++) {
            int e = L * epl + s % epl, r = e / cols, c = e % cols;
            void *p = ptx_translate(w, in, in->space, wmma_addr(base, row_major, st, r, c, esz),
                                    (unsigned)esz, L, store);
            if (!p)
                return;
            uint64_t v = 0;
            if (store) {
                v = frag_get(w, frag, s, L, esz);
                memcpy(p, &v, (size_t)esz); /* little-endian: the low bytes */
            } else {
                memcpy(&v, p, (size_t)esz);
                frag_put(w, frag, s, L, esz, v);
            }
        }
    }
}

static int wmma_mma_types_ok(int dt, int at, int ct)
{
    if (at == T_S8 || at == T_U8)
        return dt == T_S32 && ct == T_S32;
    return (at == T_F16 || at == T_BF16) && (dt == T_F32 || dt == T_F16) &&
           (ct == T_F32 || ct == T_F16);
}

static void do_wmma_mma(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int dt = in->types[0], ct = in->ntypes == 4 ? in->types[3] : in->types[1];
    int at = in->ntypes == 4 ? in->types[1] : T_F16, bt = in->ntypes == 4 ? in->types[2] : at;
    int M, N, K, integer = at == T_S8 || at == T_U8;
    if (!wmma_dims(in, 'a', &M, &K) || !wmma_dims(in, 'd', &M, &N) || in->nops != 4 ||
        !wmma_mma_types_ok(dt, at, ct)) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "unsupported wmma.mma form");
        return;
    }
    for (int i = 0; i < 4; i++)
        if (check_vec(w, in, &in->o[i], 1, mask))
            return;
    static __thread double A[32][16], B[16][32], C[32][32];
    int ea = M * K / PTX_WARP, eb = K * N / PTX_WARP, ec = M * N / PTX_WARP;
    for (int L = 0; L < PTX_WARP; L++) {
        for (int j = 0; j < ea; j++)
            A[(L * ea + j) / K][(L * ea + j) % K] = el_get(w, &in->o[1], j, L, at);
        for (int j = 0; j < eb; j++)
            B[(L * eb + j) / N][(L * eb + j) % N] = el_get(w, &in->o[2], j, L, bt);
        for (int j = 0; j < ec; j++)
            C[(L * ec + j) / N][(L * ec + j) % N] = el_get(w, &in->o[3], j, L, ct);
    }
    PTX_FOR_LANES(mask, {
        for (int j = 0; j < ec; j++) {
            int r = (L * ec + j) / N, c = (L * ec + j) % N;
            double v;
            if (integer) { /* exact; .satfinite clamps, otherwise the low 32 bits */
                int64_t acc = (int64_t)C[r][c];
                for (int k = 0; k < K; k++)
                    acc += (int64_t)A[r][k] * (int64_t)B[k][c];
                if (in->flags & F_SATFINITE)
                    acc = acc > INT32_MAX ? INT32_MAX : acc < INT32_MIN ? INT32_MIN : acc;
                v = (double)(int32_t)(uint32_t)acc;
            } else { /* products accumulated in single precision */
                float acc = (float)C[r][c];
                for (int k = 0; k < K; k++)
                    acc += (float)A[r][k] * (float)B[k][c];
                v = acc;
            }
            el_put(w, &in->o[0], j, L, dt, v);
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
