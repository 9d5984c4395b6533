/*
 * A small parser and checker of the Prometheus text exposition format (0.0.4), for the node API
 * test: every sample belongs to a family announced by HELP and TYPE, names and label names
 * follow the Prometheus rules, counters end in _total, histogram buckets are cumulative and end
 * in le="+Inf" equal to _count.
 *
 * Owns: nothing but the parse. May call: libc.
 */
#ifndef TFUSE_TEST_PROMPARSE_H
#define TFUSE_TEST_PROMPARSE_H

#include <stddef.h>

struct prom_sample {
    char name[128];
    char labels[512];   /* canonical: name="value",... in the order written, without le */
    char le[32];        /* histogram buckets: the le label; "" otherwise */
    double value;
};

struct prom_doc {
    struct prom_sample *s;
    size_t n, cap;
    char families[256][128];
    char types[256][16];
    char helps[256];    /* 1: the family has a HELP line */
    int nfam;
};

/* Parses and checks text. 0, or -1 with the first problem in err. */
int prom_parse(const char *text, struct prom_doc *d, char *err, size_t errlen);
void prom_free(struct prom_doc *d);
/* Sum of the samples named `name` whose labels contain every `need` (a substring such as
 * vgpu="a"; NULL: any). -1 when there is none. */
double prom_sum(const struct prom_doc *d, const char *name, const char *need);
/* The type of a family, or NULL. */
const char *prom_type(const struct prom_doc *d, const char *family);

#endif
