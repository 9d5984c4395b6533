/*
 * The translator's memory side: special registers, symbol addresses, ld/st of every state
 * space and atom/red. Accesses are checked as the interpreter checks them: global and const
 * addresses against the device memory map (devmem.h's pages, inline: range, alignment, both
 * end pages), shared/local/param against their windows, inline; anything that fails the fast
 * check, and every generic address, goes to ptx_jit_rt_translate, which is the interpreter's
 * ptx_translate: it classifies the address, fails the launch with the interpreter's error
 * (CUDA_ERROR_ILLEGAL_ADDRESS / MISALIGNED with the kernel, line, block and thread) or returns
 * the host pointer. Atomics call ptx_jit_rt_atom (the host's atomics, as the interpreter).
 * Calls the LLVM C API and the helpers of ptx_jit_emit*.c.
 */
#include "ptx_jit_emit.h"

#define B_ (e->b)

/* ---- special registers and symbols -------------------------------------------------------- */

int ptx_jit_check_sreg(jit_em *e, int sr)
{
    if ((sr >= SR_TID_X && sr <= SR_NCTAID_Z) || sr == SR_LANEID || sr == SR_WARPID ||
        sr == SR_NWARPID || (sr >= SR_LANEMASK_EQ && sr <= SR_LANEMASK_GT) || sr == SR_ZERO)
        return 0;
    return ptx_jit_unsupported(e, "special register %d", sr);
}

LLVMValueRef ptx_jit_sreg(jit_em *e, int sr)
{
    if (sr >= SR_TID_X && sr <= SR_TID_Z)
        return e->tid[sr - SR_TID_X];
    if (sr >= SR_NTID_X && sr <= SR_NCTAID_Z)
        return ptx_jit_uniform(e, e->c[JC_NTID_X + (sr - SR_NTID_X)]);
    LLVMValueRef t = e->tv;
    LLVMValueRef lane = LLVMBuildAnd(B_, t, ptx_jit_k64(e, PTX_WARP - 1), "");
    switch (sr) {
    case SR_LANEID: return lane;
    case SR_WARPID: return LLVMBuildLShr(B_, t, ptx_jit_k64(e, 5), "");
    case SR_NWARPID:
        return ptx_jit_uniform(e, LLVMBuildLShr(B_, LLVMBuildAdd(B_, e->c[JC_NTHREADS],
                                                             ptx_jit_i64c(e, 31), ""),
                                            ptx_jit_i64c(e, 5), ""));
    case SR_ZERO: return ptx_jit_k64(e, 0);
    default: break;
    }
    /* lane masks, 32-bit values as the interpreter keeps them */
    LLVMValueRef eq = LLVMBuildShl(B_, ptx_jit_k64(e, 1), lane, "");
    LLVMValueRef lt = LLVMBuildSub(B_, eq, ptx_jit_k64(e, 1), ""), r;
    switch (sr) {
    case SR_LANEMASK_EQ: r = eq; break;
    case SR_LANEMASK_LT: r = lt; break;
    case SR_LANEMASK_LE: r = LLVMBuildOr(B_, lt, eq, ""); break;
    case SR_LANEMASK_GE: r = LLVMBuildNot(B_, lt, ""); break;
    default: r = LLVMBuildNot(B_, LLVMBuildOr(B_, lt, eq, ""), ""); break;
    }
    return ptx_jit_mask(e, r, 32);
}

int ptx_jit_check_sym(jit_em *e, int kind)
{
    switch (kind) {
    case SYM_GLOBAL: case SYM_SHARED: case SYM_DYNSHARED: case SYM_LOCAL: case SYM_KPARAM:
        return 0;
    default:
        return ptx_jit_unsupported(e, "symbol kind %d", kind);
    }
}

