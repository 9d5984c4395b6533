/*
 * Private declarations of the PTX interpreter: the pre-decoded module form built by the parser
 * (ptx_lex.c, ptx_parse.c, ptx_decode.c) and the execution state used by the engine
 * (ptx_exec.c, ptx_ops_*.c, ptx_printf.c, ptx_pool.c). Nothing outside src/softgpu/ptx includes
 * this file.
 *
 * Register model: every virtual register is a 64-bit slot per lane; a register of a narrower type
 * keeps its value in the low bits with the upper bits zero (every write masks, every signed read
 * sign-extends). Predicates are slots holding 0 or 1. A warp frame keeps its registers as
 * regs[reg * 32 + lane], so one instruction touches contiguous memory for all lanes.
 */
#ifndef SOFTGPU_PTX_INTERNAL_H
#define SOFTGPU_PTX_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ptx.h"

#define PTX_WARP 32
#define PTX_MAX_OPERANDS 6
#define PTX_MAX_VEC 8
/* Function "addresses" (mov.u64 %rd, func): outside any mappable user address, so a call
 * through a corrupted pointer is caught, and never dereferenced as data. */
#define PTX_FUNC_ADDR_BASE 0xfff0000000000000ull
#define PTX_FUNC_ADDR(i) (PTX_FUNC_ADDR_BASE + (uint64_t)(i) * 16u)

/* ---- value types -------------------------------------------------------------------------- */

enum ptx_type {
    T_NONE = 0,
    T_B8, T_B16, T_B32, T_B64, T_B128,
    T_U8, T_U16, T_U32, T_U64,
    T_S8, T_S16, T_S32, T_S64,
    T_F16, T_F16X2, T_BF16, T_BF16X2, T_F32, T_F64,
    T_PRED,
    T_TF32, T_E4M3, T_E5M2,
    T_S4, T_U4, T_E4M3X2, T_E5M2X2, /* mma int4 operands; cvt's packed fp8 pairs */
};

int ptx_type_bits(int t);
int ptx_type_is_signed(int t);
int ptx_type_is_float(int t); /* f16, bf16, f32, f64 and the packed forms */
int ptx_type_from_name(const char *s); /* "u32" (no dot) -> T_U32, or T_NONE */

/* ---- operands ----------------------------------------------------------------------------- */

enum ptx_opnd_kind {
    OK_NONE = 0,
    OK_REG,   /* reg */
    OK_IMM,   /* imm (bits, already in the instruction's type for floats) */
    OK_SREG,  /* special register: sreg code */
    OK_SYM,   /* the address of a variable: sym kind + value */
    OK_ADDR,  /* [reg + imm] or [sym + imm] or [imm] */
    OK_VEC,   /* {r0, r1, ...}: vec[], nvec; UINT32_MAX = sink "_" or immediate in vimm */
    OK_LABEL, /* branch target: imm = instruction index */
    OK_FUNC,  /* call target: imm = function index */
};

enum ptx_sym_kind {
    SYM_NONE = 0,
    SYM_GLOBAL, /* module .global/.const variable: value = index into launch global_addrs */
    SYM_SHARED, /* shared-space offset */
    SYM_LOCAL,  /* offset of a .local variable inside the frame's depot */
    SYM_KPARAM, /* offset inside the kernel parameter buffer */
    SYM_FPARAM, /* offset inside the frame's per-lane parameter area */
    SYM_DYNSHARED, /* extern .shared array: starts at the kernel's dynamic shared offset */
    SYM_SHVAR,  /* while parsing only: index of a .shared variable, fixed to SYM_SHARED */
    SYM_FUNC,   /* the address of a function: PTX_FUNC_ADDR(index) */
};

