/*
 * PTX parser, declarations: .reg, and variables in .global/.const/.shared/.local/.param space
 * with alignment, vector and array forms and numeric initialisers. Records module globals
 * (ptx_global_info), shared variables (laid out in ptx_parse.c), function depots and call-site
 * parameter slots. Calls the parser helpers of ptx_parse.c.
 */
#include <stdlib.h>

#include "ptx_parse.h"

/* ---- declarations ------------------------------------------------------------------------- */

/* Reads ".align N", ".vN", ".ptr .space", and the type of a declaration. */
int pz_decl_attrs(parser *P, struct decl_attrs *a)
{
    memset(a, 0, sizeof *a);
    a->vec = 1;
    while (pz_tok(P)->kind == TK_IDENT && pz_tok(P)->s[0] == '.') {
        if (ptx_tok_is(pz_tok(P), ".align")) {
            pz_next(P);
            uint64_t v;
            if (pz_uint(P, &v) < 0)
                return -1;
            if (v == 0 || v > 4096 || (v & (v - 1)))
                return pz_err(P, "bad alignment %llu", (unsigned long long)v);
            if (!a->type)
                a->align = v; /* after .ptr it is the pointee's alignment: ignored */
            continue;
        }
        if (ptx_tok_is(pz_tok(P), ".v2") || ptx_tok_is(pz_tok(P), ".v4") || ptx_tok_is(pz_tok(P), ".v8")) {
            a->vec = pz_tok(P)->s[2] - '0';
            pz_next(P);
            continue;
        }
        if (ptx_tok_is(pz_tok(P), ".ptr") || ptx_tok_is(pz_tok(P), ".global") ||
            ptx_tok_is(pz_tok(P), ".shared") || ptx_tok_is(pz_tok(P), ".const") ||
            ptx_tok_is(pz_tok(P), ".local")) {
            if (!a->type || ptx_tok_is(pz_tok(P), ".ptr")) {
                pz_next(P);
                continue;
            }
        }
        if (!a->type && (ptx_tok_is(pz_tok(P), ".texref") || ptx_tok_is(pz_tok(P), ".surfref"))) {
            a->opaque = pz_tok(P)->s[1] == 't' ? PTX_OPAQUE_TEXREF : PTX_OPAQUE_SURFREF;
            a->type = T_B64;
            pz_next(P);
            continue;
        }
        char b[32];
        pz_tokstr(pz_tok(P), b, sizeof b);
        int t = ptx_type_from_name(b + 1);
        if (!t || a->type)
            break;
        a->type = t;
        pz_next(P);
    }
    if (!a->type) {
        char b[48];
        pz_tokstr(pz_tok(P), b, sizeof b);
        return pz_err(P, "expected a type in declaration, found '%s'", b);
    }
    size_t sz = (size_t)(ptx_type_bits(a->type) / 8) * (size_t)a->vec;
    if (a->type == T_PRED)
        sz = 1;
    if (!a->align)
        a->align = sz ? sz : 1;
    return 0;
}

/* Parses "[N][M]..." after a name; *count = product (0 for "[]"), *is_array set. */
int pz_dims(parser *P, uint64_t *count, int *is_array)
{
    *count = 1;
    *is_array = 0;
    while (ptx_tok_punct(pz_tok(P), '[')) {
        *is_array = 1;
        pz_next(P);
        if (ptx_tok_punct(pz_tok(P), ']')) {
            *count = 0;
            pz_next(P);
            continue;
        }
        uint64_t v;
        if (pz_uint(P, &v) < 0)
            return -1;
        if (v > (1ull << 32) || *count * v > (1ull << 32))
            return pz_err(P, "array too large");
        *count *= v;
        if (pz_expect(P, ']') < 0)
            return -1;
    }
    return 0;
}

/* Initialiser "= v" or "= {v, {v, v}, ...}" into buf (elem bytes each); returns elements. */
static int parse_init(parser *P, int type, size_t elem, uint8_t **buf, size_t *nelem, size_t *cap)
{
    if (ptx_tok_punct(pz_tok(P), '{')) {
        pz_next(P);
        for (;;) {
            if (parse_init(P, type, elem, buf, nelem, cap) < 0)
                return -1;
            if (ptx_tok_punct(pz_tok(P), ',')) {
                pz_next(P);
                continue;
            }
            return pz_expect(P, '}');
        }
    }
    int neg = 0;
    if (ptx_tok_punct(pz_tok(P), '-')) {
        neg = 1;
        pz_next(P);
    }
    if (pz_tok(P)->kind != TK_NUMBER)
        return pz_err(P, "unsupported initialiser (only numeric constants are supported)");
    uint64_t v;
    if (ptx_parse_literal(pz_tok(P)->s, pz_tok(P)->n, neg, type, &v) < 0)
        return pz_err(P, "bad constant in initialiser");
    pz_next(P);
    if (*nelem >= *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        uint8_t *nb = realloc(*buf, nc * elem);
        if (!nb)
            return pz_err(P, "out of memory");
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *nelem * elem, &v, elem); /* little-endian host */
    (*nelem)++;
    return 0;
}

