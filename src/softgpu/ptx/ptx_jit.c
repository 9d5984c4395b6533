/*
 * The JIT engine's runtime: which engine runs a launch (SOFTGPU_EXEC=interp|jit|auto, per
 * kernel), the compiler (LLVM's ORC LLJIT through the C API: one JIT per process, the module
 * optimised with the default<O3> pipeline for the host CPU's features), the in-memory cache of
 * compiled kernels keyed by a 128-bit hash of the module's PTX text and the kernel's name, the
 * block runner (phases of the generated function until every thread has exited) and the helpers
 * generated code calls (address translation and failures through the interpreter's own
 * ptx_translate/ptx_fail, atomics through ptx_atom_host).
 *
 * Called by ptx_pool.c (ptx_launch_run, run_blocks); calls ptx_jit_emit*.c, ptx_exec.c,
 * ptx_ops_mem.c and LLVM. Built without LLVM (no SOFTGPU_HAVE_LLVM), every kernel is
 * interpreted and the reason says so.
 */
#include <stdlib.h>
#include <time.h>

#include "ptx_jit.h"

#ifdef SOFTGPU_HAVE_LLVM
#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#endif

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
        int yielded = 0, waiting = 0;
        for (size_t t = 0; t < n; t++) {
            int32_t s = b->jit_state[t];
            yielded |= s > 0 && !(s & JIT_WAIT);
            waiting |= s > 0 && (s & JIT_WAIT);
        }
        if (yielded)
            continue; /* they go on before the barrier may open */
        if (!waiting)
            return 1;
        /* every thread still alive waits at the barrier: release them all */
        for (size_t t = 0; t < n; t++)
            if (b->jit_state[t] > 0)
                b->jit_state[t] &= ~JIT_WAIT;
    }
}

/* ---- the compiler and its cache ------------------------------------------------------------ */

static pthread_mutex_t jit_lock = PTHREAD_MUTEX_INITIALIZER;

#ifdef SOFTGPU_HAVE_LLVM

typedef struct cache_entry {
    uint64_t hash[2];
    char *name;
    ptx_jit_phase_fn fn;    /* NULL: the kernel is not supported (why) */
    char why[160];
    struct cache_entry *next;
} cache_entry;

static struct {
    int state; /* 0 not started, 1 ready, -1 failed (why) */
    char why[200];
    LLVMOrcLLJITRef jit;
    LLVMTargetMachineRef tm;
    char *cpu, *features; /* the host's, on every function: fma, AVX... in code generation */
    cache_entry *cache;
    unsigned seq;
} J;

