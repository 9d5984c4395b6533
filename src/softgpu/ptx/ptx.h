/*
 * The PTX interpreter and JIT: softgpu's execution engines. Owns parsing PTX text into a
 * pre-decoded form, the per-kernel metadata the driver reports (parameter layout, shared/local
 * sizes), and running a grid of thread blocks on a pool of host threads, interpreted or compiled
 * to host code (ptx_jit*.c, SOFTGPU_EXEC). It knows nothing of contexts,
 * streams or the CUDA API: the driver (the C files in src/softgpu) allocates module globals,
 * builds the parameter buffer and calls ptx_launch_run() from the stream that owns the launch.
 *
 * Every function that can fail writes a one-line reason into err (when err is not NULL), e.g.
 * "line 42: unknown instruction 'foo.bar'"; nothing is printed.
 */
#ifndef SOFTGPU_PTX_H
#define SOFTGPU_PTX_H

#include <stddef.h>
#include <stdint.h>

#include "../devmem.h"

typedef struct ptx_module ptx_module;
typedef struct ptx_kernel ptx_kernel;
typedef struct ptx_pool ptx_pool;
struct ptx_tex_desc; /* ptx_tex.h */

/* ---- modules ------------------------------------------------------------------------------ */

/* Parses and pre-decodes PTX text (len bytes; need not be NUL-terminated; trailing NULs are
 * ignored). Rejects any instruction, directive or operand form it cannot execute, naming it and
 * its line. Returns NULL on error. A module is immutable after parsing and may be shared by
 * several contexts and launched concurrently. */
ptx_module *ptx_module_parse(const char *text, size_t len, char *err, size_t errlen);
void ptx_module_free(ptx_module *m);

/* .target sm_XX (e.g. 80) and .version (e.g. 90 for 9.0) of the module. */
int ptx_module_target_sm(const ptx_module *m);
int ptx_module_ptx_version(const ptx_module *m);

int ptx_module_kernel_count(const ptx_module *m);
const ptx_kernel *ptx_module_kernel(const ptx_module *m, int index);
const ptx_kernel *ptx_module_find_kernel(const ptx_module *m, const char *name);

/* Module-scope variables in .global and .const space (what cuModuleGetGlobal finds). The
 * driver allocates `size` bytes of device memory for each, aligned to `align`, initialises it
 * from `init` (init_size bytes; the rest zero) and passes the addresses to every launch in
 * index order. .shared variables are not listed here: they are part of a kernel's static
 * shared memory. */
enum ptx_space { PTX_SPACE_GLOBAL = 1, PTX_SPACE_CONST = 2 };
struct ptx_global_info {
    const char *name;
    enum ptx_space space;
    size_t size;
    size_t align;
    const void *init; /* NULL: zero-initialised */
    size_t init_size;
    int opaque;       /* PTX_OPAQUE_*: a .texref/.surfref, an 8-byte slot holding its handle */
};
enum { PTX_OPAQUE_NONE = 0, PTX_OPAQUE_TEXREF, PTX_OPAQUE_SURFREF };
int ptx_module_global_count(const ptx_module *m);
const struct ptx_global_info *ptx_module_global(const ptx_module *m, int index);
int ptx_module_find_global(const ptx_module *m, const char *name); /* index or -1 */

/* ---- kernels ------------------------------------------------------------------------------ */

const char *ptx_kernel_name(const ptx_kernel *k);

/* Parameter layout from the .entry signature (docs/fatbin.md, "Parameter layout from PTX"). */
int ptx_kernel_param_count(const ptx_kernel *k);
void ptx_kernel_param(const ptx_kernel *k, int index, size_t *offset, size_t *size);
size_t ptx_kernel_param_bytes(const ptx_kernel *k); /* end of the last parameter */

struct ptx_kernel_attrs {
    size_t static_shared_bytes; /* .shared declarations, kernel- and module-scope it uses */
    size_t local_bytes;         /* .local per thread */
    int num_regs;               /* registers declared (an estimate of hardware registers) */
    int max_threads_per_block;  /* .maxntid product, else 1024 */
    int reqntid[3];             /* .reqntid, or 0 */
    int uses_grid_sync;         /* reads %envreg / grid-sync workspace (cooperative kernels) */
    int uses_heap;              /* may call device malloc()/free() (directly or via calls) */
};
void ptx_kernel_get_attrs(const ptx_kernel *k, struct ptx_kernel_attrs *out);

/* ---- execution ---------------------------------------------------------------------------- */

/* A pool of host threads that run thread blocks (the device's "SMs"). nthreads <= 0 means one
 * per online CPU. Thread-safe: several launches may share a pool. */
ptx_pool *ptx_pool_create(int nthreads);
int ptx_pool_size(const ptx_pool *p);
/* Pins pool thread i to the i-th CPU this process may run on (modulo their count): every
 * process's SM i is then the same host CPU. 0, or -1 when a thread could not be pinned. */
int ptx_pool_pin(ptx_pool *p);
/* Thread-instructions (instructions times active lanes) executed by all launches on this pool
 * so far; for benchmarks (instructions per second). */
