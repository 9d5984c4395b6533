/*
 * Warp-level operations on the JIT engine (shfl.sync in every mode, vote.sync, match.sync,
 * redux.sync, activemask, bar.warp.sync). Generated code stops a thread at one as at a barrier
 * of its warp: state (pc + 1) | JIT_WARP, the registers live into the instruction in its spill
 * row. Once no thread of its warp can run (ptx_jit_block_run; threads of other warps may be
 * spinning on what this one is to do), the warp's lanes waiting at the
 * same instruction run it together, through the interpreter's own executor (ptx_x_warp) on a
 * warp made of their spilled registers, so both engines give the same bits; the results go back
 * to their spill rows and the lanes resume after the instruction (state pc + 2). Lanes of a warp
 * meet there whatever path led them, the convergence that .sync asks of the hardware; a lane
 * whose guard is false takes no part, as in the interpreter. bar.warp.sync is the same meeting
 * with nothing to compute: lanes run one after another between meetings, so a __syncwarp()
 * orders their shared-memory accesses as it does on a GPU.
 *
 * The warp-collective matrix operations (mma, wmma, ldmatrix/stmatrix) and elect.sync meet the
 * same way and run their own executors (ptx_mma.c, ptx_ops_matrix.c, ptx_ops_async.c).
 *
 * Called by ptx_jit.c; calls the instructions' executors (ptx_x_warp, ...) and ptx_exec.c
 * (ptx_fail, operands).
 */
#include <stdlib.h>

#include "ptx_jit.h"

int ptx_jit_is_warp_op(const ptx_insn *in)
{
    switch (in->op) {
    case OP_SHFL: case OP_VOTE: case OP_MATCH: case OP_REDUX: case OP_ACTIVEMASK:
    case OP_BAR_WARP:
    /* warp-collective too: every lane holds a piece of the matrices (mma, wmma, ldmatrix,
     * stmatrix), elect.sync picks one lane of those that meet */
    case OP_MMA: case OP_WMMA_LOAD: case OP_WMMA_STORE: case OP_WMMA_MMA: case OP_LDMATRIX:
    case OP_STMATRIX: case OP_ELECT:
        return 1;
    default:
        return 0;
    }
}

/* Calls f(reg) for every register operand of in (sources, destinations, vector elements). */
#define FOR_REGS(in, nregs, body)                                                             \
    for (int i_ = 0; i_ < (in)->nops; i_++) {                                                 \
        const ptx_operand *o_ = &(in)->o[i_];                                                 \
        if ((o_->kind == OK_REG || o_->kind == OK_ADDR) && o_->reg < (nregs)) {               \
            uint32_t reg = o_->reg;                                                           \
            body;                                                                             \
        }                                                                                     \
        for (int v_ = 0; v_ < o_->nvec; v_++) /* OK_ADDR: a texture's coordinates */           \
            if (o_->vec[v_] < (nregs)) {                                                      \
                uint32_t reg = o_->vec[v_];                                                   \
                body;                                                                         \
            }                                                                                 \
    }

int ptx_jit_insn_regs(const ptx_insn *in, uint32_t nregs, uint32_t *out)
{
    int n = 0;
    FOR_REGS(in, nregs, {
        int seen = 0;
        for (int i = 0; i < n && !seen; i++)
            seen = out[i] == reg;
        if (!seen)
            out[n++] = reg;
    });
    return n;
}

/* A warp of block b for the interpreter's executors: threads first..first+count-1 (in one warp)
 * exist, with their ids; one frame of the kernel over the block's JIT warp registers, mask
 * taking part. */
static void make_warp(ptx_warp *w, ptx_frame *fr, ptx_block *b, uint32_t first, uint32_t count,
                      uint32_t mask)
{
    const struct ptx_launch *l = b->l;
    memset(w, 0, sizeof *w);
    memset(fr, 0, sizeof *fr);
    w->blk = b;
    w->id = (int)(first / PTX_WARP);
    for (uint32_t t = first; t < first + count; t++) {
        uint32_t L = t % PTX_WARP;
        w->exists |= 1u << L;
        w->tid[L][0] = t % l->block[0];
        w->tid[L][1] = (t / l->block[0]) % l->block[1];
        w->tid[L][2] = t / (l->block[0] * l->block[1]);
    }
    fr->fn = b->run->k->fn;
    fr->regs = b->jit_wregs;
    fr->lanes = mask;
    w->frames = fr;
    w->nframes = w->cap_frames = 1;
}

/* The lanes of group (a warp starting at thread w0) run instruction in. */
static void run_group(ptx_block *b, uint32_t w0, const ptx_insn *in, uint32_t group)
{
    const ptx_func *f = b->run->k->fn;
    size_t n = (size_t)b->nthreads;
    uint64_t *sp = b->jit_spill, *wr = b->jit_wregs;
    uint32_t mask = 0;
    for (int L = 0; L < PTX_WARP; L++)
        if ((group >> L) & 1u)
            mask |= (uint32_t)(in->guard == UINT32_MAX ||
                               ((sp[(size_t)in->guard * n + w0 + L] != 0) ^ in->guard_neg))
                    << L;
    if (!mask || in->op == OP_BAR_WARP)
        return;
    ptx_warp w;
    ptx_frame fr;
    make_warp(&w, &fr, b, w0, n - w0 < PTX_WARP ? (uint32_t)(n - w0) : PTX_WARP, mask);
    FOR_REGS(in, f->nregs, {
        for (int L = 0; L < PTX_WARP; L++)
            if ((mask >> L) & 1u)
                wr[(size_t)reg * PTX_WARP + L] = sp[(size_t)reg * n + w0 + L];
    });
    in->exec(&w, in, mask);
    FOR_REGS(in, f->nregs, {
        for (int L = 0; L < PTX_WARP; L++)
            if ((mask >> L) & 1u)
                sp[(size_t)reg * n + w0 + L] = wr[(size_t)reg * PTX_WARP + L];
    });
}

