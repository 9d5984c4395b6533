/*
 * Typed lanes for the gang copy (ptx_jit_gang.c): a register whose every value has its upper
 * 32 bits zero (an f32, a u32, a predicate) is kept as <JIT_GANG x i32> instead of
 * <JIT_GANG x i64>. The registers stay 64-bit slots in the translator's model (ptx_jit_emit.h);
 * this pass rewrites the finished gang copy's allocas so that LLVM sees the narrow type at the
 * loop phis: eight f32 lanes then take one AVX2 register instead of two, and the truncations
 * and extensions a 64-bit phi needs around every f32 operation (latency on each iteration's
 * critical path) disappear. Same bits by construction: a register is narrowed only when every
 * value stored to it is provably below 2^32 (a zext from 32 bits or less, an `and` with such a
 * mask, a constant, a select or lane insert of such values, or a load of a narrowed
 * register); a store that reloads a register from its spill row at a resume point holds a
 * value saved from the same register, and registers the interpreter writes there (the warp
 * operations' meetings) are left wide by the caller.
 * Calls the LLVM C API only.
 */
#include <stdlib.h>

#include "ptx_jit_emit.h"

typedef struct narrow {
    LLVMValueRef *regs;        /* the gang's allocas */
    uint32_t nregs;
    uint8_t *cand;             /* still a candidate for the narrow type */
    LLVMValueRef *trusted;     /* resume stores: the register's own value back */
    size_t ntrusted;
} narrow;

static int reg_of(const narrow *n, LLVMValueRef ptr)
{
    for (uint32_t r = 0; r < n->nregs; r++)
        if (n->regs[r] == ptr)
            return (int)r;
    return -1;
}

static int const_narrow(LLVMValueRef v)
{
    if (LLVMIsUndef(v) || LLVMIsNull(v))
        return 1;
    if (LLVMIsAConstantInt(v))
        return LLVMConstIntGetZExtValue(v) <= UINT32_MAX;
    LLVMTypeRef t = LLVMTypeOf(v);
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind ||
        !(LLVMIsAConstantDataVector(v) || LLVMIsAConstantVector(v)))
        return 0;
    for (unsigned i = 0; i < LLVMGetVectorSize(t); i++) {
        LLVMValueRef el = LLVMGetElementAsConstant(v, i);
        if (!el || !const_narrow(el))
            return 0;
    }
    return 1;
}

static unsigned elem_bits(LLVMValueRef v)
{
    LLVMTypeRef t = LLVMTypeOf(v);
    if (LLVMGetTypeKind(t) == LLVMVectorTypeKind)
        t = LLVMGetElementType(t);
    return LLVMGetTypeKind(t) == LLVMIntegerTypeKind ? LLVMGetIntTypeWidth(t) : 64;
}

/* Is v (an i64 or a vector of i64) below 2^32 in every lane? Structural, so conservative. */
static int is_narrow(const narrow *n, LLVMValueRef v, int depth)
{
    if (LLVMIsAConstant(v))
        return const_narrow(v);
    if (!LLVMIsAInstruction(v) || depth > 12)
        return 0;
    switch (LLVMGetInstructionOpcode(v)) {
    case LLVMZExt: return elem_bits(LLVMGetOperand(v, 0)) <= 32;
    case LLVMAnd:
        return is_narrow(n, LLVMGetOperand(v, 0), depth + 1) ||
               is_narrow(n, LLVMGetOperand(v, 1), depth + 1);
    case LLVMSelect:
        return is_narrow(n, LLVMGetOperand(v, 1), depth + 1) &&
               is_narrow(n, LLVMGetOperand(v, 2), depth + 1);
    case LLVMInsertElement:
    case LLVMShuffleVector:
        return is_narrow(n, LLVMGetOperand(v, 0), depth + 1) &&
               is_narrow(n, LLVMGetOperand(v, 1), depth + 1);
    case LLVMLoad: {
        int r = reg_of(n, LLVMGetOperand(v, 0));
        return r >= 0 && n->cand[r];
    }
    default: return 0;
    }
}

static int trusted(const narrow *n, LLVMValueRef st)
{
    for (size_t i = 0; i < n->ntrusted; i++)
        if (n->trusted[i] == st)
            return 1;
    return 0;
}

/* Drops candidates with a store of a value that may be wide, or any other use, until none
 * changes (a load of another register is narrow only while that one is). */
static void settle(narrow *n)
{
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t r = 0; r < n->nregs; r++) {
            if (!n->cand[r])
                continue;
            for (LLVMUseRef u = LLVMGetFirstUse(n->regs[r]); u && n->cand[r];
                 u = LLVMGetNextUse(u)) {
                LLVMValueRef user = LLVMGetUser(u);
                int ok = 0;
                if (LLVMIsALoadInst(user))
                    ok = 1;
                else if (LLVMIsAStoreInst(user) && LLVMGetOperand(user, 1) == n->regs[r])
                    ok = trusted(n, user) || is_narrow(n, LLVMGetOperand(user, 0), 0);
                if (!ok)
                    n->cand[r] = 0, changed = 1;
            }
        }
    }
}

/* Replaces register r's <G x i64> alloca by a <G x i32> one: stores truncate, loads extend. */
static void rewrite(jit_em *e, LLVMValueRef old)
{
    LLVMTypeRef v32 = LLVMVectorType(e->i32, JIT_GANG), v64 = LLVMVectorType(e->i64, JIT_GANG);
    LLVMPositionBuilderBefore(e->b, old);
    LLVMValueRef a = LLVMBuildAlloca(e->b, v32, "n");
    size_t nu = 0, cap = 16;
    LLVMValueRef *users = malloc(cap * sizeof *users);
    for (LLVMUseRef u = LLVMGetFirstUse(old); u && users; u = LLVMGetNextUse(u)) {
        if (nu == cap) {
            LLVMValueRef *m = realloc(users, 2 * cap * sizeof *users);
            if (!m)
                break;
            users = m, cap *= 2;
        }
        users[nu++] = LLVMGetUser(u);
    }
    for (size_t i = 0; users && i < nu; i++) {
        LLVMValueRef in = users[i];
        LLVMPositionBuilderBefore(e->b, in);
        if (LLVMIsALoadInst(in)) {
            LLVMValueRef w = LLVMBuildZExt(e->b, LLVMBuildLoad2(e->b, v32, a, ""), v64, "");
            LLVMReplaceAllUsesWith(in, w);
        } else {
            LLVMBuildStore(e->b, LLVMBuildTrunc(e->b, LLVMGetOperand(in, 0), v32, ""), a);
        }
        LLVMInstructionEraseFromParent(in);
    }
    if (users && !LLVMGetFirstUse(old))
        LLVMInstructionEraseFromParent(old);
    free(users);
}

int ptx_jit_narrow_regs(jit_em *e, LLVMValueRef *regs, uint32_t nregs, const uint8_t *wide,
                        LLVMValueRef *trusted_stores, size_t ntrusted)
{
    narrow n = {regs, nregs, calloc(nregs ? nregs : 1, 1), trusted_stores, ntrusted};
    if (!n.cand)
        return 0;
    for (uint32_t r = 0; r < nregs; r++)
        n.cand[r] = !wide[r];
    settle(&n);
    LLVMBasicBlockRef here = LLVMGetInsertBlock(e->b);
    int count = 0;
    for (uint32_t r = 0; r < nregs; r++)
        if (n.cand[r]) {
            rewrite(e, regs[r]);
            count++;
        }
    if (here)
        LLVMPositionBuilderAtEnd(e->b, here);
    free(n.cand);
    return count;
}
