/*
 * PTX parser, module level: the helpers every parser file shares (errors with line numbers,
 * tokens, literals, name tables), module directives (.version, .target, .address_size), the
 * layout of shared memory and the kernel list. Declarations are in ptx_parse_decl.c, functions
 * and instructions in ptx_parse_func.c. Calls the lexer and the module helpers (ptx_module.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "ptx_internal.h"
#include "ptx_parse.h"


int pz_err(parser *P, const char *fmt, ...)
{
    if (P->failed)
        return -1;
    P->failed = 1;
    if (P->err && P->errlen) {
        int n = snprintf(P->err, P->errlen, "line %u: ", P->lx.tok.line);
        if (n < 0 || (size_t)n >= P->errlen)
            return -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(P->err + n, P->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

const ptx_token *pz_tok(parser *P) { return &P->lx.tok; }
void pz_next(parser *P) { ptx_lex_next(&P->lx); }
int pz_tokstr(const ptx_token *t, char *buf, size_t n)
{
    size_t k = t->n < n - 1 ? t->n : n - 1;
    memcpy(buf, t->s, k);
    buf[k] = 0;
    return (int)k;
}

int pz_expect(parser *P, char c)
{
    if (!ptx_tok_punct(pz_tok(P), c)) {
        char b[64];
        pz_tokstr(pz_tok(P), b, sizeof b);
        return pz_err(P, "expected '%c' but found '%s'", c, b);
    }
    pz_next(P);
    return 0;
}

int pz_uint(parser *P, uint64_t *out)
{
    if (pz_tok(P)->kind != TK_NUMBER)
        return pz_err(P, "expected a number");
    char b[64];
    pz_tokstr(pz_tok(P), b, sizeof b);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(b, &end, 0);
    if (*end == 'U' || *end == 'u')
        end++;
    if (errno || *end)
        return pz_err(P, "bad number '%s'", b);
    *out = v;
    pz_next(P);
    return 0;
}

/* ---- numbers in operands and initialisers ------------------------------------------------- */

/* Parses an (optionally negated) integer or float literal into bits for type t. */
int ptx_parse_literal(const char *s, size_t n, int neg, int t, uint64_t *out)
{
    char b[80];
    if (n == 0 || n >= sizeof b)
        return -1;
    memcpy(b, s, n);
    b[n] = 0;
    int is_float_t = t == T_F32 || t == T_F64 || t == T_F16 || t == T_BF16;
    if (b[0] == '0' && (b[1] == 'f' || b[1] == 'F' || b[1] == 'd' || b[1] == 'D')) {
        int dbl = b[1] == 'd' || b[1] == 'D';
        size_t want = dbl ? 16 : 8;
        if (strlen(b + 2) != want)
            return -1;
        for (size_t i = 2; b[i]; i++)
            if (!isxdigit((unsigned char)b[i]))
                return -1;
        uint64_t bits = strtoull(b + 2, NULL, 16);
        double v = dbl ? ptx_as_f64(bits) : (double)ptx_as_f32(bits);
        if (neg)
            v = -v;
        if (t == T_F64)
            *out = ptx_f64_bits(v);
        else if (t == T_F32 || !is_float_t)
            *out = dbl ? ptx_f32_bits((float)v) : (neg ? bits ^ 0x80000000u : bits);
        else if (t == T_F16)
            *out = ptx_f2h((float)v, RND_RN);
        else
            *out = ptx_f2bf((float)v, RND_RN);
        if (!is_float_t && t != T_NONE)
            *out = dbl ? ptx_f64_bits(v) : *out; /* raw bits into a .b register */
        return 0;
    }
    int looks_float = strchr(b, '.') != NULL ||
                      (!(b[0] == '0' && (b[1] == 'x' || b[1] == 'X')) &&
                       (strchr(b, 'e') || strchr(b, 'E')));
    if (looks_float) {
        char *end;
        double v = strtod(b, &end);
        if (*end)
            return -1;
        if (neg)
            v = -v;
        if (t == T_F64)
            *out = ptx_f64_bits(v);
        else if (t == T_F16)
            *out = ptx_f2h((float)v, RND_RN);
        else if (t == T_BF16)
            *out = ptx_f2bf((float)v, RND_RN);
        else
            *out = ptx_f32_bits((float)v);
        return 0;
    }
    char *end;
    errno = 0;
    uint64_t v;
    if (b[0] == '0' && b[1] && isdigit((unsigned char)b[1]))
        v = strtoull(b, &end, 8);
    else if (b[0] == '0' && (b[1] == 'b' || b[1] == 'B'))
        v = strtoull(b + 2, &end, 2);
    else
        v = strtoull(b, &end, 0);
    if (*end == 'U' || *end == 'u')
        end++;
    if (errno || *end)
        return -1;
    if (neg)
        v = 0 - v; /* two's complement, also for the most negative value */
    if (is_float_t) {
        double d = neg ? (double)(int64_t)v : (double)v;
        if (t == T_F64)
            v = ptx_f64_bits(d);
        else if (t == T_F32)
            v = ptx_f32_bits((float)d);
        else if (t == T_F16)
            v = ptx_f2h((float)d, RND_RN);
        else
            v = ptx_f2bf((float)d, RND_RN);
    }
    *out = v;
    return 0;
}

