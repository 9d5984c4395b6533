/*
 * The translator's data instructions: integer and bit arithmetic (the semantics of
 * ptx_ops_int.c), f32/f64 arithmetic (ptx_ops_float.c), setp/selp and cvt/mov/cvta
 * (ptx_ops_cvt.c). Each emitter mirrors its interpreter executor formula for formula (same
 * widths, masks, sign extensions, NaN and saturation rules, libm functions for the
 * transcendental ones), so a kernel gives the same bits on both engines. ptx_jit_check_op accepts
 * an instruction only when the decoder gave it the executor whose semantics are mirrored here
 * and it uses no modifier left out (carry chains, directed rounding, half precision, ...).
 * Calls the LLVM C API and the helpers of ptx_jit_emit.c / ptx_jit_emit_mem.c.
 */
#include <math.h>

#include "ptx_jit_emit.h"

#define B_ (e->b)

/* ---- operands ----------------------------------------------------------------------------- */

LLVMValueRef ptx_jit_src(jit_em *e, const ptx_insn *in, int idx)
{
    const ptx_operand *o = &in->o[idx];
    switch (o->kind) {
    case OK_REG: return LLVMBuildLoad2(B_, e->vi64, e->regs[o->reg], "");
    case OK_SREG: return ptx_jit_sreg(e, (int)o->imm);
    case OK_SYM: return ptx_jit_sym(e, o->sym_kind, o->sym);
    default: return ptx_jit_k64(e, o->imm);
    }
}

void ptx_jit_dst(jit_em *e, uint32_t reg, LLVMValueRef v)
{
    LLVMBuildStore(B_, v, e->regs[reg]);
}

LLVMValueRef ptx_jit_mask(jit_em *e, LLVMValueRef v, int bits)
{
    return bits >= 64 ? v : LLVMBuildAnd(B_, v, ptx_jit_k64(e, ptx_wmask(bits)), "");
}

LLVMValueRef ptx_jit_sext(jit_em *e, LLVMValueRef v, int bits)
{
    if (bits >= 64)
        return v;
    LLVMTypeRef t = ptx_jit_vint(e, bits);
    return LLVMBuildSExt(B_, LLVMBuildTrunc(B_, v, t, ""), e->vi64, "");
}

LLVMValueRef ptx_jit_to_f32(jit_em *e, LLVMValueRef v)
{
    return LLVMBuildBitCast(B_, LLVMBuildTrunc(B_, v, e->vi32, ""), e->vf32, "");
}
LLVMValueRef ptx_jit_to_f64(jit_em *e, LLVMValueRef v) { return LLVMBuildBitCast(B_, v, e->vf64,
    ""); }
LLVMValueRef ptx_jit_from_f32(jit_em *e, LLVMValueRef f)
{
    return LLVMBuildZExt(B_, LLVMBuildBitCast(B_, f, e->vi32, ""), e->vi64, "");
}
LLVMValueRef ptx_jit_from_f64(jit_em *e, LLVMValueRef f) { return LLVMBuildBitCast(B_, f, e->vi64,
    ""); }

static LLVMValueRef sel(jit_em *e, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(B_, c, a, b, "");
}
static LLVMValueRef icmp(jit_em *e, LLVMIntPredicate p, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildICmp(B_, p, a, b, "");
}
static LLVMValueRef intr1(jit_em *e, const char *name, LLVMValueRef a)
{
    return ptx_jit_intrinsic(e, name, LLVMTypeOf(a), &a, 1);
}
static LLVMValueRef intr2(jit_em *e, const char *name, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef v[2] = {a, b};
    return ptx_jit_intrinsic(e, name, LLVMTypeOf(a), v, 2);
}

/* ---- integers (ptx_x_int) ----------------------------------------------------------------- */

static LLVMValueRef clamp_s32(jit_em *e, LLVMValueRef v)
{
    LLVMValueRef hi = ptx_jit_k64(e, INT32_MAX), lo = ptx_jit_k64(e, (uint64_t)(int64_t)INT32_MIN);
    v = sel(e, icmp(e, LLVMIntSGT, v, hi), hi, v);
    return sel(e, icmp(e, LLVMIntSLT, v, lo), lo, v);
}

static LLVMValueRef mul_hi(jit_em *e, LLVMValueRef a, LLVMValueRef b, int bits, int sgn)
{
    if (bits == 64) {
        LLVMTypeRef t = ptx_jit_vint(e, 128);
        LLVMValueRef x = sgn ? LLVMBuildSExt(B_, a, t, "") : LLVMBuildZExt(B_, a, t, "");
        LLVMValueRef y = sgn ? LLVMBuildSExt(B_, b, t, "") : LLVMBuildZExt(B_, b, t, "");
        LLVMValueRef p = LLVMBuildMul(B_, x, y, "");
        LLVMValueRef sh = ptx_jit_splat(e, LLVMConstInt(LLVMInt128TypeInContext(e->cx), 64, 0));
        return LLVMBuildTrunc(B_, LLVMBuildLShr(B_, p, sh, ""), e->vi64, "");
    }
    if (sgn)
        return LLVMBuildAShr(B_, LLVMBuildMul(B_, ptx_jit_sext(e, a, bits), ptx_jit_sext(e, b,
            bits), ""),
                             ptx_jit_k64(e, (uint64_t)bits), "");
    return LLVMBuildLShr(B_, LLVMBuildMul(B_, ptx_jit_mask(e, a, bits), ptx_jit_mask(e, b, bits),
        ""),
                         ptx_jit_k64(e, (uint64_t)bits), "");
}

