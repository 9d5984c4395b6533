/*
 * Prometheus text format checker for the node API test (see promparse.h).
 * May call: libc.
 */
#include "promparse.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}

static int valid_name(const char *s, size_t n, int colons)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || (colons && s[0] == ':')))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || (colons && s[i] == ':')))
            return 0;
    return 1;
}

static int find_family(const struct prom_doc *d, const char *name)
{
    for (int i = 0; i < d->nfam; i++)
        if (strcmp(d->families[i], name) == 0)
            return i;
    return -1;
}

const char *prom_type(const struct prom_doc *d, const char *family)
{
    int f = find_family(d, family);
    return f >= 0 && d->types[f][0] ? d->types[f] : NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The family a sample name belongs to (histogram suffixes stripped when that family exists). */
static int family_of(const struct prom_doc *d, const char *name)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        if (!ends_with(name, sfx[i]))
            continue;
        char base[128];
        snprintf(base, sizeof base, "%.*s", (int)(strlen(name) - strlen(sfx[i])), name);
        int f = find_family(d, base);
        if (f >= 0 && strcmp(d->types[f], "histogram") == 0)
            return f;
    }
    return find_family(d, name);
}

static int comment(struct prom_doc *d, const char *line, char *err, size_t len)
{
    int help = strncmp(line, "# HELP ", 7) == 0, type = strncmp(line, "# TYPE ", 7) == 0;
    if (!help && !type)
        return 0;   /* other comments are allowed */
    const char *name = line + 7, *sp = strchr(name, ' ');
    size_t n = sp ? (size_t)(sp - name) : strlen(name);
    if (!valid_name(name, n, 1) || n >= 128)
        return bad(err, len, "bad family name in '%s'", line);
    char fam[128];
    snprintf(fam, sizeof fam, "%.*s", (int)n, name);
    int f = find_family(d, fam);
    if (f < 0) {
        if (d->nfam == 256)
            return bad(err, len, "too many families");
        f = d->nfam++;
        snprintf(d->families[f], sizeof d->families[f], "%s", fam);
        d->types[f][0] = '\0';
        d->helps[f] = 0;
    }
    if (type) {
        const char *t = sp ? sp + 1 : "";
        if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram") &&
            strcmp(t, "summary") && strcmp(t, "untyped"))
            return bad(err, len, "unknown type in '%s'", line);
        if (d->types[f][0])
            return bad(err, len, "second TYPE for %s", fam);
        snprintf(d->types[f], sizeof d->types[f], "%s", t);
    } else if (!sp || !sp[1]) {
        return bad(err, len, "empty HELP for %s", fam);
    } else {
        d->helps[f] = 1;
    }
    return 0;
}

/* Parses {a="x",b="y"} into canonical labels (le taken out). Returns the end, or NULL. */
static const char *labels(const char *p, struct prom_sample *s, char *err, size_t len)
{
    size_t o = 0;
    p++;   /* '{' */
    while (*p && *p != '}') {
        const char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"' || !valid_name(p, (size_t)(eq - p), 0)) {
            bad(err, len, "bad label in %s", s->name);
            return NULL;
        }
        char lname[64], val[256];
        snprintf(lname, sizeof lname, "%.*s", (int)(eq - p), p);
        size_t v = 0;
        for (p = eq + 2; *p && *p != '"'; p++) {
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n') {
                    bad(err, len, "bad escape in a label of %s", s->name);
                    return NULL;
                }
            }
            if (v + 1 < sizeof val)
                val[v++] = *p;
        }
        val[v] = '\0';
        if (*p != '"') {
            bad(err, len, "unterminated label value in %s", s->name);
            return NULL;
        }
        p++;
        if (strcmp(lname, "le") == 0)
            snprintf(s->le, sizeof s->le, "%.31s", val);
        else
            o += (size_t)snprintf(s->labels + o, o < sizeof s->labels ? sizeof s->labels - o : 0,
                                  "%s%s=\"%s\"", o ? "," : "", lname, val);
        if (*p == ',')
            p++;
    }
    if (*p != '}') {
        bad(err, len, "unterminated labels in %s", s->name);
        return NULL;
    }
    return p + 1;
}

