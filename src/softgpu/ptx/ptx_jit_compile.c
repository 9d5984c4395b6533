/*
 * The JIT's compiler and its caches. LLVM's ORC LLJIT through the C API (one JIT per process):
 * a kernel's IR (ptx_jit_emit*.c) is optimised with the default<O3> pipeline for the host CPU,
 * turned into an object by the target machine and linked into the JIT from that object, so that
 * the same bytes can go to the disk cache (ptx_jit_disk.c) and a later process links them
 * without compiling.
 *
 * Off the launch path (issue 13): a module's load queues its kernels (ptx_module_prepare) for a
 * compiler thread of the process; a launch whose kernel is not ready takes it from the queue and
 * compiles it itself, or waits for the thread already compiling it. Softgpu's launch path does
 * that wait before it asks for the device, and tells the device clock (launch.c), so no tenant
 * is charged device time for a compile. The in-memory cache (entries by the SHA-256 of the PTX
 * text and the kernel's name) lives as long as the process: a kernel keeps its finished entry,
 * so a launch costs one atomic load.
 *
 * Locking: q_lock guards the entries and the queue and is never held while compiling;
 * llvm_lock serialises LLVM (the JIT, the target machine). A fork waits for a compile in
 * progress (so the child's LLVM is in a sane state) and the child compiles on its launching
 * threads; exit stops the thread after its current kernel (LLVM's static destructors must not
 * run under it).
 *
 * Called by ptx_jit.c and ptx_module.c; calls ptx_jit_emit*.c, ptx_jit_disk.c and LLVM.
 */
#include <stdlib.h>
#include <time.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "ptx_jit.h"
#include "ptx_jit_disk.h"

enum { CE_QUEUED, CE_BUSY, CE_DONE };

typedef struct cache_entry {
    uint8_t sha[32];          /* the PTX text's */
    char *name;
    int state;
    int ahead;                /* queued at module load: a launch waits for it */
    const ptx_kernel *k;      /* queued, busy or upgrading: the kernel to compile */
    _Atomic(ptx_jit_phase_fn) fn; /* done: NULL when the kernel is not supported (why) */
    int upgrade;              /* done with the quick tier's code: 1 the optimised code queued,
                               * 2 being compiled (tiers, below) */
    char why[160];
    struct cache_entry *next, *qnext;
} cache_entry;

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER, llvm_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;  /* the queue grew, or stop */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER; /* an entry is done, the thread left */
static cache_entry *cache, *q_head, **q_tail = &q_head;
static int thread_running, thread_stop;

static struct {
    int state; /* 0 not started, 1 ready, -1 failed (why) */
    char why[200];
    LLVMOrcLLJITRef jit;
    LLVMTargetMachineRef tm, tm_quick; /* the optimising code generator, the quick tier's */
    char *cpu, *features; /* the host's, on every function: fma, AVX... in code generation */
} J;

static void llvm_error(LLVMErrorRef err, const char *what, char *why, size_t whylen)
{
    char *msg = LLVMGetErrorMessage(err);
    snprintf(why, whylen, "%s: %.120s", what, msg);
    LLVMDisposeErrorMessage(msg);
}

