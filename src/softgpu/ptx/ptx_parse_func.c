/*
 * PTX parser, functions: signatures, bodies (scoped blocks, labels), instructions and their
 * operands (registers, immediates, addresses, vectors, predicates), calls, and the fix-ups that
 * resolve labels and call targets before each instruction is checked by the decoder.
 * Calls the lexer, the decoder (ptx_decode.c) and the parser helpers of ptx_parse.c.
 */
#include <stdlib.h>

#include "ptx_parse.h"

/* ---- operands ----------------------------------------------------------------------------- */

static int parse_imm_token(parser *P, int neg, int type, uint64_t *out)
{
    if (pz_tok(P)->kind != TK_NUMBER)
        return pz_err(P, "expected a number");
    if (ptx_parse_literal(pz_tok(P)->s, pz_tok(P)->n, neg, type, out) < 0) {
        char b[64];
        pz_tokstr(pz_tok(P), b, sizeof b);
        return pz_err(P, "bad number '%s'", b);
    }
    pz_next(P);
    return 0;
}

/* A name used as an operand: register, special register, variable, or (later) label/function. */
static int parse_name_operand(parser *P, ptx_insn *in, int idx, ptx_operand *o)
{
    const char *s = pz_tok(P)->s;
    size_t n = pz_tok(P)->n;
    int type;
    uint32_t r = pz_find_reg(P, s, n, &type);
    if (r != UINT32_MAX) {
        o->kind = OK_REG;
        o->reg = r;
        pz_next(P);
        return 0;
    }
    if (s[0] == '%') {
        int sr = pz_find_sreg(s, n);
        if (sr < 0) {
            char b[64];
            pz_tokstr(pz_tok(P), b, sizeof b);
            return pz_err(P, "unknown register '%s'", b);
        }
        o->kind = OK_SREG;
        o->imm = (uint64_t)sr;
        pz_next(P);
        return 0;
    }
    if (n == 7 && memcmp(s, "WARP_SZ", 7) == 0) { /* the ISA's predefined constant */
        o->kind = OK_IMM;
        o->imm = PTX_WARP;
        pz_next(P);
        return 0;
    }
    var_decl *v = pz_find_var(P, s, n);
    if (v) {
        o->kind = OK_SYM;
        o->sym_kind = (uint8_t)v->sym_kind;
        o->sym = v->value;
        pz_next(P);
        return 0;
    }
    /* forward label or function name: resolved when the function ends */
    o->kind = OK_LABEL;
    fixup f = {P->fn->ncode, idx, s, n, pz_tok(P)->line};
    GROW(P->fix, P->nfix, P->cap_fix);
    P->fix[P->nfix++] = f;
    (void)in;
    pz_next(P);
    return 0;
}

static int parse_vector(parser *P, ptx_insn *in, int idx, ptx_operand *o);

/* The coordinates after the handle of a texture or surface address, kept in the address
 * operand's vec/vimm: "{a, b}" or a single register. */
static int parse_tex_coords(parser *P, ptx_insn *in, int idx, ptx_operand *o)
{
    pz_next(P); /* ',' */
    ptx_operand c;
    memset(&c, 0, sizeof c);
    if (ptx_tok_punct(pz_tok(P), '{')) {
        if (parse_vector(P, in, idx, &c) < 0)
            return -1;
    } else if (pz_tok(P)->kind != TK_IDENT || parse_name_operand(P, in, idx, &c) < 0 ||
               c.kind != OK_REG) {
        return pz_err(P, "expected texture coordinates");
    } else {
        c.nvec = 1;
        c.vec[0] = c.reg;
    }
    o->nvec = c.nvec;
    memcpy(o->vec, c.vec, sizeof o->vec);
    memcpy(o->vimm, c.vimm, sizeof o->vimm);
    return pz_expect(P, ']');
}

