/*
 * The JIT engine's runtime: which engine runs a launch (SOFTGPU_EXEC=interp|jit|auto, per
 * kernel; the compiler and its caches are ptx_jit_compile.c's), the block runner (phases of the
 * generated function until every thread has exited, warp operations between them) and the helpers
 * generated code calls (address translation and failures through the interpreter's own
 * ptx_translate/ptx_fail, atomics through ptx_atom_host).
 *
 * Called by ptx_pool.c (ptx_launch_run, run_blocks) and softgpu (ptx.h); calls
 * ptx_jit_compile.c, ptx_jit_warp.c, ptx_exec.c and ptx_ops_mem.c. Built without LLVM (no
 * SOFTGPU_HAVE_LLVM), every kernel is interpreted and the reason says so.
 */
#include <stdlib.h>

#include "ptx_jit.h"

enum { EXEC_AUTO, EXEC_INTERP, EXEC_JIT };

static int exec_mode(void)
{
    static atomic_int mode = -1;
    int m = atomic_load(&mode);
    if (m >= 0)
        return m;
    const char *s = getenv("SOFTGPU_EXEC");
    m = EXEC_AUTO;
    if (s && !strcmp(s, "interp"))
        m = EXEC_INTERP;
    else if (s && !strcmp(s, "jit"))
        m = EXEC_JIT;
    else if (s && *s && strcmp(s, "auto"))
        fprintf(stderr, "softgpu: SOFTGPU_EXEC=%s is not interp, jit or auto: using auto\n", s);
    atomic_store(&mode, m);
    return m;
}

/* ---- runtime helpers called by generated code --------------------------------------------- */

/* A one-lane warp standing for thread `thread` of the block, for the interpreter's helpers:
 * warp id and lane give the thread's row of local memory, tid its ids in error messages. */
static void fake_warp(ptx_warp *w, ptx_block *b, uint32_t thread)
{
    memset(w, 0, sizeof *w);
    const struct ptx_launch *l = b->l;
    w->blk = b;
    w->id = (int)(thread / PTX_WARP);
    int lane = (int)(thread % PTX_WARP);
    w->tid[lane][0] = thread % l->block[0];
    w->tid[lane][1] = (thread / l->block[0]) % l->block[1];
    w->tid[lane][2] = thread / (l->block[0] * l->block[1]);
}

void *ptx_jit_rt_translate(uint64_t *ctx, uint32_t insn, uint32_t space, uint64_t addr,
                           uint32_t size, uint32_t thread, uint32_t write)
{
    const ptx_jit_rt *rt = (const ptx_jit_rt *)(uintptr_t)ctx[JC_RT];
    ptx_warp w;
    fake_warp(&w, rt->blk, thread);
    return ptx_translate(&w, &rt->fn->code[insn], (int)space, addr, size,
                         (int)(thread % PTX_WARP), (int)write);
}

uint32_t ptx_jit_rt_atom(uint64_t *ctx, uint32_t insn, uint64_t addr, uint64_t b, uint64_t c,
                         uint32_t thread, uint64_t *old)
{
    const ptx_jit_rt *rt = (const ptx_jit_rt *)(uintptr_t)ctx[JC_RT];
    const ptx_insn *in = &rt->fn->code[insn];
    ptx_warp w;
    fake_warp(&w, rt->blk, thread);
    void *p = ptx_translate(&w, in, in->space, addr, (unsigned)in->bits / 8,
                            (int)(thread % PTX_WARP), 1);
    if (!p)
        return 0;
    *old = ptx_atom_host(in, p, b, c);
    return 1;
}

void ptx_jit_rt_fail(uint64_t *ctx, uint32_t insn, uint32_t thread, uint32_t status)
{
    const ptx_jit_rt *rt = (const ptx_jit_rt *)(uintptr_t)ctx[JC_RT];
    ptx_warp w;
    fake_warp(&w, rt->blk, thread);
    ptx_fail(&w, NULL, (int)(thread % PTX_WARP), (enum ptx_status)status,
             "execution ran past the end of %s (instruction %u)", rt->fn->name, insn);
}

