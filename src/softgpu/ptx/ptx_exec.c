/*
 * The execution engine of one thread block: warps, their call frames, divergence and
 * reconvergence, barriers, special registers and the control instructions (bra, call, ret,
 * exit, bar.*, trap). Data instructions are delegated to the executor chosen by the decoder
 * (ptx_ops_*.c). Called by the pool (ptx_pool.c); calls the executors and ptx_printf.c.
 *
 * Divergence: a frame is either converged (one pc for all its lanes) or diverged (a pc per
 * lane). A diverged frame always runs the group of lanes with the smallest pc; since nvcc lays
 * out code so that a branch's reconvergence point follows both paths, the lanes meet again
 * there and the frame returns to the converged fast path. This needs no CFG analysis and stays
 * correct for any control flow. All state is explicit (no C recursion), so a warp can stop
 * after any instruction: at a barrier, or when its time slice ends.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

#include "ptx_internal.h"

#define MAX_CALL_DEPTH 256

void ptx_fail(ptx_warp *w, const ptx_insn *in, int lane, enum ptx_status st, const char *fmt, ...)
{
    w->failed = 1;
    ptx_run *run = w->blk->run;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&run->failed, &expected, 1))
        return;
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (lane < 0 || lane >= PTX_WARP)
        lane = 0;
    ptx_block *b = w->blk;
    pthread_mutex_lock(&run->lock);
    run->status = st;
    snprintf(run->err, sizeof run->err, "%s at line %u: %s (block %u,%u,%u thread %u,%u,%u)",
             in ? in->name : "kernel", in ? in->line : 0, why, b->ctaid[0], b->ctaid[1],
             b->ctaid[2], w->tid[lane][0], w->tid[lane][1], w->tid[lane][2]);
    pthread_mutex_unlock(&run->lock);
}

/* ---- special registers and operands ------------------------------------------------------- */

static uint64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void read_sreg(ptx_warp *w, int sr, uint64_t *out)
{
    ptx_block *b = w->blk;
    const struct ptx_launch *l = b->l;
    uint64_t v = 0;
    switch (sr) {
    case SR_TID_X: case SR_TID_Y: case SR_TID_Z:
        for (int L = 0; L < PTX_WARP; L++)
            out[L] = w->tid[L][sr - SR_TID_X];
        return;
    case SR_LANEID:
        for (int L = 0; L < PTX_WARP; L++)
            out[L] = (uint64_t)L;
        return;
    case SR_LANEMASK_EQ: case SR_LANEMASK_LE: case SR_LANEMASK_LT: case SR_LANEMASK_GE:
    case SR_LANEMASK_GT:
        for (int L = 0; L < PTX_WARP; L++) {
            uint32_t eq = 1u << L, lt = eq - 1;
            out[L] = sr == SR_LANEMASK_EQ ? eq : sr == SR_LANEMASK_LT ? lt
                   : sr == SR_LANEMASK_LE ? (lt | eq) : sr == SR_LANEMASK_GE ? ~lt : ~(lt | eq);
        }
        return;
    case SR_NTID_X: case SR_NTID_Y: case SR_NTID_Z: v = l->block[sr - SR_NTID_X]; break;
    case SR_CTAID_X: case SR_CTAID_Y: case SR_CTAID_Z: v = b->ctaid[sr - SR_CTAID_X]; break;
    case SR_NCTAID_X: case SR_NCTAID_Y: case SR_NCTAID_Z: v = l->grid[sr - SR_NCTAID_X]; break;
    case SR_WARPID: v = (uint64_t)w->id; break;
    case SR_NWARPID: v = (uint64_t)b->nwarps; break;
    case SR_SMID: v = (uint64_t)b->smid; break;
    case SR_NSMID: v = (uint64_t)(l->num_sms > 0 ? l->num_sms : 1); break;
    case SR_GRIDID: v = 1; break;
    case SR_CLOCK: v = (uint32_t)now_ns(CLOCK_MONOTONIC); break;
    case SR_CLOCK_HI: v = (uint32_t)(now_ns(CLOCK_MONOTONIC) >> 32); break;
    case SR_CLOCK64: v = now_ns(CLOCK_MONOTONIC); break;
    case SR_GLOBALTIMER: v = now_ns(CLOCK_REALTIME); break;
    case SR_GLOBALTIMER_LO: v = (uint32_t)now_ns(CLOCK_REALTIME); break;
    case SR_GLOBALTIMER_HI: v = (uint32_t)(now_ns(CLOCK_REALTIME) >> 32); break;
    case SR_DYN_SMEM: v = l->dynamic_shared_bytes; break;
    case SR_TOTAL_SMEM: case SR_AGGR_SMEM: v = b->shared_size; break;
    case SR_CLUSTERID_X: case SR_CLUSTERID_Y: case SR_CLUSTERID_Z:
        v = b->ctaid[sr - SR_CLUSTERID_X];
        break;
    case SR_NCLUSTERID_X: case SR_NCLUSTERID_Y: case SR_NCLUSTERID_Z:
        v = l->grid[sr - SR_NCLUSTERID_X];
        break;
    case SR_CLUSTER_NCTAID_X: case SR_CLUSTER_NCTAID_Y: case SR_CLUSTER_NCTAID_Z:
    case SR_CLUSTER_NCTARANK:
        v = 1;
        break;
    default:
        /* %envreg1/2: the cooperative grid-sync workspace, high and low halves (what the
         * CUDA 13 cooperative_groups headers read and recombine with bfi) */
        if (sr == SR_ENVREG0 + 1)
            v = l->grid_sync_workspace >> 32;
        else if (sr == SR_ENVREG0 + 2)
            v = (uint32_t)l->grid_sync_workspace;
        break;
    }
    for (int L = 0; L < PTX_WARP; L++)
        out[L] = v;
}