static int parse_address(parser *P, ptx_insn *in, int idx, ptx_operand *o)
{
    pz_next(P); /* '[' */
    o->kind = OK_ADDR;
    o->reg = UINT32_MAX;
    if (pz_tok(P)->kind == TK_IDENT) {
        ptx_operand base;
        memset(&base, 0, sizeof base);
        if (parse_name_operand(P, in, idx, &base) < 0)
            return -1;
        if (base.kind == OK_REG) {
            o->reg = base.reg;
        } else if (base.kind == OK_SYM) {
            o->sym_kind = base.sym_kind;
            o->sym = base.sym;
        } else {
            return pz_err(P, "unsupported address base (undeclared variable?)");
        }
    } else if (pz_tok(P)->kind == TK_NUMBER) {
        if (parse_imm_token(P, 0, T_U64, &o->imm) < 0)
            return -1;
        return pz_expect(P, ']');
    } else {
        return pz_err(P, "bad address expression");
    }
    if (ptx_tok_punct(pz_tok(P), ',')) /* tex/tld4/suld/sust: [handle, coordinates] */
        return parse_tex_coords(P, in, idx, o);
    if (ptx_tok_punct(pz_tok(P), '+') || ptx_tok_punct(pz_tok(P), '-')) {
        int neg = ptx_tok_punct(pz_tok(P), '-');
        pz_next(P);
        if (ptx_tok_punct(pz_tok(P), '-')) {
            neg = !neg;
            pz_next(P);
        }
        uint64_t v;
        if (parse_imm_token(P, neg, T_S64, &v) < 0)
            return -1;
        o->imm = v;
    }
    return pz_expect(P, ']');
}

static int parse_vector(parser *P, ptx_insn *in, int idx, ptx_operand *o)
{
    pz_next(P); /* '{' */
    o->kind = OK_VEC;
    for (;;) {
        if (o->nvec >= PTX_MAX_VEC)
            return pz_err(P, "vector operand too long");
        int k = o->nvec++;
        if (ptx_tok_is(pz_tok(P), "_")) {
            o->vec[k] = UINT32_MAX;
            pz_next(P);
        } else if (pz_tok(P)->kind == TK_NUMBER || ptx_tok_punct(pz_tok(P), '-')) {
            int neg = ptx_tok_punct(pz_tok(P), '-');
            if (neg)
                pz_next(P);
            o->vec[k] = UINT32_MAX - 1;
            if (parse_imm_token(P, neg, in->itype, &o->vimm[k]) < 0)
                return -1;
        } else if (pz_tok(P)->kind == TK_IDENT) {
            ptx_operand e;
            memset(&e, 0, sizeof e);
            if (parse_name_operand(P, in, idx, &e) < 0)
                return -1;
            if (e.kind != OK_REG)
                return pz_err(P, "vector elements must be registers");
            o->vec[k] = e.reg;
        } else {
            return pz_err(P, "bad vector element");
        }
        if (ptx_tok_punct(pz_tok(P), ',')) {
            pz_next(P);
            continue;
        }
        return pz_expect(P, '}');
    }
}

static int parse_operand(parser *P, ptx_insn *in, int idx)
{
    ptx_operand *o = &in->o[idx];
    memset(o, 0, sizeof *o);
    if (ptx_tok_punct(pz_tok(P), '[')) {
        if (parse_address(P, in, idx, o) < 0)
            return -1;
    } else if (ptx_tok_punct(pz_tok(P), '{')) {
        if (parse_vector(P, in, idx, o) < 0)
            return -1;
    } else if (ptx_tok_punct(pz_tok(P), '!')) {
        pz_next(P);
        if (pz_tok(P)->kind != TK_IDENT || parse_name_operand(P, in, idx, o) < 0 || o->kind != OK_REG)
            return pz_err(P, "'!' must precede a predicate register");
        o->neg = 1;
    } else if (ptx_tok_punct(pz_tok(P), '-') || pz_tok(P)->kind == TK_NUMBER) {
        int neg = ptx_tok_punct(pz_tok(P), '-');
        if (neg)
            pz_next(P);
        o->kind = OK_IMM;
        if (parse_imm_token(P, neg, in->itype, &o->imm) < 0)
            return -1;
    } else if (pz_tok(P)->kind == TK_IDENT) {
        if (ptx_tok_is(pz_tok(P), "_")) /* sink: kind OK_NONE, which only a few accept */
            pz_next(P);
        else if (parse_name_operand(P, in, idx, o) < 0)
            return -1;
        if ((o->kind == OK_REG || o->kind == OK_NONE) && ptx_tok_punct(pz_tok(P), '|')) {
            pz_next(P);
            ptx_operand q;
            memset(&q, 0, sizeof q);
            if (pz_tok(P)->kind != TK_IDENT || parse_name_operand(P, in, idx, &q) < 0 ||
                q.kind != OK_REG)
                return pz_err(P, "expected a predicate register after '|'");
            o->nvec = 1;
            o->vec[0] = q.reg;
        }
    } else {
        char b[48];
        pz_tokstr(pz_tok(P), b, sizeof b);
        return pz_err(P, "unexpected '%s' in operand list", b);
    }
    return 0;
}

