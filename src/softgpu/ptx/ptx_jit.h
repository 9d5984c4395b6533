/*
 * softgpu's second execution engine: a kernel's decoded PTX translated to host code through
 * LLVM (ptx_jit_emit*.c) and run a block at a time as loops over its threads between barriers
 * (ptx_jit.c). Private to src/softgpu/ptx; the interpreter (ptx_exec.c) stays the reference and
 * the fallback. Without LLVM at build time (no SOFTGPU_HAVE_LLVM) every kernel is interpreted.
 *
 * The contract between the generated code and the runtime:
 * - one function per kernel, `int32_t phase(uint64_t *ctx)`: runs every runnable thread of the
 *   block (state in ctx[JC_STATE], one int32 per thread, below) from its resume point up to the
 *   next barrier, its exit or a yield; returns the counts below, or JIT_FAILED after a runtime
 *   helper has failed the launch (ptx_fail, the interpreter's message).
 * - ctx is an array of 64-bit words indexed by enum jit_ctx (pointers stored as integers), so
 *   the IR needs no struct layout that could drift from C.
 * - registers live at a resume point are kept per thread in ctx[JC_SPILL]:
 *   spill[reg * nthreads + thread].
 */
#ifndef SOFTGPU_PTX_JIT_H
#define SOFTGPU_PTX_JIT_H

#include "ptx_internal.h"

enum jit_ctx {
    JC_SPILL, JC_STATE, JC_SHARED, JC_SHARED_SIZE, JC_LOCAL, JC_LOCAL_PER_THREAD, JC_PARAMS,
    JC_PARAM_BYTES, JC_GLOBALS, JC_MEM_BASE, JC_MEM_LIMIT, JC_MEM_PAGES,
    JC_NTID_X, JC_NTID_Y, JC_NTID_Z, JC_CTAID_X, JC_CTAID_Y, JC_CTAID_Z,
    JC_NCTAID_X, JC_NCTAID_Y, JC_NCTAID_Z, JC_NTHREADS, JC_DYN_OFFSET, JC_RT, JC_GANG,
    JC_COUNT
};

/* A thread's state: 0 not started, pc + 1 to resume at instruction pc, with JIT_WAIT while it
 * waits at a barrier (the runtime clears it when every live thread has arrived); JIT_EXITED
 * once it has exited. A phase returns (yielded << 16) | waiting, or JIT_FAILED. A thread yields
 * (stops without a barrier, runnable) every JIT_YIELD_EDGES loop back edges, so that a thread
 * spinning on a flag another thread of the block sets cannot starve it: the interpreter's time
 * slices, at loop granularity. */
#define JIT_EXITED (-1)
#define JIT_FAILED (-2)
#define JIT_WAIT 0x40000000
#define JIT_WARP 0x20000000 /* (pc + 1) | JIT_WARP: waits at warp operation pc (ptx_jit_warp.c) */
#define JIT_YIELD_EDGES 65536

/* ptx_jit_live.c: basic-block leaders and the registers live into each (bitsets of nregs). */
typedef struct jit_live {
    uint32_t words;   /* uint64_t words per set */
    uint64_t **in;    /* per pc: the live-in set when pc is a leader, else NULL */
    uint8_t *leader;  /* per pc: starts a basic block */
} jit_live;
int ptx_jit_live_build(jit_live *lv, const ptx_func *f);
void ptx_jit_live_free(jit_live *lv, uint32_t ncode);
static inline int jit_live_has(const uint64_t *set, uint32_t r)
{
    return (int)((set[r / 64] >> (r % 64)) & 1u);
}

typedef int32_t (*ptx_jit_phase_fn)(uint64_t *ctx);

/* What the runtime helpers need besides ctx: the block they fail (ptx_fail's message names
 * its ids and the thread's) and the kernel's instructions (by index: compiled code is shared
 * by every module with the same text, so it never holds a pointer into one of them). */
typedef struct ptx_jit_rt {
    ptx_block *blk;
    const ptx_func *fn;
} ptx_jit_rt;

/* Runtime helpers called by generated code (ptx_jit.c). */
void *ptx_jit_rt_translate(uint64_t *ctx, uint32_t insn, uint32_t space, uint64_t addr,
                           uint32_t size, uint32_t thread, uint32_t write);
