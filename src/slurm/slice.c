/*
 * A step's slice from its options and GRES (see slice.h).
 * May call: src/vgpu (vgpu_parse.h), libc.
 */
#include "slice.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu_parse.h"

static const char *const names[SLICE_NOPTS] = {"vram", "compute", "compute-limit", "qos",
                                               "gpus"};
static const char *const envs[SLICE_NOPTS] = {"TFUSE_VRAM", "TFUSE_COMPUTE",
                                              "TFUSE_COMPUTE_LIMIT", "TFUSE_QOS", "TFUSE_GPUS"};

const char *tfsl_opt_name(enum slice_opt o)
{
    return names[o];
}

const char *tfsl_opt_env(enum slice_opt o)
{
    return envs[o];
}

/* A share in basis points: "30", "30%", "30.5%" or "0.3". */
static int parse_share(const char *text, uint32_t *bp, char *err, size_t errlen)
{
    char buf[64], *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end != text && !*end && !errno && v > 1) {   /* a bare number above 1 is a percent */
        snprintf(buf, sizeof buf, "%s%%", text);
        text = buf;
    }
    return vgpu_parse_percent(text, bp, err, errlen);
}

static int parse_gpus(const char *text, int *n)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > SLICE_MAX_GPUS)
        return -1;
    *n = (int)v;
    return 0;
}

int tfsl_opt_check(enum slice_opt o, const char *value, char *err, size_t errlen)
{
    char why[200];
    uint64_t bytes;
    uint32_t bp;
    int n, rc = 0;
    switch (o) {
    case SLICE_VRAM: rc = vgpu_parse_size(value, &bytes, why, sizeof why); break;
    case SLICE_COMPUTE:
    case SLICE_LIMIT: rc = parse_share(value, &bp, why, sizeof why); break;
    case SLICE_QOS:
        rc = vgpu_qos_parse(value) < 0 ? -1 : 0;
        snprintf(why, sizeof why, "expected low, medium, high or critical");
        break;
    case SLICE_GPUS:
        rc = parse_gpus(value, &n);
        snprintf(why, sizeof why, "expected a count from 1 to %d", SLICE_MAX_GPUS);
        break;
    default: rc = -1; snprintf(why, sizeof why, "unknown option");
    }
    if (rc != 0)
        snprintf(err, errlen, "--tfuse-%s=%s: %s", names[o], value, why);
    return rc;
}

/* A GRES count: digits with an optional K/M/G/T (powers of 1024, as Slurm reads counts). */
static int parse_count(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0, mult = 1;
    size_t i = 0;
    for (; i < len && isdigit((unsigned char)s[i]); i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0)
        return -1;
    if (i + 1 == len) {
        const char *u = strchr("KMGT", toupper((unsigned char)s[i]));
        if (!u || !s[i])
            return -1;
        for (long k = 0; k <= u - "KMGT"; k++)
            mult *= 1024;
        i++;
    }
    if (i != len || (mult > 1 && v > UINT64_MAX / mult))
        return -1;
    *out = v * mult;
    return 0;
}

/* One comma-separated entry of either form; sets the count of ours it names. */
static int parse_entry(const char *e, size_t len, struct slice_gres *g)
{
    if (len > 5 && (strncmp(e, "gres:", 5) == 0 || strncmp(e, "gres/", 5) == 0))
        e += 5, len -= 5;
    size_t name = strcspn(e, ":(");
    if (name > len)
        name = len;
    int mem = name == strlen(SLICE_GRES_MEM) && strncmp(e, SLICE_GRES_MEM, name) == 0;
    int cpu = name == strlen(SLICE_GRES_COMPUTE) && strncmp(e, SLICE_GRES_COMPUTE, name) == 0;
    if (!mem && !cpu)
        return 0;
    const char *cnt = memchr(e, '(', len), *from;
    size_t clen;
    if (cnt) {                                   /* name[:type](CNT:N) or (CNT:N,IDX:...) */
        const char *c = strstr(cnt, "CNT:");
        if (!c || c >= e + len)
            return -1;
        from = c + 4;
        clen = strcspn(from, ",)");
    } else {                                     /* name[:type]:N */
        from = e + len;
        while (from > e && from[-1] != ':')
            from--;
        if (from == e)
            return -1;
        clen = (size_t)(e + len - from);
    }
    uint64_t v;
    if (parse_count(from, clen, &v) != 0)
        return -1;
    if (mem)
        g->have_mem = 1, g->mem_mib += v;
    else
        g->have_compute = 1, g->compute_pct += v;
    return 0;
}