uint64_t ptx_sym_value(ptx_warp *w, int sym_kind, uint64_t sym, int lane)
{
    (void)lane;
    switch (sym_kind) {
    case SYM_GLOBAL: return w->blk->l->global_addrs ? w->blk->l->global_addrs[sym] : 0;
    case SYM_SHARED: return sym;
    case SYM_DYNSHARED: return w->blk->run->k->dyn_offset;
    case SYM_LOCAL: return ptx_top(w)->local_base + sym;
    case SYM_KPARAM: return sym;
    case SYM_FPARAM: return sym;
    case SYM_FUNC: return PTX_FUNC_ADDR(sym);
    default: return 0;
    }
}

ptx_src ptx_get_src_slow(ptx_warp *w, const ptx_insn *in, int idx)
{
    const ptx_operand *o = &in->o[idx];
    ptx_src s;
    switch (o->kind) {
    case OK_REG:
        s.p = &ptx_top(w)->regs[(size_t)o->reg * PTX_WARP];
        s.m = 31;
        return s;
    case OK_SREG:
        read_sreg(w, (int)o->imm, w->tmp[idx]);
        s.p = w->tmp[idx];
        s.m = 31;
        return s;
    case OK_SYM:
        w->tmp[idx][0] = ptx_sym_value(w, o->sym_kind, o->sym, 0);
        s.p = w->tmp[idx];
        s.m = 0;
        return s;
    default:
        s.p = &o->imm;
        s.m = 0;
        return s;
    }
}

/* ---- blocks ------------------------------------------------------------------------------- */

static int push_frame(ptx_warp *w, const ptx_func *fn, uint32_t lanes)
{
    if (w->nframes == w->cap_frames) {
        int nc = w->cap_frames ? w->cap_frames * 2 : 4;
        ptx_frame *nf = realloc(w->frames, (size_t)nc * sizeof *nf);
        if (!nf)
            return -1;
        w->frames = nf;
        w->cap_frames = nc;
    }
    ptx_frame *f = &w->frames[w->nframes];
    memset(f, 0, sizeof *f);
    f->fn = fn;
    f->lanes = lanes;
    f->regs = calloc((size_t)(fn->nregs ? fn->nregs : 1) * PTX_WARP, sizeof(uint64_t));
    f->params = calloc((fn->frame_param_bytes ? fn->frame_param_bytes : 8) * PTX_WARP, 1);
    if (!f->regs || !f->params) {
        free(f->regs);
        free(f->params);
        return -1;
    }
    size_t al = fn->depot_align > 16 ? fn->depot_align : 16;
    f->local_base = (w->stack_top + al - 1) / al * al;
    w->stack_top = f->local_base + fn->depot_bytes;
    w->nframes++;
    return 0;
}

