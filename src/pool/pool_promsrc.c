/*
 * The Prometheus history source (pool_usage.h, `tfuse pool serve --history prometheus:URL`,
 * docs/metrics.md): a workload's samples read from a Prometheus server's HTTP API
 * (/api/v1/query_range) over the series a node exports on /metrics. The
 * pool's store names the vGPUs a workload had (vgpus_of); Prometheus knows series by vgpu.
 *
 * One sample per vGPU per step, for the step that ends at its time: memory used then, its
 * limit, the highest use in the step (max_over_time of the used gauge, or the peak gauge where
 * that rose in the step: a spike between two scrapes still counts), and the counters' growth in
 * the step (device time, throttled time, launches, refused allocations) from their values at
 * both ends, so nothing is extrapolated. Ranges are cut into requests of at most CHUNK steps
 * and VGPUS_PER_QUERY vGPUs, each answer capped by the HTTP client (TF_HTTP_RESPONSE_MAX).
 *
 * Owns: the source's context. May call: src/common/httpc.h, jansson, libc, libm.
 */
#include "pool_usage.h"

#include <ctype.h>
#include <stddef.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"

#define CHUNK 1000                 /* steps per request (Prometheus refuses over 11,000) */
#define VGPUS_PER_QUERY 16
#define VGPUS_MAX 256              /* vGPUs of one workload looked up */
#define STEPS_MAX 20000            /* per query: a longer range takes a coarser step */
#define SAMPLES_MAX 2000000
#define DEFAULT_STEP_MS 60000
#define DEFAULT_TIMEOUT_MS 30000

enum { M_USED, M_PEAK, M_LIMIT, M_DENIED, M_CLIMIT, M_BUSY, M_THR, M_LAUNCH, M_MAXUSED, NMET };

static const char *const metric_names[M_MAXUSED] = {
    "tfuse_vgpu_memory_used_bytes",   "tfuse_vgpu_memory_peak_bytes",
    "tfuse_vgpu_memory_limit_bytes",  "tfuse_vgpu_memory_denied_total",
    "tfuse_vgpu_compute_limit_ratio", "tfuse_vgpu_busy_seconds_total",
    "tfuse_vgpu_throttled_seconds_total", "tfuse_vgpu_launches_total",
};

struct promsrc {
    char base[1024];               /* scheme://[user:password@]host[:port][/prefix] */
    char shown[1024];              /* base with the password replaced: what messages say */
    int64_t step_ms;               /* the finest step asked for */
    long timeout_ms;
    pool_usage_vgpus_fn vgpus_of;
    void *arg;
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* "15s", "1m", "500ms", "2h" or plain seconds; -1 when not a positive duration. */
static int64_t parse_duration_ms(const char *s, size_t len)
{
    char buf[32], *end;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    double v = strtod(buf, &end);
    double unit = !*end ? 1000 : !strcmp(end, "ms") ? 1 : !strcmp(end, "s") ? 1000
                : !strcmp(end, "m") ? 60000 : !strcmp(end, "h") ? 3600000 : -1;
    if (end == buf || unit < 0 || !(v > 0) || v * unit > 86400000.0 * 30 || v * unit < 1)
        return -1;
    return (int64_t)llround(v * unit);
}

/* "?step=15s&timeout=10s" after the base URL; every other parameter is refused. */
static int parse_options(struct promsrc *p, const char *q, char *err, size_t errlen)
{
    while (*q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        int64_t v = eq ? parse_duration_ms(eq + 1, len - (size_t)(eq + 1 - q)) : -1;
        if (eq && (size_t)(eq - q) == 4 && !strncmp(q, "step", 4) && v > 0)
            p->step_ms = v;
        else if (eq && (size_t)(eq - q) == 7 && !strncmp(q, "timeout", 7) && v > 0)
            p->timeout_ms = (long)v;
        else
            return fail(err, errlen, "the Prometheus URL's option '%.*s': expected step=DURATION "
                        "or timeout=DURATION (e.g. 15s, 1m)", (int)len, q);
        q += len + (q[len] == '&');
    }
    return 0;
}

/* ---- one query_range request -------------------------------------------------------------- */

/* The values of one metric of one vGPU at the steps of a request (NaN: none). */
struct series {
    char key[256];                 /* vgpu and instance: one vGPU of one node */
    char vgpu[80];
    double *v;                     /* NMET rows of npts */
};

struct table {
    struct series *s;
    size_t n, cap, npts;
    int64_t start_ms, step_ms;
};

static struct series *series_of(struct table *t, json_t *metric, char *err, size_t errlen)
{
    const char *vgpu = json_string_value(json_object_get(metric, "vgpu"));
    const char *inst = json_string_value(json_object_get(metric, "instance"));
    char key[256];
    if (!vgpu || strlen(vgpu) >= sizeof t->s->vgpu) {
        fail(err, errlen, "a series without a usable vgpu label");
        return NULL;
    }
    snprintf(key, sizeof key, "%s@%s", vgpu, inst ? inst : "");
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->s[i].key, key))
            return &t->s[i];
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct series *ns = cap <= 4096 ? realloc(t->s, cap * sizeof *ns) : NULL;
        if (!ns) {
            fail(err, errlen, "too many series in Prometheus' answer");
            return NULL;
        }
        t->s = ns;
        t->cap = cap;
    }
    struct series *s = &t->s[t->n];
    s->v = malloc(NMET * t->npts * sizeof *s->v);
    if (!s->v) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < NMET * t->npts; i++)
        s->v[i] = NAN;
    snprintf(s->key, sizeof s->key, "%s", key);
    snprintf(s->vgpu, sizeof s->vgpu, "%s", vgpu);
    t->n++;
    return s;
}