static LLVMValueRef int_mul(jit_em *e, const ptx_insn *in, LLVMValueRef a, LLVMValueRef b,
                            int bits, int sgn)
{
    int mad = in->op == OP_MAD;
    LLVMValueRef c = mad ? ptx_jit_src(e, in, 3) : ptx_jit_k64(e, 0);
    if (in->flags & F_WIDE) {
        LLVMValueRef p = sgn ? LLVMBuildMul(B_, ptx_jit_sext(e, a, bits), ptx_jit_sext(e, b, bits),
            "")
                             : LLVMBuildMul(B_, ptx_jit_mask(e, a, bits), ptx_jit_mask(e, b, bits),
                                 "");
        return ptx_jit_mask(e, LLVMBuildAdd(B_, p, c, ""), bits * 2);
    }
    LLVMValueRef p = (in->flags & F_HI) ? mul_hi(e, a, b, bits, sgn) : LLVMBuildMul(B_, a, b, "");
    return ptx_jit_mask(e, LLVMBuildAdd(B_, p, c, ""), bits);
}

/* Division by zero and INT_MIN / -1 give what the hardware (and the interpreter) gives. */
static LLVMValueRef int_divrem(jit_em *e, int rem, LLVMValueRef a0, LLVMValueRef b0, int bits,
                               int sgn)
{
    LLVMValueRef zero = ptx_jit_k64(e, 0), ones = ptx_jit_k64(e, ~0ull), one = ptx_jit_k64(e, 1);
    if (!sgn) {
        LLVMValueRef a = ptx_jit_mask(e, a0, bits), b = ptx_jit_mask(e, b0, bits);
        LLVMValueRef bz = icmp(e, LLVMIntEQ, b, zero);
        LLVMValueRef safe = sel(e, bz, one, b);
        LLVMValueRef q = rem ? LLVMBuildURem(B_, a, safe, "") : LLVMBuildUDiv(B_, a, safe, "");
        return ptx_jit_mask(e, sel(e, bz, rem ? a : ones, q), bits);
    }
    LLVMValueRef a = ptx_jit_sext(e, a0, bits), b = ptx_jit_sext(e, b0, bits);
    uint64_t minv = bits == 64 ? (uint64_t)INT64_MIN : (uint64_t)-((int64_t)1 << (bits - 1));
    LLVMValueRef bz = icmp(e, LLVMIntEQ, b, zero);
    LLVMValueRef ovf = LLVMBuildAnd(B_, icmp(e, LLVMIntEQ, b, ones),
                                    icmp(e, LLVMIntEQ, a, ptx_jit_k64(e, minv)), "");
    LLVMValueRef safe = sel(e, LLVMBuildOr(B_, bz, ovf, ""), one, b);
    LLVMValueRef q = rem ? LLVMBuildSRem(B_, a, safe, "") : LLVMBuildSDiv(B_, a, safe, "");
    q = sel(e, ovf, rem ? zero : a, q);
    return ptx_jit_mask(e, sel(e, bz, rem ? a : ones, q), bits);
}

static LLVMValueRef int_minmax(jit_em *e, const ptx_insn *in, LLVMValueRef a, LLVMValueRef b,
                               int bits, int sgn)
{
    int mx = in->op == OP_MAX;
    if (!sgn) {
        a = ptx_jit_mask(e, a, bits);
        b = ptx_jit_mask(e, b, bits);
        return sel(e, icmp(e, mx ? LLVMIntUGT : LLVMIntULT, a, b), a, b);
    }
    a = ptx_jit_sext(e, a, bits);
    b = ptx_jit_sext(e, b, bits);
    LLVMValueRef r = sel(e, icmp(e, mx ? LLVMIntSGT : LLVMIntSLT, a, b), a, b);
    if (in->flags & F_RELU)
        r = sel(e, icmp(e, LLVMIntSLT, r, ptx_jit_k64(e, 0)), ptx_jit_k64(e, 0), r);
    return ptx_jit_mask(e, r, bits);
}