/* Symbols generated code calls, by address: the library exports only the driver API. */
static LLVMErrorRef define_runtime(LLVMOrcJITDylibRef jd)
{
    static const struct { const char *name; void *addr; } syms[] = {
        {"ptx_jit_rt_translate", (void *)ptx_jit_rt_translate},
        {"ptx_jit_rt_atom", (void *)ptx_jit_rt_atom},
        {"ptx_jit_rt_fail", (void *)ptx_jit_rt_fail},
        {"ptx_jit_rt_trap", (void *)ptx_jit_rt_trap},
        {"ptx_jit_rt_exec", (void *)ptx_jit_rt_exec},
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

static int start_jit(void)
{
    LLVMOrcJITTargetMachineBuilderRef jtmb;
    LLVMErrorRef err = LLVMOrcJITTargetMachineBuilderDetectHost(&jtmb);
    if (err) {
        llvm_error(err, "host detection", J.why, sizeof J.why);
        return -1;
    }
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
    if ((err = LLVMOrcCreateLLJIT(&J.jit, builder))) {
        llvm_error(err, "LLJIT", J.why, sizeof J.why);
        return -1;
    }
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(J.jit);
    LLVMOrcDefinitionGeneratorRef gen; /* libm for the transcendental functions */
    if ((err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
             &gen, LLVMOrcLLJITGetGlobalPrefix(J.jit), NULL, NULL))) {
        llvm_error(err, "process symbols", J.why, sizeof J.why);
        return -1;
    }
    LLVMOrcJITDylibAddGenerator(jd, gen);
    if ((err = define_runtime(jd))) {
        llvm_error(err, "runtime symbols", J.why, sizeof J.why);
        return -1;
    }
    return 0;
}

/* SOFTGPU_JIT_CODEGEN=0..3: the code generator's optimisation level, for tuning. */
static LLVMCodeGenOptLevel codegen_level(void)
{
    const char *s = getenv("SOFTGPU_JIT_CODEGEN");
    static const LLVMCodeGenOptLevel lv[4] = {LLVMCodeGenLevelNone, LLVMCodeGenLevelLess,
                                              LLVMCodeGenLevelDefault,
                                              LLVMCodeGenLevelAggressive};
    return s && s[0] >= '0' && s[0] <= '3' && !s[1] ? lv[s[0] - '0'] : LLVMCodeGenLevelAggressive;
}

/* llvm_lock held. */
static int start_llvm(void)
{
    if (J.state)
        return J.state;
    J.state = -1;
    if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
        snprintf(J.why, sizeof J.why, "LLVM has no native target");
        return -1;
    }
    if (start_jit() < 0)
        return -1;
    char *triple = LLVMGetDefaultTargetTriple(), *msg = NULL;
    J.cpu = LLVMGetHostCPUName();
    J.features = LLVMGetHostCPUFeatures();
    LLVMTargetRef target;
    /* the JIT's default code model (large on x86-64): an object links wherever its sections
     * land, which the disk cache's objects need */
    if (!LLVMGetTargetFromTriple(triple, &target, &msg))
        J.tm = LLVMCreateTargetMachine(target, triple, J.cpu, J.features,
                                       codegen_level(), LLVMRelocDefault,
                                       LLVMCodeModelJITDefault);
    if (J.tm)
        J.tm_quick = LLVMCreateTargetMachine(target, triple, J.cpu, J.features,
                                             LLVMCodeGenLevelNone, LLVMRelocDefault,
                                             LLVMCodeModelJITDefault);
    LLVMDisposeMessage(msg);
    LLVMDisposeMessage(triple);
    if (!J.tm || !J.tm_quick) {
        snprintf(J.why, sizeof J.why, "no target machine for the host");
        return -1;
    }
    J.state = 1;
    return 1;
}

static int optimise(LLVMModuleRef mod, int quick, char *why, size_t whylen)
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
    const char *passes = getenv("SOFTGPU_JIT_PASSES"); /* for tuning: an LLVM pipeline */
    if (quick)
        passes = "default<O1>";
    LLVMErrorRef err = LLVMRunPasses(mod, passes && *passes ? passes : "default<O3>",
                                     quick ? J.tm_quick : J.tm, opt);
    LLVMDisposePassBuilderOptions(opt);
    if (err) {
        llvm_error(err, "optimiser", why, whylen);
        return -1;
    }
    return 0;
}

/* SOFTGPU_JIT_DUMP=folder: the optimised IR of every kernel compiled, for tuning. */
static void dump_ir(LLVMModuleRef mod, const char *name, const ptx_kernel *k)
{
    const char *dump = getenv("SOFTGPU_JIT_DUMP");
    if (!dump || !*dump)
        return;
    char path[4096], *msg = NULL;
    snprintf(path, sizeof path, "%s/%s.%s.ll", dump, name, k->fn->name);
    if (LLVMPrintModuleToFile(mod, path, &msg))
        fprintf(stderr, "softgpu: SOFTGPU_JIT_DUMP: %s: %s\n", path, msg ? msg : "?");
    LLVMDisposeMessage(msg);
}

