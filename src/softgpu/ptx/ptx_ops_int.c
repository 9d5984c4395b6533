/*
 * Integer arithmetic and bit-manipulation executors: add/sub (with .sat and carry chains),
 * mul/mad (.lo/.hi/.wide, 24-bit forms), div/rem, abs/neg/min/max/sad, logic ops, shifts,
 * popc/clz/brev/bfe/bfi/bfind/prmt/shf/lop3/fns/dp4a/dp2a. Each executes one instruction for
 * all lanes in the mask. Calls only the operand helpers of ptx_exec.c.
 */
#include "ptx_internal.h"

#define SRC(i) ptx_src S##i = ptx_get_src(w, in, i)
#define V(i) (S##i.p[L & S##i.m])

static inline int64_t clamp_s32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v;
}

static void int_addsub(ptx_warp *w, const ptx_insn *in, uint32_t mask, int bits, uint64_t wm)
{
    SRC(1);
    SRC(2);
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    int sub = in->op == OP_SUB;
    if (!(in->flags & (F_CC | F_CARRYIN | F_SAT))) {
        if (sub)
            PTX_FOR_LANES(mask, { D[L] = (V(1) - V(2)) & wm; });
        else
            PTX_FOR_LANES(mask, { D[L] = (V(1) + V(2)) & wm; });
        return;
    }
    if (in->flags & F_SAT) {
        PTX_FOR_LANES(mask, {
            int64_t a = ptx_sext(V(1), 32), b = ptx_sext(V(2), 32);
            D[L] = (uint64_t)clamp_s32(sub ? a - b : a + b) & wm;
        });
        return;
    }
    /* carry chains: the carry flag of a subtraction is the borrow, as in PTX */
    PTX_FOR_LANES(mask, {
        unsigned __int128 a = V(1) & wm, b = V(2) & wm;
        unsigned cin = (in->flags & F_CARRYIN) ? w->carry[L] : 0;
        unsigned __int128 r = sub ? a - b - cin : a + b + cin;
        D[L] = (uint64_t)r & wm;
        if (in->flags & F_CC)
            w->carry[L] = (uint8_t)((r >> bits) & 1);
    });
}

static uint64_t mul_hi(uint64_t a, uint64_t b, int bits, int sgn)
{
    if (bits == 64) {
        if (sgn)
            return (uint64_t)(((__int128)(int64_t)a * (__int128)(int64_t)b) >> 64);
        return (uint64_t)(((unsigned __int128)a * b) >> 64);
    }
    if (sgn)
        return (uint64_t)((ptx_sext(a, bits) * ptx_sext(b, bits)) >> bits);
    return ((a & ptx_wmask(bits)) * (b & ptx_wmask(bits))) >> bits;
}