static void emit_int(jit_em *e, const ptx_insn *in)
{
    int bits = in->bits, sgn = ptx_type_is_signed(in->type);
    LLVMValueRef a = ptx_jit_src(e, in, 1), b = in->nops > 2 ? ptx_jit_src(e, in, 2) : a, r;
    switch (in->op) {
    case OP_ADD:
    case OP_SUB:
        if (in->flags & F_SAT) {
            LLVMValueRef x = ptx_jit_sext(e, a, 32), y = ptx_jit_sext(e, b, 32);
            r = ptx_jit_mask(e, clamp_s32(e, in->op == OP_SUB ? LLVMBuildSub(B_, x, y, "")
                                                          : LLVMBuildAdd(B_, x, y, "")), bits);
        } else {
            r = ptx_jit_mask(e, in->op == OP_SUB ? LLVMBuildSub(B_, a, b, "")
                                             : LLVMBuildAdd(B_, a, b, ""), bits);
        }
        break;
    case OP_MUL:
    case OP_MAD: r = int_mul(e, in, a, b, bits, sgn); break;
    case OP_DIV:
    case OP_REM: r = int_divrem(e, in->op == OP_REM, a, b, bits, sgn); break;
    case OP_ABS: {
        LLVMValueRef x = ptx_jit_sext(e, a, bits);
        r = ptx_jit_mask(e, sel(e, icmp(e, LLVMIntSLT, x, ptx_jit_k64(e, 0)),
                            LLVMBuildSub(B_, ptx_jit_k64(e, 0), x, ""), x), bits);
        break;
    }
    case OP_NEG: r = ptx_jit_mask(e, LLVMBuildSub(B_, ptx_jit_k64(e, 0), a, ""), bits); break;
    default: r = int_minmax(e, in, a, b, bits, sgn); break;
    }
    ptx_jit_dst(e, in->o[0].reg, r);
}

static int check_int(jit_em *e, const ptx_insn *in)
{
    if (in->bits < 8 || in->bits > 64 || (in->flags & ~(F_SAT | F_HI | F_WIDE | F_RELU)))
        return ptx_jit_unsupported(e, "'%s' (modifiers) at line %u", in->name, in->line);
    switch (in->op) {
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_REM: case OP_ABS: case OP_NEG:
    case OP_MIN: case OP_MAX:
        return 0;
    case OP_MAD:
        if ((in->flags & F_SAT) && (in->flags & F_HI))
            return ptx_jit_unsupported(e, "mad.hi.sat at line %u", in->line);
        return 0;
    default:
        return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
    }
}

/* ---- bits (ptx_x_bits) -------------------------------------------------------------------- */

static LLVMValueRef shift(jit_em *e, const ptx_insn *in, LLVMValueRef a, LLVMValueRef b, int bits)
{
    LLVMValueRef s = LLVMBuildAnd(B_, b, ptx_jit_k64(e, 0xffffffffu), "");
    LLVMValueRef big = icmp(e, LLVMIntUGE, s, ptx_jit_k64(e, (uint64_t)bits));
    LLVMValueRef s63 = sel(e, icmp(e, LLVMIntUGT, s, ptx_jit_k64(e, 63)), ptx_jit_k64(e, 63), s);
    if (in->op == OP_SHL) {
        LLVMValueRef r = ptx_jit_mask(e, LLVMBuildShl(B_, a, s63, ""), bits);
        return sel(e, big, ptx_jit_k64(e, 0), r);
    }
    if (ptx_type_is_signed(in->type)) /* shifting the extended value by >= bits fills signs */
        return ptx_jit_mask(e, LLVMBuildAShr(B_, ptx_jit_sext(e, a, bits), s63, ""), bits);
    LLVMValueRef r = LLVMBuildLShr(B_, ptx_jit_mask(e, a, bits), s63, "");
    return sel(e, big, ptx_jit_k64(e, 0), r);
}

static void emit_bits(jit_em *e, const ptx_insn *in)
{
    int pred = in->type == T_PRED, bits = pred ? 1 : in->bits;
    LLVMValueRef a = ptx_jit_src(e, in, 1), b = in->nops > 2 ? ptx_jit_src(e, in, 2) : a, r;
    if (in->o[1].neg)
        a = LLVMBuildXor(B_, a, ptx_jit_k64(e, 1), "");
    if (in->nops > 2 && in->o[2].neg)
        b = LLVMBuildXor(B_, b, ptx_jit_k64(e, 1), "");
    switch (in->op) {
    case OP_AND: r = ptx_jit_mask(e, LLVMBuildAnd(B_, a, b, ""), bits); break;
    case OP_OR: r = ptx_jit_mask(e, LLVMBuildOr(B_, a, b, ""), bits); break;
    case OP_XOR: r = ptx_jit_mask(e, LLVMBuildXor(B_, a, b, ""), bits); break;
    case OP_NOT: r = ptx_jit_mask(e, LLVMBuildNot(B_, a, ""), bits); break;
    case OP_CNOT:
        r = LLVMBuildZExt(B_, icmp(e, LLVMIntEQ, ptx_jit_mask(e, a, bits), ptx_jit_k64(e, 0)),
            e->vi64, "");
        break;
    case OP_SHL:
    case OP_SHR: r = shift(e, in, a, b, bits); break;
    case OP_POPC: r = intr1(e, "llvm.ctpop", ptx_jit_mask(e, a, bits)); break;
    case OP_CLZ:
        r = intr2(e, "llvm.ctlz", ptx_jit_mask(e, a, bits), LLVMConstInt(e->i1, 0, 0));
        r = LLVMBuildSub(B_, r, ptx_jit_k64(e, (uint64_t)(64 - bits)), "");
        break;
    default: /* brev: bit i goes to bits - 1 - i */
        r = LLVMBuildLShr(B_, intr1(e, "llvm.bitreverse", a), ptx_jit_k64(e, (uint64_t)(64 - bits)),
                          "");
        break;
    }
    ptx_jit_dst(e, in->o[0].reg, r);
}