uint64_t ptx_pool_instructions(const ptx_pool *p);
void ptx_pool_destroy(ptx_pool *p);

/* A scheduler that decides when a launch's blocks may run (softgpu's shared device, devsched.c).
 * Every hook gets the launch's sched_opaque and is called from pool threads, except resume.
 * A pool thread calls enter before it takes part in a launch and, after enter returned 1, leave
 * when it stops; next between blocks. enter or next answering 0 pauses the launch: the thread
 * leaves without taking another block, no thread joins it until resume (called on the
 * launching thread once no block of the launch is running) returns. Cooperative launches never
 * pause: their threads call only enter (its answer is ignored) and leave. */
struct ptx_sched {
    int (*enter)(void *opaque);
    int (*next)(void *opaque);
    void (*leave)(void *opaque);
    void (*resume)(void *opaque);
};

enum ptx_status {
    PTX_OK = 0,
    PTX_ERR_ILLEGAL_ADDRESS, /* an access outside the address space */
    PTX_ERR_MISALIGNED,      /* an access not aligned to its size */
    PTX_ERR_TRAP,            /* trap / __trap() / brkpt */
    PTX_ERR_ASSERT,          /* __assertfail: the message went to the printf sink */
    PTX_ERR_INVALID_CONFIG,  /* block too large, shared memory over the limit, ... */
    PTX_ERR_LAUNCH_FAILED,   /* anything else that stops a kernel (e.g. deadlocked barrier) */
};

struct ptx_launch {
    const ptx_kernel *kernel;
    const uint64_t *global_addrs; /* device address of each module global, by index */
    const void *params;           /* the packed parameter buffer */
    size_t param_bytes;
    unsigned grid[3], block[3];
    size_t dynamic_shared_bytes;
    size_t max_shared_bytes;      /* per-block limit (static + dynamic) */
    int cooperative;              /* all blocks co-resident: grid-wide sync must work */
    uint64_t grid_sync_workspace; /* device address of >= 64 zeroed bytes for %envreg-based
                                     grid sync; 0 when not cooperative */
    const struct sg_addr_space *mem;
    ptx_pool *pool;
    int num_sms;                  /* reported by %nsmid; %smid is the running host thread */
    /* Device printf and assertion messages, in the order they were produced per thread;
     * called from pool threads, serialised by the interpreter. */
    void (*print)(void *opaque, const char *text, size_t len);
    void *print_opaque;
    /* The device heap behind device-side malloc()/free(), called from pool threads (must be
     * thread-safe). heap_alloc returns a device address or 0 when the heap is exhausted; when
     * heap_alloc is NULL, device malloc() returns NULL, as with an exhausted heap. */
    uint64_t (*heap_alloc)(void *opaque, uint64_t size);
    void (*heap_free)(void *opaque, uint64_t addr);
    void *heap_opaque;
    /* cudaGraphSetConditional(handle, value) from device code (graph conditional nodes),
     * called from pool threads: 0, or -1 when handle names no conditional (the launch fails,
     * as does every call when this is NULL). */
    int (*set_conditional)(uint64_t handle, uint32_t value);
    /* Watchdog: when non-zero, a pool thread that has executed this many thread-instructions
     * for the launch stops it with PTX_ERR_LAUNCH_FAILED ("instruction limit"). 0: no limit. */
    uint64_t max_thread_instructions;
    /* Texture and surface handles (ptx_tex.h): fills *out for `handle` and returns 0, or -1
     * when it names no texture (no surface when `surface`). Called from pool threads; NULL
     * when the driver has none. */
    int (*tex_lookup)(uint64_t handle, int surface, struct ptx_tex_desc *out);
    /* When blocks may run (see struct ptx_sched); NULL: whenever a pool thread is free. */
    const struct ptx_sched *sched;
    void *sched_opaque;
};

/* Runs the whole grid and returns when every block has finished or the kernel has failed
 * (in which case remaining blocks are abandoned). err names the failing instruction, block and
 * thread, e.g. "ld.global.u32 at line 57: address 0x10 not mapped (block 3,0,0 thread 17,0,0)". */
enum ptx_status ptx_launch_run(const struct ptx_launch *l, char *err, size_t errlen);

/* Which engine runs kernel k's launches (SOFTGPU_EXEC=interp|jit|auto, docs/softgpu.md, "JIT
 * engine"), compiling it on first use: 1 the JIT, 0 the interpreter; why gets the reason
 * ("compiled in 12.3 ms", "'shfl.sync.bfly.b32' at line 40", "SOFTGPU_EXEC=interp"). A launch
 * may still be interpreted for reasons of its own (cooperative, an instruction limit). */
int ptx_kernel_engine(const ptx_kernel *k, char *why, size_t whylen);
/* At a module's load: its kernels start compiling on the JIT's thread (off the launch path; a
 * no-op on the interpreter). ptx_kernel_ready: the engine is decided for k, so
 * ptx_kernel_engine and a launch will not wait for a compile. */
void ptx_module_prepare(const ptx_module *m);
int ptx_kernel_ready(const ptx_kernel *k);

#endif
