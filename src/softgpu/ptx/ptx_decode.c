/*
 * Instruction decoder: maps opcode text ("setp.ltu.and.f32", "ld.global.nc.v4.u32") to the typed
 * opcode enum and modifiers of ptx_insn, checks the operand forms, and picks the executor
 * function, so that the hot loop never looks at strings. Anything it does not know is an error
 * naming the instruction. Calls nothing but the type helpers.
 */
#include <stdlib.h>

#include "ptx_internal.h"

/* ---- types -------------------------------------------------------------------------------- */

static const struct { const char *name; int type; int bits; } type_table[] = {
    {"b8", T_B8, 8}, {"b16", T_B16, 16}, {"b32", T_B32, 32}, {"b64", T_B64, 64},
    {"b128", T_B128, 128}, {"u8", T_U8, 8}, {"u16", T_U16, 16}, {"u32", T_U32, 32},
    {"u64", T_U64, 64}, {"s8", T_S8, 8}, {"s16", T_S16, 16}, {"s32", T_S32, 32},
    {"s64", T_S64, 64}, {"f16", T_F16, 16}, {"f16x2", T_F16X2, 32}, {"bf16", T_BF16, 16},
    {"bf16x2", T_BF16X2, 32}, {"f32", T_F32, 32}, {"f64", T_F64, 64}, {"pred", T_PRED, 1},
    {"tf32", T_TF32, 32}, {"e4m3", T_E4M3, 8}, {"e5m2", T_E5M2, 8},
    {"s4", T_S4, 4}, {"u4", T_U4, 4}, {"e4m3x2", T_E4M3X2, 16}, {"e5m2x2", T_E5M2X2, 16},
};

int ptx_type_from_name(const char *s)
{
    for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
        if (!strcmp(type_table[i].name, s))
            return type_table[i].type;
    return T_NONE;
}

int ptx_type_bits(int t)
{
    for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
        if (type_table[i].type == t)
            return type_table[i].bits;
    return 0;
}

int ptx_type_is_signed(int t) { return t == T_S8 || t == T_S16 || t == T_S32 || t == T_S64; }

int ptx_type_is_float(int t)
{
    return t == T_F16 || t == T_F16X2 || t == T_BF16 || t == T_BF16X2 || t == T_F32 ||
           t == T_F64 || t == T_TF32;
}

/* ---- opcode names ------------------------------------------------------------------------- */