/* ---- name tables -------------------------------------------------------------------------- */

int pz_name_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

/* Finds register `name` among the declarations in scope; UINT32_MAX if none. */
uint32_t pz_find_reg(parser *P, const char *s, size_t n, int *type)
{
    for (int i = P->nregs_decl - 1; i >= 0; i--) {
        reg_decl *r = &P->regs[i];
        if (r->count == 0) {
            if (pz_name_eq(r->name, r->n, s, n)) {
                *type = r->type;
                return r->base;
            }
        } else if (n > r->n && memcmp(r->name, s, r->n) == 0) {
            uint64_t idx = 0;
            size_t k;
            for (k = r->n; k < n && isdigit((unsigned char)s[k]); k++)
                idx = idx * 10 + (uint64_t)(s[k] - '0');
            if (k == n && idx < r->count && !(s[r->n] == '0' && n > r->n + 1)) {
                *type = r->type;
                return r->base + (uint32_t)idx;
            }
        }
    }
    return UINT32_MAX;
}

var_decl *pz_find_var(parser *P, const char *s, size_t n)
{
    for (int i = P->nlvars - 1; i >= 0; i--)
        if (pz_name_eq(P->lvars[i].name, P->lvars[i].n, s, n))
            return &P->lvars[i];
    for (int i = P->ngvars - 1; i >= 0; i--)
        if (pz_name_eq(P->gvars[i].name, P->gvars[i].n, s, n))
            return &P->gvars[i];
    return NULL;
}

int pz_find_func(ptx_module *m, const char *s, size_t n)
{
    for (int i = 0; i < m->nfuncs; i++)
        if (strlen(m->funcs[i]->name) == n && memcmp(m->funcs[i]->name, s, n) == 0)
            return i;
    return -1;
}

static const struct { const char *name; int code; } sregs[] = {
    {"%tid.x", SR_TID_X}, {"%tid.y", SR_TID_Y}, {"%tid.z", SR_TID_Z},
    {"%ntid.x", SR_NTID_X}, {"%ntid.y", SR_NTID_Y}, {"%ntid.z", SR_NTID_Z},
    {"%ctaid.x", SR_CTAID_X}, {"%ctaid.y", SR_CTAID_Y}, {"%ctaid.z", SR_CTAID_Z},
    {"%nctaid.x", SR_NCTAID_X}, {"%nctaid.y", SR_NCTAID_Y}, {"%nctaid.z", SR_NCTAID_Z},
    {"%laneid", SR_LANEID}, {"%warpid", SR_WARPID}, {"%nwarpid", SR_NWARPID},
    {"%smid", SR_SMID}, {"%nsmid", SR_NSMID}, {"%gridid", SR_GRIDID},
    {"%lanemask_eq", SR_LANEMASK_EQ}, {"%lanemask_le", SR_LANEMASK_LE},
    {"%lanemask_lt", SR_LANEMASK_LT}, {"%lanemask_ge", SR_LANEMASK_GE},
    {"%lanemask_gt", SR_LANEMASK_GT}, {"%clock", SR_CLOCK}, {"%clock_hi", SR_CLOCK_HI},
    {"%clock64", SR_CLOCK64}, {"%globaltimer", SR_GLOBALTIMER},
    {"%globaltimer_lo", SR_GLOBALTIMER_LO}, {"%globaltimer_hi", SR_GLOBALTIMER_HI},
    {"%dynamic_smem_size", SR_DYN_SMEM}, {"%total_smem_size", SR_TOTAL_SMEM},
    {"%clusterid.x", SR_CLUSTERID_X}, {"%clusterid.y", SR_CLUSTERID_Y},
    {"%clusterid.z", SR_CLUSTERID_Z}, {"%nclusterid.x", SR_NCLUSTERID_X},
    {"%nclusterid.y", SR_NCLUSTERID_Y}, {"%nclusterid.z", SR_NCLUSTERID_Z},
    {"%cluster_ctaid.x", SR_CLUSTER_CTAID_X}, {"%cluster_ctaid.y", SR_CLUSTER_CTAID_Y},
    {"%cluster_ctaid.z", SR_CLUSTER_CTAID_Z}, {"%cluster_nctaid.x", SR_CLUSTER_NCTAID_X},
    {"%cluster_nctaid.y", SR_CLUSTER_NCTAID_Y}, {"%cluster_nctaid.z", SR_CLUSTER_NCTAID_Z},
    {"%cluster_ctarank", SR_CLUSTER_CTARANK}, {"%cluster_nctarank", SR_CLUSTER_NCTARANK},
    {"%is_explicit_cluster", SR_IS_EXPLICIT_CLUSTER}, {"%aggr_smem_size", SR_AGGR_SMEM},
    {"%reserved_smem_offset_begin", SR_ZERO}, {"%reserved_smem_offset_end", SR_ZERO},
    {"%reserved_smem_offset_cap", SR_ZERO}, {"%reserved_smem_offset_0", SR_ZERO},
    {"%reserved_smem_offset_1", SR_ZERO}, {"%current_graph_exec", SR_ZERO},
};

