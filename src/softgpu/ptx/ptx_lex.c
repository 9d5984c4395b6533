/*
 * PTX tokenizer: turns text into identifiers (with dots, %, $), numbers (decimal, hex, 0f/0d
 * float bit patterns, decimal floats), strings and single-character punctuation, skipping
 * comments and tracking line numbers. Calls nothing but libc.
 */
#include <ctype.h>
#include <string.h>

#include "ptx_lex.h"

void ptx_lex_init(ptx_lexer *lx, const char *text, size_t len)
{
    while (len > 0 && text[len - 1] == '\0')
        len--;
    lx->p = text;
    lx->end = text + len;
    lx->line = 1;
    lx->have_peek = 0;
    memset(&lx->tok, 0, sizeof lx->tok);
}

static int ident_start(int c)
{
    return isalpha(c) || c == '_' || c == '$' || c == '%' || c == '.';
}

static int ident_char(int c)
{
    return isalnum(c) || c == '_' || c == '$' || c == '%' || c == '.';
}

/* Skips blanks and comments; returns 0 on an unterminated block comment. */
static int skip_space(ptx_lexer *lx)
{
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (c == '\n') {
            lx->line++;
            lx->p++;
        } else if (isspace((unsigned char)c) || c == '\0') {
            lx->p++;
        } else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '/') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
            lx->p += 2;
            while (lx->p + 1 < lx->end && !(lx->p[0] == '*' && lx->p[1] == '/')) {
                if (*lx->p == '\n')
                    lx->line++;
                lx->p++;
            }
            if (lx->p + 1 >= lx->end)
                return 0;
            lx->p += 2;
        } else {
            break;
        }
    }
    return 1;
}

static void scan(ptx_lexer *lx, ptx_token *t)
{
    memset(t, 0, sizeof *t);
    if (!skip_space(lx)) {
        t->kind = TK_ERROR;
        t->line = lx->line;
        t->s = "unterminated comment";
        t->n = strlen(t->s);
        return;
    }
    t->line = lx->line;
    if (lx->p >= lx->end) {
        t->kind = TK_EOF;
        t->s = "end of file";
        t->n = 11;
        return;
    }
    const char *start = lx->p;
    unsigned char c = (unsigned char)*lx->p;
    if (isdigit(c)) {
        /* numbers, including 0fXXXXXXXX, 0x.., 1.5e3 and trailing U */
        while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) || *lx->p == '.' ||
                                   ((*lx->p == '+' || *lx->p == '-') &&
                                    (lx->p[-1] == 'e' || lx->p[-1] == 'E') &&
                                    !(start[0] == '0' && lx->p - start > 1 &&
                                      (start[1] == 'x' || start[1] == 'X' || start[1] == 'f' ||
                                       start[1] == 'F' || start[1] == 'd' || start[1] == 'D')))))
            lx->p++;
        t->kind = TK_NUMBER;
    } else if (ident_start(c)) {
        /* "::" joins the parts of a qualifier (shared::cta, mbarrier::complete_tx::bytes); a
         * single ':' ends a label */
        while (lx->p < lx->end && (ident_char((unsigned char)*lx->p) ||
                                   (*lx->p == ':' && lx->p + 2 < lx->end && lx->p[1] == ':' &&
                                    ident_char((unsigned char)lx->p[2]))))
            lx->p += *lx->p == ':' ? 2 : 1;
        t->kind = TK_IDENT;
    } else if (c == '"') {
        lx->p++;
        while (lx->p < lx->end && *lx->p != '"' && *lx->p != '\n') {
            if (*lx->p == '\\' && lx->p + 1 < lx->end)
                lx->p++;
            lx->p++;
        }
        if (lx->p >= lx->end || *lx->p != '"') {
            t->kind = TK_ERROR;
            t->s = "unterminated string";
            t->n = strlen(t->s);
            return;
        }
        lx->p++;
        t->kind = TK_STRING;
    } else {
        lx->p++;
        t->kind = TK_PUNCT;
        t->punct = (char)c;
    }
    t->s = start;
    t->n = (size_t)(lx->p - start);
}

void ptx_lex_next(ptx_lexer *lx)
{
    if (lx->have_peek) {
        lx->tok = lx->peek;
        lx->have_peek = 0;
        return;
    }
    scan(lx, &lx->tok);
}

const ptx_token *ptx_lex_peek(ptx_lexer *lx)
{
    if (!lx->have_peek) {
        scan(lx, &lx->peek);
        lx->have_peek = 1;
    }
    return &lx->peek;
}

int ptx_tok_is(const ptx_token *t, const char *s)
{
    size_t n = strlen(s);
    return t->kind == TK_IDENT && t->n == n && memcmp(t->s, s, n) == 0;
}

int ptx_tok_punct(const ptx_token *t, char c)
{
    return t->kind == TK_PUNCT && t->punct == c;
}
