/*
 * Conversions, comparisons and moves: cvt (every integer/float pair, all rounding modes, .sat,
 * .ftz, .relu, the packed f16x2/bf16x2 forms), setp/set with the boolean combinations, selp,
 * slct, mov (including vector pack/unpack and variable addresses) and cvta between the generic
 * and state-space windows. Calls the half helpers (ptx_ops_float.c) and the operand helpers.
 */
#include <fenv.h>
#include <math.h>

#include "ptx_internal.h"

#define SRC(i) ptx_src S##i = ptx_get_src(w, in, i)
#define V(i) (S##i.p[L & S##i.m])

static int is_float_scalar(int t)
{
    return t == T_F16 || t == T_BF16 || t == T_F32 || t == T_F64;
}

static double read_float(int t, uint64_t v)
{
    switch (t) {
    case T_F16: return ptx_h2f((uint16_t)v);
    case T_BF16: return ptx_bf2f((uint16_t)v);
    case T_F32: return ptx_as_f32(v);
    default: return ptx_as_f64(v);
    }
}

static int fe_of(int rnd)
{
    switch (rnd) {
    case RND_RZ: case RND_RZI: return FE_TOWARDZERO;
    case RND_RM: case RND_RMI: return FE_DOWNWARD;
    case RND_RP: case RND_RPI: return FE_UPWARD;
    default: return FE_TONEAREST;
    }
}

static double round_int(double x, int rnd)
{
    switch (rnd) {
    case RND_RNI: return nearbyint(x); /* current mode is round-to-nearest-even */
    case RND_RZI: return trunc(x);
    case RND_RMI: return floor(x);
    case RND_RPI: return ceil(x);
    default: return x;
    }
}

/* float -> integer with saturation to the destination range (PTX semantics) */
static uint64_t float_to_int(double x, int rnd, int bits, int sgn)
{
    if (isnan(x))
        return 0;
    x = round_int(x, rnd ? rnd : RND_RZI);
    if (sgn) {
        double lo = -ldexp(1.0, bits - 1), hi = ldexp(1.0, bits - 1);
        if (x < lo)
            return (uint64_t)(bits == 64 ? INT64_MIN : (int64_t)lo) & ptx_wmask(bits);
        if (x >= hi)
            return (uint64_t)(bits == 64 ? INT64_MAX : (int64_t)hi - 1) & ptx_wmask(bits);
        return (uint64_t)(int64_t)x & ptx_wmask(bits);
    }
    if (x <= 0)
        return 0;
    if (x >= ldexp(1.0, bits))
        return ptx_wmask(bits);
    return (uint64_t)x;
}

static uint64_t write_float(int t, double x, int rnd, int flags)
{
    if (flags & F_RELU && x < 0)
        x = 0;
    if (flags & F_SAT)
        x = isnan(x) ? 0.0 : x < 0 ? 0.0 : x > 1 ? 1.0 : x;
    if ((flags & F_SATFINITE) && !isnan(x)) {
        double mx = t == T_F16 ? 65504.0 : t == T_BF16 ? 3.3895313892515355e38
                  : t == T_F32 ? 3.4028234663852886e38 : INFINITY;
        x = x > mx ? mx : x < -mx ? -mx : x;
    }
    switch (t) {
    case T_F16: return ptx_f2h((float)x, rnd);
    case T_BF16: return ptx_f2bf((float)x, rnd);
    case T_F32: {
        int mode = fe_of(rnd), old = 0;
        if (mode != FE_TONEAREST) {
            old = fegetround();
            fesetround(mode);
        }
        volatile double vx = x;
        float f = (float)vx;
        if (mode != FE_TONEAREST)
            fesetround(old);
        if ((flags & F_FTZ) && fpclassify(f) == FP_SUBNORMAL)
            f = copysignf(0.0f, f);
        return ptx_f32_bits(f);
    }
    default: return ptx_f64_bits(x);
    }
}