static void llvm_error(LLVMErrorRef err, const char *what)
{
    char *msg = LLVMGetErrorMessage(err);
    snprintf(J.why, sizeof J.why, "%s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
}

/* Symbols generated code calls, by address: the library exports only the driver API. */
static LLVMErrorRef define_runtime(LLVMOrcJITDylibRef jd)
{
    static const struct { const char *name; void *addr; } syms[] = {
        {"ptx_jit_rt_translate", (void *)ptx_jit_rt_translate},
        {"ptx_jit_rt_atom", (void *)ptx_jit_rt_atom},
        {"ptx_jit_rt_fail", (void *)ptx_jit_rt_fail},
    };
    enum { N = sizeof syms / sizeof syms[0] };
    LLVMJITCSymbolMapPair pairs[N];
    LLVMOrcExecutionSessionRef es = LLVMOrcLLJITGetExecutionSession(J.jit);
    for (int i = 0; i < N; i++) {
        pairs[i].Name = LLVMOrcExecutionSessionIntern(es, syms[i].name);
        pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)syms[i].addr;
        pairs[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported |
                                          LLVMJITSymbolGenericFlagsCallable;
        pairs[i].Sym.Flags.TargetFlags = 0;
    }
    return LLVMOrcJITDylibDefine(jd, LLVMOrcAbsoluteSymbols(pairs, N));
}

static int start_llvm(void)
{
    if (J.state)
        return J.state;
    J.state = -1;
    if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
        snprintf(J.why, sizeof J.why, "LLVM has no native target");
        return -1;
    }
    LLVMOrcJITTargetMachineBuilderRef jtmb;
    LLVMErrorRef err = LLVMOrcJITTargetMachineBuilderDetectHost(&jtmb);
    if (err) {
        llvm_error(err, "host detection");
        return -1;
    }
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
    if ((err = LLVMOrcCreateLLJIT(&J.jit, builder))) {
        llvm_error(err, "LLJIT");
        return -1;
    }
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(J.jit);
    LLVMOrcDefinitionGeneratorRef gen; /* libm for the transcendental functions */
    if ((err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
             &gen, LLVMOrcLLJITGetGlobalPrefix(J.jit), NULL, NULL))) {
        llvm_error(err, "process symbols");
        return -1;
    }
    LLVMOrcJITDylibAddGenerator(jd, gen);
    if ((err = define_runtime(jd))) {
        llvm_error(err, "runtime symbols");
        return -1;
    }
    char *triple = LLVMGetDefaultTargetTriple(), *msg = NULL;
    J.cpu = LLVMGetHostCPUName();
    J.features = LLVMGetHostCPUFeatures();
    LLVMTargetRef target;
    if (!LLVMGetTargetFromTriple(triple, &target, &msg))
        J.tm = LLVMCreateTargetMachine(target, triple, J.cpu, J.features,
                                       LLVMCodeGenLevelAggressive, LLVMRelocDefault,
                                       LLVMCodeModelJITDefault);
    LLVMDisposeMessage(msg);
    LLVMDisposeMessage(triple);
    if (!J.tm) {
        snprintf(J.why, sizeof J.why, "no target machine for the host");
        return -1;
    }
    J.state = 1;
    return 1;
}

