/*
 * The device memory a PTX module's variables take: a small scanner that finds the module-scope
 * .global and .const declarations (the storage cuModuleLoad allocates for __device__ and
 * __constant__ variables) and adds up their sizes. The driver API cannot enumerate a module's
 * globals, so the worker reads the PTX it forwards to charge the vGPU before the load.
 *
 * Only module scope (brace depth 0) counts: `ld.global` inside a function is an instruction,
 * and .extern declarations own no storage. Initialisers (`= {1, 2}`) are skipped, their
 * elements counted only for arrays declared with `[]`. Opaque types (.texref, .samplerref,
 * .surfref) take no device memory here.
 *
 * Owns: nothing. May call: libc.
 */
#include "ptxglobals.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_MAX 512   /* a declaration's head (before '=') is far shorter */

/* Bytes of one element of a PTX fundamental type name such as ".u32", or 0. */
static uint64_t type_bytes(const char *t)
{
    static const struct { const char *name; unsigned bytes; } types[] = {
        {".b8", 1},  {".u8", 1},  {".s8", 1},  {".b16", 2}, {".u16", 2},    {".s16", 2},
        {".f16", 2}, {".bf16", 2}, {".b32", 4}, {".u32", 4}, {".s32", 4},   {".f32", 4},
        {".f16x2", 4}, {".bf16x2", 4}, {".b64", 8}, {".u64", 8}, {".s64", 8}, {".f64", 8},
        {".b128", 16},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(t, types[i].name) == 0)
            return types[i].bytes;
    return 0;
}

/* Size of one declarator "name[4][8]" of elem-byte elements; init_count is the number of
 * initialiser elements, used for a "[]" dimension. Returns 0 when it overflows or is bad. */
static uint64_t declarator_bytes(const char *d, uint64_t elem, uint64_t init_count)
{
    uint64_t n = elem;
    const char *b = strchr(d, '[');
    while (b) {
        char *end;
        uint64_t dim;
        if (b[1] == ']') {
            dim = init_count ? init_count : 0;
            end = (char *)b + 1;
        } else {
            dim = strtoull(b + 1, &end, 0);
            if (*end != ']')
                return 0;
        }
        if (dim && n > UINT64_MAX / dim)
            return 0;
        n *= dim;
        b = strchr(end, '[');
    }
    return n;
}

/* One module-scope statement's head (text before '=' or ';'): its bytes if it declares
 * .global/.const storage, else 0. */
static uint64_t statement_bytes(char *head, uint64_t init_count)
{
    char *save = NULL, *tok = strtok_r(head, " \t\r\n", &save);
    int space = 0;
    uint64_t elem = 0, vec = 1, total = 0;
    for (; tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
        if (!space) {
            if (strcmp(tok, ".extern") == 0)
                return 0;
            if (strcmp(tok, ".global") == 0 || strcmp(tok, ".const") == 0)
                space = 1;
            else if (strcmp(tok, ".visible") && strcmp(tok, ".weak") && strcmp(tok, ".common"))
                return 0;   /* another directive: .version, .func, .shared ... */
            continue;
        }
        if (strncmp(tok, ".attribute", 10) == 0) {
            continue;   /* .attribute(.managed): still storage on the device */
        } else if (strcmp(tok, ".align") == 0) {
            tok = strtok_r(NULL, " \t\r\n", &save);   /* its number */
            if (!tok)
                return 0;
        } else if (strcmp(tok, ".v2") == 0 || strcmp(tok, ".v4") == 0 || strcmp(tok, ".v8") == 0) {
            vec = (uint64_t)(tok[2] - '0');
        } else if (tok[0] == '.' && !elem) {
            if (!(elem = type_bytes(tok)))
                return 0;   /* .texref and friends, or unknown: no storage we can size */
        } else if (elem) {
            /* declarators, possibly "a, b[2]" split across tokens */
            char *dsave = NULL;
            for (char *d = strtok_r(tok, ",", &dsave); d; d = strtok_r(NULL, ",", &dsave))
                total += declarator_bytes(d, elem * vec, init_count);
        }
    }
    return total;
}

/* Whether the statement text so far starts with a directive that ends at its line. */
static int line_directive(const char *head, size_t hn)
{
    static const char *const names[] = {".version", ".target", ".address_size", ".file"};
    size_t i = 0;
    while (i < hn && isspace((unsigned char)head[i]))
        i++;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        size_t n = strlen(names[k]);
        if (hn - i > n && memcmp(head + i, names[k], n) == 0 && isspace((unsigned char)head[i + n]))
            return 1;
    }
    return 0;
}

int tfw_ptx_globals_bytes(const char *ptx, size_t len, uint64_t *bytes)
{
    char head[HEAD_MAX + 1];
    size_t hn = 0;
    int depth = 0, in_init = 0, init_depth = 0;
    uint64_t init_count = 0, total = 0;
    for (size_t i = 0; i < len && ptx[i]; i++) {
        char c = ptx[i];
        if (c == '/' && i + 1 < len && ptx[i + 1] == '/') {   /* line comment */
            while (i < len && ptx[i] && ptx[i] != '\n')
                i++;
            c = ' ';
        } else if (c == '/' && i + 1 < len && ptx[i + 1] == '*') {
            const char *e = strstr(ptx + i + 2, "*/");   /* ptx is NUL-terminated */
            if (!e)
                return -1;
            i = (size_t)(e - ptx) + 1;
            c = ' ';
        } else if (c == '"') {   /* .file names */
            while (++i < len && ptx[i] && ptx[i] != '"')
                ;
            c = ' ';
        }
        if (depth > 0) {
            depth += c == '{' ? 1 : c == '}' ? -1 : 0;
            continue;
        }
        if (in_init) {
            if (c == '{')
                init_depth++;
            else if (c == '}')
                init_depth--;
            else if (c == ',' && init_depth == 1)
                init_count++;
            if (c != ';')
                continue;
        }
        if (c == ';' || c == '{' || c == '}') {
            if (c == ';') {
                head[hn] = '\0';
                uint64_t b = statement_bytes(head, in_init ? init_count + 1 : 0);
                if (total > UINT64_MAX - b)
                    return -1;
                total += b;
            } else if (c == '{') {
                depth = 1;   /* a function body (or a malformed declaration) */
            } else {
                return -1;   /* an unmatched '}' */
            }
            hn = 0;
            in_init = 0;
            init_depth = 0;
            init_count = 0;
            continue;
        }
        if (c == '=') {
            in_init = 1;
            continue;
        }
        if (c == '\n' && line_directive(head, hn)) {
            hn = 0;   /* .version, .target, .address_size, .file end at the line, no ';' */
            continue;
        }
        if (hn < HEAD_MAX)
            head[hn++] = c;
    }
    if (depth != 0)
        return -1;
    *bytes = total;
    return 0;
}