static int check_bits(jit_em *e, const ptx_insn *in)
{
    switch (in->op) {
    case OP_AND: case OP_OR: case OP_XOR: case OP_NOT: case OP_CNOT: case OP_SHL: case OP_SHR:
    case OP_POPC: case OP_CLZ: case OP_BREV:
        if (in->type == T_PRED || (in->bits >= 8 && in->bits <= 64))
            return 0;
        break;
    default:
        break;
    }
    return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
}

/* ---- floating point (ptx_x_float) --------------------------------------------------------- */

static LLVMValueRef fconst(jit_em *e, LLVMTypeRef t, double v)
{
    if (LLVMGetTypeKind(t) == LLVMVectorTypeKind)
        return ptx_jit_splat(e, LLVMConstReal(LLVMGetElementType(t), v));
    return LLVMConstReal(t, v);
}

/* ftz32: subnormals become zero of the same sign */
static LLVMValueRef ftz(jit_em *e, LLVMValueRef x)
{
    LLVMValueRef sub = LLVMBuildFCmp(B_, LLVMRealOLT, intr1(e, "llvm.fabs", x),
                                     fconst(e, e->vf32, 0x1p-126), "");
    return sel(e, sub, intr2(e, "llvm.copysign", fconst(e, e->vf32, 0.0), x), x);
}

/* .sat: NaN to 0, then clamp to [0, 1] */
static LLVMValueRef sat(jit_em *e, LLVMValueRef x)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    LLVMValueRef zero = fconst(e, t, 0.0), one = fconst(e, t, 1.0);
    LLVMValueRef r = sel(e, LLVMBuildFCmp(B_, LLVMRealOGT, x, one, ""), one, x);
    r = sel(e, LLVMBuildFCmp(B_, LLVMRealOLT, x, zero, ""), zero, r);
    return sel(e, LLVMBuildFCmp(B_, LLVMRealUNO, x, x, ""), zero, r);
}

/* The interpreter's libm function, lane by lane in a gang (same function, same bits). */
static LLVMValueRef libm1(jit_em *e, const char *name, LLVMValueRef x)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind)
        return ptx_jit_call(e, name, t, &t, 1, &x);
    LLVMTypeRef et = LLVMGetElementType(t);
    LLVMValueRef r = LLVMGetUndef(t);
    for (unsigned i = 0; i < JIT_GANG; i++) {
        LLVMValueRef lane = LLVMBuildExtractElement(B_, x, ptx_jit_i32c(e, i), "");
        r = LLVMBuildInsertElement(B_, r, ptx_jit_call(e, name, et, &et, 1, &lane), ptx_jit_i32c(e,
            i), "");
    }
    return r;
}

static LLVMValueRef f_unary(jit_em *e, int op, LLVMValueRef a, int dbl)
{
    LLVMTypeRef t = LLVMTypeOf(a);
    switch (op) {
    case OP_ABS: return intr1(e, "llvm.fabs", a);
    case OP_NEG: return LLVMBuildFNeg(B_, a, "");
    case OP_RCP: return LLVMBuildFDiv(B_, fconst(e, t, 1.0), a, "");
    case OP_SQRT: return intr1(e, "llvm.sqrt", a);
    case OP_RSQRT: return LLVMBuildFDiv(B_, fconst(e, t, 1.0), intr1(e, "llvm.sqrt", a), "");
    case OP_EX2: return libm1(e, dbl ? "exp2" : "exp2f", a);
    case OP_LG2: return libm1(e, dbl ? "log2" : "log2f", a);
    case OP_SIN: return libm1(e, dbl ? "sin" : "sinf", a);
    case OP_COS: return libm1(e, dbl ? "cos" : "cosf", a);
    default: return libm1(e, dbl ? "tanh" : "tanhf", a);
    }
}

static LLVMValueRef f_minmax(jit_em *e, const ptx_insn *in, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef r = intr2(e, in->op == OP_MAX ? "llvm.maxnum" : "llvm.minnum", a, b);
    if (!(in->flags & F_NAN))
        return r;
    LLVMValueRef un = LLVMBuildFCmp(B_, LLVMRealUNO, a, b, "");
    return sel(e, un, fconst(e, LLVMTypeOf(a), NAN), r);
}