/* ---- call --------------------------------------------------------------------------------- */

static int parse_param_list(parser *P, uint32_t *offs, uint32_t *sizes, uint32_t *n, uint32_t max)
{
    if (pz_expect(P, '(') < 0)
        return -1;
    while (!ptx_tok_punct(pz_tok(P), ')')) {
        if (pz_tok(P)->kind != TK_IDENT)
            return pz_err(P, "expected a parameter name in call");
        var_decl *v = pz_find_var(P, pz_tok(P)->s, pz_tok(P)->n);
        if (!v || v->sym_kind != SYM_FPARAM)
            return pz_err(P, "call arguments must be .param variables declared in the body");
        if (*n >= max)
            return pz_err(P, "too many call arguments");
        offs[*n] = (uint32_t)v->value;
        sizes[*n] = (uint32_t)v->size;
        (*n)++;
        pz_next(P);
        if (ptx_tok_punct(pz_tok(P), ','))
            pz_next(P);
        else if (!ptx_tok_punct(pz_tok(P), ')'))
            return pz_err(P, "expected ',' or ')' in call");
    }
    pz_next(P);
    return 0;
}

static int parse_call(parser *P, ptx_insn *in)
{
    enum { MAXARGS = 64 };
    uint32_t offs[MAXARGS], sizes[MAXARGS], nret = 0, nargs = 0;
    if (ptx_tok_punct(pz_tok(P), '(')) {
        if (parse_param_list(P, offs, sizes, &nret, MAXARGS) < 0)
            return -1;
        if (pz_expect(P, ',') < 0)
            return -1;
    }
    if (pz_tok(P)->kind != TK_IDENT)
        return pz_err(P, "expected a function name in call");
    in->nops = 1;
    if (parse_name_operand(P, in, 0, &in->o[0]) < 0)
        return -1;
    if (in->o[0].kind != OK_LABEL && in->o[0].kind != OK_REG)
        return pz_err(P, "call target is not a function");
    if (ptx_tok_punct(pz_tok(P), ',')) {
        pz_next(P);
        if (ptx_tok_punct(pz_tok(P), '(')) {
            uint32_t n = nret;
            if (parse_param_list(P, offs, sizes, &n, MAXARGS) < 0)
                return -1;
            nargs = n - nret;
        }
        if (ptx_tok_punct(pz_tok(P), ',')) {
            /* the .callprototype label of an indirect call: the callee's own signature is
             * what the interpreter uses */
            pz_next(P);
            if (pz_tok(P)->kind != TK_IDENT || in->o[0].kind != OK_REG)
                return pz_err(P, "bad call prototype");
            pz_next(P);
        }
    }
    in->nret = nret;
    in->ncall = nargs;
    size_t bytes = (nret + nargs + 1) * sizeof(uint32_t);
    in->call_args = ptx_mod_alloc(P->m, bytes);
    in->call_sizes = ptx_mod_alloc(P->m, bytes);
    if (!in->call_args || !in->call_sizes)
        return pz_err(P, "out of memory");
    memcpy(in->call_args, offs, (nret + nargs) * sizeof(uint32_t));
    memcpy(in->call_sizes, sizes, (nret + nargs) * sizeof(uint32_t));
    return pz_expect(P, ';');
}

/* ---- instructions ------------------------------------------------------------------------- */