static void int_mul(ptx_warp *w, const ptx_insn *in, uint32_t mask, int bits, int sgn)
{
    int mad = in->op == OP_MAD || in->op == OP_MAD24;
    SRC(1);
    SRC(2);
    ptx_src S3 = mad ? ptx_get_src(w, in, 3) : S1;
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    uint64_t wm = ptx_wmask(bits);
    if (in->op == OP_MUL24 || in->op == OP_MAD24) {
        PTX_FOR_LANES(mask, {
            int64_t a = sgn ? ptx_sext(V(1), 24) : (int64_t)(V(1) & 0xffffff);
            int64_t b = sgn ? ptx_sext(V(2), 24) : (int64_t)(V(2) & 0xffffff);
            uint64_t p = (uint64_t)(a * b);
            uint64_t r = (in->flags & F_HI) ? p >> 16 : p;
            D[L] = (r + (mad ? V(3) : 0)) & 0xffffffffu;
        });
        return;
    }
    if (in->flags & F_WIDE) {
        uint64_t dm = ptx_wmask(bits * 2);
        PTX_FOR_LANES(mask, {
            uint64_t p = sgn ? (uint64_t)(ptx_sext(V(1), bits) * ptx_sext(V(2), bits))
                             : (V(1) & wm) * (V(2) & wm);
            D[L] = (p + (mad ? V(3) : 0)) & dm;
        });
        return;
    }
    if (mad && (in->flags & (F_CC | F_CARRYIN))) {
        /* mad.lo.cc / madc.hi.cc ...: the product half plus c plus carry-in, carry out */
        int hi = (in->flags & F_HI) != 0;
        PTX_FOR_LANES(mask, {
            uint64_t p = hi ? mul_hi(V(1), V(2), bits, sgn) : V(1) * V(2);
            unsigned __int128 r = (unsigned __int128)(p & wm) + (V(3) & wm) +
                                  ((in->flags & F_CARRYIN) ? w->carry[L] : 0);
            D[L] = (uint64_t)r & wm;
            if (in->flags & F_CC)
                w->carry[L] = (uint8_t)((r >> bits) & 1);
        });
        return;
    }
    if (in->flags & F_HI) {
        PTX_FOR_LANES(mask, {
            uint64_t p = mul_hi(V(1), V(2), bits, sgn);
            if (mad && (in->flags & F_SAT)) {
                D[L] = (uint64_t)clamp_s32(ptx_sext(p, 32) + ptx_sext(V(3), 32)) & wm;
            } else {
                D[L] = (p + (mad ? V(3) : 0)) & wm;
            }
        });
        return;
    }
    if (!mad) {
        PTX_FOR_LANES(mask, { D[L] = (V(1) * V(2)) & wm; });
        return;
    }
    PTX_FOR_LANES(mask, { D[L] = (V(1) * V(2) + V(3)) & wm; });
}

static void int_divrem(ptx_warp *w, const ptx_insn *in, uint32_t mask, int bits, int sgn)
{
    SRC(1);
    SRC(2);
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    uint64_t wm = ptx_wmask(bits);
    int rem = in->op == OP_REM;
    PTX_FOR_LANES(mask, {
        uint64_t r;
        if (sgn) {
            int64_t a = ptx_sext(V(1), bits), b = ptx_sext(V(2), bits);
            int64_t minv = bits == 64 ? INT64_MIN : -((int64_t)1 << (bits - 1));
            if (b == 0)
                r = rem ? (uint64_t)a : ~0ull; /* what the hardware returns; never a SIGFPE */
            else if (b == -1 && a == minv)
                r = rem ? 0 : (uint64_t)a;
            else
                r = (uint64_t)(rem ? a % b : a / b);
        } else {
            uint64_t a = V(1) & wm, b = V(2) & wm;
            r = b == 0 ? (rem ? a : ~0ull) : (rem ? a % b : a / b);
        }
        D[L] = r & wm;
    });
}

static void int_unary_minmax(ptx_warp *w, const ptx_insn *in, uint32_t mask, int bits, int sgn)
{
    SRC(1);
    ptx_src S2 = in->nops > 2 ? ptx_get_src(w, in, 2) : S1;
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    uint64_t wm = ptx_wmask(bits);
    switch (in->op) {
    case OP_ABS:
        PTX_FOR_LANES(mask, {
            int64_t a = ptx_sext(V(1), bits);
            D[L] = (a < 0 ? 0 - (uint64_t)a : (uint64_t)a) & wm;
        });
        return;
    case OP_NEG:
        PTX_FOR_LANES(mask, { D[L] = (0 - V(1)) & wm; });
        return;
    case OP_MIN:
    case OP_MAX: {
        int mx = in->op == OP_MAX;
        if (sgn)
            PTX_FOR_LANES(mask, {
                int64_t a = ptx_sext(V(1), bits), b = ptx_sext(V(2), bits);
                int64_t r = mx ? (a > b ? a : b) : (a < b ? a : b);
                if ((in->flags & F_RELU) && r < 0)
                    r = 0;
                D[L] = (uint64_t)r & wm;
            });
        else
            PTX_FOR_LANES(mask, {
                uint64_t a = V(1) & wm, b = V(2) & wm;
                D[L] = mx ? (a > b ? a : b) : (a < b ? a : b);
            });
        return;
    }
    default: { /* sad */
        SRC(3);
        PTX_FOR_LANES(mask, {
            uint64_t d;
            if (sgn) {
                int64_t a = ptx_sext(V(1), bits), b = ptx_sext(V(2), bits);
                d = a > b ? (uint64_t)a - (uint64_t)b : (uint64_t)b - (uint64_t)a;
            } else {
                uint64_t a = V(1) & wm, b = V(2) & wm;
                d = a > b ? a - b : b - a;
            }
            D[L] = (d + V(3)) & wm;
        });
        return;
    }
    }
}

