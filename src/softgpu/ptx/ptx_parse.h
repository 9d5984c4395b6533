/*
 * Parser entry points shared between ptx_parse.c, ptx_parse_decl.c and ptx_module.c.
 */
#ifndef SOFTGPU_PTX_PARSE_H
#define SOFTGPU_PTX_PARSE_H

#include "ptx_internal.h"

/* Parses a literal (s, n) for a value of type t (float types get float bits); neg = a '-' came
 * before it. Returns 0, or -1 when it is not a number. */
int ptx_parse_literal(const char *s, size_t n, int neg, int t, uint64_t *out);

/* Parses a whole module into m (already allocated and zeroed). 0 or -1 with err set. */
int ptx_parse_module(ptx_module *m, const char *text, size_t len, char *err, size_t errlen);


/* ---- parser internals (ptx_parse.c, ptx_parse_decl.c, ptx_parse_func.c) ------------------- */

#include "ptx_lex.h"

typedef struct reg_decl { const char *name; size_t n; uint32_t count, base; int type; } reg_decl;
typedef struct var_decl {
    const char *name; size_t n; int sym_kind; uint64_t value; size_t size; int type;
} var_decl;
typedef struct label_def { const char *name; size_t n; uint32_t pc; } label_def;
typedef struct fixup { uint32_t pc; int opnd; const char *name; size_t n; uint32_t line; } fixup;

typedef struct parser {
    ptx_lexer lx;
    ptx_module *m;
    char *err;
    size_t errlen;
    int failed;
    /* module scope */
    var_decl *gvars; int ngvars, cap_gvars;
    /* function scope */
    ptx_func *fn;
    int fn_index;
    reg_decl *regs; int nregs_decl, cap_regs;
    var_decl *lvars; int nlvars, cap_lvars;
    label_def *labels; int nlabels, cap_labels;
    fixup *fix; int nfix, cap_fix;
    int cap_code;
} parser;

#define GROW(arr, n, cap)                                                                        \
    do {                                                                                         \
        if ((n) >= (cap)) {                                                                      \
            int nc_ = (cap) ? (cap) * 2 : 16;                                                    \
            void *np_ = realloc((arr), (size_t)nc_ * sizeof(*(arr)));                            \
            if (!np_) { pz_err(P, "out of memory"); return -1; }                                  \
            (arr) = np_;                                                                         \
            (cap) = nc_;                                                                         \
        }                                                                                        \
    } while (0)

static inline size_t pz_align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

int pz_err(parser *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const ptx_token *pz_tok(parser *P);
void pz_next(parser *P);
int pz_tokstr(const ptx_token *t, char *buf, size_t n);
int pz_expect(parser *P, char c);
int pz_uint(parser *P, uint64_t *out);
int pz_name_eq(const char *a, size_t an, const char *b, size_t bn);
uint32_t pz_find_reg(parser *P, const char *s, size_t n, int *type);
var_decl *pz_find_var(parser *P, const char *s, size_t n);
int pz_find_func(ptx_module *m, const char *s, size_t n);
int pz_find_sreg(const char *s, size_t n);
int pz_add_var(parser *P, int global_scope, const char *name, size_t n, int sym_kind,
               uint64_t value, size_t size, int type);

/* ptx_parse_decl.c */
struct decl_attrs {
    int type;
    size_t align;
    int vec;
    int opaque; /* PTX_OPAQUE_* for .texref/.surfref (type b64: the slot of a handle) */
};
int pz_decl_attrs(parser *P, struct decl_attrs *a);
int pz_dims(parser *P, uint64_t *count, int *is_array);
/* Bytes of one element of a declaration with attributes a (vector width included). */
size_t pz_elem_bytes(const struct decl_attrs *a);
/* Reads a declared name and its dimensions ("x[4][2]"); `what` names it in the error
 * ("variable", "parameter"). *name points into the source text (*n bytes). */
int pz_decl_name(parser *P, const char *what, const char **name, size_t *n, uint64_t *count,
                 int *is_array);
int pz_var_decl(parser *P, int global_scope, int is_extern); /* .global/.const/.shared/... */
int pz_reg_decl(parser *P);

/* ptx_parse_func.c */
int pz_function(parser *P, int is_extern); /* .entry / .func, current token */

#endif