static void pop_frame(ptx_warp *w)
{
    ptx_frame *f = ptx_top(w);
    w->stack_top = f->local_base;
    free(f->regs);
    free(f->params);
    w->nframes--;
}

int ptx_block_init(ptx_block *b, ptx_run *run, unsigned linear_id, int smid)
{
    const struct ptx_launch *l = run->l;
    memset(b, 0, sizeof *b);
    b->l = l;
    b->run = run;
    b->smid = smid;
    b->ctaid[0] = linear_id % l->grid[0];
    b->ctaid[1] = (linear_id / l->grid[0]) % l->grid[1];
    b->ctaid[2] = linear_id / (l->grid[0] * l->grid[1]);
    b->nthreads = (int)(l->block[0] * l->block[1] * l->block[2]);
    b->nwarps = (b->nthreads + PTX_WARP - 1) / PTX_WARP;
    b->shared_size = run->k->dyn_offset + l->dynamic_shared_bytes;
    if (l->dynamic_shared_bytes == 0)
        b->shared_size = run->k->static_shared;
    b->shared = calloc(b->shared_size ? b->shared_size : 1, 1);
    b->warps = calloc((size_t)b->nwarps, sizeof *b->warps);
    b->local_per_thread = run->k->max_local;
    if (b->local_per_thread)
        b->local = calloc((size_t)b->nwarps * PTX_WARP, b->local_per_thread);
    if (!b->shared || !b->warps || (b->local_per_thread && !b->local))
        return -1;
    b->live_warps = b->nwarps;
    for (int i = 0; i < b->nwarps; i++) {
        ptx_warp *w = &b->warps[i];
        w->blk = b;
        w->id = i;
        w->red_dst = UINT32_MAX;
        int n = b->nthreads - i * PTX_WARP;
        w->exists = n >= PTX_WARP ? 0xffffffffu : ((1u << n) - 1);
        for (int L = 0; L < PTX_WARP; L++) {
            unsigned t = (unsigned)(i * PTX_WARP + L);
            w->tid[L][0] = t % l->block[0];
            w->tid[L][1] = (t / l->block[0]) % l->block[1];
            w->tid[L][2] = t / (l->block[0] * l->block[1]);
        }
        w->exited = ~w->exists;
        if (push_frame(w, run->k->fn, w->exists) < 0)
            return -1;
    }
    return 0;
}

/* Makes a finished block (of the same launch) the block linear_id without reallocating:
 * fresh warps at the entry, zeroed shared memory. Register and local contents are left as
 * they are, which PTX allows (they are undefined until written). */
int ptx_block_reset(ptx_block *b, unsigned linear_id)
{
    const struct ptx_launch *l = b->l;
    b->ctaid[0] = linear_id % l->grid[0];
    b->ctaid[1] = (linear_id / l->grid[0]) % l->grid[1];
    b->ctaid[2] = linear_id / (l->grid[0] * l->grid[1]);
    memset(b->shared, 0, b->shared_size);
    memset(b->bar_arrived, 0, sizeof b->bar_arrived);
    memset(b->bar_expected, 0, sizeof b->bar_expected);
    memset(b->bar_red, 0, sizeof b->bar_red);
    b->live_warps = b->nwarps;
    for (int i = 0; i < b->nwarps; i++) {
        ptx_warp *w = &b->warps[i];
        while (w->nframes > 1)
            pop_frame(w);
        if (w->nframes != 1)
            return -1;
        ptx_frame *f = ptx_top(w);
        f->pc = 0;
        f->diverged = 0;
        f->done = 0;
        f->lanes = w->exists;
        w->exited = ~w->exists;
        w->waiting = 0;
        memset(w->bar_lanes, 0, sizeof w->bar_lanes);
        w->failed = 0;
        w->red_dst = UINT32_MAX;
        w->stack_top = f->local_base + f->fn->depot_bytes;
        memset(w->carry, 0, sizeof w->carry);
    }
    return 0;
}