/* %pm0..%pm7 and %pm0_64..%pm7_64: performance-monitoring counters, which count nothing here */
static int is_pm_counter(const char *s, size_t n)
{
    return (n == 4 || (n == 7 && memcmp(s + 4, "_64", 3) == 0)) && memcmp(s, "%pm", 3) == 0 &&
           s[3] >= '0' && s[3] <= '7';
}

int pz_find_sreg(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof sregs / sizeof sregs[0]; i++)
        if (strlen(sregs[i].name) == n && memcmp(sregs[i].name, s, n) == 0)
            return sregs[i].code;
    if (is_pm_counter(s, n))
        return SR_ZERO;
    if (n > 7 && memcmp(s, "%envreg", 7) == 0) {
        int v = 0;
        for (size_t k = 7; k < n; k++) {
            if (!isdigit((unsigned char)s[k]))
                return -1;
            v = v * 10 + (s[k] - '0');
            if (v > 31)
                return -1;
        }
        return SR_ENVREG0 + v;
    }
    return -1;
}


/* ---- module ------------------------------------------------------------------------------- */

static int parse_version(parser *P)
{
    pz_next(P);
    if (pz_tok(P)->kind != TK_NUMBER)
        return pz_err(P, "expected a version number");
    char b[32];
    pz_tokstr(pz_tok(P), b, sizeof b);
    int major = 0, minor = 0;
    if (sscanf(b, "%d.%d", &major, &minor) < 1 || major < 1 || major > 99 || minor < 0 ||
        minor > 9)
        return pz_err(P, "bad .version '%s'", b);
    P->m->version = major * 10 + minor;
    pz_next(P);
    return 0;
}

static int parse_target(parser *P)
{
    pz_next(P);
    for (;;) {
        if (pz_tok(P)->kind != TK_IDENT)
            return pz_err(P, "expected a target name");
        char b[32];
        pz_tokstr(pz_tok(P), b, sizeof b);
        int sm;
        if (sscanf(b, "sm_%d", &sm) == 1)
            P->m->target_sm = sm;
        else if (strncmp(b, "compute_", 8) && strcmp(b, "texmode_independent") &&
                 strcmp(b, "texmode_unified") && strcmp(b, "map_f64_to_f32") &&
                 strcmp(b, "debug"))
            return pz_err(P, "unknown target '%s'", b);
        pz_next(P);
        if (!ptx_tok_punct(pz_tok(P), ','))
            return 0;
        pz_next(P);
    }
}

/* Skips a ".section name { ... }" debug section. */
static int skip_section(parser *P)
{
    while (pz_tok(P)->kind != TK_EOF && !ptx_tok_punct(pz_tok(P), '{'))
        pz_next(P);
    int depth = 0;
    while (pz_tok(P)->kind != TK_EOF) {
        if (ptx_tok_punct(pz_tok(P), '{'))
            depth++;
        if (ptx_tok_punct(pz_tok(P), '}') && --depth == 0) {
            pz_next(P);
            return 0;
        }
        pz_next(P);
    }
    return pz_err(P, "unterminated .section");
}

