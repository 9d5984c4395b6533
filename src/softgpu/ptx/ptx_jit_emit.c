/*
 * The translator's skeleton: one kernel's decoded PTX becomes one LLVM function that runs a
 * phase of a block (ptx_jit.h): a loop over the block's threads in which each thread runs from
 * its resume point to the next bar.sync, its exit or a yield. This is the region transformation
 * of CPU back ends of GPU languages (PoCL, CuPBoP): between two barriers no thread can observe
 * another's progress, so running the threads one after the other is a valid schedule. A
 * barrier saves the registers live after it (ptx_jit_live.c) to the thread's row of the spill
 * area and ends its turn; the phase after the barrier's release reloads them and goes on. A
 * loop's back edge counts down a budget and, when it runs out, saves the thread the same way
 * and yields, so that a thread spinning on another's flag lets that one run. Control flow
 * inside a thread is any CFG (PTX branches map to LLVM branches), unstructured code included.
 *
 * Checks every instruction first (ptx_jit_emit_ops.c, ptx_jit_emit_mem.c decide what they
 * support); anything else makes the whole kernel run on the interpreter. Calls the LLVM C API
 * and the other ptx_jit_emit*.c files.
 */
#include <stdarg.h>
#include <stdlib.h>

#include "ptx_jit_emit.h"