static int sample(struct prom_doc *d, const char *line, char *err, size_t len)
{
    struct prom_sample s;
    memset(&s, 0, sizeof s);
    size_t n = strcspn(line, "{ ");
    if (!valid_name(line, n, 1) || n >= sizeof s.name)
        return bad(err, len, "bad metric name in '%s'", line);
    snprintf(s.name, sizeof s.name, "%.*s", (int)n, line);
    const char *p = line + n;
    if (*p == '{' && !(p = labels(p, &s, err, len)))
        return -1;
    if (*p != ' ')
        return bad(err, len, "no value in '%s'", line);
    char *end;
    const char *v = p + 1;
    if (strncmp(v, "+Inf", 4) == 0)
        s.value = INFINITY, end = (char *)v + 4;
    else
        s.value = strtod(v, &end);
    if (end == v || (*end && *end != ' '))
        return bad(err, len, "bad value in '%s'", line);
    int f = family_of(d, s.name);
    if (f < 0 || !d->types[f][0])
        return bad(err, len, "sample %s has no HELP/TYPE", s.name);
    if (strcmp(d->types[f], "counter") == 0 && !ends_with(s.name, "_total"))
        return bad(err, len, "counter %s does not end in _total", s.name);
    if (strcmp(d->types[f], "histogram") == 0 && ends_with(s.name, "_bucket") && !s.le[0])
        return bad(err, len, "bucket of %s without le", s.name);
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 256;
        struct prom_sample *ns = realloc(d->s, cap * sizeof *ns);
        if (!ns)
            return bad(err, len, "out of memory");
        d->s = ns;
        d->cap = cap;
    }
    d->s[d->n++] = s;
    return 0;
}

/* Every histogram series: le increasing, counts cumulative, +Inf last and equal to _count. */
static int check_histograms(const struct prom_doc *d, char *err, size_t len)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct prom_sample *c = &d->s[i];
        if (!ends_with(c->name, "_count") || family_of(d, c->name) < 0 ||
            strcmp(d->types[family_of(d, c->name)], "histogram") != 0)
            continue;
        char bucket[140];
        snprintf(bucket, sizeof bucket, "%.*s_bucket", (int)(strlen(c->name) - 6), c->name);
        double prev_le = -INFINITY, prev = 0;
        int nb = 0, inf = 0;
        for (size_t j = 0; j < d->n; j++) {
            const struct prom_sample *b = &d->s[j];
            if (strcmp(b->name, bucket) != 0 || strcmp(b->labels, c->labels) != 0)
                continue;
            double le = strcmp(b->le, "+Inf") == 0 ? INFINITY : strtod(b->le, NULL);
            if (inf || le <= prev_le || b->value < prev)
                return bad(err, len, "%s{%s}: buckets not increasing at le=%s", bucket,
                           c->labels, b->le);
            inf = isinf(le);
            prev_le = le;
            prev = b->value;
            nb++;
        }
        if (!nb || !inf || prev != c->value)
            return bad(err, len, "%s{%s}: no +Inf bucket equal to _count (%g vs %g)", bucket,
                       c->labels, prev, c->value);
    }
    return 0;
}

int prom_parse(const char *text, struct prom_doc *d, char *err, size_t len)
{
    memset(d, 0, sizeof *d);
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            return bad(err, len, "the last line does not end in a newline");
        char line[2048];
        if ((size_t)(nl - p) >= sizeof line)
            return bad(err, len, "line too long");
        snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
        int rc = line[0] == '#' ? comment(d, line, err, len)
                 : line[0]      ? sample(d, line, err, len)
                                : 0;
        if (rc)
            return -1;
        p = nl + 1;
    }
    for (int f = 0; f < d->nfam; f++)
        if (!d->types[f][0] || !d->helps[f])
            return bad(err, len, "family %s lacks HELP or TYPE", d->families[f]);
    return check_histograms(d, err, len);
}

void prom_free(struct prom_doc *d)
{
    free(d->s);
    memset(d, 0, sizeof *d);
}

double prom_sum(const struct prom_doc *d, const char *name, const char *need)
{
    double sum = 0;
    int any = 0;
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->s[i].name, name) == 0 && (!need || strstr(d->s[i].labels, need))) {
            sum += d->s[i].value;
            any = 1;
        }
    return any ? sum : -1;
}
