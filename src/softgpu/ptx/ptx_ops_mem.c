/*
 * Memory executors: address translation for every state space (global and const through the
 * device address space of devmem.h, shared/local/param through their own windows, generic by
 * classifying the address), ld/st with vector forms, atom/red for integer and floating types,
 * and isspacep. Every access is bounds-checked before it happens; a bad one fails the launch
 * with PTX_ERR_ILLEGAL_ADDRESS or PTX_ERR_MISALIGNED. Calls ptx_exec.c helpers and devmem.h.
 */
#include <math.h>

#include "ptx_internal.h"
#include "ptx_jit.h"

static const char *space_name(int s)
{
    static const char *const n[] = {"generic", "global", "shared", "local", "const", "param"};
    return s >= 0 && s <= SP_PARAM ? n[s] : "?";
}

static uint8_t *lane_local(ptx_warp *w, int lane)
{
    ptx_block *b = w->blk;
    return b->local + ((size_t)w->id * PTX_WARP + (size_t)lane) * b->local_per_thread;
}

void *ptx_translate(ptx_warp *w, const ptx_insn *in, int space, uint64_t addr, unsigned size,
                    int lane, int write)
{
    ptx_block *b = w->blk;
    if (size > 1 && (addr & (size - 1))) {
        ptx_fail(w, in, lane, PTX_ERR_MISALIGNED, "misaligned %s address 0x%llx for %u bytes",
                 space_name(space), (unsigned long long)addr, size);
        return NULL;
    }
    if (space == SP_GENERIC) {
        uint64_t sh = (uint64_t)(uintptr_t)b->shared;
        uint64_t lo = (uint64_t)(uintptr_t)b->local;
        uint64_t lsize = (uint64_t)b->nwarps * PTX_WARP * b->local_per_thread;
        uint64_t pw = b->run->param_window;
        if (addr >= sh && addr - sh < b->shared_size) {
            space = SP_SHARED;
            addr -= sh;
        } else if (lsize && addr >= lo && addr - lo < lsize) {
            if (addr - lo + size > lsize)
                goto bad;
            return (void *)(uintptr_t)addr;
        } else if (pw && addr >= pw && addr - pw < b->l->param_bytes) {
            space = SP_PARAM;
            addr -= pw;
        } else {
            space = SP_GLOBAL;
        }
    }
    switch (space) {
    case SP_GLOBAL:
    case SP_CONST:
        if (!sg_addr_ok(b->l->mem, addr, size))
            goto bad;
        return (void *)(uintptr_t)addr;
    case SP_SHARED:
        if (addr >= b->shared_size || b->shared_size - addr < size)
            goto bad;
        return b->shared + addr;
    case SP_LOCAL:
        if (addr >= b->local_per_thread || b->local_per_thread - addr < size)
            goto bad;
        return lane_local(w, lane) + addr;
    case SP_PARAM:
        if (write || addr >= b->l->param_bytes || b->l->param_bytes - addr < size)
            goto bad;
        return (uint8_t *)b->l->params + addr;
    default:
        break;
    }
bad:
    ptx_fail(w, in, lane, PTX_ERR_ILLEGAL_ADDRESS, "%s address 0x%llx (%u bytes) %s",
             space_name(space), (unsigned long long)addr, size,
             space == SP_GLOBAL || space == SP_CONST ? "not mapped" : "out of bounds");
    return NULL;
}

/* The address operand of lane L (register base + symbol + offset). */
static inline uint64_t lane_addr(ptx_warp *w, const ptx_operand *o, int L, uint64_t symv)
{
    uint64_t a = o->imm + symv;
    if (o->reg != UINT32_MAX)
        a += ptx_top(w)->regs[(size_t)o->reg * PTX_WARP + L];
    return a;
}

/* Frame-local .param slots (call arguments and device-function parameters). */
static void *fparam_ptr(ptx_warp *w, const ptx_insn *in, uint64_t addr, unsigned size, int L)
{
    ptx_frame *f = ptx_top(w);
    if (addr >= f->fn->frame_param_bytes || f->fn->frame_param_bytes - addr < size) {
        ptx_fail(w, in, L, PTX_ERR_ILLEGAL_ADDRESS, "param offset %llu out of bounds",
                 (unsigned long long)addr);
        return NULL;
    }
    return f->params + (size_t)L * f->fn->frame_param_bytes + addr;
}

