/*
 * The gang copy of a kernel: JIT_GANG consecutive threads of a block run in lock step, every
 * register a vector with a lane per thread, so that the host's vector unit does their work at
 * once and their memory accesses are as adjacent as a warp's (a grid-stride loop run thread
 * after thread would walk memory with the grid's stride instead). Control flow stays scalar:
 * a branch whose lanes agree (the usual case: loop counters, bounds all threads pass) is taken
 * by the gang; when they disagree, the gang stops and each thread goes on in the scalar copy
 * (ptx_jit_emit.c) from where its own branch leads, its live registers stored to its spill row.
 * Predicated data instructions select per lane; loads, stores and atomics go lane by lane with
 * the scalar copy's checks (the interpreter's), in lane order. Barriers and yields stop the
 * whole gang; the next phase resumes it in lock step when all its threads are at the same
 * point. The arithmetic is ptx_jit_emit_ops.c's, emitted on vector types: same bits.
 * Calls the LLVM C API and the other ptx_jit_emit*.c files.
 */
#include <stdlib.h>

#include "ptx_jit_emit.h"

#define B_ (e->b)

typedef struct gang {
    LLVMValueRef *regs;          /* alloca <JIT_GANG x i64> per register */
    LLVMBasicBlockRef *bb;       /* per leader pc */
    LLVMBasicBlockRef *resume;   /* per pc: the gang resume block, or NULL */
    LLVMValueRef t0;             /* the first thread (scalar i32) */
    uint8_t *wide;               /* per register: keep 64-bit lanes (ptx_jit_narrow.c) */
    LLVMValueRef *reloads;       /* the resume points' stores of spilled registers */
    size_t nreloads, reloads_cap;
} gang;

static LLVMTypeRef vec_of(LLVMTypeRef t) { return LLVMVectorType(t, JIT_GANG); }

/* the gang's states: &state[t0] as <JIT_GANG x i32>* */
static LLVMValueRef states(jit_em *e)
{
    LLVMValueRef st = LLVMBuildIntToPtr(B_, e->c[JC_STATE], LLVMPointerType(e->i32, 0), "");
    LLVMValueRef p = LLVMBuildInBoundsGEP2(B_, e->i32, st, &e->t, 1, "");
    return LLVMBuildBitCast(B_, p, LLVMPointerType(vec_of(e->i32), 0), "");
}

static void set_states(jit_em *e, LLVMValueRef v)
{
    LLVMSetAlignment(LLVMBuildStore(B_, v, states(e)), 4);
}

static LLVMValueRef k32v(jit_em *e, int32_t v)
{
    LLVMValueRef k[JIT_GANG];
    for (int i = 0; i < JIT_GANG; i++)
        k[i] = LLVMConstInt(e->i32, (uint64_t)(int64_t)v, 1);
    return LLVMConstVector(k, JIT_GANG);
}

/* spill rows of the gang's threads for reg: contiguous, one vector */
static LLVMValueRef spill_vec(jit_em *e, uint32_t reg)
{
    return LLVMBuildBitCast(B_, ptx_jit_spill_row(e, reg), LLVMPointerType(e->vi64, 0), "");
}

static void save_live(jit_em *e, gang *g, const uint64_t *a, const uint64_t *b)
{
    for (uint32_t r = 0; r < e->f->nregs; r++)
        if ((a && jit_live_has(a, r)) || (b && jit_live_has(b, r)))
            LLVMSetAlignment(LLVMBuildStore(B_, LLVMBuildLoad2(B_, e->vi64, g->regs[r], ""),
                                            spill_vec(e, r)), 8);
}

/* A resume point's reload holds a value the register had (or the interpreter's, for those
 * g->wide keeps wide): it does not make the register wide. */
static void note_reload(gang *g, LLVMValueRef st)
{
    if (g->nreloads == g->reloads_cap) {
        size_t cap = g->reloads_cap ? 2 * g->reloads_cap : 64;
        LLVMValueRef *m = realloc(g->reloads, cap * sizeof *m);
        if (!m) { /* unnoted: the register stays wide, still correct */
            return;
        }
        g->reloads = m, g->reloads_cap = cap;
    }
    g->reloads[g->nreloads++] = st;
}