enum ptx_sreg {
    SR_TID_X, SR_TID_Y, SR_TID_Z, SR_NTID_X, SR_NTID_Y, SR_NTID_Z,
    SR_CTAID_X, SR_CTAID_Y, SR_CTAID_Z, SR_NCTAID_X, SR_NCTAID_Y, SR_NCTAID_Z,
    SR_LANEID, SR_WARPID, SR_NWARPID, SR_SMID, SR_NSMID, SR_GRIDID,
    SR_LANEMASK_EQ, SR_LANEMASK_LE, SR_LANEMASK_LT, SR_LANEMASK_GE, SR_LANEMASK_GT,
    SR_CLOCK, SR_CLOCK_HI, SR_CLOCK64, SR_GLOBALTIMER, SR_GLOBALTIMER_LO, SR_GLOBALTIMER_HI,
    SR_DYN_SMEM, SR_TOTAL_SMEM,
    /* clusters of one CTA: the cluster is the CTA, so cluster ids are CTA ids */
    SR_CLUSTERID_X, SR_CLUSTERID_Y, SR_CLUSTERID_Z, SR_NCLUSTERID_X, SR_NCLUSTERID_Y,
    SR_NCLUSTERID_Z, SR_CLUSTER_CTAID_X, SR_CLUSTER_CTAID_Y, SR_CLUSTER_CTAID_Z,
    SR_CLUSTER_NCTAID_X, SR_CLUSTER_NCTAID_Y, SR_CLUSTER_NCTAID_Z, SR_CLUSTER_CTARANK,
    SR_CLUSTER_NCTARANK, SR_IS_EXPLICIT_CLUSTER,
    SR_AGGR_SMEM, SR_ZERO, /* %pm*, %reserved_smem_offset_*, %current_graph_exec: read 0 */
    SR_ENVREG0, /* ... SR_ENVREG0 + 31 */
    SR_COUNT = SR_ENVREG0 + 32,
};

typedef struct ptx_operand {
    uint8_t kind;
    uint8_t neg;      /* "!%p" predicate source */
    uint8_t sym_kind; /* OK_SYM / OK_ADDR with a symbol */
    uint8_t nvec;
    uint32_t reg;     /* OK_REG; OK_ADDR base register or UINT32_MAX */
    uint64_t imm;     /* OK_IMM bits; OK_ADDR offset; OK_LABEL/OK_FUNC target; OK_SREG code */
    uint64_t sym;     /* symbol value (see ptx_sym_kind) */
    uint32_t vec[PTX_MAX_VEC];
    uint64_t vimm[PTX_MAX_VEC]; /* immediate vector elements (st.v4 [a], {1, 2, 3, 4}) */
} ptx_operand;

/* ---- instructions ------------------------------------------------------------------------- */

enum ptx_space_code { SP_GENERIC = 0, SP_GLOBAL, SP_SHARED, SP_LOCAL, SP_CONST, SP_PARAM };

/* flags */
#define F_FTZ 0x1u
#define F_SAT 0x2u
#define F_HI 0x4u
#define F_WIDE 0x8u
#define F_CC 0x10u     /* writes the carry flag */
#define F_APPROX 0x20u
#define F_TO 0x40u     /* cvta.to */
#define F_CARRYIN 0x80u /* addc/subc/madc: reads the carry flag */
#define F_UNI 0x100u
#define F_SHIFTAMT 0x200u
#define F_RELU 0x400u
#define F_NAN 0x800u
#define F_ABS 0x1000u
#define F_XORSIGN 0x2000u
#define F_ADD 0x4000u      /* SIMD video .add: sum the element results */
#define F_SATFINITE 0x8000u /* cvt .satfinite: clamp to the largest finite value */

enum ptx_rnd { RND_NONE = 0, RND_RN, RND_RZ, RND_RM, RND_RP, RND_RNI, RND_RZI, RND_RMI, RND_RPI,
               RND_RNA };

struct ptx_warp;
struct ptx_insn;
typedef void (*ptx_exec_fn)(struct ptx_warp *w, const struct ptx_insn *in, uint32_t mask);

typedef struct ptx_insn {
    ptx_exec_fn exec;  /* NULL for control instructions handled by the scheduler */
    uint16_t op;       /* enum ptx_op (ptx_decode.c) */
    uint8_t type, type2, type3;
    uint8_t itype;     /* type used to read immediate operands */
    uint8_t types[4];  /* every type modifier in order (mma: d, a, b, c) */
    uint8_t bits;      /* ptx_type_bits(type), cached for the hot paths */
    uint8_t bits2;     /* ptx_type_bits(type2) */
    uint8_t ntypes;
    uint8_t cmp;       /* compare op, or mode (shfl, vote, atom op, bool op, ...) */
    uint8_t boolop;    /* setp/set .and/.or/.xor */
    uint8_t space;
    uint8_t vec;       /* 1, 2, 4 (or 8) */
    uint8_t rnd;
    uint8_t nops;
    uint8_t guard_neg;
    uint16_t flags;
    uint32_t guard;    /* predicate register or UINT32_MAX */
    uint32_t line;
    uint32_t ncall;    /* call: number of arguments (in call_args) */
    uint32_t *call_args; /* call: [ret params..., arg params...] as frame-param offsets; sizes */
    uint32_t *call_sizes;
    uint32_t nret;
    ptx_operand o[PTX_MAX_OPERANDS];
    const char *name;  /* full opcode text, for errors */
} ptx_insn;

