/*
 * Warp matrix instructions beyond ptx_mma.c's f16/bf16 ones: ldmatrix and stmatrix (m8n8,
 * .x1/.x2/.x4, .trans, b16), and mma.sync with integer inputs (s8/u8: m8n8k16, m16n8k16,
 * m16n8k32; s4/u4: m8n8k32, m16n8k32, m16n8k64; s32 accumulators, optional .satfinite),
 * tf32 (m16n8k4, m16n8k8), fp8 e4m3/e5m2 (m16n8k32, f32 or f16 accumulators) and f64 (m8n8k4,
 * m16n8k4/k8/k16). Owns their modifiers and operand checks (called by ptx_decode.c) and
 * executors. Calls the operand and memory helpers of ptx_exec.c and ptx_ops_mem.c and the fp8
 * and half helpers.
 *
 * Fragment layouts are the PTX ISA's. With g = lane / 4 and t = lane % 4 and P elements packed
 * per 32-bit register (1 for tf32 and f64, 4 for 8-bit, 8 for 4-bit types):
 *   m16n8kK  A: register r holds row g + 8 (r & 1), columns P t + 4 P (r / 2) + 0..P-1;
 *            B: register r holds rows P t + 4 P r + 0..P-1 of column g;
 *            C/D: element i is row g + 8 (i >> 1), column 2 t + (i & 1).
 *   m8n8kK   A: row g, columns P t + 0..P-1; B: rows P t + 0..P-1 of column g;
 *            C/D: element i is row g, column 2 t + i.
 * Integer products are exact (wrapping, or clamped with .satfinite); floating-point ones are
 * summed in double precision and rounded once.
 */
#include <math.h>

#include "ptx_internal.h"

/* shape codes in ptx_insn.cmp; 1..3 are ptx_mma.c's (m16n8k16, m16n8k8, m16n16k16) */
enum { SH_M8N8K4 = 16, SH_M8N8K16, SH_M8N8K32, SH_M16N8K4, SH_M16N8K32, SH_M16N8K64, SH_M8N8 };

typedef struct { int m, k; } mma_shape;

static mma_shape shape_of(int code)
{
    switch (code) {
    case 1: return (mma_shape){16, 16};
    case 2: return (mma_shape){16, 8};
    case SH_M8N8K4: return (mma_shape){8, 4};
    case SH_M8N8K16: return (mma_shape){8, 16};
    case SH_M8N8K32: return (mma_shape){8, 32};
    case SH_M16N8K4: return (mma_shape){16, 4};
    case SH_M16N8K32: return (mma_shape){16, 32};
    case SH_M16N8K64: return (mma_shape){16, 64};
    default: return (mma_shape){0, 0};
    }
}

int ptx_matrix_modifier(ptx_insn *in, const char *m)
{
    static const struct { const char *name; int code; } shapes[] = {
        {"m8n8k4", SH_M8N8K4}, {"m8n8k16", SH_M8N8K16}, {"m8n8k32", SH_M8N8K32},
        {"m16n8k4", SH_M16N8K4}, {"m16n8k32", SH_M16N8K32}, {"m16n8k64", SH_M16N8K64},
    };
    if (in->op == OP_MMA) {
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            if (!strcmp(m, shapes[i].name)) {
                in->cmp = (uint8_t)shapes[i].code;
                return 1;
            }
        return 0;
    }
    if (in->op != OP_LDMATRIX && in->op != OP_STMATRIX)
        return 0;
    if (!strcmp(m, "m8n8")) { in->cmp = SH_M8N8; return 1; }
    if (!strcmp(m, "x1") || !strcmp(m, "x2") || !strcmp(m, "x4")) {
        in->vec = (uint8_t)(m[1] - '0');
        return 1;
    }
    if (!strcmp(m, "trans")) { in->boolop = 1; return 1; }
    return 0;
}

/* ---- element types ------------------------------------------------------------------------ */

static int elem_bits(int t)
{
    switch (t) {
    case T_S4: case T_U4: return 4;
    case T_S8: case T_U8: case T_E4M3: case T_E5M2: return 8;
    case T_F64: return 64;
    default: return 32; /* tf32 */
    }
}

/* Element j (0..P-1) of a packed 32-bit register (or the f64 register) as a double. */
static double unpack(uint64_t reg, int t, int j)
{
    switch (t) {
    case T_S4: return (double)ptx_sext(reg >> (4 * j), 4);
    case T_U4: return (double)((reg >> (4 * j)) & 15);
    case T_S8: return (double)(int8_t)(reg >> (8 * j));
    case T_U8: return (double)(uint8_t)(reg >> (8 * j));
    case T_E4M3: case T_E5M2: return ptx_fp8_to_f32((uint8_t)(reg >> (8 * j)), t == T_E5M2);
    case T_F64: return ptx_as_f64(reg);
    default: return ptx_as_f32(reg & 0xffffe000u); /* tf32: the low 13 bits are ignored */
    }
}