static int metric_index(json_t *metric, int fallback)
{
    const char *name = json_string_value(json_object_get(metric, "__name__"));
    if (!name)
        return fallback;
    for (int m = 0; m < M_MAXUSED; m++)
        if (!strcmp(name, metric_names[m]))
            return m;
    return -1;
}

/* Files one series of the answer ({"metric": {...}, "values": [[ts, "v"], ...]}). */
static int file_series(struct table *t, json_t *r, int fallback, char *err, size_t errlen)
{
    json_t *metric = json_object_get(r, "metric"), *values = json_object_get(r, "values");
    if (!json_is_object(metric) || !json_is_array(values))
        return fail(err, errlen, "a series without metric and values");
    int m = metric_index(metric, fallback);
    if (m < 0)
        return 0;   /* a family we did not ask for: ignored */
    struct series *s = series_of(t, metric, err, errlen);
    if (!s)
        return -1;
    size_t i;
    json_t *pt;
    json_array_foreach(values, i, pt) {
        json_t *ts = json_array_get(pt, 0);
        const char *val = json_string_value(json_array_get(pt, 1));
        if (!json_is_number(ts) || !val)
            return fail(err, errlen, "a point that is not [time, \"value\"]");
        double off = json_number_value(ts) * 1000.0 - (double)t->start_ms;
        double k = round(off / (double)t->step_ms);
        /* Only the steps asked for (a point off the grid is not ours to place). */
        if (!(k >= 0 && k < (double)t->npts) || fabs(off - k * (double)t->step_ms) > 1.0)
            continue;
        char *end;
        double v = strtod(val, &end);
        if (*end)
            return fail(err, errlen, "a value that is not a number: \"%.40s\"", val);
        s->v[(size_t)m * t->npts + (size_t)k] = v;
    }
    return 0;
}

/* Why Prometheus refused, from its error body when it is one. */
static void describe_answer(const struct tf_http_response *r, json_t *root, char *err,
                            size_t errlen)
{
    const char *type = json_string_value(json_object_get(root, "errorType"));
    const char *msg = json_string_value(json_object_get(root, "error"));
    if (msg) {
        snprintf(err, errlen, "answered %ld: %s: %.300s", r->status,
                 type ? type : "error", msg);
        return;
    }
    char head[81];
    size_t k = 0;
    for (; k < r->len && k < sizeof head - 1; k++)
        head[k] = isprint((unsigned char)r->body[k]) ? r->body[k] : '.';
    head[k] = '\0';
    snprintf(err, errlen, "answered %ld with %s (%zu bytes: \"%s\")", r->status,
             root ? "JSON that is not its API's" : "something that is not JSON", r->len, head);
}