void ptx_x_int(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    int bits = in->bits;
    int sgn = ptx_type_is_signed(in->type);
    if (bits > 64 || bits < 8) {
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "unsupported type");
        return;
    }
    switch (in->op) {
    case OP_ADD:
    case OP_SUB:
        int_addsub(w, in, mask, bits, ptx_wmask(bits));
        return;
    case OP_MUL:
    case OP_MAD:
    case OP_MUL24:
    case OP_MAD24:
        int_mul(w, in, mask, bits, sgn);
        return;
    case OP_DIV:
    case OP_REM:
        int_divrem(w, in, mask, bits, sgn);
        return;
    default:
        int_unary_minmax(w, in, mask, bits, sgn);
        return;
    }
}

/* ---- bits --------------------------------------------------------------------------------- */

static uint32_t prmt(uint32_t a, uint32_t b, uint32_t c, int mode)
{
    uint8_t bytes[8];
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(a >> (8 * i));
        bytes[i + 4] = (uint8_t)(b >> (8 * i));
    }
    uint32_t r = 0, sel = c & 0xffff;
    static const uint8_t modes[6][4][4] = {
        {{0, 1, 2, 3}, {1, 2, 3, 4}, {2, 3, 4, 5}, {3, 4, 5, 6}}, /* f4e */
        {{0, 7, 6, 5}, {1, 0, 7, 6}, {2, 1, 0, 7}, {3, 2, 1, 0}}, /* b4e */
        {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}, {3, 3, 3, 3}}, /* rc8 */
        {{0, 1, 2, 3}, {1, 1, 2, 3}, {2, 2, 2, 3}, {3, 3, 3, 3}}, /* ecl */
        {{0, 0, 0, 0}, {0, 1, 1, 1}, {0, 1, 2, 2}, {0, 1, 2, 3}}, /* ecr */
        {{0, 1, 0, 1}, {2, 3, 2, 3}, {0, 1, 0, 1}, {2, 3, 2, 3}}, /* rc16 */
    };
    for (int i = 0; i < 4; i++) {
        uint8_t v;
        if (mode == PRMT_DEFAULT) {
            unsigned s = (sel >> (4 * i)) & 0xf;
            v = bytes[s & 7];
            if (s & 8)
                v = (v & 0x80) ? 0xff : 0;
        } else {
            v = bytes[modes[mode - 1][c & 3][i] & 7];
        }
        r |= (uint32_t)v << (8 * i);
    }
    return r;
}

static uint32_t fns(uint32_t m, uint32_t base, int32_t off)
{
    if (base > 31)
        return 0xffffffffu;
    if (off == 0)
        return (m >> base) & 1u ? base : 0xffffffffu;
    int step = off > 0 ? 1 : -1, n = off > 0 ? off : -off;
    for (int p = (int)base; p >= 0 && p < 32; p += step)
        if (((m >> p) & 1u) && --n == 0)
            return (uint32_t)p;
    return 0xffffffffu;
}

static uint64_t bfe(uint64_t a, unsigned pos, unsigned len, int bits, int sgn)
{
    pos &= 0xff;
    len &= 0xff;
    int64_t sbit;
    if (sgn) {
        unsigned top = pos + len - 1 < (unsigned)bits - 1 ? pos + len - 1 : (unsigned)bits - 1;
        sbit = len == 0 ? 0 : (int64_t)((a >> top) & 1);
    } else {
        sbit = 0;
    }
    uint64_t r = 0;
    for (unsigned i = 0; i < (unsigned)bits; i++) {
        uint64_t bit = (i < len && pos + i < (unsigned)bits) ? (a >> (pos + i)) & 1 : (uint64_t)sbit;
        r |= bit << i;
    }
    return r;
}