uint32_t ptx_jit_rt_atom(uint64_t *ctx, uint32_t insn, uint64_t addr, uint64_t b, uint64_t c,
                         uint32_t thread, uint64_t *old);
void ptx_jit_rt_fail(uint64_t *ctx, uint32_t insn, uint32_t thread, uint32_t status);
void ptx_jit_rt_trap(uint64_t *ctx, uint32_t insn, uint32_t thread);
/* ptx_jit_warp.c: instruction insn run by the interpreter's executor for `lanes` threads from
 * `thread` on (one, or a gang in one warp), those of `mask` (bit i: thread + i) taking part.
 * buf holds the values of its registers (ptx_jit_insn_regs order), lane after lane
 * (buf[slot * lanes + i]), then each lane's carry flag; the results come back in place.
 * 1; 2 when it found something to wait for (an mbarrier wait not complete, nanosleep: the
 * thread should yield); 0 after it failed the launch. */
uint32_t ptx_jit_rt_exec(uint64_t *ctx, uint32_t insn, uint32_t thread, uint32_t lanes,
                         uint32_t mask, uint64_t *buf);
/* The distinct registers an instruction names (sources, destinations, vector elements,
 * address bases), at most JIT_INSN_REGS; their count. */
#define JIT_INSN_REGS (PTX_MAX_OPERANDS * (PTX_MAX_VEC + 1))
int ptx_jit_insn_regs(const ptx_insn *in, uint32_t nregs, uint32_t *out);

/* ptx_ops_mem.c: one lane's atomic on host memory p, as the interpreter does it (the old value,
 * already extended as the destination register holds it). */
uint64_t ptx_atom_host(const ptx_insn *in, void *p, uint64_t b, uint64_t c);

/* ptx_jit_emit.c: translates kernel k into module mod as function `name` (internal LLVM types
 * are kept out of this header). Returns 0, or -1 with why set to the first construct the
 * engine does not support (the kernel then runs on the interpreter, whole). */
int ptx_jit_emit_kernel(void *llvm_ctx, void *llvm_mod, const ptx_kernel *k, const char *name,
                        char *why, size_t whylen);

/* ptx_jit.c, called by ptx_pool.c/ptx_launch_run: the compiled phase function of the launch's
 * kernel, or NULL when it runs on the interpreter (SOFTGPU_EXEC, no LLVM, a construct the
 * engine lacks, a launch it cannot honour such as an instruction limit or a cooperative grid).
 * why (may be NULL) receives the reason either way. */
ptx_jit_phase_fn ptx_jit_for_launch(const struct ptx_launch *l, char *why, size_t whylen);
/* ptx_jit_warp.c: the warp-level operations generated code stops at, and the runtime's turn:
 * in every warp none of whose threads can run, the lanes waiting at one run it together (the
 * count of such meetings, or -1 after failing the launch). */
int ptx_jit_is_warp_op(const ptx_insn *in);
int ptx_jit_warp_ops(ptx_block *b);

/* ptx_jit_compile.c: the kernel's code, compiled (or linked from the disk cache) now unless it
 * is being compiled or done; blocks until it is. NULL when it is not supported (why). */
ptx_jit_phase_fn ptx_jit_kernel_code(const ptx_kernel *k, char *why, size_t whylen);
int ptx_jit_kernel_ready(const ptx_kernel *k);       /* decided: kernel_code would not block */
void ptx_jit_prepare_module(const ptx_module *m);    /* queues its kernels for the thread */
/* SOFTGPU_EXEC=auto: 1 when this launch takes the JIT (its code is ready, or is being compiled
 * ahead, at module load); else 0: the interpreter runs it this time, and when launching (not
 * a question asked for a log) the launch is counted and a kernel that became hot is queued.
 * ptx_jit_auto_waits: whether a launch must wait (compiled ahead, not done yet). */
int ptx_jit_auto_launch(const ptx_kernel *k, int launching);
int ptx_jit_auto_waits(const ptx_kernel *k);
void ptx_jit_forget_module(const ptx_module *m);     /* before it is freed: drops its queued
                                                      * kernels, waits for one compiling and
                                                      * for its kernels' optimising tier */

/* Runs block b (initialised by ptx_block_init) with the compiled code: 1 done, -1 failed. */
int ptx_jit_block_run(ptx_block *b, ptx_jit_phase_fn fn);

#endif