/* Links an object into the JIT (taking the buffer) and finds the kernel's function in it. */
static ptx_jit_phase_fn link_object(LLVMMemoryBufferRef obj, const char *name, char *why,
                                    size_t whylen)
{
    LLVMErrorRef err = LLVMOrcLLJITAddObjectFile(J.jit, LLVMOrcLLJITGetMainJITDylib(J.jit), obj);
    LLVMOrcExecutorAddress addr = 0;
    if (!err)
        err = LLVMOrcLLJITLookup(J.jit, &addr, name);
    if (err) {
        llvm_error(err, "linking", why, whylen);
        return NULL;
    }
    return (ptx_jit_phase_fn)(uintptr_t)addr;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Where a compile's time went (ms), told in the kernel's reason for tuning: translating to IR,
 * the optimiser's passes, code generation, linking into the JIT. */
typedef struct phase_ms {
    double emit, opt, codegen, link;
} phase_ms;

/* Translates and optimises kernel k as function `name`, and makes its object (*obj, the
 * caller's). -1 with why when the kernel is not supported or LLVM failed. */
static int compile_object(const ptx_kernel *k, const char *name, int quick,
                          LLVMMemoryBufferRef *obj, char *why, size_t whylen, phase_ms *pm)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    LLVMContextRef cx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(name, cx);
    LLVMSetTarget(mod, LLVMOrcLLJITGetTripleString(J.jit));
    LLVMSetDataLayout(mod, LLVMOrcLLJITGetDataLayoutStr(J.jit));
    int rc = ptx_jit_emit_kernel(cx, mod, k, name, why, whylen);
    if (rc == 0) {
        LLVMValueRef fn = LLVMGetNamedFunction(mod, name);
        LLVMAddTargetDependentFunctionAttr(fn, "target-cpu", J.cpu);
        LLVMAddTargetDependentFunctionAttr(fn, "target-features", J.features);
        pm->emit = ms_since(&t0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = optimise(mod, quick, why, whylen);
        pm->opt = ms_since(&t0);
    }
    if (rc == 0) {
        dump_ir(mod, name, k);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char *msg = NULL;
        if (LLVMTargetMachineEmitToMemoryBuffer(quick ? J.tm_quick : J.tm, mod, LLVMObjectFile,
                                                &msg, obj)) {
            snprintf(why, whylen, "code generation: %.120s", msg ? msg : "?");
            rc = -1;
        }
        LLVMDisposeMessage(msg);
        pm->codegen = ms_since(&t0);
    }
    LLVMDisposeModule(mod);
    LLVMContextDispose(cx);
    return rc;
}

/* Tiers (SOFTGPU_JIT_TIERS, default on; 0: off): a kernel not in the disk cache is compiled
 * first by the quick tier (the O1 pipeline, LLVM's fast instruction selection and register
 * allocation: a third of the optimising compile's time, codegen most of it), runs with that
 * code at once, and is queued for the compiler thread's optimising compile, whose code replaces
 * it when done (launches read the entry's code each time; the quick code stays linked) and is
 * the one written to the disk cache. At exit the thread finishes the queued upgrades, so the
 * next process links optimised code. Read at each compile (a bench's child may change it). */
static int tiers_on(void)
{
    const char *s = getenv("SOFTGPU_JIT_TIERS");
    return !(s && !strcmp(s, "0"));
}

/* The kernel's code from the disk cache, else compiled (and stored there unless quick, *upgrade
 * then set); llvm_lock held. Names the function after the key: an object from the disk
 * defines the same name in every process, and distinct kernels never share one. */
static ptx_jit_phase_fn build(const ptx_kernel *k, int quick, int *upgrade, char *why,
                              size_t whylen)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (start_llvm() < 0) {
        snprintf(why, whylen, "LLVM unavailable: %.120s", J.why);
        return NULL;
    }
    uint8_t key[32];
    char name[48], hex[65]; /* 16 bytes of the key: 32 hex digits */
    int keyed = ptx_jit_disk_key(k->mod->text_sha, k->fn->name, J.cpu, J.features, key) == 0;
    ptx_jit_hex(keyed ? key : k->mod->text_sha, 16, hex);
    snprintf(name, sizeof name, "ptx_k_%.32s", hex);
    size_t size;
    void *bytes = keyed ? ptx_jit_disk_get(key, &size) : NULL;
    if (bytes) {
        LLVMMemoryBufferRef mb = LLVMCreateMemoryBufferWithMemoryRangeCopy(bytes, size, name);
        free(bytes);
        ptx_jit_phase_fn fn = link_object(mb, name, why, whylen);
        if (fn) {
            snprintf(why, whylen, "loaded from the disk cache in %.2f ms (%u instructions)",
                     ms_since(&t0), k->fn->ncode);
            return fn;
        }
        fprintf(stderr, "softgpu: JIT cache: the object of %s did not link (%s): compiling\n",
                k->fn->name, why);
        snprintf(name, sizeof name, "ptx_k_%.32s_r", hex); /* its symbols may be half defined */
        keyed = 0;
    }
    LLVMMemoryBufferRef obj = NULL;
    phase_ms pm = {0, 0, 0, 0};
    if (quick) /* its own symbol: the optimised code, linked later, takes the key's */
        snprintf(name + strlen(name), sizeof name - strlen(name), "_q");
    if (compile_object(k, name, quick, &obj, why, whylen, &pm) < 0)
        return NULL;
    if (keyed && !quick)
        ptx_jit_disk_put(key, LLVMGetBufferStart(obj), LLVMGetBufferSize(obj));
    *upgrade = quick;
    struct timespec tl;
    clock_gettime(CLOCK_MONOTONIC, &tl);
    ptx_jit_phase_fn fn = link_object(obj, name, why, whylen);
    pm.link = ms_since(&tl);
    if (fn)
        snprintf(why, whylen, "compiled in %.1f ms (%s; %u instructions; IR %.1f, passes %.1f, "
                 "codegen %.1f, link %.1f ms)", ms_since(&t0), quick ? "quick tier" : "optimised",
                 k->fn->ncode, pm.emit, pm.opt, pm.codegen, pm.link);
    return fn;
}