/* f32 -> tf32 (.rna: to nearest, ties away from zero; 10 mantissa bits kept in f32 format) */
static uint64_t to_tf32(uint64_t v)
{
    uint32_t u = (uint32_t)v;
    if ((u & 0x7f800000u) == 0x7f800000u)
        return u; /* inf and NaN unchanged */
    return (u + 0x1000u) & 0xffffe000u;
}

static uint64_t cvt_one(const ptx_insn *in, uint64_t v)
{
    int dt = in->type, st = in->type2;
    if (dt == T_TF32)
        return to_tf32(v);
    int dbits = ptx_type_bits(dt), sbits = ptx_type_bits(st);
    int dsg = ptx_type_is_signed(dt), ssg = ptx_type_is_signed(st);
    if (is_float_scalar(st)) {
        double x = read_float(st, v);
        if ((in->flags & F_FTZ) && st == T_F32 && fpclassify((float)x) == FP_SUBNORMAL)
            x = copysign(0.0, x);
        if (!is_float_scalar(dt))
            return float_to_int(x, in->rnd, dbits, dsg);
        if (in->rnd >= RND_RNI && in->rnd <= RND_RPI)
            x = round_int(x, in->rnd);
        return write_float(dt, x, in->rnd, in->flags);
    }
    /* integer source */
    if (is_float_scalar(dt)) {
        int mode = fe_of(in->rnd), old = 0;
        if (mode != FE_TONEAREST) {
            old = fegetround();
            fesetround(mode);
        }
        uint64_t r;
        if (dt == T_F32) {
            volatile float f = ssg ? (float)ptx_sext(v, sbits) : (float)(v & ptx_wmask(sbits));
            r = write_float(T_F32, f, RND_RN, in->flags);
        } else if (dt == T_F64) {
            volatile double d = ssg ? (double)ptx_sext(v, sbits) : (double)(v & ptx_wmask(sbits));
            r = write_float(T_F64, d, RND_RN, in->flags);
        } else {
            double d = ssg ? (double)ptx_sext(v, sbits) : (double)(v & ptx_wmask(sbits));
            r = write_float(dt, d, in->rnd, in->flags);
        }
        if (mode != FE_TONEAREST)
            fesetround(old);
        return r;
    }
    /* integer to integer: extend by the source type, then truncate or saturate */
    if (in->flags & F_SAT) {
        if (ssg) {
            int64_t x = ptx_sext(v, sbits);
            if (dsg) {
                int64_t lo = dbits == 64 ? INT64_MIN : -((int64_t)1 << (dbits - 1));
                int64_t hi = dbits == 64 ? INT64_MAX : ((int64_t)1 << (dbits - 1)) - 1;
                x = x < lo ? lo : x > hi ? hi : x;
                return (uint64_t)x & ptx_wmask(dbits);
            }
            if (x < 0)
                return 0;
            return (uint64_t)x > ptx_wmask(dbits) ? ptx_wmask(dbits) : (uint64_t)x;
        }
        uint64_t x = v & ptx_wmask(sbits);
        uint64_t hi = dsg ? ptx_wmask(dbits - 1) : ptx_wmask(dbits);
        return x > hi ? hi : x;
    }
    uint64_t x = ssg ? (uint64_t)ptx_sext(v, sbits) : (v & ptx_wmask(sbits));
    return x & ptx_wmask(dbits);
}