static inline uint64_t load_n(const uint8_t *p, unsigned n)
{
    switch (n) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static inline void store_n(uint8_t *p, uint64_t v, unsigned n)
{
    switch (n) {
    case 1: *p = (uint8_t)v; break;
    case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
    default: memcpy(p, &v, 8); break;
    }
}

/* The common case: a scalar global load/store through a register, checked inline. */
static int ld_st_global_fast(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int st = in->op == OP_ST;
    const ptx_operand *ao = &in->o[st ? 0 : 1], *vo = &in->o[st ? 1 : 0];
    unsigned esz = in->bits / 8;
    if (vo->kind != OK_REG || ao->sym_kind || ao->reg == UINT32_MAX || esz == 0 || esz > 8)
        return 0;
    const struct sg_addr_space *as = w->blk->l->mem;
    const uint64_t *A = ptx_dst(w, ao->reg);
    uint64_t *R = ptx_dst(w, vo->reg);
    int bits = in->bits, sgn = ptx_type_is_signed(in->type);
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        uint64_t addr = A[L] + ao->imm;
        if ((addr & (esz - 1)) || !sg_addr_ok(as, addr, esz)) {
            ptx_translate(w, in, SP_GLOBAL, addr, esz, L, st); /* reports the failure */
            return 1;
        }
        uint8_t *p = (uint8_t *)(uintptr_t)addr;
        if (st) {
            store_n(p, R[L], esz);
        } else {
            uint64_t v = load_n(p, esz);
            R[L] = sgn ? (uint64_t)ptx_sext(v, bits) : v;
        }
    }
    return 1;
}

static void do_ld_st(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    if (in->space == SP_GLOBAL && in->vec == 1 && in->nops >= 2 && ld_st_global_fast(w, in, mask))
        return;
    int st = in->op == OP_ST;
    const ptx_operand *ao = &in->o[st ? 0 : 1], *vo = &in->o[st ? 1 : 0];
    if (in->nops < 2 || ao->kind != OK_ADDR) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "bad operands");
        return;
    }
    int bits = in->bits;
    unsigned esz = (unsigned)(bits / 8), nv = in->vec;
    if (esz == 0 || esz > 8 || nv > 4) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "unsupported access size");
        return;
    }
    int sgn = ptx_type_is_signed(in->type);
    uint64_t symv = ao->sym_kind ? ptx_sym_value(w, ao->sym_kind, ao->sym, 0) : 0;
    int fparam = in->space == SP_PARAM && ao->sym_kind == SYM_FPARAM;
    ptx_frame *f = ptx_top(w);
    uint32_t regs[PTX_MAX_VEC];
    for (unsigned i = 0; i < nv; i++)
        regs[i] = vo->kind == OK_VEC ? vo->vec[i] : vo->reg;
    if ((vo->kind == OK_VEC) != (nv > 1) || (vo->kind == OK_VEC && vo->nvec != nv)) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "vector size mismatch");
        return;
    }
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        uint64_t addr = lane_addr(w, ao, L, symv);
        uint8_t *p = fparam ? fparam_ptr(w, in, addr, esz * nv, L)
                            : ptx_translate(w, in, in->space, addr, esz * nv, L, st);
        if (!p)
            return;
        if (!fparam && nv > 1 && ((addr & (esz * nv - 1)) != 0)) {
            ptx_fail(w, in, L, PTX_ERR_MISALIGNED, "misaligned vector access");
            return;
        }
        for (unsigned i = 0; i < nv; i++) {
            if (st) {
                uint64_t v = 0;
                if (vo->kind == OK_IMM)
                    v = vo->imm;
                else if (vo->kind == OK_VEC && regs[i] == UINT32_MAX - 1)
                    v = vo->vimm[i];
                else if ((vo->kind == OK_REG || vo->kind == OK_VEC) && regs[i] < UINT32_MAX - 1)
                    v = f->regs[(size_t)regs[i] * PTX_WARP + L];
                if (vo->kind == OK_SREG || vo->kind == OK_SYM) {
                    ptx_src s = ptx_get_src(w, in, 1);
                    v = s.p[L & s.m];
                }
                store_n(p + i * esz, v, esz);
            } else {
                uint64_t v = load_n(p + i * esz, esz);
                if (sgn)
                    v = (uint64_t)ptx_sext(v, bits);
                if (regs[i] < UINT32_MAX - 1)
                    f->regs[(size_t)regs[i] * PTX_WARP + L] = v;
            }
        }
    }
}