void ptx_block_free(ptx_block *b)
{
    for (int i = 0; b->warps && i < b->nwarps; i++) {
        ptx_warp *w = &b->warps[i];
        while (w->nframes > 0)
            pop_frame(w);
        free(w->frames);
    }
    free(b->warps);
    free(b->shared);
    free(b->local);
    free(b->jit_state);
    free(b->jit_spill);
    free(b->jit_wregs);
    memset(b, 0, sizeof *b);
}

/* ---- barriers ----------------------------------------------------------------------------- */

/* Barriers work per warp (PTX ISA, barrier{.cta}): a warp is counted at barrier id once every
 * one of its non-exited threads has arrived, however many separate (divergent) arrivals that
 * took. Without a thread count all non-exited threads of the CTA must arrive; with one, the
 * count is in whole warps, so an arrived warp counts for PTX_WARP threads even when some of its
 * lanes have exited or do not exist (the last warp of a block that is not a multiple of 32). */
static int warp_arrived(const ptx_warp *w, int id)
{
    uint32_t live = ~w->exited;
    return w->bar_lanes[id] && (w->bar_lanes[id] & live) == live;
}

/* Releases barrier id when enough threads arrived. */
static void check_barrier(ptx_block *b, int id)
{
    if (b->bar_arrived[id] == 0)
        return;
    int expected = b->bar_expected[id], arrived = 0, exited = 0;
    for (int i = 0; i < b->nwarps; i++) {
        const ptx_warp *w = &b->warps[i];
        exited += __builtin_popcount(w->exited & w->exists);
        if (warp_arrived(w, id))
            arrived += expected > 0 ? PTX_WARP : __builtin_popcount(~w->exited);
    }
    if (expected <= 0)
        expected = b->nthreads - exited;
    if (arrived < expected)
        return;
    uint32_t red = b->bar_red[id];
    for (int i = 0; i < b->nwarps; i++) {
        ptx_warp *w = &b->warps[i];
        if (!warp_arrived(w, id))
            continue; /* lanes of a warp still arriving stay recorded for the next phase */
        b->bar_arrived[id] -= __builtin_popcount(w->bar_lanes[id]);
        w->bar_lanes[id] = 0;
        if (!w->waiting || w->wait_barrier != id)
            continue;
        if (w->red_dst != UINT32_MAX) {
            uint64_t *d = &w->frames[w->red_frame].regs[(size_t)w->red_dst * PTX_WARP];
            for (int L = 0; L < PTX_WARP; L++)
                if ((w->red_lanes >> L) & 1u)
                    d[L] = red;
            w->red_dst = UINT32_MAX;
        }
        w->waiting = 0;
    }
    b->bar_expected[id] = 0;
    b->bar_red[id] = 0;
}

static void check_all_barriers(ptx_block *b)
{
    for (int id = 0; id < PTX_NBARRIERS; id++)
        check_barrier(b, id);
}

static int pred_true(ptx_warp *w, const ptx_operand *o, int L)
{
    uint64_t v = o->kind == OK_REG ? ptx_top(w)->regs[(size_t)o->reg * PTX_WARP + L] : o->imm;
    return (v != 0) ^ o->neg;
}