void ptx_x_cvt(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    SRC(1);
    if (in->op == OP_CVT_PACK) {
        SRC(2);
        int bf = in->type == T_BF16X2;
        PTX_FOR_LANES(mask, {
            double a = read_float(in->type2, V(1)), b = read_float(in->type2, V(2));
            uint64_t ha = write_float(bf ? T_BF16 : T_F16, a, in->rnd, in->flags);
            uint64_t hb = write_float(bf ? T_BF16 : T_F16, b, in->rnd, in->flags);
            D[L] = (ha << 16) | hb;
        });
        return;
    }
    int dbits = in->bits, sbits = in->bits2;
    /* the most frequent forms get a loop of their own */
    if (!in->flags && !in->rnd && !is_float_scalar(in->type) && !is_float_scalar(in->type2)) {
        if (ptx_type_is_signed(in->type2) && dbits > sbits)
            PTX_FOR_LANES(mask, { D[L] = (uint64_t)ptx_sext(V(1), sbits) & ptx_wmask(dbits); });
        else
            PTX_FOR_LANES(mask, { D[L] = V(1) & ptx_wmask(sbits < dbits ? sbits : dbits); });
        return;
    }
    PTX_FOR_LANES(mask, { D[L] = cvt_one(in, V(1)); });
}

/* ---- compare and select ------------------------------------------------------------------- */

static int compare(const ptx_insn *in, uint64_t a, uint64_t b)
{
    int t = in->type;
    if (is_float_scalar(t)) {
        double x = read_float(t, a), y = read_float(t, b);
        int un = isnan(x) || isnan(y);
        switch (in->cmp) {
        case CMP_EQ: return !un && x == y;
        case CMP_NE: return !un && x != y;
        case CMP_LT: return !un && x < y;
        case CMP_LE: return !un && x <= y;
        case CMP_GT: return !un && x > y;
        case CMP_GE: return !un && x >= y;
        case CMP_EQU: return un || x == y;
        case CMP_NEU: return un || x != y;
        case CMP_LTU: return un || x < y;
        case CMP_LEU: return un || x <= y;
        case CMP_GTU: return un || x > y;
        case CMP_GEU: return un || x >= y;
        case CMP_NUM: return !un;
        case CMP_NAN: return un;
        default: return 0;
        }
    }
    int bits = t == T_PRED ? 1 : ptx_type_bits(t);
    uint64_t ua = a & ptx_wmask(bits), ub = b & ptx_wmask(bits);
    int64_t sa = ptx_sext(a, bits), sb = ptx_sext(b, bits);
    int sgn = ptx_type_is_signed(t);
    switch (in->cmp) {
    case CMP_EQ: return ua == ub;
    case CMP_NE: return ua != ub;
    case CMP_LT: return sgn ? sa < sb : ua < ub;
    case CMP_LE: return sgn ? sa <= sb : ua <= ub;
    case CMP_GT: return sgn ? sa > sb : ua > ub;
    case CMP_GE: return sgn ? sa >= sb : ua >= ub;
    case CMP_LO: return ua < ub;
    case CMP_LS: return ua <= ub;
    case CMP_HI: return ua > ub;
    case CMP_HS: return ua >= ub;
    default: return 0;
    }
}

static int combine(int op, int r, int c)
{
    switch (op) {
    case BOOL_AND: return r && c;
    case BOOL_OR: return r || c;
    case BOOL_XOR: return r != c;
    default: return r;
    }
}

/* Integer compares of 32- or 64-bit values without a predicate combination: one loop per
 * comparison instead of a switch per lane. Returns 0 for the forms it does not handle. */
static int setp_int_fast(const ptx_insn *in, uint64_t *D, ptx_src S1, ptx_src S2, uint32_t mask)
{
    int sgn = ptx_type_is_signed(in->type), b64 = in->bits == 64;
#define ICMP(T, op) PTX_FOR_LANES(mask, { D[L] = (T)V(1) op (T)V(2); })
#define BOTH(op)                                                                                \
    do {                                                                                        \
        if (b64) { if (sgn) ICMP(int64_t, op); else ICMP(uint64_t, op); }                       \
        else { if (sgn) ICMP(int32_t, op); else ICMP(uint32_t, op); }                           \
    } while (0)
    switch (in->cmp) {
    case CMP_EQ: BOTH(==); return 1;
    case CMP_NE: BOTH(!=); return 1;
    case CMP_LT: BOTH(<); return 1;
    case CMP_LE: BOTH(<=); return 1;
    case CMP_GT: BOTH(>); return 1;
    case CMP_GE: BOTH(>=); return 1;
    default: return 0;
    }
#undef BOTH
#undef ICMP
}

