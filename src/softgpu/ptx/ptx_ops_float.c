/*
 * Floating-point executors for f32 and f64 (arithmetic, fma/mad, division, the approximate
 * math functions, min/max, copysign, testp, .ftz/.sat and the directed rounding modes), plus
 * the f16/bf16 conversion helpers that every other file uses. The packed and scalar half
 * precision arithmetic lives in ptx_ops_half.c. Calls libm and the operand helpers.
 */
#include <fenv.h>
#include <math.h>

#include "ptx_internal.h"

#define SRC(i) ptx_src S##i = ptx_get_src(w, in, i)
#define V(i) (S##i.p[L & S##i.m])

/* ---- half precision helpers --------------------------------------------------------------- */

static int fe_mode(int rnd)
{
    switch (rnd) {
    case RND_RZ: case RND_RZI: return FE_TOWARDZERO;
    case RND_RM: case RND_RMI: return FE_DOWNWARD;
    case RND_RP: case RND_RPI: return FE_UPWARD;
    default: return FE_TONEAREST;
    }
}

float ptx_h2f(uint16_t h)
{
    _Float16 v;
    memcpy(&v, &h, 2);
    return (float)v;
}

uint16_t ptx_f2h(float f, int rnd)
{
    int mode = fe_mode(rnd), old = fegetround();
    if (mode != FE_TONEAREST)
        fesetround(mode);
    volatile float vf = f;
    _Float16 v = (_Float16)vf;
    if (mode != FE_TONEAREST)
        fesetround(old);
    uint16_t h;
    memcpy(&h, &v, 2);
    return h;
}

float ptx_bf2f(uint16_t h)
{
    return ptx_as_f32((uint64_t)h << 16);
}

uint16_t ptx_f2bf(float f, int rnd)
{
    uint32_t u = (uint32_t)ptx_f32_bits(f);
    if (isnan(f))
        return (uint16_t)((u >> 16) | 0x40);
    uint32_t low = u & 0xffff, r = u >> 16;
    int neg = (u >> 31) != 0;
    switch (fe_mode(rnd)) {
    case FE_TOWARDZERO: break;
    case FE_DOWNWARD: if (neg && low) r++; break;
    case FE_UPWARD: if (!neg && low) r++; break;
    default:
        if (low > 0x8000 || (low == 0x8000 && (r & 1)))
            r++;
        break;
    }
    return (uint16_t)r;
}

/* ---- f32 / f64 ---------------------------------------------------------------------------- */

static inline float ftz32(float x)
{
    return fpclassify(x) == FP_SUBNORMAL ? copysignf(0.0f, x) : x;
}

static inline float sat32(float x)
{
    return isnan(x) ? 0.0f : x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
}

static inline double sat64(double x)
{
    return isnan(x) ? 0.0 : x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x;
}

static float f32_unary(int op, float a, int approx)
{
    switch (op) {
    case OP_ABS: return fabsf(a);
    case OP_NEG: return -a;
    case OP_RCP: return 1.0f / a;
    case OP_SQRT: return sqrtf(a);
    case OP_RSQRT: return 1.0f / sqrtf(a);
    case OP_EX2: return exp2f(a);
    case OP_LG2: return log2f(a);
    case OP_SIN: return sinf(a);
    case OP_COS: return cosf(a);
    case OP_TANH: return tanhf(a);
    default: (void)approx; return a;
    }
}

static double f64_unary(int op, double a)
{
    switch (op) {
    case OP_ABS: return fabs(a);
    case OP_NEG: return -a;
    case OP_RCP: return 1.0 / a;
    case OP_SQRT: return sqrt(a);
    case OP_RSQRT: return 1.0 / sqrt(a);
    case OP_EX2: return exp2(a);
    case OP_LG2: return log2(a);
    case OP_SIN: return sin(a);
    case OP_COS: return cos(a);
    case OP_TANH: return tanh(a);
    default: return a;
    }
}