static int parse_toplevel(parser *P)
{
    int is_extern = 0;
    while (pz_tok(P)->kind == TK_IDENT &&
           (ptx_tok_is(pz_tok(P), ".visible") || ptx_tok_is(pz_tok(P), ".extern") ||
            ptx_tok_is(pz_tok(P), ".weak") || ptx_tok_is(pz_tok(P), ".common"))) {
        if (ptx_tok_is(pz_tok(P), ".extern"))
            is_extern = 1;
        pz_next(P);
    }
    const ptx_token *t = pz_tok(P);
    if (ptx_tok_is(t, ".version"))
        return parse_version(P);
    if (ptx_tok_is(t, ".target"))
        return parse_target(P);
    if (ptx_tok_is(t, ".address_size")) {
        pz_next(P);
        uint64_t v;
        if (pz_uint(P, &v) < 0)
            return -1;
        if (v != 64)
            return pz_err(P, "only .address_size 64 is supported");
        return 0;
    }
    if (ptx_tok_is(t, ".entry") || ptx_tok_is(t, ".func")) {
        int rc = pz_function(P, is_extern);
        P->fn = NULL;
        P->nlvars = 0;
        return rc;
    }
    if (ptx_tok_is(t, ".global") || ptx_tok_is(t, ".const") || ptx_tok_is(t, ".shared"))
        return pz_var_decl(P, 1, is_extern);
    if (ptx_tok_is(t, ".file") || ptx_tok_is(t, ".loc")) {
        uint32_t line = t->line;
        while (pz_tok(P)->kind != TK_EOF && pz_tok(P)->line == line)
            pz_next(P);
        return 0;
    }
    if (ptx_tok_is(t, ".section"))
        return skip_section(P);
    if (ptx_tok_is(t, ".pragma")) {
        pz_next(P);
        if (pz_tok(P)->kind == TK_STRING)
            pz_next(P);
        return pz_expect(P, ';');
    }
    if (t->kind == TK_ERROR)
        return pz_err(P, "%.*s", (int)t->n, t->s);
    char b[48];
    pz_tokstr(t, b, sizeof b);
    return pz_err(P, "unexpected '%s' at module scope", b);
}

/* Gives every .shared variable its offset and every kernel its layout, then rewrites the
 * parse-time variable indices (SYM_SHVAR) in all instructions into offsets. */
static int layout_shared(parser *P)
{
    ptx_module *m = P->m;
    size_t end = 0;
    for (int i = 0; i < m->nshvars; i++)
        if (m->shvars[i].owner < 0) {
            m->shvars[i].offset = pz_align_up(end, m->shvars[i].align);
            end = m->shvars[i].offset + m->shvars[i].size;
        }
    m->module_shared = end;
    for (int k = 0; k < m->nkernels; k++) {
        struct ptx_kernel *K = &m->kernels[k];
        size_t kend = m->module_shared;
        for (int i = 0; i < m->nshvars; i++)
            if (m->shvars[i].owner >= 0 && m->funcs[m->shvars[i].owner] == K->fn) {
                m->shvars[i].offset = pz_align_up(kend, m->shvars[i].align);
                kend = m->shvars[i].offset + m->shvars[i].size;
            }
        K->static_shared = kend;
        size_t da = m->dyn_shared_align > 16 ? m->dyn_shared_align : 16;
        K->dyn_offset = pz_align_up(kend, da);
    }
    for (int f = 0; f < m->nfuncs; f++) {
        ptx_func *fn = m->funcs[f];
        for (uint32_t pc = 0; pc < fn->ncode; pc++)
            for (int o = 0; o < fn->code[pc].nops; o++) {
                ptx_operand *op = &fn->code[pc].o[o];
                if ((op->kind == OK_SYM || op->kind == OK_ADDR) && op->sym_kind == SYM_SHVAR) {
                    op->sym_kind = SYM_SHARED;
                    op->sym = m->shvars[op->sym].offset;
                }
            }
    }
    return 0;
}

static int uses_envreg(const ptx_func *fn)
{
    for (uint32_t pc = 0; pc < fn->ncode; pc++)
        for (int o = 0; o < fn->code[pc].nops; o++)
            if (fn->code[pc].o[o].kind == OK_SREG && fn->code[pc].o[o].imm >= SR_ENVREG0)
                return 1;
    return 0;
}

/* Local memory each function needs for itself and its deepest call chain (need[]), by
 * relaxation over the call graph; a chain that keeps growing is recursion, for which a fixed
 * allowance is added (deeper recursion fails the launch with a stack overflow). */