/* The gang copy resumes at leader pc when all its threads wait there (state pc + 1). */
static void need_gang_resume(jit_em *e, gang *g, uint32_t pc)
{
    if (g->resume[pc])
        return;
    LLVMBasicBlockRef here = LLVMGetInsertBlock(B_);
    LLVMBasicBlockRef r = LLVMAppendBasicBlockInContext(e->cx, e->fn, "gresume");
    g->resume[pc] = r;
    LLVMAddCase(e->gsw, ptx_jit_i32c(e, pc + 1), r);
    LLVMPositionBuilderAtEnd(B_, r);
    LLVMBuildStore(B_, ptx_jit_i32c(e, JIT_YIELD_EDGES), e->budget);
    for (uint32_t reg = 0; reg < e->f->nregs; reg++)
        if (jit_live_has(e->live.in[pc], reg)) {
            LLVMValueRef v = LLVMBuildLoad2(B_, e->vi64, spill_vec(e, reg), "");
            LLVMSetAlignment(v, 8);
            note_reload(g, LLVMBuildStore(B_, v, g->regs[reg]));
        }
    LLVMBuildBr(B_, g->bb[pc]);
    LLVMPositionBuilderAtEnd(B_, here);
}

/* Every lane stops at leader pc with flags (a barrier's JIT_WAIT, or 0 for a yield). */
static void stop_gang(jit_em *e, gang *g, uint32_t pc, int32_t flags)
{
    save_live(e, g, e->live.in[pc], NULL);
    ptx_jit_need_resume(e, pc);
    need_gang_resume(e, g, pc);
    set_states(e, k32v(e, (int32_t)(pc + 1) | flags));
    LLVMBuildBr(B_, e->gdone);
}

/* The lanes disagree: lane i goes on in the scalar copy at `yes` where cond, else at `no`
 * (a pc, or UINT32_MAX for an exit). */
static void escape(jit_em *e, gang *g, LLVMValueRef cond, uint32_t yes, uint32_t no)
{
    save_live(e, g, yes < UINT32_MAX ? e->live.in[yes] : NULL,
              no < UINT32_MAX ? e->live.in[no] : NULL);
    if (yes < UINT32_MAX)
        ptx_jit_need_resume(e, yes);
    if (no < UINT32_MAX)
        ptx_jit_need_resume(e, no);
    int32_t sy = yes < UINT32_MAX ? (int32_t)yes + 1 : JIT_EXITED;
    int32_t sn = no < UINT32_MAX ? (int32_t)no + 1 : JIT_EXITED;
    set_states(e, LLVMBuildSelect(B_, cond, k32v(e, sy), k32v(e, sn), ""));
    LLVMBuildBr(B_, e->gesc);
}

/* Branches on a per-lane condition: all lanes to `yes`, none to `no`, else `mixed`. */
static void branch3(jit_em *e, LLVMValueRef cond, LLVMBasicBlockRef yes, LLVMBasicBlockRef no,
                    LLVMBasicBlockRef mixed)
{
    LLVMValueRef bits = LLVMBuildBitCast(B_, cond, LLVMIntTypeInContext(e->cx, JIT_GANG), "");
    LLVMValueRef sw = LLVMBuildSwitch(B_, bits, mixed, 2);
    LLVMAddCase(sw, LLVMConstInt(LLVMTypeOf(bits), 0, 0), no);
    LLVMAddCase(sw, LLVMConstAllOnes(LLVMTypeOf(bits)), yes);
}

static LLVMBasicBlockRef block(jit_em *e, const char *name)
{
    return LLVMAppendBasicBlockInContext(e->cx, e->fn, name);
}

static LLVMBasicBlockRef gang_back_edge(jit_em *e, gang *g, uint32_t target)
{
    LLVMBasicBlockRef here = LLVMGetInsertBlock(B_), edge = block(e, "gedge");
    LLVMBasicBlockRef yield = block(e, "gyield");
    LLVMPositionBuilderAtEnd(B_, edge);
    LLVMValueRef left = LLVMBuildSub(B_, LLVMBuildLoad2(B_, e->i32, e->budget, ""),
                                     ptx_jit_i32c(e, 1), "");
    LLVMBuildStore(B_, left, e->budget);
    LLVMBuildCondBr(B_, LLVMBuildICmp(B_, LLVMIntEQ, left, ptx_jit_i32c(e, 0), ""), yield,
                    g->bb[target]);
    LLVMPositionBuilderAtEnd(B_, yield);
    stop_gang(e, g, target, 0);
    LLVMPositionBuilderAtEnd(B_, here);
    return edge;
}

