/*
 * A pod's GPU request from its annotations and container resources (see annotations.h). Every
 * source of a value (our annotation, Tensor Fusion's, a HAMi resource of each GPU container)
 * goes through one accumulator that refuses two sources disagreeing, so a pod never gets a
 * value it did not mean. Calls jansson and libc only.
 */
#include "annotations.h"
#include "knode.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BYTES_MAX (1ull << 50)
#define MIB (1ull << 20)

enum { F_COUNT, F_VRAM_REQ, F_VRAM_LIM, F_TF_REQ, F_TF_LIM, F_PCT_REQ, F_PCT_LIM, F_NUM };
enum { S_QOS, S_POOL, S_MODEL, S_STRATEGY, S_CONTAINERS, S_NUM };
enum kind { K_INT, K_BYTES, K_MIB, K_NUM, K_PCT, K_STR, K_QOS, K_STRATEGY, K_POLICY, K_PRIO };

struct acc {
    char *err;
    size_t errlen;
    bool any;                          /* some source asked for a GPU */
    struct { bool set; double v; char from[96]; } num[F_NUM];
    struct { bool set; char v[1024]; char from[96]; } str[S_NUM];
};

struct alias {
    const char *key;
    int slot;
    enum kind kind;
};

/* Annotations, ours first. Tensor Fusion's names are theirs; HAMi's selectors are annotations
 * too (its sizes are container resources, read below). */
static const struct alias ann_aliases[] = {
    {K8S_ANN "gpu-count", F_COUNT, K_INT},
    {K8S_ANN "vram-request", F_VRAM_REQ, K_BYTES},
    {K8S_ANN "vram-limit", F_VRAM_LIM, K_BYTES},
    {K8S_ANN "tflops-request", F_TF_REQ, K_NUM},
    {K8S_ANN "tflops-limit", F_TF_LIM, K_NUM},
    {K8S_ANN "compute-request", F_PCT_REQ, K_PCT},
    {K8S_ANN "compute-limit", F_PCT_LIM, K_PCT},
    {K8S_ANN "qos", S_QOS, K_QOS},
    {K8S_ANN "pool", S_POOL, K_STR},
    {K8S_ANN "model", S_MODEL, K_STR},
    {K8S_ANN "strategy", S_STRATEGY, K_STRATEGY},
    {K8S_ANN "containers", S_CONTAINERS, K_STR},
    {"tensor-fusion.ai/gpu-count", F_COUNT, K_INT},
    {"tensor-fusion.ai/vram-request", F_VRAM_REQ, K_BYTES},
    {"tensor-fusion.ai/vram-limit", F_VRAM_LIM, K_BYTES},
    {"tensor-fusion.ai/tflops-request", F_TF_REQ, K_NUM},
    {"tensor-fusion.ai/tflops-limit", F_TF_LIM, K_NUM},
    {"tensor-fusion.ai/compute-percent-request", F_PCT_REQ, K_PCT},
    {"tensor-fusion.ai/compute-percent-limit", F_PCT_LIM, K_PCT},
    {"tensor-fusion.ai/qos", S_QOS, K_QOS},
    {"tensor-fusion.ai/gpupool", S_POOL, K_STR},
    {"tensor-fusion.ai/gpu-model", S_MODEL, K_STR},
    {"tensor-fusion.ai/inject-container", S_CONTAINERS, K_STR},
    {"nvidia.com/use-gputype", S_MODEL, K_STR},
    {"hami.io/gpu-scheduler-policy", S_STRATEGY, K_POLICY},
};

/* HAMi's container resources (limits, else requests). */
static const struct alias hami_resources[] = {
    {"nvidia.com/gpumem", F_VRAM_REQ, K_MIB},
    {"nvidia.com/gpumem", F_VRAM_LIM, K_MIB},
    {"nvidia.com/gpucores", F_PCT_REQ, K_PCT},
    {"nvidia.com/gpucores", F_PCT_LIM, K_PCT},
    {"nvidia.com/priority", S_QOS, K_PRIO},
};