/* Appends s percent-encoded (everything but letters, digits and "-_~"); -1 when out is full. */
static int put_escaped(char *out, size_t len, const char *s)
{
    size_t o = strlen(out);
    for (; *s; s++) {
        if (o + 4 >= len)
            return -1;
        if (isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '~') {
            out[o++] = *s;
        } else {
            snprintf(out + o, len - o, "%%%02X", (unsigned char)*s);
            o += 3;
        }
    }
    out[o] = '\0';
    return 0;
}

/* GET query_range of expr over the table's steps; files every series into t. */
static int query_range(const struct promsrc *p, const char *expr, int fallback, struct table *t,
                       char *err, size_t errlen)
{
    char url[8192];
    int64_t end_ms = t->start_ms + (int64_t)(t->npts - 1) * t->step_ms;
    snprintf(url, sizeof url, "%s/api/v1/query_range?query=", p->base);
    if (put_escaped(url, sizeof url, expr) != 0)
        return fail(err, errlen, "the query is too long");
    size_t o = strlen(url);
    if ((size_t)snprintf(url + o, sizeof url - o, "&start=%.3f&end=%.3f&step=%.3f",
                         (double)t->start_ms / 1000.0, (double)end_ms / 1000.0,
                         (double)t->step_ms / 1000.0) >= sizeof url - o)
        return fail(err, errlen, "the query is too long");
    struct tf_http_response r = {0};
    char why[512];
    if (tf_http_request("GET", url, NULL, p->timeout_ms, NULL, &r, why, sizeof why) != 0)
        return fail(err, errlen, "Prometheus at %s: %s%s", p->shown, why,
                    strstr(why, "too large") ? " (over 4 MiB: a workload of fewer vGPUs, a "
                    "shorter time or a coarser ?step= answers less)" : "");
    json_error_t je;
    json_t *root = json_loadb(r.body, r.len, 0, &je), *data = json_object_get(root, "data");
    const char *status = json_string_value(json_object_get(root, "status"));
    json_t *result = json_object_get(data, "result");
    const char *type = json_string_value(json_object_get(data, "resultType"));
    int rc = 0;
    if (r.status != 200 || !status || strcmp(status, "success") || !json_is_array(result) ||
        !type || strcmp(type, "matrix")) {
        describe_answer(&r, root, why, sizeof why);
        rc = fail(err, errlen, "Prometheus at %s: %s", p->shown, why);
    } else {
        size_t i;
        json_t *s;
        json_array_foreach(result, i, s) {
            if (file_series(t, s, fallback, why, sizeof why) != 0) {
                rc = fail(err, errlen, "Prometheus at %s: %s", p->shown, why);
                break;
            }
        }
    }
    json_decref(root);
    free(r.body);
    return rc;
}

/* ---- samples ------------------------------------------------------------------------------ */

static double at(const struct series *s, const struct table *t, int m, size_t k)
{
    return s->v[(size_t)m * t->npts + k];
}

/* A counter's growth from before to now: all of now where it started (no value before) or
 * started again (a new vGPU of the same id). */
static double grown(double now, double before)
{
    if (isnan(now))
        return 0;
    return isnan(before) || now < before ? now : now - before;
}

static double clamp01(double v)
{
    return v > 1 ? 1 : v > 0 ? v : 0;
}

static uint64_t u64(double v)
{
    return v > 0 && v < 1.8e19 ? (uint64_t)llround(v) : 0;
}

struct out {
    struct pool_usage_sample *s;
    size_t n, cap;
};