static void gang_control(jit_em *e, gang *g, const ptx_insn *in, uint32_t pc)
{
    int guarded = in->guard != UINT32_MAX;
    LLVMBasicBlockRef next = pc + 1 < e->f->ncode ? g->bb[pc + 1] : NULL;
    if (in->op == OP_MEMBAR) {
        LLVMBuildFence(B_, LLVMAtomicOrderingSequentiallyConsistent, 0, "");
        return;
    }
    if (in->op == OP_NOP)
        return;
    if (in->op == OP_TRAP) { /* the first lane whose guard holds fails the launch */
        if (!guarded) {
            ptx_jit_trap(e, NULL);
            return;
        }
        LLVMValueRef cond = ptx_jit_guard(e, in);
        LLVMBasicBlockRef trap = block(e, "gtrap");
        LLVMValueRef bits = LLVMBuildBitCast(B_, cond, LLVMIntTypeInContext(e->cx, JIT_GANG), "");
        LLVMBuildCondBr(B_, LLVMBuildICmp(B_, LLVMIntEQ, bits, LLVMConstNull(LLVMTypeOf(bits)),
                                          ""), next, trap);
        LLVMPositionBuilderAtEnd(B_, trap);
        ptx_jit_trap(e, cond);
        return;
    }
    if (in->op == OP_BAR_RED) { /* the predicate for the runtime; the result is its */
        if (in->o[2].kind == OK_REG)
            LLVMSetAlignment(LLVMBuildStore(B_, LLVMBuildLoad2(B_, e->vi64,
                                                               g->regs[in->o[2].reg], ""),
                                            spill_vec(e, in->o[2].reg)), 8);
        g->wide[in->o[0].reg] = 1;
    }
    if (in->op == OP_BAR || in->op == OP_BAR_RED) {
        if (next) {
            stop_gang(e, g, pc + 1, JIT_WAIT);
        } else {
            set_states(e, k32v(e, JIT_EXITED));
            LLVMBuildBr(B_, e->gdone);
        }
        return;
    }
    LLVMBasicBlockRef to, exit_bb = NULL;
    uint32_t target = UINT32_MAX;
    if (in->op == OP_BRA) {
        target = (uint32_t)in->o[0].imm;
        to = target <= pc ? gang_back_edge(e, g, target) : g->bb[target];
    } else { /* ret / exit */
        LLVMBasicBlockRef here = LLVMGetInsertBlock(B_);
        to = exit_bb = block(e, "gexit");
        LLVMPositionBuilderAtEnd(B_, exit_bb);
        set_states(e, k32v(e, JIT_EXITED));
        LLVMBuildBr(B_, e->gdone);
        LLVMPositionBuilderAtEnd(B_, here);
    }
    if (!guarded || !next) {
        LLVMBuildBr(B_, to);
        return;
    }
    LLVMValueRef cond = ptx_jit_guard(e, in);
    LLVMBasicBlockRef mixed = block(e, "gdiverge");
    branch3(e, cond, to, next, mixed);
    LLVMPositionBuilderAtEnd(B_, mixed);
    escape(e, g, cond, target, pc + 1);
}

/* ---- data instructions -------------------------------------------------------------------- */

/* registers an instruction writes (its destination operand) */
static int dests(const ptx_insn *in, uint32_t *out)
{
    const ptx_operand *d = &in->o[0];
    int n = 0;
    if (in->op == OP_ST || in->op == OP_RED || !in->nops)
        return 0;
    if (d->kind == OK_REG) {
        out[n++] = d->reg;
        if (d->nvec && d->vec[0] < UINT32_MAX - 1)
            out[n++] = d->vec[0];
    } else if (d->kind == OK_VEC) {
        for (int i = 0; i < d->nvec; i++)
            if (d->vec[i] < UINT32_MAX - 1)
                out[n++] = d->vec[i];
    }
    return n;
}

static LLVMValueRef lane_of(jit_em *e, LLVMValueRef v, int i)
{
    return LLVMBuildExtractElement(B_, v, ptx_jit_i32c(e, (uint32_t)i), "");
}

/* The lanes at consecutive addresses (lane i at lane 0's + i * size, a warp's coalesced
 * access) inside one checked range: one vector load or store, to `done`; else to the lane by
 * lane path, which checks and reports each lane as the scalar copy does. */