void ptx_x_setp(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    SRC(1);
    SRC(2);
    if (in->op == OP_SELP || in->op == OP_SLCT) {
        SRC(3);
        uint64_t neg = in->o[3].neg;
        if (in->op == OP_SELP) {
            PTX_FOR_LANES(mask, { D[L] = ((V(3) != 0) ^ neg) ? V(1) : V(2); });
        } else {
            int f = in->type2 == T_F32;
            PTX_FOR_LANES(mask, {
                int ge = f ? ptx_as_f32(V(3)) >= 0.0f : ptx_sext(V(3), 32) >= 0;
                D[L] = ge ? V(1) : V(2);
            });
        }
        return;
    }
    ptx_src S3 = in->nops > 3 ? ptx_get_src(w, in, 3) : S1;
    int has_c = in->nops > 3, cneg = has_c && in->o[3].neg;
    uint64_t *Q = in->o[0].nvec ? ptx_dst(w, in->o[0].vec[0]) : NULL;
    if (in->op == OP_SETP && (in->type == T_F16X2 || in->type == T_BF16X2)) {
        /* packed compare: p from the low halves, q from the high halves */
        ptx_insn half = *in;
        half.type = in->type == T_F16X2 ? T_F16 : T_BF16;
        PTX_FOR_LANES(mask, {
            for (int h = 0; h < 2; h++) {
                int r = compare(&half, V(1) >> (16 * h) & 0xffff, V(2) >> (16 * h) & 0xffff);
                if (has_c)
                    r = combine(in->boolop, r, (V(3) != 0) ^ cneg);
                if (h == 0)
                    D[L] = (uint64_t)r;
                else if (Q)
                    Q[L] = (uint64_t)r;
            }
        });
        return;
    }
    if (in->op == OP_SET && (in->type2 == T_F16X2 || in->type2 == T_BF16X2)) {
        /* packed set: each half is all ones (integer destination) or 1.0 (packed float) */
        ptx_insn half = *in;
        half.type = in->type2 == T_F16X2 ? T_F16 : T_BF16;
        uint64_t one = in->type == T_F16X2 ? 0x3C00 : in->type == T_BF16X2 ? 0x3F80 : 0xFFFF;
        PTX_FOR_LANES(mask, {
            uint64_t r = 0;
            for (int h = 0; h < 2; h++) {
                int t = compare(&half, V(1) >> (16 * h) & 0xffff, V(2) >> (16 * h) & 0xffff);
                if (has_c)
                    t = combine(in->boolop, t, (V(3) != 0) ^ cneg);
                r |= (t ? one : 0) << (16 * h);
            }
            D[L] = r;
        });
        return;
    }
    if (in->op == OP_SET) {
        /* set: the comparison type is the second type; the first is the destination */
        ptx_insn cmp = *in;
        cmp.type = in->type2;
        PTX_FOR_LANES(mask, {
            int r = compare(&cmp, V(1), V(2));
            if (has_c)
                r = combine(in->boolop, r, (V(3) != 0) ^ cneg);
            D[L] = !r ? 0 : in->type == T_F32 ? 0x3f800000u : in->type == T_F16 ? 0x3C00u
                 : in->type == T_BF16 ? 0x3F80u : ptx_wmask(in->bits);
        });
        return;
    }
    if (!has_c && !Q && (in->bits == 32 || in->bits == 64) && in->type != T_PRED &&
        !ptx_type_is_float(in->type) && setp_int_fast(in, D, S1, S2, mask))
        return;
    if (!has_c && !Q && in->type == T_F32 && in->cmp <= CMP_GE) {
#define FCMP(op) PTX_FOR_LANES(mask, { D[L] = ptx_as_f32(V(1)) op ptx_as_f32(V(2)); })
        switch (in->cmp) {
        case CMP_EQ: FCMP(==); return;
        case CMP_LT: FCMP(<); return;
        case CMP_LE: FCMP(<=); return;
        case CMP_GT: FCMP(>); return;
        case CMP_GE: FCMP(>=); return;
        default: break; /* ne is true only for ordered operands: the general path */
        }
#undef FCMP
    }
    PTX_FOR_LANES(mask, {
        int r = compare(in, V(1), V(2));
        if (has_c)
            r = combine(in->boolop, r, (V(3) != 0) ^ cneg);
        D[L] = (uint64_t)r;
        if (Q) {
            int q = !compare(in, V(1), V(2));
            if (has_c)
                q = combine(in->boolop, q, (V(3) != 0) ^ cneg);
            Q[L] = (uint64_t)q;
        }
    });
}