enum ptx_op {
    OP_INVALID = 0,
    /* integer and shared arithmetic */
    OP_ADD, OP_SUB, OP_MUL, OP_MAD, OP_MUL24, OP_MAD24, OP_DIV, OP_REM, OP_ABS, OP_NEG, OP_MIN,
    OP_MAX, OP_SAD,
    /* bits */
    OP_AND, OP_OR, OP_XOR, OP_NOT, OP_CNOT, OP_SHL, OP_SHR, OP_POPC, OP_CLZ, OP_BREV, OP_BFE,
    OP_BFI, OP_PRMT, OP_SHF, OP_LOP3, OP_BFIND, OP_FNS, OP_DP4A, OP_DP2A,
    /* floating point only */
    OP_FMA, OP_RCP, OP_SQRT, OP_RSQRT, OP_EX2, OP_LG2, OP_SIN, OP_COS, OP_TANH, OP_COPYSIGN,
    OP_TESTP,
    /* compare and select */
    OP_SETP, OP_SET, OP_SELP, OP_SLCT,
    /* data movement */
    OP_CVT, OP_CVTA, OP_MOV, OP_LD, OP_ST, OP_ATOM, OP_RED, OP_ISSPACEP, OP_CVT_PACK,
    /* warp */
    OP_SHFL, OP_VOTE, OP_MATCH, OP_ACTIVEMASK, OP_REDUX,
    /* control, handled by the scheduler */
    OP_BRA, OP_CALL, OP_RET, OP_EXIT, OP_BAR, OP_BAR_ARRIVE, OP_BAR_RED, OP_TRAP,
    /* no-ops and fences */
    OP_MEMBAR, OP_NOP, OP_NANOSLEEP, OP_BAR_WARP,
    /* matrix */
    OP_MMA, OP_WMMA_LOAD, OP_WMMA_STORE, OP_WMMA_MMA,
    /* later additions */
    OP_CP_ASYNC, OP_VSIMD,
    /* textures and surfaces (ptx_ops_tex.c, ptx_ops_surf.c) */
    OP_TEX, OP_TLD4, OP_TXQ, OP_SULD, OP_SUST, OP_SUQ,
    /* sm_80/sm_90 additions (ptx_ops_async.c, ptx_ops_matrix.c, ptx_ops_bitfield.c) */
    OP_MBARRIER, OP_CP_BULK, OP_ELECT, OP_LDMATRIX, OP_STMATRIX, OP_BMSK, OP_SZEXT,
    OP_COUNT
};

/* modes kept in ptx_insn.cmp */
enum { CMP_EQ = 1, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_LO, CMP_LS, CMP_HI, CMP_HS,
       CMP_EQU, CMP_NEU, CMP_LTU, CMP_LEU, CMP_GTU, CMP_GEU, CMP_NUM, CMP_NAN };
enum { BOOL_NONE = 0, BOOL_AND, BOOL_OR, BOOL_XOR };
enum { ATOM_ADD = 1, ATOM_MIN, ATOM_MAX, ATOM_INC, ATOM_DEC, ATOM_AND, ATOM_OR, ATOM_XOR,
       ATOM_EXCH, ATOM_CAS };
enum { SHFL_UP = 1, SHFL_DOWN, SHFL_BFLY, SHFL_IDX };
enum { VOTE_ALL = 1, VOTE_ANY, VOTE_UNI, VOTE_BALLOT };
enum { TESTP_FINITE = 1, TESTP_INFINITE, TESTP_NUMBER, TESTP_NOTANUMBER, TESTP_NORMAL,
       TESTP_SUBNORMAL };
enum { PRMT_DEFAULT = 0, PRMT_F4E, PRMT_B4E, PRMT_RC8, PRMT_ECL, PRMT_ECR, PRMT_RC16 };
enum { SHF_L = 1, SHF_R };
enum { VS_ADD = 1, VS_SUB, VS_ABSDIFF, VS_MIN, VS_MAX, VS_AVRG, VS_SHL, VS_SHR };
/* scalar video instructions: the secondary operation (insn.rnd), the shift mode (insn.space) */
enum { VS2_ADD = 1, VS2_MIN, VS2_MAX };
enum { VS_CLAMP = 1, VS_WRAP };
/* cvt.pack (insn.boolop of a cvt) */
#define PTX_CVT_PACK 1