static void emit_float(jit_em *e, const ptx_insn *in)
{
    int dbl = in->type == T_F64, fz = !dbl && (in->flags & F_FTZ);
    LLVMValueRef a = ptx_jit_src(e, in, 1);
    LLVMValueRef b = in->nops > 2 ? ptx_jit_src(e, in, 2) : a, c = in->nops > 3 ? ptx_jit_src(e,
        in, 3) : a;
    a = dbl ? ptx_jit_to_f64(e, a) : ptx_jit_to_f32(e, a);
    b = dbl ? ptx_jit_to_f64(e, b) : ptx_jit_to_f32(e, b);
    c = dbl ? ptx_jit_to_f64(e, c) : ptx_jit_to_f32(e, c);
    LLVMValueRef r;
    if (in->op == OP_COPYSIGN) {
        r = intr2(e, "llvm.copysign", b, a);
    } else {
        if (fz) {
            a = ftz(e, a);
            b = ftz(e, b);
            c = ftz(e, c);
        }
        switch (in->op) {
        case OP_ADD: r = LLVMBuildFAdd(B_, a, b, ""); break;
        case OP_SUB: r = LLVMBuildFSub(B_, a, b, ""); break;
        case OP_MUL: r = LLVMBuildFMul(B_, a, b, ""); break;
        case OP_DIV: r = LLVMBuildFDiv(B_, a, b, ""); break;
        case OP_FMA:
        case OP_MAD: {
            LLVMValueRef v[3] = {a, b, c};
            r = ptx_jit_intrinsic(e, "llvm.fma", LLVMTypeOf(a), v, 3);
            break;
        }
        case OP_MIN:
        case OP_MAX: r = f_minmax(e, in, a, b); break;
        default: r = f_unary(e, in->op, a, dbl); break;
        }
    }
    if (fz)
        r = ftz(e, r);
    if (in->flags & F_SAT)
        r = sat(e, r);
    ptx_jit_dst(e, in->o[0].reg, dbl ? ptx_jit_from_f64(e, r) : ptx_jit_from_f32(e, r));
}

static int check_float(jit_em *e, const ptx_insn *in)
{
    if ((in->type != T_F32 && in->type != T_F64) || in->op == OP_TESTP ||
        (in->rnd != RND_NONE && in->rnd != RND_RN) ||
        (in->flags & ~(F_FTZ | F_SAT | F_APPROX | F_NAN)))
        return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
    return 0;
}

/* ---- setp / selp (ptx_x_setp) ------------------------------------------------------------- */

static LLVMValueRef compare(jit_em *e, const ptx_insn *in, LLVMValueRef a, LLVMValueRef b)
{
    static const LLVMRealPredicate fp[] = {
        [CMP_EQ] = LLVMRealOEQ, [CMP_NE] = LLVMRealONE, [CMP_LT] = LLVMRealOLT,
        [CMP_LE] = LLVMRealOLE, [CMP_GT] = LLVMRealOGT, [CMP_GE] = LLVMRealOGE,
        [CMP_EQU] = LLVMRealUEQ, [CMP_NEU] = LLVMRealUNE, [CMP_LTU] = LLVMRealULT,
        [CMP_LEU] = LLVMRealULE, [CMP_GTU] = LLVMRealUGT, [CMP_GEU] = LLVMRealUGE,
        [CMP_NUM] = LLVMRealORD, [CMP_NAN] = LLVMRealUNO,
    };
    int t = in->type;
    if (t == T_F32 || t == T_F64) {
        a = t == T_F64 ? ptx_jit_to_f64(e, a) : ptx_jit_to_f32(e, a);
        b = t == T_F64 ? ptx_jit_to_f64(e, b) : ptx_jit_to_f32(e, b);
        return LLVMBuildFCmp(B_, fp[in->cmp], a, b, "");
    }
    int bits = t == T_PRED ? 1 : ptx_type_bits(t), sgn = ptx_type_is_signed(t);
    LLVMValueRef ua = ptx_jit_mask(e, a, bits), ub = ptx_jit_mask(e, b, bits);
    LLVMValueRef sa = ptx_jit_sext(e, a, bits), sb = ptx_jit_sext(e, b, bits);
    switch (in->cmp) {
    case CMP_EQ: return icmp(e, LLVMIntEQ, ua, ub);
    case CMP_NE: return icmp(e, LLVMIntNE, ua, ub);
    case CMP_LT: return sgn ? icmp(e, LLVMIntSLT, sa, sb) : icmp(e, LLVMIntULT, ua, ub);
    case CMP_LE: return sgn ? icmp(e, LLVMIntSLE, sa, sb) : icmp(e, LLVMIntULE, ua, ub);
    case CMP_GT: return sgn ? icmp(e, LLVMIntSGT, sa, sb) : icmp(e, LLVMIntUGT, ua, ub);
    case CMP_GE: return sgn ? icmp(e, LLVMIntSGE, sa, sb) : icmp(e, LLVMIntUGE, ua, ub);
    case CMP_LO: return icmp(e, LLVMIntULT, ua, ub);
    case CMP_LS: return icmp(e, LLVMIntULE, ua, ub);
    case CMP_HI: return icmp(e, LLVMIntUGT, ua, ub);
    default: return icmp(e, LLVMIntUGE, ua, ub);
    }
}