static const struct { const char *name; int op; } op_table[] = {
    {"add", OP_ADD}, {"sub", OP_SUB}, {"mul", OP_MUL}, {"mad", OP_MAD}, {"mul24", OP_MUL24},
    {"mad24", OP_MAD24}, {"div", OP_DIV}, {"rem", OP_REM}, {"abs", OP_ABS}, {"neg", OP_NEG},
    {"min", OP_MIN}, {"max", OP_MAX}, {"sad", OP_SAD}, {"addc", OP_ADD}, {"subc", OP_SUB},
    {"madc", OP_MAD}, {"and", OP_AND}, {"or", OP_OR}, {"xor", OP_XOR}, {"not", OP_NOT},
    {"cnot", OP_CNOT}, {"shl", OP_SHL}, {"shr", OP_SHR}, {"popc", OP_POPC}, {"clz", OP_CLZ},
    {"brev", OP_BREV}, {"bfe", OP_BFE}, {"bfi", OP_BFI}, {"prmt", OP_PRMT}, {"shf", OP_SHF},
    {"lop3", OP_LOP3}, {"bfind", OP_BFIND}, {"fns", OP_FNS}, {"dp4a", OP_DP4A},
    {"dp2a", OP_DP2A}, {"fma", OP_FMA}, {"rcp", OP_RCP}, {"sqrt", OP_SQRT},
    {"rsqrt", OP_RSQRT}, {"ex2", OP_EX2}, {"lg2", OP_LG2}, {"sin", OP_SIN}, {"cos", OP_COS},
    {"tanh", OP_TANH}, {"copysign", OP_COPYSIGN}, {"testp", OP_TESTP}, {"setp", OP_SETP},
    {"set", OP_SET}, {"selp", OP_SELP}, {"slct", OP_SLCT}, {"cvt", OP_CVT}, {"cvta", OP_CVTA},
    {"mov", OP_MOV}, {"ld", OP_LD}, {"ldu", OP_LD}, {"st", OP_ST}, {"atom", OP_ATOM},
    {"red", OP_RED}, {"isspacep", OP_ISSPACEP}, {"shfl", OP_SHFL}, {"vote", OP_VOTE},
    {"match", OP_MATCH}, {"activemask", OP_ACTIVEMASK}, {"redux", OP_REDUX}, {"bra", OP_BRA},
    {"brx", OP_INVALID}, {"call", OP_CALL}, {"ret", OP_RET}, {"exit", OP_EXIT},
    {"bar", OP_BAR}, {"barrier", OP_BAR}, {"trap", OP_TRAP}, {"brkpt", OP_TRAP},
    {"membar", OP_MEMBAR}, {"fence", OP_MEMBAR}, {"nanosleep", OP_NANOSLEEP},
    {"prefetch", OP_NOP}, {"prefetchu", OP_NOP}, {"discard", OP_NOP},
    {"applypriority", OP_NOP}, {"createpolicy", OP_MOV}, {"pmevent", OP_NOP},
    {"mma", OP_MMA}, {"wmma", OP_WMMA_LOAD}, {"griddepcontrol", OP_NOP},
    {"cp", OP_CP_ASYNC}, {"vadd4", OP_VSIMD}, {"vsub4", OP_VSIMD}, {"vabsdiff4", OP_VSIMD},
    {"vmin4", OP_VSIMD}, {"vmax4", OP_VSIMD}, {"vavrg4", OP_VSIMD}, {"vadd2", OP_VSIMD},
    {"vsub2", OP_VSIMD}, {"vabsdiff2", OP_VSIMD}, {"vmin2", OP_VSIMD}, {"vmax2", OP_VSIMD},
    {"vavrg2", OP_VSIMD}, {"vadd", OP_VSIMD}, {"vsub", OP_VSIMD}, {"vabsdiff", OP_VSIMD},
    {"vmin", OP_VSIMD}, {"vmax", OP_VSIMD}, {"vshl", OP_VSIMD}, {"vshr", OP_VSIMD},
    {"tex", OP_TEX}, {"tld4", OP_TLD4}, {"txq", OP_TXQ},
    {"suld", OP_SULD}, {"sust", OP_SUST}, {"suq", OP_SUQ},
    {"mbarrier", OP_MBARRIER}, {"elect", OP_ELECT}, {"setmaxnreg", OP_NOP},
    {"ldmatrix", OP_LDMATRIX}, {"stmatrix", OP_STMATRIX}, {"bmsk", OP_BMSK},
    {"szext", OP_SZEXT},
};

/* Modifiers that change nothing in a sequentially consistent CPU implementation. */
static const char *const ignored_mods[] = {
    "sync", "aligned", "ca", "cg", "cs", "lu", "cv", "wb", "wt", "nc", "volatile", "relaxed",
    "acquire", "release", "acq_rel", "sc", "weak", "gpu", "sys", "cta", "cluster", "mmio",
    "L1::evict_normal", "L1::evict_unchanged", "L1::evict_first", "L1::evict_last",
    "L1::no_allocate", "L2::evict_normal", "L2::evict_first", "L2::evict_last", "L2::64B",
    "L2::128B", "L2::256B", "L2::cache_hint", "L1", "L2", "noftz", "full", "ptr",
    "fractional", "launch_dependents", "wait", "L2::evict_unchanged", "level::eviction_priority",
    "noinc", "defer_blocking", "gl", "exclusive", "any", "aligned.sync",
};

static int parse_rnd(const char *m)
{
    static const char *const names[] = {"rn", "rz", "rm", "rp", "rni", "rzi", "rmi", "rpi",
                                        "rna"};
    for (int i = 0; i < 9; i++)
        if (!strcmp(m, names[i]))
            return RND_RN + i;
    return RND_NONE;
}

static int parse_cmp(const char *m)
{
    static const char *const names[] = {"eq", "ne", "lt", "le", "gt", "ge", "lo", "ls", "hi",
                                        "hs", "equ", "neu", "ltu", "leu", "gtu", "geu", "num",
                                        "nan"};
    for (int i = 0; i < 18; i++)
        if (!strcmp(m, names[i]))
            return CMP_EQ + i;
    return 0;
}