/* The sample of series s for the step ending at index k (k >= 1). */
static int add_sample(struct out *o, const struct series *s, const struct table *t, size_t k,
                      char *err, size_t errlen)
{
    double used = at(s, t, M_USED, k), peak = at(s, t, M_PEAK, k);
    double max_used = at(s, t, M_MAXUSED, k), prev_peak = at(s, t, M_PEAK, k - 1);
    double hi = isnan(max_used) || max_used < used ? used : max_used;
    if (!isnan(peak) && (isnan(prev_peak) || peak > prev_peak) && peak > hi)
        hi = peak;   /* the peak rose within the step: between two scrapes it was that high */
    double step_s = (double)t->step_ms / 1000.0, climit = at(s, t, M_CLIMIT, k);
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        struct pool_usage_sample *ns = cap <= SAMPLES_MAX ? realloc(o->s, cap * sizeof *ns) : NULL;
        if (!ns)
            return fail(err, errlen, "over %d samples: ask for a shorter time", SAMPLES_MAX);
        o->s = ns;
        o->cap = cap;
    }
    o->s[o->n++] = (struct pool_usage_sample){
        .t_ms = t->start_ms + (int64_t)k * t->step_ms, .mem_used = u64(used), .mem_peak = u64(hi),
        .mem_limit = u64(at(s, t, M_LIMIT, k)),
        .compute_used = clamp01(grown(at(s, t, M_BUSY, k), at(s, t, M_BUSY, k - 1)) / step_s),
        .compute_limit = isnan(climit) ? 1.0 : clamp01(climit),   /* absent: unlimited */
        .throttled_frac = clamp01(grown(at(s, t, M_THR, k), at(s, t, M_THR, k - 1)) / step_s),
        .launches = u64(grown(at(s, t, M_LAUNCH, k), at(s, t, M_LAUNCH, k - 1))),
        .oom_refusals = (uint32_t)u64(fmin(grown(at(s, t, M_DENIED, k),
                                                 at(s, t, M_DENIED, k - 1)), 4e9))};
    return 0;
}

/* vgpu=~"a|b\\.c": ids follow vgpu_id.h's rule, of which only '.' means something in a regex
 * (escaped as \\. in the PromQL string). -1 for an id outside the rule. */
static int selector(char (*ids)[80], size_t n, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "vgpu=~\"");
    for (size_t i = 0; i < n; i++) {
        if (!ids[i][0] || o + 4 >= len)
            return -1;
        if (i > 0)
            out[o++] = '|';
        for (const char *c = ids[i]; *c; c++) {
            if ((!isalnum((unsigned char)*c) && !strchr("_.-", *c)) || o + 4 >= len)
                return -1;
            if (*c == '.') {
                out[o++] = '\\';
                out[o++] = '\\';
            }
            out[o++] = *c;
        }
    }
    if (o + 2 >= len)
        return -1;
    out[o++] = '"';
    out[o] = '\0';
    return 0;
}

/* The samples of vGPUs ids in steps first .. first + (steps - 1) * step (all before to_ms). */
static int run_chunk(const struct promsrc *p, char (*ids)[80], size_t nids, int64_t first,
                     size_t steps, int64_t step, struct out *o, char *err, size_t errlen)
{
    char sel[VGPUS_PER_QUERY * 200], expr[sizeof sel + 400];
    if (selector(ids, nids, sel, sizeof sel) != 0)
        return fail(err, errlen, "a vGPU id Prometheus cannot be asked about");
    struct table t = {.npts = steps + 1, .start_ms = first - step, .step_ms = step};
    snprintf(expr, sizeof expr, "{__name__=~\"tfuse_vgpu_(memory_used_bytes|memory_peak_bytes|"
             "memory_limit_bytes|memory_denied_total|compute_limit_ratio|busy_seconds_total|"
             "throttled_seconds_total|launches_total)\",%s}", sel);
    int rc = query_range(p, expr, -1, &t, err, errlen);
    if (rc == 0) {
        snprintf(expr, sizeof expr, "max_over_time(tfuse_vgpu_memory_used_bytes{%s}[%lldms])",
                 sel, (long long)step);
        rc = query_range(p, expr, M_MAXUSED, &t, err, errlen);
    }
    for (size_t i = 0; i < t.n; i++) {
        for (size_t k = 1; rc == 0 && k < t.npts; k++)
            if (!isnan(at(&t.s[i], &t, M_USED, k)))   /* no use: the vGPU was not there */
                rc = add_sample(o, &t.s[i], &t, k, err, errlen);
        free(t.s[i].v);
    }
    free(t.s);
    return rc;
}

static int by_time(const void *a, const void *b)
{
    int64_t x = ((const struct pool_usage_sample *)a)->t_ms;
    int64_t y = ((const struct pool_usage_sample *)b)->t_ms;
    return x < y ? -1 : x > y;
}