static void do_isspacep(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_block *b = w->blk;
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    ptx_src a = ptx_get_src(w, in, 1);
    uint64_t sh = (uint64_t)(uintptr_t)b->shared, lo = (uint64_t)(uintptr_t)b->local;
    uint64_t lsize = (uint64_t)b->nwarps * PTX_WARP * b->local_per_thread;
    PTX_FOR_LANES(mask, {
        uint64_t x = a.p[L & a.m];
        int in_sh = x >= sh && x - sh < b->shared_size;
        int in_lo = lsize && x >= lo && x - lo < lsize;
        int r = in->space == SP_SHARED ? in_sh : in->space == SP_LOCAL ? in_lo
              : in->space == SP_GLOBAL ? (!in_sh && !in_lo) : 0;
        D[L] = (uint64_t)r;
    });
}

/* cp.async.{ca,cg}.shared.global [dst], [src], cp-size{, src-size}: done at once, so the
 * commit/wait instructions that follow have nothing left to wait for. */
static void do_cp_async(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    const ptx_operand *d = &in->o[0], *s = &in->o[1];
    ptx_src size = ptx_get_src(w, in, 2);
    int has_src_size = in->nops > 3 && in->o[3].kind != OK_NONE;
    ptx_src ssz = has_src_size ? ptx_get_src(w, in, 3) : size;
    uint64_t dsym = d->sym_kind ? ptx_sym_value(w, d->sym_kind, d->sym, 0) : 0;
    uint64_t ssym = s->sym_kind ? ptx_sym_value(w, s->sym_kind, s->sym, 0) : 0;
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        unsigned n = (unsigned)size.p[L & size.m], sn = (unsigned)ssz.p[L & ssz.m];
        if ((n != 4 && n != 8 && n != 16) || sn > n) {
            ptx_fail(w, in, L, PTX_ERR_LAUNCH_FAILED, "bad cp.async size %u", n);
            return;
        }
        uint8_t *dp = ptx_translate(w, in, SP_SHARED, lane_addr(w, d, L, dsym), n, L, 1);
        if (!dp)
            return;
        memset(dp, 0, n);
        if (sn) {
            const uint8_t *sp = ptx_translate(w, in, SP_GLOBAL, lane_addr(w, s, L, ssym), sn, L, 0);
            if (!sp)
                return;
            memcpy(dp, sp, sn);
        }
    }
}

void ptx_x_mem(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    if (in->op == OP_CP_ASYNC)
        do_cp_async(w, in, mask);
    else if (in->op == OP_ISSPACEP)
        do_isspacep(w, in, mask);
    else
        do_ld_st(w, in, mask);
}

/* ---- atomics ------------------------------------------------------------------------------ */

static uint16_t half_add(uint16_t a, uint16_t b, int bf)
{
    if (bf)
        return ptx_f2bf(ptx_bf2f(a) + ptx_bf2f(b), RND_RN);
    return ptx_f2h(ptx_h2f(a) + ptx_h2f(b), RND_RN);
}