static LLVMValueRef combine(jit_em *e, int op, LLVMValueRef r, LLVMValueRef c)
{
    switch (op) {
    case BOOL_AND: return LLVMBuildAnd(B_, r, c, "");
    case BOOL_OR: return LLVMBuildOr(B_, r, c, "");
    case BOOL_XOR: return LLVMBuildXor(B_, r, c, "");
    default: return r;
    }
}

static LLVMValueRef pred_of(jit_em *e, const ptx_insn *in, int idx)
{
    LLVMValueRef v = icmp(e, LLVMIntNE, ptx_jit_src(e, in, idx), ptx_jit_k64(e, 0));
    return in->o[idx].neg ? LLVMBuildNot(B_, v, "") : v;
}

static void emit_setp(jit_em *e, const ptx_insn *in)
{
    LLVMValueRef a = ptx_jit_src(e, in, 1), b = ptx_jit_src(e, in, 2);
    if (in->op == OP_SELP) {
        ptx_jit_dst(e, in->o[0].reg, sel(e, pred_of(e, in, 3), a, b));
        return;
    }
    int has_c = in->nops > 3;
    LLVMValueRef c = has_c ? pred_of(e, in, 3) : NULL;
    LLVMValueRef r = compare(e, in, a, b), q = LLVMBuildNot(B_, r, "");
    if (has_c) {
        r = combine(e, in->boolop, r, c);
        q = combine(e, in->boolop, q, c);
    }
    ptx_jit_dst(e, in->o[0].reg, LLVMBuildZExt(B_, r, e->vi64, ""));
    if (in->o[0].nvec)
        ptx_jit_dst(e, in->o[0].vec[0], LLVMBuildZExt(B_, q, e->vi64, ""));
}

static int check_setp(jit_em *e, const ptx_insn *in)
{
    int t = in->type;
    int ok_type = t == T_F32 || t == T_F64 || t == T_PRED ||
                  (!ptx_type_is_float(t) && in->bits >= 8 && in->bits <= 64);
    if (in->op == OP_SELP || (in->op == OP_SETP && ok_type && in->cmp >= CMP_EQ &&
                              in->cmp <= CMP_NAN &&
                              (t == T_F32 || t == T_F64 || in->cmp <= CMP_HS)))
        return 0;
    return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
}

/* ---- cvt (ptx_x_cvt) ---------------------------------------------------------------------- */

static int cvt_float(int t) { return t == T_F32 || t == T_F64; }
static int cvt_int(int t)
{
    return !ptx_type_is_float(t) && t != T_PRED && ptx_type_bits(t) >= 8 && ptx_type_bits(t) <= 64;
}

static LLVMValueRef round_int(jit_em *e, LLVMValueRef x, int rnd)
{
    switch (rnd) {
    case RND_RNI: return intr1(e, "llvm.nearbyint", x);
    case RND_RZI: return intr1(e, "llvm.trunc", x);
    case RND_RMI: return intr1(e, "llvm.floor", x);
    case RND_RPI: return intr1(e, "llvm.ceil", x);
    default: return x;
    }
}

/* float_to_int: NaN to 0, rounded (truncated by default), saturated to the destination */
static LLVMValueRef float_to_int(jit_em *e, LLVMValueRef x, int rnd, int bits, int sgn)
{
    x = round_int(e, x, rnd ? rnd : RND_RZI);
    LLVMValueRef nan = LLVMBuildFCmp(B_, LLVMRealUNO, x, x, ""), r;
    if (sgn) {
        double lo = -ldexp(1.0, bits - 1), hi = ldexp(1.0, bits - 1);
        uint64_t minv = bits == 64 ? (uint64_t)INT64_MIN : (uint64_t)(int64_t)lo;
        uint64_t maxv = bits == 64 ? (uint64_t)INT64_MAX : (uint64_t)((int64_t)hi - 1);
        LLVMValueRef big = LLVMBuildFCmp(B_, LLVMRealOGE, x, fconst(e, e->vf64, hi), "");
        LLVMValueRef small = LLVMBuildFCmp(B_, LLVMRealOLT, x, fconst(e, e->vf64, lo), "");
        LLVMValueRef safe = sel(e, LLVMBuildOr(B_, LLVMBuildOr(B_, big, small, ""), nan, ""),
                                fconst(e, e->vf64, 0.0), x);
        r = LLVMBuildFPToSI(B_, safe, e->vi64, "");
        r = sel(e, big, ptx_jit_k64(e, maxv), sel(e, small, ptx_jit_k64(e, minv), r));
        r = ptx_jit_mask(e, r, bits);
    } else {
        LLVMValueRef le0 = LLVMBuildFCmp(B_, LLVMRealOLE, x, fconst(e, e->vf64, 0.0), "");
        LLVMValueRef big = LLVMBuildFCmp(B_, LLVMRealOGE, x, fconst(e, e->vf64, ldexp(1.0, bits)),
            "");
        LLVMValueRef safe = sel(e, LLVMBuildOr(B_, LLVMBuildOr(B_, big, le0, ""), nan, ""),
                                fconst(e, e->vf64, 0.0), x);
        r = LLVMBuildFPToUI(B_, safe, e->vi64, "");
        r = sel(e, big, ptx_jit_k64(e, ptx_wmask(bits)), sel(e, le0, ptx_jit_k64(e, 0), r));
    }
    return sel(e, nan, ptx_jit_k64(e, 0), r);
}