static int parse_instruction(parser *P)
{
    if (P->fn->ncode >= (uint32_t)P->cap_code) {
        int nc = P->cap_code ? P->cap_code * 2 : 64;
        void *nb = realloc(P->fn->code, (size_t)nc * sizeof(ptx_insn));
        if (!nb)
            return pz_err(P, "out of memory");
        P->fn->code = nb;
        P->cap_code = nc;
    }
    ptx_insn *in = &P->fn->code[P->fn->ncode];
    memset(in, 0, sizeof *in);
    in->guard = UINT32_MAX;
    in->line = pz_tok(P)->line;
    if (ptx_tok_punct(pz_tok(P), '@')) {
        pz_next(P);
        if (ptx_tok_punct(pz_tok(P), '!')) {
            in->guard_neg = 1;
            pz_next(P);
        }
        int type;
        uint32_t r = pz_tok(P)->kind == TK_IDENT ? pz_find_reg(P, pz_tok(P)->s, pz_tok(P)->n, &type) : UINT32_MAX;
        if (r == UINT32_MAX)
            return pz_err(P, "expected a predicate register after '@'");
        in->guard = r;
        pz_next(P);
    }
    if (pz_tok(P)->kind != TK_IDENT)
        return pz_err(P, "expected an instruction");
    char opcode[96];
    if (pz_tok(P)->n >= sizeof opcode)
        return pz_err(P, "instruction name too long");
    pz_tokstr(pz_tok(P), opcode, sizeof opcode);
    in->name = ptx_mod_strdup(P->m, opcode, pz_tok(P)->n);
    if (!in->name)
        return pz_err(P, "out of memory");
    char derr[160];
    if (ptx_decode_opcode(in, opcode, derr, sizeof derr) < 0)
        return pz_err(P, "%s", derr);
    pz_next(P);
    if (in->op == OP_CALL) {
        if (parse_call(P, in) < 0)
            return -1;
    } else {
        while (!ptx_tok_punct(pz_tok(P), ';')) {
            if (in->nops >= PTX_MAX_OPERANDS)
                return pz_err(P, "too many operands for '%s'", opcode);
            if (parse_operand(P, in, in->nops) < 0)
                return -1;
            in->nops++;
            if (ptx_tok_punct(pz_tok(P), ','))
                pz_next(P);
            else if (!ptx_tok_punct(pz_tok(P), ';'))
                return pz_err(P, "expected ',' or ';' after operand of '%s'", opcode);
        }
        pz_next(P);
    }
    P->fn->ncode++;
    return 0;
}

/* ---- functions ---------------------------------------------------------------------------- */

/* "(.param .type name, ...)" of a signature into decls; offsets packed by alignment. */
static int parse_signature(parser *P, ptx_param_decl **out, int *nout, size_t *bytes, int fparam)
{
    if (pz_expect(P, '(') < 0)
        return -1;
    int cap = 0;
    size_t end = fparam ? P->fn->frame_param_bytes : 0;
    while (!ptx_tok_punct(pz_tok(P), ')')) {
        if (!ptx_tok_is(pz_tok(P), ".param") && !ptx_tok_is(pz_tok(P), ".reg"))
            return pz_err(P, "expected .param in signature");
        int is_reg = ptx_tok_is(pz_tok(P), ".reg");
        pz_next(P);
        struct decl_attrs a;
        if (pz_decl_attrs(P, &a) < 0)
            return -1;
        const char *name;
        size_t n;
        uint64_t count;
        int is_array;
        if (pz_decl_name(P, "parameter", &name, &n, &count, &is_array) < 0)
            return -1;
        size_t size = (size_t)count * pz_elem_bytes(&a);
        if (size == 0)
            return pz_err(P, "unsized parameter");
        if (is_reg && fparam)
            return pz_err(P, ".reg parameters are not supported");
        size_t al = fparam && a.align < 8 ? 8 : a.align;
        size_t off = pz_align_up(end, al);
        end = off + size;
        if (*nout >= cap) {
            cap = cap ? cap * 2 : 8;
            void *nb = realloc(*out, (size_t)cap * sizeof **out);
            if (!nb)
                return pz_err(P, "out of memory");
            *out = nb;
        }
        ptx_param_decl *d = &(*out)[(*nout)++];
        d->name = ptx_mod_strdup(P->m, name, n);
        d->offset = off;
        d->size = size;
        d->align = a.align;
        if (!d->name || pz_add_var(P, 0, d->name, n, fparam ? SYM_FPARAM : SYM_KPARAM, off, size,
                                a.type) < 0)
            return pz_err(P, "out of memory");
        if (ptx_tok_punct(pz_tok(P), ','))
            pz_next(P);
        else if (!ptx_tok_punct(pz_tok(P), ')'))
            return pz_err(P, "expected ',' or ')' in signature");
    }
    pz_next(P);
    *bytes = end;
    return 0;
}