static inline float fmin_ptx(float a, float b, int nan)
{
    if (nan && (isnan(a) || isnan(b)))
        return NAN;
    return fminf(a, b);
}

static inline float fmax_ptx(float a, float b, int nan)
{
    if (nan && (isnan(a) || isnan(b)))
        return NAN;
    return fmaxf(a, b);
}

/* fma for a full warp with the host's FMA instruction when it has one (libm's fmaf is a call
 * per lane); both are correctly rounded, so the results are identical. */
#if defined(__x86_64__)
__attribute__((target("fma"))) static void fma_full_hw(uint64_t *D, ptx_src a, ptx_src b,
                                                       ptx_src c)
{
    for (int L = 0; L < PTX_WARP; L++)
        D[L] = ptx_f32_bits(__builtin_fmaf(ptx_as_f32(a.p[L & a.m]), ptx_as_f32(b.p[L & b.m]),
                                           ptx_as_f32(c.p[L & c.m])));
}
static int have_hw_fma(void)
{
    static atomic_int cached = -1; /* pool threads may race here; they all store the same */
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("fma") ? 1 : 0;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
}
#else
static void fma_full_hw(uint64_t *D, ptx_src a, ptx_src b, ptx_src c)
{
    for (int L = 0; L < PTX_WARP; L++)
        D[L] = ptx_f32_bits(fmaf(ptx_as_f32(a.p[L & a.m]), ptx_as_f32(b.p[L & b.m]),
                                 ptx_as_f32(c.p[L & c.m])));
}
static int have_hw_fma(void) { return 1; }
#endif

static void exec_f32(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    int ftz = (in->flags & F_FTZ) != 0, sat = (in->flags & F_SAT) != 0;
    SRC(1);
    ptx_src S2 = in->nops > 2 ? ptx_get_src(w, in, 2) : S1;
    ptx_src S3 = in->nops > 3 ? ptx_get_src(w, in, 3) : S1;
#define A ptx_as_f32(V(1))
#define B ptx_as_f32(V(2))
#define C ptx_as_f32(V(3))
#define PUT(x)                                                                                  \
    do {                                                                                        \
        float r_ = (x);                                                                         \
        if (ftz) r_ = ftz32(r_);                                                                \
        if (sat) r_ = sat32(r_);                                                                \
        D[L] = ptx_f32_bits(r_);                                                                \
    } while (0)
    if (!ftz && !sat) {
        /* the common cases without per-lane flag tests */
        switch (in->op) {
        case OP_ADD: PTX_FOR_LANES(mask, { D[L] = ptx_f32_bits(A + B); }); return;
        case OP_SUB: PTX_FOR_LANES(mask, { D[L] = ptx_f32_bits(A - B); }); return;
        case OP_MUL: PTX_FOR_LANES(mask, { D[L] = ptx_f32_bits(A * B); }); return;
        case OP_FMA:
        case OP_MAD:
            if (mask == 0xffffffffu && have_hw_fma()) {
                fma_full_hw(D, S1, S2, S3);
                return;
            }
            PTX_FOR_LANES(mask, { D[L] = ptx_f32_bits(fmaf(A, B, C)); });
            return;
        default: break;
        }
    }
    float (*fz)(float) = ftz ? ftz32 : NULL;
#define IN(x) (fz ? fz(x) : (x))
    switch (in->op) {
    case OP_ADD: PTX_FOR_LANES(mask, { PUT(IN(A) + IN(B)); }); return;
    case OP_SUB: PTX_FOR_LANES(mask, { PUT(IN(A) - IN(B)); }); return;
    case OP_MUL: PTX_FOR_LANES(mask, { PUT(IN(A) * IN(B)); }); return;
    case OP_FMA:
    case OP_MAD: PTX_FOR_LANES(mask, { PUT(fmaf(IN(A), IN(B), IN(C))); }); return;
    case OP_DIV: PTX_FOR_LANES(mask, { PUT(IN(A) / IN(B)); }); return;
    case OP_MIN: PTX_FOR_LANES(mask, { PUT(fmin_ptx(IN(A), IN(B), in->flags & F_NAN)); }); return;
    case OP_MAX: PTX_FOR_LANES(mask, { PUT(fmax_ptx(IN(A), IN(B), in->flags & F_NAN)); }); return;
    case OP_COPYSIGN: PTX_FOR_LANES(mask, { PUT(copysignf(B, A)); }); return;
    default:
        PTX_FOR_LANES(mask, { PUT(f32_unary(in->op, IN(A), in->flags & F_APPROX)); });
        return;
    }
#undef IN
#undef A
#undef B
#undef C
#undef PUT
}