static int optimise(LLVMModuleRef mod, char *why, size_t whylen)
{
    char *msg = NULL;
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
        snprintf(why, whylen, "internal error, invalid IR: %.120s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return -1;
    }
    LLVMDisposeMessage(msg);
    LLVMPassBuilderOptionsRef opt = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(opt, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(opt, 1);
    LLVMPassBuilderOptionsSetLoopUnrolling(opt, 1);
    LLVMErrorRef err = LLVMRunPasses(mod, "default<O3>", J.tm, opt);
    LLVMDisposePassBuilderOptions(opt);
    if (err) {
        char *m = LLVMGetErrorMessage(err);
        snprintf(why, whylen, "optimiser: %.120s", m);
        LLVMDisposeErrorMessage(m);
        return -1;
    }
    return 0;
}

/* Translates, optimises and links kernel k; NULL with why when it is not supported. */
static ptx_jit_phase_fn compile(const ptx_kernel *k, char *why, size_t whylen)
{
    char name[64];
    snprintf(name, sizeof name, "ptx_kernel_%u", ++J.seq);
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMContextRef cx = LLVMOrcThreadSafeContextGetContext(tsc);
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(name, cx);
    LLVMSetTarget(mod, LLVMOrcLLJITGetTripleString(J.jit));
    LLVMSetDataLayout(mod, LLVMOrcLLJITGetDataLayoutStr(J.jit));
    int rc = ptx_jit_emit_kernel(cx, mod, k, name, why, whylen);
    if (rc == 0) {
        LLVMValueRef fn = LLVMGetNamedFunction(mod, name);
        LLVMAddTargetDependentFunctionAttr(fn, "target-cpu", J.cpu);
        LLVMAddTargetDependentFunctionAttr(fn, "target-features", J.features);
        rc = optimise(mod, why, whylen);
    }
    if (rc < 0) {
        LLVMDisposeModule(mod);
        LLVMOrcDisposeThreadSafeContext(tsc);
        return NULL;
    }
    const char *dump = getenv("SOFTGPU_JIT_DUMP"); /* a folder: the optimised IR per kernel */
    if (dump && *dump) {
        char path[4096], *msg = NULL;
        snprintf(path, sizeof path, "%s/%s.%s.ll", dump, name, k->fn->name);
        if (LLVMPrintModuleToFile(mod, path, &msg))
            fprintf(stderr, "softgpu: SOFTGPU_JIT_DUMP: %s: %s\n", path, msg ? msg : "?");
        LLVMDisposeMessage(msg);
    }
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    LLVMOrcDisposeThreadSafeContext(tsc);
    LLVMErrorRef err = LLVMOrcLLJITAddLLVMIRModule(J.jit, LLVMOrcLLJITGetMainJITDylib(J.jit), tsm);
    LLVMOrcExecutorAddress addr = 0;
    if (!err)
        err = LLVMOrcLLJITLookup(J.jit, &addr, name);
    if (err) {
        char *m = LLVMGetErrorMessage(err);
        snprintf(why, whylen, "code generation: %.120s", m);
        LLVMDisposeErrorMessage(m);
        return NULL;
    }
    return (ptx_jit_phase_fn)(uintptr_t)addr;
}

static cache_entry *cache_find(const ptx_kernel *k)
{
    const char *name = k->fn->name;
    for (cache_entry *c = J.cache; c; c = c->next)
        if (c->hash[0] == k->mod->text_hash[0] && c->hash[1] == k->mod->text_hash[1] &&
            !strcmp(c->name, name))
            return c;
    return NULL;
}

/* SOFTGPU_EXEC_REPORT=path: one line per kernel the first time the engine decides for it
 * ("jit NAME compiled in 12.1 ms" / "interp NAME why"), appended, for tests and tuning. */
static void report(const cache_entry *c)
{
    const char *path = getenv("SOFTGPU_EXEC_REPORT");
    FILE *f = path && *path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    fprintf(f, "%s %s %s\n", c->fn ? "jit" : "interp", c->name, c->why);
    fclose(f);
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The kernel's entry in the cache, compiling it on first use (under jit_lock). */
static cache_entry *kernel_entry(const ptx_kernel *k, char *why, size_t whylen)
{
    cache_entry *c = cache_find(k);
    if (c)
        return c;
    if (start_llvm() < 0) {
        snprintf(why, whylen, "LLVM unavailable: %s", J.why);
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(k->fn->name))) {
        free(c);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    c->hash[0] = k->mod->text_hash[0];
    c->hash[1] = k->mod->text_hash[1];
    c->fn = compile(k, c->why, sizeof c->why);
    if (c->fn)
        snprintf(c->why, sizeof c->why, "compiled in %.1f ms (%u instructions)", ms_since(&t0),
                 k->fn->ncode);
    c->next = J.cache;
    J.cache = c;
    report(c);
    return c;
}

/* The kernel's decision: looked up once per kernel (then kept in the kernel, so a launch costs
 * one atomic load), compiled once per PTX text. */
static ptx_jit_phase_fn kernel_code(const ptx_kernel *k, char *why, size_t whylen)
{
    _Atomic(void *) *slot = &((ptx_kernel *)k)->jit_entry;
    cache_entry *c = atomic_load_explicit(slot, memory_order_acquire);
    if (c) {
        snprintf(why, whylen, "%s", c->why);
        return c->fn;
    }
    pthread_mutex_lock(&jit_lock);
    int hit = cache_find(k) != NULL;
    c = kernel_entry(k, why, whylen);
    if (c) {
        snprintf(why, whylen, "%s%s", c->fn && hit ? "cache hit, first " : "", c->why);
        atomic_store_explicit(slot, c, memory_order_release);
    }
    pthread_mutex_unlock(&jit_lock);
    return c ? c->fn : NULL;
}

#else

static ptx_jit_phase_fn kernel_code(const ptx_kernel *k, char *why, size_t whylen)
{
    (void)k;
    snprintf(why, whylen, "softgpu was built without LLVM");
    return NULL;
}

#endif

ptx_jit_phase_fn ptx_jit_for_launch(const struct ptx_launch *l, char *why, size_t whylen)
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
    return kernel_code(l->kernel, why, whylen);
}

int ptx_kernel_engine(const ptx_kernel *k, char *why, size_t whylen)
{
    struct ptx_launch l;
    memset(&l, 0, sizeof l);
    l.kernel = k;
    return ptx_jit_for_launch(&l, why, whylen) != NULL;
}