static int parse_space(const char *m)
{
    if (!strcmp(m, "global")) return SP_GLOBAL;
    if (!strcmp(m, "shared") || !strcmp(m, "shared::cta")) return SP_SHARED;
    if (!strcmp(m, "local")) return SP_LOCAL;
    if (!strcmp(m, "const")) return SP_CONST;
    if (!strcmp(m, "param") || !strcmp(m, "param::func") || !strcmp(m, "param::entry"))
        return SP_PARAM;
    return -1;
}

static int mode_of(int op, const char *m)
{
    static const char *const atom[] = {"add", "min", "max", "inc", "dec", "and", "or", "xor",
                                       "exch", "cas"};
    static const char *const shfl[] = {"up", "down", "bfly", "idx"};
    static const char *const vote[] = {"all", "any", "uni", "ballot"};
    static const char *const testp[] = {"finite", "infinite", "number", "notanumber", "normal",
                                        "subnormal"};
    static const char *const prmt[] = {"f4e", "b4e", "rc8", "ecl", "ecr", "rc16"};
    if (op == OP_ATOM || op == OP_RED || op == OP_REDUX || op == OP_BAR_RED) {
        for (int i = 0; i < 10; i++)
            if (!strcmp(m, atom[i]))
                return ATOM_ADD + i;
        if (op == OP_BAR_RED && !strcmp(m, "popc"))
            return ATOM_INC; /* popc count: reuse a slot */
    }
    if (op == OP_SHFL)
        for (int i = 0; i < 4; i++)
            if (!strcmp(m, shfl[i]))
                return SHFL_UP + i;
    if (op == OP_VOTE)
        for (int i = 0; i < 4; i++)
            if (!strcmp(m, vote[i]))
                return VOTE_ALL + i;
    if (op == OP_TESTP)
        for (int i = 0; i < 6; i++)
            if (!strcmp(m, testp[i]))
                return TESTP_FINITE + i;
    if (op == OP_PRMT)
        for (int i = 0; i < 6; i++)
            if (!strcmp(m, prmt[i]))
                return PRMT_F4E + i;
    if (op == OP_SHF) {
        if (!strcmp(m, "l")) return SHF_L;
        if (!strcmp(m, "r")) return SHF_R;
    }
    return 0;
}

static int is_ignored(const char *m)
{
    for (size_t i = 0; i < sizeof ignored_mods / sizeof ignored_mods[0]; i++)
        if (!strcmp(m, ignored_mods[i]))
            return 1;
    return 0;
}