static int parse_perf_directives(parser *P)
{
    for (;;) {
        int *dst = NULL;
        if (ptx_tok_is(pz_tok(P), ".maxntid"))
            dst = P->fn->maxntid;
        else if (ptx_tok_is(pz_tok(P), ".reqntid"))
            dst = P->fn->reqntid;
        else if (ptx_tok_is(pz_tok(P), ".pragma")) {
            pz_next(P);
            if (pz_tok(P)->kind == TK_STRING)
                pz_next(P);
            if (pz_expect(P, ';') < 0)
                return -1;
            continue;
        } else if (ptx_tok_is(pz_tok(P), ".noreturn") || ptx_tok_is(pz_tok(P), ".explicitcluster")) {
            pz_next(P);
            continue;
        } else if (!(pz_tok(P)->kind == TK_IDENT && pz_tok(P)->s[0] == '.' &&
                     (ptx_tok_is(pz_tok(P), ".minnctapersm") || ptx_tok_is(pz_tok(P), ".maxnreg") ||
                      ptx_tok_is(pz_tok(P), ".maxnctapersm") || ptx_tok_is(pz_tok(P), ".reqnctapercluster") ||
                      ptx_tok_is(pz_tok(P), ".maxclusterrank")))) {
            return 0;
        }
        pz_next(P);
        for (int i = 0; i < 3; i++) {
            uint64_t v;
            if (pz_uint(P, &v) < 0)
                return -1;
            if (dst)
                dst[i] = v > 1u << 20 ? 1 << 20 : (int)v;
            if (!ptx_tok_punct(pz_tok(P), ','))
                break;
            pz_next(P);
        }
        if (dst)
            for (int i = 0; i < 3; i++)
                if (!dst[i])
                    dst[i] = 1;
    }
}

static int resolve_fixups(parser *P)
{
    for (int i = 0; i < P->nfix; i++) {
        fixup *f = &P->fix[i];
        ptx_insn *in = &P->fn->code[f->pc];
        ptx_operand *o = &in->o[f->opnd];
        int found = 0;
        for (int k = 0; k < P->nlabels; k++)
            if (pz_name_eq(P->labels[k].name, P->labels[k].n, f->name, f->n)) {
                o->imm = P->labels[k].pc;
                found = 1;
                break;
            }
        if (!found) {
            int fi = pz_find_func(P->m, f->name, f->n);
            if (fi >= 0) {
                o->kind = OK_FUNC;
                o->imm = (uint64_t)fi;
                found = 1;
            }
        }
        if (!found) {
            P->lx.tok.line = f->line;
            char b[96];
            size_t k = f->n < sizeof b - 1 ? f->n : sizeof b - 1;
            memcpy(b, f->name, k);
            b[k] = 0;
            return pz_err(P, "undefined name '%s'", b);
        }
    }
    char derr[200];
    for (uint32_t pc = 0; pc < P->fn->ncode; pc++) {
        ptx_insn *in = &P->fn->code[pc];
        if (ptx_decode_check(in, derr, sizeof derr) < 0) {
            P->lx.tok.line = in->line;
            return pz_err(P, "%s", derr);
        }
        if ((in->op == OP_BRA && in->o[0].kind != OK_LABEL) ||
            (in->op == OP_CALL && in->o[0].kind != OK_FUNC && in->o[0].kind != OK_REG)) {
            P->lx.tok.line = in->line;
            return pz_err(P, "bad target for '%s'", in->name);
        }
    }
    return 0;
}