int ptx_jit_unsupported(jit_em *e, const char *fmt, ...)
{
    if (e->why && e->whylen && !e->why[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->why, e->whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

LLVMValueRef ptx_jit_i64c(jit_em *e, uint64_t v) { return LLVMConstInt(e->i64, v, 0); }

void ptx_jit_value_types(jit_em *e, int gang)
{
    e->gang = gang;
    LLVMTypeRef s[5] = {e->i1, e->i32, e->i64, e->f32, e->f64}, *d[5] = {&e->vi1, &e->vi32,
                                                                         &e->vi64, &e->vf32,
                                                                         &e->vf64};
    for (int i = 0; i < 5; i++)
        *d[i] = gang ? LLVMVectorType(s[i], JIT_GANG) : s[i];
}

LLVMTypeRef ptx_jit_vint(jit_em *e, int bits)
{
    LLVMTypeRef t = LLVMIntTypeInContext(e->cx, (unsigned)bits);
    return e->gang ? LLVMVectorType(t, JIT_GANG) : t;
}

LLVMValueRef ptx_jit_splat(jit_em *e, LLVMValueRef k)
{
    if (!e->gang)
        return k;
    LLVMValueRef v[JIT_GANG];
    for (int i = 0; i < JIT_GANG; i++)
        v[i] = k;
    return LLVMConstVector(v, JIT_GANG);
}

LLVMValueRef ptx_jit_uniform(jit_em *e, LLVMValueRef v)
{
    if (!e->gang)
        return v;
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(v), JIT_GANG);
    LLVMValueRef one = LLVMBuildInsertElement(e->b, LLVMGetUndef(vt), v, ptx_jit_i32c(e, 0), "");
    return LLVMBuildShuffleVector(e->b, one, LLVMGetUndef(vt),
                                  LLVMConstNull(LLVMVectorType(e->i32, JIT_GANG)), "");
}

LLVMValueRef ptx_jit_k64(jit_em *e, uint64_t v) { return ptx_jit_splat(e, ptx_jit_i64c(e, v)); }
LLVMValueRef ptx_jit_i32c(jit_em *e, uint32_t v) { return LLVMConstInt(e->i32, v, 0); }

LLVMValueRef ptx_jit_call(jit_em *e, const char *name, LLVMTypeRef ret, LLVMTypeRef *args,
                      unsigned nargs, LLVMValueRef *vals)
{
    LLVMTypeRef ft = LLVMFunctionType(ret, args, nargs, 0);
    LLVMValueRef f = LLVMGetNamedFunction(e->mod, name);
    if (!f)
        f = LLVMAddFunction(e->mod, name, ft);
    return LLVMBuildCall2(e->b, ft, f, vals, nargs, "");
}

LLVMValueRef ptx_jit_intrinsic(jit_em *e, const char *name, LLVMTypeRef type, LLVMValueRef *vals,
                           unsigned n)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(e->mod, id, &type, 1);
    LLVMTypeRef ft = LLVMIntrinsicGetType(e->cx, id, &type, 1);
    return LLVMBuildCall2(e->b, ft, f, vals, n, "");
}

/* ---- what the engine takes ---------------------------------------------------------------- */

static int check_control(jit_em *e, const ptx_insn *in)
{
    switch (in->op) {
    case OP_BRA:
        if (in->o[0].kind != OK_LABEL || in->o[0].imm >= e->f->ncode)
            return ptx_jit_unsupported(e, "indirect branch at line %u", in->line);
        return 0;
    case OP_RET:
    case OP_EXIT:
    case OP_MEMBAR:
    case OP_NOP:
        return 0;
    case OP_TRAP:
        if (in->guard != UINT32_MAX && (uint32_t)(in - e->f->code) + 1 >= e->f->ncode)
            return ptx_jit_unsupported(e, "predicated trap ends the kernel");
        return 0;
    case OP_BAR:
        /* bar.sync 0 / barrier.sync 0 / __syncthreads(): all threads of the block. Named
         * barriers with counts need the interpreter's arrival accounting. */
        if (in->nops != 1 || in->o[0].kind != OK_IMM || in->o[0].imm != 0)
            return ptx_jit_unsupported(e, "barrier other than bar.sync 0 at line %u", in->line);
        if (in->guard != UINT32_MAX)
            return ptx_jit_unsupported(e, "predicated barrier at line %u", in->line);
        return 0;
    case OP_BAR_RED:
        /* bar.red.{popc,and,or} d, 0, p: all threads of the block, reduced by the runtime at
         * the release (ptx_jit.c's bar_red); with a thread count, the interpreter's */
        if (in->nops != 3 || in->o[1].kind != OK_IMM || in->o[1].imm != 0 ||
            in->o[0].kind != OK_REG || in->o[0].reg >= e->f->nregs ||
            (in->o[2].kind != OK_REG && in->o[2].kind != OK_IMM))
            return ptx_jit_unsupported(e, "barrier other than bar.red 0 at line %u", in->line);
        if (in->guard != UINT32_MAX)
            return ptx_jit_unsupported(e, "predicated barrier at line %u", in->line);
        return 0;
    default:
        return ptx_jit_unsupported(e, "'%s' at line %u", in->name, in->line);
    }
}

/* Compiling grows faster than linearly with a kernel's size (cuRAND's 1352-instruction
 * generate_seed_pseudo spent minutes in code generation, on the launching thread): larger
 * kernels stay interpreted until compiling moves off the launch path (a later slice). */
#define JIT_MAX_INSNS 600

/* 0: translated, 1: run by the interpreter's executor (ptx_jit_emit_call.c), -1: neither. */
static int check_insn(jit_em *e, const ptx_insn *in, uint32_t pc)
{
    if (ptx_jit_is_warp_op(in))
        return pc + 1 < e->f->ncode ? 0 : ptx_jit_unsupported(e, "'%s' ends the kernel",
                                                              in->name);
    if (!in->exec)
        return check_control(e, in);
    int rc;
    if (in->op == OP_MEMBAR || in->op == OP_NOP)
        rc = 0;
    else if (in->op == OP_LD || in->op == OP_ST || in->op == OP_ATOM || in->op == OP_RED)
        rc = ptx_jit_check_mem(e, in);
    else
        rc = ptx_jit_check_op(e, in);
    for (int i = 0; i < in->nops && rc == 0; i++) {
        const ptx_operand *o = &in->o[i];
        if (o->kind == OK_SREG && ptx_jit_check_sreg(e, (int)o->imm) < 0)
            rc = -1;
        else if ((o->kind == OK_SYM || (o->kind == OK_ADDR && o->sym_kind)) &&
                 ptx_jit_check_sym(e, o->sym_kind) < 0)
            rc = -1;
    }
    if (rc == 0)
        return 0;
    if (!ptx_jit_callout_ok(in) ||
        ((in->flags & F_CARRYIN) && !ptx_jit_callout_carry_ok(e, pc)))
        return -1; /* why: the translator's reason */
    e->why[0] = 0;
    return 1;
}

static int check_kernel(jit_em *e)
{
    const ptx_kernel *k = e->k;
    if (e->f->ncode > JIT_MAX_INSNS)
        return ptx_jit_unsupported(e, "%u instructions, over the JIT's limit of %u", e->f->ncode,
                               JIT_MAX_INSNS);
    if (k->has_calls)
        return ptx_jit_unsupported(e, "calls (device functions, printf, assert, malloc)");
    if (k->uses_grid_sync)
        return ptx_jit_unsupported(e, "grid-wide synchronisation");
    for (uint32_t pc = 0; pc < e->f->ncode; pc++) {
        int rc = check_insn(e, &e->f->code[pc], pc);
        if (rc < 0)
            return -1;
        e->callout[pc] = (uint8_t)rc;
    }
    return 0;
}

/* ---- the function ------------------------------------------------------------------------- */

static LLVMValueRef ctx_field(jit_em *e, int i)
{
    LLVMValueRef idx = ptx_jit_i64c(e, (uint64_t)i);
    LLVMValueRef p = LLVMBuildInBoundsGEP2(e->b, e->i64, e->ctx, &idx, 1, "");
    LLVMValueRef v = LLVMBuildLoad2(e->b, e->i64, p, "");
    /* the context does not change while the function runs: loads may be hoisted and merged */
    LLVMSetMetadata(v, LLVMGetMDKindIDInContext(e->cx, "invariant.load", 14),
                    LLVMMDNodeInContext(e->cx, NULL, 0));
    return v;
}

/* &spill[reg * nthreads + t] */
LLVMValueRef ptx_jit_spill_row(jit_em *e, uint32_t reg)
{
    LLVMValueRef base = LLVMBuildIntToPtr(e->b, e->c[JC_SPILL], e->p64, "");
    LLVMValueRef i = LLVMBuildAdd(e->b, LLVMBuildMul(e->b, ptx_jit_i64c(e, reg), e->c[JC_NTHREADS],
        ""),
                                  LLVMBuildZExt(e->b, e->t, e->i64, ""), "");
    return LLVMBuildInBoundsGEP2(e->b, e->i64, base, &i, 1, "");
}

static void set_result(jit_em *e, int32_t r)
{
    LLVMBuildStore(e->b, LLVMConstInt(e->i32, (uint64_t)(int64_t)r, 1), e->res);
    LLVMBuildBr(e->b, e->latch);
}

static int terminated(jit_em *e)
{
    return LLVMGetBasicBlockTerminator(LLVMGetInsertBlock(e->b)) != NULL;
}

/* The block resuming a thread at leader pc (state pc + 1): reloads the registers live there. */
void ptx_jit_need_resume(jit_em *e, uint32_t pc)
{
    LLVMValueRef *regs = e->gang ? e->sregs : e->regs; /* the scalar copy's */
    if (e->resume[pc])
        return;
    LLVMBasicBlockRef here = LLVMGetInsertBlock(e->b);
    LLVMBasicBlockRef r = LLVMAppendBasicBlockInContext(e->cx, e->fn, "resume");
    e->resume[pc] = r;
    LLVMAddCase(e->sw, ptx_jit_i32c(e, pc + 1), r);
    LLVMPositionBuilderAtEnd(e->b, r);
    LLVMBuildStore(e->b, ptx_jit_i32c(e, JIT_YIELD_EDGES), e->budget);
    const uint64_t *live = e->live.in[pc];
    for (uint32_t reg = 0; reg < e->f->nregs; reg++)
        if (jit_live_has(live, reg))
            LLVMBuildStore(e->b, LLVMBuildLoad2(e->b, e->i64, ptx_jit_spill_row(e, reg), ""),
                           regs[reg]);
    LLVMBuildBr(e->b, e->bb[pc]);
    LLVMPositionBuilderAtEnd(e->b, here);
}

/* Ends the thread's turn, to go on at leader pc later: saves what is live there. */
static void stop_at(jit_em *e, uint32_t pc, int32_t flags)
{
    const uint64_t *live = e->live.in[pc];
    for (uint32_t reg = 0; reg < e->f->nregs; reg++)
        if (jit_live_has(live, reg))
            LLVMBuildStore(e->b, LLVMBuildLoad2(e->b, e->i64, e->regs[reg], ""),
                           ptx_jit_spill_row(e, reg));
    ptx_jit_need_resume(e, pc);
    set_result(e, (int32_t)(pc + 1) | flags);
}

LLVMValueRef ptx_jit_guard(jit_em *e, const ptx_insn *in)
{
    LLVMValueRef g = LLVMBuildLoad2(e->b, e->vi64, e->regs[in->guard], "");
    return LLVMBuildICmp(e->b, in->guard_neg ? LLVMIntEQ : LLVMIntNE, g, ptx_jit_k64(e, 0), "");
}

/* A backward branch: counts the budget down; at zero the thread yields at the target. */
static LLVMBasicBlockRef back_edge(jit_em *e, uint32_t target)
{
    LLVMBasicBlockRef here = LLVMGetInsertBlock(e->b);
    LLVMBasicBlockRef edge = LLVMAppendBasicBlockInContext(e->cx, e->fn, "backedge");
    LLVMBasicBlockRef yield = LLVMAppendBasicBlockInContext(e->cx, e->fn, "yield");
    LLVMPositionBuilderAtEnd(e->b, edge);
    LLVMValueRef left = LLVMBuildSub(e->b, LLVMBuildLoad2(e->b, e->i32, e->budget, ""),
                                     ptx_jit_i32c(e, 1), "");
    LLVMBuildStore(e->b, left, e->budget);
    LLVMBuildCondBr(e->b, LLVMBuildICmp(e->b, LLVMIntEQ, left, ptx_jit_i32c(e, 0), ""), yield,
                    e->bb[target]);
    LLVMPositionBuilderAtEnd(e->b, yield);
    stop_at(e, target, 0);
    LLVMPositionBuilderAtEnd(e->b, here);
    return edge;
}

static int emit_control(jit_em *e, const ptx_insn *in, uint32_t pc)
{
    int guarded = in->guard != UINT32_MAX;
    LLVMBasicBlockRef next = pc + 1 < e->f->ncode ? e->bb[pc + 1] : NULL;
    switch (in->op) {
    case OP_BRA: {
        uint32_t target = (uint32_t)in->o[0].imm;
        LLVMBasicBlockRef to = target <= pc ? back_edge(e, target) : e->bb[target];
        if (guarded && next)
            LLVMBuildCondBr(e->b, ptx_jit_guard(e, in), to, next);
        else
            LLVMBuildBr(e->b, to);
        return 0;
    }
    case OP_RET:
    case OP_EXIT:
        if (guarded && next) {
            LLVMBasicBlockRef out = LLVMAppendBasicBlockInContext(e->cx, e->fn, "exit");
            LLVMBuildCondBr(e->b, ptx_jit_guard(e, in), out, next);
            LLVMPositionBuilderAtEnd(e->b, out);
        }
        set_result(e, JIT_EXITED);
        return 0;
    case OP_BAR_RED: /* its predicate to the spill row, where the runtime reduces it */
        if (in->o[2].kind == OK_REG)
            LLVMBuildStore(e->b, LLVMBuildLoad2(e->b, e->i64, e->regs[in->o[2].reg], ""),
                           ptx_jit_spill_row(e, in->o[2].reg));
        /* fall through */
    case OP_BAR:
        if (next)
            stop_at(e, pc + 1, JIT_WAIT);
        else
            set_result(e, JIT_EXITED);
        return 0;
    case OP_MEMBAR:
        LLVMBuildFence(e->b, LLVMAtomicOrderingSequentiallyConsistent, 0, "");
        return 0;
    case OP_TRAP:
        if (guarded && next) {
            LLVMBasicBlockRef trap = LLVMAppendBasicBlockInContext(e->cx, e->fn, "trap");
            LLVMBuildCondBr(e->b, ptx_jit_guard(e, in), trap, next);
            LLVMPositionBuilderAtEnd(e->b, trap);
        }
        ptx_jit_trap(e, NULL);
        return 0;
    default:
        return 0;
    }
}

/* A warp operation: the thread stops there with its operands (what is live into it) and the
 * runtime runs it with the other lanes of its warp, then resumes the thread after it. */
static void stop_warp(jit_em *e, uint32_t pc)
{
    const uint64_t *live = e->live.in[pc];
    for (uint32_t reg = 0; reg < e->f->nregs; reg++)
        if (jit_live_has(live, reg))
            LLVMBuildStore(e->b, LLVMBuildLoad2(e->b, e->i64, e->regs[reg], ""),
                           ptx_jit_spill_row(e, reg));
    ptx_jit_need_resume(e, pc + 1);
    set_result(e, (int32_t)(pc + 1) | JIT_WARP);
}

static int emit_insn(jit_em *e, const ptx_insn *in, uint32_t pc)
{
    e->pc = pc;
    if (ptx_jit_is_warp_op(in)) {
        stop_warp(e, pc);
        return 0;
    }
    if (!in->exec || in->op == OP_MEMBAR || in->op == OP_NOP)
        return emit_control(e, in, pc);
    LLVMBasicBlockRef cont = NULL;
    if (in->guard != UINT32_MAX) {
        LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(e->cx, e->fn, "then");
        cont = LLVMAppendBasicBlockInContext(e->cx, e->fn, "cont");
        LLVMBuildCondBr(e->b, ptx_jit_guard(e, in), then, cont);
        LLVMPositionBuilderAtEnd(e->b, then);
    }
    int rc = e->callout[pc] ? ptx_jit_callout(e, in, NULL)
             : (in->op == OP_LD || in->op == OP_ST || in->op == OP_ATOM || in->op == OP_RED)
                 ? ptx_jit_mem(e, in) : ptx_jit_op(e, in);
    if (cont) {
        LLVMBuildBr(e->b, cont);
        LLVMPositionBuilderAtEnd(e->b, cont);
    }
    return rc;
}

static void make_blocks(jit_em *e)
{
    for (uint32_t pc = 0; pc < e->f->ncode; pc++)
        if (e->live.leader[pc])
            e->bb[pc] = LLVMAppendBasicBlockInContext(e->cx, e->fn, "L");
}

/* %tid.x/y/z from the linear thread index, as ptx_block_init lays threads out. */
static void thread_ids(jit_em *e)
{
    LLVMValueRef t = LLVMBuildZExt(e->b, e->t, e->i64, "");
    e->tv = t;
    LLVMValueRef nx = e->c[JC_NTID_X], ny = e->c[JC_NTID_Y];
    e->tid[0] = LLVMBuildURem(e->b, t, nx, "tidx");
    LLVMValueRef q = LLVMBuildUDiv(e->b, t, nx, "");
    e->tid[1] = LLVMBuildURem(e->b, q, ny, "tidy");
    e->tid[2] = LLVMBuildUDiv(e->b, q, ny, "tidz");
}

static LLVMValueRef slot(jit_em *e, LLVMTypeRef t, const char *name, uint32_t init)
{
    LLVMValueRef a = LLVMBuildAlloca(e->b, t, name);
    LLVMBuildStore(e->b, LLVMConstInt(t, init, 0), a);
    return a;
}

/* The gang check before thread t: t a multiple of JIT_GANG with a whole gang left, gangs on
 * (ctx), and every thread of the gang in the same state: the gang switch picks the gang
 * copy's entry for it (its start, or a resume point), else the scalar dispatch. */
static void emit_gang_check(jit_em *e, LLVMBasicBlockRef disp)
{
    LLVMBasicBlockRef same = LLVMAppendBasicBlockInContext(e->cx, e->fn, "gsame");
    LLVMBasicBlockRef gsw = LLVMAppendBasicBlockInContext(e->cx, e->fn, "gswitch");
    LLVMValueRef t64 = LLVMBuildZExt(e->b, e->t, e->i64, "");
    LLVMValueRef ok = LLVMBuildAnd(e->b, LLVMBuildICmp(e->b, LLVMIntNE, e->c[JC_GANG],
                                                       ptx_jit_i64c(e, 0), ""),
                                   LLVMBuildICmp(e->b, LLVMIntEQ,
                                                 LLVMBuildAnd(e->b, t64, ptx_jit_i64c(e,
                                                     JIT_GANG - 1),
                                                              ""), ptx_jit_i64c(e, 0), ""), "");
    LLVMValueRef room = LLVMBuildICmp(e->b, LLVMIntULE,
                                      LLVMBuildAdd(e->b, t64, ptx_jit_i64c(e, JIT_GANG), ""),
                                      e->c[JC_NTHREADS], "");
    LLVMBuildCondBr(e->b, LLVMBuildAnd(e->b, ok, room, ""), same, disp);
    LLVMPositionBuilderAtEnd(e->b, same);
    LLVMTypeRef v32 = LLVMVectorType(e->i32, JIT_GANG);
    LLVMValueRef st = LLVMBuildIntToPtr(e->b, e->c[JC_STATE], LLVMPointerType(e->i32, 0), "");
    LLVMValueRef p = LLVMBuildBitCast(e->b, LLVMBuildInBoundsGEP2(e->b, e->i32, st, &e->t, 1, ""),
                                      LLVMPointerType(v32, 0), "");
    LLVMValueRef all = LLVMBuildLoad2(e->b, v32, p, "");
    LLVMSetAlignment(all, 4);
    LLVMValueRef s0 = LLVMBuildExtractElement(e->b, all, ptx_jit_i32c(e, 0), "");
    ptx_jit_value_types(e, 1);
    LLVMValueRef eq = LLVMBuildICmp(e->b, LLVMIntEQ, all, ptx_jit_uniform(e, s0), "");
    ptx_jit_value_types(e, 0);
    LLVMValueRef bits = LLVMBuildBitCast(e->b, eq, LLVMIntTypeInContext(e->cx, JIT_GANG), "");
    LLVMBuildCondBr(e->b, LLVMBuildICmp(e->b, LLVMIntEQ, bits, LLVMConstAllOnes(LLVMTypeOf(bits)),
                                        ""), gsw, disp);
    LLVMPositionBuilderAtEnd(e->b, gsw);
    e->gsw = LLVMBuildSwitch(e->b, s0, disp, 4);
}

/* entry -> head -> dispatch -> (start | resume pc | next) ... latch -> next -> head -> done */
static void emit_frame(jit_em *e, LLVMBasicBlockRef *body_start)
{
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(e->cx, e->fn, "entry");
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(e->cx, e->fn, "head");
    LLVMBasicBlockRef disp = LLVMAppendBasicBlockInContext(e->cx, e->fn, "dispatch");
    LLVMBasicBlockRef start = LLVMAppendBasicBlockInContext(e->cx, e->fn, "start");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(e->cx, e->fn, "done");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(e->cx, e->fn, "next");
    e->latch = LLVMAppendBasicBlockInContext(e->cx, e->fn, "latch");
    e->fail = LLVMAppendBasicBlockInContext(e->cx, e->fn, "fail");
    LLVMPositionBuilderAtEnd(e->b, entry);
    e->ctx = LLVMGetParam(e->fn, 0);
    for (int i = 0; i < JC_COUNT; i++)
        e->c[i] = ctx_field(e, i);
    LLVMValueRef tslot = slot(e, e->i32, "tslot", 0);
    e->res = slot(e, e->i32, "res", 0);
    e->budget = slot(e, e->i32, "budget", JIT_YIELD_EDGES);
    for (uint32_t r = 0; r <= e->f->nregs; r++) /* nregs: the carry flag */
        e->regs[r] = LLVMBuildAlloca(e->b, e->i64, "");
    LLVMBuildBr(e->b, head);

    LLVMBasicBlockRef pre = LLVMAppendBasicBlockInContext(e->cx, e->fn, "gangcheck");
    LLVMPositionBuilderAtEnd(e->b, head);
    e->t = LLVMBuildLoad2(e->b, e->i32, tslot, "t");
    LLVMValueRef n32 = LLVMBuildTrunc(e->b, e->c[JC_NTHREADS], e->i32, "");
    LLVMBuildCondBr(e->b, LLVMBuildICmp(e->b, LLVMIntULT, e->t, n32, ""), pre, done);
    LLVMPositionBuilderAtEnd(e->b, pre);
    emit_gang_check(e, disp);

    /* a gang whose lanes all stopped goes on with the next gang; one that diverged has its
     * threads run by the scalar copy from where each one's branch led */
    e->gdone = LLVMAppendBasicBlockInContext(e->cx, e->fn, "gangdone");
    e->gesc = disp;
    LLVMPositionBuilderAtEnd(e->b, e->gdone);
    LLVMBuildStore(e->b, LLVMBuildAdd(e->b, e->t, ptx_jit_i32c(e, JIT_GANG), ""), tslot);
    LLVMBuildBr(e->b, head);

    LLVMPositionBuilderAtEnd(e->b, done);
    LLVMBuildRet(e->b, ptx_jit_i32c(e, 0));
    LLVMPositionBuilderAtEnd(e->b, e->fail);
    LLVMBuildRet(e->b, LLVMConstInt(e->i32, (uint64_t)(int64_t)JIT_FAILED, 1));

    LLVMPositionBuilderAtEnd(e->b, disp);
    thread_ids(e);
    LLVMValueRef st = LLVMBuildIntToPtr(e->b, e->c[JC_STATE], LLVMPointerType(e->i32, 0), "");
    LLVMValueRef sp = LLVMBuildInBoundsGEP2(e->b, e->i32, st, &e->t, 1, "");
    LLVMValueRef s = LLVMBuildLoad2(e->b, e->i32, sp, "state");
    e->sw = LLVMBuildSwitch(e->b, s, next, 8); /* exited and waiting threads: default */
    LLVMAddCase(e->sw, ptx_jit_i32c(e, 0), start);
    LLVMPositionBuilderAtEnd(e->b, e->latch);
    LLVMBuildStore(e->b, LLVMBuildLoad2(e->b, e->i32, e->res, ""), sp);
    LLVMBuildBr(e->b, next);

    LLVMPositionBuilderAtEnd(e->b, next);
    LLVMBuildStore(e->b, LLVMBuildAdd(e->b, e->t, ptx_jit_i32c(e, 1), ""), tslot);
    LLVMBuildBr(e->b, head);

    /* a fresh thread: registers start at zero (undefined in PTX; zero keeps runs repeatable) */
    LLVMPositionBuilderAtEnd(e->b, start);
    LLVMBuildStore(e->b, ptx_jit_i32c(e, JIT_YIELD_EDGES), e->budget);
    for (uint32_t i = 0; i < e->f->nregs; i++)
        LLVMBuildStore(e->b, ptx_jit_i64c(e, 0), e->regs[i]);
    *body_start = start;
}

static void init_types(jit_em *e, LLVMContextRef cx, LLVMModuleRef mod)
{
    e->cx = cx;
    e->mod = mod;
    e->i1 = LLVMInt1TypeInContext(cx);
    e->i8 = LLVMInt8TypeInContext(cx);
    e->i16 = LLVMInt16TypeInContext(cx);
    e->i32 = LLVMInt32TypeInContext(cx);
    e->i64 = LLVMInt64TypeInContext(cx);
    e->f32 = LLVMFloatTypeInContext(cx);
    e->f64 = LLVMDoubleTypeInContext(cx);
    e->vd = LLVMVoidTypeInContext(cx);
    e->p8 = LLVMPointerType(e->i8, 0);
    e->p64 = LLVMPointerType(e->i64, 0);
    ptx_jit_value_types(e, 0);
}

static int emit_body(jit_em *e, LLVMBasicBlockRef start)
{
    const ptx_func *f = e->f;
    LLVMPositionBuilderAtEnd(e->b, start);
    if (!f->ncode) {
        set_result(e, JIT_EXITED);
        return 0;
    }
    LLVMBuildBr(e->b, e->bb[0]);
    for (uint32_t pc = 0; pc < f->ncode; pc++) {
        if (e->bb[pc]) {
            if (pc && !terminated(e))
                LLVMBuildBr(e->b, e->bb[pc]);
            LLVMPositionBuilderAtEnd(e->b, e->bb[pc]);
        }
        if (emit_insn(e, &f->code[pc], pc) < 0)
            return -1;
    }
    if (!terminated(e)) { /* ran past the end: the interpreter's failure, not an exit */
        LLVMValueRef a[4] = {e->ctx, ptx_jit_i32c(e, f->ncode - 1), e->t,
                             ptx_jit_i32c(e, PTX_ERR_LAUNCH_FAILED)};
        LLVMTypeRef ta[4] = {e->p64, e->i32, e->i32, e->i32};
        ptx_jit_call(e, "ptx_jit_rt_fail", e->vd, ta, 4, a);
        LLVMBuildBr(e->b, e->fail);
    }
    return 0;
}

static void release(jit_em *e)
{
    free(e->regs);
    free(e->bb);
    free(e->resume);
    free(e->callout);
    ptx_jit_live_free(&e->live, e->f->ncode);
}

int ptx_jit_emit_kernel(void *llvm_ctx, void *llvm_mod, const ptx_kernel *k, const char *name,
                        char *why, size_t whylen)
{
    jit_em e;
    memset(&e, 0, sizeof e);
    e.k = k;
    e.f = k->fn;
    e.why = why;
    e.whylen = whylen;
    if (why && whylen)
        why[0] = 0;
    init_types(&e, (LLVMContextRef)llvm_ctx, (LLVMModuleRef)llvm_mod);
    e.regs = calloc(e.f->nregs + 1, sizeof *e.regs);
    e.bb = calloc(e.f->ncode + 1, sizeof *e.bb);
    e.resume = calloc(e.f->ncode + 1, sizeof *e.resume);
    e.callout = calloc(e.f->ncode + 1, 1);
    if (!e.regs || !e.bb || !e.resume || !e.callout || ptx_jit_live_build(&e.live, e.f) < 0) {
        release(&e);
        return ptx_jit_unsupported(&e, "out of memory");
    }
    if (check_kernel(&e) < 0) {
        release(&e);
        return -1;
    }
    LLVMTypeRef ft = LLVMFunctionType(e.i32, &e.p64, 1, 0);
    e.fn = LLVMAddFunction(e.mod, name, ft);
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    LLVMAddAttributeAtIndex(e.fn, 1, LLVMCreateEnumAttribute(e.cx, noalias, 0));
    e.b = LLVMCreateBuilderInContext(e.cx);
    LLVMBasicBlockRef start;
    emit_frame(&e, &start);
    make_blocks(&e);
    int rc = emit_body(&e, start);
    if (rc == 0) { /* the gang copy, entered at state 0 (its start) or its resume points */
        LLVMBasicBlockRef gstart = LLVMAppendBasicBlockInContext(e.cx, e.fn, "gstart");
        LLVMAddCase(e.gsw, ptx_jit_i32c(&e, 0), gstart);
        rc = ptx_jit_gang_emit(&e, gstart);
    }
    LLVMDisposeBuilder(e.b);
    release(&e);
    return rc;
}