/* ---- entries, the queue and the compiler thread -------------------------------------------- */

/* q_lock held. */
static cache_entry *cache_find(const ptx_kernel *k)
{
    for (cache_entry *c = cache; c; c = c->next)
        if (!memcmp(c->sha, k->mod->text_sha, 32) && !strcmp(c->name, k->fn->name))
            return c;
    return NULL;
}

/* A new entry for k in state st (q_lock held); NULL when out of memory. */
static cache_entry *cache_add(const ptx_kernel *k, int st)
{
    cache_entry *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(k->fn->name))) {
        free(c);
        return NULL;
    }
    memcpy(c->sha, k->mod->text_sha, 32);
    c->state = st;
    c->k = k;
    c->next = cache;
    cache = c;
    if (st == CE_QUEUED) {
        *q_tail = c;
        q_tail = &c->qnext;
    }
    return c;
}

/* Takes c (queued) off the queue; q_lock held. */
static void dequeue(cache_entry *c)
{
    for (cache_entry **p = &q_head; *p; p = &(*p)->qnext)
        if (*p == c) {
            *p = c->qnext;
            if (q_tail == &c->qnext)
                q_tail = p;
            c->qnext = NULL;
            return;
        }
}

/* SOFTGPU_EXEC_REPORT=path: one line per kernel the first time the engine decides for it
 * ("jit NAME compiled in 12.1 ms" / "interp NAME why"), and one when the optimising tier
 * replaces quick code ("jit-opt NAME compiled in ..."), appended, for tests and tuning. */