static uint64_t atom_apply(const ptx_insn *in, uint64_t old, uint64_t b, uint64_t c, int bits)
{
    uint64_t wm = ptx_wmask(bits);
    int t = in->type;
    switch (in->cmp) {
    case ATOM_ADD:
        if (t == T_F32)
            return ptx_f32_bits(ptx_as_f32(old) + ptx_as_f32(b));
        if (t == T_F64)
            return ptx_f64_bits(ptx_as_f64(old) + ptx_as_f64(b));
        if (t == T_F16X2 || t == T_BF16X2) {
            int bf = t == T_BF16X2;
            return half_add((uint16_t)old, (uint16_t)b, bf) |
                   ((uint64_t)half_add((uint16_t)(old >> 16), (uint16_t)(b >> 16), bf) << 16);
        }
        if (t == T_F16 || t == T_BF16)
            return half_add((uint16_t)old, (uint16_t)b, t == T_BF16);
        return (old + b) & wm;
    case ATOM_MIN:
    case ATOM_MAX: {
        int mx = in->cmp == ATOM_MAX;
        if (t == T_F32) {
            float x = ptx_as_f32(old), y = ptx_as_f32(b);
            return ptx_f32_bits(mx ? fmaxf(x, y) : fminf(x, y));
        }
        if (t == T_F64) {
            double x = ptx_as_f64(old), y = ptx_as_f64(b);
            return ptx_f64_bits(mx ? fmax(x, y) : fmin(x, y));
        }
        if (ptx_type_is_signed(t)) {
            int64_t x = ptx_sext(old, bits), y = ptx_sext(b, bits);
            return (uint64_t)(mx ? (x > y ? x : y) : (x < y ? x : y)) & wm;
        }
        uint64_t x = old & wm, y = b & wm;
        return mx ? (x > y ? x : y) : (x < y ? x : y);
    }
    case ATOM_INC: return (old & wm) >= (b & wm) ? 0 : (old + 1) & wm;
    case ATOM_DEC: return ((old & wm) == 0 || (old & wm) > (b & wm)) ? b & wm : (old - 1) & wm;
    case ATOM_AND: return old & b & wm;
    case ATOM_OR: return (old | b) & wm;
    case ATOM_XOR: return (old ^ b) & wm;
    case ATOM_EXCH: return b & wm;
    case ATOM_CAS: return (old & wm) == (b & wm) ? c & wm : old;
    default: return old;
    }
}

void ptx_x_atom(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int red = in->op == OP_RED;
    int ai = red ? 0 : 1;
    const ptx_operand *ao = &in->o[ai];
    int need = ai + (in->cmp == ATOM_CAS ? 3 : 2);
    if (ao->kind != OK_ADDR || in->nops < need || !in->cmp) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "bad atomic operands");
        return;
    }
    int bits = in->bits;
    if (bits != 16 && bits != 32 && bits != 64) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "unsupported atomic type");
        return;
    }
    if (in->space != SP_GLOBAL && in->space != SP_SHARED && in->space != SP_GENERIC) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED,
                 "atomics need global, shared or generic addresses");
        return;
    }
    ptx_src B = ptx_get_src(w, in, ai + 1);
    ptx_src C = in->cmp == ATOM_CAS ? ptx_get_src(w, in, ai + 2) : B;
    uint64_t symv = ao->sym_kind ? ptx_sym_value(w, ao->sym_kind, ao->sym, 0) : 0;
    uint64_t *D = red ? NULL : ptx_dst(w, in->o[0].reg);
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        uint64_t addr = lane_addr(w, ao, L, symv);
        void *p = ptx_translate(w, in, in->space, addr, (unsigned)bits / 8, L, 1);
        if (!p)
            return;
        uint64_t old = ptx_atom_host(in, p, B.p[L & B.m], C.p[L & C.m]);
        if (D)
            D[L] = old;
    }
}

/* One atomic on host memory p with the host's compare-and-swap (also the JIT engine's, so both
 * engines agree); the old value as the destination register holds it. */
uint64_t ptx_atom_host(const ptx_insn *in, void *p, uint64_t b, uint64_t c)
{
    int bits = in->bits;
    uint64_t old;
    if (bits == 64) {
        uint64_t *q = p, cur = __atomic_load_n(q, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(q, &cur, atom_apply(in, cur, b, c, 64), 1,
                                            __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            ;
        old = cur;
    } else if (bits == 32) {
        uint32_t *q = p, cur = __atomic_load_n(q, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(q, &cur, (uint32_t)atom_apply(in, cur, b, c, 32),
                                            1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            ;
        old = cur;
    } else {
        uint16_t *q = p, cur = __atomic_load_n(q, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(q, &cur, (uint16_t)atom_apply(in, cur, b, c, 16),
                                            1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            ;
        old = cur;
    }
    return ptx_type_is_signed(in->type) ? (uint64_t)ptx_sext(old, bits) & ptx_wmask(bits) : old;
}