/* elements packed in one register */
static int per_reg(int t) { return elem_bits(t) == 64 ? 1 : 32 / elem_bits(t); }

static int is_int8or4(int t) { return t == T_S8 || t == T_U8 || t == T_S4 || t == T_U4; }
static int is_fp8(int t) { return t == T_E4M3 || t == T_E5M2; }

/* The mma forms this file runs: shape, then input and accumulator types. */
static int mma_form_ok(const ptx_insn *in)
{
    int d = in->types[0], a = in->types[1], b = in->types[2], c = in->types[3];
    mma_shape s = shape_of(in->cmp);
    if (in->ntypes != 4 || !s.m || in->type3 != ((1 << 2) | 2)) /* .row.col */
        return 0;
    if (is_int8or4(a)) {
        int four = elem_bits(a) == 4;
        int shape_ok = four ? (in->cmp == SH_M8N8K32 || in->cmp == SH_M16N8K32 ||
                               in->cmp == SH_M16N8K64)
                            : (in->cmp == SH_M8N8K16 || in->cmp == 1 || in->cmp == SH_M16N8K32);
        return shape_ok && is_int8or4(b) && elem_bits(b) == elem_bits(a) && d == T_S32 &&
               c == T_S32;
    }
    if (is_fp8(a))
        return in->cmp == SH_M16N8K32 && is_fp8(b) && (d == T_F32 || d == T_F16) &&
               (c == T_F32 || c == T_F16);
    if (a == T_TF32)
        return (in->cmp == SH_M16N8K4 || in->cmp == 2) && b == T_TF32 && d == T_F32 && c == T_F32;
    if (a == T_F64)
        return (in->cmp == SH_M8N8K4 || in->cmp == SH_M16N8K4 || in->cmp == 2 || in->cmp == 1) &&
               b == T_F64 && d == T_F64 && c == T_F64;
    return 0;
}

/* registers of each fragment: D, A, B, C */
static void fragment_sizes(const ptx_insn *in, int n[4])
{
    mma_shape s = shape_of(in->cmp);
    int P = per_reg(in->types[1]), acc = s.m == 8 ? 2 : 4;
    n[0] = in->types[0] == T_F16 ? acc / 2 : acc;
    n[1] = s.m == 8 ? 1 : s.k / (2 * P);
    n[2] = s.m == 8 ? 1 : s.k / (4 * P);
    n[3] = in->types[3] == T_F16 ? acc / 2 : acc;
}