void ptx_jit_rt_trap(uint64_t *ctx, uint32_t insn, uint32_t thread)
{
    const ptx_jit_rt *rt = (const ptx_jit_rt *)(uintptr_t)ctx[JC_RT];
    ptx_warp w;
    fake_warp(&w, rt->blk, thread);
    ptx_fail(&w, &rt->fn->code[insn], (int)(thread % PTX_WARP), PTX_ERR_TRAP, "trap");
}

/* ---- the block runner --------------------------------------------------------------------- */

/* SOFTGPU_JIT_GANG=0 runs every thread alone (the scalar copy), for comparisons. */
static int gangs_enabled(void)
{
    static atomic_int on = -1;
    int v = atomic_load(&on);
    if (v < 0) {
        const char *s = getenv("SOFTGPU_JIT_GANG");
        v = !(s && !strcmp(s, "0"));
        atomic_store(&on, v);
    }
    return v;
}

/* The threads waiting at a bar.red (all those alive, at one barrier 0): the interpreter's
 * reduction of their predicates (spilled by the generated code), written to each one's
 * destination row, which its resume reloads. */
static void bar_red(ptx_block *b, const ptx_func *fn, size_t n)
{
    const ptx_insn *in = NULL;
    uint32_t red = 0;
    for (size_t t = 0; t < n; t++) {
        int32_t s = b->jit_state[t];
        if (s <= 0 || !(s & JIT_WAIT))
            continue;
        uint32_t resume = (uint32_t)(s & ~(JIT_WAIT | JIT_WARP)) - 1;
        const ptx_insn *at = resume > 0 && resume <= fn->ncode ? &fn->code[resume - 1] : NULL;
        if (!at || at->op != OP_BAR_RED)
            return;
        if (!in)
            in = at, red = at->cmp == ATOM_AND;
        const ptx_operand *p = &in->o[2];
        uint64_t v = p->kind == OK_REG ? b->jit_spill[(size_t)p->reg * n + t] : p->imm;
        uint32_t one = (v != 0) ^ p->neg;
        red = in->cmp == ATOM_INC ? red + one : in->cmp == ATOM_AND ? red & one : red | one;
    }
    for (size_t t = 0; in && t < n; t++)
        if (b->jit_state[t] > 0 && (b->jit_state[t] & JIT_WAIT))
            b->jit_spill[(size_t)in->o[0].reg * n + t] = red;
}

int ptx_jit_block_run(ptx_block *b, ptx_jit_phase_fn fn)
{
    const ptx_kernel *k = b->run->k;
    const struct ptx_launch *l = b->l;
    size_t n = (size_t)b->nthreads, nregs = k->fn->nregs ? k->fn->nregs : 1;
    if (!b->jit_state) {
        b->jit_state = calloc(n, sizeof *b->jit_state);
        b->jit_spill = calloc(n * nregs, sizeof *b->jit_spill);
        if (!b->jit_state || !b->jit_spill) {
            ptx_fail(&b->warps[0], NULL, 0, PTX_ERR_LAUNCH_FAILED, "out of memory for block");
            return -1;
        }
    } else {
        memset(b->jit_state, 0, n * sizeof *b->jit_state);
    }
    ptx_jit_rt rt = {b, k->fn};
    uint64_t c[JC_COUNT];
    c[JC_SPILL] = (uintptr_t)b->jit_spill;
    c[JC_STATE] = (uintptr_t)b->jit_state;
    c[JC_SHARED] = (uintptr_t)b->shared;
    c[JC_SHARED_SIZE] = b->shared_size;
    c[JC_LOCAL] = (uintptr_t)b->local;
    c[JC_LOCAL_PER_THREAD] = b->local_per_thread;
    c[JC_PARAMS] = (uintptr_t)l->params;
    c[JC_PARAM_BYTES] = l->param_bytes;
    c[JC_GLOBALS] = (uintptr_t)l->global_addrs;
    c[JC_MEM_BASE] = l->mem->base;
    c[JC_MEM_LIMIT] = l->mem->limit;
    c[JC_MEM_PAGES] = (uintptr_t)l->mem->pages;
    for (int i = 0; i < 3; i++) {
        c[JC_NTID_X + i] = l->block[i];
        c[JC_CTAID_X + i] = b->ctaid[i];
        c[JC_NCTAID_X + i] = l->grid[i];
    }
    c[JC_NTHREADS] = n;
    c[JC_DYN_OFFSET] = k->dyn_offset;
    c[JC_RT] = (uintptr_t)&rt;
    c[JC_GANG] = gangs_enabled();
    for (;;) {
        int32_t r = fn(c);
        if (r == JIT_FAILED || atomic_load_explicit(&b->run->failed, memory_order_relaxed))
            return -1;
        int yielded = 0, waiting = 0, warp = 0;
        for (size_t t = 0; t < n; t++) {
            int32_t s = b->jit_state[t];
            yielded |= s > 0 && !(s & (JIT_WAIT | JIT_WARP));
            waiting |= s > 0 && (s & JIT_WAIT);
            warp |= s > 0 && (s & JIT_WARP);
        }
        if (warp) { /* the meetings of warps none of whose threads can run */
            int ran = ptx_jit_warp_ops(b);
            if (ran < 0)
                return -1;
            if (ran)
                continue;
        }
        if (yielded)
            continue; /* they go on before the barrier may open */
        if (!waiting)
            return 1;
        /* every thread still alive waits at the barrier: release them all */
        bar_red(b, k->fn, n);
        for (size_t t = 0; t < n; t++)
            if (b->jit_state[t] > 0)
                b->jit_state[t] &= ~JIT_WAIT;
    }
}

