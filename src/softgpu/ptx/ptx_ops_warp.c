/*
 * Warp-collective executors (shfl.sync, vote.sync, match.sync, activemask, redux.sync) and the
 * instructions with no architectural effect on a sequentially consistent CPU (fences become
 * real host fences; prefetch, nanosleep, bar.warp.sync do nothing). Lanes outside the executing
 * mask take no part; a collective's source lane that is not executing supplies its current
 * register value, which PTX leaves undefined. Calls the operand helpers of ptx_exec.c.
 */
#include "ptx_internal.h"

static void do_shfl(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    if (in->nops < 4 || in->o[0].kind != OK_REG) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "bad shfl operands");
        return;
    }
    ptx_src A = ptx_get_src(w, in, 1), B = ptx_get_src(w, in, 2), C = ptx_get_src(w, in, 3);
    uint64_t a[PTX_WARP];
    for (int L = 0; L < PTX_WARP; L++)
        a[L] = A.p[L & A.m];
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    uint64_t *P = in->o[0].nvec ? ptx_dst(w, in->o[0].vec[0]) : NULL;
    PTX_FOR_LANES(mask, {
        uint32_t b = (uint32_t)B.p[L & B.m] & 31, c = (uint32_t)C.p[L & C.m];
        uint32_t cval = c & 31, seg = (c >> 8) & 31, lane = (uint32_t)L;
        uint32_t maxl = (lane & seg) | (cval & ~seg), minl = lane & seg;
        int32_t j;
        int ok;
        switch (in->cmp) {
        case SHFL_UP: j = (int32_t)lane - (int32_t)b; ok = j >= (int32_t)minl; break;
        case SHFL_DOWN: j = (int32_t)(lane + b); ok = j <= (int32_t)maxl; break;
        case SHFL_BFLY: j = (int32_t)(lane ^ b); ok = j <= (int32_t)maxl; break;
        default: j = (int32_t)(minl | (b & ~seg)); ok = j <= (int32_t)maxl; break;
        }
        if (!ok || j < 0 || j > 31)
            j = (int32_t)lane;
        D[L] = a[j] & 0xffffffffu;
        if (P)
            P[L] = (uint64_t)ok;
    });
}

static void do_vote(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_src A = ptx_get_src(w, in, 1);
    uint64_t neg = in->o[1].neg;
    uint32_t ballot = 0;
    for (int L = 0; L < PTX_WARP; L++)
        if ((mask >> L) & 1u)
            ballot |= (uint32_t)((A.p[L & A.m] != 0) ^ neg) << L;
    uint64_t r;
    switch (in->cmp) {
    case VOTE_ALL: r = ballot == mask; break;
    case VOTE_ANY: r = ballot != 0; break;
    case VOTE_UNI: r = ballot == 0 || ballot == mask; break;
    default: r = ballot; break;
    }
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    PTX_FOR_LANES(mask, { D[L] = r; });
}

static void do_match(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_src A = ptx_get_src(w, in, 1);
    uint64_t wm = ptx_wmask(in->bits);
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    uint64_t *P = in->o[0].nvec ? ptx_dst(w, in->o[0].vec[0]) : NULL;
    uint32_t same[PTX_WARP];
    for (int L = 0; L < PTX_WARP; L++) {
        same[L] = 0;
        if (!((mask >> L) & 1u))
            continue;
        for (int k = 0; k < PTX_WARP; k++)
            if (((mask >> k) & 1u) && ((A.p[k & A.m] ^ A.p[L & A.m]) & wm) == 0)
                same[L] |= 1u << k;
    }
    int all = in->cmp == 1;
    PTX_FOR_LANES(mask, {
        int eq = same[L] == mask;
        D[L] = all ? (eq ? mask : 0) : same[L];
        if (P)
            P[L] = (uint64_t)eq;
    });
}

static void do_redux(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_src A = ptx_get_src(w, in, 1);
    int sgn = ptx_type_is_signed(in->type);
    int first = 1;
    uint64_t acc = 0;
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        uint64_t v = A.p[L & A.m] & 0xffffffffu;
        if (first) {
            acc = v;
            first = 0;
            continue;
        }
        switch (in->cmp) {
        case ATOM_ADD: acc = (acc + v) & 0xffffffffu; break;
        case ATOM_AND: acc &= v; break;
        case ATOM_OR: acc |= v; break;
        case ATOM_XOR: acc ^= v; break;
        case ATOM_MIN:
            if (sgn ? (int32_t)v < (int32_t)acc : v < acc)
                acc = v;
            break;
        case ATOM_MAX:
            if (sgn ? (int32_t)v > (int32_t)acc : v > acc)
                acc = v;
            break;
        default:
            ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "bad redux operation");
            return;
        }
    }
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    PTX_FOR_LANES(mask, { D[L] = acc; });
}

void ptx_x_warp(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    if (in->nops < 1 || in->o[0].kind != OK_REG) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "bad operands");
        return;
    }
    switch (in->op) {
    case OP_SHFL: do_shfl(w, in, mask); return;
    case OP_VOTE:
        if (in->nops < 2 || !in->cmp)
            break;
        do_vote(w, in, mask);
        return;
    case OP_MATCH:
        if (in->nops < 2)
            break;
        do_match(w, in, mask);
        return;
    case OP_REDUX:
        if (in->nops < 2)
            break;
        do_redux(w, in, mask);
        return;
    case OP_ACTIVEMASK: {
        uint64_t *D = ptx_dst(w, in->o[0].reg);
        PTX_FOR_LANES(mask, { D[L] = mask; });
        return;
    }
    default:
        break;
    }
    ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "bad operands");
}

void ptx_x_misc(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    (void)w;
    (void)mask;
    if (in->op == OP_MEMBAR)
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
