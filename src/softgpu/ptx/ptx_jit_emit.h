/*
 * The translator's state and helpers shared by ptx_jit_emit.c (the function: threads loop,
 * basic blocks, control flow, barriers), ptx_jit_emit_ops.c (arithmetic, compare, convert,
 * move) and ptx_jit_emit_mem.c (addresses, loads, stores, atomics, special registers).
 * Included only by those files; they call the LLVM C API and nothing else of softgpu.
 *
 * Register model, as the interpreter's: every PTX register is a 64-bit slot (an alloca that
 * mem2reg turns into SSA values) holding a narrower value in its low bits, upper bits zero.
 * Every operation reads slots as i64 and masks its result exactly as the interpreter's
 * executor does, so both engines give the same bits.
 */
#ifndef SOFTGPU_PTX_JIT_EMIT_H
#define SOFTGPU_PTX_JIT_EMIT_H

#include <llvm-c/Core.h>

#include "ptx_jit.h"

typedef struct jit_em {
    LLVMContextRef cx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMValueRef fn;
    LLVMTypeRef i1, i8, i16, i32, i64, f32, f64, vd, p8, p64;
    /* the types of register values: the scalar ones, or <JIT_GANG x T> for the gang copy */
    int gang;
    LLVMTypeRef vi1, vi32, vi64, vf32, vf64;
    LLVMValueRef tv;             /* the thread index as a register value (i64 or vector) */
    const ptx_kernel *k;
    const ptx_func *f;
    LLVMValueRef *regs;          /* one alloca i64 per PTX register */
    LLVMBasicBlockRef *bb;       /* per pc: the LLVM block starting there, or NULL */
    LLVMValueRef c[JC_COUNT];    /* ctx fields loaded once per call */
    LLVMValueRef ctx;            /* the i64* argument */
    LLVMValueRef t;              /* the thread's linear index (i32) */
    LLVMValueRef tid[3];         /* %tid.x/y/z (i64) */
    LLVMValueRef res;            /* alloca i32: the thread's new state */
    LLVMBasicBlockRef latch;     /* stores the state, next thread */
    LLVMBasicBlockRef fail;      /* returns JIT_FAILED */
    uint32_t pc;                 /* the instruction being translated (for runtime helpers) */
    jit_live live;               /* leaders and live registers (ptx_jit_live.c) */
    LLVMBasicBlockRef *resume;   /* per pc: the block resuming a thread there, or NULL */
    LLVMValueRef sw;             /* the dispatch switch on the thread's state */
    LLVMValueRef budget;         /* alloca i32: back edges left before the thread yields */
    /* the scalar copy's registers and blocks while the gang copy is emitted */
    LLVMValueRef *sregs;
    LLVMBasicBlockRef *sbb;
    LLVMValueRef gsw;            /* the gang dispatch switch on the gang's common state */
    LLVMBasicBlockRef gdone;     /* every lane of the gang stopped: next gang */
    LLVMBasicBlockRef gesc;      /* lanes diverged: the scalar copy runs the gang's threads */
    uint8_t *callout;            /* per pc: run by the interpreter's executor (below) */
    LLVMValueRef cbuf;           /* i64*: the callouts' register buffer, or NULL */
    char *why;
    size_t whylen;
} jit_em;

/* Threads a gang runs in lock step (ptx_jit_gang.c): one vector register holds theirs. */
#define JIT_GANG 32