/* ---- the compiler (ptx_jit_compile.c) ------------------------------------------------------- */

#ifdef SOFTGPU_HAVE_LLVM

static ptx_jit_phase_fn kernel_code(const ptx_kernel *k, int launching, char *why,
                                    size_t whylen)
{
    if (exec_mode() == EXEC_AUTO && !ptx_jit_auto_launch(k, launching)) {
        snprintf(why, whylen, "not compiled yet (auto engine: compiled once hot, meanwhile the "
                 "interpreter runs it)");
        return NULL;
    }
    return ptx_jit_kernel_code(k, why, whylen);
}

void ptx_module_prepare(const ptx_module *m)
{
    if (m && exec_mode() != EXEC_INTERP)
        ptx_jit_prepare_module(m);
}

int ptx_kernel_ready(const ptx_kernel *k)
{
    int m = exec_mode();
    return m == EXEC_INTERP || (m == EXEC_AUTO ? !ptx_jit_auto_waits(k) : ptx_jit_kernel_ready(k));
}

#else

static ptx_jit_phase_fn kernel_code(const ptx_kernel *k, int launching, char *why,
                                    size_t whylen)
{
    (void)k;
    (void)launching;
    snprintf(why, whylen, "softgpu was built without LLVM");
    return NULL;
}

void ptx_module_prepare(const ptx_module *m) { (void)m; }
int ptx_kernel_ready(const ptx_kernel *k) { (void)k; return 1; }
void ptx_jit_forget_module(const ptx_module *m) { (void)m; }

#endif

/* launching: a launch's own decision (counted by the auto engine), not a question. */
static ptx_jit_phase_fn decide(const struct ptx_launch *l, int launching, char *why,
                               size_t whylen)
{
    char tmp[200];
    if (!why || !whylen) {
        why = tmp;
        whylen = sizeof tmp;
    }
    if (exec_mode() == EXEC_INTERP) {
        snprintf(why, whylen, "SOFTGPU_EXEC=interp");
        return NULL;
    }
    if (l->cooperative) {
        snprintf(why, whylen, "cooperative launch (grid sync runs on the interpreter)");
        return NULL;
    }
    if (l->max_thread_instructions) {
        snprintf(why, whylen, "an instruction limit needs the interpreter's counting");
        return NULL;
    }
    return kernel_code(l->kernel, launching, why, whylen);
}

ptx_jit_phase_fn ptx_jit_for_launch(const struct ptx_launch *l, char *why, size_t whylen)
{
    return decide(l, 1, why, whylen);
}

int ptx_kernel_engine(const ptx_kernel *k, char *why, size_t whylen)
{
    struct ptx_launch l;
    memset(&l, 0, sizeof l);
    l.kernel = k;
    return decide(&l, 0, why, whylen) != NULL;
}