int tfsl_gres_parse(const char *text, struct slice_gres *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    for (const char *p = text ? text : ""; *p;) {
        /* An entry ends at a comma outside parentheses. */
        size_t len = 0;
        int depth = 0;
        while (p[len] && (p[len] != ',' || depth)) {
            depth += p[len] == '(' ? 1 : p[len] == ')' ? -1 : 0;
            len++;
        }
        if (parse_entry(p, len, g) != 0) {
            snprintf(err, errlen, "cannot read the GRES count in '%.*s'", (int)len, p);
            return -1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

/* vram: the option (within the GRES, when there is one), else the GRES divided among gpus. */
static int decide_vram(const struct slice_opts *o, const struct slice_gres *g, struct slice *s,
                       char *err, size_t errlen)
{
    uint64_t bytes, per = 0;
    char why[200];
    const char *opt = o->v[SLICE_VRAM];
    if (*opt && vgpu_parse_size(opt, &per, why, sizeof why) != 0) {
        snprintf(err, errlen, "--tfuse-vram=%s: %s", opt, why);
        return -1;
    }
    if (g->have_mem) {
        bytes = g->mem_mib << 20;
        if (*opt && per * (uint64_t)s->gpus > bytes) {
            snprintf(err, errlen, "--tfuse-vram=%s%s asks more than the %" PRIu64 " MiB of "
                     "%s Slurm allocated on this node", opt, s->gpus > 1 ? " per GPU" : "",
                     g->mem_mib, SLICE_GRES_MEM);
            return -1;
        }
        if (!*opt)
            per = bytes / (uint64_t)s->gpus;
        if (per == 0) {
            snprintf(err, errlen, "%" PRIu64 " MiB of %s cannot be split among %d GPUs",
                     g->mem_mib, SLICE_GRES_MEM, s->gpus);
            return -1;
        }
    } else if (!*opt) {
        snprintf(err, errlen, "no memory asked: give --tfuse-vram=SIZE or "
                 "--gres=%s:MiB", SLICE_GRES_MEM);
        return -1;
    }
    snprintf(s->vram, sizeof s->vram, "%" PRIu64, per);
    return 0;
}

/* compute: the option (within the GRES), else the GRES divided among gpus; "" unlimited. */
static int decide_compute(const struct slice_opts *o, const struct slice_gres *g,
                          struct slice *s, char *err, size_t errlen)
{
    uint32_t req = 0, lim = 0;
    char why[200];
    const char *opt = o->v[SLICE_COMPUTE], *lopt = o->v[SLICE_LIMIT];
    if ((*opt && parse_share(opt, &req, why, sizeof why) != 0) ||
        (*lopt && parse_share(lopt, &lim, why, sizeof why) != 0)) {
        snprintf(err, errlen, "--tfuse-%s: %s", *opt && !req ? "compute" : "compute-limit",
                 why);
        return -1;
    }
    if (g->have_compute) {
        uint64_t total_bp = g->compute_pct * 100;
        if (*opt && (uint64_t)req * (uint64_t)s->gpus > total_bp) {
            snprintf(err, errlen, "--tfuse-compute=%s%s asks more than the %" PRIu64 "%% of %s "
                     "Slurm allocated on this node", opt, s->gpus > 1 ? " per GPU" : "",
                     g->compute_pct, SLICE_GRES_COMPUTE);
            return -1;
        }
        if (!*opt)
            req = (uint32_t)(total_bp / (uint64_t)s->gpus > VGPU_BP_FULL
                                 ? VGPU_BP_FULL : total_bp / (uint64_t)s->gpus);
        if (req == 0) {
            snprintf(err, errlen, "%" PRIu64 "%% of %s cannot be split among %d GPUs",
                     g->compute_pct, SLICE_GRES_COMPUTE, s->gpus);
            return -1;
        }
    }
    if (lim && !req) {
        snprintf(err, errlen, "--tfuse-compute-limit needs --tfuse-compute (the guaranteed "
                 "share) or --gres=%s:PCT", SLICE_GRES_COMPUTE);
        return -1;
    }
    if (lim && lim < req) {
        snprintf(err, errlen, "--tfuse-compute-limit=%s is below the guaranteed %.2f%%", lopt,
                 req / 100.0);
        return -1;
    }
    if (req)
        snprintf(s->compute, sizeof s->compute, "%.2f%%", req / 100.0);
    if (lim)
        snprintf(s->limit, sizeof s->limit, "%.2f%%", lim / 100.0);
    return 0;
}

int tfsl_decide(const struct slice_opts *o, const struct slice_gres *g, struct slice *out,
                char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int any = g->have_mem || g->have_compute;
    for (int i = 0; i < SLICE_NOPTS; i++)
        any |= o->v[i][0] != '\0';
    if (!any)
        return 0;
    out->wanted = 1;
    out->gpus = 1;
    if (o->v[SLICE_GPUS][0] && parse_gpus(o->v[SLICE_GPUS], &out->gpus) != 0) {
        snprintf(err, errlen, "--tfuse-gpus=%s: expected a count from 1 to %d",
                 o->v[SLICE_GPUS], SLICE_MAX_GPUS);
        return -1;
    }
    if (o->v[SLICE_QOS][0] && vgpu_qos_parse(o->v[SLICE_QOS]) < 0) {
        snprintf(err, errlen, "--tfuse-qos=%s: expected low, medium, high or critical",
                 o->v[SLICE_QOS]);
        return -1;
    }
    snprintf(out->qos, sizeof out->qos, "%s", o->v[SLICE_QOS]);
    if (decide_vram(o, g, out, err, errlen) != 0 || decide_compute(o, g, out, err, errlen) != 0)
        return -1;
    return 0;
}
