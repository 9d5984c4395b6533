/*
 * Register liveness over a function's basic blocks, for the JIT translator: a thread that stops
 * at a barrier or yields at a loop's back edge saves only the registers live at the point where
 * it resumes, and its resume block reloads only those. Backward dataflow on bitsets:
 * live_in(B) = use(B) + (live_out(B) - def(B)), live_out(B) = union of live_in(successors),
 * iterated to the fixed point. Reads are over-approximated (every register an operand names
 * that is not the destination), and a predicated write kills nothing, so the sets are safe.
 * Calls nothing but libc.
 */
#include <stdlib.h>

#include "ptx_jit.h"

static int ends_block(const ptx_insn *in)
{
    return in->op == OP_BRA || in->op == OP_RET || in->op == OP_EXIT || in->op == OP_BAR ||
           in->op == OP_BAR_RED || in->op == OP_TRAP;
}

static void mark_leaders(jit_live *lv, const ptx_func *f)
{
    if (f->ncode)
        lv->leader[0] = 1;
    for (uint32_t pc = 0; pc < f->ncode; pc++) {
        const ptx_insn *in = &f->code[pc];
        if (in->op == OP_BRA && in->o[0].kind == OK_LABEL && in->o[0].imm < f->ncode)
            lv->leader[in->o[0].imm] = 1;
        if ((ends_block(in) || ptx_jit_is_warp_op(in)) && pc + 1 < f->ncode)
            lv->leader[pc + 1] = 1;
        if (ptx_jit_is_warp_op(in)) /* a stop of its own: live-in holds its operands */
            lv->leader[pc] = 1;
    }
}

static int writes_dest(const ptx_insn *in)
{
    return in->exec && in->op != OP_ST && in->op != OP_RED && in->nops > 0;
}

static void set_bit(uint64_t *s, uint32_t r) { s[r / 64] |= 1ull << (r % 64); }
static void clr_bit(uint64_t *s, uint32_t r) { s[r / 64] &= ~(1ull << (r % 64)); }

/* Applies instruction in to the set of registers live after it (backwards: kill then gen). */
static void step_back(uint64_t *live, const ptx_insn *in, uint32_t nregs)
{
    int wd = writes_dest(in);
    if (wd && in->guard == UINT32_MAX) {
        const ptx_operand *d = &in->o[0];
        if (d->kind == OK_REG) {
            clr_bit(live, d->reg);
            if (d->nvec && d->vec[0] < nregs)
                clr_bit(live, d->vec[0]);
        } else if (d->kind == OK_VEC) {
            for (int i = 0; i < d->nvec; i++)
                if (d->vec[i] < nregs)
                    clr_bit(live, d->vec[i]);
        }
    }
    if (in->guard < nregs)
        set_bit(live, in->guard);
    for (int i = 0; i < in->nops; i++) {
        const ptx_operand *o = &in->o[i];
        if (i == 0 && wd && o->kind != OK_ADDR) /* an address first (cp.async, sust, */
            continue;                           /* mbarrier, wmma.store) is read */
        if ((o->kind == OK_REG || o->kind == OK_ADDR) && o->reg < nregs)
            set_bit(live, o->reg);
        if (o->kind == OK_VEC || o->kind == OK_ADDR) /* OK_ADDR: a texture's coordinates */
            for (int v = 0; v < o->nvec; v++)
                if (o->vec[v] < nregs)
                    set_bit(live, o->vec[v]);
    }
}

/* live_out of the block ending at `last`: the union of its successors' live-in sets */
static void block_out(jit_live *lv, const ptx_func *f, uint32_t last, uint64_t *out)
{
    const ptx_insn *in = &f->code[last];
    memset(out, 0, lv->words * sizeof *out);
    int falls = !(in->guard == UINT32_MAX &&
                  (in->op == OP_BRA || in->op == OP_RET || in->op == OP_EXIT));
    if (falls && last + 1 < f->ncode)
        for (uint32_t w = 0; w < lv->words; w++)
            out[w] |= lv->in[last + 1][w];
    if (in->op == OP_BRA && in->o[0].kind == OK_LABEL && in->o[0].imm < f->ncode)
        for (uint32_t w = 0; w < lv->words; w++)
            out[w] |= lv->in[in->o[0].imm][w];
}

int ptx_jit_live_build(jit_live *lv, const ptx_func *f)
{
    memset(lv, 0, sizeof *lv);
    lv->words = (f->nregs + 63) / 64 + 1;
    lv->leader = calloc(f->ncode + 1, 1);
    lv->in = calloc(f->ncode + 1, sizeof *lv->in);
    uint64_t *cur = calloc(lv->words, sizeof *cur);
    if (!lv->leader || !lv->in || !cur) {
        free(cur);
        return -1;
    }
    mark_leaders(lv, f);
    for (uint32_t pc = 0; pc < f->ncode; pc++)
        if (lv->leader[pc] && !(lv->in[pc] = calloc(lv->words, sizeof(uint64_t)))) {
            free(cur);
            return -1;
        }
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t end = f->ncode; end > 0;) { /* blocks from the last one up */
            uint32_t start = end - 1;
            while (!lv->leader[start])
                start--;
            block_out(lv, f, end - 1, cur);
            for (uint32_t pc = end; pc-- > start;)
                step_back(cur, &f->code[pc], f->nregs);
            if (memcmp(cur, lv->in[start], lv->words * sizeof *cur)) {
                memcpy(lv->in[start], cur, lv->words * sizeof *cur);
                changed = 1;
            }
            end = start;
        }
    }
    free(cur);
    return 0;
}

void ptx_jit_live_free(jit_live *lv, uint32_t ncode)
{
    for (uint32_t pc = 0; lv->in && pc < ncode; pc++)
        free(lv->in[pc]);
    free(lv->in);
    free(lv->leader);
    memset(lv, 0, sizeof *lv);
}