static int parse_body(parser *P)
{
    int depth = 0;
    int scope_regs[64], scope_vars[64];
    pz_next(P); /* '{' */
    for (;;) {
        const ptx_token *t = pz_tok(P);
        if (t->kind == TK_EOF)
            return pz_err(P, "unexpected end of file in function body");
        if (t->kind == TK_ERROR)
            return pz_err(P, "%.*s", (int)t->n, t->s);
        if (ptx_tok_punct(t, '}')) {
            pz_next(P);
            if (depth == 0)
                break;
            depth--;
            P->nregs_decl = scope_regs[depth];
            P->nlvars = scope_vars[depth];
            continue;
        }
        if (ptx_tok_punct(t, '{')) {
            if (depth >= 64)
                return pz_err(P, "blocks nested too deeply");
            scope_regs[depth] = P->nregs_decl;
            scope_vars[depth] = P->nlvars;
            depth++;
            pz_next(P);
            continue;
        }
        if (ptx_tok_is(t, ".reg") || (t->kind == TK_IDENT && t->n > 5 &&
                                      memcmp(t->s, ".reg.", 5) == 0)) {
            if (pz_reg_decl(P) < 0)
                return -1;
        } else if (ptx_tok_is(t, ".local") || ptx_tok_is(t, ".shared") ||
                   ptx_tok_is(t, ".param") || ptx_tok_is(t, ".global") ||
                   ptx_tok_is(t, ".const")) {
            if (pz_var_decl(P, 0, 0) < 0)
                return -1;
        } else if (ptx_tok_is(t, ".pragma")) {
            pz_next(P);
            if (pz_tok(P)->kind == TK_STRING)
                pz_next(P);
            if (pz_expect(P, ';') < 0)
                return -1;
        } else if (ptx_tok_is(t, ".loc") || ptx_tok_is(t, ".file")) {
            uint32_t line = t->line;
            while (pz_tok(P)->kind != TK_EOF && pz_tok(P)->line == line)
                pz_next(P);
        } else if (t->kind == TK_IDENT && t->s[0] != '.' && t->s[0] != '%' &&
                   ptx_tok_punct(ptx_lex_peek(&P->lx), ':')) {
            label_def d = {t->s, t->n, P->fn->ncode};
            GROW(P->labels, P->nlabels, P->cap_labels);
            P->labels[P->nlabels++] = d;
            pz_next(P);
            pz_next(P);
            if (ptx_tok_is(pz_tok(P), ".callprototype")) {
                /* "name: .callprototype (...) _ (...);" declares a signature only */
                while (pz_tok(P)->kind != TK_EOF && !ptx_tok_punct(pz_tok(P), ';'))
                    pz_next(P);
                if (pz_expect(P, ';') < 0)
                    return -1;
            }
        } else if (t->kind == TK_IDENT && t->s[0] == '.') {
            char b[48];
            pz_tokstr(t, b, sizeof b);
            return pz_err(P, "unsupported directive '%s' in function body", b);
        } else {
            if (parse_instruction(P) < 0)
                return -1;
        }
    }
    return resolve_fixups(P);
}

static int new_func(parser *P, const char *name, size_t n, int is_entry)
{
    int idx = pz_find_func(P->m, name, n);
    if (idx >= 0) {
        P->fn = P->m->funcs[idx];
        if (P->fn->defined)
            return pz_err(P, "function '%s' defined twice", P->fn->name);
        P->fn_index = idx;
        return 0;
    }
    ptx_module *m = P->m;
    if (m->nfuncs % 16 == 0) {
        void *nb = realloc(m->funcs, (size_t)(m->nfuncs + 16) * sizeof *m->funcs);
        if (!nb)
            return pz_err(P, "out of memory");
        m->funcs = nb;
    }
    ptx_func *f = ptx_mod_alloc(m, sizeof *f);
    if (!f)
        return pz_err(P, "out of memory");
    f->name = ptx_mod_strdup(m, name, n);
    if (!f->name)
        return pz_err(P, "out of memory");
    f->is_entry = is_entry;
    f->depot_align = 1;
    f->line = pz_tok(P)->line;
    m->funcs[m->nfuncs] = f;
    P->fn_index = m->nfuncs++;
    P->fn = f;
    return 0;
}