/* One modifier; returns 0 when understood. */
static int apply_modifier(ptx_insn *in, const char *m, int *ntypes, int types[4])
{
    int t = ptx_type_from_name(m);
    if (t) {
        if (*ntypes < 4)
            types[(*ntypes)++] = t;
        return 0;
    }
    if ((in->op >= OP_MBARRIER || in->op == OP_CP_ASYNC || in->op == OP_MMA ||
         in->op == OP_NOP) && (ptx_async_modifier(in, m) || ptx_matrix_modifier(in, m)))
        return 0;
    int v;
    if ((v = parse_rnd(m))) { in->rnd = (uint8_t)v; return 0; }
    if ((in->op == OP_SETP || in->op == OP_SET || in->op == OP_SLCT) && (v = parse_cmp(m))) {
        in->cmp = (uint8_t)v;
        return 0;
    }
    if ((in->op == OP_SETP || in->op == OP_SET || in->op == OP_BAR_RED) &&
        (!strcmp(m, "and") || !strcmp(m, "or") || !strcmp(m, "xor")) && in->cmp) {
        in->boolop = m[0] == 'a' ? BOOL_AND : m[0] == 'o' ? BOOL_OR : BOOL_XOR;
        return 0;
    }
    if ((v = mode_of(in->op, m)) && !in->cmp) { in->cmp = (uint8_t)v; return 0; }
    if ((v = parse_space(m)) >= 0) { in->space = (uint8_t)v; return 0; }
    if (!strcmp(m, "v2") || !strcmp(m, "v4") || !strcmp(m, "v8")) { in->vec = (uint8_t)(m[1] - '0'); return 0; }
    if (!strcmp(m, "ftz")) { in->flags |= F_FTZ; return 0; }
    if (!strcmp(m, "sat")) { in->flags |= F_SAT; return 0; }
    if (!strcmp(m, "satfinite")) { in->flags |= F_SATFINITE; return 0; }
    if (!strcmp(m, "hi")) { in->flags |= F_HI; return 0; }
    if (!strcmp(m, "lo")) return 0;
    if (!strcmp(m, "wide")) { in->flags |= F_WIDE; return 0; }
    if (!strcmp(m, "cc")) { in->flags |= F_CC; return 0; }
    if (!strcmp(m, "approx")) { in->flags |= F_APPROX; return 0; }
    if (!strcmp(m, "uni")) { in->flags |= F_UNI; return 0; }
    if (!strcmp(m, "to")) { in->flags |= F_TO; return 0; }
    if (!strcmp(m, "shiftamt")) { in->flags |= F_SHIFTAMT; return 0; }
    if (!strcmp(m, "relu")) { in->flags |= F_RELU; return 0; }
    if (!strcmp(m, "NaN")) { in->flags |= F_NAN; return 0; }
    if (!strcmp(m, "abs")) { in->flags |= F_ABS; return 0; }
    if (!strcmp(m, "xorsign")) { in->flags |= F_XORSIGN; return 0; }
    if ((in->op == OP_SHF || in->op == OP_BMSK || in->op == OP_SZEXT) &&
        (!strcmp(m, "wrap") || !strcmp(m, "clamp"))) {
        in->boolop = m[0] == 'w' ? 1 : 2;
        return 0;
    }
    if (in->op == OP_BAR && (!strcmp(m, "arrive") || !strcmp(m, "red"))) {
        in->op = m[0] == 'a' ? OP_BAR_ARRIVE : OP_BAR_RED;
        return 0;
    }
    if (in->op == OP_BAR && !strcmp(m, "warp")) { in->op = OP_BAR_WARP; return 0; }
    if (in->op == OP_BAR && !strcmp(m, "cta")) return 0;
    if (in->op == OP_MMA || in->op == OP_WMMA_LOAD || in->op == OP_WMMA_STORE ||
        in->op == OP_WMMA_MMA) {
        if (!strcmp(m, "load")) { in->op = OP_WMMA_LOAD; return 0; }
        if (!strcmp(m, "store")) { in->op = OP_WMMA_STORE; return 0; }
        if (!strcmp(m, "mma")) { in->op = OP_WMMA_MMA; return 0; }
        if (!strcmp(m, "a") || !strcmp(m, "b") || !strcmp(m, "c") || !strcmp(m, "d")) {
            in->boolop = (uint8_t)m[0];
            return 0;
        }
        if (!strcmp(m, "row") || !strcmp(m, "col")) {
            /* layouts in order: A then B (mma); wmma.load/store have one */
            in->type3 = (uint8_t)((in->type3 << 2) | (m[0] == 'r' ? 1 : 2));
            return 0;
        }
        if (!strcmp(m, "m16n8k16")) { in->cmp = 1; return 0; }
        if (!strcmp(m, "m16n8k8")) { in->cmp = 2; return 0; }
        if (!strcmp(m, "m16n16k16")) { in->cmp = 3; return 0; }
        if (!strcmp(m, "m32n8k16")) { in->cmp = 4; return 0; }
        if (!strcmp(m, "m8n32k16")) { in->cmp = 5; return 0; }
    }
    if (in->op == OP_MATCH && !strcmp(m, "all")) { in->cmp = 1; return 0; }
    if (in->op == OP_CVT && !strcmp(m, "pack")) { in->boolop = PTX_CVT_PACK; return 0; }
    if (in->op == OP_CP_ASYNC) {
        if (!strcmp(m, "async") || !strcmp(m, "ca") || !strcmp(m, "cg"))
            return 0;
        if (!strcmp(m, "commit_group") || !strcmp(m, "wait_group") || !strcmp(m, "wait_all")) {
            in->op = OP_NOP; /* copies complete synchronously: nothing to wait for */
            return 0;
        }
        if (!strcmp(m, "shared") || !strcmp(m, "shared::cta") || !strcmp(m, "global"))
            return 0;
    }
    if (in->op == OP_VSIMD && in->boolop == 1) {
        /* scalar video: secondary operation (rnd: VS2_*) and shift mode (space: VS_CLAMP...) */
        static const char *const op2[] = {"add", "min", "max"};
        for (int i = 0; i < 3; i++)
            if (!strcmp(m, op2[i])) {
                in->rnd = (uint8_t)(VS2_ADD + i);
                return 0;
            }
        if (!strcmp(m, "clamp") || !strcmp(m, "wrap")) {
            in->space = !strcmp(m, "clamp") ? VS_CLAMP : VS_WRAP;
            return 0;
        }
    } else if (in->op == OP_VSIMD && !strcmp(m, "add")) {
        in->flags |= F_ADD;
        return 0;
    }
    if (in->op >= OP_TEX && in->op <= OP_SUQ && ptx_tex_modifier(in, m))
        return 0;
    if (in->op == OP_MEMBAR && (!strcmp(m, "proxy") || !strcmp(m, "async") ||
                                !strcmp(m, "alias") || !strcmp(m, "mbarrier_init")))
        return 0;
    if (is_ignored(m))
        return 0;
    return -1;
}