static void report_line(const char *what, const char *name, const char *why)
{
    const char *path = getenv("SOFTGPU_EXEC_REPORT");
    FILE *f = path && *path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    fprintf(f, "%s %s %s\n", what, name, why);
    fclose(f);
}

static void report(const cache_entry *c)
{
    report_line(atomic_load(&c->fn) ? "jit" : "interp", c->name, c->why);
}

static void start_compiler(void);

/* Compiles busy entry c (q_lock not held) and marks it done; quick code queues its upgrade. */
static void compile_entry(cache_entry *c)
{
    char why[sizeof c->why];
    int upgrade = 0;
    pthread_mutex_lock(&llvm_lock);
    ptx_jit_phase_fn fn = build(c->k, tiers_on(), &upgrade, why, sizeof why);
    pthread_mutex_unlock(&llvm_lock);
    pthread_mutex_lock(&q_lock);
    memcpy(c->why, why, sizeof why);
    atomic_store(&c->fn, fn);
    atomic_store_explicit(&((ptx_kernel *)c->k)->jit_entry, c, memory_order_release);
    c->state = CE_DONE;
    report(c);
    if (fn && upgrade) {
        c->upgrade = 1;
        *q_tail = c;
        q_tail = &c->qnext;
        start_compiler();
        pthread_cond_broadcast(&q_cv);
    } else {
        c->k = NULL;
    }
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&q_lock);
}

/* The optimising compile of entry c (upgrading, q_lock not held): its code replaces c's. */
static void upgrade_entry(cache_entry *c)
{
    char why[sizeof c->why];
    int again = 0;
    pthread_mutex_lock(&llvm_lock);
    ptx_jit_phase_fn fn = build(c->k, 0, &again, why, sizeof why);
    pthread_mutex_unlock(&llvm_lock);
    pthread_mutex_lock(&q_lock);
    if (fn) { /* c->why stays the quick tier's: launches read it without the lock */
        atomic_store(&c->fn, fn);
        report_line("jit-opt", c->name, why);
    }
    c->upgrade = 0;
    c->k = NULL;
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&q_lock);
}

/* The next entry for the thread (q_lock held): the queue's head; once stopping, only upgrades
 * (the next process then links optimised code from the disk), else NULL. */
static cache_entry *next_job(void)
{
    for (cache_entry *c = q_head; c; c = c->qnext)
        if (!thread_stop || c->upgrade)
            return c;
    return NULL;
}

static void *compiler_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&q_lock);
    for (;;) {
        while (!q_head && !thread_stop)
            pthread_cond_wait(&q_cv, &q_lock);
        cache_entry *c = next_job();
        if (!c)
            break;
        dequeue(c);
        if (c->upgrade) {
            c->upgrade = 2;
            pthread_mutex_unlock(&q_lock);
            upgrade_entry(c);
        } else {
            c->state = CE_BUSY;
            pthread_mutex_unlock(&q_lock);
            compile_entry(c);
        }
        pthread_mutex_lock(&q_lock);
    }
    thread_running = 0;
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&q_lock);
    return NULL;
}

/* At exit: the thread finishes the kernel it compiles and stops (the queue is dropped). */
static void stop_compiler(void)
{
    pthread_mutex_lock(&q_lock);
    thread_stop = 1;
    pthread_cond_broadcast(&q_cv);
    while (thread_running)
        pthread_cond_wait(&done_cv, &q_lock);
    pthread_mutex_unlock(&q_lock);
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&llvm_lock);
    pthread_mutex_lock(&q_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&q_lock);
    pthread_mutex_unlock(&llvm_lock);
}

/* The child has no compiler thread: entries another thread had taken go back to the queue
 * (none was inside LLVM: the fork waited for llvm_lock), for the child's launches to take. */
static void fork_child(void)
{
    thread_running = 0;
    for (cache_entry *c = cache; c; c = c->next)
        if (c->state == CE_BUSY || c->upgrade == 2) {
            if (c->state == CE_BUSY)
                c->state = CE_QUEUED;
            else
                c->upgrade = 1;
            *q_tail = c;
            q_tail = &c->qnext;
        }
    pthread_mutex_unlock(&q_lock);
    pthread_mutex_unlock(&llvm_lock);
}