static int fail(struct acc *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct acc *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, a->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

const char *k8s_json_str(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- quantities (parsed by knode.c's k8s_quantity_parse, as the API server reads them) ---- */

int k8s_ann_bytes(const char *s, uint64_t *out)
{
    uint64_t b;
    if (k8s_quantity_bytes(s, &b) || b > BYTES_MAX)
        return -1;
    *out = b;
    return 0;
}

int k8s_ann_number(const char *s, double *out)
{
    double v;
    if (k8s_quantity_parse(s, &v) || !isfinite(v) || v < 0 || v > 1e12)
        return -1;
    *out = v;
    return 0;
}

/* ---- the accumulator ---------------------------------------------------------------------- */

static int put_num(struct acc *a, int slot, double v, const char *from)
{
    if (a->num[slot].set && fabs(a->num[slot].v - v) > 1e-9 * (fabs(v) + 1))
        return fail(a, "%s and %s disagree", a->num[slot].from, from);
    if (!a->num[slot].set) {
        a->num[slot].set = true;
        a->num[slot].v = v;
        snprintf(a->num[slot].from, sizeof a->num[slot].from, "%s", from);
    }
    return 0;
}

static int put_str(struct acc *a, int slot, const char *v, const char *from)
{
    if (a->str[slot].set && strcmp(a->str[slot].v, v) != 0)
        return fail(a, "%s ('%s') and %s ('%s') disagree", a->str[slot].from, a->str[slot].v,
                    from, v);
    if (!a->str[slot].set) {
        a->str[slot].set = true;
        snprintf(a->str[slot].v, sizeof a->str[slot].v, "%s", v);
        snprintf(a->str[slot].from, sizeof a->str[slot].from, "%s", from);
    }
    return 0;
}

static bool is_name(const char *s, size_t cap)
{
    size_t n = strlen(s);
    if (n == 0 || n >= cap)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._:-", *s))
            return false;
    return true;
}

static int strategy_of(const char *v, enum kind k, const char **out)
{
    static const char *const ours[] = {"CompactFirst", "LowLoadFirst", "NodeCompactGPULowLoad"};
    if (k == K_POLICY) {
        *out = !strcmp(v, "binpack") ? ours[0] : !strcmp(v, "spread") ? ours[1] : NULL;
        return *out ? 0 : -1;
    }
    for (int i = 0; i < 3; i++)
        if (!strcmp(v, ours[i])) {
            *out = ours[i];
            return 0;
        }
    return -1;
}

/* One value v of source `from` into its slot, parsed by kind. */
static int take(struct acc *a, const struct alias *al, const char *v, const char *from)
{
    double d;
    uint64_t u;
    const char *s = v;
    switch (al->kind) {
    case K_INT:
        if (k8s_ann_number(v, &d) || d != floor(d) || d < 1 || d > K8S_GANG_MAX)
            return fail(a, "%s must be a whole number from 1 to %d, not '%.64s'", from,
                        K8S_GANG_MAX, v);
        return put_num(a, al->slot, d, from);
    case K_BYTES:
    case K_MIB:
        if (al->kind == K_MIB ? k8s_ann_number(v, &d) || d != floor(d) || d > 1 << 30
                              : k8s_ann_bytes(v, &u))
            return fail(a, "%s must be %s, not '%.64s'", from,
                        al->kind == K_MIB ? "a whole number of MiB" : "a size such as 8Gi", v);
        if (al->kind == K_MIB)
            u = (uint64_t)d * MIB;
        if (u == 0)
            return fail(a, "%s must be above 0", from);
        return put_num(a, al->slot, (double)u, from);
    case K_NUM:
    case K_PCT:
        if (k8s_ann_number(v, &d) || d <= 0 || (al->kind == K_PCT && d > 100))
            return fail(a, "%s must be a number above 0%s, not '%.64s'", from,
                        al->kind == K_PCT ? " and at most 100" : "", v);
        return put_num(a, al->slot, d, from);
    case K_QOS:
        if (strcmp(v, "low") && strcmp(v, "medium") && strcmp(v, "high") && strcmp(v, "critical"))
            return fail(a, "%s must be low, medium, high or critical, not '%.64s'", from, v);
        return put_str(a, al->slot, v, from);
    case K_PRIO:
        if (strcmp(v, "0") && strcmp(v, "1"))
            return fail(a, "%s must be 0 (high) or 1 (low), not '%.64s'", from, v);
        return put_str(a, al->slot, v[0] == '0' ? "high" : "low", from);
    case K_STRATEGY:
    case K_POLICY:
        if (strategy_of(v, al->kind, &s))
            return fail(a, "%s must be %s, not '%.64s'", from,
                        al->kind == K_POLICY
                            ? "binpack or spread"
                            : "CompactFirst, LowLoadFirst or NodeCompactGPULowLoad", v);
        return put_str(a, al->slot, s, from);
    case K_STR:
        if (al->slot != S_CONTAINERS && !is_name(v, 64))
            return fail(a, "%s must be 1-63 characters of [A-Za-z0-9._:-], not '%.64s'", from,
                        v);
        if (al->slot == S_MODEL && strchr(v, ','))
            return fail(a, "%s names several models; TensorFuse places on one", from);
        return put_str(a, al->slot, v, from);
    }
    return -1;
}

static int read_annotations(struct acc *a, const json_t *meta)
{
    json_t *ann = json_object_get(meta, "annotations");
    for (size_t i = 0; i < sizeof ann_aliases / sizeof *ann_aliases; i++) {
        const char *v = k8s_json_str(ann, ann_aliases[i].key);
        if (!v)
            continue;
        char from[96];
        snprintf(from, sizeof from, "annotation %s", ann_aliases[i].key);
        if (take(a, &ann_aliases[i], v, from))
            return -1;
        enum kind k = ann_aliases[i].kind;   /* a selector alone does not ask for a GPU */
        a->any |= k == K_INT || k == K_BYTES || k == K_NUM || k == K_PCT;
    }
    return 0;
}

/* A container's resource value (limits, else requests) as a string; quantities may be JSON
 * numbers in hand-written objects. */
static const char *resource(const json_t *c, const char *name, char *buf, size_t cap)
{
    json_t *res = json_object_get(c, "resources");
    const char *kinds[] = {"limits", "requests"};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(json_object_get(res, kinds[k]), name);
        if (json_is_string(v))
            return json_string_value(v);
        if (json_is_integer(v)) {
            snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
            return buf;
        }
    }
    return NULL;
}

/* HAMi's resources and our own extended resource in each container: which ask for GPUs. */
static int read_containers(struct acc *a, const json_t *containers, bool gpu[], int n)
{
    for (int i = 0; i < n; i++) {
        const json_t *c = json_array_get(containers, (size_t)i);
        const char *cname = k8s_json_str(c, "name");
        char buf[32], from[160];
        const char *count = resource(c, "nvidia.com/gpu", buf, sizeof buf);
        const char *ours = count ? NULL : resource(c, K8S_RESOURCE_VGPU, buf, sizeof buf);
        if (resource(c, "nvidia.com/gpumem-percentage", buf, sizeof buf))
            return fail(a, "container %s: nvidia.com/gpumem-percentage is not supported; give "
                        "nvidia.com/gpumem (MiB) or the annotation " K8S_ANN "vram-request",
                        cname ? cname : "?");
        if ((count || ours) && strcmp(count ? count : ours, "0") != 0) {
            static const struct alias cnt = {"", F_COUNT, K_INT};
            snprintf(from, sizeof from, "container %s's %s", cname ? cname : "?",
                     count ? "nvidia.com/gpu" : K8S_RESOURCE_VGPU);
            if (take(a, &cnt, count ? count : ours, from))
                return -1;
            gpu[i] = true;
            a->any = true;
        }
        for (size_t k = 0; gpu[i] && k < sizeof hami_resources / sizeof *hami_resources; k++) {
            char vb[32];
            const char *v = resource(c, hami_resources[k].key, vb, sizeof vb);
            if (!v || (hami_resources[k].slot == F_PCT_REQ && !strcmp(v, "0")) ||
                (hami_resources[k].slot == F_PCT_LIM && !strcmp(v, "0")))
                continue;   /* HAMi's gpucores 0: no share asked */
            snprintf(from, sizeof from, "container %s's %s", cname ? cname : "?",
                     hami_resources[k].key);
            if (take(a, &hami_resources[k], v, from))
                return -1;
        }
    }
    return 0;
}

static int find_container(const json_t *containers, const char *name)
{
    for (size_t i = 0; i < json_array_size(containers); i++)
        if (!strcmp(k8s_json_str(json_array_get(containers, i), "name") ?: "", name))
            return (int)i;
    return -1;
}

/* The GPU containers: named by annotation, else those with GPU resources, else the first. */
static int pick_containers(struct acc *a, const json_t *containers, const bool gpu[], int n,
                           struct k8s_gpu_request *r)
{
    if (a->str[S_CONTAINERS].set) {
        char list[1024], *save = NULL;
        snprintf(list, sizeof list, "%s", a->str[S_CONTAINERS].v);
        for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            if (find_container(containers, t) < 0)
                return fail(a, "%s names container '%.64s', which the pod does not have",
                            a->str[S_CONTAINERS].from, t);
            if (r->n_containers == K8S_GPU_CONTAINERS_MAX)
                return fail(a, "at most %d GPU containers", K8S_GPU_CONTAINERS_MAX);
            snprintf(r->containers[r->n_containers++], sizeof r->containers[0], "%s", t);
        }
        if (!r->n_containers)
            return fail(a, "%s names no container", a->str[S_CONTAINERS].from);
        return 0;
    }
    for (int i = 0; i < n && r->n_containers < K8S_GPU_CONTAINERS_MAX; i++)
        if (gpu[i])
            snprintf(r->containers[r->n_containers++], sizeof r->containers[0], "%s",
                     k8s_json_str(json_array_get(containers, (size_t)i), "name") ?: "");
    if (!r->n_containers && n)
        snprintf(r->containers[r->n_containers++], sizeof r->containers[0], "%s",
                 k8s_json_str(json_array_get(containers, 0), "name") ?: "");
    return r->n_containers ? 0 : fail(a, "the pod has no container");
}

/* Values were checked to fit (names of at most 63 characters, fixed words). */
static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Defaults, the one compute form, limits not below requests. */
static int finish(struct acc *a, const struct k8s_gpu_defaults *d, struct k8s_gpu_request *r)
{
    r->gpu_count = a->num[F_COUNT].set ? (int)a->num[F_COUNT].v : 1;
    if (!a->num[F_VRAM_REQ].set && !d->vram)
        return fail(a, "the pod asks for a GPU but not its memory: give the annotation "
                    K8S_ANN "vram-request (e.g. 8Gi), tensor-fusion.ai/vram-request or "
                    "nvidia.com/gpumem");
    r->vram_request = a->num[F_VRAM_REQ].set ? (uint64_t)a->num[F_VRAM_REQ].v : d->vram;
    r->vram_limit = a->num[F_VRAM_LIM].set ? (uint64_t)a->num[F_VRAM_LIM].v : r->vram_request;
    if (r->vram_limit < r->vram_request)
        return fail(a, "the memory limit (%s) is below the request", a->num[F_VRAM_LIM].from);
    bool tf = a->num[F_TF_REQ].set || a->num[F_TF_LIM].set;
    bool pct = a->num[F_PCT_REQ].set || a->num[F_PCT_LIM].set;
    if (tf && pct)
        return fail(a, "compute is asked both in TFLOPs and in percent: give one form");
    if (tf) {
        if (!a->num[F_TF_REQ].set)
            return fail(a, "%s needs a TFLOPs request too", a->num[F_TF_LIM].from);
        r->tflops_request = a->num[F_TF_REQ].v;
        r->tflops_limit = a->num[F_TF_LIM].set ? a->num[F_TF_LIM].v : r->tflops_request;
        if (r->tflops_limit < r->tflops_request)
            return fail(a, "the TFLOPs limit (%s) is below the request", a->num[F_TF_LIM].from);
    } else {
        r->compute_request_pct = a->num[F_PCT_REQ].set ? a->num[F_PCT_REQ].v
                                 : a->num[F_PCT_LIM].set ? a->num[F_PCT_LIM].v
                                                         : d->compute_request_pct;
        r->compute_limit_pct = a->num[F_PCT_LIM].set ? a->num[F_PCT_LIM].v
                               : a->num[F_PCT_REQ].set ? r->compute_request_pct
                                                       : d->compute_limit_pct;
        if (r->compute_limit_pct < r->compute_request_pct)
            return fail(a, "the compute limit is below the request");
    }
    copy(r->qos, sizeof r->qos, a->str[S_QOS].v);   /* unset slots are "" */
    copy(r->pool, sizeof r->pool, a->str[S_POOL].v);
    copy(r->model, sizeof r->model, a->str[S_MODEL].v);
    copy(r->strategy, sizeof r->strategy, a->str[S_STRATEGY].v);
    return 0;
}

int k8s_pod_gpu_request(const json_t *pod, const struct k8s_gpu_defaults *defs,
                        struct k8s_gpu_request *out, char *err, size_t errlen)
{
    static const struct k8s_gpu_defaults none = {0, 10, 100};
    struct acc *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->err = err;
    a->errlen = errlen;
    memset(out, 0, sizeof *out);
    const json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers");
    int n = json_is_array(containers) ? (int)json_array_size(containers) : 0;
    bool gpu[64] = {0};
    int rc = -1;
    if (!json_is_object(pod) || !json_is_object(json_object_get(pod, "spec")))
        fail(a, "not a Pod object");
    else if (n > 64)
        fail(a, "more than 64 containers");
    else if (!read_annotations(a, json_object_get(pod, "metadata")) &&
             !read_containers(a, containers, gpu, n))
        rc = !a->any ? 0
             : pick_containers(a, containers, gpu, n, out) || finish(a, defs ?: &none, out)
                 ? -1 : 1;
    if (rc != 1)
        memset(out, 0, sizeof *out);
    free(a);
    return rc;
}

/* ---- writing ------------------------------------------------------------------------------ */

static json_t *num_string(double v)
{
    char b[48];
    snprintf(b, sizeof b, "%.10g", v);
    return json_string(b);
}

static json_t *u64_string(uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    return json_string(b);
}

json_t *k8s_gpu_request_annotations(const struct k8s_gpu_request *r)
{
    json_t *o = json_object();
    char list[K8S_GPU_CONTAINERS_MAX * 65] = "";
    for (int i = 0; i < r->n_containers; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "",
                 r->containers[i]);
    json_object_set_new(o, K8S_ANN "gpu-count", num_string(r->gpu_count));
    json_object_set_new(o, K8S_ANN "vram-request", u64_string(r->vram_request));
    json_object_set_new(o, K8S_ANN "vram-limit", u64_string(r->vram_limit));
    if (r->tflops_request > 0) {
        json_object_set_new(o, K8S_ANN "tflops-request", num_string(r->tflops_request));
        json_object_set_new(o, K8S_ANN "tflops-limit", num_string(r->tflops_limit));
    } else {
        json_object_set_new(o, K8S_ANN "compute-request", num_string(r->compute_request_pct));
        json_object_set_new(o, K8S_ANN "compute-limit", num_string(r->compute_limit_pct));
    }
    const char *opt[][2] = {{K8S_ANN "qos", r->qos}, {K8S_ANN "pool", r->pool},
                            {K8S_ANN "model", r->model}, {K8S_ANN "strategy", r->strategy},
                            {K8S_ANN "containers", list}};
    for (size_t i = 0; i < sizeof opt / sizeof *opt; i++)
        if (opt[i][1][0])
            json_object_set_new(o, opt[i][0], json_string(opt[i][1]));
    return o;
}

json_t *k8s_gpu_request_pool_body(const struct k8s_gpu_request *r, const char *tenant,
                                  const char *node, const char *idempotency_key)
{
    json_t *o = json_pack("{s:i, s:I, s:I}", "gpu_count", r->gpu_count, "vram_request",
                          (json_int_t)r->vram_request, "vram_limit", (json_int_t)r->vram_limit);
    if (!o)
        return NULL;
    if (r->tflops_request > 0) {
        json_object_set_new(o, "tflops_request", json_real(r->tflops_request));
        json_object_set_new(o, "tflops_limit", json_real(r->tflops_limit));
    } else {
        json_object_set_new(o, "compute_request_pct", json_real(r->compute_request_pct));
        json_object_set_new(o, "compute_limit_pct", json_real(r->compute_limit_pct));
    }
    const char *opt[][2] = {{"qos", r->qos}, {"pool", r->pool}, {"model", r->model},
                            {"strategy", r->strategy}, {"tenant", tenant ?: ""},
                            {"node", node ?: ""}, {"idempotency_key", idempotency_key ?: ""}};
    for (size_t i = 0; i < sizeof opt / sizeof *opt; i++)
        if (opt[i][1][0])
            json_object_set_new(o, opt[i][0], json_string(opt[i][1]));
    return o;
}