static void contiguous(jit_em *e, gang *g, const ptx_insn *in, LLVMValueRef addr,
                       LLVMBasicBlockRef done)
{
    int st = in->op == OP_ST;
    unsigned esz = in->bits / 8u;
    const ptx_operand *vo = &in->o[st ? 1 : 0];
    LLVMBasicBlockRef lanes = block(e, "bylane");
    LLVMValueRef k[JIT_GANG];
    for (int i = 0; i < JIT_GANG; i++)
        k[i] = ptx_jit_i64c(e, (uint64_t)i * esz);
    LLVMValueRef base = lane_of(e, addr, 0);
    LLVMValueRef eq = LLVMBuildICmp(B_, LLVMIntEQ, addr,
                                    LLVMBuildAdd(B_, ptx_jit_uniform(e, base),
                                                 LLVMConstVector(k, JIT_GANG), ""), "");
    LLVMValueRef bits = LLVMBuildBitCast(B_, eq, LLVMIntTypeInContext(e->cx, JIT_GANG), "");
    LLVMBasicBlockRef check = block(e, "coalesced");
    LLVMBuildCondBr(B_, LLVMBuildICmp(B_, LLVMIntEQ, bits, LLVMConstAllOnes(LLVMTypeOf(bits)), ""),
                    check, lanes);
    LLVMPositionBuilderAtEnd(B_, check);
    LLVMValueRef p = ptx_jit_range_ptr(e, in->space, base, esz * JIT_GANG, esz, lanes);
    LLVMTypeRef vt = vec_of(LLVMIntTypeInContext(e->cx, in->bits));
    p = LLVMBuildBitCast(B_, p, LLVMPointerType(vt, 0), "");
    if (st) {
        LLVMValueRef v = vo->kind == OK_IMM ? ptx_jit_k64(e, vo->imm)
                                            : LLVMBuildLoad2(B_, e->vi64, e->regs[vo->reg], "");
        LLVMSetAlignment(LLVMBuildStore(B_, LLVMBuildTrunc(B_, v, vt, ""), p), esz);
    } else {
        LLVMValueRef v = LLVMBuildLoad2(B_, vt, p, "");
        LLVMSetAlignment(v, esz);
        v = ptx_type_is_signed(in->type) ? LLVMBuildSExt(B_, v, e->vi64, "")
                                          : LLVMBuildZExt(B_, v, e->vi64, "");
        LLVMBuildStore(B_, v, e->regs[vo->reg]);
    }
    LLVMBuildBr(B_, done);
    LLVMPositionBuilderAtEnd(B_, lanes);
}

/* A load whose address names no register reads one address for every lane, and nothing
 * writes between the lanes' reads: the scalar copy's load for the first thread (whose check
 * fails first, as lane order would), spread to the lanes. LLVM then sees a uniform value (a
 * kernel parameter, a base pointer) instead of 32 unrelated lanes. Not local memory (a
 * thread's own) nor generic addresses (which may be local). */
static int uniform_load(jit_em *e, gang *g, const ptx_insn *in)
{
    const ptx_operand *a = &in->o[1], *d = &in->o[0];
    if (in->op != OP_LD || in->vec != 1 || d->kind != OK_REG || d->reg >= e->f->nregs ||
        a->kind != OK_ADDR || a->reg != UINT32_MAX ||
        !(in->space == SP_PARAM || in->space == SP_CONST || in->space == SP_GLOBAL ||
          in->space == SP_SHARED))
        return 0;
    LLVMValueRef *one = calloc(e->f->nregs + 1, sizeof *one);
    if (!one)
        return 0;
    LLVMBasicBlockRef here = LLVMGetInsertBlock(B_), entry = LLVMGetEntryBasicBlock(e->fn);
    LLVMPositionBuilder(B_, entry, LLVMGetFirstInstruction(entry));
    one[d->reg] = LLVMBuildAlloca(B_, e->i64, "u");
    LLVMPositionBuilderAtEnd(B_, here);
    LLVMValueRef *vregs = e->regs;
    e->regs = one;
    ptx_jit_value_types(e, 0);
    int rc = ptx_jit_mem(e, in);
    ptx_jit_value_types(e, 1);
    e->regs = vregs;
    if (rc == 0) {
        LLVMValueRef v = LLVMBuildLoad2(B_, e->i64, one[d->reg], "");
        if (in->bits <= 32 && !ptx_type_is_signed(in->type)) /* zero-extended: narrow */
            v = LLVMBuildAnd(B_, v, ptx_jit_i64c(e, UINT32_MAX), "");
        LLVMBuildStore(B_, ptx_jit_uniform(e, v), g->regs[d->reg]);
    }
    free(one);
    return rc == 0;
}