/* ptx_sym_value for the entry frame (whose depot starts at local offset 0) */
LLVMValueRef ptx_jit_sym(jit_em *e, int kind, uint64_t sym)
{
    switch (kind) {
    case SYM_GLOBAL: {
        LLVMValueRef g = LLVMBuildIntToPtr(B_, e->c[JC_GLOBALS], e->p64, "");
        LLVMValueRef i = ptx_jit_i64c(e, sym);
        return ptx_jit_uniform(e, LLVMBuildLoad2(B_, e->i64,
                                             LLVMBuildInBoundsGEP2(B_, e->i64, g, &i, 1, ""), ""));
    }
    case SYM_DYNSHARED: return ptx_jit_uniform(e, e->c[JC_DYN_OFFSET]);
    default: return ptx_jit_k64(e, sym);
    }
}

/* ---- addresses ---------------------------------------------------------------------------- */

/* [reg + symbol + offset] as a register value (a lane per thread in a gang) */
LLVMValueRef ptx_jit_operand_addr(jit_em *e, const ptx_operand *o)
{
    LLVMValueRef a = ptx_jit_k64(e, o->imm);
    if (o->sym_kind)
        a = LLVMBuildAdd(B_, a, ptx_jit_sym(e, o->sym_kind, o->sym), "");
    if (o->reg != UINT32_MAX)
        a = LLVMBuildAdd(B_, a, LLVMBuildLoad2(B_, e->vi64, e->regs[o->reg], ""), "");
    return a;
}

static LLVMValueRef slow_translate(jit_em *e, int space, LLVMValueRef addr, unsigned size,
                                   int write)
{
    LLVMTypeRef ta[7] = {e->p64, e->i32, e->i32, e->i64, e->i32, e->i32, e->i32};
    LLVMValueRef a[7] = {e->ctx, ptx_jit_i32c(e, e->pc), ptx_jit_i32c(e, (uint32_t)space), addr,
                         ptx_jit_i32c(e, size), e->t, ptx_jit_i32c(e, (uint32_t)write)};
    return ptx_jit_call(e, "ptx_jit_rt_translate", e->p8, ta, 7, a);
}

static LLVMValueRef byte(jit_em *e, LLVMValueRef base, LLVMValueRef off)
{
    return LLVMBuildInBoundsGEP2(B_, e->i8, LLVMBuildIntToPtr(B_, base, e->p8, ""), &off, 1, "");
}

/* [addr, addr+size) inside [0, limit) and aligned to align */
static LLVMValueRef window_ok_al(jit_em *e, LLVMValueRef addr, LLVMValueRef limit, unsigned size,
                                 unsigned align)
{
    LLVMValueRef in = LLVMBuildICmp(B_, LLVMIntULT, addr, limit, "");
    LLVMValueRef room = LLVMBuildICmp(B_, LLVMIntUGE, LLVMBuildSub(B_, limit, addr, ""),
                                      ptx_jit_i64c(e, size), "");
    LLVMValueRef ok = LLVMBuildAnd(B_, in, room, "");
    if (align > 1) {
        LLVMValueRef mis = LLVMBuildAnd(B_, addr, ptx_jit_i64c(e, align - 1), "");
        ok = LLVMBuildAnd(B_, ok, LLVMBuildICmp(B_, LLVMIntEQ, mis, ptx_jit_i64c(e, 0), ""), "");
    }
    return ok;
}

static LLVMValueRef window_ok(jit_em *e, LLVMValueRef addr, LLVMValueRef limit, unsigned size)
{
    return window_ok_al(e, addr, limit, size, size);
}

