/*
 * promsrc_probe URL FROM_MS TO_MS [VGPU...]: opens the pool's Prometheus history source
 * (src/pool/pool_promsrc.c) on URL, as if the store said the workload "team/probe" had these
 * vGPUs, and prints its samples, one a line:
 *   t_ms mem_used mem_peak mem_limit compute_used compute_limit throttled_frac launches ooms
 * or "error: MESSAGE" on stderr with exit status 1. Used by run-promsrc.sh (tests/pool).
 * Owns: nothing. May call: pool_usage.h, libc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_usage.h"

struct ids {
    char **v;
    int n;
};

static int vgpus_of(void *arg, const char *workload, int64_t from_ms, int64_t to_ms,
                    char (*ids)[80], size_t max)
{
    const struct ids *x = arg;
    if (strcmp(workload, "team/probe") != 0)
        return -1;
    int n = 0;
    for (; n < x->n && (size_t)n < max; n++)
        snprintf(ids[n], sizeof ids[n], "%s", x->v[n]);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: promsrc_probe URL FROM_MS TO_MS [VGPU...]\n");
        return 2;
    }
    struct ids x = {argv + 4, argc - 4};
    struct pool_usage_source src;
    char err[1024];
    if (pool_promsrc_open(argv[1], vgpus_of, &x, &src, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    struct pool_usage_sample *s;
    size_t n;
    int rc = src.query(src.ctx, "team/probe", strtoll(argv[2], NULL, 10),
                       strtoll(argv[3], NULL, 10), &s, &n, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "error: %s\n", err);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%lld %llu %llu %llu %.6f %.4f %.6f %llu %u\n", (long long)s[i].t_ms,
                   (unsigned long long)s[i].mem_used, (unsigned long long)s[i].mem_peak,
                   (unsigned long long)s[i].mem_limit, s[i].compute_used, s[i].compute_limit,
                   s[i].throttled_frac, (unsigned long long)s[i].launches, s[i].oom_refusals);
        free(s);
    }
    src.close(src.ctx);
    return rc ? 1 : 0;
}
