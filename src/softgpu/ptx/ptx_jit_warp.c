/*
 * Warp-level operations on the JIT engine (shfl.sync in every mode, vote.sync, match.sync,
 * redux.sync, activemask, bar.warp.sync). Generated code stops a thread at one as at a barrier
 * of its warp: state (pc + 1) | JIT_WARP, the registers live into the instruction in its spill
 * row. Once no thread of the block can run (ptx_jit_block_run), each warp's lanes waiting at the
 * same instruction run it together, through the interpreter's own executor (ptx_x_warp) on a
 * warp made of their spilled registers, so both engines give the same bits; the results go back
 * to their spill rows and the lanes resume after the instruction (state pc + 2). Lanes of a warp
 * meet there whatever path led them, the convergence that .sync asks of the hardware; a lane
 * whose guard is false takes no part, as in the interpreter. bar.warp.sync is the same meeting
 * with nothing to compute: lanes run one after another between meetings, so a __syncwarp()
 * orders their shared-memory accesses as it does on a GPU.
 *
 * Called by ptx_jit.c; calls ptx_ops_warp.c (ptx_x_warp) and ptx_exec.c (ptx_fail, operands).
 */
#include <stdlib.h>

#include "ptx_jit.h"

int ptx_jit_is_warp_op(const ptx_insn *in)
{
    switch (in->op) {
    case OP_SHFL: case OP_VOTE: case OP_MATCH: case OP_REDUX: case OP_ACTIVEMASK:
    case OP_BAR_WARP:
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
        for (int v_ = 0; v_ < o_->nvec && (o_->kind == OK_REG || o_->kind == OK_VEC); v_++)   \
            if (o_->vec[v_] < (nregs)) {                                                      \
                uint32_t reg = o_->vec[v_];                                                   \
                body;                                                                         \
            }                                                                                 \
    }

/* The lanes of group (a warp starting at thread w0) run instruction in. */
static void run_group(ptx_block *b, uint32_t w0, const ptx_insn *in, uint32_t group)
{
    const ptx_func *f = b->run->k->fn;
    const struct ptx_launch *l = b->l;
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
    memset(&w, 0, sizeof w);
    memset(&fr, 0, sizeof fr);
    w.blk = b;
    w.id = (int)(w0 / PTX_WARP);
    for (uint32_t L = 0; L < PTX_WARP && w0 + L < n; L++) {
        uint32_t t = w0 + L;
        w.exists |= 1u << L;
        w.tid[L][0] = t % l->block[0];
        w.tid[L][1] = (t / l->block[0]) % l->block[1];
        w.tid[L][2] = t / (l->block[0] * l->block[1]);
    }
    fr.fn = f;
    fr.regs = wr;
    fr.lanes = mask;
    w.frames = &fr;
    w.nframes = w.cap_frames = 1;
    FOR_REGS(in, f->nregs, {
        for (int L = 0; L < PTX_WARP; L++)
            if ((mask >> L) & 1u)
                wr[(size_t)reg * PTX_WARP + L] = sp[(size_t)reg * n + w0 + L];
    });
    ptx_x_warp(&w, in, mask);
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
    for (uint32_t w0 = 0; w0 < n; w0 += PTX_WARP) {
        uint32_t end = w0 + PTX_WARP < n ? w0 + PTX_WARP : n;
        for (uint32_t t = w0; t < end; t++) {
            int32_t s = st[t];
            if (s <= 0 || !(s & JIT_WARP))
                continue;
            uint32_t pc = (uint32_t)(s & ~JIT_WARP) - 1, group = 0;
            for (uint32_t u = t; u < end; u++)
                if (st[u] == s)
                    group |= 1u << (u - w0);
            run_group(b, w0, &f->code[pc], group);
            if (atomic_load_explicit(&b->run->failed, memory_order_relaxed))
                return -1;
            for (uint32_t u = t; u < end; u++)
                if ((group >> (u - w0)) & 1u)
                    st[u] = (int32_t)pc + 2;
        }
    }
    return 0;
}