int pz_add_var(parser *P, int global_scope, const char *name, size_t n, int sym_kind,
                   uint64_t value, size_t size, int type)
{
    var_decl v = {name, n, sym_kind, value, size, type};
    if (global_scope) {
        GROW(P->gvars, P->ngvars, P->cap_gvars);
        P->gvars[P->ngvars++] = v;
    } else {
        GROW(P->lvars, P->nlvars, P->cap_lvars);
        P->lvars[P->nlvars++] = v;
    }
    return 0;
}

static int add_global(parser *P, const char *name, size_t n, int space, size_t size, size_t align,
                      uint8_t *init, size_t init_size)
{
    ptx_module *m = P->m;
    if (m->nglobals % 16 == 0) {
        void *nb = realloc(m->globals, (size_t)(m->nglobals + 16) * sizeof *m->globals);
        if (!nb)
            return pz_err(P, "out of memory");
        m->globals = nb;
    }
    struct ptx_global_info *g = &m->globals[m->nglobals];
    memset(g, 0, sizeof *g);
    g->name = ptx_mod_strdup(m, name, n);
    g->space = space == SP_CONST ? PTX_SPACE_CONST : PTX_SPACE_GLOBAL;
    g->size = size ? size : 1;
    g->align = align;
    if (init && init_size) {
        void *copy = ptx_mod_alloc(m, init_size);
        if (!copy || !g->name)
            return pz_err(P, "out of memory");
        memcpy(copy, init, init_size);
        g->init = copy;
        g->init_size = init_size < g->size ? init_size : g->size;
    }
    if (!g->name)
        return pz_err(P, "out of memory");
    return pz_add_var(P, 1, g->name, n, SYM_GLOBAL, (uint64_t)m->nglobals++, size, T_B8);
}

static int add_shared(parser *P, int global_scope, const char *name, size_t n, size_t size,
                      size_t align, int is_extern_array)
{
    ptx_module *m = P->m;
    if (is_extern_array) {
        if (align > m->dyn_shared_align)
            m->dyn_shared_align = align;
        return pz_add_var(P, global_scope, name, n, SYM_DYNSHARED, 0, 0, T_B8);
    }
    if (m->nshvars % 16 == 0) {
        void *nb = realloc(m->shvars, (size_t)(m->nshvars + 16) * sizeof *m->shvars);
        if (!nb)
            return pz_err(P, "out of memory");
        m->shvars = nb;
    }
    ptx_shared_var *v = &m->shvars[m->nshvars];
    v->size = size;
    v->align = align;
    v->owner = (!global_scope && P->fn && P->fn->is_entry) ? P->fn_index : -1;
    v->offset = 0;
    return pz_add_var(P, global_scope, name, n, SYM_SHVAR, (uint64_t)m->nshvars++, size, T_B8);
}


size_t pz_elem_bytes(const struct decl_attrs *a)
{
    return (size_t)(a->type == T_PRED ? 1 : ptx_type_bits(a->type) / 8) * (size_t)a->vec;
}

int pz_decl_name(parser *P, const char *what, const char **name, size_t *n, uint64_t *count,
                 int *is_array)
{
    if (pz_tok(P)->kind != TK_IDENT)
        return pz_err(P, "expected a %s name", what);
    *name = pz_tok(P)->s;
    *n = pz_tok(P)->n;
    pz_next(P);
    return pz_dims(P, count, is_array);
}