/* bar.sync / bar.arrive / bar.red: returns 1 when the arriving lanes must wait. */
static int do_barrier(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_block *b = w->blk;
    int first = in->op == OP_BAR_RED ? 1 : 0;
    ptx_src ids = ptx_get_src(w, in, first);
    int L0 = __builtin_ctz(mask);
    uint64_t id = ids.p[L0 & ids.m];
    if (id >= PTX_NBARRIERS) {
        ptx_fail(w, in, L0, PTX_ERR_LAUNCH_FAILED, "barrier id %llu out of range",
                 (unsigned long long)id);
        return 0;
    }
    int has_count = in->op == OP_BAR_RED ? in->nops == 4 : in->nops >= 2;
    if (has_count) {
        ptx_src cnt = ptx_get_src(w, in, first + 1);
        uint64_t c = cnt.p[L0 & cnt.m];
        if (c == 0 || c % PTX_WARP || c > (uint64_t)b->nwarps * PTX_WARP) {
            ptx_fail(w, in, L0, PTX_ERR_LAUNCH_FAILED, "bad barrier thread count %llu",
                     (unsigned long long)c);
            return 0;
        }
        b->bar_expected[id] = (int)c;
    }
    if (in->op == OP_BAR_RED) {
        const ptx_operand *p = &in->o[in->nops - 1];
        int kind = in->cmp;
        if (b->bar_arrived[id] == 0)
            b->bar_red[id] = kind == ATOM_AND ? 1 : 0;
        for (int L = 0; L < PTX_WARP; L++) {
            if (!((mask >> L) & 1u))
                continue;
            int t = pred_true(w, p, L);
            if (kind == ATOM_INC)
                b->bar_red[id] += (uint32_t)t;
            else if (kind == ATOM_AND)
                b->bar_red[id] &= (uint32_t)t;
            else
                b->bar_red[id] |= (uint32_t)t;
        }
        /* divergent lanes of one warp may arrive separately: the result goes to all of them */
        w->red_lanes = w->red_dst == UINT32_MAX ? mask : w->red_lanes | mask;
        w->red_dst = in->o[0].reg;
        w->red_frame = w->nframes - 1;
    }
    b->bar_arrived[id] += __builtin_popcount(mask & ~w->bar_lanes[id]);
    w->bar_lanes[id] |= mask;
    int wait = in->op != OP_BAR_ARRIVE;
    if (wait) {
        w->waiting |= mask;
        w->wait_barrier = (int)id;
    }
    check_barrier(b, (int)id);
    return wait;
}


/* ---- control flow ------------------------------------------------------------------------- */

static uint32_t frame_alive(const ptx_warp *w, const ptx_frame *f)
{
    return f->lanes & ~f->done & ~w->exited;
}

/* Moves lanes of `mask` to pc `to`; a converged frame stays converged when mask is all of it. */
static void set_pc(ptx_warp *w, ptx_frame *f, uint32_t mask, uint32_t to)
{
    if (!f->diverged) {
        uint32_t alive = frame_alive(w, f);
        if ((alive & ~mask) == 0) {
            f->pc = to;
            return;
        }
        for (int L = 0; L < PTX_WARP; L++)
            f->lpc[L] = f->pc;
        f->diverged = 1;
    }
    for (int L = 0; L < PTX_WARP; L++)
        if ((mask >> L) & 1u)
            f->lpc[L] = to;
}

/* A diverged frame whose live lanes all share one pc becomes converged again. */
static void try_reconverge(ptx_warp *w, ptx_frame *f)
{
    uint32_t alive = frame_alive(w, f);
    if (!alive)
        return;
    uint32_t pc = f->lpc[__builtin_ctz(alive)];
    for (uint32_t m = alive; m; m &= m - 1)
        if (f->lpc[__builtin_ctz(m)] != pc)
            return;
    f->pc = pc;
    f->diverged = 0;
}

static void copy_params(uint8_t *dst, size_t dst_stride, size_t dst_off, const uint8_t *src,
                        size_t src_stride, size_t src_off, size_t n, uint32_t lanes)
{
    for (int L = 0; L < PTX_WARP; L++)
        if ((lanes >> L) & 1u)
            memcpy(dst + (size_t)L * dst_stride + dst_off, src + (size_t)L * src_stride + src_off,
                   n);
}

static uint64_t frame_param_u64(const ptx_frame *f, uint32_t off, uint32_t size, int L)
{
    uint64_t v = 0;
    memcpy(&v, f->params + (size_t)L * f->fn->frame_param_bytes + off, size > 8 ? 8 : size);
    return v;
}

/* device malloc(size) / free(ptr) through the launch's heap callbacks */
static void heap_call(ptx_warp *w, const ptx_insn *in, const ptx_func *callee, uint32_t mask)
{
    ptx_frame *f = ptx_top(w);
    const struct ptx_launch *l = w->blk->l;
    const uint32_t *a = in->call_args + in->nret, *s = in->call_sizes + in->nret;
    if (in->ncall < 1) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "too few arguments to %s",
                 callee->name);
        return;
    }
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        uint64_t arg = frame_param_u64(f, a[0], s[0], L);
        if (callee->builtin == BUILTIN_FREE) {
            if (arg && l->heap_free)
                l->heap_free(l->heap_opaque, arg);
            continue;
        }
        uint64_t p = l->heap_alloc ? l->heap_alloc(l->heap_opaque, arg) : 0;
        if (in->nret)
            memcpy(f->params + (size_t)L * f->fn->frame_param_bytes + in->call_args[0], &p,
                   in->call_sizes[0] < 8 ? in->call_sizes[0] : 8);
    }
}