/* Memory instructions: a coalesced access inline, any other (and atomics) through the
 * interpreter's executor for the gang's lanes (the same checks and reports in lane order, and
 * its compare-and-swap for atomics), one call instead of JIT_GANG inline accesses: smaller
 * code, and fewer values live across the slow path. */
static void gang_mem(jit_em *e, gang *g, const ptx_insn *in, LLVMValueRef mask)
{
    int atom = in->op == OP_ATOM || in->op == OP_RED;
    LLVMBasicBlockRef done = NULL;
    const ptx_operand *vo = &in->o[in->op == OP_ST ? 1 : 0];
    if (!mask && uniform_load(e, g, in))
        return;
    if (!mask && !atom && in->vec == 1 && (vo->kind == OK_REG || vo->kind == OK_IMM) &&
        (in->space == SP_GLOBAL || in->space == SP_CONST || in->space == SP_SHARED)) {
        LLVMValueRef addr = ptx_jit_operand_addr(e, &in->o[in->op == OP_LD ? 1 : 0]);
        done = block(e, "memdone");
        contiguous(e, g, in, addr, done);
    }
    ptx_jit_callout(e, in, mask);
    if (done) {
        LLVMBuildBr(B_, done);
        LLVMPositionBuilderAtEnd(B_, done);
    }
}

static int gang_insn(jit_em *e, gang *g, const ptx_insn *in, uint32_t pc)
{
    e->pc = pc;
    if (ptx_jit_is_warp_op(in)) { /* the lanes meet their warp there (ptx_jit_warp.c) */
        uint32_t regs[JIT_INSN_REGS]; /* the interpreter writes them: keep them 64-bit */
        int n = ptx_jit_insn_regs(in, e->f->nregs, regs);
        for (int i = 0; i < n; i++)
            g->wide[regs[i]] = 1;
        save_live(e, g, e->live.in[pc], NULL);
        ptx_jit_need_resume(e, pc + 1);
        need_gang_resume(e, g, pc + 1);
        set_states(e, k32v(e, (int32_t)(pc + 1) | JIT_WARP));
        LLVMBuildBr(B_, e->gdone);
        return 0;
    }
    if (!in->exec || in->op == OP_MEMBAR || in->op == OP_NOP) {
        gang_control(e, g, in, pc);
        return 0;
    }
    LLVMValueRef mask = in->guard != UINT32_MAX ? ptx_jit_guard(e, in) : NULL;
    if (e->callout[pc]) /* the interpreter's executor, for the lanes the guard lets run */
        return ptx_jit_callout(e, in, mask);
    if (in->op == OP_LD || in->op == OP_ST || in->op == OP_ATOM || in->op == OP_RED) {
        gang_mem(e, g, in, mask);
        return 0;
    }
    uint32_t d[PTX_MAX_VEC + 1];
    LLVMValueRef before[PTX_MAX_VEC + 1];
    int nd = mask ? dests(in, d) : 0;
    for (int i = 0; i < nd; i++)
        before[i] = LLVMBuildLoad2(B_, e->vi64, g->regs[d[i]], "");
    if (ptx_jit_op(e, in) < 0)
        return -1;
    for (int i = 0; i < nd; i++) { /* predicated: lanes the guard turns off keep their values */
        LLVMValueRef now = LLVMBuildLoad2(B_, e->vi64, g->regs[d[i]], "");
        LLVMBuildStore(B_, LLVMBuildSelect(B_, mask, now, before[i], ""), g->regs[d[i]]);
    }
    return 0;
}

static void gang_frame(jit_em *e, gang *g, LLVMBasicBlockRef start)
{
    LLVMBasicBlockRef here = LLVMGetInsertBlock(B_);
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(e->fn);
    LLVMPositionBuilder(B_, entry, LLVMGetFirstInstruction(entry));
    for (uint32_t r = 0; r <= e->f->nregs; r++)
        g->regs[r] = LLVMBuildAlloca(B_, e->vi64, "");
    LLVMPositionBuilderAtEnd(B_, here);
    for (uint32_t pc = 0; pc < e->f->ncode; pc++)
        if (e->live.leader[pc])
            g->bb[pc] = block(e, "G");
    LLVMPositionBuilderAtEnd(B_, start);
    LLVMBuildStore(B_, ptx_jit_i32c(e, JIT_YIELD_EDGES), e->budget);
    for (uint32_t r = 0; r < e->f->nregs; r++)
        LLVMBuildStore(B_, ptx_jit_k64(e, 0), g->regs[r]);
    LLVMBuildBr(B_, g->bb[0]);
}