/* ---- functions, kernels, modules ---------------------------------------------------------- */

typedef struct ptx_param_decl {
    char *name;
    size_t offset, size, align;
} ptx_param_decl;

typedef struct ptx_func {
    char *name;
    int is_entry;
    int is_extern;        /* declared only (vprintf, __assertfail, or an unresolved extern) */
    int builtin;          /* BUILTIN_* for extern functions we implement */
    int defined;
    ptx_insn *code;
    uint32_t ncode;
    uint32_t nregs;
    ptx_param_decl *params;  /* formal parameters */
    int nparams;
    ptx_param_decl *rets;    /* return parameters (.func only) */
    int nrets;
    size_t frame_param_bytes; /* per-lane param area: formals, returns, call-site params */
    size_t depot_bytes;       /* .local bytes of this function */
    size_t depot_align;
    size_t kparam_bytes;      /* entries: end of the last parameter */
    int maxntid[3], reqntid[3];
    uint32_t line;
} ptx_func;

enum { BUILTIN_NONE = 0, BUILTIN_VPRINTF, BUILTIN_ASSERTFAIL, BUILTIN_MALLOC, BUILTIN_FREE,
       BUILTIN_SET_CONDITIONAL };

typedef struct ptx_shared_var {
    size_t size, align;
    int owner; /* function index for function-scope variables of an entry, else -1 */
    size_t offset; /* within the owner's layout (module-scope area for owner -1) */
} ptx_shared_var;

struct ptx_kernel {
    ptx_func *fn;
    const ptx_module *mod;
    size_t static_shared;
    size_t dyn_offset;  /* where dynamic shared memory starts in a block's shared window */
    size_t max_local;   /* depot of the entry plus an allowance for calls */
    int uses_grid_sync;
    int uses_heap;
    int has_calls;
    _Atomic(void *) jit_entry; /* the JIT engine's decision once made (ptx_jit.c) */
    unsigned jit_launches;     /* auto engine: launches interpreted before it was queued */
};

struct ptx_module {
    int version, target_sm;
    ptx_func **funcs;
    int nfuncs;
    struct ptx_kernel *kernels;
    int nkernels;
    struct ptx_global_info *globals;
    int nglobals;
    size_t module_shared; /* bytes of module-scope .shared, at the start of every block's smem */
    ptx_shared_var *shvars;
    int nshvars;
    size_t dyn_shared_align;
    void **allocs;
    int nallocs, cap_allocs;
    uint8_t text_sha[32]; /* SHA-256 of the PTX text: the JIT caches' key (ptx_jit*.c) */
};

/* SHA-256 (ptx_module.c, through Nettle: hardware SHA where the CPU has it; a module's text
 * is hashed at every load, and libraries load gigabytes of it) */
void ptx_sha256(const void *data, size_t len, uint8_t out[32]);

/* module arena: every allocation made while parsing is recorded and freed with the module */
void *ptx_mod_alloc(ptx_module *m, size_t size);
char *ptx_mod_strdup(ptx_module *m, const char *s, size_t n);

/* ptx_decode.c: ptx_decode_opcode() reads the opcode text ("ld.global.v4.f32") into op, types
 * and modifiers before the operands are parsed (immediates need the type); ptx_decode_check()
 * then validates the operands and picks the executor. Both return 0 or -1 with err set. */
int ptx_decode_opcode(ptx_insn *in, const char *opcode, char *err, size_t errlen);
int ptx_decode_check(ptx_insn *in, char *err, size_t errlen);

/* ---- execution ---------------------------------------------------------------------------- */

/* A call frame of a warp: one function activation for the lanes in `lanes`. */
typedef struct ptx_frame {
    const ptx_func *fn;
    uint64_t *regs;        /* nregs * 32 */
    uint8_t *params;       /* frame_param_bytes * 32, lane-major: lane * frame_param_bytes */
    uint64_t local_base;   /* local-space offset of this frame's depot (same for all lanes) */
    uint32_t lanes;        /* lanes taking part in this activation */
    uint32_t done;         /* lanes that returned */
    uint32_t pc;           /* when converged */
    int diverged;
    uint32_t lpc[PTX_WARP];
    uint32_t ret_pc;       /* caller's pc after the call (caller frame) */
    const ptx_insn *call;  /* the caller's call instruction (to copy returns back) */
} ptx_frame;

struct ptx_block;

#define PTX_NBARRIERS 16