/* cudaGraphSetConditional(handle, value) through the launch's hook */
static void set_conditional_call(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_frame *f = ptx_top(w);
    const struct ptx_launch *l = w->blk->l;
    const uint32_t *a = in->call_args + in->nret, *s = in->call_sizes + in->nret;
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        uint64_t handle = in->ncall >= 2 ? frame_param_u64(f, a[0], s[0], L) : 0;
        uint32_t value = in->ncall >= 2 ? (uint32_t)frame_param_u64(f, a[1], s[1], L) : 0;
        if (in->ncall < 2 || !l->set_conditional || l->set_conditional(handle, value) != 0) {
            ptx_fail(w, in, L, PTX_ERR_LAUNCH_FAILED,
                     "cudaGraphSetConditional: invalid conditional handle %#llx",
                     (unsigned long long)handle);
            return;
        }
    }
}

static void builtin_call(ptx_warp *w, const ptx_insn *in, const ptx_func *callee, uint32_t mask)
{
    ptx_frame *f = ptx_top(w);
    if (callee->builtin == BUILTIN_MALLOC || callee->builtin == BUILTIN_FREE) {
        heap_call(w, in, callee, mask);
        return;
    }
    if (callee->builtin == BUILTIN_SET_CONDITIONAL) {
        set_conditional_call(w, in, mask);
        return;
    }
    if (in->ncall < (callee->builtin == BUILTIN_VPRINTF ? 2u : 5u)) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED,
                 "too few arguments to %s", callee->name);
        return;
    }
    const uint32_t *a = in->call_args + in->nret, *s = in->call_sizes + in->nret;
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        char out[4096];
        if (callee->builtin == BUILTIN_VPRINTF) {
            int n = ptx_format_printf(w, in, frame_param_u64(f, a[0], s[0], L),
                                      frame_param_u64(f, a[1], s[1], L), L, out, sizeof out);
            if (w->failed)
                return;
            if (n > 0)
                ptx_emit_print(w, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
            if (in->nret)
                memcpy(f->params + (size_t)L * f->fn->frame_param_bytes + in->call_args[0], &n,
                       in->call_sizes[0] < 4 ? in->call_sizes[0] : 4);
            continue;
        }
        /* __assertfail(message, file, line, function, charSize) */
        char msg[512], file[256], func[256];
        if (ptx_read_cstring(w, in, frame_param_u64(f, a[0], s[0], L), msg, sizeof msg, L) < 0 ||
            ptx_read_cstring(w, in, frame_param_u64(f, a[1], s[1], L), file, sizeof file, L) < 0 ||
            ptx_read_cstring(w, in, frame_param_u64(f, a[3], s[3], L), func, sizeof func, L) < 0)
            return;
        unsigned line = (unsigned)frame_param_u64(f, a[2], s[2], L);
        ptx_block *b = w->blk;
        int n = snprintf(out, sizeof out,
                         "%s:%u: %s: block: [%u,%u,%u], thread: [%u,%u,%u] Assertion `%s` failed.\n",
                         file, line, func, b->ctaid[0], b->ctaid[1], b->ctaid[2], w->tid[L][0],
                         w->tid[L][1], w->tid[L][2], msg);
        if (n > 0)
            ptx_emit_print(w, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
        ptx_fail(w, in, L, PTX_ERR_ASSERT, "assertion `%s` failed", msg);
        return;
    }
}

static void do_call(ptx_warp *w, const ptx_insn *in, const ptx_func *callee, uint32_t mask)
{
    if (callee->builtin) {
        builtin_call(w, in, callee, mask);
        return;
    }
    if (w->nframes >= MAX_CALL_DEPTH) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED,
                 "call depth exceeds %d (runaway recursion?)", MAX_CALL_DEPTH);
        return;
    }
    if (push_frame(w, callee, mask) < 0) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "out of memory");
        return;
    }
    if (w->stack_top > w->blk->local_per_thread) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED,
                 "local memory stack overflow in call to %s", callee->name);
        return;
    }
    ptx_frame *caller = &w->frames[w->nframes - 2], *f = ptx_top(w);
    f->call = in;
    uint32_t n = in->ncall < (uint32_t)callee->nparams ? in->ncall : (uint32_t)callee->nparams;
    for (uint32_t i = 0; i < n; i++) {
        size_t sz = in->call_sizes[in->nret + i];
        if (sz > callee->params[i].size)
            sz = callee->params[i].size;
        copy_params(f->params, callee->frame_param_bytes, callee->params[i].offset,
                    caller->params, caller->fn->frame_param_bytes, in->call_args[in->nret + i],
                    sz, mask);
    }
}