/* The global fast check: aligned, inside the device range, first and last page accessible. */
static LLVMValueRef global_fast(jit_em *e, LLVMValueRef addr, unsigned size, unsigned align,
                                LLVMBasicBlockRef slow)
{
    LLVMValueRef base = e->c[JC_MEM_BASE];
    LLVMValueRef off = LLVMBuildSub(B_, addr, base, "");
    LLVMValueRef span = LLVMBuildSub(B_, e->c[JC_MEM_LIMIT], base, "");
    LLVMValueRef ok = LLVMBuildAnd(B_, LLVMBuildICmp(B_, LLVMIntUGE, addr, base, ""),
                                   window_ok_al(e, off, span, size, align), "");
    LLVMBasicBlockRef pages = LLVMAppendBasicBlockInContext(e->cx, e->fn, "pages");
    LLVMBuildCondBr(B_, ok, pages, slow);
    LLVMPositionBuilderAtEnd(B_, pages);
    LLVMValueRef first = LLVMBuildLShr(B_, off, ptx_jit_i64c(e, SG_PAGE_SHIFT), "");
    LLVMValueRef last = LLVMBuildLShr(B_, LLVMBuildAdd(B_, off, ptx_jit_i64c(e, size - 1), ""),
                                      ptx_jit_i64c(e, SG_PAGE_SHIFT), "");
    LLVMValueRef p0 = LLVMBuildLoad2(B_, e->i8, byte(e, e->c[JC_MEM_PAGES], first), "");
    LLVMValueRef p1 = LLVMBuildLoad2(B_, e->i8, byte(e, e->c[JC_MEM_PAGES], last), "");
    LLVMValueRef both = LLVMBuildAnd(B_, LLVMBuildICmp(B_, LLVMIntNE, p0, LLVMConstInt(e->i8, 0,
        0), ""),
                                     LLVMBuildICmp(B_, LLVMIntNE, p1, LLVMConstInt(e->i8, 0, 0),
                                         ""),
                                     "");
    return both;
}

/* The host pointer of a checked access; on failure the thread's turn ends at e->fail. */
LLVMValueRef ptx_jit_checked_ptr(jit_em *e, int space, LLVMValueRef addr, unsigned size, int write)
{
    LLVMBasicBlockRef slow = LLVMAppendBasicBlockInContext(e->cx, e->fn, "slow");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(e->cx, e->fn, "ok");
    LLVMValueRef ok, fast = NULL;
    switch (space) {
    case SP_GLOBAL:
    case SP_CONST:
        ok = global_fast(e, addr, size, size, slow);
        fast = LLVMBuildIntToPtr(B_, addr, e->p8, "");
        break;
    case SP_SHARED:
        ok = window_ok(e, addr, e->c[JC_SHARED_SIZE], size);
        fast = byte(e, e->c[JC_SHARED], addr);
        break;
    case SP_LOCAL: {
        ok = window_ok(e, addr, e->c[JC_LOCAL_PER_THREAD], size);
        LLVMValueRef row = LLVMBuildMul(B_, LLVMBuildZExt(B_, e->t, e->i64, ""),
                                        e->c[JC_LOCAL_PER_THREAD], "");
        fast = byte(e, e->c[JC_LOCAL], LLVMBuildAdd(B_, row, addr, ""));
        break;
    }
    case SP_PARAM:
        ok = write ? LLVMConstInt(e->i1, 0, 0) : window_ok(e, addr, e->c[JC_PARAM_BYTES], size);
        fast = byte(e, e->c[JC_PARAMS], addr);
        break;
    default: /* generic: the interpreter classifies it */
        ok = LLVMConstInt(e->i1, 0, 0);
        break;
    }
    LLVMBasicBlockRef from_fast = LLVMGetInsertBlock(B_);
    LLVMBuildCondBr(B_, ok, join, slow);
    LLVMPositionBuilderAtEnd(B_, slow);
    LLVMValueRef p = slow_translate(e, space, addr, size, write);
    LLVMBasicBlockRef from_slow = LLVMGetInsertBlock(B_);
    LLVMValueRef null = LLVMBuildIsNull(B_, p, "");
    LLVMBuildCondBr(B_, null, e->fail, join);
    LLVMPositionBuilderAtEnd(B_, join);
    LLVMValueRef phi = LLVMBuildPhi(B_, e->p8, "ptr");
    LLVMValueRef vals[2] = {fast ? fast : LLVMConstNull(e->p8), p};
    LLVMBasicBlockRef from[2] = {from_fast, from_slow};
    LLVMAddIncoming(phi, vals, from, 2);
    return phi;
}

/* The host pointer of [addr, addr+size) in a global, const or shared window, aligned to align,
 * when the fast checks pass; else a branch to bad (nothing reported). */