typedef struct ptx_warp {
    struct ptx_block *blk;
    int id;
    uint32_t exists;    /* lanes that map to a thread of the block */
    uint32_t exited;
    uint32_t waiting;   /* lanes parked at a barrier */
    uint32_t bar_lanes[PTX_NBARRIERS]; /* per barrier id: lanes that arrived in its current phase */
    int wait_barrier;
    ptx_frame *frames;
    int nframes, cap_frames;
    uint8_t carry[PTX_WARP];
    uint64_t tmp[PTX_MAX_OPERANDS][PTX_WARP]; /* materialised special registers */
    uint32_t tid[PTX_WARP][3];
    uint64_t stack_top;   /* next free local-space offset for a frame depot */
    int failed;
    uint32_t red_dst;     /* bar.red destination register while parked, or UINT32_MAX */
    uint32_t red_lanes;
    int red_frame;
} ptx_warp;

typedef struct ptx_block {
    const struct ptx_launch *l;
    struct ptx_run *run;
    unsigned ctaid[3];
    int nthreads, nwarps;
    ptx_warp *warps;
    uint8_t *shared;
    size_t shared_size;
    uint8_t *local;       /* nthreads lanes-worth of local stack, per warp lane contiguous */
    size_t local_per_thread;
    int bar_arrived[PTX_NBARRIERS]; /* lanes recorded in the warps' bar_lanes */
    int bar_expected[PTX_NBARRIERS];
    uint32_t bar_red[PTX_NBARRIERS]; /* bar.red accumulator */
    int bar_red_kind[PTX_NBARRIERS];
    int live_warps;
    int smid;
    int32_t *jit_state;   /* the JIT engine's per-thread resume points and spilled */
    uint64_t *jit_spill;  /* registers (ptx_jit.c), allocated on first use */
    uint64_t *jit_wregs;  /* a warp's registers for the JIT's warp operations (ptx_jit_warp.c) */
} ptx_block;

/* Launch-wide state shared by the pool threads running one grid. */
typedef struct ptx_run {
    const struct ptx_launch *l;
    const ptx_kernel *k;
    atomic_uint next_block;
    unsigned nblocks;
    atomic_int failed;
    enum ptx_status status;
    char err[512];
    pthread_mutex_t lock;  /* err, print */
    uint64_t param_window; /* host address of the parameter buffer copy (for cvta.param) */
    atomic_ullong insns;
    void *jit;             /* the kernel's compiled phase function, or NULL: interpreted */
} ptx_run;

