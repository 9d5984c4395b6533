/*
 * The sm_70..sm_90 bit-field and 8-bit float additions: bmsk and szext (.clamp/.wrap), the
 * e4m3/e5m2 conversion helpers (used by cvt here and by the fp8 mma of ptx_ops_matrix.c), and
 * the packed fp8 conversions cvt.rn.satfinite{.relu}.{e4m3x2,e5m2x2}.{f32,f16x2} and
 * cvt.rn{.relu}.f16x2.{e4m3x2,e5m2x2}, and cvt.pack.sat to 8 and 16 bits. Owns their operand
 * checks (called by ptx_decode.c) and
 * executors. Calls libm and the operand helpers of ptx_exec.c.
 */
#include <math.h>

#include "ptx_internal.h"

/* ---- bmsk, szext -------------------------------------------------------------------------- */

/* (~0u << n) for any n: 0 once every bit has been shifted out */
static uint32_t ones_above(uint32_t n) { return n >= 32 ? 0 : ~0u << n; }

static uint32_t bmsk(uint32_t a, uint32_t b, int clamp)
{
    uint32_t a1 = a & 31, b1 = b & 31, sum = a1 + b1;
    uint32_t mask0 = ones_above(a1), mask1 = ones_above(sum);
    int pos_overflow = clamp && a >= 32, width_overflow = clamp && b >= 32;
    if (pos_overflow)
        mask0 = 0;
    if (sum >= 32 || pos_overflow || width_overflow)
        mask1 = 0;
    else if (b1 == 0)
        mask1 = ~0u;
    return mask0 & ~mask1;
}

static uint32_t szext(uint32_t a, uint32_t b, int clamp, int sign)
{
    uint32_t b1 = b & 31;
    int too_large = clamp && b >= 32;
    uint32_t mask = too_large ? 0 : ~0u << b1;
    int sign_bit = b1 != 0 && !too_large && sign && ((a >> ((b1 - 1) & 31)) & 1u);
    return (a & ~mask) | (sign_bit ? mask : 0);
}

static void x_bmsk_szext(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_src A = ptx_get_src(w, in, 1), B = ptx_get_src(w, in, 2);
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    int clamp = in->boolop == 2, sign = in->type == T_S32;
    if (in->op == OP_BMSK)
        PTX_FOR_LANES(mask, { D[L] = bmsk((uint32_t)A.p[L & A.m], (uint32_t)B.p[L & B.m], clamp); });
    else
        PTX_FOR_LANES(mask, {
            D[L] = szext((uint32_t)A.p[L & A.m], (uint32_t)B.p[L & B.m], clamp, sign);
        });
}

/* ---- 8-bit floats ------------------------------------------------------------------------- */

/* e4m3 ("fn": no infinities, S.1111.111 is NaN, largest 448) and e5m2 (IEEE-like, largest
 * 57344) */
typedef struct { int mbits, bias; double max; uint8_t nan, inf; } fp8_format;
static const fp8_format E4M3 = {3, 7, 448.0, 0x7f, 0x7f};
static const fp8_format E5M2 = {2, 15, 57344.0, 0x7f, 0x7c};

float ptx_fp8_to_f32(uint8_t v, int e5m2)
{
    const fp8_format *f = e5m2 ? &E5M2 : &E4M3;
    int ebits = 7 - f->mbits, sign = v >> 7;
    int e = (v >> f->mbits) & ((1 << ebits) - 1), m = v & ((1 << f->mbits) - 1);
    double r;
    if ((v & 0x7f) == f->nan || (e5m2 && e == 31 && m))
        return NAN;
    if (e5m2 && (v & 0x7f) == f->inf)
        r = INFINITY;
    else if (e == 0)
        r = ldexp(m, 1 - f->bias - f->mbits);
    else
        r = ldexp((1 << f->mbits) + m, e - f->bias - f->mbits);
    return (float)(sign ? -r : r);
}

/* Round to nearest even; beyond the largest finite value: that value with satfinite, else
 * infinity (e5m2) or NaN (e4m3). */
uint8_t ptx_f32_to_fp8(float x, int e5m2, int satfinite)
{
    const fp8_format *f = e5m2 ? &E5M2 : &E4M3;
    uint8_t sign = signbit(x) ? 0x80 : 0;
    if (isnan(x))
        return f->nan;
    double a = fabs((double)x);
    int min_exp = 1 - f->bias; /* exponent of the smallest normal */
    int e;
    frexp(a, &e);
    e = e - 1 < min_exp ? min_exp : e - 1;
    double q = nearbyint(ldexp(a, f->mbits - e)); /* in units of the last mantissa bit */
    double r = ldexp(q, e - f->mbits);
    if (r > f->max || isinf(a))
        return satfinite ? (uint8_t)(sign | (f->max == 448.0 ? 0x7e : 0x7b))
                         : (uint8_t)(sign | (e5m2 ? f->inf : f->nan));
    if (r < ldexp(1, min_exp)) /* subnormal (or zero): the exponent field is 0 */
        return (uint8_t)(sign | (uint8_t)ldexp(r, f->bias - 1 + f->mbits));
    frexp(r, &e);
    e -= 1;
    int mant = (int)ldexp(r, f->mbits - e) - (1 << f->mbits);
    return (uint8_t)(sign | ((e + f->bias) << f->mbits) | mant);
}

/* ---- packed fp8 conversions --------------------------------------------------------------- */