static uint64_t bfi(uint64_t a, uint64_t b, unsigned pos, unsigned len, int bits)
{
    pos &= 0xff;
    len &= 0xff;
    uint64_t r = b;
    for (unsigned i = 0; i < len && pos + i < (unsigned)bits; i++) {
        uint64_t bit = (a >> i) & 1;
        r = (r & ~(1ull << (pos + i))) | (bit << (pos + i));
    }
    return r;
}

/* SIMD video instructions (vadd4, vabsdiff2, ...) with the default byte/half selection and
 * mask: per-element results, saturated or wrapped, packed or (with .add) summed plus c. */
static uint64_t vsimd(const ptx_insn *in, uint32_t a, uint32_t b, uint32_t c)
{
    int n = in->boolop == 2 ? 2 : 4, eb = 32 / n;
    int sd = ptx_type_is_signed(in->types[0]), sa = ptx_type_is_signed(in->types[1]);
    int sb = ptx_type_is_signed(in->types[2]);
    int64_t lo = sd ? -((int64_t)1 << (eb - 1)) : 0;
    int64_t hi = sd ? ((int64_t)1 << (eb - 1)) - 1 : ((int64_t)1 << eb) - 1;
    int64_t sum = 0;
    uint32_t packed = 0;
    for (int i = 0; i < n; i++) {
        uint64_t ea = (a >> (i * eb)) & ptx_wmask(eb), ebv = (b >> (i * eb)) & ptx_wmask(eb);
        int64_t x = sa ? ptx_sext(ea, eb) : (int64_t)ea, y = sb ? ptx_sext(ebv, eb) : (int64_t)ebv;
        int64_t r;
        switch (in->cmp) {
        case VS_ADD: r = x + y; break;
        case VS_SUB: r = x - y; break;
        case VS_ABSDIFF: r = x > y ? x - y : y - x; break;
        case VS_MIN: r = x < y ? x : y; break;
        case VS_MAX: r = x > y ? x : y; break;
        default: r = (x + y + 1) >> 1; break;
        }
        if (in->flags & F_SAT)
            r = r < lo ? lo : r > hi ? hi : r;
        sum += r;
        packed |= (uint32_t)((uint64_t)r & ptx_wmask(eb)) << (i * eb);
    }
    if (in->flags & F_ADD)
        return (uint32_t)(sum + (int64_t)c);
    return packed;
}

/* Scalar video instructions (vadd, vshr, ...) on whole 32-bit words (no byte or half-word
 * selection): the operation on the sign- or zero-extended operands, saturation to the
 * destination type, then the optional secondary operation with c (PTX ISA, "Scalar Video
 * Instructions"). */
static uint32_t vscalar(const ptx_insn *in, uint32_t a, uint32_t b, uint32_t c)
{
    int sd = ptx_type_is_signed(in->types[0]);
    int64_t x = ptx_type_is_signed(in->types[1]) ? (int32_t)a : (int64_t)a;
    int64_t y = ptx_type_is_signed(in->types[2]) ? (int32_t)b : (int64_t)b;
    int64_t r;
    if (in->cmp == VS_SHL || in->cmp == VS_SHR) {
        uint32_t n = in->space == VS_WRAP ? b & 31 : (b > 32 ? 32 : b);
        r = in->cmp == VS_SHL ? (int64_t)((uint64_t)x << n) : x >> n; /* signed a: arithmetic */
    } else {
        switch (in->cmp) {
        case VS_ADD: r = x + y; break;
        case VS_SUB: r = x - y; break;
        case VS_ABSDIFF: r = x > y ? x - y : y - x; break;
        case VS_MIN: r = x < y ? x : y; break;
        default: r = x > y ? x : y; break;
        }
    }
    int64_t lo = sd ? INT32_MIN : 0, hi = sd ? INT32_MAX : (int64_t)UINT32_MAX;
    if (in->flags & F_SAT)
        r = r < lo ? lo : r > hi ? hi : r;
    int64_t cv = sd ? (int32_t)c : (int64_t)c, t = sd ? (int32_t)r : (int64_t)(uint32_t)r;
    switch (in->rnd) {
    case VS2_ADD: r = t + cv; break;
    case VS2_MIN: r = t < cv ? t : cv; break;
    case VS2_MAX: r = t > cv ? t : cv; break;
    default: break;
    }
    return (uint32_t)r;
}