static void once_init(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    atexit(stop_compiler);
}

/* q_lock held. */
static void start_compiler(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (thread_running || thread_stop)
        return;
    pthread_once(&once, once_init);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &a, compiler_main, NULL) == 0)
        thread_running = 1;
    pthread_attr_destroy(&a);
}

/* What is compiled ahead of a first launch. Only modules of at most PRELOAD_MODULE_KERNELS
 * kernels (a program's own; a library's hold dozens of variants) and, per process, at most
 * SOFTGPU_JIT_PRELOAD instructions in all (default 4000, 0: none): a compile cannot be stopped,
 * so a launch may wait behind one that is not its own, and cuBLAS's 330-430-instruction GEMM
 * variants took 12-27 s each on a loaded host (compiling 32 of them ahead kept cuda_direct_cublas
 * past its 600 s timeout). The others compile at their first launch, still off the device
 * clock. */
#define PRELOAD_MODULE_KERNELS 8

/* A count from the environment variable name (0..max), read once into *cache (-1: not yet);
 * def when it is unset or not such a count (said once, with what it should count). */
static long env_count(atomic_long *cache, const char *name, long def, long max, const char *what)
{
    long v = atomic_load(cache);
    if (v < 0) {
        const char *s = getenv(name);
        char *end = NULL;
        v = s && *s ? strtol(s, &end, 10) : def;
        if (s && *s && (*end || v < 0 || v > max)) {
            fprintf(stderr, "softgpu: %s=%s is not %s: %ld\n", name, s, what, def);
            v = def;
        }
        atomic_store(cache, v);
    }
    return v;
}

static long preload_budget(void)
{
    static atomic_long lim = -1;
    return env_count(&lim, "SOFTGPU_JIT_PRELOAD", 4000, 100000000, "an instruction count");
}

void ptx_jit_prepare_module(const ptx_module *m)
{
    static long preloaded; /* instructions, q_lock */
    long total = 0;
    for (int i = 0; i < m->nkernels; i++)
        total += m->kernels[i].fn->ncode;
    if (m->nkernels > PRELOAD_MODULE_KERNELS || !total)
        return;
    pthread_mutex_lock(&q_lock);
    int queued = 0;
    if (preloaded + total <= preload_budget()) {
        preloaded += total;
        for (int i = 0; i < m->nkernels; i++) {
            cache_entry *c = cache_find(&m->kernels[i]) ? NULL
                             : cache_add(&m->kernels[i], CE_QUEUED);
            if (c)
                c->ahead = 1;
            queued += c != NULL;
        }
    }
    if (queued) {
        start_compiler();
        pthread_cond_broadcast(&q_cv);
    }
    pthread_mutex_unlock(&q_lock);
}

/* SOFTGPU_JIT_HOT: the launch of a kernel not compiled ahead that queues it (default 3; 0:
 * compiled at its first launch, which waits for it, off the device clock). A
 * library's modules hold dozens of variants, most launched once or twice: compiling each at its
 * first launch cost cuBLAS's 330-430-instruction GEMM variants 8-27 s apiece on a loaded host,
 * far more than interpreting them, and kept cuda_direct_cublas past its 600 s timeout. */
static unsigned hot_launches(void)
{
    static atomic_long lim = -1;
    return (unsigned)env_count(&lim, "SOFTGPU_JIT_HOT", 3, 1000000, "a launch count");
}

int ptx_jit_auto_launch(const ptx_kernel *k, int launching)
{
    if (hot_launches() == 0 ||
        atomic_load_explicit(&((ptx_kernel *)k)->jit_entry, memory_order_acquire))
        return 1;
    pthread_mutex_lock(&q_lock);
    cache_entry *c = cache_find(k);
    int jit = c && (c->state == CE_DONE || c->ahead);
    if (!c && launching && ++((ptx_kernel *)k)->jit_launches >= hot_launches() &&
        (c = cache_add(k, CE_QUEUED)) != NULL) {
        start_compiler();
        pthread_cond_broadcast(&q_cv);
    }
    pthread_mutex_unlock(&q_lock);
    return jit;
}