static uint8_t to_fp8(float v, const ptx_insn *in, int e5m2)
{
    if ((in->flags & F_RELU) && !isnan(v) && v < 0)
        v = 0;
    return ptx_f32_to_fp8(v, e5m2, (in->flags & F_SATFINITE) != 0);
}

static uint16_t from_fp8(uint8_t v, const ptx_insn *in, int e5m2)
{
    float f = ptx_fp8_to_f32(v, e5m2);
    if (isnan(f))
        return 0x7fff;
    if ((in->flags & F_RELU) && f < 0)
        f = 0;
    return ptx_f2h(f, RND_RN); /* exact: every fp8 value is an f16 value */
}

static void x_cvt_fp8(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_src A = ptx_get_src(w, in, 1), B = ptx_get_src(w, in, in->nops > 2 ? 2 : 1);
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    int to = in->type == T_E4M3X2 || in->type == T_E5M2X2;
    int e5m2 = in->type == T_E5M2X2 || in->type2 == T_E5M2X2;
    PTX_FOR_LANES(mask, {
        uint64_t a = A.p[L & A.m], b = B.p[L & B.m];
        if (!to) /* f16x2 <- fp8x2: the upper byte becomes the upper half */
            D[L] = (uint64_t)from_fp8((uint8_t)a, in, e5m2) |
                   (uint64_t)from_fp8((uint8_t)(a >> 8), in, e5m2) << 16;
        else if (in->type2 == T_F32) /* a goes to the upper byte, b to the lower */
            D[L] = (uint64_t)to_fp8(ptx_as_f32(b), in, e5m2) |
                   (uint64_t)to_fp8(ptx_as_f32(a), in, e5m2) << 8;
        else
            D[L] = (uint64_t)to_fp8(ptx_h2f((uint16_t)a), in, e5m2) |
                   (uint64_t)to_fp8(ptx_h2f((uint16_t)(a >> 16)), in, e5m2) << 8;
    });
}

/* ---- cvt.pack ------------------------------------------------------------------------------ */

/* cvt.pack.sat.{s8,u8}.s32.b32 d, a, b, c and cvt.pack.sat.{s16,u16}.s32 d, a, b: a and b
 * saturated to the narrow type, a above b in the low 2*size bits of d, the rest of d from the
 * low bits of c (PTX ISA, cvt.pack). */
static void x_cvt_pack(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_src A = ptx_get_src(w, in, 1), B = ptx_get_src(w, in, 2);
    ptx_src C = in->nops > 3 ? ptx_get_src(w, in, 3) : A;
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    int bits = ptx_type_bits(in->type), sgn = ptx_type_is_signed(in->type);
    int64_t lo = sgn ? -((int64_t)1 << (bits - 1)) : 0;
    int64_t hi = sgn ? ((int64_t)1 << (bits - 1)) - 1 : ((int64_t)1 << bits) - 1;
    uint64_t m = ptx_wmask(bits);
    PTX_FOR_LANES(mask, {
        int64_t a = (int32_t)A.p[L & A.m], b = (int32_t)B.p[L & B.m];
        a = a < lo ? lo : a > hi ? hi : a;
        b = b < lo ? lo : b > hi ? hi : b;
        uint64_t d = ((uint64_t)a & m) << bits | ((uint64_t)b & m);
        if (in->nops > 3)
            d |= C.p[L & C.m] << (2 * bits);
        D[L] = d & 0xffffffffu;
    });
}

/* ---- checks ------------------------------------------------------------------------------- */

static int regs_and_values(const ptx_insn *in, int n)
{
    if (in->nops != n || in->o[0].kind != OK_REG)
        return 0;
    for (int i = 1; i < n; i++)
        if (in->o[i].kind != OK_REG && in->o[i].kind != OK_IMM)
            return 0;
    return 1;
}

static int fp8_cvt_ok(const ptx_insn *in)
{
    int to = in->type == T_E4M3X2 || in->type == T_E5M2X2;
    if (to)
        return (in->flags & F_SATFINITE) && in->rnd == RND_RN &&
               ((in->type2 == T_F32 && regs_and_values(in, 3)) ||
                (in->type2 == T_F16X2 && regs_and_values(in, 2)));
    return in->type == T_F16X2 && in->rnd == RND_RN && regs_and_values(in, 2);
}

static int cvt_pack_ok(const ptx_insn *in)
{
    if (in->type2 != T_S32 || !(in->flags & F_SAT))
        return 0;
    if (in->type == T_S16 || in->type == T_U16)
        return regs_and_values(in, 3);
    return (in->type == T_S8 || in->type == T_U8) && in->types[2] == T_B32 &&
           regs_and_values(in, 4);
}

int ptx_bitfield_check(ptx_insn *in, char *err, size_t errlen)
{
    int ok;
    if (in->op == OP_CVT && in->boolop == PTX_CVT_PACK) {
        ok = cvt_pack_ok(in);
        in->exec = x_cvt_pack;
    } else if (in->op == OP_CVT) {
        ok = fp8_cvt_ok(in);
        in->exec = x_cvt_fp8;
    } else {
        ok = regs_and_values(in, 3) && in->boolop &&
             (in->op == OP_BMSK ? in->type == T_B32 : (in->type == T_S32 || in->type == T_U32));
        in->exec = x_bmsk_szext;
    }
    if (!ok)
        snprintf(err, errlen, "'%s': form not supported", in->name);
    return ok ? 0 : -1;
}