void ptx_x_bits(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    if (in->op == OP_VSIMD) {
        SRC(1);
        SRC(2);
        ptx_src S3 = in->nops > 3 ? ptx_get_src(w, in, 3) : S1;
        uint64_t *D = ptx_dst(w, in->o[0].reg);
        if (in->boolop == 1)
            PTX_FOR_LANES(mask, {
                D[L] = vscalar(in, (uint32_t)V(1), (uint32_t)V(2), (uint32_t)V(3));
            });
        else
            PTX_FOR_LANES(mask, {
                D[L] = vsimd(in, (uint32_t)V(1), (uint32_t)V(2), (uint32_t)V(3));
            });
        return;
    }
    int bits = in->type == T_PRED ? 1 : in->bits;
    int sgn = ptx_type_is_signed(in->type);
    uint64_t wm = in->type == T_PRED ? 1 : ptx_wmask(bits);
    SRC(1);
    ptx_src S2 = in->nops > 2 ? ptx_get_src(w, in, 2) : S1;
    ptx_src S3 = in->nops > 3 ? ptx_get_src(w, in, 3) : S1;
    ptx_src S4 = in->nops > 4 ? ptx_get_src(w, in, 4) : S1;
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    uint64_t n1 = in->o[1].neg ? 1 : 0, n2 = in->nops > 2 && in->o[2].neg ? 1 : 0;
    switch (in->op) {
    case OP_AND: PTX_FOR_LANES(mask, { D[L] = ((V(1) ^ n1) & (V(2) ^ n2)) & wm; }); return;
    case OP_OR: PTX_FOR_LANES(mask, { D[L] = ((V(1) ^ n1) | (V(2) ^ n2)) & wm; }); return;
    case OP_XOR: PTX_FOR_LANES(mask, { D[L] = ((V(1) ^ n1) ^ (V(2) ^ n2)) & wm; }); return;
    case OP_NOT: PTX_FOR_LANES(mask, { D[L] = ~(V(1) ^ n1) & wm; }); return;
    case OP_CNOT: PTX_FOR_LANES(mask, { D[L] = (V(1) & wm) == 0; }); return;
    case OP_SHL:
        PTX_FOR_LANES(mask, {
            uint64_t s = V(2) & 0xffffffffu;
            D[L] = s >= (uint64_t)bits ? 0 : (V(1) << s) & wm;
        });
        return;
    case OP_SHR:
        PTX_FOR_LANES(mask, {
            uint64_t s = V(2) & 0xffffffffu;
            if (sgn) {
                int64_t a = ptx_sext(V(1), bits);
                D[L] = (uint64_t)(s >= (uint64_t)bits ? (a < 0 ? -1 : 0) : a >> s) & wm;
            } else {
                D[L] = s >= (uint64_t)bits ? 0 : (V(1) & wm) >> s;
            }
        });
        return;
    case OP_POPC: PTX_FOR_LANES(mask, { D[L] = (uint64_t)__builtin_popcountll(V(1) & wm); }); return;
    case OP_CLZ:
        PTX_FOR_LANES(mask, {
            uint64_t a = V(1) & wm;
            D[L] = a ? (uint64_t)(__builtin_clzll(a) - (64 - bits)) : (uint64_t)bits;
        });
        return;
    case OP_BREV:
        PTX_FOR_LANES(mask, {
            uint64_t a = V(1), r = 0;
            for (int i = 0; i < bits; i++)
                r |= ((a >> i) & 1) << (bits - 1 - i);
            D[L] = r;
        });
        return;
    case OP_BFE:
        PTX_FOR_LANES(mask, { D[L] = bfe(V(1), (unsigned)V(2), (unsigned)V(3), bits, sgn) & wm; });
        return;
    case OP_BFI:
        PTX_FOR_LANES(mask, { D[L] = bfi(V(1), V(2), (unsigned)V(3), (unsigned)V(4), bits) & wm; });
        return;
    case OP_PRMT:
        PTX_FOR_LANES(mask, { D[L] = prmt((uint32_t)V(1), (uint32_t)V(2), (uint32_t)V(3), in->cmp); });
        return;
    case OP_SHF:
        PTX_FOR_LANES(mask, {
            uint32_t s = (uint32_t)V(3);
            s = in->boolop == 1 ? (s & 31) : (s > 32 ? 32 : s);
            uint64_t both = ((uint64_t)(uint32_t)V(2) << 32) | (uint32_t)V(1);
            D[L] = in->cmp == SHF_L ? (uint32_t)((both << s) >> 32) : (uint32_t)(both >> s);
        });
        return;
    case OP_LOP3:
        PTX_FOR_LANES(mask, {
            uint64_t a = V(1), b = V(2), c = V(3), lut = V(4) & 0xff, r = 0;
            for (int k = 0; k < 8; k++) {
                if (!((lut >> k) & 1))
                    continue;
                uint64_t ta = (k & 4) ? a : ~a, tb = (k & 2) ? b : ~b, tc = (k & 1) ? c : ~c;
                r |= ta & tb & tc;
            }
            D[L] = r & wm;
        });
        return;
    case OP_BFIND:
        PTX_FOR_LANES(mask, {
            uint64_t a = V(1) & wm;
            if (sgn && ((a >> (bits - 1)) & 1))
                a = ~a & wm;
            uint64_t r = a ? (uint64_t)(63 - __builtin_clzll(a)) : 0xffffffffu;
            if (a && (in->flags & F_SHIFTAMT))
                r = (uint64_t)(bits - 1) - r;
            D[L] = r;
        });
        return;
    case OP_FNS:
        PTX_FOR_LANES(mask, { D[L] = fns((uint32_t)V(1), (uint32_t)V(2), (int32_t)V(3)); });
        return;
    case OP_DP4A: {
        int sa = ptx_type_is_signed(in->type), sb = ptx_type_is_signed(in->type2);
        PTX_FOR_LANES(mask, {
            int64_t acc = (sa || sb) ? ptx_sext(V(3), 32) : (int64_t)(uint32_t)V(3);
            for (int i = 0; i < 4; i++) {
                int64_t x = sa ? (int8_t)(V(1) >> (8 * i)) : (uint8_t)(V(1) >> (8 * i));
                int64_t y = sb ? (int8_t)(V(2) >> (8 * i)) : (uint8_t)(V(2) >> (8 * i));
                acc += x * y;
            }
            D[L] = (uint32_t)acc;
        });
        return;
    }
    case OP_DP2A: {
        int sa = ptx_type_is_signed(in->type), sb = ptx_type_is_signed(in->type2);
        int hi = (in->flags & F_HI) != 0;
        PTX_FOR_LANES(mask, {
            int64_t acc = (sa || sb) ? ptx_sext(V(3), 32) : (int64_t)(uint32_t)V(3);
            for (int i = 0; i < 2; i++) {
                int64_t x = sa ? (int16_t)(V(1) >> (16 * i)) : (uint16_t)(V(1) >> (16 * i));
                int k = i + (hi ? 2 : 0);
                int64_t y = sb ? (int8_t)(V(2) >> (8 * k)) : (uint8_t)(V(2) >> (8 * k));
                acc += x * y;
            }
            D[L] = (uint32_t)acc;
        });
        return;
    }
    default:
        ptx_fail(w, in, __builtin_ctz(mask), PTX_ERR_LAUNCH_FAILED, "unsupported bit operation");
    }
}