/* write_float for f32/f64 destinations, x a double, round to nearest */
static LLVMValueRef write_float(jit_em *e, int dt, LLVMValueRef x, int flags)
{
    if (flags & F_SAT)
        x = sat(e, x);
    if (dt == T_F64)
        return ptx_jit_from_f64(e, x);
    LLVMValueRef f = LLVMBuildFPTrunc(B_, x, e->vf32, "");
    if (flags & F_FTZ)
        f = ftz(e, f);
    return ptx_jit_from_f32(e, f);
}

static LLVMValueRef cvt_int_int(jit_em *e, const ptx_insn *in, LLVMValueRef v, int sbits, int dbits)
{
    int ssg = ptx_type_is_signed(in->type2), dsg = ptx_type_is_signed(in->type);
    if (!(in->flags & F_SAT))
        return ptx_jit_mask(e, ssg ? ptx_jit_sext(e, v, sbits) : ptx_jit_mask(e, v, sbits), dbits);
    if (ssg) {
        LLVMValueRef x = ptx_jit_sext(e, v, sbits);
        int64_t lo = dsg ? (dbits == 64 ? INT64_MIN : -((int64_t)1 << (dbits - 1))) : 0;
        uint64_t hi = dsg ? ptx_wmask(dbits - 1) : ptx_wmask(dbits);
        LLVMValueRef neg = icmp(e, LLVMIntSLT, x, ptx_jit_k64(e, (uint64_t)lo));
        LLVMValueRef over = dsg ? icmp(e, LLVMIntSGT, x, ptx_jit_k64(e, hi))
                                : LLVMBuildAnd(B_, icmp(e, LLVMIntSGE, x, ptx_jit_k64(e, 0)),
                                               icmp(e, LLVMIntUGT, x, ptx_jit_k64(e, hi)), "");
        x = sel(e, neg, ptx_jit_k64(e, (uint64_t)lo), sel(e, over, ptx_jit_k64(e, hi), x));
        return ptx_jit_mask(e, x, dbits);
    }
    LLVMValueRef x = ptx_jit_mask(e, v, sbits);
    uint64_t hi = dsg ? ptx_wmask(dbits - 1) : ptx_wmask(dbits);
    return sel(e, icmp(e, LLVMIntUGT, x, ptx_jit_k64(e, hi)), ptx_jit_k64(e, hi), x);
}

static void emit_cvt(jit_em *e, const ptx_insn *in)
{
    int dt = in->type, st = in->type2, dbits = ptx_type_bits(dt), sbits = ptx_type_bits(st);
    LLVMValueRef v = ptx_jit_src(e, in, 1), r;
    if (cvt_float(st)) {
        LLVMValueRef x = st == T_F64 ? ptx_jit_to_f64(e, v) : ptx_jit_to_f32(e, v);
        if ((in->flags & F_FTZ) && st == T_F32)
            x = ftz(e, x);
        if (st == T_F32)
            x = LLVMBuildFPExt(B_, x, e->vf64, "");
        if (!cvt_float(dt))
            r = float_to_int(e, x, in->rnd, dbits, ptx_type_is_signed(dt));
        else
            r = write_float(e, dt, round_int(e, x, in->rnd), in->flags);
    } else if (cvt_float(dt)) {
        LLVMValueRef x = ptx_type_is_signed(st) ? ptx_jit_sext(e, v, sbits) : ptx_jit_mask(e, v,
            sbits);
        LLVMTypeRef ft = dt == T_F32 ? e->vf32 : e->vf64;
        x = ptx_type_is_signed(st) ? LLVMBuildSIToFP(B_, x, ft, "") : LLVMBuildUIToFP(B_, x, ft,
            "");
        if (dt == T_F32)
            x = LLVMBuildFPExt(B_, x, e->vf64, "");
        r = write_float(e, dt, x, in->flags);
    } else {
        r = cvt_int_int(e, in, v, sbits, dbits);
    }
    ptx_jit_dst(e, in->o[0].reg, r);
}

static int check_cvt(jit_em *e, const ptx_insn *in)
{
    int dt = in->type, st = in->type2, r = in->rnd;
    int ok = in->op == OP_CVT && (cvt_float(dt) || cvt_int(dt)) &&
             (cvt_float(st) || cvt_int(st)) && !(in->flags & ~(F_SAT | F_FTZ));
    if (ok && cvt_float(dt) && !cvt_float(st))
        ok = r == RND_NONE || r == RND_RN; /* other modes round the conversion itself */
    if (ok && cvt_float(dt) && cvt_float(st))
        ok = r == RND_NONE || r == RND_RN || r == RND_RNI ||
             ((r == RND_RZI || r == RND_RMI || r == RND_RPI) && !(dt == T_F32 && st == T_F64));
    if (ok && !cvt_float(dt) && cvt_float(st))
        ok = r == RND_NONE || (r >= RND_RNI && r <= RND_RPI);
    return ok ? 0 : ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
}