static int vec_ok(const ptx_operand *o, int n)
{
    if (o->kind != OK_VEC || o->nvec != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (o->vec[i] >= UINT32_MAX - 1)
            return 0;
    return 1;
}

/* ---- mma ---------------------------------------------------------------------------------- */

typedef struct { double a[16][64], b[64][8], c[16][8]; } mma_tiles;

static uint64_t frag_reg(ptx_warp *w, const ptx_operand *o, int r, int L)
{
    return ptx_top(w)->regs[(size_t)o->vec[r] * PTX_WARP + L];
}

static void gather_ab(ptx_warp *w, const ptx_insn *in, mma_shape s, mma_tiles *T)
{
    int at = in->types[1], bt = in->types[2], P = per_reg(at), n[4];
    fragment_sizes(in, n);
    for (int L = 0; L < PTX_WARP; L++) {
        int g = L >> 2, t = L & 3;
        for (int r = 0; r < n[1]; r++)
            for (int j = 0; j < P; j++) {
                int row = g + (s.m == 8 ? 0 : 8 * (r & 1)), col = P * t + 4 * P * (r >> 1) + j;
                T->a[row][col] = unpack(frag_reg(w, &in->o[1], r, L), at, j);
            }
        for (int r = 0; r < n[2]; r++)
            for (int j = 0; j < P; j++)
                T->b[P * t + 4 * P * r + j][g] = unpack(frag_reg(w, &in->o[2], r, L), bt, j);
    }
}

/* accumulator element i of lane L: position and register access */
static void acc_pos(mma_shape s, int L, int i, int *row, int *col)
{
    int g = L >> 2, t = L & 3;
    *row = s.m == 8 ? g : g + 8 * (i >> 1);
    *col = 2 * t + (s.m == 8 ? i : (i & 1));
}

static double get_acc(ptx_warp *w, const ptx_operand *o, int type, int i, int L)
{
    if (type == T_F16) {
        uint64_t r = frag_reg(w, o, i / 2, L);
        return ptx_h2f((uint16_t)(r >> (16 * (i & 1))));
    }
    uint64_t r = frag_reg(w, o, i, L);
    if (type == T_S32)
        return (double)(int32_t)r;
    return type == T_F64 ? ptx_as_f64(r) : ptx_as_f32(r);
}

static void put_acc(ptx_warp *w, const ptx_operand *o, const ptx_insn *in, int i, int L, double v)
{
    uint64_t *reg = &ptx_top(w)->regs[(size_t)o->vec[in->types[0] == T_F16 ? i / 2 : i] *
                                      PTX_WARP + L];
    switch (in->types[0]) {
    case T_F16: {
        int sh = 16 * (i & 1);
        *reg = (*reg & ~(0xffffull << sh)) | ((uint64_t)ptx_f2h((float)v, RND_RN) << sh);
        return;
    }
    case T_S32:
        if (in->flags & F_SATFINITE)
            v = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v;
        *reg = (uint32_t)(uint64_t)(int64_t)v; /* wraps to 32 bits */
        return;
    case T_F64: *reg = ptx_f64_bits(v); return;
    default: *reg = ptx_f32_bits((float)v); return;
    }
}

static void x_mma(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    mma_shape s = shape_of(in->cmp);
    int ct = in->types[3];
    static _Thread_local mma_tiles T;
    gather_ab(w, in, s, &T);
    for (int L = 0; L < PTX_WARP; L++)
        for (int i = 0; i < (s.m == 8 ? 2 : 4); i++) {
            int row, col;
            acc_pos(s, L, i, &row, &col);
            T.c[row][col] = get_acc(w, &in->o[3], ct, i, L);
        }
    double d[16][8];
    for (int r = 0; r < s.m; r++)
        for (int c = 0; c < 8; c++) {
            double acc = 0; /* integer sums are exact in double; wrap to 32 bits at the end */
            for (int k = 0; k < s.k; k++)
                acc += T.a[r][k] * T.b[k][c];
            d[r][c] = acc + T.c[r][c];
        }
    PTX_FOR_LANES(mask, {
        for (int i = 0; i < (s.m == 8 ? 2 : 4); i++) {
            int row, col;
            acc_pos(s, L, i, &row, &col);
            put_acc(w, &in->o[0], in, i, L, d[row][col]);
        }
    });
}

/* ---- ldmatrix / stmatrix ------------------------------------------------------------------ */

/* Matrix r's row i starts at the address lane 8r + i gives; lane L holds row L / 4, columns
 * 2 (L % 4) and 2 (L % 4) + 1 of each matrix (transposed with .trans). */
static void x_ldst_matrix(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int st = in->op == OP_STMATRIX;
    const ptx_operand *ao = &in->o[st ? 0 : 1], *frag = &in->o[st ? 1 : 0];
    uint16_t *rows[4][8];
    for (int r = 0; r < in->vec; r++)
        for (int i = 0; i < 8; i++) {
            rows[r][i] = ptx_translate(w, in, in->space, ptx_operand_addr(w, ao, 8 * r + i),
                                       16, 8 * r + i, st);
            if (!rows[r][i])
                return;
        }
    PTX_FOR_LANES(mask, {
        for (int r = 0; r < in->vec; r++) {
            uint64_t *reg = &ptx_top(w)->regs[(size_t)frag->vec[r] * PTX_WARP + L];
            for (int h = 0; h < 2; h++) {
                int row = L / 4, col = 2 * (L % 4) + h;
                uint16_t *e = in->boolop ? &rows[r][col][row] : &rows[r][row][col];
                if (st)
                    *e = (uint16_t)(*reg >> (16 * h));
                else
                    *reg = (*reg & ~(0xffffull << (16 * h))) | ((uint64_t)*e << (16 * h));
            }
        }
    });
}

/* ---- checks ------------------------------------------------------------------------------- */

int ptx_matrix_check(ptx_insn *in, char *err, size_t errlen)
{
    int ok;
    if (in->op == OP_MMA) {
        int n[4] = {0, 0, 0, 0};
        ok = mma_form_ok(in) && in->nops == 4;
        if (ok)
            fragment_sizes(in, n);
        for (int i = 0; ok && i < 4; i++)
            ok = vec_ok(&in->o[i], n[i]);
        in->exec = x_mma;
    } else {
        int st = in->op == OP_STMATRIX;
        ok = in->cmp == SH_M8N8 && in->type == T_B16 && in->nops == 2 &&
             (in->vec == 1 || in->vec == 2 || in->vec == 4) &&
             (in->space == SP_SHARED || in->space == SP_GENERIC) &&
             in->o[st ? 0 : 1].kind == OK_ADDR && vec_ok(&in->o[st ? 1 : 0], in->vec);
        in->exec = x_ldst_matrix;
    }
    if (!ok)
        snprintf(err, errlen, "'%s': matrix shape, types or operands not supported", in->name);
    return ok ? 0 : -1;
}