/* ptx_exec.c */
/* Stops the launch (first failure wins): "<insn> at line N: <why> (block .. thread ..)". */
void ptx_fail(ptx_warp *w, const ptx_insn *in, int lane, enum ptx_status st, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int ptx_block_run(ptx_block *b, int slice, uint64_t *insns); /* 1 done, 0 yielded, -1 failed */
int ptx_block_init(ptx_block *b, ptx_run *run, unsigned linear_id, int smid);
int ptx_block_reset(ptx_block *b, unsigned linear_id); /* reuse a finished block */
void ptx_block_free(ptx_block *b);

/* Operand access for lane loops: value = p[lane & m]. */
typedef struct { const uint64_t *p; unsigned m; } ptx_src;
ptx_src ptx_get_src_slow(ptx_warp *w, const ptx_insn *in, int idx); /* sregs, symbols */
static inline ptx_src ptx_get_src(ptx_warp *w, const ptx_insn *in, int idx)
{
    const ptx_operand *o = &in->o[idx];
    ptx_src s;
    if (o->kind == OK_REG) {
        s.p = &w->frames[w->nframes - 1].regs[(size_t)o->reg * PTX_WARP];
        s.m = 31;
    } else if (o->kind == OK_IMM) {
        s.p = &o->imm;
        s.m = 0;
    } else {
        s = ptx_get_src_slow(w, in, idx);
    }
    return s;
}
static inline uint64_t *ptx_dst(ptx_warp *w, uint32_t reg)
{
    return &w->frames[w->nframes - 1].regs[(size_t)reg * PTX_WARP];
}
static inline ptx_frame *ptx_top(ptx_warp *w) { return &w->frames[w->nframes - 1]; }

/* ptx_ops_mem.c: address translation. Returns the host pointer for `size` bytes at `addr` in
 * `space` for `lane`, or NULL after failing the warp. */
void *ptx_translate(ptx_warp *w, const ptx_insn *in, int space, uint64_t addr, unsigned size,
                    int lane, int write);
uint64_t ptx_sym_value(ptx_warp *w, int sym_kind, uint64_t sym, int lane);

/* The address of an [address] operand for lane L: base register + symbol + offset. */
static inline uint64_t ptx_operand_addr(ptx_warp *w, const ptx_operand *o, int L)
{
    uint64_t a = o->imm + (o->sym_kind ? ptx_sym_value(w, o->sym_kind, o->sym, L) : 0);
    if (o->reg != UINT32_MAX)
        a += ptx_top(w)->regs[(size_t)o->reg * PTX_WARP + L];
    return a;
}

/* exec families, assigned by the decoder */
void ptx_x_int(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_bits(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_float(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_half(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_setp(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_cvt(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_mov(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_mem(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_atom(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_warp(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_mma(ptx_warp *, const ptx_insn *, uint32_t);
void ptx_x_misc(ptx_warp *, const ptx_insn *, uint32_t);

/* ptx_ops_tex.c: the modifiers of tex/tld4/txq/suld/sust/suq (1 when m is one of theirs) and
 * the operand check that picks their executor (0, or -1 with err set). */
int ptx_tex_modifier(ptx_insn *in, const char *m);
int ptx_tex_check(ptx_insn *in, char *err, size_t errlen);

/* The same pair for the sm_80/sm_90 families: mbarrier, cp.async.bulk, cp.async.mbarrier,
 * elect, setmaxnreg (ptx_ops_async.c); ldmatrix, stmatrix and the mma shapes and types beyond
 * ptx_mma.c's (ptx_ops_matrix.c); bmsk, szext and the packed fp8 cvt (ptx_ops_bitfield.c). */
int ptx_async_modifier(ptx_insn *in, const char *m);
int ptx_async_check(ptx_insn *in, char *err, size_t errlen);
int ptx_matrix_modifier(ptx_insn *in, const char *m);
int ptx_matrix_check(ptx_insn *in, char *err, size_t errlen);
int ptx_bitfield_check(ptx_insn *in, char *err, size_t errlen);
/* fp8 helpers (ptx_ops_bitfield.c): e4m3 (fn) / e5m2 bits to and from float */
float ptx_fp8_to_f32(uint8_t v, int e5m2);
uint8_t ptx_f32_to_fp8(float f, int e5m2, int satfinite);

/* ptx_printf.c */
int ptx_format_printf(ptx_warp *w, const ptx_insn *in, uint64_t fmt, uint64_t args, int lane,
                      char *out, size_t outlen);
void ptx_emit_print(ptx_warp *w, const char *text, size_t len);
int ptx_read_cstring(ptx_warp *w, const ptx_insn *in, uint64_t addr, char *out, size_t outlen,
                     int lane);

/* half precision helpers (ptx_ops_float.c) */
float ptx_h2f(uint16_t h);
uint16_t ptx_f2h(float f, int rnd);
float ptx_bf2f(uint16_t h);
uint16_t ptx_f2bf(float f, int rnd);

static inline int64_t ptx_sext(uint64_t v, int bits)
{
    return bits >= 64 ? (int64_t)v : (int64_t)(v << (64 - bits)) >> (64 - bits);
}
static inline uint64_t ptx_wmask(int bits)
{
    return bits >= 64 ? ~0ull : ((1ull << bits) - 1);
}
static inline float ptx_as_f32(uint64_t v) { union { uint32_t u; float f; } x; x.u = (uint32_t)v; return x.f; }
static inline double ptx_as_f64(uint64_t v) { union { uint64_t u; double f; } x; x.u = v; return x.f; }
static inline uint64_t ptx_f32_bits(float f) { union { uint32_t u; float f; } x; x.f = f; return x.u; }
static inline uint64_t ptx_f64_bits(double f) { union { uint64_t u; double f; } x; x.f = f; return x.u; }

/* Runs the statement block for every lane of mask, with L the lane; a separate loop for the
 * full mask lets the compiler vectorise the common case. */
#define PTX_FOR_LANES(mask, ...)                                                                \
    do {                                                                                        \
        const uint32_t m_ = (mask);                                                             \
        if (m_ == 0xffffffffu) {                                                                \
            for (int L = 0; L < PTX_WARP; L++) { __VA_ARGS__ }                                  \
        } else {                                                                                \
            for (int L = 0; L < PTX_WARP; L++)                                                  \
                if ((m_ >> L) & 1u) { __VA_ARGS__ }                                             \
        }                                                                                       \
    } while (0)

#endif