int ptx_jit_warp_ops(ptx_block *b)
{
    const ptx_func *f = b->run->k->fn;
    uint32_t n = (uint32_t)b->nthreads;
    int32_t *st = b->jit_state;
    if (!b->jit_wregs &&
        !(b->jit_wregs = calloc((size_t)(f->nregs ? f->nregs : 1) * PTX_WARP, sizeof(uint64_t)))) {
        ptx_fail(&b->warps[0], NULL, 0, PTX_ERR_LAUNCH_FAILED, "out of memory for block");
        return -1;
    }
    int ran = 0;
    for (uint32_t w0 = 0; w0 < n; w0 += PTX_WARP) {
        uint32_t end = w0 + PTX_WARP < n ? w0 + PTX_WARP : n, runnable = 0;
        for (uint32_t t = w0; t < end; t++) /* a lane still on its way may be coming too */
            runnable |= st[t] == 0 || (st[t] > 0 && !(st[t] & (JIT_WAIT | JIT_WARP)));
        for (uint32_t t = w0; t < end && !runnable; t++) {
            int32_t s = st[t];
            if (s <= 0 || !(s & JIT_WARP))
                continue;
            uint32_t pc = (uint32_t)(s & ~JIT_WARP) - 1, group = 0;
            for (uint32_t u = t; u < end; u++)
                if (st[u] == s)
                    group |= 1u << (u - w0);
            run_group(b, w0, &f->code[pc], group);
            ran++;
            if (atomic_load_explicit(&b->run->failed, memory_order_relaxed))
                return -1;
            for (uint32_t u = t; u < end; u++)
                if ((group >> (u - w0)) & 1u)
                    st[u] = (int32_t)pc + 2;
        }
    }
    return ran;
}

/* ---- one instruction for one thread or a gang: the per-instruction fallback ---------------- */

/* The instructions the JIT does not translate itself (half precision, the rare bit operations,
 * carry chains, textures and surfaces, cp.async, ...) run here, lane by lane as the
 * interpreter runs them, on a warp made of the caller's register values: the same bits by
 * construction, and a failure reported as the interpreter reports it. */
/* 1 when the instruction just run found something to wait for: a test_wait/try_wait whose
 * phase is not complete in a lane (its predicate, the first slot, false), or nanosleep. */
static int waiting(const ptx_insn *in, const uint64_t *buf, uint32_t lanes, uint32_t mask)
{
    if (in->op == OP_NANOSLEEP)
        return 1;
    if (in->op != OP_MBARRIER || !strstr(in->name, "_wait") || in->o[0].kind != OK_REG)
        return 0;
    for (uint32_t i = 0; i < lanes; i++)
        if (((mask >> i) & 1u) && !buf[i])
            return 1;
    return 0;
}

uint32_t ptx_jit_rt_exec(uint64_t *ctx, uint32_t insn, uint32_t thread, uint32_t lanes,
                         uint32_t mask, uint64_t *buf)
{
    const ptx_jit_rt *rt = (const ptx_jit_rt *)(uintptr_t)ctx[JC_RT];
    ptx_block *b = rt->blk;
    const ptx_insn *in = &rt->fn->code[insn];
    uint32_t nregs = rt->fn->nregs, regs[JIT_INSN_REGS], lane0 = thread % PTX_WARP;
    if (!mask) /* the guard holds in no lane: as in the interpreter, nothing runs */
        return 1;
    if (!b->jit_wregs &&
        !(b->jit_wregs = calloc((size_t)(nregs ? nregs : 1) * PTX_WARP, sizeof(uint64_t)))) {
        ptx_fail(&b->warps[0], NULL, 0, PTX_ERR_LAUNCH_FAILED, "out of memory for block");
        return 0;
    }
    ptx_warp w;
    ptx_frame fr;
    make_warp(&w, &fr, b, thread, lanes, mask << lane0);
    int n = ptx_jit_insn_regs(in, nregs, regs);
    uint64_t *wr = b->jit_wregs;
    for (int s = 0; s < n; s++)
        for (uint32_t i = 0; i < lanes; i++)
            wr[(size_t)regs[s] * PTX_WARP + lane0 + i] = buf[(size_t)s * lanes + i];
    for (uint32_t i = 0; i < lanes; i++)
        w.carry[lane0 + i] = (uint8_t)buf[(size_t)n * lanes + i];
    in->exec(&w, in, mask << lane0);
    if (atomic_load_explicit(&b->run->failed, memory_order_relaxed))
        return 0;
    for (int s = 0; s < n; s++)
        for (uint32_t i = 0; i < lanes; i++)
            buf[(size_t)s * lanes + i] = wr[(size_t)regs[s] * PTX_WARP + lane0 + i];
    for (uint32_t i = 0; i < lanes; i++)
        buf[(size_t)n * lanes + i] = w.carry[lane0 + i];
    return waiting(in, buf, lanes, mask) ? 2 : 1;
}