#define RECURSION_STACK_ALLOWANCE 16384
static int stack_needs(ptx_module *m, size_t *need, int *recursive)
{
    for (int i = 0; i < m->nfuncs; i++)
        need[i] = pz_align_up(m->funcs[i]->depot_bytes, 16);
    int changed = 1;
    for (int iter = 0; changed && iter <= m->nfuncs + 1; iter++) {
        changed = 0;
        for (int i = 0; i < m->nfuncs; i++) {
            ptx_func *fn = m->funcs[i];
            size_t best = 0;
            for (uint32_t pc = 0; pc < fn->ncode; pc++) {
                if (fn->code[pc].op != OP_CALL)
                    continue;
                if (fn->code[pc].o[0].kind == OK_FUNC) {
                    size_t c = need[fn->code[pc].o[0].imm];
                    best = c > best ? c : best;
                } else { /* indirect: any function may be the callee */
                    for (int k = 0; k < m->nfuncs; k++)
                        best = need[k] > best ? need[k] : best;
                }
            }
            size_t v = pz_align_up(fn->depot_bytes, 16) + best;
            if (v != need[i] && v < ((size_t)1 << 40)) {
                need[i] = v;
                changed = 1;
            }
        }
        if (changed && iter == m->nfuncs + 1)
            *recursive = 1;
    }
    return 0;
}

/* True when fn calls device malloc() or free() directly. */
static int calls_heap(const ptx_module *m, const ptx_func *fn)
{
    for (uint32_t pc = 0; pc < fn->ncode; pc++) {
        const ptx_insn *in = &fn->code[pc];
        if (in->op != OP_CALL || in->o[0].kind != OK_FUNC)
            continue;
        int b = m->funcs[in->o[0].imm]->builtin;
        if (b == BUILTIN_MALLOC || b == BUILTIN_FREE)
            return 1;
    }
    return 0;
}

static int build_kernels(parser *P)
{
    ptx_module *m = P->m;
    int n = 0, any_calls = 0, any_envreg = 0, any_heap = 0;
    for (int i = 0; i < m->nfuncs; i++) {
        ptx_func *fn = m->funcs[i];
        n += fn->is_entry && fn->defined;
        if (!fn->is_entry && fn->defined && uses_envreg(fn))
            any_envreg = 1;
        if (!fn->is_entry && fn->defined && calls_heap(m, fn))
            any_heap = 1;
        for (uint32_t pc = 0; pc < fn->ncode; pc++)
            if (fn->code[pc].op == OP_CALL) {
                any_calls = 1;
                if (fn->code[pc].o[0].kind != OK_FUNC)
                    continue;
                ptx_func *callee = m->funcs[fn->code[pc].o[0].imm];
                if (!callee->defined && !callee->builtin) {
                    P->lx.tok.line = fn->code[pc].line;
                    return pz_err(P, "call to undefined function '%s'", callee->name);
                }
                any_calls = 1;
            }
    }
    m->kernels = ptx_mod_alloc(m, (size_t)(n ? n : 1) * sizeof *m->kernels);
    size_t *need = ptx_mod_alloc(m, (size_t)(m->nfuncs ? m->nfuncs : 1) * sizeof *need);
    if (!m->kernels || !need)
        return pz_err(P, "out of memory");
    int recursive = 0;
    stack_needs(m, need, &recursive);
    for (int i = 0; i < m->nfuncs; i++) {
        ptx_func *fn = m->funcs[i];
        if (!fn->is_entry || !fn->defined)
            continue;
        struct ptx_kernel *K = &m->kernels[m->nkernels++];
        K->fn = fn;
        K->mod = m;
        int calls = 0;
        for (uint32_t pc = 0; pc < fn->ncode; pc++)
            calls |= fn->code[pc].op == OP_CALL;
        K->has_calls = calls || any_calls;
        K->uses_grid_sync = uses_envreg(fn) || any_envreg;
        K->uses_heap = calls_heap(m, fn) || (K->has_calls && any_heap);
        K->max_local = need[i] + (recursive && K->has_calls ? RECURSION_STACK_ALLOWANCE : 0);
        if (K->max_local > ((size_t)1 << 24))
            return pz_err(P, "kernel '%s' needs more than 16 MiB of local memory per thread",
                          fn->name);
    }
    return layout_shared(P);
}

int ptx_parse_module(ptx_module *m, const char *text, size_t len, char *err, size_t errlen)
{
    parser *P = calloc(1, sizeof *P);
    if (!P) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    P->m = m;
    P->err = err;
    P->errlen = errlen;
    ptx_lex_init(&P->lx, text, len);
    pz_next(P);
    int rc = 0;
    while (pz_tok(P)->kind != TK_EOF) {
        if (parse_toplevel(P) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && !m->version)
        rc = pz_err(P, "missing .version directive");
    if (rc == 0)
        rc = build_kernels(P);
    free(P->gvars);
    free(P->regs);
    free(P->lvars);
    free(P->labels);
    free(P->fix);
    free(P);
    return rc;
}