LLVMValueRef ptx_jit_range_ptr(jit_em *e, int space, LLVMValueRef addr, unsigned size,
                           unsigned align, LLVMBasicBlockRef bad)
{
    LLVMValueRef ok, p;
    if (space == SP_SHARED) {
        ok = window_ok_al(e, addr, e->c[JC_SHARED_SIZE], size, align);
        p = byte(e, e->c[JC_SHARED], addr);
    } else {
        ok = global_fast(e, addr, size, align, bad);
        p = LLVMBuildIntToPtr(B_, addr, e->p8, "");
    }
    LLVMBasicBlockRef good = LLVMAppendBasicBlockInContext(e->cx, e->fn, "inrange");
    LLVMBuildCondBr(B_, ok, good, bad);
    LLVMPositionBuilderAtEnd(B_, good);
    return p;
}

/* The host pointer through the runtime's full check (the interpreter's ptx_translate) for
 * thread e->t: a call instead of inline checks, for the gang's lane-by-lane path, whose
 * eight copies of the inline checks made large kernels slow to compile. */
LLVMValueRef ptx_jit_translated_ptr(jit_em *e, int space, LLVMValueRef addr, unsigned size,
    int write)
{
    LLVMValueRef p = slow_translate(e, space, addr, size, write);
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(e->cx, e->fn, "translated");
    LLVMBuildCondBr(B_, LLVMBuildIsNull(B_, p, ""), e->fail, ok);
    LLVMPositionBuilderAtEnd(B_, ok);
    return p;
}

/* ---- ld / st ------------------------------------------------------------------------------ */

static LLVMValueRef store_value(jit_em *e, const ptx_operand *vo, int i)
{
    if (vo->kind == OK_IMM)
        return ptx_jit_i64c(e, vo->imm);
    if (vo->kind == OK_VEC) {
        if (vo->vec[i] == UINT32_MAX - 1)
            return ptx_jit_i64c(e, vo->vimm[i]);
        if (vo->vec[i] == UINT32_MAX)
            return ptx_jit_i64c(e, 0);
        return LLVMBuildLoad2(B_, e->i64, e->regs[vo->vec[i]], "");
    }
    return LLVMBuildLoad2(B_, e->i64, e->regs[vo->reg], "");
}

/* element j (of esz bytes, type et) of an access at host pointer p */
LLVMValueRef ptx_jit_elem_ptr(jit_em *e, LLVMValueRef p, unsigned j, unsigned esz, LLVMTypeRef et)
{
    LLVMValueRef off = ptx_jit_i64c(e, (uint64_t)j * esz);
    return LLVMBuildBitCast(B_, LLVMBuildInBoundsGEP2(B_, e->i8, p, &off, 1, ""),
                            LLVMPointerType(et, 0), "");
}

/* a loaded element as its register holds it: sign-extended for signed types */
LLVMValueRef ptx_jit_load_elem(jit_em *e, const ptx_insn *in, LLVMValueRef ep, unsigned esz,
                           LLVMTypeRef et)
{
    LLVMValueRef v = LLVMBuildLoad2(B_, et, ep, "");
    LLVMSetAlignment(v, esz);
    return ptx_type_is_signed(in->type) ? LLVMBuildSExt(B_, v, e->i64, "")
                                        : LLVMBuildZExt(B_, v, e->i64, "");
}

static int emit_ld_st(jit_em *e, const ptx_insn *in)
{
    int st = in->op == OP_ST, bits = in->bits;
    const ptx_operand *ao = &in->o[st ? 0 : 1], *vo = &in->o[st ? 1 : 0];
    unsigned esz = (unsigned)bits / 8, nv = in->vec;
    LLVMTypeRef et = LLVMIntTypeInContext(e->cx, (unsigned)bits);
    LLVMValueRef p = ptx_jit_checked_ptr(e, in->space, ptx_jit_operand_addr(e, ao), esz * nv, st);
    for (unsigned i = 0; i < nv; i++) {
        LLVMValueRef ep = ptx_jit_elem_ptr(e, p, i, esz, et);
        if (st) {
            LLVMValueRef v = LLVMBuildTrunc(B_, store_value(e, vo, (int)i), et, "");
            LLVMSetAlignment(LLVMBuildStore(B_, v, ep), esz);
            continue;
        }
        uint32_t reg = vo->kind == OK_VEC ? vo->vec[i] : vo->reg;
        if (reg < UINT32_MAX - 1)
            ptx_jit_dst(e, reg, ptx_jit_load_elem(e, in, ep, esz, et));
    }
    return 0;
}