/* ".entry name(...) {...}" or ".func (rets) name(...) {...}" or a prototype ending in ';'. */
int pz_function(parser *P, int is_extern)
{
    int is_entry = ptx_tok_is(pz_tok(P), ".entry");
    pz_next(P);
    ptx_param_decl *rets = NULL;
    int nrets = 0;
    size_t retbytes = 0;
    P->nlvars = 0;
    P->nregs_decl = 0;
    P->nlabels = 0;
    P->nfix = 0;
    P->cap_code = 0;
    /* return parameters come before the name: parse into a temporary function */
    ptx_func tmp;
    memset(&tmp, 0, sizeof tmp);
    P->fn = &tmp;
    if (!is_entry && ptx_tok_punct(pz_tok(P), '(')) {
        if (parse_signature(P, &rets, &nrets, &retbytes, 1) < 0) {
            free(rets);
            return -1;
        }
    }
    if (pz_tok(P)->kind != TK_IDENT || pz_tok(P)->s[0] == '.') {
        free(rets);
        return pz_err(P, "expected a function name");
    }
    if (new_func(P, pz_tok(P)->s, pz_tok(P)->n, is_entry) < 0) {
        free(rets);
        return -1;
    }
    ptx_func *f = P->fn;
    free(f->rets);
    free(f->params);
    f->params = NULL;
    f->nparams = 0;
    f->rets = rets;
    f->nrets = nrets;
    f->frame_param_bytes = retbytes;
    pz_next(P);
    if (ptx_tok_punct(pz_tok(P), '(')) {
        if (parse_signature(P, &f->params, &f->nparams, is_entry ? &f->kparam_bytes
                                                                 : &f->frame_param_bytes,
                            !is_entry) < 0)
            return -1;
    }
    if (parse_perf_directives(P) < 0)
        return -1;
    if (ptx_tok_punct(pz_tok(P), ';')) {
        pz_next(P);
        f->is_extern = !f->defined;
        if (!strcmp(f->name, "vprintf"))
            f->builtin = BUILTIN_VPRINTF;
        else if (!strcmp(f->name, "__assertfail"))
            f->builtin = BUILTIN_ASSERTFAIL;
        else if (!strcmp(f->name, "malloc"))
            f->builtin = BUILTIN_MALLOC;
        else if (!strcmp(f->name, "free"))
            f->builtin = BUILTIN_FREE;
        else if (!strcmp(f->name, "cudaGraphSetConditional"))
            f->builtin = BUILTIN_SET_CONDITIONAL;
        return 0;
    }
    if (!ptx_tok_punct(pz_tok(P), '{'))
        return pz_err(P, "expected '{' or ';' after the signature of '%s'", f->name);
    if (is_extern)
        return pz_err(P, "'.extern' function '%s' has a body", f->name);
    f->defined = 1;
    f->is_extern = 0;
    f->builtin = BUILTIN_NONE;
    if (parse_body(P) < 0)
        return -1;
    if (f->ncode == 0 || (f->code[f->ncode - 1].op != OP_RET &&
                          f->code[f->ncode - 1].op != OP_EXIT &&
                          f->code[f->ncode - 1].op != OP_BRA &&
                          f->code[f->ncode - 1].op != OP_TRAP)) {
        /* falling off the end of a body returns */
        ptx_insn ret;
        memset(&ret, 0, sizeof ret);
        ret.op = OP_RET;
        ret.guard = UINT32_MAX;
        ret.name = "ret";
        ret.line = pz_tok(P)->line;
        void *nb = realloc(f->code, (f->ncode + 1) * sizeof *f->code);
        if (!nb)
            return pz_err(P, "out of memory");
        f->code = nb;
        f->code[f->ncode++] = ret;
    }
    return 0;
}