/* ---- mov / cvta (ptx_x_mov) --------------------------------------------------------------- */

static LLVMValueRef vec_elem(jit_em *e, const ptx_operand *o, int i)
{
    if (o->vec[i] >= UINT32_MAX - 1)
        return ptx_jit_k64(e, o->vimm[i]);
    return LLVMBuildLoad2(B_, e->vi64, e->regs[o->vec[i]], "");
}

static void emit_mov_vector(jit_em *e, const ptx_insn *in)
{
    const ptx_operand *d = &in->o[0], *s = &in->o[1];
    if (s->kind == OK_VEC) {
        int eb = in->bits / s->nvec;
        LLVMValueRef r = ptx_jit_k64(e, 0);
        for (int i = 0; i < s->nvec; i++)
            r = LLVMBuildOr(B_, r, LLVMBuildShl(B_, ptx_jit_mask(e, vec_elem(e, s, i), eb),
                                                ptx_jit_k64(e, (uint64_t)(i * eb)), ""), "");
        ptx_jit_dst(e, d->reg, r);
        return;
    }
    int eb = in->bits / d->nvec;
    LLVMValueRef v = ptx_jit_src(e, in, 1);
    for (int i = 0; i < d->nvec; i++)
        if (d->vec[i] < UINT32_MAX - 1)
            ptx_jit_dst(e, d->vec[i], ptx_jit_mask(e, LLVMBuildLShr(B_, v, ptx_jit_k64(e,
                (uint64_t)(i * eb)),
                                                            ""), eb));
}

static void emit_mov(jit_em *e, const ptx_insn *in)
{
    if (in->flags & F_NAN) { /* createpolicy */
        ptx_jit_dst(e, in->o[0].reg, ptx_jit_k64(e, 0));
        return;
    }
    if (in->o[0].kind == OK_VEC || in->o[1].kind == OK_VEC) {
        emit_mov_vector(e, in);
        return;
    }
    LLVMValueRef v = ptx_jit_src(e, in, 1), base;
    if (in->op == OP_MOV) {
        ptx_jit_dst(e, in->o[0].reg, ptx_jit_mask(e, v, in->type == T_PRED ? 1 : in->bits));
        return;
    }
    switch (in->space) {
    case SP_SHARED: base = ptx_jit_uniform(e, e->c[JC_SHARED]); break;
    case SP_PARAM: base = ptx_jit_uniform(e, e->c[JC_PARAMS]); break;
    case SP_LOCAL:
        base = LLVMBuildAdd(B_, ptx_jit_uniform(e, e->c[JC_LOCAL]),
                            LLVMBuildMul(B_, e->tv, ptx_jit_uniform(e, e->c[JC_LOCAL_PER_THREAD]),
                                ""),
                            "");
        break;
    default:
        ptx_jit_dst(e, in->o[0].reg, v);
        return;
    }
    ptx_jit_dst(e, in->o[0].reg, (in->flags & F_TO) ? LLVMBuildSub(B_, v, base, "")
                                                : LLVMBuildAdd(B_, v, base, ""));
}

static int check_mov(jit_em *e, const ptx_insn *in)
{
    if (in->op != OP_MOV && in->op != OP_CVTA)
        return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
    const ptx_operand *d = &in->o[0], *s = &in->o[1];
    if (d->kind == OK_VEC || s->kind == OK_VEC) {
        int n = d->kind == OK_VEC ? d->nvec : s->nvec;
        if (in->op != OP_MOV || n == 0 || (d->kind == OK_VEC && s->kind != OK_REG) ||
            (s->kind == OK_VEC && d->kind != OK_REG) || in->bits > 64)
            return ptx_jit_unsupported(e, "vector '%s' at line %u", in->name, in->line);
    } else if (d->kind != OK_REG) {
        return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
    }
    return 0;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

int ptx_jit_check_op(jit_em *e, const ptx_insn *in)
{
    if (in->o[0].kind != OK_REG && in->o[0].kind != OK_VEC)
        return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
    if (in->exec == ptx_x_int)
        return check_int(e, in);
    if (in->exec == ptx_x_bits)
        return check_bits(e, in);
    if (in->exec == ptx_x_float)
        return check_float(e, in);
    if (in->exec == ptx_x_setp)
        return check_setp(e, in);
    if (in->exec == ptx_x_cvt)
        return check_cvt(e, in);
    if (in->exec == ptx_x_mov)
        return check_mov(e, in);
    return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
}

int ptx_jit_op(jit_em *e, const ptx_insn *in)
{
    if (in->exec == ptx_x_int)
        emit_int(e, in);
    else if (in->exec == ptx_x_bits)
        emit_bits(e, in);
    else if (in->exec == ptx_x_float)
        emit_float(e, in);
    else if (in->exec == ptx_x_setp)
        emit_setp(e, in);
    else if (in->exec == ptx_x_cvt)
        emit_cvt(e, in);
    else
        emit_mov(e, in);
    return 0;
}