static int emit_atom(jit_em *e, const ptx_insn *in)
{
    int red = in->op == OP_RED, ai = red ? 0 : 1;
    LLVMValueRef addr = ptx_jit_operand_addr(e, &in->o[ai]);
    LLVMValueRef b = ptx_jit_src(e, in, ai + 1);
    LLVMValueRef c = in->cmp == ATOM_CAS ? ptx_jit_src(e, in, ai + 2) : b;
    LLVMBasicBlockRef here = LLVMGetInsertBlock(B_);
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(e->fn);
    LLVMPositionBuilder(B_, entry, LLVMGetFirstInstruction(entry));
    LLVMValueRef old = LLVMBuildAlloca(B_, e->i64, "old");
    LLVMPositionBuilderAtEnd(B_, here);
    LLVMTypeRef ta[7] = {e->p64, e->i32, e->i64, e->i64, e->i64, e->i32, e->p64};
    LLVMValueRef a[7] = {e->ctx, ptx_jit_i32c(e, e->pc), addr, b, c, e->t, old};
    LLVMValueRef ok = ptx_jit_call(e, "ptx_jit_rt_atom", e->i32, ta, 7, a);
    LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(e->cx, e->fn, "atom");
    LLVMBuildCondBr(B_, LLVMBuildICmp(B_, LLVMIntEQ, ok, ptx_jit_i32c(e, 0), ""), e->fail, cont);
    LLVMPositionBuilderAtEnd(B_, cont);
    if (!red)
        ptx_jit_dst(e, in->o[0].reg, LLVMBuildLoad2(B_, e->i64, old, ""));
    return 0;
}

int ptx_jit_mem(jit_em *e, const ptx_insn *in)
{
    return in->op == OP_LD || in->op == OP_ST ? emit_ld_st(e, in) : emit_atom(e, in);
}

static int check_ld_st(jit_em *e, const ptx_insn *in)
{
    int st = in->op == OP_ST;
    const ptx_operand *ao = &in->o[st ? 0 : 1], *vo = &in->o[st ? 1 : 0];
    unsigned esz = in->bits / 8u, nv = in->vec;
    if (in->nops < 2 || ao->kind != OK_ADDR || (esz != 1 && esz != 2 && esz != 4 && esz != 8) ||
        (nv != 1 && nv != 2 && nv != 4) || in->space > SP_PARAM || (st && in->space == SP_PARAM))
        return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
    if ((vo->kind == OK_VEC) != (nv > 1) || (vo->kind == OK_VEC && vo->nvec != nv))
        return ptx_jit_unsupported(e, "vector '%s' at line %u", in->name, in->line);
    if (!(vo->kind == OK_REG || vo->kind == OK_VEC || (st && vo->kind == OK_IMM)))
        return ptx_jit_unsupported(e, "operand of '%s' at line %u", in->name, in->line);
    return 0;
}

int ptx_jit_check_mem(jit_em *e, const ptx_insn *in)
{
    if (in->op == OP_LD || in->op == OP_ST)
        return check_ld_st(e, in);
    int red = in->op == OP_RED, ai = red ? 0 : 1;
    int need = ai + (in->cmp == ATOM_CAS ? 3 : 2);
    if (in->o[ai].kind != OK_ADDR || in->nops < need || !in->cmp ||
        (in->bits != 16 && in->bits != 32 && in->bits != 64) ||
        (in->space != SP_GLOBAL && in->space != SP_SHARED && in->space != SP_GENERIC) ||
        (!red && in->o[0].kind != OK_REG))
        return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
    return 0;
}
