/*
 * The per-instruction fallback of the translator: an instruction the JIT does not translate
 * itself (half precision, bfe/bfi/prmt/lop3 and the other rare bit operations, carry chains,
 * directed rounding, textures and surfaces, cp.async, mbarrier, special registers it does not
 * compute, ...) becomes a call of the interpreter's own executor for this thread, or for the
 * gang's lanes at once (ptx_jit_rt_exec, ptx_jit_warp.c): its registers go to a buffer, the
 * executor runs on a warp made of them, the results come back. The rest of the kernel stays
 * compiled, and the instruction gives the interpreter's bits because it is the interpreter's
 * code. A call costs far more than a translated instruction, so what is common (f32/f64/
 * integer arithmetic, loads and stores) stays in ptx_jit_emit_ops.c / ptx_jit_emit_mem.c.
 *
 * A thread that waits (an mbarrier test_wait/try_wait not yet complete, nanosleep) yields at
 * its next loop back edge instead of after JIT_YIELD_EDGES of them: it spins on what other
 * threads of its block must do (arrive), and they run only when it stops.
 *
 * The carry flag (add.cc, addc, mad.cc, ...) is register slot nregs of the kernel's frame:
 * a flag kept in generated code between an instruction that sets it and the one that reads it
 * in the same basic block (ptx_jit_callout_carry_ok); across a block it is not supported.
 *
 * Calls the LLVM C API and the helpers of ptx_jit_emit.c.
 */
#include "ptx_jit_emit.h"

#define B_ (e->b)

int ptx_jit_callout_ok(const ptx_insn *in)
{
    if (!in->exec || ptx_jit_is_warp_op(in))
        return 0;
    switch (in->op) {
    case OP_BAR: case OP_BAR_ARRIVE: case OP_BAR_RED: case OP_CALL: case OP_BRA: case OP_RET:
    case OP_EXIT: case OP_TRAP:
        return 0; /* the scheduler's (exec is NULL for them; kept here in case that changes) */
    default:
        break;
    }
    for (int i = 0; i < in->nops; i++) {
        const ptx_operand *o = &in->o[i];
        if (o->kind == OK_LABEL || o->kind == OK_FUNC)
            return 0;
        if ((o->kind == OK_SYM || (o->kind == OK_ADDR && o->sym_kind)) &&
            (o->sym_kind == SYM_FPARAM || o->sym_kind == SYM_FUNC))
            return 0; /* a frame's parameters or a function: no calls in compiled kernels */
    }
    return 1;
}

/* pc reads the carry flag: an instruction before it in its basic block must set it. */
int ptx_jit_callout_carry_ok(const jit_em *e, uint32_t pc)
{
    for (uint32_t p = pc; p-- > 0;) {
        const ptx_insn *in = &e->f->code[p];
        if (in->flags & F_CC)
            return 1;
        if (e->live.leader[p + 1] || !in->exec)
            return 0;
    }
    return 0;
}

/* Whether the executor may write reg: any of an instruction's registers, but only the loaded
 * ones of a load or an atomic and none of a store (so that the others keep the values the
 * translator knows, ptx_jit_narrow.c's typed lanes among them). */
static int written(const ptx_insn *in, uint32_t reg)
{
    if (in->op == OP_ST || in->op == OP_RED)
        return 0;
    if (in->op == OP_ATOM)
        return in->o[0].kind != OK_REG || in->o[0].reg == reg;
    if (in->op != OP_LD)
        return 1;
    const ptx_operand *d = &in->o[0];
    if (d->kind == OK_REG)
        return d->reg == reg || (d->nvec && d->vec[0] == reg);
    if (d->kind == OK_VEC)
        for (int i = 0; i < d->nvec; i++)
            if (d->vec[i] == reg)
                return 1;
    return d->kind != OK_REG && d->kind != OK_VEC;
}

static LLVMValueRef callout_buf(jit_em *e)
{
    if (!e->cbuf) { /* in the entry block: an alloca inside the loops would grow the stack */
        LLVMBasicBlockRef here = LLVMGetInsertBlock(B_);
        LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(e->fn);
        LLVMPositionBuilder(B_, entry, LLVMGetFirstInstruction(entry));
        LLVMValueRef a = LLVMBuildAlloca(B_, LLVMArrayType(e->i64,
                                                           (JIT_INSN_REGS + 1) * JIT_GANG), "cb");
        LLVMSetAlignment(a, 64);
        e->cbuf = LLVMBuildBitCast(B_, a, e->p64, "");
        LLVMPositionBuilderAtEnd(B_, here);
    }
    return e->cbuf;
}