/* ---- mov and cvta ------------------------------------------------------------------------- */

static void mov_vector(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int bits = in->bits;
    const ptx_operand *d = &in->o[0], *s = &in->o[1];
    ptx_frame *f = ptx_top(w);
    if (s->kind == OK_VEC) { /* pack */
        int eb = bits / s->nvec;
        uint64_t *D = ptx_dst(w, d->reg);
        PTX_FOR_LANES(mask, {
            uint64_t r = 0;
            for (int i = 0; i < s->nvec; i++) {
                uint64_t e = s->vec[i] >= UINT32_MAX - 1 ? s->vimm[i]
                           : f->regs[(size_t)s->vec[i] * PTX_WARP + L];
                r |= (e & ptx_wmask(eb)) << (i * eb);
            }
            D[L] = r;
        });
        return;
    }
    if (d->kind != OK_VEC || s->kind != OK_REG) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "bad vector move");
        return;
    }
    int eb = bits / d->nvec;
    const uint64_t *S = &f->regs[(size_t)s->reg * PTX_WARP];
    uint64_t tmp[PTX_WARP];
    memcpy(tmp, S, sizeof tmp);
    for (int i = 0; i < d->nvec; i++) {
        if (d->vec[i] >= UINT32_MAX - 1)
            continue;
        uint64_t *D = ptx_dst(w, d->vec[i]);
        PTX_FOR_LANES(mask, { D[L] = (tmp[L] >> (i * eb)) & ptx_wmask(eb); });
    }
}

void ptx_x_mov(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    if (in->flags & F_NAN) { /* createpolicy: an opaque cache policy that we ignore */
        uint64_t *D = ptx_dst(w, in->o[0].reg);
        PTX_FOR_LANES(mask, { D[L] = 0; });
        return;
    }
    if (in->o[0].kind == OK_VEC || in->o[1].kind == OK_VEC) {
        mov_vector(w, in, mask);
        return;
    }
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    SRC(1);
    if (in->op == OP_MOV) {
        uint64_t wm = in->type == T_PRED ? 1 : ptx_wmask(in->bits);
        PTX_FOR_LANES(mask, { D[L] = V(1) & wm; });
        return;
    }
    ptx_block *b = w->blk;
    int to = (in->flags & F_TO) != 0;
    switch (in->space) {
    case SP_SHARED: {
        uint64_t base = (uint64_t)(uintptr_t)b->shared;
        PTX_FOR_LANES(mask, { D[L] = to ? V(1) - base : V(1) + base; });
        return;
    }
    case SP_LOCAL: {
        uint64_t base = (uint64_t)(uintptr_t)b->local + (uint64_t)w->id * PTX_WARP * b->local_per_thread;
        PTX_FOR_LANES(mask, {
            uint64_t lb = base + (uint64_t)L * b->local_per_thread;
            D[L] = to ? V(1) - lb : V(1) + lb;
        });
        return;
    }
    case SP_PARAM: {
        uint64_t base = b->run->param_window;
        PTX_FOR_LANES(mask, { D[L] = to ? V(1) - base : V(1) + base; });
        return;
    }
    default: /* global and const: generic and state-space addresses coincide */
        PTX_FOR_LANES(mask, { D[L] = V(1); });
        return;
    }
}