int ptx_decode_opcode(ptx_insn *in, const char *opcode, char *err, size_t errlen)
{
    char buf[96];
    snprintf(buf, sizeof buf, "%s", opcode);
    char *save = NULL;
    char *base = strtok_r(buf, ".", &save);
    if (!base)
        goto unknown;
    in->op = OP_INVALID;
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
        if (!strcmp(op_table[i].name, base)) {
            in->op = (uint16_t)op_table[i].op;
            break;
        }
    if (in->op == OP_INVALID)
        goto unknown;
    if (!strcmp(base, "addc") || !strcmp(base, "subc") || !strcmp(base, "madc"))
        in->flags |= F_CARRYIN;
    if (in->op == OP_VSIMD) {
        static const char *const vs[] = {"vadd", "vsub", "vabsdiff", "vmin", "vmax", "vavrg",
                                         "vshl", "vshr"};
        size_t n = strlen(base);
        for (int i = 0; i < 8; i++)
            if (!strncmp(base, vs[i], strlen(vs[i])) && n <= strlen(vs[i]) + 1)
                in->cmp = (uint8_t)(VS_ADD + i);
        /* 4 or 2 elements (vadd4, vadd2), or 1 for the scalar forms (vadd, vshr) */
        in->boolop = (uint8_t)(n == strlen(vs[in->cmp - VS_ADD]) ? 1 : base[n - 1] - '0');
    }
    if (!strcmp(base, "createpolicy"))
        in->flags |= F_NAN; /* marks createpolicy: a mov of an opaque policy value */
    in->vec = 1;
    int ntypes = 0, types[4] = {0};
    for (char *m = strtok_r(NULL, ".", &save); m; m = strtok_r(NULL, ".", &save)) {
        /* "L1::evict_last" and friends contain no dots; "shared::cta" neither */
        if (apply_modifier(in, m, &ntypes, types) < 0) {
            snprintf(err, errlen, "unknown instruction '%s' (modifier '.%s')", opcode, m);
            return -1;
        }
    }
    in->type = (uint8_t)types[0];
    in->type2 = (uint8_t)types[1];
    in->ntypes = (uint8_t)ntypes;
    in->bits = (uint8_t)(ptx_type_bits(types[0]) > 255 ? 0 : ptx_type_bits(types[0]));
    in->bits2 = (uint8_t)(ptx_type_bits(types[1]) > 255 ? 0 : ptx_type_bits(types[1]));
    for (int i = 0; i < 4; i++)
        in->types[i] = (uint8_t)types[i];
    in->itype = in->type;
    if (in->op == OP_CVT || in->op == OP_SET || in->op == OP_TEX || in->op == OP_TLD4)
        in->itype = in->type2; /* tex: immediates are coordinates */
    return 0;
unknown:
    snprintf(err, errlen, "unknown instruction '%s'", opcode);
    return -1;
}

/* ---- operand checks ----------------------------------------------------------------------- */

static int want(const ptx_insn *in, int n, char *err, size_t errlen)
{
    if (in->nops == n)
        return 0;
    snprintf(err, errlen, "'%s' takes %d operands, found %d", in->name, n, in->nops);
    return -1;
}

static int is_value(const ptx_operand *o)
{
    return o->kind == OK_REG || o->kind == OK_IMM || o->kind == OK_SREG || o->kind == OK_SYM;
}