/* ptx_jit_emit.c */
void ptx_jit_value_types(jit_em *e, int gang);
LLVMTypeRef ptx_jit_vint(jit_em *e, int bits);         /* iN, or <JIT_GANG x iN> */
LLVMValueRef ptx_jit_splat(jit_em *e, LLVMValueRef k); /* a constant as a register value */
LLVMValueRef ptx_jit_uniform(jit_em *e, LLVMValueRef v); /* a scalar as a register value */
LLVMValueRef ptx_jit_k64(jit_em *e, uint64_t v);       /* ptx_jit_splat of an i64 constant */
int ptx_jit_unsupported(jit_em *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
LLVMValueRef ptx_jit_i64c(jit_em *e, uint64_t v);
LLVMValueRef ptx_jit_i32c(jit_em *e, uint32_t v);
LLVMValueRef ptx_jit_call(jit_em *e, const char *name, LLVMTypeRef ret, LLVMTypeRef *args,
                      unsigned nargs, LLVMValueRef *vals);
LLVMValueRef ptx_jit_intrinsic(jit_em *e, const char *name, LLVMTypeRef type, LLVMValueRef *vals,
                           unsigned n);

/* ptx_jit_emit_ops.c: operand values and the data instructions. ptx_jit_op returns 0 or -1
 * (unsupported, why set). ptx_jit_check_op says beforehand whether an instruction is supported. */
LLVMValueRef ptx_jit_src(jit_em *e, const ptx_insn *in, int idx);
void ptx_jit_dst(jit_em *e, uint32_t reg, LLVMValueRef v);
LLVMValueRef ptx_jit_mask(jit_em *e, LLVMValueRef v, int bits);
LLVMValueRef ptx_jit_sext(jit_em *e, LLVMValueRef v, int bits);
LLVMValueRef ptx_jit_to_f32(jit_em *e, LLVMValueRef v);
LLVMValueRef ptx_jit_to_f64(jit_em *e, LLVMValueRef v);
LLVMValueRef ptx_jit_from_f32(jit_em *e, LLVMValueRef f);
LLVMValueRef ptx_jit_from_f64(jit_em *e, LLVMValueRef f);
int ptx_jit_check_op(jit_em *e, const ptx_insn *in);
int ptx_jit_op(jit_em *e, const ptx_insn *in);

/* ptx_jit_emit_mem.c */
int ptx_jit_check_mem(jit_em *e, const ptx_insn *in);
int ptx_jit_mem(jit_em *e, const ptx_insn *in);
int ptx_jit_check_sreg(jit_em *e, int sr);
LLVMValueRef ptx_jit_sreg(jit_em *e, int sr);
int ptx_jit_check_sym(jit_em *e, int kind);
/* The host pointer of a checked access by thread e->t (scalar addr); a failed check has
 * reported the error and branches to e->fail. */
LLVMValueRef ptx_jit_checked_ptr(jit_em *e, int space, LLVMValueRef addr, unsigned size, int write);

LLVMValueRef ptx_jit_operand_addr(jit_em *e, const ptx_operand *o);
LLVMValueRef ptx_jit_elem_ptr(jit_em *e, LLVMValueRef p, unsigned j, unsigned esz, LLVMTypeRef et);
LLVMValueRef ptx_jit_load_elem(jit_em *e, const ptx_insn *in, LLVMValueRef ep, unsigned esz,
                           LLVMTypeRef et);
LLVMValueRef ptx_jit_translated_ptr(jit_em *e, int space, LLVMValueRef addr, unsigned size,
                               int write);
LLVMValueRef ptx_jit_range_ptr(jit_em *e, int space, LLVMValueRef addr, unsigned size,
                           unsigned align, LLVMBasicBlockRef bad);

/* ptx_jit_emit.c, for the gang copy */
LLVMValueRef ptx_jit_guard(jit_em *e, const ptx_insn *in);       /* the guard as a register value */
LLVMValueRef ptx_jit_spill_row(jit_em *e, uint32_t reg);          /* &spill[reg * n + e->t] */
void ptx_jit_need_resume(jit_em *e,
    uint32_t pc);                 /* the scalar copy resumes at pc */
int jit_ends_block(const ptx_insn *in);

/* ptx_jit_gang.c: the gang copy of the kernel (JIT_GANG threads in lock step while their
 * branches agree), entered from the dispatch with the gang's common state; it ends at
 * e->gdone (every lane stopped) or e->gesc (lanes diverged: the scalar copy goes on). */
int ptx_jit_gang_emit(jit_em *e, LLVMBasicBlockRef start);
LLVMValueRef ptx_jit_sym(jit_em *e, int kind, uint64_t sym);

/* ptx_jit_narrow.c: the gang's registers whose values all fit 32 bits (wide[r]: not those)
 * rewritten as <JIT_GANG x i32>; reloads: the resume points' stores. Returns how many. */
int ptx_jit_narrow_regs(jit_em *e, LLVMValueRef *regs, uint32_t nregs, const uint8_t *wide,
                        LLVMValueRef *reloads, size_t nreloads);

/* ptx_jit_emit_call.c: the per-instruction fallback, the interpreter's executor called for the
 * thread or the gang (mask: the gang's guard, or NULL); trap. */
int ptx_jit_callout_ok(const ptx_insn *in);
int ptx_jit_callout_carry_ok(const jit_em *e, uint32_t pc);
int ptx_jit_callout(jit_em *e, const ptx_insn *in, LLVMValueRef mask);
void ptx_jit_trap(jit_em *e, LLVMValueRef mask);

#endif