/* The top frame has no live lanes left: copy return values to the caller and pop it. */
static void finish_call(ptx_warp *w)
{
    ptx_frame *f = ptx_top(w), *caller = &w->frames[w->nframes - 2];
    const ptx_insn *in = f->call;
    uint32_t lanes = f->done & ~w->exited;
    uint32_t n = in->nret < (uint32_t)f->fn->nrets ? in->nret : (uint32_t)f->fn->nrets;
    for (uint32_t i = 0; i < n; i++) {
        size_t sz = in->call_sizes[i] < f->fn->rets[i].size ? in->call_sizes[i]
                                                             : f->fn->rets[i].size;
        copy_params(caller->params, caller->fn->frame_param_bytes, in->call_args[i], f->params,
                    f->fn->frame_param_bytes, f->fn->rets[i].offset, sz, lanes);
    }
    pop_frame(w);
}

static uint32_t guard_mask(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    const uint64_t *p = &ptx_top(w)->regs[(size_t)in->guard * PTX_WARP];
    uint32_t m = 0;
    for (int L = 0; L < PTX_WARP; L++)
        m |= (uint32_t)(p[L] != 0) << L;
    return (in->guard_neg ? ~m : m) & mask;
}

/* Executes a control instruction for `mask` (lanes at this pc) of which `emask` pass the
 * guard. Returns 1 when the warp must stop running now (parked, exited, failed). */
static int control(ptx_warp *w, ptx_frame *f, const ptx_insn *in, uint32_t pc, uint32_t mask,
                   uint32_t emask)
{
    switch (in->op) {
    case OP_BRA:
        if (emask)
            set_pc(w, f, emask, (uint32_t)in->o[0].imm);
        if (mask & ~emask)
            set_pc(w, f, mask & ~emask, pc + 1);
        return 0;
    case OP_EXIT:
    case OP_RET:
        set_pc(w, f, mask & ~emask, pc + 1);
        if (in->op == OP_RET && w->nframes > 1) {
            f->done |= emask;
        } else if (emask) {
            w->exited |= emask;
            check_all_barriers(w->blk);
        }
        return 0;
    case OP_CALL: {
        const ptx_module *m = w->blk->run->k->mod;
        if (in->o[0].kind == OK_FUNC) {
            set_pc(w, f, mask, pc + 1);
            if (emask)
                do_call(w, in, m->funcs[in->o[0].imm], emask);
            return w->failed;
        }
        /* indirect: the lanes calling the same function as the first one go now; the others
         * stay at this call and go when the scheduler comes back to it */
        if (!emask) {
            set_pc(w, f, mask, pc + 1);
            return 0;
        }
        const uint64_t *t = &f->regs[(size_t)in->o[0].reg * PTX_WARP];
        int L0 = __builtin_ctz(emask);
        uint64_t target = t[L0], idx = (target - PTX_FUNC_ADDR_BASE) / 16;
        if (target < PTX_FUNC_ADDR_BASE || (target & 15) || idx >= (uint64_t)m->nfuncs ||
            (!m->funcs[idx]->defined && !m->funcs[idx]->builtin)) {
            ptx_fail(w, in, L0, PTX_ERR_ILLEGAL_ADDRESS, "call through invalid function pointer 0x%llx",
                     (unsigned long long)target);
            return 1;
        }
        uint32_t same = 0;
        for (uint32_t mm = emask; mm; mm &= mm - 1)
            if (t[__builtin_ctz(mm)] == target)
                same |= 1u << __builtin_ctz(mm);
        set_pc(w, f, same | (mask & ~emask), pc + 1);
        do_call(w, in, m->funcs[idx], same);
        return w->failed;
    }
    case OP_BAR:
    case OP_BAR_ARRIVE:
    case OP_BAR_RED:
        set_pc(w, f, mask, pc + 1);
        if (!emask)
            return 0;
        return do_barrier(w, in, emask) || w->failed;
    case OP_TRAP:
        if (emask) {
            ptx_fail(w, in, __builtin_ctz(emask), PTX_ERR_TRAP, "trap");
            return 1;
        }
        set_pc(w, f, mask, pc + 1);
        return 0;
    default:
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "unexecutable instruction");
        return 1;
    }
}

