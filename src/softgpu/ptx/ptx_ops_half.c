/*
 * Half-precision arithmetic executors: add/sub/mul/fma/neg/abs/min/max and the approximate
 * ex2/tanh/rcp/sqrt on .f16, .bf16 and the packed .f16x2/.bf16x2 forms, computed in single
 * precision and rounded back to nearest-even (.rn), with .ftz/.sat/.relu. Calls the half
 * conversion helpers of ptx_ops_float.c and the operand helpers of ptx_exec.c.
 */
#include <math.h>

#include "ptx_internal.h"

static float half_op(const ptx_insn *in, float a, float b, float c)
{
    switch (in->op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_FMA: case OP_MAD: return fmaf(a, b, c);
    case OP_NEG: return -a;
    case OP_ABS: return fabsf(a);
    case OP_MIN:
    case OP_MAX:
        if ((in->flags & F_NAN) && (isnan(a) || isnan(b)))
            return NAN;
        return in->op == OP_MIN ? fminf(a, b) : fmaxf(a, b);
    case OP_EX2: return exp2f(a);
    case OP_TANH: return tanhf(a);
    case OP_RCP: return 1.0f / a;
    case OP_SQRT: return sqrtf(a);
    case OP_RSQRT: return 1.0f / sqrtf(a);
    case OP_LG2: return log2f(a);
    case OP_SIN: return sinf(a);
    case OP_COS: return cosf(a);
    case OP_COPYSIGN: return copysignf(b, a);
    default: return NAN;
    }
}

static uint16_t half_lane(const ptx_insn *in, int bf, uint16_t a, uint16_t b, uint16_t c)
{
    float fa = bf ? ptx_bf2f(a) : ptx_h2f(a);
    float fb = bf ? ptx_bf2f(b) : ptx_h2f(b);
    float fc = bf ? ptx_bf2f(c) : ptx_h2f(c);
    float r = half_op(in, fa, fb, fc);
    if ((in->flags & F_RELU) && r < 0)
        r = 0;
    if (in->flags & F_SAT)
        r = isnan(r) ? 0.0f : r < 0 ? 0.0f : r > 1 ? 1.0f : r;
    uint16_t h = bf ? ptx_f2bf(r, RND_RN) : ptx_f2h(r, RND_RN);
    if ((in->flags & F_FTZ) && !bf && (h & 0x7c00) == 0)
        h &= 0x8000;
    return h;
}

void ptx_x_half(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int bf = in->type == T_BF16 || in->type == T_BF16X2;
    int pairs = in->type == T_F16X2 || in->type == T_BF16X2;
    ptx_src A = ptx_get_src(w, in, 1);
    ptx_src B = in->nops > 2 ? ptx_get_src(w, in, 2) : A;
    ptx_src C = in->nops > 3 ? ptx_get_src(w, in, 3) : A;
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    PTX_FOR_LANES(mask, {
        uint64_t a = A.p[L & A.m], b = B.p[L & B.m], c = C.p[L & C.m];
        uint64_t r = half_lane(in, bf, (uint16_t)a, (uint16_t)b, (uint16_t)c);
        if (pairs)
            r |= (uint64_t)half_lane(in, bf, (uint16_t)(a >> 16), (uint16_t)(b >> 16),
                                     (uint16_t)(c >> 16)) << 16;
        D[L] = r;
    });
}