/* lane i's thread index t0 + i, and its %tid */
static void gang_ids(jit_em *e, LLVMValueRef *saved_tid)
{
    LLVMValueRef k[JIT_GANG];
    for (int i = 0; i < JIT_GANG; i++)
        k[i] = ptx_jit_i64c(e, (uint64_t)i);
    memcpy(saved_tid, e->tid, sizeof e->tid);
    e->tv = LLVMBuildAdd(B_, ptx_jit_uniform(e, LLVMBuildZExt(B_, e->t, e->i64, "")),
                         LLVMConstVector(k, JIT_GANG), "tv");
    LLVMValueRef nx = ptx_jit_uniform(e, e->c[JC_NTID_X]), ny = ptx_jit_uniform(e, e->c[JC_NTID_Y]);
    e->tid[0] = LLVMBuildURem(B_, e->tv, nx, "");
    LLVMValueRef q = LLVMBuildUDiv(B_, e->tv, nx, "");
    e->tid[1] = LLVMBuildURem(B_, q, ny, "");
    e->tid[2] = LLVMBuildUDiv(B_, q, ny, "");
}

int ptx_jit_gang_emit(jit_em *e, LLVMBasicBlockRef start)
{
    const ptx_func *f = e->f;
    gang g = {0};
    g.regs = calloc(f->nregs + 1, sizeof *g.regs); /* nregs: the carry flag */
    g.bb = calloc(f->ncode + 1, sizeof *g.bb);
    g.resume = calloc(f->ncode + 1, sizeof *g.resume);
    g.wide = calloc(f->nregs + 1, 1);
    int rc = -1;
    LLVMValueRef stid[3], stv = e->tv;
    if (g.regs && g.bb && g.resume && g.wide && f->ncode) {
        ptx_jit_value_types(e, 1);
        e->sregs = e->regs;
        e->sbb = e->bb;
        /* before the gang switch: the ids dominate the resume points as well as the start */
        LLVMPositionBuilderBefore(B_, e->gsw);
        gang_ids(e, stid);
        LLVMPositionBuilderAtEnd(B_, start);
        gang_frame(e, &g, start);
        e->regs = g.regs; /* the ops read and write the vector registers */
        rc = 0;
        for (uint32_t pc = 0; pc < f->ncode && rc == 0; pc++) {
            if (g.bb[pc]) {
                if (!LLVMGetBasicBlockTerminator(LLVMGetInsertBlock(B_)))
                    LLVMBuildBr(B_, g.bb[pc]);
                LLVMPositionBuilderAtEnd(B_, g.bb[pc]);
            }
            rc = gang_insn(e, &g, &f->code[pc], pc);
        }
        if (rc == 0 && !LLVMGetBasicBlockTerminator(LLVMGetInsertBlock(B_))) {
            /* ran past the end: the interpreter's failure */
            LLVMValueRef a[4] = {e->ctx, ptx_jit_i32c(e, f->ncode - 1), e->t,
                                 ptx_jit_i32c(e, PTX_ERR_LAUNCH_FAILED)};
            LLVMTypeRef ta[4] = {e->p64, e->i32, e->i32, e->i32};
            ptx_jit_call(e, "ptx_jit_rt_fail", e->vd, ta, 4, a);
            LLVMBuildBr(B_, e->fail);
        }
        const char *nw = getenv("SOFTGPU_JIT_NARROW"); /* 0: 64-bit lanes, for comparisons */
        if (rc == 0 && !(nw && nw[0] == '0'))
            ptx_jit_narrow_regs(e, g.regs, f->nregs, g.wide, g.reloads, g.nreloads);
        e->regs = e->sregs;
        memcpy(e->tid, stid, sizeof stid);
        e->tv = stv;
        ptx_jit_value_types(e, 0);
    }
    free(g.regs);
    free(g.bb);
    free(g.resume);
    free(g.wide);
    free(g.reloads);
    return rc;
}