/* &buf[slot * lanes] as a pointer to a register value */
static LLVMValueRef slot_ptr(jit_em *e, int slot)
{
    LLVMValueRef i = ptx_jit_i64c(e, (uint64_t)slot * (e->gang ? JIT_GANG : 1));
    LLVMValueRef p = LLVMBuildInBoundsGEP2(B_, e->i64, callout_buf(e), &i, 1, "");
    return e->gang ? LLVMBuildBitCast(B_, p, LLVMPointerType(e->vi64, 0), "") : p;
}

int ptx_jit_callout(jit_em *e, const ptx_insn *in, LLVMValueRef mask)
{
    uint32_t regs[JIT_INSN_REGS];
    int n = ptx_jit_insn_regs(in, e->f->nregs, regs);
    int carry = (in->flags & (F_CC | F_CARRYIN)) != 0;
    for (int s = 0; s < n; s++)
        LLVMSetAlignment(LLVMBuildStore(B_, LLVMBuildLoad2(B_, e->vi64, e->regs[regs[s]], ""),
                                        slot_ptr(e, s)), 8);
    if (carry)
        LLVMSetAlignment(LLVMBuildStore(B_, LLVMBuildLoad2(B_, e->vi64, e->regs[e->f->nregs], ""),
                                        slot_ptr(e, n)), 8);
    LLVMValueRef m = ptx_jit_i32c(e, e->gang ? (uint32_t)(((uint64_t)1 << JIT_GANG) - 1) : 1);
    if (mask) /* the gang's guard, a bit per lane */
        m = LLVMBuildZExt(B_, LLVMBuildBitCast(B_, mask, LLVMIntTypeInContext(e->cx, JIT_GANG),
                                               ""), e->i32, "");
    LLVMTypeRef ta[6] = {e->p64, e->i32, e->i32, e->i32, e->i32, e->p64};
    LLVMValueRef a[6] = {e->ctx, ptx_jit_i32c(e, e->pc), e->t,
                         ptx_jit_i32c(e, e->gang ? JIT_GANG : 1), m, callout_buf(e)};
    LLVMValueRef ok = ptx_jit_call(e, "ptx_jit_rt_exec", e->i32, ta, 6, a);
    LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(e->cx, e->fn, "ran");
    LLVMBuildCondBr(B_, LLVMBuildICmp(B_, LLVMIntNE, ok, ptx_jit_i32c(e, 0), ""), cont, e->fail);
    LLVMPositionBuilderAtEnd(B_, cont);
    if (in->op == OP_MBARRIER || in->op == OP_NANOSLEEP) { /* waiting: yield at the next */
        LLVMValueRef left = LLVMBuildLoad2(B_, e->i32, e->budget, ""); /* back edge */
        LLVMBuildStore(B_, LLVMBuildSelect(B_, LLVMBuildICmp(B_, LLVMIntEQ, ok, ptx_jit_i32c(e, 2),
                                                             ""), ptx_jit_i32c(e, 1), left, ""),
                       e->budget);
    }
    int narrow = in->op == OP_LD && in->bits <= 32 && !ptx_type_is_signed(in->type);
    for (int s = 0; s < n; s++) {
        if (!written(in, regs[s]))
            continue;
        LLVMValueRef v = LLVMBuildLoad2(B_, e->vi64, slot_ptr(e, s), "");
        LLVMSetAlignment(v, 8);
        if (narrow) /* zero-extended by the executor: says so to ptx_jit_narrow.c */
            v = ptx_jit_mask(e, v, 32);
        LLVMBuildStore(B_, v, e->regs[regs[s]]);
    }
    if (carry) {
        LLVMValueRef v = LLVMBuildLoad2(B_, e->vi64, slot_ptr(e, n), "");
        LLVMSetAlignment(v, 8);
        LLVMBuildStore(B_, v, e->regs[e->f->nregs]);
    }
    return 0;
}

/* trap: fails the launch as the interpreter does (the first lane of the gang whose guard
 * holds, or the thread). */
void ptx_jit_trap(jit_em *e, LLVMValueRef mask)
{
    LLVMValueRef t = e->t;
    if (mask) {
        LLVMValueRef bits = LLVMBuildZExt(B_, LLVMBuildBitCast(B_, mask, LLVMIntTypeInContext(
                                              e->cx, JIT_GANG), ""), e->i32, "");
        LLVMValueRef zero = LLVMConstInt(e->i1, 0, 0), v[2] = {bits, zero};
        t = LLVMBuildAdd(B_, t, ptx_jit_intrinsic(e, "llvm.cttz", e->i32, v, 2), "");
    }
    LLVMTypeRef ta[3] = {e->p64, e->i32, e->i32};
    LLVMValueRef a[3] = {e->ctx, ptx_jit_i32c(e, e->pc), t};
    ptx_jit_call(e, "ptx_jit_rt_trap", e->vd, ta, 3, a);
    LLVMBuildBr(B_, e->fail);
}