static void exec_f64(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    int sat = (in->flags & F_SAT) != 0;
    SRC(1);
    ptx_src S2 = in->nops > 2 ? ptx_get_src(w, in, 2) : S1;
    ptx_src S3 = in->nops > 3 ? ptx_get_src(w, in, 3) : S1;
#define A ptx_as_f64(V(1))
#define B ptx_as_f64(V(2))
#define C ptx_as_f64(V(3))
#define PUT(x) D[L] = ptx_f64_bits(sat ? sat64(x) : (x))
    switch (in->op) {
    case OP_ADD: PTX_FOR_LANES(mask, { PUT(A + B); }); return;
    case OP_SUB: PTX_FOR_LANES(mask, { PUT(A - B); }); return;
    case OP_MUL: PTX_FOR_LANES(mask, { PUT(A * B); }); return;
    case OP_FMA:
    case OP_MAD: PTX_FOR_LANES(mask, { PUT(fma(A, B, C)); }); return;
    case OP_DIV: PTX_FOR_LANES(mask, { PUT(A / B); }); return;
    case OP_MIN:
        PTX_FOR_LANES(mask, { PUT((in->flags & F_NAN) && (isnan(A) || isnan(B)) ? NAN : fmin(A, B)); });
        return;
    case OP_MAX:
        PTX_FOR_LANES(mask, { PUT((in->flags & F_NAN) && (isnan(A) || isnan(B)) ? NAN : fmax(A, B)); });
        return;
    case OP_COPYSIGN: PTX_FOR_LANES(mask, { PUT(copysign(B, A)); }); return;
    default: PTX_FOR_LANES(mask, { PUT(f64_unary(in->op, A)); }); return;
    }
#undef A
#undef B
#undef C
#undef PUT
}

static void exec_testp(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    uint64_t *D = ptx_dst(w, in->o[0].reg);
    SRC(1);
    int f64 = in->type == T_F64;
    PTX_FOR_LANES(mask, {
        double x = f64 ? ptx_as_f64(V(1)) : (double)ptx_as_f32(V(1));
        int c = f64 ? fpclassify(x) : fpclassify(ptx_as_f32(V(1)));
        int r = 0;
        switch (in->cmp) {
        case TESTP_FINITE: r = isfinite(x); break;
        case TESTP_INFINITE: r = isinf(x); break;
        case TESTP_NUMBER: r = !isnan(x); break;
        case TESTP_NOTANUMBER: r = isnan(x) != 0; break;
        case TESTP_NORMAL: r = c == FP_NORMAL; break;
        case TESTP_SUBNORMAL: r = c == FP_SUBNORMAL; break;
        }
        D[L] = r != 0;
    });
}

void ptx_x_float(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    if (in->op == OP_TESTP) {
        exec_testp(w, in, mask);
        return;
    }
    int mode = fe_mode(in->rnd), old = 0;
    if (mode != FE_TONEAREST) {
        old = fegetround();
        fesetround(mode);
    }
    if (in->type == T_F64)
        exec_f64(w, in, mask);
    else
        exec_f32(w, in, mask);
    if (mode != FE_TONEAREST)
        fesetround(old);
}