static int promsrc_query(void *ctx, const char *workload, int64_t from_ms, int64_t to_ms,
                         struct pool_usage_sample **out, size_t *n, char *err, size_t errlen)
{
    const struct promsrc *p = ctx;
    *out = NULL;
    *n = 0;
    if (to_ms <= from_ms)
        return 0;
    char (*ids)[80] = calloc(VGPUS_MAX, sizeof *ids);
    if (!ids)
        return fail(err, errlen, "out of memory");
    int nids = p->vgpus_of(p->arg, workload, from_ms, to_ms, ids, VGPUS_MAX);
    if (nids < 0) {
        free(ids);
        return fail(err, errlen, "the vGPUs of workload %s could not be listed", workload);
    }
    /* Steps counted back from the end (its whole second), so that the newest usage is in:
     * a coarse step aligned otherwise would leave up to a step of it out. */
    int64_t span = to_ms - from_ms, step = p->step_ms;
    if (span / step > STEPS_MAX)
        step = (span + STEPS_MAX - 1) / STEPS_MAX;
    int64_t last = (to_ms - 1) / 1000 * 1000;
    if (last < from_ms)
        last = to_ms - 1;
    int64_t first = last - (last - from_ms) / step * step;
    struct out o = {0};
    int rc = 0;
    for (size_t g = 0; rc == 0 && g < (size_t)nids; g += VGPUS_PER_QUERY) {
        size_t k = (size_t)nids - g < VGPUS_PER_QUERY ? (size_t)nids - g : VGPUS_PER_QUERY;
        for (int64_t c = first; rc == 0 && c <= last; c += CHUNK * step) {
            int64_t left = (last - c) / step + 1;
            rc = run_chunk(p, ids + g, k, c, left < CHUNK ? (size_t)left : CHUNK, step, &o, err,
                           errlen);
        }
    }
    free(ids);
    if (rc != 0) {
        free(o.s);
        return -1;
    }
    if (o.n)
        qsort(o.s, o.n, sizeof *o.s, by_time);
    *out = o.s;
    *n = o.n;
    return 0;
}

/* base with a password of its userinfo (basic authentication, which libcurl sends) shown as
 * "***": the URL appears in errors and logs. host_off: where the authority starts. */
static void redact(const char *base, ptrdiff_t host_off, char *out, size_t len)
{
    const char *auth = base + host_off, *end = auth + strcspn(auth, "/");
    const char *at = memchr(auth, '@', (size_t)(end - auth));
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon)
        snprintf(out, len, "%.*s***%s", (int)(colon + 1 - base), base, at);
    else
        snprintf(out, len, "%s", base);
}

static void promsrc_close(void *ctx)
{
    free(ctx);
}

int pool_promsrc_open(const char *url, pool_usage_vgpus_fn vgpus_of, void *arg,
                      struct pool_usage_source *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
        return fail(err, errlen, "a Prometheus URL begins with http:// or https:// (%s)",
                    url ? url : "none given");
    if (!vgpus_of)
        return fail(err, errlen, "no way to list a workload's vGPUs");
    struct promsrc *p = calloc(1, sizeof *p);
    if (!p)
        return fail(err, errlen, "out of memory");
    *p = (struct promsrc){.step_ms = DEFAULT_STEP_MS, .timeout_ms = DEFAULT_TIMEOUT_MS,
                          .vgpus_of = vgpus_of, .arg = arg};
    size_t len = strcspn(url, "?#");
    const char *host = url + (url[4] == 's' ? 8 : 7);
    if (url[len] == '#' || len >= sizeof p->base || host >= url + len || *host == '/') {
        snprintf(err, errlen, "not a usable Prometheus URL: %.200s", url);
        free(p);
        return -1;
    }
    if (url[len] == '?' && parse_options(p, url + len + 1, err, errlen) != 0) {
        free(p);
        return -1;
    }
    while (url + len > host && url[len - 1] == '/')
        len--;
    memcpy(p->base, url, len);
    p->base[len] = '\0';
    redact(p->base, host - url, p->shown, sizeof p->shown);
    *out = (struct pool_usage_source){.query = promsrc_query, .close = promsrc_close, .ctx = p};
    return 0;
}