static int check_values(const ptx_insn *in, int first, char *err, size_t errlen)
{
    if (in->o[0].kind != OK_REG && !(in->o[0].kind == OK_VEC && in->op == OP_MOV)) {
        snprintf(err, errlen, "'%s': destination must be a register", in->name);
        return -1;
    }
    for (int i = first; i < in->nops; i++)
        if (!is_value(&in->o[i]) && !(in->o[i].kind == OK_VEC && in->op == OP_MOV)) {
            snprintf(err, errlen, "'%s': operand %d must be a register or constant", in->name,
                     i + 1);
            return -1;
        }
    return 0;
}

static int needs_type(const ptx_insn *in, char *err, size_t errlen)
{
    if (in->type)
        return 0;
    snprintf(err, errlen, "'%s': missing type", in->name);
    return -1;
}

static int arity(int op)
{
    switch (op) {
    case OP_ABS: case OP_NEG: case OP_NOT: case OP_CNOT: case OP_POPC: case OP_CLZ:
    case OP_BREV: case OP_BFIND: case OP_RCP: case OP_SQRT: case OP_RSQRT: case OP_EX2:
    case OP_LG2: case OP_SIN: case OP_COS: case OP_TANH: case OP_CVT: case OP_MOV:
    case OP_CVTA: case OP_TESTP:
        return 2;
    case OP_MAD: case OP_MAD24: case OP_SAD: case OP_FMA: case OP_SELP: case OP_SLCT:
    case OP_BFE: case OP_PRMT: case OP_SHF: case OP_FNS: case OP_DP4A: case OP_DP2A:
        return 4;
    case OP_BFI: case OP_LOP3:
        return 5;
    default:
        return 3;
    }
}

static ptx_exec_fn arith_exec(const ptx_insn *in)
{
    if (in->type == T_F16 || in->type == T_F16X2 || in->type == T_BF16 || in->type == T_BF16X2)
        return ptx_x_half;
    if (in->type == T_F32 || in->type == T_F64)
        return ptx_x_float;
    return ptx_x_int;
}