int ptx_jit_auto_waits(const ptx_kernel *k)
{
    if (hot_launches() == 0)
        return !ptx_jit_kernel_ready(k);
    if (atomic_load_explicit(&((ptx_kernel *)k)->jit_entry, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&q_lock);
    cache_entry *c = cache_find(k);
    int waits = c && c->ahead && c->state != CE_DONE;
    pthread_mutex_unlock(&q_lock);
    return waits;
}

void ptx_jit_forget_module(const ptx_module *m)
{
    pthread_mutex_lock(&q_lock);
    for (;;) {
        int busy = 0;
        for (cache_entry **p = &cache; *p;) {
            cache_entry *c = *p;
            if (c->state == CE_DONE && c->upgrade && c->k->mod == m) {
                if (c->upgrade == 1 && !thread_running && thread_stop) {
                    dequeue(c); /* no thread to compile it: the quick code stays */
                    c->upgrade = 0;
                    c->k = NULL;
                } else { /* finished first (programs unload at exit: the disk gets it) */
                    if (c->upgrade == 1) {
                        dequeue(c);
                        c->qnext = q_head;
                        if (!q_head)
                            q_tail = &c->qnext;
                        q_head = c;
                        start_compiler();
                        pthread_cond_broadcast(&q_cv);
                    }
                    busy = 1;
                }
                p = &c->next;
                continue;
            }
            if (c->state == CE_DONE || c->k->mod != m) {
                p = &c->next;
                continue;
            }
            if (c->state == CE_BUSY) {
                busy = 1;
                p = &c->next;
                continue;
            }
            dequeue(c); /* queued: another module with this text compiles it at its launch */
            *p = c->next;
            free(c->name);
            free(c);
        }
        if (!busy)
            break;
        pthread_cond_wait(&done_cv, &q_lock);
    }
    pthread_mutex_unlock(&q_lock);
}

int ptx_jit_kernel_ready(const ptx_kernel *k)
{
    _Atomic(void *) *slot = &((ptx_kernel *)k)->jit_entry;
    if (atomic_load_explicit(slot, memory_order_acquire))
        return 1;
    pthread_mutex_lock(&q_lock); /* another module with this text may have had it compiled */
    cache_entry *c = cache_find(k);
    int done = c && c->state == CE_DONE;
    if (done)
        atomic_store_explicit(slot, c, memory_order_release);
    pthread_mutex_unlock(&q_lock);
    return done;
}

ptx_jit_phase_fn ptx_jit_kernel_code(const ptx_kernel *k, char *why, size_t whylen)
{
    _Atomic(void *) *slot = &((ptx_kernel *)k)->jit_entry;
    cache_entry *c = atomic_load_explicit(slot, memory_order_acquire);
    if (c) {
        snprintf(why, whylen, "%s", c->why);
        return atomic_load(&c->fn);
    }
    pthread_mutex_lock(&q_lock);
    c = cache_find(k);
    int hit = c && c->state == CE_DONE;
    if (!c || c->state == CE_QUEUED) { /* not started: compiled here, now */
        if (c) {
            dequeue(c);
            c->state = CE_BUSY;
            c->k = k;
        } else if (!(c = cache_add(k, CE_BUSY))) {
            pthread_mutex_unlock(&q_lock);
            snprintf(why, whylen, "out of memory");
            return NULL;
        }
        pthread_mutex_unlock(&q_lock);
        compile_entry(c);
        pthread_mutex_lock(&q_lock);
    }
    while (c->state != CE_DONE)
        pthread_cond_wait(&done_cv, &q_lock);
    ptx_jit_phase_fn fn = atomic_load(&c->fn);
    snprintf(why, whylen, "%s%s", fn && hit ? "cache hit, first " : "", c->why);
    atomic_store_explicit(slot, c, memory_order_release);
    pthread_mutex_unlock(&q_lock);
    return fn;
}