/* A declaration in .global/.const/.shared/.local/.param space (the space token is current). */
int pz_var_decl(parser *P, int global_scope, int is_extern)
{
    char sp[16];
    pz_tokstr(pz_tok(P), sp, sizeof sp);
    int space = !strcmp(sp, ".global") ? SP_GLOBAL : !strcmp(sp, ".const") ? SP_CONST
              : !strcmp(sp, ".shared") ? SP_SHARED : !strcmp(sp, ".local") ? SP_LOCAL
              : SP_PARAM;
    pz_next(P);
    struct decl_attrs a;
    if (pz_decl_attrs(P, &a) < 0)
        return -1;
    size_t elem = pz_elem_bytes(&a);
    for (;;) {
        const char *name;
        size_t n;
        uint64_t count;
        int is_array;
        if (pz_decl_name(P, "variable", &name, &n, &count, &is_array) < 0)
            return -1;
        uint8_t *init = NULL;
        size_t ninit = 0, cap = 0;
        if (ptx_tok_punct(pz_tok(P), '=')) {
            pz_next(P);
            if (space != SP_GLOBAL && space != SP_CONST)
                return pz_err(P, "initialiser on a variable outside .global/.const");
            if (parse_init(P, a.type, elem, &init, &ninit, &cap) < 0) {
                free(init);
                return -1;
            }
            if (is_array && count == 0)
                count = ninit;
        }
        size_t size = (size_t)count * elem;
        int rc = 0;
        if (space == SP_GLOBAL || space == SP_CONST) {
            if (!global_scope)
                rc = pz_err(P, "function-scope .global/.const variables are not supported");
            else
                rc = add_global(P, name, n, space, size, a.align, init, ninit * elem);
            if (rc == 0)
                P->m->globals[P->m->nglobals - 1].opaque = a.opaque;
        } else if (space == SP_SHARED) {
            rc = add_shared(P, global_scope, name, n, size, a.align,
                            is_extern || (is_array && count == 0));
        } else if (space == SP_LOCAL) {
            if (global_scope || !P->fn) {
                rc = pz_err(P, "module-scope .local variables are not supported");
            } else {
                size_t off = pz_align_up(P->fn->depot_bytes, a.align);
                P->fn->depot_bytes = off + size;
                if (a.align > P->fn->depot_align)
                    P->fn->depot_align = a.align;
                rc = pz_add_var(P, 0, name, n, SYM_LOCAL, off, size, a.type);
            }
        } else {
            /* call-site .param inside a body: a slot of the per-lane parameter area */
            if (global_scope || !P->fn) {
                rc = pz_err(P, "module-scope .param variables are not supported");
            } else {
                size_t al = a.align < 8 ? 8 : a.align;
                size_t off = pz_align_up(P->fn->frame_param_bytes, al);
                P->fn->frame_param_bytes = off + (size ? size : elem);
                rc = pz_add_var(P, 0, name, n, SYM_FPARAM, off, size ? size : elem, a.type);
            }
        }
        free(init);
        if (rc < 0)
            return -1;
        if (ptx_tok_punct(pz_tok(P), ',')) {
            pz_next(P);
            continue;
        }
        return pz_expect(P, ';');
    }
}

/* ".reg .type %name<N>, %other;" */
int pz_reg_decl(parser *P)
{
    /* ".reg.b32 r;" (no blank, as inline asm is sometimes written) carries the type along */
    int glued = 0;
    if (pz_tok(P)->n > 5 && pz_tok(P)->s[4] == '.') {
        char b[16];
        size_t k = pz_tok(P)->n - 5 < sizeof b - 1 ? pz_tok(P)->n - 5 : sizeof b - 1;
        memcpy(b, pz_tok(P)->s + 5, k);
        b[k] = 0;
        glued = ptx_type_from_name(b);
        if (!glued)
            return pz_err(P, "unknown register type '.%s'", b);
    }
    pz_next(P);
    struct decl_attrs a;
    if (glued) {
        memset(&a, 0, sizeof a);
        a.type = glued;
        a.vec = 1;
    } else if (pz_decl_attrs(P, &a) < 0) {
        return -1;
    }
    if (a.vec != 1)
        return pz_err(P, "vector registers are not supported");
    for (;;) {
        if (pz_tok(P)->kind != TK_IDENT)
            return pz_err(P, "expected a register name");
        reg_decl r = {pz_tok(P)->s, pz_tok(P)->n, 0, P->fn->nregs, a.type};
        pz_next(P);
        if (ptx_tok_punct(pz_tok(P), '<')) {
            pz_next(P);
            uint64_t v;
            if (pz_uint(P, &v) < 0)
                return -1;
            if (v == 0 || v > (1u << 20))
                return pz_err(P, "bad register count %llu", (unsigned long long)v);
            r.count = (uint32_t)v;
            if (pz_expect(P, '>') < 0)
                return -1;
        }
        uint32_t add = r.count ? r.count : 1;
        if (P->fn->nregs + add > (1u << 22))
            return pz_err(P, "too many registers");
        P->fn->nregs += add;
        GROW(P->regs, P->nregs_decl, P->cap_regs);
        P->regs[P->nregs_decl++] = r;
        if (ptx_tok_punct(pz_tok(P), ',')) {
            pz_next(P);
            continue;
        }
        return pz_expect(P, ';');
    }
}