int ptx_decode_check(ptx_insn *in, char *err, size_t errlen)
{
    switch (in->op) {
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_MAD: case OP_MUL24: case OP_MAD24:
    case OP_DIV: case OP_REM: case OP_ABS: case OP_NEG: case OP_MIN: case OP_MAX: case OP_SAD:
    case OP_FMA: case OP_RCP: case OP_SQRT: case OP_RSQRT: case OP_EX2: case OP_LG2:
    case OP_SIN: case OP_COS: case OP_TANH: case OP_COPYSIGN:
        if (needs_type(in, err, errlen) || want(in, arity(in->op), err, errlen) ||
            check_values(in, 1, err, errlen))
            return -1;
        in->exec = arith_exec(in);
        if ((in->flags & F_WIDE) && in->bits > 32) {
            snprintf(err, errlen, "'%s': .wide needs a 16- or 32-bit type", in->name);
            return -1;
        }
        if (in->flags & (F_XORSIGN | F_ABS)) {
            snprintf(err, errlen, "'%s': .xorsign/.abs are not supported", in->name);
            return -1;
        }
        if (in->exec == ptx_x_int && in->op >= OP_FMA) {
            snprintf(err, errlen, "'%s' needs a floating-point type", in->name);
            return -1;
        }
        return 0;
    case OP_TESTP:
        if (needs_type(in, err, errlen) || want(in, 2, err, errlen) ||
            check_values(in, 1, err, errlen))
            return -1;
        in->exec = ptx_x_float;
        return 0;
    case OP_AND: case OP_OR: case OP_XOR: case OP_NOT: case OP_CNOT: case OP_SHL: case OP_SHR:
    case OP_POPC: case OP_CLZ: case OP_BREV: case OP_BFE: case OP_BFI: case OP_PRMT:
    case OP_SHF: case OP_LOP3: case OP_BFIND: case OP_FNS: case OP_DP4A: case OP_DP2A:
        if (needs_type(in, err, errlen) || want(in, arity(in->op), err, errlen) ||
            check_values(in, 1, err, errlen))
            return -1;
        in->exec = ptx_x_bits;
        return 0;
    case OP_SETP: case OP_SET:
        if (needs_type(in, err, errlen) || check_values(in, 1, err, errlen))
            return -1;
        if (in->nops != 3 && in->nops != 4) {
            snprintf(err, errlen, "'%s' takes 3 or 4 operands", in->name);
            return -1;
        }
        if (!in->cmp) {
            snprintf(err, errlen, "'%s': missing comparison", in->name);
            return -1;
        }
        if (in->op == OP_SET && (in->type == T_F16X2 || in->type == T_BF16X2) &&
            in->type2 != T_F16X2 && in->type2 != T_BF16X2) {
            snprintf(err, errlen, "'%s': packed result needs packed operands", in->name);
            return -1;
        }
        in->exec = ptx_x_setp;
        return 0;
    case OP_SELP: case OP_SLCT:
        if (needs_type(in, err, errlen) || want(in, 4, err, errlen) ||
            check_values(in, 1, err, errlen))
            return -1;
        in->exec = ptx_x_setp;
        return 0;
    case OP_CVT:
        if (!in->type || !in->type2) {
            snprintf(err, errlen, "'%s' needs a destination and a source type", in->name);
            return -1;
        }
        if (in->type == T_E4M3X2 || in->type == T_E5M2X2 || in->type2 == T_E4M3X2 ||
            in->type2 == T_E5M2X2 || in->boolop == PTX_CVT_PACK)
            return ptx_bitfield_check(in, err, errlen); /* packed fp8 conversions, cvt.pack */
        if (in->nops == 3 && (in->type == T_F16X2 || in->type == T_BF16X2)) {
            in->op = OP_CVT_PACK;
        } else if (want(in, 2, err, errlen)) {
            return -1;
        }
        if ((in->type == T_TF32 && in->type2 != T_F32) || in->type2 == T_TF32 ||
            in->type == T_E4M3 || in->type == T_E5M2 || in->type2 == T_E4M3 ||
            in->type2 == T_E5M2 || (in->op == OP_CVT && (in->type == T_F16X2 ||
            in->type == T_BF16X2 || in->type2 == T_F16X2 || in->type2 == T_BF16X2))) {
            snprintf(err, errlen, "'%s': conversion not supported", in->name);
            return -1;
        }
        if (check_values(in, 1, err, errlen))
            return -1;
        in->exec = ptx_x_cvt;
        return 0;
    case OP_MOV: case OP_CVTA:
        if (in->nops == 2 && in->o[1].kind == OK_FUNC) { /* taking a function's address */
            in->o[1].kind = OK_SYM;
            in->o[1].sym_kind = SYM_FUNC;
            in->o[1].sym = in->o[1].imm;
        }
        if (in->flags & F_NAN) { /* createpolicy: a value the cache-hint operands ignore */
            in->exec = ptx_x_mov;
            return 0;
        }
        if (needs_type(in, err, errlen) || want(in, 2, err, errlen) ||
            check_values(in, 1, err, errlen))
            return -1;
        in->exec = ptx_x_mov;
        return 0;
    case OP_LD: case OP_ST: case OP_ISSPACEP: case OP_ATOM: case OP_RED:
        if (in->op != OP_ISSPACEP && needs_type(in, err, errlen))
            return -1;
        if (in->nops < 2 ||
            ((in->op == OP_ATOM || in->op == OP_ISSPACEP) && in->o[0].kind != OK_REG) ||
            (in->op == OP_LD && in->o[0].kind != OK_REG && in->o[0].kind != OK_VEC)) {
            snprintf(err, errlen, "'%s': bad operands", in->name);
            return -1;
        }
        in->exec = (in->op == OP_ATOM || in->op == OP_RED) ? ptx_x_atom : ptx_x_mem;
        return 0;
    case OP_SHFL: case OP_VOTE: case OP_MATCH: case OP_ACTIVEMASK: case OP_REDUX:
        in->exec = ptx_x_warp;
        return 0;
    case OP_CP_ASYNC:
        if (in->nops < 3 || in->o[0].kind != OK_ADDR || in->o[1].kind != OK_ADDR) {
            snprintf(err, errlen, "'%s': expected [dst], [src], size", in->name);
            return -1;
        }
        in->exec = ptx_x_mem;
        return 0;
    case OP_VSIMD:
        if (in->ntypes != 3)
            return snprintf(err, errlen, "'%s' needs three types", in->name), -1;
        if (in->boolop == 1 && (in->cmp == VS_SHL || in->cmp == VS_SHR) && !in->space)
            return snprintf(err, errlen, "'%s' needs .clamp or .wrap", in->name), -1;
        /* the scalar forms take c only with a secondary operation (no .dsel merge) */
        if (want(in, in->boolop == 1 && !in->rnd ? 3 : 4, err, errlen) ||
            check_values(in, 1, err, errlen))
            return -1;
        in->exec = ptx_x_bits;
        return 0;
    case OP_MMA: case OP_WMMA_LOAD: case OP_WMMA_STORE: case OP_WMMA_MMA: {
        /* the shapes and types ptx_mma.c implements; ptx_ops_matrix.c the other mma forms */
        if (in->op == OP_MMA && (in->cmp > 2 || (in->types[1] != T_F16 && in->types[1] != T_BF16)))
            return ptx_matrix_check(in, err, errlen);
        int ok;
        if (in->op == OP_MMA)
            ok = (in->cmp == 1 || in->cmp == 2) && in->ntypes == 4 &&
                 (in->types[1] == T_F16 || in->types[1] == T_BF16) &&
                 in->types[2] == in->types[1] && in->nops == 4;
        else if (in->op == OP_WMMA_MMA)
            ok = in->cmp >= 3 && in->cmp <= 5 && in->nops == 4 &&
                 (in->ntypes == 2 ? in->types[0] != T_S32
                  : in->ntypes == 4 && (in->types[1] == T_F16 || in->types[1] == T_BF16 ||
                                        ((in->types[1] == T_S8 || in->types[1] == T_U8) &&
                                         in->types[0] == T_S32 && in->types[3] == T_S32)));
        else
            ok = in->cmp >= 3 && in->cmp <= 5 && in->nops >= 2 && in->boolop &&
                 (in->type == T_F16 || in->type == T_BF16 || in->type == T_F32 ||
                  in->type == T_S8 || in->type == T_U8 || in->type == T_S32);
        if (!ok) {
            snprintf(err, errlen, "'%s': matrix shape or type not supported (mma m16n8k16/"
                     "m16n8k8 with f16/bf16 inputs; wmma m16n16k16, m32n8k16, m8n32k16 with "
                     "f16/bf16 or s8/u8 inputs)", in->name);
            return -1;
        }
        in->exec = ptx_x_mma;
        return 0;
    }
    case OP_TEX: case OP_TLD4: case OP_TXQ: case OP_SULD: case OP_SUST: case OP_SUQ:
        return ptx_tex_check(in, err, errlen);
    case OP_MBARRIER: case OP_CP_BULK: case OP_ELECT:
        return ptx_async_check(in, err, errlen);
    case OP_LDMATRIX: case OP_STMATRIX:
        return ptx_matrix_check(in, err, errlen);
    case OP_BMSK: case OP_SZEXT:
        return ptx_bitfield_check(in, err, errlen);
    case OP_MEMBAR: case OP_NOP: case OP_NANOSLEEP: case OP_BAR_WARP:
        in->exec = ptx_x_misc;
        return 0;
    case OP_BAR: case OP_BAR_ARRIVE:
        if (in->nops < 1 || in->nops > 2 || !is_value(&in->o[0]) ||
            (in->nops == 2 && !is_value(&in->o[1]))) {
            snprintf(err, errlen, "'%s' takes a barrier id and an optional count", in->name);
            return -1;
        }
        in->exec = NULL;
        return 0;
    case OP_BAR_RED:
        if (in->nops < 3 || in->nops > 4 || in->o[0].kind != OK_REG || !in->cmp) {
            snprintf(err, errlen, "'%s': bad operands", in->name);
            return -1;
        }
        for (int i = 1; i < in->nops; i++)
            if (!is_value(&in->o[i])) {
                snprintf(err, errlen, "'%s': bad operands", in->name);
                return -1;
            }
        in->exec = NULL;
        return 0;
    case OP_BRA: case OP_CALL: case OP_RET: case OP_EXIT: case OP_TRAP:
        in->exec = NULL;
        return 0;
    default:
        snprintf(err, errlen, "unknown instruction '%s'", in->name);
        return -1;
    }
}
