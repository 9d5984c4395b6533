/*
 * Tokenizer for PTX text, private to the parser (ptx_lex.c, ptx_parse.c). Knows comments,
 * identifiers with dots (opcodes, directives, %registers), numbers and strings; nothing of PTX
 * grammar.
 */
#ifndef SOFTGPU_PTX_LEX_H
#define SOFTGPU_PTX_LEX_H

#include <stddef.h>
#include <stdint.h>

enum tok_kind { TK_EOF = 0, TK_IDENT, TK_NUMBER, TK_STRING, TK_PUNCT, TK_ERROR };

typedef struct ptx_token {
    int kind;
    const char *s; /* points into the text */
    size_t n;
    uint32_t line;
    char punct;    /* TK_PUNCT */
} ptx_token;

typedef struct ptx_lexer {
    const char *p, *end;
    uint32_t line;
    ptx_token tok;  /* current token */
    int have_peek;
    ptx_token peek;
} ptx_lexer;

void ptx_lex_init(ptx_lexer *lx, const char *text, size_t len);
void ptx_lex_next(ptx_lexer *lx);           /* advances lx->tok */
const ptx_token *ptx_lex_peek(ptx_lexer *lx); /* the token after lx->tok */
int ptx_tok_is(const ptx_token *t, const char *s);
int ptx_tok_punct(const ptx_token *t, char c);

#endif