/* Runs warp w for up to `budget` instructions. Returns the number executed; stops early when
 * the warp parks at a barrier, exits or fails. */
static int run_warp(ptx_warp *w, int budget, uint64_t *thread_insns)
{
    int executed = 0;
    uint64_t tinsns = 0;
    while (executed < budget && !w->failed) {
        ptx_frame *f = ptx_top(w);
        uint32_t alive = frame_alive(w, f);
        uint32_t live = alive & ~w->waiting;
        if (!live) {
            if (!alive && w->nframes > 1) {
                finish_call(w);
                continue;
            }
            break;
        }
        uint32_t pc, mask;
        if (!f->diverged) {
            pc = f->pc;
            mask = live;
        } else {
            pc = UINT32_MAX;
            for (uint32_t m = live; m; m &= m - 1) {
                uint32_t p = f->lpc[__builtin_ctz(m)];
                if (p < pc)
                    pc = p;
            }
            mask = 0;
            for (uint32_t m = live; m; m &= m - 1)
                if (f->lpc[__builtin_ctz(m)] == pc)
                    mask |= 1u << __builtin_ctz(m);
        }
        if (pc >= f->fn->ncode) {
            ptx_fail(w, NULL, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED,
                     "execution ran past the end of %s", f->fn->name);
            break;
        }
        const ptx_insn *in = &f->fn->code[pc];
        uint32_t emask = in->guard == UINT32_MAX ? mask : guard_mask(w, in, mask);
        executed++;
        tinsns += emask == 0xffffffffu ? 32u : (uint64_t)__builtin_popcount(emask);
        if (in->exec) {
            if (emask)
                in->exec(w, in, emask);
            if (f->diverged) {
                for (uint32_t m = mask; m; m &= m - 1)
                    f->lpc[__builtin_ctz(m)] = pc + 1;
                try_reconverge(w, f);
            } else {
                f->pc = pc + 1;
            }
            continue;
        }
        int depth = w->nframes;
        int stop = control(w, f, in, pc, mask, emask);
        f = &w->frames[depth - 1]; /* a call may have pushed a frame (and moved the array) */
        if (f->diverged)
            try_reconverge(w, f);
        if (stop)
            break;
    }
    *thread_insns += tinsns;
    return executed;
}

int ptx_block_run(ptx_block *b, int slice, uint64_t *insns)
{
    for (;;) {
        int alive = 0, progressed = 0;
        for (int i = 0; i < b->nwarps; i++) {
            ptx_warp *w = &b->warps[i];
            if ((w->exited & w->exists) == w->exists)
                continue;
            alive++;
            if (atomic_load_explicit(&b->run->failed, memory_order_relaxed))
                return -1;
            if (run_warp(w, slice, insns) > 0)
                progressed = 1;
            if (w->failed)
                return -1;
            if (b->l->max_thread_instructions && *insns > b->l->max_thread_instructions) {
                ptx_fail(w, NULL, 0, PTX_ERR_LAUNCH_FAILED,
                         "instruction limit of %llu thread-instructions exceeded",
                         (unsigned long long)b->l->max_thread_instructions);
                return -1;
            }
        }
        if (!alive)
            return 1;
        if (!progressed) {
            ptx_warp *w = NULL;
            for (int i = 0; i < b->nwarps && !w; i++)
                if ((b->warps[i].exited & b->warps[i].exists) != b->warps[i].exists)
                    w = &b->warps[i];
            ptx_fail(w, NULL, __builtin_ctz(~w->exited), PTX_ERR_LAUNCH_FAILED,
                     "deadlock: every remaining warp waits at a barrier that cannot complete");
            return -1;
        }
        if (b->l->cooperative)
            return 0;
    }
}
